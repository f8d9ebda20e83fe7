//! The `lookout` binary as an author and an operator run it, in one test binary:
//! `check`, `run`, `test`, `init`, `send`, `sign`, `certs`, `logs` and `replay`.

#[path = "../common/mod.rs"]
mod common;

mod commands;
mod send;
