//! Usage delivery from the router to metering, through the durable outbox.
//!
//! Handlers write each finished record to the [`Outbox`] through a [`UsageSink`] and
//! wait until it is durable before the client sees the request complete. The
//! [`UsageShipper`] task sends the oldest records to metering's `RecordUsage` in
//! batches and deletes them only once acknowledged, retrying with backoff. Metering
//! is idempotent by request id, so a retry after a lost acknowledgement, or a
//! redelivery after a crash, never double-counts. Records still waiting at shutdown
//! stay in the outbox and are shipped by the next start.

use std::sync::Arc;
use std::time::Duration;

use switchyard_grpc::GrpcChannel;
use switchyard_proto::metering::v1::Outcome;
use switchyard_proto::metering::v1::metering_client::MeteringClient;
use switchyard_proto::metering::v1::{RecordUsageRequest, UsageRecord};
use switchyard_telemetry::{metrics, names};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::outbox::{Batch, Outbox};

const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Even without a wake-up, look at the outbox this often.
const POLL: Duration = Duration::from_secs(1);
/// How long a batch smaller than `usage_batch_size` may wait for more records:
/// under load, metering gets a few large batches (one transaction and one flush
/// each) instead of many small ones; usage reaches the ledger this much later.
const GATHER: Duration = Duration::from_millis(50);

/// Where handlers put finished usage records. Cheap to clone.
#[derive(Clone)]
pub struct UsageSink {
    outbox: Outbox,
    wake: Arc<Notify>,
}

impl UsageSink {
    /// Writes a record durably and wakes the shipper. A failure here is a local
    /// disk failure: it is logged with the request id so the usage can be recovered
    /// from the logs, and never surfaces to the caller.
    pub async fn record(&self, record: UsageRecord) {
        let outcome = match Outcome::try_from(record.outcome) {
            Ok(Outcome::Ok) => "ok",
            Ok(Outcome::Error) => "error",
            Ok(Outcome::Cancelled) => "cancelled",
            _ => "unspecified",
        };
        metrics::counter!(names::REQUESTS,
            "operation" => record.operation.clone(),
            "model" => record.requested_model.clone(),
            "outcome" => outcome)
        .increment(1);
        metrics::counter!(names::COST_MICROS, "model" => record.requested_model.clone())
            .increment(u64::try_from(record.cost_micros).unwrap_or(0));
        match self.outbox.push(&record).await {
            Ok(()) => {
                metrics::gauge!(names::OUTBOX_RECORDS).set(self.outbox.len() as f64);
                self.wake.notify_one();
            }
            Err(e) => tracing::error!(
                request_id = %record.request_id,
                tenant = %record.tenant,
                cost_micros = record.cost_micros,
                error = %e,
                "usage record could not be written to the outbox"
            ),
        }
    }

    /// Whether the outbox is full, so new requests must be refused.
    pub fn is_full(&self) -> bool {
        self.outbox.is_full()
    }
}

/// The task that delivers outbox records to metering.
pub struct UsageShipper {
    outbox: Outbox,
    wake: Arc<Notify>,
    client: MeteringClient<GrpcChannel>,
    batch_size: usize,
    shutdown_grace: Duration,
}

impl UsageShipper {
    /// A sink over `outbox` and the shipper that drains it.
    pub fn new(
        outbox: Outbox,
        client: MeteringClient<GrpcChannel>,
        batch_size: usize,
        shutdown_grace: Duration,
    ) -> (UsageSink, Self) {
        let wake = Arc::new(Notify::new());
        (
            UsageSink {
                outbox: outbox.clone(),
                wake: wake.clone(),
            },
            Self {
                outbox,
                wake,
                client,
                batch_size,
                shutdown_grace,
            },
        )
    }

    /// Runs the shipper in its own task on `runtime` (a background runtime, so
    /// its bursts of work never hold a serving thread: `switchyard_bootstrap::
    /// BackgroundRuntime`). Stop it only after every front door has drained, so no
    /// usage appears after it stopped.
    pub fn spawn_on(self, runtime: &tokio::runtime::Handle) -> ShippingTask {
        let stop = CancellationToken::new();
        ShippingTask {
            task: runtime.spawn(self.run(stop.clone())),
            stop,
        }
    }

    /// Ships records until `stop` fires, then keeps delivering for at most the
    /// shutdown grace period; what is left stays in the outbox for the next start.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut backoff = INITIAL_BACKOFF;
        let mut deadline: Option<Instant> = None;
        loop {
            if deadline.is_none() && (self.outbox.len() as usize) < self.batch_size {
                tokio::select! {
                    () = tokio::time::sleep(GATHER) => {}
                    () = stop.cancelled() => deadline = Some(Instant::now() + self.shutdown_grace),
                }
            }
            let batch = match self.outbox.oldest(self.batch_size) {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the usage outbox");
                    if deadline.is_some() {
                        break;
                    }
                    back_off(&mut backoff, &stop, &mut deadline, self.shutdown_grace).await;
                    continue;
                }
            };
            if batch.records.is_empty() {
                if deadline.is_some() {
                    break;
                }
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(POLL) => {}
                    () = stop.cancelled() => deadline = Some(Instant::now() + self.shutdown_grace),
                }
                continue;
            }
            let Batch { records, consumed } = batch;
            let count = consumed.frames;
            match self
                .client
                .record_usage(RecordUsageRequest { records })
                .await
            {
                Ok(_) => {
                    if let Err(e) = self.outbox.ack(consumed) {
                        tracing::error!(error = %e, "cannot delete acknowledged usage records");
                    }
                    metrics::counter!(names::USAGE_DELIVERED).increment(count);
                    metrics::gauge!(names::OUTBOX_RECORDS).set(self.outbox.len() as f64);
                    metrics::gauge!(names::OUTBOX_FULL).set(0.0);
                    backoff = INITIAL_BACKOFF;
                }
                Err(status) => {
                    metrics::counter!(names::USAGE_DELIVERY_FAILURES).increment(1);
                    let full = self.outbox.is_full();
                    metrics::gauge!(names::OUTBOX_FULL).set(if full { 1.0 } else { 0.0 });
                    let waiting = self.outbox.len();
                    if self.outbox.is_full() {
                        tracing::error!(
                            waiting,
                            code = ?status.code(),
                            error = %status.message(),
                            "usage outbox FULL: metering unreachable; refusing new requests"
                        );
                    } else {
                        tracing::warn!(
                            waiting,
                            code = ?status.code(),
                            error = %status.message(),
                            "usage delivery failed; retrying"
                        );
                    }
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        tracing::warn!(
                            waiting,
                            "shutdown grace over: undelivered usage stays in the outbox for the next start"
                        );
                        break;
                    }
                    back_off(&mut backoff, &stop, &mut deadline, self.shutdown_grace).await;
                }
            }
        }
        if let Err(e) = self.outbox.flush().await {
            tracing::error!(error = %e, "usage outbox flush at shutdown failed");
        }
    }
}

/// Waits `backoff` before a retry, then doubles it (up to [`MAX_BACKOFF`]); a stop
/// during the wait starts the shutdown grace period (`deadline`).
async fn back_off(
    backoff: &mut Duration,
    stop: &CancellationToken,
    deadline: &mut Option<Instant>,
    grace: Duration,
) {
    tokio::select! {
        () = tokio::time::sleep(*backoff) => {}
        () = stop.cancelled(), if deadline.is_none() => *deadline = Some(Instant::now() + grace),
    }
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
}

/// A running [`UsageShipper`].
pub struct ShippingTask {
    task: tokio::task::JoinHandle<()>,
    stop: CancellationToken,
}

impl ShippingTask {
    /// Delivers what is queued (within the shutdown grace period; the rest stays in
    /// the outbox for the next start) and waits for the shipper to end.
    pub async fn stop(self) {
        self.stop.cancel();
        if self.task.await.is_err() {
            tracing::error!("usage shipper panicked");
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// A sink over a fresh outbox in a temporary directory, the outbox (to read what
    /// was recorded) and the directory guard.
    pub fn sink() -> (UsageSink, Outbox, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(
            dir.path().to_str().unwrap(),
            1_000,
            false,
            Duration::from_millis(5),
        )
        .unwrap();
        let sink = UsageSink {
            outbox: outbox.clone(),
            wake: Arc::new(Notify::new()),
        };
        (sink, outbox, dir)
    }
}
