//! ConverseStream events to chunks: `messageStart` gives the role,
//! `contentBlockStart` / `contentBlockDelta` text, tool-call and reasoning
//! fragments (a tool call's index counts tool blocks, a reasoning block's
//! reasoning blocks, not content blocks), `messageStop` the finish
//! reason, `metadata` the usage, which is held back and sent last, as the stream
//! contract wants. An exception message ends the stream with its mapped error; so
//! does an end of body before `messageStop`, because a cut stream must never look
//! complete.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use switchyard_proto::types::v1::{
    ChatChunk, ChatRequest, ChunkChoice, Delta, FinishReason, FunctionCallDelta, ReasoningDelta,
    Role, ToolCallDelta, Usage,
};
use switchyard_tokens::{Counter, DeferredPrompt, estimate_usage};

use super::errors;
use super::eventstream::{FrameDecoder, FrameError, header};
use super::response::{WireUsage, finish_reason};
use crate::ProviderError;
use crate::answer::{new_id, now_secs};
use crate::http;

/// The response body as it arrives.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, http::TransportError>> + Send>>;

/// The payload of every ConverseStream event, as far as it is used (each event
/// type fills its own fields; Bedrock pads payloads with a `p` field, ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireEvent {
    content_block_index: Option<u64>,
    start: Option<WireStart>,
    delta: Option<WireDelta>,
    stop_reason: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireStart {
    tool_use: Option<WireToolStart>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireToolStart {
    tool_use_id: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireDelta {
    text: Option<String>,
    tool_use: Option<WireToolDelta>,
    reasoning_content: Option<WireReasoningDelta>,
}

/// One of reasoning text, its signature, or a redacted block's encrypted content.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireReasoningDelta {
    text: Option<String>,
    signature: Option<String>,
    redacted_content: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireToolDelta {
    input: Option<String>,
}

/// A running translated stream.
pub struct ConverseStream {
    body: BodyStream,
    decoder: FrameDecoder,
    provider: Arc<str>,
    model: String,
    id: String,
    created: i64,
    /// Tool-call index by content-block index.
    tools: HashMap<u64, u32>,
    /// Reasoning-block index by content-block index (reasoning blocks have no
    /// `contentBlockStart`: the first delta opens one).
    reasoning: HashMap<u64, u32>,
    usage: Option<Usage>,
    /// What was streamed, counted only if no usage is reported.
    completion: Counter,
    /// What the prompt's count needs, likewise.
    prompt: DeferredPrompt,
    /// `messageStop` arrived: the answer is complete.
    stopped: bool,
    finished: bool,
}

impl ConverseStream {
    /// A stream over `body`, answering `req` with `model`.
    pub fn new(body: BodyStream, provider: Arc<str>, model: &str, req: &ChatRequest) -> Self {
        Self {
            body,
            decoder: FrameDecoder::default(),
            provider,
            model: model.to_string(),
            id: new_id(),
            created: now_secs(),
            tools: HashMap::new(),
            reasoning: HashMap::new(),
            usage: None,
            completion: Counter::new(),
            prompt: DeferredPrompt::chat(req),
            stopped: false,
            finished: false,
        }
    }

    /// The next chunk, the closing usage chunk, or the error that ends the stream.
    pub async fn next_item(&mut self) -> Option<Result<ChatChunk, ProviderError>> {
        if self.finished {
            return None;
        }
        loop {
            match self.decoder.next_message() {
                Ok(Some(message)) => match self.on_message(&message) {
                    Ok(Some(chunk)) => return Some(Ok(chunk)),
                    Ok(None) => continue,
                    Err(e) => return self.fail(e),
                },
                Ok(None) => {}
                Err(FrameError::TooLarge(limit)) => {
                    let provider = self.provider.to_string();
                    return self.fail(ProviderError::EventTooLarge { provider, limit });
                }
                Err(FrameError::Invalid) => return self.fail(self.malformed()),
            }
            match self.body.next().await {
                Some(Ok(bytes)) => self.decoder.push(&bytes),
                Some(Err(e)) => return self.fail(ProviderError::transport(&self.provider, &e)),
                None if self.stopped && !self.decoder.has_partial() => {
                    self.finished = true;
                    return Some(Ok(self.usage_chunk().await));
                }
                None => {
                    let provider = self.provider.to_string();
                    return self.fail(ProviderError::StreamEnded { provider });
                }
            }
        }
    }

    fn fail(&mut self, err: ProviderError) -> Option<Result<ChatChunk, ProviderError>> {
        self.finished = true;
        Some(Err(err))
    }

    fn malformed(&self) -> ProviderError {
        ProviderError::Malformed {
            provider: self.provider.to_string(),
            what: "event",
        }
    }

    /// One message: an event to translate, or an exception / error to end with.
    fn on_message(
        &mut self,
        message: &aws_smithy_types::event_stream::Message,
    ) -> Result<Option<ChatChunk>, ProviderError> {
        match header(message, ":message-type") {
            Some("event") => {
                let kind = header(message, ":event-type").ok_or_else(|| self.malformed())?;
                let event: WireEvent =
                    serde_json::from_slice(message.payload()).map_err(|_| self.malformed())?;
                self.on_event(kind, event)
            }
            Some("exception") => {
                let (body_kind, text) = errors::parse_body(message.payload());
                let kind = header(message, ":exception-type")
                    .and_then(errors::type_name)
                    .or(body_kind);
                Err(self.upstream(kind.as_deref(), text))
            }
            Some("error") => {
                let kind = header(message, ":error-code").and_then(errors::type_name);
                let text = header(message, ":error-message").map(str::to_string);
                Err(self.upstream(kind.as_deref(), text))
            }
            _ => Err(self.malformed()),
        }
    }

    fn upstream(&self, kind: Option<&str>, message: Option<String>) -> ProviderError {
        errors::provider_error(&self.provider, &self.model, None, kind, message)
    }

    fn on_event(
        &mut self,
        kind: &str,
        event: WireEvent,
    ) -> Result<Option<ChatChunk>, ProviderError> {
        let delta = match kind {
            "messageStart" => Delta {
                role: Role::Assistant as i32,
                ..Delta::default()
            },
            "contentBlockStart" => {
                let Some(tool) = event.start.and_then(|s| s.tool_use) else {
                    return Ok(None);
                };
                let block = event.content_block_index.ok_or_else(|| self.malformed())?;
                let index = self.tools.len() as u32;
                if self.tools.insert(block, index).is_some() {
                    return Err(self.malformed());
                }
                let name = tool.name.unwrap_or_default();
                self.completion.push(&name);
                Delta {
                    tool_calls: vec![ToolCallDelta {
                        index,
                        id: tool.tool_use_id,
                        r#type: Some("function".into()),
                        function: Some(FunctionCallDelta {
                            name: Some(name),
                            arguments: Some(String::new()),
                        }),
                    }],
                    ..Delta::default()
                }
            }
            "contentBlockDelta" => {
                let Some(delta) = event.delta else {
                    return Ok(None);
                };
                // Empty fragments (a tool's first `input: ""`) carry nothing.
                if let Some(text) = delta.text {
                    if text.is_empty() {
                        return Ok(None);
                    }
                    self.completion.push(&text);
                    Delta {
                        content: Some(text),
                        ..Delta::default()
                    }
                } else if let Some(input) = delta.tool_use.and_then(|t| t.input) {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let index = event
                        .content_block_index
                        .and_then(|b| self.tools.get(&b).copied())
                        .ok_or_else(|| self.malformed())?;
                    self.completion.push(&input);
                    Delta {
                        tool_calls: vec![ToolCallDelta {
                            index,
                            id: None,
                            r#type: None,
                            function: Some(FunctionCallDelta {
                                name: None,
                                arguments: Some(input),
                            }),
                        }],
                        ..Delta::default()
                    }
                } else if let Some(r) = delta.reasoning_content {
                    let block = event.content_block_index.ok_or_else(|| self.malformed())?;
                    let next = self.reasoning.len() as u32;
                    let index = *self.reasoning.entry(block).or_insert(next);
                    if let Some(text) = &r.text {
                        self.completion.push(text);
                    }
                    let redacted = r.redacted_content.is_some();
                    Delta {
                        reasoning: vec![ReasoningDelta {
                            index,
                            text: r.text,
                            signature: r.signature.or(r.redacted_content),
                            redacted,
                        }],
                        ..Delta::default()
                    }
                } else {
                    // Other block kinds have no field of ours.
                    return Ok(None);
                }
            }
            "messageStop" => {
                self.stopped = true;
                return Ok(Some(self.chunk(
                    Delta::default(),
                    finish_reason(event.stop_reason.as_deref()),
                )));
            }
            "metadata" => {
                if let Some(usage) = event.usage.as_ref().and_then(WireUsage::reported) {
                    self.usage = Some(usage);
                }
                return Ok(None);
            }
            // contentBlockStop, and event types added later.
            _ => return Ok(None),
        };
        Ok(Some(self.chunk(delta, FinishReason::Unspecified)))
    }

    fn chunk(&self, delta: Delta, finish: FinishReason) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            created: self.created,
            model: self.model.clone(),
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
        ChatChunk {
            id: self.id.clone(),
            created: self.created,
            model: self.model.clone(),
            choices: Vec::new(),
            usage: Some(usage),
            system_fingerprint: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
    use serde_json::{Value, json};
    use switchyard_error::{ApiError, ErrorCode};

    use super::*;

    fn frame(headers: &[(&str, &str)], payload: &str) -> Vec<u8> {
        let mut message = Message::new(payload.as_bytes().to_vec());
        for (name, value) in headers {
            message = message.add_header(Header::new(
                name.to_string(),
                HeaderValue::String(value.to_string().into()),
            ));
        }
        let mut out = Vec::new();
        write_message_to(&message, &mut out).unwrap();
        out
    }

    fn event(kind: &str, payload: Value) -> Vec<u8> {
        frame(
            &[(":message-type", "event"), (":event-type", kind)],
            &payload.to_string(),
        )
    }

    /// Every item of a stream over `bytes`, delivered in one read.
    async fn items(bytes: Vec<u8>) -> Vec<Result<ChatChunk, ProviderError>> {
        let body: BodyStream = Box::pin(futures::stream::iter([Ok(Bytes::from(bytes))]));
        let mut stream = ConverseStream::new(body, "p".into(), "m", &ChatRequest::default());
        let mut out = Vec::new();
        while let Some(item) = stream.next_item().await {
            out.push(item);
        }
        out
    }

    #[tokio::test]
    async fn reasoning_fragments_keep_their_block_and_signature() {
        let delta = |block: u64, r: Value| {
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex": block, "delta": {"reasoningContent": r}}),
            )
        };
        let mut bytes = event("messageStart", json!({"role": "assistant"}));
        bytes.extend(delta(0, json!({"text": "let me think"})));
        bytes.extend(delta(0, json!({"signature": "sig-b"})));
        bytes.extend(delta(1, json!({"redactedContent": "RkFLRQ=="})));
        bytes.extend(event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 2, "delta": {"text": "Done."}}),
        ));
        bytes.extend(event("messageStop", json!({"stopReason": "end_turn"})));
        let out = items(bytes).await;
        let fragments: Vec<ReasoningDelta> = out
            .iter()
            .filter_map(|c| c.as_ref().ok())
            .flat_map(|c| c.choices.iter())
            .flat_map(|c| c.delta.clone().unwrap_or_default().reasoning)
            .collect();
        let fragment =
            |index, text: Option<&str>, signature: Option<&str>, redacted| ReasoningDelta {
                index,
                text: text.map(Into::into),
                signature: signature.map(Into::into),
                redacted,
            };
        assert_eq!(
            fragments,
            [
                fragment(0, Some("let me think"), None, false),
                fragment(0, None, Some("sig-b"), false),
                fragment(1, None, Some("RkFLRQ=="), true),
            ]
        );
    }

    #[tokio::test]
    async fn unknown_events_are_skipped_and_duplicate_starts_are_malformed() {
        let mut bytes = event("messageStart", json!({"role": "assistant"}));
        bytes.extend(event("somethingNew", json!({"x": 1})));
        bytes.extend(event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hmm"}}}),
        ));
        bytes.extend(event("messageStop", json!({"stopReason": "end_turn"})));
        bytes.extend(event(
            "metadata",
            json!({"usage": {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4}}),
        ));
        let out = items(bytes).await;
        assert_eq!(out.len(), 4, "role, reasoning, finish, usage: {out:?}");
        let reasoning = &out[1].as_ref().unwrap().choices[0]
            .delta
            .as_ref()
            .unwrap()
            .reasoning;
        assert_eq!(reasoning[0].text.as_deref(), Some("hmm"));
        let usage = out[3].as_ref().unwrap().usage.unwrap();
        assert_eq!((usage.prompt_tokens, usage.total_tokens), (3, 4));

        let start = |block: u64| {
            event(
                "contentBlockStart",
                json!({"contentBlockIndex": block, "start": {"toolUse": {"toolUseId": "t", "name": "f"}}}),
            )
        };
        let mut bytes = start(1);
        bytes.extend(start(1));
        let out = items(bytes).await;
        assert!(out[0].is_ok());
        assert!(matches!(
            out[1],
            Err(ProviderError::Malformed { what: "event", .. })
        ));
        assert_eq!(out.len(), 2, "an error ends the stream");
    }

    #[tokio::test]
    async fn error_messages_end_the_stream() {
        let bytes = frame(
            &[
                (":message-type", "error"),
                (":error-code", "ThrottlingException"),
                (":error-message", "slow down"),
            ],
            "",
        );
        let out = items(bytes).await;
        assert_eq!(out.len(), 1);
        let err = out[0].as_ref().unwrap_err();
        assert_eq!(ApiError::from(err).code, ErrorCode::RateLimited);

        // The exception type may also come only in the payload.
        let bytes = frame(
            &[(":message-type", "exception")],
            r#"{"__type":"ServiceUnavailableException","message":"busy"}"#,
        );
        let out = items(bytes).await;
        let api = ApiError::from(out[0].as_ref().unwrap_err());
        assert_eq!(api.code, ErrorCode::UpstreamUnavailable);
        assert!(api.retryable);
    }

    #[tokio::test]
    async fn an_empty_body_is_an_incomplete_stream() {
        let out = items(Vec::new()).await;
        assert!(matches!(out[..], [Err(ProviderError::StreamEnded { .. })]));
    }
}
