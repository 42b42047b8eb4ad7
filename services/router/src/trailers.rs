//! Trailing metadata saying what served each answer.
//!
//! gRPC clients in most languages read response headers and trailers apart
//! (grpc-go's `grpc.Header` and `grpc.Trailer`), and a stream's cost is known only
//! at its end. So the Gateway server is wrapped in [`ServedTrailers`]: the
//! `x-switchyard-*` response headers of an answer are repeated in its trailers
//! (never replacing a trailer already there). A stream writes its cost, and its
//! final attempt count, into its trailers itself (see `stream.rs`).

use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use tonic::server::NamedService;
use tower::Service;

/// The prefix of the response metadata that says what served an answer.
const PREFIX: &str = "x-switchyard-";

/// A gRPC server whose `x-switchyard-*` response headers are also sent as
/// trailers.
#[derive(Debug, Clone)]
pub struct ServedTrailers<S> {
    inner: S,
}

impl<S> ServedTrailers<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S: NamedService> NamedService for ServedTrailers<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<Request<B>> for ServedTrailers<S>
where
    S: Service<Request<B>, Response = Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<tonic::body::Body>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            let served: HeaderMap = response
                .headers()
                .iter()
                .filter(|(name, _)| name.as_str().starts_with(PREFIX))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            if served.is_empty() {
                return Ok(response);
            }
            Ok(response.map(|body| {
                tonic::body::Body::new(WithTrailers {
                    inner: body,
                    extra: Some(served),
                })
            }))
        })
    }
}

/// A body whose trailers gain `extra`.
struct WithTrailers {
    inner: tonic::body::Body,
    extra: Option<HeaderMap>,
}

impl Body for WithTrailers {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match polled {
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(match frame.into_trailers() {
                Ok(mut trailers) => {
                    for (name, value) in self.extra.take().unwrap_or_default() {
                        if let Some(name) = name {
                            trailers.entry(name).or_insert(value);
                        }
                    }
                    Frame::trailers(trailers)
                }
                Err(frame) => frame,
            }))),
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn trailers_gain_the_served_headers_without_replacing_any() {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        trailers.insert("x-switchyard-attempts", "2".parse().unwrap());
        let inner =
            tonic::body::Body::new(http_body_util::StreamBody::new(futures::stream::iter([
                Ok::<_, tonic::Status>(Frame::data(bytes::Bytes::from_static(b"x"))),
                Ok(Frame::trailers(trailers)),
            ])));
        let mut extra = HeaderMap::new();
        extra.insert("x-switchyard-provider", "p".parse().unwrap());
        extra.insert("x-switchyard-attempts", "1".parse().unwrap());
        let body = WithTrailers {
            inner,
            extra: Some(extra),
        };
        let collected = body.collect().await.unwrap();
        let trailers = collected.trailers().unwrap().clone();
        assert_eq!(trailers["grpc-status"], "0");
        assert_eq!(trailers["x-switchyard-provider"], "p");
        // The stream's own count wins.
        assert_eq!(trailers["x-switchyard-attempts"], "2");
    }
}
