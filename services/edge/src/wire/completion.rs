//! `chat.completion` and `chat.completion.chunk` answers, borrowing from the Gateway
//! messages so each is encoded once.

use std::borrow::Cow;

use serde::Serialize;

/// What every OpenAI completion answer shares, whole or streamed:
/// `chat.completion`, `chat.completion.chunk` and `text_completion` differ only
/// in `object` and in their choices.
#[derive(Debug, Serialize)]
pub struct Envelope<'a, C> {
    /// Completion id (the same on every chunk of a stream).
    pub id: &'a str,
    /// `chat.completion`, `chat.completion.chunk` or `text_completion`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: i64,
    /// The model that answered.
    pub model: &'a str,
    /// Backend fingerprint, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<&'a str>,
    /// The answers, or a chunk's fragments of them (none on a stream's usage
    /// chunk).
    pub choices: Vec<C>,
    /// Token counts. Omitted when there are none to give (a whole answer the
    /// router reported none for; a stream whose caller did not ask
    /// `include_usage`); a stream that asked has null on every chunk but the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<CompletionUsage>>,
}

/// A complete chat answer.
pub type ChatCompletion<'a> = Envelope<'a, CompletionChoice<'a>>;

/// One answer.
#[derive(Debug, Serialize)]
pub struct CompletionChoice<'a> {
    /// Choice index.
    pub index: u32,
    /// The assistant message.
    pub message: AssistantMessage<'a>,
    /// The tokens' log probabilities when asked for (and given), else null.
    pub logprobs: Option<ChoiceLogprobs<'a>>,
    /// stop | length | tool_calls | content_filter, or null.
    pub finish_reason: Option<&'static str>,
}

/// The assistant's message in a complete answer.
#[derive(Debug, Serialize)]
pub struct AssistantMessage<'a> {
    /// Always "assistant".
    pub role: &'static str,
    /// The text, or null when the model only called tools.
    pub content: Option<Cow<'a, str>>,
    /// Tool calls, omitted when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall<'a>>,
    /// A refusal, or null.
    pub refusal: Option<&'a str>,
    /// The model's reasoning, when the provider gave it (DeepSeek's and vLLM's
    /// name for it); omitted otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<Cow<'a, str>>,
}

/// A tool call the model made.
#[derive(Debug, Serialize)]
pub struct ToolCall<'a> {
    /// Call id.
    pub id: &'a str,
    /// Always "function".
    #[serde(rename = "type")]
    pub kind: &'a str,
    /// The function called.
    pub function: FunctionCall<'a>,
    /// Gemini's thought signature, where Google's own OpenAI-compatible API puts
    /// it (on the first call of a turn); omitted otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_content: Option<ExtraContent<'a>>,
}

/// `extra_content` of a tool call: provider extensions, as Google's
/// OpenAI-compatible API writes them.
#[derive(Debug, Serialize)]
pub struct ExtraContent<'a> {
    /// Google's.
    pub google: GoogleExtra<'a>,
}

/// `extra_content.google`.
#[derive(Debug, Serialize)]
pub struct GoogleExtra<'a> {
    /// The thought signature Gemini needs back with this call.
    pub thought_signature: &'a str,
}

/// The function of a tool call.
#[derive(Debug, Serialize)]
pub struct FunctionCall<'a> {
    /// Function name.
    pub name: &'a str,
    /// JSON-encoded arguments as the model produced them.
    pub arguments: &'a str,
}

/// Token counts.
#[derive(Debug, Serialize)]
pub struct CompletionUsage {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Generated tokens.
    pub completion_tokens: u64,
    /// Sum of both.
    pub total_tokens: u64,
    /// Prompt token breakdown.
    pub prompt_tokens_details: PromptTokensDetails,
    /// Completion token breakdown.
    pub completion_tokens_details: CompletionTokensDetails,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Serialize)]
pub struct PromptTokensDetails {
    /// Prompt tokens served from the provider's cache.
    pub cached_tokens: u64,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Serialize)]
pub struct CompletionTokensDetails {
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
}

/// One streamed chunk.
pub type ChatCompletionChunk<'a> = Envelope<'a, ChunkChoice<'a>>;

/// One choice's part of a chunk.
#[derive(Debug, Serialize)]
pub struct ChunkChoice<'a> {
    /// Choice index.
    pub index: u32,
    /// What this chunk adds.
    pub delta: Delta<'a>,
    /// The log probabilities of the tokens this chunk adds, when asked for.
    pub logprobs: Option<ChoiceLogprobs<'a>>,
    /// Set on the choice's last chunk.
    pub finish_reason: Option<&'static str>,
}

/// What a chunk adds to a choice.
#[derive(Debug, Serialize)]
pub struct Delta<'a> {
    /// Set on the first chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    /// Text fragment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
    /// Tool call fragments.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallDelta<'a>>,
    /// Refusal fragment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<&'a str>,
    /// Reasoning fragment (see [`AssistantMessage::reasoning_content`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<Cow<'a, str>>,
}

/// A streamed tool call fragment.
#[derive(Debug, Serialize)]
pub struct ToolCallDelta<'a> {
    /// Fragments with the same index belong together.
    pub index: u32,
    /// Set on the call's first fragment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    /// Set on the call's first fragment.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'a str>,
    /// Name and argument fragments.
    pub function: FunctionCallDelta<'a>,
    /// See [`ToolCall::extra_content`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_content: Option<ExtraContent<'a>>,
}

/// A streamed function call fragment.
#[derive(Debug, Serialize)]
pub struct FunctionCallDelta<'a> {
    /// Set on the first fragment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    /// Argument text fragment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<&'a str>,
}

/// A choice's `logprobs`: of its content's tokens, or of its refusal's.
#[derive(Debug, Serialize)]
pub struct ChoiceLogprobs<'a> {
    /// The content's tokens, or null.
    pub content: Option<Vec<TokenLogprob<'a>>>,
    /// The refusal's tokens, or null.
    pub refusal: Option<Vec<TokenLogprob<'a>>>,
}

/// One token's log probability, with the likeliest tokens at its position (also
/// the Responses API's `logprobs` entries).
#[derive(Debug, Clone, Serialize)]
pub struct TokenLogprob<'a> {
    /// The token.
    pub token: &'a str,
    /// Its log probability.
    pub logprob: f64,
    /// Its UTF-8 bytes (empty when the provider gave none: the Responses API
    /// requires the list).
    pub bytes: &'a [u8],
    /// The likeliest tokens at its position (empty unless `top_logprobs` was set).
    pub top_logprobs: Vec<TopLogprob<'a>>,
}

/// One of the likeliest tokens at a position.
#[derive(Debug, Clone, Serialize)]
pub struct TopLogprob<'a> {
    /// The token.
    pub token: &'a str,
    /// Its log probability.
    pub logprob: f64,
    /// Its UTF-8 bytes (empty when the provider gave none).
    pub bytes: &'a [u8],
}
