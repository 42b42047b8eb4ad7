//! Unit tests of the Anthropic wire translation (a separate file to keep wire.rs
//! small).
#![allow(clippy::unwrap_used)]

use super::*;
use crate::UpstreamError;
use prost_types::value::Kind;
use prost_types::{ListValue, Struct};
use switchyard_proto::types::v1::{
    FileData, FinishReason, FunctionCall, FunctionDefinition, ImageUrl, InputAudio,
    JsonSchemaFormat, Reasoning, ResponseFormat, ToolCall, ToolChoice, Usage,
};

/// A protobuf Value from JSON, as a generated client would send it.
fn pb(v: &Value) -> prost_types::Value {
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(a) => Kind::ListValue(ListValue {
            values: a.iter().map(pb).collect(),
        }),
        Value::Object(o) => Kind::StructValue(obj(Value::Object(o.clone()))),
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

fn image(url: &str) -> ContentPart {
    ContentPart {
        part: Some(Part::ImageUrl(ImageUrl {
            url: url.into(),
            detail: "high".into(),
        })),
    }
}

fn msg(role: Role, parts: Vec<ContentPart>) -> Message {
    Message {
        role: role as i32,
        content: parts,
        ..Message::default()
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

fn tool_answer(id: &str, t: &str) -> Message {
    Message {
        tool_call_id: Some(id.into()),
        ..msg(Role::Tool, vec![text(t)])
    }
}

fn request(messages: Vec<Message>) -> ChatRequest {
    ChatRequest {
        model: "alias".into(),
        messages,
        ..ChatRequest::default()
    }
}

fn weather_tool() -> Tool {
    Tool {
        r#type: "function".into(),
        function: Some(FunctionDefinition {
            name: "get_weather".into(),
            description: Some("Current weather".into()),
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

fn invalid_param(err: ProviderError) -> String {
    match err {
        ProviderError::InvalidRequest { param, .. } => param,
        other => panic!("not an invalid request: {other:?}"),
    }
}

#[test]
fn minimal_body_has_the_default_max_tokens() {
    let req = request(vec![msg(Role::User, vec![text("Hello")])]);
    let body = messages_body("claude-x", &req, false).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "claude-x",
            "messages": [{"role": "user", "content": "Hello"}],
            "max_tokens": 4096,
        })
    );
    let body = messages_body("claude-x", &req, true).unwrap();
    assert_eq!(body["stream"], json!(true));
}

#[test]
fn sampling_options_system_and_ignored_fields() {
    let mut req = request(vec![
        msg(Role::System, vec![text("be brief")]),
        msg(Role::User, vec![text("hi")]),
    ]);
    req.temperature = Some(0.5);
    req.top_p = Some(0.9);
    req.max_tokens = Some(77);
    req.stop = vec!["END".into(), "\n\n".into()];
    req.seed = Some(42);
    req.presence_penalty = Some(0.1);
    req.frequency_penalty = Some(0.2);
    req.n = Some(1);
    req.user = Some("user-7".into());
    req.provider_options = Some(obj(json!({"top_k": 5, "model": "nope", "stream": true})));
    let body = messages_body("m", &req, false).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "m",
            "system": "be brief",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 77,
            "temperature": 0.5,
            "top_p": 0.9,
            "stop_sequences": ["END", "\n\n"],
            "metadata": {"user_id": "user-7"},
            "top_k": 5,
        })
    );
}

#[test]
fn several_system_and_developer_messages_become_text_blocks() {
    let req = request(vec![
        msg(Role::System, vec![text("rule one")]),
        msg(Role::User, vec![text("hi")]),
        msg(Role::Developer, vec![text("rule two"), text("")]),
    ]);
    let body = messages_body("m", &req, false).unwrap();
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "rule one"}, {"type": "text", "text": "rule two"}])
    );
    let bad = request(vec![msg(Role::System, vec![image("https://x/y.png")])]);
    assert_eq!(
        invalid_param(messages_body("m", &bad, false).unwrap_err()),
        "messages[0].content[0]"
    );
}

#[test]
fn consecutive_same_role_turns_merge() {
    let req = request(vec![
        msg(Role::User, vec![text("one")]),
        msg(Role::User, vec![text("two")]),
        msg(Role::Assistant, vec![text("a")]),
        msg(Role::Assistant, vec![text("")]),
        msg(Role::Assistant, vec![text("b")]),
        msg(Role::User, vec![text("three")]),
    ]);
    let body = messages_body("m", &req, false).unwrap();
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [
                {"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "user", "content": "three"},
        ])
    );
}

/// Cache breakpoints land on the last block of what carries them, keeping a
/// one-block system prompt or message in block form.
#[test]
fn cache_breakpoints_become_cache_control() {
    let hour = || Some(CacheControl { ttl: "1h".into() });
    let mut system = msg(Role::System, vec![text("You are a coding agent.")]);
    system.cache_control = hour();
    let mut question = msg(Role::User, vec![text("fix the bug")]);
    question.cache_control = Some(CacheControl::default());
    let mut assistant = msg(Role::Assistant, vec![]);
    assistant.tool_calls = vec![call("toolu_a", "get_weather", "{}")];
    let mut result = tool_answer("toolu_a", "18C");
    result.cache_control = Some(CacheControl::default());
    let mut req = request(vec![system, question, assistant, result]);
    let mut tool = weather_tool();
    tool.cache_control = hour();
    req.tools = vec![tool];
    let body = messages_body("m", &req, false).unwrap();
    let ephemeral = json!({"type": "ephemeral"});
    let an_hour = json!({"type": "ephemeral", "ttl": "1h"});
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "You are a coding agent.", "cache_control": an_hour}])
    );
    assert_eq!(
        body["messages"][0]["content"],
        json!([{"type": "text", "text": "fix the bug", "cache_control": ephemeral}])
    );
    assert_eq!(
        body["messages"][2]["content"][0]["cache_control"],
        ephemeral
    );
    assert_eq!(body["messages"][2]["content"][0]["type"], "tool_result");
    assert_eq!(body["tools"][0]["cache_control"], an_hour);
    // Without breakpoints, the shorthand strings stay.
    let plain = messages_body(
        "m",
        &request(vec![msg(Role::User, vec![text("hi")])]),
        false,
    )
    .unwrap();
    assert_eq!(plain["messages"][0]["content"], "hi");
}

/// Signed reasoning goes back first, as the thinking blocks Anthropic wrote;
/// reasoning unsigned (DeepSeek's) or signed by another provider (Gemini's) is
/// not sent.
#[test]
fn signed_reasoning_goes_back_as_thinking_blocks() {
    let mut assistant = msg(Role::Assistant, vec![text("Checking.")]);
    assistant.tool_calls = vec![call("toolu_a", "get_weather", "{}")];
    assistant.reasoning = vec![
        Reasoning {
            text: "weather needs a tool".into(),
            signature: "sig-1".into(),
            redacted: false,
        },
        Reasoning {
            text: String::new(),
            signature: "EnCrYpTeD".into(),
            redacted: true,
        },
        Reasoning {
            text: "deepseek's thoughts".into(),
            signature: String::new(),
            redacted: false,
        },
        Reasoning {
            text: String::new(),
            signature: "gemini:c2lnLTE=".into(),
            redacted: false,
        },
    ];
    let req = request(vec![
        msg(Role::User, vec![text("weather?")]),
        assistant,
        tool_answer("toolu_a", "18C"),
    ]);
    let body = messages_body("m", &req, false).unwrap();
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": "weather needs a tool", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "EnCrYpTeD"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}},
        ])
    );
}

#[test]
fn parallel_tool_calls_and_results_round_trip() {
    let mut assistant = msg(Role::Assistant, vec![]);
    assistant.tool_calls = vec![
        call("toolu_a", "get_weather", r#"{"city": "Paris"}"#),
        call("toolu_b", "get_weather", ""),
    ];
    let mut req = request(vec![
        msg(Role::User, vec![text("weather?")]),
        assistant,
        tool_answer("toolu_a", "18C"),
        tool_answer("toolu_b", "12C"),
        msg(Role::User, vec![text("thanks; and tomorrow?")]),
    ]);
    req.tools = vec![weather_tool()];
    let body = messages_body("m", &req, false).unwrap();
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "toolu_b", "content": "12C"},
                {"type": "text", "text": "thanks; and tomorrow?"},
            ]},
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{
            "name": "get_weather",
            "description": "Current weather",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        }])
    );
    assert!(body.get("tool_choice").is_none());
}

#[test]
fn tool_results_go_first_in_a_user_turn() {
    let mut assistant = msg(Role::Assistant, vec![text("checking")]);
    assistant.tool_calls = vec![call("t1", "f", "{}")];
    let req = request(vec![
        msg(Role::User, vec![text("go")]),
        assistant,
        msg(Role::User, vec![text("also this")]),
        tool_answer("t1", "done"),
    ]);
    let body = messages_body("m", &req, false).unwrap();
    assert_eq!(
        body["messages"][2]["content"],
        json!([
            {"type": "tool_result", "tool_use_id": "t1", "content": "done"},
            {"type": "text", "text": "also this"},
        ])
    );
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"type": "text", "text": "checking"},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
        ])
    );
}

#[test]
fn bad_tool_calls_name_the_field() {
    let mut assistant = msg(Role::Assistant, vec![]);
    assistant.tool_calls = vec![call("t1", "f", "[1, 2]")];
    let req = request(vec![msg(Role::User, vec![text("x")]), assistant.clone()]);
    assert_eq!(
        invalid_param(messages_body("m", &req, false).unwrap_err()),
        "messages[1].tool_calls[0].function.arguments"
    );
    assistant.tool_calls = vec![call("", "f", "{}")];
    let req = request(vec![assistant]);
    assert_eq!(
        invalid_param(messages_body("m", &req, false).unwrap_err()),
        "messages[0].tool_calls[0].id"
    );
    let req = request(vec![msg(Role::Tool, vec![text("orphan")])]);
    assert_eq!(
        invalid_param(messages_body("m", &req, false).unwrap_err()),
        "messages[0].tool_call_id"
    );
}

#[test]
fn tool_choice_modes() {
    let choice = |choice: Option<ToolChoiceKind>, parallel: Option<bool>| {
        let mut req = request(vec![msg(Role::User, vec![text("x")])]);
        req.tools = vec![weather_tool()];
        req.tool_choice = choice.map(|c| ToolChoice { choice: Some(c) });
        req.parallel_tool_calls = parallel;
        messages_body("m", &req, false)
            .map(|b| b.get("tool_choice").cloned())
            .map_err(invalid_param)
    };
    let mode = |m: &str| Some(ToolChoiceKind::Mode(m.into()));
    assert_eq!(
        choice(mode("auto"), None),
        Ok(Some(json!({"type": "auto"})))
    );
    assert_eq!(
        choice(mode("none"), None),
        Ok(Some(json!({"type": "none"})))
    );
    assert_eq!(
        choice(mode("required"), None),
        Ok(Some(json!({"type": "any"})))
    );
    assert_eq!(
        choice(
            Some(ToolChoiceKind::FunctionName("get_weather".into())),
            None
        ),
        Ok(Some(json!({"type": "tool", "name": "get_weather"})))
    );
    assert_eq!(
        choice(None, Some(false)),
        Ok(Some(
            json!({"type": "auto", "disable_parallel_tool_use": true})
        ))
    );
    assert_eq!(
        choice(mode("required"), Some(false)),
        Ok(Some(
            json!({"type": "any", "disable_parallel_tool_use": true})
        ))
    );
    assert_eq!(choice(None, Some(true)), Ok(None));
    assert_eq!(choice(mode("sometimes"), None), Err("tool_choice".into()));
}

#[test]
fn tools_without_parameters_and_strict() {
    let mut req = request(vec![msg(Role::User, vec![text("x")])]);
    req.tools = vec![Tool {
        r#type: String::new(),
        function: Some(FunctionDefinition {
            name: "now".into(),
            description: None,
            parameters: None,
            strict: Some(true),
        }),
        cache_control: None,
    }];
    let body = messages_body("m", &req, false).unwrap();
    assert_eq!(
        body["tools"],
        json!([{"name": "now", "input_schema": {"type": "object", "properties": {}}, "strict": true}])
    );
}

#[test]
fn images_base64_and_url() {
    let req = request(vec![msg(
        Role::User,
        vec![
            text("what is this?"),
            image("data:image/PNG;base64,iVBORw0KGgo="),
            image("https://example.com/cat.jpg"),
        ],
    )]);
    let body = messages_body("m", &req, false).unwrap();
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"type": "text", "text": "what is this?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        ])
    );
    for bad in [
        "data:image/bmp;base64,AAAA",
        "data:image/png,rawbytes",
        "data:image/png;base64",
        "ftp://example.com/a.png",
        "cat.png",
    ] {
        let req = request(vec![msg(Role::User, vec![text("x"), image(bad)])]);
        assert_eq!(
            invalid_param(messages_body("m", &req, false).unwrap_err()),
            "messages[0].content[1].image_url.url",
            "{bad}"
        );
    }
    let audio = ContentPart {
        part: Some(Part::InputAudio(InputAudio {
            data: "AAAA".into(),
            format: "wav".into(),
        })),
    };
    let req = request(vec![msg(Role::User, vec![audio])]);
    assert_eq!(
        invalid_param(messages_body("m", &req, false).unwrap_err()),
        "messages[0].content[0]"
    );
}

#[test]
fn refused_options() {
    let mut req = request(vec![msg(Role::User, vec![text("x")])]);
    req.n = Some(2);
    assert_eq!(
        invalid_param(messages_body("m", &req, false).unwrap_err()),
        "n"
    );
    let mut req = request(vec![msg(Role::User, vec![text("x")])]);
    req.logprobs = Some(true);
    assert_eq!(
        invalid_param(messages_body("m", &req, false).unwrap_err()),
        "logprobs"
    );
    let mut req = request(vec![msg(Role::User, vec![text("x")])]);
    req.response_format = Some(ResponseFormat {
        format: Some(Format::JsonObject(true)),
    });
    assert_eq!(
        invalid_param(messages_body("m", &req, false).unwrap_err()),
        "response_format"
    );
    req.response_format = Some(ResponseFormat {
        format: Some(Format::JsonSchema(JsonSchemaFormat {
            name: "x".into(),
            ..JsonSchemaFormat::default()
        })),
    });
    assert_eq!(
        invalid_param(messages_body("m", &req, false).unwrap_err()),
        "response_format.json_schema.schema"
    );
}

#[test]
fn json_schema_becomes_output_config() {
    let mut req = request(vec![msg(Role::User, vec![text("x")])]);
    req.response_format = Some(ResponseFormat {
        format: Some(Format::JsonSchema(JsonSchemaFormat {
            name: "answer".into(),
            schema: Some(obj(json!({
                "type": "object",
                "properties": {"n": {"type": "integer"}},
                "required": ["n"],
                "additionalProperties": false,
            }))),
            ..JsonSchemaFormat::default()
        })),
    });
    let body = messages_body("m", &req, false).unwrap();
    assert_eq!(
        body["output_config"],
        json!({"format": {"type": "json_schema", "schema": {
            "type": "object",
            "properties": {"n": {"type": "integer"}},
            "required": ["n"],
            "additionalProperties": false,
        }}})
    );
    req.response_format = Some(ResponseFormat {
        format: Some(Format::Text(true)),
    });
    assert!(
        messages_body("m", &req, false)
            .unwrap()
            .get("output_config")
            .is_none()
    );
}

#[test]
fn answers_translate() {
    let answer: WireMessage = serde_json::from_value(json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": "Let me check. "},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "text", "text": "Done."},
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": null, "cache_read_input_tokens": null},
    }))
    .unwrap();
    let m = message(&answer);
    assert_eq!(m.role, Role::Assistant as i32);
    assert_eq!(m.content, vec![text("Let me check. Done.")]);
    assert_eq!(
        m.reasoning,
        vec![Reasoning {
            text: "hmm".into(),
            signature: "sig".into(),
            redacted: false,
        }]
    );
    assert_eq!(
        m.tool_calls,
        vec![call("toolu_1", "get_weather", r#"{"city":"Paris"}"#)]
    );
    let tool_only: WireMessage = serde_json::from_value(json!({
        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
    }))
    .unwrap();
    assert!(message(&tool_only).content.is_empty());
    let empty: WireMessage = serde_json::from_value(json!({"content": null})).unwrap();
    assert_eq!(message(&empty).content, vec![text("")]);
}

#[test]
fn finish_reasons() {
    let cases = [
        (None, FinishReason::Unspecified),
        (Some("end_turn"), FinishReason::Stop),
        (Some("stop_sequence"), FinishReason::Stop),
        (Some("pause_turn"), FinishReason::Stop),
        (Some("max_tokens"), FinishReason::Length),
        (Some("model_context_window_exceeded"), FinishReason::Length),
        (Some("tool_use"), FinishReason::ToolCalls),
        (Some("refusal"), FinishReason::ContentFilter),
        (Some("something_new"), FinishReason::Stop),
    ];
    for (reason, want) in cases {
        assert_eq!(finish_reason(reason), want, "{reason:?}");
    }
}

#[test]
fn usage_counts_cache_inside_the_prompt() {
    let mut usage: WireUsage = serde_json::from_value(json!({
        "input_tokens": 50, "cache_creation_input_tokens": 1000,
        "cache_read_input_tokens": 2000, "output_tokens": 1,
    }))
    .unwrap();
    usage.merge(&serde_json::from_value(json!({"output_tokens": 42})).unwrap());
    assert_eq!(
        usage.to_proto(),
        Some(Usage {
            prompt_tokens: 3050,
            completion_tokens: 42,
            total_tokens: 3092,
            cached_prompt_tokens: 2000,
            reasoning_tokens: 0,
            estimated: false,
            cache_write_prompt_tokens: 1000,
        })
    );
    assert_eq!(WireUsage::default().to_proto(), None);
}

#[test]
fn errors_by_meaning() {
    let e = parse_error(
        br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"},"request_id":"req_1"}"#,
    );
    assert_eq!(e.code.as_deref(), Some("context_length_exceeded"));
    assert_eq!(e.kind.as_deref(), Some("invalid_request_error"));
    let e = parse_error(
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    );
    assert_eq!(
        e,
        UpstreamError {
            code: None,
            kind: Some("overloaded_error".into()),
            message: Some("Overloaded".into()),
        }
    );
    assert_eq!(
        parse_error(b"<html>bad gateway</html>"),
        UpstreamError::default()
    );
    let e = upstream_error(&json!({"error": "plain text"}));
    assert_eq!(e.message.as_deref(), Some("plain text"));
    // A monthly spend cap: a 429 `rate_limit_error` told apart by its details.
    let e = parse_error(
        br#"{"type":"error","error":{"type":"rate_limit_error","message":"Spend limit reached","details":{"error_code":"enforced_spend_limit_reached"}}}"#,
    );
    assert_eq!(e.code.as_deref(), Some("enforced_spend_limit_reached"));
    assert_eq!(e.kind.as_deref(), Some("rate_limit_error"));
}

/// PDFs go as base64 or url document sources, plain text as a text source;
/// other document types are refused.
#[test]
fn files_are_document_blocks() {
    let file = |data: &str, url: &str, media_type: &str| ContentPart {
        part: Some(Part::File(FileData {
            data: data.into(),
            url: url.into(),
            media_type: media_type.into(),
            filename: "Q3 report".into(),
        })),
    };
    let req = request(vec![msg(
        Role::User,
        vec![
            file("JVBERi0=", "", "application/pdf"),
            file("", "https://example.com/r.pdf", ""),
            file("aGVsbG8=", "", "text/plain"),
            text("summarize"),
        ],
    )]);
    let body = messages_body("m", &req, false).unwrap();
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"type": "document", "title": "Q3 report",
             "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}},
            {"type": "document", "title": "Q3 report",
             "source": {"type": "url", "url": "https://example.com/r.pdf"}},
            {"type": "document", "title": "Q3 report",
             "source": {"type": "text", "media_type": "text/plain", "data": "hello"}},
            {"type": "text", "text": "summarize"},
        ])
    );
    let sheet = request(vec![msg(Role::User, vec![file("AAAA", "", "text/csv")])]);
    assert!(messages_body("m", &sheet, false).is_err());
}

/// `reasoning_effort` is extended thinking with a budget on top of the answer's
/// own `max_tokens`; an explicit `thinking` option wins; a temperature other
/// than 1 cannot go with it.
#[test]
fn reasoning_effort_turns_on_thinking() {
    let mut req = request(vec![msg(Role::User, vec![text("prove it")])]);
    req.max_tokens = Some(500);
    req.reasoning_effort = Some("medium".into());
    let body = messages_body("m", &req, false).unwrap();
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 8192})
    );
    assert_eq!(body["max_tokens"], 8692);

    req.reasoning_effort = Some("none".into());
    let body = messages_body("m", &req, false).unwrap();
    assert!(body.get("thinking").is_none());
    assert_eq!(body["max_tokens"], 500);

    req.reasoning_effort = Some("high".into());
    req.provider_options = Some(obj(
        json!({"thinking": {"type": "enabled", "budget_tokens": 2048}}),
    ));
    let body = messages_body("m", &req, false).unwrap();
    assert_eq!(body["thinking"]["budget_tokens"], 2048.0);
    assert_eq!(body["max_tokens"], 500);

    req.provider_options = None;
    req.temperature = Some(0.2);
    let err = messages_body("m", &req, false).unwrap_err();
    assert!(format!("{err:?}").contains("temperature"), "{err:?}");
    req.reasoning_effort = Some("extreme".into());
    req.temperature = None;
    assert!(messages_body("m", &req, false).is_err());
}
