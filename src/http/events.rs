//! `POST /events/octopi` and `POST /events/portconnect`: port event intake.
//!
//! Reads as the call's path: is the source configured → read the body (bounded) →
//! authenticate on the exact bytes → parse every item (all or nothing) → one durable
//! transaction in the store → 200 with what was stored. Nothing is answered 2xx before
//! the commit returned, so a sender that saw 2xx can forget the delivery.

use std::time::SystemTime;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::events::{octopi, portconnect, Event, Ingested};
use crate::http::{ApiError, AppState};

/// Largest Octopi delivery read: it is one event (a few KB), read before it can be
/// authenticated, so it gets far less room than an estimate.
const OCTOPI_MAX_BYTES: usize = 1 << 20;

pub async fn octopi(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let received = SystemTime::now();
    let result = async {
        let settings = &state.config.events.octopi;
        if settings.secrets.is_empty() {
            return Err(ApiError::NotFound(
                "Octopi intake is off on this server: set [events.octopi] secrets in lookout.toml (or LOOKOUT_OCTOPI_SECRET) to the shared secret Octopi signs with".into(),
            ));
        }
        let header = |name: &str| -> Result<Option<&str>, ApiError> { one_header(&headers, name) };
        let sent = octopi::Headers {
            event: header("x-octopi-event")?,
            delivery: header("x-octopi-delivery")?,
            timestamp: header("x-octopi-timestamp")?,
            signature: header("x-octopi-signature")?,
        };
        // No body is read for a delivery that cannot pass: without a signature it is
        // refused on its headers alone.
        if sent.signature.is_none_or(|s| s.trim().is_empty()) {
            state.uploads.drain(body, 64 << 10).await;
            return Err(ApiError::Refused {
                message: "missing or empty X-Octopi-Signature; Octopi signs every delivery with the shared secret: check the webhook's secret in Octopi and [events.octopi] secrets in lookout.toml".into(),
                scheme: "X-Octopi-Signature",
            });
        }
        let limit = state.config.max_request_bytes.min(OCTOPI_MAX_BYTES);
        let body = state.uploads.read(&headers, body, limit).await?;
        octopi::authenticate(settings, &sent, &body, received).map_err(|refused| match refused {
            octopi::Refused::Unauthorized(message) => ApiError::Refused {
                message,
                scheme: "X-Octopi-Signature",
            },
            octopi::Refused::Bad(message) => ApiError::BadRequest(message),
        })?;
        let event = octopi::parse(
            settings,
            &sent,
            &body,
            Uuid::now_v7().to_string(),
            crate::clock::micros(received),
        )
        .map_err(ApiError::BadRequest)?;
        store(&state, vec![event]).await
    }
    .await;
    finish(&state, "octopi", result)
}

pub async fn portconnect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let received = SystemTime::now();
    let result = async {
        let tokens = &state.config.events.portconnect_tokens;
        if tokens.is_empty() {
            return Err(ApiError::NotFound(
                "PortConnect intake is off on this server: set [events.portconnect] tokens in lookout.toml (or LOOKOUT_PORTCONNECT_TOKEN) to the subscription's webhookToken".into(),
            ));
        }
        let presented = one_header(&headers, portconnect::TOKEN_HEADER)?;
        if !portconnect::token_matches(presented.map(str::as_bytes), tokens) {
            state.uploads.drain(body, 64 << 10).await;
            return Err(ApiError::Refused {
                message: match presented {
                    None => "missing X-WebhookToken; PortConnect sends the subscription's webhookToken in it".into(),
                    Some(_) => "X-WebhookToken does not match; give the subscription's webhookToken to [events.portconnect] tokens in lookout.toml".into(),
                },
                scheme: "X-WebhookToken",
            });
        }
        let body = state
            .uploads
            .read(&headers, body, state.config.max_request_bytes)
            .await?;
        let events = portconnect::parse(&body, crate::clock::micros(received), || {
            Uuid::now_v7().to_string()
        })
        .map_err(|e| ApiError::BadRequest(format!("{e}; nothing from this call was stored")))?;
        store(&state, events).await
    }
    .await;
    finish(&state, "portconnect", result)
}

/// The value of a header sent at most once, as text.
fn one_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::BadRequest(format!(
            "more than one {name} header; send exactly one"
        )));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| ApiError::BadRequest(format!("the {name} header is not ASCII text")))
}

/// Writes the events durably, off the async threads.
async fn store(state: &AppState, events: Vec<Event>) -> Result<Ingested, ApiError> {
    let store = state.recorder.store().clone();
    let count = events.len();
    let written = tokio::task::spawn_blocking(move || store.write_events(&events))
        .await
        .map_err(|e| {
            ApiError::Unavailable(format!("storing the events failed: {e}; resend them"))
        })?;
    written.map_err(|e| {
        tracing::warn!(events = count, "port events not stored: {e}");
        ApiError::Unavailable(format!(
            "the events could not be stored ({e}); nothing was kept, resend them"
        ))
    })
}

fn finish(state: &AppState, source: &'static str, result: Result<Ingested, ApiError>) -> Response {
    let status = result
        .as_ref()
        .map_or_else(|e| e.status().as_u16(), |_| 200);
    let done = result.as_ref().copied().unwrap_or_default();
    state
        .metrics
        .events(source, status, done.stored, done.duplicates);
    match result {
        Ok(ingested) => {
            tracing::info!(
                source,
                stored = ingested.stored,
                duplicates = ingested.duplicates,
                "port events received"
            );
            let mut response = axum::Json(ingested).into_response();
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            response
        }
        Err(err) => {
            tracing::warn!(
                source,
                status = err.status().as_u16(),
                "port events refused: {err}"
            );
            err.into_response()
        }
    }
}
