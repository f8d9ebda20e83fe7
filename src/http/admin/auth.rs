//! Who may see the log: the admin token, login sessions, CSRF, and the headers every
//! `/admin` response carries.
//!
//! - The token comes from `Config::admin_token`, else `LOOKOUT_ADMIN_TOKEN`, else
//!   `<data>/admin-token`, else it is generated there (mode 0600) and a one-time login
//!   link is printed once, on stderr only (never through `tracing`): it carries a login
//!   code (32 random bytes), not the token. A code logs in once, within
//!   [`LOGIN_CODE_LIFETIME`], on the instance that printed it: codes live in its memory.
//! - The token itself is taken only as `Authorization: Bearer` or from the login form's
//!   POST, never from a URL (`GET /admin/login?token=` logs nobody in). Nothing here
//!   writes the token, or a code, to the log.
//! - Logging in (the form, or a login link) sets the cookie `lookout_admin` to a
//!   session: an expiry and a random nonce, signed with a key derived from the token
//!   (HMAC-SHA256). The cookie is never the token; changing the token ends every
//!   session; instances sharing a token accept each other's sessions.
//! - Logging out records the session's nonce in the store (`Backend::revoke_session`,
//!   until the session would have expired), so restarts and every instance on the same
//!   store refuse it. The check on each request reads a set in memory; the set is read
//!   from the store at start and again when it is older than [`REVOCATIONS_FRESH`] (on a
//!   blocking thread, one read for concurrent requests), so another instance's logout
//!   is honoured here within that time, and this instance's at once.
//! - A session's CSRF token is an HMAC of its nonce. Every POST made with the cookie must
//!   carry it (form field `csrf` or header `X-CSRF-Token`) and must not come from another
//!   site (`Origin`, `Sec-Fetch-Site`). `Authorization: Bearer <token>` needs neither: a
//!   browser never sends it by itself.
//!
//! Architecture invariant: every `/admin` route except the login page and its static
//! assets sits behind [`require`]; an unauthenticated request learns nothing but "401,
//! log in".

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AsPage;
use crate::http::ApiError;
use crate::http::AppState;
pub use crate::secrets::Role;
use crate::secrets::{AdminToken, UserAccount};
use crate::store::{Store, StoreError};

pub const COOKIE: &str = "lookout_admin";
/// How long a login lasts.
pub const SESSION: Duration = Duration::from_secs(12 * 3600);
/// How long a login code (the printed login link) works, unless
/// [`Admin::set_login_code_lifetime`] says otherwise.
pub const LOGIN_CODE_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The logged-out sessions known here are read from the store again when older than this.
pub const REVOCATIONS_FRESH: Duration = Duration::from_secs(5);
/// The token file in the data folder.
pub const TOKEN_FILE: &str = "admin-token";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Largest form a POST under `/admin` may carry (the forms hold a CSRF token or the admin
/// token, nothing more).
const MAX_FORM_BYTES: usize = 16 * 1024;
/// Shortest token accepted from the environment or the config.
const MIN_TOKEN_CHARS: usize = 16;

/// Where the token came from (for the start-up message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Config,
    Env,
    File(PathBuf),
    Generated(PathBuf),
}

/// Who is asking: the admin token's holder (`admin`, every right) or a named user of
/// `[[users]]` with their role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub role: Role,
}

impl User {
    fn admin() -> User {
        User {
            name: "admin".into(),
            role: Role::Admin,
        }
    }
}

/// One token and what it opens: the admin token's account is first, then `[[users]]`.
struct Account {
    user: User,
    token_digest: [u8; 32],
    /// Signs this account's sessions: changing the token ends them.
    session_key: [u8; 32],
}

impl Account {
    fn new(user: User, token: &str) -> Account {
        Account {
            user,
            token_digest: Sha256::digest(token.as_bytes()).into(),
            session_key: mac(token.as_bytes(), &[b"lookout admin session key v1"]),
        }
    }
}

/// The viewer's secrets: the admin token's and each user's account (token digest and
/// session key), the login codes this instance made, and the sessions ended by logging
/// out.
pub struct Admin {
    accounts: Vec<Account>,
    source: TokenSource,
    codes: LoginCodes,
    revoked: Revocations,
}

/// One-time login codes, in this instance's memory only (the link that carries one is
/// printed by this instance and names its address).
struct LoginCodes {
    /// How long a code made now works.
    lifetime: Mutex<Duration>,
    /// SHA-256 of each code (the code itself is not kept) → when it expires, and
    /// whether it was used.
    made: Mutex<HashMap<[u8; 32], (Instant, bool)>>,
}

/// Why a login code logged nobody in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefused {
    /// Not made by this instance since it started.
    Unknown,
    Used,
    Expired,
}

/// Sessions logged out, on any instance sharing the store.
struct Revocations {
    /// Nonce → the session's expiry (seconds since the epoch).
    nonces: Mutex<HashMap<[u8; 16], u64>>,
    /// When `nonces` was last read from the store; `None` before the first read.
    read_at: Mutex<Option<Instant>>,
    /// Held while reading, so concurrent requests wait for one read.
    reading: tokio::sync::Mutex<()>,
}

impl Revocations {
    fn new() -> Revocations {
        Revocations {
            nonces: Mutex::new(HashMap::new()),
            read_at: Mutex::new(None),
            reading: tokio::sync::Mutex::new(()),
        }
    }

    fn contains(&self, nonce: &[u8; 16]) -> bool {
        self.nonces.lock().expect("revocations").contains_key(nonce)
    }

    /// Adds sessions (nonce, expiry in seconds); forgets those expired by now.
    fn add(&self, ended: impl IntoIterator<Item = ([u8; 16], u64)>) {
        let now = now_secs();
        let mut nonces = self.nonces.lock().expect("revocations");
        nonces.retain(|_, expires| *expires > now);
        for (nonce, expires) in ended {
            if expires > now {
                let kept = nonces.entry(nonce).or_insert(expires);
                *kept = (*kept).max(expires);
            }
        }
    }

    fn read_at(&self) -> Option<Instant> {
        *self.read_at.lock().expect("revocations")
    }

    fn fresh(&self) -> bool {
        self.read_at()
            .is_some_and(|at| at.elapsed() < REVOCATIONS_FRESH)
    }
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("source", &self.source)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0} is empty; set a long random value (e.g. `openssl rand -base64 32`) or unset it to have lookout make one in {TOKEN_FILE}")]
    Empty(String),
    #[error("{what} is {chars} characters long; use at least {MIN_TOKEN_CHARS} random characters (e.g. `openssl rand -base64 32`)")]
    TooShort { what: String, chars: usize },
    #[error("cannot read the admin token {path}: {source}; fix its permissions or delete it to have lookout make a new one")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write a new admin token to {path}: {source}; make the data folder writable or set LOOKOUT_ADMIN_TOKEN")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot get random bytes for the admin token: {0}")]
    Random(String),
}

impl Admin {
    /// The token from `configured`, else `LOOKOUT_ADMIN_TOKEN`, else `<data>/admin-token`,
    /// else a new one written there. For a new token a one-time login link is printed
    /// once, on stderr only (not through `tracing`); it does not carry the token.
    pub fn load(
        configured: Option<&AdminToken>,
        data: &Path,
        addr: SocketAddr,
    ) -> Result<Admin, TokenError> {
        let (token, source) = match configured {
            Some(token) => (
                checked(token.expose(), "the configured admin token")?,
                TokenSource::Config,
            ),
            None => match std::env::var("LOOKOUT_ADMIN_TOKEN") {
                Ok(token) => (checked(&token, "LOOKOUT_ADMIN_TOKEN")?, TokenSource::Env),
                Err(_) => from_file(data)?,
            },
        };
        let admin = Admin::with_token(&token, source.clone());
        match &source {
            TokenSource::Generated(path) => {
                let code = admin.make_code().map_err(TokenError::Random)?;
                tracing::warn!(
                    file = %path.display(),
                    "made an admin token for the log viewer in {}; a one-time login link is printed on stderr",
                    path.display()
                );
                // On stderr only: the link must not reach structured logs shipped elsewhere.
                eprintln!(
                    "lookout: log viewer login link (works once, for {} minutes, on this instance):\n  {}\n  After that, paste the admin token from {} at /admin/login.",
                    LOGIN_CODE_LIFETIME.as_secs() / 60,
                    login_link(addr, &code),
                    path.display()
                );
            }
            TokenSource::File(path) => {
                tracing::info!(file = %path.display(), "log viewer: admin token read from {}; log in at /admin/login", path.display());
            }
            TokenSource::Env => tracing::info!("log viewer: admin token from LOOKOUT_ADMIN_TOKEN"),
            TokenSource::Config => {}
        }
        Ok(admin)
    }

    pub fn with_token(token: &str, source: TokenSource) -> Admin {
        Admin {
            accounts: vec![Account::new(User::admin(), token)],
            source,
            codes: LoginCodes {
                lifetime: Mutex::new(LOGIN_CODE_LIFETIME),
                made: Mutex::new(HashMap::new()),
            },
            revoked: Revocations::new(),
        }
    }

    /// A new one-time login code (what the link printed at first start carries): 32
    /// random bytes, URL-safe base64. `GET /admin/login?code=<code>` logs in once,
    /// within the login code lifetime, on this instance.
    pub fn login_code(&self) -> Result<String, ApiError> {
        self.make_code().map_err(ApiError::Unavailable)
    }

    /// How long codes made from now on work ([`LOGIN_CODE_LIFETIME`] unless set; tests
    /// shorten it).
    pub fn set_login_code_lifetime(&self, lifetime: Duration) {
        *self.codes.lifetime.lock().expect("login codes") = lifetime;
    }

    fn make_code(&self) -> Result<String, String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| format!("cannot get random bytes for a login code: {e}"))?;
        let code = URL_SAFE_NO_PAD.encode(bytes);
        let lifetime = *self.codes.lifetime.lock().expect("login codes");
        let now = Instant::now();
        let mut made = self.codes.made.lock().expect("login codes");
        // Expired codes are kept a while to say "expired" rather than "unknown".
        made.retain(|_, (expires, _)| {
            now.saturating_duration_since(*expires) < LOGIN_CODE_LIFETIME
        });
        made.insert(
            Sha256::digest(code.as_bytes()).into(),
            (now + lifetime, false),
        );
        Ok(code)
    }

    /// Uses up a login code: `Ok` the first time, within its lifetime.
    pub fn redeem_code(&self, code: &str) -> Result<(), CodeRefused> {
        let digest: [u8; 32] = Sha256::digest(code.trim().as_bytes()).into();
        let mut made = self.codes.made.lock().expect("login codes");
        let (expires, used) = made.get_mut(&digest).ok_or(CodeRefused::Unknown)?;
        if *used {
            return Err(CodeRefused::Used);
        }
        if Instant::now() >= *expires {
            return Err(CodeRefused::Expired);
        }
        *used = true;
        Ok(())
    }

    pub fn source(&self) -> &TokenSource {
        &self.source
    }

    /// The named users of `[[users]]` besides the admin token (their tokens checked
    /// by the config: long enough and distinct).
    pub fn with_users(mut self, users: &[UserAccount]) -> Admin {
        for u in users {
            let user = User {
                name: u.name.clone(),
                role: u.role,
            };
            self.accounts
                .push(Account::new(user, u.token.expose().trim()));
        }
        self
    }

    /// Is `given` the admin token?
    pub fn is_token(&self, given: &str) -> bool {
        self.user_for(given)
            .is_some_and(|user| user.role == Role::Admin)
    }

    /// Whose token is `given` (the admin token's or a user's). Constant time: every
    /// account is compared, both sides hashed first, so not even the length is
    /// compared directly.
    pub fn user_for(&self, given: &str) -> Option<User> {
        let given = given.trim();
        let digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        let mut found = None;
        for account in &self.accounts {
            if bool::from(digest.ct_eq(&account.token_digest)) {
                found = Some(account.user.clone());
            }
        }
        found.filter(|_| !given.is_empty())
    }

    /// Whether the request carries a token (Bearer) or a live session cookie: for
    /// answers outside `/admin` that say more to those who may see the log (`/readyz`,
    /// `/metrics`). A session counts only once the logged-out sessions were read from
    /// the store (which [`super::router`] starts at once); this does not read them again.
    pub fn authorizes(&self, headers: &HeaderMap) -> bool {
        match bearer(headers) {
            Some(given) => self.user_for(given).is_some(),
            None => {
                self.revoked.read_at().is_some()
                    && cookie(headers).and_then(|v| self.session(v)).is_some()
            }
        }
    }

    /// A new session for `user`, as the cookie's value.
    pub fn new_session(&self, user: &User) -> Result<String, ApiError> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| {
            ApiError::Unavailable(format!("cannot get random bytes for a session: {e}"))
        })?;
        let expires = now_secs() + SESSION.as_secs();
        let account = self
            .accounts
            .iter()
            .find(|a| a.user == *user)
            .ok_or(ApiError::LogIn)?;
        Ok(self.sign_for(account, expires, nonce))
    }

    #[cfg(test)]
    fn sign(&self, expires: u64, nonce: [u8; 16]) -> String {
        self.sign_for(&self.accounts[0], expires, nonce)
    }

    /// `payload.tag`: the payload is the expiry, the nonce and the user's name (none
    /// for the admin token's sessions), signed with the account's key.
    fn sign_for(&self, account: &Account, expires: u64, nonce: [u8; 16]) -> String {
        let mut payload = Vec::with_capacity(24 + account.user.name.len());
        payload.extend_from_slice(&expires.to_be_bytes());
        payload.extend_from_slice(&nonce);
        if account.user.role != Role::Admin {
            payload.extend_from_slice(account.user.name.as_bytes());
        }
        let tag = mac(&account.session_key, &[b"session", &payload]);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The session a cookie value holds, when it is genuine, unexpired and not logged out.
    pub fn session(&self, value: &str) -> Option<Session> {
        let (payload, tag) = value.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if payload.len() < 24 {
            return None;
        }
        let name = std::str::from_utf8(&payload[24..]).ok()?;
        let account = if name.is_empty() {
            &self.accounts[0]
        } else {
            self.accounts.iter().skip(1).find(|a| a.user.name == name)?
        };
        let expected = mac(&account.session_key, &[b"session", &payload]);
        if !bool::from(expected.as_slice().ct_eq(&tag)) {
            return None;
        }
        let expires = u64::from_be_bytes(payload[..8].try_into().ok()?);
        let nonce: [u8; 16] = payload[8..24].try_into().ok()?;
        if expires <= now_secs() || self.revoked.contains(&nonce) {
            return None;
        }
        Some(Session {
            nonce,
            expires,
            csrf: URL_SAFE_NO_PAD.encode(mac(&account.session_key, &[b"csrf", &nonce])),
            user: account.user.clone(),
        })
    }

    /// Whether `session` was logged out, as far as this instance knows now.
    pub fn is_revoked(&self, session: &Session) -> bool {
        self.revoked.contains(&session.nonce)
    }

    /// Ends a session in this instance's memory only (see [`Admin::log_out`]).
    fn revoke(&self, session: &Session) {
        self.revoked.add([(session.nonce, session.expires)]);
    }

    /// Ends a session: at once here, and in the store for restarts and the other
    /// instances (on a blocking thread). `Err` when the store did not take it: then only
    /// this instance, until it restarts, refuses the session.
    pub async fn log_out(&self, session: &Session, store: &Store) -> Result<(), ApiError> {
        self.revoke(session);
        let store = store.clone();
        let nonce = URL_SAFE_NO_PAD.encode(session.nonce);
        let expires = i64::try_from(session.expires)
            .unwrap_or(i64::MAX / 1_000_000)
            .saturating_mul(1_000_000);
        let span = tracing::Span::current();
        let written = tokio::task::spawn_blocking(move || {
            span.in_scope(|| store.revoke_session(&nonce, expires))
        })
        .await
        .map_err(|e| ApiError::Failed(format!("recording a logout panicked: {e}")))?;
        written.map_err(|e| {
            ApiError::Unavailable(format!(
                "you are logged out here, but the logout could not be recorded in the log's store ({e}), so other instances, and this one after a restart, could still accept the old session until it expires; log in and out again once the store answers"
            ))
        })
    }

    /// Reads the logged-out sessions from the store when those known here are older than
    /// [`REVOCATIONS_FRESH`] (on a blocking thread; concurrent callers share one read).
    /// `Err` only when they were never read: no session can be checked then. A failed
    /// re-read keeps those read before and is tried again after the same interval.
    pub async fn revocations_fresh(&self, store: &Store) -> Result<(), ApiError> {
        if self.revoked.fresh() {
            return Ok(());
        }
        let _reading = self.revoked.reading.lock().await;
        if self.revoked.fresh() {
            return Ok(());
        }
        let store = store.clone();
        let now = crate::clock::now_micros();
        let span = tracing::Span::current();
        let read =
            tokio::task::spawn_blocking(move || span.in_scope(|| store.revoked_sessions(now)))
                .await
                .unwrap_or_else(|e| Err(StoreError::Corrupt(format!("the read panicked: {e}"))));
        let ever_read = self.revoked.read_at().is_some();
        match read {
            Ok(ended) => {
                self.revoked.add(ended.into_iter().filter_map(|(nonce, expires)| {
                    let nonce: [u8; 16] = URL_SAFE_NO_PAD.decode(nonce).ok()?.try_into().ok()?;
                    Some((nonce, u64::try_from(expires / 1_000_000).ok()?))
                }));
            }
            Err(e) if !ever_read => return Err(ApiError::from(e)),
            Err(e) => tracing::warn!(
                "log viewer: cannot read the logged-out sessions from the store ({e}); using those read before, trying again in {}s",
                REVOCATIONS_FRESH.as_secs()
            ),
        }
        *self.revoked.read_at.lock().expect("revocations") = Some(Instant::now());
        Ok(())
    }
}

/// A logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    nonce: [u8; 16],
    expires: u64,
    /// What its POSTs must carry.
    pub csrf: String,
    pub user: User,
}

/// How a request proved it may see the log, and whose it is; handlers find it in the
/// request's extensions.
#[derive(Debug, Clone)]
pub enum Auth {
    Bearer(User),
    Session(Session),
}

impl Auth {
    /// The CSRF token forms must carry (empty for Bearer clients, which need none).
    pub fn csrf(&self) -> &str {
        match self {
            Auth::Bearer(_) => "",
            Auth::Session(s) => &s.csrf,
        }
    }

    pub fn user(&self) -> &User {
        match self {
            Auth::Bearer(user) => user,
            Auth::Session(s) => &s.user,
        }
    }

    /// `Ok` when the user's role is `role` or above; else a 403 that says what `what`
    /// needs and what the user is.
    pub fn may(&self, role: Role, what: &str) -> Result<(), ApiError> {
        let user = self.user();
        if user.role >= role {
            return Ok(());
        }
        Err(ApiError::Forbidden(format!(
            "{what} needs the {} role; {} is a {}",
            role.as_str(),
            user.name,
            user.role.as_str()
        )))
    }
}

/// The middleware on each group of routes that needs more than seeing the log: the
/// user's role must be `role` or above (after [`require`], which found the user).
pub async fn at_least(role: Role, request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/admin/api/");
    let what = format!("{} {}", request.method(), request.uri().path());
    let allowed = match request.extensions().get::<Auth>() {
        Some(auth) => auth.may(role, &what),
        None => Err(ApiError::LogIn),
    };
    match allowed {
        Ok(()) => next.run(request).await,
        Err(failure) if api => failure.into_response(),
        Err(failure) => AsPage(failure).into_response(),
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn checked(token: &str, what: &str) -> Result<String, TokenError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(TokenError::Empty(what.to_string()));
    }
    let chars = token.chars().count();
    if chars < MIN_TOKEN_CHARS {
        return Err(TokenError::TooShort {
            what: what.to_string(),
            chars,
        });
    }
    Ok(token.to_string())
}

/// Reads `<data>/admin-token`, or makes it (32 random bytes, URL-safe base64, mode 0600).
fn from_file(data: &Path) -> Result<(String, TokenSource), TokenError> {
    let path = data.join(TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let token = checked(&text, &path.display().to_string())?;
            warn_if_readable_by_others(&path);
            return Ok((token, TokenSource::File(path)));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(TokenError::Read { path, source }),
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let write = |path: &Path| -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::create_dir_all(data)?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(token.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
    };
    match write(&path) {
        Ok(()) => Ok((token, TokenSource::Generated(path))),
        // Another instance on the same data folder made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path).map_err(|source| TokenError::Read {
                path: path.clone(),
                source,
            })?;
            Ok((
                checked(&text, &path.display().to_string())?,
                TokenSource::File(path),
            ))
        }
        Err(source) => Err(TokenError::Write { path, source }),
    }
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                "the admin token file can be read by other users; run `chmod 600 {}`",
                path.display()
            );
        }
    }
}

/// `https://<host>:<port>/admin/login?code=...`; `localhost` when listening on every
/// address or on loopback (the development certificate's name).
fn login_link(addr: SocketAddr, code: &str) -> String {
    let ip = addr.ip();
    let host = if ip.is_unspecified() || ip.is_loopback() {
        "localhost".to_string()
    } else if ip.is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    format!(
        "https://{host}:{}/admin/login?code={}",
        addr.port(),
        url::form_urlencoded::byte_serialize(code.as_bytes()).collect::<String>()
    )
}

/// The `lookout_admin` cookie's value, when the request has one.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// `Set-Cookie` for a new session.
pub fn session_cookie(value: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/admin; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        SESSION.as_secs()
    ))
    .expect("base64 is header text")
}

/// `Set-Cookie` that removes the session.
pub fn cleared_cookie() -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/admin; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
    ))
    .expect("static text")
}

/// Does the request come from a page of this server? A browser sends `Sec-Fetch-Site`
/// and (on POST) `Origin`; when present they must say "same origin".
///
/// Under `Referrer-Policy: no-referrer` browsers send `Origin: null` even on same-origin
/// POSTs, so `null` passes only when `Sec-Fetch-Site` (which no page can set) says
/// `same-origin`.
pub fn same_origin(headers: &HeaderMap, uri: &Uri) -> Result<(), String> {
    let site = headers.get("sec-fetch-site");
    if let Some(site) = site {
        if site.as_bytes() != b"same-origin" {
            return Err(format!(
                "this request came from another site (Sec-Fetch-Site: {}); use the buttons of the log viewer itself",
                String::from_utf8_lossy(site.as_bytes())
            ));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        if origin.as_bytes() == b"null" && site.is_some() {
            return Ok(());
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| uri.authority().map(|a| a.as_str()));
        let expected = host.map(|h| format!("https://{h}"));
        if expected.as_deref().map(str::as_bytes) != Some(origin.as_bytes()) {
            return Err(format!(
                "this request came from another origin ({}); use the buttons of the log viewer itself",
                String::from_utf8_lossy(origin.as_bytes())
            ));
        }
    }
    Ok(())
}

/// The middleware in front of every protected `/admin` route: Bearer token or session
/// cookie, and for POSTs with the cookie, the CSRF token and a same-origin request.
pub async fn require(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/admin/api/");
    let refuse = |failure: ApiError| -> Response {
        if api {
            failure.into_response()
        } else {
            AsPage(failure).into_response()
        }
    };
    let admin = &state.admin;
    let headers = request.headers();
    let auth = if let Some(given) = bearer(headers) {
        let Some(user) = admin.user_for(given) else {
            return refuse(ApiError::LogIn);
        };
        Auth::Bearer(user)
    } else {
        let Some(session) = cookie(headers).and_then(|value| admin.session(value)) else {
            return refuse(ApiError::LogIn);
        };
        // Logged out on another instance, or before a restart?
        if let Err(failure) = admin.revocations_fresh(state.recorder.store()).await {
            return refuse(failure);
        }
        if admin.is_revoked(&session) {
            return refuse(ApiError::LogIn);
        }
        Auth::Session(session)
    };
    let mut request = request;
    if let Auth::Session(session) = &auth {
        if !matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        ) {
            if let Err(why) = same_origin(request.headers(), request.uri()) {
                return refuse(ApiError::Forbidden(why));
            }
            let (given, rebuilt) = csrf_of(request).await;
            request = match rebuilt {
                Ok(request) => request,
                Err(failure) => return refuse(failure),
            };
            let valid = given
                .as_deref()
                .is_some_and(|g| bool::from(g.as_bytes().ct_eq(session.csrf.as_bytes())));
            if !valid {
                return refuse(ApiError::Forbidden(
                    "this form has no valid CSRF token (it is older than your login, or came from elsewhere); reload the page and try again".into(),
                ));
            }
        }
    }
    request.extensions_mut().insert(auth);
    next.run(request).await
}

/// The CSRF token of a POST (header, or the `csrf` field of a form), and the request
/// rebuilt with the body read for it.
async fn csrf_of(request: Request) -> (Option<String>, Result<Request, ApiError>) {
    if let Some(value) = request.headers().get(CSRF_HEADER) {
        let given = value.to_str().ok().map(str::to_string);
        return (given, Ok(request));
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return (None, Ok(request));
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return (
                None,
                Err(ApiError::BadRequest(format!(
                    "the form is larger than {MAX_FORM_BYTES} bytes or was cut off; reload the page and try again"
                ))),
            )
        }
    };
    let given = url::form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == "csrf")
        .map(|(_, value)| value.into_owned());
    (given, Ok(Request::from_parts(parts, Body::from(bytes))))
}

/// Headers on every `/admin` response, the login page and the 401s included; HSTS as
/// `[http] hsts_max_age_days` says (the viewer is served over HTTPS only).
pub async fn security_headers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Some(age) = state.config.http.hsts_max_age {
        if let Ok(value) = HeaderValue::from_str(&format!("max-age={}", age.as_secs())) {
            headers.insert(header::STRICT_TRANSPORT_SECURITY, value);
        }
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
}

/// Where the token is, for messages anyone may read (no path).
const PASTE_TOKEN: &str = "paste the admin token (the file admin-token in lookout's data folder, or LOOKOUT_ADMIN_TOKEN) into the form below";

/// `GET /admin/login`: the login form; with `?code=` (the printed login link), logs in
/// once. The token is never taken from the URL: `?token=` gets the form and a message.
pub async fn login_page(State(state): State<AppState>, uri: Uri) -> Response {
    let mut token_given = false;
    let mut code = None;
    // Read by hand: a value is never echoed, not even in an extractor's rejection.
    for (name, value) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        match &*name {
            "token" => token_given = true,
            "code" if code.is_none() => code = Some(value.into_owned()),
            _ => {}
        }
    }
    if token_given {
        return super::pages::login(
            StatusCode::UNAUTHORIZED,
            Some(format!(
                "the admin token is not accepted in a link (links stay in browser histories and in logs); {PASTE_TOKEN}, or send it as Authorization: Bearer <token>"
            )),
        );
    }
    let Some(code) = code else {
        return super::pages::login(StatusCode::OK, None);
    };
    match state.admin.redeem_code(&code) {
        Ok(()) => signed_in(&state, &User::admin()),
        Err(refused) => {
            let why = match refused {
                CodeRefused::Used => "this login link was already used: a link logs in once",
                CodeRefused::Expired => {
                    "this login link has expired: a link works for 15 minutes after lookout printed it"
                }
                CodeRefused::Unknown => {
                    "this login link is unknown here: a link works only on the lookout that printed it, until it restarts"
                }
            };
            super::pages::login(
                StatusCode::UNAUTHORIZED,
                Some(format!("{why}; {PASTE_TOKEN}")),
            )
        }
    }
}

/// `POST /admin/login` with the form field `token`.
pub async fn login_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    axum::extract::Form(form): axum::extract::Form<LoginForm>,
) -> Response {
    if let Err(why) = same_origin(&headers, &uri) {
        return super::pages::login(StatusCode::FORBIDDEN, Some(why));
    }
    log_in(&state, &form.token)
}

fn log_in(state: &AppState, token: &str) -> Response {
    let Some(user) = state.admin.user_for(token) else {
        return super::pages::login(
            StatusCode::UNAUTHORIZED,
            Some("that is neither the admin token nor a user's token; copy it again (the admin token is in data/admin-token or LOOKOUT_ADMIN_TOKEN)".into()),
        );
    };
    tracing::info!(user = %user.name, role = user.role.as_str(), "log viewer: logged in");
    signed_in(state, &user)
}

/// A new session's cookie, and on to the list.
fn signed_in(state: &AppState, user: &User) -> Response {
    match state.admin.new_session(user) {
        Ok(session) => {
            let mut response = Redirect::to("/admin").into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session_cookie(&session));
            response
        }
        Err(failure) => AsPage(failure).into_response(),
    }
}

/// `POST /admin/logout`: ends the session and goes back to the login page.
pub async fn logout(
    State(state): State<AppState>,
    axum::Extension(auth): axum::Extension<Auth>,
) -> Response {
    let ended = match &auth {
        Auth::Session(session) => state.admin.log_out(session, state.recorder.store()).await,
        Auth::Bearer(_) => Ok(()),
    };
    let mut response = match ended {
        Ok(()) => Redirect::to("/admin/login").into_response(),
        Err(failure) => AsPage(failure).into_response(),
    };
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cleared_cookie());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_signed_expiring_and_not_the_token() {
        let admin = Admin::with_token("a-long-enough-admin-token", TokenSource::Config);
        let value = admin.new_session(&User::admin()).unwrap();
        assert!(!value.contains("a-long-enough-admin-token"));
        let session = admin.session(&value).expect("a fresh session is valid");
        assert!(!session.csrf.is_empty());

        // Another token (another key) does not accept it.
        let other = Admin::with_token("another-long-admin-token", TokenSource::Config);
        assert!(other.session(&value).is_none());

        let tampered = [
            ("empty", String::new()),
            ("no tag", value.split('.').next().unwrap().to_string()),
            ("flipped tag", format!("{}x", &value[..value.len() - 1])),
            ("expired", admin.sign(now_secs() - 1, [7; 16])),
            ("not base64", "%%%.%%%".to_string()),
        ];
        for (why, value) in tampered {
            assert!(admin.session(&value).is_none(), "{why}");
        }
        // Extending the expiry breaks the signature.
        let far = admin.sign(now_secs() + 10, [1; 16]);
        let (payload, tag) = far.split_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
        bytes[0] = 0x7f;
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(bytes));
        assert!(admin.session(&forged).is_none());

        admin.revoke(&session);
        assert!(admin.session(&value).is_none(), "logged out");
    }

    #[test]
    fn only_the_token_itself_passes() {
        let admin = Admin::with_token("a-long-enough-admin-token", TokenSource::Config);
        assert!(admin.is_token("a-long-enough-admin-token"));
        assert!(admin.is_token(" a-long-enough-admin-token\n"));
        for wrong in [
            "",
            "a-long-enough-admin-toke",
            "a-long-enough-admin-tokenx",
            "A-LONG-ENOUGH-ADMIN-TOKEN",
        ] {
            assert!(!admin.is_token(wrong), "{wrong:?}");
        }
    }

    #[test]
    fn a_token_file_is_made_private_once_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (made, source) = from_file(&data).unwrap();
        assert_eq!(source, TokenSource::Generated(data.join(TOKEN_FILE)));
        assert_eq!(URL_SAFE_NO_PAD.decode(&made).unwrap().len(), 32);
        let mode = std::fs::metadata(data.join(TOKEN_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (again, source) = from_file(&data).unwrap();
        assert_eq!(again, made);
        assert_eq!(source, TokenSource::File(data.join(TOKEN_FILE)));
    }

    #[test]
    fn short_or_empty_tokens_are_refused() {
        assert!(checked("  ", "LOOKOUT_ADMIN_TOKEN")
            .unwrap_err()
            .to_string()
            .contains("is empty"));
        assert!(checked("short", "LOOKOUT_ADMIN_TOKEN")
            .unwrap_err()
            .to_string()
            .contains("at least 16"));
    }

    #[test]
    fn same_origin_reads_sec_fetch_site_and_origin() {
        let uri: Uri = "/admin/logout".parse().unwrap();
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            map.insert(header::HOST, HeaderValue::from_static("localhost:8443"));
            for (k, v) in pairs {
                map.insert(*k, HeaderValue::from_static(v));
            }
            map
        };
        type Headers<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Headers, bool, &str)] = &[
            (&[], true, "a client that sends neither (curl)"),
            (
                &[
                    ("sec-fetch-site", "same-origin"),
                    ("origin", "https://localhost:8443"),
                ],
                true,
                "the viewer's own form",
            ),
            (&[("sec-fetch-site", "cross-site")], false, "another site"),
            (
                &[("sec-fetch-site", "same-site")],
                false,
                "a sibling subdomain",
            ),
            (
                &[("origin", "https://evil.example")],
                false,
                "another origin",
            ),
            (&[("origin", "http://localhost:8443")], false, "plain http"),
            (&[("origin", "null")], false, "an opaque origin"),
            (
                &[("origin", "null"), ("sec-fetch-site", "same-origin")],
                true,
                "a same-origin form under Referrer-Policy: no-referrer",
            ),
            (
                &[("origin", "null"), ("sec-fetch-site", "cross-site")],
                false,
                "a sandboxed frame elsewhere",
            ),
        ];
        for (pairs, ok, why) in cases {
            assert_eq!(same_origin(&headers(pairs), &uri).is_ok(), *ok, "{why}");
        }
    }

    #[test]
    fn login_links_name_a_host_the_certificate_has_and_carry_only_the_code() {
        assert_eq!(
            login_link("0.0.0.0:8443".parse().unwrap(), "a+b/c"),
            "https://localhost:8443/admin/login?code=a%2Bb%2Fc"
        );
        assert_eq!(
            login_link("10.1.2.3:443".parse().unwrap(), "t"),
            "https://10.1.2.3:443/admin/login?code=t"
        );
    }

    /// A user's session names the user, is signed with their token's key, and cannot
    /// be relabelled as someone else's; changing their token ends it.
    #[test]
    fn user_sessions_are_theirs_alone() {
        let users = [
            UserAccount {
                name: "vera".into(),
                role: Role::Viewer,
                token: AdminToken::new("vera-token-0123456789abcdef"),
            },
            UserAccount {
                name: "jlee".into(),
                role: Role::Publisher,
                token: AdminToken::new("jlee-token-0123456789abcdef"),
            },
        ];
        let admin =
            Admin::with_token("a-long-enough-admin-token", TokenSource::Config).with_users(&users);
        let vera = admin.user_for("vera-token-0123456789abcdef").unwrap();
        assert_eq!((vera.name.as_str(), vera.role), ("vera", Role::Viewer));
        assert!(!admin.is_token("vera-token-0123456789abcdef"));
        assert!(admin.is_token("a-long-enough-admin-token"));
        let value = admin.new_session(&vera).unwrap();
        assert_eq!(admin.session(&value).unwrap().user, vera);
        // The name swapped for another user's: the signature no longer holds.
        let (payload, tag) = value.split_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
        bytes.truncate(24);
        bytes.extend_from_slice(b"jlee");
        let relabelled = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(&bytes));
        assert!(admin.session(&relabelled).is_none());
        bytes.truncate(24);
        let as_admin = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(&bytes));
        assert!(admin.session(&as_admin).is_none());
        // Vera's token changed: her old session is over; others' go on.
        let jlee = admin.user_for("jlee-token-0123456789abcdef").unwrap();
        let jlee_session = admin.new_session(&jlee).unwrap();
        let mut changed = users.clone();
        changed[0].token = AdminToken::new("vera-new-token-0123456789ab");
        let after = Admin::with_token("a-long-enough-admin-token", TokenSource::Config)
            .with_users(&changed);
        assert!(after.session(&value).is_none());
        assert_eq!(after.session(&jlee_session).unwrap().user.name, "jlee");
    }

    #[test]
    fn a_login_code_works_once_within_its_lifetime() {
        let admin = Admin::with_token("a-long-enough-admin-token", TokenSource::Config);
        let code = admin.login_code().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(&code).unwrap().len(), 32);
        assert_ne!(code, admin.login_code().unwrap(), "each code is new");
        assert_eq!(
            admin.redeem_code("a-long-enough-admin-token"),
            Err(CodeRefused::Unknown),
            "the token is not a code"
        );
        assert_eq!(admin.redeem_code(&code), Ok(()));
        assert_eq!(admin.redeem_code(&code), Err(CodeRefused::Used));

        admin.set_login_code_lifetime(Duration::ZERO);
        let expired = admin.login_code().unwrap();
        assert_eq!(admin.redeem_code(&expired), Err(CodeRefused::Expired));
        let other = Admin::with_token("a-long-enough-admin-token", TokenSource::Config);
        assert_eq!(
            other.redeem_code(&code),
            Err(CodeRefused::Unknown),
            "codes belong to the instance that made them"
        );
    }
}
