//! A Switchyard shape under test, run as child processes of the bench (this same
//! executable with `serve`), so each process's memory can be read:
//!
//! - all-in-one: one `serve` process (edge and router listeners);
//! - five-process: `serve --services <one>` for auth, metering, provider-adapter,
//!   router and edge, reaching each other over loopback gRPC.
//!
//! The bench binds every listener on `127.0.0.1:0` and passes each process its own
//! by socket activation (`LISTEN_FDS`, from fd 3, in the order edge, router, auth,
//! metering, provider-adapter of the services it runs), so nothing races for a
//! port. Ready means every gRPC listener answers the health check SERVING and the
//! edge's `/healthz` answers 200, within a deadline; there is no fixed sleep.
//! Children are killed when the gateway is stopped or dropped, and the temporary
//! directory (config, state, logs) is removed. Each child also holds the read end
//! of a pipe from the bench as its stdin (`serve --stop-when-stdin-closes`), so
//! it stops when the bench exits however it exits, a SIGKILL included.

use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use command_fds::{CommandFdExt, FdMapping};
use switchyard::Service;
use switchyard_proto::auth::v1::CreateKeyRequest;
use switchyard_proto::auth::v1::key_admin_client::KeyAdminClient;
use switchyard_proto::metering::v1::SummarizeUsageRequest;
use switchyard_proto::metering::v1::usage_query_client::UsageQueryClient;
use tokio::process::{Child, ChildStdin, Command};
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::cases::Shape;
use super::config::{self, ADMIN_TOKEN_ENV, Addrs, UPSTREAM_KEY_ENV};
use super::ledger::Seed;
use super::rss::{self, Rss};

/// One child process of a shape.
pub struct Process {
    /// What it runs: `all` or one service name.
    pub services: &'static str,
    /// Its pid.
    pub pid: u32,
    /// Its memory right after it became ready.
    pub idle: Rss,
    child: Child,
    /// The write end of the child's stdin, never written: it closes with the
    /// bench, however the bench exits, and the child stops then.
    _lifeline: ChildStdin,
    log: PathBuf,
}

/// A running gateway shape.
pub struct Gateway {
    /// Edge HTTP address.
    pub edge: SocketAddr,
    /// Router gRPC address (the public Gateway API).
    pub grpc: SocketAddr,
    /// Where `KeyAdmin` is served: the router all-in-one, auth when split.
    key_admin: SocketAddr,
    /// Where `UsageQuery` is served: the router all-in-one, metering when split.
    usage_query: SocketAddr,
    /// gRPC listeners to check for readiness.
    grpc_listeners: Vec<SocketAddr>,
    admin_token: String,
    /// The child processes, in start order.
    pub processes: Vec<Process>,
    dir: tempfile::TempDir,
}

/// A random token for this run (the admin API only listens on loopback, but a
/// fixed token would let any local user in during the run).
fn random_token() -> String {
    let state = std::collections::hash_map::RandomState::new();
    let a = state.hash_one(std::process::id());
    let b = state.hash_one(std::time::SystemTime::now());
    format!("bench-{a:016x}{b:016x}")
}

fn bind() -> anyhow::Result<(std::net::TcpListener, SocketAddr)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// The last lines of a child's log, for an error message.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

impl Gateway {
    /// Starts `shape` (not `Direct`) against the emulated upstream at
    /// `upstream_base_url`, and waits until it is ready or `deadline` passes.
    pub async fn start(
        shape: Shape,
        upstream_base_url: &str,
        upstream_key: &str,
        deadline: Duration,
        seed: Option<&Seed>,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("switchyard-bench-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        if let Some(seed) = seed {
            // The config names this directory as `metering.data_dir`.
            seed.copy_to(&dir.path().join("metering"))?;
        }
        let (edge_l, edge) = bind()?;
        let (router_l, router) = bind()?;
        let (auth_l, auth) = bind()?;
        let (metering_l, metering) = bind()?;
        let (provider_l, provider) = bind()?;
        let addrs = Addrs {
            edge,
            router,
            auth,
            metering,
            provider,
        };
        let config_path = dir.path().join("switchyard.toml");
        std::fs::write(
            &config_path,
            config::text(dir.path(), &addrs, upstream_base_url),
        )
        .context("cannot write the bench config")?;
        let exe = std::env::current_exe().context("cannot find the switchyard executable")?;
        let admin_token = random_token();
        type Plan = Vec<(&'static str, Vec<std::net::TcpListener>)>;
        let (plan, key_admin, usage_query, grpc_listeners): (Plan, _, _, _) = match shape {
            Shape::Direct => bail!("the direct path has no gateway to start"),
            Shape::AllInOne => (
                vec![("all", vec![edge_l, router_l])],
                router,
                router,
                vec![router],
            ),
            Shape::FiveProcess => (
                vec![
                    (Service::Auth.name(), vec![auth_l]),
                    (Service::Metering.name(), vec![metering_l]),
                    (Service::ProviderAdapter.name(), vec![provider_l]),
                    (Service::Router.name(), vec![router_l]),
                    (Service::Edge.name(), vec![edge_l]),
                ],
                auth,
                metering,
                vec![auth, metering, provider, router],
            ),
        };
        let mut gateway = Gateway {
            edge,
            grpc: router,
            key_admin,
            usage_query,
            grpc_listeners,
            admin_token,
            processes: Vec::new(),
            dir,
        };
        for (services, sockets) in plan {
            let process = gateway.spawn(&exe, &config_path, services, &sockets, upstream_key)?;
            gateway.processes.push(process);
        }
        gateway.wait_ready(Instant::now() + deadline).await?;
        for process in &mut gateway.processes {
            process.idle = rss::read(process.pid);
        }
        Ok(gateway)
    }

    fn spawn(
        &self,
        exe: &Path,
        config_path: &Path,
        services: &'static str,
        sockets: &[std::net::TcpListener],
        upstream_key: &str,
    ) -> anyhow::Result<Process> {
        let log = self.dir.path().join(format!("{services}.log"));
        let log_file = std::fs::File::create(&log).context("cannot create a child log")?;
        let mut mappings = Vec::new();
        for (i, socket) in sockets.iter().enumerate() {
            mappings.push(FdMapping {
                parent_fd: socket.as_fd().try_clone_to_owned()?,
                child_fd: 3 + i32::try_from(i)?,
            });
        }
        let mut cmd = Command::new(exe);
        cmd.arg("--config")
            .arg(config_path)
            .args(["serve", "--services", services, "--stop-when-stdin-closes"])
            .env("LISTEN_FDS", sockets.len().to_string())
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .env(ADMIN_TOKEN_ENV, &self.admin_token)
            .env(UPSTREAM_KEY_ENV, upstream_key)
            // The bench's config is the whole truth: no overrides, the `warn` filter.
            .env_remove("RUST_LOG")
            .env_remove("SWITCHYARD_CONFIG")
            // The child stops when this pipe closes: when the bench exits, even
            // killed with SIGKILL, which `kill_on_drop` cannot cover.
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true);
        for (var, _) in std::env::vars_os() {
            if var.to_string_lossy().starts_with("SWITCHYARD__") {
                cmd.env_remove(var);
            }
        }
        cmd.fd_mappings(mappings)
            .context("cannot pass the listeners to a child")?;
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start `switchyard serve --services {services}`"))?;
        let pid = child.id().context("a child exited at once")?;
        let lifeline = child
            .stdin
            .take()
            .context("a child without its stdin pipe")?;
        Ok(Process {
            services,
            pid,
            idle: Rss::default(),
            child,
            _lifeline: lifeline,
            log,
        })
    }

    /// Fails with the child's log if any child has exited.
    fn check_alive(&mut self) -> anyhow::Result<()> {
        for p in &mut self.processes {
            if let Some(status) = p.child.try_wait()? {
                bail!(
                    "`switchyard serve --services {}` exited ({status}); its log:\n{}",
                    p.services,
                    log_tail(&p.log)
                );
            }
        }
        Ok(())
    }

    async fn wait_ready(&mut self, deadline: Instant) -> anyhow::Result<()> {
        let http = super::client::http_client();
        let healthz: http::Uri = format!("http://{}/healthz", self.edge).parse()?;
        let mut pending = self.grpc_listeners.clone();
        let mut edge_ready = false;
        loop {
            self.check_alive()?;
            let mut still = Vec::new();
            for addr in pending {
                if !serving(addr).await {
                    still.push(addr);
                }
            }
            pending = still;
            if !edge_ready {
                edge_ready = super::client::get_succeeds(&http, &healthz).await;
            }
            if pending.is_empty() && edge_ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = self
                    .processes
                    .iter()
                    .map(|p| format!("--- {} ---\n{}", p.services, log_tail(&p.log)))
                    .collect();
                bail!(
                    "the gateway was not ready in time (gRPC not serving: {pending:?}, edge ready: {edge_ready}); logs:\n{}",
                    logs.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Creates a virtual key (tenant `bench`, no limits) through the KeyAdmin API and
    /// returns its secret.
    pub async fn create_key(&self) -> anyhow::Result<String> {
        let channel = connect(self.key_admin).await?;
        let mut request = tonic::Request::new(CreateKeyRequest {
            tenant: "bench".into(),
            name: "bench".into(),
            create_tenant: true,
            ..Default::default()
        });
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", self.admin_token).parse()?,
        );
        let created = KeyAdminClient::new(channel)
            .create_key(request)
            .await
            .map_err(|s| anyhow::anyhow!("creating the bench key: {s}"))?;
        Ok(created.into_inner().secret)
    }

    /// A reader of this gateway's ledger, for [`UsageProbe::settle`].
    pub async fn usage_probe(&self) -> anyhow::Result<UsageProbe> {
        Ok(UsageProbe {
            client: UsageQueryClient::new(connect(self.usage_query).await?),
            admin_token: self.admin_token.clone(),
        })
    }

    /// Each process's memory now (`peak_kib` is the high-water mark since start).
    pub fn memory(&self) -> Vec<(&'static str, u32, Rss, Rss)> {
        self.processes
            .iter()
            .map(|p| (p.services, p.pid, p.idle, rss::read(p.pid)))
            .collect()
    }

    /// The child processes' ids, whose CPU time the bench reads around a load.
    pub fn pids(&self) -> Vec<u32> {
        self.processes.iter().map(|p| p.pid).collect()
    }

    /// Kills every child, waits for them (bounded), removes the directory.
    pub async fn stop(mut self) {
        for p in &mut self.processes {
            let _ = p.child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), p.child.wait()).await;
        }
    }
}

/// A connected channel to `addr`, with a short connect timeout.
pub async fn connect(addr: SocketAddr) -> anyhow::Result<Channel> {
    Endpoint::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .with_context(|| format!("cannot connect to {addr}"))
}

/// How often [`UsageProbe::settle`] reads the ledger: it is settled when two reads
/// this far apart agree (the router ships usage at least every 50 ms).
const SETTLE_STEP: Duration = Duration::from_millis(500);

/// Reads how many of the bench tenant's requests a gateway's ledger holds.
#[derive(Clone)]
pub struct UsageProbe {
    client: UsageQueryClient<Channel>,
    admin_token: String,
}

impl UsageProbe {
    async fn requests(&self) -> anyhow::Result<u64> {
        let mut request = tonic::Request::new(SummarizeUsageRequest {
            tenant: "bench".into(),
            ..Default::default()
        });
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", self.admin_token).parse()?,
        );
        let summary = self
            .client
            .clone()
            .summarize_usage(request)
            .await
            .map_err(|s| anyhow::anyhow!("reading the bench tenant's usage: {s}"))?;
        Ok(summary
            .into_inner()
            .total
            .map_or(0, |totals| totals.requests))
    }

    /// Waits until the ledger stops growing — the usage of earlier loads is all
    /// delivered, so delivering it does not compete with the next load — for at
    /// most `limit`. Returns how long that took.
    pub async fn settle(&self, limit: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let mut last = self.requests().await?;
        loop {
            tokio::time::sleep(SETTLE_STEP).await;
            let now = self.requests().await?;
            if now == last || started.elapsed() >= limit {
                return Ok(started.elapsed());
            }
            last = now;
        }
    }
}

/// Whether `addr` answers the gRPC health check with SERVING.
async fn serving(addr: SocketAddr) -> bool {
    let Ok(channel) = connect(addr).await else {
        return false;
    };
    let mut client = HealthClient::new(channel);
    let check = client.check(HealthCheckRequest {
        service: String::new(),
    });
    match tokio::time::timeout(Duration::from_secs(1), check).await {
        Ok(Ok(response)) => response.into_inner().status == ServingStatus::Serving as i32,
        _ => false,
    }
}
