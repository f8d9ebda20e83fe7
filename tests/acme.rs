//! Automatic HTTPS against a real ACME server: Debian's `pebble` (`scripts/test`
//! installs it), started per test on loopback with its own configuration in a temp
//! folder. Its validation connects to lookout on loopback: `tlsPort` (TLS-ALPN-01) is
//! lookout's HTTPS port, `httpPort` (HTTP-01) its plain-HTTP port. The names are
//! `localhost` (resolved by pebble through /etc/hosts) and `127.0.0.1` (an IP
//! identifier, validated by its reverse name); no `-dnsserver`, no
//! `PEBBLE_VA_ALWAYS_VALID`: every validation is real.
//!
//! Pebble runs with `PEBBLE_VA_NOSLEEP=1` (no random wait before validating),
//! `PEBBLE_WFE_NONCEREJECT=0` (no random bad-nonce refusals) and `PEBBLE_AUTHZREUSE=0`
//! (a renewal validates again).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout::app::Application;
use lookout::config::{AcmeChallenge, AcmeSettings, Config};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::free_port;

const NAMES: &[&str] = &["localhost", "127.0.0.1"];

/// A pebble on loopback, stopped when dropped.
struct Pebble {
    child: Option<Child>,
    dir: tempfile::TempDir,
    listen: u16,
    management: u16,
    /// Written into issued certificates as their OCSP responder ("": none).
    ocsp_url: String,
    /// Names pebble refuses to issue for.
    blocklist: Vec<String>,
}

impl Pebble {
    /// Its folder, listener certificate and ports; not running yet (lookout must know
    /// the directory and its CA before pebble can know lookout's port).
    fn prepare() -> Pebble {
        let dir = tempfile::tempdir().unwrap();
        // Pebble's own HTTPS listener needs a certificate; Debian ships none.
        lookout::tls::generate(
            &dir.path().join("tls"),
            &["localhost".into(), "127.0.0.1".into()],
        )
        .unwrap();
        Pebble {
            child: None,
            dir,
            listen: free_port(),
            management: free_port(),
            ocsp_url: String::new(),
            blocklist: Vec::new(),
        }
    }

    /// Starts it, validating TLS-ALPN-01 on `tls_port` and HTTP-01 on `http_port`.
    fn start(&mut self, tls_port: u16, http_port: u16) {
        let tls = self.dir.path().join("tls");
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{}", self.listen),
            "managementListenAddress": format!("127.0.0.1:{}", self.management),
            "certificate": tls.join("cert.pem"),
            "privateKey": tls.join("key.pem"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": self.ocsp_url,
            "domainBlocklist": self.blocklist,
            "externalAccountBindingRequired": false,
        }});
        let config_path = self.dir.path().join("pebble.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("pebble.log"))
            .unwrap();
        self.child = Some(
            Command::new("pebble")
                .args(["-config", config_path.to_str().unwrap(), "-strict"])
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .env("PEBBLE_AUTHZREUSE", "0")
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("pebble runs (scripts/test installs Debian's pebble)"),
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", self.listen)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", self.management)).is_err()
        {
            assert!(
                Instant::now() < deadline,
                "pebble did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.listen)
    }

    /// The CA of pebble's own listener (what lookout's `ca_roots` trusts).
    fn listener_ca(&self) -> PathBuf {
        self.dir.path().join("tls/ca.pem")
    }

    /// The root pebble issues under (new at every start).
    async fn issuing_root(&self) -> Vec<u8> {
        let ca =
            reqwest::Certificate::from_pem(&std::fs::read(self.listener_ca()).unwrap()).unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only([ca])
            .build()
            .unwrap();
        let url = format!("https://127.0.0.1:{}/roots/0", self.management);
        client
            .get(url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }

    /// A file of pebble's management API (`/intermediates/0`, `/intermediate-keys/0`).
    async fn management_file(&self, path: &str) -> Vec<u8> {
        let ca =
            reqwest::Certificate::from_pem(&std::fs::read(self.listener_ca()).unwrap()).unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only([ca])
            .build()
            .unwrap();
        let url = format!("https://127.0.0.1:{}{path}", self.management);
        client
            .get(url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }

    /// Orders pebble has been asked for so far.
    fn orders(&self) -> usize {
        self.log().matches("POST /order-plz").count()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A lookout configured for ACME, not yet serving.
struct Acme {
    app: Option<Application>,
    addr: SocketAddr,
}

/// Builds a lookout in `dir` (its `certs/acme/` kept between builds) for `directory`,
/// on `port` (0: any).
async fn build(
    dir: &Path,
    directory: &str,
    ca: &Path,
    port: u16,
    challenge: AcmeChallenge,
) -> Acme {
    lookout::tls::install_provider();
    // lookout's log in the test's output (shown when it fails).
    let _ = tracing_subscriber::fmt()
        .with_env_filter("lookout=info")
        .with_test_writer()
        .try_init();
    std::fs::create_dir_all(dir.join("rules/desk")).unwrap();
    std::fs::write(
        dir.join("rules/desk/ok.rhai"),
        "info(\"checked\").key(\"ok\");\n",
    )
    .unwrap();
    let config = Config {
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        rules: dir.join("rules"),
        certs: dir.join("certs"),
        data: dir.join("data"),
        rule_threads: 1,
        acme: Some(AcmeSettings {
            domains: NAMES.iter().map(|n| n.to_string()).collect(),
            contact: vec!["mailto:ops@desk.example".into()],
            directory: directory.into(),
            ca_roots: vec![ca.to_path_buf()],
            challenge,
            http_listen: (challenge == AcmeChallenge::Http01)
                .then(|| "127.0.0.1:0".parse().unwrap()),
            renew_before: Duration::from_secs(30 * 86_400),
        }),
        ..Config::default()
    };
    let app = Application::build(config).await.expect("lookout starts");
    Acme {
        addr: app.local_addr(),
        app: Some(app),
    }
}

/// A client that trusts only `root` and finds `localhost` at `addr`.
fn client(root: &[u8], addr: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(root).unwrap()])
        .resolve("localhost", addr)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// The leaf lookout serves at `addr` for `name`, read without verifying it.
async fn served_leaf(addr: SocketAddr, name: &str) -> Vec<u8> {
    let (tls, _) = connect(addr, name, None).await.unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// A TLS connection to `addr` for `name`, verified against `root` when given.
async fn connect(
    addr: SocketAddr,
    name: &str,
    root: Option<&[u8]>,
) -> std::io::Result<(tokio_rustls::client::TlsStream<tokio::net::TcpStream>, ())> {
    let config = match root {
        Some(root) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(root) {
                roots.add(cert.unwrap()).unwrap();
            }
            rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth()
        }
        None => rustls::ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate::default()))
            .with_no_client_auth(),
    };
    let mut config = config;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls_pki_types::ServerName::try_from(name.to_string()).unwrap();
    Ok((connector.connect(name, tcp).await?, ()))
}

/// Accepts any certificate: only to read what is served (the OCSP staple included).
#[derive(Debug, Default)]
struct AnyCertificate {
    staple: std::sync::Mutex<Vec<u8>>,
}

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        *self.staple.lock().unwrap() = ocsp_response.to_vec();
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        lookout::tls::provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// One keep-alive HTTP/1.1 GET on an open connection; the status and body.
async fn get_on<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    path: &str,
) -> (u16, String) {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(
            stream.read(&mut byte).await.unwrap(),
            1,
            "the connection closed"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status: u16 = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("a length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A lookout for `pebble` (TLS-ALPN-01) in `dir`, and pebble started against it; serving.
async fn serving(
    dir: &Path,
    pebble: &mut Pebble,
) -> (
    SocketAddr,
    lookout::app::Stopper,
    tokio::task::JoinHandle<anyhow::Result<()>>,
    lookout::http::AppState,
) {
    let mut acme = build(
        dir,
        &pebble.directory(),
        &pebble.listener_ca(),
        0,
        AcmeChallenge::TlsAlpn01,
    )
    .await;
    let addr = acme.addr;
    pebble.start(addr.port(), free_port());
    let (stopper, server, state) = acme.run();
    (addr, stopper, server, state)
}

impl Acme {
    fn state(&self) -> lookout::http::AppState {
        self.app.as_ref().unwrap().state().clone()
    }

    /// Serves until the returned stopper is used.
    fn run(
        &mut self,
    ) -> (
        lookout::app::Stopper,
        tokio::task::JoinHandle<anyhow::Result<()>>,
        lookout::http::AppState,
    ) {
        let app = self.app.take().unwrap();
        let stopper = app.stopper();
        let state = app.state().clone();
        (stopper, tokio::spawn(app.run_until_stopped()), state)
    }
}

/// Waits (at most `limit`) until `check` holds.
async fn until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn issued(state: &lookout::http::AppState) -> bool {
    state.acme.as_ref().unwrap().status().issued
}

fn renewals(state: &lookout::http::AppState) -> u64 {
    state.acme.as_ref().unwrap().status().renewals
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The first certificate: a temporary one serves (and /readyz says so) until pebble
/// issues one by TLS-ALPN-01 on lookout's own listener; then it is served for both names
/// and verifies against pebble's root; the cache is 0600; a restart serves it again
/// without a new order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_certificate_is_issued_served_and_reused_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut pebble = Pebble::prepare();
    let (directory, ca) = (pebble.directory(), pebble.listener_ca());
    let mut acme = build(dir.path(), &directory, &ca, 0, AcmeChallenge::TlsAlpn01).await;
    let addr = acme.addr;
    pebble.start(addr.port(), free_port());
    let (stopper, server, state) = acme.run();
    let anyone = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    until(
        "pebble issues the certificate",
        Duration::from_secs(90),
        || issued(&state),
    )
    .await;
    let root = pebble.issuing_root().await;
    for (name, url) in [
        (
            "localhost",
            format!("https://localhost:{}/healthz", addr.port()),
        ),
        (
            "127.0.0.1",
            format!("https://127.0.0.1:{}/healthz", addr.port()),
        ),
    ] {
        let r = client(&root, addr)
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(r.status(), 200, "{name}");
    }
    let first = served_leaf(addr, "localhost").await;
    let r = anyone
        .get(format!("https://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(renewals(&state), 1);
    let cache = dir.path().join("certs/acme");
    assert_eq!(mode(&cache.join("key.pem")), 0o600);
    assert_eq!(mode(&cache.join("account.json")), 0o600);
    assert_eq!(pebble.orders(), 1, "{}", pebble.log());
    // The expiry is a gauge; the renewal counted.
    let metrics = state
        .metrics
        .render(&state.recorder.status(), state.pool.health());
    let mut text = metrics;
    lookout::metrics::render_tls(
        &mut text,
        state.certs.not_after(),
        state.acme.as_ref().map(|a| a.status()).as_ref(),
    );
    assert!(text.contains("lookout_acme_renewals_total 1"), "{text}");
    assert!(text.contains("lookout_acme_certificate_issued 1"), "{text}");
    assert!(text.contains(&format!(
        "lookout_certificate_expiry_timestamp_seconds {}",
        state.certs.not_after().unwrap()
    )));
    stopper.stop();
    server.await.unwrap().unwrap();

    // A restart serves the cached certificate at once, and orders nothing.
    let mut again = build(dir.path(), &directory, &ca, 0, AcmeChallenge::TlsAlpn01).await;
    let addr = again.addr;
    let (stopper, server, state) = again.run();
    assert!(issued(&state));
    assert_eq!(served_leaf(addr, "localhost").await, first);
    let r = client(&root, addr)
        .get(format!("https://localhost:{}/healthz", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        (renewals(&state), pebble.orders()),
        (0, 1),
        "{}",
        pebble.log()
    );
    let status = state.acme.as_ref().unwrap().status();
    let next = status.next_attempt_at.expect("a renewal is planned");
    assert!(
        next > state.certs.not_after().unwrap() - 31 * 86_400,
        "{status:?}"
    );
    stopper.stop();
    server.await.unwrap().unwrap();
}

/// A renewal (asked for through `Acme::renew_now`, as the schedule does) swaps the certificate
/// while a client keeps one connection open and makes calls through the swap: every
/// call on it is answered, it keeps the old certificate, new connections get the new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_renewal_swaps_the_certificate_under_an_open_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut pebble = Pebble::prepare();
    let (addr, stopper, server, state) = serving(dir.path(), &mut pebble).await;
    until("the first certificate", Duration::from_secs(60), || {
        issued(&state)
    })
    .await;
    let root = pebble.issuing_root().await;
    let first = served_leaf(addr, "localhost").await;

    let (mut open, ()) = connect(addr, "localhost", Some(&root)).await.unwrap();
    assert_eq!(get_on(&mut open, "/healthz").await.0, 200);
    state.acme.as_ref().unwrap().renew_now();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut calls_through = 0;
    loop {
        // The open connection is answered all along.
        let (status, _) = get_on(&mut open, "/healthz").await;
        assert_eq!(status, 200);
        calls_through += 1;
        if renewals(&state) == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no renewal within 60 s: {}",
            pebble.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // And after it, on the same connection, with the certificate it was opened with.
    for _ in 0..3 {
        assert_eq!(get_on(&mut open, "/healthz").await.0, 200);
    }
    assert_eq!(
        open.get_ref().1.peer_certificates().unwrap()[0].as_ref(),
        &first[..]
    );
    let second = served_leaf(addr, "localhost").await;
    assert_ne!(second, first, "a new connection gets the new certificate");
    let (mut fresh, ()) = connect(addr, "localhost", Some(&root)).await.unwrap();
    assert_eq!(get_on(&mut fresh, "/healthz").await.0, 200);
    assert!(calls_through >= 1);
    assert_eq!(
        std::fs::read(dir.path().join("certs/acme/cert.pem"))
            .map(|pem| {
                CertificateDer::pem_slice_iter(&pem)
                    .next()
                    .unwrap()
                    .unwrap()
                    .to_vec()
            })
            .unwrap(),
        second,
        "the cache holds what is served"
    );
    stopper.stop();
    server.await.unwrap().unwrap();
}

/// A cache that does not load (a cut file, a key of another certificate) is not fatal:
/// the temporary certificate serves, /readyz says why it is not ready, and a new
/// certificate is ordered and served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_cache_is_reissued() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("certs/acme");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(
        cache.join("cert.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n",
    )
    .unwrap();
    std::fs::write(cache.join("key.pem"), "not a key").unwrap();
    std::fs::write(cache.join("account.json"), "{\"cut").unwrap();
    let mut pebble = Pebble::prepare();
    let mut acme = build(
        dir.path(),
        &pebble.directory(),
        &pebble.listener_ca(),
        0,
        AcmeChallenge::TlsAlpn01,
    )
    .await;
    let addr = acme.addr;
    let state = acme.state();
    assert!(!issued(&state));
    let (stopper, server, state) = {
        let run = acme.run();
        (run.0, run.1, state)
    };
    // Not ready while the temporary certificate serves (pebble is not up yet).
    let anyone = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let temporary = served_leaf(addr, "localhost").await;
    let readyz = anyone
        .get(format!("https://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(readyz.status(), 503);
    let text = readyz.text().await.unwrap();
    assert!(
        text.contains("no certificate from the ACME directory yet"),
        "{text}"
    );
    // The directory comes up; the next attempt (the first retry, 30 s after the first
    // failed) orders; asked for now instead of waiting.
    pebble.start(addr.port(), free_port());
    state.acme.as_ref().unwrap().renew_now();
    until(
        "a certificate replaces the broken cache",
        Duration::from_secs(60),
        || issued(&state),
    )
    .await;
    let root = pebble.issuing_root().await;
    let r = client(&root, addr)
        .get(format!("https://localhost:{}/healthz", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_ne!(served_leaf(addr, "localhost").await, temporary);
    let r = anyone
        .get(format!("https://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let account: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cache.join("account.json")).unwrap()).unwrap();
    assert_eq!(account["directory"], pebble.directory().as_str());
    stopper.stop();
    server.await.unwrap().unwrap();
}

/// A directory that fails (here: gone) leaves the certificate serving; the failure is
/// counted, kept with its reason, and retried; /readyz stays ready while the
/// certificate has more than 7 days.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_directory_leaves_the_old_certificate_serving_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut pebble = Pebble::prepare();
    let (addr, stopper, server, state) = serving(dir.path(), &mut pebble).await;
    until("the first certificate", Duration::from_secs(60), || {
        issued(&state)
    })
    .await;
    let root = pebble.issuing_root().await;
    let first = served_leaf(addr, "localhost").await;
    pebble.stop();
    let acme = state.acme.as_ref().unwrap();
    acme.renew_now();
    until("the failure is counted", Duration::from_secs(30), || {
        acme.status().failures == 1
    })
    .await;
    let status = acme.status();
    let error = status.last_error.clone().unwrap();
    assert!(error.contains(&pebble.directory()), "{error}");
    assert!(
        status.issued && status.next_attempt_at.is_some(),
        "{status:?}"
    );
    assert_eq!(served_leaf(addr, "localhost").await, first);
    let r = client(&root, addr)
        .get(format!("https://localhost:{}/readyz", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a certificate with weeks left is ready");
    let mut text = String::new();
    lookout::metrics::render_tls(&mut text, state.certs.not_after(), Some(&status));
    assert!(text.contains("lookout_acme_failures_total 1"), "{text}");
    stopper.stop();
    server.await.unwrap().unwrap();
}

/// http-01: pebble validates on lookout's plain-HTTP listener, which otherwise answers
/// only with a redirect to HTTPS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_01_is_answered_on_the_plain_listener_which_redirects_everything_else() {
    let dir = tempfile::tempdir().unwrap();
    let mut pebble = Pebble::prepare();
    let mut acme = build(
        dir.path(),
        &pebble.directory(),
        &pebble.listener_ca(),
        0,
        AcmeChallenge::Http01,
    )
    .await;
    let addr = acme.addr;
    let plain = acme
        .app
        .as_ref()
        .unwrap()
        .plain_addr()
        .expect("a plain listener");
    pebble.start(free_port(), plain.port());
    let (stopper, server, state) = acme.run();
    until("a certificate by http-01", Duration::from_secs(60), || {
        issued(&state)
    })
    .await;
    let root = pebble.issuing_root().await;
    let r = client(&root, addr)
        .get(format!("https://localhost:{}/healthz", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // (Pebble's TLS-ALPN-01 port is one nothing listens on: only http-01 could pass.)
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .get(format!("http://localhost:{}/admin?x=1", plain.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(
        r.headers()["location"],
        format!("https://localhost:{}/admin?x=1", addr.port()).as_str()
    );
    let r = http
        .get(format!(
            "http://127.0.0.1:{}/.well-known/acme-challenge/nothing-waits",
            plain.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "no challenge is waiting any more");
    stopper.stop();
    server.await.unwrap().unwrap();
}

/// ACME and a certificate of the operator's own in `certs/` is an error that says what
/// to remove; lookout's own development certificate there is not in the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_and_own_certificate_files_together_are_refused_naming_which_to_remove() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    // lookout's development certificate (as `lookout serve` leaves it): fine.
    lookout::tls::generate(&certs, &["localhost".into()]).unwrap();
    let pebble = Pebble::prepare();
    let acme = build(
        dir.path(),
        &pebble.directory(),
        &pebble.listener_ca(),
        0,
        AcmeChallenge::TlsAlpn01,
    )
    .await;
    drop(acme);
    // A certificate from elsewhere (another issuer than lookout's development CA).
    let own = rcgen::generate_simple_self_signed(vec!["lookout.desk.example".into()]).unwrap();
    std::fs::write(certs.join("cert.pem"), own.cert.pem()).unwrap();
    std::fs::write(certs.join("key.pem"), own.signing_key.serialize_pem()).unwrap();
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        rules: dir.path().join("rules"),
        certs: certs.clone(),
        data: dir.path().join("data"),
        acme: Some(AcmeSettings {
            domains: vec!["lookout.desk.example".into()],
            contact: vec![],
            directory: pebble.directory(),
            ca_roots: vec![],
            challenge: AcmeChallenge::TlsAlpn01,
            http_listen: None,
            renew_before: Duration::from_secs(30 * 86_400),
        }),
        ..Config::default()
    };
    let err = match Application::build(config).await {
        Ok(_) => panic!("ACME and an own certificate were both accepted"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("both [tls.acme] and a certificate file")
            && err.contains("remove [tls.acme]")
            && err.contains("move cert.pem and key.pem out of"),
        "{err}"
    );
}

/// The leaf served at `addr` and the OCSP answer stapled to the handshake (empty: none).
async fn leaf_and_staple(addr: SocketAddr) -> (Vec<u8>, Vec<u8>) {
    let verifier = Arc::new(AnyCertificate::default());
    let config = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let staple = verifier.staple.lock().unwrap().clone();
    (leaf, staple)
}

/// OCSP stapling: the issued certificates name a responder on loopback. While it
/// refuses, nothing is stapled and handshakes go on; once it answers, the next
/// certificate's status is stapled, and OpenSSL verifies the staple (signed by pebble's
/// intermediate, "good" for the served certificate). The responder is OpenSSL's own
/// (`openssl ocsp -index ... -reqin`), run on the request lookout sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificates_ocsp_status_is_stapled_when_its_responder_answers() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("ocsp");
    std::fs::create_dir_all(&work).unwrap();
    // The responder: 503 until armed, then OpenSSL's answer to the request.
    let armed = Arc::new(AtomicBool::new(false));
    let asked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let responder = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ocsp_port = responder.local_addr().unwrap().port();
    let cache = dir.path().join("certs/acme/cert.pem");
    let app = {
        let (armed, asked, work) = (armed.clone(), asked.clone(), work.clone());
        axum::Router::new().route(
            "/",
            axum::routing::post(move |body: axum::body::Bytes| {
                let (armed, asked, work, cache) =
                    (armed.clone(), asked.clone(), work.clone(), cache.clone());
                async move {
                    asked.fetch_add(1, Ordering::SeqCst);
                    if !armed.load(Ordering::SeqCst) {
                        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, Vec::new());
                    }
                    std::fs::write(work.join("request.der"), &body).unwrap();
                    // The responder knows what lookout serves: the cache's certificate.
                    let pem = std::fs::read(&cache).unwrap();
                    let leaf = CertificateDer::pem_slice_iter(&pem)
                        .next()
                        .unwrap()
                        .unwrap();
                    std::fs::write(work.join("index.txt"), index_line(&leaf)).unwrap();
                    let out = Command::new("openssl")
                        .current_dir(&work)
                        .args([
                            "ocsp",
                            "-index",
                            "index.txt",
                            "-CA",
                            "inter.pem",
                            "-rsigner",
                            "inter.pem",
                            "-rkey",
                            "inter-key.pem",
                            "-reqin",
                            "request.der",
                            "-respout",
                            "response.der",
                            "-nmin",
                            "60",
                        ])
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    (
                        axum::http::StatusCode::OK,
                        std::fs::read(work.join("response.der")).unwrap(),
                    )
                }
            }),
        )
    };
    tokio::spawn(async move { axum::serve(responder, app).await.unwrap() });

    let mut pebble = Pebble::prepare();
    pebble.ocsp_url = format!("http://127.0.0.1:{ocsp_port}/");
    let (addr, stopper, server, state) = serving(dir.path(), &mut pebble).await;
    until("the first certificate", Duration::from_secs(60), || {
        issued(&state)
    })
    .await;
    until("the responder is asked", Duration::from_secs(20), || {
        asked.load(Ordering::SeqCst) >= 1
    })
    .await;
    let (first, staple) = leaf_and_staple(addr).await;
    assert!(
        staple.is_empty(),
        "nothing to staple while the responder refuses"
    );

    // The responder knows pebble's intermediate and answers "good" for what it issues.
    std::fs::write(
        work.join("inter.pem"),
        pebble.management_file("/intermediates/0").await,
    )
    .unwrap();
    std::fs::write(
        work.join("inter-key.pem"),
        pebble.management_file("/intermediate-keys/0").await,
    )
    .unwrap();
    std::fs::write(work.join("root.pem"), pebble.issuing_root().await).unwrap();
    armed.store(true, Ordering::SeqCst);
    // A new certificate is stapled as soon as it is served.
    state.acme.as_ref().unwrap().renew_now();
    until("the renewal", Duration::from_secs(60), || {
        renewals(&state) == 2
    })
    .await;
    let second = served_leaf(addr, "localhost").await;
    assert_ne!(second, first);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (leaf, staple) = loop {
        let (leaf, staple) = leaf_and_staple(addr).await;
        if !staple.is_empty() {
            break (leaf, staple);
        }
        assert!(Instant::now() < deadline, "no staple within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(leaf, second, "the staple is for the certificate served");
    std::fs::write(work.join("staple.der"), &staple).unwrap();
    std::fs::write(
        work.join("leaf.pem"),
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64_lines(&leaf)
        ),
    )
    .unwrap();
    let out = Command::new("openssl")
        .current_dir(&work)
        .args([
            "ocsp",
            "-respin",
            "staple.der",
            "-issuer",
            "inter.pem",
            "-cert",
            "leaf.pem",
            "-CAfile",
            "root.pem",
            "-VAfile",
            "inter.pem",
        ])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.contains("leaf.pem: good"),
        "{said}"
    );
    assert!(said.contains("Response verify OK"), "{said}");
    stopper.stop();
    server.await.unwrap().unwrap();
}

/// The responder's index line for `leaf` ("valid"), as `openssl ca` writes them.
fn index_line(leaf: &[u8]) -> String {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).unwrap();
    // As BN_bn2hex writes it: upper case, no leading zero bytes.
    let serial: String = cert
        .raw_serial()
        .iter()
        .skip_while(|b| **b == 0)
        .map(|b| format!("{b:02X}"))
        .collect();
    let t = cert.validity().not_after.to_datetime();
    format!(
        "V\t{:02}{:02}{:02}{:02}{:02}{:02}Z\t\t{serial}\tunknown\t/CN=localhost\n",
        t.year() % 100,
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn base64_lines(der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    text.as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A directory that refuses the order: its problem document (type and detail) is what
/// is kept, counted and shown to the admin in /readyz, and the temporary certificate
/// keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_order_is_reported_with_the_directorys_problem_document() {
    let dir = tempfile::tempdir().unwrap();
    let mut pebble = Pebble::prepare();
    pebble.blocklist = vec!["localhost".into()];
    let (addr, stopper, server, state) = serving(dir.path(), &mut pebble).await;
    let acme = state.acme.as_ref().unwrap();
    until("the refusal is counted", Duration::from_secs(30), || {
        acme.status().failures >= 1
    })
    .await;
    let error = acme.status().last_error.unwrap();
    assert!(
        error.contains("urn:ietf:params:acme:error:rejectedIdentifier")
            && error.contains("localhost"),
        "{error}"
    );
    assert!(!acme.status().issued);
    let token = std::fs::read_to_string(dir.path().join("data/admin-token")).unwrap();
    let readyz: serde_json::Value = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .get(format!("https://{addr}/readyz"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(readyz["ready"], false);
    let problems = readyz["problems"].to_string();
    assert!(problems.contains("rejectedIdentifier"), "{problems}");
    stopper.stop();
    server.await.unwrap().unwrap();
}
