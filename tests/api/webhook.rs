//! The Veson webhook end to end: the real server, real TLS, real HTTP.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};

const KEY_OLD: &str = "old-api-key-9f2c4e7a1b3d5f6e8a0c2e4f6a8b0d2f4e6a";
const KEY_NEW: &str = "new-api-key-1a3c5e7f9b2d4f6a8c0e2b4d6f8a1c3e5b7d";

/// The shipped `default` rule set, plus a signed copy `signed` with two keys.
async fn shipped() -> TestApp {
    std::env::set_var("LOOKOUT_TEST_WEBHOOK_KEY_OLD", KEY_OLD);
    std::env::set_var("LOOKOUT_TEST_WEBHOOK_KEY_NEW", KEY_NEW);
    let app = spawn_app_with(&[], |c| c.max_request_bytes = 2 << 20).await;
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/default");
    // Each made whole beside the rules folder and moved in by one rename, so the watcher
    // never loads a half-copied folder (or `signed` before its keys).
    for (name, keys) in [("default", false), ("signed", true)] {
        let staged = app.dir.path().join(format!("staged-{name}"));
        copy_dir(&repo, &staged);
        if keys {
            let toml = staged.join("ruleset.toml");
            let mut text = std::fs::read_to_string(&toml).unwrap();
            text.push_str("\napi_keys = [\"env:LOOKOUT_TEST_WEBHOOK_KEY_OLD\", \"env:LOOKOUT_TEST_WEBHOOK_KEY_NEW\"]\n");
            std::fs::write(&toml, text).unwrap();
        }
        std::fs::rename(&staged, app.rules_dir(name)).unwrap();
    }
    eventually(Duration::from_secs(5), || async {
        let ready = app.readyz_as_admin().await;
        ready["rulesets"]["signed"].is_object() && ready["rulesets"]["default"].is_object()
    })
    .await;
    app
}

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    assert!(response.headers().contains_key("x-lookout-call-id") || status == 405 || status == 404);
    let body: Value = response.json().await.unwrap();
    let obj = body.as_object().unwrap();
    assert_eq!(obj.len(), 1, "{body}");
    (status, obj["error"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn every_refusal_has_its_status_and_a_json_error_that_says_what_to_do() {
    let app = shipped().await;
    let body = sample("drybulk-single-cargo.json");
    let huge = vec![b' '; (2 << 20) + 1];
    let cases: Vec<(reqwest::Response, u16, &str, &str)> = vec![
        (
            app.post_hook("nope", &body, None).await,
            404,
            "no rule set `nope` on this server; check the webhook URL",
            "unknown rule set",
        ),
        (
            app.client
                .get(app.url("/hooks/default"))
                .send()
                .await
                .unwrap(),
            405,
            "the Estimator POSTs",
            "wrong method",
        ),
        (
            app.get("/elsewhere").await,
            404,
            "the webhook URL is https://<host>/hooks/<ruleset>",
            "unknown path",
        ),
        (
            app.post_hook("default", &huge, None).await,
            413,
            "larger than 2097152 bytes",
            "body over the limit",
        ),
        (
            app.post_hook("signed", &body, None).await,
            401,
            "missing Veson-Webhook-Signature",
            "unsigned call to a keyed rule set",
        ),
        (
            app.post_hook("default", b"{\n \"estimateID\": \"E\",\n}", None)
                .await,
            400,
            "body is not valid JSON: trailing comma at line 3 column 1",
            "bad JSON",
        ),
        (
            app.post_hook("default", b"[1, 2]", None).await,
            400,
            "not an object (it is an array)",
            "JSON but not an object",
        ),
        (
            app.post_hook("default", b"", None).await,
            400,
            "EOF while parsing a value at line 1 column 0",
            "empty body",
        ),
    ];
    for (response, status, text, why) in cases {
        let (got_status, error) = error_of(response).await;
        assert_eq!(got_status, status, "{why}: {error}");
        assert!(error.contains(text), "{why}: {error}");
    }
}

#[tokio::test]
async fn a_body_exactly_at_the_limit_is_read() {
    let app = spawn_app_with(
        &[("d", &[("r.rhai", "info(`${estimate.pad.len()}`)")])],
        |c| c.max_request_bytes = 4096,
    )
    .await;
    let mut body = br#"{"pad":""#.to_vec();
    body.resize(4096 - 2, b'x');
    body.extend_from_slice(b"\"}");
    assert_eq!(body.len(), 4096);
    let response = app.post_hook("d", &body, None).await;
    assert_eq!(response.status(), 200);
    let mut over = body.clone();
    over.insert(8, b'x');
    assert_eq!(app.post_hook("d", &over, None).await.status(), 413);
}

#[tokio::test]
async fn signatures_in_every_accepted_form_pass_and_everything_else_fails() {
    let app = shipped().await;
    let body = sample("drybulk-single-cargo.json");
    let digest = hex::decode(sign(KEY_NEW, &body)).unwrap();
    let post = |value: String| {
        let (client, url, body) = (app.client.clone(), app.url("/hooks/signed"), body.clone());
        async move {
            client
                .post(url)
                .header("Veson-Webhook-Signature", value)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let accepted = [
        (hex::encode(&digest), "hex"),
        (hex::encode(&digest).to_uppercase(), "upper-case hex"),
        (STANDARD.encode(&digest), "base64"),
        (
            URL_SAFE_NO_PAD.encode(&digest),
            "url-safe base64 without padding",
        ),
        (format!("sha256={}", hex::encode(&digest)), "sha256= prefix"),
        (sign(KEY_OLD, &body), "the first of two keys"),
    ];
    for (value, why) in accepted {
        assert_eq!(post(value).await, 200, "{why}");
    }
    let mut changed = body.clone();
    changed[20] ^= 1;
    let rejected = [
        (String::new(), "empty"),
        ("garbage".to_string(), "garbage"),
        (sign("wrong-key", &body), "wrong key"),
        (
            sign(KEY_NEW, &changed),
            "signature of a body one byte different",
        ),
        (hex::encode(&digest)[..40].to_string(), "truncated"),
    ];
    for (value, why) in rejected {
        assert_eq!(post(value).await, 401, "{why}");
    }
    // The header repeated, once good and once bad.
    let repeated = app
        .client
        .post(app.url("/hooks/signed"))
        .header("Veson-Webhook-Signature", hex::encode(&digest))
        .header("Veson-Webhook-Signature", "bad")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let (status, error) = error_of(repeated).await;
    assert_eq!(
        (status, error.as_str()),
        (
            401,
            "more than one Veson-Webhook-Signature header; send exactly one"
        )
    );
}

#[tokio::test]
async fn the_answer_is_the_alert_contract() {
    let app = shipped().await;
    let body = sample("drybulk-single-cargo.json");
    let response = app.post_hook("signed", &body, Some(KEY_NEW)).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    let call_id = headers["x-lookout-call-id"].to_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(call_id).unwrap().get_version_num(), 7);
    let version = headers["x-lookout-rules-version"].to_str().unwrap();
    assert!(
        version.len() == 16 && version.bytes().all(|b| b.is_ascii_hexdigit()),
        "{version}"
    );
    let text = response.text().await.unwrap();
    assert!(
        !text.contains("null"),
        "optional fields are omitted, never null: {text}"
    );
    let alerts: Vec<Value> = serde_json::from_str(&text).unwrap();
    let rules_fired: Vec<&str> = alerts
        .iter()
        .map(|a| a["alertType"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules_fired,
        [
            "PermanentWarning",
            "PermanentWarning",
            "Error",
            "PermanentWarning"
        ],
        "{text}"
    );
    for alert in &alerts {
        let keys: Vec<&String> = alert.as_object().unwrap().keys().collect();
        for key in keys {
            assert!(
                [
                    "message",
                    "alertType",
                    "guid",
                    "mutation",
                    "displayFields",
                    "link"
                ]
                .contains(&key.as_str()),
                "{key}"
            );
        }
    }
    assert_eq!(
        alerts[0]["mutation"],
        json!({"estimateItineraries": {"voyageEstimateBunkers": [{"fuelType": "LSF", "departureQty": 1199.2}]}})
    );
    assert_eq!(
        alerts[1]["link"],
        "https://compliance.example.com/counterparty/oceanic-grain-trading"
    );
    // A rule set without keys answers unsigned calls.
    assert_eq!(app.post_hook("default", &body, None).await.status(), 200);
}

#[tokio::test]
async fn guids_are_stable_per_alert_and_estimate_and_change_with_the_suggestion() {
    let app = shipped().await;
    let estimate: Value = serde_json::from_slice(&sample("drybulk-single-cargo.json")).unwrap();
    let guids = |alerts: &Value| -> Vec<String> {
        alerts
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["guid"].as_str().unwrap().to_string())
            .collect()
    };

    let (_, first) = app.post_json("default", &estimate).await;
    let (_, again) = app.post_json("default", &estimate).await;
    assert_eq!(
        guids(&first),
        guids(&again),
        "same alert, same estimate, same GUID"
    );
    let unique: std::collections::HashSet<_> = guids(&first).into_iter().collect();
    assert_eq!(unique.len(), 4);

    // Burn more LSF on the last leg: the bunker suggestion changes, nothing else does.
    let mut hungrier = estimate.clone();
    let last = hungrier["estimateItineraries"]
        .as_array_mut()
        .unwrap()
        .last_mut()
        .unwrap();
    let lsf = last["voyageEstimateBunkers"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|b| b["fuelType"] == "LSF")
        .unwrap();
    lsf["seaConsumption"] = json!(lsf["seaConsumption"].as_f64().unwrap() + 50.0);
    let (_, changed) = app.post_json("default", &hungrier).await;
    assert_ne!(changed[0]["mutation"], first[0]["mutation"]);
    assert_ne!(
        guids(&changed)[0],
        guids(&first)[0],
        "a changed suggestion gets a new GUID"
    );
    assert_eq!(
        guids(&changed)[1..],
        guids(&first)[1..],
        "unchanged alerts keep theirs"
    );

    let mut other = estimate.clone();
    other["estimateID"] = json!("EST-2026-99999");
    let (_, other) = app.post_json("default", &other).await;
    for (a, b) in guids(&other).iter().zip(guids(&first)) {
        assert_ne!(*a, b, "another estimate gets other GUIDs");
    }
}

#[tokio::test]
async fn twenty_thousand_alerts_still_fit_under_one_megabyte() {
    let rule = r#"
        for i in 0..20000 {
            let a = if i % 10 == 0 { error(`error ${i}: the quick brown fox jumps over the lazy dog`) } else { info(`info ${i}: the quick brown fox jumps over the lazy dog`) };
            a.field("Index", i).key(`k${i}`);
        }
    "#;
    let app = spawn_app(&[("flood", &[("r.rhai", rule)])]).await;
    let response = app.post_hook("flood", b"{}", None).await;
    assert_eq!(response.status(), 200);
    let text = response.bytes().await.unwrap();
    assert!(text.len() < 1_000_000, "{} bytes", text.len());
    let alerts: Vec<Value> = serde_json::from_slice(&text).unwrap();
    let notice = alerts.last().unwrap();
    assert_eq!(notice["alertType"], "Error");
    let left_out: usize = notice["displayFields"][0]["value"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(left_out + alerts.len() - 1, 20_000);
    assert!(notice["message"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{left_out} more alerts were left out")));
    // Severity first: every kept Error comes before every kept info.
    let first_info = alerts
        .iter()
        .position(|a| a["alertType"] == "Unspecified")
        .unwrap_or(alerts.len() - 1);
    assert!(alerts[..first_info]
        .iter()
        .all(|a| a["alertType"] == "Error"));
    assert_eq!(
        first_info, 2000,
        "all 2,000 errors are kept, before any info"
    );
    assert!(alerts[first_info..alerts.len() - 1]
        .iter()
        .all(|a| a["alertType"] == "Unspecified"));
    assert_eq!(
        alerts[first_info]["message"].as_str().unwrap(),
        "info 1: the quick brown fox jumps over the lazy dog",
        "then rule order"
    );
}

#[tokio::test]
async fn runaway_rules_are_stopped_before_the_deadline_and_the_server_carries_on() {
    let settings = "budget_ms = 1500\nmargin_ms = 500\n";
    let runaways = [
        ("loop {}", "loop"),
        (
            "fn f(n) { f(n + 1) + f(n + 1) } f(0);",
            "exponential recursion",
        ),
        ("fn f(n) { f(n + 1) } f(0);", "deep recursion"),
        ("let s = \"ab\"; loop { s += s; }", "string doubling"),
        (
            "let n = 0; loop { n += days_between(\"2026-01-01\", \"2026-02-01\"); }",
            "host function in a loop",
        ),
    ];
    for (source, why) in runaways {
        let app = spawn_app(&[(
            "desk",
            &[
                ("ruleset.toml", settings),
                ("a_fine.rhai", "info(\"fine\")"),
                ("b_runaway.rhai", source),
            ],
        )])
        .await;
        // The connection made first: the time measured is the call's, not a handshake's.
        let warm = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(warm.status(), 200);
        let started = Instant::now();
        let (status, alerts) = app.post_json("desk", &json!({"estimateID": "E1"})).await;
        let took = started.elapsed();
        assert_eq!(status, 200, "{why}");
        assert!(
            took < Duration::from_millis(1500),
            "{why}: answered after {took:?}"
        );
        assert_eq!(alerts[0]["message"], "fine", "{why}");
        assert_eq!(alerts[1]["alertType"], "Error", "{why}");
        assert!(
            alerts[1]["message"]
                .as_str()
                .unwrap()
                .starts_with("rule `b_runaway`"),
            "{why}: {}",
            alerts[1]
        );
        // And the next call is served normally.
        std::fs::remove_file(app.rules_dir("desk").join("b_runaway.rhai")).unwrap();
        eventually(Duration::from_secs(3), || async {
            app.post_json("desk", &json!({}))
                .await
                .1
                .as_array()
                .unwrap()
                .len()
                == 1
        })
        .await;
    }
}

#[tokio::test]
async fn a_flood_past_the_concurrency_limit_gets_503_with_retry_after() {
    let app = spawn_app_with(
        &[(
            "desk",
            &[
                ("ruleset.toml", "budget_ms = 1000\nmargin_ms = 300\n"),
                ("spin.rhai", "loop {}"),
            ],
        )],
        |c| c.max_concurrent_calls = 2,
    )
    .await;
    let calls = (0..8).map(|_| {
        let (client, url) = (app.client.clone(), app.url("/hooks/desk"));
        async move { client.post(url).body("{}").send().await.unwrap() }
    });
    let responses = futures_join_all(calls).await;
    let ok = responses.iter().filter(|r| r.status() == 200).count();
    let busy: Vec<_> = responses
        .into_iter()
        .filter(|r| r.status() == 503)
        .collect();
    assert!((1..=2).contains(&ok), "{ok} answered");
    assert_eq!(ok + busy.len(), 8);
    for response in busy {
        assert_eq!(response.headers()["retry-after"], "1");
        let (_, error) = error_of(response).await;
        assert!(
            error.contains("limit of 2 calls at once; retry in a second"),
            "{error}"
        );
    }
    // Once the flood is answered, calls are accepted again.
    assert_eq!(app.post_hook("desk", b"{}", None).await.status(), 200);
}

#[tokio::test]
async fn a_compile_error_keeps_the_last_good_version_serving() {
    let app = spawn_app(&[("desk", &[("r.rhai", "info(\"version one\")")])]).await;
    let first = app.post_hook("desk", b"{}", None).await;
    let version = first.headers()["x-lookout-rules-version"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(app.get("/readyz").await.status(), 200);

    std::fs::write(
        app.rules_dir("desk").join("r.rhai"),
        "info(\"version two\"\n",
    )
    .unwrap();
    eventually(Duration::from_secs(5), || async {
        app.get("/readyz").await.status() == 503
    })
    .await;
    let ready = app.readyz_as_admin().await;
    let problem = ready["problems"][0].as_str().unwrap();
    assert!(
        problem.contains(&format!("still serving version {version}")),
        "{problem}"
    );
    assert!(
        problem.contains("r.rhai:2:1:"),
        "file, line and column: {problem}"
    );

    let during = app.post_hook("desk", b"{}", None).await;
    assert_eq!(
        during.headers()["x-lookout-rules-version"]
            .to_str()
            .unwrap(),
        version
    );
    assert_eq!(
        during.json::<Value>().await.unwrap()[0]["message"],
        "version one"
    );

    std::fs::write(
        app.rules_dir("desk").join("r.rhai"),
        "info(\"version three\")\n",
    )
    .unwrap();
    eventually(Duration::from_secs(5), || async {
        app.get("/readyz").await.status() == 200
    })
    .await;
    assert_eq!(
        app.post_json("desk", &json!({})).await.1[0]["message"],
        "version three"
    );
}

#[tokio::test]
async fn a_new_rule_file_is_live_within_two_seconds() {
    let app = spawn_app(&[("desk", &[("a.rhai", "info(\"a\")")])]).await;
    assert_eq!(
        app.post_json("desk", &json!({}))
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    std::fs::write(
        app.rules_dir("desk").join("b.rhai"),
        "warning(\"b is new\")",
    )
    .unwrap();
    let took = eventually(Duration::from_secs(2), || async {
        app.post_json("desk", &json!({}))
            .await
            .1
            .as_array()
            .unwrap()
            .len()
            == 2
    })
    .await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    // A new rule set folder is served too.
    write_files(
        &app.rules_dir("tankers"),
        &[("r.rhai", "info(\"tankers\")")],
    );
    eventually(Duration::from_secs(2), || async {
        app.post_hook("tankers", b"{}", None).await.status() == 200
    })
    .await;
}

#[tokio::test]
async fn a_certificate_swapped_on_disk_is_served_to_the_next_connection() {
    let app = spawn_app(&[("desk", &[("r.rhai", "1")])]).await;
    let certs = app.dir.path().join("certs");
    let peer = |client: reqwest::Client| {
        let url = app.url("/healthz");
        async move {
            let response = client.get(url).send().await.unwrap();
            response
                .extensions()
                .get::<reqwest::tls::TlsInfo>()
                .unwrap()
                .peer_certificate()
                .unwrap()
                .to_vec()
        }
    };
    let original = peer(client_for(&certs.join("ca.pem"))).await;

    // A renewed certificate from the same CA.
    let renewed =
        lookout::tls::generate(&certs, &["localhost".into(), "127.0.0.1".into()]).unwrap();
    assert!(renewed.reused_ca);
    let took = eventually(Duration::from_secs(5), || async {
        peer(client_for(&certs.join("ca.pem"))).await != original
    })
    .await;
    assert!(took < Duration::from_secs(5));
    let served = peer(client_for(&certs.join("ca.pem"))).await;

    // A broken certificate is refused; the renewed one keeps serving.
    std::fs::write(
        certs.join("cert.pem"),
        "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await; // give the watcher its chance to (wrongly) swap
    assert_eq!(peer(client_for(&certs.join("ca.pem"))).await, served);
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app(&[("desk", &[("r.rhai", "1")])]).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let mut ready: Value = ready.json().await.unwrap();
    // Which revisions are served, as a digest that names nothing.
    let digest = ready
        .as_object_mut()
        .unwrap()
        .remove("rules_digest")
        .unwrap();
    assert!(
        digest
            .as_str()
            .is_some_and(|d| d.len() == 16 && d.bytes().all(|b| b.is_ascii_hexdigit())),
        "{digest}"
    );
    assert_eq!(
        ready,
        json!({"ready": true, "problems": [], "rulesets": 1, "log": {"failing": false, "dropped": 0, "queue_depth": 0}})
    );
    let ready = app.readyz_as_admin().await;
    assert_eq!(ready["rulesets"]["desk"]["rules"], 1);

    write_files(&app.rules_dir("broken"), &[("r.rhai", "let = 1;")]);
    eventually(Duration::from_secs(5), || async {
        app.get("/readyz").await.status() == 503
    })
    .await;
    let (status, error) = error_of(app.post_hook("broken", b"{}", None).await).await;
    assert_eq!(status, 503);
    assert_eq!(
        error,
        "rule set `broken` does not compile yet (1 problem at broken/r.rhai:1:5); its author sees them with `lookout check`"
    );
    // Unauthenticated: where, not what (a compile error can quote a file).
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(
        ready["problems"],
        json!(["a rule set (not serving) has 1 problem at broken/r.rhai:1:5; details with the admin token or `lookout check`"])
    );
    let ready = app.readyz_as_admin().await;
    assert!(
        ready["problems"][0]
            .as_str()
            .unwrap()
            .contains("rule set `broken` (not serving)"),
        "{ready}"
    );
}

#[tokio::test]
async fn graceful_shutdown_lets_calls_in_flight_finish() {
    let app = spawn_app(&[(
        "desk",
        &[
            ("ruleset.toml", "budget_ms = 900\nmargin_ms = 300\n"),
            ("a.rhai", "info(\"done\")"),
            ("spin.rhai", "loop {}"),
        ],
    )])
    .await;
    let (client, url) = (app.client.clone(), app.url("/hooks/desk"));
    let in_flight = tokio::spawn(async move { client.post(url).body("{}").send().await.unwrap() });
    // Stopped while the call is in its handler (it holds a permit), not before it arrived.
    let all = app.state.config.max_concurrent_calls;
    eventually(Duration::from_secs(5), || async {
        app.state.permits.available_permits() < all
    })
    .await;
    app.stopper.stop();
    let response = in_flight.await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()[0]["message"],
        "done"
    );
    tokio::time::timeout(Duration::from_secs(5), app.server)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
    let refused = client_for(&app.dir.path().join("certs/ca.pem"))
        .get(format!("https://localhost:{}/healthz", app.addr.port()))
        .send()
        .await;
    assert!(refused.is_err(), "no new connections after shutdown");
}

#[tokio::test]
async fn rules_read_imos_config_flags_from_headers_but_never_the_signature() {
    std::env::set_var("LOOKOUT_TEST_FLAGS_KEY", KEY_NEW);
    let rule = r#"info(`${request.headers["x-imos-flag"]} ${request.headers["veson-webhook-signature"] ?? "hidden"} ${request.ruleset}`)"#;
    let app = spawn_app(&[(
        "desk",
        &[
            (
                "ruleset.toml",
                "api_keys = [\"env:LOOKOUT_TEST_FLAGS_KEY\"]\n",
            ),
            ("r.rhai", rule),
        ],
    )])
    .await;
    let response = app
        .client
        .post(app.url("/hooks/desk"))
        .header("X-IMOS-Flag", "CFGEnableThing")
        .header("Veson-Webhook-Signature", sign(KEY_NEW, b"{}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.json::<Value>().await.unwrap()[0]["message"],
        "CFGEnableThing hidden desk"
    );
}

/// A rule set whose files stop compiling keeps answering with its last good version, and
/// says so where people look: a header on each answer, and a banner in the viewer.
#[tokio::test]
async fn answers_from_the_last_good_version_say_so() {
    let app = spawn_app(&[("desk", &[("r.rhai", "info(\"good\");")])]).await;
    let answer = app.post_hook("desk", b"{}", None).await;
    assert!(answer.headers().get("x-lookout-rules-stale").is_none());
    let viewer = |app: &TestApp| {
        let (client, url, token) = (app.client.clone(), app.url("/admin"), app.admin_token());
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert!(!viewer(&app).await.contains("rules-banner"));

    write_files(&app.rules_dir("desk"), &[("r.rhai", "let = 1;")]);
    eventually(Duration::from_secs(5), || async {
        app.post_hook("desk", b"{}", None)
            .await
            .headers()
            .contains_key("x-lookout-rules-stale")
    })
    .await;
    let answer = app.post_hook("desk", b"{}", None).await;
    assert_eq!(answer.status(), 200);
    assert!(answer.headers()["x-lookout-rules-stale"]
        .to_str()
        .unwrap()
        .contains("from the last version that did"));
    assert_eq!(answer.json::<Value>().await.unwrap()[0]["message"], "good");
    let page = viewer(&app).await;
    assert!(
        page.contains("Rule set `desk` does not compile on disk (1 problem, first at desk/r.rhai:1:5); its calls are answered by the last version that compiled."),
        "{page}"
    );

    write_files(&app.rules_dir("desk"), &[("r.rhai", "info(\"fixed\");")]);
    eventually(Duration::from_secs(5), || async {
        !app.post_hook("desk", b"{}", None)
            .await
            .headers()
            .contains_key("x-lookout-rules-stale")
    })
    .await;
    assert!(!viewer(&app).await.contains("rules-banner"));
}
