//! Safe paths: `get(value, "a.b[0].c", default)` and the path walker the list helpers share.

use rhai::{Array, Dynamic, Engine, ImmutableString, Map};
use sonic_rs::{JsonValueTrait, ValueRef};

use super::*;
use crate::rules::json::{self, runtime_error, Doc, Json};
use crate::rules::sandbox::check_limits;

pub(super) fn register_paths(engine: &mut Engine) {
    const GET: &str = "get(value, path)";
    const GET3: &str = "get(value, path, default)";
    engine
        .register_fn("get", |v: &mut Dynamic, path: Dynamic| {
            get_at(GET, v, &path_arg(GET, &path)?, Dynamic::UNIT)
        })
        .register_fn("get", |v: &mut Dynamic, path: Dynamic, default: Dynamic| {
            get_at(GET3, v, &path_arg(GET3, &path)?, default)
        })
        // Rhai's own `get(map, key)` matches a map exactly and would read "a.b" as one key.
        .register_fn(
            "get",
            |m: &mut Map, path: ImmutableString| -> Res<Dynamic> {
                check_limits()?;
                let steps = parse_path(GET, &path)?;
                Ok(walk_map(m, &steps).unwrap_or(Dynamic::UNIT))
            },
        );
}

/// One step of a path like `estimateItineraries[0].speed`.
pub(super) enum Step<'a> {
    Field(&'a str),
    Index(i64),
}

pub(super) fn parse_path<'p>(helper: &str, path: &'p str) -> Res<Vec<Step<'p>>> {
    let bad = || {
        runtime_error(format!(
            "{helper}: `{path}` is not a path; write it like \"estimateItineraries[0].speed\""
        ))
    };
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(at) => (&part[..at], &part[at..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            steps.push(Step::Field(name));
        } else if rest.is_empty() {
            return Err(bad());
        }
        while !rest.is_empty() {
            let close = rest.find(']').ok_or_else(bad)?;
            let index = rest[1..close].trim().parse::<i64>().map_err(|_| bad())?;
            steps.push(Step::Index(index));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return Err(bad());
            }
        }
    }
    Ok(steps)
}

/// Safe path access: the value at `path`, or `default` when a step is missing or null.
pub fn get(value: &Dynamic, path: &str, default: Dynamic) -> Res<Dynamic> {
    get_at("get(value, path, default)", value, path, default)
}

pub(super) fn get_at(helper: &str, value: &Dynamic, path: &str, default: Dynamic) -> Res<Dynamic> {
    check_limits()?;
    let steps = parse_path(helper, path)?;
    Ok(visit(value, &steps, &mut |leaf| leaf.map(Val::to_dynamic)).unwrap_or(default))
}

pub(super) fn walk_map(map: &Map, steps: &[Step]) -> Option<Dynamic> {
    let (Step::Field(name), rest) = steps.split_first()? else {
        return None;
    };
    visit(map.get(*name)?, rest, &mut |leaf| leaf.map(Val::to_dynamic))
}

/// The JSON value at the end of `steps`, without making handles on the way.
pub(super) fn walk_json<'v>(mut value: &'v Doc, steps: &[Step]) -> Option<&'v Doc> {
    for step in steps {
        value = match (step, value.as_ref()) {
            (Step::Field(name), ValueRef::Object(map)) => map.get(name)?,
            (Step::Index(i), ValueRef::Array(items)) => {
                let at = if *i < 0 { items.len() as i64 + i } else { *i };
                items.get(usize::try_from(at).ok()?)?
            }
            _ => return None,
        };
    }
    Some(value)
}

/// A value a helper looks at, borrowed where it lives: in a JSON tree or in Rhai.
#[derive(Clone, Copy)]
pub(super) enum Val<'a> {
    /// A node of the tree behind a handle (needed to wrap containers).
    Json(&'a Json, &'a Doc),
    Rhai(&'a Dynamic),
}

impl Val<'_> {
    pub(super) fn number(self) -> Option<f64> {
        match self {
            Val::Json(_, v) => v.as_f64(),
            Val::Rhai(v) => v
                .as_float()
                .ok()
                .or_else(|| v.as_int().ok().map(|i| i as f64)),
        }
    }

    pub(super) fn boolean(self) -> Option<bool> {
        match self {
            Val::Json(_, v) => v.as_bool(),
            Val::Rhai(v) => v.as_bool().ok(),
        }
    }

    /// `f` applied to the text, when this is text.
    pub(super) fn with_text<R>(self, f: impl FnOnce(&str) -> R) -> Option<R> {
        match self {
            Val::Json(_, v) => v.as_str().map(f),
            Val::Rhai(v) => v.read_lock::<ImmutableString>().map(|s| f(s.as_str())),
        }
    }

    pub(super) fn to_dynamic(self) -> Dynamic {
        match self {
            Val::Json(handle, v) => handle.wrap(v),
            Val::Rhai(v) => v.clone(),
        }
    }

    /// For error messages: `a string ("12,5")`, `a map`.
    pub(super) fn describe(self) -> String {
        let kind = match self {
            Val::Json(_, v) => json::kind(v),
            Val::Rhai(v) => type_name(v),
        };
        match self.with_text(quote) {
            Some(text) => format!("{kind} ({text})"),
            None => kind.to_string(),
        }
    }
}

/// Calls `f` with what `steps` lead to from `value`: `None` when a step is missing or
/// null. Borrows all the way (no copy of Rhai maps, no handle per JSON node).
pub(super) fn visit<R>(value: &Dynamic, steps: &[Step], f: &mut impl FnMut(Option<Val>) -> R) -> R {
    if value.is_unit() {
        return f(None);
    }
    if let Some(handle) = value.read_lock::<Json>() {
        return match walk_json(handle.value(), steps) {
            Some(v) if !v.is_null() => f(Some(Val::Json(&handle, v))),
            _ => f(None),
        };
    }
    let Some((step, rest)) = steps.split_first() else {
        return f(Some(Val::Rhai(value)));
    };
    match step {
        Step::Field(name) => {
            if let Some(map) = value.read_lock::<Map>() {
                return match map.get(*name) {
                    Some(v) => visit(v, rest, f),
                    None => f(None),
                };
            }
        }
        Step::Index(i) => {
            if let Some(array) = value.read_lock::<Array>() {
                let at = if *i < 0 { array.len() as i64 + i } else { *i };
                return match usize::try_from(at).ok().and_then(|at| array.get(at)) {
                    Some(v) => visit(v, rest, f),
                    None => f(None),
                };
            }
        }
    }
    f(None)
}
