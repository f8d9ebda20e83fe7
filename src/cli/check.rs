//! `lookout check`: compile every rule set and report problems as `path:line:col: message`.

use std::path::Path;

use crate::rules::{Defaults, Registry};

pub fn run(rules: &Path) -> anyhow::Result<u8> {
    let registry = Registry::load(rules, Defaults::default()).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the rules folder {}: {e}; pass --rules DIR",
            rules.display()
        )
    })?;
    let problems = registry.problems();
    for set in registry.all() {
        for warning in &set.warnings {
            eprintln!("warning: {warning}");
        }
        if set.settings.api_keys.is_empty() {
            eprintln!(
                "warning: {}: rule set `{}` has no api_keys, so it accepts unsigned calls",
                set.dir.display(),
                set.name
            );
        }
        println!(
            "ok: {} ({} rules, version {})",
            set.name,
            set.rules.len(),
            set.version
        );
    }
    for problem in problems.values().flatten() {
        eprintln!("{problem}");
    }
    let count: usize = problems.values().map(Vec::len).sum();
    if count > 0 {
        eprintln!("{count} error(s) in {} rule set(s)", problems.len());
        return Ok(super::FOUND);
    }
    Ok(super::OK)
}
