//! `POST /v1/responses` (OpenAI Responses API), unary and streamed, over the same
//! Gateway calls as `/v1/chat/completions`; `POST /v1/responses/input_tokens` over
//! `CountTokens`; and the stored responses, over metering's `ResponseStore`:
//! `GET` and `DELETE /v1/responses/{id}`, `GET …/input_items`, `POST …/cancel`.

use axum::extract::{Path, Request, State};
use axum::response::Response;
use serde_json::{Map, Value, json};
use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::metering::v1::DeleteResponseRequest;
use switchyard_proto::types::v1::ChatRequest;

use super::params::{Params, RawQuery};
use super::{AppState, answer, encode, json_response, with_provider};
use crate::body::{parse_json, read_bytes};
use crate::context::Caller;
use crate::error::HttpError;
use crate::responses::items::{self, Order};
use crate::responses::store::{self, Continuation, Keep};
use crate::responses::{convert, sse, wire};

/// Translates the request (continuing `previous_response_id` or `conversation`), calls Chat or
/// ChatStream, answers with a `response` object or its event stream, and stores
/// the answer when `store` asks (before the answer, or the stream's last event,
/// goes out, so the caller can continue from it at once). The response id is
/// `resp_` + the request id, so a response leads straight to its usage record.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<Response, HttpError> {
    let (stream, message, echo, continuation) = read(&state, &caller, request).await?;
    let id = format!("resp_{}", caller.request_id);
    let created_at = convert::now_secs();
    let keep = Keep::new(&state.admin, &caller, &continuation);
    if stream {
        let model = message.model.clone();
        let events = sse::Stream::new(id, echo, model, created_at).keeping(keep);
        return answer::streamed(state.gateway, &caller, message, events).await;
    }
    let mut kept = None;
    let response = answer::unary(state.gateway, &caller, message, |reply| {
        let finish = reply.choices.first().map_or(0, |c| c.finish_reason);
        let status = convert::status(finish);
        let output = convert::output(&id, reply, status, echo.encrypted_reasoning);
        let head = convert::Head {
            id: &id,
            created_at,
            echo: &echo,
        };
        let body = encode(&head.response(
            &reply.model,
            status,
            finish,
            &output,
            reply.usage.as_ref(),
            None,
        ))?;
        if keep.is_some() {
            // Stored with signatures, whether or not the caller asked to see them.
            let stored_output = if echo.encrypted_reasoning {
                encode(&output)?
            } else {
                encode(&convert::output(&id, reply, status, true))?
            };
            kept = Some((body.clone(), stored_output));
        }
        Ok(body)
    })
    .await?;
    if let (Some(keep), Some((body, output))) = (keep, kept) {
        keep.store(id, body, output).await;
    }
    Ok(response)
}

/// Reads and translates a Responses body: whether it asks for a stream, the
/// Gateway request (with the caller's tags and timeout headers, and a previous
/// response's items before its input), the echo, and what storing needs.
async fn read(
    state: &AppState,
    caller: &Caller,
    request: Request,
) -> Result<(bool, ChatRequest, wire::Echo, Continuation), HttpError> {
    let (parts, body) = request.into_parts();
    let bytes = read_bytes(&parts.headers, body, state.max_body_bytes).await?;
    let mut object: Map<String, Value> = parse_json(&bytes)?;
    let continuation =
        store::continuation(&state.admin, caller, &mut object, state.store_responses).await?;
    // The body as sent, unless a previous response's or a conversation's items
    // were put before its input (the only change `continuation` makes besides
    // dropping what named them).
    let wire: wire::ResponsesRequest = if continuation.rewrote() {
        parse_json(&encode(&object)?)?
    } else {
        parse_json(&bytes)?
    };
    let stream = wire.stream.unwrap_or(false);
    let (mut message, mut echo) = convert::request(wire)?;
    echo.store = continuation.store;
    echo.previous_response_id
        .clone_from(&continuation.previous_response_id);
    echo.conversation = continuation
        .conversation
        .clone()
        .map(|id| wire::ConversationRef { id });
    message.timeouts = crate::context::timeouts(&parts.headers)?;
    caller.add_tags(&mut message.metadata);
    Ok((stream, message, echo, continuation))
}

/// Counts a Responses body's input tokens (`{"object": "response.input_tokens",
/// "input_tokens": N}`), as the provider the model routes to counts them; nothing
/// is generated or billed.
pub async fn input_tokens(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<Response, HttpError> {
    let (_, mut message, _, _) = read(&state, &caller, request).await?;
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

/// `GET /v1/responses/{id}`: a stored response, as it was answered. Metering
/// checks the key: a bad one is a 401, another tenant's response a 404.
pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let stored = store::fetch(&state.admin.responses, &caller, &id).await?;
    Ok(json_response(stored.response_json))
}

/// `DELETE /v1/responses/{id}`: deletes a stored response.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let mut client = state.admin.responses.clone();
    client
        .delete_response(caller.request(DeleteResponseRequest { id: id.clone() }))
        .await?;
    Ok(json_response(encode(
        &json!({"id": id, "object": "response", "deleted": true}),
    )?))
}

/// `GET /v1/responses/{id}/input_items`: the stored response's input items,
/// paged (`limit`, `order`, `after`; `include` is accepted and adds nothing).
pub async fn input_items(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: RawQuery,
) -> Result<Response, HttpError> {
    let mut params = Params::with_lists(query, &["include"])?;
    let limit = params.number("limit", 1..=100)?.unwrap_or(20);
    let order = params
        .choice("order", &[("asc", Order::Asc), ("desc", Order::Desc)])?
        .unwrap_or(Order::Desc);
    let after = params.text("after");
    params.list("include");
    params.finish()?;
    let stored = store::fetch(&state.admin.responses, &caller, &id).await?;
    let items: Vec<Value> = serde_json::from_slice(&stored.input_items_json).map_err(|e| {
        tracing::error!(error = %e, "a stored response's items do not parse");
        ApiError::internal()
    })?;
    let page = items::page(&id, items, order, limit as usize, after.as_deref())?;
    Ok(json_response(encode(&page)?))
}

/// `POST /v1/responses/{id}/cancel`: the response must exist for the caller (401
/// / 404 as for `retrieve`); then a 400, since only background responses can be
/// cancelled and none run here.
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> HttpError {
    if let Err(error) = store::fetch(&state.admin.responses, &caller, &id).await {
        return error.into();
    }
    ApiError::new(
        ErrorCode::InvalidRequest,
        "Only background responses can be cancelled; Switchyard runs none.",
    )
    .into()
}
