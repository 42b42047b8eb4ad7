//! Made-up usage records for the ledger's benchmarks (`examples/ledger_bench.rs`
//! and `switchyard bench --ledger-records`): one shape of ledger, so both measure
//! the same thing.

use switchyard_proto::metering::v1::UsageRecord;

/// Record `i` of `n`: 50 tenants, 500 keys, 10 models over 5 providers, 500
/// prompt and 200 completion tokens each, at times spread evenly over
/// `span_secs` from `start_secs`.
pub fn record(i: u64, n: u64, start_secs: i64, span_secs: i64) -> UsageRecord {
    let offset = i128::from(i) * i128::from(span_secs) / i128::from(n.max(1));
    UsageRecord {
        request_id: format!("synthetic-{i:010}"),
        time: Some(prost_types::Timestamp {
            seconds: start_secs.saturating_add(i64::try_from(offset).unwrap_or(0)),
            nanos: 0,
        }),
        tenant: format!("tenant-{}", i % 50),
        key_id: format!("key-{}", i % 500),
        requested_model: format!("model-{}", i % 10),
        provider: format!("provider-{}", i % 5),
        operation: "chat".into(),
        prompt_tokens: 500,
        completion_tokens: 200,
        cost_micros: 1_234,
        ..Default::default()
    }
}
