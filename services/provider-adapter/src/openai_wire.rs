//! OpenAI chat-completions and embeddings wire format: request bodies built from
//! Switchyard's types, and tolerant answer types translated back.
//!
//! Requests carry only the fields the caller set. Answers are parsed leniently:
//! servers that claim compatibility (vLLM, llama.cpp, Ollama, Groq) omit fields,
//! send `null` for lists and floats for integers, so every field is optional here.

use prost_types::value::Kind;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::response_format::Format;
use switchyard_proto::types::v1::tool_choice::Choice as ToolChoiceKind;
use switchyard_proto::types::v1::{
    ChatRequest, ContentPart, EmbedRequest, FileData, FinishReason, FunctionCall,
    FunctionCallDelta, Logprobs, Message, Reasoning, ReasoningDelta, Role, TokenLogprob, ToolCall,
    ToolCallDelta, TopLogprob, Usage,
};

use crate::lenient::{count, nullable, text};
use crate::{ProviderError, UpstreamError};

/// Keys that `provider_options` may never override.
const PROTECTED_KEYS: [&str; 4] = ["model", "messages", "stream", "stream_options"];

/// The JSON body of `POST /chat/completions`.
pub fn chat_body(model: &str, req: &ChatRequest, stream: bool) -> Result<Value, ProviderError> {
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    let messages = req
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| message_json(i, m))
        .collect::<Result<Vec<_>, _>>()?;
    body.insert("messages".into(), Value::Array(messages));
    if stream {
        body.insert("stream".into(), true.into());
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    sampling(&mut body, req);
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            body.insert(key.into(), v);
        }
    };
    set(
        "tools",
        (!req.tools.is_empty()).then(|| Value::Array(req.tools.iter().map(tool_json).collect())),
    );
    set(
        "tool_choice",
        req.tool_choice.as_ref().and_then(|c| match &c.choice {
            Some(ToolChoiceKind::Mode(mode)) => Some(mode.as_str().into()),
            Some(ToolChoiceKind::FunctionName(name)) => {
                Some(json!({"type": "function", "function": {"name": name}}))
            }
            None => None,
        }),
    );
    set(
        "parallel_tool_calls",
        req.parallel_tool_calls.map(Value::from),
    );
    set(
        "response_format",
        req.response_format
            .as_ref()
            .and_then(|f| response_format_json(f.format.as_ref())),
    );
    set("logprobs", req.logprobs.map(Value::from));
    set("top_logprobs", req.top_logprobs.map(Value::from));
    set(
        "reasoning_effort",
        req.reasoning_effort.clone().map(Value::from),
    );
    merge_options(&mut body, req.provider_options.as_ref(), &PROTECTED_KEYS);
    Ok(Value::Object(body))
}

/// The fields chat and text completions share, where set: sampling, limits,
/// stop sequences and the end user.
pub(crate) fn sampling(body: &mut Map<String, Value>, req: &ChatRequest) {
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            body.insert(key.into(), v);
        }
    };
    set("temperature", req.temperature.map(Value::from));
    set("top_p", req.top_p.map(Value::from));
    set("max_tokens", req.max_tokens.map(Value::from));
    set("n", req.n.map(Value::from));
    set(
        "stop",
        (!req.stop.is_empty()).then(|| req.stop.clone().into()),
    );
    set("seed", req.seed.map(Value::from));
    set("presence_penalty", req.presence_penalty.map(Value::from));
    set("frequency_penalty", req.frequency_penalty.map(Value::from));
    set("user", req.user.clone().map(Value::from));
}

/// The JSON body of `POST /embeddings`.
pub fn embed_body(model: &str, req: &EmbedRequest) -> Result<Value, ProviderError> {
    let input = match (req.input.is_empty(), req.token_input.is_empty()) {
        (false, true) => Value::from(req.input.clone()),
        (true, false) => Value::Array(
            req.token_input
                .iter()
                .map(|t| Value::from(t.ids.clone()))
                .collect(),
        ),
        _ => {
            return Err(ProviderError::invalid(
                "input",
                "exactly one of input and token_input must be set",
            ));
        }
    };
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert("input".into(), input);
    body.insert("encoding_format".into(), "float".into());
    if let Some(d) = req.dimensions {
        body.insert("dimensions".into(), d.into());
    }
    if let Some(user) = &req.user {
        body.insert("user".into(), user.as_str().into());
    }
    merge_options(&mut body, req.provider_options.as_ref(), &PROTECTED_KEYS);
    Ok(Value::Object(body))
}

/// Merges `provider_options` into `body`, except the keys in `protected`.
pub(crate) fn merge_options(
    body: &mut Map<String, Value>,
    options: Option<&prost_types::Struct>,
    protected: &[&str],
) {
    for (key, value) in options.into_iter().flat_map(|o| o.fields.iter()) {
        if !protected.contains(&key.as_str()) {
            body.insert(key.clone(), value_json(value));
        }
    }
}

fn role_str(i: usize, role: i32) -> Result<&'static str, ProviderError> {
    match Role::try_from(role) {
        Ok(Role::System) => Ok("system"),
        Ok(Role::User) => Ok("user"),
        Ok(Role::Assistant) => Ok("assistant"),
        Ok(Role::Tool) => Ok("tool"),
        Ok(Role::Developer) => Ok("developer"),
        Ok(Role::Unspecified) | Err(_) => Err(ProviderError::invalid(
            format!("messages[{i}].role"),
            "must be system, user, assistant, tool or developer",
        )),
    }
}

fn message_json(i: usize, m: &Message) -> Result<Value, ProviderError> {
    let mut obj = Map::new();
    obj.insert("role".into(), role_str(i, m.role)?.into());
    obj.insert("content".into(), content_json(i, &m.content)?);
    if let Some(name) = &m.name {
        obj.insert("name".into(), name.as_str().into());
    }
    if !m.tool_calls.is_empty() {
        let calls = m.tool_calls.iter().map(|c| {
            let f = c.function.clone().unwrap_or_default();
            json!({
                "id": c.id,
                "type": if c.r#type.is_empty() { "function" } else { c.r#type.as_str() },
                "function": {"name": f.name, "arguments": f.arguments},
            })
        });
        obj.insert("tool_calls".into(), Value::Array(calls.collect()));
    }
    if let Some(id) = &m.tool_call_id {
        obj.insert("tool_call_id".into(), id.as_str().into());
    }
    if let Some(refusal) = &m.refusal {
        obj.insert("refusal".into(), refusal.as_str().into());
    }
    Ok(Value::Object(obj))
}

fn content_json(i: usize, parts: &[ContentPart]) -> Result<Value, ProviderError> {
    match parts {
        [] => Ok(Value::Null),
        [
            ContentPart {
                part: Some(Part::Text(text)),
            },
        ] => Ok(text.as_str().into()),
        parts => parts
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
                Some(Part::InputAudio(audio)) => Ok(json!({
                    "type": "input_audio",
                    "input_audio": {"data": audio.data, "format": audio.format},
                })),
                Some(Part::File(file)) => file_json(i, j, file),
                None => Err(ProviderError::invalid(
                    format!("messages[{i}].content[{j}]"),
                    "empty content part",
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
    }
}

/// OpenAI's `file` part: the bytes as a data URL in `file_data`. OpenAI's chat API
/// takes no file URL (only uploaded files' ids, which this gateway has none of).
fn file_json(i: usize, j: usize, file: &FileData) -> Result<Value, ProviderError> {
    if file.data.is_empty() {
        return Err(ProviderError::invalid(
            format!("messages[{i}].content[{j}].file"),
            "OpenAI-compatible providers take files inline (base64), not by URL",
        ));
    }
    let media_type = if file.media_type.is_empty() {
        "application/pdf"
    } else {
        &file.media_type
    };
    let mut part = json!({"file_data": format!("data:{media_type};base64,{}", file.data)});
    if !file.filename.is_empty() {
        part["filename"] = file.filename.as_str().into();
    }
    Ok(json!({"type": "file", "file": part}))
}

fn tool_json(tool: &switchyard_proto::types::v1::Tool) -> Value {
    let mut function = Map::new();
    if let Some(f) = &tool.function {
        function.insert("name".into(), f.name.as_str().into());
        if let Some(d) = &f.description {
            function.insert("description".into(), d.as_str().into());
        }
        if let Some(p) = &f.parameters {
            function.insert("parameters".into(), struct_json(p));
        }
        if let Some(s) = f.strict {
            function.insert("strict".into(), s.into());
        }
    }
    let kind = if tool.r#type.is_empty() {
        "function"
    } else {
        tool.r#type.as_str()
    };
    json!({"type": kind, "function": function})
}

fn response_format_json(format: Option<&Format>) -> Option<Value> {
    match format? {
        Format::Text(_) => Some(json!({"type": "text"})),
        Format::JsonObject(_) => Some(json!({"type": "json_object"})),
        Format::JsonSchema(s) => {
            let mut schema = Map::new();
            schema.insert("name".into(), s.name.as_str().into());
            if let Some(d) = &s.description {
                schema.insert("description".into(), d.as_str().into());
            }
            if let Some(body) = &s.schema {
                schema.insert("schema".into(), struct_json(body));
            }
            if let Some(strict) = s.strict {
                schema.insert("strict".into(), strict.into());
            }
            Some(json!({"type": "json_schema", "json_schema": schema}))
        }
    }
}

/// A protobuf `Struct` as JSON.
pub fn struct_json(s: &prost_types::Struct) -> Value {
    Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), value_json(v)))
            .collect(),
    )
}

/// A protobuf `Value` as JSON. Whole numbers become JSON integers, because
/// protobuf has only doubles and providers reject `"max_completion_tokens": 5.0`.
pub fn value_json(v: &prost_types::Value) -> Value {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => (*b).into(),
        Some(Kind::StringValue(s)) => s.as_str().into(),
        Some(Kind::NumberValue(n)) => {
            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                (*n as i64).into()
            } else {
                serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number)
            }
        }
        Some(Kind::StructValue(s)) => struct_json(s),
        Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(value_json).collect()),
    }
}

/// A chat completion, as providers send it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireChatResponse {
    pub id: Option<String>,
    pub created: Option<f64>,
    pub model: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub choices: Vec<WireChoice>,
    pub usage: Option<WireUsage>,
    pub system_fingerprint: Option<String>,
    pub error: Option<Value>,
}

/// One choice of a completion.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireChoice {
    #[serde(deserialize_with = "nullable")]
    pub index: u32,
    pub message: Option<WireMessage>,
    /// A text completion's answer, which stands for `message` there.
    #[serde(deserialize_with = "text")]
    pub text: Option<String>,
    pub finish_reason: Option<String>,
    pub logprobs: Option<WireLogprobs>,
}

/// A choice's `logprobs`: per-token log probabilities of its content and refusal
/// (chat), or the legacy parallel lists of a text completion.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireLogprobs {
    #[serde(deserialize_with = "nullable")]
    pub content: Vec<WireTokenLogprob>,
    #[serde(deserialize_with = "nullable")]
    pub refusal: Vec<WireTokenLogprob>,
    /// Text completions: the tokens.
    #[serde(deserialize_with = "nullable")]
    pub tokens: Vec<String>,
    /// Text completions: each token's log probability (null for an echoed
    /// prompt's first token).
    #[serde(deserialize_with = "nullable")]
    pub token_logprobs: Vec<Option<f64>>,
    /// Text completions: each position's likeliest tokens, token to log probability.
    #[serde(deserialize_with = "nullable")]
    pub top_logprobs: Vec<Option<Map<String, Value>>>,
}

/// One token's log probability (the `top_logprobs` entries have the same shape,
/// without their own `top_logprobs`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireTokenLogprob {
    #[serde(deserialize_with = "nullable")]
    pub token: String,
    #[serde(deserialize_with = "nullable")]
    pub logprob: f64,
    /// UTF-8 bytes as numbers; anything not a byte drops them all.
    #[serde(deserialize_with = "nullable")]
    pub bytes: Vec<i64>,
    #[serde(deserialize_with = "nullable")]
    pub top_logprobs: Vec<WireTokenLogprob>,
}

/// The answer message of a choice.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireMessage {
    pub role: Option<String>,
    pub content: Option<Value>,
    #[serde(deserialize_with = "nullable")]
    pub tool_calls: Vec<WireToolCall>,
    pub refusal: Option<String>,
    /// Reasoning text: DeepSeek's, llama.cpp's and vLLM's name for it.
    #[serde(deserialize_with = "text")]
    pub reasoning_content: Option<String>,
    /// Reasoning text: OpenRouter's and newer vLLM's name for it.
    #[serde(deserialize_with = "text")]
    pub reasoning: Option<String>,
}

/// A complete tool call.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireToolCall {
    #[serde(deserialize_with = "nullable")]
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub function: WireFunction,
}

/// A function call's name and JSON arguments (also used for streamed fragments).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireFunction {
    pub name: Option<String>,
    pub arguments: Option<String>,
}

/// Token counts as providers report them.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct WireUsage {
    #[serde(deserialize_with = "count")]
    pub prompt_tokens: u64,
    #[serde(deserialize_with = "count")]
    pub completion_tokens: u64,
    #[serde(deserialize_with = "count")]
    pub total_tokens: u64,
    pub prompt_tokens_details: Option<WirePromptDetails>,
    pub completion_tokens_details: Option<WireCompletionDetails>,
    /// DeepSeek reports cache hits here instead of in `prompt_tokens_details`.
    #[serde(deserialize_with = "count")]
    pub prompt_cache_hit_tokens: u64,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct WirePromptDetails {
    #[serde(deserialize_with = "count")]
    pub cached_tokens: u64,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct WireCompletionDetails {
    #[serde(deserialize_with = "count")]
    pub reasoning_tokens: u64,
}

impl WireUsage {
    /// Switchyard's usage (reported, not estimated).
    pub fn to_proto(&self) -> Usage {
        let total = if self.total_tokens > 0 {
            self.total_tokens
        } else {
            self.prompt_tokens + self.completion_tokens
        };
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            total_tokens: total,
            cached_prompt_tokens: self
                .prompt_tokens_details
                .as_ref()
                .map_or(0, |d| d.cached_tokens)
                .max(self.prompt_cache_hit_tokens),
            reasoning_tokens: self
                .completion_tokens_details
                .as_ref()
                .map_or(0, |d| d.reasoning_tokens),
            estimated: false,
            cache_write_prompt_tokens: 0,
        }
    }
}

/// One streamed chunk, as providers send it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireChunk {
    pub id: Option<String>,
    pub created: Option<f64>,
    pub model: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub choices: Vec<WireChunkChoice>,
    pub usage: Option<WireUsage>,
    pub system_fingerprint: Option<String>,
    pub error: Option<Value>,
    /// Groq reports streamed usage here instead of in `usage`.
    pub x_groq: Option<WireGroq>,
}

/// Groq's extension object.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireGroq {
    pub usage: Option<WireUsage>,
}

/// One choice's fragment in a chunk.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireChunkChoice {
    #[serde(deserialize_with = "nullable")]
    pub index: u32,
    #[serde(deserialize_with = "nullable")]
    pub delta: WireDelta,
    /// A streamed text completion's fragment, which stands for `delta.content`.
    #[serde(deserialize_with = "text")]
    pub text: Option<String>,
    pub finish_reason: Option<String>,
    pub logprobs: Option<WireLogprobs>,
}

/// What a chunk adds to a choice.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireDelta {
    pub role: Option<String>,
    pub content: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub tool_calls: Vec<WireToolCallDelta>,
    pub refusal: Option<String>,
    /// See [`WireMessage::reasoning_content`].
    #[serde(deserialize_with = "text")]
    pub reasoning_content: Option<String>,
    /// See [`WireMessage::reasoning`].
    #[serde(deserialize_with = "text")]
    pub reasoning: Option<String>,
}

/// The reasoning text of a message or delta, whichever name the server used
/// (empty text is none). It has no signature, and it is never sent back: DeepSeek
/// refuses a request whose messages carry it.
pub fn reasoning_text(
    reasoning_content: Option<String>,
    reasoning: Option<String>,
) -> Option<String> {
    reasoning_content.or(reasoning).filter(|t| !t.is_empty())
}

/// A streamed reasoning fragment: one unsigned block per answer, index 0.
pub fn reasoning_delta(text: Option<String>) -> Vec<ReasoningDelta> {
    text.map(|t| ReasoningDelta {
        index: 0,
        text: Some(t),
        ..ReasoningDelta::default()
    })
    .into_iter()
    .collect()
}

/// A streamed tool-call fragment.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireToolCallDelta {
    pub index: Option<u32>,
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub function: Option<WireFunction>,
}

/// One embedding in an answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireEmbedding {
    pub index: Option<u32>,
    pub embedding: Value,
}

/// An embeddings answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireEmbedResponse {
    pub model: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub data: Vec<WireEmbedding>,
    pub usage: Option<WireUsage>,
    pub error: Option<Value>,
}

/// The finish reason for an OpenAI string; unknown non-empty reasons mean the model
/// stopped, so they map to STOP.
pub fn finish_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        None | Some("") => FinishReason::Unspecified,
        Some("length") => FinishReason::Length,
        Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
        Some("content_filter") => FinishReason::ContentFilter,
        Some(_) => FinishReason::Stop,
    }
}

/// The role for an OpenAI string (answers are the assistant's unless said otherwise).
pub fn role(role: Option<&str>) -> Role {
    match role {
        Some("system") => Role::System,
        Some("user") => Role::User,
        Some("tool") => Role::Tool,
        Some("developer") => Role::Developer,
        _ => Role::Assistant,
    }
}

/// Answer text from `content`: a string, or the text parts of an array.
pub fn content_text(content: Option<&Value>) -> Option<String> {
    match content? {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect(),
        ),
        _ => None,
    }
}

/// An answer message in Switchyard's types.
pub fn message(m: WireMessage) -> Message {
    let content = content_text(m.content.as_ref())
        .map(|t| ContentPart {
            part: Some(Part::Text(t)),
        })
        .into_iter()
        .collect();
    let tool_calls = m
        .tool_calls
        .into_iter()
        .map(|c| ToolCall {
            id: c.id,
            r#type: c.kind.unwrap_or_else(|| "function".into()),
            function: Some(FunctionCall {
                name: c.function.name.unwrap_or_default(),
                arguments: c.function.arguments.unwrap_or_default(),
            }),
        })
        .collect();
    let reasoning = reasoning_text(m.reasoning_content, m.reasoning)
        .map(|text| Reasoning {
            text,
            ..Reasoning::default()
        })
        .into_iter()
        .collect();
    Message {
        role: role(m.role.as_deref()) as i32,
        content,
        tool_calls,
        refusal: m.refusal,
        reasoning,
        ..Message::default()
    }
}

/// A choice's log probabilities in Switchyard's types; `None` when it has none
/// (not asked for, or a chunk that adds no token).
pub fn logprobs(l: Option<WireLogprobs>) -> Option<Logprobs> {
    let l = l?;
    if l.content.is_empty() && l.refusal.is_empty() {
        return crate::openai_text::legacy_logprobs(l.tokens, l.token_logprobs, l.top_logprobs);
    }
    let tokens = |v: Vec<WireTokenLogprob>| v.into_iter().map(token_logprob).collect();
    Some(Logprobs {
        content: tokens(l.content),
        refusal: tokens(l.refusal),
    })
}

fn token_logprob(t: WireTokenLogprob) -> TokenLogprob {
    TokenLogprob {
        token: t.token,
        logprob: t.logprob,
        bytes: bytes(&t.bytes),
        top_logprobs: t
            .top_logprobs
            .into_iter()
            .map(|top| TopLogprob {
                bytes: bytes(&top.bytes),
                token: top.token,
                logprob: top.logprob,
            })
            .collect(),
    }
}

fn bytes(values: &[i64]) -> Vec<u8> {
    values
        .iter()
        .map(|&b| u8::try_from(b).ok())
        .collect::<Option<Vec<u8>>>()
        .unwrap_or_default()
}

/// A streamed tool-call fragment; fragments without an index take their position.
pub fn tool_call_delta(position: usize, d: WireToolCallDelta) -> ToolCallDelta {
    ToolCallDelta {
        index: d.index.unwrap_or(position as u32),
        id: d.id,
        r#type: d.kind,
        function: d.function.map(|f| FunctionCallDelta {
            name: f.name,
            arguments: f.arguments,
        }),
    }
}

/// The provider's error object from an error body or event: `{"error": {...}}`,
/// `{"error": "text"}` or FastAPI's `{"detail": ...}`. Also returns a numeric
/// `code` as an HTTP status (vLLM puts one in stream error events).
pub fn upstream_error(body: &Value) -> (UpstreamError, Option<u16>) {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let err = body.get("error").unwrap_or(body);
    if let Value::String(message) = err {
        return (
            UpstreamError {
                message: Some(message.clone()),
                ..UpstreamError::default()
            },
            None,
        );
    }
    let status = err
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c));
    let message = text(err.get("message")).or_else(|| text(err.get("detail")));
    let parsed = UpstreamError {
        code: text(err.get("code")),
        kind: text(err.get("type")),
        message,
    };
    (parsed, status)
}

#[cfg(test)]
#[path = "openai_wire_tests.rs"]
mod tests;
