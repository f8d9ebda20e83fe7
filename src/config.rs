//! The server's configuration, parsed once into typed values.
//!
//! Precedence, lowest to highest: built-in defaults, `lookout.toml`, `LOOKOUT_*`
//! environment variables, command-line flags (clap handles the last two). Relative
//! paths in `lookout.toml` are taken from the folder the file is in.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::signature::ApiKey;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything `lookout serve` runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub rules: PathBuf,
    pub certs: PathBuf,
    pub data: PathBuf,
    pub log_format: LogFormat,
    /// Largest request body accepted (413 above).
    pub max_request_bytes: usize,
    /// Calls evaluated at once; more get 503 with Retry-After.
    pub max_concurrent_calls: usize,
    /// Threads that run rules.
    pub rule_threads: usize,
    /// Default time from arrival to answer; rule sets may set their own.
    pub budget: Duration,
    /// Default safety margin kept at the end of the budget.
    pub margin: Duration,
    /// Where the request/response log lives; `None`: `<data>/lookout.db`.
    pub store_url: Option<String>,
    /// The log's queue, batches and retention.
    pub recorder: RecorderSettings,
    /// SQLite only: the file's hard size limit (see `[store] max_file_mb`); on by
    /// default ([`default_max_file_bytes`]), so no caller can fill the disk.
    pub store_max_file_bytes: Option<u64>,
    /// This instance's name in the log (several instances may share a PostgreSQL
    /// store); default: host name and listen port.
    pub instance: Option<String>,
    /// The log viewer's admin token; `None`: `LOOKOUT_ADMIN_TOKEN`, else `<data>/admin-token`.
    pub admin_token: Option<crate::secrets::AdminToken>,
    /// Named users of the viewer and the workbench (`[[users]]`), each with a role.
    pub users: Vec<crate::secrets::UserAccount>,
    /// Port event intake (`[events]`).
    pub events: EventsSettings,
    /// Connections, heads and bodies (`[http]`).
    pub http: HttpLimits,
    /// A certificate obtained and renewed by ACME (`[tls.acme]`); `None`: the PEM files
    /// in `certs`.
    pub acme: Option<AcmeSettings>,
    /// Where the rules served come from, with several instances on one PostgreSQL
    /// (`[fleet]`).
    pub fleet: FleetSettings,
    /// Candidate revisions run beside the live one (`[shadow]`).
    pub shadow: ShadowSettings,
}

/// `[fleet]`: instances sharing one PostgreSQL serve one rule revision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetSettings {
    /// Serve the newest revision of each rule set in the store (`rules = "store"`)
    /// instead of the rules folder (`"folder"`, the default). PostgreSQL only.
    pub rules_from_store: bool,
    /// This instance publishes its rules folder: each version of a rule set that
    /// compiles there becomes a revision (one instance of a fleet does this, or none
    /// and `lookout publish` or the workbench publish).
    pub publish_folder: bool,
}

/// `[shadow]`: how much of this instance candidate revisions may use.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowSettings {
    /// Share of one core the candidates' runs may take, measured over the last second;
    /// past it, calls are not run again (counted as dropped).
    pub cpu_share: f64,
    /// Calls waiting for a candidate run, at most; past it, dropped and counted.
    pub queue: usize,
}

impl Default for ShadowSettings {
    fn default() -> Self {
        ShadowSettings {
            cpu_share: 0.25,
            queue: 256,
        }
    }
}

/// `[fleet]` in `lookout.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    /// `folder` (default) or `store`.
    pub rules: Option<String>,
    pub publish_folder: Option<bool>,
}

/// `[shadow]` in `lookout.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowFile {
    pub cpu_share: Option<f64>,
    pub queue: Option<usize>,
}

impl FleetSettings {
    /// `folder` or `store`.
    pub fn parse_rules(text: &str) -> Result<bool, String> {
        match text.trim() {
            "folder" => Ok(false),
            "store" => Ok(true),
            other => Err(format!(
                "[fleet] rules = {other:?}: say \"folder\" (serve the rules folder) or \"store\" (serve the revisions in the shared PostgreSQL store)"
            )),
        }
    }
}

/// What one client may hold of the HTTPS listener (`[http]` in `lookout.toml`). The
/// defaults are for a server on the internet; ARCHITECTURE.md says why each value.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Connections open at once; past it a new one is closed at once.
    pub max_connections: usize,
    /// Connections open at once from one address (0: no limit; behind a load
    /// balancer every connection comes from its address).
    pub max_connections_per_ip: usize,
    /// Time for a TLS handshake.
    pub handshake_timeout: Duration,
    /// Time for a request's head (HTTP/1: from the connection waiting for a request,
    /// keep-alive included; HTTP/2: the first request on a connection).
    pub header_timeout: Duration,
    /// Time for a request's whole body, from its head (408 past it).
    pub body_timeout: Duration,
    /// A connection with no byte in either direction this long is closed.
    pub idle_timeout: Duration,
    /// HTTP/2 streams open at once on one connection.
    pub max_streams: u32,
    /// Bytes of a request's head (HTTP/1) or header list (HTTP/2); 431 past it.
    pub max_header_bytes: usize,
    /// Bytes of request bodies being read at once, over all requests; a request that
    /// would pass it gets 503. Bounds what unfinished uploads can hold.
    pub upload_buffer_bytes: usize,
    /// `/metrics` without the admin token (its labels name rule sets and rules).
    pub public_metrics: bool,
    /// `Strict-Transport-Security: max-age` on the viewer's pages (`None`: not sent).
    pub hsts_max_age: Option<Duration>,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 1024,
            max_connections_per_ip: 128,
            handshake_timeout: Duration::from_secs(5),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_streams: 32,
            max_header_bytes: 64 << 10,
            upload_buffer_bytes: 128 << 20,
            public_metrics: false,
            hsts_max_age: Some(Duration::from_secs(365 * 86_400)),
        }
    }
}

/// `[http]` in `lookout.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFile {
    pub max_connections: Option<usize>,
    pub max_connections_per_ip: Option<usize>,
    pub handshake_timeout_ms: Option<u64>,
    pub header_timeout_ms: Option<u64>,
    pub body_timeout_ms: Option<u64>,
    pub idle_timeout_s: Option<u64>,
    pub max_streams_per_connection: Option<u32>,
    pub max_header_kb: Option<usize>,
    pub upload_buffer_mb: Option<usize>,
    pub public_metrics: Option<bool>,
    /// Days browsers are told to use only HTTPS for the viewer (0: no header).
    pub hsts_max_age_days: Option<u64>,
}

impl HttpFile {
    fn apply(self, h: &mut HttpLimits) {
        let ms = Duration::from_millis;
        h.max_connections = self.max_connections.unwrap_or(h.max_connections);
        h.max_connections_per_ip = self
            .max_connections_per_ip
            .unwrap_or(h.max_connections_per_ip);
        h.handshake_timeout = self
            .handshake_timeout_ms
            .map(ms)
            .unwrap_or(h.handshake_timeout);
        h.header_timeout = self.header_timeout_ms.map(ms).unwrap_or(h.header_timeout);
        h.body_timeout = self.body_timeout_ms.map(ms).unwrap_or(h.body_timeout);
        h.idle_timeout = self
            .idle_timeout_s
            .map(Duration::from_secs)
            .unwrap_or(h.idle_timeout);
        h.max_streams = self.max_streams_per_connection.unwrap_or(h.max_streams);
        h.max_header_bytes = self
            .max_header_kb
            .map(|kb| kb.saturating_mul(1024))
            .unwrap_or(h.max_header_bytes);
        h.public_metrics = self.public_metrics.unwrap_or(h.public_metrics);
        if let Some(days) = self.hsts_max_age_days {
            h.hsts_max_age = (days > 0).then(|| Duration::from_secs(days.saturating_mul(86_400)));
        }
        h.upload_buffer_bytes = self
            .upload_buffer_mb
            .map(|mb| mb.saturating_mul(1 << 20))
            .unwrap_or(h.upload_buffer_bytes);
    }

    /// Every limit in range; messages name the setting.
    fn check(h: &HttpLimits, budget: Duration, max_request_bytes: usize) -> Result<(), String> {
        if h.max_connections == 0 || h.max_streams == 0 {
            return Err(
                "[http] max_connections and max_streams_per_connection must be at least 1".into(),
            );
        }
        for (name, value) in [
            ("handshake_timeout_ms", h.handshake_timeout),
            ("header_timeout_ms", h.header_timeout),
            ("body_timeout_ms", h.body_timeout),
        ] {
            if value < Duration::from_millis(100) || value > Duration::from_secs(300) {
                return Err(format!(
                    "[http] {name} = {} is out of range; use 100 to 300000",
                    value.as_millis()
                ));
            }
        }
        if h.idle_timeout < budget + Duration::from_secs(1) {
            return Err(format!(
                "[http] idle_timeout_s = {} is too short: a call may take budget_ms ({} ms) without a byte on its connection; use at least {}",
                h.idle_timeout.as_secs(),
                budget.as_millis(),
                (budget + Duration::from_secs(1)).as_secs_f64().ceil()
            ));
        }
        if h.max_header_bytes < 8 << 10 || h.max_header_bytes > 1 << 20 {
            return Err(format!(
                "[http] max_header_kb = {} is out of range; use 8 to 1024",
                h.max_header_bytes >> 10
            ));
        }
        if h.upload_buffer_bytes < max_request_bytes {
            return Err(format!(
                "[http] upload_buffer_mb ({} MiB) must hold at least one body of max_request_bytes ({max_request_bytes} bytes)",
                h.upload_buffer_bytes >> 20
            ));
        }
        Ok(())
    }
}

impl Config {
    /// Takes the port event credentials from `LOOKOUT_OCTOPI_SECRET` and
    /// `LOOKOUT_PORTCONNECT_TOKEN` where `lookout.toml` gives none.
    pub fn event_credentials_from_env(&mut self) {
        use crate::signature::ApiKey;
        let from = |var: &str| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .map(ApiKey::new)
        };
        if self.events.octopi.secrets.is_empty() {
            self.events
                .octopi
                .secrets
                .extend(from("LOOKOUT_OCTOPI_SECRET"));
        }
        if self.events.portconnect_tokens.is_empty() {
            self.events
                .portconnect_tokens
                .extend(from("LOOKOUT_PORTCONNECT_TOKEN"));
        }
    }

    /// Where the log lives.
    pub fn store_location(&self) -> Result<Location, String> {
        match &self.store_url {
            Some(url) => Location::parse(url, Path::new(".")),
            None => Ok(Location::Sqlite(self.data.join("lookout.db"))),
        }
    }

    /// `port` is the port really listened on (the configured one may be 0).
    pub fn instance_name(&self, port: u16) -> String {
        if let Some(name) = &self.instance {
            return name.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "lookout".to_string());
        format!("{host}:{port}")
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "0.0.0.0:8443".parse().expect("valid address"),
            rules: "rules".into(),
            certs: "certs".into(),
            data: "data".into(),
            log_format: LogFormat::Text,
            max_request_bytes: 8 << 20,
            max_concurrent_calls: 64,
            rule_threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            budget: Duration::from_millis(10_000),
            margin: Duration::from_millis(1_500),
            store_url: None,
            recorder: RecorderSettings::default(),
            store_max_file_bytes: Some(default_max_file_bytes(&RecorderSettings::default())),
            instance: None,
            admin_token: None,
            acme: None,
            fleet: FleetSettings::default(),
            shadow: ShadowSettings::default(),
            users: Vec::new(),
            events: EventsSettings::default(),
            http: HttpLimits::default(),
        }
    }
}

/// The SQLite file's hard limit when `max_file_mb` is not set: room for what retention
/// keeps (calls and events) and a quarter more, and at least 16 GiB.
pub fn default_max_file_bytes(recorder: &RecorderSettings) -> u64 {
    let kept =
        recorder.retention.max_bytes.unwrap_or(0) + recorder.event_retention.max_bytes.unwrap_or(0);
    (kept + kept / 4).max(16 << 30)
}

/// `lookout.toml`, as written. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub listen: Option<SocketAddr>,
    pub rules: Option<PathBuf>,
    pub certs: Option<PathBuf>,
    pub data: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
    pub max_request_bytes: Option<usize>,
    pub max_concurrent_calls: Option<usize>,
    pub rule_threads: Option<usize>,
    pub budget_ms: Option<u64>,
    pub margin_ms: Option<u64>,
    pub instance: Option<String>,
    pub store: Option<StoreFile>,
    pub events: Option<EventsFile>,
    pub http: Option<HttpFile>,
    pub users: Option<Vec<UserFile>>,
    pub tls: Option<TlsFile>,
    pub fleet: Option<FleetFile>,
    pub shadow: Option<ShadowFile>,
}

/// `[tls]` in `lookout.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    pub acme: Option<AcmeFile>,
}

/// `[tls.acme]`: a certificate from an ACME directory (Let's Encrypt by default).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeFile {
    /// DNS names (or IP addresses, where the directory issues for them).
    pub domains: Option<Vec<String>>,
    /// `mailto:` addresses the directory may write to about the certificate.
    pub contact: Option<Vec<String>>,
    /// The directory's URL, or `letsencrypt` (default) or `letsencrypt-staging`.
    pub directory: Option<String>,
    /// PEM files of roots to trust for the directory itself (a private ACME server).
    pub ca_roots: Option<Vec<PathBuf>>,
    /// `tls-alpn-01` (default) or `http-01`.
    pub challenge: Option<String>,
    /// The plain-HTTP listener: http-01 challenges, and a redirect to HTTPS for the rest.
    pub http_listen: Option<SocketAddr>,
    /// Renew this many days before expiry, where the directory gives no renewal window.
    pub renew_before_days: Option<u64>,
}

/// One `[[users]]` entry: `name`, `role` (`viewer`, `author`, `publisher`) and `token`
/// (`env:VAR` or `file:PATH`; a literal works, with a warning).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserFile {
    pub name: String,
    pub role: String,
    pub token: String,
}

/// Reads `[[users]]`: names valid and distinct, tokens readable, long enough and distinct.
fn users(entries: Vec<UserFile>) -> Result<Vec<crate::secrets::UserAccount>, String> {
    let mut out: Vec<crate::secrets::UserAccount> = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let what = format!("[[users]] #{} ({})", i + 1, entry.name);
        let name = entry.name.trim();
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
        {
            return Err(format!(
                "{what}: a user name is 1 to 64 letters, digits, `.`, `-`, `_` or `@`"
            ));
        }
        if name.eq_ignore_ascii_case("admin") {
            return Err(format!(
                "{what}: `admin` is the admin token's name; choose another"
            ));
        }
        if out.iter().any(|u| u.name == name) {
            return Err(format!("{what}: the name `{name}` is used twice"));
        }
        let role =
            crate::secrets::Role::parse(entry.role.trim()).map_err(|e| format!("{what}: {e}"))?;
        let (token, literal) = crate::signature::resolve_key(&entry.token)
            .map_err(|e| format!("{what} token: {e}"))?;
        if literal {
            tracing::warn!("{what} has a literal token in lookout.toml; use \"env:VAR\" or \"file:/run/secrets/...\"");
        }
        let token = token.expose().trim().to_string();
        if token.chars().count() < 16 {
            return Err(format!(
                "{what}: the token is shorter than 16 characters; use a long random value (e.g. `openssl rand -base64 32`)"
            ));
        }
        if out.iter().any(|u| u.token.expose() == token) {
            return Err(format!(
                "{what}: the same token as another user; every user needs their own"
            ));
        }
        out.push(crate::secrets::UserAccount {
            name: name.to_string(),
            role,
            token: crate::secrets::AdminToken::new(token),
        });
    }
    Ok(out)
}

/// `[events]` in `lookout.toml`: port event intake.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsFile {
    /// Events received longer ago than this are removed (0: keep forever). Default 90.
    pub max_age_days: Option<u64>,
    /// The oldest events are removed while they take more (0: no limit). Default 1024.
    pub max_size_mb: Option<u64>,
    pub octopi: Option<OctopiFile>,
    pub portconnect: Option<PortConnectFile>,
}

/// `[events.octopi]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OctopiFile {
    /// `env:VAR`, `file:PATH` (or a literal, with a warning); several during a rotation.
    pub secrets: Option<Vec<String>>,
    /// `body`, `timestamp.body` or `timestamp+body`.
    pub signed: Option<String>,
    /// `any`, `hex` or `base64`.
    pub encoding: Option<String>,
    /// How far `X-Octopi-Timestamp` may be from now (0: not checked). Default 300.
    pub tolerance_s: Option<u64>,
    /// The terminal's port code, for events that carry none.
    pub port: Option<String>,
    pub fields: Option<OctopiFieldsFile>,
}

/// `[events.octopi.fields]`: JSON pointers to each fact, tried in order.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OctopiFieldsFile {
    pub container: Option<Vec<String>>,
    pub imo: Option<Vec<String>>,
    pub vessel_name: Option<Vec<String>>,
    pub port: Option<Vec<String>>,
    pub time: Option<Vec<String>>,
}

/// `[events.portconnect]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortConnectFile {
    /// `env:VAR`, `file:PATH` (or a literal, with a warning).
    pub tokens: Option<Vec<String>>,
}

/// Resolves `env:`/`file:`/literal credentials; a literal one is logged as a warning.
fn credentials(specs: &[String], what: &str) -> Result<Vec<crate::signature::ApiKey>, String> {
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let (key, literal) = crate::signature::resolve_key(spec)
                .map_err(|e| format!("{what}[{i}]: {e}"))?;
            if literal {
                tracing::warn!("{what}[{i}] is a literal secret in lookout.toml; use \"env:VAR\" or \"file:/run/secrets/...\"");
            }
            Ok(key)
        })
        .collect()
}

impl EventsFile {
    fn apply(self, config: &mut Config) -> Result<(), String> {
        let r = &mut config.recorder.event_retention;
        if let Some(days) = self.max_age_days {
            r.max_age = (days > 0).then(|| Duration::from_secs(days.saturating_mul(86_400)));
        }
        if let Some(mb) = self.max_size_mb {
            r.max_bytes = (mb > 0).then(|| mb.saturating_mul(1 << 20));
        }
        if let Some(o) = self.octopi {
            let s = &mut config.events.octopi;
            if let Some(specs) = o.secrets {
                s.secrets = credentials(&specs, "[events.octopi] secrets")?;
            }
            if let Some(signed) = o.signed {
                s.signed = Signed::parse(&signed)?;
            }
            if let Some(encoding) = o.encoding {
                s.encoding = Encoding::parse(&encoding)?;
            }
            if let Some(t) = o.tolerance_s {
                s.tolerance = Duration::from_secs(t);
            }
            s.port = o.port.or(s.port.take());
            if let Some(f) = o.fields {
                let lists = [
                    ("container", f.container, &mut s.fields.container),
                    ("imo", f.imo, &mut s.fields.imo),
                    ("vessel_name", f.vessel_name, &mut s.fields.vessel_name),
                    ("port", f.port, &mut s.fields.port),
                    ("time", f.time, &mut s.fields.time),
                ];
                for (name, given, target) in lists {
                    let Some(pointers) = given else { continue };
                    if let Some(bad) = pointers.iter().find(|p| !p.starts_with('/')) {
                        return Err(format!(
                            "[events.octopi.fields] {name}: \"{bad}\" is not a JSON pointer; write it like \"/container/number\""
                        ));
                    }
                    *target = pointers;
                }
            }
        }
        if let Some(p) = self.portconnect {
            if let Some(specs) = p.tokens {
                config.events.portconnect_tokens =
                    credentials(&specs, "[events.portconnect] tokens")?;
            }
        }
        Ok(())
    }
}

/// `[store]` in `lookout.toml`: the request/response log.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreFile {
    /// `sqlite:<path>` or `postgres://user:password@host/db`.
    pub url: Option<String>,
    /// Records older than this many days are removed (0: keep forever).
    pub max_age_days: Option<u64>,
    /// The oldest records are removed while the log is larger (0: no limit).
    pub max_size_mb: Option<u64>,
    /// Calls waiting to be written, at most; past it they are counted as dropped.
    pub queue_calls: Option<usize>,
    /// Bytes of bodies waiting to be written, at most.
    pub queue_mb: Option<usize>,
    /// How often retention runs.
    pub retention_every_s: Option<u64>,
    /// SQLite only: a hard limit on the file's size. Writes past it fail (counted as
    /// dropped, shown in /readyz and the viewer) until retention makes room; set
    /// max_size_mb below it.
    pub max_file_mb: Option<u64>,
    /// How new records' bodies are compressed: "lz4" (default), "zstd" or "none".
    pub compression: Option<String>,
    /// Refused calls (unsigned, unknown rule set ...) recorded per second, at most.
    pub refusals_per_second: Option<u32>,
    /// A signed call's answer waits this long at most for its record's write (0: never).
    pub answer_after_write_ms: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl File {
    pub fn read(path: &Path) -> Result<File, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let mut file: File = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.into(),
            message: e.to_string().trim().to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for dir in [&mut file.rules, &mut file.certs, &mut file.data]
            .into_iter()
            .flatten()
        {
            if dir.is_relative() {
                *dir = base.join(&*dir);
            }
        }
        Ok(file)
    }
}

impl Config {
    /// Defaults overridden by the file's values.
    pub fn from_file(file: File, path: &Path) -> Result<Config, ConfigError> {
        let d = Config::default();
        let invalid = |message: String| ConfigError::Invalid {
            path: path.into(),
            message,
        };
        let config = Config {
            listen: file.listen.unwrap_or(d.listen),
            rules: file.rules.unwrap_or(d.rules),
            certs: file.certs.unwrap_or(d.certs),
            data: file.data.unwrap_or(d.data),
            log_format: file.log_format.unwrap_or(d.log_format),
            max_request_bytes: file.max_request_bytes.unwrap_or(d.max_request_bytes),
            max_concurrent_calls: file.max_concurrent_calls.unwrap_or(d.max_concurrent_calls),
            rule_threads: file.rule_threads.unwrap_or(d.rule_threads),
            budget: file
                .budget_ms
                .map(Duration::from_millis)
                .unwrap_or(d.budget),
            margin: file
                .margin_ms
                .map(Duration::from_millis)
                .unwrap_or(d.margin),
            store_url: None,
            recorder: d.recorder.clone(),
            store_max_file_bytes: d.store_max_file_bytes,
            instance: file.instance,
            admin_token: None,
            users: Vec::new(),
            events: EventsSettings::default(),
            http: d.http.clone(),
            acme: None,
            fleet: FleetSettings::default(),
            shadow: ShadowSettings::default(),
        };
        let mut config = config;
        if let Some(fleet) = file.fleet {
            if let Some(rules) = &fleet.rules {
                config.fleet.rules_from_store =
                    FleetSettings::parse_rules(rules).map_err(invalid)?;
            }
            config.fleet.publish_folder = fleet.publish_folder.unwrap_or(false);
        }
        if let Some(shadow) = file.shadow {
            config.shadow.cpu_share = shadow.cpu_share.unwrap_or(config.shadow.cpu_share);
            config.shadow.queue = shadow.queue.unwrap_or(config.shadow.queue);
        }
        if let Some(acme) = file.tls.and_then(|t| t.acme) {
            let base = path.parent().unwrap_or(Path::new("."));
            config.acme = Some(AcmeSettings::from_file(acme, base).map_err(invalid)?);
        }
        if let Some(entries) = file.users {
            config.users = users(entries).map_err(invalid)?;
        }
        if let Some(http) = file.http {
            http.apply(&mut config.http);
        }
        if let Some(store) = file.store {
            let base = path.parent().unwrap_or(Path::new("."));
            if let Some(url) = store.url {
                // Relative SQLite paths are taken from the config file's folder.
                config.store_url = Some(match Location::parse(&url, base) {
                    Ok(Location::Sqlite(p)) => format!("sqlite:{}", p.display()),
                    Ok(Location::Postgres(_)) => url,
                    Err(e) => return Err(invalid(e)),
                });
            }
            let r = &mut config.recorder;
            if let Some(days) = store.max_age_days {
                r.retention.max_age =
                    (days > 0).then(|| Duration::from_secs(days.saturating_mul(86_400)));
            }
            if let Some(mb) = store.max_size_mb {
                r.retention.max_bytes = (mb > 0).then(|| mb.saturating_mul(1 << 20));
            }
            if let Some(n) = store.queue_calls {
                r.queue_calls = n;
            }
            if let Some(mb) = store.queue_mb {
                r.queue_bytes = mb.saturating_mul(1 << 20);
            }
            if let Some(s) = store.retention_every_s {
                r.retention_every = Duration::from_secs(s);
            }
            config.store_max_file_bytes = match store.max_file_mb {
                Some(mb) => (mb > 0).then(|| mb.saturating_mul(1 << 20)),
                None => Some(default_max_file_bytes(&config.recorder)),
            };
            if let Some(n) = store.refusals_per_second {
                config.recorder.refusals_per_second = n;
            }
            if let Some(ms) = store.answer_after_write_ms {
                config.recorder.answer_after_write = Duration::from_millis(ms);
            }
            if let Some(name) = &store.compression {
                config.recorder.compression = Compression::parse(name).map_err(invalid)?;
            }
        }
        if let Some(events) = file.events {
            events.apply(&mut config).map_err(invalid)?;
        }
        config.validate().map_err(invalid)?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.max_request_bytes < 1024 {
            return Err(format!(
                "max_request_bytes = {} is too small for any estimate; use at least 1024",
                self.max_request_bytes
            ));
        }
        if self.max_concurrent_calls == 0 || self.rule_threads == 0 {
            return Err("max_concurrent_calls and rule_threads must be at least 1".into());
        }
        if self.budget > Duration::from_secs(10) || self.budget < Duration::from_millis(50) {
            return Err(format!(
                "budget_ms = {} is out of range; the Estimator waits 10 s, so use 50 to 10000",
                self.budget.as_millis()
            ));
        }
        if self.recorder.queue_calls == 0 || self.recorder.queue_bytes < (1 << 20) {
            return Err("[store] queue_calls must be at least 1 and queue_mb at least 1".into());
        }
        if self.recorder.answer_after_write > self.margin {
            return Err(format!(
                "[store] answer_after_write_ms = {} is more than margin_ms = {}: the wait comes after the rules, inside the margin kept at the end of the budget",
                self.recorder.answer_after_write.as_millis(),
                self.margin.as_millis()
            ));
        }
        if self.recorder.retention_every < Duration::from_secs(1) {
            return Err("[store] retention_every_s must be at least 1".into());
        }
        let location = self.store_location()?;
        if self.fleet.rules_from_store && !matches!(location, Location::Postgres(_)) {
            return Err(format!(
                "[fleet] rules = \"store\" needs the shared PostgreSQL store ([store] url = \"postgres://...\"); the log is {location}, and with SQLite the rules folder is what is served"
            ));
        }
        if self.fleet.publish_folder && !self.fleet.rules_from_store {
            return Err("[fleet] publish_folder = true publishes the rules folder to the fleet: it needs [fleet] rules = \"store\" too".into());
        }
        if !(self.shadow.cpu_share > 0.0 && self.shadow.cpu_share <= 1.0) {
            return Err(format!(
                "[shadow] cpu_share = {} is out of range: a share of one core, above 0 and at most 1",
                self.shadow.cpu_share
            ));
        }
        if self.shadow.queue == 0 || self.shadow.queue > 100_000 {
            return Err(format!(
                "[shadow] queue = {} is out of range: 1 to 100000 calls",
                self.shadow.queue
            ));
        }
        if let Some(acme) = &self.acme {
            acme.check()?;
        }
        HttpFile::check(&self.http, self.budget, self.max_request_bytes)?;
        if self.margin >= self.budget {
            return Err(format!(
                "margin_ms = {} must be smaller than budget_ms = {}",
                self.margin.as_millis(),
                self.budget.as_millis()
            ));
        }
        Ok(())
    }
}

// ---- Settings the other modules run with, parsed here (config imports none of them).

/// Let's Encrypt's production directory, `[tls.acme]`'s default.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory (untrusted certificates, generous limits): for
/// trying a setup out.
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// How the directory checks that this server answers for its names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeChallenge {
    /// On the HTTPS listener (port 443 as the directory sees it).
    TlsAlpn01,
    /// On the plain-HTTP listener (port 80 as the directory sees it).
    Http01,
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n.saturating_mul(86_400))
}

/// A directory's URL, or Let's Encrypt's for `letsencrypt` (and nothing) and
/// `letsencrypt-staging`.
fn directory_url(given: Option<&str>) -> String {
    match given.map(str::trim) {
        None | Some("letsencrypt") => LETS_ENCRYPT.to_string(),
        Some("letsencrypt-staging") => LETS_ENCRYPT_STAGING.to_string(),
        Some(url) => url.to_string(),
    }
}

fn challenge(given: Option<&str>, what: &str) -> Result<AcmeChallenge, String> {
    match given.map(str::trim) {
        None | Some("tls-alpn-01") => Ok(AcmeChallenge::TlsAlpn01),
        Some("http-01") => Ok(AcmeChallenge::Http01),
        Some(other) => Err(format!(
            "{what} = \"{other}\" is not one lookout answers; use \"tls-alpn-01\" (on the HTTPS listener) or \"http-01\" (on http_listen)"
        )),
    }
}

/// `[tls.acme]` (and `LOOKOUT_ACME_*`), checked.
#[derive(Debug, Clone, PartialEq)]
pub struct AcmeSettings {
    pub domains: Vec<String>,
    pub contact: Vec<String>,
    pub directory: String,
    pub ca_roots: Vec<PathBuf>,
    pub challenge: AcmeChallenge,
    pub http_listen: Option<SocketAddr>,
    pub renew_before: Duration,
}

impl AcmeSettings {
    fn from_file(file: AcmeFile, base: &Path) -> Result<AcmeSettings, String> {
        let settings = AcmeSettings {
            domains: file.domains.unwrap_or_default(),
            contact: file.contact.unwrap_or_default(),
            directory: directory_url(file.directory.as_deref()),
            ca_roots: file
                .ca_roots
                .unwrap_or_default()
                .into_iter()
                .map(|p| if p.is_relative() { base.join(p) } else { p })
                .collect(),
            challenge: challenge(file.challenge.as_deref(), "[tls.acme] challenge")?,
            http_listen: file.http_listen,
            renew_before: days(file.renew_before_days.unwrap_or(30)),
        }
        .normalised();
        settings.check()?;
        Ok(settings)
    }

    fn normalised(mut self) -> AcmeSettings {
        self.domains = self
            .domains
            .iter()
            .map(|d| d.trim().to_ascii_lowercase())
            .collect();
        self
    }

    /// `[tls.acme]` with `LOOKOUT_ACME_*` laid over it (`get` reads a variable; `file`:
    /// what `lookout.toml` said, if anything). `LOOKOUT_ACME_DOMAINS` alone turns ACME on.
    pub fn from_env(
        file: Option<&AcmeSettings>,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<AcmeSettings>, String> {
        let list = |v: String| -> Vec<String> {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let domains = get("LOOKOUT_ACME_DOMAINS").map(list);
        let mut out = match (file, &domains) {
            (Some(file), _) => file.clone(),
            (None, Some(_)) => AcmeSettings {
                domains: Vec::new(),
                contact: Vec::new(),
                directory: directory_url(None),
                ca_roots: Vec::new(),
                challenge: AcmeChallenge::TlsAlpn01,
                http_listen: None,
                renew_before: days(30),
            },
            (None, None) => return Ok(None),
        };
        if let Some(domains) = domains {
            out.domains = domains;
        }
        if let Some(v) = get("LOOKOUT_ACME_CONTACT") {
            out.contact = list(v);
        }
        if let Some(v) = get("LOOKOUT_ACME_DIRECTORY") {
            out.directory = directory_url(Some(&v));
        }
        if let Some(v) = get("LOOKOUT_ACME_CHALLENGE") {
            out.challenge = challenge(Some(&v), "LOOKOUT_ACME_CHALLENGE")?;
        }
        if let Some(v) = get("LOOKOUT_ACME_CA_ROOTS") {
            out.ca_roots = list(v).into_iter().map(PathBuf::from).collect();
        }
        if let Some(v) = get("LOOKOUT_ACME_HTTP_LISTEN") {
            out.http_listen = Some(v.parse().map_err(|e| {
                format!(
                    "LOOKOUT_ACME_HTTP_LISTEN = {v:?} is not an address such as 0.0.0.0:80: {e}"
                )
            })?);
        }
        if let Some(v) = get("LOOKOUT_ACME_RENEW_BEFORE_DAYS") {
            out.renew_before = days(v.parse().map_err(|_| {
                format!("LOOKOUT_ACME_RENEW_BEFORE_DAYS = {v:?} is not a number of days")
            })?);
        }
        let out = out.normalised();
        out.check()?;
        Ok(Some(out))
    }

    /// What the directory could not work with, said before lookout starts.
    pub fn check(&self) -> Result<(), String> {
        if self.domains.is_empty() {
            return Err("[tls.acme] domains is empty: name the DNS names the certificate is for (LOOKOUT_ACME_DOMAINS=a.example,b.example)".into());
        }
        for name in &self.domains {
            let plain = name.parse::<std::net::IpAddr>().is_ok()
                || (name.len() <= 253
                    && name.contains('.')
                    && name.split('.').all(|label| {
                        !label.is_empty()
                            && label.len() <= 63
                            && !label.starts_with('-')
                            && !label.ends_with('-')
                            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    }))
                || name == "localhost";
            if !plain {
                return Err(format!(
                    "[tls.acme] domains: `{name}` is not a DNS name lookout can get a certificate for (letters, digits and `-` in dot-separated labels; no wildcards: tls-alpn-01 and http-01 cannot prove them)"
                ));
            }
        }
        for contact in &self.contact {
            if !contact.starts_with("mailto:") || contact.len() <= "mailto:".len() {
                return Err(format!(
                    "[tls.acme] contact: `{contact}` is not a mailto: address (contact = [\"mailto:ops@desk.example\"])"
                ));
            }
        }
        if !self.directory.starts_with("https://") {
            return Err(format!(
                "[tls.acme] directory = \"{}\" is not an https:// URL (or `letsencrypt`, `letsencrypt-staging`)",
                self.directory
            ));
        }
        if self.challenge == AcmeChallenge::Http01 && self.http_listen.is_none() {
            return Err("[tls.acme] challenge = \"http-01\" needs http_listen (the plain-HTTP listener the directory reaches on port 80), e.g. http_listen = \"0.0.0.0:80\"".into());
        }
        let days = self.renew_before.as_secs() / 86_400;
        if !(1..=60).contains(&days) {
            return Err(format!(
                "[tls.acme] renew_before_days = {days} is out of range; use 1 to 60 (Let's Encrypt's certificates last 90 days)"
            ));
        }
        Ok(())
    }
}

/// The log's queue, batches, retention and compression (`[store]`, `[events]`).
#[derive(Debug, Clone)]
pub struct RecorderSettings {
    /// Calls waiting to be written, at most.
    pub queue_calls: usize,
    /// Bytes of bodies waiting to be written, at most.
    pub queue_bytes: usize,
    /// Calls written per transaction, at most.
    pub batch: usize,
    pub retention: Retention,
    /// Retention of port events (`[events] max_age_days`, `max_size_mb`).
    pub event_retention: Retention,
    /// How often retention runs.
    pub retention_every: Duration,
    /// Write attempts per batch before it is dropped (and counted).
    pub attempts: u32,
    /// How bodies and traces are compressed.
    pub compression: Compression,
    /// Refused calls recorded per second, at most (bursts of ten seconds' worth);
    /// past it they are counted, not recorded, so no caller can fill the log.
    pub refusals_per_second: u32,
    /// A signed call's answer waits this long at most for its record to be written
    /// (0, the default: it never waits). In a fleet, where an instance may be killed at
    /// any moment, this makes every answered call a recorded one; a write slower than
    /// this is answered anyway and counted.
    pub answer_after_write: Duration,
}

impl Default for RecorderSettings {
    fn default() -> Self {
        RecorderSettings {
            queue_calls: 4096,
            queue_bytes: 128 << 20,
            batch: 256,
            retention: Retention {
                max_age: Some(Duration::from_secs(30 * 24 * 3600)),
                max_bytes: Some(10 << 30),
            },
            event_retention: Retention {
                max_age: Some(Duration::from_secs(90 * 24 * 3600)),
                max_bytes: Some(1 << 30),
            },
            retention_every: Duration::from_secs(600),
            attempts: 3,
            compression: Compression::default(),
            refusals_per_second: 10,
            answer_after_write: Duration::ZERO,
        }
    }
}
/// Retention: records older than `max_age` go, then the oldest until the stored
/// bytes are under `max_bytes`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retention {
    pub max_age: Option<Duration>,
    pub max_bytes: Option<u64>,
}
/// How new records' bodies are compressed (`[store] compression`). Records keep the
/// encoding they were written with, so changing it never makes old ones unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Fast (about 60 µs for a 100 KB estimate on the benchmark machine), about 4:1.
    #[default]
    Lz4,
    /// About twice as slow to write and five times as slow to search, about 7:1.
    Zstd,
    None,
}

impl Compression {
    pub fn parse(text: &str) -> Result<Compression, String> {
        match text {
            "lz4" => Ok(Compression::Lz4),
            "zstd" => Ok(Compression::Zstd),
            "none" => Ok(Compression::None),
            other => Err(format!(
                "[store] compression = \"{other}\" is not known; use \"lz4\" (the default), \"zstd\" or \"none\""
            )),
        }
    }
}
/// Where the log lives: `sqlite:<path>` (or a bare path) or `postgres://...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Location {
    pub fn parse(url: &str, base: &std::path::Path) -> Result<Location, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres(url.to_string()));
        }
        let path = url.strip_prefix("sqlite:").unwrap_or(url);
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() || url.contains("://") && !url.starts_with("sqlite:") {
            return Err(format!(
                "store url `{url}` is neither a SQLite file nor a PostgreSQL URL; write `sqlite:data/lookout.db` or `postgres://user@host/db`"
            ));
        }
        let path = std::path::PathBuf::from(path);
        Ok(Location::Sqlite(if path.is_relative() {
            base.join(path)
        } else {
            path
        }))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "sqlite {}", path.display()),
            Location::Postgres(url) => f.write_str(&crate::secrets::without_password(url)),
        }
    }
}
/// `[events]`: intake settings per source.
#[derive(Debug, Clone, Default)]
pub struct EventsSettings {
    pub octopi: OctopiSettings,
    /// PortConnect's `X-WebhookToken` values (one per subscription, or two during a
    /// change). None: the endpoint is off (404).
    pub portconnect_tokens: Vec<ApiKey>,
}
/// What the HMAC covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed {
    /// The body's bytes.
    Body,
    /// `X-Octopi-Timestamp`, a dot, then the body.
    TimestampDotBody,
    /// `X-Octopi-Timestamp` then the body, nothing between.
    TimestampBody,
}

impl Signed {
    pub fn parse(text: &str) -> Result<Signed, String> {
        match text {
            "body" => Ok(Signed::Body),
            "timestamp.body" => Ok(Signed::TimestampDotBody),
            "timestamp+body" => Ok(Signed::TimestampBody),
            other => Err(format!(
                "[events.octopi] signed = \"{other}\" is not known; use \"body\" (the default), \"timestamp.body\" (timestamp, a dot, the body) or \"timestamp+body\" (timestamp then body)"
            )),
        }
    }
}

/// How the digest in `X-Octopi-Signature` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Hex,
    Base64,
    /// Either (hex in any case; base64 standard or URL-safe, padded or not).
    Any,
}

impl Encoding {
    pub fn parse(text: &str) -> Result<Encoding, String> {
        match text {
            "hex" => Ok(Encoding::Hex),
            "base64" => Ok(Encoding::Base64),
            "any" => Ok(Encoding::Any),
            other => Err(format!(
                "[events.octopi] encoding = \"{other}\" is not known; use \"any\" (the default: hex or base64), \"hex\" or \"base64\""
            )),
        }
    }
}

/// Where a delivery's facts are found: JSON pointers, tried in order, at the top level
/// of the body and under `/payload`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fields {
    pub container: Vec<String>,
    pub imo: Vec<String>,
    pub vessel_name: Vec<String>,
    pub port: Vec<String>,
    pub time: Vec<String>,
}

impl Default for Fields {
    fn default() -> Self {
        let list = |p: &[&str]| p.iter().map(|s| s.to_string()).collect();
        Fields {
            container: list(&[
                "/container/number",
                "/container_number",
                "/cargo/container/number",
                "/unit/number",
            ]),
            imo: list(&[
                "/vessel/imo_number",
                "/vessel/imo",
                "/voyage/vessel/imo_number",
                "/voyage/vessel/imo",
                "/imo_number",
            ]),
            vessel_name: list(&["/vessel/name", "/voyage/vessel/name", "/vessel_name"]),
            port: list(&["/terminal/locode", "/port/locode", "/locode"]),
            time: list(&["/occurred_at", "/created_at", "/timestamp"]),
        }
    }
}

/// `[events.octopi]`.
#[derive(Debug, Clone)]
pub struct OctopiSettings {
    /// Shared secrets; several during a rotation. None: the endpoint is off (404).
    pub secrets: Vec<ApiKey>,
    pub signed: Signed,
    pub encoding: Encoding,
    /// How far `X-Octopi-Timestamp` may be from now, either way. Zero: not checked.
    pub tolerance: Duration,
    /// The terminal's port code, for deliveries that do not carry one.
    pub port: Option<String>,
    pub fields: Fields,
}

impl Default for OctopiSettings {
    fn default() -> Self {
        OctopiSettings {
            secrets: Vec::new(),
            signed: Signed::Body,
            encoding: Encoding::Any,
            tolerance: Duration::from_secs(300),
            port: None,
            fields: Fields::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_are_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lookout.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9443\"\nrules = \"my-rules\"\nbudget_ms = 5000\n",
        )
        .unwrap();
        let config = Config::from_file(File::read(&path).unwrap(), &path).unwrap();
        assert_eq!(config.listen.port(), 9443);
        assert_eq!(config.rules, dir.path().join("my-rules"));
        assert_eq!(config.certs, PathBuf::from("certs"));
        assert_eq!(config.budget, Duration::from_secs(5));
    }

    #[test]
    fn the_shipped_example_is_valid_and_says_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("lookout.toml.example");
        let config = Config::from_file(File::read(&path).unwrap(), &path).unwrap();
        let d = Config::default();
        assert_eq!(
            (
                config.listen,
                config.max_request_bytes,
                config.max_concurrent_calls
            ),
            (d.listen, d.max_request_bytes, d.max_concurrent_calls)
        );
        assert_eq!(
            (config.budget, config.margin, config.log_format),
            (d.budget, d.margin, d.log_format)
        );
        let (r, dr) = (&config.recorder, &d.recorder);
        assert_eq!(r.retention, dr.retention);
        assert_eq!(
            (
                r.queue_calls,
                r.queue_bytes,
                r.retention_every,
                r.compression
            ),
            (
                dr.queue_calls,
                dr.queue_bytes,
                dr.retention_every,
                dr.compression
            )
        );
        assert_eq!(
            (config.store_url, config.store_max_file_bytes),
            (None, Some(16 << 30))
        );
        assert_eq!(r.event_retention, dr.event_retention);
        assert_eq!(r.refusals_per_second, dr.refusals_per_second);
        assert_eq!(r.answer_after_write, dr.answer_after_write);
        assert_eq!((&config.fleet, &config.shadow), (&d.fleet, &d.shadow));
        assert_eq!(format!("{:?}", config.http), format!("{:?}", d.http));
        let (o, d_o) = (&config.events.octopi, &d.events.octopi);
        assert_eq!(
            (o.signed, o.encoding, o.tolerance, &o.port, &o.fields),
            (
                d_o.signed,
                d_o.encoding,
                d_o.tolerance,
                &d_o.port,
                &d_o.fields
            )
        );
        assert!(o.secrets.is_empty() && config.events.portconnect_tokens.is_empty());
    }

    #[test]
    fn fleet_shadow_and_answer_after_write_settings_at_their_edges() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lookout.toml");
        let read = |text: &str| {
            std::fs::write(&path, text).unwrap();
            File::read(&path)
                .and_then(|file| Config::from_file(file, &path))
                .map_err(|e| e.to_string())
        };
        let pg = "[store]\nurl = \"postgres://u@127.0.0.1/db\"\n";
        let c = read(&format!(
            "{pg}[fleet]\nrules = \"store\"\npublish_folder = true\n"
        ))
        .unwrap();
        assert!(c.fleet.rules_from_store && c.fleet.publish_folder);
        let c = read("[fleet]\nrules = \"folder\"\n").unwrap();
        assert_eq!(c.fleet, FleetSettings::default());
        for (text, says) in [
            (
                "[fleet]\nrules = \"store\"\n",
                "needs the shared PostgreSQL store",
            ),
            ("[fleet]\nrules = \"disk\"\n", "say \"folder\""),
            (
                "[fleet]\npublish_folder = true\n",
                "needs [fleet] rules = \"store\" too",
            ),
            ("[fleet]\nrulez = \"store\"\n", "unknown field"),
            (
                "[shadow]\ncpu_share = 0.0\n",
                "cpu_share = 0 is out of range",
            ),
            ("[shadow]\ncpu_share = 1.01\n", "out of range"),
            ("[shadow]\nqueue = 0\n", "queue = 0 is out of range"),
            ("[shadow]\nqueue = 100001\n", "out of range"),
            (
                "margin_ms = 1500\n[store]\nanswer_after_write_ms = 1501\n",
                "answer_after_write_ms = 1501 is more than margin_ms = 1500",
            ),
        ] {
            let error = read(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
        let c = read("[shadow]\ncpu_share = 1.0\nqueue = 100000\n").unwrap();
        assert_eq!((c.shadow.cpu_share, c.shadow.queue), (1.0, 100_000));
        let c = read("margin_ms = 1500\n[store]\nanswer_after_write_ms = 1500\n").unwrap();
        assert_eq!(c.recorder.answer_after_write, Duration::from_millis(1500));
    }

    #[test]
    fn acme_settings_from_the_file_and_the_environment_and_their_mistakes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lookout.toml");
        let read = |text: &str| {
            std::fs::write(&path, text).unwrap();
            File::read(&path)
                .and_then(|file| Config::from_file(file, &path))
                .map(|c| c.acme)
        };
        assert_eq!(read("").unwrap(), None);
        let acme = read(
            "[tls.acme]\ndomains = [\"Lookout.Desk.Example\"]\ncontact = [\"mailto:ops@desk.example\"]\nca_roots = [\"roots.pem\"]\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(acme.domains, ["lookout.desk.example"]);
        assert_eq!(acme.directory, LETS_ENCRYPT);
        assert_eq!(acme.challenge, AcmeChallenge::TlsAlpn01);
        assert_eq!(acme.ca_roots, [dir.path().join("roots.pem")]);
        assert_eq!(acme.renew_before, Duration::from_secs(30 * 86_400));
        let staging = read("[tls.acme]\ndomains = [\"a.example\"]\ndirectory = \"letsencrypt-staging\"\nchallenge = \"http-01\"\nhttp_listen = \"0.0.0.0:80\"\nrenew_before_days = 60\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                staging.directory.as_str(),
                staging.challenge,
                staging.http_listen
            ),
            (
                LETS_ENCRYPT_STAGING,
                AcmeChallenge::Http01,
                Some("0.0.0.0:80".parse().unwrap())
            )
        );
        for (text, says) in [
            ("[tls.acme]\n", "domains is empty"),
            (
                "[tls.acme]\ndomains = [\"*.desk.example\"]\n",
                "no wildcards",
            ),
            (
                "[tls.acme]\ndomains = [\"desk example\"]\n",
                "is not a DNS name",
            ),
            (
                "[tls.acme]\ndomains = [\"a.example\"]\ncontact = [\"ops@desk.example\"]\n",
                "not a mailto: address",
            ),
            (
                "[tls.acme]\ndomains = [\"a.example\"]\ndirectory = \"http://acme.example/dir\"\n",
                "not an https:// URL",
            ),
            (
                "[tls.acme]\ndomains = [\"a.example\"]\nchallenge = \"dns-01\"\n",
                "is not one lookout answers",
            ),
            (
                "[tls.acme]\ndomains = [\"a.example\"]\nchallenge = \"http-01\"\n",
                "needs http_listen",
            ),
            (
                "[tls.acme]\ndomains = [\"a.example\"]\nrenew_before_days = 0\n",
                "use 1 to 60",
            ),
            (
                "[tls.acme]\ndomains = [\"a.example\"]\nrenew_before_days = 61\n",
                "use 1 to 60",
            ),
            (
                "[tls.acme]\ndomain = [\"a.example\"]\n",
                "unknown field `domain`",
            ),
        ] {
            let err = read(text).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
        // The edges of renew_before_days are accepted.
        for days in [1, 60] {
            read(&format!(
                "[tls.acme]\ndomains = [\"a.example\"]\nrenew_before_days = {days}\n"
            ))
            .unwrap();
        }

        // The environment: LOOKOUT_ACME_DOMAINS alone turns ACME on; the rest overrides.
        let env = |vars: &[(&str, &str)]| {
            let vars: std::collections::HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            move |name: &str| vars.get(name).cloned()
        };
        assert_eq!(AcmeSettings::from_env(None, env(&[])).unwrap(), None);
        let on = AcmeSettings::from_env(
            None,
            env(&[
                ("LOOKOUT_ACME_DOMAINS", "a.example, B.example"),
                ("LOOKOUT_ACME_CONTACT", "mailto:ops@a.example"),
                ("LOOKOUT_ACME_DIRECTORY", "letsencrypt-staging"),
                ("LOOKOUT_ACME_RENEW_BEFORE_DAYS", "20"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(on.domains, ["a.example", "b.example"]);
        assert_eq!(on.directory, LETS_ENCRYPT_STAGING);
        assert_eq!(on.renew_before, Duration::from_secs(20 * 86_400));
        let over = AcmeSettings::from_env(
            Some(&acme),
            env(&[
                ("LOOKOUT_ACME_CHALLENGE", "http-01"),
                ("LOOKOUT_ACME_HTTP_LISTEN", "127.0.0.1:8080"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (over.domains.clone(), over.challenge),
            (acme.domains.clone(), AcmeChallenge::Http01)
        );
        for (vars, says) in [
            (
                vec![
                    ("LOOKOUT_ACME_DOMAINS", "a.example"),
                    ("LOOKOUT_ACME_CHALLENGE", "dns-01"),
                ],
                "LOOKOUT_ACME_CHALLENGE = \"dns-01\"",
            ),
            (
                vec![
                    ("LOOKOUT_ACME_DOMAINS", "a.example"),
                    ("LOOKOUT_ACME_HTTP_LISTEN", "80"),
                ],
                "LOOKOUT_ACME_HTTP_LISTEN",
            ),
            (
                vec![
                    ("LOOKOUT_ACME_DOMAINS", "a.example"),
                    ("LOOKOUT_ACME_RENEW_BEFORE_DAYS", "soon"),
                ],
                "not a number of days",
            ),
            (vec![("LOOKOUT_ACME_DOMAINS", " , ")], "domains is empty"),
        ] {
            let err = AcmeSettings::from_env(None, env(&vars)).unwrap_err();
            assert!(err.contains(says), "{vars:?}: {err}");
        }
    }

    #[test]
    fn event_settings_and_their_mistakes() {
        use super::{Encoding, Signed};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lookout.toml");
        let secret = dir.path().join("octopi-secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let read = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Config::from_file(File::read(&path).map_err(|e| e.to_string())?, &path)
                .map_err(|e| e.to_string())
        };
        let config = read(&format!(
            "[events]\nmax_age_days = 7\n[events.octopi]\nsecrets = [\"file:{}\"]\nsigned = \"timestamp.body\"\nencoding = \"base64\"\ntolerance_s = 60\nport = \"USSAV\"\n[events.octopi.fields]\ncontainer = [\"/unit/id\"]\n[events.portconnect]\ntokens = [\"literal-token\"]\n",
            secret.display()
        ))
        .unwrap();
        let o = &config.events.octopi;
        assert_eq!(o.secrets.len(), 1);
        assert_eq!(o.secrets[0].expose(), "s3cret");
        assert_eq!(
            (o.signed, o.encoding),
            (Signed::TimestampDotBody, Encoding::Base64)
        );
        assert_eq!(
            (o.tolerance, o.port.as_deref()),
            (Duration::from_secs(60), Some("USSAV"))
        );
        assert_eq!(o.fields.container, ["/unit/id"]);
        assert_eq!(o.fields.imo, super::Fields::default().imo);
        assert_eq!(
            config.events.portconnect_tokens[0].expose(),
            "literal-token"
        );
        assert_eq!(
            config.recorder.event_retention.max_age,
            Some(Duration::from_secs(7 * 86_400))
        );
        for (text, says) in [
            (
                "[events.octopi]\nsigned = \"body+timestamp\"\n",
                "signed = \"body+timestamp\" is not known",
            ),
            (
                "[events.octopi]\nencoding = \"b64\"\n",
                "encoding = \"b64\" is not known",
            ),
            (
                "[events.octopi]\nsecrets = [\"env:LOOKOUT_TEST_NOT_SET_9F3A\"]\n",
                "LOOKOUT_TEST_NOT_SET_9F3A is not set",
            ),
            (
                "[events.octopi.fields]\ncontainer = [\"container.number\"]\n",
                "is not a JSON pointer",
            ),
            (
                "[events.portconnect]\ntokens = [\"\"]\n",
                "an empty key would let anyone sign",
            ),
            (
                "[events.portconnect]\ntoken = [\"x\"]\n",
                "unknown field `token`",
            ),
        ] {
            let err = read(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn users_and_their_mistakes() {
        use crate::secrets::Role;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lookout.toml");
        let secret = dir.path().join("apatel-token");
        std::fs::write(&secret, "apatel-token-0123456789abcdef\n").unwrap();
        let read = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Config::from_file(File::read(&path).map_err(|e| e.to_string())?, &path)
                .map_err(|e| e.to_string())
        };
        let config = read(&format!(
            "[[users]]\nname = \"apatel\"\nrole = \"author\"\ntoken = \"file:{}\"\n[[users]]\nname = \"jlee\"\nrole = \"publisher\"\ntoken = \"jlee-literal-token-0123456789\"\n",
            secret.display()
        ))
        .unwrap();
        assert_eq!(config.users.len(), 2);
        assert_eq!(
            (
                config.users[0].name.as_str(),
                config.users[0].role,
                config.users[0].token.expose()
            ),
            ("apatel", Role::Author, "apatel-token-0123456789abcdef")
        );
        assert_eq!(config.users[1].role, Role::Publisher);
        let entry = |name: &str, role: &str, token: &str| {
            format!("[[users]]\nname = \"{name}\"\nrole = \"{role}\"\ntoken = \"{token}\"\n")
        };
        for (text, says) in [
            (
                entry("vera", "owner", "vera-token-0123456789abcdef"),
                "role \"owner\" is not one of",
            ),
            (
                entry("vera", "viewer", "short"),
                "shorter than 16 characters",
            ),
            (
                entry("vera", "viewer", "env:LOOKOUT_TEST_UNSET_USER_TOKEN_7Q"),
                "LOOKOUT_TEST_UNSET_USER_TOKEN_7Q is not set",
            ),
            (
                entry("admin", "viewer", "vera-token-0123456789abcdef"),
                "`admin` is the admin token's name",
            ),
            (
                entry("two words", "viewer", "vera-token-0123456789abcdef"),
                "a user name is 1 to 64",
            ),
            (
                [
                    entry("vera", "viewer", "same-token-0123456789abcdef"),
                    entry("vera", "author", "other-token-0123456789abcd"),
                ]
                .concat(),
                "the name `vera` is used twice",
            ),
            (
                [
                    entry("vera", "viewer", "same-token-0123456789abcdef"),
                    entry("ola", "author", "same-token-0123456789abcdef"),
                ]
                .concat(),
                "the same token as another user",
            ),
        ] {
            let err = read(&text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lookout.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let err = File::read(&path).unwrap_err().to_string();
        assert!(err.contains("unknown field `lisen`"), "{err}");
        std::fs::write(&path, "budget_ms = 60000\n").unwrap();
        let err = Config::from_file(File::read(&path).unwrap(), &path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("the Estimator waits 10 s"), "{err}");
        std::fs::write(&path, "[store]\ncompression = \"zstd\"\n").unwrap();
        let config = Config::from_file(File::read(&path).unwrap(), &path).unwrap();
        assert_eq!(config.recorder.compression, Compression::Zstd);
        std::fs::write(&path, "[store]\ncompression = \"brotli\"\n").unwrap();
        let err = Config::from_file(File::read(&path).unwrap(), &path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("compression = \"brotli\" is not known"),
            "{err}"
        );
        assert!(err.contains("lookout.toml"), "{err}");
    }
}
