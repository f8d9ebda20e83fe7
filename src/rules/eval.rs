//! Evaluating a rule set on one estimate, under a deadline.
//!
//! Rules run in parallel on a fixed pool of worker threads (never on the async
//! runtime's threads). Each rule runs with the call's deadline in its thread's run
//! context: Rhai's progress callback and every host function check it, so a rule
//! stops within about a thousand operations of the deadline and frees its thread.
//! The caller waits at most until the deadline plus half the safety margin; a rule
//! still running then (stuck in one long native call) is reported as stopped and its
//! late result is discarded when it arrives.
//!
//! [`evaluate`] is the one evaluation path: the server, `lookout run` and the tests
//! all call it, so a green test means the same thing in production.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rhai::{Dynamic, EvalAltResult, Scope};
use serde_json::Value;

use crate::alerts::{self, Alert, AlertType, Assembled, DisplayField, Identity, Raised};
use crate::rules::input::CallInput;
use crate::rules::json::{self, Doc, Json};
use crate::rules::reuse;
use crate::rules::ruleset::{Rule, RuleSet};
use crate::rules::sandbox::{self, Run, STOP_MEMORY, STOP_OPERATIONS};

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Ok,
    Error(RuleError),
    /// Stopped at the deadline (or never started before it).
    Timeout,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error(_) => "error",
            Outcome::Timeout => "timeout",
        }
    }
}

/// A rule's run-time failure, with where it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleError {
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The file the error is in when it is not the rule itself (a lib module).
    pub source: Option<String>,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: ")?,
            (Some(l), None) => write!(f, "line {l}: ")?,
            _ => {}
        }
        if let Some(source) = &self.source {
            write!(f, "(in {source}) ")?;
        }
        f.write_str(&self.message)
    }
}

/// One rule's run: the trace the log and `lookout run` show.
#[derive(Debug, Clone)]
pub struct RuleRun {
    pub rule: String,
    pub outcome: Outcome,
    /// Alerts it raised (dropped when it did not finish).
    pub alerts: Vec<Alert>,
    /// What it printed with `print`/`debug`, capped.
    pub output: String,
    pub operations: u64,
    pub duration: Duration,
    pub notes: Vec<String>,
    /// This is the rule's last run on the same estimate, reused because nothing it read
    /// had changed ([`reuse`]); `duration` is then the time the check took.
    pub reused: bool,
}

/// The result of evaluating a rule set on one estimate.
#[derive(Debug)]
pub struct Evaluation {
    pub runs: Vec<RuleRun>,
    pub response: Assembled,
    /// The estimate's identity by the rule set's pointers ("" when none is found).
    pub estimate_id: String,
}

/// A fixed pool of threads that run rules.
///
/// A panic inside a job (a bug in lookout or a crate, never a rule's error) is caught
/// where the rule ran, becomes that rule's error, and is counted; the thread goes on
/// with the next job, so the pool keeps its strength. `alive` says if it ever did not.
pub struct Pool {
    jobs: crossbeam_channel::Sender<Box<dyn FnOnce() + Send>>,
    threads: usize,
    health: Arc<PoolHealth>,
}

/// What `/readyz` and `/metrics` read of the pool.
#[derive(Default)]
pub struct PoolHealth {
    /// Worker threads running now.
    pub alive: AtomicUsize,
    /// Panics caught in rule jobs.
    pub panics: std::sync::atomic::AtomicU64,
}

impl Pool {
    /// `threads` workers, each with a stack deep enough for the call-depth limit.
    pub fn new(threads: usize) -> std::io::Result<Pool> {
        Pool::build(threads, "lookout-rules", 0)
    }

    /// A pool whose threads run at a lower priority (`nice` 1 to 19 above the
    /// process's): the shadow runs of candidate revisions, which must give way to the
    /// live rules whenever both want a core.
    pub fn lower_priority(threads: usize, name: &str, nice: i32) -> std::io::Result<Pool> {
        Pool::build(threads, name, nice)
    }

    fn build(threads: usize, name: &str, nice: i32) -> std::io::Result<Pool> {
        let threads = threads.max(1);
        let (jobs, queue) = crossbeam_channel::unbounded::<Box<dyn FnOnce() + Send>>();
        let health = Arc::new(PoolHealth::default());
        for i in 0..threads {
            let queue = queue.clone();
            let health = health.clone();
            health.alive.fetch_add(1, Ordering::Relaxed);
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .stack_size(16 << 20)
                .spawn(move || {
                    if nice > 0 {
                        // Linux keeps a nice value per thread: this one only.
                        // SAFETY: plain system calls on the calling thread.
                        unsafe {
                            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                            let now = libc::getpriority(libc::PRIO_PROCESS, tid);
                            libc::setpriority(libc::PRIO_PROCESS, tid, (now + nice).min(19));
                        }
                    }
                    /// Counts this thread out however it ends.
                    struct Alive(Arc<PoolHealth>);
                    impl Drop for Alive {
                        fn drop(&mut self) {
                            self.0.alive.fetch_sub(1, Ordering::Relaxed);
                        }
                    }
                    let alive = Alive(health);
                    for job in queue {
                        // Rules' panics are caught inside the job; this is the net
                        // under the job's own bookkeeping.
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                            alive.0.panics.fetch_add(1, Ordering::Relaxed);
                            sandbox::Run::reset();
                        }
                    }
                })?;
        }
        Ok(Pool {
            jobs,
            threads,
            health,
        })
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    pub fn health(&self) -> &PoolHealth {
        &self.health
    }

    fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        // The workers live as long as the process, so the queue never closes.
        let _ = self.jobs.send(Box::new(job));
    }
}

/// Runs every rule of `ruleset` on `input` and assembles the answer.
///
/// Rules stop at `deadline`; the answer is ready by `deadline + ruleset margin / 2`
/// at the latest. `hold` is dropped when the last rule has really finished (the
/// server passes its concurrency permit, so stuck threads count against the limit).
pub async fn evaluate(
    pool: &Pool,
    ruleset: Arc<RuleSet>,
    input: Arc<CallInput>,
    deadline: Instant,
    hold: impl Send + Sync + 'static,
) -> Evaluation {
    let count = ruleset.rules.len();
    let slots: Arc<Vec<OnceLock<RuleRun>>> =
        Arc::new((0..count).map(|_| OnceLock::new()).collect());
    let remaining = Arc::new(AtomicUsize::new(count));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let done_tx = Arc::new(Mutex::new(Some(done_tx)));
    let hold = Arc::new(hold);

    // At most one job per pool thread; each takes the next rule not yet taken, so a call
    // costs a hand-off per thread rather than per rule and uneven rules balance out.
    let next = Arc::new(AtomicUsize::new(0));
    let estimate_id: Arc<str> = ruleset.estimate_identity(&input.estimate).into();
    for _ in 0..pool.threads().min(count) {
        let (ruleset, input, slots, remaining, done_tx, hold, next, health, estimate_id) = (
            ruleset.clone(),
            input.clone(),
            slots.clone(),
            remaining.clone(),
            done_tx.clone(),
            hold.clone(),
            next.clone(),
            pool.health.clone(),
            estimate_id.clone(),
        );
        pool.spawn(move || {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(rule) = ruleset.rules.get(index) else {
                    break;
                };
                let run = if Instant::now() >= deadline {
                    timed_out(
                        rule,
                        Duration::ZERO,
                        "not started: the deadline passed while other rules of the call ran",
                    )
                } else {
                    let started = Instant::now();
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        run_or_reuse(&ruleset, index, &input, &estimate_id, deadline)
                    }))
                    .unwrap_or_else(|panic| {
                        health.panics.fetch_add(1, Ordering::Relaxed);
                        sandbox::Run::reset();
                        panicked(rule, started.elapsed(), panic.as_ref())
                    })
                };
                let _ = slots[index].set(run);
                if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                    if let Some(tx) = done_tx.lock().expect("lock").take() {
                        let _ = tx.send(());
                    }
                }
            }
            drop(hold);
        });
    }
    drop(hold);

    if count > 0 {
        let give_up = tokio::time::Instant::from_std(deadline + ruleset.settings.margin / 2);
        let _ = tokio::time::timeout_at(give_up, done_rx).await;
    }

    let runs: Vec<RuleRun> = ruleset
        .rules
        .iter()
        .zip(slots.iter())
        .map(|(rule, slot)| {
            slot.get().cloned().unwrap_or_else(|| {
                timed_out(
                    rule,
                    deadline.saturating_duration_since(Instant::now()),
                    "still inside one long built-in call at the deadline; its result was discarded",
                )
            })
        })
        .collect();
    let estimate_id = estimate_id.to_string();
    let response = answer_as(&ruleset, &estimate_id, &runs);
    let mut runs = runs;
    for (rule, note) in &response.notes {
        if let Some(run) = runs.iter_mut().find(|r| &r.rule == rule) {
            run.notes.push(note.clone());
        }
    }
    Evaluation {
        runs,
        response,
        estimate_id,
    }
}

/// The trace of a rule whose run panicked: a bug in lookout (or a crate under it), not
/// in the rule, reported as the rule's error so the call is still answered.
fn panicked(rule: &Rule, duration: Duration, panic: &(dyn std::any::Any + Send)) -> RuleRun {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    tracing::error!(rule = %rule.id, "a rule run panicked (a bug in lookout): {what}");
    RuleRun {
        rule: rule.id.clone(),
        outcome: Outcome::Error(RuleError {
            message: format!("lookout failed inside this rule ({what}); this is a bug in lookout, not in the rule: please report it with the call id"),
            line: None,
            column: None,
            source: None,
        }),
        alerts: Vec::new(),
        output: String::new(),
        operations: 0,
        duration,
        notes: vec!["the run panicked; the rule pool caught it and carried on".into()],
        reused: false,
    }
}

/// The trace of a rule the deadline stopped without a result of its own: never started,
/// or still inside a built-in call when the answer had to go.
fn timed_out(rule: &Rule, duration: Duration, note: &str) -> RuleRun {
    RuleRun {
        rule: rule.id.clone(),
        outcome: Outcome::Timeout,
        alerts: Vec::new(),
        output: String::new(),
        operations: 0,
        duration,
        notes: vec![note.into()],
        reused: false,
    }
}

/// Turns rule runs into the response body: alerts in rule order, plus an Error alert
/// per failed rule (unless the rule set turned those off) and per stopped rule.
pub fn answer(ruleset: &RuleSet, estimate: &Doc, runs: &[RuleRun]) -> Assembled {
    answer_as(ruleset, &ruleset.estimate_identity(estimate), runs)
}

/// [`answer`] for an estimate whose identity is known.
fn answer_as(ruleset: &RuleSet, estimate_id: &str, runs: &[RuleRun]) -> Assembled {
    let budget_ms = (ruleset.settings.budget - ruleset.settings.margin).as_millis();
    let mut raised = Vec::new();
    for run in runs {
        match &run.outcome {
            Outcome::Ok => raised.extend(run.alerts.iter().map(|a| Raised {
                rule: run.rule.clone(),
                alert: a.clone(),
            })),
            Outcome::Error(err) if ruleset.settings.show_rule_errors => {
                let mut alert = Alert::new(
                    AlertType::Error,
                    format!("rule `{}` failed at {err}", run.rule),
                );
                alert.display_fields.push(DisplayField {
                    label: "Rule".into(),
                    value: run.rule.clone(),
                });
                if let Some(line) = err.line {
                    alert.display_fields.push(DisplayField {
                        label: "Line".into(),
                        value: line.to_string(),
                    });
                }
                alert.key = Some("lookout:rule-error".into());
                raised.push(Raised {
                    rule: run.rule.clone(),
                    alert,
                });
            }
            Outcome::Error(_) => {}
            Outcome::Timeout => {
                let mut alert = Alert::new(
                    AlertType::Error,
                    format!("rule `{}` was stopped at the deadline ({budget_ms} ms) and its alerts were dropped; make it do less work or raise budget_ms in ruleset.toml", run.rule),
                );
                alert.display_fields.push(DisplayField {
                    label: "Rule".into(),
                    value: run.rule.clone(),
                });
                alert.key = Some("lookout:rule-timeout".into());
                raised.push(Raised {
                    rule: run.rule.clone(),
                    alert,
                });
            }
        }
    }
    alerts::assemble(
        &Identity {
            ruleset: &ruleset.name,
            estimate: estimate_id,
        },
        raised,
    )
}

/// Runs one rule to completion (or to the deadline) on the current thread.
pub fn run_rule(ruleset: &RuleSet, rule: &Rule, input: &CallInput, deadline: Instant) -> RuleRun {
    let started = Instant::now();
    if started >= deadline {
        return RuleRun {
            rule: rule.id.clone(),
            outcome: Outcome::Timeout,
            alerts: Vec::new(),
            output: String::new(),
            operations: 0,
            duration: Duration::ZERO,
            notes: vec![
                "did not start: the call's deadline had passed while it waited for a worker".into(),
            ],
            reused: false,
        };
    }
    run_started(ruleset, rule, input, deadline, started).0
}

/// Runs rule number `index` of `ruleset` on `input`, or reuses its last run on the
/// same estimate (`estimate_id`) when everything that run read is unchanged
/// ([`reuse`]); a new run's reads are kept for the next call.
fn run_or_reuse(
    ruleset: &RuleSet,
    index: usize,
    input: &CallInput,
    estimate_id: &str,
    deadline: Instant,
) -> RuleRun {
    use std::sync::atomic::Ordering::Relaxed;
    let rule = &ruleset.rules[index];
    let cache = &ruleset.reuse;
    if !cache.enabled() || estimate_id.is_empty() {
        return run_rule(ruleset, rule, input, deadline);
    }
    let started = Instant::now();
    match cache.earlier(estimate_id, index) {
        Some(entry)
            if entry
                .reads
                .still_hold(&input.estimate, &input.request, &input.facts) =>
        {
            reuse::STATS.reused.fetch_add(1, Relaxed);
            return RuleRun {
                duration: started.elapsed(),
                reused: true,
                ..entry.run.clone()
            };
        }
        Some(_) => reuse::STATS.changed.fetch_add(1, Relaxed),
        None => reuse::STATS.first.fetch_add(1, Relaxed),
    };
    if started >= deadline {
        return run_rule(ruleset, rule, input, deadline);
    }
    let ((run, finished), reads) = reuse::record(&input.estimate, &input.request, || {
        run_started(ruleset, rule, input, deadline, started)
    });
    if finished && reads.untracked().is_none() {
        // The call's notes are added to its runs later, so the kept run has none.
        let entry = reuse::Entry::new(reads, run.clone());
        cache.keep(estimate_id, index, ruleset.rules.len(), entry);
    }
    run
}

/// [`run_rule`] once the deadline is known not to have passed; also says whether the
/// run finished by itself (not stopped by its deadline, memory ceiling or operation
/// limit), which is when it may be reused.
fn run_started(
    ruleset: &RuleSet,
    rule: &Rule,
    input: &CallInput,
    deadline: Instant,
    started: Instant,
) -> (RuleRun, bool) {
    let mut scope = Scope::new();
    scope.push_constant(
        "estimate",
        Dynamic::from(Json::input(input.estimate.clone(), reuse::ESTIMATE)),
    );
    scope.push_constant(
        "request",
        Dynamic::from(Json::input(input.request.clone(), reuse::REQUEST)),
    );
    scope.push_constant("data", Dynamic::from(ruleset.data.clone()));

    Run::begin(deadline, &ruleset.limits);
    let result = crate::rules::facts::with_facts(&input.facts, || {
        ruleset
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut scope, &rule.ast)
    });
    let (run, operations) = Run::finish();
    let finished = !matches!(
        result.as_ref().map_err(|e| e.unwrap_inner()),
        Err(EvalAltResult::ErrorTerminated(..) | EvalAltResult::ErrorTooManyOperations(..))
    );
    let mut alerts = run.alerts;
    let outcome = match result {
        Ok(value) => match returned_alerts(&value) {
            Ok(more) => {
                alerts.extend(more);
                Outcome::Ok
            }
            Err(message) => Outcome::Error(RuleError {
                message,
                line: None,
                column: None,
                source: None,
            }),
        },
        Err(err) => classify(&err, &rule.path.display().to_string(), &ruleset.limits),
    };
    if outcome != Outcome::Ok {
        alerts.clear();
    }
    drop(scope);
    let run = RuleRun {
        rule: rule.id.clone(),
        outcome,
        alerts,
        output: run.output,
        operations,
        duration: started.elapsed(),
        notes: Vec::new(),
        reused: false,
    };
    (run, finished)
}

fn classify(err: &EvalAltResult, rule_path: &str, limits: &sandbox::Limits) -> Outcome {
    let inner = err.unwrap_inner();
    if let EvalAltResult::ErrorTerminated(token, _) = inner {
        if token.clone().into_string().ok().as_deref() == Some(STOP_MEMORY) {
            return Outcome::Error(RuleError {
                message: format!("rule used more than {} MiB of memory and was stopped; build smaller maps and arrays", limits.max_memory >> 20),
                line: None,
                column: None,
                source: None,
            });
        }
        if token.clone().into_string().ok().as_deref() == Some(STOP_OPERATIONS) {
            return Outcome::Error(RuleError {
                message: format!(
                    "rule ran more than {} operations and was stopped; look for a loop that does not end",
                    limits.max_operations
                ),
                line: None,
                column: None,
                source: None,
            });
        }
        return Outcome::Timeout;
    }
    // The position that matters is the innermost one (inside a function or lib module).
    let mut source = None;
    let mut current = err;
    loop {
        match current {
            EvalAltResult::ErrorInModule(module, inner, _) => {
                source = Some(module.clone());
                current = inner;
            }
            EvalAltResult::ErrorInFunctionCall(_, src, inner, _) => {
                if !src.is_empty() && src != rule_path {
                    source = Some(src.clone());
                }
                current = inner;
            }
            _ => break,
        }
    }
    let (described, pos) = sandbox::describe(current);
    let message = match current {
        EvalAltResult::ErrorRuntime(value, _) => value.to_string(),
        EvalAltResult::ErrorTooManyOperations(_) => format!(
            "rule ran more than {} operations and was stopped; look for a loop that does not end",
            limits.max_operations
        ),
        EvalAltResult::ErrorStackOverflow(_) => format!(
            "functions called each other more than {} levels deep; look for a function that calls itself without end",
            limits.max_call_levels
        ),
        _ => described,
    };
    Outcome::Error(RuleError {
        message,
        line: pos.line(),
        column: pos.position(),
        source,
    })
}

/// Alerts a rule returned as an array of maps (alert handles in it were raised already).
fn returned_alerts(value: &Dynamic) -> Result<Vec<Alert>, String> {
    if !value.is_array() {
        return Ok(Vec::new());
    }
    let array = value.read_lock::<rhai::Array>().expect("checked is_array");
    let mut out = Vec::new();
    for (i, item) in array.iter().enumerate() {
        if item.is::<sandbox::AlertRef>() {
            continue;
        }
        let Some(map) = item.read_lock::<rhai::Map>() else {
            return Err(format!("the rule returned an array whose item {i} is not an alert map; return maps like #{{ message: \"...\", alertType: \"Error\" }}"));
        };
        out.push(alert_from_map(&map).map_err(|e| format!("returned alert {i}: {e}"))?);
    }
    Ok(out)
}

const ALERT_MAP_KEYS: &[&str] = &[
    "message",
    "alertType",
    "displayFields",
    "link",
    "mutation",
    "key",
];

fn alert_from_map(map: &rhai::Map) -> Result<Alert, String> {
    for key in map.keys() {
        if !ALERT_MAP_KEYS.contains(&key.as_str()) {
            let hint = crate::rules::ruleset::did_you_mean(key, ALERT_MAP_KEYS)
                .map(|h| format!(" (did you mean `{h}`?)"))
                .unwrap_or_default();
            return Err(format!(
                "unknown field `{key}`{hint}; alert maps have {}",
                ALERT_MAP_KEYS.join(", ")
            ));
        }
    }
    let text = |name: &str| -> Result<Option<String>, String> {
        match map.get(name) {
            None => Ok(None),
            Some(v) if v.is_unit() => Ok(None),
            Some(v) if v.is_string() => Ok(Some(v.clone().into_string().unwrap_or_default())),
            Some(v) => Err(format!(
                "`{name}` must be a string, got {}",
                crate::rules::helpers::type_name(v)
            )),
        }
    };
    let message =
        text("message")?.ok_or("`message` is missing; every alert needs the text of its card")?;
    alerts::check_message(&message)?;
    let alert_type = match text("alertType")? {
        None => AlertType::Unspecified,
        Some(t) => AlertType::parse(&t).ok_or_else(|| {
            format!("alertType `{t}` is not one of Unspecified, PermanentWarning, Error")
        })?,
    };
    let mut alert = Alert::new(alert_type, message);
    if let Some(link) = text("link")? {
        alerts::check_link(&link)?;
        alert.link = Some(link);
    }
    if let Some(key) = map.get("key").filter(|k| !k.is_unit()) {
        alert.key = Some(sandbox::display_value(key)?);
    }
    if let Some(change) = map.get("mutation").filter(|m| !m.is_unit()) {
        match json::to_json(change, "mutation")? {
            Value::Object(m) => alert.mutation = Some(m),
            other => {
                return Err(format!(
                    "`mutation` must be a map, got {}",
                    sandbox::json_kind(&other)
                ))
            }
        }
    }
    if let Some(fields) = map.get("displayFields").filter(|f| !f.is_unit()) {
        let Some(fields) = fields.read_lock::<rhai::Array>() else {
            return Err("`displayFields` must be an array of #{ label: ..., value: ... }".into());
        };
        for (i, field) in fields.iter().enumerate() {
            let Some(field) = field.read_lock::<rhai::Map>() else {
                return Err(format!("displayFields[{i}] must be a map like #{{ label: \"TCE\", value: \"11,350\" }}"));
            };
            let label = field
                .get("label")
                .filter(|l| l.is_string())
                .map(|l| l.clone().into_string().unwrap_or_default());
            let label =
                label.ok_or_else(|| format!("displayFields[{i}].label must be a string"))?;
            alerts::check_label(&label)?;
            let value = sandbox::display_value(field.get("value").unwrap_or(&Dynamic::UNIT))?;
            alert.display_fields.push(DisplayField { label, value });
        }
    }
    Ok(alert)
}
