//! Relaying a provider stream to the caller while accounting for it.
//!
//! The relay runs in its own task so the record is written however the stream ends:
//! completed, failed upstream, or abandoned by the client. When the client goes away
//! the relay keeps reading the upstream (for at most the drain timeout) to learn the
//! usage the provider reports; if it cannot, it estimates from what was produced.

use std::time::{Duration, Instant};

use switchyard_error::ApiError;
use switchyard_proto::metering::v1::Outcome;
use switchyard_proto::types::v1::{ChatChunk, Usage};
use tokio::sync::mpsc;
use tonic::{Status, Streaming};

use crate::record::{Draft, estimate_tokens};
use crate::usage::UsageSink;

/// Everything the relay needs besides the streams.
pub struct Relay {
    pub draft: Draft,
    pub usage: UsageSink,
    pub drain_timeout: Duration,
    pub prompt_estimate: u64,
}

#[derive(Default)]
struct Tally {
    usage: Option<Usage>,
    produced_chars: usize,
    first_token_at: Option<Instant>,
}

impl Tally {
    fn observe(&mut self, chunk: &ChatChunk) {
        if let Some(usage) = &chunk.usage {
            self.usage = Some(*usage);
        }
        let mut chars = 0;
        for choice in &chunk.choices {
            if let Some(delta) = &choice.delta {
                chars += delta.content.as_ref().map_or(0, String::len);
                chars += delta.refusal.as_ref().map_or(0, String::len);
                for call in &delta.tool_calls {
                    if let Some(f) = &call.function {
                        chars += f.name.as_ref().map_or(0, String::len);
                        chars += f.arguments.as_ref().map_or(0, String::len);
                    }
                }
            }
        }
        if chars > 0 && self.first_token_at.is_none() {
            self.first_token_at = Some(Instant::now());
        }
        self.produced_chars += chars;
    }
}

impl Relay {
    /// Forwards `first` and the rest of `upstream` into `tx`, then records usage.
    pub async fn run(
        self,
        first: ChatChunk,
        mut upstream: Streaming<ChatChunk>,
        tx: mpsc::Sender<Result<ChatChunk, Status>>,
    ) {
        let mut tally = Tally::default();
        tally.observe(&first);
        let mut drain_until = None;
        if tx.send(Ok(first)).await.is_err() {
            drain_until = Some(tokio::time::Instant::now() + self.drain_timeout);
        }
        let mut failure: Option<ApiError> = None;
        loop {
            let next = match drain_until {
                None => upstream.message().await,
                Some(deadline) => match tokio::time::timeout_at(deadline, upstream.message()).await
                {
                    Ok(next) => next,
                    Err(_) => break,
                },
            };
            match next {
                Ok(Some(chunk)) => {
                    tally.observe(&chunk);
                    if drain_until.is_none() && tx.send(Ok(chunk)).await.is_err() {
                        tracing::info!("client went away mid-stream; draining upstream for usage");
                        drain_until = Some(tokio::time::Instant::now() + self.drain_timeout);
                    }
                }
                Ok(None) => break,
                Err(status) => {
                    failure = Some(ApiError::from_status(&status));
                    if drain_until.is_none() {
                        let _ = tx.send(Err(status)).await;
                    }
                    break;
                }
            }
        }
        drop(tx);

        let usage = tally.usage.unwrap_or_else(|| {
            let completion = estimate_tokens(tally.produced_chars);
            Usage {
                prompt_tokens: self.prompt_estimate,
                completion_tokens: completion,
                total_tokens: self.prompt_estimate + completion,
                estimated: true,
                ..Default::default()
            }
        });
        let ttft_us = tally
            .first_token_at
            .map(|t| u64::try_from(t.duration_since(self.draft.started).as_micros()).unwrap_or(0))
            .unwrap_or(0);
        let (outcome, reason) = match (&failure, drain_until.is_some()) {
            (_, true) => (Outcome::Cancelled, String::new()),
            (Some(err), false) => (Outcome::Error, err.code.reason().to_string()),
            (None, false) => (Outcome::Ok, String::new()),
        };
        self.usage
            .record(self.draft.finish(&usage, outcome, &reason, ttft_us));
    }
}
