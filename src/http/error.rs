//! The one error type of the HTTP layer: the webhook, the event intake, the viewer's
//! API and its pages. As JSON it is `{"error": ...}` ([`error_body`], the one place that
//! body is built); the viewer renders the same error as a page (`admin::AsPage`), with
//! the same status and headers ([`ApiError::finish`]). Only `http` knows status codes.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("request body is larger than {limit} bytes (max_request_bytes); select fewer estimate fields in the IMOS webhook setup, or raise max_request_bytes in lookout.toml")]
    TooLarge { limit: usize },
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A 401 with its own message, naming the credential (`WWW-Authenticate`).
    #[error("{message}")]
    Refused {
        message: String,
        scheme: &'static str,
    },
    #[error("{0}")]
    BadRequest(String),
    /// A query string that does not read as the route's parameters ([`super::Query`]).
    #[error("the query string is not readable ({why}); use {form}")]
    Query { why: String, form: &'static str },
    /// The viewer without a session or token (`WWW-Authenticate: Bearer`).
    #[error("log in first: open /admin/login and enter the admin token (LOOKOUT_ADMIN_TOKEN, or the file data/admin-token), or send Authorization: Bearer <token>")]
    LogIn,
    #[error("{0}")]
    Forbidden(String),
    /// What was asked no longer fits what is there (a draft made from an older version).
    #[error("{0}")]
    Conflict(String),
    #[error("lookout is already evaluating its limit of {limit} calls at once; retry in a second (max_concurrent_calls in lookout.toml)")]
    Overloaded { limit: usize },
    #[error("{0}")]
    Unavailable(String),
    #[error("could not read the request body: {0}; resend it")]
    BodyRead(String),
    #[error("the request body did not arrive within {} ms ({received} bytes came); send the whole body at once (body_timeout_ms in lookout.toml)", after.as_millis())]
    BodyTimeout {
        after: std::time::Duration,
        received: usize,
    },
    #[error("lookout is already reading its limit of {budget_mb} MiB of request bodies; retry in a second ([http] upload_buffer_mb in lookout.toml)")]
    UploadsBusy { budget_mb: usize },
    #[error("Content-Encoding `{0}` is not accepted; send the body as plain JSON (no Content-Encoding, or `identity`)")]
    UnsupportedEncoding(String),
    /// A bug: a handler panicked. The message says so and nothing of the panic.
    #[error("lookout failed while answering (a bug, counted in lookout_panics_total); the call was not evaluated, resend it")]
    Internal,
    /// A request of the viewer failed inside lookout (a record that does not read, a
    /// read that panicked): logged in full, the answer says only that it happened.
    #[error("the log viewer failed on this request; the server's log has the details")]
    Failed(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Unavailable(m) => ApiError::Unavailable(format!(
                "the log's store is not answering ({m}); check the database and retry"
            )),
            StoreError::BadQuery(m) => ApiError::BadRequest(m),
            StoreError::Corrupt(m) => ApiError::Failed(m),
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized(_) | ApiError::Refused { .. } => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) | ApiError::Query { .. } | ApiError::BodyRead(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::LogIn => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Internal | ApiError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Overloaded { .. }
            | ApiError::UploadsBusy { .. }
            | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// `{"error": "<message>"}`: the body of every error answer, API and webhook.
pub fn error_body(message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "error": message })).expect("json")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), error_body(&self.to_string())).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        self.finish(response)
    }
}

impl ApiError {
    /// Completes an answer of this error, JSON or page: logs what only the server may
    /// see, and adds the headers the status needs (a challenge, `Retry-After`, closing a
    /// connection whose body may still be arriving).
    pub fn finish(&self, mut response: Response) -> Response {
        if let ApiError::Failed(detail) = self {
            tracing::error!("log viewer: {detail}");
        }
        let headers = response.headers_mut();
        if matches!(self, ApiError::BodyTimeout { .. }) {
            // The rest of the body may still be on its way: end the connection.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if matches!(
            self,
            ApiError::Overloaded { .. } | ApiError::UploadsBusy { .. }
        ) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        let challenge = match self {
            ApiError::Refused { scheme, .. } => Some(*scheme),
            ApiError::Unauthorized(_) => Some("Veson-Webhook-Signature"),
            ApiError::LogIn => Some("Bearer realm=\"lookout admin\""),
            _ => None,
        };
        if let Some(scheme) = challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(scheme));
        }
        response
    }
}
