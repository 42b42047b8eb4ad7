//! The Prometheus `GET /metrics` endpoint of a process (`telemetry.metrics_listen`).

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use switchyard_telemetry::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves the text exposition of every metric this process records until
/// `shutdown`. Metric names: `switchyard_telemetry::names`.
pub async fn serve_metrics(
    listener: TcpListener,
    handle: PrometheusHandle,
    shutdown: CancellationToken,
) {
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let body = handle.render();
            async move { ([(CONTENT_TYPE, "text/plain; version=0.0.4")], body) }
        }),
    );
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!(error = %e, "metrics endpoint failed");
    }
}
