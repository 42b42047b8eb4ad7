//! The Gateway API as the edge calls it.

use std::sync::Arc;

use switchyard_proto::gateway::v1::gateway_client::GatewayClient;
use switchyard_proto::gateway::v1::gateway_server::Gateway;
use switchyard_proto::gateway::v1::{
    GetKeyInfoRequest, KeyInfo, ListModelsRequest, ListModelsResponse,
};
use switchyard_proto::types::v1::{
    ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, TokenCount,
};
use tonic::{Request, Response, Status};

use super::{Call, erased, over_channel};
use crate::replies::Replies;
use crate::{GrpcChannel, MAX_MESSAGE_BYTES, local};

/// A Gateway client: the generated one over a channel, or the router's own
/// implementation in the same process, called without encoding a message. Cheap to
/// clone; methods take `&mut self` like the generated client's.
#[derive(Clone)]
pub struct GatewayHandle {
    target: Target,
}

#[derive(Clone)]
enum Target {
    Remote(GatewayClient<GrpcChannel>),
    Local(Arc<dyn LocalGateway>),
}

impl GatewayHandle {
    /// Calls over `channel`, messages up to [`MAX_MESSAGE_BYTES`] each way.
    pub fn remote(channel: GrpcChannel) -> Self {
        Self {
            target: Target::Remote(
                GatewayClient::new(channel)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(MAX_MESSAGE_BYTES),
            ),
        }
    }

    /// Calls `server`'s implementation directly (see [`local`](crate::local)).
    pub fn local<S: Gateway>(server: S) -> Self {
        Self {
            target: Target::Local(Arc::new(server)),
        }
    }

    /// `Gateway.Chat`.
    pub async fn chat(
        &mut self,
        request: Request<ChatRequest>,
    ) -> Result<Response<ChatResponse>, Status> {
        match &mut self.target {
            Target::Remote(client) => over_channel(client.chat(request)).await,
            Target::Local(server) => {
                local::call("/switchyard.gateway.v1.Gateway/Chat", request, |r| {
                    server.chat(r)
                })
                .await
            }
        }
    }

    /// `Gateway.ChatStream`.
    pub async fn chat_stream(
        &mut self,
        request: Request<ChatRequest>,
    ) -> Result<Response<Replies<ChatChunk>>, Status> {
        match &mut self.target {
            Target::Remote(client) => Ok(over_channel(client.chat_stream(request))
                .await?
                .map(Replies::remote)),
            Target::Local(server) => {
                local::call("/switchyard.gateway.v1.Gateway/ChatStream", request, |r| {
                    server.chat_stream(r)
                })
                .await
            }
        }
    }

    /// `Gateway.Embed`.
    pub async fn embed(
        &mut self,
        request: Request<EmbedRequest>,
    ) -> Result<Response<EmbedResponse>, Status> {
        match &mut self.target {
            Target::Remote(client) => over_channel(client.embed(request)).await,
            Target::Local(server) => {
                local::call("/switchyard.gateway.v1.Gateway/Embed", request, |r| {
                    server.embed(r)
                })
                .await
            }
        }
    }

    /// `Gateway.ListModels`.
    pub async fn list_models(
        &mut self,
        request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        match &mut self.target {
            Target::Remote(client) => over_channel(client.list_models(request)).await,
            Target::Local(server) => {
                local::call("/switchyard.gateway.v1.Gateway/ListModels", request, |r| {
                    server.list_models(r)
                })
                .await
            }
        }
    }

    /// `Gateway.CountTokens`.
    pub async fn count_tokens(
        &mut self,
        request: Request<ChatRequest>,
    ) -> Result<Response<TokenCount>, Status> {
        match &mut self.target {
            Target::Remote(client) => over_channel(client.count_tokens(request)).await,
            Target::Local(server) => {
                local::call("/switchyard.gateway.v1.Gateway/CountTokens", request, |r| {
                    server.count_tokens(r)
                })
                .await
            }
        }
    }

    /// `Gateway.GetKeyInfo`.
    pub async fn get_key_info(
        &mut self,
        request: Request<GetKeyInfoRequest>,
    ) -> Result<Response<KeyInfo>, Status> {
        match &mut self.target {
            Target::Remote(client) => over_channel(client.get_key_info(request)).await,
            Target::Local(server) => {
                local::call("/switchyard.gateway.v1.Gateway/GetKeyInfo", request, |r| {
                    server.get_key_info(r)
                })
                .await
            }
        }
    }
}

/// A Gateway implementation with its stream type erased.
trait LocalGateway: Send + Sync + 'static {
    fn chat(&self, request: Request<ChatRequest>) -> Call<'_, Response<ChatResponse>>;
    fn chat_stream(&self, request: Request<ChatRequest>) -> Call<'_, Response<Replies<ChatChunk>>>;
    fn embed(&self, request: Request<EmbedRequest>) -> Call<'_, Response<EmbedResponse>>;
    fn list_models(
        &self,
        request: Request<ListModelsRequest>,
    ) -> Call<'_, Response<ListModelsResponse>>;
    fn count_tokens(&self, request: Request<ChatRequest>) -> Call<'_, Response<TokenCount>>;
    fn get_key_info(&self, request: Request<GetKeyInfoRequest>) -> Call<'_, Response<KeyInfo>>;
}

impl<S: Gateway> LocalGateway for S {
    fn chat(&self, request: Request<ChatRequest>) -> Call<'_, Response<ChatResponse>> {
        Gateway::chat(self, request)
    }

    fn chat_stream(&self, request: Request<ChatRequest>) -> Call<'_, Response<Replies<ChatChunk>>> {
        erased(Gateway::chat_stream(self, request))
    }

    fn embed(&self, request: Request<EmbedRequest>) -> Call<'_, Response<EmbedResponse>> {
        Gateway::embed(self, request)
    }

    fn list_models(
        &self,
        request: Request<ListModelsRequest>,
    ) -> Call<'_, Response<ListModelsResponse>> {
        Gateway::list_models(self, request)
    }

    fn count_tokens(&self, request: Request<ChatRequest>) -> Call<'_, Response<TokenCount>> {
        Gateway::count_tokens(self, request)
    }

    fn get_key_info(&self, request: Request<GetKeyInfoRequest>) -> Call<'_, Response<KeyInfo>> {
        Gateway::get_key_info(self, request)
    }
}
