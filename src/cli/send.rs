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

/// Where the signed body may go. Both off unless asked for on the command line: the
/// body and its signature go to the URL given, over HTTPS, and nowhere else.
#[derive(Debug, Clone, Copy, Default)]
pub struct Transport {
    /// `--insecure-http`: an http:// URL is allowed (body and signature in clear text).
    pub insecure_http: bool,
    /// `--follow-redirects`: follow at most [`MAX_REDIRECTS`] redirects, each to the
    /// first URL's scheme, host and port only. Without it a 3xx is the answer.
    pub follow_redirects: bool,
}

/// How long the Estimator waits for an answer.
const ESTIMATOR_WAIT: Duration = Duration::from_secs(10);

/// The most redirects `--follow-redirects` follows.
pub const MAX_REDIRECTS: usize = 5;

pub fn run(args: SendArgs<'_>, transport: Transport) -> anyhow::Result<u8> {
    let url = url::Url::parse(args.url).map_err(|e| {
        anyhow!(
            "`{}` is not a URL ({e}); e.g. https://localhost:8443/hooks/default",
            args.url
        )
    })?;
    match url.scheme() {
        "https" => {}
        "http" if transport.insecure_http => {
            eprintln!("warning: --insecure-http: the body and its signature go in clear text");
        }
        "http" => {
            return Err(anyhow!(
                "`{url}` is plain http://: the body and its Veson-Webhook-Signature header \
                 would travel in clear text, for anyone on the path to read and replay. Use \
                 https:// (for `lookout serve`'s development certificate add --cacert \
                 certs/ca.pem), or pass --insecure-http to send in clear text anyway"
            ));
        }
        _ => {
            return Err(anyhow!(
                "`{url}`: only https:// URLs can be sent to (http:// with --insecure-http)"
            ));
        }
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
    // Never reqwest's default (up to 10 redirects, to any host, https to http included):
    // a 307 or 308 would take the body and its signature along.
    let redirects = if transport.follow_redirects {
        let origin = url.origin();
        reqwest::redirect::Policy::custom(move |attempt| {
            // `previous` starts with the first URL: more than MAX_REDIRECTS of them means
            // MAX_REDIRECTS redirects were followed. A stop makes this 3xx the answer.
            if attempt.url().origin() != origin || attempt.previous().len() > MAX_REDIRECTS {
                attempt.stop()
            } else {
                attempt.follow()
            }
        })
    } else {
        reqwest::redirect::Policy::none()
    };
    let mut client = reqwest::Client::builder()
        .timeout(args.timeout)
        .redirect(redirects)
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
    let (status, version, answered_by, response_headers, answer) = runtime
        .block_on(async {
            let response = request.send().await?;
            let status = response.status();
            let version = response.version();
            let answered_by = response.url().clone();
            let headers = response.headers().clone();
            let answer = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, version, answered_by, headers, answer))
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
    if answered_by != url {
        eprintln!("note: followed redirects; the answer is from {answered_by}");
    }
    if status.is_redirection() {
        eprintln!(
            "{}",
            redirect_note(status, &answered_by, &response_headers, transport)
        );
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

/// Why a 3xx answer was not followed, and what to do.
fn redirect_note(
    status: reqwest::StatusCode,
    answered_by: &url::Url,
    headers: &reqwest::header::HeaderMap,
    transport: Transport,
) -> String {
    let location = headers
        .get(reqwest::header::LOCATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let Some(location) = location else {
        return format!("note: the answer is {status} with no Location header");
    };
    let target = answered_by.join(&location).ok();
    if !transport.follow_redirects {
        return format!(
            "note: the server redirects to {location}; not followed, because the body and its \
             signature would go there too. Send to that URL yourself, or pass --follow-redirects \
             to follow redirects on the same scheme, host and port"
        );
    }
    match target {
        Some(target) if target.origin() == answered_by.origin() => format!(
            "note: the redirect to {location} was not followed: {MAX_REDIRECTS} redirects were \
             followed already"
        ),
        Some(target) => format!(
            "note: the redirect to {target} was not followed: --follow-redirects stays on {} \
             (same scheme, host and port; never https to http)",
            answered_by.origin().ascii_serialization()
        ),
        None => format!("note: the redirect to {location} was not followed: not a URL"),
    }
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
