//! `switchyard serve` all-in-one as a user runs it: started on `127.0.0.1:0`
//! listeners named in its log, its log kept for assertions, and the CLI beside it.

use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

pub use super::BIN;

/// The admin token the served process and the CLI use.
pub const ADMIN: &str = "cli-test-admin";

pub struct Served {
    pub child: Child,
    pub edge: String,
    pub grpc: String,
    pub metrics: String,
    /// Every JSON log line after start-up.
    pub logs: Arc<Mutex<Vec<Value>>>,
}

impl Served {
    /// Waits (at most 30 s) for a log line `matches` accepts, and returns it.
    pub async fn log_line(&self, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(line) = self.logs.lock().unwrap().iter().find(|l| matches(l)) {
                return line.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no such log line within 30 s; logs: {:?}",
                self.logs.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The start of a config serving all-in-one on `127.0.0.1:0`, its data in
/// `dir`; the caller adds `[telemetry]` (JSON logs are required), providers and
/// models.
pub fn config_head(dir: &std::path::Path) -> String {
    format!(
        r#"
version = 1
[edge]
listen = "127.0.0.1:0"
[router]
listen = "127.0.0.1:0"
outbox_dir = "{d}/outbox"
[auth]
data_dir = "{d}/auth"
[metering]
data_dir = "{d}/metering"
"#,
        d = dir.display()
    )
}

/// Starts `switchyard serve` and waits for the log line that names its addresses.
pub async fn serve(config: &str) -> Served {
    start(config, &[], Stdio::inherit()).await
}

/// Starts `switchyard serve --stop-when-stdin-closes` on a pipe, and returns the
/// pipe's write end with it.
pub async fn serve_following_stdin(config: &str) -> (Served, ChildStdin) {
    let mut served = start(config, &["--stop-when-stdin-closes"], Stdio::piped()).await;
    let stdin = served.child.stdin.take().unwrap();
    (served, stdin)
}

async fn start(config: &str, args: &[&str], stdin: Stdio) -> Served {
    let mut child = Command::new(BIN)
        .args(["--config", config, "serve"])
        .args(args)
        .env("SWITCHYARD_ADMIN_TOKEN", ADMIN)
        .stdin(stdin)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = tokio::time::timeout(Duration::from_secs(60), async {
        let mut metrics = None;
        while let Some(line) = lines.next_line().await.unwrap() {
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if v["message"] == "metrics serving" {
                metrics = v["metrics"].as_str().map(str::to_string);
            }
            if v["message"] == "switchyard serving (all-in-one)" {
                return (
                    v["edge"].as_str().unwrap().to_string(),
                    v["grpc"].as_str().unwrap().to_string(),
                    metrics.unwrap_or_default(),
                );
            }
        }
        panic!("switchyard exited before serving");
    })
    .await
    .expect("switchyard did not start within 60 s");
    // Keep reading stderr so the child never blocks on a full pipe.
    let logs = Arc::new(Mutex::new(Vec::new()));
    let kept = logs.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                kept.lock().unwrap().push(v);
            }
        }
    });
    Served {
        child,
        edge: started.0,
        grpc: started.1,
        metrics: started.2,
        logs,
    }
}

/// Runs `switchyard <args>` against the served process's admin API.
pub async fn cli(config: &str, grpc: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["--config", config])
        .args(args)
        .env("SWITCHYARD_ADMIN_TOKEN", ADMIN)
        .env("SWITCHYARD_ADMIN_URL", format!("http://{grpc}"))
        .output()
        .await
        .unwrap()
}

/// A successful command's standard output.
pub fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Sends `signal` (`TERM`, `HUP`) to `child`.
pub async fn signal(child: &Child, signal: &str) {
    let pid = child.id().unwrap().to_string();
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .await
        .unwrap();
    assert!(status.success());
}

/// SIGTERM: a graceful drain.
pub async fn sigterm(child: &Child) {
    signal(child, "TERM").await;
}
