//! The one trait every provider kind implements.

use async_trait::async_trait;
use futures::stream::BoxStream;
use switchyard_proto::types::v1::{
    ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, TokenCount,
};
use switchyard_tokens::{Counter, DeferredPrompt, estimate_usage};

use crate::ProviderError;

/// A streamed answer: chunks in upstream order, the last one carrying usage.
pub type ChunkStream = BoxStream<'static, Result<ChatChunk, ProviderError>>;

/// One configured provider instance, whatever wire format it speaks.
///
/// The service dispatches each call by provider name to one of these, so adding a
/// provider kind means adding one file that implements this trait.
#[async_trait]
pub trait ChatProvider: Send + Sync {
    /// A complete answer; `usage` is always set (estimated when the provider is silent).
    async fn chat(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError>;

    /// A streamed answer. Errors before the first byte are returned directly, so the
    /// router can fall back before anything reached its caller. The stream's last
    /// item is a usage chunk (no choices, `usage` set) or an error.
    async fn chat_stream(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<ChunkStream, ProviderError>;

    /// Whether this provider serves `text_prompt` requests (a text-completions
    /// API); the service refuses them for providers that do not, before any call.
    fn completes_text(&self) -> bool {
        false
    }

    /// Embeddings, one vector per input, in input order; `usage` is always set.
    async fn embed(
        &self,
        upstream_model: &str,
        req: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderError>;

    /// The input tokens of `req`. This default counts them as usage is estimated
    /// when a provider reports none (`o200k_base`, on the blocking pool) and says
    /// so (`estimated`); a kind whose provider has a counting API overrides it, so
    /// callers get the count the provider will bill.
    async fn count_tokens(
        &self,
        _upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<TokenCount, ProviderError> {
        let usage = estimate_usage(DeferredPrompt::chat(req), Counter::new()).await;
        Ok(TokenCount {
            input_tokens: usage.prompt_tokens,
            estimated: true,
            provider: String::new(),
        })
    }
}
