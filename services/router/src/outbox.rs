//! The router's durable usage outbox.
//!
//! Every finished usage record is written here before the client sees the request
//! complete, and deleted only after metering acknowledged it. So a record survives a
//! router crash (kill -9) or restart and is delivered later; metering's idempotency
//! by request id makes the redelivery harmless.
//!
//! Layout: sled tree `outbox`, key = sequence number (u64 BE, so iteration is oldest
//! first), value = prost `UsageRecord`, and in front of it the write-ahead
//! [`Journal`] (`<outbox_dir>/journal`). Before the answer a record only goes to
//! the journal: its one `write` puts it in the kernel, so no crash of the router
//! process can lose it, with no fsync and no sled write on the request path. A
//! flusher task moves what the journal gathered into sled behind the answers (one
//! batch and one flush for everything written since the last: group commit), then
//! drops the journal segment the records were in; the shipper sees a record once it
//! is in sled. Records of a previous run found in the journal at start-up are put
//! back into sled first.
//!
//! `router.outbox_sync = "per-request"` instead waits for that flush before each
//! answer: every answered record then also survives a power loss, at the cost of
//! an fsync in every request's latency.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use prost::Message;
use switchyard_proto::metering::v1::UsageRecord;
use tokio::sync::{Notify, watch};

use crate::RouterError;
use crate::journal::{Frame, Journal};

/// Records waiting for metering's acknowledgement, on local disk.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    tree: sled::Tree,
    journal: Journal,
    max_records: u64,
    /// Whether each push waits for its flush.
    per_request: bool,
    /// How long writes gather before a flush (`router.outbox_flush_ms`; not
    /// under `per_request`).
    gather: Duration,
    /// Records waiting, in sled or still only in the journal (sled's own `len`
    /// walks the whole tree).
    waiting: AtomicU64,
    /// The next record's sequence number (its sled key).
    next_seq: AtomicU64,
    /// Writes issued so far (a writer's ticket).
    written: AtomicU64,
    /// The highest ticket known durable on disk.
    durable: watch::Sender<u64>,
    wake: Arc<Notify>,
    /// One flush at a time (the flusher's, or shutdown's).
    flushing: tokio::sync::Mutex<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Let the flusher see that the outbox is gone and end.
        self.wake.notify_one();
    }
}

fn outbox_err(message: String) -> RouterError {
    RouterError::Outbox {
        key: "router.outbox_dir",
        message,
    }
}

impl Outbox {
    /// Opens (or creates) the outbox in `dir` and starts its flusher (on the
    /// current tokio runtime). Records left by a previous run, in sled or only in
    /// the journal, are kept and will be shipped. `per_request`: see the module
    /// docs (`router.outbox_sync`).
    pub fn open(
        dir: &str,
        max_records: u64,
        per_request: bool,
        gather: Duration,
    ) -> Result<Self, RouterError> {
        let db = switchyard_durable::open(dir, sled::Config::new())
            .map_err(|e| outbox_err(format!("cannot open {dir}: {e}")))?;
        let tree = db.open_tree("outbox").map_err(RouterError::outbox)?;
        let journal_dir = Path::new(dir).join("journal");
        let (journal, recovered) = Journal::open(&journal_dir).map_err(|e| {
            outbox_err(format!(
                "cannot open the journal in {}: {e}",
                journal_dir.display()
            ))
        })?;
        if !recovered.entries.is_empty() {
            // Answered before a crash, maybe not yet in sled: put back (the same
            // key again is the same record), durably, before the segments go.
            let mut batch = sled::Batch::default();
            for (seq, record) in &recovered.entries {
                batch.insert(&seq.to_be_bytes(), record.as_slice());
            }
            tree.apply_batch(batch).map_err(RouterError::outbox)?;
            tracing::info!(
                records = recovered.entries.len(),
                "usage outbox: replayed the journal of a previous run"
            );
        }
        db.flush().map_err(RouterError::outbox)?;
        for segment in recovered.segments {
            std::fs::remove_file(&segment)
                .map_err(|e| outbox_err(format!("cannot remove {}: {e}", segment.display())))?;
        }
        let waiting = tree.len() as u64;
        let next_seq = match tree.last().map_err(RouterError::outbox)? {
            Some((key, _)) => <[u8; 8]>::try_from(key.as_ref())
                .map(|k| u64::from_be_bytes(k).saturating_add(1))
                .map_err(|_| outbox_err("an outbox key is not a sequence number".into()))?,
            None => 0,
        };
        let (durable, _) = watch::channel(0);
        let wake = Arc::new(Notify::new());
        let inner = Arc::new(Inner {
            db,
            tree,
            journal,
            max_records,
            per_request,
            gather,
            waiting: AtomicU64::new(waiting),
            next_seq: AtomicU64::new(next_seq),
            written: AtomicU64::new(0),
            durable,
            wake: wake.clone(),
            flushing: tokio::sync::Mutex::new(()),
        });
        tokio::spawn(flusher(Arc::downgrade(&inner), wake));
        if waiting > 0 {
            tracing::info!(
                records = waiting,
                "usage outbox holds records from a previous run"
            );
        }
        Ok(Self { inner })
    }

    /// Writes a record. On return it survives a crash of this process (it is in
    /// the journal); with `outbox_sync = "per-request"` it is also on disk.
    pub async fn push(&self, record: &UsageRecord) -> Result<(), RouterError> {
        let inner = &self.inner;
        let seq = inner.next_seq.fetch_add(1, Ordering::Relaxed);
        inner
            .journal
            .append(Frame::encode(seq, record))
            .map_err(|e| outbox_err(format!("journal write failed: {e}")))?;
        inner.waiting.fetch_add(1, Ordering::AcqRel);
        let ticket = inner.written.fetch_add(1, Ordering::AcqRel) + 1;
        inner.wake.notify_one();
        if inner.per_request {
            inner
                .durable
                .subscribe()
                .wait_for(|&done| done >= ticket)
                .await
                .map_err(|_| outbox_err("outbox flusher stopped".into()))?;
        }
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

    /// Makes every write so far durable on disk (shutdown).
    pub async fn flush(&self) -> Result<(), RouterError> {
        self.inner.flush().await
    }
}

impl Inner {
    /// One group commit: a new journal segment for the writes from now on; once the
    /// old segment's writers are done, its records go into sled in one batch and
    /// one flush, then the old segment is dropped (its records are durable in
    /// sled).
    async fn flush(&self) -> Result<(), RouterError> {
        let _one = self.flushing.lock().await;
        let target = self.written.load(Ordering::Acquire);
        let retired = self
            .journal
            .rotate()
            .map_err(|e| outbox_err(format!("journal rotation failed: {e}")))?;
        retired.writers_done().await;
        let mut batch = sled::Batch::default();
        for frame in retired.take() {
            batch.insert(frame.seq(), frame.record());
        }
        // On a failure here the frames are gone from memory but their segment
        // stays on disk (it is removed only below), so the next start replays them.
        self.tree.apply_batch(batch).map_err(RouterError::outbox)?;
        self.db.flush_async().await.map_err(RouterError::outbox)?;
        self.durable.send_if_modified(|done| {
            let moved = target > *done;
            *done = (*done).max(target);
            moved
        });
        retired
            .remove()
            .map_err(|e| outbox_err(format!("cannot remove a journal segment: {e}")))
    }
}

/// Flushes whenever records were written since the last flush, letting writes
/// gather first (`router.outbox_flush_ms`: fewer, larger syncs keep the disk's
/// journal commits from stalling the request path's writes). Holds the outbox only while flushing, so dropping
/// every handle closes it.
async fn flusher(inner: Weak<Inner>, wake: Arc<Notify>) {
    loop {
        let Some(mut strong) = inner.upgrade() else {
            return;
        };
        if *strong.durable.borrow() >= strong.written.load(Ordering::Acquire) {
            drop(strong);
            // notify_one keeps a permit, so a write between the check and this wait
            // is not missed.
            wake.notified().await;
            continue;
        }
        if !strong.per_request {
            let gather = strong.gather;
            drop(strong);
            tokio::time::sleep(gather).await;
            let Some(again) = inner.upgrade() else {
                return;
            };
            strong = again;
        }
        if let Err(e) = strong.flush().await {
            tracing::error!(error = %e, "usage outbox flush failed; retrying");
            drop(strong);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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

    /// Flushes and waits until the flusher let go, so the directory can be
    /// opened again in this process (sled locks it while open).
    async fn close(outbox: Outbox) {
        outbox.flush().await.unwrap();
        let weak = Arc::downgrade(&outbox.inner);
        drop(outbox);
        while weak.strong_count() > 0 {
            tokio::task::yield_now().await;
        }
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }

    /// A crash right after the answers: the flusher never ran, sled never
    /// flushed; only the journal holds the records.
    #[tokio::test(flavor = "current_thread")]
    async fn answered_records_survive_a_crash_before_any_flush() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live");
        let outbox =
            Outbox::open(live.to_str().unwrap(), 100, false, Duration::from_millis(5)).unwrap();
        for i in 0..5 {
            outbox.push(&record(&format!("r{i}"))).await.unwrap();
        }
        // What is on disk now is what a kill -9 would leave (this single-threaded
        // runtime has not let the flusher run).
        let crashed = dir.path().join("crashed");
        copy_dir(&live, &crashed);
        std::mem::forget(outbox);
        let outbox = Outbox::open(
            crashed.to_str().unwrap(),
            100,
            false,
            Duration::from_millis(5),
        )
        .unwrap();
        let mut ids: Vec<_> = outbox
            .oldest(100)
            .unwrap()
            .into_iter()
            .map(|(_, r)| r.request_id)
            .collect();
        ids.sort();
        assert_eq!(ids, ["r0", "r1", "r2", "r3", "r4"]);
        assert_eq!(outbox.len(), 5);
        // Replayed once: a second start finds them in sled, not doubled.
        close(outbox).await;
        let again = Outbox::open(
            crashed.to_str().unwrap(),
            100,
            false,
            Duration::from_millis(5),
        )
        .unwrap();
        assert_eq!(again.len(), 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn per_request_sync_waits_for_the_flush() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path().to_str().unwrap(), 100, true, Duration::ZERO).unwrap();
        outbox.push(&record("r0")).await.unwrap();
        // Answered only once durable: the flush covering it has completed.
        assert!(*outbox.inner.durable.borrow() >= 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_survive_reopen_until_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap().to_string();
        {
            let outbox = Outbox::open(&path, 10, false, Duration::from_millis(5)).unwrap();
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
            // In the journal only until the next flush moves them into sled.
            outbox.flush().await.unwrap();
            let first = outbox.oldest(20).unwrap();
            assert_eq!(first.len(), 20);
            outbox
                .ack(first.into_iter().map(|(k, _)| k).collect())
                .unwrap();
            assert_eq!(outbox.len(), 30);
            close(outbox).await;
        }
        // Reopen, as after a restart: the 30 unacknowledged records are still there.
        let outbox = Outbox::open(&path, 10, false, Duration::from_millis(5)).unwrap();
        assert_eq!(outbox.len(), 30);
        let rest = outbox.oldest(100).unwrap();
        assert_eq!(rest.len(), 30);
        let mut ids: Vec<_> = rest.iter().map(|(_, r)| r.request_id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 30);
    }
}
