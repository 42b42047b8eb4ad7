//! Usage delivery from the router to metering.
//!
//! Handlers hand finished records to a [`UsageSink`] without waiting; the
//! [`UsageShipper`] task batches them to metering's `RecordUsage`, retrying with
//! backoff until acknowledged. Metering is idempotent by request id, so a retry after
//! a lost acknowledgement never double-counts. On shutdown the shipper keeps trying
//! for a bounded time and logs every record it could not deliver.
//!
//! The queue is in memory: a router crash loses undelivered records. The durable
//! outbox that closes that gap is the next step (issue 3).

use std::time::Duration;

use switchyard_grpc::GrpcChannel;
use switchyard_proto::metering::v1::metering_client::MeteringClient;
use switchyard_proto::metering::v1::{RecordUsageRequest, UsageRecord};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Where handlers put finished usage records. Cheap to clone; never blocks.
#[derive(Clone, Debug)]
pub struct UsageSink {
    tx: mpsc::UnboundedSender<UsageRecord>,
}

impl UsageSink {
    /// A sink whose records arrive in the returned receiver (for tests).
    #[cfg(test)]
    pub(crate) fn for_tests() -> (Self, mpsc::UnboundedReceiver<UsageRecord>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }

    /// Queues a record for delivery.
    pub fn record(&self, record: UsageRecord) {
        if let Err(e) = self.tx.send(record) {
            tracing::error!(request_id = %e.0.request_id, "usage shipper stopped; record lost");
        }
    }
}

/// The task that delivers queued records to metering.
pub struct UsageShipper {
    rx: mpsc::UnboundedReceiver<UsageRecord>,
    client: MeteringClient<GrpcChannel>,
    batch_size: usize,
    shutdown_grace: Duration,
}

impl UsageShipper {
    /// A sink and the shipper that drains it.
    pub fn new(
        client: MeteringClient<GrpcChannel>,
        batch_size: usize,
        shutdown_grace: Duration,
    ) -> (UsageSink, Self) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            UsageSink { tx },
            Self {
                rx,
                client,
                batch_size,
                shutdown_grace,
            },
        )
    }

    /// Ships records until `stop` fires, then delivers what is queued (for at most
    /// the shutdown grace period) and returns.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut batch: Vec<UsageRecord> = Vec::with_capacity(self.batch_size);
        let mut backoff = INITIAL_BACKOFF;
        let mut deadline: Option<Instant> = None;
        loop {
            if batch.is_empty() {
                if deadline.is_some() {
                    while batch.len() < self.batch_size {
                        match self.rx.try_recv() {
                            Ok(r) => batch.push(r),
                            Err(_) => break,
                        }
                    }
                    if batch.is_empty() {
                        return;
                    }
                } else {
                    tokio::select! {
                        n = self.rx.recv_many(&mut batch, self.batch_size) => {
                            if n == 0 {
                                return;
                            }
                        }
                        () = stop.cancelled() => {
                            deadline = Some(Instant::now() + self.shutdown_grace);
                            continue;
                        }
                    }
                }
            }
            let request = RecordUsageRequest {
                records: batch.clone(),
            };
            match self.client.record_usage(request).await {
                Ok(_) => {
                    batch.clear();
                    backoff = INITIAL_BACKOFF;
                }
                Err(status) => {
                    tracing::warn!(
                        records = batch.len(),
                        code = ?status.code(),
                        error = %status.message(),
                        "usage delivery failed; retrying"
                    );
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        let lost = batch.len() + self.rx.len();
                        tracing::error!(
                            lost,
                            "shutdown grace over: undelivered usage records dropped"
                        );
                        return;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = stop.cancelled(), if deadline.is_none() => {
                            deadline = Some(Instant::now() + self.shutdown_grace);
                        }
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}
