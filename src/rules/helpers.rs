//! Helpers for the desk's daily arithmetic, registered into every rule engine: safe
//! paths, dates, numbers, lists and text (the reference is in `rules/README.md`).
//!
//! A helper replaces a script loop (~60 ns per Rhai operation) with native code. Each one
//! checks the deadline and memory ceiling on entry and, when it walks a list, every 256
//! elements, and names itself and the argument when it gets the wrong type.
//!
//! The list helpers take a Rhai array or a JSON array (`estimate.estimateItineraries`,
//! `data.ports`); JSON is walked in place, without a handle or an allocation per element.
//! Elements whose path is missing or null are skipped, and a missing list is an empty one.
//! List helpers take the list by reference (`&mut Dynamic`, never written), so Rhai does
//! not copy an array variable to call them (it only re-measures a Rhai array afterwards,
//! as for any `&mut` argument: a walk without allocation).
//!
//! Dates are ISO 8601 text: with an offset (`2027-01-13T14:04:48+08:00`, `...Z`), without
//! one (read as UTC: the Estimator's local times compare correctly with each other), or
//! date-only (midnight UTC). Helpers that return a date write it in the form they were
//! given: an offset stays, no offset stays none, and a date-only value stays date-only
//! while the time is midnight.
//!
//! This module knows nothing of alerts or of the run beyond [`check_limits`].

use std::cmp::Ordering;
use std::fmt::Write;

use chrono::{
    DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeDelta, TimeZone,
    Utc,
};
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map};
use sonic_rs::{JsonContainerTrait, JsonValueTrait, ValueRef};

use crate::rules::json::{self, runtime_error, Doc, Json};
use crate::rules::sandbox::check_limits;

type Res<T> = Result<T, Box<EvalAltResult>>;

/// How often a list walk checks the deadline (a power of two less one, as a mask).
const CHECK_EVERY: usize = 255;

/// How a value's type reads in an error message.
pub fn type_name(value: &Dynamic) -> &'static str {
    if value.is_unit() {
        "nothing (`()`, e.g. a missing field)"
    } else if value.is_string() {
        "a string"
    } else if value.is_int() || value.is_float() {
        "a number"
    } else if value.is_bool() {
        "a boolean"
    } else if value.is_array() {
        "an array"
    } else if value.is_map() {
        "a map"
    } else if let Some(j) = value.read_lock::<Json>() {
        if j.is_array() {
            "an array"
        } else {
            "a map"
        }
    } else {
        "a value of another kind"
    }
}

pub fn register(engine: &mut Engine) {
    register_paths(engine);
    register_dates(engine);
    register_numbers(engine);
    register_lists(engine);
    register_text(engine);
}

// ---------------------------------------------------------------------------------------
// Paths

fn register_paths(engine: &mut Engine) {
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
enum Step<'a> {
    Field(&'a str),
    Index(i64),
}

fn parse_path<'p>(helper: &str, path: &'p str) -> Res<Vec<Step<'p>>> {
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

fn get_at(helper: &str, value: &Dynamic, path: &str, default: Dynamic) -> Res<Dynamic> {
    check_limits()?;
    let steps = parse_path(helper, path)?;
    Ok(visit(value, &steps, &mut |leaf| leaf.map(Val::to_dynamic)).unwrap_or(default))
}

fn walk_map(map: &Map, steps: &[Step]) -> Option<Dynamic> {
    let (Step::Field(name), rest) = steps.split_first()? else {
        return None;
    };
    visit(map.get(*name)?, rest, &mut |leaf| leaf.map(Val::to_dynamic))
}

/// The JSON value at the end of `steps`, without making handles on the way.
fn walk_json<'v>(mut value: &'v Doc, steps: &[Step]) -> Option<&'v Doc> {
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
enum Val<'a> {
    /// A node of the tree behind a handle (needed to wrap containers).
    Json(&'a Json, &'a Doc),
    Rhai(&'a Dynamic),
}

impl Val<'_> {
    fn number(self) -> Option<f64> {
        match self {
            Val::Json(_, v) => v.as_f64(),
            Val::Rhai(v) => v
                .as_float()
                .ok()
                .or_else(|| v.as_int().ok().map(|i| i as f64)),
        }
    }

    fn boolean(self) -> Option<bool> {
        match self {
            Val::Json(_, v) => v.as_bool(),
            Val::Rhai(v) => v.as_bool().ok(),
        }
    }

    /// `f` applied to the text, when this is text.
    fn with_text<R>(self, f: impl FnOnce(&str) -> R) -> Option<R> {
        match self {
            Val::Json(_, v) => v.as_str().map(f),
            Val::Rhai(v) => v.read_lock::<ImmutableString>().map(|s| f(s.as_str())),
        }
    }

    fn to_dynamic(self) -> Dynamic {
        match self {
            Val::Json(handle, v) => handle.wrap(v),
            Val::Rhai(v) => v.clone(),
        }
    }

    /// For error messages: `a string ("12,5")`, `a map`.
    fn describe(self) -> String {
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
fn visit<R>(value: &Dynamic, steps: &[Step], f: &mut impl FnMut(Option<Val>) -> R) -> R {
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

// ---------------------------------------------------------------------------------------
// Dates

const DAY_MS: f64 = 86_400_000.0;
const HOUR_MS: f64 = 3_600_000.0;

fn register_dates(engine: &mut Engine) {
    engine
        .register_fn("days_between", |a: Dynamic, b: Dynamic| {
            between("days_between(from, to)", &a, &b, DAY_MS)
        })
        .register_fn("hours_between", |a: Dynamic, b: Dynamic| {
            between("hours_between(from, to)", &a, &b, HOUR_MS)
        })
        .register_fn("add_days", |d: Dynamic, n: Dynamic| {
            shift("add_days(date, days)", "days", &d, &n, DAY_MS)
        })
        .register_fn("sub_days", |d: Dynamic, n: Dynamic| {
            shift("sub_days(date, days)", "days", &d, &n, -DAY_MS)
        })
        .register_fn("add_hours", |d: Dynamic, n: Dynamic| {
            shift("add_hours(date, hours)", "hours", &d, &n, HOUR_MS)
        })
        .register_fn("sub_hours", |d: Dynamic, n: Dynamic| {
            shift("sub_hours(date, hours)", "hours", &d, &n, -HOUR_MS)
        })
        .register_fn("is_before", |a: Dynamic, b: Dynamic| -> Res<bool> {
            let h = "is_before(a, b)";
            Ok(date_arg(h, "a", &a)?.at < date_arg(h, "b", &b)?.at)
        })
        .register_fn("is_after", |a: Dynamic, b: Dynamic| -> Res<bool> {
            let h = "is_after(a, b)";
            Ok(date_arg(h, "a", &a)?.at > date_arg(h, "b", &b)?.at)
        })
        .register_fn("is_date", |x: Dynamic| -> Res<bool> {
            check_limits()?;
            Ok(x.read_lock::<ImmutableString>()
                .is_some_and(|s| parse_date(&s).is_some()))
        })
        .register_fn("format_date", |d: Dynamic, pattern: Dynamic| -> Res<String> {
            let h = "format_date(date, pattern)";
            let d = date_arg(h, "date", &d)?;
            let pattern = text_arg(h, "pattern", "a string like \"%d %b %Y\"", &pattern)?;
            let mut out = String::new();
            write!(out, "{}", d.at.format(&pattern)).map_err(|_| {
                runtime_error(format!(
                    "{h}: `{pattern}` is not a valid pattern; try \"%d %b %Y\" or \"%d %b %Y %H:%M\""
                ))
            })?;
            Ok(out)
        });
}

/// The form a date was written in, kept for the dates a helper returns.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    DateOnly,
    NoOffset,
    Offset { z: bool },
}

#[derive(Clone, Copy)]
struct Date {
    at: DateTime<FixedOffset>,
    form: Form,
}

impl Date {
    fn parse(text: &str) -> Option<Date> {
        let text = text.trim();
        // Date-only values (laycans) are common: try that form first, not after five others.
        if text.len() == 10 {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
            return Some(Date {
                at: Utc
                    .from_utc_datetime(&date.and_time(NaiveTime::MIN))
                    .fixed_offset(),
                form: Form::DateOnly,
            });
        }
        let z = text.ends_with(['Z', 'z']);
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Some(Date {
                at,
                form: Form::Offset { z },
            });
        }
        if let Ok(at) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M%#z") {
            return Some(Date {
                at,
                form: Form::Offset { z },
            });
        }
        for format in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%d %H:%M",
        ] {
            if let Ok(d) = NaiveDateTime::parse_from_str(text, format) {
                return Some(Date {
                    at: Utc.from_utc_datetime(&d).fixed_offset(),
                    form: Form::NoOffset,
                });
            }
        }
        None
    }

    /// ISO 8601 text in the form the date came in.
    fn write(self) -> String {
        match self.form {
            Form::DateOnly if self.at.time() == NaiveTime::MIN => {
                self.at.format("%Y-%m-%d").to_string()
            }
            Form::DateOnly | Form::NoOffset => self.at.format("%Y-%m-%dT%H:%M:%S%.f").to_string(),
            Form::Offset { z } => self.at.to_rfc3339_opts(SecondsFormat::AutoSi, z),
        }
    }
}

/// Parses ISO 8601 with offset, without offset (UTC), or date-only (midnight UTC).
pub fn parse_date(text: &str) -> Option<DateTime<FixedOffset>> {
    Date::parse(text).map(|d| d.at)
}

/// A date argument as microseconds since the epoch (a date without an offset is UTC).
pub(crate) fn date_micros(helper: &str, arg: &str, value: &Dynamic) -> Res<i64> {
    Ok(date_arg(helper, arg, value)?.at.timestamp_micros())
}

fn date_arg(helper: &str, arg: &str, value: &Dynamic) -> Res<Date> {
    check_limits()?;
    let Some(text) = value.read_lock::<ImmutableString>() else {
        return Err(runtime_error(format!(
            "{helper}: {arg} must be a date like \"2026-12-01\" or \"2026-12-01T08:00:00Z\", got {}",
            type_name(value)
        )));
    };
    Date::parse(&text).ok_or_else(|| {
        runtime_error(format!(
            "{helper}: {arg} {} is not an ISO 8601 date; use \"2026-12-01\", \"2026-12-01T08:00:00Z\" or \"2026-12-01T08:00:00-03:00\"",
            quote(&text)
        ))
    })
}

fn between(helper: &str, a: &Dynamic, b: &Dynamic, unit_ms: f64) -> Res<f64> {
    let (a, b) = (date_arg(helper, "from", a)?, date_arg(helper, "to", b)?);
    Ok((b.at - a.at).num_milliseconds() as f64 / unit_ms)
}

fn shift(helper: &str, arg: &str, date: &Dynamic, n: &Dynamic, unit_ms: f64) -> Res<String> {
    let date = date_arg(helper, "date", date)?;
    let n = number_arg(helper, arg, n)?;
    let out_of_range = || {
        runtime_error(format!(
            "{helper}: moving {} by {n} {arg} leaves the calendar",
            quote(&date.write())
        ))
    };
    let ms = (n * unit_ms).round();
    // ~30,000 years either way: well inside what chrono and i64 can hold.
    if !ms.is_finite() || ms.abs() > 1e15 {
        return Err(out_of_range());
    }
    let delta = TimeDelta::try_milliseconds(ms as i64).ok_or_else(out_of_range)?;
    let at = date.at.checked_add_signed(delta).ok_or_else(out_of_range)?;
    Ok(Date { at, ..date }.write())
}

// ---------------------------------------------------------------------------------------
// Numbers

fn register_numbers(engine: &mut Engine) {
    engine
        .register_fn("round", |x: Dynamic, places: Dynamic| -> Res<f64> {
            check_limits()?;
            let h = "round(number, places)";
            Ok(round(number_arg(h, "number", &x)?, places_arg(h, &places)?))
        })
        .register_fn("is_number", |x: Dynamic| -> Res<bool> {
            check_limits()?;
            Ok(x.is_int() || x.is_float())
        })
        .register_fn(
            "format_number",
            |x: Dynamic, places: Dynamic| -> Res<String> {
                check_limits()?;
                let h = "format_number(number, places)";
                Ok(fixed(number_arg(h, "number", &x)?, places_arg(h, &places)?))
            },
        )
        .register_fn("format_money", |x: Dynamic, currency: Dynamic| {
            money("format_money(amount, currency)", &x, &currency, None)
        })
        .register_fn(
            "format_money",
            |x: Dynamic, currency: Dynamic, places: Dynamic| {
                money(
                    "format_money(amount, currency, places)",
                    &x,
                    &currency,
                    Some(&places),
                )
            },
        )
        .register_fn(
            "format_percent",
            |x: Dynamic, places: Dynamic| -> Res<String> {
                check_limits()?;
                let h = "format_percent(percent, places)";
                let mut out = fixed(number_arg(h, "percent", &x)?, places_arg(h, &places)?);
                out.push('%');
                Ok(out)
            },
        );
}

fn money(helper: &str, x: &Dynamic, currency: &Dynamic, places: Option<&Dynamic>) -> Res<String> {
    check_limits()?;
    let amount = number_arg(helper, "amount", x)?;
    let currency = text_arg(helper, "currency", "a currency code like \"USD\"", currency)?;
    let places = places.map_or(Ok(2), |p| places_arg(helper, p))?;
    let number = fixed(amount, places);
    let currency = currency.trim();
    Ok(if currency.is_empty() {
        number
    } else {
        format!("{currency} {number}")
    })
}

/// `x` rounded to `places` decimals, halves away from zero (2.5 -> 3, -2.5 -> -3).
fn round(x: f64, places: usize) -> f64 {
    let scale = 10f64.powi(places as i32);
    let scaled = x * scale;
    if scaled.is_finite() {
        scaled.round() / scale
    } else {
        x
    }
}

/// `x` with `places` decimals and thousands separators, rounded like [`round`] (Rust's
/// own formatting rounds halves to even); never "-0".
fn fixed(x: f64, places: usize) -> String {
    let plain = format!("{:.places$}", round(x, places));
    let plain = match plain.strip_prefix('-') {
        Some(rest) if rest.bytes().all(|b| b == b'0' || b == b'.') => rest,
        _ => &plain,
    };
    group_thousands(plain)
}

/// "1234567.891" -> "1,234,567.891".
fn group_thousands(plain: &str) -> String {
    let (sign, rest) = plain.strip_prefix('-').map_or(("", plain), |r| ("-", r));
    let (int, frac) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    let mut out = String::with_capacity(plain.len() + int.len() / 3);
    out.push_str(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(frac) = frac {
        out.push('.');
        out.push_str(frac);
    }
    out
}

fn number_arg(helper: &str, arg: &str, value: &Dynamic) -> Res<f64> {
    Val::Rhai(value).number().ok_or_else(|| {
        runtime_error(format!(
            "{helper}: {arg} must be a number, got {}",
            Val::Rhai(value).describe()
        ))
    })
}

fn places_arg(helper: &str, value: &Dynamic) -> Res<usize> {
    let places = value.as_int().ok().or_else(|| {
        value
            .as_float()
            .ok()
            .filter(|f| f.fract() == 0.0)
            .map(|f| f as i64)
    });
    match places {
        Some(p @ 0..=12) => Ok(p as usize),
        _ => Err(runtime_error(format!(
            "{helper}: places must be a whole number from 0 to 12, got {}",
            match (places, value.as_float()) {
                (Some(p), _) => p.to_string(),
                (None, Ok(f)) => f.to_string(),
                (None, Err(_)) => Val::Rhai(value).describe(),
            }
        ))),
    }
}

// ---------------------------------------------------------------------------------------
// Lists

fn register_lists(engine: &mut Engine) {
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
fn each_leaf(
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
fn leaf_at(items: &Dynamic, steps: &[Step], i: usize) -> Dynamic {
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

fn path_arg(helper: &str, path: &Dynamic) -> Res<ImmutableString> {
    text_arg(
        helper,
        "path",
        "a string like \"portDays\" or \"voyageEstimateBunkers[0].departureQty\"",
        path,
    )
}

/// Where element `i`'s value is, for errors: `items[3].portDays`.
fn at(arg: &str, i: usize, path: &str) -> String {
    match path {
        "" => format!("{arg}[{i}]"),
        p if p.starts_with('[') => format!("{arg}[{i}]{p}"),
        p => format!("{arg}[{i}].{p}"),
    }
}

fn leaf_number(helper: &str, i: usize, path: &str, leaf: Val) -> Res<f64> {
    leaf.number().ok_or_else(|| {
        runtime_error(format!(
            "{helper}: {} must be a number, got {}",
            at("items", i, path),
            leaf.describe()
        ))
    })
}

fn sum(helper: &str, items: &Dynamic, path: Option<&Dynamic>) -> Res<f64> {
    let path = path.map_or(Ok(ImmutableString::new()), |p| path_arg(helper, p))?;
    let steps = steps_of(helper, &path)?;
    let mut total = 0.0;
    each_leaf(helper, "items", items, &steps, |i, _, leaf| {
        total += leaf_number(helper, i, &path, leaf)?;
        Ok(true)
    })?;
    Ok(total)
}

fn average(helper: &str, items: &Dynamic, path: Option<&Dynamic>) -> Res<Dynamic> {
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
fn extreme(helper: &str, items: &Dynamic, path: Option<&Dynamic>, want: Ordering) -> Res<Dynamic> {
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

/// The path's steps; an empty path (the one-argument forms) means the element itself.
fn steps_of<'p>(helper: &str, path: &'p str) -> Res<Vec<Step<'p>>> {
    if path.is_empty() {
        Ok(Vec::new())
    } else {
        parse_path(helper, path)
    }
}

/// What `find`, `find_all` and `count_where` compare with.
enum Wanted {
    Text(ImmutableString),
    Number(f64),
    Bool(bool),
}

impl Wanted {
    fn matches(&self, leaf: Val) -> bool {
        match self {
            Wanted::Text(w) => leaf.with_text(|t| same_text(t, w)).unwrap_or(false),
            Wanted::Number(w) => leaf.number() == Some(*w),
            Wanted::Bool(w) => leaf.boolean() == Some(*w),
        }
    }
}

/// Calls `f` with each element whose value at `path` equals `wanted` (text ignoring case
/// and surrounding spaces, numbers by value), until `f` returns false. `()` matches nothing.
fn matching(
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

// ---------------------------------------------------------------------------------------
// Text

fn register_text(engine: &mut Engine) {
    engine
        .register_fn("same_text", |a: Dynamic, b: Dynamic| -> Res<bool> {
            check_limits()?;
            let h = "same_text(a, b)";
            let a = optional_text(h, "a", &a)?;
            let b = optional_text(h, "b", &b)?;
            Ok(match (a, b) {
                (Some(a), Some(b)) => same_text(&a, &b),
                _ => false,
            })
        })
        .register_fn(
            "contains_any",
            |text: Dynamic, words: Dynamic| -> Res<bool> {
                let h = "contains_any(text, words)";
                check_limits()?;
                let text = optional_text(h, "text", &text)?;
                // One pass over the text for all the words (Aho-Corasick): the call is
                // O(text + words) however they are made, never text × words.
                let Some(text) = text.map(|t| Folded::new(&t)) else {
                    return Ok(false);
                };
                if let Some(word) = words.read_lock::<ImmutableString>() {
                    return Ok(text.contains_any(&[text.fold(&word)]));
                }
                let mut folded = Vec::new();
                let mut total = 0usize;
                each_leaf(h, "words", &words, &[], |i, _, word| {
                    let Some(w) = word.with_text(|w| text.fold(w)) else {
                        return Err(runtime_error(format!(
                            "{h}: {} must be a string, got {}",
                            at("words", i, ""),
                            word.describe()
                        )));
                    };
                    total += w.len();
                    if total > MAX_WORDS_BYTES {
                        return Err(runtime_error(format!(
                            "{h}: the words hold more than {} MiB of text; look for fewer",
                            MAX_WORDS_BYTES >> 20
                        )));
                    }
                    folded.push(w);
                    Ok(true)
                })?;
                check_limits()?;
                let found = text.contains_any(&folded);
                Ok(found)
            },
        );
}

/// Equal ignoring case (any alphabet) and spaces at either end.
fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    if a.len() == b.len() && a.eq_ignore_ascii_case(b) {
        return true;
    }
    if a.is_ascii() && b.is_ascii() {
        return false;
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// Most text `contains_any` searches for at once.
const MAX_WORDS_BYTES: usize = 16 << 20;

/// A text lower-cased once, to search for words in it ignoring case.
struct Folded {
    text: String,
    ascii: bool,
}

impl Folded {
    fn new(text: &str) -> Folded {
        Folded {
            ascii: text.is_ascii(),
            text: if text.is_ascii() {
                text.to_ascii_lowercase()
            } else {
                text.to_lowercase()
            },
        }
    }

    /// `word` lower-cased the way the text was.
    fn fold(&self, word: &str) -> String {
        if self.ascii && word.is_ascii() {
            word.to_ascii_lowercase()
        } else {
            word.to_lowercase()
        }
    }

    /// Whether the text contains one of `words` (folded); an empty word is in nothing.
    /// One Aho-Corasick pass: linear in the text and the words together.
    fn contains_any(&self, words: &[String]) -> bool {
        let mut words: Vec<&str> = words
            .iter()
            .map(String::as_str)
            .filter(|w| !w.is_empty())
            .collect();
        if words.is_empty() {
            return false;
        }
        words.sort_unstable();
        words.dedup();
        // The NFA builds in time linear in the words; a DFA (what `new` may pick) can
        // take far longer to build for words made to be hard, with no deadline check.
        aho_corasick::AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::NoncontiguousNFA))
            .build(&words)
            .map(|finder| finder.is_match(&self.text))
            .unwrap_or(false)
    }
}

fn text_arg(helper: &str, arg: &str, like: &str, value: &Dynamic) -> Res<ImmutableString> {
    value
        .read_lock::<ImmutableString>()
        .map(|s| s.clone())
        .ok_or_else(|| {
            runtime_error(format!(
                "{helper}: {arg} must be {like}, got {}",
                type_name(value)
            ))
        })
}

/// Text, or `None` for `()`; anything else is an error.
fn optional_text(helper: &str, arg: &str, value: &Dynamic) -> Res<Option<ImmutableString>> {
    if value.is_unit() {
        return Ok(None);
    }
    text_arg(helper, arg, "a string", value).map(Some)
}

/// Text for an error message, quoted and cut at 60 characters.
fn quote(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("\"{}...\"", &text[..cut]),
        None => format!("\"{text}\""),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, OnceLock};
    use std::time::{Duration, Instant};

    use rhai::Scope;
    use serde_json::json;

    use super::*;
    use crate::rules::sandbox::{self, Limits, Run};

    fn engine() -> &'static Engine {
        static ENGINE: OnceLock<Engine> = OnceLock::new();
        ENGINE.get_or_init(|| sandbox::engine(&Limits::default()))
    }

    fn sample() -> serde_json::Value {
        json!({
            "estimateID": "EST-7",
            "voyageResults": {"tce": 11350.5, "voyageDays": 41.25},
            "estimateCargoes": [
                {"cargoName": "Soybeans", "charterer": "Bunge ", "laycanFrom": "2027-01-08", "laycanTo": "2027-01-12", "addressCommission": 3.75, "brokerage": 1.25},
                {"cargoName": "Corn", "charterer": "OCEANIC GRAIN", "laycanFrom": "2027-01-05", "laycanTo": "2027-01-09", "addressCommission": 2.5, "brokerage": null}
            ],
            "estimateItineraries": [
                {"portName": "SANTOS", "portFunction": "Load", "arrivalDate": "2027-01-10T06:00:00-03:00", "portDays": 3,
                 "voyageEstimateBunkers": [{"fuelType": "LSF", "departureQty": 1199.2}]},
                {"portName": "Santos", "portFunction": "Bunker", "arrivalDate": "2027-01-13T14:04:48Z", "portDays": 0.5},
                {"portName": "QINGDAO", "portFunction": "Discharge", "arrivalDate": "2027-02-20T08:00:00+08:00", "portDays": 2.5,
                 "voyageEstimateBunkers": [{"fuelType": "LSF", "departureQty": 310}]},
                {"portName": "ROTTERDAM ", "portFunction": "Discharge", "arrivalDate": null, "portDays": null}
            ],
            "remarks": "Ice class required; Baltic winter",
            "words": ["war risk", "ICE"],
            "mixed": [1, "two", 3],
            "dates": ["2027-01-13", "2027-01-13T14:04:48+08:00", "2027-01-13T14:04:48Z", "2027-01-13T14:04:48"]
        })
    }

    /// Runs `script` with `estimate` (a JSON handle on the sample) and `rows` (the sample's
    /// itinerary as a Rhai array of maps): the value's debug text, or "error: " and the message.
    fn eval(script: &str) -> String {
        let sample = sample();
        let mut scope = Scope::new();
        scope.push_constant_dynamic(
            "estimate",
            Dynamic::from(Json::new(Arc::new(json::doc_from(&sample)))),
        );
        let rows = rhai::serde::to_dynamic(&sample["estimateItineraries"]).unwrap();
        scope.push_dynamic("rows", rows);
        match engine().eval_with_scope::<Dynamic>(&mut scope, script) {
            Ok(value) => format!("{value:?}"),
            Err(err) => format!("error: {}", sandbox::describe(&err).0),
        }
    }

    /// Each case: a script and its expected result (debug text), or "error: " and a part
    /// of the message.
    fn check(cases: &[(&str, &str)]) {
        let mut failed = Vec::new();
        for (script, expected) in cases {
            let got = eval(script);
            let ok = match expected.strip_prefix("error: ") {
                Some(part) => got.starts_with("error: ") && got.contains(part),
                None => got == *expected,
            };
            if !ok {
                failed.push(format!(
                    "{script}\n    expected {expected}\n    got      {got}"
                ));
            }
        }
        assert!(failed.is_empty(), "\n{}", failed.join("\n"));
    }

    #[test]
    fn get_follows_paths_in_json_rhai_maps_and_arrays() {
        check(&[
            (
                r#"get(estimate, "estimateItineraries[0].voyageEstimateBunkers[0].departureQty")"#,
                "1199.2",
            ),
            (
                r#"get(estimate, "estimateItineraries[-1].portName")"#,
                r#""ROTTERDAM ""#,
            ),
            (r#"get(estimate, "voyageResults")["tce"]"#, "11350.5"),
            (
                r#"get(rows, "[0].voyageEstimateBunkers[0].fuelType")"#,
                r#""LSF""#,
            ),
            (r#"get(#{ a: #{ b: [1, 2] } }, "a.b[1]")"#, "2"),
            (
                r#"let m = #{ vessel: #{ dwt: 58000 } }; get(m, "vessel.dwt")"#,
                "58000",
            ),
            (
                r#"let m = #{ vessel: estimate }; get(m, "vessel.voyageResults.voyageDays")"#,
                "41.25",
            ),
            // Rhai's own map.get(key) still works.
            (r#"#{ a: 1 }.get("a")"#, "1"),
            // Missing and null steps give () or the default.
            (r#"get(estimate, "voyageResults.tce.deeper")"#, "()"),
            (
                r#"get(estimate, "estimateItineraries[3].arrivalDate", "none")"#,
                r#""none""#,
            ),
            (
                r#"get(estimate, "estimateItineraries[9].speed", 12.0)"#,
                "12.0",
            ),
            (r#"get(#{ a: #{ b: 1 } }, "a.x", 0)"#, "0"),
            (r#"get((), "a.b", 5)"#, "5"),
            (r#"get(rows, "portName")"#, "()"),
            // Wrong types and bad paths.
            (
                r#"get(estimate, "a..b")"#,
                "error: get(value, path): `a..b` is not a path; write it like",
            ),
            (
                r#"get(estimate, 3)"#,
                "error: get(value, path): path must be a string like \"portDays\"",
            ),
            (
                r#"get(estimate, 3, 0)"#,
                "error: get(value, path, default): path must be a string",
            ),
        ]);
    }

    #[test]
    fn paths_parse_or_explain() {
        assert_eq!(parse_path("h", "a.b[0][-1].c").unwrap().len(), 5);
        for bad in ["a..b", "a[x]", "a[0", "a[0]b", ""] {
            let err = parse_path("sum(items, path)", bad)
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains("sum(items, path): `"), "{bad}: {err}");
            assert!(err.contains("is not a path"), "{bad}: {err}");
        }
    }

    #[test]
    fn dates_parse_in_the_forms_the_estimator_sends() {
        let cases = [
            ("2026-12-01", "2026-12-01T00:00:00+00:00", Form::DateOnly),
            (
                "2026-12-01T08:30:00Z",
                "2026-12-01T08:30:00+00:00",
                Form::Offset { z: true },
            ),
            (
                "2026-12-01T08:30:00+02:00",
                "2026-12-01T08:30:00+02:00",
                Form::Offset { z: false },
            ),
            (
                "2026-12-01 08:30:00+02:00",
                "2026-12-01T08:30:00+02:00",
                Form::Offset { z: false },
            ),
            (
                "2026-12-01T08:30Z",
                "2026-12-01T08:30:00+00:00",
                Form::Offset { z: true },
            ),
            (
                "2026-12-01T08:30+02:00",
                "2026-12-01T08:30:00+02:00",
                Form::Offset { z: false },
            ),
            (
                "2026-12-01T08:30:00",
                "2026-12-01T08:30:00+00:00",
                Form::NoOffset,
            ),
            (
                "2026-12-01T08:30:00.250",
                "2026-12-01T08:30:00.250+00:00",
                Form::NoOffset,
            ),
            (
                "2026-12-01 08:30",
                "2026-12-01T08:30:00+00:00",
                Form::NoOffset,
            ),
        ];
        for (text, expected, form) in cases {
            let date = Date::parse(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(date.at.to_rfc3339(), expected, "{text}");
            assert_eq!(date.form, form, "{text}");
        }
        for bad in [
            "01/12/2026",
            "2026-13-01",
            "",
            "tomorrow",
            "2026-12-01T25:00:00Z",
        ] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn date_helpers_compute_compare_and_keep_the_form_they_were_given() {
        check(&[
            (r#"days_between("2027-01-12", "2027-01-13T12:00:00Z")"#, "1.5"),
            (r#"days_between("2027-01-13", "2027-01-12")"#, "-1.0"),
            (r#"hours_between("2027-01-13T14:04:48+08:00", "2027-01-13T14:04:48Z")"#, "8.0"),
            // No offset reads as UTC.
            (r#"hours_between("2027-01-13T14:04:48", "2027-01-13T14:04:48Z")"#, "0.0"),
            (r#"days_between(estimate.estimateCargoes[0].laycanTo, estimate.estimateItineraries[1].arrivalDate)"#, "1.5866666666666667"),
            (r#"add_days("2027-01-12", 1)"#, r#""2027-01-13""#),
            (r#"add_days("2027-01-12", 0.5)"#, r#""2027-01-12T12:00:00""#),
            (r#"add_days("2027-01-12", -2)"#, r#""2027-01-10""#),
            (r#"sub_days("2027-01-12", 2)"#, r#""2027-01-10""#),
            (r#"sub_days("2027-01-12", -2)"#, r#""2027-01-14""#),
            (r#"add_days("2027-01-13T14:04:48+08:00", 1)"#, r#""2027-01-14T14:04:48+08:00""#),
            (r#"add_hours("2027-01-13T14:04:48+08:00", 10)"#, r#""2027-01-14T00:04:48+08:00""#),
            (r#"sub_hours("2027-01-13T14:04:48Z", 15)"#, r#""2027-01-12T23:04:48Z""#),
            (r#"add_hours("2027-01-13T14:04:48", 1.5)"#, r#""2027-01-13T15:34:48""#),
            (r#"add_hours("2027-01-13", 6)"#, r#""2027-01-13T06:00:00""#),
            (r#"add_hours("2027-01-13T14:04+08:00", 0)"#, r#""2027-01-13T14:04:00+08:00""#),
            (r#"add_days(estimate.estimateCargoes[0].laycanTo, 1)"#, r#""2027-01-13""#),
            (r#"is_before("2027-01-13T14:04:48+08:00", "2027-01-13T14:04:48Z")"#, "true"),
            (r#"is_before("2027-01-13", "2027-01-13T00:00:00Z")"#, "false"),
            (r#"is_after("2027-01-13T14:04:48+08:00", "2027-01-13")"#, "true"),
            (r#"is_after(estimate.estimateItineraries[0].arrivalDate, add_days(estimate.estimateCargoes[1].laycanTo, 1))"#, "true"),
            (r#"is_date("2027-01-13")"#, "true"),
            (r#"is_date("2027-01-13T14:04:48+08:00")"#, "true"),
            (r#"is_date("13/01/2027")"#, "false"),
            (r#"is_date(estimate.estimateItineraries[3].arrivalDate)"#, "false"),
            (r#"is_date(42)"#, "false"),
            (r#"format_date("2027-01-13T14:04:48+08:00", "%d %b %Y %H:%M (%:z)")"#, r#""13 Jan 2027 14:04 (+08:00)""#),
            (r#"format_date("2027-01-13", "%d %b %Y")"#, r#""13 Jan 2027""#),
            // Wrong types and unreadable dates name the helper, the argument and the text.
            (r#"days_between("2027-01-12", 5)"#, "error: days_between(from, to): to must be a date like \"2026-12-01\" or \"2026-12-01T08:00:00Z\", got a number"),
            (r#"hours_between((), "2027-01-12")"#, "error: hours_between(from, to): from must be a date like \"2026-12-01\" or \"2026-12-01T08:00:00Z\", got nothing"),
            (r#"add_days("13/01/2027", 1)"#, "error: add_days(date, days): date \"13/01/2027\" is not an ISO 8601 date"),
            (r#"sub_days("2027-01-13", "1")"#, "error: sub_days(date, days): days must be a number, got a string (\"1\")"),
            (r#"add_hours("2027-01-13", ())"#, "error: add_hours(date, hours): hours must be a number, got nothing"),
            (r#"sub_hours("2027-01-13", "x")"#, "error: sub_hours(date, hours): hours must be a number"),
            (r#"add_days("2027-01-13", 1e20)"#, "error: add_days(date, days): moving \"2027-01-13\" by 100000000000000000000 days leaves the calendar"),
            (r#"add_days("2027-01-13", 3000000)"#, r#""+10240-10-03""#),
            (r#"sub_days("2027-01-13", 200000000)"#, "error: sub_days(date, days): moving \"2027-01-13\" by 200000000 days leaves the calendar"),
            (r#"is_before(estimate.estimateItineraries[3].arrivalDate, "2027-01-13")"#, "error: is_before(a, b): a must be a date like"),
            (r#"is_after("2027-01-13", "soon")"#, "error: is_after(a, b): b \"soon\" is not an ISO 8601 date"),
            (r#"format_date("2027-01-13", "%Q")"#, "error: format_date(date, pattern): `%Q` is not a valid pattern"),
            (r#"format_date("2027-01-13", 5)"#, "error: format_date(date, pattern): pattern must be a string"),
            (r#"format_date(20270113, "%d")"#, "error: format_date(date, pattern): date must be a date like"),
        ]);
    }

    #[test]
    fn number_helpers_round_and_format() {
        check(&[
            (r#"round(1199.2049, 2)"#, "1199.2"),
            (r#"round(2.5, 0)"#, "3.0"),
            (r#"round(-2.5, 0)"#, "-3.0"),
            (r#"round(7, 1)"#, "7.0"),
            (r#"round(1199.2049, 2.0)"#, "1199.2"),
            (r#"round(1e300, 12)"#, "1e300"),
            (r#"is_number(3)"#, "true"),
            (r#"is_number(estimate.voyageResults.tce)"#, "true"),
            (r#"is_number("3")"#, "false"),
            (r#"is_number(estimate.nothing)"#, "false"),
            (r#"format_number(1234567.891, 2)"#, r#""1,234,567.89""#),
            (r#"format_number(11350, 0)"#, r#""11,350""#),
            (r#"format_number(-0.4, 0)"#, r#""0""#),
            (r#"format_number(2.5, 0)"#, r#""3""#),
            (r#"format_number(999.999, 2)"#, r#""1,000.00""#),
            (r#"format_money(1234.5, "USD")"#, r#""USD 1,234.50""#),
            (r#"format_money(-11350.5, "USD", 0)"#, r#""USD -11,351""#),
            (r#"format_money(estimate.voyageResults.tce, " EUR ", 1)"#, r#""EUR 11,350.5""#),
            (r#"format_money(1234.5, "")"#, r#""1,234.50""#),
            (r#"format_percent(2.5, 2)"#, r#""2.50%""#),
            (r#"format_percent(estimate.estimateCargoes[0].addressCommission, 2)"#, r#""3.75%""#),
            (r#"format_percent(1250, 0)"#, r#""1,250%""#),
            (r#"format_percent(0.025, 1)"#, r#""0.0%""#),
            // Wrong types and places.
            (r#"round("12,5", 1)"#, "error: round(number, places): number must be a number, got a string (\"12,5\")"),
            (r#"round(1.5, 13)"#, "error: round(number, places): places must be a whole number from 0 to 12, got 13"),
            (r#"round(1.5, 1.5)"#, "error: round(number, places): places must be a whole number from 0 to 12, got 1.5"),
            (r#"round(1.5, "2")"#, "error: round(number, places): places must be a whole number from 0 to 12, got a string (\"2\")"),
            (r#"format_number(estimate.nothing, 2)"#, "error: format_number(number, places): number must be a number, got nothing"),
            (r#"format_number(1, -1)"#, "error: format_number(number, places): places must be a whole number from 0 to 12, got -1"),
            (r#"format_money(1, 840)"#, "error: format_money(amount, currency): currency must be a currency code like \"USD\", got a number"),
            (r#"format_money("1", "USD", 2)"#, "error: format_money(amount, currency, places): amount must be a number, got a string"),
            (r#"format_money(1, "USD", 20)"#, "error: format_money(amount, currency, places): places must be a whole number"),
            (r#"format_percent("2.5%", 1)"#, "error: format_percent(percent, places): percent must be a number, got a string (\"2.5%\")"),
        ]);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands("1234567.89"), "1,234,567.89");
        assert_eq!(group_thousands("-11350"), "-11,350");
        assert_eq!(group_thousands("999"), "999");
        assert_eq!(group_thousands("1000"), "1,000");
    }

    #[test]
    fn sums_minima_maxima_and_averages_over_json_and_rhai_arrays() {
        check(&[
            (r#"sum(estimate.estimateItineraries, "portDays")"#, "6.0"),
            (r#"sum(rows, "portDays")"#, "6.0"),
            (r#"sum(estimate.estimateItineraries, "voyageEstimateBunkers[0].departureQty")"#, "1509.2"),
            (r#"sum(rows, "voyageEstimateBunkers[-1].departureQty")"#, "1509.2"),
            (r#"sum([1, 2.5, ()])"#, "3.5"),
            (r#"sum(estimate.nothing, "portDays")"#, "0.0"),
            (r#"sum([], "portDays")"#, "0.0"),
            (r#"min_of(estimate.estimateItineraries, "portDays")"#, "0.5"),
            (r#"min_of(rows, "portDays")"#, "0.5"),
            (r#"max_of(estimate.estimateItineraries, "portDays")"#, "3"),
            (r#"max_of(rows, "portDays")"#, "3"),
            (r#"max_of([2, 7.5, 7])"#, "7.5"),
            (r#"min_of(estimate.estimateItineraries, "arrivalDate")"#, r#""2027-01-10T06:00:00-03:00""#),
            (r#"max_of(rows, "arrivalDate")"#, r#""2027-02-20T08:00:00+08:00""#),
            (r#"min_of(estimate.estimateCargoes, "laycanFrom")"#, r#""2027-01-05""#),
            (r#"min_of(estimate.dates)"#, r#""2027-01-13""#),
            (r#"max_of(estimate.dates)"#, r#""2027-01-13T14:04:48Z""#),
            (r#"max_of([], "portDays")"#, "()"),
            (r#"min_of(estimate.nothing, "portDays")"#, "()"),
            (r#"max_of([#{ portDays: () }], "portDays")"#, "()"),
            (r#"average_of(estimate.estimateItineraries, "portDays")"#, "2.0"),
            (r#"average_of(rows, "portDays")"#, "2.0"),
            (r#"average_of(estimate.estimateCargoes, "brokerage")"#, "1.25"),
            (r#"average_of([3, 4])"#, "3.5"),
            (r#"average_of([])"#, "()"),
            (r#"average_of(estimate.nothing, "x")"#, "()"),
            // Rhai's own min/max of two values are untouched.
            (r#"max(1, 2)"#, "2"),
            (r#"max(1.5, 2)"#, "2.0"),
            (r#"min(3, 1.5)"#, "1.5"),
            // Wrong types name the helper, the argument and the element.
            (r#"sum("abc", "portDays")"#, "error: sum(items, path): items must be an array, got a string"),
            (r#"sum(estimate.mixed)"#, "error: sum(items): items[1] must be a number, got a string (\"two\")"),
            (r#"sum(rows, "a..b")"#, "error: sum(items, path): `a..b` is not a path"),
            (r#"sum(rows, 1)"#, "error: sum(items, path): path must be a string"),
            (r#"min_of(estimate, "portDays")"#, "error: min_of(items, path): items must be an array, got a map"),
            (r#"min_of(rows, "portName")"#, "error: min_of(items, path): items[0].portName must be a number or an ISO 8601 date, got a string (\"SANTOS\")"),
            (r#"max_of(estimate.mixed)"#, "error: max_of(items): items[1] must be a number or an ISO 8601 date, got a string (\"two\")"),
            (r#"min_of([1, "2027-01-13"])"#, "error: min_of(items): items[1] must be a number like the values before it"),
            (r#"max_of(["2027-01-13", 1])"#, "error: max_of(items): items[1] must be a date like the values before it, got a number"),
            (r#"max_of(42)"#, "error: max_of(items): items must be an array, got a number"),
            (r#"average_of(rows, "portName")"#, "error: average_of(items, path): items[0].portName must be a number, got a string (\"SANTOS\")"),
            (r#"average_of(estimate.estimateItineraries, "arrivalDate")"#, "error: average_of(items, path): items[0].arrivalDate must be a number"),
            (r#"average_of(#{ a: 1 })"#, "error: average_of(items): items must be an array, got a map"),
        ]);
    }

    #[test]
    fn find_find_all_and_count_where_compare_text_ignoring_case() {
        check(&[
            (r#"find(estimate.estimateItineraries, "portName", "santos").portFunction"#, r#""Load""#),
            (r#"find(rows, "portName", "qingdao").portDays"#, "2.5"),
            (r#"find(estimate.estimateItineraries, "portName", "Rotterdam").portFunction"#, r#""Discharge""#),
            (r#"find(estimate.estimateItineraries, "portDays", 2.5).portName"#, r#""QINGDAO""#),
            (r#"find(rows, "portDays", 3.0).portName"#, r#""SANTOS""#),
            (r#"find(estimate.estimateItineraries, "voyageEstimateBunkers[0].departureQty", 310).portName"#, r#""QINGDAO""#),
            (r#"find(estimate.estimateCargoes, "charterer", "bunge").cargoName"#, r#""Soybeans""#),
            (r#"find(estimate.estimateItineraries, "portName", "HOUSTON")"#, "()"),
            (r#"find(estimate.estimateItineraries, "portName", estimate.nothing)"#, "()"),
            (r#"find(estimate.nothing, "portName", "SANTOS")"#, "()"),
            (r#"find_all(estimate.estimateItineraries, "portName", "santos").len()"#, "2"),
            (r#"find_all(rows, "portFunction", "discharge").len()"#, "2"),
            (r#"find_all(estimate.estimateItineraries, "portFunction", "DISCHARGE")[1].portName"#, r#""ROTTERDAM ""#),
            (r#"find_all(rows, "portName", "HOUSTON")"#, "[]"),
            (r#"count_where(estimate.estimateItineraries, "portName", "SANTOS")"#, "2"),
            (r#"count_where(rows, "portFunction", "Discharge")"#, "2"),
            (r#"count_where(estimate.estimateItineraries, "portDays", 3)"#, "1"),
            (r#"count_where(estimate.estimateItineraries, "arrivalDate", ())"#, "0"),
            (r#"count_where([#{ ok: true }, #{ ok: false }, #{ ok: true }], "ok", true)"#, "2"),
            (r#"count_where([#{ n: "1" }, #{ n: 1 }], "n", 1)"#, "1"),
            // Wrong types.
            (r#"find(rows, "portName", [1])"#, "error: find(items, path, value): value must be text, a number or true/false, got an array"),
            (r#"find(42, "portName", ())"#, "error: find(items, path, value): items must be an array, got a number"),
            (r#"find_all(42, "x", 1)"#, "error: find_all(items, path, value): items must be an array, got a number"),
            (r#"find_all(rows, "x", #{})"#, "error: find_all(items, path, value): value must be text, a number or true/false, got a map"),
            (r#"count_where(rows, 5, "x")"#, "error: count_where(items, path, value): path must be a string"),
            (r#"count_where(estimate.voyageResults, "tce", 1)"#, "error: count_where(items, path, value): items must be an array, got a map"),
        ]);
    }

    #[test]
    fn the_manuals_examples_compose() {
        // The shapes used in rules/README.md's helper reference, on the sample estimate.
        check(&[
            (
                r#"let row = estimate.estimateItineraries[0]; add_hours(row.arrivalDate, row.portDays * 24)"#,
                r#""2027-01-13T06:00:00-03:00""#,
            ),
            (
                r#"let cargo = estimate.estimateCargoes[0]; sub_days(cargo.laycanFrom, 3)"#,
                r#""2027-01-05""#,
            ),
            (
                r#"let tce = 11350.33; format_money(tce, "USD", 0) + "/day""#,
                r#""USD 11,350/day""#,
            ),
            (
                r#"let floor = 12000; let tce = 11350.33; format_percent((floor - tce) / floor * 100, 1)"#,
                r#""5.4%""#,
            ),
            (r#"format_money(-649.67, "USD")"#, r#""USD -649.67""#),
            (
                r#"let a = average_of(estimate.estimateItineraries, "portDays"); a != () && a > 1"#,
                "true",
            ),
            (
                r#"let a = average_of([], "portDays"); a != () && a > 1"#,
                "false",
            ),
            (
                r#"sum(find_all(estimate.estimateItineraries, "portFunction", "discharge"), "portDays")"#,
                "2.5",
            ),
            (
                r#"let n = 0; for row in estimate.estimateItineraries { if is_date(row.arrivalDate) { n += 1; } } n"#,
                "3",
            ),
            (r#"format_date("2026-12-30", "%d %b")"#, r#""30 Dec""#),
        ]);
    }

    #[test]
    fn text_helpers_ignore_case() {
        check(&[
            (r#"same_text("Bunge ", "BUNGE")"#, "true"),
            (
                r#"same_text(estimate.estimateCargoes[1].charterer, "Oceanic Grain")"#,
                "true",
            ),
            (r#"same_text("São Paulo", "SÃO PAULO")"#, "true"),
            (r#"same_text("Santos", "Santo")"#, "false"),
            (r#"same_text(estimate.nothing, "Santos")"#, "false"),
            (r#"same_text((), ())"#, "false"),
            (
                r#"contains_any(estimate.remarks, ["ice", "war risk"])"#,
                "true",
            ),
            (
                r#"contains_any(estimate.remarks, ["war risk", "piracy"])"#,
                "false",
            ),
            (r#"contains_any(estimate.remarks, "BALTIC")"#, "true"),
            (r#"contains_any(estimate.remarks, estimate.words)"#, "true"),
            (
                r#"contains_any("Überseehafen Hamburg", ["überSEE"])"#,
                "true",
            ),
            (r#"contains_any(estimate.nothing, ["ice"])"#, "false"),
            (r#"contains_any("ice", [])"#, "false"),
            (r#"contains_any("ice", ["", ()])"#, "false"),
            (r#"contains_any("ice", ())"#, "false"),
            // Wrong types.
            (
                r#"same_text(1, "x")"#,
                "error: same_text(a, b): a must be a string, got a number",
            ),
            (
                r#"same_text("x", estimate.voyageResults)"#,
                "error: same_text(a, b): b must be a string, got a map",
            ),
            (
                r#"contains_any(5, ["x"])"#,
                "error: contains_any(text, words): text must be a string, got a number",
            ),
            (
                r#"contains_any("x", ["a", 5])"#,
                "error: contains_any(text, words): words[1] must be a string, got a number",
            ),
            (
                r#"contains_any("x", #{ a: 1 })"#,
                "error: contains_any(text, words): words must be an array, got a map",
            ),
            (
                r#"contains_any("x", estimate.voyageResults)"#,
                "error: contains_any(text, words): words must be an array, got a map",
            ),
        ]);
    }

    /// Runs `f` under a deadline `budget` from now: its result and how long it took.
    fn under_deadline<T>(budget: Duration, f: impl FnOnce() -> T) -> (T, Duration) {
        let started = Instant::now();
        Run::begin(started + budget, &Limits::default());
        let result = f();
        Run::finish();
        (result, started.elapsed())
    }

    fn eval_until(script: &str, rows: &Dynamic, budget: Duration) -> (Res<Dynamic>, Duration) {
        let mut scope = Scope::new();
        scope.push_dynamic("rows", rows.clone());
        under_deadline(budget, || {
            engine().eval_with_scope::<Dynamic>(&mut scope, script)
        })
    }

    fn stopped_at_deadline<T: std::fmt::Debug>(result: &Res<T>) -> bool {
        matches!(result.as_ref().map_err(|e| &**e), Err(EvalAltResult::ErrorTerminated(reason, _)) if reason.to_string() == sandbox::STOP_DEADLINE)
    }

    #[test]
    fn every_helper_stops_when_the_deadline_has_passed() {
        let calls = [
            r#"get(rows, "[0]")"#,
            r#"get(rows, "[0]", 1)"#,
            r#"get(#{ a: 1 }, "a")"#,
            r#"days_between("2027-01-12", "2027-01-13")"#,
            r#"hours_between("2027-01-12", "2027-01-13")"#,
            r#"add_days("2027-01-12", 1)"#,
            r#"sub_days("2027-01-12", 1)"#,
            r#"add_hours("2027-01-12", 1)"#,
            r#"sub_hours("2027-01-12", 1)"#,
            r#"is_before("2027-01-12", "2027-01-13")"#,
            r#"is_after("2027-01-12", "2027-01-13")"#,
            r#"is_date("2027-01-12")"#,
            r#"format_date("2027-01-12", "%d")"#,
            r#"round(1.5, 0)"#,
            r#"is_number(1)"#,
            r#"format_number(1, 0)"#,
            r#"format_money(1, "USD")"#,
            r#"format_money(1, "USD", 0)"#,
            r#"format_percent(1, 0)"#,
            r#"sum(rows)"#,
            r#"sum(rows, "x")"#,
            r#"min_of(rows)"#,
            r#"min_of(rows, "x")"#,
            r#"max_of(rows)"#,
            r#"max_of(rows, "x")"#,
            r#"average_of(rows)"#,
            r#"average_of(rows, "x")"#,
            r#"find(rows, "x", 1)"#,
            r#"find_all(rows, "x", 1)"#,
            r#"count_where(rows, "x", 1)"#,
            r#"same_text("a", "A")"#,
            r#"contains_any("a", ["a"])"#,
        ];
        let rows = Dynamic::from_array(vec![Dynamic::from_int(1)]);
        for call in calls {
            let (result, _) = eval_until(call, &rows, Duration::ZERO);
            assert!(stopped_at_deadline(&result), "{call}: {result:?}");
        }
    }

    /// Issue 12, finding 9: `contains_any` compared every window of the text with the
    /// word (text × word: ~90 s for a 1 MiB text and a 500 KB word, past any deadline).
    /// Now the whole call is linear: it finishes, well inside a deadline the old code
    /// overran by minutes.
    #[test]
    fn contains_any_is_linear_in_text_and_words() {
        let script = r#"
            let text = "";
            text.pad(1000000, "a");
            let word = "";
            word.pad(500000, "a");
            word += "b";
            let short = "";
            short.pad(300, "a");
            short += "b";
            let many = [];
            for i in 0..2000 { many.push(short); }
            [contains_any(text, [word]), contains_any(text, many), contains_any(text + "b", [word])]
        "#;
        let rows = Dynamic::UNIT;
        let (result, _) = eval_until(script, &rows, Duration::from_secs(5));
        let result = result.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(format!("{result:?}"), "[false, false, true]");
    }

    #[test]
    fn a_helper_over_a_huge_list_stops_at_the_deadline() {
        // Dates are the slowest elements to compare, so the walk takes long enough to
        // measure; the deadline falls a tenth of the way through it.
        const N: usize = 400_000;
        const DATE: &str = "2027-01-13T14:04:48+08:00";
        let text = format!("[{}]", vec![format!("\"{DATE}\""); N].join(","));
        let json_rows = Dynamic::from(Json::new(Arc::new(json::parse(&text).unwrap())));
        // A script cannot hold a Rhai array this big (100,000 elements, 1 MiB of text), so
        // the Rhai array goes to the helper directly: the walk is the same.
        let rhai_rows = Dynamic::from_array(vec![Dynamic::from(ImmutableString::from(DATE)); N]);
        type Walk<'a> = Box<dyn Fn(Duration) -> (Res<Dynamic>, Duration) + 'a>;
        let runs: [(&str, Walk); 2] = [
            (
                "max_of over a JSON array",
                Box::new(|budget| eval_until("max_of(rows)", &json_rows, budget)),
            ),
            (
                "max_of over a Rhai array",
                Box::new(|budget| {
                    under_deadline(budget, || {
                        extreme("max_of(items)", &rhai_rows, None, Ordering::Greater)
                    })
                }),
            ),
        ];
        for (what, run) in runs {
            let (full, full_time) = run(Duration::from_secs(60));
            assert_eq!(
                full.map(|v| v.to_string()).ok().as_deref(),
                Some(DATE),
                "{what}"
            );
            let (cut, took) = run(full_time / 10);
            assert!(stopped_at_deadline(&cut), "{what}: {cut:?}");
            assert!(
                took < full_time / 2,
                "{what}: stopped after {took:?}; the whole walk takes {full_time:?}"
            );
        }
    }
}
