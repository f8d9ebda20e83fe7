//! Dates: ISO 8601 text read and written in the form it was given (see the module docs).

use std::fmt::Write;

use chrono::{
    DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeDelta, TimeZone,
    Utc,
};
use rhai::{Dynamic, Engine, ImmutableString};

use super::*;
use crate::rules::json::runtime_error;
use crate::rules::sandbox::check_limits;

pub(super) const DAY_MS: f64 = 86_400_000.0;
pub(super) const HOUR_MS: f64 = 3_600_000.0;

pub(super) fn register_dates(engine: &mut Engine) {
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
pub(super) enum Form {
    DateOnly,
    NoOffset,
    Offset { z: bool },
}

#[derive(Clone, Copy)]
pub(super) struct Date {
    pub(super) at: DateTime<FixedOffset>,
    pub(super) form: Form,
}

impl Date {
    pub(super) fn parse(text: &str) -> Option<Date> {
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
    pub(super) fn write(self) -> String {
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

pub(super) fn between(helper: &str, a: &Dynamic, b: &Dynamic, unit_ms: f64) -> Res<f64> {
    let (a, b) = (date_arg(helper, "from", a)?, date_arg(helper, "to", b)?);
    Ok((b.at - a.at).num_milliseconds() as f64 / unit_ms)
}

pub(super) fn shift(
    helper: &str,
    arg: &str,
    date: &Dynamic,
    n: &Dynamic,
    unit_ms: f64,
) -> Res<String> {
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
