//! A rule set on disk: `rules/<name>/` with `ruleset.toml`, `*.rhai` rules,
//! `lib/*.rhai` modules and `data/*.json|*.csv` reference data, compiled into memory.
//!
//! Loading reads every file once; nothing a rule does at run time touches the disk
//! (imports resolve to modules compiled here). Every problem is reported with the file
//! and, where there is one, line and column, as `path:line:col: message`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rhai::module_resolvers::ModuleResolver;
use rhai::{Dynamic, Engine, EvalAltResult, Module, Position, Scope, Shared, AST};

type SharedModule = Shared<Module>;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sonic_rs::ValueRef;

use crate::rules::helpers;
use crate::rules::json::{self, Doc, Json};
use crate::rules::reuse;
use crate::rules::sandbox::{self, Limits, Run};
use crate::signature::ApiKey;

/// One problem found while loading, as `path:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl Problem {
    pub fn new(path: &Path, message: impl Into<String>) -> Problem {
        Problem {
            path: path.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// Whether this is an `api_keys` entry that cannot be read. Such a rule set must
    /// refuse its calls rather than keep serving a version that checked other keys (or
    /// none): authentication fails closed.
    pub fn is_key(&self) -> bool {
        self.message.starts_with(KEY_PROBLEM) && self.path.ends_with("ruleset.toml")
    }

    /// Where it is, without what it says: the path below `root`, line and column. What
    /// unauthenticated answers may show (a compile error can quote file contents).
    pub fn location(&self, root: &Path) -> String {
        let mut text = self
            .path
            .strip_prefix(root)
            .unwrap_or(&self.path)
            .display()
            .to_string();
        if let Some(line) = self.line {
            text.push_str(&format!(":{line}"));
            if let Some(column) = self.column {
                text.push_str(&format!(":{column}"));
            }
        }
        text
    }

    fn at(path: &Path, pos: Position, message: impl Into<String>) -> Problem {
        Problem {
            path: path.to_path_buf(),
            line: pos.line(),
            column: pos.position(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// How a problem with one of `api_keys` starts (see [`Problem::is_key`]).
const KEY_PROBLEM: &str = "api_keys[";

/// Defaults a rule set's `ruleset.toml` may override.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub budget: Duration,
    pub margin: Duration,
    pub limits: Limits,
    pub secrets: Secrets,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            budget: Duration::from_millis(10_000),
            margin: Duration::from_millis(1_500),
            limits: Limits::default(),
            secrets: Secrets::Required,
        }
    }
}

/// Whether a rule set's `api_keys` must be readable for it to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// The server: a key it cannot read is an error, and the rule set's calls are
    /// refused (authentication fails closed).
    Required,
    /// The author's tools (`check`, `test`, `run`, `replay`), which verify no
    /// signature: a key that cannot be read here is a warning, so a production rule
    /// set can be tried without its secrets.
    Optional,
}

/// `ruleset.toml`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettingsFile {
    description: Option<String>,
    api_keys: Option<Vec<String>>,
    identity: Option<Vec<String>>,
    redact_headers: Option<Vec<String>>,
    redact_body: Option<Vec<String>>,
    budget_ms: Option<u64>,
    margin_ms: Option<u64>,
    show_rule_errors: Option<bool>,
    reuse: Option<bool>,
    reuse_memory_mb: Option<u64>,
}

/// Keys `ruleset.toml` knows, for "did you mean" hints.
pub const SETTINGS_KEYS: &[&str] = &[
    "description",
    "api_keys",
    "identity",
    "redact_headers",
    "redact_body",
    "budget_ms",
    "margin_ms",
    "show_rule_errors",
    "reuse",
    "reuse_memory_mb",
];

/// Memory a rule set's reuse cache may hold unless `reuse_memory_mb` says otherwise.
pub const DEFAULT_REUSE_MEMORY_MB: u64 = 64;

/// A rule set's settings, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub description: String,
    pub api_keys: Vec<ApiKey>,
    /// JSON pointers tried in order for the estimate's identity (GUIDs).
    pub identity: Vec<String>,
    /// Lower-case header names whose values the log must not keep.
    pub redact_headers: Vec<String>,
    /// JSON pointers into the request body whose values the log must not keep.
    pub redact_body: Vec<String>,
    /// Time from a call's arrival to the latest moment its answer may leave.
    pub budget: Duration,
    /// Kept free at the end of the budget for assembling and sending the answer.
    pub margin: Duration,
    pub show_rule_errors: bool,
    /// Bytes the cache of reusable rule runs may hold; 0 when reuse is off
    /// (`reuse = false`).
    pub reuse_memory: usize,
}

pub const DEFAULT_IDENTITY: &[&str] = &["/estimateID", "/estimateId", "/estimate_id", "/id"];

/// One rule: a compiled `*.rhai` file. Its id is the file stem.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub path: PathBuf,
    pub ast: AST,
}

/// A compiled rule set, ready to serve.
pub struct RuleSet {
    pub name: String,
    pub dir: PathBuf,
    pub settings: Settings,
    /// In file-name order, which is the order of their alerts in the answer.
    pub rules: Vec<Rule>,
    pub engine: Engine,
    /// `data`: the rule set's reference data.
    pub data: Json,
    /// Content hash of every file of the rule set (`X-Lookout-Rules-Version`).
    pub version: String,
    /// This version's rule runs kept for reuse on the next call for the same estimate.
    pub reuse: reuse::Cache,
    pub limits: Limits,
    pub warnings: Vec<Problem>,
}

impl fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleSet")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish()
    }
}

impl RuleSet {
    /// The estimate's identity for GUIDs: the first identity pointer that finds a value.
    pub fn estimate_identity(&self, estimate: &Doc) -> String {
        self.settings
            .identity
            .iter()
            .find_map(|at| match json::pointer(estimate, at)?.as_ref() {
                ValueRef::String(s) if !s.is_empty() => Some(s.to_string()),
                ValueRef::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .unwrap_or_default()
    }
}

/// Whether `dir` looks like a rule set (has rules or settings); `rules/samples/` does not.
pub fn is_ruleset_dir(dir: &Path) -> bool {
    dir.join("ruleset.toml").is_file()
        || rhai_files(dir, false)
            .map(|f| !f.is_empty())
            .unwrap_or(false)
}

/// A rule set name must be usable in the URL `/hooks/<name>`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Loads and compiles the rule set in `dir`. Warnings come back with the set; errors instead of it.
pub fn load(dir: &Path, defaults: &Defaults) -> Result<RuleSet, Vec<Problem>> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    if !valid_name(&name) {
        return Err(vec![Problem::new(dir, format!("rule set folder name `{name}` cannot be a URL path; use letters, digits, `-` and `_`"))]);
    }

    let mut hasher = Sha256::new();
    let settings = load_settings(dir, defaults, &mut hasher, &mut problems, &mut warnings);
    let data = load_data(dir, &mut hasher, &mut problems);
    let libs = read_sources(&dir.join("lib"), "lib/", &mut hasher, &mut problems);

    let rule_sources = read_sources(dir, "", &mut hasher, &mut problems);
    let limits = defaults.limits.clone();
    let mut engine = sandbox::engine(&limits);
    // Direct getters for the property names this rule set uses: `row.portName` on a
    // JSON view then skips Rhai's failed-getter path (which formats an error message
    // before falling back to the indexer). Names not seen here still work that way.
    for (path, source) in rule_sources.values().chain(libs.values()) {
        warnings.extend(unknown_data_names(path, source, &data));
    }
    let names = rule_sources
        .values()
        .chain(libs.values())
        .flat_map(|(_, source)| property_names(source));
    sandbox::register_json_getters(&mut engine, names.collect::<BTreeSet<_>>());
    let resolver = LibResolver {
        sources: libs,
        cache: RwLock::default(),
        loading: Mutex::default(),
    };
    // Compile every module now, so a broken lib is reported at load and imports never touch the disk.
    let lib_names: Vec<String> = resolver.sources.keys().cloned().collect();
    let resolver = Arc::new(resolver);
    engine.set_module_resolver(SharedResolver(resolver.clone()));
    // Bounded like a rule, but not a rule run: an alert raised while a module loads is
    // an error at load, and no alert handle can outlive the load.
    Run::limit(Instant::now() + Duration::from_secs(2), &limits);
    for lib in lib_names {
        if let Err(err) = resolver.resolve(&engine, None, &lib, Position::NONE) {
            problems.push(problem_from_eval(&resolver.sources[&lib].0, &err));
        }
    }
    Run::reset();

    // Known to the compiler so strict mode catches typos. Plain variables, not
    // constants: the optimizer would fold a constant `()` into the rule's code.
    let mut scope = Scope::new();
    for name in ["estimate", "request", "data"] {
        scope.push(name, Dynamic::UNIT);
    }
    let mut rules = Vec::new();
    for (id, (path, source)) in rule_sources {
        if !valid_name(&id) {
            problems.push(Problem::new(
                &path,
                format!(
                    "rule file name `{id}` makes a poor rule id; use letters, digits, `-` and `_`"
                ),
            ));
            continue;
        }
        match engine.compile_with_scope(&scope, &source) {
            Ok(mut ast) => {
                ast.set_source(path.display().to_string());
                rules.push(Rule { id, path, ast });
            }
            Err(err) => problems.push(Problem::at(&path, err.1, err.0.to_string())),
        }
    }
    if rules.is_empty() && problems.is_empty() {
        warnings.push(Problem::new(
            dir,
            "this rule set has no rules yet; add a <rule>.rhai file",
        ));
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    let settings = settings.expect("no problems means settings loaded");
    let reuse = reuse::Cache::new(settings.reuse_memory);
    Ok(RuleSet {
        name,
        dir: dir.to_path_buf(),
        settings,
        rules,
        engine,
        data: Json::new(Arc::new(data)),
        version: hex::encode(&hasher.finalize()[..8]),
        reuse,
        limits,
        warnings,
    })
}

fn load_settings(
    dir: &Path,
    defaults: &Defaults,
    hasher: &mut Sha256,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> Option<Settings> {
    let path = dir.join("ruleset.toml");
    let file = match read_own(&path, MAX_SOURCE_BYTES).and_then(|bytes| {
        String::from_utf8(bytes).map_err(|_| ReadError::Refused("is not UTF-8 text".into()))
    }) {
        Ok(text) => {
            hash_file(hasher, "ruleset.toml", text.as_bytes());
            let text = drop_unknown_keys(&path, &text, problems, warnings)?;
            match toml::from_str::<SettingsFile>(&text) {
                Ok(file) => file,
                Err(err) => {
                    let (line, column) = err.span().map(|s| line_col(&text, s.start)).unzip();
                    let mut message = err.message().to_string();
                    if let Some(unknown) = message
                        .strip_prefix("unknown field `")
                        .and_then(|m| m.split('`').next())
                    {
                        if let Some(hint) = did_you_mean(unknown, SETTINGS_KEYS) {
                            message.push_str(&format!("; did you mean `{hint}`?"));
                        }
                    }
                    problems.push(Problem {
                        path,
                        line,
                        column,
                        message,
                    });
                    return None;
                }
            }
        }
        Err(ReadError::Missing) => SettingsFile::default(),
        Err(e) => {
            problems.push(Problem::new(&path, e.to_string()));
            return None;
        }
    };

    let mut api_keys = Vec::new();
    for (i, spec) in file.api_keys.unwrap_or_default().iter().enumerate() {
        match crate::signature::resolve_key(spec) {
            Ok((key, literal)) => {
                if literal {
                    warnings.push(Problem::new(&path, format!("api_keys[{i}] is a literal key; keep keys out of files: use \"env:VAR\" or \"file:/run/secrets/...\"")));
                }
                api_keys.push(key);
            }
            Err(message) => match defaults.secrets {
                Secrets::Required => {
                    problems.push(Problem::new(&path, format!("{KEY_PROBLEM}{i}]: {message}")))
                }
                Secrets::Optional => warnings.push(Problem::new(
                    &path,
                    format!("{KEY_PROBLEM}{i}]: {message} (not needed here, which checks no signature; a server refuses this rule set's calls until it can read the key)"),
                )),
            },
        }
    }
    if api_keys.len() > 2 {
        warnings.push(Problem::new(
            &path,
            format!(
                "{} API keys are configured; two are enough for a rotation",
                api_keys.len()
            ),
        ));
    }

    let identity = file
        .identity
        .unwrap_or_else(|| DEFAULT_IDENTITY.iter().map(|s| s.to_string()).collect());
    for pointer in &identity {
        if !pointer.starts_with('/') {
            problems.push(Problem::new(
                &path,
                format!(
                    "identity `{pointer}` is not a JSON pointer; write it like \"/estimateID\""
                ),
            ));
        }
    }
    let redact_headers: Vec<String> = file
        .redact_headers
        .unwrap_or_default()
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let redact_body = file.redact_body.unwrap_or_default();
    for pointer in &redact_body {
        if !pointer.starts_with('/') {
            problems.push(Problem::new(
                &path,
                format!(
                    "redact_body `{pointer}` is not a JSON pointer; write it like \"/counterparty/apiToken\" (use `*` for every array item: \"/cargoes/*/token\")"
                ),
            ));
        }
    }

    let budget = file
        .budget_ms
        .map(Duration::from_millis)
        .unwrap_or(defaults.budget);
    let margin = file
        .margin_ms
        .map(Duration::from_millis)
        .unwrap_or(defaults.margin);
    if budget > Duration::from_secs(10) || budget < Duration::from_millis(50) {
        problems.push(Problem::new(
            &path,
            format!(
                "budget_ms = {} is out of range; the Estimator waits 10 s, so use 50 to 10000",
                budget.as_millis()
            ),
        ));
    }
    let reuse_mb = file.reuse_memory_mb.unwrap_or(DEFAULT_REUSE_MEMORY_MB);
    if !(1..=16_384).contains(&reuse_mb) {
        problems.push(Problem::new(
            &path,
            format!("reuse_memory_mb = {reuse_mb} is out of range; use 1 to 16384 (or reuse = false to turn reuse off)"),
        ));
    }
    if margin >= budget {
        problems.push(Problem::new(&path, format!("margin_ms = {} leaves no time for rules within budget_ms = {}; make the margin smaller", margin.as_millis(), budget.as_millis())));
    }

    Some(Settings {
        description: file.description.unwrap_or_default(),
        api_keys,
        identity,
        redact_headers,
        redact_body,
        budget,
        margin,
        show_rule_errors: file.show_rule_errors.unwrap_or(true),
        reuse_memory: match file.reuse {
            Some(false) => 0,
            _ => (reuse_mb as usize) << 20,
        },
    })
}

/// Reads `data/*.json` and `data/*.csv` into one object keyed by file stem.
fn load_data(dir: &Path, hasher: &mut Sha256, problems: &mut Vec<Problem>) -> Doc {
    let mut data = sonic_rs::Object::new();
    let data_dir = dir.join("data");
    let mut paths = match own_files(&data_dir, true, |_| true) {
        Ok(paths) => paths,
        Err(e) => {
            problems.push(Problem::new(&data_dir, e.to_string()));
            return data.into();
        }
    };
    paths.sort();
    let mut total = 0u64;
    for path in paths {
        let (Some(stem), Some(ext)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        if ext != "json" && ext != "csv" {
            continue;
        }
        let bytes = match read_own(&path, MAX_DATA_FILE_BYTES) {
            Ok(b) => b,
            Err(e) => {
                problems.push(Problem::new(&path, e.to_string()));
                continue;
            }
        };
        total += bytes.len() as u64;
        if total > MAX_DATA_BYTES {
            problems.push(Problem::new(
                &path,
                format!("data/ holds more than {} MiB with this file; a rule set's reference data is at most that (split it, or keep only what rules read)", MAX_DATA_BYTES >> 20),
            ));
            break;
        }
        let value = match ext {
            // serde_json for its error positions; the rule's view is converted once, here.
            "json" => crate::nesting::from_slice::<Value>(&bytes)
                .map(|v| json::doc_from(&v))
                .map_err(|e| Problem {
                    path: path.clone(),
                    line: Some(e.line()),
                    column: Some(e.column()),
                    message: format!("not valid JSON: {e}"),
                }),
            "csv" => read_csv(&path, &bytes),
            _ => continue,
        };
        hash_file(hasher, &format!("data/{stem}.{ext}"), &bytes);
        match value {
            Ok(value) => {
                if data.contains_key(&stem) {
                    problems.push(Problem::new(
                        &path,
                        format!("data.{stem} is defined twice (a .json and a .csv); rename one"),
                    ));
                } else {
                    data.insert(stem, value);
                }
            }
            Err(problem) => problems.push(problem),
        }
    }
    data.into()
}

/// CSV rows as objects keyed by the header row, in its order. A column whose every
/// filled cell is a number (`58600`, `-3.5`, `1e3`; see [`helpers::text_number`]) is
/// read as numbers, its empty cells as `()`; any other column stays text as written.
fn read_csv(path: &Path, bytes: &[u8]) -> Result<Doc, Problem> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| Problem::new(path, format!("bad CSV header: {e}")))?
        .clone();
    let records = reader
        .records()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Problem {
            path: path.to_path_buf(),
            line: e.position().map(|p| p.line() as usize),
            column: None,
            message: format!("bad CSV row: {e}"),
        })?;
    let numeric: Vec<bool> = (0..headers.len())
        .map(|col| {
            let mut cells = records
                .iter()
                .filter_map(|r| r.get(col))
                .filter(|c| !c.is_empty());
            let mut any = false;
            cells.all(|c| {
                any = true;
                helpers::text_number(c).is_some()
            }) && any
        })
        .collect();
    let mut array = sonic_rs::Array::with_capacity(records.len());
    for record in &records {
        let mut row = sonic_rs::Object::with_capacity(headers.len());
        for (col, (h, v)) in headers.iter().zip(record.iter()).enumerate() {
            if !numeric[col] {
                row.insert(h, v);
            } else if let Some(n) = helpers::text_number(v) {
                row.insert(h, sonic_rs::to_value(&n).expect("a number is JSON"));
            } else {
                row.insert(h, Doc::new());
            }
        }
        array.push(Doc::from(row));
    }
    Ok(array.into())
}

/// `*.rhai` in `dir`: the rule set's folder (which the operator may link in), or a
/// folder inside it (`sub`, never a link).
fn rhai_files(dir: &Path, sub: bool) -> Result<Vec<PathBuf>, ReadError> {
    let mut files = own_files(dir, sub, |p| p.extension().is_some_and(|e| e == "rhai"))?;
    files.sort();
    Ok(files)
}

/// Largest `.rhai` file or `ruleset.toml`.
const MAX_SOURCE_BYTES: u64 = 1 << 20;
/// Largest file in `data/`, and all of them together.
const MAX_DATA_FILE_BYTES: u64 = 16 << 20;
const MAX_DATA_BYTES: u64 = 64 << 20;

/// Why a rule set's file was not read.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("not found")]
    Missing,
    #[error("{0}")]
    Refused(String),
    #[error("cannot read: {0}")]
    Io(std::io::Error),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => ReadError::Missing,
            _ if e.raw_os_error() == Some(libc::ELOOP) => ReadError::Refused(LINK.into()),
            _ => ReadError::Io(e),
        }
    }
}

const LINK: &str = "is a symbolic link; a rule set reads only its own regular files (a link could point anywhere, the server's private key included): copy the file in";

/// The entries of `dir` that `wanted` picks, as paths: a missing folder has none; a
/// folder that is a link is refused. Links and other non-regular entries among them are
/// kept, so that reading them reports why they are refused instead of skipping them.
fn own_files(
    dir: &Path,
    sub: bool,
    wanted: impl Fn(&Path) -> bool,
) -> Result<Vec<PathBuf>, ReadError> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
        Ok(meta) if sub && meta.file_type().is_symlink() => {
            return Err(ReadError::Refused(LINK.into()))
        }
        Ok(_) => {}
    }
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .map(|e| e.path())
        .filter(|p| wanted(p))
        .collect())
}

/// Reads one of a rule set's own files: a regular file, opened without following a
/// link, at most `max` bytes.
fn read_own(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        // No link is followed, and a FIFO cannot block the load.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::Refused(
            "is not a regular file; a rule set reads only its own regular files".into(),
        ));
    }
    if meta.len() > max {
        return Err(ReadError::Refused(format!(
            "is {} bytes; a file here is at most {} MiB",
            meta.len(),
            max >> 20
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::Refused(format!(
            "grew past {} MiB while it was read",
            max >> 20
        )));
    }
    Ok(bytes)
}

/// `(key, (path, source))` for each `*.rhai` in `dir`, sorted; key = `prefix` + stem.
fn read_sources(
    dir: &Path,
    prefix: &str,
    hasher: &mut Sha256,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, (PathBuf, String)> {
    let mut out = BTreeMap::new();
    let files = match rhai_files(dir, !prefix.is_empty()) {
        Ok(files) => files,
        Err(e) => {
            problems.push(Problem::new(dir, e.to_string()));
            return out;
        }
    };
    for path in files {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let source = read_own(&path, MAX_SOURCE_BYTES).and_then(|bytes| {
            String::from_utf8(bytes).map_err(|_| ReadError::Refused("is not UTF-8 text".into()))
        });
        match source {
            Ok(source) => {
                hash_file(hasher, &format!("{prefix}{stem}.rhai"), source.as_bytes());
                out.insert(format!("{prefix}{stem}"), (path, source));
            }
            Err(e) => problems.push(Problem::new(&path, e.to_string())),
        }
    }
    out
}

/// Every identifier written after a `.` in a script (`row.portName` gives `portName`).
fn property_names(source: &str) -> impl Iterator<Item = String> + '_ {
    source.split('.').skip(1).filter_map(|rest| {
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let first = name.chars().next()?;
        (first.is_ascii_alphabetic() || first == '_').then_some(name)
    })
}

/// `data.<name>` and `data.<name>.<field>` in a source that cannot find anything: no
/// `data/<name>.json|csv`, or a JSON object without that field (read at load, so the
/// author hears of a typo before a call does). Comments are skipped; a rule that builds
/// names at run time (`data[name]`) is not checked.
fn unknown_data_names(path: &Path, source: &str, data: &Doc) -> Vec<Problem> {
    use sonic_rs::JsonContainerTrait;
    let mut found = Vec::new();
    let mut seen = BTreeSet::new();
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let code = line.split("//").next().unwrap_or("");
        let mut from = 0;
        while let Some(at) = code[from..].find("data.") {
            let start = from + at;
            from = start + 5;
            let before = code[..start].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
                continue;
            }
            let word = |text: &str| -> String {
                text.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect()
            };
            let name = word(&code[from..]);
            if name.is_empty() {
                continue;
            }
            let rest = &code[from + name.len()..];
            let field = rest
                .strip_prefix('.')
                .or_else(|| rest.strip_prefix("?."))
                .map(word)
                .filter(|f| !f.is_empty());
            if !seen.insert((name.clone(), field.clone())) {
                continue;
            }
            let (line_no, column) = line_col(source, offset + start);
            let at = |message: String| Problem {
                path: path.to_path_buf(),
                line: Some(line_no),
                column: Some(column),
                message,
            };
            let known: Vec<String> = data
                .as_object()
                .map(|o| o.iter().map(|(k, _)| k.to_string()).collect())
                .unwrap_or_default();
            match data.as_object().and_then(|o| o.get(&name.as_str())) {
                None => found.push(at(format!(
                    "data.{name} does not exist: there is no data/{name}.json or data/{name}.csv (data has: {})",
                    if known.is_empty() { "nothing".to_string() } else { known.join(", ") }
                ))),
                Some(value) => {
                    let (Some(field), Some(object)) = (field, value.as_object()) else {
                        continue;
                    };
                    // Methods of a map (`data.desk.keys()`) are not fields.
                    if rest[1..].trim_start_matches('?').get(field.len()..).is_some_and(|r| r.starts_with('(')) {
                        continue;
                    }
                    if object.get(&field.as_str()).is_none() {
                        let keys: Vec<&str> = object.iter().map(|(k, _)| k).collect();
                        found.push(at(format!(
                            "data.{name}.{field} is not in data/{name}.json (its fields: {}); it reads as ()",
                            keys.join(", ")
                        )));
                    }
                }
            }
        }
        offset += line.len();
    }
    found
}

fn hash_file(hasher: &mut Sha256, name: &str, bytes: &[u8]) {
    hasher.update((name.len() as u64).to_le_bytes());
    hasher.update(name.as_bytes());
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

/// Unknown top-level keys of `ruleset.toml` become warnings (with a "did you mean")
/// and are left out; a near miss of `api_keys` is an error, because ignoring it would
/// leave the rule set open to unsigned calls. Returns the text to deserialize, or
/// `None` after an error.
pub(crate) fn drop_unknown_keys(
    path: &Path,
    text: &str,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> Option<String> {
    let Ok(mut table) = text.parse::<toml::Table>() else {
        // Not TOML: let the typed parse report it with its position.
        return Some(text.to_string());
    };
    let unknown: Vec<String> = table
        .keys()
        .filter(|k| !SETTINGS_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    if unknown.is_empty() {
        return Some(text.to_string());
    }
    let mut failed = false;
    for key in &unknown {
        let (line, column) = text
            .lines()
            .enumerate()
            .find(|(_, l)| {
                let t = l.trim_start();
                t.strip_prefix(key.as_str())
                    .or_else(|| t.strip_prefix(&format!("\"{key}\"")))
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            })
            .map(|(i, l)| (i + 1, l.len() - l.trim_start().len() + 1))
            .unzip();
        let hint = did_you_mean(key, SETTINGS_KEYS);
        let mut problem = Problem {
            path: path.to_path_buf(),
            line,
            column,
            message: format!("unknown key `{key}`"),
        };
        if hint == Some("api_keys") {
            problem.message.push_str(
                "; did you mean `api_keys`? (as written, the rule set would accept unsigned calls)",
            );
            problems.push(problem);
            failed = true;
            continue;
        }
        match hint {
            Some(hint) => problem
                .message
                .push_str(&format!("; did you mean `{hint}`? It is ignored")),
            None => problem.message.push_str(&format!(
                "; it is ignored (known keys: {})",
                SETTINGS_KEYS.join(", ")
            )),
        }
        warnings.push(problem);
        table.remove(key);
    }
    if failed {
        return None;
    }
    Some(toml::to_string(&table).unwrap_or_else(|_| text.to_string()))
}

/// The closest known name, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim_distance(word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| k)
}

fn strsim_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The problem an evaluation error points at: the innermost position, in its own file.
fn problem_from_eval(path: &Path, err: &EvalAltResult) -> Problem {
    let mut path = path.to_path_buf();
    let mut current = err;
    loop {
        match current {
            EvalAltResult::ErrorInModule(module, inner, _) => {
                if !module.is_empty() {
                    path = PathBuf::from(module.as_str());
                }
                current = inner;
            }
            EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => current = inner,
            _ => break,
        }
    }
    let (message, pos) = sandbox::describe(current);
    Problem::at(&path, pos, message)
}

/// Resolves `import "lib/<name>"` to the rule set's own modules, compiled at load.
struct LibResolver {
    sources: BTreeMap<String, (PathBuf, String)>,
    cache: RwLock<HashMap<String, SharedModule>>,
    loading: Mutex<HashSet<String>>,
}

impl LibResolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<SharedModule, Box<EvalAltResult>> {
        let key = path.strip_suffix(".rhai").unwrap_or(path);
        if let Some(module) = self.cache.read().expect("lock").get(key) {
            return Ok(module.clone());
        }
        let Some((file, source)) = self.sources.get(key) else {
            let available: Vec<&str> = self.sources.keys().map(String::as_str).collect();
            let hint = if available.is_empty() {
                "this rule set has no lib/ modules".to_string()
            } else {
                format!("available: {}", available.join(", "))
            };
            // Not ErrorModuleNotFound: Rhai replaces that with its own message, losing the hint.
            return Err(Box::new(EvalAltResult::ErrorRuntime(
                format!("module `{path}` not found: modules are lib/<name> inside this rule set; {hint}").into(),
                pos,
            )));
        };
        if !self.loading.lock().expect("lock").insert(key.to_string()) {
            return Err(Box::new(EvalAltResult::ErrorRuntime(
                format!("import cycle: {key} imports itself through other modules").into(),
                pos,
            )));
        }
        let result = (|| -> Result<SharedModule, Box<EvalAltResult>> {
            let mut ast = engine.compile(source).map_err(|e| {
                Box::new(EvalAltResult::ErrorInModule(
                    file.display().to_string(),
                    Box::new(EvalAltResult::ErrorParsing(*e.0, e.1)),
                    pos,
                ))
            })?;
            ast.set_source(file.display().to_string());
            let module = Module::eval_ast_as_new(Scope::new(), &ast, engine).map_err(|e| {
                Box::new(EvalAltResult::ErrorInModule(
                    file.display().to_string(),
                    e,
                    pos,
                ))
            })?;
            Ok(SharedModule::new(module))
        })();
        self.loading.lock().expect("lock").remove(key);
        let module = result?;
        self.cache
            .write()
            .expect("lock")
            .insert(key.to_string(), module.clone());
        Ok(module)
    }
}

struct SharedResolver(Arc<LibResolver>);

impl ModuleResolver for SharedResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<SharedModule, Box<EvalAltResult>> {
        self.0.resolve(engine, source, path, pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size cap at its edge, links, and what is not a regular file.
    #[test]
    fn own_files_are_regular_files_within_their_cap() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.csv");
        std::fs::write(&file, b"0123456789").unwrap();
        assert_eq!(read_own(&file, 10).unwrap(), b"0123456789");
        let err = read_own(&file, 9).unwrap_err().to_string();
        assert!(
            err.starts_with("is 10 bytes; a file here is at most"),
            "{err}"
        );
        let link = dir.path().join("l.csv");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(read_own(&link, 10)
            .unwrap_err()
            .to_string()
            .contains("symbolic link"));
        let fifo = dir.path().join("p.csv");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(read_own(&fifo, 10)
            .unwrap_err()
            .to_string()
            .contains("not a regular file"));
        assert!(matches!(
            read_own(&dir.path().join("none"), 10),
            Err(ReadError::Missing)
        ));
    }

    #[test]
    fn names_in_data_that_cannot_exist_are_warned_about() {
        let data = json::parse(
            r#"{"desk": {"tceFloor": 12000, "lowRatings": ["C"]}, "ports": [{"code": "X"}]}"#,
        )
        .unwrap();
        let source = "let f = data.desk.tceFloor;\nlet g = data.desk.tceFlor; // data.nothing here\nlet r = data.ratings;\nfor p in data.ports { p.code }\nlet k = data.desk.keys();\nlet m = mydata.x; let again = data.desk.tceFlor;\n";
        let found: Vec<String> = unknown_data_names(Path::new("r.rhai"), source, &data)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "r.rhai:2:9: data.desk.tceFlor is not in data/desk.json (its fields: tceFloor, lowRatings); it reads as ()",
                "r.rhai:3:9: data.ratings does not exist: there is no data/ratings.json or data/ratings.csv (data has: desk, ports)",
            ]
        );
    }

    #[test]
    fn property_names_are_the_words_after_dots() {
        let names: Vec<String> =
            property_names("let x = estimate.voyageResults?.tce; y.len(); 1.5; a._b").collect();
        assert_eq!(names, ["voyageResults", "tce", "len", "_b"]);
    }

    #[test]
    fn did_you_mean_finds_typos() {
        assert_eq!(did_you_mean("api_key", SETTINGS_KEYS), Some("api_keys"));
        assert_eq!(did_you_mean("budgetms", SETTINGS_KEYS), Some("budget_ms"));
        assert_eq!(did_you_mean("colour", SETTINGS_KEYS), None);
    }

    #[test]
    fn problems_print_as_path_line_col() {
        let p = Problem {
            path: "rules/x/a.rhai".into(),
            line: Some(3),
            column: Some(7),
            message: "oops".into(),
        };
        assert_eq!(p.to_string(), "rules/x/a.rhai:3:7: oops");
        assert_eq!(
            Problem::new(Path::new("rules/x"), "no").to_string(),
            "rules/x: no"
        );
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("a\nbc\nd", 4), (2, 3));
        assert_eq!(line_col("abc", 0), (1, 1));
    }
}
