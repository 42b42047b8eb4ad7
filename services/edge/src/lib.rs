//! The edge: OpenAI-compatible HTTP/JSON in front of the public Gateway gRPC API.
//!
//! It owns wire compatibility and nothing else: it parses and validates OpenAI
//! requests (body limit, JSON paths in errors), translates them into Gateway messages,
//! forwards the caller's key, request id and trace to the router, and writes the
//! answers back — JSON, or server-sent events for streams — with every error rendered
//! from the one table in `switchyard_error`. It keeps no state and never judges a key:
//! the router decides, the edge maps.
//!
//! Routes: `POST /v1/chat/completions`, `POST /v1/embeddings`, `GET /v1/models`,
//! `GET /v1/models/{id}`, `GET /healthz`.

mod body;
mod context;
mod convert;
mod error;
mod routes;
mod sse;
mod wire;

use axum::serve::ListenerExt;
use switchyard_config::{Config, EdgeConfig};
use switchyard_grpc::{GrpcChannel, GrpcError, MAX_MESSAGE_BYTES, connect_lazy};
use switchyard_proto::gateway::v1::gateway_client::GatewayClient;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use context::TAGS_HEADER;
pub use routes::PROVIDER_HEADER;

/// Why the edge could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// `edge.router_url` is not a usable gRPC URL.
    #[error(transparent)]
    Router(#[from] GrpcError),
    /// The HTTP server failed.
    #[error("edge HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// The axum app over a Gateway channel (in-process or network).
///
/// The Gateway client is built once here and cloned per request, so the hot path
/// allocates no channel or codec state.
pub fn app(gateway: GrpcChannel, config: &EdgeConfig) -> axum::Router {
    let gateway = GatewayClient::new(gateway)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    routes::router(routes::AppState {
        gateway,
        max_body_bytes: config.max_body_bytes,
    })
}

/// Serves the edge alone (split shape): connects lazily to `edge.router_url`, so the
/// edge may start before the router; until it is reachable callers get 503.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    shutdown: CancellationToken,
) -> Result<(), EdgeError> {
    let gateway = connect_lazy("edge.router_url", &config.edge.router_url)?;
    serve_with(listener, &config.edge, gateway, shutdown).await
}

/// Serves the edge over a given Gateway channel (the all-in-one shape passes the
/// router in process). On `shutdown` it stops accepting and lets in-flight requests,
/// streams included, finish.
pub async fn serve_with(
    listener: TcpListener,
    config: &EdgeConfig,
    gateway: GrpcChannel,
    shutdown: CancellationToken,
) -> Result<(), EdgeError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "edge listening");
    }
    // Small SSE writes must not wait for Nagle.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    axum::serve(listener, app(gateway, config))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(EdgeError::Serve)
}
