//! Rule engine tests: a rule set written to a temp folder, evaluated as the server does.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(2).unwrap())
}

struct Fixture {
    _dir: tempfile::TempDir,
    set: Arc<RuleSet>,
}

/// A rule set named `desk` with the given files (path relative to the rule set).
fn ruleset(files: &[(&str, &str)]) -> Result<Fixture, Vec<Problem>> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("desk");
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let set = ruleset::load(&root, &Defaults::default())?;
    Ok(Fixture {
        _dir: dir,
        set: Arc::new(set),
    })
}

fn rule(source: &str) -> Fixture {
    ruleset(&[("r.rhai", source)]).unwrap_or_else(|p| panic!("{p:?}"))
}

fn run_with(fx: &Fixture, estimate: Value, budget: Duration) -> Evaluation {
    let input = Arc::new(CallInput {
        estimate: Arc::new(crate::rules::json::doc_from(&estimate)),
        request: Arc::new(crate::rules::json::doc_from(
            &json!({"ruleset": "desk", "call_id": "c1", "received_at": "2026-11-22T10:00:00Z", "headers": {"x-imos-token": "t0k"}}),
        )),
        facts: Default::default(),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(evaluate(
        pool(),
        fx.set.clone(),
        input,
        Instant::now() + budget,
        (),
    ))
}

fn run(fx: &Fixture, estimate: Value) -> Evaluation {
    run_with(fx, estimate, Duration::from_secs(5))
}

fn body(ev: &Evaluation) -> Value {
    serde_json::from_slice(&ev.response.body).unwrap()
}

fn estimate() -> Value {
    json!({
        "estimateID": "EST-1",
        "vesselCode": "ANNA",
        "speedLaden": 12.5,
        "estimateItineraries": [
            {"portName": "SANTOS", "portDays": 3, "voyageEstimateBunkers": [{"fuelType": "LSF", "departureQty": 150}]},
            {"portName": "QINGDAO", "portDays": 2.5}
        ],
        "voyageResults": {"tce": 11350.5}
    })
}

#[test]
fn builders_make_full_alerts() {
    let fx = rule(
        r#"
        let tce = estimate.voyageResults.tce;
        if tce < 12000 {
            warning("TCE below floor")
                .field("TCE", tce)
                .field("Floor", 12000)
                .field("Missing", estimate.nothing)
                .link("https://desk.example.com/tce")
                .mutation(#{ estimateItineraries: #{ speed: 13.4 } })
                .key("tce");
        }
        info("second");
    "#,
    );
    let ev = run(&fx, estimate());
    assert_eq!(ev.runs[0].outcome, Outcome::Ok, "{:?}", ev.runs[0]);
    let b = body(&ev);
    assert_eq!(b[0]["alertType"], "PermanentWarning");
    assert_eq!(
        b[0]["displayFields"],
        json!([{"label": "TCE", "value": "11350.5"}, {"label": "Floor", "value": "12000"}, {"label": "Missing", "value": "—"}])
    );
    assert_eq!(
        b[0]["mutation"],
        json!({"estimateItineraries": {"speed": 13.4}})
    );
    assert_eq!(b[0]["link"], "https://desk.example.com/tce");
    assert_eq!(b[1]["alertType"], "Unspecified");
    assert_eq!(b.as_array().unwrap().len(), 2);
}

#[test]
fn a_rule_can_return_alert_maps() {
    let fx = rule(
        r#"
        [#{ message: "from a map", alertType: "Error", displayFields: [#{ label: "Qty", value: 52.85 }], key: "m" }]
    "#,
    );
    let b = body(&run(&fx, estimate()));
    assert_eq!(b[0]["message"], "from a map");
    assert_eq!(b[0]["alertType"], "Error");
    assert_eq!(b[0]["displayFields"][0]["value"], "52.85");
}

#[test]
fn estimate_fields_read_naturally_and_absent_fields_are_unit() {
    let fx = rule(
        r#"
        let n = 0;
        for pc in estimate.estimateItineraries { n += pc.portDays; }
        let missing = estimate.notThere;
        let deep = estimate?.notThere?.deeper;
        let bunkers = estimate.estimateItineraries[0].voyageEstimateBunkers;
        let has = "vesselCode" in estimate;
        print(has);
        info(`days ${n} ${missing == ()} ${deep == ()} ${bunkers.len()} ${bunkers[0].fuelType} ${has}`);
        info(`${get(estimate, "estimateItineraries[0].voyageEstimateBunkers[0].departureQty")} ${get(estimate, "x.y[3]", "dflt")}`);
        info(`${request.headers["x-imos-token"]} ${request.ruleset} ${estimate.speedLaden > 12}`);
    "#,
    );
    let b = body(&run(&fx, estimate()));
    assert_eq!(b[0]["message"], "days 5.5 true true 1 LSF true");
    assert_eq!(b[1]["message"], "150 dflt");
    assert_eq!(b[2]["message"], "t0k desk true");
}

#[test]
fn no_rule_can_change_what_the_next_rule_sees() {
    // Every way of writing into the estimate either fails or changes a private copy.
    let attempts = [
        "estimate.vesselCode = \"X\";",
        "estimate.estimateItineraries[0].portName = \"X\";",
        "estimate[\"vesselCode\"] = \"X\";",
        "let e = estimate; e.vesselCode = \"X\";",
        "for pc in estimate.estimateItineraries { pc.portName = \"X\"; }",
        "data.x = 1;",
    ];
    for attempt in attempts {
        let fx = ruleset(&[
            ("a.rhai", attempt),
            (
                "b.rhai",
                r#"info(`${estimate.vesselCode} ${estimate.estimateItineraries[0].portName}`)"#,
            ),
        ])
        .unwrap_or_else(|p| panic!("{attempt}: {p:?}"));
        let ev = run(&fx, estimate());
        let b = body(&ev);
        let last = b.as_array().unwrap().last().unwrap();
        assert_eq!(last["message"], "ANNA SANTOS", "{attempt}");
    }
}

#[test]
fn a_failing_rule_becomes_one_error_alert_with_its_line() {
    let fx = ruleset(&[
        ("a_ok.rhai", r#"info("fine")"#),
        ("b_bad.rhai", "let x = 1;\nlet y = x.no_such_method();\n"),
    ])
    .unwrap();
    let ev = run(&fx, estimate());
    let b = body(&ev);
    assert_eq!(b[0]["message"], "fine");
    assert_eq!(b[1]["alertType"], "Error");
    let msg = b[1]["message"].as_str().unwrap();
    assert!(msg.starts_with("rule `b_bad` failed at line 2"), "{msg}");
    assert!(msg.contains("no_such_method"), "{msg}");
    let Outcome::Error(err) = &ev.runs[1].outcome else {
        panic!("{:?}", ev.runs[1])
    };
    assert_eq!(err.line, Some(2));
}

#[test]
fn rule_errors_can_be_hidden_from_cards() {
    let fx = ruleset(&[
        ("ruleset.toml", "show_rule_errors = false\n"),
        ("r.rhai", "throw \"boom\";"),
    ])
    .unwrap();
    let ev = run(&fx, estimate());
    assert_eq!(body(&ev), json!([]));
    assert!(matches!(&ev.runs[0].outcome, Outcome::Error(e) if e.message == "boom"));
}

#[test]
fn invalid_alert_output_is_the_rules_error() {
    let cases = [
        (r#"info("")"#, "empty"),
        (r#"info(42)"#, "must be a string"),
        (r#"info("x").link("ftp://a.b/c")"#, "only http(s)"),
        (r#"info("x").mutation([1, 2])"#, "must be a map"),
        (r#"info("x").field("", 1)"#, "label is empty"),
        (
            r#"[#{ message: "x", alertType: "Warning" }]"#,
            "not one of Unspecified",
        ),
        (r#"[#{ mesage: "x" }]"#, "did you mean `message`"),
        (
            r#"[#{ message: "x", displayFields: "a" }]"#,
            "must be an array",
        ),
        (r#"[42]"#, "not an alert map"),
        (
            r#"info("x").mutation(#{ speed: 0.0 / 0.0 })"#,
            "JSON cannot carry",
        ),
    ];
    for (source, expected) in cases {
        let ev = run(&rule(source), estimate());
        let Outcome::Error(err) = &ev.runs[0].outcome else {
            panic!("{source}: {:?}", ev.runs[0])
        };
        assert!(err.message.contains(expected), "{source}: {}", err.message);
        assert_eq!(
            body(&ev).as_array().unwrap().len(),
            1,
            "{source}: one error card"
        );
    }
}

#[test]
fn runaway_rules_stop_at_the_deadline_and_others_still_answer() {
    let runaways = [
        ("loop {}", "an empty loop"),
        (
            "fn f(n) { f(n + 1) + f(n + 1) } f(0);",
            "exponential recursion",
        ),
        ("let s = \"ab\"; loop { s += s; }", "string doubling"),
        (
            "let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; }",
            "map index-assignment",
        ),
        (
            "let n = 0; loop { n += get(estimate, \"estimateItineraries[0].portDays\"); }",
            "host function in a loop",
        ),
        ("let a = []; loop { a.push(estimate); }", "array growth"),
    ];
    for (source, why) in runaways {
        let fx = ruleset(&[("a.rhai", r#"info("still here")"#), ("b.rhai", source)]).unwrap();
        let started = Instant::now();
        let ev = run_with(&fx, estimate(), Duration::from_millis(300));
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(300) + Duration::from_millis(750),
            "{why}: {took:?}"
        );
        assert_ne!(ev.runs[1].outcome, Outcome::Ok, "{why}");
        let b = body(&ev);
        assert_eq!(b[0]["message"], "still here", "{why}");
        assert_eq!(b[1]["alertType"], "Error", "{why}: {b}");
    }
}

/// Rhai counts operations from zero again inside a closure that a built-in such as
/// `map` calls, so neither its count nor its own operations limit sees that work; lookout
/// counts every operation itself. Before that, this rule reported 18 operations and held
/// its thread for seconds after the deadline.
#[test]
fn closures_called_by_builtins_are_counted_and_stopped() {
    let nested = "let a = []; a.pad(3000, 0); let c = []; c.pad(3000, 0); a.map(|x| c.map(|y| y + 1).len()).len()";
    let fx = rule(nested);
    let input = CallInput {
        estimate: Arc::new(crate::rules::json::doc_from(&estimate())),
        request: Arc::new(crate::rules::json::doc_from(&json!({}))),
        facts: Default::default(),
    };
    let started = Instant::now();
    let run = eval::run_rule(
        &fx.set,
        &fx.set.rules[0],
        &input,
        Instant::now() + Duration::from_millis(200),
    );
    let took = started.elapsed();
    assert_eq!(run.outcome, Outcome::Timeout, "{run:?}");
    assert!(
        took < Duration::from_millis(400),
        "the thread was held {took:?}"
    );
    assert!(
        run.operations > 50_000,
        "{} operations counted",
        run.operations
    );

    // The operations limit holds inside closures too.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("desk");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(
        root.join("r.rhai"),
        "let a = []; a.pad(200, 0); a.map(|x| { let s = 0; for i in 0..1000 { s += i; } s }).len()",
    )
    .unwrap();
    let mut defaults = Defaults::default();
    defaults.limits.max_operations = 20_000;
    let set = ruleset::load(&root, &defaults).unwrap();
    let run = eval::run_rule(
        &set,
        &set.rules[0],
        &input,
        Instant::now() + Duration::from_secs(5),
    );
    let Outcome::Error(err) = &run.outcome else {
        panic!("{run:?}")
    };
    assert!(
        err.message.contains("more than 20000 operations"),
        "{}",
        err.message
    );
    assert!(
        run.operations > 20_000 && run.operations < 22_000,
        "{}",
        run.operations
    );
}

/// One runaway rule never holds back the rest of its call, even while a stream of other
/// calls keeps the pool busy: another thread takes the call's other rules. (A guard for
/// any change to how calls share the pool: one that ran a call's rules on one thread
/// under load failed it.)
#[test]
fn a_long_rule_gets_help_even_while_other_calls_keep_the_pool_busy() {
    let own_pool = Arc::new(Pool::new(2).unwrap());
    let runaway = ruleset(&[("a.rhai", "loop {}"), ("b.rhai", r#"info("still here")"#)]).unwrap();
    let busy = rule("let n = 0; for i in 0..100000 { n += i; } n");
    let input = || {
        Arc::new(CallInput {
            estimate: Arc::new(crate::rules::json::doc_from(&estimate())),
            request: Arc::new(crate::rules::json::doc_from(&json!({}))),
            facts: Default::default(),
        })
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stream = {
        let (pool, set, stop, input) = (own_pool.clone(), busy.set.clone(), stop.clone(), input());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            let mut calls = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let four = (0..4).map(|_| {
                    evaluate(
                        &pool,
                        set.clone(),
                        input.clone(),
                        Instant::now() + Duration::from_secs(5),
                        (),
                    )
                });
                rt.block_on(futures_util::future::join_all(four));
                calls += 4;
            }
            calls
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let ev = rt.block_on(evaluate(
        &own_pool,
        runaway.set.clone(),
        input(),
        Instant::now() + Duration::from_millis(600),
        (),
    ));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let calls = stream.join().unwrap();
    assert!(calls >= 4, "the stream kept the pool busy ({calls} calls)");
    assert_eq!(ev.runs[0].outcome, Outcome::Timeout, "{:?}", ev.runs[0]);
    assert_eq!(ev.runs[1].outcome, Outcome::Ok, "{:?}", ev.runs[1]);
    let answer = body(&ev);
    assert!(
        answer
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["message"] == "still here"),
        "{answer}"
    );
}

/// A call hands the pool one job per thread, and each job takes the next rule; a rule
/// whose turn comes after the deadline is not started and says so in its trace.
#[test]
fn rules_whose_turn_comes_after_the_deadline_are_not_started() {
    let fx = ruleset(&[
        ("a.rhai", "loop {}"),
        ("b.rhai", "loop {}"),
        ("c.rhai", "info(\"late\")"),
    ])
    .unwrap();
    let ev = run_with(&fx, estimate(), Duration::from_millis(200));
    let c = &ev.runs[2];
    assert_eq!(c.outcome, Outcome::Timeout, "{c:?}");
    assert_eq!(c.operations, 0, "{c:?}");
    assert!(c.notes.iter().any(|n| n.contains("not started")), "{c:?}");
    assert_eq!(
        body(&ev).as_array().unwrap().len(),
        3,
        "one Error card per rule"
    );
}

#[test]
fn deep_recursion_is_a_clear_error() {
    let ev = run(&rule("fn f(n) { f(n + 1) } f(0);"), estimate());
    let Outcome::Error(err) = &ev.runs[0].outcome else {
        panic!("{:?}", ev.runs[0])
    };
    assert!(err.message.contains("levels deep"), "{}", err.message);
}

#[test]
fn print_and_debug_are_captured_and_capped() {
    let ev = run(&rule("print(\"hello\"); debug(estimate.vesselCode); for i in 0..100000 { print(\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"); }"), estimate());
    let out = &ev.runs[0].output;
    assert!(
        out.starts_with("hello\n[line 1] \"ANNA\"\n"),
        "{}",
        &out[..60]
    );
    assert!(out.len() < 70 * 1024);
    assert!(out.ends_with("[output cut: more than the per-rule limit was printed]\n"));
}

#[test]
fn libs_and_data_are_the_rule_sets_own() {
    let fx = ruleset(&[
        (
            "lib/fuel.rhai",
            "fn needed(consumption, margin_pct) { consumption * (100 + margin_pct) / 100 }",
        ),
        ("data/desk.json", r#"{"tceFloor": 12000}"#),
        (
            "data/parties.csv",
            "name,rating\nOceanic Grain,C\nBunge,A\n",
        ),
        (
            "r.rhai",
            r#"
            import "lib/fuel" as fuel;
            let p = find(data.parties, "name", "oceanic grain");
            info(`${fuel::needed(100, 10)} ${data.desk.tceFloor} ${p.rating}`);
        "#,
        ),
    ])
    .unwrap();
    assert_eq!(body(&run(&fx, estimate()))[0]["message"], "110 12000 C");

    let escape = ruleset(&[("r.rhai", r#"import "../../etc/passwd" as p; info("x")"#)]).unwrap();
    let ev = run(&escape, estimate());
    let Outcome::Error(err) = &ev.runs[0].outcome else {
        panic!()
    };
    assert!(
        err.message.contains(
            "module `../../etc/passwd` not found: modules are lib/<name> inside this rule set"
        ),
        "{}",
        err.message
    );
}

/// A CSV column whose filled cells are all numbers reads as numbers (its empty cells
/// as `()`); any other column stays text as written, leading zeros included.
#[test]
fn csv_columns_of_numbers_read_as_numbers() {
    let fx = ruleset(&[
        (
            "data/vessels.csv",
            "code,dwt,speed,imo,note,mixed\nANN,58600,13.5,0091234,,12\nLKT,,-2e1,0095678,big,n/a\n",
        ),
        (
            "r.rhai",
            r#"
            let a = data.vessels[0];
            let b = data.vessels[1];
            info(`${a.dwt * 2} ${type_of(a.dwt)} ${a.speed + 1.0} ${b.speed} ${b.dwt == ()} ${a.imo} ${type_of(a.mixed)} ${a.note == ""} ${parse_float(a.dwt)} ${to_number(a.mixed) + 1}`);
        "#,
        ),
    ])
    .unwrap();
    assert_eq!(
        body(&run(&fx, estimate()))[0]["message"],
        "117200 i64 14.5 -20.0 true 0091234 string true 58600.0 13"
    );
}

/// Arithmetic on text says what happened and what to do, in a rule author's words.
#[test]
fn arithmetic_on_text_is_explained() {
    for (script, expected) in [
        (
            r#"let qty = "58600"; info(`${qty * 2}`);"#,
            "cannot use `*` on a string and a number; the string may hold a number",
        ),
        (
            r#"let x = (); info(`${x + 1}`);"#,
            "cannot use `+` on nothing (`()`) and a number; a value was missing",
        ),
        (
            r#"info(`${no_such_helper(1, "a")}`);"#,
            "there is no function `no_such_helper` taking (a number, a string)",
        ),
        (
            r#"info(`${to_number("12 MT")}`);"#,
            "to_number: \"12 MT\" is not a number",
        ),
    ] {
        let fx = ruleset(&[("r.rhai", script)]).unwrap();
        let ev = run(&fx, estimate());
        let Outcome::Error(err) = &ev.runs[0].outcome else {
            panic!("{script}: {:?}", ev.runs[0].outcome)
        };
        assert!(err.message.contains(expected), "{script}: {}", err.message);
        assert!(
            !err.message.contains("Function not found"),
            "{}",
            err.message
        );
        assert_eq!(err.line, Some(1), "{script}");
    }
}

#[test]
fn eval_is_off() {
    let problems = ruleset(&[("r.rhai", r#"eval("1 + 1")"#)])
        .err()
        .expect("eval must not compile");
    assert!(problems[0]
        .to_string()
        .starts_with(&format!("{}", problems[0].path.display())));
    assert_eq!(problems[0].line, Some(1));
}

#[test]
fn compile_errors_name_file_line_and_column() {
    let problems = ruleset(&[("good.rhai", "info(\"x\")"), ("bad.rhai", "let x = ;\n")])
        .err()
        .unwrap();
    assert_eq!(problems.len(), 1);
    let text = problems[0].to_string();
    assert!(text.contains("bad.rhai:1:9: "), "{text}");
    let typo = ruleset(&[("r.rhai", "info(estimat.vesselCode)")])
        .err()
        .unwrap();
    assert!(typo[0].message.contains("estimat"), "{}", typo[0]);
    let broken_lib = ruleset(&[("lib/x.rhai", "fn f( {"), ("r.rhai", "1")])
        .err()
        .unwrap();
    assert!(
        broken_lib[0].path.ends_with("lib/x.rhai"),
        "{:?}",
        broken_lib[0]
    );
    let toml = ruleset(&[
        ("ruleset.toml", "budget_ms = 500\napi_key = [\"x\"]\n"),
        ("r.rhai", "1"),
    ])
    .err()
    .unwrap();
    assert!(
        toml[0]
            .to_string()
            .contains("ruleset.toml:2:1: unknown key `api_key`"),
        "{}",
        toml[0]
    );
    assert!(
        toml[0].message.contains("did you mean `api_keys`?"),
        "{}",
        toml[0]
    );
    // Other unknown keys only warn, and the rule set loads without them.
    let fx = ruleset(&[
        (
            "ruleset.toml",
            "budjet_ms = 500
[extra]
x = 1
",
        ),
        ("r.rhai", "1"),
    ])
    .unwrap_or_else(|p| panic!("{p:?}"));
    let warnings: Vec<String> = fx.set.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w
                .contains("ruleset.toml:1:1: unknown key `budjet_ms`; did you mean `budget_ms`?")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("unknown key `extra`")),
        "{warnings:?}"
    );
    assert_eq!(
        fx.set.settings.budget,
        std::time::Duration::from_millis(10_000)
    );
}

#[test]
fn settings_resolve_keys_and_reject_nonsense() {
    std::env::set_var("LOOKOUT_TEST_KEY_A", "alpha-key");
    let fx = ruleset(&[("ruleset.toml", "api_keys = [\"env:LOOKOUT_TEST_KEY_A\", \"literal-key\"]\nbudget_ms = 2000\nmargin_ms = 500\n"), ("r.rhai", "1")]).unwrap();
    assert_eq!(fx.set.settings.api_keys.len(), 2);
    assert!(fx
        .set
        .warnings
        .iter()
        .any(|w| w.message.contains("literal key")));
    let missing = ruleset(&[
        (
            "ruleset.toml",
            "api_keys = [\"env:LOOKOUT_TEST_KEY_UNSET\"]\n",
        ),
        ("r.rhai", "1"),
    ])
    .err()
    .unwrap();
    assert!(
        missing[0]
            .message
            .contains("LOOKOUT_TEST_KEY_UNSET is not set"),
        "{}",
        missing[0]
    );
    let budget = ruleset(&[("ruleset.toml", "budget_ms = 20000\n"), ("r.rhai", "1")])
        .err()
        .unwrap();
    assert!(
        budget[0].message.contains("the Estimator waits 10 s"),
        "{}",
        budget[0]
    );
}

#[test]
fn rules_run_in_parallel_and_answer_in_file_order() {
    let spin = "let t = 0; for i in 0..200000 { t += i; }";
    let fx = ruleset(&[
        ("a.rhai", &format!("{spin} info(\"a\")")),
        ("b.rhai", &format!("{spin} info(\"b\")")),
        ("c.rhai", "info(\"c\")"),
    ])
    .unwrap();
    let ev = run(&fx, estimate());
    let messages: Vec<_> = body(&ev)
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(messages, ["a", "b", "c"]);
    assert!(ev.runs[0].operations > 200_000);
}

#[test]
fn identity_pointer_feeds_the_guid() {
    let fx = ruleset(&[
        ("ruleset.toml", "identity = [\"/vesselCode\"]\n"),
        ("r.rhai", "info(\"x\")"),
    ])
    .unwrap();
    let a = body(&run(&fx, estimate()));
    let mut other = estimate();
    other["estimateID"] = json!("EST-2");
    let b = body(&run(&fx, other.clone()));
    assert_eq!(
        a[0]["guid"], b[0]["guid"],
        "estimateID is not the identity here"
    );
    other["vesselCode"] = json!("BETA");
    let c = body(&run(&fx, other));
    assert_ne!(a[0]["guid"], c[0]["guid"]);
}

/// Issue 12, finding 3: a lib module that raised an alert at load and exported its
/// handle made every rule that used it panic its pool thread. Loading a module is not
/// a rule run: the alert is an error at load, naming the module.
#[test]
fn a_lib_module_cannot_raise_alerts_while_it_loads() {
    let problems = ruleset(&[
        ("lib/m.rhai", "let a = info(\"x\");\nexport a;"),
        (
            "r.rhai",
            "import \"lib/m\" as m;\nm::a.field(\"k\", \"v\");",
        ),
    ])
    .err()
    .expect("the rule set must not load");
    let text = format!("{problems:?}");
    assert!(text.contains("m.rhai"), "{text}");
    assert!(
        text.contains("alerts can only be raised while a rule runs"),
        "{text}"
    );
}

/// Issue 12, finding 3: a panic inside a rule run (a bug in lookout or a crate, which
/// no rule can cause on purpose: here a host function registered only for this test)
/// is that rule's error; the pool keeps every thread and the next calls are answered.
#[test]
fn a_panic_in_a_rule_run_is_its_error_and_the_pool_stays_whole() {
    let mut fx = ruleset(&[
        ("a.rhai", "info(\"before\");\nboom();"),
        ("b.rhai", "info(\"fine\");"),
    ])
    .unwrap_or_else(|p| panic!("{p:?}"));
    let mut set = Arc::try_unwrap(fx.set).unwrap();
    set.engine.register_fn("boom", || -> i64 {
        panic!("boom from a test host function")
    });
    fx.set = Arc::new(set);
    let own_pool = Pool::new(2).unwrap();
    let before = own_pool
        .health()
        .panics
        .load(std::sync::atomic::Ordering::Relaxed);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    // More calls than threads: a lost thread would leave later calls to time out.
    for _ in 0..5 {
        let input = Arc::new(CallInput {
            estimate: Arc::new(crate::rules::json::doc_from(&estimate())),
            request: Arc::new(crate::rules::json::doc_from(&json!({}))),
            facts: Default::default(),
        });
        let started = Instant::now();
        let ev = rt.block_on(evaluate(
            &own_pool,
            fx.set.clone(),
            input,
            Instant::now() + Duration::from_secs(5),
            (),
        ));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the call waited for a lost rule"
        );
        let Outcome::Error(err) = &ev.runs[0].outcome else {
            panic!("{:?}", ev.runs[0]);
        };
        assert!(
            err.message.contains("boom from a test host function"),
            "{err}"
        );
        assert!(err.message.contains("a bug in lookout"), "{err}");
        assert!(ev.runs[0].alerts.is_empty());
        assert_eq!(ev.runs[1].outcome, Outcome::Ok);
        let messages: Vec<Value> = body(&ev).as_array().unwrap().clone();
        assert!(
            messages.iter().any(|a| a["message"] == "fine"),
            "{messages:?}"
        );
    }
    let health = own_pool.health();
    assert_eq!(
        health.panics.load(std::sync::atomic::Ordering::Relaxed) - before,
        5
    );
    assert_eq!(health.alive.load(std::sync::atomic::Ordering::Relaxed), 2);
}

/// Found probing for issue 12: Rhai's own `replace` built a terabyte inside one native
/// call (1 MiB text, each byte replaced by 1 MiB), past the memory ceiling and the
/// deadline, until the process ran out of memory. The result is sized first; ordinary
/// replaces behave as before.
#[test]
fn replace_cannot_build_a_string_past_the_limit() {
    let fx = rule(
        r#"
        let a = "";
        a.pad(1000000, "a");
        let b = "";
        b.pad(1000000, "b");
        let small = "hello, world! hello!";
        small.replace("hello", "hey");
        small.replace('!', "?!");
        info(small);
        let big = a;
        big.replace("a", b);
        info("not reached");
        "#,
    );
    let ev = run(&fx, estimate());
    let Outcome::Error(err) = &ev.runs[0].outcome else {
        panic!("{:?}", ev.runs[0]);
    };
    assert!(
        err.message
            .contains("replace: the result would be 1000000000000 bytes"),
        "{err}"
    );
    let fx = rule(
        r#"let s = "hello, world! hello!"; s.replace("hello", "hey"); s.replace('!', "?!"); s.replace("", "-"); info(s);"#,
    );
    assert_eq!(
        body(&run(&fx, estimate()))[0]["message"],
        "-h-e-y-,- -w-o-r-l-d-?-!- -h-e-y-?-!-"
    );
}
