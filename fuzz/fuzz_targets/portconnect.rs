//! PortConnect callbacks: `events::portconnect::parse(body, received_at, ids)` and the
//! `X-WebhookToken` compare (`token_matches`).
//!
//! Properties, beyond "no panic":
//! - a parse is all or nothing: one event per item, `ids` called once per item, in
//!   order; each event keeps its item's text as its payload (valid JSON that a rule can
//!   read as `data`), the call's `received_at`, a content dedupe key;
//! - parsing twice gives the same events (the dedupe hash is deterministic);
//! - the token compare is equality with one of the configured tokens, never for an
//!   empty or absent header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout::events::portconnect;
use lookout::rules::{facts, json};
use lookout::signature::ApiKey;

/// The input: `received_at` (8 bytes, little-endian), the `X-WebhookToken` line
/// (empty: absent), then the body.
struct Input<'a> {
    received_at: i64,
    token: Option<&'a [u8]>,
    body: &'a [u8],
}

impl<'a> Input<'a> {
    fn read(data: &'a [u8]) -> Option<Input<'a>> {
        let (at, rest) = data.split_first_chunk::<8>()?;
        let end = rest.iter().position(|&b| b == b'\n')?;
        Some(Input {
            received_at: i64::from_le_bytes(*at),
            token: Some(&rest[..end]).filter(|t| !t.is_empty()),
            body: &rest[end + 1..],
        })
    }
}

const TOKENS: [&str; 2] = ["pc-token-current-0123456789", "pc-token-previous"];

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::read(data) else {
        return;
    };
    let tokens: Vec<ApiKey> = TOKENS.iter().map(|t| ApiKey::new(*t)).collect();
    let matched = portconnect::token_matches(input.token, &tokens);
    let want = input
        .token
        .is_some_and(|t| !t.is_empty() && TOKENS.iter().any(|k| k.as_bytes() == t));
    assert_eq!(matched, want, "token {:?}", input.token);

    let mut calls = 0usize;
    let parsed = portconnect::parse(input.body, input.received_at, || {
        calls += 1;
        format!("event-{calls}")
    });
    let Ok(events) = parsed else {
        return;
    };
    assert_eq!(calls, events.len(), "ids called once per event");
    let items: Vec<serde_json::Value> =
        serde_json::from_slice(input.body).expect("a parsed body is a JSON array");
    assert_eq!(items.len(), events.len(), "one event per item");
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.id, format!("event-{}", i + 1));
        assert_eq!(event.received_at, input.received_at);
        assert_eq!(event.source, "portconnect");
        assert!(event.dedupe.starts_with("portconnect:"), "{}", event.dedupe);
        let payload: serde_json::Value =
            serde_json::from_str(&event.payload).expect("the payload is the item's JSON");
        assert_eq!(payload, items[i], "the payload is the item");
        assert!(
            json::parse(&event.payload).is_ok(),
            "a rule cannot read the payload"
        );
        let _ = (event.keys(), event.sort_at(), event.stored_bytes());
        let _ = lookout::events::cursor(event);
        let _ = facts::event_map(event);
    }
    let again = portconnect::parse(input.body, input.received_at, {
        let mut n = 0;
        move || {
            n += 1;
            format!("event-{n}")
        }
    })
    .expect("the same body parses again");
    assert_eq!(again, events, "parsing is deterministic");
});
