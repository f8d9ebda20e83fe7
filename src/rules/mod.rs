//! Rules: rule sets on disk, the Rhai sandbox they run in, and their evaluation
//! under a deadline.
//!
//! Architecture invariant: this module knows nothing of HTTP, TLS or SQL. It maps an
//! estimate and a request context to alerts and a per-rule trace, under a deadline.

pub mod draft;
pub mod eval;
pub mod facts;
pub mod factsfile;
pub mod helpers;
pub mod input;
pub mod json;
pub mod registry;
pub mod reuse;
pub mod revision;
pub mod ruleset;
pub mod sandbox;
pub mod testfile;
pub mod testrun;

pub use eval::{evaluate, Evaluation, Outcome, Pool, RuleError, RuleRun};
pub use input::{parse_estimate, request_context, CallInput, EstimateError};
pub use registry::Registry;
pub use ruleset::{Defaults, Problem, Rule, RuleSet, Settings};

#[cfg(test)]
mod tests;
