//! The `switchyard` command as a library: run the gateway in either shape.
//!
//! - All-in-one (every service selected, the default): one process, the services
//!   calling each other through their generated gRPC clients over in-process
//!   transports (no sockets). Two listeners: the edge (HTTP) and the router (gRPC:
//!   Gateway plus the KeyAdmin and UsageQuery admin APIs).
//! - A subset (`--services router,auth`): each selected service serves on its own
//!   listener and reaches the others at their configured URLs.
//!
//! Shutdown (SIGTERM, Ctrl-C, or the token in tests) drains in-flight requests,
//! delivers queued usage, then flushes the sled stores.

mod services;

pub use services::{Service, ServiceSet};

use switchyard_auth::AuthService;
use switchyard_bootstrap::{Check, ConfigUpdates};
use switchyard_config::Config;
use switchyard_grpc::{GatewayHandle, ProviderHandle, in_process};
use switchyard_metering::MeteringService;
use switchyard_provider_adapter::ProviderAdapter;
use switchyard_router::Clients;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Why the gateway could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listener could not be bound.
    #[error("config key `{key}`: cannot listen on {addr}: {source}")]
    Bind {
        /// The config key of the address.
        key: &'static str,
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Sockets were passed (`LISTEN_FDS`) but not enough, or not TCP listeners.
    #[error("passed socket {index} (for {service}) is missing or not a TCP listener")]
    PassedSocket {
        /// Index among the passed sockets (0 is fd 3).
        index: usize,
        /// The service it was meant for.
        service: &'static str,
    },
    /// A listener the selected services need was not given.
    #[error("no listener for {0}")]
    MissingListener(&'static str),
    /// Auth failed.
    #[error("auth: {0}")]
    Auth(#[from] switchyard_auth::AuthError),
    /// Metering failed.
    #[error("metering: {0}")]
    Metering(#[from] switchyard_metering::MeteringError),
    /// The provider adapter failed.
    #[error("provider-adapter: {0}")]
    Provider(#[from] switchyard_provider_adapter::AdapterError),
    /// The router failed.
    #[error("router: {0}")]
    Router(#[from] switchyard_router::RouterError),
    /// The edge failed.
    #[error("edge: {0}")]
    Edge(#[from] switchyard_edge::EdgeError),
    /// The gRPC server failed.
    #[error("grpc: {0}")]
    Grpc(#[from] switchyard_grpc::GrpcError),
}

/// The bound listeners of the selected services (tests bind `127.0.0.1:0`).
#[derive(Debug, Default)]
pub struct Listeners {
    /// Edge HTTP.
    pub edge: Option<TcpListener>,
    /// Router gRPC (all admin APIs too in the all-in-one shape).
    pub router: Option<TcpListener>,
    /// Auth gRPC (split shape).
    pub auth: Option<TcpListener>,
    /// Metering gRPC (split shape).
    pub metering: Option<TcpListener>,
    /// Provider-adapter gRPC (split shape).
    pub provider: Option<TcpListener>,
}

impl Listeners {
    /// The listeners of the services in `set`: taken from sockets passed by the
    /// parent (systemd-style socket activation, `LISTEN_FDS`) when there are any,
    /// else bound at the configured addresses. In the all-in-one shape only the edge
    /// and the router listen.
    ///
    /// Passed sockets are used in this order, for the selected services that listen:
    /// edge, router, auth, metering, provider-adapter (so `--services edge,router`
    /// takes fd 3 as the edge and fd 4 as the router). A supervisor that keeps the
    /// sockets open can restart a service without refusing a single connection.
    ///
    /// `passed` must be read with `listenfd::ListenFd::from_env()` at the start of
    /// `main`, before other threads exist, because reading it clears the variables.
    pub fn bind(
        config: &Config,
        set: &ServiceSet,
        mut passed: listenfd::ListenFd,
    ) -> Result<Self, ServeError> {
        let mut next_passed = 0;
        let mut take = |service: Service, key: &'static str, addr: &str| {
            let wanted = set.contains(service)
                && (!set.is_all() || matches!(service, Service::Edge | Service::Router));
            if !wanted {
                return Ok(None);
            }
            let (std_listener, origin) = if passed.len() > 0 {
                let index = next_passed;
                next_passed += 1;
                let listener = passed.take_tcp_listener(index).ok().flatten().ok_or(
                    ServeError::PassedSocket {
                        index,
                        service: service.name(),
                    },
                )?;
                (Ok(listener), format!("passed socket {index}"))
            } else {
                (std::net::TcpListener::bind(addr), addr.to_string())
            };
            std_listener
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .and_then(TcpListener::from_std)
                .map(Some)
                .map_err(|source| ServeError::Bind {
                    key,
                    addr: origin,
                    source,
                })
        };
        Ok(Listeners {
            edge: take(Service::Edge, "edge.listen", &config.edge.listen)?,
            router: take(Service::Router, "router.listen", &config.router.listen)?,
            auth: take(Service::Auth, "auth.listen", &config.auth.listen)?,
            metering: take(
                Service::Metering,
                "metering.listen",
                &config.metering.listen,
            )?,
            provider: take(
                Service::ProviderAdapter,
                "provider_adapter.listen",
                &config.provider_adapter.listen,
            )?,
        })
    }
}

/// Runs the selected services until `shutdown`, then drains and flushes.
pub async fn run(
    config: &Config,
    set: &ServiceSet,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    run_following(config, set, listeners, None, shutdown).await
}

/// [`run`], with the router and the provider adapter applying the configs
/// published on `updates` (a reload; see [`reload_checks`]).
pub async fn run_following(
    config: &Config,
    set: &ServiceSet,
    listeners: Listeners,
    updates: Option<ConfigUpdates>,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    if set.is_all() {
        run_all_in_one(config, listeners, updates, shutdown).await
    } else {
        run_subset(config, set, listeners, updates, shutdown).await
    }
}

/// What a reloaded config must pass before the services of `set` apply it: the
/// router prices every deployment, the adapter builds every provider (its
/// credentials present). All of a process's checks pass, or none applies.
pub fn reload_checks(set: &ServiceSet) -> Vec<Check> {
    let mut checks: Vec<Check> = Vec::new();
    if set.contains(Service::Router) {
        checks.push(Box::new(|c: &Config| {
            switchyard_router::Router::check(c).map_err(|e| e.to_string())
        }));
    }
    if set.contains(Service::ProviderAdapter) {
        checks.push(Box::new(|c: &Config| {
            ProviderAdapter::check(c).map_err(|e| e.to_string())
        }));
    }
    checks
}

/// Health names served on the router port in the all-in-one shape.
const ALL_IN_ONE_HEALTH: &[&str] = &[
    "switchyard.gateway.v1.Gateway",
    "switchyard.gateway.v1.RouteAdmin",
    "switchyard.auth.v1.KeyAdmin",
    "switchyard.auth.v1.TenantAdmin",
    "switchyard.auth.v1.AuditLog",
    "switchyard.metering.v1.UsageQuery",
    "switchyard.metering.v1.ResponseStore",
    "switchyard.metering.v1.ConversationStore",
];

async fn run_all_in_one(
    config: &Config,
    listeners: Listeners,
    updates: Option<ConfigUpdates>,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let edge_listener = listeners.edge.ok_or(ServeError::MissingListener("edge"))?;
    let router_listener = listeners
        .router
        .ok_or(ServeError::MissingListener("router"))?;
    let auth = AuthService::open(config)?;
    let metering = MeteringService::open(config, in_process(auth.auth_server()))?;
    let adapter = ProviderAdapter::from_config(config)?;
    let clients = Clients {
        auth: in_process(auth.auth_server()),
        // On the request path: called directly, no message encoded (see
        // `switchyard_grpc::local`).
        provider: ProviderHandle::local(adapter.clone()),
        // Usage delivery, and the ledger's totals a key's budget report reads.
        metering: in_process(
            tonic::service::Routes::default()
                .add_service(metering.metering_server())
                .add_service(metering.query_server()),
        ),
        // One process, one shard: the in-process auth holds every counter.
        quota: vec![("in-process".into(), in_process(auth.quota_server()))],
    };
    let (router, shipper) = switchyard_router::build(config, clients, shutdown.clone())?;
    if let Some(updates) = updates {
        router.follow(updates.clone(), shutdown.clone());
        adapter.follow(updates, shutdown.clone());
    }
    // One RouteAdmin server (cheap to clone) for the gRPC port and the edge.
    let route_admin = switchyard_router::RoutesView::new(
        router.clone(),
        switchyard_grpc::AdminToken::from_config(&config.admin),
    )
    .server();
    let routes = tonic::service::Routes::default()
        .add_service(router.gateway_server())
        .add_service(route_admin.clone())
        .add_service(auth.admin_server())
        .add_service(auth.tenant_admin_server())
        .add_service(auth.audit_server())
        .add_service(metering.query_server())
        .add_service(metering.responses_server())
        .add_service(metering.conversations_server());
    // Shipping usage, and with it metering's in-process ledger writes, runs on a
    // thread of its own at a lower priority, off the threads that answer.
    let usage = switchyard_bootstrap::BackgroundRuntime::start("usage")
        .map_err(switchyard_router::RouterError::Shipper)?;
    let shipping = shipper.spawn(usage.handle());
    tracing::info!(
        edge = %edge_listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        grpc = %router_listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        "switchyard serving (all-in-one)"
    );
    let (grpc, edge) = tokio::join!(
        switchyard_grpc::serve(router_listener, routes, ALL_IN_ONE_HEALTH, shutdown.clone()),
        switchyard_edge::serve_with(
            edge_listener,
            &config.edge,
            switchyard_edge::Backends {
                // On the request path: called directly, as `provider` above.
                gateway: GatewayHandle::local(router.clone()),
                routes: in_process(route_admin),
                metering: in_process(
                    tonic::service::Routes::default()
                        .add_service(metering.query_server())
                        .add_service(metering.responses_server())
                        .add_service(metering.conversations_server())
                ),
                auth: in_process(
                    tonic::service::Routes::default()
                        .add_service(auth.admin_server())
                        .add_service(auth.tenant_admin_server())
                        .add_service(auth.audit_server())
                ),
            },
            shutdown.clone()
        ),
    );
    // Both front doors are drained: no new usage can appear. Deliver what is queued,
    // then make the stores durable.
    shipping.stop().await;
    metering.flush().await?;
    auth.flush().await?;
    grpc?;
    edge?;
    Ok(())
}

async fn run_subset(
    config: &Config,
    set: &ServiceSet,
    mut listeners: Listeners,
    updates: Option<ConfigUpdates>,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let mut tasks: tokio::task::JoinSet<Result<(), ServeError>> = tokio::task::JoinSet::new();
    for service in set.iter() {
        let config = config.clone();
        let token = shutdown.clone();
        let updates = updates.clone();
        match service {
            Service::Edge => {
                let l = listeners
                    .edge
                    .take()
                    .ok_or(ServeError::MissingListener("edge"))?;
                tasks.spawn(async move { Ok(switchyard_edge::serve(l, &config, token).await?) });
            }
            Service::Router => {
                let l = listeners
                    .router
                    .take()
                    .ok_or(ServeError::MissingListener("router"))?;
                tasks.spawn(async move {
                    Ok(switchyard_router::serve_following(l, &config, updates, token).await?)
                });
            }
            Service::Auth => {
                let l = listeners
                    .auth
                    .take()
                    .ok_or(ServeError::MissingListener("auth"))?;
                tasks.spawn(async move { Ok(switchyard_auth::serve(l, &config, token).await?) });
            }
            Service::Metering => {
                let l = listeners
                    .metering
                    .take()
                    .ok_or(ServeError::MissingListener("metering"))?;
                tasks
                    .spawn(async move { Ok(switchyard_metering::serve(l, &config, token).await?) });
            }
            Service::ProviderAdapter => {
                let l = listeners
                    .provider
                    .take()
                    .ok_or(ServeError::MissingListener("provider-adapter"))?;
                tasks.spawn(async move {
                    Ok(
                        switchyard_provider_adapter::serve_following(l, &config, updates, token)
                            .await?,
                    )
                });
            }
        }
    }
    tracing::info!(services = %set, "switchyard serving");
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        let result =
            joined.unwrap_or_else(|_| Err(ServeError::MissingListener("a service task panicked")));
        if let Err(e) = result {
            tracing::error!(error = %e, "service stopped with an error; shutting down the rest");
            shutdown.cancel();
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}
