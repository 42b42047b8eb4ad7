//! Cohere API v2 wire format (`POST /v2/chat`, `POST /v2/embed`): request bodies
//! built from Switchyard's provider-neutral types, and tolerant answer, event, usage
//! and error types read back.
//!
//! What differs from OpenAI's chat format, and how it is bridged:
//! - `developer` messages become `system` messages (Cohere has no developer role);
//! - an assistant turn that calls tools sends its text as `tool_plan` (Cohere's
//!   place for the text a model writes before calling tools), never as `content`;
//! - `top_p` is sent as `p`, clamped into Cohere's documented range 0.01..=0.99
//!   (OpenAI's default `1.0` would otherwise be refused); `stop` as
//!   `stop_sequences`;
//! - `tool_choice` has only `REQUIRED` and `NONE`: `auto` is the default and is not
//!   sent, and a named function is refused unless it names the only tool given
//!   (then `REQUIRED` means the same thing);
//! - `json_object` and `json_schema` both become `{"type": "json_object"}`, the
//!   schema in `json_schema` (Cohere always enforces it; `name`, `description` and
//!   `strict` have no equivalent);
//! - tools are strict (`strict_tools`) only when every tool asks for it;
//! - `n > 1`, `logprobs` and audio cannot be honoured and are refused; `user`,
//!   `parallel_tool_calls` and `reasoning_effort` have no equivalent and are not
//!   sent (`provider_options` can set Cohere's own `thinking`, `safety_mode`, ...).

use serde::Deserialize;
use serde_json::{Map, Value, json};
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::response_format::Format;
use switchyard_proto::types::v1::tool_choice::Choice as ToolChoiceKind;
use switchyard_proto::types::v1::{
    ChatRequest, ContentPart, EmbedRequest, FinishReason, FunctionCall, Message, Role, Tool,
    ToolCall, Usage,
};

use crate::lenient::{count, nullable};
use crate::openai_wire::{struct_json, value_json};
use crate::{ProviderError, UpstreamError};

/// Keys of a chat body that `provider_options` may never override.
const PROTECTED_CHAT_KEYS: [&str; 3] = ["model", "messages", "stream"];

/// Keys of an embed body that `provider_options` may never override: the adapter
/// reads float vectors back, so `embedding_types` is its own.
const PROTECTED_EMBED_KEYS: [&str; 3] = ["model", "texts", "embedding_types"];

/// The `input_type` of gateway embeddings: OpenAI's API has no notion of query
/// versus document, and vectors are usually stored, so they are embedded as
/// documents. `provider_options: {"input_type": "search_query"}` overrides it.
pub const EMBED_INPUT_TYPE: &str = "search_document";

/// Most texts Cohere embeds in one call; longer inputs are sent in batches.
pub const EMBED_BATCH: usize = 96;

/// Cohere's documented range of `p`.
const P_RANGE: (f64, f64) = (0.01, 0.99);

/// The code an error gets when its message says the prompt is too long, so the
/// shared mapping reports `context_length_exceeded`.
pub const CONTEXT_LENGTH_CODE: &str = "context_length_exceeded";

/// The JSON body of `POST /chat`.
pub fn chat_body(model: &str, req: &ChatRequest, stream: bool) -> Result<Value, ProviderError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(ProviderError::invalid(
            "n",
            "provider kind cohere returns one choice per request; `n` must be 1",
        ));
    }
    if req.logprobs == Some(true) {
        return Err(ProviderError::invalid(
            "logprobs",
            "provider kind cohere: log probabilities are not translated",
        ));
    }
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    let messages = req
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| message_json(i, m))
        .collect::<Result<Vec<_>, _>>()?;
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), stream.into());
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            body.insert(key.into(), v);
        }
    };
    set("temperature", req.temperature.map(Value::from));
    set(
        "p",
        req.top_p
            .map(|p| Value::from(p.clamp(P_RANGE.0, P_RANGE.1))),
    );
    set("max_tokens", req.max_tokens.map(Value::from));
    set(
        "stop_sequences",
        (!req.stop.is_empty()).then(|| req.stop.clone().into()),
    );
    set("seed", req.seed.map(Value::from));
    set("frequency_penalty", req.frequency_penalty.map(Value::from));
    set("presence_penalty", req.presence_penalty.map(Value::from));
    if !req.tools.is_empty() {
        let tools = req
            .tools
            .iter()
            .enumerate()
            .map(|(i, t)| tool_json(i, t))
            .collect::<Result<Vec<_>, _>>()?;
        set("tools", Some(Value::Array(tools)));
        let strict = req
            .tools
            .iter()
            .all(|t| t.function.as_ref().and_then(|f| f.strict) == Some(true));
        set("strict_tools", strict.then_some(Value::Bool(true)));
        set("tool_choice", tool_choice(req)?);
    }
    set("response_format", response_format(req));
    for (key, value) in req.provider_options.iter().flat_map(|o| o.fields.iter()) {
        if !PROTECTED_CHAT_KEYS.contains(&key.as_str()) {
            body.insert(key.clone(), value_json(value));
        }
    }
    Ok(Value::Object(body))
}

/// The texts of an embeddings request, refusing what Cohere cannot embed.
pub fn embed_texts(req: &EmbedRequest) -> Result<&[String], ProviderError> {
    if !req.token_input.is_empty() {
        return Err(ProviderError::invalid(
            "input",
            "provider kind cohere embeds text; token ids are not accepted",
        ));
    }
    if req.input.is_empty() {
        return Err(ProviderError::invalid("input", "must not be empty"));
    }
    Ok(&req.input)
}

/// The JSON body of one `POST /embed` call for `texts` (at most [`EMBED_BATCH`]).
pub fn embed_body(model: &str, texts: &[String], req: &EmbedRequest) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert("texts".into(), texts.into());
    body.insert("input_type".into(), EMBED_INPUT_TYPE.into());
    body.insert("embedding_types".into(), json!(["float"]));
    if let Some(d) = req.dimensions {
        body.insert("output_dimension".into(), d.into());
    }
    for (key, value) in req.provider_options.iter().flat_map(|o| o.fields.iter()) {
        if !PROTECTED_EMBED_KEYS.contains(&key.as_str()) {
            body.insert(key.clone(), value_json(value));
        }
    }
    Value::Object(body)
}

fn message_json(i: usize, m: &Message) -> Result<Value, ProviderError> {
    let role = Role::try_from(m.role).unwrap_or(Role::Unspecified);
    let mut obj = Map::new();
    match role {
        Role::System | Role::Developer => {
            obj.insert("role".into(), "system".into());
            obj.insert("content".into(), text_content(i, &m.content)?);
        }
        Role::User => {
            obj.insert("role".into(), "user".into());
            obj.insert("content".into(), user_content(i, &m.content)?);
        }
        Role::Assistant => {
            obj.insert("role".into(), "assistant".into());
            let text = joined_text(i, &m.content)?;
            if m.tool_calls.is_empty() {
                if let Some(text) = text.or_else(|| m.refusal.clone()) {
                    obj.insert("content".into(), text.into());
                }
            } else {
                if let Some(plan) = text.filter(|t| !t.is_empty()) {
                    obj.insert("tool_plan".into(), plan.into());
                }
                let calls = m.tool_calls.iter().map(tool_call_json).collect();
                obj.insert("tool_calls".into(), Value::Array(calls));
            }
        }
        Role::Tool => {
            let id = m.tool_call_id.as_deref().filter(|id| !id.is_empty());
            let Some(id) = id else {
                return Err(ProviderError::invalid(
                    format!("messages[{i}].tool_call_id"),
                    "is required on tool messages",
                ));
            };
            obj.insert("role".into(), "tool".into());
            obj.insert("tool_call_id".into(), id.into());
            obj.insert("content".into(), text_content(i, &m.content)?);
        }
        Role::Unspecified => {
            return Err(ProviderError::invalid(
                format!("messages[{i}].role"),
                "must be system, user, assistant, tool or developer",
            ));
        }
    }
    Ok(Value::Object(obj))
}

fn tool_call_json(call: &ToolCall) -> Value {
    let f = call.function.clone().unwrap_or_default();
    json!({
        "id": call.id,
        "type": "function",
        "function": {"name": f.name, "arguments": f.arguments},
    })
}

/// Content that must be text (system, tool): one string, or text parts.
fn text_content(i: usize, parts: &[ContentPart]) -> Result<Value, ProviderError> {
    match parts {
        [
            ContentPart {
                part: Some(Part::Text(text)),
            },
        ] => Ok(text.as_str().into()),
        [] => Ok("".into()),
        parts => parts
            .iter()
            .enumerate()
            .map(|(j, p)| match &p.part {
                Some(Part::Text(text)) => Ok(json!({"type": "text", "text": text})),
                _ => Err(not_text(i, j)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
    }
}

/// User content: one string, or text and image parts.
fn user_content(i: usize, parts: &[ContentPart]) -> Result<Value, ProviderError> {
    if parts.iter().all(|p| matches!(p.part, Some(Part::Text(_)))) {
        return text_content(i, parts);
    }
    parts
        .iter()
        .enumerate()
        .map(|(j, p)| match &p.part {
            Some(Part::Text(text)) => Ok(json!({"type": "text", "text": text})),
            Some(Part::ImageUrl(img)) => {
                let mut image = json!({"url": img.url});
                if !img.detail.is_empty() {
                    image["detail"] = img.detail.as_str().into();
                }
                Ok(json!({"type": "image_url", "image_url": image}))
            }
            Some(Part::InputAudio(_)) => Err(ProviderError::invalid(
                format!("messages[{i}].content[{j}]"),
                "provider kind cohere does not accept audio",
            )),
            Some(Part::File(_)) => Err(ProviderError::invalid(
                format!("messages[{i}].content[{j}]"),
                "provider kind cohere does not accept files (send their text, or use \
                 `documents` in provider_options)",
            )),
            None => Err(ProviderError::invalid(
                format!("messages[{i}].content[{j}]"),
                "empty content part",
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// The text of an assistant turn (`None` when it has no parts).
fn joined_text(i: usize, parts: &[ContentPart]) -> Result<Option<String>, ProviderError> {
    if parts.is_empty() {
        return Ok(None);
    }
    parts
        .iter()
        .enumerate()
        .map(|(j, p)| match &p.part {
            Some(Part::Text(text)) => Ok(text.as_str()),
            _ => Err(not_text(i, j)),
        })
        .collect::<Result<String, _>>()
        .map(Some)
}

fn not_text(i: usize, j: usize) -> ProviderError {
    ProviderError::invalid(
        format!("messages[{i}].content[{j}]"),
        "provider kind cohere accepts only text in this message",
    )
}

fn tool_json(i: usize, tool: &Tool) -> Result<Value, ProviderError> {
    if !tool.r#type.is_empty() && tool.r#type != "function" {
        return Err(ProviderError::invalid(
            format!("tools[{i}].type"),
            "provider kind cohere supports only function tools",
        ));
    }
    let Some(f) = &tool.function else {
        return Err(ProviderError::invalid(
            format!("tools[{i}].function"),
            "is required",
        ));
    };
    let mut function = Map::new();
    function.insert("name".into(), f.name.as_str().into());
    if let Some(d) = &f.description {
        function.insert("description".into(), d.as_str().into());
    }
    if let Some(p) = &f.parameters {
        function.insert("parameters".into(), struct_json(p));
    }
    Ok(json!({"type": "function", "function": function}))
}

/// Cohere's `tool_choice`, or `None` to leave the choice to the model.
fn tool_choice(req: &ChatRequest) -> Result<Option<Value>, ProviderError> {
    match req.tool_choice.as_ref().and_then(|c| c.choice.as_ref()) {
        None => Ok(None),
        Some(ToolChoiceKind::Mode(mode)) => match mode.as_str() {
            "" | "auto" => Ok(None),
            "none" => Ok(Some("NONE".into())),
            "required" => Ok(Some("REQUIRED".into())),
            _ => Err(ProviderError::invalid(
                "tool_choice",
                "must be auto, none, required or a function",
            )),
        },
        Some(ToolChoiceKind::FunctionName(name)) => {
            let only = match req.tools.as_slice() {
                [tool] => tool.function.as_ref().map(|f| f.name.as_str()),
                _ => None,
            };
            if only == Some(name.as_str()) {
                // Forcing some tool when there is one forces that tool.
                return Ok(Some("REQUIRED".into()));
            }
            Err(ProviderError::invalid(
                "tool_choice",
                "provider kind cohere cannot force a named function when several tools \
                 are given; use `required` or send only that tool",
            ))
        }
    }
}

fn response_format(req: &ChatRequest) -> Option<Value> {
    match req.response_format.as_ref()?.format.as_ref()? {
        Format::Text(_) => None,
        Format::JsonObject(_) => Some(json!({"type": "json_object"})),
        Format::JsonSchema(s) => Some(match &s.schema {
            Some(schema) => json!({"type": "json_object", "json_schema": struct_json(schema)}),
            None => json!({"type": "json_object"}),
        }),
    }
}

/// A chat answer, or the `{"message": "..."}` error object a server may send with
/// a 2xx.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireChatResponse {
    pub id: Option<String>,
    pub finish_reason: Option<String>,
    pub message: Option<MessageField>,
    pub usage: Option<WireUsage>,
}

/// `message` is the answer in a chat response and the text in an error object.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum MessageField {
    /// The assistant's answer.
    Answer(WireMessage),
    /// An error's description.
    Error(String),
}

/// The assistant message of an answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireMessage {
    /// `[{type: text, text}]` (a string tolerated); `thinking` parts are skipped.
    pub content: Option<Value>,
    #[serde(deserialize_with = "nullable")]
    pub tool_calls: Vec<WireToolCall>,
    /// The text a model writes before calling tools: kept out of the answer.
    pub tool_plan: Option<String>,
}

/// A complete tool call.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireToolCall {
    pub id: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub function: WireFunction,
}

/// A function call's name and JSON arguments.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireFunction {
    pub name: Option<String>,
    /// A JSON string; an object is tolerated and re-encoded.
    pub arguments: Option<Value>,
}

impl WireFunction {
    /// The arguments as the JSON text OpenAI's format carries.
    pub fn arguments_text(&self) -> String {
        match &self.arguments {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        }
    }
}

impl WireToolCall {
    /// Switchyard's tool call.
    pub fn to_proto(&self) -> ToolCall {
        ToolCall {
            id: self.id.clone().unwrap_or_default(),
            r#type: "function".into(),
            function: Some(FunctionCall {
                name: self.function.name.clone().unwrap_or_default(),
                arguments: self.function.arguments_text(),
            }),
        }
    }
}

/// Text of a `content` value: a string, or the `text` parts of a list (Command A
/// Reasoning's `thinking` parts are not part of the answer).
pub fn content_text(content: Option<&Value>) -> Option<String> {
    match content? {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str).unwrap_or("text") == "text")
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            (!texts.is_empty()).then(|| texts.concat())
        }
        _ => None,
    }
}

/// A message from an answer in Switchyard's types.
pub fn message(m: &WireMessage) -> Message {
    Message {
        role: Role::Assistant as i32,
        content: content_text(m.content.as_ref())
            .map(|t| ContentPart {
                part: Some(Part::Text(t)),
            })
            .into_iter()
            .collect(),
        tool_calls: m.tool_calls.iter().map(WireToolCall::to_proto).collect(),
        ..Message::default()
    }
}

/// Token counts: what Cohere billed and what the model processed.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct WireUsage {
    pub billed_units: Option<WireUnits>,
    pub tokens: Option<WireUnits>,
    /// Prompt tokens served from Cohere's cache, when reported.
    #[serde(deserialize_with = "count")]
    pub cached_tokens: u64,
}

/// `billed_units` / `tokens`.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct WireUnits {
    #[serde(deserialize_with = "count")]
    pub input_tokens: u64,
    #[serde(deserialize_with = "count")]
    pub output_tokens: u64,
}

impl WireUnits {
    fn is_set(&self) -> bool {
        self.input_tokens > 0 || self.output_tokens > 0
    }
}

impl WireUsage {
    /// Switchyard's usage, `None` when nothing was reported.
    ///
    /// `billed_units` first: it is what Cohere charges for, so prices per token
    /// apply to it. `tokens` also counts Cohere's own prompt template (913 processed
    /// input tokens against 37 billed in Cohere's tool-use example), so it is used
    /// only when no billed units are reported (private deployments). Cached tokens
    /// are clamped to the prompt count, as the `Usage` contract requires.
    pub fn to_proto(&self) -> Option<Usage> {
        let units = [self.billed_units, self.tokens]
            .into_iter()
            .flatten()
            .find(WireUnits::is_set)?;
        let prompt = units.input_tokens;
        let completion = units.output_tokens;
        Some(Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
            cached_prompt_tokens: self.cached_tokens.min(prompt),
            ..Usage::default()
        })
    }
}

/// How a generation ended, as Cohere says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// A normal end, in OpenAI's vocabulary (`Unspecified` when Cohere said none).
    Reason(FinishReason),
    /// `ERROR`: the generation failed; the answer is incomplete.
    Error,
    /// `TIMEOUT`: the generation ran out of time; the answer is incomplete.
    Timeout,
}

/// The finish for a Cohere `finish_reason`; unknown non-empty reasons mean the
/// model stopped, as in the OpenAI translation.
pub fn finish(reason: Option<&str>) -> Finish {
    match reason {
        None | Some("") => Finish::Reason(FinishReason::Unspecified),
        Some("MAX_TOKENS") => Finish::Reason(FinishReason::Length),
        Some("TOOL_CALL") => Finish::Reason(FinishReason::ToolCalls),
        Some("ERROR") => Finish::Error,
        Some("TIMEOUT") => Finish::Timeout,
        Some(_) => Finish::Reason(FinishReason::Stop),
    }
}

/// One streamed event's JSON. `delta.message.content` and `tool_calls` are objects
/// in content and tool-call events but empty lists in `message-start`, so they
/// stay JSON values here.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireEvent {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub id: Option<String>,
    pub index: Option<u32>,
    pub delta: Option<WireEventDelta>,
    /// The text of an error event.
    pub message: Option<Value>,
}

/// An event's `delta`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireEventDelta {
    pub message: Option<WireDeltaMessage>,
    pub finish_reason: Option<String>,
    pub usage: Option<WireUsage>,
    /// `message-end`: why the generation failed, when it did.
    pub error: Option<String>,
}

/// An event's `delta.message`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireDeltaMessage {
    pub content: Option<Value>,
    pub tool_plan: Option<String>,
    pub tool_calls: Option<Value>,
}

/// Embedding vectors by type, and the billed input.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireEmbedResponse {
    pub id: Option<String>,
    pub embeddings: Option<Value>,
    pub meta: Option<WireMeta>,
    /// The text of an error object sent with a 2xx.
    pub message: Option<String>,
}

/// `meta` of an embed answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireMeta {
    pub billed_units: Option<WireUnits>,
}

impl WireEmbedResponse {
    /// The vectors, in text order: `embeddings.float`, else `embeddings.base64`
    /// (little-endian f32s), else a bare list (the v1 `embeddings_floats` shape).
    pub fn vectors(&self) -> Option<Vec<Vec<f32>>> {
        let list = match self.embeddings.as_ref()? {
            Value::Array(list) => list,
            Value::Object(by_type) => by_type
                .get("float")
                .or_else(|| by_type.get("base64"))?
                .as_array()?,
            _ => return None,
        };
        list.iter().map(embedding_values).collect()
    }
}

/// An embedding as floats, or as base64 of little-endian f32s.
fn embedding_values(value: &Value) -> Option<Vec<f32>> {
    use base64::Engine as _;
    match value {
        Value::Array(items) => items.iter().map(|v| v.as_f64().map(|f| f as f32)).collect(),
        Value::String(b64) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            (bytes.len() % 4 == 0).then(|| {
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            })
        }
        _ => None,
    }
}

/// Cohere's error object (`{"message": "...", "id"?: "..."}`) read from a body, or
/// nothing if it is not one.
pub fn parse_error(body: &[u8]) -> UpstreamError {
    serde_json::from_slice::<Value>(body)
        .map(|v| upstream_error(&v))
        .unwrap_or_default()
}

/// The error object of a body or event, classified: a message saying the prompt is
/// too long gets [`CONTEXT_LENGTH_CODE`].
pub fn upstream_error(body: &Value) -> UpstreamError {
    let message = match body {
        Value::String(s) => Some(s.clone()),
        _ => body
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    error_with_message(message)
}

/// An error carrying `message`, classified as [`upstream_error`] does.
pub fn error_with_message(message: Option<String>) -> UpstreamError {
    let code = message
        .as_deref()
        .filter(|m| is_context_length(m))
        .map(|_| CONTEXT_LENGTH_CODE.to_string());
    UpstreamError {
        code,
        kind: None,
        message,
    }
}

/// Whether a Cohere message says the input is too long: its documented `too many
/// tokens: total number of tokens in the prompt cannot exceed ...` and `too many
/// tokens: size limit exceeded by ...`, but not `too many tokens: max tokens must
/// be less than ...`, which is about the requested output limit.
fn is_context_length(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    (m.contains("too many tokens") && !m.contains("max tokens must"))
        || m.contains("context length")
        || m.contains("context window")
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
