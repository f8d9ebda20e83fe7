//! The server from the outside, in one test binary: the real server over real TLS on
//! loopback, a real SQLite file and a real PostgreSQL server. One binary, so the suite
//! links once; the viewer's browser test, the `kill -9` test and the thread-count test
//! keep their own binaries (`tests/viewer.rs`, `tests/crash.rs`, `tests/no_leak.rs`),
//! and the CLI's tests are `tests/cli/`.

#[path = "../common/mod.rs"]
mod common;

mod admin;
mod certs;
mod events;
mod fleet;
mod hardening;
mod log;
mod postgres;
mod webhook;
