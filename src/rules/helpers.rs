//! Helpers for the desk's daily arithmetic, registered into every rule engine.
//!
//! Each helper checks the deadline and memory ceiling first (and, when it walks an
//! array, as it goes) and names itself and the argument when it gets the wrong type.
//! Dates are ISO 8601 strings (`2026-12-01`, `2026-12-01T08:00:00Z`, with or without
//! an offset; no offset means UTC); helpers that return a date return RFC 3339 text.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map};
use sonic_rs::{JsonContainerTrait, JsonNumberTrait, JsonValueTrait, ValueRef};

use crate::rules::json::{runtime_error, Doc, Json};
use crate::rules::sandbox::check_limits;

type Res<T> = Result<T, Box<EvalAltResult>>;

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
    engine
        .register_fn("get", |v: Dynamic, path: &str| get(&v, path, Dynamic::UNIT))
        .register_fn("get", |v: Dynamic, path: &str, default: Dynamic| get(&v, path, default))
        .register_fn("days_between", |a: Dynamic, b: Dynamic| -> Res<f64> {
            let (a, b) = (date_arg("days_between(from, to)", "from", &a)?, date_arg("days_between(from, to)", "to", &b)?);
            Ok((b - a).num_milliseconds() as f64 / 86_400_000.0)
        })
        .register_fn("hours_between", |a: Dynamic, b: Dynamic| -> Res<f64> {
            let (a, b) = (date_arg("hours_between(from, to)", "from", &a)?, date_arg("hours_between(from, to)", "to", &b)?);
            Ok((b - a).num_milliseconds() as f64 / 3_600_000.0)
        })
        .register_fn("add_days", |d: Dynamic, n: Dynamic| -> Res<String> {
            let d = date_arg("add_days(date, days)", "date", &d)?;
            let n = number_arg("add_days(date, days)", "days", &n)?;
            Ok((d + Duration::milliseconds((n * 86_400_000.0) as i64)).to_rfc3339())
        })
        .register_fn("add_hours", |d: Dynamic, n: Dynamic| -> Res<String> {
            let d = date_arg("add_hours(date, hours)", "date", &d)?;
            let n = number_arg("add_hours(date, hours)", "hours", &n)?;
            Ok((d + Duration::milliseconds((n * 3_600_000.0) as i64)).to_rfc3339())
        })
        .register_fn("format_date", |d: Dynamic, pattern: &str| -> Res<String> {
            let d = date_arg("format_date(date, pattern)", "date", &d)?;
            let mut out = String::new();
            use std::fmt::Write;
            write!(out, "{}", d.format(pattern))
                .map_err(|_| runtime_error(format!("format_date(date, pattern): `{pattern}` is not a valid pattern; try \"%d %b %Y\"")))?;
            Ok(out)
        })
        .register_fn("round", |x: Dynamic, places: i64| -> Res<f64> {
            check_limits()?;
            let x = number_arg("round(number, places)", "number", &x)?;
            if !(0..=12).contains(&places) {
                return Err(runtime_error(format!("round(number, places): places must be 0 to 12, got {places}")));
            }
            let scale = 10f64.powi(places as i32);
            Ok((x * scale).round() / scale)
        })
        .register_fn("is_number", |x: Dynamic| x.is_int() || x.is_float())
        .register_fn("format_number", |x: Dynamic, places: i64| -> Res<String> {
            check_limits()?;
            let x = number_arg("format_number(number, places)", "number", &x)?;
            if !(0..=12).contains(&places) {
                return Err(runtime_error(format!("format_number(number, places): places must be 0 to 12, got {places}")));
            }
            Ok(group_thousands(&format!("{x:.*}", places as usize)))
        })
        .register_fn("sum", |items: Dynamic, path: &str| -> Res<f64> {
            let mut total = 0.0;
            let steps = parse_path(path)?;
            for_each("sum(items, path)", &items, |item| {
                let v = walk(item, &steps).unwrap_or(Dynamic::UNIT);
                if !v.is_unit() {
                    total += number_arg("sum(items, path)", path, &v)?;
                }
                Ok(true)
            })?;
            Ok(total)
        })
        .register_fn("find", |items: Dynamic, path: &str, wanted: Dynamic| -> Res<Dynamic> {
            let steps = parse_path(path)?;
            // JSON arrays (the estimate, data files): compare in place, wrap only the hit.
            if let Some(json) = items.read_lock::<Json>() {
                check_limits()?;
                let Some(list) = json.value().as_array() else {
                    return Err(runtime_error("find(items, path, value): items must be an array, got a map".into()));
                };
                let wanted = crate::rules::json::to_json(&wanted, "the value").map_err(runtime_error)?;
                let wanted = crate::rules::json::doc_from(&wanted);
                for (i, item) in list.iter().enumerate() {
                    if i % 256 == 255 {
                        check_limits()?;
                    }
                    if walk_json(item, &steps).is_some_and(|v| same_json(v, &wanted)) {
                        return Ok(json.wrap(item));
                    }
                }
                return Ok(Dynamic::UNIT);
            }
            let mut found = Dynamic::UNIT;
            let wanted_text = wanted.is_string().then(|| wanted.clone().into_string().unwrap_or_default());
            for_each("find(items, path, value)", &items, |item| {
                let v = walk(item, &steps).unwrap_or(Dynamic::UNIT);
                let hit = match &wanted_text {
                    Some(w) => v.read_lock::<ImmutableString>().is_some_and(|s| s.eq_ignore_ascii_case(w)),
                    None => same_scalar(&v, &wanted),
                };
                if hit {
                    found = item.clone();
                }
                Ok(!hit)
            })?;
            Ok(found)
        });
}

/// Calls `f` on each element of an array (Rhai array or JSON array) until it returns false.
fn for_each(helper: &str, items: &Dynamic, mut f: impl FnMut(&Dynamic) -> Res<bool>) -> Res<()> {
    check_limits()?;
    if items.is_unit() {
        return Ok(());
    }
    if let Some(json) = items.read_lock::<Json>() {
        if !json.is_array() {
            return Err(runtime_error(format!(
                "{helper}: items must be an array, got a map"
            )));
        }
        let list = json.value().as_array().expect("checked is_array");
        for (i, item) in list.iter().enumerate() {
            if i % 256 == 255 {
                check_limits()?;
            }
            if !f(&json.wrap(item))? {
                break;
            }
        }
        return Ok(());
    }
    if let Some(array) = items.read_lock::<Array>() {
        for (i, item) in array.iter().enumerate() {
            if i % 256 == 255 {
                check_limits()?;
            }
            if !f(item)? {
                break;
            }
        }
        return Ok(());
    }
    Err(runtime_error(format!(
        "{helper}: items must be an array, got {}",
        type_name(items)
    )))
}

fn same_scalar(a: &Dynamic, b: &Dynamic) -> bool {
    match (
        a.as_float().ok().or(a.as_int().ok().map(|i| i as f64)),
        b.as_float().ok().or(b.as_int().ok().map(|i| i as f64)),
    ) {
        (Some(x), Some(y)) => x == y,
        _ => match (a.as_bool(), b.as_bool()) {
            (Ok(x), Ok(y)) => x == y,
            _ => a.is_unit() && b.is_unit(),
        },
    }
}

/// One step of a path like `estimateItineraries[0].speed`.
enum Step<'a> {
    Field(&'a str),
    Index(i64),
}

fn parse_path(path: &str) -> Res<Vec<Step<'_>>> {
    let bad = || {
        runtime_error(format!("get(value, path): `{path}` is not a path; write it like \"estimateItineraries[0].speed\""))
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

/// Safe path access: the value at `path`, or `default` when any step is missing.
pub fn get(value: &Dynamic, path: &str, default: Dynamic) -> Res<Dynamic> {
    check_limits()?;
    Ok(walk(value, &parse_path(path)?).unwrap_or(default))
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

/// `find`'s equality: text ignoring case, numbers by value, others exactly.
fn same_json(a: &Doc, b: &Doc) -> bool {
    match (a.as_ref(), b.as_ref()) {
        (ValueRef::String(x), ValueRef::String(y)) => x.eq_ignore_ascii_case(y),
        (ValueRef::Number(x), ValueRef::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// The value at the end of `steps`, or `None` when a step is missing (or null).
fn walk(value: &Dynamic, steps: &[Step]) -> Option<Dynamic> {
    let mut current = value.clone();
    for (at, step) in steps.iter().enumerate() {
        if let Some(json) = current.read_lock::<Json>() {
            // The rest of the path is inside one JSON tree: walk it without making handles.
            return walk_json(json.value(), &steps[at..])
                .filter(|v| !v.is_null())
                .map(|v| json.wrap(v));
        }
        let next = if let Some(map) = current.read_lock::<Map>() {
            match step {
                Step::Field(name) => map.get(*name).cloned(),
                Step::Index(_) => None,
            }
        } else if let Some(array) = current.read_lock::<Array>() {
            match step {
                Step::Index(i) => {
                    let at = if *i < 0 { array.len() as i64 + i } else { *i };
                    usize::try_from(at)
                        .ok()
                        .and_then(|at| array.get(at))
                        .cloned()
                }
                Step::Field(_) => None,
            }
        } else {
            None
        };
        match next {
            Some(v) if !v.is_unit() => current = v,
            _ => return None,
        }
    }
    Some(current)
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
    if let Ok(f) = value.as_float() {
        return Ok(f);
    }
    if let Ok(i) = value.as_int() {
        return Ok(i as f64);
    }
    Err(runtime_error(format!(
        "{helper}: {arg} must be a number, got {}",
        type_name(value)
    )))
}

fn date_arg(helper: &str, arg: &str, value: &Dynamic) -> Res<DateTime<FixedOffset>> {
    check_limits()?;
    if !value.is_string() {
        return Err(runtime_error(format!("{helper}: {arg} must be a date like \"2026-12-01\" or \"2026-12-01T08:00:00Z\", got {}", type_name(value))));
    }
    let text: ImmutableString = value.clone().cast();
    parse_date(&text).ok_or_else(|| {
        runtime_error(format!("{helper}: {arg} `{text}` is not an ISO 8601 date; use \"2026-12-01\" or \"2026-12-01T08:00:00Z\""))
    })
}

/// Parses ISO 8601 with offset, without offset (UTC), or date-only (midnight UTC).
pub fn parse_date(text: &str) -> Option<DateTime<FixedOffset>> {
    let text = text.trim();
    // Date-only values (laycans) are common: try that form first, not after five others.
    if text.len() == 10 {
        let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
        return Some(
            Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?)
                .fixed_offset(),
        );
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Some(d);
    }
    let utc = FixedOffset::east_opt(0)?;
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(text, format) {
            return Some(utc.from_utc_datetime(&d));
        }
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(
        Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?)
            .fixed_offset(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_in_the_forms_the_estimator_sends() {
        let cases = [
            ("2026-12-01", "2026-12-01T00:00:00+00:00"),
            ("2026-12-01T08:30:00Z", "2026-12-01T08:30:00+00:00"),
            ("2026-12-01T08:30:00+02:00", "2026-12-01T08:30:00+02:00"),
            ("2026-12-01T08:30:00", "2026-12-01T08:30:00+00:00"),
            ("2026-12-01T08:30:00.250", "2026-12-01T08:30:00.250+00:00"),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_date(text).unwrap().to_rfc3339(), expected, "{text}");
        }
        for bad in ["01/12/2026", "2026-13-01", "", "tomorrow"] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands("1234567.89"), "1,234,567.89");
        assert_eq!(group_thousands("-11350"), "-11,350");
        assert_eq!(group_thousands("999"), "999");
        assert_eq!(group_thousands("1000"), "1,000");
    }

    #[test]
    fn paths_parse_or_explain() {
        assert_eq!(parse_path("a.b[0][-1].c").unwrap().len(), 5);
        for bad in ["a..b", "a[x]", "a[0", "a[0]b"] {
            let err = parse_path(bad).err().unwrap().to_string();
            assert!(err.contains("is not a path"), "{bad}: {err}");
        }
    }
}
