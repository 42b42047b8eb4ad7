//! The metering service: the usage ledger.
//!
//! Routers send one `UsageRecord` per request. The ledger stores each request id at
//! most once (a repeat delivery is acknowledged but not rewritten) and acknowledges a
//! batch only after it is durable on disk, so a router may retry freely and usage is
//! neither lost nor double-counted. Hour / day / month aggregates per tenant, key,
//! model and provider are updated in the same transaction as each new record, so
//! `SummarizeUsage` answers from a few range scans. `UsageQuery` serves the operator
//! (admin token, any tenant) and tenants (a virtual key, resolved by auth, sees only
//! its own tenant). Raw records past `metering.retention_days` are deleted in the
//! background; aggregates are kept. `ResponseStore` keeps the Responses API's
//! stored answers (`store: true`) per tenant, for `metering.responses_retention_days`;
//! `ConversationStore` the Conversations API's conversations and items, until deleted.
//!
//! Files: `ledger` (the store trait), `sled_ledger` (its sled implementation), `runs`
//! (entries packed into runs, so sled holds few keys), `keys` (binary key layout), `buckets` (UTC calendar buckets), `aggregate` (totals),
//! `query` (summaries), `export` (streaming), `retention`, `access` (who may read
//! what), `service` (the gRPC handlers), `responses` and `response_service` (stored
//! Responses API answers), `conversations` and `conversation_service`
//! (conversations), `error` (the one mapping to the wire).

mod access;
mod aggregate;
mod buckets;
mod conversation_service;
mod conversations;
mod error;
mod export;
mod keys;
mod ledger;
mod query;
mod response_service;
mod responses;
mod retention;
mod runs;
mod service;
mod sled_ledger;
pub mod synthetic;

pub use conversations::{Conversations, ItemPage, SledConversations};
pub use error::MeteringError;
pub use export::ExportStream;
pub use ledger::{AggRow, AggScan, Dimension, Granularity, InsertOutcome, Ledger, ListFilter};
pub use responses::{Responses, SledResponses};
pub use service::MeteringService;
pub use sled_ledger::SledLedger;

use switchyard_config::Config;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Health names this service reports.
pub const HEALTH_NAMES: &[&str] = &[
    "switchyard.metering.v1.Metering",
    "switchyard.metering.v1.UsageQuery",
    "switchyard.metering.v1.ResponseStore",
    "switchyard.metering.v1.ConversationStore",
];

/// Runs metering alone on `listener` until `shutdown`, then drains calls, stops
/// retention and flushes.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    shutdown: CancellationToken,
) -> Result<(), MeteringError> {
    let auth = switchyard_grpc::connect_lazy("metering.auth_url", &config.metering.auth_url)?;
    let service = MeteringService::open(config, auth)?;
    let routes = tonic::service::Routes::default()
        .add_service(service.metering_server())
        .add_service(service.query_server())
        .add_service(service.responses_server())
        .add_service(service.conversations_server());
    let served = switchyard_grpc::serve(listener, routes, HEALTH_NAMES, shutdown).await;
    service.stop_background();
    service.flush().await?;
    served.map_err(MeteringError::from)
}
