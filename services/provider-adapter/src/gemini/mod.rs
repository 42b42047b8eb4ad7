//! Kind `gemini`: Google's Gemini API (Google AI, `generativelanguage.googleapis.com`)
//! or the same models on Vertex AI when `project` is set, over one pooled HTTP
//! client per provider instance.
//!
//! - Google AI: `{base_url}/models/{model}:generateContent`, and
//!   `:streamGenerateContent?alt=sse`; the key from `api_key_env` in the
//!   `x-goog-api-key` header (never in the URL, where it would reach access logs).
//!   Embeddings: `:batchEmbedContents`. Token counts: `:countTokens` with the
//!   whole `generateContentRequest`, so system instructions and tools count.
//! - Vertex AI: `https://{region}-aiplatform.googleapis.com/v1/projects/{project}/
//!   locations/{region}/publishers/google/models/{model}:generateContent` (`base_url`
//!   replaces the part before `/projects`); an OAuth2 access token from
//!   `access_token_env` as `Authorization: Bearer`. The token is read once at
//!   start-up and Google's tokens expire after about an hour: the operator refreshes
//!   it (restart with a new one, or put a token-injecting proxy in `base_url` and
//!   leave `access_token_env` unset). No Google auth library is linked.
//!   Embeddings: `:predict`. Token counts: `:countTokens` with the request's
//!   `contents`, `systemInstruction` and `tools`.
//!
//! Translation lives in [`request`], [`response`] and [`stream`], embeddings in
//! [`embed`]; Google's error bodies are read by [`error`].

mod embed;
mod error;
mod request;
mod response;
mod stream;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use ::http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName};
use async_trait::async_trait;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use switchyard_config::{ProviderAdapterConfig, ProviderConfig, Secret};
use switchyard_proto::types::v1::{
    ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, TokenCount,
};
use switchyard_tokens::{Counter, DeferredPrompt, estimate_usage};

use self::error::Google;
use self::response::WireResponse;
use self::stream::{SseStream, Translator};
use crate::http::{self, Endpoint, MAX_ERROR_BODY};
use crate::{AdapterError, ChatProvider, ChunkStream, ProviderError};

/// The header Google AI reads API keys from.
const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-goog-api-key");

/// Where an instance sends requests.
#[derive(Debug, Clone)]
enum Api {
    /// Google AI: `{base}/models/{model}:{method}`.
    GoogleAi { base: String },
    /// Vertex AI: `{base}/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}`.
    Vertex { prefix: String },
}

/// One Gemini provider instance (Google AI or Vertex AI): its endpoint, credential
/// and client.
pub struct Gemini {
    api: Api,
    /// The pooled client and the credential header (sensitive).
    endpoint: Endpoint,
    /// The name and credentials errors need (to scrub them from messages).
    google: Google,
}

impl std::fmt::Debug for Gemini {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gemini")
            .field("api", &self.api)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl Gemini {
    /// A Google AI instance calling `base_url` (with the version path,
    /// `https://generativelanguage.googleapis.com/v1beta`), sending `api_key` as
    /// `x-goog-api-key` when given. Embedders and tests use this; the service
    /// builds instances from config.
    pub fn google_ai(
        name: &str,
        base_url: &str,
        api_key: Option<Secret>,
        settings: &ProviderAdapterConfig,
    ) -> Result<Self, AdapterError> {
        let key = |field: &str| field.to_string();
        let base = http::base_url(&key("base_url"), base_url)?;
        Self::build(name, Api::GoogleAi { base }, api_key, None, settings, &key)
    }

    /// A Vertex AI instance for `project` in `location` (`us-central1`, `global`),
    /// sending `access_token` as a bearer token when given. `base_url` replaces
    /// `https://{location}-aiplatform.googleapis.com/v1` (tests, proxies).
    pub fn vertex(
        name: &str,
        project: &str,
        location: &str,
        base_url: Option<&str>,
        access_token: Option<Secret>,
        settings: &ProviderAdapterConfig,
    ) -> Result<Self, AdapterError> {
        let key = |field: &str| field.to_string();
        let api = vertex_api(project, location, base_url, &key)?;
        Self::build(name, api, None, access_token, settings, &key)
    }

    /// The instance for `[[providers]]` entry `index`; errors name its key paths
    /// (`providers[2].region`).
    pub(crate) fn from_config(
        index: usize,
        provider: &ProviderConfig,
        settings: &ProviderAdapterConfig,
    ) -> Result<Self, AdapterError> {
        let key = |field: &str| format!("providers[{index}].{field}");
        let secret = |field: &str, var: &Option<String>| {
            var.as_deref()
                .map(|var| Secret::from_env(&key(field), var))
                .transpose()
        };
        let api_key = secret("api_key_env", &provider.api_key_env)?;
        let access_token = secret("access_token_env", &provider.access_token_env)?;
        let api = match provider.project.as_deref() {
            Some(project) => {
                let location = provider.region.as_deref().ok_or_else(|| AdapterError::Invalid {
                    key: key("region"),
                    message: "is required for kind gemini on Vertex AI (`project` is set): the location, such as us-central1".into(),
                })?;
                vertex_api(project, location, provider.base_url.as_deref(), &key)?
            }
            None => {
                for (field, set) in [
                    ("region", provider.region.is_some()),
                    ("access_token_env", access_token.is_some()),
                ] {
                    if set {
                        return Err(AdapterError::Invalid {
                            key: key(field),
                            message: "is for Vertex AI only; set `project` too, or remove it"
                                .into(),
                        });
                    }
                }
                let base_url = provider.effective_base_url().unwrap_or_default();
                Api::GoogleAi {
                    base: http::base_url(&key("base_url"), &base_url)?,
                }
            }
        };
        Self::build(&provider.name, api, api_key, access_token, settings, &key)
    }

    fn build(
        name: &str,
        api: Api,
        api_key: Option<Secret>,
        access_token: Option<Secret>,
        settings: &ProviderAdapterConfig,
        key: &dyn Fn(&str) -> String,
    ) -> Result<Self, AdapterError> {
        let mut headers = HeaderMap::new();
        let mut secrets = Vec::new();
        if let Some(secret) = api_key {
            headers.insert(
                API_KEY_HEADER,
                http::secret_header(&key("api_key_env"), "", &secret)?,
            );
            secrets.push(secret);
        }
        if let Some(secret) = access_token {
            headers.insert(
                AUTHORIZATION,
                http::secret_header(&key("access_token_env"), "Bearer ", &secret)?,
            );
            secrets.push(secret);
        }
        let name: Arc<str> = name.into();
        Ok(Self {
            api,
            endpoint: Endpoint {
                name: name.clone(),
                client: http::client(&name, settings)?,
                headers,
                // Unused: `post` reads Google's error bodies itself, for RetryInfo.
                parse_error: |body| {
                    error::parse(&serde_json::from_slice(body).unwrap_or_default()).error
                },
            },
            google: Google::new(name, secrets),
        })
    }

    /// The model's resource path: `models/{model}` on Google AI,
    /// `publishers/google/models/{model}` on Vertex AI; a name that is already a
    /// path (`tunedModels/x`, `endpoints/123`) is used as it is.
    fn resource(&self, model: &str) -> Result<String, ProviderError> {
        let valid = !model.is_empty()
            && !model.starts_with('/')
            && !model
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
            && model
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._/@:".contains(&b));
        if !valid {
            return Err(ProviderError::invalid(
                "upstream_model",
                "is not a Gemini model name",
            ));
        }
        Ok(match (&self.api, model.contains('/')) {
            (_, true) => model.to_string(),
            (Api::GoogleAi { .. }, false) => format!("models/{model}"),
            (Api::Vertex { .. }, false) => format!("publishers/google/models/{model}"),
        })
    }

    /// The URL of `method` (`generateContent`) for `model`.
    fn url(&self, model: &str, method: &str) -> Result<String, ProviderError> {
        let resource = self.resource(model)?;
        Ok(match &self.api {
            Api::GoogleAi { base } => format!("{base}/{resource}:{method}"),
            Api::Vertex { prefix } if resource.starts_with("projects/") => {
                // A full resource name: keep only the version base.
                let base = prefix.split("/projects/").next().unwrap_or(prefix);
                format!("{base}/{resource}:{method}")
            }
            Api::Vertex { prefix } => format!("{prefix}/{resource}:{method}"),
        })
    }

    /// POSTs `body`; a non-2xx answer becomes its mapped error, `RetryInfo` read.
    async fn post(
        &self,
        url: &str,
        body: &Value,
        model: &str,
    ) -> Result<http::Response, ProviderError> {
        let url = http::request_url(url.to_owned(), "model")?;
        let response = self.endpoint.post_raw(url, body, HeaderMap::new()).await?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let retry_after = crate::error::retry_after(response.headers());
        let body = http::read_limited(response, MAX_ERROR_BODY, &self.endpoint.name)
            .await
            .unwrap_or_default();
        Err(self.google.http_error(model, status, retry_after, &body))
    }

    async fn read_json<T: for<'de> Deserialize<'de>>(
        &self,
        response: http::Response,
    ) -> Result<T, ProviderError> {
        let bytes = self.endpoint.read(response).await?;
        serde_json::from_slice(&bytes).map_err(|_| self.endpoint.malformed("response"))
    }
}

/// The Vertex AI URL prefix for `project` and `location`, both checked (they
/// become URL path segments).
fn vertex_api(
    project: &str,
    location: &str,
    base_url: Option<&str>,
    key: &dyn Fn(&str) -> String,
) -> Result<Api, AdapterError> {
    let segment = |field: &str, value: &str, extra: &[u8]| {
        let ok = !value.is_empty()
            && value.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || extra.contains(&b)
            });
        if ok {
            Ok(())
        } else {
            Err(AdapterError::Invalid {
                key: key(field),
                message: format!("`{value}` is not a Google Cloud {field} name"),
            })
        }
    };
    // Project ids are lowercase letters, digits and hyphens; legacy domain-scoped
    // ones add `example.com:`.
    segment("project", project, b".:")?;
    segment("region", location, b"")?;
    let base = match base_url {
        Some(url) => http::base_url(&key("base_url"), url)?,
        None if location == "global" => "https://aiplatform.googleapis.com/v1".to_string(),
        None => format!("https://{location}-aiplatform.googleapis.com/v1"),
    };
    Ok(Api::Vertex {
        prefix: format!("{base}/projects/{project}/locations/{location}"),
    })
}

#[async_trait]
impl ChatProvider for Gemini {
    async fn chat(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let body = request::chat_body(upstream_model, req)?;
        let url = self.url(upstream_model, "generateContent")?;
        let response = self.post(&url, &body, upstream_model).await?;
        let answer: WireResponse = self.read_json(response).await?;
        response::chat_response(answer, &self.google, upstream_model, req).await
    }

    async fn chat_stream(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<ChunkStream, ProviderError> {
        let body = request::chat_body(upstream_model, req)?;
        let url = format!(
            "{}?alt=sse",
            self.url(upstream_model, "streamGenerateContent")?
        );
        let response = self.post(&url, &body, upstream_model).await?;
        let translator = Translator::new(self.google.clone(), upstream_model, req);
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        if is_json {
            // A JSON-array stream (a proxy that dropped `alt=sse`): one body,
            // replayed under the same contract.
            let bytes = self.endpoint.read(response).await?;
            let chunks = stream::replay(translator, &bytes).await?;
            return Ok(futures::stream::iter(chunks.into_iter().map(Ok)).boxed());
        }
        Ok(SseStream::new(response.bytes_stream().boxed(), translator).into_chunks())
    }

    async fn embed(
        &self,
        upstream_model: &str,
        req: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderError> {
        let (data, usage) = match self.api {
            Api::GoogleAi { .. } => self.embed_google_ai(upstream_model, req).await?,
            Api::Vertex { .. } => self.embed_vertex(upstream_model, req).await?,
        };
        if data.len() != req.input.len() {
            return Err(self.endpoint.malformed("response"));
        }
        let usage = match usage {
            Some(usage) => usage,
            None => estimate_usage(DeferredPrompt::embed(req), Counter::new()).await,
        };
        Ok(EmbedResponse {
            model: upstream_model.to_string(),
            data,
            usage: Some(usage),
            provider: String::new(),
        })
    }

    async fn count_tokens(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<TokenCount, ProviderError> {
        let mut generate = request::generate_request(upstream_model, req)?;
        let body = match self.api {
            // Google AI counts a whole `GenerateContentRequest`, which names its model.
            Api::GoogleAi { .. } => {
                generate.insert("model".into(), self.resource(upstream_model)?.into());
                serde_json::json!({ "generateContentRequest": generate })
            }
            // Vertex AI takes the input members themselves.
            Api::Vertex { .. } => {
                generate.retain(|key, _| VERTEX_COUNTED.contains(&key.as_str()));
                Value::Object(generate)
            }
        };
        let url = self.url(upstream_model, "countTokens")?;
        let response = self.post(&url, &body, upstream_model).await?;
        let count: WireTokenCount = self.read_json(response).await?;
        Ok(TokenCount {
            input_tokens: count.total_tokens,
            estimated: false,
            provider: String::new(),
        })
    }
}

/// The members of a Vertex AI `countTokens` body: the input a generation would
/// read.
const VERTEX_COUNTED: [&str; 3] = ["contents", "systemInstruction", "tools"];

/// A `CountTokensResponse`. `totalTokens` is required: an answer without it is
/// malformed, not a count of zero.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireTokenCount {
    total_tokens: u64,
}
