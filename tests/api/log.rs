//! The request/response log end to end: the real server records real calls into a
//! real SQLite file; the tests read it back through lookout and directly with SQL.

use std::time::Duration;

use crate::common::*;
use serde_json::{json, Value};

const KEY: &str = "log-test-key-4b1d9e2f7a3c5e8f0a2b4c6d8e0f1a3b";
const FLAG_SECRET: &str = "imos-flag-secret-7c1e";
const BODY_SECRET: &str = "body-token-secret-93ad";
const AUTH_SECRET: &str = "Bearer auth-secret-5e2b";

const DESK: &[(&str, &str)] = &[
    (
        "ruleset.toml",
        "api_keys = [\"env:LOOKOUT_TEST_LOG_KEY\"]\nredact_headers = [\"X-Imos-Token\"]\nredact_body = [\"/counterparty/apiToken\", \"/cargoes/*/secretRef\"]\n",
    ),
    (
        "a_speed.rhai",
        r#"print("checking speed " + estimate.speed);
debug("debug line");
if estimate.speed > 12.0 {
    warning("Speed " + estimate.speed + " kn is above the desk's 12 kn")
        .field("Speed", `${estimate.speed} kn`)
        .link("https://desk.example/speed")
        .mutation(#{ estimateItineraries: #{ speed: 12.0 } });
}
"#,
    ),
    (
        "b_broken.rhai",
        "let x = 1;\nlet y = estimate.missing.deeper + 1;\n",
    ),
    (
        "c_chatty.rhai",
        "for i in 0..5000 { print(\"line \" + i + \" of a lot of output\"); }\ninfo(\"done\");\n",
    ),
];

fn estimate() -> Vec<u8> {
    // Formatting that a re-serializer would change: the log must keep these bytes.
    format!(
        "{{\"estimateID\": \"EST-LOG-1\",  \"speed\": 13.5,\n \"counterparty\": {{\"name\": \"Oceanic Trading\", \"apiToken\": \"{BODY_SECRET}\"}},\n \"cargoes\": [{{\"secretRef\": \"{BODY_SECRET}-2\", \"qty\": 1}}]}}"
    )
    .into_bytes()
}

async fn desk() -> TestApp {
    std::env::set_var("LOOKOUT_TEST_LOG_KEY", KEY);
    spawn_app_with(
        &[("desk", DESK), ("open", &[("r.rhai", "info(\"ok\");")])],
        |c| c.max_request_bytes = 256 << 10,
    )
    .await
}

#[tokio::test]
async fn every_field_of_an_answered_call_is_recorded() {
    let app = desk().await;
    let body = estimate();
    let response = app
        .client
        .post(app.url("/hooks/desk"))
        .header("Veson-Webhook-Signature", sign(KEY, &body))
        .header("X-Imos-Token", FLAG_SECRET)
        .header("Authorization", AUTH_SECRET)
        .header("Content-Type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = call_id(&response);
    let version = response.headers()["x-lookout-rules-version"]
        .to_str()
        .unwrap()
        .to_string();
    let answer = response.bytes().await.unwrap();
    let call = app.recorded(&id).await;

    assert_eq!(call.id, id);
    assert_eq!(call.ruleset, "desk");
    assert_eq!(call.rules_version.as_deref(), Some(version.as_str()));
    assert!(call.peer.starts_with("127.0.0.1:"), "{}", call.peer);
    assert_eq!(call.status, 200);
    assert_eq!(call.signature, "valid");
    assert!(call.duration_us > 0);
    let now = lookout::clock::now_micros();
    assert!(now - call.received_at < 60_000_000 && call.received_at <= now);
    assert!(
        call.instance.ends_with(&format!(":{}", app.addr.port())),
        "{}",
        call.instance
    );
    assert_eq!(call.estimate_id.as_deref(), Some("EST-LOG-1"));
    assert_eq!(call.error, None);
    // The answer exactly as sent.
    assert_eq!(call.response_body, answer.to_vec());
    let sent: Vec<Value> = serde_json::from_slice(&answer).unwrap();
    assert_eq!(call.alerts as usize, sent.len());
    assert_eq!(
        (call.rule_errors, call.rule_timeouts, call.omitted),
        (1, 0, 0)
    );

    // The body: byte for byte, but for the two redacted values.
    let expected = String::from_utf8(body.clone())
        .unwrap()
        .replace(&format!("\"{BODY_SECRET}-2\""), "\"[redacted]\"")
        .replace(&format!("\"{BODY_SECRET}\""), "\"[redacted]\"");
    assert_eq!(
        String::from_utf8(call.request_body.to_vec()).unwrap(),
        expected
    );
    assert_eq!(call.request_size, body.len() as u64);
    assert!(!call.request_truncated);
    for entry in [
        "header:veson-webhook-signature",
        "header:x-imos-token",
        "header:authorization",
        "body:/counterparty/apiToken",
        "body:/cargoes/*/secretRef",
    ] {
        assert!(
            call.redacted.iter().any(|r| r == entry),
            "{entry} not in {:?}",
            call.redacted
        );
    }
    let header = |name: &str| {
        call.request_headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("x-imos-token"), Some("[redacted]"));
    assert_eq!(header("veson-webhook-signature"), Some("[redacted]"));
    assert_eq!(header("content-type"), Some("application/json"));

    // The per-rule trace.
    let rules: Vec<&str> = call.rules.iter().map(|r| r.rule.as_str()).collect();
    assert_eq!(rules, ["a_speed", "b_broken", "c_chatty"]);
    let speed = &call.rules[0];
    assert_eq!(speed.outcome, "ok");
    assert!(
        speed.output.contains("checking speed 13.5") && speed.output.contains("debug line"),
        "{}",
        speed.output
    );
    assert_eq!(speed.alerts.len(), 1);
    assert_eq!(speed.alerts[0].guid, sent[0]["guid"]);
    assert_eq!(
        speed.alerts[0].mutation,
        Some(json!({"estimateItineraries": {"speed": 12.0}}))
    );
    let broken = &call.rules[1];
    assert_eq!(broken.outcome, "error");
    let error = broken.error.as_ref().unwrap();
    assert_eq!(error.line, Some(2));
    assert!(error.column.is_some());
    let chatty = &call.rules[2];
    assert!(chatty.output_cut);
    assert!(chatty.output.len() <= 70 << 10, "{}", chatty.output.len());
    assert!(chatty
        .output
        .ends_with("[output cut: more than the per-rule limit was printed]\n"));
    assert_eq!(chatty.alerts.len(), 1);
    assert!(call.rules.iter().all(|r| r.operations > 0));
}

#[tokio::test]
async fn refused_calls_are_recorded_with_what_is_safe_to_keep() {
    let app = desk().await;
    let post = |path: &str, body: Vec<u8>, signature: Option<String>| {
        let mut request = app.client.post(app.url(path)).body(body);
        if let Some(s) = signature {
            request = request.header("Veson-Webhook-Signature", s);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), call_id(&response))
        }
    };

    // 401: a wrong signature. Only the start of the body is kept.
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(100 << 10)).into_bytes();
    let (status, id) = post("/hooks/desk", big.clone(), Some(sign("wrong-key", &big))).await;
    assert_eq!(status, 401);
    let call = app.recorded(&id).await;
    assert_eq!((call.status, call.signature.as_str()), (401, "mismatch"));
    assert!(
        call.error
            .as_deref()
            .unwrap()
            .contains("does not match the body"),
        "{:?}",
        call.error
    );
    assert!(call.request_truncated);
    assert_eq!(call.request_body.len(), 16 << 10);
    assert_eq!(call.request_body, big[..16 << 10]);
    assert_eq!(call.request_size, big.len() as u64);
    assert!(call.rules.is_empty());
    let error: Value = serde_json::from_slice(&call.response_body).unwrap();
    assert_eq!(error["error"].as_str(), call.error.as_deref());

    // 400: not JSON. Kept whole, which is what the author needs to see...
    let bad = b"{\"estimateID\": \"E\",\n \"speed\": }".to_vec();
    let (status, id) = post("/hooks/open", bad.clone(), None).await;
    assert_eq!(status, 400);
    let call = app.recorded(&id).await;
    assert_eq!(
        (call.status, call.signature.as_str()),
        (400, "not_required")
    );
    assert_eq!(call.request_body, bad);
    assert!(
        call.error.as_deref().unwrap().contains("line 2 column"),
        "{:?}",
        call.error
    );
    // ...unless the rule set redacts body fields: they cannot be found in a broken body,
    // so none of it is kept.
    let (status, id) = post("/hooks/desk", bad.clone(), Some(sign(KEY, &bad))).await;
    assert_eq!(status, 400);
    let call = app.recorded(&id).await;
    assert_eq!((call.status, call.signature.as_str()), (400, "valid"));
    assert!(call.request_body.is_empty());
    assert_eq!(call.request_size, bad.len() as u64);
    assert!(
        call.redacted.iter().any(|r| r.contains("not JSON")),
        "{:?}",
        call.redacted
    );

    // 404: an unknown rule set; the name is kept, nothing was read.
    let (status, id) = post("/hooks/nosuchdesk", b"{}".to_vec(), None).await;
    assert_eq!(status, 404);
    let call = app.recorded(&id).await;
    assert_eq!((call.status, call.ruleset.as_str()), (404, "nosuchdesk"));
    assert_eq!(
        (call.signature.as_str(), call.rules_version.as_deref()),
        ("not_checked", None)
    );
    assert!(call.request_body.is_empty());

    // 413: too large; refused unread, its declared size kept.
    let huge = vec![b' '; 300 << 10];
    let (status, id) = post("/hooks/desk", huge, Some("x".into())).await;
    assert_eq!(status, 413);
    let call = app.recorded(&id).await;
    assert_eq!((call.status, call.request_size), (413, 300 << 10));
    assert!(call.request_body.is_empty());
    assert_eq!(call.redacted, ["header:veson-webhook-signature"]);
}

#[tokio::test]
async fn overloaded_calls_are_recorded_as_503() {
    let app = spawn_app_with(
        &[(
            "desk",
            &[
                ("ruleset.toml", "budget_ms = 800\nmargin_ms = 200\n"),
                ("spin.rhai", "loop {}"),
            ],
        )],
        |c| c.max_concurrent_calls = 1,
    )
    .await;
    let calls = (0..4).map(|_| {
        let (client, url) = (app.client.clone(), app.url("/hooks/desk"));
        async move { client.post(url).body("{}").send().await.unwrap() }
    });
    let responses = futures_join_all(calls).await;
    let busy = responses
        .iter()
        .find(|r| r.status() == 503)
        .expect("one call over the limit");
    let id = busy.headers()["x-lookout-call-id"].to_str().unwrap();
    let call = app.recorded(id).await;
    assert_eq!(call.status, 503);
    assert!(call
        .error
        .as_deref()
        .unwrap()
        .contains("limit of 1 calls at once"));
    let timed_out = responses.iter().find(|r| r.status() == 200).unwrap();
    let call = app
        .recorded(timed_out.headers()["x-lookout-call-id"].to_str().unwrap())
        .await;
    assert_eq!(
        (call.rule_timeouts, call.rules[0].outcome.as_str()),
        (1, "timeout")
    );
}

/// Every column of every row, as text, blobs decompressed: what a person with the
/// database file could read.
fn everything_in(db: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut statement = conn.prepare("SELECT * FROM calls").unwrap();
    let columns = statement.column_count();
    let mut out = String::new();
    let mut rows = statement.query([]).unwrap();
    while let Some(row) = rows.next().unwrap() {
        for i in 0..columns {
            match row.get_ref(i).unwrap() {
                rusqlite::types::ValueRef::Text(t) => out.push_str(&String::from_utf8_lossy(t)),
                rusqlite::types::ValueRef::Blob(b) => out.push_str(&lookout::testkit::readable(b)),
                other => out.push_str(&format!("{other:?}")),
            }
            out.push('\t');
        }
        out.push('\n');
    }
    out
}

#[tokio::test]
async fn secrets_never_reach_the_sqlite_file() {
    let app = desk().await;
    let body = estimate();
    let signature = sign(KEY, &body);
    let mut ids = Vec::new();
    for (sig, status) in [
        (signature.clone(), 200),
        ("sha256=deadbeef".to_string(), 401),
    ] {
        let response = app
            .client
            .post(app.url("/hooks/desk"))
            .header("Veson-Webhook-Signature", &sig)
            .header("X-Imos-Token", FLAG_SECRET)
            .header("Authorization", AUTH_SECRET)
            .header("Cookie", "session=cookie-secret-11")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status);
        ids.push(call_id(&response));
    }
    for id in &ids {
        app.recorded(id).await;
    }
    let db = app.dir.path().join("data/lookout.db");
    let text = everything_in(&db);
    assert!(
        text.contains("EST-LOG-1") && text.contains("Oceanic Trading"),
        "the check reads the rows"
    );
    // Neither the answered call nor the refused one keeps a secret.
    for secret in [
        signature.as_str(),
        FLAG_SECRET,
        AUTH_SECRET,
        "cookie-secret-11",
        BODY_SECRET,
    ] {
        assert!(!text.contains(secret), "`{secret}` reached the database");
    }
    let refused = app.recorded(&ids[1]).await;
    assert!(refused
        .redacted
        .iter()
        .any(|r| r == "body:/counterparty/apiToken"));
    // A body the pointers cannot be applied to is not kept at all.
    let response = app
        .post_hook(
            "desk",
            format!("{{\"apiToken\": \"{BODY_SECRET}\"").as_bytes(),
            None,
        )
        .await;
    assert_eq!(response.status(), 401);
    let cut = app
        .recorded(response.headers()["x-lookout-call-id"].to_str().unwrap())
        .await;
    assert!(cut.request_body.is_empty());
    assert!(
        cut.redacted.iter().any(|r| r.contains("not JSON")),
        "{:?}",
        cut.redacted
    );
    // And not in the raw file either (WAL included), compressed or not.
    for file in ["lookout.db", "lookout.db-wal"] {
        let path = app.dir.path().join("data").join(file);
        if let Ok(bytes) = std::fs::read(&path) {
            for secret in [
                signature.as_bytes(),
                FLAG_SECRET.as_bytes(),
                AUTH_SECRET.as_bytes(),
                BODY_SECRET.as_bytes(),
            ] {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret),
                    "a secret is in {file}"
                );
            }
        }
    }
}

/// Issue 12, finding 7: values at `redact_body` pointers used to reach the store
/// through a rule's print output, its alerts and the answer; a `redact_headers` header
/// was readable by rules. Now rules cannot see the header, and whatever a rule copies
/// out of a redacted value is scrubbed from everything recorded.
#[tokio::test]
async fn values_a_rule_copies_out_of_redacted_fields_do_not_reach_the_database() {
    const PIN: &str = "98765431";
    let leaky: &[(&str, &str)] = &[
        (
            "ruleset.toml",
            "redact_headers = [\"X-Imos-Token\"]\nredact_body = [\"/counterparty\", \"/pin\"]\n",
        ),
        (
            "leak.rhai",
            r#"print("token " + estimate.counterparty.apiToken);
info("token " + estimate.counterparty.apiToken + " header " + request.headers["x-imos-token"])
    .field("Token", estimate.counterparty.apiToken)
    .mutation(#{ pin: estimate.pin, note: `pin ${estimate.pin}` });
"#,
        ),
        (
            "throws.rhai",
            r#"throw "failed with " + estimate.counterparty.apiToken;"#,
        ),
    ];
    let app = spawn_app(&[("leaky", leaky)]).await;
    let body = format!(
        "{{\"estimateID\": \"EST-LEAK\", \"pin\": {PIN}, \"counterparty\": {{\"name\": \"Quiet Trading\", \"apiToken\": \"{BODY_SECRET}\"}}}}"
    );
    let response = app
        .client
        .post(app.url("/hooks/leaky"))
        .header("X-Imos-Token", FLAG_SECRET)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = call_id(&response);
    // The Estimator's answer is the rule's own business: it has the values.
    let answer = response.text().await.unwrap();
    assert!(
        answer.contains(BODY_SECRET) && answer.contains(PIN),
        "{answer}"
    );
    assert!(
        !answer.contains(FLAG_SECRET),
        "rules saw a redacted header: {answer}"
    );

    let call = app.recorded(&id).await;
    let stored: Value = serde_json::from_slice(&call.response_body).expect("still JSON");
    assert_eq!(stored[0]["mutation"]["pin"], "[redacted]");
    assert_eq!(stored[0]["displayFields"][0]["value"], "[redacted]");
    assert!(
        call.rules[0].output.contains("token [redacted]"),
        "{}",
        call.rules[0].output
    );
    let error = call.rules[1].error.as_ref().unwrap();
    assert_eq!(error.message, "failed with [redacted]");
    let text = everything_in(&app.dir.path().join("data/lookout.db"));
    assert!(text.contains("EST-LEAK"), "the check reads the rows");
    for secret in [BODY_SECRET, PIN, FLAG_SECRET] {
        assert!(!text.contains(secret), "`{secret}` reached the database");
    }
}

#[tokio::test]
async fn retention_removes_old_calls_in_the_background() {
    let app = spawn_app_with(&[("desk", &[("r.rhai", "info(\"hi\");")])], |c| {
        c.recorder.retention.max_age = Some(Duration::from_secs(2));
        c.recorder.retention.max_bytes = None;
        c.recorder.retention_every = Duration::from_secs(1);
    })
    .await;
    let response = app.post_hook("desk", b"{}", None).await;
    let id = call_id(&response);
    app.recorded(&id).await;
    // The counter moves once a retention pass has ended (after the row's delete), so it is
    // what is waited for; then the row must be gone.
    eventually(Duration::from_secs(10), || async {
        app.metrics()
            .await
            .contains("lookout_log_retention_removed_total 1\n")
    })
    .await;
    let store = app.state.recorder.store().clone();
    assert!(store.get(&id).unwrap().is_none(), "counted but still there");
}

#[tokio::test]
async fn metrics_count_calls_rules_and_the_log() {
    let app = desk().await;
    let body = estimate();
    for _ in 0..3 {
        let response = app.post_hook("desk", &body, Some(KEY)).await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(app.post_hook("desk", &body, None).await.status(), 401);
    assert_eq!(app.post_hook("ghost", b"{}", None).await.status(), 404);
    app.state.recorder.flush(Duration::from_secs(10));
    // Its labels name rule sets: not for anyone without the admin token.
    assert_eq!(app.get("/metrics").await.status(), 401);
    let response = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(app.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    for line in [
        "lookout_calls_total{ruleset=\"desk\",status=\"200\"} 3",
        "lookout_calls_total{ruleset=\"desk\",status=\"401\"} 1",
        "lookout_calls_total{ruleset=\"(unknown)\",status=\"404\"} 1",
        "lookout_rule_errors_total{ruleset=\"desk\",rule=\"b_broken\"} 3",
        "lookout_rule_duration_seconds_count{ruleset=\"desk\",rule=\"a_speed\"} 3",
        "lookout_call_duration_seconds_count{ruleset=\"desk\"} 4",
        "lookout_log_written_total 5",
        "lookout_log_queue_depth 0",
        "lookout_log_dropped_total{reason=\"queue_full\"} 0",
        "lookout_log_dropped_total{reason=\"store_error\"} 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in\n{text}"
        );
    }
    let ready = app.readyz_as_admin().await;
    assert_eq!(ready["log"]["written"], 5);
    assert_eq!(ready["ready"], true);
}

/// A body that does not compress: random hex.
fn incompressible(n: usize) -> Vec<u8> {
    use rand_like::next;
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ n as u64;
    let hex: String = (0..n / 16)
        .map(|_| format!("{:016x}", next(&mut state)))
        .collect();
    format!("{{\"estimateID\": \"FULL\", \"noise\": \"{hex}\"}}").into_bytes()
}

mod rand_like {
    /// xorshift64*: enough to make bytes the log's compression cannot shrink much.
    pub fn next(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[tokio::test]
async fn a_full_store_loses_records_counted_while_answers_stay_200_and_recording_resumes() {
    const TOKEN: &str = "full-store-admin-token-0123456789";
    let app = spawn_app_with(&[("desk", &[("r.rhai", "info(\"seen\");")])], |c| {
        // The file may not grow past 2 MiB; retention brings it back to 256 KiB every 2 s.
        c.store_max_file_bytes = Some(2 << 20);
        c.recorder.retention.max_bytes = Some(256 << 10);
        c.recorder.retention.max_age = None;
        c.recorder.retention_every = Duration::from_secs(2);
        c.max_request_bytes = 1 << 20;
        c.admin_token = Some(lookout::secrets::AdminToken::new(TOKEN));
    })
    .await;
    let recorder = app.state.recorder.clone();
    // 60 calls of 100 KB that do not compress: 6 MB into a 2 MiB file.
    let mut ids = Vec::new();
    for i in 0..60 {
        let response = app
            .post_hook("desk", &incompressible(100_000 + i), None)
            .await;
        assert_eq!(response.status(), 200, "answers do not depend on the log");
        ids.push(call_id(&response));
    }
    let r = recorder.clone();
    tokio::task::spawn_blocking(move || r.flush(Duration::from_secs(30)))
        .await
        .unwrap();
    let status = recorder.status();
    assert!(status.dropped_store_error > 0, "{status:?}");
    assert_eq!(status.written + status.dropped, 60, "{status:?}");
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("full"),
        "{status:?}"
    );
    let metrics = app.metrics().await;
    let dropped = format!(
        "lookout_log_dropped_total{{reason=\"store_error\"}} {}",
        status.dropped_store_error
    );
    assert!(metrics.lines().any(|l| l == dropped), "{metrics}");

    // While the last write failed: /readyz says so, the viewer shows a banner.
    if recorder.status().failing {
        let ready = app.get("/readyz").await;
        assert_eq!(ready.status(), 503);
        let ready: Value = ready.json().await.unwrap();
        assert!(ready["problems"][0]
            .as_str()
            .unwrap()
            .contains("does not accept writes"));
    }
    let page = app.page_as("/admin", TOKEN).await;
    assert!(
        page.contains("id=\"log-loss-banner\""),
        "no banner in the viewer"
    );

    // Retention makes room; recording resumes by itself.
    let app_ref = &app;
    eventually(Duration::from_secs(20), || async move {
        let response = app_ref
            .post_hook("desk", b"{\"estimateID\": \"AFTER\"}", None)
            .await;
        let id = call_id(&response);
        let r = app_ref.state.recorder.clone();
        tokio::task::spawn_blocking(move || {
            r.flush(Duration::from_secs(10));
            r.store().get(&id).unwrap().is_some()
        })
        .await
        .unwrap()
    })
    .await;
    assert!(!recorder.status().failing);
    assert_eq!(app.get("/readyz").await.status(), 200);
}

/// The Estimator's pattern: the same estimate again with one field edited. The rule
/// that read the field runs again; the one that did not is reused, and the log, the
/// viewer and /metrics say so, while the answer is the one a fresh run gives.
#[tokio::test]
async fn a_rule_that_read_nothing_edited_is_reused_and_the_trace_says_so() {
    const RULES: &[(&str, &str)] = &[
        (
            "a_speed.rhai",
            "if estimate.speed > 12.0 { warning(`speed ${estimate.speed}`); }",
        ),
        (
            "b_ports.rhai",
            "for p in estimate.ports { if p.days < 1 { info(`${p.name}: under a day`).key(p.name); } }",
        ),
    ];
    let app = spawn_app(&[("edits", RULES), ("fresh", RULES)]).await;
    let first = json!({"estimateID": "EST-R1", "speed": 13.0, "ports": [{"name": "SANTOS", "days": 0.5}, {"name": "QINGDAO", "days": 2}]});
    let mut edited = first.clone();
    edited["speed"] = json!(14.5);
    let response = app
        .post_hook("edits", first.to_string().as_bytes(), None)
        .await;
    let before = app.recorded(&call_id(&response)).await;
    assert!(before.rules.iter().all(|r| !r.reused));
    let response = app
        .post_hook("edits", edited.to_string().as_bytes(), None)
        .await;
    assert_eq!(response.status(), 200);
    let id = call_id(&response);
    let answer: Value = response.json().await.unwrap();
    let after = app.recorded(&id).await;
    let reused: Vec<(&str, bool)> = after
        .rules
        .iter()
        .map(|r| (r.rule.as_str(), r.reused))
        .collect();
    assert_eq!(reused, [("a_speed", false), ("b_ports", true)]);
    assert_eq!(
        after.rules[1].alerts.len(),
        1,
        "the reused run's alert is kept"
    );
    // The same answer as a rule set that never saw the estimate (same rules, same
    // estimate identity: GUIDs depend on the rule set's name, so compare the rest).
    let (_, fresh) = app.post_json("fresh", &edited).await;
    let strip = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| (a["message"].clone(), a["alertType"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&answer), strip(&fresh));
    let page = app
        .page_as(&format!("/admin/calls/{id}"), &app.admin_token())
        .await;
    assert!(page.contains("reused (inputs unchanged)"), "{page}");
    let metrics = app.metrics().await;
    let reused_total: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("lookout_rule_reuse_total{result=\"reused\"} "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no reuse counter in\n{metrics}"));
    assert!(reused_total >= 1);
    assert!(metrics
        .lines()
        .any(|l| l.starts_with("lookout_rule_reuse_bytes ")));
}

/// Holds SQLite's write lock on `db` for `hold`, from another connection; returns once
/// the lock is taken.
fn hold_write_lock(db: std::path::PathBuf, hold: Duration) -> std::thread::JoinHandle<()> {
    let (taken, wait) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        taken.send(()).unwrap();
        std::thread::sleep(hold);
        conn.execute_batch("COMMIT").unwrap();
    });
    wait.recv().unwrap();
    holder
}

#[tokio::test]
async fn with_answer_after_write_a_signed_answer_comes_once_its_record_is_written() {
    let rules: &[(&str, Files)] = &[("desk", &[("hello.rhai", "info(\"hello\");")])];
    let app = spawn_app_with(rules, |c| {
        c.recorder.answer_after_write = Duration::from_millis(1500);
    })
    .await;
    // Warm: the schema is written, the writer idle.
    let response = app.post_hook("desk", b"{}", None).await;
    app.recorded(&call_id(&response)).await;

    let db = app.dir.path().join("data/lookout.db");
    let holder = hold_write_lock(db, Duration::from_millis(400));
    let started = std::time::Instant::now();
    let response = app
        .post_hook("desk", br#"{"estimateID": "E-9"}"#, None)
        .await;
    assert_eq!(response.status(), 200);
    let waited = started.elapsed();
    let id = call_id(&response);
    // Its record is in the log the moment the answer is: read once, no waiting.
    let store = app.state.recorder.store().clone();
    let found = tokio::task::spawn_blocking(move || store.get(&id).unwrap())
        .await
        .unwrap();
    assert!(found.is_some(), "answered before its record was written");
    assert!(
        waited >= Duration::from_millis(300),
        "{waited:?}: it did not wait for the write"
    );
    holder.join().unwrap();
    assert!(app
        .metrics()
        .await
        .contains("lookout_log_answered_before_written_total 0"));

    // A write slower than the wait: answered at the end of the wait anyway, and counted.
    let quick = spawn_app_with(rules, |c| {
        c.recorder.answer_after_write = Duration::from_millis(100);
    })
    .await;
    let response = quick.post_hook("desk", b"{}", None).await;
    quick.recorded(&call_id(&response)).await;
    let holder = hold_write_lock(
        quick.dir.path().join("data/lookout.db"),
        Duration::from_millis(1500),
    );
    let started = std::time::Instant::now();
    let response = quick.post_hook("desk", b"{}", None).await;
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "{:?}",
        started.elapsed()
    );
    holder.join().unwrap();
    assert!(quick
        .metrics()
        .await
        .contains("lookout_log_answered_before_written_total 1"));

    // Never past the rule set's own budget, whatever the server's wait.
    let short: &[(&str, Files)] = &[(
        "desk",
        &[
            ("hello.rhai", "info(\"hello\");"),
            ("ruleset.toml", "budget_ms = 300\nmargin_ms = 100\n"),
        ],
    )];
    let tight = spawn_app_with(short, |c| {
        c.recorder.answer_after_write = Duration::from_millis(1500);
    })
    .await;
    let response = tight.post_hook("desk", b"{}", None).await;
    tight.recorded(&call_id(&response)).await;
    let holder = hold_write_lock(
        tight.dir.path().join("data/lookout.db"),
        Duration::from_millis(2000),
    );
    let started = std::time::Instant::now();
    let response = tight.post_hook("desk", b"{}", None).await;
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    holder.join().unwrap();
}
