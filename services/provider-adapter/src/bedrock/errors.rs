//! AWS errors in Switchyard's vocabulary: the error type (from `x-amzn-errortype`,
//! the body's `__type` / `code`, or an exception event's `:exception-type`) and its
//! `message` become one [`UpstreamError`] with the HTTP status AWS documents for
//! that type, so `ApiError::from(&ProviderError)` maps Bedrock like every provider.
//!
//! Normalized on purpose: `ModelNotReadyException` arrives as HTTP 429 but means the
//! model is loading, not that the caller is over a limit, so it maps to 503
//! (unavailable, retryable); credential and signature errors keep no message, since
//! AWS echoes the canonical request and the access key id in them.

use serde_json::Value;

use crate::{ProviderError, UpstreamError};

/// The code a `ValidationException` about prompt length gets, which error.rs maps
/// to `context_length_exceeded`.
const CONTEXT_LENGTH: &str = "context_length_exceeded";

/// How Bedrock words "the prompt does not fit" (Anthropic, Amazon, Meta and
/// OpenAI-style models behind the same ValidationException).
const CONTEXT_PHRASES: [&str; 7] = [
    "input is too long",
    "prompt is too long",
    "input length and `max_tokens` exceed context limit",
    "too many total text bytes",
    "too many input tokens",
    "maximum context length",
    "context window",
];

/// The error type name: `ValidationException:http://internal.amazon.com/...` and
/// `com.amazon.coral.service#ThrottlingException` both give the part that names it.
pub fn type_name(raw: &str) -> Option<String> {
    let name = raw.rsplit('#').next().unwrap_or(raw);
    let name = name.split(':').next().unwrap_or(name).trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// The type and message of an error body (`{"message": ...}`, with `__type` or
/// `code` when the header is missing). `Message` is spelt both ways by AWS.
pub fn parse_body(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return (None, None);
    };
    let text = |key: &str| value.get(key).and_then(Value::as_str);
    let kind = text("__type").or_else(|| text("code")).and_then(type_name);
    let message = text("message")
        .or_else(|| text("Message"))
        .map(str::to_string);
    (kind, message)
}

/// For the endpoint's body-only parser: what a body alone says.
pub fn parse_error(body: &[u8]) -> UpstreamError {
    let (kind, message) = parse_body(body);
    upstream_error(kind.as_deref(), message)
}

/// The status Switchyard maps a type by; `None` keeps what AWS sent.
fn status_of(kind: &str) -> Option<u16> {
    let kind = kind.to_ascii_lowercase();
    let kind = kind.strip_suffix("exception").unwrap_or(&kind);
    Some(match kind {
        "throttling" | "toomanyrequests" => 429,
        "serviceunavailable" | "modelnotready" => 503,
        "internalserver" | "internalfailure" => 500,
        "modelstreamerror" | "modelerror" => 502,
        "modeltimeout" => 408,
        "validation" | "serialization" => 400,
        "resourcenotfound" => 404,
        _ if is_credential(kind) => 403,
        _ => return None,
    })
}

/// Errors about who is calling: the configured credential is wrong, expired or not
/// allowed. Operator-facing; their messages are never passed on.
fn is_credential(kind_lower_no_suffix: &str) -> bool {
    matches!(
        kind_lower_no_suffix,
        "accessdenied"
            | "unrecognizedclient"
            | "expiredtoken"
            | "invalidsignature"
            | "incompletesignature"
            | "missingauthenticationtoken"
            | "invalidclienttokenid"
            | "signaturedoesnotmatch"
            | "unauthorized"
    )
}

fn upstream_error(kind: Option<&str>, message: Option<String>) -> UpstreamError {
    let lower = kind.map(|k| {
        let k = k.to_ascii_lowercase();
        k.strip_suffix("exception").unwrap_or(&k).to_string()
    });
    if lower.as_deref().is_some_and(is_credential) {
        return UpstreamError {
            code: kind.map(str::to_string),
            kind: kind.map(str::to_string),
            message: None,
        };
    }
    let too_long = lower.as_deref() == Some("validation")
        && message.as_deref().is_some_and(|m| {
            let m = m.to_ascii_lowercase();
            CONTEXT_PHRASES.iter().any(|p| m.contains(p))
        });
    UpstreamError {
        code: if too_long {
            Some(CONTEXT_LENGTH.to_string())
        } else {
            kind.map(str::to_string)
        },
        kind: kind.map(str::to_string),
        message,
    }
}

/// The one error for a failed call or an exception event: `http_status` is the
/// response's (None for an event), `kind` the AWS error type.
pub fn provider_error(
    provider: &str,
    model: &str,
    http_status: Option<u16>,
    kind: Option<&str>,
    message: Option<String>,
) -> ProviderError {
    let status = kind.and_then(status_of).or(http_status);
    ProviderError::Upstream {
        provider: provider.to_string(),
        model: model.to_string(),
        status,
        // AWS sends no retry-after; callers back off on their own.
        retry_after: None,
        error: Box::new(upstream_error(kind, message)),
    }
}

#[cfg(test)]
mod tests {
    use switchyard_error::{ApiError, ErrorCode};

    use super::*;

    fn api(status: Option<u16>, kind: &str, message: &str) -> ApiError {
        ApiError::from(&provider_error(
            "bedrock",
            "m",
            status,
            type_name(kind).as_deref(),
            Some(message.into()),
        ))
    }

    #[test]
    fn type_names_from_header_and_body() {
        assert_eq!(
            type_name("ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/")
                .as_deref(),
            Some("ValidationException")
        );
        assert_eq!(
            type_name("com.amazon.coral.service#UnrecognizedClientException").as_deref(),
            Some("UnrecognizedClientException")
        );
        assert_eq!(type_name(""), None);
        assert_eq!(
            parse_body(br#"{"Message":"x","__type":"a#ThrottlingException"}"#),
            (Some("ThrottlingException".into()), Some("x".into()))
        );
        assert_eq!(parse_body(b"<html>"), (None, None));
    }

    #[test]
    fn every_documented_type_maps_by_meaning() {
        let cases = [
            (429, "ThrottlingException", ErrorCode::RateLimited, true),
            (
                503,
                "ServiceUnavailableException",
                ErrorCode::UpstreamUnavailable,
                true,
            ),
            (
                500,
                "InternalServerException",
                ErrorCode::UpstreamUnavailable,
                true,
            ),
            (
                429,
                "ModelNotReadyException",
                ErrorCode::UpstreamUnavailable,
                true,
            ),
            (
                424,
                "ModelErrorException",
                ErrorCode::UpstreamUnavailable,
                true,
            ),
            (
                408,
                "ModelTimeoutException",
                ErrorCode::UpstreamTimeout,
                true,
            ),
            (
                400,
                "ValidationException",
                ErrorCode::UpstreamRejected,
                false,
            ),
            (
                403,
                "AccessDeniedException",
                ErrorCode::UpstreamUnavailable,
                false,
            ),
            (
                403,
                "UnrecognizedClientException",
                ErrorCode::UpstreamUnavailable,
                false,
            ),
            (
                403,
                "ExpiredTokenException",
                ErrorCode::UpstreamUnavailable,
                false,
            ),
            (
                403,
                "InvalidSignatureException",
                ErrorCode::UpstreamUnavailable,
                false,
            ),
            (
                404,
                "ResourceNotFoundException",
                ErrorCode::UpstreamUnavailable,
                false,
            ),
        ];
        for (status, kind, code, retryable) in cases {
            let api = api(Some(status), kind, "details");
            assert_eq!(api.code, code, "{kind}");
            assert_eq!(api.retryable, retryable, "{kind}");
        }
    }

    #[test]
    fn prompt_too_long_is_context_length() {
        for message in [
            "Input is too long for requested model.",
            "The model returned the following errors: prompt is too long: 200049 tokens > 200000 maximum",
            "The model returned the following errors: input length and `max_tokens` exceed context limit: 199000 + 8192 > 200000",
        ] {
            let api = api(Some(400), "ValidationException", message);
            assert_eq!(api.code, ErrorCode::ContextLengthExceeded, "{message}");
            assert_eq!(api.upstream_code.as_deref(), Some(CONTEXT_LENGTH));
        }
        let api = api(
            Some(400),
            "ValidationException",
            "The provided model identifier is invalid.",
        );
        assert_eq!(api.code, ErrorCode::UpstreamRejected);
        assert_eq!(api.message, "The provided model identifier is invalid.");
        assert_eq!(api.upstream_code.as_deref(), Some("ValidationException"));
    }

    #[test]
    fn credential_errors_keep_no_message() {
        let message =
            "The request signature we calculated does not match... Credential=AKIDLEAK/20250101";
        let err = provider_error(
            "bedrock",
            "m",
            Some(403),
            Some("InvalidSignatureException"),
            Some(message.into()),
        );
        let ProviderError::Upstream { error, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(error.message, None);
        let api = ApiError::from(&err);
        assert!(!api.message.contains("AKIDLEAK"));
        assert!(!format!("{err:?}").contains("AKIDLEAK"));
    }

    #[test]
    fn exception_events_take_the_documented_status() {
        // Events carry no HTTP status: the type decides.
        assert_eq!(
            api(None, "throttlingException", "slow").code,
            ErrorCode::RateLimited
        );
        let api_ = api(None, "modelStreamErrorException", "boom");
        assert_eq!(api_.code, ErrorCode::UpstreamUnavailable);
        assert!(api_.retryable);
        assert_eq!(
            api(
                None,
                "validationException",
                "Input is too long for requested model."
            )
            .code,
            ErrorCode::ContextLengthExceeded
        );
        let unknown = api(None, "somethingNewException", "x");
        assert_eq!(unknown.code, ErrorCode::UpstreamUnavailable);
    }
}
