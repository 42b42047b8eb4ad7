//! Admin request bodies, read strictly into auth's messages.
//!
//! Every body rejects unknown fields (a typo such as `limts` must not be dropped
//! silently on a call that changes limits or money), and every value is typed, so a
//! wrong type is a 400 naming its JSON path. Auth still validates meaning (names,
//! ranges); the edge only guarantees the shape.
//!
//! PATCH bodies are partial: a field PRESENT in the JSON is replaced whole and named
//! in the update mask; `null` clears it; an absent field is left alone. That needs
//! "absent" and "null" told apart, hence `Option<Option<T>>` with [`present`].

use std::collections::HashMap;

use prost_types::{FieldMask, Timestamp};
use serde::{Deserialize, Deserializer};
use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::auth::v1::{
    Budget, BudgetPeriod, CreateKeyRequest, Key, Limits, Tenant, UpdateKeyRequest,
    UpdateTenantRequest,
};

use crate::error::HttpError;

/// Deserializes a field that is present (possibly `null`) as `Some(..)`; with
/// `#[serde(default)]` an absent one stays `None`.
pub(crate) fn present<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// An RFC 3339 time string.
#[derive(Debug, Clone, Copy)]
pub struct Time(pub Timestamp);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let text = String::deserialize(de)?;
        text.parse::<Timestamp>().map(Time).map_err(|_| {
            serde::de::Error::custom("expected an RFC 3339 time such as 2026-01-31T00:00:00Z")
        })
    }
}

/// `{requests_per_minute?, tokens_per_minute?, max_concurrent?}`; unset is unlimited.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsBody {
    #[serde(default)]
    requests_per_minute: Option<u64>,
    #[serde(default)]
    tokens_per_minute: Option<u64>,
    #[serde(default)]
    max_concurrent: Option<u32>,
}

impl From<LimitsBody> for Limits {
    fn from(l: LimitsBody) -> Self {
        Self {
            requests_per_minute: l.requests_per_minute,
            tokens_per_minute: l.tokens_per_minute,
            max_concurrent: l.max_concurrent,
        }
    }
}

/// A budget period by its lowercase name.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum PeriodBody {
    Daily,
    Weekly,
    Monthly,
    Lifetime,
}

impl From<PeriodBody> for BudgetPeriod {
    fn from(p: PeriodBody) -> Self {
        match p {
            PeriodBody::Daily => Self::Daily,
            PeriodBody::Weekly => Self::Weekly,
            PeriodBody::Monthly => Self::Monthly,
            PeriodBody::Lifetime => Self::Lifetime,
        }
    }
}

/// `{limit_micros, period, alert_percent?}`: money as integer micro-dollars only, so
/// no float ever reaches a budget.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetBody {
    limit_micros: i64,
    period: PeriodBody,
    #[serde(default)]
    alert_percent: Option<u32>,
}

impl From<BudgetBody> for Budget {
    fn from(b: BudgetBody) -> Self {
        Self {
            limit_micros: b.limit_micros,
            period: BudgetPeriod::from(b.period).into(),
            alert_percent: b.alert_percent,
        }
    }
}

/// `POST /admin/v1/tenants`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantBody {
    name: String,
    #[serde(default)]
    allowed_models: Option<Vec<String>>,
    #[serde(default)]
    limits: Option<LimitsBody>,
    #[serde(default)]
    budget: Option<BudgetBody>,
    #[serde(default)]
    labels: Option<HashMap<String, String>>,
}

impl From<CreateTenantBody> for Tenant {
    fn from(b: CreateTenantBody) -> Self {
        Self {
            name: b.name,
            allowed_models: b.allowed_models.unwrap_or_default(),
            limits: b.limits.map(Into::into),
            budget: b.budget.map(Into::into),
            labels: b.labels.unwrap_or_default(),
            created_at: None,
            disabled_at: None,
        }
    }
}

/// `PATCH /admin/v1/tenants/{name}`: see the module docs for presence and `null`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    #[serde(default, deserialize_with = "present")]
    allowed_models: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    limits: Option<Option<LimitsBody>>,
    #[serde(default, deserialize_with = "present")]
    budget: Option<Option<BudgetBody>>,
    #[serde(default, deserialize_with = "present")]
    labels: Option<Option<HashMap<String, String>>>,
}

/// Collects the update mask: each present field's name, in a fixed order.
#[derive(Default)]
struct Mask(Vec<String>);

impl Mask {
    /// Notes `name` when `field` is present and returns its value (`None` when
    /// absent or `null`).
    fn take<T>(&mut self, name: &str, field: Option<Option<T>>) -> Option<T> {
        let value = field?;
        self.0.push(name.to_string());
        value
    }

    /// The mask, refusing an empty one: a FieldMask with no paths means "every
    /// field" to many servers, so an empty PATCH must not be forwarded as one.
    fn finish(self, fields: &str) -> Result<FieldMask, HttpError> {
        if self.0.is_empty() {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("The body changes nothing: send at least one of {fields}."),
            )
            .into());
        }
        Ok(FieldMask { paths: self.0 })
    }
}

impl TenantPatch {
    /// The update of tenant `name`.
    pub fn into_request(self, name: String) -> Result<UpdateTenantRequest, HttpError> {
        let mut mask = Mask::default();
        let tenant = Tenant {
            name,
            allowed_models: mask
                .take("allowed_models", self.allowed_models)
                .unwrap_or_default(),
            limits: mask.take("limits", self.limits).map(Into::into),
            budget: mask.take("budget", self.budget).map(Into::into),
            labels: mask.take("labels", self.labels).unwrap_or_default(),
            created_at: None,
            disabled_at: None,
        };
        Ok(UpdateTenantRequest {
            tenant: Some(tenant),
            update_mask: Some(mask.finish("allowed_models, limits, budget, labels")?),
        })
    }
}

/// `POST /admin/v1/keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    tenant: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    allowed_models: Option<Vec<String>>,
    #[serde(default)]
    expires_at: Option<Time>,
    #[serde(default)]
    labels: Option<HashMap<String, String>>,
    #[serde(default)]
    limits: Option<LimitsBody>,
    #[serde(default)]
    budget: Option<BudgetBody>,
    #[serde(default)]
    create_tenant: Option<bool>,
}

impl From<CreateKeyBody> for CreateKeyRequest {
    fn from(b: CreateKeyBody) -> Self {
        Self {
            tenant: b.tenant,
            name: b.name.unwrap_or_default(),
            allowed_models: b.allowed_models.unwrap_or_default(),
            expires_at: b.expires_at.map(|t| t.0),
            labels: b.labels.unwrap_or_default(),
            limits: b.limits.map(Into::into),
            budget: b.budget.map(Into::into),
            create_tenant: b.create_tenant.unwrap_or(false),
        }
    }
}

/// `PATCH /admin/v1/keys/{id}`: see the module docs for presence and `null`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPatch {
    #[serde(default, deserialize_with = "present")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    allowed_models: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    limits: Option<Option<LimitsBody>>,
    #[serde(default, deserialize_with = "present")]
    budget: Option<Option<BudgetBody>>,
    #[serde(default, deserialize_with = "present")]
    expires_at: Option<Option<Time>>,
    #[serde(default, deserialize_with = "present")]
    labels: Option<Option<HashMap<String, String>>>,
}

impl KeyPatch {
    /// The update of key `id`.
    pub fn into_request(self, id: String) -> Result<UpdateKeyRequest, HttpError> {
        let mut mask = Mask::default();
        let key = Key {
            id,
            name: mask.take("name", self.name).unwrap_or_default(),
            allowed_models: mask
                .take("allowed_models", self.allowed_models)
                .unwrap_or_default(),
            limits: mask.take("limits", self.limits).map(Into::into),
            budget: mask.take("budget", self.budget).map(Into::into),
            expires_at: mask.take("expires_at", self.expires_at).map(|t| t.0),
            labels: mask.take("labels", self.labels).unwrap_or_default(),
            ..Key::default()
        };
        Ok(UpdateKeyRequest {
            key: Some(key),
            update_mask: Some(
                mask.finish("name, allowed_models, limits, budget, expires_at, labels")?,
            ),
        })
    }
}

/// `POST /admin/v1/keys/{id}/rotate`; the body may be empty.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// How long the old key keeps working; unset: auth's default.
    #[serde(default)]
    pub overlap_seconds: Option<u32>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::body::parse_json;

    #[test]
    fn patch_mask_names_present_fields_and_null_clears() {
        let patch: KeyPatch =
            parse_json(br#"{"labels": null, "name": "x", "expires_at": null}"#).unwrap();
        let request = patch.into_request("k1".into()).unwrap();
        assert_eq!(
            request.update_mask.unwrap().paths,
            vec!["name", "expires_at", "labels"]
        );
        let key = request.key.unwrap();
        assert_eq!((key.id.as_str(), key.name.as_str()), ("k1", "x"));
        assert!(key.expires_at.is_none() && key.labels.is_empty());
    }

    #[test]
    fn an_empty_patch_is_refused() {
        let patch: TenantPatch = parse_json(b"{}").unwrap();
        assert!(patch.into_request("acme".into()).is_err());
    }
}
