//! A fleet: instances sharing one PostgreSQL serve one rule revision, and try
//! candidate revisions in the shadow of live calls.
//!
//! Where a revision comes from: a publish in the workbench, `lookout publish`, or the
//! one instance with `[fleet] publish_folder` (its rules folder's changes). Each is a
//! [`Published`] row, immutable, numbered in the order stored (`seq`); the newest of a
//! rule set is its current revision. Rolling back is publishing an earlier revision's
//! files again.
//!
//! How it reaches each instance: [`Fleet::follow`] runs one thread that waits for word
//! of a change (PostgreSQL's LISTEN/NOTIFY, sent in the publishing transaction) for at
//! most a second, then reads the store's mark (one number), and when it moved, the
//! current revisions: each one this instance does not serve yet is written out as a
//! folder under `<data>/fleet/rules/` and swapped in whole ([`revision::install`]), and
//! the registry reloads, keeping the last good version of a rule set whose revision
//! does not compile here. So a new revision is served within a second and a bit of its
//! publish even if the notification is lost. The same pass starts and stops candidates
//! ([`shadow`]), and every two seconds the instance reports what it serves
//! (`instances`), which the viewer shows.
//!
//! With `[fleet] rules = "folder"` (the default, and always with SQLite) the rules
//! folder is served as before; the thread still follows candidates.

pub mod shadow;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::config::FleetSettings;
use crate::rules::revision::{self, Files};
use crate::rules::{ruleset, Registry};
use crate::store::{Instance, Published, Store, StoreError};

/// How long the follower waits for word before reading the store's mark anyway.
pub const POLL: Duration = Duration::from_secs(1);
/// How often an instance reports what it serves.
pub const REPORT_EVERY: Duration = Duration::from_secs(2);
/// How often the follower reads the current revisions whether or not the mark moved.
pub const REREAD_EVERY: Duration = Duration::from_secs(30);

/// The folder a fleet instance serves from, under its data folder.
pub fn rules_root(data: &Path) -> PathBuf {
    data.join("fleet").join("rules")
}

fn staging(data: &Path) -> PathBuf {
    data.join("fleet").join("staging")
}

pub struct Fleet {
    store: Store,
    /// What this instance serves (with `rules_from_store`, loaded from [`rules_root`]).
    registry: Arc<Registry>,
    settings: FleetSettings,
    data: PathBuf,
    instance: String,
    started_at: i64,
    shadow: Arc<shadow::Shadow>,
    follow: Mutex<Followed>,
    /// Why this instance does not serve the current revisions (empty: it does).
    problems: ArcSwap<Vec<String>>,
    /// The store could not be read on the last pass (the revisions served may be old).
    unreachable: ArcSwap<Option<String>>,
    /// The current revisions as of the last pass (files left out), for handlers: read
    /// without the follower's lock, which a pass holds across the store and the disk.
    heads: ArcSwap<BTreeMap<String, Published>>,
    /// Rule sets whose current revision retired them: served by no instance.
    retired: ArcSwap<Vec<String>>,
}

#[derive(Default)]
struct Followed {
    /// The store's mark as of the last pass.
    mark: Option<i64>,
    /// Version written to the folder, per rule set.
    installed: BTreeMap<String, String>,
}

impl Fleet {
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        settings: FleetSettings,
        data: &Path,
        instance: &str,
        shadow: Arc<shadow::Shadow>,
    ) -> Fleet {
        Fleet {
            store,
            registry,
            settings,
            data: data.to_path_buf(),
            instance: instance.to_string(),
            started_at: crate::clock::now_micros(),
            shadow,
            follow: Mutex::new(Followed::default()),
            problems: ArcSwap::default(),
            unreachable: ArcSwap::default(),
            heads: ArcSwap::default(),
            retired: ArcSwap::default(),
        }
    }

    pub fn serves_store(&self) -> bool {
        self.settings.rules_from_store
    }

    pub fn shadow(&self) -> &Arc<shadow::Shadow> {
        &self.shadow
    }

    /// Why this instance does not serve the current revisions; `/readyz` fails on any.
    pub fn problems(&self) -> Vec<String> {
        self.problems.load().as_ref().clone()
    }

    /// The last pass could not read the store: the revisions served may be old.
    pub fn unreachable(&self) -> Option<String> {
        self.unreachable.load().as_ref().clone()
    }

    /// The rule sets retired from the fleet, as of the last pass.
    pub fn retired(&self) -> Vec<String> {
        self.retired.load().as_ref().clone()
    }

    /// The current revision of each rule set as of the last pass (files left out).
    pub fn heads(&self) -> BTreeMap<String, Published> {
        self.heads.load().as_ref().clone()
    }

    /// One pass: the current revisions and candidates read from the store when its
    /// mark moved (or `force`), installed and reloaded. Blocks (the store, the disk,
    /// compiling); one pass at a time.
    pub fn sync(&self, force: bool) -> Result<(), StoreError> {
        let mut followed = self.follow.lock().expect("fleet");
        let outcome = self.sync_locked(&mut followed, force);
        match &outcome {
            Ok(()) => self.unreachable.store(Arc::new(None)),
            Err(e) => {
                tracing::warn!("cannot read the fleet's revisions: {e}");
                self.unreachable.store(Arc::new(Some(e.to_string())))
            }
        }
        outcome
    }

    fn sync_locked(&self, followed: &mut Followed, force: bool) -> Result<(), StoreError> {
        let mark = self.store.revision_mark()?;
        if !force && followed.mark == Some(mark) {
            return Ok(());
        }
        let mut whole = true;
        if self.settings.rules_from_store {
            // A rule set whose newest revision retired it is served no more.
            let (retired, heads): (Vec<Published>, Vec<Published>) = self
                .store
                .revision_heads()?
                .into_iter()
                .partition(|h| h.action == RETIRE);
            // The store's current revisions are known before this instance serves them:
            // once it answers from a revision, /readyz names that revision as current.
            self.heads.store(Arc::new(
                heads
                    .iter()
                    .map(|h| {
                        (
                            h.ruleset.clone(),
                            Published {
                                files: serde_json::Value::Null,
                                ..h.clone()
                            },
                        )
                    })
                    .collect(),
            ));
            self.retired
                .store(Arc::new(retired.into_iter().map(|r| r.ruleset).collect()));
            whole = self.install(followed, &heads);
        }
        let candidates = self.store.candidates(None, true)?;
        self.shadow.follow(candidates, self.registry.defaults());
        // A revision that could not be written (a full disk, say) is tried again on the
        // next pass, not only when the store next changes.
        followed.mark = whole.then_some(mark);
        Ok(())
    }

    /// Writes out each current revision not served yet, reloads, and says what still
    /// differs from the current revisions; whether every revision could be written.
    fn install(&self, followed: &mut Followed, heads: &[Published]) -> bool {
        let root = rules_root(&self.data);
        let mut problems = Vec::new();
        let mut changed = false;
        let mut whole = true;
        for head in heads {
            let name = &head.ruleset;
            if !ruleset::valid_name(name) {
                problems.push(format!(
                    "revision {} names a rule set {:?} that cannot be served (not a name for /hooks/<name>)",
                    head.id,
                    name.chars().take(64).collect::<String>()
                ));
                continue;
            }
            if followed.installed.get(name) == Some(&head.version) {
                continue;
            }
            let written = serde_json::from_value::<Files>(head.files.clone())
                .map_err(|e| format!("its files do not read: {e}"))
                .and_then(|files| {
                    revision::install(&files, &staging(&self.data), &root.join(name))
                        .map_err(|e| format!("cannot write it to {}: {e}", root.display()))
                });
            match written {
                Ok(()) => {
                    followed
                        .installed
                        .insert(name.clone(), head.version.clone());
                    changed = true;
                }
                Err(e) => {
                    whole = false;
                    problems.push(format!(
                        "rule set `{name}`: revision {} ({}): {e}",
                        head.id, head.version
                    ))
                }
            }
        }
        // A rule set no revision names any more is not served (nor one left in the
        // folder by an earlier run).
        let named: std::collections::HashSet<&str> =
            heads.iter().map(|h| h.ruleset.as_str()).collect();
        let on_disk: Vec<String> = std::fs::read_dir(&root)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        for name in on_disk {
            if !named.contains(name.as_str()) {
                let _ = std::fs::remove_dir_all(root.join(&name));
                followed.installed.remove(&name);
                changed = true;
            }
        }
        if changed {
            for name in self.registry.reload() {
                if let Some(set) = self.registry.get(&name) {
                    tracing::info!(ruleset = %name, version = %set.version, "fleet: serving a new revision");
                }
            }
        }
        let registry_problems = self.registry.problems();
        for head in heads {
            let served = self.registry.get(&head.ruleset).map(|s| s.version.clone());
            if served.as_deref() == Some(head.version.as_str()) {
                continue;
            }
            let why = match registry_problems.get(&head.ruleset) {
                Some(found) => found
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
                None if served.is_some() => format!(
                    "its files load here as version {}: the revision was stored by a lookout that counts versions differently",
                    served.as_deref().unwrap_or_default()
                ),
                None => "it is not loaded".into(),
            };
            problems.push(format!(
                "rule set `{}`: cannot serve the current revision {} ({}, {} by {}){}: {why}",
                head.ruleset,
                head.version,
                head.id,
                head.action,
                head.author,
                match served {
                    Some(v) => format!("; still serving {v}"),
                    None => "; not serving it at all".into(),
                }
            ));
        }
        // Every rule set retired is a choice, not a fault: the instance stays ready (its
        // port event intake needs no rule set).
        if heads.is_empty() && self.retired.load().is_empty() {
            problems.push("no rule revision in the store yet: publish one (`lookout publish`, the workbench, or an instance with [fleet] publish_folder)".into());
        }
        for problem in &problems {
            tracing::error!("fleet: {problem}");
        }
        self.problems.store(Arc::new(problems));
        whole
    }

    /// Keeps what this instance serves in the store, for the viewer's list of instances.
    pub fn report(&self) -> Result<(), StoreError> {
        let serving: serde_json::Map<String, serde_json::Value> = self
            .registry
            .all()
            .iter()
            .map(|s| (s.name.clone(), serde_json::Value::String(s.version.clone())))
            .collect();
        self.store.report_instance(&Instance {
            name: self.instance.clone(),
            started_at: self.started_at,
            seen_at: crate::clock::now_micros(),
            serving: serving.into(),
            problems: self.problems(),
        })
    }

    /// Follows the store on a thread of its own until the fleet is dropped.
    pub fn follow(self: &Arc<Self>) -> std::io::Result<()> {
        let fleet = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("lookout-fleet".into())
            .spawn(move || {
                let mut reported = Instant::now() - REPORT_EVERY;
                let mut reread = Instant::now();
                loop {
                    let Some(this) = fleet.upgrade() else { return };
                    // The mark says when to read; a whole read now and then costs little
                    // and would mend whatever the mark could not say.
                    let whole = reread.elapsed() >= REREAD_EVERY;
                    if whole {
                        reread = Instant::now();
                    }
                    let _ = this.sync(whole);
                    if reported.elapsed() >= REPORT_EVERY {
                        if let Err(e) = this.report() {
                            tracing::debug!("fleet: cannot report this instance: {e}");
                        }
                        reported = Instant::now();
                    }
                    let store = this.store.clone();
                    drop(this);
                    if store.wait_for_revision(POLL).is_err() {
                        std::thread::sleep(POLL);
                    }
                }
            })?;
        Ok(())
    }
}

/// A revision to record: a rule set's files, who and why.
pub struct Revision<'a> {
    pub ruleset: &'a str,
    pub files: &'a Files,
    pub author: &'a str,
    pub message: &'a str,
    pub action: &'a str,
}

/// Records a revision. Its version is what its files compile to here, so the version
/// stored is the one every instance will load; `expected` (the version the publisher
/// checked, from its folder or draft) must be it, or nothing is stored: a folder that
/// changed meanwhile, or holds a file a revision cannot keep, would otherwise make every
/// instance load something else than what was checked. The previous version is the
/// current revision's, if any.
pub fn publish(
    store: &Store,
    revision: Revision<'_>,
    expected: Option<&str>,
    defaults: &ruleset::Defaults,
) -> Result<Published, String> {
    let Revision {
        ruleset,
        files,
        author,
        message,
        action,
    } = revision;
    let defaults = ruleset::Defaults {
        // A revision checks no signature where it is made; each instance reads its keys.
        secrets: ruleset::Secrets::Optional,
        ..defaults.clone()
    };
    let version = revision::compile(ruleset, files, &defaults)
        .map_err(|problems| {
            let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            format!(
                "`{ruleset}` does not compile as a revision: {}",
                list.join("; ")
            )
        })?
        .version;
    if let Some(expected) = expected.filter(|e| *e != version) {
        return Err(format!(
            "`{ruleset}`: its files as a revision are version {version}, not the {expected} that was checked (the folder changed meanwhile, or holds a file a revision cannot keep: names are letters, digits, `-`, `_` and `.`); nothing was published"
        ));
    }
    let previous = current(store, ruleset)
        .map_err(|e| e.to_string())?
        .map(|h| h.version)
        .unwrap_or_default();
    let record = Published {
        id: crate::ids::new_id().to_string(),
        ruleset: ruleset.to_string(),
        version,
        previous_version: previous,
        author: author.to_string(),
        at: crate::clock::now_micros(),
        message: message.to_string(),
        action: action.to_string(),
        files: serde_json::to_value(files).expect("strings are JSON"),
        seq: 0,
    };
    store.record_published(&record).map_err(|e| e.to_string())?;
    tracing::info!(ruleset, version = %record.version, author, action, "fleet: revision published");
    Ok(record)
}

/// The action of a revision that retires its rule set: no files, served by no instance
/// (`/hooks/<name>` is 404 everywhere) until a later revision publishes it again.
pub const RETIRE: &str = "retire";

/// A rule set's current revision, unless it has none or is retired.
fn current(store: &Store, ruleset: &str) -> Result<Option<Published>, StoreError> {
    Ok(store
        .revision_heads()?
        .into_iter()
        .find(|h| h.ruleset == ruleset && h.action != RETIRE))
}

/// Why a rule set was not retired.
#[derive(Debug, thiserror::Error)]
pub enum RetireError {
    #[error("`{0}` is not served by the fleet (no current revision: never published, or retired already); nothing was retired")]
    NotServed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Retires a rule set from the fleet: a revision without files that every instance
/// follows by no longer serving it; its running candidate, if any, ends as `retired`.
/// Refused when the rule set has no current revision (never published, or retired).
/// Like a publish, it is the last word: a publish stored at the same moment is retired
/// with it when the retire is stored after it.
pub fn retire(
    store: &Store,
    ruleset: &str,
    author: &str,
    message: &str,
) -> Result<Published, RetireError> {
    let Some(head) = current(store, ruleset)? else {
        return Err(RetireError::NotServed(ruleset.to_string()));
    };
    let record = Published {
        id: crate::ids::new_id().to_string(),
        ruleset: ruleset.to_string(),
        version: String::new(),
        previous_version: head.version,
        author: author.to_string(),
        at: crate::clock::now_micros(),
        message: message.to_string(),
        action: RETIRE.to_string(),
        files: serde_json::json!({}),
        seq: 0,
    };
    store.record_published(&record)?;
    for candidate in store.candidates(Some(ruleset), true)? {
        store.end_candidate(&candidate.id, "retired", crate::clock::now_micros())?;
    }
    tracing::info!(ruleset, was = %record.previous_version, author, "fleet: rule set retired");
    Ok(record)
}

/// The designated instance's publisher: each rule set of its rules folder that
/// compiles becomes a revision when its version is not the last one this folder
/// published (so a restart publishes nothing new, and a workbench publish stays
/// current until the folder changes).
pub struct FolderPublisher {
    store: Store,
    instance: String,
    fleet: Arc<Fleet>,
    last: Mutex<BTreeMap<String, String>>,
}

impl FolderPublisher {
    pub fn new(store: Store, instance: &str, fleet: Arc<Fleet>) -> FolderPublisher {
        FolderPublisher {
            store,
            instance: instance.to_string(),
            fleet,
            last: Mutex::new(BTreeMap::new()),
        }
    }

    /// Publishes the folder's rule sets that changed since this folder last published
    /// them (`names: None`: every one, as at start).
    pub fn publish(&self, folder: &Registry, names: Option<Vec<String>>) {
        let mut last = self.last.lock().expect("folder publisher");
        let sets: Vec<_> = match names {
            None => folder.all(),
            Some(names) => names.iter().filter_map(|n| folder.get(n)).collect(),
        };
        let mut published = false;
        for set in sets {
            if folder.is_stale(&set.name) {
                // Its files do not compile: the last good version is already published.
                continue;
            }
            let known = match last.get(&set.name) {
                Some(v) => Some(v.clone()),
                None => match self.store.published(&set.name) {
                    Ok(all) => all
                        .into_iter()
                        .find(|p| p.action == "folder")
                        .map(|p| p.version),
                    Err(e) => {
                        tracing::error!(ruleset = %set.name, "fleet: cannot read the revisions to publish the folder: {e}");
                        continue;
                    }
                },
            };
            if known.as_deref() == Some(set.version.as_str()) {
                last.insert(set.name.clone(), set.version.clone());
                continue;
            }
            let files = match revision::files_of(&set.dir) {
                Ok(files) => files,
                Err(e) => {
                    tracing::error!(ruleset = %set.name, "fleet: not published: {e}");
                    continue;
                }
            };
            match publish(
                &self.store,
                Revision {
                    ruleset: &set.name,
                    files: &files,
                    author: &format!("folder on {}", self.instance),
                    message: &format!("the rules folder changed ({})", set.dir.display()),
                    action: "folder",
                },
                Some(&set.version),
                folder.defaults(),
            ) {
                Ok(_) => {
                    last.insert(set.name.clone(), set.version.clone());
                    published = true;
                }
                Err(e) => {
                    tracing::error!(ruleset = %set.name, "fleet: cannot publish the folder: {e}")
                }
            }
        }
        drop(last);
        if published {
            let _ = self.fleet.sync(false);
        }
    }
}
