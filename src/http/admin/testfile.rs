//! "Save as rule test": a recorded call as a test file for `lookout test` that pins the
//! answer lookout gave (see `rules/README.md`, "Testing rules").
//!
//! The file carries the estimate inline (as received, keys in their order), the request
//! headers rules could read, and `expect.alerts`: every alert of the answer, in order,
//! with its rule, type, message, display fields, link, mutation and GUID. Dropped into
//! `rules/<ruleset>/tests/`, it passes as long as the rules answer that call the same way.

use serde::Serialize;
use serde_json::Value;

use crate::alerts::Wire;
use crate::rules::testfile::Matcher;
use crate::store::{redact, Call};

/// Headers a test file leaves out: credentials rules never see, and the length of a body
/// the test runner builds itself.
const LEFT_OUT: &[&str] = &["content-length"];

#[derive(Debug, Clone, PartialEq)]
pub struct TestFile {
    /// `call-<id>.json`.
    pub name: String,
    pub text: String,
}

/// The test file for `call`, or why there cannot be one.
pub fn build(call: &Call) -> Result<TestFile, String> {
    if call.status != 200 {
        return Err(format!(
            "call {} was answered {}, not 200, so there is no answer of the rules to pin; save a call answered 200",
            call.id, call.status
        ));
    }
    if call.request_truncated {
        return Err(format!(
            "call {}: only the start of its body was kept, so it cannot become a test",
            call.id
        ));
    }
    let estimate = std::str::from_utf8(&call.request_body)
        .ok()
        .and_then(|text| crate::rules::json::parse(text).ok())
        .filter(sonic_rs::JsonValueTrait::is_object)
        .ok_or_else(|| format!("call {}: its body is not a JSON object", call.id))?;
    let alerts: Vec<Wire> = serde_json::from_slice(&call.response_body).map_err(|e| {
        format!(
            "call {}: its recorded answer is not a JSON array of alerts ({e})",
            call.id
        )
    })?;

    let mut headers = serde_json::Map::new();
    let mut redacted = Vec::new();
    for (name, value) in &call.request_headers {
        let name = name.to_ascii_lowercase();
        if redact::ALWAYS.contains(&name.as_str()) || LEFT_OUT.contains(&name.as_str()) {
            continue;
        }
        if value == redact::MARK {
            redacted.push(name.clone());
        }
        // Repeated headers reach rules joined with ", ", as the server does.
        let joined = match headers.get(&name).and_then(Value::as_str) {
            Some(before) => format!("{before}, {value}"),
            None => value.clone(),
        };
        headers.insert(name, Value::String(joined));
    }

    let expected: Vec<Matcher> = alerts
        .iter()
        .map(|alert| Matcher::pinning(alert, call.rule_of(&alert.guid)))
        .collect();

    let mut description = format!(
        "Pins the answer to call {} ({}, {}{}): {} alert{}; saved from the log viewer",
        call.id,
        call.ruleset,
        super::view::time(call.received_at),
        call.estimate_id
            .as_deref()
            .map(|e| format!(", estimate {e}"))
            .unwrap_or_default(),
        alerts.len(),
        if alerts.len() == 1 { "" } else { "s" },
    );
    if !redacted.is_empty() {
        description.push_str(&format!(
            "; the log redacted {}, so rules read \"{}\" there",
            redacted.join(", "),
            redact::MARK
        ));
    }
    let body_redacted: Vec<&str> = call
        .redacted
        .iter()
        .filter_map(|r| r.strip_prefix("body:"))
        .collect();
    if !body_redacted.is_empty() {
        description.push_str(&format!(
            "; the estimate's {} were redacted in the log",
            body_redacted.join(", ")
        ));
    }

    let mut text = String::from("{\n");
    let mut member = |key: &str, value: String| {
        if text.len() > 2 {
            text.push_str(",\n");
        }
        text.push_str(&format!("  {}: {}", Value::from(key), indented(&value)));
    };
    member("description", Value::from(description).to_string());
    member(
        "estimate",
        sonic_rs::to_string_pretty(&estimate).expect("a parsed value serializes"),
    );
    member("headers", pretty(&headers));
    if call.rule_errors > 0 || call.rule_timeouts > 0 {
        member("allow_rule_errors", "true".into());
    }
    member("expect", pretty(&serde_json::json!({ "alerts": expected })));
    text.push_str("\n}\n");
    Ok(TestFile {
        name: format!("call-{}.json", call.id),
        text,
    })
}

fn pretty(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(value).expect("JSON values serialize")
}

/// Indents every line but the first by two spaces (a member of the top-level object).
fn indented(text: &str) -> String {
    text.replace('\n', "\n  ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RuleTrace;
    use serde_json::json;

    fn call() -> Call {
        let alert = json!({"message": "LSF short", "alertType": "Error", "guid": "g-1",
            "displayFields": [{"label": "Short", "value": "25"}],
            "mutation": {"estimateItineraries": {"voyageEstimateBunkers": [{"fuelType": "LSF", "departureQty": 175}]}}});
        Call {
            id: "0190a5b2-1111-7000-8000-000000000001".into(),
            received_at: 1_777_645_800_000_000,
            instance: "test:8443".into(),
            ruleset: "desk".into(),
            rules_version: Some("v".into()),
            peer: "127.0.0.1:1".into(),
            status: 200,
            signature: "hex".into(),
            duration_us: 10,
            estimate_id: Some("EST-1".into()),
            alerts: 1,
            omitted: 0,
            rule_errors: 0,
            rule_timeouts: 0,
            error: None,
            request_headers: vec![
                ("content-type".into(), "application/json".into()),
                ("content-length".into(), "40".into()),
                ("veson-webhook-signature".into(), "[redacted]".into()),
                ("x-imos-user".into(), "apatel".into()),
                ("x-imos-user".into(), "bkim".into()),
                ("x-imos-token".into(), "[redacted]".into()),
            ],
            redacted: vec![
                "header:veson-webhook-signature".into(),
                "header:x-imos-token".into(),
            ],
            request_size: 40,
            request_body: br#"{"zeta":1,"estimateID":"EST-1","alpha":[1,2]}"#.to_vec().into(),
            request_truncated: false,
            response_body: serde_json::to_vec(&json!([alert])).unwrap(),
            rules: vec![RuleTrace {
                rule: "bunkers".into(),
                duration_us: 1,
                outcome: "ok".into(),
                operations: 1,
                alerts: vec![serde_json::from_value(alert).unwrap()],
                error: None,
                output: String::new(),
                output_cut: false,
                reused: false,
                notes: vec![],
            }],
        }
    }

    #[test]
    fn a_call_becomes_a_test_that_pins_its_answer() {
        let file = build(&call()).unwrap();
        assert_eq!(file.name, "call-0190a5b2-1111-7000-8000-000000000001.json");
        let parsed: Value = serde_json::from_str(&file.text).unwrap();
        assert_eq!(
            parsed["headers"],
            json!({"content-type": "application/json", "x-imos-user": "apatel, bkim", "x-imos-token": "[redacted]"})
        );
        assert_eq!(
            parsed["expect"]["alerts"],
            json!([{"rule": "bunkers", "alertType": "Error", "message": "LSF short", "guid": "g-1",
                "displayFields": [{"label": "Short", "value": "25"}],
                "mutation": {"estimateItineraries": {"voyageEstimateBunkers": [{"fuelType": "LSF", "departureQty": 175}]}}}])
        );
        assert!(parsed.get("allow_rule_errors").is_none());
        let description = parsed["description"].as_str().unwrap();
        assert!(
            description.contains("EST-1") && description.contains("x-imos-token"),
            "{description}"
        );
        // The estimate keeps the order of its keys.
        let zeta = file.text.find("\"zeta\"").unwrap();
        assert!(zeta < file.text.find("\"estimateID\"").unwrap());
    }

    #[test]
    fn only_answered_calls_can_be_saved() {
        let mut refused = call();
        refused.status = 401;
        assert!(build(&refused).unwrap_err().contains("answered 401"));
        let mut cut = call();
        cut.request_truncated = true;
        assert!(build(&cut).unwrap_err().contains("only the start"));
        let mut not_json = call();
        not_json.request_body = b"[1]".to_vec().into();
        assert!(build(&not_json).unwrap_err().contains("not a JSON object"));
    }
}
