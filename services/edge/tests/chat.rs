//! Chat completions: request translation and the answer's JSON shape.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::{Edge, text};
use prost_types::value::Kind;
use serde_json::json;
use switchyard_proto::types::v1 as pb;

#[tokio::test]
async fn rich_request_translates_exactly() {
    let edge = Edge::start().await;
    let body = json!({
        "model": "gw-model",
        "messages": [
            {"role": "developer", "content": "rules"},
            {"role": "user", "name": "ann", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "low"}},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"cat\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
            {"role": "assistant", "content": "", "refusal": "no"}
        ],
        "temperature": 0.5,
        "top_p": 0.9,
        "max_tokens": 10,
        "max_completion_tokens": 20,
        "n": 2,
        "stop": "END",
        "seed": 7,
        "presence_penalty": 0.1,
        "frequency_penalty": -0.2,
        "tools": [{"type": "function", "function": {
            "name": "lookup", "description": "search",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            "strict": true
        }}],
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "parallel_tool_calls": false,
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "answer", "description": "d", "schema": {"type": "object"}, "strict": true
        }},
        "user": "u-1",
        "logprobs": true,
        "top_logprobs": 3,
        "reasoning_effort": "low",
        "metadata": {"team": "body"},
        "stream_options": {"include_usage": true},
        "top_k": 40,
        "safe_prompt": true,
        "extra_nested": {"a": [1, "b"]}
    });
    let response = edge
        .post("/v1/chat/completions")
        .header("x-switchyard-tags", "team=header, env=prod")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let call = edge.fake.last();
    assert_eq!(call.method, "Chat");
    let req = call.chat.unwrap();
    assert_eq!(req.model, "gw-model");
    assert_eq!(req.messages.len(), 5);

    let dev = &req.messages[0];
    assert_eq!(dev.role(), pb::Role::Developer);
    assert_eq!(dev.content, vec![text("rules")]);

    let user = &req.messages[1];
    assert_eq!(user.role(), pb::Role::User);
    assert_eq!(user.name.as_deref(), Some("ann"));
    assert_eq!(
        user.content,
        vec![
            text("what is this?"),
            pb::ContentPart {
                part: Some(pb::content_part::Part::ImageUrl(pb::ImageUrl {
                    url: "https://x/cat.png".into(),
                    detail: "low".into(),
                })),
            },
            pb::ContentPart {
                part: Some(pb::content_part::Part::InputAudio(pb::InputAudio {
                    data: "UklGRg==".into(),
                    format: "wav".into(),
                })),
            },
        ]
    );

    let assistant = &req.messages[2];
    assert_eq!(assistant.role(), pb::Role::Assistant);
    assert!(assistant.content.is_empty());
    assert_eq!(
        assistant.tool_calls,
        vec![pb::ToolCall {
            id: "call_1".into(),
            r#type: "function".into(),
            function: Some(pb::FunctionCall {
                name: "lookup".into(),
                arguments: "{\"q\":\"cat\"}".into(),
            }),
        }]
    );

    let tool = &req.messages[3];
    assert_eq!(tool.role(), pb::Role::Tool);
    assert_eq!(tool.tool_call_id.as_deref(), Some("call_1"));
    assert_eq!(tool.content, vec![text("a cat")]);
    assert_eq!(req.messages[4].refusal.as_deref(), Some("no"));
    assert_eq!(req.messages[4].content, vec![text("")]);

    assert_eq!(req.temperature, Some(0.5));
    assert_eq!(req.top_p, Some(0.9));
    assert_eq!(req.max_tokens, Some(20), "max_completion_tokens wins");
    assert_eq!(req.n, Some(2));
    assert_eq!(req.stop, vec!["END".to_string()]);
    assert_eq!(req.seed, Some(7));
    assert_eq!(req.presence_penalty, Some(0.1));
    assert_eq!(req.frequency_penalty, Some(-0.2));
    assert_eq!(req.parallel_tool_calls, Some(false));
    assert_eq!(req.user.as_deref(), Some("u-1"));
    assert_eq!(req.logprobs, Some(true));
    assert_eq!(req.top_logprobs, Some(3));
    assert_eq!(req.reasoning_effort.as_deref(), Some("low"));
    assert!(req.include_usage);

    let tool_def = &req.tools[0];
    assert_eq!(tool_def.r#type, "function");
    let function = tool_def.function.as_ref().unwrap();
    assert_eq!(function.name, "lookup");
    assert_eq!(function.description.as_deref(), Some("search"));
    assert_eq!(function.strict, Some(true));
    let params = function.parameters.as_ref().unwrap();
    assert_eq!(
        params.fields["type"].kind,
        Some(Kind::StringValue("object".into()))
    );
    assert!(matches!(
        params.fields["properties"].kind,
        Some(Kind::StructValue(_))
    ));

    assert_eq!(
        req.tool_choice,
        Some(pb::ToolChoice {
            choice: Some(pb::tool_choice::Choice::FunctionName("lookup".into())),
        })
    );
    let Some(pb::response_format::Format::JsonSchema(schema)) = req.response_format.unwrap().format
    else {
        panic!("not json_schema")
    };
    assert_eq!(schema.name, "answer");
    assert_eq!(schema.description.as_deref(), Some("d"));
    assert_eq!(schema.strict, Some(true));
    assert_eq!(
        schema.schema.unwrap().fields["type"].kind,
        Some(Kind::StringValue("object".into()))
    );

    // Body metadata wins over header tags; header tags add.
    assert_eq!(req.metadata["team"], "body");
    assert_eq!(req.metadata["env"], "prod");

    let options = req.provider_options.unwrap();
    let mut keys: Vec<_> = options.fields.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["extra_nested", "safe_prompt", "top_k"]);
    assert_eq!(options.fields["top_k"].kind, Some(Kind::NumberValue(40.0)));
    assert_eq!(
        options.fields["safe_prompt"].kind,
        Some(Kind::BoolValue(true))
    );
}

#[tokio::test]
async fn stop_array_tool_choice_modes_and_json_object() {
    let edge = Edge::start().await;
    let mut body = common::chat_body();
    body["stop"] = json!(["a", "b"]);
    body["tool_choice"] = json!("required");
    body["response_format"] = json!({"type": "json_object"});
    body["max_tokens"] = json!(5);
    let response = edge
        .post("/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let req = edge.fake.last().chat.unwrap();
    assert_eq!(req.stop, vec!["a".to_string(), "b".to_string()]);
    assert_eq!(req.max_tokens, Some(5));
    assert_eq!(
        req.tool_choice.unwrap().choice,
        Some(pb::tool_choice::Choice::Mode("required".into()))
    );
    assert_eq!(
        req.response_format.unwrap().format,
        Some(pb::response_format::Format::JsonObject(true))
    );
    assert!(req.provider_options.is_none());
    assert!(!req.include_usage);
}

#[tokio::test]
async fn chat_answer_has_the_openai_shape() {
    let edge = Edge::start().await;
    let mut answer = common::chat_response("hello");
    answer.system_fingerprint = Some("fp_1".into());
    answer.usage = Some(pb::Usage {
        prompt_tokens: 10,
        completion_tokens: 5,
        total_tokens: 15,
        cached_prompt_tokens: 4,
        reasoning_tokens: 2,
        estimated: false,
        cache_write_prompt_tokens: 0,
    });
    answer.choices.push(pb::Choice {
        index: 1,
        message: Some(pb::Message {
            role: pb::Role::Assistant.into(),
            content: vec![],
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
        finish_reason: pb::FinishReason::ToolCalls.into(),
        logprobs: None,
    });
    answer.choices.push(pb::Choice {
        index: 2,
        message: Some(pb::Message {
            role: pb::Role::Assistant.into(),
            content: vec![text("par"), text("tial")],
            refusal: Some("nope".into()),
            ..Default::default()
        }),
        finish_reason: pb::FinishReason::Unspecified.into(),
        logprobs: None,
    });
    edge.fake.answer_chat(Ok(answer));

    let response = edge
        .post("/v1/chat/completions")
        .json(&common::chat_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["x-switchyard-provider"], "mock-1");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "gpt-test",
            "system_fingerprint": "fp_1",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "hello", "refusal": null},
                 "logprobs": null, "finish_reason": "stop"},
                {"index": 1, "message": {"role": "assistant", "content": null, "refusal": null,
                  "tool_calls": [{"id": "call_9", "type": "function",
                                  "function": {"name": "f", "arguments": "{}"}}]},
                 "logprobs": null, "finish_reason": "tool_calls"},
                {"index": 2, "message": {"role": "assistant", "content": "partial", "refusal": "nope"},
                 "logprobs": null, "finish_reason": null}
            ],
            "usage": {
                "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                "prompt_tokens_details": {"cached_tokens": 4},
                "completion_tokens_details": {"reasoning_tokens": 2}
            }
        })
    );
}

#[tokio::test]
async fn healthz_answers_ok() {
    let edge = Edge::start().await;
    let response = edge.http.get(edge.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok"}));
    assert!(edge.fake.calls().is_empty());
}

/// Reasoning goes out as `reasoning_content` (DeepSeek's and vLLM's field), whole
/// and streamed; absent, the field is left out.
#[tokio::test]
async fn reasoning_is_reasoning_content() {
    let edge = Edge::start().await;
    let mut answer = common::chat_response("4");
    answer.choices[0].message.as_mut().unwrap().reasoning = vec![pb::Reasoning {
        text: "2 + 2 = 4".into(),
        ..Default::default()
    }];
    edge.fake.answer_chat(Ok(answer));
    let body: serde_json::Value = edge
        .http
        .post(edge.url("/v1/chat/completions"))
        .bearer_auth("sk-test")
        .json(&common::chat_body())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["choices"][0]["message"]["reasoning_content"],
        "2 + 2 = 4"
    );
    assert_eq!(body["choices"][0]["message"]["content"], "4");

    let mut thinking =
        common::content_chunk(Some(pb::Role::Assistant), "", pb::FinishReason::Unspecified);
    thinking.choices[0].delta.as_mut().unwrap().reasoning = vec![pb::ReasoningDelta {
        index: 0,
        text: Some("2 + 2".into()),
        ..Default::default()
    }];
    edge.fake.answer_stream(common::StreamScript::Items(vec![
        Ok(thinking),
        Ok(common::content_chunk(None, "4", pb::FinishReason::Stop)),
    ]));
    let mut request = common::chat_body();
    request["stream"] = serde_json::json!(true);
    let text = edge
        .http
        .post(edge.url("/v1/chat/completions"))
        .bearer_auth("sk-test")
        .json(&request)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let chunks: Vec<serde_json::Value> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(
        chunks[0]["choices"][0]["delta"]["reasoning_content"],
        "2 + 2"
    );
    assert!(
        chunks[1]["choices"][0]["delta"]
            .get("reasoning_content")
            .is_none()
    );
}

/// Gemini's thought signature, on a tool call where Google's OpenAI-compatible
/// API puts it, goes back as the turn's reasoning, marked as Gemini's; and an
/// answer whose reasoning carries one gives it out the same way.
#[tokio::test]
async fn gemini_thought_signatures_ride_on_tool_calls() {
    let edge = Edge::start().await;
    let mut answer = common::chat_response("");
    let message = answer.choices[0].message.as_mut().unwrap();
    message.content.clear();
    message.reasoning = vec![pb::Reasoning {
        signature: "gemini:c2lnLTI=".into(),
        ..Default::default()
    }];
    message.tool_calls = ["call_a", "call_b"]
        .iter()
        .map(|id| pb::ToolCall {
            id: (*id).into(),
            r#type: "function".into(),
            function: Some(pb::FunctionCall {
                name: "f".into(),
                arguments: "{}".into(),
            }),
        })
        .collect();
    edge.fake.answer_chat(Ok(answer));
    let body = json!({"model": "m", "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"},
             "extra_content": {"google": {"thought_signature": "c2lnLTE="}}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "done"}
    ]});
    let reply: serde_json::Value = edge
        .http
        .post(edge.url("/v1/chat/completions"))
        .bearer_auth("sk-test")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sent = edge.fake.last().chat.unwrap();
    assert_eq!(sent.messages[1].reasoning.len(), 1);
    assert_eq!(sent.messages[1].reasoning[0].signature, "gemini:c2lnLTE=");
    let calls = &reply["choices"][0]["message"]["tool_calls"];
    assert_eq!(
        calls[0]["extra_content"],
        json!({"google": {"thought_signature": "c2lnLTI="}})
    );
    assert!(calls[1].get("extra_content").is_none());
    assert!(
        reply["choices"][0]["message"]
            .get("reasoning_content")
            .is_none()
    );
}
