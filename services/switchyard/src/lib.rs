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
use switchyard_config::Config;
use switchyard_grpc::in_process;
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
    /// Binds the configured addresses of the services in `set` (in the all-in-one
    /// shape only the edge and the router listen).
    pub async fn bind(config: &Config, set: &ServiceSet) -> Result<Self, ServeError> {
        async fn bind(key: &'static str, addr: &str) -> Result<Option<TcpListener>, ServeError> {
            TcpListener::bind(addr)
                .await
                .map(Some)
                .map_err(|source| ServeError::Bind {
                    key,
                    addr: addr.to_string(),
                    source,
                })
        }
        let all = set.is_all();
        let mut l = Listeners::default();
        if set.contains(Service::Edge) {
            l.edge = bind("edge.listen", &config.edge.listen).await?;
        }
        if set.contains(Service::Router) {
            l.router = bind("router.listen", &config.router.listen).await?;
        }
        if !all && set.contains(Service::Auth) {
            l.auth = bind("auth.listen", &config.auth.listen).await?;
        }
        if !all && set.contains(Service::Metering) {
            l.metering = bind("metering.listen", &config.metering.listen).await?;
        }
        if !all && set.contains(Service::ProviderAdapter) {
            l.provider = bind("provider_adapter.listen", &config.provider_adapter.listen).await?;
        }
        Ok(l)
    }
}

/// Runs the selected services until `shutdown`, then drains and flushes.
pub async fn run(
    config: &Config,
    set: &ServiceSet,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    if set.is_all() {
        run_all_in_one(config, listeners, shutdown).await
    } else {
        run_subset(config, set, listeners, shutdown).await
    }
}

/// Health names served on the router port in the all-in-one shape.
const ALL_IN_ONE_HEALTH: &[&str] = &[
    "switchyard.gateway.v1.Gateway",
    "switchyard.auth.v1.KeyAdmin",
    "switchyard.metering.v1.UsageQuery",
];

async fn run_all_in_one(
    config: &Config,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let edge_listener = listeners.edge.ok_or(ServeError::MissingListener("edge"))?;
    let router_listener = listeners
        .router
        .ok_or(ServeError::MissingListener("router"))?;
    let auth = AuthService::open(config)?;
    let metering = MeteringService::open(config)?;
    let adapter = ProviderAdapter::from_config(config)?;
    let clients = Clients {
        auth: in_process(auth.auth_server()),
        provider: in_process(adapter.into_server()),
        metering: in_process(metering.metering_server()),
    };
    let (router, shipper) = switchyard_router::build(config, clients);
    let routes = tonic::service::Routes::default()
        .add_service(router.gateway_server())
        .add_service(auth.admin_server())
        .add_service(metering.query_server());
    let stop_shipping = CancellationToken::new();
    let shipping = tokio::spawn(shipper.run(stop_shipping.clone()));
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
            in_process(router.gateway_server()),
            shutdown.clone()
        ),
    );
    // Both front doors are drained: no new usage can appear. Deliver what is queued,
    // then make the stores durable.
    stop_shipping.cancel();
    if shipping.await.is_err() {
        tracing::error!("usage shipper panicked");
    }
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
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let mut tasks: tokio::task::JoinSet<Result<(), ServeError>> = tokio::task::JoinSet::new();
    for service in set.iter() {
        let config = config.clone();
        let token = shutdown.clone();
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
                tasks.spawn(async move { Ok(switchyard_router::serve(l, &config, token).await?) });
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
                    Ok(switchyard_provider_adapter::serve(l, &config, token).await?)
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
