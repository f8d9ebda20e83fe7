//! The call's record as the viewer, the API and the CLI see it ([`Call`], bodies as
//! bytes, each rule's trace), as the list shows it ([`Summary`]), and what the list is
//! asked ([`Query`]) and answers ([`Page`]).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// UUIDv7, time-ordered: the `X-Lookout-Call-Id` header.
    pub id: String,
    /// Microseconds since the Unix epoch.
    pub received_at: i64,
    /// Which lookout instance answered (host name and listen port).
    pub instance: String,
    /// The rule set named in the URL (as sent, even when unknown).
    pub ruleset: String,
    pub rules_version: Option<String>,
    pub peer: String,
    pub status: u16,
    /// The signature check: `hex`, `base64`, `not-required`, `missing`, `mismatch`,
    /// `malformed`, or `not-checked` when the call ended before it.
    pub signature: String,
    pub duration_us: i64,
    /// The estimate's identity (the rule set's identity pointers), when found.
    pub estimate_id: Option<String>,
    /// Alerts sent in the answer, and alerts left out to stay under 1 MB.
    pub alerts: u32,
    pub omitted: u32,
    pub rule_errors: u32,
    pub rule_timeouts: u32,
    /// What was wrong, for answers other than 200.
    pub error: Option<String>,
    /// Request headers in arrival order, redacted.
    pub request_headers: Vec<(String, String)>,
    /// What was redacted before storing: `header:<name>` and `body:<pointer>`.
    pub redacted: Vec<String>,
    /// Size of the body as received (or as declared, when it was refused unread).
    pub request_size: u64,
    /// The body as received (after body redaction), or its first bytes when
    /// `request_truncated`; empty when the call was refused before reading it.
    #[serde(with = "text_or_base64")]
    pub request_body: Bytes,
    pub request_truncated: bool,
    #[serde(with = "text_or_base64")]
    pub response_body: Vec<u8>,
    pub rules: Vec<RuleTrace>,
}

impl Call {
    /// The alerts of its answer (none when it was not answered 200).
    pub fn answer(&self) -> Vec<crate::alerts::Wire> {
        if self.status != 200 {
            return Vec::new();
        }
        crate::alerts::read_answer(&self.response_body)
    }

    /// The rule whose trace holds the alert with `guid` (`None` for lookout's own
    /// notices).
    pub fn rule_of(&self, guid: &str) -> Option<&str> {
        self.rules
            .iter()
            .find(|run| run.alerts.iter().any(|a| a.guid == guid))
            .map(|run| run.rule.as_str())
    }
}

/// One rule's part of a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleTrace {
    pub rule: String,
    pub duration_us: i64,
    /// `ok`, `error` or `timeout`.
    pub outcome: String,
    pub operations: u64,
    /// The alerts it had in the answer, as sent (with their GUIDs); alerts left out
    /// to stay under 1 MB are counted in the call's `omitted`, not here.
    pub alerts: Vec<crate::alerts::Wire>,
    pub error: Option<TraceError>,
    /// `print`/`debug` output, capped per rule; a cut ends with a marker line.
    pub output: String,
    pub output_cut: bool,
    pub notes: Vec<String>,
    /// The rule's last run on the same estimate, reused because nothing it read had
    /// changed; `duration_us` is then the time the check took.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceError {
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The file when it is not the rule itself (a lib module).
    pub source: Option<String>,
}

/// A call as the list shows it: no bodies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub id: String,
    pub received_at: i64,
    pub instance: String,
    pub ruleset: String,
    pub status: u16,
    pub duration_us: i64,
    pub estimate_id: Option<String>,
    pub alerts: u32,
    pub rule_errors: u32,
    pub rule_timeouts: u32,
    pub error: Option<String>,
    pub request_size: u64,
}

/// What the list asks for. Results are newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Query {
    pub ruleset: Option<String>,
    pub status: Option<u16>,
    /// Only calls that were not 200 or had a rule error or timeout.
    pub problems: bool,
    /// Text anywhere in the estimate's string values (case-insensitive).
    pub text: Option<String>,
    /// Microseconds since the epoch, inclusive.
    pub since: Option<i64>,
    /// Microseconds since the epoch, exclusive.
    pub until: Option<i64>,
    /// Continue after this call id (the previous page's `next`).
    pub before: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub calls: Vec<Summary>,
    /// Pass as `before` for the next (older) page; `None` at the oldest call.
    pub next: Option<String>,
    /// For text searches: the oldest call looked at, when the search stopped early.
    pub searched_to: Option<i64>,
}

/// Bodies in the API's JSON: UTF-8 text as a string, anything else as `{"base64": ...}`.
mod text_or_base64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Form {
        Text(String),
        Base64 { base64: String },
    }

    pub fn serialize<S: Serializer, T: AsRef<[u8]>>(bytes: &T, s: S) -> Result<S::Ok, S::Error> {
        let bytes = bytes.as_ref();
        match std::str::from_utf8(bytes) {
            Ok(text) => Form::Text(text.to_string()).serialize(s),
            Err(_) => Form::Base64 {
                base64: base64::engine::general_purpose::STANDARD.encode(bytes),
            }
            .serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: From<Vec<u8>>>(d: D) -> Result<T, D::Error> {
        match Form::deserialize(d)? {
            Form::Text(text) => Ok(text.into_bytes().into()),
            Form::Base64 { base64 } => base64::engine::general_purpose::STANDARD
                .decode(base64)
                .map(T::from)
                .map_err(serde::de::Error::custom),
        }
    }
}
