//! JSON views of usage messages, borrowed from the gRPC answers so each is encoded
//! once, straight from what metering sent.

use std::collections::BTreeMap;

use serde::Serialize;
use switchyard_proto::metering::v1::{
    Attempt, ListUsageResponse, SummarizeUsageResponse, UsageBucket, UsageRecord, UsageTotals,
};

use super::{outcome_name, time, usd};

/// One usage record (the `GET /admin/v1/usage/records/{id}` answer and one JSONL line).
#[derive(Debug, Serialize)]
pub struct RecordJson<'a> {
    /// The request id, the ledger's idempotency key.
    pub request_id: &'a str,
    /// When the request was served, RFC 3339 UTC.
    pub time: Option<String>,
    /// The key's tenant.
    pub tenant: &'a str,
    /// The key's id (never the key).
    pub key_id: &'a str,
    /// `chat` or `embeddings`.
    pub operation: &'a str,
    /// The model name the client asked for.
    pub requested_model: &'a str,
    /// The provider instance that answered.
    pub provider: &'a str,
    /// The provider's model.
    pub upstream_model: &'a str,
    /// Prompt tokens, cached and cache writes included.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Prompt tokens read from the provider's cache.
    pub cached_prompt_tokens: u64,
    /// Prompt tokens written to the provider's cache.
    pub cache_write_prompt_tokens: u64,
    /// Reasoning tokens (part of the completion).
    pub reasoning_tokens: u64,
    /// Token counts were estimated, not reported by the provider.
    pub usage_estimated: bool,
    /// Answered from the router's response cache: no provider was called, tokens and
    /// cost are zero, and `provider`/`upstream_model` name what produced the answer.
    pub cache_hit: bool,
    /// Cost in integer micro-dollars.
    pub cost_micros: i64,
    /// The prices used for `cost_micros`.
    pub price_version: &'a str,
    /// Total latency.
    pub latency_us: u64,
    /// Zero when no token was produced.
    pub time_to_first_token_us: u64,
    /// Whether the answer was streamed.
    pub stream: bool,
    /// `ok`, `error`, `cancelled` or `unspecified`.
    pub outcome: &'static str,
    /// The stable error reason when the outcome is `error`.
    pub error_reason: &'a str,
    /// Routing tags, sorted by name so output is stable.
    pub metadata: BTreeMap<&'a str, &'a str>,
    /// Every deployment tried, in order.
    pub attempts: Vec<AttemptJson<'a>>,
}

/// One attempt at a deployment.
#[derive(Debug, Serialize)]
pub struct AttemptJson<'a> {
    /// The provider instance.
    pub provider: &'a str,
    /// The provider's model.
    pub upstream_model: &'a str,
    /// How the attempt ended.
    pub outcome: &'static str,
    /// The stable error reason of a failed attempt.
    pub error_reason: &'a str,
    /// Latency of the attempt.
    pub latency_us: u64,
    /// A hedge race's cancelled loser (billed its prompt).
    pub hedged: bool,
    /// Prompt tokens billed for the attempt (a hedge loser's).
    pub prompt_tokens: u64,
    /// What the attempt cost, in micro-dollars (included in the record's cost).
    pub cost_micros: i64,
}

impl<'a> From<&'a Attempt> for AttemptJson<'a> {
    fn from(a: &'a Attempt) -> Self {
        Self {
            provider: &a.provider,
            upstream_model: &a.upstream_model,
            outcome: outcome_name(a.outcome),
            error_reason: &a.error_reason,
            latency_us: a.latency_us,
            hedged: a.hedged,
            prompt_tokens: a.prompt_tokens,
            cost_micros: a.cost_micros,
        }
    }
}

impl<'a> From<&'a UsageRecord> for RecordJson<'a> {
    fn from(r: &'a UsageRecord) -> Self {
        Self {
            request_id: &r.request_id,
            time: time(r),
            tenant: &r.tenant,
            key_id: &r.key_id,
            operation: &r.operation,
            requested_model: &r.requested_model,
            provider: &r.provider,
            upstream_model: &r.upstream_model,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            cached_prompt_tokens: r.cached_prompt_tokens,
            cache_write_prompt_tokens: r.cache_write_prompt_tokens,
            reasoning_tokens: r.reasoning_tokens,
            usage_estimated: r.usage_estimated,
            cache_hit: r.cache_hit,
            cost_micros: r.cost_micros,
            price_version: &r.price_version,
            latency_us: r.latency_us,
            time_to_first_token_us: r.time_to_first_token_us,
            stream: r.stream,
            outcome: outcome_name(r.outcome),
            error_reason: &r.error_reason,
            metadata: r
                .metadata
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            attempts: r.attempts.iter().map(AttemptJson::from).collect(),
        }
    }
}

/// A page of records; `next_page_token` is null on the last page.
#[derive(Debug, Serialize)]
pub struct RecordListJson<'a> {
    /// The records, in time order.
    pub records: Vec<RecordJson<'a>>,
    /// Pass as `page_token` for the next page.
    pub next_page_token: Option<&'a str>,
}

impl<'a> From<&'a ListUsageResponse> for RecordListJson<'a> {
    fn from(page: &'a ListUsageResponse) -> Self {
        Self {
            records: page.records.iter().map(RecordJson::from).collect(),
            next_page_token: Some(page.next_page_token.as_str()).filter(|t| !t.is_empty()),
        }
    }
}

/// Sums over a set of records.
#[derive(Debug, Serialize)]
pub struct TotalsJson {
    /// Requests.
    pub requests: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Prompt tokens read from cache.
    pub cached_prompt_tokens: u64,
    /// Prompt tokens written to cache.
    pub cache_write_prompt_tokens: u64,
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
    /// Cost in integer micro-dollars.
    pub cost_micros: i64,
    /// The same cost as an exact decimal string (`"0.001234"`), for people.
    pub cost_usd: String,
    /// Requests that ended in an error.
    pub errors: u64,
    /// Requests the client cancelled.
    pub cancelled: u64,
    /// Requests with estimated token counts.
    pub estimated: u64,
    /// Requests answered from the router's response cache.
    pub cache_hits: u64,
}

impl From<&UsageTotals> for TotalsJson {
    fn from(t: &UsageTotals) -> Self {
        Self {
            requests: t.requests,
            prompt_tokens: t.prompt_tokens,
            completion_tokens: t.completion_tokens,
            cached_prompt_tokens: t.cached_prompt_tokens,
            cache_write_prompt_tokens: t.cache_write_prompt_tokens,
            reasoning_tokens: t.reasoning_tokens,
            cost_micros: t.cost_micros,
            cost_usd: usd(t.cost_micros),
            errors: t.errors,
            cancelled: t.cancelled,
            estimated: t.estimated,
            cache_hits: t.cache_hits,
        }
    }
}

/// One bucket of one group.
#[derive(Debug, Serialize)]
pub struct BucketJson<'a> {
    /// Bucket start, RFC 3339 UTC.
    pub start: Option<String>,
    /// The group's value; null when the summary is not grouped (so an empty value of
    /// a grouped summary, such as a record without a key, stays distinguishable).
    pub group: Option<&'a str>,
    /// The bucket's sums.
    pub totals: TotalsJson,
}

/// A usage summary: the total and its buckets.
#[derive(Debug, Serialize)]
pub struct SummaryJson<'a> {
    /// Sum of every bucket.
    pub total: TotalsJson,
    /// Ordered by start, then group.
    pub buckets: Vec<BucketJson<'a>>,
}

impl<'a> SummaryJson<'a> {
    /// The view of `summary`; `grouped` says whether a `group_by` was asked for.
    pub fn new(summary: &'a SummarizeUsageResponse, grouped: bool) -> Self {
        let bucket = |b: &'a UsageBucket| BucketJson {
            start: b.start.map(|t| t.to_string()),
            group: grouped.then_some(b.group.as_str()),
            totals: TotalsJson::from(&b.totals.unwrap_or_default()),
        };
        Self {
            total: TotalsJson::from(&summary.total.unwrap_or_default()),
            buckets: summary.buckets.iter().map(bucket).collect(),
        }
    }
}
