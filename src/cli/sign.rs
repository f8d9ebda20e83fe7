//! `lookout sign`: the `Veson-Webhook-Signature` value the Estimator would send.

use std::path::Path;

use anyhow::Context;

use crate::signature::{self, ApiKey};

pub fn run(key_env: &str, file: &Path) -> anyhow::Result<u8> {
    let key = std::env::var(key_env).with_context(|| {
        format!("environment variable {key_env} is not set; export the API key in it")
    })?;
    let body = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    println!("{}", signature::sign(&ApiKey::new(key), &body));
    Ok(super::OK)
}
