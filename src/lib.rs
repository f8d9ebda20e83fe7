//! lookout: a decision-webhook host for Veson IMOS voyage estimates.
//!
//! The flow of one webhook call, and where each step lives:
//! TLS ([`tls`]) → signature on the raw bytes ([`signature`]) → parse → evaluate rules
//! under the deadline ([`rules`]) → assemble alerts ([`alerts`]) → answer ([`http`]).
//! See ARCHITECTURE.md for the invariants.

pub mod acme;
pub mod alerts;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod events;
pub mod fleet;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod ids;
#[cfg(test)]
mod layers;
pub mod memory;
pub mod metrics;
pub mod nesting;
pub mod ocsp;
pub mod pointer;
pub mod replay;
pub mod rules;
pub mod secrets;
pub mod signature;
pub mod store;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod tls;
pub mod watch;

#[global_allocator]
static GLOBAL: memory::Counting<mimalloc::MiMalloc> = memory::Counting(mimalloc::MiMalloc);

/// Sets up log lines on stderr, human-readable or JSON; `RUST_LOG` filters them.
pub fn init_logging(format: config::LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        config::LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        config::LogFormat::Text => builder.try_init(),
    };
}
