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
    tokio::spawn(signal_to_cancel(shutdown.clone()));
    if let Some(addr) = &config.telemetry.metrics_listen {
        let handle = switchyard_telemetry::install_metrics()?;
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("config key `telemetry.metrics_listen`: cannot listen on {addr}")
        })?;
        tracing::info!(
            metrics = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            "metrics serving"
        );
        tokio::spawn(switchyard::serve_metrics(
            listener,
            handle,
            shutdown.clone(),
        ));
    }
    switchyard::run(&config, &args.services, listeners, shutdown)
        .await
        .context("serving")?;
    tracing::info!("switchyard stopped cleanly");
    Ok(())
}

/// Cancels `token` on Ctrl-C or SIGTERM, starting a graceful drain.
async fn signal_to_cancel(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown requested: draining in-flight requests");
    token.cancel();
}
