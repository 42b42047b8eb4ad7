//! Command-line parsing and dispatch.

mod admin;
mod audit;
mod bench;
mod providers;
mod routes;
mod serve;
mod tenants;
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
    /// Create, list, update, rotate and revoke virtual keys (admin token required).
    Keys(admin::KeysArgs),
    /// Create, show, update, disable and enable tenants (admin token required).
    Tenants(tenants::TenantsArgs),
    /// Show the audit trail of admin changes (admin token required).
    Audit(audit::AuditArgs),
    /// Read usage: records, summaries and exports (admin token required).
    Usage(usage::UsageArgs),
    /// Check the configured providers: reachable, credential accepted, latency.
    Providers(providers::ProvidersArgs),
    /// Show each model's deployments and their health as the router sees it
    /// (admin token required).
    Routes(routes::RoutesArgs),
    /// Measure the latency Switchyard adds over calling the upstream directly,
    /// per shape and protocol, against an emulated upstream (loopback only).
    Bench(bench::BenchArgs),
}

pub async fn run(cli: Cli, passed: listenfd::ListenFd) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(&cli.config, args, passed).await,
        Command::Keys(args) => admin::keys(&cli.config, args).await,
        Command::Tenants(args) => tenants::run(&cli.config, args).await,
        Command::Audit(args) => audit::run(&cli.config, args).await,
        Command::Usage(args) => usage::run(&cli.config, args).await,
        Command::Providers(args) => providers::run(&cli.config, args).await,
        Command::Routes(args) => routes::run(&cli.config, args).await,
        Command::Bench(args) => bench::run(args).await,
    }
}
