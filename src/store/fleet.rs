//! What a fleet of instances shares through the store, beside the log: which instance
//! serves which rule revision (`instances`), the candidate revisions tried in the shadow
//! of live calls (`candidates`), and what each candidate answered (`shadow_calls`).
//!
//! Revisions themselves are the workbench's [`super::Published`] rows: every publish,
//! rollback or folder publish is one, immutable, numbered by `seq` in the order they were
//! stored. The newest of a rule set is the revision every instance that follows the store
//! serves. `seq` also numbers candidates' starts and ends, so one number
//! ([`super::Backend::revision_mark`]) says whether anything a follower acts on changed.

use serde::{Deserialize, Serialize};

/// One instance as it last reported itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// `[instance]` or host:port: the name its calls carry in the log.
    pub name: String,
    /// µs since the epoch.
    pub started_at: i64,
    /// When it last reported (every few seconds while it runs).
    pub seen_at: i64,
    /// `{"<rule set>": "<version served>"}`.
    pub serving: serde_json::Value,
    /// What keeps it from serving the current revisions, if anything (empty: nothing).
    pub problems: Vec<String>,
}

/// A candidate revision of a rule set: run beside the live one on real calls, after
/// their answers are sent, never answering them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub id: String,
    pub ruleset: String,
    /// Its content hash.
    pub version: String,
    pub author: String,
    pub message: String,
    /// Every file of the candidate rule set: `{"<path>": "<text>"}`.
    pub files: serde_json::Value,
    /// µs since the epoch.
    pub started_at: i64,
    /// Set when it was promoted or discarded (or replaced by a newer candidate).
    pub ended_at: Option<i64>,
    /// `promoted`, `discarded` or `replaced`.
    pub outcome: Option<String>,
}

/// One live call answered again by a candidate, and how the two answers differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowCall {
    pub call_id: String,
    pub candidate: String,
    pub ruleset: String,
    /// When the candidate ran (µs since the epoch).
    pub at: i64,
    pub live_version: String,
    pub candidate_version: String,
    /// The live call's time from arrival to answer, and the candidate's evaluation.
    pub live_us: i64,
    pub candidate_us: i64,
    /// The candidate's answer differs from the live one (alerts compared as a replay
    /// compares them: by GUID, then by message).
    pub changed: bool,
    pub added: u32,
    pub removed: u32,
    /// Alerts in both answers with a field changed.
    pub altered: u32,
    /// Alerts whose GUID changed (IMOS shows them as new).
    pub guid_changes: u32,
    /// The candidate's rules that failed or timed out on the call.
    pub errors: u32,
    pub timeouts: u32,
    /// The candidate's answer body, exactly.
    pub answer: String,
}

/// A candidate's calls summed up over its life.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShadowSummary {
    pub calls: u64,
    pub changed: u64,
    pub added: u64,
    pub removed: u64,
    pub altered: u64,
    pub guid_changes: u64,
    pub errors: u64,
    pub timeouts: u64,
    /// Mean time per call, live (arrival to answer) and candidate (evaluation).
    pub live_us_mean: i64,
    pub candidate_us_mean: i64,
    pub candidate_us_max: i64,
}

/// Which of a candidate's calls to list: the calls behind one number of its summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShadowKind {
    All,
    Changed,
    Added,
    Removed,
    Altered,
    GuidChanges,
    Errors,
    Timeouts,
}

impl ShadowKind {
    pub const ALL: [ShadowKind; 8] = [
        ShadowKind::All,
        ShadowKind::Changed,
        ShadowKind::Added,
        ShadowKind::Removed,
        ShadowKind::Altered,
        ShadowKind::GuidChanges,
        ShadowKind::Errors,
        ShadowKind::Timeouts,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ShadowKind::All => "all",
            ShadowKind::Changed => "changed",
            ShadowKind::Added => "added",
            ShadowKind::Removed => "removed",
            ShadowKind::Altered => "altered",
            ShadowKind::GuidChanges => "guid_changes",
            ShadowKind::Errors => "errors",
            ShadowKind::Timeouts => "timeouts",
        }
    }

    pub fn parse(text: &str) -> Option<ShadowKind> {
        ShadowKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The SQL condition (both backends) selecting these calls; a fixed text, never
    /// built from input.
    pub(super) fn condition(self) -> &'static str {
        match self {
            ShadowKind::All => "1 = 1",
            ShadowKind::Changed => "changed_answer <> 0",
            ShadowKind::Added => "added > 0",
            ShadowKind::Removed => "removed > 0",
            ShadowKind::Altered => "altered > 0",
            ShadowKind::GuidChanges => "guid_changes > 0",
            ShadowKind::Errors => "errors > 0",
            ShadowKind::Timeouts => "timeouts > 0",
        }
    }
}

/// The shadow rows' columns, in the order both backends read them.
pub(super) const SHADOW_COLUMNS: &str = "call_id, candidate, ruleset, at, live_version, candidate_version, live_us, candidate_us, changed_answer, added, removed, altered, guid_changes, errors, timeouts, answer";

/// The summary's aggregate, in the order both backends read it.
pub(super) const SUMMARY_SQL: &str = "SELECT count(*), CAST(coalesce(sum(changed_answer), 0) AS BIGINT), CAST(coalesce(sum(added), 0) AS BIGINT), CAST(coalesce(sum(removed), 0) AS BIGINT), CAST(coalesce(sum(altered), 0) AS BIGINT), CAST(coalesce(sum(guid_changes), 0) AS BIGINT), CAST(coalesce(sum(errors), 0) AS BIGINT), CAST(coalesce(sum(timeouts), 0) AS BIGINT), CAST(coalesce(avg(live_us), 0) AS BIGINT), CAST(coalesce(avg(candidate_us), 0) AS BIGINT), CAST(coalesce(max(candidate_us), 0) AS BIGINT) FROM shadow_calls WHERE candidate = ";

pub(super) const CANDIDATE_COLUMNS: &str =
    "id, ruleset, version, author, message, files, started_at, ended_at, outcome";
