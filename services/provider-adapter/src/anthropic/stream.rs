//! Anthropic's event stream translated into Switchyard chunks.
//!
//! Anthropic streams named events: `message_start` (id, model, input usage), then
//! per content block `content_block_start` / `content_block_delta` /
//! `content_block_stop`, then `message_delta` (stop reason, cumulative usage) and
//! `message_stop`; `ping` may come anywhere, `error` ends the stream, and unknown
//! types are ignored, as Anthropic's versioning policy asks. Block indexes count
//! every block (thinking, text and tools), so tool-use blocks are renumbered 0,
//! 1, ... into OpenAI's tool-call indexes, and thinking blocks into reasoning
//! indexes (`thinking_delta` text, then the `signature_delta`; a
//! `redacted_thinking` block whole at its start). Usage is kept back and sent last: reported, or
//! estimated from what was streamed. A body that ends before `message_stop` is an
//! error, never a short answer.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde_json::Value;
use switchyard_proto::types::v1::{
    ChatChunk, ChatRequest, ChunkChoice, Delta, FinishReason, FunctionCallDelta, ReasoningDelta,
    Role, ToolCallDelta,
};
use switchyard_tokens::{Counter, DeferredPrompt, estimate_usage};

use super::wire::{self, WireEvent, WireUsage};
use crate::answer::{new_id, now_secs};
use crate::http;
use crate::sse::{self, SseError, SseEvent, StreamFailure};
use crate::{ChunkStream, ProviderError};

type EventStream =
    Pin<Box<dyn Stream<Item = Result<SseEvent, StreamFailure<http::TransportError>>> + Send>>;

/// The chunks of one streamed answer read from `body`.
pub(super) fn translate<S>(
    body: S,
    provider: Arc<str>,
    upstream_model: &str,
    req: &ChatRequest,
) -> ChunkStream
where
    S: Stream<Item = Result<Bytes, http::TransportError>> + Send + Unpin + 'static,
{
    let state = StreamState {
        events: Box::pin(sse::data_events(body)),
        provider,
        upstream_model: upstream_model.to_string(),
        id: String::new(),
        created: 0,
        model: String::new(),
        usage: WireUsage::default(),
        tool_blocks: Vec::new(),
        thinking_blocks: Vec::new(),
        completion: Counter::new(),
        // Kept, not counted: counted only if Anthropic reports no usage.
        prompt: DeferredPrompt::chat(req),
        finished: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        let item = st.next_item().await?;
        Some((item, st))
    })
    .boxed()
}

/// What one event means for the caller.
enum Step {
    /// Nothing to send (ping, block stop, an unknown event type).
    Skip,
    /// A chunk to send.
    Chunk(ChatChunk),
    /// `message_stop`: the answer is complete.
    Done,
}

struct StreamState {
    events: EventStream,
    provider: Arc<str>,
    upstream_model: String,
    id: String,
    created: i64,
    model: String,
    usage: WireUsage,
    /// Anthropic block index of each tool-use block, in order: position = tool index.
    tool_blocks: Vec<u32>,
    /// Anthropic block index of each thinking block, in order: position =
    /// reasoning index.
    thinking_blocks: Vec<u32>,
    /// What was streamed, counted only if Anthropic reports no usage.
    completion: Counter,
    prompt: DeferredPrompt,
    finished: bool,
}

impl StreamState {
    async fn next_item(&mut self) -> Option<Result<ChatChunk, ProviderError>> {
        if self.finished {
            return None;
        }
        loop {
            let result = match self.events.next().await {
                Some(Ok(event)) => match self.on_event(event) {
                    Ok(Step::Skip) => continue,
                    Ok(Step::Chunk(chunk)) => return Some(Ok(chunk)),
                    Ok(Step::Done) => Ok(self.usage_chunk().await),
                    Err(e) => Err(e),
                },
                Some(Err(failure)) => Err(self.failure(failure)),
                // `data: [DONE]` is OpenAI's end marker, not Anthropic's: without
                // `message_stop` the answer is incomplete.
                None => Err(self.ended()),
            };
            // The usage chunk and an error both end the stream.
            self.finished = true;
            return Some(result);
        }
    }

    fn provider(&self) -> String {
        self.provider.to_string()
    }

    fn ended(&self) -> ProviderError {
        ProviderError::StreamEnded {
            provider: self.provider(),
        }
    }

    fn malformed(&self) -> ProviderError {
        ProviderError::Malformed {
            provider: self.provider(),
            what: "event",
        }
    }

    fn failure(&self, failure: StreamFailure<http::TransportError>) -> ProviderError {
        let provider = self.provider();
        match failure {
            StreamFailure::Transport(e) => ProviderError::transport(&provider, &e),
            StreamFailure::Sse(SseError::TooLarge(limit)) => {
                ProviderError::EventTooLarge { provider, limit }
            }
            StreamFailure::Sse(SseError::NotUtf8) => self.malformed(),
            StreamFailure::EndedEarly => self.ended(),
        }
    }

    fn error_event(&self, body: &Value) -> ProviderError {
        ProviderError::Upstream {
            provider: self.provider(),
            model: self.upstream_model.clone(),
            status: None,
            retry_after: None,
            error: Box::new(wire::upstream_error(body)),
        }
    }

    fn on_event(&mut self, event: SseEvent) -> Result<Step, ProviderError> {
        if event.event.as_deref() == Some("error") {
            let body = serde_json::from_str::<Value>(&event.data)
                .unwrap_or_else(|_| Value::String(event.data.clone()));
            return Err(self.error_event(&body));
        }
        let parsed: WireEvent = serde_json::from_str(&event.data).map_err(|_| self.malformed())?;
        let kind = parsed
            .kind
            .as_deref()
            .or(event.event.as_deref())
            .unwrap_or_default();
        match kind {
            "message_start" => {
                let message = parsed.message.unwrap_or_default();
                self.start(message.id, message.model);
                if let Some(usage) = &message.usage {
                    self.usage.merge(usage);
                }
                Ok(Step::Chunk(self.chunk(
                    Delta {
                        role: Role::Assistant as i32,
                        ..Delta::default()
                    },
                    FinishReason::Unspecified,
                )))
            }
            "content_block_start" => {
                let block = parsed.content_block.unwrap_or_default();
                match block.kind.as_str() {
                    "text" => Ok(self.text(block.text.unwrap_or_default())),
                    "tool_use" => {
                        let index = self.tool_blocks.len() as u32;
                        self.tool_blocks.push(parsed.index.unwrap_or_default());
                        let name = block.name.unwrap_or_default();
                        self.completion.push(&name);
                        Ok(self.tool_delta(ToolCallDelta {
                            index,
                            id: block.id,
                            r#type: Some("function".into()),
                            function: Some(FunctionCallDelta {
                                name: Some(name),
                                arguments: Some(String::new()),
                            }),
                        }))
                    }
                    "thinking" | "redacted_thinking" => {
                        let index = self.thinking_blocks.len() as u32;
                        self.thinking_blocks.push(parsed.index.unwrap_or_default());
                        let Some(reasoning) = block.reasoning() else {
                            return Ok(Step::Skip);
                        };
                        self.completion.push(&reasoning.text);
                        Ok(self.reasoning_delta(ReasoningDelta {
                            index,
                            text: Some(reasoning.text),
                            signature: (!reasoning.signature.is_empty())
                                .then_some(reasoning.signature),
                            redacted: reasoning.redacted,
                        }))
                    }
                    // Server-tool blocks have no equivalent.
                    _ => Ok(Step::Skip),
                }
            }
            "content_block_delta" => {
                let delta = parsed.delta.unwrap_or_default();
                match delta.kind.as_deref() {
                    Some("text_delta") => Ok(self.text(delta.text.unwrap_or_default())),
                    Some(kind @ ("thinking_delta" | "signature_delta")) => {
                        let block = parsed.index.unwrap_or_default();
                        let Some(index) = self.thinking_blocks.iter().position(|b| *b == block)
                        else {
                            return Ok(Step::Skip);
                        };
                        let mut fragment = ReasoningDelta {
                            index: index as u32,
                            ..ReasoningDelta::default()
                        };
                        if kind == "thinking_delta" {
                            let text = delta.thinking.unwrap_or_default();
                            self.completion.push(&text);
                            fragment.text = Some(text);
                        } else {
                            fragment.signature = delta.signature;
                        }
                        Ok(self.reasoning_delta(fragment))
                    }
                    Some("input_json_delta") => {
                        let block = parsed.index.unwrap_or_default();
                        let fragment = delta.partial_json.unwrap_or_default();
                        match self.tool_blocks.iter().position(|b| *b == block) {
                            Some(index) if !fragment.is_empty() => {
                                self.completion.push(&fragment);
                                Ok(self.tool_delta(ToolCallDelta {
                                    index: index as u32,
                                    function: Some(FunctionCallDelta {
                                        name: None,
                                        arguments: Some(fragment),
                                    }),
                                    ..ToolCallDelta::default()
                                }))
                            }
                            _ => Ok(Step::Skip),
                        }
                    }
                    _ => Ok(Step::Skip),
                }
            }
            "message_delta" => {
                if let Some(usage) = &parsed.usage {
                    self.usage.merge(usage);
                }
                let reason = parsed.delta.and_then(|d| d.stop_reason);
                match wire::finish_reason(reason.as_deref()) {
                    FinishReason::Unspecified => Ok(Step::Skip),
                    finish => Ok(Step::Chunk(self.chunk(Delta::default(), finish))),
                }
            }
            "message_stop" => Ok(Step::Done),
            "error" => {
                let body = serde_json::from_str::<Value>(&event.data).unwrap_or_default();
                Err(self.error_event(&body))
            }
            _ => Ok(Step::Skip),
        }
    }

    /// Records the answer's identity (once; later calls keep the first).
    fn start(&mut self, id: Option<String>, model: Option<String>) {
        if self.id.is_empty() {
            self.id = id.filter(|id| !id.is_empty()).unwrap_or_else(new_id);
            self.created = now_secs();
        }
        if let Some(model) = model.filter(|m| !m.is_empty()) {
            self.model = model;
        }
    }

    fn text(&mut self, text: String) -> Step {
        if text.is_empty() {
            return Step::Skip;
        }
        self.completion.push(&text);
        Step::Chunk(self.chunk(
            Delta {
                content: Some(text),
                ..Delta::default()
            },
            FinishReason::Unspecified,
        ))
    }

    fn reasoning_delta(&mut self, fragment: ReasoningDelta) -> Step {
        Step::Chunk(self.chunk(
            Delta {
                reasoning: vec![fragment],
                ..Delta::default()
            },
            FinishReason::Unspecified,
        ))
    }

    fn tool_delta(&mut self, call: ToolCallDelta) -> Step {
        Step::Chunk(self.chunk(
            Delta {
                tool_calls: vec![call],
                ..Delta::default()
            },
            FinishReason::Unspecified,
        ))
    }

    fn chunk(&mut self, delta: Delta, finish: FinishReason) -> ChatChunk {
        self.start(None, None);
        ChatChunk {
            id: self.id.clone(),
            created: self.created,
            model: self.model_name(),
            choices: vec![ChunkChoice {
                index: 0,
                delta: Some(delta),
                finish_reason: finish as i32,
                logprobs: None,
            }],
            usage: None,
            system_fingerprint: None,
        }
    }

    fn model_name(&self) -> String {
        if self.model.is_empty() {
            self.upstream_model.clone()
        } else {
            self.model.clone()
        }
    }

    /// The closing chunk: no choices, the reported usage or an estimate.
    async fn usage_chunk(&mut self) -> ChatChunk {
        let usage = match self.usage.to_proto() {
            Some(usage) => usage,
            None => {
                let prompt = std::mem::take(&mut self.prompt);
                estimate_usage(prompt, std::mem::take(&mut self.completion)).await
            }
        };
        self.start(None, None);
        ChatChunk {
            id: self.id.clone(),
            created: self.created,
            model: self.model_name(),
            choices: Vec::new(),
            usage: Some(usage),
            system_fingerprint: None,
        }
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
