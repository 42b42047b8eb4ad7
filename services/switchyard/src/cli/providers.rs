//! `switchyard providers check [--json] [--timeout-secs N]`: one minimal request to
//! every configured provider, from this machine with this config's credentials,
//! printed as a table (or JSON lines): reachable, credential accepted, latency.

use std::time::Duration;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct ProvidersArgs {
    #[command(subcommand)]
    command: ProvidersCommand,
}

#[derive(Debug, Subcommand)]
enum ProvidersCommand {
    /// Send a one-token request to each provider and report what it answered.
    Check {
        /// Give up on a provider after this long.
        #[arg(long, default_value_t = 20)]
        timeout_secs: u64,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    }
}

pub async fn run(config_path: &str, args: ProvidersArgs) -> anyhow::Result<()> {
    let ProvidersCommand::Check { timeout_secs, json } = args.command;
    let config = switchyard_config::load_file(config_path)?;
    let rows =
        switchyard_provider_adapter::check(&config, Duration::from_secs(timeout_secs)).await?;
    if json {
        for r in &rows {
            let line = serde_json::json!({
                "provider": r.provider,
                "kind": r.kind,
                "model": r.model,
                "reachable": r.reachable,
                "credential_accepted": r.credential,
                "latency_ms": r.latency.map(|l| l.as_millis() as u64),
                "note": r.note,
            });
            println!("{line}");
        }
    } else {
        println!(
            "{:<20} {:<18} {:<28} {:<10} {:<11} {:>9}  NOTE",
            "PROVIDER", "KIND", "MODEL", "REACHABLE", "CREDENTIAL", "LATENCY"
        );
        for r in &rows {
            let latency = r
                .latency
                .map(|l| format!("{} ms", l.as_millis()))
                .unwrap_or_else(|| "-".into());
            println!(
                "{:<20} {:<18} {:<28} {:<10} {:<11} {:>9}  {}",
                r.provider,
                r.kind,
                r.model.as_deref().unwrap_or("-"),
                yes_no(r.reachable),
                yes_no(r.credential),
                latency,
                r.note
            );
        }
    }
    // A script can tell a healthy set of providers from a broken one.
    if rows
        .iter()
        .any(|r| r.reachable == Some(false) || r.credential == Some(false))
    {
        anyhow::bail!("some providers are unreachable or refuse their credential");
    }
    Ok(())
}
