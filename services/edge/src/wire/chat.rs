//! `POST /v1/chat/completions` request body.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{ModeOrObject, StringOrSeq};

/// The request body. Fields the Gateway API has no slot for land in `extra` and
/// travel as `provider_options`.
#[derive(Debug, Deserialize)]
pub struct ChatCompletionRequest {
    /// Model name (an alias configured in the router).
    pub model: Option<String>,
    /// The conversation.
    pub messages: Option<Vec<ChatMessage>>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Legacy output-token limit.
    pub max_tokens: Option<u32>,
    /// Output-token limit; wins over `max_tokens`.
    pub max_completion_tokens: Option<u32>,
    /// Number of choices.
    pub n: Option<u32>,
    /// Stop sequences.
    pub stop: Option<StringOrSeq<String>>,
    /// Sampling seed.
    pub seed: Option<i64>,
    /// Presence penalty.
    pub presence_penalty: Option<f64>,
    /// Frequency penalty.
    pub frequency_penalty: Option<f64>,
    /// Tools the model may call.
    pub tools: Option<Vec<ToolDefinition>>,
    /// How the model may use tools.
    pub tool_choice: Option<ToolChoice>,
    /// Whether several tool calls may come at once.
    pub parallel_tool_calls: Option<bool>,
    /// Shape of the answer.
    pub response_format: Option<ResponseFormat>,
    /// End-user id.
    pub user: Option<String>,
    /// Whether to return log probabilities.
    pub logprobs: Option<bool>,
    /// How many top log probabilities per token.
    pub top_logprobs: Option<u32>,
    /// Effort for reasoning models.
    pub reasoning_effort: Option<String>,
    /// Caller metadata, recorded with usage.
    pub metadata: Option<HashMap<String, String>>,
    /// Whether to answer with server-sent events.
    pub stream: Option<bool>,
    /// Streaming options.
    pub stream_options: Option<StreamOptions>,
    /// Every other top-level field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `stream_options`.
#[derive(Debug, Deserialize)]
pub struct StreamOptions {
    /// Deliver a final chunk with usage and no choices.
    pub include_usage: Option<bool>,
}

/// One message of the conversation.
#[derive(Debug, Deserialize)]
pub struct ChatMessage {
    /// system | user | assistant | tool | developer.
    pub role: Option<String>,
    /// A string, an array of parts, or null.
    pub content: Option<StringOrSeq<ContentPart>>,
    /// Participant name.
    pub name: Option<String>,
    /// Tool calls the assistant made.
    pub tool_calls: Option<Vec<ToolCall>>,
    /// For tool messages: the call answered.
    pub tool_call_id: Option<String>,
    /// An assistant refusal.
    pub refusal: Option<String>,
}

/// One content part; which fields matter depends on `type`, checked on conversion so
/// errors name the exact field.
#[derive(Debug, Deserialize)]
pub struct ContentPart {
    /// text | image_url | input_audio.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// For `text`.
    pub text: Option<String>,
    /// For `image_url`.
    pub image_url: Option<ImageUrl>,
    /// For `input_audio`.
    pub input_audio: Option<InputAudio>,
    /// For `file`.
    pub file: Option<FilePart>,
    /// A prompt-cache breakpoint (Anthropic's marker, which OpenRouter and
    /// LiteLLM accept on OpenAI-format parts too).
    pub cache_control: Option<CacheControl>,
}

/// `image_url` of a content part.
#[derive(Debug, Deserialize)]
pub struct ImageUrl {
    /// https or data: URL.
    pub url: Option<String>,
    /// auto | low | high.
    pub detail: Option<String>,
}

/// `file` of a content part.
#[derive(Debug, Deserialize)]
pub struct FilePart {
    /// The file as a base64 `data:` URL.
    pub file_data: Option<String>,
    /// Its name.
    pub filename: Option<String>,
    /// An uploaded file, which this gateway has none of.
    pub file_id: Option<String>,
}

/// `input_audio` of a content part.
#[derive(Debug, Deserialize)]
pub struct InputAudio {
    /// Base64 audio bytes.
    pub data: Option<String>,
    /// wav, mp3, ...
    pub format: Option<String>,
}

/// A tool call in an assistant message.
#[derive(Debug, Deserialize)]
pub struct ToolCall {
    /// Call id, answered by a tool message.
    pub id: Option<String>,
    /// Always "function".
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The function called.
    pub function: Option<FunctionCall>,
    /// Provider extensions: Gemini's thought signature, where Google's
    /// OpenAI-compatible API puts it.
    pub extra_content: Option<ExtraContent>,
}

/// `extra_content` of a tool call.
#[derive(Debug, Deserialize)]
pub struct ExtraContent {
    /// Google's.
    pub google: Option<GoogleExtra>,
}

/// `extra_content.google`.
#[derive(Debug, Deserialize)]
pub struct GoogleExtra {
    /// The thought signature Gemini gave with this call.
    pub thought_signature: Option<String>,
}

/// The function of a tool call.
#[derive(Debug, Deserialize)]
pub struct FunctionCall {
    /// Function name.
    pub name: Option<String>,
    /// JSON-encoded arguments.
    pub arguments: Option<String>,
}

/// An entry of `tools`.
#[derive(Debug, Deserialize)]
pub struct ToolDefinition {
    /// Always "function".
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The function.
    pub function: Option<FunctionDefinition>,
}

/// A function the model may call.
#[derive(Debug, Deserialize)]
pub struct FunctionDefinition {
    /// Function name.
    pub name: Option<String>,
    /// What it does.
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Option<Map<String, Value>>,
    /// Strict schema adherence.
    pub strict: Option<bool>,
}

/// `tool_choice`: "none" | "auto" | "required", or `{type:"function", function:{name}}`.
pub type ToolChoice = ModeOrObject<NamedToolChoice>;

/// The object form of `tool_choice`.
#[derive(Debug, Deserialize)]
pub struct NamedToolChoice {
    /// Always "function".
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The function to call.
    pub function: Option<FunctionName>,
}

/// `{name}`.
#[derive(Debug, Deserialize)]
pub struct FunctionName {
    /// Function name.
    pub name: Option<String>,
}

/// `response_format`.
#[derive(Debug, Deserialize)]
pub struct ResponseFormat {
    /// text | json_object | json_schema.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// For `json_schema`.
    pub json_schema: Option<JsonSchema>,
}

/// `response_format.json_schema`.
#[derive(Debug, Deserialize)]
pub struct JsonSchema {
    /// Schema name.
    pub name: Option<String>,
    /// What the schema is for.
    pub description: Option<String>,
    /// The JSON Schema.
    pub schema: Option<Map<String, Value>>,
    /// Strict adherence.
    pub strict: Option<bool>,
}

/// `cache_control`: `{type: "ephemeral", ttl?: "5m" | "1h"}`, on Anthropic blocks
/// and tools, and on OpenAI-format content parts.
#[derive(Debug, Deserialize)]
pub struct CacheControl {
    /// Always "ephemeral".
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// 5m | 1h.
    pub ttl: Option<String>,
}
