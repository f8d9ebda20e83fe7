//! The one error type of the HTTP layer and its `{"error": ...}` body.
//! Only `http` knows status codes.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

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
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized(_) | ApiError::Refused { .. } => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) | ApiError::BodyRead(_) => StatusCode::BAD_REQUEST,
            ApiError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
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
        let status = self.status();
        let body = error_body(&self.to_string());
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        if matches!(self, ApiError::BodyTimeout { .. }) {
            // The rest of the body may still be on its way: end the connection.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if matches!(
            self,
            ApiError::Overloaded { .. } | ApiError::UploadsBusy { .. }
        ) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let ApiError::Refused { scheme, .. } = &self {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(scheme));
        }
        if matches!(self, ApiError::Unauthorized(_)) {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Veson-Webhook-Signature"),
            );
        }
        response
    }
}
