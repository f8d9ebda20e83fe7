//! Octopi deliveries: `events::octopi::authenticate` with fixed secrets and each
//! signing setting (the headers and body fuzzed), then `events::octopi::parse`.
//!
//! Properties, beyond "no panic":
//! - a delivery signed as `octopi::sign` signs it (with the timestamp as HTTP delivers
//!   it, trimmed) is authenticated when the timestamp is not checked or is now;
//! - the same delivery with one bit of its digest flipped, or one byte of its body
//!   changed, is refused as unauthorized;
//! - a parsed delivery is one event with its delivery id, deduplicated by its body's
//!   hash (`dedupe_key`), its payload the body, readable by a rule.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use lookout::events::octopi::{self, Encoding, Headers, Refused, Settings, Signed};
use lookout::rules::{facts, json};
use lookout::signature::ApiKey;

const SECRETS: [&str; 2] = ["octopi-fuzz-secret-2026", "octopi-fuzz-secret-2025"];
/// "Now" for the timestamp check: 2026-11-20T19:05:00Z.
const NOW_SECS: u64 = 1_795_633_500;

/// The input: six control bytes, then five lines (`X-Octopi-Event`,
/// `X-Octopi-Delivery`, `X-Octopi-Timestamp`, `X-Octopi-Signature`, the settings'
/// `port`; an empty line is an absent header), then the body. A timestamp of `@now`
/// or `@now-ms` is "now" in seconds or milliseconds.
struct Input<'a> {
    signed: u8,
    encoding: u8,
    tolerance: bool,
    /// Sign the delivery correctly, with the current (false) or older (true) secret,
    /// instead of sending the `signature` line.
    sign_with: Option<bool>,
    flip_bit: u8,
    body_byte: u16,
    body_xor: u8,
    event: Option<&'a str>,
    delivery: Option<&'a str>,
    timestamp: Option<String>,
    signature: Option<&'a str>,
    port: Option<&'a str>,
    body: &'a [u8],
}

impl<'a> Input<'a> {
    fn read(data: &'a [u8]) -> Option<Input<'a>> {
        let (ctrl, mut rest) = data.split_at_checked(6)?;
        let mut line = || -> Option<&'a str> {
            let end = rest.iter().position(|&b| b == b'\n')?;
            let (text, after) = rest.split_at(end);
            rest = &after[1..];
            // A header value that is not text does not reach the parser.
            std::str::from_utf8(text).ok().filter(|t| !t.is_empty())
        };
        let (event, delivery, timestamp, signature, port) =
            (line(), line(), line(), line(), line());
        let timestamp = timestamp.map(|t| match t {
            "@now" => NOW_SECS.to_string(),
            "@now-ms" => (NOW_SECS * 1000 + 999).to_string(),
            other => other.to_string(),
        });
        Some(Input {
            signed: ctrl[0] % 3,
            encoding: (ctrl[0] / 3) % 3,
            tolerance: ctrl[0] & 0x80 != 0,
            sign_with: [None, Some(false), Some(true)][usize::from(ctrl[1] % 3)],
            flip_bit: ctrl[2],
            body_byte: u16::from_le_bytes([ctrl[3], ctrl[4]]),
            body_xor: ctrl[5],
            event,
            delivery,
            timestamp,
            signature,
            port,
            body: rest,
        })
    }
}

fn settings(input: &Input<'_>) -> Settings {
    Settings {
        secrets: SECRETS.iter().map(|s| ApiKey::new(*s)).collect(),
        signed: [
            Signed::Body,
            Signed::TimestampDotBody,
            Signed::TimestampBody,
        ][usize::from(input.signed)],
        encoding: [Encoding::Any, Encoding::Hex, Encoding::Base64][usize::from(input.encoding)],
        tolerance: if input.tolerance {
            Duration::from_secs(300)
        } else {
            Duration::ZERO
        },
        port: input.port.map(str::to_string),
        ..Settings::default()
    }
}

fn flip(signature: &str, encoding: Encoding, bit: u8) -> String {
    use base64::Engine as _;
    let mut digest = lookout::signature::decode(signature.as_bytes()).expect("our own signature");
    digest[usize::from(bit) / 8 % 32] ^= 1 << (bit % 8);
    match encoding {
        Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(digest),
        Encoding::Hex | Encoding::Any => hex::encode(digest),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::read(data) else {
        return;
    };
    let settings = settings(&input);
    let now = UNIX_EPOCH + Duration::from_secs(NOW_SECS);
    let timestamp = input.timestamp.as_deref();
    let signed = input.sign_with.map(|older| {
        let secret = ApiKey::new(SECRETS[usize::from(older)]);
        // HTTP strips the whitespace around a header value before lookout sees it.
        octopi::sign(
            &settings,
            &secret,
            timestamp.unwrap_or("").trim(),
            input.body,
        )
    });
    let signature = signed.as_deref().or(input.signature);
    let headers = Headers {
        event: input.event,
        delivery: input.delivery,
        timestamp,
        signature,
    };
    let auth = octopi::authenticate(&settings, &headers, input.body, now);

    if signed.is_some() {
        let ts = timestamp.map(str::trim).filter(|t| !t.is_empty());
        let needs_ts = settings.signed != Signed::Body || !settings.tolerance.is_zero();
        let fresh = ts.and_then(octopi::parse_timestamp).is_some_and(|at| {
            let skew = now.duration_since(at).unwrap_or_else(|e| e.duration());
            skew <= settings.tolerance
        });
        if !needs_ts || (ts.is_some() && (settings.tolerance.is_zero() || fresh)) {
            assert_eq!(auth, Ok(()), "a correctly signed delivery was refused");
        }
        // A forged digest or a changed body never passes.
        let sig = signed.as_deref().unwrap();
        let forged = flip(sig, settings.encoding, input.flip_bit);
        let h = Headers {
            signature: Some(&forged),
            ..headers.clone()
        };
        assert!(
            matches!(
                octopi::authenticate(&settings, &h, input.body, now),
                Err(Refused::Unauthorized(_))
            ),
            "a flipped digest was not refused"
        );
        if !input.body.is_empty() && input.body_xor != 0 {
            let mut body = input.body.to_vec();
            let at = usize::from(input.body_byte) % body.len();
            body[at] ^= input.body_xor;
            assert!(
                matches!(
                    octopi::authenticate(&settings, &headers, &body, now),
                    Err(Refused::Unauthorized(_))
                ),
                "a changed body was not refused"
            );
        }
    }

    let received_at = 1_795_633_500_000_000;
    let Ok(event) = octopi::parse(
        &settings,
        &headers,
        input.body,
        "event-1".to_string(),
        received_at,
    ) else {
        return;
    };
    let delivery = input.delivery.unwrap_or_default().trim();
    assert_eq!(event.delivery.as_deref(), Some(delivery));
    // A delivery is the same delivery by its (signed) content, not its id.
    assert_eq!(event.dedupe, octopi::dedupe_key(input.body));
    assert_eq!(event.source, "octopi");
    assert_eq!(
        event.payload.as_bytes(),
        input.body,
        "the payload is the body"
    );
    assert!(!event.event.is_empty());
    assert!(
        json::parse(&event.payload).is_ok(),
        "a rule cannot read the payload"
    );
    let _ = (event.keys(), event.sort_at(), event.stored_bytes());
    let _ = facts::event_map(&event);
    let _ = lookout::events::canonical_event(&event.event);
});
