//! The fleet in the viewer: which revision each instance serves, and candidates run in
//! the shadow of live calls (started from a draft or files, summarised, the calls
//! behind each number listed, promoted or discarded).
//!
//! | route | role | answer |
//! |---|---|---|
//! | `GET /admin/fleet` | author | the page: instances, current revisions, candidates |
//! | `GET /admin/fleet/candidates/{id}?kind=` | author | the page: one candidate's calls of a kind |
//! | `GET /admin/api/instances` | author | every instance that reported: what it serves, when it was seen, its problems; the current revisions |
//! | `GET /admin/api/candidates?ruleset=` | author | candidates (a rule set's, ended ones too; or every running one) with their summaries |
//! | `GET /admin/api/candidates/{id}` | author | one candidate, its summary and files |
//! | `GET /admin/api/candidates/{id}/calls?kind=&limit=` | author | the calls behind one number of the summary |
//! | `POST /admin/api/candidates` | publisher | `{"ruleset", "draft": id \| "files": {...}, "message"}`: compiled, then run beside the live revision |
//! | `POST /admin/api/candidates/{id}/promote` | publisher | `{"message"?}`: published as the rule set's revision (compiled and tested as any publish) |
//! | `POST /admin/api/candidates/{id}/discard` | publisher | stopped |
//! | `POST /admin/api/rulesets/{name}/retire` | publisher | `{"message"}`: served by no instance following the store until published again (409 on an instance serving its rules folder) |
//! | `POST /admin/fleet/rulesets/{name}/retire` | publisher | the page's form (`message`, `csrf`), then back to the page |

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::auth::Auth;
use super::workbench::files_on_disk;
use super::AsPage;
use crate::http::{ApiError, AppState};
use crate::rules::draft::{self, Changes};
use crate::store::{Candidate, Instance, ShadowKind, ShadowSummary};

/// An instance not heard from for this long is shown as gone.
const GONE_AFTER_US: i64 = 30_000_000;

#[derive(Serialize)]
struct InstanceView {
    #[serde(flatten)]
    instance: Instance,
    /// Heard from within the last 30 s.
    up: bool,
    /// Serves every current revision and no retired rule set (always true with the rules
    /// folder).
    current: bool,
}

async fn instances_now(state: &AppState) -> Result<Vec<InstanceView>, ApiError> {
    let store = state.recorder.store().clone();
    let instances = super::blocking(move || store.instances()).await?;
    let heads = state.fleet.heads();
    let retired = state.fleet.retired();
    let now = crate::clock::now_micros();
    Ok(instances
        .into_iter()
        .map(|instance| {
            let current = heads.iter().all(|(name, head)| {
                instance.serving.get(name).and_then(|v| v.as_str()) == Some(head.version.as_str())
            }) && retired
                .iter()
                .all(|name| instance.serving.get(name).is_none());
            InstanceView {
                up: now - instance.seen_at < GONE_AFTER_US,
                current,
                instance,
            }
        })
        .collect())
}

/// `GET /admin/api/instances`.
pub async fn instances(State(state): State<AppState>) -> Result<Response, ApiError> {
    let instances = instances_now(&state).await?;
    let heads: BTreeMap<String, serde_json::Value> = state
        .fleet
        .heads()
        .into_iter()
        .map(|(name, h)| {
            (
                name,
                serde_json::json!({"version": h.version, "id": h.id, "action": h.action, "author": h.author, "at": h.at, "message": h.message}),
            )
        })
        .collect();
    Ok(Json(serde_json::json!({
        "rules_from": if state.fleet.serves_store() { "store" } else { "folder" },
        "current_revisions": heads,
        "retired": state.fleet.retired(),
        "instances": instances,
    }))
    .into_response())
}

#[derive(Serialize)]
struct CandidateView {
    #[serde(flatten)]
    candidate: Candidate,
    summary: ShadowSummary,
    /// Why this instance cannot run it (it does not compile here), if so.
    problem: Option<String>,
}

async fn with_summaries(
    state: &AppState,
    candidates: Vec<Candidate>,
) -> Result<Vec<CandidateView>, ApiError> {
    let failed = state.fleet.shadow().failed();
    let store = state.recorder.store().clone();
    let summaries = super::blocking({
        let ids: Vec<String> = candidates.iter().map(|c| c.id.clone()).collect();
        move || {
            ids.iter()
                .map(|id| store.shadow_summary(id))
                .collect::<Result<Vec<_>, _>>()
        }
    })
    .await?;
    Ok(candidates
        .into_iter()
        .zip(summaries)
        .map(|(mut candidate, summary)| {
            candidate.files = serde_json::Value::Null;
            CandidateView {
                problem: failed.get(&candidate.id).cloned(),
                candidate,
                summary,
            }
        })
        .collect())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CandidateFilter {
    #[serde(default)]
    ruleset: Option<String>,
}

impl crate::http::QueryForm for CandidateFilter {
    const FORM: &'static str = "?ruleset=<name> (or nothing: every running candidate)";
}

/// `GET /admin/api/candidates`.
pub async fn candidates(
    State(state): State<AppState>,
    crate::http::Query(filter): crate::http::Query<CandidateFilter>,
) -> Result<Response, ApiError> {
    let store = state.recorder.store().clone();
    let ruleset = filter.ruleset.clone();
    let list =
        super::blocking(move || store.candidates(ruleset.as_deref(), ruleset.is_none())).await?;
    Ok(Json(with_summaries(&state, list).await?).into_response())
}

async fn load_candidate(state: &AppState, id: &str) -> Result<Candidate, ApiError> {
    if !crate::ids::valid_id(id) {
        return Err(ApiError::NotFound(format!(
            "no candidate {}",
            crate::http::quoted(id)
        )));
    }
    let (store, key) = (state.recorder.store().clone(), id.to_string());
    super::blocking(move || store.candidate(&key))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no candidate {id}")))
}

/// `GET /admin/api/candidates/{id}`.
pub async fn candidate(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let found = load_candidate(&state, &id).await?;
    let files = found.files.clone();
    let mut view = with_summaries(&state, vec![found]).await?;
    let mut body = serde_json::to_value(view.remove(0)).expect("JSON");
    body["files"] = files;
    Ok(Json(body).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallsFilter {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

impl crate::http::QueryForm for CallsFilter {
    const FORM: &'static str =
        "?kind=all|changed|added|removed|altered|guid_changes|errors|timeouts&limit=<1..500>";
}

fn kind_of(filter: &CallsFilter) -> Result<ShadowKind, ApiError> {
    let text = filter.kind.as_deref().unwrap_or("all");
    ShadowKind::parse(text).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "kind={} is not one of {}",
            crate::http::quoted(text),
            ShadowKind::ALL.map(|k| k.as_str()).join(", ")
        ))
    })
}

/// `GET /admin/api/candidates/{id}/calls`.
pub async fn candidate_calls(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    crate::http::Query(filter): crate::http::Query<CallsFilter>,
) -> Result<Response, ApiError> {
    let kind = kind_of(&filter)?;
    let limit = filter.limit.unwrap_or(100).clamp(1, 500);
    let found = load_candidate(&state, &id).await?;
    let store = state.recorder.store().clone();
    let calls = super::blocking(move || store.shadow_calls(&found.id, kind, limit)).await?;
    Ok(Json(serde_json::json!({ "kind": kind.as_str(), "calls": calls })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    ruleset: String,
    #[serde(default)]
    draft: Option<String>,
    #[serde(default)]
    files: Option<Changes>,
    message: String,
}

/// `POST /admin/api/candidates`: a draft (or changed files) run beside the live rule set.
pub async fn start(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request: StartRequest = crate::nesting::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the request does not read ({e}); send {{\"ruleset\": ..., \"draft\": \"<draft id>\" (or \"files\": {{...}}), \"message\": \"why\"}}"
        ))
    })?;
    let message = request.message.trim().to_string();
    if message.is_empty() || message.len() > 2000 {
        return Err(ApiError::BadRequest(
            "a candidate needs a \"message\" saying what it tries (at most 2,000 characters)"
                .into(),
        ));
    }
    let changes: Changes = match (request.draft, request.files) {
        (Some(id), None) => {
            let (store, key) = (state.recorder.store().clone(), id.clone());
            let draft = super::blocking(move || store.draft(&key))
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("no draft {id}")))?;
            if draft.ruleset != request.ruleset {
                return Err(ApiError::BadRequest(format!(
                    "draft {id} is of rule set `{}`, not `{}`",
                    draft.ruleset, request.ruleset
                )));
            }
            serde_json::from_value(draft.files)
                .map_err(|e| ApiError::Failed(format!("draft {id} does not read: {e}")))?
        }
        (None, Some(files)) => files,
        _ => {
            return Err(ApiError::BadRequest(
                "give either \"draft\" (a saved draft's id) or \"files\"".into(),
            ))
        }
    };
    let live = super::workbench::live_set(&state, &request.ruleset)?;
    let dir = state.registry.root().join(&request.ruleset);
    let defaults = state.registry.defaults().clone();
    let checked = changes.clone();
    let compiled = tokio::task::spawn_blocking(move || draft::compile(&dir, &checked, &defaults))
        .await
        .map_err(|e| ApiError::Failed(format!("compiling a candidate panicked: {e}")))?;
    let version = match compiled {
        Ok(d) => d.set.version.clone(),
        Err(problems) => {
            let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            return Err(ApiError::BadRequest(format!(
                "the candidate does not compile: {}",
                list.join("; ")
            )));
        }
    };
    if version == live.version {
        return Err(ApiError::Conflict(format!(
            "the candidate is the live version {version}: nothing to compare"
        )));
    }
    let files = super::workbench::files_after(&state, &request.ruleset, changes).await?;
    let candidate = Candidate {
        id: crate::ids::new_id().to_string(),
        ruleset: request.ruleset.clone(),
        version,
        author: auth.user().name.clone(),
        message,
        files: serde_json::to_value(&files).expect("strings are JSON"),
        started_at: crate::clock::now_micros(),
        ended_at: None,
        outcome: None,
    };
    let (store, fleet, kept) = (
        state.recorder.store().clone(),
        state.fleet.clone(),
        candidate.clone(),
    );
    super::blocking(move || {
        store.start_candidate(&kept)?;
        fleet.sync(false)
    })
    .await?;
    tracing::info!(ruleset = %candidate.ruleset, candidate = %candidate.id, version = %candidate.version, user = %candidate.author, "shadow: candidate started");
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "id": candidate.id,
            "ruleset": candidate.ruleset,
            "version": candidate.version,
            "live_version": live.version,
        })),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromoteRequest {
    #[serde(default)]
    message: Option<String>,
}

/// `POST /admin/api/candidates/{id}/promote`: its files published as any publish is
/// (compiled, its tests passing), then the candidate ends as promoted.
pub async fn promote(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> Response {
    let outcome = async {
        let request: PromoteRequest = if body.is_empty() {
            PromoteRequest::default()
        } else {
            crate::nesting::from_slice(&body).map_err(|e| {
                ApiError::BadRequest(format!(
                    "the request does not read ({e}); send {{\"message\": \"why\"}} or nothing"
                ))
            })?
        };
        let found = load_candidate(&state, &id).await?;
        if found.ended_at.is_some() {
            return Err(ApiError::Conflict(format!(
                "candidate {id} ended already ({})",
                found.outcome.as_deref().unwrap_or("ended")
            )));
        }
        let files: BTreeMap<String, String> = serde_json::from_value(found.files.clone())
            .map_err(|e| ApiError::Failed(format!("candidate {id} does not read: {e}")))?;
        let now = files_on_disk(&state, &found.ruleset).await?;
        let mut changes: Changes = now.keys().map(|path| (path.clone(), None)).collect();
        for (path, text) in files {
            changes.insert(path, Some(text));
        }
        let message = request
            .message
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| format!("promoted candidate {}: {}", found.id, found.message));
        Ok((found, changes, message))
    }
    .await;
    let (found, changes, message) = match outcome {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let answer = super::publish::go_live(
        &state,
        &auth,
        &found.ruleset,
        changes,
        None,
        None,
        message,
        "promote",
    )
    .await;
    if answer.status() == StatusCode::OK {
        let store = state.recorder.store().clone();
        let fleet = state.fleet.clone();
        let ended = super::blocking(move || {
            store.end_candidate(&found.id, "promoted", crate::clock::now_micros())?;
            fleet.sync(false)
        })
        .await;
        if let Err(e) = ended {
            return e.into_response();
        }
    }
    answer
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetireRequest {
    message: String,
    /// The page's form carries its CSRF token as a field (checked by `auth::require`
    /// before this reads the form; accepted here only so the form deserializes).
    #[serde(default)]
    #[allow(dead_code)]
    csrf: Option<String>,
}

/// `POST /admin/api/rulesets/{name}/retire`: a revision that retires the rule set, after
/// which no instance of the fleet serves it (`fleet::retire`).
pub async fn retire(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    UrlPath(name): UrlPath<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request: RetireRequest = crate::nesting::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the request does not read ({e}); send {{\"message\": \"why\"}}"
        ))
    })?;
    retire_as(&state, &auth, name, request).await
}

async fn retire_as(
    state: &AppState,
    auth: &Auth,
    name: String,
    request: RetireRequest,
) -> Result<Response, ApiError> {
    if !state.fleet.serves_store() {
        return Err(ApiError::Conflict(format!(
            "this instance serves its rules folder ({}), not a fleet's revisions: to stop serving `{name}`, remove its folder",
            state.config.rules.display()
        )));
    }
    let message = request.message.trim().to_string();
    if message.is_empty() || message.len() > 2000 {
        return Err(ApiError::BadRequest(
            "retiring a rule set needs a \"message\" saying why (at most 2,000 characters)".into(),
        ));
    }
    let (store, fleet, who) = (
        state.recorder.store().clone(),
        state.fleet.clone(),
        auth.user().name.clone(),
    );
    let outcome = super::blocking(move || {
        let outcome = crate::fleet::retire(&store, &name, &who, &message);
        // Stored: followers (this one included) catch up within a second even when this
        // pass cannot read the store now.
        if outcome.is_ok() {
            if let Err(e) = fleet.sync(false) {
                tracing::warn!("fleet: retired, but this instance could not follow at once: {e}");
            }
        }
        Ok(outcome)
    })
    .await?;
    let retired = match outcome {
        Ok(retired) => retired,
        Err(e @ crate::fleet::RetireError::NotServed(_)) => {
            return Err(ApiError::Conflict(e.to_string()))
        }
        Err(crate::fleet::RetireError::Store(e)) => return Err(e.into()),
    };
    Ok(Json(serde_json::json!({
        "ruleset": retired.ruleset,
        "revision": retired.id,
        "was": retired.previous_version,
    }))
    .into_response())
}

/// `POST /admin/fleet/rulesets/{name}/retire` (the page's form).
pub async fn retire_form(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    UrlPath(name): UrlPath<String>,
    form: Result<axum::Form<RetireRequest>, axum::extract::rejection::FormRejection>,
) -> Response {
    let answer = match form {
        Ok(axum::Form(request)) => retire_as(&state, &auth, name, request).await,
        Err(e) => Err(ApiError::BadRequest(format!(
            "the form does not read ({e}); it needs a message saying why"
        ))),
    };
    after_form(answer.unwrap_or_else(|e| e.into_response())).await
}

/// `POST /admin/api/candidates/{id}/discard`.
pub async fn discard(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let found = load_candidate(&state, &id).await?;
    let (store, fleet) = (state.recorder.store().clone(), state.fleet.clone());
    let key = found.id.clone();
    let ended = super::blocking(move || {
        let ended = store.end_candidate(&key, "discarded", crate::clock::now_micros())?;
        fleet.sync(false)?;
        Ok(ended)
    })
    .await?;
    if !ended {
        return Err(ApiError::Conflict(format!(
            "candidate {id} ended already ({})",
            found.outcome.as_deref().unwrap_or("ended")
        )));
    }
    tracing::info!(candidate = %id, user = %auth.user().name, "shadow: candidate discarded");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Template)]
#[template(path = "admin/fleet.html")]
struct FleetPage {
    csrf: String,
    who: String,
    banner: Option<String>,
    rules_banner: Option<String>,
    rules_from: String,
    /// Promote and discard buttons (the publisher role).
    can_publish: bool,
    heads: Vec<(String, String, String)>,
    retired: Vec<String>,
    instances: Vec<InstanceRow>,
    candidates: Vec<CandidateRow>,
}

struct InstanceRow {
    name: String,
    state: String,
    serving: String,
    seen: String,
    problems: String,
}

struct CandidateRow {
    id: String,
    ruleset: String,
    version: String,
    by: String,
    message: String,
    problem: String,
    /// (label, count, kind) for each number, its calls one click away.
    numbers: Vec<(String, u64, String)>,
    times: String,
}

fn when(us: i64) -> String {
    crate::clock::utc(us)
}

/// `GET /admin/fleet`.
pub async fn page(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
) -> Result<Response, AsPage> {
    let instances = instances_now(&state).await?;
    let store = state.recorder.store().clone();
    let running = super::blocking(move || store.candidates(None, true)).await?;
    let candidates = with_summaries(&state, running).await?;
    let page = FleetPage {
        csrf: auth.csrf().to_string(),
        who: super::pages::who(&auth),
        banner: super::pages::banner(&state),
        rules_banner: super::pages::rules_banner(&state),
        can_publish: auth.user().role >= super::auth::Role::Publisher,
        rules_from: if state.fleet.serves_store() {
            "the newest revision of each rule set in the shared store".into()
        } else {
            format!("the rules folder {}", state.config.rules.display())
        },
        heads: state
            .fleet
            .heads()
            .into_values()
            .map(|h| {
                (
                    h.ruleset,
                    h.version,
                    format!("{} by {} at {}: {}", h.action, h.author, when(h.at), h.message),
                )
            })
            .collect(),
        retired: state.fleet.retired(),
        instances: instances
            .into_iter()
            .map(|i| InstanceRow {
                state: match (i.up, i.current) {
                    (false, _) => "gone".into(),
                    (true, true) => "current".into(),
                    (true, false) => "NOT CURRENT".into(),
                },
                serving: i
                    .instance
                    .serving
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or("?")))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default(),
                seen: when(i.instance.seen_at),
                problems: i.instance.problems.join("; "),
                name: i.instance.name,
            })
            .collect(),
        candidates: candidates
            .into_iter()
            .map(|c| {
                let s = &c.summary;
                CandidateRow {
                    numbers: vec![
                        ("calls compared".into(), s.calls, "all".into()),
                        ("answers changed".into(), s.changed, "changed".into()),
                        ("alerts added".into(), s.added, "added".into()),
                        ("alerts removed".into(), s.removed, "removed".into()),
                        ("alerts changed".into(), s.altered, "altered".into()),
                        ("GUID changes".into(), s.guid_changes, "guid_changes".into()),
                        ("rule errors".into(), s.errors, "errors".into()),
                        ("timeouts".into(), s.timeouts, "timeouts".into()),
                    ],
                    times: format!(
                        "live {:.1} ms a call (arrival to answer); candidate {:.1} ms (max {:.1} ms)",
                        s.live_us_mean as f64 / 1e3,
                        s.candidate_us_mean as f64 / 1e3,
                        s.candidate_us_max as f64 / 1e3
                    ),
                    id: c.candidate.id,
                    ruleset: c.candidate.ruleset,
                    version: c.candidate.version,
                    by: format!("{} at {}", c.candidate.author, when(c.candidate.started_at)),
                    message: c.candidate.message,
                    problem: c.problem.unwrap_or_default(),
                }
            })
            .collect(),
    };
    Ok(super::pages::html(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "admin/candidate.html")]
struct CandidateCallsPage {
    csrf: String,
    who: String,
    banner: Option<String>,
    rules_banner: Option<String>,
    id: String,
    ruleset: String,
    kind: String,
    /// (call id, what changed, times, the candidate's alerts).
    calls: Vec<(String, String, String, String)>,
}

/// A candidate's answer as one line: each alert's type and message.
fn alerts_line(answer: &str) -> String {
    match serde_json::from_str::<Vec<crate::alerts::Wire>>(answer) {
        Ok(alerts) if alerts.is_empty() => "no alerts".into(),
        Ok(alerts) => alerts
            .iter()
            .map(|a| format!("{}: {}", a.alert_type.as_str(), a.message))
            .collect::<Vec<_>>()
            .join(" · "),
        Err(_) if answer.is_empty() => "(not kept: the body could not be read to redact it)".into(),
        Err(_) => "(not a list of alerts)".into(),
    }
}

/// `GET /admin/fleet/candidates/{id}?kind=`: the calls behind one number.
pub async fn calls_page(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    UrlPath(id): UrlPath<String>,
    crate::http::Query(filter): crate::http::Query<CallsFilter>,
) -> Result<Response, AsPage> {
    let kind = kind_of(&filter)?;
    let found = load_candidate(&state, &id).await?;
    let store = state.recorder.store().clone();
    let key = found.id.clone();
    let calls = super::blocking(move || store.shadow_calls(&key, kind, 200)).await?;
    let page = CandidateCallsPage {
        csrf: auth.csrf().to_string(),
        who: super::pages::who(&auth),
        banner: super::pages::banner(&state),
        rules_banner: super::pages::rules_banner(&state),
        id: found.id,
        ruleset: found.ruleset,
        kind: kind.as_str().into(),
        calls: calls
            .into_iter()
            .map(|c| {
                (
                    c.call_id,
                    format!(
                        "+{} −{} ~{}{}{}",
                        c.added,
                        c.removed,
                        c.altered,
                        if c.guid_changes > 0 {
                            format!(", {} GUID changes", c.guid_changes)
                        } else {
                            String::new()
                        },
                        if c.errors + c.timeouts > 0 {
                            format!(", {} errors, {} timeouts", c.errors, c.timeouts)
                        } else {
                            String::new()
                        }
                    ),
                    format!(
                        "live {:.1} ms, candidate {:.1} ms",
                        c.live_us as f64 / 1e3,
                        c.candidate_us as f64 / 1e3
                    ),
                    alerts_line(&c.answer),
                )
            })
            .collect(),
    };
    Ok(super::pages::html(StatusCode::OK, &page))
}

/// `POST /admin/fleet/candidates/{id}/promote` (the page's button): as the API, then
/// back to the fleet page, or the failure as a page.
pub async fn promote_form(
    state: State<AppState>,
    auth: Extension<Auth>,
    id: UrlPath<String>,
) -> Response {
    after_form(promote(state, auth, id, axum::body::Bytes::new()).await).await
}

/// `POST /admin/fleet/candidates/{id}/discard` (the page's button).
pub async fn discard_form(
    state: State<AppState>,
    auth: Extension<Auth>,
    id: UrlPath<String>,
) -> Response {
    after_form(
        discard(state, auth, id)
            .await
            .unwrap_or_else(|e| e.into_response()),
    )
    .await
}

async fn after_form(answer: Response) -> Response {
    let status = answer.status();
    if status.is_success() {
        return axum::response::Redirect::to("/admin/fleet").into_response();
    }
    let bytes = axum::body::to_bytes(answer.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
    super::pages::failure(status, &message, false)
}
