//! `GET /admin/v1/usage/…`: thin HTTP views of metering's `UsageQuery` API.
//!
//! The edge checks only that a bearer token is present and forwards it; metering
//! decides what it may see (the admin token: every tenant; a virtual key: its own
//! tenant). Every answer is `cache-control: no-store`: it is billing data.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{StreamExt, stream};
use http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use switchyard_error::ApiError;
use switchyard_proto::metering::v1::{
    Dimension, ExportUsageRequest, GetUsageRequest, Granularity, ListUsageRequest,
    SummarizeUsageRequest, UsageRecord,
};

use super::params::{Params, RawQuery, range};
use super::{AppState, encode, json_response, no_store};
use crate::context::AdminCaller;
use crate::error::HttpError;
use crate::usage::{ExportFormat, RecordJson, RecordListJson, SummaryJson};

const GRANULARITIES: &[(&str, Granularity)] = &[
    ("hour", Granularity::Hour),
    ("day", Granularity::Day),
    ("month", Granularity::Month),
];

const DIMENSIONS: &[(&str, Dimension)] = &[
    ("tenant", Dimension::Tenant),
    ("key", Dimension::Key),
    ("model", Dimension::Model),
    ("provider", Dimension::Provider),
];

/// A `group_by` naming a dimension.
fn dimension(value: &str) -> Result<Dimension, HttpError> {
    DIMENSIONS
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, d)| *d)
        .ok_or_else(|| {
            ApiError::invalid(
                "group_by",
                format!(
                    "Invalid group_by '{value}'. Expected one of tenant, key, model, provider, \
                     or metadata.<key>."
                ),
            )
            .into()
        })
}

const FORMATS: &[(&str, ExportFormat)] =
    &[("jsonl", ExportFormat::Jsonl), ("csv", ExportFormat::Csv)];

/// `?start&end&granularity=hour|day|month&group_by=tenant|key|model|provider|metadata.<key>&tenant`.
pub async fn summary(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: RawQuery,
) -> Result<Response, HttpError> {
    let mut params = Params::new(query)?;
    let (start, end) = range(&mut params)?;
    let granularity = params.choice("granularity", GRANULARITIES)?;
    let group_by = params.text("group_by");
    let (dimension, group_by_metadata) = match group_by.as_deref() {
        None => (Dimension::Unspecified, String::new()),
        Some(value) => match value.strip_prefix("metadata.") {
            Some(key) if !key.is_empty() => (Dimension::Unspecified, key.to_string()),
            _ => (dimension(value)?, String::new()),
        },
    };
    let tenant = params.text("tenant").unwrap_or_default();
    params.finish()?;
    let message = SummarizeUsageRequest {
        start,
        end,
        granularity: granularity.unwrap_or(Granularity::Unspecified).into(),
        group_by: dimension.into(),
        tenant,
        group_by_metadata,
    };
    let mut usage = state.admin.usage.clone();
    let answer = usage
        .summarize_usage(caller.request(message))
        .await?
        .into_inner();
    Ok(no_store(json_response(encode(&SummaryJson::new(
        &answer,
        group_by.is_some(),
    ))?)))
}

/// `?start&end&tenant&key_id&limit=1..1000&page_token`: one page, in time order.
pub async fn records(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: RawQuery,
) -> Result<Response, HttpError> {
    let mut params = Params::new(query)?;
    let (start, end) = range(&mut params)?;
    let message = ListUsageRequest {
        start,
        end,
        tenant: params.text("tenant").unwrap_or_default(),
        key_id: params.text("key_id").unwrap_or_default(),
        // 0 lets metering apply its default page size.
        limit: params.number("limit", 1..=1000)?.unwrap_or(0),
        page_token: params.text("page_token").unwrap_or_default(),
    };
    params.finish()?;
    let mut usage = state.admin.usage.clone();
    let page = usage
        .list_usage(caller.request(message))
        .await?
        .into_inner();
    Ok(no_store(json_response(encode(&RecordListJson::from(
        &page,
    ))?)))
}

/// One record by request id, or 404.
pub async fn record(
    State(state): State<AppState>,
    caller: AdminCaller,
    request_id: Result<Path<String>, PathRejection>,
    query: RawQuery,
) -> Result<Response, HttpError> {
    let Path(request_id) = request_id
        .map_err(|e| ApiError::invalid("request_id", format!("Invalid request id: {e}")))?;
    Params::new(query)?.finish()?;
    let mut usage = state.admin.usage.clone();
    let record = usage
        .get_usage(caller.request(GetUsageRequest { request_id }))
        .await?
        .into_inner();
    Ok(no_store(json_response(encode(&RecordJson::from(&record))?)))
}

/// `?start&end&tenant&format=jsonl|csv`: every record in the range as a download,
/// written record by record as metering streams them (memory stays flat however
/// large the export). Waits for the first record before answering, so a refused
/// call is a plain HTTP error; a failure after that aborts the body (never a clean
/// end), so a cut export cannot pass for a complete one.
pub async fn export(
    State(state): State<AppState>,
    caller: AdminCaller,
    query: RawQuery,
) -> Result<Response, HttpError> {
    let mut params = Params::new(query)?;
    let (start, end) = range(&mut params)?;
    let tenant = params.text("tenant").unwrap_or_default();
    let format = params
        .choice("format", FORMATS)?
        .unwrap_or(ExportFormat::Jsonl);
    params.finish()?;
    let mut usage = state.admin.usage.clone();
    let mut records = usage
        .export_usage(caller.request(ExportUsageRequest { start, end, tenant }))
        .await?
        .into_inner();
    let first = records.message().await?;

    let mut head = Vec::with_capacity(1024);
    format.write_header(&mut head);
    if let Some(record) = &first {
        format
            .write_record(record, &mut head)
            .map_err(encoding_failed)?;
    }
    let span = tracing::Span::current();
    let rest = records.map(move |item| next_chunk(format, item, &span));
    // Without a first record the export is complete already: end after the head.
    let rest = if first.is_some() {
        rest.left_stream()
    } else {
        stream::empty().right_stream()
    };
    let body = Body::from_stream(stream::once(async { Ok(Bytes::from(head)) }).chain(rest));

    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    let disposition = format!(
        "attachment; filename=\"switchyard-usage.{}\"",
        format.extension()
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(no_store(response))
}

/// One streamed record's bytes, or the error that aborts the body, logged here (in
/// the request's span) since the caller only sees the connection cut.
fn next_chunk(
    format: ExportFormat,
    item: Result<UsageRecord, tonic::Status>,
    span: &tracing::Span,
) -> Result<Bytes, tonic::Status> {
    let _entered = span.enter();
    let record = item.inspect_err(|status| {
        tracing::warn!(code = ?status.code(), message = %status.message(), "usage export cut short");
    })?;
    let mut buf = Vec::with_capacity(512);
    format.write_record(&record, &mut buf).map_err(|e| {
        tracing::error!(error = %e, "usage record encoding failed; export cut short");
        tonic::Status::internal("usage record encoding failed")
    })?;
    Ok(Bytes::from(buf))
}

fn encoding_failed(e: serde_json::Error) -> HttpError {
    tracing::error!(error = %e, "usage record encoding failed");
    ApiError::internal().into()
}
