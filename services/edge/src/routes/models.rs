//! `GET /v1/models` and `GET /v1/models/{id}`: the models the calling key may use.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::gateway::v1::{ListModelsRequest, ListModelsResponse, Model};

use super::{AppState, encode, json_response};
use crate::context::Caller;
use crate::error::HttpError;
use crate::wire::models as wire;

fn view(m: &Model) -> wire::Model<'_> {
    wire::Model {
        id: &m.id,
        object: "model",
        created: m.created,
        owned_by: &m.owned_by,
    }
}

async fn models(state: AppState, caller: &Caller) -> Result<ListModelsResponse, HttpError> {
    let mut gateway = state.gateway;
    Ok(gateway
        .list_models(caller.request(ListModelsRequest {}))
        .await?
        .into_inner())
}

/// Lists the models.
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, HttpError> {
    let answer = models(state, &caller).await?;
    let list = wire::ModelList {
        object: "list",
        data: answer.models.iter().map(view).collect(),
    };
    Ok(json_response(encode(&list)?))
}

/// One model, or 404 `model_not_found`. The id may contain slashes
/// (`openai/gpt-4o`), hence the wildcard route.
pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, HttpError> {
    let Path(id) = id.map_err(|e| ApiError::invalid("model", format!("Invalid model id: {e}")))?;
    let answer = models(state, &caller).await?;
    let model = answer.models.iter().find(|m| m.id == id).ok_or_else(|| {
        ApiError::new(
            ErrorCode::ModelNotFound,
            format!("The model '{id}' does not exist or you do not have access to it."),
        )
    })?;
    Ok(json_response(encode(&view(model))?))
}
