//! The workbench's API (`/admin/api/try`): an author's draft of a rule set, run on a
//! logged call or an estimate, answered beside what the live rules answer.
//!
//! `POST /admin/api/try` takes
//! `{"ruleset": "desk", "files": {"<path in the rule set>": "<source>" | null}, "call": "<call id>" | "estimate": {...}, "headers": {...}}`
//! (`null` deletes a file in the draft; `headers` only with `estimate`) and answers
//! `{"answer": [...], "runs": [...], "live": [...], "diff": {...}, ...}`: the draft's
//! alerts as IMOS gets them, its per-rule trace (as the log keeps it), the live rules'
//! alerts on the same input, and how they differ (`replay::compare`: added, removed,
//! changed, GUID changes called out). A draft that does not compile is a 400 whose
//! `problems` name file, line and column. Nothing is written: the live rules, the log
//! and the reuse caches are untouched.
//!
//! `GET /admin/api/rulesets` lists the rule sets (served or not, with their problems);
//! `GET /admin/api/rulesets/{name}` gives one's files as they are on disk, for the
//! editor; `POST /admin/api/check` compiles a draft (`{"ruleset", "files"}`) and answers
//! its problems (an empty list when it compiles), for errors shown as the author types.
//!
//! `POST /admin/api/try/recent` (`{"ruleset", "files", "calls": N}`, N at most
//! [`MAX_RECENT_CALLS`]) runs the draft and the live rules on the rule set's last N logged
//! calls and sums up how the answers would change.
//!
//! `POST /admin/api/test` (`{"ruleset", "files", "filter"}`) runs the draft's tests (the
//! live `tests/` with the draft's changes) through `rules::testrun`, the code
//! `lookout test` runs, on the server's rule pool.
//!
//! The draft is compiled by `rules::draft` (the live loader, on a copy) on a blocking
//! thread; both evaluations take a concurrency permit first, as a replay does, so the
//! Estimator is never kept waiting by an author.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::alerts::Wire;
use crate::http::{ApiError, AppState};
use crate::replay::{self, Change, StoreFacts};
use crate::rules::draft::{self, Changes};
use crate::rules::{self, CallInput, Evaluation, RuleSet};
use crate::store::RuleTrace;

/// Largest `/admin/api/try` body: a draft's changed files and an estimate.
pub const MAX_TRY_BYTES: usize = 8 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TryRequest {
    ruleset: String,
    #[serde(default)]
    files: Changes,
    #[serde(default)]
    call: Option<String>,
    #[serde(default)]
    estimate: Option<Box<RawValue>>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// A compile problem of the draft, where the author wrote it.
#[derive(Debug, Serialize)]
pub struct DraftProblem {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct Tried {
    pub ruleset: String,
    /// The draft's content hash (what `X-Lookout-Rules-Version` would say once published).
    pub version: String,
    pub live_version: String,
    /// The draft's alerts, as the Estimator would get them.
    pub answer: Vec<Wire>,
    /// The draft's per-rule trace, as the log keeps a call's.
    pub runs: Vec<RuleTrace>,
    /// The live rules' alerts on the same input.
    pub live: Vec<Wire>,
    pub diff: Diff,
    /// The draft's warnings (e.g. an `api_keys` variable not set here).
    pub warnings: Vec<String>,
    /// What to keep in mind about the input (values redacted in the logged call).
    pub caveats: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Diff {
    pub same: bool,
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    /// Alerts whose GUID changed: IMOS forgets an applied suggestion for them.
    pub guid_changed: usize,
    pub changes: Vec<Change>,
}

impl Diff {
    fn of(live: &[Wire], draft: &[Wire]) -> Diff {
        let changes = replay::compare(live, draft);
        let count = |f: fn(&Change) -> bool| changes.iter().filter(|c| f(c)).count();
        Diff {
            same: changes.is_empty(),
            added: count(|c| matches!(c, Change::Added { .. })),
            removed: count(|c| matches!(c, Change::Removed { .. })),
            changed: count(|c| matches!(c, Change::Changed { .. })),
            guid_changed: count(|c| {
                matches!(
                    c,
                    Change::Changed {
                        guid_changed: true,
                        ..
                    }
                )
            }),
            changes,
        }
    }
}

/// The live rule set a workbench request names, or a 404 that says what the workbench edits.
pub(super) fn live_set(state: &AppState, name: &str) -> Result<Arc<RuleSet>, ApiError> {
    state.registry.get(name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no rule set `{name}` is served here; the workbench drafts a rule set that is live"
        ))
    })
}

/// A rule set's files as they are on disk (`draft::read_files`, on a blocking thread).
pub(super) async fn files_on_disk(
    state: &AppState,
    name: &str,
) -> Result<BTreeMap<String, String>, ApiError> {
    let dir = state.registry.root().join(name);
    let (files, _) = tokio::task::spawn_blocking(move || draft::read_files(&dir))
        .await
        .map_err(|e| ApiError::Failed(format!("reading a rule set panicked: {e}")))?
        .map_err(|e| ApiError::Unavailable(format!("cannot read the rule set `{name}`: {e}")))?;
    Ok(files)
}

/// Every file of the live rule set `name` once `changes` are applied (a revision's or a
/// candidate's files).
pub(super) async fn files_after(
    state: &AppState,
    name: &str,
    changes: Changes,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut files = files_on_disk(state, name).await?;
    for (path, text) in changes {
        match text {
            Some(text) => files.insert(path, text),
            None => files.remove(&path),
        };
    }
    Ok(files)
}

/// The live rule set `name` with `changes` laid over it, compiled on a blocking thread.
async fn compile_draft(
    state: &AppState,
    name: &str,
    changes: Changes,
) -> Result<Result<draft::Draft, Vec<crate::rules::Problem>>, ApiError> {
    let dir = state.registry.root().join(name);
    let defaults = state.registry.defaults().clone();
    tokio::task::spawn_blocking(move || draft::compile(&dir, &changes, &defaults))
        .await
        .map_err(|e| ApiError::Failed(format!("compiling a draft panicked: {e}")))
}

/// One rule set, as the workbench lists it.
#[derive(Debug, Serialize)]
pub struct RuleSetEntry {
    pub name: String,
    pub description: String,
    /// The version served (`None`: not served, it never compiled).
    pub version: Option<String>,
    pub rules: Vec<String>,
    /// Its files on disk do not compile now (it serves its last good version, if any).
    pub problems: Vec<DraftProblem>,
}

pub(super) fn problems_of(
    list: &[crate::rules::Problem],
    root: &std::path::Path,
) -> Vec<DraftProblem> {
    list.iter()
        .map(|p| DraftProblem {
            file: p
                .path
                .strip_prefix(root)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| p.path.display().to_string()),
            line: p.line,
            column: p.column,
            message: p.message.clone(),
        })
        .collect()
}

/// `GET /admin/api/rulesets`.
pub async fn rulesets(State(state): State<AppState>) -> Response {
    let problems = state.registry.problems();
    let mut entries: Vec<RuleSetEntry> = state
        .registry
        .all()
        .iter()
        .map(|set| RuleSetEntry {
            name: set.name.clone(),
            description: set.settings.description.clone(),
            version: Some(set.version.clone()),
            rules: set.rules.iter().map(|r| r.id.clone()).collect(),
            problems: Vec::new(),
        })
        .collect();
    for (name, list) in &problems {
        let dir = state.registry.root().join(name);
        let listed = problems_of(list, &dir);
        match entries.iter_mut().find(|e| e.name == *name) {
            Some(entry) => entry.problems = listed,
            None => entries.push(RuleSetEntry {
                name: name.clone(),
                description: String::new(),
                version: None,
                rules: Vec::new(),
                problems: listed,
            }),
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Json(entries).into_response()
}

/// `GET /admin/api/rulesets/{name}`: the files on disk, for the editor.
pub async fn ruleset_files(
    State(state): State<AppState>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let served = state.registry.get(&name);
    let problems = state.registry.problems().remove(&name).unwrap_or_default();
    if served.is_none() && problems.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no rule set `{name}` in the rules folder"
        )));
    }
    let dir = state.registry.root().join(&name);
    let read_dir = dir.clone();
    let (files, left_out) = tokio::task::spawn_blocking(move || draft::read_files(&read_dir))
        .await
        .map_err(|e| ApiError::Failed(format!("reading a rule set panicked: {e}")))?
        .map_err(|e| ApiError::Unavailable(format!("cannot read the rule set `{name}`: {e}")))?;
    Ok(Json(serde_json::json!({
        "name": name,
        "version": served.as_ref().map(|s| s.version.clone()),
        "files": files,
        "left_out": left_out,
        "problems": problems_of(&problems, &dir),
        "warnings": served.map(|s| s.warnings.iter().map(ToString::to_string).collect::<Vec<_>>()).unwrap_or_default(),
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    ruleset: String,
    #[serde(default)]
    files: Changes,
}

/// `POST /admin/api/check`: the draft's problems (none when it compiles), its rules
/// and warnings; nothing runs.
pub async fn check(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request: CheckRequest = crate::nesting::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the request is not a check request ({e}); send {{\"ruleset\": ..., \"files\": {{\"<path>\": \"<source>\"}}}}"
        ))
    })?;
    if state.registry.get(&request.ruleset).is_none()
        && !state.registry.problems().contains_key(&request.ruleset)
    {
        return Err(ApiError::NotFound(format!(
            "no rule set `{}` in the rules folder",
            request.ruleset
        )));
    }
    let compiled = compile_draft(&state, &request.ruleset, request.files).await?;
    let answer = match compiled.map(|d| d.set) {
        Ok(set) => serde_json::json!({
            "problems": [],
            "version": set.version,
            "rules": set.rules.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
            "warnings": set.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }),
        Err(problems) => serde_json::json!({
            "problems": problems_of(&problems, std::path::Path::new("")),
            "version": null,
            "rules": [],
            "warnings": [],
        }),
    };
    Ok(Json(answer).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    ruleset: String,
    #[serde(default)]
    files: Changes,
    #[serde(default)]
    filter: Option<String>,
}

/// One test's result, as `lookout test` prints it.
#[derive(Debug, Serialize)]
pub struct TestResult {
    pub name: String,
    pub description: Option<String>,
    pub ok: bool,
    pub failures: Vec<String>,
    pub duration_ms: f64,
}

/// `POST /admin/api/test`: the draft's tests, each `ok` or its failures.
pub async fn test_draft(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let outcome = async {
        let request: TestRequest = crate::nesting::from_slice(&body).map_err(|e| {
            ApiError::BadRequest(format!(
                "the request is not a test request ({e}); send {{\"ruleset\": ..., \"files\": {{\"<path>\": \"<source>\"}}, \"filter\": \"<part of a test name>\"}}"
            ))
        })?;
        let live = live_set(&state, &request.ruleset)?;
        let _permit = state.permits.try_acquire().map_err(|_| {
            ApiError::Unavailable(
                "lookout is busy answering the Estimator; run the tests again in a second".into(),
            )
        })?;
        let dir = state.registry.root().join(&request.ruleset);
        let defaults = state.registry.defaults().clone();
        let pool = state.pool.clone();
        let runtime = tokio::runtime::Handle::current();
        let span = tracing::Span::current();
        let ran = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let draft = draft::compile(&dir, &request.files, &defaults)?;
            let folder = draft.folder().to_path_buf();
            let set = Arc::new(draft.set);
            let results = draft_tests(&pool, &runtime, &set, &folder, request.filter.as_deref())
            .map_err(|e| {
                vec![crate::rules::Problem::new(
                    std::path::Path::new("tests"),
                    format!("{e:#}"),
                )]
            })?;
            Ok::<_, Vec<crate::rules::Problem>>((set.version.clone(), live.version.clone(), results, folder))
        })
        .await
        .map_err(|e| ApiError::Failed(format!("running a draft's tests panicked: {e}")))?;
        ran.map_err(|problems| Refusal::Draft(problems_of(&problems, std::path::Path::new(""))))
    }
    .await;
    let (version, live_version, results, folder) = match outcome {
        Ok(ran) => ran,
        Err(Refusal::Draft(problems)) => return draft_problems(problems),
        Err(Refusal::Api(error)) => return error.into_response(),
    };
    // Paths in failures name the draft's private copy: say them as the rule set's.
    let here = format!("{}/", folder.display());
    let tests: Vec<TestResult> = results
        .into_iter()
        .map(|(ran, failures)| TestResult {
            name: ran.name,
            description: ran.file.and_then(|f| f.description),
            ok: failures.is_empty(),
            failures: failures.into_iter().map(|f| f.replace(&here, "")).collect(),
            duration_ms: ran.duration.as_secs_f64() * 1e3,
        })
        .collect();
    let failed = tests.iter().filter(|t| !t.ok).count();
    Json(serde_json::json!({
        "version": version,
        "live_version": live_version,
        "passed": tests.len() - failed,
        "failed": failed,
        "tests": tests,
    }))
    .into_response()
}

/// Runs the tests in `folder` (a draft's) against `set` with the code `lookout test`
/// runs, each call evaluated on the server's rule pool. Call it on a blocking thread.
pub(super) fn draft_tests(
    pool: &Arc<rules::Pool>,
    runtime: &tokio::runtime::Handle,
    set: &Arc<RuleSet>,
    folder: &std::path::Path,
    filter: Option<&str>,
) -> anyhow::Result<Vec<(crate::rules::testrun::Ran, Vec<String>)>> {
    let evaluate = |set: &Arc<RuleSet>, estimate, headers: &[(String, String)], facts, budget| {
        for (name, value) in headers {
            axum::http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| anyhow::anyhow!("`{name}` is not a valid header name"))?;
            HeaderValue::from_str(value).map_err(|_| {
                anyhow::anyhow!("the value of header `{name}` is not valid header text")
            })?;
        }
        let input = Arc::new(CallInput::new(
            set,
            crate::ids::new_id(),
            SystemTime::now(),
            headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
            Arc::new(estimate),
            facts,
        ));
        Ok(runtime.block_on(rules::evaluate(
            pool,
            set.clone(),
            input,
            Instant::now() + budget,
            (),
        )))
    };
    crate::rules::testrun::run_set(&evaluate, set, folder, filter)
}

/// `GET /admin/api/helpers`: the helpers as the manual describes them, for the editor.
pub async fn helpers() -> Response {
    Json(crate::rules::helpers::catalog::catalog()).into_response()
}

/// Most logged calls one `try/recent` runs the draft on.
pub const MAX_RECENT_CALLS: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TryRecent {
    ruleset: String,
    #[serde(default)]
    files: Changes,
    calls: usize,
}

/// `POST /admin/api/try/recent`: the draft against the live rules on the last N calls.
pub async fn try_recent(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    match recent(&state, &body).await {
        Ok(summary) => Json(summary).into_response(),
        Err(Refusal::Draft(problems)) => draft_problems(problems),
        Err(Refusal::Api(error)) => error.into_response(),
    }
}

async fn recent(state: &AppState, body: &[u8]) -> Result<serde_json::Value, Refusal> {
    let request: TryRecent = crate::nesting::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the request does not read ({e}); send {{\"ruleset\": ..., \"files\": {{...}}, \"calls\": <how many of the last calls, 1 to {MAX_RECENT_CALLS}>}}"
        ))
    })?;
    if request.calls == 0 || request.calls > MAX_RECENT_CALLS {
        return Err(ApiError::BadRequest(format!(
            "\"calls\" is how many of the last logged calls to run on: 1 to {MAX_RECENT_CALLS}"
        ))
        .into());
    }
    let live = live_set(state, &request.ruleset)?;
    let compiled = compile_draft(state, &request.ruleset, request.files).await?;
    let draft =
        Arc::new(compiled.map(|d| d.set).map_err(|problems| {
            Refusal::Draft(problems_of(&problems, std::path::Path::new("")))
        })?);
    let page = super::list_calls(
        state,
        crate::store::Query {
            ruleset: Some(request.ruleset.clone()),
            status: Some(200),
            limit: request.calls,
            ..crate::store::Query::default()
        },
    )
    .await?;
    let store = state.recorder.store().clone();
    let (mut compared, mut skipped, mut draft_failures) = (0usize, Vec::new(), 0usize);
    let (mut added, mut removed, mut changed, mut guid_changed) = (0, 0, 0, 0);
    let mut changed_calls = Vec::new();
    for summary in page.calls {
        let call = super::load_call(state, &summary.id).await?;
        let inputs = replay::call_input(&draft, &call, Some(store.clone())).and_then(|(d, _)| {
            replay::call_input(&live, &call, Some(store.clone())).map(|(l, _)| (d, l))
        });
        let (draft_input, live_input) = match inputs {
            Ok(inputs) => inputs,
            Err(why) => {
                skipped.push(format!("{}: {why}", call.id));
                continue;
            }
        };
        // One call at a time, each waiting its turn behind the Estimator's.
        let (draft_run, live_run) =
            side_by_side(state, (&draft, draft_input), (&live, live_input)).await?;
        compared += 1;
        draft_failures += draft_run
            .runs
            .iter()
            .filter(|r| r.outcome != crate::rules::Outcome::Ok)
            .count();
        let diff = Diff::of(&alerts(&live_run), &alerts(&draft_run));
        if !diff.same {
            added += diff.added;
            removed += diff.removed;
            changed += diff.changed;
            guid_changed += diff.guid_changed;
            changed_calls.push(serde_json::json!({
                "id": call.id, "estimate_id": call.estimate_id,
                "added": diff.added, "removed": diff.removed,
                "changed": diff.changed, "guid_changed": diff.guid_changed,
            }));
        }
    }
    Ok(serde_json::json!({
        "ruleset": draft.name,
        "version": draft.version,
        "live_version": live.version,
        "compared": compared,
        "answers_changed": changed_calls.len(),
        "alerts_added": added,
        "alerts_removed": removed,
        "alerts_changed": changed,
        "guid_changed": guid_changed,
        "draft_rule_failures": draft_failures,
        "calls": changed_calls,
        "skipped": skipped,
    }))
}

/// `POST /admin/api/try`.
pub async fn try_draft(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    match run(&state, &body).await {
        Ok(tried) => Json(tried).into_response(),
        Err(Refusal::Draft(problems)) => draft_problems(problems),
        Err(Refusal::Api(error)) => error.into_response(),
    }
}

enum Refusal {
    Api(ApiError),
    Draft(Vec<DraftProblem>),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Refusal {
        Refusal::Api(e)
    }
}

async fn run(state: &AppState, body: &[u8]) -> Result<Tried, Refusal> {
    let request: TryRequest = crate::nesting::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the request is not a try request ({e}); send {{\"ruleset\": ..., \"files\": {{\"<path>\": \"<source>\"}}, \"call\": \"<call id>\"}} or \"estimate\": {{...}} instead of \"call\""
        ))
    })?;
    let live = live_set(state, &request.ruleset)?;
    if !request.headers.is_empty() && request.call.is_some() {
        return Err(ApiError::BadRequest(
            "\"headers\" go with \"estimate\"; a logged call brings its own".into(),
        )
        .into());
    }

    // The draft, compiled on a blocking thread like any load.
    let compiled = compile_draft(state, &request.ruleset, request.files).await?;
    let draft = Arc::new(compiled.map(|d| d.set).map_err(|problems| {
        Refusal::Draft(
            problems
                .into_iter()
                .map(|p| DraftProblem {
                    file: p.path.display().to_string(),
                    line: p.line,
                    column: p.column,
                    message: p.message,
                })
                .collect(),
        )
    })?);

    // The same input for both: a logged call as it arrived, or the given estimate now.
    let store = state.recorder.store().clone();
    let (draft_input, live_input, caveats) = match (&request.call, &request.estimate) {
        (Some(id), None) => {
            let call = super::load_call(state, id).await?;
            let replayable = |set: &RuleSet| {
                replay::call_input(set, &call, Some(store.clone()))
                    .map_err(|e| ApiError::BadRequest(e.to_string()))
            };
            let (draft_input, caveats) = replayable(&draft)?;
            let (live_input, _) = replayable(&live)?;
            (draft_input, live_input, caveats)
        }
        (None, Some(estimate)) => {
            let doc = crate::http::hooks::parse_estimate(estimate.get().as_bytes())
                .map_err(|e| ApiError::BadRequest(format!("\"estimate\": {e}")))?;
            let doc = Arc::new(doc);
            let id = uuid::Uuid::now_v7();
            let now = SystemTime::now();
            let input = |set: &RuleSet| {
                Arc::new(CallInput::new(
                    set,
                    id,
                    now,
                    request
                        .headers
                        .iter()
                        .map(|(n, v)| (n.as_str(), v.as_bytes())),
                    doc.clone(),
                    Some(Arc::new(StoreFacts {
                        store: store.clone(),
                        as_of: None,
                    }) as Arc<dyn rules::facts::FactSource>),
                ))
            };
            (input(&draft), input(&live), Vec::new())
        }
        _ => {
            return Err(ApiError::BadRequest(
                "give either \"call\" (a logged call's id) or \"estimate\" (the estimate itself)"
                    .into(),
            )
            .into())
        }
    };

    let (draft_run, live_run) =
        side_by_side(state, (&draft, draft_input), (&live, live_input)).await?;
    let answer = alerts(&draft_run);
    let live_answer = alerts(&live_run);
    Ok(Tried {
        ruleset: draft.name.clone(),
        version: draft.version.clone(),
        live_version: live.version.clone(),
        diff: Diff::of(&live_answer, &answer),
        answer,
        live: live_answer,
        runs: crate::http::hooks::traces(draft_run.runs, draft_run.response.alerts),
        warnings: draft.warnings.iter().map(ToString::to_string).collect(),
        caveats,
    })
}

/// The draft and the live rules on their inputs, one after the other, under one
/// concurrency permit (a busy server answers 503, never keeping the Estimator waiting).
async fn side_by_side(
    state: &AppState,
    (draft, draft_input): (&Arc<RuleSet>, Arc<CallInput>),
    (live, live_input): (&Arc<RuleSet>, Arc<CallInput>),
) -> Result<(Evaluation, Evaluation), ApiError> {
    let _permit = state.permits.try_acquire().map_err(|_| {
        ApiError::Unavailable(
            "lookout is busy answering the Estimator; try the draft again in a second".into(),
        )
    })?;
    let draft_run = evaluate(state, draft.clone(), draft_input).await;
    let live_run = evaluate(state, live.clone(), live_input).await;
    Ok((draft_run, live_run))
}

/// An evaluation's alerts, as the Estimator gets them.
fn alerts(evaluation: &Evaluation) -> Vec<Wire> {
    evaluation
        .response
        .alerts
        .iter()
        .map(|s| s.alert.clone())
        .collect()
}

/// Both sides run like a live call, under the rule set's own budget; a draft's run is
/// never kept for reuse (its cache is its own and dropped with it).
async fn evaluate(state: &AppState, set: Arc<RuleSet>, input: Arc<CallInput>) -> Evaluation {
    let deadline = Instant::now() + set.settings.budget - set.settings.margin;
    rules::evaluate(&state.pool, set, input, deadline, ()).await
}

/// 400 with every problem of the draft, each naming file, line and column.
pub(super) fn draft_problems(problems: Vec<DraftProblem>) -> Response {
    let listed: Vec<String> = problems
        .iter()
        .map(|p| match (p.line, p.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}: {}", p.file, p.message),
            (Some(l), None) => format!("{}:{l}: {}", p.file, p.message),
            _ if p.file.is_empty() => p.message.clone(),
            _ => format!("{}: {}", p.file, p.message),
        })
        .collect();
    let body = serde_json::json!({
        "error": format!("the draft does not compile: {}", listed.join("; ")),
        "problems": problems,
    });
    let mut response = (StatusCode::BAD_REQUEST, Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
