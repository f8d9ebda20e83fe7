//! JSON pointers (RFC 6901) and the kinds of JSON values, for every layer: the rule
//! set's identity and `redact_body` pointers, `lookout test`'s edits, rules' reads.
//!
//! One tokenizer, and one kind of value in the two vocabularies messages use: JSON's
//! ("null", "an object"), for senders and test files, and a rule's ("nothing (`()`)",
//! "a map"), for rule authors, who see values as Rhai shows them.

use std::borrow::Cow;

/// The reference tokens of a pointer, unescaped (`~1` is `/`, `~0` is `~`):
/// `/a/b~1c/0` → `a`, `b/c`, `0`; `""` (the whole document) → none. `None` when it is
/// not a pointer (it does not start with `/`).
pub fn tokens(pointer: &str) -> Option<impl Iterator<Item = Cow<'_, str>>> {
    let rest = match pointer {
        "" => None,
        p => Some(p.strip_prefix('/')?),
    };
    Some(rest.into_iter().flat_map(|r| r.split('/')).map(|t| {
        if t.contains('~') {
            Cow::Owned(t.replace("~1", "/").replace("~0", "~"))
        } else {
            Cow::Borrowed(t)
        }
    }))
}

/// What kind of JSON value something is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    pub fn of(value: &serde_json::Value) -> Kind {
        use serde_json::Value;
        match value {
            Value::Null => Kind::Null,
            Value::Bool(_) => Kind::Bool,
            Value::Number(_) => Kind::Number,
            Value::String(_) => Kind::String,
            Value::Array(_) => Kind::Array,
            Value::Object(_) => Kind::Object,
        }
    }

    /// In JSON's words: "null", "a boolean", ..., "an object".
    pub fn in_json(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Object => "an object",
            Kind::Bool | Kind::Number | Kind::String | Kind::Array => self.in_rules(),
        }
    }

    /// In a rule's words: "nothing (`()`)", ..., "a map".
    pub fn in_rules(self) -> &'static str {
        match self {
            Kind::Null => "nothing (`()`)",
            Kind::Bool => "a boolean",
            Kind::Number => "a number",
            Kind::String => "a string",
            Kind::Array => "an array",
            Kind::Object => "a map",
        }
    }
}

/// The kind of a value in JSON's words, for messages ("is an array; expected text").
pub fn kind(value: &serde_json::Value) -> &'static str {
    Kind::of(value).in_json()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(pointer: &str) -> Option<Vec<String>> {
        tokens(pointer).map(|t| t.map(Cow::into_owned).collect())
    }

    #[test]
    fn tokens_unescape_in_rfc_order() {
        assert_eq!(all(""), Some(vec![]));
        assert_eq!(all("/"), Some(vec![String::new()]));
        assert_eq!(
            all("/a/b~1c/0"),
            Some(vec!["a".into(), "b/c".into(), "0".into()])
        );
        // `~01` is `~1`, not `/`: `~1` is replaced first.
        assert_eq!(all("/~01"), Some(vec!["~1".into()]));
        assert_eq!(all("a/b"), None);
    }

    #[test]
    fn kinds_in_both_vocabularies() {
        let null = serde_json::Value::Null;
        assert_eq!(kind(&null), "null");
        assert_eq!(Kind::of(&null).in_rules(), "nothing (`()`)");
        assert_eq!(kind(&serde_json::json!({})), "an object");
        assert_eq!(Kind::Object.in_rules(), "a map");
        assert_eq!(kind(&serde_json::json!([1])), "an array");
    }
}
