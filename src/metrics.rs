//! `/metrics`: Prometheus text exposition, kept by hand (a few maps behind a mutex;
//! a call takes the lock once).
//!
//! Labels are bounded: rule set names come from the registry (a call to an unknown
//! rule set counts under `ruleset="(unknown)"`), rule ids from its files.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::store::recorder::Status;

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.counts[i] += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, bound) in BUCKETS.iter().enumerate() {
            let n = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    calls: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    rule_duration: BTreeMap<(String, String), Histogram>,
    rule_errors: BTreeMap<(String, String), u64>,
    rule_timeouts: BTreeMap<(String, String), u64>,
    /// Port event intake calls by (source, HTTP status).
    event_calls: BTreeMap<(&'static str, u16), u64>,
    /// Port events by (source, outcome): stored or duplicate.
    events: BTreeMap<(&'static str, &'static str), u64>,
}

/// One rule's part of a call, for the per-rule series.
pub struct RuleSample<'a> {
    pub rule: &'a str,
    pub duration: Duration,
    pub outcome: &'a str,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    /// Connections and requests the HTTP layer cut off, by reason.
    cut: Mutex<BTreeMap<&'static str, u64>>,
    /// Connections open now.
    pub open_connections: std::sync::atomic::AtomicU64,
    /// Panics caught in request handlers (the rule pool counts its own).
    pub panics: std::sync::atomic::AtomicU64,
}

impl Metrics {
    pub fn call<'a>(
        &self,
        ruleset: &str,
        status: u16,
        elapsed: Duration,
        rules: impl Iterator<Item = RuleSample<'a>>,
    ) {
        let mut m = self.inner.lock().expect("metrics");
        *m.calls.entry((ruleset.to_string(), status)).or_default() += 1;
        m.latency
            .entry(ruleset.to_string())
            .or_default()
            .observe(elapsed.as_secs_f64());
        for sample in rules {
            let key = (ruleset.to_string(), sample.rule.to_string());
            match sample.outcome {
                "error" => *m.rule_errors.entry(key.clone()).or_default() += 1,
                "timeout" => *m.rule_timeouts.entry(key.clone()).or_default() += 1,
                _ => {}
            }
            m.rule_duration
                .entry(key)
                .or_default()
                .observe(sample.duration.as_secs_f64());
        }
    }

    /// One connection or request the HTTP layer cut off (`max_connections`,
    /// `idle_timeout`, `handshake`, `body_timeout`, `uploads_busy` ...). Reasons are
    /// a fixed set of names from the code, so the label stays bounded.
    /// Logged as a warning the 1st, 2nd, 4th, 8th ... time for each reason, so a flood
    /// is seen without flooding the log.
    pub fn cut(&self, reason: &'static str) {
        let n = {
            let mut cut = self.cut.lock().expect("metrics");
            let n = cut.entry(reason).or_default();
            *n += 1;
            *n
        };
        if n.is_power_of_two() {
            tracing::warn!(
                reason,
                so_far = n,
                "cut off by the HTTP layer's limits ({reason}); counted in lookout_http_cut_total"
            );
        }
    }

    /// How many were cut off for `reason` so far.
    pub fn cut_count(&self, reason: &str) -> u64 {
        self.cut
            .lock()
            .expect("metrics")
            .get(reason)
            .copied()
            .unwrap_or(0)
    }

    /// One port event intake call: its status and, when stored, what it stored.
    pub fn events(&self, source: &'static str, status: u16, stored: usize, duplicates: usize) {
        let mut m = self.inner.lock().expect("metrics");
        *m.event_calls.entry((source, status)).or_default() += 1;
        *m.events.entry((source, "stored")).or_default() += stored as u64;
        *m.events.entry((source, "duplicate")).or_default() += duplicates as u64;
    }

    /// The exposition text, with the recorder's counters and the rule pool's.
    pub fn render(&self, log: &Status, pool: &crate::rules::eval::PoolHealth) -> String {
        let m = self.inner.lock().expect("metrics");
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP lookout_calls_total Webhook calls answered, by rule set and HTTP status.\n# TYPE lookout_calls_total counter\n");
        for ((ruleset, status), n) in &m.calls {
            let _ = writeln!(
                out,
                "lookout_calls_total{{ruleset=\"{}\",status=\"{status}\"}} {n}",
                escape(ruleset)
            );
        }
        out.push_str("# HELP lookout_call_duration_seconds Time from a call's arrival to its answer.\n# TYPE lookout_call_duration_seconds histogram\n");
        for (ruleset, h) in &m.latency {
            h.write(
                &mut out,
                "lookout_call_duration_seconds",
                &format!("ruleset=\"{}\"", escape(ruleset)),
            );
        }
        out.push_str("# HELP lookout_rule_duration_seconds Time one rule took on one call.\n# TYPE lookout_rule_duration_seconds histogram\n");
        for ((ruleset, rule), h) in &m.rule_duration {
            h.write(
                &mut out,
                "lookout_rule_duration_seconds",
                &format!("ruleset=\"{}\",rule=\"{}\"", escape(ruleset), escape(rule)),
            );
        }
        for (name, help, map) in [
            (
                "lookout_rule_errors_total",
                "Rule runs that failed at run time.",
                &m.rule_errors,
            ),
            (
                "lookout_rule_timeouts_total",
                "Rule runs stopped at the deadline.",
                &m.rule_timeouts,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((ruleset, rule), n) in map {
                let _ = writeln!(
                    out,
                    "{name}{{ruleset=\"{}\",rule=\"{}\"}} {n}",
                    escape(ruleset),
                    escape(rule)
                );
            }
        }
        out.push_str("# HELP lookout_event_calls_total Port event intake calls, by source and HTTP status.\n# TYPE lookout_event_calls_total counter\n");
        for ((source, status), n) in &m.event_calls {
            let _ = writeln!(
                out,
                "lookout_event_calls_total{{source=\"{source}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP lookout_events_total Port events received, by source and outcome (stored, duplicate).\n# TYPE lookout_events_total counter\n");
        for ((source, outcome), n) in &m.events {
            let _ = writeln!(
                out,
                "lookout_events_total{{source=\"{source}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let gauges: [(&str, &str, &str, u64); 7] = [
            (
                "lookout_log_refusals_not_recorded_total",
                "counter",
                "Refused calls (unsigned, unknown rule set, ...) counted but not recorded: over [store] refusals_per_second.",
                log.refusals_not_recorded,
            ),
            (
                "lookout_log_queue_depth",
                "gauge",
                "Calls waiting to be written to the log.",
                log.queue_depth as u64,
            ),
            (
                "lookout_log_written_total",
                "counter",
                "Calls written to the log.",
                log.written,
            ),
            (
                "lookout_log_write_errors_total",
                "counter",
                "Failed write attempts to the log's store.",
                log.write_errors,
            ),
            (
                "lookout_log_failing",
                "gauge",
                "1 while the last write to the log's store failed.",
                u64::from(log.failing),
            ),
            (
                "lookout_log_retention_removed_total",
                "counter",
                "Calls removed from the log by retention.",
                log.retention_removed_by_age + log.retention_removed_by_size,
            ),
            (
                "lookout_log_accepted_total",
                "counter",
                "Calls handed to the log.",
                log.accepted,
            ),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out.push_str("# HELP lookout_log_dropped_total Calls answered but not recorded in the log, by reason.\n# TYPE lookout_log_dropped_total counter\n");
        let _ = writeln!(
            out,
            "lookout_log_dropped_total{{reason=\"queue_full\"}} {}",
            log.dropped_queue_full
        );
        let _ = writeln!(
            out,
            "lookout_log_dropped_total{{reason=\"store_error\"}} {}",
            log.dropped_store_error
        );
        let _ = writeln!(
            out,
            "# HELP lookout_log_answered_before_written_total Answers that waited for their record's write ([store] answer_after_write_ms) and went before it.\n# TYPE lookout_log_answered_before_written_total counter\nlookout_log_answered_before_written_total {}",
            log.answered_before_written
        );
        out.push_str("# HELP lookout_http_cut_total Connections and requests cut off by the HTTP layer's limits, by reason.\n# TYPE lookout_http_cut_total counter\n");
        for (reason, n) in self.cut.lock().expect("metrics").iter() {
            let _ = writeln!(out, "lookout_http_cut_total{{reason=\"{reason}\"}} {n}");
        }
        use std::sync::atomic::Ordering::Relaxed;
        let _ = writeln!(
            out,
            "# HELP lookout_connections_open Client connections open now.\n# TYPE lookout_connections_open gauge\nlookout_connections_open {}",
            self.open_connections.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP lookout_panics_total Panics caught, in request handlers and in rule runs (each one is a bug in lookout; the process keeps serving).\n# TYPE lookout_panics_total counter\nlookout_panics_total{{where=\"handler\"}} {}\nlookout_panics_total{{where=\"rules\"}} {}",
            self.panics.load(Relaxed),
            pool.panics.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP lookout_rule_threads_alive Rule pool threads running (below rule_threads means the pool is not whole).\n# TYPE lookout_rule_threads_alive gauge\nlookout_rule_threads_alive {}",
            pool.alive.load(Relaxed)
        );
        let reuse = &crate::rules::reuse::STATS;
        let _ = writeln!(
            out,
            "# HELP lookout_rule_reuse_total Rule runs by what reuse did: reused (nothing the rule read had changed since its last run on the estimate), changed (something had: run again), first (no earlier run on the estimate kept).\n# TYPE lookout_rule_reuse_total counter\nlookout_rule_reuse_total{{result=\"reused\"}} {}\nlookout_rule_reuse_total{{result=\"changed\"}} {}\nlookout_rule_reuse_total{{result=\"first\"}} {}",
            reuse.reused.load(Relaxed),
            reuse.changed.load(Relaxed),
            reuse.first.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP lookout_rule_reuse_bytes Memory the rule sets' reuse caches hold (approximate; each is bounded by its reuse_memory_mb).\n# TYPE lookout_rule_reuse_bytes gauge\nlookout_rule_reuse_bytes {}\n# HELP lookout_rule_reuse_estimates Estimates whose last rule runs the reuse caches hold.\n# TYPE lookout_rule_reuse_estimates gauge\nlookout_rule_reuse_estimates {}\n# HELP lookout_rule_reuse_evicted_total Estimates dropped from a reuse cache to stay within its bound.\n# TYPE lookout_rule_reuse_evicted_total counter\nlookout_rule_reuse_evicted_total {}",
            reuse.bytes.load(Relaxed).max(0),
            reuse.estimates.load(Relaxed).max(0),
            reuse.evicted.load(Relaxed)
        );
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The served certificate's expiry, and ACME's renewals and failures.
pub fn render_tls(out: &mut String, not_after: Option<i64>, acme: Option<&crate::acme::Status>) {
    if let Some(at) = not_after {
        let _ = writeln!(
            out,
            "# HELP lookout_certificate_expiry_timestamp_seconds When the served certificate expires.\n# TYPE lookout_certificate_expiry_timestamp_seconds gauge\nlookout_certificate_expiry_timestamp_seconds {at}"
        );
    }
    if let Some(acme) = acme {
        let _ = writeln!(
            out,
            "# HELP lookout_acme_certificate_issued 1 when the served certificate comes from the ACME directory, 0 while a temporary one serves.\n# TYPE lookout_acme_certificate_issued gauge\nlookout_acme_certificate_issued {}\n# HELP lookout_acme_renewals_total Certificates obtained from the ACME directory by this process.\n# TYPE lookout_acme_renewals_total counter\nlookout_acme_renewals_total {}\n# HELP lookout_acme_failures_total Attempts to obtain a certificate that failed.\n# TYPE lookout_acme_failures_total counter\nlookout_acme_failures_total {}",
            u8::from(acme.issued),
            acme.renewals,
            acme.failures
        );
    }
}

/// What one fleet instance knows of its revisions and candidates' shadow runs.
pub struct FleetSample {
    /// Rule sets whose current revision this instance cannot serve.
    pub revision_problems: usize,
    pub shadow_runs: u64,
    pub shadow_dropped_queue_full: u64,
    pub shadow_dropped_cpu_share: u64,
    pub shadow_not_written: u64,
}

pub fn render_fleet(out: &mut String, fleet: &FleetSample) {
    let _ = writeln!(
        out,
        "# HELP lookout_fleet_revision_problems Rule sets whose current revision this instance cannot serve (0 with the rules folder).\n# TYPE lookout_fleet_revision_problems gauge\nlookout_fleet_revision_problems {}\n# HELP lookout_shadow_runs_total Live calls run again by a candidate revision.\n# TYPE lookout_shadow_runs_total counter\nlookout_shadow_runs_total {}\n# HELP lookout_shadow_dropped_total Live calls a candidate did not run again, by reason.\n# TYPE lookout_shadow_dropped_total counter\nlookout_shadow_dropped_total{{reason=\"queue_full\"}} {}\nlookout_shadow_dropped_total{{reason=\"cpu_share\"}} {}\n# HELP lookout_shadow_not_written_total Candidates' answers that could not be recorded.\n# TYPE lookout_shadow_not_written_total counter\nlookout_shadow_not_written_total {}",
        fleet.revision_problems,
        fleet.shadow_runs,
        fleet.shadow_dropped_queue_full,
        fleet.shadow_dropped_cpu_share,
        fleet.shadow_not_written
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_counts_calls_rules_and_log_loss() {
        let metrics = Metrics::default();
        let rules = || {
            [
                RuleSample {
                    rule: "tce",
                    duration: Duration::from_micros(300),
                    outcome: "ok",
                },
                RuleSample {
                    rule: "laycan",
                    duration: Duration::from_millis(30),
                    outcome: "error",
                },
            ]
            .into_iter()
        };
        metrics.call("default", 200, Duration::from_millis(3), rules());
        metrics.call("default", 200, Duration::from_millis(7), rules());
        metrics.call(
            "(unknown)",
            404,
            Duration::from_micros(50),
            std::iter::empty(),
        );
        let status = Status {
            store: "sqlite x".into(),
            accepted: 3,
            written: 1,
            dropped: 2,
            dropped_queue_full: 2,
            dropped_store_error: 0,
            queue_depth: 0,
            queue_bytes: 0,
            failing: false,
            write_errors: 0,
            last_error: None,
            last_error_at: None,
            retention_removed_by_age: 0,
            retention_removed_by_size: 0,
            refusals_not_recorded: 4,
            answered_before_written: 0,
        };
        let text = metrics.render(&status, &Default::default());
        for line in [
            "lookout_calls_total{ruleset=\"default\",status=\"200\"} 2",
            "lookout_calls_total{ruleset=\"(unknown)\",status=\"404\"} 1",
            "lookout_log_refusals_not_recorded_total 4",
            "lookout_call_duration_seconds_bucket{ruleset=\"default\",le=\"0.005\"} 1",
            "lookout_call_duration_seconds_bucket{ruleset=\"default\",le=\"+Inf\"} 2",
            "lookout_rule_errors_total{ruleset=\"default\",rule=\"laycan\"} 2",
            "lookout_rule_duration_seconds_count{ruleset=\"default\",rule=\"tce\"} 2",
            "lookout_log_dropped_total{reason=\"queue_full\"} 2",
            "lookout_log_queue_depth 0",
            "# TYPE lookout_rule_reuse_total counter",
            "# TYPE lookout_rule_reuse_bytes gauge",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing `{line}` in\n{text}"
            );
        }
    }
}
