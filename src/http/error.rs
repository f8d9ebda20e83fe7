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
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized(_) | ApiError::Refused { .. } => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) | ApiError::BodyRead(_) => StatusCode::BAD_REQUEST,
            ApiError::Overloaded { .. } | ApiError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body =
            serde_json::to_vec(&serde_json::json!({ "error": self.to_string() })).expect("json");
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if matches!(self, ApiError::Overloaded { .. }) {
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
