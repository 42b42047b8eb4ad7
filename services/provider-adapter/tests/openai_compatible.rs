//! The `openai-compatible` kind against an emulated upstream, through the gRPC surface.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::time::Duration;

use common::*;
use serde_json::json;
use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::{EmbedRequest, FinishReason, Role, Usage};
use tonic::{Code, Status};

/// Usage estimated for `simple_request()` by the o200k_base tokenizer: "be brief" (2)
/// and "Name three colors." (4), each message + 4, the reply + 3.
fn expected_estimate(completion: u64) -> Usage {
    let prompt = 17;
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        estimated: true,
        ..Usage::default()
    }
}

#[tokio::test]
async fn chat_translates_request_and_answer() {
    let upstream = Upstream::start(vec![Reply::json(
        200,
        std::str::from_utf8(&fixture("openai_chat.json")).unwrap(),
    )])
    .await;
    let mut client = upstream.client();
    let mut request = simple_request();
    request.temperature = Some(0.2);
    request.max_tokens = Some(100);
    let answer = client
        .chat(chat(PROVIDER, "gpt-4o", request))
        .await
        .unwrap()
        .into_inner();

    let seen = upstream.recorded();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer sk-test-secret-123")
    );
    assert_eq!(seen[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(
        seen[0].body,
        json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "Name three colors."},
            ],
            "temperature": 0.2,
            "max_tokens": 100,
        })
    );

    assert_eq!(answer.id, "chatcmpl-abc");
    assert_eq!(answer.created, 1_700_000_001);
    assert_eq!(answer.model, "gpt-4o-2024-08-06");
    assert_eq!(answer.provider, "", "the router fills the provider");
    assert_eq!(answer.system_fingerprint.as_deref(), Some("fp_1"));
    let choice = &answer.choices[0];
    assert_eq!(choice.finish_reason, FinishReason::Stop as i32);
    let message = choice.message.as_ref().unwrap();
    assert_eq!(message.role, Role::Assistant as i32);
    assert_eq!(
        message.content[0].part,
        Some(Part::Text("Hello there.".into()))
    );
    assert_eq!(
        answer.usage,
        Some(Usage {
            prompt_tokens: 1200,
            completion_tokens: 300,
            total_tokens: 1500,
            cached_prompt_tokens: 1024,
            reasoning_tokens: 128,
            estimated: false,
            cache_write_prompt_tokens: 0,
        })
    );
}

/// OpenAI's `logprobs` objects (per token: bytes and the likeliest alternatives)
/// reach the Gateway's types whole, unary and streamed; the request asks for them.
#[tokio::test]
async fn logprobs_are_carried_unary_and_streamed() {
    let upstream = Upstream::start(vec![
        Reply::json(
            200,
            std::str::from_utf8(&fixture("openai_chat_logprobs.json")).unwrap(),
        ),
        Reply::sse(&fixture("openai_stream_logprobs.sse")),
    ])
    .await;
    let mut client = upstream.client();
    let mut request = simple_request();
    request.logprobs = Some(true);
    request.top_logprobs = Some(2);
    let answer = client
        .chat(chat(PROVIDER, "gpt-4o-mini", request.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(upstream.recorded()[0].body["logprobs"], json!(true));
    assert_eq!(upstream.recorded()[0].body["top_logprobs"], json!(2));
    let logprobs = answer.choices[0].logprobs.as_ref().unwrap();
    assert!(logprobs.refusal.is_empty());
    let tokens: Vec<&str> = logprobs.content.iter().map(|t| t.token.as_str()).collect();
    assert_eq!(tokens, ["Hello", "!"]);
    let hello = &logprobs.content[0];
    assert_eq!(hello.logprob, -0.31725305);
    assert_eq!(hello.bytes, b"Hello");
    assert_eq!(hello.top_logprobs.len(), 2);
    assert_eq!(hello.top_logprobs[1].token, "Hi");
    assert_eq!(hello.top_logprobs[1].logprob, -1.3190403);
    assert_eq!(hello.top_logprobs[1].bytes, b"Hi");

    let (chunks, error) = drain(&mut client, chat(PROVIDER, "gpt-4o-mini", request)).await;
    assert!(error.is_none(), "{error:?}");
    let per_chunk: Vec<Option<&str>> = chunks
        .iter()
        .filter_map(|c| c.choices.first())
        .map(|c| c.logprobs.as_ref().map(|l| l.content[0].token.as_str()))
        .collect();
    // The role chunk's empty list and the finish chunk's null carry nothing.
    assert_eq!(per_chunk, [None, Some("Hello"), Some("!"), None]);
    let bang = &chunks[2].choices[0].logprobs.as_ref().unwrap().content[0];
    assert_eq!(
        (bang.logprob, bang.bytes.as_slice()),
        (-0.02380986, &b"!"[..])
    );
}

#[tokio::test]
async fn chat_llama_cpp_answer_and_missing_usage_is_estimated() {
    let upstream = Upstream::start(vec![
        Reply::json(
            200,
            std::str::from_utf8(&fixture("llama_cpp_chat.json")).unwrap(),
        ),
        Reply::json(
            200,
            r#"{"choices":[{"message":{"content":"Red, green, blue."},"finish_reason":"stop"}]}"#,
        ),
    ])
    .await;
    let mut client = upstream.client();
    let answer = client
        .chat(chat(PROVIDER, "gemma", simple_request()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.model, "gemma-3-270m");
    assert_eq!(answer.choices[0].finish_reason, FinishReason::Length as i32);
    let usage = answer.usage.unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (19, 8, 27)
    );
    assert!(!usage.estimated);

    let answer = client
        .chat(chat(PROVIDER, "gemma", simple_request()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        answer.model, "gemma",
        "the upstream model name when the upstream says none"
    );
    assert!(answer.id.starts_with("chatcmpl-"));
    assert_eq!(
        answer.usage,
        // "Red, green, blue.": 6 tokens.
        Some(expected_estimate(6))
    );
}

#[tokio::test]
async fn stream_llama_cpp_capture_ends_with_estimated_usage() {
    let upstream = Upstream::start(vec![Reply::sse(&fixture("llama_cpp_stream.sse"))]).await;
    let mut client = upstream.client();
    let mut request = simple_request();
    request.include_usage = true;
    let (chunks, error) = drain(&mut client, chat(PROVIDER, "gemma", request)).await;
    assert!(error.is_none(), "{error:?}");

    let body = &upstream.recorded()[0].body;
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));

    assert_eq!(chunks.len(), 11, "role, 8 words, finish, usage");
    assert_eq!(
        chunks[0].choices[0].delta.as_ref().unwrap().role,
        Role::Assistant as i32
    );
    let text = streamed_text(&chunks);
    assert_eq!(text, "Name three colors. Answer in one short");
    assert_eq!(
        chunks[9].choices[0].finish_reason,
        FinishReason::Length as i32
    );
    for chunk in &chunks[..10] {
        assert_eq!(chunk.id, "chatcmpl-f02257f3-7160-43d1-aace-acc5e6c49830");
        assert_eq!(chunk.model, "gemma-3-270m");
        assert_eq!(chunk.usage, None);
    }
    let last = chunks.last().unwrap();
    assert!(last.choices.is_empty());
    assert_eq!(last.id, chunks[0].id);
    // 8 tokens; llama.cpp's own report for the same text (a test below) says 8 too.
    assert_eq!(last.usage, Some(expected_estimate(8)));
}

#[tokio::test]
async fn stream_openai_parallel_tool_calls_with_reported_usage() {
    let upstream = Upstream::start(vec![Reply::sse(&fixture("openai_stream_tools.sse"))]).await;
    let mut client = upstream.client();
    let (chunks, error) = drain(&mut client, chat(PROVIDER, "gpt-4o-mini", simple_request())).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(chunks.len(), 7, "6 choice chunks, then usage");

    let mut calls: Vec<(String, String, String)> = vec![Default::default(); 2];
    for delta in chunks
        .iter()
        .flat_map(|c| &c.choices)
        .flat_map(|c| &c.delta.as_ref().unwrap().tool_calls)
    {
        let call = &mut calls[delta.index as usize];
        if let Some(id) = &delta.id {
            call.0.push_str(id);
            assert_eq!(delta.r#type.as_deref(), Some("function"));
        }
        if let Some(f) = &delta.function {
            call.1.push_str(f.name.as_deref().unwrap_or_default());
            call.2.push_str(f.arguments.as_deref().unwrap_or_default());
        }
    }
    assert_eq!(
        calls[0],
        (
            "call_a".into(),
            "get_weather".into(),
            "{\"city\": \"Paris\"}".into()
        )
    );
    assert_eq!(
        calls[1],
        (
            "call_b".into(),
            "get_weather".into(),
            "{\"city\": \"Oslo\"}".into()
        )
    );
    assert_eq!(
        chunks[5].choices[0].finish_reason,
        FinishReason::ToolCalls as i32
    );
    assert_eq!(
        chunks[0].system_fingerprint.as_deref(),
        Some("fp_44709d6fcb")
    );

    let last = chunks.last().unwrap();
    assert!(last.choices.is_empty());
    assert_eq!(last.model, "gpt-4o-mini-2024-07-18");
    assert_eq!(
        last.usage,
        Some(Usage {
            prompt_tokens: 82,
            completion_tokens: 36,
            total_tokens: 118,
            cached_prompt_tokens: 64,
            reasoning_tokens: 0,
            estimated: false,
            cache_write_prompt_tokens: 0,
        })
    );
}

#[tokio::test]
async fn stream_with_crlf_comments_and_usage_on_a_choice_chunk() {
    let body = ": ping\r\n\r\ndata: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"hi\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}\r\n\r\ndata: [DONE]\r\n\r\n";
    let upstream = Upstream::start(vec![Reply::Sse {
        bytes: body.as_bytes().to_vec(),
        piece: 1,
    }])
    .await;
    let mut client = upstream.client();
    let (chunks, error) = drain(&mut client, chat(PROVIDER, "m", simple_request())).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0].usage, None, "usage is only sent last");
    assert_eq!(chunks[0].model, "m");
    assert_eq!(
        chunks[1]
            .usage
            .as_ref()
            .map(|u| (u.prompt_tokens, u.total_tokens, u.estimated)),
        Some((5, 6, false))
    );
}

fn api_error(status: &Status) -> ApiError {
    ApiError::from_status(status)
}

#[tokio::test]
async fn upstream_500_is_unavailable_and_retryable() {
    let upstream = Upstream::start(vec![
        Reply::json(
            500,
            r#"{"error":{"message":"internal detail","type":"server_error"}}"#,
        ),
        Reply::json(503, "overloaded"),
    ])
    .await;
    let mut client = upstream.client();
    let status = client
        .chat(chat(PROVIDER, "m", simple_request()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    let err = api_error(&status);
    assert_eq!(
        err.code,
        ErrorCode::UpstreamUnavailable,
        "ErrorInfo reason UPSTREAM_UNAVAILABLE"
    );
    assert_eq!(err.code.reason(), "UPSTREAM_UNAVAILABLE");
    assert!(err.retryable);
    assert_eq!(err.message, "provider `up` returned HTTP 500");

    let Err(status) = client
        .chat_stream(chat(PROVIDER, "m", simple_request()))
        .await
    else {
        panic!("a failed stream start is an error before any chunk");
    };
    assert_eq!(api_error(&status).code, ErrorCode::UpstreamUnavailable);
}

#[tokio::test]
async fn upstream_429_is_rate_limited_with_retry_info() {
    let upstream = Upstream::start(vec![
        Reply::json(429, r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#)
            .with_header("retry-after", "7"),
        Reply::json(429, "{}").with_header("retry-after-ms", "250"),
    ])
    .await;
    let mut client = upstream.client();
    let status = client
        .chat(chat(PROVIDER, "m", simple_request()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    let err = api_error(&status);
    assert_eq!(err.code, ErrorCode::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
    assert!(err.retryable);
    assert_eq!(err.upstream_code.as_deref(), Some("rate_limit_exceeded"));

    let status = client
        .chat_stream(chat(PROVIDER, "m", simple_request()))
        .await
        .err()
        .unwrap();
    assert_eq!(
        api_error(&status).retry_after,
        Some(Duration::from_millis(250))
    );
}

#[tokio::test]
async fn upstream_401_never_echoes_the_key() {
    let upstream = Upstream::start(vec![Reply::json(
        401,
        r#"{"error":{"message":"Incorrect API key provided: sk-test-secret-123.","type":"invalid_request_error","code":"invalid_api_key"}}"#,
    )])
    .await;
    let mut client = upstream.client();
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

#[tokio::test]
async fn upstream_400_and_404_mapping() {
    let upstream = Upstream::start(vec![
        Reply::json(400, r#"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#),
        Reply::json(400, r#"{"error":{"message":"Invalid value for 'temperature'.","type":"invalid_request_error","code":"invalid_value"}}"#),
        Reply::json(404, r#"{"error":{"message":"The model `x` does not exist","code":"model_not_found"}}"#),
    ])
    .await;
    let mut client = upstream.client();
    let status = client
        .chat(chat(PROVIDER, "m", simple_request()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(api_error(&status).code, ErrorCode::ContextLengthExceeded);

    let err = api_error(
        &client
            .chat(chat(PROVIDER, "m", simple_request()))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, ErrorCode::UpstreamRejected);
    assert_eq!(err.message, "Invalid value for 'temperature'.");
    assert_eq!(err.upstream_code.as_deref(), Some("invalid_value"));
    assert!(!err.retryable);

    let err = api_error(
        &client
            .chat(chat(PROVIDER, "x", simple_request()))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    assert_eq!(err.message, "provider `up` does not serve model `x`");
    assert!(!err.retryable);
}

#[tokio::test]
async fn cut_stream_ends_with_an_error() {
    let full = fixture("llama_cpp_stream.sse");
    let cut_at = full.len() / 2;
    let upstream = Upstream::start(vec![
        Reply::sse(&full[..cut_at]),
        Reply::SseReset {
            bytes: full[..cut_at].to_vec(),
        },
    ])
    .await;
    let mut client = upstream.client();
    // The body ends (cleanly at the HTTP level) in the middle of the answer.
    let (chunks, error) = drain(&mut client, chat(PROVIDER, "m", simple_request())).await;
    assert!(!chunks.is_empty(), "chunks before the cut are delivered");
    assert!(
        chunks.iter().all(|c| c.usage.is_none()),
        "no usage chunk on a cut stream"
    );
    let status = error.expect("a cut stream must not look complete");
    assert_eq!(status.code(), Code::Unavailable);
    let err = api_error(&status);
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    assert!(err.retryable);

    // The connection breaks after the first chunks arrived.
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
async fn eof_without_done_names_the_cause() {
    let upstream = Upstream::start(vec![Reply::sse(
        b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
    )])
    .await;
    let mut client = upstream.client();
    let (chunks, error) = drain(&mut client, chat(PROVIDER, "m", simple_request())).await;
    assert_eq!(chunks.len(), 1);
    assert!(
        error
            .unwrap()
            .message()
            .contains("upstream stream ended before completion")
    );
}

#[tokio::test]
async fn malformed_event_and_error_event_end_the_stream() {
    let upstream = Upstream::start(vec![
        Reply::sse(b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {not json\n\ndata: [DONE]\n\n"),
        Reply::sse(b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n"),
        Reply::sse(b"event: error\ndata: {\"error\":{\"message\":\"prompt too long\",\"code\":\"context_length_exceeded\"}}\n\n"),
    ])
    .await;
    let mut client = upstream.client();
    let (chunks, error) = drain(&mut client, chat(PROVIDER, "m", simple_request())).await;
    assert_eq!(chunks.len(), 1);
    let status = error.unwrap();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(
        status.message().contains("malformed event from upstream"),
        "{}",
        status.message()
    );

    let (chunks, error) = drain(&mut client, chat(PROVIDER, "m", simple_request())).await;
    assert_eq!(chunks.len(), 1);
    let err = api_error(&error.unwrap());
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    assert!(err.retryable);

    let (chunks, error) = drain(&mut client, chat(PROVIDER, "m", simple_request())).await;
    assert!(chunks.is_empty());
    assert_eq!(
        api_error(&error.unwrap()).code,
        ErrorCode::ContextLengthExceeded
    );
}

#[tokio::test]
async fn embeddings_float_and_base64() {
    let b64 = {
        use base64::Engine as _;
        let bytes: Vec<u8> = [0.5f32, -0.25]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let upstream = Upstream::start(vec![
        Reply::json(
            200,
            r#"{"object":"list","model":"text-embedding-3-small","data":[{"object":"embedding","index":1,"embedding":[0.0,1.0]},{"object":"embedding","index":0,"embedding":[1.0,0.0]}],"usage":{"prompt_tokens":4,"total_tokens":4}}"#,
        ),
        Reply::json(200, &format!(r#"{{"data":[{{"embedding":"{b64}"}}]}}"#)),
    ])
    .await;
    let mut client = upstream.client();
    let request = EmbedRequest {
        input: vec!["hello".into(), "world".into()],
        dimensions: Some(2),
        ..EmbedRequest::default()
    };
    let answer = client
        .embed(embed(PROVIDER, "text-embedding-3-small", request))
        .await
        .unwrap()
        .into_inner();
    let seen = upstream.recorded();
    assert_eq!(seen[0].path, "/v1/embeddings");
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer sk-test-secret-123")
    );
    assert_eq!(
        seen[0].body,
        json!({"model": "text-embedding-3-small", "input": ["hello", "world"], "dimensions": 2, "encoding_format": "float"})
    );
    assert_eq!(answer.model, "text-embedding-3-small");
    assert_eq!(answer.data.len(), 2);
    assert_eq!(
        (answer.data[0].index, answer.data[0].values.clone()),
        (0, vec![1.0, 0.0])
    );
    assert_eq!(
        (answer.data[1].index, answer.data[1].values.clone()),
        (1, vec![0.0, 1.0])
    );
    let usage = answer.usage.unwrap();
    assert_eq!(
        (usage.prompt_tokens, usage.total_tokens, usage.estimated),
        (4, 4, false)
    );

    let request = EmbedRequest {
        input: vec!["hello world!".into()],
        ..EmbedRequest::default()
    };
    let answer = client
        .embed(embed(PROVIDER, "e", request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.model, "e");
    assert_eq!(answer.data[0].values, vec![0.5, -0.25]);
    let usage = answer.usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.estimated), (3, true));
}

#[tokio::test]
async fn connection_refused_is_retryable_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let provider = switchyard_provider_adapter::OpenAiCompatible::new(
        PROVIDER,
        &format!("http://{addr}/v1"),
        None,
        &switchyard_config::ProviderAdapterConfig::default(),
    )
    .unwrap();
    let adapter = switchyard_provider_adapter::ProviderAdapter::from_providers([(
        PROVIDER.to_string(),
        std::sync::Arc::new(provider)
            as std::sync::Arc<dyn switchyard_provider_adapter::ChatProvider>,
    )]);
    let mut client = client_of(adapter);
    let err = api_error(
        &client
            .chat(chat(PROVIDER, "m", simple_request()))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    assert!(err.retryable);
}

#[tokio::test]
async fn unknown_provider_and_missing_request() {
    let upstream = Upstream::start(vec![]).await;
    let mut client = upstream.client();
    let status = client
        .chat(chat("nope", "m", simple_request()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    let mut req = chat(PROVIDER, "m", simple_request());
    req.request = None;
    let status = client.chat(req).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(upstream.recorded().is_empty());
}

#[tokio::test]
async fn from_config_reads_the_key_from_the_environment() {
    let upstream = Upstream::start(vec![Reply::json(
        200,
        std::str::from_utf8(&fixture("llama_cpp_chat.json")).unwrap(),
    )])
    .await;
    // Cargo sets CARGO_PKG_NAME for test processes: a variable we can rely on
    // without mutating the environment.
    let toml = format!(
        "version = 1\n[[providers]]\nname = \"up\"\nkind = \"openai-compatible\"\nbase_url = \"{}\"\napi_key_env = \"CARGO_PKG_NAME\"\n",
        upstream.base_url()
    );
    let config = switchyard_config::load_str(&toml).unwrap();
    let adapter = switchyard_provider_adapter::ProviderAdapter::from_config(&config).unwrap();
    let mut client = client_of(adapter);
    client
        .chat(chat(PROVIDER, "m", simple_request()))
        .await
        .unwrap();
    assert_eq!(
        upstream.recorded()[0].authorization.as_deref(),
        Some("Bearer switchyard-provider-adapter")
    );

    let toml = toml.replace("CARGO_PKG_NAME", "SWITCHYARD_TEST_UNSET_PROVIDER_KEY_VAR");
    let config = switchyard_config::load_str(&toml).unwrap();
    let err = switchyard_provider_adapter::ProviderAdapter::from_config(&config).unwrap_err();
    assert!(
        err.to_string().contains("providers[0].api_key_env"),
        "{err}"
    );
}

#[tokio::test]
async fn stream_request_answered_with_json_is_replayed_as_chunks() {
    let upstream = Upstream::start(vec![
        Reply::json(
            200,
            std::str::from_utf8(&fixture("llama_cpp_chat.json")).unwrap(),
        ),
        Reply::json(
            200,
            r#"{"error":{"message":"model is loading","type":"server_error"}}"#,
        ),
    ])
    .await;
    let mut client = upstream.client();
    let (chunks, error) = drain(&mut client, chat(PROVIDER, "gemma", simple_request())).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(chunks.len(), 2);
    assert_eq!(
        streamed_text(&chunks),
        "Name three colors. Answer in one short"
    );
    assert_eq!(
        chunks[0].choices[0].finish_reason,
        FinishReason::Length as i32
    );
    let usage = chunks[1].usage.as_ref().unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.estimated
        ),
        (19, 8, false)
    );
    assert!(chunks[1].choices.is_empty());

    let status = client
        .chat_stream(chat(PROVIDER, "gemma", simple_request()))
        .await
        .err()
        .unwrap();
    let err = api_error(&status);
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    assert!(err.retryable);
}

#[tokio::test]
async fn token_counts_are_estimated_locally_without_an_upstream_call() {
    // OpenAI-compatible servers have no counting endpoint for chat input.
    let upstream = Upstream::start(vec![]).await;
    let mut client = upstream.client();
    let count = client
        .count_tokens(chat(PROVIDER, "gpt-4o", simple_request()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(count.input_tokens, expected_estimate(0).prompt_tokens);
    assert!(count.estimated);
    assert!(upstream.recorded().is_empty());
}
