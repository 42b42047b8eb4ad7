//! `ExportUsage`: every record in a range, in time order, with bounded memory.
//!
//! A task pages through the records in time order ([`PAGE`] records per blocking read) and
//! sends each record through a channel of [`PAGE`] slots; it waits whenever the client
//! reads slowly and stops as soon as the client goes away. At most two pages are held
//! at once, however many records the range holds.

use std::sync::Arc;

use switchyard_proto::metering::v1::UsageRecord;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::{Ledger, ListFilter, MeteringError};

/// Records per read, and the channel's capacity.
pub(crate) const PAGE: usize = 256;

/// The stream `ExportUsage` answers with.
pub type ExportStream = ReceiverStream<Result<UsageRecord, Status>>;

/// Starts streaming the records `filter` selects (its `limit` and `after` are managed
/// here).
pub(crate) fn start(ledger: Arc<dyn Ledger>, mut filter: ListFilter) -> ExportStream {
    let (tx, rx) = mpsc::channel(PAGE);
    filter.limit = PAGE;
    filter.after = None;
    tokio::spawn(async move {
        loop {
            let page_ledger = ledger.clone();
            let page_filter = filter.clone();
            let page = tokio::task::spawn_blocking(move || page_ledger.list(&page_filter))
                .await
                .map_err(|_| MeteringError::Store("export task failed".into()))
                .and_then(|page| page);
            let (records, cursor) = match page {
                Ok(page) => page,
                Err(error) => {
                    // The client sees the error as the stream's end status.
                    let _ = tx.send(Err(Status::from(error))).await;
                    return;
                }
            };
            for record in records {
                if tx.send(Ok(record)).await.is_err() {
                    return; // the client went away
                }
            }
            match cursor {
                Some(cursor) => filter.after = Some(cursor),
                None => return,
            }
        }
    });
    ReceiverStream::new(rx)
}
