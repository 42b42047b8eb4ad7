//! The binary key layout of the ledger's trees: big-endian and prefix-ordered, so
//! every query is a range scan.
//!
//! - records (`record_runs`): `time_us (u64 BE) | request_id` → prost `UsageRecord`.
//! - aggregates (`agg_runs`): `granularity (u8) | scope (u8) | [tenant_len (u32 BE) | tenant] |
//!   bucket_start_secs (u64 BE) | group` → prost `UsageTotals`.
//!
//! `scope` is the dimension (0 none, 1 tenant, 2 key, 3 model, 4 provider); with the
//! high bit set the row is restricted to one tenant, named right after it (only none,
//! key, model and provider exist in that form: "by tenant within a tenant" is the
//! tenant's none row). The granularity and scope come before the bucket so a summary
//! of one dimension over a time range is one contiguous scan, ordered by bucket and
//! then group; `group` is the raw value (empty for none), last so it needs no length.

use crate::buckets::Granularity;

/// Bit marking an aggregate restricted to one tenant.
const TENANT_SCOPED: u8 = 0x80;

/// What aggregates are broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// No breakdown: one total per bucket.
    None,
    /// Per tenant.
    Tenant,
    /// Per virtual key id.
    Key,
    /// Per requested model name.
    Model,
    /// Per provider instance.
    Provider,
}

impl Dimension {
    fn tag(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Tenant => 1,
            Self::Key => 2,
            Self::Model => 3,
            Self::Provider => 4,
        }
    }
}

/// The key of a record in `record_runs`: time order, then request id.
pub(crate) fn time_key(time_us: u64, request_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + request_id.len());
    key.extend_from_slice(&time_us.to_be_bytes());
    key.extend_from_slice(request_id.as_bytes());
    key
}

/// The request id in a record key.
pub(crate) fn time_key_request_id(key: &[u8]) -> Option<&str> {
    key.get(8..).and_then(|id| std::str::from_utf8(id).ok())
}

/// The part of an aggregate key before the bucket: one (granularity, dimension,
/// tenant scope) series. `tenant` is `None` for the global series.
pub(crate) fn agg_prefix(
    granularity: Granularity,
    dimension: Dimension,
    tenant: Option<&str>,
) -> Vec<u8> {
    let mut key = Vec::with_capacity(2 + tenant.map_or(0, |t| 4 + t.len()) + 8 + 32);
    key.push(granularity.tag());
    match tenant {
        None => key.push(dimension.tag()),
        Some(tenant) => {
            key.push(dimension.tag() | TENANT_SCOPED);
            // Tenants are short; a name longer than u32::MAX bytes cannot reach us
            // (messages are capped far below), so saturating is only a formality.
            let len = u32::try_from(tenant.len()).unwrap_or(u32::MAX);
            key.extend_from_slice(&len.to_be_bytes());
            key.extend_from_slice(tenant.as_bytes());
        }
    }
    key
}

/// A full aggregate key: `prefix | bucket_start_secs | group`.
pub(crate) fn agg_key(prefix: &[u8], bucket_start_secs: u64, group: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 8 + group.len());
    key.extend_from_slice(prefix);
    key.extend_from_slice(&bucket_start_secs.to_be_bytes());
    key.extend_from_slice(group.as_bytes());
    key
}

/// (bucket start, group) of an aggregate key under `prefix_len` bytes of prefix.
pub(crate) fn split_agg_key(prefix_len: usize, key: &[u8]) -> Option<(u64, String)> {
    let bucket: [u8; 8] = key.get(prefix_len..prefix_len + 8)?.try_into().ok()?;
    let group = String::from_utf8_lossy(key.get(prefix_len + 8..)?).into_owned();
    Some((u64::from_be_bytes(bucket), group))
}

/// Every series a record is added to: each granularity × (global none, tenant, key,
/// model, provider; and none, key, model, provider within its tenant), as
/// `(dimension, tenant scope, group)`. Granularities are the caller's business.
pub(crate) fn series_of<'a>(
    tenant: &'a str,
    key_id: &'a str,
    model: &'a str,
    provider: &'a str,
) -> [(Dimension, Option<&'a str>, &'a str); 9] {
    [
        (Dimension::None, None, ""),
        (Dimension::Tenant, None, tenant),
        (Dimension::Key, None, key_id),
        (Dimension::Model, None, model),
        (Dimension::Provider, None, provider),
        (Dimension::None, Some(tenant), ""),
        (Dimension::Key, Some(tenant), key_id),
        (Dimension::Model, Some(tenant), model),
        (Dimension::Provider, Some(tenant), provider),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_series_then_bucket_then_group() {
        let global = agg_prefix(Granularity::Hour, Dimension::Model, None);
        let a = agg_key(&global, 7_200, "b");
        let b = agg_key(&global, 10_800, "a");
        assert!(a < b, "bucket orders before group");
        assert!(agg_key(&global, 7_200, "") < a);
        let scoped = agg_prefix(Granularity::Hour, Dimension::Model, Some("t1"));
        let other = agg_prefix(Granularity::Hour, Dimension::Model, Some("t10"));
        // A tenant's series never contains another tenant's rows, even when one name
        // is a prefix of the other (the length comes first).
        let k = agg_key(&scoped, u64::MAX, "zzz");
        assert!(!k.starts_with(&other));
        assert!(!agg_key(&other, 0, "").starts_with(&scoped));
        assert_eq!(
            split_agg_key(scoped.len(), &agg_key(&scoped, 42, "gpt")),
            Some((42, "gpt".to_string()))
        );
    }

    #[test]
    fn time_keys_round_trip() {
        let key = time_key(99, "req-1");
        assert_eq!(time_key_request_id(&key), Some("req-1"));
        assert!(time_key(1, "z") < time_key(2, "a"));
    }
}
