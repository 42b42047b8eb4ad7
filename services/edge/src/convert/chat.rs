//! Chat request: OpenAI JSON into `types.v1.ChatRequest`, validated, naming the
//! parameter at fault.

use switchyard_error::ApiError;
use switchyard_proto::conventions::GEMINI_SIGNATURE;
use switchyard_proto::types::v1 as pb;

use super::json::{to_options, to_struct};
use crate::wire::chat as wire;
use crate::wire::{ModeOrObject, StringOrSeq};

/// `value`, or a 400 naming `param` as missing.
pub(crate) fn required<T>(value: Option<T>, param: impl FnOnce() -> String) -> Result<T, ApiError> {
    value.ok_or_else(|| {
        let param = param();
        ApiError::invalid(
            param.clone(),
            format!("Missing required parameter: '{param}'."),
        )
    })
}

/// A required, non-empty string.
pub(crate) fn non_empty(
    value: Option<String>,
    param: impl FnOnce() -> String,
) -> Result<String, ApiError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => {
            let param = param();
            Err(ApiError::invalid(
                param.clone(),
                format!("Missing required parameter: '{param}'."),
            ))
        }
    }
}

impl TryFrom<wire::ChatCompletionRequest> for pb::ChatRequest {
    type Error = ApiError;

    fn try_from(req: wire::ChatCompletionRequest) -> Result<Self, ApiError> {
        let model = non_empty(req.model, || "model".into())?;
        let messages = required(req.messages, || "messages".into())?;
        if messages.is_empty() {
            return Err(ApiError::invalid(
                "messages",
                "'messages' must contain at least one message.",
            ));
        }
        let messages = messages
            .into_iter()
            .enumerate()
            .map(|(i, m)| message(i, m))
            .collect::<Result<_, _>>()?;
        let tools = req
            .tools
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, t)| tool(i, t))
            .collect::<Result<_, _>>()?;
        Ok(pb::ChatRequest {
            model,
            messages,
            temperature: req.temperature,
            top_p: req.top_p,
            max_tokens: req.max_completion_tokens.or(req.max_tokens),
            n: req.n,
            stop: stops(req.stop),
            seed: req.seed,
            presence_penalty: req.presence_penalty,
            frequency_penalty: req.frequency_penalty,
            tools,
            tool_choice: req.tool_choice.map(tool_choice).transpose()?,
            parallel_tool_calls: req.parallel_tool_calls,
            response_format: req.response_format.map(response_format).transpose()?,
            user: req.user,
            metadata: req.metadata.unwrap_or_default(),
            provider_options: to_options(req.extra),
            include_usage: req
                .stream_options
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
            logprobs: req.logprobs,
            top_logprobs: req.top_logprobs,
            reasoning_effort: req.reasoning_effort,
            // From headers, set by the route.
            timeouts: None,
            text_prompt: None,
        })
    }
}

/// `stop` as a list: one sequence or several.
pub(crate) fn stops(stop: Option<StringOrSeq<String>>) -> Vec<String> {
    match stop {
        None => Vec::new(),
        Some(StringOrSeq::String(s)) => vec![s],
        Some(StringOrSeq::Seq(v)) => v,
    }
}

fn role(i: usize, role: Option<String>) -> Result<pb::Role, ApiError> {
    let role = required(role, || format!("messages[{i}].role"))?;
    Ok(match role.as_str() {
        "system" => pb::Role::System,
        "user" => pb::Role::User,
        "assistant" => pb::Role::Assistant,
        "tool" => pb::Role::Tool,
        "developer" => pb::Role::Developer,
        other => {
            return Err(ApiError::invalid(
                format!("messages[{i}].role"),
                format!(
                    "Invalid value: '{other}'. Supported values are: 'system', 'user', \
                     'assistant', 'tool' and 'developer'."
                ),
            ));
        }
    })
}

fn message(i: usize, m: wire::ChatMessage) -> Result<pb::Message, ApiError> {
    let role = role(i, m.role)?;
    // A breakpoint on any part marks the end of the message.
    let mut cache = None;
    let content = match m.content {
        None => Vec::new(),
        Some(StringOrSeq::String(text)) => vec![text_part(text)],
        Some(StringOrSeq::Seq(parts)) => parts
            .into_iter()
            .enumerate()
            .map(|(j, mut p)| {
                let at = || format!("messages[{i}].content[{j}].cache_control.type");
                if let Some(c) = cache_control(p.cache_control.take(), at)? {
                    cache = Some(c);
                }
                content_part(i, j, p)
            })
            .collect::<Result<_, _>>()?,
    };
    let mut calls = m.tool_calls.unwrap_or_default();
    // Gemini's thought signatures, carried on tool calls as Google's own
    // OpenAI-compatible API does, go back as the turn's (marked) reasoning.
    let reasoning = calls
        .iter_mut()
        .filter_map(|c| c.extra_content.take()?.google?.thought_signature)
        .filter(|s| !s.is_empty())
        .map(|s| pb::Reasoning {
            signature: format!("{GEMINI_SIGNATURE}{s}"),
            ..pb::Reasoning::default()
        })
        .collect();
    let tool_calls = calls
        .into_iter()
        .enumerate()
        .map(|(k, c)| tool_call(i, k, c))
        .collect::<Result<_, _>>()?;
    if role == pb::Role::Tool && m.tool_call_id.is_none() {
        return Err(ApiError::invalid(
            format!("messages[{i}].tool_call_id"),
            format!("Missing required parameter: 'messages[{i}].tool_call_id'."),
        ));
    }
    Ok(pb::Message {
        role: role.into(),
        content,
        name: m.name,
        tool_calls,
        tool_call_id: m.tool_call_id,
        refusal: m.refusal,
        reasoning,
        cache_control: cache,
    })
}

/// A `cache_control` as the Gateway's breakpoint; only `ephemeral` exists.
pub(crate) fn cache_control(
    c: Option<wire::CacheControl>,
    param: impl FnOnce() -> String,
) -> Result<Option<pb::CacheControl>, ApiError> {
    let Some(c) = c else { return Ok(None) };
    match c.kind.as_deref() {
        None | Some("ephemeral") => {}
        Some(other) => {
            return Err(ApiError::invalid(
                param(),
                format!("Invalid value: '{other}'. Supported values are: 'ephemeral'."),
            ));
        }
    }
    Ok(Some(pb::CacheControl {
        ttl: c.ttl.unwrap_or_default(),
    }))
}

/// A file given as a base64 `data:` URL (`data:application/pdf;base64,...`).
pub(crate) fn data_url_file(
    url: &str,
    filename: Option<String>,
    param: impl Fn() -> String,
) -> Result<pb::FileData, ApiError> {
    let invalid = || {
        ApiError::invalid(
            param(),
            "Expected a base64 data URL, e.g. 'data:application/pdf;base64,...'.",
        )
    };
    let (header, data) = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(','))
        .ok_or_else(invalid)?;
    let media_type = header.strip_suffix(";base64").ok_or_else(invalid)?;
    if data.is_empty() {
        return Err(invalid());
    }
    Ok(pb::FileData {
        data: data.to_string(),
        url: String::new(),
        media_type: media_type.to_ascii_lowercase(),
        filename: filename.unwrap_or_default(),
    })
}

/// A text content part.
pub(crate) fn text_part(text: String) -> pb::ContentPart {
    pb::ContentPart {
        part: Some(pb::content_part::Part::Text(text)),
    }
}

/// A message of `role` with `content` and nothing else.
pub(crate) fn plain(role: pb::Role, content: Vec<pb::ContentPart>) -> pb::Message {
    pb::Message {
        role: role.into(),
        content,
        ..Default::default()
    }
}

/// A 400 naming `param`: its `type` is not one this API translates.
pub(crate) fn unsupported(param: String, value: &str, supported: &str) -> ApiError {
    ApiError::invalid(
        param,
        format!("Unsupported type '{value}'. Supported types are: {supported}."),
    )
}

fn content_part(i: usize, j: usize, p: wire::ContentPart) -> Result<pb::ContentPart, ApiError> {
    let at = |field: &str| format!("messages[{i}].content[{j}].{field}");
    let kind = required(p.kind, || at("type"))?;
    let part = match kind.as_str() {
        "text" => pb::content_part::Part::Text(required(p.text, || at("text"))?),
        "image_url" => {
            let image = required(p.image_url, || at("image_url"))?;
            pb::content_part::Part::ImageUrl(pb::ImageUrl {
                url: non_empty(image.url, || at("image_url.url"))?,
                detail: image.detail.unwrap_or_default(),
            })
        }
        "input_audio" => {
            let audio = required(p.input_audio, || at("input_audio"))?;
            pb::content_part::Part::InputAudio(pb::InputAudio {
                data: required(audio.data, || at("input_audio.data"))?,
                format: required(audio.format, || at("input_audio.format"))?,
            })
        }
        "file" => {
            let file = required(p.file, || at("file"))?;
            if file.file_id.is_some() && file.file_data.is_none() {
                return Err(ApiError::invalid(
                    at("file.file_id"),
                    "Uploaded files are not supported: send the file inline as 'file_data' \
                     (a base64 data: URL).",
                ));
            }
            let url = non_empty(file.file_data, || at("file.file_data"))?;
            pb::content_part::Part::File(data_url_file(&url, file.filename, || {
                at("file.file_data")
            })?)
        }
        other => {
            return Err(ApiError::invalid(
                at("type"),
                format!(
                    "Unsupported content part type '{other}'. Supported types are: 'text', \
                     'image_url', 'input_audio' and 'file'."
                ),
            ));
        }
    };
    Ok(pb::ContentPart { part: Some(part) })
}

fn function_kind(kind: Option<String>, param: impl FnOnce() -> String) -> Result<String, ApiError> {
    match kind.as_deref() {
        None | Some("function") => Ok("function".into()),
        Some(other) => Err(ApiError::invalid(
            param(),
            format!("Unsupported type '{other}'; only 'function' is supported."),
        )),
    }
}

fn tool_call(i: usize, k: usize, c: wire::ToolCall) -> Result<pb::ToolCall, ApiError> {
    let at = |field: &str| format!("messages[{i}].tool_calls[{k}].{field}");
    let function = required(c.function, || at("function"))?;
    Ok(pb::ToolCall {
        id: non_empty(c.id, || at("id"))?,
        r#type: function_kind(c.kind, || at("type"))?,
        function: Some(pb::FunctionCall {
            name: non_empty(function.name, || at("function.name"))?,
            arguments: function.arguments.unwrap_or_default(),
        }),
    })
}

fn tool(i: usize, t: wire::ToolDefinition) -> Result<pb::Tool, ApiError> {
    let at = |field: &str| format!("tools[{i}].{field}");
    let kind = function_kind(t.kind, || at("type"))?;
    let function = required(t.function, || at("function"))?;
    Ok(pb::Tool {
        r#type: kind,
        function: Some(pb::FunctionDefinition {
            name: non_empty(function.name, || at("function.name"))?,
            description: function.description,
            parameters: function.parameters.map(to_struct),
            strict: function.strict,
        }),
        cache_control: None,
    })
}

fn tool_choice(choice: wire::ToolChoice) -> Result<pb::ToolChoice, ApiError> {
    let choice = match choice {
        ModeOrObject::Mode(mode) => match mode.as_str() {
            "none" | "auto" | "required" => pb::tool_choice::Choice::Mode(mode),
            other => {
                return Err(ApiError::invalid(
                    "tool_choice",
                    format!(
                        "Invalid value: '{other}'. Supported values are: 'none', 'auto' and \
                         'required', or a named function."
                    ),
                ));
            }
        },
        ModeOrObject::Object(named) => {
            function_kind(named.kind, || "tool_choice.type".into())?;
            let function = required(named.function, || "tool_choice.function".into())?;
            pb::tool_choice::Choice::FunctionName(non_empty(function.name, || {
                "tool_choice.function.name".into()
            })?)
        }
    };
    Ok(pb::ToolChoice {
        choice: Some(choice),
    })
}

fn response_format(format: wire::ResponseFormat) -> Result<pb::ResponseFormat, ApiError> {
    use pb::response_format::Format;
    let kind = required(format.kind, || "response_format.type".into())?;
    let format = match kind.as_str() {
        "text" => Format::Text(true),
        "json_object" => Format::JsonObject(true),
        "json_schema" => {
            let schema = required(format.json_schema, || "response_format.json_schema".into())?;
            Format::JsonSchema(pb::JsonSchemaFormat {
                name: non_empty(schema.name, || "response_format.json_schema.name".into())?,
                description: schema.description,
                schema: schema.schema.map(to_struct),
                strict: schema.strict,
            })
        }
        other => {
            return Err(ApiError::invalid(
                "response_format.type",
                format!(
                    "Invalid value: '{other}'. Supported values are: 'text', 'json_object' \
                     and 'json_schema'."
                ),
            ));
        }
    };
    Ok(pb::ResponseFormat {
        format: Some(format),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn convert(json: serde_json::Value) -> Result<pb::ChatRequest, ApiError> {
        let wire: wire::ChatCompletionRequest = serde_json::from_value(json).unwrap();
        pb::ChatRequest::try_from(wire)
    }

    #[test]
    fn missing_model_and_empty_messages_name_the_param() {
        let err = convert(serde_json::json!({"messages": [{"role": "user", "content": "x"}]}))
            .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("model"));
        let err = convert(serde_json::json!({"model": "m", "messages": []})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("messages"));
        let err = convert(serde_json::json!({"model": "m"})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("messages"));
    }

    #[test]
    fn bad_parts_name_their_path() {
        let err = convert(serde_json::json!({"model": "m", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "video"}]}
        ]}))
        .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("messages[0].content[1].type"));
        let err = convert(serde_json::json!({"model": "m", "messages": [
            {"role": "wizard", "content": "a"}
        ]}))
        .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("messages[0].role"));
    }

    #[test]
    fn null_content_is_no_parts_and_string_is_one() {
        let req = convert(serde_json::json!({"model": "m", "messages": [
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ]},
            {"role": "user", "content": "hi"}
        ]}))
        .unwrap();
        assert!(req.messages[0].content.is_empty());
        assert_eq!(req.messages[0].tool_calls[0].id, "c1");
        assert_eq!(req.messages[1].content, vec![text_part("hi".into())]);
    }
}
