//! Reuse is exact: random edit sequences, each call answered by the same rules with
//! reuse on and off, give byte-identical answers and traces.

use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use uuid::Uuid;

use super::*;
use crate::rules::facts::FactSource;
use crate::rules::{evaluate, CallInput, Defaults, Evaluation, Pool, RuleSet};

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(2).unwrap())
}

/// xorshift64*: the same sequence from the same seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// One random edit somewhere in `node`: a value changed (a number's kind too), a
/// member added, removed or set to null, an item removed, repeated or moved.
fn edit(node: &mut Value, rng: &mut Rng, top: bool) {
    let children = match node {
        Value::Object(m) => m.len(),
        Value::Array(a) => a.len(),
        _ => 0,
    };
    if children > 0 && rng.chance(80) {
        let i = rng.below(children);
        let child = match node {
            Value::Object(m) => {
                let (key, child) = m.iter_mut().nth(i).expect("in range");
                if top && key == "estimateID" {
                    return;
                }
                child
            }
            Value::Array(a) => &mut a[i],
            _ => unreachable!(),
        };
        if child.is_object() || child.is_array() {
            return edit(child, rng, false);
        }
        if rng.chance(80) {
            *child = match child.take() {
                Value::Number(n) if n.is_i64() => match rng.below(3) {
                    0 => json!(n.as_i64().unwrap() as f64),
                    _ => json!(n.as_i64().unwrap() + rng.below(5) as i64 - 2),
                },
                Value::Number(n) => match rng.below(3) {
                    0 => json!(n.as_f64().unwrap().round() as i64),
                    _ => json!(n.as_f64().unwrap() * 1.5),
                },
                Value::String(s) if rng.chance(50) => json!(format!("{s}x")),
                Value::String(_) => json!("Load"),
                Value::Bool(b) => json!(!b),
                Value::Null => json!(1),
                other => other,
            };
            return;
        }
    }
    match node {
        Value::Object(m) => match rng.below(3) {
            0 if !m.is_empty() => {
                let key = m.keys().nth(rng.below(m.len())).cloned().unwrap();
                if !(top && key == "estimateID") {
                    m.remove(&key);
                }
            }
            1 => {
                m.insert(format!("extra{}", rng.below(4)), json!(rng.below(10)));
            }
            _ if !m.is_empty() => {
                let key = m.keys().nth(rng.below(m.len())).cloned().unwrap();
                if !(top && key == "estimateID") {
                    m.insert(key, Value::Null);
                }
            }
            _ => {}
        },
        Value::Array(a) if !a.is_empty() => match rng.below(3) {
            0 => {
                a.remove(rng.below(a.len()));
            }
            1 => {
                let item = a[rng.below(a.len())].clone();
                a.push(item);
            }
            _ => {
                let (i, j) = (rng.below(a.len()), rng.below(a.len()));
                a.swap(i, j);
            }
        },
        _ => {}
    }
}

/// Rules that read in every way a rule can: negative indexes, lengths, whole nodes
/// (`to_json`, `keys`, `in`, printing a handle), the path and list helpers, absent and
/// null fields, errors that depend on a value's kind, `request`, port events, loops
/// that stop early.
const TRICKY: &[(&str, &str)] = &[
    (
        "ends.rhai",
        r#"let calls = estimate.estimateItineraries;
if calls != () && calls.is_array() && calls.len() > 0 {
    let last = calls[-1];
    print(`last ${last.portName} of ${calls.len()}`);
    if calls.len() > 2 { print(calls[-3].portFunction); }
}"#,
    ),
    (
        "whole.rhai",
        r#"print(estimate.voyageResults);
let keys = estimate.keys();
if "dailyCost" in estimate { info(`${keys.len()} keys, daily cost ${estimate.dailyCost}`); }
if estimate.extra1 != () { warning(`extra1 is ${estimate.extra1}`).mutation(#{ extra: estimate.estimateCargoes }); }"#,
    ),
    (
        "helpers.rhai",
        r#"let first = get(estimate, "estimateItineraries[0].portName", "?");
let days = sum(estimate.estimateItineraries, "portDays");
let loads = count_where(estimate.estimateItineraries, "portFunction", "Load");
info(`${first}: ${days} port days, ${loads} loads`).key("summary");"#,
    ),
    (
        "absent.rhai",
        r#"if estimate.extra0 == () { print("no extra0"); } else { print(`extra0 ${estimate.extra0}`); }
let c = estimate.estimateCargoes;
if c != () && c.is_array() && c.len() > 0 && c[0].is_object() {
    print(type_of(c[0].cargoQty));
    print(c[0].cargoQty * 2);
}"#,
    ),
    (
        "kinds.rhai",
        r#"let it = estimate.estimateItineraries;
// An error when the itinerary is not what the rule expects.
print(it[0].portName);"#,
    ),
    (
        "request.rhai",
        r#"let user = request.headers["x-imos-user"];
if user != () { info(`edited by ${user} at ${request.received_at}`).key("who"); }"#,
    ),
    (
        "early.rhai",
        r#"for (p, i) in estimate.estimateItineraries {
    if p.portFunction == "Discharge" { print(`first discharge at ${i}`); break; }
}"#,
    ),
    (
        "facts.rhai",
        r#"let name = estimate.vesselName;
if type_of(name) == "string" {
    let events = vessel_events(name);
    print(`${events.len()} events`);
    for e in events { print(e.event); }
}"#,
    ),
];

fn tricky_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("tricky").tempdir().unwrap();
    let set = dir.path().join("tricky");
    std::fs::create_dir(&set).unwrap();
    std::fs::write(set.join("ruleset.toml"), "identity = [\"/estimateID\"]\n").unwrap();
    for (name, source) in TRICKY {
        std::fs::write(set.join(name), source).unwrap();
    }
    dir
}

/// The rule set in `dir` twice: reuse on (as loaded) and off.
fn both(dir: &Path) -> (Arc<RuleSet>, Arc<RuleSet>) {
    let load = || {
        crate::rules::ruleset::load(dir, &Defaults::default()).unwrap_or_else(|p| panic!("{p:?}"))
    };
    let on = load();
    assert!(on.reuse.enabled(), "reuse is on by default");
    let mut off = load();
    off.reuse = Cache::new(0);
    (Arc::new(on), Arc::new(off))
}

fn evaluate_now(set: &Arc<RuleSet>, input: &Arc<CallInput>) -> Evaluation {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(evaluate(
        pool(),
        set.clone(),
        input.clone(),
        Instant::now() + Duration::from_secs(30),
        (),
    ))
}

/// A run's trace without what may differ between runs (its time) or says how it was
/// made (reused).
fn trace(ev: &Evaluation) -> Vec<String> {
    ev.runs
        .iter()
        .map(|run| {
            format!(
                "{:?}",
                crate::rules::RuleRun {
                    duration: Duration::ZERO,
                    reused: false,
                    ..run.clone()
                }
            )
        })
        .collect()
}

/// Random edit sequences over the samples, through `set` with reuse on and off.
/// Returns (calls, rule runs reused).
fn equivalent(
    dir: &Path,
    samples: &[&str],
    facts: &str,
    steps: usize,
    seed: u64,
) -> (usize, usize) {
    let (on, off) = both(dir);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let facts_text = std::fs::read_to_string(root.join(facts)).unwrap();
    // The file's PortConnect items (the rest are in other formats).
    let items: Vec<Value> = serde_json::from_str(&facts_text).unwrap();
    let mut n = 0;
    let all = crate::rules::facts::MemoryFacts {
        events: items
            .iter()
            .filter_map(|item| {
                let body = serde_json::to_vec(&[item]).unwrap();
                crate::events::portconnect::parse(&body, 0, || {
                    n += 1;
                    format!("e{n}")
                })
                .ok()
            })
            .flatten()
            .collect(),
    };
    assert!(all.events.len() > 2, "{} events", all.events.len());
    let some = crate::rules::facts::MemoryFacts {
        events: all.events[..all.events.len() / 2].to_vec(),
    };
    let sources: [Arc<dyn FactSource>; 2] = [Arc::new(all), Arc::new(some)];
    let mut rng = Rng(seed);
    let mut estimates: Vec<Value> = samples
        .iter()
        .map(|s| serde_json::from_slice(&std::fs::read(root.join(s)).unwrap()).unwrap())
        .collect();
    let mut history: Vec<Vec<Value>> = estimates.iter().map(|e| vec![e.clone()]).collect();
    let mut received = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut user = "apatel";
    let mut source = 0;
    let (mut calls, mut reused) = (0, 0);
    for step in 0..steps {
        let which = rng.below(estimates.len());
        match rng.below(10) {
            0 => {} // the same body again
            1 => {
                // back to an earlier version
                let h = &history[which];
                estimates[which] = h[rng.below(h.len())].clone();
            }
            _ => {
                for _ in 0..1 + rng.below(2) {
                    edit(&mut estimates[which], &mut rng, true);
                }
            }
        }
        history[which].push(estimates[which].clone());
        if rng.chance(10) {
            received += Duration::from_secs(1 + rng.below(86_400) as u64);
        }
        if rng.chance(10) {
            user = ["apatel", "jlee", "mkowalski"][rng.below(3)];
        }
        if rng.chance(8) {
            source = 1 - source;
        }
        let body = serde_json::to_vec(&estimates[which]).unwrap();
        let doc = crate::rules::parse_estimate(&body).unwrap();
        let headers: Vec<(&str, &[u8])> = vec![
            ("content-type", b"application/json"),
            ("x-imos-user", user.as_bytes()),
        ];
        let input = Arc::new(CallInput::new(
            &on,
            Uuid::from_u128(step as u128),
            received,
            headers.iter().copied(),
            Arc::new(doc),
            Some(sources[source].clone()),
        ));
        let with = evaluate_now(&on, &input);
        let without = evaluate_now(&off, &input);
        let context = || {
            format!(
                "seed {seed}, step {step}, estimate {which}\n{}",
                serde_json::to_string(&estimates[which]).unwrap()
            )
        };
        assert!(without.runs.iter().all(|r| !r.reused), "{}", context());
        assert_eq!(
            String::from_utf8_lossy(&with.response.body),
            String::from_utf8_lossy(&without.response.body),
            "answers differ: {}",
            context()
        );
        assert_eq!(
            trace(&with),
            trace(&without),
            "traces differ: {}",
            context()
        );
        calls += 1;
        reused += with.runs.iter().filter(|r| r.reused).count();
    }
    (calls, reused)
}

#[test]
fn reuse_gives_the_same_answers_and_traces_as_running_every_rule() {
    let tricky = tricky_dir();
    let samples = [
        "rules/samples/mpp-tauranga.json",
        "rules/samples/drybulk-single-cargo.json",
        "rules/samples/tanker-via-canal.json",
    ];
    let facts = "rules/default/tests/facts/tauranga.json";
    let mut total_reused = 0;
    for (dir, seed) in [
        (tricky.path().join("tricky"), 7),
        (tricky.path().join("tricky"), 8),
        (
            Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/default"),
            9,
        ),
    ] {
        let (calls, reused) = equivalent(&dir, &samples, facts, 150, seed);
        // Not vacuous: many runs were reused, and not all.
        let rules = both(&dir).0.rules.len();
        assert!(
            reused > calls * rules / 5 && reused < calls * rules,
            "{}: {reused} of {} runs reused",
            dir.display(),
            calls * rules
        );
        eprintln!(
            "{}: {reused} of {} runs reused",
            dir.display(),
            calls * rules
        );
        total_reused += reused;
    }
    assert!(total_reused > 0);
}

/// The desk checks of `benches/desk` on the 100 KB edit stream's kind of edits.
#[test]
fn reuse_is_exact_for_the_benchmark_desk() {
    // A copy without its `api_keys` (an environment variable this test need not set).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/desk");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("desk");
    for sub in ["", "data", "tests"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for entry in std::fs::read_dir(root.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, dir.join(sub).join(path.file_name().unwrap())).unwrap();
            }
        }
    }
    let settings = std::fs::read_to_string(dir.join("ruleset.toml")).unwrap();
    let unsigned: Vec<&str> = settings
        .lines()
        .filter(|l| !l.starts_with("api_keys"))
        .collect();
    std::fs::write(dir.join("ruleset.toml"), unsigned.join("\n")).unwrap();
    let (calls, reused) = equivalent(
        &dir,
        &["rules/samples/multiport-100k.json"],
        "rules/default/tests/facts/tauranga.json",
        60,
        11,
    );
    assert!(reused > calls * 2, "{reused} runs reused in {calls} calls");
}

#[test]
fn a_run_that_reads_the_clock_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("clock");
    std::fs::create_dir(&set).unwrap();
    std::fs::write(
        set.join("t.rhai"),
        "let t = timestamp(); print(estimate.a);",
    )
    .unwrap();
    std::fs::write(set.join("plain.rhai"), "print(estimate.a);").unwrap();
    let (on, _) = both(&set);
    let input = Arc::new(CallInput::new(
        &on,
        Uuid::nil(),
        SystemTime::UNIX_EPOCH,
        std::iter::empty(),
        Arc::new(crate::rules::json::doc_from(&json!({"id": "E1", "a": 1}))),
        None,
    ));
    evaluate_now(&on, &input);
    let again = evaluate_now(&on, &input);
    let reused: Vec<(&str, bool)> = again
        .runs
        .iter()
        .map(|r| (r.rule.as_str(), r.reused))
        .collect();
    assert_eq!(reused, [("plain", true), ("t", false)]);
}

#[test]
fn the_cache_stays_within_its_bound_and_counts_what_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("bound");
    std::fs::create_dir(&set).unwrap();
    std::fs::write(set.join("ruleset.toml"), "reuse_memory_mb = 1\n").unwrap();
    std::fs::write(set.join("r.rhai"), "print(estimate.blob);").unwrap();
    let (on, _) = both(&set);
    let evicted = STATS.evicted.load(Relaxed);
    // 64 estimates of ~100 KB each, each read whole: far more than 1 MiB.
    for i in 0..64 {
        let input = Arc::new(CallInput::new(
            &on,
            Uuid::nil(),
            SystemTime::UNIX_EPOCH,
            std::iter::empty(),
            Arc::new(crate::rules::json::doc_from(
                &json!({"id": format!("E{i}"), "blob": "x".repeat(100_000)}),
            )),
            None,
        ));
        evaluate_now(&on, &input);
        assert!(on.reuse.bytes() <= 1 << 20, "{} bytes", on.reuse.bytes());
        // What /metrics counts for this cache is what it holds, evictions included.
        assert_eq!(on.reuse.counted(), on.reuse.bytes() as i64);
    }
    assert!(on.reuse.bytes() > 512 << 10, "{} bytes", on.reuse.bytes());
    assert!(STATS.evicted.load(Relaxed) >= evicted + 50);
}

#[test]
fn reuse_can_be_turned_off_in_ruleset_toml() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("off");
    std::fs::create_dir(&set).unwrap();
    std::fs::write(set.join("ruleset.toml"), "reuse = false\n").unwrap();
    std::fs::write(set.join("r.rhai"), "print(estimate.a);").unwrap();
    let set = crate::rules::ruleset::load(&set, &Defaults::default()).unwrap();
    assert!(!set.reuse.enabled());
}
