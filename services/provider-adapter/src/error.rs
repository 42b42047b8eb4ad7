//! Errors: [`AdapterError`] for start-up, [`ProviderError`] for requests, and the one
//! mapping of provider failures onto Switchyard's error vocabulary
//! ([`ApiError::from(&ProviderError)`](ApiError)).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchyard_error::{ApiError, ErrorCode};

use crate::http::TransportError;

/// Why the adapter could not start. Every variant names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// A configuration value is unusable (a missing key variable, a bad URL).
    #[error(transparent)]
    Config(#[from] switchyard_config::ConfigError),
    /// A configuration value is unusable; `key` is its path (`providers[0].base_url`).
    #[error("config key `{key}`: {message}")]
    Invalid {
        /// The key path.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The HTTP client for a provider could not be built (TLS set-up).
    #[error("provider `{provider}`: cannot build HTTP client: {source}")]
    HttpClient {
        /// The provider instance.
        provider: String,
        /// The cause.
        #[source]
        source: rustls::Error,
    },
    /// The environment names a proxy the client cannot use (only `http://` ones).
    #[error(
        "environment variable HTTPS_PROXY, HTTP_PROXY or ALL_PROXY names a `{scheme}://` \
         proxy; only http:// proxies are supported"
    )]
    Proxy {
        /// The proxy URL's scheme.
        scheme: String,
    },
    /// The gRPC server failed.
    #[error(transparent)]
    Serve(#[from] switchyard_grpc::GrpcError),
}

/// The error object a provider sent (`{"error":{"message","type","code"}}`), as far
/// as it could be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamError {
    /// The provider's error code (`context_length_exceeded`).
    pub code: Option<String>,
    /// The provider's error type (`invalid_request_error`).
    pub kind: Option<String>,
    /// The provider's message. Shown to callers only where it cannot carry secrets.
    pub message: Option<String>,
}

/// Why one request failed. Messages never contain keys or prompt text; the mapping to
/// what callers see is `ApiError::from(&ProviderError)`, written once below.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// The request cannot be translated (a field the router should have validated).
    #[error("request field `{param}`: {message}")]
    InvalidRequest {
        /// The offending field (`messages[2].role`).
        param: String,
        /// What is wrong.
        message: String,
    },
    /// The router named a provider this adapter does not have: a configuration
    /// mismatch between router and adapter.
    #[error("no provider is named `{0}`")]
    UnknownProvider(String),
    /// The provider answered with an error: an HTTP status, or an error event in a
    /// stream (`status` from the event's numeric code when it has one).
    #[error(
        "provider `{provider}` answered with an error{}",
        status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
    )]
    Upstream {
        /// The provider instance.
        provider: String,
        /// The upstream model asked for.
        model: String,
        /// The HTTP status, when known.
        status: Option<u16>,
        /// From `retry-after-ms` / `retry-after`.
        retry_after: Option<Duration>,
        /// The provider's error object (boxed: errors stay small on the happy path).
        error: Box<UpstreamError>,
    },
    /// The provider could not be reached, or the connection broke.
    #[error("cannot reach provider `{provider}`")]
    Connect {
        /// The provider instance.
        provider: String,
    },
    /// The provider did not answer (or went silent mid-stream) within the timeout.
    #[error("provider `{provider}` timed out")]
    Timeout {
        /// The provider instance.
        provider: String,
    },
    /// The provider sent something that is not its documented format.
    #[error("malformed {what} from upstream provider `{provider}`")]
    Malformed {
        /// The provider instance.
        provider: String,
        /// `event` or `response`.
        what: &'static str,
    },
    /// The provider's stream ended without its end marker: the answer is incomplete.
    #[error("upstream stream ended before completion (provider `{provider}`)")]
    StreamEnded {
        /// The provider instance.
        provider: String,
    },
    /// One streamed event exceeded the size bound.
    #[error("event from upstream provider `{provider}` exceeds {limit} bytes")]
    EventTooLarge {
        /// The provider instance.
        provider: String,
        /// The bound.
        limit: usize,
    },
    /// A mock provider failed on purpose (`failure_rate`).
    #[error("provider `{provider}` failed (simulated by failure_rate)")]
    Simulated {
        /// The provider instance.
        provider: String,
    },
}

impl ProviderError {
    /// A request field that cannot be translated.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            param: param.into(),
            message: message.into(),
        }
    }

    /// Classifies a transport error from the HTTP client. Its cause (refused,
    /// reset, TLS, proxy) goes to the operator's log, never into the answer.
    pub(crate) fn transport(provider: &str, err: &TransportError) -> Self {
        if !matches!(err, TransportError::Timeout) {
            let cause = cause_chain(err);
            tracing::warn!(provider, cause, "provider connection failed");
        }
        let provider = provider.to_string();
        match err {
            TransportError::Timeout => Self::Timeout { provider },
            TransportError::Connect(_)
            | TransportError::Body(_)
            | TransportError::Dial(_)
            | TransportError::Send(_)
            | TransportError::Url => Self::Connect { provider },
        }
    }
}

/// Longest upstream message passed on to callers.
const MAX_UPSTREAM_MESSAGE: usize = 1024;

impl From<&ProviderError> for ApiError {
    fn from(err: &ProviderError) -> Self {
        match err {
            ProviderError::InvalidRequest { param, message } => {
                ApiError::invalid(param.clone(), message.clone())
            }
            ProviderError::UnknownProvider(_) => ApiError::internal(),
            ProviderError::Upstream {
                provider,
                model,
                status,
                retry_after,
                error,
            } => upstream_api_error(provider, model, *status, *retry_after, error),
            ProviderError::Connect { .. }
            | ProviderError::Malformed { .. }
            | ProviderError::StreamEnded { .. }
            | ProviderError::Simulated { .. } => {
                ApiError::new(ErrorCode::UpstreamUnavailable, err.to_string())
            }
            ProviderError::EventTooLarge { .. } => {
                ApiError::new(ErrorCode::UpstreamUnavailable, err.to_string()).with_retryable(false)
            }
            ProviderError::Timeout { .. } => {
                ApiError::new(ErrorCode::UpstreamTimeout, err.to_string())
            }
        }
    }
}

impl From<ProviderError> for ApiError {
    fn from(err: ProviderError) -> Self {
        ApiError::from(&err)
    }
}

/// The mapping table of provider errors: HTTP status (or a stream's error event)
/// and the provider's error object to what callers see.
fn upstream_api_error(
    provider: &str,
    model: &str,
    status: Option<u16>,
    retry_after: Option<Duration>,
    error: &UpstreamError,
) -> ApiError {
    let upstream_message = || {
        error
            .message
            .as_deref()
            .map(truncate)
            .unwrap_or_else(|| match status {
                Some(code) => format!("provider `{provider}` rejected the request (HTTP {code})"),
                None => format!("provider `{provider}` rejected the request"),
            })
    };
    let keep_code = |api: ApiError| match &error.code {
        Some(code) => api.with_upstream_code(code.clone()),
        None => api,
    };
    let with_retry_after = |api: ApiError| match retry_after {
        Some(after) => api.with_retry_after(after),
        None => api,
    };
    if matches!(status, None | Some(400) | Some(413) | Some(422)) {
        if is_context_length(error) {
            return keep_code(ApiError::new(
                ErrorCode::ContextLengthExceeded,
                upstream_message(),
            ));
        }
        if is_content_filter(error) {
            return keep_code(ApiError::new(
                ErrorCode::ContentFiltered,
                upstream_message(),
            ));
        }
    }
    if is_billing_limit(status, error) {
        return billing_limit(provider);
    }
    let api = match status {
        // 498: Cohere's invalid or expired token.
        Some(401 | 403 | 498) => {
            return ApiError::new(
                ErrorCode::UpstreamUnavailable,
                format!("provider `{provider}` rejected the configured credential"),
            )
            .with_retryable(false);
        }
        // 499: the provider dropped a request the gateway did not cancel (Cohere).
        Some(499) => {
            return ApiError::new(
                ErrorCode::UpstreamUnavailable,
                format!("provider `{provider}` cancelled the request (HTTP 499)"),
            );
        }
        Some(404) => ApiError::new(
            ErrorCode::UpstreamUnavailable,
            format!("provider `{provider}` does not serve model `{model}`"),
        )
        .with_retryable(false),
        Some(408 | 504) => ApiError::new(
            ErrorCode::UpstreamTimeout,
            format!(
                "provider `{provider}` timed out (HTTP {})",
                status.unwrap_or(504)
            ),
        ),
        Some(429) => with_retry_after(ApiError::new(
            ErrorCode::RateLimited,
            format!("provider `{provider}` is rate limiting requests"),
        )),
        Some(400..=499) => {
            ApiError::new(ErrorCode::UpstreamRejected, upstream_message()).with_retryable(false)
        }
        Some(code) => with_retry_after(ApiError::new(
            ErrorCode::UpstreamUnavailable,
            format!("provider `{provider}` returned HTTP {code}"),
        )),
        None if is_rate_limit(error) => with_retry_after(ApiError::new(
            ErrorCode::RateLimited,
            format!("provider `{provider}` is rate limiting requests"),
        )),
        None => ApiError::new(
            ErrorCode::UpstreamUnavailable,
            format!("provider `{provider}` reported an error mid-stream"),
        ),
    };
    keep_code(api)
}

/// The operator's account is out of credit or over a spend limit: another
/// deployment may still serve, and the provider's billing text stays out of
/// callers' answers.
fn billing_limit(provider: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UpstreamUnavailable,
        format!("provider `{provider}` refused: the configured account's billing limit"),
    )
}

/// An account out of credit or over a spend cap, whatever status carries it:
/// 402; OpenAI's 429 `insufficient_quota` and spend-limit codes; Anthropic's 429
/// `enforced_spend_limit_reached` and its 400 "You have reached your specified
/// (workspace) API usage limits". Not a rate limit that passes in seconds, and
/// not a bad request: the request is fine, the account is not.
fn is_billing_limit(status: Option<u16>, error: &UpstreamError) -> bool {
    if status == Some(402)
        || code_or_kind_is(
            error,
            &[
                "insufficient_quota",
                "organization_spend_limit_exceeded",
                "project_spend_limit_exceeded",
                "organization_usage_limit_exceeded",
                "credit_balance_exhausted",
                "enforced_spend_limit_reached",
                "billing_error",
            ],
        )
    {
        return true;
    }
    status == Some(400)
        && error
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("You have reached your specified"))
}

fn truncate(message: &str) -> String {
    if message.len() <= MAX_UPSTREAM_MESSAGE {
        return message.to_string();
    }
    let mut end = MAX_UPSTREAM_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &message[..end])
}

fn code_or_kind_is(error: &UpstreamError, names: &[&str]) -> bool {
    [&error.code, &error.kind]
        .into_iter()
        .flatten()
        .any(|v| names.iter().any(|n| v.eq_ignore_ascii_case(n)))
}

fn is_context_length(error: &UpstreamError) -> bool {
    if code_or_kind_is(
        error,
        &[
            "context_length_exceeded",
            "exceed_context_size_error",
            "string_above_max_length",
        ],
    ) {
        return true;
    }
    let message = error
        .message
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    message.contains("maximum context length")
        || message.contains("context length exceeded")
        || message.contains("exceeds the available context size")
        || message.contains("context window")
}

fn is_content_filter(error: &UpstreamError) -> bool {
    code_or_kind_is(error, &["content_filter", "content_policy_violation"])
}

fn is_rate_limit(error: &UpstreamError) -> bool {
    code_or_kind_is(error, &["rate_limit_exceeded", "rate_limit_error"])
}

/// When a rate-limited caller may retry: `retry-after-ms` (OpenAI), else
/// `retry-after` in seconds or as an HTTP date.
/// `err` and its sources, joined by `: ` (`request failed: client error
/// (Connect): tcp connect error: Connection refused …`).
pub(crate) fn cause_chain(err: &dyn std::error::Error) -> String {
    let mut cause = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        cause.push_str(": ");
        cause.push_str(&inner.to_string());
        source = inner.source();
    }
    cause
}

pub(crate) fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return duration_from_secs(ms / 1000.0);
    }
    let value = header("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return duration_from_secs(secs);
    }
    let at = parse_http_date(value)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

fn duration_from_secs(secs: f64) -> Option<Duration> {
    (secs.is_finite() && (0.0..1e9).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

/// Unix seconds of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only
/// HTTP date format servers may send.
fn parse_http_date(value: &str) -> Option<u64> {
    let mut parts = value.split_whitespace();
    let _weekday = parts.next()?;
    let day: u64 = parts.next()?.parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as u64 + 1;
    let year: u64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (clock.next()??, clock.next()??, clock.next()??);
    if parts.next()? != "GMT"
        || !(1..=31).contains(&day)
        || year < 1970
        || h > 23
        || m > 59
        || s > 60
    {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), for years from 1970.
    let (y, mp) = if month > 2 {
        (year, month - 3)
    } else {
        (year - 1, month + 9)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{HeaderMap, HeaderValue};

    fn upstream(status: u16, code: Option<&str>, message: Option<&str>) -> ProviderError {
        ProviderError::Upstream {
            provider: "p".into(),
            model: "m".into(),
            status: Some(status),
            retry_after: None,
            error: Box::new(UpstreamError {
                code: code.map(str::to_string),
                kind: None,
                message: message.map(str::to_string),
            }),
        }
    }

    #[test]
    fn http_status_mapping_table() {
        type Case = (
            u16,
            Option<&'static str>,
            Option<&'static str>,
            ErrorCode,
            bool,
        );
        let cases: &[Case] = &[
            (
                498,
                None,
                Some("invalid api token"),
                ErrorCode::UpstreamUnavailable,
                false,
            ),
            (
                402,
                None,
                Some("Please add a payment method"),
                ErrorCode::UpstreamUnavailable,
                true,
            ),
            // Spend caps, not rate limits or bad requests: fall over.
            (
                429,
                Some("insufficient_quota"),
                Some("You exceeded your current quota"),
                ErrorCode::UpstreamUnavailable,
                true,
            ),
            (
                429,
                Some("enforced_spend_limit_reached"),
                None,
                ErrorCode::UpstreamUnavailable,
                true,
            ),
            (
                400,
                None,
                Some(
                    "You have reached your specified API usage limits. You will regain access on 2026-12-01 at 00:00 UTC.",
                ),
                ErrorCode::UpstreamUnavailable,
                true,
            ),
            (
                499,
                None,
                Some("request cancelled"),
                ErrorCode::UpstreamUnavailable,
                true,
            ),
            (
                400,
                Some("context_length_exceeded"),
                Some("too long"),
                ErrorCode::ContextLengthExceeded,
                false,
            ),
            (
                400,
                None,
                Some("This model's maximum context length is 4096 tokens"),
                ErrorCode::ContextLengthExceeded,
                false,
            ),
            (
                400,
                Some("content_filter"),
                Some("filtered"),
                ErrorCode::ContentFiltered,
                false,
            ),
            (
                400,
                Some("content_policy_violation"),
                None,
                ErrorCode::ContentFiltered,
                false,
            ),
            (
                400,
                Some("invalid_value"),
                Some("bad temperature"),
                ErrorCode::UpstreamRejected,
                false,
            ),
            (
                422,
                None,
                Some("unprocessable"),
                ErrorCode::UpstreamRejected,
                false,
            ),
            (
                401,
                None,
                Some("Incorrect API key provided: sk-abc***"),
                ErrorCode::UpstreamUnavailable,
                false,
            ),
            (403, None, None, ErrorCode::UpstreamUnavailable, false),
            (
                404,
                Some("model_not_found"),
                None,
                ErrorCode::UpstreamUnavailable,
                false,
            ),
            (408, None, None, ErrorCode::UpstreamTimeout, true),
            (504, None, None, ErrorCode::UpstreamTimeout, true),
            (
                429,
                Some("rate_limit_exceeded"),
                None,
                ErrorCode::RateLimited,
                true,
            ),
            (
                500,
                None,
                Some("boom"),
                ErrorCode::UpstreamUnavailable,
                true,
            ),
            (502, None, None, ErrorCode::UpstreamUnavailable, true),
            (503, None, None, ErrorCode::UpstreamUnavailable, true),
            (529, None, None, ErrorCode::UpstreamUnavailable, true),
        ];
        for (status, code, message, want, retryable) in cases {
            let api = ApiError::from(&upstream(*status, *code, *message));
            assert_eq!(api.code, *want, "HTTP {status} {code:?}");
            assert_eq!(api.retryable, *retryable, "HTTP {status} {code:?}");
        }
    }

    #[test]
    fn messages_follow_the_rules() {
        let api = ApiError::from(&upstream(
            400,
            Some("invalid_value"),
            Some("bad temperature"),
        ));
        assert_eq!(api.message, "bad temperature");
        assert_eq!(api.upstream_code.as_deref(), Some("invalid_value"));
        let api = ApiError::from(&upstream(
            401,
            None,
            Some("Incorrect API key provided: sk-abc"),
        ));
        assert_eq!(
            api.message,
            "provider `p` rejected the configured credential"
        );
        assert_eq!(api.upstream_code, None);
        let api = ApiError::from(&upstream(404, None, None));
        assert_eq!(api.message, "provider `p` does not serve model `m`");
        // The provider's billing text stays out of the answer.
        let api = ApiError::from(&upstream(
            429,
            Some("insufficient_quota"),
            Some("You exceeded your current quota, please check your plan"),
        ));
        assert_eq!(
            api.message,
            "provider `p` refused: the configured account's billing limit"
        );
        let api = ApiError::from(&upstream(500, None, Some("internal detail")));
        assert_eq!(api.message, "provider `p` returned HTTP 500");
        let api = ApiError::from(&upstream(400, None, Some(&"x".repeat(5000))));
        assert!(api.message.len() < 1100);
    }

    #[test]
    fn transport_and_stream_errors() {
        let p = || "p".to_string();
        let unavailable = [
            ProviderError::Connect { provider: p() },
            ProviderError::Malformed {
                provider: p(),
                what: "event",
            },
            ProviderError::StreamEnded { provider: p() },
            ProviderError::Simulated { provider: p() },
        ];
        for err in unavailable {
            let api = ApiError::from(&err);
            assert_eq!(api.code, ErrorCode::UpstreamUnavailable, "{err}");
            assert!(api.retryable, "{err}");
        }
        let api = ApiError::from(&ProviderError::Timeout { provider: p() });
        assert_eq!(api.code, ErrorCode::UpstreamTimeout);
        let api = ApiError::from(&ProviderError::UnknownProvider("x".into()));
        assert_eq!(api.code, ErrorCode::Internal);
        let api = ApiError::from(&ProviderError::StreamEnded { provider: p() });
        assert!(
            api.message
                .contains("upstream stream ended before completion")
        );
    }

    #[test]
    fn stream_error_events_are_classified() {
        let event = |code: &str| ProviderError::Upstream {
            provider: "p".into(),
            model: "m".into(),
            status: None,
            retry_after: None,
            error: Box::new(UpstreamError {
                code: Some(code.into()),
                kind: None,
                message: Some("x".into()),
            }),
        };
        assert_eq!(
            ApiError::from(&event("context_length_exceeded")).code,
            ErrorCode::ContextLengthExceeded
        );
        assert_eq!(
            ApiError::from(&event("rate_limit_exceeded")).code,
            ErrorCode::RateLimited
        );
        let api = ApiError::from(&event("server_error"));
        assert_eq!(api.code, ErrorCode::UpstreamUnavailable);
        assert!(api.retryable);
    }

    #[test]
    fn retry_after_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("garbage"), None);
    }
}
