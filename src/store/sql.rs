//! The SQL both backends speak. SQLite and PostgreSQL differ only in how a parameter is
//! written (`?1`, `$1`), in `problem`'s type and in how a statement is run; what a
//! query means (the calls' list and its text search, the events' pages) is written
//! once, here, and each backend runs it through [`CallRows`] or [`events_sql`].

use super::search::{self, Needle};
use super::{Event, EventPage, EventQuery, Page, Query, StoreError, Summary};
use crate::ids::{id_floor, valid_id};

/// A query parameter, for either store.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
    /// A 32-bit column (PostgreSQL `integer`; SQLite stores any integer).
    Int32(i32),
}

/// A WHERE clause being built: `?` in a clause marks a parameter, written as the
/// backend's numbered placeholder by `mark(n)` (1-based).
#[derive(Clone)]
pub(crate) struct Filter {
    clauses: Vec<String>,
    pub params: Vec<Param>,
    mark: fn(usize) -> String,
}

impl Filter {
    pub fn new(mark: fn(usize) -> String) -> Filter {
        Filter {
            clauses: Vec::new(),
            params: Vec::new(),
            mark,
        }
    }

    pub fn push(&mut self, clause: &str, values: Vec<Param>) {
        let mut pieces = clause.split('?');
        let mut out = pieces.next().unwrap_or_default().to_string();
        for (value, piece) in values.into_iter().zip(pieces) {
            self.params.push(value);
            out.push_str(&(self.mark)(self.params.len()));
            out.push_str(piece);
        }
        self.clauses.push(out);
    }

    /// `WHERE a AND b`, or nothing.
    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }
}

/// The columns of a [`Summary`], in the order each backend's `summary` reads them.
pub(crate) const SUMMARY_COLUMNS: &str = "id, received_at, instance, ruleset, status, duration_us, estimate_id, alerts, rule_errors, rule_timeouts, error, request_size";

/// What a backend runs for the calls' list; [`list_calls`] says what to run.
pub(crate) trait CallRows {
    /// The backend's own error (a broken connection is retried by the caller).
    type Error;
    /// The n-th placeholder: `?1`, `$1`.
    const MARK: fn(usize) -> String;
    /// "Has a problem": a 0/1 integer in SQLite, a boolean in PostgreSQL.
    const PROBLEM: &'static str;
    /// The id and time of the one row a `SELECT id, received_at` gives, if any.
    fn floor(&mut self, sql: &str, params: &[Param]) -> Result<Option<(String, i64)>, Self::Error>;
    /// The rows of a `SELECT {SUMMARY_COLUMNS}`.
    fn summaries(&mut self, sql: &str, params: &[Param]) -> Result<Vec<Summary>, Self::Error>;
    /// The rows of a `SELECT {SUMMARY_COLUMNS}, request_encoding, request_body,
    /// request_base`, with the stored bases those name.
    fn scanned(&mut self, sql: &str, params: &[Param]) -> Result<search::Chunk, StoreError>;
}

/// One page of the calls' list, newest first: by the filters, or a text search
/// ([`search::text_page`]) over a window of them.
pub(crate) fn list_calls<R: CallRows>(
    db: &mut R,
    query: &Query,
) -> Result<Result<Page, StoreError>, R::Error> {
    if let Some(before) = &query.before {
        if !valid_id(before) {
            return Ok(Err(StoreError::BadQuery(format!(
                "`before={before}` is not a call id; use the `next` value of the previous page"
            ))));
        }
    }
    let limit = query.limit.clamp(1, 1000);
    let mut filter = Filter::new(R::MARK);
    if let Some(ruleset) = &query.ruleset {
        filter.push("ruleset = ?", vec![Param::Text(ruleset.clone())]);
    }
    if let Some(status) = query.status {
        filter.push("status = ?", vec![Param::Int32(i32::from(status))]);
    }
    if query.problems {
        filter.push(R::PROBLEM, vec![]);
    }
    if let Some(since) = query.since {
        filter.push("id >= ?", vec![Param::Text(id_floor(since))]);
    }
    if let Some(until) = query.until {
        filter.push("id < ?", vec![Param::Text(id_floor(until))]);
    }
    let needle = query
        .text
        .as_deref()
        .map(Needle::new)
        .filter(|n| !n.is_empty());
    if let Some(needle) = needle {
        // A text search reads at most TEXT_SCAN_WINDOW calls (of those the other
        // filters let through) per page: find the oldest id of that window first.
        let mut window = filter.clone();
        if let Some(before) = &query.before {
            window.push("id < ?", vec![Param::Text(before.clone())]);
        }
        let sql = format!(
            "SELECT id, received_at FROM calls {} ORDER BY id DESC LIMIT 1 OFFSET {}",
            window.sql(),
            search::TEXT_SCAN_WINDOW - 1
        );
        let floor = db.floor(&sql, &window.params)?;
        if let Some((id, _)) = &floor {
            filter.push("id >= ?", vec![Param::Text(id.clone())]);
        }
        return Ok(search::text_page(query, &needle, floor, |cursor, n| {
            let mut filter = filter.clone();
            if let Some(cursor) = cursor {
                filter.push("id < ?", vec![Param::Text(cursor.to_string())]);
            }
            let sql = format!(
                "SELECT {SUMMARY_COLUMNS}, request_encoding, request_body, request_base FROM calls {} ORDER BY id DESC LIMIT {n}",
                filter.sql()
            );
            db.scanned(&sql, &filter.params)
        }));
    }
    if let Some(before) = &query.before {
        filter.push("id < ?", vec![Param::Text(before.clone())]);
    }
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM calls {} ORDER BY id DESC LIMIT {}",
        filter.sql(),
        limit + 1
    );
    let mut calls = db.summaries(&sql, &filter.params)?;
    let more = calls.len() > limit;
    calls.truncate(limit);
    Ok(Ok(Page {
        next: calls.last().filter(|_| more).map(|c| c.id.clone()),
        calls,
        searched_to: None,
    }))
}

/// The columns both stores keep an event in, in the order [`event_from_columns`] reads.
pub(crate) const EVENT_COLUMNS: &str = "e.id, e.received_at, e.source, e.kind, e.event, e.known, e.at, e.occurred_at, e.containers, e.vessels, e.ports, e.delivery, e.dedupe, e.payload";

/// The SELECT for one page of events (one row more than the page, to know whether
/// there is a next), with `mark(n)` writing the n-th placeholder (1-based).
pub(crate) fn events_sql(
    query: &EventQuery,
    mark: fn(usize) -> String,
) -> Result<(String, Vec<Param>), StoreError> {
    let mut filter = Filter::new(mark);
    let (from, time, id) = match &query.key {
        Some(key) => {
            let (kind, value) = key.parts();
            filter.push("k.kind = ?", vec![Param::Text(kind.into())]);
            filter.push("k.key = ?", vec![Param::Text(value)]);
            (
                "event_keys k JOIN events e ON e.id = k.event_id",
                "k.sort_at",
                "k.event_id",
            )
        }
        None => ("events e", "e.sort_at", "e.id"),
    };
    if let Some(source) = &query.source {
        filter.push("e.source = ?", vec![Param::Text(source.clone())]);
    }
    if let Some(event) = &query.event {
        filter.push("e.event = ?", vec![Param::Text(event.clone())]);
    }
    if let Some(kind) = &query.kind {
        filter.push("e.kind = ?", vec![Param::Text(kind.clone())]);
    }
    if let Some(since) = query.since {
        filter.push(&format!("{time} >= ?"), vec![Param::Int(since)]);
    }
    if let Some(until) = query.until {
        filter.push(&format!("{time} < ?"), vec![Param::Int(until)]);
    }
    if let Some(by) = query.received_by {
        filter.push("e.received_at <= ?", vec![Param::Int(by)]);
    }
    if let Some(before) = &query.before {
        let (at, after_id) = crate::events::parse_cursor(before).ok_or_else(|| {
            StoreError::BadQuery(format!(
                "`before={before}` is not an events cursor; use the `next` value of the previous page"
            ))
        })?;
        filter.push(
            &format!("({time} < ? OR ({time} = ? AND {id} < ?))"),
            vec![Param::Int(at), Param::Int(at), Param::Text(after_id)],
        );
    }
    let limit = query.limit.clamp(1, 1000) + 1;
    Ok((
        format!(
            "SELECT {EVENT_COLUMNS} FROM {from} {} ORDER BY {time} DESC, {id} DESC LIMIT {limit}",
            filter.sql()
        ),
        filter.params,
    ))
}

/// One page from the rows a query gave (one more than the page when there is a next).
pub(crate) fn events_page(mut events: Vec<Event>, query: &EventQuery) -> EventPage {
    let limit = query.limit.clamp(1, 1000);
    let next = (events.len() > limit).then(|| {
        events.truncate(limit);
        crate::events::cursor(events.last().expect("a full page"))
    });
    EventPage { events, next }
}

/// The event in a row of [`EVENT_COLUMNS`], its list columns as JSON text.
#[allow(clippy::too_many_arguments)]
pub(crate) fn event_from_columns(
    id: String,
    received_at: i64,
    source: String,
    kind: String,
    event: String,
    known: bool,
    at: Option<String>,
    occurred_at: Option<i64>,
    lists: [String; 3],
    delivery: Option<String>,
    dedupe: String,
    payload: String,
) -> Result<Event, StoreError> {
    let corrupt = |what: &str, e: serde_json::Error| {
        StoreError::Corrupt(format!("event {id}: its {what} do not read back: {e}"))
    };
    let [containers, vessels, ports] = lists;
    Ok(Event {
        containers: serde_json::from_str(&containers).map_err(|e| corrupt("containers", e))?,
        vessels: serde_json::from_str(&vessels).map_err(|e| corrupt("vessels", e))?,
        ports: serde_json::from_str(&ports).map_err(|e| corrupt("ports", e))?,
        id,
        received_at,
        source,
        kind,
        event,
        known,
        at,
        occurred_at,
        delivery,
        dedupe,
        payload,
    })
}

/// An event's list columns as JSON text: containers, vessels, ports.
pub(crate) fn event_lists(event: &Event) -> [String; 3] {
    [
        serde_json::to_string(&event.containers).expect("strings"),
        serde_json::to_string(&event.vessels).expect("plain data"),
        serde_json::to_string(&event.ports).expect("strings"),
    ]
}

/// A draft's or a publish's files, stored as JSON text.
pub fn files_from_text(text: &str) -> Result<serde_json::Value, super::StoreError> {
    serde_json::from_str(text)
        .map_err(|e| super::StoreError::Corrupt(format!("a stored file set is not JSON: {e}")))
}

/// An instance's row, its JSON columns read.
pub fn instance(
    name: String,
    started_at: i64,
    seen_at: i64,
    serving: &str,
    problems: &str,
) -> Result<super::Instance, super::StoreError> {
    let corrupt = |e: serde_json::Error| {
        super::StoreError::Corrupt(format!("instance {name}'s row does not read: {e}"))
    };
    Ok(super::Instance {
        serving: serde_json::from_str(serving).map_err(corrupt)?,
        problems: serde_json::from_str(problems).map_err(corrupt)?,
        name,
        started_at,
        seen_at,
    })
}
