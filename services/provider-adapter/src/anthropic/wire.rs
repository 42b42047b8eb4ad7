//! Anthropic Messages API wire format (`POST /v1/messages`, API version
//! `2023-06-01`): request bodies built from Switchyard's provider-neutral types;
//! the tolerant answer, event and error types read back are in `super::reply`,
//! re-exported here.
//!
//! What differs from OpenAI's chat format, and how it is bridged:
//! - system and developer messages become the top-level `system` (text only);
//! - roles must alternate, so consecutive same-role turns are merged into one, and
//!   tool answers become `tool_result` blocks of a user turn (placed first, as
//!   Anthropic requires);
//! - assistant tool calls become `tool_use` blocks whose `input` is the parsed
//!   arguments object;
//! - a message's or tool's cache breakpoint becomes `cache_control` on its last
//!   block (so a system prompt or a message that carries one stays in block form);
//! - an assistant's signed reasoning goes back first as its `thinking` and
//!   `redacted_thinking` blocks (reasoning unsigned or signed by another provider
//!   is not sent, see `crate::signature`); answers' thinking blocks come back as reasoning;
//! - `max_tokens` is required: the request's, or [`DEFAULT_MAX_TOKENS`];
//! - `reasoning_effort` turns on extended thinking with a token budget (low 1024,
//!   medium 8192, high 24576), added to `max_tokens`; a `thinking` option wins;
//! - `seed`, `presence_penalty` and `frequency_penalty` have no equivalent and are
//!   not sent; `n > 1`, `logprobs` and the schema-less
//!   `json_object` format cannot be honoured and are refused;
//! - `json_schema` becomes `output_config.format` (Claude structured outputs).

use serde_json::{Map, Value, json};
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::response_format::Format;
use switchyard_proto::types::v1::tool_choice::Choice as ToolChoiceKind;
use switchyard_proto::types::v1::{
    CacheControl, ChatRequest, ContentPart, FileData, Message, Role, Tool,
};

pub use super::reply::{
    WireEvent, WireMessage, WireTokenCount, WireUsage, finish_reason, message, parse_error,
    tool_call, upstream_error,
};
use crate::ProviderError;
use crate::openai_wire::{struct_json, value_json};

/// `max_tokens` sent when the caller set none: Anthropic requires the field, and
/// 4096 is within every current Claude model's output limit.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The `anthropic-version` header sent when the config sets no `api_version`.
pub const DEFAULT_VERSION: &str = "2023-06-01";

/// Keys that `provider_options` may never override.
const PROTECTED_KEYS: [&str; 3] = ["model", "messages", "stream"];

/// The `provider_options` key whose beta names (a list, or one comma-separated
/// string) are sent as the `anthropic-beta` header, not in the body: the edge's
/// Anthropic route puts a caller's `anthropic-beta` header there, and Bedrock
/// takes the same key as a model request field.
pub const BETA_OPTION: &str = "anthropic_beta";

/// The `anthropic-beta` header value `provider_options` asks for, if any.
pub fn beta_header(req: &ChatRequest) -> Option<String> {
    let value = req.provider_options.as_ref()?.fields.get(BETA_OPTION)?;
    let names: Vec<String> = match value_json(value) {
        Value::String(s) => s.split(',').map(|n| n.trim().to_string()).collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(|n| n.trim().to_string()))
            .collect(),
        _ => Vec::new(),
    };
    let names: Vec<String> = names.into_iter().filter(|n| !n.is_empty()).collect();
    (!names.is_empty()).then(|| names.join(","))
}

/// The image media types Anthropic accepts in a base64 source.
const IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// The members a `POST /messages/count_tokens` body may have: what makes up the
/// input. Generation settings (`max_tokens`, `temperature`, ...) are refused
/// there, so they are left out.
const COUNTED_KEYS: [&str; 7] = [
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
    "mcp_servers",
];

/// The JSON body of `POST /messages`.
pub fn messages_body(model: &str, req: &ChatRequest, stream: bool) -> Result<Value, ProviderError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(ProviderError::invalid(
            "n",
            "provider kind anthropic returns one choice per request; `n` must be 1",
        ));
    }
    if req.logprobs == Some(true) {
        return Err(ProviderError::invalid(
            "logprobs",
            "provider kind anthropic does not return log probabilities",
        ));
    }
    request_body(model, req, stream).map(Value::Object)
}

/// The JSON body of `POST /messages/count_tokens`: the Messages body's input
/// members (`provider_options` such as `thinking` included), nothing else.
pub fn count_tokens_body(model: &str, req: &ChatRequest) -> Result<Value, ProviderError> {
    let mut body = request_body(model, req, false)?;
    body.retain(|key, _| COUNTED_KEYS.contains(&key.as_str()));
    Ok(Value::Object(body))
}

/// A Messages body, whatever `n` and `logprobs` say.
fn request_body(
    model: &str,
    req: &ChatRequest,
    stream: bool,
) -> Result<Map<String, Value>, ProviderError> {
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    let (system, messages) = conversation(&req.messages)?;
    if let Some(system) = system {
        body.insert("system".into(), system);
    }
    body.insert("messages".into(), messages);
    let max_tokens = req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    match thinking_budget(req)? {
        Some(budget) => {
            refuse_temperature(req)?;
            body.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": budget}),
            );
            // Thinking counts within `max_tokens`: the caller's limit stays the
            // answer's own.
            body.insert("max_tokens".into(), (max_tokens + budget).into());
        }
        None => {
            body.insert("max_tokens".into(), max_tokens.into());
        }
    }
    if stream {
        body.insert("stream".into(), true.into());
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), t.into());
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), p.into());
    }
    if !req.stop.is_empty() {
        body.insert("stop_sequences".into(), req.stop.clone().into());
    }
    if !req.tools.is_empty() {
        let tools = req
            .tools
            .iter()
            .enumerate()
            .map(|(i, t)| tool_json(i, t))
            .collect::<Result<Vec<_>, _>>()?;
        body.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = tool_choice(req)? {
            body.insert("tool_choice".into(), choice);
        }
    }
    if let Some(format) = output_format(req)? {
        body.insert("output_config".into(), json!({ "format": format }));
    }
    if let Some(user) = req.user.as_deref().filter(|u| !u.is_empty()) {
        body.insert("metadata".into(), json!({ "user_id": user }));
    }
    for (key, value) in req.provider_options.iter().flat_map(|o| o.fields.iter()) {
        if !PROTECTED_KEYS.contains(&key.as_str()) && key != BETA_OPTION {
            body.insert(key.clone(), value_json(value));
        }
    }
    Ok(body)
}

/// One turn being assembled: Anthropic's role and its content blocks.
struct Turn {
    role: &'static str,
    blocks: Vec<Value>,
}

/// The `system` value (a string, or text blocks when several messages gave one) and
/// the alternating `messages`.
fn conversation(messages: &[Message]) -> Result<(Option<Value>, Value), ProviderError> {
    let mut system: Vec<Value> = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let (role, mut blocks) = match Role::try_from(m.role) {
            Ok(Role::System | Role::Developer) => {
                let mut blocks = system_blocks(i, &m.content)?;
                mark_cache(&mut blocks, m.cache_control.as_ref());
                system.extend(blocks);
                continue;
            }
            Ok(Role::User) => ("user", content_blocks(i, &m.content)?),
            Ok(Role::Assistant) => ("assistant", assistant_blocks(i, m)?),
            Ok(Role::Tool) => ("user", vec![tool_result(i, m)?]),
            Ok(Role::Unspecified) | Err(_) => {
                return Err(ProviderError::invalid(
                    format!("messages[{i}].role"),
                    "must be system, user, assistant, tool or developer",
                ));
            }
        };
        if blocks.is_empty() {
            continue;
        }
        mark_cache(&mut blocks, m.cache_control.as_ref());
        match turns.last_mut() {
            Some(turn) if turn.role == role => turn.blocks.extend(blocks),
            _ => turns.push(Turn { role, blocks }),
        }
    }
    let messages = turns
        .into_iter()
        .map(|mut turn| {
            // Anthropic wants a user turn's tool results before anything else in it.
            turn.blocks.sort_by_key(|b| b["type"] != "tool_result");
            json!({ "role": turn.role, "content": blocks_value(turn.blocks) })
        })
        .collect();
    let system = match system.len() {
        0 => None,
        1 if system[0].get("cache_control").is_none() => system.pop().map(|b| b["text"].clone()),
        _ => Some(Value::Array(system)),
    };
    Ok((system, Value::Array(messages)))
}

/// Content as Anthropic's shorthand string when it is one plain text block, else
/// blocks.
fn blocks_value(mut blocks: Vec<Value>) -> Value {
    if blocks.len() == 1
        && blocks[0]["type"] == "text"
        && blocks[0].get("cache_control").is_none()
        && let Some(block) = blocks.pop()
    {
        return block["text"].clone();
    }
    Value::Array(blocks)
}

/// Anthropic's `cache_control` for a breakpoint.
fn cache_control_json(c: &CacheControl) -> Value {
    if c.ttl.is_empty() {
        json!({"type": "ephemeral"})
    } else {
        json!({"type": "ephemeral", "ttl": c.ttl})
    }
}

/// Puts a message's cache breakpoint on its last block: the cached prefix ends
/// with the message.
fn mark_cache(blocks: &mut [Value], c: Option<&CacheControl>) {
    if let (Some(c), Some(last)) = (c, blocks.last_mut()) {
        last["cache_control"] = cache_control_json(c);
    }
}

fn text_block(text: &str) -> Value {
    json!({ "type": "text", "text": text })
}

fn system_blocks(i: usize, parts: &[ContentPart]) -> Result<Vec<Value>, ProviderError> {
    let mut blocks = Vec::new();
    for (j, p) in parts.iter().enumerate() {
        match &p.part {
            Some(Part::Text(t)) if t.is_empty() => {}
            Some(Part::Text(t)) => blocks.push(text_block(t)),
            _ => {
                return Err(ProviderError::invalid(
                    format!("messages[{i}].content[{j}]"),
                    "system messages take only text with provider kind anthropic",
                ));
            }
        }
    }
    Ok(blocks)
}

/// Text and image blocks. Empty text parts are dropped: Anthropic rejects empty
/// text blocks.
fn content_blocks(i: usize, parts: &[ContentPart]) -> Result<Vec<Value>, ProviderError> {
    let mut blocks = Vec::new();
    for (j, p) in parts.iter().enumerate() {
        match &p.part {
            Some(Part::Text(t)) if t.is_empty() => {}
            Some(Part::Text(t)) => blocks.push(text_block(t)),
            Some(Part::ImageUrl(img)) => blocks.push(image_block(i, j, &img.url)?),
            Some(Part::File(file)) => blocks.push(document_block(i, j, file)?),
            Some(Part::InputAudio(_)) => {
                return Err(ProviderError::invalid(
                    format!("messages[{i}].content[{j}]"),
                    "provider kind anthropic does not accept audio input",
                ));
            }
            None => {
                return Err(ProviderError::invalid(
                    format!("messages[{i}].content[{j}]"),
                    "empty content part",
                ));
            }
        }
    }
    Ok(blocks)
}

/// A document block: a PDF inline (base64 source) or by https URL (url source),
/// or plain text (text source, decoded). Other types Anthropic does not read.
fn document_block(i: usize, j: usize, file: &FileData) -> Result<Value, ProviderError> {
    let param = || format!("messages[{i}].content[{j}].file");
    let source = if !file.url.is_empty() {
        json!({"type": "url", "url": file.url})
    } else {
        match file.media_type.as_str() {
            "" | "application/pdf" => {
                json!({"type": "base64", "media_type": "application/pdf", "data": file.data})
            }
            "text/plain" => {
                use base64::Engine as _;
                let text = base64::engine::general_purpose::STANDARD
                    .decode(&file.data)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        ProviderError::invalid(param(), "must be base64 of UTF-8 text")
                    })?;
                json!({"type": "text", "media_type": "text/plain", "data": text})
            }
            _ => {
                return Err(ProviderError::invalid(
                    param(),
                    "provider kind anthropic reads PDF and plain-text documents",
                ));
            }
        }
    };
    let mut block = json!({"type": "document", "source": source});
    if !file.filename.is_empty() {
        block["title"] = file.filename.as_str().into();
    }
    Ok(block)
}

/// A data URL as a base64 source, an http(s) URL as a url source.
fn image_block(i: usize, j: usize, url: &str) -> Result<Value, ProviderError> {
    let param = || format!("messages[{i}].content[{j}].image_url.url");
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest.split_once(',').ok_or_else(|| {
            ProviderError::invalid(param(), "a data URL needs `,` before its data")
        })?;
        let media_type = meta
            .strip_suffix(";base64")
            .ok_or_else(|| ProviderError::invalid(param(), "only base64 data URLs are supported"))?
            .to_ascii_lowercase();
        if !IMAGE_TYPES.contains(&media_type.as_str()) {
            return Err(ProviderError::invalid(
                param(),
                "provider kind anthropic accepts image/jpeg, image/png, image/gif and image/webp",
            ));
        }
        return Ok(json!({
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }));
    }
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if matches!(scheme.as_deref(), Some("http" | "https")) {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(ProviderError::invalid(
        param(),
        "must be an http(s) URL or a base64 data URL",
    ))
}

/// Its reasoning as `thinking` / `redacted_thinking` blocks (first, as Anthropic
/// wrote them: it requires them back, signed, with tool use under thinking), text
/// (or the refusal it gave instead), then one `tool_use` block per call.
/// Reasoning without Claude's signature (unsigned, or another provider's) cannot
/// be sent to Anthropic and is left out.
fn assistant_blocks(i: usize, m: &Message) -> Result<Vec<Value>, ProviderError> {
    let mut blocks: Vec<Value> = m
        .reasoning
        .iter()
        .filter(|r| crate::signature::is_claude(r))
        .map(|r| {
            if r.redacted {
                json!({"type": "redacted_thinking", "data": r.signature})
            } else {
                json!({"type": "thinking", "thinking": r.text, "signature": r.signature})
            }
        })
        .collect();
    let thinking = blocks.len();
    blocks.extend(content_blocks(i, &m.content)?);
    if blocks.len() == thinking
        && let Some(refusal) = m.refusal.as_deref().filter(|r| !r.is_empty())
    {
        blocks.push(text_block(refusal));
    }
    for (k, call) in m.tool_calls.iter().enumerate() {
        let param = |field: &str| format!("messages[{i}].tool_calls[{k}].{field}");
        if call.id.is_empty() {
            return Err(ProviderError::invalid(param("id"), "is required"));
        }
        let function = call
            .function
            .as_ref()
            .ok_or_else(|| ProviderError::invalid(param("function"), "is required"))?;
        let input = match function.arguments.trim() {
            "" => json!({}),
            args => serde_json::from_str::<Value>(args)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| {
                    ProviderError::invalid(
                        param("function.arguments"),
                        "must be a JSON object for provider kind anthropic",
                    )
                })?,
        };
        blocks.push(json!({
            "type": "tool_use",
            "id": call.id,
            "name": function.name,
            "input": input,
        }));
    }
    Ok(blocks)
}

/// A tool message as a `tool_result` block answering its `tool_call_id`.
fn tool_result(i: usize, m: &Message) -> Result<Value, ProviderError> {
    let id = m
        .tool_call_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            ProviderError::invalid(
                format!("messages[{i}].tool_call_id"),
                "tool messages need the tool_call_id they answer",
            )
        })?;
    let mut block = json!({"type": "tool_result", "tool_use_id": id});
    let content = content_blocks(i, &m.content)?;
    if !content.is_empty() {
        block["content"] = blocks_value(content);
    }
    Ok(block)
}

/// An OpenAI function tool as an Anthropic client tool.
fn tool_json(i: usize, tool: &Tool) -> Result<Value, ProviderError> {
    if !tool.r#type.is_empty() && tool.r#type != "function" {
        return Err(ProviderError::invalid(
            format!("tools[{i}].type"),
            "provider kind anthropic supports function tools only",
        ));
    }
    let f = tool
        .function
        .as_ref()
        .ok_or_else(|| ProviderError::invalid(format!("tools[{i}].function"), "is required"))?;
    let mut obj = Map::new();
    obj.insert("name".into(), f.name.as_str().into());
    if let Some(d) = &f.description {
        obj.insert("description".into(), d.as_str().into());
    }
    // A function without parameters takes none; Anthropic requires a schema.
    let schema = f
        .parameters
        .as_ref()
        .map_or_else(|| json!({"type": "object", "properties": {}}), struct_json);
    obj.insert("input_schema".into(), schema);
    if let Some(strict) = f.strict {
        obj.insert("strict".into(), strict.into());
    }
    if let Some(c) = &tool.cache_control {
        obj.insert("cache_control".into(), cache_control_json(c));
    }
    Ok(Value::Object(obj))
}

/// The thinking budget `reasoning_effort` asks of Claude (the same budgets the
/// Gemini adapter uses for its thinking budget), or `None` for no thinking:
/// `none`, an unset effort, or a `thinking` given in `provider_options`, which
/// wins. Kind `bedrock` asks it too, for Claude models.
/// Claude's extended thinking takes no temperature but 1.
pub(crate) fn refuse_temperature(req: &ChatRequest) -> Result<(), ProviderError> {
    if req.temperature.is_some_and(|t| t != 1.0) {
        return Err(ProviderError::invalid(
            "temperature",
            "Claude's extended thinking (asked for by `reasoning_effort`) takes no \
             temperature but 1",
        ));
    }
    Ok(())
}

pub(crate) fn thinking_budget(req: &ChatRequest) -> Result<Option<u32>, ProviderError> {
    let explicit = req
        .provider_options
        .as_ref()
        .is_some_and(|o| o.fields.contains_key("thinking"));
    let Some(effort) = req.reasoning_effort.as_deref().filter(|_| !explicit) else {
        return Ok(None);
    };
    Ok(match effort {
        "none" => None,
        "minimal" | "low" => Some(1024),
        "medium" => Some(8192),
        "high" => Some(24_576),
        _ => {
            return Err(ProviderError::invalid(
                "reasoning_effort",
                "must be none, minimal, low, medium or high",
            ));
        }
    })
}

/// `tool_choice`: auto, none, required → any, a named function → tool; with
/// `parallel_tool_calls: false` as `disable_parallel_tool_use`.
fn tool_choice(req: &ChatRequest) -> Result<Option<Value>, ProviderError> {
    let serial = req.parallel_tool_calls == Some(false);
    let mut choice = match req.tool_choice.as_ref().and_then(|c| c.choice.as_ref()) {
        None if serial => json!({"type": "auto"}),
        None => return Ok(None),
        Some(ToolChoiceKind::Mode(mode)) => match mode.as_str() {
            "auto" => json!({"type": "auto"}),
            "required" => json!({"type": "any"}),
            "none" => return Ok(Some(json!({"type": "none"}))),
            _ => {
                return Err(ProviderError::invalid(
                    "tool_choice",
                    "must be none, auto, required or a named function",
                ));
            }
        },
        Some(ToolChoiceKind::FunctionName(name)) => json!({"type": "tool", "name": name}),
    };
    if serial {
        choice["disable_parallel_tool_use"] = true.into();
    }
    Ok(Some(choice))
}

/// `output_config.format` for a `json_schema` response format. Anthropic has no
/// schema-less JSON mode, so `json_object` is refused rather than silently ignored.
fn output_format(req: &ChatRequest) -> Result<Option<Value>, ProviderError> {
    match req.response_format.as_ref().and_then(|f| f.format.as_ref()) {
        None | Some(Format::Text(_)) => Ok(None),
        Some(Format::JsonObject(_)) => Err(ProviderError::invalid(
            "response_format",
            "`response_format` `json_object` is not supported by provider kind \
             anthropic, which has no JSON mode without a schema; use `json_schema` \
             with a schema, or a tool",
        )),
        Some(Format::JsonSchema(s)) => {
            let schema = s.schema.as_ref().ok_or_else(|| {
                ProviderError::invalid(
                    "response_format.json_schema.schema",
                    "is required for provider kind anthropic",
                )
            })?;
            Ok(Some(
                json!({"type": "json_schema", "schema": struct_json(schema)}),
            ))
        }
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
