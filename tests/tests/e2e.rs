//! End-to-end: the real services, both shapes, over real HTTP and gRPC, against an
//! emulated OpenAI-compatible upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use serde_json::{Value, json};
use switchyard_proto::gateway::v1::ListModelsRequest;
use switchyard_proto::gateway::v1::gateway_client::GatewayClient;
use switchyard_proto::metering::v1::Outcome;
use switchyard_proto::types::v1::content_part::Part;
use switchyard_tests::{
    Mesh, REVOCATION_BOUND, Shape, Upstream, both_shapes, text_chat, with_key, within,
};
use tonic_types::StatusExt;

struct Env {
    upstream: Upstream,
    mesh: Mesh,
    key: String,
    key_id: String,
    tenant: String,
    http: reqwest::Client,
}

async fn env(shape: Shape, tenant: &str) -> Env {
    let upstream = Upstream::start().await;
    let mesh = Mesh::start(shape, &upstream.base_url()).await;
    let (key, key_id) = mesh.create_key(tenant, &[]).await;
    Env {
        upstream,
        mesh,
        key,
        key_id,
        tenant: tenant.into(),
        http: reqwest::Client::new(),
    }
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    fn request_id(&self) -> String {
        self.headers["x-request-id"].to_str().unwrap().to_string()
    }
    /// The `data:` payloads of an SSE body.
    fn events(&self) -> Vec<String> {
        self.text
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .map(str::to_string)
            .collect()
    }
    /// The chunks of a complete SSE body: every event before the final `[DONE]`.
    fn chunks(&self) -> Vec<Value> {
        let events = self.events();
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
        events[..events.len() - 1]
            .iter()
            .map(|e| serde_json::from_str(e).unwrap())
            .collect()
    }
    /// The content the chunks stream, concatenated.
    fn streamed_text(chunks: &[Value]) -> String {
        chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect()
    }
}

impl Env {
    async fn post(&self, path: &str, key: Option<&str>, body: impl Into<reqwest::Body>) -> Reply {
        let mut req = self
            .http
            .post(format!("{}{path}", self.mesh.base_url()))
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.unwrap();
        Reply {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            text: resp.text().await.unwrap(),
        }
    }

    async fn chat(&self, body: Value) -> Reply {
        self.post("/v1/chat/completions", Some(&self.key), body.to_string())
            .await
    }
}

fn chat_body(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": text}
    ]})
}

fn assert_openai_error(reply: &Reply, status: u16, kind: &str, code: Option<&str>) {
    assert_eq!(reply.status, status, "{}", reply.text);
    let body = reply.json();
    let err = &body["error"];
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(err["type"], kind, "{body}");
    if let Some(code) = code {
        assert_eq!(err["code"], code, "{body}");
    }
    assert!(reply.headers.contains_key("x-request-id"));
}

both_shapes!(
    chat_non_stream_bills_exactly_once,
    chat_stream_with_usage,
    chat_stream_without_include_usage_still_bills,
    models_list,
    bad_keys_are_401,
    unknown_model_is_404,
    disallowed_model_is_403,
    malformed_and_mistyped_bodies_are_400,
    oversized_body_is_413,
    upstream_500_is_502_and_recorded,
    upstream_429_is_429_with_retry_after,
    cut_stream_ends_with_error_event,
    revoked_key_is_refused,
    grpc_gateway_unary_and_stream,
    embeddings_float_and_base64,
    caller_request_id_is_the_ledger_key,
    mock_provider_answers,
    mock_provider_answers_n_choices_and_bills_them_all,
    grpc_count_tokens_counts_where_the_model_routes,
    a_model_serves_only_its_mode,
    client_disconnect_unary_is_billed_as_cancelled,
    client_disconnect_mid_stream_is_billed_as_cancelled,
    client_disconnect_before_the_first_chunk_is_billed_as_cancelled,
    stream_and_unary_bill_the_same,
    admin_http_tenants_keys_audit_and_scoped_usage,
    labels_attribute_spend_over_caller_tags,
    large_messages_cross_every_hop_intact,
    responses_api_round_trip_bills_each_call,
    logprobs_reach_every_api,
    files_reach_the_upstream_from_every_api,
);

/// A key's and its tenant's labels go into every record's metadata, over the
/// caller's own tags of the same name (the key's over the tenant's), so spend
/// by label is the operator's attribution, whatever a caller sends.
async fn labels_attribute_spend_over_caller_tags(shape: Shape) {
    let env = env(shape, "acme").await;
    let admin = format!("Bearer {}", switchyard_tests::ADMIN_TOKEN);
    let url = |path: &str| format!("{}{path}", env.mesh.base_url());
    let created = env
        .http
        .post(url("/admin/v1/tenants"))
        .header("authorization", &admin)
        .json(&json!({"name": "initech", "labels": {"cost_center": "cc-7", "team": "core"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let key: Value = env
        .http
        .post(url("/admin/v1/keys"))
        .header("authorization", &admin)
        .json(&json!({"tenant": "initech", "labels": {"team": "search"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = key["secret"].as_str().unwrap().to_string();
    let reply = env
        .http
        .post(url("/v1/chat/completions"))
        .bearer_auth(&secret)
        .header("x-switchyard-tags", "team=spoofed,env=prod")
        .json(&chat_body("chat-model", "hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let record = env
        .mesh
        .wait_usage(reply.headers()["x-request-id"].to_str().unwrap())
        .await;
    let metadata: std::collections::BTreeMap<&str, &str> = record
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        metadata,
        [("cost_center", "cc-7"), ("env", "prod"), ("team", "search")].into()
    );
    let summary: Value = env
        .http
        .get(url(
            "/admin/v1/usage/summary?group_by=metadata.team&tenant=initech",
        ))
        .header("authorization", &admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(summary["buckets"][0]["group"], "search", "{summary}");
    assert_eq!(summary["buckets"].as_array().unwrap().len(), 1, "{summary}");
    env.mesh.shutdown().await;
}

async fn chat_non_stream_bills_exactly_once(shape: Shape) {
    let env = env(shape, "acme").await;
    let reply = env.chat(chat_body("chat-model", "hello there")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "echo: hello there"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let usage = &body["usage"];
    let (prompt, completion) = (
        usage["prompt_tokens"].as_u64().unwrap(),
        usage["completion_tokens"].as_u64().unwrap(),
    );
    assert!(prompt > 0 && completion > 0);

    // The upstream saw the translated request.
    let sent = &env.upstream.requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.body["model"], "gpt-test");
    assert_eq!(
        sent.body["messages"][1],
        json!({"role": "user", "content": "hello there"})
    );

    let record = env.mesh.wait_usage(&reply.request_id()).await;
    assert_eq!(record.tenant, "acme");
    assert_eq!(record.key_id, env.key_id);
    assert_eq!(record.requested_model, "chat-model");
    assert_eq!(record.provider, "upstream");
    assert_eq!(record.upstream_model, "gpt-test");
    assert_eq!(
        (record.prompt_tokens, record.completion_tokens),
        (prompt, completion)
    );
    assert!(!record.usage_estimated);
    assert!(!record.stream);
    assert_eq!(record.outcome, Outcome::Ok as i32);
    assert!(record.latency_us > 0);
    // $0.15 / $0.60 per million tokens, rounded half up once.
    let expected = (prompt * 150_000 + completion * 600_000 + 500_000) / 1_000_000;
    assert_eq!(record.cost_micros, expected as i64);
    assert!(record.price_version.starts_with("2026-") && record.price_version.contains("+dep-"));

    // A second request: exactly two records for the tenant, no duplicates.
    let second = env.chat(chat_body("chat-model", "again")).await;
    env.mesh.wait_usage(&second.request_id()).await;
    let records = env.mesh.tenant_usage(&env.tenant).await;
    assert_eq!(records.len(), 2);
    env.mesh.shutdown().await;
}

/// Messages far larger than the codec's starting buffer (1 KiB) and its yield
/// threshold (32 KiB) cross every gRPC hop both ways, unary and streaming (the
/// body stays under the test mesh's 64 KiB `edge.max_body_bytes`).
async fn large_messages_cross_every_hop_intact(shape: Shape) {
    let env = env(shape, "acme").await;
    let prompt: String = (0..60_000u32)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let reply = env.chat(chat_body("chat-model", &prompt)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let content = reply.json()["choices"][0]["message"]["content"]
        .as_str()
        .map(str::to_string);
    assert_eq!(content, Some(format!("echo: {prompt}")));

    let mut body = chat_body("chat-model", &prompt);
    body["stream"] = json!(true);
    let reply = env.chat(body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        Reply::streamed_text(&reply.chunks()),
        format!("echo: {prompt}")
    );
    env.mesh.shutdown().await;
}

async fn chat_stream_with_usage(shape: Shape) {
    let env = env(shape, "acme").await;
    let mut body = chat_body("chat-model", "stream me please");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let reply = env.chat(body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let chunks = reply.chunks();
    assert_eq!(Reply::streamed_text(&chunks), "echo: stream me please");
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
    }
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    let completion = last["usage"]["completion_tokens"].as_u64().unwrap();
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop")
    );

    let record = env.mesh.wait_usage(&reply.request_id()).await;
    assert!(record.stream);
    assert_eq!(record.completion_tokens, completion);
    assert!(!record.usage_estimated);
    assert_eq!(record.outcome, Outcome::Ok as i32);
    assert!(record.time_to_first_token_us > 0);
    env.mesh.shutdown().await;
}

async fn chat_stream_without_include_usage_still_bills(shape: Shape) {
    let env = env(shape, "acme").await;
    let mut body = chat_body("chat-model", "count me");
    body["stream"] = json!(true);
    let reply = env.chat(body).await;
    assert_eq!(reply.status, 200);
    let events = reply.events();
    assert_eq!(events.last().unwrap(), "[DONE]");
    // The client did not ask for usage, so no usage chunk...
    assert!(!reply.text.contains("\"prompt_tokens\""));
    // ...but the gateway asked the upstream, and billed from it.
    assert_eq!(
        env.upstream.requests()[0].body["stream_options"]["include_usage"],
        true
    );
    let record = env.mesh.wait_usage(&reply.request_id()).await;
    assert!(record.completion_tokens > 0 && !record.usage_estimated);

    // An upstream that never reports usage: billed from an estimate, marked so.
    let mut body = chat_body("no-usage", "count me too");
    body["stream"] = json!(true);
    let reply = env.chat(body).await;
    assert_eq!(reply.status, 200);
    let record = env.mesh.wait_usage(&reply.request_id()).await;
    assert!(record.usage_estimated);
    assert!(record.completion_tokens > 0 && record.prompt_tokens > 0);
    env.mesh.shutdown().await;
}

async fn models_list(shape: Shape) {
    let env = env(shape, "acme").await;
    let resp = env
        .http
        .get(format!("{}/v1/models", env.mesh.base_url()))
        .bearer_auth(&env.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"chat-model") && ids.contains(&"mock-model"),
        "{ids:?}"
    );
    for m in body["data"].as_array().unwrap() {
        assert_eq!(m["object"], "model");
        assert!(m["created"].as_i64().unwrap() > 0);
        assert!(m["owned_by"].is_string());
    }
    // A key limited to some models lists only those.
    let (limited, _) = env.mesh.create_key("acme", &["mock-*"]).await;
    let body: Value = env
        .http
        .get(format!("{}/v1/models", env.mesh.base_url()))
        .bearer_auth(&limited)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    env.mesh.shutdown().await;
}

async fn bad_keys_are_401(shape: Shape) {
    let env = env(shape, "acme").await;
    let body = chat_body("chat-model", "hi").to_string();
    let reply = env
        .post(
            "/v1/chat/completions",
            Some("sy_notarealkey_x"),
            body.clone(),
        )
        .await;
    assert_openai_error(&reply, 401, "authentication_error", Some("invalid_api_key"));
    // Right shape, wrong secret.
    let mut forged = env.key.clone();
    forged.pop();
    forged.push(if env.key.ends_with('A') { 'B' } else { 'A' });
    let reply = env
        .post("/v1/chat/completions", Some(&forged), body.clone())
        .await;
    assert_openai_error(&reply, 401, "authentication_error", None);
    let reply = env.post("/v1/chat/completions", None, body).await;
    assert_openai_error(&reply, 401, "authentication_error", None);
    // Never a record for unauthenticated requests, and the key never echoes back.
    assert!(!reply.text.contains(&env.key));
    assert!(env.upstream.requests().is_empty());
    env.mesh.shutdown().await;
}

async fn unknown_model_is_404(shape: Shape) {
    let env = env(shape, "acme").await;
    let reply = env.chat(chat_body("no-such-model", "hi")).await;
    assert_openai_error(
        &reply,
        404,
        "invalid_request_error",
        Some("model_not_found"),
    );
    env.mesh.shutdown().await;
}

async fn disallowed_model_is_403(shape: Shape) {
    let env = env(shape, "acme").await;
    let (limited, _) = env.mesh.create_key("acme", &["mock-*"]).await;
    let reply = env
        .post(
            "/v1/chat/completions",
            Some(&limited),
            chat_body("chat-model", "hi").to_string(),
        )
        .await;
    assert_openai_error(&reply, 403, "permission_error", None);
    let ok = env
        .post(
            "/v1/chat/completions",
            Some(&limited),
            chat_body("mock-model", "hi").to_string(),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    env.mesh.shutdown().await;
}

async fn malformed_and_mistyped_bodies_are_400(shape: Shape) {
    let env = env(shape, "acme").await;
    let reply = env
        .post(
            "/v1/chat/completions",
            Some(&env.key),
            "{\"model\": \"chat-model\", ",
        )
        .await;
    assert_openai_error(&reply, 400, "invalid_request_error", None);
    let reply = env
        .post(
            "/v1/chat/completions",
            Some(&env.key),
            json!({"model": 5, "messages": []}).to_string(),
        )
        .await;
    assert_openai_error(&reply, 400, "invalid_request_error", None);
    assert_eq!(reply.json()["error"]["param"], "model");
    let reply = env
        .post(
            "/v1/chat/completions",
            Some(&env.key),
            json!({"model": "chat-model", "messages": "hi"}).to_string(),
        )
        .await;
    assert_openai_error(&reply, 400, "invalid_request_error", None);
    assert_eq!(reply.json()["error"]["param"], "messages");
    let reply = env
        .post(
            "/v1/chat/completions",
            Some(&env.key),
            json!({"model": "chat-model", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}).to_string(),
        )
        .await;
    assert_openai_error(&reply, 400, "invalid_request_error", None);
    assert_eq!(reply.json()["error"]["param"], "temperature");
    let reply = env
        .post(
            "/v1/chat/completions",
            Some(&env.key),
            json!({"model": "chat-model", "messages": []}).to_string(),
        )
        .await;
    assert_openai_error(&reply, 400, "invalid_request_error", None);
    assert!(env.upstream.requests().is_empty());
    env.mesh.shutdown().await;
}

async fn oversized_body_is_413(shape: Shape) {
    let env = env(shape, "acme").await;
    let big = "x".repeat(70_000);
    let reply = env.chat(chat_body("chat-model", &big)).await;
    assert_openai_error(
        &reply,
        413,
        "invalid_request_error",
        Some("request_too_large"),
    );
    env.mesh.shutdown().await;
}

async fn upstream_500_is_502_and_recorded(shape: Shape) {
    let env = env(shape, "acme").await;
    let reply = env.chat(chat_body("failing", "hi")).await;
    assert_openai_error(&reply, 502, "api_error", Some("upstream_error"));
    let record = env.mesh.wait_usage(&reply.request_id()).await;
    assert_eq!(record.outcome, Outcome::Error as i32);
    assert_eq!(record.error_reason, "UPSTREAM_UNAVAILABLE");
    assert_eq!(record.cost_micros, 0);
    env.mesh.shutdown().await;
}

async fn upstream_429_is_429_with_retry_after(shape: Shape) {
    let env = env(shape, "acme").await;
    let reply = env.chat(chat_body("limited", "hi")).await;
    assert_openai_error(&reply, 429, "rate_limit_error", None);
    assert_eq!(reply.headers["retry-after"], "7");
    env.mesh.shutdown().await;
}

async fn cut_stream_ends_with_error_event(shape: Shape) {
    let env = env(shape, "acme").await;
    let mut body = chat_body("cut", "hi");
    body["stream"] = json!(true);
    let reply = env.chat(body).await;
    assert_eq!(reply.status, 200);
    let events = reply.events();
    assert_ne!(
        events.last().unwrap(),
        "[DONE]",
        "a cut stream must not look complete"
    );
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert!(last["error"]["message"].is_string(), "{last}");
    let record = env.mesh.wait_usage(&reply.request_id()).await;
    assert_eq!(record.outcome, Outcome::Error as i32);
    assert!(record.completion_tokens > 0, "delivered tokens are billed");
    env.mesh.shutdown().await;
}

async fn revoked_key_is_refused(shape: Shape) {
    let env = env(shape, "acme").await;
    assert_eq!(env.chat(chat_body("mock-model", "hi")).await.status, 200);
    env.mesh.revoke_key(&env.key_id).await;
    // Routers cache principals; the revocation reaches them over auth's change
    // stream (docs/limits.md).
    within(REVOCATION_BOUND, "revoked key refused", async || {
        env.chat(chat_body("mock-model", "hi")).await.status == 401
    })
    .await;
    let reply = env.chat(chat_body("mock-model", "hi")).await;
    assert_openai_error(&reply, 401, "authentication_error", None);
    env.mesh.shutdown().await;
}

async fn grpc_gateway_unary_and_stream(shape: Shape) {
    let env = env(shape, "acme").await;
    let mut client = GatewayClient::new(Mesh::channel(env.mesh.grpc));
    let request = text_chat("chat-model", "over grpc");
    let resp = client
        .chat(with_key(request.clone(), &env.key))
        .await
        .unwrap();
    let request_id = resp
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        resp.metadata().get("x-switchyard-provider").unwrap(),
        "upstream"
    );
    let resp = resp.into_inner();
    let content = &resp.choices[0].message.as_ref().unwrap().content[0];
    assert_eq!(content.part, Some(Part::Text("echo: over grpc".into())));
    assert!(resp.usage.unwrap().completion_tokens > 0);
    assert_eq!(
        env.mesh.wait_usage(&request_id).await.outcome,
        Outcome::Ok as i32
    );

    let mut stream = client
        .chat_stream(with_key(request.clone(), &env.key))
        .await
        .unwrap()
        .into_inner();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.message().await.unwrap() {
        chunks.push(chunk);
    }
    let text: String = chunks
        .iter()
        .flat_map(|c| c.choices.iter())
        .filter_map(|c| c.delta.as_ref()?.content.clone())
        .collect();
    assert_eq!(text, "echo: over grpc");
    assert!(
        chunks.last().unwrap().usage.is_some(),
        "the stream ends with usage"
    );

    let models = client
        .list_models(with_key(ListModelsRequest {}, &env.key))
        .await
        .unwrap();
    assert!(
        models
            .into_inner()
            .models
            .iter()
            .any(|m| m.id == "chat-model")
    );

    let err = client
        .chat(with_key(request.clone(), "sy_bad"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let info = err.get_error_details().error_info().cloned().unwrap();
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("INVALID_API_KEY", "switchyard.dev")
    );
    let mut unknown = request.clone();
    unknown.model = "nope".into();
    let err = client.chat(with_key(unknown, &env.key)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let mut limited = request;
    limited.model = "limited".into();
    let err = client.chat(with_key(limited, &env.key)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    let details = err.get_error_details();
    assert_eq!(
        details.retry_info().unwrap().retry_delay,
        Some(std::time::Duration::from_secs(7))
    );

    // Health is served on the gateway port.
    let mut health =
        tonic_health::pb::health_client::HealthClient::new(Mesh::channel(env.mesh.grpc));
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "switchyard.gateway.v1.Gateway".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    env.mesh.shutdown().await;
}

async fn embeddings_float_and_base64(shape: Shape) {
    use base64::Engine;
    let env = env(shape, "acme").await;
    let body = json!({"model": "embed-model", "input": ["one", "three"]});
    let reply = env
        .post("/v1/embeddings", Some(&env.key), body.to_string())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let v = reply.json();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(v["data"][0]["embedding"], json!([0.5, -0.25, 3.0, 1.0]));
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let record = env.mesh.wait_usage(&reply.request_id()).await;
    assert_eq!(record.operation, "embeddings");

    let body = json!({"model": "embed-model", "input": "one", "encoding_format": "base64"});
    let reply = env
        .post("/v1/embeddings", Some(&env.key), body.to_string())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let b64 = reply.json()["data"][0]["embedding"]
        .as_str()
        .unwrap()
        .to_string();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let floats: Vec<f32> = bytes
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(floats, [0.5, -0.25, 3.0, 1.0]);
    env.mesh.shutdown().await;
}

async fn caller_request_id_is_the_ledger_key(shape: Shape) {
    let env = env(shape, "acme").await;
    let resp = env
        .http
        .post(format!("{}/v1/chat/completions", env.mesh.base_url()))
        .bearer_auth(&env.key)
        .header("x-request-id", "client-chosen-id-1")
        .json(&chat_body("mock-model", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "client-chosen-id-1");
    let record = env.mesh.wait_usage("client-chosen-id-1").await;
    assert_eq!(record.requested_model, "mock-model");
    env.mesh.shutdown().await;
}

async fn mock_provider_answers(shape: Shape) {
    let env = env(shape, "acme").await;
    let a = env
        .chat(chat_body("mock-model", "same prompt"))
        .await
        .json();
    let b = env
        .chat(chat_body("mock-model", "same prompt"))
        .await
        .json();
    assert_eq!(
        a["choices"][0]["message"]["content"],
        b["choices"][0]["message"]["content"]
    );
    assert_eq!(a["usage"]["completion_tokens"], 12);
    env.mesh.shutdown().await;
}

async fn mock_provider_answers_n_choices_and_bills_them_all(shape: Shape) {
    let env = env(shape, "acme").await;
    let one = env.chat(chat_body("mock-model", "pick three")).await.json();
    let mut body = chat_body("mock-model", "pick three");
    body["n"] = json!(3);
    let reply = env.chat(body.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let three = reply.json();
    let choices = three["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    let texts: Vec<&str> = choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            assert_eq!(c["index"], i);
            assert_eq!(c["finish_reason"], "stop");
            c["message"]["content"].as_str().unwrap()
        })
        .collect();
    // The first choice is the answer n = 1 gets; the others are their own draws.
    assert_eq!(texts[0], one["choices"][0]["message"]["content"]);
    assert!(texts[1] != texts[0] && texts[2] != texts[1]);
    assert_eq!(three["usage"]["completion_tokens"], 36);
    let record = env.mesh.wait_usage(&reply.request_id()).await;
    assert_eq!(record.completion_tokens, 36);

    // Streamed, the choices take turns chunk by chunk and add up to the same texts.
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let reply = env.chat(body.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let chunks = reply.chunks();
    let mut streamed = vec![String::new(); 3];
    for chunk in &chunks {
        for choice in chunk["choices"].as_array().unwrap() {
            let index = choice["index"].as_u64().unwrap() as usize;
            if let Some(content) = choice["delta"]["content"].as_str() {
                streamed[index].push_str(content);
            }
        }
    }
    assert_eq!(streamed, texts);
    assert_eq!(
        chunks.last().unwrap()["usage"]["completion_tokens"],
        36,
        "{}",
        reply.text
    );

    // OpenAI's bound on n holds before anything is reserved or sent.
    body["n"] = json!(129);
    let reply = env.chat(body).await;
    assert_openai_error(&reply, 400, "invalid_request_error", None);
    assert_eq!(reply.json()["error"]["param"], "n");
    env.mesh.shutdown().await;
}

async fn grpc_count_tokens_counts_where_the_model_routes(shape: Shape) {
    let env = env(shape, "acme").await;
    let mut client = GatewayClient::new(Mesh::channel(env.mesh.grpc));
    // The mock counts exactly what its answers report as the prompt.
    let request = text_chat("mock-model", "count me");
    let answer = client
        .chat(with_key(request.clone(), &env.key))
        .await
        .unwrap()
        .into_inner();
    let count = client
        .count_tokens(with_key(request, &env.key))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(count.input_tokens, answer.usage.unwrap().prompt_tokens);
    assert!(!count.estimated);
    assert_eq!(count.provider, "mock");
    // An OpenAI-compatible upstream has no counting API: estimated, no call made.
    let seen = env.upstream.requests().len();
    let count = client
        .count_tokens(with_key(text_chat("chat-model", "count me"), &env.key))
        .await
        .unwrap()
        .into_inner();
    assert!(count.estimated && count.input_tokens > 0);
    assert_eq!(count.provider, "upstream");
    assert_eq!(env.upstream.requests().len(), seen);
    let status = client
        .count_tokens(with_key(text_chat("no-such-model", "x"), &env.key))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    let status = client
        .count_tokens(with_key(text_chat("mock-model", "x"), "sk-wrong"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    env.mesh.shutdown().await;
}

async fn a_model_serves_only_its_mode(shape: Shape) {
    let env = env(shape, "acme").await;
    let reply = env.chat(chat_body("embed-only", "hi")).await;
    assert_openai_error(&reply, 400, "invalid_request_error", None);
    assert_eq!(reply.json()["error"]["param"], "model");
    assert!(
        reply.text.contains("embeddings requests only"),
        "{}",
        reply.text
    );
    let reply = env
        .post(
            "/v1/embeddings",
            Some(&env.key),
            json!({"model": "chat-only", "input": "hi"}).to_string(),
        )
        .await;
    assert_openai_error(&reply, 400, "invalid_request_error", None);
    let mut client = GatewayClient::new(Mesh::channel(env.mesh.grpc));
    let status = client
        .count_tokens(with_key(text_chat("embed-only", "hi"), &env.key))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    // Each model still serves its own mode, and a refused call records nothing:
    // the ledger has the calls after the refusals and nothing else.
    let refused = reply.request_id();
    let ok = env.chat(chat_body("chat-only", "hi")).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let embedded = env
        .post(
            "/v1/embeddings",
            Some(&env.key),
            json!({"model": "embed-only", "input": "hi"}).to_string(),
        )
        .await;
    assert_eq!(embedded.status, 200, "{}", embedded.text);
    env.mesh.wait_usage(&embedded.request_id()).await;
    assert!(env.mesh.usage(&refused).await.is_none());
    env.mesh.shutdown().await;
}

async fn client_disconnect_unary_is_billed_as_cancelled(shape: Shape) {
    let env = env(shape, "acme").await;
    let request = env
        .http
        .post(format!("{}/v1/chat/completions", env.mesh.base_url()))
        .bearer_auth(&env.key)
        .header("x-request-id", "gone-unary-1")
        .json(&chat_body("hang", "are you there"))
        .send();
    let client = tokio::spawn(request);
    env.upstream.wait_requests(1).await;
    client.abort();
    let _ = client.await;
    // The upstream never answers: the only way a record appears is the router
    // noticing the disconnect, waiting out the drain timeout, and estimating.
    let record = env.mesh.wait_usage("gone-unary-1").await;
    assert_eq!(record.outcome, Outcome::Cancelled as i32, "{record:?}");
    assert!(
        record.usage_estimated && record.prompt_tokens > 0,
        "{record:?}"
    );
    assert!(record.cost_micros > 0);
    env.upstream.release();
    env.mesh.shutdown().await;
}

async fn client_disconnect_mid_stream_is_billed_as_cancelled(shape: Shape) {
    let env = env(shape, "acme").await;
    let mut body = chat_body("hang", "stream then vanish");
    body["stream"] = json!(true);
    let mut resp = env
        .http
        .post(format!("{}/v1/chat/completions", env.mesh.base_url()))
        .bearer_auth(&env.key)
        .header("x-request-id", "gone-stream-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    drop(resp);
    // The upstream stalls after two chunks and never finishes: the record comes from
    // the disconnect, billing the tokens that were produced (estimated, and marked).
    let record = env.mesh.wait_usage("gone-stream-1").await;
    assert_eq!(record.outcome, Outcome::Cancelled as i32, "{record:?}");
    assert!(record.usage_estimated, "{record:?}");
    assert!(
        record.completion_tokens > 0,
        "delivered tokens are billed: {record:?}"
    );
    env.upstream.release();
    env.mesh.shutdown().await;
}

async fn client_disconnect_before_the_first_chunk_is_billed_as_cancelled(shape: Shape) {
    let env = env(shape, "acme").await;
    let mut body = chat_body("hang-first", "wait for it");
    body["stream"] = json!(true);
    let request = env
        .http
        .post(format!("{}/v1/chat/completions", env.mesh.base_url()))
        .bearer_auth(&env.key)
        .header("x-request-id", "gone-stream-early-1")
        .json(&body)
        .send();
    let client = tokio::spawn(request);
    env.upstream.wait_requests(1).await;
    // The provider answered its head but no chunk: the router is still waiting
    // for the first one, before any answer reached the client.
    client.abort();
    let _ = client.await;
    let record = env.mesh.wait_usage("gone-stream-early-1").await;
    assert_eq!(record.outcome, Outcome::Cancelled as i32, "{record:?}");
    assert!(record.stream, "{record:?}");
    assert!(
        record.usage_estimated && record.prompt_tokens > 0 && record.cost_micros > 0,
        "{record:?}"
    );
    env.upstream.release();
    env.mesh.shutdown().await;
}

/// The Responses API through every hop: a function call, its result sent back,
/// and the streamed answer; each call's usage record is the one its response
/// reports, found by the response id (`resp_` + the request id).
async fn responses_api_round_trip_bills_each_call(shape: Shape) {
    let env = env(shape, "acme").await;
    let tools = json!([{"type": "function", "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}, "strict": false}]);
    let first = env
        .post(
            "/v1/responses",
            Some(&env.key),
            json!({"model": "tool-model", "input": "cats", "tools": tools}).to_string(),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let body = first.json();
    let call = &body["output"][0];
    assert_eq!(call["type"], "function_call", "{body}");
    assert_eq!(call["name"], "lookup");
    assert_eq!(call["arguments"], r#"{"q":"cats"}"#);
    // The upstream got a chat request with the tool in chat's shape.
    let sent = &env.upstream.requests()[0].body;
    assert_eq!(sent["tools"][0]["function"]["name"], "lookup");
    assert_eq!(
        sent["messages"][0],
        json!({"role": "user", "content": "cats"})
    );
    let id = body["id"].as_str().unwrap();
    assert_eq!(id, format!("resp_{}", first.request_id()));
    let record = env.mesh.wait_usage(&first.request_id()).await;
    assert_eq!(
        record.prompt_tokens,
        body["usage"]["input_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        record.completion_tokens,
        body["usage"]["output_tokens"].as_u64().unwrap()
    );

    let input = json!([
        {"role": "user", "content": "cats"},
        call,
        {"type": "function_call_output", "call_id": call["call_id"], "output": "42 cats"}
    ]);
    let second = env
        .post(
            "/v1/responses",
            Some(&env.key),
            json!({"model": "tool-model", "input": input, "tools": tools, "stream": true})
                .to_string(),
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.text);
    let completed = second
        .text
        .split("\n\n")
        .find_map(|e| e.strip_prefix("event: response.completed\ndata: "))
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .expect("a response.completed event");
    let response = &completed["response"];
    assert_eq!(response["output"][0]["content"][0]["text"], "echo: 42 cats");
    let sent = &env.upstream.requests()[1].body;
    assert_eq!(sent["messages"][1]["tool_calls"][0]["id"], call["call_id"]);
    assert_eq!(sent["messages"][2]["role"], "tool");
    let record = env.mesh.wait_usage(&second.request_id()).await;
    assert!(record.stream);
    assert_eq!(
        record.completion_tokens,
        response["usage"]["output_tokens"].as_u64().unwrap()
    );
    assert_eq!(env.mesh.tenant_usage(&env.tenant).await.len(), 2);
    env.mesh.shutdown().await;
}

/// Log probabilities cross every hop: OpenAI chat (whole and streamed), the
/// Responses API, and gRPC from the mock; `top_logprobs` is bounded.
async fn logprobs_reach_every_api(shape: Shape) {
    let env = env(shape, "acme").await;
    let mut body = chat_body("chat-model", "how sure");
    body["logprobs"] = json!(true);
    body["top_logprobs"] = json!(2);
    let reply = env.chat(body.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let choice = &reply.json()["choices"][0];
    let tokens = choice["logprobs"]["content"].as_array().unwrap();
    let joined: String = tokens
        .iter()
        .map(|t| t["token"].as_str().unwrap())
        .collect();
    assert_eq!(joined, choice["message"]["content"].as_str().unwrap());
    assert_eq!(tokens[0]["logprob"], -0.25);
    assert_eq!(tokens[0]["bytes"], json!(b"echo:".to_vec()));
    assert_eq!(
        tokens[0]["top_logprobs"][1],
        json!({"token": "alt1", "logprob": -1.25, "bytes": b"alt1".to_vec()})
    );
    assert_eq!(choice["logprobs"]["refusal"], Value::Null);

    body["stream"] = json!(true);
    let reply = env.chat(body).await;
    let streamed: Vec<String> = reply
        .text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|c| {
            Some(
                c["choices"][0]["logprobs"]["content"][0]["token"]
                    .as_str()?
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(streamed.concat(), joined);

    let responses = env
        .post(
            "/v1/responses",
            Some(&env.key),
            json!({"model": "chat-model", "input": "how sure",
                   "include": ["message.output_text.logprobs"]})
            .to_string(),
        )
        .await;
    assert_eq!(responses.status, 200, "{}", responses.text);
    let part = &responses.json()["output"][0]["content"][0];
    assert_eq!(part["logprobs"].as_array().unwrap().len(), tokens.len());

    let mut client = GatewayClient::new(Mesh::channel(env.mesh.grpc));
    let mut request = text_chat("mock-model", "over grpc");
    request.logprobs = Some(true);
    let answer = client
        .chat(with_key(request.clone(), &env.key))
        .await
        .unwrap()
        .into_inner();
    let logprobs = answer.choices[0].logprobs.as_ref().unwrap();
    assert!(!logprobs.content.is_empty());
    assert!(logprobs.content.iter().all(|t| t.logprob <= 0.0));

    request.top_logprobs = Some(21);
    let status = client.chat(with_key(request, &env.key)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    env.mesh.shutdown().await;
}

/// A PDF given inline through each HTTP API (OpenAI's `file` part, the
/// Responses API's `input_file`, Anthropic's `document` block) reaches an
/// OpenAI-compatible upstream as OpenAI's `file` part; an uploaded file's id,
/// which the gateway cannot resolve, is refused naming it.
async fn files_reach_the_upstream_from_every_api(shape: Shape) {
    let env = env(shape, "acme").await;
    let pdf = "JVBERi0xLjQK";
    let data_url = format!("data:application/pdf;base64,{pdf}");
    let expected = json!({"type": "file", "file": {"file_data": data_url, "filename": "r.pdf"}});
    let chat = json!({"model": "chat-model", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "summarize"},
        {"type": "file", "file": {"file_data": data_url, "filename": "r.pdf"}}
    ]}]});
    let reply = env.chat(chat).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let responses = json!({"model": "chat-model", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "summarize"},
        {"type": "input_file", "file_data": data_url, "filename": "r.pdf"}
    ]}]});
    let reply = env
        .post("/v1/responses", Some(&env.key), responses.to_string())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let messages = json!({"model": "chat-model", "max_tokens": 64, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "summarize"},
        {"type": "document", "title": "r.pdf",
         "source": {"type": "base64", "media_type": "application/pdf", "data": pdf}}
    ]}]});
    let reply = env
        .post("/v1/messages", Some(&env.key), messages.to_string())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let sent = env.upstream.requests();
    assert_eq!(sent.len(), 3);
    for request in &sent {
        let content =
            request.body["messages"].as_array().unwrap().last().unwrap()["content"].clone();
        assert_eq!(content[1], expected, "{}", request.body);
    }

    let by_id = json!({"model": "chat-model", "messages": [{"role": "user", "content": [
        {"type": "file", "file": {"file_id": "file-abc123"}}
    ]}]});
    let reply = env.chat(by_id).await;
    assert_openai_error(&reply, 400, "invalid_request_error", None);
    assert_eq!(
        reply.json()["error"]["param"],
        "messages[0].content[0].file.file_id"
    );
    env.mesh.shutdown().await;
}

async fn stream_and_unary_bill_the_same(shape: Shape) {
    let env = env(shape, "acme").await;
    for model in ["chat-model", "mock-model"] {
        let unary = env.chat(chat_body(model, "the same prompt, twice")).await;
        assert_eq!(unary.status, 200, "{}", unary.text);
        let mut body = chat_body(model, "the same prompt, twice");
        body["stream"] = json!(true);
        let stream = env.chat(body).await;
        assert_eq!(stream.status, 200, "{}", stream.text);
        let a = env.mesh.wait_usage(&unary.request_id()).await;
        let b = env.mesh.wait_usage(&stream.request_id()).await;
        assert!(!a.stream && b.stream);
        assert_eq!(
            (
                a.prompt_tokens,
                a.completion_tokens,
                a.cost_micros,
                a.usage_estimated
            ),
            (
                b.prompt_tokens,
                b.completion_tokens,
                b.cost_micros,
                b.usage_estimated
            ),
            "{model}"
        );
        assert!(a.cost_micros > 0, "{model}");
    }
    env.mesh.shutdown().await;
}

async fn admin_http_tenants_keys_audit_and_scoped_usage(shape: Shape) {
    let env = env(shape, "acme").await;
    let admin = format!("Bearer {}", switchyard_tests::ADMIN_TOKEN);
    let url = |path: &str| format!("{}{path}", env.mesh.base_url());
    let send = |req: reqwest::RequestBuilder| async move {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        (status, body)
    };

    // A tenant with limits and a budget, then a key for it, over HTTP.
    let (status, tenant) = send(
        env.http
            .post(url("/admin/v1/tenants"))
            .header("authorization", &admin)
            .header("x-switchyard-actor", "ops@example.com")
            .json(&json!({"name": "globex", "allowed_models": ["mock-*"],
                "limits": {"requests_per_minute": 600},
                "budget": {"limit_micros": 5_000_000, "period": "monthly", "alert_percent": 80}})),
    )
    .await;
    assert_eq!(status, 201, "{tenant}");
    assert_eq!(tenant["budget"]["limit_usd"], "5.000000");
    let (status, created) = send(
        env.http
            .post(url("/admin/v1/keys"))
            .header("authorization", &admin)
            .json(&json!({"tenant": "globex", "name": "svc"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_string();
    let key_id = created["key"]["id"].as_str().unwrap().to_string();
    let (_, listed) = send(
        env.http
            .get(url("/admin/v1/keys?tenant=globex"))
            .header("authorization", &admin),
    )
    .await;
    assert!(
        !listed.to_string().contains(&secret),
        "listings never show secrets"
    );

    // The tenant's allowlist applies to its key.
    let chat = |model: &str| {
        env.http
            .post(url("/v1/chat/completions"))
            .bearer_auth(&secret)
            .json(&chat_body(model, "hello"))
            .send()
    };
    assert_eq!(chat("mock-model").await.unwrap().status(), 200);
    assert_eq!(chat("chat-model").await.unwrap().status(), 403);

    // The tenant's own key reads its own usage, and only its own.
    let ok = chat("mock-model").await.unwrap();
    env.mesh
        .wait_usage(ok.headers()["x-request-id"].to_str().unwrap())
        .await;
    let (status, own) = send(
        env.http
            .get(url("/admin/v1/usage/summary"))
            .bearer_auth(&secret),
    )
    .await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["total"]["requests"], 2, "{own}");
    let (status, _) = send(
        env.http
            .get(url("/admin/v1/usage/summary?tenant=acme"))
            .bearer_auth(&secret),
    )
    .await;
    assert_eq!(status, 403, "another tenant's usage is refused");

    // Spend by a tag: the tenant's requests by their `team` (a header tag here,
    // the body's `metadata` alike), the untagged under "".
    let tagged = env
        .http
        .post(url("/v1/chat/completions"))
        .bearer_auth(&secret)
        .header("x-switchyard-tags", "team=search")
        .json(&chat_body("mock-model", "tagged"))
        .send()
        .await
        .unwrap();
    assert_eq!(tagged.status(), 200);
    let tagged_id = tagged.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let tagged_cost: i64 = tagged.headers()["x-switchyard-cost-micros"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    env.mesh.wait_usage(&tagged_id).await;
    let (status, by_team) = send(
        env.http
            .get(url("/admin/v1/usage/summary?group_by=metadata.team"))
            .bearer_auth(&secret),
    )
    .await;
    assert_eq!(status, 200, "{by_team}");
    let groups: Vec<(&str, u64)> = by_team["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["group"].as_str().unwrap(),
                b["totals"]["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(groups, [("", 2), ("search", 1)], "{by_team}");
    assert_eq!(
        by_team["buckets"][1]["totals"]["cost_micros"].as_i64(),
        Some(tagged_cost),
        "{by_team}"
    );
    let (status, error) = send(
        env.http
            .get(url("/admin/v1/usage/summary?group_by=team"))
            .bearer_auth(&secret),
    )
    .await;
    assert_eq!(
        (status, &error["error"]["param"]),
        (400, &json!("group_by"))
    );

    // Disabling the tenant stops its keys within the revocation bound; the audit
    // trail says who did what.
    let (status, _) = send(
        env.http
            .post(url("/admin/v1/tenants/globex/disable"))
            .header("authorization", &admin)
            .header("x-switchyard-actor", "ops@example.com"),
    )
    .await;
    assert_eq!(status, 200);
    within(
        REVOCATION_BOUND,
        "disabled tenant's key refused",
        async || chat("mock-model").await.unwrap().status() == 401,
    )
    .await;
    let (status, audit) = send(
        env.http
            .get(url("/admin/v1/audit?target=tenant:globex"))
            .header("authorization", &admin),
    )
    .await;
    assert_eq!(status, 200, "{audit}");
    let actions: Vec<&str> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.iter().any(|a| a.contains("DisableTenant")),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a.contains("CreateTenant")),
        "{actions:?}"
    );
    assert!(
        audit["records"][0]["actor"]
            .as_str()
            .unwrap()
            .ends_with("as ops@example.com"),
        "{audit}"
    );
    let (status, _) = send(env.http.get(url(&format!("/admin/v1/keys/{key_id}")))).await;
    assert_eq!(status, 401, "admin routes need a token");
    env.mesh.shutdown().await;
}
