//! `POST /v1/chat/completions`, unary and streamed.

use axum::extract::{Request, State};
use axum::response::Response;
use switchyard_proto::types::v1::ChatRequest;

use super::{
    AppState, PROVIDER_HEADER, encode, event_stream, json_response, with_provider, with_served,
};
use crate::body::read_json;
use crate::context::{Caller, forwarded_header};
use crate::convert::completion::completion;
use crate::error::HttpError;
use crate::sse;
use crate::wire::chat::ChatCompletionRequest;

/// Translates the request, calls Chat or ChatStream, and answers in OpenAI's shape.
pub async fn completions(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<Response, HttpError> {
    let (parts, body) = request.into_parts();
    let wire: ChatCompletionRequest = read_json(&parts.headers, body, state.max_body_bytes).await?;
    let stream = wire.stream.unwrap_or(false);
    let mut message = ChatRequest::try_from(wire)?;
    message.timeouts = crate::context::timeouts(&parts.headers)?;
    caller.add_tags(&mut message.metadata);
    if stream {
        streamed(state, &caller, message).await
    } else {
        unary(state, &caller, message).await
    }
}

async fn unary(
    state: AppState,
    caller: &Caller,
    message: ChatRequest,
) -> Result<Response, HttpError> {
    let mut gateway = state.gateway;
    let answer = gateway.chat(caller.request(message)).await?;
    let metadata = answer.metadata().clone();
    let answer = answer.into_inner();
    let response = json_response(encode(&completion(&answer))?);
    Ok(with_served(
        with_provider(response, &answer.provider),
        &metadata,
    ))
}

/// Waits for the first message before answering, so a call that fails at once
/// (auth, limits, unknown model, no upstream) is a normal HTTP error with its status;
/// only later failures become an error event.
async fn streamed(
    state: AppState,
    caller: &Caller,
    message: ChatRequest,
) -> Result<Response, HttpError> {
    let include_usage = message.include_usage;
    let mut gateway = state.gateway;
    let answer = gateway.chat_stream(caller.request(message)).await?;
    let provider = forwarded_header(answer.metadata(), PROVIDER_HEADER);
    let metadata = answer.metadata().clone();
    let mut grpc = answer.into_inner();
    let first = grpc.message().await?;
    let body = sse::body(first, grpc, include_usage, tracing::Span::current());
    Ok(with_served(event_stream(body, provider), &metadata))
}
