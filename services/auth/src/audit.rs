//! The audit trail: who changed what through the admin APIs, and the `AuditLog`
//! service that reads it back.
//!
//! The actor is a fingerprint of the admin credential (never the credential), plus
//! whatever the caller says about itself in `x-switchyard-actor` (the edge passes the
//! human or automation behind a shared admin token). Details are JSON of the request
//! fields and never contain a key secret.

use std::collections::HashMap;
use std::time::SystemTime;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchyard_proto::auth::v1::audit_log_server::AuditLog;
use switchyard_proto::auth::v1::{
    AuditRecord, Budget, BudgetPeriod, Key, Limits, ListAuditRequest, ListAuditResponse, Tenant,
};
use tonic::{Request, Response, Status};

use crate::{AuthError, AuthService};

/// The metadata a caller uses to say who is behind the admin token.
pub const ACTOR_HEADER: &str = "x-switchyard-actor";
const MAX_ACTOR_LEN: usize = 128;
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// Who made an admin call and under which request id: everything an audit record
/// needs from the call itself.
#[derive(Debug, Clone)]
pub(crate) struct AdminCall {
    pub(crate) actor: String,
    pub(crate) request_id: String,
}

impl AdminCall {
    /// Reads the actor and request id of an admin request whose token was checked.
    pub(crate) fn from_request<T>(request: &Request<T>) -> Self {
        let token = switchyard_grpc::bearer_token(request.metadata()).unwrap_or_default();
        let fingerprint = hex::encode(Sha256::digest(token.as_bytes()));
        let mut actor = format!("admin:{}", &fingerprint[..8]);
        if let Some(who) = request
            .metadata()
            .get(ACTOR_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            let who: String = who
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_ACTOR_LEN)
                .collect();
            actor.push_str(" as ");
            actor.push_str(&who);
        }
        Self {
            actor,
            request_id: switchyard_grpc::request_id(request),
        }
    }

    /// The record of one change by this call.
    pub(crate) fn record(&self, action: &str, target: String, detail: Value) -> AuditRecord {
        AuditRecord {
            // UUIDv7: time-ordered, and ordered within this process, so the tree's
            // byte order is the order of the changes.
            id: uuid::Uuid::now_v7().to_string(),
            time: Some(prost_types::Timestamp::from(SystemTime::now())),
            actor: self.actor.clone(),
            action: action.to_string(),
            target,
            detail: detail.to_string(),
            request_id: self.request_id.clone(),
        }
    }
}

/// The audit target of a key.
pub(crate) fn key_target(id: &str) -> String {
    format!("key:{id}")
}

/// The audit target of a tenant.
pub(crate) fn tenant_target(name: &str) -> String {
    format!("tenant:{name}")
}

pub(crate) fn time_json(t: Option<&prost_types::Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_string()))
}

pub(crate) fn limits_json(l: Option<&Limits>) -> Value {
    l.map_or(Value::Null, |l| {
        json!({
            "requests_per_minute": l.requests_per_minute,
            "tokens_per_minute": l.tokens_per_minute,
            "max_concurrent": l.max_concurrent,
        })
    })
}

pub(crate) fn budget_json(b: Option<&Budget>) -> Value {
    b.map_or(Value::Null, |b| {
        json!({
            "limit_micros": b.limit_micros,
            "period": BudgetPeriod::try_from(b.period)
                .map_or("UNKNOWN", |p| p.as_str_name()),
            "alert_percent": b.alert_percent,
        })
    })
}

fn labels_json(labels: &HashMap<String, String>) -> Value {
    json!(labels)
}

/// A tenant's fields (tenants hold no secrets).
pub(crate) fn tenant_json(t: &Tenant) -> Value {
    json!({
        "name": t.name,
        "allowed_models": t.allowed_models,
        "limits": limits_json(t.limits.as_ref()),
        "budget": budget_json(t.budget.as_ref()),
        "labels": labels_json(&t.labels),
    })
}

/// One masked field of a key update, as it was set.
pub(crate) fn key_field_json(key: &Key, path: &str) -> Value {
    match path.split_once('.').map_or(path, |(head, _)| head) {
        "name" => json!(key.name),
        "allowed_models" => json!(key.allowed_models),
        "limits" => limits_json(key.limits.as_ref()),
        "budget" => budget_json(key.budget.as_ref()),
        "expires_at" => time_json(key.expires_at.as_ref()),
        "labels" => labels_json(&key.labels),
        _ => Value::Null,
    }
}

/// One masked field of a tenant update, as it was set.
pub(crate) fn tenant_field_json(tenant: &Tenant, path: &str) -> Value {
    match path.split_once('.').map_or(path, |(head, _)| head) {
        "allowed_models" => json!(tenant.allowed_models),
        "limits" => limits_json(tenant.limits.as_ref()),
        "budget" => budget_json(tenant.budget.as_ref()),
        "labels" => labels_json(&tenant.labels),
        _ => Value::Null,
    }
}

/// An update's detail: the mask and the new value of each masked field.
pub(crate) fn update_json(paths: &[String], field: impl Fn(&str) -> Value) -> Value {
    let values: serde_json::Map<String, Value> =
        paths.iter().map(|p| (p.clone(), field(p))).collect();
    json!({ "update_mask": paths, "values": values })
}

#[tonic::async_trait]
impl AuditLog for AuthService {
    async fn list_audit(
        &self,
        request: Request<ListAuditRequest>,
    ) -> Result<Response<ListAuditResponse>, Status> {
        self.check_admin(request.metadata())?;
        let req = request.into_inner();
        let limit = match req.limit {
            0 => DEFAULT_LIMIT,
            n => usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
        };
        let store = self.store.clone();
        let records = tokio::task::spawn_blocking(move || store.audit(&req.target, limit))
            .await
            .map_err(|_| AuthError::Internal("audit read task failed"))??;
        Ok(Response::new(ListAuditResponse { records }))
    }
}
