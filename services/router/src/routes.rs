//! The `RouteAdmin` gRPC service: the router's routes and what it knows of each
//! deployment's health (breaker, failure rate, in flight, latency), for operators
//! (`switchyard routes`, `GET /admin/v1/routes`). Admin token required.

use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::gateway::v1::route_admin_server::{RouteAdmin, RouteAdminServer};
use switchyard_proto::gateway::v1::{
    DeploymentState, ListRoutesRequest, ListRoutesResponse, Route,
};
use tonic::{Request, Response, Status};

use crate::Router;

/// The router's admin view of its routes.
#[derive(Clone)]
pub struct RoutesView {
    router: Router,
    admin: std::sync::Arc<switchyard_grpc::AdminToken>,
}

impl RoutesView {
    /// The view of `router`, guarded by `admin`.
    pub fn new(router: Router, admin: switchyard_grpc::AdminToken) -> Self {
        Self {
            router,
            admin: std::sync::Arc::new(admin),
        }
    }

    /// The generated server.
    pub fn server(self) -> RouteAdminServer<Self> {
        RouteAdminServer::new(self)
    }
}

#[tonic::async_trait]
impl RouteAdmin for RoutesView {
    async fn list_routes(
        &self,
        request: Request<ListRoutesRequest>,
    ) -> Result<Response<ListRoutesResponse>, Status> {
        if !self.admin.accepts(request.metadata()) {
            return Err(ApiError::new(
                ErrorCode::Unauthenticated,
                "admin token missing or invalid",
            )
            .into());
        }
        let (models, health) = self.router.routing_state();
        let routes = models
            .iter()
            .map(|m| Route {
                model: m.name.clone(),
                strategy: m.strategy_name().to_string(),
                fallbacks: m.fallbacks.clone(),
                deployments: m
                    .deployments
                    .iter()
                    .map(|d| {
                        let seen = health.describe(d);
                        DeploymentState {
                            provider: d.provider.clone(),
                            upstream_model: d.upstream_model.clone(),
                            weight: d.weight,
                            breaker: seen.breaker.to_string(),
                            open_for_ms: u64::try_from(seen.open_for.as_millis())
                                .unwrap_or(u64::MAX),
                            consecutive_failures: seen.consecutive_failures,
                            in_flight: seen.in_flight,
                            latency_ms: seen.latency_ms,
                            window_attempts: seen.window_attempts,
                            failure_rate_percent: seen.failure_rate_percent,
                        }
                    })
                    .collect(),
            })
            .collect();
        Ok(Response::new(ListRoutesResponse { routes }))
    }
}
