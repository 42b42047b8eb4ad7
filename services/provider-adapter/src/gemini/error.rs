//! Google's error bodies (`{"error":{"code","message","status","details"}}`, or
//! that object in a one-element array from a JSON-array stream) normalized into
//! [`ProviderError::Upstream`], so the adapter's one mapping reads them by meaning:
//! `RetryInfo.retryDelay` becomes `retry_after`; a token-limit message is coded
//! `context_length_exceeded`; a rejected API key or token (Google AI answers an
//! invalid key with HTTP 400 `API_KEY_INVALID`) becomes a 401, which callers see as
//! the operator's credential problem; credentials are scrubbed from every message.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use switchyard_config::Secret;

use crate::{ProviderError, UpstreamError};

/// `ErrorInfo.reason`s that mean the configured credential is unusable.
const CREDENTIAL_REASONS: [&str; 6] = [
    "API_KEY_INVALID",
    "API_KEY_EXPIRED",
    "ACCESS_TOKEN_EXPIRED",
    "ACCESS_TOKEN_TYPE_UNSUPPORTED",
    "CREDENTIALS_MISSING",
    "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
];

/// What a running request needs of its provider to report errors: the instance
/// name, and the credentials no message may carry.
#[derive(Clone)]
pub struct Google {
    /// The provider instance, as errors name it.
    pub name: Arc<str>,
    secrets: Arc<[Secret]>,
}

impl Google {
    /// The handle of instance `name` sending `secrets`.
    pub fn new(name: Arc<str>, secrets: Vec<Secret>) -> Self {
        Self {
            name,
            secrets: secrets.into(),
        }
    }

    /// A non-2xx answer: its status, the `retry-after` header if any, and the body.
    pub fn http_error(
        &self,
        model: &str,
        status: u16,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> ProviderError {
        let body = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
        let parsed = self.parse(&body);
        let status = if parsed.credential { 401 } else { status };
        self.upstream(
            model,
            Some(status),
            retry_after.or(parsed.retry_delay),
            parsed.error,
        )
    }

    /// An error object that came with a 200 (in an answer or a stream event); its
    /// numeric `code` stands for the HTTP status.
    pub fn error_event(&self, model: &str, body: &Value) -> ProviderError {
        let parsed = self.parse(body);
        let status = if parsed.credential {
            Some(401)
        } else {
            parsed.status
        };
        self.upstream(model, status, parsed.retry_delay, parsed.error)
    }

    fn upstream(
        &self,
        model: &str,
        status: Option<u16>,
        retry_after: Option<Duration>,
        error: UpstreamError,
    ) -> ProviderError {
        ProviderError::Upstream {
            provider: self.name.to_string(),
            model: model.to_string(),
            status,
            retry_after,
            error: Box::new(error),
        }
    }

    fn parse(&self, body: &Value) -> Parsed {
        let mut parsed = parse(body);
        parsed.error.message = parsed.error.message.map(|m| self.scrub(&m));
        parsed
    }

    /// `message` without the configured credentials or anything shaped like a
    /// Google API key.
    fn scrub(&self, message: &str) -> String {
        let mut out = message.to_string();
        for secret in self.secrets.iter() {
            let value = secret.expose();
            if value.len() >= 8 {
                out = out.replace(value, "***");
            }
        }
        scrub_api_keys(&out)
    }
}

/// The error a prompt refused by Google's filters becomes.
pub fn content_filtered(provider: &str, model: &str, reason: &str) -> ProviderError {
    ProviderError::Upstream {
        provider: provider.to_string(),
        model: model.to_string(),
        status: None,
        retry_after: None,
        error: Box::new(UpstreamError {
            code: Some("content_filter".into()),
            kind: Some(reason.to_string()),
            message: Some(format!(
                "the prompt was blocked by the provider's content filter ({reason})"
            )),
        }),
    }
}

/// A Google error body, read.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Code (Google's `status`, or `context_length_exceeded`), kind
    /// (`ErrorInfo.reason`) and message.
    pub error: UpstreamError,
    /// The numeric `code`, when it is an HTTP error status.
    pub status: Option<u16>,
    /// `RetryInfo.retryDelay`.
    pub retry_delay: Option<Duration>,
    /// The configured credential was rejected.
    pub credential: bool,
}

/// Reads `{"error":{...}}`, `[{"error":{...}}]` or the bare error object; anything
/// else reads as an empty error (the HTTP status still maps).
pub fn parse(body: &Value) -> Parsed {
    let body = match body {
        Value::Array(items) => items.first().unwrap_or(&Value::Null),
        other => other,
    };
    let err = body.get("error").unwrap_or(body);
    let text = |key: &str| err.get(key).and_then(Value::as_str).map(str::to_string);
    let status = err
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c));
    let message = text("message");
    let google_status = text("status");
    let mut reason = None;
    let mut retry_delay = None;
    for detail in err
        .get("details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let kind = detail
            .get("@type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if kind.ends_with("google.rpc.RetryInfo") {
            retry_delay = detail
                .get("retryDelay")
                .and_then(Value::as_str)
                .and_then(parse_duration);
        } else if kind.ends_with("google.rpc.ErrorInfo") {
            reason = detail
                .get("reason")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
    }
    let lower = message.as_deref().unwrap_or_default().to_ascii_lowercase();
    let credential = reason
        .as_deref()
        .is_some_and(|r| CREDENTIAL_REASONS.contains(&r))
        || google_status.as_deref() == Some("UNAUTHENTICATED")
        || (lower.contains("api key")
            && (lower.contains("not valid") || lower.contains("expired")));
    let context = lower.contains("exceeds the maximum number of tokens")
        || (lower.contains("input token count") && lower.contains("exceeds"));
    let code = if context {
        Some("context_length_exceeded".to_string())
    } else {
        google_status
    };
    Parsed {
        error: UpstreamError {
            code,
            kind: reason,
            message,
        },
        status,
        retry_delay,
        credential,
    }
}

/// A protobuf JSON `Duration` (`"13s"`, `"0.5s"`, `"1.000340012s"`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let secs: f64 = text.trim().strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && (0.0..1e9).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

/// Replaces every Google API key (`AIza` and 35 more key characters) in `text`.
fn scrub_api_keys(text: &str) -> String {
    const PREFIX: &str = "AIza";
    const LEN: usize = 39;
    let is_key_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(PREFIX) {
        let candidate = &rest.as_bytes()[at..];
        let run = candidate.iter().take_while(|b| is_key_char(**b)).count();
        out.push_str(&rest[..at]);
        if run >= LEN {
            out.push_str("***");
        } else {
            out.push_str(&rest[at..at + run.max(PREFIX.len())]);
        }
        rest = &rest[at + run.max(PREFIX.len())..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_error::{ApiError, ErrorCode};

    fn google() -> Google {
        Google::new(
            "g".into(),
            vec![Secret::new("AIzaSyTEST-secret-key-0123456789abcdef")],
        )
    }

    #[test]
    fn rate_limit_with_retry_info() {
        let body = json!({"error": {
            "code": 429,
            "message": "You exceeded your current quota.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "13s"},
            ],
        }});
        let err = google().http_error("m", 429, None, body.to_string().as_bytes());
        let ProviderError::Upstream {
            retry_after, error, ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(*retry_after, Some(Duration::from_secs(13)));
        assert_eq!(error.code.as_deref(), Some("RESOURCE_EXHAUSTED"));
        let api = ApiError::from(&err);
        assert_eq!(api.code, ErrorCode::RateLimited);
        assert_eq!(api.retry_after, Some(Duration::from_secs(13)));
        // A header wins over the body.
        let err = google().http_error(
            "m",
            429,
            Some(Duration::from_secs(2)),
            body.to_string().as_bytes(),
        );
        assert_eq!(
            ApiError::from(&err).retry_after,
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn context_credential_and_array_bodies() {
        let body = json!([{"error": {
            "code": 400,
            "message": "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
            "status": "INVALID_ARGUMENT",
        }}]);
        let err = google().http_error("m", 400, None, body.to_string().as_bytes());
        let api = ApiError::from(&err);
        assert_eq!(api.code, ErrorCode::ContextLengthExceeded);
        assert_eq!(
            api.upstream_code.as_deref(),
            Some("context_length_exceeded")
        );

        let body = json!({"error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key. (AIzaSyTEST-secret-key-0123456789abcdef)",
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}],
        }});
        let err = google().http_error("m", 400, None, body.to_string().as_bytes());
        assert!(!format!("{err:?}").contains("secret-key"), "{err:?}");
        let api = ApiError::from(&err);
        assert_eq!(api.code, ErrorCode::UpstreamUnavailable);
        assert!(!api.retryable);
        assert_eq!(
            api.message,
            "provider `g` rejected the configured credential"
        );
    }

    #[test]
    fn durations_and_scrubbing() {
        assert_eq!(parse_duration("13s"), Some(Duration::from_secs(13)));
        assert_eq!(parse_duration("0.5s"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("13"), None);
        assert_eq!(parse_duration("-1s"), None);
        let key = "AIzaSyA1234567890abcdefghijklmnopqrstuv";
        assert_eq!(key.len(), 39);
        assert_eq!(
            scrub_api_keys(&format!("see https://x?key={key}&hl=en, AIza short")),
            "see https://x?key=***&hl=en, AIza short"
        );
        assert_eq!(scrub_api_keys("AIzaAIza"), "AIzaAIza");
        assert_eq!(scrub_api_keys("é AIza"), "é AIza");
    }

    #[test]
    fn unreadable_bodies_leave_the_status() {
        let err = google().http_error("m", 503, None, b"<html>busy</html>");
        let api = ApiError::from(&err);
        assert_eq!(api.code, ErrorCode::UpstreamUnavailable);
        assert!(api.retryable);
        let err = google().error_event(
            "m",
            &json!({"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}),
        );
        assert!(matches!(
            err,
            ProviderError::Upstream {
                status: Some(503),
                ..
            }
        ));
    }
}
