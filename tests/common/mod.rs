//! The test harness: boots the real server over real TLS on port 0 with a temp
//! folder, and a client that trusts only the development CA the server made.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lookout::app::{Application, Stopper};
use lookout::config::Config;
use lookout::signature::{self, ApiKey};

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    pub stopper: Stopper,
    pub server: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The server's shared state: its recorder and log store.
    pub state: lookout::http::AppState,
}

/// Files of one rule set: (path inside the rule set, contents).
pub type Files<'a> = &'a [(&'a str, &'a str)];

pub fn write_files(root: &Path, files: Files) {
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

pub async fn spawn_app(rulesets: &[(&str, Files<'_>)]) -> TestApp {
    spawn_app_with(rulesets, |_| {}).await
}

pub async fn spawn_app_with(
    rulesets: &[(&str, Files<'_>)],
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    lookout::tls::install_provider();
    let dir = tempfile::tempdir().unwrap();
    for (name, files) in rulesets {
        write_files(&dir.path().join("rules").join(name), files);
    }
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        rules: dir.path().join("rules"),
        certs: dir.path().join("certs"),
        data: dir.path().join("data"),
        rule_threads: 2,
        ..Config::default()
    };
    tweak(&mut config);
    let app = Application::build(config).await.expect("server starts");
    let addr = app.local_addr();
    let stopper = app.stopper();
    let state = app.state().clone();
    let server = tokio::spawn(app.run_until_stopped());
    let client = client_for(&dir.path().join("certs/ca.pem"));
    TestApp {
        addr,
        dir,
        client,
        stopper,
        server,
        state,
    }
}

/// A client that trusts only `ca` (no "accept invalid certs").
pub fn client_for(ca: &Path) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .tls_info(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub fn sign(key: &str, body: &[u8]) -> String {
    signature::sign(&ApiKey::new(key), body)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    pub fn rules_dir(&self, ruleset: &str) -> PathBuf {
        self.dir.path().join("rules").join(ruleset)
    }

    /// POSTs `body` to /hooks/<ruleset>, signed with `key` when given.
    pub async fn post_hook(
        &self,
        ruleset: &str,
        body: &[u8],
        key: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(&format!("/hooks/{ruleset}")))
            .body(body.to_vec());
        if let Some(key) = key {
            request = request.header("Veson-Webhook-Signature", sign(key, body));
        }
        request.send().await.unwrap()
    }

    pub async fn post_json(
        &self,
        ruleset: &str,
        estimate: &serde_json::Value,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let response = self
            .post_hook(ruleset, estimate.to_string().as_bytes(), None)
            .await;
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// The recorded call `id`, once the recorder has written everything queued.
    pub async fn recorded(&self, id: &str) -> lookout::store::Call {
        let recorder = self.state.recorder.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || {
            assert!(
                recorder.flush(Duration::from_secs(10)),
                "the log did not catch up"
            );
            recorder
                .store()
                .get(&id)
                .unwrap()
                .unwrap_or_else(|| panic!("call {id} is not in the log"))
                .decode()
                .unwrap()
        })
        .await
        .unwrap()
    }

    /// POSTs a PortConnect callback `body` to /events/portconnect with `token` in
    /// X-WebhookToken.
    pub async fn post_portconnect(&self, token: &str, body: &[u8]) -> reqwest::Response {
        self.client
            .post(self.url("/events/portconnect"))
            .header("content-type", "application/json")
            .header("x-webhooktoken", token)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// POSTs one Octopi delivery to /events/octopi, signed with `secret` as the server's
    /// [events.octopi] settings say and timestamped now.
    pub async fn post_octopi(
        &self,
        secret: &str,
        event: &str,
        delivery: &str,
        body: &[u8],
    ) -> reqwest::Response {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        let signature = lookout::events::octopi::sign(
            &self.state.config.events.octopi,
            &ApiKey::new(secret),
            &timestamp,
            body,
        );
        self.client
            .post(self.url("/events/octopi"))
            .header("content-type", "application/json")
            .header("x-octopi-event", event)
            .header("x-octopi-delivery", delivery)
            .header("x-octopi-timestamp", timestamp)
            .header("x-octopi-signature", signature)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// The admin token: the configured one, or the one the server made in `data/`.
    pub fn admin_token(&self) -> String {
        match &self.state.config.admin_token {
            Some(token) => token.expose().to_string(),
            None => std::fs::read_to_string(self.dir.path().join("data/admin-token"))
                .unwrap()
                .trim()
                .to_string(),
        }
    }

    /// `/metrics` as Prometheus scrapes it, with the admin token.
    pub async fn metrics(&self) -> String {
        let response = self
            .client
            .get(self.url("/metrics"))
            .bearer_auth(self.admin_token())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }

    /// `/readyz` as the admin sees it (rule sets, versions, problems in full).
    pub async fn readyz_as_admin(&self) -> serde_json::Value {
        self.client
            .get(self.url("/readyz"))
            .bearer_auth(self.admin_token())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A viewer page as the holder of `token` sees it.
    pub async fn page_as(&self, path: &str, token: &str) -> String {
        let response = self.client.get(self.url(path)).bearer_auth(token);
        response.send().await.unwrap().text().await.unwrap()
    }

    /// `GET` of an admin API path with `token`, as JSON.
    pub async fn api_get(&self, path: &str, token: &str) -> serde_json::Value {
        let response = self.client.get(self.url(path)).bearer_auth(token);
        response.send().await.unwrap().json().await.unwrap()
    }

    /// `POST` (no body) of an admin API path with `token`, as JSON.
    pub async fn api_post(&self, path: &str, token: &str) -> serde_json::Value {
        let response = self.client.post(self.url(path)).bearer_auth(token);
        response.send().await.unwrap().json().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }
}

/// Polls `check` every 20 ms until it returns true or `limit` passes; returns the time taken.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn sample(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("rules/samples")
            .join(name),
    )
    .unwrap()
}

/// Runs futures concurrently on this task and returns their outputs in order.
pub async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.collect();
    let mut out = Vec::new();
    // Poll them concurrently on this task.
    let mut pinned: Vec<_> = handles.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => results[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.extend(results.into_iter().map(Option::unwrap));
    out
}

/// A port free on 127.0.0.1 now, for a server started as a separate process.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (at most 30 s) until the lookout on `port` answers `/readyz` with 200.
pub async fn wait_ready(client: &reqwest::Client, port: u16) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let url = format!("https://localhost:{port}/readyz");
        if let Ok(r) = client.get(url).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < until, "lookout did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A raw TLS connection to the app (HTTP/1.1 by ALPN), trusting only its development
/// CA: for tests that must send bytes as no HTTP client would (half a head, a stalled
/// body). `Err` when the server refuses or closes the connection during the handshake.
pub async fn raw_tls(
    app: &TestApp,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use rustls_pki_types::pem::PemObject;
    lookout::tls::install_provider();
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(app.dir.path().join("certs/ca.pem")).unwrap();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(app.addr).await?;
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await
}

/// Reads until the peer closes (or `limit` passes); returns what came and how long it took.
pub async fn read_until_closed<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    limit: Duration,
) -> (String, Duration) {
    use tokio::io::AsyncReadExt;
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((start + limit).into(), stream.read(&mut buf)).await {
            Err(_) => panic!(
                "the server did not close the connection within {limit:?}; got {:?}",
                String::from_utf8_lossy(&got)
            ),
            Ok(Ok(0)) => break,
            Ok(Err(_)) => break, // closed without close_notify: closed all the same
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), start.elapsed())
}

/// Copies a folder, recursively (a rule set into a test's temp folder).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A process's output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A finished process: its status and both outputs, for assertion messages.
pub fn show(out: &std::process::Output) -> String {
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

#[track_caller]
pub fn assert_exit(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit code\n--- stdout\n{}\n--- stderr\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// The `X-Lookout-Call-Id` of an answer.
#[track_caller]
pub fn call_id(response: &reqwest::Response) -> String {
    response.headers()["x-lookout-call-id"]
        .to_str()
        .unwrap()
        .to_string()
}

/// `lookout certs --out certs` in `dir`: the development CA and server certificate, so
/// a client can trust the CA before a `lookout serve` started there makes its own.
pub fn make_certs(dir: &Path) {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["certs", "--out", "certs"])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "lookout certs: {status}");
}

/// The messages of an answer's alerts, in order.
pub fn messages(alerts: &serde_json::Value) -> Vec<&str> {
    alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["message"].as_str().unwrap())
        .collect()
}

/// A client of `app` that follows no redirects and keeps no cookies: each test says what
/// it sends.
pub fn plain_client(app: &TestApp) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(
        &std::fs::read(app.dir.path().join("certs/ca.pem")).unwrap(),
    )
    .unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}
