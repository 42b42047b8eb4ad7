//! The one gRPC server bootstrap.

use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic_health::ServingStatus;

use crate::GrpcError;
use crate::context::ContextLayer;

/// Largest gRPC message accepted or sent (images inline as base64 can be large).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Serves `routes` on `listener` until `shutdown` fires, then drains in-flight calls.
///
/// Adds `grpc.health.v1` (every name in `health_names` and "" reported SERVING until
/// shutdown begins, then NOT_SERVING) and server reflection v1 and v1alpha over
/// Switchyard's descriptors. Layers, outermost first: [`ContextLayer`] (request id,
/// trace span) around tonic's router, so every handler runs inside its request span.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    health_names: &[&str],
    shutdown: CancellationToken,
) -> Result<(), GrpcError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    for name in health_names {
        reporter
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(switchyard_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| tonic::Status::internal(e.to_string()));
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(switchyard_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| tonic::Status::internal(e.to_string()));
    let mut routes = routes.add_service(health);
    // Descriptors are compiled into the binary; failing to load them is a build bug,
    // so serve without reflection rather than refuse to start.
    match (reflection_v1, reflection_v1alpha) {
        (Ok(v1), Ok(v1alpha)) => routes = routes.add_service(v1).add_service(v1alpha),
        (Err(e), _) | (_, Err(e)) => tracing::error!(error = %e, "reflection disabled"),
    }

    let incoming = TcpListenerStream::new(listener).map(|conn| {
        if let Ok(stream) = &conn {
            let _ = stream.set_nodelay(true);
        }
        conn
    });
    let names: Vec<String> = health_names.iter().map(|s| s.to_string()).collect();
    let signal = async move {
        shutdown.cancelled().await;
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        for name in names {
            reporter
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
    };
    Server::builder()
        .layer(ContextLayer)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, signal)
        .await?;
    Ok(())
}
