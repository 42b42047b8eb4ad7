//! Opening a streamed chat so its usage is recorded however it ends, including
//! when the caller leaves before the first chunk arrived.
//!
//! A stream's attempts open it and wait for its first chunk (so a failure before
//! any token moves on to the next deployment). That wait can be long (a
//! reasoning model's first token), and tonic drops the handler if the caller
//! leaves meanwhile: the provider may already be generating, and billing, the
//! answer. So the opening runs in place under [`Detach`], and if the caller
//! leaves it finishes in a task: the open gets at most the drain timeout more,
//! then the stream is drained for its usage as when a caller leaves mid-stream;
//! if it does not open in time, the prompt's estimate is recorded, as for a
//! unary call.

use std::future::Future;

use futures::Stream;
use switchyard_error::ApiError;
use switchyard_proto::metering::v1::Outcome;
use switchyard_proto::types::v1::{ChatChunk, Usage};
use switchyard_tokens::{Counter, estimate_usage};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::Served;
use crate::attempts::Tried;
use crate::detach::Detach;
use crate::record::MarkCancelled;
use crate::stream::Relay;

/// A stream that opened: its relay (the draft naming the deployment that
/// answered), its first chunk, and the rest of it.
pub(super) type Opened<S> = (Relay, ChatChunk, S);

/// Waits for `open` and hands back what the relay needs; a failure to open is
/// recorded here. `relay` carries the draft and what the relay needs later.
pub(super) async fn open_stream<S>(
    relay: Relay,
    open: impl Future<Output = Tried<(S, ChatChunk)>> + Send + 'static,
) -> Result<Opened<S>, Status>
where
    S: Stream<Item = Result<ChatChunk, Status>> + Unpin + Send + 'static,
{
    let gone = CancellationToken::new();
    let work = settle(relay, open, gone.clone());
    Detach::new(work, Some(gone))
        .await
        // `None` only once the caller left, when nobody awaits this.
        .unwrap_or_else(|| Err(ApiError::internal().to_status()))
}

/// The body of [`open_stream`]: `None` when the caller left (the stream, if it
/// opened, was then relayed to nobody, for its usage).
async fn settle<S>(
    mut relay: Relay,
    open: impl Future<Output = Tried<(S, ChatChunk)>> + Send + 'static,
    gone: CancellationToken,
) -> Option<Result<Opened<S>, Status>>
where
    S: Stream<Item = Result<ChatChunk, Status>> + Unpin + Send + 'static,
{
    let mut open = std::pin::pin!(open);
    let tried = tokio::select! {
        tried = &mut open => Some(tried),
        () = gone.cancelled() => {
            tracing::info!("client went away before the first chunk; waiting for the provider");
            relay.draft.release_slots();
            tokio::time::timeout(relay.drain_timeout, open).await.ok()
        }
    };
    let Some(tried) = tried else {
        // Never opened within the drain: what the prompt took, estimated.
        let estimate = estimate_usage(relay.prompt, Counter::new()).await;
        let mut record = relay.draft.finish(&estimate, Outcome::Cancelled, "", 0);
        record.mark_cancelled();
        relay.usage.record(record).await;
        return None;
    };
    relay.draft.deployment = tried.deployment;
    relay.draft.attempts = tried.earlier;
    match tried.result {
        Err(status) => {
            let cache = relay.draft.cache.as_ref().map(|slot| slot.status);
            let reason = ApiError::from_status(&status).code.reason();
            let mut record = relay
                .draft
                .finish(&Usage::default(), Outcome::Error, reason, 0);
            if gone.is_cancelled() {
                record.mark_cancelled();
            }
            let served = Served::of(&record).with_cache(cache);
            relay.usage.record(record).await;
            (!gone.is_cancelled()).then(|| Err(served.on_error(status)))
        }
        Ok((upstream, first)) if gone.is_cancelled() => {
            // Nobody to send to: the relay drains the stream for its usage and
            // records it as cancelled.
            let (tx, rx) = mpsc::channel(1);
            drop(rx);
            relay.run(first, upstream, tx).await;
            None
        }
        Ok((upstream, first)) => Some(Ok((relay, first, upstream))),
    }
}
