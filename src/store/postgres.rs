//! The log on PostgreSQL, for several lookout instances sharing one log.
//!
//! Same records and the same answers as [`super::sqlite`]: the same columns, ids
//! compared as text in byte order (`COLLATE "C"`, so UUIDv7 ids sort by time), the
//! same paging, filters, text-search window and retention. Instances may start at
//! once against one database: schema changes are serialized by an advisory lock.
//!
//! Connections come from a small pool. A pooled connection that turns out broken (the
//! server restarted, the network dropped it) empties the pool and the call is tried
//! once more on a new connection, so the first call after the server is back succeeds;
//! while the server is down a call fails with [`StoreError::Unavailable`] within the
//! connect timeout (2 s unless the URL sets `connect_timeout`), and the recorder retries.
//! A server that vanishes mid-call without closing the connection fails the call after
//! about 30 s (TCP user timeout and keepalives, unless the URL sets them).
//!
//! The client is the synchronous `postgres` crate: each connection drives its own
//! small tokio runtime, so a call blocks its thread and must not run on a thread that
//! drives async tasks. Calls come from the recorder's thread and `spawn_blocking`;
//! opening and dropping, which happen on async threads at start and shutdown, move to
//! a plain thread by themselves.
//!
//! No TLS yet: connections use `NoTls` (`sslmode=require` in the URL is refused), so
//! keep the database on a trusted network or behind a local TLS tunnel.

use std::borrow::Cow;
use std::error::Error as _;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, Config, NoTls};

use super::fleet::{CANDIDATE_COLUMNS, SHADOW_COLUMNS, SUMMARY_SQL};
use super::sql::{
    self, event_from_columns, event_lists, events_page, events_sql, Param, EVENT_COLUMNS,
};
use super::{
    activity, search, without_password, Backend, Blob, Candidate, Draft, Encoding, Event,
    EventPage, EventQuery, Ingested, Instance, Page, Published, Query, Removed, Retention, Row,
    ShadowCall, ShadowKind, ShadowSummary, Stats, StoreError, Summary,
};
use crate::ids::{id_floor, valid_id};

/// Versioned schema changes, applied in order on open. Never edit a shipped entry; add one.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE calls (
        id text COLLATE \"C\" PRIMARY KEY,
        received_at bigint NOT NULL,
        instance text NOT NULL,
        ruleset text NOT NULL,
        rules_version text,
        peer text NOT NULL,
        status integer NOT NULL,
        signature text NOT NULL,
        duration_us bigint NOT NULL,
        estimate_id text,
        alerts integer NOT NULL,
        omitted integer NOT NULL,
        rule_errors integer NOT NULL,
        rule_timeouts integer NOT NULL,
        problem boolean NOT NULL,
        error text,
        request_headers text NOT NULL,
        redacted text NOT NULL,
        request_size bigint NOT NULL,
        request_truncated boolean NOT NULL,
        request_encoding text NOT NULL,
        request_body bytea NOT NULL,
        response_encoding text NOT NULL,
        response_body bytea NOT NULL,
        trace_encoding text NOT NULL,
        trace bytea NOT NULL,
        stored_bytes bigint NOT NULL
    );
    CREATE INDEX calls_by_ruleset ON calls (ruleset, id);
    CREATE INDEX calls_by_status ON calls (status, id);
    CREATE INDEX calls_with_problems ON calls (id) WHERE problem;",
    ),
    // Bodies arrive compressed already: PostgreSQL's own pglz pass over them only
    // costs CPU (measured in BENCHMARKS.md), so store them out of line as they are.
    (
        2,
        "ALTER TABLE calls
        ALTER COLUMN request_body SET STORAGE EXTERNAL,
        ALTER COLUMN response_body SET STORAGE EXTERNAL,
        ALTER COLUMN trace SET STORAGE EXTERNAL;",
    ),
    (
        3,
        "CREATE TABLE events (
        id text COLLATE \"C\" PRIMARY KEY,
        received_at bigint NOT NULL,
        sort_at bigint NOT NULL,
        source text NOT NULL,
        kind text NOT NULL,
        event text NOT NULL,
        known boolean NOT NULL,
        at text,
        occurred_at bigint,
        containers text NOT NULL,
        vessels text NOT NULL,
        ports text NOT NULL,
        delivery text,
        dedupe text NOT NULL UNIQUE,
        payload text NOT NULL,
        stored_bytes bigint NOT NULL
    );
    CREATE INDEX events_by_time ON events (sort_at, id);
    CREATE INDEX events_by_source ON events (source, sort_at, id);
    CREATE INDEX events_by_event ON events (event, sort_at, id);
    CREATE TABLE event_keys (
        kind text NOT NULL,
        key text COLLATE \"C\" NOT NULL,
        sort_at bigint NOT NULL,
        event_id text COLLATE \"C\" NOT NULL,
        PRIMARY KEY (kind, key, sort_at, event_id)
    );
    CREATE INDEX event_keys_by_event ON event_keys (event_id);",
    ),
    // Request bodies as differences from a base of the same estimate (store::delta).
    (
        4,
        "ALTER TABLE calls ADD COLUMN request_base text COLLATE \"C\";
    CREATE TABLE bodies (
        id text COLLATE \"C\" PRIMARY KEY,
        encoding text NOT NULL,
        body bytea NOT NULL
    );
    ALTER TABLE bodies ALTER COLUMN body SET STORAGE EXTERNAL;",
    ),
    // The log viewer's logged-out sessions (admin::auth), shared by every instance.
    (
        5,
        "CREATE TABLE revoked_sessions (
        nonce text COLLATE \"C\" PRIMARY KEY,
        expires_at bigint NOT NULL
    );
    CREATE INDEX revoked_sessions_by_expiry ON revoked_sessions (expires_at);",
    ),
    // The workbench's drafts and publishes (store::workbench).
    (
        6,
        "CREATE TABLE drafts (
        id text COLLATE \"C\" PRIMARY KEY,
        ruleset text NOT NULL,
        owner text NOT NULL,
        base_version text NOT NULL,
        files text NOT NULL,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL
    );
    CREATE INDEX drafts_by_ruleset ON drafts (ruleset, updated_at);
    CREATE TABLE published (
        id text COLLATE \"C\" PRIMARY KEY,
        ruleset text NOT NULL,
        version text NOT NULL,
        previous_version text NOT NULL,
        author text NOT NULL,
        at bigint NOT NULL,
        message text NOT NULL,
        action text NOT NULL,
        files text NOT NULL
    );
    CREATE INDEX published_by_ruleset ON published (ruleset, at);",
    ),
    // Each rule's activity by the hour (store::activity).
    (
        7,
        "CREATE TABLE rule_activity (
        ruleset text COLLATE \"C\" NOT NULL,
        hour bigint NOT NULL,
        rule text COLLATE \"C\" NOT NULL,
        calls bigint NOT NULL,
        alerts bigint NOT NULL,
        errors bigint NOT NULL,
        timeouts bigint NOT NULL,
        durations bytea NOT NULL,
        PRIMARY KEY (ruleset, hour, rule)
    );
    CREATE INDEX rule_activity_by_hour ON rule_activity (hour);",
    ),
    // Revisions numbered in the order stored; instances, candidates and their shadow
    // answers (store::fleet).
    (
        8,
        "CREATE SEQUENCE fleet_seq;
    ALTER TABLE published ADD COLUMN seq bigint;
    UPDATE published p SET seq = o.n
        FROM (SELECT id, row_number() OVER (ORDER BY at, id) AS n FROM published) o
        WHERE p.id = o.id;
    SELECT setval('fleet_seq', coalesce(max(seq), 0) + 1, false) FROM published;
    ALTER TABLE published ALTER COLUMN seq SET DEFAULT nextval('fleet_seq'),
        ALTER COLUMN seq SET NOT NULL;
    CREATE INDEX published_by_seq ON published (ruleset, seq);
    CREATE TABLE instances (
        name text COLLATE \"C\" PRIMARY KEY,
        started_at bigint NOT NULL,
        seen_at bigint NOT NULL,
        serving text NOT NULL,
        problems text NOT NULL
    );
    CREATE TABLE candidates (
        id text COLLATE \"C\" PRIMARY KEY,
        ruleset text NOT NULL,
        version text NOT NULL,
        author text NOT NULL,
        message text NOT NULL,
        files text NOT NULL,
        started_at bigint NOT NULL,
        ended_at bigint,
        outcome text,
        seq bigint NOT NULL DEFAULT nextval('fleet_seq')
    );
    CREATE UNIQUE INDEX candidates_running ON candidates (ruleset) WHERE ended_at IS NULL;
    CREATE TABLE shadow_calls (
        call_id text COLLATE \"C\" NOT NULL,
        candidate text COLLATE \"C\" NOT NULL,
        ruleset text NOT NULL,
        at bigint NOT NULL,
        live_version text NOT NULL,
        candidate_version text NOT NULL,
        live_us bigint NOT NULL,
        candidate_us bigint NOT NULL,
        changed_answer integer NOT NULL,
        added integer NOT NULL,
        removed integer NOT NULL,
        altered integer NOT NULL,
        guid_changes integer NOT NULL,
        errors integer NOT NULL,
        timeouts integer NOT NULL,
        answer text NOT NULL,
        PRIMARY KEY (candidate, call_id)
    );
    CREATE INDEX shadow_calls_by_call ON shadow_calls (call_id);",
    ),
];

/// The channel instances LISTEN on for new revisions and candidates.
const REVISIONS_CHANNEL: &str = "lookout_revisions";

/// The advisory lock every transaction that takes a `fleet_seq` number holds until it
/// commits: numbers are then visible in the order they were taken, so a follower that saw
/// the highest number has seen every row below it.
const FLEET_LOCK: i64 = 0x006c_6f6f_6b66_6c74;

/// The advisory lock every lookout takes while it checks and migrates the schema
/// (any constant, the same in every version: the bytes of "lookout").
const MIGRATION_LOCK: i64 = 0x006c_6f6f_6b6f_7574;

/// Idle connections kept, at most.
const IDLE: usize = 4;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a connection may go unanswered before it counts as broken (unless the URL
/// sets `tcp_user_timeout` or `keepalives_idle`).
const DEAD_PEER: Duration = Duration::from_secs(30);
/// Rows per INSERT statement (28 parameters each; PostgreSQL allows 65535 per statement).
const INSERT_CHUNK: usize = 200;
/// Rows deleted per retention statement, so no statement holds locks for long.
const DELETE_CHUNK: i64 = 2000;

const COLUMNS: &str = "id, received_at, instance, ruleset, rules_version, peer, status, signature, duration_us, estimate_id, alerts, omitted, rule_errors, rule_timeouts, problem, error, request_headers, redacted, request_size, request_truncated, request_encoding, request_body, response_encoding, response_body, trace_encoding, trace, stored_bytes, request_base";
const COLUMN_COUNT: usize = 28;
pub struct Postgres {
    config: Config,
    /// The URL without its password, for messages.
    name: String,
    idle: Mutex<Vec<Client>>,
    /// The connection that LISTENs for revisions (`wait_for_revision`), opened on
    /// first use and again after it breaks.
    listener: Mutex<Option<Client>>,
}

impl Postgres {
    /// Connects and creates or migrates the schema. Fails when the server cannot be
    /// reached: a lookout does not start with a log it cannot write.
    pub fn open(url: &str) -> Result<Postgres, StoreError> {
        let name = describe(url);
        let mut config = Config::from_str(url).map_err(|e| {
            StoreError::Unavailable(format!(
                "{name}: not a PostgreSQL URL lookout can use ({}); write `postgres://user:password@host:5432/db`",
                message(&e)
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // A server that vanishes without closing the connection (a cut network) fails the
        // call within about half a minute instead of TCP's quarter of an hour.
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(DEAD_PEER);
        }
        if config.get_keepalives_idle() == Config::new().get_keepalives_idle() {
            config.keepalives_idle(DEAD_PEER);
        }
        if config.get_application_name().is_none() {
            config.application_name("lookout");
        }
        let store = Postgres {
            config,
            name,
            idle: Mutex::new(Vec::new()),
            listener: Mutex::new(None),
        };
        off_async(|| {
            let mut client = store.connect()?;
            migrate(&mut client).map_err(|e| match e {
                StoreError::Unavailable(m) => {
                    StoreError::Unavailable(format!("{}: {m}", store.name))
                }
                other => other,
            })?;
            store.put_back(client);
            Ok::<_, StoreError>(())
        })?;
        Ok(store)
    }

    fn connect(&self) -> Result<Client, StoreError> {
        self.config.connect(NoTls).map_err(|e| self.fail(e))
    }

    fn fail(&self, e: postgres::Error) -> StoreError {
        StoreError::Unavailable(format!("{}: {}", self.name, message(&e)))
    }

    fn put_back(&self, client: Client) {
        if client.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().expect("connection pool");
        if idle.len() < IDLE {
            idle.push(client);
        }
    }

    /// Runs `f` on a pooled connection; on a broken one, once more on a new connection.
    /// `f` must be safe to run twice (every caller here is: writes ignore ids already kept).
    fn with_client<T>(
        &self,
        mut f: impl FnMut(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().expect("connection pool").pop();
        let (mut client, fresh) = match pooled {
            Some(client) if !client.is_closed() => (client, false),
            _ => (self.connect()?, true),
        };
        match f(&mut client) {
            Ok(value) => {
                self.put_back(client);
                Ok(value)
            }
            Err(e) if !fresh && broken(&client, &e) => {
                // The others were opened before the same cut: drop them all.
                let stale = std::mem::take(&mut *self.idle.lock().expect("connection pool"));
                drop(stale);
                drop(client);
                let mut client = self.connect()?;
                let value = f(&mut client).map_err(|e| self.fail(e))?;
                self.put_back(client);
                Ok(value)
            }
            Err(e) => {
                self.put_back(client);
                Err(self.fail(e))
            }
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Closing a connection blocks on its runtime, which panics on an async thread.
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|p| p.into_inner()));
        let listener = self
            .listener
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if !idle.is_empty() || listener.is_some() {
            off_async(move || drop((idle, listener)));
        }
    }
}

/// Runs `f` here, or on a plain thread when this one belongs to a tokio runtime (a
/// client's own runtime cannot block inside another's async task).
fn off_async<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|scope| match scope.spawn(f).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Whether an error means the connection is gone (rather than the statement failing).
fn broken(client: &Client, e: &postgres::Error) -> bool {
    if client.is_closed() || e.is_closed() {
        return true;
    }
    match e.code() {
        None => true,
        // Class 08 (connection exception) and the server shutting down or starting up.
        Some(code) => {
            code.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                ]
                .contains(code)
        }
    }
}

/// The error with its causes: `postgres::Error` shows only its kind ("db error").
fn message(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The URL for messages: no password, neither in the user part nor as a parameter.
fn describe(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return without_password(url);
    };
    if parsed.query_pairs().any(|(k, _)| k == "password") {
        let kept: Vec<(String, String)> = parsed
            .query_pairs()
            .filter(|(k, _)| k != "password")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    without_password(parsed.as_str())
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let fail = |e: postgres::Error| {
        StoreError::Unavailable(format!("migrating the schema: {}", message(&e)))
    };
    let mut tx = client.transaction().map_err(fail)?;
    // Held until commit: a second lookout starting now waits here, then sees the schema.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(fail)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, applied_at bigint NOT NULL)",
    )
    .map_err(fail)?;
    let current: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0)::bigint FROM schema_migrations",
            &[],
        )
        .map_err(fail)?
        .get(0);
    let latest = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if current > latest {
        return Err(StoreError::Unavailable(format!(
            "the log's schema is version {current}, newer than this lookout knows ({latest}); run the newer lookout or point store.url elsewhere"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.batch_execute(sql).map_err(fail)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[version, &crate::clock::now_micros()],
        )
        .map_err(fail)?;
    }
    tx.commit().map_err(fail)
}

fn summary(r: &postgres::Row) -> Summary {
    Summary {
        id: r.get(0),
        received_at: r.get(1),
        instance: r.get(2),
        ruleset: r.get(3),
        status: r.get::<_, i32>(4) as u16,
        duration_us: r.get(5),
        estimate_id: r.get(6),
        alerts: r.get::<_, i32>(7) as u32,
        rule_errors: r.get::<_, i32>(8) as u32,
        rule_timeouts: r.get::<_, i32>(9) as u32,
        error: r.get(10),
        request_size: r.get::<_, i64>(11) as u64,
    }
}

fn refs(values: &[Box<dyn ToSql + Sync>]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v.as_ref()).collect()
}

/// `INSERT ... VALUES ($1, ..., $28), ($29, ...) ON CONFLICT DO NOTHING` for `rows` rows.
fn insert_sql(rows: usize) -> String {
    let tuples: Vec<String> = (0..rows)
        .map(|r| {
            let params: Vec<String> = (1..=COLUMN_COUNT)
                .map(|c| format!("${}", r * COLUMN_COUNT + c))
                .collect();
            format!("({})", params.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO calls ({COLUMNS}) VALUES {} ON CONFLICT (id) DO NOTHING RETURNING id",
        tuples.join(", ")
    )
}

/// PostgreSQL's text cannot hold NUL (SQLite's can): a NUL that came in (a
/// percent-encoded rule set name, a string in the estimate) is kept as U+FFFD rather
/// than failing the whole batch.
fn without_nul(row: &Row) -> Cow<'_, Row> {
    let texts = [
        Some(&row.id),
        Some(&row.instance),
        Some(&row.ruleset),
        row.rules_version.as_ref(),
        Some(&row.peer),
        Some(&row.signature),
        row.estimate_id.as_ref(),
        row.error.as_ref(),
        Some(&row.request_headers),
        Some(&row.redacted),
    ];
    if !texts.into_iter().flatten().any(|t| t.contains('\0')) {
        return Cow::Borrowed(row);
    }
    let clean = |t: &String| t.replace('\0', "\u{fffd}");
    Cow::Owned(Row {
        id: clean(&row.id),
        instance: clean(&row.instance),
        ruleset: clean(&row.ruleset),
        rules_version: row.rules_version.as_ref().map(clean),
        peer: clean(&row.peer),
        signature: clean(&row.signature),
        estimate_id: row.estimate_id.as_ref().map(clean),
        error: row.error.as_ref().map(clean),
        request_headers: clean(&row.request_headers),
        redacted: clean(&row.redacted),
        ..row.clone()
    })
}

fn blob(encoding: &str, bytes: Vec<u8>) -> Result<Blob, StoreError> {
    Ok(Blob {
        encoding: Encoding::parse(encoding)?,
        bytes,
    })
}

/// The calls' list, run on one connection.
struct Reads<'a> {
    client: &'a mut Client,
    name: &'a str,
}

impl sql::CallRows for Reads<'_> {
    type Error = postgres::Error;
    const MARK: fn(usize) -> String = |n| format!("${n}");
    const PROBLEM: &'static str = "problem";

    fn floor(
        &mut self,
        sql: &str,
        params: &[Param],
    ) -> Result<Option<(String, i64)>, postgres::Error> {
        let values = values(params);
        Ok(self
            .client
            .query_opt(sql, &refs(&values))?
            .map(|r| (r.get(0), r.get(1))))
    }

    fn summaries(&mut self, sql: &str, params: &[Param]) -> Result<Vec<Summary>, postgres::Error> {
        let values = values(params);
        Ok(self
            .client
            .query(sql, &refs(&values))?
            .iter()
            .map(summary)
            .collect())
    }

    fn scanned(&mut self, sql: &str, params: &[Param]) -> Result<search::Chunk, StoreError> {
        let unavailable =
            |e: postgres::Error| StoreError::Unavailable(format!("{}: {e}", self.name));
        let values = values(params);
        let rows = self
            .client
            .query(sql, &refs(&values))
            .map_err(unavailable)?;
        let mut ids: Vec<String> = rows.iter().filter_map(|r| r.get(14)).collect();
        ids.sort_unstable();
        ids.dedup();
        let bases = bodies(self.client, &ids).map_err(unavailable)?;
        let rows = rows
            .iter()
            .map(|r| {
                Ok(search::Scanned {
                    summary: summary(r),
                    body: blob(r.get(12), r.get(13))?,
                    base: r.get(14),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let bases = bases
            .into_iter()
            .map(|(id, encoding, bytes)| Ok((id, blob(&encoding, bytes)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((rows, bases))
    }
}

/// Shared parameters as PostgreSQL values.
fn values(params: &[Param]) -> Vec<Box<dyn ToSql + Sync>> {
    params
        .iter()
        .map(|p| -> Box<dyn ToSql + Sync> {
            match p {
                Param::Text(t) => Box::new(t.clone()),
                Param::Int(i) => Box::new(*i),
                Param::Int32(i) => Box::new(*i),
            }
        })
        .collect()
}

impl Backend for Postgres {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn write(&self, rows: &[Row]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let rows: Vec<Cow<'_, Row>> = rows.iter().map(without_nul).collect();
        let encodings: Vec<[&str; 3]> = rows
            .iter()
            .map(|r| {
                [
                    r.request_body.encoding.as_str(),
                    r.response_body.encoding.as_str(),
                    r.trace.encoding.as_str(),
                ]
            })
            .collect();
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(rows.len() * COLUMN_COUNT);
        for (row, [request, response, trace]) in rows.iter().map(|r| r.as_ref()).zip(&encodings) {
            params.extend_from_slice(&[
                &row.id as &(dyn ToSql + Sync),
                &row.received_at,
                &row.instance,
                &row.ruleset,
                &row.rules_version,
                &row.peer,
                &row.status,
                &row.signature,
                &row.duration_us,
                &row.estimate_id,
                &row.alerts,
                &row.omitted,
                &row.rule_errors,
                &row.rule_timeouts,
                &row.problem,
                &row.error,
                &row.request_headers,
                &row.redacted,
                &row.request_size,
                &row.request_truncated,
                request,
                &row.request_body.bytes,
                response,
                &row.response_body.bytes,
                trace,
                &row.trace.bytes,
                &row.stored_bytes,
                &row.request_base,
            ]);
        }
        // Bases the batch stores (before the calls that name them, in one transaction).
        let (mut base_ids, mut base_encodings, mut base_bytes) = (vec![], vec![], vec![]);
        for row in &rows {
            if let (Some(id), Some(body)) = (&row.request_base, &row.base_body) {
                base_ids.push(id.as_str());
                base_encodings.push(body.encoding.as_str());
                base_bytes.push(body.bytes.as_slice());
            }
        }
        self.with_client(|client| {
            let mut tx = client.transaction()?;
            if !base_ids.is_empty() {
                tx.execute(
                    "INSERT INTO bodies (id, encoding, body) SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[]) ON CONFLICT (id) DO NOTHING",
                    &[&base_ids, &base_encodings, &base_bytes],
                )?;
            }
            let mut inserted = std::collections::HashSet::new();
            for chunk in params.chunks(INSERT_CHUNK * COLUMN_COUNT) {
                for added in tx.query(&insert_sql(chunk.len() / COLUMN_COUNT), chunk)? {
                    inserted.insert(added.get::<_, String>(0));
                }
            }
            let inserted: Vec<&Row> = rows
                .iter()
                .map(|r| r.as_ref())
                .filter(|r| inserted.remove(&r.id)) // once, when a batch has it twice
                .collect();
            add_activity(&mut tx, &inserted)?;
            tx.commit()
        })
    }

    fn list(&self, query: &Query) -> Result<Page, StoreError> {
        self.with_client(|client| {
            sql::list_calls(
                &mut Reads {
                    client,
                    name: &self.name,
                },
                query,
            )
        })?
    }

    fn get(&self, id: &str) -> Result<Option<Row>, StoreError> {
        if !valid_id(id) {
            return Ok(None);
        }
        let sql = format!("SELECT {COLUMNS} FROM calls WHERE id = $1");
        let found = self.with_client(|client| {
            let Some(r) = client.query_opt(&sql, &[&id])? else {
                return Ok(None);
            };
            let base: Option<String> = r.get(27);
            let base = match base {
                Some(base) => bodies(client, &[base])?.pop(),
                None => None,
            };
            Ok(Some((r, base)))
        })?;
        let Some((r, base)) = found else {
            return Ok(None);
        };
        Ok(Some(Row {
            id: r.get(0),
            received_at: r.get(1),
            instance: r.get(2),
            ruleset: r.get(3),
            rules_version: r.get(4),
            peer: r.get(5),
            status: r.get(6),
            signature: r.get(7),
            duration_us: r.get(8),
            estimate_id: r.get(9),
            alerts: r.get(10),
            omitted: r.get(11),
            rule_errors: r.get(12),
            rule_timeouts: r.get(13),
            problem: r.get(14),
            error: r.get(15),
            request_headers: r.get(16),
            redacted: r.get(17),
            request_size: r.get(18),
            request_truncated: r.get(19),
            request_body: blob(r.get(20), r.get(21))?,
            request_base: r.get(27),
            base_body: base
                .map(|(_, encoding, bytes)| blob(&encoding, bytes))
                .transpose()?,
            response_body: blob(r.get(22), r.get(23))?,
            trace: blob(r.get(24), r.get(25))?,
            stored_bytes: r.get(26),
            runs: Vec::new(),
        }))
    }

    fn retain(&self, retention: &Retention, now: i64) -> Result<Removed, StoreError> {
        let mut removed = Removed::default();
        if let Some(age) = retention.max_age {
            let cutoff = id_floor(now - age.as_micros() as i64);
            loop {
                let n = self.with_client(|client| {
                    client.execute(
                        "DELETE FROM calls WHERE id IN (SELECT id FROM calls WHERE id < $1 ORDER BY id LIMIT $2)",
                        &[&cutoff, &DELETE_CHUNK],
                    )
                })?;
                removed.by_age += n;
                if n < DELETE_CHUNK as u64 {
                    break;
                }
            }
        }
        if let Some(max) = retention.max_bytes {
            loop {
                let n = self.with_client(|client| match size_cutoff(client, "calls", max)? {
                    Some(cutoff) => client.execute("DELETE FROM calls WHERE id <= $1", &[&cutoff]),
                    None => Ok(0),
                })?;
                removed.by_size += n;
                if n == 0 {
                    break;
                }
            }
        }
        // Bases no kept call (of any instance) can name.
        self.with_client(|client| {
            let oldest: Option<i64> = client
                .query_opt("SELECT received_at FROM calls ORDER BY id LIMIT 1", &[])?
                .map(|r| r.get(0));
            let floor = super::delta::unused_before(oldest, now);
            client.execute("DELETE FROM bodies WHERE id < $1", &[&floor])?;
            client.execute(
                "DELETE FROM rule_activity WHERE hour < $1",
                &[&activity::kept_from(now)],
            )?;
            // Candidates' answers go with the calls they answered again.
            client.execute(
                "DELETE FROM shadow_calls WHERE call_id < coalesce((SELECT min(id) FROM calls), '~')",
                &[],
            )
        })?;
        Ok(removed)
    }

    fn stats(&self) -> Result<Stats, StoreError> {
        self.with_client(|client| table_stats(client, "calls"))
    }

    fn write_events(&self, events: &[Event]) -> Result<Ingested, StoreError> {
        if events.is_empty() {
            return Ok(Ingested::default());
        }
        let lists: Vec<[String; 3]> = events.iter().map(event_lists).collect();
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        let received: Vec<i64> = events.iter().map(|e| e.received_at).collect();
        let sort_at: Vec<i64> = events.iter().map(Event::sort_at).collect();
        let sources: Vec<&str> = events.iter().map(|e| e.source.as_str()).collect();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
        let known: Vec<bool> = events.iter().map(|e| e.known).collect();
        let at: Vec<Option<&str>> = events.iter().map(|e| e.at.as_deref()).collect();
        let occurred: Vec<Option<i64>> = events.iter().map(|e| e.occurred_at).collect();
        let containers: Vec<&str> = lists.iter().map(|l| l[0].as_str()).collect();
        let vessels: Vec<&str> = lists.iter().map(|l| l[1].as_str()).collect();
        let ports: Vec<&str> = lists.iter().map(|l| l[2].as_str()).collect();
        let deliveries: Vec<Option<&str>> = events.iter().map(|e| e.delivery.as_deref()).collect();
        let dedupes: Vec<&str> = events.iter().map(|e| e.dedupe.as_str()).collect();
        let payloads: Vec<&str> = events.iter().map(|e| e.payload.as_str()).collect();
        let bytes: Vec<i64> = events.iter().map(Event::stored_bytes).collect();
        self.with_client(|client| {
            let mut tx = client.transaction()?;
            // One statement for the batch; a dedupe already stored (or repeated in the
            // batch) is skipped, and RETURNING says which ids were new.
            let stored: std::collections::HashSet<String> = tx
                .query(
                    "INSERT INTO events (id, received_at, sort_at, source, kind, event, known, at, occurred_at, containers, vessels, ports, delivery, dedupe, payload, stored_bytes)
                     SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::boolean[], $8::text[], $9::bigint[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::bigint[])
                     ON CONFLICT (dedupe) DO NOTHING RETURNING id",
                    &[&ids, &received, &sort_at, &sources, &kinds, &names, &known, &at, &occurred, &containers, &vessels, &ports, &deliveries, &dedupes, &payloads, &bytes],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let (mut key_kinds, mut keys, mut times, mut key_ids) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for e in events.iter().filter(|e| stored.contains(&e.id)) {
                for k in e.keys() {
                    let (kind, value) = k.parts();
                    key_kinds.push(kind);
                    keys.push(value);
                    times.push(e.sort_at());
                    key_ids.push(e.id.as_str());
                }
            }
            if !key_ids.is_empty() {
                tx.execute(
                    "INSERT INTO event_keys (kind, key, sort_at, event_id)
                     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])
                     ON CONFLICT DO NOTHING",
                    &[&key_kinds, &keys, &times, &key_ids],
                )?;
            }
            tx.commit()?;
            Ok(Ingested {
                stored: stored.len(),
                duplicates: events.len() - stored.len(),
            })
        })
    }

    fn list_events(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        let (sql, params) = events_sql(query, <Reads as sql::CallRows>::MARK)?;
        let values = values(&params);
        let rows = self.with_client(|client| client.query(&sql, &refs(&values)))?;
        let events = rows.iter().map(event_row).collect::<Result<Vec<_>, _>>()?;
        Ok(events_page(events, query))
    }

    fn get_event(&self, id: &str) -> Result<Option<Event>, StoreError> {
        if !valid_id(id) {
            return Ok(None);
        }
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events e WHERE e.id = $1");
        let row = self.with_client(|client| client.query_opt(&sql, &[&id]))?;
        row.as_ref().map(event_row).transpose()
    }

    fn retain_events(&self, retention: &Retention, now: i64) -> Result<Removed, StoreError> {
        let mut removed = Removed::default();
        let delete = |cutoff: &str| -> Result<u64, StoreError> {
            self.with_client(|client| {
                let mut tx = client.transaction()?;
                let ids: Vec<String> = tx
                    .query(
                        "SELECT id FROM events WHERE id <= $1 ORDER BY id LIMIT $2",
                        &[&cutoff, &DELETE_CHUNK],
                    )?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                tx.execute("DELETE FROM event_keys WHERE event_id = ANY($1)", &[&ids])?;
                let n = tx.execute("DELETE FROM events WHERE id = ANY($1)", &[&ids])?;
                tx.commit()?;
                Ok(n)
            })
        };
        if let Some(age) = retention.max_age {
            let cutoff = id_floor(now - age.as_micros() as i64);
            loop {
                let n = delete(&cutoff)?;
                removed.by_age += n;
                if n < DELETE_CHUNK as u64 {
                    break;
                }
            }
        }
        if let Some(max) = retention.max_bytes {
            loop {
                let cutoff = self.with_client(|client| size_cutoff(client, "events", max))?;
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
        self.with_client(|client| table_stats(client, "events"))
    }

    fn revoke_session(&self, nonce: &str, expires_at: i64) -> Result<(), StoreError> {
        let now = crate::clock::now_micros();
        // Safe to run twice (`with_client` may): the upsert keeps the later expiry.
        self.with_client(|client| {
            let mut tx = client.transaction()?;
            tx.execute(
                "DELETE FROM revoked_sessions WHERE expires_at <= $1",
                &[&now],
            )?;
            tx.execute(
                "INSERT INTO revoked_sessions (nonce, expires_at) VALUES ($1, $2)
                 ON CONFLICT (nonce) DO UPDATE
                 SET expires_at = greatest(revoked_sessions.expires_at, excluded.expires_at)",
                &[&nonce, &expires_at],
            )?;
            tx.commit()
        })
    }

    fn revoked_sessions(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = self.with_client(|client| {
            client.query(
                "SELECT nonce, expires_at FROM revoked_sessions WHERE expires_at > $1",
                &[&now],
            )
        })?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn save_draft(&self, d: &Draft) -> Result<(), StoreError> {
        let files = d.files.to_string();
        self.with_client(|client| {
            client.execute(
                "INSERT INTO drafts (id, ruleset, owner, base_version, files, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET base_version = excluded.base_version,
                     files = excluded.files, updated_at = excluded.updated_at",
                &[&d.id, &d.ruleset, &d.owner, &d.base_version, &files, &d.created_at, &d.updated_at],
            )
        })?;
        Ok(())
    }

    fn draft(&self, id: &str) -> Result<Option<Draft>, StoreError> {
        let rows = self.with_client(|client| {
            client.query(
                &format!("SELECT {DRAFT_COLUMNS} FROM drafts WHERE id = $1"),
                &[&id],
            )
        })?;
        rows.first().map(decode_draft).transpose()
    }

    fn drafts(&self, ruleset: Option<&str>) -> Result<Vec<Draft>, StoreError> {
        let rows = self.with_client(|client| {
            client.query(
                &format!(
                    "SELECT {DRAFT_COLUMNS} FROM drafts WHERE $1::text IS NULL OR ruleset = $1 ORDER BY updated_at DESC, id DESC"
                ),
                &[&ruleset],
            )
        })?;
        rows.iter().map(decode_draft).collect()
    }

    fn delete_draft(&self, id: &str) -> Result<bool, StoreError> {
        let n =
            self.with_client(|client| client.execute("DELETE FROM drafts WHERE id = $1", &[&id]))?;
        Ok(n > 0)
    }

    fn record_published(&self, p: &Published) -> Result<(), StoreError> {
        let files = p.files.to_string();
        // Safe to run twice (`with_client` may): the same id is kept once. Revisions are
        // stored one at a time (the lock), so `seq` follows commits; the NOTIFY reaches
        // listeners at the commit.
        self.with_client(|client| {
            let mut tx = client.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&FLEET_LOCK])?;
            tx.execute(
                "INSERT INTO published (id, ruleset, version, previous_version, author, at, message, action, files)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
                &[&p.id, &p.ruleset, &p.version, &p.previous_version, &p.author, &p.at, &p.message, &p.action, &files],
            )?;
            tx.execute("SELECT pg_notify($1, $2)", &[&REVISIONS_CHANNEL, &p.ruleset])?;
            tx.commit()
        })?;
        Ok(())
    }

    fn revision_heads(&self) -> Result<Vec<Published>, StoreError> {
        let rows = self.with_client(|client| {
            client.query(
                &format!(
                    "SELECT DISTINCT ON (ruleset) {PUBLISHED_COLUMNS} FROM published ORDER BY ruleset, seq DESC"
                ),
                &[],
            )
        })?;
        rows.iter().map(decode_published).collect()
    }

    fn revision_mark(&self) -> Result<i64, StoreError> {
        self.with_client(|client| {
            Ok(client
                .query_one(
                    "SELECT greatest(coalesce((SELECT max(seq) FROM published), 0), coalesce((SELECT max(seq) FROM candidates), 0))::bigint",
                    &[],
                )?
                .get(0))
        })
    }

    fn wait_for_revision(&self, timeout: Duration) -> Result<bool, StoreError> {
        use postgres::fallible_iterator::FallibleIterator;
        let mut slot = self.listener.lock().expect("listener");
        let listening = slot.as_ref().is_some_and(|c| !c.is_closed());
        if !listening {
            *slot = None;
            let mut client = self.connect()?;
            client
                .batch_execute(&format!("LISTEN {REVISIONS_CHANNEL}"))
                .map_err(|e| self.fail(e))?;
            *slot = Some(client);
            // Word sent before the LISTEN is lost: the caller reads the store again.
            return Ok(true);
        }
        let client = slot.as_mut().expect("listening");
        let mut notifications = client.notifications();
        let first = notifications.timeout_iter(timeout).next();
        match first {
            Ok(Some(_)) => {
                // Whatever else has arrived is the same word.
                while let Ok(Some(_)) = notifications.iter().next() {}
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(e) => {
                let e = self.fail(e);
                drop(notifications);
                *slot = None;
                Err(e)
            }
        }
    }

    fn report_instance(&self, i: &Instance) -> Result<(), StoreError> {
        let serving = i.serving.to_string();
        let problems = serde_json::to_string(&i.problems).expect("strings are JSON");
        self.with_client(|client| {
            client.execute(
                "INSERT INTO instances (name, started_at, seen_at, serving, problems) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (name) DO UPDATE SET started_at = excluded.started_at, seen_at = excluded.seen_at,
                     serving = excluded.serving, problems = excluded.problems",
                &[&i.name, &i.started_at, &i.seen_at, &serving, &problems],
            )
        })?;
        Ok(())
    }

    fn instances(&self) -> Result<Vec<Instance>, StoreError> {
        let rows = self.with_client(|client| {
            client.query(
                "SELECT name, started_at, seen_at, serving, problems FROM instances ORDER BY seen_at DESC, name",
                &[],
            )
        })?;
        rows.iter()
            .map(|r| sql::instance(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect()
    }

    fn start_candidate(&self, c: &Candidate) -> Result<(), StoreError> {
        let files = c.files.to_string();
        self.with_client(|client| {
            let mut tx = client.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&FLEET_LOCK])?;
            // `id <> $3`: run twice (a retry after a commit that went through), the
            // candidate just started is not the one replaced.
            tx.execute(
                "UPDATE candidates SET ended_at = $1, outcome = 'replaced', seq = nextval('fleet_seq')
                 WHERE ruleset = $2 AND ended_at IS NULL AND id <> $3",
                &[&c.started_at, &c.ruleset, &c.id],
            )?;
            tx.execute(
                "INSERT INTO candidates (id, ruleset, version, author, message, files, started_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                &[&c.id, &c.ruleset, &c.version, &c.author, &c.message, &files, &c.started_at],
            )?;
            tx.execute("SELECT pg_notify($1, $2)", &[&REVISIONS_CHANNEL, &c.ruleset])?;
            tx.commit()
        })
    }

    fn end_candidate(&self, id: &str, outcome: &str, at: i64) -> Result<bool, StoreError> {
        self.with_client(|client| {
            let mut tx = client.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&FLEET_LOCK])?;
            let n = tx.execute(
                "UPDATE candidates SET ended_at = $1, outcome = $2, seq = nextval('fleet_seq')
                 WHERE id = $3 AND ended_at IS NULL",
                &[&at, &outcome, &id],
            )?;
            tx.execute("SELECT pg_notify($1, $2)", &[&REVISIONS_CHANNEL, &id])?;
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn candidate(&self, id: &str) -> Result<Option<Candidate>, StoreError> {
        let rows = self.with_client(|client| {
            client.query(
                &format!("SELECT {CANDIDATE_COLUMNS} FROM candidates WHERE id = $1"),
                &[&id],
            )
        })?;
        rows.first().map(decode_candidate).transpose()
    }

    fn candidates(
        &self,
        ruleset: Option<&str>,
        running_only: bool,
    ) -> Result<Vec<Candidate>, StoreError> {
        let rows = self.with_client(|client| {
            client.query(
                &format!(
                    "SELECT {CANDIDATE_COLUMNS} FROM candidates
                     WHERE ($1::text IS NULL OR ruleset = $1) AND (NOT $2 OR ended_at IS NULL)
                     ORDER BY started_at DESC, id DESC"
                ),
                &[&ruleset, &running_only],
            )
        })?;
        rows.iter().map(decode_candidate).collect()
    }

    fn write_shadow(&self, calls: &[ShadowCall]) -> Result<(), StoreError> {
        if calls.is_empty() {
            return Ok(());
        }
        self.with_client(|client| {
            let mut tx = client.transaction()?;
            let insert = tx.prepare(&format!(
                "INSERT INTO shadow_calls ({SHADOW_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                 ON CONFLICT (candidate, call_id) DO NOTHING"
            ))?;
            for c in calls {
                let answer = c.answer.replace('\0', "\u{fffd}");
                let counts = [
                    c.changed as i32,
                    c.added as i32,
                    c.removed as i32,
                    c.altered as i32,
                    c.guid_changes as i32,
                    c.errors as i32,
                    c.timeouts as i32,
                ];
                tx.execute(
                    &insert,
                    &[
                        &c.call_id,
                        &c.candidate,
                        &c.ruleset,
                        &c.at,
                        &c.live_version,
                        &c.candidate_version,
                        &c.live_us,
                        &c.candidate_us,
                        &counts[0],
                        &counts[1],
                        &counts[2],
                        &counts[3],
                        &counts[4],
                        &counts[5],
                        &counts[6],
                        &answer,
                    ],
                )?;
            }
            tx.commit()
        })
    }

    fn shadow_summary(&self, candidate: &str) -> Result<ShadowSummary, StoreError> {
        let row = self
            .with_client(|client| client.query_one(&format!("{SUMMARY_SQL}$1"), &[&candidate]))?;
        let n = |i: usize| row.get::<_, i64>(i);
        Ok(ShadowSummary {
            calls: n(0) as u64,
            changed: n(1) as u64,
            added: n(2) as u64,
            removed: n(3) as u64,
            altered: n(4) as u64,
            guid_changes: n(5) as u64,
            errors: n(6) as u64,
            timeouts: n(7) as u64,
            live_us_mean: n(8),
            candidate_us_mean: n(9),
            candidate_us_max: n(10),
        })
    }

    fn shadow_calls(
        &self,
        candidate: &str,
        kind: ShadowKind,
        limit: usize,
    ) -> Result<Vec<ShadowCall>, StoreError> {
        let rows = self.with_client(|client| {
            client.query(
                &format!(
                    "SELECT {SHADOW_COLUMNS} FROM shadow_calls WHERE candidate = $1 AND {} ORDER BY call_id DESC LIMIT $2",
                    kind.condition()
                ),
                &[&candidate, &(limit as i64)],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| ShadowCall {
                call_id: r.get(0),
                candidate: r.get(1),
                ruleset: r.get(2),
                at: r.get(3),
                live_version: r.get(4),
                candidate_version: r.get(5),
                live_us: r.get(6),
                candidate_us: r.get(7),
                changed: r.get::<_, i32>(8) != 0,
                added: r.get::<_, i32>(9) as u32,
                removed: r.get::<_, i32>(10) as u32,
                altered: r.get::<_, i32>(11) as u32,
                guid_changes: r.get::<_, i32>(12) as u32,
                errors: r.get::<_, i32>(13) as u32,
                timeouts: r.get::<_, i32>(14) as u32,
                answer: r.get(15),
            })
            .collect())
    }

    fn published(&self, ruleset: &str) -> Result<Vec<Published>, StoreError> {
        let rows = self.with_client(|client| {
            client.query(
                &format!(
                    "SELECT {PUBLISHED_COLUMNS} FROM published WHERE ruleset = $1 ORDER BY at DESC, id DESC"
                ),
                &[&ruleset],
            )
        })?;
        rows.iter().map(decode_published).collect()
    }

    fn published_one(&self, id: &str) -> Result<Option<Published>, StoreError> {
        let rows = self.with_client(|client| {
            client.query(
                &format!("SELECT {PUBLISHED_COLUMNS} FROM published WHERE id = $1"),
                &[&id],
            )
        })?;
        rows.first().map(decode_published).transpose()
    }

    fn activity(
        &self,
        ruleset: &str,
        since: i64,
    ) -> Result<Vec<(activity::Key, activity::Stored)>, StoreError> {
        let since = activity::hour_of(since);
        let rows = self.with_client(|client| {
            client.query(
                "SELECT hour, rule, calls, alerts, errors, timeouts, durations FROM rule_activity WHERE ruleset = $1 AND hour >= $2",
                &[&ruleset, &since],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    activity::Key {
                        ruleset: ruleset.to_string(),
                        hour: r.get(0),
                        rule: r.get(1),
                    },
                    stored_activity(r, 2),
                )
            })
            .collect())
    }
}

/// Adds the runs of `rows` to their hours' activity, in the write's transaction. Each
/// hour's row is locked before it is read (in key order, so two instances writing
/// the same hours wait for each other instead of deadlocking); a row two writers
/// create at once fails one transaction, which the recorder retries.
fn add_activity(tx: &mut postgres::Transaction<'_>, rows: &[&Row]) -> Result<(), postgres::Error> {
    let tallies = activity::tally(
        rows.iter()
            .map(|r| (r.ruleset.as_str(), r.received_at, r.runs.as_slice())),
    );
    for (key, tally) in &tallies {
        let lock = |tx: &mut postgres::Transaction<'_>| {
            tx.query_opt(
                "SELECT calls, alerts, errors, timeouts, durations FROM rule_activity WHERE ruleset = $1 AND hour = $2 AND rule = $3 FOR UPDATE",
                &[&key.ruleset, &key.hour, &key.rule],
            )
            .map(|r| r.map(|r| stored_activity(&r, 0)))
        };
        let existing = match lock(tx)? {
            Some(found) => found,
            None => {
                // The hour's first call of this rule here. The SELECT locked nothing, so
                // another instance may be inserting the same row: ON CONFLICT waits for its
                // transaction, and when it wins this one adds to its row under the lock.
                let fresh = activity::Stored::merged(None, tally);
                let inserted = tx.execute(
                    "INSERT INTO rule_activity (ruleset, hour, rule, calls, alerts, errors, timeouts, durations) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (ruleset, hour, rule) DO NOTHING",
                    &activity_row(key, &fresh),
                )?;
                if inserted == 1 {
                    continue;
                }
                match lock(tx)? {
                    Some(found) => found,
                    // Inserted and removed meanwhile (retention of a week-old hour): none.
                    None => continue,
                }
            }
        };
        let sum = activity::Stored::merged(Some(existing), tally);
        tx.execute(
            "UPDATE rule_activity SET calls = $4, alerts = $5, errors = $6, timeouts = $7, durations = $8 WHERE ruleset = $1 AND hour = $2 AND rule = $3",
            &activity_row(key, &sum),
        )?;
    }
    Ok(())
}

/// An activity row's parameters, in the order the INSERT and UPDATE above name them.
fn activity_row<'a>(
    key: &'a activity::Key,
    s: &'a activity::Stored,
) -> [&'a (dyn ToSql + Sync); 8] {
    [
        &key.ruleset,
        &key.hour,
        &key.rule,
        &s.calls,
        &s.alerts,
        &s.errors,
        &s.timeouts,
        &s.durations,
    ]
}

/// The activity columns from `first` on: calls, alerts, errors, timeouts, durations.
fn stored_activity(r: &postgres::Row, first: usize) -> activity::Stored {
    activity::Stored {
        calls: r.get(first),
        alerts: r.get(first + 1),
        errors: r.get(first + 2),
        timeouts: r.get(first + 3),
        durations: r.get(first + 4),
    }
}

const DRAFT_COLUMNS: &str = "id, ruleset, owner, base_version, files, created_at, updated_at";
const PUBLISHED_COLUMNS: &str =
    "id, ruleset, version, previous_version, author, at, message, action, files, seq";

fn decode_draft(r: &postgres::Row) -> Result<Draft, StoreError> {
    Ok(Draft {
        id: r.get(0),
        ruleset: r.get(1),
        owner: r.get(2),
        base_version: r.get(3),
        files: sql::files_from_text(r.get(4))?,
        created_at: r.get(5),
        updated_at: r.get(6),
    })
}

fn decode_published(r: &postgres::Row) -> Result<Published, StoreError> {
    Ok(Published {
        id: r.get(0),
        ruleset: r.get(1),
        version: r.get(2),
        previous_version: r.get(3),
        author: r.get(4),
        at: r.get(5),
        message: r.get(6),
        action: r.get(7),
        files: sql::files_from_text(r.get(8))?,
        seq: r.get(9),
    })
}

fn decode_candidate(r: &postgres::Row) -> Result<Candidate, StoreError> {
    Ok(Candidate {
        id: r.get(0),
        ruleset: r.get(1),
        version: r.get(2),
        author: r.get(3),
        message: r.get(4),
        files: sql::files_from_text(r.get(5))?,
        started_at: r.get(6),
        ended_at: r.get(7),
        outcome: r.get(8),
    })
}

/// The stored bodies (request bodies' bases) with these ids: `(id, encoding, bytes)`;
/// missing ones are left out.
fn bodies(
    client: &mut Client,
    ids: &[String],
) -> Result<Vec<(String, String, Vec<u8>)>, postgres::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(client
        .query(
            "SELECT id, encoding, body FROM bodies WHERE id = ANY($1)",
            &[&ids],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// Rows, bytes, oldest and newest received of `table` (`calls` or `events`).
fn table_stats(client: &mut Client, table: &str) -> Result<Stats, postgres::Error> {
    let r = client.query_one(
        &format!("SELECT count(*), coalesce(sum(stored_bytes), 0)::bigint, min(received_at), max(received_at) FROM {table}"),
        &[],
    )?;
    Ok(Stats {
        calls: r.get::<_, i64>(0) as u64,
        stored_bytes: r.get::<_, i64>(1) as u64,
        oldest: r.get(2),
        newest: r.get(3),
    })
}

/// For retention by size: the id up to which the oldest rows of `table` cover its excess
/// over `max` bytes (at most DELETE_CHUNK rows at a time), or `None` within the limit.
fn size_cutoff(
    client: &mut Client,
    table: &str,
    max: u64,
) -> Result<Option<String>, postgres::Error> {
    let total: i64 = client
        .query_one(
            &format!("SELECT coalesce(sum(stored_bytes), 0)::bigint FROM {table}"),
            &[],
        )?
        .get(0);
    let mut excess = total - max as i64;
    let mut cutoff = None;
    if excess > 0 {
        for r in client.query(
            &format!("SELECT id, stored_bytes FROM {table} ORDER BY id LIMIT $1"),
            &[&DELETE_CHUNK],
        )? {
            cutoff = Some(r.get::<_, String>(0));
            excess -= r.get::<_, i64>(1);
            if excess <= 0 {
                break;
            }
        }
    }
    Ok(cutoff)
}

/// An event from a row of [`EVENT_COLUMNS`].
fn event_row(r: &postgres::Row) -> Result<Event, StoreError> {
    event_from_columns(
        r.get(0),
        r.get(1),
        r.get(2),
        r.get(3),
        r.get(4),
        r.get(5),
        r.get(6),
        r.get(7),
        [r.get(8), r.get(9), r.get(10)],
        r.get(11),
        r.get(12),
        r.get(13),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};
    use std::time::Instant;

    use super::super::conformance::{backend_conformance, rows};
    use super::super::{Compression, Packer};
    use super::*;
    use crate::clock::now_micros;
    use crate::testkit::PgServer;

    fn store() -> (PgServer, Postgres) {
        let server = PgServer::start();
        let store = Postgres::open(&server.url).unwrap();
        (server, store)
    }

    backend_conformance!(store());

    fn sql(url: &str, statement: &str) {
        let url = url.to_string();
        let statement = statement.to_string();
        std::thread::spawn(move || {
            Client::connect(&url, NoTls)
                .unwrap()
                .batch_execute(&statement)
                .unwrap()
        })
        .join()
        .unwrap();
    }

    fn versions(url: &str) -> Vec<i64> {
        let mut client = Client::connect(url, NoTls).unwrap();
        client
            .query(
                "SELECT version FROM schema_migrations ORDER BY version",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    #[test]
    fn a_reopened_database_keeps_its_rows_and_schema_version() {
        let (server, store) = store();
        store.write(&rows(3, now_micros())).unwrap();
        drop(store);
        let again = Postgres::open(&server.url).unwrap();
        assert_eq!(again.stats().unwrap().calls, 3);
        let all: Vec<i64> = MIGRATIONS.iter().map(|m| m.0).collect();
        assert_eq!(versions(&server.url), all);
    }

    #[test]
    fn a_newer_schema_is_refused_with_advice() {
        let (server, store) = store();
        drop(store);
        sql(&server.url, "INSERT INTO schema_migrations VALUES (99, 0)");
        let err = Postgres::open(&server.url).err().unwrap().to_string();
        assert!(
            err.contains("schema is version 99, newer than this lookout knows"),
            "{err}"
        );
    }

    /// Two instances' first calls of an hour for the same rule, at the same moment: both
    /// counted (the hour's row was inserted by both, and one write failed).
    #[test]
    fn two_instances_add_to_a_new_hours_activity_at_once() {
        let (server, first) = store();
        let second = Postgres::open(&server.url).unwrap();
        // Early in this hour, so every call falls in it.
        let at = super::super::activity::hour_of(now_micros()) + 1000;
        let call = |n: usize, rule: &str| {
            let mut call =
                super::super::tests::sample_call(&crate::ids::new_id().to_string(), at + n as i64);
            call.rules.truncate(1);
            call.rules[0].rule = rule.into();
            Row::encode(&call, &mut Packer::default())
        };
        let rounds = 40;
        let barrier = std::sync::Barrier::new(2);
        let failed = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for (side, store) in [&first, &second].into_iter().enumerate() {
                let (barrier, failed) = (&barrier, &failed);
                s.spawn(move || {
                    for round in 0..rounds {
                        let row = call(round * 2 + side, &format!("rule{round}"));
                        barrier.wait();
                        // Kept, not unwrapped: the other side must reach the next barrier.
                        if let Err(e) = store.write(&[row]) {
                            failed.lock().unwrap().push(e.to_string());
                        }
                    }
                });
            }
        });
        assert!(
            failed.lock().unwrap().is_empty(),
            "{:?}",
            failed.lock().unwrap()
        );
        let rows = first
            .activity("default", at - super::super::activity::HOUR_US)
            .unwrap();
        assert_eq!(rows.len(), rounds, "{rows:?}");
        assert!(rows.iter().all(|(_, s)| s.calls == 2), "{rows:?}");
    }

    #[test]
    fn two_instances_on_one_database_see_each_others_calls() {
        let (server, first) = store();
        let second = Postgres::open(&server.url).unwrap();
        let batch = rows(4, now_micros());
        first.write(&batch[..2]).unwrap();
        second.write(&batch[2..]).unwrap();
        for store in [&first, &second] {
            let page = store
                .list(&Query {
                    limit: 10,
                    ..Query::default()
                })
                .unwrap();
            let ids: Vec<&str> = page.calls.iter().map(|c| c.id.as_str()).collect();
            let expected: Vec<&str> = batch.iter().rev().map(|r| r.id.as_str()).collect();
            assert_eq!(ids, expected);
            assert_eq!(store.get(&batch[0].id).unwrap(), Some(batch[0].as_stored()));
        }
    }

    #[test]
    fn instances_starting_at_once_create_the_schema_once() {
        let server = PgServer::start();
        let starting = 6;
        let barrier = Arc::new(Barrier::new(starting));
        let opened: Vec<_> = (0..starting)
            .map(|_| {
                let url = server.url.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    Postgres::open(&url)
                })
            })
            .collect();
        for handle in opened {
            let store = handle.join().unwrap().unwrap();
            assert_eq!(store.stats().unwrap().calls, 0);
        }
        let all: Vec<i64> = MIGRATIONS.iter().map(|m| m.0).collect();
        assert_eq!(versions(&server.url), all);
    }

    #[test]
    fn a_stopped_server_is_unavailable_and_writes_resume_when_it_is_back() {
        let mut server = PgServer::start_own();
        // With a password (trust authentication ignores it): no message may show it.
        let url = server.url.replacen("postgres@", "postgres:hunter2@", 1);
        let store = Postgres::open(&url).unwrap();
        let batch = rows(3, now_micros());
        store.write(&batch[..1]).unwrap();
        // Several pooled connections, all cut by the stop.
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| store.stats().unwrap());
            }
        });

        server.stop();
        for _ in 0..2 {
            let started = Instant::now();
            let err = store.write(&batch[1..2]).unwrap_err();
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{:?}",
                started.elapsed()
            );
            assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
            let text = err.to_string();
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("127.0.0.1"), "{text}");
        }
        assert!(matches!(store.stats(), Err(StoreError::Unavailable(_))));

        server.start_again();
        store.write(&batch[1..]).unwrap();
        assert_eq!(store.stats().unwrap().calls, 3);
        assert_eq!(store.get(&batch[2].id).unwrap(), Some(batch[2].as_stored()));
        assert!(!store.describe().contains("hunter2"));
    }

    #[test]
    fn a_connection_cut_under_a_pooled_client_is_replaced_in_the_same_call() {
        let (server, store) = store();
        let batch = rows(2, now_micros());
        store.write(&batch[..1]).unwrap();
        // Another session ends ours (as a failover or a restart would).
        sql(
            &server.url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'lookout'",
        );
        store.write(&batch[1..]).unwrap();
        assert_eq!(store.stats().unwrap().calls, 2);
    }

    #[test]
    fn calls_from_plain_threads_spawn_blocking_and_async_code_work() {
        let server = PgServer::start();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let batch = rows(3, now_micros());
        runtime.block_on(async {
            // Application::build opens the store on an async thread.
            let store: Arc<Postgres> = Arc::new(Postgres::open(&server.url).unwrap());
            let from_pool = {
                let store = store.clone();
                let rows = batch[..1].to_vec();
                tokio::task::spawn_blocking(move || store.write(&rows))
            };
            from_pool.await.unwrap().unwrap();
            let plain = {
                let store = store.clone();
                let rows = batch[1..].to_vec();
                std::thread::spawn(move || store.write(&rows))
            };
            plain.join().unwrap().unwrap();
            let reader = store.clone();
            let stats = tokio::task::spawn_blocking(move || reader.stats())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(stats.calls, 3);
            // The last handle goes on an async thread, at shutdown.
            drop(store);
        });
    }

    #[test]
    fn a_nul_in_text_is_kept_as_a_replacement_character() {
        let (_server, store) = store();
        let mut batch = rows(2, now_micros());
        batch[0].ruleset = "bad\0name".into();
        batch[0].estimate_id = Some("ocean\0star".into());
        store.write(&batch).unwrap();
        let back = store.get(&batch[0].id).unwrap().unwrap();
        assert_eq!(back.ruleset, "bad\u{fffd}name");
        assert_eq!(back.estimate_id.as_deref(), Some("ocean\u{fffd}star"));
        assert_eq!(store.get(&batch[1].id).unwrap(), Some(batch[1].as_stored()));
    }

    #[test]
    fn descriptions_never_show_a_password() {
        assert_eq!(
            describe("postgres://log:s3cret@db.example:5432/lookout"),
            "postgres://log@db.example:5432/lookout"
        );
        assert_eq!(
            describe("postgres://log@db/lookout?password=s3cret&sslmode=disable"),
            "postgres://log@db/lookout?sslmode=disable"
        );
        assert_eq!(
            describe("postgresql://db/lookout?password=s3cret"),
            "postgresql://db/lookout"
        );
        let err = Postgres::open("postgres://log:s3cret@127.0.0.1:1/lookout")
            .err()
            .unwrap()
            .to_string();
        assert!(
            !err.contains("s3cret") && err.contains("127.0.0.1:1"),
            "{err}"
        );
    }

    #[test]
    fn the_test_dump_shows_what_reached_the_table_even_when_compressed() {
        let (server, store) = store();
        let mut call = super::super::tests::sample_call(&uuid::Uuid::now_v7().to_string(), 1);
        call.request_body = format!("{{\"note\":\"{}\"}}", "canary-4711 ".repeat(100))
            .into_bytes()
            .into();
        call.request_headers
            .push(("x-canary".into(), "header-canary".into()));
        let lz4 = Row::encode(&call, &mut Packer::new(Compression::Lz4));
        assert_eq!(lz4.request_body.encoding, Encoding::Lz4);
        let mut zstd_call = call.clone();
        zstd_call.id = uuid::Uuid::now_v7().to_string();
        zstd_call.request_body = format!("{{\"note\":\"{}\"}}", "canary-0815 ".repeat(100))
            .into_bytes()
            .into();
        let zstd = Row::encode(&zstd_call, &mut Packer::new(Compression::Zstd));
        assert_eq!(zstd.request_body.encoding, Encoding::Zstd);
        store.write(&[lz4, zstd]).unwrap();
        let dump = server.dump_calls_text();
        assert!(dump.contains("canary-4711 canary-4711"), "{dump}");
        assert!(dump.contains("canary-0815 canary-0815"), "{dump}");
        assert!(dump.contains("header-canary"), "{dump}");
        assert!(dump.contains(&format!("id: {}", call.id)), "{dump}");
        assert!(dump.contains("estimate_id: EST-1\n"), "{dump}");
        assert!(dump.contains("problem: true\n"), "{dump}");
    }
}
