//! The router's durable usage outbox.
//!
//! Every finished usage record is written here before the client sees the request
//! complete, and stays until metering acknowledged it. So a record survives a
//! router crash (kill -9) or restart and is delivered later; metering's idempotency
//! by request id makes a redelivery harmless.
//!
//! The outbox is its [`Journal`] (`<outbox_dir>/journal`): append-only segment
//! files. Before the answer a record only goes to the current segment: its one
//! `write` puts it in the kernel, so no crash of the router process can lose it,
//! with no fsync on the request path. A flusher task starts a new segment every
//! `router.outbox_flush_ms` that saw writes and syncs the old one to disk behind
//! the answers, once its last writer is done (one sync for everything written
//! since the last: group commit; and no request's write waits for a page being
//! written out, as it would if the segment it appends to were synced). The shipper
//! reads the segments in order ([`Queue`]) and, once metering acknowledged a
//! batch, the position moves past it and finished segments are deleted. A record
//! is written to disk once and never copied into another store.
//!
//! `router.outbox_sync = "per-request"` instead waits for that sync before each
//! answer: every answered record then also survives a power loss, at the cost of
//! an fsync in every request's latency. There the segment being written is
//! synced in place, and a new one started past [`SEGMENT_BYTES`].
//!
//! An outbox directory written by an earlier version (a sled database beside the
//! journal) is carried over on open ([`legacy`]).

mod legacy;
mod queue;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use prost::Message;
use switchyard_proto::metering::v1::UsageRecord;
use tokio::sync::{Notify, watch};

use crate::RouterError;
use crate::journal::{Frame, Journal, SEGMENT_BYTES};
pub use queue::Consumed;
use queue::Queue;

/// Records waiting for metering's acknowledgement, on local disk.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

/// Records read for one delivery to metering.
pub struct Batch {
    /// The records, oldest first.
    pub records: Vec<UsageRecord>,
    /// What acknowledging them consumes ([`Outbox::ack`]).
    pub consumed: Consumed,
}

struct Inner {
    journal: Journal,
    /// The read side: the shipper's, and the flusher's when it rotates.
    queue: Mutex<Queue>,
    max_records: u64,
    /// A segment past this size is retired at the next flush.
    segment_bytes: u64,
    /// Whether each push waits for its flush.
    per_request: bool,
    /// How long writes gather before a flush (`router.outbox_flush_ms`; not
    /// under `per_request`).
    gather: Duration,
    /// Records waiting.
    waiting: AtomicU64,
    /// The next record's sequence number (kept in its frame, for the logs).
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
    /// current tokio runtime). Records left by a previous run are kept and will
    /// be shipped. `per_request`: see the module docs (`router.outbox_sync`).
    pub fn open(
        dir: &str,
        max_records: u64,
        per_request: bool,
        gather: Duration,
    ) -> Result<Self, RouterError> {
        Self::open_with(dir, max_records, per_request, gather, SEGMENT_BYTES)
    }

    fn open_with(
        dir: &str,
        max_records: u64,
        per_request: bool,
        gather: Duration,
        segment_bytes: u64,
    ) -> Result<Self, RouterError> {
        let journal_dir = Path::new(dir).join("journal");
        let (journal, recovered) = Journal::open(&journal_dir).map_err(|e| {
            outbox_err(format!(
                "cannot open the journal in {}: {e}",
                journal_dir.display()
            ))
        })?;
        legacy::carry_over(Path::new(dir), &journal)?;
        let mut queue = Queue::open(&journal_dir, recovered.segments, journal.current().id())
            .map_err(RouterError::outbox)?;
        let (waiting, max_seq) = queue.count().map_err(RouterError::outbox)?;
        let (durable, _) = watch::channel(0);
        let wake = Arc::new(Notify::new());
        let inner = Arc::new(Inner {
            journal,
            queue: Mutex::new(queue),
            max_records,
            segment_bytes,
            per_request,
            gather,
            waiting: AtomicU64::new(waiting),
            next_seq: AtomicU64::new(max_seq.map_or(0, |s| s.saturating_add(1))),
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
            .append(&Frame::encode(seq, record))
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

    /// The oldest records not yet acknowledged, up to `n` (the same ones again
    /// until [`Outbox::ack`]).
    pub fn oldest(&self, n: usize) -> Result<Batch, RouterError> {
        let mut queue = self.inner.queue();
        let mut entries = Vec::new();
        let consumed = queue
            .next_batch(n, &mut entries)
            .map_err(RouterError::outbox)?;
        let mut records = Vec::with_capacity(entries.len());
        for entry in entries {
            match UsageRecord::decode(entry.record.as_slice()) {
                Ok(record) => records.push(record),
                // A frame whose checksum matched but does not decode cannot be
                // shipped; it leaves with the batch (and stays in the logs).
                Err(e) => tracing::error!(
                    seq = entry.seq,
                    error = %e,
                    "usage outbox: a record that does not decode is skipped"
                ),
            }
        }
        Ok(Batch { records, consumed })
    }

    /// Marks a batch from [`Outbox::oldest`] acknowledged: its records leave the
    /// outbox, and segments wholly acknowledged are deleted.
    pub fn ack(&self, consumed: Consumed) -> Result<(), RouterError> {
        let frames = consumed.frames;
        // The records are delivered whether or not the position could be saved.
        let saved = self.inner.queue().ack(consumed);
        self.inner.waiting.fetch_sub(frames, Ordering::AcqRel);
        saved.map_err(RouterError::outbox)
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
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // The queue is left whole between its calls, so a poisoned one is usable.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// One group commit, covering every write so far. A new segment takes the
    /// writes from now on and the old one is synced once its last writers are
    /// done, so no request's write waits for a page the sync is writing out (a
    /// write to a page under writeback does). Under `per_request` the writers
    /// wait for the sync anyway: the current segment is synced in place, and
    /// retired only past the segment size.
    async fn flush(&self) -> Result<(), RouterError> {
        let _one = self.flushing.lock().await;
        let target = self.written.load(Ordering::Acquire);
        if *self.durable.borrow() >= target {
            return Ok(());
        }
        let retire = !self.per_request || self.journal.current().len() >= self.segment_bytes;
        let segment = if retire {
            let next = blocking(self.journal.create_next())
                .await?
                .map_err(|e| outbox_err(format!("cannot start a journal segment: {e}")))?;
            let next_id = next.id();
            let retired = self.journal.install(next);
            self.queue().started(next_id);
            retired.writers_done().await;
            self.queue().sealed_below(next_id);
            retired.segment()
        } else {
            self.journal.current()
        };
        blocking(move || segment.sync())
            .await?
            .map_err(|e| outbox_err(format!("journal sync failed: {e}")))?;
        self.durable.send_if_modified(|done| {
            let moved = target > *done;
            *done = (*done).max(target);
            moved
        });
        Ok(())
    }
}

/// Runs file-system work that may wait for the disk (a create, a sync) on a
/// blocking thread: never on a runtime worker that answers requests.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RouterError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| outbox_err(format!("journal work did not finish: {e}")))
}

/// Flushes whenever records were written since the last flush, letting writes
/// gather first (`router.outbox_flush_ms`: fewer, larger syncs keep the disk's
/// journal commits from stalling the request path's writes). Holds the outbox only
/// while flushing, so dropping every handle closes it.
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
mod tests;
