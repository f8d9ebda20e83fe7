//! Octopi webhooks: event names, the signature check and reading a delivery.
//!
//! Octopi documents its headers (`X-Octopi-Event`, `X-Octopi-Delivery`,
//! `X-Octopi-Timestamp`, `X-Octopi-Signature`), the `event_type` field that mirrors the
//! event header, and 29 event names; it does not publish its signing scheme or its
//! payloads. So what is signed, the digest's encoding and the timestamp tolerance are
//! settings ([`Settings`]), and where a delivery's container, vessel, port and time are
//! found is a list of JSON pointers per key, with defaults that follow Octopi's REST API
//! objects (`container.number`, `occurred_at`, ...), looked up at the top level and under
//! `payload`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::{normalize_container, normalize_name, parse_imo, parse_time, Event, Vessel};
use crate::signature::{self, ApiKey};

/// The 29 events Octopi documents, by their display name.
pub const EVENTS: [&str; 29] = [
    "Cargo Manifested",
    "Voyage Created",
    "Voyage Updated",
    "Gate Selected",
    "Cargo Gated In",
    "Cargo Gated Out",
    "Cargo Loaded",
    "Cargo Unloaded",
    "Reefer Plugged In",
    "Reefer Plugged Out",
    "Cargo Held",
    "Cargo Released",
    "Hold Applied",
    "Hold Lifted",
    "Cargo Transferred In",
    "Cargo Transferred Out",
    "Train Departed",
    "Container Resealed",
    "Rail Cargo Loaded",
    "Rail Cargo Unloaded",
    "Container Stripped",
    "Truck Gated Out",
    "Outbound EDI Failed",
    "Berth Request Approved",
    "Cargo Overlanded",
    "Cargo Overshipped",
    "Cargo Delivered",
    "Cargo Stuffed",
    "Cargo Yard Transfer",
];

/// Letters and digits only, lower case: what every form of a name has in common.
fn squash(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The canonical (snake_case) name of a documented event written in any of its forms:
/// "Cargo Gated In", "cargo_gated_in", "CargoGatedIn", "cargo-gated-in", "CARGO_GATED_IN".
pub fn known(name: &str) -> Option<&'static str> {
    static TABLE: std::sync::OnceLock<Vec<(String, &'static str)>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        EVENTS
            .iter()
            .map(|display| {
                let snake: &'static str = Box::leak(snake_case(display).into_boxed_str());
                (squash(display), snake)
            })
            .collect()
    });
    let key = squash(name);
    table
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, snake)| *snake)
}

/// snake_case of a name in any form: words split at spaces, punctuation and case
/// changes (`OutboundEDIFailed` → `outbound_edi_failed`).
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            continue;
        }
        if c.is_uppercase() && !word.is_empty() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_numeric() || (prev.is_uppercase() && next_lower) {
                words.push(std::mem::take(&mut word));
            }
        }
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words.join("_")
}

pub use crate::config::{Encoding, Fields, OctopiSettings as Settings, Signed};

/// The headers of one delivery, as received (`None`: absent).
#[derive(Debug, Default, Clone)]
pub struct Headers<'a> {
    pub event: Option<&'a str>,
    pub delivery: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Why a delivery was refused: 401 for `Unauthorized`, 400 for `Bad`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Unauthorized(String),
    Bad(String),
}

/// `X-Octopi-Timestamp` as Unix seconds, Unix milliseconds or RFC 3339.
pub fn parse_timestamp(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let n: u64 = text.parse().ok()?;
        // Milliseconds from 2001-09-09 on; seconds before that are far too old anyway.
        let duration = if n >= 1_000_000_000_000 {
            Duration::from_millis(n)
        } else {
            Duration::from_secs(n)
        };
        return UNIX_EPOCH.checked_add(duration);
    }
    let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    let micros = u64::try_from(t.timestamp_micros()).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_micros(micros))
}

/// Checks the signature and the timestamp. The signature is checked first, so a stale
/// but genuine delivery and a forged one answer differently only once the secret matched.
pub fn authenticate(
    settings: &Settings,
    headers: &Headers<'_>,
    body: &[u8],
    now: SystemTime,
) -> Result<(), Refused> {
    let unauthorized = |m: String| Err(Refused::Unauthorized(m));
    let Some(value) = headers.signature.map(str::trim).filter(|v| !v.is_empty()) else {
        return unauthorized("missing or empty X-Octopi-Signature; Octopi signs every delivery with the shared secret: check the webhook's secret in Octopi and [events.octopi] secrets in lookout.toml".into());
    };
    let digest = match settings.encoding {
        Encoding::Any => signature::decode(value.as_bytes()),
        Encoding::Hex => signature::decode_hex(value.as_bytes()),
        Encoding::Base64 => signature::decode_base64(value.as_bytes()),
    };
    let Some(digest) = digest else {
        let form = match settings.encoding {
            Encoding::Any => "64 hex digits or 43/44 base64 characters",
            Encoding::Hex => "64 hex digits ([events.octopi] encoding = \"hex\")",
            Encoding::Base64 => "43/44 base64 characters ([events.octopi] encoding = \"base64\")",
        };
        return unauthorized(format!(
            "X-Octopi-Signature is not an HMAC-SHA256 digest; expected {form}, optionally prefixed with sha256="
        ));
    };
    let timestamp = headers.timestamp.map(str::trim).filter(|t| !t.is_empty());
    let prefix: &[u8] = match settings.signed {
        Signed::Body => b"",
        Signed::TimestampDotBody | Signed::TimestampBody => match timestamp {
            Some(t) => t.as_bytes(),
            None => return unauthorized("missing X-Octopi-Timestamp; lookout is set to verify a signature over the timestamp and the body ([events.octopi] signed)".into()),
        },
    };
    let separator: &[u8] = if settings.signed == Signed::TimestampDotBody {
        b"."
    } else {
        b""
    };
    // Every secret is tried, even after a match, so timing says nothing about which.
    let mut matched = false;
    for secret in &settings.secrets {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(prefix);
        mac.update(separator);
        mac.update(body);
        matched |= mac.verify_slice(&digest).is_ok();
    }
    if !matched {
        return unauthorized("X-Octopi-Signature does not match the body; check that Octopi and [events.octopi] secrets use the same shared secret, the signed and encoding settings, and that nothing rewrites the body on the way".into());
    }
    if !settings.tolerance.is_zero() {
        let Some(sent) = timestamp else {
            return unauthorized("missing X-Octopi-Timestamp; deliveries without one cannot be checked for replay (set [events.octopi] tolerance_s = 0 to accept them)".into());
        };
        let Some(at) = parse_timestamp(sent) else {
            return Err(Refused::Bad(format!(
                "X-Octopi-Timestamp \"{sent}\" is not a time; send Unix seconds, Unix milliseconds or RFC 3339"
            )));
        };
        let skew = now
            .duration_since(at)
            .or_else(|e| Ok::<_, ()>(e.duration()))
            .unwrap_or_default();
        if skew > settings.tolerance {
            return unauthorized(format!(
                "X-Octopi-Timestamp \"{sent}\" is {} s from now, more than the {} s allowed; a replayed delivery or a wrong clock (set [events.octopi] tolerance_s to allow more)",
                skew.as_secs(),
                settings.tolerance.as_secs()
            ));
        }
    }
    Ok(())
}

/// Reads an authenticated delivery into one event. `id` and `received_at` are the
/// event's own.
pub fn parse(
    settings: &Settings,
    headers: &Headers<'_>,
    body: &[u8],
    id: String,
    received_at: i64,
) -> Result<Event, String> {
    let header = headers.event.map(str::trim).unwrap_or_default();
    if header.is_empty() {
        return Err(
            "missing or empty X-Octopi-Event; Octopi names the event in this header".into(),
        );
    }
    let delivery = headers.delivery.map(str::trim).unwrap_or_default();
    if delivery.is_empty() {
        return Err("missing or empty X-Octopi-Delivery; Octopi identifies each delivery with a GUID there, and lookout drops repeated deliveries by it".into());
    }
    if delivery.len() > 200 {
        return Err(format!(
            "X-Octopi-Delivery is {} characters long; a delivery GUID has 36",
            delivery.len()
        ));
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        format!(
            "the body is not UTF-8 (byte {}); send JSON",
            e.valid_up_to()
        )
    })?;
    let value: Value = crate::nesting::from_str(text).map_err(|e| {
        format!(
            "the body is not JSON: {} (line {}, column {})",
            e.message(),
            e.line(),
            e.column()
        )
    })?;
    let Value::Object(object) = &value else {
        return Err(format!(
            "the body is {}; Octopi sends one event as a JSON object",
            super::kind_of(&value)
        ));
    };
    let body_event = match object.get("event_type") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim(),
        Some(other) => {
            return Err(format!(
                "\"event_type\" is {}; it must be the event's name, as in X-Octopi-Event",
                super::kind_of(other)
            ))
        }
        None => {
            return Err(format!(
                "the body has no \"event_type\"; it must mirror X-Octopi-Event (\"{header}\")"
            ))
        }
    };
    let (event, known) = match known(header) {
        Some(name) => (name.to_string(), true),
        None => (snake_case(header), false),
    };
    let body_canonical = known_or_snake(body_event);
    if event.is_empty() || body_canonical != event {
        return Err(format!(
            "X-Octopi-Event \"{header}\" and the body's event_type \"{body_event}\" name different events; they must be the same"
        ));
    }
    let find = |pointers: &[String]| -> Option<&Value> {
        pointers.iter().find_map(|p| {
            [value.pointer(p), value.pointer(&format!("/payload{p}"))]
                .into_iter()
                .flatten()
                .find(|v| !v.is_null())
        })
    };
    let text_of = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let containers: Vec<String> = find(&settings.fields.container)
        .and_then(text_of)
        .and_then(|c| normalize_container(&c))
        .into_iter()
        .collect();
    // Octopi's payloads are not published: a fact that does not read as expected is left
    // out (the payload keeps it), never a reason to refuse the event.
    let imo = find(&settings.fields.imo).and_then(|v| parse_imo(v).ok().flatten());
    let name = find(&settings.fields.vessel_name)
        .and_then(text_of)
        .and_then(|n| normalize_name(&n));
    let vessels = if imo.is_some() || name.is_some() {
        vec![Vessel {
            imo,
            name,
            role: "vessel".into(),
        }]
    } else {
        Vec::new()
    };
    let ports: Vec<String> = find(&settings.fields.port)
        .and_then(text_of)
        .or_else(|| settings.port.clone())
        .and_then(|p| normalize_name(&p))
        .into_iter()
        .collect();
    let (at, occurred_at) = match find(&settings.fields.time)
        .and_then(|v| v.as_str())
        .and_then(|t| parse_time(t).ok())
    {
        Some((at, micros)) => (Some(at), Some(micros)),
        None => (None, None),
    };
    Ok(Event {
        id,
        received_at,
        source: "octopi".into(),
        kind: "terminal".into(),
        event,
        known,
        at,
        occurred_at,
        containers,
        vessels,
        ports,
        delivery: Some(delivery.to_string()),
        dedupe: dedupe_key(body),
        payload: text.to_string(),
    })
}

/// The key a delivery is dropped as a duplicate by: its content, not its
/// `X-Octopi-Delivery`. Under `signed = "body"` neither the delivery id nor the
/// timestamp is signed, so a captured delivery re-sent with new ones still verifies;
/// its body, which the signature covers, is what makes it the same delivery. A
/// genuine redelivery (same id, same body) is a duplicate by the same key.
pub fn dedupe_key(body: &[u8]) -> String {
    use sha2::Digest;
    format!("octopi:sha256:{}", hex::encode(sha2::Sha256::digest(body)))
}

/// What protects against a replayed delivery under `settings`, for the start-up log.
pub fn replay_protection(settings: &Settings) -> String {
    let tolerance = settings.tolerance.as_secs();
    match settings.signed {
        Signed::Body => format!(
            "Octopi deliveries: signed = \"body\" covers neither X-Octopi-Timestamp nor X-Octopi-Delivery, so the timestamp check ({tolerance} s) does not stop a replay; a re-sent delivery is dropped as a duplicate by its content (SHA-256 of the body) for as long as events are kept ([events] max_age_days)"
        ),
        _ if tolerance == 0 => "Octopi deliveries: the timestamp is signed but not checked (tolerance_s = 0); a re-sent delivery is dropped as a duplicate by its content (SHA-256 of the body) for as long as events are kept".to_string(),
        _ => format!(
            "Octopi deliveries: the signed X-Octopi-Timestamp must be within {tolerance} s, and a delivery re-sent within that window is dropped as a duplicate by its content (SHA-256 of the body)"
        ),
    }
}

fn known_or_snake(name: &str) -> String {
    known(name)
        .map(str::to_string)
        .unwrap_or_else(|| snake_case(name))
}

/// A delivery's signature as Octopi would send it under `settings` (tests, `lookout`'s
/// own tools): lower-case hex, or standard base64 when the encoding is base64.
pub fn sign(settings: &Settings, secret: &ApiKey, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    match settings.signed {
        Signed::Body => {}
        Signed::TimestampDotBody => {
            mac.update(timestamp.as_bytes());
            mac.update(b".");
        }
        Signed::TimestampBody => mac.update(timestamp.as_bytes()),
    }
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    match settings.encoding {
        Encoding::Base64 => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(digest)
        }
        Encoding::Hex | Encoding::Any => hex::encode(digest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_29_events_are_known_in_each_form() {
        assert_eq!(EVENTS.len(), 29);
        for display in EVENTS {
            let snake = snake_case(display);
            let camel: String = display.split(' ').collect();
            for form in [
                display.to_string(),
                snake.clone(),
                camel,
                snake.to_uppercase(),
            ] {
                assert_eq!(known(&form), Some(snake.as_str()), "{form}");
            }
        }
        assert_eq!(known("Cargo Gated In"), Some("cargo_gated_in"));
        assert_eq!(known("OutboundEDIFailed"), Some("outbound_edi_failed"));
        assert_eq!(known("Cargo Weighed"), None);
    }

    #[test]
    fn snake_case_splits_words_acronyms_and_digits() {
        assert_eq!(snake_case("CargoGatedIn"), "cargo_gated_in");
        assert_eq!(snake_case("OutboundEDIFailed"), "outbound_edi_failed");
        assert_eq!(snake_case("Outbound EDI Failed"), "outbound_edi_failed");
        assert_eq!(snake_case("reefer-plugged-in"), "reefer_plugged_in");
        assert_eq!(snake_case("Crane2Moved"), "crane2_moved");
        assert_eq!(snake_case("  "), "");
    }

    #[test]
    fn facts_that_do_not_read_are_left_out_not_refused() {
        let settings = Settings {
            port: Some("usmob".into()),
            ..Settings::default()
        };
        let headers = Headers {
            event: Some("Cargo Held"),
            delivery: Some("0b7e0c3a-1f5e-4b8f-9c55-2d7f0a4b6e11"),
            ..Headers::default()
        };
        let body = br#"{"event_type": "cargo_held", "occurred_at": "20/11/2026 14:05", "payload": {"container": {"number": 4512}, "vessel": {"imo_number": "unknown", "name": "  Maersk   Kinloss "}}}"#;
        let event = parse(&settings, &headers, body, "id".into(), 5).unwrap();
        assert_eq!((event.at, event.occurred_at), (None, None));
        assert_eq!(event.containers, ["4512"]);
        assert_eq!(event.vessels[0].imo, None);
        assert_eq!(event.vessels[0].name.as_deref(), Some("MAERSK KINLOSS"));
        assert_eq!(
            event.ports,
            ["USMOB"],
            "the configured port when the payload has none"
        );
        assert_eq!(event.payload.as_bytes(), body);
        for (body, says) in [
            (&br#"[1]"#[..], "the body is an array"),
            (br#"{"event": "x"}"#, "no \"event_type\""),
            (br#"{"event_type": 5}"#, "\"event_type\" is a number"),
            (b"{", "not JSON"),
        ] {
            let err = parse(&settings, &headers, body, "id".into(), 5).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn timestamps_in_seconds_milliseconds_or_rfc3339() {
        let t = UNIX_EPOCH + Duration::from_secs(1_760_000_000);
        assert_eq!(parse_timestamp("1760000000"), Some(t));
        assert_eq!(parse_timestamp("1760000000000"), Some(t));
        assert_eq!(parse_timestamp("2025-10-09T08:53:20Z"), Some(t));
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp(""), None);
    }
}
