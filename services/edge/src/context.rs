//! Who is calling and under which request id: the per-request context of the edge.
//!
//! [`RequestContextLayer`] runs around every route (and the fallbacks): it accepts the
//! caller's `x-request-id` or makes one, opens the request's span as a child of the
//! caller's `traceparent`, and echoes the id on every answer, errors included.
//! Handlers take a [`Caller`] (or, on admin routes, an [`AdminCaller`]) to build gRPC
//! calls that carry the id, the trace and the caller's key onward.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use axum::extract::Request;
use axum::response::Response;
use http::HeaderValue;
use http::request::Parts;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tower::{Layer, Service};
use tracing::Instrument;

use switchyard_error::{ApiError, ErrorCode};
use switchyard_grpc::{REQUEST_ID_HEADER, accept_request_id, new_request_id, outgoing};

use crate::error::HttpError;

/// Header carrying routing tags: `x-switchyard-tags: team=search,env=prod`.
pub const TAGS_HEADER: &str = "x-switchyard-tags";

/// Header naming the person or system behind an admin call (`x-switchyard-actor:
/// alice@example.com`); forwarded as gRPC metadata of the same name, so auth records
/// it in the audit trail next to the credential's fingerprint.
pub const ACTOR_HEADER: &str = "x-switchyard-actor";

/// The request id chosen for the HTTP request being served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Tower layer establishing the request context; see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestContextLayer;

impl<S> Layer<S> for RequestContextLayer {
    type Service = RequestContext<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestContext { inner }
    }
}

/// The service made by [`RequestContextLayer`].
#[derive(Debug, Clone)]
pub struct RequestContext<S> {
    inner: S,
}

impl<S> Service<Request> for RequestContext<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let id = accept_request_id(req.headers());
        let header = HeaderValue::from_str(&id).ok();
        let span = tracing::info_span!(
            "http",
            method = %req.method(),
            path = %req.uri().path(),
            request_id = %id,
        );
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

/// The caller of one HTTP request, as the router needs to see it.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The request id (echoed to the caller, forwarded to the router).
    pub request_id: String,
    /// `Bearer <key>` from `Authorization` or `x-api-key`; never logged.
    authorization: Option<AsciiMetadataValue>,
    /// Routing tags from [`TAGS_HEADER`], in header order.
    pub tags: Vec<(String, String)>,
    /// `Cache-Control`, passed on: the router's response cache honours
    /// `no-cache` and `no-store`.
    cache_control: Option<AsciiMetadataValue>,
}

impl Caller {
    /// A gRPC call carrying `message`, the request id, the current trace context and
    /// the caller's key. The edge never judges the key: the router answers
    /// UNAUTHENTICATED and the one error table maps it.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = outgoing(message, &self.request_id);
        if let Some(auth) = &self.authorization {
            request.metadata_mut().insert("authorization", auth.clone());
        }
        if let Some(cache_control) = &self.cache_control {
            request
                .metadata_mut()
                .insert("cache-control", cache_control.clone());
        }
        request
    }

    /// Adds the tags to `metadata` without overriding what the body set.
    pub fn add_tags(&self, metadata: &mut std::collections::HashMap<String, String>) {
        for (k, v) in &self.tags {
            metadata.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

/// The key as `Bearer <key>`: from `Authorization: Bearer` (any case), else from the
/// Anthropic-style `x-api-key`.
fn authorization(headers: &http::HeaderMap) -> Option<AsciiMetadataValue> {
    let key = bearer(headers).or_else(|| {
        headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    })?;
    if key.is_empty() {
        return None;
    }
    format!("Bearer {key}").parse().ok()
}

/// The token of `Authorization: Bearer <token>` (scheme in any case), if non-empty.
fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
}

/// `k=v,k2=v2`; items without `=` or with an empty key are ignored.
fn tags(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(TAGS_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| item.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Self {
            request_id: request_id(parts),
            authorization: authorization(&parts.headers),
            tags: tags(&parts.headers),
            cache_control: parts
                .headers
                .get(http::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
        })
    }
}

/// The caller of an admin route: the admin token or a virtual key, which metering
/// judges (all tenants, or the key's own). Unlike [`Caller`] it insists on
/// `Authorization: Bearer` and answers 401 itself without one, so an admin route
/// never reaches metering anonymously.
#[derive(Debug, Clone)]
pub struct AdminCaller {
    request_id: String,
    /// `Bearer <token>`; never logged.
    authorization: AsciiMetadataValue,
    /// [`ACTOR_HEADER`], when sent.
    actor: Option<AsciiMetadataValue>,
}

impl AdminCaller {
    /// A gRPC call carrying `message`, the request id, the trace, the token and the
    /// actor.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = outgoing(message, &self.request_id);
        let metadata = request.metadata_mut();
        metadata.insert("authorization", self.authorization.clone());
        if let Some(actor) = &self.actor {
            metadata.insert(ACTOR_HEADER, actor.clone());
        }
        request
    }
}

/// The actor header as metadata. One that cannot travel as ASCII metadata is a 400
/// rather than dropped: an audit record must not silently lose who acted.
fn actor(headers: &http::HeaderMap) -> Result<Option<AsciiMetadataValue>, HttpError> {
    let Some(value) = headers.get(ACTOR_HEADER) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .ok()
        .map(str::trim)
        .and_then(|v| v.parse::<AsciiMetadataValue>().ok())
        .ok_or_else(|| {
            ApiError::invalid(
                ACTOR_HEADER,
                format!("The '{ACTOR_HEADER}' header must be printable ASCII."),
            )
        })?;
    Ok((!value.is_empty()).then_some(value))
}

impl<S: Send + Sync> FromRequestParts<S> for AdminCaller {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, HttpError> {
        let authorization = bearer(&parts.headers)
            .and_then(|token| format!("Bearer {token}").parse().ok())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthenticated,
                    "Missing credentials: send the admin token or an API key as \
                     'Authorization: Bearer <token>'.",
                )
            })?;
        Ok(Self {
            request_id: request_id(parts),
            authorization,
            actor: actor(&parts.headers)?,
        })
    }
}

fn request_id(parts: &Parts) -> String {
    parts
        .extensions
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_else(new_request_id)
}

/// A response header the router sent as gRPC metadata, when present and printable.
pub fn forwarded_header(metadata: &MetadataMap, name: &'static str) -> Option<HeaderValue> {
    metadata
        .get(name)
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
}

/// Response header naming the provider that answered.
pub const PROVIDER_HEADER: &str = "x-switchyard-provider";

/// The router's answer metadata HTTP callers see as headers of the same names:
/// the provider and model that served (or failed last), after how many
/// attempts, (unary answers and cache hits) the cost in micro-dollars, and
/// (models that cache) how the response cache met the request. Answers and
/// errors alike carry them.
pub const SERVED_HEADERS: [&str; 5] = [
    PROVIDER_HEADER,
    "x-switchyard-upstream-model",
    "x-switchyard-attempts",
    "x-switchyard-cost-micros",
    "x-switchyard-cache",
];

/// The [`SERVED_HEADERS`] present in `metadata`, as HTTP header values.
pub fn served(metadata: &MetadataMap) -> impl Iterator<Item = (&'static str, HeaderValue)> + '_ {
    SERVED_HEADERS
        .into_iter()
        .filter_map(|name| Some((name, forwarded_header(metadata, name)?)))
}

/// Per-request timeouts from `x-switchyard-timeout-ms` (the whole request),
/// `x-switchyard-first-token-timeout-ms` and `x-switchyard-stall-timeout-ms`
/// (milliseconds; each replaces the model's configured value). A value that is
/// not a positive integer is a 400 naming the header.
pub fn timeouts(
    headers: &http::HeaderMap,
) -> Result<Option<switchyard_proto::types::v1::Timeouts>, switchyard_error::ApiError> {
    let read = |name: &str| -> Result<Option<u32>, switchyard_error::ApiError> {
        let Some(value) = headers.get(name) else {
            return Ok(None);
        };
        value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .filter(|v| *v > 0)
            .map(Some)
            .ok_or_else(|| {
                switchyard_error::ApiError::invalid(
                    name,
                    format!("header `{name}` must be a positive number of milliseconds"),
                )
            })
    };
    let t = switchyard_proto::types::v1::Timeouts {
        total_ms: read("x-switchyard-timeout-ms")?,
        first_token_ms: read("x-switchyard-first-token-timeout-ms")?,
        stall_ms: read("x-switchyard-stall-timeout-ms")?,
    };
    Ok((t != switchyard_proto::types::v1::Timeouts::default()).then_some(t))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_bearer_or_x_api_key() {
        let mut h = http::HeaderMap::new();
        assert!(authorization(&h).is_none());
        h.insert("x-api-key", HeaderValue::from_static("sk-a"));
        assert_eq!(authorization(&h).unwrap(), "Bearer sk-a");
        h.insert("authorization", HeaderValue::from_static("bearer sk-b"));
        assert_eq!(authorization(&h).unwrap(), "Bearer sk-b");
        h.insert("authorization", HeaderValue::from_static("Bearer "));
        assert_eq!(authorization(&h).unwrap(), "Bearer sk-a");
    }

    #[test]
    fn tags_parse_loosely() {
        let mut h = http::HeaderMap::new();
        h.insert(
            TAGS_HEADER,
            HeaderValue::from_static(" team = a ,bad,=x,env=prod"),
        );
        assert_eq!(
            tags(&h),
            vec![("team".into(), "a".into()), ("env".into(), "prod".into())]
        );
    }
}
