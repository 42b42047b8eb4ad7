//! `POST /v1/chat/completions`, unary and streamed.

use axum::extract::{Request, State};
use axum::response::Response;
use switchyard_proto::types::v1::ChatRequest;

use super::{AppState, answer, encode};
use crate::body::read_json;
use crate::context::Caller;
use crate::convert::completion::completion;
use crate::error::HttpError;
use crate::sse::ChatEvents;
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
        let events = ChatEvents::new(message.include_usage);
        answer::streamed(state.gateway, &caller, message, events).await
    } else {
        answer::unary(state.gateway, &caller, message, |r| encode(&completion(r))).await
    }
}
