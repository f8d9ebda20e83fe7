//! What `run`, `test` and `send` share: the rule sets of a folder, evaluated on this
//! machine through the server's own code (`rules::evaluate`, `rules::CallInput::new`),
//! so a local answer is byte for byte the server's.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::anyhow;
use axum::http::{HeaderName, HeaderValue};

use crate::rules::facts::FactSource;
use crate::rules::json::Doc;
use crate::rules::ruleset::Secrets;
use crate::rules::{self, CallInput, Defaults, Evaluation, Outcome, Pool, Registry, RuleSet};

/// A rules folder loaded once, with a rule pool and a runtime to evaluate on.
pub struct Local {
    pub root: PathBuf,
    pub registry: Registry,
    pool: Pool,
    runtime: tokio::runtime::Runtime,
}

/// Every rule set of a rules folder, compiled as the server would (the problems kept,
/// not fatal), or why the folder cannot be read.
pub fn load_registry(root: &Path) -> anyhow::Result<Registry> {
    if !root.is_dir() {
        return Err(anyhow!(
            "the rules folder {} does not exist; run from the project folder or pass --rules DIR",
            root.display()
        ));
    }
    // The author's tools verify no signature: a production rule set loads here
    // without its secrets, its unreadable keys said as warnings.
    let defaults = Defaults {
        secrets: Secrets::Optional,
        ..Defaults::default()
    };
    Registry::load(root, defaults).map_err(|e| {
        anyhow!(
            "cannot read the rules folder {}: {e}; pass --rules DIR",
            root.display()
        )
    })
}

impl Local {
    pub fn open(root: &Path) -> anyhow::Result<Local> {
        let registry = load_registry(root)?;
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Local {
            root: root.to_path_buf(),
            registry,
            pool: Pool::new(threads)?,
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()?,
        })
    }

    /// The rule set called `name`, or an error that lists the known ones or prints
    /// its compile errors.
    pub fn ruleset(&self, name: &str) -> anyhow::Result<Arc<RuleSet>> {
        if let Some(problems) = self.registry.problems().get(name) {
            for p in problems {
                eprintln!("{}", render(p));
            }
            return Err(anyhow!(
                "rule set `{name}` does not compile; fix the errors above (lookout check shows them all)"
            ));
        }
        let set = self.registry.get(name).ok_or_else(|| {
            let known: Vec<String> = self.registry.all().iter().map(|s| s.name.clone()).collect();
            anyhow!(
                "no rule set `{name}` in {}; there are: {}",
                self.root.display(),
                if known.is_empty() {
                    "none (make one with `lookout init`)".to_string()
                } else {
                    known.join(", ")
                }
            )
        })?;
        for warning in set.warnings.iter().filter(|w| w.is_key()) {
            eprintln!("warning: {}", render(warning));
        }
        Ok(set)
    }

    /// Evaluates `ruleset` on `estimate` as the server would for a call with `headers`,
    /// the port events coming from `facts` (none: the helpers find nothing).
    /// `deadline` overrides the rule set's budget minus margin (tests use it).
    pub fn evaluate(
        &self,
        ruleset: &Arc<RuleSet>,
        estimate: Doc,
        headers: &[(String, String)],
        facts: Option<Arc<dyn FactSource>>,
        deadline: Option<Duration>,
    ) -> anyhow::Result<Evaluation> {
        // The names and values a server would accept, so a local answer is one the
        // server could give.
        for (name, value) in headers {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| anyhow!("`{name}` is not a valid header name"))?;
            HeaderValue::from_str(value)
                .map_err(|_| anyhow!("the value of header `{name}` is not valid header text"))?;
        }
        let input = Arc::new(CallInput::new(
            ruleset,
            crate::ids::new_id(),
            SystemTime::now(),
            headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
            Arc::new(estimate),
            facts,
        ));
        let budget = deadline.unwrap_or(ruleset.settings.budget - ruleset.settings.margin);
        let deadline = Instant::now() + budget;
        Ok(self.runtime.block_on(rules::evaluate(
            &self.pool,
            ruleset.clone(),
            input,
            deadline,
            (),
        )))
    }

    /// Replays a recorded call against `ruleset` as loaded now (see [`crate::replay`]),
    /// with the port events `store` had when the call arrived.
    pub fn replay(
        &self,
        ruleset: Arc<RuleSet>,
        call: &crate::store::Call,
        store: Option<crate::store::Store>,
    ) -> Result<crate::replay::Replayed, crate::replay::NotReplayable> {
        self.runtime
            .block_on(crate::replay::replay_with(&self.pool, ruleset, call, store))
    }
}

pub use crate::rules::testrun::read_estimate;

/// `--header NAME:VALUE`.
pub fn parse_header(text: &str) -> anyhow::Result<(String, String)> {
    let (name, value) = text.split_once(':').ok_or_else(|| {
        anyhow!("--header `{text}` must look like NAME:VALUE, e.g. x-imos-user:apatel")
    })?;
    let name = name.trim().to_ascii_lowercase();
    if name.is_empty() {
        return Err(anyhow!("--header `{text}` has no name before the `:`"));
    }
    Ok((name, value.trim().to_string()))
}

/// The per-rule trace `run` and `test` print: rule, outcome, time, operations,
/// alerts, then what the rule printed and the notes.
pub fn write_trace(out: &mut impl Write, evaluation: &Evaluation) -> std::io::Result<()> {
    for run in &evaluation.runs {
        let detail = match &run.outcome {
            Outcome::Error(e) => format!("  {e}"),
            Outcome::Timeout => "  stopped at the deadline".to_string(),
            Outcome::Ok => String::new(),
        };
        let reused = if run.reused {
            "  reused (inputs unchanged)"
        } else {
            ""
        };
        // The rule's alerts in the answer, as the viewer counts them (a rule that
        // failed has none there, whatever it raised before failing).
        let alerts = evaluation
            .response
            .alerts
            .iter()
            .filter(|a| a.rule.as_deref() == Some(run.rule.as_str()))
            .count();
        writeln!(
            out,
            "rule {:<24} {:<7} {:>9.3} ms {:>9} ops {:>3} alert{}{detail}{reused}",
            run.rule,
            run.outcome.as_str(),
            run.duration.as_secs_f64() * 1e3,
            run.operations,
            alerts,
            if alerts == 1 { " " } else { "s" },
        )?;
        for line in run.output.lines() {
            writeln!(out, "  | {line}")?;
        }
        for note in &run.notes {
            writeln!(out, "  note: {note}")?;
        }
    }
    if evaluation.response.omitted > 0 {
        writeln!(
            out,
            "{} alerts left out to stay under 1,000,000 bytes",
            evaluation.response.omitted
        )?;
    }
    Ok(())
}

/// `path:line:col: message`, then the source line and a caret when the file has one.
pub fn render(problem: &rules::Problem) -> String {
    use std::fmt::Write as _;
    let mut out = problem.to_string();
    let Some(line_no) = problem.line.filter(|l| *l > 0) else {
        return out;
    };
    let Ok(text) = std::fs::read_to_string(&problem.path) else {
        return out;
    };
    let Some(line) = text.lines().nth(line_no - 1) else {
        return out;
    };
    let gutter = line_no.to_string().len();
    let line = line.replace('\t', "    ");
    let _ = write!(out, "\n {line_no} | {line}");
    if let Some(column) = problem.column.filter(|c| *c > 0) {
        // Columns count characters; tabs were widened to four spaces above.
        let original = text.lines().nth(line_no - 1).unwrap_or_default();
        let width: usize = original
            .chars()
            .take(column - 1)
            .map(|c| if c == '\t' { 4 } else { 1 })
            .sum();
        let _ = write!(out, "\n {:gutter$} | {:width$}^", "", "");
    }
    out
}
