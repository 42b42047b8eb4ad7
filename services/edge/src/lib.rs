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
//! `GET /v1/models/{id}`, `GET /healthz`, and the admin usage views over metering's
//! `UsageQuery`: `GET /admin/v1/usage/summary`, `/admin/v1/usage/records`,
//! `/admin/v1/usage/records/{request_id}` and `/admin/v1/usage/export` (JSONL or CSV,
//! streamed). [`usage`] holds their JSON and export formats, shared with the CLI.

mod body;
mod context;
mod convert;
mod error;
mod routes;
mod sse;
pub mod usage;
mod wire;

use axum::serve::ListenerExt;
use switchyard_config::{Config, EdgeConfig};
use switchyard_grpc::{GrpcChannel, GrpcError, MAX_MESSAGE_BYTES, connect_lazy};
use switchyard_proto::gateway::v1::gateway_client::GatewayClient;
use switchyard_proto::metering::v1::usage_query_client::UsageQueryClient;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use context::TAGS_HEADER;
pub use routes::PROVIDER_HEADER;

/// Why the edge could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// `edge.router_url` or `edge.metering_url` is not a usable gRPC URL.
    #[error(transparent)]
    Channel(#[from] GrpcError),
    /// The HTTP server failed.
    #[error("edge HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// The axum app over a Gateway channel and a metering `UsageQuery` channel (each
/// in-process or network).
///
/// The clients are built once here and cloned per request, so the hot path
/// allocates no channel or codec state.
pub fn app(gateway: GrpcChannel, usage: GrpcChannel, config: &EdgeConfig) -> axum::Router {
    let gateway = GatewayClient::new(gateway)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let usage = UsageQueryClient::new(usage)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    routes::router(routes::AppState {
        gateway,
        usage,
        max_body_bytes: config.max_body_bytes,
    })
}

/// Serves the edge alone (split shape): connects lazily to `edge.router_url` and
/// `edge.metering_url`, so the edge may start before either; until one is reachable
/// the routes that need it answer 503.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    shutdown: CancellationToken,
) -> Result<(), EdgeError> {
    let gateway = connect_lazy("edge.router_url", &config.edge.router_url)?;
    let usage = connect_lazy("edge.metering_url", &config.edge.metering_url)?;
    serve_with(listener, &config.edge, gateway, usage, shutdown).await
}

/// Serves the edge over given Gateway and `UsageQuery` channels (the all-in-one shape
/// passes the router and metering in process). On `shutdown` it stops accepting and
/// lets in-flight requests, streams and exports included, finish.
pub async fn serve_with(
    listener: TcpListener,
    config: &EdgeConfig,
    gateway: GrpcChannel,
    usage: GrpcChannel,
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
    axum::serve(listener, app(gateway, usage, config))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(EdgeError::Serve)
}
