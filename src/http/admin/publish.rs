//! The workbench's drafts, kept in the store and owned by their author, and publishing:
//! a draft (or changed files) becomes the live rule set, only when it compiles and its
//! tests pass; every publish and rollback is kept in the store with its author, time,
//! message and all the rule set's files (the audit log, and what a rollback restores).
//! A rule set's first publish is preceded by a `baseline` entry: its files as they were
//! on disk, so the version before the workbench can be rolled back to as well.
//!
//! | route | role | answer |
//! |---|---|---|
//! | `GET /admin/api/drafts?ruleset=` | author | drafts, newest change first (an author sees their own; a publisher every one) |
//! | `POST /admin/api/drafts` | author | `{"id"?, "ruleset", "files"}`: saves a draft (a new one without `id`), answers it |
//! | `GET`, `DELETE /admin/api/drafts/{id}` | author | one draft; deleting: its owner or the admin |
//! | `POST /admin/api/publish` | publisher | `{"ruleset", "draft": id \| "files": {...}, "message", "base_version"?}`: compiled, tested, written to the rules folder, reloaded |
//! | `POST /admin/api/rollback` | publisher | `{"ruleset", "to": "<publish id>", "message"}`: that version's files, through the same checks |
//! | `GET /admin/api/rulesets/{name}/versions` | author | its publishes and rollbacks, newest first (files left out) |
//! | `GET /admin/api/versions/{id}` | author | one publish with all its files |
//! | `GET /admin/api/compare?ruleset=&from=&to=` | author | what changed from one version to another (`live`: the rules folder now), file by file, as unified diffs |
//!
//! Publishing writes each changed file in place by a rename (a reader sees the old file
//! or the new, never half of one), removes deleted ones, and reloads the registry at
//! once (the folder watch would within a second). One publish at a time per server.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::auth::{Auth, Role};
use super::workbench::{draft_problems, draft_tests, files_on_disk, live_set, problems_of};
use crate::http::{ApiError, AppState};
use crate::rules::draft::{self, Changes};
use crate::store::{Draft, Published};

/// One publish at a time: each one checks the live version it replaces.
static PUBLISHING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn read_json<T: for<'de> Deserialize<'de>>(body: &[u8], shape: &str) -> Result<T, ApiError> {
    crate::nesting::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the request does not read ({e}); send {shape}")))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    super::blocking(f).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftFilter {
    #[serde(default)]
    ruleset: Option<String>,
}

impl crate::http::QueryForm for DraftFilter {
    const FORM: &'static str = "?ruleset=<name> (or nothing: every rule set)";
}

/// `GET /admin/api/drafts`.
pub async fn list_drafts(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    crate::http::Query(filter): crate::http::Query<DraftFilter>,
) -> Result<Response, ApiError> {
    let store = state.recorder.store().clone();
    let drafts = blocking(move || store.drafts(filter.ruleset.as_deref())).await?;
    let user = auth.user().clone();
    let mine: Vec<Draft> = drafts
        .into_iter()
        .filter(|d| user.role >= Role::Publisher || d.owner == user.name)
        .collect();
    Ok(Json(mine).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveDraft {
    #[serde(default)]
    id: Option<String>,
    ruleset: String,
    files: Changes,
}

/// `POST /admin/api/drafts`: saves a draft (its files are checked to be a rule set's,
/// not compiled: a draft may be half written).
pub async fn save_draft(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request: SaveDraft = read_json(
        &body,
        "{\"ruleset\": ..., \"files\": {\"<path>\": \"<source>\" | null}, \"id\": \"<draft id, to save it again>\"}",
    )?;
    let live = state.registry.get(&request.ruleset).ok_or_else(|| {
        ApiError::NotFound(format!("no rule set `{}` is served here", request.ruleset))
    })?;
    if request.files.len() > draft::MAX_CHANGED_FILES {
        return Err(ApiError::BadRequest(format!(
            "a draft changes at most {} files",
            draft::MAX_CHANGED_FILES
        )));
    }
    for path in request.files.keys() {
        draft::check_path(path).map_err(ApiError::BadRequest)?;
    }
    let user = auth.user().clone();
    let now = crate::clock::now_micros();
    let store = state.recorder.store().clone();
    let existing = match &request.id {
        Some(id) => {
            let (store, id) = (store.clone(), id.clone());
            let found = blocking(move || store.draft(&id)).await?;
            let found = found.ok_or_else(|| {
                ApiError::NotFound(format!("no draft {}", request.id.as_deref().unwrap_or("")))
            })?;
            if found.owner != user.name && user.role != Role::Admin {
                return Err(ApiError::Forbidden(format!(
                    "draft {} is {}'s; save your changes as a new draft",
                    found.id, found.owner
                )));
            }
            if found.ruleset != request.ruleset {
                return Err(ApiError::BadRequest(format!(
                    "draft {} is of rule set `{}`, not `{}`",
                    found.id, found.ruleset, request.ruleset
                )));
            }
            Some(found)
        }
        None => None,
    };
    let draft = Draft {
        id: existing
            .as_ref()
            .map(|d| d.id.clone())
            .unwrap_or_else(|| crate::ids::new_id().to_string()),
        ruleset: request.ruleset,
        owner: existing
            .as_ref()
            .map(|d| d.owner.clone())
            .unwrap_or(user.name),
        base_version: existing
            .as_ref()
            .map(|d| d.base_version.clone())
            .unwrap_or_else(|| live.version.clone()),
        files: serde_json::to_value(&request.files).expect("strings are JSON"),
        created_at: existing.as_ref().map_or(now, |d| d.created_at),
        updated_at: now,
    };
    let saved = draft.clone();
    blocking(move || store.save_draft(&saved)).await?;
    Ok(Json(draft).into_response())
}

async fn load_draft(state: &AppState, id: &str) -> Result<Draft, ApiError> {
    let (store, key) = (state.recorder.store().clone(), id.to_string());
    blocking(move || store.draft(&key))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no draft {id}")))
}

/// `GET /admin/api/drafts/{id}`.
pub async fn get_draft(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let draft = load_draft(&state, &id).await?;
    let user = auth.user();
    if draft.owner != user.name && user.role < Role::Publisher {
        return Err(ApiError::Forbidden(format!(
            "draft {id} is {}'s",
            draft.owner
        )));
    }
    Ok(Json(draft).into_response())
}

/// `DELETE /admin/api/drafts/{id}`.
pub async fn delete_draft(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let draft = load_draft(&state, &id).await?;
    let user = auth.user();
    if draft.owner != user.name && user.role != Role::Admin {
        return Err(ApiError::Forbidden(format!(
            "draft {id} is {}'s; only they (or the admin) may delete it",
            draft.owner
        )));
    }
    let store = state.recorder.store().clone();
    blocking(move || store.delete_draft(&id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    ruleset: String,
    #[serde(default)]
    draft: Option<String>,
    #[serde(default)]
    files: Option<Changes>,
    message: String,
    /// The live version the changes were made from; refused when it is no longer live.
    #[serde(default)]
    base_version: Option<String>,
}

/// `POST /admin/api/publish`.
pub async fn publish(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    body: axum::body::Bytes,
) -> Response {
    let outcome = async {
        let request: PublishRequest = read_json(
            &body,
            "{\"ruleset\": ..., \"draft\": \"<draft id>\" (or \"files\": {...}), \"message\": \"why\"}",
        )?;
        let (changes, base, from_draft) = match (request.draft, request.files) {
            (Some(id), None) => {
                let draft = load_draft(&state, &id).await?;
                if draft.ruleset != request.ruleset {
                    return Err(ApiError::BadRequest(format!(
                        "draft {id} is of rule set `{}`, not `{}`",
                        draft.ruleset, request.ruleset
                    )));
                }
                let changes: Changes = serde_json::from_value(draft.files)
                    .map_err(|e| ApiError::Failed(format!("draft {id} does not read: {e}")))?;
                (changes, Some(draft.base_version), Some(id))
            }
            (None, Some(files)) => (files, request.base_version, None),
            _ => {
                return Err(ApiError::BadRequest(
                    "give either \"draft\" (a saved draft's id) or \"files\"".into(),
                ))
            }
        };
        Ok((request.ruleset, changes, base, from_draft, request.message))
    }
    .await;
    let (ruleset, changes, base, from_draft, message) = match outcome {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    go_live(
        &state, &auth, &ruleset, changes, base, from_draft, message, "publish",
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    ruleset: String,
    to: String,
    message: String,
}

/// `POST /admin/api/rollback`: the rule set as it was after publish `to`.
pub async fn rollback(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    body: axum::body::Bytes,
) -> Response {
    let outcome = async {
        let request: RollbackRequest = read_json(
            &body,
            "{\"ruleset\": ..., \"to\": \"<id of a publish>\", \"message\": \"why\"}",
        )?;
        let (store, id) = (state.recorder.store().clone(), request.to.clone());
        let target = blocking(move || store.published_one(&id))
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no publish {}", request.to)))?;
        if target.ruleset != request.ruleset {
            return Err(ApiError::BadRequest(format!(
                "publish {} is of rule set `{}`, not `{}`",
                target.id, target.ruleset, request.ruleset
            )));
        }
        if target.action == crate::fleet::RETIRE {
            return Err(ApiError::BadRequest(format!(
                "revision {} retired the rule set and has no files: roll back to one that has",
                target.id
            )));
        }
        let files: BTreeMap<String, String> = serde_json::from_value(target.files)
            .map_err(|e| ApiError::Failed(format!("publish {} does not read: {e}", target.id)))?;
        // That version's files, and every file there now that it did not have, removed.
        let now = files_on_disk(&state, &request.ruleset).await?;
        let mut changes: Changes = now.keys().map(|path| (path.clone(), None)).collect();
        for (path, text) in files {
            changes.insert(path, Some(text));
        }
        let message = format!(
            "{} (back to {}, {})",
            request.message, target.version, target.id
        );
        Ok((request.ruleset, changes, message))
    }
    .await;
    let (ruleset, changes, message) = match outcome {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    go_live(
        &state, &auth, &ruleset, changes, None, None, message, "rollback",
    )
    .await
}

/// Compiles and tests the changes, writes them to the rules folder, reloads, and
/// records the publish. Refused (nothing written) unless they compile and every test
/// passes, and when `base` is given and no longer the live version.
#[allow(clippy::too_many_arguments)]
pub(super) async fn go_live(
    state: &AppState,
    auth: &Auth,
    ruleset: &str,
    changes: Changes,
    base: Option<String>,
    from_draft: Option<String>,
    message: String,
    action: &str,
) -> Response {
    match go_live_inner(
        state, auth, ruleset, changes, base, from_draft, message, action,
    )
    .await
    {
        Ok(answer) => answer,
        Err(e) => e,
    }
}

#[allow(clippy::too_many_arguments)]
async fn go_live_inner(
    state: &AppState,
    auth: &Auth,
    ruleset: &str,
    changes: Changes,
    base: Option<String>,
    from_draft: Option<String>,
    message: String,
    action: &str,
) -> Result<Response, Response> {
    let api = |e: ApiError| e.into_response();
    let message = message.trim().to_string();
    if message.is_empty() || message.len() > 2000 {
        return Err(api(ApiError::BadRequest(
            "a publish needs a \"message\" saying what changed and why (at most 2,000 characters)"
                .into(),
        )));
    }
    let _one_at_a_time = PUBLISHING.lock().await;
    let live = live_set(state, ruleset).map_err(api)?;
    if let Some(base) = &base {
        if *base != live.version {
            return Err(api(ApiError::Conflict(format!(
                "the rule set changed since these changes were made from it (version {base}, live now {}); try them on the live version and publish again",
                live.version
            ))));
        }
    }
    let _permit = state.permits.try_acquire().map_err(|_| {
        api(ApiError::Unavailable(
            "lookout is busy answering the Estimator; publish again in a second".into(),
        ))
    })?;

    // Compiled and tested exactly as `POST /admin/api/test` does.
    let dir = state.registry.root().join(ruleset);
    let defaults = state.registry.defaults().clone();
    let pool = state.pool.clone();
    let runtime = tokio::runtime::Handle::current();
    let checked_changes = changes.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let draft = draft::compile(&dir, &checked_changes, &defaults)?;
        let folder = draft.folder().to_path_buf();
        let set = Arc::new(draft.set);
        let results = draft_tests(&pool, &runtime, &set, &folder, None).map_err(|e| {
            vec![crate::rules::Problem::new(
                Path::new("tests"),
                format!("{e:#}"),
            )]
        })?;
        let here = format!("{}/", folder.display());
        let failed: Vec<String> = results
            .into_iter()
            .filter(|(_, failures)| !failures.is_empty())
            .map(|(ran, failures)| {
                format!("{}: {}", ran.name, failures.join("; ").replace(&here, ""))
            })
            .collect();
        Ok::<_, Vec<crate::rules::Problem>>((set.version.clone(), failed))
    })
    .await
    .map_err(|e| {
        api(ApiError::Failed(format!(
            "checking a publish panicked: {e}"
        )))
    })?;
    let (version, failed) =
        checked.map_err(|problems| draft_problems(problems_of(&problems, Path::new(""))))?;
    if !failed.is_empty() {
        let body = serde_json::json!({
            "error": format!("not published: {} test{} failed: {}", failed.len(), if failed.len() == 1 { "" } else { "s" }, failed.join(" | ")),
            "failed": failed,
        });
        return Err((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response());
    }

    if state.fleet.serves_store() {
        return publish_revision(
            state,
            auth,
            ruleset,
            changes,
            version,
            &live.version,
            from_draft,
            message,
            action,
        )
        .await;
    }

    // The first publish of a rule set first records it as it was on disk, so that
    // every version it has been is one a rollback can go back to.
    let dir = state.registry.root().join(ruleset);
    let (store, name) = (state.recorder.store().clone(), ruleset.to_string());
    let earlier = blocking(move || store.published(&name))
        .await
        .map_err(api)?;
    if earlier.is_empty() {
        let files = files_on_disk(state, ruleset).await.map_err(api)?;
        let baseline = Published {
            id: crate::ids::new_id().to_string(),
            ruleset: ruleset.to_string(),
            version: live.version.clone(),
            previous_version: String::new(),
            author: "(on disk)".into(),
            at: crate::clock::now_micros(),
            message: "the rule set as it was on disk before its first publish".into(),
            action: "baseline".into(),
            files: serde_json::to_value(&files).expect("strings are JSON"),
            seq: 0,
        };
        let store = state.recorder.store().clone();
        blocking(move || store.record_published(&baseline))
            .await
            .map_err(api)?;
    }

    // Written in place, then reloaded at once.
    let write_dir = dir.clone();
    let written = tokio::task::spawn_blocking(move || write_changes(&write_dir, &changes))
        .await
        .map_err(|e| api(ApiError::Failed(format!("writing a publish panicked: {e}"))))?;
    written.map_err(|e| {
        api(ApiError::Unavailable(format!(
            "cannot write the rules folder {}: {e}; nothing may have changed, or part: check it with lookout check",
            dir.display()
        )))
    })?;
    let registry = state.registry.clone();
    let _ = tokio::task::spawn_blocking(move || registry.reload()).await;
    let now_live = state
        .registry
        .get(ruleset)
        .map(|s| s.version.clone())
        .unwrap_or_default();
    let files = files_on_disk(state, ruleset).await.map_err(api)?;
    let record = Published {
        id: crate::ids::new_id().to_string(),
        ruleset: ruleset.to_string(),
        version: now_live.clone(),
        previous_version: live.version.clone(),
        author: auth.user().name.clone(),
        at: crate::clock::now_micros(),
        message,
        action: action.to_string(),
        files: serde_json::to_value(&files).expect("strings are JSON"),
        seq: 0,
    };
    let store = state.recorder.store().clone();
    let kept = record.clone();
    blocking(move || store.record_published(&kept))
        .await
        .map_err(api)?;
    if let Some(id) = from_draft {
        let store = state.recorder.store().clone();
        let _ = blocking(move || store.delete_draft(&id)).await;
    }
    tracing::info!(
        ruleset,
        user = %record.author,
        action,
        version = %record.version,
        previous = %record.previous_version,
        "workbench: rules published"
    );
    Ok(Json(serde_json::json!({
        "id": record.id,
        "ruleset": ruleset,
        "version": now_live,
        "checked_version": version,
        "previous_version": record.previous_version,
        "action": action,
    }))
    .into_response())
}

/// A fleet's publish: the changed rule set becomes a revision in the store (every
/// instance, this one first, serves it within about a second); nothing is written to
/// a rules folder.
#[allow(clippy::too_many_arguments)]
async fn publish_revision(
    state: &AppState,
    auth: &Auth,
    ruleset: &str,
    changes: Changes,
    version: String,
    previous: &str,
    from_draft: Option<String>,
    message: String,
    action: &str,
) -> Result<Response, Response> {
    let api = |e: ApiError| e.into_response();
    let files = super::workbench::files_after(state, ruleset, changes)
        .await
        .map_err(api)?;
    let (store, name, author, kind) = (
        state.recorder.store().clone(),
        ruleset.to_string(),
        auth.user().name.clone(),
        action.to_string(),
    );
    let (fleet, defaults) = (state.fleet.clone(), state.registry.defaults().clone());
    let record = tokio::task::spawn_blocking(move || {
        let record = crate::fleet::publish(
            &store,
            crate::fleet::Revision {
                ruleset: &name,
                files: &files,
                author: &author,
                message: &message,
                action: &kind,
            },
            Some(&version),
            &defaults,
        )
        .map_err(ApiError::Conflict)?;
        fleet.sync(false).map_err(ApiError::from)?;
        Ok::<_, ApiError>(record)
    })
    .await
    .map_err(|e| api(ApiError::Failed(format!("publishing panicked: {e}"))))?
    .map_err(api)?;
    if let Some(id) = from_draft {
        let store = state.recorder.store().clone();
        let _ = blocking(move || store.delete_draft(&id)).await;
    }
    let now_live = state
        .registry
        .get(ruleset)
        .map(|s| s.version.clone())
        .unwrap_or_default();
    tracing::info!(ruleset, user = %record.author, action, version = %record.version, previous, "workbench: revision published to the fleet");
    Ok(Json(serde_json::json!({
        "id": record.id,
        "ruleset": ruleset,
        "version": now_live,
        "checked_version": record.version,
        "previous_version": previous,
        "action": action,
    }))
    .into_response())
}

/// Writes each changed file by a rename from a temporary file beside it (creating
/// `lib/`, `data/`, `tests/` as needed), and removes deleted ones.
fn write_changes(dir: &Path, changes: &Changes) -> std::io::Result<()> {
    for (path, text) in changes {
        let target = dir.join(path);
        match text {
            Some(text) => {
                let parent = target.parent().unwrap_or(dir);
                std::fs::create_dir_all(parent)?;
                let name = target
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let temporary = parent.join(format!(".{name}.lookout-publish"));
                std::fs::write(&temporary, text)?;
                std::fs::rename(&temporary, &target)?;
            }
            None => match std::fs::remove_file(&target) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            },
        }
    }
    Ok(())
}

/// `GET /admin/api/rulesets/{name}/versions`: the audit log, files left out.
pub async fn versions(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, ApiError> {
    let store = state.recorder.store().clone();
    let list = blocking(move || store.published(&name)).await?;
    let list: Vec<serde_json::Value> = list
        .into_iter()
        .map(|p| {
            serde_json::json!({
                "id": p.id, "ruleset": p.ruleset, "version": p.version,
                "previous_version": p.previous_version, "author": p.author, "at": p.at,
                "message": p.message, "action": p.action,
            })
        })
        .collect();
    Ok(Json(list).into_response())
}

/// `GET /admin/api/versions/{id}`: one publish with all its files.
pub async fn version(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let (store, key) = (state.recorder.store().clone(), id.clone());
    let found = blocking(move || store.published_one(&key))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no publish {id}")))?;
    Ok(Json(found).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareQuery {
    ruleset: String,
    from: String,
    #[serde(default = "live")]
    to: String,
}

fn live() -> String {
    "live".into()
}

impl crate::http::QueryForm for CompareQuery {
    const FORM: &'static str =
        "?ruleset=<name>&from=<publish id | live>&to=<publish id | live> (to: live when left out)";
}

/// Lines of context around each change in a comparison.
const COMPARE_CONTEXT: usize = 3;

/// `GET /admin/api/compare`: what changes going `from` one version of a rule set `to`
/// another (a publish id, or `live`: the rules folder as it is now): each file added,
/// removed or changed, with a unified diff; files the same in both are counted.
pub async fn compare(
    State(state): State<AppState>,
    crate::http::Query(query): crate::http::Query<CompareQuery>,
) -> Result<Response, ApiError> {
    let (from, from_version) = version_files(&state, &query.ruleset, &query.from).await?;
    let (to, to_version) = version_files(&state, &query.ruleset, &query.to).await?;
    let mut files = Vec::new();
    let mut unchanged = 0;
    let paths: std::collections::BTreeSet<&String> = from.keys().chain(to.keys()).collect();
    for path in paths {
        let (old, new) = (from.get(path), to.get(path));
        if old == new {
            unchanged += 1;
            continue;
        }
        let change = match (old, new) {
            (None, _) => "added",
            (_, None) => "removed",
            _ => "changed",
        };
        let (old, new) = (
            old.map_or("", String::as_str),
            new.map_or("", String::as_str),
        );
        let diff = similar::TextDiff::from_lines(old, new);
        let stats = diff
            .iter_all_changes()
            .fold((0, 0), |(added, removed), c| match c.tag() {
                similar::ChangeTag::Insert => (added + 1, removed),
                similar::ChangeTag::Delete => (added, removed + 1),
                similar::ChangeTag::Equal => (added, removed),
            });
        let unified = diff
            .unified_diff()
            .context_radius(COMPARE_CONTEXT)
            .header(
                &format!("{}/{path}", query.from),
                &format!("{}/{path}", query.to),
            )
            .to_string();
        files.push(serde_json::json!({
            "path": path, "change": change, "lines_added": stats.0, "lines_removed": stats.1,
            "diff": unified,
        }));
    }
    Ok(Json(serde_json::json!({
        "ruleset": query.ruleset,
        "from": {"id": query.from, "version": from_version},
        "to": {"id": query.to, "version": to_version},
        "files": files,
        "unchanged": unchanged,
    }))
    .into_response())
}

/// The files of a version of `ruleset` (a publish id, or `live`) and its version hash.
async fn version_files(
    state: &AppState,
    ruleset: &str,
    which: &str,
) -> Result<(BTreeMap<String, String>, Option<String>), ApiError> {
    if which == "live" {
        if state.registry.get(ruleset).is_none() && !state.registry.problems().contains_key(ruleset)
        {
            return Err(ApiError::NotFound(format!(
                "no rule set `{ruleset}` in the rules folder"
            )));
        }
        let version = state.registry.get(ruleset).map(|s| s.version.clone());
        return Ok((files_on_disk(state, ruleset).await?, version));
    }
    let (store, key) = (state.recorder.store().clone(), which.to_string());
    let found = blocking(move || store.published_one(&key))
        .await?
        .filter(|p| p.ruleset == ruleset)
        .ok_or_else(|| {
            ApiError::NotFound(format!("no publish {which} of the rule set `{ruleset}`"))
        })?;
    let files = serde_json::from_value(found.files).map_err(|e| {
        ApiError::Failed(format!("publish {which} has files that do not read: {e}"))
    })?;
    Ok((files, Some(found.version)))
}
