//! PortConnect callbacks: a JSON array of container visit events or of vessel schedule
//! events, authenticated by the `X-WebhookToken` header.
//!
//! Keys are matched without regard to case (PortConnect has sent `containerNumber` and
//! `ContainerNumber`, depending on the subscription's `SendCamelCase`). Every item is
//! checked before anything is stored: one bad item refuses the whole call with its index
//! and field, so the sender's retry of the corrected batch is safe. Two items are the
//! same event when their content is the same, keys' case and order aside (the same
//! `subscriptionEventId` carries one item per container, so it is not a key on its own).

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{kind_of, normalize_container, normalize_name, parse_imo, parse_time, Event, Vessel};
use crate::signature::ApiKey;

/// The header PortConnect puts the subscription's token in.
pub const TOKEN_HEADER: &str = "x-webhooktoken";

/// Items one call may carry, at most.
pub const MAX_ITEMS: usize = 10_000;

/// Container visit event codes PortConnect documents.
pub const CONTAINER_EVENTS: &[&str] = &[
    "ACTIVE",
    "AVAILABLE",
    "AVAILABLECANCELLED",
    "BOOKINGDISCREPANCY",
    "CEDORELEASE",
    "CEDOREVOKED",
    "CLEARED",
    "CLEAREDCANCELLED",
    "CUSTOMSRELEASE",
    "CUSTOMSRELEASECANCELLED",
    "DISCHARGE",
    "DISCHARGEDNOTCLEARED",
    "EXPORTCLEARED",
    "EXPORTCLEAREDCANCELLED",
    "GATEIN",
    "GATEOUT",
    "HAZARDGATERULE",
    "LFT24HOURS",
    "LFTCHANGED",
    "LFTEXCEEDED",
    "LOAD",
    "LOPRELEASE",
    "LOPRELEASECANCELLED",
    "MPIRELEASE",
    "MPIRELEASECANCELLED",
    "NOCEDO",
    "PINAVAILABLE",
    "PINSUSPENDED",
    "PRIORITYGATEIN",
    "VBSCHANGED",
    "VESSELARRIVAL",
    "VESSELDEPARTURE",
    "DEPART",
];

/// Vessel schedule event codes PortConnect documents.
pub const VESSEL_EVENTS: &[&str] = &[
    "VESSELARRIVAL",
    "VESSELDEPARTURE",
    "VESSELCANCELLED",
    "VESSELETACHANGED",
    "VESSELETDCHANGED",
    "RECEIVALCOMMENCEINLANDCHANGED",
    "RECEIVALCUTOFFINLANDCHANGED",
    "RECEIVALCOMMENCESEAPORTCHANGED",
    "RECEIVALCUTOFFSEAPORTCHANGED",
];

/// Whether `presented` is one of the configured tokens, compared in constant time (every
/// token is compared, whatever matched).
pub fn token_matches(presented: Option<&[u8]>, tokens: &[ApiKey]) -> bool {
    use subtle::ConstantTimeEq;
    let Some(presented) = presented.filter(|p| !p.is_empty()) else {
        return false;
    };
    let mut matched = subtle::Choice::from(0);
    for token in tokens {
        let expected = token.expose().as_bytes();
        // `ct_eq` on slices of different lengths is false without comparing; the length
        // of a token is not the secret.
        matched |= expected.ct_eq(presented);
    }
    bool::from(matched)
}

/// An item's fields by lower-case key.
struct Item<'a> {
    index: usize,
    fields: BTreeMap<String, (&'a str, &'a Value)>,
}

impl<'a> Item<'a> {
    fn new(index: usize, object: &'a serde_json::Map<String, Value>) -> Result<Item<'a>, String> {
        let mut fields = BTreeMap::new();
        for (key, value) in object {
            if let Some((first, _)) = fields.insert(key.to_lowercase(), (key.as_str(), value)) {
                return Err(format!(
                    "item {index}: \"{first}\" and \"{key}\" are the same field in another case; send it once"
                ));
            }
        }
        Ok(Item { index, fields })
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.fields
            .get(&name.to_lowercase())
            .map(|(_, v)| *v)
            .filter(|v| !v.is_null())
    }

    fn fail(&self, name: &str, what: String) -> String {
        let key = self
            .fields
            .get(&name.to_lowercase())
            .map(|(k, _)| *k)
            .unwrap_or(name);
        format!("item {}, field \"{key}\": {what}", self.index)
    }

    /// A text field (a number is taken as its digits); `None` when absent, null or empty.
    fn text(&self, name: &str) -> Result<Option<String>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(self.fail(name, format!("is {}; expected text", kind_of(other)))),
        }
    }

    fn required_text(&self, name: &str, what: &str) -> Result<String, String> {
        self.text(name)?.ok_or_else(|| match self.get(name) {
            None if !self.fields.contains_key(&name.to_lowercase()) => {
                format!("item {}, field \"{name}\": missing; {what}", self.index)
            }
            _ => self.fail(name, format!("is empty; {what}")),
        })
    }

    fn integer(&self, name: &str) -> Result<(), String> {
        match self.get(name) {
            None => Ok(()),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(()),
            Some(Value::String(s)) if s.trim().parse::<i64>().is_ok() => Ok(()),
            Some(other) => Err(self.fail(
                name,
                format!("is {}; expected a whole number", describe(other)),
            )),
        }
    }

    fn time(&self, name: &str) -> Result<(String, i64), String> {
        let text = self.required_text(name, "the event's date and time with its offset")?;
        parse_time(&text).map_err(|e| self.fail(name, e))
    }

    fn imo(&self, name: &str) -> Result<Option<i64>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => parse_imo(v).map_err(|e| self.fail(name, e)),
        }
    }

    fn vessel(&self, role: &str, imo: &str, name: &str) -> Result<Option<Vessel>, String> {
        let imo = self.imo(imo)?;
        let name = self.text(name)?.and_then(|n| normalize_name(&n));
        Ok((imo.is_some() || name.is_some()).then(|| Vessel {
            imo,
            name,
            role: role.into(),
        }))
    }

    /// The content hash that makes two deliveries of this item the same event.
    fn dedupe(&self) -> String {
        let mut hasher = Sha256::new();
        for (key, (_, value)) in &self.fields {
            hasher.update(key.as_bytes());
            hasher.update([0]);
            canonical(value, &mut hasher);
            hasher.update([0]);
        }
        format!("portconnect:{}", hex::encode(hasher.finalize()))
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{s}\""),
        Value::Number(n) => n.to_string(),
        other => kind_of(other).to_string(),
    }
}

/// Feeds a value to the hash with object keys lower-cased and sorted.
fn canonical(value: &Value, hasher: &mut Sha256) {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<String, &Value> =
                map.iter().map(|(k, v)| (k.to_lowercase(), v)).collect();
            hasher.update(b"{");
            for (k, v) in sorted {
                hasher.update(k.as_bytes());
                hasher.update(b":");
                canonical(v, hasher);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for v in items {
                canonical(v, hasher);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        other => hasher.update(other.to_string().as_bytes()),
    }
}

/// Reads a callback body into its events, all or nothing. `ids` gives each event its id
/// (called once per item, in order); `received_at` is the call's arrival.
pub fn parse(
    body: &[u8],
    received_at: i64,
    mut ids: impl FnMut() -> String,
) -> Result<Vec<Event>, String> {
    let text = std::str::from_utf8(body).map_err(|e| {
        format!(
            "the body is not UTF-8 (byte {}); send a JSON array",
            e.valid_up_to()
        )
    })?;
    let raw: Vec<&RawValue> = crate::nesting::from_str(text).map_err(|e| {
        if matches!(e, crate::nesting::Error::TooDeep(_)) {
            format!("the body is refused: {e}")
        } else if text.trim_start().starts_with('[') {
            format!("the body is not valid JSON: {e}")
        } else {
            "the body is not a JSON array; PortConnect sends its events as [ {...}, ... ]"
                .to_string()
        }
    })?;
    if raw.len() > MAX_ITEMS {
        return Err(format!(
            "{} events in one call; send at most {MAX_ITEMS} per call",
            raw.len()
        ));
    }
    let mut events = Vec::with_capacity(raw.len());
    for (index, item) in raw.iter().enumerate() {
        // The whole body passed the depth check, so this cannot fail; if it ever does,
        // it is this item's error, never a panic.
        let value: Value = serde_json::from_str(item.get())
            .map_err(|e| format!("item {index} is not valid JSON: {e}"))?;
        let Value::Object(object) = &value else {
            return Err(format!(
                "item {index} is {}; each event is a JSON object",
                kind_of(&value)
            ));
        };
        let item_fields = Item::new(index, object)?;
        let mut event = if item_fields
            .fields
            .contains_key("containervisiteventtypecode")
        {
            container_event(&item_fields)?
        } else if item_fields
            .fields
            .contains_key("vesselscheduleeventtypecode")
        {
            vessel_event(&item_fields)?
        } else {
            return Err(format!(
                "item {index}: neither \"containerVisitEventTypeCode\" (a container visit event) nor \"vesselScheduleEventTypeCode\" (a vessel schedule event); is this a PortConnect callback?"
            ));
        };
        event.id = ids();
        event.received_at = received_at;
        event.dedupe = item_fields.dedupe();
        event.payload = item.get().to_string();
        events.push(event);
    }
    Ok(events)
}

fn blank(kind: &str, event: String, known: bool) -> Event {
    Event {
        id: String::new(),
        received_at: 0,
        source: "portconnect".into(),
        kind: kind.into(),
        event,
        known,
        at: None,
        occurred_at: None,
        containers: Vec::new(),
        vessels: Vec::new(),
        ports: Vec::new(),
        delivery: None,
        dedupe: String::new(),
        payload: String::new(),
    }
}

fn code(item: &Item<'_>, name: &str, known: &[&str]) -> Result<(String, bool), String> {
    let code = item
        .required_text(name, "the event's code, such as GATEIN")?
        .to_ascii_uppercase();
    if !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') || code.len() > 64 {
        return Err(item.fail(
            name,
            format!("\"{code}\" is not an event code (letters and digits)"),
        ));
    }
    let is_known = known.contains(&code.as_str());
    Ok((code, is_known))
}

fn ports(item: &Item<'_>, names: &[&str]) -> Result<Vec<String>, String> {
    let mut ports = Vec::new();
    for name in names {
        if let Some(port) = item.text(name)?.and_then(|p| normalize_name(&p)) {
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
    }
    Ok(ports)
}

fn check_types(item: &Item<'_>, integers: &[&str], texts: &[&str]) -> Result<(), String> {
    for name in integers {
        item.integer(name)?;
    }
    for name in texts {
        item.text(name)?;
    }
    Ok(())
}

fn container_event(item: &Item<'_>) -> Result<Event, String> {
    let (code, known) = code(item, "containerVisitEventTypeCode", CONTAINER_EVENTS)?;
    let number = item.required_text(
        "containerNumber",
        "the container's number, such as APHU6303593",
    )?;
    let container = normalize_container(&number)
        .ok_or_else(|| item.fail("containerNumber", "is empty".into()))?;
    if container.len() > 20 || !container.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(item.fail(
            "containerNumber",
            format!("\"{number}\" is not a container number"),
        ));
    }
    let (at, occurred_at) = item.time("containerVisitEventDatetime")?;
    check_types(
        item,
        &[
            "subscriptionEventId",
            "subscriptionId",
            "subscriptionContainerId",
        ],
        &[
            "containerVisitTypeCode",
            "containerIsoTypeCode",
            "containerVisitUri",
            "userDefinedReference",
            "containerVisitEventValue",
            "containerVisitEventValue2",
            "inboundVesselRef",
            "outboundVesselRef",
            "bookingReference",
            "containerStatus",
            "containerOperatorSCACCode",
        ],
    )?;
    let mut event = blank("container", code, known);
    event.at = Some(at);
    event.occurred_at = Some(occurred_at);
    event.containers = vec![container];
    event.vessels = [
        item.vessel("inbound", "inboundVesselIMONumber", "inboundVesselName")?,
        item.vessel("outbound", "outboundVesselIMONumber", "outboundVesselName")?,
    ]
    .into_iter()
    .flatten()
    .collect();
    event.ports = ports(item, &["partnerPortCode", "containerVisitEventLocation"])?;
    Ok(event)
}

fn vessel_event(item: &Item<'_>) -> Result<Event, String> {
    let (code, known) = code(item, "vesselScheduleEventTypeCode", VESSEL_EVENTS)?;
    let (at, occurred_at) = item.time("vesselScheduleEventDatetime")?;
    check_types(
        item,
        &[
            "subscriptionEventId",
            "subscriptionId",
            "subscriptionVesselScheduleId",
        ],
        &[
            "wharfType",
            "wharfName",
            "vesselScheduleId",
            "vesselRef",
            "userDefinedReference",
            "inboundVoyageNumber",
            "outboundVoyageNumber",
            "agent",
        ],
    )?;
    let vessel = item.vessel("vessel", "lloydNumber", "vesselName")?;
    if vessel.is_none() && item.text("vesselRef")?.is_none() {
        return Err(format!(
            "item {}: no vessel; a vessel schedule event names its vessel with \"LloydNumber\" (IMO), \"VesselName\" or \"VesselRef\"",
            item.index
        ));
    }
    let mut event = blank("vessel", code, known);
    event.at = Some(at);
    event.occurred_at = Some(occurred_at);
    event.vessels = vessel.into_iter().collect();
    event.ports = ports(item, &["partnerPortCode", "vesselScheduleEventLocation"])?;
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The three-event example from PortConnect's "Webhook Callback Payload" page.
    pub const DOC_EXAMPLE: &str = include_str!("../../tests/data/portconnect-doc-example.json");

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("id-{n}")
        }
    }

    #[test]
    fn the_documented_example_gives_three_events_under_one_subscription_event_id() {
        let events = parse(DOC_EXAMPLE.as_bytes(), 7, ids()).unwrap();
        assert_eq!(events.len(), 3);
        let first = &events[0];
        assert_eq!((first.id.as_str(), first.received_at), ("id-1", 7));
        assert_eq!(
            (first.kind.as_str(), first.event.as_str(), first.known),
            ("container", "GATEIN", true)
        );
        assert_eq!(first.containers, vec!["APHU6303593"]);
        assert_eq!(
            first.vessels,
            vec![Vessel {
                imo: Some(9628336),
                name: Some("KOTA LOCENG".into()),
                role: "outbound".into()
            }]
        );
        assert_eq!(first.ports, vec!["NZAKL"]);
        assert_eq!(first.at.as_deref(), Some("2019-06-19T12:41:02+12:00"));
        let payload: Value = serde_json::from_str(&first.payload).unwrap();
        assert_eq!(payload["containerNumber"], "APHU6303593");
        let containers: Vec<_> = events.iter().map(|e| e.containers[0].as_str()).collect();
        assert_eq!(containers, ["APHU6303593", "MEDU3085895", "MEDU5129708"]);
        let mut dedupes: Vec<_> = events.iter().map(|e| &e.dedupe).collect();
        dedupes.dedup();
        assert_eq!(
            dedupes.len(),
            3,
            "same subscriptionEventId, three containers, three events"
        );
    }

    #[test]
    fn keys_in_any_case_are_the_same_event() {
        let camel = r#"[{"containerVisitEventTypeCode":"GATEOUT","containerNumber":"MSCU1234565","containerVisitEventDatetime":"2026-11-20T08:00:00+13:00","partnerPortCode":"NZTRG"}]"#;
        let pascal = r#"[{"PartnerPortCode":"NZTRG","ContainerVisitEventDatetime":"2026-11-20T08:00:00+13:00","ContainerNumber":"MSCU1234565","ContainerVisitEventTypeCode":"GATEOUT"}]"#;
        let a = parse(camel.as_bytes(), 0, ids()).unwrap();
        let b = parse(pascal.as_bytes(), 0, ids()).unwrap();
        assert_eq!(a[0].dedupe, b[0].dedupe);
        assert_eq!(
            (b[0].event.as_str(), b[0].ports.as_slice()),
            ("GATEOUT", &["NZTRG".to_string()][..])
        );
    }

    #[test]
    fn vessel_schedule_events_in_pascal_case() {
        let body = r#"[{"SubscriptionEventId":158843,"SubscriptionId":45,"PartnerPortCode":"NZAKL","WharfType":"Terminal","WharfName":"FERGUSSON","VesselScheduleID":"6ac28a4f-55e4-4ffe-8e93-477b1959a2a6","VesselScheduleEventTypeCode":"VESSELDEPARTURE","VesselScheduleEventDatetime":"2024-05-08T23:27:00+12:00","VesselScheduleEventLocation":null,"VesselName":"CAPITAINE TUPAIA","SubscriptionVesselScheduleId":170,"UserDefinedReference":"MyReference","VesselRef":"CUP9344","LloydNumber":9410301,"InboundVoyageNumber":"017S","OutboundVoyageNumber":"018N","SendCamelCase":false,"Agent":"Agent Name"}]"#;
        let events = parse(body.as_bytes(), 0, ids()).unwrap();
        let e = &events[0];
        assert_eq!(
            (e.kind.as_str(), e.event.as_str(), e.known),
            ("vessel", "VESSELDEPARTURE", true)
        );
        assert_eq!(e.vessels[0].imo, Some(9410301));
        assert_eq!(e.vessels[0].name.as_deref(), Some("CAPITAINE TUPAIA"));
        assert_eq!(e.ports, vec!["NZAKL"]);
    }

    #[test]
    fn a_bad_item_names_its_index_and_field() {
        let good = r#"{"containerVisitEventTypeCode":"GATEIN","containerNumber":"APHU6303593","containerVisitEventDatetime":"2019-06-19T12:41:02+12:00"}"#;
        let cases = [
            (format!("[{good}, 5]"), "item 1 is a number; each event is a JSON object"),
            (format!("[{good}, {{\"containerNumber\":\"X\"}}]"), "item 1: neither"),
            (
                format!("[{good}, {}]", good.replace("2019-06-19T12:41:02+12:00", "19/06/2019")),
                "item 1, field \"containerVisitEventDatetime\": \"19/06/2019\" is not a date and time",
            ),
            (
                format!("[{}]", good.replace("\"APHU6303593\"", "\"\"")),
                "item 0, field \"containerNumber\": is empty",
            ),
            (
                format!("[{}]", good.replace(",\"containerNumber\":\"APHU6303593\"", "")),
                "item 0, field \"containerNumber\": missing",
            ),
            (
                format!("[{good}, {good}, {}]", good.replace("}", ",\"outboundVesselIMONumber\":\"KOTA\"}")),
                "item 2, field \"outboundVesselIMONumber\": \"KOTA\" is not an IMO number",
            ),
            (
                format!("[{}]", good.replace("}", ",\"subscriptionEventId\":1.5}")),
                "item 0, field \"subscriptionEventId\": is 1.5; expected a whole number",
            ),
            (
                format!("[{}]", good.replace("}", ",\"ContainerNumber\":\"MEDU3085895\"}")),
                "item 0: \"ContainerNumber\" and \"containerNumber\" are the same field in another case",
            ),
            (
                format!("[{}]", good.replace("}", ",\"bookingReference\":{\"a\":1}}")),
                "item 0, field \"bookingReference\": is an object; expected text",
            ),
            ("{\"a\":1}".to_string(), "not a JSON array"),
            ("[{\"a\":1},".to_string(), "not valid JSON"),
        ];
        for (body, expected) in cases {
            let err = parse(body.as_bytes(), 0, ids()).unwrap_err();
            assert!(
                err.contains(expected),
                "{body}\n  gave: {err}\n  expected: {expected}"
            );
        }
        assert_eq!(parse(b"[]", 0, ids()).unwrap(), vec![]);
    }

    #[test]
    fn at_most_max_items_per_call() {
        let item = r#"{"containerVisitEventTypeCode":"GATEIN","containerNumber":"TGHU0000000","containerVisitEventDatetime":"2026-11-20T08:00:00+13:00"}"#;
        let body = |n: usize| format!("[{}]", vec![item; n].join(","));
        let events = parse(body(MAX_ITEMS).as_bytes(), 0, ids()).unwrap();
        assert_eq!(events.len(), MAX_ITEMS);
        let err = parse(body(MAX_ITEMS + 1).as_bytes(), 0, ids()).unwrap_err();
        assert!(
            err.contains("10001 events in one call; send at most 10000"),
            "{err}"
        );
    }

    #[test]
    fn tokens_compare_only_equal_values() {
        let tokens = [
            ApiKey::new("123-456-789-000"),
            ApiKey::new("next-token-abc"),
        ];
        assert!(token_matches(Some(b"123-456-789-000"), &tokens));
        assert!(token_matches(Some(b"next-token-abc"), &tokens));
        assert!(!token_matches(Some(b"123-456-789-00"), &tokens));
        assert!(!token_matches(Some(b"123-456-789-0000"), &tokens));
        assert!(!token_matches(Some(b""), &tokens));
        assert!(!token_matches(None, &tokens));
        assert!(!token_matches(Some(b"anything"), &[]));
    }
}
