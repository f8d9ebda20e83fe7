//! A fleet on a real PostgreSQL: revisions published once and served by every
//! instance within 2 s (LISTEN/NOTIFY), rolled back, published from a designated
//! instance's folder; an instance that cannot serve the current revision is not
//! ready and says why; candidates run after the answer, their differences recorded,
//! summed up, promoted and discarded, and bounded under load.

use std::time::{Duration, Instant};

use crate::common::*;
use lookout::rules::revision::{self, Files as RevisionFiles};
use lookout::rules::Defaults;
use lookout::testkit::PgServer;
use serde_json::{json, Value};

const TOKEN: &str = "fleet-test-admin-token-9c2e4a7b";

/// The most a revision may take to reach every instance (the issue's bound).
const SPREAD: Duration = Duration::from_secs(2);

async fn member(url: &str, folder: &[(&str, Files<'_>)], publish_folder: bool) -> TestApp {
    let url = url.to_string();
    spawn_app_with(folder, move |c| {
        c.store_url = Some(url);
        c.admin_token = Some(lookout::secrets::AdminToken::new(TOKEN));
        c.fleet.rules_from_store = true;
        c.fleet.publish_folder = publish_folder;
    })
    .await
}

fn files(pairs: &[(&str, &str)]) -> RevisionFiles {
    pairs
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

fn version_of(files: &RevisionFiles) -> String {
    revision::compile("desk", files, &Defaults::default())
        .unwrap()
        .version
}

fn store(app: &TestApp) -> lookout::store::Store {
    app.state.recorder.store().clone()
}

/// A store read, off the async threads (the PostgreSQL client blocks).
async fn read<T: Send + 'static>(
    app: &TestApp,
    f: impl FnOnce(&lookout::store::Store) -> T + Send + 'static,
) -> T {
    let store = store(app);
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .unwrap()
}

async fn publish(app: &TestApp, files: &RevisionFiles, action: &str) -> String {
    let (store, files, action) = (store(app), files.clone(), action.to_string());
    tokio::task::spawn_blocking(move || {
        let revision = lookout::fleet::Revision {
            ruleset: "desk",
            files: &files,
            author: "ops",
            message: "test",
            action: &action,
        };
        let record = lookout::fleet::publish(&store, revision, None, &Defaults::default()).unwrap();
        assert_eq!(record.version, version_of(&files));
        record.version
    })
    .await
    .unwrap()
}

/// The version that answers a call to `desk` on `app`, and the call's id (a version
/// of "" when the call is not answered 200).
async fn served(app: &TestApp) -> (String, String) {
    let response = app
        .post_hook("desk", br#"{"estimateID": "E-1"}"#, None)
        .await;
    if response.status() != 200 {
        return (String::new(), String::new());
    }
    let version = response.headers()["x-lookout-rules-version"]
        .to_str()
        .unwrap()
        .to_string();
    (version, call_id(&response))
}

async fn all_serve(apps: &[&TestApp], version: &str) -> Duration {
    let start = Instant::now();
    for app in apps {
        let version = version.to_string();
        eventually(SPREAD + Duration::from_millis(500), || {
            let version = version.clone();
            async move { served(app).await.0 == version }
        })
        .await;
    }
    start.elapsed()
}

async fn readyz(app: &TestApp, admin: bool) -> (u16, Value) {
    let mut request = app.client.get(app.url("/readyz"));
    if admin {
        request = request.bearer_auth(TOKEN);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

const V1: &[(&str, &str)] = &[("tce.rhai", "info(\"v1\");")];
const V2: &[(&str, &str)] = &[
    ("tce.rhai", "info(\"v2\");"),
    ("lib/floor.rhai", "fn floor() { 9000 }"),
];

#[tokio::test]
async fn a_revision_reaches_every_instance_within_two_seconds_and_rolls_back() {
    let pg = PgServer::start();
    // A publishes its folder; B serves only what the store says (its own folder is
    // empty and never read).
    let a = member(&pg.url, &[("desk", V1)], true).await;
    let b = member(&pg.url, &[], false).await;
    let v1 = version_of(&files(V1));
    assert_eq!(served(&a).await.0, v1, "the folder was published at start");
    assert_eq!(served(&b).await.0, v1);
    let heads = read(&a, |s| s.revision_heads().unwrap()).await;
    assert_eq!(heads.len(), 1);
    assert_eq!(
        (heads[0].action.as_str(), heads[0].version.as_str()),
        ("folder", v1.as_str())
    );

    // A new revision, from outside any instance (as `lookout publish` does).
    let v2 = publish(&a, &files(V2), "cli").await;
    let took = all_serve(&[&a, &b], &v2).await;
    assert!(took <= SPREAD, "took {took:?}");
    // Every recorded call names the revision that answered it.
    let (_, id) = served(&b).await;
    assert_eq!(
        b.recorded(&id).await.rules_version.as_deref(),
        Some(v2.as_str())
    );
    // /readyz says what is served and that it is current.
    for app in [&a, &b] {
        let (status, body) = readyz(app, true).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["rules_from"], "store");
        assert_eq!(body["current_revisions"]["desk"]["version"], v2.as_str());
        assert_eq!(body["rulesets"]["desk"]["version"], v2.as_str());
    }
    let (_, anonymous) = readyz(&b, false).await;
    assert!(anonymous.get("current_revisions").is_none(), "{anonymous}");
    assert_eq!(
        readyz(&a, false).await.1["rules_digest"],
        anonymous["rules_digest"],
        "the same revisions give the same digest"
    );

    // Rolling back is publishing the earlier revision's files again.
    let back = publish(&a, &files(V1), "rollback").await;
    assert_eq!(back, v1);
    all_serve(&[&a, &b], &v1).await;

    // The designated instance publishes its folder's next change.
    write_files(&a.rules_dir("desk"), &[("tce.rhai", "info(\"v3\");")]);
    let v3 = version_of(&files(&[("tce.rhai", "info(\"v3\");")]));
    all_serve(&[&a, &b], &v3).await;
    let actions: Vec<String> = read(&a, |s| s.published("desk").unwrap())
        .await
        .into_iter()
        .map(|p| p.action)
        .collect();
    assert_eq!(actions, ["folder", "rollback", "cli", "folder"]);

    // The viewer shows which revision each instance serves.
    eventually(Duration::from_secs(10), || async {
        let list = a.api_get("/admin/api/instances", TOKEN).await;
        let instances = list["instances"].as_array().unwrap().clone();
        instances.len() == 2
            && instances.iter().all(|i| {
                i["serving"]["desk"] == v3.as_str() && i["current"] == true && i["up"] == true
            })
    })
    .await;
    let page = a.page_as("/admin/fleet", TOKEN).await;
    assert!(page.contains(&v3) && page.contains(&a.state.instance.to_string()));
    assert!(page.contains(&b.state.instance.to_string()));
}

#[tokio::test]
async fn an_instance_that_cannot_serve_the_current_revision_is_not_ready_and_says_why() {
    let pg = PgServer::start();
    // Nothing published yet: not ready, and it says what to do.
    let a = member(&pg.url, &[], false).await;
    let (status, body) = readyz(&a, true).await;
    assert_eq!(status, 503);
    assert!(
        body["problems"]
            .to_string()
            .contains("no rule revision in the store yet"),
        "{body}"
    );

    let v1 = publish(&a, &files(V1), "cli").await;
    all_serve(&[&a], &v1).await;
    // Ready once the pass that swapped it in has said so (a moment after it serves).
    eventually(SPREAD, || async { readyz(&a, false).await.0 == 200 }).await;

    // A revision stored without the checks a publish makes (as by a lookout that
    // compiles differently): it does not compile here.
    let broken = lookout::store::Published {
        id: lookout::ids::new_id().to_string(),
        ruleset: "desk".into(),
        version: "0123456789abcdef".into(),
        previous_version: v1.clone(),
        author: "someone".into(),
        at: lookout::clock::now_micros(),
        message: "broken".into(),
        action: "cli".into(),
        files: json!({"tce.rhai": "let x = ;"}),
        seq: 0,
    };
    let s = store(&a);
    tokio::task::spawn_blocking(move || s.record_published(&broken).unwrap())
        .await
        .unwrap();
    eventually(SPREAD, || async { readyz(&a, false).await.0 == 503 }).await;
    let (_, admin) = readyz(&a, true).await;
    let problems = admin["problems"].to_string();
    assert!(
        problems.contains("cannot serve the current revision 0123456789abcdef")
            && problems.contains("still serving")
            && problems.contains(&v1)
            && problems.contains("tce.rhai"),
        "{problems}"
    );
    let (_, anonymous) = readyz(&a, false).await;
    // Without the token: counts and file:line:col, as for any rule set that does not
    // compile, and nothing of the revision.
    let anonymous = anonymous.to_string();
    assert!(
        anonymous.contains("1 problem serving the fleet's current rule revisions")
            && !anonymous.contains("0123456789abcdef")
            && !anonymous.contains("someone"),
        "{anonymous}"
    );
    // It keeps answering with the last good revision, and says so.
    let response = a.post_hook("desk", b"{}", None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-lookout-rules-version"], v1.as_str());
    assert!(response.headers().contains_key("x-lookout-rules-stale"));
    assert!(a
        .metrics()
        .await
        .contains("lookout_fleet_revision_problems 1"));

    // A revision whose files are not the version its publisher checked is refused, and
    // nothing is stored.
    let s = store(&a);
    let refused = tokio::task::spawn_blocking(move || {
        let files = files(V2);
        let revision = lookout::fleet::Revision {
            ruleset: "desk",
            files: &files,
            author: "ops",
            message: "checked something else",
            action: "cli",
        };
        lookout::fleet::publish(&s, revision, Some("ffffffffffffffff"), &Defaults::default())
    })
    .await
    .unwrap();
    assert!(refused.unwrap_err().contains("nothing was published"));
    assert_eq!(
        read(&a, |s| s.revision_heads().unwrap()).await[0].version,
        "0123456789abcdef"
    );

    // The next good revision makes it ready again.
    let v2 = publish(&a, &files(V2), "cli").await;
    all_serve(&[&a], &v2).await;
    eventually(SPREAD, || async { readyz(&a, false).await.0 == 200 }).await;
}

/// Publishes `files` as rule set `name` (the `publish` above is `desk`'s).
async fn publish_as(app: &TestApp, name: &'static str, files: &RevisionFiles) -> String {
    let (store, files) = (store(app), files.clone());
    tokio::task::spawn_blocking(move || {
        let revision = lookout::fleet::Revision {
            ruleset: name,
            files: &files,
            author: "ops",
            message: "test",
            action: "cli",
        };
        lookout::fleet::publish(&store, revision, None, &Defaults::default())
            .unwrap()
            .version
    })
    .await
    .unwrap()
}

async fn retire(app: &TestApp, name: &'static str) -> Result<lookout::store::Published, String> {
    let store = store(app);
    tokio::task::spawn_blocking(move || {
        lookout::fleet::retire(&store, name, "ops", "moved").map_err(|e| e.to_string())
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_retired_rule_set_is_served_nowhere_until_it_is_published_again() {
    let pg = PgServer::start();
    let a = member(&pg.url, &[], false).await;
    let b = member(&pg.url, &[], false).await;
    let v1 = publish(&a, &files(V1), "cli").await;
    publish_as(&a, "ops", &files(&[("r.rhai", "info(\"ops\");")])).await;
    all_serve(&[&a, &b], &v1).await;
    let started = start_candidate(&a, "info(\"a candidate\");").await;
    assert_eq!(started.status(), 201);

    let record = retire(&a, "desk").await.unwrap();
    assert_eq!(record.previous_version, v1);
    // Within the spread, no instance serves it; the other rule set is untouched and
    // every instance stays ready.
    for app in [&a, &b] {
        eventually(SPREAD + Duration::from_millis(500), || async {
            app.post_hook("desk", b"{}", None).await.status() == 404
        })
        .await;
        assert_eq!(app.post_hook("ops", b"{}", None).await.status(), 200);
        eventually(SPREAD, || async { readyz(app, false).await.0 == 200 }).await;
        let (_, admin) = readyz(app, true).await;
        assert!(admin["current_revisions"].get("desk").is_none(), "{admin}");
        assert!(admin["rulesets"].get("desk").is_none(), "{admin}");
    }
    assert_eq!(
        readyz(&a, false).await.1["rules_digest"],
        readyz(&b, false).await.1["rules_digest"]
    );
    // Its running candidate ended with it.
    let candidates = a.api_get("/admin/api/candidates?ruleset=desk", TOKEN).await;
    assert_eq!(candidates[0]["outcome"], "retired", "{candidates}");
    // Retiring it again, or a rule set never published, is refused.
    for name in ["desk", "nothing"] {
        let refused = retire(&a, name).await.unwrap_err();
        assert!(refused.contains("is not served by the fleet"), "{refused}");
    }
    // The retiring revision cannot be rolled back to: it has no files.
    let response = a
        .client
        .post(a.url("/admin/api/rollback"))
        .bearer_auth(TOKEN)
        .json(&json!({"ruleset": "desk", "to": record.id, "message": "undo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("retired the rule set"),
        "{error}"
    );

    // With every rule set retired the fleet serves none and stays ready (its port event
    // intake needs no rule set). (This one by the API the Fleet page's form uses; a
    // reason is required.)
    let retire_api = |message: &str| {
        a.client
            .post(a.url("/admin/api/rulesets/ops/retire"))
            .bearer_auth(TOKEN)
            .json(&json!({ "message": message }))
            .send()
    };
    assert_eq!(retire_api(" ").await.unwrap().status(), 400);
    let response = retire_api("ops moved too").await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ruleset"], "ops", "{body}");
    assert_eq!(retire_api("again").await.unwrap().status(), 409);
    eventually(SPREAD, || async {
        b.post_hook("ops", b"{}", None).await.status() == 404
    })
    .await;
    let (status, admin) = readyz(&b, true).await;
    assert_eq!(status, 200, "{admin}");
    assert_eq!(admin["current_revisions"], json!({}), "{admin}");
    // The Fleet page lists what is retired; an instance serving none of it is current.
    eventually(Duration::from_secs(10), || async {
        let list = a.api_get("/admin/api/instances", TOKEN).await;
        list["retired"] == json!(["desk", "ops"])
            && list["instances"]
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["current"] == true && i["serving"] == json!({}))
    })
    .await;
    assert!(a
        .page_as("/admin/fleet", TOKEN)
        .await
        .contains("Retired (served by no instance until published again): desk, ops."));
    // One that still serves a retired rule set (an old lookout, say) is not current.
    read(&a, |s| {
        let now = lookout::clock::now_micros();
        s.report_instance(&lookout::store::Instance {
            name: "stale:1".into(),
            started_at: now,
            seen_at: now,
            serving: json!({"desk": "0123456789abcdef"}),
            problems: vec![],
        })
        .unwrap()
    })
    .await;
    let list = a.api_get("/admin/api/instances", TOKEN).await;
    let stale = list["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "stale:1")
        .unwrap()
        .clone();
    assert_eq!(stale["current"], false, "{list}");

    // Published again: served everywhere, ready.
    let v2 = publish(&a, &files(V2), "cli").await;
    all_serve(&[&a, &b], &v2).await;
    eventually(SPREAD, || async { readyz(&b, false).await.0 == 200 }).await;
    let actions: Vec<String> = read(&a, |s| s.published("desk").unwrap())
        .await
        .into_iter()
        .map(|p| p.action)
        .collect();
    assert_eq!(actions, ["cli", "retire", "cli"]);

    // The Fleet page offers it to a publisher; its form retires it and comes back.
    let page = a.page_as("/admin/fleet", TOKEN).await;
    assert!(
        page.contains(r#"action="/admin/fleet/rulesets/desk/retire""#),
        "{page}"
    );
    let response = plain_client(&a)
        .post(a.url("/admin/fleet/rulesets/desk/retire"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("message=the+desk+moved+again")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/admin/fleet");
    eventually(SPREAD, || async {
        b.post_hook("desk", b"{}", None).await.status() == 404
    })
    .await;

    // An instance serving its rules folder has no fleet to retire from: it says what to do.
    let single = spawn_app_with(&[("desk", V1)], |c| {
        c.admin_token = Some(lookout::secrets::AdminToken::new(TOKEN));
    })
    .await;
    let response = single
        .client
        .post(single.url("/admin/api/rulesets/desk/retire"))
        .bearer_auth(TOKEN)
        .json(&json!({"message": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("remove its folder"),
        "{error}"
    );
}

const LIVE: &[(&str, &str)] = &[(
    "tce.rhai",
    "let tce = get(estimate, \"tce\", 0); if tce < 10000 { warning(\"TCE below 10,000\").key(\"floor\"); }",
)];

async fn start_candidate(app: &TestApp, rule: &str) -> reqwest::Response {
    app.client
        .post(app.url("/admin/api/candidates"))
        .bearer_auth(TOKEN)
        .json(&json!({"ruleset": "desk", "files": {"tce.rhai": rule}, "message": "try a higher floor"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_candidate_runs_after_the_answer_and_its_differences_are_summed_up() {
    let pg = PgServer::start();
    let app = member(&pg.url, &[("desk", LIVE)], true).await;
    let live_version = served(&app).await.0;
    let higher = "let tce = get(estimate, \"tce\", 0); if tce < 12000 { warning(\"TCE below 12,000\").key(\"floor\"); } info(\"checked by the candidate\");";
    let response = start_candidate(&app, higher).await;
    assert_eq!(response.status(), 201);
    let started: Value = response.json().await.unwrap();
    let id = started["id"].as_str().unwrap().to_string();
    assert_eq!(started["live_version"], live_version.as_str());

    // Live answers are the live rules' only.
    let mut calls = Vec::new();
    for tce in [5000, 11000, 20000] {
        let body = format!("{{\"estimateID\": \"E-{tce}\", \"tce\": {tce}}}");
        let response = app.post_hook("desk", body.as_bytes(), None).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["x-lookout-rules-version"],
            live_version.as_str()
        );
        let id = call_id(&response);
        let alerts: Value = response.json().await.unwrap();
        assert!(!alerts.to_string().contains("candidate"), "{alerts}");
        calls.push(id);
    }
    let summary = || async {
        app.api_get("/admin/api/candidates?ruleset=desk", TOKEN)
            .await[0]["summary"]
            .clone()
    };
    eventually(Duration::from_secs(5), || async {
        summary().await["calls"] == 3
    })
    .await;
    let s = summary().await;
    // 5000: the warning's message changed (same rule and key: same GUID) and an info
    // added; 11000: a warning and an info added; 20000: an info added.
    assert_eq!(s["changed"], 3, "{s}");
    assert_eq!(s["added"], 4, "{s}");
    assert_eq!(s["altered"], 1, "{s}");
    assert_eq!(s["removed"], 0, "{s}");
    assert_eq!(s["errors"], 0, "{s}");
    // The calls behind a number, one click away.
    let altered = app
        .api_get(
            &format!("/admin/api/candidates/{id}/calls?kind=altered"),
            TOKEN,
        )
        .await;
    let altered: Vec<&str> = altered["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(altered, [calls[0].as_str()]);
    let page = app.page_as("/admin/fleet", TOKEN).await;
    assert!(
        page.contains(&format!("/admin/fleet/candidates/{id}?kind=altered")),
        "{page}"
    );
    let list = app
        .page_as(&format!("/admin/fleet/candidates/{id}?kind=added"), TOKEN)
        .await;
    assert!(
        calls
            .iter()
            .all(|c| list.contains(&format!("/admin/calls/{c}"))),
        "{list}"
    );
    // The candidate's answer beside each call.
    assert!(list.contains("TCE below 12,000"), "{list}");
    assert!(list.contains("checked by the candidate"), "{list}");
    let bad = app
        .client
        .get(app.url(&format!("/admin/api/candidates/{id}/calls?kind=nope")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    // Promote: the candidate's files are the live revision, on every instance.
    let promoted = app
        .client
        .post(app.url(&format!("/admin/api/candidates/{id}/promote")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(promoted.status(), 200, "{}", promoted.text().await.unwrap());
    let candidate_version = started["version"].as_str().unwrap().to_string();
    all_serve(&[&app], &candidate_version).await;
    let ended = app
        .api_get(&format!("/admin/api/candidates/{id}"), TOKEN)
        .await;
    assert_eq!(ended["outcome"], "promoted");
    assert_eq!(app.api_get("/admin/api/candidates", TOKEN).await, json!([]));

    // Discard: stopped once; a second time is a conflict.
    let response = start_candidate(&app, "info(\"x\");").await;
    let other: Value = response.json().await.unwrap();
    let other = other["id"].as_str().unwrap();
    let discard = || async {
        app.client
            .post(app.url(&format!("/admin/api/candidates/{other}/discard")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(discard().await, 204);
    assert_eq!(discard().await, 409);
}

#[tokio::test]
async fn shadow_runs_never_delay_an_answer_and_are_dropped_and_counted_under_load() {
    let pg = PgServer::start();
    let url = pg.url.clone();
    let app = spawn_app_with(&[("desk", LIVE)], move |c| {
        c.store_url = Some(url);
        c.admin_token = Some(lookout::secrets::AdminToken::new(TOKEN));
        c.shadow.queue = 1;
    })
    .await;
    // A candidate that takes its whole budget (2 s) on every call.
    let slow = "let t = timestamp(); while t.elapsed < 1.5 { } info(\"slow\");";
    let response = start_candidate(&app, slow).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let sent = 12;
    for n in 0..sent {
        let started = Instant::now();
        let body = format!("{{\"estimateID\": \"E-{n}\", \"tce\": 1}}");
        let response = app.post_hook("desk", body.as_bytes(), None).await;
        assert_eq!(response.status(), 200);
        // Not a speed target: the answer does not wait for the candidate's 1.5 s.
        assert!(
            started.elapsed() < Duration::from_millis(1000),
            "{:?}",
            started.elapsed()
        );
    }
    let count = |text: &str, line: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(line))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    // Every call is run once or dropped and counted: the queue holds one, the CPU share
    // (a quarter of a core) allows one 1.5 s run, then drops until the window turns.
    eventually(Duration::from_secs(10), || async {
        let m = app.metrics().await;
        let runs = count(&m, "lookout_shadow_runs_total ");
        let dropped = count(&m, "lookout_shadow_dropped_total{reason=\"queue_full\"}")
            + count(&m, "lookout_shadow_dropped_total{reason=\"cpu_share\"}");
        runs + dropped == sent
    })
    .await;
    let m = app.metrics().await;
    assert!(
        count(&m, "lookout_shadow_dropped_total{reason=\"queue_full\"}") > 0,
        "{m}"
    );
    assert!(count(&m, "lookout_shadow_runs_total ") >= 1, "{m}");
}

#[tokio::test]
async fn word_of_a_revision_comes_by_notification_not_by_polling() {
    let pg = PgServer::start();
    let url = pg.url.clone();
    tokio::task::spawn_blocking(move || {
        use lookout::store::Backend;
        let listener = lookout::store::postgres::Postgres::open(&url).unwrap();
        let publisher = lookout::store::postgres::Postgres::open(&url).unwrap();
        // The first wait only starts listening (and says to read the store).
        assert!(listener
            .wait_for_revision(Duration::from_millis(10))
            .unwrap());
        assert!(!listener
            .wait_for_revision(Duration::from_millis(50))
            .unwrap());
        let record = lookout::store::Published {
            id: lookout::ids::new_id().to_string(),
            ruleset: "desk".into(),
            version: "v1".into(),
            previous_version: String::new(),
            author: "ops".into(),
            at: 1,
            message: "m".into(),
            action: "cli".into(),
            files: json!({}),
            seq: 0,
        };
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            publisher.record_published(&record).unwrap();
        });
        let started = Instant::now();
        assert!(listener.wait_for_revision(Duration::from_secs(30)).unwrap());
        // Word, not the end of the wait.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        sender.join().unwrap();
    })
    .await
    .unwrap();
}
