//! The `lookout test` file format, in one place: what a test file holds ([`TestFile`]),
//! how its `set` and `remove` edit the estimate ([`set`], [`remove`]), and the expected
//! alerts ([`Matcher`]) that `lookout test` checks and the viewer's "save as rule test"
//! writes. `rules/README.md` ("Testing rules") documents it for authors.
//!
//! Reading files and running tests is [`super::testrun`]'s (for `lookout test` and the
//! workbench); this module knows only the format.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use sonic_rs::{JsonContainerTrait, JsonValueMutTrait, JsonValueTrait};

use super::json::Doc;
use crate::alerts::{DisplayField, Wire};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    #[serde(default)]
    pub description: Option<String>,
    pub estimate: Value,
    #[serde(default)]
    pub set: serde_json::Map<String, Value>,
    #[serde(default)]
    pub remove: Vec<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Port events: a facts file relative to the test file, or the events themselves.
    #[serde(default)]
    pub facts: Option<Box<RawValue>>,
    #[serde(default)]
    pub deadline_ms: Option<u64>,
    #[serde(default)]
    pub allow_rule_errors: bool,
    /// The rules this test is about: only their alerts and failures count, so adding
    /// a rule to the set does not break it. Every rule still runs, as on the server.
    #[serde(default)]
    pub rules: Option<Vec<String>>,
    pub expect: Expect,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default)]
    pub alerts: Option<Vec<Matcher>>,
    #[serde(default)]
    pub count: Option<usize>,
    #[serde(default)]
    pub contains: Vec<Matcher>,
    #[serde(default)]
    pub absent: Vec<Matcher>,
}

/// What an alert must look like; every key given must hold, keys left out are not
/// compared.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(rename = "alertType", skip_serializing_if = "Option::is_none")]
    pub alert_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_contains: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_matches: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<Field>>,
    #[serde(rename = "displayFields", skip_serializing_if = "Option::is_none")]
    pub display_fields: Option<Vec<Field>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mutation: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guid_same_as: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub label: String,
    pub value: String,
}

impl From<&DisplayField> for Field {
    fn from(f: &DisplayField) -> Field {
        Field {
            label: f.label.clone(),
            value: f.value.clone(),
        }
    }
}

impl Matcher {
    /// Every field of an alert as sent, to pin it exactly (what "save as rule test"
    /// writes); `rule` is the rule that raised it (`None`: lookout's own notice).
    pub fn pinning(alert: &Wire, rule: Option<&str>) -> Matcher {
        Matcher {
            rule: rule.map(str::to_string),
            alert_type: Some(alert.alert_type.as_str().to_string()),
            message: Some(alert.message.clone()),
            display_fields: Some(alert.display_fields.iter().map(Field::from).collect()),
            link: alert.link.clone(),
            mutation: alert.mutation.clone(),
            guid: Some(alert.guid.clone()).filter(|g| !g.is_empty()),
            ..Matcher::default()
        }
    }
}

/// serde's message (without its position) with a hint for the usual slips.
pub fn explain_test_error(message: String) -> String {
    if message.contains("missing field `expect`") {
        return format!(
            "{message}; a test needs an \"expect\" object, e.g. \"expect\": {{\"count\": 0}}"
        );
    }
    if message.contains("missing field `estimate`") {
        return format!("{message}; give \"estimate\": a path relative to this file, or the estimate object itself");
    }
    message
}

/// `/a/b~1c/0` -> ["a", "b/c", "0"].
fn tokens(pointer: &str) -> Result<Vec<String>, String> {
    let tokens = crate::pointer::tokens(pointer)
        .filter(|_| !pointer.is_empty())
        .ok_or_else(|| {
            "a JSON pointer starts with `/`, e.g. /estimateItineraries/0/speed".to_string()
        })?;
    Ok(tokens.map(|t| t.into_owned()).collect())
}

fn node_mut<'d>(doc: &'d mut Doc, path: &[String]) -> Result<&'d mut Doc, String> {
    let mut node = doc;
    for (i, token) in path.iter().enumerate() {
        let here = format!("/{}", path[..i].join("/"));
        node = if node.is_object() {
            node.as_object_mut()
                .and_then(|o| o.get_mut(token))
                .ok_or_else(|| format!("there is no `{token}` in {here}"))?
        } else if node.is_array() {
            let len = node.as_array().map_or(0, |a| a.len());
            let index: usize = token
                .parse()
                .map_err(|_| format!("{here} is an array; `{token}` is not an index"))?;
            node.as_array_mut()
                .and_then(|a| a.get_mut(index))
                .ok_or_else(|| format!("{here} has {len} elements; there is no [{index}]"))?
        } else {
            return Err(format!("{here} is not an object or an array"));
        };
    }
    Ok(node)
}

pub fn set(doc: &mut Doc, pointer: &str, value: Doc) -> Result<(), String> {
    let path = tokens(pointer)?;
    let (last, parent) = path.split_last().expect("split yields one token at least");
    let parent = node_mut(doc, parent)?;
    if parent.is_object() {
        parent.as_object_mut().expect("checked").insert(last, value);
        return Ok(());
    }
    if let Some(array) = parent.as_array_mut() {
        let len = array.len();
        match last.as_str() {
            "-" => array.push(value),
            index => {
                let index: usize = index
                    .parse()
                    .map_err(|_| format!("`{index}` is not an array index (or `-` to append)"))?;
                if index < len {
                    array[index] = value;
                } else if index == len {
                    array.push(value);
                } else {
                    return Err(format!(
                        "the array has {len} elements; set [{len}] or `-` to append"
                    ));
                }
            }
        }
        return Ok(());
    }
    Err("its parent is not an object or an array".into())
}

pub fn remove(doc: &mut Doc, pointer: &str) -> Result<(), String> {
    let path = tokens(pointer)?;
    let (last, parent) = path.split_last().expect("split yields one token at least");
    let parent = node_mut(doc, parent)?;
    if let Some(object) = parent.as_object_mut() {
        return object
            .remove(last)
            .map(|_| ())
            .ok_or_else(|| format!("there is no `{last}` to remove"));
    }
    if let Some(array) = parent.as_array_mut() {
        let index: usize = last
            .parse()
            .map_err(|_| format!("`{last}` is not an array index"))?;
        if index >= array.len() {
            return Err(format!("the array has {} elements", array.len()));
        }
        array.remove(index);
        return Ok(());
    }
    Err("its parent is not an object or an array".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::json;

    fn doc(text: &str) -> Doc {
        json::parse(text).unwrap()
    }

    #[test]
    fn set_and_remove_follow_pointers() {
        let mut d = doc(r#"{"rows": [{"speed": 12}, {"speed": 13}], "a~b": {"c/d": 1}}"#);
        set(&mut d, "/rows/1/speed", doc("9.5")).unwrap();
        set(&mut d, "/rows/0/new", doc("\"x\"")).unwrap();
        set(&mut d, "/rows/-", doc("{}")).unwrap();
        set(&mut d, "/a~0b/c~1d", doc("null")).unwrap();
        remove(&mut d, "/rows/0/speed").unwrap();
        assert_eq!(
            json::doc_to_value(&d),
            serde_json::json!({"rows": [{"new": "x"}, {"speed": 9.5}, {}], "a~b": {"c/d": null}})
        );
        assert!(set(&mut d, "/rows/9/speed", doc("1"))
            .unwrap_err()
            .contains("has 3 elements"));
        assert!(set(&mut d, "/nope/x", doc("1"))
            .unwrap_err()
            .contains("no `nope`"));
        assert!(remove(&mut d, "/rows/0/speed")
            .unwrap_err()
            .contains("no `speed` to remove"));
        assert!(set(&mut d, "rows", doc("1"))
            .unwrap_err()
            .contains("starts with `/`"));
    }
}
