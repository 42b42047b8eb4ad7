//! `GET /v1/models` and `GET /v1/models/{id}`: the models the calling key may use,
//! in OpenAI's shape, or in Anthropic's Models API shape (paged, errors included)
//! when the request carries `anthropic-version`, as Anthropic's SDKs send it.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::gateway::v1::{ListModelsRequest, ListModelsResponse, Model};

use super::params::{Params, RawQuery};
use super::{AppState, encode, json_response};
use crate::anthropic::wire as anthropic;
use crate::context::Caller;
use crate::error::HttpError;
use crate::wire::models as wire;

/// The header Anthropic's SDKs send with every request; OpenAI's never do.
const ANTHROPIC_VERSION: &str = "anthropic-version";

/// Anthropic's default and largest page sizes.
const DEFAULT_PAGE: u32 = 20;
const MAX_PAGE: u32 = 1000;

fn view(m: &Model) -> wire::Model<'_> {
    wire::Model {
        id: &m.id,
        object: "model",
        created: m.created,
        owned_by: &m.owned_by,
    }
}

fn anthropic_view(m: &Model) -> anthropic::ModelInfo<'_> {
    anthropic::ModelInfo {
        kind: "model",
        id: &m.id,
        display_name: &m.id,
        created_at: prost_types::Timestamp {
            seconds: m.created,
            nanos: 0,
        }
        .to_string(),
        lifecycle: "active",
    }
}

async fn models(state: AppState, caller: &Caller) -> Result<ListModelsResponse, HttpError> {
    let mut gateway = state.gateway;
    Ok(gateway
        .list_models(caller.request(ListModelsRequest {}))
        .await?
        .into_inner())
}

/// Whether the caller is one of Anthropic's SDKs, which read Anthropic's shapes.
fn is_anthropic(headers: &HeaderMap) -> bool {
    headers.contains_key(ANTHROPIC_VERSION)
}

/// Renders `result`'s error in the shape the caller's SDK reads.
fn answer(anthropic: bool, result: Result<Response, HttpError>) -> Response {
    match result {
        Ok(response) => response,
        Err(error) if anthropic => error.anthropic().into_response(),
        Err(error) => error.into_response(),
    }
}

/// Lists the models.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    query: RawQuery,
) -> Response {
    let anthropic = is_anthropic(&headers);
    let result = async {
        let answer = models(state, &caller).await?;
        if anthropic {
            return anthropic_page(&answer.models, Params::new(query)?);
        }
        let list = wire::ModelList {
            object: "list",
            data: answer.models.iter().map(view).collect(),
        };
        Ok(json_response(encode(&list)?))
    }
    .await;
    answer(anthropic, result)
}

/// One page of Anthropic's list: `limit` (1–1000, default 20) models after
/// `after_id` or before `before_id` (at most one of them), in the gateway's order.
fn anthropic_page(models: &[Model], mut params: Params) -> Result<Response, HttpError> {
    let limit = params
        .number("limit", 1..=MAX_PAGE)?
        .unwrap_or(DEFAULT_PAGE) as usize;
    let after = params.text("after_id");
    let before = params.text("before_id");
    let position = |name: &str, id: &str| {
        models.iter().position(|m| m.id == id).ok_or_else(|| {
            HttpError::from(ApiError::invalid(
                name,
                format!("No model with id '{id}' to page from."),
            ))
        })
    };
    let (start, end, has_more) = match (after, before) {
        (Some(_), Some(_)) => {
            return Err(
                ApiError::invalid("before_id", "Give after_id or before_id, not both.").into(),
            );
        }
        (Some(id), None) => {
            let start = position("after_id", &id)? + 1;
            let end = (start + limit).min(models.len());
            (start, end, end < models.len())
        }
        (None, Some(id)) => {
            let end = position("before_id", &id)?;
            let start = end.saturating_sub(limit);
            (start, end, start > 0)
        }
        (None, None) => {
            let end = limit.min(models.len());
            (0, end, end < models.len())
        }
    };
    let page = &models[start..end];
    let body = anthropic::ModelPage {
        data: page.iter().map(anthropic_view).collect(),
        has_more,
        first_id: page.first().map(|m| m.id.as_str()),
        last_id: page.last().map(|m| m.id.as_str()),
    };
    Ok(json_response(encode(&body)?))
}

/// One model, or 404 `model_not_found`. The id may contain slashes
/// (`openai/gpt-4o`), hence the wildcard route.
pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let anthropic = is_anthropic(&headers);
    let result = async {
        let Path(id) =
            id.map_err(|e| ApiError::invalid("model", format!("Invalid model id: {e}")))?;
        let answer = models(state, &caller).await?;
        let model = answer.models.iter().find(|m| m.id == id).ok_or_else(|| {
            ApiError::new(
                ErrorCode::ModelNotFound,
                format!("The model '{id}' does not exist or you do not have access to it."),
            )
        })?;
        if anthropic {
            return Ok(json_response(encode(&anthropic_view(model))?));
        }
        Ok(json_response(encode(&view(model))?))
    }
    .await;
    answer(anthropic, result)
}
