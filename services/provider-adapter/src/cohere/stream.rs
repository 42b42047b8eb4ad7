//! Cohere's chat event stream translated into Switchyard chunks.
//!
//! Cohere streams server-sent events (`event: <type>` plus one `data:` JSON object
//! whose `type` repeats the name): `message-start` (the id), then `content-start` /
//! `content-delta` / `content-end` for text, `tool-plan-delta` for the text a model
//! writes before calling tools, `tool-call-start` (id and name) / `tool-call-delta`
//! (argument fragments) / `tool-call-end` per call, `citation-start` /
//! `citation-end`, and `message-end` (finish reason, usage). Translation:
//! - `message-end` ends the stream: the finish chunk, then the usage chunk, and the
//!   rest of the body is not read. A `data: [DONE]` line (some servers add one) is
//!   ignored. A body that ends before `message-end` is an error, never a short
//!   answer;
//! - `message-end` with `ERROR` or `TIMEOUT` ends the stream with that error;
//! - tool calls are renumbered 0, 1, ... in the order they start, whatever
//!   `index` Cohere gives them, since OpenAI's indexes count tool calls only;
//! - the tool plan, citations, reasoning (`thinking`) content, `debug` and unknown
//!   event types produce no chunk (the tool plan still counts as produced text for
//!   an estimate);
//! - a body sent as newline-delimited JSON instead of SSE is read line by line.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::Deserialize as _;
use serde_json::Value;
use switchyard_proto::types::v1::{
    ChatChunk, ChatRequest, ChunkChoice, Delta, FinishReason, FunctionCallDelta, Role,
    ToolCallDelta, Usage,
};
use switchyard_tokens::{Counter, DeferredPrompt, estimate_usage};

use super::wire::{self, Finish, WireDeltaMessage, WireEvent, WireToolCall};
use crate::answer::{new_id, now_secs};
use crate::http;
use crate::sse::{MAX_EVENT_BYTES, SseError, SseParser};
use crate::{ChunkStream, ProviderError};

/// How a stream body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// Server-sent events (`text/event-stream`), what Cohere sends when asked.
    Sse,
    /// One JSON event per line (`application/stream+json`, NDJSON).
    Lines,
}

type Body = Pin<Box<dyn Stream<Item = Result<Bytes, http::TransportError>> + Send>>;

/// The chunks of one streamed answer read from `body`.
pub(super) fn translate<S>(
    body: S,
    framing: Framing,
    provider: Arc<str>,
    upstream_model: &str,
    req: &ChatRequest,
) -> ChunkStream
where
    S: Stream<Item = Result<Bytes, http::TransportError>> + Send + 'static,
{
    let state = StreamState {
        frames: Frames::new(Box::pin(body), framing),
        provider,
        upstream_model: upstream_model.to_string(),
        id: String::new(),
        created: 0,
        usage: None,
        tool_calls: Vec::new(),
        thinking_blocks: Vec::new(),
        completion: Counter::new(),
        // Kept, not counted: counted only if Cohere reports no usage.
        prompt: DeferredPrompt::chat(req),
        complete: false,
        finished: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        let item = st.next_item().await?;
        Some((item, st))
    })
    .boxed()
}

/// One event's payload.
#[derive(Debug)]
struct Frame {
    /// The SSE `event:` name, if any.
    event: Option<String>,
    data: String,
    /// Completed only by the end of the body: possibly cut short.
    at_eof: bool,
}

/// Why the body could not be read as events.
#[derive(Debug)]
enum ReadFailure {
    Transport(http::TransportError),
    Framing(SseError),
}

/// The events of a body, in either framing.
struct Frames {
    body: Body,
    framing: Framing,
    sse: SseParser,
    /// `Lines`: the line not yet terminated, and complete lines not yet taken.
    partial: Vec<u8>,
    lines: VecDeque<String>,
    eof: bool,
}

impl Frames {
    fn new(body: Body, framing: Framing) -> Self {
        Self {
            body,
            framing,
            sse: SseParser::default(),
            partial: Vec::new(),
            lines: VecDeque::new(),
            eof: false,
        }
    }

    /// The next event; `None` once the body has ended and every event was taken.
    async fn next(&mut self) -> Option<Result<Frame, ReadFailure>> {
        loop {
            if let Some(frame) = self.ready() {
                return Some(Ok(frame));
            }
            if self.eof {
                return None;
            }
            let pushed = match self.body.next().await {
                Some(Ok(bytes)) => self.push(&bytes),
                Some(Err(e)) => return Some(Err(ReadFailure::Transport(e))),
                None => {
                    self.eof = true;
                    self.finish()
                }
            };
            if let Err(e) = pushed {
                return Some(Err(ReadFailure::Framing(e)));
            }
        }
    }

    fn ready(&mut self) -> Option<Frame> {
        let at_eof = self.eof;
        match self.framing {
            Framing::Sse => self.sse.next_event().map(|e| Frame {
                event: e.event,
                data: e.data,
                at_eof,
            }),
            Framing::Lines => self.lines.pop_front().map(|data| Frame {
                event: None,
                data,
                at_eof,
            }),
        }
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        match self.framing {
            Framing::Sse => self.sse.push(bytes),
            Framing::Lines => {
                let mut rest = bytes;
                while let Some(i) = rest.iter().position(|&b| b == b'\n') {
                    self.partial.extend_from_slice(&rest[..i]);
                    rest = &rest[i + 1..];
                    let line = std::mem::take(&mut self.partial);
                    self.line(&line)?;
                }
                self.partial.extend_from_slice(rest);
                if self.partial.len() > MAX_EVENT_BYTES {
                    return Err(SseError::TooLarge(MAX_EVENT_BYTES));
                }
                Ok(())
            }
        }
    }

    /// Dispatches what the end of the body completes: an event without its final
    /// blank line, a last line without its newline.
    fn finish(&mut self) -> Result<(), SseError> {
        match self.framing {
            Framing::Sse => self.sse.push(b"\n\n"),
            Framing::Lines => {
                let line = std::mem::take(&mut self.partial);
                self.line(&line)
            }
        }
    }

    /// One NDJSON line; SSE field lines sent under a JSON content type are
    /// tolerated (`data:` unwrapped, `event:` and comments skipped).
    fn line(&mut self, line: &[u8]) -> Result<(), SseError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = std::str::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
        let text = text.trim();
        if text.is_empty() || text.starts_with(':') || text.starts_with("event:") {
            return Ok(());
        }
        let data = text.strip_prefix("data:").map_or(text, str::trim_start);
        self.lines.push_back(data.to_string());
        Ok(())
    }
}

struct StreamState {
    frames: Frames,
    provider: Arc<str>,
    upstream_model: String,
    id: String,
    created: i64,
    usage: Option<Usage>,
    /// Cohere's `index` of each tool call, in the order they started: the position
    /// is the OpenAI tool-call index.
    tool_calls: Vec<u32>,
    /// Content indexes of reasoning (`thinking`) blocks, whose deltas are skipped.
    thinking_blocks: Vec<u32>,
    /// What was produced, counted only if Cohere reports no usage.
    completion: Counter,
    prompt: DeferredPrompt,
    /// `message-end` arrived: only the usage chunk is left.
    complete: bool,
    finished: bool,
}

impl StreamState {
    async fn next_item(&mut self) -> Option<Result<ChatChunk, ProviderError>> {
        if self.finished {
            return None;
        }
        loop {
            if self.complete {
                self.finished = true;
                return Some(Ok(self.usage_chunk().await));
            }
            let result = match self.frames.next().await {
                Some(Ok(frame)) => match self.on_frame(frame) {
                    Ok(None) => continue,
                    Ok(Some(chunk)) => return Some(Ok(chunk)),
                    Err(e) => Err(e),
                },
                Some(Err(failure)) => Err(self.failure(failure)),
                None => Err(self.ended()),
            };
            // An error ends the stream.
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

    fn failure(&self, failure: ReadFailure) -> ProviderError {
        match failure {
            ReadFailure::Transport(e) => ProviderError::transport(&self.provider, &e),
            ReadFailure::Framing(SseError::TooLarge(limit)) => ProviderError::EventTooLarge {
                provider: self.provider(),
                limit,
            },
            ReadFailure::Framing(SseError::NotUtf8) => self.malformed(),
        }
    }

    fn reported(&self, error: crate::UpstreamError) -> ProviderError {
        ProviderError::Upstream {
            provider: self.provider(),
            model: self.upstream_model.clone(),
            status: None,
            retry_after: None,
            error: Box::new(error),
        }
    }

    /// One event: a chunk to send, nothing, or the error it reports.
    fn on_frame(&mut self, frame: Frame) -> Result<Option<ChatChunk>, ProviderError> {
        let data = frame.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(None);
        }
        if frame.event.as_deref() == Some("error") {
            let body = serde_json::from_str::<Value>(data)
                .unwrap_or_else(|_| Value::String(data.to_string()));
            return Err(self.reported(wire::upstream_error(&body)));
        }
        let parsed: WireEvent = match serde_json::from_str(data) {
            Ok(parsed) => parsed,
            // Only the end of the body completed it: the event was cut short.
            Err(_) if frame.at_eof => return Err(self.ended()),
            Err(_) => return Err(self.malformed()),
        };
        let kind = parsed
            .kind
            .as_deref()
            .or(frame.event.as_deref())
            .unwrap_or_default()
            .to_string();
        let index = parsed.index;
        let delta = parsed.delta.unwrap_or_default();
        let message = delta.message.unwrap_or_default();
        match kind.as_str() {
            "message-start" => {
                self.start(parsed.id);
                Ok(Some(self.chunk(
                    Delta {
                        role: Role::Assistant as i32,
                        ..Delta::default()
                    },
                    FinishReason::Unspecified,
                )))
            }
            "content-start" => {
                let content = message.content.unwrap_or_default();
                if content.get("type").and_then(Value::as_str) == Some("thinking") {
                    self.thinking_blocks.push(index.unwrap_or_default());
                    return Ok(None);
                }
                Ok(self.text(text_of(&content)))
            }
            "content-delta" => {
                if self.thinking_blocks.contains(&index.unwrap_or_default()) {
                    return Ok(None);
                }
                Ok(self.text(text_of(&message.content.unwrap_or_default())))
            }
            "tool-plan-delta" => {
                if let Some(plan) = &message.tool_plan {
                    self.completion.push(plan);
                }
                Ok(None)
            }
            "tool-call-start" => Ok(self.tool_call_start(index, &message)),
            "tool-call-delta" => Ok(self.tool_call_delta(index, &message)),
            "message-end" => {
                if let Some(usage) = delta.usage.as_ref().and_then(wire::WireUsage::to_proto) {
                    self.usage = Some(usage);
                }
                match wire::finish(delta.finish_reason.as_deref()) {
                    Finish::Error => {
                        let message = delta
                            .error
                            .unwrap_or_else(|| "the generation failed".into());
                        Err(self.reported(wire::error_with_message(Some(message))))
                    }
                    Finish::Timeout => Err(ProviderError::Timeout {
                        provider: self.provider(),
                    }),
                    Finish::Reason(reason) => {
                        self.complete = true;
                        Ok((reason != FinishReason::Unspecified)
                            .then(|| self.chunk(Delta::default(), reason)))
                    }
                }
            }
            "error" => {
                let body = serde_json::from_str::<Value>(data).unwrap_or_default();
                Err(self.reported(wire::upstream_error(&body)))
            }
            // content-end, tool-call-end, citations, debug, and types added later.
            _ => Ok(None),
        }
    }

    fn tool_call_start(
        &mut self,
        index: Option<u32>,
        message: &WireDeltaMessage,
    ) -> Option<ChatChunk> {
        let calls = calls_of(message.tool_calls.as_ref());
        let mut deltas = Vec::with_capacity(calls.len());
        for (k, call) in calls.into_iter().enumerate() {
            let position = self.tool_calls.len() as u32;
            let upstream = index.map_or(position, |i| i.saturating_add(k as u32));
            self.tool_calls.push(upstream);
            let call = WireToolCall::deserialize(call).unwrap_or_default();
            let name = call.function.name.clone().unwrap_or_default();
            let arguments = call.function.arguments_text();
            self.completion.push(&name);
            self.completion.push(&arguments);
            deltas.push(ToolCallDelta {
                index: position,
                id: call.id,
                r#type: Some("function".into()),
                function: Some(FunctionCallDelta {
                    name: Some(name),
                    arguments: Some(arguments),
                }),
            });
        }
        (!deltas.is_empty()).then(|| self.tool_chunk(deltas))
    }

    fn tool_call_delta(
        &mut self,
        index: Option<u32>,
        message: &WireDeltaMessage,
    ) -> Option<ChatChunk> {
        // A fragment belongs to the call with its index, else to the open one.
        let position = index
            .and_then(|i| self.tool_calls.iter().position(|u| *u == i))
            .or_else(|| self.tool_calls.len().checked_sub(1))?;
        let call = calls_of(message.tool_calls.as_ref()).into_iter().next()?;
        let fragment = WireToolCall::deserialize(call)
            .unwrap_or_default()
            .function
            .arguments_text();
        if fragment.is_empty() {
            return None;
        }
        self.completion.push(&fragment);
        Some(self.tool_chunk(vec![ToolCallDelta {
            index: position as u32,
            function: Some(FunctionCallDelta {
                name: None,
                arguments: Some(fragment),
            }),
            ..ToolCallDelta::default()
        }]))
    }

    /// Records the answer's identity (once; later calls keep the first).
    fn start(&mut self, id: Option<String>) {
        if self.id.is_empty() {
            self.id = id.filter(|id| !id.is_empty()).unwrap_or_else(new_id);
            self.created = now_secs();
        }
    }

    fn text(&mut self, text: Option<&str>) -> Option<ChatChunk> {
        let text = text.filter(|t| !t.is_empty())?;
        self.completion.push(text);
        Some(self.chunk(
            Delta {
                content: Some(text.to_string()),
                ..Delta::default()
            },
            FinishReason::Unspecified,
        ))
    }

    fn tool_chunk(&mut self, calls: Vec<ToolCallDelta>) -> ChatChunk {
        self.chunk(
            Delta {
                tool_calls: calls,
                ..Delta::default()
            },
            FinishReason::Unspecified,
        )
    }

    fn chunk(&mut self, delta: Delta, finish: FinishReason) -> ChatChunk {
        self.start(None);
        ChatChunk {
            id: self.id.clone(),
            created: self.created,
            // Cohere's events do not name the model.
            model: self.upstream_model.clone(),
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

    /// The closing chunk: no choices, the reported usage or an estimate.
    async fn usage_chunk(&mut self) -> ChatChunk {
        let usage = match self.usage.take() {
            Some(usage) => usage,
            None => {
                let prompt = std::mem::take(&mut self.prompt);
                estimate_usage(prompt, std::mem::take(&mut self.completion)).await
            }
        };
        let mut chunk = self.chunk(Delta::default(), FinishReason::Unspecified);
        chunk.choices.clear();
        chunk.usage = Some(usage);
        chunk
    }
}

/// The text of a content event's `content` object.
fn text_of(content: &Value) -> Option<&str> {
    content.get("text").and_then(Value::as_str)
}

/// The tool calls of a tool event: one object (as Cohere sends them), or a list.
fn calls_of(value: Option<&Value>) -> Vec<&Value> {
    match value {
        Some(Value::Object(_)) => value.into_iter().collect(),
        Some(Value::Array(items)) => items.iter().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
