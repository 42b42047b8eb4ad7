//! `GET /admin/v1/routes`: the router's routes and what it knows of each
//! deployment's health (breaker, failures, failure rate, in flight, latency), from
//! the router's `RouteAdmin.ListRoutes`. Admin token required (the router judges
//! it). The state is per router: behind a load balancer, each answer is one
//! router's view.

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use serde::Serialize;
use switchyard_proto::gateway::v1::{DeploymentState, ListRoutesRequest, Route};

use super::params::{Params, RawQuery};
use super::{AppState, admin_response};
use crate::context::AdminCaller;
use crate::error::HttpError;

/// Takes no parameters (an unknown one is a 400, as on every admin route).
pub async fn list(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: RawQuery,
) -> Result<Response, HttpError> {
    Params::new(query)?.finish()?;
    let mut routes = state.admin.routes.clone();
    let answer = routes
        .list_routes(caller.request(ListRoutesRequest {}))
        .await?
        .into_inner();
    admin_response(StatusCode::OK, &RoutesJson::new(&answer.routes))
}

/// `{"routes": [...]}`, in the router's order.
#[derive(Debug, Serialize)]
struct RoutesJson<'a> {
    routes: Vec<RouteJson<'a>>,
}

impl<'a> RoutesJson<'a> {
    fn new(routes: &'a [Route]) -> Self {
        Self {
            routes: routes.iter().map(RouteJson::from).collect(),
        }
    }
}

/// A model name clients ask for, as the router routes it.
#[derive(Debug, Serialize)]
struct RouteJson<'a> {
    model: &'a str,
    /// `weighted`, `ordered`, `least-latency`, `least-busy` or `lowest-cost`.
    strategy: &'a str,
    fallbacks: &'a [String],
    deployments: Vec<DeploymentJson<'a>>,
}

impl<'a> From<&'a Route> for RouteJson<'a> {
    fn from(r: &'a Route) -> Self {
        Self {
            model: &r.model,
            strategy: &r.strategy,
            fallbacks: &r.fallbacks,
            deployments: r.deployments.iter().map(DeploymentJson::from).collect(),
        }
    }
}

/// One deployment as the router sees it; `null` latency before its first answer,
/// `null` failure rate with no attempt in the window (or the rule off).
#[derive(Debug, Serialize)]
struct DeploymentJson<'a> {
    provider: &'a str,
    upstream_model: &'a str,
    weight: u32,
    /// `closed`, `open` or `probing`.
    breaker: &'a str,
    open_for_ms: u64,
    consecutive_failures: u32,
    in_flight: u32,
    latency_ms: Option<f64>,
    window_attempts: u32,
    failure_rate_percent: Option<f64>,
}

impl<'a> From<&'a DeploymentState> for DeploymentJson<'a> {
    fn from(d: &'a DeploymentState) -> Self {
        Self {
            provider: &d.provider,
            upstream_model: &d.upstream_model,
            weight: d.weight,
            breaker: &d.breaker,
            open_for_ms: d.open_for_ms,
            consecutive_failures: d.consecutive_failures,
            in_flight: d.in_flight,
            latency_ms: d.latency_ms,
            window_attempts: d.window_attempts,
            failure_rate_percent: d.failure_rate_percent,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_field_with_nulls_for_the_unknown() {
        let routes = [Route {
            model: "m".into(),
            strategy: "ordered".into(),
            fallbacks: vec!["other".into()],
            deployments: vec![DeploymentState {
                provider: "p".into(),
                upstream_model: "x".into(),
                weight: 1,
                breaker: "open".into(),
                open_for_ms: 900,
                consecutive_failures: 2,
                in_flight: 0,
                latency_ms: None,
                window_attempts: 4,
                failure_rate_percent: Some(50.0),
            }],
        }];
        let json = serde_json::to_value(RoutesJson::new(&routes)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"routes": [{
                "model": "m", "strategy": "ordered", "fallbacks": ["other"],
                "deployments": [{
                    "provider": "p", "upstream_model": "x", "weight": 1,
                    "breaker": "open", "open_for_ms": 900, "consecutive_failures": 2,
                    "in_flight": 0, "latency_ms": null, "window_attempts": 4,
                    "failure_rate_percent": 50.0,
                }],
            }]})
        );
    }
}
