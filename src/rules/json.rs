//! `Json`: a read-only, zero-copy view of parsed JSON that rules see as
//! `estimate`, `data` and `request`.
//!
//! Converting a 100 KB estimate into Rhai maps costs ~0.4 ms and a per-rule deep copy
//! another ~0.1 ms (see BENCHMARKS.md); a shared Rhai map can still be written by
//! scripts. A `Json` handle is an `Arc` of the parsed tree plus a pointer to one node
//! of it: cloning is a reference-count increment, scalars become Rhai values when read,
//! objects and arrays come back as new handles, and there are no setters, so no rule
//! can change what the next one sees.
//!
//! The tree is a `sonic_rs::Value` ([`Doc`]): sonic-rs parses a 100 KB estimate in
//! ~70 µs against ~300 µs for `serde_json::Value` (BENCHMARKS.md), and frees it in one
//! go. Code outside the rules that wants `serde_json` converts at its edge.
//!
//! Architecture invariant: the tree behind `root` is never mutated after the handle is
//! made, which is what makes the node pointer sound.
//!
//! Architecture invariant: every way to see a node's contents writes the read down for
//! [`reuse`] (the accessors here record what they return; [`Json::value`], the way out
//! to raw JSON, records the whole node), so a rule's reuse can never miss a read.

use std::fmt;
use std::ptr::NonNull;
use std::sync::Arc;

use rhai::{Dynamic, EvalAltResult, ImmutableString, Position};
use serde_json::Value;
use sonic_rs::{JsonContainerTrait, JsonNumberTrait, JsonValueTrait, ValueRef};

use crate::nesting;
use crate::rules::reuse::{self, ReadId, UNTRACKED};

/// A parsed JSON document: what `estimate`, `request` and `data` are made of.
pub type Doc = sonic_rs::Value;

/// Parses a whole document (one value, nothing after it but whitespace), refusing one
/// nested deeper than [`nesting::MAX_DEPTH`] before any recursive code sees it.
///
/// sonic-rs does the work; when it refuses a text, serde_json has the last word, so
/// what is accepted and the error (message, line, column) are serde_json's.
pub fn parse(text: &str) -> Result<Doc, nesting::Error> {
    nesting::check(text.as_bytes())?;
    match sonic_rs::from_str(text) {
        Ok(doc) => Ok(doc),
        Err(_) => Ok(serde_json::from_str::<Value>(text).map(|v| doc_from(&v))?),
    }
}

/// Whether `bytes` are one valid JSON document no deeper than [`nesting::MAX_DEPTH`]
/// (no tree is built).
/// serde_json decides: sonic-rs lets some invalid text through (non-UTF-8 bytes, lone
/// surrogates, bad `\u` escapes; found by fuzzing).
pub fn parse_bytes_ok(bytes: &[u8]) -> bool {
    nesting::is_json(bytes)
}

/// What kind of JSON value this is, in a rule's words ("a number", "a map").
pub fn kind(doc: &Doc) -> &'static str {
    use crate::pointer::Kind;
    match doc.as_ref() {
        ValueRef::Null => Kind::Null,
        ValueRef::Bool(_) => Kind::Bool,
        ValueRef::Number(_) => Kind::Number,
        ValueRef::String(_) => Kind::String,
        ValueRef::Array(_) => Kind::Array,
        ValueRef::Object(_) => Kind::Object,
    }
    .in_rules()
}

/// Converts from `serde_json` (data files, request context, tests).
pub fn doc_from(value: &Value) -> Doc {
    sonic_rs::to_value(value).expect("a serde_json value is valid JSON")
}

/// Converts to `serde_json` (for code that builds answers with it).
pub fn doc_to_value(doc: &Doc) -> Value {
    serde_json::to_value(doc).expect("a parsed document is valid JSON")
}

/// The node at an RFC 6901 JSON pointer (`/estimateID`, `/a/0/b`, `~1` for `/`).
pub fn pointer<'d>(doc: &'d Doc, pointer: &str) -> Option<&'d Doc> {
    if pointer.is_empty() {
        return Some(doc);
    }
    let mut node = doc;
    for step in crate::pointer::tokens(pointer)? {
        node = match node.as_ref() {
            ValueRef::Object(map) => map.get(&step.as_ref())?,
            ValueRef::Array(items) => items.get(step.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

/// A read-only handle on one node of a shared JSON tree.
#[derive(Clone)]
pub struct Json {
    root: Arc<Doc>,
    node: NonNull<Doc>,
    /// The read that found this node, when reads through it are written down.
    read: ReadId,
}

// SAFETY: `node` points into the heap tree owned by `root`, which is immutable
// (nothing takes `&mut` through the Arc) and lives as long as any handle on it.
// Sharing or sending the handle shares `&Doc`, and `Doc` is `Send + Sync`.
unsafe impl Send for Json {}
unsafe impl Sync for Json {}

impl Json {
    /// A handle on a tree whose reads need no record (`data`, port events).
    pub fn new(root: Arc<Doc>) -> Self {
        Json::input(root, UNTRACKED)
    }

    /// A handle on a call's input whose reads are written down as `read`'s
    /// ([`reuse::ESTIMATE`], [`reuse::REQUEST`]) while a recording runs on the thread.
    pub fn input(root: Arc<Doc>, read: ReadId) -> Self {
        let node = NonNull::from(root.as_ref());
        Json { root, node, read }
    }

    /// The node itself, for code that reads it as raw JSON: the rule may see all of
    /// it, so the whole node is written down as read.
    pub fn value(&self) -> &Doc {
        reuse::whole(self.read, self.node());
        self.node()
    }

    /// The node, for the accessors below, which write down what they read.
    fn node(&self) -> &Doc {
        // SAFETY: see the `Send`/`Sync` note: the node is owned by `root`, which we hold.
        unsafe { self.node.as_ref() }
    }

    /// A handle on a node inside this handle's tree.
    fn child(&self, node: &Doc, read: ReadId) -> Json {
        Json {
            root: self.root.clone(),
            node: NonNull::from(node),
            read,
        }
    }

    /// The Rhai value for a node of this tree: scalars by value, containers as handles.
    /// For nodes found through [`Json::value`] (already recorded whole).
    pub fn wrap(&self, node: &Doc) -> Dynamic {
        self.wrap_read(node, UNTRACKED)
    }

    fn wrap_read(&self, node: &Doc, read: ReadId) -> Dynamic {
        match node.as_ref() {
            ValueRef::Null => Dynamic::UNIT,
            ValueRef::Bool(b) => Dynamic::from_bool(b),
            ValueRef::Number(n) => number(&n),
            ValueRef::String(s) => Dynamic::from(ImmutableString::from(s)),
            ValueRef::Array(_) | ValueRef::Object(_) => Dynamic::from(self.child(node, read)),
        }
    }

    /// The Rhai value of this handle's own node.
    pub fn to_dynamic(&self) -> Dynamic {
        self.wrap_read(self.node(), self.read)
    }

    /// `obj.name` and `obj["name"]`: the field, or `()` when absent.
    pub fn field(&self, name: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        match self.node().as_ref() {
            ValueRef::Object(map) => {
                let found = map.get(&name);
                let read = reuse::field(self.read, name, found);
                Ok(found.map_or(Dynamic::UNIT, |v| self.wrap_read(v, read)))
            }
            ValueRef::Array(_) => Err(runtime_error(format!(
                "cannot read field `{name}` of an array; pick an element first, e.g. [0].{name}, or loop with `for x in ...`"
            ))),
            _ => unreachable!("handles only point at containers"),
        }
    }

    /// `arr[i]`: the element (negative counts from the end), or `()` when out of range.
    pub fn index(&self, index: i64) -> Result<Dynamic, Box<EvalAltResult>> {
        match self.node().as_ref() {
            ValueRef::Array(items) => {
                let len = items.len() as i64;
                let at = if index < 0 { len + index } else { index };
                let found = (0..len).contains(&at).then(|| &items[at as usize]);
                let read = reuse::element(self.read, index, found);
                Ok(found.map_or(Dynamic::UNIT, |v| self.wrap_read(v, read)))
            }
            ValueRef::Object(_) => Err(runtime_error(format!(
                "cannot index an object with the number {index}; use a field name, e.g. [\"name\"]"
            ))),
            _ => unreachable!("handles only point at containers"),
        }
    }

    pub fn len(&self) -> usize {
        reuse::length(self.read, self.node());
        match self.node().as_ref() {
            ValueRef::Array(items) => items.len(),
            ValueRef::Object(map) => map.len(),
            _ => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this is an array (else an object): known from the read that made it.
    pub fn is_array(&self) -> bool {
        self.node().is_array()
    }

    /// For `for x in handle`: the elements of an array. Objects are not iterable.
    pub fn items(&self) -> Result<Vec<Dynamic>, Box<EvalAltResult>> {
        match self.node().as_array() {
            Some(items) => {
                reuse::length(self.read, self.node());
                Ok(items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.wrap_read(v, reuse::element(self.read, i as i64, Some(v))))
                    .collect())
            }
            _ => Err(runtime_error(
                "cannot loop over an object; loop over its .keys() or .values()".to_string(),
            )),
        }
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value())
    }
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value())
    }
}

/// Iterating a handle in `for` loops; only arrays iterate, objects yield one error.
impl IntoIterator for Json {
    type Item = Result<Dynamic, Box<EvalAltResult>>;
    type IntoIter = JsonIter;

    fn into_iter(self) -> JsonIter {
        let state = if self.is_array() {
            reuse::length(self.read, self.node());
            Ok(0)
        } else {
            Err(true)
        };
        JsonIter { json: self, state }
    }
}

pub struct JsonIter {
    json: Json,
    /// `Ok(next index)` for arrays, `Err(error still to report)` for objects.
    state: Result<usize, bool>,
}

impl Iterator for JsonIter {
    type Item = Result<Dynamic, Box<EvalAltResult>>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.state {
            Ok(i) => {
                let items = self.json.node().as_array()?;
                let item = items.get(*i)?;
                let read = reuse::element(self.json.read, *i as i64, Some(item));
                *i += 1;
                Some(Ok(self.json.wrap_read(item, read)))
            }
            Err(pending) => {
                if !*pending {
                    return None;
                }
                *pending = false;
                Some(Err(runtime_error(
                    "cannot loop over an object; loop over its .keys() or .values()".to_string(),
                )))
            }
        }
    }
}

/// A JSON number as a Rhai integer when it is one, else a float.
pub fn number(n: &sonic_rs::Number) -> Dynamic {
    match n.as_i64() {
        Some(i) => Dynamic::from_int(i),
        None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

pub fn runtime_error(message: String) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(message.into(), Position::NONE))
}

/// Converts what a rule built (maps, arrays, scalars, handles) into JSON.
/// `what` names the value in errors, e.g. "mutation". A value nested deeper than
/// [`nesting::MAX_DEPTH`] is refused: the same bound as JSON from outside, so every
/// answer reads back in the viewer and no conversion recurses without end.
pub fn to_json(value: &Dynamic, what: &str) -> Result<Value, String> {
    to_json_at(value, what, 0)
}

fn to_json_at(value: &Dynamic, what: &str, depth: usize) -> Result<Value, String> {
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Some(b) = value.clone().try_cast::<bool>() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::from(i));
    }
    if let Ok(f) = value.as_float() {
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("{what} contains {f}, which JSON cannot carry"));
    }
    if value.is_string() {
        return Ok(Value::String(
            value.clone().into_string().unwrap_or_default(),
        ));
    }
    if value.is_char() {
        return Ok(Value::String(
            value.as_char().unwrap_or_default().to_string(),
        ));
    }
    if let Some(json) = value.read_lock::<Json>() {
        return Ok(doc_to_value(json.value()));
    }
    if (value.is_array() || value.is_map()) && depth >= nesting::MAX_DEPTH {
        return Err(format!(
            "{what} is nested more than {} levels deep; an answer for the Estimator stays shallower",
            nesting::MAX_DEPTH
        ));
    }
    if value.is_array() {
        let array = value.read_lock::<rhai::Array>().expect("checked is_array");
        return array
            .iter()
            .enumerate()
            .map(|(i, item)| to_json_at(item, &format!("{what}[{i}]"), depth + 1))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if value.is_map() {
        let map = value.read_lock::<rhai::Map>().expect("checked is_map");
        let mut out = serde_json::Map::new();
        for (key, item) in map.iter() {
            out.insert(
                key.to_string(),
                to_json_at(item, &format!("{what}.{key}"), depth + 1)?,
            );
        }
        return Ok(Value::Object(out));
    }
    Err(format!(
        "{what} holds a {}, which cannot be sent as JSON",
        value.type_name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn handle() -> Json {
        Json::new(Arc::new(sonic_rs::json!({
            "estimateID": "EST-1",
            "speed": 12.5,
            "dwt": 58000,
            "flag": true,
            "none": null,
            "ports": [{"name": "SANTOS"}, {"name": "QINGDAO"}]
        })))
    }

    #[test]
    fn sonic_parse_agrees_with_serde_json_on_every_sample() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/samples");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let ours = doc_to_value(&parse(&text).unwrap());
            let reference: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(ours, reference, "{}", path.display());
            checked += 1;
        }
        assert!(checked >= 6, "only {checked} samples");
    }

    #[test]
    fn parse_edge_cases_match_serde_json() {
        for text in [
            r#"{"big": 18446744073709551615, "neg": -9223372036854775808, "f": 1.5e-7}"#,
            r#"{"esc": "a\"b\\c\u00e9\ud83d\ude00", "nested": [[], {}, [{"x": null}]]}"#,
            "  {\"ws\": true}  \n",
            "[1, 2]",
            "\"text\"",
        ] {
            let reference: Value = serde_json::from_str(text).unwrap();
            assert_eq!(doc_to_value(&parse(text).unwrap()), reference, "{text}");
        }
        // Refused texts carry serde_json's message and position.
        for (text, line, column) in [
            ("{\n  \"a\": 1,\n  \"b\": \n}", 4, 1),
            ("{\"a\": 1} trailing", 1, 10),
            ("{\"a\": tru}", 1, 10),
            ("", 1, 0),
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(
                (err.line(), err.column()),
                (line, column),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn pointers_follow_rfc_6901() {
        let doc = parse(r#"{"a": {"b/c": [10, {"d~e": "x"}]}, "": 1}"#).unwrap();
        let at = |p: &str| pointer(&doc, p).map(doc_to_value);
        assert_eq!(at("/a/b~1c/0"), Some(json!(10)));
        assert_eq!(at("/a/b~1c/1/d~0e"), Some(json!("x")));
        assert_eq!(at("/"), Some(json!(1)));
        assert_eq!(at(""), Some(doc_to_value(&doc)));
        assert_eq!(at("/a/b~1c/2"), None);
        assert_eq!(at("/a/missing"), None);
        assert_eq!(at("a"), None);
        assert_eq!(at("/a/b~1c/x"), None);
    }

    #[test]
    fn scalars_convert_and_containers_stay_handles() {
        let h = handle();
        assert_eq!(
            h.field("estimateID").unwrap().into_string().unwrap(),
            "EST-1"
        );
        assert_eq!(h.field("speed").unwrap().as_float().unwrap(), 12.5);
        assert_eq!(h.field("dwt").unwrap().as_int().unwrap(), 58000);
        assert!(h.field("flag").unwrap().as_bool().unwrap());
        assert!(h.field("none").unwrap().is_unit());
        assert!(h.field("absent").unwrap().is_unit());
        let ports = h.field("ports").unwrap().cast::<Json>();
        assert_eq!(ports.len(), 2);
        let last = ports.index(-1).unwrap().cast::<Json>();
        assert_eq!(
            last.field("name").unwrap().into_string().unwrap(),
            "QINGDAO"
        );
        assert!(ports.index(2).unwrap().is_unit());
    }

    #[test]
    fn type_confusion_is_a_clear_error() {
        let h = handle();
        let ports = h.field("ports").unwrap().cast::<Json>();
        assert!(ports
            .field("name")
            .unwrap_err()
            .to_string()
            .contains("pick an element first"));
        assert!(h
            .index(0)
            .unwrap_err()
            .to_string()
            .contains("use a field name"));
        assert!(h.items().unwrap_err().to_string().contains(".keys()"));
    }

    /// Found by fuzzing (`fuzz/regressions/estimate/parse-bytes-ok-*`): sonic-rs
    /// accepted these, so the recorder took them for JSON.
    #[test]
    fn parse_bytes_ok_is_strict_json() {
        for bad in [
            &br#""\uZZZZ""#[..],
            br#""\ud800""#,
            b"{\"\xe5\":2}",
            b"1e400",
        ] {
            assert!(!parse_bytes_ok(bad), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(parse_bytes_ok(br#"{"a": [1, "\u00e9"]}"#));
    }

    /// A rule's answer is bounded in depth like JSON from outside, at the same edge.
    #[test]
    fn to_json_refuses_values_nested_past_the_limit() {
        let nested = |depth: usize| {
            let mut value = Dynamic::from_int(1);
            for _ in 0..depth {
                value = Dynamic::from_array(vec![value]);
            }
            value
        };
        assert!(to_json(&nested(nesting::MAX_DEPTH), "mutation").is_ok());
        let err = to_json(&nested(nesting::MAX_DEPTH + 1), "mutation").unwrap_err();
        assert!(err.contains("is nested more than 128 levels deep"), "{err}");
        assert!(err.starts_with("mutation[0][0]"), "{err}");
    }

    #[test]
    fn to_json_round_trips_handles_and_maps() {
        let h = handle();
        let mut map = rhai::Map::new();
        map.insert("speed".into(), Dynamic::from_float(13.4));
        map.insert("ports".into(), h.field("ports").unwrap());
        let out = to_json(&Dynamic::from_map(map), "mutation").unwrap();
        assert_eq!(
            out,
            json!({"speed": 13.4, "ports": [{"name": "SANTOS"}, {"name": "QINGDAO"}]})
        );
        let err = to_json(&Dynamic::from_float(f64::NAN), "mutation").unwrap_err();
        assert!(err.contains("JSON cannot carry"), "{err}");
    }
}
