//! The metering service: the usage ledger.
//!
//! Routers send one `UsageRecord` per request. The ledger stores each request id at
//! most once (a repeat delivery is acknowledged but not rewritten) and acknowledges a
//! batch only after it is durable on disk, so a router may retry freely and usage is
//! neither lost nor double-counted. `UsageQuery` reads records back (admin token).

mod error;
mod ledger;
mod service;

pub use error::MeteringError;
pub use ledger::{Ledger, ListFilter, SledLedger};
pub use service::MeteringService;

use switchyard_config::Config;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Health names this service reports.
pub const HEALTH_NAMES: &[&str] = &[
    "switchyard.metering.v1.Metering",
    "switchyard.metering.v1.UsageQuery",
];

/// Runs metering alone on `listener` until `shutdown`, then drains calls and flushes.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    shutdown: CancellationToken,
) -> Result<(), MeteringError> {
    let service = MeteringService::open(config)?;
    let routes = tonic::service::Routes::default()
        .add_service(service.metering_server())
        .add_service(service.query_server());
    let served = switchyard_grpc::serve(listener, routes, HEALTH_NAMES, shutdown).await;
    service.flush().await?;
    served.map_err(MeteringError::from)
}
