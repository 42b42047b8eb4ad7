//! Kind `cohere`: Cohere's API v2 (`POST {base_url}/chat`, `POST {base_url}/embed`,
//! base URL `https://api.cohere.com/v2` by default), over one pooled HTTP client per
//! provider instance, authenticated with `Authorization: Bearer`.
//!
//! [`wire`] translates requests and answers, [`stream`] the event stream; this file
//! holds the provider itself. Usage is Cohere's `billed_units` (what it charges
//! for), estimated when a server reports none. A generation Cohere ends with
//! `ERROR` or `TIMEOUT` is incomplete, so it is an error (retryable unavailable, or
//! a timeout), never a short answer that looks complete. Status 498, Cohere's
//! "invalid token", is reported as 401 so it maps to the credential error.

mod stream;
mod wire;

use ::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use switchyard_config::{ProviderAdapterConfig, ProviderConfig, Secret};
use switchyard_proto::types::v1::{
    ChatRequest, ChatResponse, Choice, EmbedRequest, EmbedResponse, Embedding, Usage,
};
use switchyard_tokens::{Counter, DeferredPrompt, estimate_usage};

use crate::answer::{message_text, replay};
use crate::answer::{new_id, now_secs};
use crate::http::{self, Endpoint};
use crate::{AdapterError, ChatProvider, ChunkStream, ProviderError};
use stream::Framing;
use wire::{EMBED_BATCH, Finish, MessageField, WireChatResponse, WireEmbedResponse};

/// Cohere's status for an invalid or expired API token.
const INVALID_TOKEN: u16 = 498;

/// One Cohere provider instance: its endpoints, credential and client.
#[derive(Debug)]
pub struct Cohere {
    chat_url: http::Uri,
    embed_url: http::Uri,
    /// The pooled client and `authorization: Bearer` (sensitive).
    endpoint: Endpoint,
}

impl Cohere {
    /// A provider instance calling `base_url` (with the version path,
    /// `https://api.cohere.com/v2`), sending `api_key` as a bearer token when given
    /// (a private deployment may need none). Embedders and tests use this; the
    /// service builds instances from config.
    pub fn new(
        name: &str,
        base_url: &str,
        api_key: Option<Secret>,
        settings: &ProviderAdapterConfig,
    ) -> Result<Self, AdapterError> {
        Self::build(name, base_url, api_key, settings, &|field| {
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
        Self::build(&provider.name, &base_url, api_key, settings, &key)
    }

    fn build(
        name: &str,
        base_url: &str,
        api_key: Option<Secret>,
        settings: &ProviderAdapterConfig,
        key: &dyn Fn(&str) -> String,
    ) -> Result<Self, AdapterError> {
        let base = http::base_url(&key("base_url"), base_url)?;
        let mut headers = HeaderMap::new();
        if let Some(secret) = api_key {
            headers.insert(
                AUTHORIZATION,
                http::secret_header(&key("api_key_env"), "Bearer ", &secret)?,
            );
        }
        Ok(Self {
            chat_url: http::endpoint_url(&key("base_url"), &base, "/chat")?,
            embed_url: http::endpoint_url(&key("base_url"), &base, "/embed")?,
            endpoint: Endpoint {
                name: name.into(),
                client: http::client(name, settings)?,
                headers,
                parse_error: wire::parse_error,
            },
        })
    }

    /// POSTs `body`; a non-2xx answer becomes its mapped error, with Cohere's 498
    /// (invalid token) reported as 401 so the shared mapping treats it as the
    /// credential error it is.
    async fn post(
        &self,
        url: &http::Uri,
        body: &serde_json::Value,
        extra: HeaderMap,
        model: &str,
    ) -> Result<http::Response, ProviderError> {
        self.endpoint
            .post_json(url.clone(), body, extra, model)
            .await
            .map_err(|err| match err {
                ProviderError::Upstream {
                    provider,
                    model,
                    status: Some(INVALID_TOKEN),
                    retry_after,
                    error,
                } => ProviderError::Upstream {
                    provider,
                    model,
                    status: Some(401),
                    retry_after,
                    error,
                },
                other => other,
            })
    }

    /// An error object or failed generation reported with a 2xx.
    fn reported_error(&self, model: &str, error: crate::UpstreamError) -> ProviderError {
        ProviderError::Upstream {
            provider: self.endpoint.name.to_string(),
            model: model.to_string(),
            status: None,
            retry_after: None,
            error: Box::new(error),
        }
    }

    /// Reads a complete chat answer: its `ERROR` / `TIMEOUT` end or an error object
    /// sent with a 2xx become the error they report.
    fn read_answer(&self, bytes: &[u8], model: &str) -> Result<WireChatResponse, ProviderError> {
        let answer: WireChatResponse =
            serde_json::from_slice(bytes).map_err(|_| self.endpoint.malformed("response"))?;
        match &answer.message {
            Some(MessageField::Error(message)) => {
                Err(self.reported_error(model, wire::error_with_message(Some(message.clone()))))
            }
            None if answer.finish_reason.is_none() => Err(self.endpoint.malformed("response")),
            _ => match wire::finish(answer.finish_reason.as_deref()) {
                Finish::Error => Err(self.reported_error(
                    model,
                    wire::error_with_message(Some("the generation failed".into())),
                )),
                Finish::Timeout => Err(ProviderError::Timeout {
                    provider: self.endpoint.name.to_string(),
                }),
                Finish::Reason(_) => Ok(answer),
            },
        }
    }
}

#[async_trait]
impl ChatProvider for Cohere {
    async fn chat(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let body = wire::chat_body(upstream_model, req, false)?;
        let response = self
            .post(&self.chat_url, &body, HeaderMap::new(), upstream_model)
            .await?;
        let bytes = self.endpoint.read(response).await?;
        let answer = self.read_answer(&bytes, upstream_model)?;
        Ok(chat_response(answer, upstream_model, req).await)
    }

    async fn chat_stream(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<ChunkStream, ProviderError> {
        let body = wire::chat_body(upstream_model, req, true)?;
        let mut accept = HeaderMap::new();
        accept.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        let response = self
            .post(&self.chat_url, &body, accept, upstream_model)
            .await?;
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let name = self.endpoint.name.clone();
        if content_type.starts_with("application/json") {
            // A server that ignored `stream` (or answered an error with a 2xx): one
            // complete answer replayed as chunks, unless it is in fact
            // newline-delimited events.
            let bytes = self.endpoint.read(response).await?;
            if serde_json::from_slice::<serde_json::Value>(&bytes).is_err() {
                let body =
                    futures::stream::iter([Ok::<_, http::TransportError>(Bytes::from(bytes))]);
                return Ok(stream::translate(
                    body,
                    Framing::Lines,
                    name,
                    upstream_model,
                    req,
                ));
            }
            let answer = self.read_answer(&bytes, upstream_model)?;
            let chunks = replay(chat_response(answer, upstream_model, req).await);
            return Ok(futures::stream::iter(chunks.into_iter().map(Ok)).boxed());
        }
        // Server-sent events, as asked; a newline-delimited JSON stream
        // (`application/stream+json`, `application/x-ndjson`) is read line by line.
        let framing = if content_type.contains("json") {
            Framing::Lines
        } else {
            Framing::Sse
        };
        Ok(stream::translate(
            response.bytes_stream(),
            framing,
            name,
            upstream_model,
            req,
        ))
    }

    async fn embed(
        &self,
        upstream_model: &str,
        req: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderError> {
        let texts = wire::embed_texts(req)?;
        let mut data = Vec::with_capacity(texts.len());
        let mut billed: Option<u64> = None;
        for batch in texts.chunks(EMBED_BATCH) {
            let body = wire::embed_body(upstream_model, batch, req);
            let response = self
                .post(&self.embed_url, &body, HeaderMap::new(), upstream_model)
                .await?;
            let bytes = self.endpoint.read(response).await?;
            let answer: WireEmbedResponse =
                serde_json::from_slice(&bytes).map_err(|_| self.endpoint.malformed("response"))?;
            if answer.embeddings.is_none()
                && let Some(message) = answer.message
            {
                return Err(
                    self.reported_error(upstream_model, wire::error_with_message(Some(message)))
                );
            }
            let vectors = answer
                .vectors()
                .filter(|v| v.len() == batch.len())
                .ok_or_else(|| self.endpoint.malformed("response"))?;
            for values in vectors {
                data.push(Embedding {
                    index: data.len() as u32,
                    values,
                });
            }
            let input = answer
                .meta
                .and_then(|m| m.billed_units)
                .map(|u| u.input_tokens)
                .filter(|n| *n > 0);
            if let Some(n) = input {
                billed = Some(billed.unwrap_or(0).saturating_add(n));
            }
        }
        let usage = match billed {
            Some(prompt) => Usage {
                prompt_tokens: prompt,
                total_tokens: prompt,
                ..Usage::default()
            },
            None => estimate_usage(DeferredPrompt::embed(req), Counter::new()).await,
        };
        Ok(EmbedResponse {
            // Cohere's embed answer does not name the model.
            model: upstream_model.to_string(),
            data,
            usage: Some(usage),
            provider: String::new(),
        })
    }
}

/// A complete answer in Switchyard's types, with usage estimated if not reported.
async fn chat_response(
    answer: WireChatResponse,
    upstream_model: &str,
    req: &ChatRequest,
) -> ChatResponse {
    let wire_message = match &answer.message {
        Some(MessageField::Answer(m)) => Some(m),
        _ => None,
    };
    let message = wire_message.map(wire::message).unwrap_or_default();
    let finish = match wire::finish(answer.finish_reason.as_deref()) {
        Finish::Reason(reason) => reason,
        Finish::Error | Finish::Timeout => Default::default(),
    };
    let usage = match answer.usage.as_ref().and_then(wire::WireUsage::to_proto) {
        Some(usage) => usage,
        None => {
            let mut produced = Counter::new();
            message_text(&message, &mut produced);
            if let Some(plan) = wire_message.and_then(|m| m.tool_plan.as_deref()) {
                produced.push(plan);
            }
            estimate_usage(DeferredPrompt::chat(req), produced).await
        }
    };
    ChatResponse {
        id: answer.id.filter(|id| !id.is_empty()).unwrap_or_else(new_id),
        // Cohere sends no creation time and does not name the model in answers.
        created: now_secs(),
        model: upstream_model.to_string(),
        choices: vec![Choice {
            index: 0,
            message: Some(message),
            finish_reason: finish as i32,
            logprobs: None,
        }],
        usage: Some(usage),
        system_fingerprint: None,
        provider: String::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_come_from_the_base_and_the_key_is_sensitive() {
        let provider = Cohere::new(
            "co",
            "https://api.cohere.com/v2/",
            Some(Secret::new("co-secret")),
            &ProviderAdapterConfig::default(),
        )
        .unwrap();
        assert_eq!(
            provider.chat_url.to_string(),
            "https://api.cohere.com/v2/chat"
        );
        assert_eq!(
            provider.embed_url.to_string(),
            "https://api.cohere.com/v2/embed"
        );
        assert!(provider.endpoint.headers[AUTHORIZATION].is_sensitive());
        assert!(!format!("{provider:?}").contains("co-secret"));
        let err = Cohere::new("co", "ftp://x", None, &ProviderAdapterConfig::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("base_url"), "{err}");
    }

    #[tokio::test]
    async fn replay_carries_the_answer_then_usage() {
        let answer: WireChatResponse = serde_json::from_str(
            r#"{"id":"r1","finish_reason":"TOOL_CALL","message":{"role":"assistant","tool_plan":"I will look.","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},"usage":{"billed_units":{"input_tokens":3,"output_tokens":4}}}"#,
        )
        .unwrap();
        let chunks = replay(chat_response(answer, "m", &ChatRequest::default()).await);
        assert_eq!(chunks.len(), 2);
        let delta = chunks[0].choices[0].delta.as_ref().unwrap();
        assert_eq!(delta.content, None, "the tool plan is not content");
        assert_eq!(delta.tool_calls[0].id.as_deref(), Some("c1"));
        assert_eq!(chunks[1].usage.unwrap().total_tokens, 7);
        assert!(chunks[1].choices.is_empty());
    }
}
