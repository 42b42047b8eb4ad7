//! The ledger in sled.
//!
//! Trees (key layout in `keys.rs`):
//! - `records`: `request_id` → prost `UsageRecord`
//! - `by_time`: `time_us | request_id` → empty, the time index for listings, exports
//!   and retention
//! - `agg`: one row per (granularity, series, bucket, group) → prost `UsageTotals`
//! - `meta`: `retention_mark` → u64 BE µs
//!
//! A batch is one transaction over all four: the mark is read, each new request id is
//! written to `records` and `by_time`, and the batch's merged deltas are added to
//! `agg`. Duplicates and expired records change nothing, so a redelivery never counts
//! twice. One flush per batch (group commit) precedes the acknowledgement.

use prost::Message;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use switchyard_proto::metering::v1::{UsageRecord, UsageTotals};

use crate::MeteringError;
use crate::aggregate::{Deltas, add};
use crate::keys::{agg_key, agg_prefix, split_agg_key, time_key, time_key_request_id};
use crate::ledger::{AggRow, AggScan, Dimension, InsertOutcome, Ledger, ListFilter, time_us};

const MARK_KEY: &[u8] = b"retention_mark";

type TxResult<T> = Result<T, ConflictableTransactionError<MeteringError>>;

/// The ledger in a sled database.
pub struct SledLedger {
    db: sled::Db,
    records: sled::Tree,
    by_time: sled::Tree,
    agg: sled::Tree,
    meta: sled::Tree,
}

impl SledLedger {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &str) -> Result<Self, MeteringError> {
        let db = sled::open(dir)?;
        Ok(Self {
            records: db.open_tree("records")?,
            by_time: db.open_tree("by_time")?,
            agg: db.open_tree("agg")?,
            meta: db.open_tree("meta")?,
            db,
        })
    }
}

fn decode_mark(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes)
}

fn read_mark(meta: &TransactionalTree) -> TxResult<u64> {
    Ok(decode_mark(meta.get(MARK_KEY)?.as_deref()))
}

fn abort(e: impl Into<MeteringError>) -> ConflictableTransactionError<MeteringError> {
    ConflictableTransactionError::Abort(e.into())
}

fn finish<T>(result: Result<T, TransactionError<MeteringError>>) -> Result<T, MeteringError> {
    match result {
        Ok(value) => Ok(value),
        Err(TransactionError::Abort(e)) => Err(e),
        Err(TransactionError::Storage(e)) => Err(e.into()),
    }
}

impl Ledger for SledLedger {
    fn insert_batch(&self, batch: &[UsageRecord]) -> Result<InsertOutcome, MeteringError> {
        let prepared: Vec<(&UsageRecord, u64, Vec<u8>, Vec<u8>)> = batch
            .iter()
            .map(|r| {
                let t = time_us(r);
                (r, t, r.encode_to_vec(), time_key(t, &r.request_id))
            })
            .collect();
        let trees = (&self.records, &self.by_time, &self.agg, &self.meta);
        let outcome = finish(trees.transaction(|(records, by_time, agg, meta)| {
            let mark = read_mark(meta)?;
            let mut outcome = InsertOutcome::default();
            let mut deltas = Deltas::default();
            for (record, t, value, tkey) in &prepared {
                let id = record.request_id.as_bytes();
                if *t < mark {
                    outcome.expired += 1;
                    outcome.duplicates += 1;
                } else if records.get(id)?.is_some() {
                    outcome.duplicates += 1;
                } else {
                    records.insert(id, value.as_slice())?;
                    by_time.insert(tkey.as_slice(), &[] as &[u8])?;
                    deltas.add_record(record, t / 1_000_000);
                    outcome.inserted += 1;
                }
            }
            for (key, delta) in deltas.rows() {
                let mut totals = match agg.get(key)? {
                    Some(bytes) => UsageTotals::decode(bytes.as_ref()).map_err(abort)?,
                    None => UsageTotals::default(),
                };
                add(&mut totals, delta);
                agg.insert(key, totals.encode_to_vec())?;
            }
            Ok(outcome)
        }))?;
        // Group commit: one flush makes the whole batch durable before the ack.
        self.db.flush()?;
        Ok(outcome)
    }

    fn get(&self, request_id: &str) -> Result<Option<UsageRecord>, MeteringError> {
        match self.records.get(request_id.as_bytes())? {
            Some(bytes) => Ok(Some(UsageRecord::decode(bytes.as_ref())?)),
            None => Ok(None),
        }
    }

    fn list(
        &self,
        filter: &ListFilter,
    ) -> Result<(Vec<UsageRecord>, Option<Vec<u8>>), MeteringError> {
        let start = match &filter.after {
            Some(after) => {
                let mut next = after.clone();
                next.push(0);
                next
            }
            None => filter.start_us.to_be_bytes().to_vec(),
        };
        let end = filter.end_us.to_be_bytes().to_vec();
        let mut out = Vec::new();
        for item in self.by_time.range(start..end) {
            let (tkey, _) = item?;
            // Retention may have deleted the record between the two reads.
            let Some(id) = time_key_request_id(&tkey) else {
                continue;
            };
            let Some(record) = self.get(id)? else {
                continue;
            };
            if (!filter.tenant.is_empty() && record.tenant != filter.tenant)
                || (!filter.key_id.is_empty() && record.key_id != filter.key_id)
            {
                continue;
            }
            out.push(record);
            if out.len() >= filter.limit {
                return Ok((out, Some(tkey.to_vec())));
            }
        }
        Ok((out, None))
    }

    fn aggregates(&self, scan: &AggScan) -> Result<Vec<AggRow>, MeteringError> {
        // "By tenant within one tenant" is not a stored series: it is that tenant's
        // undivided series, labelled with the tenant.
        let (dimension, label) = match (&scan.tenant, scan.dimension) {
            (Some(tenant), Dimension::Tenant) => (Dimension::None, Some(tenant.clone())),
            (_, dimension) => (dimension, None),
        };
        let prefix = agg_prefix(scan.granularity, dimension, scan.tenant.as_deref());
        let from = agg_key(&prefix, scan.from_secs, "");
        let to = agg_key(&prefix, scan.to_secs, "");
        let mut rows = Vec::new();
        for item in self.agg.range(from..to).take(scan.limit) {
            let (key, value) = item?;
            let (bucket_start_secs, group) = split_agg_key(prefix.len(), &key)
                .ok_or_else(|| MeteringError::Store("malformed aggregate key".into()))?;
            rows.push(AggRow {
                bucket_start_secs,
                group: label.clone().unwrap_or(group),
                totals: UsageTotals::decode(value.as_ref())?,
            });
        }
        Ok(rows)
    }

    fn expire_before(&self, horizon_us: u64, max: usize) -> Result<usize, MeteringError> {
        let doomed = self
            .by_time
            .range(..horizon_us.to_be_bytes())
            .keys()
            .take(max)
            .collect::<Result<Vec<_>, _>>()?;
        let trees = (&self.records, &self.by_time, &self.meta);
        finish(trees.transaction(|(records, by_time, meta)| {
            // The mark rises in the same transaction as the deletes, so no redelivery
            // can slip in between a delete and the rule that refuses it.
            if read_mark(meta)? < horizon_us {
                meta.insert(MARK_KEY, &horizon_us.to_be_bytes())?;
            }
            for tkey in &doomed {
                by_time.remove(tkey)?;
                if let Some(id) = time_key_request_id(tkey) {
                    records.remove(id.as_bytes())?;
                }
            }
            Ok(())
        }))?;
        Ok(doomed.len())
    }

    fn retention_mark(&self) -> Result<u64, MeteringError> {
        Ok(decode_mark(self.meta.get(MARK_KEY)?.as_deref()))
    }

    fn flush(&self) -> Result<(), MeteringError> {
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Granularity;

    fn record(id: &str, secs: i64, tenant: &str) -> UsageRecord {
        UsageRecord {
            request_id: id.into(),
            time: Some(prost_types::Timestamp {
                seconds: secs,
                nanos: 0,
            }),
            tenant: tenant.into(),
            cost_micros: 5,
            ..Default::default()
        }
    }

    fn open(dir: &tempfile::TempDir) -> SledLedger {
        SledLedger::open(dir.path().to_str().unwrap()).unwrap()
    }

    fn counts(o: InsertOutcome) -> (u32, u32) {
        (o.inserted, o.duplicates)
    }

    #[test]
    fn inserts_each_request_once() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = open(&dir);
        let first = ledger
            .insert_batch(&[record("a", 1, "t"), record("b", 2, "t")])
            .unwrap();
        assert_eq!(counts(first), (2, 0));
        // A redelivery of "a" (even with different contents) is not rewritten.
        let mut changed = record("a", 1, "t");
        changed.cost_micros = 999;
        let again = ledger
            .insert_batch(&[changed, record("c", 3, "u"), record("c", 3, "u")])
            .unwrap();
        assert_eq!(counts(again), (1, 2));
        assert_eq!(ledger.get("a").unwrap().unwrap().cost_micros, 5);
        let all = ListFilter {
            end_us: u64::MAX,
            limit: 100,
            ..Default::default()
        };
        assert_eq!(ledger.list(&all).unwrap().0.len(), 3);
        let global = ledger
            .aggregates(&AggScan {
                granularity: Granularity::Month,
                dimension: Dimension::None,
                tenant: None,
                from_secs: 0,
                to_secs: u64::MAX,
                limit: 10,
            })
            .unwrap();
        assert_eq!(global.len(), 1);
        assert_eq!(global[0].totals.requests, 3);
        assert_eq!(global[0].totals.cost_micros, 15);
    }

    #[test]
    fn lists_in_time_order_with_filters_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = open(&dir);
        let batch: Vec<_> = (0..10)
            .map(|i| {
                record(
                    &format!("r{i}"),
                    100 - i,
                    if i % 2 == 0 { "even" } else { "odd" },
                )
            })
            .collect();
        ledger.insert_batch(&batch).unwrap();
        let mut filter = ListFilter {
            end_us: u64::MAX,
            limit: 3,
            tenant: "even".into(),
            ..Default::default()
        };
        let mut seen = Vec::new();
        loop {
            let (page, cursor) = ledger.list(&filter).unwrap();
            seen.extend(page.into_iter().map(|r| r.request_id));
            match cursor {
                Some(c) => filter.after = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, ["r8", "r6", "r4", "r2", "r0"]);
        let window = ListFilter {
            start_us: 95_000_000,
            end_us: 98_000_000,
            limit: 100,
            ..Default::default()
        };
        let ids: Vec<_> = ledger
            .list(&window)
            .unwrap()
            .0
            .into_iter()
            .map(|r| r.request_id)
            .collect();
        assert_eq!(ids, ["r5", "r4", "r3"]);
    }

    #[test]
    fn durable_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let ledger = open(&dir);
            ledger.insert_batch(&[record("x", 1, "t")]).unwrap();
            assert_eq!(ledger.expire_before(1_000, 10).unwrap(), 0);
        }
        let ledger = open(&dir);
        assert!(ledger.get("x").unwrap().is_some());
        assert_eq!(ledger.retention_mark().unwrap(), 1_000);
        assert_eq!(
            counts(ledger.insert_batch(&[record("x", 1, "t")]).unwrap()),
            (0, 1)
        );
    }

    #[test]
    fn expiry_deletes_in_batches_and_refuses_what_it_passed() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = open(&dir);
        let batch: Vec<_> = (0..25).map(|i| record(&format!("r{i}"), i, "t")).collect();
        ledger.insert_batch(&batch).unwrap();
        let horizon = 20_000_000; // records at 0..=19 s are older
        assert_eq!(ledger.expire_before(horizon, 8).unwrap(), 8);
        assert_eq!(ledger.expire_before(horizon, 8).unwrap(), 8);
        assert_eq!(ledger.expire_before(horizon, 8).unwrap(), 4);
        assert_eq!(ledger.expire_before(horizon, 8).unwrap(), 0);
        assert!(ledger.get("r19").unwrap().is_none());
        assert!(ledger.get("r20").unwrap().is_some());
        // The mark never goes down.
        ledger.expire_before(5, 8).unwrap();
        assert_eq!(ledger.retention_mark().unwrap(), horizon);
        let late = ledger
            .insert_batch(&[record("r3", 3, "t"), record("new", 30, "t")])
            .unwrap();
        assert_eq!(
            late,
            InsertOutcome {
                inserted: 1,
                duplicates: 1,
                expired: 1
            }
        );
    }
}
