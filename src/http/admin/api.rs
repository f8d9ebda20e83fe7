//! The JSON API under `/admin/api/`, for the CLI, scripts and the page's script. Same
//! auth as the pages (the cookie, or `Authorization: Bearer <token>`); errors are
//! `{"error": "..."}`.
//!
//! | route | answer |
//! |---|---|
//! | `GET /admin/api/calls?ruleset=&status=&problems=&q=&since=&until=&before=&limit=` | a `store::Page` |
//! | `GET /admin/api/calls/{id}` | a `store::Call` (bodies as text, or `{"base64": ...}`) |
//! | `GET /admin/api/calls/{id}/request-body`, `.../response-body` | the body's exact bytes |
//! | `POST /admin/api/calls/{id}/replay` | a `replay::Replayed` |
//! | `GET /admin/api/calls/{id}/test` | the rule test file, as a download |
//! | `GET /admin/api/status` | the recorder's status and the store's size |
//! | `GET /admin/api/me` | who is asking: `{"name": ..., "role": "viewer" \| "author" \| "publisher" \| "admin"}` |
//!
//! Replays and test files need the `author` role or above; the rest, any user.
//! | `GET /admin/api/events?source=&event=&container=&vessel=&port=&since=&until=&before=&limit=` | an `admin::EventList`: `{"events": [...], "next": ...}` |
//! | `GET /admin/api/events/{id}` | an `events::Event` (its `payload` is the JSON text as received) |

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::filters::{EventFilters, Filters};
use crate::http::ApiError;
use crate::http::{AppState, Query};

pub async fn me(axum::Extension(auth): axum::Extension<super::auth::Auth>) -> Response {
    let user = auth.user();
    Json(serde_json::json!({"name": user.name, "role": user.role.as_str()})).into_response()
}

pub async fn list(
    State(state): State<AppState>,
    Query(filters): Query<Filters>,
) -> Result<Response, ApiError> {
    let query = filters
        .query(crate::clock::now_micros())
        .map_err(ApiError::BadRequest)?;
    let page = super::list_calls(&state, query).await?;
    Ok(Json(page).into_response())
}

pub async fn call(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let call = super::load_call(&state, &id).await?;
    Ok(Json(call).into_response())
}

pub async fn request_body(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let call = super::load_call(&state, &id).await?;
    Ok(raw(call.request_body))
}

pub async fn response_body(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let call = super::load_call(&state, &id).await?;
    Ok(raw(call.response_body))
}

/// Bytes as recorded, shown by the browser as JSON text (never run: the CSP and `nosniff`
/// hold for it too).
fn raw(bytes: impl IntoResponse) -> Response {
    let mut response = bytes.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

pub async fn replay(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let call = super::load_call(&state, &id).await?;
    let replayed = super::replay_call(&state, &call).await?;
    Ok(Json(replayed).into_response())
}

pub async fn test_file(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let call = super::load_call(&state, &id).await?;
    let file = super::testfile::build(&call).map_err(ApiError::BadRequest)?;
    let mut response = file.text.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file.name))
            .expect("a call id is header text"),
    );
    Ok(response)
}

pub async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let recorder = state.recorder.status();
    let store = state.recorder.store().clone();
    let stats = super::blocking(move || store.stats()).await?;
    Ok(Json(serde_json::json!({ "recorder": recorder, "store": stats })).into_response())
}

pub async fn events(
    State(state): State<AppState>,
    Query(filters): Query<EventFilters>,
) -> Result<Response, ApiError> {
    let search = filters
        .search(crate::clock::now_micros())
        .map_err(ApiError::BadRequest)?;
    let list = super::list_events(&state, search).await?;
    Ok(Json(list).into_response())
}

pub async fn event(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let event = super::load_event(&state, &id).await?;
    Ok(Json(event).into_response())
}
