//! `lookout check`: compile every rule set, lib module and data file; report problems
//! as `path:line:col: message` with the source line and a caret under the column.

use std::path::Path;

use super::local::{load_registry, render};

pub fn run(rules: &Path) -> anyhow::Result<u8> {
    let registry = load_registry(rules)?;
    let problems = registry.problems();
    let mut warnings = 0;
    for set in registry.all() {
        for warning in &set.warnings {
            eprintln!("warning: {}", render(warning));
            warnings += 1;
        }
        // A key that cannot be read here is already a warning above.
        if set.settings.api_keys.is_empty() && !set.warnings.iter().any(|w| w.is_key()) {
            eprintln!(
                "warning: {}: rule set `{}` has no api_keys, so it accepts unsigned calls; add api_keys = [\"env:LOOKOUT_KEY_{}\"] to its ruleset.toml",
                set.dir.join("ruleset.toml").display(),
                set.name,
                set.name.to_ascii_uppercase().replace('-', "_")
            );
            warnings += 1;
        }
        println!(
            "ok: {} ({} rule{}, version {})",
            set.name,
            set.rules.len(),
            if set.rules.len() == 1 { "" } else { "s" },
            set.version
        );
    }
    for problem in problems.values().flatten() {
        eprintln!("{}", render(problem));
    }
    let mut count: usize = problems.values().map(Vec::len).sum();
    let mut names: Vec<String> = registry.all().iter().map(|s| s.name.clone()).collect();
    names.extend(problems.keys().cloned());
    names.sort();
    names.dedup();
    for name in names {
        for problem in super::test::check_files(&rules.join(&name)) {
            eprintln!("{problem}");
            count += 1;
        }
    }
    if registry.all().is_empty() && problems.is_empty() {
        eprintln!(
            "warning: no rule sets in {} (a rule set is a folder with *.rhai files); make one with `lookout init {}/<name>`",
            rules.display(),
            rules.display()
        );
    }
    if count > 0 {
        eprintln!(
            "{count} error{} in {} rule set{}, {warnings} warning{}",
            if count == 1 { "" } else { "s" },
            problems.len().max(1),
            if problems.len() > 1 { "s" } else { "" },
            if warnings == 1 { "" } else { "s" },
        );
        return Ok(super::FOUND);
    }
    Ok(super::OK)
}
