//! `lookout test`: runs `rules/<ruleset>/tests/*.json` through the server's own
//! evaluation (`rules::testrun`, which the workbench runs too) and prints each test's
//! result, `N passed, N failed` last, and a JUnit report with `--junit`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::anyhow;

use super::local::Local;
use crate::rules::testrun::{self, Ran};

pub use crate::rules::testrun::check_files;

pub struct TestArgs<'a> {
    pub rules: &'a Path,
    pub ruleset: Option<&'a str>,
    pub filter: Option<&'a str>,
    pub junit: Option<&'a Path>,
}

pub fn run(args: TestArgs<'_>) -> anyhow::Result<u8> {
    let local = Local::open(args.rules)?;
    let sets: Vec<String> = match args.ruleset {
        Some(name) => {
            if local.registry.get(name).is_none() && !local.registry.problems().contains_key(name) {
                // Let `ruleset()` build the "there are: ..." message.
                local.ruleset(name)?;
            }
            vec![name.to_string()]
        }
        None => {
            let mut names: Vec<String> = local
                .registry
                .all()
                .iter()
                .map(|s| s.name.clone())
                .collect();
            names.extend(local.registry.problems().keys().cloned());
            names.sort();
            names.dedup();
            names
        }
    };

    let started = Instant::now();
    let mut results: Vec<(Ran, Vec<String>)> = Vec::new();
    let mut broken_sets = 0;
    let evaluate =
        |set: &std::sync::Arc<crate::rules::RuleSet>,
         estimate,
         headers: &[(String, String)],
         facts,
         deadline| { local.evaluate(set, estimate, headers, facts, Some(deadline)) };
    for name in &sets {
        let set_dir = local.root.join(name);
        let any = testrun::test_files(&set_dir)?.iter().any(|f| {
            args.filter
                .is_none_or(|t| format!("{name}/{}", testrun::stem(f)).contains(t))
        });
        if !any {
            continue;
        }
        let ruleset = match local.ruleset(name) {
            Ok(set) => set,
            Err(err) => {
                let files = testrun::test_files(&set_dir)?.len();
                println!("test {name}/* ... FAILED");
                println!("    {err:#}");
                broken_sets += files;
                continue;
            }
        };
        for (r, failures) in testrun::run_set(&evaluate, &ruleset, &set_dir, args.filter)? {
            if failures.is_empty() {
                println!("test {}/{} ... ok", r.ruleset, r.name);
            } else {
                println!("test {}/{} ... FAILED", r.ruleset, r.name);
                for failure in &failures {
                    for line in failure.lines() {
                        println!("    {line}");
                    }
                }
            }
            results.push((r, failures));
        }
    }

    let failed = results.iter().filter(|(_, f)| !f.is_empty()).count() + broken_sets;
    let passed = results.len() + broken_sets - failed;
    if let Some(path) = args.junit {
        std::fs::write(path, junit(&results, started.elapsed()))
            .map_err(|e| anyhow!("cannot write the JUnit report {}: {e}", path.display()))?;
    }
    if passed + failed == 0 {
        eprintln!(
            "no tests found{}; a test is a JSON file in rules/<ruleset>/tests/ (see rules/README.md, \"Testing rules\")",
            args.filter.map(|f| format!(" matching `{f}`")).unwrap_or_default()
        );
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed > 0 { super::FOUND } else { super::OK })
}

fn junit(results: &[(Ran, Vec<String>)], total: Duration) -> String {
    let failures = results.iter().filter(|(_, f)| !f.is_empty()).count();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"lookout test\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">",
        results.len(),
        total.as_secs_f64()
    );
    let mut by_set: BTreeMap<&str, Vec<&(Ran, Vec<String>)>> = BTreeMap::new();
    for r in results {
        by_set.entry(r.0.ruleset.as_str()).or_default().push(r);
    }
    for (set, items) in by_set {
        let failed = items.iter().filter(|(_, f)| !f.is_empty()).count();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\">",
            escape(set),
            items.len()
        );
        for (ran, failures) in items {
            let description = ran
                .file
                .as_ref()
                .and_then(|f| f.description.clone())
                .unwrap_or_default();
            let _ = write!(
                xml,
                "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" time=\"{:.3}\"",
                escape(set),
                escape(&ran.name),
                escape(&ran.path.display().to_string()),
                ran.duration.as_secs_f64()
            );
            if failures.is_empty() && description.is_empty() {
                xml.push_str("/>\n");
                continue;
            }
            xml.push_str(">\n");
            if !description.is_empty() {
                let _ = writeln!(
                    xml,
                    "      <properties><property name=\"description\" value=\"{}\"/></properties>",
                    escape(&description)
                );
            }
            if !failures.is_empty() {
                let first = failures[0].lines().next().unwrap_or_default();
                let _ = writeln!(
                    xml,
                    "      <failure message=\"{}\">{}</failure>",
                    escape(first),
                    escape(&failures.join("\n\n"))
                );
            }
            xml.push_str("    </testcase>\n");
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_escapes_what_it_quotes() {
        assert_eq!(escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
    }
}
