//! `lookout send`: act as the Estimator. Sign a body, POST it, print what came back.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};

use super::local;
use crate::signature::{self, ApiKey, HEADER};

pub struct SendArgs<'a> {
    pub url: &'a str,
    pub file: &'a Path,
    pub key_env: Option<&'a str>,
    pub cacert: Option<&'a Path>,
    pub headers: &'a [String],
    pub timeout: Duration,
}

/// How long the Estimator waits for an answer.
const ESTIMATOR_WAIT: Duration = Duration::from_secs(10);

pub fn run(args: SendArgs<'_>) -> anyhow::Result<u8> {
    let url = url::Url::parse(args.url).map_err(|e| {
        anyhow!(
            "`{}` is not a URL ({e}); e.g. https://localhost:8443/hooks/default",
            args.url
        )
    })?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(anyhow!(
            "`{url}`: only https:// (and http://) URLs can be sent to"
        ));
    }
    let body =
        std::fs::read(args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let headers = args
        .headers
        .iter()
        .map(|h| local::parse_header(h))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let signature = match args.key_env {
        Some(var) => {
            let key = std::env::var(var).map_err(|_| {
                anyhow!(
                    "environment variable {var} is not set; export the rule set's API key in it"
                )
            })?;
            if key.is_empty() {
                return Err(anyhow!("environment variable {var} is empty"));
            }
            Some(signature::sign(&ApiKey::new(key), &body))
        }
        None => {
            eprintln!("note: no --key-env, so the call is unsigned (only rule sets without api_keys accept it)");
            None
        }
    };

    crate::tls::install_provider();
    let mut client = reqwest::Client::builder()
        .timeout(args.timeout)
        .user_agent(concat!("lookout-send/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = args.cacert {
        let pem = std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| anyhow!("{} is not a PEM certificate: {e}", ca.display()))?;
        client = client.tls_certs_only([cert]);
    }
    let client = client.build().context("cannot set up the HTTPS client")?;

    let mut request = client
        .post(url.clone())
        .header("content-type", "application/json")
        .body(body.clone());
    if let Some(sig) = &signature {
        request = request.header(HEADER, sig);
    }
    for (name, value) in &headers {
        request = request.header(name, value);
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let (status, version, response_headers, answer) = runtime
        .block_on(async {
            let response = request.send().await?;
            let status = response.status();
            let version = response.version();
            let headers = response.headers().clone();
            let answer = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, version, headers, answer))
        })
        .map_err(|e| explain(&url, args.cacert.is_some(), &e))?;
    let elapsed = started.elapsed();

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{version:?} {status}  ({:.1} ms, {} bytes sent{})",
        elapsed.as_secs_f64() * 1e3,
        body.len(),
        if signature.is_some() {
            ", signed"
        } else {
            ", unsigned"
        }
    )?;
    for (name, value) in &response_headers {
        writeln!(out, "{name}: {}", String::from_utf8_lossy(value.as_bytes()))?;
    }
    writeln!(out)?;
    match serde_json::from_slice::<serde_json::Value>(&answer) {
        Ok(json) => writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?,
        Err(_) => writeln!(out, "{}", String::from_utf8_lossy(&answer))?,
    }
    if elapsed > ESTIMATOR_WAIT {
        eprintln!(
            "warning: the answer took {:.1} s; the Estimator gives up after 10 s",
            elapsed.as_secs_f64()
        );
    }
    if answer.len() >= crate::alerts::MAX_RESPONSE_BYTES {
        eprintln!(
            "warning: the answer is {} bytes; the Estimator takes less than 1 MB",
            answer.len()
        );
    }
    Ok(if status.is_success() {
        super::OK
    } else {
        super::FOUND
    })
}

/// A transport error in words that say what to try.
fn explain(url: &url::Url, has_ca: bool, err: &reqwest::Error) -> anyhow::Error {
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        chain.push_str(&format!(": {e}"));
        source = e.source();
    }
    let hint = if chain.contains("certificate") || chain.contains("UnknownIssuer") {
        if has_ca {
            "the server's certificate is not signed by the --cacert given, or not for this host name"
        } else {
            "the server's certificate is not trusted; for a development certificate pass --cacert certs/ca.pem"
        }
    } else if err.is_timeout() {
        "no answer in time (--timeout); is the server stuck, or the address wrong?"
    } else if err.is_connect() {
        "nothing answered at that address; is `lookout serve` running, and on that port?"
    } else {
        "the call did not complete"
    };
    anyhow!("POST {url} failed{chain}\n{hint}")
}
