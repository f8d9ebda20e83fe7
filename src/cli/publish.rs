//! `lookout publish`: a rules folder's rule sets become revisions in the fleet's shared
//! PostgreSQL store (every instance with `[fleet] rules = "store"` serves them within
//! about a second), or a candidate run in the shadow of live calls (`--candidate`).
//! `lookout candidate`: a candidate's summary, promoting it or discarding it.
//! `lookout retire`: a rule set served by no instance any more.
//!
//! A rule set is published only when it compiles and its tests pass (`lookout test`'s
//! run), and only when its version is not the current revision already.

use std::path::PathBuf;

use anyhow::{anyhow, bail};
use clap::{Args, Subcommand};

use super::logs::StoreArgs;
use crate::rules::revision;
use crate::store::{Candidate, ShadowKind, Store};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  lookout publish --config /etc/lookout/lookout.toml -m \"raise the TCE floor\"\n  lookout publish default --rules ./rules -m \"new laycan check\" --author jlee\n  lookout publish default --candidate -m \"try a lower floor on live traffic\"\n\nNeeds the fleet's PostgreSQL store ([store] url, --store or LOOKOUT_STORE_URL): with SQLite\nthe rules folder is what is served. Exit 1 when a rule set does not compile or a test fails\n(nothing of it is published)."
)]
pub struct PublishArgs {
    /// Only this rule set (default: every rule set in the folder)
    pub ruleset: Option<String>,
    /// The rules folder to publish
    #[arg(long, env = "LOOKOUT_RULES", default_value = "rules")]
    pub rules: PathBuf,
    /// Why: kept with the revision
    #[arg(long, short = 'm')]
    pub message: String,
    /// Who publishes [default: $USER]
    #[arg(long)]
    pub author: Option<String>,
    /// Start it as the rule set's candidate (run beside the live revision, never answering)
    #[arg(long)]
    pub candidate: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct CandidateArgs {
    #[command(subcommand)]
    pub action: CandidateAction,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum CandidateAction {
    /// Running candidates and how their answers differ from the live ones
    List,
    /// One rule set's running candidate: its summary and the calls behind each number
    Show { ruleset: String },
    /// Publish the running candidate as the rule set's new revision
    Promote {
        ruleset: String,
        #[arg(long, short = 'm')]
        message: Option<String>,
        #[arg(long)]
        author: Option<String>,
    },
    /// Stop the running candidate without publishing it
    Discard { ruleset: String },
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  lookout retire old_desk -m \"the desk moved to desk2\" --config /etc/lookout/lookout.toml\n\nEvery instance that follows the store ([fleet] rules = \"store\") stops serving it within about a\nsecond (/hooks/<ruleset> answers 404); its running candidate ends. `lookout publish` of it\nbrings it back. An instance with [fleet] publish_folder publishes its folder's copy again\nonly when that copy changes: remove it there too."
)]
pub struct RetireArgs {
    /// The rule set to retire
    pub ruleset: String,
    /// Why: kept with the revision that retires it
    #[arg(long, short = 'm')]
    pub message: String,
    /// Who retires it [default: $USER]
    #[arg(long)]
    pub author: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

fn author(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok())
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "lookout publish".into())
}

fn open_fleet_store(store: StoreArgs) -> anyhow::Result<Store> {
    let config = store.config(None)?;
    match config.store_location().map_err(|e| anyhow!(e))? {
        crate::store::Location::Postgres(_) => super::logs::open(&config),
        crate::store::Location::Sqlite(path) => bail!(
            "the store is SQLite ({}): a single instance serves its rules folder, so there is nothing to publish to; a fleet shares a PostgreSQL store ([store] url = \"postgres://...\", --store or LOOKOUT_STORE_URL)",
            path.display()
        ),
    }
}

pub fn publish(args: PublishArgs) -> anyhow::Result<u8> {
    let local = super::local::Local::open(&args.rules)?;
    let mut problems = local.registry.problems();
    let names: Vec<String> = match &args.ruleset {
        Some(name) if problems.contains_key(name) => {
            problems.retain(|n, _| n == name);
            vec![name.clone()]
        }
        Some(name) => vec![local.ruleset(name)?.name.clone()],
        None => local
            .registry
            .all()
            .iter()
            .map(|s| s.name.clone())
            .collect(),
    };
    if !problems.is_empty() {
        for found in problems.values() {
            for p in found {
                eprintln!("{}", super::local::render(p));
            }
        }
        let named: Vec<String> = problems.keys().map(|n| format!("`{n}`")).collect();
        eprintln!(
            "not published: {} does not compile (lookout check)",
            named.join(", ")
        );
        return Ok(super::FOUND);
    }
    if names.is_empty() {
        bail!("no rule set in {}", args.rules.display());
    }
    // Compiled (above) and tested, every one, before anything is published.
    for name in &names {
        let code = super::test::run(super::test::TestArgs {
            rules: &args.rules,
            ruleset: Some(name),
            filter: None,
            junit: None,
        })?;
        if code != super::OK {
            eprintln!("not published: a test of `{name}` failed");
            return Ok(super::FOUND);
        }
    }
    let store = open_fleet_store(args.store)?;
    let author = author(args.author);
    let heads = store.revision_heads()?;
    for name in names {
        let set = local.ruleset(&name)?;
        let files = revision::files_of(&set.dir).map_err(|e| anyhow!(e))?;
        if args.candidate {
            let candidate = Candidate {
                id: crate::ids::new_id().to_string(),
                ruleset: name.clone(),
                version: set.version.clone(),
                author: author.clone(),
                message: args.message.clone(),
                files: serde_json::to_value(&files)?,
                started_at: crate::clock::now_micros(),
                ended_at: None,
                outcome: None,
            };
            store.start_candidate(&candidate)?;
            println!(
                "candidate {} of {name} started: version {} (lookout candidate show {name})",
                candidate.id, set.version
            );
            continue;
        }
        if heads
            .iter()
            .any(|h| h.ruleset == name && h.version == set.version)
        {
            println!(
                "{name}: version {} is the current revision already",
                set.version
            );
            continue;
        }
        let record = crate::fleet::publish(
            &store,
            crate::fleet::Revision {
                ruleset: &name,
                files: &files,
                author: &author,
                message: &args.message,
                action: "cli",
            },
            Some(&set.version),
            local.registry.defaults(),
        )
        .map_err(|e| anyhow!(e))?;
        println!(
            "{name}: published version {} (revision {}, was {})",
            record.version,
            record.id,
            if record.previous_version.is_empty() {
                "none"
            } else {
                &record.previous_version
            }
        );
    }
    Ok(super::OK)
}

pub fn candidate(args: CandidateArgs) -> anyhow::Result<u8> {
    let store = open_fleet_store(args.store)?;
    let running = |ruleset: &str| -> anyhow::Result<Candidate> {
        store
            .candidates(Some(ruleset), true)?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("rule set `{ruleset}` has no running candidate"))
    };
    match args.action {
        CandidateAction::List => {
            let all = store.candidates(None, true)?;
            if all.is_empty() {
                println!("no running candidate");
            }
            for c in all {
                let s = store.shadow_summary(&c.id)?;
                println!(
                    "{}\t{}\tversion {}\tby {}\t{} calls, {} answers changed",
                    c.ruleset, c.id, c.version, c.author, s.calls, s.changed
                );
            }
        }
        CandidateAction::Show { ruleset } => {
            let c = running(&ruleset)?;
            let s = store.shadow_summary(&c.id)?;
            println!(
                "candidate {} of {} (version {}), by {}: {}",
                c.id, c.ruleset, c.version, c.author, c.message
            );
            println!(
                "{} calls compared, {} answers changed: {} alerts added, {} removed, {} changed, {} GUID changes; {} rule errors, {} timeouts",
                s.calls, s.changed, s.added, s.removed, s.altered, s.guid_changes, s.errors, s.timeouts
            );
            println!(
                "time per call: live {:.1} ms (arrival to answer), candidate {:.1} ms (max {:.1} ms)",
                s.live_us_mean as f64 / 1e3,
                s.candidate_us_mean as f64 / 1e3,
                s.candidate_us_max as f64 / 1e3
            );
            for kind in [
                ShadowKind::Changed,
                ShadowKind::Errors,
                ShadowKind::Timeouts,
            ] {
                let calls = store.shadow_calls(&c.id, kind, 5)?;
                if !calls.is_empty() {
                    let ids: Vec<&str> = calls.iter().map(|c| c.call_id.as_str()).collect();
                    println!("{} (latest): {}", kind.as_str(), ids.join(" "));
                }
            }
        }
        CandidateAction::Promote {
            ruleset,
            message,
            author: who,
        } => {
            let c = running(&ruleset)?;
            let files: revision::Files = serde_json::from_value(c.files.clone())?;
            // Compiled here again (tests need its folder: the workbench's Promote runs them).
            let record = crate::fleet::publish(
                &store,
                crate::fleet::Revision {
                    ruleset: &c.ruleset,
                    files: &files,
                    author: &author(who),
                    message: &message
                        .unwrap_or_else(|| format!("promoted candidate {}: {}", c.id, c.message)),
                    action: "promote",
                },
                Some(&c.version),
                &crate::rules::Defaults::default(),
            )
            .map_err(|e| anyhow!(e))?;
            store.end_candidate(&c.id, "promoted", crate::clock::now_micros())?;
            println!(
                "{ruleset}: candidate {} promoted: version {} is the current revision",
                c.id, record.version
            );
        }
        CandidateAction::Discard { ruleset } => {
            let c = running(&ruleset)?;
            store.end_candidate(&c.id, "discarded", crate::clock::now_micros())?;
            println!("{ruleset}: candidate {} discarded", c.id);
        }
    }
    Ok(super::OK)
}

pub fn retire(args: RetireArgs) -> anyhow::Result<u8> {
    let store = open_fleet_store(args.store)?;
    let record = crate::fleet::retire(&store, &args.ruleset, &author(args.author), &args.message)?;
    println!(
        "{}: retired (was version {}; revision {}): no instance serves it now",
        record.ruleset, record.previous_version, record.id
    );
    Ok(super::OK)
}
