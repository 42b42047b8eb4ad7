//! The whole gateway on `127.0.0.1:0` listeners, in either shape.

use std::net::SocketAddr;
use std::time::Duration;

use sha2::{Digest, Sha256};
use switchyard::{Listeners, Service, ServiceSet};
use switchyard_grpc::GrpcChannel;
use switchyard_proto::auth::v1::CreateKeyRequest;
use switchyard_proto::auth::v1::key_admin_client::KeyAdminClient;
use switchyard_proto::metering::v1::usage_query_client::UsageQueryClient;
use switchyard_proto::metering::v1::{GetUsageRequest, ListUsageRequest, UsageRecord};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The admin token of every test mesh (configured only as its SHA-256).
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// How the services are deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One `run` with every service, wired in-process.
    AllInOne,
    /// Five `run`s, one service each, talking gRPC over loopback sockets.
    Split,
}

/// A running gateway.
pub struct Mesh {
    pub shape: Shape,
    /// Edge HTTP address.
    pub edge: SocketAddr,
    /// Public gRPC (Gateway) address.
    pub grpc: SocketAddr,
    /// Where KeyAdmin is served.
    pub auth_admin: SocketAddr,
    /// Where UsageQuery is served.
    pub usage_admin: SocketAddr,
    pub config: switchyard_config::Config,
    /// Per running unit, in shutdown order (front doors first, so usage in flight
    /// still reaches metering).
    tasks: Vec<(CancellationToken, Task)>,
    _data: tempfile::TempDir,
}

type Task = tokio::task::JoinHandle<Result<(), switchyard::ServeError>>;

async fn bind() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

impl Mesh {
    /// Starts the gateway with `upstream_base_url` as the `upstream` provider.
    pub async fn start(shape: Shape, upstream_base_url: &str) -> Self {
        Self::start_with(shape, upstream_base_url, "").await
    }

    /// Like [`Mesh::start`], with `extra` TOML (more `[[providers]]` and
    /// `[[models]]`) appended to the config: provider kinds under test, each
    /// pointed at its own emulated upstream.
    pub async fn start_with(shape: Shape, upstream_base_url: &str, extra: &str) -> Self {
        Self::start_configured(shape, upstream_base_url, "", extra).await
    }

    /// Like [`Mesh::start_with`], with `router_extra` lines added to `[router]`
    /// (`max_attempts = 2`, ...).
    pub async fn start_configured(
        shape: Shape,
        upstream_base_url: &str,
        router_extra: &str,
        extra: &str,
    ) -> Self {
        let data = tempfile::tempdir().unwrap();
        let (edge_l, edge) = bind().await;
        let (router_l, router) = bind().await;
        let (auth_l, auth) = bind().await;
        let (metering_l, metering) = bind().await;
        let (provider_l, provider) = bind().await;
        let mut text = config_text(
            data.path().to_str().unwrap(),
            upstream_base_url,
            [edge, router, auth, metering, provider],
        );
        text = text.replace("\n[auth]\n", &format!("{router_extra}\n\n[auth]\n"));
        text.push_str(extra);
        let config = switchyard_config::load_str(&text).unwrap();
        let mut tasks = Vec::new();
        let (auth_admin, usage_admin) = match shape {
            Shape::AllInOne => {
                let listeners = Listeners {
                    edge: Some(edge_l),
                    router: Some(router_l),
                    ..Default::default()
                };
                let (c, t) = (config.clone(), CancellationToken::new());
                let task = tokio::spawn({
                    let t = t.clone();
                    async move { switchyard::run(&c, &ServiceSet::all(), listeners, t).await }
                });
                tasks.push((t, task));
                (router, router)
            }
            Shape::Split => {
                let parts = [
                    (
                        Service::Edge,
                        Listeners {
                            edge: Some(edge_l),
                            ..Default::default()
                        },
                    ),
                    (
                        Service::Router,
                        Listeners {
                            router: Some(router_l),
                            ..Default::default()
                        },
                    ),
                    (
                        Service::Auth,
                        Listeners {
                            auth: Some(auth_l),
                            ..Default::default()
                        },
                    ),
                    (
                        Service::Metering,
                        Listeners {
                            metering: Some(metering_l),
                            ..Default::default()
                        },
                    ),
                    (
                        Service::ProviderAdapter,
                        Listeners {
                            provider: Some(provider_l),
                            ..Default::default()
                        },
                    ),
                ];
                for (service, listeners) in parts {
                    let (c, t) = (config.clone(), CancellationToken::new());
                    let task = tokio::spawn({
                        let t = t.clone();
                        async move {
                            switchyard::run(&c, &ServiceSet::of(&[service]), listeners, t).await
                        }
                    });
                    tasks.push((t, task));
                }
                (auth, metering)
            }
        };
        Self {
            shape,
            edge,
            grpc: router,
            auth_admin,
            usage_admin,
            config,
            tasks,
            _data: data,
        }
    }

    /// `http://<edge>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.edge)
    }

    /// A network channel to an address.
    pub fn channel(addr: SocketAddr) -> GrpcChannel {
        switchyard_grpc::connect_lazy("test", &format!("http://{addr}")).unwrap()
    }

    /// `message` with the admin token attached.
    pub fn admin<T>(message: T) -> tonic::Request<T> {
        crate::with_key(message, ADMIN_TOKEN)
    }

    /// Creates a key for `tenant` allowed `models` (empty: all); returns the secret
    /// and the key id.
    pub async fn create_key(&self, tenant: &str, models: &[&str]) -> (String, String) {
        let mut client = KeyAdminClient::new(Self::channel(self.auth_admin));
        let created = client
            .create_key(Self::admin(CreateKeyRequest {
                tenant: tenant.into(),
                name: "test".into(),
                allowed_models: models.iter().map(|m| m.to_string()).collect(),
                create_tenant: true,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        (created.secret, created.key.unwrap().id)
    }

    /// Creates a key as `request` says (the tenant is created if missing); returns
    /// the secret and the key id.
    pub async fn create_key_with(&self, request: CreateKeyRequest) -> (String, String) {
        let mut client = KeyAdminClient::new(Self::channel(self.auth_admin));
        let created = client
            .create_key(Self::admin(CreateKeyRequest {
                create_tenant: true,
                ..request
            }))
            .await
            .unwrap()
            .into_inner();
        (created.secret, created.key.unwrap().id)
    }

    /// Revokes a key.
    pub async fn revoke_key(&self, key_id: &str) {
        let mut client = KeyAdminClient::new(Self::channel(self.auth_admin));
        client
            .revoke_key(Self::admin(switchyard_proto::auth::v1::RevokeKeyRequest {
                key_id: key_id.into(),
            }))
            .await
            .unwrap();
    }

    /// The usage record of a request, if metering has it.
    pub async fn usage(&self, request_id: &str) -> Option<UsageRecord> {
        let mut client = UsageQueryClient::new(Self::channel(self.usage_admin));
        match client
            .get_usage(Self::admin(GetUsageRequest {
                request_id: request_id.into(),
            }))
            .await
        {
            Ok(r) => Some(r.into_inner()),
            Err(s) if s.code() == tonic::Code::NotFound => None,
            Err(s) => panic!("usage query failed: {s:?}"),
        }
    }

    /// Waits (bounded: 10 s) until metering has the record of `request_id`.
    pub async fn wait_usage(&self, request_id: &str) -> UsageRecord {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(r) = self.usage(request_id).await {
                return r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no usage record for {request_id} after 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every record of a tenant.
    pub async fn tenant_usage(&self, tenant: &str) -> Vec<UsageRecord> {
        let mut client = UsageQueryClient::new(Self::channel(self.usage_admin));
        client
            .list_usage(Self::admin(ListUsageRequest {
                tenant: tenant.into(),
                limit: 1000,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .records
    }

    /// Graceful shutdown in deployment order — edge, router, then the services they
    /// call — so every service drains, queued usage is delivered, stores flush.
    pub async fn shutdown(mut self) {
        for (token, task) in self.tasks.drain(..) {
            token.cancel();
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        for (token, _) in &self.tasks {
            token.cancel();
        }
    }
}

/// The config every test mesh uses.
fn config_text(data: &str, upstream: &str, addrs: [SocketAddr; 5]) -> String {
    let [edge, router, auth, metering, provider] = addrs;
    let admin_hash = hex::encode(Sha256::digest(ADMIN_TOKEN.as_bytes()));
    format!(
        r#"
version = 1

[edge]
listen = "{edge}"
router_url = "http://{router}"
auth_url = "http://{auth}"
metering_url = "http://{metering}"
max_body_bytes = 65536

[router]
listen = "{router}"
auth_url = "http://{auth}"
metering_url = "http://{metering}"
provider_url = "http://{provider}"
stream_drain_timeout_ms = 2000
outbox_dir = "{data}/outbox"

[auth]
listen = "{auth}"
data_dir = "{data}/auth"

[metering]
listen = "{metering}"
data_dir = "{data}/metering"
auth_url = "http://{auth}"

[provider_adapter]
listen = "{provider}"

[admin]
token_sha256 = "{admin_hash}"

[[providers]]
name = "upstream"
kind = "openai-compatible"
base_url = "{upstream}"

[[providers]]
name = "mock"
kind = "mock"
completion_tokens = 12

[[models]]
name = "chat-model"
deployments = [{{ provider = "upstream", model = "gpt-test", price = {{ input_per_million = "0.15", output_per_million = "0.60" }} }}]

[[models]]
name = "reasoner-model"
deployments = [{{ provider = "upstream", model = "reasoner", price = {{ input_per_million = "0.15", output_per_million = "0.60" }} }}]

[[models]]
name = "tool-model"
deployments = [{{ provider = "upstream", model = "tool-call", price = {{ input_per_million = "0.15", output_per_million = "0.60" }} }}]

[[models]]
name = "failing"
deployments = [{{ provider = "upstream", model = "fail-500" }}]

[[models]]
name = "limited"
deployments = [{{ provider = "upstream", model = "rate-limited" }}]

[[models]]
name = "cut"
deployments = [{{ provider = "upstream", model = "cut-stream" }}]

[[models]]
name = "no-usage"
deployments = [{{ provider = "upstream", model = "no-usage" }}]

[[models]]
name = "hang"
deployments = [{{ provider = "upstream", model = "hang", price = {{ input_per_million = "0.15", output_per_million = "0.60" }} }}]

[[models]]
name = "hang-first"
deployments = [{{ provider = "upstream", model = "hang-first", price = {{ input_per_million = "0.15", output_per_million = "0.60" }} }}]

[[models]]
name = "mock-model"
deployments = [{{ provider = "mock", model = "mock-1", price = {{ input_per_million = "1", output_per_million = "2" }} }}]

[[models]]
name = "chat-only"
mode = "chat"
deployments = [{{ provider = "mock", model = "mock-1" }}]

[[models]]
name = "embed-only"
mode = "embeddings"
deployments = [{{ provider = "mock", model = "mock-embed-1" }}]

[[models]]
name = "priced-mock"
deployments = [{{ provider = "mock", model = "mock-1", price = {{ input_per_million = "0", output_per_million = "1000" }} }}]

[[models]]
name = "embed-model"
deployments = [{{ provider = "upstream", model = "text-embedding-test", price = {{ input_per_million = "0.02" }} }}]
"#
    )
}
