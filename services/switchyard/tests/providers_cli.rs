//! `switchyard providers check` against a mock, a provider refusing its key, an
//! address nothing listens on, and a provider no model uses.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// An HTTP server that answers every request with OpenAI's 401 body.
async fn refusing_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut seen = Vec::new();
                // Read the head and the body its content-length announces.
                loop {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen).to_string();
                    if let Some(head_end) = text.find("\r\n\r\n") {
                        let length = text[..head_end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if seen.len() >= head_end + 4 + length {
                            break;
                        }
                    }
                }
                let body = r#"{"error":{"message":"Incorrect API key provided: sk-wrong. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
                let response = format!(
                    "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/v1")
}

/// A loopback address nothing listens on (bound, then released).
fn closed_address() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/v1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_each_provider() {
    let refusing = refusing_server().await;
    let closed = closed_address();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        format!(
            r#"version = 1
[[providers]]
name = "local-mock"
kind = "mock"
[[providers]]
name = "wrong-key"
kind = "openai-compatible"
base_url = "{refusing}"
api_key_env = "CARGO_PKG_NAME"
vendor = "self-hosted"
[[providers]]
name = "gone"
kind = "openai-compatible"
base_url = "{closed}"
vendor = "self-hosted"
[[providers]]
name = "spare"
kind = "mock"
[[models]]
name = "a"
deployments = [{{ provider = "local-mock", model = "mock-1" }}]
[[models]]
name = "b"
deployments = [{{ provider = "wrong-key", model = "llama" }}]
[[models]]
name = "c"
deployments = [{{ provider = "gone", model = "llama" }}]
"#
        ),
    )
    .unwrap();
    let out = tokio::process::Command::new(BIN)
        .args([
            "--config",
            config.to_str().unwrap(),
            "providers",
            "check",
            "--json",
            "--timeout-secs",
            "10",
        ])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Unreachable or refused providers make the command fail, for scripts.
    assert!(!out.status.success(), "{stdout}");
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let row = |name: &str| {
        rows.iter()
            .find(|r| r["provider"] == name)
            .unwrap_or_else(|| panic!("no row for {name}: {stdout}"))
            .clone()
    };
    let mock = row("local-mock");
    assert_eq!(
        (
            &mock["reachable"],
            &mock["credential_accepted"],
            &mock["note"]
        ),
        (&true.into(), &true.into(), &"ok".into())
    );
    assert!(mock["latency_ms"].is_u64());
    let wrong = row("wrong-key");
    assert_eq!(wrong["reachable"], true);
    assert_eq!(wrong["credential_accepted"], false);
    // The key itself never reaches the output.
    assert!(!stdout.contains("switchyard-provider-adapter") && !stdout.contains("sk-wrong"));
    let gone = row("gone");
    assert_eq!(gone["reachable"], false);
    assert!(gone["credential_accepted"].is_null());
    let spare = row("spare");
    assert!(spare["reachable"].is_null());
    assert!(spare["note"].as_str().unwrap().contains("not asked"));
}
