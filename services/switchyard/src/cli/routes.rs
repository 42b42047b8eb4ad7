//! `switchyard routes [--json]`: each model's deployments and what the router
//! knows of them (breaker, failure rate, in flight, latency), from the router's
//! `RouteAdmin` API.

use clap::Args;
use switchyard_proto::gateway::v1::ListRoutesRequest;
use switchyard_proto::gateway::v1::route_admin_client::RouteAdminClient;

use super::admin::{AdminConn, status_error};

#[derive(Debug, Args)]
pub struct RoutesArgs {
    #[command(flatten)]
    conn: AdminConn,
    /// One JSON object per deployment instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn run(config_path: &str, args: RoutesArgs) -> anyhow::Result<()> {
    let mut client = RouteAdminClient::new(args.conn.channel(config_path).await?);
    let routes = client
        .list_routes(args.conn.request(ListRoutesRequest {})?)
        .await
        .map_err(status_error)?
        .into_inner()
        .routes;
    if !args.json {
        println!(
            "{:<24} {:<14} {:<18} {:<28} {:<8} {:>8} {:>14} {:>9} {:>10}",
            "MODEL",
            "STRATEGY",
            "PROVIDER",
            "UPSTREAM MODEL",
            "BREAKER",
            "FAILURES",
            "FAIL RATE",
            "IN FLIGHT",
            "LATENCY"
        );
    }
    for route in routes {
        for d in &route.deployments {
            if args.json {
                let line = serde_json::json!({
                    "model": route.model,
                    "strategy": route.strategy,
                    "fallbacks": route.fallbacks,
                    "provider": d.provider,
                    "upstream_model": d.upstream_model,
                    "weight": d.weight,
                    "breaker": d.breaker,
                    "open_for_ms": d.open_for_ms,
                    "consecutive_failures": d.consecutive_failures,
                    "window_attempts": d.window_attempts,
                    "failure_rate_percent": d.failure_rate_percent,
                    "in_flight": d.in_flight,
                    "latency_ms": d.latency_ms,
                });
                println!("{line}");
            } else {
                let latency = d
                    .latency_ms
                    .map(|l| format!("{l:.1} ms"))
                    .unwrap_or_else(|| "-".into());
                // The window's failure rate and how many attempts it rests on.
                let rate = d
                    .failure_rate_percent
                    .map(|r| format!("{r:.0}% of {}", d.window_attempts))
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:<24} {:<14} {:<18} {:<28} {:<8} {:>8} {:>14} {:>9} {:>10}",
                    route.model,
                    route.strategy,
                    d.provider,
                    d.upstream_model,
                    d.breaker,
                    d.consecutive_failures,
                    rate,
                    d.in_flight,
                    latency
                );
            }
        }
    }
    Ok(())
}
