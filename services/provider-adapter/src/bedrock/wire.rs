//! The Converse request body, built from Switchyard's types.
//!
//! Converse differs from OpenAI's format in ways callers never see: system prompts
//! go to `system`, roles strictly alternate (consecutive same-role messages are
//! merged, and tool results become `toolResult` blocks of a user turn), tool calls
//! are `toolUse` blocks with parsed JSON input, signed reasoning goes back as
//! `reasoningContent` blocks, cache breakpoints become `cachePoint` entries (after
//! the message, system prompt or tool that carries one; Converse takes no TTL),
//! and images are inline bytes only.
//! What Converse cannot do is refused with INVALID_ARGUMENT rather than dropped:
//! `n` > 1, `logprobs: true` (Converse returns no log probabilities), `json_object`
//! output, image URLs (the adapter does not fetch URLs for callers: that would be
//! server-side request forgery), audio input.
//!
//! Ignored, as Converse has no such field: `seed`, `presence_penalty`,
//! `frequency_penalty`, `top_logprobs`, `parallel_tool_calls`, `user`, and
//! `reasoning_effort` for models other than Claude (model-specific reasoning
//! settings go through `provider_options`, which become
//! `additionalModelRequestFields`); for Claude it is extended thinking
//! ([`claude_thinking`]).

use serde_json::{Map, Value, json};
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::response_format::Format;
use switchyard_proto::types::v1::tool_choice::Choice as ToolChoiceKind;
use switchyard_proto::types::v1::{ChatRequest, ContentPart, FileData, Message, Role, Tool};

use crate::ProviderError;
use crate::openai_wire::{struct_json, value_json};

/// `provider_options` keys that are Converse request fields, set at the top level;
/// every other key is a model-specific field in `additionalModelRequestFields`.
const TOP_LEVEL_OPTIONS: [&str; 6] = [
    "guardrailConfig",
    "performanceConfig",
    "requestMetadata",
    "additionalModelResponseFieldPaths",
    "promptVariables",
    "serviceTier",
];

/// The JSON body of `POST /model/{modelId}/converse` (and `/converse-stream`,
/// which takes the same body).
pub fn converse_body(req: &ChatRequest) -> Result<Value, ProviderError> {
    converse_request(req).map(Value::Object)
}

/// `reasoning_effort` as Claude's extended thinking, for Claude models (ids with
/// `anthropic.claude`): `additionalModelRequestFields.thinking` with the budget
/// kind `anthropic` uses, added to `maxTokens` (4096 when unset) so the caller's
/// limit stays the answer's own. A `thinking` the caller set, at the top of
/// `provider_options` or in its `additionalModelRequestFields`, wins. Other
/// models' reasoning settings differ: for them the effort is not sent.
pub fn claude_thinking(
    body: &mut Value,
    model: &str,
    req: &ChatRequest,
) -> Result<(), ProviderError> {
    if !model.contains("anthropic.claude")
        || body["additionalModelRequestFields"]
            .get("thinking")
            .is_some()
    {
        return Ok(());
    }
    let Some(budget) = crate::anthropic::thinking_budget(req)? else {
        return Ok(());
    };
    crate::anthropic::refuse_temperature(req)?;
    let max = req.max_tokens.unwrap_or(4096) + budget;
    body["inferenceConfig"]["maxTokens"] = max.into();
    body["additionalModelRequestFields"]["thinking"] =
        json!({"type": "enabled", "budget_tokens": budget});
    Ok(())
}

/// [`converse_body`]'s members, for bodies that trim them (CountTokens).
pub fn converse_request(req: &ChatRequest) -> Result<Map<String, Value>, ProviderError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(ProviderError::invalid(
            "n",
            "Bedrock Converse generates one choice per request; n must be 1",
        ));
    }
    if req.logprobs == Some(true) {
        return Err(ProviderError::invalid(
            "logprobs",
            "Bedrock Converse does not return log probabilities",
        ));
    }
    let mut body = Map::new();
    let (system, messages) = conversation(&req.messages)?;
    body.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    let mut inference = Map::new();
    if let Some(max) = req.max_tokens {
        inference.insert("maxTokens".into(), max.into());
    }
    if let Some(t) = req.temperature {
        inference.insert("temperature".into(), t.into());
    }
    if let Some(p) = req.top_p {
        inference.insert("topP".into(), p.into());
    }
    if !req.stop.is_empty() {
        inference.insert("stopSequences".into(), req.stop.clone().into());
    }
    if !inference.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(inference));
    }
    if let Some(tools) = tool_config(req, &body)? {
        body.insert("toolConfig".into(), tools);
    }
    if let Some(output) = output_config(req)? {
        body.insert("outputConfig".into(), output);
    }
    merge_options(&mut body, req.provider_options.as_ref());
    Ok(body)
}

/// One Converse turn while merging.
struct Turn {
    role: &'static str,
    content: Vec<Value>,
}

/// `system` blocks and the alternating turns.
fn conversation(messages: &[Message]) -> Result<(Vec<Value>, Vec<Value>), ProviderError> {
    let mut system = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    let mut push = |role: &'static str, blocks: Vec<Value>| match turns.last_mut() {
        _ if blocks.is_empty() => {}
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => turns.push(Turn {
            role,
            content: blocks,
        }),
    };
    for (i, m) in messages.iter().enumerate() {
        match Role::try_from(m.role) {
            Ok(Role::System | Role::Developer) => {
                let before = system.len();
                for (j, part) in m.content.iter().enumerate() {
                    match &part.part {
                        Some(Part::Text(t)) if !t.is_empty() => system.push(json!({"text": t})),
                        Some(Part::Text(_)) => {}
                        _ => {
                            return Err(ProviderError::invalid(
                                format!("messages[{i}].content[{j}]"),
                                "system messages take text only on Bedrock",
                            ));
                        }
                    }
                }
                if m.cache_control.is_some() && system.len() > before {
                    system.push(cache_point());
                }
            }
            Ok(Role::User) => push("user", cached(m, user_blocks(i, &m.content)?)),
            Ok(Role::Assistant) => push("assistant", cached(m, assistant_blocks(i, m)?)),
            Ok(Role::Tool) => push("user", cached(m, vec![tool_result(i, m)?])),
            Ok(Role::Unspecified) | Err(_) => {
                return Err(ProviderError::invalid(
                    format!("messages[{i}].role"),
                    "must be system, user, assistant, tool or developer",
                ));
            }
        }
    }
    let messages = turns
        .into_iter()
        .map(|t| json!({"role": t.role, "content": t.content}))
        .collect();
    Ok((system, messages))
}

/// Text and image blocks of a user message (Converse rejects blank text blocks, so
/// empty text parts are left out).
fn user_blocks(i: usize, parts: &[ContentPart]) -> Result<Vec<Value>, ProviderError> {
    let mut blocks = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let param = || format!("messages[{i}].content[{j}]");
        match &part.part {
            Some(Part::Text(t)) if t.is_empty() => {}
            Some(Part::Text(t)) => blocks.push(json!({"text": t})),
            Some(Part::ImageUrl(image)) => blocks.push(image_block(&image.url, param)?),
            Some(Part::File(file)) => blocks.push(document_block(j, file, param)?),
            Some(Part::InputAudio(_)) => {
                return Err(ProviderError::invalid(
                    param(),
                    "Bedrock Converse takes no audio input",
                ));
            }
            None => return Err(ProviderError::invalid(param(), "empty content part")),
        }
    }
    Ok(blocks)
}

/// A file part as a `document` block: inline bytes only, in one of the formats
/// Converse reads, named as Converse allows (letters, digits, single spaces,
/// hyphens, parentheses and brackets; `document-<j>` when the caller gave none).
fn document_block(
    j: usize,
    file: &FileData,
    param: impl Fn() -> String,
) -> Result<Value, ProviderError> {
    if file.data.is_empty() {
        return Err(ProviderError::invalid(
            format!("{}.file", param()),
            "Bedrock takes documents as inline bytes (document URLs are not fetched)",
        ));
    }
    let format = match file.media_type.as_str() {
        "" | "application/pdf" => "pdf",
        "text/plain" => "txt",
        "text/markdown" => "md",
        "text/html" => "html",
        "text/csv" => "csv",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        other => {
            return Err(ProviderError::invalid(
                format!("{}.file.media_type", param()),
                format!("Bedrock Converse reads no `{other}` documents"),
            ));
        }
    };
    let stem = file
        .filename
        .rsplit_once('.')
        .map_or(file.filename.as_str(), |(s, _)| s);
    let mut name = String::new();
    for c in stem.chars() {
        let c = if c.is_ascii_alphanumeric() || "-()[]".contains(c) {
            c
        } else if c.is_whitespace() {
            ' '
        } else {
            '-'
        };
        if !(c == ' ' && name.ends_with(' ')) {
            name.push(c);
        }
    }
    let name = match name.trim() {
        "" => format!("document-{j}"),
        n => n.to_string(),
    };
    Ok(json!({"document": {"format": format, "name": name, "source": {"bytes": file.data}}}))
}

/// An image part as an `image` block: base64 `data:` URLs only.
fn image_block(url: &str, param: impl Fn() -> String) -> Result<Value, ProviderError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return Err(ProviderError::invalid(
            format!("{}.image_url.url", param()),
            "Bedrock takes images as inline bytes: send the image as a base64 data: URL \
             (image URLs are not fetched)",
        ));
    }
    let malformed = || {
        ProviderError::invalid(
            format!("{}.image_url.url", param()),
            "must be a data:image/{png|jpeg|gif|webp};base64,... URL",
        )
    };
    let rest = url.strip_prefix("data:").ok_or_else(malformed)?;
    let (meta, data) = rest.split_once(',').ok_or_else(malformed)?;
    let mut params = meta.split(';');
    let mime = params
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if !params.any(|p| p.trim().eq_ignore_ascii_case("base64")) || data.is_empty() {
        return Err(malformed());
    }
    let format = match mime.as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => {
            return Err(ProviderError::invalid(
                format!("{}.image_url.url", param()),
                "Bedrock takes png, jpeg, gif and webp images",
            ));
        }
    };
    // JSON carries blobs as base64: the data URL's payload is passed as it is.
    Ok(json!({"image": {"format": format, "source": {"bytes": data}}}))
}

/// Converse's prompt-cache breakpoint: the prefix up to here may be cached.
fn cache_point() -> Value {
    json!({"cachePoint": {"type": "default"}})
}

/// A message's blocks, followed by a `cachePoint` when it carries a breakpoint.
fn cached(m: &Message, mut blocks: Vec<Value>) -> Vec<Value> {
    if m.cache_control.is_some() && !blocks.is_empty() {
        blocks.push(cache_point());
    }
    blocks
}

/// An assistant message's signed reasoning as `reasoningContent` blocks (first,
/// as the model wrote them: Claude requires them back when thinking is on and
/// tools are used; reasoning unsigned or signed by another provider is not sent),
/// then its text and `toolUse` blocks.
fn assistant_blocks(i: usize, m: &Message) -> Result<Vec<Value>, ProviderError> {
    let mut blocks: Vec<Value> = m
        .reasoning
        .iter()
        .filter(|r| crate::signature::is_claude(r))
        .map(|r| {
            if r.redacted {
                json!({"reasoningContent": {"redactedContent": r.signature}})
            } else {
                json!({"reasoningContent": {"reasoningText": {"text": r.text, "signature": r.signature}}})
            }
        })
        .collect();
    for (j, part) in m.content.iter().enumerate() {
        match &part.part {
            Some(Part::Text(t)) if t.is_empty() => {}
            Some(Part::Text(t)) => blocks.push(json!({"text": t})),
            _ => {
                return Err(ProviderError::invalid(
                    format!("messages[{i}].content[{j}]"),
                    "assistant messages take text only",
                ));
            }
        }
    }
    if let Some(refusal) = m.refusal.as_deref().filter(|r| !r.is_empty()) {
        blocks.push(json!({"text": refusal}));
    }
    for (j, call) in m.tool_calls.iter().enumerate() {
        let function = call.function.clone().unwrap_or_default();
        let arguments = function.arguments.trim();
        let input: Value = if arguments.is_empty() {
            json!({})
        } else {
            serde_json::from_str(arguments).map_err(|_| {
                ProviderError::invalid(
                    format!("messages[{i}].tool_calls[{j}].function.arguments"),
                    "must be JSON (Bedrock takes tool input as a JSON value)",
                )
            })?
        };
        blocks.push(json!({
            "toolUse": {"toolUseId": call.id, "name": function.name, "input": input}
        }));
    }
    Ok(blocks)
}

/// A tool message as a `toolResult` block (its text, and any images).
fn tool_result(i: usize, m: &Message) -> Result<Value, ProviderError> {
    let id = m
        .tool_call_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            ProviderError::invalid(
                format!("messages[{i}].tool_call_id"),
                "is required for tool messages",
            )
        })?;
    let mut content = Vec::new();
    let mut text = String::new();
    for (j, part) in m.content.iter().enumerate() {
        match &part.part {
            Some(Part::Text(t)) => text.push_str(t),
            Some(Part::ImageUrl(image)) => content.push(image_block(&image.url, || {
                format!("messages[{i}].content[{j}]")
            })?),
            _ => {
                return Err(ProviderError::invalid(
                    format!("messages[{i}].content[{j}]"),
                    "tool results take text and images only",
                ));
            }
        }
    }
    if !text.is_empty() || content.is_empty() {
        content.insert(0, json!({"text": text}));
    }
    Ok(json!({"toolResult": {"toolUseId": id, "content": content}}))
}

/// `toolConfig`: the tools and how the model may use them. `tool_choice: none` has
/// no Converse equivalent; it is honoured by sending no tools, which Converse
/// allows only while the conversation holds no tool blocks.
fn tool_config(
    req: &ChatRequest,
    body: &Map<String, Value>,
) -> Result<Option<Value>, ProviderError> {
    if req.tools.is_empty() {
        return Ok(None);
    }
    let choice = match req.tool_choice.as_ref().and_then(|c| c.choice.as_ref()) {
        None => None,
        Some(ToolChoiceKind::Mode(mode)) => match mode.as_str() {
            "auto" | "" => Some(json!({"auto": {}})),
            "required" => Some(json!({"any": {}})),
            "none" => {
                let has_tool_blocks = body
                    .get("messages")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.get("content").and_then(Value::as_array))
                    .flatten()
                    .any(|b| b.get("toolUse").is_some() || b.get("toolResult").is_some());
                if has_tool_blocks {
                    return Err(ProviderError::invalid(
                        "tool_choice",
                        "Bedrock Converse has no tool_choice none once the conversation \
                         holds tool calls; use auto",
                    ));
                }
                return Ok(None);
            }
            _ => {
                return Err(ProviderError::invalid(
                    "tool_choice",
                    "must be none, auto or required",
                ));
            }
        },
        Some(ToolChoiceKind::FunctionName(name)) => Some(json!({"tool": {"name": name}})),
    };
    let tools = req
        .tools
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let spec = tool_spec(i, t)?;
            // A breakpoint after a tool is a `cachePoint` entry after its spec.
            Ok(std::iter::once(spec).chain(t.cache_control.as_ref().map(|_| cache_point())))
        })
        .collect::<Result<Vec<_>, ProviderError>>()?
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
    let mut config = json!({"tools": tools});
    if let Some(choice) = choice {
        config["toolChoice"] = choice;
    }
    Ok(Some(config))
}

fn tool_spec(i: usize, tool: &Tool) -> Result<Value, ProviderError> {
    if !matches!(tool.r#type.as_str(), "" | "function") {
        return Err(ProviderError::invalid(
            format!("tools[{i}].type"),
            "Bedrock takes function tools only",
        ));
    }
    let function = tool
        .function
        .as_ref()
        .ok_or_else(|| ProviderError::invalid(format!("tools[{i}].function"), "is required"))?;
    let schema = function
        .parameters
        .as_ref()
        .map(struct_json)
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    let mut spec = json!({"name": function.name, "inputSchema": {"json": schema}});
    if let Some(d) = function.description.as_deref().filter(|d| !d.is_empty()) {
        spec["description"] = d.into();
    }
    Ok(json!({"toolSpec": spec}))
}

/// `outputConfig.textFormat` for a JSON schema (structured outputs; the schema is
/// sent as a JSON string, as Converse wants). Converse has no schema-less JSON mode.
fn output_config(req: &ChatRequest) -> Result<Option<Value>, ProviderError> {
    match req.response_format.as_ref().and_then(|f| f.format.as_ref()) {
        None | Some(Format::Text(_)) => Ok(None),
        Some(Format::JsonObject(_)) => Err(ProviderError::invalid(
            "response_format",
            "Bedrock Converse has no JSON mode without a schema; use json_schema",
        )),
        Some(Format::JsonSchema(s)) => {
            let schema = s.schema.as_ref().map(struct_json).ok_or_else(|| {
                ProviderError::invalid("response_format.json_schema.schema", "is required")
            })?;
            let mut definition = json!({"schema": schema.to_string()});
            if !s.name.is_empty() {
                definition["name"] = s.name.as_str().into();
            }
            if let Some(d) = s.description.as_deref().filter(|d| !d.is_empty()) {
                definition["description"] = d.into();
            }
            Ok(Some(json!({
                "textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}
            })))
        }
    }
}

/// `provider_options`: Converse fields at the top level, model fields (and an
/// explicit `additionalModelRequestFields` object) in `additionalModelRequestFields`.
fn merge_options(body: &mut Map<String, Value>, options: Option<&prost_types::Struct>) {
    let mut additional = Map::new();
    for (key, value) in options.into_iter().flat_map(|o| o.fields.iter()) {
        let value = value_json(value);
        if TOP_LEVEL_OPTIONS.contains(&key.as_str()) {
            body.insert(key.clone(), value);
        } else if key == "additionalModelRequestFields" {
            if let Value::Object(fields) = value {
                additional.extend(fields);
            }
        } else {
            additional.insert(key.clone(), value);
        }
    }
    if !additional.is_empty() {
        body.insert(
            "additionalModelRequestFields".into(),
            Value::Object(additional),
        );
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
