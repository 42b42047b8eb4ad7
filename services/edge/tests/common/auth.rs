//! A scripted fake of auth's admin API (`KeyAdmin`, `TenantAdmin`, `AuditLog`) served
//! through one `tonic::service::Routes`, as the all-in-one shape serves the real one:
//! records every call (message and metadata), answers as told or with an echo.

use std::sync::{Arc, Mutex};

use switchyard_proto::auth::v1 as pb;
use switchyard_proto::auth::v1::audit_log_server::{AuditLog, AuditLogServer};
use switchyard_proto::auth::v1::key_admin_server::{KeyAdmin, KeyAdminServer};
use switchyard_proto::auth::v1::tenant_admin_server::{TenantAdmin, TenantAdminServer};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

/// One call the fake received, with its message (the metadata travels beside it).
#[derive(Debug, Clone)]
pub enum AuthCall {
    CreateTenant(pb::CreateTenantRequest),
    GetTenant(pb::GetTenantRequest),
    ListTenants,
    UpdateTenant(pb::UpdateTenantRequest),
    DisableTenant(pb::DisableTenantRequest),
    EnableTenant(pb::EnableTenantRequest),
    CreateKey(pb::CreateKeyRequest),
    ListKeys(pb::ListKeysRequest),
    GetKey(pb::GetKeyRequest),
    RevokeKey(pb::RevokeKeyRequest),
    UpdateKey(pb::UpdateKeyRequest),
    RotateKey(pb::RotateKeyRequest),
    ListAudit(pb::ListAuditRequest),
}

#[derive(Default)]
struct Script {
    calls: Vec<(MetadataMap, AuthCall)>,
    fail: Option<Status>,
    keys: Vec<pb::Key>,
    tenants: Vec<pb::Tenant>,
    audit: Vec<pb::AuditRecord>,
}

/// The fake; clones share the script.
#[derive(Clone, Default)]
pub struct FakeAuth {
    script: Arc<Mutex<Script>>,
}

impl FakeAuth {
    /// All three services in one router, for one in-process channel.
    pub fn routes(&self) -> tonic::service::Routes {
        tonic::service::Routes::default()
            .add_service(KeyAdminServer::new(self.clone()))
            .add_service(TenantAdminServer::new(self.clone()))
            .add_service(AuditLogServer::new(self.clone()))
    }
    /// The next call fails with `status`.
    pub fn fail_next(&self, status: Status) {
        self.script.lock().unwrap().fail = Some(status);
    }
    pub fn answer_keys(&self, keys: Vec<pb::Key>) {
        self.script.lock().unwrap().keys = keys;
    }
    pub fn answer_tenants(&self, tenants: Vec<pb::Tenant>) {
        self.script.lock().unwrap().tenants = tenants;
    }
    pub fn answer_audit(&self, records: Vec<pb::AuditRecord>) {
        self.script.lock().unwrap().audit = records;
    }
    pub fn calls(&self) -> Vec<(MetadataMap, AuthCall)> {
        self.script.lock().unwrap().calls.clone()
    }
    pub fn last(&self) -> (MetadataMap, AuthCall) {
        self.calls().pop().expect("no call reached auth")
    }
    fn record<T>(&self, request: Request<T>, call: fn(T) -> AuthCall) -> Result<(), Status> {
        let (metadata, _, message) = request.into_parts();
        let mut script = self.script.lock().unwrap();
        script.calls.push((metadata, call(message)));
        script.fail.take().map_or(Ok(()), Err)
    }
}

pub fn ts(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

/// A full key, every field set; the secret is not a field of `Key` at all.
pub fn key(id: &str) -> pb::Key {
    pb::Key {
        id: id.into(),
        tenant: "acme".into(),
        name: "ci".into(),
        prefix: "sy-abc".into(),
        allowed_models: vec!["gpt-4o*".into()],
        created_at: Some(ts(1_769_817_600)),
        expires_at: Some(ts(1_769_904_000)),
        revoked_at: None,
        labels: [("team".to_string(), "search".to_string())].into(),
        limits: Some(pb::Limits {
            requests_per_minute: Some(60),
            tokens_per_minute: None,
            max_concurrent: Some(4),
        }),
        budget: Some(pb::Budget {
            limit_micros: 12_500_000,
            period: pb::BudgetPeriod::Monthly.into(),
            alert_percent: Some(80),
        }),
        replaced_by: String::new(),
        overlap_ends_at: None,
    }
}

pub fn tenant(name: &str) -> pb::Tenant {
    pb::Tenant {
        name: name.into(),
        allowed_models: vec!["chat-*".into()],
        limits: Some(pb::Limits {
            requests_per_minute: Some(600),
            tokens_per_minute: Some(100_000),
            max_concurrent: None,
        }),
        budget: Some(pb::Budget {
            limit_micros: 1_500_000,
            period: pb::BudgetPeriod::Daily.into(),
            alert_percent: None,
        }),
        labels: Default::default(),
        created_at: Some(ts(1_769_817_600)),
        disabled_at: None,
    }
}

pub const SECRET: &str = "sy-abc-this-is-the-secret";

#[tonic::async_trait]
impl TenantAdmin for FakeAuth {
    async fn create_tenant(
        &self,
        request: Request<pb::CreateTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let tenant = request.get_ref().tenant.clone().unwrap_or_default();
        self.record(request, AuthCall::CreateTenant)?;
        Ok(Response::new(pb::Tenant {
            created_at: Some(ts(1_769_817_600)),
            ..tenant
        }))
    }

    async fn get_tenant(
        &self,
        request: Request<pb::GetTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let name = request.get_ref().name.clone();
        self.record(request, AuthCall::GetTenant)?;
        Ok(Response::new(tenant(&name)))
    }

    async fn list_tenants(
        &self,
        request: Request<pb::ListTenantsRequest>,
    ) -> Result<Response<pb::ListTenantsResponse>, Status> {
        self.record(request, |_| AuthCall::ListTenants)?;
        let tenants = self.script.lock().unwrap().tenants.clone();
        Ok(Response::new(pb::ListTenantsResponse { tenants }))
    }

    async fn update_tenant(
        &self,
        request: Request<pb::UpdateTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let tenant = request.get_ref().tenant.clone().unwrap_or_default();
        self.record(request, AuthCall::UpdateTenant)?;
        Ok(Response::new(tenant))
    }

    async fn disable_tenant(
        &self,
        request: Request<pb::DisableTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let name = request.get_ref().name.clone();
        self.record(request, AuthCall::DisableTenant)?;
        Ok(Response::new(pb::Tenant {
            disabled_at: Some(ts(1_769_900_000)),
            ..tenant(&name)
        }))
    }

    async fn enable_tenant(
        &self,
        request: Request<pb::EnableTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let name = request.get_ref().name.clone();
        self.record(request, AuthCall::EnableTenant)?;
        Ok(Response::new(tenant(&name)))
    }
}

#[tonic::async_trait]
impl KeyAdmin for FakeAuth {
    async fn create_key(
        &self,
        request: Request<pb::CreateKeyRequest>,
    ) -> Result<Response<pb::CreateKeyResponse>, Status> {
        let tenant = request.get_ref().tenant.clone();
        self.record(request, AuthCall::CreateKey)?;
        Ok(Response::new(pb::CreateKeyResponse {
            key: Some(pb::Key {
                tenant,
                ..key("k_new")
            }),
            secret: SECRET.into(),
        }))
    }

    async fn list_keys(
        &self,
        request: Request<pb::ListKeysRequest>,
    ) -> Result<Response<pb::ListKeysResponse>, Status> {
        self.record(request, AuthCall::ListKeys)?;
        let keys = self.script.lock().unwrap().keys.clone();
        Ok(Response::new(pb::ListKeysResponse { keys }))
    }

    async fn get_key(
        &self,
        request: Request<pb::GetKeyRequest>,
    ) -> Result<Response<pb::Key>, Status> {
        let id = request.get_ref().key_id.clone();
        self.record(request, AuthCall::GetKey)?;
        Ok(Response::new(key(&id)))
    }

    async fn revoke_key(
        &self,
        request: Request<pb::RevokeKeyRequest>,
    ) -> Result<Response<pb::Key>, Status> {
        let id = request.get_ref().key_id.clone();
        self.record(request, AuthCall::RevokeKey)?;
        Ok(Response::new(pb::Key {
            revoked_at: Some(ts(1_769_900_000)),
            ..key(&id)
        }))
    }

    async fn update_key(
        &self,
        request: Request<pb::UpdateKeyRequest>,
    ) -> Result<Response<pb::Key>, Status> {
        let key = request.get_ref().key.clone().unwrap_or_default();
        self.record(request, AuthCall::UpdateKey)?;
        Ok(Response::new(key))
    }

    async fn rotate_key(
        &self,
        request: Request<pb::RotateKeyRequest>,
    ) -> Result<Response<pb::CreateKeyResponse>, Status> {
        self.record(request, AuthCall::RotateKey)?;
        Ok(Response::new(pb::CreateKeyResponse {
            key: Some(key("k_rotated")),
            secret: SECRET.into(),
        }))
    }
}

#[tonic::async_trait]
impl AuditLog for FakeAuth {
    async fn list_audit(
        &self,
        request: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditResponse>, Status> {
        self.record(request, AuthCall::ListAudit)?;
        let records = self.script.lock().unwrap().audit.clone();
        Ok(Response::new(pb::ListAuditResponse { records }))
    }
}
