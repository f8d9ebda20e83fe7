//! Time as lookout keeps it and as people write it: microseconds since the Unix epoch,
//! UTC, everywhere (the log, events, cursors), and one reader for the times an operator
//! or an analyst types (`lookout logs --since`, `lookout replay --since`, the viewer's
//! filters and the admin API's `since`/`until`).
//!
//! A leaf: it imports nothing of lookout.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Now, in microseconds since the epoch.
pub fn now_micros() -> i64 {
    micros(SystemTime::now())
}

/// `at` in microseconds since the epoch (0 for a time before it).
pub fn micros(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Microseconds since the epoch as `2026-11-01T12:34:56.789Z`.
pub fn utc(micros: i64) -> String {
    DateTime::<chrono::Utc>::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| format!("{micros} us"))
}

/// What [`parse_when`] accepts, for messages and help texts.
pub const WHEN_FORMS: &str = "an age before now (90s, 30m, 24h, 7d, 2w, 2 weeks) or a time \
(2026-11-01, 2026-11-01T08:00Z, 2026-11-01 08:00, 2026-11-01T08:00:00+02:00; UTC when no \
zone is given)";

/// A time as written by a person, in microseconds since the epoch, `now` being now:
/// - an age before now: a whole number and a unit, with or without a space between
///   (`90s`, `30m`, `24h`, `7d`, `2w`, `45 sec`, `2 weeks`);
/// - RFC 3339 (`2026-11-01T08:00:00Z`, `2026-11-01T08:00:00.5+02:00`), also without
///   seconds (`2026-11-01T08:00+02:00`, `2026-11-01T08:00Z`) and with a space for the
///   `T`;
/// - a date and time without a zone (`2026-11-01T08:00`, `2026-11-01 08:00:30`, what an
///   HTML `datetime-local` field sends), read as UTC;
/// - a date (`2026-11-01`), its midnight UTC.
pub fn parse_when(text: &str, now: i64) -> Result<i64, String> {
    let text = text.trim();
    if let Some(ago) = age(text) {
        return Ok(now.saturating_sub(ago));
    }
    absolute(text).ok_or_else(|| format!("`{text}` is not a time: write {WHEN_FORMS}"))
}

/// `90m`, `24h`, `7d`, `2w`, `45 sec`, `2 weeks` as microseconds.
fn age(text: &str) -> Option<i64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(seconds)?.checked_mul(1_000_000)
}

fn absolute(text: &str) -> Option<i64> {
    let normal = text.replacen(' ', "T", 1);
    if let Ok(t) = DateTime::parse_from_rfc3339(&normal) {
        return Some(t.timestamp_micros());
    }
    if let Ok(t) = DateTime::parse_from_str(&normal, "%Y-%m-%dT%H:%M%:z") {
        return Some(t.timestamp_micros());
    }
    let naive = normal.strip_suffix(['Z', 'z']).unwrap_or(&normal);
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, format) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000_000_000;
    /// 2026-05-01T14:30:00Z.
    const AT: i64 = 1_777_645_800_000_000;

    #[test]
    fn times_read_as_people_write_them() {
        let cases: &[(&str, i64)] = &[
            ("24h", NOW - 86_400_000_000),
            ("30m", NOW - 1_800_000_000),
            ("90s", NOW - 90_000_000),
            ("45 sec", NOW - 45_000_000),
            ("7d", NOW - 7 * 86_400_000_000),
            ("2w", NOW - 14 * 86_400_000_000),
            ("2 weeks", NOW - 14 * 86_400_000_000),
            ("3 hours", NOW - 3 * 3_600_000_000),
            ("2026-05-01T14:30", AT),
            ("2026-05-01T14:30Z", AT),
            ("2026-05-01 14:30", AT),
            ("2026-05-01 14:30:00", AT),
            ("2026-05-01T14:30:00Z", AT),
            ("2026-05-01T14:30:00.000z", AT),
            ("2026-05-01T16:30:00+02:00", AT),
            ("2026-05-01T16:30+02:00", AT),
            ("2026-05-01 16:30+02:00", AT),
            ("  2026-05-01T14:30Z ", AT),
            ("2026-05-01", 1_777_593_600_000_000),
        ];
        for (text, micros) in cases {
            assert_eq!(parse_when(text, NOW), Ok(*micros), "{text}");
        }
        for bad in [
            "yesterday",
            "24x",
            "2026-13-01",
            "h",
            "",
            "-2h",
            "2026-05-01Z",
        ] {
            let err = parse_when(bad, NOW).unwrap_err();
            assert!(err.contains("is not a time: write an age"), "{bad}: {err}");
        }
        // Far past the epoch's range: an error or a time, never an overflow.
        assert!(parse_when("99999999999999w", NOW).is_err());
    }

    #[test]
    fn utc_has_milliseconds_and_a_zone() {
        assert_eq!(utc(1_793_491_200_123_456), "2026-11-01T00:00:00.123Z");
        assert_eq!(parse_when(&utc(AT), NOW), Ok(AT));
    }

    #[test]
    fn times_are_ages_or_utc_times() {
        let now = 1_000_000_000_000_000;
        let cases: &[(&str, Option<i64>, &str)] = &[
            ("24h", Some(now - 24 * 3_600_000_000), "hours"),
            ("30m", Some(now - 30 * 60_000_000), "minutes"),
            ("7d", Some(now - 7 * 86_400_000_000), "days"),
            ("90s", Some(now - 90_000_000), "seconds"),
            (
                "2026-11-01T00:00Z",
                Some(1_793_491_200_000_000),
                "minutes and Z",
            ),
            (
                "2026-11-01T00:00",
                Some(1_793_491_200_000_000),
                "no zone is UTC",
            ),
            (
                "2026-11-01",
                Some(1_793_491_200_000_000),
                "a date is its midnight",
            ),
            (
                "2026-11-01T00:00:00Z",
                Some(1_793_491_200_000_000),
                "RFC 3339",
            ),
            (
                "2026-11-01T01:00:00+01:00",
                Some(1_793_491_200_000_000),
                "an offset",
            ),
            (
                "2026-11-01T01:00+01:00",
                Some(1_793_491_200_000_000),
                "offset, no seconds",
            ),
            (
                "2026-11-01T00:00:00.5Z",
                Some(1_793_491_200_500_000),
                "fractions",
            ),
            ("yesterday", None, "words are not times"),
            ("24", None, "a number needs a unit"),
            ("h", None, "a unit needs a number"),
        ];
        for (text, expected, reason) in cases {
            assert_eq!(parse_when(text, now).ok(), *expected, "{text}: {reason}");
        }
    }
}
