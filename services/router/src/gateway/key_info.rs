//! `Gateway.GetKeyInfo`: the calling key as the gateway sees it, with what the
//! usage ledger has recorded against each of its budgets this period.
//!
//! The key is resolved as for any call (the cached principal); nothing is
//! charged and no usage record is written. Spend comes from metering's
//! aggregates (`UsageQuery.SummarizeUsage` from the period's start), asked with
//! the caller's own key, so metering scopes the answer to the caller's tenant.
//! Admission's counters are not used: besides what was spent they hold what
//! running requests reserved and leases routers have not handed back yet.

use std::time::{SystemTime, UNIX_EPOCH};

use prost_types::Timestamp;
use switchyard_grpc::{outgoing, request_id};
use switchyard_policy::calendar::budget_period_start;
use switchyard_proto::auth::v1::Budget;
use switchyard_proto::gateway::v1::{BudgetState, GetKeyInfoRequest, KeyInfo};
use switchyard_proto::metering::v1::{Dimension, SummarizeUsageRequest};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use super::Router;

/// Whose spend a budget caps.
enum Holder<'a> {
    Key(&'a str),
    Tenant,
}

impl Router {
    /// The caller's key, limits and budgets with their spend.
    pub(super) async fn key_info(
        &self,
        request: Request<GetKeyInfoRequest>,
    ) -> Result<Response<KeyInfo>, Status> {
        let id = request_id(&request);
        let metadata = request.metadata();
        let principal = self.admit(metadata, &id, "").await?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let key_budget = match principal.key_budget {
            Some(budget) => Some(
                self.budget_state(budget, Holder::Key(&principal.key_id), metadata, &id, now)
                    .await?,
            ),
            None => None,
        };
        let tenant_budget = match principal.tenant_budget {
            Some(budget) => Some(
                self.budget_state(budget, Holder::Tenant, metadata, &id, now)
                    .await?,
            ),
            None => None,
        };
        Ok(Response::new(KeyInfo {
            key_id: principal.key_id,
            key_prefix: principal.key_prefix,
            tenant: principal.tenant,
            allowed_models: principal.allowed_models,
            tenant_allowed_models: principal.tenant_allowed_models,
            key_limits: principal.key_limits,
            tenant_limits: principal.tenant_limits,
            key_budget,
            tenant_budget,
            valid_until: principal.valid_until,
        }))
    }

    /// `budget` with the ledger's spend of `holder` since its period started.
    async fn budget_state(
        &self,
        budget: Budget,
        holder: Holder<'_>,
        metadata: &MetadataMap,
        request_id: &str,
        now: i64,
    ) -> Result<BudgetState, Status> {
        let start = Timestamp {
            seconds: budget_period_start(budget.period(), now),
            nanos: 0,
        };
        let group_by = match holder {
            Holder::Key(_) => Dimension::Key,
            Holder::Tenant => Dimension::Unspecified,
        };
        let mut query = outgoing(
            SummarizeUsageRequest {
                start: Some(start),
                group_by: group_by as i32,
                ..Default::default()
            },
            request_id,
        );
        // Metering resolves the caller's key to its tenant.
        if let Some(key) = metadata.get("authorization") {
            query.metadata_mut().insert("authorization", key.clone());
        }
        let summary = self
            .inner
            .ledger
            .clone()
            .summarize_usage(query)
            .await?
            .into_inner();
        let totals = match holder {
            Holder::Key(key) => summary
                .buckets
                .into_iter()
                .find(|b| b.group == key)
                .and_then(|b| b.totals),
            Holder::Tenant => summary.total,
        };
        let spent = totals.map_or(0, |t| t.cost_micros);
        Ok(BudgetState {
            remaining_micros: budget.limit_micros.saturating_sub(spent),
            spent_micros: spent,
            period_start: Some(start),
            budget: Some(budget),
        })
    }
}
