//! What a call hands its rules, built the same way by the server, `lookout run` and
//! `lookout test`, and replay: the estimate read from the body ([`parse_estimate`]),
//! `request` from the call's headers as plain name/value pairs ([`request_context`]),
//! and the port events the call may consult.
//!
//! Knows no HTTP: each caller words an [`EstimateError`] for its own audience.

use std::sync::Arc;
use std::time::SystemTime;

use sonic_rs::JsonValueTrait;
use uuid::Uuid;

use crate::nesting::{self, TooDeep};
use crate::rules::facts::{FactSource, Facts};
use crate::rules::json::{self, Doc};
use crate::rules::ruleset::RuleSet;

/// What a call hands to its rules.
pub struct CallInput {
    /// The parsed estimate (`estimate` in rules).
    pub estimate: Arc<Doc>,
    /// `request`: `{ruleset, call_id, received_at, headers}`.
    pub request: Arc<Doc>,
    /// Port events, for `container_events` and its kin (default: none).
    pub facts: Arc<Facts>,
}

impl CallInput {
    /// The input for a call of `ruleset` with id `call_id`, received at `received_at`
    /// with `headers`, on `estimate`; `facts` answers the port-event helpers (none:
    /// they find nothing).
    pub fn new<'h>(
        ruleset: &RuleSet,
        call_id: Uuid,
        received_at: SystemTime,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
        estimate: Arc<Doc>,
        facts: Option<Arc<dyn FactSource>>,
    ) -> CallInput {
        CallInput {
            estimate,
            request: Arc::new(request_context(
                &ruleset.name,
                call_id,
                received_at,
                headers,
                &ruleset.settings.redact_headers,
            )),
            facts: Arc::new(Facts::new(facts)),
        }
    }
}

/// `request` as rules see it: never a credential header
/// ([`crate::secrets::CREDENTIAL_HEADERS`]), nor one the rule set redacts
/// (`redact_headers`), so no rule can copy such a value into an alert or its output.
/// Names are read case-insensitively and a header given twice is joined with `, `.
pub fn request_context<'h>(
    name: &str,
    call_id: Uuid,
    received_at: SystemTime,
    headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
    redacted: &[String],
) -> Doc {
    let mut map = sonic_rs::Object::new();
    for (key, value) in headers {
        let key = key.to_ascii_lowercase();
        if crate::secrets::CREDENTIAL_HEADERS.contains(&key.as_str())
            || redacted.iter().any(|r| r.eq_ignore_ascii_case(&key))
        {
            continue;
        }
        let value = String::from_utf8_lossy(value);
        match map.get_mut(&key) {
            Some(existing) => {
                let joined = format!("{}, {value}", existing.as_str().unwrap_or_default());
                *existing = Doc::from(joined.as_str());
            }
            None => {
                map.insert(key.as_str(), value.as_ref());
            }
        }
    }
    let received_at: chrono::DateTime<chrono::Utc> = received_at.into();
    let mut context = sonic_rs::Object::with_capacity(4);
    context.insert("ruleset", name);
    context.insert("call_id", call_id.to_string().as_str());
    context.insert(
        "received_at",
        received_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            .as_str(),
    );
    context.insert("headers", map);
    context.into()
}

/// Why a body is not an estimate.
#[derive(Debug)]
pub enum EstimateError {
    /// Not UTF-8 (`valid_up_to` is the first bad byte's offset).
    NotUtf8(std::str::Utf8Error),
    /// Nested deeper than [`nesting::MAX_DEPTH`].
    TooDeep(TooDeep),
    /// Not JSON (line, column and message in the error).
    NotJson(nesting::Error),
    /// JSON, but not an object: what it is ("an array").
    NotObject(&'static str),
}

/// The estimate in a body: UTF-8 JSON, no deeper than [`nesting::MAX_DEPTH`], an object.
pub fn parse_estimate(body: &[u8]) -> Result<Doc, EstimateError> {
    let text = std::str::from_utf8(body).map_err(EstimateError::NotUtf8)?;
    let estimate = json::parse(text).map_err(|e| match e {
        nesting::Error::TooDeep(deep) => EstimateError::TooDeep(deep),
        other => EstimateError::NotJson(other),
    })?;
    if !estimate.is_object() {
        return Err(EstimateError::NotObject(json::kind(&estimate)));
    }
    Ok(estimate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_see_config_flags_but_not_credentials() {
        let headers: &[(&str, &[u8])] = &[
            ("x-imos-token", b"abc"),
            ("X-Multi", b"1"),
            ("x-multi", b"2"),
            ("veson-webhook-signature", b"secret"),
            ("Authorization", b"Bearer x"),
            ("x-webhooktoken", b"t"),
            ("x-partner-token", b"hidden"),
        ];
        let ctx = json::doc_to_value(&request_context(
            "desk",
            Uuid::nil(),
            SystemTime::UNIX_EPOCH,
            headers.iter().copied(),
            &["X-Partner-Token".to_string()],
        ));
        assert_eq!(
            ctx["headers"],
            json!({"x-imos-token": "abc", "x-multi": "1, 2"})
        );
        assert_eq!(ctx["received_at"], "1970-01-01T00:00:00.000Z");
        assert_eq!(ctx["ruleset"], "desk");
    }

    #[test]
    fn an_estimate_is_a_json_object_in_utf8() {
        assert!(parse_estimate(br#"{"a": 1}"#).is_ok());
        assert!(matches!(
            parse_estimate(b"{\"a\": \"\xff\"}"),
            Err(EstimateError::NotUtf8(e)) if e.valid_up_to() == 7
        ));
        assert!(matches!(
            parse_estimate(b"[1,2]"),
            Err(EstimateError::NotObject("an array"))
        ));
        assert!(matches!(
            parse_estimate(b"{\"a\": }"),
            Err(EstimateError::NotJson(_))
        ));
        let deep = "[".repeat(nesting::MAX_DEPTH + 1);
        assert!(matches!(
            parse_estimate(deep.as_bytes()),
            Err(EstimateError::TooDeep(_))
        ));
    }
}
