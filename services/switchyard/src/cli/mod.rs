//! Command-line parsing and dispatch.

mod admin;
mod serve;
mod usage;

use clap::{Parser, Subcommand};

/// Switchyard: a self-hosted AI model gateway.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        long,
        short,
        global = true,
        env = "SWITCHYARD_CONFIG",
        default_value = "deploy/switchyard.toml"
    )]
    pub config: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway: every service in one process, or the ones named.
    Serve(serve::ServeArgs),
    /// Create, list and revoke virtual keys (admin token required).
    Keys(admin::KeysArgs),
    /// Read usage: records, summaries and exports (admin token required).
    Usage(usage::UsageArgs),
}

pub async fn run(cli: Cli, passed: listenfd::ListenFd) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(&cli.config, args, passed).await,
        Command::Keys(args) => admin::keys(&cli.config, args).await,
        Command::Usage(args) => usage::run(&cli.config, args).await,
    }
}
