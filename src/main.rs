//! The `lookout` binary: parse arguments, run the command, exit with its code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    lookout::memory::no_huge_pages();
    lookout::tls::install_provider();
    let opts = match lookout::cli::Opts::try_parse() {
        Ok(opts) => opts,
        Err(err) => {
            let _ = err.print();
            return std::process::ExitCode::from(if err.use_stderr() {
                lookout::cli::TROUBLE
            } else {
                lookout::cli::OK
            });
        }
    };
    std::process::ExitCode::from(lookout::cli::run(opts))
}
