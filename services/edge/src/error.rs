//! HTTP error answers in the OpenAI shape (or, on `/v1/messages`, Anthropic's),
//! rendered only from [`ApiError`].
//!
//! Every failure the caller sees — a gRPC status from the router, or a request the edge
//! rejects itself (bad JSON, too large, unknown route) — goes through [`HttpError`], so
//! the status, `type` and `code` always come from `switchyard_error`'s one table.

use std::borrow::Cow;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use switchyard_error::{ApiError, ErrorCode, RateLimitInfo};

/// An error answer: the [`ApiError`] and, rarely, an HTTP status the table has no row
/// for (405 on a known path with the wrong method).
#[derive(Debug)]
pub struct HttpError {
    // Boxed: errors are the cold path, and a small `Result` keeps the hot path lean.
    error: Box<ApiError>,
    status: Option<StatusCode>,
    /// Render Anthropic's `{"type":"error","error":{...}}` instead of OpenAI's body.
    anthropic: bool,
    /// What the router said served the request before it failed (provider,
    /// attempts, cache), as headers; none for errors the edge makes itself.
    served: Option<Box<http::HeaderMap>>,
}

impl HttpError {
    /// Overrides the status the table would choose; only for HTTP-level conditions
    /// gRPC has no code for.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// Names `to` as the parameter at fault where the Gateway named `from`: the
    /// field an HTTP caller sent, not the Gateway field it became.
    pub fn param_renamed(mut self, from: &str, to: &str) -> Self {
        if self.error.param.as_deref() == Some(from) {
            self.error.param = Some(to.to_string());
        }
        self
    }

    /// Renders this error in Anthropic's shape (same status, same headers).
    pub fn anthropic(mut self) -> Self {
        self.anthropic = true;
        self
    }
}

impl From<ApiError> for HttpError {
    fn from(error: ApiError) -> Self {
        Self {
            error: Box::new(error),
            status: None,
            anthropic: false,
            served: None,
        }
    }
}

impl From<tonic::Status> for HttpError {
    fn from(status: tonic::Status) -> Self {
        let mut error = Self::from(ApiError::from_status(&status));
        let served: http::HeaderMap = crate::context::served(status.metadata())
            .map(|(name, value)| (http::HeaderName::from_static(name), value))
            .collect();
        if !served.is_empty() {
            error.served = Some(Box::new(served));
        }
        error
    }
}

/// The `{"error": {...}}` body, shared by HTTP error answers and mid-stream SSE events.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    error: ErrorObject<'a>,
}

#[derive(Debug, Serialize)]
struct ErrorObject<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl<'a> ErrorBody<'a> {
    /// The OpenAI error object for `error`: `code` is ours when the table has one, else
    /// the provider's own, else null.
    pub fn new(error: &'a ApiError) -> Self {
        Self {
            error: ErrorObject {
                message: &error.message,
                kind: error.code.openai_type(),
                param: error.param.as_deref(),
                code: error.code.openai_code().or(error.upstream_code.as_deref()),
            },
        }
    }

    /// The encoded body; encoding plain strings cannot fail, but a fixed body keeps the
    /// answer well-formed even if it somehow did.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| {
            br#"{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}"#
                .to_vec()
        })
    }
}

/// Anthropic's error `type` for a code. The status stays the table's, so no code
/// reads as `overloaded_error` (529).
pub fn anthropic_type(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::InvalidRequest
        | ErrorCode::PayloadTooLarge
        | ErrorCode::UpstreamRejected
        | ErrorCode::ContextLengthExceeded
        | ErrorCode::ContentFiltered => "invalid_request_error",
        ErrorCode::Unauthenticated => "authentication_error",
        ErrorCode::PermissionDenied => "permission_error",
        ErrorCode::ModelNotFound | ErrorCode::NotFound => "not_found_error",
        ErrorCode::RateLimited | ErrorCode::BudgetExceeded => "rate_limit_error",
        ErrorCode::UpstreamTimeout
        | ErrorCode::UpstreamUnavailable
        | ErrorCode::ServiceUnavailable
        | ErrorCode::Internal => "api_error",
    }
}

/// Anthropic's `{"type":"error","error":{"type","message"}}`, for HTTP answers and
/// the mid-stream `event: error`.
#[derive(Debug, Serialize)]
pub struct AnthropicErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: AnthropicErrorObject<'a>,
}

#[derive(Debug, Serialize)]
struct AnthropicErrorObject<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: Cow<'a, str>,
}

impl<'a> AnthropicErrorBody<'a> {
    /// The Anthropic error object for `error`. Anthropic's format has no `param`:
    /// as Anthropic does, the message starts with the path at fault, in its dotted
    /// form (`messages.0.content.1.type: ...`), unless it names it already.
    pub fn new(error: &'a ApiError) -> Self {
        let message = match error.param.as_deref() {
            // Named already ("Missing required parameter: 'messages[0].role'.").
            Some(param) if !param.is_empty() && !error.message.contains(param) => {
                let path = param.replace('[', ".").replace(']', "");
                Cow::Owned(format!("{path}: {}", error.message))
            }
            _ => Cow::Borrowed(error.message.as_str()),
        };
        Self {
            kind: "error",
            error: AnthropicErrorObject {
                kind: anthropic_type(error.code),
                message,
            },
        }
    }

    /// The encoded body (a fixed one should encoding ever fail).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| {
            br#"{"type":"error","error":{"type":"api_error","message":"internal error"}}"#.to_vec()
        })
    }
}

/// OpenAI's `x-ratelimit-*` headers for the limits that exist.
fn rate_limit_headers(headers: &mut http::HeaderMap, info: &RateLimitInfo) {
    let counts = [
        ("x-ratelimit-limit-requests", info.limit_requests),
        ("x-ratelimit-remaining-requests", info.remaining_requests),
        ("x-ratelimit-limit-tokens", info.limit_tokens),
        ("x-ratelimit-remaining-tokens", info.remaining_tokens),
    ];
    for (name, value) in counts {
        if let Some(v) = value {
            headers.insert(name, HeaderValue::from(v));
        }
    }
    let resets = [
        ("x-ratelimit-reset-requests", info.reset_requests_ms),
        ("x-ratelimit-reset-tokens", info.reset_tokens_ms),
    ];
    for (name, value) in resets {
        if let Some(Ok(v)) = value.map(|ms| HeaderValue::from_str(&go_duration(ms))) {
            headers.insert(name, v);
        }
    }
}

/// A duration as OpenAI writes resets (Go's format): `20ms`, `1.5s`, `6m0s`.
fn go_duration(ms: u64) -> String {
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let (minutes, ms) = (ms / 60_000, ms % 60_000);
    let secs = if ms % 1_000 == 0 {
        format!("{}s", ms / 1_000)
    } else {
        let s = format!("{}.{:03}", ms / 1_000, ms % 1_000);
        format!("{}s", s.trim_end_matches('0'))
    };
    if minutes > 0 {
        format!("{minutes}m{secs}")
    } else {
        secs
    }
}

/// Whole seconds for `retry-after`, rounded up and at least 1 (the SDK ignores 0).
fn retry_after_secs(after: Duration) -> u64 {
    let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    secs.max(1)
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let error = self.error;
        let status = self.status.unwrap_or_else(|| {
            StatusCode::from_u16(error.code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        });
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), code = ?error.code, message = %error.message, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), code = ?error.code, message = %error.message, "request rejected");
        }
        let body = if self.anthropic {
            AnthropicErrorBody::new(&error).to_json()
        } else {
            ErrorBody::new(&error).to_json()
        };
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        if let Some(served) = self.served {
            headers.extend(*served);
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        // A rate limit's wait, or how soon an overloaded gateway may take the
        // request (RFC 9110 defines `Retry-After` for both 429 and 503).
        if (status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE)
            && let Some(after) = error.retry_after
        {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(after)),
            );
        }
        if let Some(info) = &error.rate_limit {
            rate_limit_headers(headers, info);
        }
        // The SDK retries 429 and 5xx on its own; tell it when that cannot help
        // (an exhausted budget, our own bug).
        if (status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()) && !error.retryable
        {
            headers.insert("x-should-retry", HeaderValue::from_static("false"));
        }
        response
    }
}

/// The 404 for a path the edge does not serve.
pub fn unknown_route(method: &http::Method, path: &str) -> HttpError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("Unknown request URL: {method} {path}."),
    )
    .into()
}

/// The 405 for a known path called with the wrong method.
pub fn wrong_method(method: &http::Method, path: &str) -> HttpError {
    HttpError::from(ApiError::new(
        ErrorCode::InvalidRequest,
        format!("Method {method} is not allowed for {path}."),
    ))
    .with_status(StatusCode::METHOD_NOT_ALLOWED)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn resets_are_written_like_openai() {
        assert_eq!(go_duration(20), "20ms");
        assert_eq!(go_duration(1_000), "1s");
        assert_eq!(go_duration(1_500), "1.5s");
        assert_eq!(go_duration(59_250), "59.25s");
        assert_eq!(go_duration(360_000), "6m0s");
        assert_eq!(go_duration(61_001), "1m1.001s");
    }

    #[test]
    fn retry_after_rounds_up_to_at_least_one_second() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(200)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }

    #[test]
    fn body_prefers_our_code_then_the_upstream_one() {
        let err = ApiError::new(ErrorCode::UpstreamRejected, "bad").with_upstream_code("x_y");
        let json: serde_json::Value =
            serde_json::from_slice(&ErrorBody::new(&err).to_json()).unwrap();
        assert_eq!(json["error"]["code"], "x_y");
        assert_eq!(json["error"]["param"], serde_json::Value::Null);
        let err = ApiError::new(ErrorCode::ModelNotFound, "no").with_upstream_code("x_y");
        let json: serde_json::Value =
            serde_json::from_slice(&ErrorBody::new(&err).to_json()).unwrap();
        assert_eq!(json["error"]["code"], "model_not_found");
    }
}
