//! `POST /v1/messages` (Anthropic Messages API), unary and streamed, over the same
//! Gateway calls as `/v1/chat/completions`, and `POST /v1/messages/count_tokens`
//! over `CountTokens`. Every error is in Anthropic's shape.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use switchyard_proto::types::v1::ChatRequest;

use super::{AppState, answer, encode, json_response, with_provider};
use crate::anthropic::{convert, sse, wire};
use crate::body::read_json;
use crate::context::Caller;
use crate::error::HttpError;

/// Translates the request, calls Chat or ChatStream, and answers in Anthropic's shape.
/// Any `anthropic-version` is accepted; the key comes as `x-api-key` or Bearer;
/// `anthropic-beta` travels on to Anthropic (see [`convert::add_betas`]).
pub async fn create(State(state): State<AppState>, caller: Caller, request: Request) -> Response {
    match handle(state, caller, request).await {
        Ok(response) => response,
        Err(error) => error.anthropic().into_response(),
    }
}

async fn handle(state: AppState, caller: Caller, request: Request) -> Result<Response, HttpError> {
    let (parts, body) = request.into_parts();
    let wire: wire::MessagesRequest = read_json(&parts.headers, body, state.max_body_bytes).await?;
    let stream = wire.stream.unwrap_or(false);
    let mut message = ChatRequest::try_from(wire)?;
    convert::add_betas(&parts.headers, &mut message);
    message.timeouts = crate::context::timeouts(&parts.headers)?;
    caller.add_tags(&mut message.metadata);
    if stream {
        let events = sse::Events::new(message.model.clone());
        answer::streamed(state.gateway, &caller, message, events).await
    } else {
        answer::unary(state.gateway, &caller, message, |r| {
            encode(&convert::message(r))
        })
        .await
    }
}

/// Counts a Messages body's input tokens (`{"input_tokens": N}`), as the
/// provider the model routes to counts them; nothing is generated or billed.
pub async fn count_tokens(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Response {
    match count(state, caller, request).await {
        Ok(response) => response,
        Err(error) => error.anthropic().into_response(),
    }
}

async fn count(state: AppState, caller: Caller, request: Request) -> Result<Response, HttpError> {
    let (parts, body) = request.into_parts();
    let wire: wire::MessagesRequest = read_json(&parts.headers, body, state.max_body_bytes).await?;
    let mut message = convert::count_request(wire)?;
    convert::add_betas(&parts.headers, &mut message);
    caller.add_tags(&mut message.metadata);
    let mut gateway = state.gateway;
    let answer = gateway.count_tokens(caller.request(message)).await?;
    let count = answer.into_inner();
    let response = json_response(encode(&wire::TokenCount {
        input_tokens: count.input_tokens,
    })?);
    Ok(with_provider(response, &count.provider))
}
