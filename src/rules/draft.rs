//! A draft: a rule set's files as they are on disk with an author's changes laid over
//! them, compiled by the same loader as the live set (same engine, limits and checks)
//! but never served. The workbench tries drafts on logged calls and estimates.
//!
//! The draft is built in a private temporary folder (a copy of the live folder's own
//! files, then the changes), loaded with [`ruleset::load`], and the folder is removed:
//! a loaded rule set holds its rules, lib modules and data in memory. Problems come back
//! with paths inside the rule set (`lib/fuel.rhai:3:9`), as the author wrote them.
//!
//! This module knows no HTTP and no SQL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ruleset::{self, Defaults, Problem, RuleSet, Secrets};

/// The author's changes: a path inside the rule set and its new text, or `None` to
/// delete the file.
pub type Changes = BTreeMap<String, Option<String>>;

/// Most files a draft may change at once.
pub const MAX_CHANGED_FILES: usize = 200;

/// Whether `path` names a file a rule set may hold: a rule (`name.rhai`),
/// `ruleset.toml`, a lib module (`lib/name.rhai`), a data file (`data/name.json`,
/// `data/name.csv`) or a test (`tests/...json`). Names are letters, digits, `-`, `_`
/// and `.`; no `..`, no absolute path, no hidden file.
pub fn check_path(path: &str) -> Result<(), String> {
    let parts: Vec<&str> = path.split('/').collect();
    let plain = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && part.len() <= 128
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if parts.iter().any(|p| !plain(p)) {
        return Err(format!(
            "`{path}` is not a file of a rule set: names are letters, digits, `-`, `_` and `.`, separated by `/`"
        ));
    }
    let ok = match parts.as_slice() {
        ["ruleset.toml"] => true,
        [rule] => rule.ends_with(".rhai"),
        ["lib", module] => module.ends_with(".rhai"),
        ["data", file] => file.ends_with(".json") || file.ends_with(".csv"),
        ["tests", rest @ ..] => !rest.is_empty() && rest.len() <= 3 && path.ends_with(".json"),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{path}` is not a file of a rule set; a draft may change <rule>.rhai, ruleset.toml, lib/<name>.rhai, data/<name>.json or .csv, and tests/...json"
        ))
    }
}

/// A compiled draft and the private folder it was built in, which lives as long as the
/// draft: its tests (and what they name, `../../samples/...` included) are read there.
#[derive(Debug)]
pub struct Draft {
    pub set: RuleSet,
    /// `<temp>/<name>`: the draft's files; beside it, links to the rest of the live
    /// rules folder (`samples/`, the other rule sets), so tests find what they name.
    dir: PathBuf,
    _temp: tempfile::TempDir,
}

impl Draft {
    /// The draft's own folder (its `tests/` are run from here).
    pub fn folder(&self) -> &Path {
        &self.dir
    }
}

/// The live rule set in `live` (a rules folder's `<name>/`) with `changes` laid over
/// it, compiled. Errors are the draft's problems, with paths inside the rule set.
/// `api_keys` that cannot be read are warnings here (a draft checks no signature).
pub fn compile(live: &Path, changes: &Changes, defaults: &Defaults) -> Result<Draft, Vec<Problem>> {
    let name = live
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let fail = |message: String| vec![Problem::new(Path::new(""), message)];
    if changes.len() > MAX_CHANGED_FILES {
        return Err(fail(format!(
            "a draft changes at most {MAX_CHANGED_FILES} files at once; this one changes {}",
            changes.len()
        )));
    }
    for path in changes.keys() {
        check_path(path).map_err(fail)?;
    }
    let temp = tempfile::Builder::new()
        .prefix("lookout-draft-")
        .tempdir()
        .map_err(|e| fail(format!("cannot make a folder for the draft: {e}")))?;
    let dir = temp.path().join(&name);
    link_siblings(live, temp.path()).map_err(|e| {
        fail(format!(
            "cannot link the rules folder beside the draft: {e}"
        ))
    })?;
    copy_own_files(live, &dir, 0).map_err(|e| {
        fail(format!(
            "cannot copy the live rule set {} for the draft: {e}",
            live.display()
        ))
    })?;
    for (path, text) in changes {
        let target = dir.join(path);
        let written = match text {
            Some(text) => target
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&target, text)),
            None => match std::fs::remove_file(&target) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
        };
        written.map_err(|e| fail(format!("cannot write {path} into the draft: {e}")))?;
    }
    let defaults = Defaults {
        secrets: Secrets::Optional,
        ..defaults.clone()
    };
    let relative = |mut p: Problem| {
        p.path = p
            .path
            .strip_prefix(&dir)
            .map(Path::to_path_buf)
            .unwrap_or(p.path);
        p
    };
    let mut set = ruleset::load(&dir, &defaults)
        .map_err(|problems| problems.into_iter().map(relative).collect::<Vec<_>>())?;
    set.warnings = std::mem::take(&mut set.warnings)
        .into_iter()
        .map(relative)
        .collect();
    for rule in &mut set.rules {
        rule.path = rule
            .path
            .strip_prefix(&dir)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| rule.path.clone());
    }
    set.dir = live.to_path_buf();
    Ok(Draft {
        set,
        dir,
        _temp: temp,
    })
}

/// Links every entry of the live rules folder but the rule set itself into `root`, so
/// that paths a test names relative to itself (`../../samples/x.json`) resolve as they
/// do for the live rule set. Links only: nothing of the live folder is written.
fn link_siblings(live: &Path, root: &Path) -> std::io::Result<()> {
    let Some(rules) = live.parent() else {
        return Ok(());
    };
    let own = live.file_name();
    for entry in std::fs::read_dir(rules)? {
        let entry = entry?;
        if Some(entry.file_name().as_os_str()) == own {
            continue;
        }
        let target = std::fs::canonicalize(entry.path())?;
        std::os::unix::fs::symlink(target, root.join(entry.file_name()))?;
    }
    Ok(())
}

/// Largest file [`read_files`] gives back; bigger ones are listed as left out.
pub const MAX_LISTED_FILE_BYTES: u64 = 1 << 20;

/// A rule set's own files as they are on disk, by path inside the rule set (what
/// [`check_path`] accepts), for the workbench's editor; files that are not text or
/// are over [`MAX_LISTED_FILE_BYTES`] are named in the second list with why.
pub fn read_files(dir: &Path) -> std::io::Result<(BTreeMap<String, String>, Vec<String>)> {
    let mut files = BTreeMap::new();
    let mut left_out = Vec::new();
    let mut walk = vec![(dir.to_path_buf(), String::new(), 0usize)];
    while let Some((folder, prefix, depth)) = walk.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && depth > 0 => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = format!("{prefix}{name}");
            if kind.is_dir()
                && depth < 3
                && (depth > 0 || matches!(name.as_str(), "lib" | "data" | "tests"))
            {
                walk.push((entry.path(), format!("{path}/"), depth + 1));
                continue;
            }
            if !kind.is_file() || check_path(&path).is_err() {
                continue;
            }
            let size = entry.metadata()?.len();
            if size > MAX_LISTED_FILE_BYTES {
                left_out.push(format!(
                    "{path}: {size} bytes, over the editor's {MAX_LISTED_FILE_BYTES}"
                ));
                continue;
            }
            match String::from_utf8(std::fs::read(entry.path())?) {
                Ok(text) => {
                    files.insert(path, text);
                }
                Err(_) => left_out.push(format!("{path}: not UTF-8 text")),
            }
        }
    }
    left_out.sort();
    Ok((files, left_out))
}

/// Copies the regular files of `from` (and of its `lib`, `data` and `tests` folders,
/// three levels at most) to `to`; links and anything else are left out, as the loader
/// would refuse them.
fn copy_own_files(from: &Path, to: &Path, depth: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    let entries = match std::fs::read_dir(from) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && depth == 0 => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        let name = entry.file_name();
        let target: PathBuf = to.join(&name);
        if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        } else if kind.is_dir() && depth < 3 {
            let top = name.to_str().unwrap_or_default();
            if depth > 0 || matches!(top, "lib" | "data" | "tests") {
                copy_own_files(&entry.path(), &target, depth + 1)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_rule_sets_own_files_can_be_changed() {
        for ok in [
            "tce.rhai",
            "ruleset.toml",
            "lib/fuel.rhai",
            "data/desk.json",
            "data/ports.csv",
            "tests/low-tce.json",
            "tests/facts/port.json",
        ] {
            assert_eq!(check_path(ok), Ok(()), "{ok}");
        }
        for bad in [
            "../x.rhai",
            "/etc/passwd",
            "lib/../../x.rhai",
            ".hidden.rhai",
            "notes.txt",
            "lib/deep/x.rhai",
            "data/x.rhai",
            "tests",
            "a//b.rhai",
            "",
            "r ule.rhai",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_draft_lays_changes_over_the_live_files_and_leaves_them_alone() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("desk");
        std::fs::create_dir_all(live.join("data")).unwrap();
        std::fs::write(live.join("tce.rhai"), "warning(\"live\");\n").unwrap();
        std::fs::write(live.join("old.rhai"), "info(\"old\");\n").unwrap();
        std::fs::write(live.join("data/desk.json"), "{\"floor\": 1}").unwrap();
        let changes: Changes = [
            (
                "tce.rhai".to_string(),
                Some("warning(`draft ${data.desk.floor}`);\n".to_string()),
            ),
            ("old.rhai".to_string(), None),
            ("new.rhai".to_string(), Some("info(\"new\");\n".to_string())),
        ]
        .into_iter()
        .collect();
        let draft = compile(&live, &changes, &Defaults::default()).unwrap();
        let set = &draft.set;
        let ids: Vec<&str> = set.rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["new", "tce"]);
        assert_eq!(set.name, "desk");
        assert_eq!(set.rules[1].path, Path::new("tce.rhai"));
        // The live folder is as it was.
        assert_eq!(
            std::fs::read_to_string(live.join("tce.rhai")).unwrap(),
            "warning(\"live\");\n"
        );
        assert!(live.join("old.rhai").exists() && !live.join("new.rhai").exists());

        // A compile error names the file inside the rule set, its line and column.
        let broken: Changes = [("lib/fuel.rhai".to_string(), Some("fn f( {".to_string()))]
            .into_iter()
            .collect();
        let problems = compile(&live, &broken, &Defaults::default()).unwrap_err();
        assert_eq!(problems[0].path, Path::new("lib/fuel.rhai"), "{problems:?}");
        assert_eq!(problems[0].line, Some(1));

        let (files, left_out) = read_files(&live).unwrap();
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["data/desk.json", "old.rhai", "tce.rhai"]
        );
        assert_eq!(files["tce.rhai"], "warning(\"live\");\n");
        assert!(left_out.is_empty());

        let outside: Changes = [("../escape.rhai".to_string(), Some("x".to_string()))]
            .into_iter()
            .collect();
        let problems = compile(&live, &outside, &Defaults::default()).unwrap_err();
        assert!(
            problems[0].message.contains("is not a file of a rule set"),
            "{problems:?}"
        );
        assert!(!dir.path().join("escape.rhai").exists());
    }
}
