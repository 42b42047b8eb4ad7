//! The router's response cache through the whole gateway, both shapes: a model
//! with `cache_ttl_secs` answers an identical request from memory, at no cost and
//! without calling the provider, recorded with `cache_hit`; per tenant; streams
//! replayed; `cache-control` honoured; failures never kept.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use serde_json::{Value, json};
use switchyard_proto::gateway::v1::gateway_client::GatewayClient;
use switchyard_proto::metering::v1::Outcome;
use switchyard_tests::roundtrip::stream_chunks;
use switchyard_tests::{KeyedMesh, Mesh, Shape, both_shapes, text_chat, with_key};

both_shapes!(
    identical_requests_are_answered_from_the_cache_at_no_cost,
    a_burst_of_one_request_costs_one_provider_call,
    a_caller_leaving_while_it_waits_is_recorded_at_no_cost,
    streams_are_replayed_and_grpc_callers_see_the_hit,
    failures_are_not_kept_and_other_models_do_not_cache,
);

fn models(upstream: &str) -> String {
    let _ = upstream;
    r#"
[[models]]
name = "cached"
cache_ttl_secs = 300
deployments = [{ provider = "upstream", model = "gpt-test", price = { input_per_million = "0.15", output_per_million = "0.60" } }]

[[models]]
name = "cached-embed"
cache_ttl_secs = 300
deployments = [{ provider = "upstream", model = "text-embedding-test", price = { input_per_million = "0.02" } }]

[[models]]
name = "cached-hang"
cache_ttl_secs = 300
deployments = [{ provider = "upstream", model = "hang", price = { input_per_million = "0.15", output_per_million = "0.60" } }]

[[models]]
name = "cached-failing"
cache_ttl_secs = 300
deployments = [{ provider = "upstream", model = "fail-500" }]
"#
    .to_string()
}

async fn env(shape: Shape) -> KeyedMesh {
    KeyedMesh::start(shape, "acme", "", models).await
}

/// A chat body for `model` of one user message.
fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

struct Answer {
    status: u16,
    id: String,
    cache: Option<String>,
    cost: Option<String>,
    /// `x-switchyard-provider` and `-attempts`.
    served: (Option<String>, Option<String>),
    body: String,
}

async fn post(
    env: &KeyedMesh,
    path: &str,
    key: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = env
        .http
        .post(format!("{}{path}", env.mesh.base_url()))
        .bearer_auth(key)
        .json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let resp = request.send().await.unwrap();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    Answer {
        status: resp.status().as_u16(),
        id: header("x-request-id").unwrap(),
        cache: header("x-switchyard-cache"),
        cost: header("x-switchyard-cost-micros"),
        served: (
            header("x-switchyard-provider"),
            header("x-switchyard-attempts"),
        ),
        body: resp.text().await.unwrap(),
    }
}

fn calls(env: &KeyedMesh) -> usize {
    env.upstream.requests().len()
}

async fn identical_requests_are_answered_from_the_cache_at_no_cost(shape: Shape) {
    let env = env(shape).await;
    let body = chat("cached", "What is 2 + 2?");
    let first = post(&env, "/v1/chat/completions", &env.key, &body, &[]).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.cache.as_deref(), Some("miss"));
    let paid = env.mesh.wait_usage(&first.id).await;
    assert!(paid.cost_micros > 0 && !paid.cache_hit, "{paid:?}");
    assert_eq!(calls(&env), 1);

    // The same request again, with other timeouts and the key sent again: the
    // kept answer, byte for byte, from no provider call and at no cost.
    let again = post(
        &env,
        "/v1/chat/completions",
        &env.key,
        &body,
        &[("x-switchyard-timeout-ms", "60000")],
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.cache.as_deref(), Some("hit"));
    assert_eq!(again.cost.as_deref(), Some("0"));
    assert_eq!(again.body, first.body);
    assert_eq!(calls(&env), 1);
    let hit = env.mesh.wait_usage(&again.id).await;
    assert!(hit.cache_hit);
    assert_eq!(hit.outcome, Outcome::Ok as i32);
    assert_eq!(
        (hit.prompt_tokens, hit.completion_tokens, hit.cost_micros),
        (0, 0, 0)
    );
    assert_eq!(
        (hit.provider.as_str(), hit.upstream_model.as_str()),
        ("upstream", "gpt-test")
    );
    assert!(hit.attempts.is_empty(), "{:?}", hit.attempts);
    assert_eq!(hit.requested_model, "cached");

    // Another tenant's key does not see acme's answers.
    let (other, _) = env.mesh.create_key("globex", &[]).await;
    let theirs = post(&env, "/v1/chat/completions", &other, &body, &[]).await;
    assert_eq!(theirs.cache.as_deref(), Some("miss"));
    assert_eq!(calls(&env), 2);

    // `no-cache` asks the provider again; `no-store` neither reads nor keeps.
    let fresh = post(
        &env,
        "/v1/chat/completions",
        &env.key,
        &body,
        &[("cache-control", "no-cache")],
    )
    .await;
    assert_eq!(
        (fresh.status, fresh.cache.as_deref()),
        (200, Some("bypass"))
    );
    assert_eq!(calls(&env), 3);
    let other_body = chat("cached", "Something else");
    let unkept = post(
        &env,
        "/v1/chat/completions",
        &env.key,
        &other_body,
        &[("cache-control", "no-store")],
    )
    .await;
    assert_eq!(unkept.cache.as_deref(), Some("bypass"));
    let asked = post(&env, "/v1/chat/completions", &env.key, &other_body, &[]).await;
    assert_eq!(asked.cache.as_deref(), Some("miss"));
    assert_eq!(calls(&env), 5);

    // Embeddings cache too.
    let embed = json!({"model": "cached-embed", "input": ["a", "b"]});
    let first = post(&env, "/v1/embeddings", &env.key, &embed, &[]).await;
    let again = post(&env, "/v1/embeddings", &env.key, &embed, &[]).await;
    assert_eq!((first.status, again.status), (200, 200), "{}", again.body);
    assert_eq!(
        (first.cache.as_deref(), again.cache.as_deref()),
        (Some("miss"), Some("hit"))
    );
    assert_eq!(again.body, first.body);
    assert_eq!(calls(&env), 6);
    let hit = env.mesh.wait_usage(&again.id).await;
    assert!(hit.cache_hit && hit.cost_micros == 0 && hit.operation == "embeddings");

    // Every request has exactly one record, hits included, and only the chats
    // that reached the provider cost anything (two embedded words round to 0).
    let records = env.mesh.tenant_usage("acme").await;
    assert_eq!(records.len(), 7);
    assert_eq!(records.iter().filter(|r| r.cache_hit).count(), 2);
    let chats: Vec<_> = records.iter().filter(|r| r.operation == "chat").collect();
    assert_eq!(chats.iter().filter(|r| r.cost_micros > 0).count(), 4);
    assert!(
        chats
            .iter()
            .filter(|r| r.cache_hit)
            .all(|r| r.cost_micros == 0)
    );
    env.mesh.shutdown().await;
}

async fn a_burst_of_one_request_costs_one_provider_call(shape: Shape) {
    let env = env(shape).await;
    let body = chat("cached-hang", "Everyone asks this at once");
    let path = "/v1/chat/completions";
    // The first request reaches the provider, which holds its answer.
    let first = post(&env, path, &env.key, &body, &[]);
    let rest = async {
        env.upstream.wait_requests(1).await;
        // An identical request waits for that answer; one that may wait only
        // 300 ms runs out of time while waiting, without a provider call.
        let waiting = post(&env, path, &env.key, &body, &[]);
        let impatient = async {
            let answer = post(
                &env,
                path,
                &env.key,
                &body,
                &[("x-switchyard-timeout-ms", "300")],
            )
            .await;
            assert_eq!(calls(&env), 1);
            env.upstream.release();
            answer
        };
        tokio::join!(waiting, impatient)
    };
    let (first, (waiting, impatient)) = tokio::join!(first, rest);
    assert_eq!(
        (first.status, first.cache.as_deref()),
        (200, Some("miss")),
        "{}",
        first.body
    );
    assert_eq!(
        (
            waiting.status,
            waiting.cache.as_deref(),
            waiting.cost.as_deref()
        ),
        (200, Some("hit"), Some("0")),
        "{}",
        waiting.body
    );
    assert_eq!(waiting.body, first.body);
    assert_eq!(impatient.status, 504, "{}", impatient.body);
    // An error says how the request was met, as an answer does.
    assert_eq!(impatient.cache.as_deref(), Some("miss"));
    assert_eq!(calls(&env), 1);

    let paid = env.mesh.wait_usage(&first.id).await;
    assert!(paid.cost_micros > 0 && !paid.cache_hit, "{paid:?}");
    let hit = env.mesh.wait_usage(&waiting.id).await;
    assert!(hit.cache_hit && hit.cost_micros == 0, "{hit:?}");
    let late = env.mesh.wait_usage(&impatient.id).await;
    assert_eq!(late.outcome, Outcome::Error as i32, "{late:?}");
    assert!(!late.cache_hit && late.cost_micros == 0, "{late:?}");
    env.mesh.shutdown().await;
}

async fn a_caller_leaving_while_it_waits_is_recorded_at_no_cost(shape: Shape) {
    let env = env(shape).await;
    let request = switchyard_tests::text_chat("cached-hang", "Who waits, and leaves?");
    let channel = Mesh::channel(env.mesh.grpc);
    let first = {
        let (channel, request, key) = (channel.clone(), request.clone(), env.key.clone());
        tokio::spawn(async move {
            GatewayClient::new(channel)
                .chat(with_key(request, &key))
                .await
        })
    };
    env.upstream.wait_requests(1).await;
    // The same request with a one-second gRPC deadline: it waits for the first
    // one's answer until tonic gives up on it and drops the call.
    let mut waiting = with_key(request, &env.key);
    waiting.set_timeout(std::time::Duration::from_secs(1));
    waiting
        .metadata_mut()
        .insert("x-request-id", "cache-waiter-left-1".parse().unwrap());
    let left = GatewayClient::new(channel).chat(waiting).await.unwrap_err();
    assert!(
        matches!(
            left.code(),
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        "{left:?}"
    );
    let record = env.mesh.wait_usage("cache-waiter-left-1").await;
    assert_eq!(record.outcome, Outcome::Cancelled as i32, "{record:?}");
    assert!(
        record.cost_micros == 0 && !record.cache_hit && record.attempts.is_empty(),
        "{record:?}"
    );
    env.upstream.release();
    let answered = first.await.unwrap().unwrap();
    assert_eq!(
        answered.metadata().get("x-switchyard-cache").unwrap(),
        "miss"
    );
    assert_eq!(calls(&env), 1);
    env.mesh.shutdown().await;
}

async fn streams_are_replayed_and_grpc_callers_see_the_hit(shape: Shape) {
    let env = env(shape).await;
    let mut body = chat("cached", "Stream it");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let first = post(&env, "/v1/chat/completions", &env.key, &body, &[]).await;
    let again = post(&env, "/v1/chat/completions", &env.key, &body, &[]).await;
    assert_eq!((first.status, again.status), (200, 200), "{}", again.body);
    assert_eq!(
        (first.cache.as_deref(), again.cache.as_deref()),
        (Some("miss"), Some("hit"))
    );
    let (a, b) = (stream_chunks(&first.body), stream_chunks(&again.body));
    assert!(a.len() > 2, "{}", first.body);
    assert_eq!(a, b, "the same chunks, usage chunk included");
    assert_eq!(calls(&env), 1);
    let hit = env.mesh.wait_usage(&again.id).await;
    assert!(
        hit.cache_hit && hit.stream && hit.cost_micros == 0,
        "{hit:?}"
    );

    // The same request unary is another kind of call: asked, then kept apart.
    body["stream"] = json!(false);
    body.as_object_mut().unwrap().remove("stream_options");
    let unary = post(&env, "/v1/chat/completions", &env.key, &body, &[]).await;
    assert_eq!(unary.cache.as_deref(), Some("miss"));
    assert_eq!(calls(&env), 2);

    // gRPC: the same cache, the hit in the headers and the trailers.
    let mut client = GatewayClient::new(Mesh::channel(env.mesh.grpc));
    let request = text_chat("cached", "Over gRPC");
    let first = client
        .chat(with_key(request.clone(), &env.key))
        .await
        .unwrap();
    assert_eq!(first.metadata().get("x-switchyard-cache").unwrap(), "miss");
    let again = client
        .chat(with_key(request.clone(), &env.key))
        .await
        .unwrap();
    assert_eq!(again.metadata().get("x-switchyard-cache").unwrap(), "hit");
    assert_eq!(
        again.metadata().get("x-switchyard-cost-micros").unwrap(),
        "0"
    );
    assert_eq!(again.get_ref(), first.get_ref());
    let (head, tail, chunks) = streamed(&env, &request).await;
    assert_eq!((head.as_str(), tail.as_str()), ("miss", "miss"));
    let (head, tail, replayed) = streamed(&env, &request).await;
    assert_eq!((head.as_str(), tail.as_str()), ("hit", "hit"));
    assert_eq!(replayed, chunks);
    assert_eq!(calls(&env), 4);
    env.mesh.shutdown().await;
}

async fn failures_are_not_kept_and_other_models_do_not_cache(shape: Shape) {
    let env = env(shape).await;
    let failing = chat("cached-failing", "hi");
    for _ in 0..2 {
        let answer = post(&env, "/v1/chat/completions", &env.key, &failing, &[]).await;
        assert_eq!(answer.status, 502, "{}", answer.body);
        // The error names the provider that failed, the attempts, and the miss.
        assert_eq!(answer.cache.as_deref(), Some("miss"));
        assert_eq!(answer.served.0.as_deref(), Some("upstream"));
        assert!(
            answer
                .served
                .1
                .as_deref()
                .is_some_and(|n| n.parse::<u32>().unwrap() >= 1)
        );
    }
    // A stream that fails before its first chunk says the same.
    let mut streamed = failing.clone();
    streamed["stream"] = json!(true);
    let answer = post(&env, "/v1/chat/completions", &env.key, &streamed, &[]).await;
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert_eq!(
        (answer.cache.as_deref(), answer.served.0.as_deref()),
        (Some("miss"), Some("upstream"))
    );
    let failed_calls = calls(&env);
    assert!(failed_calls >= 2, "{failed_calls}");

    // A model without `cache_ttl_secs` asks every time and says nothing of a cache.
    let plain = chat("chat-model", "hi");
    for _ in 0..2 {
        let answer = post(&env, "/v1/chat/completions", &env.key, &plain, &[]).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.cache, None);
    }
    assert_eq!(calls(&env), failed_calls + 2);
    env.mesh.shutdown().await;
}

/// A gRPC `ChatStream` of `request`: how the cache met it, in the headers and
/// the trailers, and the chunks.
async fn streamed(
    env: &KeyedMesh,
    request: &switchyard_proto::types::v1::ChatRequest,
) -> (String, String, Vec<switchyard_proto::types::v1::ChatChunk>) {
    let text = |v: Option<&tonic::metadata::MetadataValue<tonic::metadata::Ascii>>| {
        v.map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let mut client = GatewayClient::new(Mesh::channel(env.mesh.grpc));
    let response = client
        .chat_stream(with_key(request.clone(), &env.key))
        .await
        .unwrap();
    let head = text(response.metadata().get("x-switchyard-cache"));
    let mut stream = response.into_inner();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.message().await.unwrap() {
        chunks.push(chunk);
    }
    let trailers = stream.trailers().await.unwrap().unwrap();
    (head, text(trailers.get("x-switchyard-cache")), chunks)
}
