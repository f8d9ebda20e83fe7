//! The command line: `Opts -> command -> exit code` (0 ok, 1 a check found a
//! failure, 2 bad usage, config or I/O).

mod certs;
mod check;
mod run;
mod serve;
mod sign;

use std::path::PathBuf;

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
    after_help = "Examples:\n  lookout serve                       serve ./rules over HTTPS on 0.0.0.0:8443\n  lookout check                       compile every rule set\n  lookout run default rules/samples/drybulk-single-cargo.json\n  lookout certs --host lookout.desk.local"
)]
pub struct Opts {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the webhook over HTTPS
    Serve(ServeArgs),
    /// Compile every rule set; print errors as path:line:col: message
    #[command(after_help = "Example:\n  lookout check --rules rules")]
    Check {
        /// The rules folder
        #[arg(long, env = "LOOKOUT_RULES", default_value = "rules")]
        rules: PathBuf,
    },
    /// Evaluate a rule set on an estimate file and print the exact response body
    #[command(
        after_help = "Example:\n  lookout run default rules/samples/drybulk-single-cargo.json --header x-imos-token:abc\n\nstdout is byte for byte what the server would answer; stderr has a per-rule trace."
    )]
    Run {
        /// Rule set name (a folder of the rules folder)
        ruleset: String,
        /// The estimate, as JSON
        estimate: PathBuf,
        /// A request header the rules can read, as NAME:VALUE (repeatable)
        #[arg(long = "header", value_name = "NAME:VALUE")]
        headers: Vec<String>,
        /// The rules folder
        #[arg(long, env = "LOOKOUT_RULES", default_value = "rules")]
        rules: PathBuf,
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
            rules,
        } => run::run(&rules, &ruleset, &estimate, &headers),
        Command::Sign { key_env, file } => sign::run(&key_env, &file),
        Command::Certs { out, hosts } => certs::run(&out, hosts),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            TROUBLE
        }
    }
}
