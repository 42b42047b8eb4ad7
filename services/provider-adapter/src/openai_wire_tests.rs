//! Unit tests of the OpenAI wire translation (a separate file to keep openai_wire.rs small).
#![allow(clippy::unwrap_used)]

use super::*;
use prost_types::{ListValue, Struct};
use switchyard_proto::types::v1::{
    FileData, FunctionDefinition, ImageUrl, JsonSchemaFormat, ResponseFormat, TokenIds, Tool,
    ToolChoice,
};

/// A protobuf Value from JSON, as a generated client would send it.
pub fn pb(v: &Value) -> prost_types::Value {
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(a) => Kind::ListValue(ListValue {
            values: a.iter().map(pb).collect(),
        }),
        Value::Object(o) => Kind::StructValue(pb_struct(o)),
    };
    prost_types::Value { kind: Some(kind) }
}

fn pb_struct(o: &Map<String, Value>) -> Struct {
    Struct {
        fields: o.iter().map(|(k, v)| (k.clone(), pb(v))).collect(),
    }
}

fn obj(v: Value) -> Struct {
    pb_struct(v.as_object().unwrap())
}

fn text(t: &str) -> ContentPart {
    ContentPart {
        part: Some(Part::Text(t.into())),
    }
}

fn full_request() -> ChatRequest {
    ChatRequest {
        model: "alias".into(),
        messages: vec![
            Message {
                role: Role::System as i32,
                content: vec![text("be brief")],
                ..Message::default()
            },
            Message {
                role: Role::User as i32,
                content: vec![
                    text("what is in this picture?"),
                    ContentPart {
                        part: Some(Part::ImageUrl(ImageUrl {
                            url: "https://example.com/cat.png".into(),
                            detail: "low".into(),
                        })),
                    },
                ],
                name: Some("ann".into()),
                ..Message::default()
            },
            Message {
                role: Role::Assistant as i32,
                tool_calls: vec![ToolCall {
                    id: "call_1".into(),
                    r#type: "function".into(),
                    function: Some(FunctionCall {
                        name: "lookup".into(),
                        arguments: "{\"q\":\"cat\"}".into(),
                    }),
                }],
                ..Message::default()
            },
            Message {
                role: Role::Tool as i32,
                content: vec![text("a cat")],
                tool_call_id: Some("call_1".into()),
                ..Message::default()
            },
        ],
        temperature: Some(0.5),
        max_tokens: Some(64),
        stop: vec!["\n\n".into()],
        seed: Some(42),
        tools: vec![Tool {
            r#type: "function".into(),
            function: Some(FunctionDefinition {
                name: "lookup".into(),
                description: Some("Looks things up".into()),
                parameters: Some(obj(json!({
                    "type": "object",
                    "properties": {"q": {"type": "string", "maxLength": 100}},
                    "required": ["q"],
                }))),
                strict: Some(true),
            }),
            cache_control: None,
        }],
        tool_choice: Some(ToolChoice {
            choice: Some(ToolChoiceKind::FunctionName("lookup".into())),
        }),
        parallel_tool_calls: Some(false),
        response_format: Some(ResponseFormat {
            format: Some(Format::JsonSchema(JsonSchemaFormat {
                name: "answer".into(),
                description: None,
                schema: Some(obj(
                    json!({"type": "object", "properties": {"a": {"type": "number"}}}),
                )),
                strict: Some(true),
            })),
        }),
        user: Some("user-7".into()),
        provider_options: Some(obj(json!({
            "top_k": 40,
            "model": "hijack",
            "messages": [],
            "stream": false,
            "stream_options": {"include_usage": false},
            "repetition_penalty": 1.1,
        }))),
        metadata: [("team".to_string(), "x".to_string())]
            .into_iter()
            .collect(),
        ..ChatRequest::default()
    }
}

#[test]
fn request_translation_is_exact() {
    let body = chat_body("gpt-4o-mini", &full_request(), false).unwrap();
    let want = json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "name": "ann", "content": [
                {"type": "text", "text": "what is in this picture?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"cat\"}"}},
            ]},
            {"role": "tool", "content": "a cat", "tool_call_id": "call_1"},
        ],
        "temperature": 0.5,
        "max_tokens": 64,
        "stop": ["\n\n"],
        "seed": 42,
        "tools": [{"type": "function", "function": {
            "name": "lookup",
            "description": "Looks things up",
            "parameters": {"type": "object", "properties": {"q": {"type": "string", "maxLength": 100}}, "required": ["q"]},
            "strict": true,
        }}],
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "parallel_tool_calls": false,
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "answer",
            "schema": {"type": "object", "properties": {"a": {"type": "number"}}},
            "strict": true,
        }},
        "user": "user-7",
        "top_k": 40,
        "repetition_penalty": 1.1,
    });
    assert_eq!(body, want);
}

#[test]
fn streaming_requests_ask_for_usage_and_options_cannot_turn_it_off() {
    let body = chat_body("m", &full_request(), true).unwrap();
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["model"], json!("m"));
}

#[test]
fn minimal_request_sends_only_what_is_set() {
    let req = ChatRequest {
        messages: vec![Message {
            role: Role::Developer as i32,
            content: vec![text("x")],
            ..Message::default()
        }],
        tool_choice: Some(ToolChoice {
            choice: Some(ToolChoiceKind::Mode("auto".into())),
        }),
        response_format: Some(ResponseFormat {
            format: Some(Format::JsonObject(true)),
        }),
        reasoning_effort: Some("low".into()),
        logprobs: Some(true),
        top_logprobs: Some(2),
        ..ChatRequest::default()
    };
    let body = chat_body("m", &req, false).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "m",
            "messages": [{"role": "developer", "content": "x"}],
            "tool_choice": "auto",
            "response_format": {"type": "json_object"},
            "reasoning_effort": "low",
            "logprobs": true,
            "top_logprobs": 2,
        })
    );
}

#[test]
fn audio_parts_and_invalid_messages() {
    let req = ChatRequest {
        messages: vec![Message {
            role: Role::User as i32,
            content: vec![ContentPart {
                part: Some(Part::InputAudio(switchyard_proto::types::v1::InputAudio {
                    data: "AAAA".into(),
                    format: "wav".into(),
                })),
            }],
            ..Message::default()
        }],
        ..ChatRequest::default()
    };
    let body = chat_body("m", &req, false).unwrap();
    assert_eq!(
        body["messages"][0]["content"],
        json!([{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}])
    );
    let bad = ChatRequest {
        messages: vec![Message::default()],
        ..ChatRequest::default()
    };
    match chat_body("m", &bad, false) {
        Err(ProviderError::InvalidRequest { param, .. }) => assert_eq!(param, "messages[0].role"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn embed_request_translation() {
    let req = EmbedRequest {
        input: vec!["a".into(), "b".into()],
        dimensions: Some(8),
        user: Some("u".into()),
        ..EmbedRequest::default()
    };
    assert_eq!(
        embed_body("e", &req).unwrap(),
        json!({"model": "e", "input": ["a", "b"], "dimensions": 8, "user": "u", "encoding_format": "float"})
    );
    let req = EmbedRequest {
        token_input: vec![TokenIds { ids: vec![1, 2] }],
        ..EmbedRequest::default()
    };
    assert_eq!(embed_body("e", &req).unwrap()["input"], json!([[1, 2]]));
    assert!(embed_body("e", &EmbedRequest::default()).is_err());
}

#[test]
fn response_parsing_with_cached_and_reasoning_tokens() {
    let answer: WireChatResponse = serde_json::from_value(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-2024",
        "system_fingerprint": "fp_1",
        "choices": [{
            "index": 0, "logprobs": null, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": null, "refusal": null, "tool_calls": [
                {"id": "call_9", "type": "function", "function": {"name": "lookup", "arguments": "{}"}},
            ]},
        }],
        "usage": {
            "prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
            "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 20},
        },
    }))
    .unwrap();
    let usage = answer.usage.as_ref().unwrap().to_proto();
    assert_eq!(
        usage,
        Usage {
            prompt_tokens: 100,
            completion_tokens: 50,
            total_tokens: 150,
            cached_prompt_tokens: 64,
            reasoning_tokens: 20,
            estimated: false,
            cache_write_prompt_tokens: 0,
        }
    );
    let choice = answer.choices.into_iter().next().unwrap();
    assert_eq!(
        finish_reason(choice.finish_reason.as_deref()),
        FinishReason::ToolCalls
    );
    let m = message(choice.message.unwrap());
    assert_eq!(m.role, Role::Assistant as i32);
    assert!(m.content.is_empty());
    assert_eq!(m.tool_calls[0].id, "call_9");
    assert_eq!(m.tool_calls[0].function.as_ref().unwrap().name, "lookup");
}

#[test]
fn tolerant_parsing() {
    let answer: WireChatResponse = serde_json::from_value(json!({
        "choices": [{"message": {"content": "hi", "tool_calls": null}, "finish_reason": "eos"}],
        "usage": {"prompt_tokens": 3.0, "completion_tokens": null},
        "created": 1.7e9,
    }))
    .unwrap();
    assert_eq!(answer.created, Some(1.7e9));
    assert_eq!(answer.usage.as_ref().unwrap().prompt_tokens, 3);
    assert_eq!(answer.usage.as_ref().unwrap().to_proto().total_tokens, 3);
    assert_eq!(
        finish_reason(answer.choices[0].finish_reason.as_deref()),
        FinishReason::Stop
    );
    assert_eq!(
        finish_reason(Some("function_call")),
        FinishReason::ToolCalls
    );
    assert_eq!(
        finish_reason(Some("content_filter")),
        FinishReason::ContentFilter
    );
    assert_eq!(finish_reason(None), FinishReason::Unspecified);
    let chunk: WireChunk = serde_json::from_str(
        r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"a"}}]},"finish_reason":null}]}"#,
    )
    .unwrap();
    let delta = tool_call_delta(
        0,
        chunk
            .choices
            .into_iter()
            .next()
            .unwrap()
            .delta
            .tool_calls
            .remove(0),
    );
    assert_eq!(delta.index, 1);
    assert_eq!(delta.function.unwrap().arguments.as_deref(), Some("{\"a"));
    assert_eq!(
        content_text(Some(
            &json!([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
        )),
        Some("ab".into())
    );
}

#[test]
fn error_objects() {
    let (e, status) = upstream_error(
        &json!({"error": {"message": "too long", "type": "invalid_request_error", "code": "context_length_exceeded", "param": "messages"}}),
    );
    assert_eq!(e.code.as_deref(), Some("context_length_exceeded"));
    assert_eq!(e.kind.as_deref(), Some("invalid_request_error"));
    assert_eq!(e.message.as_deref(), Some("too long"));
    assert_eq!(status, None);
    let (e, status) = upstream_error(
        &json!({"object": "error", "message": "bad", "type": "BadRequestError", "code": 400}),
    );
    assert_eq!((e.message.as_deref(), status), (Some("bad"), Some(400)));
    let (e, _) = upstream_error(&json!({"error": "model not loaded"}));
    assert_eq!(e.message.as_deref(), Some("model not loaded"));
    let (e, _) = upstream_error(&json!({"detail": "Not Found"}));
    assert_eq!(e.message.as_deref(), Some("Not Found"));
}

#[test]
fn whole_numbers_stay_integers() {
    assert_eq!(value_json(&pb(&json!(5))), json!(5));
    assert_eq!(value_json(&pb(&json!(0.25))), json!(0.25));
    assert_eq!(
        value_json(&pb(&json!({"a": [true, null, "s"]}))),
        json!({"a": [true, null, "s"]})
    );
}

/// Files go inline as OpenAI's `file` parts; a URL cannot.
#[test]
fn files_are_inline_file_parts() {
    let file = |data: &str, url: &str| ContentPart {
        part: Some(Part::File(FileData {
            data: data.into(),
            url: url.into(),
            media_type: "application/pdf".into(),
            filename: "report.pdf".into(),
        })),
    };
    let req = ChatRequest {
        model: "m".into(),
        messages: vec![Message {
            role: Role::User as i32,
            content: vec![text("summarize"), file("JVBERi0=", "")],
            ..Message::default()
        }],
        ..ChatRequest::default()
    };
    let body = chat_body("gpt-4o", &req, false).unwrap();
    assert_eq!(
        body["messages"][0]["content"][1],
        json!({"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "report.pdf"}})
    );
    let mut by_url = req.clone();
    by_url.messages[0].content[1] = file("", "https://example.com/r.pdf");
    assert!(chat_body("gpt-4o", &by_url, false).is_err());
}
