//! Each rule's activity by the hour: calls it ran on, alerts it raised, errors,
//! timeouts, and its time as a mergeable histogram, so the workbench can show a
//! rule's last 24 hours and 7 days (counts, p50/p99 time, small charts) without
//! reading one call's trace.
//!
//! A backend's `write` tallies the calls it actually inserted ([`tally`]: a call
//! written twice is counted once) and adds each [`Tally`] to its hour's row in the
//! same transaction ([`Stored::merged`]), so the activity is exactly the log's calls,
//! whichever instance wrote them. Rows older than [`KEPT_HOURS`] are removed with
//! retention.

use std::collections::BTreeMap;

use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::Serialize;

use super::{RuleTrace, StoreError};

/// One hour, in microseconds.
pub const HOUR_US: i64 = 3_600_000_000;
/// Hours of activity kept (7 days and the hour being filled).
pub const KEPT_HOURS: i64 = 7 * 24 + 1;
/// The histograms' range: 1 µs to 60 s (longer runs count as 60 s), 2 significant
/// digits (every percentile within 1 %).
const LOWEST_US: u64 = 1;
const HIGHEST_US: u64 = 60_000_000;
const SIGNIFICANT: u8 = 2;

/// The start of the hour `at` is in (µs since the epoch).
pub fn hour_of(at: i64) -> i64 {
    at.div_euclid(HOUR_US) * HOUR_US
}

/// The first hour retention keeps as of `now`.
pub fn kept_from(now: i64) -> i64 {
    hour_of(now) - (KEPT_HOURS - 1) * HOUR_US
}

/// One rule's run in one call, as a row to be written carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub rule: String,
    pub duration_us: i64,
    pub error: bool,
    pub timeout: bool,
    pub alerts: u32,
}

impl Run {
    pub fn of(trace: &RuleTrace) -> Run {
        Run {
            rule: trace.rule.clone(),
            duration_us: trace.duration_us,
            error: trace.outcome == "error",
            timeout: trace.outcome == "timeout",
            alerts: trace.alerts.len() as u32,
        }
    }
}

/// Where a tally goes: a rule of a rule set, in an hour.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub ruleset: String,
    /// The hour's start, µs since the epoch.
    pub hour: i64,
    pub rule: String,
}

/// A rule's activity in one hour (or the sum of several).
#[derive(Debug, Clone)]
pub struct Tally {
    pub calls: u64,
    pub alerts: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub durations: Histogram<u64>,
}

fn empty_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGNIFICANT).expect("valid bounds")
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            calls: 0,
            alerts: 0,
            errors: 0,
            timeouts: 0,
            durations: empty_histogram(),
        }
    }
}

impl Tally {
    fn add_run(&mut self, run: &Run) {
        self.calls += 1;
        self.alerts += u64::from(run.alerts);
        self.errors += u64::from(run.error);
        self.timeouts += u64::from(run.timeout);
        self.durations
            .saturating_record(run.duration_us.clamp(LOWEST_US as i64, i64::MAX) as u64);
    }

    pub fn add(&mut self, other: &Tally) {
        self.calls += other.calls;
        self.alerts += other.alerts;
        self.errors += other.errors;
        self.timeouts += other.timeouts;
        // Same bounds on both sides (both made here or read back from them).
        let _ = self.durations.add(&other.durations);
    }

    /// The time under which `quantile` of the runs finished, µs (`None` without runs).
    pub fn percentile_us(&self, quantile: f64) -> Option<u64> {
        (!self.durations.is_empty()).then(|| self.durations.value_at_quantile(quantile))
    }
}

/// The runs of `calls` (each a call's rule set, when it was received, and its rules'
/// runs), tallied by rule and hour, in key order (the order rows are locked in).
pub fn tally<'a>(calls: impl IntoIterator<Item = (&'a str, i64, &'a [Run])>) -> Vec<(Key, Tally)> {
    let mut tallies: BTreeMap<Key, Tally> = BTreeMap::new();
    for (ruleset, received_at, runs) in calls {
        let hour = hour_of(received_at);
        for run in runs {
            tallies
                .entry(Key {
                    ruleset: ruleset.to_string(),
                    hour,
                    rule: run.rule.clone(),
                })
                .or_default()
                .add_run(run);
        }
    }
    tallies.into_iter().collect()
}

/// A tally as a backend keeps it: counts, and the histogram in HdrHistogram's V2 form.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub calls: i64,
    pub alerts: i64,
    pub errors: i64,
    pub timeouts: i64,
    pub durations: Vec<u8>,
}

impl Stored {
    /// `existing` (the hour's row, if there is one) with `tally` added. A stored
    /// histogram that does not read is started again (its counts are kept): a damaged
    /// row must not stop the log from being written.
    pub fn merged(existing: Option<Stored>, tally: &Tally) -> Stored {
        let mut sum = match existing {
            Some(stored) => stored.read().unwrap_or_else(|_| Tally {
                durations: empty_histogram(),
                ..stored.counts()
            }),
            None => Tally::default(),
        };
        sum.add(tally);
        Stored::of(&sum)
    }

    fn of(tally: &Tally) -> Stored {
        let mut durations = Vec::new();
        V2Serializer::new()
            .serialize(&tally.durations, &mut durations)
            .expect("a histogram serializes into memory");
        Stored {
            calls: tally.calls as i64,
            alerts: tally.alerts as i64,
            errors: tally.errors as i64,
            timeouts: tally.timeouts as i64,
            durations,
        }
    }

    pub fn read(&self) -> Result<Tally, StoreError> {
        let read: Histogram<u64> = Deserializer::new()
            .deserialize(&mut self.durations.as_slice())
            .map_err(|e| {
                StoreError::Corrupt(format!("a rule's time histogram does not read: {e:?}"))
            })?;
        let mut durations = empty_histogram();
        durations.add(&read).map_err(|e| {
            StoreError::Corrupt(format!("a rule's time histogram is out of range: {e:?}"))
        })?;
        Ok(Tally {
            durations,
            ..self.counts()
        })
    }

    fn counts(&self) -> Tally {
        Tally {
            calls: self.calls.max(0) as u64,
            alerts: self.alerts.max(0) as u64,
            errors: self.errors.max(0) as u64,
            timeouts: self.timeouts.max(0) as u64,
            durations: empty_histogram(),
        }
    }
}

/// A rule's activity as the workbench shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    pub calls: u64,
    pub alerts: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
}

impl From<&Tally> for Figures {
    fn from(t: &Tally) -> Figures {
        Figures {
            calls: t.calls,
            alerts: t.alerts,
            errors: t.errors,
            timeouts: t.timeouts,
            p50_us: t.percentile_us(0.50),
            p99_us: t.percentile_us(0.99),
        }
    }
}

/// One hour of a rule's activity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hour {
    /// The hour's start, µs since the epoch.
    pub hour: i64,
    #[serde(flatten)]
    pub figures: Figures,
}

/// One rule's last 24 hours and 7 days, and each of the last 168 hours (oldest first,
/// hours without runs included, so a chart is drawn from it as it is).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleActivity {
    pub rule: String,
    pub day: Figures,
    pub week: Figures,
    pub hours: Vec<Hour>,
}

/// Hours in the week's chart.
pub const WEEK_HOURS: i64 = 7 * 24;

/// A rule set's rows since a week before `now` (as a backend reads them), as each
/// rule's activity; `rules` (the live rules) come first in their order, then rules
/// that ran in the week and are gone.
pub fn summarise(
    rows: Vec<(Key, Stored)>,
    rules: &[String],
    now: i64,
) -> Result<Vec<RuleActivity>, StoreError> {
    let this_hour = hour_of(now);
    let first = this_hour - (WEEK_HOURS - 1) * HOUR_US;
    let day_from = this_hour - 23 * HOUR_US;
    let mut by_rule: BTreeMap<String, BTreeMap<i64, Tally>> = BTreeMap::new();
    for (key, stored) in rows {
        if key.hour < first || key.hour > this_hour {
            continue;
        }
        by_rule
            .entry(key.rule)
            .or_default()
            .entry(key.hour)
            .or_default()
            .add(&stored.read()?);
    }
    let mut names: Vec<String> = rules.to_vec();
    names.extend(by_rule.keys().filter(|r| !rules.contains(r)).cloned());
    Ok(names
        .into_iter()
        .map(|rule| {
            let hours = by_rule.remove(&rule).unwrap_or_default();
            let (mut day, mut week) = (Tally::default(), Tally::default());
            for (&hour, tally) in &hours {
                week.add(tally);
                if hour >= day_from {
                    day.add(tally);
                }
            }
            RuleActivity {
                day: Figures::from(&day),
                week: Figures::from(&week),
                hours: (0..WEEK_HOURS)
                    .map(|i| {
                        let hour = first + i * HOUR_US;
                        Hour {
                            hour,
                            figures: hours.get(&hour).map(Figures::from).unwrap_or_default(),
                        }
                    })
                    .collect(),
                rule,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rule: &str, us: i64, outcome: &str, alerts: u32) -> Run {
        Run {
            rule: rule.into(),
            duration_us: us,
            error: outcome == "error",
            timeout: outcome == "timeout",
            alerts,
        }
    }

    #[test]
    fn tallies_add_up_by_rule_and_hour_and_survive_being_stored() {
        let h = 1_790_000_000_000_000 / HOUR_US * HOUR_US;
        let a = [run("tce", 100, "ok", 2), run("ports", 900, "error", 0)];
        let b = [run("tce", 300, "timeout", 0)];
        let c = [run("tce", 50, "ok", 1)];
        let tallies = tally([
            ("desk", h + 5, &a[..]),
            ("desk", h + HOUR_US - 1, &b[..]),
            ("desk", h + HOUR_US, &c[..]),
        ]);
        let keys: Vec<_> = tallies
            .iter()
            .map(|(k, t)| (k.rule.as_str(), k.hour - h, t.calls))
            .collect();
        assert_eq!(keys, [("ports", 0, 1), ("tce", 0, 2), ("tce", HOUR_US, 1)]);
        let tce = &tallies[1].1;
        assert_eq!((tce.alerts, tce.errors, tce.timeouts), (2, 0, 1));
        // Stored and merged with a second batch of the same hour.
        let stored = Stored::merged(None, tce);
        let again = Stored::merged(Some(stored), tce).read().unwrap();
        assert_eq!((again.calls, again.alerts, again.timeouts), (4, 4, 2));
        assert_eq!(again.durations.len(), 4);
        let p50 = again.percentile_us(0.5).unwrap();
        assert!((99..=101).contains(&p50), "{p50}");
        let p99 = again.percentile_us(0.99).unwrap();
        assert!((297..=303).contains(&p99), "{p99}");
        let damaged = Stored {
            durations: vec![1, 2, 3],
            ..Stored::of(tce)
        };
        assert!(matches!(damaged.read(), Err(StoreError::Corrupt(_))));
        let restarted = Stored::merged(Some(damaged), tce).read().unwrap();
        assert_eq!((restarted.calls, restarted.durations.len()), (4, 2));
    }

    #[test]
    fn a_summary_has_every_hour_of_the_week_and_counts_the_day_apart() {
        let now = 1_790_000_000_000_000;
        let this_hour = now / HOUR_US * HOUR_US;
        let at = |hours_ago: i64| this_hour - hours_ago * HOUR_US;
        let row = |rule: &str, hour: i64, runs: &[Run]| {
            let t = &tally([("desk", hour, runs)])[0].1;
            (
                Key {
                    ruleset: "desk".into(),
                    hour,
                    rule: rule.into(),
                },
                Stored::of(t),
            )
        };
        let rows = vec![
            row("tce", at(0), &[run("tce", 10, "ok", 1)]),
            row("tce", at(23), &[run("tce", 20, "error", 0)]),
            row("tce", at(24), &[run("tce", 30, "ok", 3)]),
            row("tce", at(167), &[run("tce", 40, "ok", 0)]),
            row("tce", at(168), &[run("tce", 50, "ok", 0)]), // older than the week
            row("gone", at(5), &[run("gone", 60, "timeout", 0)]),
        ];
        let summary = summarise(rows, &["tce".into(), "quiet".into()], now).unwrap();
        let names: Vec<_> = summary.iter().map(|r| r.rule.as_str()).collect();
        assert_eq!(names, ["tce", "quiet", "gone"]);
        let tce = &summary[0];
        assert_eq!((tce.day.calls, tce.day.alerts, tce.day.errors), (2, 1, 1));
        assert_eq!((tce.week.calls, tce.week.alerts), (4, 4));
        assert_eq!(tce.hours.len(), 168);
        assert_eq!(tce.hours[0].hour, at(167));
        assert_eq!(tce.hours[0].figures.calls, 1);
        assert_eq!(tce.hours[167].hour, at(0));
        assert_eq!(tce.hours[167].figures.p99_us, Some(10));
        assert_eq!(summary[1].week, Figures::default());
        assert_eq!(summary[1].hours.len(), 168);
        assert_eq!(summary[2].day.timeouts, 1);
    }
}
