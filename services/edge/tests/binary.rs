//! The `switchyard-edge` binary on its own: liveness without a router, and a clean
//! OpenAI-format 503 (not a hang or a panic) while the router is unreachable.
#![allow(clippy::unwrap_used, missing_docs)]

use switchyard_bootstrap::testing;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard-edge");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_alone_and_reports_an_unreachable_router() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: bind one, then drop it.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = dir.path().join("edge.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\n[edge]\nlisten = \"127.0.0.1:0\"\nrouter_url = \"http://{dead}\"\n\
             [telemetry]\nlog_format = \"json\"\n"
        ),
    )
    .unwrap();
    let running = testing::start(BIN, &config, &[]).await;
    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://{}/healthz", running.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let resp = http
        .post(format!("http://{}/v1/chat/completions", running.addr))
        .bearer_auth("sy_anything")
        .json(&serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "api_error", "{body}");
    assert!(running.terminate().await, "graceful exit");
}
