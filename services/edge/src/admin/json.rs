//! Auth's admin messages as JSON answers.
//!
//! Borrowing views over the prost messages: the edge keeps no domain model of its
//! own, it only renames enums, formats times and money, and leaves out what must not
//! leave (no `Key` shape has a secret; only [`CreatedKeyJson`] carries one).

use std::collections::{BTreeMap, HashMap};

use prost_types::Timestamp;
use serde::Serialize;
use serde_json::Value;
use switchyard_proto::auth::v1::{
    AuditRecord, Budget, BudgetPeriod, CreateKeyResponse, Key, Limits, Tenant,
};

use crate::usage::usd;

/// A budget period as its lowercase name; `unspecified` only if auth sends none.
pub fn period_name(period: i32) -> &'static str {
    match BudgetPeriod::try_from(period) {
        Ok(BudgetPeriod::Daily) => "daily",
        Ok(BudgetPeriod::Weekly) => "weekly",
        Ok(BudgetPeriod::Monthly) => "monthly",
        Ok(BudgetPeriod::Lifetime) => "lifetime",
        _ => "unspecified",
    }
}

fn time(t: Option<&Timestamp>) -> Option<String> {
    t.map(ToString::to_string)
}

/// Sorted, so answers are stable byte for byte (proto maps have no order).
fn labels(map: &HashMap<String, String>) -> BTreeMap<&str, &str> {
    map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Rate limits; `null` means unlimited.
#[derive(Debug, Serialize)]
pub struct LimitsJson {
    /// Requests per minute.
    pub requests_per_minute: Option<u64>,
    /// Prompt plus completion tokens per minute.
    pub tokens_per_minute: Option<u64>,
    /// Requests in flight at once.
    pub max_concurrent: Option<u32>,
}

impl From<&Limits> for LimitsJson {
    fn from(l: &Limits) -> Self {
        Self {
            requests_per_minute: l.requests_per_minute,
            tokens_per_minute: l.tokens_per_minute,
            max_concurrent: l.max_concurrent,
        }
    }
}

/// A spending cap: exact micro-dollars, and the same amount as a decimal string for
/// people (never a float).
#[derive(Debug, Serialize)]
pub struct BudgetJson {
    /// The cap in micro-dollars.
    pub limit_micros: i64,
    /// The cap in dollars, six decimals.
    pub limit_usd: String,
    /// `daily`, `weekly`, `monthly` or `lifetime`.
    pub period: &'static str,
    /// Percent of the cap that raises a soft alert; `null`: none.
    pub alert_percent: Option<u32>,
}

impl From<&Budget> for BudgetJson {
    fn from(b: &Budget) -> Self {
        Self {
            limit_micros: b.limit_micros,
            limit_usd: usd(b.limit_micros),
            period: period_name(b.period),
            alert_percent: b.alert_percent,
        }
    }
}

/// A tenant.
#[derive(Debug, Serialize)]
pub struct TenantJson<'a> {
    /// The tenant's unique name.
    pub name: &'a str,
    /// Models or globs; empty allows every model.
    pub allowed_models: &'a [String],
    /// `null`: unlimited.
    pub limits: Option<LimitsJson>,
    /// `null`: no cap.
    pub budget: Option<BudgetJson>,
    /// Free-form labels.
    pub labels: BTreeMap<&'a str, &'a str>,
    /// When it was created.
    pub created_at: Option<String>,
    /// Whether its keys are refused (the same fact as `disabled_at`, for scripts).
    pub disabled: bool,
    /// Since when it is disabled.
    pub disabled_at: Option<String>,
}

impl<'a> From<&'a Tenant> for TenantJson<'a> {
    fn from(t: &'a Tenant) -> Self {
        Self {
            name: &t.name,
            allowed_models: &t.allowed_models,
            limits: t.limits.as_ref().map(LimitsJson::from),
            budget: t.budget.as_ref().map(BudgetJson::from),
            labels: labels(&t.labels),
            created_at: time(t.created_at.as_ref()),
            disabled: t.disabled_at.is_some(),
            disabled_at: time(t.disabled_at.as_ref()),
        }
    }
}

/// `{"tenants": [...]}`.
#[derive(Debug, Serialize)]
pub struct TenantListJson<'a> {
    /// Every tenant, in auth's order.
    pub tenants: Vec<TenantJson<'a>>,
}

impl<'a> TenantListJson<'a> {
    /// The list answer for `tenants`.
    pub fn new(tenants: &'a [Tenant]) -> Self {
        Self {
            tenants: tenants.iter().map(TenantJson::from).collect(),
        }
    }
}

/// A virtual key, without its secret (which auth does not keep).
#[derive(Debug, Serialize)]
pub struct KeyJson<'a> {
    /// The key's id (public).
    pub id: &'a str,
    /// The owning tenant.
    pub tenant: &'a str,
    /// A human name.
    pub name: &'a str,
    /// The short public prefix of the secret, to recognise it.
    pub prefix: &'a str,
    /// Models or globs; empty: whatever the tenant allows.
    pub allowed_models: &'a [String],
    /// When it was created.
    pub created_at: Option<String>,
    /// When it stops working on its own; `null`: never.
    pub expires_at: Option<String>,
    /// When it was revoked; `null`: not revoked.
    pub revoked_at: Option<String>,
    /// Free-form labels.
    pub labels: BTreeMap<&'a str, &'a str>,
    /// `null`: only the tenant's limits apply.
    pub limits: Option<LimitsJson>,
    /// `null`: only the tenant's budget applies.
    pub budget: Option<BudgetJson>,
    /// For a rotated key: its successor's id.
    pub replaced_by: Option<&'a str>,
    /// For a rotated key: when it stops working.
    pub overlap_ends_at: Option<String>,
}

impl<'a> From<&'a Key> for KeyJson<'a> {
    fn from(k: &'a Key) -> Self {
        Self {
            id: &k.id,
            tenant: &k.tenant,
            name: &k.name,
            prefix: &k.prefix,
            allowed_models: &k.allowed_models,
            created_at: time(k.created_at.as_ref()),
            expires_at: time(k.expires_at.as_ref()),
            revoked_at: time(k.revoked_at.as_ref()),
            labels: labels(&k.labels),
            limits: k.limits.as_ref().map(LimitsJson::from),
            budget: k.budget.as_ref().map(BudgetJson::from),
            replaced_by: (!k.replaced_by.is_empty()).then_some(k.replaced_by.as_str()),
            overlap_ends_at: time(k.overlap_ends_at.as_ref()),
        }
    }
}

/// `{"keys": [...]}`.
#[derive(Debug, Serialize)]
pub struct KeyListJson<'a> {
    /// The keys, in auth's order.
    pub keys: Vec<KeyJson<'a>>,
}

impl<'a> KeyListJson<'a> {
    /// The list answer for `keys`.
    pub fn new(keys: &'a [Key]) -> Self {
        Self {
            keys: keys.iter().map(KeyJson::from).collect(),
        }
    }
}

/// The answer of create and rotate: the key and, this once, its secret.
#[derive(Debug, Serialize)]
pub struct CreatedKeyJson<'a> {
    /// The new key.
    pub key: Option<KeyJson<'a>>,
    /// The full secret; auth keeps only its hash, so it cannot be shown again.
    pub secret: &'a str,
}

impl<'a> From<&'a CreateKeyResponse> for CreatedKeyJson<'a> {
    fn from(r: &'a CreateKeyResponse) -> Self {
        Self {
            key: r.key.as_ref().map(KeyJson::from),
            secret: &r.secret,
        }
    }
}

/// One admin change.
#[derive(Debug, Serialize)]
pub struct AuditJson<'a> {
    /// Time-ordered id.
    pub id: &'a str,
    /// When.
    pub time: Option<String>,
    /// Who (credential fingerprint, plus `x-switchyard-actor` when sent).
    pub actor: &'a str,
    /// The RPC, e.g. `KeyAdmin.RevokeKey`.
    pub action: &'a str,
    /// `key:<id>` or `tenant:<name>`.
    pub target: &'a str,
    /// The change as a JSON object (auth records it as JSON text); a string if it
    /// is not JSON, `null` if empty.
    pub detail: Value,
    /// The admin call's request id.
    pub request_id: &'a str,
}

impl<'a> From<&'a AuditRecord> for AuditJson<'a> {
    fn from(r: &'a AuditRecord) -> Self {
        let detail = if r.detail.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&r.detail).unwrap_or_else(|_| Value::String(r.detail.clone()))
        };
        Self {
            id: &r.id,
            time: time(r.time.as_ref()),
            actor: &r.actor,
            action: &r.action,
            target: &r.target,
            detail,
            request_id: &r.request_id,
        }
    }
}

/// `{"records": [...]}`, newest first.
#[derive(Debug, Serialize)]
pub struct AuditListJson<'a> {
    /// The records.
    pub records: Vec<AuditJson<'a>>,
}

impl<'a> AuditListJson<'a> {
    /// The list answer for `records`.
    pub fn new(records: &'a [AuditRecord]) -> Self {
        Self {
            records: records.iter().map(AuditJson::from).collect(),
        }
    }
}
