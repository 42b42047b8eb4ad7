//! Relaying a provider stream to the caller while accounting for it.
//!
//! The relay is driven by the polls of the response stream, and by a task of its
//! own once the client dropped that stream (see [`crate::detach::Driven`]), so the
//! record is written however the stream ends: completed, failed upstream, or
//! abandoned by the client. It watches the client side
//! while it waits for the upstream, so a disconnect is seen at once rather than at the
//! next send. When the client goes away the relay keeps reading the upstream (for at
//! most the drain timeout) to learn the usage the provider reports; if it cannot, it
//! estimates from what was produced and marks the record estimated.

use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::metering::v1::Outcome;
use switchyard_proto::types::v1::{ChatChunk, Usage};
use switchyard_tokens::{Counter, DeferredPrompt, estimate_usage};
use tokio::sync::mpsc;
use tokio::time::Sleep;
use tonic::{Response, Status};

use crate::cache::{Answer, Cached, Collect};
use crate::detach::Driven;
use crate::gateway::Served;
use crate::record::Draft;
use crate::usage::UsageSink;

/// Everything the relay needs besides the streams.
pub struct Relay {
    pub draft: Draft,
    pub usage: UsageSink,
    pub drain_timeout: Duration,
    /// What the prompt's count needs, counted only if no usage report arrives.
    pub prompt: DeferredPrompt,
    /// The longest gap allowed between two upstream chunks.
    pub stall: Option<Duration>,
    /// When the whole request must be done.
    pub deadline: Option<tokio::time::Instant>,
}

#[derive(Default)]
struct Tally {
    usage: Option<Usage>,
    /// The text produced (bounded), tokenized once at the end, and only if the
    /// provider's usage report never arrived.
    produced: Counter,
    first_token_at: Option<Instant>,
}

impl Tally {
    fn observe(&mut self, chunk: &ChatChunk) {
        if let Some(usage) = &chunk.usage {
            self.usage = Some(*usage);
        }
        let mut produced = false;
        for delta in chunk.choices.iter().filter_map(|c| c.delta.as_ref()) {
            let calls = delta.tool_calls.iter().filter_map(|c| c.function.as_ref());
            let texts = [&delta.content, &delta.refusal]
                .into_iter()
                .chain(calls.flat_map(|f| [&f.name, &f.arguments]))
                .flatten()
                .filter(|t| !t.is_empty());
            for text in texts {
                self.produced.push(text);
                produced = true;
            }
        }
        if produced && self.first_token_at.is_none() {
            self.first_token_at = Some(Instant::now());
        }
    }
}

impl Relay {
    /// Forwards `first` and the rest of `upstream` into `tx` and records usage. The
    /// stream's last item (the usage chunk, or the error) is held back until the
    /// record is durable, so a client that saw the stream end is always billed.
    pub async fn run(
        mut self,
        first: ChatChunk,
        mut upstream: impl Stream<Item = Result<ChatChunk, Status>> + Unpin,
        tx: mpsc::Sender<Result<ChatChunk, Status>>,
    ) {
        let mut tally = Tally::default();
        tally.observe(&first);
        let cache_status = self.draft.cache.as_ref().map(|slot| slot.status);
        // A streamed answer is collected for the cache as it passes.
        let mut collected = self.draft.cache.take().and_then(Collect::new);
        if let Some(c) = &mut collected {
            c.push(&first);
        }
        let mut drain_until = None;
        let start_draining = |why: &str| {
            tracing::info!("{why}; draining upstream for usage");
            Some(tokio::time::Instant::now() + self.drain_timeout)
        };
        if tx.send(Ok(first)).await.is_err() {
            drain_until = start_draining("client went away");
        }
        let mut held: Option<Result<ChatChunk, Status>> = None;
        let mut failure: Option<ApiError> = None;
        // One timer and one wait for the client's leaving serve every chunk: a new
        // timer per chunk took the runtime's timer lock twice (to insert and remove
        // it) where moving this one later takes it not at all.
        let mut alarm = Alarm::default();
        let client_gone = tx.closed();
        tokio::pin!(client_gone);
        loop {
            if drain_until.is_some() {
                // The client is gone: its concurrency slot is free now, not when the
                // drain ends.
                self.draft.release_slots();
            }
            // A stall or the request's deadline ends the stream as a timeout.
            let timer = [
                self.stall.map(|s| tokio::time::Instant::now() + s),
                self.deadline,
            ]
            .into_iter()
            .flatten()
            .min();
            let next = match drain_until {
                None => tokio::select! {
                    next = upstream.next() => next,
                    () = &mut client_gone => {
                        drain_until = start_draining("client went away mid-stream");
                        continue;
                    }
                    () = alarm.at(timer) => Some(Err(ApiError::new(
                        ErrorCode::UpstreamTimeout,
                        "the provider's stream stalled or ran past the request's timeout",
                    )
                    .to_status())),
                },
                Some(deadline) => match tokio::time::timeout_at(deadline, upstream.next()).await {
                    Ok(next) => next,
                    Err(_) => break,
                },
            };
            match next.transpose() {
                Ok(Some(chunk)) => {
                    tally.observe(&chunk);
                    if drain_until.is_some() {
                        continue;
                    }
                    if let Some(c) = &mut collected {
                        c.push(&chunk);
                    }
                    let is_final_usage = chunk.usage.is_some() && chunk.choices.is_empty();
                    // Anything held is no longer last: send it on.
                    if let Some(item) = held.take()
                        && tx.send(item).await.is_err()
                    {
                        drain_until = start_draining("client went away mid-stream");
                        continue;
                    }
                    if is_final_usage {
                        held = Some(Ok(chunk));
                    } else if tx.send(Ok(chunk)).await.is_err() {
                        drain_until = start_draining("client went away mid-stream");
                    }
                }
                Ok(None) => break,
                Err(status) => {
                    failure = Some(ApiError::from_status(&status));
                    if drain_until.is_none() {
                        if let Some(item) = held.take() {
                            let _ = tx.send(item).await;
                        }
                        held = Some(Err(status));
                    }
                    break;
                }
            }
        }

        let usage = match tally.usage {
            Some(usage) => usage,
            None => estimate_usage(self.prompt, tally.produced).await,
        };
        let ttft_us = tally
            .first_token_at
            .map(|t| u64::try_from(t.duration_since(self.draft.started).as_micros()).unwrap_or(0))
            .unwrap_or(0);
        let (outcome, reason) = match (&failure, drain_until.is_some()) {
            (_, true) => (Outcome::Cancelled, String::new()),
            (Some(err), false) => (Outcome::Error, err.code.reason().to_string()),
            (None, false) => (Outcome::Ok, String::new()),
        };
        let record = self.draft.finish(&usage, outcome, &reason, ttft_us);
        if let Some(c) = collected
            && outcome == Outcome::Ok
        {
            c.keep(&record.provider, &record.upstream_model);
        }
        // The stream's trailers say what served it and what it cost.
        let served = Served::of(&record).with_cache(cache_status);
        self.usage.record(record).await;
        if drain_until.is_some() {
            return;
        }
        match held {
            Some(Err(status)) => {
                let _ = tx.send(Err(served.on_error(status))).await;
            }
            held => {
                if let Some(item) = held {
                    let _ = tx.send(item).await;
                }
                // An OK status ends the stream normally, with these trailers.
                let _ = tx
                    .send(Err(Status::with_metadata(
                        tonic::Code::Ok,
                        "",
                        served.metadata(),
                    )))
                    .await;
            }
        }
    }
}

/// Replays a streamed answer from the response cache: the request's record (a
/// cache hit: no tokens, no cost) is made durable first, then every chunk as the
/// provider sent it, then the trailers saying what served it.
pub(crate) fn replay(
    draft: Draft,
    cached: &Cached,
    usage: UsageSink,
) -> Response<Driven<Result<ChatChunk, Status>>> {
    let chunks = match &cached.answer {
        Answer::Stream(chunks) => chunks.clone(),
        // The key holds the kind of call: never reached.
        _ => Vec::new(),
    };
    let record = crate::gateway::hit_record(draft, cached);
    let served = Served::of(&record);
    let head = served.metadata();
    let (tx, rx) = mpsc::channel(32);
    let producer = async move {
        usage.record(record).await;
        for chunk in chunks {
            if tx.send(Ok(chunk)).await.is_err() {
                return;
            }
        }
        let _ = tx
            .send(Err(Status::with_metadata(
                tonic::Code::Ok,
                "",
                served.metadata(),
            )))
            .await;
    };
    let mut response = Response::new(Driven::new(producer, rx));
    *response.metadata_mut() = head;
    response
}

/// A timer made once and moved for each wait.
#[derive(Default)]
struct Alarm(Option<Pin<Box<Sleep>>>);

impl Alarm {
    /// Fires at `at`, or never when there is no such time.
    async fn at(&mut self, at: Option<tokio::time::Instant>) {
        let Some(at) = at else {
            return std::future::pending().await;
        };
        let sleep = match &mut self.0 {
            Some(sleep) => {
                sleep.as_mut().reset(at);
                sleep
            }
            None => self.0.insert(Box::pin(tokio::time::sleep_until(at))),
        };
        sleep.as_mut().await;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use switchyard_proto::auth::v1::Principal;
    use switchyard_proto::metering::v1::UsageRecord;
    use switchyard_proto::types::v1::{ChatRequest, ChunkChoice, Delta, Message};

    use super::*;
    use crate::models::Deployment;

    fn chunk(text: &str) -> ChatChunk {
        ChatChunk {
            choices: vec![ChunkChoice {
                delta: Some(Delta {
                    content: Some(text.into()),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn usage_chunk(completion: u64) -> ChatChunk {
        ChatChunk {
            usage: Some(Usage {
                prompt_tokens: 10,
                completion_tokens: completion,
                total_tokens: 10 + completion,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A one-message prompt of 11 tokens: "Hello, world!" (4), 4 for the message and
    /// 3 priming the reply.
    fn prompt() -> ChatRequest {
        ChatRequest {
            messages: vec![Message::user_text("Hello, world!")],
            ..Default::default()
        }
    }

    /// A relay whose records land in the returned outbox.
    fn relay() -> (Relay, Records) {
        let (sink, outbox, dir) = crate::usage::test_support::sink();
        let deployment = Deployment {
            provider: "p".into(),
            upstream_model: "m".into(),
            weight: 1,
            price: Default::default(),
            tags: Default::default(),
            context_window: None,
        };
        let principal = Principal {
            tenant: "t".into(),
            key_id: "k".into(),
            key_prefix: String::new(),
            allowed_models: vec![],
            labels: HashMap::new(),
            ..Default::default()
        };
        let draft = Draft::new(
            "r1",
            &principal,
            "alias",
            &deployment,
            "v",
            std::time::Instant::now(),
        );
        let relay = Relay {
            draft,
            usage: sink,
            drain_timeout: Duration::from_secs(30),
            prompt: DeferredPrompt::chat(&prompt()),
            stall: None,
            deadline: None,
        };
        (relay, Records { outbox, _dir: dir })
    }

    struct Records {
        outbox: crate::outbox::Outbox,
        _dir: tempfile::TempDir,
    }

    impl Records {
        async fn recv(&mut self) -> Option<UsageRecord> {
            self.outbox.oldest(10).unwrap().records.pop()
        }
    }

    type Item = Result<ChatChunk, Status>;

    /// Runs `relay` from `first` over `upstream` to its end: what the client
    /// received, and how long (paused time in the paused tests) it took.
    async fn run_to_end(
        relay: Relay,
        first: &str,
        upstream: futures::channel::mpsc::UnboundedReceiver<Item>,
    ) -> (Vec<Item>, Duration) {
        let (tx, mut rx) = mpsc::channel(8);
        let task = tokio::spawn(relay.run(chunk(first), upstream, tx));
        let started = tokio::time::Instant::now();
        let mut received = Vec::new();
        while let Some(item) = rx.recv().await {
            received.push(item);
        }
        task.await.unwrap();
        (received, started.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn disconnect_then_drain_bills_the_providers_usage() {
        let (relay, mut records) = relay();
        let (up_tx, up_rx) = futures::channel::mpsc::unbounded();
        let (tx, rx) = mpsc::channel(4);
        let task = tokio::spawn(relay.run(chunk("a"), up_rx, tx));
        drop(rx); // the client leaves after the first chunk
        up_tx.unbounded_send(Ok(chunk("bb"))).unwrap();
        up_tx.unbounded_send(Ok(usage_chunk(5))).unwrap();
        drop(up_tx);
        task.await.unwrap();
        let record = records.recv().await.unwrap();
        assert_eq!(record.outcome, Outcome::Cancelled as i32);
        assert_eq!(record.completion_tokens, 5);
        assert!(!record.usage_estimated);
    }

    #[tokio::test(start_paused = true)]
    async fn disconnect_with_a_silent_upstream_estimates_after_the_drain_timeout() {
        let (relay, mut records) = relay();
        let (_up_tx, up_rx) = futures::channel::mpsc::unbounded::<Result<ChatChunk, Status>>();
        let (tx, rx) = mpsc::channel(4);
        let task = tokio::spawn(relay.run(chunk("The quick brown fox"), up_rx, tx));
        drop(rx);
        // Paused time: the 30 s drain timeout elapses without real waiting.
        task.await.unwrap();
        let record = records.recv().await.unwrap();
        assert_eq!(record.outcome, Outcome::Cancelled as i32);
        assert!(record.usage_estimated);
        // Counted by the tokenizer: the prompt kept, and the text that was produced.
        assert_eq!(switchyard_tokens::chat_prompt(&prompt()), 11);
        assert_eq!((record.prompt_tokens, record.completion_tokens), (11, 4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_ends_the_stream_with_a_timeout_and_bills_what_came() {
        let (mut relay, mut records) = relay();
        relay.stall = Some(Duration::from_secs(2));
        let (up_tx, up_rx) = futures::channel::mpsc::unbounded();
        up_tx.unbounded_send(Ok(chunk(" jumps over"))).unwrap();
        // Then silence, the upstream still open.
        let (received, elapsed) = run_to_end(relay, "The quick brown fox", up_rx).await;
        // Paused time: the 2 s stall elapsed without real waiting.
        assert_eq!(elapsed, Duration::from_secs(2));
        assert_eq!(received.len(), 3);
        let status = received[2].as_ref().unwrap_err();
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        // The error carries what served the stream and its cost.
        assert_eq!(status.metadata().get("x-switchyard-provider").unwrap(), "p");
        assert!(status.metadata().get("x-switchyard-cost-micros").is_some());
        let record = records.recv().await.unwrap();
        assert_eq!(record.outcome, Outcome::Error as i32);
        assert_eq!(record.error_reason, "UPSTREAM_TIMEOUT");
        assert_eq!((record.prompt_tokens, record.completion_tokens), (11, 6));
        drop(up_tx);
    }

    #[tokio::test(start_paused = true)]
    async fn the_stall_is_counted_from_the_last_chunk() {
        let (mut relay, _records) = relay();
        relay.stall = Some(Duration::from_secs(2));
        let (up_tx, up_rx) = futures::channel::mpsc::unbounded();
        // Chunks 1.5 s apart, each within the stall, then silence.
        let feeder = tokio::spawn(async move {
            for word in [" jumps", " over"] {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                up_tx.unbounded_send(Ok(chunk(word))).unwrap();
            }
            up_tx
        });
        let (received, elapsed) = run_to_end(relay, "The quick brown fox", up_rx).await;
        assert_eq!(elapsed, Duration::from_millis(5000));
        assert_eq!(received.len(), 4);
        let status = received[3].as_ref().unwrap_err();
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        drop(feeder.await.unwrap());
    }

    #[tokio::test]
    async fn a_complete_stream_ends_with_trailers_naming_its_cost() {
        let (relay, mut records) = relay();
        let (up_tx, up_rx) = futures::channel::mpsc::unbounded();
        up_tx.unbounded_send(Ok(usage_chunk(5))).unwrap();
        drop(up_tx);
        let (received, _) = run_to_end(relay, "hi", up_rx).await;
        // The text, the usage chunk, then an OK status: the trailers.
        assert_eq!(received.len(), 3);
        assert!(received[1].as_ref().unwrap().usage.is_some());
        let end = received[2].as_ref().unwrap_err();
        assert_eq!(end.code(), tonic::Code::Ok);
        let record = records.recv().await.unwrap();
        assert_eq!(
            end.metadata().get("x-switchyard-cost-micros").unwrap(),
            record.cost_micros.to_string().as_str()
        );
        assert_eq!(end.metadata().get("x-switchyard-attempts").unwrap(), "1");
    }

    #[tokio::test]
    async fn upstream_failure_mid_stream_is_forwarded_and_billed() {
        let (relay, mut records) = relay();
        let (up_tx, up_rx) = futures::channel::mpsc::unbounded();
        up_tx.unbounded_send(Ok(chunk(" jumps over"))).unwrap();
        up_tx
            .unbounded_send(Err(ApiError::new(
                switchyard_error::ErrorCode::UpstreamUnavailable,
                "cut",
            )
            .to_status()))
            .unwrap();
        let (received, _) = run_to_end(relay, "The quick brown fox", up_rx).await;
        assert_eq!(received.len(), 3);
        assert!(received[2].is_err());
        let record = records.recv().await.unwrap();
        assert_eq!(record.outcome, Outcome::Error as i32);
        assert_eq!(record.error_reason, "UPSTREAM_UNAVAILABLE");
        assert!(record.usage_estimated);
        // Both chunks, counted as the one text they make.
        assert_eq!((record.prompt_tokens, record.completion_tokens), (11, 6));
    }
}
