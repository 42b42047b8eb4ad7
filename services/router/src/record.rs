//! Building the one usage record of a request.
//!
//! The record's tokens are the answering (final) attempt's usage and its cost is
//! that usage at the final deployment's price. Failed attempts cost nothing. A
//! hedge race's loser (an attempt cancelled because the other one answered first,
//! `hedged`) was sent the same prompt, which its provider will usually bill: it is
//! listed with the final attempt's `prompt_tokens` and their cost at its own
//! deployment's input price, and that cost is added to the record's
//! `cost_micros`, so the ticket's settlement, budgets and the ledger all see it.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use switchyard_proto::auth::v1::Principal;
use switchyard_proto::metering::v1::{Attempt, Outcome, UsageRecord};
use switchyard_proto::types::v1::Usage;
use tokio::sync::OwnedSemaphorePermit;

use crate::admission::Ticket;
use crate::models::{Deployment, RouteKey};
use switchyard_pricing::{Price, cost_micros};

/// An attempt before the final one, as the record will list it.
#[derive(Debug, Clone)]
pub struct Earlier {
    /// As listed.
    pub attempt: Attempt,
    /// Its deployment's price: a hedge race's loser is billed its prompt at it.
    pub price: Price,
    /// The part of the request's time it accounts for before a later attempt
    /// started: its latency, less any overlap with the other attempt of a hedge
    /// race. The final attempt's latency is what is left.
    pub serial_us: u64,
}

impl Earlier {
    /// Whether this is a hedge race's loser, billed for its prompt.
    fn billed_prompt(&self) -> bool {
        self.attempt.hedged && self.attempt.outcome == Outcome::Cancelled as i32
    }
}

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
    /// Attempts before the final one: failed ones, and a hedge race's
    /// cancelled loser.
    pub attempts: Vec<Earlier>,
    /// What routes the request (tags, caller), for fallback models planned later.
    pub route: RouteKey,
    /// The request's place under `router.max_in_flight`, held until its record
    /// is finished (a stream's end, or a disconnected caller's drain).
    pub slot: Option<OwnedSemaphorePermit>,
    /// How long the model keeps answers in the response cache, if it does.
    pub cache_ttl: Option<Duration>,
    /// The request's place in the response cache, once looked up.
    pub cache: Option<crate::cache::Slot>,
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
            slot: None,
            cache_ttl: None,
            cache: None,
        }
    }

    /// Frees the request's concurrency slots early: its client is gone, though the
    /// upstream may still be drained for usage.
    pub fn release_slots(&mut self) {
        if let Some(ticket) = &mut self.ticket {
            ticket.release_slots();
        }
    }

    /// The finished record; the ticket is settled to its usage and cost. The cost
    /// includes a hedge race loser's prompt (see the module doc): `usage`'s
    /// `prompt_tokens` at the loser's deployment's price, also written on its
    /// attempt (`prompt_tokens`, `cost_micros`).
    pub fn finish(
        mut self,
        usage: &Usage,
        outcome: Outcome,
        error_reason: &str,
        ttft_us: u64,
    ) -> UsageRecord {
        let latency_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let mut cost = cost_micros(&self.deployment.price, usage);
        for earlier in &mut self.attempts {
            if earlier.billed_prompt() {
                let prompt = Usage {
                    prompt_tokens: usage.prompt_tokens,
                    ..Usage::default()
                };
                let hedge_cost = cost_micros(&earlier.price, &prompt);
                earlier.attempt.prompt_tokens = usage.prompt_tokens;
                earlier.attempt.cost_micros = hedge_cost;
                cost = cost.saturating_add(hedge_cost);
            }
        }
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
            cache_hit: false,
            attempts: {
                // The final attempt's latency is what is left after the earlier ones.
                let earlier: u64 = self.attempts.iter().map(|a| a.serial_us).sum();
                let mut attempts: Vec<Attempt> =
                    self.attempts.into_iter().map(|a| a.attempt).collect();
                attempts.push(Attempt {
                    provider: self.deployment.provider,
                    upstream_model: self.deployment.upstream_model,
                    outcome: outcome as i32,
                    error_reason: error_reason.to_string(),
                    latency_us: latency_us.saturating_sub(earlier),
                    ..Attempt::default()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Deployments `w` ($1 / $2 per million), `l` ($3 / $4) and `f` ($5 / $5).
    fn deployments() -> Vec<Deployment> {
        let config = switchyard_config::load_str(
            r#"
version = 1
[[providers]]
name = "p"
kind = "mock"
[[models]]
name = "m"
deployments = [{ provider = "p", model = "w", price = { input_per_million = "1", output_per_million = "2" } }, { provider = "p", model = "l", price = { input_per_million = "3", output_per_million = "4" } }, { provider = "p", model = "f", price = { input_per_million = "5", output_per_million = "5" } }]
"#,
        )
        .unwrap();
        let prices = crate::pricing::resolve(&config).unwrap();
        crate::models::ModelTable::from_config(&config, &prices)
            .get("m")
            .unwrap()
            .deployments
            .clone()
    }

    fn earlier(d: &Deployment, outcome: Outcome, hedged: bool, latency_us: u64) -> Earlier {
        Earlier {
            attempt: Attempt {
                provider: d.provider.clone(),
                upstream_model: d.upstream_model.clone(),
                outcome: outcome as i32,
                latency_us,
                hedged,
                ..Attempt::default()
            },
            price: d.price,
            serial_us: latency_us,
        }
    }

    #[test]
    fn a_hedge_losers_prompt_is_billed_and_failures_are_not() {
        let [winner, loser, failed] = deployments().try_into().unwrap();
        let mut draft = Draft::new(
            "req",
            &Principal::default(),
            "m",
            &winner,
            "v1",
            Instant::now(),
        );
        draft.attempts = vec![
            earlier(&failed, Outcome::Error, false, 10),
            earlier(&loser, Outcome::Cancelled, true, 20),
        ];
        let usage = Usage {
            prompt_tokens: 1_000,
            completion_tokens: 100,
            ..Usage::default()
        };
        let record = draft.finish(&usage, Outcome::Ok, "", 0);
        // Winner: 1,000 × $1/M + 100 × $2/M = 1,200 µ$; loser: 1,000 × $3/M.
        assert_eq!(record.cost_micros, 1_200 + 3_000);
        assert_eq!(record.prompt_tokens, 1_000);
        let [fail, hedge, last] = record.attempts.as_slice() else {
            panic!("{:?}", record.attempts);
        };
        assert_eq!(
            (fail.prompt_tokens, fail.cost_micros, fail.hedged),
            (0, 0, false)
        );
        assert_eq!((hedge.prompt_tokens, hedge.cost_micros), (1_000, 3_000));
        assert!(hedge.hedged);
        assert_eq!(hedge.outcome, Outcome::Cancelled as i32);
        assert_eq!(last.upstream_model, "w");
        assert_eq!((last.cost_micros, last.hedged), (0, false));
    }
}
