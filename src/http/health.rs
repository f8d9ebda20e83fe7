//! `/healthz` (the process runs), `/readyz` (every rule set compiled and the log
//! writes) and `/metrics`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::http::AppState;

pub async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    let problems: Vec<String> = state
        .registry
        .problems()
        .iter()
        .flat_map(|(name, problems)| {
            let serving = state.registry.get(name).map(|s| s.version.clone());
            problems.iter().map(move |p| match &serving {
                Some(version) => {
                    format!("rule set `{name}` (still serving version {version}): {p}")
                }
                None => format!("rule set `{name}` (not serving): {p}"),
            })
        })
        .collect();
    let rulesets: serde_json::Map<String, serde_json::Value> = state
        .registry
        .all()
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                json!({ "version": s.version, "rules": s.rules.len() }),
            )
        })
        .collect();
    let log = state.recorder.status();
    let mut problems = problems;
    if log.failing {
        problems.push(format!(
            "the request/response log ({}) does not accept writes: {}; calls are answered but not recorded ({} dropped so far)",
            log.store,
            log.last_error.as_deref().unwrap_or("unknown error"),
            log.dropped
        ));
    }
    let alive = state
        .pool
        .health()
        .alive
        .load(std::sync::atomic::Ordering::Relaxed);
    if alive < state.pool.threads() {
        problems.push(format!(
            "the rule pool is not whole: {alive} of {} threads run; restart lookout and report the log's panic",
            state.pool.threads()
        ));
    }
    let ready = problems.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "ready": ready, "problems": problems, "rulesets": rulesets, "log": log })),
    )
        .into_response()
}

/// Prometheus text.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = state
        .metrics
        .render(&state.recorder.status(), state.pool.health());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
