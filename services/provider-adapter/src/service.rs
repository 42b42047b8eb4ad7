//! The gRPC `Provider` service: dispatch by provider name, and the one place where
//! request errors are logged and turned into statuses.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use futures::StreamExt;
use futures::stream::BoxStream;
use switchyard_config::{Config, ProviderConfig, ProviderKind};
use switchyard_error::ApiError;
use switchyard_proto::provider::v1::provider_server::{Provider, ProviderServer};
use switchyard_proto::provider::v1::{ProviderChatRequest, ProviderEmbedRequest};
use switchyard_proto::types::v1::{
    ChatChunk, ChatRequest, ChatResponse, EmbedResponse, TokenCount,
};
use tonic::{Request, Response, Status};

use crate::text_over_chat::TextOverChat;
use crate::{AdapterError, Anthropic, ChatProvider, MockProvider, OpenAiCompatible, ProviderError};

/// One configured backend, with the config it was built from (so a reload keeps
/// the backends whose config did not change, and their warm connection pools).
struct Built {
    config: Option<ProviderConfig>,
    backend: Arc<dyn ChatProvider>,
}

type Backends = HashMap<String, Built>;

/// The provider adapter: every configured provider instance by name. Cheap to
/// clone (one shared, swappable map), so the in-process and network servers share
/// it and a config reload reaches both.
#[derive(Clone)]
pub struct ProviderAdapter {
    providers: Arc<ArcSwap<Backends>>,
}

impl std::fmt::Debug for ProviderAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let providers = self.providers.load();
        let mut names: Vec<&String> = providers.keys().collect();
        names.sort();
        f.debug_struct("ProviderAdapter")
            .field("providers", &names)
            .finish()
    }
}

/// Builds the backend of `providers[i]`.
fn build(
    i: usize,
    p: &ProviderConfig,
    settings: &switchyard_config::ProviderAdapterConfig,
) -> Result<Arc<dyn ChatProvider>, AdapterError> {
    Ok(match p.kind {
        ProviderKind::Mock => Arc::new(MockProvider::from_config(p)),
        ProviderKind::OpenaiCompatible | ProviderKind::Openai | ProviderKind::AzureOpenai => {
            Arc::new(OpenAiCompatible::from_config(i, p, settings)?)
        }
        ProviderKind::Anthropic => Arc::new(Anthropic::from_config(i, p, settings)?),
        ProviderKind::Gemini => Arc::new(crate::Gemini::from_config(i, p, settings)?),
        ProviderKind::Bedrock => Arc::new(crate::Bedrock::from_config(i, p, settings)?),
        ProviderKind::Cohere => Arc::new(crate::Cohere::from_config(i, p, settings)?),
    })
}

/// Every backend of `config`, reusing those of `old` whose config is unchanged.
fn build_all(config: &Config, old: Option<&Backends>) -> Result<Backends, AdapterError> {
    let mut providers = Backends::new();
    for (i, p) in config.providers.iter().enumerate() {
        let kept = old
            .and_then(|old| old.get(&p.name))
            .filter(|b| b.config.as_ref() == Some(p))
            .map(|b| b.backend.clone());
        let backend = match kept {
            Some(backend) => backend,
            None => build(i, p, &config.provider_adapter)?,
        };
        let built = Built {
            config: Some(p.clone()),
            backend,
        };
        if providers.insert(p.name.clone(), built).is_some() {
            return Err(AdapterError::Invalid {
                key: format!("providers[{i}].name"),
                message: format!("duplicate provider name `{}`", p.name),
            });
        }
    }
    Ok(providers)
}

impl ProviderAdapter {
    /// Builds one backend per `[[providers]]` entry: one pooled HTTP client per
    /// OpenAI-compatible instance (HTTP/2 where the server offers it, connect and
    /// read timeouts from `[provider_adapter]`), its key read from the variable
    /// named by `api_key_env`. Fails at start-up, naming the key path
    /// (`providers[0].api_key_env`), rather than at the first request.
    pub fn from_config(config: &Config) -> Result<Self, AdapterError> {
        Ok(Self {
            providers: Arc::new(ArcSwap::from_pointee(build_all(config, None)?)),
        })
    }

    /// Whether `config`'s providers would build (credentials present, URLs
    /// valid): what a reload checks before anything is applied.
    pub fn check(config: &Config) -> Result<(), AdapterError> {
        build_all(config, None).map(drop)
    }

    /// Replaces the backends with those of `config` (a reload). Requests already
    /// running keep the backend they started with; unchanged providers keep
    /// theirs, connection pools included. On error nothing changes.
    pub fn apply(&self, config: &Config) -> Result<(), AdapterError> {
        let old = self.providers.load();
        let new = build_all(config, Some(&old))?;
        self.providers.store(Arc::new(new));
        Ok(())
    }

    /// Applies every config published on `updates` until `shutdown` (see
    /// [`ProviderAdapter::apply`]); one the adapter cannot build is logged and
    /// skipped, the running backends kept.
    pub fn follow(
        &self,
        updates: switchyard_bootstrap::ConfigUpdates,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let adapter = self.clone();
        switchyard_bootstrap::follow(updates, shutdown, "provider", move |c| adapter.apply(c))
    }

    /// The backend named `name`, if configured.
    pub fn backend(&self, name: &str) -> Option<Arc<dyn ChatProvider>> {
        self.providers.load().get(name).map(|b| b.backend.clone())
    }

    /// An adapter over backends built elsewhere: for embedding custom providers
    /// and for tests that need a backend with a specific credential.
    pub fn from_providers(
        providers: impl IntoIterator<Item = (String, Arc<dyn ChatProvider>)>,
    ) -> Self {
        let backends = providers
            .into_iter()
            .map(|(name, backend)| {
                (
                    name,
                    Built {
                        config: None,
                        backend,
                    },
                )
            })
            .collect();
        Self {
            providers: Arc::new(ArcSwap::from_pointee(backends)),
        }
    }

    /// The generated server, accepting and sending messages up to
    /// [`MAX_MESSAGE_BYTES`](switchyard_grpc::MAX_MESSAGE_BYTES) (inline images are large).
    pub fn into_server(self) -> ProviderServer<ProviderAdapter> {
        ProviderServer::new(self)
            .max_decoding_message_size(switchyard_grpc::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(switchyard_grpc::MAX_MESSAGE_BYTES)
    }

    fn provider(&self, name: &str) -> Result<Arc<dyn ChatProvider>, ProviderError> {
        self.backend(name)
            .ok_or_else(|| ProviderError::UnknownProvider(name.to_string()))
    }

    /// The provider for a chat call: a text prompt for a provider without a
    /// text-completions API goes over its chat API ([`TextOverChat`]).
    fn chat_provider(
        &self,
        name: &str,
        req: &ChatRequest,
    ) -> Result<Arc<dyn ChatProvider>, ProviderError> {
        let provider = self.provider(name)?;
        if req.text_prompt.is_some() && !provider.completes_text() {
            return Ok(Arc::new(TextOverChat(provider)));
        }
        Ok(provider)
    }
}

fn chat_request(request: Option<&ChatRequest>) -> Result<&ChatRequest, ProviderError> {
    request.ok_or_else(|| ProviderError::invalid("request", "is required"))
}

/// A unary call's result on the wire.
fn answer<T>(provider: &str, result: Result<T, ProviderError>) -> Result<Response<T>, Status> {
    result
        .map(Response::new)
        .map_err(|e| to_status(provider, &e))
}

/// Logs a request error and maps it to the wire: the one place both happen.
fn to_status(provider: &str, err: &ProviderError) -> Status {
    let api = ApiError::from(err);
    match err {
        ProviderError::UnknownProvider(_) => tracing::error!(
            provider,
            "the router asked for a provider this adapter does not have; router and adapter configurations differ"
        ),
        _ => {
            tracing::warn!(provider, reason = api.code.reason(), retryable = api.retryable, error = %err, "provider call failed")
        }
    }
    api.to_status()
}

#[tonic::async_trait]
impl Provider for ProviderAdapter {
    async fn chat(
        &self,
        request: Request<ProviderChatRequest>,
    ) -> Result<Response<ChatResponse>, Status> {
        let msg = request.into_inner();
        let result = async {
            let req = chat_request(msg.request.as_ref())?;
            self.chat_provider(&msg.provider, req)?
                .chat(&msg.upstream_model, req)
                .await
        }
        .await;
        answer(&msg.provider, result)
    }

    type ChatStreamStream = BoxStream<'static, Result<ChatChunk, Status>>;

    async fn chat_stream(
        &self,
        request: Request<ProviderChatRequest>,
    ) -> Result<Response<Self::ChatStreamStream>, Status> {
        let msg = request.into_inner();
        let result = async {
            let req = chat_request(msg.request.as_ref())?;
            self.chat_provider(&msg.provider, req)?
                .chat_stream(&msg.upstream_model, req)
                .await
        }
        .await;
        let stream = result.map_err(|e| to_status(&msg.provider, &e))?;
        let provider = msg.provider;
        let stream = stream.map(move |item| item.map_err(|e| to_status(&provider, &e)));
        Ok(Response::new(stream.boxed()))
    }

    async fn embed(
        &self,
        request: Request<ProviderEmbedRequest>,
    ) -> Result<Response<EmbedResponse>, Status> {
        let msg = request.into_inner();
        let result = async {
            let req = msg
                .request
                .as_ref()
                .ok_or_else(|| ProviderError::invalid("request", "is required"))?;
            self.provider(&msg.provider)?
                .embed(&msg.upstream_model, req)
                .await
        }
        .await;
        answer(&msg.provider, result)
    }

    async fn count_tokens(
        &self,
        request: Request<ProviderChatRequest>,
    ) -> Result<Response<TokenCount>, Status> {
        let msg = request.into_inner();
        let result = async {
            let req = chat_request(msg.request.as_ref())?;
            self.chat_provider(&msg.provider, req)?
                .count_tokens(&msg.upstream_model, req)
                .await
        }
        .await;
        answer(&msg.provider, result)
    }
}
