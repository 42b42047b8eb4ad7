//! `switchyard`: run the gateway, administer keys, read usage.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Sockets passed by a supervisor (LISTEN_FDS); read before any thread starts,
    // since reading them edits the environment.
    let passed = listenfd::ListenFd::from_env();
    let args = cli::Cli::parse();
    // The bench generates load on one thread (see `cli::bench::load`); everything
    // else runs on a worker per CPU.
    let threads = match args.command {
        cli::Command::Bench(_) => switchyard_bootstrap::Threads::One,
        _ => switchyard_bootstrap::Threads::PerCpu,
    };
    switchyard_bootstrap::run_main_on(threads, cli::run(args, passed))
}
