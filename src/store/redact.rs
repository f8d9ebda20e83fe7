//! What the log must not keep.
//!
//! Redaction happens before a record reaches the store (on the recorder's thread):
//! credential headers always, the rule set's `redact_headers` and `redact_body`
//! pointers when present. The record lists what was redacted.

/// What a redacted value is replaced with.
pub const MARK: &str = "[redacted]";

/// Headers whose values are never stored: they carry credentials.
pub const ALWAYS: &[&str] = crate::secrets::CREDENTIAL_HEADERS;

/// Headers as stored, and the `header:<name>` entries for what was replaced.
pub fn headers(
    headers: &axum::http::HeaderMap,
    extra: &[String],
    redacted: &mut Vec<String>,
) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let name = name.as_str();
        if ALWAYS.contains(&name) || extra.iter().any(|e| e == name) {
            let entry = format!("header:{name}");
            if !redacted.contains(&entry) {
                redacted.push(entry);
            }
            out.push((name.to_string(), MARK.to_string()));
        } else {
            out.push((
                name.to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ));
        }
    }
    out
}

/// Keeps at most `count` headers and `bytes` bytes of their names and values (a value
/// is cut to what is left), for calls from callers not known to be the Estimator;
/// what is left out is listed as `headers:<n> more not kept`.
pub fn bound(
    headers: &mut Vec<(String, String)>,
    count: usize,
    bytes: usize,
    redacted: &mut Vec<String>,
) {
    let mut used = 0;
    let mut kept = 0;
    for (name, value) in headers.iter_mut() {
        if kept == count || used + name.len() >= bytes {
            break;
        }
        used += name.len();
        let room = bytes - used;
        if value.len() > room {
            let mut cut = room;
            while !value.is_char_boundary(cut) {
                cut -= 1;
            }
            value.truncate(cut);
        }
        used += value.len();
        kept += 1;
    }
    let more = headers.len() - kept;
    if more > 0 {
        headers.truncate(kept);
        redacted.push(format!("headers:{more} more not kept"));
    }
}

/// The body with the values at `pointers` replaced by `"[redacted]"` (`*` matches
/// every array item or object member), or `None` when none of them is in the body: the
/// body is then stored byte for byte. Everything outside the replaced values keeps its
/// exact bytes. Adds a `body:<pointer>` entry per pointer that matched.
/// A body the pointers cannot be walked through (found by fuzzing: a key with a bad
/// `\u` escape stopped the walk and the body was kept unredacted) gives `Some` of
/// nothing: it is not kept.
pub fn body(body: &[u8], pointers: &[String], redacted: &mut Vec<String>) -> Option<Vec<u8>> {
    match body_and_secrets(body, pointers, redacted, &mut Vec::new()) {
        Redaction::Unchanged => None,
        Redaction::Redacted(bytes) => Some(bytes),
        Redaction::Unreadable => Some(Vec::new()),
    }
}

/// What redaction made of a body.
pub enum Redaction {
    /// No pointer found a value: the body is stored byte for byte.
    Unchanged,
    /// The body with the values found replaced.
    Redacted(Vec<u8>),
    /// The pointers could not be walked through it (not UTF-8, too deep, not strictly
    /// JSON): none of it may be kept, since a value to hide may be in it.
    Unreadable,
}

/// Values shorter than this are not searched for outside the body (a rule's output,
/// the answer): they would match everywhere, and are no secret.
pub const MIN_SECRET: usize = 4;

/// [`body`], also collecting into `secrets` every text and scalar the replaced values
/// held (at least [`MIN_SECRET`] long): what a rule could have copied out of the
/// estimate, for [`scrub_text`] and [`scrub_json`].
pub fn body_and_secrets(
    body: &[u8],
    pointers: &[String],
    redacted: &mut Vec<String>,
    secrets: &mut Vec<String>,
) -> Redaction {
    // Outside JSON: every parser below recurses. serde_json is the arbiter of what is
    // JSON (sonic-rs, which walks it below, lets some invalid text through).
    if crate::nesting::check(body).is_err()
        || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err()
    {
        return Redaction::Unreadable;
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return Redaction::Unreadable;
    };
    let mut spans = Vec::new();
    for pointer in pointers {
        // A pointer without its `/` is refused when the rule set loads; were one to get
        // here, it selects the whole body: redaction fails closed.
        let tokens: Vec<String> = crate::pointer::tokens(pointer)
            .map(|tokens| tokens.map(|t| t.into_owned()).collect())
            .unwrap_or_default();
        let before = spans.len();
        if find(text, text, &tokens, &mut spans).is_err() {
            return Redaction::Unreadable;
        }
        if spans.len() > before {
            redacted.push(format!("body:{pointer}"));
        }
    }
    if spans.is_empty() {
        return Redaction::Unchanged;
    }
    spans.sort_unstable_by_key(|s: &std::ops::Range<usize>| (s.start, std::cmp::Reverse(s.end)));
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    for span in spans {
        if span.start < at {
            continue; // inside a value already replaced
        }
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text[span.clone()]) {
            leaves(&value, secrets);
        }
        out.extend_from_slice(&body[at..span.start]);
        out.extend_from_slice(b"\"[redacted]\"");
        at = span.end;
    }
    out.extend_from_slice(&body[at..]);
    Redaction::Redacted(out)
}

/// The texts and scalars in `value`, as a rule would print them.
fn leaves(value: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => return items.iter().for_each(|v| leaves(v, out)),
        Value::Object(map) => return map.values().for_each(|v| leaves(v, out)),
        Value::Bool(_) | Value::Null => return,
    };
    if text.chars().count() >= MIN_SECRET && !out.contains(&text) {
        out.push(text);
    }
}

/// Replaces every occurrence of each secret in `text` (a rule's output or error).
pub fn scrub_text(text: &mut String, secrets: &[String]) {
    for secret in secrets {
        if text.contains(secret.as_str()) {
            *text = text.replace(secret.as_str(), MARK);
        }
    }
}

/// `json` (an answer as sent) with every secret replaced inside its strings by
/// `[redacted]`, and every number equal to one by the string `"[redacted]"`; `None`
/// when none occurs. The result is valid JSON whenever `json` was.
pub fn scrub_json(json: &[u8], secrets: &[String]) -> Option<Vec<u8>> {
    // Secrets as they appear inside a JSON string (serde_json's escaping).
    let escaped: Vec<Vec<u8>> = secrets
        .iter()
        .map(|s| {
            let quoted = serde_json::to_string(s).expect("a string serializes");
            quoted.as_bytes()[1..quoted.len() - 1].to_vec()
        })
        .collect();
    if !escaped
        .iter()
        .any(|e| memchr::memmem::find(json, e).is_some())
    {
        return None;
    }
    let mut out = Vec::with_capacity(json.len());
    let mut i = 0;
    while i < json.len() {
        let c = json[i];
        if c == b'"' {
            let mut end = i + 1;
            while end < json.len() && json[end] != b'"' {
                end += if json[end] == b'\\' { 2 } else { 1 };
            }
            let end = end.min(json.len());
            let content = &json[i + 1..end];
            if end < json.len() && content.contains(&b'\\') {
                // An escape in the string: replace in its decoded text and encode it
                // again, so a match can never split an escape (`"\u0041"` holds no
                // "0041"; found by fuzzing). What cannot be decoded is not kept.
                let decoded = serde_json::from_slice::<String>(&json[i..=end]);
                let text = match decoded {
                    Ok(mut text) => {
                        scrub_text(&mut text, secrets);
                        text
                    }
                    Err(_) => MARK.to_string(),
                };
                out.extend_from_slice(
                    serde_json::to_string(&text)
                        .expect("a string serializes")
                        .as_bytes(),
                );
            } else {
                out.push(b'"');
                out.extend_from_slice(&replace_all(content, &escaped));
                if end < json.len() {
                    out.push(b'"');
                }
            }
            i = end + 1;
        } else if c == b'-' || c.is_ascii_digit() {
            let end = json[i..]
                .iter()
                .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .map_or(json.len(), |n| i + n);
            let token = &json[i..end];
            if secrets.iter().any(|s| s.as_bytes() == token) {
                out.extend_from_slice(b"\"[redacted]\"");
            } else {
                out.extend_from_slice(token);
            }
            i = end;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Some(out)
}

fn replace_all(content: &[u8], needles: &[Vec<u8>]) -> Vec<u8> {
    let mut current = content.to_vec();
    for needle in needles {
        if memchr::memmem::find(&current, needle).is_none() {
            continue;
        }
        let mut next = Vec::with_capacity(current.len());
        let mut at = 0;
        for found in memchr::memmem::find_iter(&current, needle) {
            if found < at {
                continue;
            }
            next.extend_from_slice(&current[at..found]);
            next.extend_from_slice(MARK.as_bytes());
            at = found + needle.len();
        }
        next.extend_from_slice(&current[at..]);
        current = next;
    }
    current
}

/// Byte ranges (in `whole`) of the values at `tokens` below `raw`, a slice of `whole`.
/// `Err` when the walk cannot go on (an item or member that does not read): then no
/// span found so far can be trusted to be all there is.
fn find(
    whole: &str,
    raw: &str,
    tokens: &[String],
    spans: &mut Vec<std::ops::Range<usize>>,
) -> Result<(), ()> {
    let Some((first, rest)) = tokens.split_first() else {
        let start = raw.as_ptr() as usize - whole.as_ptr() as usize;
        spans.push(start..start + raw.len());
        return Ok(());
    };
    let raw_trimmed = raw.trim_start();
    if raw_trimmed.starts_with('[') {
        for (i, item) in sonic_rs::to_array_iter(raw).enumerate() {
            let item = item.map_err(|_| ())?;
            if first == "*" || first.parse::<usize>().ok() == Some(i) {
                find(whole, item.as_raw_str(), rest, spans)?;
            }
        }
    } else if raw_trimmed.starts_with('{') {
        for member in sonic_rs::to_object_iter(raw) {
            let (key, value) = member.map_err(|_| ())?;
            if first == "*" || first == key.as_ref() {
                find(whole, value.as_raw_str(), rest, spans)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (`fuzz/regressions/redact/`): a key the walk could not read
    /// stopped it, and the body was stored with the secret after that key; a body that
    /// is not UTF-8 was stored whole. Now neither is kept.
    #[test]
    fn a_body_the_pointers_cannot_walk_through_is_not_kept() {
        let pointers = ["/token".to_string()];
        for (body, why) in [
            (
                &br#"{"\uZZZZ": 1, "token": "s3cret"}"#[..],
                "a bad \\u escape in a key",
            ),
            (
                &br#"{"\ud800": 1, "token": "s3cret"}"#[..],
                "a lone surrogate in a key",
            ),
            (
                &b"{\"token\": \"s3cret\", \"note\": \"caf\xe9\"}"[..],
                "not UTF-8",
            ),
        ] {
            let mut redacted = Vec::new();
            assert_eq!(
                body_and_secrets_kept(body, &pointers, &mut redacted),
                Some(Vec::new()),
                "{why}"
            );
        }
        // What it read before is unchanged: a body it can walk is redacted as before.
        let mut redacted = Vec::new();
        assert_eq!(
            body_and_secrets_kept(br#"{"a": 1, "token": "s3cret"}"#, &pointers, &mut redacted),
            Some(br#"{"a": 1, "token": "[redacted]"}"#.to_vec())
        );
    }

    /// Found by fuzzing (`fuzz/regressions/redact/scrub-json-splits-an-escape`): a
    /// secret matched inside an escape (`"\u0041"` and "0041") and the answer stored was
    /// no longer JSON. Matches are made in the decoded text.
    #[test]
    fn scrubbing_never_splits_an_escape() {
        let secrets = ["0041".to_string(), "s3cr\"et".to_string()];
        for (json, want) in [
            // Rewritten as the same JSON (serde_json's own escaping), never split.
            (r#"["\u0041"]"#, Some(r#"["A"]"#)),
            (r#"["x \u0041 0041"]"#, Some(r#"["x A [redacted]"]"#)),
            (r#"["a s3cr\"et b", 41]"#, Some(r#"["a [redacted] b", 41]"#)),
        ] {
            let got = scrub_json(json.as_bytes(), &secrets);
            if let Some(bytes) = &got {
                serde_json::from_slice::<serde_json::Value>(bytes).expect("still JSON");
            }
            assert_eq!(got.as_deref(), want.map(str::as_bytes), "{json}");
        }
    }

    fn body_and_secrets_kept(b: &[u8], p: &[String], r: &mut Vec<String>) -> Option<Vec<u8>> {
        body(b, p, r)
    }
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn credential_headers_are_always_replaced_and_listed() {
        let mut map = HeaderMap::new();
        map.insert("veson-webhook-signature", HeaderValue::from_static("sig"));
        map.insert("authorization", HeaderValue::from_static("Bearer t"));
        map.insert("x-imos-token", HeaderValue::from_static("flag-secret"));
        map.insert("content-type", HeaderValue::from_static("application/json"));
        let mut redacted = Vec::new();
        let kept = headers(&map, &["x-imos-token".to_string()], &mut redacted);
        let text = format!("{kept:?}");
        assert!(
            !text.contains("sig\"") && !text.contains("Bearer") && !text.contains("flag-secret"),
            "{text}"
        );
        assert!(kept.contains(&("content-type".into(), "application/json".into())));
        assert_eq!(
            redacted,
            [
                "header:veson-webhook-signature",
                "header:authorization",
                "header:x-imos-token"
            ]
        );
    }

    #[test]
    fn body_pointers_replace_values_and_keep_order() {
        let body = br#"{"z":1, "token" : "s3cret","cargoes":[{"ref":"a","key":"k1"},{"key":"k2"}],"n":{"x":"y"}}"#;
        let pointers = vec![
            "/token".to_string(),
            "/cargoes/*/key".to_string(),
            "/absent".to_string(),
        ];
        let mut redacted = Vec::new();
        let out = super::body(body, &pointers, &mut redacted).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"z":1, "token" : "[redacted]","cargoes":[{"ref":"a","key":"[redacted]"},{"key":"[redacted]"}],"n":{"x":"y"}}"#
        );
        assert_eq!(redacted, ["body:/token", "body:/cargoes/*/key"]);
        let mut none = Vec::new();
        assert!(super::body(body, &["/nope".to_string()], &mut none).is_none());
        assert!(none.is_empty());
    }
}
