//! The ledger store behind a small trait, so tests and a future backend can swap sled
//! out. The sled implementation is in `sled_ledger.rs`.

use switchyard_proto::metering::v1::{UsageRecord, UsageTotals};

use crate::MeteringError;
pub use crate::buckets::Granularity;
pub use crate::keys::Dimension;

/// Which records a listing wants.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Inclusive start, microseconds since the Unix epoch.
    pub start_us: u64,
    /// Exclusive end, microseconds since the Unix epoch.
    pub end_us: u64,
    /// Only this tenant (empty: all).
    pub tenant: String,
    /// Only this key (empty: all).
    pub key_id: String,
    /// At most this many records.
    pub limit: usize,
    /// Continue after this record key (`time_us | request_id`).
    pub after: Option<Vec<u8>>,
}

/// One series of aggregates over a range of buckets: the unit a summary is built from.
#[derive(Debug, Clone)]
pub struct AggScan {
    /// Bucket size.
    pub granularity: Granularity,
    /// Breakdown; rows come back per bucket and group value.
    pub dimension: Dimension,
    /// Only this tenant's usage (`None`: every tenant).
    pub tenant: Option<String>,
    /// First bucket start wanted (seconds since the epoch, inclusive).
    pub from_secs: u64,
    /// Buckets starting at or after this are not wanted (exclusive).
    pub to_secs: u64,
    /// At most this many rows (a guard against unbounded answers).
    pub limit: usize,
}

/// The totals of one group in one bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct AggRow {
    /// Bucket start, seconds since the epoch.
    pub bucket_start_secs: u64,
    /// The group value (empty without a breakdown).
    pub group: String,
    /// Sums over the group's records in the bucket.
    pub totals: UsageTotals,
}

/// What became of a batch. Every record in it is acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertOutcome {
    /// Records newly written (and added to the aggregates).
    pub inserted: u32,
    /// Records not written: already present, or older than the retention mark
    /// (`expired` counts those).
    pub duplicates: u32,
    /// Of `duplicates`, the records refused because retention already passed their
    /// time: a record there may have been stored and deleted, so taking it again could
    /// count it twice.
    pub expired: u32,
}

/// Where usage records and their aggregates live.
pub trait Ledger: Send + Sync + 'static {
    /// Inserts every record whose request id is new and whose time is not before the
    /// retention mark, adding it to the aggregates in the same transaction, and makes
    /// the batch durable before returning.
    fn insert_batch(&self, records: &[UsageRecord]) -> Result<InsertOutcome, MeteringError>;
    /// The record of a request.
    fn get(&self, request_id: &str) -> Result<Option<UsageRecord>, MeteringError>;
    /// Records in time order, and the cursor to continue from when more remain.
    fn list(
        &self,
        filter: &ListFilter,
    ) -> Result<(Vec<UsageRecord>, Option<Vec<u8>>), MeteringError>;
    /// Aggregate rows of one series, ordered by bucket start then group.
    fn aggregates(&self, scan: &AggScan) -> Result<Vec<AggRow>, MeteringError>;
    /// Raises the retention mark to `horizon_us` (it never goes down) and deletes up
    /// to `max` raw records older than it in one transaction; aggregates are kept.
    /// Returns how many were deleted: fewer than `max` means none older remain.
    fn expire_before(&self, horizon_us: u64, max: usize) -> Result<usize, MeteringError>;
    /// Records older than this (µs since the epoch) are refused as expired.
    fn retention_mark(&self) -> Result<u64, MeteringError>;
    /// Makes every write durable.
    fn flush(&self) -> Result<(), MeteringError>;
}

/// Microseconds since the epoch of a record's time (0 when unset or before 1970).
pub(crate) fn time_us(record: &UsageRecord) -> u64 {
    record.time.as_ref().map(timestamp_to_us).unwrap_or(0)
}

/// Microseconds since the epoch of a timestamp (0 before 1970, saturating far ahead).
pub(crate) fn timestamp_to_us(t: &prost_types::Timestamp) -> u64 {
    let secs = u64::try_from(t.seconds).unwrap_or(0);
    let nanos = u64::try_from(t.nanos).unwrap_or(0);
    secs.saturating_mul(1_000_000).saturating_add(nanos / 1_000)
}
