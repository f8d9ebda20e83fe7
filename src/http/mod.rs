//! The HTTP surface: routes, the shared state, and the error shape.
//!
//! Architecture invariant: only this module knows status codes and headers.

pub mod admin;
pub mod body;
pub mod conn;
mod error;
mod events;
mod health;
pub mod hooks;
pub mod plain;
mod query;

use std::sync::Arc;

use axum::http::Method;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Semaphore;

pub use error::{error_body, ApiError};
pub use query::{Query, QueryForm};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::rules::{Pool, Registry};
use crate::store::recorder::Recorder;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub pool: Arc<Pool>,
    pub permits: Arc<Semaphore>,
    pub config: Arc<Config>,
    /// The request/response log.
    pub recorder: Arc<Recorder>,
    pub metrics: Arc<Metrics>,
    /// This instance's name in the log.
    pub instance: Arc<str>,
    /// The log viewer's admin token and sessions.
    pub admin: Arc<crate::http::admin::Admin>,
    /// The byte budget and timeout of bodies being read.
    pub uploads: Arc<body::Uploads>,
    /// The certificate being served (its expiry in `/metrics` and `/readyz`).
    pub certs: Arc<crate::tls::CertStore>,
    /// ACME, when `[tls.acme]` is set.
    pub acme: Option<Arc<crate::acme::Acme>>,
    /// The fleet's revisions (followed from the store, or the rules folder served) and
    /// the candidates run in the shadow of live calls.
    pub fleet: Arc<crate::fleet::Fleet>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/hooks/{ruleset}",
            post(hooks::hook).fallback(method_not_allowed),
        )
        .route(
            "/events/octopi",
            post(events::octopi).fallback(method_not_allowed),
        )
        .route(
            "/events/portconnect",
            post(events::portconnect).fallback(method_not_allowed),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .merge(crate::http::admin::router(&state))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(one_host))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            catch_panic,
        ))
        .with_state(state)
}

/// RFC 9112 §3.2: an HTTP/1.1 request with no Host header, or more than one, is a 400.
/// (HTTP/2 names the host in `:authority`; HTTP/1.0 may omit it.)
async fn one_host(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if request.version() == axum::http::Version::HTTP_11 {
        let hosts = request
            .headers()
            .get_all(axum::http::header::HOST)
            .iter()
            .count();
        if hosts != 1 {
            return ApiError::BadRequest(format!(
                "an HTTP/1.1 request needs exactly one Host header, this one has {hosts} (RFC 9112, section 3.2)"
            ))
            .into_response();
        }
    }
    next.run(request).await
}

/// No request may end in a panic: one that does (a bug) is answered 500, logged and
/// counted, and the connection and the process go on.
async fn catch_panic(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use futures_util::FutureExt;
    let path = request.uri().path().chars().take(64).collect::<String>();
    match std::panic::AssertUnwindSafe(next.run(request))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(panic) => {
            state
                .metrics
                .panics
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(path = %path.escape_debug(), "a request handler panicked (a bug in lookout): {what}");
            ApiError::Internal.into_response()
        }
    }
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!(
        "nothing at {}; the webhook URL is https://<host>/hooks/<ruleset>",
        quoted(uri.path())
    ))
}

/// Text from the caller (a rule set name, a path) as answers, records and log lines
/// quote it: in backticks, control characters escaped, at most 64 characters.
pub fn quoted(text: &str) -> String {
    const SHOWN: usize = 64;
    let count = text.chars().count();
    let mut shown: String = text
        .chars()
        .take(SHOWN)
        .flat_map(char::escape_debug)
        .collect();
    if count > SHOWN {
        shown.push_str(&format!("… ({count} characters)"));
    }
    format!("`{shown}`")
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{method} is not accepted here; the Estimator POSTs the estimate to /hooks/<ruleset>"
    ))
}
