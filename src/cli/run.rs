//! `lookout run`: evaluate a rule set on an estimate file exactly as the server does.
//! stdout gets the response body, byte for byte; stderr gets a per-rule trace.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::{anyhow, Context};
use serde_json::{json, Value};

use crate::rules::json;
use sonic_rs::JsonValueTrait;
use crate::rules::{self, CallInput, Defaults, Outcome, Pool, Registry};

pub fn run(
    rules_dir: &Path,
    name: &str,
    estimate_path: &Path,
    headers: &[String],
) -> anyhow::Result<u8> {
    let registry = Registry::load(rules_dir, Defaults::default()).map_err(|e| {
        anyhow!(
            "cannot read the rules folder {}: {e}; pass --rules DIR",
            rules_dir.display()
        )
    })?;
    if let Some(problems) = registry.problems().get(name) {
        for p in problems {
            eprintln!("{p}");
        }
        return Err(anyhow!(
            "rule set `{name}` does not compile; fix the errors above"
        ));
    }
    let ruleset = registry.get(name).ok_or_else(|| {
        let known: Vec<String> = registry.all().iter().map(|s| s.name.clone()).collect();
        anyhow!(
            "no rule set `{name}` in {}; there are: {}",
            rules_dir.display(),
            known.join(", ")
        )
    })?;
    let text = std::fs::read_to_string(estimate_path)
        .with_context(|| format!("cannot read {}", estimate_path.display()))?;
    let estimate = json::parse(&text).map_err(|e| {
        anyhow!(
            "{}:{}:{}: not valid JSON: {e}",
            estimate_path.display(),
            e.line(),
            e.column()
        )
    })?;
    if !estimate.is_object() {
        return Err(anyhow!(
            "{}: the estimate must be a JSON object",
            estimate_path.display()
        ));
    }
    let mut header_map = serde_json::Map::new();
    for header in headers {
        let (k, v) = header
            .split_once(':')
            .ok_or_else(|| anyhow!("--header `{header}` must look like NAME:VALUE"))?;
        header_map.insert(
            k.trim().to_ascii_lowercase(),
            Value::String(v.trim().to_string()),
        );
    }
    let received_at: chrono::DateTime<chrono::Utc> = SystemTime::now().into();
    let input = Arc::new(CallInput {
        estimate: Arc::new(estimate),
        request: Arc::new(json::doc_from(&json!({
            "ruleset": name,
            "call_id": "lookout-run",
            "received_at": received_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "headers": header_map,
        }))),
    });
    let pool = Pool::new(
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
    )?;
    let deadline = Instant::now() + ruleset.settings.budget - ruleset.settings.margin;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let evaluation = runtime.block_on(rules::evaluate(&pool, ruleset, input, deadline, ()));

    let mut err = std::io::stderr().lock();
    for run in &evaluation.runs {
        let detail = match &run.outcome {
            Outcome::Error(e) => format!(" — {e}"),
            _ => String::new(),
        };
        writeln!(
            err,
            "rule {:<24} {:<7} {:>9.3} ms {:>9} ops {:>3} alerts{detail}",
            run.rule,
            run.outcome.as_str(),
            run.duration.as_secs_f64() * 1e3,
            run.operations,
            run.alerts.len()
        )?;
        for line in run.output.lines() {
            writeln!(err, "  | {line}")?;
        }
        for note in &run.notes {
            writeln!(err, "  note: {note}")?;
        }
    }
    if evaluation.response.omitted > 0 {
        writeln!(
            err,
            "{} alerts left out to stay under 1 MB",
            evaluation.response.omitted
        )?;
    }
    let mut out = std::io::stdout().lock();
    out.write_all(&evaluation.response.body)?;
    out.flush()?;
    Ok(super::OK)
}
