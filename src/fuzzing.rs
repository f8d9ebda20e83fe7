//! Entry points for the fuzz targets in `fuzz/` (see FUZZING.md): thin wrappers that
//! hand text from outside to crate-internal parsers that otherwise read it from a file.
//! Not an API; nothing in lookout calls these.

use std::path::Path;

use crate::rules::facts::MemoryFacts;
use crate::rules::factsfile as facts;
use crate::rules::ruleset;
use crate::rules::testrun as test;

/// The text step of `ruleset::load_settings` on `text` as `ruleset.toml`: unknown keys
/// dropped (or refused), the typed parse, and the position and "did you mean" of an
/// error. `Err` carries the problems' messages; `Ok` the warnings'.
pub fn ruleset_toml(text: &str) -> Result<Vec<String>, Vec<String>> {
    let path = Path::new("ruleset.toml");
    let (mut problems, mut warnings) = (Vec::new(), Vec::new());
    let messages = |found: &[ruleset::Problem]| found.iter().map(|p| p.to_string()).collect();
    let Some(text) = ruleset::drop_unknown_keys(path, text, &mut problems, &mut warnings) else {
        return Err(messages(&problems));
    };
    match toml::from_str::<ruleset::SettingsFile>(&text) {
        Ok(_) => Ok(messages(&warnings)),
        Err(err) => {
            let at = err.span().map(|s| ruleset::line_col(&text, s.start));
            let hint = err
                .message()
                .strip_prefix("unknown field `")
                .and_then(|m| m.split('`').next())
                .and_then(|unknown| ruleset::did_you_mean(unknown, ruleset::SETTINGS_KEYS));
            Err(vec![format!("{at:?} {} {hint:?}", err.message())])
        }
    }
}

/// A rule test file's text as `rules::testrun::load_test` reads it (without the file read),
/// then its estimate (inline object with `set` and `remove`) and inline facts built as
/// `lookout test` builds them. An `"estimate"` or `"facts"` that names a file is not
/// followed: the fuzzer's text must not make it read arbitrary files.
pub fn test_file(text: &str) -> Result<(), String> {
    let path = Path::new("rules/fuzz/tests/fuzz.json");
    let file = crate::nesting::from_str::<crate::rules::testfile::TestFile>(text)
        .map_err(|e| crate::rules::testfile::explain_test_error(e.message()))?;
    // Parsed as a TestFile, so this is JSON no deeper than nesting::MAX_DEPTH with no
    // repeated field.
    let shape: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if !shape["estimate"].is_string() {
        test::build_estimate(path, &file).map_err(|e| format!("{e:#}"))?;
    }
    if !shape["facts"].is_string() {
        test::build_facts(path, &file).map_err(|e| format!("{e:#}"))?;
    }
    Ok(())
}

/// A facts file's text, read by `rules::factsfile` with items received from `received_at` on.
pub fn facts_file(text: &str, received_at: i64) -> Result<MemoryFacts, String> {
    facts::parse_at(text, "facts.json", received_at)
}
