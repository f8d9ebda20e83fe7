//! Port events: what Octopi (a terminal operating system) and PortConnect (New
//! Zealand's port community system) push by webhook, kept so rules can check an
//! estimate against what is actually happening at the port.
//!
//! The flow: `POST /events/<source>` → authenticate (HMAC for Octopi, a shared token for
//! PortConnect, both constant time) → parse every item, all or nothing
//! ([`octopi::parse`], [`portconnect::parse`]) → one durable transaction in the log's
//! store (duplicates dropped by [`Event::dedupe`]) → 2xx. Rules read them back through
//! [`crate::rules::facts`]: the events for a container, a vessel or a port, newest first.
//!
//! Each event is indexed under the keys it is about ([`Event::keys`]): its container
//! numbers, its vessels' IMO numbers and names, its ports, each normalised
//! ([`normalize_container`], [`normalize_name`]) so that a rule's lookup and the
//! sender's spelling meet.
//!
//! This module knows nothing of HTTP or SQL.

pub mod octopi;
pub mod portconnect;

use serde::{Deserialize, Serialize};

pub use crate::config::EventsSettings as Settings;

/// Where events come from.
pub const SOURCES: &[&str] = &["octopi", "portconnect"];

/// One stored port event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// UUIDv7, in the order events were received.
    pub id: String,
    /// Microseconds since the epoch.
    pub received_at: i64,
    /// `octopi` or `portconnect`.
    pub source: String,
    /// `terminal` (Octopi), `container` or `vessel` (PortConnect container visit and
    /// vessel schedule events).
    pub kind: String,
    /// The event's canonical name: Octopi's in snake_case (`cargo_gated_in`),
    /// PortConnect's code in upper case (`GATEIN`, `VESSELETACHANGED`).
    pub event: String,
    /// Whether the name is one the source documents (an unknown one is kept as sent,
    /// normalised).
    pub known: bool,
    /// When it happened, as the sender wrote it (RFC 3339, its offset kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// The same instant in microseconds since the epoch: the order of "newest first".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<i64>,
    /// Container numbers, upper case without spaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vessels: Vec<Vessel>,
    /// Port codes (UN/LOCODE as the sender gives them), upper case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    /// Octopi's `X-Octopi-Delivery`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
    /// What makes two deliveries the same event (see each source's `parse`).
    pub dedupe: String,
    /// The event as received: the JSON text of the item, byte for byte.
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vessel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imo: Option<i64>,
    /// Upper case, single spaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the vessel is to the event: `inbound`, `outbound` or `vessel`.
    pub role: String,
}

/// A key an event is found by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Container(String),
    Imo(i64),
    VesselName(String),
    Port(String),
}

impl Key {
    /// The column pair the stores index: (kind, value).
    pub fn parts(&self) -> (&'static str, String) {
        match self {
            Key::Container(c) => ("container", c.clone()),
            Key::Imo(n) => ("imo", n.to_string()),
            Key::VesselName(n) => ("vessel", n.clone()),
            Key::Port(p) => ("port", p.clone()),
        }
    }
}

impl Event {
    /// The time "newest first" sorts by: when it happened, or when it arrived.
    pub fn sort_at(&self) -> i64 {
        self.occurred_at.unwrap_or(self.received_at)
    }

    /// Every key this event is found by, without repeats.
    pub fn keys(&self) -> Vec<Key> {
        let mut keys: Vec<Key> = self
            .containers
            .iter()
            .map(|c| Key::Container(c.clone()))
            .chain(self.vessels.iter().flat_map(|v| {
                v.imo
                    .map(Key::Imo)
                    .into_iter()
                    .chain(v.name.clone().map(Key::VesselName))
            }))
            .chain(self.ports.iter().map(|p| Key::Port(p.clone())))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Bytes this event takes in the store, roughly (retention by size).
    pub fn stored_bytes(&self) -> i64 {
        (self.payload.len() + self.dedupe.len() + 64 * self.keys().len() + 256) as i64
    }
}

/// Which events to list, newest first (by [`Event::sort_at`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventQuery {
    pub source: Option<String>,
    /// `terminal`, `container` or `vessel`.
    pub kind: Option<String>,
    /// A canonical name (see [`canonical_event`]).
    pub event: Option<String>,
    /// Found by this key (container, vessel or port).
    pub key: Option<Key>,
    /// Microseconds since the epoch, inclusive, on the sort time.
    pub since: Option<i64>,
    /// Exclusive.
    pub until: Option<i64>,
    /// Only events received at or before this (µs): what a past call could see.
    pub received_by: Option<i64>,
    /// Continue after this cursor (the previous page's `next`).
    pub before: Option<String>,
    pub limit: usize,
}

/// One page of events.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// The cursor for the next page, when there may be one.
    pub next: Option<String>,
}

/// What one intake call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Ingested {
    /// New events stored.
    pub stored: usize,
    /// Events already in the store (or repeated within the call), not stored again.
    pub duplicates: usize,
}

/// The cursor after `event` in "newest first" order.
pub fn cursor(event: &Event) -> String {
    format!("{}_{}", event.sort_at(), event.id)
}

/// A cursor back into (sort time, id); `None` when it is not one.
pub fn parse_cursor(text: &str) -> Option<(i64, String)> {
    let (at, id) = text.split_once('_')?;
    let at: i64 = at.parse().ok()?;
    crate::ids::valid_id(id).then(|| (at, id.to_string()))
}

/// A container number as events are indexed by it: upper case, without spaces, dashes
/// or dots (`apzu 345678-9` → `APZU3456789`). `None` when nothing is left.
pub fn normalize_container(text: &str) -> Option<String> {
    let out: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '-' | '.' | '/'))
        .flat_map(char::to_uppercase)
        .collect();
    (!out.is_empty()).then_some(out)
}

/// A vessel name or port code as events are indexed by it: upper case, single spaces.
pub fn normalize_name(text: &str) -> Option<String> {
    let out = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase();
    (!out.is_empty()).then_some(out)
}

/// An IMO number from a JSON number or text (`9628336`, `"9628336"`, `"IMO 9628336"`):
/// seven digits. `Err` names what is wrong.
pub fn parse_imo(value: &serde_json::Value) -> Result<Option<i64>, String> {
    let number = match value {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| format!("{n} is not a whole number"))?,
        serde_json::Value::String(s) => {
            let digits = s.trim();
            let digits = digits
                .strip_prefix("IMO")
                .or_else(|| digits.strip_prefix("imo"))
                .unwrap_or(digits)
                .trim();
            if digits.is_empty() {
                return Ok(None);
            }
            digits
                .parse::<i64>()
                .map_err(|_| format!("\"{s}\" is not an IMO number"))?
        }
        other => return Err(format!("{} is not an IMO number", kind_of(other))),
    };
    if !(1_000_000..=9_999_999).contains(&number) {
        return Err(format!("{number} is not an IMO number (seven digits)"));
    }
    Ok(Some(number))
}

/// An event time: RFC 3339 with an offset (`2019-06-19T12:41:02+12:00`). Returns the
/// text as sent and microseconds since the epoch.
pub fn parse_time(text: &str) -> Result<(String, i64), String> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text.trim()).map_err(|_| {
        format!("\"{text}\" is not a date and time with an offset, like 2019-06-19T12:41:02+12:00")
    })?;
    Ok((text.trim().to_string(), parsed.timestamp_micros()))
}

/// How a JSON value's type reads in an error message.
pub use crate::pointer::kind as kind_of;

/// The canonical name of an event from either source, as a query or a rule may write
/// it: a known Octopi event in any of its forms gives its snake_case name; anything else
/// is upper-cased when it looks like a PortConnect code (`gatein` → `GATEIN`), else
/// snake_cased.
pub fn canonical_event(text: &str) -> String {
    if let Some(known) = octopi::known(text) {
        return known.to_string();
    }
    let trimmed = text.trim();
    let one_case = trimmed.chars().all(|c| !c.is_ascii_lowercase())
        || trimmed.chars().all(|c| !c.is_ascii_uppercase());
    if !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_alphanumeric()) && one_case {
        return trimmed.to_ascii_uppercase();
    }
    octopi::snake_case(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_normalised_and_unique() {
        assert_eq!(
            normalize_container(" apzu 345678-9 ").as_deref(),
            Some("APZU3456789")
        );
        assert_eq!(normalize_container(" - "), None);
        assert_eq!(
            normalize_name("  kota   loceng ").as_deref(),
            Some("KOTA LOCENG")
        );
        let event = Event {
            id: "x".into(),
            received_at: 1,
            source: "portconnect".into(),
            kind: "container".into(),
            event: "GATEIN".into(),
            known: true,
            at: None,
            occurred_at: None,
            containers: vec!["APHU6303593".into()],
            vessels: vec![
                Vessel {
                    imo: Some(9628336),
                    name: Some("KOTA LOCENG".into()),
                    role: "outbound".into(),
                },
                Vessel {
                    imo: Some(9628336),
                    name: None,
                    role: "inbound".into(),
                },
            ],
            ports: vec!["NZAKL".into()],
            delivery: None,
            dedupe: "d".into(),
            payload: "{}".into(),
        };
        assert_eq!(
            event.keys(),
            vec![
                Key::Container("APHU6303593".into()),
                Key::Imo(9628336),
                Key::VesselName("KOTA LOCENG".into()),
                Key::Port("NZAKL".into()),
            ]
        );
        assert_eq!(event.sort_at(), 1);
    }

    #[test]
    fn imo_numbers_and_times_say_what_is_wrong() {
        use serde_json::json;
        assert_eq!(parse_imo(&json!(9628336)), Ok(Some(9628336)));
        assert_eq!(parse_imo(&json!("IMO 9628336")), Ok(Some(9628336)));
        assert_eq!(parse_imo(&json!(null)), Ok(None));
        assert_eq!(parse_imo(&json!("")), Ok(None));
        assert!(parse_imo(&json!(123)).unwrap_err().contains("seven digits"));
        assert!(parse_imo(&json!("KOTA"))
            .unwrap_err()
            .contains("not an IMO number"));
        assert!(parse_imo(&json!(true)).unwrap_err().contains("a boolean"));
        let (text, micros) = parse_time("2019-06-19T12:41:02+12:00").unwrap();
        assert_eq!(text, "2019-06-19T12:41:02+12:00");
        assert_eq!(micros, 1_560_904_862_000_000);
        assert!(parse_time("2019-06-19 12:41")
            .unwrap_err()
            .contains("with an offset"));
    }

    #[test]
    fn event_names_from_queries_become_canonical() {
        assert_eq!(canonical_event("Cargo Gated In"), "cargo_gated_in");
        assert_eq!(canonical_event("CargoGatedIn"), "cargo_gated_in");
        assert_eq!(canonical_event("gatein"), "GATEIN");
        assert_eq!(canonical_event("VESSELETACHANGED"), "VESSELETACHANGED");
        assert_eq!(canonical_event("Crane Moved"), "crane_moved");
    }

    #[test]
    fn cursors_round_trip() {
        let id = uuid::Uuid::now_v7().to_string();
        assert_eq!(parse_cursor(&format!("-5_{id}")), Some((-5, id.clone())));
        assert_eq!(parse_cursor("12_nope"), None);
        assert_eq!(parse_cursor(&id), None);
    }
}
