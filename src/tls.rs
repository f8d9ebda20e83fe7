//! Certificates: load the server's PEM files, reload them when they change, and make a
//! development CA and server certificate when none are present.
//!
//! The listener asks [`CertStore`] for the certificate of every new handshake, so a
//! renewed certificate is served to the next connection without a restart. A new pair
//! that does not parse, or whose key does not match its certificate, is refused and
//! the previous pair keeps serving; the reason goes to the log.
//!
//! With ACME (`crate::acme`) the store serves from `certs/acme/` (or a temporary
//! self-signed certificate until the directory issues one), and answers TLS-ALPN-01
//! validation handshakes (ALPN `acme-tls/1`) with the challenge certificate for the
//! name asked, never with the real one.
//!
//! This module knows nothing of HTTP or rules.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::RecursiveMode;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: PathBuf },
    #[error("{path} is not a PEM private key ({reason}); expected PKCS#8, PKCS#1 or SEC1 PEM")]
    BadKey { path: PathBuf, reason: String },
    #[error(
        "{key} does not fit {cert}: {reason}; install the key that belongs to the certificate"
    )]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot make a certificate: {0}")]
    Generate(String),
}

/// The file names lookout uses in its certificate folder.
pub const CERT_FILE: &str = "cert.pem";
pub const KEY_FILE: &str = "key.pem";
pub const CA_FILE: &str = "ca.pem";
pub const CA_KEY_FILE: &str = "ca-key.pem";

/// The one crypto provider lookout uses (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process-wide rustls provider (for clients such as `lookout send`).
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Reads a certificate chain and its key, and checks that they belong together.
pub fn load_pair(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, TlsError> {
    let cert_pem = std::fs::read(cert_path).map_err(|source| TlsError::Read {
        path: cert_path.into(),
        source,
    })?;
    let key_pem = std::fs::read(key_path).map_err(|source| TlsError::Read {
        path: key_path.into(),
        source,
    })?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_path.into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::BadKey {
        path: key_path.into(),
        reason: e.to_string(),
    })?;
    let certified =
        CertifiedKey::from_der(chain, key, &provider()).map_err(|e| TlsError::Mismatch {
            cert: cert_path.into(),
            key: key_path.into(),
            reason: e.to_string(),
        })?;
    // A key whose public half cannot be read is accepted by from_der; insist on a match.
    certified.keys_match().map_err(|e| TlsError::Mismatch {
        cert: cert_path.into(),
        key: key_path.into(),
        reason: format!("{e:?}"),
    })?;
    Ok(certified)
}

/// The ALPN protocol of TLS-ALPN-01 validation connections (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The certificate being served, swapped atomically on reload.
pub struct CertStore {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: ArcSwap<CertifiedKey>,
    /// ACME: TLS-ALPN-01 challenge certificates by server name, while an order waits.
    challenges: ArcSwap<HashMap<String, Arc<CertifiedKey>>>,
    /// Offer `acme-tls/1` (ACME with TLS-ALPN-01).
    acme: bool,
}

/// What the ACME cache held at start ([`CertStore::for_acme`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Cached {
    /// A whole certificate for every configured name, now served.
    Serving,
    /// Nothing cached yet.
    Missing,
    /// Files that do not load or do not cover the names: reissued, not fatal.
    Unusable(String),
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("cert_path", &self.cert_path)
            .finish()
    }
}

impl CertStore {
    pub fn open(dir: &Path) -> Result<CertStore, TlsError> {
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        let pair = load_pair(&cert_path, &key_path)?;
        log_certificate("serving certificate", &cert_path, &pair);
        warn_if_readable(&key_path);
        Ok(CertStore {
            cert_path,
            key_path,
            current: ArcSwap::from_pointee(pair),
            challenges: ArcSwap::default(),
            acme: false,
        })
    }

    /// For ACME: the certificate cached in `dir` when it loads and covers every one of
    /// `names`; otherwise a temporary self-signed certificate for them (what the cache
    /// held is said in the [`Cached`]). [`CertStore::reload`] then reads `dir`.
    pub fn for_acme(dir: &Path, names: &[String]) -> Result<(CertStore, Cached), TlsError> {
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        let cached = if !cert_path.exists() && !key_path.exists() {
            Err(None)
        } else {
            match load_pair(&cert_path, &key_path) {
                Ok(pair) => match uncovered(&pair, names) {
                    None => Ok(pair),
                    Some(name) => Err(Some(format!("it is not for {name}"))),
                },
                Err(e) => Err(Some(e.to_string())),
            }
        };
        let (pair, cached) = match cached {
            Ok(pair) => {
                log_certificate("serving certificate", &cert_path, &pair);
                (pair, Cached::Serving)
            }
            Err(why) => (
                temporary(names)?,
                why.map_or(Cached::Missing, Cached::Unusable),
            ),
        };
        Ok((
            CertStore {
                cert_path,
                key_path,
                current: ArcSwap::from_pointee(pair),
                challenges: ArcSwap::default(),
                acme: true,
            },
            cached,
        ))
    }

    /// The certificate being served now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }

    /// When the served certificate expires, seconds since the epoch.
    pub fn not_after(&self) -> Option<i64> {
        let current = self.current.load();
        x509_parser::parse_x509_certificate(current.cert.first()?.as_ref())
            .ok()
            .map(|(_, cert)| cert.validity().not_after.timestamp())
    }

    /// Answers TLS-ALPN-01 validation connections for `server_name` with `certified`.
    pub fn set_challenge(&self, server_name: &str, certified: CertifiedKey) {
        let mut next = HashMap::clone(&self.challenges.load());
        next.insert(server_name.to_ascii_lowercase(), Arc::new(certified));
        self.challenges.store(Arc::new(next));
    }

    /// Staples `answer` (a DER OCSP response) to the served certificate, if it is still
    /// `leaf`; whether it was.
    pub fn staple(&self, leaf: &[u8], answer: Vec<u8>) -> bool {
        let current = self.current.load_full();
        if current.cert.first().map(|c| c.as_ref()) != Some(leaf) {
            return false;
        }
        let mut stapled = CertifiedKey::clone(&current);
        stapled.ocsp = Some(answer);
        // Unless a reload swapped in the same moment.
        let previous = self.current.compare_and_swap(&current, Arc::new(stapled));
        Arc::ptr_eq(&previous, &current)
    }

    /// Withdraws every challenge certificate.
    pub fn clear_challenges(&self) {
        self.challenges.store(Arc::default());
    }

    /// Re-reads the files; on failure the current certificate stays and the error is returned.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let pair = load_pair(&self.cert_path, &self.key_path)?;
        if pair.cert == self.current.load().cert {
            return Ok(false);
        }
        log_certificate("certificate reloaded", &self.cert_path, &pair);
        warn_if_readable(&self.key_path);
        self.current.store(Arc::new(pair));
        Ok(true)
    }

    /// Watches the certificate folder and reloads on change, until the watcher is dropped.
    pub fn watch(self: &Arc<Self>) -> notify::Result<notify::RecommendedWatcher> {
        let dir = self
            .cert_path
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let store = Arc::downgrade(self);
        // Certificate and key are often written one after the other: settle for 200 ms.
        crate::watch::on_change(
            &dir,
            RecursiveMode::NonRecursive,
            "lookout-tls-watch",
            Duration::from_millis(200),
            move || {
                let Some(store) = store.upgrade() else {
                    return false;
                };
                if let Err(err) = store.reload() {
                    tracing::error!(
                        "new certificate refused, still serving the previous one: {err}"
                    );
                }
                true
            },
        )
    }

    /// The rustls server configuration: TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1.
    pub fn server_config(self: &Arc<Self>) -> rustls::ServerConfig {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("ring supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(self.clone())));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        if self.acme {
            // Last: a client offering h2 or http/1.1 gets those as before; a validation
            // connection offers only this one, and without it would be refused.
            config.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
        }
        config
    }
}

#[derive(Debug)]
struct Resolver(Arc<CertStore>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let validation = hello
            .alpn()
            .is_some_and(|mut offered| offered.any(|p| p == ACME_TLS_ALPN));
        if validation {
            // Only a challenge certificate, and only for a name being validated.
            let name = hello.server_name()?.to_ascii_lowercase();
            return self.0.challenges.load().get(&name).cloned();
        }
        Some(self.0.current.load_full())
    }
}

/// The first of `names` the certificate's subject alternative names do not cover.
fn uncovered<'a>(pair: &CertifiedKey, names: &'a [String]) -> Option<&'a str> {
    use x509_parser::extensions::GeneralName;
    let leaf = pair.cert.first()?;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf.as_ref()) else {
        return names.first().map(String::as_str);
    };
    let mut covered: Vec<String> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => covered.push(dns.to_ascii_lowercase()),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => covered.push(
                        std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*bytes).expect("4 bytes"))
                            .to_string(),
                    ),
                    16 => covered.push(
                        std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*bytes).expect("16 bytes"))
                            .to_string(),
                    ),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    names
        .iter()
        .find(|n| !covered.contains(&n.to_ascii_lowercase()))
        .map(String::as_str)
}

/// A self-signed certificate for `names`, served while ACME has none yet (it lets the
/// TLS-ALPN-01 validation reach the listener; no client trusts it).
pub fn temporary(names: &[String]) -> Result<CertifiedKey, TlsError> {
    let gen = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(gen)?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "lookout temporary certificate (waiting for ACME)",
    );
    let key = rcgen::KeyPair::generate().map_err(gen)?;
    let cert = params.self_signed(&key).map_err(gen)?;
    certified(cert.der().clone(), &key)
}

/// The TLS-ALPN-01 challenge certificate for `name` (RFC 8737): self-signed, that one
/// name as its only subject alternative name, and the critical acmeIdentifier
/// extension holding `digest` (SHA-256 of the key authorization).
pub fn alpn_challenge(name: &str, digest: &[u8]) -> Result<CertifiedKey, TlsError> {
    let gen = |e: rcgen::Error| TlsError::Generate(e.to_string());
    if digest.len() != 32 {
        return Err(TlsError::Generate(format!(
            "a TLS-ALPN-01 digest is 32 bytes, not {}",
            digest.len()
        )));
    }
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).map_err(gen)?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate().map_err(gen)?;
    let cert = params.self_signed(&key).map_err(gen)?;
    certified(cert.der().clone(), &key)
}

/// A certificate just made and its key. Not through `CertifiedKey::from_der`: that
/// parses the certificate with webpki, which refuses the critical acmeIdentifier
/// extension a TLS-ALPN-01 certificate must have.
fn certified(
    cert: CertificateDer<'static>,
    key: &rcgen::KeyPair,
) -> Result<CertifiedKey, TlsError> {
    let der = PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let signing = provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok(CertifiedKey::new(vec![cert], signing))
}

/// Replaces `path` with `bytes` whole: written to a temporary file beside it, then
/// renamed over it, so no reader sees half a file. `private`: mode 0600.
pub fn replace_file(path: &Path, bytes: &[u8], private: bool) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |source| TlsError::Write {
        path: path.into(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temp = dir.join(format!(".{name}.new"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&temp)
        .map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&temp, path).map_err(fail)
}

fn log_certificate(what: &str, path: &Path, pair: &CertifiedKey) {
    match x509_parser::parse_x509_certificate(pair.cert[0].as_ref()) {
        Ok((_, cert)) => tracing::info!(
            file = %path.display(),
            subject = %cert.subject(),
            not_after = %cert.validity().not_after,
            "{what}"
        ),
        Err(_) => tracing::info!(file = %path.display(), "{what}"),
    }
}

/// Why `path`, a private key, should be tightened: `Some` when its group or others may
/// read or write it.
pub fn key_permission_problem(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "private key {} can be read or written by group or others (mode {mode:04o}); run chmod 600 {}",
            path.display(),
            path.display()
        )
    })
}

fn warn_if_readable(key_path: &Path) {
    if let Some(problem) = key_permission_problem(key_path) {
        tracing::warn!(file = %key_path.display(), "{problem}");
    }
}

/// What [`generate`] wrote.
#[derive(Debug)]
pub struct DevCerts {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub hosts: Vec<String>,
    pub reused_ca: bool,
    /// Problems with files kept as they were (a kept CA key others can read).
    pub warnings: Vec<String>,
}

/// Hosts a development certificate covers by default.
pub const DEV_HOSTS: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// Makes the development certificates when `dir` has no server certificate yet.
pub fn ensure_dev_certs(dir: &Path) -> Result<Option<DevCerts>, TlsError> {
    if dir.join(CERT_FILE).exists() || dir.join(KEY_FILE).exists() {
        return Ok(None);
    }
    let hosts: Vec<String> = DEV_HOSTS.iter().map(|h| h.to_string()).collect();
    generate(dir, &hosts).map(Some)
}

/// The development CA's common name ([`generate`]).
const DEV_CA_NAME: &str = "lookout development CA";

/// Whether `pem`'s first certificate was issued by lookout's development CA.
pub fn is_development_certificate(pem: &[u8]) -> bool {
    let Some(Ok(leaf)) = CertificateDer::pem_slice_iter(pem).next() else {
        return false;
    };
    x509_parser::parse_x509_certificate(leaf.as_ref()).is_ok_and(|(_, cert)| {
        cert.issuer()
            .iter_common_name()
            .any(|cn| cn.as_str() == Ok(DEV_CA_NAME))
    })
}

/// Development CA validity: ten years.
const CA_DAYS: i64 = 3650;
/// Server certificate validity, counted as the CA/Browser Forum does (both ends
/// inclusive): 397 days, under the 398-day cap of browsers and Apple.
const LEAF_DAYS: i64 = 397;

/// Writes a development CA (kept when one exists) and a server certificate for `hosts`.
///
/// Both pass strict verifiers (OpenSSL `-x509_strict`, Python's VERIFY_X509_STRICT):
/// the CA has basicConstraints CA:TRUE (critical), keyUsage keyCertSign and cRLSign
/// (critical) and a subject key identifier; the server certificate has CA:FALSE,
/// keyUsage digitalSignature only (critical; its key is EC, which cannot encipher
/// keys), extendedKeyUsage serverAuth, the hosts as subject alternative names, its own
/// subject key identifier and an authority key identifier equal to the CA's.
/// Private keys are written with mode 0600.
pub fn generate(dir: &Path, hosts: &[String]) -> Result<DevCerts, TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyIdMethod, KeyPair, KeyUsagePurpose,
    };
    let gen = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let (ca_path, ca_key_path) = (dir.join(CA_FILE), dir.join(CA_KEY_FILE));

    let now = time::OffsetDateTime::now_utc();
    let existing = std::fs::read_to_string(&ca_path)
        .ok()
        .zip(std::fs::read_to_string(&ca_key_path).ok());
    let mut warnings = Vec::new();
    let (issuer, reused_ca) = match existing {
        Some((ca_pem, ca_key_pem)) => {
            let key = KeyPair::from_pem(&ca_key_pem).map_err(gen)?;
            if let Some(problem) = key_permission_problem(&ca_key_path) {
                tracing::warn!(file = %ca_key_path.display(), "{problem}");
                warnings.push(problem);
            }
            // Reads the CA's subject key identifier: the server certificate's authority
            // key identifier must equal it.
            (Issuer::from_ca_cert_pem(&ca_pem, key).map_err(gen)?, true)
        }
        None => {
            let mut params = CertificateParams::new(Vec::<String>::new()).map_err(gen)?;
            params
                .distinguished_name
                .push(DnType::CommonName, DEV_CA_NAME);
            params
                .distinguished_name
                .push(DnType::OrganizationName, "lookout (development only)");
            // rcgen writes basicConstraints and keyUsage critical, and a subject key
            // identifier (SHA-256 of the public key) for a CA.
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            params.key_identifier_method = KeyIdMethod::Sha256;
            params.not_before = now - time::Duration::hours(1);
            params.not_after = params.not_before + time::Duration::days(CA_DAYS);
            let key = KeyPair::generate().map_err(gen)?;
            let cert = params.self_signed(&key).map_err(gen)?;
            write_private(&ca_key_path, key.serialize_pem().as_bytes())?;
            std::fs::write(&ca_path, cert.pem()).map_err(io(&ca_path))?;
            (Issuer::new(params, key), false)
        }
    };

    let mut params = CertificateParams::new(hosts.to_vec()).map_err(gen)?;
    params.distinguished_name.push(
        DnType::CommonName,
        hosts.first().map(String::as_str).unwrap_or("localhost"),
    );
    // ExplicitNoCa: basicConstraints CA:FALSE (critical) and a subject key identifier.
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.key_identifier_method = KeyIdMethod::Sha256;
    params.not_before = now - time::Duration::hours(1);
    params.not_after =
        params.not_before + time::Duration::days(LEAF_DAYS) - time::Duration::seconds(1);
    let key = KeyPair::generate().map_err(gen)?;
    let cert = params.signed_by(&key, &issuer).map_err(gen)?;
    let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    // Key first: the watcher may see the certificate and look for its key.
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, cert.pem()).map_err(io(&cert_path))?;
    Ok(DevCerts {
        ca: ca_path,
        cert: cert_path,
        key: key_path,
        hosts: hosts.to_vec(),
        reused_ca,
        warnings,
    })
}

/// Writes a private key readable by its owner only: a new file is created with mode
/// 0600, an existing one is emptied and set to 0600 before the key is written into it.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let fail = |source| TlsError::Write {
        path: path.into(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    // `mode` applies only when the file is created; an existing file keeps its mode.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(fail)?;
    file.write_all(bytes).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pair_loads_and_a_mismatched_key_is_refused() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let made = generate(a.path(), &["localhost".into()]).unwrap();
        assert!(!made.reused_ca);
        load_pair(&made.cert, &made.key).unwrap();
        let other = generate(b.path(), &["localhost".into()]).unwrap();
        let err = load_pair(&made.cert, &other.key).unwrap_err();
        assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
        let again = generate(a.path(), &["lookout.test".into()]).unwrap();
        assert!(again.reused_ca, "an existing CA is kept");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&made.key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn private_keys_are_0600_when_rewritten_and_loose_ones_are_named() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let made = generate(dir.path(), &["localhost".into()]).unwrap();
        let ca_key = dir.path().join(CA_KEY_FILE);
        assert!(key_permission_problem(&made.key).is_none());
        assert!(key_permission_problem(&ca_key).is_none());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let loosen =
            |p: &Path| std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();

        loosen(&made.key);
        let problem = key_permission_problem(&made.key).expect("a 0644 key is named");
        assert!(
            problem.contains("key.pem") && problem.contains("chmod 600"),
            "{problem}"
        );
        loosen(&ca_key);
        let again = generate(dir.path(), &["localhost".into()]).unwrap();
        assert!(again.reused_ca);
        assert_eq!(mode(&again.key), 0o600, "a rewritten key is 0600 again");
        assert_eq!(mode(&ca_key), 0o644, "a kept CA key is only read");
        assert!(
            again.warnings.iter().any(|w| w.contains("ca-key.pem")),
            "{:?}",
            again.warnings
        );
    }

    #[test]
    fn garbage_files_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let made = generate(dir.path(), &["localhost".into()]).unwrap();
        std::fs::write(&made.cert, "not a certificate").unwrap();
        let err = load_pair(&made.cert, &made.key).unwrap_err().to_string();
        assert!(err.contains("holds no PEM certificate"), "{err}");
    }
}

#[cfg(test)]
mod development_certificate {
    #[test]
    fn only_lookouts_own_development_certificate_is_one() {
        let dir = tempfile::tempdir().unwrap();
        let made = super::generate(dir.path(), &["localhost".into()]).unwrap();
        assert!(super::is_development_certificate(
            &std::fs::read(made.cert).unwrap()
        ));
        let own = rcgen::generate_simple_self_signed(vec!["lookout.desk.example".into()]).unwrap();
        assert!(!super::is_development_certificate(
            own.cert.pem().as_bytes()
        ));
        assert!(!super::is_development_certificate(b"not PEM"));
    }
}
