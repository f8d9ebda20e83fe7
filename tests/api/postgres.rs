//! The log on a real PostgreSQL server (a throw-away one from Debian's binaries, see
//! `lookout::testkit`): the same records as SQLite, shared by several instances.

use std::time::Duration;

use crate::common::*;
use lookout::testkit::PgServer;
use serde_json::Value;

const TOKEN: &str = "postgres-test-admin-token-4f1e2d";
const KEY: &str = "pg-test-key-7d2e9c4b1a3f5e6d8c0b2a4f6e8d0c1b";
const FLAG_SECRET: &str = "pg-imos-flag-secret-51c9";
const BODY_SECRET: &str = "pg-body-token-secret-0e7a";

async fn instance(url: &str, rules: &[(&str, Files<'_>)]) -> TestApp {
    let url = url.to_string();
    spawn_app_with(rules, move |c| {
        c.store_url = Some(url);
        c.admin_token = Some(lookout::secrets::AdminToken::new(TOKEN));
    })
    .await
}

async fn api(app: &TestApp, path: &str) -> Value {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

const HELLO: &[(&str, Files)] = &[("desk", &[("hello.rhai", "info(\"hello\");")])];

#[tokio::test]
async fn two_instances_on_one_postgres_see_each_others_calls() {
    let pg = PgServer::start();
    let a = instance(&pg.url, HELLO).await;
    let b = instance(&pg.url, HELLO).await;
    let mut sent = Vec::new();
    for (app, estimate) in [(&a, "EST-FROM-A"), (&b, "EST-FROM-B")] {
        let body = format!("{{\"estimateID\": \"{estimate}\"}}");
        let response = app.post_hook("desk", body.as_bytes(), None).await;
        assert_eq!(response.status(), 200);
        let id = call_id(&response);
        app.recorded(&id).await;
        sent.push(id);
    }
    for app in [&a, &b] {
        let page = api(app, "/admin/api/calls").await;
        let calls = page["calls"].as_array().unwrap();
        let ids: Vec<&str> = calls.iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            [sent[1].as_str(), sent[0].as_str()],
            "newest first, both instances"
        );
        let instances: Vec<&str> = calls
            .iter()
            .map(|c| c["instance"].as_str().unwrap())
            .collect();
        assert_ne!(instances[0], instances[1], "{instances:?}");
        // And one call recorded by the other instance opens in this one's viewer.
        let other = if std::ptr::eq(app, &a) {
            &sent[1]
        } else {
            &sent[0]
        };
        let call = api(app, &format!("/admin/api/calls/{other}")).await;
        assert_eq!(call["status"], 200);
        let html = app.page_as("/admin", TOKEN).await;
        assert!(html.contains(&sent[0]) && html.contains(&sent[1]));
    }
}

#[tokio::test]
async fn secrets_never_reach_the_postgres_table() {
    std::env::set_var("LOOKOUT_TEST_PG_KEY", KEY);
    let pg = PgServer::start();
    let app = instance(
        &pg.url,
        &[(
            "desk",
            &[
                (
                    "ruleset.toml",
                    "api_keys = [\"env:LOOKOUT_TEST_PG_KEY\"]\nredact_headers = [\"x-imos-token\"]\nredact_body = [\"/counterparty/apiToken\"]\n",
                ),
                ("r.rhai", "info(\"seen \" + estimate.counterparty.name);"),
            ],
        )],
    )
    .await;
    let body = format!(
        "{{\"estimateID\": \"EST-PG-1\", \"counterparty\": {{\"name\": \"Oceanic Trading\", \"apiToken\": \"{BODY_SECRET}\"}}}}"
    )
    .into_bytes();
    let signature = sign(KEY, &body);
    let mut ids = Vec::new();
    for sig in [signature.as_str(), "sha256=00ff"] {
        let response = app
            .client
            .post(app.url("/hooks/desk"))
            .header("Veson-Webhook-Signature", sig)
            .header("X-Imos-Token", FLAG_SECRET)
            .header("Authorization", "Bearer pg-auth-secret")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        ids.push(call_id(&response));
    }
    for id in &ids {
        app.recorded(id).await;
    }
    let text = pg.dump_calls_text();
    assert!(
        text.contains("EST-PG-1") && text.contains("Oceanic Trading"),
        "the dump shows the rows"
    );
    for secret in [
        signature.as_str(),
        FLAG_SECRET,
        BODY_SECRET,
        "pg-auth-secret",
    ] {
        assert!(
            !text.contains(secret),
            "`{secret}` reached the PostgreSQL table"
        );
    }
    let call = app.recorded(&ids[0]).await;
    assert!(call
        .redacted
        .iter()
        .any(|r| r == "body:/counterparty/apiToken"));
}

#[tokio::test]
async fn a_postgres_outage_is_counted_and_recording_resumes_when_it_is_back() {
    let mut pg = PgServer::start_own();
    let app = instance(&pg.url, HELLO).await;
    let first = app.post_hook("desk", b"{}", None).await;
    app.recorded(first.headers()["x-lookout-call-id"].to_str().unwrap())
        .await;

    pg.stop();
    for _ in 0..5 {
        let response = app
            .post_hook("desk", b"{\"estimateID\": \"DURING\"}", None)
            .await;
        assert_eq!(response.status(), 200, "answers do not wait for the log");
    }
    let recorder = app.state.recorder.clone();
    let r = recorder.clone();
    assert!(
        tokio::task::spawn_blocking(move || r.flush(Duration::from_secs(30)))
            .await
            .unwrap()
    );
    let status = recorder.status();
    assert_eq!(status.dropped_store_error, 5, "{status:?}");
    assert!(status.failing);
    assert!(!status.store.contains("password"));
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let metrics = app.metrics().await;
    assert!(metrics
        .lines()
        .any(|l| l == "lookout_log_dropped_total{reason=\"store_error\"} 5"));

    pg.start_again();
    let response = app
        .post_hook("desk", b"{\"estimateID\": \"AFTER\"}", None)
        .await;
    let id = call_id(&response);
    let call = app.recorded(&id).await;
    assert_eq!(call.estimate_id.as_deref(), Some("AFTER"));
    assert!(!recorder.status().failing);
    assert_eq!(app.get("/readyz").await.status(), 200);
}

const PC_TOKEN: &str = "pg-portconnect-token-123-456";

async fn events_instance(url: &str, rules: &[(&str, Files<'_>)]) -> TestApp {
    let url = url.to_string();
    spawn_app_with(rules, move |c| {
        c.store_url = Some(url);
        c.events.portconnect_tokens = vec![lookout::signature::ApiKey::new(PC_TOKEN)];
    })
    .await
}

async fn post_events(app: &TestApp, body: &[u8]) -> (u16, Value) {
    let response = app.post_portconnect(PC_TOKEN, body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Events one instance received are facts for the rules of another; a redelivery to the
/// other is a duplicate; while the database is down nothing is acknowledged.
#[tokio::test]
async fn port_events_on_postgres_are_shared_durable_and_never_acknowledged_unstored() {
    let mut pg = PgServer::start_own();
    let rule: Files = &[(
        "gate.rhai",
        "for e in container_events(estimate.container) { info(`${e.event} ${e.container} ${e.port}`); }",
    )];
    let a = events_instance(&pg.url, &[("desk", rule)]).await;
    let b = events_instance(&pg.url, &[("desk", rule)]).await;
    let body = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/portconnect-doc-example.json"),
    )
    .unwrap();
    assert_eq!(
        post_events(&a, &body).await,
        (200, serde_json::json!({"stored": 3, "duplicates": 0}))
    );
    assert_eq!(
        post_events(&b, &body).await,
        (200, serde_json::json!({"stored": 0, "duplicates": 3}))
    );
    let (status, alerts) = b
        .post_json("desk", &serde_json::json!({"container": "APHU6303593"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(alerts[0]["message"], "GATEIN APHU6303593 NZAKL");

    pg.stop();
    let mut items: Vec<Value> = serde_json::from_slice(&body).unwrap();
    for item in &mut items {
        item["containerVisitEventTypeCode"] = "LOAD".into();
    }
    let changed = serde_json::to_vec(&items).unwrap();
    let (status, answer) = post_events(&a, &changed).await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("nothing was kept, resend them"),
        "{answer}"
    );
    pg.start_again();
    // The sender's retry.
    assert_eq!(
        post_events(&a, &changed).await,
        (200, serde_json::json!({"stored": 3, "duplicates": 0}))
    );
    let (_, alerts) = b
        .post_json("desk", &serde_json::json!({"container": "APHU6303593"}))
        .await;
    let messages = messages(&alerts);
    assert_eq!(
        messages,
        ["LOAD APHU6303593 NZAKL", "GATEIN APHU6303593 NZAKL"],
        "newest first (same time: later id first)"
    );
}

/// A viewer session logged out on one instance is refused by the other (within the
/// 5 s the instances take to re-read the logged-out sessions), and by a restarted one.
#[tokio::test]
async fn a_logout_on_one_instance_is_honoured_by_the_other() {
    let pg = PgServer::start();
    let a = instance(&pg.url, HELLO).await;
    let b = instance(&pg.url, HELLO).await;
    let plain = |app: &TestApp| {
        let ca = std::fs::read(app.dir.path().join("certs/ca.pem")).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    let status = |app: &TestApp, cookie: &str| {
        let request = plain(app)
            .get(app.url("/admin"))
            .header("cookie", format!("lookout_admin={cookie}"));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    // Log in on A with the form (A and B share the token, so B takes A's sessions).
    let login = plain(&a)
        .post(a.url("/admin/login"))
        .header("origin", format!("https://localhost:{}", a.addr.port()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let set = login.headers()["set-cookie"].to_str().unwrap();
    let cookie = set
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("lookout_admin=")
        .unwrap()
        .to_string();
    assert_eq!(status(&b, &cookie).await, 200, "B takes A's session");

    // Log out on A, with the page's CSRF token.
    let page = plain(&a)
        .get(a.url("/admin"))
        .header("cookie", format!("lookout_admin={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = regex::Regex::new(r#"name="csrf" value="([^"]+)""#)
        .unwrap()
        .captures(&page)
        .expect("the page carries a CSRF token")[1]
        .to_string();
    let out = plain(&a)
        .post(a.url("/admin/logout"))
        .header("cookie", format!("lookout_admin={cookie}"))
        .header("origin", format!("https://localhost:{}", a.addr.port()))
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(status(&a, &cookie).await, 401, "A at once");

    let took = eventually(Duration::from_secs(10), || async {
        status(&b, &cookie).await == 401
    })
    .await;
    assert!(
        took < Duration::from_secs(7),
        "B within about 5 s: {took:?}"
    );

    // A third instance started now refuses it from its first request on.
    let c = instance(&pg.url, HELLO).await;
    assert_eq!(status(&c, &cookie).await, 401);
}
