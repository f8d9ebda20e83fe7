//! Body redaction: `store::redact::body(body, pointers, &mut redacted)`, as the
//! recorder applies it (only to a body `json::parse_bytes_ok` accepts; a body the
//! pointers cannot be walked through is not kept), and `redact::scrub_json`, which
//! takes the values found out of an answer.
//!
//! Input: `redact_body` pointers, one per line, an empty line, then the body.
//!
//! Properties, beyond "no panic":
//! - whenever the body was valid JSON, what is stored is valid JSON, and is not
//!   dropped as unreadable (the pointers can walk any valid JSON);
//! - no value at a pointer survives in what is stored: every node the pointers select
//!   (`*` for every item or member; every member of a repeated key) reads
//!   `"[redacted]"`, checked on the tree as sonic-rs (all members) and serde_json
//!   (the last of a repeated key) read it;
//! - `body:<pointer>` is listed for exactly the pointers that matched, and `None` means
//!   nothing matched;
//! - with nothing to redact the body is kept byte for byte;
//! - `scrub_json` (with the values found, and the pointer lines as more secrets) gives
//!   valid JSON whenever it was given valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;

use lookout::rules::json;
use lookout::store::redact;
use serde_json::Value;
use sonic_rs::{JsonContainerTrait, JsonValueTrait};

/// A pointer's tokens as `redact::body` reads them: RFC 6901; a line that is not a
/// pointer (no leading `/`: refused when a rule set loads) selects the whole body, so
/// redaction fails closed.
fn tokens(pointer: &str) -> Vec<String> {
    match pointer.strip_prefix('/') {
        Some(rest) => rest
            .split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
        None => Vec::new(),
    }
}

fn index_matches(token: &str, i: usize) -> bool {
    token == "*" || token.parse::<usize>().ok() == Some(i)
}

/// Every node of a serde_json tree at `tokens`.
fn select_serde<'v>(v: &'v Value, tokens: &[String], out: &mut Vec<&'v Value>) {
    let Some((first, rest)) = tokens.split_first() else {
        out.push(v);
        return;
    };
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if index_matches(first, i) {
                    select_serde(item, rest, out);
                }
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                if first == "*" || first == k {
                    select_serde(item, rest, out);
                }
            }
        }
        _ => {}
    }
}

/// Every node of a sonic-rs tree at `tokens` (a repeated key: every member).
fn select_sonic<'v>(v: &'v sonic_rs::Value, tokens: &[String], out: &mut Vec<&'v sonic_rs::Value>) {
    let Some((first, rest)) = tokens.split_first() else {
        out.push(v);
        return;
    };
    if let Some(items) = v.as_array() {
        for (i, item) in items.iter().enumerate() {
            if index_matches(first, i) {
                select_sonic(item, rest, out);
            }
        }
    } else if let Some(map) = v.as_object() {
        for (k, item) in map.iter() {
            if first == "*" || first == k {
                select_sonic(item, rest, out);
            }
        }
    }
}

/// What the recorder stores for `body` (mirrors `recorder::encode`).
fn stored(body: &[u8], pointers: &[String], redacted: &mut Vec<String>) -> Vec<u8> {
    if pointers.is_empty() || body.is_empty() {
        body.to_vec()
    } else if json::parse_bytes_ok(body) {
        redact::body(body, pointers, redacted).unwrap_or_else(|| body.to_vec())
    } else {
        Vec::new()
    }
}

/// `scrub_json` on a valid JSON text, with the values redaction found in it and the
/// pointer lines as secrets: the answer it gives is valid JSON too.
fn scrub(json_text: &[u8], pointers: &[String]) {
    let mut secrets = Vec::new();
    let _ = redact::body_and_secrets(json_text, pointers, &mut Vec::new(), &mut secrets);
    secrets.extend(
        pointers
            .iter()
            .filter(|p| p.chars().count() >= redact::MIN_SECRET)
            .cloned(),
    );
    if let Some(out) = redact::scrub_json(json_text, &secrets) {
        assert!(
            json::parse_bytes_ok(&out),
            "scrub_json made invalid JSON of valid JSON: {:?} with secrets {secrets:?}",
            String::from_utf8_lossy(&out)
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(end) = data.windows(2).position(|w| w == b"\n\n") else {
        return;
    };
    let pointers: Vec<String> = String::from_utf8_lossy(&data[..end])
        .split('\n')
        .map(str::to_string)
        .collect();
    let body = &data[end + 2..];

    // redact::body itself, on any bytes.
    let mut listed = Vec::new();
    let direct = redact::body(body, &pointers, &mut listed);
    if direct.is_none() {
        assert!(
            listed.is_empty(),
            "nothing replaced, yet listed: {listed:?}"
        );
    }

    let was_json = json::parse_bytes_ok(body);
    let mut redacted = Vec::new();
    let kept = stored(body, &pointers, &mut redacted);
    if !was_json {
        return;
    }
    scrub(body, &pointers);
    if pointers.is_empty() || body.is_empty() {
        return;
    }
    assert!(
        !kept.is_empty(),
        "valid JSON the pointers could not be walked through (dropped): {redacted:?}"
    );
    let text = std::str::from_utf8(&kept).expect("valid JSON is UTF-8");
    assert!(
        json::parse_bytes_ok(&kept),
        "valid JSON in, invalid JSON stored: {text:?}"
    );
    // The trees to look for survivors in.
    let original = std::str::from_utf8(body).expect("valid JSON is UTF-8");
    let doc = json::parse(text).expect("parse_bytes_ok said so");
    let original_doc = json::parse(original).expect("parse_bytes_ok said so");
    let value: Value = serde_json::from_str(text).expect("parse_bytes_ok said so");
    let original_value: Value = serde_json::from_str(original).expect("parse_bytes_ok said so");
    for pointer in &pointers {
        let tokens = tokens(pointer);
        let mut before_serde = Vec::new();
        select_serde(&original_value, &tokens, &mut before_serde);
        let mut before_sonic = Vec::new();
        select_sonic(&original_doc, &tokens, &mut before_sonic);
        let matched = !before_serde.is_empty() || !before_sonic.is_empty();
        let mut after = Vec::new();
        select_serde(&value, &tokens, &mut after);
        for v in after {
            assert_eq!(
                v.as_str(),
                Some(redact::MARK),
                "a value at {pointer:?} survived redaction: {v}"
            );
        }
        let mut after = Vec::new();
        select_sonic(&doc, &tokens, &mut after);
        for v in after {
            assert_eq!(
                v.as_str(),
                Some(redact::MARK),
                "a value at {pointer:?} survived redaction (as sonic-rs reads it): {}",
                sonic_rs::to_string(v).unwrap_or_default()
            );
        }
        assert_eq!(
            matched,
            redacted.contains(&format!("body:{pointer}")),
            "pointer {pointer:?} matched {matched} but the list says otherwise: {redacted:?}"
        );
    }
    if redacted.is_empty() {
        assert_eq!(kept, body, "nothing to redact, yet the body changed");
    }
});
