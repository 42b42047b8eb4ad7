//! `POST /v1/responses` (OpenAI Responses API), unary and streamed, over the same
//! Gateway calls as `/v1/chat/completions`; `POST /v1/responses/input_tokens` over
//! `CountTokens`; and the routes that read stored responses, which answer 404
//! since none are stored.

use axum::extract::{Path, Request, State};
use axum::response::Response;
use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::gateway::v1::ListModelsRequest;
use switchyard_proto::types::v1::ChatRequest;

use super::{
    AppState, PROVIDER_HEADER, encode, event_stream, json_response, with_provider, with_served,
};
use crate::body::read_json;
use crate::context::{Caller, forwarded_header};
use crate::error::HttpError;
use crate::responses::{convert, sse, wire};

/// Translates the request, calls Chat or ChatStream, and answers with a `response`
/// object or its event stream. The response id is `resp_` + the request id, so a
/// response leads straight to its usage record.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<Response, HttpError> {
    let (stream, message, echo) = read(&state, &caller, request).await?;
    let id = format!("resp_{}", caller.request_id);
    let created_at = convert::now_secs();
    let mut gateway = state.gateway;
    if !stream {
        let answer = gateway.chat(caller.request(message)).await?;
        let metadata = answer.metadata().clone();
        let answer = answer.into_inner();
        let finish = answer.choices.first().map_or(0, |c| c.finish_reason);
        let status = convert::status(finish);
        let output = convert::output(&id, &answer, status, echo.encrypted_reasoning);
        let head = convert::Head {
            id: &id,
            created_at,
            echo: &echo,
        };
        let response = head.response(
            &answer.model,
            status,
            finish,
            &output,
            answer.usage.as_ref(),
            None,
        );
        let response = json_response(encode(&response)?);
        return Ok(with_served(
            with_provider(response, &answer.provider),
            &metadata,
        ));
    }
    // The first message is awaited before answering, so an immediate failure is a
    // normal HTTP error with its status.
    let model = message.model.clone();
    let answer = gateway.chat_stream(caller.request(message)).await?;
    let provider = forwarded_header(answer.metadata(), PROVIDER_HEADER);
    let metadata = answer.metadata().clone();
    let mut grpc = answer.into_inner();
    let first = grpc.message().await?;
    let translate = sse::Stream::new(id, echo, model, created_at);
    let body = crate::sse::translated(first, grpc, translate, tracing::Span::current());
    Ok(with_served(event_stream(body, provider), &metadata))
}

/// Reads and translates a Responses body: whether it asks for a stream, the
/// Gateway request (with the caller's tags and timeout headers), and the echo.
async fn read(
    state: &AppState,
    caller: &Caller,
    request: Request,
) -> Result<(bool, ChatRequest, wire::Echo), HttpError> {
    let (parts, body) = request.into_parts();
    let wire: wire::ResponsesRequest =
        read_json(&parts.headers, body, state.max_body_bytes).await?;
    let stream = wire.stream.unwrap_or(false);
    let (mut message, echo) = convert::request(wire)?;
    message.timeouts = crate::context::timeouts(&parts.headers)?;
    caller.add_tags(&mut message.metadata);
    Ok((stream, message, echo))
}

/// Counts a Responses body's input tokens (`{"object": "response.input_tokens",
/// "input_tokens": N}`), as the provider the model routes to counts them; nothing
/// is generated or billed.
pub async fn input_tokens(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<Response, HttpError> {
    let (_, mut message, _) = read(&state, &caller, request).await?;
    // Counting takes no output limit.
    message.max_tokens = None;
    let mut gateway = state.gateway;
    let count = gateway
        .count_tokens(caller.request(message))
        .await?
        .into_inner();
    let response = json_response(encode(&wire::InputTokens {
        object: "response.input_tokens",
        input_tokens: count.input_tokens,
    })?);
    Ok(with_provider(response, &count.provider))
}

/// `GET` / `DELETE /v1/responses/{id}`, `GET …/input_items`, `POST …/cancel`: no
/// response is ever stored, so every id is unknown. The key is checked first (by
/// the router, through the cheapest Gateway call), so a bad key is a 401 here as
/// on every other route, not a 404 that says nothing about it.
pub async fn stored(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<String>,
) -> HttpError {
    let mut gateway = state.gateway;
    if let Err(status) = gateway
        .list_models(caller.request(ListModelsRequest {}))
        .await
    {
        return status.into();
    }
    let id = path.split('/').next().unwrap_or_default();
    ApiError::new(
        ErrorCode::NotFound,
        format!(
            "Response with id '{id}' not found. Switchyard does not store responses \
             (every response is created as with store=false)."
        ),
    )
    .into()
}
