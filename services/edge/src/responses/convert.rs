//! Responses API JSON into `types.v1.ChatRequest` (the answers' side, output items,
//! status and usage, is `super::output`, re-exported here).
//!
//! Input items map onto chat messages: `instructions` is a system message first; a
//! `message` item is a message of its role; consecutive `function_call` items are
//! the tool calls of one assistant message (joined to the assistant message just
//! before them, if any); a `function_call_output` is a tool message; a
//! `reasoning` item is reasoning of the assistant message that follows it, with
//! its `encrypted_content` (Switchyard's own, see [`encrypted`]) restoring the
//! provider's signature. `previous_response_id` and `conversation` are resolved
//! before translation (`super::store`, which removes them); `item_reference`
//! items are refused.

use serde_json::{Map, Value, json};
use switchyard_error::ApiError;
use switchyard_proto::types::v1 as pb;

pub use super::output::{
    Head, call_ids, message_id, now_secs, output, reasoning_id, reasoning_item, status,
};
use super::wire;
use crate::convert::chat::{data_url_file, non_empty, plain, required, text_part, unsupported};
use crate::convert::json::{to_options, to_struct};
use crate::wire::{ModeOrObject, StringOrSeq};

/// Responses-only fields accepted and dropped, never forwarded: `store` (read by
/// `super::store` before translation), `max_tool_calls` (a limit on built-in tools,
/// which are refused) and `stream_options` (`include_obfuscation` pads events
/// against side channels of OpenAI's own network path).
const NOTHING_TO_FORWARD: [&str; 3] = ["store", "max_tool_calls", "stream_options"];

/// The `include` value that asks for log probabilities.
const LOGPROBS: &str = "message.output_text.logprobs";

/// The `include` value that asks for reasoning items' `encrypted_content`.
const ENCRYPTED_REASONING: &str = "reasoning.encrypted_content";

/// How a redacted block's encrypted reasoning is marked in `encrypted_content`
/// (a signature, base64, never contains ':').
const REDACTED: &str = "redacted:";

/// A reasoning block's `encrypted_content`: its signature, or a redacted block's
/// encrypted reasoning marked as such; `None` when the provider gave neither.
pub fn encrypted(r: &pb::Reasoning) -> Option<String> {
    match (r.redacted, r.signature.is_empty()) {
        (_, true) => None,
        (false, false) => Some(r.signature.clone()),
        (true, false) => Some(format!("{REDACTED}{}", r.signature)),
    }
}

/// The reasoning block an input `reasoning` item stands for; `None` when it has
/// neither text nor `encrypted_content` (a summary alone, nothing to send back).
fn reasoning_block(
    i: usize,
    content: Option<StringOrSeq<wire::ContentPart>>,
    encrypted: Option<String>,
) -> Result<Option<pb::Reasoning>, ApiError> {
    let mut text = String::new();
    match content {
        None => {}
        Some(StringOrSeq::String(s)) => text = s,
        Some(StringOrSeq::Seq(parts)) => {
            for (j, p) in parts.into_iter().enumerate() {
                let at = |f: &str| format!("input[{i}].content[{j}].{f}");
                match required(p.kind, || at("type"))?.as_str() {
                    "reasoning_text" => text.push_str(&required(p.text, || at("text"))?),
                    other => return Err(unsupported(at("type"), other, "'reasoning_text'")),
                }
            }
        }
    }
    let encrypted = encrypted.unwrap_or_default();
    let (signature, redacted) = match encrypted.strip_prefix(REDACTED) {
        Some(data) => (data.to_string(), true),
        None => (encrypted, false),
    };
    if text.is_empty() && signature.is_empty() {
        return Ok(None);
    }
    Ok(Some(pb::Reasoning {
        text,
        signature,
        redacted,
    }))
}

/// The Gateway request for a Responses body, and what the answer echoes back.
pub fn request(req: wire::ResponsesRequest) -> Result<(pb::ChatRequest, wire::Echo), ApiError> {
    refuse_stored_state(&req)?;
    let truncation = match req.truncation.as_deref() {
        None | Some("disabled") => "disabled",
        Some("auto") => "auto",
        Some(other) => {
            return Err(ApiError::invalid(
                "truncation",
                format!("Invalid value: '{other}'. Supported values are: 'auto' and 'disabled'."),
            ));
        }
    };
    let model = non_empty(req.model, || "model".into())?;
    let mut messages = Vec::new();
    if let Some(text) = req.instructions.clone().filter(|t| !t.is_empty()) {
        messages.push(plain(pb::Role::System, vec![text_part(text)]));
    }
    match required(req.input, || "input".into())? {
        StringOrSeq::String(text) => messages.push(plain(pb::Role::User, vec![text_part(text)])),
        StringOrSeq::Seq(items) => {
            let mut reasoning = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                input_item(i, item, &mut messages, &mut reasoning)?;
            }
        }
    }
    if messages.iter().all(|m| m.role == pb::Role::System as i32) {
        return Err(ApiError::invalid(
            "input",
            "'input' must contain at least one item.",
        ));
    }
    let mut tools = Vec::new();
    let mut tools_echo = Vec::new();
    for (i, t) in req.tools.unwrap_or_default().into_iter().enumerate() {
        let (tool, echo) = tool(i, t)?;
        tools.push(tool);
        tools_echo.push(echo);
    }
    let (tool_choice, tool_choice_echo) = match req.tool_choice {
        None => (None, json!("auto")),
        Some(c) => {
            let (choice, echo) = tool_choice(c)?;
            (Some(choice), echo)
        }
    };
    let mut extra = req.extra;
    for key in NOTHING_TO_FORWARD {
        extra.remove(key);
    }
    let (response_format, text_echo) = match req.text {
        None => (None, json!({"format": {"type": "text"}})),
        Some(text) => {
            if let Some(verbosity) = text.verbosity.clone() {
                extra.insert("verbosity".into(), Value::String(verbosity));
            }
            text_format(text)?
        }
    };
    let reasoning = req
        .reasoning
        .map_or_else(wire::ReasoningEcho::default, |r| wire::ReasoningEcho {
            effort: r.effort,
            summary: r.summary,
        });
    let encrypted_reasoning = req
        .include
        .as_deref()
        .is_some_and(|i| i.iter().any(|v| v == ENCRYPTED_REASONING));
    let wants_logprobs = req
        .include
        .as_deref()
        .is_some_and(|i| i.iter().any(|v| v == LOGPROBS))
        || req.top_logprobs.is_some_and(|n| n > 0);
    let metadata = req.metadata.unwrap_or_default();
    let chat = pb::ChatRequest {
        model,
        messages,
        temperature: req.temperature,
        top_p: req.top_p,
        max_tokens: req.max_output_tokens,
        tools,
        tool_choice,
        parallel_tool_calls: req.parallel_tool_calls,
        response_format,
        user: req.user.clone(),
        metadata: metadata.clone(),
        provider_options: to_options(extra),
        // The usage goes in `response.completed`.
        include_usage: true,
        logprobs: wants_logprobs.then_some(true),
        top_logprobs: req.top_logprobs,
        reasoning_effort: reasoning.effort.clone(),
        ..Default::default()
    };
    let echo = wire::Echo {
        instructions: req.instructions,
        max_output_tokens: req.max_output_tokens,
        metadata,
        parallel_tool_calls: req.parallel_tool_calls.unwrap_or(true),
        previous_response_id: None,
        reasoning,
        conversation: None,
        store: false,
        background: false,
        temperature: req.temperature,
        text: text_echo,
        tool_choice: tool_choice_echo,
        tools: tools_echo,
        top_p: req.top_p,
        top_logprobs: req.top_logprobs,
        truncation: truncation.into(),
        user: req.user,
        encrypted_reasoning,
    };
    Ok((chat, echo))
}

/// Checks `items` as `input` would take them (so a conversation holds nothing a
/// later response would refuse), naming a bad one as `{param}[i]…`.
pub fn check_items(param: &str, items: &[Value]) -> Result<(), ApiError> {
    let (mut messages, mut reasoning) = (Vec::new(), Vec::new());
    for (i, item) in items.iter().enumerate() {
        let parsed: wire::InputItem = serde_json::from_value(item.clone())
            .map_err(|e| ApiError::invalid(format!("{param}[{i}]"), e.to_string()))?;
        input_item(i, parsed, &mut messages, &mut reasoning).map_err(|mut e| {
            e.param = e.param.map(|p| {
                p.strip_prefix("input")
                    .map_or(p.clone(), |rest| format!("{param}{rest}"))
            });
            e
        })?;
    }
    Ok(())
}

/// Refuses what would need responses or conversations kept between requests.
fn refuse_stored_state(req: &wire::ResponsesRequest) -> Result<(), ApiError> {
    if let Some(id) = &req.previous_response_id {
        return Err(ApiError::invalid(
            "previous_response_id",
            // The route resolves it first; a request that skipped that cannot.
            format!("Previous response with id '{id}' not found."),
        ));
    }
    if req.conversation.is_some() {
        return Err(ApiError::invalid(
            "conversation",
            // The route resolves it first; a request that skipped that cannot.
            "Conversations are resolved before translation.",
        ));
    }
    if req.background == Some(true) {
        return Err(ApiError::invalid(
            "background",
            "Background responses are not supported: Switchyard does not store responses.",
        ));
    }
    if req.prompt.is_some() {
        return Err(ApiError::invalid(
            "prompt",
            "Stored prompts are not supported: send 'instructions' and 'input'.",
        ));
    }
    Ok(())
}

/// Appends the chat message (or the tool call) of `input[i]`. Reasoning items
/// wait in `reasoning` for the assistant message they came before.
fn input_item(
    i: usize,
    item: wire::InputItem,
    out: &mut Vec<pb::Message>,
    reasoning: &mut Vec<pb::Reasoning>,
) -> Result<(), ApiError> {
    let at = |f: &str| format!("input[{i}].{f}");
    // EasyInputMessage has no `type`.
    let kind = item.kind.as_deref().unwrap_or("message");
    match kind {
        "message" => {
            let mut m = message(i, item)?;
            if m.role == pb::Role::Assistant as i32 {
                m.reasoning = std::mem::take(reasoning);
            }
            out.push(m);
        }
        "function_call" => {
            let call = pb::ToolCall {
                id: non_empty(item.call_id, || at("call_id"))?,
                r#type: "function".into(),
                function: Some(pb::FunctionCall {
                    name: non_empty(item.name, || at("name"))?,
                    arguments: item.arguments.unwrap_or_default(),
                }),
            };
            match out.last_mut() {
                Some(last) if last.role == pb::Role::Assistant as i32 && reasoning.is_empty() => {
                    last.tool_calls.push(call);
                }
                _ => out.push(pb::Message {
                    role: pb::Role::Assistant.into(),
                    tool_calls: vec![call],
                    reasoning: std::mem::take(reasoning),
                    ..Default::default()
                }),
            }
        }
        "function_call_output" => {
            let call_id = non_empty(item.call_id, || at("call_id"))?;
            let text = match required(item.output, || at("output"))? {
                StringOrSeq::String(s) => s,
                StringOrSeq::Seq(parts) => {
                    let mut text = String::new();
                    for (j, p) in parts.into_iter().enumerate() {
                        let at = |f: &str| format!("input[{i}].output[{j}].{f}");
                        match required(p.kind, || at("type"))?.as_str() {
                            "input_text" | "output_text" => {
                                text.push_str(&required(p.text, || at("text"))?);
                            }
                            other => return Err(unsupported(at("type"), other, "'input_text'")),
                        }
                    }
                    text
                }
            };
            out.push(pb::Message {
                role: pb::Role::Tool.into(),
                content: vec![text_part(text)],
                tool_call_id: Some(call_id),
                ..Default::default()
            });
        }
        "reasoning" => {
            reasoning.extend(reasoning_block(i, item.content, item.encrypted_content)?);
        }
        "item_reference" => {
            return Err(ApiError::invalid(
                at("type"),
                "Item references are not supported: Switchyard does not store responses. \
                 Send the item itself.",
            ));
        }
        other => {
            return Err(unsupported(
                at("type"),
                other,
                "'message', 'function_call', 'function_call_output' and 'reasoning'",
            ));
        }
    }
    Ok(())
}

fn message(i: usize, item: wire::InputItem) -> Result<pb::Message, ApiError> {
    let at = |f: &str| format!("input[{i}].{f}");
    let role = match required(item.role, || at("role"))?.as_str() {
        "user" => pb::Role::User,
        "assistant" => pb::Role::Assistant,
        "system" => pb::Role::System,
        "developer" => pb::Role::Developer,
        other => {
            return Err(ApiError::invalid(
                at("role"),
                format!(
                    "Invalid value: '{other}'. Supported values are: 'user', 'assistant', \
                     'system' and 'developer'."
                ),
            ));
        }
    };
    let mut m = plain(role, Vec::new());
    match required(item.content, || at("content"))? {
        StringOrSeq::String(text) => m.content.push(text_part(text)),
        StringOrSeq::Seq(parts) => {
            for (j, p) in parts.into_iter().enumerate() {
                content_part(i, j, p, &mut m)?;
            }
        }
    }
    Ok(m)
}

fn content_part(
    i: usize,
    j: usize,
    p: wire::ContentPart,
    m: &mut pb::Message,
) -> Result<(), ApiError> {
    let at = |f: &str| format!("input[{i}].content[{j}].{f}");
    let kind = required(p.kind, || at("type"))?;
    let part = match kind.as_str() {
        // `output_text` is an earlier answer sent back as history.
        "input_text" | "output_text" => {
            pb::content_part::Part::Text(required(p.text, || at("text"))?)
        }
        "input_image" => {
            if p.file_id.is_some() && p.image_url.is_none() {
                return Err(ApiError::invalid(
                    at("file_id"),
                    "Stored files are not supported: send the image as 'image_url' (an \
                     https or data: URL).",
                ));
            }
            pb::content_part::Part::ImageUrl(pb::ImageUrl {
                url: non_empty(p.image_url, || at("image_url"))?,
                detail: p.detail.unwrap_or_default(),
            })
        }
        "input_file" => {
            if let Some(url) = p.file_data {
                pb::content_part::Part::File(data_url_file(&url, p.filename, || at("file_data"))?)
            } else if let Some(url) = p.file_url {
                pb::content_part::Part::File(pb::FileData {
                    url,
                    filename: p.filename.unwrap_or_default(),
                    ..Default::default()
                })
            } else if p.file_id.is_some() {
                return Err(ApiError::invalid(
                    at("file_id"),
                    "Stored files are not supported: send the file as 'file_data' (a \
                     base64 data: URL) or 'file_url'.",
                ));
            } else {
                return Err(ApiError::invalid(
                    at("file_data"),
                    format!("Missing required parameter: '{}'.", at("file_data")),
                ));
            }
        }
        "refusal" if m.role == pb::Role::Assistant as i32 => {
            m.refusal = Some(required(p.refusal, || at("refusal"))?);
            return Ok(());
        }
        other => {
            return Err(unsupported(
                at("type"),
                other,
                "'input_text', 'input_image', 'input_file', and for assistant messages \
                 'output_text' and 'refusal'",
            ));
        }
    };
    m.content.push(pb::ContentPart { part: Some(part) });
    Ok(())
}

/// A function tool, and its echo.
fn tool(i: usize, t: wire::Tool) -> Result<(pb::Tool, Value), ApiError> {
    let at = |f: &str| format!("tools[{i}].{f}");
    match required(t.kind, || at("type"))?.as_str() {
        "function" => {}
        other => return Err(unsupported(at("type"), other, "'function'")),
    }
    let name = non_empty(t.name, || at("name"))?;
    let echo = json!({
        "type": "function",
        "name": name,
        "description": t.description,
        "parameters": t.parameters,
        "strict": t.strict,
    });
    let tool = pb::Tool {
        r#type: "function".into(),
        function: Some(pb::FunctionDefinition {
            name,
            description: t.description,
            parameters: t.parameters.map(to_struct),
            strict: t.strict,
        }),
        cache_control: None,
    };
    Ok((tool, echo))
}

fn tool_choice(choice: wire::ToolChoice) -> Result<(pb::ToolChoice, Value), ApiError> {
    use pb::tool_choice::Choice;
    let (choice, echo) = match choice {
        ModeOrObject::Mode(mode) => match mode.as_str() {
            "none" | "auto" | "required" => (Choice::Mode(mode.clone()), Value::String(mode)),
            other => {
                return Err(ApiError::invalid(
                    "tool_choice",
                    format!(
                        "Invalid value: '{other}'. Supported values are: 'none', 'auto' and \
                         'required', or a function."
                    ),
                ));
            }
        },
        ModeOrObject::Object(o) => {
            match required(o.kind, || "tool_choice.type".into())?.as_str() {
                "function" => {}
                other => return Err(unsupported("tool_choice.type".into(), other, "'function'")),
            }
            let name = non_empty(o.name, || "tool_choice.name".into())?;
            let echo = json!({"type": "function", "name": name});
            (Choice::FunctionName(name), echo)
        }
    };
    Ok((
        pb::ToolChoice {
            choice: Some(choice),
        },
        echo,
    ))
}

fn text_format(text: wire::TextConfig) -> Result<(Option<pb::ResponseFormat>, Value), ApiError> {
    use pb::response_format::Format;
    let Some(format) = text.format else {
        return Ok((None, json!({"format": {"type": "text"}})));
    };
    let kind = required(format.kind, || "text.format.type".into())?;
    let (format, echo) = match kind.as_str() {
        "text" => (Format::Text(true), json!({"type": "text"})),
        "json_object" => (Format::JsonObject(true), json!({"type": "json_object"})),
        "json_schema" => {
            let name = non_empty(format.name, || "text.format.name".into())?;
            let schema = required(format.schema, || "text.format.schema".into())?;
            let echo = json!({
                "type": "json_schema",
                "name": name,
                "description": format.description,
                "schema": schema,
                "strict": format.strict,
            });
            let format = Format::JsonSchema(pb::JsonSchemaFormat {
                name,
                description: format.description,
                schema: Some(to_struct(schema)),
                strict: format.strict,
            });
            (format, echo)
        }
        other => {
            return Err(ApiError::invalid(
                "text.format.type",
                format!(
                    "Invalid value: '{other}'. Supported values are: 'text', 'json_object' \
                     and 'json_schema'."
                ),
            ));
        }
    };
    let mut config = Map::new();
    config.insert("format".into(), echo);
    if let Some(verbosity) = text.verbosity {
        config.insert("verbosity".into(), Value::String(verbosity));
    }
    Ok((
        Some(pb::ResponseFormat {
            format: Some(format),
        }),
        Value::Object(config),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn convert(body: Value) -> Result<(pb::ChatRequest, wire::Echo), ApiError> {
        request(serde_json::from_value(body).unwrap())
    }

    #[test]
    fn string_input_is_one_user_message_after_instructions() {
        let (chat, echo) =
            convert(json!({"model": "m", "instructions": "be brief", "input": "hi"})).unwrap();
        assert_eq!(chat.messages.len(), 2);
        assert_eq!(chat.messages[0].role, pb::Role::System as i32);
        assert_eq!(chat.messages[1].role, pb::Role::User as i32);
        assert!(chat.include_usage);
        assert_eq!(echo.instructions.as_deref(), Some("be brief"));
        assert_eq!(echo.tool_choice, json!("auto"));
        assert!(echo.parallel_tool_calls);
        assert!(!echo.store);
    }

    #[test]
    fn function_calls_join_the_assistant_message_and_outputs_are_tool_messages() {
        let (chat, _) = convert(json!({"model": "m", "input": [
            {"role": "user", "content": "weather?"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "checking"}]},
            {"type": "function_call", "call_id": "call_1", "name": "get", "arguments": "{}"},
            {"type": "function_call", "call_id": "call_2", "name": "get", "arguments": "{\"a\":1}"},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
            {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "rain"}]}
        ]}))
        .unwrap();
        let roles: Vec<i32> = chat.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                pb::Role::User,
                pb::Role::Assistant,
                pb::Role::Tool,
                pb::Role::Tool
            ]
            .map(|r| r as i32)
        );
        let calls = &chat.messages[1].tool_calls;
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[1].id, "call_2");
        assert_eq!(chat.messages[3].tool_call_id.as_deref(), Some("call_2"));
        assert_eq!(chat.messages[3].content, vec![text_part("rain".into())]);
    }

    #[test]
    fn errors_name_the_exact_parameter() {
        let param = |body: Value| convert(body).unwrap_err().param.unwrap();
        assert_eq!(param(json!({"input": "x"})), "model");
        assert_eq!(param(json!({"model": "m"})), "input");
        assert_eq!(param(json!({"model": "m", "input": []})), "input");
        assert_eq!(
            param(
                json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]})
            ),
            "input[0].content[0].file_id"
        );
        assert_eq!(
            param(
                json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_video"}]}]})
            ),
            "input[0].content[0].type"
        );
        assert_eq!(
            param(json!({"model": "m", "input": [{"type": "function_call", "name": "f"}]})),
            "input[0].call_id"
        );
        assert_eq!(
            param(json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]})),
            "tools[0].type"
        );
        assert_eq!(
            param(json!({"model": "m", "input": "x", "previous_response_id": "resp_1"})),
            "previous_response_id"
        );
        assert_eq!(
            param(
                json!({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}})
            ),
            "text.format.schema"
        );
        assert_eq!(
            param(json!({"model": "m", "input": "x", "truncation": "sometimes"})),
            "truncation"
        );
    }

    #[test]
    fn settings_map_to_chat_parameters() {
        let (chat, echo) = convert(json!({"model": "m", "input": "x",
            "max_output_tokens": 50, "reasoning": {"effort": "low"},
            "include": ["message.output_text.logprobs"],
            "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": true}, "verbosity": "low"},
            "tool_choice": {"type": "function", "name": "f"},
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": true}],
            "service_tier": "flex", "store": true, "max_tool_calls": 3}))
        .unwrap();
        assert_eq!(chat.max_tokens, Some(50));
        assert_eq!(chat.reasoning_effort.as_deref(), Some("low"));
        assert_eq!(chat.logprobs, Some(true));
        assert!(matches!(
            chat.response_format.unwrap().format,
            Some(pb::response_format::Format::JsonSchema(_))
        ));
        let options = chat.provider_options.unwrap();
        assert!(options.fields.contains_key("verbosity"));
        assert!(options.fields.contains_key("service_tier"));
        assert!(!options.fields.contains_key("store"));
        assert!(!options.fields.contains_key("max_tool_calls"));
        assert_eq!(echo.tools[0]["name"], "f");
        assert_eq!(echo.text["format"]["name"], "out");
        assert_eq!(echo.tool_choice, json!({"type": "function", "name": "f"}));
    }

    #[test]
    fn output_has_the_message_then_the_calls() {
        let r = pb::ChatResponse {
            choices: vec![pb::Choice {
                message: Some(pb::Message {
                    content: vec![text_part("a".into()), text_part("b".into())],
                    tool_calls: vec![pb::ToolCall {
                        id: "call_9".into(),
                        r#type: "function".into(),
                        function: Some(pb::FunctionCall {
                            name: "f".into(),
                            arguments: "{}".into(),
                        }),
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let json = serde_json::to_value(output("resp_r1", &r, "completed", false)).unwrap();
        assert_eq!(json[0]["type"], "message");
        assert_eq!(json[0]["id"], "msg_r1");
        assert_eq!(json[0]["content"][0]["text"], "ab");
        assert_eq!(json[1]["type"], "function_call");
        assert_eq!(json[1]["id"], "fc_9");
        assert_eq!(json[1]["call_id"], "call_9");
    }
}
