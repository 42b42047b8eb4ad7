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
