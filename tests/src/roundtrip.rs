//! What the provider round-trip tests share: serving an emulated provider,
//! posting through the gateway's edge, and reading OpenAI's answers back.

use std::net::SocketAddr;

use serde_json::Value;

/// Serves `app` (an emulated provider) on 127.0.0.1:0 until the runtime ends.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Posts an OpenAI chat completion to the edge at `base_url` with `key`; returns
/// the status, the request id and the body.
pub async fn post_chat(
    http: &reqwest::Client,
    base_url: &str,
    key: &str,
    body: &Value,
) -> (u16, String, String) {
    let resp = http
        .post(format!("{base_url}/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    (status, request_id, resp.text().await.unwrap())
}

/// A JSON object without the fields that vary per run (`id`, `created`).
pub fn without_ids(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("id");
        o.remove("created");
    }
    v
}

/// The chunks of an OpenAI event stream, after checking it ends with `[DONE]`.
pub fn stream_chunks(text: &str) -> Vec<Value> {
    let events: Vec<&str> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"), "{text}");
    events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect()
}
