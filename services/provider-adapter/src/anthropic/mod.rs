//! Kind `anthropic`: Anthropic's Messages API (`POST {base_url}/messages`), over one
//! pooled HTTP client per provider instance, authenticated with `x-api-key` and
//! versioned with `anthropic-version`.
//!
//! [`wire`] translates requests and answers, [`stream`] the event stream; this file
//! holds the provider itself. Anthropic has no embeddings API, so `embed` is refused
//! with INVALID_ARGUMENT rather than failing upstream. Token counts come from its
//! `POST {base_url}/messages/count_tokens`, the count Anthropic bills by.

mod reply;
mod stream;
mod wire;

pub(crate) use wire::{refuse_temperature, thinking_budget};

use ::http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use async_trait::async_trait;
use futures::StreamExt;
use switchyard_config::{ProviderAdapterConfig, ProviderConfig, Secret};
use switchyard_proto::types::v1::{
    ChatRequest, ChatResponse, Choice, EmbedRequest, EmbedResponse, TokenCount,
};
use switchyard_tokens::{Counter, DeferredPrompt, estimate_usage};

use crate::answer::replay;
use crate::answer::{new_id, now_secs};
use crate::http::{self, Endpoint};
use crate::{AdapterError, ChatProvider, ChunkStream, ProviderError};
use wire::{DEFAULT_VERSION, WireMessage};

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const ANTHROPIC_VERSION: HeaderName = HeaderName::from_static("anthropic-version");
const ANTHROPIC_BETA: HeaderName = HeaderName::from_static("anthropic-beta");

/// One Anthropic provider instance: its endpoint, credential, API version and client.
#[derive(Debug)]
pub struct Anthropic {
    messages_url: http::Uri,
    count_tokens_url: http::Uri,
    /// The pooled client, `x-api-key` (sensitive) and `anthropic-version`.
    endpoint: Endpoint,
}

impl Anthropic {
    /// A provider instance calling `base_url` (with the version path,
    /// `https://api.anthropic.com/v1`), sending `api_key` as `x-api-key` when given
    /// and `api_version` (default [`DEFAULT_VERSION`]) as `anthropic-version`.
    /// Embedders and tests use this; the service builds instances from config.
    pub fn new(
        name: &str,
        base_url: &str,
        api_key: Option<Secret>,
        api_version: Option<&str>,
        settings: &ProviderAdapterConfig,
    ) -> Result<Self, AdapterError> {
        Self::build(name, base_url, api_key, api_version, settings, &|field| {
            field.to_string()
        })
    }

    /// The instance for `[[providers]]` entry `index`; errors name its key paths.
    pub(crate) fn from_config(
        index: usize,
        provider: &ProviderConfig,
        settings: &ProviderAdapterConfig,
    ) -> Result<Self, AdapterError> {
        let key = |field: &str| format!("providers[{index}].{field}");
        let base_url = http::configured_base_url(index, provider)?;
        let api_key = http::configured_api_key(index, provider)?;
        Self::build(
            &provider.name,
            &base_url,
            api_key,
            provider.api_version.as_deref(),
            settings,
            &key,
        )
    }

    fn build(
        name: &str,
        base_url: &str,
        api_key: Option<Secret>,
        api_version: Option<&str>,
        settings: &ProviderAdapterConfig,
        key: &dyn Fn(&str) -> String,
    ) -> Result<Self, AdapterError> {
        let base = http::base_url(&key("base_url"), base_url)?;
        let mut headers = HeaderMap::new();
        if let Some(secret) = api_key {
            headers.insert(
                X_API_KEY,
                http::secret_header(&key("api_key_env"), "", &secret)?,
            );
        }
        let version = api_version.unwrap_or(DEFAULT_VERSION);
        let version = HeaderValue::from_str(version).map_err(|_| AdapterError::Invalid {
            key: key("api_version"),
            message: "is not a valid HTTP header value".into(),
        })?;
        headers.insert(ANTHROPIC_VERSION, version);
        Ok(Self {
            messages_url: http::endpoint_url(&key("base_url"), &base, "/messages")?,
            count_tokens_url: http::endpoint_url(
                &key("base_url"),
                &base,
                "/messages/count_tokens",
            )?,
            endpoint: Endpoint {
                name: name.into(),
                client: http::client(name, settings)?,
                headers,
                parse_error: wire::parse_error,
            },
        })
    }

    /// POSTs a Messages request; a non-2xx answer becomes its mapped error.
    async fn post(
        &self,
        model: &str,
        req: &ChatRequest,
        stream: bool,
    ) -> Result<http::Response, ProviderError> {
        let body = wire::messages_body(model, req, stream)?;
        self.endpoint
            .post_json(self.messages_url.clone(), &body, beta_headers(req), model)
            .await
    }

    /// Reads a complete answer; an error object sent with a 2xx is its error.
    async fn read_answer(
        &self,
        response: http::Response,
        model: &str,
    ) -> Result<WireMessage, ProviderError> {
        let bytes = self.endpoint.read(response).await?;
        let answer: WireMessage =
            serde_json::from_slice(&bytes).map_err(|_| self.endpoint.malformed("response"))?;
        if answer.error.is_some() || answer.kind.as_deref() == Some("error") {
            let body = serde_json::from_slice(&bytes).unwrap_or_default();
            return Err(ProviderError::Upstream {
                provider: self.endpoint.name.to_string(),
                model: model.to_string(),
                status: None,
                retry_after: None,
                error: Box::new(wire::upstream_error(&body)),
            });
        }
        Ok(answer)
    }
}

/// The request's `anthropic-beta` header, when it names betas (a name that is no
/// valid header value is left out rather than failing the call).
fn beta_headers(req: &ChatRequest) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(value) = wire::beta_header(req).and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(ANTHROPIC_BETA, value);
    }
    headers
}

#[async_trait]
impl ChatProvider for Anthropic {
    async fn chat(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let response = self.post(upstream_model, req, false).await?;
        let answer = self.read_answer(response, upstream_model).await?;
        Ok(chat_response(answer, upstream_model, req).await)
    }

    async fn chat_stream(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<ChunkStream, ProviderError> {
        let response = self.post(upstream_model, req, true).await?;
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        if is_json {
            // A server that ignored `stream`: one complete answer, replayed as
            // chunks under the same contract.
            let answer = self.read_answer(response, upstream_model).await?;
            let chunks = replay(chat_response(answer, upstream_model, req).await);
            return Ok(futures::stream::iter(chunks.into_iter().map(Ok)).boxed());
        }
        Ok(stream::translate(
            Box::pin(response.bytes_stream()),
            self.endpoint.name.clone(),
            upstream_model,
            req,
        ))
    }

    async fn embed(
        &self,
        _upstream_model: &str,
        _req: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderError> {
        Err(ProviderError::invalid(
            "model",
            "provider kind anthropic has no embeddings endpoint",
        ))
    }

    async fn count_tokens(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<TokenCount, ProviderError> {
        let body = wire::count_tokens_body(upstream_model, req)?;
        let response = self
            .endpoint
            .post_json(
                self.count_tokens_url.clone(),
                &body,
                beta_headers(req),
                upstream_model,
            )
            .await?;
        let bytes = self.endpoint.read(response).await?;
        let count: wire::WireTokenCount =
            serde_json::from_slice(&bytes).map_err(|_| self.endpoint.malformed("token count"))?;
        Ok(TokenCount {
            input_tokens: count.input_tokens,
            estimated: false,
            provider: String::new(),
        })
    }
}

/// A complete answer in Switchyard's types, with usage estimated if not reported.
async fn chat_response(
    answer: WireMessage,
    upstream_model: &str,
    req: &ChatRequest,
) -> ChatResponse {
    let message = wire::message(&answer);
    let usage = match answer.usage.as_ref().and_then(wire::WireUsage::to_proto) {
        Some(usage) => usage,
        None => estimate_usage(DeferredPrompt::chat(req), answer_text(&answer)).await,
    };
    ChatResponse {
        id: answer.id.filter(|id| !id.is_empty()).unwrap_or_else(new_id),
        // Anthropic sends no creation time.
        created: now_secs(),
        model: answer
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| upstream_model.to_string()),
        choices: vec![Choice {
            index: 0,
            message: Some(message),
            finish_reason: wire::finish_reason(answer.stop_reason.as_deref()) as i32,
            logprobs: None,
        }],
        usage: Some(usage),
        system_fingerprint: None,
        provider: String::new(),
    }
}

/// What an answer produced, as a stream would have carried it: text, tool names
/// and inputs.
fn answer_text(answer: &WireMessage) -> Counter {
    let mut text = Counter::new();
    for block in &answer.content {
        match block.kind.as_str() {
            "text" => text.push(block.text.as_deref().unwrap_or_default()),
            "thinking" => text.push(block.thinking.as_deref().unwrap_or_default()),
            "tool_use" => {
                let call = wire::tool_call(block);
                if let Some(f) = &call.function {
                    text.push(&f.name);
                    text.push(&f.arguments);
                }
            }
            _ => {}
        }
    }
    text
}
