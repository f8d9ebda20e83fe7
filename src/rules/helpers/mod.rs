//! Helpers for the desk's daily arithmetic, registered into every rule engine: safe
//! paths, dates, numbers, lists and text (the reference is in `rules/README.md`).
//!
//! A helper replaces a script loop (~60 ns per Rhai operation) with native code. Each one
//! checks the deadline and memory ceiling on entry and, when it walks a list, every 256
//! elements, and names itself and the argument when it gets the wrong type.
//!
//! The list helpers take a Rhai array or a JSON array (`estimate.estimateItineraries`,
//! `data.ports`); JSON is walked in place, without a handle or an allocation per element.
//! Elements whose path is missing or null are skipped, and a missing list is an empty one.
//! List helpers take the list by reference (`&mut Dynamic`, never written), so Rhai does
//! not copy an array variable to call them (it only re-measures a Rhai array afterwards,
//! as for any `&mut` argument: a walk without allocation).
//!
//! Dates are ISO 8601 text: with an offset (`2027-01-13T14:04:48+08:00`, `...Z`), without
//! one (read as UTC: the Estimator's local times compare correctly with each other), or
//! date-only (midnight UTC). Helpers that return a date write it in the form they were
//! given: an offset stays, no offset stays none, and a date-only value stays date-only
//! while the time is midnight.
//!
//! One file per category: `paths`, `dates`, `numbers`, `lists`, `text`; the argument
//! checks they share (and their error wording) in `args`.
//!
//! This module knows nothing of alerts or of the run beyond `sandbox::check_limits`.

mod args;
pub mod catalog;
mod dates;
mod lists;
mod numbers;
mod paths;
mod text;

use rhai::{Engine, EvalAltResult};

pub(crate) use args::date_micros;
pub use args::type_name;
use args::*;
pub use dates::parse_date;
use dates::*;
use lists::*;
pub use numbers::text_number;
use numbers::*;
pub use paths::get;
use paths::*;
use text::*;

pub(super) type Res<T> = Result<T, Box<EvalAltResult>>;

/// How often a list walk checks the deadline (a power of two less one, as a mask).
pub(super) const CHECK_EVERY: usize = 255;

pub fn register(engine: &mut Engine) {
    register_paths(engine);
    register_dates(engine);
    register_numbers(engine);
    register_lists(engine);
    register_text(engine);
}

#[cfg(test)]
mod tests;
