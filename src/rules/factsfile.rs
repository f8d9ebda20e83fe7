//! Facts files: the port events `lookout run --facts FILE` and a rule test's `"facts"`
//! give the rules, so rules that read `container_events` and its kin can be tried and
//! tested without a server or a port system.
//!
//! A facts file is a JSON array (or `{"events": [...]}`, as `/admin/api/events`
//! answers). Each item is one of:
//!
//! - a lookout event, an object with `source` and `event` (the store's form; `id`,
//!   `received_at`, `dedupe` and `payload` may be left out, and `container`, `imo`,
//!   `vessel` and `port` may stand for the lists, as a rule sees them);
//! - an Octopi delivery's body, an object with `event_type`, read by
//!   [`octopi::parse`] with the default settings;
//! - a PortConnect callback item (an object with `containerVisitEventTypeCode` or
//!   `vesselScheduleEventTypeCode`), or a whole callback body (an array of them), read by
//!   [`portconnect::parse`].
//!
//! Items without a `received_at` count as received when the file is read, in file
//! order, a microsecond apart. The parsers are the server's own, so a payload pasted
//! from a real delivery gives the rules what the server's store would.
//!
//! This module knows nothing of the rules engine beyond [`MemoryFacts`].

use std::path::Path;

use anyhow::anyhow;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::events::{
    kind_of, normalize_container, normalize_name, octopi, parse_imo, parse_time, portconnect,
    Event, Vessel, SOURCES,
};
use crate::rules::facts::MemoryFacts;

/// Reads a facts file; errors name the file, the item and what is wrong.
pub fn read(path: &Path) -> anyhow::Result<MemoryFacts> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow!("cannot read the facts file {}: {e}", path.display()))?;
    parse(&text, &path.display().to_string()).map_err(|e| anyhow!(e))
}

/// Reads a facts document (a file's text, or a test's inline `"facts"`); `origin` names
/// it in errors.
pub fn parse(text: &str, origin: &str) -> Result<MemoryFacts, String> {
    parse_at(text, origin, crate::clock::now_micros())
}

/// [`parse`], with the time items without a `received_at` arrived.
pub(crate) fn parse_at(text: &str, origin: &str, received_at: i64) -> Result<MemoryFacts, String> {
    #[derive(Deserialize)]
    struct Page<'a> {
        #[serde(borrow)]
        events: Vec<&'a RawValue>,
    }
    let shape: Value = crate::nesting::from_str(text).map_err(|e| {
        format!(
            "{origin}:{}:{}: not valid JSON: {}",
            e.line(),
            e.column(),
            e.message()
        )
    })?;
    let items: Vec<&RawValue> = match &shape {
        // Read again as raw items; a text serde_json reads one way as a value and
        // another as items (a key given twice, found by fuzzing) is an error, not a panic.
        Value::Array(_) => serde_json::from_str(text)
            .map_err(|e| format!("{origin}:{}:{}: {e}", e.line(), e.column()))?,
        Value::Object(o) if o.get("events").is_some_and(Value::is_array) => {
            serde_json::from_str::<Page<'_>>(text)
                .map_err(|e| format!("{origin}:{}:{}: {e}", e.line(), e.column()))?
                .events
        }
        other => {
            return Err(format!(
                "{origin}: facts are a JSON array of events, or {{\"events\": [...]}} as /admin/api/events answers; this is {}",
                kind_of(other)
            ))
        }
    };
    let mut events = Vec::new();
    for (index, raw) in items.iter().enumerate() {
        let at = received_at + index as i64;
        let found = item(raw, index, at).map_err(|e| format!("{origin}: item {index}{e}"))?;
        events.extend(found);
    }
    Ok(MemoryFacts { events })
}

/// The events of one item. Errors start with what the item was taken for, after the
/// caller's "item N".
fn item(raw: &RawValue, index: usize, received_at: i64) -> Result<Vec<Event>, String> {
    let value: Value = serde_json::from_str(raw.get()).map_err(|e| format!(": {e}"))?;
    let id = format!("facts-{index:06}");
    match &value {
        Value::Array(_) => {
            let mut n = 0;
            portconnect::parse(raw.get().as_bytes(), received_at, || {
                n += 1;
                format!("{id}-{n:04}")
            })
            .map_err(|e| format!(" (a PortConnect callback body): {}", inner_item(&e)))
        }
        Value::Object(object) if object.contains_key("source") => {
            written(&value, id, received_at).map(|e| vec![e])
        }
        Value::Object(object) if object.contains_key("event_type") => {
            octopi_body(raw, object, id, received_at).map(|e| vec![e])
        }
        Value::Object(object)
            if object.keys().any(|k| {
                k.eq_ignore_ascii_case("containerVisitEventTypeCode")
                    || k.eq_ignore_ascii_case("vesselScheduleEventTypeCode")
            }) =>
        {
            let body = format!("[{}]", raw.get());
            portconnect::parse(body.as_bytes(), received_at, || id.clone()).map_err(|e| {
                format!(
                    " (a PortConnect event): {}",
                    e.strip_prefix("item 0, ")
                        .or_else(|| e.strip_prefix("item 0: "))
                        .unwrap_or(&e)
                )
            })
        }
        Value::Object(_) => Err(
            ": not an event lookout knows; give a lookout event (with \"source\" and \"event\"), an Octopi delivery's body (with \"event_type\") or a PortConnect callback item (with \"containerVisitEventTypeCode\" or \"vesselScheduleEventTypeCode\")".into(),
        ),
        other => Err(format!(
            " is {}; each item is an event object (or a PortConnect callback body, an array)",
            kind_of(other)
        )),
    }
}

/// PortConnect's "item 2, field ..." inside a pasted body reads "event 2, field ...".
fn inner_item(error: &str) -> String {
    match error.strip_prefix("item ") {
        Some(rest) => format!("event {rest}"),
        None => error.to_string(),
    }
}

fn octopi_body(
    raw: &RawValue,
    object: &serde_json::Map<String, Value>,
    id: String,
    received_at: i64,
) -> Result<Event, String> {
    let fail = |what: String| format!(" (an Octopi delivery): {what}");
    let name = match object.get("event_type") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.as_str(),
        Some(Value::String(_)) => {
            return Err(fail(
                "\"event_type\" is empty; it must be the event's name, like \"cargo_held\"".into(),
            ))
        }
        Some(other) => {
            return Err(fail(format!(
                "\"event_type\" is {}; it must be the event's name, like \"cargo_held\"",
                kind_of(other)
            )))
        }
        None => unreachable!("checked by the caller"),
    };
    // Octopi's chargeable events carry their own UUID in `id`: the delivery, if there.
    let delivery = match object.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 200 => s.trim().to_string(),
        _ => id.clone(),
    };
    let headers = octopi::Headers {
        event: Some(name),
        delivery: Some(&delivery),
        timestamp: None,
        signature: None,
    };
    octopi::parse(
        &octopi::Settings::default(),
        &headers,
        raw.get().as_bytes(),
        id,
        received_at,
    )
    .map_err(fail)
}

/// A lookout event as the store keeps it, or as a rule sees it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    source: String,
    event: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    received_at: Option<Value>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    known: Option<bool>,
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    occurred_at: Option<i64>,
    #[serde(default)]
    containers: Vec<String>,
    #[serde(default)]
    container: Option<String>,
    #[serde(default)]
    vessels: Vec<WrittenVessel>,
    #[serde(default)]
    imo: Option<Value>,
    #[serde(default)]
    vessel: Option<String>,
    #[serde(default)]
    ports: Vec<String>,
    #[serde(default)]
    port: Option<String>,
    #[serde(default)]
    delivery: Option<String>,
    #[serde(default)]
    dedupe: Option<String>,
    #[serde(default)]
    payload: Option<Value>,
    /// What a rule calls the payload.
    #[serde(default)]
    data: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WrittenVessel {
    #[serde(default)]
    imo: Option<Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    role: Option<String>,
}

fn written(value: &Value, id: String, received_at: i64) -> Result<Event, String> {
    let fail = |what: String| format!(" (a lookout event): {what}");
    let w: Written = serde_json::from_value(value.clone()).map_err(|e| fail(e.to_string()))?;

    let source = w.source.trim().to_ascii_lowercase();
    if !SOURCES.contains(&source.as_str()) {
        return Err(fail(format!(
            "\"source\" is \"{}\"; use \"octopi\" or \"portconnect\"",
            w.source
        )));
    }
    let (event, known) = if source == "portconnect" {
        let code: String = w
            .event
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let known = portconnect::CONTAINER_EVENTS.contains(&code.as_str())
            || portconnect::VESSEL_EVENTS.contains(&code.as_str());
        (code, known)
    } else {
        match octopi::known(&w.event) {
            Some(name) => (name.to_string(), true),
            None => (octopi::snake_case(&w.event), false),
        }
    };
    if event.is_empty() {
        return Err(fail(format!(
            "\"event\" is \"{}\"; give the event's name, like \"cargo_held\" or \"VESSELETACHANGED\"",
            w.event
        )));
    }

    let mut containers: Vec<String> = Vec::new();
    for number in w.containers.iter().chain(w.container.iter()) {
        let Some(n) = normalize_container(number) else {
            return Err(fail(format!("the container number \"{number}\" is empty")));
        };
        if !containers.contains(&n) {
            containers.push(n);
        }
    }

    let mut vessels = Vec::new();
    for (i, v) in w.vessels.iter().enumerate() {
        let imo = match &v.imo {
            Some(imo) => parse_imo(imo).map_err(|e| fail(format!("vessels[{i}].imo: {e}")))?,
            None => None,
        };
        let name = v.name.as_deref().and_then(normalize_name);
        if imo.is_none() && name.is_none() {
            return Err(fail(format!(
                "vessels[{i}] has neither an \"imo\" nor a \"name\""
            )));
        }
        vessels.push(Vessel {
            imo,
            name,
            role: v.role.clone().unwrap_or_else(|| "vessel".into()),
        });
    }
    if vessels.is_empty() {
        let imo = match &w.imo {
            Some(imo) => parse_imo(imo).map_err(|e| fail(format!("\"imo\": {e}")))?,
            None => None,
        };
        let name = w.vessel.as_deref().and_then(normalize_name);
        if imo.is_some() || name.is_some() {
            vessels.push(Vessel {
                imo,
                name,
                role: "vessel".into(),
            });
        }
    }

    let mut ports: Vec<String> = Vec::new();
    for port in w.ports.iter().chain(w.port.iter()) {
        if let Some(p) = normalize_name(port) {
            if !ports.contains(&p) {
                ports.push(p);
            }
        }
    }

    let kind = match w.kind.as_deref().map(str::trim) {
        Some(k @ ("terminal" | "container" | "vessel")) => k.to_string(),
        Some(other) => {
            return Err(fail(format!(
                "\"kind\" is \"{other}\"; use \"terminal\" (Octopi), \"container\" or \"vessel\" (PortConnect), or leave it out"
            )))
        }
        None if source == "octopi" => "terminal".into(),
        None if containers.is_empty()
            && portconnect::VESSEL_EVENTS.contains(&event.as_str()) =>
        {
            "vessel".into()
        }
        None => "container".into(),
    };

    let (at, occurred_at) = match (&w.at, w.occurred_at) {
        (Some(text), _) => {
            let (at, micros) = parse_time(text).map_err(|e| fail(format!("\"at\": {e}")))?;
            (Some(at), Some(micros))
        }
        (None, Some(micros)) => (Some(rfc3339(micros)), Some(micros)),
        (None, None) => (None, None),
    };
    let received_at = match &w.received_at {
        None | Some(Value::Null) => received_at,
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
            fail(format!(
                "\"received_at\" is {n}; give microseconds since 1970 or a time like \"2026-11-20T08:00:00Z\""
            ))
        })?,
        Some(Value::String(s)) => {
            parse_time(s)
                .map_err(|e| fail(format!("\"received_at\": {e}")))?
                .1
        }
        Some(other) => {
            return Err(fail(format!(
                "\"received_at\" is {}; give a time like \"2026-11-20T08:00:00Z\"",
                kind_of(other)
            )))
        }
    };

    let payload = match (w.payload, w.data) {
        (Some(_), Some(_)) => {
            return Err(fail(
                "both \"payload\" and \"data\"; they are the same thing, give one".into(),
            ))
        }
        (Some(p), None) | (None, Some(p)) => p,
        (None, None) => Value::Null,
    };
    let payload = match payload {
        Value::Null => "{}".to_string(),
        // The store's form: the JSON text as received.
        Value::String(text) => {
            if serde_json::from_str::<serde::de::IgnoredAny>(&text).is_err() {
                return Err(fail(
                    "\"payload\" is text that is not JSON; give the payload as an object".into(),
                ));
            }
            text
        }
        other => other.to_string(),
    };

    let id = w.id.filter(|i| !i.trim().is_empty()).unwrap_or(id);
    Ok(Event {
        dedupe: w.dedupe.unwrap_or_else(|| format!("facts:{id}")),
        id,
        received_at,
        source,
        kind,
        event,
        known: w.known.unwrap_or(known),
        at,
        occurred_at,
        containers,
        vessels,
        ports,
        delivery: w.delivery,
        payload,
    })
}

fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (`fuzz/regressions/facts_file/`): `"events"` given twice read as
    /// an array as a value and failed as a page, and an `expect` panicked.
    #[test]
    fn a_key_given_twice_is_an_error_not_a_panic() {
        let err = parse(r#"{"events": 5, "events": []}"#, "f.json").unwrap_err();
        assert!(err.starts_with("f.json:1:12: invalid type"), "{err}");
    }
    use crate::events::Key;
    use crate::rules::facts::FactSource;

    const NOW: i64 = 1_796_083_200_000_000; // 2026-12-01T00:00:00Z

    fn events(text: &str) -> Vec<Event> {
        parse_at(text, "facts.json", NOW)
            .unwrap_or_else(|e| panic!("{e}"))
            .events
    }

    #[test]
    fn a_hand_written_event_needs_only_source_event_and_what_it_is_about() {
        let e = &events(
            r#"[{"source": "octopi", "event": "Cargo Held", "container": "mscu 123456-5",
                 "port": "nztrg", "at": "2026-11-20T08:00:00+13:00"}]"#,
        )[0];
        assert_eq!(
            (
                e.source.as_str(),
                e.kind.as_str(),
                e.event.as_str(),
                e.known
            ),
            ("octopi", "terminal", "cargo_held", true)
        );
        assert_eq!(e.containers, vec!["MSCU1234565"]);
        assert_eq!(e.ports, vec!["NZTRG"]);
        assert_eq!(e.at.as_deref(), Some("2026-11-20T08:00:00+13:00"));
        assert_eq!(e.occurred_at, Some(1_795_114_800_000_000));
        assert_eq!((e.received_at, e.id.as_str()), (NOW, "facts-000000"));
        assert_eq!(e.payload, "{}");

        let e = &events(
            r#"[{"source": "portconnect", "event": "VesselETAChanged", "imo": "9501318",
                 "vessel": "anna  oldfield", "port": "NZTRG", "at": "2026-12-04T06:00:00+13:00",
                 "payload": {"WharfName": "SULPHUR POINT"}}]"#,
        )[0];
        assert_eq!(
            (e.kind.as_str(), e.event.as_str(), e.known),
            ("vessel", "VESSELETACHANGED", true)
        );
        assert_eq!(
            e.vessels,
            vec![Vessel {
                imo: Some(9501318),
                name: Some("ANNA OLDFIELD".into()),
                role: "vessel".into()
            }]
        );
        assert_eq!(e.payload, r#"{"WharfName":"SULPHUR POINT"}"#);
    }

    #[test]
    fn an_event_as_a_rule_sees_it_reads_back_with_its_data() {
        let e = &events(
            r#"[{"source": "portconnect", "kind": "container", "event": "GATEIN", "known": true,
                 "at": "2019-06-19T12:41:02+12:00", "received_at": 1763600000000000,
                 "container": "APHU6303593", "containers": ["APHU6303593"],
                 "imo": 9628336, "vessel": "KOTA LOCENG",
                 "vessels": [{"imo": 9628336, "name": "KOTA LOCENG", "role": "outbound"}],
                 "port": "NZAKL", "ports": ["NZAKL"], "data": {"containerNumber": "APHU6303593"}}]"#,
        )[0];
        assert_eq!(e.containers, vec!["APHU6303593"]);
        assert_eq!(
            e.vessels.len(),
            1,
            "the lists win over the first-item shorthands"
        );
        assert_eq!(e.vessels[0].role, "outbound");
        assert_eq!(e.received_at, 1_763_600_000_000_000);
        assert_eq!(e.payload, r#"{"containerNumber":"APHU6303593"}"#);

        let e = &events(
            r#"[{"source": "octopi", "event": "CargoGatedIn", "occurred_at": 1795114800000000,
                 "received_at": "2026-11-20T08:00:01+13:00"}]"#,
        )[0];
        assert_eq!(e.event, "cargo_gated_in");
        assert_eq!(e.at.as_deref(), Some("2026-11-19T19:00:00Z"));
        assert_eq!(e.received_at, 1_795_114_801_000_000);
    }

    #[test]
    fn events_as_the_store_and_the_admin_api_give_them_come_back_unchanged() {
        let stored = Event {
            id: "0193a2b4-0000-7000-8000-000000000001".into(),
            received_at: 1_763_600_000_000_000,
            source: "portconnect".into(),
            kind: "container".into(),
            event: "GATEIN".into(),
            known: true,
            at: Some("2019-06-19T12:41:02+12:00".into()),
            occurred_at: Some(1_560_904_862_000_000),
            containers: vec!["APHU6303593".into()],
            vessels: vec![Vessel {
                imo: Some(9628336),
                name: Some("KOTA LOCENG".into()),
                role: "outbound".into(),
            }],
            ports: vec!["NZAKL".into()],
            delivery: None,
            dedupe: "portconnect:abc".into(),
            payload: r#"{"containerNumber": "APHU6303593"}"#.into(),
        };
        let page = serde_json::json!({"events": [stored], "next": null, "searched_to": 5});
        assert_eq!(events(&page.to_string()), vec![stored.clone()]);
        let list = serde_json::to_string(&[&stored]).unwrap();
        assert_eq!(events(&list), vec![stored]);
    }

    #[test]
    fn raw_portconnect_and_octopi_payloads_are_read_by_the_servers_parsers() {
        let doc = include_str!("../../tests/data/portconnect-doc-example.json");
        let octopi = r#"{"id": "06d22aa5-2563-4b28-91d6-4e9398dd7f5a", "event_type": "hold_applied",
            "occurred_at": "2026-11-20T09:15:00.000+13:00",
            "payload": {"container": {"number": "TCLU 765432-1"}, "hold": {"type": "customs"}}}"#;
        let text = format!(
            "[{doc}, {first}, {octopi}]",
            first = serde_json::to_string(&serde_json::from_str::<Value>(doc).unwrap()[0]).unwrap()
        );
        let all = events(&text);
        assert_eq!(all.len(), 5, "three from the body, one item, one delivery");
        let numbers: Vec<&str> = all.iter().map(|e| e.containers[0].as_str()).collect();
        assert_eq!(
            numbers,
            [
                "APHU6303593",
                "MEDU3085895",
                "MEDU5129708",
                "APHU6303593",
                "TCLU7654321"
            ]
        );
        // Received in file order: the body first, then the item, then the delivery.
        let received: Vec<i64> = all.iter().map(|e| e.received_at - NOW).collect();
        assert_eq!(received, [0, 0, 0, 1, 2]);
        assert_eq!(
            all[0].dedupe, all[3].dedupe,
            "the same content, the same event"
        );
        let held = &all[4];
        assert_eq!(
            (held.source.as_str(), held.event.as_str()),
            ("octopi", "hold_applied")
        );
        assert_eq!(
            held.delivery.as_deref(),
            Some("06d22aa5-2563-4b28-91d6-4e9398dd7f5a")
        );
        assert!(
            held.payload.contains("\"hold\": {\"type\": \"customs\"}"),
            "kept as written"
        );

        let facts = MemoryFacts { events: all };
        let found = facts
            .events(&Key::Container("APHU6303593".into()), None, None, 200)
            .unwrap();
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn what_is_wrong_is_named_with_the_item() {
        let gate = r#"{"containerVisitEventTypeCode":"GATEIN","containerNumber":"APHU6303593","containerVisitEventDatetime":"2019-06-19T12:41:02+12:00"}"#;
        let cases = [
            ("{\"a\": 1}", "facts.json: facts are a JSON array of events", "an object without events"),
            ("[1,\n 2", "facts.json:2:2: not valid JSON: EOF while parsing a list", "cut short"),
            ("[{\"source\": \"octopi\", \"event\": \"x\"}, 5]", "facts.json: item 1 is a number", "a number item"),
            ("[{\"kind\": \"x\"}]", "facts.json: item 0: not an event lookout knows", "no way to tell"),
            (
                "[{\"source\": \"octopi\"}]",
                "item 0 (a lookout event): missing field `event`",
                "no event name",
            ),
            (
                "[{\"source\": \"octopi\", \"event\": \"cargo_held\", \"contianer\": \"X\"}]",
                "item 0 (a lookout event): unknown field `contianer`",
                "a typo",
            ),
            (
                "[{\"source\": \"tos\", \"event\": \"cargo_held\"}]",
                "\"source\" is \"tos\"; use \"octopi\" or \"portconnect\"",
                "an unknown source",
            ),
            (
                "[{\"source\": \"octopi\", \"event\": \"cargo_held\", \"at\": \"20/11/2026\"}]",
                "\"at\": \"20/11/2026\" is not a date and time",
                "a time without an offset",
            ),
            (
                "[{\"source\": \"octopi\", \"event\": \"cargo_held\", \"imo\": 123}]",
                "\"imo\": 123 is not an IMO number",
                "a short IMO number",
            ),
            (
                "[{\"source\": \"portconnect\", \"event\": \"GATEIN\", \"kind\": \"ship\"}]",
                "\"kind\" is \"ship\"; use \"terminal\" (Octopi), \"container\" or \"vessel\"",
                "an unknown kind",
            ),
            (
                "[{\"source\": \"octopi\", \"event\": \"cargo_held\", \"payload\": {}, \"data\": {}}]",
                "both \"payload\" and \"data\"",
                "the payload twice",
            ),
            (
                "[{\"source\": \"octopi\", \"event\": \"cargo_held\", \"vessels\": [{\"role\": \"vessel\"}]}]",
                "vessels[0] has neither an \"imo\" nor a \"name\"",
                "a vessel without a name or number",
            ),
            (
                "[{\"source\": \"octopi\", \"event\": \"cargo_held\", \"payload\": \"held\"}]",
                "\"payload\" is text that is not JSON",
                "a payload that is not JSON",
            ),
            (
                &format!("[{gate}, {}]", gate.replace("\"APHU6303593\"", "\"\"")),
                "facts.json: item 1 (a PortConnect event): field \"containerNumber\": is empty",
                "a PortConnect item",
            ),
            (
                &format!("[[{gate}, {}]]", gate.replace("2019-06-19T12:41:02+12:00", "soon")),
                "item 0 (a PortConnect callback body): event 1, field \"containerVisitEventDatetime\"",
                "an item of a pasted body",
            ),
            (
                "[{\"event_type\": \" \"}]",
                "item 0 (an Octopi delivery): \"event_type\" is empty",
                "an Octopi delivery without a name",
            ),
            (
                "[{\"event_type\": 7}]",
                "item 0 (an Octopi delivery): \"event_type\" is a number",
                "an Octopi name",
            ),
        ];
        for (text, expected, why) in cases {
            let err = parse_at(text, "facts.json", NOW).unwrap_err();
            assert!(
                err.contains(expected),
                "{why}:\n  {text}\n  gave: {err}\n  expected: {expected}"
            );
        }
        assert!(events("[]").is_empty());
        assert!(events("{\"events\": []}").is_empty());
    }

    #[test]
    fn newest_first_within_a_lookup_follows_the_event_time_then_the_file_order() {
        let all = events(
            r#"[{"source": "octopi", "event": "hold_applied", "container": "C1", "at": "2026-11-20T08:00:00Z"},
                {"source": "octopi", "event": "hold_lifted", "container": "C1", "at": "2026-11-21T08:00:00Z"},
                {"source": "octopi", "event": "cargo_held", "container": "C1"},
                {"source": "octopi", "event": "cargo_released", "container": "C1"}]"#,
        );
        let facts = MemoryFacts { events: all };
        let names = |since| -> Vec<String> {
            facts
                .events(&Key::Container("C1".into()), since, None, 200)
                .unwrap()
                .into_iter()
                .map(|e| e.event)
                .collect()
        };
        // Without a time, an event sorts by its arrival: now, later in the file is newer.
        assert_eq!(
            names(None),
            [
                "cargo_released",
                "cargo_held",
                "hold_lifted",
                "hold_applied"
            ]
        );
        assert_eq!(names(Some(NOW + 3)), ["cargo_released"]);
    }
}
