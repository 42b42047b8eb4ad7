//! `POST /v1/messages`: Anthropic request translation, answer shape, the named-event
//! stream, usage with cached tokens, and errors in Anthropic's shape.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::{
    Edge, StreamScript, chat_response, content_chunk, named_events, reasoning_chunk, redacted,
    signed, usage_chunk,
};
use serde_json::{Value, json};
use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::types::v1 as pb;

fn body() -> Value {
    json!({"model": "claude-gw", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]})
}

async fn post(edge: &Edge, body: &Value) -> reqwest::Response {
    post_to(edge, "/v1/messages", body).await
}

/// `body` to `path` as the Anthropic SDK sends it.
async fn post_to(edge: &Edge, path: &str, body: &Value) -> reqwest::Response {
    edge.http
        .post(edge.url(path))
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap()
}

fn options(req: &pb::ChatRequest) -> Value {
    let s = req.provider_options.clone().unwrap_or_default();
    s.fields
        .into_iter()
        .map(|(k, v)| {
            let v = match v.kind {
                Some(prost_types::value::Kind::NumberValue(n)) => json!(n),
                Some(prost_types::value::Kind::StringValue(s)) => json!(s),
                other => json!(format!("{other:?}")),
            };
            (k, v)
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn part_text(p: &pb::ContentPart) -> &str {
    match &p.part {
        Some(pb::content_part::Part::Text(t)) => t,
        other => panic!("not text: {other:?}"),
    }
}

async fn anthropic_error(response: reqwest::Response, status: u16, kind: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    body
}

#[tokio::test]
async fn request_translates_system_images_tools_and_options() {
    let edge = Edge::start().await;
    let request = json!({
        "model": "claude-gw",
        "max_tokens": 64,
        "system": [{"type": "text", "text": "be brief"}, {"type": "text", "text": " always"}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}
            ]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "let me look"},
                {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "cat"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "a cat"}]},
                {"type": "text", "text": "thanks"}
            ]}
        ],
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 40,
        "stop_sequences": ["END"],
        "tools": [{"name": "lookup", "description": "look up", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "metadata": {"user_id": "u-1"},
        "service_tier": "auto"
    });
    let response = post(&edge, &request).await;
    assert_eq!(response.status(), 200);
    let call = edge.fake.last();
    assert_eq!(call.method, "Chat");
    assert_eq!(
        call.metadata.get("authorization").unwrap(),
        "Bearer sk-ant-test"
    );
    let req = call.chat.unwrap();
    assert_eq!(req.model, "claude-gw");
    assert_eq!(req.max_tokens, Some(64));
    assert_eq!(req.temperature, Some(0.5));
    assert_eq!(req.top_p, Some(0.9));
    assert_eq!(req.stop, vec!["END".to_string()]);
    assert_eq!(req.user.as_deref(), Some("u-1"));
    assert_eq!(req.parallel_tool_calls, Some(false));
    assert_eq!(
        req.tool_choice.clone().unwrap().choice,
        Some(pb::tool_choice::Choice::Mode("required".into()))
    );
    assert_eq!(
        options(&req),
        json!({"top_k": 40.0, "service_tier": "auto"})
    );
    let tool = req.tools[0].function.as_ref().unwrap();
    assert_eq!(
        (req.tools[0].r#type.as_str(), tool.name.as_str()),
        ("function", "lookup")
    );
    assert!(tool.parameters.is_some());

    let roles: Vec<i32> = req.messages.iter().map(|m| m.role).collect();
    let r = |r: pb::Role| i32::from(r);
    assert_eq!(
        roles,
        vec![
            r(pb::Role::System),
            r(pb::Role::User),
            r(pb::Role::Assistant),
            r(pb::Role::Tool),
            r(pb::Role::User)
        ]
    );
    let system = &req.messages[0];
    assert_eq!(part_text(&system.content[0]), "be brief");
    assert_eq!(part_text(&system.content[1]), " always");
    let user = &req.messages[1];
    let Some(pb::content_part::Part::ImageUrl(img)) = &user.content[1].part else {
        panic!("not an image")
    };
    assert_eq!(img.url, "data:image/png;base64,AAAA");
    let Some(pb::content_part::Part::ImageUrl(img)) = &user.content[2].part else {
        panic!("not an image")
    };
    assert_eq!(img.url, "https://x.test/a.png");
    let assistant = &req.messages[2];
    assert_eq!(part_text(&assistant.content[0]), "let me look");
    let tc = &assistant.tool_calls[0];
    assert_eq!(tc.id, "toolu_1");
    let f = tc.function.as_ref().unwrap();
    assert_eq!(f.name, "lookup");
    assert_eq!(
        serde_json::from_str::<Value>(&f.arguments).unwrap(),
        json!({"q": "cat"})
    );
    let tool_msg = &req.messages[3];
    assert_eq!(tool_msg.tool_call_id.as_deref(), Some("toolu_1"));
    assert_eq!(part_text(&tool_msg.content[0]), "a cat");
    assert_eq!(part_text(&req.messages[4].content[0]), "thanks");
}

#[tokio::test]
async fn string_system_and_named_tool_choice() {
    let edge = Edge::start().await;
    let mut b = body();
    b["system"] = json!("be brief");
    b["tool_choice"] = json!({"type": "tool", "name": "f"});
    assert_eq!(post(&edge, &b).await.status(), 200);
    let req = edge.fake.last().chat.unwrap();
    assert_eq!(req.messages[0].role, i32::from(pb::Role::System));
    assert_eq!(part_text(&req.messages[0].content[0]), "be brief");
    assert_eq!(
        req.tool_choice.clone().unwrap().choice,
        Some(pb::tool_choice::Choice::FunctionName("f".into()))
    );
    assert!(req.provider_options.is_none());
}

#[tokio::test]
async fn response_has_anthropic_shape_and_usage_without_cached_tokens() {
    let edge = Edge::start().await;
    let mut answer = chat_response("hello");
    answer.usage = Some(pb::Usage {
        prompt_tokens: 100,
        completion_tokens: 5,
        total_tokens: 105,
        cached_prompt_tokens: 60,
        cache_write_prompt_tokens: 10,
        ..Default::default()
    });
    edge.fake.answer_chat(Ok(answer));
    let response = post(&edge, &body()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-switchyard-provider"], "mock-1");
    let json: Value = response.json().await.unwrap();
    assert_eq!(
        json,
        json!({
            "id": "msg_chatcmpl-1", "type": "message", "role": "assistant", "model": "gpt-test",
            "content": [{"type": "text", "text": "hello"}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 30, "output_tokens": 5,
                      "cache_read_input_tokens": 60, "cache_creation_input_tokens": 10}
        })
    );
}

#[tokio::test]
async fn tool_calls_become_tool_use_blocks() {
    let edge = Edge::start().await;
    let mut answer = chat_response("calling");
    let choice = &mut answer.choices[0];
    choice.finish_reason = pb::FinishReason::ToolCalls.into();
    choice.message.as_mut().unwrap().tool_calls = vec![pb::ToolCall {
        id: "call_1".into(),
        r#type: "function".into(),
        function: Some(pb::FunctionCall {
            name: "lookup".into(),
            arguments: r#"{"q":"cat"}"#.into(),
        }),
    }];
    edge.fake.answer_chat(Ok(answer));
    let json: Value = post(&edge, &body()).await.json().await.unwrap();
    assert_eq!(json["stop_reason"], "tool_use");
    assert_eq!(
        json["content"],
        json!([{"type": "text", "text": "calling"},
               {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": "cat"}}])
    );
}

#[tokio::test]
async fn length_maps_to_max_tokens() {
    let edge = Edge::start().await;
    let mut answer = chat_response("cut");
    answer.choices[0].finish_reason = pb::FinishReason::Length.into();
    edge.fake.answer_chat(Ok(answer));
    let json: Value = post(&edge, &body()).await.json().await.unwrap();
    assert_eq!(json["stop_reason"], "max_tokens");
}

/// `(event name, data)` of each SSE event; every event must carry an `event:` line.
#[tokio::test]
async fn stream_emits_named_events_in_order() {
    let edge = Edge::start().await;
    let mut b = body();
    b["stream"] = json!(true);
    let response = post(&edge, &b).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = named_events(&response.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let start = &events[0].1["message"];
    assert_eq!(start["id"], "msg_chatcmpl-1");
    assert_eq!(start["content"], json!([]));
    assert_eq!(start["usage"]["output_tokens"], 0);
    assert_eq!(
        events[2].1["content_block"],
        json!({"type": "text", "text": ""})
    );
    assert_eq!(
        events[3].1["delta"],
        json!({"type": "text_delta", "text": "hel"})
    );
    assert_eq!(events[4].1["delta"]["text"], "lo");
    assert_eq!(events[5].1["index"], 0);
    assert_eq!(
        events[6].1,
        json!({"type": "message_delta",
               "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"input_tokens": 2, "output_tokens": 2,
                         "cache_read_input_tokens": 1, "cache_creation_input_tokens": 0}})
    );
    let req = edge.fake.last().chat.unwrap();
    assert!(req.include_usage);
}

#[tokio::test]
async fn stream_tool_calls_become_tool_use_blocks() {
    let edge = Edge::start().await;
    let mut call = content_chunk(None, "", pb::FinishReason::Unspecified);
    call.choices[0].delta.as_mut().unwrap().tool_calls = vec![pb::ToolCallDelta {
        index: 0,
        id: Some("call_1".into()),
        r#type: Some("function".into()),
        function: Some(pb::FunctionCallDelta {
            name: Some("lookup".into()),
            arguments: Some(r#"{"q":"#.into()),
        }),
    }];
    let mut more = content_chunk(None, "", pb::FinishReason::ToolCalls);
    more.choices[0].delta.as_mut().unwrap().tool_calls = vec![pb::ToolCallDelta {
        index: 0,
        function: Some(pb::FunctionCallDelta {
            name: None,
            arguments: Some(r#""cat"}"#.into()),
        }),
        ..Default::default()
    }];
    edge.fake.answer_stream(StreamScript::Items(vec![
        Ok(content_chunk(
            Some(pb::Role::Assistant),
            "ok",
            pb::FinishReason::Unspecified,
        )),
        Ok(call),
        Ok(more),
        Ok(usage_chunk()),
    ]));
    let mut b = body();
    b["stream"] = json!(true);
    let events = named_events(&post(&edge, &b).await.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(
        events[5].1,
        json!({"type": "content_block_start", "index": 1,
               "content_block": {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {}}})
    );
    assert_eq!(
        events[6].1["delta"],
        json!({"type": "input_json_delta", "partial_json": "{\"q\":"})
    );
    assert_eq!(events[7].1["index"], 1);
    assert_eq!(events[9].1["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn stream_error_midway_is_an_error_event() {
    let edge = Edge::start().await;
    edge.fake.answer_stream(StreamScript::Items(vec![
        Ok(content_chunk(
            Some(pb::Role::Assistant),
            "hel",
            pb::FinishReason::Unspecified,
        )),
        Err(ApiError::new(ErrorCode::UpstreamUnavailable, "upstream died").to_status()),
    ]));
    let mut b = body();
    b["stream"] = json!(true);
    let response = post(&edge, &b).await;
    assert_eq!(response.status(), 200);
    let events = named_events(&response.text().await.unwrap());
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["type"], "error");
    assert_eq!(data["error"]["type"], "api_error");
    assert!(!events.iter().any(|(n, _)| n == "message_stop"));
}

#[tokio::test]
async fn stream_error_before_first_chunk_is_an_http_error() {
    let edge = Edge::start().await;
    edge.fake.answer_stream(StreamScript::Fail(
        ApiError::new(ErrorCode::RateLimited, "slow down").to_status(),
    ));
    let mut b = body();
    b["stream"] = json!(true);
    anthropic_error(post(&edge, &b).await, 429, "rate_limit_error").await;
}

#[tokio::test]
async fn errors_have_anthropic_shape() {
    let edge = Edge::start().await;
    let cases = [
        (ErrorCode::Unauthenticated, 401, "authentication_error"),
        (ErrorCode::PermissionDenied, 403, "permission_error"),
        (ErrorCode::ModelNotFound, 404, "not_found_error"),
        (ErrorCode::BudgetExceeded, 429, "rate_limit_error"),
        (
            ErrorCode::ContextLengthExceeded,
            400,
            "invalid_request_error",
        ),
        (ErrorCode::UpstreamUnavailable, 502, "api_error"),
        (ErrorCode::UpstreamTimeout, 504, "api_error"),
        (ErrorCode::Internal, 500, "api_error"),
    ];
    for (code, status, kind) in cases {
        edge.fake
            .answer_chat(Err(ApiError::new(code, "no").to_status()));
        anthropic_error(post(&edge, &body()).await, status, kind).await;
    }
}

#[tokio::test]
async fn invalid_requests_are_anthropic_400s() {
    let edge = Edge::start().await;
    let mut no_max = body();
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let err = anthropic_error(post(&edge, &no_max).await, 400, "invalid_request_error").await;
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens")
    );
    let bad_role =
        json!({"model": "m", "max_tokens": 1, "messages": [{"role": "system", "content": "x"}]});
    anthropic_error(post(&edge, &bad_role).await, 400, "invalid_request_error").await;
    let wrong_type = json!({"model": "m", "max_tokens": "many", "messages": []});
    anthropic_error(post(&edge, &wrong_type).await, 400, "invalid_request_error").await;
    let bad_block = json!({"model": "m", "max_tokens": 1,
        "messages": [{"role": "user", "content": [{"type": "video"}]}]});
    let err = anthropic_error(post(&edge, &bad_block).await, 400, "invalid_request_error").await;
    assert!(err["error"]["message"].as_str().unwrap().contains("video"));
    let no_source = json!({"model": "m", "max_tokens": 1,
        "messages": [{"role": "user", "content": [{"type": "document"}]}]});
    let err = anthropic_error(post(&edge, &no_source).await, 400, "invalid_request_error").await;
    assert!(err["error"]["message"].as_str().unwrap().contains("source"));
    let response = edge
        .http
        .post(edge.url("/v1/messages"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    anthropic_error(response, 400, "invalid_request_error").await;
}

async fn post_count(edge: &Edge, body: &Value) -> reqwest::Response {
    post_to(edge, "/v1/messages/count_tokens", body).await
}

#[tokio::test]
async fn count_tokens_translates_the_input_and_answers_input_tokens() {
    let edge = Edge::start().await;
    // No max_tokens: counting does not take one.
    let body = json!({
        "model": "claude-gw",
        "system": "be brief",
        "messages": [{"role": "user", "content": "how many?"}],
        "tools": [{"name": "lookup", "input_schema": {"type": "object"}}],
        "thinking": {"type": "enabled", "budget_tokens": 2048}
    });
    let response = post_count(&edge, &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-switchyard-provider"], "fake-provider");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer, json!({"input_tokens": 42}));

    let call = edge.fake.last();
    assert_eq!(call.method, "CountTokens");
    assert_eq!(
        call.metadata.get("authorization").unwrap(),
        "Bearer sk-ant-test"
    );
    let req = call.chat.unwrap();
    assert_eq!(req.model, "claude-gw");
    assert_eq!(req.max_tokens, None);
    assert_eq!(req.messages.len(), 2);
    assert_eq!(req.messages[0].role(), pb::Role::System);
    assert_eq!(part_text(&req.messages[1].content[0]), "how many?");
    assert_eq!(req.tools.len(), 1);
    // Counted too, so it travels to the provider.
    assert!(options(&req).get("thinking").is_some());
}

#[tokio::test]
async fn count_tokens_errors_have_anthropic_shape() {
    let edge = Edge::start().await;
    let no_messages = json!({"model": "claude-gw"});
    let err = anthropic_error(
        post_count(&edge, &no_messages).await,
        400,
        "invalid_request_error",
    )
    .await;
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messages")
    );
    assert!(edge.fake.calls().is_empty());
    edge.fake.answer_count(Err(ApiError::new(
        ErrorCode::ModelNotFound,
        "The model `claude-gw` does not exist or you do not have access to it.",
    )
    .to_status()));
    let body = json!({"model": "claude-gw", "messages": [{"role": "user", "content": "x"}]});
    anthropic_error(post_count(&edge, &body).await, 404, "not_found_error").await;
}

/// An assistant turn's thinking blocks come in as reasoning, signatures kept, so
/// they can go back to Anthropic; answers' reasoning goes out as thinking blocks
/// before the text.
#[tokio::test]
async fn thinking_blocks_travel_both_ways() {
    let edge = Edge::start().await;
    let mut answer = chat_response("It is sunny.");
    answer.choices[0].message.as_mut().unwrap().reasoning = vec![
        signed("The tool said sunny.", "sig-2"),
        redacted("EnCrYpTeD"),
    ];
    edge.fake.answer_chat(Ok(answer));
    let request = json!({"model": "claude-gw", "max_tokens": 2048,
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "messages": [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "I need the tool.", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "EnCrYpTeD-0"},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
        ]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}
    ]});
    let response = post(&edge, &request).await;
    assert_eq!(response.status(), 200);
    let chat = edge.fake.last().chat.unwrap();
    assert_eq!(
        chat.messages[1].reasoning,
        vec![signed("I need the tool.", "sig-1"), redacted("EnCrYpTeD-0"),]
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["content"],
        json!([
            {"type": "thinking", "thinking": "The tool said sunny.", "signature": "sig-2"},
            {"type": "redacted_thinking", "data": "EnCrYpTeD"},
            {"type": "text", "text": "It is sunny."}
        ])
    );

    edge.fake.answer_stream(StreamScript::Items(vec![
        Ok(content_chunk(
            Some(pb::Role::Assistant),
            "",
            pb::FinishReason::Unspecified,
        )),
        Ok(reasoning_chunk(0, Some(""), None, false)),
        Ok(reasoning_chunk(0, Some("Think"), None, false)),
        Ok(reasoning_chunk(0, None, Some("sig-3"), false)),
        Ok(reasoning_chunk(1, Some(""), Some("EnCrYpTeD"), true)),
        Ok(content_chunk(None, "Done.", pb::FinishReason::Stop)),
        Ok(usage_chunk()),
    ]));
    let mut b = request.clone();
    b["stream"] = json!(true);
    let events = named_events(&post(&edge, &b).await.text().await.unwrap());
    let blocks: Vec<Value> = events
        .iter()
        .filter(|(n, _)| n.starts_with("content_block"))
        .map(|(_, d)| d.clone())
        .collect();
    assert_eq!(
        blocks,
        [
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Think"}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig-3"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "EnCrYpTeD"}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "Done."}}),
            json!({"type": "content_block_stop", "index": 2}),
        ]
    );
}

/// Breakpoints land on the message (or tool) whose block carries them; only
/// `ephemeral` exists.
#[tokio::test]
async fn cache_control_marks_messages_and_tools() {
    let edge = Edge::start().await;
    let request = json!({"model": "claude-gw", "max_tokens": 16,
    "system": [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
    "tools": [{"name": "f", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
    "messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": "ok", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "next"}
    ]}]});
    assert_eq!(post(&edge, &request).await.status(), 200);
    let chat = edge.fake.last().chat.unwrap();
    assert_eq!(chat.messages[0].cache_control.as_ref().unwrap().ttl, "1h");
    assert_eq!(chat.messages[1].role, pb::Role::Tool as i32);
    assert!(chat.messages[1].cache_control.is_some());
    assert!(chat.messages[2].cache_control.is_none());
    assert!(chat.tools[0].cache_control.is_some());

    let mut bad = request.clone();
    bad["tools"][0]["cache_control"] = json!({"type": "forever"});
    let body = anthropic_error(post(&edge, &bad).await, 400, "invalid_request_error").await;
    assert_eq!(
        body["error"]["message"],
        "tools.0.cache_control.type: Invalid value: 'forever'. Supported values are: \
         'ephemeral'."
    );
}

/// A caller's `anthropic-beta` headers become the `anthropic_beta` option the
/// adapter sends on as that header.
#[tokio::test]
async fn anthropic_beta_headers_travel_as_an_option() {
    let edge = Edge::start().await;
    let response = edge
        .http
        .post(edge.url("/v1/messages"))
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .header(
            "anthropic-beta",
            "context-1m-2025-08-07, interleaved-thinking-2025-05-14",
        )
        .header("anthropic-beta", "fine-grained-tool-streaming-2025-05-14")
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let chat = edge.fake.last().chat.unwrap();
    let options = chat.provider_options.unwrap();
    let Some(prost_types::value::Kind::ListValue(list)) = &options.fields["anthropic_beta"].kind
    else {
        panic!("{options:?}");
    };
    let names: Vec<&str> = list
        .values
        .iter()
        .filter_map(|v| match &v.kind {
            Some(prost_types::value::Kind::StringValue(s)) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        names,
        [
            "context-1m-2025-08-07",
            "interleaved-thinking-2025-05-14",
            "fine-grained-tool-streaming-2025-05-14"
        ]
    );
    post(&edge, &body()).await;
    assert!(edge.fake.last().chat.unwrap().provider_options.is_none());
}
