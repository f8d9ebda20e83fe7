//! Alerts: what a rule raises, how it is checked, and how a response body is assembled.
//!
//! The Estimator shows each alert as a card. This module owns the wire contract:
//! optional fields omitted (never `null`), a deterministic UUIDv5 `guid` for every
//! alert (unique within the response), and a serialized body that always stays under
//! 1,000,000 bytes, keeping the most severe alerts and ending with one Error alert that
//! counts what was left out. [`Wire`] is that contract as one type: [`assemble`] writes
//! it, and everything that reads an answer back (the viewer, `lookout test`, `lookout
//! logs`, replay, the viewer's "save as rule test") reads it with [`read_answer`]. It
//! knows nothing of HTTP or Rhai.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The response must be smaller than this many bytes (Veson: "less than 1MB").
pub const MAX_RESPONSE_BYTES: usize = 1_000_000;

/// Namespace of every alert GUID lookout issues (a fixed, random UUID).
const GUID_NAMESPACE: Uuid = uuid::uuid!("9c3e61a4-5b1f-4d8e-a0f2-6f4b2d7c9e15");

/// The card's icon. Declared from most to least severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub enum AlertType {
    Error,
    PermanentWarning,
    #[default]
    Unspecified,
}

impl<'de> Deserialize<'de> for AlertType {
    /// Leniently, as the Estimator does: a type it does not know is shown as `Unspecified`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AlertType, D::Error> {
        let text = Option::<String>::deserialize(d).unwrap_or_default();
        Ok(text
            .as_deref()
            .and_then(AlertType::parse)
            .unwrap_or(AlertType::Unspecified))
    }
}

impl AlertType {
    pub fn parse(text: &str) -> Option<AlertType> {
        match text {
            "Error" => Some(AlertType::Error),
            "PermanentWarning" => Some(AlertType::PermanentWarning),
            "Unspecified" => Some(AlertType::Unspecified),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AlertType::Error => "Error",
            AlertType::PermanentWarning => "PermanentWarning",
            AlertType::Unspecified => "Unspecified",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisplayField {
    #[serde(default, deserialize_with = "scalar_text")]
    pub label: String,
    #[serde(default, deserialize_with = "scalar_text")]
    pub value: String,
}

/// A string as it is; a number or boolean read back as its JSON text.
fn scalar_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => String::new(),
        Value::String(s) => s,
        other => other.to_string(),
    })
}

/// One alert as a rule produced it, already validated, before it has a GUID.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub alert_type: AlertType,
    pub message: String,
    pub display_fields: Vec<DisplayField>,
    pub link: Option<String>,
    pub mutation: Option<Map<String, Value>>,
    /// The rule author's identity for this alert; `None` means "ordinal within the rule".
    pub key: Option<String>,
}

impl Alert {
    pub fn new(alert_type: AlertType, message: impl Into<String>) -> Alert {
        Alert {
            alert_type,
            message: message.into(),
            display_fields: Vec::new(),
            link: None,
            mutation: None,
            key: None,
        }
    }
}

/// Checks a message: a non-empty string.
pub fn check_message(message: &str) -> Result<(), String> {
    if message.trim().is_empty() {
        return Err("the alert message is empty; say what the analyst should know".into());
    }
    Ok(())
}

/// Checks a link: an absolute http(s) URL.
pub fn check_link(link: &str) -> Result<(), String> {
    match url::Url::parse(link) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
        Ok(url) => Err(format!(
            "link `{link}` uses `{}:`; the Estimator opens only http(s) links",
            url.scheme()
        )),
        Err(e) => Err(format!(
            "link `{link}` is not a URL ({e}); give a full https:// address"
        )),
    }
}

/// Checks a display field label: a non-empty string.
pub fn check_label(label: &str) -> Result<(), String> {
    if label.trim().is_empty() {
        return Err("a display field label is empty; give each field a label".into());
    }
    Ok(())
}

/// Formats a number for a display field: integers as such, floats in their shortest form.
pub fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// What goes into an alert's GUID besides the rule set and rule.
pub struct Identity<'a> {
    pub ruleset: &'a str,
    /// The estimate's identity (e.g. its `estimateID`), or "" when none is found.
    pub estimate: &'a str,
}

/// The GUID of one alert: UUIDv5 of (rule set, rule, key, estimate identity, mutation).
pub fn guid(
    identity: &Identity,
    rule: &str,
    key: &str,
    mutation: Option<&Map<String, Value>>,
) -> Uuid {
    // serde_json's Map is a BTreeMap here, so this serialization is canonical (sorted keys).
    let mutation = mutation.map(|m| Value::Object(m.clone()));
    let name = serde_json::to_vec(&(identity.ruleset, rule, key, identity.estimate, mutation))
        .expect("plain JSON always serializes");
    Uuid::new_v5(&GUID_NAMESPACE, &name)
}

/// One alert of the response, attributed to the rule that raised it.
#[derive(Debug, Clone)]
pub struct Raised {
    pub rule: String,
    pub alert: Alert,
}

/// One alert as the Estimator reads it: the wire contract.
///
/// Written by [`assemble`] (optional fields omitted, never `null`, in this field
/// order); read back leniently (a missing field is empty, an unknown `alertType` is
/// `Unspecified`, a number in a display field is its text), as the Estimator shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Wire {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub alert_type: AlertType,
    #[serde(default)]
    pub guid: String,
    /// The change "Apply to Estimate" makes (an object; anything else is kept as sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutation: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub display_fields: Vec<DisplayField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

impl Wire {
    fn new(alert: Alert, guid: Uuid) -> Wire {
        Wire {
            message: alert.message,
            alert_type: alert.alert_type,
            guid: guid.to_string(),
            mutation: alert.mutation.map(Value::Object),
            display_fields: alert.display_fields,
            link: alert.link,
        }
    }

    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("alerts always serialize")
    }
}

impl Wire {
    /// The names (as on the wire, sorted) of the fields that differ between two alerts.
    pub fn changed_fields(&self, other: &Wire) -> Vec<String> {
        let (a, b) = (self.fields(), other.fields());
        let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter(|k| a.get(*k) != b.get(*k))
            .cloned()
            .collect()
    }

    /// The fields as sent, by their wire names.
    pub fn fields(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }
}

/// The alerts of a recorded or received answer; empty when the body is not a JSON
/// array of alerts (an error answer, say).
pub fn read_answer(body: &[u8]) -> Vec<Wire> {
    serde_json::from_slice(body).unwrap_or_default()
}

/// One alert of an assembled answer and the rule that raised it (`None` for the
/// notice that counts alerts left out).
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub rule: Option<String>,
    pub alert: Wire,
}

/// The assembled response.
#[derive(Debug)]
pub struct Assembled {
    /// The JSON array, always shorter than [`MAX_RESPONSE_BYTES`].
    pub body: Vec<u8>,
    /// Alerts in the body (not counting the omission notice).
    pub sent: usize,
    /// Alerts left out to stay under the size limit.
    pub omitted: usize,
    /// Per rule: notes for its trace (e.g. a repeated key that was disambiguated).
    pub notes: Vec<(String, String)>,
    /// The alerts of the body, in body order, each with the rule behind it (what
    /// `lookout test` matches `rule` against and the log's per-rule trace shows).
    pub alerts: Vec<Sent>,
}

impl Assembled {
    /// The alerts as the body carries them, in body order (what a replay or a
    /// candidate's run compares).
    pub fn wires(&self) -> Vec<Wire> {
        self.alerts.iter().map(|sent| sent.alert.clone()).collect()
    }
}

/// Gives every alert its GUID and serializes the response under the size limit.
///
/// `raised` is in rule order. When everything fits, that order is kept; otherwise the
/// most severe alerts are kept first (then rule order) and one Error alert at the end
/// says how many were left out.
pub fn assemble(identity: &Identity, raised: Vec<Raised>) -> Assembled {
    assemble_within(identity, raised, MAX_RESPONSE_BYTES)
}

fn assemble_within(identity: &Identity, raised: Vec<Raised>, limit: usize) -> Assembled {
    let mut notes = Vec::new();
    let guids = assign_guids(identity, &raised, &mut notes);
    let sent: Vec<Sent> = raised
        .into_iter()
        .zip(guids)
        .map(|(r, guid)| Sent {
            rule: Some(r.rule),
            alert: Wire::new(r.alert, guid),
        })
        .collect();
    let encoded: Vec<Vec<u8>> = sent.iter().map(|s| s.alert.encode()).collect();

    // "[" + items joined by "," + "]"
    let total: usize =
        2 + encoded.iter().map(Vec::len).sum::<usize>() + encoded.len().saturating_sub(1);
    if total < limit {
        return Assembled {
            body: join(encoded.iter()),
            sent: sent.len(),
            omitted: 0,
            notes,
            alerts: sent,
        };
    }

    let mut order: Vec<usize> = (0..sent.len()).collect();
    order.sort_by_key(|&i| (sent[i].alert.alert_type, i)); // stable: severity, then rule order
                                                           // Reserve room for the notice, sized for the largest count it could carry.
    let reserve = omission_notice(identity, sent.len()).encode().len() + 1;
    let mut kept = Vec::new();
    let mut size = 2 + reserve;
    for i in order {
        let len = encoded[i].len() + 1;
        if size + len < limit {
            size += len;
            kept.push(i);
        }
    }
    let omitted = sent.len() - kept.len();
    let notice = omission_notice(identity, omitted);
    let notice_bytes = notice.encode();
    let body = join(
        kept.iter()
            .map(|&i| &encoded[i])
            .chain(std::iter::once(&notice_bytes)),
    );
    debug_assert!(body.len() < limit);
    let mut slots: Vec<Option<Sent>> = sent.into_iter().map(Some).collect();
    let mut alerts: Vec<Sent> = kept
        .iter()
        .map(|&i| slots[i].take().expect("each kept once"))
        .collect();
    alerts.push(Sent {
        rule: None,
        alert: notice,
    });
    Assembled {
        body,
        sent: kept.len(),
        omitted,
        notes,
        alerts,
    }
}

/// GUIDs for each alert, made unique within the response deterministically.
fn assign_guids(
    identity: &Identity,
    raised: &[Raised],
    notes: &mut Vec<(String, String)>,
) -> Vec<Uuid> {
    let mut seen = std::collections::HashSet::with_capacity(raised.len());
    let mut noted = std::collections::HashSet::new();
    let mut ordinal: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    raised
        .iter()
        .map(|r| {
            let n = ordinal.entry(r.rule.as_str()).or_insert(0);
            let key = r.alert.key.clone().unwrap_or_else(|| format!("#{n}"));
            *n += 1;
            let mut guid = guid(identity, &r.rule, &key, r.alert.mutation.as_ref());
            let mut repeat = 1;
            while !seen.insert(guid) {
                repeat += 1;
                let again = format!("{key}#{repeat}");
                guid = self::guid(identity, &r.rule, &again, r.alert.mutation.as_ref());
                if repeat == 2 && noted.insert((r.rule.as_str(), key.clone())) {
                    notes.push((
                        r.rule.clone(),
                        format!("key `{key}` was used for more than one alert; later ones got the GUID of `{key}#2`, `{key}#3`, ...; give each alert its own .key() so GUIDs stay stable"),
                    ));
                }
            }
            guid
        })
        .collect()
}

fn omission_notice(identity: &Identity, omitted: usize) -> Wire {
    let mut alert = Alert::new(
        AlertType::Error,
        format!(
            "{omitted} more alerts were left out to keep the answer under 1 MB; the most severe are shown. Make the rules raise fewer alerts (e.g. one summary alert per check)"
        ),
    );
    alert.display_fields.push(DisplayField {
        label: "Alerts left out".into(),
        value: omitted.to_string(),
    });
    Wire::new(alert, guid(identity, "lookout", "omitted", None))
}

fn join<'a>(items: impl Iterator<Item = &'a Vec<u8>>) -> Vec<u8> {
    let mut body = Vec::with_capacity(1024);
    body.push(b'[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.push(b']');
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: Identity = Identity {
        ruleset: "drybulk",
        estimate: "EST-1",
    };

    fn raised(rule: &str, alert: Alert) -> Raised {
        Raised {
            rule: rule.into(),
            alert,
        }
    }

    fn mutation(v: Value) -> Option<Map<String, Value>> {
        v.as_object().cloned()
    }

    #[test]
    fn optional_fields_are_omitted_not_null() {
        let out = assemble(
            &ID,
            vec![raised("r", Alert::new(AlertType::Unspecified, "hello"))],
        );
        let body: Value = serde_json::from_slice(&out.body).unwrap();
        let alert = body[0].as_object().unwrap();
        let mut keys: Vec<_> = alert.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["alertType", "guid", "message"]);
        assert_eq!(alert["alertType"], "Unspecified");
    }

    #[test]
    fn full_alert_matches_the_veson_shape() {
        let mut alert = Alert::new(AlertType::PermanentWarning, "bunkers short");
        alert.mutation = mutation(json!({"estimateItineraries": {"speed": 13.4}}));
        alert.display_fields.push(DisplayField {
            label: "Client Rating".into(),
            value: "C".into(),
        });
        alert.link = Some("https://example.com/x".into());
        let out = assemble(&ID, vec![raised("r", alert)]);
        let body: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(
            body[0]["mutation"],
            json!({"estimateItineraries": {"speed": 13.4}})
        );
        assert_eq!(
            body[0]["displayFields"],
            json!([{"label": "Client Rating", "value": "C"}])
        );
        assert_eq!(body[0]["link"], "https://example.com/x");
        assert_eq!(
            Uuid::parse_str(body[0]["guid"].as_str().unwrap())
                .unwrap()
                .get_version_num(),
            5
        );
    }

    #[test]
    fn guid_depends_on_exactly_its_inputs() {
        let m1 = mutation(json!({"a": 1, "b": 2}));
        let m1_reordered = mutation(json!({"b": 2, "a": 1}));
        let m2 = mutation(json!({"a": 1, "b": 3}));
        let base = guid(&ID, "rule", "k", m1.as_ref());
        assert_eq!(
            base,
            guid(&ID, "rule", "k", m1_reordered.as_ref()),
            "key order does not matter"
        );
        assert_ne!(
            base,
            guid(&ID, "rule", "k", m2.as_ref()),
            "changed suggestion"
        );
        assert_ne!(base, guid(&ID, "rule2", "k", m1.as_ref()), "other rule");
        assert_ne!(base, guid(&ID, "rule", "k2", m1.as_ref()), "other key");
        let other = Identity {
            ruleset: "drybulk",
            estimate: "EST-2",
        };
        assert_ne!(
            base,
            guid(&other, "rule", "k", m1.as_ref()),
            "other estimate"
        );
        let other_set = Identity {
            ruleset: "tankers",
            estimate: "EST-1",
        };
        assert_ne!(
            base,
            guid(&other_set, "rule", "k", m1.as_ref()),
            "other rule set"
        );
    }

    #[test]
    fn repeated_keys_get_distinct_deterministic_guids_and_a_note() {
        let mut a = Alert::new(AlertType::Error, "one");
        a.key = Some("same".into());
        let list = vec![
            raised("r", a.clone()),
            raised("r", a.clone()),
            raised("r", a),
        ];
        let first = assemble(&ID, list.clone());
        let second = assemble(&ID, list.clone());
        assert_eq!(first.body, second.body);
        let body: Value = serde_json::from_slice(&first.body).unwrap();
        let guids: std::collections::HashSet<_> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["guid"].clone())
            .collect();
        assert_eq!(guids.len(), 3);
        assert_eq!(first.notes.len(), 1);
        assert!(first.notes[0].1.contains("key `same`"));
    }

    #[test]
    fn default_key_is_the_ordinal_within_the_rule() {
        let list = vec![
            raised("a", Alert::new(AlertType::Error, "x")),
            raised("b", Alert::new(AlertType::Error, "y")),
            raised("a", Alert::new(AlertType::Error, "z")),
        ];
        let body: Value = serde_json::from_slice(&assemble(&ID, list.clone()).body).unwrap();
        assert_eq!(body[0]["guid"], guid(&ID, "a", "#0", None).to_string());
        assert_eq!(body[1]["guid"], guid(&ID, "b", "#0", None).to_string());
        assert_eq!(body[2]["guid"], guid(&ID, "a", "#1", None).to_string());
    }

    #[test]
    fn oversized_responses_keep_the_most_severe_and_count_the_rest() {
        let mut list = Vec::new();
        for i in 0..30 {
            let kind = [
                AlertType::Unspecified,
                AlertType::PermanentWarning,
                AlertType::Error,
            ][i % 3];
            list.push(raised(
                "r",
                Alert::new(kind, format!("{i:02} {}", "x".repeat(80))),
            ));
        }
        let limit = 1500;
        let out = assemble_within(&ID, list.clone(), limit);
        assert!(out.body.len() < limit, "{} bytes", out.body.len());
        let body: Value = serde_json::from_slice(&out.body).unwrap();
        let alerts = body.as_array().unwrap();
        assert_eq!(out.sent + out.omitted, 30);
        assert_eq!(alerts.len(), out.sent + 1);
        // Errors first in rule order, then warnings.
        let kinds: Vec<_> = alerts[..out.sent]
            .iter()
            .map(|a| a["alertType"].as_str().unwrap())
            .collect();
        let mut sorted = kinds.clone();
        sorted.sort_by_key(|k| AlertType::parse(k).unwrap());
        assert_eq!(kinds, sorted);
        assert_eq!(kinds[0], "Error");
        assert!(alerts[0]["message"].as_str().unwrap().starts_with("02 "));
        let notice = alerts.last().unwrap();
        assert_eq!(notice["alertType"], "Error");
        assert!(notice["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{} more alerts", out.omitted)));
    }

    #[test]
    fn a_response_that_fits_keeps_rule_order() {
        let list = vec![
            raised("a", Alert::new(AlertType::Unspecified, "first")),
            raised("b", Alert::new(AlertType::Error, "second")),
        ];
        let body: Value = serde_json::from_slice(&assemble(&ID, list.clone()).body).unwrap();
        assert_eq!(body[0]["message"], "first");
        assert_eq!(body[1]["message"], "second");
    }

    #[test]
    fn links_must_be_http() {
        assert!(check_link("https://compliance.example.com/c/1").is_ok());
        assert!(check_link("http://intranet.desk/x").is_ok());
        assert!(check_link("ftp://x.com/a")
            .unwrap_err()
            .contains("only http(s)"));
        assert!(check_link("javascript:alert(1)").is_err());
        assert!(check_link("www.example.com")
            .unwrap_err()
            .contains("not a URL"));
    }

    #[test]
    fn numbers_format_without_noise() {
        assert_eq!(format_number(175.0), "175");
        assert_eq!(format_number(52.85), "52.85");
        assert_eq!(format_number(-3.5), "-3.5");
    }
}
