//! What the workbench keeps: authors' drafts of rule sets, and every version published
//! from it (the audit log, and what a rollback goes back to). Files travel as one JSON
//! object (path inside the rule set → text; in a draft, `null` deletes a file), stored
//! as text by both backends.

use serde::{Deserialize, Serialize};

/// An author's draft: their changes to a rule set, never served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    pub id: String,
    pub ruleset: String,
    /// The user who made it; only they (and the admin) may change or delete it.
    pub owner: String,
    /// The live version the draft was made from (a publish from it is refused when the
    /// rule set has changed since).
    pub base_version: String,
    /// `{"<path>": "<text>" | null}`.
    pub files: serde_json::Value,
    /// µs since the epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

/// One publish (or rollback) of a rule set: who, when, why, and all its files after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Published {
    pub id: String,
    pub ruleset: String,
    /// The rule set's content hash after it (`X-Lookout-Rules-Version`).
    pub version: String,
    /// The version it replaced.
    pub previous_version: String,
    pub author: String,
    /// µs since the epoch.
    pub at: i64,
    pub message: String,
    /// `baseline`, `publish`, `rollback`, `folder` (a designated instance's rules
    /// folder) or `cli` (`lookout publish`).
    pub action: String,
    /// Every file of the rule set after it: `{"<path>": "<text>"}`.
    pub files: serde_json::Value,
    /// Its place in the order revisions were stored (given by the store; 0 before).
    #[serde(default)]
    pub seq: i64,
}
