//! The router: Switchyard's public gRPC `Gateway` API.
//!
//! For every request it authenticates the key and checks the model allowlist (auth),
//! maps the requested model name to a configured deployment, calls the provider
//! adapter, prices the usage in integer micro-dollars, and hands exactly one usage
//! record per routed request to the shipper that delivers it to metering.

mod error;
mod gateway;
mod models;
mod outbox;
mod pricing;
mod record;
mod stream;
mod usage;
mod validate;

use std::time::Duration;

pub use error::RouterError;
pub use gateway::{COST_HEADER, Clients, PROVIDER_HEADER, Router};
pub use models::{Deployment, ModelEntry, ModelTable};
pub use outbox::Outbox;
pub use pricing::{ResolvedPrices, resolve as resolve_prices};
pub use usage::{ShippingTask, UsageShipper, UsageSink};

use switchyard_config::Config;
use switchyard_grpc::connect_lazy;
use switchyard_proto::metering::v1::metering_client::MeteringClient;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Health names the Gateway API reports.
pub const HEALTH_NAMES: &[&str] = &["switchyard.gateway.v1.Gateway"];

/// How long shutdown keeps trying to deliver queued usage records.
const USAGE_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A router and the task that ships its usage records. Opens the durable outbox at
/// `router.outbox_dir` (records left by a previous run are shipped).
pub fn build(config: &Config, clients: Clients) -> Result<(Router, UsageShipper), RouterError> {
    let prices = pricing::resolve(config)?;
    let outbox = Outbox::open(&config.router.outbox_dir, config.router.outbox_max_records)?;
    let (sink, shipper) = UsageShipper::new(
        outbox,
        MeteringClient::new(clients.metering),
        config.router.usage_batch_size,
        USAGE_SHUTDOWN_GRACE,
    );
    let router = Router::new(
        clients.auth,
        clients.provider,
        ModelTable::from_config(config, &prices),
        sink,
        prices.version,
        Duration::from_millis(config.router.stream_drain_timeout_ms),
    );
    Ok((router, shipper))
}

/// Serves `routes` (the Gateway plus any co-hosted admin services) and ships usage;
/// on `shutdown`, drains in-flight calls first, then delivers queued usage.
pub async fn serve_with(
    listener: TcpListener,
    routes: tonic::service::Routes,
    health_names: &[&str],
    shipper: UsageShipper,
    shutdown: CancellationToken,
) -> Result<(), RouterError> {
    let shipping = shipper.spawn();
    let served = switchyard_grpc::serve(listener, routes, health_names, shutdown).await;
    shipping.stop().await;
    served.map_err(RouterError::from)
}

/// Runs the router alone on `listener`, reaching auth, metering and the provider
/// adapter at their configured URLs.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    shutdown: CancellationToken,
) -> Result<(), RouterError> {
    let clients = Clients {
        auth: connect_lazy("router.auth_url", &config.router.auth_url)?,
        provider: connect_lazy("router.provider_url", &config.router.provider_url)?,
        metering: connect_lazy("router.metering_url", &config.router.metering_url)?,
    };
    let (router, shipper) = build(config, clients)?;
    let routes = tonic::service::Routes::default().add_service(router.gateway_server());
    serve_with(listener, routes, HEALTH_NAMES, shipper, shutdown).await
}
