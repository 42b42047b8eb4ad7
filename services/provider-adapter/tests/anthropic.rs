//! The `anthropic` kind against an emulated Anthropic Messages API, through the gRPC
//! surface: the exact upstream request, the normalized answer, errors mapped by
//! meaning, and streams that break in every documented way.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::json;
use switchyard_config::{ProviderAdapterConfig, Secret};
use switchyard_error::{ApiError, ErrorCode};
use switchyard_grpc::GrpcChannel;
use switchyard_proto::provider::v1::provider_client::ProviderClient;
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::response_format::Format;
use switchyard_proto::types::v1::tool_choice::Choice as ToolChoiceKind;
use switchyard_proto::types::v1::{
    ChatRequest, ContentPart, EmbedRequest, FinishReason, FunctionCall, FunctionDefinition,
    ImageUrl, JsonSchemaFormat, Message, ResponseFormat, Role, Tool, ToolCall, ToolChoice, Usage,
};
use switchyard_provider_adapter::{Anthropic, ChatProvider, ProviderAdapter};
use tonic::{Code, Status};

type Client = ProviderClient<GrpcChannel>;

/// A gRPC client of an adapter whose provider `up` is Anthropic at `upstream`.
fn client(upstream: &Upstream) -> Client {
    let provider = Anthropic::new(
        PROVIDER,
        &upstream.base_url(),
        Some(Secret::new(KEY)),
        None,
        &ProviderAdapterConfig::default(),
    )
    .unwrap();
    client_of(ProviderAdapter::from_providers([(
        PROVIDER.to_string(),
        Arc::new(provider) as Arc<dyn ChatProvider>,
    )]))
}

fn fixture_text(name: &str) -> String {
    String::from_utf8(fixture(&format!("anthropic/{name}"))).unwrap()
}

fn api_error(status: &Status) -> ApiError {
    ApiError::from_status(status)
}

fn user_text(t: &str) -> Message {
    text(Role::User, t)
}

fn image(url: &str) -> ContentPart {
    ContentPart {
        part: Some(Part::ImageUrl(ImageUrl {
            url: url.into(),
            detail: String::new(),
        })),
    }
}

/// A protobuf Struct from a JSON object, as a generated client would send it.
fn pb_struct(v: &serde_json::Value) -> prost_types::Struct {
    use prost_types::value::Kind;
    fn pb(v: &serde_json::Value) -> prost_types::Value {
        let kind = match v {
            serde_json::Value::Null => Kind::NullValue(0),
            serde_json::Value::Bool(b) => Kind::BoolValue(*b),
            serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap()),
            serde_json::Value::String(s) => Kind::StringValue(s.clone()),
            serde_json::Value::Array(a) => Kind::ListValue(prost_types::ListValue {
                values: a.iter().map(pb).collect(),
            }),
            serde_json::Value::Object(_) => Kind::StructValue(pb_struct(v)),
        };
        prost_types::Value { kind: Some(kind) }
    }
    prost_types::Struct {
        fields: v
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), pb(v)))
            .collect(),
    }
}

fn weather_tool() -> Tool {
    Tool {
        r#type: "function".into(),
        function: Some(FunctionDefinition {
            name: "get_weather".into(),
            description: Some("Current weather in a city".into()),
            parameters: Some(pb_struct(&weather_schema_json()["input_schema"])),
            strict: None,
        }),
        cache_control: None,
    }
}

fn weather_schema_json() -> serde_json::Value {
    json!({
        "name": "get_weather",
        "description": "Current weather in a city",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    })
}

fn call(id: &str, city: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        r#type: "function".into(),
        function: Some(FunctionCall {
            name: "get_weather".into(),
            arguments: format!("{{\"city\": \"{city}\"}}"),
        }),
    }
}

fn tool_answer(id: &str, t: &str) -> Message {
    Message {
        tool_call_id: Some(id.into()),
        ..text(Role::Tool, t)
    }
}

#[tokio::test]
async fn chat_sends_the_documented_request_and_normalizes_the_answer() {
    let upstream =
        Upstream::start(vec![Reply::json(200, &fixture_text("messages_text.json"))]).await;
    let mut client = client(&upstream);
    let mut request = simple_request();
    request.temperature = Some(0.2);
    request.max_tokens = Some(100);
    request.stop = vec!["###".into()];
    request.seed = Some(7);
    let answer = client
        .chat(chat(PROVIDER, "claude-sonnet-4-20250514", request))
        .await
        .unwrap()
        .into_inner();

    let seen = upstream.recorded();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/v1/messages");
    assert_eq!(seen[0].query, None);
    assert_eq!(seen[0].header("x-api-key"), Some(KEY));
    assert_eq!(seen[0].header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(seen[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(
        seen[0].authorization, None,
        "Anthropic authenticates with x-api-key"
    );
    assert_eq!(
        seen[0].body,
        json!({
            "model": "claude-sonnet-4-20250514",
            "system": "be brief",
            "messages": [{"role": "user", "content": "Name three colors."}],
            "max_tokens": 100,
            "temperature": 0.2,
            "stop_sequences": ["###"],
        }),
        "seed has no Anthropic equivalent and is not sent"
    );

    assert_eq!(answer.id, "msg_013Zva2CMHLNnXjNJJKqJ2EF");
    assert!(answer.created > 1_700_000_000);
    assert_eq!(answer.model, "claude-sonnet-4-20250514");
    assert_eq!(answer.provider, "", "the router fills the provider");
    assert_eq!(answer.system_fingerprint, None);
    assert_eq!(answer.choices.len(), 1);
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
            prompt_tokens: 2095,
            completion_tokens: 503,
            total_tokens: 2598,
            ..Usage::default()
        })
    );
}

/// The `anthropic_beta` option is the `anthropic-beta` header, on messages and
/// token counts alike, and never a body member (Anthropic refuses unknown ones).
#[tokio::test]
async fn beta_names_go_as_the_anthropic_beta_header() {
    let upstream = Upstream::start(vec![
        Reply::json(200, &fixture_text("messages_text.json")),
        Reply::json(200, r#"{"input_tokens": 12}"#),
        Reply::json(200, &fixture_text("messages_text.json")),
    ])
    .await;
    let mut client = client(&upstream);
    let mut request = simple_request();
    request.provider_options = Some(prost_types::Struct {
        fields: [(
            "anthropic_beta".to_string(),
            prost_types::Value {
                kind: Some(prost_types::value::Kind::ListValue(
                    prost_types::ListValue {
                        values: ["context-1m-2025-08-07", "interleaved-thinking-2025-05-14"]
                            .map(|n| prost_types::Value {
                                kind: Some(prost_types::value::Kind::StringValue(n.into())),
                            })
                            .to_vec(),
                    },
                )),
            },
        )]
        .into(),
    });
    client
        .chat(chat(PROVIDER, "claude-sonnet-4-5", request.clone()))
        .await
        .unwrap();
    client
        .count_tokens(chat(PROVIDER, "claude-sonnet-4-5", request))
        .await
        .unwrap();
    client
        .chat(chat(PROVIDER, "claude-sonnet-4-5", simple_request()))
        .await
        .unwrap();
    let seen = upstream.recorded();
    for call in &seen[..2] {
        assert_eq!(
            call.header("anthropic-beta"),
            Some("context-1m-2025-08-07,interleaved-thinking-2025-05-14")
        );
        assert!(call.body.get("anthropic_beta").is_none(), "{}", call.body);
    }
    assert_eq!(seen[2].header("anthropic-beta"), None);
}

#[tokio::test]
async fn system_and_multi_turn_with_merged_turns_and_default_max_tokens() {
    let upstream =
        Upstream::start(vec![Reply::json(200, &fixture_text("messages_text.json"))]).await;
    let mut client = client(&upstream);
    let request = ChatRequest {
        model: "claude".into(),
        messages: vec![
            text(Role::System, "You are terse."),
            user_text("Hello there."),
            text(Role::Assistant, "Hi, I'm Claude. How can I help you?"),
            user_text("Can you explain LLMs in plain English?"),
            user_text("In one sentence."),
            text(Role::Developer, "Never use lists."),
        ],
        ..ChatRequest::default()
    };
    client
        .chat(chat(PROVIDER, "claude-sonnet-4-20250514", request))
        .await
        .unwrap();
    assert_eq!(
        upstream.recorded()[0].body,
        json!({
            "model": "claude-sonnet-4-20250514",
            "system": [
                {"type": "text", "text": "You are terse."},
                {"type": "text", "text": "Never use lists."},
            ],
            "messages": [
                {"role": "user", "content": "Hello there."},
                {"role": "assistant", "content": "Hi, I'm Claude. How can I help you?"},
                {"role": "user", "content": [
                    {"type": "text", "text": "Can you explain LLMs in plain English?"},
                    {"type": "text", "text": "In one sentence."},
                ]},
            ],
            "max_tokens": 4096,
        })
    );
}

#[tokio::test]
async fn parallel_tool_calls_both_directions() {
    let upstream =
        Upstream::start(vec![Reply::json(200, &fixture_text("messages_tools.json"))]).await;
    let mut client = client(&upstream);
    let assistant = Message {
        role: Role::Assistant as i32,
        tool_calls: vec![call("toolu_01", "Paris"), call("toolu_02", "Oslo")],
        ..Message::default()
    };
    let request = ChatRequest {
        model: "claude".into(),
        messages: vec![
            user_text("Weather in Paris and Oslo?"),
            assistant,
            tool_answer("toolu_01", "18C, sunny"),
            tool_answer("toolu_02", "4C, snow"),
            user_text("And tomorrow?"),
        ],
        tools: vec![weather_tool()],
        tool_choice: Some(ToolChoice {
            choice: Some(ToolChoiceKind::Mode("required".into())),
        }),
        ..ChatRequest::default()
    };
    let answer = client
        .chat(chat(PROVIDER, "claude-sonnet-4-20250514", request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        upstream.recorded()[0].body,
        json!({
            "model": "claude-sonnet-4-20250514",
            "messages": [
                {"role": "user", "content": "Weather in Paris and Oslo?"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"city": "Oslo"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C, sunny"},
                    {"type": "tool_result", "tool_use_id": "toolu_02", "content": "4C, snow"},
                    {"type": "text", "text": "And tomorrow?"},
                ]},
            ],
            "max_tokens": 4096,
            "tools": [weather_schema_json()],
            "tool_choice": {"type": "any"},
        })
    );
    let choice = &answer.choices[0];
    assert_eq!(choice.finish_reason, FinishReason::ToolCalls as i32);
    let message = choice.message.as_ref().unwrap();
    assert_eq!(
        message.content[0].part,
        Some(Part::Text("I'll check the weather in both cities.".into()))
    );
    let calls: Vec<(String, String, String)> = message
        .tool_calls
        .iter()
        .map(|c| {
            let f = c.function.clone().unwrap();
            assert_eq!(c.r#type, "function");
            (c.id.clone(), f.name, f.arguments)
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            (
                "toolu_01A09q90qw90lq917835lq9".into(),
                "get_weather".into(),
                r#"{"city":"Paris"}"#.into()
            ),
            (
                "toolu_01B19r91rw91mr928946mr0".into(),
                "get_weather".into(),
                r#"{"city":"Oslo"}"#.into()
            ),
        ]
    );
    let usage = answer.usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (472, 89));
}

#[tokio::test]
async fn images_as_base64_and_url_sources() {
    let upstream =
        Upstream::start(vec![Reply::json(200, &fixture_text("messages_text.json"))]).await;
    let mut client = client(&upstream);
    let request = ChatRequest {
        model: "claude".into(),
        messages: vec![Message {
            role: Role::User as i32,
            content: vec![
                image("data:image/jpeg;base64,/9j/4AAQSkZJRg=="),
                image(
                    "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg",
                ),
                ContentPart {
                    part: Some(Part::Text("Compare these images.".into())),
                },
            ],
            ..Message::default()
        }],
        ..ChatRequest::default()
    };
    client
        .chat(chat(PROVIDER, "claude-sonnet-4-20250514", request))
        .await
        .unwrap();
    assert_eq!(
        upstream.recorded()[0].body["messages"],
        json!([{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQSkZJRg=="}},
            {"type": "image", "source": {"type": "url", "url": "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"}},
            {"type": "text", "text": "Compare these images."},
        ]}])
    );
}

#[tokio::test]
async fn stream_text_with_ping_split_into_small_reads() {
    let upstream = Upstream::start(vec![Reply::Sse {
        bytes: fixture("anthropic/stream_text.sse"),
        piece: 5,
    }])
    .await;
    let mut client = client(&upstream);
    let (chunks, error) = drain(
        &mut client,
        chat(PROVIDER, "claude-opus-4-1-20250805", simple_request()),
    )
    .await;
    assert!(error.is_none(), "{error:?}");
    let seen = upstream.recorded();
    assert_eq!(seen[0].path, "/v1/messages");
    assert_eq!(seen[0].body["stream"], json!(true));
    assert_eq!(seen[0].header("x-api-key"), Some(KEY));

    assert_eq!(chunks.len(), 5, "role, 2 texts, finish, usage");
    assert_eq!(
        chunks[0].choices[0].delta.as_ref().unwrap().role,
        Role::Assistant as i32
    );
    assert_eq!(streamed_text(&chunks), "Hello!");
    assert_eq!(
        chunks[3].choices[0].finish_reason,
        FinishReason::Stop as i32
    );
    for chunk in &chunks {
        assert_eq!(chunk.id, "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY");
        assert_eq!(chunk.model, "claude-opus-4-1-20250805");
    }
    for chunk in &chunks[..4] {
        assert_eq!(chunk.usage, None, "usage is only sent last");
    }
    let last = chunks.last().unwrap();
    assert!(last.choices.is_empty());
    assert_eq!(
        last.usage,
        Some(Usage {
            prompt_tokens: 25,
            completion_tokens: 15,
            total_tokens: 40,
            ..Usage::default()
        })
    );
}

#[tokio::test]
async fn stream_parallel_tool_call_deltas_and_cache_usage() {
    let upstream = Upstream::start(vec![Reply::sse(&fixture("anthropic/stream_tools.sse"))]).await;
    let mut client = client(&upstream);
    let mut request = simple_request();
    request.tools = vec![weather_tool()];
    request.parallel_tool_calls = Some(false);
    let (chunks, error) = drain(
        &mut client,
        chat(PROVIDER, "claude-sonnet-4-20250514", request),
    )
    .await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        upstream.recorded()[0].body["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );

    let deltas: Vec<_> = chunks
        .iter()
        .flat_map(|c| &c.choices)
        .flat_map(|c| &c.delta.as_ref().unwrap().tool_calls)
        .collect();
    // Per call: a start (id, name, "") and two argument fragments.
    assert_eq!(deltas.len(), 6);
    let mut calls: Vec<(String, String, String)> = vec![Default::default(); 2];
    for delta in deltas {
        let call = &mut calls[delta.index as usize];
        if let Some(id) = &delta.id {
            call.0.push_str(id);
        }
        let f = delta.function.as_ref().unwrap();
        call.1.push_str(f.name.as_deref().unwrap_or_default());
        call.2.push_str(f.arguments.as_deref().unwrap_or_default());
    }
    assert_eq!(
        calls,
        vec![
            (
                "toolu_01T1x1fJ34qAmk2tNTrN7Up6".into(),
                "get_weather".into(),
                r#"{"city": "Paris"}"#.into()
            ),
            (
                "toolu_01Vq6nTmWbVHDHbJ3FQzwLds".into(),
                "get_weather".into(),
                r#"{"city": "Oslo"}"#.into()
            ),
        ]
    );
    assert_eq!(streamed_text(&chunks), "Checking both cities.");
    let n = chunks.len();
    assert_eq!(
        chunks[n - 2].choices[0].finish_reason,
        FinishReason::ToolCalls as i32
    );
    assert_eq!(
        chunks[n - 1].usage,
        Some(Usage {
            prompt_tokens: 3544,
            completion_tokens: 89,
            total_tokens: 3633,
            cached_prompt_tokens: 2048,
            reasoning_tokens: 0,
            estimated: false,
            cache_write_prompt_tokens: 1024,
        }),
        "prompt = input 472 + cache read 2048 + cache write 1024"
    );
}

#[tokio::test]
async fn stream_with_crlf_and_one_byte_reads() {
    let crlf = fixture_text("stream_text.sse").replace('\n', "\r\n");
    let upstream = Upstream::start(vec![Reply::Sse {
        bytes: crlf.into_bytes(),
        piece: 1,
    }])
    .await;
    let mut client = client(&upstream);
    let (chunks, error) = drain(&mut client, chat(PROVIDER, "m", simple_request())).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(streamed_text(&chunks), "Hello!");
    assert_eq!(
        chunks.last().unwrap().usage.as_ref().unwrap().total_tokens,
        40
    );
}

#[tokio::test]
async fn rate_limit_429_keeps_retry_after() {
    let body = r#"{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization of 50 requests per minute."}}"#;
    let upstream = Upstream::start(vec![
        Reply::json(429, body).with_header("retry-after", "17"),
        Reply::json(429, body).with_header("retry-after", "3"),
    ])
    .await;
    let mut client = client(&upstream);
    let status = client
        .chat(chat(PROVIDER, "m", simple_request()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    let err = api_error(&status);
    assert_eq!(err.code, ErrorCode::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(17)));
    assert!(err.retryable);

    let Err(status) = client
        .chat_stream(chat(PROVIDER, "m", simple_request()))
        .await
    else {
        panic!("a refused stream fails before any chunk");
    };
    assert_eq!(api_error(&status).retry_after, Some(Duration::from_secs(3)));
}

#[tokio::test]
async fn overloaded_529_and_api_error_500_are_retryable_unavailable() {
    let upstream = Upstream::start(vec![
        Reply::json(
            529,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ),
        Reply::json(
            500,
            r#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#,
        ),
    ])
    .await;
    let mut client = client(&upstream);
    for code in [529, 500] {
        let status = client
            .chat(chat(PROVIDER, "m", simple_request()))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
        let err = api_error(&status);
        assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
        assert!(err.retryable, "HTTP {code}");
        assert_eq!(err.message, format!("provider `up` returned HTTP {code}"));
    }
}

#[tokio::test]
async fn prompt_too_long_is_context_length_exceeded() {
    let upstream = Upstream::start(vec![
        Reply::json(
            400,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"},"request_id":"req_011CVQe1dLrGNMJyE1ghG1av"}"#,
        ),
        Reply::json(
            400,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}"#,
        ),
    ])
    .await;
    let mut client = client(&upstream);
    let status = client
        .chat(chat(PROVIDER, "m", simple_request()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let err = api_error(&status);
    assert_eq!(err.code, ErrorCode::ContextLengthExceeded);
    assert_eq!(
        err.upstream_code.as_deref(),
        Some("context_length_exceeded")
    );
    assert_eq!(
        err.message,
        "prompt is too long: 208310 tokens > 200000 maximum"
    );
    assert!(!err.retryable);

    let err = api_error(
        &client
            .chat(chat(PROVIDER, "m", simple_request()))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, ErrorCode::UpstreamRejected);
    assert_eq!(err.message, "max_tokens: Field required");
}

#[tokio::test]
async fn authentication_error_401_never_echoes_the_key() {
    let upstream = Upstream::start(vec![
        Reply::json(
            401,
            r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key sk-test-secret-123"}}"#,
        ),
        Reply::json(
            403,
            r#"{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}"#,
        ),
    ])
    .await;
    let mut client = client(&upstream);
    for _ in 0..2 {
        let status = client
            .chat(chat(PROVIDER, "m", simple_request()))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
        assert!(!status.message().contains(KEY));
        assert!(!format!("{status:?}").contains("sk-test"));
        let err = api_error(&status);
        assert_eq!(
            err.message,
            "provider `up` rejected the configured credential"
        );
        assert!(!err.retryable);
    }
}

#[tokio::test]
async fn error_event_mid_stream_ends_with_an_error() {
    let mut body = fixture_text("stream_text.sse");
    let cut = body.find("event: content_block_stop").unwrap();
    body.truncate(cut);
    body.push_str("event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n");
    let upstream = Upstream::start(vec![Reply::sse(body.as_bytes())]).await;
    let mut client = client(&upstream);
    let (chunks, error) = drain(&mut client, chat(PROVIDER, "m", simple_request())).await;
    assert_eq!(
        streamed_text(&chunks),
        "Hello!",
        "chunks before the error arrive"
    );
    assert!(chunks.iter().all(|c| c.usage.is_none()));
    let status = error.expect("the error event ends the stream");
    assert_eq!(status.code(), Code::Unavailable);
    let err = api_error(&status);
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    assert!(err.retryable);
}

#[tokio::test]
async fn cut_streams_never_look_complete() {
    let full = fixture("anthropic/stream_text.sse");
    let before_stop = fixture_text("stream_text.sse")
        .find("event: message_stop")
        .unwrap();
    let upstream = Upstream::start(vec![
        // EOF without message_stop (after message_delta).
        Reply::sse(&full[..before_stop]),
        // EOF in the middle of an event.
        Reply::sse(&full[..full.len() / 2]),
        // The connection breaks after the first chunks.
        Reply::SseReset {
            bytes: full[..full.len() / 2].to_vec(),
        },
    ])
    .await;
    let mut client = client(&upstream);
    for _ in 0..2 {
        let (chunks, error) = drain(&mut client, chat(PROVIDER, "m", simple_request())).await;
        assert!(!chunks.is_empty(), "chunks before the cut are delivered");
        assert!(chunks.iter().all(|c| c.usage.is_none()), "no usage chunk");
        let status = error.expect("a cut stream must not look complete");
        assert_eq!(status.code(), Code::Unavailable);
        assert!(
            status
                .message()
                .contains("upstream stream ended before completion"),
            "{}",
            status.message()
        );
        assert!(api_error(&status).retryable);
    }

    let status = broken_mid_stream(
        &mut client,
        &upstream,
        chat(PROVIDER, "m", simple_request()),
    )
    .await;
    assert_eq!(status.code(), Code::Unavailable);
    assert!(api_error(&status).retryable);
}

#[tokio::test]
async fn malformed_event_ends_the_stream() {
    let mut body = fixture_text("stream_text.sse");
    let cut = body.find("event: content_block_stop").unwrap();
    body.truncate(cut);
    body.push_str("event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {not json\n\nevent: message_stop\ndata: {\"type\": \"message_stop\"}\n\n");
    let upstream = Upstream::start(vec![Reply::sse(body.as_bytes())]).await;
    let mut client = client(&upstream);
    let (chunks, error) = drain(&mut client, chat(PROVIDER, "m", simple_request())).await;
    assert_eq!(streamed_text(&chunks), "Hello!");
    let status = error.unwrap();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(
        status.message().contains("malformed event from upstream"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn stream_answered_with_json_is_replayed() {
    let upstream =
        Upstream::start(vec![Reply::json(200, &fixture_text("messages_tools.json"))]).await;
    let mut client = client(&upstream);
    let (chunks, error) = drain(&mut client, chat(PROVIDER, "m", simple_request())).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(chunks.len(), 2);
    let delta = chunks[0].choices[0].delta.as_ref().unwrap();
    assert_eq!(delta.tool_calls.len(), 2);
    assert_eq!(
        chunks[0].choices[0].finish_reason,
        FinishReason::ToolCalls as i32
    );
    assert_eq!(chunks[1].usage.as_ref().unwrap().total_tokens, 561);
}

#[tokio::test]
async fn embeddings_and_unsupported_options_are_refused_without_calling_upstream() {
    let upstream = Upstream::start(vec![]).await;
    let mut client = client(&upstream);
    let status = client
        .embed(embed(
            PROVIDER,
            "claude",
            EmbedRequest {
                input: vec!["hello".into()],
                ..EmbedRequest::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status
            .message()
            .contains("provider kind anthropic has no embeddings endpoint"),
        "{}",
        status.message()
    );

    let mut request = simple_request();
    request.response_format = Some(ResponseFormat {
        format: Some(Format::JsonObject(true)),
    });
    let status = client
        .chat(chat(PROVIDER, "m", request.clone()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("response_format"),
        "{}",
        status.message()
    );
    assert_eq!(api_error(&status).param.as_deref(), Some("response_format"));
    let status = client
        .chat_stream(chat(PROVIDER, "m", request))
        .await
        .err()
        .unwrap();
    assert_eq!(status.code(), Code::InvalidArgument);

    let mut request = simple_request();
    request.n = Some(2);
    let status = client.chat(chat(PROVIDER, "m", request)).await.unwrap_err();
    assert_eq!(api_error(&status).param.as_deref(), Some("n"));
    assert!(upstream.recorded().is_empty());
}

#[tokio::test]
async fn json_schema_is_sent_as_structured_output() {
    let upstream =
        Upstream::start(vec![Reply::json(200, &fixture_text("messages_text.json"))]).await;
    let mut client = client(&upstream);
    let mut request = simple_request();
    request.response_format = Some(ResponseFormat {
        format: Some(Format::JsonSchema(JsonSchemaFormat {
            name: "weather".into(),
            schema: weather_tool().function.unwrap().parameters,
            ..JsonSchemaFormat::default()
        })),
    });
    client.chat(chat(PROVIDER, "m", request)).await.unwrap();
    assert_eq!(
        upstream.recorded()[0].body["output_config"],
        json!({"format": {"type": "json_schema", "schema": weather_schema_json()["input_schema"]}})
    );
}

#[tokio::test]
async fn from_config_reads_key_and_version_and_names_key_paths() {
    let upstream =
        Upstream::start(vec![Reply::json(200, &fixture_text("messages_text.json"))]).await;
    // Cargo sets CARGO_PKG_NAME for test processes: a variable we can rely on
    // without mutating the environment.
    let toml = format!(
        "version = 1\n[[providers]]\nname = \"up\"\nkind = \"anthropic\"\nbase_url = \"{}\"\napi_key_env = \"CARGO_PKG_NAME\"\napi_version = \"2023-01-01\"\n",
        upstream.base_url()
    );
    let config = switchyard_config::load_str(&toml).unwrap();
    let mut client = client_of(ProviderAdapter::from_config(&config).unwrap());
    client
        .chat(chat(PROVIDER, "m", simple_request()))
        .await
        .unwrap();
    let seen = &upstream.recorded()[0];
    assert_eq!(
        seen.header("x-api-key"),
        Some("switchyard-provider-adapter")
    );
    assert_eq!(seen.header("anthropic-version"), Some("2023-01-01"));

    let unset = toml.replace("CARGO_PKG_NAME", "SWITCHYARD_TEST_UNSET_ANTHROPIC_KEY_VAR");
    let config = switchyard_config::load_str(&unset).unwrap();
    let err = ProviderAdapter::from_config(&config).unwrap_err();
    assert!(
        err.to_string().contains("providers[0].api_key_env"),
        "{err}"
    );

    let bad_version = toml.replace("2023-01-01", "2023-01-01\\n");
    let config = switchyard_config::load_str(&bad_version).unwrap();
    let err = ProviderAdapter::from_config(&config).unwrap_err();
    assert!(
        err.to_string().contains("providers[0].api_version"),
        "{err}"
    );
}

#[tokio::test]
async fn count_tokens_asks_the_counting_endpoint_with_the_input_only() {
    let upstream =
        Upstream::start(vec![Reply::json(200, &fixture_text("count_tokens.json"))]).await;
    let mut client = client(&upstream);
    let mut request = simple_request();
    // Generation settings the counting endpoint refuses: left out.
    request.max_tokens = Some(100);
    request.temperature = Some(0.2);
    request.stop = vec!["###".into()];
    request.user = Some("u-1".into());
    request.tools = vec![weather_tool()];
    request.provider_options = Some(pb_struct(
        &json!({"thinking": {"type": "enabled", "budget_tokens": 2048}, "top_k": 5}),
    ));
    let count = client
        .count_tokens(chat(PROVIDER, "claude-sonnet-4-20250514", request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(count.input_tokens, 2095);
    assert!(!count.estimated, "Anthropic counted");

    let seen = upstream.recorded();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/v1/messages/count_tokens");
    assert_eq!(seen[0].header("x-api-key"), Some(KEY));
    assert_eq!(seen[0].header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        seen[0].body,
        json!({
            "model": "claude-sonnet-4-20250514",
            "system": "be brief",
            "messages": [{"role": "user", "content": "Name three colors."}],
            "tools": [weather_schema_json()],
            "thinking": {"type": "enabled", "budget_tokens": 2048},
        })
    );
}

#[tokio::test]
async fn count_tokens_errors_are_mapped_and_a_countless_answer_is_malformed() {
    let not_found =
        r#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"}}"#;
    let upstream = Upstream::start(vec![
        Reply::json(404, not_found),
        Reply::json(200, r#"{"tokens": 5}"#),
    ])
    .await;
    let mut client = client(&upstream);
    let status = client
        .count_tokens(chat(PROVIDER, "claude-nope", simple_request()))
        .await
        .unwrap_err();
    // The operator's upstream model name is wrong: no retry elsewhere helps.
    let err = api_error(&status);
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    assert!(!err.retryable);
    let status = client
        .count_tokens(chat(PROVIDER, "m", simple_request()))
        .await
        .unwrap_err();
    let err = api_error(&status);
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    assert!(err.message.contains("token count"), "{}", err.message);
}
