//! Running a service binary in a test, as a user would (feature `testing`).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running binary and the address it logged as `serving`.
pub struct Running {
    /// The process (killed when dropped).
    pub child: Child,
    /// Its bound listener address.
    pub addr: String,
}

/// Starts `bin --config <config>` with JSON logs on stderr and waits (at most 60 s)
/// for its `serving` line. The config must set `[telemetry] log_format = "json"`.
pub async fn start(bin: &str, config: &Path, env: &[(&str, &str)]) -> Running {
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(config)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let Some(stderr) = child.stderr.take() else {
        panic!("{bin}: no stderr")
    };
    let mut lines = BufReader::new(stderr).lines();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if v["message"] == "serving"
                && let Some(addr) = v["addr"].as_str()
            {
                return addr.to_string();
            }
        }
        panic!("{bin} exited before serving");
    })
    .await
    .unwrap_or_else(|_| panic!("{bin} did not start within 60 s"));
    // Keep draining stderr so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Running { child, addr }
}

impl Running {
    /// Sends SIGTERM and waits (at most 30 s); true if it exited successfully.
    pub async fn terminate(mut self) -> bool {
        let Some(pid) = self.child.id() else {
            return false;
        };
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .is_ok_and(|s| s.success());
        if !sent {
            return false;
        }
        matches!(
            tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await,
            Ok(Ok(status)) if status.success()
        )
    }
}
