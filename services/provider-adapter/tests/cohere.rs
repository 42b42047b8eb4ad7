//! The `cohere` kind against an emulated Cohere API v2, through the gRPC surface: the
//! exact request each call sends and the normalized answer, stream, error or
//! embedding it comes back as.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use prost_types::value::Kind;
use serde_json::{Value, json};
use switchyard_config::{ProviderAdapterConfig, Secret};
use switchyard_error::{ApiError, ErrorCode};
use switchyard_grpc::GrpcChannel;
use switchyard_proto::provider::v1::provider_client::ProviderClient;
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::response_format::Format;
use switchyard_proto::types::v1::tool_choice::Choice as ToolChoiceKind;
use switchyard_proto::types::v1::{
    ChatChunk, ChatRequest, ContentPart, EmbedRequest, FinishReason, FunctionCall,
    FunctionDefinition, ImageUrl, JsonSchemaFormat, Message, ResponseFormat, Role, Tool, ToolCall,
    ToolChoice, Usage,
};
use switchyard_provider_adapter::{ChatProvider, Cohere, ProviderAdapter};
use tonic::{Code, Status};

type Client = ProviderClient<GrpcChannel>;

const MODEL: &str = "command-a-03-2025";

/// A client of an adapter whose provider `up` is a Cohere instance calling
/// `upstream` with [`KEY`].
fn cohere_client(upstream: &Upstream) -> Client {
    let provider = Cohere::new(
        PROVIDER,
        &format!("http://{}/v2", upstream.addr),
        Some(Secret::new(KEY)),
        &ProviderAdapterConfig::default(),
    )
    .unwrap();
    client_of(ProviderAdapter::from_providers([(
        PROVIDER.to_string(),
        Arc::new(provider) as Arc<dyn ChatProvider>,
    )]))
}

/// The error a plain chat call ends with.
async fn chat_error(client: &mut Client) -> ApiError {
    api_error(
        &client
            .chat(chat(PROVIDER, MODEL, simple_request()))
            .await
            .unwrap_err(),
    )
}

fn fixture_text(name: &str) -> String {
    String::from_utf8(fixture(&format!("cohere/{name}"))).unwrap()
}

fn api_error(status: &Status) -> ApiError {
    ApiError::from_status(status)
}

/// (id, name, arguments) of each streamed tool call, by index.
fn streamed_calls(chunks: &[ChatChunk]) -> Vec<(String, String, String)> {
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for d in chunks
        .iter()
        .flat_map(|c| &c.choices)
        .flat_map(|c| &c.delta.as_ref().unwrap().tool_calls)
    {
        let i = d.index as usize;
        if calls.len() <= i {
            calls.resize(i + 1, Default::default());
        }
        calls[i].0.push_str(d.id.as_deref().unwrap_or_default());
        let f = d.function.as_ref().unwrap();
        calls[i].1.push_str(f.name.as_deref().unwrap_or_default());
        calls[i]
            .2
            .push_str(f.arguments.as_deref().unwrap_or_default());
    }
    calls
}

/// A JSON object as a protobuf `Struct` (schemas in requests).
fn struct_of(value: Value) -> prost_types::Struct {
    fn value_of(v: Value) -> prost_types::Value {
        let kind = match v {
            Value::Null => Kind::NullValue(0),
            Value::Bool(b) => Kind::BoolValue(b),
            Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap()),
            Value::String(s) => Kind::StringValue(s),
            Value::Array(items) => Kind::ListValue(prost_types::ListValue {
                values: items.into_iter().map(value_of).collect(),
            }),
            Value::Object(_) => Kind::StructValue(struct_of(v)),
        };
        prost_types::Value { kind: Some(kind) }
    }
    let Value::Object(map) = value else {
        panic!("not an object")
    };
    prost_types::Struct {
        fields: map.into_iter().map(|(k, v)| (k, value_of(v))).collect(),
    }
}

fn weather_tool() -> Tool {
    let schema = weather_tool_json()["function"]["parameters"].clone();
    Tool {
        r#type: "function".into(),
        function: Some(FunctionDefinition {
            name: "get_weather".into(),
            description: Some("Gets the weather of a city".into()),
            parameters: Some(struct_of(schema)),
            strict: None,
        }),
        cache_control: None,
    }
}

fn weather_tool_json() -> Value {
    json!({"type": "function", "function": {
        "name": "get_weather",
        "description": "Gets the weather of a city",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    }})
}

fn tool_call(id: &str, city: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        r#type: "function".into(),
        function: Some(FunctionCall {
            name: "get_weather".into(),
            arguments: format!("{{\"location\":\"{city}\"}}"),
        }),
    }
}

fn tool_answer(id: &str, text_: &str) -> Message {
    Message {
        tool_call_id: Some(id.into()),
        ..text(Role::Tool, text_)
    }
}

#[tokio::test]
async fn chat_sends_cohere_v2_and_normalizes_the_answer() {
    let upstream = Upstream::start(vec![Reply::json(200, &fixture_text("chat.json"))]).await;
    let mut client = cohere_client(&upstream);
    let mut request = simple_request();
    request.temperature = Some(0.3);
    request.top_p = Some(0.9);
    request.max_tokens = Some(100);
    request.stop = vec!["\n\n".into()];
    request.seed = Some(42);
    let answer = client
        .chat(chat(PROVIDER, MODEL, request))
        .await
        .unwrap()
        .into_inner();

    let seen = upstream.recorded();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/v2/chat");
    assert_eq!(seen[0].query, None);
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer sk-test-secret-123")
    );
    assert_eq!(seen[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(
        seen[0].body,
        json!({
            "model": MODEL,
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "Name three colors."},
            ],
            "stream": false,
            "temperature": 0.3,
            "p": 0.9,
            "max_tokens": 100,
            "stop_sequences": ["\n\n"],
            "seed": 42,
        })
    );

    assert_eq!(answer.id, "c14c80c3-18eb-4519-9460-6c92edd8cfb4");
    assert_eq!(answer.model, MODEL, "Cohere does not name the model");
    assert!(answer.created > 1_700_000_000);
    assert_eq!(answer.provider, "", "the router fills the provider");
    let choice = &answer.choices[0];
    assert_eq!(choice.finish_reason, FinishReason::Stop as i32);
    let message = choice.message.as_ref().unwrap();
    assert_eq!(message.role, Role::Assistant as i32);
    assert_eq!(
        message.content,
        vec![ContentPart {
            part: Some(Part::Text("Red, green and blue.".into()))
        }]
    );
    assert_eq!(
        answer.usage,
        Some(Usage {
            prompt_tokens: 6,
            completion_tokens: 6,
            total_tokens: 12,
            ..Usage::default()
        }),
        "billed units, not Cohere's template-inflated token count"
    );
}

#[tokio::test]
async fn multi_turn_with_parallel_tool_calls_both_ways() {
    let upstream = Upstream::start(vec![
        Reply::json(200, &fixture_text("chat_tools.json")),
        Reply::json(
            200,
            r#"{"id":"r2","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"Madrid is 24°C, Brasilia 28°C."}],"citations":[{"start":9,"end":13,"text":"24°C","sources":[{"type":"tool","id":"get_weather_p1t92w7gfgq7:0","tool_output":{"temperature":"24C"}}]}]},"usage":{"billed_units":{"input_tokens":52,"output_tokens":14},"tokens":{"input_tokens":1104,"output_tokens":40}}}"#,
        ),
    ])
    .await;
    let mut client = cohere_client(&upstream);
    let mut request = ChatRequest {
        messages: vec![
            text(Role::System, "You are a weather bot."),
            text(Role::User, "What's the weather in Madrid and Brasilia?"),
        ],
        tools: vec![weather_tool()],
        ..ChatRequest::default()
    };
    let answer = client
        .chat(chat(PROVIDER, MODEL, request.clone()))
        .await
        .unwrap()
        .into_inner();
    let choice = &answer.choices[0];
    assert_eq!(choice.finish_reason, FinishReason::ToolCalls as i32);
    let message = choice.message.clone().unwrap();
    assert!(message.content.is_empty(), "the tool plan is not content");
    assert_eq!(
        message.tool_calls,
        vec![
            tool_call("get_weather_p1t92w7gfgq7", "Madrid"),
            tool_call("get_weather_ay6nmvjgp9vn", "Brasilia"),
        ]
    );
    let usage = answer.usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (37, 28));

    // The caller runs the tools and sends the results back.
    request.messages.push(Message {
        role: Role::Assistant as i32,
        content: vec![ContentPart {
            part: Some(Part::Text("I will search for the weather.".into())),
        }],
        tool_calls: message.tool_calls.clone(),
        ..Message::default()
    });
    request.messages.push(tool_answer(
        "get_weather_p1t92w7gfgq7",
        r#"{"temperature":"24C"}"#,
    ));
    request.messages.push(tool_answer(
        "get_weather_ay6nmvjgp9vn",
        r#"{"temperature":"28C"}"#,
    ));
    request.tool_choice = Some(ToolChoice {
        choice: Some(ToolChoiceKind::Mode("none".into())),
    });
    let answer = client
        .chat(chat(PROVIDER, MODEL, request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        answer.choices[0].message.as_ref().unwrap().content[0].part,
        Some(Part::Text("Madrid is 24°C, Brasilia 28°C.".into()))
    );
    assert_eq!(answer.choices[0].finish_reason, FinishReason::Stop as i32);

    let seen = upstream.recorded();
    assert_eq!(
        seen[0].body,
        json!({
            "model": MODEL,
            "messages": [
                {"role": "system", "content": "You are a weather bot."},
                {"role": "user", "content": "What's the weather in Madrid and Brasilia?"},
            ],
            "stream": false,
            "tools": [weather_tool_json()],
        })
    );
    assert_eq!(
        seen[1].body,
        json!({
            "model": MODEL,
            "messages": [
                {"role": "system", "content": "You are a weather bot."},
                {"role": "user", "content": "What's the weather in Madrid and Brasilia?"},
                {"role": "assistant", "tool_plan": "I will search for the weather.", "tool_calls": [
                    {"id": "get_weather_p1t92w7gfgq7", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Madrid\"}"}},
                    {"id": "get_weather_ay6nmvjgp9vn", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Brasilia\"}"}},
                ]},
                {"role": "tool", "tool_call_id": "get_weather_p1t92w7gfgq7", "content": "{\"temperature\":\"24C\"}"},
                {"role": "tool", "tool_call_id": "get_weather_ay6nmvjgp9vn", "content": "{\"temperature\":\"28C\"}"},
            ],
            "stream": false,
            "tools": [weather_tool_json()],
            "tool_choice": "NONE",
        })
    );
}

#[tokio::test]
async fn images_and_json_schema() {
    let upstream = Upstream::start(vec![Reply::json(
        200,
        r#"{"id":"r3","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"{\"animal\":\"cat\"}"}]},"usage":{"billed_units":{"input_tokens":1620,"output_tokens":6},"tokens":{"input_tokens":1700,"output_tokens":6}}}"#,
    )])
    .await;
    let mut client = cohere_client(&upstream);
    let request = ChatRequest {
        messages: vec![Message {
            role: Role::User as i32,
            content: vec![
                ContentPart {
                    part: Some(Part::Text("Which animal?".into())),
                },
                ContentPart {
                    part: Some(Part::ImageUrl(ImageUrl {
                        url: "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==".into(),
                        detail: "high".into(),
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
        }],
        response_format: Some(ResponseFormat {
            format: Some(Format::JsonSchema(JsonSchemaFormat {
                name: "animal".into(),
                schema: Some(struct_of(json!({"type": "object"}))),
                ..JsonSchemaFormat::default()
            })),
        }),
        ..ChatRequest::default()
    };
    let answer = client
        .chat(chat(PROVIDER, "command-a-vision-07-2025", request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        answer.choices[0].message.as_ref().unwrap().content[0].part,
        Some(Part::Text("{\"animal\":\"cat\"}".into()))
    );
    assert_eq!(
        upstream.recorded()[0].body,
        json!({
            "model": "command-a-vision-07-2025",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "Which animal?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ]}],
            "stream": false,
            "response_format": {"type": "json_object", "json_schema": {"type": "object"}},
        })
    );
}

#[tokio::test]
async fn untranslatable_requests_never_reach_cohere() {
    let upstream = Upstream::start(vec![]).await;
    let mut client = cohere_client(&upstream);
    let mut two_tools = weather_tool();
    two_tools.function.as_mut().unwrap().name = "get_time".into();
    let named = ChatRequest {
        tools: vec![weather_tool(), two_tools],
        tool_choice: Some(ToolChoice {
            choice: Some(ToolChoiceKind::FunctionName("get_weather".into())),
        }),
        ..simple_request()
    };
    let status = client
        .chat(chat(PROVIDER, MODEL, named.clone()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let err = api_error(&status);
    assert_eq!(err.code, ErrorCode::InvalidRequest);
    assert_eq!(err.param.as_deref(), Some("tool_choice"));
    let status = client
        .chat_stream(chat(PROVIDER, MODEL, named))
        .await
        .err()
        .unwrap();
    assert_eq!(status.code(), Code::InvalidArgument);
    let n = ChatRequest {
        n: Some(2),
        ..simple_request()
    };
    let status = client.chat(chat(PROVIDER, MODEL, n)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(upstream.recorded().is_empty());
}

#[tokio::test]
async fn named_function_with_one_tool_is_required() {
    let upstream = Upstream::start(vec![Reply::json(200, &fixture_text("chat_tools.json"))]).await;
    let mut client = cohere_client(&upstream);
    let request = ChatRequest {
        tools: vec![weather_tool()],
        tool_choice: Some(ToolChoice {
            choice: Some(ToolChoiceKind::FunctionName("get_weather".into())),
        }),
        ..simple_request()
    };
    client.chat(chat(PROVIDER, MODEL, request)).await.unwrap();
    assert_eq!(
        upstream.recorded()[0].body["tool_choice"],
        json!("REQUIRED")
    );
}

#[tokio::test]
async fn stream_text_ends_with_reported_usage() {
    let upstream = Upstream::start(vec![Reply::sse(&fixture("cohere/stream_text.sse"))]).await;
    let mut client = cohere_client(&upstream);
    let mut request = simple_request();
    request.include_usage = true;
    let (chunks, error) = drain(&mut client, chat(PROVIDER, MODEL, request)).await;
    assert!(error.is_none(), "{error:?}");

    let seen = &upstream.recorded()[0];
    assert_eq!(seen.path, "/v2/chat");
    assert_eq!(seen.header("accept"), Some("text/event-stream"));
    assert_eq!(seen.body["stream"], json!(true));
    assert!(seen.body.get("stream_options").is_none());

    assert_eq!(chunks.len(), 9, "role, six texts, finish, usage");
    assert_eq!(
        chunks[0].choices[0].delta.as_ref().unwrap().role,
        Role::Assistant as i32
    );
    assert_eq!(streamed_text(&chunks), "Red, green and blue.");
    assert_eq!(
        chunks[7].choices[0].finish_reason,
        FinishReason::Stop as i32
    );
    for chunk in &chunks {
        assert_eq!(chunk.id, "a8fc192e-4bb8-4e15-ae1f-a174e8b02ae8");
        assert_eq!(chunk.model, MODEL);
    }
    assert!(chunks[..8].iter().all(|c| c.usage.is_none()));
    let last = chunks.last().unwrap();
    assert!(last.choices.is_empty());
    assert_eq!(
        last.usage,
        Some(Usage {
            prompt_tokens: 6,
            completion_tokens: 6,
            total_tokens: 12,
            ..Usage::default()
        })
    );
}

#[tokio::test]
async fn stream_parallel_tool_calls() {
    let upstream = Upstream::start(vec![Reply::sse(&fixture("cohere/stream_tools.sse"))]).await;
    let mut client = cohere_client(&upstream);
    let request = ChatRequest {
        messages: vec![text(
            Role::User,
            "What's the weather in Madrid and Brasilia?",
        )],
        tools: vec![weather_tool()],
        tool_choice: Some(ToolChoice {
            choice: Some(ToolChoiceKind::Mode("required".into())),
        }),
        ..ChatRequest::default()
    };
    let (chunks, error) = drain(&mut client, chat(PROVIDER, MODEL, request)).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        upstream.recorded()[0].body["tool_choice"],
        json!("REQUIRED")
    );
    assert_eq!(streamed_text(&chunks), "", "the tool plan is not content");
    assert_eq!(
        streamed_calls(&chunks),
        vec![
            (
                "get_weather_p1t92w7gfgq7".to_string(),
                "get_weather".to_string(),
                "{\n    \"location\": \"Madrid\"\n}".to_string()
            ),
            (
                "get_weather_ay6nmvjgp9vn".to_string(),
                "get_weather".to_string(),
                "{\n    \"location\": \"Brasilia\"\n}".to_string()
            ),
        ]
    );
    let finish = &chunks[chunks.len() - 2].choices[0];
    assert_eq!(finish.finish_reason, FinishReason::ToolCalls as i32);
    let usage = chunks.last().unwrap().usage.unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.estimated
        ),
        (37, 28, false)
    );
}

#[tokio::test]
async fn stream_tolerates_crlf_comments_done_and_single_byte_reads() {
    let body = fixture_text("stream_text.sse")
        .replace('\n', "\r\n")
        .replacen(
            "event: message-start",
            ": ping\r\n\r\nevent: message-start",
            1,
        )
        + "data: [DONE]\r\n\r\n";
    let upstream = Upstream::start(vec![Reply::Sse {
        bytes: body.into_bytes(),
        piece: 1,
    }])
    .await;
    let mut client = cohere_client(&upstream);
    let (chunks, error) = drain(&mut client, chat(PROVIDER, MODEL, simple_request())).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(streamed_text(&chunks), "Red, green and blue.");
    assert_eq!(chunks.last().unwrap().usage.unwrap().total_tokens, 12);
}

#[tokio::test]
async fn stream_without_message_end_or_cut_is_an_error() {
    let full = fixture("cohere/stream_text.sse");
    let end = String::from_utf8(full.clone())
        .unwrap()
        .find("event: message-end")
        .unwrap();
    let upstream = Upstream::start(vec![
        Reply::sse(&full[..end]),
        Reply::sse(&full[..end + 40]),
        Reply::SseReset {
            bytes: full[..end].to_vec(),
        },
    ])
    .await;
    let mut client = cohere_client(&upstream);
    for _ in 0..2 {
        let (chunks, error) = drain(&mut client, chat(PROVIDER, MODEL, simple_request())).await;
        assert_eq!(streamed_text(&chunks), "Red, green and blue.");
        assert!(chunks.iter().all(|c| c.usage.is_none()), "no usage chunk");
        let status = error.expect("a cut stream must not look complete");
        assert_eq!(status.code(), Code::Unavailable);
        assert!(
            status.message().contains("ended before completion"),
            "{}",
            status.message()
        );
        assert!(api_error(&status).retryable);
    }

    // The connection breaks after the first chunks arrived.
    let status = broken_mid_stream(
        &mut client,
        &upstream,
        chat(PROVIDER, MODEL, simple_request()),
    )
    .await;
    assert_eq!(status.code(), Code::Unavailable);
    assert!(api_error(&status).retryable);
}

#[tokio::test]
async fn stream_malformed_event_failed_and_timed_out_generations() {
    let start = "event: message-start\ndata: {\"id\":\"r1\",\"type\":\"message-start\"}\n\n";
    let hi = "event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Hi\"}}}}\n\n";
    let upstream = Upstream::start(vec![
        Reply::sse(format!("{start}{hi}data: {{oops\n\n").as_bytes()),
        Reply::sse(format!("{start}{hi}event: message-end\ndata: {{\"type\":\"message-end\",\"delta\":{{\"error\":\"internal failure\",\"finish_reason\":\"ERROR\"}}}}\n\n").as_bytes()),
        Reply::sse(format!("{start}event: message-end\ndata: {{\"type\":\"message-end\",\"delta\":{{\"finish_reason\":\"TIMEOUT\"}}}}\n\n").as_bytes()),
    ])
    .await;
    let mut client = cohere_client(&upstream);
    let (chunks, error) = drain(&mut client, chat(PROVIDER, MODEL, simple_request())).await;
    assert_eq!(streamed_text(&chunks), "Hi");
    let status = error.unwrap();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains("malformed event from upstream"));

    let (chunks, error) = drain(&mut client, chat(PROVIDER, MODEL, simple_request())).await;
    assert_eq!(streamed_text(&chunks), "Hi");
    let err = api_error(&error.unwrap());
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    assert!(err.retryable, "another deployment may succeed");

    let (_, error) = drain(&mut client, chat(PROVIDER, MODEL, simple_request())).await;
    let status = error.unwrap();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert_eq!(api_error(&status).code, ErrorCode::UpstreamTimeout);
}

#[tokio::test]
async fn stream_answered_as_json_lines_or_one_json_answer() {
    let lines = [
        r#"{"id":"r1","type":"message-start","delta":{"message":{"role":"assistant"}}}"#,
        r#"{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"Hello"}}}}"#,
        r#"{"type":"message-end","delta":{"finish_reason":"COMPLETE","usage":{"billed_units":{"input_tokens":5,"output_tokens":1}}}}"#,
    ]
    .join("\n");
    let upstream = Upstream::start(vec![
        Reply::Stream {
            content_type: "application/stream+json",
            bytes: lines.clone().into_bytes(),
            piece: 5,
        },
        Reply::json(200, &fixture_text("chat.json")),
        Reply::json(200, &lines),
    ])
    .await;
    let mut client = cohere_client(&upstream);
    let (chunks, error) = drain(&mut client, chat(PROVIDER, MODEL, simple_request())).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(streamed_text(&chunks), "Hello");
    assert_eq!(chunks.last().unwrap().usage.unwrap().total_tokens, 6);

    let (chunks, error) = drain(&mut client, chat(PROVIDER, MODEL, simple_request())).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(chunks.len(), 2, "the answer, then usage");
    assert_eq!(streamed_text(&chunks), "Red, green and blue.");
    assert_eq!(
        chunks[0].choices[0].finish_reason,
        FinishReason::Stop as i32
    );
    assert_eq!(chunks[1].usage.unwrap().total_tokens, 12);

    let (chunks, error) = drain(&mut client, chat(PROVIDER, MODEL, simple_request())).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(streamed_text(&chunks), "Hello");
}

#[tokio::test]
async fn error_statuses_map_by_meaning() {
    let upstream = Upstream::start(vec![
        Reply::json(400, r#"{"id":"e1","message":"too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 4292. Try using a shorter prompt, or enabling prompt truncating."}"#),
        Reply::json(400, r#"{"id":"e2","message":"invalid request: cannot specify both frequency_penalty and presence_penalty."}"#),
        Reply::json(401, r#"{"id":"e3","message":"invalid api token"}"#),
        Reply::json(498, r#"{"id":"e4","message":"invalid api token"}"#),
        Reply::json(429, r#"{"id":"e5","message":"You are using a Trial key, which is limited to 20 API calls / minute."}"#)
            .with_header("retry-after", "7"),
        Reply::json(500, r#"{"id":"e6","message":"internal server error, this has been reported to our developers"}"#),
        Reply::json(503, r#"{"message":"service unavailable"}"#),
        Reply::json(404, r#"{"id":"e7","message":"model 'nope' not found, make sure the correct model ID was used and that you have access to the model."}"#),
    ])
    .await;
    let mut client = cohere_client(&upstream);

    let err = chat_error(&mut client).await;
    assert_eq!(err.code, ErrorCode::ContextLengthExceeded);
    assert!(!err.retryable);
    assert_eq!(
        err.upstream_code.as_deref(),
        Some("context_length_exceeded")
    );

    let err = chat_error(&mut client).await;
    assert_eq!(err.code, ErrorCode::UpstreamRejected);
    assert_eq!(
        err.message,
        "invalid request: cannot specify both frequency_penalty and presence_penalty."
    );
    assert!(!err.retryable);

    for _ in [401, 498] {
        let err = chat_error(&mut client).await;
        assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
        assert_eq!(
            err.message,
            "provider `up` rejected the configured credential"
        );
        assert!(!err.retryable);
        assert!(!err.message.contains(KEY));
    }

    let err = chat_error(&mut client).await;
    assert_eq!(err.code, ErrorCode::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
    assert!(err.retryable);

    let err = chat_error(&mut client).await;
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    assert_eq!(err.message, "provider `up` returned HTTP 500");
    assert!(err.retryable);

    let err = chat_error(&mut client).await;
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    assert!(err.retryable);

    let err = chat_error(&mut client).await;
    assert_eq!(
        err.message,
        "provider `up` does not serve model `command-a-03-2025`"
    );
    assert!(!err.retryable);
}

#[tokio::test]
async fn stream_start_errors_come_before_any_chunk() {
    let upstream = Upstream::start(vec![
        Reply::json(498, r#"{"message":"invalid api token"}"#),
        Reply::json(429, r#"{"message":"rate limited"}"#).with_header("retry-after", "3"),
        Reply::json(
            200,
            r#"{"id":"e1","message":"too many tokens: size limit exceeded by 11326 tokens."}"#,
        ),
    ])
    .await;
    let mut client = cohere_client(&upstream);
    let status = client
        .chat_stream(chat(PROVIDER, MODEL, simple_request()))
        .await
        .err()
        .unwrap();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(!format!("{status:?}").contains(KEY));
    assert_eq!(
        api_error(&status).message,
        "provider `up` rejected the configured credential"
    );
    let status = client
        .chat_stream(chat(PROVIDER, MODEL, simple_request()))
        .await
        .err()
        .unwrap();
    assert_eq!(api_error(&status).retry_after, Some(Duration::from_secs(3)));
    // An error object sent with a 200.
    let status = client
        .chat_stream(chat(PROVIDER, MODEL, simple_request()))
        .await
        .err()
        .unwrap();
    assert_eq!(api_error(&status).code, ErrorCode::ContextLengthExceeded);
}

#[tokio::test]
async fn failed_and_timed_out_generations_are_errors() {
    let upstream = Upstream::start(vec![
        Reply::json(
            200,
            r#"{"id":"r1","finish_reason":"ERROR","message":{"role":"assistant","content":[{"type":"text","text":"Half an ans"}]},"usage":{"billed_units":{"input_tokens":5,"output_tokens":3}}}"#,
        ),
        Reply::json(
            200,
            r#"{"id":"r2","finish_reason":"TIMEOUT","message":{"role":"assistant","content":[]}}"#,
        ),
    ])
    .await;
    let mut client = cohere_client(&upstream);
    let err = api_error(
        &client
            .chat(chat(PROVIDER, MODEL, simple_request()))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    assert!(err.retryable);
    let status = client
        .chat(chat(PROVIDER, MODEL, simple_request()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
}

#[tokio::test]
async fn embeddings_float_base64_usage_and_batches() {
    let b64 = |values: &[f32]| {
        use base64::Engine as _;
        let bytes: Vec<u8> = values.iter().flat_map(|f| f.to_le_bytes()).collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let vectors = |n: usize| json!({"float": vec![vec![0.5f32]; n]});
    let upstream = Upstream::start(vec![
        Reply::json(200, &fixture_text("embed.json")),
        Reply::json(
            200,
            &json!({"id": "e2", "embeddings": {"base64": [b64(&[0.5, -0.25])]}, "texts": ["hi"]})
                .to_string(),
        ),
        Reply::json(
            200,
            &json!({"embeddings": vectors(96), "meta": {"billed_units": {"input_tokens": 96}}})
                .to_string(),
        ),
        Reply::json(
            200,
            &json!({"embeddings": vectors(4), "meta": {"billed_units": {"input_tokens": 4}}})
                .to_string(),
        ),
    ])
    .await;
    let mut client = cohere_client(&upstream);
    let answer = client
        .embed(embed(
            PROVIDER,
            "embed-v4.0",
            EmbedRequest {
                input: vec!["hello".into(), "goodbye".into()],
                dimensions: Some(3),
                ..EmbedRequest::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let seen = upstream.recorded();
    assert_eq!(seen[0].path, "/v2/embed");
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer sk-test-secret-123")
    );
    assert_eq!(
        seen[0].body,
        json!({"model": "embed-v4.0", "texts": ["hello", "goodbye"], "input_type": "search_document", "embedding_types": ["float"], "output_dimension": 3})
    );
    assert_eq!(answer.model, "embed-v4.0");
    let data: Vec<(u32, Vec<f32>)> = answer
        .data
        .iter()
        .map(|e| (e.index, e.values.clone()))
        .collect();
    assert_eq!(
        data,
        vec![(0, vec![0.5, -0.25, 3.0]), (1, vec![1.0, 0.0, -2.0])]
    );
    assert_eq!(
        answer.usage,
        Some(Usage {
            prompt_tokens: 2,
            total_tokens: 2,
            ..Usage::default()
        })
    );

    // A server answering base64 vectors, and no billed units: estimated usage.
    let answer = client
        .embed(embed(
            PROVIDER,
            "embed-v4.0",
            EmbedRequest {
                input: vec!["hello world!".into()],
                ..EmbedRequest::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.data[0].values, vec![0.5, -0.25]);
    let usage = answer.usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.estimated), (3, true));

    // More texts than Cohere takes in one call: batches, indexes continue.
    let answer = client
        .embed(embed(
            PROVIDER,
            "embed-v4.0",
            EmbedRequest {
                input: (0..100).map(|i| format!("text {i}")).collect(),
                ..EmbedRequest::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let seen = upstream.recorded();
    assert_eq!(seen[2].body["texts"].as_array().unwrap().len(), 96);
    assert_eq!(
        seen[3].body["texts"],
        json!(["text 96", "text 97", "text 98", "text 99"])
    );
    assert_eq!(answer.data.len(), 100);
    assert_eq!(answer.data[99].index, 99);
    assert_eq!(answer.usage.unwrap().prompt_tokens, 100);

    let status = client
        .embed(embed(
            PROVIDER,
            "embed-v4.0",
            EmbedRequest {
                token_input: vec![Default::default()],
                ..EmbedRequest::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(upstream.recorded().len(), 4);
}

#[tokio::test]
async fn built_from_config_with_the_key_from_the_environment() {
    let upstream = Upstream::start(vec![Reply::json(200, &fixture_text("chat.json"))]).await;
    // Cargo sets CARGO_PKG_NAME for test processes: a variable to rely on without
    // mutating the environment.
    let toml = format!(
        "version = 1\n[[providers]]\nname = \"{PROVIDER}\"\nkind = \"cohere\"\nbase_url = \"http://{}/v2/\"\napi_key_env = \"CARGO_PKG_NAME\"\n",
        upstream.addr
    );
    let config = switchyard_config::load_str(&toml).unwrap();
    let mut client = client_of(ProviderAdapter::from_config(&config).unwrap());
    client
        .chat(chat(PROVIDER, MODEL, simple_request()))
        .await
        .unwrap();
    let seen = &upstream.recorded()[0];
    assert_eq!(seen.path, "/v2/chat", "a trailing slash is dropped");
    assert_eq!(
        seen.authorization.as_deref(),
        Some("Bearer switchyard-provider-adapter")
    );

    let default = switchyard_config::load_str(
        "version = 1\n[[providers]]\nname = \"co\"\nkind = \"cohere\"\napi_key_env = \"CARGO_PKG_NAME\"\n",
    )
    .unwrap();
    assert_eq!(
        default.providers[0].effective_base_url().as_deref(),
        Some("https://api.cohere.com/v2")
    );
    ProviderAdapter::from_config(&default).unwrap();

    let unset = toml.replace("CARGO_PKG_NAME", "SWITCHYARD_TEST_UNSET_COHERE_KEY_VAR");
    let err = ProviderAdapter::from_config(&switchyard_config::load_str(&unset).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("providers[0].api_key_env"), "{err}");
    // A base URL that is not http(s) is refused naming its key.
    let bad_url = toml.replace(&format!("http://{}/v2/", upstream.addr), "ftp://nowhere");
    let err = switchyard_config::load_str(&bad_url)
        .unwrap_err()
        .to_string();
    assert!(err.contains("providers[0].base_url"), "{err}");
}
