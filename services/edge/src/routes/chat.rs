//! `POST /v1/chat/completions`, unary and streamed.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use switchyard_proto::types::v1::ChatRequest;

use super::{AppState, PROVIDER_HEADER, encode, json_response};
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
    let answer = gateway.chat(caller.request(message)).await?.into_inner();
    let mut response = json_response(encode(&completion(&answer))?);
    if !answer.provider.is_empty()
        && let Ok(value) = HeaderValue::from_str(&answer.provider)
    {
        response.headers_mut().insert(PROVIDER_HEADER, value);
    }
    Ok(response)
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
    let mut grpc = answer.into_inner();
    let first = grpc.message().await?;
    let body = sse::body(first, grpc, include_usage, tracing::Span::current());
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Reverse proxies (nginx) must not buffer the events.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    if let Some(provider) = provider {
        headers.insert(PROVIDER_HEADER, provider);
    }
    Ok(response)
}
