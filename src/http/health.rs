//! `/healthz` (the process runs), `/readyz` (every rule set compiled, the log writes,
//! the rule pool is whole, and the certificate is a real one with more than 7 days
//! left) and `/metrics`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::http::AppState;

pub async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// Ready or not, with the reasons. Anyone may ask (load balancers do), so without the
/// admin token (Bearer, or a viewer session) the answer names no rule set, file
/// contents or store: a count and `file:line:col` of each problem. With it, everything.
pub async fn readyz(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let admin = state.admin.authorizes(&headers);
    let root = state.registry.root();
    let mut problems: Vec<String> = Vec::new();
    for (name, found) in state.registry.problems() {
        let serving = state.registry.get(&name).map(|s| s.version.clone());
        if admin {
            problems.extend(found.iter().map(|p| match &serving {
                Some(version) => {
                    format!("rule set `{name}` (still serving version {version}): {p}")
                }
                None => format!("rule set `{name}` (not serving): {p}"),
            }));
        } else {
            let at: Vec<String> = found.iter().map(|p| p.location(root)).collect();
            problems.push(format!(
                "a rule set {} has {} problem{} at {}; details with the admin token or `lookout check`",
                if serving.is_some() { "(still serving its last good version)" } else { "(not serving)" },
                found.len(),
                if found.len() == 1 { "" } else { "s" },
                at.join(", ")
            ));
        }
    }
    let log = state.recorder.status();
    if log.failing {
        problems.push(if admin {
            format!(
                "the request/response log ({}) does not accept writes: {}; calls are answered but not recorded ({} dropped so far)",
                log.store,
                log.last_error.as_deref().unwrap_or("unknown error"),
                log.dropped
            )
        } else {
            format!(
                "the request/response log does not accept writes; calls are answered but not recorded ({} dropped so far)",
                log.dropped
            )
        });
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
    problems.extend(certificate_problems(&state, admin));
    let revision_problems = state.fleet.problems();
    if admin {
        problems.extend(revision_problems.iter().cloned());
    } else if !revision_problems.is_empty() {
        problems.push(format!(
            "{} problem{} serving the fleet's current rule revisions (a revision that does not compile here, cannot be written, or none published yet); details with the admin token",
            revision_problems.len(),
            if revision_problems.len() == 1 { "" } else { "s" }
        ));
    }
    let ready = problems.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = if admin {
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
        let heads: serde_json::Map<String, serde_json::Value> = state
            .fleet
            .heads()
            .into_iter()
            .map(|(name, head)| {
                (
                    name,
                    json!({ "version": head.version, "id": head.id, "seq": head.seq, "action": head.action, "author": head.author, "at": head.at }),
                )
            })
            .collect();
        json!({
            "ready": ready,
            "problems": problems,
            "rulesets": rulesets,
            "rules_digest": rules_digest(&state),
            "rules_from": if state.fleet.serves_store() { "store" } else { "folder" },
            "current_revisions": heads,
            "store_unreachable": state.fleet.unreachable(),
            "log": log,
        })
    } else {
        json!({
            "ready": ready,
            "problems": problems,
            "rulesets": state.registry.all().len(),
            "rules_digest": rules_digest(&state),
            "log": { "failing": log.failing, "dropped": log.dropped, "queue_depth": log.queue_depth },
        })
    };
    (status, Json(body)).into_response()
}

/// One short digest of every rule set's name and version served: two instances that
/// give the same digest serve the same revisions (names not given away without the
/// admin token).
fn rules_digest(state: &AppState) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for set in state.registry.all() {
        hash.update(set.name.as_bytes());
        hash.update([0]);
        hash.update(set.version.as_bytes());
        hash.update([0]);
    }
    hex::encode(&hash.finalize()[..8])
}

/// A certificate within 7 days of expiry (or past it), and ACME without a certificate
/// from its directory yet: the Estimator would refuse the connection.
fn certificate_problems(state: &AppState, admin: bool) -> Vec<String> {
    const WEEK: i64 = 7 * 86_400;
    let mut problems = Vec::new();
    let acme = state.acme.as_ref().map(|a| a.status());
    let last_error = |status: &crate::acme::Status| match (&status.last_error, admin) {
        (Some(error), true) => format!("; the last attempt failed: {error}"),
        (Some(_), false) => "; the last attempt failed (details with the admin token)".into(),
        (None, _) => String::new(),
    };
    if let Some(status) = acme.as_ref().filter(|s| !s.issued) {
        problems.push(format!(
            "no certificate from the ACME directory yet: a temporary self-signed one is served, which the Estimator refuses{}",
            last_error(status)
        ));
        return problems;
    }
    if let Some(not_after) = state.certs.not_after() {
        let left = not_after - crate::clock::now_micros() / 1_000_000;
        if left < WEEK {
            let when = chrono::DateTime::from_timestamp(not_after, 0)
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default();
            let state_of = if left <= 0 {
                format!("expired at {when}")
            } else {
                format!("expires at {when}, in {} hours", left / 3600)
            };
            problems.push(match &acme {
                Some(status) => format!(
                    "the certificate {state_of}; ACME has not renewed it{}",
                    last_error(status)
                ),
                None => format!(
                    "the certificate {state_of}; put a renewed cert.pem and key.pem in the certificate folder (they are picked up without a restart), or set [tls.acme]"
                ),
            });
        }
    }
    problems
}

/// Prometheus text. Its labels name rule sets and rules, so it needs the admin token
/// (`Authorization: Bearer`, as Prometheus's `authorization` scrape setting sends it)
/// unless `[http] public_metrics = true`.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !state.config.http.public_metrics && !state.admin.authorizes(&headers) {
        return crate::http::ApiError::Refused {
            message: "/metrics needs the admin token: send Authorization: Bearer <token> (Prometheus: authorization.credentials), or set [http] public_metrics = true".into(),
            scheme: "Bearer",
        }
        .into_response();
    }
    let mut text = state
        .metrics
        .render(&state.recorder.status(), state.pool.health());
    crate::metrics::render_tls(
        &mut text,
        state.certs.not_after(),
        state.acme.as_ref().map(|a| a.status()).as_ref(),
    );
    let counts = &state.fleet.shadow().counts;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    crate::metrics::render_fleet(
        &mut text,
        &crate::metrics::FleetSample {
            revision_problems: state.fleet.problems().len(),
            shadow_runs: load(&counts.runs),
            shadow_dropped_queue_full: load(&counts.dropped_queue_full),
            shadow_dropped_cpu_share: load(&counts.dropped_cpu_share),
            shadow_not_written: load(&counts.not_written),
        },
    );
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
