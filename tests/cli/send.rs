//! Where `lookout send` lets a signed body go (issue 12, finding 15): https:// only unless
//! --insecure-http; a redirect is printed, not followed, unless --follow-redirects, and then
//! only to the same scheme, host and port. The real binary against real servers on
//! 127.0.0.1 (HTTPS with a development CA made by lookout itself).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::common::{assert_exit, text};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};

const KEY_VAR: &str = "LOOKOUT_TEST_SEND_REDIRECT_KEY";
const KEY: &str = "send-redirect-key-0123456789";
const BODY: &[u8] = br#"{"estimateID":"E-SEND-15","vessel":{"name":"Test Carrier"}}"#;

/// A temp folder with the body to send and a development CA and server certificate
/// (certs/ca.pem, cert.pem, key.pem) for localhost and 127.0.0.1.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("body.json"), BODY).unwrap();
        let hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        lookout::tls::generate(&dir.path().join("certs"), &hosts).unwrap();
        Scratch { dir }
    }
    fn body(&self) -> String {
        self.dir.path().join("body.json").display().to_string()
    }
    fn certs(&self) -> PathBuf {
        self.dir.path().join("certs")
    }
    fn ca(&self) -> String {
        self.certs().join("ca.pem").display().to_string()
    }
}

/// One request a test server received.
#[derive(Debug, Clone)]
struct Request {
    path: String,
    signature: Option<String>,
    body: Vec<u8>,
}

/// What a test server saw: TCP connections accepted, and requests.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    requests: Mutex<Vec<Request>>,
}

impl Seen {
    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
    /// The requests so far, forgetting them.
    fn take(&self) -> Vec<Request> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

/// Counts every accepted TCP connection, before TLS or HTTP.
#[derive(Clone)]
struct Counting(Arc<Seen>);

impl<I, S> axum_server::accept::Accept<I, S> for Counting {
    type Stream = I;
    type Service = S;
    type Future = std::future::Ready<std::io::Result<(I, S)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        self.0.connections.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok((stream, service)))
    }
}

struct Routes {
    seen: Arc<Seen>,
    /// path -> Location answered with 307.
    redirects: Vec<(String, String)>,
}

/// Records the request; answers 307 for a path in `redirects`, 307 from /loop/<n> to
/// /loop/<n+1>, and 200 with an empty alert list otherwise.
async fn handle(
    State(routes): State<Arc<Routes>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    routes.seen.requests.lock().unwrap().push(Request {
        path: path.clone(),
        signature: headers
            .get("veson-webhook-signature")
            .map(|v| v.to_str().unwrap().to_string()),
        body: body.to_vec(),
    });
    let location = routes
        .redirects
        .iter()
        .find(|(from, _)| *from == path)
        .map(|(_, to)| to.clone())
        .or_else(|| {
            let n: u32 = path.strip_prefix("/loop/")?.parse().ok()?;
            Some(format!("/loop/{}", n + 1))
        });
    match location {
        Some(to) => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, to)],
            "moved",
        )
            .into_response(),
        None => (
            [(header::CONTENT_TYPE, "application/json")],
            "{\"alerts\":[]}",
        )
            .into_response(),
    }
}

/// Starts a server on 127.0.0.1 (HTTPS with the scratch certificate when `certs` is
/// given, plain HTTP otherwise); `redirects` gets the server's own port.
async fn serve(
    certs: Option<&Path>,
    redirects: impl FnOnce(u16) -> Vec<(String, String)>,
) -> (u16, Arc<Seen>) {
    lookout::tls::install_provider();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Seen::default());
    let app = Router::new().fallback(handle).with_state(Arc::new(Routes {
        seen: seen.clone(),
        redirects: redirects(port),
    }));
    let server = axum_server::from_tcp(listener).unwrap();
    let counting = Counting(seen.clone());
    match certs {
        Some(dir) => {
            let config = RustlsConfig::from_pem_file(dir.join("cert.pem"), dir.join("key.pem"))
                .await
                .unwrap();
            let server = server.acceptor(RustlsAcceptor::new(config).acceptor(counting));
            tokio::spawn(server.serve(app.into_make_service()));
        }
        None => {
            tokio::spawn(server.acceptor(counting).serve(app.into_make_service()));
        }
    }
    (port, seen)
}

/// Runs `lookout send <args>` with the key in KEY_VAR, off the runtime's threads so the
/// servers keep answering.
async fn send(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || send_blocking(&args))
        .await
        .unwrap()
}

fn send_blocking<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg("send")
        .args(args)
        .env(KEY_VAR, KEY)
        .env("NO_COLOR", "1")
        .output()
        .expect("the lookout binary runs")
}

fn signature() -> String {
    lookout::signature::sign(&lookout::signature::ApiKey::new(KEY), BODY)
}

fn paths(requests: &[Request]) -> Vec<&str> {
    requests.iter().map(|r| r.path.as_str()).collect()
}

#[test]
fn send_refuses_plain_http_and_does_not_connect() {
    let scratch = Scratch::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!(
        "http://127.0.0.1:{}/hooks/x",
        listener.local_addr().unwrap().port()
    );

    let out = send_blocking(&[
        url.as_str(),
        &scratch.body(),
        "--key-env",
        KEY_VAR,
        "--timeout",
        "3",
    ]);

    assert_exit(&out, 2);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("clear text"), "{stderr}");
    assert!(stderr.contains("https://"), "{stderr}");
    assert!(stderr.contains("--insecure-http"), "{stderr}");
    // The kernel completes a TCP handshake into the backlog without accept(): nothing
    // there means the command never connected.
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok((_, from)) => panic!("lookout send connected to the http:// listener from {from}"),
        Err(e) => panic!("accept: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_insecure_http_sends_in_clear_text_when_asked() {
    let scratch = Scratch::new();
    let (port, seen) = serve(None, |_| vec![]).await;

    let out = send(&[
        &format!("http://127.0.0.1:{port}/hooks/x"),
        &scratch.body(),
        "--key-env",
        KEY_VAR,
        "--insecure-http",
    ])
    .await;

    assert_exit(&out, 0);
    assert!(
        text(&out.stderr).contains("clear text"),
        "{}",
        text(&out.stderr)
    );
    let requests = seen.take();
    assert_eq!(paths(&requests), ["/hooks/x"]);
    assert_eq!(requests[0].body, BODY);
    assert_eq!(requests[0].signature.as_deref(), Some(signature().as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_prints_a_redirect_and_does_not_follow_it() {
    let scratch = Scratch::new();
    let (other_port, other) = serve(Some(&scratch.certs()), |_| vec![]).await;
    let elsewhere = format!("https://localhost:{other_port}/hooks/x");
    let (port, first) = serve(Some(&scratch.certs()), |_| {
        vec![("/hooks/x".to_string(), elsewhere.clone())]
    })
    .await;

    let out = send(&[
        &format!("https://localhost:{port}/hooks/x"),
        &scratch.body(),
        "--key-env",
        KEY_VAR,
        "--cacert",
        &scratch.ca(),
    ])
    .await;

    assert_exit(&out, 1);
    let stdout = text(&out.stdout);
    assert!(stdout.contains(" 307 Temporary Redirect"), "{stdout}");
    assert!(
        stdout.contains(&format!("location: {elsewhere}\n")),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("--follow-redirects"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(paths(&first.take()), ["/hooks/x"]);
    assert_eq!(other.connections(), 0, "the redirect target was contacted");
    assert!(other.take().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_follow_redirects_stays_on_the_same_origin() {
    let scratch = Scratch::new();
    let (other_port, other) = serve(Some(&scratch.certs()), |_| vec![]).await;
    let (port, first) = serve(Some(&scratch.certs()), |port| {
        vec![
            (
                "/to-other-port".to_string(),
                format!("https://localhost:{other_port}/hooks/x"),
            ),
            (
                "/to-other-host".to_string(),
                format!("https://127.0.0.1:{port}/landing"),
            ),
            (
                "/to-http".to_string(),
                format!("http://localhost:{port}/landing"),
            ),
            (
                "/to-self".to_string(),
                format!("https://localhost:{port}/landing"),
            ),
        ]
    })
    .await;
    let ca = scratch.ca();
    let body = scratch.body();
    let follow = |path: &str| {
        let url = format!("https://localhost:{port}{path}");
        let (ca, body) = (ca.clone(), body.clone());
        async move {
            send(&[
                &url,
                &body,
                "--key-env",
                KEY_VAR,
                "--cacert",
                &ca,
                "--follow-redirects",
            ])
            .await
        }
    };

    // Another port: refused, the 307 is the answer, the other server sees nothing.
    let out = follow("/to-other-port").await;
    assert_exit(&out, 1);
    assert!(text(&out.stdout).contains(" 307 "), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("not followed"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(paths(&first.take()), ["/to-other-port"]);
    assert_eq!(other.connections(), 0, "the other port was contacted");

    // Same port, another host name (the certificate is good for it too): refused.
    let out = follow("/to-other-host").await;
    assert_exit(&out, 1);
    assert!(text(&out.stdout).contains(" 307 "), "{}", text(&out.stdout));
    assert_eq!(paths(&first.take()), ["/to-other-host"]);

    // Same host and port, https to http: refused.
    let out = follow("/to-http").await;
    assert_exit(&out, 1);
    assert!(text(&out.stdout).contains(" 307 "), "{}", text(&out.stdout));
    assert_eq!(paths(&first.take()), ["/to-http"]);

    // Same origin: followed, and the body and signature arrive there intact.
    let out = follow("/to-self").await;
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains(" 200 OK"),
        "{}",
        text(&out.stdout)
    );
    let requests = first.take();
    assert_eq!(paths(&requests), ["/to-self", "/landing"]);
    assert_eq!(requests[1].body, BODY);
    assert_eq!(requests[1].signature.as_deref(), Some(signature().as_str()));

    // At most 5: the 6th redirect is the answer.
    let out = follow("/loop/0").await;
    assert_exit(&out, 1);
    assert!(
        text(&out.stdout).contains("location: /loop/6\n"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        paths(&first.take()),
        ["/loop/0", "/loop/1", "/loop/2", "/loop/3", "/loop/4", "/loop/5"]
    );

    assert_eq!(other.connections(), 0);
    assert!(other.take().is_empty());
}
