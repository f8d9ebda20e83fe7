//! Candidate revisions run in the shadow of live calls.
//!
//! A rule set may have one running candidate (`store::Candidate`). A live call to it
//! hands this module a [`Job`] once its answer has gone out (the hook attaches the job
//! to the answer's body, which offers it when the connection is done with the body),
//! so a shadow run never delays nor touches an answer. The job carries the call's
//! parsed input (shared, not copied) and the alerts answered.
//!
//! Bounded three ways, each dropped call counted in `/metrics`
//! (`lookout_shadow_dropped_total{reason}`): the queue holds `[shadow] queue` calls and
//! 64 MiB of their bodies (`queue_full`); runs may take `[shadow] cpu_share` of one core
//! in each one-second window (`cpu_share`: a call offered, or reached in the queue, once
//! the window's share is spent is not run; a run that starts within the share finishes,
//! so a window can overrun by one run, itself bounded by the candidate's budget); and
//! they run on one
//! thread of their own at nice +10, so the kernel gives the live rule pool a core
//! first. Each run has the candidate's own budget; its answer is compared with the
//! live one as a replay compares (by GUID, then by message) and written in batches
//! (`store::ShadowCall`), next to the live call's record.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use uuid::Uuid;

use crate::alerts::Wire;
use crate::config::ShadowSettings;
use crate::replay::{compare, Change};
use crate::rules::revision::Files;
use crate::rules::{self, CallInput, Defaults, Pool, RuleSet};
use crate::store::{Candidate, ShadowCall, Store};

/// A candidate being run: its record and its compiled rule set.
pub struct Running {
    pub id: String,
    pub ruleset: String,
    pub version: String,
    set: Arc<RuleSet>,
}

/// One live call to run again with its rule set's candidate.
pub struct Job {
    pub candidate: Arc<Running>,
    pub call_id: Uuid,
    pub live_version: String,
    pub input: Arc<CallInput>,
    pub live: Vec<Wire>,
    /// From the call's arrival to its answer handed to the connection.
    pub live_us: i64,
    /// The request body and the live rule set's `redact_body`: what a candidate's rules
    /// copied out of redacted values is scrubbed from its answer, as from the live one.
    pub body: bytes::Bytes,
    pub redact_body: Arc<[String]>,
}

/// Counts, for `/metrics`.
#[derive(Default)]
pub struct Counts {
    pub runs: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub dropped_cpu_share: AtomicU64,
    pub not_written: AtomicU64,
}

pub struct Shadow {
    settings: ShadowSettings,
    running: ArcSwap<HashMap<String, Arc<Running>>>,
    /// Candidates that did not compile here, by id, with why.
    failed: ArcSwap<HashMap<String, String>>,
    jobs: crossbeam_channel::Sender<Job>,
    spent: Arc<Mutex<Window>>,
    /// Request bodies held by queued jobs, bytes.
    queued_bytes: Arc<AtomicUsize>,
    pub counts: Arc<Counts>,
}

/// Request bodies the queue may hold in all; past it a call is dropped as `queue_full`.
pub const QUEUE_BYTES: usize = 64 << 20;

/// Time spent on shadow runs in the current one-second window.
struct Window {
    started: Instant,
    spent: Duration,
}

impl Shadow {
    /// Starts the shadow thread and its pool; they end when the `Shadow` is dropped.
    pub fn start(settings: ShadowSettings, store: Store) -> std::io::Result<Arc<Shadow>> {
        let (jobs, queue) = crossbeam_channel::bounded::<Job>(settings.queue);
        let pool = Pool::lower_priority(1, "lookout-shadow", 10)?;
        let spent = Arc::new(Mutex::new(Window {
            started: Instant::now(),
            spent: Duration::ZERO,
        }));
        let counts = Arc::new(Counts::default());
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let worker = Worker {
            pool,
            store,
            share: settings.cpu_share,
            spent: spent.clone(),
            queued_bytes: queued_bytes.clone(),
            counts: counts.clone(),
        };
        std::thread::Builder::new()
            .name("lookout-shadow".into())
            .spawn(move || worker.run(queue))?;
        Ok(Arc::new(Shadow {
            settings,
            running: ArcSwap::default(),
            failed: ArcSwap::default(),
            jobs,
            spent,
            queued_bytes,
            counts,
        }))
    }

    /// The running candidate of `ruleset`, if any (a lock-free read).
    pub fn candidate_of(&self, ruleset: &str) -> Option<Arc<Running>> {
        self.running.load().get(ruleset).cloned()
    }

    /// Candidates that do not compile here, with why.
    pub fn failed(&self) -> HashMap<String, String> {
        self.failed.load().as_ref().clone()
    }

    /// Queues a job, or drops it (counted) when the queue is full or the runs have
    /// taken their share of the last second. Never blocks.
    pub fn offer(&self, job: Job) {
        if over_share(&self.spent, self.settings.cpu_share) {
            self.counts
                .dropped_cpu_share
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        let size = job.body.len();
        if self.queued_bytes.fetch_add(size, Ordering::Relaxed) + size > QUEUE_BYTES {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            self.counts
                .dropped_queue_full
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.jobs.try_send(job).is_err() {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            self.counts
                .dropped_queue_full
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Runs exactly the candidates given (the store's running ones): new ones are
    /// compiled, ended ones stop.
    pub fn follow(&self, candidates: Vec<Candidate>, defaults: &Defaults) {
        let current = self.running.load_full();
        let mut running = HashMap::new();
        let mut failed = HashMap::new();
        for candidate in candidates {
            if !rules::ruleset::valid_name(&candidate.ruleset) {
                failed.insert(
                    candidate.id.clone(),
                    "its rule set's name cannot be served (not a name for /hooks/<name>)".into(),
                );
                continue;
            }
            if let Some(same) = current
                .get(&candidate.ruleset)
                .filter(|r| r.id == candidate.id)
            {
                running.insert(candidate.ruleset.clone(), same.clone());
                continue;
            }
            let compiled = serde_json::from_value::<Files>(candidate.files.clone())
                .map_err(|e| format!("its files do not read: {e}"))
                .and_then(|files| {
                    let defaults = Defaults {
                        secrets: rules::ruleset::Secrets::Optional,
                        ..defaults.clone()
                    };
                    rules::revision::compile(&candidate.ruleset, &files, &defaults).map_err(
                        |problems| {
                            problems
                                .iter()
                                .map(|p| p.to_string())
                                .collect::<Vec<_>>()
                                .join("; ")
                        },
                    )
                });
            match compiled {
                Ok(set) => {
                    tracing::info!(ruleset = %candidate.ruleset, candidate = %candidate.id, version = %set.version, "shadow: running a candidate");
                    running.insert(
                        candidate.ruleset.clone(),
                        Arc::new(Running {
                            id: candidate.id.clone(),
                            ruleset: candidate.ruleset.clone(),
                            version: set.version.clone(),
                            set: Arc::new(set),
                        }),
                    );
                }
                Err(why) => {
                    tracing::error!(ruleset = %candidate.ruleset, candidate = %candidate.id, "shadow: the candidate does not compile here: {why}");
                    failed.insert(candidate.id.clone(), why);
                }
            }
        }
        for (name, old) in current.iter() {
            if running.get(name).map(|r| &r.id) != Some(&old.id) {
                tracing::info!(ruleset = %name, candidate = %old.id, "shadow: candidate stopped");
            }
        }
        self.running.store(Arc::new(running));
        self.failed.store(Arc::new(failed));
    }
}

/// The candidate's answer as it may be kept: with what its rules could have copied out
/// of the rule set's `redact_body` values scrubbed, as the recorder does for the live
/// answer; nothing (an empty answer) when the body cannot be read to know them.
fn scrubbed(answer: &[u8], body: &[u8], redact_body: &[String]) -> String {
    use crate::store::redact;
    if redact_body.is_empty() {
        return String::from_utf8_lossy(answer).into_owned();
    }
    let (mut redacted, mut secrets) = (Vec::new(), Vec::new());
    if matches!(
        redact::body_and_secrets(body, redact_body, &mut redacted, &mut secrets),
        redact::Redaction::Unreadable
    ) {
        return String::new();
    }
    match redact::scrub_json(answer, &secrets) {
        Some(clean) => String::from_utf8_lossy(&clean).into_owned(),
        None => String::from_utf8_lossy(answer).into_owned(),
    }
}

/// Whether the shadow runs have taken their share of the current one-second window
/// (a new window starts once a second has passed).
fn over_share(spent: &Mutex<Window>, share: f64) -> bool {
    let mut window = spent.lock().expect("shadow window");
    if window.started.elapsed() >= Duration::from_secs(1) {
        window.started = Instant::now();
        window.spent = Duration::ZERO;
        return false;
    }
    window.spent > Duration::from_secs(1).mul_f64(share)
}

struct Worker {
    pool: Pool,
    store: Store,
    share: f64,
    spent: Arc<Mutex<Window>>,
    queued_bytes: Arc<AtomicUsize>,
    counts: Arc<Counts>,
}

/// Rows written at once, and the longest a row waits for its batch.
const BATCH: usize = 64;
const BATCH_WAIT: Duration = Duration::from_millis(250);

impl Worker {
    fn run(self, queue: crossbeam_channel::Receiver<Job>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                tracing::error!("shadow: cannot start: {e}");
                return;
            }
        };
        let mut batch: Vec<ShadowCall> = Vec::new();
        let mut oldest: Option<Instant> = None;
        loop {
            let wait = oldest.map_or(Duration::from_secs(3600), |at| {
                BATCH_WAIT.saturating_sub(at.elapsed())
            });
            match queue.recv_timeout(wait) {
                Ok(job) => {
                    self.queued_bytes
                        .fetch_sub(job.body.len(), Ordering::Relaxed);
                    // Checked again here: what was queued before the share ran out is
                    // not run past it either.
                    if over_share(&self.spent, self.share) {
                        self.counts
                            .dropped_cpu_share
                            .fetch_add(1, Ordering::Relaxed);
                    } else {
                        let row = runtime.block_on(self.run_one(job));
                        batch.push(row);
                        oldest.get_or_insert_with(Instant::now);
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    self.write(&mut batch);
                    return;
                }
            }
            if batch.len() >= BATCH || oldest.is_some_and(|at| at.elapsed() >= BATCH_WAIT) {
                self.write(&mut batch);
                oldest = None;
            }
        }
    }

    async fn run_one(&self, job: Job) -> ShadowCall {
        let started = Instant::now();
        let set = job.candidate.set.clone();
        let deadline = started + set.settings.budget - set.settings.margin;
        let evaluation = rules::evaluate(&self.pool, set, job.input, deadline, ()).await;
        let took = started.elapsed();
        {
            let mut window = self.spent.lock().expect("shadow window");
            window.spent += took;
        }
        self.counts.runs.fetch_add(1, Ordering::Relaxed);
        let now = evaluation.response.wires();
        let changes = compare(&job.live, &now);
        let count = |f: fn(&Change) -> bool| changes.iter().filter(|c| f(c)).count() as u32;
        ShadowCall {
            call_id: job.call_id.to_string(),
            candidate: job.candidate.id.clone(),
            ruleset: job.candidate.ruleset.clone(),
            at: crate::clock::now_micros(),
            live_version: job.live_version,
            candidate_version: job.candidate.version.clone(),
            live_us: job.live_us,
            candidate_us: took.as_micros() as i64,
            changed: !changes.is_empty(),
            added: count(|c| matches!(c, Change::Added { .. })),
            removed: count(|c| matches!(c, Change::Removed { .. })),
            altered: count(|c| matches!(c, Change::Changed { .. })),
            guid_changes: count(|c| {
                matches!(
                    c,
                    Change::Changed {
                        guid_changed: true,
                        ..
                    }
                )
            }),
            errors: evaluation
                .runs
                .iter()
                .filter(|r| matches!(r.outcome, rules::Outcome::Error(_)))
                .count() as u32,
            timeouts: evaluation
                .runs
                .iter()
                .filter(|r| matches!(r.outcome, rules::Outcome::Timeout))
                .count() as u32,
            answer: scrubbed(&evaluation.response.body, &job.body, &job.redact_body),
        }
    }

    fn write(&self, batch: &mut Vec<ShadowCall>) {
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.store.write_shadow(batch) {
            tracing::warn!(
                calls = batch.len(),
                "shadow: cannot record candidates' answers: {e}"
            );
            self.counts
                .not_written
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
        batch.clear();
    }
}
