//! `switchyard`: run the gateway, administer keys, read usage.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Sockets passed by a supervisor (LISTEN_FDS); read before any thread starts,
    // since reading them edits the environment.
    let passed = listenfd::ListenFd::from_env();
    let args = cli::Cli::parse();
    switchyard_bootstrap::run_main(cli::run(args, passed))
}
