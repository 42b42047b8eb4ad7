//! The provider adapter's API as the router calls it.

use std::sync::Arc;

use switchyard_proto::provider::v1::provider_client::ProviderClient;
use switchyard_proto::provider::v1::provider_server::Provider;
use switchyard_proto::provider::v1::{ProviderChatRequest, ProviderEmbedRequest};
use switchyard_proto::types::v1::{ChatChunk, ChatResponse, EmbedResponse, TokenCount};
use tonic::{Request, Response, Status};

use super::{Call, erased, over_channel};
use crate::replies::Replies;
use crate::{GrpcChannel, MAX_MESSAGE_BYTES, local};

/// A Provider client: the generated one over a channel, or the adapter's own
/// implementation in the same process, called without encoding a message. Cheap to
/// clone; methods take `&mut self` like the generated client's.
#[derive(Clone)]
pub struct ProviderHandle {
    target: Target,
}

#[derive(Clone)]
enum Target {
    Remote(ProviderClient<GrpcChannel>),
    Local(Arc<dyn LocalProvider>),
}

impl ProviderHandle {
    /// Calls over `channel`, messages up to [`MAX_MESSAGE_BYTES`] each way (inline
    /// images are large).
    pub fn remote(channel: GrpcChannel) -> Self {
        Self {
            target: Target::Remote(
                ProviderClient::new(channel)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(MAX_MESSAGE_BYTES),
            ),
        }
    }

    /// Calls `server`'s implementation directly (see [`local`](crate::local)).
    pub fn local<S: Provider>(server: S) -> Self {
        Self {
            target: Target::Local(Arc::new(server)),
        }
    }

    /// `Provider.Chat`.
    pub async fn chat(
        &mut self,
        request: Request<ProviderChatRequest>,
    ) -> Result<Response<ChatResponse>, Status> {
        match &mut self.target {
            Target::Remote(client) => over_channel(client.chat(request)).await,
            Target::Local(server) => {
                local::call("/switchyard.provider.v1.Provider/Chat", request, |r| {
                    server.chat(r)
                })
                .await
            }
        }
    }

    /// `Provider.ChatStream`.
    pub async fn chat_stream(
        &mut self,
        request: Request<ProviderChatRequest>,
    ) -> Result<Response<Replies<ChatChunk>>, Status> {
        match &mut self.target {
            Target::Remote(client) => Ok(over_channel(client.chat_stream(request))
                .await?
                .map(Replies::remote)),
            Target::Local(server) => {
                local::call(
                    "/switchyard.provider.v1.Provider/ChatStream",
                    request,
                    |r| server.chat_stream(r),
                )
                .await
            }
        }
    }

    /// `Provider.Embed`.
    pub async fn embed(
        &mut self,
        request: Request<ProviderEmbedRequest>,
    ) -> Result<Response<EmbedResponse>, Status> {
        match &mut self.target {
            Target::Remote(client) => over_channel(client.embed(request)).await,
            Target::Local(server) => {
                local::call("/switchyard.provider.v1.Provider/Embed", request, |r| {
                    server.embed(r)
                })
                .await
            }
        }
    }

    /// `Provider.CountTokens`.
    pub async fn count_tokens(
        &mut self,
        request: Request<ProviderChatRequest>,
    ) -> Result<Response<TokenCount>, Status> {
        match &mut self.target {
            Target::Remote(client) => over_channel(client.count_tokens(request)).await,
            Target::Local(server) => {
                local::call(
                    "/switchyard.provider.v1.Provider/CountTokens",
                    request,
                    |r| server.count_tokens(r),
                )
                .await
            }
        }
    }
}

/// A Provider implementation with its stream type erased.
trait LocalProvider: Send + Sync + 'static {
    fn chat(&self, request: Request<ProviderChatRequest>) -> Call<'_, Response<ChatResponse>>;
    fn chat_stream(
        &self,
        request: Request<ProviderChatRequest>,
    ) -> Call<'_, Response<Replies<ChatChunk>>>;
    fn embed(&self, request: Request<ProviderEmbedRequest>) -> Call<'_, Response<EmbedResponse>>;
    fn count_tokens(&self, request: Request<ProviderChatRequest>)
    -> Call<'_, Response<TokenCount>>;
}

impl<S: Provider> LocalProvider for S {
    fn chat(&self, request: Request<ProviderChatRequest>) -> Call<'_, Response<ChatResponse>> {
        Provider::chat(self, request)
    }

    fn chat_stream(
        &self,
        request: Request<ProviderChatRequest>,
    ) -> Call<'_, Response<Replies<ChatChunk>>> {
        erased(Provider::chat_stream(self, request))
    }

    fn embed(&self, request: Request<ProviderEmbedRequest>) -> Call<'_, Response<EmbedResponse>> {
        Provider::embed(self, request)
    }

    fn count_tokens(
        &self,
        request: Request<ProviderChatRequest>,
    ) -> Call<'_, Response<TokenCount>> {
        Provider::count_tokens(self, request)
    }
}
