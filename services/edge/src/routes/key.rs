//! `GET /v1/key`: the calling key as the gateway sees it — tenant, allowed
//! models, rate limits, and each budget with what the ledger has recorded
//! against it this period — over `Gateway.GetKeyInfo`. Any virtual key may ask
//! about itself; the answer never holds a secret.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchyard_proto::auth::v1::Limits;
use switchyard_proto::gateway::v1::{BudgetState, GetKeyInfoRequest, KeyInfo};

use super::{AppState, encode, json_response};
use crate::admin::json::{BudgetJson, LimitsJson};
use crate::context::Caller;
use crate::error::HttpError;
use crate::usage::usd;

/// The answer: the key and what holds it back.
#[derive(Serialize)]
struct KeyJson<'a> {
    /// Always `key`.
    object: &'static str,
    id: &'a str,
    prefix: &'a str,
    tenant: &'a str,
    /// The key's model allowlist; empty allows every model the tenant may use.
    allowed_models: &'a [String],
    /// The tenant's; empty allows every model.
    tenant_allowed_models: &'a [String],
    limits: Levels<LimitsJson>,
    budgets: Levels<BudgetStateJson>,
    /// When the key stops working on its own; `null`: never.
    valid_until: Option<String>,
}

/// The key's own and its tenant's; `null` where that level sets none.
#[derive(Serialize)]
struct Levels<T> {
    key: Option<T>,
    tenant: Option<T>,
}

/// A budget, its current period, and the spend recorded in it.
#[derive(Serialize)]
struct BudgetStateJson {
    #[serde(flatten)]
    budget: Option<BudgetJson>,
    /// Start of the period now running (UTC).
    period_start: Option<String>,
    /// Cost of the usage records in the ledger since `period_start`.
    spent_micros: i64,
    spent_usd: String,
    /// The limit minus the spend; negative when the last requests' final cost
    /// went past it.
    remaining_micros: i64,
    remaining_usd: String,
}

impl From<&BudgetState> for BudgetStateJson {
    fn from(b: &BudgetState) -> Self {
        Self {
            budget: b.budget.as_ref().map(BudgetJson::from),
            period_start: b.period_start.as_ref().map(ToString::to_string),
            spent_micros: b.spent_micros,
            spent_usd: usd(b.spent_micros),
            remaining_micros: b.remaining_micros,
            remaining_usd: usd(b.remaining_micros),
        }
    }
}

fn levels<'a, P: 'a, T: From<&'a P>>(key: Option<&'a P>, tenant: Option<&'a P>) -> Levels<T> {
    Levels {
        key: key.map(T::from),
        tenant: tenant.map(T::from),
    }
}

impl<'a> From<&'a KeyInfo> for KeyJson<'a> {
    fn from(k: &'a KeyInfo) -> Self {
        Self {
            object: "key",
            id: &k.key_id,
            prefix: &k.key_prefix,
            tenant: &k.tenant,
            allowed_models: &k.allowed_models,
            tenant_allowed_models: &k.tenant_allowed_models,
            limits: levels::<Limits, _>(k.key_limits.as_ref(), k.tenant_limits.as_ref()),
            budgets: levels::<BudgetState, _>(k.key_budget.as_ref(), k.tenant_budget.as_ref()),
            valid_until: k.valid_until.as_ref().map(ToString::to_string),
        }
    }
}

/// Answers `GET /v1/key` for the calling key.
pub async fn info(State(state): State<AppState>, caller: Caller) -> Response {
    let result: Result<Response, HttpError> = async {
        let mut gateway = state.gateway;
        let info = gateway
            .get_key_info(caller.request(GetKeyInfoRequest {}))
            .await?
            .into_inner();
        Ok(json_response(encode(&KeyJson::from(&info))?))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
