//! Fallbacks and retries through the real mesh (both shapes), against an emulated
//! upstream with failing models: callers see no error while any deployment or
//! fallback model can answer, see the right error fast when none can or when a
//! retry cannot help, and the retry budget caps what a failing provider is sent.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use serde_json::{Value, json};
use switchyard_proto::gateway::v1::ListRoutesRequest;
use switchyard_proto::gateway::v1::route_admin_client::RouteAdminClient;
use switchyard_proto::metering::v1::{Outcome, UsageRecord};
use switchyard_tests::{KeyedMesh, Mesh, Shape, both_shapes};

/// Models over the emulated upstream (`fail-500` always fails with 500,
/// `too-long` with context_length_exceeded, `bad-request` with a 400, `gpt-test`
/// answers).
const MODELS: &str = r#"
[[models]]
name = "resilient"
strategy = "ordered"
deployments = [{ provider = "upstream", model = "fail-500" }, { provider = "upstream", model = "gpt-test", price = { input_per_million = "0.15", output_per_million = "0.60" } }]

[[models]]
name = "primary-down"
deployments = [{ provider = "upstream", model = "fail-500" }]
fallbacks = ["chat-model"]

[[models]]
name = "all-down"
strategy = "ordered"
deployments = [{ provider = "upstream", model = "fail-500" }]
fallbacks = ["failing"]

[[models]]
name = "bad-then-good"
strategy = "ordered"
deployments = [{ provider = "upstream", model = "bad-request" }, { provider = "upstream", model = "gpt-test", price = { input_per_million = "0.15", output_per_million = "0.60" } }]

[[models]]
name = "capped-then-good"
strategy = "ordered"
deployments = [{ provider = "upstream", model = "over-quota" }, { provider = "upstream", model = "gpt-test", price = { input_per_million = "0.15", output_per_million = "0.60" } }]

[[models]]
name = "capped"
deployments = [{ provider = "upstream", model = "over-quota" }]

[[models]]
name = "slow-then-good"
strategy = "ordered"
deployments = [{ provider = "upstream", model = "hang" }, { provider = "upstream", model = "gpt-test", price = { input_per_million = "0.15", output_per_million = "0.60" } }]
timeouts = { first_token_ms = 300 }

[[models]]
name = "stalls"
deployments = [{ provider = "upstream", model = "hang" }]
timeouts = { stall_ms = 300 }

[[models]]
name = "regional"
deployments = [{ provider = "upstream", model = "gpt-test", tags = { region = "eu" }, price = { input_per_million = "0.15", output_per_million = "0.60" } }, { provider = "mock", model = "mock-1" }]

[[models]]
name = "ab"
sticky = "key"
deployments = [{ provider = "upstream", model = "gpt-test", price = { input_per_million = "0.15", output_per_million = "0.60" } }, { provider = "mock", model = "mock-1" }]

[[models]]
name = "small-context"
deployments = [{ provider = "upstream", model = "too-long" }]
context_fallback = "chat-model"

[[models]]
name = "hedged"
strategy = "ordered"
hedge_after_ms = 50
deployments = [{ provider = "upstream", model = "hang", price = { input_per_million = "0.15", output_per_million = "0.60" } }, { provider = "upstream", model = "gpt-test", price = { input_per_million = "0.15", output_per_million = "0.60" } }]

# A mock whose first token takes a minute: `hang` streams its first chunks at once.
[[providers]]
name = "slow"
kind = "mock"
latency_ms = 60000

[[models]]
name = "hedged-stream"
strategy = "ordered"
hedge_after_ms = 50
deployments = [{ provider = "slow", model = "slow-1", price = { input_per_million = "1", output_per_million = "2" } }, { provider = "upstream", model = "gpt-test", price = { input_per_million = "0.15", output_per_million = "0.60" } }]
"#;

/// The shared set-up, with this file's requests below.
struct Env(KeyedMesh);

impl std::ops::Deref for Env {
    type Target = KeyedMesh;
    fn deref(&self) -> &KeyedMesh {
        &self.0
    }
}

async fn env(shape: Shape, router_extra: &str) -> Env {
    Env(KeyedMesh::start(shape, "routing", router_extra, |_| MODELS.to_string()).await)
}

impl Env {
    /// A chat request, as sent.
    async fn request(&self, model: &str, stream: bool) -> reqwest::Response {
        self.post_chat(&json!({"model": model, "stream": stream,
            "messages": [{"role": "user", "content": "route me"}]}))
            .await
    }

    /// A non-streamed chat request's response.
    async fn send(&self, model: &str) -> reqwest::Response {
        self.request(model, false).await
    }

    /// A chat request; returns the status, the request id and the body.
    async fn chat(&self, model: &str, stream: bool) -> (u16, String, String) {
        let response = self.request(model, stream).await;
        let status = response.status().as_u16();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        (status, id, response.text().await.unwrap())
    }
}

fn attempts(record: &UsageRecord) -> Vec<(String, i32, String)> {
    record
        .attempts
        .iter()
        .map(|a| (a.upstream_model.clone(), a.outcome, a.error_reason.clone()))
        .collect()
}

async fn one_deployment_down_callers_see_no_errors(shape: Shape) {
    let env = env(shape, "").await;
    for stream in [false, true] {
        let (status, id, body) = env.chat("resilient", stream).await;
        assert_eq!(status, 200, "{body}");
        if stream {
            assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
        } else {
            let answer: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(answer["choices"][0]["message"]["content"], "echo: route me");
        }
        let record = env.mesh.wait_usage(&id).await;
        assert_eq!(record.upstream_model, "gpt-test");
        assert_eq!(record.outcome, Outcome::Ok as i32);
        assert_eq!(
            attempts(&record),
            vec![
                (
                    "fail-500".into(),
                    Outcome::Error as i32,
                    "UPSTREAM_UNAVAILABLE".into()
                ),
                ("gpt-test".into(), Outcome::Ok as i32, String::new()),
            ]
        );
        assert!(record.cost_micros > 0);
    }
    env.0.mesh.shutdown().await;
}

async fn a_fallback_model_answers_when_every_deployment_fails(shape: Shape) {
    let env = env(shape, "").await;
    let (status, id, body) = env.chat("primary-down", false).await;
    assert_eq!(status, 200, "{body}");
    let record = env.mesh.wait_usage(&id).await;
    assert_eq!(record.requested_model, "primary-down");
    assert_eq!(record.upstream_model, "gpt-test");
    assert_eq!(record.attempts.len(), 2);
    env.0.mesh.shutdown().await;
}

async fn all_down_is_one_clean_error_after_bounded_attempts(shape: Shape) {
    let env = env(shape, "").await;
    let (status, id, body) = env.chat("all-down", false).await;
    assert_eq!(status, 502, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["type"], "api_error");
    // fail-500, then the fallback model `failing` (fail-500): two attempts, no more.
    assert_eq!(env.upstream.models(), ["fail-500", "fail-500"]);
    let record = env.mesh.wait_usage(&id).await;
    assert_eq!(record.outcome, Outcome::Error as i32);
    assert_eq!(record.attempts.len(), 2);
    assert_eq!(record.cost_micros, 0);
    env.0.mesh.shutdown().await;
}

async fn an_account_out_of_credit_falls_over_like_an_outage(shape: Shape) {
    let env = env(shape, "").await;
    // A 429 `insufficient_quota` is the account's billing limit, not a rate limit
    // to wait out: the next deployment answers.
    let (status, id, body) = env.chat("capped-then-good", false).await;
    assert_eq!(status, 200, "{body}");
    let record = env.mesh.wait_usage(&id).await;
    assert_eq!(record.upstream_model, "gpt-test");
    assert_eq!(record.attempts.len(), 2);
    // With nowhere to go, callers see the gateway's unavailable error, without
    // the provider's billing text.
    let (status, _, body) = env.chat("capped", false).await;
    assert_eq!(status, 502, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("billing limit"), "{message}");
    assert!(
        !message.contains("exceeded your current quota"),
        "{message}"
    );
    env.0.mesh.shutdown().await;
}

async fn a_failure_no_retry_can_help_is_answered_at_once(shape: Shape) {
    let env = env(shape, "").await;
    let (status, _, body) = env.chat("bad-then-good", false).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(env.upstream.models(), ["bad-request"]);
    env.0.mesh.shutdown().await;
}

async fn a_prompt_too_long_moves_to_the_context_fallback(shape: Shape) {
    let env = env(shape, "").await;
    let (status, id, body) = env.chat("small-context", false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(env.upstream.models(), ["too-long", "gpt-test"]);
    let record = env.mesh.wait_usage(&id).await;
    assert_eq!(record.attempts[0].error_reason, "CONTEXT_LENGTH_EXCEEDED");
    env.0.mesh.shutdown().await;
}

async fn the_retry_budget_caps_load_on_a_failing_provider(shape: Shape) {
    // Retries may add 10 % to first attempts and nothing else: 20 requests to a
    // model whose deployment and fallback both fail may send 22 upstream requests,
    // not the 40 that two attempts each would.
    let env = env(
        shape,
        // Breakers off (they would stop the load sooner, and are tested apart).
        "retry_budget_percent = 10\nretry_budget_min_per_second = 0\nbreaker_failures = 1000\nbreaker_failure_rate_percent = 0",
    )
    .await;
    for _ in 0..20 {
        let (status, _, _) = env.chat("all-down", false).await;
        assert_eq!(status, 502);
    }
    let sent = env.upstream.models().len();
    assert!((20..=22).contains(&sent), "{sent} upstream requests");
    env.0.mesh.shutdown().await;
}

async fn an_open_breaker_skips_a_failing_deployment(shape: Shape) {
    let env = env(shape, "breaker_failures = 2\nbreaker_cooldown_ms = 60000").await;
    for _ in 0..5 {
        let (status, _, body) = env.chat("resilient", false).await;
        assert_eq!(status, 200, "{body}");
    }
    // Two failures opened the breaker; the three requests after went straight to
    // the healthy deployment.
    let failing = env
        .upstream
        .models()
        .iter()
        .filter(|m| *m == "fail-500")
        .count();
    assert_eq!(failing, 2);
    // Operators see it in the router's admin API (the admin token required).
    let mut admin = RouteAdminClient::new(Mesh::channel(env.mesh.grpc));
    let refused = admin
        .list_routes(tonic::Request::new(ListRoutesRequest {}))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let routes = admin
        .list_routes(Mesh::admin(ListRoutesRequest {}))
        .await
        .unwrap()
        .into_inner()
        .routes;
    let resilient = routes.iter().find(|r| r.model == "resilient").unwrap();
    assert_eq!(resilient.strategy, "ordered");
    let state = |model: &str| {
        resilient
            .deployments
            .iter()
            .find(|d| d.upstream_model == model)
            .unwrap()
            .clone()
    };
    let down = state("fail-500");
    assert_eq!(
        (down.breaker.as_str(), down.consecutive_failures),
        ("open", 2)
    );
    assert!(down.open_for_ms > 0);
    let up = state("gpt-test");
    assert_eq!(up.breaker, "closed");
    assert!(up.latency_ms.is_some());
    env.0.mesh.shutdown().await;
}

async fn all_down_is_a_fast_503_not_a_pile_up(shape: Shape) {
    let env = env(shape, "breaker_failures = 1\nbreaker_cooldown_ms = 60000").await;
    let (status, _, _) = env.chat("all-down", false).await;
    assert_eq!(status, 502);
    // Every deployment (the model's and its fallback's are the same one) is now
    // cooling down: later requests are answered without reaching the provider.
    for _ in 0..3 {
        let (status, _, body) = env.chat("all-down", false).await;
        assert_eq!(status, 503, "{body}");
        let error: Value = serde_json::from_str(&body).unwrap();
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("cooling down"),
            "{body}"
        );
    }
    assert_eq!(env.upstream.models(), ["fail-500"]);
    env.0.mesh.shutdown().await;
}

async fn a_providers_429_cools_the_deployment_for_its_retry_after(shape: Shape) {
    let env = env(shape, "").await;
    let first = env.send("limited").await;
    assert_eq!(first.status(), 429);
    assert_eq!(first.headers()["retry-after"], "7");
    // Within the 7 s the provider asked for, the gateway answers without asking.
    let second = env.send("limited").await;
    assert_eq!(second.status(), 429);
    let retry: u64 = second.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=7).contains(&retry), "{retry}");
    assert_eq!(env.upstream.models(), ["rate-limited"]);
    env.0.mesh.shutdown().await;
}

async fn a_slow_first_token_times_out_and_falls_back(shape: Shape) {
    let env = env(shape, "").await;
    let (status, id, body) = env.chat("slow-then-good", false).await;
    assert_eq!(status, 200, "{body}");
    let record = env.mesh.wait_usage(&id).await;
    assert_eq!(record.upstream_model, "gpt-test");
    assert_eq!(record.attempts[0].upstream_model, "hang");
    assert_eq!(record.attempts[0].error_reason, "UPSTREAM_TIMEOUT");
    env.upstream.release();
    env.0.mesh.shutdown().await;
}

async fn a_stalled_stream_ends_with_a_timeout_error_event(shape: Shape) {
    let env = env(shape, "").await;
    let (status, id, body) = env.chat("stalls", true).await;
    // The stream started (200), delivered its first chunks, then stalled.
    assert_eq!(status, 200);
    assert!(body.contains("\"role\":\"assistant\""), "{body}");
    assert!(!body.contains("[DONE]"), "{body}");
    let last = body
        .split("\n\n")
        .filter(|e| e.starts_with("data: "))
        .last()
        .unwrap();
    let event: Value = serde_json::from_str(&last["data: ".len()..]).unwrap();
    assert_eq!(event["error"]["code"], "timeout", "{last}");
    let record = env.mesh.wait_usage(&id).await;
    assert_eq!(record.outcome, Outcome::Error as i32);
    assert_eq!(record.error_reason, "UPSTREAM_TIMEOUT");
    env.upstream.release();
    env.0.mesh.shutdown().await;
}

async fn a_request_sets_its_own_timeout_by_header(shape: Shape) {
    let env = env(shape, "").await;
    let send = |value: &'static str| {
        env.http
            .post(format!("{}/v1/chat/completions", env.mesh.base_url()))
            .bearer_auth(&env.key)
            .header("x-switchyard-timeout-ms", value)
            .json(&json!({"model": "hang", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    let response = send("300").await.unwrap();
    assert_eq!(response.status(), 504);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "timeout");
    let response = send("soon").await.unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["param"], "x-switchyard-timeout-ms");
    env.upstream.release();
    env.0.mesh.shutdown().await;
}

async fn every_answer_says_what_served_it(shape: Shape) {
    let env = env(shape, "").await;
    let unary = env.send("resilient").await;
    let headers = unary.headers().clone();
    assert_eq!(headers["x-switchyard-provider"], "upstream");
    assert_eq!(headers["x-switchyard-upstream-model"], "gpt-test");
    assert_eq!(headers["x-switchyard-attempts"], "2");
    let cost: i64 = headers["x-switchyard-cost-micros"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(cost > 0);
    // Streams: known at the first chunk, so no cost (it is in the usage record).
    let streamed = env.request("resilient", true).await;
    assert_eq!(streamed.headers()["x-switchyard-attempts"], "2");
    assert_eq!(
        streamed.headers()["x-switchyard-upstream-model"],
        "gpt-test"
    );
    assert!(!streamed.headers().contains_key("x-switchyard-cost-micros"));
    assert!(
        streamed
            .text()
            .await
            .unwrap()
            .trim_end()
            .ends_with("[DONE]")
    );
    env.0.mesh.shutdown().await;
}

async fn request_tags_route_to_their_deployments(shape: Shape) {
    let env = env(shape, "").await;
    for _ in 0..5 {
        let tagged = env
            .http
            .post(format!("{}/v1/chat/completions", env.mesh.base_url()))
            .bearer_auth(&env.key)
            .header("x-switchyard-tags", "region=eu")
            .json(&json!({"model": "regional", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(tagged.headers()["x-switchyard-provider"], "upstream");
        // Untagged requests never use the deployment kept for the tag.
        let plain = env.send("regional").await;
        assert_eq!(plain.headers()["x-switchyard-provider"], "mock");
    }
    env.0.mesh.shutdown().await;
}

async fn a_sticky_split_keeps_each_caller_on_one_side(shape: Shape) {
    let env = env(shape, "").await;
    let (other_key, _) = env.mesh.create_key("routing-b", &[]).await;
    for key in [env.key.clone(), other_key] {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..8 {
            let response = env
                .http
                .post(format!("{}/v1/chat/completions", env.mesh.base_url()))
                .bearer_auth(&key)
                .json(&json!({"model": "ab", "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            seen.insert(response.headers()["x-switchyard-provider"].clone());
        }
        assert_eq!(seen.len(), 1, "{seen:?}");
    }
    env.0.mesh.shutdown().await;
}

/// Checks a hedged request's answer and record: served by `gpt-test` after the
/// first deployment (`loser`) was hedged and cancelled; the record bills the
/// loser's prompt on top of what the same request costs unhedged (`plain_cost`).
async fn check_hedged(env: &Env, model: &str, stream: bool, loser: &str, plain_cost: i64) {
    let response = env.request(model, stream).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["x-switchyard-upstream-model"], "gpt-test");
    assert_eq!(headers["x-switchyard-attempts"], "2");
    let id = headers["x-request-id"].to_str().unwrap().to_string();
    let body = response.text().await.unwrap();
    if stream {
        assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    } else {
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["choices"][0]["message"]["content"], "echo: route me");
    }
    let record = env.mesh.wait_usage(&id).await;
    assert_eq!(record.outcome, Outcome::Ok as i32);
    assert_eq!(record.upstream_model, "gpt-test");
    assert_eq!(
        attempts(&record),
        vec![
            (loser.into(), Outcome::Cancelled as i32, String::new()),
            ("gpt-test".into(), Outcome::Ok as i32, String::new()),
        ]
    );
    let (hedge, winner) = (&record.attempts[0], &record.attempts[1]);
    assert!(hedge.hedged && !winner.hedged);
    // The loser was sent the same prompt: billed at its own price.
    assert!(record.prompt_tokens > 0);
    assert_eq!(hedge.prompt_tokens, record.prompt_tokens);
    assert!(hedge.cost_micros > 0);
    assert_eq!(record.cost_micros, plain_cost + hedge.cost_micros);
}

async fn a_slow_first_deployment_is_hedged_and_both_are_billed(shape: Shape) {
    let env = env(shape, "").await;
    for stream in [false, true] {
        // The same request unhedged, for the winner's cost.
        let (status, id, body) = env.chat("chat-model", stream).await;
        assert_eq!(status, 200, "{body}");
        let plain = env.mesh.wait_usage(&id).await;
        assert!(plain.cost_micros > 0);
        if !stream {
            check_hedged(&env, "hedged", false, "hang", plain.cost_micros).await;
        }
        check_hedged(&env, "hedged-stream", stream, "slow-1", plain.cost_micros).await;
    }
    // Both deployments of `hedged` were sent the request.
    let sent = env.upstream.models();
    assert!(sent.iter().any(|m| m == "hang"), "{sent:?}");
    env.upstream.release();
    env.0.mesh.shutdown().await;
}

both_shapes!(
    a_slow_first_deployment_is_hedged_and_both_are_billed,
    request_tags_route_to_their_deployments,
    a_sticky_split_keeps_each_caller_on_one_side,
    every_answer_says_what_served_it,
    a_slow_first_token_times_out_and_falls_back,
    a_stalled_stream_ends_with_a_timeout_error_event,
    a_request_sets_its_own_timeout_by_header,
    a_providers_429_cools_the_deployment_for_its_retry_after,
    an_open_breaker_skips_a_failing_deployment,
    all_down_is_a_fast_503_not_a_pile_up,
    one_deployment_down_callers_see_no_errors,
    a_fallback_model_answers_when_every_deployment_fails,
    all_down_is_one_clean_error_after_bounded_attempts,
    a_failure_no_retry_can_help_is_answered_at_once,
    an_account_out_of_credit_falls_over_like_an_outage,
    a_prompt_too_long_moves_to_the_context_fallback,
    the_retry_budget_caps_load_on_a_failing_provider,
);
