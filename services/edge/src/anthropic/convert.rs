//! Anthropic Messages JSON into `types.v1.ChatRequest`, and Gateway answers into
//! Anthropic messages.

use std::borrow::Cow;

use serde_json::{Map, Value};
use switchyard_error::ApiError;
use switchyard_proto::types::v1 as pb;

use super::wire;
use crate::convert::chat::{cache_control, non_empty, plain, required, text_part, unsupported};
use crate::convert::json::{to_options, to_struct, to_value};
use crate::wire::StringOrSeq;

impl TryFrom<wire::MessagesRequest> for pb::ChatRequest {
    type Error = ApiError;

    fn try_from(req: wire::MessagesRequest) -> Result<Self, ApiError> {
        let max_tokens = required(req.max_tokens, || "max_tokens".into())?;
        let mut chat = chat_input(req)?;
        chat.max_tokens = Some(max_tokens);
        Ok(chat)
    }
}

/// The caller's `anthropic-beta` headers, as the `anthropic_beta` provider option
/// the Anthropic adapter sends as that header again (and Bedrock as the model
/// request field of that name): betas such as a longer context or interleaved
/// thinking change what Anthropic accepts.
pub fn add_betas(headers: &http::HeaderMap, chat: &mut pb::ChatRequest) {
    let names: Vec<Value> = headers
        .get_all("anthropic-beta")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| Value::String(n.to_string()))
        .collect();
    if names.is_empty() {
        return;
    }
    let options = chat.provider_options.get_or_insert_with(Default::default);
    options
        .fields
        .insert("anthropic_beta".into(), to_value(Value::Array(names)));
}

/// A `POST /v1/messages/count_tokens` body as the Gateway request whose input
/// it counts: the Messages body without `max_tokens`, which counting does not
/// take (given anyway, it is ignored).
pub fn count_request(req: wire::MessagesRequest) -> Result<pb::ChatRequest, ApiError> {
    chat_input(req)
}

/// Everything of a Messages body but `max_tokens`, which only generation needs.
fn chat_input(req: wire::MessagesRequest) -> Result<pb::ChatRequest, ApiError> {
    let model = non_empty(req.model, || "model".into())?;
    let input = required(req.messages, || "messages".into())?;
    if input.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "'messages' must contain at least one message.",
        ));
    }
    let mut messages = Vec::with_capacity(input.len() + 1);
    if let Some(system) = req.system {
        // A breakpoint on any system block marks the end of the system prompt.
        let mut cache = None;
        let parts = match system {
            StringOrSeq::String(s) if s.is_empty() => Vec::new(),
            StringOrSeq::String(s) => vec![text_part(s)],
            StringOrSeq::Seq(blocks) => blocks
                .into_iter()
                .enumerate()
                .map(|(j, b)| {
                    let at = |f: &str| format!("system[{j}].{f}");
                    if let Some(c) = cache_control(b.cache_control, || at("cache_control.type"))? {
                        cache = Some(c);
                    }
                    match required(b.kind, || at("type"))?.as_str() {
                        "text" => Ok(text_part(required(b.text, || at("text"))?)),
                        other => Err(unsupported(at("type"), other, "'text'")),
                    }
                })
                .collect::<Result<_, _>>()?,
        };
        if !parts.is_empty() {
            let mut system = plain(pb::Role::System, parts);
            system.cache_control = cache;
            messages.push(system);
        }
    }
    for (i, m) in input.into_iter().enumerate() {
        input_message(i, m, &mut messages)?;
    }
    let tools = req
        .tools
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, t)| tool(i, t))
        .collect::<Result<_, _>>()?;
    let (tool_choice, parallel_tool_calls) = match req.tool_choice {
        None => (None, None),
        Some(c) => {
            let parallel = c.disable_parallel_tool_use.map(|d| !d);
            (Some(tool_choice(c)?), parallel)
        }
    };
    Ok(pb::ChatRequest {
        model,
        messages,
        temperature: req.temperature,
        top_p: req.top_p,
        stop: req.stop_sequences.unwrap_or_default(),
        tools,
        tool_choice,
        parallel_tool_calls,
        user: req.metadata.and_then(|m| m.user_id),
        provider_options: to_options(req.extra),
        // The final usage travels in `message_delta`.
        include_usage: true,
        ..Default::default()
    })
}

/// Appends the Gateway messages for `messages[i]`: a user message's `tool_result`
/// blocks become tool messages (first, so they follow the assistant's calls), the
/// rest one user message; an assistant's `tool_use` blocks become its tool calls.
fn input_message(
    i: usize,
    m: wire::InputMessage,
    out: &mut Vec<pb::Message>,
) -> Result<(), ApiError> {
    let role = required(m.role, || format!("messages[{i}].role"))?;
    let role = match role.as_str() {
        "user" => pb::Role::User,
        "assistant" => pb::Role::Assistant,
        other => {
            return Err(ApiError::invalid(
                format!("messages[{i}].role"),
                format!("Invalid value: '{other}'. Supported values are: 'user' and 'assistant'."),
            ));
        }
    };
    let blocks = match required(m.content, || format!("messages[{i}].content"))? {
        StringOrSeq::String(s) => {
            out.push(plain(role, vec![text_part(s)]));
            return Ok(());
        }
        StringOrSeq::Seq(blocks) => blocks,
    };
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    let mut reasoning = Vec::new();
    // A breakpoint on a block marks the end of the message it lands in (a
    // `tool_result`'s own tool message, or this turn's message).
    let mut cache = None;
    for (j, mut b) in blocks.into_iter().enumerate() {
        let at = |f: &str| format!("messages[{i}].content[{j}].{f}");
        let kind = required(b.kind.clone(), || at("type"))?;
        let block_cache = cache_control(b.cache_control.take(), || at("cache_control.type"))?;
        if kind == "tool_result" && role == pb::Role::User {
            let mut result = tool_result(b, &at)?;
            result.cache_control = block_cache;
            out.push(result);
            continue;
        }
        if block_cache.is_some() {
            cache = block_cache;
        }
        match (kind.as_str(), role) {
            ("text", _) => parts.push(text_part(required(b.text, || at("text"))?)),
            ("image", pb::Role::User) => parts.push(image(b, &at)?),
            ("document", pb::Role::User) => parts.push(document(b, &at)?),
            // Sent back whole: Anthropic needs them, signed, with tool use under
            // thinking.
            ("thinking", pb::Role::Assistant) => reasoning.push(pb::Reasoning {
                text: b.thinking.unwrap_or_default(),
                signature: b.signature.unwrap_or_default(),
                redacted: false,
            }),
            ("redacted_thinking", pb::Role::Assistant) => reasoning.push(pb::Reasoning {
                text: String::new(),
                signature: non_empty(b.data, || at("data"))?,
                redacted: true,
            }),
            ("tool_use", pb::Role::Assistant) => {
                let input = b.input.unwrap_or_else(|| Value::Object(Map::new()));
                calls.push(pb::ToolCall {
                    id: non_empty(b.id, || at("id"))?,
                    r#type: "function".into(),
                    function: Some(pb::FunctionCall {
                        name: non_empty(b.name, || at("name"))?,
                        arguments: input.to_string(),
                    }),
                });
            }
            (other, pb::Role::User) => {
                return Err(unsupported(
                    at("type"),
                    other,
                    "'text', 'image', 'document' and 'tool_result' in user messages",
                ));
            }
            (other, _) => {
                return Err(unsupported(
                    at("type"),
                    other,
                    "'text', 'tool_use', 'thinking' and 'redacted_thinking' in assistant \
                     messages",
                ));
            }
        }
    }
    if !parts.is_empty() || !calls.is_empty() || !reasoning.is_empty() {
        out.push(pb::Message {
            role: role.into(),
            content: parts,
            tool_calls: calls,
            reasoning,
            cache_control: cache,
            ..Default::default()
        });
    } else if cache.is_some()
        && let Some(last) = out.last_mut()
    {
        last.cache_control = cache;
    }
    Ok(())
}

fn image(b: wire::ContentBlock, at: &dyn Fn(&str) -> String) -> Result<pb::ContentPart, ApiError> {
    let source = required(b.source, || at("source"))?;
    let url = match required(source.kind, || at("source.type"))?.as_str() {
        "base64" => {
            let media = non_empty(source.media_type, || at("source.media_type"))?;
            let data = non_empty(source.data, || at("source.data"))?;
            format!("data:{media};base64,{data}")
        }
        "url" => non_empty(source.url, || at("source.url"))?,
        other => return Err(unsupported(at("source.type"), other, "'base64' and 'url'")),
    };
    Ok(pb::ContentPart {
        part: Some(pb::content_part::Part::ImageUrl(pb::ImageUrl {
            url,
            detail: String::new(),
        })),
    })
}

/// A document block: a base64 source (a PDF), a URL, or a text source (plain
/// text, carried base64-encoded as every inline file is).
fn document(
    b: wire::ContentBlock,
    at: &dyn Fn(&str) -> String,
) -> Result<pb::ContentPart, ApiError> {
    use base64::Engine as _;
    let source = required(b.source, || at("source"))?;
    let mut file = pb::FileData {
        filename: b.title.unwrap_or_default(),
        ..Default::default()
    };
    match required(source.kind, || at("source.type"))?.as_str() {
        "base64" => {
            file.media_type = non_empty(source.media_type, || at("source.media_type"))?;
            file.data = non_empty(source.data, || at("source.data"))?;
        }
        "url" => file.url = non_empty(source.url, || at("source.url"))?,
        "text" => {
            file.media_type = "text/plain".into();
            file.data = base64::engine::general_purpose::STANDARD
                .encode(required(source.data, || at("source.data"))?);
        }
        other => {
            return Err(unsupported(
                at("source.type"),
                other,
                "'base64', 'url' and 'text'",
            ));
        }
    }
    Ok(pb::ContentPart {
        part: Some(pb::content_part::Part::File(file)),
    })
}

fn tool_result(
    b: wire::ContentBlock,
    at: &dyn Fn(&str) -> String,
) -> Result<pb::Message, ApiError> {
    let id = non_empty(b.tool_use_id, || at("tool_use_id"))?;
    let mut content = match b.content {
        None => Vec::new(),
        Some(StringOrSeq::String(s)) => vec![text_part(s)],
        Some(StringOrSeq::Seq(blocks)) => blocks
            .into_iter()
            .enumerate()
            .map(|(k, c)| {
                let at = |f: &str| at(&format!("content[{k}].{f}"));
                match required(c.kind.clone(), || at("type"))?.as_str() {
                    "text" => Ok(text_part(required(c.text, || at("text"))?)),
                    "image" => image(c, &at),
                    "document" => document(c, &at),
                    other => Err(unsupported(
                        at("type"),
                        other,
                        "'text', 'image' and 'document'",
                    )),
                }
            })
            .collect::<Result<_, _>>()?,
    };
    if b.is_error == Some(true) {
        content.insert(0, text_part("Error: ".into()));
    }
    Ok(pb::Message {
        role: pb::Role::Tool.into(),
        content,
        tool_call_id: Some(id),
        ..Default::default()
    })
}

fn tool(i: usize, t: wire::ToolDefinition) -> Result<pb::Tool, ApiError> {
    let at = |f: &str| format!("tools[{i}].{f}");
    if let Some(kind) = t.kind.as_deref()
        && kind != "custom"
    {
        return Err(unsupported(at("type"), kind, "'custom' (client tools)"));
    }
    Ok(pb::Tool {
        r#type: "function".into(),
        function: Some(pb::FunctionDefinition {
            name: non_empty(t.name, || at("name"))?,
            description: t.description,
            parameters: Some(to_struct(required(t.input_schema, || at("input_schema"))?)),
            strict: None,
        }),
        cache_control: cache_control(t.cache_control, || at("cache_control.type"))?,
    })
}

fn tool_choice(c: wire::ToolChoice) -> Result<pb::ToolChoice, ApiError> {
    use pb::tool_choice::Choice;
    let choice = match required(c.kind, || "tool_choice.type".into())?.as_str() {
        "auto" => Choice::Mode("auto".into()),
        "any" => Choice::Mode("required".into()),
        "none" => Choice::Mode("none".into()),
        "tool" => Choice::FunctionName(non_empty(c.name, || "tool_choice.name".into())?),
        other => {
            return Err(ApiError::invalid(
                "tool_choice.type",
                format!(
                    "Invalid value: '{other}'. Supported values are: 'auto', 'any', 'tool' \
                     and 'none'."
                ),
            ));
        }
    };
    Ok(pb::ToolChoice {
        choice: Some(choice),
    })
}

/// Anthropic's stop reason for a finish reason (a content filter stop reads as
/// `end_turn`: Anthropic has no such reason for a completed answer).
pub fn stop_reason(value: i32) -> &'static str {
    match pb::FinishReason::try_from(value) {
        Ok(pb::FinishReason::Length) => "max_tokens",
        Ok(pb::FinishReason::ToolCalls) => "tool_use",
        _ => "end_turn",
    }
}

/// Anthropic usage; `input_tokens` excludes cache reads and writes.
pub fn usage(u: Option<&pb::Usage>) -> wire::Usage {
    let Some(u) = u else {
        return wire::Usage::default();
    };
    wire::Usage {
        input_tokens: u
            .prompt_tokens
            .saturating_sub(u.cached_prompt_tokens)
            .saturating_sub(u.cache_write_prompt_tokens),
        output_tokens: u.completion_tokens,
        cache_read_input_tokens: u.cached_prompt_tokens,
        cache_creation_input_tokens: u.cache_write_prompt_tokens,
    }
}

/// A tool call's JSON arguments as the object Anthropic's `input` must be; empty or
/// non-object arguments (a model's malformed output) become `{}`.
pub fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            if !arguments.trim().is_empty() {
                tracing::warn!("tool call arguments are not a JSON object; sent as {{}}");
            }
            Value::Object(Map::new())
        }
    }
}

/// The `msg_…` id for a gateway id.
pub fn message_id(id: &str) -> String {
    format!("msg_{id}")
}

/// A reasoning block as Anthropic shows it.
pub fn thinking_block(r: &pb::Reasoning) -> wire::Block<'_> {
    if r.redacted {
        wire::Block::RedactedThinking {
            data: Cow::Borrowed(&r.signature),
        }
    } else {
        wire::Block::Thinking {
            thinking: Cow::Borrowed(&r.text),
            signature: Cow::Borrowed(&r.signature),
        }
    }
}

/// The Anthropic message for a complete answer (its first choice).
pub fn message(r: &pb::ChatResponse) -> wire::Message<'_> {
    let choice = r.choices.first();
    let m = choice.and_then(|c| c.message.as_ref());
    let mut content = Vec::new();
    if let Some(m) = m {
        content.extend(m.reasoning.iter().map(thinking_block));
        let text: String = m
            .content
            .iter()
            .filter_map(|p| match &p.part {
                Some(pb::content_part::Part::Text(t)) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        if !text.is_empty() || m.tool_calls.is_empty() {
            content.push(wire::Block::Text {
                text: Cow::Owned(text),
            });
        }
        for c in &m.tool_calls {
            let (name, arguments) = c
                .function
                .as_ref()
                .map_or(("", ""), |f| (f.name.as_str(), f.arguments.as_str()));
            content.push(wire::Block::ToolUse {
                id: Cow::Borrowed(&c.id),
                name: Cow::Borrowed(name),
                input: tool_input(arguments),
            });
        }
    }
    wire::Message {
        id: message_id(&r.id),
        kind: "message",
        role: "assistant",
        model: &r.model,
        content,
        stop_reason: Some(stop_reason(choice.map_or(0, |c| c.finish_reason))),
        stop_sequence: None,
        usage: usage(r.usage.as_ref()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn usage_excludes_cache_reads_and_writes() {
        let u = usage(Some(&pb::Usage {
            prompt_tokens: 100,
            completion_tokens: 7,
            cached_prompt_tokens: 60,
            cache_write_prompt_tokens: 30,
            ..Default::default()
        }));
        assert_eq!(u.input_tokens, 10);
        assert_eq!(u.cache_read_input_tokens, 60);
        assert_eq!(u.cache_creation_input_tokens, 30);
        assert_eq!(u.output_tokens, 7);
    }

    #[test]
    fn tool_input_is_always_an_object() {
        assert_eq!(tool_input(r#"{"a":1}"#)["a"], 1);
        assert_eq!(tool_input(""), Value::Object(Map::new()));
        assert_eq!(tool_input("[1]"), Value::Object(Map::new()));
    }
}
