//! A revision's files (path inside the rule set → text, as the store keeps them)
//! written out as a rule set folder `ruleset::load` reads: the folder an instance of a
//! fleet serves from, swapped in whole, and a candidate's private temporary folder.
//!
//! This module knows no HTTP and no SQL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::draft;
use super::ruleset::{self, Defaults, Problem, RuleSet};

/// A rule set's files: path inside the rule set → text.
pub type Files = BTreeMap<String, String>;

/// Every file of the rule set folder `dir`, as a revision keeps them. Refused when a
/// file cannot be kept (not UTF-8 text, or over the workbench's size): a revision must
/// hold everything the folder loads, or another instance would serve something else.
pub fn files_of(dir: &Path) -> Result<Files, String> {
    let (files, left_out) =
        draft::read_files(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    if !left_out.is_empty() {
        return Err(format!(
            "{} cannot be kept in a revision: {}",
            dir.display(),
            left_out.join("; ")
        ));
    }
    Ok(files)
}

/// Writes `files` into a new folder in `staging`, then puts it at `target` in one
/// step: an exchange with the folder there (`renameat2(RENAME_EXCHANGE)`), whose old
/// contents are then removed, or a rename when there is none. A reader of `target`
/// sees the old rule set or the new one, never a mix. `staging` must be on the same
/// file system as `target`.
pub fn install(files: &Files, staging: &Path, target: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(staging)?;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let fresh = tempfile::Builder::new()
        .prefix("revision-")
        .tempdir_in(staging)?;
    write_all(files, fresh.path())?;
    if target.exists() {
        exchange(fresh.path(), target)?;
        // `fresh` now holds the old rule set; removed when dropped.
    } else {
        let path: PathBuf = fresh.keep();
        std::fs::rename(&path, target)?;
    }
    Ok(())
}

/// Compiles `files` as rule set `name` (in a private temporary folder, removed
/// before returning: a loaded rule set holds everything in memory).
pub fn compile(name: &str, files: &Files, defaults: &Defaults) -> Result<RuleSet, Vec<Problem>> {
    let fail = |message: String| vec![Problem::new(Path::new(""), message)];
    let temp = tempfile::Builder::new()
        .prefix("lookout-revision-")
        .tempdir()
        .map_err(|e| fail(format!("cannot make a folder for the revision: {e}")))?;
    let dir = temp.path().join(name);
    write_all(files, &dir).map_err(|e| fail(format!("cannot write the revision: {e}")))?;
    ruleset::load(&dir, defaults)
}

fn write_all(files: &Files, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (path, text) in files {
        draft::check_path(path)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, text)?;
    }
    Ok(())
}

fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c =
        |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: two NUL-terminated paths, relative to nothing (absolute or the cwd).
    let done = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> Files {
        pairs
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn a_revision_is_installed_whole_and_reads_back_as_itself() {
        let root = tempfile::tempdir().unwrap();
        let (staging, target) = (root.path().join(".staging"), root.path().join("desk"));
        let first = files(&[
            ("tce.rhai", "if true { warning(\"low\"); }"),
            ("data/floor.json", "{\"tce\": 9000}"),
            ("lib/fuel.rhai", "fn f() { 1 }"),
        ]);
        install(&first, &staging, &target).unwrap();
        assert_eq!(files_of(&target).unwrap(), first);
        let loaded = ruleset::load(&target, &Defaults::default()).unwrap();

        // The next one replaces every file: none of the first is left over.
        let second = files(&[("ports.rhai", "info(\"ports\");")]);
        install(&second, &staging, &target).unwrap();
        assert_eq!(files_of(&target).unwrap(), second);
        assert_eq!(
            std::fs::read_dir(&staging).unwrap().count(),
            0,
            "nothing left in staging"
        );
        let again = ruleset::load(&target, &Defaults::default()).unwrap();
        assert_ne!(loaded.version, again.version);

        // Compiled elsewhere, the same files are the same version.
        let compiled = compile("desk", &second, &Defaults::default()).unwrap();
        assert_eq!(compiled.version, again.version);

        // A path outside the rule set is refused, and nothing is swapped.
        let hostile = files(&[("../escape.rhai", "1")]);
        assert!(install(&hostile, &staging, &target).is_err());
        assert_eq!(files_of(&target).unwrap(), second);
        assert!(!root.path().join("escape.rhai").exists());
    }
}
