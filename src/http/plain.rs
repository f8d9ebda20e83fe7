//! The plain-HTTP listener (`[tls.acme] http_listen`): it answers ACME http-01
//! challenges (`/.well-known/acme-challenge/<token>`) and sends everything else to
//! the same path over HTTPS with a 308, so nothing but a challenge is ever served in
//! clear text.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::acme::Acme;

#[derive(Clone)]
struct Plain {
    acme: Arc<Acme>,
    /// The HTTPS listener's port (left out of the redirect when it is 443).
    https_port: u16,
}

pub fn router(acme: Arc<Acme>, https_port: u16) -> Router {
    Router::new()
        .route("/.well-known/acme-challenge/{token}", get(challenge))
        .fallback(to_https)
        .with_state(Plain { acme, https_port })
}

async fn challenge(State(plain): State<Plain>, Path(token): Path<String>) -> Response {
    match plain.acme.http01(&token) {
        Some(answer) => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], answer).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            "no ACME challenge with this token is waiting\n",
        )
            .into_response(),
    }
}

async fn to_https(State(plain): State<Plain>, headers: HeaderMap, uri: Uri) -> Response {
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(host_only)
    else {
        return (
            StatusCode::BAD_REQUEST,
            "lookout answers over HTTPS only; this request names no host to send it to\n",
        )
            .into_response();
    };
    let port = match plain.https_port {
        443 => String::new(),
        port => format!(":{port}"),
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, format!("https://{host}{port}{path}"))],
        "lookout answers over HTTPS only\n",
    )
        .into_response()
}

/// The host of a `Host` header without its port (`[::1]:80` → `[::1]`); `None` for
/// anything that is not a plain host name or address.
fn host_only(value: &str) -> Option<&str> {
    let host = if value.starts_with('[') {
        &value[..=value.find(']')?]
    } else {
        value.split(':').next()?
    };
    let plain = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    plain.then_some(host)
}

#[cfg(test)]
mod tests {
    use super::host_only;

    #[test]
    fn only_a_plain_host_is_redirected_to() {
        assert_eq!(
            host_only("lookout.desk.example"),
            Some("lookout.desk.example")
        );
        assert_eq!(
            host_only("lookout.desk.example:80"),
            Some("lookout.desk.example")
        );
        assert_eq!(host_only("[::1]:80"), Some("[::1]"));
        assert_eq!(host_only("evil.example/x"), None);
        assert_eq!(host_only("a b"), None);
        assert_eq!(host_only(""), None);
    }
}
