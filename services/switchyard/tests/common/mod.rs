//! A mesh of real `switchyard` processes for the tests that need separate
//! processes: listeners bound once by the test and handed to each (re)started
//! process (socket activation, `LISTEN_FDS`), so a restarted service is back at
//! the same address.
#![allow(dead_code)]

pub mod served;

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use command_fds::{CommandFdExt, FdMapping};
use sha2::{Digest, Sha256};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
pub const ADMIN: &str = "crash-test-admin";
/// One process of the mesh, restartable on the same sockets.
pub struct Proc {
    pub services: &'static str,
    pub sockets: Vec<Arc<std::net::TcpListener>>,
    pub config: PathBuf,
    pub log_dir: PathBuf,
    pub starts: usize,
    pub child: Option<Child>,
}

impl Proc {
    pub fn start(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(
            self.log_dir
                .join(format!("{}-{}.log", self.services, self.starts)),
        )
        .unwrap();
        let mappings = self
            .sockets
            .iter()
            .enumerate()
            .map(|(i, s)| FdMapping {
                parent_fd: s.as_fd().try_clone_to_owned().unwrap(),
                child_fd: 3 + i as i32,
            })
            .collect();
        let mut cmd = Command::new(BIN);
        cmd.args([
            "--config",
            self.config.to_str().unwrap(),
            "serve",
            "--services",
            self.services,
        ])
        .env("LISTEN_FDS", self.sockets.len().to_string())
        .env_remove("LISTEN_PID")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
        cmd.fd_mappings(mappings).unwrap();
        self.child = Some(cmd.spawn().unwrap());
    }

    pub async fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.start_kill().unwrap(); // SIGKILL
        child.wait().await.unwrap();
    }

    pub async fn terminate(&mut self) {
        let child = self.child.as_mut().unwrap();
        let pid = child.id().unwrap().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .await
                .unwrap()
                .success()
        );
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("no exit within 30 s of SIGTERM")
            .unwrap();
        assert!(status.success(), "{} exited with {status}", self.services);
        self.child = None;
    }
}

pub fn listener() -> (Arc<std::net::TcpListener>, String) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    (Arc::new(l), addr)
}

/// The config of a test mesh at `addrs`; a router's outbox lives in `dir/<outbox>`
/// (each router process needs its own).
pub fn write_config(dir: &Path, addrs: &HashMap<&str, String>, outbox: &str) -> PathBuf {
    let admin_hash: String = Sha256::digest(ADMIN.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let text = format!(
        r#"
version = 1
[edge]
listen = "{edge}"
router_url = "http://{router}"
metering_url = "http://{metering}"
[router]
listen = "{router}"
auth_url = "http://{auth}"
metering_url = "http://{metering}"
provider_url = "http://{provider}"
outbox_dir = "{d}/{outbox}"
stream_drain_timeout_ms = 1000
[auth]
listen = "{auth}"
data_dir = "{d}/auth"
[metering]
listen = "{metering}"
data_dir = "{d}/metering"
auth_url = "http://{auth}"
[provider_adapter]
listen = "{provider}"
[admin]
token_sha256 = "{admin_hash}"
[telemetry]
log_format = "json"
log_filter = "warn"
[[providers]]
name = "mock"
kind = "mock"
latency_ms = 3
completion_tokens = 8
[[models]]
name = "m"
deployments = [{{ provider = "mock", model = "mock-1", price = {{ input_per_million = "3", output_per_million = "15" }} }}]
[[models]]
name = "priced"
deployments = [{{ provider = "mock", model = "mock-1", price = {{ input_per_million = "0", output_per_million = "1000" }} }}]
"#,
        edge = addrs["edge"],
        router = addrs["router"],
        auth = addrs["auth"],
        metering = addrs["metering"],
        provider = addrs["provider"],
        d = dir.display(),
    );
    let path = dir.join(format!("switchyard-{outbox}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

pub fn admin<T>(message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {ADMIN}").parse().unwrap());
    r
}
