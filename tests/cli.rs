//! The command line, as a user runs it: the real `lookout` binary in temp folders,
//! checking output, error messages and exit codes (0 ok, 1 found a problem, 2 trouble).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{spawn_app_with, write_files};

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

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit code\n--- stdout\n{}\n--- stderr\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A copy of a folder tree (the shipped rules, so tests never write into the repo).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

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
    copy_tree(&root().join("rules/default"), &rules.path().join("default"));
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
            text(&served),
            "{sample}: `lookout run` and the server differ"
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
    assert_exit(&out, 0);
    let err = text(&out.stderr);
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
                "let s = get(estimate, \"estimateItineraries[1].speed\");\nif s < 20 { error(`speed ${s}`).mutation(#{ estimateItineraries: #{ speed: 13.4 } }).key(\"speed\"); }\n",
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
            r#"{"estimate": "../est.json", "expect": {"contains": [{"rule": "speed", "mutation": {"estimateItineraries": {"speed": 12}}}]}}"#,
            "mutation: expected",
        ),
        (
            "not-absent",
            r#"{"estimate": "../est.json", "expect": {"absent": [{"rule": "speed"}]}}"#,
            "expected no alert like {\"rule\":\"speed\"}",
        ),
        (
            "exact-list",
            r#"{"estimate": "../est.json", "expect": {"alerts": [{"alertType": "PermanentWarning"}]}}"#,
            "expected exactly 1 alert, got 2",
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
    assert_eq!(
        stdout.lines().last().map(str::to_string),
        Some(format!("2 passed, {} failed", cases.len()))
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
    copy_tree(&root().join("rules"), &dir.path().join("rules"));
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
