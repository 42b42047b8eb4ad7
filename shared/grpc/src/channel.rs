//! Channels: one type for network and in-process transports.

use std::convert::Infallible;
use std::time::Duration;

use tonic::body::Body;
use tonic::transport::Endpoint;
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceExt};

use crate::GrpcError;
use crate::context::ContextLayer;

/// The transport under every generated client: a `tonic` network channel or an
/// in-process server, boxed so callers do not care which. Transport failures are
/// already `Status`es (UNAVAILABLE for a refused connection), a concrete error type
/// that keeps spawned client futures `Send` without higher-ranked inference trouble.
pub type GrpcChannel =
    BoxCloneSyncService<http::Request<Body>, http::Response<Body>, tonic::Status>;

/// A network channel that connects on first use and reconnects on failure, so
/// services may start in any order. `key` names the config key for errors.
pub fn connect_lazy(key: &str, url: &str) -> Result<GrpcChannel, GrpcError> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|_| GrpcError::InvalidUrl {
            key: key.to_string(),
            url: url.to_string(),
        })?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    let channel = endpoint.connect_lazy();
    Ok(BoxCloneSyncService::new(
        channel.map_err(|e| tonic::Status::from_error(Box::new(e))),
    ))
}

/// Calls a generated server directly: no socket, no HTTP/2 framing, the same
/// request-context layer as over the network.
pub fn in_process<S>(server: S) -> GrpcChannel
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let svc = ContextLayer.layer(server);
    BoxCloneSyncService::new(svc.map_err(|never: Infallible| -> tonic::Status { match never {} }))
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;
    use tokio_util::sync::CancellationToken;
    use tonic::Code;
    use tonic::service::Routes;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    use super::*;

    async fn check(channel: &GrpcChannel) -> Result<i32, tonic::Status> {
        let mut client = HealthClient::new(channel.clone());
        let answer = client.check(HealthCheckRequest::default()).await?;
        Ok(answer.into_inner().status)
    }

    async fn start(listener: TcpListener) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let server = tokio::spawn(async move {
            let served = crate::serve(listener, Routes::default(), &[], token).await;
            assert!(served.is_ok(), "{served:?}");
        });
        (stop, server)
    }

    #[tokio::test]
    async fn a_server_not_up_is_unavailable_then_reached_and_reached_again_after_a_restart() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let channel = connect_lazy("test", &format!("http://{addr}")).unwrap();
        // Nothing listens yet: refused, which callers treat as retryable.
        assert_eq!(
            check(&channel).await.err().map(|s| s.code()),
            Some(Code::Unavailable)
        );

        // Up: the same channel connects on its next call.
        let (stop, server) = start(TcpListener::bind(addr).await.unwrap()).await;
        let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
        assert_eq!(check(&channel).await.ok(), Some(serving));

        // Restarted: the closed connection is replaced, not reused.
        stop.cancel();
        server.await.unwrap();
        let (stop, server) = start(TcpListener::bind(addr).await.unwrap()).await;
        assert_eq!(check(&channel).await.ok(), Some(serving));
        stop.cancel();
        server.await.unwrap();
    }
}
