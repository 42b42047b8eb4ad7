//! The HTTP routes and the stack around them.

mod admin_audit;
mod admin_keys;
mod admin_routes;
mod admin_tenants;
mod answer;
mod chat;
mod conversations;
mod embeddings;
mod key;
mod messages;
mod models;
mod params;
mod responses;
mod text_completions;
mod usage;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName};
use http::{HeaderValue, StatusCode};
use switchyard_grpc::{GatewayHandle, GrpcChannel, REQUEST_ID_HEADER};
use switchyard_proto::auth::v1::audit_log_client::AuditLogClient;
use switchyard_proto::auth::v1::key_admin_client::KeyAdminClient;
use switchyard_proto::auth::v1::tenant_admin_client::TenantAdminClient;
use switchyard_proto::gateway::v1::route_admin_client::RouteAdminClient;
use switchyard_proto::metering::v1::response_store_client::ResponseStoreClient;
use switchyard_proto::metering::v1::usage_query_client::UsageQueryClient;
use tower::ServiceBuilder;
use tower_http::cors::{Any, CorsLayer};

pub use crate::context::PROVIDER_HEADER;
use crate::context::{RequestContextLayer, SERVED_HEADERS, served};
use crate::error::{HttpError, unknown_route, wrong_method};

/// Copies [`SERVED_HEADERS`] from the router's answer metadata (straight into
/// the answer's headers: no map of their own on the request path).
fn with_served(mut response: Response, metadata: &tonic::metadata::MetadataMap) -> Response {
    for (name, value) in served(metadata) {
        response.headers_mut().insert(name, value);
    }
    response
}

/// What every handler shares. axum clones it for every request, so it holds
/// only what a clone leaves cheap: the Gateway client (an `Arc` in process) and
/// the admin clients behind one `Arc`. Held inline, the five admin clients cost
/// 23 of the 293 allocations of an all-in-one chat request (each channel clone
/// boxes its service again) for routes the request never takes.
#[derive(Clone)]
pub struct AppState {
    /// The Gateway client: the router in process, or over the network.
    pub gateway: GatewayHandle,
    /// The admin and usage routes' clients.
    pub admin: Arc<AdminClients>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Whether the Responses API may store answers (`edge.store_responses`).
    pub store_responses: bool,
}

/// The clients only the admin and usage routes use; a handler clones the one it
/// calls.
pub struct AdminClients {
    /// Metering's usage query API, for the admin routes.
    pub usage: UsageQueryClient<GrpcChannel>,
    /// Metering's stored Responses API answers, for `store`,
    /// `previous_response_id` and `/v1/responses/{id}`.
    pub responses: ResponseStoreClient<GrpcChannel>,
    /// Metering's conversations, for `/v1/conversations` and `conversation`.
    pub conversations: crate::responses::conversation::Client,
    /// Auth's key admin API, for the admin key routes.
    pub keys: KeyAdminClient<GrpcChannel>,
    /// Auth's tenant admin API, for the admin tenant routes.
    pub tenants: TenantAdminClient<GrpcChannel>,
    /// Auth's audit trail, for the admin audit route.
    pub audit: AuditLogClient<GrpcChannel>,
    /// The router's routes and deployment health, over the Gateway's channel.
    pub routes: RouteAdminClient<GrpcChannel>,
}

/// The routes, the OpenAI-shaped 404/405 fallbacks, and the layers.
///
/// Layers, outermost first:
/// 1. [`RequestContextLayer`]: request id, span and trace parent, so every answer —
///    CORS preflights and fallbacks included — carries `x-request-id` and is logged
///    in its request's span.
/// 2. CORS: keys are bearer tokens, never cookies, so any origin may call (as the
///    OpenAI API allows); preflights are answered here without reaching a handler.
///    No `Vary`: with every origin, method and header allowed (`*`), the CORS
///    headers are the same whatever the request sent, and the layer would
///    otherwise build the same `Vary` value anew for every answer.
pub fn router(state: AppState) -> Router {
    let cors = CorsLayer::new()
        .vary::<[HeaderName; 0]>([])
        .allow_origin(Any)
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers(
            [REQUEST_ID_HEADER]
                .into_iter()
                .chain(SERVED_HEADERS)
                .map(HeaderName::from_static)
                .chain([http::header::CONTENT_DISPOSITION])
                .collect::<Vec<_>>(),
        );
    Router::new()
        .route("/v1/chat/completions", post(chat::completions))
        .route("/v1/completions", post(text_completions::create))
        .route("/v1/messages", post(messages::create))
        .route("/v1/messages/count_tokens", post(messages::count_tokens))
        .route("/v1/responses", post(responses::create))
        .route("/v1/responses/input_tokens", post(responses::input_tokens))
        .route(
            "/v1/responses/{id}",
            get(responses::retrieve).delete(responses::delete),
        )
        .route(
            "/v1/responses/{id}/input_items",
            get(responses::input_items),
        )
        .route("/v1/responses/{id}/cancel", post(responses::cancel))
        .route("/v1/conversations", post(conversations::create))
        .route(
            "/v1/conversations/{id}",
            get(conversations::retrieve)
                .post(conversations::update)
                .delete(conversations::delete),
        )
        .route(
            "/v1/conversations/{id}/items",
            get(conversations::list_items).post(conversations::add_items),
        )
        .route(
            "/v1/conversations/{id}/items/{item_id}",
            get(conversations::retrieve_item).delete(conversations::delete_item),
        )
        .route("/v1/embeddings", post(embeddings::create))
        .route("/v1/key", get(key::info))
        .route("/v1/models", get(models::list))
        .route("/v1/models/{*id}", get(models::retrieve))
        .route("/admin/v1/usage/summary", get(usage::summary))
        .route("/admin/v1/usage/records", get(usage::records))
        .route("/admin/v1/usage/records/{request_id}", get(usage::record))
        .route("/admin/v1/usage/export", get(usage::export))
        .route(
            "/admin/v1/tenants",
            get(admin_tenants::list).post(admin_tenants::create),
        )
        .route(
            "/admin/v1/tenants/{name}",
            get(admin_tenants::get).patch(admin_tenants::update),
        )
        .route(
            "/admin/v1/tenants/{name}/disable",
            post(admin_tenants::disable),
        )
        .route(
            "/admin/v1/tenants/{name}/enable",
            post(admin_tenants::enable),
        )
        .route(
            "/admin/v1/keys",
            get(admin_keys::list).post(admin_keys::create),
        )
        .route(
            "/admin/v1/keys/{id}",
            get(admin_keys::get)
                .patch(admin_keys::update)
                .delete(admin_keys::revoke),
        )
        .route("/admin/v1/keys/{id}/rotate", post(admin_keys::rotate))
        .route("/admin/v1/audit", get(admin_audit::list))
        .route("/admin/v1/routes", get(admin_routes::list))
        .route("/healthz", get(healthz))
        // After the routes: it applies to the routes that exist when it is called.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(state)
        .layer(ServiceBuilder::new().layer(RequestContextLayer).layer(cors))
}

/// Liveness: the process serves HTTP. It does not call the router, so a router
/// outage does not restart healthy edges.
async fn healthz() -> Response {
    (
        StatusCode::OK,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

async fn not_found(request: Request) -> Response {
    unknown_route(request.method(), request.uri().path()).into_response()
}

async fn method_not_allowed(request: Request) -> Response {
    wrong_method(request.method(), request.uri().path()).into_response()
}

/// A 200 JSON answer from already-encoded bytes.
fn json_response(body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

/// Adds [`PROVIDER_HEADER`] when the router named the provider.
fn with_provider(mut response: Response, provider: &str) -> Response {
    if !provider.is_empty()
        && let Ok(value) = HeaderValue::from_str(provider)
    {
        response.headers_mut().insert(PROVIDER_HEADER, value);
    }
    response
}

/// A 200 server-sent-events answer over `body`.
fn event_stream(body: axum::body::Body, provider: Option<HeaderValue>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Reverse proxies (nginx) must not buffer the events.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    if let Some(provider) = provider {
        headers.insert(PROVIDER_HEADER, provider);
    }
    response
}

/// Marks an answer uncacheable: admin answers hold billing data or a key's secret.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An admin JSON answer with `status`, never cached.
fn admin_response<T: serde::Serialize>(
    status: StatusCode,
    value: &T,
) -> Result<Response, HttpError> {
    let mut response = no_store(json_response(encode(value)?));
    *response.status_mut() = status;
    Ok(response)
}

/// The one JSON encode of an answer.
fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, HttpError> {
    serde_json::to_vec(value).map_err(|e| {
        tracing::error!(error = %e, "response encoding failed");
        switchyard_error::ApiError::internal().into()
    })
}
