//! `lookout logs` and `lookout logs show`: the request/response log from the command
//! line.
//!
//! Both open the store directly: the same database the server writes, found the way
//! `lookout serve` finds it (`--store`, else `--config`'s `[store]`, else
//! `<data>/lookout.db`). SQLite in WAL mode lets readers in while the server writes, so
//! this works with the server running; PostgreSQL is a server anyway. A log is never
//! created here: a missing SQLite file is an error that says where it looked.
//!
//! Nothing here knows SQL or HTTP: it asks `store` for summaries and calls, and prints.

use std::io::Write;
use std::path::PathBuf;

use crate::alerts::Wire;
use anyhow::{anyhow, Context};
use clap::{Args, Subcommand};

use super::ServeArgs;
use crate::clock::{self, utc};
use crate::config::Config;
use crate::store::{self, Call, Location, Query, Store, Summary};

/// Where the log is, as `lookout serve` is told.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// A lookout.toml: its [store] url (or its data folder) says where the log is
    #[arg(long, env = "LOOKOUT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// lookout's data folder; the log is <DIR>/lookout.db [default: data]
    #[arg(long, env = "LOOKOUT_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The log itself: sqlite:<path> or postgres://... (overrides --config and --data)
    #[arg(long, env = "LOOKOUT_STORE_URL", value_name = "URL")]
    pub store: Option<String>,
}

impl StoreArgs {
    /// The server's configuration with these flags (and `rules`) applied, through
    /// `ServeArgs::config` so the precedence is the server's own.
    pub fn config(self, rules: Option<PathBuf>) -> anyhow::Result<Config> {
        ServeArgs {
            config: self.config,
            listen: None,
            rules,
            certs: None,
            data: self.data,
            store: self.store,
            log_format: None,
            rules_from: None,
            publish_folder: false,
        }
        .config()
    }
}

/// Opens the log the server writes; never creates one.
pub fn open(config: &Config) -> anyhow::Result<Store> {
    let location = config.store_location().map_err(|e| anyhow!(e))?;
    if let Location::Sqlite(path) = &location {
        if !path.is_file() {
            return Err(anyhow!(
                "there is no log at {} yet (`lookout serve` makes it when it starts); run this in the folder the server runs in, or say where the log is with --data DIR, --store sqlite:PATH or --config lookout.toml",
                path.display()
            ));
        }
    }
    store::open(&location).with_context(|| format!("cannot open the log ({location})"))
}

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  lookout logs                        the 20 newest calls\n  lookout logs --ruleset default --errors --since 24h\n  lookout logs --grep ANNOLD --limit 100\n  lookout logs --since 2026-11-01T00:00Z --until 2026-11-02T00:00Z --json\n  lookout logs show 0192f0c4-6b1e-7a55-9d7c-3c1f2a8e4b10\n\nOne line per call, newest first: time (UTC), call id, rule set, status, duration,\nalerts, rule errors and timeouts, estimate id. When more calls match, the last\nline (on stderr) gives the --before to page on.\n\nThe log is read directly: the same database the server writes (--store, else\n--config's [store] url, else <data>/lookout.db). SQLite in WAL mode lets this run\nwhile the server writes. A missing log is an error; none is created."
)]
pub struct LogsArgs {
    #[command(subcommand)]
    pub command: Option<LogsCommand>,
    #[command(flatten)]
    pub filter: Filter,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum LogsCommand {
    /// One call in full: summary, headers, request body, alerts and per-rule trace
    #[command(
        after_help = "Examples:\n  lookout logs show 0192f0c4-6b1e-7a55-9d7c-3c1f2a8e4b10\n  lookout logs show 0192f0c4-6b1e-7a55-9d7c-3c1f2a8e4b10 --raw > estimate.json\n  lookout logs show 0192f0c4-6b1e-7a55-9d7c-3c1f2a8e4b10 --json | jq .rules\n\nThe call id is in `lookout logs` and in the answer's x-lookout-call-id header.\n--raw writes the request body exactly as stored (after redaction), e.g. to\nreplay it with `lookout run`. Exit 2 when the log has no such call."
    )]
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct Filter {
    /// Only calls to this rule set
    #[arg(long, value_name = "NAME")]
    pub ruleset: Option<String>,
    /// Only calls answered with this HTTP status
    #[arg(long, value_name = "CODE")]
    pub status: Option<u16>,
    /// Only calls not answered 200, or where a rule failed or timed out
    #[arg(long)]
    pub errors: bool,
    /// From this time on: an age (90s, 30m, 24h, 7d) or a UTC time (2026-11-01T00:00Z)
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub since: Option<i64>,
    /// Before this time: an age or a UTC time, as for --since
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub until: Option<i64>,
    /// Only calls whose estimate has this text in a string value (any case)
    #[arg(long, value_name = "TEXT")]
    pub grep: Option<String>,
    /// Only calls older than this call id (the previous listing's hint gives it)
    #[arg(long, value_name = "ID")]
    pub before: Option<String>,
    /// At most this many calls
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// One JSON object per line (the call's summary) instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The call id (from `lookout logs` or the x-lookout-call-id header)
    pub id: String,
    /// The whole call as one JSON object
    #[arg(long, conflicts_with = "raw")]
    pub json: bool,
    /// Only the request body, byte for byte as stored, on stdout
    #[arg(long)]
    pub raw: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(args: LogsArgs) -> anyhow::Result<u8> {
    quiet_when_piped(match args.command {
        Some(LogsCommand::Show(show_args)) => show(show_args),
        None => list(args.filter, args.store),
    })
}

/// Output piped into `head` or `less` that stops reading is not an error.
pub fn quiet_when_piped(result: anyhow::Result<u8>) -> anyhow::Result<u8> {
    match result {
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(super::OK)
        }
        other => other,
    }
}

fn list(filter: Filter, store_args: StoreArgs) -> anyhow::Result<u8> {
    if let Some(before) = &filter.before {
        if !crate::ids::valid_id(before) {
            return Err(anyhow!(
                "--before `{before}` is not a call id; use the id the previous listing's last line gives"
            ));
        }
    }
    let config = store_args.config(None)?;
    let store = open(&config)?;
    let query = Query {
        ruleset: filter.ruleset,
        status: filter.status,
        problems: filter.errors,
        text: filter.grep.filter(|t| !t.is_empty()),
        since: filter.since,
        until: filter.until,
        before: filter.before,
        limit: 0,
    };
    let (calls, more) = collect(&store, query, filter.limit.max(1))
        .with_context(|| format!("cannot read the log ({})", store.describe()))?;
    let mut out = std::io::stdout().lock();
    for call in &calls {
        if filter.json {
            serde_json::to_writer(&mut out, call)?;
            writeln!(out)?;
        } else {
            writeln!(out, "{}", line(call))?;
        }
    }
    out.flush()?;
    if calls.is_empty() {
        eprintln!("no calls in {} match", store.describe());
    } else if let Some(before) = more {
        eprintln!("more calls match: add --before {before} to see older ones");
    }
    Ok(super::OK)
}

/// Up to `limit` summaries, newest first, over as many pages as it takes; and the
/// cursor to go on from when more may match.
pub fn collect(
    store: &Store,
    mut query: Query,
    limit: usize,
) -> Result<(Vec<Summary>, Option<String>), store::StoreError> {
    let mut calls: Vec<Summary> = Vec::new();
    loop {
        query.limit = (limit - calls.len()).min(1000);
        let page = store.list(&query)?;
        calls.extend(page.calls);
        match page.next {
            Some(next) if calls.len() < limit => query.before = Some(next),
            Some(_) => {
                let last = calls.last().map(|c| c.id.clone());
                return Ok((calls, last));
            }
            None => return Ok((calls, None)),
        }
    }
}

/// One call on one line.
fn line(call: &Summary) -> String {
    let mut text = format!(
        "{}  {}  {:<12} {}  {:>8.1} ms  {:>3} alert{}  {} error{}  {} timeout{}  {}",
        utc(call.received_at),
        call.id,
        call.ruleset,
        call.status,
        call.duration_us as f64 / 1e3,
        call.alerts,
        plural(call.alerts),
        call.rule_errors,
        plural(call.rule_errors),
        call.rule_timeouts,
        plural(call.rule_timeouts),
        call.estimate_id.as_deref().unwrap_or("-"),
    );
    if let Some(error) = &call.error {
        let mut short: String = error.chars().take(80).collect();
        if short.len() < error.len() {
            short.push('…');
        }
        text.push_str(&format!("  ({short})"));
    }
    text
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        " "
    } else {
        "s"
    }
}

/// `--since`/`--until`: an age before now or a time, as [`clock::parse_when`] reads
/// them. Microseconds since the epoch.
pub fn parse_when(text: &str) -> Result<i64, String> {
    clock::parse_when(text, clock::now_micros())
}

fn show(args: ShowArgs) -> anyhow::Result<u8> {
    if !crate::ids::valid_id(&args.id) {
        return Err(anyhow!(
            "`{}` is not a call id; `lookout logs` lists them (the second column)",
            args.id
        ));
    }
    let config = args.store.config(None)?;
    let store = open(&config)?;
    let row = store
        .get(&args.id)
        .with_context(|| format!("cannot read the log ({})", store.describe()))?
        .ok_or_else(|| anyhow!("no call {} in {}", args.id, store.describe()))?;
    let call = row
        .decode()
        .with_context(|| format!("call {} cannot be read back", args.id))?;
    let mut out = std::io::stdout().lock();
    if args.raw {
        if call.request_truncated {
            eprintln!(
                "note: only the first {} of the {} bytes received were kept",
                call.request_body.len(),
                call.request_size
            );
        }
        if let Some(pointers) = redacted_body(&call) {
            eprintln!("note: these parts of the body were redacted before storing: {pointers}");
        }
        out.write_all(&call.request_body)?;
    } else if args.json {
        serde_json::to_writer(&mut out, &call)?;
        writeln!(out)?;
    } else {
        write_call(&mut out, &call)?;
    }
    out.flush()?;
    Ok(super::OK)
}

fn redacted_body(call: &Call) -> Option<String> {
    let pointers: Vec<&str> = call
        .redacted
        .iter()
        .filter_map(|r| r.strip_prefix("body:"))
        .collect();
    (!pointers.is_empty()).then(|| pointers.join(", "))
}

/// The whole call, for a person.
pub fn write_call(out: &mut impl Write, call: &Call) -> std::io::Result<()> {
    writeln!(out, "call       {}", call.id)?;
    writeln!(out, "time       {}", utc(call.received_at))?;
    writeln!(
        out,
        "rule set   {}{}",
        call.ruleset,
        call.rules_version
            .as_deref()
            .map(|v| format!(" (rules version {v})"))
            .unwrap_or_default()
    )?;
    writeln!(
        out,
        "status     {}, signature {}, {:.3} ms",
        call.status,
        call.signature,
        call.duration_us as f64 / 1e3
    )?;
    writeln!(
        out,
        "estimate   {}",
        call.estimate_id.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "alerts     {} sent, {} left out; {} rule error{}, {} timeout{}",
        call.alerts,
        call.omitted,
        call.rule_errors,
        plural(call.rule_errors).trim_end(),
        call.rule_timeouts,
        plural(call.rule_timeouts).trim_end()
    )?;
    writeln!(out, "from       {} to {}", call.peer, call.instance)?;
    if let Some(error) = &call.error {
        writeln!(out, "error      {error}")?;
    }
    writeln!(
        out,
        "redacted   {}",
        if call.redacted.is_empty() {
            "nothing".to_string()
        } else {
            call.redacted.join(", ")
        }
    )?;

    writeln!(out, "\nrequest headers")?;
    for (name, value) in &call.request_headers {
        writeln!(out, "  {name}: {value}")?;
    }

    let kept = if call.request_truncated {
        format!(
            ", only the first {} kept (the call was refused)",
            call.request_body.len()
        )
    } else {
        String::new()
    };
    writeln!(out, "\nrequest body ({} bytes{kept})", call.request_size)?;
    write_body(out, &call.request_body)?;

    writeln!(out, "\nresponse")?;
    let alerts = (call.status == 200)
        .then(|| serde_json::from_slice::<Vec<Wire>>(&call.response_body).ok())
        .flatten();
    match alerts {
        Some(alerts) if alerts.is_empty() => writeln!(out, "  no alerts")?,
        Some(alerts) => {
            for (i, alert) in alerts.iter().enumerate() {
                write_alert(out, i + 1, alert, call.rule_of(&alert.guid))?;
            }
        }
        None => write_body(out, &call.response_body)?,
    }

    writeln!(out, "\ntrace")?;
    if call.rules.is_empty() {
        writeln!(out, "  no rules ran")?;
    }
    for rule in &call.rules {
        let line = format!(
            "  rule {:<24} {:<7} {:>9.3} ms {:>9} ops {:>3} alert{}",
            rule.rule,
            rule.outcome,
            rule.duration_us as f64 / 1e3,
            rule.operations,
            rule.alerts.len(),
            plural(rule.alerts.len() as u32),
        );
        let reused = if rule.reused {
            "  reused (inputs unchanged)"
        } else {
            ""
        };
        writeln!(out, "{}{reused}", line.trim_end())?;
        if let Some(error) = &rule.error {
            let mut place = String::new();
            if let Some(source) = &error.source {
                place.push_str(&format!("{source}:"));
            }
            if let (Some(line), Some(column)) = (error.line, error.column) {
                place.push_str(&format!("{line}:{column}:"));
            }
            if place.is_empty() {
                writeln!(out, "    error: {}", error.message)?;
            } else {
                writeln!(out, "    error at {place} {}", error.message)?;
            }
        }
        for line in rule.output.lines() {
            writeln!(out, "    | {line}")?;
        }
        if rule.output_cut {
            writeln!(out, "    (output cut)")?;
        }
        for note in &rule.notes {
            writeln!(out, "    note: {note}")?;
        }
    }
    Ok(())
}

fn write_alert(
    out: &mut impl Write,
    n: usize,
    alert: &Wire,
    rule: Option<&str>,
) -> std::io::Result<()> {
    writeln!(
        out,
        "  {n}. {} \"{}\"{}",
        alert.alert_type.as_str(),
        alert.message,
        rule.map(|r| format!("  [{r}]")).unwrap_or_default()
    )?;
    for field in &alert.display_fields {
        writeln!(out, "     {}: {}", field.label, field.value)?;
    }
    if let Some(link) = &alert.link {
        writeln!(out, "     link {link}")?;
    }
    if let Some(mutation) = &alert.mutation {
        writeln!(out, "     mutation {mutation}")?;
    }
    writeln!(out, "     guid {}", alert.guid)
}

/// A body for reading: JSON re-indented (keys in their order, numbers as sent), other
/// text as it is, bytes that are not text by their count.
fn write_body(out: &mut impl Write, body: &[u8]) -> std::io::Result<()> {
    if body.is_empty() {
        return writeln!(out, "  (empty)");
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return writeln!(
            out,
            "  ({} bytes, not UTF-8 text; --raw writes them)",
            body.len()
        );
    };
    let shown = if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
        pretty(text)
    } else {
        text.to_string()
    };
    for line in shown.lines() {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}

/// Re-indents valid JSON text without parsing it into values, so the estimate reads as
/// sent: keys keep their order and numbers their digits.
fn pretty(json: &str) -> String {
    let mut out = String::with_capacity(json.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = json.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                    chars.next();
                }
                if matches!(chars.peek(), Some('}') | Some(']')) {
                    out.push(chars.next().expect("peeked"));
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_keeps_order_numbers_and_strings() {
        let json = r#"{"z":1.50,"a":[],"s":"a, b: {c} \"q\" [x]","o":{ },"l":[1, {"k":null}]}"#;
        assert_eq!(
            pretty(json),
            "{\n  \"z\": 1.50,\n  \"a\": [],\n  \"s\": \"a, b: {c} \\\"q\\\" [x]\",\n  \"o\": {},\n  \"l\": [\n    1,\n    {\n      \"k\": null\n    }\n  ]\n}"
        );
    }
}
