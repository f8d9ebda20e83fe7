//! The request/response log: what every `/hooks/*` call received and answered, and
//! why each rule did what it did.
//!
//! Three layers:
//! - [`Call`]: one call as the viewer, the API and the CLI see it (bodies as bytes;
//!   `call`);
//! - [`Row`]: the same call as a backend stores it (bodies compressed, trace as JSON;
//!   `row`, with `delta` for request bodies stored as differences);
//! - [`Backend`]: a database that keeps rows (`sqlite` by default, `postgres` for several
//!   instances). Backends only map columns and run statements; encoding, redaction
//!   (`redact`) and what a query means (`sql`, `search`) live beside them, written once,
//!   so both backends keep and find the same records.
//!
//! Writing calls also adds each rule's run to its hour's `activity` (the workbench's
//! figures and charts), in the same transaction.
//!
//! The `recorder` writes off the answer's path; the store knows calls, port events,
//! viewer sessions and the workbench's drafts and publishes (`workbench`), and nothing
//! of rules or HTTP.
//!
//! Backends are synchronous: the recorder writes from its own thread and HTTP handlers
//! read through `spawn_blocking`.

pub mod activity;
mod call;
#[cfg(test)]
mod conformance;
pub mod delta;
pub mod fleet;
pub mod postgres;
pub mod recorder;
pub mod redact;
mod row;
pub mod search;
mod sql;
pub mod sqlite;
pub mod workbench;

use std::sync::Arc;

use serde::Serialize;

pub use call::{Call, Page, Query, RuleTrace, Summary, TraceError};
pub use fleet::{Candidate, Instance, ShadowCall, ShadowKind, ShadowSummary};
pub use row::{Blob, Encoding, Packer, Row};
pub use workbench::{Draft, Published};

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Removed {
    pub by_age: u64,
    pub by_size: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub calls: u64,
    pub stored_bytes: u64,
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or could not be reached; writes may succeed later.
    #[error("{0}")]
    Unavailable(String),
    /// A stored record cannot be read back.
    #[error("{0}")]
    Corrupt(String),
    /// The query is not valid (a bad cursor, say).
    #[error("{0}")]
    BadQuery(String),
}

pub use crate::events::{Event, EventPage, EventQuery, Ingested};
pub use search::TEXT_SCAN_WINDOW;

/// A database that keeps the log. See the module docs.
pub trait Backend: Send + Sync + 'static {
    /// For messages: `sqlite data/lookout.db` or `postgres host/db` (no password).
    fn describe(&self) -> String;
    /// Writes the rows in one transaction; on error none of them is kept.
    fn write(&self, rows: &[Row]) -> Result<(), StoreError>;
    /// One page of summaries, newest first (see [`Query`]).
    fn list(&self, query: &Query) -> Result<Page, StoreError>;
    fn get(&self, id: &str) -> Result<Option<Row>, StoreError>;
    /// Applies `retention` as of `now` (microseconds since the epoch).
    fn retain(&self, retention: &Retention, now: i64) -> Result<Removed, StoreError>;
    fn stats(&self) -> Result<Stats, StoreError>;
    /// A hard limit on the database's size, past which writes fail (and are counted)
    /// until retention makes room. Only SQLite has one.
    /// Stores port events in one durable transaction (committed to disk before it
    /// returns), skipping those whose `dedupe` is already there; on error none is kept.
    fn write_events(&self, events: &[Event]) -> Result<Ingested, StoreError>;
    /// One page of events, newest first by [`Event::sort_at`] (see [`EventQuery`]).
    fn list_events(&self, query: &EventQuery) -> Result<EventPage, StoreError>;
    fn get_event(&self, id: &str) -> Result<Option<Event>, StoreError>;
    /// Applies `retention` to the port events (by when they were received).
    fn retain_events(&self, retention: &Retention, now: i64) -> Result<Removed, StoreError>;
    /// Port events stored: count, bytes, oldest and newest received.
    fn event_stats(&self) -> Result<Stats, StoreError>;
    /// Records that the log viewer's session `nonce` was logged out, so every instance
    /// refuses it, after restarts too, until `expires_at` (µs since the epoch), when the
    /// session would have ended anyway. Revoking a nonce again keeps the later expiry.
    /// Revocations expired by now are removed in the same transaction, so the list
    /// stays as small as the logouts of one session's lifetime.
    fn revoke_session(&self, nonce: &str, expires_at: i64) -> Result<(), StoreError>;
    /// The sessions logged out that are still unexpired at `now` (µs since the epoch):
    /// `(nonce, expires_at)`, in no particular order.
    fn revoked_sessions(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError>;
    /// Keeps a draft (a new one, or the same id again: its files and `updated_at`).
    fn save_draft(&self, draft: &Draft) -> Result<(), StoreError>;
    fn draft(&self, id: &str) -> Result<Option<Draft>, StoreError>;
    /// Drafts, newest change first; of one rule set, or of all.
    fn drafts(&self, ruleset: Option<&str>) -> Result<Vec<Draft>, StoreError>;
    /// Whether there was such a draft.
    fn delete_draft(&self, id: &str) -> Result<bool, StoreError>;
    /// Records a publish or rollback (kept forever: the audit log).
    fn record_published(&self, published: &Published) -> Result<(), StoreError>;
    /// A rule set's publishes and rollbacks, newest first.
    fn published(&self, ruleset: &str) -> Result<Vec<Published>, StoreError>;
    fn published_one(&self, id: &str) -> Result<Option<Published>, StoreError>;
    /// A rule set's hourly activity rows from the hour of `since` (µs since the epoch)
    /// on, written by `write` (see [`activity`]).
    fn activity(
        &self,
        ruleset: &str,
        since: i64,
    ) -> Result<Vec<(activity::Key, activity::Stored)>, StoreError>;
    /// The newest revision (publish, rollback, folder publish) of every rule set, by
    /// `seq`, files included.
    fn revision_heads(&self) -> Result<Vec<Published>, StoreError>;
    /// The highest `seq` of revisions and candidates' starts and ends: a follower that
    /// saw this number has seen everything it acts on.
    fn revision_mark(&self) -> Result<i64, StoreError>;
    /// Waits up to `timeout` for word of a new revision or candidate from another
    /// instance (PostgreSQL: LISTEN); whether word came. A store without notifications
    /// sleeps and answers `false` (its followers poll).
    fn wait_for_revision(&self, timeout: std::time::Duration) -> Result<bool, StoreError> {
        std::thread::sleep(timeout);
        Ok(false)
    }
    /// Keeps what an instance serves now (one row per instance name).
    fn report_instance(&self, instance: &Instance) -> Result<(), StoreError>;
    /// Every instance that reported, most recently seen first.
    fn instances(&self) -> Result<Vec<Instance>, StoreError>;
    /// Starts a candidate; a candidate of the same rule set still running ends as
    /// `replaced`, in the same transaction (one candidate per rule set at a time).
    fn start_candidate(&self, candidate: &Candidate) -> Result<(), StoreError>;
    /// Ends a running candidate (`promoted`, `discarded`); whether it was running.
    fn end_candidate(&self, id: &str, outcome: &str, at: i64) -> Result<bool, StoreError>;
    fn candidate(&self, id: &str) -> Result<Option<Candidate>, StoreError>;
    /// Candidates running now (`ruleset: None`: of every rule set), or a rule set's
    /// candidates, ended ones too, newest first.
    fn candidates(
        &self,
        ruleset: Option<&str>,
        running_only: bool,
    ) -> Result<Vec<Candidate>, StoreError>;
    /// Keeps candidates' answers (a call answered again by the same candidate is kept once).
    fn write_shadow(&self, calls: &[ShadowCall]) -> Result<(), StoreError>;
    fn shadow_summary(&self, candidate: &str) -> Result<ShadowSummary, StoreError>;
    /// A candidate's calls of one kind, newest first, at most `limit`.
    fn shadow_calls(
        &self,
        candidate: &str,
        kind: ShadowKind,
        limit: usize,
    ) -> Result<Vec<ShadowCall>, StoreError>;
    fn limit_size(&self, bytes: u64) -> Result<(), StoreError> {
        Err(StoreError::BadQuery(format!(
            "{} has no size limit of its own; use max_size_mb (retention) instead of max_file_mb ({bytes} bytes)",
            self.describe()
        )))
    }
}

pub type Store = Arc<dyn Backend>;

pub use crate::config::{Compression, Location, Retention};
pub use crate::secrets::without_password;

/// Opens (and creates or migrates) the store.
pub fn open(location: &Location) -> Result<Store, StoreError> {
    match location {
        Location::Sqlite(path) => Ok(Arc::new(sqlite::Sqlite::open(path)?)),
        Location::Postgres(url) => Ok(Arc::new(postgres::Postgres::open(url)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::now_micros;
    use uuid::Uuid;

    pub fn sample_call(id: &str, received_at: i64) -> Call {
        Call {
            id: id.to_string(),
            received_at,
            instance: "test:8443".into(),
            ruleset: "default".into(),
            rules_version: Some("abc".into()),
            peer: "127.0.0.1:5000".into(),
            status: 200,
            signature: "hex".into(),
            duration_us: 1234,
            estimate_id: Some("EST-1".into()),
            alerts: 1,
            omitted: 0,
            rule_errors: 1,
            rule_timeouts: 0,
            error: None,
            request_headers: vec![("content-type".into(), "application/json".into())],
            redacted: vec!["header:veson-webhook-signature".into()],
            request_size: 3,
            request_body: br#"{"estimateID":"EST-1","vessel":"Ocean Star"}"#.repeat(40).into(),
            request_truncated: false,
            response_body: b"[]".to_vec(),
            rules: vec![RuleTrace {
                rule: "tce".into(),
                duration_us: 10,
                outcome: "error".into(),
                operations: 5,
                alerts: vec![serde_json::from_value(serde_json::json!({"message": "x"})).unwrap()],
                error: Some(TraceError {
                    message: "boom".into(),
                    line: Some(3),
                    column: Some(7),
                    source: None,
                }),
                output: "hello\n".into(),
                output_cut: false,
                reused: false,
                notes: vec![],
            }],
        }
    }

    #[test]
    fn a_damaged_lz4_body_is_an_error_not_a_panic_or_a_huge_allocation() {
        let body = br#"{"portName": "SANTOS"}"#.repeat(100);
        let good = Blob::encode(&body, &mut Packer::new(Compression::Lz4));
        assert_eq!(good.encoding, Encoding::Lz4);
        assert_eq!(good.decode().unwrap(), body);
        let mut huge = good.clone();
        huge.bytes[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = huge.decode().unwrap_err().to_string();
        assert!(err.contains("claims 4294967295 bytes"), "{err}");
        let mut short = good.clone();
        short.bytes[..4].copy_from_slice(&100u32.to_le_bytes());
        assert!(short.decode().is_err());
        let mut long = good.clone();
        long.bytes[..4].copy_from_slice(&(body.len() as u32 + 10).to_le_bytes());
        let err = long.decode().unwrap_err().to_string();
        assert!(err.contains("where it claims"), "{err}");
        let mut cut = good;
        cut.bytes.truncate(cut.bytes.len() / 2);
        assert!(cut.decode().is_err());
    }

    #[test]
    fn rows_give_back_the_exact_call_with_every_compression() {
        let mut call = sample_call(&Uuid::now_v7().to_string(), now_micros());
        call.request_body = [&call.request_body[..], &[0xff, 0x00, 0x80]]
            .concat()
            .into(); // not UTF-8
        for (compression, encoding, at_most) in [
            (Compression::Lz4, Encoding::Lz4, call.request_body.len() / 4),
            (
                Compression::Zstd,
                Encoding::Zstd,
                call.request_body.len() / 4,
            ),
            (
                Compression::None,
                Encoding::Identity,
                call.request_body.len(),
            ),
        ] {
            let row = Row::encode(&call, &mut Packer::new(compression));
            assert_eq!(row.request_body.encoding, encoding, "{compression:?}");
            assert!(row.request_body.bytes.len() <= at_most, "{compression:?}");
            assert_eq!(row.response_body.encoding, Encoding::Identity);
            assert!(row.problem);
            assert_eq!(row.decode().unwrap(), call, "{compression:?}");
        }
        assert_eq!(Compression::default(), Compression::Lz4);
        let err = Compression::parse("gzip").unwrap_err();
        assert!(err.contains("\"gzip\"") && err.contains("\"lz4\""), "{err}");
        // And through the API's JSON, bodies that are not text included.
        let json = serde_json::to_string(&call).unwrap();
        assert!(json.contains(r#""request_body":{"base64":"#), "{json}");
        assert_eq!(serde_json::from_str::<Call>(&json).unwrap(), call);
    }

    #[test]
    fn locations() {
        let base = std::path::Path::new("/srv");
        assert_eq!(
            Location::parse("sqlite:data/x.db", base).unwrap(),
            Location::Sqlite("/srv/data/x.db".into())
        );
        assert_eq!(
            Location::parse("/var/x.db", base).unwrap(),
            Location::Sqlite("/var/x.db".into())
        );
        assert!(matches!(
            Location::parse("postgres://u:p@h/db", base).unwrap(),
            Location::Postgres(_)
        ));
        assert!(Location::parse("mysql://h/db", base)
            .unwrap_err()
            .contains("neither a SQLite file nor a PostgreSQL URL"));
        assert_eq!(
            Location::parse("postgres://u:secret@h/db", base)
                .unwrap()
                .to_string(),
            "postgres://u@h/db"
        );
        assert_eq!(
            without_password("postgres://u@h/db?password=secret&sslmode=disable"),
            "postgres://u@h/db?sslmode=disable"
        );
        assert_eq!(
            without_password("postgres://u@h/db?password=s"),
            "postgres://u@h/db"
        );
    }
}
