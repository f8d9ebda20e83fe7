//! `lookout replay`: recorded calls run again against the rules on disk, and what
//! changed. A rule author's regression check before shipping: exit 1 when any answer
//! would differ.
//!
//! The calls come from the log (read directly, as `lookout logs` does); each goes
//! through `replay::replay`, the same path as the viewer's "Replay against current
//! rules", which evaluates with the server's own code.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, Context};
use clap::Args;
use serde::Serialize;

use super::local::Local;
use super::logs::{self, StoreArgs};
use crate::replay::{self, Change};
use crate::rules::Problem;
use crate::store::{self, Call, Query};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  lookout replay                      the 1000 newest calls against ./rules\n  lookout replay --since 24h --ruleset default\n  lookout replay 0192f0c4-6b1e-7a55-9d7c-3c1f2a8e4b10\n  lookout replay --since 7d --json > replay.jsonl\n\nPer call: `<id> <rule set> <estimate id>: unchanged`, `changed` followed by what\nchanged (+ added, - removed, ~ changed, GUID changes called out), or `skipped:` with\nthe reason. Calls answered other than 200 or 400 never reached the rules and are\nskipped. The last line is `N replayed, N changed, N unchanged, N skipped`.\n\nExit 1 when any answer changed (or a rule set no longer compiles), 0 when none did,\n2 on bad usage or when the log or the rules cannot be read. The log is found as for\n`lookout logs`."
)]
pub struct ReplayArgs {
    /// Only these calls (ids from `lookout logs`); without ids, the calls the filters match
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// Only calls to this rule set
    #[arg(long, value_name = "NAME", conflicts_with = "ids")]
    pub ruleset: Option<String>,
    /// From this time on: an age (30m, 24h, 7d) or a UTC time (2026-11-01T00:00Z)
    #[arg(long, value_name = "WHEN", value_parser = logs::parse_when, conflicts_with = "ids")]
    pub since: Option<i64>,
    /// Before this time: an age or a UTC time, as for --since
    #[arg(long, value_name = "WHEN", value_parser = logs::parse_when, conflicts_with = "ids")]
    pub until: Option<i64>,
    /// At most this many calls, newest first
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub limit: usize,
    /// The rules folder to replay against [default: rules, or --config's]
    #[arg(long, env = "LOOKOUT_RULES", value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// One JSON object per call, then one with the counts
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// What became of one call.
#[derive(Debug, Serialize)]
struct Outcome {
    id: String,
    ruleset: String,
    estimate_id: Option<String>,
    /// `unchanged`, `changed` or `skipped`.
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rules_version_then: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rules_version_now: Option<String>,
    changes: Vec<Change>,
    rule_problems: Vec<String>,
    caveats: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
struct Counts {
    replayed: usize,
    changed: usize,
    unchanged: usize,
    skipped: usize,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<u8> {
    logs::quiet_when_piped(replay_calls(args))
}

fn replay_calls(args: ReplayArgs) -> anyhow::Result<u8> {
    if let Some(bad) = args.ids.iter().find(|id| !crate::ids::valid_id(id)) {
        return Err(anyhow!(
            "`{bad}` is not a call id; `lookout logs` lists them (the second column)"
        ));
    }
    let config = args.store.config(args.rules)?;
    let store = logs::open(&config)?;
    let read_err = || format!("cannot read the log ({})", store.describe());
    let ids: Vec<String> = if args.ids.is_empty() {
        let query = Query {
            ruleset: args.ruleset.clone(),
            since: args.since,
            until: args.until,
            ..Query::default()
        };
        logs::collect(&store, query, args.limit.max(1))
            .with_context(read_err)?
            .0
            .into_iter()
            .map(|s| s.id)
            .collect()
    } else {
        for id in &args.ids {
            if store.get(id).with_context(read_err)?.is_none() {
                return Err(anyhow!("no call {id} in {}", store.describe()));
            }
        }
        args.ids.clone()
    };
    let local = Local::open(&config.rules)?;
    let problems = local.registry.problems();
    let mut shown_problems = BTreeSet::new();

    let mut counts = Counts::default();
    let mut out = std::io::stdout().lock();
    for id in &ids {
        let outcome = match store.get(id).with_context(read_err)? {
            None => skipped_unknown(id, "no longer in the log (retention removed it)"),
            Some(row) => match row.decode() {
                Err(e) => skipped_unknown(id, &format!("cannot be read back: {e}")),
                Ok(call) => one(&local, &store, &problems, &mut shown_problems, &call),
            },
        };
        match outcome.outcome {
            "changed" => counts.changed += 1,
            "unchanged" => counts.unchanged += 1,
            _ => counts.skipped += 1,
        }
        if outcome.outcome != "skipped" {
            counts.replayed += 1;
        }
        if args.json {
            serde_json::to_writer(&mut out, &outcome)?;
            writeln!(out)?;
        } else {
            write_outcome(&mut out, &outcome)?;
        }
    }
    if args.json {
        serde_json::to_writer(&mut out, &counts)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{} replayed, {} changed, {} unchanged, {} skipped",
            counts.replayed, counts.changed, counts.unchanged, counts.skipped
        )?;
    }
    out.flush()?;
    if ids.is_empty() {
        eprintln!("no calls in {} match", store.describe());
    }
    Ok(if counts.changed > 0 {
        super::FOUND
    } else {
        super::OK
    })
}

/// Replays one recorded call, if it can be. A rule set that does not compile now is a
/// change (the server would answer 503); its errors go to stderr once.
fn one(
    local: &Local,
    store: &store::Store,
    problems: &BTreeMap<String, Vec<Problem>>,
    shown_problems: &mut BTreeSet<String>,
    call: &Call,
) -> Outcome {
    if call.status != 200 && call.status != 400 {
        let mut outcome = base(call, "skipped");
        outcome.reason = Some(format!(
            "answered {} before the rules ran; only calls answered 200 or 400 are replayed",
            call.status
        ));
        return outcome;
    }
    if let Some(errors) = problems.get(&call.ruleset) {
        if shown_problems.insert(call.ruleset.clone()) {
            for p in errors {
                eprintln!("{}", super::local::render(p));
            }
        }
        let mut outcome = base(call, "changed");
        outcome.reason = Some(format!(
            "rule set `{}` does not compile now ({} error{}, shown on stderr); the server would answer 503",
            call.ruleset,
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        ));
        return outcome;
    }
    let Some(ruleset) = local.registry.get(&call.ruleset) else {
        let mut outcome = base(call, "skipped");
        outcome.reason = Some(format!(
            "rule set `{}` is not in {} any more",
            call.ruleset,
            local.root.display()
        ));
        return outcome;
    };
    match local.replay(ruleset, call, Some(store.clone())) {
        Err(e) => {
            let mut outcome = base(call, "skipped");
            let reason = e.to_string();
            let prefix = format!("call {}: ", call.id);
            outcome.reason = Some(reason.strip_prefix(&prefix).unwrap_or(&reason).to_string());
            outcome
        }
        Ok(replayed) => {
            let mut outcome = base(
                call,
                if replayed.changed() {
                    "changed"
                } else {
                    "unchanged"
                },
            );
            outcome.rules_version_then = replayed.rules_version_then;
            outcome.rules_version_now = Some(replayed.rules_version_now);
            outcome.changes = replayed.changes;
            outcome.rule_problems = replayed.rule_problems;
            outcome.caveats = replayed.caveats;
            outcome
        }
    }
}

fn base(call: &Call, outcome: &'static str) -> Outcome {
    Outcome {
        id: call.id.clone(),
        ruleset: call.ruleset.clone(),
        estimate_id: call.estimate_id.clone(),
        outcome,
        reason: None,
        rules_version_then: None,
        rules_version_now: None,
        changes: Vec::new(),
        rule_problems: Vec::new(),
        caveats: Vec::new(),
    }
}

fn skipped_unknown(id: &str, reason: &str) -> Outcome {
    Outcome {
        id: id.to_string(),
        ruleset: "?".to_string(),
        estimate_id: None,
        outcome: "skipped",
        reason: Some(reason.to_string()),
        rules_version_then: None,
        rules_version_now: None,
        changes: Vec::new(),
        rule_problems: Vec::new(),
        caveats: Vec::new(),
    }
}

fn write_outcome(out: &mut impl Write, outcome: &Outcome) -> std::io::Result<()> {
    let mut head = format!(
        "{} {} {}: {}",
        outcome.id,
        outcome.ruleset,
        outcome.estimate_id.as_deref().unwrap_or("-"),
        outcome.outcome
    );
    if outcome.outcome == "skipped" {
        if let Some(reason) = &outcome.reason {
            head.push_str(&format!(": {reason}"));
        }
        return writeln!(out, "{head}");
    }
    if outcome.outcome == "changed" && outcome.rules_version_then != outcome.rules_version_now {
        if let (Some(then), Some(now)) = (&outcome.rules_version_then, &outcome.rules_version_now) {
            head.push_str(&format!(" (rules {then} then, {now} now)"));
        }
    }
    writeln!(out, "{head}")?;
    if outcome.outcome == "changed" {
        if let Some(reason) = &outcome.reason {
            writeln!(out, "    ! {reason}")?;
        }
    }
    for change in &outcome.changes {
        for line in replay::describe(change).lines() {
            writeln!(out, "    {line}")?;
        }
    }
    for problem in &outcome.rule_problems {
        writeln!(out, "    ! rule {problem}")?;
    }
    for caveat in &outcome.caveats {
        writeln!(out, "    note: {caveat}")?;
    }
    Ok(())
}
