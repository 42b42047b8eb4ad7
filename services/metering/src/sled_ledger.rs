//! The ledger in sled.
//!
//! Trees, each an ordered map packed into runs of entries (`runs.rs`: sled's memory
//! grows with its key count, so a million records must not be a million keys; key
//! layout in `keys.rs`):
//! - `record_runs`: `time_us | request_id` → prost `UsageRecord`, in time order for
//!   listings, exports and retention (runs of up to 4 KiB);
//! - `id_runs`: `request_id` → `time_us` (u64 BE), to refuse a repeated request id
//!   and to find a record by id (runs of up to 1 KiB: ids arrive in random order);
//! - `agg_runs`: (granularity, series, bucket, group) → prost `UsageTotals`
//!   (runs of up to 2 KiB);
//! - `meta`: `retention_mark` → u64 BE µs.
//!
//! Writers (a batch, an expiry step, the migration) take one lock, plan their changes
//! by reading the trees, and commit them in one transaction over every tree they
//! touch, then flush once (group commit) before acknowledging. Duplicates and expired
//! records change nothing, so a redelivery never counts twice. A database written by
//! the earlier one-key-per-row layout (`records`, `by_time`, `agg`) is converted on
//! open.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use prost::Message;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::{IVec, Transactional};
use switchyard_proto::metering::v1::{UsageRecord, UsageTotals};

use crate::MeteringError;
use crate::aggregate::{Deltas, add};
use crate::keys::{agg_key, agg_prefix, split_agg_key, time_key, time_key_request_id};
use crate::ledger::{AggRow, AggScan, Dimension, InsertOutcome, Ledger, ListFilter, time_us};
use crate::runs::{Change, RunWrite, Runs, apply};

const MARK_KEY: &[u8] = b"retention_mark";
/// Largest run of records: a few dozen records, rewritten as a batch appends to it.
const RECORD_RUN_BYTES: usize = 4096;
/// Largest run of the id index: ids land in random runs, so each is kept small.
const ID_RUN_BYTES: usize = 1024;
/// Largest run of aggregate rows: a batch touches 27 rows in different runs.
const AGG_RUN_BYTES: usize = 2048;
/// Rows converted per transaction when migrating an earlier layout.
const MIGRATE_BATCH: usize = 4096;

/// The ledger in a sled database.
pub struct SledLedger {
    db: sled::Db,
    records: Runs,
    ids: Runs,
    agg: Runs,
    meta: sled::Tree,
    /// Held by every writer from planning to commit (see `runs.rs`).
    write: Mutex<()>,
}

impl SledLedger {
    /// Opens (or creates) the database in `dir`, converting an earlier layout, with
    /// the default page cache (`metering.cache_mb`'s default, 16 MiB).
    pub fn open(dir: &str) -> Result<Self, MeteringError> {
        let cache_mb = switchyard_config::MeteringConfig::default().cache_mb;
        Self::open_with_cache(dir, cache_mb << 20)
    }

    /// [`SledLedger::open`] with a page cache of `cache_bytes`. sled's own default
    /// (1 GiB) lets the cache grow with everything written; the ledger's reads are
    /// a few runs per summary, so a small cache bounds its memory at little cost.
    pub fn open_with_cache(dir: &str, cache_bytes: u64) -> Result<Self, MeteringError> {
        let db = switchyard_durable::open(dir, sled::Config::new().cache_capacity(cache_bytes))?;
        let ledger = Self {
            records: Runs::new(db.open_tree("record_runs")?, RECORD_RUN_BYTES),
            ids: Runs::new(db.open_tree("id_runs")?, ID_RUN_BYTES),
            agg: Runs::new(db.open_tree("agg_runs")?, AGG_RUN_BYTES),
            meta: db.open_tree("meta")?,
            write: Mutex::new(()),
            db,
        };
        ledger.migrate_one_key_per_row()?;
        Ok(ledger)
    }

    /// The stored Responses API answers, in this ledger's database (one data
    /// directory, one flush).
    pub fn responses(&self) -> Result<crate::SledResponses, MeteringError> {
        crate::SledResponses::open(&self.db)
    }

    /// The conversation store in the same database.
    pub fn conversations(&self) -> Result<crate::SledConversations, MeteringError> {
        crate::SledConversations::open(&self.db)
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        // The guard protects no data of its own: a panicked writer left the trees as
        // its last committed transaction did.
        self.write.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Commits planned writes to the three trees in one transaction.
    fn commit(
        &self,
        records: &[RunWrite],
        ids: &[RunWrite],
        agg: &[RunWrite],
        mark: Option<u64>,
    ) -> Result<(), MeteringError> {
        let trees = (
            self.records.tree(),
            self.ids.tree(),
            self.agg.tree(),
            &self.meta,
        );
        finish(trees.transaction(|(r, i, a, meta)| {
            apply(r, records)?;
            apply(i, ids)?;
            apply(a, agg)?;
            if let Some(mark) = mark {
                meta.insert(MARK_KEY, &mark.to_be_bytes())?;
            }
            Ok::<_, ConflictableTransactionError<MeteringError>>(())
        }))
    }

    /// Converts a database of the earlier layout (one sled key per record, time-index
    /// entry and aggregate row) into runs, then drops the old trees. Every step only
    /// sets entries to the old values, so a crash part-way is repaired by the next
    /// open doing it again; the aggregate tree is dropped last, after the records.
    fn migrate_one_key_per_row(&self) -> Result<(), MeteringError> {
        let names = self.db.tree_names();
        let has = |name: &str| names.iter().any(|n| n.as_ref() == name.as_bytes());
        if !has("agg") && !has("records") {
            return Ok(());
        }
        let _write = self.lock();
        if has("records") && has("by_time") {
            let old_records = self.db.open_tree("records")?;
            let by_time = self.db.open_tree("by_time")?;
            // The time index gives the records in the new key order.
            let rows = by_time.iter().keys().filter_map(|item| {
                let row = item.and_then(|tkey| {
                    let Some(id) = time_key_request_id(&tkey) else {
                        return Ok(None);
                    };
                    Ok(old_records.get(id.as_bytes())?.map(|record| (tkey, record)))
                });
                row.transpose()
            });
            self.in_batches(rows, Self::put_records)?;
        }
        if has("agg") {
            self.in_batches(self.db.open_tree("agg")?.iter(), Self::put_agg)?;
        }
        self.db.flush()?;
        for name in ["by_time", "records", "agg"] {
            if has(name) {
                self.db.drop_tree(name)?;
            }
        }
        self.db.flush()?;
        tracing::info!("metering ledger converted to the packed layout");
        Ok(())
    }

    /// Migration: hands `rows` (in key order) to `put` [`MIGRATE_BATCH`] at a time.
    fn in_batches(
        &self,
        rows: impl Iterator<Item = sled::Result<(IVec, IVec)>>,
        put: impl Fn(&Self, &[(IVec, IVec)]) -> Result<(), MeteringError>,
    ) -> Result<(), MeteringError> {
        let mut batch = Vec::with_capacity(MIGRATE_BATCH);
        for row in rows {
            batch.push(row?);
            if batch.len() == MIGRATE_BATCH {
                put(self, &batch)?;
                batch.clear();
            }
        }
        put(self, &batch)
    }

    /// Migration: stores `(record key, encoded record)` rows, in key order, as they
    /// were, with their id index entries.
    fn put_records(&self, rows: &[(IVec, IVec)]) -> Result<(), MeteringError> {
        let ids: BTreeMap<&str, &[u8]> = rows
            .iter()
            .filter_map(|(tkey, _)| Some((time_key_request_id(tkey)?, tkey.get(..8)?)))
            .collect();
        let mut record_writes = Vec::new();
        self.records.plan(
            rows.iter().map(|(k, v)| (k, v)),
            |_, record, _| Ok(Change::Put(record.to_vec())),
            &mut record_writes,
        )?;
        let mut id_writes = Vec::new();
        self.ids.plan(
            ids,
            |_, time, _| Ok(Change::Put(time.to_vec())),
            &mut id_writes,
        )?;
        self.commit(&record_writes, &id_writes, &[], None)
    }

    /// Migration: stores aggregate rows (in key order) as they were.
    fn put_agg(&self, rows: &[(IVec, IVec)]) -> Result<(), MeteringError> {
        let mut writes = Vec::new();
        self.agg.plan(
            rows.iter().map(|(k, v)| (k, v)),
            |_, totals, _| Ok(Change::Put(totals.to_vec())),
            &mut writes,
        )?;
        self.commit(&[], &[], &writes, None)
    }
}

fn decode_mark(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes)
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
        let _write = self.lock();
        let mark = self.retention_mark()?;
        let mut outcome = InsertOutcome::default();
        // The first occurrence of each id in the batch, unless retention passed it.
        let mut first: BTreeMap<&[u8], (&UsageRecord, u64)> = BTreeMap::new();
        for record in batch {
            let t = time_us(record);
            if t < mark {
                outcome.expired += 1;
                outcome.duplicates += 1;
            } else if first.contains_key(record.request_id.as_bytes()) {
                outcome.duplicates += 1;
            } else {
                first.insert(record.request_id.as_bytes(), (record, t));
            }
        }
        // Ids already in the ledger are duplicates; the rest are new.
        let mut new: BTreeMap<Vec<u8>, (&UsageRecord, u64)> = BTreeMap::new();
        let mut id_writes = Vec::new();
        self.ids.plan(
            first,
            |_, (record, t), stored| {
                if stored.is_some() {
                    outcome.duplicates += 1;
                    return Ok(Change::Keep);
                }
                new.insert(time_key(t, &record.request_id), (record, t));
                Ok(Change::Put(t.to_be_bytes().to_vec()))
            },
            &mut id_writes,
        )?;
        let mut deltas = Deltas::default();
        let mut record_writes = Vec::new();
        self.records.plan(
            new,
            |_, (record, t), _| {
                deltas.add_record(record, t / 1_000_000);
                outcome.inserted += 1;
                Ok(Change::Put(record.encode_to_vec()))
            },
            &mut record_writes,
        )?;
        let mut agg_writes = Vec::new();
        self.agg.plan(
            deltas.rows(),
            |_, delta, stored| {
                let mut totals = match stored {
                    Some(bytes) => UsageTotals::decode(bytes)?,
                    None => UsageTotals::default(),
                };
                add(&mut totals, delta);
                Ok(Change::Put(totals.encode_to_vec()))
            },
            &mut agg_writes,
        )?;
        self.commit(&record_writes, &id_writes, &agg_writes, None)?;
        // Group commit: one flush makes the whole batch durable before the ack.
        self.db.flush()?;
        Ok(outcome)
    }

    fn get(&self, request_id: &str) -> Result<Option<UsageRecord>, MeteringError> {
        let Some(time) = self.ids.get(request_id.as_bytes())? else {
            return Ok(None);
        };
        let time = decode_mark(Some(time.as_slice()));
        match self.records.get(&time_key(time, request_id))? {
            Some(bytes) => Ok(Some(UsageRecord::decode(bytes.as_slice())?)),
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
        let end = filter.end_us.to_be_bytes();
        let mut out = Vec::new();
        for item in self.records.scan(&start) {
            let (tkey, value) = item?;
            if tkey.as_slice() >= end.as_slice() {
                break;
            }
            let record = UsageRecord::decode(value.as_slice())?;
            if (!filter.tenant.is_empty() && record.tenant != filter.tenant)
                || (!filter.key_id.is_empty() && record.key_id != filter.key_id)
            {
                continue;
            }
            out.push(record);
            if out.len() >= filter.limit {
                return Ok((out, Some(tkey)));
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
        for item in self.agg.scan(&from) {
            let (key, value) = item?;
            if key >= to || rows.len() >= scan.limit {
                break;
            }
            let (bucket_start_secs, group) = split_agg_key(prefix.len(), &key)
                .ok_or_else(|| MeteringError::Store("malformed aggregate key".into()))?;
            rows.push(AggRow {
                bucket_start_secs,
                group: label.clone().unwrap_or(group),
                totals: UsageTotals::decode(value.as_slice())?,
            });
        }
        Ok(rows)
    }

    fn expire_before(&self, horizon_us: u64, max: usize) -> Result<usize, MeteringError> {
        let _write = self.lock();
        let horizon = horizon_us.to_be_bytes();
        let mut doomed = Vec::new();
        for item in self.records.scan(&[]).take(max) {
            let (tkey, _) = item?;
            if tkey.as_slice() >= horizon.as_slice() {
                break;
            }
            doomed.push(tkey);
        }
        let mut record_writes = Vec::new();
        self.records.plan(
            doomed.iter().map(|k| (k, ())),
            |_, (), _| Ok(Change::Remove),
            &mut record_writes,
        )?;
        let ids: std::collections::BTreeSet<&str> = doomed
            .iter()
            .filter_map(|k| time_key_request_id(k))
            .collect();
        let mut id_writes = Vec::new();
        self.ids.plan(
            ids.into_iter().map(|id| (id, ())),
            |_, (), _| Ok(Change::Remove),
            &mut id_writes,
        )?;
        // The mark rises in the same transaction as the deletes, so no redelivery can
        // slip in between a delete and the rule that refuses it.
        let mark = (self.retention_mark()? < horizon_us).then_some(horizon_us);
        self.commit(&record_writes, &id_writes, &[], mark)?;
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

    /// The undivided monthly totals, every month.
    fn all_time_totals(ledger: &SledLedger) -> Vec<AggRow> {
        ledger
            .aggregates(&AggScan {
                granularity: Granularity::Month,
                dimension: Dimension::None,
                tenant: None,
                from_secs: 0,
                to_secs: u64::MAX,
                limit: 10,
            })
            .unwrap()
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
        let global = all_time_totals(&ledger);
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
    fn many_records_make_few_sled_keys() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = open(&dir);
        let n = 5_000;
        let span = 3 * 86_400;
        let batch: Vec<_> = (0..n)
            .map(|i| crate::synthetic::record(i, n, 1_767_225_600, span))
            .collect();
        for chunk in batch.chunks(256) {
            ledger.insert_batch(chunk).unwrap();
        }
        let keys = ledger.records.tree().len() + ledger.ids.tree().len() + ledger.agg.tree().len();
        // One key per record, per index entry and per aggregate row would be 5,000 +
        // 5,000 + about 30,000; runs hold them in a few thousand.
        assert!(keys < 5_000, "{keys} sled keys");
        assert_eq!(
            ledger.get("synthetic-0000004321").unwrap().unwrap(),
            batch[4321]
        );
        let all = ListFilter {
            end_us: u64::MAX,
            limit: 10_000,
            ..Default::default()
        };
        assert_eq!(ledger.list(&all).unwrap().0, batch);
    }

    #[test]
    fn converts_the_one_key_per_row_layout_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let old: Vec<_> = (0..300u64)
            .map(|i| record(&format!("old-{i}"), 1_000 + (i as i64 * 7919) % 500, "t"))
            .collect();
        let month = agg_prefix(Granularity::Month, Dimension::None, None);
        {
            // What the earlier layout wrote: a key per record, per time-index entry
            // and per aggregate row, here with an aggregate of records retention has
            // already deleted (it is kept, so must survive the conversion).
            let db = switchyard_durable::open(dir.path(), sled::Config::new()).unwrap();
            let records = db.open_tree("records").unwrap();
            let by_time = db.open_tree("by_time").unwrap();
            for r in &old {
                records
                    .insert(r.request_id.as_bytes(), r.encode_to_vec())
                    .unwrap();
                by_time
                    .insert(time_key(time_us(r), &r.request_id), &[] as &[u8])
                    .unwrap();
            }
            let totals = UsageTotals {
                requests: 1_000,
                cost_micros: 77_000,
                ..Default::default()
            };
            db.open_tree("agg")
                .unwrap()
                .insert(agg_key(&month, 0, ""), totals.encode_to_vec())
                .unwrap();
            db.flush().unwrap();
        }
        for _ in 0..2 {
            let ledger = open(&dir);
            let names = ledger.db.tree_names();
            for gone in ["records", "by_time", "agg"] {
                assert!(
                    !names.iter().any(|n| n.as_ref() == gone.as_bytes()),
                    "{gone}"
                );
            }
            assert_eq!(ledger.get("old-42").unwrap().unwrap(), old[42]);
            let all = ListFilter {
                end_us: u64::MAX,
                limit: 1_000,
                ..Default::default()
            };
            let mut expected = old.clone();
            expected.sort_by_key(|r| (time_us(r), r.request_id.clone()));
            assert_eq!(ledger.list(&all).unwrap().0, expected);
            let rows = all_time_totals(&ledger);
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].totals.cost_micros, 77_000);
            // Converted ids still refuse a redelivery.
            assert_eq!(
                counts(ledger.insert_batch(&[old[7].clone()]).unwrap()),
                (0, 1)
            );
        }
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
