//! Stored Responses API answers through the whole gateway, both shapes, with
//! metering's real `ResponseStore`: an answer read back as it was given, continued
//! by `previous_response_id` (streamed), kept from other tenants, and deleted.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use serde_json::{Value, json};
use switchyard_tests::{Mesh, Shape, Upstream, both_shapes};

both_shapes!(responses_are_stored_continued_and_deleted);

/// Status, request id and body of one call.
async fn call(request: reqwest::RequestBuilder, key: Option<&str>) -> (u16, String, String) {
    let request = match key {
        Some(key) => request.bearer_auth(key),
        None => request,
    };
    let resp = request.send().await.unwrap();
    let status = resp.status().as_u16();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    (status, id, resp.text().await.unwrap())
}

async fn responses_are_stored_continued_and_deleted(shape: Shape) {
    let upstream = Upstream::start().await;
    let mesh = Mesh::start(shape, &upstream.base_url()).await;
    let (key, _) = mesh.create_key("acme", &[]).await;
    let (other, _) = mesh.create_key("globex", &[]).await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", mesh.base_url());

    let (status, _, text) = call(
        http.post(url("/v1/responses"))
            .json(&json!({"model": "chat-model", "input": "first", "instructions": "be brief"})),
        Some(&key),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let first: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(first["store"], true);
    let id = first["id"].as_str().unwrap().to_string();
    let (status, _, text) = call(http.get(url(&format!("/v1/responses/{id}"))), Some(&key)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), first);

    // Continued, streamed: the upstream sees the first turn (without its
    // instructions), the answer, then the new input.
    let (status, second_request, text) = call(
        http.post(url("/v1/responses"))
            .json(&json!({"model": "chat-model", "input": "second",
            "previous_response_id": id, "stream": true})),
        Some(&key),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("event: response.completed"), "{text}");
    let sent = &upstream.requests()[1].body;
    assert_eq!(
        sent["messages"],
        json!([{"role": "user", "content": "first"},
               {"role": "assistant", "content": "echo: first"},
               {"role": "user", "content": "second"}])
    );
    // Both calls billed, once each.
    mesh.wait_usage(&second_request).await;
    assert_eq!(mesh.tenant_usage("acme").await.len(), 2);

    // Another tenant's key and no key never see it.
    let (status, _, _) = call(http.get(url(&format!("/v1/responses/{id}"))), Some(&other)).await;
    assert_eq!(status, 404);
    let (status, _, text) = call(
        http.post(url("/v1/responses"))
            .json(&json!({"model": "chat-model", "input": "x",
            "previous_response_id": id})),
        Some(&other),
    )
    .await;
    assert_eq!(status, 400, "{text}");
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["error"]["param"], "previous_response_id");
    let (status, _, _) = call(http.get(url(&format!("/v1/responses/{id}"))), None).await;
    assert_eq!(status, 401);

    let (status, _, text) =
        call(http.delete(url(&format!("/v1/responses/{id}"))), Some(&key)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["deleted"],
        true
    );
    let (status, _, _) = call(http.get(url(&format!("/v1/responses/{id}"))), Some(&key)).await;
    assert_eq!(status, 404);

    // `store: false` keeps nothing.
    let (status, request_id, text) = call(
        http.post(url("/v1/responses"))
            .json(&json!({"model": "chat-model", "input": "x", "store": false})),
        Some(&key),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let (status, _, _) = call(
        http.get(url(&format!("/v1/responses/resp_{request_id}"))),
        Some(&key),
    )
    .await;
    assert_eq!(status, 404);
    mesh.shutdown().await;
}
