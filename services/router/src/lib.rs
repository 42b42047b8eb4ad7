//! The router: Switchyard's public gRPC `Gateway` API.
//!
//! For every request it authenticates the key and checks the model allowlist (auth),
//! maps the requested model name to a configured deployment, takes the request's
//! share of the caller's rate limits and budgets from leases granted by the owning
//! auth shard ([`admission`]), calls the provider adapter, prices the usage in
//! integer micro-dollars, and hands exactly one usage record per routed request to
//! the shipper that delivers it to metering.

pub mod admission;
mod attempts;
mod cache;
mod detach;
mod error;
mod gateway;
mod health;
mod journal;
mod models;
mod outbox;
mod pricing;
mod principals;
mod record;
mod retry;
mod routes;
mod stream;
mod trailers;
mod usage;
mod validate;

use std::time::Duration;

pub use error::RouterError;
pub use gateway::{
    ATTEMPTS_HEADER, COST_HEADER, Clients, PROVIDER_HEADER, Router, UPSTREAM_MODEL_HEADER,
};
pub use models::{Deployment, ModelEntry, ModelTable};
pub use outbox::Outbox;
pub use pricing::{ResolvedPrices, resolve as resolve_prices};
pub use routes::RoutesView;
pub use trailers::ServedTrailers;
pub use usage::{ShippingTask, UsageShipper, UsageSink};

use admission::Admission;
use switchyard_config::Config;
use switchyard_grpc::{GrpcChannel, ProviderHandle, connect_lazy};
use switchyard_proto::metering::v1::metering_client::MeteringClient;
use switchyard_proto::metering::v1::usage_query_client::UsageQueryClient;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Health names the Gateway API reports.
pub const HEALTH_NAMES: &[&str] = &[
    "switchyard.gateway.v1.Gateway",
    "switchyard.gateway.v1.RouteAdmin",
];

/// How long shutdown keeps trying to deliver queued usage records.
const USAGE_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The router's background work: shipping usage to metering, and settling leases
/// with the quota shards.
pub struct Background {
    shipper: UsageShipper,
    admission: Admission,
}

impl Background {
    /// Starts both tasks: the lease reports on the current runtime, the shipper on
    /// `usage` (see [`UsageShipper::spawn_on`]).
    pub fn spawn(self, usage: &tokio::runtime::Handle) -> BackgroundTask {
        let stop_reports = CancellationToken::new();
        BackgroundTask {
            reports: tokio::spawn(self.admission.run_reports(stop_reports.clone())),
            stop_reports,
            shipping: self.shipper.spawn_on(usage),
        }
    }
}

/// The running [`Background`].
pub struct BackgroundTask {
    reports: tokio::task::JoinHandle<()>,
    stop_reports: CancellationToken,
    shipping: ShippingTask,
}

impl BackgroundTask {
    /// Stops after the front doors drained: hands unspent leases back and settles
    /// the last requests, then delivers queued usage.
    pub async fn stop(self) {
        self.stop_reports.cancel();
        if self.reports.await.is_err() {
            tracing::error!("quota reporter panicked");
        }
        self.shipping.stop().await;
    }
}

/// A random id for this router process, as quota shards know it.
fn router_id() -> String {
    format!("router-{:016x}", rand::random::<u64>())
}

/// A router and its background work (see [`Background`]). Opens the durable outbox at
/// `router.outbox_dir` (records left by a previous run are shipped) and starts the
/// watch of auth's changes that keeps cached principals fresh, until `shutdown`
/// (so it must be called inside a Tokio runtime).
pub fn build(
    config: &Config,
    clients: Clients,
    shutdown: CancellationToken,
) -> Result<(Router, Background), RouterError> {
    let prices = pricing::resolve(config)?;
    let outbox = Outbox::open(
        &config.router.outbox_dir,
        config.router.outbox_max_records,
        config.router.outbox_sync == switchyard_config::OutboxSync::PerRequest,
        Duration::from_millis(config.router.outbox_flush_ms),
    )?;
    let (sink, shipper) = UsageShipper::new(
        outbox,
        MeteringClient::new(clients.metering.clone()),
        config.router.usage_batch_size,
        USAGE_SHUTDOWN_GRACE,
    );
    let admission = Admission::new(router_id(), clients.quota);
    let principal_cache = principals::PrincipalCache::new(
        clients.auth,
        Duration::from_millis(config.router.principal_cache_ttl_ms),
    );
    principal_cache.spawn_watch(shutdown);
    let router = Router::new(
        principal_cache,
        clients.provider,
        ModelTable::from_config(config, &prices),
        sink,
        Duration::from_millis(config.router.stream_drain_timeout_ms),
        admission.clone(),
        config.router.estimate_max_tokens,
        attempts::RetryPolicy {
            max_attempts: config.router.max_attempts,
            budget: retry::RetryBudget::new(
                config.router.retry_budget_percent,
                config.router.retry_budget_min_per_second,
            ),
            backoff: Duration::from_millis(config.router.retry_backoff_ms),
            backoff_max: Duration::from_millis(config.router.retry_backoff_max_ms),
        },
        health::Health::new(
            config.router.breaker_failures,
            Duration::from_millis(config.router.breaker_cooldown_ms),
        )
        .with_failure_rate(
            config.router.breaker_failure_rate_percent,
            config.router.breaker_min_requests,
            Duration::from_millis(config.router.breaker_window_ms),
        ),
        config.router.max_in_flight,
        cache::ResponseCache::new(config.router.cache_max_bytes),
        UsageQueryClient::new(clients.metering)
            .max_decoding_message_size(switchyard_grpc::MAX_MESSAGE_BYTES),
    );
    Ok((router, Background { shipper, admission }))
}

/// Serves `routes` (the Gateway plus any co-hosted admin services), ships usage and
/// settles leases; on `shutdown`, drains in-flight calls first, then hands leases
/// back and delivers queued usage.
pub async fn serve_with(
    listener: TcpListener,
    routes: tonic::service::Routes,
    health_names: &[&str],
    background: Background,
    shutdown: CancellationToken,
) -> Result<(), RouterError> {
    let usage = switchyard_bootstrap::BackgroundRuntime::start("usage-shipper")
        .map_err(RouterError::Shipper)?;
    let running = background.spawn(usage.handle());
    let served = switchyard_grpc::serve(listener, routes, health_names, shutdown).await;
    running.stop().await;
    served.map_err(RouterError::from)
}

/// Channels to the quota shards, named as configured (`router.quota_shards`, or
/// `router.auth_url` alone).
fn quota_shards(config: &Config) -> Result<Vec<(String, GrpcChannel)>, RouterError> {
    if config.router.quota_shards.is_empty() {
        let url = &config.router.auth_url;
        return Ok(vec![(url.clone(), connect_lazy("router.auth_url", url)?)]);
    }
    config
        .router
        .quota_shards
        .iter()
        .enumerate()
        .map(|(i, url)| {
            let key = format!("router.quota_shards[{i}]");
            Ok((url.clone(), connect_lazy(&key, url)?))
        })
        .collect()
}

/// Runs the router alone on `listener`, reaching auth, metering and the provider
/// adapter at their configured URLs.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    shutdown: CancellationToken,
) -> Result<(), RouterError> {
    serve_following(listener, config, None, shutdown).await
}

/// [`serve`], applying the routing configs published on `updates` (a reload)
/// while it runs.
pub async fn serve_following(
    listener: TcpListener,
    config: &Config,
    updates: Option<switchyard_bootstrap::ConfigUpdates>,
    shutdown: CancellationToken,
) -> Result<(), RouterError> {
    let clients = Clients {
        auth: connect_lazy("router.auth_url", &config.router.auth_url)?,
        provider: ProviderHandle::remote(connect_lazy(
            "router.provider_url",
            &config.router.provider_url,
        )?),
        metering: connect_lazy("router.metering_url", &config.router.metering_url)?,
        quota: quota_shards(config)?,
    };
    let (router, shipper) = build(config, clients, shutdown.clone())?;
    if let Some(updates) = updates {
        router.follow(updates, shutdown.clone());
    }
    let view = RoutesView::new(
        router.clone(),
        switchyard_grpc::AdminToken::from_config(&config.admin),
    );
    let routes = tonic::service::Routes::default()
        .add_service(router.gateway_server())
        .add_service(view.server());
    serve_with(listener, routes, HEALTH_NAMES, shipper, shutdown).await
}
