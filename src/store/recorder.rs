//! Recording off the answer's path.
//!
//! A handler hands its call to [`Recorder::record`], which never blocks: the call goes
//! into a bounded queue (bounded in calls and in bytes), or, when the queue is full,
//! is counted as dropped. One thread takes whatever is queued, redacts and compresses
//! it, and writes it in one transaction. A failed write is retried with backoff; a
//! batch that still fails is dropped and counted, and the next batch tries again, so
//! recording resumes by itself when the store comes back. A second thread applies
//! retention in the background.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{redact, Call, Packer, Retention, Row, Store};

/// One call as the handler hands it over: its record, complete (the request body as
/// received, each rule's trace with the alerts it had in the answer), and how the
/// writer is to cut and redact the body, which it does off the answer's path.
pub struct Record {
    pub call: Call,
    /// At most this many bytes of the request body are kept (calls refused before the
    /// rules ran keep only their start).
    pub keep: usize,
    /// The body was parsed as an estimate (so it is JSON, and `redact_body` applies).
    pub parsed: bool,
    /// The rule set's `redact_body` pointers.
    pub redact_body: Arc<[String]>,
    /// Refused before the rules ran by a caller not known to be the Estimator
    /// (unsigned, unknown rule set, ...): recorded within `refusals_per_second`.
    pub refused: bool,
    /// Told once the record is written (dropped unsent when it is not): the answer
    /// waits on it with `[store] answer_after_write_ms`.
    pub written: Option<tokio::sync::oneshot::Sender<()>>,
}

pub use crate::config::RecorderSettings as Settings;

/// Counters, shared with `/metrics`, `/readyz` and the viewer.
#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    written: AtomicU64,
    /// Dropped because the queue was full.
    dropped_full: AtomicU64,
    /// Dropped because the store kept refusing the write.
    dropped_failed: AtomicU64,
    queued_bytes: AtomicUsize,
    /// Whether writes fail, and why, under one lock: a reader never sees a failure
    /// counted without its reason, or writes counted while the store still shows failing.
    health: Mutex<Health>,
    retained_by_age: AtomicU64,
    retained_by_size: AtomicU64,
    /// Refused calls not recorded: over `refusals_per_second`.
    refusals_not_recorded: AtomicU64,
    /// Answers that waited for their record's write and went before it (the wait ran out).
    answered_before_written: AtomicU64,
}

#[derive(Default)]
struct Health {
    /// True while the last write attempt failed.
    failing: bool,
    write_errors: u64,
    last_error: Option<(String, i64)>,
}

/// A snapshot of the recorder, for `/metrics`, `/readyz` and the viewer's banner.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub store: String,
    pub accepted: u64,
    pub written: u64,
    pub dropped: u64,
    pub dropped_queue_full: u64,
    pub dropped_store_error: u64,
    pub queue_depth: usize,
    pub queue_bytes: usize,
    /// True while the last write attempt failed.
    pub failing: bool,
    pub write_errors: u64,
    /// The last write error and when (microseconds since the epoch).
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub retention_removed_by_age: u64,
    pub retention_removed_by_size: u64,
    /// Refused calls counted but not recorded (over `refusals_per_second`).
    pub refusals_not_recorded: u64,
    /// With `answer_after_write_ms`: answers that went before their record was written.
    pub answered_before_written: u64,
}

pub struct Recorder {
    store: Store,
    refusals: Mutex<Bucket>,
    queue: Mutex<Option<crossbeam_channel::Sender<Record>>>,
    depth: crossbeam_channel::Receiver<Record>,
    counters: Arc<Counters>,
    settings: Settings,
    threads: Mutex<Vec<JoinHandle<()>>>,
    stop_retention: crossbeam_channel::Sender<()>,
}

impl Recorder {
    pub fn start(store: Store, settings: Settings) -> std::io::Result<Arc<Recorder>> {
        let (tx, rx) = crossbeam_channel::bounded::<Record>(settings.queue_calls);
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
        let counters = Arc::new(Counters::default());
        let writer = {
            let (store, rx, counters, settings) = (
                store.clone(),
                rx.clone(),
                counters.clone(),
                settings.clone(),
            );
            std::thread::Builder::new()
                .name("lookout-recorder".into())
                .spawn(move || write_loop(store, rx, counters, settings))?
        };
        let retention = {
            let (store, counters, settings) = (store.clone(), counters.clone(), settings.clone());
            std::thread::Builder::new()
                .name("lookout-retention".into())
                .spawn(move || retention_loop(store, counters, settings, stop_rx))?
        };
        Ok(Arc::new(Recorder {
            store,
            refusals: Mutex::new(Bucket::new(settings.refusals_per_second)),
            queue: Mutex::new(Some(tx)),
            depth: rx,
            counters,
            settings,
            threads: Mutex::new(vec![writer, retention]),
            stop_retention: stop_tx,
        }))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Queues a call for writing; never blocks. A full queue drops it, counted; a
    /// refused call over `refusals_per_second` is counted and not recorded.
    pub fn record(&self, record: Record) {
        let c = &self.counters;
        if record.refused && !self.refusals.lock().expect("refusals").take() {
            c.refusals_not_recorded.fetch_add(1, Ordering::Relaxed);
            return;
        }
        c.accepted.fetch_add(1, Ordering::Relaxed);
        let size = record.queued_bytes();
        let queued = c.queued_bytes.fetch_add(size, Ordering::Relaxed);
        let queue = self.queue.lock().expect("queue");
        let sent = queued + size <= self.settings.queue_bytes
            && queue.as_ref().is_some_and(|q| q.try_send(record).is_ok());
        if !sent {
            c.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            let dropped = c.dropped_full.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::error!(
                    dropped,
                    "the log's queue is full: calls are answered but not recorded; the store ({}) is too slow or down",
                    self.store.describe()
                );
            }
        }
    }

    pub fn status(&self) -> Status {
        let c = &self.counters;
        // The counts first, then the health they follow: rows counted as written (or
        // dropped after failed writes) were so after the health they came with was set.
        let written = c.written.load(Ordering::Acquire);
        let full = c.dropped_full.load(Ordering::Relaxed);
        let failed = c.dropped_failed.load(Ordering::Acquire);
        let (failing, write_errors, last_error, last_error_at) = {
            let health = c.health.lock().expect("health");
            let (e, at) = health.last_error.clone().unzip();
            (health.failing, health.write_errors, e, at)
        };
        Status {
            store: self.store.describe(),
            accepted: c.accepted.load(Ordering::Relaxed),
            written,
            dropped: full + failed,
            dropped_queue_full: full,
            dropped_store_error: failed,
            queue_depth: self.depth.len(),
            queue_bytes: c.queued_bytes.load(Ordering::Relaxed),
            failing,
            write_errors,
            last_error,
            last_error_at,
            retention_removed_by_age: c.retained_by_age.load(Ordering::Relaxed),
            retention_removed_by_size: c.retained_by_size.load(Ordering::Relaxed),
            refusals_not_recorded: c.refusals_not_recorded.load(Ordering::Relaxed),
            answered_before_written: c.answered_before_written.load(Ordering::Relaxed),
        }
    }

    /// How long a signed call's answer waits for its record's write (`[store]
    /// answer_after_write_ms`; zero: not at all).
    pub fn answer_after_write(&self) -> Duration {
        self.settings.answer_after_write
    }

    /// Waits for `written` (from a [`Record`]) up to `answer_after_write`, and never
    /// longer than `left`; a wait that runs out is counted. A record dropped (queue full,
    /// a failed write) ends the wait at once: it is counted as dropped already.
    pub async fn wait_written(&self, written: tokio::sync::oneshot::Receiver<()>, left: Duration) {
        if tokio::time::timeout(self.settings.answer_after_write.min(left), written)
            .await
            .is_err()
        {
            self.counters
                .answered_before_written
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until every call queued so far is written or dropped (tests, shutdown).
    pub fn flush(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let c = &self.counters;
        let target = c.accepted.load(Ordering::Relaxed);
        loop {
            let done = c.written.load(Ordering::Acquire)
                + c.dropped_full.load(Ordering::Relaxed)
                + c.dropped_failed.load(Ordering::Acquire);
            if done >= target {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops taking calls, writes what is queued and stops the threads.
    pub fn shutdown(&self) {
        self.queue.lock().expect("queue").take();
        let _ = self.stop_retention.try_send(());
        for thread in self.threads.lock().expect("threads").drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A token bucket: `rate` a second, up to ten seconds' worth saved.
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: u32) -> Bucket {
        Bucket {
            rate: rate as f64,
            tokens: rate as f64 * 10.0,
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let earned = now.duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + earned).min(self.rate * 10.0);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn write_loop(
    store: Store,
    rx: crossbeam_channel::Receiver<Record>,
    counters: Arc<Counters>,
    settings: Settings,
) {
    // Request bodies are stored as differences from a base of the same estimate
    // (store::delta); the rows are written in the order they are encoded.
    let mut packer = Packer::with_deltas(settings.compression);
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < settings.batch {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let mut bytes = 0;
        let mut told: Vec<tokio::sync::oneshot::Sender<()>> = Vec::new();
        // A panic while one record is encoded or a batch written (a bug) loses that
        // record or batch, counted, and never the writer thread: recording goes on.
        let rows: Vec<Row> = batch
            .into_iter()
            .filter_map(|mut record| {
                let written = record.written.take();
                bytes += record.queued_bytes();
                let id = record.call.id.clone();
                let encoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    encode(record, &mut packer)
                }));
                match encoded {
                    Ok(row) => {
                        told.extend(written);
                        Some(row)
                    }
                    Err(_) => {
                        tracing::error!(call = %id, "encoding the record panicked (a bug in lookout); it is dropped and counted");
                        counters.dropped_failed.fetch_add(1, Ordering::Relaxed);
                        packer.forget_bases();
                        None
                    }
                }
            })
            .collect();
        counters.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
        let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            write_with_retries(&store, &rows, &counters, &settings)
        }))
        .unwrap_or_else(|_| {
            tracing::error!(
                calls = rows.len(),
                "writing a batch panicked (a bug in lookout); it is dropped and counted"
            );
            counters
                .dropped_failed
                .fetch_add(rows.len() as u64, Ordering::Relaxed);
            false
        });
        if written {
            for answer in told {
                let _ = answer.send(());
            }
        } else {
            // Bases this batch stored are not in the store: later calls must not name them.
            packer.forget_bases();
        }
    }
}

impl Record {
    /// What it holds in the queue: the part of the request body kept, and the answer.
    fn queued_bytes(&self) -> usize {
        self.call.request_body.len().min(self.keep) + self.call.response_body.len()
    }
}

/// Completes a record (redaction, the body's cut) and encodes it for the store.
fn encode(record: Record, packer: &mut Packer) -> Row {
    let Record {
        mut call,
        keep,
        parsed,
        redact_body,
        refused: _,
        written: _,
    } = record;
    let body = std::mem::take(&mut call.request_body);
    let mut body: Vec<u8> = if redact_body.is_empty() || body.is_empty() {
        body.to_vec()
    } else if parsed || crate::nesting::is_json(&body) {
        // What rules could have copied out of the redacted values leaves with them:
        // from the answer and the trace's alerts, the rules' output and errors.
        let mut secrets = Vec::new();
        let kept = redact::body_and_secrets(&body, &redact_body, &mut call.redacted, &mut secrets);
        if let Some(scrubbed) = redact::scrub_json(&call.response_body, &secrets) {
            call.response_body = scrubbed;
        }
        for trace in &mut call.rules {
            redact::scrub_text(&mut trace.output, &secrets);
            if let Some(e) = &mut trace.error {
                redact::scrub_text(&mut e.message, &secrets);
            }
            for alert in &mut trace.alerts {
                let json = serde_json::to_vec(&*alert).expect("alerts serialize");
                if let Some(scrubbed) = redact::scrub_json(&json, &secrets) {
                    // Scrubbing replaces text inside strings: still an alert. Were it not,
                    // the panic loses this record (counted), never its secret.
                    *alert = serde_json::from_slice(&scrubbed).expect("scrubbed JSON is JSON");
                }
            }
        }
        match kept {
            redact::Redaction::Unchanged => body.to_vec(),
            redact::Redaction::Redacted(bytes) => bytes,
            redact::Redaction::Unreadable => {
                call.redacted
                    .push("body:(all: redact_body could not be applied to it)".to_string());
                Vec::new()
            }
        }
    } else {
        // The pointers cannot be applied to a body that is not JSON: keep none of it.
        call.redacted
            .push("body:(all: not JSON, so redact_body could not be applied)".to_string());
        Vec::new()
    };
    if body.len() > keep {
        call.request_truncated = true;
        body.truncate(keep);
    }
    call.request_body = body.into();
    Row::encode(&call, packer)
}

/// Writes a batch, retrying; false when it was dropped.
fn write_with_retries(
    store: &Store,
    rows: &[Row],
    counters: &Counters,
    settings: &Settings,
) -> bool {
    let mut backoff = Duration::from_millis(100);
    for attempt in 1..=settings.attempts.max(1) {
        match store.write(rows) {
            Ok(()) => {
                // Healthy again before the rows count as written: whoever waits for them
                // (flush) then sees the store as it is.
                let was_failing =
                    std::mem::replace(&mut counters.health.lock().expect("health").failing, false);
                counters
                    .written
                    .fetch_add(rows.len() as u64, Ordering::Release);
                if was_failing {
                    tracing::info!(store = %store.describe(), "the log is recording again");
                }
                return true;
            }
            Err(err) => {
                let was_failing = {
                    let mut health = counters.health.lock().expect("health");
                    health.write_errors += 1;
                    health.last_error = Some((err.to_string(), crate::clock::now_micros()));
                    std::mem::replace(&mut health.failing, true)
                };
                if !was_failing {
                    tracing::error!(store = %store.describe(), attempt, "cannot write the log: {err}");
                }
                if attempt < settings.attempts {
                    std::thread::sleep(backoff);
                    backoff *= 4;
                }
            }
        }
    }
    let n = rows.len() as u64;
    let before = counters.dropped_failed.fetch_add(n, Ordering::Release);
    // While the store stays down this happens every batch: say so when the total
    // reaches the next power of two, not every time.
    if before == 0 || before.ilog2() != (before + n).ilog2() {
        tracing::error!(
            calls = n,
            dropped_in_all = before + n,
            "dropped calls from the log after {} failed writes; counted in lookout_log_dropped_total",
            settings.attempts
        );
    }
    false
}

fn retention_loop(
    store: Store,
    counters: Arc<Counters>,
    settings: Settings,
    stop: crossbeam_channel::Receiver<()>,
) {
    let events = &settings.event_retention;
    let none = |r: &Retention| r.max_age.is_none() && r.max_bytes.is_none();
    if none(&settings.retention) && none(events) {
        return;
    }
    loop {
        if !none(events) {
            match store.retain_events(events, crate::clock::now_micros()) {
                Ok(removed) if removed.by_age + removed.by_size > 0 => tracing::info!(
                    by_age = removed.by_age,
                    by_size = removed.by_size,
                    "retention removed old port events"
                ),
                Ok(_) => {}
                Err(err) => tracing::warn!("retention of port events could not run: {err}"),
            }
        }
        match store.retain(&settings.retention, crate::clock::now_micros()) {
            Ok(removed) => {
                counters
                    .retained_by_age
                    .fetch_add(removed.by_age, Ordering::Relaxed);
                counters
                    .retained_by_size
                    .fetch_add(removed.by_size, Ordering::Relaxed);
                if removed.by_age + removed.by_size > 0 {
                    tracing::info!(
                        by_age = removed.by_age,
                        by_size = removed.by_size,
                        "retention removed old calls from the log"
                    );
                }
            }
            Err(err) => tracing::warn!("retention could not run: {err}"),
        }
        match stop.recv_timeout(settings.retention_every) {
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            _ => return,
        }
    }
}
