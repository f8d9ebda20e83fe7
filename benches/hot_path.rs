//! The CPU path of one webhook call, in process: signature check, parse, rule
//! evaluation (which includes assembling the answer), and the whole of it.
//!
//! Run with `cargo bench --bench hot_path`; BENCHMARKS.md has the figures and the
//! machine they came from. TLS, HTTP framing and logging are not in here: the load
//! test (`benches/load.sh`) covers those end to end.
//!
//! Samples (from `rules/samples/`, rule set `rules/default`):
//!   - `small`: drybulk-single-cargo.json (~6 KB; the "10 KB class" of real estimates)
//!   - `100k`:  large-100k.json (~104 KB)
//!   - `1m`:    large-1m.json (~945 KB)
//!
//! Groups:
//!   - `verify`             HMAC-SHA256 over the raw bytes, one key
//!   - `parse`              `str::from_utf8` + `serde_json::from_str::<Value>`
//!   - `evaluate_1thread`   `rules::evaluate` with `Pool::new(1)` (one core for rules)
//!   - `evaluate_2threads`  the same with `Pool::new(2)`
//!   - `full_1thread`       verify + parse + request context + evaluate (+ assemble), `Pool::new(1)`
//!   - `full_2threads`      the same with `Pool::new(2)`
//!   - `assemble`           `rules::eval::answer` alone (alerts -> GUIDs -> JSON body)
//!   - `rule_100k`          `rules::eval::run_rule` per rule, on the 100 KB sample, this thread
//!   - `representation_100k` what per-rule conversion of the estimate to Rhai maps would cost
//!     (`rhai::serde::to_dynamic`, and the deep `.clone()` a second rule would need) against
//!     the zero-copy `Json` handle the rules get.
//!
//! `std::hint::black_box` is used throughout: `criterion::black_box` is deprecated in
//! criterion 0.8 and is a plain forward to it.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use serde_json::{json, Value};

use lookout::rules::eval::{answer, run_rule};
use lookout::rules::json::Json;
use lookout::rules::ruleset::{self, Defaults};
use lookout::rules::{self as rules_mod, CallInput, Pool, RuleSet};
use lookout::signature::{self, ApiKey};

/// A 48-character key, like the ones `benches/load.sh` generates.
const KEY: &str = "bench-key-0123456789abcdefghijklmnopqrstuvwxyzAB";

const SAMPLES: &[(&str, &str)] = &[
    ("small", "rules/samples/drybulk-single-cargo.json"),
    ("100k", "rules/samples/large-100k.json"),
    ("1m", "rules/samples/large-1m.json"),
];

struct Sample {
    name: &'static str,
    body: Vec<u8>,
    signature: String,
    estimate: Arc<Value>,
}

struct Fixture {
    ruleset: Arc<RuleSet>,
    keys: Vec<ApiKey>,
    samples: Vec<Sample>,
    pool1: Pool,
    pool2: Pool,
    rt: tokio::runtime::Runtime,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> Fixture {
    let ruleset = ruleset::load(&root().join("rules/default"), &Defaults::default())
        .unwrap_or_else(|problems| {
            for p in &problems {
                eprintln!("{p}");
            }
            panic!("rules/default does not compile");
        });
    let key = ApiKey::new(KEY);
    assert_eq!(KEY.len(), 48);
    let samples = SAMPLES
        .iter()
        .map(|(name, path)| {
            let body = std::fs::read(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
            let signature = signature::sign(&key, &body);
            let estimate =
                Arc::new(serde_json::from_slice::<Value>(&body).expect("sample is JSON"));
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

/// `request` as the server builds it (see `http::hooks::request_context`), with the
/// headers a signed IMOS call carries once the signature header is hidden.
fn request_context() -> Value {
    json!({
        "ruleset": "default",
        "call_id": "0193a6f0-0000-7000-8000-000000000000",
        "received_at": "2026-11-22T12:00:00.000Z",
        "headers": {
            "content-type": "application/json",
            "host": "127.0.0.1:8443",
            "content-length": "103671",
        },
    })
}

fn deadline(ruleset: &RuleSet) -> Instant {
    Instant::now() + ruleset.settings.budget - ruleset.settings.margin
}

fn input(estimate: &Arc<Value>) -> Arc<CallInput> {
    Arc::new(CallInput {
        estimate: estimate.clone(),
        request: Arc::new(request_context()),
    })
}

/// What the server does between "body read" and "answer ready".
fn full_call(f: &Fixture, pool: &Pool, s: &Sample) -> usize {
    let outcome = signature::verify([s.signature.as_bytes()], &s.body, &f.keys);
    assert!(outcome.is_accepted());
    let text = std::str::from_utf8(&s.body).expect("utf-8");
    let estimate: Value = serde_json::from_str(text).expect("json");
    assert!(estimate.is_object());
    let input = Arc::new(CallInput {
        estimate: Arc::new(estimate),
        request: Arc::new(request_context()),
    });
    let evaluation = f.rt.block_on(rules_mod::evaluate(
        pool,
        f.ruleset.clone(),
        input,
        deadline(&f.ruleset),
        (),
    ));
    evaluation.response.body.len()
}

/// Per-group timing: the 1 MB sample's evaluation takes tens of ms, so it gets flat
/// sampling and few samples; everything else gets 50 samples over 3 s.
fn tune(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, slow: bool) {
    if slow {
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(5));
    } else {
        group
            .sample_size(50)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
    }
}

fn bench_verify_parse(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("verify");
    tune(&mut group, false);
    for s in &f.samples {
        group.throughput(Throughput::Bytes(s.body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(s.name), s, |b, s| {
            b.iter(|| {
                signature::verify(
                    [black_box(s.signature.as_bytes())],
                    black_box(&s.body),
                    black_box(&f.keys),
                )
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("parse");
    tune(&mut group, false);
    for s in &f.samples {
        group.throughput(Throughput::Bytes(s.body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(s.name), s, |b, s| {
            b.iter(|| {
                let text = std::str::from_utf8(black_box(&s.body)).expect("utf-8");
                serde_json::from_str::<Value>(text).expect("json")
            })
        });
    }
    group.finish();
}

fn bench_evaluate(c: &mut Criterion, f: &Fixture) {
    for (label, pool) in [("1thread", &f.pool1), ("2threads", &f.pool2)] {
        let mut group = c.benchmark_group(format!("evaluate_{label}"));
        for s in &f.samples {
            tune(&mut group, s.name == "1m");
            group.throughput(Throughput::Bytes(s.body.len() as u64));
            let call = input(&s.estimate);
            group.bench_with_input(BenchmarkId::from_parameter(s.name), s, |b, _| {
                b.iter(|| {
                    let evaluation = f.rt.block_on(rules_mod::evaluate(
                        pool,
                        f.ruleset.clone(),
                        call.clone(),
                        deadline(&f.ruleset),
                        (),
                    ));
                    black_box(evaluation.response.body.len())
                })
            });
        }
        group.finish();
    }

    for (label, pool) in [("1thread", &f.pool1), ("2threads", &f.pool2)] {
        let mut group = c.benchmark_group(format!("full_{label}"));
        for s in &f.samples {
            tune(&mut group, s.name == "1m");
            group.throughput(Throughput::Bytes(s.body.len() as u64));
            group.bench_with_input(BenchmarkId::from_parameter(s.name), s, |b, s| {
                b.iter(|| black_box(full_call(f, pool, s)))
            });
        }
        group.finish();
    }
}

fn bench_assemble(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("assemble");
    tune(&mut group, false);
    for s in &f.samples {
        let evaluation = f.rt.block_on(rules_mod::evaluate(
            &f.pool1,
            f.ruleset.clone(),
            input(&s.estimate),
            deadline(&f.ruleset),
            (),
        ));
        eprintln!(
            "sample {}: {} alerts, {} byte answer; rules: {}",
            s.name,
            evaluation.response.sent,
            evaluation.response.body.len(),
            evaluation
                .runs
                .iter()
                .map(|r| format!("{}={} ({} ops)", r.rule, r.outcome.as_str(), r.operations))
                .collect::<Vec<_>>()
                .join(", ")
        );
        group.bench_with_input(BenchmarkId::from_parameter(s.name), s, |b, s| {
            b.iter(|| {
                black_box(
                    answer(&f.ruleset, &s.estimate, black_box(&evaluation.runs))
                        .body
                        .len(),
                )
            })
        });
    }
    group.finish();
}

fn bench_rules(c: &mut Criterion, f: &Fixture) {
    let s = f
        .samples
        .iter()
        .find(|s| s.name == "100k")
        .expect("100k sample");
    let call = input(&s.estimate);
    let mut group = c.benchmark_group("rule_100k");
    tune(&mut group, false);
    for rule in &f.ruleset.rules {
        group.bench_function(rule.id.as_str(), |b| {
            b.iter(|| {
                let run = run_rule(&f.ruleset, rule, &call, deadline(&f.ruleset));
                assert_eq!(run.outcome.as_str(), "ok", "{}: {:?}", rule.id, run.outcome);
                black_box(run.alerts.len())
            })
        });
    }
    group.finish();
}

fn bench_representation(c: &mut Criterion, f: &Fixture) {
    let s = f
        .samples
        .iter()
        .find(|s| s.name == "100k")
        .expect("100k sample");
    let mut group = c.benchmark_group("representation_100k");
    tune(&mut group, false);
    group.bench_function("to_dynamic", |b| {
        b.iter(|| rhai::serde::to_dynamic(black_box(&*s.estimate)).expect("converts"))
    });
    let converted = rhai::serde::to_dynamic(&*s.estimate).expect("converts");
    group.bench_function("to_dynamic_clone", |b| {
        b.iter(|| black_box(&converted).clone())
    });
    group.bench_function("json_view", |b| {
        b.iter(|| Json::new(black_box(&s.estimate).clone()))
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    bench_verify_parse(c, &f);
    bench_evaluate(c, &f);
    bench_assemble(c, &f);
    bench_rules(c, &f);
    bench_representation(c, &f);
}

criterion_group!(hot_path, benches);
criterion_main!(hot_path);
