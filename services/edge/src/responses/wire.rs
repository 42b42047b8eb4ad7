//! Responses API wire types: the request (every field optional, so conversion names
//! the parameter at fault), the `response` object, and the stream's events.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;

use crate::wire::completion::TokenLogprob;
use crate::wire::{ModeOrObject, StringOrSeq};

/// `POST /v1/responses` (and `/v1/responses/input_tokens`) body. Fields the Gateway
/// API has no slot for land in `extra` and travel as `provider_options`, as on the
/// chat route; the Responses-only fields are named here so they never reach an
/// upstream that would refuse them.
#[derive(Debug, Deserialize)]
pub struct ResponsesRequest {
    /// Model name (an alias configured in the router).
    pub model: Option<String>,
    /// A string (one user message) or a list of input items.
    pub input: Option<StringOrSeq<InputItem>>,
    /// A system message put before the input.
    pub instructions: Option<String>,
    /// Tools the model may call (function tools only).
    pub tools: Option<Vec<Tool>>,
    /// How the model may use tools.
    pub tool_choice: Option<ToolChoice>,
    /// Whether several tool calls may come at once.
    pub parallel_tool_calls: Option<bool>,
    /// `{format, verbosity}`.
    pub text: Option<TextConfig>,
    /// `{effort, summary}`.
    pub reasoning: Option<Reasoning>,
    /// Output-token limit.
    pub max_output_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// How many top log probabilities per token.
    pub top_logprobs: Option<u32>,
    /// End-user id.
    pub user: Option<String>,
    /// Caller metadata, recorded with usage and echoed back.
    pub metadata: Option<HashMap<String, String>>,
    /// Whether to answer with server-sent events.
    pub stream: Option<bool>,
    /// Resolved (and removed) before translation by `store::continuation`.
    pub previous_response_id: Option<String>,
    /// Resolved (and removed) before translation by `store::continuation`.
    pub conversation: Option<Value>,
    /// Refused when true: needs stored responses.
    pub background: Option<bool>,
    /// Extra output to include; `message.output_text.logprobs` asks for logprobs.
    pub include: Option<Vec<String>>,
    /// auto | disabled; nothing is truncated either way.
    pub truncation: Option<String>,
    /// Refused: stored prompt templates.
    pub prompt: Option<Value>,
    /// Every other top-level field (less those in `convert::NOTHING_TO_FORWARD`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One input item. Which fields matter depends on `type` (a message when absent),
/// checked on conversion so errors name the exact field.
#[derive(Debug, Deserialize)]
pub struct InputItem {
    /// message | function_call | function_call_output | reasoning | …
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// For messages: user | assistant | system | developer.
    pub role: Option<String>,
    /// For messages: a string or content parts.
    pub content: Option<StringOrSeq<ContentPart>>,
    /// For function calls and their outputs.
    pub call_id: Option<String>,
    /// For function calls.
    pub name: Option<String>,
    /// For function calls: JSON-encoded arguments.
    pub arguments: Option<String>,
    /// For function call outputs: a string or content parts.
    pub output: Option<StringOrSeq<ContentPart>>,
    /// For reasoning items: what Switchyard gave out as `encrypted_content`.
    pub encrypted_content: Option<String>,
}

/// One content part of an input item.
#[derive(Debug, Deserialize)]
pub struct ContentPart {
    /// input_text | input_image | input_file | output_text | refusal.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// For input_text and output_text.
    pub text: Option<String>,
    /// For input_image: https or data: URL.
    pub image_url: Option<String>,
    /// For input_image and input_file: a stored file, which this gateway has not.
    pub file_id: Option<String>,
    /// For input_image: auto | low | high.
    pub detail: Option<String>,
    /// For refusal.
    pub refusal: Option<String>,
    /// For input_file: the file as a base64 `data:` URL.
    pub file_data: Option<String>,
    /// For input_file: a URL to fetch it from.
    pub file_url: Option<String>,
    /// For input_file: its name.
    pub filename: Option<String>,
}

/// An entry of `tools`: the Responses API's flat function shape.
#[derive(Debug, Deserialize)]
pub struct Tool {
    /// function (built-in tools are refused).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Function name.
    pub name: Option<String>,
    /// What it does.
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Option<Map<String, Value>>,
    /// Strict schema adherence.
    pub strict: Option<bool>,
}

/// `tool_choice`: "none" | "auto" | "required", or `{type: "function", name}`.
pub type ToolChoice = ModeOrObject<ToolChoiceObject>;

/// The object form of `tool_choice`.
#[derive(Debug, Deserialize)]
pub struct ToolChoiceObject {
    /// function (others name built-in tools, refused).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The function to call.
    pub name: Option<String>,
}

/// `text`.
#[derive(Debug, Deserialize)]
pub struct TextConfig {
    /// The answer's shape.
    pub format: Option<TextFormat>,
    /// low | medium | high: forwarded as the chat parameter of that name.
    pub verbosity: Option<String>,
}

/// `text.format`: `{type: "text" | "json_object"}` or a flat `json_schema`.
#[derive(Debug, Deserialize)]
pub struct TextFormat {
    /// text | json_object | json_schema.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// For json_schema.
    pub name: Option<String>,
    /// For json_schema.
    pub description: Option<String>,
    /// For json_schema.
    pub schema: Option<Map<String, Value>>,
    /// For json_schema.
    pub strict: Option<bool>,
}

/// `reasoning`.
#[derive(Debug, Deserialize)]
pub struct Reasoning {
    /// Effort for reasoning models.
    pub effort: Option<String>,
    /// auto | concise | detailed: echoed; no summaries are produced.
    pub summary: Option<String>,
}

/// The request's settings a `response` object repeats back, as OpenAI's does.
#[derive(Debug, Serialize)]
pub struct Echo {
    /// `instructions`, or null.
    pub instructions: Option<String>,
    /// `max_output_tokens`, or null.
    pub max_output_tokens: Option<u32>,
    /// `metadata` as sent (before the gateway's own tags), `{}` when absent.
    pub metadata: HashMap<String, String>,
    /// `parallel_tool_calls` (true when absent).
    pub parallel_tool_calls: bool,
    /// The response this one continues, or null.
    pub previous_response_id: Option<String>,
    /// The conversation this response was added to (absent without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationRef>,
    /// `{effort, summary}`.
    pub reasoning: ReasoningEcho,
    /// Whether the response is stored.
    pub store: bool,
    /// Always false.
    pub background: bool,
    /// `temperature`, or null.
    pub temperature: Option<f64>,
    /// `{format}` as understood.
    pub text: Value,
    /// `tool_choice` as understood ("auto" when absent).
    pub tool_choice: Value,
    /// The function tools as understood.
    pub tools: Vec<Value>,
    /// `top_p`, or null.
    pub top_p: Option<f64>,
    /// `top_logprobs`, or null.
    pub top_logprobs: Option<u32>,
    /// auto | disabled.
    pub truncation: String,
    /// `user`, or null.
    pub user: Option<String>,
    /// Whether `include` asked for `reasoning.encrypted_content`: reasoning items
    /// then carry what sending them back needs.
    #[serde(skip)]
    pub encrypted_reasoning: bool,
}

/// `conversation` in a `response`: `{"id": "conv_…"}`.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationRef {
    /// The conversation's id.
    pub id: String,
}

/// `reasoning` in a `response`.
#[derive(Debug, Default, Serialize)]
pub struct ReasoningEcho {
    /// As requested, or null.
    pub effort: Option<String>,
    /// As requested, or null.
    pub summary: Option<String>,
}

/// The `response` object: a whole answer, or a stream's state in its lifecycle
/// events.
#[derive(Debug, Serialize)]
pub struct Response<'a> {
    /// `resp_<request id>`.
    pub id: &'a str,
    /// Always "response".
    pub object: &'static str,
    /// Unix seconds.
    pub created_at: i64,
    /// in_progress | completed | incomplete | failed.
    pub status: &'static str,
    /// Unix seconds, once finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<i64>,
    /// Why it failed, or null.
    pub error: Option<ResponseError<'a>>,
    /// Why it is incomplete, or null.
    pub incomplete_details: Option<IncompleteDetails>,
    /// The model that answered.
    pub model: &'a str,
    /// What the model produced.
    pub output: &'a [OutputItem<'a>],
    /// Token counts, once known.
    pub usage: Option<Usage>,
    /// The request's settings.
    #[serde(flatten)]
    pub echo: &'a Echo,
}

/// `error` of a failed response.
#[derive(Debug, Serialize)]
pub struct ResponseError<'a> {
    /// server_error, rate_limit_exceeded, …
    pub code: &'a str,
    /// What went wrong.
    pub message: &'a str,
}

/// `incomplete_details`.
#[derive(Debug, Serialize)]
pub struct IncompleteDetails {
    /// max_output_tokens | content_filter.
    pub reason: &'static str,
}

/// Token counts in the Responses API's names.
#[derive(Debug, Serialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// `{cached_tokens, cache_write_tokens}`.
    pub input_tokens_details: InputTokensDetails,
    /// Generated tokens.
    pub output_tokens: u64,
    /// `{reasoning_tokens}`.
    pub output_tokens_details: OutputTokensDetails,
    /// Both.
    pub total_tokens: u64,
}

/// `usage.input_tokens_details`.
#[derive(Debug, Serialize)]
pub struct InputTokensDetails {
    /// Prompt tokens read from the provider's cache.
    pub cached_tokens: u64,
    /// Prompt tokens written to the provider's cache.
    pub cache_write_tokens: u64,
}

/// `usage.output_tokens_details`.
#[derive(Debug, Serialize)]
pub struct OutputTokensDetails {
    /// Reasoning tokens among the output tokens.
    pub reasoning_tokens: u64,
}

/// One output item.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem<'a> {
    /// The model's reasoning before its answer.
    Reasoning {
        /// `rs_…`.
        id: Cow<'a, str>,
        /// in_progress | completed | incomplete.
        status: &'static str,
        /// Always empty: providers give reasoning, not summaries of it.
        summary: [(); 0],
        /// The reasoning text (none for a redacted block).
        content: Vec<ReasoningText<'a>>,
        /// When asked for (`include`): the provider's signature, or a redacted
        /// block's encrypted reasoning, to send the item back with.
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<Cow<'a, str>>,
    },
    /// The assistant's message.
    Message {
        /// `msg_…`.
        id: Cow<'a, str>,
        /// in_progress | completed | incomplete.
        status: &'static str,
        /// Always "assistant".
        role: &'static str,
        /// Its parts.
        content: Vec<OutputContent<'a>>,
    },
    /// A function call for the caller to run.
    FunctionCall {
        /// `fc_…`.
        id: Cow<'a, str>,
        /// in_progress | completed | incomplete.
        status: &'static str,
        /// The id its `function_call_output` answers.
        call_id: Cow<'a, str>,
        /// The function.
        name: Cow<'a, str>,
        /// JSON-encoded arguments.
        arguments: Cow<'a, str>,
    },
}

/// The text of a reasoning item.
#[derive(Debug, Clone, Serialize)]
pub struct ReasoningText<'a> {
    /// Always "reasoning_text".
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The text.
    pub text: Cow<'a, str>,
}

/// One part of an output message.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputContent<'a> {
    /// Text.
    OutputText {
        /// The text.
        text: Cow<'a, str>,
        /// Always empty.
        annotations: [(); 0],
        /// The tokens' log probabilities, when asked for (`include`
        /// `message.output_text.logprobs`) and given; else empty.
        logprobs: Vec<TokenLogprob<'a>>,
    },
    /// A refusal.
    Refusal {
        /// Why.
        refusal: Cow<'a, str>,
    },
}

/// One event of a streamed response; `type` is also the SSE event name.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum Event<'a> {
    /// The first event.
    #[serde(rename = "response.created")]
    Created {
        /// Position in the stream.
        sequence_number: u64,
        /// The response, in progress.
        response: Response<'a>,
    },
    /// The second event.
    #[serde(rename = "response.in_progress")]
    InProgress {
        /// Position in the stream.
        sequence_number: u64,
        /// The response, in progress.
        response: Response<'a>,
    },
    /// An output item begins.
    #[serde(rename = "response.output_item.added")]
    ItemAdded {
        /// Position in the stream.
        sequence_number: u64,
        /// Its index in `output`.
        output_index: usize,
        /// The item, empty.
        item: OutputItem<'a>,
    },
    /// A content part of a message begins.
    #[serde(rename = "response.content_part.added")]
    PartAdded {
        /// Position in the stream.
        sequence_number: u64,
        /// The message item.
        item_id: &'a str,
        /// Its index in `output`.
        output_index: usize,
        /// The part's index in the message.
        content_index: usize,
        /// The part, empty.
        part: OutputContent<'a>,
    },
    /// More text.
    #[serde(rename = "response.output_text.delta")]
    TextDelta {
        /// Position in the stream.
        sequence_number: u64,
        /// The message item.
        item_id: &'a str,
        /// Its index in `output`.
        output_index: usize,
        /// The part's index in the message.
        content_index: usize,
        /// The new text.
        delta: &'a str,
        /// The log probabilities of its tokens, when asked for.
        logprobs: Vec<TokenLogprob<'a>>,
    },
    /// A text part is complete.
    #[serde(rename = "response.output_text.done")]
    TextDone {
        /// Position in the stream.
        sequence_number: u64,
        /// The message item.
        item_id: &'a str,
        /// Its index in `output`.
        output_index: usize,
        /// The part's index in the message.
        content_index: usize,
        /// The whole text.
        text: &'a str,
        /// The log probabilities of its tokens, when asked for.
        logprobs: Vec<TokenLogprob<'a>>,
    },
    /// More refusal text.
    #[serde(rename = "response.refusal.delta")]
    RefusalDelta {
        /// Position in the stream.
        sequence_number: u64,
        /// The message item.
        item_id: &'a str,
        /// Its index in `output`.
        output_index: usize,
        /// The part's index in the message.
        content_index: usize,
        /// The new text.
        delta: &'a str,
    },
    /// A refusal part is complete.
    #[serde(rename = "response.refusal.done")]
    RefusalDone {
        /// Position in the stream.
        sequence_number: u64,
        /// The message item.
        item_id: &'a str,
        /// Its index in `output`.
        output_index: usize,
        /// The part's index in the message.
        content_index: usize,
        /// The whole refusal.
        refusal: &'a str,
    },
    /// A content part is complete.
    #[serde(rename = "response.content_part.done")]
    PartDone {
        /// Position in the stream.
        sequence_number: u64,
        /// The message item.
        item_id: &'a str,
        /// Its index in `output`.
        output_index: usize,
        /// The part's index in the message.
        content_index: usize,
        /// The whole part.
        part: OutputContent<'a>,
    },
    /// More reasoning text.
    #[serde(rename = "response.reasoning_text.delta")]
    ReasoningDelta {
        /// Position in the stream.
        sequence_number: u64,
        /// The reasoning item.
        item_id: &'a str,
        /// Its index in `output`.
        output_index: usize,
        /// Always 0: a reasoning item has one text.
        content_index: usize,
        /// The new text.
        delta: &'a str,
    },
    /// A reasoning text is complete.
    #[serde(rename = "response.reasoning_text.done")]
    ReasoningDone {
        /// Position in the stream.
        sequence_number: u64,
        /// The reasoning item.
        item_id: &'a str,
        /// Its index in `output`.
        output_index: usize,
        /// Always 0.
        content_index: usize,
        /// The whole text.
        text: &'a str,
    },
    /// More of a function call's arguments.
    #[serde(rename = "response.function_call_arguments.delta")]
    ArgumentsDelta {
        /// Position in the stream.
        sequence_number: u64,
        /// The function call item.
        item_id: &'a str,
        /// Its index in `output`.
        output_index: usize,
        /// The new text.
        delta: &'a str,
    },
    /// A function call's arguments are complete.
    #[serde(rename = "response.function_call_arguments.done")]
    ArgumentsDone {
        /// Position in the stream.
        sequence_number: u64,
        /// The function call item.
        item_id: &'a str,
        /// Its index in `output`.
        output_index: usize,
        /// The function.
        name: &'a str,
        /// The whole arguments.
        arguments: &'a str,
    },
    /// An output item is complete.
    #[serde(rename = "response.output_item.done")]
    ItemDone {
        /// Position in the stream.
        sequence_number: u64,
        /// Its index in `output`.
        output_index: usize,
        /// The whole item.
        item: OutputItem<'a>,
    },
    /// The last event of a finished response.
    #[serde(rename = "response.completed")]
    Completed {
        /// Position in the stream.
        sequence_number: u64,
        /// The whole response.
        response: Response<'a>,
    },
    /// The last event of a response cut short by its token limit or a filter.
    #[serde(rename = "response.incomplete")]
    Incomplete {
        /// Position in the stream.
        sequence_number: u64,
        /// The whole response.
        response: Response<'a>,
    },
    /// The last event of a response that failed after the headers.
    #[serde(rename = "response.failed")]
    Failed {
        /// Position in the stream.
        sequence_number: u64,
        /// The response so far, with its error.
        response: Response<'a>,
    },
}

impl Event<'_> {
    /// The SSE event name: the same as `type`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Created { .. } => "response.created",
            Self::InProgress { .. } => "response.in_progress",
            Self::ItemAdded { .. } => "response.output_item.added",
            Self::PartAdded { .. } => "response.content_part.added",
            Self::TextDelta { .. } => "response.output_text.delta",
            Self::TextDone { .. } => "response.output_text.done",
            Self::RefusalDelta { .. } => "response.refusal.delta",
            Self::RefusalDone { .. } => "response.refusal.done",
            Self::PartDone { .. } => "response.content_part.done",
            Self::ReasoningDelta { .. } => "response.reasoning_text.delta",
            Self::ReasoningDone { .. } => "response.reasoning_text.done",
            Self::ArgumentsDelta { .. } => "response.function_call_arguments.delta",
            Self::ArgumentsDone { .. } => "response.function_call_arguments.done",
            Self::ItemDone { .. } => "response.output_item.done",
            Self::Completed { .. } => "response.completed",
            Self::Incomplete { .. } => "response.incomplete",
            Self::Failed { .. } => "response.failed",
        }
    }
}

/// `POST /v1/responses/input_tokens` answer.
#[derive(Debug, Serialize)]
pub struct InputTokens {
    /// Always "response.input_tokens".
    pub object: &'static str,
    /// The prompt's tokens, as the provider counts them.
    pub input_tokens: u64,
}
