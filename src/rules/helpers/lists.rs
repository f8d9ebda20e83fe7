//! Lists: sums, averages, extremes, counts and finds over Rhai or JSON arrays, walked in place.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use rhai::{Array, Dynamic, Engine, ImmutableString};
use sonic_rs::{JsonContainerTrait, JsonValueTrait};

use super::*;
use crate::rules::json::{runtime_error, Json};
use crate::rules::sandbox::check_limits;

pub(super) fn register_lists(engine: &mut Engine) {
    engine
        .register_fn("sum", |items: &mut Dynamic| sum("sum(items)", items, None))
        .register_fn("sum", |items: &mut Dynamic, path: Dynamic| {
            sum("sum(items, path)", items, Some(&path))
        })
        .register_fn("min_of", |items: &mut Dynamic| {
            extreme("min_of(items)", items, None, Ordering::Less)
        })
        .register_fn("min_of", |items: &mut Dynamic, path: Dynamic| {
            extreme("min_of(items, path)", items, Some(&path), Ordering::Less)
        })
        .register_fn("max_of", |items: &mut Dynamic| {
            extreme("max_of(items)", items, None, Ordering::Greater)
        })
        .register_fn("max_of", |items: &mut Dynamic, path: Dynamic| {
            extreme("max_of(items, path)", items, Some(&path), Ordering::Greater)
        })
        .register_fn("average_of", |items: &mut Dynamic| {
            average("average_of(items)", items, None)
        })
        .register_fn("average_of", |items: &mut Dynamic, path: Dynamic| {
            average("average_of(items, path)", items, Some(&path))
        })
        .register_fn(
            "find",
            |items: &mut Dynamic, path: Dynamic, wanted: Dynamic| -> Res<Dynamic> {
                let h = "find(items, path, value)";
                let mut found = Dynamic::UNIT;
                matching(h, items, &path, &wanted, |item| {
                    found = item.to_dynamic();
                    false
                })?;
                Ok(found)
            },
        )
        .register_fn(
            "find_all",
            |items: &mut Dynamic, path: Dynamic, wanted: Dynamic| -> Res<Array> {
                let h = "find_all(items, path, value)";
                let mut found = Array::new();
                matching(h, items, &path, &wanted, |item| {
                    found.push(item.to_dynamic());
                    true
                })?;
                Ok(found)
            },
        )
        .register_fn(
            "count_where",
            |items: &mut Dynamic, path: Dynamic, wanted: Dynamic| -> Res<i64> {
                let h = "count_where(items, path, value)";
                let mut count: i64 = 0;
                matching(h, items, &path, &wanted, |_| {
                    count += 1;
                    true
                })?;
                Ok(count)
            },
        );
}

/// Calls `f(index, element, value at steps)` for each element of a Rhai or JSON array
/// whose path leads to a value (not missing, not null), until `f` returns false.
/// `arg` names the list in errors. A missing list (`()`) is an empty one.
pub(super) fn each_leaf(
    helper: &str,
    arg: &str,
    items: &Dynamic,
    steps: &[Step],
    mut f: impl FnMut(usize, Val, Val) -> Res<bool>,
) -> Res<()> {
    check_limits()?;
    if items.is_unit() {
        return Ok(());
    }
    if let Some(handle) = items.read_lock::<Json>() {
        let Some(list) = handle.value().as_array() else {
            return Err(runtime_error(format!(
                "{helper}: {arg} must be an array, got a map"
            )));
        };
        for (i, item) in list.iter().enumerate() {
            if i & CHECK_EVERY == CHECK_EVERY {
                check_limits()?;
            }
            if let Some(leaf) = walk_json(item, steps).filter(|v| !v.is_null()) {
                if !f(i, Val::Json(&handle, item), Val::Json(&handle, leaf))? {
                    break;
                }
            }
        }
        return Ok(());
    }
    if let Some(array) = items.read_lock::<Array>() {
        for (i, item) in array.iter().enumerate() {
            if i & CHECK_EVERY == CHECK_EVERY {
                check_limits()?;
            }
            let go = visit(item, steps, &mut |leaf| match leaf {
                Some(leaf) => f(i, Val::Rhai(item), leaf),
                None => Ok(true),
            })?;
            if !go {
                break;
            }
        }
        return Ok(());
    }
    Err(runtime_error(format!(
        "{helper}: {arg} must be an array, got {}",
        type_name(items)
    )))
}

/// The value at `steps` in element `i` (for returning what a walk picked).
pub(super) fn leaf_at(items: &Dynamic, steps: &[Step], i: usize) -> Dynamic {
    if let Some(handle) = items.read_lock::<Json>() {
        return handle
            .value()
            .as_array()
            .and_then(|list| list.get(i))
            .and_then(|item| walk_json(item, steps))
            .map_or(Dynamic::UNIT, |v| handle.wrap(v));
    }
    let Some(array) = items.read_lock::<Array>() else {
        return Dynamic::UNIT;
    };
    match array.get(i) {
        Some(item) => visit(item, steps, &mut |leaf| {
            leaf.map_or(Dynamic::UNIT, Val::to_dynamic)
        }),
        None => Dynamic::UNIT,
    }
}

/// Where element `i`'s value is, for errors: `items[3].portDays`.
pub(super) fn at(arg: &str, i: usize, path: &str) -> String {
    match path {
        "" => format!("{arg}[{i}]"),
        p if p.starts_with('[') => format!("{arg}[{i}]{p}"),
        p => format!("{arg}[{i}].{p}"),
    }
}

pub(super) fn leaf_number(helper: &str, i: usize, path: &str, leaf: Val) -> Res<f64> {
    leaf.number().ok_or_else(|| {
        runtime_error(format!(
            "{helper}: {} must be a number, got {}",
            at("items", i, path),
            leaf.describe()
        ))
    })
}

pub(super) fn sum(helper: &str, items: &Dynamic, path: Option<&Dynamic>) -> Res<f64> {
    let path = path.map_or(Ok(ImmutableString::new()), |p| path_arg(helper, p))?;
    let steps = steps_of(helper, &path)?;
    let mut total = 0.0;
    each_leaf(helper, "items", items, &steps, |i, _, leaf| {
        total += leaf_number(helper, i, &path, leaf)?;
        Ok(true)
    })?;
    Ok(total)
}

pub(super) fn average(helper: &str, items: &Dynamic, path: Option<&Dynamic>) -> Res<Dynamic> {
    let path = path.map_or(Ok(ImmutableString::new()), |p| path_arg(helper, p))?;
    let steps = steps_of(helper, &path)?;
    let (mut total, mut count) = (0.0, 0usize);
    each_leaf(helper, "items", items, &steps, |i, _, leaf| {
        total += leaf_number(helper, i, &path, leaf)?;
        count += 1;
        Ok(true)
    })?;
    Ok(if count == 0 {
        Dynamic::UNIT
    } else {
        Dynamic::from_float(total / count as f64)
    })
}

/// `min_of`/`max_of`: the smallest or largest number, or the earliest or latest date,
/// returned as it was in the list (an integer stays one, a date keeps its text).
pub(super) fn extreme(
    helper: &str,
    items: &Dynamic,
    path: Option<&Dynamic>,
    want: Ordering,
) -> Res<Dynamic> {
    #[derive(Clone, Copy)]
    enum Best {
        Nothing,
        Number(usize, f64),
        Date(usize, DateTime<FixedOffset>),
    }
    let path = path.map_or(Ok(ImmutableString::new()), |p| path_arg(helper, p))?;
    let steps = steps_of(helper, &path)?;
    let mut best = Best::Nothing;
    each_leaf(helper, "items", items, &steps, |i, _, leaf| {
        let mixed = |was: &str| {
            runtime_error(format!(
                "{helper}: {} must be {was} like the values before it, got {}",
                at("items", i, &path),
                leaf.describe()
            ))
        };
        best = match (leaf.number(), best) {
            (Some(x), Best::Nothing) => Best::Number(i, x),
            (Some(x), Best::Number(_, b)) if x.partial_cmp(&b) == Some(want) => Best::Number(i, x),
            (Some(_), Best::Number(..)) => best,
            (Some(_), Best::Date(..)) => return Err(mixed("a date")),
            (None, _) => match (leaf.with_text(parse_date).flatten(), best) {
                (Some(d), Best::Nothing) => Best::Date(i, d),
                (Some(d), Best::Date(_, b)) if d.cmp(&b) == want => Best::Date(i, d),
                (Some(_), Best::Date(..)) => best,
                (Some(_), Best::Number(..)) => return Err(mixed("a number")),
                (None, _) => {
                    return Err(runtime_error(format!(
                        "{helper}: {} must be a number or an ISO 8601 date, got {}",
                        at("items", i, &path),
                        leaf.describe()
                    )))
                }
            },
        };
        Ok(true)
    })?;
    Ok(match best {
        Best::Nothing => Dynamic::UNIT,
        Best::Number(i, _) | Best::Date(i, _) => leaf_at(items, &steps, i),
    })
}

/// What `find`, `find_all` and `count_where` compare with.
pub(super) enum Wanted {
    Text(ImmutableString),
    Number(f64),
    Bool(bool),
}

impl Wanted {
    pub(super) fn matches(&self, leaf: Val) -> bool {
        match self {
            Wanted::Text(w) => leaf.with_text(|t| same_text(t, w)).unwrap_or(false),
            Wanted::Number(w) => leaf.number() == Some(*w),
            Wanted::Bool(w) => leaf.boolean() == Some(*w),
        }
    }
}

/// Calls `f` with each element whose value at `path` equals `wanted` (text ignoring case
/// and surrounding spaces, numbers by value), until `f` returns false. `()` matches nothing.
pub(super) fn matching(
    helper: &str,
    items: &Dynamic,
    path: &Dynamic,
    wanted: &Dynamic,
    mut f: impl FnMut(Val) -> bool,
) -> Res<()> {
    let path = path_arg(helper, path)?;
    let steps = parse_path(helper, &path)?;
    let wanted = if wanted.is_unit() {
        None
    } else if let Some(text) = wanted.read_lock::<ImmutableString>() {
        Some(Wanted::Text(text.clone()))
    } else if let Some(x) = Val::Rhai(wanted).number() {
        Some(Wanted::Number(x))
    } else if let Ok(b) = wanted.as_bool() {
        Some(Wanted::Bool(b))
    } else {
        return Err(runtime_error(format!(
            "{helper}: value must be text, a number or true/false, got {}",
            type_name(wanted)
        )));
    };
    let Some(wanted) = wanted else {
        // Nothing to look for; still check that items is a list.
        return each_leaf(helper, "items", items, &[], |_, _, _| Ok(false));
    };
    each_leaf(helper, "items", items, &steps, |_, item, leaf| {
        Ok(!wanted.matches(leaf) || f(item))
    })
}
