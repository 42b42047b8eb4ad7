//! The router's durable usage outbox.
//!
//! Every finished usage record is written here before the client sees the request
//! complete, and deleted only after metering acknowledged it. So a record survives a
//! router crash (kill -9) or restart and is delivered later; metering's idempotency
//! by request id makes the redelivery harmless.
//!
//! Layout: sled tree `outbox`, key = sequence number (u64 BE, so iteration is oldest
//! first), value = prost `UsageRecord`. Durability uses group commit
//! ([`switchyard_durable::GroupCommit`]), so concurrent requests share an fsync
//! instead of paying one each.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prost::Message;
use switchyard_durable::GroupCommit;
use switchyard_proto::metering::v1::UsageRecord;

use crate::RouterError;

/// Records waiting for metering's acknowledgement, on local disk.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

struct Inner {
    commit: GroupCommit,
    tree: sled::Tree,
    max_records: u64,
    /// Records waiting (sled's own `len` walks the whole tree).
    waiting: AtomicU64,
}

impl Outbox {
    /// Opens (or creates) the outbox in `dir` and starts its flusher. Records left
    /// by a previous run are kept and will be shipped.
    pub fn open(dir: &str, max_records: u64) -> Result<Self, RouterError> {
        let db = sled::open(dir).map_err(|e| RouterError::Outbox {
            key: "router.outbox_dir",
            message: format!("cannot open {dir}: {e}"),
        })?;
        let tree = db.open_tree("outbox").map_err(RouterError::outbox)?;
        let waiting = tree.len() as u64;
        let outbox = Self {
            inner: Arc::new(Inner {
                commit: GroupCommit::start(db, "usage outbox"),
                tree,
                max_records,
                waiting: AtomicU64::new(waiting),
            }),
        };
        if waiting > 0 {
            tracing::info!(
                records = waiting,
                "usage outbox holds records from a previous run"
            );
        }
        Ok(outbox)
    }

    /// Writes a record and returns once it is durable.
    pub async fn push(&self, record: &UsageRecord) -> Result<(), RouterError> {
        let inner = &self.inner;
        let seq = inner
            .commit
            .db()
            .generate_id()
            .map_err(RouterError::outbox)?;
        inner
            .tree
            .insert(seq.to_be_bytes(), record.encode_to_vec())
            .map_err(RouterError::outbox)?;
        inner.waiting.fetch_add(1, Ordering::AcqRel);
        inner
            .commit
            .durable()
            .await
            .map_err(|_| RouterError::Outbox {
                key: "router.outbox_dir",
                message: "outbox flusher stopped".into(),
            })?;
        Ok(())
    }

    /// The oldest records, up to `n`, with their keys for [`Outbox::ack`].
    pub fn oldest(&self, n: usize) -> Result<Vec<(sled::IVec, UsageRecord)>, RouterError> {
        let mut out = Vec::with_capacity(n.min(1024));
        for item in self.inner.tree.iter().take(n) {
            let (key, value) = item.map_err(RouterError::outbox)?;
            match UsageRecord::decode(value.as_ref()) {
                Ok(record) => out.push((key, record)),
                Err(e) => {
                    // A torn or corrupt entry cannot be shipped; keep it out of the
                    // way (and in the logs) rather than block every record behind it.
                    tracing::error!(error = %e, "corrupt usage outbox entry skipped and removed");
                    if self
                        .inner
                        .tree
                        .remove(key)
                        .map_err(RouterError::outbox)?
                        .is_some()
                    {
                        self.inner.waiting.fetch_sub(1, Ordering::AcqRel);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Deletes acknowledged records. Not flushed at once: if the deletion is lost in
    /// a crash, the records are shipped again and metering ignores the duplicates.
    /// The keys must come from [`Outbox::oldest`] (each present once).
    pub fn ack(&self, keys: Vec<sled::IVec>) -> Result<(), RouterError> {
        let count = keys.len() as u64;
        let mut batch = sled::Batch::default();
        for key in keys {
            batch.remove(key);
        }
        self.inner
            .tree
            .apply_batch(batch)
            .map_err(RouterError::outbox)?;
        self.inner.waiting.fetch_sub(count, Ordering::AcqRel);
        Ok(())
    }

    /// Records waiting (a counter, not a scan: cheap enough for every admission).
    pub fn len(&self) -> u64 {
        self.inner.waiting.load(Ordering::Acquire)
    }

    /// Whether no record is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the outbox reached `router.outbox_max_records`: new requests are
    /// refused until metering catches up, so no traffic goes unbilled.
    pub fn is_full(&self) -> bool {
        self.len() >= self.inner.max_records
    }

    /// Makes every write durable (shutdown).
    pub async fn flush(&self) -> Result<(), RouterError> {
        self.inner.commit.flush().await.map_err(RouterError::outbox)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> UsageRecord {
        UsageRecord {
            request_id: id.into(),
            ..Default::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_survive_reopen_until_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap().to_string();
        {
            let outbox = Outbox::open(&path, 10).unwrap();
            let writers: Vec<_> = (0..50)
                .map(|i| {
                    let o = outbox.clone();
                    tokio::spawn(async move { o.push(&record(&format!("r{i}"))).await })
                })
                .collect();
            for w in writers {
                w.await.unwrap().unwrap();
            }
            assert_eq!(outbox.len(), 50);
            assert!(outbox.is_full());
            let first = outbox.oldest(20).unwrap();
            assert_eq!(first.len(), 20);
            outbox
                .ack(first.into_iter().map(|(k, _)| k).collect())
                .unwrap();
            assert_eq!(outbox.len(), 30);
            outbox.flush().await.unwrap();
        }
        // Reopen, as after a restart: the 30 unacknowledged records are still there.
        let outbox = Outbox::open(&path, 10).unwrap();
        assert_eq!(outbox.len(), 30);
        let rest = outbox.oldest(100).unwrap();
        assert_eq!(rest.len(), 30);
        let mut ids: Vec<_> = rest.iter().map(|(_, r)| r.request_id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 30);
    }
}
