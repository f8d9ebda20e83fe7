//! What a caller from outside must not be able to do: end the process, lock the
//! Estimator out, or hold the server's resources. The real server over real TLS, with
//! bytes sent as an attacker would send them (raw TLS for half heads and stalled
//! bodies). Each test names the finding of issue 12 it covers.

use std::time::Duration;

use crate::common::*;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

const KEY: &str = "hardening-test-key-5d1f8a2c7e4b9a0f3c6e1d8b";

/// An object whose member `a` holds arrays nested so that the whole text is `depth` deep.
fn nested_object(depth: usize) -> String {
    format!(
        "{{\"estimateID\": \"E1\", \"a\": {}{}}}",
        "[".repeat(depth - 1),
        "]".repeat(depth - 1)
    )
}

fn desk_rules() -> Vec<(&'static str, &'static str)> {
    vec![("hello.rhai", "info(\"seen \" + estimate.estimateID);")]
}

fn signed_rules() -> Vec<(&'static str, &'static str)> {
    vec![
        ("hello.rhai", "info(\"seen\");"),
        (
            "ruleset.toml",
            "api_keys = [\"env:LOOKOUT_HARDENING_KEY\"]\n",
        ),
    ]
}

/// Finding 1: 10,000 nested arrays (20 KB) used to overflow sonic-rs's stack and abort
/// the process. The limit holds at its edge: 128 levels pass, 129 are a 400.
#[tokio::test]
async fn a_deeply_nested_body_is_a_400_and_the_server_keeps_serving() {
    let desk = desk_rules();
    let app = spawn_app(&[("desk", &desk)]).await;

    let response = app
        .post_hook("desk", "[".repeat(10_000).as_bytes(), None)
        .await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("nested more than 128 levels deep at line 1 column 129"),
        "{error}"
    );

    let response = app
        .post_hook("desk", nested_object(128).as_bytes(), None)
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body[0]["message"], "seen E1");
    let response = app
        .post_hook("desk", nested_object(129).as_bytes(), None)
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(app.get("/healthz").await.status(), 200);
}

/// Finding 1, the stored half: a deep body refused with 401 is recorded; opening it in
/// the viewer or replaying it used to kill the server after every restart.
#[tokio::test]
async fn a_stored_deep_body_can_be_viewed_and_replayed() {
    std::env::set_var("LOOKOUT_HARDENING_KEY", KEY);
    let signed = signed_rules();
    let app = spawn_app_with(&[("signed", &signed)], |c| {
        c.admin_token = Some(lookout::secrets::AdminToken::new(
            "hardening-admin-token-000000000000000",
        ))
    })
    .await;
    // Deep, but short of the 16 KB kept of an unauthenticated body: stored whole.
    let body = format!("{{\"a\": {}", "[".repeat(12_000));
    let response = app.post_hook("signed", body.as_bytes(), None).await;
    assert_eq!(response.status(), 401);
    let id = call_id(&response);
    let call = app.recorded(&id).await;
    assert_eq!(call.request_body, body.as_bytes());

    let page = app
        .client
        .get(app.url(&format!("/admin/calls/{id}")))
        .bearer_auth("hardening-admin-token-000000000000000")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("nested more than 128 levels"));
    let replay = app
        .client
        .post(app.url(&format!("/admin/api/calls/{id}/replay")))
        .bearer_auth("hardening-admin-token-000000000000000")
        .send()
        .await
        .unwrap();
    let status = replay.status().as_u16();
    let text = replay.text().await.unwrap();
    assert!((400..500).contains(&status), "{status} {text}");
    assert!(text.contains("nested more than 128 levels"), "{text}");
    assert_eq!(app.get("/healthz").await.status(), 200);
}

/// Finding 1, events: a deep value inside one PortConnect item made the request task
/// panic; a deep Octopi body is refused the same way.
#[tokio::test]
async fn deep_event_bodies_are_400s_not_panics() {
    let app = spawn_app_with(&[], |c| {
        c.events.portconnect_tokens = vec![lookout::signature::ApiKey::new("pc-token")];
        c.events.octopi.secrets = vec![lookout::signature::ApiKey::new("octopi-secret")];
    })
    .await;
    let item = format!(
        "[{{\"containerNumber\": \"MSCU1234565\", \"containerVisitEventTypeCode\": \"GATEIN\", \"x\": {}1{}}}]",
        "[".repeat(127),
        "]".repeat(127)
    );
    let response = app.post_portconnect("pc-token", item.as_bytes()).await;
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(text.contains("nested more than 128 levels"), "{text}");

    let body = format!(
        "{{\"event_type\": \"Cargo Loaded\", \"x\": {}",
        "[".repeat(5_000)
    );
    let response = app
        .post_octopi("octopi-secret", "Cargo Loaded", "d-1", body.as_bytes())
        .await;
    assert_eq!(response.status(), 400);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("nested more than 128 levels"));
    assert_eq!(app.get("/healthz").await.status(), 200);
}

/// Finding 2: slow unsigned uploads used to hold every concurrency permit, so signed
/// calls got 503 for as long as the uploads were held. Now they hold no permit, and
/// each is cut at the body timeout with a 408.
#[tokio::test]
async fn slow_unsigned_uploads_do_not_lock_out_signed_calls() {
    std::env::set_var("LOOKOUT_HARDENING_KEY", KEY);
    let signed = signed_rules();
    let app = spawn_app_with(&[("signed", &signed)], |c| {
        c.max_concurrent_calls = 2;
        c.http.body_timeout = Duration::from_millis(1500);
    })
    .await;
    let mut stalled = Vec::new();
    for _ in 0..8 {
        let mut tls = raw_tls(&app).await.unwrap();
        tls.write_all(
            b"POST /hooks/signed HTTP/1.1\r\nhost: localhost\r\ncontent-length: 100000\r\n\r\n{\"estimateID\": ",
        )
        .await
        .unwrap();
        tls.flush().await.unwrap();
        stalled.push(tls);
    }
    // Signed calls go through while the uploads are held.
    for _ in 0..3 {
        let body = br#"{"estimateID": "E1"}"#;
        let response = app.post_hook("signed", body, Some(KEY)).await;
        assert_eq!(response.status(), 200);
    }
    for tls in &mut stalled {
        let (answer, _) = read_until_closed(tls, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("did not arrive within 1500 ms"), "{answer}");
    }
    assert_eq!(app.state.metrics.cut_count("body_timeout"), 8);
}

/// Finding 2: half-sent heads and silent connections are closed at the header timeout.
#[tokio::test]
async fn half_sent_heads_and_silent_connections_are_closed() {
    let app = spawn_app_with(&[], |c| {
        c.http.header_timeout = Duration::from_millis(800);
    })
    .await;
    let opened = std::time::Instant::now();
    let mut silent = raw_tls(&app).await.unwrap();
    let mut half = raw_tls(&app).await.unwrap();
    half.write_all(b"POST /hooks/desk HTTP/1.1\r\nhost: localhost\r\nx-a: ")
        .await
        .unwrap();
    half.flush().await.unwrap();
    for tls in [&mut silent, &mut half] {
        read_until_closed(tls, Duration::from_secs(5)).await;
        let took = opened.elapsed();
        assert!(took >= Duration::from_millis(700), "closed after {took:?}");
    }
}

/// Finding 2: connections past the caps are closed at once and counted; the slots come
/// back when connections end. Without a cap ~1,000 idle connections used up the
/// process's file descriptors.
#[tokio::test]
async fn connections_past_the_caps_are_refused_and_slots_come_back() {
    let app = spawn_app_with(&[], |c| {
        c.http.max_connections = 4;
        c.http.max_connections_per_ip = 0;
    })
    .await;
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(raw_tls(&app).await.unwrap());
    }
    assert!(
        raw_tls(&app).await.is_err(),
        "a fifth connection got through"
    );
    assert_eq!(app.state.metrics.cut_count("max_connections"), 1);
    drop(open.pop());
    eventually(Duration::from_secs(5), || async {
        raw_tls(&app).await.is_ok()
    })
    .await;
    drop(open);

    let app = spawn_app_with(&[], |c| {
        c.http.max_connections = 10;
        c.http.max_connections_per_ip = 3;
    })
    .await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(raw_tls(&app).await.unwrap());
    }
    assert!(
        raw_tls(&app).await.is_err(),
        "a fourth connection from one address got through"
    );
    assert_eq!(app.state.metrics.cut_count("max_connections_per_ip"), 1);
}

/// Finding 2: a connection with no byte either way for the idle timeout is closed,
/// counted, even while it is in the middle of a head.
#[tokio::test]
async fn idle_connections_are_closed_and_counted() {
    let app = spawn_app_with(&[], |c| {
        c.budget = Duration::from_millis(200);
        c.margin = Duration::from_millis(50);
        c.http.header_timeout = Duration::from_secs(20);
        c.http.idle_timeout = Duration::from_millis(1300);
    })
    .await;
    let mut tls = raw_tls(&app).await.unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n")
        .await
        .unwrap();
    tls.flush().await.unwrap();
    let (_, took) = read_until_closed(&mut tls, Duration::from_secs(10)).await;
    assert!(took >= Duration::from_millis(1200), "{took:?}");
    assert_eq!(app.state.metrics.cut_count("idle_timeout"), 1);
}

/// Finding 17: a compressed body was read as if it were the JSON itself.
#[tokio::test]
async fn an_encoded_body_is_a_415_naming_what_is_accepted() {
    let desk = desk_rules();
    let app = spawn_app(&[("desk", &desk)]).await;
    let response = app
        .client
        .post(app.url("/hooks/desk"))
        .header("content-encoding", "gzip")
        .body(json!({"estimateID": "E1"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("Content-Encoding `gzip` is not accepted"),
        "{text}"
    );
    let response = app
        .client
        .post(app.url("/hooks/desk"))
        .header("content-encoding", "identity")
        .body(json!({"estimateID": "E1"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// Finding 10: adding `api_keys = ["env:VAR"]` while VAR is unset used to keep serving
/// the earlier, unsigned version (unsigned calls got 200). Authentication fails closed:
/// 503 naming the missing key until it can be read, then signed calls only.
#[tokio::test]
async fn a_rule_set_whose_key_cannot_be_read_refuses_calls() {
    let desk = desk_rules();
    let app = spawn_app(&[("desk", &desk)]).await;
    let body = br#"{"estimateID": "E1"}"#;
    assert_eq!(app.post_hook("desk", body, None).await.status(), 200);

    std::env::remove_var("LOOKOUT_HARDENING_LATE_KEY");
    std::fs::write(
        app.rules_dir("desk").join("ruleset.toml"),
        "api_keys = [\"env:LOOKOUT_HARDENING_LATE_KEY\"]\n",
    )
    .unwrap();
    eventually(Duration::from_secs(5), || async {
        app.post_hook("desk", body, None).await.status() == 503
    })
    .await;
    let response = app.post_hook("desk", body, None).await;
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error["error"],
        "rule set `desk` cannot check signatures: api_keys[0]: environment variable LOOKOUT_HARDENING_LATE_KEY is not set; export it before starting lookout; calls are refused until the key can be read"
    );
    assert_eq!(app.get("/readyz").await.status(), 503);

    std::env::set_var("LOOKOUT_HARDENING_LATE_KEY", KEY);
    std::fs::write(app.rules_dir("desk").join("touch.rhai"), "()").unwrap();
    eventually(Duration::from_secs(5), || async {
        app.post_hook("desk", body, Some(KEY)).await.status() == 200
    })
    .await;
    assert_eq!(app.post_hook("desk", body, None).await.status(), 401);
}

/// Finding 4: a `data/k.csv` linked to `certs/key.pem` put the TLS private key into an
/// alert; a linked `.rhai` leaked file fragments through compile errors on the
/// unauthenticated `/readyz`. Only the rule set's own regular files load.
#[tokio::test]
async fn rule_sets_do_not_follow_links_and_readyz_quotes_no_file() {
    let rules = vec![("leak.rhai", "info(`${data.k}`);")];
    let app = spawn_app(&[("desk", &rules)]).await;
    let desk = app.rules_dir("desk");
    let key = app.dir.path().join("certs/key.pem");
    std::fs::create_dir_all(desk.join("data")).unwrap();
    std::os::unix::fs::symlink(&key, desk.join("data/k.csv")).unwrap();
    std::os::unix::fs::symlink(&key, desk.join("key.rhai")).unwrap();
    // Until a reload has seen both links (one may come before the other is made).
    eventually(Duration::from_secs(5), || async {
        let ready = app.get("/readyz").await;
        ready.status() == 503 && {
            let text = ready.text().await.unwrap();
            text.contains("desk/data/k.csv") && text.contains("desk/key.rhai")
        }
    })
    .await;

    let response = app
        .post_hook("desk", br#"{"estimateID": "E1"}"#, None)
        .await;
    let text = response.text().await.unwrap();
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    let ready = app.get("/readyz").await.text().await.unwrap();
    assert!(
        !ready.contains("PRIVATE") && !ready.contains("BEGIN"),
        "{ready}"
    );
    assert!(
        ready.contains("desk/data/k.csv") && ready.contains("desk/key.rhai"),
        "{ready}"
    );
    let ready = app.readyz_as_admin().await.to_string();
    assert!(ready.contains("is a symbolic link"), "{ready}");
    assert!(!ready.contains("PRIVATE"), "{ready}");

    // A linked data/ folder is refused the same way.
    std::fs::remove_file(desk.join("data/k.csv")).unwrap();
    std::fs::remove_file(desk.join("key.rhai")).unwrap();
    std::fs::remove_dir(desk.join("data")).unwrap();
    std::os::unix::fs::symlink(app.dir.path().join("certs"), desk.join("data")).unwrap();
    std::fs::write(desk.join("touch.rhai"), "()").unwrap();
    eventually(Duration::from_secs(5), || async {
        app.readyz_as_admin()
            .await
            .to_string()
            .contains("desk/data: is a symbolic link")
    })
    .await;
}

/// Finding 8: unauthenticated calls to unknown rule sets stored every header (~372 KB a
/// call; one client wrote ~87 MB/s of log). Headers of refused calls are bounded in
/// count and bytes, and refusals are recorded at most `refusals_per_second` (bursts of
/// ten seconds' worth); the rest are counted.
#[tokio::test]
async fn refused_calls_are_recorded_small_and_at_a_bounded_rate() {
    let app = spawn_app_with(&[], |c| c.recorder.refusals_per_second = 2).await;
    let started = std::time::Instant::now();
    let mut ids = Vec::new();
    for i in 0..60 {
        let mut request = app.client.post(app.url("/hooks/nosuch")).body("{}");
        for h in 0..40 {
            request = request.header(format!("x-filler-{h:02}"), "v".repeat(1000));
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404, "call {i}");
        ids.push(call_id(&response));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let recorder = app.state.recorder.clone();
    let stored = tokio::task::spawn_blocking(move || {
        assert!(recorder.flush(Duration::from_secs(10)));
        ids.iter()
            .filter_map(|id| recorder.store().get(id).unwrap())
            .map(|row| row.decode().unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    // The burst is 20 (ten seconds at 2 a second), plus what the run's time earned.
    let allowed = 20 + (2.0 * elapsed).ceil() as usize;
    assert!(
        stored.len() >= 20 && stored.len() <= allowed,
        "{} stored, {allowed} allowed",
        stored.len()
    );
    let status = app.state.recorder.status();
    assert_eq!(status.refusals_not_recorded as usize, 60 - stored.len());
    for call in &stored {
        let bytes: usize = call
            .request_headers
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum();
        assert!(
            call.request_headers.len() <= 32 && bytes <= 4096,
            "{} headers, {bytes} bytes",
            call.request_headers.len()
        );
        assert!(
            call.redacted.iter().any(|r| r.ends_with("more not kept")),
            "{:?}",
            call.redacted
        );
    }
    let metrics = app.metrics().await;
    assert!(metrics.contains(&format!(
        "lookout_log_refusals_not_recorded_total {}",
        60 - stored.len()
    )));
}

/// Finding 6: under the default `signed = "body"`, the timestamp and delivery id are not
/// signed, so a captured delivery re-sent with a fresh timestamp and a new delivery id
/// was stored again. Duplicates are dropped by content.
#[tokio::test]
async fn a_replayed_octopi_delivery_with_new_headers_is_a_duplicate() {
    let app = spawn_app_with(&[], |c| {
        c.events.octopi.secrets = vec![lookout::signature::ApiKey::new("octopi-secret")];
    })
    .await;
    let body = json!({
        "event_type": "Cargo Held",
        "container": {"number": "MSCU1234565"},
        "occurred_at": "2026-11-30T10:00:00Z"
    })
    .to_string();
    let first = app
        .post_octopi(
            "octopi-secret",
            "Cargo Held",
            "0b7e0c3a-1f5e-4b8f-9c55-2d7f0a4b6e11",
            body.as_bytes(),
        )
        .await;
    assert_eq!(first.status(), 200);
    assert_eq!(
        first.json::<Value>().await.unwrap(),
        json!({"stored": 1, "duplicates": 0})
    );
    // The attacker's copy: the same signed body, a new delivery id, a fresh timestamp.
    let replay = app
        .post_octopi(
            "octopi-secret",
            "Cargo Held",
            "99999999-1f5e-4b8f-9c55-2d7f0a4b6e11",
            body.as_bytes(),
        )
        .await;
    assert_eq!(replay.status(), 200);
    assert_eq!(
        replay.json::<Value>().await.unwrap(),
        json!({"stored": 0, "duplicates": 1})
    );
}

/// Finding 12: `data/lookout.db` and its WAL were created 0644. lookout's own files are
/// private to its user: the data folder 0700, the log and the admin token 0600, and a
/// folder or file left open by an earlier version is tightened at start.
#[tokio::test]
async fn lookouts_own_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let desk = desk_rules();
    let app = spawn_app(&[("desk", &desk)]).await;
    let response = app
        .post_hook("desk", br#"{"estimateID": "E1"}"#, None)
        .await;
    let id = call_id(&response);
    app.recorded(&id).await;
    let data = app.dir.path().join("data");
    assert_eq!(mode(&data), 0o700);
    for file in ["lookout.db", "lookout.db-wal", "admin-token"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }

    // An earlier version's open files are tightened when the server starts.
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("data");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        old.join("admin-token"),
        "old-admin-token-0123456789abcdef\n",
    )
    .unwrap();
    std::fs::set_permissions(
        old.join("admin-token"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let _app = spawn_app_with(&[], |c| c.data = old.clone()).await;
    assert_eq!(mode(&old), 0o700);
    assert_eq!(mode(&old.join("admin-token")), 0o600);
}

/// Finding 17: HTTP/1.1 requests with no or two `Host` headers got 200; RFC 9112 says 400.
#[tokio::test]
async fn http11_requests_need_exactly_one_host_header() {
    let app = spawn_app(&[]).await;
    for (head, status) in [
        (
            "GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
            "200",
        ),
        ("GET /healthz HTTP/1.1\r\nconnection: close\r\n\r\n", "400"),
        (
            "GET /healthz HTTP/1.1\r\nhost: a\r\nhost: b\r\nconnection: close\r\n\r\n",
            "400",
        ),
        ("GET /healthz HTTP/1.0\r\n\r\n", "200"),
    ] {
        let mut tls = raw_tls(&app).await.unwrap();
        tls.write_all(head.as_bytes()).await.unwrap();
        tls.flush().await.unwrap();
        let (answer, _) = read_until_closed(&mut tls, Duration::from_secs(5)).await;
        assert!(
            answer.split(' ').nth(1) == Some(status),
            "{head:?}: {answer}"
        );
    }
}

/// Finding 2, HTTP/2: one connection with many unfinished streams used to hold every
/// concurrency permit. Streams are bounded per connection, hold no permit while their
/// bodies arrive, and are cut at the body timeout.
#[tokio::test]
async fn unfinished_http2_streams_do_not_lock_out_signed_calls() {
    std::env::set_var("LOOKOUT_HARDENING_KEY", KEY);
    let signed = signed_rules();
    let app = spawn_app_with(&[("signed", &signed)], |c| {
        c.max_concurrent_calls = 2;
        c.http.max_streams = 4;
        c.http.body_timeout = Duration::from_millis(1500);
    })
    .await;
    // One client, so one HTTP/2 connection, with 8 uploads that never finish.
    let stalling = client_for(&app.dir.path().join("certs/ca.pem"));
    let mut uploads = Vec::new();
    for _ in 0..8 {
        let first = futures_util::stream::iter([Ok::<_, std::io::Error>(
            bytes::Bytes::from_static(b"{\"estimateID\": "),
        )]);
        let body = reqwest::Body::wrap_stream(futures_util::StreamExt::chain(
            first,
            futures_util::stream::pending(),
        ));
        let request = stalling.post(app.url("/hooks/signed")).body(body).send();
        uploads.push(tokio::spawn(request));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        let response = app
            .post_hook("signed", br#"{"estimateID": "E1"}"#, Some(KEY))
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), reqwest::Version::HTTP_2);
    }
    // The stalled streams end at the body timeout (4 at a time: the others wait for a
    // stream slot), each with a 408 or a reset.
    for upload in uploads {
        match upload.await.unwrap() {
            Ok(response) => assert_eq!(response.status(), 408),
            Err(e) => assert!(e.is_request() || e.is_body() || e.is_timeout(), "{e}"),
        }
    }
    assert!(app.state.metrics.cut_count("body_timeout") >= 4);
}

/// Finding 11: the rule set name from the URL was written raw into text log lines, so a
/// `%0a` in it forged a line. The real binary's log: the name is quoted with the newline
/// escaped, and no line starts with what the caller wrote after it.
#[tokio::test]
async fn a_newline_in_the_url_cannot_forge_a_log_line() {
    use std::process::{Command, Stdio};
    lookout::tls::install_provider();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    make_certs(dir.path());
    let port = free_port();
    let log = dir.path().join("serve.log");
    let mut server = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let client = client_for(&dir.path().join("certs/ca.pem"));
    wait_ready(&client, port).await;
    let response = client
        .post(format!(
            "https://localhost:{port}/hooks/desk%0a2026-12-02T00:00:00Z%20INFO%20forged"
        ))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap().contains(r"`desk\n2026"),
        "{error}"
    );
    server.kill().unwrap();
    server.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(r"desk\n2026-12-02T00:00:00Z INFO forged"),
        "{text}"
    );
    assert!(
        !text.lines().any(|l| l.starts_with("2026-12-02T00:00:00Z")),
        "a forged line:\n{text}"
    );
}
