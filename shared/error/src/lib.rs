//! One error vocabulary for every Switchyard service.
//!
//! Each condition a caller can hit has one [`ErrorCode`] with one gRPC code, one HTTP
//! status, one OpenAI error `type`/`code` and one stable `ErrorInfo.reason`. Services
//! build an [`ApiError`] where they map their own errors to the wire; it becomes a
//! `google.rpc.Status` with details ([`ApiError::to_status`]), and the edge turns any
//! status back into an [`ApiError`] ([`ApiError::from_status`]) to write HTTP bodies.
//! The table lives here and nowhere else.

use std::collections::HashMap;
use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every error Switchyard produces.
pub const DOMAIN: &str = "switchyard.dev";

/// `ErrorInfo.metadata` key saying whether retrying elsewhere may help.
pub const META_RETRYABLE: &str = "retryable";
/// `ErrorInfo.metadata` key carrying the provider's own error code, when there is one.
pub const META_UPSTREAM_CODE: &str = "upstream_code";
/// `ErrorInfo.metadata` key naming the offending request parameter.
pub const META_PARAM: &str = "param";

/// `ErrorInfo.metadata` key prefix of the rate-limit state of a refusal
/// (`ratelimit_limit_requests`, `ratelimit_remaining_tokens`, ...).
pub const META_RATELIMIT: &str = "ratelimit_";

/// The state of the per-minute limits when a request was refused, as OpenAI's
/// `x-ratelimit-*` headers report it. Each field is set only for a limit that
/// exists; resets are milliseconds until the limit is fully available again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// Requests per minute allowed.
    pub limit_requests: Option<u64>,
    /// Requests left in the current window.
    pub remaining_requests: Option<u64>,
    /// Until the request window is full again.
    pub reset_requests_ms: Option<u64>,
    /// Tokens per minute allowed.
    pub limit_tokens: Option<u64>,
    /// Tokens left in the current window.
    pub remaining_tokens: Option<u64>,
    /// Until the token window is full again.
    pub reset_tokens_ms: Option<u64>,
}

impl RateLimitInfo {
    const FIELDS: [&'static str; 6] = [
        "limit_requests",
        "remaining_requests",
        "reset_requests_ms",
        "limit_tokens",
        "remaining_tokens",
        "reset_tokens_ms",
    ];

    fn values(&self) -> [Option<u64>; 6] {
        [
            self.limit_requests,
            self.remaining_requests,
            self.reset_requests_ms,
            self.limit_tokens,
            self.remaining_tokens,
            self.reset_tokens_ms,
        ]
    }

    fn write(&self, metadata: &mut HashMap<String, String>) {
        for (name, value) in Self::FIELDS.iter().zip(self.values()) {
            if let Some(v) = value {
                metadata.insert(format!("{META_RATELIMIT}{name}"), v.to_string());
            }
        }
    }

    fn read(metadata: &HashMap<String, String>) -> Option<Self> {
        let get = |name: &str| {
            metadata
                .get(&format!("{META_RATELIMIT}{name}"))
                .and_then(|v| v.parse().ok())
        };
        let info = Self {
            limit_requests: get("limit_requests"),
            remaining_requests: get("remaining_requests"),
            reset_requests_ms: get("reset_requests_ms"),
            limit_tokens: get("limit_tokens"),
            remaining_tokens: get("remaining_tokens"),
            reset_tokens_ms: get("reset_tokens_ms"),
        };
        (info != Self::default()).then_some(info)
    }
}

/// Every condition a caller can see, with its mapping to gRPC and HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Malformed or invalid request.
    InvalidRequest,
    /// Request body larger than the configured limit.
    PayloadTooLarge,
    /// The requested model is not configured.
    ModelNotFound,
    /// Some other named thing (key, request id) does not exist.
    NotFound,
    /// Missing, unknown, revoked or expired key.
    Unauthenticated,
    /// The key may not use this model or operation.
    PermissionDenied,
    /// A rate limit was hit.
    RateLimited,
    /// A budget is exhausted.
    BudgetExceeded,
    /// The upstream failed (after every fallback).
    UpstreamUnavailable,
    /// The upstream rejected the request as invalid (HTTP 4xx other than the above).
    UpstreamRejected,
    /// The upstream or the total deadline passed.
    UpstreamTimeout,
    /// The prompt does not fit the model's context window.
    ContextLengthExceeded,
    /// The provider's content filter refused the request.
    ContentFiltered,
    /// One of Switchyard's own services is unreachable or shutting down.
    ServiceUnavailable,
    /// A bug in Switchyard; no internals are exposed.
    Internal,
}

impl ErrorCode {
    /// Every code, for tests and documentation.
    pub const ALL: [ErrorCode; 15] = [
        Self::InvalidRequest,
        Self::PayloadTooLarge,
        Self::ModelNotFound,
        Self::NotFound,
        Self::Unauthenticated,
        Self::PermissionDenied,
        Self::RateLimited,
        Self::BudgetExceeded,
        Self::UpstreamUnavailable,
        Self::UpstreamRejected,
        Self::UpstreamTimeout,
        Self::ContextLengthExceeded,
        Self::ContentFiltered,
        Self::ServiceUnavailable,
        Self::Internal,
    ];

    /// The gRPC status code.
    pub fn grpc_code(self) -> Code {
        match self {
            Self::InvalidRequest
            | Self::PayloadTooLarge
            | Self::UpstreamRejected
            | Self::ContextLengthExceeded
            | Self::ContentFiltered => Code::InvalidArgument,
            Self::ModelNotFound | Self::NotFound => Code::NotFound,
            Self::Unauthenticated => Code::Unauthenticated,
            Self::PermissionDenied => Code::PermissionDenied,
            Self::RateLimited | Self::BudgetExceeded => Code::ResourceExhausted,
            Self::UpstreamUnavailable | Self::ServiceUnavailable => Code::Unavailable,
            Self::UpstreamTimeout => Code::DeadlineExceeded,
            Self::Internal => Code::Internal,
        }
    }

    /// The HTTP status of the OpenAI-compatible answer.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidRequest
            | Self::UpstreamRejected
            | Self::ContextLengthExceeded
            | Self::ContentFiltered => 400,
            Self::PayloadTooLarge => 413,
            Self::ModelNotFound | Self::NotFound => 404,
            Self::Unauthenticated => 401,
            Self::PermissionDenied => 403,
            Self::RateLimited | Self::BudgetExceeded => 429,
            Self::UpstreamUnavailable => 502,
            Self::ServiceUnavailable => 503,
            Self::UpstreamTimeout => 504,
            Self::Internal => 500,
        }
    }

    /// The stable `ErrorInfo.reason`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::ModelNotFound => "MODEL_NOT_FOUND",
            Self::NotFound => "NOT_FOUND",
            Self::Unauthenticated => "INVALID_API_KEY",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::RateLimited => "RATE_LIMITED",
            Self::BudgetExceeded => "BUDGET_EXCEEDED",
            Self::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            Self::UpstreamRejected => "UPSTREAM_REJECTED",
            Self::UpstreamTimeout => "UPSTREAM_TIMEOUT",
            Self::ContextLengthExceeded => "CONTEXT_LENGTH_EXCEEDED",
            Self::ContentFiltered => "CONTENT_FILTERED",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::Internal => "INTERNAL",
        }
    }

    /// The OpenAI error `type`.
    pub fn openai_type(self) -> &'static str {
        match self {
            Self::InvalidRequest
            | Self::PayloadTooLarge
            | Self::ModelNotFound
            | Self::NotFound
            | Self::UpstreamRejected
            | Self::ContextLengthExceeded
            | Self::ContentFiltered => "invalid_request_error",
            Self::Unauthenticated => "authentication_error",
            Self::PermissionDenied => "permission_error",
            Self::RateLimited => "rate_limit_error",
            Self::BudgetExceeded => "insufficient_quota",
            Self::UpstreamUnavailable | Self::UpstreamTimeout | Self::ServiceUnavailable => {
                "api_error"
            }
            Self::Internal => "server_error",
        }
    }

    /// The OpenAI error `code` (null when OpenAI would send null).
    pub fn openai_code(self) -> Option<&'static str> {
        match self {
            Self::PayloadTooLarge => Some("request_too_large"),
            Self::ModelNotFound => Some("model_not_found"),
            Self::NotFound => Some("not_found"),
            Self::Unauthenticated => Some("invalid_api_key"),
            Self::PermissionDenied => Some("permission_denied"),
            Self::RateLimited => Some("rate_limit_exceeded"),
            Self::BudgetExceeded => Some("budget_exceeded"),
            Self::UpstreamUnavailable => Some("upstream_error"),
            Self::UpstreamTimeout => Some("timeout"),
            Self::ContextLengthExceeded => Some("context_length_exceeded"),
            Self::ContentFiltered => Some("content_filter"),
            Self::ServiceUnavailable => Some("service_unavailable"),
            Self::InvalidRequest | Self::UpstreamRejected | Self::Internal => None,
        }
    }

    /// Whether trying again (later or elsewhere) may succeed, absent better knowledge.
    pub fn default_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited
                | Self::UpstreamUnavailable
                | Self::UpstreamTimeout
                | Self::ServiceUnavailable
        )
    }

    /// The code for a stable reason string, if it is one of ours.
    pub fn from_reason(reason: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.reason() == reason)
    }

    /// The closest code for a bare gRPC status without our details.
    pub fn from_grpc_code(code: Code) -> Self {
        match code {
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
                Self::InvalidRequest
            }
            Code::NotFound => Self::NotFound,
            Code::Unauthenticated => Self::Unauthenticated,
            Code::PermissionDenied => Self::PermissionDenied,
            Code::ResourceExhausted => Self::RateLimited,
            Code::DeadlineExceeded => Self::UpstreamTimeout,
            Code::Unavailable | Code::Cancelled | Code::Aborted => Self::ServiceUnavailable,
            _ => Self::Internal,
        }
    }
}

/// An error as the caller sees it: a code, a message safe to show, and details.
///
/// Messages never contain keys, credentials or prompt text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    /// What went wrong.
    pub code: ErrorCode,
    /// A human-readable message for the caller.
    pub message: String,
    /// The request parameter at fault, when there is one (`messages[0].role`).
    pub param: Option<String>,
    /// When the caller may try again (rate limits, provider cool-downs).
    pub retry_after: Option<Duration>,
    /// Whether a retry or fallback may help.
    pub retryable: bool,
    /// The provider's own error code, kept for callers who know the provider.
    pub upstream_code: Option<String>,
    /// For budgets: the exhausted quota's subject (`key:<id>`, `tenant:<name>`).
    pub quota_subject: Option<Box<str>>,
    /// For rate limits: the limits' state, for `x-ratelimit-*` headers.
    /// Boxed: it is rare, and keeps `Result<_, ApiError>` small.
    pub rate_limit: Option<Box<RateLimitInfo>>,
}

impl ApiError {
    /// An error with the code's defaults.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            param: None,
            retry_after: None,
            retryable: code.default_retryable(),
            upstream_code: None,
            quota_subject: None,
            rate_limit: None,
        }
    }

    /// A malformed or invalid request, naming the parameter.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message).with_param(param)
    }

    /// A bug; the message is generic so no internals leak.
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error")
    }

    /// Names the request parameter at fault.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// Says when the caller may retry.
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Overrides whether a retry or fallback may help.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// Keeps the provider's own error code.
    pub fn with_upstream_code(mut self, code: impl Into<String>) -> Self {
        self.upstream_code = Some(code.into());
        self
    }

    /// Names the exhausted quota.
    pub fn with_quota_subject(mut self, subject: impl Into<String>) -> Self {
        self.quota_subject = Some(subject.into().into_boxed_str());
        self
    }

    /// Attaches the rate limits' state.
    pub fn with_rate_limit(mut self, info: RateLimitInfo) -> Self {
        self.rate_limit = Some(Box::new(info));
        self
    }

    /// The `google.rpc.Status` with `ErrorInfo` (always), `RetryInfo` (when a retry
    /// time is known), `QuotaFailure` (budgets) and `BadRequest` (a named parameter).
    pub fn to_status(&self) -> Status {
        let mut metadata = HashMap::new();
        metadata.insert(META_RETRYABLE.to_string(), self.retryable.to_string());
        if let Some(code) = &self.upstream_code {
            metadata.insert(META_UPSTREAM_CODE.to_string(), code.clone());
        }
        if let Some(param) = &self.param {
            metadata.insert(META_PARAM.to_string(), param.clone());
        }
        if let Some(info) = &self.rate_limit {
            info.write(&mut metadata);
        }
        let mut details = ErrorDetails::with_error_info(self.code.reason(), DOMAIN, metadata);
        if let Some(after) = self.retry_after {
            details.set_retry_info(Some(after));
        }
        if let Some(subject) = &self.quota_subject {
            details.add_quota_failure_violation(subject.to_string(), self.message.clone());
        }
        if let Some(param) = &self.param {
            details.add_bad_request_violation(param.clone(), self.message.clone());
        }
        Status::with_error_details(self.code.grpc_code(), self.message.clone(), details)
    }

    /// Reads a status back, from our details when present, else from its code.
    pub fn from_status(status: &Status) -> Self {
        let details = status.get_error_details();
        let info = details.error_info();
        let code = info
            .filter(|i| i.domain == DOMAIN)
            .and_then(|i| ErrorCode::from_reason(&i.reason))
            .unwrap_or_else(|| ErrorCode::from_grpc_code(status.code()));
        let mut err = Self::new(code, status.message());
        if code == ErrorCode::Internal && info.is_none() {
            // A status we did not write (transport failure, panic guard): keep it vague.
            err.message = "internal error".into();
        }
        if let Some(info) = info {
            if let Some(r) = info.metadata.get(META_RETRYABLE) {
                err.retryable = r == "true";
            }
            err.upstream_code = info.metadata.get(META_UPSTREAM_CODE).cloned();
            err.param = info.metadata.get(META_PARAM).cloned();
            err.rate_limit = RateLimitInfo::read(&info.metadata).map(Box::new);
        }
        err.retry_after = details.retry_info().and_then(|r| r.retry_delay);
        err.quota_subject = details
            .quota_failure()
            .and_then(|q| q.violations.first())
            .map(|v| v.subject.clone().into_boxed_str());
        err
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        err.to_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_status() {
        for code in ErrorCode::ALL {
            let err = ApiError::new(code, "boom")
                .with_param("messages[0]")
                .with_retry_after(Duration::from_secs(3))
                .with_upstream_code("x")
                .with_quota_subject("key:abc")
                .with_rate_limit(RateLimitInfo {
                    limit_requests: Some(60),
                    remaining_requests: Some(0),
                    reset_requests_ms: Some(1_500),
                    ..RateLimitInfo::default()
                });
            let back = ApiError::from_status(&err.to_status());
            assert_eq!(back, err, "{code:?}");
            assert_eq!(err.to_status().code(), code.grpc_code());
        }
    }

    #[test]
    fn reasons_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.reason()), "{code:?}");
        }
    }

    #[test]
    fn foreign_status_maps_by_code_and_hides_internals() {
        let err = ApiError::from_status(&Status::internal("panicked at src/x.rs:3"));
        assert_eq!(err.code, ErrorCode::Internal);
        assert_eq!(err.message, "internal error");
        let err = ApiError::from_status(&Status::unavailable("connection refused"));
        assert_eq!(err.code, ErrorCode::ServiceUnavailable);
        assert_eq!(err.code.http_status(), 503);
    }
}
