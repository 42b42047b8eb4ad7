//! Streaming: `streamGenerateContent?alt=sse` events to chunks.
//!
//! Each event is a whole `GenerateContentResponse` holding the next text of each
//! candidate, or whole function calls (Gemini never splits one call across events,
//! so each becomes one tool-call delta carrying its full arguments). Usage comes
//! cumulatively; the last report is kept back and sent as the closing usage chunk.
//!
//! Gemini's streams have no end marker: a stream is complete when every candidate
//! it started has a `finishReason` by the end of the body. A body that ends before
//! that (a cut connection, a truncated last event) is an error, never a short
//! answer that looks whole.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use switchyard_proto::types::v1::{
    ChatChunk, ChatRequest, ChunkChoice, Delta, FunctionCallDelta, ReasoningDelta, Role,
    ToolCallDelta, Usage,
};
use switchyard_tokens::{Counter, DeferredPrompt, estimate_usage};

use super::error::Google;
use super::response::{self, WireResponse};
use crate::ProviderError;
use crate::answer::{new_id, now_secs};
use crate::http;
use crate::sse::{SseError, SseEvent, SseParser};

/// Turns Gemini responses, in order, into chunks; shared by the event-stream and
/// the JSON-array forms of a stream.
pub struct Translator {
    provider: Google,
    upstream_model: String,
    id: String,
    created: i64,
    model: String,
    usage: Option<Usage>,
    candidates: BTreeMap<u32, Progress>,
    /// What was streamed, counted only if Gemini reports no usage.
    completion: Counter,
    /// What the prompt's count needs, likewise.
    prompt: DeferredPrompt,
}

/// How far one candidate has come.
#[derive(Debug, Default)]
struct Progress {
    role_sent: bool,
    tool_calls: u32,
    /// Thought signatures seen: each is reasoning block `1 + n` (block 0 holds
    /// the thought summaries).
    signatures: u32,
    finished: bool,
}

impl Translator {
    /// A translator for the answer to `req`, asked of `upstream_model`.
    pub fn new(provider: Google, upstream_model: &str, req: &ChatRequest) -> Self {
        Self {
            provider,
            upstream_model: upstream_model.to_string(),
            id: String::new(),
            created: 0,
            model: String::new(),
            usage: None,
            candidates: BTreeMap::new(),
            completion: Counter::new(),
            prompt: DeferredPrompt::chat(req),
        }
    }

    /// One response: the chunk it adds, nothing (usage only, empty), or the error
    /// it reports (an error object, a blocked prompt).
    pub fn on_response(&mut self, event: WireResponse) -> Result<Option<ChatChunk>, ProviderError> {
        if let Some(err) = &event.error {
            return Err(self.provider.error_event(&self.upstream_model, err));
        }
        if let Some(err) = response::blocked(&self.provider.name, &self.upstream_model, &event) {
            return Err(err);
        }
        if self.id.is_empty() {
            self.id = event
                .response_id
                .clone()
                .filter(|id| !id.is_empty())
                .unwrap_or_else(new_id);
            self.created = now_secs();
        }
        if let Some(model) = event.model_version.as_ref().filter(|m| !m.is_empty()) {
            self.model.clone_from(model);
        }
        if let Some(usage) = response::reported(event.usage_metadata.as_ref()) {
            self.usage = Some(usage);
        }
        let mut choices = Vec::new();
        for (position, candidate) in event.candidates.into_iter().enumerate() {
            let index = candidate.index.unwrap_or(position as u32);
            let logprobs = response::logprobs(candidate.logprobs_result);
            let progress = self.candidates.entry(index).or_default();
            let mut text = String::new();
            let mut thoughts = String::new();
            let mut tool_calls = Vec::new();
            let mut signatures = Vec::new();
            for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
                if let Some(signature) = part.thought_signature.as_deref().filter(|s| !s.is_empty())
                {
                    progress.signatures += 1;
                    signatures.push(ReasoningDelta {
                        index: progress.signatures,
                        signature: Some(response::signed(signature).signature),
                        ..ReasoningDelta::default()
                    });
                }
                if part.thought == Some(true) {
                    thoughts.push_str(part.text.as_deref().unwrap_or_default());
                    continue;
                }
                if let Some(t) = &part.text {
                    text.push_str(t);
                }
                if let Some(call) = part.function_call {
                    let id = response::call_id(call.id.clone());
                    let (name, arguments) = response::call_name_and_arguments(call);
                    self.completion.push(&name);
                    self.completion.push(&arguments);
                    tool_calls.push(ToolCallDelta {
                        index: progress.tool_calls,
                        id: Some(id),
                        r#type: Some("function".into()),
                        function: Some(FunctionCallDelta {
                            name: Some(name),
                            arguments: Some(arguments),
                        }),
                    });
                    progress.tool_calls += 1;
                }
            }
            self.completion.push(&text);
            self.completion.push(&thoughts);
            let finish = response::finish_reason(
                candidate.finish_reason.as_deref(),
                progress.tool_calls > 0,
            );
            progress.finished |= finish.is_some();
            if text.is_empty()
                && thoughts.is_empty()
                && signatures.is_empty()
                && tool_calls.is_empty()
                && finish.is_none()
            {
                continue;
            }
            let role = if progress.role_sent {
                Role::Unspecified
            } else {
                progress.role_sent = true;
                Role::Assistant
            };
            choices.push(ChunkChoice {
                index,
                delta: Some(Delta {
                    role: role as i32,
                    content: (!text.is_empty()).then_some(text),
                    tool_calls,
                    refusal: None,
                    // Thought summaries: one unsigned block per answer; then
                    // each thought signature, a block of its own.
                    reasoning: (!thoughts.is_empty())
                        .then(|| ReasoningDelta {
                            index: 0,
                            text: Some(thoughts),
                            ..ReasoningDelta::default()
                        })
                        .into_iter()
                        .chain(signatures)
                        .collect(),
                }),
                finish_reason: finish.map_or(0, |f| f as i32),
                logprobs,
            });
        }
        if choices.is_empty() {
            return Ok(None);
        }
        Ok(Some(ChatChunk {
            id: self.id.clone(),
            created: self.created,
            model: self.model_name(),
            choices,
            usage: None,
            system_fingerprint: None,
        }))
    }

    /// Whether every candidate begun has finished: the stream may end here.
    pub fn complete(&self) -> bool {
        !self.candidates.is_empty() && self.candidates.values().all(|c| c.finished)
    }

    fn model_name(&self) -> String {
        if self.model.is_empty() {
            self.upstream_model.clone()
        } else {
            self.model.clone()
        }
    }

    /// The closing chunk: no choices, the last reported usage or an estimate.
    pub async fn usage_chunk(&mut self) -> ChatChunk {
        let usage = match self.usage.take() {
            Some(usage) => usage,
            None => {
                let prompt = std::mem::take(&mut self.prompt);
                estimate_usage(prompt, std::mem::take(&mut self.completion)).await
            }
        };
        if self.id.is_empty() {
            self.id = new_id();
            self.created = now_secs();
        }
        ChatChunk {
            id: self.id.clone(),
            created: self.created,
            model: self.model_name(),
            choices: Vec::new(),
            usage: Some(usage),
            system_fingerprint: None,
        }
    }

    /// The error of a stream that ended before every candidate finished.
    fn ended_early(&self) -> ProviderError {
        ProviderError::StreamEnded {
            provider: self.provider.name.to_string(),
        }
    }

    fn malformed(&self) -> ProviderError {
        ProviderError::Malformed {
            provider: self.provider.name.to_string(),
            what: "event",
        }
    }
}

/// A complete JSON-array stream (what `streamGenerateContent` sends without
/// `alt=sse`, or a proxy that buffered one), replayed under the stream contract.
pub async fn replay(
    mut translator: Translator,
    body: &[u8],
) -> Result<Vec<ChatChunk>, ProviderError> {
    let events: Vec<WireResponse> = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Array(items)) => items
            .into_iter()
            .map(serde_json::from_value)
            .collect::<Result<_, _>>()
            .map_err(|_| translator.malformed())?,
        Ok(one) => vec![serde_json::from_value(one).map_err(|_| translator.malformed())?],
        Err(_) => return Err(translator.malformed()),
    };
    let mut chunks = Vec::new();
    for event in events {
        chunks.extend(translator.on_response(event)?);
    }
    if !translator.complete() {
        return Err(translator.ended_early());
    }
    chunks.push(translator.usage_chunk().await);
    Ok(chunks)
}

/// A running event stream: the body, the event parser and the translator.
pub struct SseStream {
    body: BoxStream<'static, Result<Bytes, http::TransportError>>,
    parser: SseParser,
    translator: Translator,
    /// The body has ended; events still parsed are its last.
    eof: bool,
    finished: bool,
}

impl SseStream {
    /// Reads `body` as Gemini's event stream.
    pub fn new(
        body: BoxStream<'static, Result<Bytes, http::TransportError>>,
        translator: Translator,
    ) -> Self {
        Self {
            body,
            parser: SseParser::default(),
            translator,
            eof: false,
            finished: false,
        }
    }

    /// The chunks, then the usage chunk or one error; then nothing.
    pub fn into_chunks(self) -> crate::ChunkStream {
        futures::stream::unfold(self, |mut st| async move {
            let item = st.next_item().await?;
            Some((item, st))
        })
        .boxed()
    }

    async fn next_item(&mut self) -> Option<Result<ChatChunk, ProviderError>> {
        if self.finished {
            return None;
        }
        loop {
            if let Some(event) = self.parser.next_event() {
                match self.on_event(event) {
                    Ok(None) => continue,
                    Ok(Some(chunk)) => return Some(Ok(chunk)),
                    Err(e) => return self.end(Err(e)),
                }
            }
            if self.eof {
                let last = if self.translator.complete() {
                    Ok(self.translator.usage_chunk().await)
                } else {
                    Err(self.translator.ended_early())
                };
                return self.end(last);
            }
            let pushed = match self.body.next().await {
                Some(Ok(bytes)) => self.parser.push(&bytes),
                Some(Err(e)) => {
                    let err = ProviderError::transport(&self.translator.provider.name, &e);
                    return self.end(Err(err));
                }
                None => {
                    // A last event without its blank line is dispatched now.
                    self.eof = true;
                    self.parser.push(b"\n\n")
                }
            };
            if let Err(e) = pushed {
                let provider = self.translator.provider.name.to_string();
                let err = match e {
                    SseError::TooLarge(limit) => ProviderError::EventTooLarge { provider, limit },
                    SseError::NotUtf8 => self.translator.malformed(),
                };
                return self.end(Err(err));
            }
        }
    }

    fn end(
        &mut self,
        item: Result<ChatChunk, ProviderError>,
    ) -> Option<Result<ChatChunk, ProviderError>> {
        self.finished = true;
        Some(item)
    }

    fn on_event(&mut self, event: SseEvent) -> Result<Option<ChatChunk>, ProviderError> {
        match serde_json::from_str::<WireResponse>(&event.data) {
            Ok(response) => self.translator.on_response(response),
            // The body ended inside this event: the stream was cut.
            Err(_) if self.eof => Err(self.translator.ended_early()),
            Err(_) => Err(self.translator.malformed()),
        }
    }
}
