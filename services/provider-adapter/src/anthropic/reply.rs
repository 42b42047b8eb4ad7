//! Anthropic Messages API answers read back (`super::wire` builds the requests
//! and re-exports these): the message, its blocks and usage, stream events,
//! finish reasons and errors, read tolerantly.

use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::{
    ContentPart, FinishReason, FunctionCall, Message, Reasoning, Role, ToolCall, Usage,
};

use crate::UpstreamError;
use crate::lenient::nullable;

/// The answer of `POST /messages/count_tokens`.
#[derive(Debug, Deserialize)]
pub struct WireTokenCount {
    /// Messages, system prompt and tools together. Required: an answer without
    /// it is malformed, not a count of zero.
    pub input_tokens: u64,
}

/// A Message object: a complete answer, or the skeleton of `message_start`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireMessage {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub model: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub content: Vec<WireBlock>,
    pub stop_reason: Option<String>,
    pub usage: Option<WireUsage>,
    /// Set when the body is an error object instead.
    pub error: Option<Value>,
}

/// One content block (`text`, `tool_use`, `thinking`, server tool blocks, ...).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireBlock {
    #[serde(rename = "type", deserialize_with = "nullable")]
    pub kind: String,
    pub text: Option<String>,
    pub id: Option<String>,
    pub name: Option<String>,
    pub input: Option<Value>,
    /// For `thinking`: the reasoning text.
    pub thinking: Option<String>,
    /// For `thinking`: Anthropic's signature over it.
    pub signature: Option<String>,
    /// For `redacted_thinking`: the encrypted reasoning.
    pub data: Option<String>,
}

impl WireBlock {
    /// The block as reasoning, if it is a `thinking` or `redacted_thinking` one.
    pub fn reasoning(&self) -> Option<Reasoning> {
        match self.kind.as_str() {
            "thinking" => Some(Reasoning {
                text: self.thinking.clone().unwrap_or_default(),
                signature: self.signature.clone().unwrap_or_default(),
                redacted: false,
            }),
            "redacted_thinking" => Some(Reasoning {
                text: String::new(),
                signature: self.data.clone().unwrap_or_default(),
                redacted: true,
            }),
            _ => None,
        }
    }
}

/// Token counts. In a stream, `message_start` carries the input side and each
/// `message_delta` cumulative counts (at least `output_tokens`).
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct WireUsage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_creation_input_tokens: Option<u64>,
    pub cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Takes every count `later` reports (counts are cumulative, never summed).
    pub fn merge(&mut self, later: &WireUsage) {
        let fields = [
            (&mut self.input_tokens, later.input_tokens),
            (&mut self.output_tokens, later.output_tokens),
            (
                &mut self.cache_creation_input_tokens,
                later.cache_creation_input_tokens,
            ),
            (
                &mut self.cache_read_input_tokens,
                later.cache_read_input_tokens,
            ),
        ];
        for (mine, theirs) in fields {
            if theirs.is_some() {
                *mine = theirs;
            }
        }
    }

    /// Switchyard's usage, or `None` if nothing was reported. Anthropic's
    /// `input_tokens` excludes cached tokens, so the prompt is the sum of all three
    /// input counts (as OpenAI counts it); cache reads and writes stay visible as
    /// the subsets `cached_prompt_tokens` and `cache_write_prompt_tokens`.
    pub fn to_proto(&self) -> Option<Usage> {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let write = self.cache_creation_input_tokens.unwrap_or(0);
        let prompt = self.input_tokens.unwrap_or(0) + read + write;
        let completion = self.output_tokens.unwrap_or(0);
        (prompt > 0 || completion > 0).then(|| Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            cached_prompt_tokens: read,
            reasoning_tokens: 0,
            estimated: false,
            cache_write_prompt_tokens: write,
        })
    }
}

/// One streamed event's data. Fields are shared across event types:
/// `message_start` has `message`; `content_block_start` has `index` and
/// `content_block`; `content_block_delta` has `index` and `delta`; `message_delta`
/// has `delta` (with `stop_reason`) and `usage`; `error` has `error`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireEvent {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub message: Option<WireMessage>,
    pub index: Option<u32>,
    pub content_block: Option<WireBlock>,
    pub delta: Option<WireDelta>,
    pub usage: Option<WireUsage>,
    pub error: Option<Value>,
}

/// A block delta (`text_delta`, `input_json_delta`, ...) or a message delta.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireDelta {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub text: Option<String>,
    pub partial_json: Option<String>,
    pub stop_reason: Option<String>,
    /// For `thinking_delta`.
    pub thinking: Option<String>,
    /// For `signature_delta`.
    pub signature: Option<String>,
}

/// Switchyard's finish reason for a `stop_reason`.
pub fn finish_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        None | Some("") => FinishReason::Unspecified,
        Some("max_tokens" | "model_context_window_exceeded") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        // Streaming classifiers stopped the answer for a potential policy violation.
        Some("refusal") => FinishReason::ContentFilter,
        // end_turn, stop_sequence, pause_turn and reasons added later: it stopped.
        Some(_) => FinishReason::Stop,
    }
}

/// A tool call from a `tool_use` block; arguments are the input object as JSON.
pub fn tool_call(block: &WireBlock) -> ToolCall {
    let input = block.input.clone().unwrap_or_else(|| json!({}));
    ToolCall {
        id: block.id.clone().unwrap_or_default(),
        r#type: "function".into(),
        function: Some(FunctionCall {
            name: block.name.clone().unwrap_or_default(),
            arguments: input.to_string(),
        }),
    }
}

/// An answer's assistant message: its thinking blocks as reasoning, its text
/// blocks joined, its tool calls in order. Server-tool blocks have no
/// equivalent and are left out.
pub fn message(answer: &WireMessage) -> Message {
    let texts: Vec<&str> = answer
        .content
        .iter()
        .filter(|b| b.kind == "text")
        .map(|b| b.text.as_deref().unwrap_or_default())
        .collect();
    let tool_calls: Vec<ToolCall> = answer
        .content
        .iter()
        .filter(|b| b.kind == "tool_use")
        .map(tool_call)
        .collect();
    let content = if texts.is_empty() && !tool_calls.is_empty() {
        Vec::new()
    } else {
        vec![ContentPart {
            part: Some(Part::Text(texts.concat())),
        }]
    };
    Message {
        role: Role::Assistant as i32,
        content,
        tool_calls,
        reasoning: answer
            .content
            .iter()
            .filter_map(WireBlock::reasoning)
            .collect(),
        ..Message::default()
    }
}

/// The provider's error object from an error body or `error` event
/// (`{"type":"error","error":{"type","message","details":{"error_code"}}}`). A
/// prompt over the context window gets `code = context_length_exceeded`, so it
/// maps by meaning, not by status; otherwise `details.error_code` is the code.
pub fn upstream_error(body: &Value) -> UpstreamError {
    let err = body.get("error").unwrap_or(body);
    if let Value::String(message) = err {
        return UpstreamError {
            message: Some(message.clone()),
            ..UpstreamError::default()
        };
    }
    let text = |key: &str| err.get(key).and_then(Value::as_str).map(str::to_string);
    let message = text("message");
    // A monthly spend cap comes as a 429 `rate_limit_error` told apart only by
    // `details.error_code` (`enforced_spend_limit_reached`).
    let detail_code = err
        .get("details")
        .and_then(|d| d.get("error_code"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let code = message
        .as_deref()
        .filter(|m| is_context_overflow(m))
        .map(|_| "context_length_exceeded".to_string())
        .or(detail_code);
    UpstreamError {
        code,
        kind: text("type"),
        message,
    }
}

/// An error body as the HTTP layer reads it (best effort).
pub fn parse_error(body: &[u8]) -> UpstreamError {
    serde_json::from_slice::<Value>(body)
        .map(|v| upstream_error(&v))
        .unwrap_or_default()
}

/// Anthropic's messages for a prompt beyond the context window:
/// `prompt is too long: 208310 tokens > 200000 maximum`, and
/// `input length and max_tokens exceed context limit: ...`.
fn is_context_overflow(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("prompt is too long") || message.contains("exceed context limit")
}
