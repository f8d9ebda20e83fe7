//! The HTTP surface: routes, the shared state, and the error shape.
//!
//! Architecture invariant: only this module knows status codes and headers.

mod error;
mod events;
mod health;
pub mod hooks;

use std::sync::Arc;

use axum::http::Method;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Semaphore;

pub use error::ApiError;

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
    pub admin: Arc<crate::admin::Admin>,
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
        .merge(crate::admin::router(&state))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!(
        "nothing at {}; the webhook URL is https://<host>/hooks/<ruleset>",
        uri.path()
    ))
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{method} is not accepted here; the Estimator POSTs the estimate to /hooks/<ruleset>"
    ))
}
