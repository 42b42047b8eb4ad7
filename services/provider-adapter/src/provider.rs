//! The one trait every provider kind implements.

use async_trait::async_trait;
use futures::stream::BoxStream;
use switchyard_proto::types::v1::{
    ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse,
};

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

    /// Embeddings, one vector per input, in input order; `usage` is always set.
    async fn embed(
        &self,
        upstream_model: &str,
        req: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderError>;
}
