//! The command line: `Opts -> command -> exit code` (0 ok, 1 a check found a
//! failure, 2 bad usage, config or I/O).

mod certs;
mod check;
mod helpers;
mod init;
mod local;
mod logs;
mod publish;
mod replay;
mod run;
mod send;
mod serve;
mod sign;
pub(crate) mod test;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

pub use serve::ServeArgs;

/// Exit codes.
pub const OK: u8 = 0;
pub const FOUND: u8 = 1;
pub const TROUBLE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "lookout",
    version,
    about = "A decision-webhook host for Veson IMOS voyage estimates",
    long_about = "lookout answers the Voyage Estimator's webhook over HTTPS: it checks the signature, runs the desk's Rhai rules in rules/<ruleset>/ under the 10-second budget, and answers with alert cards.",
    after_help = "Examples:\n  lookout serve                       serve ./rules over HTTPS on 0.0.0.0:8443\n  lookout init rules/drybulk          a new rule set with a rule, tests and a sample\n  lookout check                       compile every rule set\n  lookout test                        run every rule set's tests\n  lookout run default rules/samples/drybulk-single-cargo.json\n  lookout send https://localhost:8443/hooks/default rules/samples/drybulk-single-cargo.json --cacert certs/ca.pem\n  lookout logs --errors --since 24h   calls that failed in the last day\n  lookout replay --since 7d           last week's calls against the rules on disk\n  lookout publish -m \"why\"            a fleet: the rules folder as revisions in the shared store\n  lookout certs --host lookout.desk.local\n\nExit codes: 0 ok, 1 a check, test or call found a problem, 2 bad usage, configuration or I/O."
)]
pub struct Opts {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the webhook over HTTPS
    Serve(ServeArgs),
    /// Compile every rule set, lib module and data file; print errors as path:line:col: message
    #[command(
        after_help = "Example:\n  lookout check --rules rules\n\nExit 1 when anything does not compile; warnings (no api_keys, a literal key, an unknown ruleset.toml key) do not fail."
    )]
    Check {
        /// The rules folder
        #[arg(long, env = "LOOKOUT_RULES", default_value = "rules")]
        rules: PathBuf,
    },
    /// Evaluate a rule set on an estimate file and print the exact response body
    #[command(
        after_help = "Examples:\n  lookout run default rules/samples/drybulk-single-cargo.json --header x-imos-user:apatel\n  lookout run default my-estimate.json --watch\n  lookout run default rules/samples/mpp-tauranga.json --facts rules/default/tests/facts/tauranga.json\n\nstdout is byte for byte what the server would answer, then a newline (--pretty indents\nit); stderr has a per-rule trace:\nrule, outcome, time, Rhai operations, alerts, and what the rule printed (print/debug).\nWithout --facts, container_events, vessel_events and port_events find nothing; a facts\nfile is a JSON array of port events (format in rules/README.md, \"Port events\").\nExit 1 when a rule failed or ran out of time (--allow-errors keeps 0)."
    )]
    Run {
        /// Rule set name (a folder of the rules folder)
        ruleset: String,
        /// The estimate, as JSON
        estimate: PathBuf,
        /// A request header the rules can read, as NAME:VALUE (repeatable)
        #[arg(long = "header", value_name = "NAME:VALUE")]
        headers: Vec<String>,
        /// Port events the rules see: a JSON array of lookout events, Octopi bodies or PortConnect items
        #[arg(long, value_name = "FILE")]
        facts: Option<PathBuf>,
        /// The rules folder
        #[arg(long, env = "LOOKOUT_RULES", default_value = "rules")]
        rules: PathBuf,
        /// Run again whenever a rule, lib module, data file, the estimate or the facts change
        #[arg(long)]
        watch: bool,
        /// Print the answer indented, for reading
        #[arg(long)]
        pretty: bool,
        /// Exit 0 even when a rule failed or ran out of time
        #[arg(long)]
        allow_errors: bool,
    },
    /// Run the rule tests in rules/<ruleset>/tests/*.json
    #[command(
        after_help = "Examples:\n  lookout test                        every rule set's tests\n  lookout test default --filter laycan\n  lookout test --junit target/rule-tests.xml\n\nPrints `test <ruleset>/<name> ... ok` or `FAILED` with what differed; the last line is\n`N passed, N failed`. Exit 1 when a test fails. The test format is in rules/README.md."
    )]
    Test {
        /// Only this rule set
        ruleset: Option<String>,
        /// The rules folder
        #[arg(long, env = "LOOKOUT_RULES", default_value = "rules")]
        rules: PathBuf,
        /// Only tests whose `<ruleset>/<name>` contains this text
        #[arg(long, value_name = "TEXT")]
        filter: Option<String>,
        /// Also write a JUnit XML report here (for CI)
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Act as the Estimator: sign a body, POST it, print the status, headers, body and time
    #[command(
        after_help = "Example:\n  export LOOKOUT_KEY_DEFAULT=...\n  lookout send https://localhost:8443/hooks/default rules/samples/drybulk-single-cargo.json \\\n      --key-env LOOKOUT_KEY_DEFAULT --cacert certs/ca.pem --header x-imos-user:apatel\n\nOnly https:// is sent to unless --insecure-http; a redirect is printed, not followed,\nunless --follow-redirects (same scheme, host and port only).\n\nExit 1 when the answer is not 2xx (a redirect included), 2 when the call could not be made\nor was refused (http:// without --insecure-http)."
    )]
    Send {
        /// The webhook URL, e.g. https://localhost:8443/hooks/default
        url: String,
        /// The body to send (an estimate as JSON), exactly as it is on disk
        file: PathBuf,
        /// Environment variable holding the API key to sign with (unsigned without it)
        #[arg(long, value_name = "VAR")]
        key_env: Option<String>,
        /// Trust this CA certificate (PEM) instead of the system's, e.g. certs/ca.pem
        #[arg(long, value_name = "PEM")]
        cacert: Option<PathBuf>,
        /// An extra request header, as NAME:VALUE (repeatable): IMOS config flags
        #[arg(long = "header", value_name = "NAME:VALUE")]
        headers: Vec<String>,
        /// Give up after this many seconds
        #[arg(long, value_name = "SECONDS", default_value_t = 15)]
        timeout: u64,
        /// Allow an http:// URL. The body and its signature then travel in clear text,
        /// readable and replayable by anyone on the path; without this flag http:// is refused
        #[arg(long)]
        insecure_http: bool,
        /// Follow redirects: at most 5, and only to the same scheme, host and port (never to
        /// another host or port, never from https to http). Without it a 3xx answer is printed
        /// with its Location and not followed
        #[arg(long)]
        follow_redirects: bool,
    },
    /// List the request/response log, or show one call in full (`logs show <id>`)
    Logs(logs::LogsArgs),
    /// Replay logged calls against the rules on disk; exit 1 when any answer changed
    Replay(replay::ReplayArgs),
    /// Publish rule sets as revisions to a fleet's shared store (or as a candidate)
    Publish(publish::PublishArgs),
    /// A fleet's candidate revisions: list, show, promote, discard
    Candidate(publish::CandidateArgs),
    /// Retire a rule set from a fleet: no instance serves it until it is published again
    Retire(publish::RetireArgs),
    /// Make a new rule set: one rule, two tests and a sample estimate
    #[command(
        after_help = "Example:\n  lookout init rules/drybulk\n  lookout test drybulk\n\nThe folder name is the rule set's name and its URL: /hooks/<name>."
    )]
    Init {
        /// The new rule set's folder, e.g. rules/drybulk
        dir: PathBuf,
    },
    /// Print the Veson-Webhook-Signature value for a request body
    #[command(
        after_help = "Example:\n  LOOKOUT_KEY=... lookout sign --key-env LOOKOUT_KEY rules/samples/drybulk-single-cargo.json"
    )]
    Sign {
        /// Environment variable holding the API key
        #[arg(long, value_name = "VAR")]
        key_env: String,
        /// The body to sign, exactly as it will be sent
        file: PathBuf,
    },
    /// List the helpers rules can call: signatures, what each does, an example
    #[command(
        after_help = "Examples:\n  lookout helpers                 every helper, by category\n  lookout helpers date            those whose name contains `date`\n  lookout helpers --json          the same as JSON\n\nThe text is the manual's (rules/README.md, \"Helpers\")."
    )]
    Helpers {
        /// Only helpers whose name contains this
        name: Option<String>,
        /// Print JSON: [{category, signatures, summary, example}]
        #[arg(long)]
        json: bool,
    },
    /// Make a development CA and a server certificate
    #[command(
        after_help = "Example:\n  lookout certs --out certs --host localhost --host lookout.desk.local\n\nAn existing CA in the folder is reused, so clients that trust it keep working."
    )]
    Certs {
        /// Folder to write ca.pem, ca-key.pem, cert.pem and key.pem into
        #[arg(long, default_value = "certs")]
        out: PathBuf,
        /// A host name or IP address the certificate is for (repeatable; default localhost, 127.0.0.1, ::1)
        #[arg(long = "host", value_name = "NAME")]
        hosts: Vec<String>,
    },
}

/// Runs the command and returns the process exit code.
pub fn run(opts: Opts) -> u8 {
    let result = match opts.command {
        Command::Serve(args) => serve::run(args),
        Command::Check { rules } => check::run(&rules),
        Command::Run {
            ruleset,
            estimate,
            headers,
            facts,
            rules,
            watch,
            pretty,
            allow_errors,
        } => run::run(run::RunArgs {
            rules: &rules,
            ruleset: &ruleset,
            estimate: &estimate,
            headers: &headers,
            facts: facts.as_deref(),
            watch,
            pretty,
            allow_errors,
        }),
        Command::Test {
            ruleset,
            rules,
            filter,
            junit,
        } => test::run(test::TestArgs {
            rules: &rules,
            ruleset: ruleset.as_deref(),
            filter: filter.as_deref(),
            junit: junit.as_deref(),
        }),
        Command::Send {
            url,
            file,
            key_env,
            cacert,
            headers,
            timeout,
            insecure_http,
            follow_redirects,
        } => send::run(
            send::SendArgs {
                url: &url,
                file: &file,
                key_env: key_env.as_deref(),
                cacert: cacert.as_deref(),
                headers: &headers,
                timeout: Duration::from_secs(timeout.max(1)),
            },
            send::Transport {
                insecure_http,
                follow_redirects,
            },
        ),
        Command::Logs(args) => logs::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Publish(args) => publish::publish(args),
        Command::Candidate(args) => publish::candidate(args),
        Command::Retire(args) => publish::retire(args),
        Command::Init { dir } => init::run(&dir),
        Command::Sign { key_env, file } => sign::run(&key_env, &file),
        Command::Certs { out, hosts } => certs::run(&out, hosts),
        Command::Helpers { name, json } => helpers::run(name.as_deref(), json),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            TROUBLE
        }
    }
}
