//! What the router receives besides the message: the caller's key and the request id.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::{Edge, chat_body};

fn metadata(call: &common::Call, key: &str) -> Option<String> {
    call.metadata
        .get(key)
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn bearer_key_is_forwarded() {
    let edge = Edge::start().await;
    let response = edge
        .http
        .post(edge.url("/v1/chat/completions"))
        .header("Authorization", "Bearer sk-live-1")
        .json(&chat_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        metadata(&edge.fake.last(), "authorization").as_deref(),
        Some("Bearer sk-live-1")
    );
}

#[tokio::test]
async fn x_api_key_is_forwarded_as_bearer() {
    let edge = Edge::start().await;
    let response = edge
        .http
        .get(edge.url("/v1/models"))
        .header("x-api-key", "sk-ant-2")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        metadata(&edge.fake.last(), "authorization").as_deref(),
        Some("Bearer sk-ant-2")
    );
}

#[tokio::test]
async fn missing_key_is_left_for_the_router() {
    let edge = Edge::start().await;
    let response = edge
        .http
        .post(edge.url("/v1/chat/completions"))
        .json(&chat_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the edge does not judge keys");
    assert_eq!(metadata(&edge.fake.last(), "authorization"), None);
}

#[tokio::test]
async fn caller_request_id_is_echoed_and_forwarded() {
    let edge = Edge::start().await;
    let response = edge
        .post("/v1/chat/completions")
        .header("x-request-id", "req-abc.1:2_x")
        .json(&chat_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-abc.1:2_x");
    assert_eq!(
        metadata(&edge.fake.last(), "x-request-id").as_deref(),
        Some("req-abc.1:2_x")
    );
}

#[tokio::test]
async fn unacceptable_request_id_is_replaced() {
    let edge = Edge::start().await;
    for bad in ["has space", &"x".repeat(129)] {
        let response = edge
            .post("/v1/chat/completions")
            .header("x-request-id", bad)
            .json(&chat_body())
            .send()
            .await
            .unwrap();
        let echoed = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        assert_ne!(echoed, bad);
        assert_eq!(echoed.len(), 36, "a UUID");
        assert_eq!(metadata(&edge.fake.last(), "x-request-id"), Some(echoed));
    }
}

#[tokio::test]
async fn generated_request_id_is_on_errors_and_streams_too() {
    let edge = Edge::start().await;
    let response = edge.get("/v1/nope").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"].len(), 36);

    let mut body = chat_body();
    body["stream"] = serde_json::json!(true);
    let response = edge
        .post("/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap();
    let echoed = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let _ = response.text().await.unwrap();
    assert_eq!(metadata(&edge.fake.last(), "x-request-id"), Some(echoed));
}

#[tokio::test]
async fn cors_preflight_is_answered() {
    let edge = Edge::start().await;
    let response = edge
        .http
        .request(reqwest::Method::OPTIONS, edge.url("/v1/chat/completions"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(response.headers().contains_key("x-request-id"));
    // Every origin, method and header is allowed: nothing to vary by.
    assert!(!response.headers().contains_key("vary"));
    assert!(edge.fake.calls().is_empty());
}

#[tokio::test]
async fn cross_origin_answers_allow_any_origin_and_expose_the_gateway_headers() {
    let edge = Edge::start().await;
    // Refused by the edge itself (malformed JSON): the CORS layer still marks the
    // answer, so a browser can read the error.
    let response = edge
        .http
        .post(edge.url("/v1/chat/completions"))
        .header("origin", "https://app.example")
        .header("authorization", "Bearer sk-test")
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let exposed = headers["access-control-expose-headers"].to_str().unwrap();
    assert!(exposed.contains("x-request-id"), "{exposed}");
    assert!(exposed.contains("x-switchyard-cost-micros"), "{exposed}");
    assert!(!headers.contains_key("vary"));
    assert!(edge.fake.calls().is_empty());
}
