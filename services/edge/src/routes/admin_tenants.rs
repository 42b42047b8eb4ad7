//! `/admin/v1/tenants…`: thin HTTP views of auth's `TenantAdmin` API.
//!
//! The edge checks only that a bearer token is present and forwards it (and the
//! actor); auth decides whether it is the admin token and validates every value.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use http::StatusCode;
use switchyard_proto::auth::v1::{
    CreateTenantRequest, DisableTenantRequest, EnableTenantRequest, GetTenantRequest,
    ListTenantsRequest,
};

use super::params::{Params, RawQuery, path};
use super::{AppState, admin_response};
use crate::admin::json::{TenantJson, TenantListJson};
use crate::admin::request::{CreateTenantBody, TenantPatch};
use crate::body::read_json;
use crate::context::AdminCaller;
use crate::error::HttpError;

/// `GET /admin/v1/tenants`: every tenant.
pub async fn list(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: RawQuery,
) -> Result<Response, HttpError> {
    Params::new(query)?.finish()?;
    let mut tenants = state.admin.tenants.clone();
    let answer = tenants
        .list_tenants(caller.request(ListTenantsRequest {}))
        .await?
        .into_inner();
    admin_response(StatusCode::OK, &TenantListJson::new(&answer.tenants))
}

/// `POST /admin/v1/tenants`: 201 with the tenant as auth stored it.
pub async fn create(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: RawQuery,
    request: Request,
) -> Result<Response, HttpError> {
    Params::new(query)?.finish()?;
    let (parts, body) = request.into_parts();
    let body: CreateTenantBody = read_json(&parts.headers, body, state.max_body_bytes).await?;
    let message = CreateTenantRequest {
        tenant: Some(body.into()),
    };
    let mut tenants = state.admin.tenants.clone();
    let tenant = tenants
        .create_tenant(caller.request(message))
        .await?
        .into_inner();
    admin_response(StatusCode::CREATED, &TenantJson::from(&tenant))
}

/// `GET /admin/v1/tenants/{name}`, or 404.
pub async fn get(
    State(state): State<AppState>,
    caller: AdminCaller,
    name: Result<Path<String>, PathRejection>,
    query: RawQuery,
) -> Result<Response, HttpError> {
    let name = path("name", name)?;
    Params::new(query)?.finish()?;
    let mut tenants = state.admin.tenants.clone();
    let tenant = tenants
        .get_tenant(caller.request(GetTenantRequest { name }))
        .await?
        .into_inner();
    admin_response(StatusCode::OK, &TenantJson::from(&tenant))
}

/// `PATCH /admin/v1/tenants/{name}`: the fields present in the body are replaced
/// (`null` clears one); the rest are left alone.
pub async fn update(
    State(state): State<AppState>,
    caller: AdminCaller,
    name: Result<Path<String>, PathRejection>,
    query: RawQuery,
    request: Request,
) -> Result<Response, HttpError> {
    let name = path("name", name)?;
    Params::new(query)?.finish()?;
    let (parts, body) = request.into_parts();
    let patch: TenantPatch = read_json(&parts.headers, body, state.max_body_bytes).await?;
    let message = patch.into_request(name)?;
    let mut tenants = state.admin.tenants.clone();
    let tenant = tenants
        .update_tenant(caller.request(message))
        .await?
        .into_inner();
    admin_response(StatusCode::OK, &TenantJson::from(&tenant))
}

/// `POST /admin/v1/tenants/{name}/disable`: every key of the tenant is refused
/// until it is enabled again.
pub async fn disable(
    State(state): State<AppState>,
    caller: AdminCaller,
    name: Result<Path<String>, PathRejection>,
    query: RawQuery,
) -> Result<Response, HttpError> {
    let name = path("name", name)?;
    Params::new(query)?.finish()?;
    let mut tenants = state.admin.tenants.clone();
    let tenant = tenants
        .disable_tenant(caller.request(DisableTenantRequest { name }))
        .await?
        .into_inner();
    admin_response(StatusCode::OK, &TenantJson::from(&tenant))
}

/// `POST /admin/v1/tenants/{name}/enable`.
pub async fn enable(
    State(state): State<AppState>,
    caller: AdminCaller,
    name: Result<Path<String>, PathRejection>,
    query: RawQuery,
) -> Result<Response, HttpError> {
    let name = path("name", name)?;
    Params::new(query)?.finish()?;
    let mut tenants = state.admin.tenants.clone();
    let tenant = tenants
        .enable_tenant(caller.request(EnableTenantRequest { name }))
        .await?
        .into_inner();
    admin_response(StatusCode::OK, &TenantJson::from(&tenant))
}
