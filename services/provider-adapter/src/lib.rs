//! The provider-adapter service: the only place that holds provider credentials and
//! speaks provider wire formats.
//!
//! Routers call it over gRPC (`switchyard.provider.v1.Provider`) with a configured
//! provider instance name, the model name that provider knows, and a provider-neutral
//! [`ChatRequest`](switchyard_proto::types::v1::ChatRequest). The adapter translates
//! the request, calls the provider, translates the answer back and always reports
//! usage — exactly when the provider says it, estimated (`usage.estimated = true`)
//! when it does not — so metering never loses a request. Failures become one
//! [`ApiError`](switchyard_error::ApiError) each, with `retryable` telling the router
//! whether a fallback may help.
//!
//! Each provider kind is one file behind the [`ChatProvider`] trait:
//! [`MockProvider`] (deterministic, no network: quickstart, tests, benchmarks),
//! [`OpenAiCompatible`] (OpenAI, vLLM, llama.cpp, Ollama, Groq, ...) and
//! [`Anthropic`] (Anthropic's Messages API).
//! [`Gemini`] speaks Google's Gemini API (Google AI, or Vertex AI).
//! [`Bedrock`] speaks AWS Bedrock's Converse / ConverseStream, SigV4-signed.
//! [`Cohere`] speaks Cohere's API v2 (chat and embed). What every kind shares to
//! shape answers (ids, the text an estimate counts, replaying a whole answer as
//! chunks) is in `answer`; OpenAI's legacy text completions in `openai_text`, and
//! text prompts over a chat-only provider's chat API in `text_over_chat`.
//!
//! Streams follow one contract the router depends on: chunks in upstream order, and
//! the last message is always a usage chunk (no choices, `usage` set); a failure
//! mid-stream ends the stream with an error status instead.

mod answer;
mod anthropic;
mod bedrock;
mod check;
mod cohere;
mod error;
mod gemini;
pub mod http;
mod lenient;
mod mock;
mod openai_compatible;
mod openai_text;
mod openai_wire;
mod provider;
mod service;
mod signature;
mod sse;
mod text_over_chat;

pub use anthropic::Anthropic;
pub use bedrock::{AwsCredentials, Bedrock};
pub use check::{CheckRow, check};
pub use cohere::Cohere;
pub use error::{AdapterError, ProviderError, UpstreamError};
pub use gemini::Gemini;
pub use mock::MockProvider;
pub use openai_compatible::OpenAiCompatible;
pub use provider::{ChatProvider, ChunkStream};
pub use service::ProviderAdapter;

use switchyard_config::Config;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Health names this service reports, so probes can ask for it by name.
pub const HEALTH_NAMES: &[&str] = &["switchyard.provider.v1.Provider"];

/// Runs the provider adapter alone on `listener` until `shutdown`, then drains
/// in-flight calls. Used by the split deployment shape; the all-in-one shape calls
/// [`ProviderAdapter::from_config`] and [`ProviderAdapter::into_server`] instead.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    shutdown: CancellationToken,
) -> Result<(), AdapterError> {
    serve_following(listener, config, None, shutdown).await
}

/// [`serve`], applying the provider configs published on `updates` (a reload)
/// while it runs.
pub async fn serve_following(
    listener: TcpListener,
    config: &Config,
    updates: Option<switchyard_bootstrap::ConfigUpdates>,
    shutdown: CancellationToken,
) -> Result<(), AdapterError> {
    let adapter = ProviderAdapter::from_config(config)?;
    if let Some(updates) = updates {
        adapter.follow(updates, shutdown.clone());
    }
    let routes = tonic::service::Routes::default().add_service(adapter.into_server());
    switchyard_grpc::serve(listener, routes, HEALTH_NAMES, shutdown).await?;
    Ok(())
}
