//! The `gemini` kind (Google AI and Vertex AI) against an emulated Google endpoint,
//! through the gRPC surface: the exact upstream requests, the normalized answers,
//! errors by meaning, and broken streams.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use switchyard_config::{ProviderAdapterConfig, Secret};
use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::provider::v1::provider_client::ProviderClient;
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::response_format::Format;
use switchyard_proto::types::v1::{
    ChatRequest, ContentPart, EmbedRequest, FinishReason, FunctionCall, FunctionDefinition,
    ImageUrl, JsonSchemaFormat, Message, ResponseFormat, Role, Tool, ToolCall, Usage,
};
use switchyard_provider_adapter::{ChatProvider, Gemini, ProviderAdapter};
use tonic::{Code, Status};

type Client = ProviderClient<switchyard_grpc::GrpcChannel>;

/// The key the Google AI provider is configured with.
const GOOGLE_KEY: &str = "AIzaSyTEST-0123456789abcdefghijklmnopq";
const MODEL: &str = "gemini-2.5-flash";

fn gemini_fixture(name: &str) -> String {
    String::from_utf8(fixture(&format!("gemini/{name}"))).unwrap()
}

fn adapter_client(provider: Gemini) -> Client {
    client_of(ProviderAdapter::from_providers([(
        PROVIDER.to_string(),
        Arc::new(provider) as Arc<dyn ChatProvider>,
    )]))
}

/// A Google AI provider calling `upstream` with [`GOOGLE_KEY`].
fn google_ai(upstream: &Upstream) -> Client {
    adapter_client(
        Gemini::google_ai(
            PROVIDER,
            &format!("http://{}/v1beta/", upstream.addr),
            Some(Secret::new(GOOGLE_KEY)),
            &ProviderAdapterConfig::default(),
        )
        .unwrap(),
    )
}

fn api_error(status: &Status) -> ApiError {
    ApiError::from_status(status)
}

fn user(parts: Vec<ContentPart>) -> Message {
    Message {
        role: Role::User as i32,
        content: parts,
        ..Message::default()
    }
}

fn text_part(t: &str) -> ContentPart {
    ContentPart {
        part: Some(Part::Text(t.into())),
    }
}

fn weather_tool() -> Tool {
    let schema = json!({
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city"],
    });
    Tool {
        r#type: "function".into(),
        function: Some(FunctionDefinition {
            name: "get_weather".into(),
            description: Some("Current weather in a city".into()),
            parameters: Some(pb_struct(&schema)),
            strict: None,
        }),
        cache_control: None,
    }
}

fn pb_struct(v: &Value) -> prost_types::Struct {
    use prost_types::value::Kind;
    fn pb(v: &Value) -> prost_types::Value {
        let kind = match v {
            Value::Null => Kind::NullValue(0),
            Value::Bool(b) => Kind::BoolValue(*b),
            Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap()),
            Value::String(s) => Kind::StringValue(s.clone()),
            Value::Array(a) => Kind::ListValue(prost_types::ListValue {
                values: a.iter().map(pb).collect(),
            }),
            Value::Object(_) => Kind::StructValue(pb_struct(v)),
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

#[tokio::test]
async fn chat_sends_the_documented_request_and_normalizes_the_answer() {
    let upstream = Upstream::start(vec![Reply::json(200, &gemini_fixture("chat.json"))]).await;
    let mut client = google_ai(&upstream);
    let mut request = simple_request();
    request.temperature = Some(0.2);
    request.max_tokens = Some(100);
    let answer = client
        .chat(chat(PROVIDER, MODEL, request))
        .await
        .unwrap()
        .into_inner();

    let seen = upstream.recorded();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(
        seen[0].path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(seen[0].query, None, "the key never goes in the URL");
    assert_eq!(seen[0].header("x-goog-api-key"), Some(GOOGLE_KEY));
    assert_eq!(seen[0].authorization, None);
    assert_eq!(seen[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(
        seen[0].body,
        json!({
            "systemInstruction": {"parts": [{"text": "be brief"}]},
            "contents": [{"role": "user", "parts": [{"text": "Name three colors."}]}],
            "generationConfig": {"temperature": 0.2, "maxOutputTokens": 100},
        })
    );

    assert_eq!(answer.id, "mFbXaO7xEpOG7dcPyP2XmQk");
    assert_eq!(answer.model, "gemini-2.5-flash");
    assert_eq!(answer.provider, "", "the router fills the provider");
    let choice = &answer.choices[0];
    assert_eq!(choice.finish_reason, FinishReason::Stop as i32);
    let message = choice.message.as_ref().unwrap();
    assert_eq!(message.role, Role::Assistant as i32);
    assert_eq!(message.content, vec![text_part("Red, green and blue.")]);
    assert_eq!(
        answer.usage,
        Some(Usage {
            prompt_tokens: 1200,
            completion_tokens: 135,
            total_tokens: 1335,
            cached_prompt_tokens: 1024,
            reasoning_tokens: 128,
            estimated: false,
            cache_write_prompt_tokens: 0,
        })
    );
}

#[tokio::test]
async fn system_and_multi_turn_conversation() {
    let upstream = Upstream::start(vec![Reply::json(200, &gemini_fixture("chat.json"))]).await;
    let mut client = google_ai(&upstream);
    let request = ChatRequest {
        messages: vec![
            text(Role::System, "be brief"),
            text(Role::User, "Name a color."),
            text(Role::Assistant, "Red."),
            text(Role::Developer, "no punctuation"),
            text(Role::User, "Two more?"),
        ],
        stop: vec!["\n\n".into()],
        seed: Some(42),
        n: Some(1),
        top_p: Some(0.95),
        ..ChatRequest::default()
    };
    client.chat(chat(PROVIDER, MODEL, request)).await.unwrap();
    assert_eq!(
        upstream.recorded()[0].body,
        json!({
            "systemInstruction": {"parts": [{"text": "be brief"}, {"text": "no punctuation"}]},
            "contents": [
                {"role": "user", "parts": [{"text": "Name a color."}]},
                {"role": "model", "parts": [{"text": "Red."}]},
                {"role": "user", "parts": [{"text": "Two more?"}]},
            ],
            "generationConfig": {"topP": 0.95, "candidateCount": 1, "stopSequences": ["\n\n"], "seed": 42},
        })
    );
}

#[tokio::test]
async fn parallel_tool_calls_both_ways() {
    let upstream = Upstream::start(vec![
        Reply::json(200, &gemini_fixture("chat_tools.json")),
        Reply::json(200, &gemini_fixture("chat.json")),
    ])
    .await;
    let mut client = google_ai(&upstream);
    let mut request = ChatRequest {
        messages: vec![text(Role::User, "Weather in Paris and Tokyo?")],
        tools: vec![weather_tool()],
        ..ChatRequest::default()
    };
    let answer = client
        .chat(chat(PROVIDER, MODEL, request.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        upstream.recorded()[0].body["tools"],
        json!([{"functionDeclarations": [{
            "name": "get_weather",
            "description": "Current weather in a city",
            "parametersJsonSchema": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                "required": ["city"],
            },
        }]}])
    );
    let choice = &answer.choices[0];
    assert_eq!(choice.finish_reason, FinishReason::ToolCalls as i32);
    let calls = choice.message.as_ref().unwrap().tool_calls.clone();
    assert_eq!(calls.len(), 2);
    assert_ne!(calls[0].id, calls[1].id);
    let args: Vec<Value> = calls
        .iter()
        .map(|c| serde_json::from_str(&c.function.as_ref().unwrap().arguments).unwrap())
        .collect();
    assert_eq!(
        args,
        [
            json!({"city": "Paris", "unit": "celsius"}),
            json!({"city": "Tokyo", "unit": "celsius"})
        ]
    );
    let usage = answer.usage.unwrap();
    assert_eq!((usage.completion_tokens, usage.reasoning_tokens), (86, 50));

    // The caller runs both tools and sends the results back, answering by id.
    request.messages.push(Message {
        role: Role::Assistant as i32,
        tool_calls: calls.clone(),
        ..Message::default()
    });
    for (call, result) in calls.iter().rev().zip([r#"{"temp_c": 18}"#, "21 degrees"]) {
        request.messages.push(Message {
            role: Role::Tool as i32,
            tool_call_id: Some(call.id.clone()),
            content: vec![text_part(result)],
            ..Message::default()
        });
    }
    client.chat(chat(PROVIDER, MODEL, request)).await.unwrap();
    assert_eq!(
        upstream.recorded()[1].body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Weather in Paris and Tokyo?"}]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris", "unit": "celsius"}}},
                {"functionCall": {"name": "get_weather", "args": {"city": "Tokyo", "unit": "celsius"}}},
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp_c": 18}}},
                {"functionResponse": {"name": "get_weather", "response": {"result": "21 degrees"}}},
            ]},
        ])
    );
}

#[tokio::test]
async fn a_tool_result_without_its_call_is_invalid_and_never_sent() {
    let upstream = Upstream::start(vec![]).await;
    let mut client = google_ai(&upstream);
    let request = ChatRequest {
        messages: vec![
            text(Role::User, "hi"),
            Message {
                role: Role::Tool as i32,
                tool_call_id: Some("call_missing".into()),
                content: vec![text_part("42")],
                ..Message::default()
            },
        ],
        ..ChatRequest::default()
    };
    let status = client
        .chat(chat(PROVIDER, MODEL, request))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        api_error(&status).param.as_deref(),
        Some("messages[1].tool_call_id")
    );
    assert!(upstream.recorded().is_empty());
}

#[tokio::test]
async fn images_inline_and_by_uri_and_json_schema() {
    let upstream = Upstream::start(vec![Reply::json(200, &gemini_fixture("chat.json"))]).await;
    let mut client = google_ai(&upstream);
    let image = |url: &str| ContentPart {
        part: Some(Part::ImageUrl(ImageUrl {
            url: url.into(),
            detail: "high".into(),
        })),
    };
    let request = ChatRequest {
        messages: vec![user(vec![
            text_part("Describe both."),
            image("data:image/jpeg;base64,/9j/4AAQSkZJRg=="),
            image("https://generativelanguage.googleapis.com/v1beta/files/abc123"),
            image("gs://my-bucket/cat.webp"),
        ])],
        response_format: Some(ResponseFormat {
            format: Some(Format::JsonSchema(JsonSchemaFormat {
                name: "description".into(),
                description: None,
                schema: Some(pb_struct(&json!({
                    "type": "object",
                    "properties": {"items": {"type": "array", "items": {"type": "string"}}},
                    "required": ["items"],
                    "additionalProperties": false,
                }))),
                strict: Some(true),
            })),
        }),
        ..ChatRequest::default()
    };
    client.chat(chat(PROVIDER, MODEL, request)).await.unwrap();
    let body = &upstream.recorded()[0].body;
    assert_eq!(
        body["contents"][0]["parts"],
        json!([
            {"text": "Describe both."},
            {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQSkZJRg=="}},
            {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc123"}},
            {"fileData": {"mimeType": "image/webp", "fileUri": "gs://my-bucket/cat.webp"}},
        ])
    );
    assert_eq!(
        body["generationConfig"],
        json!({
            "responseMimeType": "application/json",
            "responseJsonSchema": {
                "type": "object",
                "properties": {"items": {"type": "array", "items": {"type": "string"}}},
                "required": ["items"],
                "additionalProperties": false,
            },
        })
    );
}

#[tokio::test]
async fn stream_text_with_usage_including_thoughts_and_cache() {
    let upstream = Upstream::start(vec![Reply::sse(&fixture("gemini/stream_text.sse"))]).await;
    let mut client = google_ai(&upstream);
    let (chunks, error) = drain(&mut client, chat(PROVIDER, MODEL, simple_request())).await;
    assert!(error.is_none(), "{error:?}");

    let seen = &upstream.recorded()[0];
    assert_eq!(
        seen.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    assert_eq!(seen.query.as_deref(), Some("alt=sse"));
    assert_eq!(seen.header("x-goog-api-key"), Some(GOOGLE_KEY));
    assert_eq!(
        seen.body,
        json!({
            "systemInstruction": {"parts": [{"text": "be brief"}]},
            "contents": [{"role": "user", "parts": [{"text": "Name three colors."}]}],
        })
    );

    assert_eq!(chunks.len(), 4, "three text chunks, then usage");
    assert_eq!(streamed_text(&chunks), "Red, green and blue.");
    assert_eq!(
        chunks[0].choices[0].delta.as_ref().unwrap().role,
        Role::Assistant as i32
    );
    assert_eq!(
        chunks[2].choices[0].finish_reason,
        FinishReason::Stop as i32
    );
    for chunk in &chunks[..3] {
        assert_eq!(chunk.id, "ylnXaLuUL4mF7dcPw8fIsAk");
        assert_eq!(chunk.model, "gemini-2.5-flash");
        assert_eq!(chunk.usage, None, "usage is only sent last");
    }
    let last = chunks.last().unwrap();
    assert!(last.choices.is_empty());
    assert_eq!(
        last.usage,
        Some(Usage {
            prompt_tokens: 1200,
            completion_tokens: 135,
            total_tokens: 1335,
            cached_prompt_tokens: 1024,
            reasoning_tokens: 128,
            estimated: false,
            cache_write_prompt_tokens: 0,
        })
    );
}

/// `logprobs` / `top_logprobs` become `responseLogprobs` / `logprobs`, and each
/// candidate's `logprobsResult` the Gateway's log probabilities, whole and
/// streamed (each event carrying its own tokens' steps).
#[tokio::test]
async fn logprobs_are_asked_for_and_carried() {
    let candidate = |text: &str, steps: Value, finish: Option<&str>| {
        let mut c = json!({"content": {"parts": [{"text": text}], "role": "model"}, "index": 0,
            "logprobsResult": steps});
        if let Some(f) = finish {
            c["finishReason"] = json!(f);
        }
        c
    };
    let step = |token: &str, lp: f64, alt: &str| {
        (
            json!({"token": token, "tokenId": 1, "logProbability": lp}),
            json!({"candidates": [{"token": token, "tokenId": 1, "logProbability": lp},
                                  {"token": alt, "tokenId": 2, "logProbability": lp - 2.0}]}),
        )
    };
    let (red, red_top) = step("Red", -0.1, "Blue");
    let (dot, dot_top) = step(".", -0.01, "!");
    let usage = json!({"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7});
    let whole = json!({
        "candidates": [candidate("Red.", json!({"topCandidates": [red_top, dot_top],
            "chosenCandidates": [red, dot], "logProbabilitySum": -0.11}), Some("STOP"))],
        "usageMetadata": usage, "modelVersion": MODEL, "responseId": "lp1"
    });
    let first = json!({"candidates": [candidate("Red", json!({"topCandidates": [red_top],
        "chosenCandidates": [red]}), None)], "modelVersion": MODEL, "responseId": "lp2"});
    let second = json!({"candidates": [candidate(".", json!({"topCandidates": [dot_top],
        "chosenCandidates": [dot]}), Some("STOP"))], "usageMetadata": usage,
        "modelVersion": MODEL, "responseId": "lp2"});
    let sse = format!("data: {first}\r\n\r\ndata: {second}\r\n\r\n");
    let upstream = Upstream::start(vec![
        Reply::json(200, &whole.to_string()),
        Reply::sse(sse.as_bytes()),
    ])
    .await;
    let mut client = google_ai(&upstream);
    let mut request = simple_request();
    request.logprobs = Some(true);
    request.top_logprobs = Some(2);
    let answer = client
        .chat(chat(PROVIDER, MODEL, request.clone()))
        .await
        .unwrap()
        .into_inner();
    let config = &upstream.recorded()[0].body["generationConfig"];
    assert_eq!(config["responseLogprobs"], json!(true));
    assert_eq!(config["logprobs"], json!(2));
    let tokens = &answer.choices[0].logprobs.as_ref().unwrap().content;
    assert_eq!(tokens.len(), 2);
    assert_eq!((tokens[0].token.as_str(), tokens[0].logprob), ("Red", -0.1));
    assert_eq!(tokens[0].bytes, b"Red");
    assert_eq!(tokens[0].top_logprobs[1].token, "Blue");
    assert_eq!(tokens[1].top_logprobs[1].logprob, -0.01 - 2.0);

    let (chunks, error) = drain(&mut client, chat(PROVIDER, MODEL, request)).await;
    assert!(error.is_none(), "{error:?}");
    let streamed: Vec<_> = chunks
        .iter()
        .filter_map(|c| c.choices.first()?.logprobs.as_ref())
        .flat_map(|l| l.content.iter())
        .collect();
    assert_eq!(streamed, tokens.iter().collect::<Vec<_>>());
}

/// Thought summaries (`includeThoughts`) stream as unsigned reasoning, before
/// and apart from the answer's text; a thought signature as a block of its own.
#[tokio::test]
async fn streamed_thought_summaries_are_reasoning() {
    let event = |part: Value, finish: Option<&str>| {
        let mut c = json!({"content": {"parts": [part], "role": "model"}, "index": 0});
        if let Some(f) = finish {
            c["finishReason"] = json!(f);
        }
        json!({"candidates": [c], "modelVersion": MODEL, "responseId": "th1"})
    };
    let sse: String = [
        event(
            json!({"text": "**Colors** I'll list three.", "thought": true}),
            None,
        ),
        event(
            json!({"text": "Red, green, blue.", "thoughtSignature": "c2lnLTE="}),
            Some("STOP"),
        ),
    ]
    .iter()
    .map(|e| format!("data: {e}\r\n\r\n"))
    .collect();
    let upstream = Upstream::start(vec![Reply::sse(sse.as_bytes())]).await;
    let mut client = google_ai(&upstream);
    let (chunks, error) = drain(&mut client, chat(PROVIDER, MODEL, simple_request())).await;
    assert!(error.is_none(), "{error:?}");
    let delta = chunks[0].choices[0].delta.as_ref().unwrap();
    assert_eq!(delta.content, None);
    assert_eq!(
        delta.reasoning[0].text.as_deref(),
        Some("**Colors** I'll list three.")
    );
    assert_eq!(delta.reasoning[0].signature, None);
    assert_eq!(streamed_text(&chunks), "Red, green, blue.");
    // The thought signature is a block of its own, marked as Gemini's.
    let signed = &chunks[1].choices[0].delta.as_ref().unwrap().reasoning[0];
    assert_eq!(
        (signed.index, signed.signature.as_deref()),
        (1, Some("gemini:c2lnLTE="))
    );
}

#[tokio::test]
async fn stream_parallel_function_calls_arrive_whole() {
    let upstream = Upstream::start(vec![Reply::Sse {
        bytes: fixture("gemini/stream_tools.sse"),
        piece: 3,
    }])
    .await;
    let mut client = google_ai(&upstream);
    let mut request = simple_request();
    request.tools = vec![weather_tool()];
    let (chunks, error) = drain(&mut client, chat(PROVIDER, MODEL, request)).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(chunks.len(), 3);
    assert_eq!(streamed_text(&chunks), "Checking both cities.");
    let choice = &chunks[1].choices[0];
    assert_eq!(choice.finish_reason, FinishReason::ToolCalls as i32);
    let deltas = &choice.delta.as_ref().unwrap().tool_calls;
    let calls: Vec<(u32, String, Value)> = deltas
        .iter()
        .map(|d| {
            assert!(d.id.as_deref().unwrap().starts_with("call_"));
            assert_eq!(d.r#type.as_deref(), Some("function"));
            let f = d.function.as_ref().unwrap();
            (
                d.index,
                f.name.clone().unwrap(),
                serde_json::from_str(f.arguments.as_deref().unwrap()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            (
                0,
                "get_weather".into(),
                json!({"city": "Paris", "unit": "celsius"})
            ),
            (
                1,
                "get_weather".into(),
                json!({"city": "Tokyo", "unit": "celsius"})
            ),
        ]
    );
    let usage = chunks[2].usage.as_ref().unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.reasoning_tokens,
            usage.total_tokens
        ),
        (85, 91, 50, 176)
    );
}

#[tokio::test]
async fn rate_limit_carries_google_retry_delay() {
    let upstream = Upstream::start(vec![
        Reply::json(429, &gemini_fixture("error_429.json")),
        Reply::json(429, &gemini_fixture("error_429.json")),
    ])
    .await;
    let mut client = google_ai(&upstream);
    let status = client
        .chat(chat(PROVIDER, MODEL, simple_request()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    let err = api_error(&status);
    assert_eq!(err.code, ErrorCode::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(13)));
    assert!(err.retryable);
    assert_eq!(err.upstream_code.as_deref(), Some("RESOURCE_EXHAUSTED"));

    let Err(status) = client
        .chat_stream(chat(PROVIDER, MODEL, simple_request()))
        .await
    else {
        panic!("a refused stream fails before any chunk");
    };
    assert_eq!(
        api_error(&status).retry_after,
        Some(Duration::from_secs(13))
    );
}

#[tokio::test]
async fn overloaded_context_and_credential_errors_by_meaning() {
    let upstream = Upstream::start(vec![
        Reply::json(503, &gemini_fixture("error_503.json")),
        Reply::json(400, &gemini_fixture("error_context.json")),
        Reply::json(400, &gemini_fixture("error_key.json")),
        Reply::json(
            403,
            r#"{"error":{"code":403,"message":"Method doesn't allow unregistered callers. key=AIzaSyTEST-0123456789abcdefghijklmnopq","status":"PERMISSION_DENIED"}}"#,
        ),
    ])
    .await;
    let mut client = google_ai(&upstream);
    let mut next = async || {
        client
            .chat(chat(PROVIDER, MODEL, simple_request()))
            .await
            .unwrap_err()
    };

    let status = next().await;
    assert_eq!(status.code(), Code::Unavailable);
    let err = api_error(&status);
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    assert!(err.retryable);

    let status = next().await;
    assert_eq!(status.code(), Code::InvalidArgument);
    let err = api_error(&status);
    assert_eq!(err.code, ErrorCode::ContextLengthExceeded);
    assert_eq!(
        err.upstream_code.as_deref(),
        Some("context_length_exceeded")
    );
    assert!(err.message.contains("exceeds the maximum number of tokens"));

    for _ in 0..2 {
        let status = next().await;
        assert!(!format!("{status:?}").contains(GOOGLE_KEY));
        let err = api_error(&status);
        assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
        assert_eq!(
            err.message,
            "provider `up` rejected the configured credential"
        );
        assert!(!err.retryable);
    }
}

#[tokio::test]
async fn blocked_prompt_is_content_filtered() {
    let upstream = Upstream::start(vec![Reply::json(200, &gemini_fixture("blocked.json"))]).await;
    let mut client = google_ai(&upstream);
    let status = client
        .chat(chat(PROVIDER, MODEL, simple_request()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let err = api_error(&status);
    assert_eq!(err.code, ErrorCode::ContentFiltered);
    assert_eq!(err.upstream_code.as_deref(), Some("content_filter"));
}

#[tokio::test]
async fn broken_streams_end_with_one_clean_error() {
    let full = fixture("gemini/stream_text.sse");
    let first_event = full.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut malformed = full[..first_event].to_vec();
    malformed.extend_from_slice(b": keep-alive\r\n\r\ndata: {\"candidates\": [\r\n\r\n");
    let upstream = Upstream::start(vec![
        // Ends cleanly at the HTTP level, before any finishReason.
        Reply::sse(&full[..first_event]),
        // Ends inside the last event.
        Reply::sse(&full[..full.len() - 30]),
        Reply::sse(&malformed),
        Reply::sse(b"data: {\"error\": {\"code\": 500, \"message\": \"An internal error has occurred.\", \"status\": \"INTERNAL\"}}\r\n\r\n"),
        Reply::SseReset {
            bytes: full[..first_event].to_vec(),
        },
    ])
    .await;
    let mut client = google_ai(&upstream);

    for want_chunks in [1, 2] {
        let (chunks, error) = drain(&mut client, chat(PROVIDER, MODEL, simple_request())).await;
        assert_eq!(chunks.len(), want_chunks);
        assert!(
            chunks.iter().all(|c| c.usage.is_none()),
            "no usage chunk on a cut stream"
        );
        let status = error.expect("a cut stream must not look complete");
        assert_eq!(status.code(), Code::Unavailable);
        assert!(
            status
                .message()
                .contains("upstream stream ended before completion")
        );
        assert!(api_error(&status).retryable);
    }

    let (chunks, error) = drain(&mut client, chat(PROVIDER, MODEL, simple_request())).await;
    assert_eq!(chunks.len(), 1);
    assert!(
        error
            .unwrap()
            .message()
            .contains("malformed event from upstream")
    );

    let (chunks, error) = drain(&mut client, chat(PROVIDER, MODEL, simple_request())).await;
    assert!(chunks.is_empty());
    let err = api_error(&error.unwrap());
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    assert!(err.retryable);

    // The connection breaks after the first chunk arrived.
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
async fn json_array_stream_is_replayed() {
    let events: Vec<Value> = gemini_fixture("stream_text.sse")
        .split("\r\n\r\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let upstream = Upstream::start(vec![Reply::Stream {
        content_type: "application/json; charset=UTF-8",
        bytes: serde_json::to_vec_pretty(&events).unwrap(),
        piece: 64,
    }])
    .await;
    let mut client = google_ai(&upstream);
    let (chunks, error) = drain(&mut client, chat(PROVIDER, MODEL, simple_request())).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(streamed_text(&chunks), "Red, green and blue.");
    assert_eq!(
        chunks.last().unwrap().usage.as_ref().unwrap().total_tokens,
        1335
    );
}

#[tokio::test]
async fn embeddings_use_batch_embed_contents() {
    let upstream =
        Upstream::start(vec![Reply::json(200, &gemini_fixture("embed_batch.json"))]).await;
    let mut client = google_ai(&upstream);
    let request = EmbedRequest {
        input: vec!["hello world".into(), "Red, green, blue.".into()],
        dimensions: Some(3),
        provider_options: Some(pb_struct(&json!({"taskType": "RETRIEVAL_DOCUMENT"}))),
        ..EmbedRequest::default()
    };
    let answer = client
        .embed(embed(PROVIDER, "gemini-embedding-001", request))
        .await
        .unwrap()
        .into_inner();
    let seen = &upstream.recorded()[0];
    assert_eq!(
        seen.path,
        "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    );
    assert_eq!(seen.header("x-goog-api-key"), Some(GOOGLE_KEY));
    assert_eq!(
        seen.body,
        json!({"requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "hello world"}]}, "outputDimensionality": 3, "taskType": "RETRIEVAL_DOCUMENT"},
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "Red, green, blue."}]}, "outputDimensionality": 3, "taskType": "RETRIEVAL_DOCUMENT"},
        ]})
    );
    assert_eq!(answer.model, "gemini-embedding-001");
    assert_eq!(answer.data.len(), 2);
    assert_eq!(
        (answer.data[1].index, answer.data[1].values.clone()),
        (1, vec![-0.0321, 0.0654, -0.0987])
    );
    // Gemini reports no usage for embeddings: estimated ("hello world" 2 + 6 tokens).
    let usage = answer.usage.unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.estimated
        ),
        (8, 0, true)
    );

    let status = client
        .embed(embed(
            PROVIDER,
            "gemini-embedding-001",
            EmbedRequest {
                token_input: vec![switchyard_proto::types::v1::TokenIds { ids: vec![1, 2] }],
                ..EmbedRequest::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

/// A Vertex AI provider for project `my-proj` in `europe-west4`, with a bearer token.
fn vertex(upstream: &Upstream) -> Client {
    adapter_client(
        Gemini::vertex(
            PROVIDER,
            "my-proj",
            "europe-west4",
            Some(&format!("http://{}/v1", upstream.addr)),
            Some(Secret::new("ya29.test-access-token")),
            &ProviderAdapterConfig::default(),
        )
        .unwrap(),
    )
}

#[tokio::test]
async fn vertex_ai_urls_and_bearer_token() {
    let upstream = Upstream::start(vec![
        Reply::json(200, &gemini_fixture("chat.json")),
        Reply::sse(&fixture("gemini/stream_text.sse")),
        Reply::json(200, &gemini_fixture("vertex_predict.json")),
        Reply::json(401, r#"{"error":{"code":401,"message":"Request had invalid authentication credentials. Expected OAuth 2 access token.","status":"UNAUTHENTICATED"}}"#),
    ])
    .await;
    let mut client = vertex(&upstream);
    let prefix = "/v1/projects/my-proj/locations/europe-west4/publishers/google/models";

    let answer = client
        .chat(chat(PROVIDER, MODEL, simple_request()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.usage.unwrap().total_tokens, 1335);
    let (chunks, error) = drain(&mut client, chat(PROVIDER, MODEL, simple_request())).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(streamed_text(&chunks), "Red, green and blue.");
    let answer = client
        .embed(embed(
            PROVIDER,
            "text-embedding-005",
            EmbedRequest {
                input: vec!["hello world".into(), "Red, green, blue.".into()],
                dimensions: Some(3),
                ..EmbedRequest::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.data[0].values, vec![0.0123, -0.0456, 0.0789]);
    let usage = answer.usage.unwrap();
    assert_eq!(
        (usage.prompt_tokens, usage.estimated),
        (10, false),
        "Vertex counts tokens"
    );
    let status = client
        .chat(chat(PROVIDER, MODEL, simple_request()))
        .await
        .unwrap_err();
    assert_eq!(
        api_error(&status).message,
        "provider `up` rejected the configured credential"
    );

    let seen = upstream.recorded();
    let paths: Vec<(&str, Option<&str>)> = seen
        .iter()
        .map(|r| (r.path.as_str(), r.query.as_deref()))
        .collect();
    assert_eq!(
        paths,
        [
            (
                format!("{prefix}/gemini-2.5-flash:generateContent").as_str(),
                None
            ),
            (
                format!("{prefix}/gemini-2.5-flash:streamGenerateContent").as_str(),
                Some("alt=sse")
            ),
            (
                format!("{prefix}/text-embedding-005:predict").as_str(),
                None
            ),
            (
                format!("{prefix}/gemini-2.5-flash:generateContent").as_str(),
                None
            ),
        ]
    );
    for r in &seen {
        assert_eq!(
            r.authorization.as_deref(),
            Some("Bearer ya29.test-access-token")
        );
        assert_eq!(r.header("x-goog-api-key"), None);
    }
    assert_eq!(
        seen[0].body["contents"],
        json!([{"role": "user", "parts": [{"text": "Name three colors."}]}])
    );
    assert_eq!(
        seen[2].body,
        json!({
            "instances": [{"content": "hello world"}, {"content": "Red, green, blue."}],
            "parameters": {"outputDimensionality": 3},
        })
    );
}

#[tokio::test]
async fn vertex_gemini_embedding_sends_one_instance_per_call() {
    let one = |v: f32| {
        format!(
            r#"{{"predictions":[{{"embeddings":{{"statistics":{{"token_count":2,"truncated":false}},"values":[{v}]}}}}]}}"#
        )
    };
    let upstream = Upstream::start(vec![
        Reply::json(200, &one(0.5)),
        Reply::json(200, &one(-0.5)),
    ])
    .await;
    let mut client = vertex(&upstream);
    let answer = client
        .embed(embed(
            PROVIDER,
            "gemini-embedding-001",
            EmbedRequest {
                input: vec!["a".into(), "b".into()],
                ..EmbedRequest::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let values: Vec<Vec<f32>> = answer.data.iter().map(|e| e.values.clone()).collect();
    assert_eq!(values, [vec![0.5], vec![-0.5]]);
    assert_eq!(answer.usage.unwrap().prompt_tokens, 4);
    let bodies: Vec<Value> = upstream.recorded().into_iter().map(|r| r.body).collect();
    assert_eq!(
        bodies,
        [
            json!({"instances": [{"content": "a"}]}),
            json!({"instances": [{"content": "b"}]})
        ]
    );
}

#[tokio::test]
async fn from_config_reads_credentials_and_names_bad_keys() {
    let upstream = Upstream::start(vec![Reply::json(200, &gemini_fixture("chat.json"))]).await;
    // Cargo sets CARGO_PKG_NAME for test processes: a variable we can rely on
    // without mutating the environment.
    let toml = format!(
        "version = 1\n[[providers]]\nname = \"up\"\nkind = \"gemini\"\nbase_url = \"http://{}/v1beta\"\napi_key_env = \"CARGO_PKG_NAME\"\n",
        upstream.addr
    );
    let config = switchyard_config::load_str(&toml).unwrap();
    let mut client = client_of(ProviderAdapter::from_config(&config).unwrap());
    client
        .chat(chat(PROVIDER, MODEL, simple_request()))
        .await
        .unwrap();
    assert_eq!(
        upstream.recorded()[0].header("x-goog-api-key"),
        Some("switchyard-provider-adapter")
    );

    // Config validation catches some (a project without a region), the adapter
    // the rest; either way the error names the key.
    let bad = |extra: &str| match switchyard_config::load_str(&format!(
        "version = 1\n[[providers]]\nname = \"mock\"\nkind = \"mock\"\n[[providers]]\nname = \"g\"\nkind = \"gemini\"\n{extra}"
    )) {
        Err(e) => e.to_string(),
        Ok(config) => ProviderAdapter::from_config(&config)
            .unwrap_err()
            .to_string(),
    };
    assert!(bad("project = \"p\"\n").contains("providers[1].region"));
    assert!(bad("project = \"p\"\nregion = \"us/central1\"\n").contains("providers[1].region"));
    assert!(bad("project = \"P r\"\nregion = \"us-central1\"\n").contains("providers[1].project"));
    assert!(bad("region = \"us-central1\"\n").contains("providers[1].region"));
    assert!(
        bad("project = \"p\"\nregion = \"us-central1\"\naccess_token_env = \"SWITCHYARD_TEST_UNSET_TOKEN_VAR\"\n")
            .contains("providers[1].access_token_env")
    );
    assert!(
        bad("api_key_env = \"SWITCHYARD_TEST_UNSET_KEY_VAR\"\n")
            .contains("providers[1].api_key_env")
    );
    let config = switchyard_config::load_str(
        "version = 1\n[[providers]]\nname = \"v\"\nkind = \"gemini\"\nproject = \"my-proj\"\nregion = \"global\"\n",
    )
    .unwrap();
    assert!(ProviderAdapter::from_config(&config).is_ok());
}

#[tokio::test]
async fn tool_call_history_with_a_bad_arguments_string_is_invalid() {
    let upstream = Upstream::start(vec![]).await;
    let mut client = google_ai(&upstream);
    let request = ChatRequest {
        messages: vec![
            text(Role::User, "hi"),
            Message {
                role: Role::Assistant as i32,
                tool_calls: vec![ToolCall {
                    id: "call_1".into(),
                    r#type: "function".into(),
                    function: Some(FunctionCall {
                        name: "f".into(),
                        arguments: "{not json".into(),
                    }),
                }],
                ..Message::default()
            },
        ],
        ..ChatRequest::default()
    };
    let status = client
        .chat(chat(PROVIDER, MODEL, request))
        .await
        .unwrap_err();
    assert_eq!(
        api_error(&status).param.as_deref(),
        Some("messages[1].tool_calls[0].function.arguments")
    );
    assert!(upstream.recorded().is_empty());
}

#[tokio::test]
async fn token_counts_ask_count_tokens_on_both_apis() {
    let counted =
        r#"{"totalTokens": 31, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 31}]}"#;
    let mut request = simple_request();
    request.max_tokens = Some(100);
    request.tools = vec![weather_tool()];

    // Google AI: the whole GenerateContentRequest, naming its model.
    let upstream = Upstream::start(vec![Reply::json(200, counted)]).await;
    let count = google_ai(&upstream)
        .count_tokens(chat(PROVIDER, MODEL, request.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((count.input_tokens, count.estimated), (31, false));
    let seen = upstream.recorded();
    assert_eq!(seen[0].path, "/v1beta/models/gemini-2.5-flash:countTokens");
    assert_eq!(seen[0].header("x-goog-api-key"), Some(GOOGLE_KEY));
    let generate = &seen[0].body["generateContentRequest"];
    assert_eq!(generate["model"], "models/gemini-2.5-flash");
    assert_eq!(
        generate["systemInstruction"],
        json!({"parts": [{"text": "be brief"}]})
    );
    assert_eq!(
        generate["contents"],
        json!([{"role": "user", "parts": [{"text": "Name three colors."}]}])
    );
    assert_eq!(
        generate["tools"][0]["functionDeclarations"][0]["name"],
        "get_weather"
    );

    // Vertex AI: the input members only; an answer without a count is malformed.
    let upstream = Upstream::start(vec![
        Reply::json(200, r#"{"totalTokens": 31, "totalBillableCharacters": 96}"#),
        Reply::json(200, r#"{"totalBillableCharacters": 96}"#),
    ])
    .await;
    let mut client = vertex(&upstream);
    let count = client
        .count_tokens(chat(PROVIDER, MODEL, request.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(count.input_tokens, 31);
    let seen = upstream.recorded();
    assert_eq!(
        seen[0].path,
        "/v1/projects/my-proj/locations/europe-west4/publishers/google/models/gemini-2.5-flash:countTokens"
    );
    let mut keys: Vec<&str> = seen[0]
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["contents", "systemInstruction", "tools"]);
    let status = client
        .count_tokens(chat(PROVIDER, MODEL, request))
        .await
        .unwrap_err();
    assert_eq!(api_error(&status).code, ErrorCode::UpstreamUnavailable);
}
