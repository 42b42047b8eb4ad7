//! OpenAI's Conversations API over metering's `ConversationStore`:
//! `POST /v1/conversations`, `GET` / `POST` (update) / `DELETE
//! /v1/conversations/{id}`, and its items: `POST` / `GET …/items`, `GET` /
//! `DELETE …/items/{item_id}`. Every call carries the caller's key; metering
//! scopes it to the key's tenant (another tenant's conversation is a 404). With
//! `edge.store_responses` off nothing is stored, so these routes answer 400.

use std::collections::HashMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_error::ApiError;
use switchyard_proto::metering::v1::{
    AppendItemsRequest, Conversation, ConversationItem, CreateConversationRequest,
    DeleteConversationRequest, DeleteItemRequest, GetConversationRequest, GetItemRequest,
    ListItemsRequest, UpdateConversationRequest,
};

use super::params::{Params, RawQuery, path};
use super::{AppState, encode, json_response};
use crate::body::read_json;
use crate::context::Caller;
use crate::error::HttpError;
use crate::responses::conversation::{self, ENCRYPTED_REASONING};

/// OpenAI's bound on the items one create call adds.
const MAX_ITEMS: usize = 20;

/// `POST /v1/conversations` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// Up to 20 initial items.
    items: Option<Vec<Value>>,
    /// Up to 16 string pairs.
    metadata: Option<HashMap<String, String>>,
}

/// `POST /v1/conversations/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    /// Replaces the metadata (null clears it); required, as OpenAI's.
    #[serde(default, deserialize_with = "crate::admin::request::present")]
    metadata: Option<Option<HashMap<String, String>>>,
}

/// `POST /v1/conversations/{id}/items` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemsBody {
    /// Up to 20 items.
    items: Option<Vec<Value>>,
}

/// Refuses when the operator turned storage off.
fn enabled(state: &AppState) -> Result<(), HttpError> {
    if state.store_responses {
        return Ok(());
    }
    Err(ApiError::new(
        switchyard_error::ErrorCode::InvalidRequest,
        "This gateway stores no conversations (edge.store_responses is off): send the whole \
         conversation as 'input'.",
    )
    .into())
}

/// The conversation id in the path, and the store's client, once storage is on.
fn open(
    state: &AppState,
    id: Result<Path<String>, PathRejection>,
) -> Result<(String, conversation::Client), HttpError> {
    enabled(state)?;
    Ok((
        path("conversation_id", id)?,
        state.admin.conversations.clone(),
    ))
}

/// A conversation as the answer.
fn answer(found: &Conversation) -> Result<Response, HttpError> {
    Ok(json_response(encode(&conversation::object(found))?))
}

/// `items` checked and completed, at most [`MAX_ITEMS`]: as JSON, and as the
/// store keeps them.
fn new_items(
    caller: &Caller,
    items: Vec<Value>,
) -> Result<(Vec<Value>, Vec<ConversationItem>), HttpError> {
    if items.len() > MAX_ITEMS {
        return Err(ApiError::invalid(
            "items",
            format!("You may add up to {MAX_ITEMS} items at a time."),
        )
        .into());
    }
    let values = conversation::to_items("items", &caller.request_id, items)?;
    let stored = values
        .iter()
        .map(conversation::stored)
        .collect::<Result<_, _>>()?;
    Ok((values, stored))
}

/// Stored items as their caller sees them.
fn shown(items: &[ConversationItem], encrypted: bool) -> Result<Vec<Value>, HttpError> {
    Ok(items
        .iter()
        .map(|item| conversation::value(item).map(|v| conversation::shown(v, encrypted)))
        .collect::<Result<_, _>>()?)
}

/// Whether `include` asks for reasoning signatures; other values are accepted and
/// add nothing (no item here has what they name).
fn include(params: &mut Params) -> bool {
    params
        .list("include")
        .iter()
        .any(|i| i == ENCRYPTED_REASONING)
}

fn two(
    value: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, String), HttpError> {
    let Path(ids) =
        value.map_err(|e| ApiError::invalid("item_id", format!("Invalid id in the path: {e}")))?;
    Ok(ids)
}

/// `POST /v1/conversations`: a new conversation, with up to 20 items.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<Response, HttpError> {
    enabled(&state)?;
    let (parts, body) = request.into_parts();
    let body: CreateBody = read_json(&parts.headers, body, state.max_body_bytes).await?;
    let (_, items) = new_items(&caller, body.items.unwrap_or_default())?;
    let mut client = state.admin.conversations.clone();
    let created = client
        .create_conversation(caller.request(CreateConversationRequest {
            metadata: body.metadata.unwrap_or_default(),
            items,
        }))
        .await?
        .into_inner();
    answer(&created)
}

/// `GET /v1/conversations/{id}`.
pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, HttpError> {
    let (id, mut client) = open(&state, id)?;
    let found = client
        .get_conversation(caller.request(GetConversationRequest { id }))
        .await?
        .into_inner();
    answer(&found)
}

/// `POST /v1/conversations/{id}`: replaces the metadata.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, HttpError> {
    let (id, mut client) = open(&state, id)?;
    let (parts, body) = request.into_parts();
    let body: UpdateBody = read_json(&parts.headers, body, state.max_body_bytes).await?;
    let Some(metadata) = body.metadata else {
        return Err(
            ApiError::invalid("metadata", "Missing required parameter: 'metadata'.").into(),
        );
    };
    let updated = client
        .update_conversation(caller.request(UpdateConversationRequest {
            id,
            metadata: metadata.unwrap_or_default(),
        }))
        .await?
        .into_inner();
    answer(&updated)
}

/// `DELETE /v1/conversations/{id}`: the conversation and its items.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, HttpError> {
    let (id, mut client) = open(&state, id)?;
    client
        .delete_conversation(caller.request(DeleteConversationRequest { id: id.clone() }))
        .await?;
    Ok(json_response(encode(
        &json!({"id": id, "object": "conversation.deleted", "deleted": true}),
    )?))
}

/// `POST /v1/conversations/{id}/items`: appends up to 20 items; answers them as a
/// list.
pub async fn add_items(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    query: RawQuery,
    request: Request,
) -> Result<Response, HttpError> {
    let (id, mut client) = open(&state, id)?;
    let mut params = Params::with_lists(query, &["include"])?;
    let encrypted = include(&mut params);
    params.finish()?;
    let (parts, body) = request.into_parts();
    let body: ItemsBody = read_json(&parts.headers, body, state.max_body_bytes).await?;
    let Some(items) = body.items else {
        return Err(ApiError::invalid("items", "Missing required parameter: 'items'.").into());
    };
    let (values, items) = new_items(&caller, items)?;
    let data = values
        .into_iter()
        .map(|value| conversation::shown(value, encrypted))
        .collect();
    client
        .append_items(caller.request(AppendItemsRequest {
            conversation_id: id,
            items,
        }))
        .await?;
    Ok(json_response(encode(&list(data, false))?))
}

/// `GET /v1/conversations/{id}/items`: paged by `limit` (1–100, 20), `order`
/// (`desc` by default, as OpenAI's) and `after` (an item id).
pub async fn list_items(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    query: RawQuery,
) -> Result<Response, HttpError> {
    let (id, mut client) = open(&state, id)?;
    let mut params = Params::with_lists(query, &["include"])?;
    let limit = params.number("limit", 1..=100)?.unwrap_or(20);
    let descending = params
        .choice("order", &[("asc", false), ("desc", true)])?
        .unwrap_or(true);
    let after = params.text("after").unwrap_or_default();
    let encrypted = include(&mut params);
    params.finish()?;
    let page = client
        .list_items(caller.request(ListItemsRequest {
            conversation_id: id,
            after,
            limit,
            descending,
        }))
        .await?
        .into_inner();
    let data = shown(&page.items, encrypted)?;
    Ok(json_response(encode(&list(data, page.has_more))?))
}

/// `GET /v1/conversations/{id}/items/{item_id}`.
pub async fn retrieve_item(
    State(state): State<AppState>,
    caller: Caller,
    ids: Result<Path<(String, String)>, PathRejection>,
    query: RawQuery,
) -> Result<Response, HttpError> {
    enabled(&state)?;
    let (conversation_id, item_id) = two(ids)?;
    let mut params = Params::with_lists(query, &["include"])?;
    let encrypted = include(&mut params);
    params.finish()?;
    let mut client = state.admin.conversations.clone();
    let item = client
        .get_item(caller.request(GetItemRequest {
            conversation_id,
            item_id,
        }))
        .await?
        .into_inner();
    let item = conversation::shown(conversation::value(&item)?, encrypted);
    Ok(json_response(encode(&item)?))
}

/// `DELETE /v1/conversations/{id}/items/{item_id}`: answers the conversation.
pub async fn delete_item(
    State(state): State<AppState>,
    caller: Caller,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, HttpError> {
    enabled(&state)?;
    let (conversation_id, item_id) = two(ids)?;
    let mut client = state.admin.conversations.clone();
    let found = client
        .delete_item(caller.request(DeleteItemRequest {
            conversation_id,
            item_id,
        }))
        .await?
        .into_inner();
    answer(&found)
}

/// OpenAI's `list` object over `data`.
fn list(data: Vec<Value>, has_more: bool) -> Value {
    let first = data.first().map(|i| i["id"].clone());
    let last = data.last().map(|i| i["id"].clone());
    json!({
        "object": "list",
        "data": data,
        "first_id": first,
        "last_id": last,
        "has_more": has_more,
    })
}
