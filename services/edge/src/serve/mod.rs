//! The HTTP server loop: accepts connections, serves each on a task of its own
//! (HTTP/1.1, or HTTP/2 with prior knowledge), and on shutdown stops accepting and
//! waits for every connection to finish what it is answering.
//!
//! It does what `axum::serve` does, with one difference: each connection's task
//! runs under [`OwnWakes`], so the wake-up hyper leaves behind with every request
//! body costs a repeated poll instead of a trip through the scheduler and a
//! woken idle thread (see [`switchyard_wakes`]).

use std::io;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use switchyard_wakes::OwnWakes;

/// How long accepting pauses after an error that is not the peer's (the process
/// out of file descriptors, say), so the loop does not spin on it.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` until `shutdown`, then drains.
pub async fn serve(listener: TcpListener, app: Router, shutdown: CancellationToken) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) if is_peer_error(&e) => continue,
            Err(e) => {
                tracing::error!(error = %e, "accept failed");
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                    () = shutdown.cancelled() => break,
                }
            }
        };
        // Small SSE writes must not wait for Nagle.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        // A `Router` clone shares its routes and layers (an `Arc`). Never
        // `with_state` per connection, as serving the `Router` itself through
        // `axum::serve` did: that deep-copied every route and layer, the CORS
        // policy included, and under a burst of connections was most of the
        // edge's memory.
        let service = TowerToHyperService::new(app.clone());
        let connection = builder
            .serve_connection(TokioIo::new(tcp), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(OwnWakes::new(async move {
            if let Err(e) = connection.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        }));
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Errors of one connection, not of the listener: the next accept may succeed.
fn is_peer_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
