//! Hot reload of providers, models and prices in a running `switchyard serve`:
//! a changed file applies by itself and SIGHUP reloads at once, requests in flight
//! finish on the config they started with, and a bad file is rejected (the old
//! config kept, the error logged with its key).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common;

use common::served::{Served, cli, config_head, serve, signal, sigterm, stdout};

/// The config: `[reload]` as given, the models after the fixed `slow` one.
fn write(path: &Path, dir: &Path, reload: &str, models: &str) {
    let text = format!(
        r#"{head}
[telemetry]
log_format = "json"
log_filter = "info"
[reload]
{reload}
[[providers]]
name = "mock"
kind = "mock"
tokens_per_second = 20
completion_tokens = 20
[[models]]
name = "slow"
deployments = [{{ provider = "mock", model = "mock-slow", price = {{ input_per_million = "1", output_per_million = "2" }} }}]
{models}
"#,
        head = config_head(dir)
    );
    // Replace the file at once, as an editor or a ConfigMap update does.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn model(name: &str) -> String {
    format!(
        "[[models]]\nname = \"{name}\"\ndeployments = [{{ provider = \"mock\", model = \"{name}-1\", price = {{ input_per_million = \"1\", output_per_million = \"2\" }} }}]\n"
    )
}

/// [`model`], its answers kept in the response cache for a minute.
fn cached_model(name: &str) -> String {
    model(name).replace("\ndeployments", "\ncache_ttl_secs = 60\ndeployments")
}

/// How the response cache met a unary chat to `model`.
async fn cache_of(served: &Served, key: &str, model: &str) -> String {
    let answer = chat(served, key, model, false).await;
    assert_eq!(answer.status(), 200);
    answer.headers()["x-switchyard-cache"]
        .to_str()
        .unwrap()
        .to_string()
}

async fn key(config: &str, served: &Served) -> String {
    let out = cli(config, &served.grpc, &["keys", "create", "--tenant", "t"]).await;
    stdout(&out).trim().to_string()
}

async fn models(served: &Served, key: &str) -> Vec<String> {
    let listed: Value = reqwest::Client::new()
        .get(format!("http://{}/v1/models", served.edge))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

/// Polls the listing (every 20 ms, at most 30 s) until `done` holds.
async fn until(served: &Served, key: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let listed = models(served, key).await;
        if done(&listed) {
            return listed;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "listing stayed {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn chat(served: &Served, key: &str, model: &str, stream: bool) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://{}/v1/chat/completions", served.edge))
        .bearer_auth(key)
        .json(&json!({
            "model": model,
            "stream": stream,
            "messages": [{"role": "user", "content": "hi"}],
        }))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_applies_without_dropping_requests_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    let reload = "watch_file = true\npoll_interval_ms = 50";
    write(&path, dir.path(), reload, &model("a"));
    let config = path.to_str().unwrap().to_string();
    let served = serve(&config).await;
    let key = key(&config, &served).await;
    assert_eq!(models(&served, &key).await, ["slow", "a"]);

    // A stream of about one second is running when the file changes: the new
    // config drops its model.
    let in_flight = chat(&served, &key, "slow", true).await;
    assert_eq!(in_flight.status(), 200);
    write(&path, dir.path(), reload, &model("b"));
    let listed = until(&served, &key, |l| l.iter().any(|m| m == "b")).await;
    assert_eq!(listed, ["slow", "b"]);
    served.log_line(|l| l["message"] == "config reloaded").await;
    // The stream finishes whole, on the config it started with.
    let body = in_flight.text().await.unwrap();
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    assert!(!body.contains("\"error\""), "{body}");
    // New requests follow the new config.
    assert_eq!(chat(&served, &key, "b", false).await.status(), 200);
    let gone = chat(&served, &key, "a", false).await;
    assert_eq!(gone.status(), 404);

    sigterm(&served.child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_a_bad_file_keeps_the_running_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    // No file watching: only the signal reloads.
    let reload = "watch_file = false";
    write(&path, dir.path(), reload, &cached_model("a"));
    let config = path.to_str().unwrap().to_string();
    let served = serve(&config).await;
    let key = key(&config, &served).await;
    assert_eq!(cache_of(&served, &key, "a").await, "miss");
    assert_eq!(cache_of(&served, &key, "a").await, "hit");

    // A bad file: a deployment naming a provider that does not exist.
    let bad = "[[models]]\nname = \"c\"\ndeployments = [{ provider = \"ghost\", model = \"x\" }]\n";
    write(&path, dir.path(), reload, bad);
    signal(&served.child, "HUP").await;
    let rejected = served
        .log_line(|l| l["message"] == "config reload rejected; keeping the running config")
        .await;
    let error = rejected["error"].as_str().unwrap();
    assert!(
        error.contains("models[1].deployments[0].provider"),
        "{error}"
    );
    assert_eq!(models(&served, &key).await, ["slow", "a"]);
    // Nothing was applied, so the kept answers stay.
    assert_eq!(cache_of(&served, &key, "a").await, "hit");

    // Fixed, and signalled: applied at once, and the kept answers are gone.
    let fixed = format!("{}{}", cached_model("a"), model("d"));
    write(&path, dir.path(), reload, &fixed);
    signal(&served.child, "HUP").await;
    let listed = until(&served, &key, |l| l.iter().any(|m| m == "d")).await;
    assert_eq!(listed, ["slow", "a", "d"]);
    assert_eq!(chat(&served, &key, "d", false).await.status(), 200);
    assert_eq!(cache_of(&served, &key, "a").await, "miss");
    assert_eq!(cache_of(&served, &key, "a").await, "hit");

    sigterm(&served.child).await;
}
