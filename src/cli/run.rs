//! `lookout run`: evaluate a rule set on an estimate file exactly as the server does.
//! stdout gets the response body, byte for byte, and a newline (`--pretty`: indented);
//! stderr gets a per-rule trace. Exit 1 when a rule failed or ran out of time (a
//! script can keep 0 with `--allow-errors`).
//! `--facts FILE` gives the rules port events (see [`crate::rules::factsfile`]) instead of none.
//! With `--watch`, it runs again whenever the rule set, the estimate or the facts change.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;

use super::local::{self, Local};
use crate::rules::facts::FactSource;

pub struct RunArgs<'a> {
    pub rules: &'a Path,
    pub ruleset: &'a str,
    pub estimate: &'a Path,
    pub headers: &'a [String],
    /// A facts file: the port events the rules see.
    pub facts: Option<&'a Path>,
    pub watch: bool,
    /// Indent the answer for reading.
    pub pretty: bool,
    /// Exit 0 even when a rule failed or ran out of time.
    pub allow_errors: bool,
}

/// The folder a file is in, `.` for a bare file name.
fn folder_of(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

pub fn run(args: RunArgs<'_>) -> anyhow::Result<u8> {
    let headers = args
        .headers
        .iter()
        .map(|h| local::parse_header(h))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let local = Local::open(args.rules)?;
    if !args.watch {
        return once(&local, &args, &headers);
    }

    // Watch the rule set's folder (rules, lib/, data/) and the estimate's folder.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let settle = Duration::from_millis(150);
    let set_dir = args.rules.join(args.ruleset);
    let tx_rules = tx.clone();
    let _rules_watch = crate::watch::on_change(
        &set_dir,
        RecursiveMode::Recursive,
        "lookout-run-watch",
        settle,
        move || tx_rules.send(()).is_ok(),
    )
    .map_err(|e| anyhow::anyhow!("cannot watch {}: {e}", set_dir.display()))?;
    let estimate_dir = folder_of(args.estimate);
    let tx_estimate = tx.clone();
    let _estimate_watch = crate::watch::on_change(
        &estimate_dir,
        RecursiveMode::NonRecursive,
        "lookout-run-watch-estimate",
        settle,
        move || tx_estimate.send(()).is_ok(),
    )
    .map_err(|e| anyhow::anyhow!("cannot watch {}: {e}", estimate_dir.display()))?;
    // The facts file's folder, unless it is one already watched.
    let facts_dir = args
        .facts
        .map(folder_of)
        .filter(|d| *d != estimate_dir && !d.starts_with(&set_dir));
    let _facts_watch = match &facts_dir {
        Some(dir) => Some(
            crate::watch::on_change(
                dir,
                RecursiveMode::NonRecursive,
                "lookout-run-watch-facts",
                settle,
                move || tx.send(()).is_ok(),
            )
            .map_err(|e| anyhow::anyhow!("cannot watch {}: {e}", dir.display()))?,
        ),
        None => {
            drop(tx);
            None
        }
    };

    loop {
        if let Err(err) = once(&local, &args, &headers) {
            eprintln!("error: {err:#}");
        }
        eprintln!(
            "-- watching {} and {}{} for changes; Ctrl-C to stop",
            set_dir.display(),
            args.estimate.display(),
            args.facts
                .map(|f| format!(" and {}", f.display()))
                .unwrap_or_default()
        );
        if rx.recv().is_err() {
            return Ok(super::OK);
        }
        while rx.try_recv().is_ok() {}
        local.registry.reload();
        eprintln!(
            "-- changed, running again at {}",
            chrono::Local::now().format("%H:%M:%S")
        );
    }
}

fn once(local: &Local, args: &RunArgs<'_>, headers: &[(String, String)]) -> anyhow::Result<u8> {
    let ruleset = local.ruleset(args.ruleset)?;
    let estimate = local::read_estimate(args.estimate)?;
    // Read on every run, so `--watch` sees an edited facts file.
    let facts = match args.facts {
        Some(path) => {
            let facts = crate::rules::factsfile::read(path)?;
            eprintln!(
                "facts: {} event{} from {}",
                facts.events.len(),
                if facts.events.len() == 1 { "" } else { "s" },
                path.display()
            );
            Some(Arc::new(facts) as Arc<dyn FactSource>)
        }
        None => None,
    };
    let evaluation = local.evaluate(&ruleset, estimate, headers, facts, None)?;
    local::write_trace(&mut std::io::stderr().lock(), &evaluation)?;
    let mut out = std::io::stdout().lock();
    if args.pretty {
        let answer: serde_json::Value = serde_json::from_slice(&evaluation.response.body)?;
        serde_json::to_writer_pretty(&mut out, &answer)?;
    } else {
        out.write_all(&evaluation.response.body)?;
    }
    out.write_all(b"\n")?;
    out.flush()?;
    let failed = evaluation
        .runs
        .iter()
        .filter(|r| r.outcome != crate::rules::Outcome::Ok)
        .count();
    if failed > 0 && !args.allow_errors {
        eprintln!(
            "{failed} rule{} failed or ran out of time (exit 1; --allow-errors keeps 0)",
            if failed == 1 { "" } else { "s" }
        );
        return Ok(super::FOUND);
    }
    Ok(super::OK)
}
