//! The request/response log: what every `/hooks/*` call received and answered, and
//! why each rule did what it did.
//!
//! Three layers:
//! - [`Call`]: one call as the viewer, the API and the CLI see it (bodies as bytes);
//! - [`Row`]: the same call as a backend stores it (bodies compressed, trace as JSON);
//! - [`Backend`]: a database that keeps rows (SQLite by default, PostgreSQL for several
//!   instances). Backends only map columns; encoding, redaction and queries' meaning
//!   live here, so both backends keep the same records.
//!
//! Backends are synchronous: the recorder writes from its own thread and HTTP handlers
//! read through `spawn_blocking`.

#[cfg(test)]
mod conformance;
pub mod delta;
pub mod postgres;
pub mod recorder;
pub mod redact;
pub mod search;
pub mod sqlite;

use std::sync::Arc;

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

/// How many of the newest calls a text search reads per page before it answers with
/// what it found and a cursor to go on: a search never scans a million records at once
/// (see [`search`]).
pub const TEXT_SCAN_WINDOW: usize = 5_000;

/// Calls a text search fetches from the database at a time.
const TEXT_SCAN_CHUNK: usize = 200;

/// One call as a text search reads it: its summary, its stored request body and the
/// base that body is a difference from, if any.
pub(crate) struct Scanned {
    pub summary: Summary,
    pub body: Blob,
    pub base: Option<String>,
}

/// A chunk of a text search: the calls, and the stored bases their bodies name.
pub(crate) type Chunk = (Vec<Scanned>, Vec<(String, Blob)>);

/// One page of a text search, the same for every backend. `floor` is the oldest call
/// of this page's window (`None` when the window reaches the oldest call); `fetch`
/// returns up to `n` calls that pass the other filters, newest first, older than
/// `cursor` when given and not older than the floor, with their stored request bodies
/// and the bases those name.
pub(crate) fn text_page(
    query: &Query,
    needle: &search::Needle,
    floor: Option<(String, i64)>,
    mut fetch: impl FnMut(Option<&str>, usize) -> Result<Chunk, StoreError>,
) -> Result<Page, StoreError> {
    let limit = query.limit.clamp(1, 1000);
    let mut cursor = query.before.clone();
    let mut calls = Vec::new();
    'scan: loop {
        let (rows, stored_bases) = fetch(cursor.as_deref(), TEXT_SCAN_CHUNK)?;
        let last_chunk = rows.len() < TEXT_SCAN_CHUNK;
        // Each base decoded once per chunk, not once per call that names it.
        let mut bases = std::collections::HashMap::new();
        for (id, blob) in stored_bases {
            bases.insert(id, blob.decode()?);
        }
        for Scanned {
            summary,
            body,
            base,
        } in rows
        {
            cursor = Some(summary.id.clone());
            let base = base
                .as_ref()
                .and_then(|id| bases.get(id))
                .map(Vec::as_slice);
            let bytes = body.decode_on(base, &summary.id)?;
            if needle.found_in_bytes(&bytes) {
                calls.push(summary);
                if calls.len() > limit {
                    break 'scan;
                }
            }
        }
        if last_chunk {
            break;
        }
    }
    Ok(if calls.len() > limit {
        calls.truncate(limit);
        Page {
            next: calls.last().map(|c| c.id.clone()),
            calls,
            searched_to: None,
        }
    } else if let Some((id, at)) = floor {
        Page {
            calls,
            next: Some(id),
            searched_to: Some(at),
        }
    } else {
        Page {
            calls,
            next: None,
            searched_to: None,
        }
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub calls: Vec<Summary>,
    /// Pass as `before` for the next (older) page; `None` at the oldest call.
    pub next: Option<String>,
    /// For text searches: the oldest call looked at, when the search stopped early.
    pub searched_to: Option<i64>,
}

/// The stored form of a call (what a backend reads and writes).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: String,
    pub received_at: i64,
    pub instance: String,
    pub ruleset: String,
    pub rules_version: Option<String>,
    pub peer: String,
    pub status: i32,
    pub signature: String,
    pub duration_us: i64,
    pub estimate_id: Option<String>,
    pub alerts: i32,
    pub omitted: i32,
    pub rule_errors: i32,
    pub rule_timeouts: i32,
    pub problem: bool,
    pub error: Option<String>,
    /// JSON: `[[name, value], ...]`.
    pub request_headers: String,
    /// JSON: `["header:x", "body:/p", ...]`.
    pub redacted: String,
    pub request_size: i64,
    pub request_truncated: bool,
    /// The request body; an [`Encoding::Delta`] from the base `request_base` when set.
    pub request_body: Blob,
    /// The id in `bodies` of the base the request body is a difference from.
    pub request_base: Option<String>,
    /// That base as stored, when this row carries it: a row that stores a new base
    /// (written with it), or a row read back with its base.
    pub base_body: Option<Blob>,
    pub response_body: Blob,
    /// JSON of `Vec<RuleTrace>`, compressed like the bodies.
    pub trace: Blob,
    /// Bytes this row takes in the store, roughly (retention by size).
    pub stored_bytes: i64,
}

/// Bytes as stored, with how to get the original back.
#[derive(Debug, Clone, PartialEq)]
pub struct Blob {
    pub encoding: Encoding,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Zstd,
    /// An LZ4 block with the decoded length before it (4 bytes, little-endian).
    Lz4,
    /// A difference from a base body ([`delta`]); only for request bodies.
    Delta,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Zstd => "zstd",
            Encoding::Lz4 => "lz4",
            Encoding::Delta => "delta",
        }
    }

    pub fn parse(text: &str) -> Result<Encoding, StoreError> {
        match text {
            "identity" => Ok(Encoding::Identity),
            "zstd" => Ok(Encoding::Zstd),
            "lz4" => Ok(Encoding::Lz4),
            "delta" => Ok(Encoding::Delta),
            other => Err(StoreError::Corrupt(format!(
                "unknown body encoding `{other}`; this record was written by a newer lookout"
            ))),
        }
    }
}

/// Bodies smaller than this are stored as they are: compressing them saves little.
const COMPRESS_FROM: usize = 512;
/// Largest body a record may decompress to (a stored body is at most `max_request_bytes`).
const MAX_DECOMPRESSED: usize = 64 << 20;

/// Compresses bodies for storing; one per writer thread (it keeps zstd's context and,
/// for the recorder, the bases request bodies are stored against).
pub struct Packer {
    compression: Compression,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    bases: Option<delta::Bases>,
}

impl Packer {
    /// Every body stored on its own.
    pub fn new(compression: Compression) -> Packer {
        let zstd = (compression == Compression::Zstd)
            .then(|| zstd::bulk::Compressor::new(1).expect("zstd level 1"));
        Packer {
            compression,
            zstd,
            bases: None,
        }
    }

    /// Request bodies of 4 KB and more with an estimate id are stored as a difference
    /// from a base of the same rule set and estimate ([`delta`]), unless compression
    /// is off. The rows must be written in the order they were encoded.
    pub fn with_deltas(compression: Compression) -> Packer {
        Packer {
            bases: (compression != Compression::None).then(delta::Bases::default),
            ..Packer::new(compression)
        }
    }

    /// Forgets the bases: call it when rows it encoded were not written.
    pub fn forget_bases(&mut self) {
        if let Some(bases) = &mut self.bases {
            bases.forget();
        }
    }

    /// The request body as stored: `(body, base id, new base)`.
    fn request(&mut self, call: &Call) -> (Blob, Option<String>, Option<Blob>) {
        let body = &call.request_body;
        let estimate = call
            .estimate_id
            .as_deref()
            .filter(|_| !call.request_truncated && body.len() >= delta::DELTA_FROM);
        let Some(estimate) = estimate.filter(|_| self.bases.is_some()) else {
            return (Blob::encode(body, self), None, None);
        };
        let mut bases = self.bases.take().expect("checked");
        let stored = match bases.store(&call.ruleset, estimate, call.received_at, body) {
            delta::Stored::Delta { base, delta } => (
                Blob {
                    encoding: Encoding::Delta,
                    bytes: delta,
                },
                Some(base),
                None,
            ),
            delta::Stored::NewBase => {
                let full = Blob::encode(body, self);
                bases.remember(&call.ruleset, estimate, &call.id, call.received_at, body);
                (
                    Blob {
                        encoding: Encoding::Delta,
                        bytes: delta::whole(body.len()),
                    },
                    Some(call.id.clone()),
                    Some(full),
                )
            }
        };
        self.bases = Some(bases);
        stored
    }

    fn pack(&mut self, bytes: &[u8]) -> Option<(Encoding, Vec<u8>)> {
        match self.compression {
            Compression::None => None,
            Compression::Lz4 => {
                Some((Encoding::Lz4, lz4_flex::block::compress_prepend_size(bytes)))
            }
            Compression::Zstd => {
                let packed = self.zstd.as_mut()?.compress(bytes).ok()?;
                Some((Encoding::Zstd, packed))
            }
        }
    }
}

impl Default for Packer {
    fn default() -> Self {
        Packer::new(Compression::default())
    }
}

impl Blob {
    pub fn encode(bytes: &[u8], packer: &mut Packer) -> Blob {
        if bytes.len() >= COMPRESS_FROM {
            if let Some((encoding, packed)) = packer.pack(bytes) {
                if packed.len() < bytes.len() {
                    return Blob {
                        encoding,
                        bytes: packed,
                    };
                }
            }
        }
        Blob {
            encoding: Encoding::Identity,
            bytes: bytes.to_vec(),
        }
    }

    /// The exact bytes, with the decoded base when this is a difference; errors name
    /// the record `id`.
    pub fn decode_on(&self, base: Option<&[u8]>, id: &str) -> Result<Vec<u8>, StoreError> {
        match (self.encoding, base) {
            (Encoding::Delta, Some(base)) => delta::apply(base, &self.bytes),
            _ => self.decode(),
        }
        .map_err(|e| match e {
            StoreError::Corrupt(why) => StoreError::Corrupt(format!("record {id}: {why}")),
            other => other,
        })
    }

    /// The exact bytes that were encoded. A [`Encoding::Delta`] needs its base: see
    /// [`Blob::decode_on`].
    pub fn decode(&self) -> Result<Vec<u8>, StoreError> {
        let corrupt = |e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("a compressed body does not decode: {e}"))
        };
        match self.encoding {
            Encoding::Identity => Ok(self.bytes.clone()),
            Encoding::Delta => Err(corrupt(&"it is a difference stored without its base")),
            Encoding::Zstd => {
                zstd::bulk::decompress(&self.bytes, MAX_DECOMPRESSED).map_err(|e| corrupt(&e))
            }
            Encoding::Lz4 => {
                let (size, packed) =
                    lz4_flex::block::uncompressed_size(&self.bytes).map_err(|e| corrupt(&e))?;
                if size > MAX_DECOMPRESSED {
                    return Err(corrupt(&format!(
                        "it claims {size} bytes, more than the {MAX_DECOMPRESSED} a body can have"
                    )));
                }
                let plain = lz4_flex::block::decompress(packed, size).map_err(|e| corrupt(&e))?;
                if plain.len() != size {
                    return Err(corrupt(&format!(
                        "it gives {} bytes where it claims {size}",
                        plain.len()
                    )));
                }
                Ok(plain)
            }
        }
    }
}

impl Row {
    /// Encodes a call for storing.
    pub fn encode(call: &Call, packer: &mut Packer) -> Row {
        let trace = serde_json::to_vec(&call.rules).expect("traces serialize");
        let (request_body, request_base, base_body) = packer.request(call);
        let response_body = Blob::encode(&call.response_body, packer);
        let trace = Blob::encode(&trace, packer);
        let request_headers = serde_json::to_string(&call.request_headers).expect("strings");
        let redacted = serde_json::to_string(&call.redacted).expect("strings");
        let stored_bytes = (request_body.bytes.len()
            + base_body.as_ref().map_or(0, |b| b.bytes.len())
            + response_body.bytes.len()
            + trace.bytes.len()
            + request_headers.len()
            + 256) as i64;
        Row {
            id: call.id.clone(),
            received_at: call.received_at,
            instance: call.instance.clone(),
            ruleset: call.ruleset.clone(),
            rules_version: call.rules_version.clone(),
            peer: call.peer.clone(),
            status: i32::from(call.status),
            signature: call.signature.clone(),
            duration_us: call.duration_us,
            estimate_id: call.estimate_id.clone(),
            alerts: call.alerts as i32,
            omitted: call.omitted as i32,
            rule_errors: call.rule_errors as i32,
            rule_timeouts: call.rule_timeouts as i32,
            problem: call.status != 200 || call.rule_errors > 0 || call.rule_timeouts > 0,
            error: call.error.clone(),
            request_headers,
            redacted,
            request_size: call.request_size as i64,
            request_truncated: call.request_truncated,
            request_body,
            request_base,
            base_body,
            response_body,
            trace,
            stored_bytes,
        }
    }

    /// The request body as received (after redaction).
    pub fn request(&self) -> Result<Vec<u8>, StoreError> {
        if self.request_body.encoding != Encoding::Delta {
            return self.request_body.decode();
        }
        let base = self.base_body.as_ref().ok_or_else(|| {
            StoreError::Corrupt(format!(
                "record {}: its request body is a difference from stored body {}, which is missing; the bodies table was changed outside lookout",
                self.id,
                self.request_base.as_deref().unwrap_or("(none)")
            ))
        })?;
        self.request_body.decode_on(Some(&base.decode()?), &self.id)
    }

    pub fn decode(&self) -> Result<Call, StoreError> {
        let json = |what: &str, text: &[u8]| {
            StoreError::Corrupt(format!(
                "record {}: its {what} is not the JSON lookout writes ({}); the row was changed outside lookout",
                self.id,
                String::from_utf8_lossy(&text[..text.len().min(60)])
            ))
        };
        let trace = self.trace.decode()?;
        Ok(Call {
            id: self.id.clone(),
            received_at: self.received_at,
            instance: self.instance.clone(),
            ruleset: self.ruleset.clone(),
            rules_version: self.rules_version.clone(),
            peer: self.peer.clone(),
            status: self.status as u16,
            signature: self.signature.clone(),
            duration_us: self.duration_us,
            estimate_id: self.estimate_id.clone(),
            alerts: self.alerts as u32,
            omitted: self.omitted as u32,
            rule_errors: self.rule_errors as u32,
            rule_timeouts: self.rule_timeouts as u32,
            error: self.error.clone(),
            request_headers: serde_json::from_str(&self.request_headers)
                .map_err(|_| json("request headers", self.request_headers.as_bytes()))?,
            redacted: serde_json::from_str(&self.redacted)
                .map_err(|_| json("redaction list", self.redacted.as_bytes()))?,
            request_size: self.request_size as u64,
            request_body: self.request()?.into(),
            request_truncated: self.request_truncated,
            response_body: self.response_body.decode()?,
            rules: serde_json::from_slice(&trace).map_err(|_| json("rule trace", &trace))?,
        })
    }

    pub fn summary(&self) -> Summary {
        Summary {
            id: self.id.clone(),
            received_at: self.received_at,
            instance: self.instance.clone(),
            ruleset: self.ruleset.clone(),
            status: self.status as u16,
            duration_us: self.duration_us,
            estimate_id: self.estimate_id.clone(),
            alerts: self.alerts as u32,
            rule_errors: self.rule_errors as u32,
            rule_timeouts: self.rule_timeouts as u32,
            error: self.error.clone(),
            request_size: self.request_size as u64,
        }
    }
}

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

/// A database that keeps the log. See the module docs.
pub use crate::events::{Event, EventPage, EventQuery, Ingested};

/// The columns both stores keep an event in, in the order [`event_from_columns`] reads.
pub(crate) const EVENT_COLUMNS: &str = "e.id, e.received_at, e.source, e.kind, e.event, e.known, e.at, e.occurred_at, e.containers, e.vessels, e.ports, e.delivery, e.dedupe, e.payload";

/// A query parameter, for either store.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
}

/// The SELECT for one page of events (one row more than the page, to know whether
/// there is a next), with `mark(n)` writing the n-th placeholder (1-based).
pub(crate) fn events_sql(
    query: &EventQuery,
    mark: impl Fn(usize) -> String,
) -> Result<(String, Vec<Param>), StoreError> {
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    let mut push = |clause: &str, values: Vec<Param>| {
        // `?` marks a parameter; each becomes the backend's numbered placeholder.
        let mut pieces = clause.split('?');
        let mut out = pieces.next().unwrap_or_default().to_string();
        for (value, piece) in values.into_iter().zip(pieces) {
            params.push(value);
            out.push_str(&mark(params.len()));
            out.push_str(piece);
        }
        clauses.push(out);
    };
    let (from, time, id) = match &query.key {
        Some(key) => {
            let (kind, value) = key.parts();
            push("k.kind = ?", vec![Param::Text(kind.into())]);
            push("k.key = ?", vec![Param::Text(value)]);
            (
                "event_keys k JOIN events e ON e.id = k.event_id",
                "k.sort_at",
                "k.event_id",
            )
        }
        None => ("events e", "e.sort_at", "e.id"),
    };
    if let Some(source) = &query.source {
        push("e.source = ?", vec![Param::Text(source.clone())]);
    }
    if let Some(event) = &query.event {
        push("e.event = ?", vec![Param::Text(event.clone())]);
    }
    if let Some(kind) = &query.kind {
        push("e.kind = ?", vec![Param::Text(kind.clone())]);
    }
    if let Some(since) = query.since {
        push(&format!("{time} >= ?"), vec![Param::Int(since)]);
    }
    if let Some(until) = query.until {
        push(&format!("{time} < ?"), vec![Param::Int(until)]);
    }
    if let Some(by) = query.received_by {
        push("e.received_at <= ?", vec![Param::Int(by)]);
    }
    if let Some(before) = &query.before {
        let (at, after_id) = crate::events::parse_cursor(before).ok_or_else(|| {
            StoreError::BadQuery(format!(
                "`before={before}` is not an events cursor; use the `next` value of the previous page"
            ))
        })?;
        push(
            &format!("({time} < ? OR ({time} = ? AND {id} < ?))"),
            vec![Param::Int(at), Param::Int(at), Param::Text(after_id)],
        );
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let limit = query.limit.clamp(1, 1000) + 1;
    Ok((
        format!("SELECT {EVENT_COLUMNS} FROM {from} {filter} ORDER BY {time} DESC, {id} DESC LIMIT {limit}"),
        params,
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
