//! Replaying a recorded call against the rules on disk, and what changed.
//!
//! The viewer's "Replay against current rules" and `lookout replay` both come here.
//! A replay runs the recorded body through the same evaluation path as a live call
//! (`rules::evaluate` with the server's `request_context`, the original call id and
//! arrival time), so any difference comes from the rules, their data or lookout.
//!
//! Alerts are matched by GUID first (the same GUID is the same alert to IMOS); what is
//! left is paired by message, which catches an alert whose suggestion (and so GUID)
//! changed; the rest were added or removed.

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde::Serialize;
use uuid::Uuid;

use crate::alerts::Wire;
use crate::rules::{self, CallInput, EstimateError, Pool, RuleSet};
use crate::store::{redact, Call};

/// The log's store as the source of port facts for rules: live calls read everything
/// received so far, a replay what its call saw.
pub struct StoreFacts {
    pub store: crate::store::Store,
    /// Only events received by then (µs): a replay sees what the call saw.
    pub as_of: Option<i64>,
}

impl rules::facts::FactSource for StoreFacts {
    fn events(
        &self,
        key: &crate::events::Key,
        since: Option<i64>,
        kind: Option<&str>,
        limit: usize,
    ) -> Result<Vec<crate::events::Event>, String> {
        let query = crate::events::EventQuery {
            key: Some(key.clone()),
            since,
            kind: kind.map(str::to_string),
            received_by: self.as_of,
            limit,
            ..crate::events::EventQuery::default()
        };
        self.store
            .list_events(&query)
            .map(|page| page.events)
            .map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    Added {
        alert: Wire,
    },
    Removed {
        alert: Wire,
    },
    Changed {
        before: Wire,
        after: Wire,
        /// Which fields differ (`message`, `alertType`, `guid`, `mutation`, ...).
        fields: Vec<String>,
        /// IMOS will see a new alert: an applied mutation is no longer shown as applied.
        guid_changed: bool,
    },
}

/// The outcome of replaying one call.
#[derive(Debug, Clone, Serialize)]
pub struct Replayed {
    pub call_id: String,
    pub ruleset: String,
    pub rules_version_then: Option<String>,
    pub rules_version_now: String,
    /// Alerts as answered then, and now.
    pub then: Vec<Wire>,
    pub now: Vec<Wire>,
    /// The body answered now, exactly.
    pub body_now: String,
    pub changes: Vec<Change>,
    /// Rules that fail or time out now (id and what happened).
    pub rule_problems: Vec<String>,
    /// What may make this replay differ from the original call for reasons other
    /// than the rules (redacted input, say).
    pub caveats: Vec<String>,
}

impl Replayed {
    pub fn changed(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// Why a call cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum NotReplayable {
    #[error("call {id} was answered {status} before the rules ran; only calls answered 200 or 400 can be replayed")]
    NeverEvaluated { id: String, status: u16 },
    #[error("call {id}: only the first {kept} of its {size} bytes were kept (its signature did not pass), so it cannot be replayed")]
    Truncated { id: String, kept: usize, size: u64 },
    #[error("call {id}: its body is not a JSON object ({reason}); nothing to replay")]
    NotJson { id: String, reason: String },
}

/// The input a logged call gives `ruleset`'s rules, as when it arrived: its exact body,
/// headers and arrival time, and (with `store`) the port events as the store held them
/// then; also the caveats (values redacted before the call was stored).
pub fn call_input(
    ruleset: &RuleSet,
    call: &Call,
    store: Option<crate::store::Store>,
) -> Result<(Arc<CallInput>, Vec<String>), NotReplayable> {
    if call.request_body.is_empty() && call.status != 200 {
        return Err(NotReplayable::NeverEvaluated {
            id: call.id.clone(),
            status: call.status,
        });
    }
    if call.request_truncated {
        return Err(NotReplayable::Truncated {
            id: call.id.clone(),
            kept: call.request_body.len(),
            size: call.request_size,
        });
    }
    let not_json = |reason: String| NotReplayable::NotJson {
        id: call.id.clone(),
        reason,
    };
    let estimate = rules::parse_estimate(&call.request_body).map_err(|e| {
        not_json(match e {
            EstimateError::NotUtf8(e) => e.to_string(),
            EstimateError::TooDeep(deep) => deep.to_string(),
            EstimateError::NotJson(e) => e.to_string(),
            EstimateError::NotObject(kind) => format!("it is {kind}"),
        })
    })?;

    let mut caveats = Vec::new();
    let redacted: Vec<&str> = call
        .redacted
        .iter()
        .map(String::as_str)
        .filter(|r| !r.starts_with("header:") || !is_credential(r))
        .collect();
    if !redacted.is_empty() {
        caveats.push(format!(
            "replayed with these values redacted (rules read \"{}\" there): {}",
            redact::MARK,
            redacted.join(", ")
        ));
    }
    let call_id = Uuid::parse_str(&call.id).unwrap_or_else(|_| Uuid::nil());
    let received_at = UNIX_EPOCH + Duration::from_micros(call.received_at.max(0) as u64);
    let input = Arc::new(CallInput::new(
        ruleset,
        call_id,
        received_at,
        call.request_headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes())),
        Arc::new(estimate),
        store.map(|store| {
            Arc::new(StoreFacts {
                store,
                as_of: Some(call.received_at),
            }) as Arc<dyn rules::facts::FactSource>
        }),
    ));
    Ok((input, caveats))
}

/// Runs `ruleset` (as loaded now) on the recorded call and compares the answers, with
/// no port facts (rules' `container_events` and kin return nothing).
pub async fn replay(
    pool: &Pool,
    ruleset: Arc<RuleSet>,
    call: &Call,
) -> Result<Replayed, NotReplayable> {
    replay_with(pool, ruleset, call, None).await
}

/// [`replay`] with port facts from `store` as they were when the call arrived: only
/// events received by then (those retention has removed since are gone).
pub async fn replay_with(
    pool: &Pool,
    ruleset: Arc<RuleSet>,
    call: &Call,
    store: Option<crate::store::Store>,
) -> Result<Replayed, NotReplayable> {
    let (input, caveats) = call_input(&ruleset, call, store)?;
    let deadline = Instant::now() + ruleset.settings.budget - ruleset.settings.margin;
    let version = ruleset.version.clone();
    let evaluation = rules::evaluate(pool, ruleset, input, deadline, ()).await;
    let rule_problems = evaluation
        .runs
        .iter()
        .filter_map(|run| match &run.outcome {
            rules::Outcome::Ok => None,
            rules::Outcome::Error(e) => Some(format!("{}: {e}", run.rule)),
            rules::Outcome::Timeout => Some(format!("{}: timed out", run.rule)),
        })
        .collect();

    let then = call.answer();
    let now = evaluation.response.wires();
    Ok(Replayed {
        call_id: call.id.clone(),
        ruleset: call.ruleset.clone(),
        rules_version_then: call.rules_version.clone(),
        rules_version_now: version,
        changes: compare(&then, &now),
        body_now: String::from_utf8_lossy(&evaluation.response.body).into_owned(),
        then,
        now,
        rule_problems,
        caveats,
    })
}

fn is_credential(entry: &str) -> bool {
    let name = entry.trim_start_matches("header:");
    redact::ALWAYS.contains(&name)
}

/// What changed from `then` to `now`, in the order of `now` (removals last).
pub fn compare(then: &[Wire], now: &[Wire]) -> Vec<Change> {
    let guid = |a: &Wire| Some(a.guid.clone()).filter(|g| !g.is_empty());
    let message = |a: &Wire| Some(a.message.clone()).filter(|m| !m.is_empty());
    let mut unmatched_then: Vec<Option<&Wire>> = then.iter().map(Some).collect();
    let mut changes = Vec::new();
    let mut leftovers = Vec::new();
    for after in now {
        let found = unmatched_then
            .iter()
            .position(|b| b.is_some_and(|b| guid(b).is_some() && guid(b) == guid(after)));
        match found {
            Some(i) => {
                let before = unmatched_then[i].take().expect("present");
                let fields = before.changed_fields(after);
                if !fields.is_empty() {
                    changes.push(Change::Changed {
                        before: before.clone(),
                        after: after.clone(),
                        fields,
                        guid_changed: false,
                    });
                }
            }
            None => leftovers.push(after),
        }
    }
    for after in leftovers {
        let found = unmatched_then
            .iter()
            .position(|b| b.is_some_and(|b| message(b).is_some() && message(b) == message(after)));
        match found {
            Some(i) => {
                let before = unmatched_then[i].take().expect("present");
                changes.push(Change::Changed {
                    before: before.clone(),
                    after: after.clone(),
                    fields: before.changed_fields(after),
                    guid_changed: true,
                });
            }
            None => changes.push(Change::Added {
                alert: after.clone(),
            }),
        }
    }
    for before in unmatched_then.into_iter().flatten() {
        changes.push(Change::Removed {
            alert: before.clone(),
        });
    }
    changes
}

/// One line per change, for the CLI.
pub fn describe(change: &Change) -> String {
    let text = |a: &Wire| format!("{} \"{}\"", a.alert_type.as_str(), a.message);
    match change {
        Change::Added { alert } => format!("+ added    {}", text(alert)),
        Change::Removed { alert } => format!("- removed  {}", text(alert)),
        Change::Changed {
            before,
            after,
            fields,
            guid_changed,
        } => {
            let mut line = format!("~ changed  {} ({})", text(after), fields.join(", "));
            if before.message != after.message {
                line.push_str(&format!("\n           was {}", text(before)));
            }
            if *guid_changed {
                line.push_str("\n           GUID changed: IMOS shows it as a new alert (an applied suggestion is no longer marked applied)");
            }
            line
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn alerts_match_by_guid_then_by_message() {
        let then = vec![
            json!({"message": "TCE low", "alertType": "PermanentWarning", "guid": "g1"}),
            json!({"message": "LSF short", "alertType": "Error", "guid": "g2", "mutation": {"q": 1}}),
            json!({"message": "gone", "alertType": "Unspecified", "guid": "g3"}),
        ];
        let now = vec![
            json!({"message": "TCE very low", "alertType": "PermanentWarning", "guid": "g1"}),
            json!({"message": "LSF short", "alertType": "Error", "guid": "g9", "mutation": {"q": 2}}),
            json!({"message": "new", "alertType": "Unspecified", "guid": "g4"}),
        ];
        let read = |v: Vec<serde_json::Value>| -> Vec<Wire> {
            v.into_iter()
                .map(|a| serde_json::from_value(a).unwrap())
                .collect()
        };
        let (then, now) = (read(then), read(now));
        let changes = compare(&then, &now);
        assert_eq!(changes.len(), 4, "{changes:#?}");
        assert!(
            matches!(&changes[0], Change::Changed { fields, guid_changed: false, .. } if fields == &["message"])
        );
        assert!(
            matches!(&changes[1], Change::Changed { fields, guid_changed: true, .. } if fields == &["guid", "mutation"])
        );
        assert!(matches!(&changes[2], Change::Added { alert } if alert.guid == "g4"));
        assert!(matches!(&changes[3], Change::Removed { alert } if alert.guid == "g3"));
        assert!(compare(&then, &then).is_empty());
        assert!(describe(&changes[1]).contains("GUID changed"));
    }
}
