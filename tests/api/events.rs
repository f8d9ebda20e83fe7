//! Port event intake over real HTTPS: PortConnect's token and Octopi's signature
//! accepted and refused, all or nothing, duplicates, rules reading what was stored, and
//! events durable before the answer (`kill -9` right after it).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::*;
use lookout::events::octopi::{self, Encoding, Signed};
use lookout::events::{EventQuery, Key};
use lookout::signature::ApiKey;
use serde_json::{json, Value};

const TOKEN: &str = "123-456-789-000";
const SECRET: &str = "octopi-shared-secret-0123456789";
const OLD_SECRET: &str = "octopi-previous-secret-abcdefgh";

fn doc_example() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/portconnect-doc-example.json"),
    )
    .unwrap()
}

async fn app(tweak: impl FnOnce(&mut lookout::config::Config)) -> TestApp {
    app_with(&[], tweak).await
}

async fn app_with(
    rulesets: &[(&str, crate::common::Files<'_>)],
    tweak: impl FnOnce(&mut lookout::config::Config),
) -> TestApp {
    spawn_app_with(rulesets, |c| {
        c.events.portconnect_tokens =
            vec![ApiKey::new(TOKEN), ApiKey::new("next-subscription-token")];
        c.events.octopi.secrets = vec![ApiKey::new(OLD_SECRET), ApiKey::new(SECRET)];
        tweak(c);
    })
    .await
}

async fn post_portconnect(app: &TestApp, token: Option<&str>, body: &[u8]) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url("/events/portconnect"))
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_vec());
    if let Some(token) = token {
        request = request.header("X-WebhookToken", token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn events(app: &TestApp, query: EventQuery) -> Vec<lookout::events::Event> {
    let store = app.state.recorder.store().clone();
    std::thread::spawn(move || {
        store
            .list_events(&EventQuery {
                limit: 100,
                ..query
            })
            .unwrap()
            .events
    })
    .join()
    .unwrap()
}

fn count(app: &TestApp) -> u64 {
    let store = app.state.recorder.store().clone();
    std::thread::spawn(move || store.event_stats().unwrap().calls)
        .join()
        .unwrap()
}

#[tokio::test]
async fn the_documented_portconnect_callback_is_stored_once() {
    let app = app(|_| {}).await;
    let body = doc_example();
    let (status, answer) = post_portconnect(&app, Some(TOKEN), &body).await;
    assert_eq!(
        (status, &answer),
        (200, &json!({"stored": 3, "duplicates": 0}))
    );
    // PortConnect retries: acknowledged, not stored twice.
    let (status, answer) = post_portconnect(&app, Some(TOKEN), &body).await;
    assert_eq!(
        (status, &answer),
        (200, &json!({"stored": 0, "duplicates": 3}))
    );
    assert_eq!(count(&app), 3);

    let found = events(
        &app,
        EventQuery {
            key: Some(Key::Container("MEDU3085895".into())),
            ..Default::default()
        },
    );
    assert_eq!(found.len(), 1);
    let e = &found[0];
    assert_eq!(
        (e.source.as_str(), e.kind.as_str(), e.event.as_str()),
        ("portconnect", "container", "GATEIN")
    );
    assert_eq!(e.at.as_deref(), Some("2019-06-19T12:41:02+12:00"));
    assert_eq!(e.ports, ["NZAKL"]);
    let payload: Value = serde_json::from_str(&e.payload).unwrap();
    assert_eq!(payload["containerIsoTypeCode"], "2210");
    let by_vessel = events(
        &app,
        EventQuery {
            key: Some(Key::Imo(9628336)),
            ..Default::default()
        },
    );
    assert_eq!(by_vessel.len(), 3);
    let by_name = events(
        &app,
        EventQuery {
            key: Some(Key::VesselName("KOTA LOCENG".into())),
            ..Default::default()
        },
    );
    assert_eq!(by_name.len(), 3);

    let metrics = app.metrics().await;
    assert!(
        metrics.contains("lookout_events_total{source=\"portconnect\",outcome=\"stored\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("lookout_events_total{source=\"portconnect\",outcome=\"duplicate\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("lookout_event_calls_total{source=\"portconnect\",status=\"200\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_missing_wrong_or_empty_token_is_401_and_stores_nothing() {
    let app = app(|_| {}).await;
    let body = doc_example();
    for token in [
        None,
        Some(""),
        Some("123-456-789-00"),
        Some("123-456-789-0000"),
        Some("123-456-789-001"),
    ] {
        let response = {
            let mut request = app
                .client
                .post(app.url("/events/portconnect"))
                .body(body.clone());
            if let Some(token) = token {
                request = request.header("X-WebhookToken", token);
            }
            request.send().await.unwrap()
        };
        assert_eq!(response.status(), 401, "{token:?}");
        assert_eq!(response.headers()["www-authenticate"], "X-WebhookToken");
        let answer: Value = response.json().await.unwrap();
        assert!(
            answer["error"].as_str().unwrap().contains("X-WebhookToken"),
            "{answer}"
        );
    }
    // The second configured token (a subscription change) is accepted.
    let (status, _) = post_portconnect(&app, Some("next-subscription-token"), b"[]").await;
    assert_eq!(status, 200);
    assert_eq!(count(&app), 0);
}

#[tokio::test]
async fn one_bad_item_refuses_the_whole_call_naming_it_and_the_retry_is_safe() {
    let app = app(|_| {}).await;
    let mut items: Vec<Value> = serde_json::from_slice(&doc_example()).unwrap();
    let good = items.clone();
    items[2]["containerVisitEventDatetime"] = json!("19/06/2019 12:41");
    let (status, answer) =
        post_portconnect(&app, Some(TOKEN), &serde_json::to_vec(&items).unwrap()).await;
    assert_eq!(status, 400);
    let message = answer["error"].as_str().unwrap();
    assert!(
        message.contains("item 2, field \"containerVisitEventDatetime\""),
        "{message}"
    );
    assert!(
        message.contains("nothing from this call was stored"),
        "{message}"
    );
    assert_eq!(
        count(&app),
        0,
        "items 0 and 1 were fine, but nothing is kept"
    );

    // PascalCase keys (SendCamelCase = false) are the same fields.
    let pascal: Vec<Value> = good
        .iter()
        .map(|item| {
            let map = item.as_object().unwrap();
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k[..1].to_uppercase() + &k[1..], v.clone()))
                    .collect(),
            )
        })
        .collect();
    let (status, answer) =
        post_portconnect(&app, Some(TOKEN), &serde_json::to_vec(&pascal).unwrap()).await;
    assert_eq!(
        (status, &answer),
        (200, &json!({"stored": 3, "duplicates": 0}))
    );
    // The sender's corrected retry in camelCase is the same content: duplicates.
    let (status, answer) =
        post_portconnect(&app, Some(TOKEN), &serde_json::to_vec(&good).unwrap()).await;
    assert_eq!(
        (status, &answer),
        (200, &json!({"stored": 0, "duplicates": 3}))
    );

    for (body, expected) in [
        (
            &b"{\"containerNumber\": \"APHU6303593\"}"[..],
            "not a JSON array",
        ),
        (b"[1, 2]", "item 0 is a number"),
        (
            b"[{\"containerVisitEventTypeCode\": \"GATEIN\"}]",
            "item 0, field \"containerNumber\": missing",
        ),
    ] {
        let (status, answer) = post_portconnect(&app, Some(TOKEN), body).await;
        assert_eq!(status, 400);
        assert!(
            answer["error"].as_str().unwrap().contains(expected),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn intake_is_off_without_credentials() {
    let app = spawn_app_with(&[], |_| {}).await;
    for path in ["/events/portconnect", "/events/octopi"] {
        let response = app
            .client
            .post(app.url(path))
            .body("[]")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let answer: Value = response.json().await.unwrap();
        assert!(
            answer["error"].as_str().unwrap().contains("intake is off"),
            "{answer}"
        );
    }
    let response = app.get("/events/portconnect").await;
    assert_eq!(response.status(), 405);
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An Octopi delivery: the body for `event`, signed as `settings` say with `secret`.
struct Delivery {
    event: String,
    delivery: String,
    timestamp: String,
    body: Vec<u8>,
    signature: String,
}

fn delivery(settings: &octopi::Settings, secret: &str, event: &str) -> Delivery {
    let id = uuid::Uuid::now_v7().to_string();
    let body = json!({
        "id": id,
        "event_type": event,
        "occurred_at": "2026-11-20T14:05:00-05:00",
        "category": "unit",
        "payload": {
            "container": {"number": "APZU 345678-9", "status": "full", "usage": "export"},
            "terminal": {"id": 7, "name": "Garden City", "locode": "USSAV"},
            "voyage": {"vessel": {"name": "Kota Loceng", "imo_number": 9628336}},
            "hold": {"type": "customs", "reason": "exam"}
        }
    })
    .to_string()
    .into_bytes();
    let timestamp = now_secs().to_string();
    let signature = octopi::sign(settings, &ApiKey::new(secret), &timestamp, &body);
    Delivery {
        event: event.into(),
        delivery: id,
        timestamp,
        body,
        signature,
    }
}

async fn post_octopi(app: &TestApp, d: &Delivery) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/events/octopi"))
        .header("content-type", "application/json")
        .header("X-Octopi-Event", &d.event)
        .header("X-Octopi-Delivery", &d.delivery)
        .header("X-Octopi-Timestamp", &d.timestamp)
        .header("X-Octopi-Signature", &d.signature)
        .body(d.body.clone())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn octopi_events_in_each_naming_form_are_stored_under_one_name() {
    let app = app(|_| {}).await;
    let settings = app.state.config.events.octopi.clone();
    for form in ["Cargo Held", "cargo_held", "CargoHeld"] {
        let d = delivery(&settings, SECRET, form);
        assert_eq!(
            post_octopi(&app, &d).await,
            (200, json!({"stored": 1, "duplicates": 0})),
            "{form}"
        );
        // A redelivery (same X-Octopi-Delivery) is acknowledged, not stored again.
        assert_eq!(
            post_octopi(&app, &d).await,
            (200, json!({"stored": 0, "duplicates": 1})),
            "{form}"
        );
    }
    // Signed with the previous secret during a rotation: still accepted.
    let d = delivery(&settings, OLD_SECRET, "Hold Lifted");
    assert_eq!(post_octopi(&app, &d).await.0, 200);
    // An event Octopi may add later is stored, not refused.
    let d = delivery(&settings, SECRET, "Crane Moved");
    assert_eq!(post_octopi(&app, &d).await.0, 200);

    let found = events(
        &app,
        EventQuery {
            key: Some(Key::Container("APZU3456789".into())),
            ..Default::default()
        },
    );
    let names: Vec<(&str, bool)> = found.iter().map(|e| (e.event.as_str(), e.known)).collect();
    assert_eq!(names.len(), 5);
    assert_eq!(
        names.iter().filter(|n| **n == ("cargo_held", true)).count(),
        3
    );
    assert!(names.contains(&("hold_lifted", true)));
    assert!(names.contains(&("crane_moved", false)));
    let e = &found[0];
    assert_eq!((e.source.as_str(), e.kind.as_str()), ("octopi", "terminal"));
    assert_eq!(e.ports, ["USSAV"]);
    assert_eq!(e.vessels[0].imo, Some(9628336));
    assert_eq!(e.vessels[0].name.as_deref(), Some("KOTA LOCENG"));
    assert_eq!(e.at.as_deref(), Some("2026-11-20T14:05:00-05:00"));
    assert!(e.delivery.is_some());
}

#[tokio::test]
async fn octopi_signatures_and_timestamps_that_do_not_pass_are_refused() {
    let app = app(|_| {}).await;
    let settings = app.state.config.events.octopi.clone();
    let mut cases: Vec<(Delivery, u16, &str)> = Vec::new();
    let mut d = delivery(&settings, "not-the-secret", "Cargo Loaded");
    cases.push((d, 401, "does not match the body"));
    d = delivery(&settings, SECRET, "Cargo Loaded");
    d.timestamp = (now_secs() - 600).to_string();
    d.signature = octopi::sign(&settings, &ApiKey::new(SECRET), &d.timestamp, &d.body);
    cases.push((d, 401, "more than the 300 s allowed"));
    d = delivery(&settings, SECRET, "Cargo Loaded");
    d.timestamp = (now_secs() + 600).to_string();
    cases.push((d, 401, "more than the 300 s allowed"));
    d = delivery(&settings, SECRET, "Cargo Loaded");
    let at = d.body.iter().position(|b| *b == b'9').unwrap();
    d.body[at] = b'8'; // one digit of the IMO number
    cases.push((d, 401, "does not match the body"));
    d = delivery(&settings, SECRET, "Cargo Loaded");
    d.signature = String::new();
    cases.push((d, 401, "missing or empty X-Octopi-Signature"));
    d = delivery(&settings, SECRET, "Cargo Loaded");
    d.signature = d.signature[..63].to_string();
    cases.push((d, 401, "not an HMAC-SHA256 digest"));
    d = delivery(&settings, SECRET, "Cargo Loaded");
    d.timestamp = "yesterday".into();
    cases.push((d, 400, "is not a time"));
    d = delivery(&settings, SECRET, "Cargo Loaded");
    d.event = "Cargo Unloaded".into();
    cases.push((d, 400, "X-Octopi-Event \"Cargo Unloaded\" and the body's event_type \"Cargo Loaded\" name different events"));
    d = delivery(&settings, SECRET, "Cargo Loaded");
    d.delivery = String::new();
    cases.push((d, 400, "X-Octopi-Delivery"));
    for (d, status, says) in cases {
        let (got, answer) = post_octopi(&app, &d).await;
        let message = answer["error"].as_str().unwrap_or_default().to_string();
        assert_eq!(got, status, "{}: {message}", says);
        assert!(message.contains(says), "expected {says:?} in {message:?}");
    }
    assert_eq!(count(&app), 0);
    // The same event name in another form in the header is not a mismatch.
    let mut d = delivery(&settings, SECRET, "cargo_loaded");
    d.event = "CargoLoaded".into();
    assert_eq!(post_octopi(&app, &d).await.0, 200);
}

#[tokio::test]
async fn octopi_timestamp_and_body_signed_in_base64() {
    let app = app(|c| {
        c.events.octopi.signed = Signed::TimestampDotBody;
        c.events.octopi.encoding = Encoding::Base64;
    })
    .await;
    let settings = app.state.config.events.octopi.clone();
    let d = delivery(&settings, SECRET, "Reefer Plugged In");
    assert!(
        d.signature.ends_with('=') || d.signature.len() == 44,
        "{}",
        d.signature
    );
    assert_eq!(post_octopi(&app, &d).await.0, 200);
    // A body-only signature does not pass when the timestamp is signed too.
    let body_only = octopi::Settings {
        signed: Signed::Body,
        ..settings.clone()
    };
    let mut d = delivery(&settings, SECRET, "Reefer Plugged In");
    d.signature = octopi::sign(&body_only, &ApiKey::new(SECRET), &d.timestamp, &d.body);
    assert_eq!(post_octopi(&app, &d).await.0, 401);
    // Nor does hex when base64 is configured.
    let mut d = delivery(&settings, SECRET, "Reefer Plugged In");
    let hex_settings = octopi::Settings {
        encoding: Encoding::Hex,
        ..settings.clone()
    };
    d.signature = octopi::sign(&hex_settings, &ApiKey::new(SECRET), &d.timestamp, &d.body);
    let (status, answer) = post_octopi(&app, &d).await;
    assert_eq!(status, 401);
    assert!(
        answer["error"].as_str().unwrap().contains("base64"),
        "{answer}"
    );
}

#[tokio::test]
async fn rules_read_the_stored_events_as_facts() {
    let rule = r#"
        let events = container_events(estimate.container);
        if events.len() > 0 {
            let e = events[0];
            warning(`${e.container} ${e.event} at ${e.port} on ${e.at}, ${events.len()} events`);
        }
        let v = vessel_events(estimate.vesselImo);
        info(`vessel ${estimate.vesselImo}: ${v.len()} events, newest ${v[0].event} by ${v[0].vessels[0].role}`);
        let by_name = vessel_events("kota  loceng");
        let at_port = port_events("nzakl", "2019-06-19T00:41:02Z");
        let later = port_events("NZAKL", "2019-06-19T00:41:03Z");
        info(`${by_name.len()} by name, ${at_port.len()} at NZAKL since, ${later.len()} later`);
        let schedule = vessel_events(9628336, (), "vessel");
        let boxes = vessel_events(9628336, (), "container");
        info(`${schedule.len()} schedule events, ${boxes.len()} container events`);
    "#;
    let app = app_with(&[("desk", &[("facts.rhai", rule)])], |_| {}).await;
    let (status, answer) = post_portconnect(&app, Some(TOKEN), &doc_example()).await;
    assert_eq!((status, answer["stored"].as_u64()), (200, Some(3)));
    let (status, alerts) = app
        .post_json(
            "desk",
            &json!({"container": "medu 3085895", "vesselImo": 9628336}),
        )
        .await;
    assert_eq!(status, 200, "{alerts}");
    let messages = messages(&alerts);
    assert_eq!(
        messages,
        [
            "MEDU3085895 GATEIN at NZAKL on 2019-06-19T12:41:02+12:00, 1 events",
            "vessel 9628336: 3 events, newest GATEIN by outbound",
            "3 by name, 3 at NZAKL since, 0 later",
            "0 schedule events, 3 container events",
        ]
    );
}

/// `kill -9` right after each answer: every event acknowledged is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_acknowledged_survive_kill_9_right_after_the_answer() {
    lookout::tls::install_provider();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    make_certs(dir.path());
    let client = client_for(&dir.path().join("certs/ca.pem"));
    let start = |port: u16| {
        Command::new(env!("CARGO_BIN_EXE_lookout"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("LOOKOUT_PORTCONNECT_TOKEN", TOKEN)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join(format!("serve-{port}.log"))).unwrap())
            .spawn()
            .unwrap()
    };
    let mut acknowledged = Vec::new();
    for round in 0..3 {
        let port = free_port();
        let mut server = start(port);
        wait_ready(&client, port).await;
        let containers: Vec<String> = (0..50).map(|i| format!("KILL{round}{i:06}")).collect();
        let body: Vec<Value> = containers
            .iter()
            .map(|c| {
                json!({
                    "subscriptionEventId": round, "partnerPortCode": "NZAKL",
                    "containerVisitEventTypeCode": "GATEIN",
                    "containerVisitEventDatetime": "2026-11-20T08:00:00+13:00",
                    "containerNumber": c
                })
            })
            .collect();
        let response = client
            .post(format!("https://localhost:{port}/events/portconnect"))
            .header("X-WebhookToken", TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        // SIGKILL as soon as the status line is in: no shutdown, no flush.
        server.kill().unwrap();
        server.wait().unwrap();
        acknowledged.extend(containers);
    }
    let db = dir.path().join("data/lookout.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut missing = Vec::new();
    for c in &acknowledged {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM event_keys WHERE kind = 'container' AND key = ?1",
                [c],
                |r| r.get(0),
            )
            .unwrap();
        if n != 1 {
            missing.push(c.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events missing: {:?}",
        missing.len(),
        acknowledged.len(),
        &missing[..missing.len().min(5)]
    );
    // And a restarted server answers with them.
    drop(conn);
    let port = free_port();
    let mut server = start(port);
    wait_ready(&client, port).await;
    let response = client
        .post(format!("https://localhost:{port}/events/portconnect"))
        .header("X-WebhookToken", TOKEN)
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test]
async fn retention_removes_events_in_the_background() {
    let app = app(|c| {
        c.recorder.event_retention = lookout::store::Retention {
            max_age: None,
            max_bytes: Some(1),
        };
        c.recorder.retention_every = Duration::from_secs(1);
    })
    .await;
    let (status, answer) = post_portconnect(&app, Some(TOKEN), &doc_example()).await;
    assert_eq!((status, answer["stored"].as_u64()), (200, Some(3)));
    crate::common::eventually(Duration::from_secs(10), || async { count(&app) == 0 }).await;
    assert!(events(
        &app,
        EventQuery {
            key: Some(Key::Port("NZAKL".into())),
            ..Default::default()
        }
    )
    .is_empty());
}

#[tokio::test]
async fn a_body_over_max_request_bytes_is_413_and_one_at_the_limit_is_read() {
    let app = app(|c| c.max_request_bytes = 4096).await;
    let item = |i: usize| {
        format!(
            r#"{{"containerVisitEventTypeCode":"GATEIN","containerNumber":"TGHU{i:07}","containerVisitEventDatetime":"2026-11-20T08:00:00+13:00"}}"#
        )
    };
    let mut body = String::from("[");
    let mut i = 0;
    while body.len() + item(i).len() + 2 < 4096 {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&item(i));
        i += 1;
    }
    body.push(']');
    // Pad with whitespace to exactly the limit.
    let pad = 4096 - body.len();
    body.insert_str(1, &" ".repeat(pad));
    assert_eq!(body.len(), 4096);
    let (status, answer) = post_portconnect(&app, Some(TOKEN), body.as_bytes()).await;
    assert_eq!((status, answer["stored"].as_u64()), (200, Some(i as u64)));
    body.insert(1, ' ');
    let (status, answer) = post_portconnect(&app, Some(TOKEN), body.as_bytes()).await;
    assert_eq!(status, 413, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("max_request_bytes"),
        "{answer}"
    );
}

/// A replay sees the port events the call could have seen, not those that came later.
#[tokio::test]
async fn a_replay_uses_the_facts_as_they_were_when_the_call_arrived() {
    const ADMIN: &str = "events-replay-admin-token-93c1f0";
    let rule: crate::common::Files = &[(
        "gate.rhai",
        "let e = container_events(estimate.container); if e.len() > 0 { warning(`${e[0].event}, ${e.len()} events`); }",
    )];
    let app = app_with(&[("desk", rule)], |c| {
        c.admin_token = Some(lookout::secrets::AdminToken::new(ADMIN));
    })
    .await;
    let (status, _) = post_portconnect(&app, Some(TOKEN), &doc_example()).await;
    assert_eq!(status, 200);
    let response = app
        .post_hook("desk", br#"{"container": "APHU6303593"}"#, None)
        .await;
    let id = call_id(&response);
    let alerts: Value = response.json().await.unwrap();
    assert_eq!(alerts[0]["message"], "GATEIN, 1 events");
    app.recorded(&id).await;
    // The container is loaded afterwards.
    let mut items: Vec<Value> = serde_json::from_slice(&doc_example()).unwrap();
    items[0]["containerVisitEventTypeCode"] = "LOAD".into();
    items[0]["containerVisitEventDatetime"] = "2019-06-20T09:00:00+12:00".into();
    let (status, _) =
        post_portconnect(&app, Some(TOKEN), &serde_json::to_vec(&items[..1]).unwrap()).await;
    assert_eq!(status, 200);
    let live = app
        .post_json("desk", &json!({"container": "APHU6303593"}))
        .await
        .1;
    assert_eq!(live[0]["message"], "LOAD, 2 events");

    let replayed: Value = app
        .api_post(&format!("/admin/api/calls/{id}/replay"), ADMIN)
        .await;
    assert_eq!(
        replayed["now"][0]["message"], "GATEIN, 1 events",
        "{replayed}"
    );
    assert_eq!(replayed["changes"], json!([]), "{replayed}");
}
