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

/// What a named user of the log viewer and the workbench may do (`[[users]]` in
/// `lookout.toml`); each role has the rights of the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// The log: calls, answers, traces, port events.
    Viewer,
    /// Also replays, drafts, trying and testing rules, saving calls as tests.
    Author,
    /// Also publishing a draft as the live rules, and rolling back.
    Publisher,
    /// The admin token: everything.
    Admin,
}

impl Role {
    pub fn parse(text: &str) -> Result<Role, String> {
        match text {
            "viewer" => Ok(Role::Viewer),
            "author" => Ok(Role::Author),
            "publisher" => Ok(Role::Publisher),
            other => Err(format!(
                "role \"{other}\" is not one of \"viewer\", \"author\", \"publisher\" (the admin token has every right)"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Author => "author",
            Role::Publisher => "publisher",
            Role::Admin => "admin",
        }
    }
}

/// A named user: a name shown on what they do, a role, and their own token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAccount {
    pub name: String,
    pub role: Role,
    pub token: AdminToken,
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
