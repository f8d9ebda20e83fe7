//! Secrets and where they travel: the admin token (never shown by `Debug`), and the
//! request headers that carry credentials, which lookout never hands to rules and never
//! stores.
//!
//! A leaf: it imports nothing of lookout but the signature header's name.

/// Headers that carry credentials: never handed to rules (`rules::request_context`),
/// never stored (`store::redact`). Lower case, as `http` names them.
pub const CREDENTIAL_HEADERS: &[&str] = &[
    crate::signature::HEADER,
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-webhooktoken",
    "x-octopi-signature",
];

/// The admin token. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    pub fn new(token: impl Into<String>) -> AdminToken {
        AdminToken(token.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<hidden>)")
    }
}

/// `postgres://user:secret@host/db` → `postgres://user@host/db`, for messages.
pub fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(None);
            }
            // libpq also takes `?password=...`.
            let kept: Vec<(String, String)> = parsed
                .query_pairs()
                .filter(|(k, _)| k != "password")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if parsed.query().is_some() {
                if kept.is_empty() {
                    parsed.set_query(None);
                } else {
                    parsed.query_pairs_mut().clear().extend_pairs(kept);
                }
            }
            parsed.to_string()
        }
        Err(_) => "postgres://<unparsable url>".to_string(),
    }
}
