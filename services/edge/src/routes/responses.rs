//! `POST /v1/responses` (OpenAI Responses API), unary and streamed, over the same
//! Gateway calls as `/v1/chat/completions`; `POST /v1/responses/input_tokens` over
//! `CountTokens`; and the routes that read stored responses, which answer 404
//! since none are stored.

use axum::extract::{Path, Request, State};
use axum::response::Response;
use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::gateway::v1::ListModelsRequest;
use switchyard_proto::types::v1::ChatRequest;

use super::{AppState, answer, encode, json_response, with_provider};
use crate::body::read_json;
use crate::context::Caller;
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
    if stream {
        let model = message.model.clone();
        let events = sse::Stream::new(id, echo, model, created_at);
        return answer::streamed(state.gateway, &caller, message, events).await;
    }
    answer::unary(state.gateway, &caller, message, |reply| {
        let finish = reply.choices.first().map_or(0, |c| c.finish_reason);
        let status = convert::status(finish);
        let output = convert::output(&id, reply, status, echo.encrypted_reasoning);
        let head = convert::Head {
            id: &id,
            created_at,
            echo: &echo,
        };
        encode(&head.response(
            &reply.model,
            status,
            finish,
            &output,
            reply.usage.as_ref(),
            None,
        ))
    })
    .await
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
