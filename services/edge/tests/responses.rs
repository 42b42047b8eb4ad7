//! `POST /v1/responses`: request translation onto the Gateway's Chat calls, the
//! `response` object, the event stream (text, tool calls, failures), token counts,
//! the stored-response routes, and errors in OpenAI's shape.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::{
    Edge, StreamScript, chat_response, content_chunk, named_events, reasoning_chunk, redacted,
    signed, usage_chunk,
};
use serde_json::{Value, json};
use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::types::v1 as pb;

async fn post_to(edge: &Edge, path: &str, body: &Value) -> reqwest::Response {
    edge.http
        .post(edge.url(path))
        .bearer_auth("sk-test")
        .header("x-request-id", "req-7")
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn post(edge: &Edge, body: &Value) -> reqwest::Response {
    post_to(edge, "/v1/responses", body).await
}

/// The named events answering a streamed `body`.
async fn stream_events(edge: &Edge, body: &Value) -> Vec<(String, Value)> {
    named_events(&post(edge, body).await.text().await.unwrap())
}

async fn openai_error(response: reqwest::Response, status: u16, param: Option<&str>) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body["error"]["param"].as_str(), param, "{body}");
    body
}

fn text(p: &pb::ContentPart) -> &str {
    match &p.part {
        Some(pb::content_part::Part::Text(t)) => t,
        other => panic!("not text: {other:?}"),
    }
}

fn tool_call_chunk(
    id: Option<&str>,
    name: Option<&str>,
    args: &str,
    finish: pb::FinishReason,
) -> pb::ChatChunk {
    let mut c = content_chunk(None, "", finish);
    c.choices[0].delta.as_mut().unwrap().tool_calls = vec![pb::ToolCallDelta {
        index: 0,
        id: id.map(Into::into),
        r#type: id.map(|_| "function".into()),
        function: Some(pb::FunctionCallDelta {
            name: name.map(Into::into),
            arguments: Some(args.into()),
        }),
    }];
    c
}

#[tokio::test]
async fn request_translates_items_tools_and_format() {
    let edge = Edge::start().await;
    edge.fake.answer_chat(Ok(chat_response("ok")));
    let request = json!({
        "model": "gw-model",
        "instructions": "be brief",
        "input": [
            {"role": "user", "content": [
                {"type": "input_text", "text": "what is this?"},
                {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"}
            ]},
            {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{\"q\":1}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "found"}
        ],
        "tools": [{"type": "function", "name": "lookup", "description": "finds",
                   "parameters": {"type": "object"}, "strict": true}],
        "tool_choice": "required",
        "text": {"format": {"type": "json_schema", "name": "answer",
                            "schema": {"type": "object"}, "strict": true}},
        "max_output_tokens": 40,
        "temperature": 0.5,
        "metadata": {"team": "search"},
        "store": true
    });
    let response = post(&edge, &request).await;
    assert_eq!(response.status(), 200);
    let chat = edge.fake.last().chat.unwrap();
    assert_eq!(chat.model, "gw-model");
    assert_eq!(chat.max_tokens, Some(40));
    assert_eq!(chat.temperature, Some(0.5));
    assert!(chat.include_usage);
    assert_eq!(
        chat.metadata.get("team").map(String::as_str),
        Some("search")
    );
    let roles: Vec<i32> = chat.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            pb::Role::System,
            pb::Role::User,
            pb::Role::Assistant,
            pb::Role::Tool
        ]
        .map(|r| r as i32)
    );
    assert_eq!(text(&chat.messages[0].content[0]), "be brief");
    assert!(matches!(
        &chat.messages[1].content[1].part,
        Some(pb::content_part::Part::ImageUrl(i)) if i.url == "https://example.com/a.png" && i.detail == "low"
    ));
    assert_eq!(chat.messages[2].tool_calls[0].id, "call_1");
    assert_eq!(chat.messages[3].tool_call_id.as_deref(), Some("call_1"));
    assert_eq!(chat.tools[0].function.as_ref().unwrap().name, "lookup");
    assert!(matches!(
        chat.tool_choice.unwrap().choice,
        Some(pb::tool_choice::Choice::Mode(m)) if m == "required"
    ));
    assert!(matches!(
        chat.response_format.unwrap().format,
        Some(pb::response_format::Format::JsonSchema(s)) if s.name == "answer"
    ));
    // `store` is the Responses API's own: never forwarded.
    assert!(chat.provider_options.is_none());
}

#[tokio::test]
async fn answer_is_a_response_object() {
    let edge = Edge::start().await;
    edge.fake.answer_chat(Ok(chat_response("hello")));
    let response = post(
        &edge,
        &json!({"model": "gw-model", "input": "hi", "metadata": {"k": "v"}, "instructions": "x"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-switchyard-provider"], "mock-1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], "resp_req-7");
    assert_eq!(body["object"], "response");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(body["error"], Value::Null);
    assert_eq!(body["incomplete_details"], Value::Null);
    assert_eq!(body["instructions"], "x");
    assert_eq!(body["metadata"], json!({"k": "v"}));
    // Stored by default, as OpenAI's: the object as answered, the input as items.
    assert_eq!(body["store"], true);
    let stored = edge.responses.get("resp_req-7").unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&stored.response_json).unwrap(),
        body
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&stored.input_items_json).unwrap(),
        json!([{"type": "message", "role": "user", "content": "hi"}])
    );
    assert_eq!(body["tool_choice"], "auto");
    assert_eq!(body["tools"], json!([]));
    assert_eq!(body["text"], json!({"format": {"type": "text"}}));
    assert_eq!(
        body["output"],
        json!([{"type": "message", "id": "msg_req-7", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": "hello", "annotations": [], "logprobs": []}]}])
    );
    assert_eq!(
        body["usage"],
        json!({"input_tokens": 3, "input_tokens_details": {"cached_tokens": 1, "cache_write_tokens": 0},
               "output_tokens": 1, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 4})
    );
}

#[tokio::test]
async fn tool_calls_and_limits_shape_the_answer() {
    let edge = Edge::start().await;
    let mut answer = chat_response("");
    answer.choices[0].message.as_mut().unwrap().content.clear();
    answer.choices[0].message.as_mut().unwrap().tool_calls = vec![pb::ToolCall {
        id: "call_abc".into(),
        r#type: "function".into(),
        function: Some(pb::FunctionCall {
            name: "lookup".into(),
            arguments: "{\"q\":\"cat\"}".into(),
        }),
    }];
    answer.choices[0].finish_reason = pb::FinishReason::ToolCalls.into();
    edge.fake.answer_chat(Ok(answer));
    let body: Value = post(&edge, &json!({"model": "m", "input": "x"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "completed");
    assert_eq!(
        body["output"],
        json!([{"type": "function_call", "id": "fc_abc", "status": "completed", "call_id": "call_abc",
                "name": "lookup", "arguments": "{\"q\":\"cat\"}"}])
    );

    let mut cut = chat_response("partial");
    cut.choices[0].finish_reason = pb::FinishReason::Length.into();
    edge.fake.answer_chat(Ok(cut));
    let body: Value = post(
        &edge,
        &json!({"model": "m", "input": "x", "max_output_tokens": 1}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["status"], "incomplete");
    assert_eq!(
        body["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(body["output"][0]["status"], "incomplete");
    assert_eq!(body["max_output_tokens"], 1);
}

#[tokio::test]
async fn stream_emits_the_lifecycle_and_text_events_in_order() {
    let edge = Edge::start().await;
    let response = post(&edge, &json!({"model": "m", "input": "hi", "stream": true})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = named_events(&response.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let seq: Vec<u64> = events
        .iter()
        .map(|(_, d)| d["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(seq, (0..10).collect::<Vec<_>>());
    assert_eq!(events[0].1["response"]["status"], "in_progress");
    assert_eq!(events[0].1["response"]["output"], json!([]));
    assert_eq!(events[2].1["item"]["id"], "msg_req-7");
    assert_eq!(events[2].1["item"]["content"], json!([]));
    assert_eq!(events[4].1["delta"], "hel");
    assert_eq!(events[4].1["item_id"], "msg_req-7");
    assert_eq!(events[6].1["text"], "hello");
    assert_eq!(events[8].1["item"]["content"][0]["text"], "hello");
    let done = &events[9].1["response"];
    assert_eq!(done["id"], "resp_req-7");
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["content"][0]["text"], "hello");
    assert_eq!(done["usage"]["output_tokens"], 2);
    // Stored before the last event went out: as `response.completed` carried it.
    let stored = edge.responses.get("resp_req-7").unwrap();
    assert_eq!(
        &serde_json::from_slice::<Value>(&stored.response_json).unwrap(),
        done
    );
    let output: Value = serde_json::from_slice(&stored.output_items_json).unwrap();
    assert_eq!(output, done["output"]);
}

#[tokio::test]
async fn streamed_tool_call_is_a_function_call_item() {
    let edge = Edge::start().await;
    edge.fake.answer_stream(StreamScript::Items(vec![
        Ok(content_chunk(
            Some(pb::Role::Assistant),
            "let me look",
            pb::FinishReason::Unspecified,
        )),
        Ok(tool_call_chunk(
            Some("call_1"),
            Some("lookup"),
            "{\"q\":",
            pb::FinishReason::Unspecified,
        )),
        Ok(tool_call_chunk(
            None,
            None,
            "\"cat\"}",
            pb::FinishReason::ToolCalls,
        )),
        Ok(usage_chunk()),
    ]));
    let events = stream_events(&edge, &json!({"model": "m", "input": "hi", "stream": true})).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        &names[2..],
        [
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let added = &events[8].1;
    assert_eq!(added["output_index"], 1);
    assert_eq!(
        added["item"],
        json!({"type": "function_call", "id": "fc_1", "status": "in_progress", "call_id": "call_1",
               "name": "lookup", "arguments": ""})
    );
    assert_eq!(events[11].1["arguments"], "{\"q\":\"cat\"}");
    assert_eq!(events[11].1["name"], "lookup");
    let output = &events[13].1["response"]["output"];
    assert_eq!(output[0]["content"][0]["text"], "let me look");
    assert_eq!(output[1]["arguments"], "{\"q\":\"cat\"}");
    assert_eq!(output[1]["status"], "completed");
}

#[tokio::test]
async fn failure_after_the_headers_is_response_failed() {
    let edge = Edge::start().await;
    edge.fake.answer_stream(StreamScript::Items(vec![
        Ok(content_chunk(
            Some(pb::Role::Assistant),
            "hel",
            pb::FinishReason::Unspecified,
        )),
        Err(ApiError::new(ErrorCode::UpstreamUnavailable, "upstream died").to_status()),
    ]));
    let response = post(&edge, &json!({"model": "m", "input": "hi", "stream": true})).await;
    assert_eq!(response.status(), 200);
    let events = named_events(&response.text().await.unwrap());
    let (name, last) = events.last().unwrap();
    assert_eq!(name, "response.failed");
    assert_eq!(last["response"]["status"], "failed");
    assert_eq!(last["response"]["error"]["code"], "server_error");
    assert_eq!(last["response"]["error"]["message"], "upstream died");
    assert_eq!(last["response"]["output"][0]["content"][0]["text"], "hel");
    assert_eq!(last["sequence_number"], events.len() as u64 - 1);
}

#[tokio::test]
async fn failure_before_the_first_chunk_is_an_http_error() {
    let edge = Edge::start().await;
    edge.fake.answer_stream(StreamScript::Fail(
        ApiError::new(ErrorCode::RateLimited, "slow down").to_status(),
    ));
    let response = post(&edge, &json!({"model": "m", "input": "hi", "stream": true})).await;
    let body = openai_error(response, 429, None).await;
    assert_eq!(body["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn bad_requests_name_the_parameter_and_call_nothing() {
    let edge = Edge::start().await;
    for (body, param) in [
        (json!({"input": "x"}), "model"),
        (json!({"model": "m"}), "input"),
        (json!({"model": "m", "input": 5}), "input"),
        (
            json!({"model": "m", "input": [{"role": "robot", "content": "x"}]}),
            "input[0].role",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "file_search"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}),
            "previous_response_id",
        ),
        (
            json!({"model": "m", "input": "x", "conversation": 5}),
            "conversation",
        ),
        (
            json!({"model": "m", "input": "x", "conversation": {"name": "c"}}),
            "conversation.id",
        ),
        (
            json!({"model": "m", "input": "x", "conversation": "conv_1",
                   "previous_response_id": "resp_1"}),
            "conversation",
        ),
        (
            json!({"model": "m", "input": "x", "background": true}),
            "background",
        ),
        (
            json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]}),
            "input[0].type",
        ),
    ] {
        openai_error(post(&edge, &body).await, 400, Some(param)).await;
    }
    assert!(edge.fake.calls().is_empty());
}

#[tokio::test]
async fn input_tokens_are_counted_by_the_gateway() {
    let edge = Edge::start().await;
    edge.fake.answer_count(Ok(pb::TokenCount {
        input_tokens: 42,
        estimated: false,
        provider: "mock-1".into(),
    }));
    let response = post_to(
        &edge,
        "/v1/responses/input_tokens",
        &json!({"model": "m", "input": "hello", "instructions": "be brief", "max_output_tokens": 9}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"object": "response.input_tokens", "input_tokens": 42})
    );
    let call = edge.fake.last();
    assert_eq!(call.method, "CountTokens");
    let chat = call.chat.unwrap();
    assert_eq!(chat.messages.len(), 2);
    assert_eq!(chat.max_tokens, None);
}

/// A stored response is read back as answered, continued by
/// `previous_response_id` (its input and output before the new input, its
/// `instructions` not carried over), and deleted; `store: false` keeps nothing;
/// unknown ids are 404s, a bad key a 401, and cancelling a 400.
#[tokio::test]
async fn stored_responses_are_read_continued_and_deleted() {
    let edge = Edge::start().await;
    edge.fake.answer_chat(Ok(chat_response("hello")));
    let first: Value = post(
        &edge,
        &json!({"model": "m", "input": "hi", "instructions": "be terse"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let get = |path: &str, key: &str| edge.http.get(edge.url(path)).bearer_auth(key).send();
    let read: Value = get("/v1/responses/resp_req-7", "sk-test")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read, first);

    let next = edge
        .http
        .post(edge.url("/v1/responses"))
        .bearer_auth("sk-test")
        .header("x-request-id", "req-8")
        .json(&json!({"model": "m", "input": "and then?", "previous_response_id": "resp_req-7"}))
        .send()
        .await
        .unwrap();
    let next: Value = next.json().await.unwrap();
    assert_eq!(next["previous_response_id"], "resp_req-7");
    let chat = edge.fake.last().chat.unwrap();
    let turns: Vec<(i32, &str)> = chat
        .messages
        .iter()
        .map(|m| (m.role, text(&m.content[0])))
        .collect();
    assert_eq!(
        turns,
        [
            (pb::Role::User as i32, "hi"),
            (pb::Role::Assistant as i32, "hello"),
            (pb::Role::User as i32, "and then?"),
        ]
    );
    // The chain is stored expanded: continuing req-8 needs one lookup.
    let stored = edge.responses.get("resp_req-8").unwrap();
    let items: Vec<Value> = serde_json::from_slice(&stored.input_items_json).unwrap();
    assert_eq!(items.len(), 3);
    // And listed as OpenAI lists input items: newest first, each with an id.
    let listed: Value = get("/v1/responses/resp_req-8/input_items?limit=2", "sk-test")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["msg_req-8_2", "msg_req-7"]);
    assert_eq!(listed["has_more"], true);
    assert_eq!(
        listed["data"][0]["content"],
        json!([{"type": "input_text", "text": "and then?"}])
    );
    let bad = get("/v1/responses/resp_req-8/input_items?order=up", "sk-test")
        .await
        .unwrap();
    openai_error(bad, 400, Some("order")).await;

    let unstored = post_to(
        &edge,
        "/v1/responses",
        &json!({"model": "m", "input": "x", "store": false}),
    )
    .await;
    assert_eq!(unstored.json::<Value>().await.unwrap()["store"], false);

    let delete = edge
        .http
        .delete(edge.url("/v1/responses/resp_req-8"))
        .bearer_auth("sk-test")
        .send()
        .await
        .unwrap();
    assert_eq!(
        delete.json::<Value>().await.unwrap(),
        json!({"id": "resp_req-8", "object": "response", "deleted": true})
    );
    let gone = get("/v1/responses/resp_req-8", "sk-test").await.unwrap();
    let body = openai_error(gone, 404, None).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("resp_req-8")
    );
    // Another key's tenant does not see it, and a bad key is a 401.
    openai_error(
        get("/v1/responses/resp_req-7", "sk-other").await.unwrap(),
        404,
        None,
    )
    .await;
    let body = openai_error(
        get("/v1/responses/resp_req-7", "sk-bad").await.unwrap(),
        401,
        None,
    )
    .await;
    assert_eq!(body["error"]["type"], "authentication_error");
    let cancel = post_to(&edge, "/v1/responses/resp_req-7/cancel", &json!({})).await;
    openai_error(cancel, 400, None).await;
    let missing = post_to(&edge, "/v1/responses/resp_nope/cancel", &json!({})).await;
    openai_error(missing, 404, None).await;
    // The missing continuation names its parameter.
    let orphan = post(
        &edge,
        &json!({"model": "m", "input": "x", "previous_response_id": "resp_nope"}),
    )
    .await;
    let body = openai_error(orphan, 400, Some("previous_response_id")).await;
    assert_eq!(body["error"]["code"], "previous_response_not_found");
}

/// Reasoning is a `reasoning` item before the message, its signature given out
/// as `encrypted_content` only when asked; sent back, the item is the next
/// assistant turn's reasoning again, signature restored.
#[tokio::test]
async fn reasoning_items_out_and_back() {
    let edge = Edge::start().await;
    let mut answer = chat_response("4");
    answer.choices[0].message.as_mut().unwrap().reasoning =
        vec![signed("2 + 2", "sig-1"), redacted("EnCrYpTeD")];
    edge.fake.answer_chat(Ok(answer.clone()));
    let body: Value = post(&edge, &json!({"model": "m", "input": "sum?"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["output"][0],
        json!({"type": "reasoning", "id": "rs_req-7_0", "status": "completed", "summary": [],
               "content": [{"type": "reasoning_text", "text": "2 + 2"}]})
    );
    assert_eq!(body["output"][1]["content"], json!([]));
    assert_eq!(body["output"][2]["id"], "msg_req-7_2");

    edge.fake.answer_chat(Ok(answer));
    let body: Value = post(
        &edge,
        &json!({"model": "m", "input": "sum?", "include": ["reasoning.encrypted_content"]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["output"][0]["encrypted_content"], "sig-1");
    assert_eq!(body["output"][1]["encrypted_content"], "redacted:EnCrYpTeD");

    // Sent back: the reasoning items become the function call's turn's reasoning.
    edge.fake.answer_chat(Ok(chat_response("done")));
    let mut input = vec![json!({"role": "user", "content": "sum?"})];
    input.push(body["output"][0].clone());
    input.push(body["output"][1].clone());
    input.push(
        json!({"type": "function_call", "call_id": "call_1", "name": "add", "arguments": "{}"}),
    );
    input.push(json!({"type": "function_call_output", "call_id": "call_1", "output": "4"}));
    let response = post(&edge, &json!({"model": "m", "input": input})).await;
    assert_eq!(response.status(), 200);
    let chat = edge.fake.last().chat.unwrap();
    assert_eq!(
        chat.messages[1].reasoning,
        vec![signed("2 + 2", "sig-1"), redacted("EnCrYpTeD"),]
    );
    assert_eq!(chat.messages[1].tool_calls[0].id, "call_1");

    edge.fake.answer_stream(StreamScript::Items(vec![
        Ok(content_chunk(
            Some(pb::Role::Assistant),
            "",
            pb::FinishReason::Unspecified,
        )),
        Ok(reasoning_chunk(0, Some("2 +"), None, false)),
        Ok(reasoning_chunk(0, Some(" 2"), Some("sig-2"), false)),
        Ok(content_chunk(None, "4", pb::FinishReason::Stop)),
        Ok(usage_chunk()),
    ]));
    let events = stream_events(
        &edge,
        &json!({"model": "m", "input": "sum?", "stream": true,
                "include": ["reasoning.encrypted_content"]}),
    )
    .await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        &names[2..8],
        [
            "response.output_item.added",
            "response.reasoning_text.delta",
            "response.reasoning_text.delta",
            "response.reasoning_text.done",
            "response.output_item.done",
            "response.output_item.added",
        ]
    );
    assert_eq!(events[2].1["item"]["content"], json!([]));
    assert_eq!(events[5].1["text"], "2 + 2");
    let done = &events[6].1["item"];
    assert_eq!(done["encrypted_content"], "sig-2");
    assert_eq!(done["content"][0]["text"], "2 + 2");
    let completed = &events.last().unwrap().1["response"];
    assert_eq!(completed["output"][0]["id"], "rs_req-7_0");
    assert_eq!(completed["output"][1]["content"][0]["text"], "4");
}

/// With `edge.store_responses` off nothing is stored, whatever `store` says, and
/// naming a previous response is refused, saying why.
#[tokio::test]
async fn storage_off_keeps_nothing() {
    let edge = Edge::start_with(switchyard_config::EdgeConfig {
        store_responses: false,
        ..Default::default()
    })
    .await;
    edge.fake.answer_chat(Ok(chat_response("hello")));
    let body: Value = post(&edge, &json!({"model": "m", "input": "hi", "store": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["store"], false);
    assert!(edge.responses.get("resp_req-7").is_none());
    let refused = post(
        &edge,
        &json!({"model": "m", "input": "x", "previous_response_id": "resp_req-7"}),
    )
    .await;
    let body = openai_error(refused, 400, Some("previous_response_id")).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("store_responses")
    );
}
