//! Model names beyond plain aliases, through the real mesh (both shapes):
//! wildcards passing a name through to a provider and pricing it, deployments'
//! context windows skipping a prompt that cannot fit, and gRPC trailers saying
//! what served a stream and what it cost.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use serde_json::{Value, json};
use switchyard_proto::gateway::v1::gateway_client::GatewayClient;
use switchyard_proto::metering::v1::Outcome;
use switchyard_tests::{KeyedMesh, Mesh, Shape, both_shapes, text_chat, with_key};

/// `openai/*` passes names through to the emulated upstream, priced as OpenAI's
/// (the provider says its vendor); `small` takes 20 tokens, `roomy` any.
fn models(upstream: &str) -> String {
    format!(
        r#"
[[providers]]
name = "openai-like"
kind = "openai-compatible"
base_url = "{upstream}"
vendor = "openai"

[[models]]
name = "openai/*"
deployments = [{{ provider = "openai-like", model = "*" }}]

[[models]]
name = "windowed"
strategy = "ordered"
deployments = [{{ provider = "upstream", model = "small", context_window = 20, price = {{ input_per_million = "1", output_per_million = "2" }} }}, {{ provider = "upstream", model = "roomy", price = {{ input_per_million = "1", output_per_million = "2" }} }}]

[[models]]
name = "only-small"
deployments = [{{ provider = "upstream", model = "small", context_window = 20, price = {{ input_per_million = "1", output_per_million = "2" }} }}]
context_fallback = "windowed"

[[models]]
name = "tiny"
deployments = [{{ provider = "upstream", model = "small", context_window = 20, price = {{ input_per_million = "1", output_per_million = "2" }} }}]
"#
    )
}

/// The shared set-up, with this file's requests below.
struct Env(KeyedMesh);

impl std::ops::Deref for Env {
    type Target = KeyedMesh;
    fn deref(&self) -> &KeyedMesh {
        &self.0
    }
}

async fn env(shape: Shape) -> Env {
    Env(KeyedMesh::start(shape, "models", "", models).await)
}

impl Env {
    async fn chat(&self, model: &str, prompt: &str) -> (u16, String, Value) {
        let response = self
            .post_chat(&json!({"model": model, "messages": [{"role": "user", "content": prompt}]}))
            .await;
        let status = response.status().as_u16();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        (status, id, response.json().await.unwrap())
    }
}

async fn a_wildcard_passes_the_model_name_through_and_prices_it(shape: Shape) {
    let env = env(shape).await;
    let (status, id, body) = env.chat("openai/gpt-4o-mini", "hello").await;
    assert_eq!(status, 200, "{body}");
    // As OpenAI answers: the model that served.
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(env.upstream.models(), ["gpt-4o-mini"]);
    let record = env.mesh.wait_usage(&id).await;
    assert_eq!(record.requested_model, "openai/gpt-4o-mini");
    assert_eq!(record.upstream_model, "gpt-4o-mini");
    // Priced from the shipped table as OpenAI's gpt-4o-mini, never at zero.
    assert!(record.cost_micros > 0, "{record:?}");

    // A name the price table does not know is refused, saying why.
    let (status, _, body) = env.chat("openai/not-a-real-model", "hello").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "model_not_found");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("no price is known"), "{message}");
    assert_eq!(env.upstream.models(), ["gpt-4o-mini"]);

    // Wildcards are not listed: they stand for names they cannot enumerate.
    let listed: Value = env
        .http
        .get(format!("{}/v1/models", env.mesh.base_url()))
        .bearer_auth(&env.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&"openai/*"), "{ids:?}");
    assert!(ids.contains(&"windowed"), "{ids:?}");
}

async fn a_prompt_over_a_context_window_skips_that_deployment(shape: Shape) {
    let env = env(shape).await;
    // Short: the small deployment takes it.
    let (status, _, body) = env.chat("windowed", "hi").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(env.upstream.models(), ["small"]);
    // Long (well over 20 tokens): the small one is skipped without a call.
    let long = "many words in this prompt ".repeat(10);
    let (status, id, body) = env.chat("windowed", &long).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(env.upstream.models(), ["small", "roomy"]);
    let record = env.mesh.wait_usage(&id).await;
    assert_eq!(record.upstream_model, "roomy");
    assert_eq!(record.attempts.len(), 1, "a skip is no attempt");
    // A model with only small deployments moves to its context fallback.
    let (status, id, body) = env.chat("only-small", &long).await;
    assert_eq!(status, 200, "{body}");
    let record = env.mesh.wait_usage(&id).await;
    assert_eq!(record.requested_model, "only-small");
    assert_eq!(record.upstream_model, "roomy");
    assert_eq!(env.upstream.models(), ["small", "roomy", "roomy"]);
    // Nowhere to go: a 400 saying so, and nothing sent upstream.
    let (status, id, body) = env.chat("tiny", &long).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "context_length_exceeded");
    assert_eq!(env.upstream.models(), ["small", "roomy", "roomy"]);
    let record = env.mesh.wait_usage(&id).await;
    assert_eq!(record.outcome, Outcome::Error as i32);
    assert_eq!(record.cost_micros, 0);
}

async fn grpc_trailers_say_what_served_a_stream_and_its_cost(shape: Shape) {
    let env = env(shape).await;
    let mut client = GatewayClient::new(Mesh::channel(env.mesh.grpc));
    let request = with_key(text_chat("windowed", "stream me"), &env.key);
    let response = client.chat_stream(request).await.unwrap();
    let id = response
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    // The headers name the deployment; the cost is not known yet.
    assert_eq!(
        response
            .metadata()
            .get("x-switchyard-upstream-model")
            .unwrap()
            .to_str()
            .unwrap(),
        "small"
    );
    assert!(
        response
            .metadata()
            .get("x-switchyard-cost-micros")
            .is_none()
    );
    let mut stream = response.into_inner();
    let mut chunks = 0;
    while stream.message().await.unwrap().is_some() {
        chunks += 1;
    }
    assert!(chunks > 1);
    let trailers = stream.trailers().await.unwrap().expect("trailers");
    let record = env.mesh.wait_usage(&id).await;
    assert_eq!(record.outcome, Outcome::Ok as i32);
    assert!(record.cost_micros > 0);
    assert_eq!(
        trailers
            .get("x-switchyard-cost-micros")
            .unwrap()
            .to_str()
            .unwrap(),
        record.cost_micros.to_string().as_str()
    );
    assert_eq!(
        trailers
            .get("x-switchyard-provider")
            .unwrap()
            .to_str()
            .unwrap(),
        "upstream"
    );
    assert_eq!(
        trailers
            .get("x-switchyard-upstream-model")
            .unwrap()
            .to_str()
            .unwrap(),
        "small"
    );
    assert_eq!(
        trailers
            .get("x-switchyard-attempts")
            .unwrap()
            .to_str()
            .unwrap(),
        "1"
    );
}

both_shapes!(
    a_wildcard_passes_the_model_name_through_and_prices_it,
    a_prompt_over_a_context_window_skips_that_deployment,
    grpc_trailers_say_what_served_a_stream_and_its_cost,
);
