//! lookout: a decision-webhook host for Veson IMOS voyage estimates.
//!
//! The flow of one webhook call, and where each step lives:
//! TLS ([`tls`]) → signature on the raw bytes ([`signature`]) → parse → evaluate rules
//! under the deadline ([`rules`]) → assemble alerts ([`alerts`]) → answer ([`http`]).
//! See ARCHITECTURE.md for the invariants.

pub mod alerts;
pub mod memory;
pub mod rules;
pub mod signature;

#[global_allocator]
static GLOBAL: memory::Counting<mimalloc::MiMalloc> = memory::Counting(mimalloc::MiMalloc);
