//! Request ids and trace context across hops.
//!
//! Every server runs [`ContextLayer`]: it takes the caller's `x-request-id` (or makes
//! one at the first hop), opens a span carrying it as a child of the caller's
//! `traceparent`, stores a [`RequestId`] in the request extensions, and echoes the id
//! in response metadata. Clients build calls with [`outgoing`], which forwards both.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower::{Layer, Service};
use tracing::Instrument;

/// The metadata / header name of the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request id of the call being served, in request extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// A new request id: a UUIDv7, so ids sort by time.
pub fn new_request_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The caller's `x-request-id` if it is acceptable, else a new id. Every front door
/// (gRPC servers, the HTTP edge) applies this one rule.
pub fn accept_request_id(headers: &http::HeaderMap) -> String {
    accept_id(headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()))
}

/// The rule of [`accept_request_id`] applied to the id a caller sent, if any.
pub(crate) fn accept_id(sent: Option<&str>) -> String {
    sent.filter(|id| acceptable(id))
        .map_or_else(new_request_id, str::to_string)
}

/// Accepts a caller's id only if it is short and plain, so it is safe in logs and keys.
fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The request id of a call served behind [`ContextLayer`].
pub fn request_id<T>(request: &tonic::Request<T>) -> String {
    request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .or_else(|| {
            request
                .metadata()
                .get(REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .filter(|id| acceptable(id))
                .map(str::to_string)
        })
        .unwrap_or_else(new_request_id)
}

/// The token of an `authorization: Bearer <token>` header, if present.
pub fn bearer_token(metadata: &tonic::metadata::MetadataMap) -> Option<&str> {
    let value = metadata.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A call to another service carrying the request id and the current trace context.
pub fn outgoing<T>(message: T, request_id: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = request_id.parse() {
        request.metadata_mut().insert(REQUEST_ID_HEADER, value);
    }
    let mut headers = http::HeaderMap::new();
    switchyard_telemetry::inject(&mut headers);
    for (name, value) in headers.iter() {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(name.as_str().as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_bytes()),
        ) {
            request.metadata_mut().insert(key, value);
        }
    }
    request
}

/// Tower layer that establishes the request context; see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContextLayer;

impl<S> Layer<S> for ContextLayer {
    type Service = RequestContext<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestContext { inner }
    }
}

/// The service made by [`ContextLayer`].
#[derive(Debug, Clone)]
pub struct RequestContext<S> {
    inner: S,
}

impl<S, B, RB> Service<http::Request<B>> for RequestContext<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let id = accept_request_id(req.headers());
        let header = http::HeaderValue::from_str(&id).ok();
        if let Some(value) = &header {
            req.headers_mut().insert(REQUEST_ID_HEADER, value.clone());
        }
        let span = tracing::info_span!("grpc", method = %req.uri().path(), request_id = %id);
        switchyard_telemetry::set_parent_from(&span, req.headers());
        req.extensions_mut().insert(RequestId(id));
        // The clone has been driven to readiness by poll_ready; call it, keep a fresh one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(
            async move {
                let mut response = inner.call(req).await?;
                if let Some(value) = header {
                    response.headers_mut().insert(REQUEST_ID_HEADER, value);
                }
                Ok(response)
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_filtered() {
        assert!(acceptable("req-123_abc.def:1"));
        assert!(!acceptable(""));
        assert!(!acceptable("has space"));
        assert!(!acceptable(&"x".repeat(129)));
        assert_eq!(new_request_id().len(), 36);
    }

    #[test]
    fn bearer_is_parsed_case_insensitively() {
        let mut md = tonic::metadata::MetadataMap::new();
        md.insert("authorization", "bearer sk-1".parse().unwrap());
        assert_eq!(bearer_token(&md), Some("sk-1"));
        md.insert("authorization", "Basic xyz".parse().unwrap());
        assert_eq!(bearer_token(&md), None);
    }
}
