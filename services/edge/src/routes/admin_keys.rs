//! `/admin/v1/keys…`: thin HTTP views of auth's `KeyAdmin` API.
//!
//! A secret leaves only in the answers of create and rotate (`{key, secret}`); every
//! other answer renders keys through `KeyJson`, which has no secret field. Like
//! every admin answer these are `cache-control: no-store`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use http::StatusCode;
use switchyard_proto::auth::v1::{
    CreateKeyRequest, GetKeyRequest, ListKeysRequest, RevokeKeyRequest, RotateKeyRequest,
};

use super::params::{Params, RawQuery, path};
use super::{AppState, admin_response};
use crate::admin::json::{CreatedKeyJson, KeyJson, KeyListJson};
use crate::admin::request::{CreateKeyBody, KeyPatch, RotateBody};
use crate::body::{parse_json, read_bytes, read_json};
use crate::context::AdminCaller;
use crate::error::HttpError;

/// `GET /admin/v1/keys?tenant=`: every key, or one tenant's.
pub async fn list(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: RawQuery,
) -> Result<Response, HttpError> {
    let mut params = Params::new(query)?;
    let tenant = params.text("tenant").unwrap_or_default();
    params.finish()?;
    let mut keys = state.admin.keys.clone();
    let answer = keys
        .list_keys(caller.request(ListKeysRequest { tenant }))
        .await?
        .into_inner();
    admin_response(StatusCode::OK, &KeyListJson::new(&answer.keys))
}

/// `POST /admin/v1/keys`: 201 with `{key, secret}`; the only time the secret is
/// shown.
pub async fn create(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: RawQuery,
    request: Request,
) -> Result<Response, HttpError> {
    Params::new(query)?.finish()?;
    let (parts, body) = request.into_parts();
    let body: CreateKeyBody = read_json(&parts.headers, body, state.max_body_bytes).await?;
    let mut keys = state.admin.keys.clone();
    let created = keys
        .create_key(caller.request(CreateKeyRequest::from(body)))
        .await?
        .into_inner();
    admin_response(StatusCode::CREATED, &CreatedKeyJson::from(&created))
}

/// `GET /admin/v1/keys/{id}`, or 404.
pub async fn get(
    State(state): State<AppState>,
    caller: AdminCaller,
    id: Result<Path<String>, PathRejection>,
    query: RawQuery,
) -> Result<Response, HttpError> {
    let key_id = path("id", id)?;
    Params::new(query)?.finish()?;
    let mut keys = state.admin.keys.clone();
    let key = keys
        .get_key(caller.request(GetKeyRequest { key_id }))
        .await?
        .into_inner();
    admin_response(StatusCode::OK, &KeyJson::from(&key))
}

/// `PATCH /admin/v1/keys/{id}`: the fields present in the body are replaced (`null`
/// clears one); the rest are left alone.
pub async fn update(
    State(state): State<AppState>,
    caller: AdminCaller,
    id: Result<Path<String>, PathRejection>,
    query: RawQuery,
    request: Request,
) -> Result<Response, HttpError> {
    let id = path("id", id)?;
    Params::new(query)?.finish()?;
    let (parts, body) = request.into_parts();
    let patch: KeyPatch = read_json(&parts.headers, body, state.max_body_bytes).await?;
    let message = patch.into_request(id)?;
    let mut keys = state.admin.keys.clone();
    let key = keys.update_key(caller.request(message)).await?.into_inner();
    admin_response(StatusCode::OK, &KeyJson::from(&key))
}

/// `DELETE /admin/v1/keys/{id}`: revokes the key at once and answers it (with
/// `revoked_at` set). Keys are never erased, so usage stays attributable.
pub async fn revoke(
    State(state): State<AppState>,
    caller: AdminCaller,
    id: Result<Path<String>, PathRejection>,
    query: RawQuery,
) -> Result<Response, HttpError> {
    let key_id = path("id", id)?;
    Params::new(query)?.finish()?;
    let mut keys = state.admin.keys.clone();
    let key = keys
        .revoke_key(caller.request(RevokeKeyRequest { key_id }))
        .await?
        .into_inner();
    admin_response(StatusCode::OK, &KeyJson::from(&key))
}

/// `POST /admin/v1/keys/{id}/rotate` with an optional `{overlap_seconds}` body: 201
/// with the new key and its secret; the old key works until the overlap ends.
pub async fn rotate(
    State(state): State<AppState>,
    caller: AdminCaller,
    id: Result<Path<String>, PathRejection>,
    query: RawQuery,
    request: Request,
) -> Result<Response, HttpError> {
    let key_id = path("id", id)?;
    Params::new(query)?.finish()?;
    let (parts, body) = request.into_parts();
    let bytes = read_bytes(&parts.headers, body, state.max_body_bytes).await?;
    // No body at all means the defaults, so `curl -X POST …/rotate` works.
    let body: RotateBody = if bytes.iter().all(u8::is_ascii_whitespace) {
        RotateBody::default()
    } else {
        parse_json(&bytes)?
    };
    let message = RotateKeyRequest {
        key_id,
        overlap_seconds: body.overlap_seconds,
    };
    let mut keys = state.admin.keys.clone();
    let rotated = keys.rotate_key(caller.request(message)).await?.into_inner();
    admin_response(StatusCode::CREATED, &CreatedKeyJson::from(&rotated))
}
