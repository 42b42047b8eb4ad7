//! The `Auth` gRPC service: admission on the request path.

use std::sync::Arc;
use std::time::SystemTime;

use subtle::ConstantTimeEq;
use switchyard_config::{Config, Secret};
use switchyard_grpc::AdminToken;
use switchyard_grpc::MAX_MESSAGE_BYTES;
use switchyard_proto::auth::v1::audit_log_server::AuditLogServer;
use switchyard_proto::auth::v1::auth_server::{Auth, AuthServer};
use switchyard_proto::auth::v1::key_admin_server::KeyAdminServer;
use switchyard_proto::auth::v1::tenant_admin_server::TenantAdminServer;
use switchyard_proto::auth::v1::{AuthenticateRequest, Principal, WatchChangesRequest};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::alerts::AlertHook;
use crate::key::{ParsedKey, hash};
use crate::quota::QuotaShard;
use crate::watch::{ChangeStream, Changes};
use crate::{AuthError, KeyStore, SledKeyStore, model_allowed};
use switchyard_proto::auth::v1::quota_server::QuotaServer;

/// The auth service state: the key store and the admin token. Cheap to clone.
#[derive(Clone)]
pub struct AuthService {
    pub(crate) store: Arc<dyn KeyStore>,
    pub(crate) admin: Arc<AdminToken>,
    /// The change stream routers watch to keep cached principals fresh.
    pub(crate) changes: Arc<Changes>,
    /// This replica's shard of the quota counters.
    pub(crate) quota: QuotaShard,
}

impl AuthService {
    /// Opens the sled store at `auth.data_dir` and reads the admin token per
    /// `[admin]` (none configured: the admin API refuses every call).
    pub fn open(config: &Config) -> Result<Self, AuthError> {
        let store = SledKeyStore::open(&config.auth.data_dir)?;
        let alerts = config
            .auth
            .alert_webhook_url
            .as_deref()
            .map(AlertHook::start)
            .transpose()?;
        let quota = QuotaShard::open(store.db(), alerts)?;
        Ok(Self {
            quota,
            store: Arc::new(store),
            admin: Arc::new(AdminToken::from_config(&config.admin)),
            changes: Arc::new(Changes::new(CancellationToken::new())),
        })
    }

    /// A service over any store (tests, other backends).
    /// Quota counters live in a temporary database. Must be called within a tokio
    /// runtime (the quota flusher is a task).
    pub fn with_store(store: Arc<dyn KeyStore>, admin_token: Option<Secret>) -> Self {
        let quota = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(AuthError::from)
            .and_then(|db| QuotaShard::open(&db, None));
        #[allow(clippy::expect_used)]
        let quota = quota.expect("a temporary sled database opens");
        Self {
            quota,
            store,
            admin: Arc::new(AdminToken::new(admin_token)),
            changes: Arc::new(Changes::new(CancellationToken::new())),
        }
    }

    /// Ends every `WatchChanges` stream when `shutdown` fires, so a router's
    /// long-lived watch cannot hold up a graceful drain. Call before the service is
    /// cloned into servers.
    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> Self {
        self.changes = Arc::new(Changes::new(shutdown));
        self
    }

    /// The generated `Auth` server.
    pub fn auth_server(&self) -> AuthServer<Self> {
        AuthServer::new(self.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// The generated `Quota` server (this replica's shard of the counters).
    pub fn quota_server(&self) -> QuotaServer<QuotaShard> {
        self.quota.server()
    }

    /// The generated `KeyAdmin` server.
    pub fn admin_server(&self) -> KeyAdminServer<Self> {
        KeyAdminServer::new(self.clone())
    }

    /// The generated `TenantAdmin` server.
    pub fn tenant_admin_server(&self) -> TenantAdminServer<Self> {
        TenantAdminServer::new(self.clone())
    }

    /// The generated `AuditLog` server.
    pub fn audit_server(&self) -> AuditLogServer<Self> {
        AuditLogServer::new(self.clone())
    }

    /// Makes every write durable (called on shutdown).
    pub async fn flush(&self) -> Result<(), AuthError> {
        self.quota.flush().await?;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.flush())
            .await
            .map_err(|_| AuthError::Internal("flush task failed"))?
    }

    /// Checks a key, its tenant and, when `model` is not empty, both allowlists
    /// (the tenant's and the key's: a model must pass each; empty allows all).
    pub fn authenticate(&self, api_key: &str, model: &str) -> Result<Principal, AuthError> {
        let parsed = ParsedKey::parse(api_key).ok_or(AuthError::InvalidKey)?;
        let stored = self.store.get(parsed.id)?.ok_or(AuthError::InvalidKey)?;
        let presented = hash(api_key);
        if !bool::from(presented.ct_eq(&stored.hash)) {
            return Err(AuthError::InvalidKey);
        }
        let key = stored.key.ok_or(AuthError::InvalidKey)?;
        let now = SystemTime::now();
        let passed = |t: Option<&prost_types::Timestamp>| {
            t.is_some_and(|t| SystemTime::try_from(*t).is_ok_and(|t| t <= now))
        };
        if key.revoked_at.is_some() {
            return Err(AuthError::Revoked(key.prefix));
        }
        if passed(key.expires_at.as_ref()) {
            return Err(AuthError::Expired(key.prefix));
        }
        // A rotated key without an end (never written so) is treated as ended.
        if !key.replaced_by.is_empty()
            && (key.overlap_ends_at.is_none() || passed(key.overlap_ends_at.as_ref()))
        {
            return Err(AuthError::Rotated(key.prefix));
        }
        // Keys created before tenants were stored have no tenant record: they keep
        // working, with no tenant-level restrictions, until the tenant is created.
        let tenant = self.store.tenant(&key.tenant)?.unwrap_or_default();
        if tenant.disabled_at.is_some() {
            return Err(AuthError::TenantDisabled(key.tenant));
        }
        let allowed = |patterns: &[String]| model.is_empty() || model_allowed(patterns, model);
        if !(allowed(&tenant.allowed_models) && allowed(&key.allowed_models)) {
            return Err(AuthError::ModelNotAllowed {
                prefix: key.prefix,
                model: model.to_string(),
            });
        }
        let valid_until = earliest(key.expires_at, key.overlap_ends_at);
        // The key's labels over its tenant's: what every request's usage carries.
        let mut labels = tenant.labels;
        labels.extend(key.labels);
        Ok(Principal {
            valid_until,
            tenant: key.tenant,
            key_id: key.id,
            key_prefix: key.prefix,
            allowed_models: key.allowed_models,
            labels,
            key_limits: key.limits,
            key_budget: key.budget,
            tenant_limits: tenant.limits,
            tenant_budget: tenant.budget,
            tenant_allowed_models: tenant.allowed_models,
        })
    }
}

/// The earlier of two optional times (unset: no such time).
fn earliest(
    a: Option<prost_types::Timestamp>,
    b: Option<prost_types::Timestamp>,
) -> Option<prost_types::Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if (a.seconds, a.nanos) <= (b.seconds, b.nanos) {
            a
        } else {
            b
        }),
        (a, b) => a.or(b),
    }
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn authenticate(
        &self,
        request: Request<AuthenticateRequest>,
    ) -> Result<Response<Principal>, Status> {
        let req = request.into_inner();
        let principal = AuthService::authenticate(self, &req.api_key, &req.model)?;
        Ok(Response::new(principal))
    }

    type WatchChangesStream = ChangeStream;

    async fn watch_changes(
        &self,
        _request: Request<WatchChangesRequest>,
    ) -> Result<Response<Self::WatchChangesStream>, Status> {
        Ok(Response::new(self.changes.watch()))
    }
}
