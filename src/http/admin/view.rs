//! What the pages show, computed from the log's records: times, durations, the cards as
//! IMOS draws them, a mutation as the change it proposes, pretty JSON, the trace, and a
//! replay's changes. Templates only place these strings; escaping is theirs.

use serde_json::Value;

use crate::alerts::{AlertType, Wire};
use crate::events::{Event, Vessel};
use crate::replay::{Change, Replayed};
use crate::store::{Call, RuleTrace, Summary};

/// Bodies longer than this are shown cut, with a link to the whole body.
pub const SHOWN_BODY_BYTES: usize = 256 * 1024;

/// `2026-05-01 14:30:00.123 UTC`.
pub fn time(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string())
        .unwrap_or_else(|| format!("{micros} µs"))
}

/// RFC 3339, for `<time datetime>`.
pub fn iso(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// `0.412 ms`, `38.2 ms`, `1.25 s`.
pub fn duration(micros: i64) -> String {
    let ms = micros as f64 / 1000.0;
    if ms < 10.0 {
        format!("{ms:.3} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

fn plural(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `1 error, 2 timeouts`, or empty.
fn problems(errors: u32, timeouts: u32) -> String {
    let mut parts = Vec::new();
    if errors > 0 {
        parts.push(plural(errors, "error", "errors"));
    }
    if timeouts > 0 {
        parts.push(plural(timeouts, "timeout", "timeouts"));
    }
    parts.join(", ")
}

/// `ok` for 200, `refused` for 4xx, `failed` otherwise (CSS classes).
fn status_class(status: u16) -> &'static str {
    match status {
        200 => "ok",
        400..=499 => "refused",
        _ => "failed",
    }
}

/// One row of the list.
pub struct CallRow {
    pub id: String,
    pub time: String,
    pub iso: String,
    pub ruleset: String,
    pub status: u16,
    pub status_class: &'static str,
    pub duration: String,
    pub estimate_id: String,
    pub alerts: u32,
    pub problems: String,
    pub error: String,
    pub instance: String,
}

impl From<&Summary> for CallRow {
    fn from(s: &Summary) -> CallRow {
        CallRow {
            id: s.id.clone(),
            time: time(s.received_at),
            iso: iso(s.received_at),
            ruleset: s.ruleset.clone(),
            status: s.status,
            status_class: status_class(s.status),
            duration: duration(s.duration_us),
            estimate_id: s.estimate_id.clone().unwrap_or_default(),
            alerts: s.alerts,
            problems: problems(s.rule_errors, s.rule_timeouts),
            error: s.error.clone().unwrap_or_default(),
            instance: s.instance.clone(),
        }
    }
}

/// One alert as IMOS shows it in the Notifications panel.
pub struct Card {
    /// `Error`, `PermanentWarning` or `Unspecified`.
    pub alert_type: String,
    /// The icon's file under `/admin/assets/icons/`.
    pub icon: &'static str,
    /// What the icon means, for screen readers.
    pub icon_label: &'static str,
    pub message: String,
    pub fields: Vec<(String, String)>,
    /// Only http and https URLs become links.
    pub link: Option<String>,
    /// A link that was not http(s): shown as text.
    pub bad_link: Option<String>,
    /// The change the mutation proposes, one line per value.
    pub mutation: Vec<String>,
    pub guid: String,
    pub rule: String,
}

impl Card {
    pub fn new(alert: &Wire, rule: Option<&str>) -> Card {
        let alert_type = alert.alert_type.as_str();
        let (icon, icon_label) = match alert.alert_type {
            AlertType::Error => ("error.svg", "Error"),
            AlertType::PermanentWarning => ("warning.svg", "Warning"),
            AlertType::Unspecified => ("info.svg", "Information"),
        };
        let fields = alert
            .display_fields
            .iter()
            .map(|f| (f.label.clone(), f.value.clone()))
            .collect();
        let raw_link = alert.link.as_deref();
        let link = raw_link.filter(|l| is_web_link(l)).map(str::to_string);
        Card {
            alert_type: alert_type.to_string(),
            icon,
            icon_label,
            message: alert.message.clone(),
            fields,
            bad_link: raw_link.filter(|_| link.is_none()).map(str::to_string),
            link,
            mutation: alert
                .mutation
                .as_ref()
                .map(mutation_lines)
                .unwrap_or_default(),
            guid: alert.guid.clone(),
            rule: rule.unwrap_or_default().to_string(),
        }
    }
}

fn is_web_link(link: &str) -> bool {
    url::Url::parse(link).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

/// A mutation as the changes it proposes, one per value:
/// `estimateItineraries.voyageEstimateBunkers[fuelType=LSF].departureQty → 175`.
///
/// Items of a list are named by their first text field (the way IMOS matches them, e.g.
/// `fuelType`), or by position when they have none.
pub fn mutation_lines(mutation: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    walk(mutation, String::new(), &mut lines);
    lines
}

fn walk(value: &Value, path: String, lines: &mut Vec<String>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, v) in map {
                walk(v, join(key), lines);
            }
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
            for (i, item) in items.iter().enumerate() {
                let map = item.as_object().expect("checked");
                let key = map.iter().find(|(_, v)| v.is_string());
                let (name, rest): (String, Vec<(&String, &Value)>) = match key {
                    Some((k, v)) => (
                        format!("{path}[{k}={}]", v.as_str().unwrap_or_default()),
                        map.iter().filter(|(other, _)| *other != k).collect(),
                    ),
                    None => (format!("{path}[{i}]"), map.iter().collect()),
                };
                if rest.is_empty() {
                    lines.push(format!("{name} → (added)"));
                }
                for (k, v) in rest {
                    walk(v, format!("{name}.{k}"), lines);
                }
            }
        }
        leaf => {
            let shown = match leaf {
                Value::Null => "(cleared)".to_string(),
                other => other.to_string(),
            };
            let path = if path.is_empty() {
                "(estimate)".to_string()
            } else {
                path
            };
            lines.push(format!("{path} → {shown}"));
        }
    }
}

/// A body shown as (pretty) JSON.
pub struct Body {
    pub text: String,
    /// Bytes as stored.
    pub size: usize,
    /// Why the text is not all of it, when it is not.
    pub note: String,
    /// Where the whole body is.
    pub raw_url: String,
}

impl Body {
    pub fn new(bytes: &[u8], raw_url: String) -> Body {
        let size = bytes.len();
        let mut note = String::new();
        let text = if size == 0 {
            note = "(empty)".into();
            String::new()
        } else if size > SHOWN_BODY_BYTES {
            note = format!(
                "{size} bytes: the first {SHOWN_BODY_BYTES} are shown as received; open the whole body below"
            );
            String::from_utf8_lossy(&bytes[..SHOWN_BODY_BYTES]).into_owned()
        } else {
            // Stored bodies are outside input too: parsed through the depth check.
            match std::str::from_utf8(bytes).map(crate::rules::json::parse) {
                Ok(Ok(value)) => {
                    sonic_rs::to_string_pretty(&value).expect("parsed JSON serializes")
                }
                Ok(Err(crate::nesting::Error::TooDeep(e))) => {
                    note = format!("not shown as a tree: {e}; shown as received");
                    String::from_utf8_lossy(bytes).into_owned()
                }
                _ => {
                    note = "not JSON: shown as received".into();
                    String::from_utf8_lossy(bytes).into_owned()
                }
            }
        };
        Body {
            text,
            size,
            note,
            raw_url,
        }
    }
}

/// A value that links to the events list filtered by it.
pub struct FilterLink {
    pub text: String,
    pub href: String,
}

impl FilterLink {
    fn new(filter: &str, value: &str, text: String) -> FilterLink {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair(filter, value)
            .finish();
        FilterLink {
            text,
            href: format!("/admin/events?{query}"),
        }
    }

    pub fn containers(event: &Event) -> Vec<FilterLink> {
        event
            .containers
            .iter()
            .map(|c| FilterLink::new("container", c, c.clone()))
            .collect()
    }

    /// By IMO number when the event has it, else by name.
    pub fn vessels(event: &Event) -> Vec<FilterLink> {
        event
            .vessels
            .iter()
            .map(|v| match (v.imo, &v.name) {
                (Some(imo), _) => FilterLink::new("vessel", &imo.to_string(), vessel(v)),
                (None, Some(name)) => FilterLink::new("vessel", name, vessel(v)),
                (None, None) => FilterLink {
                    text: vessel(v),
                    href: String::new(),
                },
            })
            .collect()
    }

    pub fn ports(event: &Event) -> Vec<FilterLink> {
        event
            .ports
            .iter()
            .map(|p| FilterLink::new("port", p, p.clone()))
            .collect()
    }
}

/// `KOTA LOCENG · IMO 9628336 (outbound)`; the role only when it says something.
fn vessel(v: &Vessel) -> String {
    let mut text = match (&v.name, v.imo) {
        (Some(name), Some(imo)) => format!("{name} · IMO {imo}"),
        (Some(name), None) => name.clone(),
        (None, Some(imo)) => format!("IMO {imo}"),
        (None, None) => "(unnamed)".into(),
    };
    if v.role != "vessel" {
        text.push_str(&format!(" ({})", v.role));
    }
    text
}

/// Whose name list an event's name is checked against, for "unknown" marks.
fn documented_by(source: &str) -> &'static str {
    match source {
        "octopi" => "Octopi",
        "portconnect" => "PortConnect",
        _ => "its source",
    }
}

/// One row of the events list.
pub struct EventRow {
    pub id: String,
    /// When it happened, as the sender wrote it (empty when the event has no time).
    pub at: String,
    pub at_iso: String,
    pub received: String,
    pub received_iso: String,
    pub source: String,
    pub kind: String,
    pub event: String,
    pub known: bool,
    /// Why the name is marked, for its title.
    pub unknown_note: String,
    pub containers: Vec<FilterLink>,
    pub vessels: Vec<FilterLink>,
    pub ports: Vec<FilterLink>,
}

impl From<&Event> for EventRow {
    fn from(e: &Event) -> EventRow {
        EventRow {
            id: e.id.clone(),
            at: e.at.clone().unwrap_or_default(),
            at_iso: e.occurred_at.map(iso).unwrap_or_default(),
            received: time(e.received_at),
            received_iso: iso(e.received_at),
            source: e.source.clone(),
            kind: e.kind.clone(),
            event: e.event.clone(),
            known: e.known,
            unknown_note: format!(
                "not an event {} documents: stored as sent",
                documented_by(&e.source)
            ),
            containers: FilterLink::containers(e),
            vessels: FilterLink::vessels(e),
            ports: FilterLink::ports(e),
        }
    }
}

/// The event's facts, label and value, for its page.
pub fn event_summary(e: &Event) -> Vec<(&'static str, String)> {
    vec![
        (
            "Event",
            if e.known {
                e.event.clone()
            } else {
                format!(
                    "{} (not an event {} documents: stored as sent)",
                    e.event,
                    documented_by(&e.source)
                )
            },
        ),
        ("Source", e.source.clone()),
        ("Kind", e.kind.clone()),
        (
            "Happened",
            match (&e.at, e.occurred_at) {
                (Some(at), Some(micros)) => format!("{at} ({})", time(micros)),
                (Some(at), None) => at.clone(),
                _ => "— (the event carries no time; it sorts by when it was received)".into(),
            },
        ),
        ("Received", time(e.received_at)),
        ("Delivery", e.delivery.clone().unwrap_or_else(|| "—".into())),
        ("Duplicates dropped by", e.dedupe.clone()),
        ("Payload size", format!("{} bytes", e.payload.len())),
        ("Event id", e.id.clone()),
    ]
}

/// One rule's row of the trace.
pub struct RuleRow {
    pub rule: String,
    pub time: String,
    pub outcome: String,
    pub operations: u64,
    pub alerts: usize,
    pub output: String,
    pub error: String,
    pub notes: Vec<String>,
    /// The rule's last run on the estimate was reused (inputs unchanged).
    pub reused: bool,
}

impl From<&RuleTrace> for RuleRow {
    fn from(t: &RuleTrace) -> RuleRow {
        let error = t
            .error
            .as_ref()
            .map(|e| {
                let mut at = String::new();
                if let Some(source) = &e.source {
                    at.push_str(&format!("{source}, "));
                }
                match (e.line, e.column) {
                    (Some(line), Some(column)) => {
                        at.push_str(&format!("line {line}, column {column}: "))
                    }
                    (Some(line), None) => at.push_str(&format!("line {line}: ")),
                    _ => {}
                }
                format!("{at}{}", e.message)
            })
            .unwrap_or_default();
        RuleRow {
            rule: t.rule.clone(),
            time: duration(t.duration_us),
            outcome: t.outcome.clone(),
            operations: t.operations,
            alerts: t.alerts.len(),
            output: t.output.clone(),
            error,
            notes: t.notes.clone(),
            reused: t.reused,
        }
    }
}

/// The call's facts, label and value, for the summary.
pub fn summary(call: &Call) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("Received", time(call.received_at)),
        ("Rule set", call.ruleset.clone()),
        ("Status", call.status.to_string()),
        ("Signature", signature(&call.signature)),
        ("Duration", duration(call.duration_us)),
        (
            "Estimate",
            call.estimate_id.clone().unwrap_or_else(|| "—".into()),
        ),
        (
            "Alerts",
            if call.omitted > 0 {
                format!(
                    "{} sent, {} left out to stay under 1 MB",
                    call.alerts, call.omitted
                )
            } else {
                call.alerts.to_string()
            },
        ),
        (
            "Rule problems",
            Some(problems(call.rule_errors, call.rule_timeouts))
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "none".into()),
        ),
        (
            "Rules version",
            call.rules_version.clone().unwrap_or_else(|| "—".into()),
        ),
        ("Peer", call.peer.clone()),
        ("Instance", call.instance.clone()),
        (
            "Request size",
            if call.request_truncated {
                format!(
                    "{} bytes (only the first {} kept)",
                    call.request_size,
                    call.request_body.len()
                )
            } else {
                format!("{} bytes", call.request_size)
            },
        ),
        (
            "Redacted",
            if call.redacted.is_empty() {
                "nothing".into()
            } else {
                call.redacted.join(", ")
            },
        ),
    ];
    rows.push(("Call id", call.id.clone()));
    rows
}

/// The signature check's outcome, with what it means where that is not obvious.
fn signature(outcome: &str) -> String {
    let meaning = match outcome {
        "not_required" => "the rule set has no API key",
        "not_checked" => "the call ended before the check",
        "missing" => "no Veson-Webhook-Signature header",
        "mismatch" => "the signature does not match the body",
        "malformed" => "neither hex nor base64 of a SHA-256",
        "repeated" => "the header was sent more than once",
        _ => return outcome.to_string(),
    };
    format!("{outcome} ({meaning})")
}

/// The cards of a call's answer, with the rule behind each.
pub fn cards(call: &Call) -> Vec<Card> {
    call.answer()
        .iter()
        .map(|alert| Card::new(alert, call.rule_of(&alert.guid)))
        .collect()
}

/// One change of a replay.
pub struct ChangeView {
    /// `added`, `removed` or `changed`.
    pub kind: &'static str,
    pub alert_type: String,
    pub message: String,
    /// For `changed`: the fields that differ, and the message before when it changed.
    pub fields: String,
    pub message_before: String,
    /// `changed` with a new GUID: IMOS shows it as a new alert.
    pub guid_changed: bool,
    pub guid_before: String,
    pub guid_after: String,
    /// The mutation before and after, when it changed.
    pub mutation_before: Vec<String>,
    pub mutation_after: Vec<String>,
    /// Other fields that changed, `name: before → after`.
    pub details: Vec<String>,
}

impl From<&Change> for ChangeView {
    fn from(change: &Change) -> ChangeView {
        let simple = |kind: &'static str, alert: &Wire| ChangeView {
            kind,
            alert_type: alert.alert_type.as_str().to_string(),
            message: alert.message.clone(),
            fields: String::new(),
            message_before: String::new(),
            guid_changed: false,
            guid_before: String::new(),
            guid_after: alert.guid.clone(),
            mutation_before: Vec::new(),
            mutation_after: alert
                .mutation
                .as_ref()
                .map(mutation_lines)
                .unwrap_or_default(),
            details: Vec::new(),
        };
        match change {
            Change::Added { alert } => simple("added", alert),
            Change::Removed { alert } => simple("removed", alert),
            Change::Changed {
                before,
                after,
                fields,
                guid_changed,
            } => {
                let message_before = if before.message != after.message {
                    before.message.clone()
                } else {
                    String::new()
                };
                let (before_fields, after_fields) = (before.fields(), after.fields());
                let mutated = fields.iter().any(|f| f == "mutation");
                let details = fields
                    .iter()
                    .filter(|f| !["message", "guid", "mutation"].contains(&f.as_str()))
                    .map(|f| {
                        let show = |v: Option<&Value>| match v {
                            None => "(none)".to_string(),
                            Some(Value::String(s)) => s.clone(),
                            Some(other) => other.to_string(),
                        };
                        format!(
                            "{f}: {} → {}",
                            show(before_fields.get(f)),
                            show(after_fields.get(f))
                        )
                    })
                    .collect();
                ChangeView {
                    kind: "changed",
                    alert_type: after.alert_type.as_str().to_string(),
                    message: after.message.clone(),
                    fields: fields.join(", "),
                    message_before,
                    guid_changed: *guid_changed,
                    guid_before: before.guid.clone(),
                    guid_after: after.guid.clone(),
                    mutation_before: if mutated {
                        before
                            .mutation
                            .as_ref()
                            .map(mutation_lines)
                            .unwrap_or_default()
                    } else {
                        Vec::new()
                    },
                    mutation_after: if mutated {
                        after
                            .mutation
                            .as_ref()
                            .map(mutation_lines)
                            .unwrap_or_default()
                    } else {
                        Vec::new()
                    },
                    details,
                }
            }
        }
    }
}

/// A replay's outcome as the page shows it.
pub struct ReplayView {
    pub error: String,
    pub changes: Vec<ChangeView>,
    pub rule_problems: Vec<String>,
    pub caveats: Vec<String>,
    pub version_then: String,
    pub version_now: String,
    pub alerts_then: usize,
    pub alerts_now: usize,
}

impl ReplayView {
    pub fn new(replayed: &Replayed) -> ReplayView {
        ReplayView {
            error: String::new(),
            changes: replayed.changes.iter().map(ChangeView::from).collect(),
            rule_problems: replayed.rule_problems.clone(),
            caveats: replayed.caveats.clone(),
            version_then: replayed
                .rules_version_then
                .clone()
                .unwrap_or_else(|| "—".into()),
            version_now: replayed.rules_version_now.clone(),
            alerts_then: replayed.then.len(),
            alerts_now: replayed.now.len(),
        }
    }

    pub fn failed(message: String) -> ReplayView {
        ReplayView {
            error: message,
            changes: Vec::new(),
            rule_problems: Vec::new(),
            caveats: Vec::new(),
            version_then: String::new(),
            version_now: String::new(),
            alerts_then: 0,
            alerts_now: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mutations_read_as_the_change_they_propose() {
        let cases = [
            (
                json!({"estimateItineraries": {"speed": 13.4, "voyageEstimateBunkers": [{"fuelType": "LSF", "departureQty": 175}]}}),
                vec![
                    "estimateItineraries.speed → 13.4",
                    "estimateItineraries.voyageEstimateBunkers[fuelType=LSF].departureQty → 175",
                ],
            ),
            (
                json!({"estimateItineraries": [{"speed": 12}, {"speed": 11.5}]}),
                vec![
                    "estimateItineraries[0].speed → 12",
                    "estimateItineraries[1].speed → 11.5",
                ],
            ),
            (json!({"remarks": null}), vec!["remarks → (cleared)"]),
            (
                json!({"ports": ["SANTOS", "QINGDAO"]}),
                vec![r#"ports → ["SANTOS","QINGDAO"]"#],
            ),
            (
                json!({"tags": [{"name": "eca"}]}),
                vec!["tags[name=eca] → (added)"],
            ),
            (json!(5), vec!["(estimate) → 5"]),
        ];
        for (mutation, lines) in cases {
            assert_eq!(mutation_lines(&mutation), lines, "{mutation}");
        }
    }

    #[test]
    fn cards_take_only_web_links_and_known_types() {
        let wire = |v: Value| serde_json::from_value::<Wire>(v).unwrap();
        let card = Card::new(
            &wire(
                json!({"message": "m", "alertType": "Bogus", "link": "javascript:alert(1)",
                    "displayFields": [{"label": "Qty", "value": "52.85"}]}),
            ),
            None,
        );
        assert_eq!(card.alert_type, "Unspecified");
        assert_eq!(card.link, None);
        assert_eq!(card.bad_link.as_deref(), Some("javascript:alert(1)"));
        assert_eq!(card.fields, vec![("Qty".to_string(), "52.85".to_string())]);
        let card = Card::new(
            &wire(json!({"message": "m", "alertType": "Error", "link": "https://desk.example/x"})),
            Some("r"),
        );
        assert_eq!(card.link.as_deref(), Some("https://desk.example/x"));
        assert_eq!(card.icon, "error.svg");
    }

    #[test]
    fn bodies_are_pretty_in_their_order_and_cut_when_huge() {
        let body = Body::new(br#"{"b":1,"a":[1,2]}"#, String::new());
        assert_eq!(
            body.text,
            "{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2\n  ]\n}"
        );
        let huge = vec![b'x'; SHOWN_BODY_BYTES + 10];
        let body = Body::new(&huge, String::new());
        assert_eq!(body.text.len(), SHOWN_BODY_BYTES);
        assert!(body.note.contains("the first"));
        assert!(Body::new(b"not json", String::new())
            .note
            .contains("not JSON"));
    }

    #[test]
    fn an_events_keys_link_to_the_list_filtered_by_them() {
        let event = Event {
            id: "0190a5b2-0000-7000-8000-000000000000".into(),
            received_at: 1_777_645_800_123_000,
            source: "portconnect".into(),
            kind: "container".into(),
            event: "GATEIN".into(),
            known: true,
            at: Some("2019-06-19T12:41:02+12:00".into()),
            occurred_at: Some(1_560_904_862_000_000),
            containers: vec!["APHU6303593".into()],
            vessels: vec![
                Vessel {
                    imo: Some(9628336),
                    name: Some("KOTA LOCENG".into()),
                    role: "outbound".into(),
                },
                Vessel {
                    imo: None,
                    name: Some("SPIRIT OF TASMAN".into()),
                    role: "vessel".into(),
                },
            ],
            ports: vec!["NZAKL".into()],
            delivery: None,
            dedupe: "d".into(),
            payload: "{}".into(),
        };
        let row = EventRow::from(&event);
        let shown = |links: &[FilterLink]| -> Vec<(String, String)> {
            links
                .iter()
                .map(|l| (l.text.clone(), l.href.clone()))
                .collect()
        };
        assert_eq!(
            shown(&row.containers),
            [(
                "APHU6303593".to_string(),
                "/admin/events?container=APHU6303593".to_string()
            )]
        );
        assert_eq!(
            shown(&row.vessels),
            [
                (
                    "KOTA LOCENG · IMO 9628336 (outbound)".to_string(),
                    "/admin/events?vessel=9628336".to_string()
                ),
                (
                    "SPIRIT OF TASMAN".to_string(),
                    "/admin/events?vessel=SPIRIT+OF+TASMAN".to_string()
                )
            ]
        );
        assert_eq!(
            shown(&row.ports),
            [("NZAKL".to_string(), "/admin/events?port=NZAKL".to_string())]
        );
        assert_eq!(row.at, "2019-06-19T12:41:02+12:00");
        assert_eq!(row.at_iso, "2019-06-19T00:41:02.000Z");
        let summary = event_summary(&event);
        assert_eq!(
            summary[3],
            (
                "Happened",
                "2019-06-19T12:41:02+12:00 (2019-06-19 00:41:02.000 UTC)".to_string()
            )
        );
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(412), "0.412 ms");
        assert_eq!(duration(38_200), "38.2 ms");
        assert_eq!(duration(1_250_000), "1.25 s");
        assert_eq!(time(1_777_645_800_123_000), "2026-05-01 14:30:00.123 UTC");
    }
}
