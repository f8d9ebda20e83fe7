//! The argument checks every helper shares: each names the helper and the argument, and
//! says what it got in a rule author's words ([`type_name`]).

use rhai::{Dynamic, ImmutableString};

use super::*;
use crate::rules::json::{runtime_error, Json};
use crate::rules::sandbox::check_limits;

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

/// A date argument as microseconds since the epoch (a date without an offset is UTC).
pub(crate) fn date_micros(helper: &str, arg: &str, value: &Dynamic) -> Res<i64> {
    Ok(date_arg(helper, arg, value)?.at.timestamp_micros())
}

pub(super) fn date_arg(helper: &str, arg: &str, value: &Dynamic) -> Res<Date> {
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

pub(super) fn number_arg(helper: &str, arg: &str, value: &Dynamic) -> Res<f64> {
    Val::Rhai(value).number().ok_or_else(|| {
        runtime_error(format!(
            "{helper}: {arg} must be a number, got {}",
            Val::Rhai(value).describe()
        ))
    })
}

pub(super) fn places_arg(helper: &str, value: &Dynamic) -> Res<usize> {
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

pub(super) fn path_arg(helper: &str, path: &Dynamic) -> Res<ImmutableString> {
    text_arg(
        helper,
        "path",
        "a string like \"portDays\" or \"voyageEstimateBunkers[0].departureQty\"",
        path,
    )
}

/// The path's steps; an empty path (the one-argument forms) means the element itself.
pub(super) fn steps_of<'p>(helper: &str, path: &'p str) -> Res<Vec<Step<'p>>> {
    if path.is_empty() {
        Ok(Vec::new())
    } else {
        parse_path(helper, path)
    }
}

pub(super) fn text_arg(
    helper: &str,
    arg: &str,
    like: &str,
    value: &Dynamic,
) -> Res<ImmutableString> {
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
pub(super) fn optional_text(
    helper: &str,
    arg: &str,
    value: &Dynamic,
) -> Res<Option<ImmutableString>> {
    if value.is_unit() {
        return Ok(None);
    }
    text_arg(helper, arg, "a string", value).map(Some)
}

/// Text for an error message, quoted and cut at 60 characters.
pub(super) fn quote(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("\"{}...\"", &text[..cut]),
        None => format!("\"{text}\""),
    }
}
