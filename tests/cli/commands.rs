//! The command line, as a user runs it: the real `lookout` binary in temp folders,
//! checking output, error messages and exit codes (0 ok, 1 found a problem, 2 trouble).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn lookout(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(args)
        .current_dir(dir)
        .env_remove("LOOKOUT_RULES")
        .env("NO_COLOR", "1")
        .output()
        .expect("the lookout binary runs")
}

/// A copy of a folder tree (the shipped rules, so tests never write into the repo).
const GOOD_RULE: &str = r#"
let tce = get(estimate, "voyageResults.tce");
print(`tce is ${tce}`);
if is_number(tce) && tce < 12000 {
    warning("TCE below floor").field("TCE", format_number(tce, 0)).key("tce");
}
"#;

// ---------------------------------------------------------------- check

#[test]
fn check_passes_the_shipped_rules() {
    let out = lookout(&root(), &["check"]);
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains("ok: default ("),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn check_shows_the_error_line_with_a_caret_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        &dir.path().join("rules/desk"),
        &[
            ("good.rhai", GOOD_RULE),
            ("bad.rhai", "let x = 1;\nlet y = x +* 2;\n"),
        ],
    );
    let out = lookout(dir.path(), &["check"]);
    assert_exit(&out, 1);
    let err = text(&out.stderr);
    let path = Path::new("rules").join("desk").join("bad.rhai");
    assert!(
        err.contains(&format!("{}:2:", path.display())),
        "no path:line:col in\n{err}"
    );
    assert!(
        err.contains(" 2 | let y = x +* 2;"),
        "no source line in\n{err}"
    );
    let caret = err
        .lines()
        .find(|l| l.trim_start().starts_with('|') && l.contains('^'))
        .unwrap_or_else(|| panic!("no caret line in\n{err}"));
    let source = err.lines().find(|l| l.contains("let y = x +* 2;")).unwrap();
    let column = caret.find('^').unwrap();
    assert!(
        matches!(&source[column..column + 1], "*" | "+"),
        "caret under {:?} in\n{source}\n{caret}",
        &source[column..]
    );
    assert!(err.contains("1 error in 1 rule set"), "{err}");
}

#[test]
fn check_warns_about_keys_and_unknown_settings_without_failing() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        &dir.path().join("rules/desk"),
        &[
            ("tce.rhai", GOOD_RULE),
            (
                "ruleset.toml",
                "api_keys = [\"a-literal-key-in-the-file\"]\nbudjet_ms = 5000\n",
            ),
        ],
    );
    let out = lookout(dir.path(), &["check"]);
    assert_exit(&out, 0);
    let err = text(&out.stderr);
    assert!(err.contains("literal"), "{err}");
    assert!(
        err.contains("`budjet_ms`") && err.contains("did you mean `budget_ms`"),
        "{err}"
    );
    assert!(text(&out.stdout).contains("ok: desk (1 rule"));

    // A misspelt api_keys would leave the rule set open: that one is an error.
    write_files(
        &dir.path().join("rules/desk"),
        &[("ruleset.toml", "api_key = [\"env:LOOKOUT_KEY_DESK\"]\n")],
    );
    let out = lookout(dir.path(), &["check"]);
    assert_exit(&out, 1);
    assert!(
        text(&out.stderr).contains("did you mean `api_keys`"),
        "{}",
        text(&out.stderr)
    );
}

/// A production rule set names its key by variable; the author's tools check no
/// signature, so they work without it (a warning says so), and the server still
/// refuses the rule set's calls until it can read the key (tests/api).
#[test]
fn check_test_and_run_work_without_the_production_secrets() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        &dir.path().join("rules/desk"),
        &[
            ("tce.rhai", GOOD_RULE),
            (
                "ruleset.toml",
                "api_keys = [\"env:LOOKOUT_TEST_UNSET_KEY\"]\n",
            ),
            (
                "tests/low-tce.json",
                "{\"estimate\": {\"voyageResults\": {\"tce\": 9000}}, \"expect\": {\"count\": 1}}",
            ),
        ],
    );
    let sample = root().join("rules/samples/drybulk-single-cargo.json");
    let sample = sample.display().to_string();
    for args in [
        vec!["check"],
        vec!["test", "desk"],
        vec!["run", "desk", &sample],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_lookout"))
            .args(&args)
            .current_dir(dir.path())
            .env_remove("LOOKOUT_TEST_UNSET_KEY")
            .env_remove("LOOKOUT_RULES")
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_exit(&out, 0);
        assert!(
            err.contains("warning:")
                && err.contains("LOOKOUT_TEST_UNSET_KEY is not set")
                && err.contains("a server refuses this rule set's calls"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("accepts unsigned calls"), "{args:?}: {err}");
    }
}

#[test]
fn check_reads_the_test_files_too() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        &dir.path().join("rules/desk"),
        &[
            ("tce.rhai", GOOD_RULE),
            (
                "tests/typo.json",
                "{\"estimate\": {}, \"expect\": {\"contians\": []}}",
            ),
            (
                "tests/gone.json",
                "{\"estimate\": \"nowhere.json\", \"expect\": {}}",
            ),
        ],
    );
    let out = lookout(dir.path(), &["check"]);
    assert_exit(&out, 1);
    let err = text(&out.stderr);
    assert!(
        err.contains("typo.json:1:") && err.contains("unknown field `contians`"),
        "{err}"
    );
    assert!(err.contains("nowhere.json does not exist"), "{err}");
    assert!(err.contains("2 errors in 1 rule set"), "{err}");
}

#[test]
fn check_without_a_rules_folder_is_trouble() {
    let dir = tempfile::tempdir().unwrap();
    let out = lookout(dir.path(), &["check", "--rules", "nowhere"]);
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("nowhere does not exist"),
        "{}",
        text(&out.stderr)
    );
}

// ---------------------------------------------------------------- run

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_prints_exactly_what_the_server_answers() {
    let rules = tempfile::tempdir().unwrap();
    copy_dir(&root().join("rules/default"), &rules.path().join("default"));
    let rules_dir = rules.path().to_path_buf();
    let app = spawn_app_with(&[], |c| c.rules = rules_dir.clone()).await;

    for sample in [
        "drybulk-single-cargo.json",
        "tanker-via-canal.json",
        "broken.json",
    ] {
        let path = root().join("rules/samples").join(sample);
        let body = std::fs::read(&path).unwrap();
        let served = app.post_hook("default", &body, None).await;
        assert_eq!(served.status(), 200, "{sample}");
        let served = served.bytes().await.unwrap();

        let rules_arg = rules_dir.display().to_string();
        let path_arg = path.display().to_string();
        let out = tokio::task::spawn_blocking(move || {
            lookout(
                &root(),
                &["run", "default", &path_arg, "--rules", &rules_arg],
            )
        })
        .await
        .unwrap();
        assert_exit(&out, 0);
        assert_eq!(
            text(&out.stdout),
            format!("{}\n", text(&served)),
            "{sample}: `lookout run` and the server differ (or no newline at the end)"
        );
    }
}

#[test]
fn run_traces_each_rule_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        &dir.path().join("rules/desk"),
        &[
            ("tce.rhai", GOOD_RULE),
            (
                "boom.rhai",
                "debug(\"about to fail\");\nlet x = estimate.nope.deeper;\n",
            ),
        ],
    );
    let sample = root().join("rules/samples/drybulk-single-cargo.json");
    let out = lookout(
        dir.path(),
        &[
            "run",
            "desk",
            &sample.display().to_string(),
            "--header",
            "X-Imos-User: apatel",
        ],
    );
    // A rule failed: exit 1, said last.
    assert_exit(&out, 1);
    let err = text(&out.stderr);
    assert!(
        err.trim_end()
            .ends_with("1 rule failed or ran out of time (exit 1; --allow-errors keeps 0)"),
        "{err}"
    );
    let tce = err
        .lines()
        .find(|l| l.starts_with("rule tce "))
        .expect(&err);
    assert!(
        tce.contains(" ok ") && tce.contains(" ms ") && tce.contains(" ops "),
        "{tce}"
    );
    assert!(tce.contains("1 alert"), "{tce}");
    assert!(err.contains("  | tce is 11350.33"), "{err}");
    let boom = err
        .lines()
        .find(|l| l.starts_with("rule boom "))
        .expect(&err);
    assert!(
        boom.contains(" error ") && boom.contains("line 2"),
        "{boom}"
    );
    assert!(err.contains("about to fail"), "{err}");
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        body.as_array().unwrap().len(),
        2,
        "warning + the rule error"
    );
    // The trace counts a rule's alerts as the viewer does: those in the answer.
    assert!(boom.contains(" 1 alert "), "{boom}");

    // --allow-errors keeps exit 0; --pretty indents the same answer.
    let out = lookout(
        dir.path(),
        &[
            "run",
            "desk",
            &sample.display().to_string(),
            "--allow-errors",
            "--pretty",
        ],
    );
    assert_exit(&out, 0);
    let pretty = text(&out.stdout);
    assert!(pretty.starts_with("[\n  {\n    \""), "{pretty}");
    assert!(pretty.ends_with("]\n"), "{pretty}");
    let again: serde_json::Value = serde_json::from_str(&pretty).unwrap();
    assert_eq!(again.as_array().unwrap().len(), 2);
}

#[test]
fn run_reports_what_is_wrong_with_its_input() {
    let dir = tempfile::tempdir().unwrap();
    write_files(&dir.path().join("rules/desk"), &[("tce.rhai", GOOD_RULE)]);
    std::fs::write(dir.path().join("bad.json"), "{\n  \"a\": 1,\n  \"b\": \n}").unwrap();
    std::fs::write(dir.path().join("list.json"), "[1, 2]").unwrap();
    let sample = root().join("rules/samples/drybulk-single-cargo.json");
    let sample = sample.display().to_string();

    let out = lookout(dir.path(), &["run", "nosuch", &sample]);
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("no rule set `nosuch`")
            && text(&out.stderr).contains("there are: desk")
    );

    let out = lookout(dir.path(), &["run", "desk", "bad.json"]);
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("bad.json:4:1: not valid JSON"),
        "{}",
        text(&out.stderr)
    );

    let out = lookout(dir.path(), &["run", "desk", "list.json"]);
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("must be a JSON object"),
        "{}",
        text(&out.stderr)
    );

    let out = lookout(dir.path(), &["run", "desk", "missing.json"]);
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("cannot read the estimate missing.json"));

    let out = lookout(
        dir.path(),
        &["run", "desk", &sample, "--header", "no-colon"],
    );
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("must look like NAME:VALUE"));
}

/// `run --facts` on the shipped rules: the port rules see the events of the shipped facts
/// file, and without the file they raise nothing.
#[test]
fn run_with_facts_gives_the_shipped_port_rules_their_events() {
    let sample = "rules/samples/mpp-tauranga.json";
    let facts = "rules/default/tests/facts/tauranga.json";
    let out = lookout(&root(), &["run", "default", sample, "--facts", facts]);
    assert_exit(&out, 0);
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("facts: 13 events from {facts}")),
        "{err}"
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let messages = messages(&answer);
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(messages[0].starts_with("Container MSCU1234565 of cargo MILK POWDER"));
    assert!(messages[1].starts_with("Container APHU6303593 of cargo KIWIFRUIT"));
    assert!(messages[2].starts_with("PortConnect's ETA for TASMAN MERIDIAN at TAURANGA"));
    assert_eq!(
        answer[2]["mutation"],
        serde_json::json!({"estimateItineraries": {"arrivalDate": "2026-12-07T14:00:00+13:00"}})
    );
    for rule in ["container_hold", "port_schedule"] {
        let line = err
            .lines()
            .find(|l| l.starts_with(&format!("rule {rule} ")))
            .expect(&err);
        assert!(line.contains(" ok "), "{line}");
    }

    // Without facts the helpers find nothing: the same estimate is clean.
    let out = lookout(&root(), &["run", "default", sample]);
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout), "[]\n");
    assert!(!text(&out.stderr).contains("facts:"));
}

#[test]
fn run_says_what_is_wrong_with_a_facts_file() {
    let dir = tempfile::tempdir().unwrap();
    write_files(&dir.path().join("rules/desk"), &[("tce.rhai", GOOD_RULE)]);
    let sample = root().join("rules/samples/drybulk-single-cargo.json");
    let sample = sample.display().to_string();
    let cases: &[(&str, &str, &str)] = &[
        (
            "not JSON",
            "[{\"source\": \"octopi\",\n \"event\": }]",
            "facts.json:2:11: not valid JSON: expected value",
        ),
        (
            "not a list",
            "{\"source\": \"octopi\", \"event\": \"cargo_held\"}",
            "facts.json: facts are a JSON array of events",
        ),
        (
            "a PortConnect item without its container",
            r#"[{"source": "octopi", "event": "cargo_held"},
                {"containerVisitEventTypeCode": "GATEIN", "containerVisitEventDatetime": "2026-11-20T08:00:00+13:00"}]"#,
            "facts.json: item 1 (a PortConnect event): field \"containerNumber\": missing",
        ),
        (
            "an Octopi delivery without a name",
            r#"[{"event_type": "", "occurred_at": "2026-11-28T09:15:00+13:00"}]"#,
            "facts.json: item 0 (an Octopi delivery): \"event_type\" is empty",
        ),
        (
            "a lookout event from an unknown source",
            r#"[{"source": "navis", "event": "cargo_held"}]"#,
            "facts.json: item 0 (a lookout event): \"source\" is \"navis\"",
        ),
    ];
    for (why, facts, expected) in cases {
        std::fs::write(dir.path().join("facts.json"), facts).unwrap();
        let out = lookout(
            dir.path(),
            &["run", "desk", &sample, "--facts", "facts.json"],
        );
        assert_exit(&out, 2);
        assert!(
            text(&out.stderr).contains(expected),
            "{why}: expected {expected:?} in\n{}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{why}: no answer without the facts");
    }
    let out = lookout(
        dir.path(),
        &["run", "desk", &sample, "--facts", "missing.json"],
    );
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("cannot read the facts file missing.json"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn run_watch_runs_again_when_a_rule_changes() {
    let dir = tempfile::tempdir().unwrap();
    write_files(&dir.path().join("rules/desk"), &[("tce.rhai", GOOD_RULE)]);
    let sample = root().join("rules/samples/drybulk-single-cargo.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["run", "desk", &sample.display().to_string(), "--watch"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |what: &str| -> Vec<String> {
        let until = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        while Instant::now() < until {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                let hit = line.contains(what);
                seen.push(line);
                if hit {
                    return seen;
                }
            }
        }
        panic!("no line with {what:?} in 20 s; saw {seen:#?}");
    };
    let first = wait_for("-- watching");
    assert!(
        first.iter().any(|l| l.starts_with("rule tce ")),
        "{first:?}"
    );
    std::fs::write(
        dir.path().join("rules/desk/tce.rhai"),
        "print(\"edited\");\n",
    )
    .unwrap();
    let second = wait_for("-- watching");
    assert!(
        second.iter().any(|l| l.contains("running again")),
        "{second:?}"
    );
    assert!(second.iter().any(|l| l.contains("| edited")), "{second:?}");
    child.kill().unwrap();
    let _ = child.wait();
}

/// The binary turns transparent huge pages off for itself (src/memory.rs: with them a
/// server held three times the memory), unless mimalloc's own variable says otherwise.
#[test]
fn the_process_runs_without_transparent_huge_pages_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    write_files(&dir.path().join("rules/desk"), &[("tce.rhai", GOOD_RULE)]);
    let sample = root().join("rules/samples/drybulk-single-cargo.json");
    let thp_enabled = |allow: Option<&str>| -> String {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lookout"));
        cmd.args(["run", "desk", &sample.display().to_string(), "--watch"])
            .current_dir(dir.path())
            .env_remove("MIMALLOC_ALLOW_THP")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(allow) = allow {
            cmd.env("MIMALLOC_ALLOW_THP", allow);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("-- watching") {
                break;
            }
        }
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
        child.kill().unwrap();
        let _ = child.wait();
        status
            .lines()
            .find_map(|l| l.strip_prefix("THP_enabled:"))
            .expect("the kernel reports THP_enabled")
            .trim()
            .to_string()
    };
    assert_eq!(thp_enabled(None), "0");
    assert_eq!(thp_enabled(Some("1")), "1");
}

// ---------------------------------------------------------------- init + test

#[test]
fn init_makes_a_rule_set_whose_tests_pass_at_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let out = lookout(dir.path(), &["init", "rules/drybulk"]);
    assert_exit(&out, 0);
    assert!(text(&out.stdout).contains("lookout test drybulk --rules rules"));

    let out = lookout(dir.path(), &["test", "drybulk"]);
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("test drybulk/tce-below-floor-warns ... ok"),
        "{stdout}"
    );
    assert!(
        stdout.contains("test drybulk/tce-above-floor-is-quiet ... ok"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().last(), Some("2 passed, 0 failed"));

    // Its tests are about its rule: a second rule that raises an alert breaks neither.
    write_files(
        &dir.path().join("rules/drybulk"),
        &[("always.rhai", "info(\"a second rule\");\n")],
    );
    let out = lookout(dir.path(), &["test", "drybulk"]);
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout).lines().last(), Some("2 passed, 0 failed"));

    // A second init into the same folder writes nothing.
    let out = lookout(dir.path(), &["init", "rules/drybulk"]);
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("already exists"));
    let out = lookout(dir.path(), &["init", "rules/dry bulk!"]);
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("cannot be a rule set name"));
}

#[test]
fn test_fails_with_a_diff_when_a_rule_changes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    assert_exit(&lookout(dir.path(), &["init", "rules/desk"]), 0);
    let rule = dir.path().join("rules/desk/tce_floor.rhai");
    let source = std::fs::read_to_string(&rule).unwrap();
    std::fs::write(
        &rule,
        source
            .replace("let floor = 12000;", "let floor = 9000;")
            .replace("PermanentWarning", "Error"),
    )
    .unwrap();

    let junit = dir.path().join("report.xml");
    let out = lookout(
        dir.path(),
        &["test", "--junit", &junit.display().to_string()],
    );
    assert_exit(&out, 1);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("test desk/tce-below-floor-warns ... FAILED"),
        "{stdout}"
    );
    assert!(
        stdout.contains("test desk/tce-above-floor-is-quiet ... ok"),
        "{stdout}"
    );
    assert!(stdout.contains("expected 1 alert, got 0"), "{stdout}");
    assert!(
        stdout.contains("expected an alert like {\"rule\":\"tce_floor\""),
        "{stdout}"
    );
    assert_eq!(stdout.lines().last(), Some("1 passed, 1 failed"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuite name=\"desk\" tests=\"2\" failures=\"1\">"),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"expected 1 alert, got 0"),
        "{xml}"
    );

    // --filter runs only the matching test.
    let out = lookout(dir.path(), &["test", "--filter", "quiet"]);
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout).lines().last(), Some("1 passed, 0 failed"));
}

#[test]
fn test_explains_each_kind_of_expectation_that_fails() {
    let dir = tempfile::tempdir().unwrap();
    let sample = root().join("rules/samples/drybulk-single-cargo.json");
    let set = dir.path().join("rules/desk");
    write_files(
        &set,
        &[
            ("tce.rhai", GOOD_RULE),
            (
                "speed.rhai",
                "let s = get(estimate, \"estimateItineraries[1].speed\");\nif s < 20 { error(`speed ${s}`).mutation(#{ estimateItineraries: #{ speed: 13.4 }, draft: 12.0 }).key(\"speed\"); }\n",
            ),
        ],
    );
    std::fs::copy(&sample, set.join("est.json")).unwrap();
    let cases: &[(&str, &str, &str)] = &[
        (
            "wrong-type",
            r#"{"estimate": "../est.json", "expect": {"contains": [{"rule": "tce", "alertType": "Error"}]}}"#,
            "alertType: expected \"Error\", got \"PermanentWarning\"",
        ),
        (
            "wrong-field",
            r#"{"estimate": "../est.json", "expect": {"contains": [{"rule": "tce", "field": {"label": "TCE", "value": "1"}}]}}"#,
            "field \"TCE\": expected \"1\", got \"11,350\"",
        ),
        (
            "wrong-mutation",
            r#"{"estimate": "../est.json", "expect": {"contains": [{"rule": "speed", "mutation": {"estimateItineraries": {"speed": 12}, "draft": 12}}]}}"#,
            "mutation.estimateItineraries.speed: expected 12, got 13.4",
        ),
        (
            "not-absent",
            r#"{"estimate": "../est.json", "expect": {"absent": [{"rule": "speed"}]}}"#,
            "expected no alert like {\"rule\":\"speed\"}",
        ),
        (
            "exact-list",
            r#"{"estimate": "../est.json", "expect": {"alerts": [{"alertType": "PermanentWarning"}]}}"#,
            "expected exactly 1 alert (in any order), got 2; 1 of yours matches #2; 1 other alert is: #1\n      + unexpected #1: [speed] Error: speed",
        ),
        (
            "regex",
            r#"{"estimate": "../est.json", "expect": {"contains": [{"message_matches": "^speed [0-9]+\\.0$"}]}}"#,
            "message does not match",
        ),
        (
            "bad-pointer",
            r#"{"estimate": "../est.json", "set": {"/nope/x": 1}, "expect": {}}"#,
            "\"set\" /nope/x: there is no `nope` in /",
        ),
        (
            "typo",
            r#"{"estimate": "../est.json", "expect": {"contain": []}}"#,
            "unknown field `contain`",
        ),
        (
            "unknown-test",
            r#"{"estimate": "../est.json", "expect": {"contains": [{"rule": "tce", "guid_same_as": "ghost"}]}}"#,
            "there is no test `ghost`",
        ),
    ];
    for (name, body, _) in cases {
        std::fs::write(
            set.join("tests").join(format!("{name}.json")).as_path(),
            body,
        )
        .or_else(|_| {
            std::fs::create_dir_all(set.join("tests"))?;
            std::fs::write(set.join("tests").join(format!("{name}.json")), body)
        })
        .unwrap();
    }
    // Two that pass: GUIDs are stable across an unrelated change, and match by regex.
    std::fs::write(
        set.join("tests/base.json"),
        r#"{"estimate": "../est.json", "expect": {"count": 2, "contains": [{"rule": "speed", "message_matches": "^speed 1[0-9](\\.[0-9]+)?$"}]}}"#,
    )
    .unwrap();
    std::fs::write(
        set.join("tests/same-guid.json"),
        r#"{"estimate": "../est.json", "set": {"/lastUpdatedBy": "someone else"}, "expect": {"contains": [{"rule": "tce", "guid_same_as": "base"}, {"rule": "speed", "guid_same_as": "base"}]}}"#,
    )
    .unwrap();

    // Matched by content in any order; numbers by value (the rule sends 12.0).
    std::fs::write(
        set.join("tests/any-order.json"),
        r#"{"estimate": "../est.json", "expect": {"alerts": [{"rule": "tce"}, {"rule": "speed", "mutation": {"estimateItineraries": {"speed": 13.4}, "draft": 12}}]}}"#,
    )
    .unwrap();
    // Scoped to one rule: the other rule's alert does not count.
    std::fs::write(
        set.join("tests/scoped.json"),
        r#"{"estimate": "../est.json", "rules": ["tce"], "expect": {"count": 1, "alerts": [{"rule": "tce"}]}}"#,
    )
    .unwrap();

    let out = lookout(dir.path(), &["test"]);
    assert_exit(&out, 1);
    let stdout = text(&out.stdout);
    for (name, _, expected) in cases {
        let block: String = stdout
            .split("\ntest ")
            .find(|b| {
                b.starts_with(&format!("desk/{name} "))
                    || b.starts_with(&format!("test desk/{name} "))
            })
            .unwrap_or_else(|| panic!("no result for {name} in\n{stdout}"))
            .to_string();
        assert!(block.contains("FAILED"), "{name} should fail:\n{block}");
        assert!(
            block.contains(expected),
            "{name}: no {expected:?} in\n{block}"
        );
    }
    assert!(stdout.contains("test desk/base ... ok"), "{stdout}");
    assert!(stdout.contains("test desk/same-guid ... ok"), "{stdout}");
    assert!(stdout.contains("test desk/any-order ... ok"), "{stdout}");
    assert!(stdout.contains("test desk/scoped ... ok"), "{stdout}");
    assert_eq!(
        stdout.lines().last().map(str::to_string),
        Some(format!("4 passed, {} failed", cases.len()))
    );
}

#[test]
fn the_shipped_rules_pass_their_own_tests() {
    let out = lookout(&root(), &["test"]);
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 2, "{stdout}");
    assert!(last.ends_with(" passed, 0 failed"), "{stdout}");
    // The port rules' tests, with facts from a file and inline, are among them.
    for test in [
        "default/port-schedule-eta-moved",
        "default/port-schedule-brought-forward",
        "default/container-hold-terminal-and-customs",
        "default/container-hold-lifted",
        "default/port-facts-none-clean",
    ] {
        assert!(
            stdout.contains(&format!("test {test} ... ok")),
            "{test}\n{stdout}"
        );
    }
}

/// The plain desk checks the Express comparison runs (benches/desk) pass their tests:
/// one test file a check at least, each naming the rule it expects.
#[test]
fn the_benchmark_desk_checks_pass_their_own_tests() {
    let out = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["test", "--rules", "benches", "desk"])
        .current_dir(root())
        .env("LOOKOUT_KEY_DESK", "desk-test-key-0123456789abcdef")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    let rules: Vec<String> = std::fs::read_dir(root().join("benches/desk"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".rhai").map(str::to_string)
        })
        .collect();
    assert!(rules.len() >= 10, "{rules:?}");
    for rule in &rules {
        assert!(
            stdout.contains(&format!("test desk/{rule} ... ok")),
            "no passing test for {rule}\n{stdout}"
        );
    }
    assert!(stdout.trim_end().ends_with(" passed, 0 failed"), "{stdout}");
}

/// A rule that reads port events, tested with facts from a file and inline; a test's
/// facts reach only that test, and a broken facts file fails its test (and `check`).
#[test]
fn test_gives_each_test_its_own_facts() {
    const HOLD_RULE: &str = r#"
for number in estimate.containers ?? [] {
    let events = container_events(number);
    if events.len() > 0 && events[0].event == "cargo_held" {
        error(`${events[0].container} is held`).key(number);
    }
}
"#;
    let held = r#"{"source": "octopi", "event": "Cargo Held", "container": "mscu 123456-5", "at": "2026-11-28T09:15:00+13:00"}"#;
    let released = r#"{"source": "octopi", "event": "cargo_released", "container": "MSCU1234565", "at": "2026-11-29T09:15:00+13:00"}"#;
    let estimate = r#"{"estimateID": "E-1", "containers": ["MSCU1234565"]}"#;
    let test = |facts: &str, count: usize| {
        format!(r#"{{"estimate": {estimate}, {facts} "expect": {{"count": {count}}}}}"#)
    };
    let dir = tempfile::tempdir().unwrap();
    write_files(
        &dir.path().join("rules/desk"),
        &[
            ("hold.rhai", HOLD_RULE),
            ("tests/facts/held.json", &format!("[{held}]")),
            (
                "tests/from-file.json",
                &test(r#""facts": "facts/held.json","#, 1),
            ),
            (
                "tests/inline-released.json",
                &test(&format!(r#""facts": [{held}, {released}],"#), 0),
            ),
            ("tests/no-facts.json", &test("", 0)),
            (
                "tests/broken-facts.json",
                &test(r#""facts": [{"source": "octopi"}],"#, 0),
            ),
        ],
    );
    let out = lookout(dir.path(), &["test"]);
    assert_exit(&out, 1);
    let stdout = text(&out.stdout);
    for ok in ["from-file", "inline-released", "no-facts"] {
        assert!(
            stdout.contains(&format!("test desk/{ok} ... ok")),
            "{ok}\n{stdout}"
        );
    }
    assert!(
        stdout.contains("test desk/broken-facts ... FAILED")
            && stdout.contains(
                "broken-facts.json: \"facts\": item 0 (a lookout event): missing field `event`"
            ),
        "{stdout}"
    );
    assert_eq!(stdout.lines().last(), Some("3 passed, 1 failed"));

    let out = lookout(dir.path(), &["check"]);
    assert_exit(&out, 1);
    assert!(
        text(&out.stderr).contains("missing field `event`"),
        "{}",
        text(&out.stderr)
    );
}

// ---------------------------------------------------------------- sign + send

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_acts_as_the_estimator() {
    let key = "send-test-key-0123456789";
    let app = spawn_app_with(
        &[(
            "desk",
            &[
                ("tce.rhai", GOOD_RULE),
                (
                    "ruleset.toml",
                    "api_keys = [\"env:LOOKOUT_TEST_SEND_KEY\"]\n",
                ),
            ],
        )],
        |_| std::env::set_var("LOOKOUT_TEST_SEND_KEY", "send-test-key-0123456789"),
    )
    .await;
    let url = app.url("/hooks/desk");
    let ca = app.dir.path().join("certs/ca.pem").display().to_string();
    let sample = root()
        .join("rules/samples/drybulk-single-cargo.json")
        .display()
        .to_string();

    let run = move |args: Vec<String>, key: Option<&'static str>| {
        tokio::task::spawn_blocking(move || {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_lookout"));
            cmd.args(&args);
            match key {
                Some(k) => cmd.env("DESK_KEY", k),
                None => cmd.env_remove("DESK_KEY"),
            };
            cmd.output().unwrap()
        })
    };
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec!["send".into(), url.clone(), sample.clone()];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };

    let out = run(
        args(&[
            "--key-env",
            "DESK_KEY",
            "--cacert",
            &ca,
            "--header",
            "x-imos-user:apatel",
        ]),
        Some(key),
    )
    .await
    .unwrap();
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("HTTP/2.0 200 OK") || stdout.starts_with("HTTP/1.1 200 OK"),
        "{stdout}"
    );
    assert!(stdout.contains("x-lookout-call-id: "), "{stdout}");
    assert!(
        stdout.contains("\"alertType\": \"PermanentWarning\""),
        "pretty body:\n{stdout}"
    );
    assert!(stdout.contains(" ms, "), "{stdout}");

    // Wrong key: the server says 401 and send exits 1.
    let out = run(
        args(&["--key-env", "DESK_KEY", "--cacert", &ca]),
        Some("not-the-key"),
    )
    .await
    .unwrap();
    assert_exit(&out, 1);
    assert!(text(&out.stdout).contains("401"), "{}", text(&out.stdout));

    // Without --cacert the development certificate is not trusted: trouble, with a hint.
    let out = run(args(&["--key-env", "DESK_KEY"]), Some(key))
        .await
        .unwrap();
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("--cacert"),
        "{}",
        text(&out.stderr)
    );

    // Missing key variable.
    let out = run(args(&["--key-env", "DESK_KEY", "--cacert", &ca]), None)
        .await
        .unwrap();
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("DESK_KEY is not set"));

    // Nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = run(
        vec![
            "send".into(),
            format!("https://127.0.0.1:{port}/hooks/desk"),
            root()
                .join("rules/samples/drybulk-single-cargo.json")
                .display()
                .to_string(),
            "--cacert".into(),
            app.dir.path().join("certs/ca.pem").display().to_string(),
        ],
        None,
    )
    .await
    .unwrap();
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("is `lookout serve` running"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn sign_prints_the_header_value() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("body.json"), b"{\"estimateID\":\"E1\"}").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["sign", "--key-env", "SIGN_KEY", "body.json"])
        .current_dir(dir.path())
        .env("SIGN_KEY", "k3y")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let expected = lookout::signature::sign(
        &lookout::signature::ApiKey::new("k3y"),
        b"{\"estimateID\":\"E1\"}",
    );
    assert_eq!(text(&out.stdout).trim(), expected);

    let out = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["sign", "--key-env", "SIGN_KEY_UNSET", "body.json"])
        .current_dir(dir.path())
        .env_remove("SIGN_KEY_UNSET")
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("SIGN_KEY_UNSET is not set"));
}

/// `lookout helpers`: the manual's list of helpers, filtered by name, or as JSON.
#[test]
fn helpers_lists_what_rules_can_call() {
    let dir = tempfile::tempdir().unwrap();
    let out = lookout(dir.path(), &["helpers", "round"]);
    assert_exit(&out, 0);
    let listed = text(&out.stdout);
    assert!(
        listed.contains("Numbers\n\n  round(number, places)\n      the number rounded to"),
        "{listed}"
    );
    assert!(listed.contains("      | let needed = round("), "{listed}");
    assert!(!listed.contains("format_date"), "{listed}");
    let out = lookout(dir.path(), &["helpers", "--json"]);
    assert_exit(&out, 0);
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(all.as_array().unwrap().len() >= 20, "{all}");
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["signatures"][0] == "to_number(x)"));
    let out = lookout(dir.path(), &["helpers", "no_such_helper"]);
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("no helper's name contains `no_such_helper`"));
}

// ---------------------------------------------------------------- certs, help, usage

#[test]
fn certs_writes_a_ca_and_a_server_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let out = lookout(
        dir.path(),
        &["certs", "--out", "c", "--host", "lookout.desk.local"],
    );
    assert_exit(&out, 0);
    for file in ["ca.pem", "ca-key.pem", "cert.pem", "key.pem"] {
        assert!(dir.path().join("c").join(file).is_file(), "{file}");
    }
}

#[test]
fn every_command_has_help_with_examples_and_bad_usage_is_2() {
    for command in [
        "serve", "check", "run", "test", "sign", "send", "certs", "init",
    ] {
        let out = lookout(&root(), &[command, "--help"]);
        assert_exit(&out, 0);
        assert!(
            text(&out.stdout).contains("Example"),
            "`lookout {command} --help` has no example:\n{}",
            text(&out.stdout)
        );
    }
    let out = lookout(&root(), &["run"]);
    assert_exit(&out, 2);
    let out = lookout(&root(), &["frobnicate"]);
    assert_exit(&out, 2);
}

// ---------------------------------------------------------------- the manual

/// Every command in rules/README.md's `sh` blocks, run as written, in order, in a copy
/// of the project's rules: a new user following the manual gets no errors. `lookout
/// serve` is started in the background on a free loopback port, which replaces 8443 in
/// the URLs that follow.
#[test]
fn the_manual_works_as_written() {
    let manual = std::fs::read_to_string(root().join("rules/README.md")).unwrap();
    let mut commands = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in manual.lines() {
        if line.starts_with("```") {
            in_sh = line.trim() == "```sh";
            continue;
        }
        if !in_sh || line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        pending.push_str(line.trim_end().trim_end_matches('\\'));
        if line.trim_end().ends_with('\\') {
            pending.push(' ');
            continue;
        }
        commands.push(std::mem::take(&mut pending));
    }
    assert!(commands.len() >= 5, "{commands:?}");

    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("rules"), &dir.path().join("rules"));
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut env: Vec<(String, String)> = Vec::new();
    let mut server: Option<std::process::Child> = None;
    for command in &commands {
        let words: Vec<String> = command
            .split_whitespace()
            .map(|w| w.replace("localhost:8443", &format!("localhost:{port}")))
            .collect();
        if let Some(assignment) = command.strip_prefix("export ") {
            let (k, v) = assignment.split_once('=').expect("export K=V");
            env.push((k.to_string(), v.trim_matches('"').to_string()));
            continue;
        }
        assert_eq!(
            words[0], "lookout",
            "the manual has a command this test cannot run: {command}"
        );
        if words[1] == "serve" {
            let child = Command::new(env!("CARGO_BIN_EXE_lookout"))
                .args(&words[1..])
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .current_dir(dir.path())
                .envs(env.iter().cloned())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            server = Some(child);
            let until = Instant::now() + Duration::from_secs(20);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
                || !dir.path().join("certs/ca.pem").is_file()
            {
                assert!(
                    Instant::now() < until,
                    "`lookout serve` did not listen in 20 s"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            continue;
        }
        let out = Command::new(env!("CARGO_BIN_EXE_lookout"))
            .args(&words[1..])
            .current_dir(dir.path())
            .envs(env.iter().cloned())
            .output()
            .unwrap();
        if out.status.code() != Some(0) {
            if let Some(mut s) = server.take() {
                let _ = s.kill();
            }
            panic!(
                "`{command}` from rules/README.md exited {:?}\n--- stdout\n{}\n--- stderr\n{}",
                out.status.code(),
                text(&out.stdout),
                text(&out.stderr)
            );
        }
    }
    let mut server = server.expect("the manual starts a server");
    server.kill().unwrap();
    let _ = server.wait();
}

// ---------------------------------------------------------------- logs and replay

/// `lookout` in `dir` with no LOOKOUT_* setting from the environment, so only the
/// flags say where the rules and the log are.
fn lookout_here(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(args)
        .current_dir(dir)
        .env_remove("LOOKOUT_RULES")
        .env_remove("LOOKOUT_DATA")
        .env_remove("LOOKOUT_STORE_URL")
        .env_remove("LOOKOUT_CONFIG")
        .env("NO_COLOR", "1")
        .output()
        .expect("the lookout binary runs")
}

/// `lookout serve` as a process, killed if a test fails before stopping it.
struct Served {
    child: Option<std::process::Child>,
    port: u16,
}

impl Served {
    /// Starts `lookout serve` in `dir` on a free loopback port and waits until it listens.
    fn start(dir: &Path) -> Served {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new(env!("CARGO_BIN_EXE_lookout"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .current_dir(dir)
            .env_remove("LOOKOUT_RULES")
            .env_remove("LOOKOUT_DATA")
            .env_remove("LOOKOUT_STORE_URL")
            .env_remove("LOOKOUT_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let served = Served {
            child: Some(child),
            port,
        };
        let until = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
            || !dir.join("certs/ca.pem").is_file()
        {
            assert!(
                Instant::now() < until,
                "`lookout serve` did not listen in 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        served
    }

    /// SIGTERM, as an operator stops it: the recorder writes what is queued first.
    fn stop(&mut self) {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "lookout serve exited with {status}");
                return;
            }
            assert!(
                Instant::now() < until,
                "lookout serve did not stop within 20 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn lines(out: &Output) -> Vec<String> {
    text(&out.stdout).lines().map(str::to_string).collect()
}

/// The call id `lookout send` printed (the answer's x-lookout-call-id header).
fn call_id(send: &Output) -> String {
    text(&send.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("x-lookout-call-id: "))
        .unwrap_or_else(|| panic!("no call id in\n{}", text(&send.stdout)))
        .trim()
        .to_string()
}

/// The whole path an analyst takes: calls answered by a real server, read back with
/// `lookout logs` (while it runs and after it stops), one shown in full, then replayed
/// against the rules on disk before and after a rule edit.
#[test]
fn logs_and_replay_read_what_the_server_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_files(&dir.join("rules/desk"), &[("tce.rhai", GOOD_RULE)]);
    write_files(
        &dir.join("rules/other"),
        &[("fails.rhai", "let v = 1;\nlet w = v / 0;\n")],
    );
    std::fs::write(dir.join("broken.json"), "{\"estimateID\": ").unwrap();
    let sample = root().join("rules/samples/drybulk-single-cargo.json");
    let sample = sample.to_str().unwrap();

    let mut server = Served::start(dir);
    let url = |set: &str| format!("https://localhost:{}/hooks/{set}", server.port);
    let send = |set: &str, file: &str| {
        lookout_here(dir, &["send", &url(set), file, "--cacert", "certs/ca.pem"])
    };
    let out = send("desk", sample);
    assert_exit(&out, 0);
    let desk = call_id(&out);
    let out = send("other", sample);
    assert_exit(&out, 0);
    let other = call_id(&out);
    let out = send("desk", "broken.json");
    assert_exit(&out, 1);
    let broken = call_id(&out);
    let out = send("nosuch", sample);
    assert_exit(&out, 1);
    let nosuch = call_id(&out);

    // The server is still running: the log is readable beside it (SQLite WAL).
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let out = lookout_here(dir, &["logs"]);
        assert_exit(&out, 0);
        if text(&out.stdout).contains(&nosuch) {
            break;
        }
        assert!(
            Instant::now() < until,
            "the calls did not reach the log in 10 s:\n{}",
            text(&out.stdout)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server.stop();

    // One line per call, newest first.
    let out = lookout_here(dir, &["logs"]);
    assert_exit(&out, 0);
    let listed = lines(&out);
    assert_eq!(listed.len(), 4, "{listed:#?}");
    for (line, (id, set, status)) in listed.iter().zip([
        (&nosuch, "nosuch", "404"),
        (&broken, "desk", "400"),
        (&other, "other", "200"),
        (&desk, "desk", "200"),
    ]) {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&words[1..4], [id.as_str(), set, status], "{line}");
        let time = words[0];
        assert!(
            time.len() == 24 && time.ends_with('Z') && time.as_bytes()[19] == b'.',
            "time as UTC ISO with milliseconds: {line}"
        );
    }
    assert!(listed[3].ends_with("EST-2026-00412"), "{}", listed[3]);
    assert!(listed[3].contains(" 1 alert "), "{}", listed[3]);
    assert!(listed[2].contains(" 1 error "), "{}", listed[2]);

    // Filters.
    let ids = |args: &[&str]| -> Vec<String> {
        let out = lookout_here(dir, args);
        assert_exit(&out, 0);
        lines(&out)
            .iter()
            .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&["logs", "--ruleset", "other"]), [other.as_str()]);
    assert_eq!(
        ids(&["logs", "--errors"]),
        [nosuch.as_str(), broken.as_str(), other.as_str()],
        "--errors: not 200, or a rule failed"
    );
    assert_eq!(ids(&["logs", "--status", "400"]), [broken.as_str()]);
    assert_eq!(
        ids(&["logs", "--ruleset", "desk", "--status", "200"]),
        [desk.as_str()]
    );
    assert!(ids(&["logs", "--grep", "anna oldfield"]).contains(&desk));
    assert!(!ids(&["logs", "--grep", "anna oldfield"]).contains(&broken));
    assert!(ids(&["logs", "--since", "2000-01-01", "--until", "2001-01-01"]).is_empty());
    assert_eq!(ids(&["logs", "--since", "1h"]).len(), 4);
    // Ages and times as the viewer reads them (one parser: `clock::parse_when`).
    assert_eq!(ids(&["logs", "--since", "2 weeks"]).len(), 4);
    assert_eq!(
        ids(&["logs", "--since", "2 hours", "--until", "2099-01-01T00:00Z"]).len(),
        4
    );

    // Paging: a hint with the cursor, which gives the rest.
    let out = lookout_here(dir, &["logs", "--limit", "2"]);
    assert_exit(&out, 0);
    assert_eq!(lines(&out).len(), 2);
    assert!(
        text(&out.stderr).contains(&format!("--before {broken}")),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        ids(&["logs", "--limit", "2", "--before", &broken]),
        [other.as_str(), desk.as_str()]
    );

    // --json: one summary per line.
    let out = lookout_here(dir, &["logs", "--json", "--ruleset", "desk"]);
    assert_exit(&out, 0);
    let summaries: Vec<serde_json::Value> = lines(&out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(summaries.len(), 2);
    assert_eq!(summaries[1]["id"], desk.as_str());
    assert_eq!(summaries[1]["status"], 200);
    assert_eq!(summaries[1]["estimate_id"], "EST-2026-00412");
    assert_eq!(summaries[0]["status"], 400);

    // One call in full.
    let out = lookout_here(dir, &["logs", "show", &desk]);
    assert_exit(&out, 0);
    let shown = text(&out.stdout);
    for expected in [
        &format!("call       {desk}") as &str,
        "status     200",
        "estimate   EST-2026-00412",
        "content-type: application/json",
        "\n    \"estimateID\": \"EST-2026-00412\",\n",
        "1. PermanentWarning \"TCE below floor\"  [tce]",
        "TCE: 11,350",
        "rule tce ",
        "| tce is 11350",
    ] {
        assert!(shown.contains(expected), "no {expected:?} in\n{shown}");
    }
    let out = lookout_here(dir, &["logs", "show", &other]);
    assert_exit(&out, 0);
    let shown = text(&out.stdout);
    assert!(
        shown.contains("rule fails") && shown.contains("error at 2:"),
        "the failing rule's line:\n{shown}"
    );
    let out = lookout_here(dir, &["logs", "show", &desk, "--raw"]);
    assert_exit(&out, 0);
    assert_eq!(
        out.stdout,
        std::fs::read(sample).unwrap(),
        "--raw is byte-exact"
    );
    let out = lookout_here(dir, &["logs", "show", &desk, "--json"]);
    assert_exit(&out, 0);
    let call: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(call["id"], desk.as_str());
    assert_eq!(call["rules"][0]["rule"], "tce");
    assert_eq!(call["rules"][0]["alerts"][0]["message"], "TCE below floor");
    let unknown = "01900000-0000-7000-8000-000000000000";
    let out = lookout_here(dir, &["logs", "show", unknown]);
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains(&format!("no call {unknown} in sqlite ")),
        "{}",
        text(&out.stderr)
    );
    let out = lookout_here(dir, &["logs", "show", "not-an-id"]);
    assert_exit(&out, 2);

    // Replay against unchanged rules: nothing changed.
    let out = lookout_here(dir, &["replay"]);
    assert_exit(&out, 0);
    let replayed = lines(&out);
    assert!(
        replayed.contains(&format!("{desk} desk EST-2026-00412: unchanged")),
        "{replayed:#?}"
    );
    assert!(
        replayed.contains(&format!("{other} other EST-2026-00412: unchanged")),
        "{replayed:#?}"
    );
    assert!(
        replayed
            .iter()
            .any(|l| l.starts_with(&format!("{nosuch} nosuch -: skipped: answered 404"))),
        "{replayed:#?}"
    );
    assert!(
        replayed
            .iter()
            .any(|l| l.starts_with(&format!("{broken} desk -: skipped: "))),
        "{replayed:#?}"
    );
    assert_eq!(
        replayed.last().unwrap(),
        "2 replayed, 0 changed, 2 unchanged, 2 skipped"
    );

    // The rule author rewords the alert: replay names the change and exits 1.
    let rule = dir.join("rules/desk/tce.rhai");
    let edited = std::fs::read_to_string(&rule)
        .unwrap()
        .replace("TCE below floor", "TCE under the desk floor");
    std::fs::write(&rule, edited).unwrap();
    let out = lookout_here(dir, &["replay"]);
    assert_exit(&out, 1);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("{desk} desk EST-2026-00412: changed (rules ")),
        "{stdout}"
    );
    assert!(
        stdout.contains("~ changed  PermanentWarning \"TCE under the desk floor\" (message)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("was PermanentWarning \"TCE below floor\""),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("2 replayed, 1 changed, 1 unchanged, 2 skipped\n"),
        "{stdout}"
    );
    let out = lookout_here(dir, &["replay", &desk]);
    assert_exit(&out, 1);
    assert!(text(&out.stdout).ends_with("1 replayed, 1 changed, 0 unchanged, 0 skipped\n"));
    let out = lookout_here(dir, &["replay", "--ruleset", "other"]);
    assert_exit(&out, 0);
    let out = lookout_here(dir, &["replay", "--json"]);
    assert_exit(&out, 1);
    let records: Vec<serde_json::Value> = lines(&out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let desk_record = records.iter().find(|r| r["id"] == desk.as_str()).unwrap();
    assert_eq!(desk_record["outcome"], "changed");
    assert_eq!(desk_record["changes"][0]["fields"][0], "message");
    assert_eq!(
        records.last().unwrap(),
        &serde_json::json!({"replayed": 2, "changed": 1, "unchanged": 1, "skipped": 2})
    );

    // A rule set gone from disk: its calls are skipped, with the reason.
    std::fs::remove_dir_all(dir.join("rules/other")).unwrap();
    let out = lookout_here(dir, &["replay", "--ruleset", "other"]);
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains(&format!(
            "{other} other EST-2026-00412: skipped: rule set `other` is not in rules any more"
        )),
        "{}",
        text(&out.stdout)
    );

    // A rule set that no longer compiles would answer 503: that is a change.
    std::fs::write(&rule, "let x = ;\n").unwrap();
    let out = lookout_here(dir, &["replay", "--ruleset", "desk"]);
    assert_exit(&out, 1);
    assert!(
        text(&out.stdout).contains("does not compile now"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("tce.rhai:1:"),
        "{}",
        text(&out.stderr)
    );

    // Usage errors.
    let out = lookout_here(dir, &["replay", "not-an-id"]);
    assert_exit(&out, 2);
    let out = lookout_here(dir, &["replay", unknown]);
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("no call"),
        "{}",
        text(&out.stderr)
    );
    let out = lookout_here(dir, &["logs", "--since", "yesterday"]);
    assert_exit(&out, 2);
}

/// Without a log where it looks, `logs` and `replay` say so, say how to point at one,
/// exit 2, and leave no empty database behind.
#[test]
fn logs_without_a_log_say_where_they_looked_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(
        dir.join("lookout.toml"),
        "[store]\nurl = \"sqlite:logs/calls.db\"\n",
    )
    .unwrap();
    let cases: &[(&[&str], &str, &str)] = &[
        (&["logs"], "data/lookout.db", "the default: data/lookout.db"),
        (&["logs", "--data", "var"], "var/lookout.db", "--data"),
        (
            &["logs", "--store", "sqlite:elsewhere/x.db"],
            "elsewhere/x.db",
            "--store",
        ),
        (
            &["logs", "--config", "lookout.toml"],
            "logs/calls.db",
            "--config's [store] url",
        ),
        (
            &["logs", "show", "01900000-0000-7000-8000-000000000000"],
            "data/lookout.db",
            "logs show",
        ),
        (&["replay"], "data/lookout.db", "replay"),
    ];
    for (args, path, reason) in cases {
        let out = lookout_here(dir, args);
        assert_exit(&out, 2);
        let err = text(&out.stderr);
        assert!(
            err.contains("there is no log at") && err.contains(path),
            "{reason}: {err}"
        );
        assert!(err.contains("--data DIR, --store"), "{reason}: {err}");
    }
    let mut left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["lookout.toml"], "nothing created");
}

#[test]
fn logs_and_replay_have_help_with_examples() {
    for command in [&["logs"][..], &["logs", "show"], &["replay"]] {
        let mut args = command.to_vec();
        args.push("--help");
        let out = lookout(&root(), &args);
        assert_exit(&out, 0);
        assert!(
            text(&out.stdout).contains("Example"),
            "`lookout {}` has no example:\n{}",
            command.join(" "),
            text(&out.stdout)
        );
    }
    let out = lookout(
        &root(),
        &[
            "replay",
            "--since",
            "1h",
            "01900000-0000-7000-8000-000000000000",
        ],
    );
    assert_exit(&out, 2);
}

// ---------------------------------------------------------------- publish, candidate

#[test]
fn publish_stores_revisions_once_and_candidates_are_started_and_discarded() {
    let pg = lookout::testkit::PgServer::start();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    write_files(&rules.join("desk"), &[("tce.rhai", GOOD_RULE)]);
    let store = format!("--store={}", pg.url);
    let publish = |extra: &[&str]| {
        let mut args = vec![
            "publish",
            "--rules",
            "rules",
            store.as_str(),
            "--author",
            "jlee",
        ];
        args.extend_from_slice(extra);
        lookout(dir.path(), &args)
    };
    let out = publish(&["-m", "first"]);
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains("desk: published version"),
        "{}",
        show(&out)
    );
    let out = publish(&["-m", "again"]);
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains("is the current revision already"),
        "{}",
        show(&out)
    );

    // A rule set that does not compile publishes nothing.
    write_files(&rules.join("desk"), &[("tce.rhai", "let x = ;")]);
    let out = publish(&["desk", "-m", "broken"]);
    assert_exit(&out, 1);
    assert!(
        text(&out.stderr).contains("does not compile"),
        "{}",
        show(&out)
    );

    // A candidate: started, listed, discarded; then there is none.
    write_files(
        &rules.join("desk"),
        &[("tce.rhai", "info(\"lower floor\");")],
    );
    let out = publish(&["desk", "--candidate", "-m", "try it"]);
    assert_exit(&out, 0);
    assert!(text(&out.stdout).contains("candidate"), "{}", show(&out));
    let out = lookout(dir.path(), &["candidate", store.as_str(), "list"]);
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains("desk\t") && text(&out.stdout).contains("0 calls"),
        "{}",
        show(&out)
    );
    let out = lookout(dir.path(), &["candidate", store.as_str(), "show", "desk"]);
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains("0 calls compared"),
        "{}",
        show(&out)
    );
    let out = lookout(
        dir.path(),
        &["candidate", store.as_str(), "discard", "desk"],
    );
    assert_exit(&out, 0);
    let out = lookout(
        dir.path(),
        &["candidate", store.as_str(), "discard", "desk"],
    );
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("has no running candidate"),
        "{}",
        show(&out)
    );

    // A file the folder loads but a revision cannot keep (a name with a space): refused,
    // since every instance would load something else than what was checked.
    write_files(
        &rules.join("desk"),
        &[
            ("tce.rhai", GOOD_RULE),
            ("data/floor table.json", "{\"tce\": 1}"),
        ],
    );
    let out = publish(&["desk", "-m", "with a file a revision cannot keep"]);
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("nothing was published"),
        "{}",
        show(&out)
    );
    std::fs::remove_file(rules.join("desk/data/floor table.json")).unwrap();

    // Retired: served by no instance; retiring it again is refused; publishing it again
    // brings it back (after nothing).
    let retire = || {
        lookout(
            dir.path(),
            &[
                "retire",
                "desk",
                store.as_str(),
                "-m",
                "the desk moved",
                "--author",
                "jlee",
            ],
        )
    };
    let out = retire();
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains("desk: retired (was version "),
        "{}",
        show(&out)
    );
    let out = retire();
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("`desk` is not served by the fleet"),
        "{}",
        show(&out)
    );
    let out = publish(&["desk", "-m", "back"]);
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains("desk: published version")
            && text(&out.stdout).contains("was none"),
        "{}",
        show(&out)
    );

    // With SQLite there is no fleet to publish to: said, exit 2.
    let out = lookout(
        dir.path(),
        &[
            "publish",
            "--rules",
            "rules",
            "--store",
            "sqlite:data/lookout.db",
            "-m",
            "x",
        ],
    );
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("the store is SQLite"),
        "{}",
        show(&out)
    );
    let out = lookout(
        dir.path(),
        &[
            "retire",
            "desk",
            "--store",
            "sqlite:data/lookout.db",
            "-m",
            "x",
        ],
    );
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("the store is SQLite"),
        "{}",
        show(&out)
    );
}
