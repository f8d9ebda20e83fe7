//! The CPU path of one webhook call, in process: signature check, parse, rule
//! evaluation (which includes assembling the answer), and the whole of it.
//!
//! Run with `cargo bench --bench hot_path`; BENCHMARKS.md has the figures and the
//! machine they came from. TLS, HTTP framing and logging are not in here: the load
//! test (`benches/load.sh`) covers those end to end.
//!
//! Samples (from `rules/samples/`, rule set `rules/default`):
//!   - `small`: drybulk-single-cargo.json (6,072 bytes; the "10 KB class" of estimates)
//!   - `100k`:  multiport-100k.json (103,774 bytes; 50 detailed port calls, 6 cargoes:
//!     the shape of the 100 KB estimate in the product's baseline measurements)
//!   - `100k-parcels`: large-100k.json (103,671 bytes; 45 port calls, 148 cargo parcels,
//!     so the cargo loops of the shipped rules run 25 times as often)
//!   - `1m`:    large-1m.json (944,622 bytes)
//!
//! Groups:
//!   - `verify`              HMAC-SHA256 over the raw bytes, one key
//!   - `nesting_check`       `nesting::check`: the depth guard alone (part of `parse`)
//!   - `nesting_check_bytewise` the same by the byte loop (what `check` was before its
//!     64-byte blocks; still what it is off x86_64)
//!   - `parse`               `str::from_utf8` + `rules::json::parse` (the depth guard, then
//!     sonic-rs), as served
//!   - `parse_serde_json`    `str::from_utf8` + `serde_json::from_str::<Value>`, for scale
//!   - `evaluate_1thread`    `rules::evaluate` with `Pool::new(1)` (one core for rules)
//!   - `evaluate_2threads`   the same with `Pool::new(2)`
//!   - `full_1thread`        verify + parse + request context + evaluate (+ assemble)
//!   - `full_2threads`       the same with `Pool::new(2)`
//!   - `full_inline`         the same work on the bench thread alone: `run_rule` for each
//!     rule in turn, then `answer` (no pool, no hand-off between threads)
//!   - `assemble`            `rules::eval::answer` alone (alerts -> GUIDs -> JSON body)
//!   - `rule_100k`, `rule_100k-parcels` `rules::eval::run_rule` per rule, this thread
//!   - `evaluate_2threads_with_interner` a regression guard: `evaluate_2threads` with
//!     Rhai's string interner turned back on (`set_max_strings_interned(256)`, Rhai's
//!     default; `sandbox::engine` turns it off). With feature `sync` the interner is one
//!     engine-wide RwLock whose `try_write` sleeps 10 ms when another thread holds it,
//!     and `let x = <string>`, `for` loops and `${}` strings intern at run time, so two
//!     rule threads of one call collide (see BENCHMARKS.md).
//!   - `desk_100k`           benches/desk (ten desk checks written plainly, the rule set
//!     of benches/vs_express.sh) on the 100k sample, on this one thread: `all_rules`
//!     (every rule with `run_rule`, then `answer`: issue 14's in-process target),
//!     `evaluate_2threads` (`rules::evaluate` on the two-thread pool, as served) and each
//!     rule alone, all with reuse off (every rule evaluated); `all_rules_recorded`
//!     (`all_rules` with each run's reads written down, the cost reuse adds to a run);
//!     `edit_stream_2threads_reuse` / `_no_reuse` (`rules::evaluate` over 96 successive
//!     one-field edits of the sample, with reuse on and off)
//!   - `representation_100k` what converting the estimate to Rhai maps would cost
//!     (`rhai::serde::to_dynamic`, and the deep `.clone()` each further rule would
//!     need) against the zero-copy `Json` handle the rules get.
//!
//! `std::hint::black_box` is used throughout: `criterion::black_box` is deprecated in
//! criterion 0.8 and only forwards to it.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use serde_json::Value;
use sonic_rs::JsonValueTrait;

use lookout::rules::eval::{answer, run_rule};
use lookout::rules::json::{self, Doc, Json};
use lookout::rules::request_context as server_request_context;
use lookout::rules::reuse;
use lookout::rules::ruleset::{self, Defaults};
use lookout::rules::{self as rules_mod, CallInput, Pool, RuleSet};
use lookout::signature::{self, ApiKey};

/// A 48-character key, like the ones `benches/load.sh` generates.
const KEY: &str = "bench-key-0123456789abcdefghijklmnopqrstuvwxyzAB";

const SAMPLES: &[(&str, &str)] = &[
    ("small", "rules/samples/drybulk-single-cargo.json"),
    ("100k", "rules/samples/multiport-100k.json"),
    ("100k-parcels", "rules/samples/large-100k.json"),
    ("1m", "rules/samples/large-1m.json"),
];

struct Sample {
    name: &'static str,
    body: Vec<u8>,
    signature: String,
    estimate: Arc<Doc>,
}

struct Fixture {
    ruleset: Arc<RuleSet>,
    /// The same rule set with Rhai's string interner turned back on.
    with_interner: Arc<RuleSet>,
    keys: Vec<ApiKey>,
    samples: Vec<Sample>,
    pool1: Pool,
    pool2: Pool,
    rt: tokio::runtime::Runtime,
}

impl Fixture {
    fn sample(&self, name: &str) -> &Sample {
        self.samples
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} sample"))
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// rules/default with reuse off: the groups below measure every rule evaluated.
fn load_default() -> RuleSet {
    let mut set = ruleset::load(&root().join("rules/default"), &Defaults::default())
        .unwrap_or_else(|problems| {
            for p in &problems {
                eprintln!("{p}");
            }
            panic!("rules/default does not compile");
        });
    set.reuse = reuse::Cache::new(0);
    set
}

fn fixture() -> Fixture {
    let ruleset = load_default();
    let mut with_interner = load_default();
    with_interner.engine.set_max_strings_interned(256);
    let key = ApiKey::new(KEY);
    assert_eq!(KEY.len(), 48);
    let samples = SAMPLES
        .iter()
        .map(|(name, path)| {
            let body = std::fs::read(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
            let signature = signature::sign(&key, &body);
            let estimate =
                Arc::new(json::parse(std::str::from_utf8(&body).expect("utf-8")).expect("JSON"));
            eprintln!("sample {name}: {path}, {} bytes", body.len());
            Sample {
                name,
                body,
                signature,
                estimate,
            }
        })
        .collect();
    Fixture {
        ruleset: Arc::new(ruleset),
        with_interner: Arc::new(with_interner),
        keys: vec![key],
        samples,
        pool1: Pool::new(1).expect("pool"),
        pool2: Pool::new(2).expect("pool"),
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime"),
    }
}

/// `request` as the server builds it, from the headers a signed IMOS call carries.
fn request_context() -> Doc {
    let headers: [(&str, &[u8]); 4] = [
        ("content-type", b"application/json"),
        ("host", b"127.0.0.1:8443"),
        ("content-length", b"103671"),
        (
            "veson-webhook-signature",
            b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ),
    ];
    server_request_context(
        "default",
        uuid::Uuid::now_v7(),
        std::time::SystemTime::now(),
        headers,
        &[],
    )
}

fn deadline(ruleset: &RuleSet) -> Instant {
    Instant::now() + ruleset.settings.budget - ruleset.settings.margin
}

fn input(estimate: &Arc<Doc>) -> Arc<CallInput> {
    Arc::new(CallInput {
        estimate: estimate.clone(),
        request: Arc::new(request_context()),
        facts: Default::default(),
    })
}

/// What the server does between "body read" and "answer ready".
fn full_call(f: &Fixture, pool: &Pool, s: &Sample) -> usize {
    let outcome = signature::verify([s.signature.as_bytes()], &s.body, &f.keys);
    assert!(outcome.is_accepted());
    let text = std::str::from_utf8(&s.body).expect("utf-8");
    let estimate = json::parse(text).expect("json");
    assert!(estimate.is_object());
    let input = Arc::new(CallInput {
        estimate: Arc::new(estimate),
        request: Arc::new(request_context()),
        facts: Default::default(),
    });
    let ruleset = f.ruleset.clone();
    let evaluation = f.rt.block_on(rules_mod::evaluate(
        pool,
        ruleset,
        input,
        deadline(&f.ruleset),
        (),
    ));
    evaluation.response.body.len()
}

/// The same work as [`full_call`] on this one thread, rules one after another, without
/// the pool: the difference is the cost of handing the call to a rule thread.
fn full_inline(f: &Fixture, s: &Sample) -> usize {
    let outcome = signature::verify([s.signature.as_bytes()], &s.body, &f.keys);
    assert!(outcome.is_accepted());
    let text = std::str::from_utf8(&s.body).expect("utf-8");
    let estimate = json::parse(text).expect("json");
    assert!(estimate.is_object());
    let input = Arc::new(CallInput {
        estimate: Arc::new(estimate),
        request: Arc::new(request_context()),
        facts: Default::default(),
    });
    let deadline = deadline(&f.ruleset);
    let runs: Vec<_> = f
        .ruleset
        .rules
        .iter()
        .map(|rule| run_rule(&f.ruleset, rule, &input, deadline))
        .collect();
    answer(&f.ruleset, &input.estimate, &runs).body.len()
}

/// How long a benchmark may take, so the whole run stays near three minutes.
#[derive(Clone, Copy, PartialEq)]
enum Tier {
    /// Microseconds per iteration: 30 samples over 2 s.
    Micro,
    /// Up to a few ms per iteration: 30 samples over 2.5 s.
    Milli,
    /// Tens of ms (the 1 MB sample's rules): flat sampling, 10 samples over 4 s.
    Slow,
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn tune(group: &mut Group<'_>, tier: Tier) {
    let (mode, samples, warm_up, measure) = match tier {
        Tier::Micro => (
            SamplingMode::Auto,
            30,
            Duration::from_millis(500),
            Duration::from_secs(2),
        ),
        Tier::Milli => (
            SamplingMode::Auto,
            30,
            Duration::from_secs(1),
            Duration::from_millis(2500),
        ),
        Tier::Slow => (
            SamplingMode::Flat,
            10,
            Duration::from_secs(1),
            Duration::from_secs(4),
        ),
    };
    group
        .sampling_mode(mode)
        .sample_size(samples)
        .warm_up_time(warm_up)
        .measurement_time(measure);
}

fn eval_tier(s: &Sample) -> Tier {
    if s.name == "1m" {
        Tier::Slow
    } else {
        Tier::Milli
    }
}

/// One micro-benchmark group: `routine` on every sample's body, throughput in bytes.
fn bench_bodies<O>(c: &mut Criterion, f: &Fixture, name: &str, routine: impl Fn(&Sample) -> O) {
    let mut group = c.benchmark_group(name);
    tune(&mut group, Tier::Micro);
    for s in &f.samples {
        group.throughput(Throughput::Bytes(s.body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(s.name), s, |b, s| {
            b.iter(|| routine(s))
        });
    }
    group.finish();
}

fn bench_verify_parse(c: &mut Criterion, f: &Fixture) {
    bench_bodies(c, f, "verify", |s| {
        let header = black_box(s.signature.as_bytes());
        signature::verify([header], black_box(&s.body), black_box(&f.keys))
    });
    bench_bodies(c, f, "nesting_check", |s| {
        lookout::nesting::check(black_box(&s.body)).is_ok()
    });
    bench_bodies(c, f, "nesting_check_bytewise", |s| {
        lookout::nesting::check_bytewise(black_box(&s.body)).is_ok()
    });
    bench_bodies(c, f, "parse", |s| {
        let text = std::str::from_utf8(black_box(&s.body)).expect("utf-8");
        json::parse(text).expect("json")
    });
    bench_bodies(c, f, "parse_serde_json", |s| {
        let text = std::str::from_utf8(black_box(&s.body)).expect("utf-8");
        serde_json::from_str::<Value>(text).expect("json")
    });
}

fn bench_evaluate(c: &mut Criterion, f: &Fixture) {
    let variants = [
        ("evaluate_1thread", &f.pool1, &f.ruleset),
        ("evaluate_2threads", &f.pool2, &f.ruleset),
        (
            "evaluate_2threads_with_interner",
            &f.pool2,
            &f.with_interner,
        ),
    ];
    for (name, pool, ruleset) in variants {
        let mut group = c.benchmark_group(name);
        for s in &f.samples {
            tune(&mut group, eval_tier(s));
            group.throughput(Throughput::Bytes(s.body.len() as u64));
            let call = input(&s.estimate);
            group.bench_with_input(BenchmarkId::from_parameter(s.name), s, |b, _| {
                b.iter(|| {
                    let evaluation = f.rt.block_on(rules_mod::evaluate(
                        pool,
                        ruleset.clone(),
                        call.clone(),
                        deadline(ruleset),
                        (),
                    ));
                    black_box(evaluation.response.body.len())
                })
            });
        }
        group.finish();
    }

    for (name, pool) in [("full_1thread", &f.pool1), ("full_2threads", &f.pool2)] {
        let mut group = c.benchmark_group(name);
        for s in &f.samples {
            tune(&mut group, eval_tier(s));
            group.throughput(Throughput::Bytes(s.body.len() as u64));
            group.bench_with_input(BenchmarkId::from_parameter(s.name), s, |b, s| {
                b.iter(|| black_box(full_call(f, pool, s)))
            });
        }
        group.finish();
    }

    let mut group = c.benchmark_group("full_inline");
    for s in &f.samples {
        tune(&mut group, eval_tier(s));
        group.throughput(Throughput::Bytes(s.body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(s.name), s, |b, s| {
            b.iter(|| black_box(full_inline(f, s)))
        });
    }
    group.finish();
}

fn bench_assemble(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("assemble");
    tune(&mut group, Tier::Micro);
    for s in &f.samples {
        let call = input(&s.estimate);
        let evaluation = f.rt.block_on(rules_mod::evaluate(
            &f.pool1,
            f.ruleset.clone(),
            call,
            deadline(&f.ruleset),
            (),
        ));
        let runs: Vec<String> = evaluation
            .runs
            .iter()
            .map(|r| format!("{}={} ({} ops)", r.rule, r.outcome.as_str(), r.operations))
            .collect();
        eprintln!(
            "sample {}: {} alerts, {} byte answer; rules: {}",
            s.name,
            evaluation.response.sent,
            evaluation.response.body.len(),
            runs.join(", ")
        );
        group.bench_with_input(BenchmarkId::from_parameter(s.name), s, |b, s| {
            b.iter(|| {
                let assembled = answer(&f.ruleset, &s.estimate, black_box(&evaluation.runs));
                black_box(assembled.body.len())
            })
        });
    }
    group.finish();
}

fn bench_rules(c: &mut Criterion, f: &Fixture) {
    for name in ["100k", "100k-parcels"] {
        bench_rules_on(c, f, name);
    }
}

fn bench_rules_on(c: &mut Criterion, f: &Fixture, sample: &str) {
    let s = f.sample(sample);
    let call = input(&s.estimate);
    let ruleset = &f.ruleset;
    let mut group = c.benchmark_group(format!("rule_{sample}"));
    for rule in &ruleset.rules {
        let tier = if rule.id == "tce_floor" {
            Tier::Micro
        } else {
            Tier::Milli
        };
        tune(&mut group, tier);
        group.bench_function(rule.id.as_str(), |b| {
            b.iter(|| {
                let run = run_rule(ruleset, rule, &call, deadline(ruleset));
                assert_eq!(run.outcome.as_str(), "ok", "{}: {:?}", rule.id, run.outcome);
                black_box(run.alerts.len())
            })
        });
    }
    group.finish();
}

/// benches/desk, the plain desk checks (its `api_keys` read this key from the environment).
fn load_desk() -> RuleSet {
    std::env::set_var("LOOKOUT_KEY_DESK", KEY);
    ruleset::load(&root().join("benches/desk"), &Defaults::default()).unwrap_or_else(|problems| {
        for p in &problems {
            eprintln!("{p}");
        }
        panic!("benches/desk does not compile");
    })
}

/// `calls` successive edits of `sample`, as the Estimator sends them: each a whole
/// estimate, each one field changed from the one before (in turn a bunker price, a
/// port call's days, the daily cost), the voyage results with every edit.
fn edit_stream(sample: &Doc, calls: usize) -> Vec<Arc<CallInput>> {
    let mut estimate = json::doc_to_value(sample);
    (0..calls)
        .map(|step| {
            let n = estimate["estimateItineraries"]
                .as_array()
                .map_or(0, Vec::len);
            let call = &mut estimate["estimateItineraries"][step % n.max(1)];
            match step % 3 {
                0 => {
                    let price = &mut call["voyageEstimateBunkers"][0]["price"];
                    *price = Value::from(price.as_f64().unwrap_or(500.0) + 1.5);
                }
                1 => {
                    let days = &mut call["portDays"];
                    *days = Value::from(days.as_f64().unwrap_or(1.0) + 0.25);
                }
                _ => {
                    let cost = &mut estimate["dailyCost"];
                    *cost = Value::from(cost.as_i64().unwrap_or(14_000) + 250);
                }
            }
            let tce = &mut estimate["voyageResults"]["tce"];
            *tce = Value::from(tce.as_f64().unwrap_or(10_000.0) + 10.0);
            input(&Arc::new(json::doc_from(&estimate)))
        })
        .collect()
}

fn bench_desk(c: &mut Criterion, f: &Fixture) {
    let mut desk = load_desk();
    // Reuse is measured in its own functions below; the rest evaluate every rule.
    let desk_reusing = Arc::new(load_desk());
    desk.reuse = reuse::Cache::new(0);
    let s = f.sample("100k");
    let call = input(&s.estimate);
    let mut group = c.benchmark_group("desk_100k");
    tune(&mut group, Tier::Milli);
    // `all_rules` with every rule's reads written down, as each run is with reuse on.
    group.bench_function("all_rules_recorded", |b| {
        b.iter(|| {
            let deadline = deadline(&desk);
            let runs: Vec<_> = desk
                .rules
                .iter()
                .map(|rule| {
                    let (run, reads) = reuse::record(&call.estimate, &call.request, || {
                        run_rule(&desk, rule, &call, deadline)
                    });
                    black_box(reads.len());
                    run
                })
                .collect();
            assert!(runs.iter().all(|r| r.outcome.as_str() == "ok"));
            black_box(answer(&desk, &call.estimate, &runs).body.len())
        })
    });
    // An edit stream through the server's path with reuse on: each call one edit on
    // from the one before, so the rules that read nothing edited are reused.
    let edits = edit_stream(&s.estimate, 96);
    let mut next = 0;
    group.bench_function("edit_stream_2threads_reuse", |b| {
        b.iter(|| {
            let call = edits[next % edits.len()].clone();
            next += 1;
            let evaluation = f.rt.block_on(rules_mod::evaluate(
                &f.pool2,
                desk_reusing.clone(),
                call,
                deadline(&desk_reusing),
                (),
            ));
            black_box(evaluation.response.body.len())
        })
    });
    let desk_off = Arc::new({
        let mut d = load_desk();
        d.reuse = reuse::Cache::new(0);
        d
    });
    let mut next = 0;
    group.bench_function("edit_stream_2threads_no_reuse", |b| {
        b.iter(|| {
            let call = edits[next % edits.len()].clone();
            next += 1;
            let evaluation = f.rt.block_on(rules_mod::evaluate(
                &f.pool2,
                desk_off.clone(),
                call,
                deadline(&desk_off),
                (),
            ));
            black_box(evaluation.response.body.len())
        })
    });
    group.bench_function("all_rules", |b| {
        b.iter(|| {
            let deadline = deadline(&desk);
            let runs: Vec<_> = desk
                .rules
                .iter()
                .map(|rule| run_rule(&desk, rule, &call, deadline))
                .collect();
            assert!(runs.iter().all(|r| r.outcome.as_str() == "ok"));
            black_box(answer(&desk, &call.estimate, &runs).body.len())
        })
    });
    // The server's way: the rules spread over two rule threads (both read one estimate).
    let desk = Arc::new(desk);
    group.bench_function("evaluate_2threads", |b| {
        b.iter(|| {
            let evaluation = f.rt.block_on(rules_mod::evaluate(
                &f.pool2,
                desk.clone(),
                call.clone(),
                deadline(&desk),
                (),
            ));
            black_box(evaluation.response.body.len())
        })
    });
    for rule in &desk.rules {
        group.bench_function(rule.id.as_str(), |b| {
            b.iter(|| {
                let run = run_rule(&desk, rule, &call, deadline(&desk));
                assert_eq!(run.outcome.as_str(), "ok", "{}: {:?}", rule.id, run.outcome);
                black_box(run.alerts.len())
            })
        });
    }
    group.finish();
}

fn bench_representation(c: &mut Criterion, f: &Fixture) {
    let s = f.sample("100k");
    let mut group = c.benchmark_group("representation_100k");
    tune(&mut group, Tier::Micro);
    let value: Value = serde_json::from_slice(&s.body).expect("JSON");
    group.bench_function("to_dynamic", |b| {
        b.iter(|| rhai::serde::to_dynamic(black_box(&value)).expect("converts"))
    });
    let converted = rhai::serde::to_dynamic(&value).expect("converts");
    group.bench_function("to_dynamic_clone", |b| {
        b.iter(|| black_box(&converted).clone())
    });
    group.bench_function("json_view", |b| {
        b.iter(|| Json::new(black_box(&s.estimate).clone()))
    });
    group.finish();
}

/// The recorder's work per call, off the answer's path (its own thread).
fn bench_record(c: &mut Criterion, f: &Fixture) {
    use lookout::store::{self, Backend, Call, Row};
    let mut compressor = store::Packer::default();
    let compressor = std::cell::RefCell::new(&mut compressor);
    bench_bodies(c, f, "record_compress", |s| {
        store::Blob::encode(black_box(&s.body), &mut compressor.borrow_mut())
    });
    // Writing to a real SQLite file in batches of 64, as the recorder does under load.
    let dir = tempfile::tempdir().expect("temp dir");
    let db = store::sqlite::Sqlite::open(&dir.path().join("bench.db")).expect("sqlite");
    let s = f.sample("100k");
    let template = Call {
        id: String::new(),
        received_at: lookout::clock::now_micros(),
        instance: "bench:8443".into(),
        ruleset: "default".into(),
        rules_version: Some("v".into()),
        peer: "127.0.0.1:1".into(),
        status: 200,
        signature: "valid".into(),
        duration_us: 700,
        estimate_id: Some("E".into()),
        alerts: 4,
        omitted: 0,
        rule_errors: 0,
        rule_timeouts: 0,
        error: None,
        request_headers: vec![("content-type".into(), "application/json".into())],
        redacted: vec![],
        request_size: s.body.len() as u64,
        request_body: s.body.clone().into(),
        request_truncated: false,
        response_body: br#"[{"message":"x","alertType":"Error","guid":"g"}]"#.repeat(4),
        rules: vec![],
    };
    let mut group = c.benchmark_group("record_write_sqlite");
    tune(&mut group, Tier::Micro);
    group.throughput(Throughput::Elements(64));
    group.bench_function("100k_batch64", |b| {
        b.iter(|| {
            let rows: Vec<Row> = (0..64)
                .map(|_| {
                    let mut call = template.clone();
                    call.id = uuid::Uuid::now_v7().to_string();
                    Row::encode(&call, &mut compressor.borrow_mut())
                })
                .collect();
            db.write(&rows).expect("write")
        })
    });
    // The same batches from a rule set of ten rules, each call's runs added to the hourly
    // activity (store::activity) in the write's transaction, against the same rows with
    // their runs left out (no activity): the activity's cost, side by side in one run.
    let ten_rules: Vec<store::RuleTrace> = (0..10)
        .map(|i| store::RuleTrace {
            rule: format!("rule_{i}"),
            duration_us: 40 + i * 13,
            outcome: "ok".into(),
            operations: 900,
            alerts: vec![],
            error: None,
            output: String::new(),
            output_cut: false,
            notes: vec![],
            reused: false,
        })
        .collect();
    let batch = |runs: bool| {
        let mut compressor = compressor.borrow_mut();
        (0..64)
            .map(|_| {
                let mut call = template.clone();
                call.id = uuid::Uuid::now_v7().to_string();
                call.received_at = lookout::clock::now_micros();
                call.rules = ten_rules.clone();
                let mut row = Row::encode(&call, &mut compressor);
                if !runs {
                    row.runs.clear();
                }
                row
            })
            .collect::<Vec<Row>>()
    };
    group.bench_function("100k_batch64_10rules_activity", |b| {
        b.iter(|| db.write(&batch(true)).expect("write"))
    });
    group.bench_function("100k_batch64_10rules_no_activity", |b| {
        b.iter(|| db.write(&batch(false)).expect("write"))
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    bench_record(c, &f);
    bench_verify_parse(c, &f);
    bench_evaluate(c, &f);
    bench_assemble(c, &f);
    bench_rules(c, &f);
    bench_desk(c, &f);
    bench_representation(c, &f);
}

criterion_group!(hot_path, benches);
criterion_main!(hot_path);
