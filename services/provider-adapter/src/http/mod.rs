//! What every HTTP provider kind shares: one pooled [`Client`] per provider
//! instance (HTTP/2 where the server offers it over TLS, connect and read timeouts
//! from `[provider_adapter]`, the environment's proxy, no redirects), bounded body
//! reads, and turning a non-2xx answer into a [`ProviderError::Upstream`] carrying
//! the status, the provider's `retry-after` and its error object as the kind's own
//! parser reads it.

mod client;
mod inline;
mod proxy;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use hyper_util::client::proxy::matcher::Matcher;
use switchyard_config::{ProviderAdapterConfig, ProviderConfig, Secret};

pub use ::http::Uri;
pub use client::{BodyStream, Client, Response, TransportError};

use crate::error::retry_after;
use crate::{AdapterError, ProviderError, UpstreamError};

/// Largest error body read from a provider (only its error object is used).
pub const MAX_ERROR_BODY: usize = 64 * 1024;
/// Largest complete answer read from a provider.
pub const MAX_BODY: usize = switchyard_grpc::MAX_MESSAGE_BYTES;

/// Reads a provider's error body into an [`UpstreamError`] (best effort: an
/// unreadable body leaves the HTTP status to map).
pub type ErrorParser = fn(&[u8]) -> UpstreamError;

/// The pooled client of one provider instance, proxied as the environment says.
/// Built once at start-up; never per request. It follows no redirects: an API
/// that redirects a POST is misconfigured, and its 3xx surfaces as an error.
pub fn client(name: &str, settings: &ProviderAdapterConfig) -> Result<Client, AdapterError> {
    let proxies = Matcher::from_env();
    usable_proxies(&proxies)?;
    Client::new(
        Duration::from_millis(settings.connect_timeout_ms),
        Duration::from_millis(settings.read_timeout_ms),
        proxies,
    )
    .map_err(|source| AdapterError::HttpClient {
        provider: name.to_string(),
        source,
    })
}

/// Refuses a proxy the client cannot speak to (only `http://` ones), so a
/// `socks5://` one stops start-up instead of failing every call.
fn usable_proxies(proxies: &Matcher) -> Result<(), AdapterError> {
    for probe in ["http://provider.invalid/", "https://provider.invalid/"] {
        let scheme = proxies
            .intercept(&Uri::from_static(probe))
            .and_then(|p| p.uri().scheme_str().map(str::to_string));
        if let Some(scheme) = scheme.filter(|s| s != "http") {
            return Err(AdapterError::Proxy { scheme });
        }
    }
    Ok(())
}

/// A credential header (`authorization: Bearer …`, `x-api-key: …`), marked
/// sensitive so it never prints; `key` names the config key for the error.
pub fn secret_header(
    key: &str,
    prefix: &str,
    secret: &Secret,
) -> Result<HeaderValue, AdapterError> {
    let mut value =
        HeaderValue::from_str(&format!("{prefix}{}", secret.expose())).map_err(|_| {
            AdapterError::Invalid {
                key: key.to_string(),
                message: "the credential contains characters not allowed in an HTTP header".into(),
            }
        })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The config key path of `[[providers]]` entry `index`'s `field`
/// (`providers[3].api_key_env`), for start-up errors.
pub fn key_path(index: usize, field: &str) -> String {
    format!("providers[{index}].{field}")
}

/// The entry's base URL: its own or its kind's / preset's default; an error names
/// `providers[i].base_url` when there is neither.
pub fn configured_base_url(
    index: usize,
    provider: &ProviderConfig,
) -> Result<String, AdapterError> {
    provider
        .effective_base_url()
        .ok_or_else(|| AdapterError::Invalid {
            key: key_path(index, "base_url"),
            message: format!("is required for kind {}", provider.kind.as_str()),
        })
}

/// The entry's API key, read now from the variable `api_key_env` names (unset:
/// none); a variable that is not set stops start-up naming the key.
pub fn configured_api_key(
    index: usize,
    provider: &ProviderConfig,
) -> Result<Option<Secret>, AdapterError> {
    Ok(provider
        .api_key_env
        .as_deref()
        .map(|var| Secret::from_env(&key_path(index, "api_key_env"), var))
        .transpose()?)
}

/// `{base}{path}` parsed once, when the provider is built: a request then clones
/// a parsed URI (reference-counted) instead of parsing its string every time.
/// `base` has been through [`base_url`]; `key` names it if the result is no URL.
pub fn endpoint_url(key: &str, base: &str, path: &str) -> Result<Uri, AdapterError> {
    Uri::try_from(format!("{base}{path}")).map_err(|e| AdapterError::Invalid {
        key: key.to_string(),
        message: format!("gives no valid URL with {path}: {e}"),
    })
}

/// A URL built per request (one naming the model in its path), checked like
/// the configured ones were; `what` names it in the error.
pub fn request_url(url: String, what: &'static str) -> Result<Uri, ProviderError> {
    Uri::try_from(url).map_err(|_| ProviderError::invalid(what, "does not form a valid URL"))
}

/// Checks a configured base URL: http or https with a host, no trailing slash
/// kept.
pub fn base_url(key: &str, url: &str) -> Result<String, AdapterError> {
    let invalid = |message: String| AdapterError::Invalid {
        key: key.to_string(),
        message,
    };
    let parsed = Uri::try_from(url).map_err(|e| invalid(format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme_str(), Some("http" | "https")) {
        return Err(invalid("must be an http or https URL".into()));
    }
    if parsed.host().is_none_or(str::is_empty) {
        return Err(invalid("names no host".into()));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// One provider instance's HTTP side: its name (for errors), client, the headers
/// every request carries (credentials, versions) and how its errors read.
#[derive(Clone)]
pub struct Endpoint {
    /// The provider instance, as errors name it.
    pub name: Arc<str>,
    /// The instance's pooled client.
    pub client: Client,
    /// Sent with every request (credentials marked sensitive, API versions).
    pub headers: HeaderMap,
    /// Reads the kind's error bodies.
    pub parse_error: ErrorParser,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may be credentials: names only.
        let names: Vec<&str> = self.headers.keys().map(HeaderName::as_str).collect();
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .field("headers", &names)
            .finish()
    }
}

impl Endpoint {
    /// POSTs a JSON body with the instance's headers plus `extra`; a non-2xx
    /// answer becomes its mapped error, naming `model`.
    pub async fn post_json(
        &self,
        url: Uri,
        body: &serde_json::Value,
        extra: HeaderMap,
        model: &str,
    ) -> Result<Response, ProviderError> {
        let response = self.post_raw(url, body, extra).await?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let body = read_limited(response, MAX_ERROR_BODY, &self.name)
            .await
            .unwrap_or_default();
        Err(ProviderError::Upstream {
            provider: self.name.to_string(),
            model: model.to_string(),
            status: Some(status),
            retry_after,
            error: Box::new((self.parse_error)(&body)),
        })
    }

    /// POSTs a JSON body with the instance's headers plus `extra`; any answer,
    /// 2xx or not, is returned for the kind to read.
    pub async fn post_raw(
        &self,
        url: Uri,
        body: &serde_json::Value,
        extra: HeaderMap,
    ) -> Result<Response, ProviderError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|_| ProviderError::invalid("request", "cannot be encoded as JSON"))?;
        let mut headers = self.headers.clone();
        headers.extend(extra);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.client
            .post(url, headers, bytes)
            .await
            .map_err(|e| ProviderError::transport(&self.name, &e))
    }

    /// Reads a whole answer, bounded by [`MAX_BODY`].
    pub async fn read(&self, response: Response) -> Result<Vec<u8>, ProviderError> {
        read_limited(response, MAX_BODY, &self.name).await
    }

    /// A body that is not the provider's documented format.
    pub fn malformed(&self, what: &'static str) -> ProviderError {
        ProviderError::Malformed {
            provider: self.name.to_string(),
            what,
        }
    }
}

/// Reads at most `limit` bytes of a body; more is a malformed (oversized) answer.
pub async fn read_limited(
    mut response: Response,
    limit: usize,
    provider: &str,
) -> Result<Vec<u8>, ProviderError> {
    let mut out = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ProviderError::transport(provider, &e))?
    {
        if out.len() + chunk.len() > limit {
            return Err(ProviderError::Malformed {
                provider: provider.to_string(),
                what: "oversized response",
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
