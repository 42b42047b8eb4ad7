//! Usage totals: what one record adds, overflow-safe sums, and the aggregate rows a
//! batch of new records changes.

use std::collections::BTreeMap;

use switchyard_proto::metering::v1::{Outcome, UsageRecord, UsageTotals};

use crate::buckets::Granularity;
use crate::keys::{agg_key, agg_prefix, series_of};

/// What one record contributes to every aggregate it belongs to.
pub(crate) fn totals_of(record: &UsageRecord) -> UsageTotals {
    let outcome = Outcome::try_from(record.outcome).unwrap_or(Outcome::Unspecified);
    UsageTotals {
        requests: 1,
        prompt_tokens: record.prompt_tokens,
        completion_tokens: record.completion_tokens,
        cached_prompt_tokens: record.cached_prompt_tokens,
        cache_write_prompt_tokens: record.cache_write_prompt_tokens,
        reasoning_tokens: record.reasoning_tokens,
        cost_micros: record.cost_micros,
        errors: u64::from(outcome == Outcome::Error),
        cancelled: u64::from(outcome == Outcome::Cancelled),
        estimated: u64::from(record.usage_estimated),
        cache_hits: u64::from(record.cache_hit),
    }
}

/// `into += other`, saturating: a total pinned at the maximum is visibly wrong but
/// never wraps around to a small, plausible number.
pub(crate) fn add(into: &mut UsageTotals, other: &UsageTotals) {
    into.requests = into.requests.saturating_add(other.requests);
    into.prompt_tokens = into.prompt_tokens.saturating_add(other.prompt_tokens);
    into.completion_tokens = into
        .completion_tokens
        .saturating_add(other.completion_tokens);
    into.cached_prompt_tokens = into
        .cached_prompt_tokens
        .saturating_add(other.cached_prompt_tokens);
    into.cache_write_prompt_tokens = into
        .cache_write_prompt_tokens
        .saturating_add(other.cache_write_prompt_tokens);
    into.reasoning_tokens = into.reasoning_tokens.saturating_add(other.reasoning_tokens);
    into.cost_micros = into.cost_micros.saturating_add(other.cost_micros);
    into.errors = into.errors.saturating_add(other.errors);
    into.cancelled = into.cancelled.saturating_add(other.cancelled);
    into.estimated = into.estimated.saturating_add(other.estimated);
    into.cache_hits = into.cache_hits.saturating_add(other.cache_hits);
}

/// The changes a batch makes to the `agg` tree, merged per key so a batch of records
/// in the same hour touches each row once.
#[derive(Debug, Default)]
pub(crate) struct Deltas {
    rows: BTreeMap<Vec<u8>, UsageTotals>,
}

impl Deltas {
    /// Adds a new record to every series and granularity it belongs to.
    pub(crate) fn add_record(&mut self, record: &UsageRecord, time_secs: u64) {
        let totals = totals_of(record);
        let series = series_of(
            &record.tenant,
            &record.key_id,
            &record.requested_model,
            &record.provider,
        );
        for granularity in Granularity::ALL {
            let bucket = granularity.floor(time_secs);
            for (dimension, tenant, group) in series {
                let key = agg_key(&agg_prefix(granularity, dimension, tenant), bucket, group);
                add(self.rows.entry(key).or_default(), &totals);
            }
        }
    }

    /// Rows to merge into the tree, in key order.
    pub(crate) fn rows(&self) -> impl Iterator<Item = (&[u8], &UsageTotals)> {
        self.rows.iter().map(|(k, v)| (k.as_slice(), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_saturate_instead_of_wrapping() {
        let mut total = UsageTotals {
            prompt_tokens: u64::MAX - 1,
            cost_micros: i64::MAX - 1,
            ..Default::default()
        };
        let more = UsageTotals {
            prompt_tokens: 5,
            cost_micros: 5,
            requests: 1,
            cache_hits: 1,
            ..Default::default()
        };
        add(&mut total, &more);
        assert_eq!(total.prompt_tokens, u64::MAX);
        assert_eq!(total.cost_micros, i64::MAX);
        assert_eq!(total.requests, 1);
        assert_eq!(total.cache_hits, 1);
        total.cache_hits = u64::MAX;
        add(&mut total, &more);
        assert_eq!(total.cache_hits, u64::MAX);
    }

    #[test]
    fn a_cache_hit_counts_once_and_adds_no_tokens() {
        let hit = UsageRecord {
            provider: "p".into(),
            upstream_model: "m-1".into(),
            outcome: Outcome::Ok as i32,
            cache_hit: true,
            ..Default::default()
        };
        let totals = totals_of(&hit);
        assert_eq!(
            (totals.requests, totals.cache_hits, totals.prompt_tokens),
            (1, 1, 0)
        );
        assert_eq!(totals.cost_micros, 0);
        let miss = UsageRecord {
            prompt_tokens: 7,
            cache_hit: false,
            ..hit
        };
        assert_eq!(totals_of(&miss).cache_hits, 0);
    }

    #[test]
    fn one_record_touches_every_series_at_every_granularity() {
        let record = UsageRecord {
            tenant: "t".into(),
            key_id: "k".into(),
            requested_model: "m".into(),
            provider: "p".into(),
            outcome: Outcome::Cancelled as i32,
            usage_estimated: true,
            ..Default::default()
        };
        let mut deltas = Deltas::default();
        deltas.add_record(&record, 0);
        deltas.add_record(&record, 1);
        assert_eq!(deltas.rows().count(), 27);
        for (_, totals) in deltas.rows() {
            assert_eq!(
                (totals.requests, totals.cancelled, totals.estimated),
                (2, 2, 2)
            );
        }
    }
}
