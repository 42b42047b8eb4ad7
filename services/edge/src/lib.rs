//! The edge: OpenAI-compatible HTTP/JSON in front of the public Gateway gRPC API.
//!
//! It owns wire compatibility and nothing else: it parses and validates OpenAI
//! requests (body limit, JSON paths in errors), translates them into Gateway messages,
//! forwards the caller's key, request id and trace to the router, and writes the
//! answers back — JSON, or server-sent events for streams — with every error rendered
//! from the one table in `switchyard_error`. It keeps no state and never judges a key:
//! the router decides, the edge maps.
//!
//! Routes: `POST /v1/chat/completions`, `POST /v1/completions` (legacy text
//! completions), `POST /v1/responses` and `/v1/responses/input_tokens` (the
//! Responses API; its stored answers, `GET` / `DELETE /v1/responses/{id}`, live in
//! metering's `ResponseStore`), `POST /v1/messages` (Anthropic Messages API,
//! in [`anthropic`]), `POST /v1/embeddings`, `GET /v1/models`,
//! `GET /v1/models/{id}`, `GET /healthz`, and the admin usage views over metering's
//! `UsageQuery`: `GET /admin/v1/usage/summary`, `/admin/v1/usage/records`,
//! `/admin/v1/usage/records/{request_id}` and `/admin/v1/usage/export` (JSONL or CSV,
//! streamed). [`usage`] holds their JSON and export formats, shared with the CLI.
//! The admin tenant, key and audit routes over auth's `TenantAdmin`, `KeyAdmin` and
//! `AuditLog` (`/admin/v1/tenants…`, `/admin/v1/keys…`, `/admin/v1/audit`) live in
//! `routes::admin_*`, their JSON in `admin`. `GET /admin/v1/routes` forwards to the
//! router's `RouteAdmin` (models, deployments, breakers) over the Gateway channel.

mod admin;
mod anthropic;
mod body;
mod context;
mod convert;
mod error;
mod responses;
mod routes;
mod serve;
mod sse;
pub mod usage;
mod wire;

use std::sync::Arc;

use switchyard_config::{Config, EdgeConfig};
use switchyard_grpc::{GatewayHandle, GrpcChannel, GrpcError, MAX_MESSAGE_BYTES, connect_lazy};
use switchyard_proto::auth::v1::audit_log_client::AuditLogClient;
use switchyard_proto::auth::v1::key_admin_client::KeyAdminClient;
use switchyard_proto::auth::v1::tenant_admin_client::TenantAdminClient;
use switchyard_proto::gateway::v1::route_admin_client::RouteAdminClient;
use switchyard_proto::metering::v1::response_store_client::ResponseStoreClient;
use switchyard_proto::metering::v1::usage_query_client::UsageQueryClient;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use context::TAGS_HEADER;
pub use routes::PROVIDER_HEADER;

/// Why the edge could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// `edge.router_url`, `edge.metering_url` or `edge.auth_url` is not a usable
    /// gRPC URL.
    #[error(transparent)]
    Channel(#[from] GrpcError),
}

/// What the edge calls, each in process or over the network.
pub struct Backends {
    /// The Gateway API: the request path.
    pub gateway: GatewayHandle,
    /// The router's `RouteAdmin` (the router's port serves it beside the Gateway; in
    /// process, its server on an in-process channel).
    pub routes: GrpcChannel,
    /// Metering's `UsageQuery` and `ResponseStore` (one metering endpoint, or one
    /// `tonic::service::Routes` in process).
    pub metering: GrpcChannel,
    /// Auth's `KeyAdmin`, `TenantAdmin` and `AuditLog` (one auth endpoint, or one
    /// `tonic::service::Routes` in process): one channel, because they are one
    /// service's admin API and share its connection.
    pub auth: GrpcChannel,
}

impl Backends {
    /// Everything over channels; `router` serves both the Gateway and `RouteAdmin`.
    pub fn channels(router: GrpcChannel, metering: GrpcChannel, auth: GrpcChannel) -> Self {
        Self {
            gateway: GatewayHandle::remote(router.clone()),
            routes: router,
            metering,
            auth,
        }
    }
}

/// The axum app over its [`Backends`]. The clients are built once here and cloned
/// per request, so the hot path allocates no channel or codec state.
pub fn app(backends: Backends, config: &EdgeConfig) -> axum::Router {
    let Backends {
        gateway,
        routes,
        metering,
        auth,
    } = backends;
    let routes = RouteAdminClient::new(routes).max_decoding_message_size(MAX_MESSAGE_BYTES);
    let usage = UsageQueryClient::new(metering.clone())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let responses = ResponseStoreClient::new(metering.clone())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let conversations = crate::responses::conversation::Client::new(metering)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    routes::router(routes::AppState {
        gateway,
        admin: Arc::new(routes::AdminClients {
            usage,
            responses,
            conversations,
            keys: KeyAdminClient::new(auth.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES),
            tenants: TenantAdminClient::new(auth.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
            audit: AuditLogClient::new(auth).max_decoding_message_size(MAX_MESSAGE_BYTES),
            routes,
        }),
        max_body_bytes: config.max_body_bytes,
        store_responses: config.store_responses,
    })
}

/// Serves the edge alone (split shape): connects lazily to `edge.router_url`,
/// `edge.metering_url` and `edge.auth_url`, so the edge may start before any of
/// them; until one is reachable the routes that need it answer 503.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    shutdown: CancellationToken,
) -> Result<(), EdgeError> {
    let gateway = connect_lazy("edge.router_url", &config.edge.router_url)?;
    let metering = connect_lazy("edge.metering_url", &config.edge.metering_url)?;
    let auth = connect_lazy("edge.auth_url", &config.edge.auth_url)?;
    serve_with(
        listener,
        &config.edge,
        Backends::channels(gateway, metering, auth),
        shutdown,
    )
    .await
}

/// Serves the edge over given [`Backends`] (the all-in-one shape passes the router,
/// metering and auth in process). On `shutdown` it stops accepting and lets
/// in-flight requests, streams and exports included, finish.
pub async fn serve_with(
    listener: TcpListener,
    config: &EdgeConfig,
    backends: Backends,
    shutdown: CancellationToken,
) -> Result<(), EdgeError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "edge listening");
    }
    serve::serve(listener, app(backends, config), shutdown).await;
    Ok(())
}
