//! Group commit over a sled database.
//!
//! A write that must survive a crash before it is acknowledged needs a flush
//! (fsync). Paying one per write caps throughput at the disk's fsync rate; here
//! writers take a ticket after their write and wait for one flusher task, which
//! makes everything written so far durable with one flush, so concurrent writers
//! share it. Used by auth's quota counters (the router's usage outbox has its own
//! journal, `services/router/src/journal.rs`). [`open`] opens a sled database
//! for every service, waiting for a previous holder to let go of it;
//! [`hold_lock`] the same for a plain directory's lock file.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{Notify, watch};

mod open;
pub use open::{LOCK_WAIT, hold_lock, open};

/// The flusher stopped (the database is gone): nothing more will become durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlusherStopped;

impl std::fmt::Display for FlusherStopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("group-commit flusher stopped")
    }
}

impl std::error::Error for FlusherStopped {}

/// Group commit for one sled database. Cheap to clone; the flusher task ends when
/// the last clone is dropped.
#[derive(Clone)]
pub struct GroupCommit {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    /// What the log line says when a flush fails.
    what: &'static str,
    /// Writes issued so far (a writer's ticket).
    written: AtomicU64,
    /// The highest ticket known durable.
    durable: watch::Sender<u64>,
    wake: Arc<Notify>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Let the flusher see that the database is gone and end.
        self.wake.notify_one();
    }
}

impl GroupCommit {
    /// Starts the flusher for `db` (on the current tokio runtime). `what` names
    /// the data in logs ("usage outbox").
    pub fn start(db: sled::Db, what: &'static str) -> Self {
        let (durable, _) = watch::channel(0);
        let wake = Arc::new(Notify::new());
        let inner = Arc::new(Inner {
            db,
            what,
            written: AtomicU64::new(0),
            durable,
            wake: wake.clone(),
        });
        tokio::spawn(flusher(Arc::downgrade(&inner), wake));
        Self { inner }
    }

    /// The database.
    pub fn db(&self) -> &sled::Db {
        &self.inner.db
    }

    /// Returns once every write made before this call is durable.
    pub async fn durable(&self) -> Result<(), FlusherStopped> {
        let inner = &self.inner;
        let ticket = inner.written.fetch_add(1, Ordering::AcqRel) + 1;
        inner.wake.notify_one();
        let mut durable = inner.durable.subscribe();
        durable
            .wait_for(|&done| done >= ticket)
            .await
            .map(|_| ())
            .map_err(|_| FlusherStopped)
    }

    /// Flushes now and waits for it (shutdown).
    pub async fn flush(&self) -> sled::Result<()> {
        self.inner.db.flush_async().await.map(|_| ())
    }
}

/// Whenever tickets are pending, one flush covers all of them. Holds the database
/// only while flushing, so dropping every handle closes it.
async fn flusher(inner: Weak<Inner>, wake: Arc<Notify>) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let target = strong.written.load(Ordering::Acquire);
        if *strong.durable.borrow() >= target {
            drop(strong);
            // notify_one keeps a permit, so a write between the check and this wait
            // is not missed.
            wake.notified().await;
            continue;
        }
        match strong.db.flush_async().await {
            Ok(_) => {
                strong.durable.send_replace(target);
            }
            Err(e) => {
                tracing::error!(error = %e, data = strong.what, "flush failed; retrying");
                drop(strong);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_become_durable_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = open(dir.path(), sled::Config::new()).unwrap();
            let commit = GroupCommit::start(db, "test");
            let writers: Vec<_> = (0u32..64)
                .map(|i| {
                    let c = commit.clone();
                    tokio::spawn(async move {
                        c.db().insert(i.to_be_bytes(), &b"v"[..]).unwrap();
                        c.durable().await
                    })
                })
                .collect();
            for w in writers {
                w.await.unwrap().unwrap();
            }
        }
        let db = open(dir.path(), sled::Config::new()).unwrap();
        assert_eq!(db.len(), 64);
    }
}
