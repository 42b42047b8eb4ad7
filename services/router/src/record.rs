//! Building the one usage record of a request.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use switchyard_proto::auth::v1::Principal;
use switchyard_proto::metering::v1::{Attempt, Outcome, UsageRecord};
use switchyard_proto::types::v1::Usage;

use crate::admission::Ticket;
use crate::models::{Deployment, RouteKey};
use switchyard_pricing::cost_micros;

/// What is known about a request before its answer: enough to write its record
/// whatever happens next. It also holds the request's claim on its rate limits and
/// budgets, settled to the record's real usage when the record is finished.
#[derive(Debug)]
pub struct Draft {
    pub request_id: String,
    pub tenant: String,
    pub key_id: String,
    pub requested_model: String,
    pub deployment: Deployment,
    pub metadata: HashMap<String, String>,
    pub stream: bool,
    pub operation: &'static str,
    pub price_version: String,
    pub started: Instant,
    pub wall_start: SystemTime,
    pub ticket: Option<Ticket>,
    /// Deployments still to try after `deployment` (fallbacks come from the model
    /// table).
    pub plan: Vec<Deployment>,
    /// Failed attempts before the final one.
    pub attempts: Vec<Attempt>,
    /// What routes the request (tags, caller), for fallback models planned later.
    pub route: RouteKey,
}

impl Draft {
    /// A draft for an admitted, non-streamed chat request routed to `deployment`;
    /// callers set `stream`, `operation` and `metadata` where they differ.
    pub fn new(
        request_id: &str,
        principal: &Principal,
        requested_model: &str,
        deployment: &Deployment,
        price_version: &str,
        started: Instant,
    ) -> Self {
        Self {
            request_id: request_id.to_string(),
            tenant: principal.tenant.clone(),
            key_id: principal.key_id.clone(),
            requested_model: requested_model.to_string(),
            deployment: deployment.clone(),
            metadata: HashMap::new(),
            stream: false,
            operation: "chat",
            price_version: price_version.to_string(),
            started,
            wall_start: SystemTime::now(),
            ticket: None,
            plan: Vec::new(),
            attempts: Vec::new(),
            route: RouteKey::default(),
        }
    }

    /// Frees the request's concurrency slots early: its client is gone, though the
    /// upstream may still be drained for usage.
    pub fn release_slots(&mut self) {
        if let Some(ticket) = &mut self.ticket {
            ticket.release_slots();
        }
    }

    /// The finished record; the ticket is settled to its usage and cost.
    pub fn finish(
        mut self,
        usage: &Usage,
        outcome: Outcome,
        error_reason: &str,
        ttft_us: u64,
    ) -> UsageRecord {
        let latency_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let cost = cost_micros(&self.deployment.price, usage);
        if let Some(mut ticket) = self.ticket.take() {
            let tokens = usage.prompt_tokens.saturating_add(usage.completion_tokens);
            ticket.settle(tokens, cost);
        }
        UsageRecord {
            request_id: self.request_id,
            time: Some(prost_types::Timestamp::from(self.wall_start)),
            tenant: self.tenant,
            key_id: self.key_id,
            requested_model: self.requested_model,
            provider: self.deployment.provider.clone(),
            upstream_model: self.deployment.upstream_model.clone(),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cached_prompt_tokens: usage.cached_prompt_tokens,
            cache_write_prompt_tokens: usage.cache_write_prompt_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            usage_estimated: usage.estimated,
            cost_micros: cost,
            price_version: self.price_version,
            latency_us,
            time_to_first_token_us: ttft_us,
            stream: self.stream,
            outcome: outcome as i32,
            error_reason: error_reason.to_string(),
            metadata: self.metadata,
            attempts: {
                // The final attempt's latency is what is left after the earlier ones.
                let earlier: u64 = self.attempts.iter().map(|a| a.latency_us).sum();
                let mut attempts = self.attempts;
                attempts.push(Attempt {
                    provider: self.deployment.provider,
                    upstream_model: self.deployment.upstream_model,
                    outcome: outcome as i32,
                    error_reason: error_reason.to_string(),
                    latency_us: latency_us.saturating_sub(earlier),
                });
                attempts
            },
            operation: self.operation.to_string(),
        }
    }
}

/// Marks a finished record as abandoned by its client.
pub trait MarkCancelled {
    /// The client went away before the answer reached it.
    fn mark_cancelled(&mut self);
}

impl MarkCancelled for UsageRecord {
    fn mark_cancelled(&mut self) {
        self.outcome = Outcome::Cancelled as i32;
        for attempt in &mut self.attempts {
            attempt.outcome = Outcome::Cancelled as i32;
        }
    }
}
