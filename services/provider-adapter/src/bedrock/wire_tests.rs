//! Unit tests of the Converse request translation (a separate file to keep wire.rs
//! small).
#![allow(clippy::unwrap_used)]

use prost_types::value::Kind;
use prost_types::{ListValue, Struct};
use switchyard_proto::types::v1::{
    CacheControl, FileData, FunctionCall, FunctionDefinition, ImageUrl, InputAudio,
    JsonSchemaFormat, ResponseFormat, ToolCall, ToolChoice,
};

use super::*;

fn pb(v: &Value) -> prost_types::Value {
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(a) => Kind::ListValue(ListValue {
            values: a.iter().map(pb).collect(),
        }),
        Value::Object(o) => Kind::StructValue(Struct {
            fields: o.iter().map(|(k, v)| (k.clone(), pb(v))).collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

fn obj(v: Value) -> Struct {
    Struct {
        fields: v
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), pb(v)))
            .collect(),
    }
}

fn text(t: &str) -> ContentPart {
    ContentPart {
        part: Some(Part::Text(t.into())),
    }
}

fn msg(role: Role, parts: Vec<ContentPart>) -> Message {
    Message {
        role: role as i32,
        content: parts,
        ..Message::default()
    }
}

fn image(url: &str) -> ContentPart {
    ContentPart {
        part: Some(Part::ImageUrl(ImageUrl {
            url: url.into(),
            detail: String::new(),
        })),
    }
}

fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        r#type: "function".into(),
        function: Some(FunctionCall {
            name: name.into(),
            arguments: arguments.into(),
        }),
    }
}

fn tool_message(id: &str, t: &str) -> Message {
    Message {
        role: Role::Tool as i32,
        content: vec![text(t)],
        tool_call_id: Some(id.into()),
        ..Message::default()
    }
}

fn weather_tool() -> Tool {
    Tool {
        r#type: "function".into(),
        function: Some(FunctionDefinition {
            name: "get_weather".into(),
            description: Some("Weather by city".into()),
            parameters: Some(obj(json!({
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            }))),
            strict: None,
        }),
        cache_control: None,
    }
}

fn param_of(err: ProviderError) -> String {
    match err {
        ProviderError::InvalidRequest { param, .. } => param,
        other => panic!("{other:?}"),
    }
}

#[test]
fn full_conversation_with_tools_both_ways() {
    let req = ChatRequest {
        messages: vec![
            msg(Role::System, vec![text("be brief")]),
            msg(Role::Developer, vec![text("answer in English")]),
            msg(
                Role::User,
                vec![text("Weather in Paris"), text("and Oslo?")],
            ),
            msg(Role::User, vec![text("")]),
            Message {
                role: Role::Assistant as i32,
                content: vec![text("Checking.")],
                tool_calls: vec![
                    call("tooluse_1", "get_weather", r#"{"city":"Paris"}"#),
                    call("tooluse_2", "get_weather", r#"{"city": "Oslo"}"#),
                ],
                ..Message::default()
            },
            tool_message("tooluse_1", "18C"),
            tool_message("tooluse_2", "9C"),
            msg(Role::User, vec![text("Thanks")]),
        ],
        temperature: Some(0.5),
        top_p: Some(0.9),
        max_tokens: Some(256),
        stop: vec!["END".into()],
        seed: Some(7),
        presence_penalty: Some(1.0),
        tools: vec![weather_tool()],
        tool_choice: Some(ToolChoice {
            choice: Some(ToolChoiceKind::Mode("auto".into())),
        }),
        parallel_tool_calls: Some(true),
        ..ChatRequest::default()
    };
    assert_eq!(
        converse_body(&req).unwrap(),
        json!({
            "system": [{"text": "be brief"}, {"text": "answer in English"}],
            "messages": [
                {"role": "user", "content": [{"text": "Weather in Paris"}, {"text": "and Oslo?"}]},
                {"role": "assistant", "content": [
                    {"text": "Checking."},
                    {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}},
                    {"toolUse": {"toolUseId": "tooluse_2", "name": "get_weather", "input": {"city": "Oslo"}}},
                ]},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "18C"}]}},
                    {"toolResult": {"toolUseId": "tooluse_2", "content": [{"text": "9C"}]}},
                    {"text": "Thanks"},
                ]},
            ],
            "inferenceConfig": {"maxTokens": 256, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
            "toolConfig": {
                "tools": [{"toolSpec": {
                    "name": "get_weather",
                    "description": "Weather by city",
                    "inputSchema": {"json": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    }},
                }}],
                "toolChoice": {"auto": {}},
            },
        })
    );
}

#[test]
fn tool_choices() {
    let body = |choice: ToolChoiceKind| {
        let req = ChatRequest {
            messages: vec![msg(Role::User, vec![text("hi")])],
            tools: vec![weather_tool()],
            tool_choice: Some(ToolChoice {
                choice: Some(choice),
            }),
            ..ChatRequest::default()
        };
        converse_body(&req)
    };
    let required = body(ToolChoiceKind::Mode("required".into())).unwrap();
    assert_eq!(required["toolConfig"]["toolChoice"], json!({"any": {}}));
    let named = body(ToolChoiceKind::FunctionName("get_weather".into())).unwrap();
    assert_eq!(
        named["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "get_weather"}})
    );
    let none = body(ToolChoiceKind::Mode("none".into())).unwrap();
    assert_eq!(none.get("toolConfig"), None, "no tools: nothing to call");
    // Once the history holds tool blocks, Converse needs the tools: refuse `none`.
    let req = ChatRequest {
        messages: vec![
            msg(Role::User, vec![text("hi")]),
            Message {
                role: Role::Assistant as i32,
                tool_calls: vec![call("t1", "get_weather", "{}")],
                ..Message::default()
            },
            tool_message("t1", "x"),
        ],
        tools: vec![weather_tool()],
        tool_choice: Some(ToolChoice {
            choice: Some(ToolChoiceKind::Mode("none".into())),
        }),
        ..ChatRequest::default()
    };
    assert_eq!(param_of(converse_body(&req).unwrap_err()), "tool_choice");
}

#[test]
fn images_are_inline_bytes_only() {
    let req = |url: &str| ChatRequest {
        messages: vec![msg(Role::User, vec![text("what is this?"), image(url)])],
        ..ChatRequest::default()
    };
    let body = converse_body(&req("data:image/png;base64,iVBORw0KGgo=")).unwrap();
    assert_eq!(
        body["messages"][0]["content"][1],
        json!({"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}})
    );
    for (mime, format) in [
        ("image/jpeg", "jpeg"),
        ("image/jpg", "jpeg"),
        ("image/gif", "gif"),
        ("image/webp", "webp"),
    ] {
        let body = converse_body(&req(&format!("data:{mime};base64,AAAA"))).unwrap();
        assert_eq!(body["messages"][0]["content"][1]["image"]["format"], format);
    }
    let refused = converse_body(&req("https://example.com/cat.png")).unwrap_err();
    assert!(refused.to_string().contains("not fetched"), "{refused}");
    assert_eq!(param_of(refused), "messages[0].content[1].image_url.url");
    for bad in [
        "data:image/bmp;base64,AAAA",
        "data:image/png,notbase64",
        "data:image/png;base64,",
        "ftp://x/y.png",
    ] {
        assert!(converse_body(&req(bad)).is_err(), "{bad}");
    }
    let audio = ChatRequest {
        messages: vec![msg(
            Role::User,
            vec![ContentPart {
                part: Some(Part::InputAudio(InputAudio {
                    data: "AAAA".into(),
                    format: "wav".into(),
                })),
            }],
        )],
        ..ChatRequest::default()
    };
    assert_eq!(
        param_of(converse_body(&audio).unwrap_err()),
        "messages[0].content[0]"
    );
}

#[test]
fn refusals_that_converse_cannot_honour() {
    let base = || ChatRequest {
        messages: vec![msg(Role::User, vec![text("hi")])],
        ..ChatRequest::default()
    };
    let mut n = base();
    n.n = Some(2);
    assert_eq!(param_of(converse_body(&n).unwrap_err()), "n");
    n.n = Some(1);
    assert!(converse_body(&n).is_ok());
    let mut logprobs = base();
    logprobs.logprobs = Some(true);
    assert_eq!(param_of(converse_body(&logprobs).unwrap_err()), "logprobs");
    let mut json_mode = base();
    json_mode.response_format = Some(ResponseFormat {
        format: Some(Format::JsonObject(true)),
    });
    assert_eq!(
        param_of(converse_body(&json_mode).unwrap_err()),
        "response_format"
    );
    let mut bad_args = base();
    bad_args.messages.push(Message {
        role: Role::Assistant as i32,
        tool_calls: vec![call("t", "f", "{not json")],
        ..Message::default()
    });
    assert_eq!(
        param_of(converse_body(&bad_args).unwrap_err()),
        "messages[1].tool_calls[0].function.arguments"
    );
    let mut no_id = base();
    no_id.messages.push(Message {
        role: Role::Tool as i32,
        content: vec![text("x")],
        ..Message::default()
    });
    assert_eq!(
        param_of(converse_body(&no_id).unwrap_err()),
        "messages[1].tool_call_id"
    );
    let mut unspecified = base();
    unspecified.messages[0].role = 0;
    assert_eq!(
        param_of(converse_body(&unspecified).unwrap_err()),
        "messages[0].role"
    );
}

#[test]
fn json_schema_is_structured_output() {
    let req = ChatRequest {
        messages: vec![msg(Role::User, vec![text("hi")])],
        response_format: Some(ResponseFormat {
            format: Some(Format::JsonSchema(JsonSchemaFormat {
                name: "answer".into(),
                description: Some("The answer".into()),
                schema: Some(obj(json!({"type": "object", "properties": {}}))),
                strict: Some(true),
            })),
        }),
        ..ChatRequest::default()
    };
    let body = converse_body(&req).unwrap();
    let definition = &body["outputConfig"]["textFormat"]["structure"]["jsonSchema"];
    assert_eq!(body["outputConfig"]["textFormat"]["type"], "json_schema");
    assert_eq!(definition["name"], "answer");
    assert_eq!(definition["description"], "The answer");
    let schema: Value = serde_json::from_str(definition["schema"].as_str().unwrap()).unwrap();
    assert_eq!(schema, json!({"type": "object", "properties": {}}));
}

#[test]
fn provider_options_split_between_converse_and_model_fields() {
    let req = ChatRequest {
        messages: vec![msg(Role::User, vec![text("hi")])],
        provider_options: Some(obj(json!({
            "top_k": 40,
            "guardrailConfig": {"guardrailIdentifier": "g1", "guardrailVersion": "1"},
            "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
        }))),
        ..ChatRequest::default()
    };
    let body = converse_body(&req).unwrap();
    assert_eq!(
        body["guardrailConfig"],
        json!({"guardrailIdentifier": "g1", "guardrailVersion": "1"})
    );
    assert_eq!(
        body["additionalModelRequestFields"],
        json!({"top_k": 40, "thinking": {"type": "enabled", "budget_tokens": 1024}})
    );
}

#[test]
fn tool_results_with_images_and_empty_text() {
    let req = ChatRequest {
        messages: vec![Message {
            role: Role::Tool as i32,
            content: vec![image("data:image/png;base64,AAAA")],
            tool_call_id: Some("t1".into()),
            ..Message::default()
        }],
        ..ChatRequest::default()
    };
    assert_eq!(
        converse_body(&req).unwrap()["messages"][0]["content"][0],
        json!({"toolResult": {"toolUseId": "t1", "content": [
            {"image": {"format": "png", "source": {"bytes": "AAAA"}}}
        ]}})
    );
}

/// Cache breakpoints become `cachePoint` entries after the system prompt, the
/// message and the tool that carry them.
#[test]
fn cache_breakpoints_become_cache_points() {
    let point = json!({"cachePoint": {"type": "default"}});
    let mut system = msg(Role::System, vec![text("You are a coding agent.")]);
    system.cache_control = Some(CacheControl::default());
    let mut question = msg(Role::User, vec![text("fix the bug")]);
    question.cache_control = Some(CacheControl { ttl: "1h".into() });
    let mut tool = weather_tool();
    tool.cache_control = Some(CacheControl::default());
    let req = ChatRequest {
        messages: vec![system, question, msg(Role::User, vec![text("now")])],
        tools: vec![tool],
        ..ChatRequest::default()
    };
    let body = converse_body(&req).unwrap();
    assert_eq!(
        body["system"],
        json!([{"text": "You are a coding agent."}, point])
    );
    assert_eq!(
        body["messages"][0]["content"],
        json!([{"text": "fix the bug"}, point, {"text": "now"}])
    );
    assert_eq!(body["toolConfig"]["tools"][1], point);
    assert_eq!(body["toolConfig"]["tools"].as_array().unwrap().len(), 2);
}

/// Files are `document` blocks of inline bytes, named as Converse allows.
#[test]
fn files_are_named_document_blocks() {
    let file = |data: &str, media_type: &str, name: &str| ContentPart {
        part: Some(Part::File(FileData {
            data: data.into(),
            url: String::new(),
            media_type: media_type.into(),
            filename: name.into(),
        })),
    };
    let req = ChatRequest {
        messages: vec![msg(
            Role::User,
            vec![
                file("JVBERi0=", "application/pdf", "Q3 report_final.v2.pdf"),
                file("aGk=", "text/markdown", ""),
            ],
        )],
        ..ChatRequest::default()
    };
    let body = converse_body(&req).unwrap();
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"document": {"format": "pdf", "name": "Q3 report-final-v2", "source": {"bytes": "JVBERi0="}}},
            {"document": {"format": "md", "name": "document-1", "source": {"bytes": "aGk="}}},
        ])
    );
    let by_url = ChatRequest {
        messages: vec![msg(
            Role::User,
            vec![ContentPart {
                part: Some(Part::File(FileData {
                    url: "https://example.com/r.pdf".into(),
                    ..FileData::default()
                })),
            }],
        )],
        ..ChatRequest::default()
    };
    assert!(converse_body(&by_url).is_err());
}

/// `reasoning_effort` is Claude's extended thinking on Claude models only, with
/// its budget added to `maxTokens`; a caller's own `thinking` wins.
#[test]
fn reasoning_effort_is_claude_thinking_on_claude_only() {
    let mut req = ChatRequest {
        messages: vec![msg(Role::User, vec![text("prove it")])],
        max_tokens: Some(500),
        reasoning_effort: Some("low".into()),
        ..ChatRequest::default()
    };
    let claude = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    let mut body = converse_body(&req).unwrap();
    claude_thinking(&mut body, claude, &req).unwrap();
    assert_eq!(
        body["additionalModelRequestFields"]["thinking"],
        json!({"type": "enabled", "budget_tokens": 1024})
    );
    assert_eq!(body["inferenceConfig"]["maxTokens"], 1524);

    let mut nova = converse_body(&req).unwrap();
    claude_thinking(&mut nova, "amazon.nova-pro-v1:0", &req).unwrap();
    assert!(nova.get("additionalModelRequestFields").is_none());
    assert_eq!(nova["inferenceConfig"]["maxTokens"], 500);

    req.provider_options = Some(obj(
        json!({"thinking": {"type": "enabled", "budget_tokens": 4000}}),
    ));
    let mut own = converse_body(&req).unwrap();
    claude_thinking(&mut own, claude, &req).unwrap();
    assert_eq!(
        own["additionalModelRequestFields"]["thinking"]["budget_tokens"],
        4000.0
    );
    assert_eq!(own["inferenceConfig"]["maxTokens"], 500);

    req.provider_options = None;
    req.temperature = Some(0.3);
    let mut hot = converse_body(&req).unwrap();
    assert!(claude_thinking(&mut hot, claude, &req).is_err());
}
