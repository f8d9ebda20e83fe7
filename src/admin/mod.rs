//! The log viewer at `/admin`: server-rendered pages, their assets, and the JSON API
//! under `/admin/api/`, all behind the admin token.
//!
//! A rule author sees what the Estimator sent and what lookout answered (the cards as
//! IMOS showed them, the request and response JSON, each rule's trace), replays a call
//! against the rules on disk (`replay`), and saves a call as a rule test (`testfile`).
//!
//! This module is part of the HTTP layer (it knows status codes and headers); it reads the
//! log only through `store::Backend` (on blocking threads) and evaluates only through
//! `replay`, which runs the server's own evaluation. It knows no SQL and no Rhai.

mod api;
mod assets;
pub mod auth;
mod filters;
mod pages;
pub mod testfile;
mod view;

use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;

pub use auth::{Admin, AdminToken, TokenSource};

use crate::http::AppState;
use crate::replay::{self, Replayed};
use crate::store::{Call, Page, Query, StoreError};

/// Every `/admin` route. The login page is the only one served without the token.
pub fn router(state: &AppState) -> Router<AppState> {
    let protected = Router::new()
        .route("/admin", get(pages::list))
        .route("/admin/", get(pages::to_list))
        .route("/admin/calls/{id}", get(pages::call))
        .route("/admin/calls/{id}/replay", post(pages::replay))
        .route("/admin/logout", post(auth::logout))
        .route("/admin/assets/{*path}", get(assets::serve))
        .route("/admin/api/calls", get(api::list))
        .route("/admin/api/calls/{id}", get(api::call))
        .route("/admin/api/calls/{id}/request-body", get(api::request_body))
        .route(
            "/admin/api/calls/{id}/response-body",
            get(api::response_body),
        )
        .route("/admin/api/calls/{id}/replay", post(api::replay))
        .route("/admin/api/calls/{id}/test", get(api::test_file))
        .route("/admin/api/status", get(api::status))
        .route("/admin/{*rest}", any(not_found))
        .layer(middleware::from_fn_with_state(state.clone(), auth::require));
    Router::new()
        .route("/admin/login", get(auth::login_page).post(auth::login_post))
        .merge(protected)
        .layer(middleware::from_fn(auth::security_headers))
}

/// What went wrong, answered as JSON under `/admin/api/` and as a page elsewhere.
#[derive(Debug)]
pub enum Failure {
    BadRequest(String),
    Unauthorized,
    Forbidden(String),
    NotFound(String),
    Unavailable(String),
    /// Logged in full; the answer says only that it happened.
    Internal(String),
}

const LOG_IN: &str = "log in first: open /admin/login and enter the admin token (LOOKOUT_ADMIN_TOKEN, or the file data/admin-token), or send Authorization: Bearer <token>";

impl Failure {
    fn status(&self) -> StatusCode {
        match self {
            Failure::BadRequest(_) => StatusCode::BAD_REQUEST,
            Failure::Unauthorized => StatusCode::UNAUTHORIZED,
            Failure::Forbidden(_) => StatusCode::FORBIDDEN,
            Failure::NotFound(_) => StatusCode::NOT_FOUND,
            Failure::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Failure::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> String {
        match self {
            Failure::BadRequest(m)
            | Failure::Forbidden(m)
            | Failure::NotFound(m)
            | Failure::Unavailable(m) => m.clone(),
            Failure::Unauthorized => LOG_IN.to_string(),
            Failure::Internal(_) => {
                "the log viewer failed on this request; the server's log has the details".into()
            }
        }
    }

    fn log(&self) {
        if let Failure::Internal(detail) = self {
            tracing::error!("log viewer: {detail}");
        }
    }

    /// `{"error": "..."}`.
    pub fn json(self) -> Response {
        self.log();
        let body =
            serde_json::to_vec(&serde_json::json!({ "error": self.message() })).expect("json");
        let mut response = (self.status(), body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        self.challenge(response)
    }

    /// An HTML page with the message (the 401 page shows nothing but how to log in).
    pub fn page(self) -> Response {
        self.log();
        let response = pages::failure(
            self.status(),
            &self.message(),
            matches!(self, Failure::Unauthorized),
        );
        self.challenge(response)
    }

    fn challenge(&self, mut response: Response) -> Response {
        if matches!(self, Failure::Unauthorized) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"lookout admin\""),
            );
        }
        response
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        match e {
            StoreError::Unavailable(m) => Failure::Unavailable(format!(
                "the log's store is not answering ({m}); check the database and retry"
            )),
            StoreError::BadQuery(m) => Failure::BadRequest(m),
            StoreError::Corrupt(m) => Failure::Internal(m),
        }
    }
}

/// A failure answered as a page.
pub struct AsPage(pub Failure);

impl IntoResponse for AsPage {
    fn into_response(self) -> Response {
        self.0.page()
    }
}

impl From<Failure> for AsPage {
    fn from(f: Failure) -> AsPage {
        AsPage(f)
    }
}

/// A failure answered as JSON.
pub struct AsJson(pub Failure);

impl IntoResponse for AsJson {
    fn into_response(self) -> Response {
        self.0.json()
    }
}

impl From<Failure> for AsJson {
    fn from(f: Failure) -> AsJson {
        AsJson(f)
    }
}

async fn not_found(uri: axum::http::Uri) -> Response {
    let failure = Failure::NotFound(format!(
        "nothing at {}; the log viewer is at /admin and its API at /admin/api/calls",
        uri.path()
    ));
    if uri.path().starts_with("/admin/api/") {
        failure.json()
    } else {
        failure.page()
    }
}

/// Runs a store read on a blocking thread, in the caller's span.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Failure> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
        .await
        .map_err(|e| Failure::Internal(format!("a log read panicked: {e}")))?
        .map_err(Failure::from)
}

/// One page of the list.
async fn list_calls(state: &AppState, query: Query) -> Result<Page, Failure> {
    let store = state.recorder.store().clone();
    blocking(move || store.list(&query)).await
}

/// One call, decoded.
async fn load_call(state: &AppState, id: &str) -> Result<Call, Failure> {
    if !crate::store::valid_id(id) {
        return Err(Failure::NotFound(format!(
            "`{id}` is not a call id; call ids are the X-Lookout-Call-Id of an answer, as listed at /admin"
        )));
    }
    let store = state.recorder.store().clone();
    let key = id.to_string();
    let row = blocking(move || store.get(&key)).await?;
    let row = row.ok_or_else(|| {
        Failure::NotFound(format!(
            "no call {id} in the log; it may not be written yet (retry in a second) or retention removed it"
        ))
    })?;
    row.decode().map_err(Failure::from)
}

/// Runs the rule set as it is on disk now on a recorded call.
async fn replay_call(state: &AppState, call: &Call) -> Result<Replayed, Failure> {
    let ruleset = state.registry.get(&call.ruleset).ok_or_else(|| {
        Failure::NotFound(format!(
            "rule set `{}` is not loaded now (its folder is gone or never compiled); put it back in {} to replay this call",
            call.ruleset,
            state.registry.root().display()
        ))
    })?;
    // A replay uses the rule pool like a live call: it waits its turn, never ahead of
    // the Estimator.
    let _permit = state.permits.try_acquire().map_err(|_| {
        Failure::Unavailable(
            "lookout is busy answering the Estimator; retry the replay in a second".into(),
        )
    })?;
    let mut replayed = replay::replay(&state.pool, ruleset, call)
        .await
        .map_err(|e| Failure::BadRequest(e.to_string()))?;
    if let Some(problems) = state.registry.problems().get(&call.ruleset) {
        let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
        replayed.caveats.push(format!(
            "the rule set does not compile now, so this replay used its last good version; fix: {}",
            listed.join("; ")
        ));
    }
    Ok(replayed)
}
