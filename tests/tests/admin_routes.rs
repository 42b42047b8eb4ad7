//! `GET /admin/v1/routes` through the real mesh (both shapes): the edge forwards to
//! the router's `RouteAdmin`, so operators see every model's strategy, fallbacks
//! and each deployment's breaker, failures, failure rate, in-flight count and
//! latency over HTTP, and only with the admin token.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use serde_json::{Value, json};
use switchyard_tests::{ADMIN_TOKEN, KeyedMesh, Shape, both_shapes};

/// `fail-500` always fails with a 500; `gpt-test` answers.
const MODELS: &str = r#"
[[models]]
name = "resilient"
strategy = "ordered"
deployments = [{ provider = "upstream", model = "fail-500" }, { provider = "upstream", model = "gpt-test", price = { input_per_million = "0.15", output_per_million = "0.60" } }]
fallbacks = ["mock-model"]
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
    Env(KeyedMesh::start(shape, "admin-routes", router_extra, |_| MODELS.to_string()).await)
}

impl Env {
    /// A chat request to `model`; every one must be answered.
    async fn chat(&self, model: &str) {
        let response = self
            .post_chat(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .await;
        let status = response.status();
        assert_eq!(status, 200, "{}", response.text().await.unwrap());
    }

    /// `GET /admin/v1/routes` with `authorization` (if any): status, cache-control
    /// and body.
    async fn routes(&self, authorization: Option<&str>) -> (u16, Option<String>, Value) {
        let mut request = self
            .http
            .get(format!("{}/admin/v1/routes", self.mesh.base_url()));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let cache = response
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_string());
        (status, cache, response.json().await.unwrap())
    }

    /// The admin view of `model`.
    async fn route(&self, model: &str) -> Value {
        let (status, cache, body) = self.routes(Some(&admin())).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(cache.as_deref(), Some("no-store"));
        body["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["model"] == model)
            .unwrap_or_else(|| panic!("no route {model} in {body}"))
            .clone()
    }

    fn upstream_count(&self, model: &str) -> usize {
        self.upstream
            .models()
            .iter()
            .filter(|m| *m == model)
            .count()
    }
}

fn admin() -> String {
    format!("Bearer {ADMIN_TOKEN}")
}

fn deployment<'a>(route: &'a Value, upstream_model: &str) -> &'a Value {
    route["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["upstream_model"] == upstream_model)
        .unwrap_or_else(|| panic!("no deployment {upstream_model} in {route}"))
}

async fn lists_models_deployments_and_an_open_breaker(shape: Shape) {
    let env = env(shape, "breaker_failures = 2\nbreaker_cooldown_ms = 60000").await;
    // Before any traffic: every configured model, every breaker closed.
    let (status, _, body) = env.routes(Some(&admin())).await;
    assert_eq!(status, 200, "{body}");
    let models: Vec<&str> = body["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["model"].as_str().unwrap())
        .collect();
    for model in ["chat-model", "failing", "mock-model", "resilient"] {
        assert!(models.contains(&model), "{model} missing from {models:?}");
    }
    let resilient = env.route("resilient").await;
    assert_eq!(resilient["strategy"], "ordered");
    assert_eq!(resilient["fallbacks"], json!(["mock-model"]));
    assert_eq!(resilient["deployments"].as_array().unwrap().len(), 2);
    let down = deployment(&resilient, "fail-500");
    assert_eq!(down["provider"], "upstream");
    assert_eq!(down["weight"], 1);
    assert_eq!(down["breaker"], "closed");
    assert_eq!(down["consecutive_failures"], 0);
    assert_eq!(down["latency_ms"], Value::Null);
    assert_eq!(down["failure_rate_percent"], Value::Null);
    let mock = env.route("mock-model").await;
    assert_eq!(deployment(&mock, "mock-1")["provider"], "mock");

    // Two failures open the failing deployment; callers are served by the next.
    for _ in 0..4 {
        env.chat("resilient").await;
    }
    assert_eq!(env.upstream_count("fail-500"), 2);
    let resilient = env.route("resilient").await;
    let down = deployment(&resilient, "fail-500");
    assert_eq!(down["breaker"], "open", "{resilient}");
    assert_eq!(down["consecutive_failures"], 2);
    assert!(down["open_for_ms"].as_u64().unwrap() > 0, "{down}");
    assert_eq!(down["window_attempts"], 2);
    assert_eq!(down["failure_rate_percent"], 100.0);
    assert_eq!(down["in_flight"], 0);
    let up = deployment(&resilient, "gpt-test");
    assert_eq!(up["breaker"], "closed");
    assert_eq!(up["consecutive_failures"], 0);
    assert!(up["latency_ms"].as_f64().is_some(), "{up}");
    assert_eq!(up["window_attempts"], 4);
    assert_eq!(up["failure_rate_percent"], 0.0);
    env.0.mesh.shutdown().await;
}

async fn a_failure_rate_opens_the_breaker(shape: Shape) {
    // Consecutive failures would need 1000: only the failure rate can trip here,
    // once four attempts fell in the window.
    let env = env(
        shape,
        "breaker_failures = 1000\nbreaker_cooldown_ms = 60000\n\
         breaker_failure_rate_percent = 50\nbreaker_min_requests = 4\nbreaker_window_ms = 60000",
    )
    .await;
    for _ in 0..3 {
        env.chat("resilient").await;
    }
    let route = env.route("resilient").await;
    let down = deployment(&route, "fail-500");
    assert_eq!(down["breaker"], "closed", "{route}");
    assert_eq!(down["window_attempts"], 3);
    for _ in 0..4 {
        env.chat("resilient").await;
    }
    // The fourth failure tripped it; later requests skipped the deployment.
    assert_eq!(env.upstream_count("fail-500"), 4);
    let route = env.route("resilient").await;
    let down = deployment(&route, "fail-500");
    assert_eq!(down["breaker"], "open", "{route}");
    assert_eq!(down["failure_rate_percent"], 100.0);
    assert_eq!(down["window_attempts"], 4);
    env.0.mesh.shutdown().await;
}

async fn a_missing_or_wrong_admin_token_is_refused(shape: Shape) {
    let env = env(shape, "").await;
    let key = format!("Bearer {}", env.key);
    for authorization in [None, Some("Bearer not-the-admin-token"), Some(key.as_str())] {
        let (status, _, body) = env.routes(authorization).await;
        assert_eq!(status, 401, "{authorization:?}: {body}");
        assert_eq!(body["error"]["type"], "authentication_error", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    // Query parameters are read strictly, as on every admin route.
    let response = env
        .http
        .get(format!("{}/admin/v1/routes?model=x", env.mesh.base_url()))
        .header("authorization", admin())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["param"], "model", "{body}");
    env.0.mesh.shutdown().await;
}

both_shapes!(
    lists_models_deployments_and_an_open_breaker,
    a_failure_rate_opens_the_breaker,
    a_missing_or_wrong_admin_token_is_refused,
);
