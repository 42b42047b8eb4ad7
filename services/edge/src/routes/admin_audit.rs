//! `GET /admin/v1/audit`: auth's audit trail of admin changes, newest first.

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use switchyard_proto::auth::v1::ListAuditRequest;

use super::params::{Params, RawQuery};
use super::{AppState, admin_response};
use crate::admin::json::AuditListJson;
use crate::context::AdminCaller;
use crate::error::HttpError;

/// `?target=key:<id>|tenant:<name>&limit=1..1000`.
pub async fn list(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: RawQuery,
) -> Result<Response, HttpError> {
    let mut params = Params::new(query)?;
    let message = ListAuditRequest {
        target: params.text("target").unwrap_or_default(),
        // 0 lets auth apply its default.
        limit: params.number("limit", 1..=1000)?.unwrap_or(0),
    };
    params.finish()?;
    let mut audit = state.admin.audit.clone();
    let answer = audit
        .list_audit(caller.request(message))
        .await?
        .into_inner();
    admin_response(StatusCode::OK, &AuditListJson::new(&answer.records))
}
