//! Running `lookout test` files: one test through an evaluation ([`run_one`]), its
//! answer checked against what it expects ([`check`]), a rule set's tests together
//! ([`run_set`]). The CLI (`lookout test`) runs them on its local pool; the server's
//! workbench runs a draft's tests on the server's pool: the same code, so a test that
//! passes in one passes in the other.
//!
//! One file is one test; its name is the file stem. The format is documented in
//! `rules/README.md` ("Testing rules") and parsed by [`super::testfile`]:
//!
//! ```json
//! { "description": "...", "estimate": "../../samples/x.json" | {...},
//!   "set": {"/pointer": value}, "remove": ["/pointer"], "headers": {"name": "value"},
//!   "facts": "facts/port.json" | [...], "deadline_ms": 2000, "allow_rule_errors": false,
//!   "rules": ["tce_floor"],
//!   "expect": { "alerts": [...], "count": 3, "contains": [...], "absent": [...] } }
//! ```
//!
//! With `rules`, only those rules' alerts and failures count. `alerts` is matched by
//! content, in any order; numbers compare by value (`520` is `520.0`) wherever a test
//! gives one (a mutation), and a mutation that differs is shown field by field.
//!
//! This module knows no HTTP and no SQL.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use serde_json::Value;

use super::facts::FactSource;
use super::json::{self, Doc};
use super::testfile::{explain_test_error, remove, set, Field, Matcher, TestFile};
use super::{EstimateError, Evaluation, Outcome, RuleSet};
use crate::nesting;

/// A test's deadline when it does not set `deadline_ms`.
pub const DEFAULT_DEADLINE_MS: u64 = 2_000;

/// How a test's call is evaluated: the rule set, the estimate, the headers, the port
/// events and the deadline, to the server's answer and trace.
pub type Evaluate<'a> = dyn Fn(
        &Arc<RuleSet>,
        Doc,
        &[(String, String)],
        Option<Arc<dyn FactSource>>,
        Duration,
    ) -> anyhow::Result<Evaluation>
    + 'a;

/// Runs the tests of the rule set in `set_dir` (its `tests/*.json`, those whose
/// `<ruleset>/<name>` contains `filter`) with `ruleset`, and checks each: the tests in
/// file-name order, each with its failures (none: it passed).
pub fn run_set(
    evaluate: &Evaluate<'_>,
    ruleset: &Arc<RuleSet>,
    set_dir: &Path,
    filter: Option<&str>,
) -> anyhow::Result<Vec<(Ran, Vec<String>)>> {
    let files: Vec<PathBuf> = test_files(set_dir)?
        .into_iter()
        .filter(|f| filter.is_none_or(|t| format!("{}/{}", ruleset.name, stem(f)).contains(t)))
        .collect();
    let ran: Vec<Ran> = files
        .iter()
        .map(|path| run_one(evaluate, ruleset, path))
        .collect();
    let by_name: HashMap<&str, &Ran> = ran.iter().map(|r| (r.name.as_str(), r)).collect();
    let checked: Vec<Vec<String>> = ran.iter().map(|r| check(r, &by_name)).collect();
    Ok(ran.into_iter().zip(checked).collect())
}

/// An estimate file, read and parsed as the server parses a body.
pub fn read_estimate(path: &Path) -> anyhow::Result<Doc> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the estimate {}", path.display()))?;
    parse_estimate(&text, &path.display().to_string())
}

pub fn parse_estimate(text: &str, origin: &str) -> anyhow::Result<Doc> {
    super::parse_estimate(text.as_bytes()).map_err(|e| {
        let not_json = |e: nesting::Error| {
            anyhow!(
                "{origin}:{}:{}: not valid JSON: {}; the Estimator sends the estimate as a JSON object",
                e.line(),
                e.column(),
                e.message()
            )
        };
        match e {
            EstimateError::NotJson(e) => not_json(e),
            EstimateError::TooDeep(deep) => not_json(deep.into()),
            EstimateError::NotUtf8(e) => anyhow!("{origin}: not UTF-8 text: {e}"),
            EstimateError::NotObject(kind) => {
                anyhow!("{origin}: the estimate must be a JSON object {{...}}, this is {kind}")
            }
        }
    })
}

/// One alert of an answer, with the rule that raised it.
pub type Actual = crate::alerts::Sent;

/// `[rule] Type: message`, for listings.
pub fn summary(a: &Actual) -> String {
    format!(
        "[{}] {}: {}",
        a.rule.as_deref().unwrap_or("lookout"),
        a.alert.alert_type.as_str(),
        a.alert.message
    )
}

/// Its display fields, as matchers name them.
fn fields_of(a: &Actual) -> Vec<Field> {
    a.alert.display_fields.iter().map(Field::from).collect()
}

/// A test that ran (or could not): what the report and `guid_same_as` need.
pub struct Ran {
    pub ruleset: String,
    pub name: String,
    pub path: PathBuf,
    pub file: Option<TestFile>,
    pub alerts: Vec<Actual>,
    /// Failures found before the expectations (bad file, rule errors).
    pub failures: Vec<String>,
    pub duration: Duration,
}

/// Problems with a rule set's test files (unreadable, not JSON, unknown keys, a missing
/// estimate or a bad pointer), for `lookout check`.
pub fn check_files(set_dir: &Path) -> Vec<String> {
    let files = match test_files(set_dir) {
        Ok(files) => files,
        Err(err) => return vec![format!("{err:#}")],
    };
    files
        .iter()
        .filter_map(|path| {
            load_test(path)
                .and_then(|file| {
                    build_estimate(path, &file)?;
                    build_facts(path, &file).map(|_| ())
                })
                .err()
                .map(|e| format!("{e:#}"))
        })
        .collect()
}

pub fn test_files(set_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dir = set_dir.join("tests");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow!("cannot read {}: {e}", dir.display())),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().and_then(|e| e.to_str()) == Some("json"))
        .collect();
    files.sort();
    Ok(files)
}

pub fn stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string()
}

/// Runs one test file of `ruleset` through `evaluate` (the CLI's local pool, or the
/// server's) and keeps what [`check`] needs.
pub fn run_one(evaluate: &Evaluate<'_>, ruleset: &Arc<RuleSet>, path: &Path) -> Ran {
    let started = Instant::now();
    let mut ran = Ran {
        ruleset: ruleset.name.clone(),
        name: stem(path),
        path: path.to_path_buf(),
        file: None,
        alerts: Vec::new(),
        failures: Vec::new(),
        duration: Duration::ZERO,
    };
    let prepared = load_test(path).and_then(|file| {
        let estimate = build_estimate(path, &file)?;
        let facts = build_facts(path, &file)?;
        Ok((file, estimate, facts))
    });
    let (file, estimate, facts) = match prepared {
        Ok(p) => p,
        Err(err) => {
            ran.failures.push(format!("{err:#}"));
            return ran;
        }
    };
    let headers: Vec<(String, String)> = file
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let deadline = Duration::from_millis(file.deadline_ms.unwrap_or(DEFAULT_DEADLINE_MS));
    if let Some(names) = &file.rules {
        for name in names {
            if !ruleset.rules.iter().any(|r| r.id == *name) {
                let known: Vec<&str> = ruleset.rules.iter().map(|r| r.id.as_str()).collect();
                ran.failures.push(format!(
                    "\"rules\": there is no rule `{name}` in rule set `{}` (its rules: {})",
                    ruleset.name,
                    known.join(", ")
                ));
            }
        }
    }
    let in_scope = |rule: Option<&str>| match &file.rules {
        None => true,
        Some(names) => rule.is_some_and(|r| names.iter().any(|n| n == r)),
    };
    match evaluate(ruleset, estimate, &headers, facts, deadline) {
        Ok(evaluation) => {
            if !file.allow_rule_errors {
                for run in evaluation.runs.iter().filter(|r| in_scope(Some(&r.rule))) {
                    match &run.outcome {
                        Outcome::Ok => {}
                        Outcome::Error(e) => ran.failures.push(format!(
                            "rule `{}` failed: {e}\n(set \"allow_rule_errors\": true if the test expects that)",
                            run.rule
                        )),
                        Outcome::Timeout => ran.failures.push(format!(
                            "rule `{}` did not finish within the test's deadline of {} ms (\"deadline_ms\")",
                            run.rule,
                            deadline.as_millis()
                        )),
                    }
                }
            }
            ran.alerts = evaluation
                .response
                .alerts
                .into_iter()
                .filter(|a| in_scope(a.rule.as_deref()))
                .collect();
        }
        Err(err) => ran.failures.push(format!("{err:#}")),
    }
    ran.file = Some(file);
    ran.duration = started.elapsed();
    ran
}

pub fn load_test(path: &Path) -> anyhow::Result<TestFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
    crate::nesting::from_str::<TestFile>(&text).map_err(|e| {
        anyhow!(
            "{}:{}:{}: {}",
            path.display(),
            e.line(),
            e.column(),
            explain_test_error(e.message())
        )
    })
}

/// The estimate a test runs on: the file or inline object, with `set` and `remove` applied.
pub fn build_estimate(path: &Path, file: &TestFile) -> anyhow::Result<Doc> {
    let mut estimate = match &file.estimate {
        Value::String(rel) => {
            let at = path.parent().unwrap_or(Path::new(".")).join(rel);
            if !at.is_file() {
                return Err(anyhow!(
                    "{}: \"estimate\": {} does not exist (paths are relative to the test file)",
                    path.display(),
                    at.display()
                ));
            }
            read_estimate(&at)?
        }
        Value::Object(_) => json::doc_from(&file.estimate),
        other => {
            return Err(anyhow!(
                "{}: \"estimate\" must be a file path or a JSON object, not {}",
                path.display(),
                kind(other)
            ))
        }
    };
    for (pointer, value) in &file.set {
        set(&mut estimate, pointer, json::doc_from(value))
            .map_err(|e| anyhow!("{}: \"set\" {pointer}: {e}", path.display()))?;
    }
    for pointer in &file.remove {
        remove(&mut estimate, pointer)
            .map_err(|e| anyhow!("{}: \"remove\" {pointer}: {e}", path.display()))?;
    }
    Ok(estimate)
}

/// The test's port events: none, a facts file relative to the test file, or inline.
pub fn build_facts(path: &Path, file: &TestFile) -> anyhow::Result<Option<Arc<dyn FactSource>>> {
    let Some(raw) = &file.facts else {
        return Ok(None);
    };
    let facts = serde_json::from_str::<Value>(raw.get())
        .map_err(|e| anyhow!("{}: \"facts\": {e}", path.display()))?;
    let facts = match facts {
        Value::String(rel) => {
            let at = path.parent().unwrap_or(Path::new(".")).join(&rel);
            if !at.is_file() {
                return Err(anyhow!(
                    "{}: \"facts\": {} does not exist (paths are relative to the test file)",
                    path.display(),
                    at.display()
                ));
            }
            super::factsfile::read(&at)?
        }
        Value::Array(_) | Value::Object(_) => {
            super::factsfile::parse(raw.get(), &format!("{}: \"facts\"", path.display()))
                .map_err(|e| anyhow!(e))?
        }
        other => {
            return Err(anyhow!(
                "{}: \"facts\" must be a facts file's path or a list of events, not {}",
                path.display(),
                kind(&other)
            ))
        }
    };
    Ok(Some(Arc::new(facts)))
}

use crate::pointer::kind;

/// Every way the test's answer differs from its expectations.
pub fn check(ran: &Ran, others: &HashMap<&str, &Ran>) -> Vec<String> {
    let mut failures = ran.failures.clone();
    let Some(file) = &ran.file else {
        return failures;
    };
    if !ran.failures.is_empty() && ran.alerts.is_empty() {
        return failures;
    }
    let expect = &file.expect;
    let ctx = Ctx { others };

    if let Some(count) = expect.count {
        if ran.alerts.len() != count {
            failures.push(format!(
                "expected {count} alert{}, got {}{}",
                if count == 1 { "" } else { "s" },
                ran.alerts.len(),
                listing(&ran.alerts)
            ));
        }
    }
    for matcher in &expect.contains {
        if let Err(e) = ctx.validate(matcher) {
            failures.push(e);
            continue;
        }
        let scored: Vec<(usize, Vec<String>)> = ran
            .alerts
            .iter()
            .enumerate()
            .map(|(i, a)| (i, ctx.mismatches(matcher, a)))
            .collect();
        if scored.iter().any(|(_, m)| m.is_empty()) {
            continue;
        }
        let mut text = format!("expected an alert like {}", show(matcher));
        // Closest: fewest differences, and an alert of the same rule before any other.
        let weight = |misses: &Vec<String>| -> usize {
            misses
                .iter()
                .map(|m| if m.starts_with("rule:") { 100 } else { 1 })
                .sum()
        };
        if let Some((i, misses)) = scored.iter().min_by_key(|(_, m)| weight(m)) {
            let _ = write!(
                text,
                "\nclosest is #{}: {}",
                i + 1,
                summary(&ran.alerts[*i])
            );
            for miss in misses {
                let _ = write!(text, "\n  {miss}");
            }
        }
        text.push_str(&listing(&ran.alerts));
        failures.push(text);
    }
    for matcher in &expect.absent {
        if let Err(e) = ctx.validate(matcher) {
            failures.push(e);
            continue;
        }
        let hits: Vec<String> = ran
            .alerts
            .iter()
            .enumerate()
            .filter(|(_, a)| ctx.mismatches(matcher, a).is_empty())
            .map(|(i, a)| format!("\n  #{}: {}", i + 1, summary(a)))
            .collect();
        if !hits.is_empty() {
            failures.push(format!(
                "expected no alert like {}, got:{}",
                show(matcher),
                hits.concat()
            ));
        }
    }
    if let Some(expected) = &expect.alerts {
        let problems: Vec<Option<String>> =
            expected.iter().map(|m| ctx.validate(m).err()).collect();
        let fits: Vec<Vec<bool>> = expected
            .iter()
            .zip(&problems)
            .map(|(m, problem)| {
                ran.alerts
                    .iter()
                    .map(|a| problem.is_none() && ctx.mismatches(m, a).is_empty())
                    .collect()
            })
            .collect();
        let pairs = pair_up(&fits, ran.alerts.len());
        let matched: Vec<usize> = {
            let mut m: Vec<usize> = pairs.iter().flatten().copied().collect();
            m.sort_unstable();
            m
        };
        let extra: Vec<usize> = (0..ran.alerts.len())
            .filter(|a| !matched.contains(a))
            .collect();
        let missing: Vec<usize> = (0..expected.len())
            .filter(|m| pairs[*m].is_none())
            .collect();
        if !missing.is_empty() || !extra.is_empty() {
            let mut text = format!(
                "expected exactly {} alert{} (in any order), got {}",
                expected.len(),
                if expected.len() == 1 { "" } else { "s" },
                ran.alerts.len()
            );
            if !matched.is_empty() {
                let _ = write!(
                    text,
                    "; {} of yours match{} {}",
                    matched.len(),
                    if matched.len() == 1 { "es" } else { "" },
                    numbers(&matched)
                );
            }
            if !extra.is_empty() {
                let _ = write!(
                    text,
                    "; {} other alert{} {}: {}",
                    extra.len(),
                    if extra.len() == 1 { "" } else { "s" },
                    if extra.len() == 1 { "is" } else { "are" },
                    numbers(&extra)
                );
            }
            for m in &missing {
                let _ = write!(text, "\n  - expected {}", show(&expected[*m]));
                if let Some(problem) = &problems[*m] {
                    let _ = write!(text, "\n       {problem}");
                    continue;
                }
                // The closest alert nothing else matched, and how it differs.
                let closest = extra
                    .iter()
                    .map(|a| (*a, ctx.mismatches(&expected[*m], &ran.alerts[*a])))
                    .min_by_key(|(_, misses)| misses.len());
                if let Some((a, misses)) = closest {
                    let _ = write!(
                        text,
                        "\n    closest is #{}: {}",
                        a + 1,
                        summary(&ran.alerts[a])
                    );
                    for miss in misses {
                        let _ = write!(text, "\n       {miss}");
                    }
                }
            }
            for a in &extra {
                let _ = write!(
                    text,
                    "\n  + unexpected #{}: {}",
                    a + 1,
                    summary(&ran.alerts[*a])
                );
            }
            failures.push(text);
        }
    }
    failures
}

struct Ctx<'a> {
    others: &'a HashMap<&'a str, &'a Ran>,
}

impl Ctx<'_> {
    /// Problems with the matcher itself (a bad regex, an unknown test name).
    fn validate(&self, m: &Matcher) -> Result<(), String> {
        if let Some(pattern) = &m.message_matches {
            regex::Regex::new(pattern).map_err(|e| {
                format!("\"message_matches\": {pattern:?} is not a valid pattern: {e}")
            })?;
        }
        if let Some(alert_type) = &m.alert_type {
            if !["Error", "PermanentWarning", "Unspecified"].contains(&alert_type.as_str()) {
                return Err(format!(
                    "\"alertType\": {alert_type:?} is not one of \"Error\", \"PermanentWarning\", \"Unspecified\""
                ));
            }
        }
        if let Some(other) = &m.guid_same_as {
            match self.others.get(other.as_str()) {
                None => {
                    return Err(format!(
                        "\"guid_same_as\": there is no test `{other}` in this rule set's tests/"
                    ))
                }
                Some(r) if r.alerts.is_empty() => {
                    return Err(format!(
                        "\"guid_same_as\": test `{other}` raised no alerts to compare GUIDs with"
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn mismatches(&self, m: &Matcher, a: &Actual) -> Vec<String> {
        let mut out = Vec::new();
        fn differ(
            out: &mut Vec<String>,
            what: &str,
            want: &dyn std::fmt::Debug,
            got: &dyn std::fmt::Debug,
        ) {
            out.push(format!("{what}: expected {want:?}, got {got:?}"));
        }
        if let Some(rule) = &m.rule {
            if a.rule.as_deref() != Some(rule.as_str()) {
                differ(
                    &mut out,
                    "rule",
                    rule,
                    &a.rule.as_deref().unwrap_or("(lookout's notice)"),
                );
            }
        }
        if let Some(t) = &m.alert_type {
            if a.alert.alert_type.as_str() != t.as_str() {
                differ(&mut out, "alertType", t, &a.alert.alert_type.as_str());
            }
        }
        let message = a.alert.message.as_str();
        if let Some(want) = &m.message {
            if message != want.as_str() {
                differ(&mut out, "message", want, &message);
            }
        }
        if let Some(part) = &m.message_contains {
            if !message.to_lowercase().contains(&part.to_lowercase()) {
                out.push(format!("message does not contain {part:?} (ignoring case)"));
            }
        }
        if let Some(pattern) = &m.message_matches {
            if let Ok(re) = regex::Regex::new(pattern) {
                if !re.is_match(message) {
                    out.push(format!("message does not match /{pattern}/"));
                }
            }
        }
        let fields = fields_of(a);
        for want in m.field.iter().chain(m.fields.iter().flatten()) {
            if !fields.contains(want) {
                match fields.iter().find(|f| f.label == want.label) {
                    Some(f) => out.push(format!(
                        "field {:?}: expected {:?}, got {:?}",
                        want.label, want.value, f.value
                    )),
                    None => out.push(format!(
                        "no field {:?} (fields: {})",
                        want.label,
                        if fields.is_empty() {
                            "none".to_string()
                        } else {
                            fields
                                .iter()
                                .map(|f| format!("{:?}", f.label))
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    )),
                }
            }
        }
        if let Some(want) = &m.display_fields {
            if &fields != want {
                differ(
                    &mut out,
                    "displayFields",
                    &serde_json::to_string(want).unwrap_or_default(),
                    &serde_json::to_string(&fields).unwrap_or_default(),
                );
            }
        }
        if let Some(link) = &m.link {
            if a.alert.link.as_deref() != Some(link.as_str()) {
                differ(
                    &mut out,
                    "link",
                    link,
                    &a.alert.link.as_deref().unwrap_or("(none)"),
                );
            }
        }
        if let Some(want) = &m.mutation {
            match a.alert.mutation.as_ref() {
                None => out.push(format!("mutation: expected {want}, got none")),
                Some(got) => json_differences(want, got, "mutation", &mut out),
            }
        }
        if let Some(guid) = &m.guid {
            if a.alert.guid != *guid {
                differ(&mut out, "guid", guid, &a.alert.guid.as_str());
            }
        }
        if let Some(other) = &m.guid_same_as {
            if let Some(r) = self.others.get(other.as_str()) {
                let guid = &a.alert.guid;
                if !r.alerts.iter().any(|o| o.alert.guid == *guid) {
                    out.push(format!(
                        "guid {guid} does not appear in test `{other}`'s answer"
                    ));
                }
            }
        }
        out
    }
}

/// Where `got` differs from `want`, one line per place (`mutation.speed: expected 13.5,
/// got 14`); numbers compare by value, so `520` and `520.0` are the same.
fn json_differences(want: &Value, got: &Value, at: &str, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Number(w), Value::Number(g)) => {
            if w.as_f64() != g.as_f64() {
                out.push(format!("{at}: expected {w}, got {g}"));
            }
        }
        (Value::Object(w), Value::Object(g)) => {
            for (key, wv) in w {
                match g.get(key) {
                    Some(gv) => json_differences(wv, gv, &format!("{at}.{key}"), out),
                    None => out.push(format!("{at}.{key}: expected {wv}, got nothing")),
                }
            }
            for (key, gv) in g {
                if !w.contains_key(key) {
                    out.push(format!("{at}.{key}: not expected, got {gv}"));
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                json_differences(wv, gv, &format!("{at}[{i}]"), out);
            }
            if w.len() != g.len() {
                out.push(format!(
                    "{at}: expected {} element{}, got {}",
                    w.len(),
                    if w.len() == 1 { "" } else { "s" },
                    g.len()
                ));
            }
        }
        _ => {
            if want != got {
                out.push(format!("{at}: expected {want}, got {got}"));
            }
        }
    }
}

/// Pairs each expected matcher with a different alert it matches (any order), as
/// many as can be: `pairs[i]` is the alert for matcher `i`. Kuhn's augmenting paths;
/// a test has a handful of alerts.
fn pair_up(fits: &[Vec<bool>], alerts: usize) -> Vec<Option<usize>> {
    fn try_pair(
        m: usize,
        fits: &[Vec<bool>],
        seen: &mut [bool],
        owner: &mut [Option<usize>],
    ) -> bool {
        for a in 0..owner.len() {
            if fits[m][a] && !seen[a] {
                seen[a] = true;
                if owner[a].is_none_or(|other| try_pair(other, fits, seen, owner)) {
                    owner[a] = Some(m);
                    return true;
                }
            }
        }
        false
    }
    let mut owner: Vec<Option<usize>> = vec![None; alerts];
    for m in 0..fits.len() {
        let mut seen = vec![false; alerts];
        try_pair(m, fits, &mut seen, &mut owner);
    }
    let mut pairs = vec![None; fits.len()];
    for (a, m) in owner.iter().enumerate() {
        if let Some(m) = m {
            pairs[*m] = Some(a);
        }
    }
    pairs
}

/// `#5 and #6`, `#1, #2 and #4`.
fn numbers(list: &[usize]) -> String {
    let items: Vec<String> = list.iter().map(|i| format!("#{}", i + 1)).collect();
    match items.split_last() {
        None => "none".into(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

fn show(m: &Matcher) -> String {
    serde_json::to_string(m).unwrap_or_default()
}

fn listing(alerts: &[Actual]) -> String {
    if alerts.is_empty() {
        return "\ngot no alerts".to_string();
    }
    let mut text = format!(
        "\ngot {} alert{}:",
        alerts.len(),
        if alerts.len() == 1 { "" } else { "s" }
    );
    for (i, a) in alerts.iter().enumerate() {
        let _ = write!(text, "\n  #{}: {}", i + 1, summary(a));
    }
    text
}
