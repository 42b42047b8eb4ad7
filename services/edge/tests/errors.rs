//! Error answers: bad bodies, limits, routes, every error code, and an unreachable
//! router — always an OpenAI error body, never plain text.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::time::Duration;

use bytes::Bytes;
use common::{Edge, chat_body, expect_error};
use serde_json::{Value, json};
use switchyard_config::EdgeConfig;
use switchyard_error::{ApiError, ErrorCode};
use tokio_util::sync::CancellationToken;

async fn post_raw(edge: &Edge, body: &'static str) -> reqwest::Response {
    edge.post("/v1/chat/completions")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn malformed_json_is_400() {
    let edge = Edge::start().await;
    for body in ["{\"model\": ", "not json", "", "{} trailing"] {
        let response = post_raw(&edge, body).await;
        let error = expect_error(response, 400, "invalid_request_error").await;
        assert_eq!(error["param"], Value::Null, "{body}");
        assert_eq!(error["code"], Value::Null);
    }
    assert!(edge.fake.calls().is_empty());
}

#[tokio::test]
async fn wrong_types_name_the_json_path() {
    let edge = Edge::start().await;
    let cases = [
        (
            json!({"model": "m", "messages": [{"role": "user", "content": 5}]}),
            "messages[0].content",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}),
            "temperature",
        ),
        (json!({"model": 7, "messages": []}), "model"),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": 3}}]}]}),
            "messages[0].content[0].image_url.url",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}),
            "max_tokens",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": [1]}),
            "stop[0]",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {"name": "f", "parameters": "no"}}]}),
            "tools[0].function.parameters",
        ),
        (json!({"model": "m", "messages": "hi"}), "messages"),
    ];
    for (body, param) in cases {
        let response = edge
            .post("/v1/chat/completions")
            .json(&body)
            .send()
            .await
            .unwrap();
        let error = expect_error(response, 400, "invalid_request_error").await;
        assert_eq!(error["param"], param, "{body}");
    }
    assert!(edge.fake.calls().is_empty());
}

#[tokio::test]
async fn missing_model_and_empty_messages_name_the_param() {
    let edge = Edge::start().await;
    let cases = [
        (
            json!({"messages": [{"role": "user", "content": "x"}]}),
            "model",
        ),
        (json!({"model": "m", "messages": []}), "messages"),
        (json!({"model": "m"}), "messages"),
        (
            json!({"model": "m", "messages": [{"content": "x"}]}),
            "messages[0].role",
        ),
        (
            json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
            "messages[0].tool_call_id",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "response_format": {"type": "yaml"}}),
            "response_format.type",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "tool_choice": "sometimes"}),
            "tool_choice",
        ),
    ];
    for (body, param) in cases {
        let response = edge
            .post("/v1/chat/completions")
            .json(&body)
            .send()
            .await
            .unwrap();
        let error = expect_error(response, 400, "invalid_request_error").await;
        assert_eq!(error["param"], param, "{body}");
    }
    let response = edge
        .post("/v1/embeddings")
        .json(&json!({"model": "e"}))
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 400, "invalid_request_error").await;
    assert_eq!(error["param"], "input");
}

#[tokio::test]
async fn oversized_body_is_413_json() {
    let edge = Edge::start_with(EdgeConfig {
        max_body_bytes: 1024,
        ..EdgeConfig::default()
    })
    .await;
    let mut body = chat_body();
    body["messages"][1]["content"] = json!("x".repeat(2048));
    let response = edge
        .post("/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 413, "invalid_request_error").await;
    assert_eq!(error["code"], "request_too_large");

    // Without content-length (chunked): the limit holds while reading.
    let bytes = Bytes::from(serde_json::to_vec(&body).unwrap());
    let chunks: Vec<Result<Bytes, std::io::Error>> = bytes
        .chunks(100)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let response = edge
        .post("/v1/chat/completions")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 413, "invalid_request_error").await;
    assert_eq!(error["code"], "request_too_large");
    assert!(edge.fake.calls().is_empty());
}

#[tokio::test]
async fn unknown_route_and_wrong_method_are_json() {
    let edge = Edge::start().await;
    let response = edge.get("/v1/nope").send().await.unwrap();
    let error = expect_error(response, 404, "invalid_request_error").await;
    assert_eq!(error["code"], "not_found");
    let response = edge.post("/v2/chat/completions").send().await.unwrap();
    expect_error(response, 404, "invalid_request_error").await;
    let response = edge.get("/v1/chat/completions").send().await.unwrap();
    expect_error(response, 405, "invalid_request_error").await;
    let response = edge.post("/v1/models").send().await.unwrap();
    expect_error(response, 405, "invalid_request_error").await;
}

#[tokio::test]
async fn every_error_code_maps_to_its_status_type_and_code() {
    let edge = Edge::start().await;
    for code in ErrorCode::ALL {
        let err = ApiError::new(code, format!("{code:?} happened"))
            .with_retry_after(Duration::from_millis(1200));
        edge.fake.answer_chat(Err(err.to_status()));
        let response = edge
            .post("/v1/chat/completions")
            .json(&chat_body())
            .send()
            .await
            .unwrap();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let should_retry = response
            .headers()
            .get("x-should-retry")
            .map(|v| v.to_str().unwrap().to_string());
        let error = expect_error(response, code.http_status(), code.openai_type()).await;
        assert_eq!(
            error["code"],
            code.openai_code().map_or(Value::Null, Value::from),
            "{code:?}"
        );
        // `Retry-After` answers a 429's wait and an overloaded (503) gateway's.
        if matches!(code.http_status(), 429 | 503) {
            assert_eq!(retry_after.as_deref(), Some("2"), "{code:?}");
        } else {
            assert_eq!(retry_after, None, "{code:?}");
        }
        let retryable_status = code.http_status() == 429 || code.http_status() >= 500;
        let expect_no_retry = retryable_status && !code.default_retryable();
        assert_eq!(
            should_retry.as_deref() == Some("false"),
            expect_no_retry,
            "{code:?}"
        );
        if code != ErrorCode::Internal {
            assert_eq!(error["message"], format!("{code:?} happened"));
        }
    }
}

#[tokio::test]
async fn upstream_code_and_param_pass_through() {
    let edge = Edge::start().await;
    let err = ApiError::new(ErrorCode::UpstreamRejected, "bad tool schema")
        .with_upstream_code("invalid_tool_schema")
        .with_param("tools[0]");
    edge.fake.answer_chat(Err(err.to_status()));
    let response = edge
        .post("/v1/chat/completions")
        .json(&chat_body())
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 400, "invalid_request_error").await;
    assert_eq!(error["code"], "invalid_tool_schema");
    assert_eq!(error["param"], "tools[0]");
}

#[tokio::test]
async fn unreachable_router_is_503() {
    // A port that was just free: nothing listens there.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let router_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let config = switchyard_config::load_str(&format!(
        "version = 1\n[edge]\nrouter_url = \"{router_url}\"\n"
    ))
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let server =
        tokio::spawn(async move { switchyard_edge::serve(listener, &config, token).await });

    let http = common::client();
    let response = http
        .post(format!("{base}/v1/chat/completions"))
        .json(&chat_body())
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 503, "api_error").await;
    assert_eq!(error["code"], "service_unavailable");

    shutdown.cancel();
    server.await.unwrap().unwrap();
}
