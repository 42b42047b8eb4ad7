//! Kind `openai-compatible`: any server speaking OpenAI's chat completions and
//! embeddings API (OpenAI, vLLM, llama.cpp, Ollama, Groq, ...), and its legacy
//! text completions for `text_prompt` requests, over one pooled HTTP client per
//! provider instance.

use std::pin::Pin;
use std::sync::Arc;

use ::http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use async_trait::async_trait;
use base64::Engine as _;
use futures::{Stream, StreamExt};
use serde_json::Value;
use switchyard_config::{ProviderAdapterConfig, ProviderConfig, ProviderKind, Secret};
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::{
    ChatChunk, ChatRequest, ChatResponse, Choice, ChunkChoice, ContentPart, Delta, EmbedRequest,
    EmbedResponse, Embedding, Message, Role, Usage,
};
use switchyard_tokens::{Counter, DeferredPrompt, estimate_usage};

use crate::answer::{answer_text, new_id, now_secs, replay};
use crate::http::{self, Endpoint};
use crate::openai_text;
use crate::openai_wire::{self as wire, WireChatResponse, WireChunk, WireEmbedResponse, WireUsage};
use crate::sse::{self, SseError, SseEvent, StreamFailure};
use crate::{AdapterError, ChatProvider, ChunkStream, ProviderError};

/// One OpenAI-compatible provider instance: its endpoints, credential and client.
#[derive(Debug)]
pub struct OpenAiCompatible {
    name: Arc<str>,
    urls: Urls,
    quirks: Quirks,
    /// The pooled client and the `authorization: Bearer` header (sensitive).
    endpoint: Endpoint,
}

impl OpenAiCompatible {
    /// A provider instance calling `base_url` (which includes the version path,
    /// `https://api.openai.com/v1`), sending `api_key` as a bearer token when given.
    /// Embedders and tests use this; the service builds instances from config.
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
        let mut built = Self::build(&provider.name, &base_url, api_key.clone(), settings, &key)?;
        match provider.kind {
            ProviderKind::Openai => built.quirks = Quirks::OPENAI,
            ProviderKind::AzureOpenai => {
                // Azure authenticates with `api-key`, not a bearer token, and names
                // the deployment in the path.
                built.endpoint.headers.remove(AUTHORIZATION);
                if let Some(secret) = &api_key {
                    built.endpoint.headers.insert(
                        "api-key",
                        http::secret_header(&key("api_key_env"), "", secret)?,
                    );
                }
                let api_version = provider
                    .api_version
                    .clone()
                    .unwrap_or_else(|| AZURE_API_VERSION.to_string());
                if api_version.is_empty()
                    || !api_version
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-')
                {
                    return Err(AdapterError::Invalid {
                        key: key("api_version"),
                        message: "must look like 2024-10-21".into(),
                    });
                }
                built.urls = Urls::Azure {
                    base: http::base_url(&key("base_url"), &base_url)?,
                    api_version,
                };
                built.quirks = Quirks::OPENAI;
            }
            _ => {
                if let Some(preset) = &provider.preset {
                    built.quirks = Quirks::for_preset(preset);
                }
            }
        }
        Ok(built)
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
            name: name.into(),
            urls: Urls::Fixed(Box::new(FixedUrls {
                chat: http::endpoint_url(&key("base_url"), &base, "/chat/completions")?,
                completions: http::endpoint_url(&key("base_url"), &base, "/completions")?,
                embed: http::endpoint_url(&key("base_url"), &base, "/embeddings")?,
            })),
            quirks: Quirks::GENERIC,
            endpoint: Endpoint {
                name: name.into(),
                client: http::client(name, settings)?,
                headers,
                parse_error,
            },
        })
    }

    /// POSTs `body`; a non-2xx answer becomes its mapped error.
    async fn post(
        &self,
        url: http::Uri,
        body: &Value,
        model: &str,
    ) -> Result<http::Response, ProviderError> {
        self.endpoint
            .post_json(url, body, HeaderMap::new(), model)
            .await
    }

    fn malformed(&self, what: &'static str) -> ProviderError {
        ProviderError::Malformed {
            provider: self.name.to_string(),
            what,
        }
    }

    fn error_event(&self, model: &str, body: &Value) -> ProviderError {
        let (error, status) = wire::upstream_error(body);
        ProviderError::Upstream {
            provider: self.name.to_string(),
            model: model.to_string(),
            status,
            retry_after: None,
            error: Box::new(error),
        }
    }
}

#[async_trait]
impl ChatProvider for OpenAiCompatible {
    async fn chat(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let (body, url) = self.request(upstream_model, req, false)?;
        let response = self.post(url, &body, upstream_model).await?;
        let bytes = self.endpoint.read(response).await?;
        let answer: WireChatResponse =
            serde_json::from_slice(&bytes).map_err(|_| self.malformed("response"))?;
        if let Some(error) = &answer.error {
            return Err(self.error_event(upstream_model, error));
        }
        Ok(chat_response(answer, upstream_model, req).await)
    }

    async fn chat_stream(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<ChunkStream, ProviderError> {
        let (body, url) = self.request(upstream_model, req, true)?;
        let response = self.post(url, &body, upstream_model).await?;
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        if is_json {
            // A server that ignored `stream` (or reported an error with a 200):
            // one complete answer, replayed as chunks under the same contract.
            let bytes = self.endpoint.read(response).await?;
            let answer: WireChatResponse =
                serde_json::from_slice(&bytes).map_err(|_| self.malformed("response"))?;
            if let Some(error) = &answer.error {
                return Err(self.error_event(upstream_model, error));
            }
            let chunks = replay(chat_response(answer, upstream_model, req).await);
            return Ok(futures::stream::iter(chunks.into_iter().map(Ok)).boxed());
        }
        let state = StreamState {
            events: Box::pin(sse::data_events(Box::pin(response.bytes_stream()))),
            provider: self.clone_handle(),
            upstream_model: upstream_model.to_string(),
            id: String::new(),
            created: 0,
            model: String::new(),
            system_fingerprint: None,
            usage: None,
            completion: Counter::new(),
            // Kept, not counted: a count is needed only if the server reports no
            // usage; tokenizing 1,000 tokens costs ~100 µs, this copy well under 1 µs.
            prompt: DeferredPrompt::chat(req),
            finished: false,
        };
        let stream = futures::stream::unfold(state, |mut st| async move {
            let item = st.next_item().await?;
            Some((item, st))
        });
        Ok(stream.boxed())
    }

    fn completes_text(&self) -> bool {
        true
    }

    async fn embed(
        &self,
        upstream_model: &str,
        req: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderError> {
        let body = wire::embed_body(upstream_model, req)?;
        let url = self.urls.embed(upstream_model)?;
        let response = self.post(url, &body, upstream_model).await?;
        let bytes = self.endpoint.read(response).await?;
        let answer: WireEmbedResponse =
            serde_json::from_slice(&bytes).map_err(|_| self.malformed("response"))?;
        if let Some(error) = &answer.error {
            return Err(self.error_event(upstream_model, error));
        }
        let mut data = answer
            .data
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let values =
                    embedding_values(&e.embedding).ok_or_else(|| self.malformed("response"))?;
                Ok(Embedding {
                    index: e.index.unwrap_or(i as u32),
                    values,
                })
            })
            .collect::<Result<Vec<_>, ProviderError>>()?;
        data.sort_by_key(|e| e.index);
        let usage = match answer
            .usage
            .as_ref()
            .filter(|u| u.prompt_tokens > 0 || u.total_tokens > 0)
        {
            Some(u) => {
                let mut usage = u.to_proto();
                usage.completion_tokens = 0;
                usage.total_tokens = usage.prompt_tokens;
                usage
            }
            None => estimate_usage(DeferredPrompt::embed(req), Counter::new()).await,
        };
        Ok(EmbedResponse {
            model: answer
                .model
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| upstream_model.to_string()),
            data,
            usage: Some(usage),
            provider: String::new(),
        })
    }
}

impl OpenAiCompatible {
    /// The body and URL of a call: chat completions, or text completions for a
    /// `text_prompt` (whose API takes `max_tokens` on every server).
    fn request(
        &self,
        model: &str,
        req: &ChatRequest,
        stream: bool,
    ) -> Result<(Value, http::Uri), ProviderError> {
        match &req.text_prompt {
            Some(text) => {
                let quirks = Quirks {
                    max_tokens_field: "max_tokens",
                    ..self.quirks
                };
                let body = openai_text::text_body(model, req, text, stream);
                Ok((quirks.apply(body), self.urls.completions(model)?))
            }
            None => Ok((
                self.quirks.apply(wire::chat_body(model, req, stream)?),
                self.urls.chat(model)?,
            )),
        }
    }

    /// What a stream needs from its provider after the call returns.
    fn clone_handle(&self) -> ProviderHandle {
        ProviderHandle {
            name: self.name.clone(),
        }
    }
}

/// The provider identity a running stream keeps for its errors.
struct ProviderHandle {
    name: Arc<str>,
}

/// The Azure OpenAI data-plane inference version used when `api_version` is unset
/// (the latest GA release when this was written).
const AZURE_API_VERSION: &str = "2024-10-21";

/// Where an instance's requests go.
#[derive(Debug)]
enum Urls {
    /// `{base}/chat/completions`, `{base}/completions` and `{base}/embeddings`,
    /// parsed once (boxed: three URIs outweigh Azure's two strings).
    Fixed(Box<FixedUrls>),
    /// `{base}/openai/deployments/{deployment}/...?api-version=...`: the upstream
    /// model is the Azure deployment name.
    Azure { base: String, api_version: String },
}

impl Urls {
    fn chat(&self, model: &str) -> Result<http::Uri, ProviderError> {
        match self {
            Self::Fixed(urls) => Ok(urls.chat.clone()),
            Self::Azure { base, api_version } => azure_url(format!(
                "{base}/openai/deployments/{}/chat/completions?api-version={api_version}",
                path_segment(model)
            )),
        }
    }

    fn completions(&self, model: &str) -> Result<http::Uri, ProviderError> {
        match self {
            Self::Fixed(urls) => Ok(urls.completions.clone()),
            Self::Azure { base, api_version } => azure_url(format!(
                "{base}/openai/deployments/{}/completions?api-version={api_version}",
                path_segment(model)
            )),
        }
    }

    fn embed(&self, model: &str) -> Result<http::Uri, ProviderError> {
        match self {
            Self::Fixed(urls) => Ok(urls.embed.clone()),
            Self::Azure { base, api_version } => azure_url(format!(
                "{base}/openai/deployments/{}/embeddings?api-version={api_version}",
                path_segment(model)
            )),
        }
    }
}

/// The URLs of a provider whose paths do not name the model.
#[derive(Debug)]
struct FixedUrls {
    chat: http::Uri,
    completions: http::Uri,
    embed: http::Uri,
}

/// An Azure URL built from a checked base and a percent-encoded deployment, so
/// a failure here means a deployment name no URL can carry.
fn azure_url(url: String) -> Result<http::Uri, ProviderError> {
    http::request_url(url, "model")
}

/// `value` percent-encoded for one URL path segment.
fn path_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where a server departs from OpenAI's request format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Quirks {
    /// The field the completion limit goes in: OpenAI's current API (and Azure's)
    /// want `max_completion_tokens` (reasoning models refuse `max_tokens`).
    max_tokens_field: &'static str,
    /// Mistral calls the sampling seed `random_seed`.
    seed_field: &'static str,
    /// Whether to send `stream_options.include_usage`; Mistral rejects unknown
    /// fields and reports streamed usage on its own.
    stream_usage_option: bool,
}

impl Quirks {
    const GENERIC: Self = Self {
        max_tokens_field: "max_tokens",
        seed_field: "seed",
        stream_usage_option: true,
    };
    const OPENAI: Self = Self {
        max_tokens_field: "max_completion_tokens",
        ..Self::GENERIC
    };

    fn for_preset(preset: &str) -> Self {
        match preset {
            "mistral" => Self {
                seed_field: "random_seed",
                stream_usage_option: false,
                ..Self::GENERIC
            },
            _ => Self::GENERIC,
        }
    }

    /// Renames and drops fields of a generic OpenAI body for this server.
    fn apply(&self, mut body: Value) -> Value {
        if let Some(map) = body.as_object_mut() {
            for (from, to) in [
                ("max_tokens", self.max_tokens_field),
                ("seed", self.seed_field),
            ] {
                if from != to
                    && let Some(v) = map.remove(from)
                {
                    map.insert(to.to_string(), v);
                }
            }
            if !self.stream_usage_option {
                map.remove("stream_options");
            }
        }
        body
    }
}

/// An OpenAI-style error body (`{"error":{...}}`).
fn parse_error(body: &[u8]) -> crate::UpstreamError {
    serde_json::from_slice::<Value>(body)
        .map(|v| wire::upstream_error(&v).0)
        .unwrap_or_default()
}

fn reported(usage: Option<&WireUsage>) -> Option<Usage> {
    usage
        .filter(|u| u.prompt_tokens > 0 || u.completion_tokens > 0 || u.total_tokens > 0)
        .map(WireUsage::to_proto)
}

/// A complete answer in Switchyard's types, with usage estimated if not reported.
async fn chat_response(
    answer: WireChatResponse,
    upstream_model: &str,
    req: &ChatRequest,
) -> ChatResponse {
    let choices: Vec<Choice> = answer
        .choices
        .into_iter()
        .map(|c| Choice {
            index: c.index,
            message: Some(match (c.message, c.text) {
                (None, Some(text)) => text_message(text),
                (message, _) => wire::message(message.unwrap_or_default()),
            }),
            finish_reason: wire::finish_reason(c.finish_reason.as_deref()) as i32,
            logprobs: wire::logprobs(c.logprobs),
        })
        .collect();
    let usage = match reported(answer.usage.as_ref()) {
        Some(usage) => usage,
        None => estimate_usage(DeferredPrompt::chat(req), answer_text(&choices)).await,
    };
    ChatResponse {
        id: answer.id.filter(|id| !id.is_empty()).unwrap_or_else(new_id),
        created: answer.created.map_or_else(now_secs, |c| c as i64),
        model: answer
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| upstream_model.to_string()),
        choices,
        usage: Some(usage),
        system_fingerprint: answer.system_fingerprint,
        provider: String::new(),
    }
}

/// A text completion's answer as an assistant message.
fn text_message(text: String) -> Message {
    Message {
        role: Role::Assistant as i32,
        content: vec![ContentPart {
            part: Some(Part::Text(text)),
        }],
        ..Message::default()
    }
}

/// An embedding as floats, or as base64 of little-endian f32s.
fn embedding_values(value: &Value) -> Option<Vec<f32>> {
    match value {
        Value::Array(items) => items.iter().map(|v| v.as_f64().map(|f| f as f32)).collect(),
        Value::String(b64) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            if bytes.len() % 4 != 0 {
                return None;
            }
            Some(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            )
        }
        _ => None,
    }
}

type EventStream =
    Pin<Box<dyn Stream<Item = Result<SseEvent, StreamFailure<http::TransportError>>> + Send>>;

/// A running translated stream: upstream chunks out in order, usage kept back and
/// sent last (reported, or estimated from what was streamed).
struct StreamState {
    events: EventStream,
    provider: ProviderHandle,
    upstream_model: String,
    id: String,
    created: i64,
    model: String,
    system_fingerprint: Option<String>,
    usage: Option<Usage>,
    /// What was streamed, counted only if the server reports no usage.
    completion: Counter,
    /// What the prompt's count needs, likewise.
    prompt: DeferredPrompt,
    finished: bool,
}

impl StreamState {
    async fn next_item(&mut self) -> Option<Result<ChatChunk, ProviderError>> {
        if self.finished {
            return None;
        }
        loop {
            let result = match self.events.next().await {
                Some(Ok(event)) => match self.on_event(event) {
                    Ok(None) => continue,
                    Ok(Some(chunk)) => return Some(Ok(chunk)),
                    Err(e) => Err(e),
                },
                Some(Err(failure)) => Err(self.failure(failure)),
                None => Ok(self.usage_chunk().await),
            };
            // Both an error and the usage chunk end the stream.
            self.finished = true;
            return Some(result);
        }
    }

    fn provider(&self) -> String {
        self.provider.name.to_string()
    }

    fn failure(&self, failure: StreamFailure<http::TransportError>) -> ProviderError {
        let provider = self.provider();
        match failure {
            StreamFailure::Transport(e) => ProviderError::transport(&provider, &e),
            StreamFailure::Sse(SseError::TooLarge(limit)) => {
                ProviderError::EventTooLarge { provider, limit }
            }
            StreamFailure::Sse(SseError::NotUtf8) => ProviderError::Malformed {
                provider,
                what: "event",
            },
            StreamFailure::EndedEarly => ProviderError::StreamEnded { provider },
        }
    }

    fn error_event(&self, body: &Value) -> ProviderError {
        let (error, status) = wire::upstream_error(body);
        ProviderError::Upstream {
            provider: self.provider(),
            model: self.upstream_model.clone(),
            status,
            retry_after: None,
            error: Box::new(error),
        }
    }

    /// One upstream event: a chunk to pass on, nothing (usage-only or empty
    /// chunks), or the error it reports.
    fn on_event(&mut self, event: SseEvent) -> Result<Option<ChatChunk>, ProviderError> {
        let malformed = || ProviderError::Malformed {
            provider: self.provider(),
            what: "event",
        };
        if event.event.as_deref() == Some("error") {
            let body =
                serde_json::from_str::<Value>(&event.data).unwrap_or(Value::String(event.data));
            return Err(self.error_event(&body));
        }
        let chunk: WireChunk = serde_json::from_str(&event.data).map_err(|_| malformed())?;
        if let Some(error) = &chunk.error {
            return Err(self.error_event(error));
        }
        if self.id.is_empty() {
            self.id = chunk
                .id
                .clone()
                .filter(|id| !id.is_empty())
                .unwrap_or_else(new_id);
            self.created = chunk.created.map_or_else(now_secs, |c| c as i64);
        }
        if let Some(model) = chunk.model.as_ref().filter(|m| !m.is_empty()) {
            self.model.clone_from(model);
        }
        if chunk.system_fingerprint.is_some() {
            self.system_fingerprint
                .clone_from(&chunk.system_fingerprint);
        }
        let usage = chunk
            .usage
            .as_ref()
            .or(chunk.x_groq.as_ref().and_then(|g| g.usage.as_ref()));
        if let Some(usage) = reported(usage) {
            self.usage = Some(usage);
        }
        if chunk.choices.is_empty() {
            return Ok(None);
        }
        let choices = chunk
            .choices
            .into_iter()
            .map(|c| {
                let mut d = c.delta;
                if d.content.is_none() {
                    // A text completion's fragment.
                    d.content = c.text;
                }
                let reasoning = wire::reasoning_text(d.reasoning_content, d.reasoning);
                // Reasoning is billed as output: an estimate counts it too.
                for text in [&d.content, &d.refusal, &reasoning].into_iter().flatten() {
                    self.completion.push(text);
                }
                let tool_calls: Vec<_> = d
                    .tool_calls
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| wire::tool_call_delta(i, t))
                    .collect();
                for f in tool_calls.iter().filter_map(|t| t.function.as_ref()) {
                    for text in [&f.name, &f.arguments].into_iter().flatten() {
                        self.completion.push(text);
                    }
                }
                ChunkChoice {
                    index: c.index,
                    delta: Some(Delta {
                        role: d.role.as_deref().map_or(0, |r| wire::role(Some(r)) as i32),
                        content: d.content,
                        tool_calls,
                        refusal: d.refusal,
                        reasoning: wire::reasoning_delta(reasoning),
                    }),
                    finish_reason: wire::finish_reason(c.finish_reason.as_deref()) as i32,
                    logprobs: wire::logprobs(c.logprobs),
                }
            })
            .collect();
        Ok(Some(ChatChunk {
            id: chunk.id.unwrap_or_else(|| self.id.clone()),
            created: chunk.created.map_or(self.created, |c| c as i64),
            model: self.model_name(),
            choices,
            usage: None,
            system_fingerprint: chunk.system_fingerprint,
        }))
    }

    fn model_name(&self) -> String {
        if self.model.is_empty() {
            self.upstream_model.clone()
        } else {
            self.model.clone()
        }
    }

    /// The closing chunk: no choices, the reported usage or an estimate.
    async fn usage_chunk(&mut self) -> ChatChunk {
        let usage = match self.usage.take() {
            Some(usage) => usage,
            None => {
                let prompt = std::mem::take(&mut self.prompt);
                estimate_usage(prompt, std::mem::take(&mut self.completion)).await
            }
        };
        if self.id.is_empty() {
            self.id = new_id();
        }
        ChatChunk {
            id: self.id.clone(),
            created: if self.created == 0 {
                now_secs()
            } else {
                self.created
            },
            model: self.model_name(),
            choices: Vec::new(),
            usage: Some(usage),
            system_fingerprint: self.system_fingerprint.clone(),
        }
    }
}
