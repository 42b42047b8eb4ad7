//! AWS Signature Version 4 for Bedrock requests, through the `aws-sigv4` crate: the
//! canonical request covers the method, the encoded path (encoded once more, as SigV4
//! wants for every service but S3), the `host`, `content-type` and `accept` headers,
//! `x-amz-date`, `x-amz-security-token` when there is one, and the SHA-256 of the
//! exact body bytes sent.

use std::fmt;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use switchyard_config::Secret;

use crate::ProviderError;

/// The SigV4 signing name of the Bedrock runtime API (not `bedrock-runtime`).
pub const SERVICE: &str = "bedrock";

/// Static AWS credentials, read once at start-up. Every field prints as `***`: the
/// access key id is not a secret, but it names an account and has no place in logs.
#[derive(Clone)]
pub struct AwsCredentials {
    /// `AKIA…` / `ASIA…`.
    pub access_key_id: String,
    /// The key that signs; never sent.
    pub secret_access_key: Secret,
    /// For temporary credentials (STS): sent as `x-amz-security-token` and signed.
    pub session_token: Option<Secret>,
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &"***")
            .field("secret_access_key", &"***")
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// One header the signature adds to a request.
#[derive(Debug)]
pub struct SignedHeader {
    /// `authorization`, `x-amz-date` or `x-amz-security-token`.
    pub name: &'static str,
    /// The value to send.
    pub value: String,
    /// Whether the value is a credential (mark it sensitive so it never prints).
    pub sensitive: bool,
}

/// Signs requests for one region with one set of credentials.
pub struct Signer {
    identity: Identity,
    region: String,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `region` (the configured one, whatever URL requests go to).
    pub fn new(credentials: &AwsCredentials, region: &str) -> Self {
        let credentials = Credentials::new(
            credentials.access_key_id.clone(),
            credentials.secret_access_key.expose(),
            credentials
                .session_token
                .as_ref()
                .map(|t| t.expose().to_string()),
            None,
            "switchyard-config",
        );
        Self {
            identity: credentials.into(),
            region: region.to_string(),
        }
    }

    /// The headers that sign a request to `url` (already percent-encoded) carrying
    /// `headers` and `body`, at `time`.
    pub fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        time: SystemTime,
    ) -> Result<Vec<SignedHeader>, ProviderError> {
        // The error texts of the signer name neither credentials nor the body, but
        // say nothing a caller can act on either: the URL is ours, built from the model.
        let unsignable = |_| {
            ProviderError::invalid(
                "upstream_model",
                "cannot be used in a signed Bedrock request URL",
            )
        };
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(SERVICE)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|_| ProviderError::invalid("upstream_model", "cannot be signed for Bedrock"))?
            .into();
        let request = SignableRequest::new(
            method,
            url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(unsignable)?;
        let (instructions, _signature) = sign(request, &params).map_err(unsignable)?.into_parts();
        let (signed, _query) = instructions.into_parts();
        Ok(signed
            .into_iter()
            .map(|h| SignedHeader {
                name: h.name(),
                value: h.value().to_string(),
                sensitive: h.sensitive() || h.name() == "authorization",
            })
            .collect())
    }
}

/// One path segment percent-encoded as SigV4 and Bedrock expect: everything but
/// the unreserved characters (`A-Z a-z 0-9 - _ . ~`), so a model id's `:` and an
/// ARN's `/` stay inside their segment.
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn creds(token: Option<&str>) -> AwsCredentials {
        AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: token.map(Secret::new),
        }
    }

    #[test]
    fn segments_keep_colons_and_slashes_inside() {
        assert_eq!(
            encode_segment("anthropic.claude-3-haiku-20240307-v1:0"),
            "anthropic.claude-3-haiku-20240307-v1%3A0"
        );
        assert_eq!(
            encode_segment("arn:aws:bedrock:us-east-1:1:inference-profile/us.x"),
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x"
        );
        assert_eq!(encode_segment("a b%é"), "a%20b%25%C3%A9");
    }

    #[test]
    fn signature_headers_have_the_documented_shape() {
        // 2015-08-30T12:36:00Z, the date of AWS's SigV4 test suite.
        let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let signer = Signer::new(&creds(Some("session-token-value")), "us-east-1");
        let headers = signer
            .sign(
                "POST",
                "https://bedrock-runtime.us-east-1.amazonaws.com/model/m%3A0/converse",
                &[("content-type", "application/json")],
                b"{}",
                time,
            )
            .unwrap();
        let get = |name: &str| {
            headers
                .iter()
                .find(|h| h.name == name)
                .map(|h| h.value.as_str())
        };
        assert_eq!(get("x-amz-date"), Some("20150830T123600Z"));
        assert_eq!(get("x-amz-security-token"), Some("session-token-value"));
        let auth = get("authorization").unwrap();
        let prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=";
        assert!(auth.starts_with(prefix), "{auth}");
        let signature = &auth[prefix.len()..];
        assert_eq!(signature.len(), 64);
        assert!(signature.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(
            headers
                .iter()
                .filter(|h| h.name != "x-amz-date")
                .all(|h| h.sensitive)
        );
    }

    #[test]
    fn debug_prints_no_credential() {
        let text = format!(
            "{:?} {:?}",
            creds(Some("tok")),
            Signer::new(&creds(None), "eu-west-1")
        );
        assert!(!text.contains("AKIDEXAMPLE"), "{text}");
        assert!(!text.contains("EXAMPLEKEY"), "{text}");
        assert!(!text.contains("tok\""), "{text}");
    }
}
