//! Process start-up, written once for the `switchyard` command and the five
//! per-service binaries (`switchyard-edge`, `switchyard-router`, `switchyard-auth`,
//! `switchyard-metering`, `switchyard-provider-adapter`): read the config, start
//! telemetry and the optional `/metrics` listener, turn SIGTERM / Ctrl-C into a
//! graceful drain, and exit with status 2 and the exact config key on a bad start.

mod background;
mod reload;
#[cfg(feature = "testing")]
pub mod testing;

pub use background::BackgroundRuntime;
pub use reload::{Check, ConfigUpdates, follow, next_config, watch_config};

use std::future::Future;
use std::process::ExitCode;

use anyhow::Context;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use clap::Parser;
use switchyard_config::{Config, TelemetryConfig};
use switchyard_telemetry::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The async runtime a command runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// A worker thread per CPU: serving, and every command that waits on the
    /// network.
    PerCpu,
    /// This thread only: a load generator, whose every cross-thread wake-up would
    /// be CPU taken from the gateway it measures on the same machine.
    One,
}

/// Runs `main` on a multi-threaded runtime and maps its error to exit status 2.
pub fn run_main<Fut>(main: Fut) -> ExitCode
where
    Fut: Future<Output = anyhow::Result<()>>,
{
    run_main_on(Threads::PerCpu, main)
}

/// Runs `main` on the runtime `threads` names and maps its error to exit status 2.
pub fn run_main_on<Fut>(threads: Threads, main: Fut) -> ExitCode
where
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut builder = match threads {
        Threads::PerCpu => tokio::runtime::Builder::new_multi_thread(),
        Threads::One => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(main) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Cancels `token` on Ctrl-C or SIGTERM, starting a graceful drain.
pub async fn signal_to_cancel(token: CancellationToken) {
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

/// Cancels `token` once standard input reaches its end (or cannot be read),
/// starting the same graceful drain as SIGTERM: a parent that holds the other end
/// of a pipe stops the process by exiting, however it exits — a SIGKILL
/// included, which no signal handler of the parent's could pass on. What is
/// written to the pipe is read and ignored. It reads on a thread of its own, not
/// the runtime's blocking pool, whose shutdown would wait for a read that may
/// never end.
pub fn cancel_when_stdin_closes(token: CancellationToken) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("stdin-watch".into())
        .spawn(move || {
            use std::io::Read;
            let mut stdin = std::io::stdin().lock();
            let mut ignored = [0u8; 512];
            loop {
                match stdin.read(&mut ignored) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            tracing::info!("standard input closed: draining in-flight requests");
            token.cancel();
        })?;
    Ok(())
}

/// Starts the Prometheus `GET /metrics` listener when `telemetry.metrics_listen`
/// is set, logging its bound address as `metrics serving`.
pub async fn start_metrics(
    config: &TelemetryConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Some(addr) = &config.metrics_listen else {
        return Ok(());
    };
    let handle = switchyard_telemetry::install_metrics()?;
    let listener = TcpListener::bind(addr).await.with_context(|| {
        format!("config key `telemetry.metrics_listen`: cannot listen on {addr}")
    })?;
    tracing::info!(
        metrics = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        "metrics serving"
    );
    tokio::spawn(serve_metrics(listener, handle, shutdown));
    Ok(())
}

async fn serve_metrics(
    listener: TcpListener,
    handle: PrometheusHandle,
    shutdown: CancellationToken,
) {
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let body = handle.render();
            async move { ([(CONTENT_TYPE, "text/plain; version=0.0.4")], body) }
        }),
    );
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!(error = %e, "metrics endpoint failed");
    }
}

/// The command line of a per-service binary.
#[derive(Debug, Parser)]
struct ServiceArgs {
    /// Configuration file.
    #[arg(
        long,
        short,
        env = "SWITCHYARD_CONFIG",
        default_value = "deploy/switchyard.toml"
    )]
    config: String,
}

/// The whole `main` of a per-service binary: `name` is the process name, `listen`
/// gives the config key and address of the service's listener (a socket passed with
/// `LISTEN_FDS` is used instead when there is one), and `serve` runs the service
/// until the token is cancelled.
pub fn service_main<F, Fut, E>(
    name: &'static str,
    listen: fn(&Config) -> (&'static str, String),
    serve: F,
) -> ExitCode
where
    F: FnOnce(TcpListener, Config, CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    // Read passed sockets before any thread starts: reading them edits the environment.
    let mut passed = listenfd::ListenFd::from_env();
    let args = ServiceArgs::parse();
    run_main(async move {
        let config = switchyard_config::load_file(&args.config)?;
        let _telemetry = switchyard_telemetry::init(name, &config.telemetry)?;
        let (key, addr) = listen(&config);
        let listener = match passed.take_tcp_listener(0).ok().flatten() {
            Some(std_listener) => {
                std_listener.set_nonblocking(true)?;
                TcpListener::from_std(std_listener)?
            }
            None => TcpListener::bind(&addr)
                .await
                .with_context(|| format!("config key `{key}`: cannot listen on {addr}"))?,
        };
        let shutdown = CancellationToken::new();
        tokio::spawn(signal_to_cancel(shutdown.clone()));
        start_metrics(&config.telemetry, shutdown.clone()).await?;
        tracing::info!(
            service = name,
            addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            "serving"
        );
        serve(listener, config, shutdown).await?;
        tracing::info!(service = name, "stopped cleanly");
        Ok(())
    })
}
