//! `switchyard serve`.

use anyhow::Context;
use clap::Args;
use switchyard::{Listeners, ServiceSet};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Services to run: `all` (in-process, the default) or a list such as
    /// `router,auth` (each on its own listener, reaching the rest over the network).
    #[arg(long, default_value = "all")]
    services: ServiceSet,
    /// Drain and stop when standard input reaches its end, as on SIGTERM: for a
    /// parent that owns the process through a pipe (`switchyard bench` starts its
    /// gateways so), so that they stop with it however it exits.
    #[arg(long)]
    stop_when_stdin_closes: bool,
}

pub async fn run(
    config_path: &str,
    args: ServeArgs,
    passed: listenfd::ListenFd,
) -> anyhow::Result<()> {
    let config = switchyard_config::load_file(config_path)?;
    let process_name = if args.services.is_all() {
        "switchyard".to_string()
    } else {
        format!("switchyard-{}", args.services)
    };
    let _telemetry = switchyard_telemetry::init(&process_name, &config.telemetry)?;
    let listeners = Listeners::bind(&config, &args.services, passed)?;
    let shutdown = CancellationToken::new();
    tokio::spawn(switchyard_bootstrap::signal_to_cancel(shutdown.clone()));
    if args.stop_when_stdin_closes {
        switchyard_bootstrap::cancel_when_stdin_closes(shutdown.clone())
            .context("cannot watch standard input")?;
    }
    switchyard_bootstrap::start_metrics(&config.telemetry, shutdown.clone()).await?;
    // SIGHUP and file changes reload providers, models and prices.
    let updates = switchyard_bootstrap::watch_config(
        config_path,
        config.clone(),
        switchyard::reload_checks(&args.services),
        shutdown.clone(),
    );
    switchyard::run_following(&config, &args.services, listeners, Some(updates), shutdown)
        .await
        .context("serving")?;
    tracing::info!("switchyard stopped cleanly");
    Ok(())
}
