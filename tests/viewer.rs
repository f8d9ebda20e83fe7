//! The log viewer (/admin) and the workbench (/admin/rules) driven in a real headless
//! Chromium (Debian's `chromium`, through playwright-core: `tests/browser/viewer.mjs` and
//! `workbench.mjs`) against the real server over real TLS. The viewer: 401 without the
//! token, log in, filter, open a call and see its cards, replay before and after a rule
//! edit, the port events (list, a container filter, an event and its links), long
//! unbroken values (a rule set name, a header, an estimate id, event keys) that must not
//! widen any page at 390 px or 1280 px, 401 again. The workbench: an author's syntax error
//! at its line, a tried draft's changed card, tests, a saved draft; a publisher's publish
//! live on the next call, and a rollback; a viewer refused. Screenshots land in
//! `target/viewer-screenshots/` (the 390 px ones are `narrow-*.png`, the workbench's
//! `workbench-*.png`).
//!
//! Needs Debian's `chromium` and `libnss3-tools`, and `npm ci --prefix tests/browser`:
//! `scripts/test` installs them. Without them this test fails (it never skips).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// A header the desk rule set redacts (`redact_headers`): the viewer must never show it.
const IMOS_TOKEN: &str = "imos-api-token-that-must-not-be-shown-5e2a";
const TOKEN: &str = "viewer-test-admin-token-6c1f0a9e2b7d4c3a8e5f";
const KEY: &str = "viewer-test-api-key-0b9d8c7e6f5a4b3c2d1e0f9a8b7c";
const PORTCONNECT_TOKEN: &str = "viewer-test-portconnect-token-2d7f4b9e";
const OCTOPI_SECRET: &str = "viewer-test-octopi-secret-8c3a5e1f";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The node process's whole run, browser included.
const BROWSER_LIMIT: Duration = Duration::from_secs(120);

const SPEED_RULE: &str = r#"// The laden speed is above the charter party's warranty.
let speed = estimate.speed ?? 0;
if speed > 12.5 {
    error("Laden speed is above the charter party warranty (VERSION); slow down or check the CP")
        .field("Speed (kn)", speed)
        .field("Warranted (kn)", 12.5)
        .link("https://desk.example.com/cp/speed-warranty")
        .mutation(#{ estimateItineraries: #{ speed: 12.5 } })
        .key("cp-speed");
}
"#;

const BOOM_RULE: &str = r#"// Fails on purpose when the estimate asks for it: the trace shows the error.
let asked = estimate.boom ?? false;
if asked {
    throw "boom requested by the test";
}
"#;

const CHARTERER_RULE: &str = r#"// A charterer that is not on the approved list.
let charterer = estimate.charterer ?? "";
if charterer != "" {
    warning(`Charterer ${charterer} is not on the approved list; ask Compliance`)
        .field("Charterer", charterer)
        .key("charterer");
}
"#;

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Fails (never skips) when what the browser test needs is missing.
fn preflight() {
    let mut missing = Vec::new();
    if !Path::new(CHROMIUM).exists() {
        missing.push(format!("{CHROMIUM} (Debian package chromium)"));
    }
    if Command::new("node")
        .arg("--version")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        missing.push("node (Node.js 18 or later)".to_string());
    }
    if Command::new("certutil")
        .arg("-H")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        missing.push("certutil (Debian package libnss3-tools)".to_string());
    }
    let lock: Value =
        serde_json::from_slice(&std::fs::read(browser_dir().join("package-lock.json")).unwrap())
            .unwrap();
    let want = lock["packages"]["node_modules/playwright-core"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    let have = std::fs::read(browser_dir().join("node_modules/playwright-core/package.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["version"].as_str().map(str::to_string));
    if have.as_deref() != Some(want.as_str()) {
        missing.push(format!(
            "tests/browser/node_modules/playwright-core {want} (found {})",
            have.as_deref().unwrap_or("none")
        ));
    }
    assert!(
        missing.is_empty(),
        "the viewer's browser test needs: {}; run scripts/test, which installs them \
         (Debian's chromium and libnss3-tools, then npm ci --prefix tests/browser)",
        missing.join(", ")
    );
}

fn screenshot_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("viewer-screenshots")
}

fn estimate(id: &str, vessel: &str, extra: Value) -> Vec<u8> {
    let mut e = json!({ "estimateID": id, "vesselName": vessel });
    e.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::to_vec_pretty(&e).unwrap()
}

async fn rules_version(app: &TestApp, set: &str) -> Option<String> {
    let ready: Value = app
        .client
        .get(app.url("/readyz"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    ready["rulesets"][set]["version"]
        .as_str()
        .map(str::to_string)
}

/// The ids of the events an events API listing gives, in its order.
async fn listed_events(app: &TestApp, query: &str) -> Vec<Value> {
    let listed: Value = app
        .api_get(&format!("/admin/api/events?{query}"), TOKEN)
        .await;
    listed["events"].as_array().unwrap().clone()
}

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

/// Port events as PortConnect and Octopi send them: PortConnect's own three-event
/// example (GATEIN at NZAKL for KOTA LOCENG), a later LOAD of one of its containers, and
/// an Octopi event whose name Octopi does not document. Returns what the browser must
/// see (the order is the API's, which tests/admin.rs checks against the times sent).
async fn send_port_events(app: &TestApp) -> Value {
    let doc = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/portconnect-doc-example.json"),
    )
    .unwrap();
    let r = app.post_portconnect(PORTCONNECT_TOKEN, &doc).await;
    assert_eq!(r.status(), 200);
    let mut load: Vec<Value> = serde_json::from_slice(&doc).unwrap();
    load.truncate(1);
    load[0]["containerVisitEventTypeCode"] = json!("LOAD");
    load[0]["containerVisitEventDatetime"] = json!("2019-06-21T08:15:00+12:00");
    load[0]["containerVisitEventValue"] = json!("Vessel");
    let r = app
        .post_portconnect(PORTCONNECT_TOKEN, &serde_json::to_vec(&load).unwrap())
        .await;
    assert_eq!(r.status(), 200);
    let crane = json!({
        "event_type": "Crane Moved", "occurred_at": "2019-06-17T00:00:00Z",
        "terminal": {"locode": "NZTRG"}, "crane": {"id": "STS-04", "to_bay": 12}
    });
    let r = app
        .post_octopi(
            OCTOPI_SECRET,
            "Crane Moved",
            "5b0d2c1e-8f3a-4e6b-9d2c-7a1e0f4b3c21",
            crane.to_string().as_bytes(),
        )
        .await;
    assert_eq!(r.status(), 200);
    // Long unbroken keys and values (issue 12, finding 17): an event name, a container, a
    // vessel name and a port past any real one, and a long string in the payload.
    let long_type = format!("Reefer{}", "q".repeat(200));
    let long = json!({
        "event_type": long_type, "occurred_at": "2019-06-16T00:00:00Z",
        "container": {"number": "C".repeat(300)},
        "vessel": {"name": "V".repeat(300)},
        "terminal": {"locode": "P".repeat(300)},
        "note": "n".repeat(3000),
    });
    let r = app
        .post_octopi(
            OCTOPI_SECRET,
            &long_type,
            "9c4e1a7b-2d3f-4b5a-8c6d-0e1f2a3b4c5d",
            long.to_string().as_bytes(),
        )
        .await;
    assert_eq!(r.status(), 200);

    let all = listed_events(app, "").await;
    assert_eq!(all.len(), 6, "{all:?}");
    let by_container = listed_events(app, "container=APHU6303593").await;
    assert_eq!(by_container.len(), 2, "the GATEIN and the LOAD");
    let by_vessel = listed_events(app, "vessel=9628336").await;
    assert_eq!(by_vessel.len(), 4, "all but the crane");
    let open = by_container
        .iter()
        .find(|e| e["event"] == "GATEIN")
        .unwrap();
    let unknown: Vec<Value> = all
        .iter()
        .filter(|e| {
            e["event"] == "crane_moved" || e["event"].as_str().unwrap().starts_with("reefer")
        })
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(unknown.len(), 2, "{all:?}");
    let long = all
        .iter()
        .find(|e| e["event"].as_str().unwrap().starts_with("reefer"))
        .unwrap();
    json!({
        "all": ids(&all),
        "unknown": unknown,
        "long": { "id": long["id"], "container": "C".repeat(300) },
        "container": "aphu 630359-3",
        "byContainer": ids(&by_container),
        "byVessel": ids(&by_vessel),
        "open": {
            "id": open["id"],
            "event": "GATEIN",
            "payloadText": ["\"containerNumber\": \"APHU6303593\"", "\"bookingReference\": \"ACD0764410\""],
            "containerLink": "/admin/events?container=APHU6303593",
            "vesselLink": "/admin/events?vessel=9628336",
            "portLink": "/admin/events?port=NZAKL",
        },
    })
}

/// Kills the node process and the Chromium it started (its own process group) unless it
/// has ended.
struct Browser {
    child: Child,
    done: bool,
}

impl Browser {
    fn kill(&mut self) {
        if !self.done {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .status();
            let _ = self.child.wait();
            self.done = true;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `tests/browser/<script>` with `config` as its argument, in its own process group,
/// within [`BROWSER_LIMIT`]. Each stdout line but `screenshot <path>` goes to `on_line`,
/// whose answer (if any) is written to the script's stdin. Panics with the script's
/// `FAILED` lines unless it succeeds; returns the screenshots it took.
async fn run_browser<F, Fut>(script: &str, config: Value, mut on_line: F) -> Vec<PathBuf>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Option<&'static [u8]>>,
{
    let mut command = Command::new("node");
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg(browser_dir().join(script))
        .arg(config.to_string())
        .env(
            "LOOKOUT_VIEWER_TIMEOUT_MS",
            (BROWSER_LIMIT.as_millis() * 9 / 10).to_string(),
        )
        .env(
            "LOOKOUT_WORKBENCH_TIMEOUT_MS",
            (BROWSER_LIMIT.as_millis() * 9 / 10).to_string(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut browser = Browser {
        child: command.spawn().expect("node starts"),
        done: false,
    };
    let mut stdin = browser.child.stdin.take().unwrap();
    let stdout = browser.child.stdout.take().unwrap();
    let mut stderr = browser.child.stderr.take().unwrap();
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = tokio::time::Instant::now() + BROWSER_LIMIT;
    let mut screenshots = Vec::new();
    loop {
        let line = match tokio::time::timeout_at(deadline, lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(_) => {
                browser.kill();
                panic!(
                    "{script} did not finish within {BROWSER_LIMIT:?}; killed it. Its output:\n{}",
                    errors.join().unwrap()
                );
            }
        };
        if let Some(path) = line.strip_prefix("screenshot ") {
            screenshots.push(PathBuf::from(path));
        } else if let Some(reply) = on_line(line).await {
            stdin.write_all(reply).unwrap();
            stdin.flush().unwrap();
        }
    }
    let status = browser.child.wait().unwrap();
    browser.done = true;
    let output = errors.join().unwrap();
    eprintln!("{output}");
    for shot in &screenshots {
        eprintln!("screenshot: {}", shot.display());
    }
    assert!(
        status.success(),
        "{script} failed ({status}):\n{}",
        output
            .lines()
            .filter(|l| l.starts_with("FAILED"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    screenshots
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_in_headless_chromium_logs_in_filters_shows_cards_and_replays() {
    preflight();
    let _one = ONE_BROWSER.lock().await;

    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("ops.key");
    std::fs::write(&key_file, KEY).unwrap();
    let ops_toml = format!("api_keys = [\"file:{}\"]\n", key_file.display());
    let speed_v1 = SPEED_RULE.replace("VERSION", "v1");
    let app = spawn_app_with(
        &[
            (
                "desk",
                &[
                    ("speed.rhai", speed_v1.as_str()),
                    ("boom.rhai", BOOM_RULE),
                    ("ruleset.toml", "redact_headers = [\"x-imos-api-token\"]\n"),
                ],
            ),
            (
                "ops",
                &[
                    ("charterer.rhai", CHARTERER_RULE),
                    ("ruleset.toml", ops_toml.as_str()),
                ],
            ),
        ],
        |config| {
            config.admin_token = Some(lookout::secrets::AdminToken::new(TOKEN));
            config.events.portconnect_tokens =
                vec![lookout::signature::ApiKey::new(PORTCONNECT_TOKEN)];
            config.events.octopi.secrets = vec![lookout::signature::ApiKey::new(OCTOPI_SECRET)];
        },
    )
    .await;

    // Real calls, one after the other (the list is newest first).
    let mut all = Vec::new();
    let aurora = estimate("EST-1001", "MV Aurora Viewer", json!({ "speed": 14.2 }));
    // As the Estimator sends it: JSON, the analyst, and an IMOS token that is redacted.
    let r = app
        .client
        .post(app.url("/hooks/desk"))
        .header("content-type", "application/json")
        .header("x-imos-user", "analyst@desk.example.com")
        .header("x-imos-api-token", IMOS_TOKEN)
        .body(aurora)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let open = call_id(&r);
    all.push(open.clone());
    let r = app
        .post_hook(
            "desk",
            &estimate("EST-1002", "MV Borealis Viewer", json!({ "speed": 13.1 })),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let borealis = call_id(&r);
    all.push(borealis.clone());
    let r = app
        .post_hook(
            "desk",
            &estimate(
                "EST-1003",
                "MV Cassiopeia Viewer",
                json!({ "speed": 11.0, "boom": true }),
            ),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let failed = call_id(&r);
    all.push(failed.clone());
    let signed_body = estimate(
        "EST-2001",
        "MV Dorado Viewer",
        json!({ "charterer": "Acme Freight" }),
    );
    let signature = sign(KEY, &signed_body);
    let r = app.post_hook("ops", &signed_body, Some(KEY)).await;
    assert_eq!(r.status(), 200);
    let signed = call_id(&r);
    all.push(signed.clone());
    let r = app
        .post_hook(
            "ops",
            &estimate(
                "EST-2002",
                "MV Eridanus Viewer",
                json!({ "charterer": "Nobody" }),
            ),
            None,
        )
        .await;
    assert_eq!(r.status(), 401);
    let unsigned = call_id(&r);
    all.push(unsigned.clone());
    // Long unbroken values (issue 12, finding 17) must wrap or scroll in their own box and
    // never widen a page: a rule set name far past what is kept (the log keeps 128
    // characters of it, the error quotes 64), and a call with a long header value and long
    // strings in its body (request and response panes).
    let long_name = "x".repeat(300);
    let r = app
        .client
        .post(app.url(&format!("/hooks/{long_name}")))
        .header("content-type", "application/json")
        .body(estimate("EST-3001", "MV Nowhere Viewer", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let long_ruleset = call_id(&r);
    all.push(long_ruleset.clone());
    let long_header = "h".repeat(3000);
    let long_estimate = format!("EST-{}", "4".repeat(200));
    let r = app
        .client
        .post(app.url("/hooks/desk"))
        .header("content-type", "application/json")
        .header("x-long-header", long_header.as_str())
        .body(estimate(
            &long_estimate,
            &format!("MV {}", "W".repeat(400)),
            json!({ "remarks": "r".repeat(2000), "speed": 15.5 }),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let long_values = call_id(&r);
    all.push(long_values.clone());

    // Wait until the log has them all (recording is off the answer's path).
    eventually(Duration::from_secs(15), || async {
        let response = app
            .client
            .get(app.url("/admin/api/calls"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let text = response.text().await.unwrap();
        all.iter().all(|id| text.contains(id.as_str()))
    })
    .await;

    let events = send_port_events(&app).await;

    let message_v1 =
        "Laden speed is above the charter party warranty (v1); slow down or check the CP";
    let message_v2 = message_v1.replace("(v1)", "(v2)");
    let expect = json!({
        "all": all,
        "secrets": [open, borealis, failed, signed, unsigned, "MV Aurora Viewer", "Acme Freight", message_v1,
            "APHU6303593", "KOTA LOCENG", events["open"]["id"]],
        "events": events,
        "filters": {
            "ruleset": "desk",
            "byRuleset": [open, borealis, failed, long_values],
            "byRulesetProblems": [failed],
            "problems": [failed, unsigned, long_ruleset],
            "text": "Borealis",
            "byText": [borealis],
        },
        "open": {
            "id": open,
            "bodyText": "MV Aurora Viewer",
            "headers": [["content-type", "application/json"], ["x-imos-user", "analyst@desk.example.com"]],
            "hidden": [IMOS_TOKEN],
            "rules": ["boom", "speed"],
            "cards": [{
                "alertType": "Error",
                "message": message_v1,
                "fields": [["Speed (kn)", "14.2"], ["Warranted (kn)", "12.5"]],
                "link": "https://desk.example.com/cp/speed-warranty",
                "mutation": ["speed", "12.5"],
            }],
        },
        "signed": {
            "id": signed,
            "signature": signature,
            "cards": [{
                "alertType": "PermanentWarning",
                "message": "Charterer Acme Freight is not on the approved list; ask Compliance",
                "fields": [["Charterer", "Acme Freight"]],
            }],
        },
        "failed": {
            "id": failed,
            "traceText": ["boom", "boom requested by the test"],
            // The throw is on line 4 of boom.rhai.
            "traceLine": r"(line:? ?4\b|\b4:\d+|:4\b)",
        },
        "replay": { "changedText": [message_v2] },
        "long": {
            // What each page must show of the long values (so they are there to wrap).
            "ruleset": long_ruleset,
            "rulesetText": "x".repeat(128),
            "values": long_values,
            "header": long_header,
            "estimate": long_estimate,
            "event": events["long"],
            // Every viewer page is checked at these widths (CSS px); screenshots at the first.
            "widths": [390, 1280],
        },
    });

    let shots = screenshot_dir();
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let config = json!({
        "base": app.url(""),
        "token": TOKEN,
        "ca": app.dir.path().join("certs/ca.pem"),
        "shots": shots,
        "expect": expect,
    });

    let edited = std::cell::Cell::new(false);
    run_browser("viewer.mjs", config, |line| {
        let (app, edited) = (&app, &edited);
        async move {
            if line != "edit-rules" {
                eprintln!("node: {line}");
                return None;
            }
            // Edit the rule on disk; the server reloads it; tell the browser when it serves it.
            let before = rules_version(app, "desk").await;
            std::fs::write(
                app.rules_dir("desk").join("speed.rhai"),
                SPEED_RULE.replace("VERSION", "v2"),
            )
            .unwrap();
            eventually(Duration::from_secs(10), || async {
                let now = rules_version(app, "desk").await;
                now.is_some() && now != before
            })
            .await;
            edited.set(true);
            Some(&b"rules-edited\n"[..])
        }
    })
    .await;
    assert!(
        edited.get(),
        "the browser test never asked for the rule edit"
    );
    for name in [
        "list",
        "list-filtered",
        "call",
        "call-warning",
        "replay-changed",
        "events",
        "events-filtered",
        "event",
        "narrow-list",
        "narrow-call-long-ruleset",
        "narrow-call-long-values",
        "narrow-replay-long-values",
        "narrow-events",
        "narrow-event-long",
        "narrow-list-bad-filter",
        "narrow-call-unknown",
    ] {
        let file = shots.join(format!("{name}.png"));
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 1000,
            "no screenshot at {}",
            file.display()
        );
    }
    app.stopper.stop();
}

/// One browser test at a time in this binary: each starts a server and a Chromium, and
/// the machine may have two cores.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const WB_AUTHOR: &str = "workbench-author-token-4b8e1c7a2d9f";
const WB_PUBLISHER: &str = "workbench-publisher-token-7e2a9c4b1d6f";
const WB_VIEWER: &str = "workbench-viewer-token-1c9e4a7b2f8d";
const WB_RULE: &str = "// Laden speed over the warranty.\nlet speed = estimate.speed ?? 0;\nif speed > 12.5 {\n    warning(\"Laden speed is above the warranty\").key(\"speed\");\n}\n";

/// The workbench (issue 15) in headless Chromium (`tests/browser/workbench.mjs`): an
/// author edits a rule, sees a syntax error at its line, tries the fixed draft on a
/// logged call and sees the changed card, runs the tests and saves the draft (no publish
/// button); a publisher writes a new rule and its test from nothing in the page, runs the
/// tests and publishes, and the next webhook call is answered by it; they roll back, and
/// the call is answered as before; they run a change as a candidate on three live calls,
/// read its difference on the Fleet page and the calls behind it, and promote it (the next
/// call is answered by it); an author sees the Fleet page without promote/discard; a
/// viewer is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workbench_in_headless_chromium_edits_tries_tests_publishes_and_tries_a_candidate() {
    preflight();
    let _one = ONE_BROWSER.lock().await;
    use lookout::secrets::{AdminToken, Role, UserAccount};
    let app = spawn_app_with(
        &[(
            "desk",
            &[
                ("ruleset.toml", "identity = [\"/estimateID\"]\n"),
                ("speed.rhai", WB_RULE),
                ("data/ports.csv", "port,max_draft_m\nSANTOS,12.5\nRIO GRANDE,\"11,9\"\n"),
                (
                    "tests/fast.json",
                    r#"{"estimate": {"estimateID": "T", "speed": 14}, "rules": ["speed"], "expect": {"count": 1}}"#,
                ),
            ],
        )],
        |config| {
            config.admin_token = Some(AdminToken::new(TOKEN));
            let user = |name: &str, role, token: &str| UserAccount {
                name: name.into(),
                role,
                token: AdminToken::new(token),
            };
            config.users = vec![
                user("apatel", Role::Author, WB_AUTHOR),
                user("jlee", Role::Publisher, WB_PUBLISHER),
                user("vera", Role::Viewer, WB_VIEWER),
            ];
        },
    )
    .await;
    let body = estimate("EST-WB-1", "MV Workbench", json!({ "speed": 14 }));
    let answer = |app: &TestApp| {
        let (client, url, body) = (app.client.clone(), app.url("/hooks/desk"), body.clone());
        async move {
            let r = client.post(url).body(body).send().await.unwrap();
            let messages: Vec<String> = r
                .json::<Value>()
                .await
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["message"].as_str().unwrap().to_string())
                .collect();
            messages
        }
    };
    let r = app.post_hook("desk", &body, None).await;
    let call = call_id(&r);
    app.recorded(&call).await;
    let before = answer(&app).await;
    assert_eq!(before, ["Laden speed is above the warranty"]);

    let new_message = "Laden speed is over the C/P speed";
    let fixed = WB_RULE
        .replace("12.5", "13")
        .replace("above the warranty", "over the C/P speed");
    let shots = screenshot_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let config = json!({
        "base": app.url(""),
        "ca": app.dir.path().join("certs/ca.pem"),
        "shots": shots,
        "author": WB_AUTHOR,
        "publisher": WB_PUBLISHER,
        "viewer": WB_VIEWER,
        "expect": {
            "ruleset": "desk",
            "call": call,
            "ruleMarker": "Laden speed over the warranty",
            "broken": "// Laden speed over the warranty.\nlet speed = ;\n",
            "brokenAt": "speed.rhai:2:",
            "fixed": fixed,
            "newMessage": new_message,
            "testSummary": "1 passed, 0 failed",
            "dataFile": "data/ports.csv",
            "newRule": {"file": "eta_check.rhai", "source": "info(\"ETA checked\").key(\"eta\");\n"},
            "newTest": {"file": "tests/eta.json", "source": "{\"estimate\": {\"speed\": 1}, \"rules\": [\"eta_check\"], \"expect\": {\"count\": 1}}\n"},
        },
    });
    // The browser says what it did on stdout; each line is checked here against the
    // webhook's answers (and, for the candidate, its shadow runs) before it goes on.
    let seen = std::cell::RefCell::new(Vec::<String>::new());
    run_browser("workbench.mjs", config, |line| {
        let (app, seen, answer, before) = (&app, &seen, &answer, &before);
        async move {
            match line.as_str() {
                "published" => {
                    // The publisher's draft is live: the next call is answered by it, the
                    // new rule (file-name order) first.
                    assert_eq!(answer(app).await, ["ETA checked", new_message]);
                    assert!(app.rules_dir("desk").join("tests/eta.json").exists());
                    let on_disk =
                        std::fs::read_to_string(app.rules_dir("desk").join("speed.rhai")).unwrap();
                    assert!(on_disk.contains("speed > 13"), "{on_disk}");
                }
                "rolled back" => {
                    // Answered as before the publish; the new rule and test are gone.
                    assert_eq!(&answer(app).await, before);
                    assert!(!app.rules_dir("desk").join("eta_check.rhai").exists());
                    assert!(!app.rules_dir("desk").join("tests/eta.json").exists());
                }
                "candidate" => {
                    // Three calls, answered by the live rules; the candidate runs after
                    // each answer is sent, and the Fleet page has them once recorded.
                    for _ in 0..3 {
                        assert_eq!(&answer(app).await, before);
                    }
                    eventually(Duration::from_secs(10), || async {
                        app.api_get("/admin/api/candidates?ruleset=desk", TOKEN)
                            .await[0]["summary"]["calls"]
                            == 3
                    })
                    .await;
                }
                "promoted" => {
                    assert_eq!(answer(app).await, [new_message]);
                    let running = app
                        .api_get("/admin/api/candidates?ruleset=desk", TOKEN)
                        .await;
                    assert_eq!(running[0]["outcome"], "promoted", "{running}");
                }
                _ => {
                    eprintln!("node: {line}");
                    return None;
                }
            }
            seen.borrow_mut().push(line);
            Some(&b"checked\n"[..])
        }
    })
    .await;
    assert_eq!(
        *seen.borrow(),
        ["published", "rolled back", "candidate", "promoted"],
        "the browser test stopped early"
    );
    for name in [
        "workbench-activity",
        "workbench-error",
        "workbench-try",
        "workbench-published",
        "workbench-compare",
        "workbench-fleet",
        "workbench-candidate-calls",
    ] {
        let file = shots.join(format!("{name}.png"));
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 1000,
            "no screenshot at {}",
            file.display()
        );
    }
    app.stopper.stop();
}
