//! The estimate parse: `nesting::check` (the depth guard run before any parser) then
//! `rules::json::parse` (sonic-rs, serde_json for the texts it refuses).
//!
//! Properties, beyond "no panic" (a stack overflow is a crash too):
//! - too deep for `nesting::check` is refused by `parse`; `parse_bytes_ok` agrees with
//!   `parse` on every UTF-8 text;
//! - what `parse` accepts, serde_json accepts too, and the two trees are equal as
//!   `serde_json::Value` (`json::doc_to_value`), nested at most `MAX_DEPTH` deep;
//! - what serde_json accepts, `parse` accepts (sonic-rs or its fallback);
//! - each top-level member a rule reads (`json::pointer`) is the value serde_json has.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;
use lookout::nesting::{self, MAX_DEPTH};
use lookout::rules::json;
use serde_json::Value;
use sonic_rs::JsonContainerTrait;

/// Depth as `nesting` counts it (`[]` is 1, a scalar 0), without recursion.
fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, d)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        deepest = deepest.max(d + 1);
        stack.extend(children.map(|c| (c, d + 1)));
    }
    deepest
}

/// Equal, or (F4, tolerated) equal but for floats a few units in the last place apart:
/// serde_json without its `float_roundtrip` feature rounds some long decimals the
/// wrong way; sonic-rs rounds them correctly.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x != y => {
            let (Some(x), Some(y)) = (x.as_f64(), y.as_f64()) else {
                return false;
            };
            x.is_finite()
                && y.is_finite()
                && x.to_bits().abs_diff(y.to_bits()) <= 64
                && x.signum() == y.signum()
                && common::tolerated("F4-serde-json-float-rounding")
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// A key as one RFC 6901 pointer token.
fn token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fuzz_target!(|data: &[u8]| {
    let depth_ok = nesting::check(data).is_ok();
    let bytes_ok = json::parse_bytes_ok(data);
    let Ok(text) = std::str::from_utf8(data) else {
        // JSON is UTF-8: bytes that are not cannot be a document.
        assert!(
            !bytes_ok,
            "parse_bytes_ok accepted bytes that are not UTF-8"
        );
        return;
    };
    let parsed = json::parse(text);
    assert_eq!(
        bytes_ok,
        parsed.is_ok(),
        "parse_bytes_ok and parse disagree: {:?}",
        parsed.as_ref().err()
    );
    if !depth_ok {
        assert!(
            matches!(parsed, Err(nesting::Error::TooDeep(_))),
            "a text too deep for nesting::check was not refused for it"
        );
        return;
    }
    // Within the depth bound serde_json's own recursion limit (128) is never reached,
    // so it is a fair reference.
    let reference = serde_json::from_str::<Value>(text);
    let doc = match parsed {
        Ok(doc) => doc,
        Err(err) => {
            assert!(
                reference.is_err(),
                "parse refused a text serde_json accepts: {err}"
            );
            return;
        }
    };
    let reference = reference.expect("parse accepted a text serde_json refuses");
    let ours = json::doc_to_value(&doc);
    assert!(
        same(&ours, &reference),
        "sonic-rs and serde_json read different values:\n{ours}\n{reference}"
    );
    let d = depth(&ours);
    assert!(d <= MAX_DEPTH, "a tree {d} deep passed the depth guard");
    let _ = json::kind(&doc);

    // What a rule (or the estimate's identity) reads at a top-level pointer. A key
    // given twice (F5): sonic-rs keeps both members and finds the first, serde_json
    // keeps the last.
    let repeated = doc
        .as_object()
        .is_some_and(|o| o.len() != reference.as_object().map_or(0, |m| m.len()));
    if repeated && common::tolerated("F5-repeated-key-first-or-last") {
        return;
    }
    if let Value::Object(map) = &reference {
        for (key, value) in map {
            let at = json::pointer(&doc, &format!("/{}", token(key))).map(json::doc_to_value);
            assert!(
                at.as_ref().is_some_and(|at| same(at, value)),
                "json::pointer reads another value for member {key:?} than serde_json: {at:?}"
            );
        }
    }
});
