//! Anthropic Messages wire types: the request (every field optional, so conversion
//! names the parameter at fault) and the borrowed answer views.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::wire::StringOrSeq;
use crate::wire::chat::CacheControl;

/// `POST /v1/messages` body. Fields without a Gateway slot land in `extra` and travel
/// as `provider_options`.
#[derive(Debug, Deserialize)]
pub struct MessagesRequest {
    /// Model name (an alias configured in the router).
    pub model: Option<String>,
    /// Output-token limit (required by Anthropic).
    pub max_tokens: Option<u32>,
    /// System prompt: a string or text blocks.
    pub system: Option<StringOrSeq<ContentBlock>>,
    /// The conversation.
    pub messages: Option<Vec<InputMessage>>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Stop sequences.
    pub stop_sequences: Option<Vec<String>>,
    /// Tools the model may call.
    pub tools: Option<Vec<ToolDefinition>>,
    /// How the model may use tools.
    pub tool_choice: Option<ToolChoice>,
    /// `{user_id}`.
    pub metadata: Option<Metadata>,
    /// Whether to answer with server-sent events.
    pub stream: Option<bool>,
    /// Every other top-level field (`top_k` included).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `metadata`.
#[derive(Debug, Deserialize)]
pub struct Metadata {
    /// End-user id.
    pub user_id: Option<String>,
}

/// One message of the conversation.
#[derive(Debug, Deserialize)]
pub struct InputMessage {
    /// user | assistant.
    pub role: Option<String>,
    /// A string or content blocks.
    pub content: Option<StringOrSeq<ContentBlock>>,
}

/// One content block; which fields matter depends on `type`, checked on conversion.
#[derive(Debug, Deserialize)]
pub struct ContentBlock {
    /// text | image | tool_use | tool_result | thinking | redacted_thinking.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// For `text`.
    pub text: Option<String>,
    /// For `image`.
    pub source: Option<ImageSource>,
    /// For `tool_use`: the call id.
    pub id: Option<String>,
    /// For `tool_use`: the tool name.
    pub name: Option<String>,
    /// For `tool_use`: the arguments.
    pub input: Option<Value>,
    /// For `tool_result`: the call answered.
    pub tool_use_id: Option<String>,
    /// For `tool_result`: a string or text/image blocks.
    pub content: Option<StringOrSeq<ContentBlock>>,
    /// For `tool_result`: whether the tool failed.
    pub is_error: Option<bool>,
    /// For `thinking`: the reasoning text.
    pub thinking: Option<String>,
    /// For `thinking`: Anthropic's signature over it.
    pub signature: Option<String>,
    /// For `redacted_thinking`: the encrypted reasoning.
    pub data: Option<String>,
    /// A prompt-cache breakpoint on this block.
    pub cache_control: Option<CacheControl>,
    /// For `document`: its title.
    pub title: Option<String>,
}

/// `source` of an image or document block.
#[derive(Debug, Deserialize)]
pub struct ImageSource {
    /// base64 | url, and for documents text.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// For base64 and text: `image/png`, `application/pdf`, `text/plain`, ...
    pub media_type: Option<String>,
    /// For base64: the bytes; for text: the text.
    pub data: Option<String>,
    /// For url.
    pub url: Option<String>,
}

/// An entry of `tools`.
#[derive(Debug, Deserialize)]
pub struct ToolDefinition {
    /// Absent or `custom`; server tools are not supported.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Tool name.
    pub name: Option<String>,
    /// What it does.
    pub description: Option<String>,
    /// JSON Schema of the input.
    pub input_schema: Option<Map<String, Value>>,
    /// A prompt-cache breakpoint after this tool.
    pub cache_control: Option<CacheControl>,
}

/// `tool_choice`.
#[derive(Debug, Deserialize)]
pub struct ToolChoice {
    /// auto | any | tool | none.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// For `tool`.
    pub name: Option<String>,
    /// Forbids several tool calls at once.
    pub disable_parallel_tool_use: Option<bool>,
}

/// A model as Anthropic's Models API describes it (`GET /v1/models/{id}`, and each
/// entry of the list).
#[derive(Debug, Serialize)]
pub struct ModelInfo<'a> {
    /// Always "model".
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The name callers ask for.
    pub id: &'a str,
    /// The gateway has no other name for it: the id.
    pub display_name: &'a str,
    /// RFC 3339: when the model became available in this gateway.
    pub created_at: String,
    /// Always "active": a model the key may call is callable.
    pub lifecycle: &'static str,
}

/// A page of `GET /v1/models`, paged by `after_id` / `before_id` and `limit`.
#[derive(Debug, Serialize)]
pub struct ModelPage<'a> {
    /// The page's models.
    pub data: Vec<ModelInfo<'a>>,
    /// More in the requested direction.
    pub has_more: bool,
    /// The page's first id (the `before_id` of the previous page).
    pub first_id: Option<&'a str>,
    /// The page's last id (the `after_id` of the next page).
    pub last_id: Option<&'a str>,
}

/// The answer of `POST /v1/messages/count_tokens`.
#[derive(Debug, Serialize)]
pub struct TokenCount {
    /// Messages, system prompt and tools together.
    pub input_tokens: u64,
}

/// A complete answer (`type: "message"`), also the `message` of `message_start`.
#[derive(Debug, Serialize)]
pub struct Message<'a> {
    /// `msg_` + the gateway id.
    pub id: String,
    /// Always "message".
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Always "assistant".
    pub role: &'static str,
    /// The model that answered.
    pub model: &'a str,
    /// Text and tool_use blocks.
    pub content: Vec<Block<'a>>,
    /// end_turn | max_tokens | tool_use | stop_sequence; null in `message_start`.
    pub stop_reason: Option<&'static str>,
    /// Never known to the gateway: null.
    pub stop_sequence: Option<&'static str>,
    /// Token counts.
    pub usage: Usage,
}

/// An answer content block.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block<'a> {
    /// The model's reasoning, signed so it can be sent back.
    Thinking {
        /// The reasoning text.
        thinking: Cow<'a, str>,
        /// Anthropic's signature (empty when the provider gave none).
        signature: Cow<'a, str>,
    },
    /// Reasoning the provider withheld, encrypted.
    RedactedThinking {
        /// The encrypted reasoning.
        data: Cow<'a, str>,
    },
    /// Text.
    Text {
        /// The text.
        text: Cow<'a, str>,
    },
    /// A tool call.
    ToolUse {
        /// Call id.
        id: Cow<'a, str>,
        /// Tool name.
        name: Cow<'a, str>,
        /// Parsed arguments (an object).
        input: Value,
    },
}

/// Anthropic usage: `input_tokens` excludes cached and cache-written tokens.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Usage {
    /// Uncached prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Prompt tokens read from the cache.
    pub cache_read_input_tokens: u64,
    /// Prompt tokens written to the cache.
    pub cache_creation_input_tokens: u64,
}

/// One streamed event; its `type` is also the SSE `event:` name.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event<'a> {
    /// First: the message with empty content.
    MessageStart {
        /// The message so far.
        message: Message<'a>,
    },
    /// A block opens.
    ContentBlockStart {
        /// Block index.
        index: u32,
        /// The empty block.
        content_block: Block<'a>,
    },
    /// Keep-alive.
    Ping,
    /// More of a block.
    ContentBlockDelta {
        /// Block index.
        index: u32,
        /// The increment.
        delta: BlockDelta<'a>,
    },
    /// A block closes.
    ContentBlockStop {
        /// Block index.
        index: u32,
    },
    /// The stop reason and final usage.
    MessageDelta {
        /// Stop reason.
        delta: MessageDelta,
        /// Final counts.
        usage: Usage,
    },
    /// Last.
    MessageStop,
}

impl Event<'_> {
    /// The SSE `event:` name (the same as `type`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::MessageStart { .. } => "message_start",
            Self::ContentBlockStart { .. } => "content_block_start",
            Self::Ping => "ping",
            Self::ContentBlockDelta { .. } => "content_block_delta",
            Self::ContentBlockStop { .. } => "content_block_stop",
            Self::MessageDelta { .. } => "message_delta",
            Self::MessageStop => "message_stop",
        }
    }
}

/// A block increment.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockDelta<'a> {
    /// Text.
    #[serde(rename = "text_delta")]
    Text {
        /// The text.
        text: &'a str,
    },
    /// Reasoning text.
    #[serde(rename = "thinking_delta")]
    Thinking {
        /// The text.
        thinking: &'a str,
    },
    /// The signature that closes a thinking block.
    #[serde(rename = "signature_delta")]
    Signature {
        /// The signature.
        signature: &'a str,
    },
    /// Part of a tool call's JSON input.
    #[serde(rename = "input_json_delta")]
    InputJson {
        /// The JSON fragment.
        partial_json: &'a str,
    },
}

/// `delta` of `message_delta`.
#[derive(Debug, Serialize)]
pub struct MessageDelta {
    /// Stop reason.
    pub stop_reason: &'static str,
    /// Always null.
    pub stop_sequence: Option<&'static str>,
}
