//! The default store: one SQLite file in WAL mode.
//!
//! One connection writes (the recorder's thread, retention); reads take a connection
//! from a small pool, so the viewer never waits behind a write (WAL readers do not
//! block). `synchronous = NORMAL`: a committed batch survives the process being
//! killed; a power cut may lose the last batches (PostgreSQL is the choice when that
//! matters).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::fleet::{CANDIDATE_COLUMNS, SHADOW_COLUMNS, SUMMARY_SQL};
use super::sql::{self, event_from_columns, event_lists, events_page, events_sql, Param};
use super::{
    activity, search, Backend, Blob, Candidate, Draft, Encoding, Event, EventPage, EventQuery,
    Ingested, Instance, Page, Published, Query, Removed, Retention, Row, ShadowCall, ShadowKind,
    ShadowSummary, Stats, StoreError, Summary,
};
use crate::ids::{id_floor, valid_id};

/// Versioned schema changes, applied in order on open. Never edit a shipped entry; add one.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE calls (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        received_at INTEGER NOT NULL,
        instance TEXT NOT NULL,
        ruleset TEXT NOT NULL,
        rules_version TEXT,
        peer TEXT NOT NULL,
        status INTEGER NOT NULL,
        signature TEXT NOT NULL,
        duration_us INTEGER NOT NULL,
        estimate_id TEXT,
        alerts INTEGER NOT NULL,
        omitted INTEGER NOT NULL,
        rule_errors INTEGER NOT NULL,
        rule_timeouts INTEGER NOT NULL,
        problem INTEGER NOT NULL,
        error TEXT,
        request_headers TEXT NOT NULL,
        redacted TEXT NOT NULL,
        request_size INTEGER NOT NULL,
        request_truncated INTEGER NOT NULL,
        request_encoding TEXT NOT NULL,
        request_body BLOB NOT NULL,
        response_encoding TEXT NOT NULL,
        response_body BLOB NOT NULL,
        trace_encoding TEXT NOT NULL,
        trace BLOB NOT NULL,
        stored_bytes INTEGER NOT NULL
    );
    CREATE INDEX calls_by_ruleset ON calls (ruleset, id);
    CREATE INDEX calls_by_status ON calls (status, id);
    CREATE INDEX calls_with_problems ON calls (id) WHERE problem = 1;",
    ),
    (
        2,
        "CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        received_at INTEGER NOT NULL,
        sort_at INTEGER NOT NULL,
        source TEXT NOT NULL,
        kind TEXT NOT NULL,
        event TEXT NOT NULL,
        known INTEGER NOT NULL,
        at TEXT,
        occurred_at INTEGER,
        containers TEXT NOT NULL,
        vessels TEXT NOT NULL,
        ports TEXT NOT NULL,
        delivery TEXT,
        dedupe TEXT NOT NULL UNIQUE,
        payload TEXT NOT NULL,
        stored_bytes INTEGER NOT NULL
    );
    CREATE INDEX events_by_time ON events (sort_at, id);
    CREATE INDEX events_by_source ON events (source, sort_at, id);
    CREATE INDEX events_by_event ON events (event, sort_at, id);
    CREATE TABLE event_keys (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        sort_at INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        PRIMARY KEY (kind, key, sort_at, event_id)
    ) WITHOUT ROWID;
    CREATE INDEX event_keys_by_event ON event_keys (event_id);",
    ),
    (
        3,
        "ALTER TABLE calls ADD COLUMN request_base TEXT;
    CREATE TABLE bodies (
        id TEXT PRIMARY KEY,
        encoding TEXT NOT NULL,
        body BLOB NOT NULL
    ) WITHOUT ROWID;",
    ),
    // The log viewer's logged-out sessions (admin::auth), shared by restarts.
    (
        4,
        "CREATE TABLE revoked_sessions (
        nonce TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX revoked_sessions_by_expiry ON revoked_sessions (expires_at);",
    ),
    // The workbench's drafts and publishes (store::workbench).
    (
        5,
        "CREATE TABLE drafts (
        id TEXT PRIMARY KEY,
        ruleset TEXT NOT NULL,
        owner TEXT NOT NULL,
        base_version TEXT NOT NULL,
        files TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX drafts_by_ruleset ON drafts (ruleset, updated_at);
    CREATE TABLE published (
        id TEXT PRIMARY KEY,
        ruleset TEXT NOT NULL,
        version TEXT NOT NULL,
        previous_version TEXT NOT NULL,
        author TEXT NOT NULL,
        at INTEGER NOT NULL,
        message TEXT NOT NULL,
        action TEXT NOT NULL,
        files TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX published_by_ruleset ON published (ruleset, at);",
    ),
    // Each rule's activity by the hour (store::activity).
    (
        6,
        "CREATE TABLE rule_activity (
        ruleset TEXT NOT NULL,
        hour INTEGER NOT NULL,
        rule TEXT NOT NULL,
        calls INTEGER NOT NULL,
        alerts INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        timeouts INTEGER NOT NULL,
        durations BLOB NOT NULL,
        PRIMARY KEY (ruleset, hour, rule)
    ) WITHOUT ROWID;
    CREATE INDEX rule_activity_by_hour ON rule_activity (hour);",
    ),
    // Revisions numbered in the order stored; instances, candidates and their shadow
    // answers (store::fleet).
    (
        7,
        "ALTER TABLE published ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
    UPDATE published SET seq = (SELECT count(*) FROM published p
        WHERE p.at < published.at OR (p.at = published.at AND p.id <= published.id));
    CREATE INDEX published_by_seq ON published (ruleset, seq);
    CREATE TABLE instances (
        name TEXT PRIMARY KEY,
        started_at INTEGER NOT NULL,
        seen_at INTEGER NOT NULL,
        serving TEXT NOT NULL,
        problems TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE candidates (
        id TEXT PRIMARY KEY,
        ruleset TEXT NOT NULL,
        version TEXT NOT NULL,
        author TEXT NOT NULL,
        message TEXT NOT NULL,
        files TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        ended_at INTEGER,
        outcome TEXT,
        seq INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX candidates_running ON candidates (ruleset) WHERE ended_at IS NULL;
    CREATE TABLE shadow_calls (
        call_id TEXT NOT NULL,
        candidate TEXT NOT NULL,
        ruleset TEXT NOT NULL,
        at INTEGER NOT NULL,
        live_version TEXT NOT NULL,
        candidate_version TEXT NOT NULL,
        live_us INTEGER NOT NULL,
        candidate_us INTEGER NOT NULL,
        changed_answer INTEGER NOT NULL,
        added INTEGER NOT NULL,
        removed INTEGER NOT NULL,
        altered INTEGER NOT NULL,
        guid_changes INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        timeouts INTEGER NOT NULL,
        answer TEXT NOT NULL,
        PRIMARY KEY (candidate, call_id)
    ) WITHOUT ROWID;
    CREATE INDEX shadow_calls_by_call ON shadow_calls (call_id);",
    ),
];

const READERS: usize = 4;

pub struct Sqlite {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

fn unavailable(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::Unavailable(format!("SQLite {}: {e}", path.display()))
}

impl Sqlite {
    /// Opens the file, creating it (and its folder) with the current schema, or
    /// migrating an older one.
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot create the folder {} for the log: {e}",
                    dir.display()
                ))
            })?;
        }
        let err = unavailable(path);
        let mut conn = Connection::open(path).map_err(&err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(&err)?;
        // Must precede the first table for a new file; a no-op on an existing one.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .map_err(&err)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(&err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "SQLite {}: cannot switch to WAL mode (got {mode}); put the log on a local disk",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(&err)?;
        migrate(&mut conn).map_err(|e| match e {
            StoreError::Unavailable(m) => {
                StoreError::Unavailable(format!("SQLite {}: {m}", path.display()))
            }
            other => other,
        })?;
        Ok(Sqlite {
            path: path.to_path_buf(),
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
        })
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, StoreError> {
        let err = unavailable(&self.path);
        let pooled = self.readers.lock().expect("reader pool").pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(&err)?;
                conn.busy_timeout(Duration::from_secs(5)).map_err(&err)?;
                conn
            }
        };
        let result = f(&conn).map_err(&err);
        let mut pool = self.readers.lock().expect("reader pool");
        if pool.len() < READERS {
            pool.push(conn);
        }
        result
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let fail = |e: rusqlite::Error| StoreError::Unavailable(format!("migrating the schema: {e}"));
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(fail)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .map_err(fail)?;
    let current: i64 = tx
        .query_row(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(fail)?;
    let latest = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if current > latest {
        return Err(StoreError::Unavailable(format!(
            "the log's schema is version {current}, newer than this lookout knows ({latest}); run the newer lookout or point store.url elsewhere"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.execute_batch(sql).map_err(fail)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![version, crate::clock::now_micros()],
        )
        .map_err(fail)?;
    }
    tx.commit().map_err(fail)
}

fn summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<Summary> {
    Ok(Summary {
        id: r.get(0)?,
        received_at: r.get(1)?,
        instance: r.get(2)?,
        ruleset: r.get(3)?,
        status: r.get::<_, i64>(4)? as u16,
        duration_us: r.get(5)?,
        estimate_id: r.get(6)?,
        alerts: r.get::<_, i64>(7)? as u32,
        rule_errors: r.get::<_, i64>(8)? as u32,
        rule_timeouts: r.get::<_, i64>(9)? as u32,
        error: r.get(10)?,
        request_size: r.get::<_, i64>(11)? as u64,
    })
}

/// The calls' list, run on one read connection.
struct Reads<'a> {
    conn: &'a Connection,
    path: &'a Path,
}

impl sql::CallRows for Reads<'_> {
    type Error = rusqlite::Error;
    const MARK: fn(usize) -> String = |n| format!("?{n}");
    const PROBLEM: &'static str = "problem = 1";

    fn floor(&mut self, sql: &str, params: &[Param]) -> rusqlite::Result<Option<(String, i64)>> {
        self.conn
            .query_row(sql, rusqlite::params_from_iter(values(params)), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
    }

    fn summaries(&mut self, sql: &str, params: &[Param]) -> rusqlite::Result<Vec<Summary>> {
        let mut statement = self.conn.prepare_cached(sql)?;
        let rows = statement
            .query_map(rusqlite::params_from_iter(values(params)), summary)?
            .collect();
        rows
    }

    fn scanned(&mut self, sql: &str, params: &[Param]) -> Result<search::Chunk, StoreError> {
        type Fetched = (Summary, String, Vec<u8>, Option<String>);
        let fetch = || -> rusqlite::Result<Vec<Fetched>> {
            let mut statement = self.conn.prepare_cached(sql)?;
            let rows = statement
                .query_map(rusqlite::params_from_iter(values(params)), |r| {
                    Ok((summary(r)?, r.get(12)?, r.get(13)?, r.get(14)?))
                })?
                .collect();
            rows
        };
        let rows = fetch().map_err(unavailable(self.path))?;
        let mut ids: Vec<&str> = rows.iter().filter_map(|r| r.3.as_deref()).collect();
        ids.sort_unstable();
        ids.dedup();
        let bases = bodies(self.conn, &ids)?;
        let rows = rows
            .into_iter()
            .map(|(summary, encoding, bytes, base)| {
                Ok(search::Scanned {
                    summary,
                    body: blob(Encoding::parse(&encoding)?, bytes),
                    base,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((rows, bases))
    }
}

/// Shared parameters as SQLite values.
fn values(params: &[Param]) -> Vec<Value> {
    params
        .iter()
        .map(|p| match p {
            Param::Text(t) => Value::Text(t.clone()),
            Param::Int(i) => Value::Integer(*i),
            Param::Int32(i) => Value::Integer(i64::from(*i)),
        })
        .collect()
}

impl Backend for Sqlite {
    fn describe(&self) -> String {
        format!("sqlite {}", self.path.display())
    }

    fn write(&self, rows: &[Row]) -> Result<(), StoreError> {
        let err = unavailable(&self.path);
        let mut conn = self.writer.lock().expect("writer");
        let tx = conn.transaction().map_err(&err)?;
        let mut inserted: Vec<&Row> = Vec::with_capacity(rows.len());
        {
            let mut base = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO bodies (id, encoding, body) VALUES (?1, ?2, ?3)",
                )
                .map_err(&err)?;
            for row in rows {
                if let (Some(id), Some(body)) = (&row.request_base, &row.base_body) {
                    base.execute(params![id, body.encoding.as_str(), body.bytes])
                        .map_err(&err)?;
                }
            }
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO calls (id, received_at, instance, ruleset, rules_version, peer, status, signature, duration_us, estimate_id, alerts, omitted, rule_errors, rule_timeouts, problem, error, request_headers, redacted, request_size, request_truncated, request_encoding, request_body, response_encoding, response_body, trace_encoding, trace, stored_bytes, request_base)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)",
                )
                .map_err(&err)?;
            for row in rows {
                let added = insert
                    .execute(params![
                        row.id,
                        row.received_at,
                        row.instance,
                        row.ruleset,
                        row.rules_version,
                        row.peer,
                        row.status,
                        row.signature,
                        row.duration_us,
                        row.estimate_id,
                        row.alerts,
                        row.omitted,
                        row.rule_errors,
                        row.rule_timeouts,
                        row.problem,
                        row.error,
                        row.request_headers,
                        row.redacted,
                        row.request_size,
                        row.request_truncated,
                        row.request_body.encoding.as_str(),
                        row.request_body.bytes,
                        row.response_body.encoding.as_str(),
                        row.response_body.bytes,
                        row.trace.encoding.as_str(),
                        row.trace.bytes,
                        row.stored_bytes,
                        row.request_base,
                    ])
                    .map_err(&err)?;
                if added == 1 {
                    inserted.push(row);
                }
            }
            add_activity(&tx, &inserted).map_err(&err)?;
        }
        tx.commit().map_err(&err)
    }

    fn list(&self, query: &Query) -> Result<Page, StoreError> {
        self.read(|conn| {
            sql::list_calls(
                &mut Reads {
                    conn,
                    path: &self.path,
                },
                query,
            )
        })?
    }

    fn get(&self, id: &str) -> Result<Option<Row>, StoreError> {
        if !valid_id(id) {
            return Ok(None);
        }
        let row = self.read(|conn| {
            conn.query_row(
                "SELECT id, received_at, instance, ruleset, rules_version, peer, status, signature, duration_us, estimate_id, alerts, omitted, rule_errors, rule_timeouts, problem, error, request_headers, redacted, request_size, request_truncated, request_encoding, request_body, response_encoding, response_body, trace_encoding, trace, stored_bytes, request_base FROM calls WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        Row {
                            id: r.get(0)?,
                            received_at: r.get(1)?,
                            instance: r.get(2)?,
                            ruleset: r.get(3)?,
                            rules_version: r.get(4)?,
                            peer: r.get(5)?,
                            status: r.get(6)?,
                            signature: r.get(7)?,
                            duration_us: r.get(8)?,
                            estimate_id: r.get(9)?,
                            alerts: r.get(10)?,
                            omitted: r.get(11)?,
                            rule_errors: r.get(12)?,
                            rule_timeouts: r.get(13)?,
                            problem: r.get(14)?,
                            error: r.get(15)?,
                            request_headers: r.get(16)?,
                            redacted: r.get(17)?,
                            request_size: r.get(18)?,
                            request_truncated: r.get(19)?,
                            request_body: blob(Encoding::Identity, r.get(21)?),
                            request_base: r.get(27)?,
                            base_body: None,
                            response_body: blob(Encoding::Identity, r.get(23)?),
                            trace: blob(Encoding::Identity, r.get(25)?),
                            stored_bytes: r.get(26)?,
                            runs: Vec::new(),
                        },
                        [
                            r.get::<_, String>(20)?,
                            r.get::<_, String>(22)?,
                            r.get::<_, String>(24)?,
                        ],
                    ))
                },
            )
            .optional()
        })?;
        let Some((mut row, [request, response, trace])) = row else {
            return Ok(None);
        };
        row.request_body.encoding = Encoding::parse(&request)?;
        row.response_body.encoding = Encoding::parse(&response)?;
        row.trace.encoding = Encoding::parse(&trace)?;
        if let Some(base) = &row.request_base {
            let found = self.read(|conn| Ok(bodies(conn, &[base.as_str()])))??;
            row.base_body = found.into_iter().next().map(|(_, blob)| blob);
        }
        Ok(Some(row))
    }

    fn retain(&self, retention: &Retention, now: i64) -> Result<Removed, StoreError> {
        let err = unavailable(&self.path);
        let mut removed = Removed::default();
        if let Some(age) = retention.max_age {
            let cutoff = id_floor(now - age.as_micros() as i64);
            // In chunks, so the writer lock is never held for long.
            loop {
                let conn = self.writer.lock().expect("writer");
                let n = conn
                    .execute(
                        "DELETE FROM calls WHERE seq IN (SELECT seq FROM calls WHERE id < ?1 ORDER BY id LIMIT 2000)",
                        [&cutoff],
                    )
                    .map_err(&err)?;
                removed.by_age += n as u64;
                if n < 2000 {
                    break;
                }
            }
        }
        if let Some(max) = retention.max_bytes {
            loop {
                let conn = self.writer.lock().expect("writer");
                let Some(cutoff) = size_cutoff(&conn, "calls", max).map_err(&err)? else {
                    break;
                };
                let n = conn
                    .execute("DELETE FROM calls WHERE id <= ?1", [cutoff])
                    .map_err(&err)?;
                removed.by_size += n as u64;
                if n == 0 {
                    break;
                }
            }
        }
        {
            // Bases no kept call can name.
            let conn = self.writer.lock().expect("writer");
            let oldest: Option<i64> = conn
                .query_row(
                    "SELECT received_at FROM calls ORDER BY id LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .map_err(&err)?;
            let floor = super::delta::unused_before(oldest, now);
            conn.execute("DELETE FROM bodies WHERE id < ?1", [&floor])
                .map_err(&err)?;
            conn.execute(
                "DELETE FROM rule_activity WHERE hour < ?1",
                [activity::kept_from(now)],
            )
            .map_err(&err)?;
            // Candidates' answers go with the calls they answered again.
            conn.execute(
                "DELETE FROM shadow_calls WHERE call_id < coalesce((SELECT min(id) FROM calls), '~')",
                [],
            )
            .map_err(&err)?;
        }
        if removed.by_age + removed.by_size > 0 {
            let conn = self.writer.lock().expect("writer");
            conn.execute_batch("PRAGMA incremental_vacuum")
                .map_err(&err)?;
        }
        Ok(removed)
    }

    fn limit_size(&self, bytes: u64) -> Result<(), StoreError> {
        let conn = self.writer.lock().expect("writer");
        let page: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(unavailable(&self.path))?;
        let pages = (bytes as i64 / page).max(1);
        // SQLite never shrinks the limit below the pages in use; writes that need
        // more fail with SQLITE_FULL ("database or disk is full").
        conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
            .map_err(unavailable(&self.path))
    }

    fn stats(&self) -> Result<Stats, StoreError> {
        self.read(|conn| table_stats(conn, "calls"))
    }

    fn write_events(&self, events: &[Event]) -> Result<Ingested, StoreError> {
        let err = unavailable(&self.path);
        let mut conn = self.writer.lock().expect("writer");
        // The answer says "stored": this commit waits for the disk (the log's own
        // batches keep NORMAL, which survives a crash of the process but not of power).
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(&err)?;
        let result = (|| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(&err)?;
            let mut ingested = Ingested::default();
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO events (id, received_at, sort_at, source, kind, event, known, at, occurred_at, containers, vessels, ports, delivery, dedupe, payload, stored_bytes)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                         ON CONFLICT (dedupe) DO NOTHING",
                    )
                    .map_err(&err)?;
                let mut key = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO event_keys (kind, key, sort_at, event_id) VALUES (?1, ?2, ?3, ?4)",
                    )
                    .map_err(&err)?;
                for event in events {
                    let [containers, vessels, ports] = event_lists(event);
                    let n = insert
                        .execute(params![
                            event.id,
                            event.received_at,
                            event.sort_at(),
                            event.source,
                            event.kind,
                            event.event,
                            event.known,
                            event.at,
                            event.occurred_at,
                            containers,
                            vessels,
                            ports,
                            event.delivery,
                            event.dedupe,
                            event.payload,
                            event.stored_bytes(),
                        ])
                        .map_err(&err)?;
                    if n == 0 {
                        ingested.duplicates += 1;
                        continue;
                    }
                    ingested.stored += 1;
                    for k in event.keys() {
                        let (kind, value) = k.parts();
                        key.execute(params![kind, value, event.sort_at(), event.id])
                            .map_err(&err)?;
                    }
                }
            }
            tx.commit().map_err(&err)?;
            Ok(ingested)
        })();
        let restored = conn.pragma_update(None, "synchronous", "NORMAL");
        let ingested = result?;
        restored.map_err(&err)?;
        Ok(ingested)
    }

    fn list_events(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        let (sql, params) = events_sql(query, <Reads as sql::CallRows>::MARK)?;
        let values = values(&params);
        let rows = self.read(|conn| {
            let mut statement = conn.prepare_cached(&sql)?;
            let rows = statement.query_map(rusqlite::params_from_iter(values), event_row)?;
            rows.collect::<Result<Vec<_>, _>>()
        })?;
        let events = rows.into_iter().collect::<Result<Vec<_>, _>>()?;
        Ok(events_page(events, query))
    }

    fn get_event(&self, id: &str) -> Result<Option<Event>, StoreError> {
        let row = self.read(|conn| {
            conn.query_row(
                &format!(
                    "SELECT {} FROM events e WHERE e.id = ?1",
                    sql::EVENT_COLUMNS
                ),
                [id],
                event_row,
            )
            .optional()
        })?;
        row.transpose()
    }

    fn retain_events(&self, retention: &Retention, now: i64) -> Result<Removed, StoreError> {
        let err = unavailable(&self.path);
        let mut removed = Removed::default();
        let delete = |cutoff: &str| -> Result<u64, StoreError> {
            let mut conn = self.writer.lock().expect("writer");
            let tx = conn.transaction().map_err(&err)?;
            tx.execute(
                "DELETE FROM event_keys WHERE event_id IN (SELECT id FROM events WHERE id <= ?1 ORDER BY id LIMIT 2000)",
                [cutoff],
            )
            .map_err(&err)?;
            let n = tx
                .execute(
                    "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE id <= ?1 ORDER BY id LIMIT 2000)",
                    [cutoff],
                )
                .map_err(&err)?;
            tx.commit().map_err(&err)?;
            Ok(n as u64)
        };
        if let Some(age) = retention.max_age {
            // Ids below the floor of the cutoff time: `<=` on a floor id is `<` on time.
            let cutoff = id_floor(now - age.as_micros() as i64);
            loop {
                let n = delete(&cutoff)?;
                removed.by_age += n;
                if n < 2000 {
                    break;
                }
            }
        }
        if let Some(max) = retention.max_bytes {
            loop {
                let cutoff = {
                    let conn = self.writer.lock().expect("writer");
                    size_cutoff(&conn, "events", max).map_err(&err)?
                };
                let Some(cutoff) = cutoff else { break };
                let n = delete(&cutoff)?;
                removed.by_size += n;
                if n == 0 {
                    break;
                }
            }
        }
        Ok(removed)
    }

    fn event_stats(&self) -> Result<Stats, StoreError> {
        self.read(|conn| table_stats(conn, "events"))
    }

    fn revoke_session(&self, nonce: &str, expires_at: i64) -> Result<(), StoreError> {
        let err = unavailable(&self.path);
        let mut conn = self.writer.lock().expect("writer");
        let tx = conn.transaction().map_err(&err)?;
        tx.execute(
            "DELETE FROM revoked_sessions WHERE expires_at <= ?1",
            [crate::clock::now_micros()],
        )
        .map_err(&err)?;
        tx.execute(
            "INSERT INTO revoked_sessions (nonce, expires_at) VALUES (?1, ?2)
             ON CONFLICT (nonce) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)",
            params![nonce, expires_at],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)
    }

    fn revoked_sessions(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        self.read(|conn| {
            let mut statement = conn.prepare_cached(
                "SELECT nonce, expires_at FROM revoked_sessions WHERE expires_at > ?1",
            )?;
            let rows = statement.query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    fn save_draft(&self, d: &Draft) -> Result<(), StoreError> {
        let err = unavailable(&self.path);
        let conn = self.writer.lock().expect("writer");
        conn.execute(
            "INSERT INTO drafts (id, ruleset, owner, base_version, files, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET base_version = excluded.base_version,
                 files = excluded.files, updated_at = excluded.updated_at",
            params![
                d.id,
                d.ruleset,
                d.owner,
                d.base_version,
                d.files.to_string(),
                d.created_at,
                d.updated_at
            ],
        )
        .map_err(&err)?;
        Ok(())
    }

    fn draft(&self, id: &str) -> Result<Option<Draft>, StoreError> {
        let found = self.read(|conn| {
            conn.prepare_cached(&format!("SELECT {DRAFT_COLUMNS} FROM drafts WHERE id = ?1"))?
                .query_map([id], draft_columns)?
                .collect::<Result<Vec<_>, _>>()
        })?;
        found.into_iter().next().map(decode_draft).transpose()
    }

    fn drafts(&self, ruleset: Option<&str>) -> Result<Vec<Draft>, StoreError> {
        let rows = self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {DRAFT_COLUMNS} FROM drafts WHERE ?1 IS NULL OR ruleset = ?1 ORDER BY updated_at DESC, id DESC"
            ))?
            .query_map([ruleset], draft_columns)?
            .collect::<Result<Vec<_>, _>>()
        })?;
        rows.into_iter().map(decode_draft).collect()
    }

    fn delete_draft(&self, id: &str) -> Result<bool, StoreError> {
        let err = unavailable(&self.path);
        let conn = self.writer.lock().expect("writer");
        let n = conn
            .execute("DELETE FROM drafts WHERE id = ?1", [id])
            .map_err(&err)?;
        Ok(n > 0)
    }

    fn record_published(&self, p: &Published) -> Result<(), StoreError> {
        let err = unavailable(&self.path);
        let conn = self.writer.lock().expect("writer");
        conn.execute(
            &format!("INSERT INTO published (id, ruleset, version, previous_version, author, at, message, action, files, seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, {NEXT_SEQ})"),
            params![p.id, p.ruleset, p.version, p.previous_version, p.author, p.at, p.message, p.action, p.files.to_string()],
        )
        .map_err(&err)?;
        Ok(())
    }

    fn revision_heads(&self) -> Result<Vec<Published>, StoreError> {
        let rows = self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {PUBLISHED_COLUMNS} FROM published p
                 WHERE seq = (SELECT max(seq) FROM published q WHERE q.ruleset = p.ruleset)
                 ORDER BY ruleset"
            ))?
            .query_map([], published_columns)?
            .collect::<Result<Vec<_>, _>>()
        })?;
        rows.into_iter().map(decode_published).collect()
    }

    fn revision_mark(&self) -> Result<i64, StoreError> {
        self.read(|conn| {
            conn.query_row(
                "SELECT max(coalesce((SELECT max(seq) FROM published), 0), coalesce((SELECT max(seq) FROM candidates), 0))",
                [],
                |r| r.get(0),
            )
        })
    }

    fn report_instance(&self, i: &Instance) -> Result<(), StoreError> {
        let err = unavailable(&self.path);
        let conn = self.writer.lock().expect("writer");
        conn.execute(
            "INSERT INTO instances (name, started_at, seen_at, serving, problems) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (name) DO UPDATE SET started_at = excluded.started_at, seen_at = excluded.seen_at,
                 serving = excluded.serving, problems = excluded.problems",
            params![
                i.name,
                i.started_at,
                i.seen_at,
                i.serving.to_string(),
                serde_json::to_string(&i.problems).expect("strings are JSON")
            ],
        )
        .map_err(&err)?;
        Ok(())
    }

    fn instances(&self) -> Result<Vec<Instance>, StoreError> {
        let rows = self.read(|conn| {
            conn.prepare_cached(
                "SELECT name, started_at, seen_at, serving, problems FROM instances ORDER BY seen_at DESC, name",
            )?
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?, r.get::<_, String>(4)?))
            })?
            .collect::<Result<Vec<_>, _>>()
        })?;
        rows.into_iter()
            .map(|(name, started_at, seen_at, serving, problems)| {
                sql::instance(name, started_at, seen_at, &serving, &problems)
            })
            .collect()
    }

    fn start_candidate(&self, c: &Candidate) -> Result<(), StoreError> {
        let err = unavailable(&self.path);
        let mut conn = self.writer.lock().expect("writer");
        let tx = conn.transaction().map_err(&err)?;
        tx.execute(
            &format!(
                "UPDATE candidates SET ended_at = ?1, outcome = 'replaced', seq = {NEXT_SEQ}
             WHERE ruleset = ?2 AND ended_at IS NULL AND id <> ?3"
            ),
            params![c.started_at, c.ruleset, c.id],
        )
        .map_err(&err)?;
        tx.execute(
            &format!("INSERT INTO candidates (id, ruleset, version, author, message, files, started_at, ended_at, outcome, seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, NULL, {NEXT_SEQ})"),
            params![c.id, c.ruleset, c.version, c.author, c.message, c.files.to_string(), c.started_at],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)
    }

    fn end_candidate(&self, id: &str, outcome: &str, at: i64) -> Result<bool, StoreError> {
        let err = unavailable(&self.path);
        let conn = self.writer.lock().expect("writer");
        let n = conn
            .execute(
                &format!(
                    "UPDATE candidates SET ended_at = ?1, outcome = ?2, seq = {NEXT_SEQ}
                 WHERE id = ?3 AND ended_at IS NULL"
                ),
                params![at, outcome, id],
            )
            .map_err(&err)?;
        Ok(n > 0)
    }

    fn candidate(&self, id: &str) -> Result<Option<Candidate>, StoreError> {
        let rows = self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {CANDIDATE_COLUMNS} FROM candidates WHERE id = ?1"
            ))?
            .query_map([id], candidate_columns)?
            .collect::<Result<Vec<_>, _>>()
        })?;
        rows.into_iter().next().map(decode_candidate).transpose()
    }

    fn candidates(
        &self,
        ruleset: Option<&str>,
        running_only: bool,
    ) -> Result<Vec<Candidate>, StoreError> {
        let rows = self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {CANDIDATE_COLUMNS} FROM candidates
                 WHERE (?1 IS NULL OR ruleset = ?1) AND (?2 = 0 OR ended_at IS NULL)
                 ORDER BY started_at DESC, id DESC"
            ))?
            .query_map(params![ruleset, running_only as i64], candidate_columns)?
            .collect::<Result<Vec<_>, _>>()
        })?;
        rows.into_iter().map(decode_candidate).collect()
    }

    fn write_shadow(&self, calls: &[ShadowCall]) -> Result<(), StoreError> {
        let err = unavailable(&self.path);
        let mut conn = self.writer.lock().expect("writer");
        let tx = conn.transaction().map_err(&err)?;
        {
            let mut insert = tx
                .prepare_cached(&format!(
                    "INSERT INTO shadow_calls ({SHADOW_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                     ON CONFLICT (candidate, call_id) DO NOTHING"
                ))
                .map_err(&err)?;
            for c in calls {
                insert
                    .execute(params![
                        c.call_id,
                        c.candidate,
                        c.ruleset,
                        c.at,
                        c.live_version,
                        c.candidate_version,
                        c.live_us,
                        c.candidate_us,
                        c.changed as i64,
                        c.added,
                        c.removed,
                        c.altered,
                        c.guid_changes,
                        c.errors,
                        c.timeouts,
                        c.answer
                    ])
                    .map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)
    }

    fn shadow_summary(&self, candidate: &str) -> Result<ShadowSummary, StoreError> {
        self.read(|conn| {
            conn.query_row(&format!("{SUMMARY_SQL}?1"), [candidate], |r| {
                Ok(ShadowSummary {
                    calls: r.get::<_, i64>(0)? as u64,
                    changed: r.get::<_, i64>(1)? as u64,
                    added: r.get::<_, i64>(2)? as u64,
                    removed: r.get::<_, i64>(3)? as u64,
                    altered: r.get::<_, i64>(4)? as u64,
                    guid_changes: r.get::<_, i64>(5)? as u64,
                    errors: r.get::<_, i64>(6)? as u64,
                    timeouts: r.get::<_, i64>(7)? as u64,
                    live_us_mean: r.get(8)?,
                    candidate_us_mean: r.get(9)?,
                    candidate_us_max: r.get(10)?,
                })
            })
        })
    }

    fn shadow_calls(
        &self,
        candidate: &str,
        kind: ShadowKind,
        limit: usize,
    ) -> Result<Vec<ShadowCall>, StoreError> {
        self.read(|conn| {
            conn.prepare(&format!(
                "SELECT {SHADOW_COLUMNS} FROM shadow_calls WHERE candidate = ?1 AND {} ORDER BY call_id DESC LIMIT ?2",
                kind.condition()
            ))?
            .query_map(params![candidate, limit as i64], |r| {
                Ok(ShadowCall {
                    call_id: r.get(0)?,
                    candidate: r.get(1)?,
                    ruleset: r.get(2)?,
                    at: r.get(3)?,
                    live_version: r.get(4)?,
                    candidate_version: r.get(5)?,
                    live_us: r.get(6)?,
                    candidate_us: r.get(7)?,
                    changed: r.get::<_, i64>(8)? != 0,
                    added: r.get(9)?,
                    removed: r.get(10)?,
                    altered: r.get(11)?,
                    guid_changes: r.get(12)?,
                    errors: r.get(13)?,
                    timeouts: r.get(14)?,
                    answer: r.get(15)?,
                })
            })?
            .collect()
        })
    }

    fn published(&self, ruleset: &str) -> Result<Vec<Published>, StoreError> {
        let rows = self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {PUBLISHED_COLUMNS} FROM published WHERE ruleset = ?1 ORDER BY at DESC, id DESC"
            ))?
            .query_map([ruleset], published_columns)?
            .collect::<Result<Vec<_>, _>>()
        })?;
        rows.into_iter().map(decode_published).collect()
    }

    fn published_one(&self, id: &str) -> Result<Option<Published>, StoreError> {
        let found = self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {PUBLISHED_COLUMNS} FROM published WHERE id = ?1"
            ))?
            .query_map([id], published_columns)?
            .collect::<Result<Vec<_>, _>>()
        })?;
        found.into_iter().next().map(decode_published).transpose()
    }

    fn activity(
        &self,
        ruleset: &str,
        since: i64,
    ) -> Result<Vec<(activity::Key, activity::Stored)>, StoreError> {
        let since = activity::hour_of(since);
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT hour, rule, calls, alerts, errors, timeouts, durations FROM rule_activity WHERE ruleset = ?1 AND hour >= ?2",
            )?
            .query_map(params![ruleset, since], |r| {
                Ok((
                    activity::Key {
                        ruleset: ruleset.to_string(),
                        hour: r.get(0)?,
                        rule: r.get(1)?,
                    },
                    activity::Stored {
                        calls: r.get(2)?,
                        alerts: r.get(3)?,
                        errors: r.get(4)?,
                        timeouts: r.get(5)?,
                        durations: r.get(6)?,
                    },
                ))
            })?
            .collect::<Result<Vec<_>, _>>()
        })
    }
}

const DRAFT_COLUMNS: &str = "id, ruleset, owner, base_version, files, created_at, updated_at";
const PUBLISHED_COLUMNS: &str =
    "id, ruleset, version, previous_version, author, at, message, action, files, seq";

/// The next number in the one order of revisions and candidates' starts and ends (the
/// writer connection is one, so no two writes take the same).
const NEXT_SEQ: &str = "(SELECT 1 + max(coalesce((SELECT max(seq) FROM published), 0), coalesce((SELECT max(seq) FROM candidates), 0)))";

type CandidateColumns = (
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
);

fn candidate_columns(r: &rusqlite::Row<'_>) -> rusqlite::Result<CandidateColumns> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn decode_candidate(c: CandidateColumns) -> Result<Candidate, StoreError> {
    Ok(Candidate {
        files: sql::files_from_text(&c.5)?,
        id: c.0,
        ruleset: c.1,
        version: c.2,
        author: c.3,
        message: c.4,
        started_at: c.6,
        ended_at: c.7,
        outcome: c.8,
    })
}

/// A draft's columns, its files still text.
type DraftColumns = (String, String, String, String, String, i64, i64);
type PublishedColumns = (
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    String,
    i64,
);

fn draft_columns(r: &rusqlite::Row<'_>) -> rusqlite::Result<DraftColumns> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn published_columns(r: &rusqlite::Row<'_>) -> rusqlite::Result<PublishedColumns> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

fn decode_draft(c: DraftColumns) -> Result<Draft, StoreError> {
    Ok(Draft {
        files: sql::files_from_text(&c.4)?,
        id: c.0,
        ruleset: c.1,
        owner: c.2,
        base_version: c.3,
        created_at: c.5,
        updated_at: c.6,
    })
}

fn decode_published(c: PublishedColumns) -> Result<Published, StoreError> {
    Ok(Published {
        files: sql::files_from_text(&c.8)?,
        id: c.0,
        ruleset: c.1,
        version: c.2,
        previous_version: c.3,
        author: c.4,
        at: c.5,
        message: c.6,
        action: c.7,
        seq: c.9,
    })
}

/// The stored bodies (request bodies' bases) with these ids; missing ones are left out.
/// Adds the runs of `rows` to their hours' activity (in the write's transaction).
fn add_activity(tx: &Connection, rows: &[&Row]) -> rusqlite::Result<()> {
    let tallies = activity::tally(
        rows.iter()
            .map(|r| (r.ruleset.as_str(), r.received_at, r.runs.as_slice())),
    );
    let mut read = tx.prepare_cached(
        "SELECT calls, alerts, errors, timeouts, durations FROM rule_activity WHERE ruleset = ?1 AND hour = ?2 AND rule = ?3",
    )?;
    let mut upsert = tx.prepare_cached(
        "INSERT OR REPLACE INTO rule_activity (ruleset, hour, rule, calls, alerts, errors, timeouts, durations) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for (key, tally) in &tallies {
        let existing = read
            .query_row(params![key.ruleset, key.hour, key.rule], stored_activity)
            .optional()?;
        let sum = activity::Stored::merged(existing, tally);
        upsert.execute(params![
            key.ruleset,
            key.hour,
            key.rule,
            sum.calls,
            sum.alerts,
            sum.errors,
            sum.timeouts,
            sum.durations
        ])?;
    }
    Ok(())
}

fn stored_activity(r: &rusqlite::Row<'_>) -> rusqlite::Result<activity::Stored> {
    Ok(activity::Stored {
        calls: r.get(0)?,
        alerts: r.get(1)?,
        errors: r.get(2)?,
        timeouts: r.get(3)?,
        durations: r.get(4)?,
    })
}

fn bodies(conn: &Connection, ids: &[&str]) -> Result<Vec<(String, Blob)>, StoreError> {
    let mut found = Vec::with_capacity(ids.len());
    let mut statement = conn
        .prepare_cached("SELECT encoding, body FROM bodies WHERE id = ?1")
        .map_err(|e| StoreError::Unavailable(format!("SQLite: {e}")))?;
    for id in ids {
        let row: Option<(String, Vec<u8>)> = statement
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(|e| StoreError::Unavailable(format!("SQLite: {e}")))?;
        if let Some((encoding, bytes)) = row {
            found.push((id.to_string(), blob(Encoding::parse(&encoding)?, bytes)));
        }
    }
    Ok(found)
}

/// Rows, bytes, oldest and newest received of `table` (`calls` or `events`).
fn table_stats(conn: &Connection, table: &str) -> rusqlite::Result<Stats> {
    conn.query_row(
        &format!("SELECT count(*), coalesce(sum(stored_bytes), 0), min(received_at), max(received_at) FROM {table}"),
        [],
        |r| {
            Ok(Stats {
                calls: r.get::<_, i64>(0)? as u64,
                stored_bytes: r.get::<_, i64>(1)? as u64,
                oldest: r.get(2)?,
                newest: r.get(3)?,
            })
        },
    )
}

/// For retention by size: the id up to which the oldest rows of `table` cover its excess
/// over `max` bytes (at most 2,000 rows at a time), or `None` within the limit.
fn size_cutoff(conn: &Connection, table: &str, max: u64) -> rusqlite::Result<Option<String>> {
    let total: i64 = conn.query_row(
        &format!("SELECT coalesce(sum(stored_bytes), 0) FROM {table}"),
        [],
        |r| r.get(0),
    )?;
    let mut excess = total - max as i64;
    let mut cutoff = None;
    if excess > 0 {
        let mut oldest = conn.prepare_cached(&format!(
            "SELECT id, stored_bytes FROM {table} ORDER BY id LIMIT 2000"
        ))?;
        let mut rows = oldest.query([])?;
        while let Some(r) = rows.next()? {
            cutoff = Some(r.get::<_, String>(0)?);
            excess -= r.get::<_, i64>(1)?;
            if excess <= 0 {
                break;
            }
        }
    }
    Ok(cutoff)
}

/// An event from a row of [`sql::EVENT_COLUMNS`].
fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Event, StoreError>> {
    Ok(event_from_columns(
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        [r.get(8)?, r.get(9)?, r.get(10)?],
        r.get(11)?,
        r.get(12)?,
        r.get(13)?,
    ))
}

fn blob(encoding: Encoding, bytes: Vec<u8>) -> Blob {
    Blob { encoding, bytes }
}

#[cfg(test)]
mod tests {
    use super::super::conformance::{backend_conformance, rows};
    use super::*;

    fn store() -> (tempfile::TempDir, Sqlite) {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open(&dir.path().join("data/lookout.db")).unwrap();
        (dir, store)
    }

    backend_conformance!(store());

    #[test]
    fn a_reopened_file_keeps_its_rows_and_schema_version() {
        let (dir, store) = store();
        store.write(&rows(3, crate::clock::now_micros())).unwrap();
        drop(store);
        let again = Sqlite::open(&dir.path().join("data/lookout.db")).unwrap();
        assert_eq!(again.stats().unwrap().calls, 3);
        let version: i64 = again
            .writer
            .lock()
            .unwrap()
            .query_row("SELECT max(version) FROM schema_migrations", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(version, MIGRATIONS.last().unwrap().0);
    }

    #[test]
    fn a_newer_schema_is_refused_with_advice() {
        let (dir, store) = store();
        store
            .writer
            .lock()
            .unwrap()
            .execute("INSERT INTO schema_migrations VALUES (99, 0)", [])
            .unwrap();
        drop(store);
        let err = Sqlite::open(&dir.path().join("data/lookout.db"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("schema is version 99, newer than this lookout knows"),
            "{err}"
        );
    }
}
