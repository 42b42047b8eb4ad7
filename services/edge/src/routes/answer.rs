//! The two ways a generating route answers, shared by the chat, text-completion,
//! Anthropic Messages and Responses routes: a whole answer rendered once as JSON,
//! or an event stream written by the route's [`Translate`]. Both carry the
//! router's served headers.

use axum::response::Response;
use switchyard_grpc::GatewayHandle;
use switchyard_proto::types::v1::{ChatRequest, ChatResponse};

use super::{PROVIDER_HEADER, event_stream, json_response, with_provider, with_served};
use crate::context::{Caller, forwarded_header};
use crate::error::HttpError;
use crate::sse::{Translate, translated};

/// Calls Chat and answers with the JSON `render` encodes from the answer.
pub(super) async fn unary(
    mut gateway: GatewayHandle,
    caller: &Caller,
    message: ChatRequest,
    render: impl FnOnce(&ChatResponse) -> Result<Vec<u8>, HttpError>,
) -> Result<Response, HttpError> {
    let answer = gateway.chat(caller.request(message)).await?;
    let metadata = answer.metadata().clone();
    let answer = answer.into_inner();
    let response = json_response(render(&answer)?);
    Ok(with_served(
        with_provider(response, &answer.provider),
        &metadata,
    ))
}

/// Calls ChatStream and answers with the events `translate` writes. The first
/// message is awaited before answering, so a call that fails at once (auth,
/// limits, unknown model, no upstream) is a normal HTTP error with its status;
/// only later failures become the stream's error events.
pub(super) async fn streamed<T: Translate>(
    mut gateway: GatewayHandle,
    caller: &Caller,
    message: ChatRequest,
    translate: T,
) -> Result<Response, HttpError> {
    let answer = gateway.chat_stream(caller.request(message)).await?;
    let provider = forwarded_header(answer.metadata(), PROVIDER_HEADER);
    let metadata = answer.metadata().clone();
    let mut grpc = answer.into_inner();
    let first = grpc.message().await?;
    let body = translated(first, grpc, translate, tracing::Span::current());
    Ok(with_served(event_stream(body, provider), &metadata))
}
