//! The rule sets being served, kept in step with the `rules/` folder.
//!
//! A change on disk (a new, edited or removed file) reloads the rule sets within
//! about a quarter of a second. A rule set whose files fail to compile keeps serving
//! its last good version; its problems are kept for `/readyz` and the logs until it
//! compiles again. Requests read the current version without locking.
//!
//! Authentication fails closed: a rule set whose `api_keys` cannot be read (an unset
//! variable, a missing file) stops serving, whatever version served before, because
//! that version would accept calls its current keys should refuse.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::RecursiveMode;

use crate::rules::ruleset::{self, Defaults, Problem, RuleSet};

pub struct Registry {
    root: PathBuf,
    defaults: Defaults,
    sets: ArcSwap<HashMap<String, Arc<RuleSet>>>,
    /// Current errors per rule set name (whether or not an older version still serves).
    problems: ArcSwap<BTreeMap<String, Vec<Problem>>>,
    reload_lock: std::sync::Mutex<()>,
}

impl Registry {
    /// Loads every rule set under `root`. Fails only when `root` cannot be read.
    pub fn load(root: &Path, defaults: Defaults) -> std::io::Result<Registry> {
        std::fs::read_dir(root)?;
        let registry = Registry {
            root: root.to_path_buf(),
            defaults,
            sets: ArcSwap::default(),
            problems: ArcSwap::default(),
            reload_lock: std::sync::Mutex::new(()),
        };
        registry.reload();
        Ok(registry)
    }

    /// The defaults every rule set here is loaded with (drafts too).
    pub fn defaults(&self) -> &Defaults {
        &self.defaults
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn get(&self, name: &str) -> Option<Arc<RuleSet>> {
        self.sets.load().get(name).cloned()
    }

    /// Every rule set being served, by name.
    pub fn all(&self) -> Vec<Arc<RuleSet>> {
        let mut sets: Vec<_> = self.sets.load().values().cloned().collect();
        sets.sort_by(|a, b| a.name.cmp(&b.name));
        sets
    }

    /// Whether `name`'s files on disk do not compile now (a rule set that serves is then
    /// serving its last good version).
    pub fn is_stale(&self, name: &str) -> bool {
        self.problems.load().contains_key(name)
    }

    /// Problems of rule sets that do not compile right now.
    pub fn problems(&self) -> BTreeMap<String, Vec<Problem>> {
        self.problems.load().as_ref().clone()
    }

    /// Re-reads the folder; returns the names of rule sets that changed.
    pub fn reload(&self) -> Vec<String> {
        let _guard = self.reload_lock.lock().expect("lock");
        let old = self.sets.load_full();
        let mut sets = HashMap::new();
        let mut problems = BTreeMap::new();
        let mut changed = Vec::new();
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&self.root)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        dirs.sort();
        for dir in dirs.into_iter().filter(|d| ruleset::is_ruleset_dir(d)) {
            let name = dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            let previous = old.get(&name);
            match ruleset::load(&dir, &self.defaults) {
                Ok(set) => {
                    if previous.map(|p| p.version != set.version).unwrap_or(true) {
                        changed.push(name.clone());
                        log_loaded(&set);
                    }
                    sets.insert(name, Arc::new(set));
                }
                Err(errors) => {
                    for problem in &errors {
                        tracing::error!(ruleset = %name, "{problem}");
                    }
                    let keys_unreadable = errors.iter().any(Problem::is_key);
                    match previous {
                        Some(previous) if keys_unreadable => {
                            tracing::error!(ruleset = %name, version = %previous.version, "the rule set's api_keys cannot be read; its calls get 503 until they can (its last good version is not served: it would accept calls the keys should refuse)");
                            changed.push(name.clone());
                        }
                        Some(previous) => {
                            tracing::error!(ruleset = %name, version = %previous.version, "rule set has errors; still serving its last good version");
                            sets.insert(name.clone(), previous.clone());
                        }
                        None => {
                            tracing::error!(ruleset = %name, "rule set has errors and no earlier version; calls to it get 503 until it compiles")
                        }
                    }
                    problems.insert(name, errors);
                }
            }
        }
        for name in old
            .keys()
            .filter(|n| !sets.contains_key(*n) && !problems.contains_key(*n))
        {
            tracing::info!(ruleset = %name, "rule set folder removed; no longer served");
            changed.push(name.clone());
        }
        self.sets.store(Arc::new(sets));
        self.problems.store(Arc::new(problems));
        changed
    }

    /// Watches the folder and reloads on change, until the returned watcher is dropped.
    pub fn watch(self: &Arc<Self>) -> notify::Result<notify::RecommendedWatcher> {
        self.watch_then(|_, _| {})
    }

    /// [`Registry::watch`], calling `then` with the names of the rule sets each reload
    /// changed (a fleet's folder publisher publishes them).
    pub fn watch_then(
        self: &Arc<Self>,
        then: impl Fn(&Registry, Vec<String>) + Send + 'static,
    ) -> notify::Result<notify::RecommendedWatcher> {
        let registry = Arc::downgrade(self);
        crate::watch::on_change(
            &self.root,
            RecursiveMode::Recursive,
            "lookout-rules-watch",
            Duration::from_millis(150),
            move || {
                let Some(registry) = registry.upgrade() else {
                    return false;
                };
                let changed = registry.reload();
                if !changed.is_empty() {
                    then(&registry, changed);
                }
                true
            },
        )
    }
}

fn log_loaded(set: &RuleSet) {
    tracing::info!(ruleset = %set.name, version = %set.version, rules = set.rules.len(), "rule set loaded");
    for warning in &set.warnings {
        tracing::warn!(ruleset = %set.name, "{warning}");
    }
    if set.settings.api_keys.is_empty() {
        tracing::warn!(
            ruleset = %set.name,
            "rule set `{}` has NO api_keys: it accepts UNSIGNED calls from anyone who can reach /hooks/{}; set api_keys = [\"env:VAR\"] in {}",
            set.name,
            set.name,
            set.dir.join("ruleset.toml").display()
        );
    }
}
