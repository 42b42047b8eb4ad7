//! Streamed chat: SSE framing, the usage chunk, `[DONE]`, errors before and after the
//! headers, and cancelling the gRPC stream when the client goes away.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::time::Duration;

use common::{Edge, StreamScript, content_chunk, expect_error, sse_events, usage_chunk};
use serde_json::{Value, json};
use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::types::v1 as pb;
use tokio::sync::mpsc;

fn stream_body(include_usage: Option<bool>) -> Value {
    let mut body = common::chat_body();
    body["stream"] = json!(true);
    if let Some(include) = include_usage {
        body["stream_options"] = json!({"include_usage": include});
    }
    body
}

async fn events(response: reqwest::Response) -> Vec<String> {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert!(response.headers().contains_key("x-request-id"));
    sse_events(&response.text().await.unwrap())
}

#[tokio::test]
async fn stream_frames_chunks_then_done_without_usage() {
    let edge = Edge::start().await;
    let response = edge
        .post("/v1/chat/completions")
        .header("accept", "application/json")
        .json(&stream_body(None))
        .send()
        .await
        .unwrap();
    let events = events(response).await;
    assert_eq!(events.len(), 5, "{events:?}");
    assert_eq!(events[4], "[DONE]");
    let chunks: Vec<Value> = events[..4]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(
        chunks[0],
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
               "model": "gpt-test",
               "choices": [{"index": 0, "delta": {"role": "assistant"}, "logprobs": null,
                            "finish_reason": null}]})
    );
    assert_eq!(chunks[1]["choices"][0]["delta"], json!({"content": "hel"}));
    assert_eq!(chunks[2]["choices"][0]["delta"], json!({"content": "lo"}));
    assert_eq!(chunks[3]["choices"][0]["delta"], json!({}));
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
    for chunk in &chunks {
        assert!(chunk.get("usage").is_none(), "{chunk}");
    }
    let call = edge.fake.last();
    assert_eq!(call.method, "ChatStream");
    assert!(!call.chat.unwrap().include_usage);
}

#[tokio::test]
async fn stream_with_include_usage_ends_with_usage_chunk() {
    let edge = Edge::start().await;
    let response = edge
        .post("/v1/chat/completions")
        .json(&stream_body(Some(true)))
        .send()
        .await
        .unwrap();
    let events = events(response).await;
    assert_eq!(events.len(), 6, "{events:?}");
    assert_eq!(events[5], "[DONE]");
    for e in &events[..4] {
        let chunk: Value = serde_json::from_str(e).unwrap();
        assert_eq!(chunk["usage"], Value::Null);
        assert!(chunk.get("usage").is_some());
    }
    let last: Value = serde_json::from_str(&events[4]).unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["object"], "chat.completion.chunk");
    assert_eq!(
        last["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5,
               "prompt_tokens_details": {"cached_tokens": 1},
               "completion_tokens_details": {"reasoning_tokens": 0}})
    );
    assert!(edge.fake.last().chat.unwrap().include_usage);
}

#[tokio::test]
async fn tool_call_deltas_are_framed() {
    let edge = Edge::start().await;
    let chunk = pb::ChatChunk {
        id: "c".into(),
        created: 1,
        model: "m".into(),
        choices: vec![pb::ChunkChoice {
            index: 0,
            delta: Some(pb::Delta {
                role: pb::Role::Assistant.into(),
                content: None,
                tool_calls: vec![pb::ToolCallDelta {
                    index: 0,
                    id: Some("call_1".into()),
                    r#type: Some("function".into()),
                    function: Some(pb::FunctionCallDelta {
                        name: Some("f".into()),
                        arguments: Some("{\"a\"".into()),
                    }),
                }],
                refusal: None,
                reasoning: vec![],
            }),
            finish_reason: pb::FinishReason::ToolCalls.into(),
            logprobs: None,
        }],
        usage: None,
        system_fingerprint: Some("fp".into()),
    };
    edge.fake
        .answer_stream(StreamScript::Items(vec![Ok(chunk)]));
    let response = edge
        .post("/v1/chat/completions")
        .json(&stream_body(Some(false)))
        .send()
        .await
        .unwrap();
    let events = events(response).await;
    assert_eq!(events.len(), 2);
    let chunk: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(chunk["system_fingerprint"], "fp");
    assert_eq!(
        chunk["choices"][0],
        json!({"index": 0, "logprobs": null, "finish_reason": "tool_calls",
               "delta": {"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1",
                         "type": "function", "function": {"name": "f", "arguments": "{\"a\""}}]}})
    );
}

#[tokio::test]
async fn error_mid_stream_is_an_error_event_without_done() {
    let edge = Edge::start().await;
    let failure = ApiError::new(ErrorCode::UpstreamUnavailable, "upstream died").to_status();
    edge.fake.answer_stream(StreamScript::Items(vec![
        Ok(content_chunk(
            Some(pb::Role::Assistant),
            "a",
            pb::FinishReason::Unspecified,
        )),
        Err(failure),
    ]));
    let response = edge
        .post("/v1/chat/completions")
        .json(&stream_body(Some(true)))
        .send()
        .await
        .unwrap();
    let events = events(response).await;
    assert_eq!(events.len(), 2, "{events:?}");
    let error: Value = serde_json::from_str(&events[1]).unwrap();
    assert_eq!(
        error,
        json!({"error": {"message": "upstream died", "type": "api_error", "param": null,
                         "code": "upstream_error"}})
    );
    assert!(!events.iter().any(|e| e == "[DONE]"));
}

#[tokio::test]
async fn failed_stream_call_is_an_http_error() {
    let edge = Edge::start().await;
    let limited = ApiError::new(ErrorCode::RateLimited, "slow down")
        .with_retry_after(Duration::from_millis(2500))
        .to_status();
    edge.fake.answer_stream(StreamScript::Fail(limited));
    let response = edge
        .post("/v1/chat/completions")
        .json(&stream_body(None))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["retry-after"], "3");
    let error = expect_error(response, 429, "rate_limit_error").await;
    assert_eq!(error["code"], "rate_limit_exceeded");
}

#[tokio::test]
async fn error_as_first_message_is_an_http_error() {
    let edge = Edge::start().await;
    let denied = ApiError::new(ErrorCode::Unauthenticated, "bad key").to_status();
    edge.fake
        .answer_stream(StreamScript::Items(vec![Err(denied)]));
    let response = edge
        .post("/v1/chat/completions")
        .json(&stream_body(None))
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 401, "authentication_error").await;
    assert_eq!(error["code"], "invalid_api_key");
    assert_eq!(error["message"], "bad key");
}

#[tokio::test]
async fn client_disconnect_cancels_the_grpc_stream() {
    let edge = Edge::start().await;
    let (tx, rx) = mpsc::channel(1);
    edge.fake.answer_stream(StreamScript::Channel(rx));
    tx.send(Ok(content_chunk(
        Some(pb::Role::Assistant),
        "first",
        pb::FinishReason::Unspecified,
    )))
    .await
    .unwrap();
    let mut response = edge
        .post("/v1/chat/completions")
        .json(&stream_body(None))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("first"));
    drop(response);
    // Keep producing until the edge drops the stream: the client socket is gone, so a
    // write fails and the body (with the gRPC stream) is dropped. No timing involved.
    loop {
        let chunk = content_chunk(None, "more", pb::FinishReason::Unspecified);
        tokio::select! {
            _ = tx.closed() => break,
            sent = tx.send(Ok(chunk)) => if sent.is_err() { break },
        }
    }
    assert!(tx.is_closed());
}

#[tokio::test]
async fn usage_chunk_is_dropped_when_not_asked() {
    let edge = Edge::start().await;
    edge.fake.answer_stream(StreamScript::Items(vec![
        Ok(content_chunk(None, "x", pb::FinishReason::Stop)),
        Ok(usage_chunk()),
    ]));
    let response = edge
        .post("/v1/chat/completions")
        .json(&stream_body(Some(false)))
        .send()
        .await
        .unwrap();
    let events = events(response).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1], "[DONE]");
}

#[tokio::test]
async fn shutdown_drains_an_in_flight_stream() {
    let mut edge = Edge::start().await;
    let (tx, rx) = mpsc::channel(4);
    edge.fake.answer_stream(StreamScript::Channel(rx));
    tx.send(Ok(content_chunk(
        Some(pb::Role::Assistant),
        "before",
        pb::FinishReason::Unspecified,
    )))
    .await
    .unwrap();
    let mut response = edge
        .post("/v1/chat/completions")
        .json(&stream_body(None))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("before"));

    edge.begin_shutdown();
    tx.send(Ok(content_chunk(None, "after", pb::FinishReason::Stop)))
        .await
        .unwrap();
    drop(tx);
    let rest = response.text().await.unwrap();
    let events = sse_events(&rest);
    assert!(events[0].contains("after"), "{events:?}");
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    edge.stopped().await;
}
