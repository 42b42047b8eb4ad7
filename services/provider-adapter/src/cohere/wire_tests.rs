//! Unit tests of the Cohere v2 wire translation.
#![allow(clippy::unwrap_used)]

use prost_types::value::Kind;
use serde_json::json;
use switchyard_proto::types::v1::{
    FunctionDefinition, ImageUrl, InputAudio, JsonSchemaFormat, ResponseFormat, ToolChoice,
};

use super::*;

fn text(role: Role, t: &str) -> Message {
    Message {
        role: role as i32,
        content: vec![ContentPart {
            part: Some(Part::Text(t.into())),
        }],
        ..Message::default()
    }
}

fn schema() -> prost_types::Struct {
    let s = |v: &str| prost_types::Value {
        kind: Some(Kind::StringValue(v.into())),
    };
    prost_types::Struct {
        fields: [("type".to_string(), s("object"))].into_iter().collect(),
    }
}

fn tool(name: &str, strict: Option<bool>) -> Tool {
    Tool {
        r#type: "function".into(),
        function: Some(FunctionDefinition {
            name: name.into(),
            description: Some(format!("{name} tool")),
            parameters: Some(schema()),
            strict,
        }),
        cache_control: None,
    }
}

fn call(id: &str, name: &str, args: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        r#type: "function".into(),
        function: Some(FunctionCall {
            name: name.into(),
            arguments: args.into(),
        }),
    }
}

fn choice(c: ToolChoiceKind) -> Option<ToolChoice> {
    Some(ToolChoice { choice: Some(c) })
}

#[test]
fn conversation_and_sampling_options() {
    let mut assistant = text(Role::Assistant, "Let me check both.");
    assistant.tool_calls = vec![
        call("c1", "weather", r#"{"city":"Paris"}"#),
        call("c2", "weather", r#"{"city":"Oslo"}"#),
    ];
    let mut tool_a = text(Role::Tool, "18C");
    tool_a.tool_call_id = Some("c1".into());
    let req = ChatRequest {
        messages: vec![
            text(Role::System, "be brief"),
            text(Role::Developer, "answer in English"),
            text(Role::User, "Weather?"),
            assistant,
            tool_a,
            text(Role::Assistant, "Paris is mild."),
        ],
        temperature: Some(0.2),
        top_p: Some(1.0),
        max_tokens: Some(64),
        stop: vec!["END".into()],
        seed: Some(7),
        presence_penalty: Some(0.5),
        frequency_penalty: Some(0.25),
        user: Some("u-1".into()),
        parallel_tool_calls: Some(false),
        n: Some(1),
        ..ChatRequest::default()
    };
    let body = chat_body("command-a-03-2025", &req, false).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "command-a-03-2025",
            "stream": false,
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "system", "content": "answer in English"},
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "tool_plan": "Let me check both.", "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "c2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}},
                ]},
                {"role": "tool", "tool_call_id": "c1", "content": "18C"},
                {"role": "assistant", "content": "Paris is mild."},
            ],
            "temperature": 0.2,
            "p": 0.99,
            "max_tokens": 64,
            "stop_sequences": ["END"],
            "seed": 7,
            "frequency_penalty": 0.25,
            "presence_penalty": 0.5,
        })
    );
    let low = ChatRequest {
        top_p: Some(0.0),
        ..ChatRequest::default()
    };
    assert_eq!(chat_body("m", &low, true).unwrap()["p"], json!(0.01));
    assert_eq!(chat_body("m", &low, true).unwrap()["stream"], json!(true));
}

#[test]
fn images_tools_choice_and_schema() {
    let user = Message {
        role: Role::User as i32,
        content: vec![
            ContentPart {
                part: Some(Part::Text("What is this?".into())),
            },
            ContentPart {
                part: Some(Part::ImageUrl(ImageUrl {
                    url: "data:image/png;base64,iVBORw0KGgo=".into(),
                    detail: "low".into(),
                })),
            },
            ContentPart {
                part: Some(Part::ImageUrl(ImageUrl {
                    url: "https://example.com/cat.jpg".into(),
                    detail: String::new(),
                })),
            },
        ],
        ..Message::default()
    };
    let req = ChatRequest {
        messages: vec![user],
        tools: vec![tool("a", Some(true)), tool("b", Some(true))],
        tool_choice: choice(ToolChoiceKind::Mode("required".into())),
        response_format: Some(ResponseFormat {
            format: Some(Format::JsonSchema(JsonSchemaFormat {
                name: "answer".into(),
                schema: Some(schema()),
                strict: Some(true),
                ..JsonSchemaFormat::default()
            })),
        }),
        ..ChatRequest::default()
    };
    let body = chat_body("command-a-vision-07-2025", &req, false).unwrap();
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        ])
    );
    assert_eq!(
        body["tools"][0],
        json!({"type": "function", "function": {"name": "a", "description": "a tool", "parameters": {"type": "object"}}})
    );
    assert_eq!(body["strict_tools"], json!(true));
    assert_eq!(body["tool_choice"], json!("REQUIRED"));
    assert_eq!(
        body["response_format"],
        json!({"type": "json_object", "json_schema": {"type": "object"}})
    );
}

#[test]
fn tool_choice_modes() {
    let with = |tools: Vec<Tool>, c: Option<ToolChoice>| {
        let req = ChatRequest {
            tools,
            tool_choice: c,
            ..ChatRequest::default()
        };
        chat_body("m", &req, false)
    };
    let auto = with(
        vec![tool("a", None)],
        choice(ToolChoiceKind::Mode("auto".into())),
    )
    .unwrap();
    assert!(auto.get("tool_choice").is_none());
    assert!(
        auto.get("strict_tools").is_none(),
        "not every tool is strict"
    );
    let none = with(
        vec![tool("a", None)],
        choice(ToolChoiceKind::Mode("none".into())),
    )
    .unwrap();
    assert_eq!(none["tool_choice"], json!("NONE"));
    let only = with(
        vec![tool("a", None)],
        choice(ToolChoiceKind::FunctionName("a".into())),
    )
    .unwrap();
    assert_eq!(only["tool_choice"], json!("REQUIRED"));
    let err = with(
        vec![tool("a", None), tool("b", None)],
        choice(ToolChoiceKind::FunctionName("a".into())),
    )
    .unwrap_err();
    assert!(
        matches!(err, ProviderError::InvalidRequest { ref param, .. } if param == "tool_choice")
    );
    let err = with(
        vec![tool("a", None)],
        choice(ToolChoiceKind::Mode("any".into())),
    )
    .unwrap_err();
    assert!(
        matches!(err, ProviderError::InvalidRequest { ref param, .. } if param == "tool_choice")
    );
    let json_object = ChatRequest {
        response_format: Some(ResponseFormat {
            format: Some(Format::JsonObject(true)),
        }),
        ..ChatRequest::default()
    };
    assert_eq!(
        chat_body("m", &json_object, false).unwrap()["response_format"],
        json!({"type": "json_object"})
    );
}

#[test]
fn untranslatable_requests_are_refused_naming_the_field() {
    let param = |req: ChatRequest| match chat_body("m", &req, false) {
        Err(ProviderError::InvalidRequest { param, .. }) => param,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(
        param(ChatRequest {
            n: Some(2),
            ..ChatRequest::default()
        }),
        "n"
    );
    assert_eq!(
        param(ChatRequest {
            logprobs: Some(true),
            ..ChatRequest::default()
        }),
        "logprobs"
    );
    let audio = Message {
        role: Role::User as i32,
        content: vec![
            ContentPart {
                part: Some(Part::Text("hi".into())),
            },
            ContentPart {
                part: Some(Part::InputAudio(InputAudio::default())),
            },
        ],
        ..Message::default()
    };
    assert_eq!(
        param(ChatRequest {
            messages: vec![audio],
            ..ChatRequest::default()
        }),
        "messages[0].content[1]"
    );
    assert_eq!(
        param(ChatRequest {
            messages: vec![text(Role::Tool, "18C")],
            ..ChatRequest::default()
        }),
        "messages[0].tool_call_id"
    );
    assert_eq!(
        param(ChatRequest {
            messages: vec![text(Role::Unspecified, "?")],
            ..ChatRequest::default()
        }),
        "messages[0].role"
    );
    let mut retrieval = tool("a", None);
    retrieval.r#type = "retrieval".into();
    assert_eq!(
        param(ChatRequest {
            tools: vec![retrieval],
            ..ChatRequest::default()
        }),
        "tools[0].type"
    );
}

#[test]
fn provider_options_merge_but_never_replace_the_conversation() {
    let options = prost_types::Struct {
        fields: [
            (
                "safety_mode".to_string(),
                prost_types::Value {
                    kind: Some(Kind::StringValue("STRICT".into())),
                },
            ),
            (
                "model".to_string(),
                prost_types::Value {
                    kind: Some(Kind::StringValue("other".into())),
                },
            ),
        ]
        .into_iter()
        .collect(),
    };
    let req = ChatRequest {
        provider_options: Some(options),
        ..ChatRequest::default()
    };
    let body = chat_body("m", &req, false).unwrap();
    assert_eq!(body["safety_mode"], json!("STRICT"));
    assert_eq!(body["model"], json!("m"));
}

#[test]
fn usage_prefers_billed_units() {
    let usage: WireUsage = serde_json::from_value(json!({
        "billed_units": {"input_tokens": 37.0, "output_tokens": 28.0},
        "tokens": {"input_tokens": 913.0, "output_tokens": 83.0},
        "cached_tokens": 900,
    }))
    .unwrap();
    assert_eq!(
        usage.to_proto(),
        Some(Usage {
            prompt_tokens: 37,
            completion_tokens: 28,
            total_tokens: 65,
            cached_prompt_tokens: 37,
            ..Usage::default()
        })
    );
    let tokens_only: WireUsage = serde_json::from_value(json!({
        "billed_units": {"input_tokens": 0, "output_tokens": 0},
        "tokens": {"input_tokens": 10, "output_tokens": 2},
        "cached_tokens": 4,
    }))
    .unwrap();
    let u = tokens_only.to_proto().unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.cached_prompt_tokens),
        (10, 2, 4)
    );
    assert!(!u.estimated);
    let empty: WireUsage = serde_json::from_value(json!({"billed_units": null})).unwrap();
    assert_eq!(empty.to_proto(), None);
}

#[test]
fn finish_reasons() {
    assert_eq!(finish(Some("COMPLETE")), Finish::Reason(FinishReason::Stop));
    assert_eq!(
        finish(Some("STOP_SEQUENCE")),
        Finish::Reason(FinishReason::Stop)
    );
    assert_eq!(
        finish(Some("MAX_TOKENS")),
        Finish::Reason(FinishReason::Length)
    );
    assert_eq!(
        finish(Some("TOOL_CALL")),
        Finish::Reason(FinishReason::ToolCalls)
    );
    assert_eq!(finish(Some("ERROR")), Finish::Error);
    assert_eq!(finish(Some("TIMEOUT")), Finish::Timeout);
    assert_eq!(finish(None), Finish::Reason(FinishReason::Unspecified));
    assert_eq!(
        finish(Some("SOMETHING_NEW")),
        Finish::Reason(FinishReason::Stop)
    );
}

#[test]
fn answers_skip_thinking_and_keep_tool_calls() {
    let m: WireMessage = serde_json::from_value(json!({
        "role": "assistant",
        "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "Hi"}],
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}],
        "tool_plan": "plan",
    }))
    .unwrap();
    let message = message(&m);
    assert_eq!(message.content[0].part, Some(Part::Text("Hi".into())));
    assert_eq!(message.tool_calls[0], call("c1", "f", r#"{"x":1}"#));
    assert_eq!(content_text(Some(&json!("plain"))), Some("plain".into()));
    assert_eq!(content_text(Some(&json!([]))), None);
}

#[test]
fn errors_are_read_and_classified() {
    let too_long = parse_error(
        br#"{"id":"e1","message":"too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 4292. Try using a shorter prompt, or enabling prompt truncating."}"#,
    );
    assert_eq!(too_long.code.as_deref(), Some(CONTEXT_LENGTH_CODE));
    let size =
        parse_error(br#"{"message":"too many tokens: size limit exceeded by 11326 tokens."}"#);
    assert_eq!(size.code.as_deref(), Some(CONTEXT_LENGTH_CODE));
    let output = parse_error(
        br#"{"message":"too many tokens: max tokens must be less than or equal to 4096, the maximum output for this model - received 8192."}"#,
    );
    assert_eq!(output.code, None);
    assert!(output.message.unwrap().contains("max tokens"));
    assert_eq!(
        parse_error(b"<html>bad gateway</html>"),
        UpstreamError::default()
    );
    assert_eq!(
        upstream_error(&json!("overloaded")).message.as_deref(),
        Some("overloaded")
    );
}

#[test]
fn embed_bodies_and_vectors() {
    let req = EmbedRequest {
        input: vec!["a".into(), "b".into()],
        dimensions: Some(256),
        ..EmbedRequest::default()
    };
    let texts = embed_texts(&req).unwrap();
    assert_eq!(
        embed_body("embed-v4.0", texts, &req),
        json!({"model": "embed-v4.0", "texts": ["a", "b"], "input_type": "search_document", "embedding_types": ["float"], "output_dimension": 256})
    );
    let tokens = EmbedRequest {
        token_input: vec![Default::default()],
        ..EmbedRequest::default()
    };
    assert!(embed_texts(&tokens).is_err());
    assert!(embed_texts(&EmbedRequest::default()).is_err());

    let float: WireEmbedResponse =
        serde_json::from_value(json!({"embeddings": {"float": [[0.5, -0.25]]}})).unwrap();
    assert_eq!(float.vectors(), Some(vec![vec![0.5, -0.25]]));
    let b64 = {
        use base64::Engine as _;
        let bytes: Vec<u8> = [0.5f32, 2.0].iter().flat_map(|f| f.to_le_bytes()).collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let base64: WireEmbedResponse =
        serde_json::from_value(json!({"embeddings": {"base64": [b64]}})).unwrap();
    assert_eq!(base64.vectors(), Some(vec![vec![0.5, 2.0]]));
    let bare: WireEmbedResponse = serde_json::from_value(json!({"embeddings": [[1.0]]})).unwrap();
    assert_eq!(bare.vectors(), Some(vec![vec![1.0]]));
    let int8: WireEmbedResponse =
        serde_json::from_value(json!({"embeddings": {"int8": [[1]]}})).unwrap();
    assert_eq!(int8.vectors(), None);
}
