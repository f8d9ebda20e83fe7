//! Fills a request/response log with realistic records, for timing the log viewer's
//! list at a million calls (`benches/log_list.sh` runs it and then times the list).
//!
//!     FILL_STORE=target/log-list/data/lookout.db cargo bench --bench fill_log
//!     FILL_STORE=postgres://postgres@127.0.0.1:5432/lookout cargo bench --bench fill_log
//!
//! Everything goes through the library, as the server writes: `store::open` (which
//! creates or migrates the schema), `Row::encode` (compressed bodies and trace) and
//! `Backend::write`, a batch of FILL_BATCH rows per transaction, oldest first.
//!
//! The records: the body of `rules/samples/drybulk-single-cargo.json` (6 KB) with its
//! estimate id made unique per record (`EST-2026-0000001` ...) and its vessel name and
//! code taken from 200 made-up vessels. The answers and per-rule traces are real: the
//! rules of `rules/default` run once per vessel at start (as `benches/hot_path.rs` runs
//! them), once as they are, once with a rule failing (so the answer carries its error
//! card) and once with a rule timed out. The mix, drawn from a fixed seed:
//!
//!   - rule sets: `default` 75 %, `tanker` 15 %, `grain` 8 %, a misspelt name (404) 2 %;
//!   - of known rule sets: 401 (bad signature; body kept) 2 %, 400 (body not JSON, cut
//!     in the middle) 1 %, 413 (body refused unread) 0.2 %, 503 (busy) 0.3 %, else 200;
//!   - of the 200s: a rule error 3 %, a rule timeout 0.3 %;
//!   - times spread evenly over FILL_DAYS days ending a minute ago (with jitter), ids
//!     UUIDv7 of those times, so they sort by time as the server's do;
//!   - ten records carry the vessel `NORDIC RARITY` (for a rare text search), spread
//!     evenly over the whole range.
//!
//! Knobs (environment): FILL_STORE (required: a SQLite path or a postgres:// URL),
//! FILL_ROWS (1000000), FILL_DAYS (30), FILL_BATCH (4000), FILL_SEED (1), FILL_ROOT (the
//! folder holding `rules/`; default: this crate's).
//!
//! A store that already holds FILL_ROWS calls is left as it is (reruns reuse it); one
//! holding some other number is refused (delete it first). Either way the last line is
//! `FILL_RESULT rows=.. oldest_us=.. newest_us=.. middle_id=.. middle_us=..
//! rare_vessel=.. rare_estimate=..`, which `log_list.sh` reads.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue};
use uuid::Uuid;

use lookout::rules::eval::{answer, run_rule};
use lookout::rules::json;
use lookout::rules::ruleset::{self, Defaults};
use lookout::rules::{CallInput, Outcome, RuleError, RuleRun};
use lookout::store::{self, Backend, Call, Location, Query, Row, RuleTrace};

const SAMPLE: &str = "rules/samples/drybulk-single-cargo.json";
const SAMPLE_ESTIMATE: &str = "EST-2026-00412";
const SAMPLE_VESSEL: &str = "ANNA OLDFIELD";
const SAMPLE_CODE: &str = "ANNOLD";
const RARE_VESSEL: &str = "NORDIC RARITY";
const RARE_COUNT: u64 = 10;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a valid value")),
        _ => default,
    }
}

/// splitmix64: a small deterministic generator (no crate needed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One vessel's body (split around the estimate id) and its three answers.
struct Vessel {
    /// The body with the estimate id cut out: `parts.join(estimate_id)`.
    parts: Vec<String>,
    ok: Answer,
    error: Answer,
    timeout: Answer,
}

struct Answer {
    response: Vec<u8>,
    traces: Vec<RuleTrace>,
    alerts: u32,
    errors: u32,
    timeouts: u32,
}

fn vessel_names() -> Vec<(String, String)> {
    const FIRST: &[&str] = &[
        "ANNA", "OCEAN", "NORD", "PACIFIC", "STAR", "GOLDEN", "BALTIC", "CAPE", "SILVER",
        "ATLANTIC", "IONIAN", "AEGEAN", "MARIA", "KOTA", "GENCO", "NAVIOS", "STELLA", "IKAN",
        "HAN", "SEA",
    ];
    const SECOND: &[&str] = &[
        "OLDFIELD", "GLORY", "PIONEER", "HARMONY", "SPIRIT", "TRADER", "VENTURE", "EMERALD",
        "FORTUNE", "BREEZE",
    ];
    let mut out = Vec::new();
    for first in FIRST {
        for second in SECOND {
            let name = format!("{first} {second}");
            let code = format!("{}{}", &first[..first.len().min(3)], &second[..3]);
            out.push((name, code));
        }
    }
    out
}

fn headers(size: usize) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("lookout.example.com"));
    h.insert(
        "user-agent",
        HeaderValue::from_static("Veson-IMOS-Webhooks/1.0"),
    );
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("content-length", HeaderValue::from(size));
    h.insert(
        "veson-webhook-signature",
        HeaderValue::from_static("[redacted]"),
    );
    h
}

fn stored_headers(size: usize) -> Vec<(String, String)> {
    headers(size)
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect()
}

/// Runs the rules on a body and turns the runs into what the recorder stores.
fn evaluate(set: &lookout::rules::RuleSet, body: &str, spoil: Option<Outcome>) -> Answer {
    let estimate = Arc::new(json::parse(body).expect("the sample is JSON"));
    let headers = headers(body.len());
    let input = CallInput::new(
        set,
        Uuid::now_v7(),
        SystemTime::now(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())),
        estimate.clone(),
        None,
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut runs: Vec<RuleRun> = set
        .rules
        .iter()
        .map(|rule| run_rule(set, rule, &input, deadline))
        .collect();
    if let Some(outcome) = spoil {
        // The third rule fails (or times out) instead: no alerts, as the server would see.
        let third = 2 % runs.len();
        let run = &mut runs[third];
        if matches!(outcome, Outcome::Timeout) {
            run.duration = Duration::from_millis(8500);
            run.notes = vec!["stopped at the deadline".into()];
        }
        run.outcome = outcome;
        run.alerts.clear();
    }
    let assembled = answer(set, &estimate, &runs);
    let count = |timeout: bool| {
        runs.iter()
            .filter(|r| match r.outcome {
                Outcome::Error(_) => !timeout,
                Outcome::Timeout => timeout,
                Outcome::Ok => false,
            })
            .count() as u32
    };
    let (errors, timeouts) = (count(false), count(true));
    Answer {
        alerts: assembled.sent as u32,
        traces: lookout::http::hooks::traces(runs, assembled.alerts),
        response: assembled.body,
        errors,
        timeouts,
    }
}

fn vessel(set: &lookout::rules::RuleSet, sample: &str, name: &str, code: &str) -> Vessel {
    let body = sample
        .replace(SAMPLE_VESSEL, name)
        .replace(SAMPLE_CODE, code);
    let parts: Vec<String> = body.split(SAMPLE_ESTIMATE).map(str::to_string).collect();
    let error = RuleError {
        message: "Function not found: round_to (f64, i64)".into(),
        line: Some(14),
        column: Some(21),
        source: None,
    };
    Vessel {
        ok: evaluate(set, &body, None),
        error: evaluate(set, &body, Some(Outcome::Error(error))),
        timeout: evaluate(set, &body, Some(Outcome::Timeout)),
        parts,
    }
}

fn error_body(message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "error": message })).expect("json")
}

fn main() {
    let root_dir = std::env::var_os("FILL_ROOT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf());
    let root = root_dir.as_path();
    let target = std::env::var("FILL_STORE").unwrap_or_else(|_| {
        eprintln!("set FILL_STORE to a SQLite path or a postgres:// URL");
        std::process::exit(2)
    });
    let rows: u64 = env_or("FILL_ROWS", 1_000_000);
    let days: u64 = env_or("FILL_DAYS", 30);
    let batch: usize = env_or("FILL_BATCH", 4000);
    let seed: u64 = env_or("FILL_SEED", 1);

    let location = Location::parse(&target, Path::new(".")).expect("FILL_STORE");
    let store = store::open(&location).unwrap_or_else(|e| panic!("cannot open {location}: {e}"));
    let before = store.stats().expect("stats");
    if before.calls == rows {
        eprintln!("[fill] {location} already holds {rows} calls; left as it is");
    } else if before.calls != 0 {
        eprintln!(
            "[fill] {location} holds {} calls, not 0 or {rows}: delete it first",
            before.calls
        );
        std::process::exit(2);
    } else {
        fill(&*store, root, rows, days, batch, seed);
    }

    // What log_list.sh needs to build its queries.
    let stats = store.stats().expect("stats");
    let (oldest, newest) = (stats.oldest.unwrap_or(0), stats.newest.unwrap_or(0));
    let mid = oldest + (newest - oldest) / 2;
    let middle = store
        .list(&Query {
            until: Some(mid),
            limit: 1,
            ..Query::default()
        })
        .expect("list")
        .calls
        .first()
        .map(|c| (c.id.clone(), c.received_at))
        .expect("a call before the middle");
    println!(
        "FILL_RESULT rows={} oldest_us={oldest} newest_us={newest} middle_id={} middle_us={} rare_vessel={} rare_estimate=EST-2026-{:07} stored_bytes={}",
        stats.calls,
        middle.0,
        middle.1,
        RARE_VESSEL.replace(' ', "+"),
        rows / 2 + 1,
        stats.stored_bytes
    );
}

fn fill(store: &dyn Backend, root: &Path, rows: u64, days: u64, batch: usize, seed: u64) {
    let started = Instant::now();
    let set = ruleset::load(&root.join("rules/default"), &Defaults::default())
        .unwrap_or_else(|problems| panic!("rules/default does not load: {problems:?}"));
    let sample = std::fs::read_to_string(root.join(SAMPLE)).expect(SAMPLE);
    assert!(sample.contains(SAMPLE_ESTIMATE) && sample.contains(SAMPLE_VESSEL));
    let mut vessels: Vec<Vessel> = vessel_names()
        .iter()
        .map(|(name, code)| vessel(&set, &sample, name, code))
        .collect();
    let rare = vessel(&set, &sample, RARE_VESSEL, "NORRAR");
    eprintln!(
        "[fill] {} vessels evaluated in {:.1} s; answer {} bytes, {} alerts, {} rules",
        vessels.len(),
        started.elapsed().as_secs_f64(),
        vessels[0].ok.response.len(),
        vessels[0].ok.alerts,
        vessels[0].ok.traces.len()
    );
    vessels.push(rare);
    let rare_index = vessels.len() - 1;

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let end = now - 60_000_000;
    let start = end - (days as i64) * 86_400_000_000;
    let step = (end - start) / rows.max(1) as i64;
    let mut rng = Rng(seed);
    let mut compressor = store::Packer::default();
    let mut pending: Vec<Row> = Vec::with_capacity(batch);
    let mut written = 0u64;
    let mut write_time = Duration::ZERO;
    let mut last_report = Instant::now();
    for i in 0..rows {
        let received_at = start + i as i64 * step + (rng.unit() * step as f64) as i64;
        let ts = uuid::Timestamp::from_unix(
            uuid::NoContext,
            (received_at / 1_000_000) as u64,
            ((received_at % 1_000_000) * 1000) as u32,
        );
        let id = Uuid::new_v7(ts).to_string();
        let rare = rows >= RARE_COUNT && i % (rows / RARE_COUNT) == rows / RARE_COUNT / 2;
        let v = &vessels[if rare {
            rare_index
        } else {
            rng.below(rare_index as u64) as usize
        }];
        let estimate_id = format!("EST-2026-{:07}", i + 1);
        let body = v.parts.join(&estimate_id).into_bytes();

        let r = rng.unit();
        let (ruleset, known) = if r < 0.75 {
            ("default", true)
        } else if r < 0.90 {
            ("tanker", true)
        } else if r < 0.98 {
            ("grain", true)
        } else {
            ("defualt", false)
        };
        let s = rng.unit();
        let status: u16 = if !known {
            404
        } else if s < 0.02 {
            401
        } else if s < 0.03 {
            400
        } else if s < 0.032 {
            413
        } else if s < 0.035 {
            503
        } else {
            200
        };
        let e = rng.unit();
        let ans = if status != 200 {
            None
        } else if e < 0.03 {
            Some(&v.error)
        } else if e < 0.033 {
            Some(&v.timeout)
        } else {
            Some(&v.ok)
        };
        // Log-normal-ish answer times around 0.5 ms; timeouts take the deadline.
        let duration_us = match ans {
            Some(a) if a.timeouts > 0 => 8_500_000 + rng.below(2000) as i64,
            Some(_) => (300.0 * (1.0 + 4.0 * rng.unit() * rng.unit())) as i64 + 150,
            None => 40 + rng.below(400) as i64,
        };
        let mut redacted = vec!["header:veson-webhook-signature".to_string()];
        let (request_body, request_size, error, response, signature) = match status {
            200 => (
                body.clone(),
                body.len() as u64,
                None,
                ans.unwrap().response.clone(),
                "hex",
            ),
            401 => {
                let m = "the Veson-Webhook-Signature header does not match the body for any of the rule set's keys; check the key configured in IMOS";
                (
                    body.clone(),
                    body.len() as u64,
                    Some(m.to_string()),
                    error_body(m),
                    "mismatch",
                )
            }
            400 => {
                let cut = body[..body.len() / 2].to_vec();
                let m = "the request body is not JSON: EOF while parsing an object at line 120 column 0; send the estimate as JSON";
                (
                    cut.clone(),
                    cut.len() as u64,
                    Some(m.to_string()),
                    error_body(m),
                    "hex",
                )
            }
            413 => {
                let m = "request body is larger than 16777216 bytes (max_request_bytes); select fewer estimate fields in the IMOS webhook setup, or raise max_request_bytes in lookout.toml";
                (
                    Vec::new(),
                    20_971_520,
                    Some(m.to_string()),
                    error_body(m),
                    "not_checked",
                )
            }
            503 => {
                let m = "lookout is already evaluating its limit of 64 calls at once; retry in a second (max_concurrent_calls in lookout.toml)";
                (
                    Vec::new(),
                    body.len() as u64,
                    Some(m.to_string()),
                    error_body(m),
                    "not_checked",
                )
            }
            _ => {
                redacted.clear();
                let m = "no rule set `defualt`: the URL names /hooks/<rule set>; this lookout has default";
                (
                    Vec::new(),
                    body.len() as u64,
                    Some(m.to_string()),
                    error_body(m),
                    "not_checked",
                )
            }
        };
        let call = Call {
            id,
            received_at,
            instance: "lookout-1:8443".into(),
            ruleset: ruleset.into(),
            rules_version: known.then(|| "3f9c2a1e".to_string()),
            peer: format!(
                "10.20.{}.{}:{}",
                rng.below(4),
                10 + rng.below(20),
                40000 + rng.below(20000)
            ),
            status,
            signature: signature.into(),
            duration_us,
            estimate_id: (status == 200 || status == 401).then(|| estimate_id.clone()),
            alerts: ans.map_or(0, |a| a.alerts),
            omitted: 0,
            rule_errors: ans.map_or(0, |a| a.errors),
            rule_timeouts: ans.map_or(0, |a| a.timeouts),
            error,
            request_headers: stored_headers(request_size as usize),
            redacted,
            request_size,
            request_body: request_body.into(),
            request_truncated: false,
            response_body: response,
            rules: ans.map(|a| a.traces.clone()).unwrap_or_default(),
        };
        pending.push(encode(&call, &mut compressor));
        if pending.len() == batch || i + 1 == rows {
            let t = Instant::now();
            store
                .write(&pending)
                .unwrap_or_else(|e| panic!("write: {e}"));
            write_time += t.elapsed();
            written += pending.len() as u64;
            pending.clear();
            if last_report.elapsed() > Duration::from_secs(15) || written == rows {
                last_report = Instant::now();
                let s = started.elapsed().as_secs_f64();
                eprintln!(
                    "[fill] {written} of {rows} calls in {s:.0} s ({:.0} calls/s; {:.0} s of it in Backend::write)",
                    written as f64 / s,
                    write_time.as_secs_f64()
                );
            }
        }
    }
}

/// `Row::encode` as the recorder calls it (the one place that follows its signature).
fn encode(call: &Call, compressor: &mut store::Packer) -> Row {
    Row::encode(call, compressor)
}
