//! The name of every metric Switchyard exports, in one place so dashboards and the
//! documentation (docs/architecture.md, "Metrics") match the code.

/// Gauge: usage records waiting in the router's durable outbox.
pub const OUTBOX_RECORDS: &str = "switchyard_usage_outbox_records";
/// Gauge: 1 while the outbox is full and new requests are refused.
pub const OUTBOX_FULL: &str = "switchyard_usage_outbox_full";
/// Counter: usage records acknowledged by metering.
pub const USAGE_DELIVERED: &str = "switchyard_usage_delivered_total";
/// Counter: failed `RecordUsage` calls (each retried).
pub const USAGE_DELIVERY_FAILURES: &str = "switchyard_usage_delivery_failures_total";
/// Counter: routed requests by `operation`, `model` and `outcome` (one per usage record).
pub const REQUESTS: &str = "switchyard_requests_total";
/// Counter: micro-dollars billed, by `model`.
pub const COST_MICROS: &str = "switchyard_cost_micros_total";
/// Counter: requests refused before routing, by `reason`.
pub const REFUSED: &str = "switchyard_requests_refused_total";
/// Counter: records newly written to the ledger (metering).
pub const LEDGER_INSERTED: &str = "switchyard_ledger_records_inserted_total";
/// Counter: redelivered records acknowledged without rewriting (metering).
pub const LEDGER_DUPLICATES: &str = "switchyard_ledger_duplicates_total";
/// Counter: admissions answered from the router's principal cache (no auth call).
pub const PRINCIPAL_CACHE_HITS: &str = "switchyard_principal_cache_hits_total";
/// Counter: admissions that asked auth (not cached, expired, or the cache is off
/// because auth's change stream is down).
pub const PRINCIPAL_CACHE_MISSES: &str = "switchyard_principal_cache_misses_total";
/// Gauge: principals in the router's cache.
pub const PRINCIPAL_CACHE_ENTRIES: &str = "switchyard_principal_cache_entries";
/// Gauge: 1 while the router's watch of auth's change stream is live (the cache
/// serves only then).
pub const PRINCIPAL_WATCH_LIVE: &str = "switchyard_principal_watch_live";
/// Counter: times the router's change stream from auth ended or failed (each
/// clears the principal cache).
pub const PRINCIPAL_WATCH_BREAKS: &str = "switchyard_principal_watch_breaks_total";
/// Gauge (router): 1 while a deployment's circuit breaker is open (requests skip
/// it), by `provider` and `model`.
pub const DEPLOYMENT_OPEN: &str = "switchyard_deployment_breaker_open";
/// Counter (router): breaker openings, by `provider` and `model`.
pub const BREAKER_OPENED: &str = "switchyard_deployment_breaker_opened_total";
/// Counter (router): hedge attempts (`[[models]] hedge_after_ms`), by requested
/// `model` and `outcome`: `won` (the hedge answered first) or `lost` (the first
/// attempt answered first, or the hedge failed).
pub const HEDGES: &str = "switchyard_hedges_total";
/// Counter: config reloads, by `result` (`applied`, `unchanged`, `rejected`).
pub const CONFIG_RELOADS: &str = "switchyard_config_reloads_total";
/// Counter (auth, quota shard): budgets whose period spend crossed their soft-alert
/// threshold (`alert_percent`), by `subject_kind` (key, tenant).
pub const BUDGET_ALERTS: &str = "switchyard_budget_alerts_total";
/// Counter (auth, quota shard): budget alerts (`budget.alert`, `budget.exceeded`)
/// sent to `auth.alert_webhook_url`, by `outcome` (`delivered`; `failed` after
/// the retries; `dropped`: the queue was full).
pub const BUDGET_ALERT_WEBHOOKS: &str = "switchyard_budget_alert_webhooks_total";
/// Counter (auth, quota shard): capacity requests refused, by `dimension`
/// (requests, tokens, concurrency, budget).
pub const QUOTA_REFUSALS: &str = "switchyard_quota_refusals_total";
/// Counter: Responses API answers the edge asked metering to store, by `outcome`
/// (`stored`, `failed`: the caller got its answer, but cannot continue from it).
pub const RESPONSES_STORED: &str = "switchyard_responses_stored_total";
/// Counter: Responses API answers the edge added to their conversation, by
/// `outcome` (`added`, `failed`: the caller got its answer, but the conversation
/// does not have it).
pub const CONVERSATION_ITEMS_ADDED: &str = "switchyard_conversation_items_added_total";
/// Counter: response cache lookups of models with `cache_ttl_secs`, by `outcome`
/// (`hit`, `miss`, `bypass`: the caller's `cache-control` skipped the lookup).
pub const CACHE_LOOKUPS: &str = "switchyard_cache_lookups_total";
/// Gauge: bytes the router's response cache holds (`router.cache_max_bytes`).
pub const CACHE_BYTES: &str = "switchyard_cache_bytes";
