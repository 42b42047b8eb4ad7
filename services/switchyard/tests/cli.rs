//! The `switchyard` binary as a user runs it: serve, keys, usage, bad config, and a
//! graceful SIGTERM drain that loses no usage.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use crate::common;

use common::served::{BIN, cli, config_head, serve, serve_following_stdin, sigterm, stdout};

fn write_config(dir: &Path) -> String {
    let path = dir.join("switchyard.toml");
    let text = format!(
        r#"{head}
[telemetry]
log_format = "json"
metrics_listen = "127.0.0.1:0"
[[providers]]
name = "mock"
kind = "mock"
tokens_per_second = 40
completion_tokens = 20
[[models]]
name = "mock-chat"
deployments = [{{ provider = "mock", model = "mock-1", price = {{ input_per_million = "1", output_per_million = "2" }} }}]
"#,
        head = config_head(dir)
    );
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_usage_and_graceful_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let mut served = serve(&config).await;

    // keys create prints only the key on stdout.
    let key = stdout(
        &cli(
            &config,
            &served.grpc,
            &["keys", "create", "--tenant", "demo", "--name", "laptop"],
        )
        .await,
    )
    .trim()
    .to_string();
    assert!(key.starts_with("sy_"), "{key}");
    let listed = stdout(&cli(&config, &served.grpc, &["keys", "list"]).await);
    assert!(
        listed.contains("demo") && listed.contains("active"),
        "{listed}"
    );
    assert!(!listed.contains(&key), "listing must never show the secret");

    // Tenants, key updates, rotation and the audit trail.
    let run = |args: &'static [&'static str]| cli(&config, &served.grpc, args);
    let tenant = stdout(
        &run(&[
            "tenants",
            "create",
            "team-a",
            "--rpm",
            "60",
            "--budget-usd",
            "12.50",
            "--budget-period",
            "monthly",
            "--alert-percent",
            "80",
            "--label",
            "env=prod",
        ])
        .await,
    );
    assert!(
        tenant.contains("rpm=60") && tenant.contains("$12.500000 monthly alert@80%"),
        "{tenant}"
    );
    let refused = run(&["keys", "create", "--tenant", "nobody", "--existing-tenant"]).await;
    assert!(!refused.status.success());
    let second = stdout(
        &run(&[
            "keys",
            "create",
            "--tenant",
            "team-a",
            "--existing-tenant",
            "--models",
            "mock-*",
        ])
        .await,
    )
    .trim()
    .to_string();
    let id = second["sy_".len()..].split('_').next().unwrap().to_string();
    let updated = stdout(
        &cli(
            &config,
            &served.grpc,
            &["keys", "update", &id, "--tpm", "1000"],
        )
        .await,
    );
    assert!(
        updated.contains("tpm=1000") && updated.contains("mock-*"),
        "{updated}"
    );
    let rotated = stdout(
        &cli(
            &config,
            &served.grpc,
            &["keys", "rotate", &id, "--overlap-hours", "0"],
        )
        .await,
    )
    .trim()
    .to_string();
    assert!(rotated.starts_with("sy_") && rotated != second, "{rotated}");
    let team_keys = stdout(&run(&["keys", "list", "--tenant", "team-a"]).await);
    assert!(team_keys.contains("rotated"), "{team_keys}");
    let target = format!("key:{id}");
    let audit = stdout(
        &cli(
            &config,
            &served.grpc,
            &["audit", "--target", &target, "--json"],
        )
        .await,
    );
    let actions: Vec<String> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["action"].to_string())
        .collect();
    assert_eq!(
        actions,
        [
            r#""KeyAdmin.RotateKey""#,
            r#""KeyAdmin.UpdateKey""#,
            r#""KeyAdmin.CreateKey""#
        ],
        "{audit}"
    );
    assert!(!audit.contains(&second) && !audit.contains(&rotated));
    let disabled = stdout(&run(&["tenants", "disable", "team-a"]).await);
    assert!(disabled.contains("disabled"), "{disabled}");

    // A streaming request in flight when SIGTERM arrives completes normally.
    let http = reqwest::Client::new();
    let mut resp = http
        .post(format!("http://{}/v1/chat/completions", served.edge))
        .bearer_auth(&key)
        .json(&serde_json::json!({"model": "mock-chat", "stream": true,
            "messages": [{"role": "user", "content": "drain me"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let mut body = String::from_utf8(resp.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    sigterm(&served.child).await;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        body.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(
        body.trim_end().ends_with("data: [DONE]"),
        "stream cut by shutdown: {body}"
    );
    let status = tokio::time::timeout(Duration::from_secs(30), served.child.wait())
        .await
        .expect("no exit within 30 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "exit status {status}");

    // Restart on the same data: the key still works and the drained request's usage
    // was delivered and flushed before exit.
    served = serve(&config).await;
    let usage = stdout(&cli(&config, &served.grpc, &["usage", "--json"]).await);
    let records: Vec<Value> = usage
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "{usage}");
    assert_eq!(records[0]["request_id"], request_id.as_str());
    assert_eq!(records[0]["completion_tokens"], 20);
    assert_eq!(records[0]["outcome"], "ok");
    assert_eq!(records[0]["tenant"], "demo");
    // The router's routes and what it knows of each deployment.
    let routes = stdout(&cli(&config, &served.grpc, &["routes", "--json"]).await);
    let first: serde_json::Value = serde_json::from_str(routes.lines().next().unwrap()).unwrap();
    assert_eq!(first["breaker"], "closed", "{routes}");
    assert!(
        first["model"].is_string() && first["provider"].is_string(),
        "{routes}"
    );
    let table = stdout(&cli(&config, &served.grpc, &["usage"]).await);
    assert!(
        table.contains(&request_id) && table.contains("mock-chat"),
        "{table}"
    );

    // Metrics: the routed request is counted, the outbox is visible.
    let resp = http
        .post(format!("http://{}/v1/chat/completions", served.edge))
        .bearer_auth(&key)
        .json(&serde_json::json!({"model": "mock-chat", "messages": [{"role": "user", "content": "count me"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let metrics = http
        .get(format!("http://{}/metrics", served.metrics))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let requests = metrics
        .lines()
        .find(|l| {
            l.starts_with("switchyard_requests_total{")
                && l.contains(r#"model="mock-chat""#)
                && l.contains(r#"outcome="ok""#)
        })
        .unwrap_or_else(|| panic!("no request counter in:\n{metrics}"));
    assert!(requests.ends_with(" 1"), "{requests}");
    assert!(
        metrics.contains("switchyard_usage_outbox_records"),
        "{metrics}"
    );

    // Revoke: the key stops working at once.
    let key_id = listed
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    stdout(&cli(&config, &served.grpc, &["keys", "revoke", &key_id]).await);
    let resp = http
        .get(format!("http://{}/v1/models", served.edge))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // The admin API refuses a wrong token.
    let out = Command::new(BIN)
        .args(["--config", &config, "keys", "list"])
        .env("SWITCHYARD_ADMIN_TOKEN", "wrong")
        .env("SWITCHYARD_ADMIN_URL", format!("http://{}", served.grpc))
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("INVALID_API_KEY"));
    sigterm(&served.child).await;
    assert!(served.child.wait().await.unwrap().success());
}

/// `serve --stop-when-stdin-closes` keeps serving while its stdin is open (what
/// is written is ignored), and drains and exits cleanly once the pipe closes, as
/// when the parent holding it dies, however it dies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdin_stops_a_server_that_follows_it() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let (mut served, mut stdin) = serve_following_stdin(&config).await;
    stdin.write_all(b"anything\n").await.unwrap();
    stdin.flush().await.unwrap();
    let key = stdout(&cli(&config, &served.grpc, &["keys", "create", "--tenant", "t"]).await);
    assert!(key.trim().starts_with("sy_"), "{key}");
    assert!(
        served.child.try_wait().unwrap().is_none(),
        "stopped while its stdin was open"
    );

    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(30), served.child.wait())
        .await
        .expect("no exit within 30 s of stdin closing")
        .unwrap();
    assert!(status.success(), "{status}");
    served
        .log_line(|l| l["message"] == "standard input closed: draining in-flight requests")
        .await;
}

#[tokio::test]
async fn bad_config_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("version = 1\n[router]\nlisen = \"x\"\n", "router"),
        (
            "version = 1\n[edge]\nmax_body_bytes = \"big\"\n",
            "edge.max_body_bytes",
        ),
        (
            "version = 1\n[[models]]\nname = \"m\"\ndeployments = [{ provider = \"ghost\", model = \"x\" }]\n",
            "models[0].deployments[0].provider",
        ),
        (
            "version = 1\n[[providers]]\nname = \"o\"\nkind = \"openai-compatible\"\n",
            "providers[0].base_url",
        ),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let out = Command::new(BIN)
            .args(["--config", path.to_str().unwrap(), "serve"])
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "expected `{key}` in: {stderr}");
    }
    let out = Command::new(BIN)
        .args(["--config", "/nonexistent.toml", "serve"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.toml"));
}
