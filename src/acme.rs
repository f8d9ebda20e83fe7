//! Automatic certificates by ACME (RFC 8555), for `[tls.acme]`: one binary on a
//! machine with a DNS name is a production webhook.
//!
//! At start the certificate cached in `certs/acme/` is served when it is whole and
//! covers the configured names; otherwise a temporary self-signed one serves (so the
//! TLS-ALPN-01 challenge can be answered on the HTTPS listener) until the directory
//! issues one. A background task ([`Acme::spawn`]) orders a certificate when none is
//! cached or the cached one is due (the directory's ARI window where it has one, else
//! `renew_before_days` before expiry), answers the challenges (`tls-alpn-01` through
//! [`CertStore`]'s challenge certificates, `http-01` through [`Acme::http01`] on the
//! plain-HTTP listener), writes key and chain to the cache (0600, by rename) and swaps
//! them in through [`CertStore::reload`], the same path a renewed PEM file takes:
//! connections open keep their certificate, the next handshake gets the new one.
//! A failure keeps the current certificate, is logged with the directory's problem
//! document, counted, and retried with backoff.
//!
//! The protocol is instant-acme's; what is ours is when to order, where the files go,
//! and how challenges reach the listener. This module knows nothing of rules or SQL.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, BytesResponse,
    CertificateIdentifier, ChallengeType, HttpClient, Identifier, NewAccount, NewOrder,
    OrderStatus, RetryPolicy,
};
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

use crate::config::{AcmeChallenge, AcmeSettings};
pub use crate::tls::Cached;
use crate::tls::{self, CertStore};

/// The cache's files in `certs/acme/`.
pub const ACCOUNT_FILE: &str = "account.json";

/// Waits between failed attempts: doubling from the first, at most the last.
const FIRST_RETRY: Duration = Duration::from_secs(30);
const LAST_RETRY: Duration = Duration::from_secs(3600);
/// How long one order may take, challenges and issuance included.
const ORDER_TIMEOUT: Duration = Duration::from_secs(180);
/// Time for one request to the directory.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a certificate could not be obtained (the directory's problem document, when it
/// sent one, is in the text).
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("the ACME directory {directory} answered: {source}")]
    Directory {
        directory: String,
        source: instant_acme::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// What `/readyz`, `/metrics` and the log say about ACME.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// Serving a certificate from the directory (not the temporary self-signed one).
    pub issued: bool,
    /// The served certificate's expiry, seconds since the epoch.
    pub not_after: Option<i64>,
    /// Certificates obtained by this process.
    pub renewals: u64,
    /// Attempts that failed.
    pub failures: u64,
    /// The last failure, and when (seconds since the epoch); cleared by a success.
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    /// When the next attempt is planned (seconds since the epoch).
    pub next_attempt_at: Option<i64>,
}

pub struct Acme {
    settings: AcmeSettings,
    /// `certs/acme/`.
    dir: PathBuf,
    certs: Arc<CertStore>,
    /// http-01: token → key authorization, while an order waits for validation.
    tokens: Mutex<HashMap<String, String>>,
    /// Wakes the task for a renewal now (tests, operators).
    renew: tokio::sync::Notify,
    /// Everything [`Acme::status`] reports but the certificate's expiry, under one lock so
    /// that a reader never sees an outcome half written (a failure counted, its reason not
    /// yet kept).
    progress: Mutex<Status>,
}

impl std::fmt::Debug for Acme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acme")
            .field("domains", &self.settings.domains)
            .field("directory", &self.settings.directory)
            .finish()
    }
}

impl Acme {
    /// Opens the cache in `dir` (made 0700 when missing) and the certificate store that
    /// serves from it: the cached certificate, or a temporary self-signed one.
    pub fn open(
        settings: AcmeSettings,
        dir: &Path,
    ) -> Result<(Arc<Acme>, Arc<CertStore>, Cached), tls::TlsError> {
        tls::install_provider();
        std::fs::create_dir_all(dir).map_err(|source| tls::TlsError::Write {
            path: dir.into(),
            source,
        })?;
        let (certs, cached) = CertStore::for_acme(dir, &settings.domains)?;
        let certs = Arc::new(certs);
        match &cached {
            Cached::Serving => {
                tracing::info!(dir = %dir.display(), "ACME: serving the cached certificate")
            }
            Cached::Missing => tracing::info!(
                domains = %settings.domains.join(", "),
                directory = %settings.directory,
                "ACME: no certificate yet; serving a temporary self-signed one until the directory issues one"
            ),
            Cached::Unusable(why) => tracing::warn!(
                dir = %dir.display(),
                "ACME: the cached certificate cannot be used ({why}); a new one will be ordered, the temporary self-signed one serves meanwhile"
            ),
        }
        let acme = Arc::new(Acme {
            progress: Mutex::new(Status {
                issued: cached == Cached::Serving,
                ..Status::default()
            }),
            settings,
            dir: dir.to_path_buf(),
            certs: certs.clone(),
            tokens: Mutex::default(),
            renew: tokio::sync::Notify::new(),
        });
        Ok((acme, certs, cached))
    }

    /// The key authorization for an http-01 `token`, while its order waits.
    pub fn http01(&self, token: &str) -> Option<String> {
        self.tokens.lock().expect("tokens").get(token).cloned()
    }

    /// Orders a new certificate now, whatever the current one's expiry.
    pub fn renew_now(&self) {
        self.renew.notify_one();
    }

    pub fn status(&self) -> Status {
        Status {
            not_after: self.certs.not_after(),
            ..self.progress().clone()
        }
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Status> {
        self.progress.lock().expect("acme status")
    }

    /// Runs the ordering and renewal loop until the runtime stops.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let acme = self.clone();
        tokio::spawn(async move { acme.run().await })
    }

    async fn run(self: Arc<Self>) {
        let mut account: Option<Account> = None;
        let mut failed_in_a_row = 0u32;
        loop {
            let wait = if failed_in_a_row > 0 {
                FIRST_RETRY
                    .saturating_mul(1 << (failed_in_a_row - 1).min(10))
                    .min(LAST_RETRY)
            } else {
                self.until_due(account.as_ref()).await
            };
            self.progress().next_attempt_at = Some(unix_now() + wait.as_secs() as i64);
            if !wait.is_zero() {
                tracing::info!(
                    in_seconds = wait.as_secs(),
                    "ACME: next certificate order planned"
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.renew.notified() => {
                        tracing::info!("ACME: renewal asked for");
                    }
                }
            }
            match self.obtain(&mut account).await {
                Ok(()) => {
                    failed_in_a_row = 0;
                    let mut progress = self.progress();
                    progress.renewals += 1;
                    progress.issued = true;
                    progress.last_error = None;
                    progress.last_error_at = None;
                }
                Err(err) => {
                    failed_in_a_row = failed_in_a_row.saturating_add(1);
                    // A broken account (deleted, key refused) is made again next time.
                    account = None;
                    tracing::error!(
                        attempt = failed_in_a_row,
                        "ACME: no certificate obtained, still serving the current one: {err}"
                    );
                    let mut progress = self.progress();
                    progress.failures += 1;
                    progress.last_error = Some(err.to_string());
                    progress.last_error_at = Some(unix_now());
                }
            }
        }
    }

    /// How long until the current certificate should be renewed: now for the temporary
    /// one; else a time in the directory's ARI window where it has one, else
    /// `renew_before` ahead of expiry.
    async fn until_due(&self, account: Option<&Account>) -> Duration {
        if !self.progress().issued {
            return Duration::ZERO;
        }
        let Some(not_after) = self.certs.not_after() else {
            return Duration::ZERO;
        };
        if let Some(account) = account {
            let leaf = self.certs.current().cert[0].clone();
            if let Ok(id) = CertificateIdentifier::try_from(&leaf) {
                match account.renewal_info(&id).await {
                    Ok((info, _)) => {
                        let (start, end) = (
                            info.suggested_window.start.unix_timestamp(),
                            info.suggested_window.end.unix_timestamp(),
                        );
                        let at = start + ((end - start).max(0) as f64 * random_fraction()) as i64;
                        return seconds_from_now(at);
                    }
                    Err(instant_acme::Error::Unsupported(_)) => {}
                    Err(e) => {
                        tracing::debug!("ACME: no renewal information ({e}); renewing by expiry")
                    }
                }
            }
        }
        seconds_from_now(not_after - self.settings.renew_before.as_secs() as i64)
    }

    /// One order, from the account to the new certificate served.
    async fn obtain(&self, account: &mut Option<Account>) -> Result<(), AcmeError> {
        let directory = self.settings.directory.clone();
        let api = |source| AcmeError::Directory {
            directory: directory.clone(),
            source,
        };
        if account.is_none() {
            *account = Some(self.account().await?);
        }
        let account = account.as_ref().expect("set above");
        let names = &self.settings.domains;
        let identifiers: Vec<Identifier> = names
            .iter()
            .map(|n| match n.parse::<IpAddr>() {
                Ok(ip) => Identifier::Ip(ip),
                Err(_) => Identifier::Dns(n.clone()),
            })
            .collect();
        tracing::info!(domains = %names.join(", "), "ACME: ordering a certificate");
        let mut order = account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .map_err(api)?;
        // Whatever happens below, the challenges are withdrawn when the order ends.
        let _withdraw = Withdraw(self);
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization.map_err(api)?;
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => {
                    return Err(AcmeError::Other(format!(
                        "the directory holds the authorization for {} as {other:?}; it cannot be answered",
                        identifier_text(authorization.identifier().identifier)
                    )))
                }
            }
            let kind = match self.settings.challenge {
                AcmeChallenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
                AcmeChallenge::Http01 => ChallengeType::Http01,
            };
            let mut challenge = authorization.challenge(kind.clone()).ok_or_else(|| {
                AcmeError::Other(format!(
                    "the directory offers no {kind:?} challenge; set [tls.acme] challenge to one it offers"
                ))
            })?;
            let identifier = challenge.identifier().identifier.clone();
            let key_authorization = challenge.key_authorization();
            match self.settings.challenge {
                AcmeChallenge::TlsAlpn01 => {
                    let name = identifier_text(&identifier);
                    let certified = tls::alpn_challenge(&name, key_authorization.digest().as_ref())
                        .map_err(|e| AcmeError::Other(e.to_string()))?;
                    self.certs.set_challenge(&sni_of(&identifier), certified);
                }
                AcmeChallenge::Http01 => {
                    self.tokens.lock().expect("tokens").insert(
                        challenge.token.clone(),
                        key_authorization.as_str().to_string(),
                    );
                }
            }
            challenge.set_ready().await.map_err(api)?;
        }
        let policy = RetryPolicy::new().timeout(ORDER_TIMEOUT);
        let status = order.poll_ready(&policy).await.map_err(api)?;
        if status != OrderStatus::Ready {
            let why = order
                .state()
                .authorizations
                .iter()
                .filter_map(|a| a.state.as_ref())
                .flat_map(|s| s.challenges.iter())
                .filter_map(|c| c.error.as_ref().map(|e| e.to_string()))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(AcmeError::Other(format!(
                "the order ended {status:?}: {}",
                if why.is_empty() {
                    "the directory gave no reason"
                } else {
                    &why
                }
            )));
        }
        let key = rcgen::KeyPair::generate().map_err(|e| AcmeError::Other(e.to_string()))?;
        let mut params = rcgen::CertificateParams::new(names.clone())
            .map_err(|e| AcmeError::Other(format!("a name cannot be put in a request: {e}")))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        let csr = params
            .serialize_request(&key)
            .map_err(|e| AcmeError::Other(e.to_string()))?;
        order.finalize_csr(csr.der()).await.map_err(api)?;
        let chain = order.poll_certificate(&policy).await.map_err(api)?;
        self.install(&chain, &key.serialize_pem())
    }

    /// Writes the new key and chain to the cache (each by rename, key first) and serves
    /// them through the store's reload, which checks that they belong together.
    fn install(&self, chain: &str, key: &str) -> Result<(), AcmeError> {
        let fail = |e: tls::TlsError| AcmeError::Other(e.to_string());
        tls::replace_file(&self.dir.join(tls::KEY_FILE), key.as_bytes(), true).map_err(fail)?;
        tls::replace_file(&self.dir.join(tls::CERT_FILE), chain.as_bytes(), false).map_err(fail)?;
        self.certs.reload().map_err(fail)?;
        tracing::info!(
            domains = %self.settings.domains.join(", "),
            not_after = self.certs.not_after().unwrap_or_default(),
            "ACME: new certificate served"
        );
        Ok(())
    }

    /// The account in the cache, or a new one (kept 0600 for the next start).
    async fn account(&self) -> Result<Account, AcmeError> {
        let path = self.dir.join(ACCOUNT_FILE);
        let api = |source| AcmeError::Directory {
            directory: self.settings.directory.clone(),
            source,
        };
        if let Ok(text) = std::fs::read_to_string(&path) {
            match serde_json::from_str::<SavedAccount>(&text) {
                Ok(saved) if saved.directory == self.settings.directory => {
                    return self
                        .builder()?
                        .from_credentials(saved.credentials)
                        .await
                        .map_err(api);
                }
                Ok(_) => {
                    tracing::info!("ACME: the cached account is for another directory; making one")
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), "ACME: the cached account does not read ({e}); making a new one")
                }
            }
        }
        let contact: Vec<&str> = self.settings.contact.iter().map(String::as_str).collect();
        let (account, credentials) = self
            .builder()?
            .create(
                &NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                self.settings.directory.clone(),
                None,
            )
            .await
            .map_err(api)?;
        let saved = serde_json::to_vec_pretty(&SavedAccount {
            directory: self.settings.directory.clone(),
            credentials,
        })
        .map_err(|e| AcmeError::Other(e.to_string()))?;
        tls::replace_file(&path, &saved, true).map_err(|e| AcmeError::Other(e.to_string()))?;
        tracing::info!(directory = %self.settings.directory, "ACME: account made");
        Ok(account)
    }

    fn builder(&self) -> Result<instant_acme::AccountBuilder, AcmeError> {
        let mut roots = Vec::new();
        for path in &self.settings.ca_roots {
            let pem = std::fs::read(path).map_err(|e| {
                AcmeError::Other(format!(
                    "[tls.acme] ca_roots: cannot read {}: {e}",
                    path.display()
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                AcmeError::Other(format!(
                    "[tls.acme] ca_roots: {} is not PEM certificates: {e}",
                    path.display()
                ))
            })?;
            roots.extend(certs);
        }
        let mut client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")));
        if !roots.is_empty() {
            client = client.tls_certs_merge(roots);
        }
        let client = client
            .build()
            .map_err(|e| AcmeError::Other(format!("cannot set up the ACME client: {e}")))?;
        Ok(Account::builder_with_http(Box::new(Http(client))))
    }
}

/// The account's credentials with the directory they belong to.
#[derive(Serialize, Deserialize)]
struct SavedAccount {
    directory: String,
    credentials: AccountCredentials,
}

/// Withdraws an order's challenges when it ends, however it ends.
struct Withdraw<'a>(&'a Acme);

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        self.0.certs.clear_challenges();
        self.0.tokens.lock().expect("tokens").clear();
    }
}

/// instant-acme's requests through reqwest (rustls with lookout's provider, the
/// platform's roots and `ca_roots`).
struct Http(reqwest::Client);

impl HttpClient for Http {
    fn request(
        &self,
        request: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let client = self.0.clone();
        Box::pin(async move {
            let other = |e: reqwest::Error| instant_acme::Error::Other(Box::new(e));
            let (parts, body) = request.into_parts();
            let body = http_body_util::BodyExt::collect(body)
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let request = reqwest::Request::try_from(http::Request::from_parts(
                parts,
                reqwest::Body::from(body),
            ))
            .map_err(other)?;
            let response = client.execute(request).await.map_err(other)?;
            Ok(BytesResponse::from(http::Response::<reqwest::Body>::from(
                response,
            )))
        })
    }
}

fn identifier_text(identifier: &Identifier) -> String {
    match identifier {
        Identifier::Dns(name) => name.clone(),
        Identifier::Ip(ip) => ip.to_string(),
        other => format!("{other:?}"),
    }
}

/// The server name a validation connection sends: the DNS name, or for an IP address
/// its reverse name (RFC 8738: `1.0.0.127.in-addr.arpa`).
pub fn sni_of(identifier: &Identifier) -> String {
    match identifier {
        Identifier::Ip(IpAddr::V4(ip)) => {
            let [a, b, c, d] = ip.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        Identifier::Ip(IpAddr::V6(ip)) => {
            let mut name = String::new();
            for byte in ip.octets().iter().rev() {
                name.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            name + "ip6.arpa"
        }
        other => identifier_text(other).to_ascii_lowercase(),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn seconds_from_now(at: i64) -> Duration {
    Duration::from_secs((at - unix_now()).max(0) as u64)
}

fn random_fraction() -> f64 {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX)
}

/// The expiry of a leaf, seconds since the epoch.
pub fn not_after(leaf: &CertificateDer<'_>) -> Option<i64> {
    x509_parser::parse_x509_certificate(leaf.as_ref())
        .ok()
        .map(|(_, cert)| cert.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_connections_are_recognised_by_their_server_name() {
        assert_eq!(
            sni_of(&Identifier::Dns("Lookout.Desk.Example".into())),
            "lookout.desk.example"
        );
        assert_eq!(
            sni_of(&Identifier::Ip("127.0.0.1".parse().unwrap())),
            "1.0.0.127.in-addr.arpa"
        );
        // RFC 8738's own example.
        assert_eq!(
            sni_of(&Identifier::Ip("2001:db8::1".parse().unwrap())),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }
}
