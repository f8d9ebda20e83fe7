//! The Estimator at a steady rate, for `benches/soak.sh` and `benches/faults.sh` (not a
//! criterion bench: `cargo build --release --example soak_client`).
//!
//!     soak_client URL BODIES_DIR KEY_ENV RATE SECONDS [ANSWERED_LOG]
//!
//! Sends the `*.json` bodies of BODIES_DIR (benches/edits.py's edit stream, in name order:
//! e<estimate>-<step>.json, taken round-robin across estimates so that each estimate
//! moves one edit further per round) to URL, signed with the key in $KEY_ENV, at RATE
//! calls a second (open loop: a call is started on schedule whether or not the earlier
//! ones have answered, at most 256 in flight) for SECONDS. Trusts the CA in $SOAK_CACERT.
//!
//! Every 10 s it prints one line `window <t> sent <n> ok <n> failed <n> p50_ms <x>
//! p99_ms <x> max_ms <x>` for the calls answered in the window, and at the end `total
//! sent <n> ok <n> failed <n> refused_connect <n> shed <n>` (shed: calls not sent because
//! 256 were still unanswered, so the schedule slipped). With ANSWERED_LOG, each 200 answer
//! appends `<unix ms when answered> <X-Lookout-Call-Id> <X-Lookout-Rules-Version>` to that
//! file (the fault and fleet scripts check them against the database), and with
//! $SOAK_FAILED_LOG set each other outcome appends `<unix ms> <status or error kind>`
//! there.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lookout::signature::{self, ApiKey};

#[derive(Default)]
struct Window {
    latencies_us: Vec<u64>,
    ok: u64,
    failed: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!("usage: soak_client URL BODIES_DIR KEY_ENV RATE SECONDS [ANSWERED_LOG]");
        std::process::exit(2);
    }
    let url = args[1].clone();
    let dir = PathBuf::from(&args[2]);
    let key = ApiKey::new(std::env::var(&args[3]).expect("the key variable is set"));
    let rate: f64 = args[4].parse().expect("RATE is a number");
    let seconds: u64 = args[5].parse().expect("SECONDS is a whole number");
    let answered_log = args.get(6).map(PathBuf::from);

    // Bodies in edit order, interleaved across estimates.
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("BODIES_DIR")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut by_estimate: std::collections::BTreeMap<String, Vec<PathBuf>> = Default::default();
    for f in files {
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        let estimate = name.split('-').next().unwrap_or("").to_string();
        by_estimate.entry(estimate).or_default().push(f);
    }
    let rounds = by_estimate.values().map(Vec::len).max().unwrap_or(0);
    let mut bodies: Vec<(bytes::Bytes, String)> = Vec::new();
    for step in 0..rounds {
        for list in by_estimate.values() {
            if let Some(path) = list.get(step) {
                let body = std::fs::read(path).unwrap();
                let sig = signature::sign(&key, &body);
                bodies.push((body.into(), sig));
            }
        }
    }
    assert!(!bodies.is_empty(), "no *.json bodies in {}", dir.display());
    let bodies = Arc::new(bodies);

    lookout::tls::install_provider();
    let ca = std::env::var("SOAK_CACERT").expect("SOAK_CACERT names the CA to trust");
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .timeout(Duration::from_secs(15))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let window = Arc::new(Mutex::new(Window::default()));
    let sent = Arc::new(AtomicU64::new(0));
    let shed_total = Arc::new(AtomicU64::new(0));
    let (ok_total, failed_total, refused_total) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let open = |p: PathBuf| {
        Arc::new(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .unwrap(),
        ))
    };
    let log = answered_log.map(open);
    let failed_log = std::env::var_os("SOAK_FAILED_LOG").map(|p| open(PathBuf::from(p)));
    runtime.block_on(async {
        let in_flight = Arc::new(tokio::sync::Semaphore::new(256));
        let start = Instant::now();
        let end = start + Duration::from_secs(seconds);
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mut next = tokio::time::Instant::now();
        let mut report_at = start + Duration::from_secs(10);
        let mut n: u64 = 0;
        while Instant::now() < end {
            tokio::time::sleep_until(next).await;
            next += interval;
            if Instant::now() >= report_at {
                report(&window, start);
                report_at += Duration::from_secs(10);
            }
            let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                // 256 calls outstanding: this one is not sent (shed), and counted.
                shed_total.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let (body, sig) = bodies[(n as usize) % bodies.len()].clone();
            n += 1;
            sent.fetch_add(1, Ordering::Relaxed);
            let (client, url, window, log, failed_log) = (
                client.clone(),
                url.clone(),
                window.clone(),
                log.clone(),
                failed_log.clone(),
            );
            let (ok_total, failed_total, refused_total) = (
                ok_total.clone(),
                failed_total.clone(),
                refused_total.clone(),
            );
            tokio::spawn(async move {
                let t0 = Instant::now();
                let result = client
                    .post(&url)
                    .header("Veson-Webhook-Signature", sig)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let now_ms = || {
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap()
                        .as_millis()
                };
                let failure = |what: String| {
                    if let Some(log) = &failed_log {
                        let _ = writeln!(log.lock().unwrap(), "{} {what}", now_ms());
                    }
                };
                let ok = match result {
                    Ok(response) if response.status() == 200 => {
                        let header = |name: &str| {
                            response
                                .headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("-")
                                .to_string()
                        };
                        let (id, version) = (
                            header("x-lookout-call-id"),
                            header("x-lookout-rules-version"),
                        );
                        let whole = response.bytes().await.is_ok();
                        if whole {
                            if let Some(log) = &log {
                                let _ =
                                    writeln!(log.lock().unwrap(), "{} {id} {version}", now_ms());
                            }
                        } else {
                            failure("body_cut".into());
                        }
                        whole
                    }
                    Ok(response) => {
                        failure(response.status().as_u16().to_string());
                        false
                    }
                    Err(e) => {
                        if e.is_connect() {
                            refused_total.fetch_add(1, Ordering::Relaxed);
                        }
                        failure(if e.is_connect() {
                            "connect".into()
                        } else if e.is_timeout() {
                            "timeout".into()
                        } else {
                            "error".into()
                        });
                        false
                    }
                };
                let mut w = window.lock().unwrap();
                if ok {
                    ok_total.fetch_add(1, Ordering::Relaxed);
                    w.ok += 1;
                    w.latencies_us.push(t0.elapsed().as_micros() as u64);
                } else {
                    failed_total.fetch_add(1, Ordering::Relaxed);
                    w.failed += 1;
                }
                drop(permit);
            });
        }
        // Let the last calls answer.
        let _ = tokio::time::timeout(Duration::from_secs(20), in_flight.acquire_many(256)).await;
        report(&window, start);
    });
    println!(
        "total sent {} ok {} failed {} refused_connect {} shed {}",
        sent.load(Ordering::Relaxed),
        ok_total.load(Ordering::Relaxed),
        failed_total.load(Ordering::Relaxed),
        refused_total.load(Ordering::Relaxed),
        shed_total.load(Ordering::Relaxed)
    );
}

fn report(window: &Mutex<Window>, start: Instant) {
    let mut w = std::mem::take(&mut *window.lock().unwrap());
    w.latencies_us.sort_unstable();
    let pick = |q: f64| -> f64 {
        if w.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((w.latencies_us.len() as f64 - 1.0) * q).round() as usize;
        w.latencies_us[i] as f64 / 1000.0
    };
    println!(
        "window {} sent {} ok {} failed {} p50_ms {:.2} p99_ms {:.2} max_ms {:.2}",
        start.elapsed().as_secs(),
        w.ok + w.failed,
        w.ok,
        w.failed,
        pick(0.5),
        pick(0.99),
        pick(1.0)
    );
    let _ = std::io::stdout().flush();
}
