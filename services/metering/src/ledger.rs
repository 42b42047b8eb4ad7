//! The ledger store behind a small trait, and its sled implementation.
//!
//! Layout (binary keys, big-endian, prefix-ordered for range scans):
//! - tree `records`: `request_id` → prost `UsageRecord`
//! - tree `by_time`: `time_us (u64 BE) | request_id` → empty
//!
//! A batch is inserted in one transaction over both trees, skipping request ids that
//! are already present, then flushed once (group commit) before it is acknowledged.

use prost::Message;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use switchyard_proto::metering::v1::UsageRecord;

use crate::MeteringError;

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
    /// Continue after this `by_time` key.
    pub after: Option<Vec<u8>>,
}

/// Where usage records live; a trait so tests and a future backend can swap sled out.
pub trait Ledger: Send + Sync + 'static {
    /// Inserts every record whose request id is new, durably. Returns
    /// (inserted, duplicates).
    fn insert_batch(&self, records: &[UsageRecord]) -> Result<(u32, u32), MeteringError>;
    /// The record of a request.
    fn get(&self, request_id: &str) -> Result<Option<UsageRecord>, MeteringError>;
    /// Records in time order, and the cursor to continue from when more remain.
    fn list(
        &self,
        filter: &ListFilter,
    ) -> Result<(Vec<UsageRecord>, Option<Vec<u8>>), MeteringError>;
    /// Makes every write durable.
    fn flush(&self) -> Result<(), MeteringError>;
}

/// The ledger in a sled database.
pub struct SledLedger {
    db: sled::Db,
    records: sled::Tree,
    by_time: sled::Tree,
}

impl SledLedger {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &str) -> Result<Self, MeteringError> {
        let db = sled::open(dir)?;
        let records = db.open_tree("records")?;
        let by_time = db.open_tree("by_time")?;
        Ok(Self {
            db,
            records,
            by_time,
        })
    }
}

/// Microseconds since the epoch of a record's time (0 when unset or before 1970).
pub(crate) fn time_us(record: &UsageRecord) -> u64 {
    record
        .time
        .as_ref()
        .map(|t| {
            let secs = u64::try_from(t.seconds).unwrap_or(0);
            let nanos = u64::try_from(t.nanos).unwrap_or(0);
            secs.saturating_mul(1_000_000).saturating_add(nanos / 1_000)
        })
        .unwrap_or(0)
}

fn time_key(time_us: u64, request_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + request_id.len());
    key.extend_from_slice(&time_us.to_be_bytes());
    key.extend_from_slice(request_id.as_bytes());
    key
}

impl Ledger for SledLedger {
    fn insert_batch(&self, batch: &[UsageRecord]) -> Result<(u32, u32), MeteringError> {
        let encoded: Vec<(&str, Vec<u8>, Vec<u8>)> = batch
            .iter()
            .map(|r| {
                (
                    r.request_id.as_str(),
                    r.encode_to_vec(),
                    time_key(time_us(r), &r.request_id),
                )
            })
            .collect();
        let result = (&self.records, &self.by_time).transaction(|(records, by_time)| {
            let (mut inserted, mut duplicates) = (0u32, 0u32);
            for (id, value, tkey) in &encoded {
                if records.get(id.as_bytes())?.is_some() {
                    duplicates += 1;
                    continue;
                }
                records.insert(id.as_bytes(), value.as_slice())?;
                by_time.insert(tkey.as_slice(), &[] as &[u8])?;
                inserted += 1;
            }
            Ok::<_, ConflictableTransactionError<MeteringError>>((inserted, duplicates))
        });
        let counts = match result {
            Ok(counts) => counts,
            Err(TransactionError::Abort(e)) => return Err(e),
            Err(TransactionError::Storage(e)) => return Err(e.into()),
        };
        // Group commit: one flush makes the whole batch durable before the ack.
        self.db.flush()?;
        Ok(counts)
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
            let id = String::from_utf8_lossy(&tkey[8..]).into_owned();
            let Some(record) = self.get(&id)? else {
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

    fn flush(&self) -> Result<(), MeteringError> {
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn inserts_each_request_once() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = SledLedger::open(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(
            ledger
                .insert_batch(&[record("a", 1, "t"), record("b", 2, "t")])
                .unwrap(),
            (2, 0)
        );
        // A redelivery of "a" (even with different contents) is not rewritten.
        let mut changed = record("a", 1, "t");
        changed.cost_micros = 999;
        assert_eq!(
            ledger
                .insert_batch(&[changed, record("c", 3, "u")])
                .unwrap(),
            (1, 1)
        );
        assert_eq!(ledger.get("a").unwrap().unwrap().cost_micros, 5);
        let all = ListFilter {
            end_us: u64::MAX,
            limit: 100,
            ..Default::default()
        };
        assert_eq!(ledger.list(&all).unwrap().0.len(), 3);
    }

    #[test]
    fn lists_in_time_order_with_filters_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = SledLedger::open(dir.path().to_str().unwrap()).unwrap();
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
        let path = dir.path().to_str().unwrap().to_string();
        {
            let ledger = SledLedger::open(&path).unwrap();
            ledger.insert_batch(&[record("x", 1, "t")]).unwrap();
        }
        let ledger = SledLedger::open(&path).unwrap();
        assert!(ledger.get("x").unwrap().is_some());
        assert_eq!(ledger.insert_batch(&[record("x", 1, "t")]).unwrap(), (0, 1));
    }
}
