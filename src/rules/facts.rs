//! Port facts for rules: the events Octopi and PortConnect sent about a container, a
//! vessel or a port, newest first.
//!
//! `container_events(number)`, `vessel_events(imo_or_name)` and `port_events(code)`, each
//! with an optional `since` (ISO 8601 text), return an array of maps (see
//! `rules/README.md`). Where the events come from is the call's [`Facts`]: the server's
//! store, a file for `lookout run --facts` and `lookout test`, or nothing (empty arrays).
//! A call asks the source once per distinct lookup, however many rules ask: the answers
//! are kept for the call.
//!
//! This module knows nothing of SQL: the store implements [`FactSource`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map};

use crate::events::{normalize_container, normalize_name, Event, Key};
use crate::rules::helpers::{date_micros, type_name};
use crate::rules::json::{self, runtime_error, Json};
use crate::rules::reuse;
use crate::rules::sandbox::check_limits;

/// Events one lookup returns, at most (the newest).
pub const LOOKUP_LIMIT: usize = 200;

/// Where port events come from.
pub trait FactSource: Send + Sync {
    /// The newest events found by `key`, at most `limit`, optionally only those that
    /// happened (or, without a time, arrived) at or after `since` (µs since the epoch),
    /// and only of one `kind` (`terminal`, `container`, `vessel`).
    fn events(
        &self,
        key: &Key,
        since: Option<i64>,
        kind: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Event>, String>;
}

/// Events held in memory: a facts file for `lookout run` and `lookout test`.
#[derive(Debug, Default, Clone)]
pub struct MemoryFacts {
    pub events: Vec<Event>,
}

impl FactSource for MemoryFacts {
    fn events(
        &self,
        key: &Key,
        since: Option<i64>,
        kind: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Event>, String> {
        let mut found: Vec<Event> = self
            .events
            .iter()
            .filter(|e| e.keys().contains(key) && since.is_none_or(|s| e.sort_at() >= s))
            .filter(|e| kind.is_none_or(|k| e.kind == k))
            .cloned()
            .collect();
        found.sort_by(|a, b| (b.sort_at(), &b.id).cmp(&(a.sort_at(), &a.id)));
        found.truncate(limit);
        Ok(found)
    }
}

/// A lookup: the key, the `since` (µs) and the kind.
pub(crate) type Lookup = (Key, Option<i64>, Option<String>);

/// One call's view of the facts: the source and the lookups answered so far.
#[derive(Default)]
pub struct Facts {
    source: Option<Arc<dyn FactSource>>,
    answered: Mutex<HashMap<Lookup, Arc<Vec<Event>>>>,
}

impl Facts {
    pub fn new(source: Option<Arc<dyn FactSource>>) -> Facts {
        Facts {
            source,
            answered: Mutex::default(),
        }
    }

    fn lookup(
        &self,
        key: Key,
        since: Option<i64>,
        kind: Option<String>,
    ) -> Result<Dynamic, String> {
        let slot = (key, since, kind);
        match self.events_for(&slot) {
            Ok(events) => {
                reuse::facts(&slot, &events);
                Ok(Dynamic::from_array(events.iter().map(event_map).collect()))
            }
            Err(e) => {
                reuse::untracked("its port events could not be read");
                Err(e)
            }
        }
    }

    /// The events a lookup finds in this call (asked of the source once per call).
    pub(crate) fn events_for(&self, slot: &Lookup) -> Result<Arc<Vec<Event>>, String> {
        let Some(source) = &self.source else {
            return Ok(Arc::default());
        };
        let known = self.answered.lock().expect("facts").get(slot).cloned();
        if let Some(events) = known {
            return Ok(events);
        }
        let events = Arc::new(source.events(&slot.0, slot.1, slot.2.as_deref(), LOOKUP_LIMIT)?);
        self.answered
            .lock()
            .expect("facts")
            .insert(slot.clone(), events.clone());
        Ok(events)
    }
}

thread_local! {
    /// The facts of the call whose rule runs on this thread.
    static CURRENT: RefCell<Option<Arc<Facts>>> = const { RefCell::new(None) };
}

/// Makes `facts` the current call's while `f` runs on this thread.
pub fn with_facts<T>(facts: &Arc<Facts>, f: impl FnOnce() -> T) -> T {
    /// Puts the previous facts back, also when `f` unwinds.
    struct Restore(Option<Arc<Facts>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with_borrow_mut(|c| *c = previous);
        }
    }
    let _restore = Restore(CURRENT.with_borrow_mut(|c| c.replace(facts.clone())));
    f()
}

/// An event as a rule sees it.
pub fn event_map(event: &Event) -> Dynamic {
    let mut map = Map::new();
    let text = |s: &str| Dynamic::from(ImmutableString::from(s));
    let opt_text = |s: Option<&str>| s.map(text).unwrap_or(Dynamic::UNIT);
    map.insert("source".into(), text(&event.source));
    map.insert("kind".into(), text(&event.kind));
    map.insert("event".into(), text(&event.event));
    map.insert("known".into(), Dynamic::from_bool(event.known));
    map.insert("at".into(), opt_text(event.at.as_deref()));
    map.insert(
        "received_at".into(),
        text(
            &chrono::DateTime::from_timestamp_micros(event.received_at)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                .unwrap_or_default(),
        ),
    );
    map.insert(
        "container".into(),
        opt_text(event.containers.first().map(String::as_str)),
    );
    map.insert(
        "containers".into(),
        Dynamic::from_array(event.containers.iter().map(|c| text(c)).collect()),
    );
    let vessel = event.vessels.first();
    map.insert(
        "imo".into(),
        vessel
            .and_then(|v| v.imo)
            .map(Dynamic::from_int)
            .unwrap_or(Dynamic::UNIT),
    );
    map.insert(
        "vessel".into(),
        opt_text(vessel.and_then(|v| v.name.as_deref())),
    );
    map.insert(
        "vessels".into(),
        Dynamic::from_array(
            event
                .vessels
                .iter()
                .map(|v| {
                    let mut m = Map::new();
                    m.insert(
                        "imo".into(),
                        v.imo.map(Dynamic::from_int).unwrap_or(Dynamic::UNIT),
                    );
                    m.insert("name".into(), opt_text(v.name.as_deref()));
                    m.insert("role".into(), text(&v.role));
                    Dynamic::from_map(m)
                })
                .collect(),
        ),
    );
    map.insert(
        "port".into(),
        opt_text(event.ports.first().map(String::as_str)),
    );
    map.insert(
        "ports".into(),
        Dynamic::from_array(event.ports.iter().map(|p| text(p)).collect()),
    );
    let data = json::parse(&event.payload)
        .map(|doc| Dynamic::from(Json::new(Arc::new(doc))))
        .unwrap_or(Dynamic::UNIT);
    map.insert("data".into(), data);
    Dynamic::from_map(map)
}

type Res<T> = Result<T, Box<EvalAltResult>>;

fn lookup(
    helper: &str,
    key: Option<Key>,
    since: Option<&Dynamic>,
    kind: Option<&Dynamic>,
) -> Res<Dynamic> {
    check_limits()?;
    let kind = match kind {
        None => None,
        Some(k) if k.is_unit() => None,
        Some(k) => match k.read_lock::<ImmutableString>() {
            Some(s) if ["terminal", "container", "vessel"].contains(&s.as_str()) => Some(s.to_string()),
            _ => {
                return Err(runtime_error(format!(
                    "{helper}: the kind must be \"terminal\" (Octopi), \"container\" or \"vessel\" (PortConnect), got {}",
                    type_name(k)
                )))
            }
        },
    };
    let since = match since {
        None => None,
        Some(value) if value.is_unit() => None,
        Some(value) => Some(date_micros(helper, "since", value)?),
    };
    let Some(key) = key else {
        return Ok(Dynamic::from_array(Array::new()));
    };
    let facts = CURRENT.with_borrow(|c| c.clone());
    let Some(facts) = facts else {
        return Ok(Dynamic::from_array(Array::new()));
    };
    let found = facts
        .lookup(key, since, kind)
        .map_err(|e| runtime_error(format!("{helper}: the port events could not be read: {e}")))?;
    check_limits()?;
    Ok(found)
}

fn text_arg(helper: &str, what: &str, value: &Dynamic) -> Res<Option<String>> {
    if value.is_unit() {
        return Ok(None);
    }
    if let Some(s) = value.read_lock::<ImmutableString>() {
        return Ok(Some(s.to_string()));
    }
    if let Some(j) = value.read_lock::<Json>() {
        if let Some(s) = sonic_rs::JsonValueTrait::as_str(j.value()) {
            return Ok(Some(s.to_string()));
        }
    }
    Err(runtime_error(format!(
        "{helper}: the {what} is {}; pass text, like \"APHU6303593\"",
        type_name(value)
    )))
}

fn container_key(value: &Dynamic) -> Res<Option<Key>> {
    Ok(text_arg("container_events", "container number", value)?
        .and_then(|t| normalize_container(&t))
        .map(Key::Container))
}

fn vessel_key(value: &Dynamic) -> Res<Option<Key>> {
    const HELPER: &str = "vessel_events";
    if let Ok(n) = value.as_int() {
        return Ok(Some(Key::Imo(n)));
    }
    if let Ok(f) = value.as_float() {
        return Ok((f.fract() == 0.0).then_some(Key::Imo(f as i64)));
    }
    if let Some(j) = value.read_lock::<Json>() {
        if let Some(n) = sonic_rs::JsonValueTrait::as_i64(j.value()) {
            return Ok(Some(Key::Imo(n)));
        }
    }
    let Some(text) = text_arg(HELPER, "vessel (an IMO number or a name)", value)? else {
        return Ok(None);
    };
    let trimmed = text.trim();
    let digits = trimmed
        .strip_prefix("IMO")
        .or_else(|| trimmed.strip_prefix("imo"))
        .unwrap_or(trimmed)
        .trim();
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(digits.parse().ok().map(Key::Imo));
    }
    Ok(normalize_name(trimmed).map(Key::VesselName))
}

fn port_key(value: &Dynamic) -> Res<Option<Key>> {
    Ok(text_arg("port_events", "port code", value)?
        .and_then(|t| normalize_name(&t))
        .map(Key::Port))
}

pub fn register(engine: &mut Engine) {
    type KeyOf = fn(&Dynamic) -> Res<Option<Key>>;
    let helpers: [(&'static str, KeyOf); 3] = [
        ("container_events", container_key),
        ("vessel_events", vessel_key),
        ("port_events", port_key),
    ];
    for (name, key_of) in helpers {
        engine
            .register_fn(name, move |v: Dynamic| {
                lookup(name, key_of(&v)?, None, None)
            })
            .register_fn(name, move |v: Dynamic, since: Dynamic| {
                lookup(name, key_of(&v)?, Some(&since), None)
            })
            .register_fn(name, move |v: Dynamic, since: Dynamic, kind: Dynamic| {
                lookup(name, key_of(&v)?, Some(&since), Some(&kind))
            });
    }
}
