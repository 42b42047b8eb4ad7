//! `POST /v1/embeddings`.

use axum::extract::{Request, State};
use axum::response::Response;
use http::HeaderValue;

use super::{AppState, PROVIDER_HEADER, encode, json_response};
use crate::body::read_json;
use crate::context::Caller;
use crate::convert::embeddings::{embed_request, embeddings_response};
use crate::error::HttpError;
use crate::wire::embeddings::EmbeddingsRequest;

/// Translates the request, calls Embed, and encodes vectors as the caller asked.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<Response, HttpError> {
    let (parts, body) = request.into_parts();
    let wire: EmbeddingsRequest = read_json(&parts.headers, body, state.max_body_bytes).await?;
    let (mut message, encoding) = embed_request(wire)?;
    caller.add_tags(&mut message.metadata);
    let mut gateway = state.gateway;
    let answer = gateway.embed(caller.request(message)).await?;
    let metadata = answer.metadata().clone();
    let answer = answer.into_inner();
    let mut response = json_response(encode(&embeddings_response(&answer, encoding))?);
    if !answer.provider.is_empty()
        && let Ok(value) = HeaderValue::from_str(&answer.provider)
    {
        response.headers_mut().insert(PROVIDER_HEADER, value);
    }
    Ok(super::with_served(response, &metadata))
}
