//! Retention: deletes raw records older than `metering.retention_days` in small
//! transactions, keeping aggregates forever.
//!
//! Each pass raises the ledger's retention mark to `now - retention` and deletes the
//! records before it, [`BATCH`] per transaction, yielding between batches so writers
//! are never held up for long. The mark is what keeps deleted records deleted: a
//! record whose time is before it is acknowledged as a duplicate and not stored (it
//! may have been stored and deleted, and nothing else remembers). So a router must
//! deliver a record within the retention period; with days of retention and
//! redeliveries within minutes that leaves a wide margin.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::{Ledger, MeteringError};

/// Records deleted per transaction.
pub(crate) const BATCH: usize = 1_000;

const DAY_US: u64 = 86_400 * 1_000_000;

/// The retention horizon now: records older than this (µs since the epoch) go.
pub(crate) fn horizon_us(retention_days: u32, now: SystemTime) -> u64 {
    let now_us = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    now_us.saturating_sub(u64::from(retention_days).saturating_mul(DAY_US))
}

/// One pass: deletes every record older than `horizon_us`, batch by batch, until none
/// remain or `stop` is cancelled. Returns how many were deleted.
pub(crate) async fn expire(
    ledger: &Arc<dyn Ledger>,
    horizon_us: u64,
    stop: &CancellationToken,
) -> Result<u64, MeteringError> {
    let mut deleted = 0u64;
    while !stop.is_cancelled() {
        let batch_ledger = ledger.clone();
        let n = tokio::task::spawn_blocking(move || batch_ledger.expire_before(horizon_us, BATCH))
            .await
            .map_err(|_| MeteringError::Store("retention task failed".into()))??;
        deleted = deleted.saturating_add(n as u64);
        if n < BATCH {
            break;
        }
        tokio::task::yield_now().await;
    }
    Ok(deleted)
}

/// Runs a pass at start and then every `interval` until `stop` is cancelled.
pub(crate) async fn run(
    ledger: Arc<dyn Ledger>,
    retention_days: u32,
    interval: Duration,
    stop: CancellationToken,
) {
    periodically(interval, stop.clone(), || async {
        let horizon = horizon_us(retention_days, SystemTime::now());
        match expire(&ledger, horizon, &stop).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, retention_days, "usage records expired"),
            Err(error) => tracing::warn!(%error, "usage retention pass failed; retrying later"),
        }
    })
    .await;
}

/// Runs `pass` at start and then every `interval` (at least a second) until
/// `stop` is cancelled; a late pass delays the next rather than bunching them.
pub(crate) async fn periodically<F, Fut>(interval: Duration, stop: CancellationToken, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ticker = tokio::time::interval(interval.max(Duration::from_secs(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        pass().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn horizon_is_now_minus_the_retention() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10 * 86_400);
        assert_eq!(horizon_us(3, now), 7 * DAY_US);
        assert_eq!(horizon_us(30, now), 0);
    }
}
