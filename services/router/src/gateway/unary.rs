//! Unary Gateway answers: the provider call run so its usage record is written
//! whatever the caller does, and the answer's metadata saying what served it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use switchyard_error::ApiError;
use switchyard_proto::metering::v1::{Outcome, UsageRecord};
use switchyard_proto::types::v1::{ChatResponse, EmbedResponse, Usage};
use switchyard_tokens::{Counter, DeferredPrompt, estimate_usage};
use tokio_util::sync::CancellationToken;
use tonic::{Response, Status};
use tracing::Instrument;

use super::Served;
use crate::attempts::Tried;
use crate::cache::{Answer, Cached, Wait};
use crate::detach::Detach;
use crate::record::{Draft, MarkCancelled};
use crate::usage::UsageSink;

/// A unary answer that carries usage and names the provider that served it.
pub(super) trait Billable: Send + Sized + 'static {
    fn usage(&self) -> Usage;
    fn set_provider(&mut self, provider: &str);
    /// As the response cache keeps it.
    fn to_answer(&self) -> Answer;
    /// A kept answer of this kind.
    fn from_answer(answer: &Answer) -> Option<Self>;
}

impl Billable for ChatResponse {
    fn usage(&self) -> Usage {
        self.usage.unwrap_or_default()
    }
    fn set_provider(&mut self, provider: &str) {
        self.provider = provider.to_string();
    }
    fn to_answer(&self) -> Answer {
        Answer::Chat(self.clone())
    }
    fn from_answer(answer: &Answer) -> Option<Self> {
        match answer {
            Answer::Chat(r) => Some(r.clone()),
            _ => None,
        }
    }
}

impl Billable for EmbedResponse {
    fn usage(&self) -> Usage {
        self.usage.unwrap_or_default()
    }
    fn set_provider(&mut self, provider: &str) {
        self.provider = provider.to_string();
    }
    fn to_answer(&self) -> Answer {
        Answer::Embed(self.clone())
    }
    fn from_answer(answer: &Answer) -> Option<Self> {
        match answer {
            Answer::Embed(r) => Some(r.clone()),
            _ => None,
        }
    }
}

/// Answers from the response cache: the request's record (a cache hit, no
/// tokens, no cost, named after what produced the answer) is made durable, as
/// for any answer, before the caller sees it, also if the caller leaves.
pub(super) async fn hit<R: Billable>(
    draft: Draft,
    cached: &Cached,
    sink: UsageSink,
) -> Result<Response<R>, Status> {
    // The key holds the kind of call, so a kept answer is always of this kind.
    let answer = R::from_answer(&cached.answer).ok_or_else(|| ApiError::internal().to_status())?;
    let record = hit_record(draft, cached);
    let served = Served::of(&record);
    Detach::new(async move { sink.record(record).await }, None).await;
    Ok(with_headers(answer, &served))
}

/// Waits (see [`crate::cache::Wait`]) for the identical call being answered,
/// then hands the draft back with its slot and any kept answer; `None` if the
/// caller left first (`gone`), after recording the request as cancelled at no
/// cost: no provider was asked for it.
pub(super) async fn wait_for_flight(
    mut draft: Draft,
    wait: Wait,
    deadline: Option<tokio::time::Instant>,
    sink: UsageSink,
    gone: CancellationToken,
) -> Option<(Draft, Option<Arc<Cached>>)> {
    tokio::select! {
        (slot, found) = wait.wait(deadline) => {
            draft.cache = Some(slot);
            Some((draft, found))
        }
        () = gone.cancelled() => {
            let mut record = draft.finish(&Usage::default(), Outcome::Cancelled, "", 0);
            record.mark_cancelled();
            record.attempts.clear();
            sink.record(record).await;
            None
        }
    }
}

/// The usage record of a request answered from the cache.
pub(crate) fn hit_record(mut draft: Draft, cached: &Cached) -> UsageRecord {
    draft.deployment.provider.clone_from(&cached.provider);
    draft
        .deployment
        .upstream_model
        .clone_from(&cached.upstream_model);
    draft.cache = None;
    let mut record = draft.finish(&Usage::default(), Outcome::Ok, "", 0);
    record.cache_hit = true;
    // No provider was asked.
    record.attempts.clear();
    record
}

/// Runs a unary provider call so its usage record is written even if the caller
/// disconnects and the handler is dropped, and answers with the provider and cost
/// in response metadata.
///
/// The call is polled inline by the handler (no task and no channel per request);
/// only if the handler is dropped before it settles is the rest handed to a task
/// (see [`Detach`]). When the caller goes away the call still runs (for at most
/// `drain`) so the record carries the provider's real usage; past that it is
/// estimated from `prompt`, the only time that is counted. Either way the record
/// says `cancelled`.
pub(super) async fn unary<R: Billable>(
    draft: Draft,
    call: impl Future<Output = Tried<Response<R>>> + Send + 'static,
    sink: UsageSink,
    drain: Duration,
    prompt: DeferredPrompt,
) -> Result<Response<R>, Status> {
    let gone = CancellationToken::new();
    // Boxed so `settle`'s future (which would hold it twice: as its argument and
    // pinned) stays small on its way into `Detach`'s box.
    let call = Box::pin(call);
    let work = settle(draft, call, sink, drain, prompt, gone.clone()).in_current_span();
    let (response, served) = Detach::new(work, Some(gone)).await?;
    Ok(with_headers(response, &served))
}

/// The body of [`unary`]: waits for the call (or, once `gone` is cancelled, for at
/// most `drain` more), writes the usage record, then gives the answer.
async fn settle<R: Billable>(
    mut draft: Draft,
    call: impl Future<Output = Tried<Response<R>>> + Send + 'static,
    sink: UsageSink,
    drain: Duration,
    prompt: DeferredPrompt,
    gone: CancellationToken,
) -> Result<(R, Served), Status> {
    let cache = draft.cache.take();
    let mut call = std::pin::pin!(call);
    let result = tokio::select! {
        result = &mut call => Some(result),
        () = gone.cancelled() => {
            tracing::info!("client went away; waiting for the provider's usage");
            draft.release_slots();
            tokio::time::timeout(drain, call).await.ok()
        }
    };
    let result = result.map(|tried| {
        // The deployment that answered (or failed last) is the record's.
        draft.deployment = tried.deployment;
        draft.attempts = tried.earlier;
        tried.result.map(|r| {
            let mut r = r.into_inner();
            r.set_provider(&draft.deployment.provider);
            r
        })
    });
    let mut record = match &result {
        Some(Ok(r)) => draft.finish(&r.usage(), Outcome::Ok, "", 0),
        Some(Err(status)) => {
            let reason = ApiError::from_status(status).code.reason();
            draft.finish(&Usage::default(), Outcome::Error, reason, 0)
        }
        None => {
            let estimate = estimate_usage(prompt, Counter::new()).await;
            draft.finish(&estimate, Outcome::Cancelled, "", 0)
        }
    };
    // Gone while waiting, or while the record was being made.
    if gone.is_cancelled() {
        record.mark_cancelled();
    }
    if let (Some(slot), Some(Ok(answer))) = (&cache, &result)
        && record.outcome == Outcome::Ok as i32
    {
        slot.keep(answer.to_answer(), &record.provider, &record.upstream_model);
    }
    let served = Served::of(&record).with_cache(cache.map(|slot| slot.status));
    // The record is durable before the client can see the answer.
    sink.record(record).await;
    match result {
        Some(Ok(answer)) => Ok((answer, served)),
        Some(Err(status)) => Err(served.on_error(status)),
        // Nobody is left to read this.
        None => Err(ApiError::internal().to_status()),
    }
}

/// The answer with metadata saying what served it (HTTP callers see the same
/// as response headers).
pub(super) fn with_headers<T>(message: T, served: &Served) -> Response<T> {
    let mut response = Response::new(message);
    *response.metadata_mut() = served.metadata();
    response
}
