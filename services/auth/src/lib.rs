//! The auth service: who is calling and whether they may use the model.
//!
//! Virtual keys are random (256-bit secret), shown once at creation and stored only as
//! a SHA-256 hash in sled; a presented key is found by its public id and its hash
//! compared in constant time. Four gRPC services: `Auth` (admission, called by
//! routers) and, behind the admin token, `KeyAdmin`, `TenantAdmin` and `AuditLog`
//! (every admin change is recorded with who made it).

mod admin;
mod alerts;
mod audit;
mod error;
mod key;
mod quota;
mod service;
mod store;
mod tenant;
mod validate;
mod watch;

#[cfg(test)]
mod tests;

pub use audit::ACTOR_HEADER;
pub use error::AuthError;
pub use key::{KEY_PREFIX, ParsedKey};
pub use quota::{DEAD_AFTER_MS, LEASE_MS, QuotaShard, REPORT_INTERVAL_MS, period_start};
pub use service::AuthService;
pub use store::{KeyStore, SledKeyStore, StoredKey, Write};
pub use switchyard_policy::model_allowed;

use switchyard_config::Config;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Health names this service reports.
pub const HEALTH_NAMES: &[&str] = &[
    "switchyard.auth.v1.Auth",
    "switchyard.auth.v1.KeyAdmin",
    "switchyard.auth.v1.TenantAdmin",
    "switchyard.auth.v1.AuditLog",
    "switchyard.auth.v1.Quota",
];

/// Runs auth alone on `listener` until `shutdown`, then drains calls and flushes
/// the store.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    shutdown: CancellationToken,
) -> Result<(), AuthError> {
    let service = AuthService::open(config)?.with_shutdown(shutdown.clone());
    let routes = tonic::service::Routes::default()
        .add_service(service.auth_server())
        .add_service(service.quota_server())
        .add_service(service.admin_server())
        .add_service(service.tenant_admin_server())
        .add_service(service.audit_server());
    let served = switchyard_grpc::serve(listener, routes, HEALTH_NAMES, shutdown).await;
    service.flush().await?;
    served.map_err(AuthError::from)
}
