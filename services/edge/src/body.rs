//! Reading a JSON request body: the size limit, then a parse whose errors name the
//! path of any wrongly typed field.
//!
//! axum's own extractors answer plain text; these answer OpenAI error bodies.

use axum::body::Body;
use http::HeaderMap;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use switchyard_error::{ApiError, ErrorCode};

use crate::error::HttpError;

fn too_large(limit: usize) -> HttpError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("Request body is larger than the limit of {limit} bytes."),
    )
    .into()
}

/// Reads at most `limit` bytes (413 beyond) and deserializes them as `T`.
///
/// Malformed JSON is a 400 without a param; a value of the wrong type is a 400 whose
/// `param` is its JSON path (`messages[0].content`).
pub async fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, HttpError> {
    parse_json(&read_bytes(headers, body, limit).await?)
}

/// Reads at most `limit` bytes (413 beyond), for a caller that looks at the bytes
/// before parsing them (an optional body).
pub async fn read_bytes(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes, HttpError> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large(limit));
    }
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large(limit)),
        Err(_) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "The request body could not be read.",
            )
            .into());
        }
    };
    Ok(bytes)
}

/// Deserializes `bytes` as `T`, mapping errors as [`read_json`] documents.
///
/// A body that parses is read once by plain `serde_json`; only a failed one is read
/// again with the path tracking that names the bad field. Tracking every key of
/// every request cost about 1 % of the all-in-one gateway's CPU, and the parser is
/// deterministic, so the second read fails the same way.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, HttpError> {
    match serde_json::from_slice(bytes) {
        Ok(value) => Ok(value),
        Err(_) => parse_json_tracked(bytes),
    }
}

/// [`parse_json`]'s slow path: the parse with the JSON path of an error.
fn parse_json_tracked<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, HttpError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            Category::Data if let Some(field) = named_field(&path, &inner) => {
                ApiError::invalid(field, format!("Invalid request body: {inner}"))
            }
            Category::Data if path != "." => {
                ApiError::invalid(path.clone(), format!("Invalid value for '{path}': {inner}"))
            }
            Category::Data => ApiError::new(
                ErrorCode::InvalidRequest,
                format!("Invalid request body: {inner}"),
            ),
            Category::Syntax | Category::Eof | Category::Io => malformed(&inner),
        }
    })?;
    de.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

/// The full path of the field an "unknown field" or "missing field" error names
/// (a missing field is reported at the enclosing object's path), so `param` points
/// at the field itself: `limits.requests_per_minute`, not `limits`.
fn named_field(path: &str, error: &serde_json::Error) -> Option<String> {
    let message = error.to_string();
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    let (field, _) = rest.split_once('`')?;
    Some(if path == "." {
        field.to_string()
    } else if path == field || path.ends_with(&format!(".{field}")) {
        path.to_string()
    } else {
        format!("{path}.{field}")
    })
}

fn malformed(e: &serde_json::Error) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidRequest,
        format!(
            "We could not parse the JSON body of your request ({e}). \
             The API expects a JSON payload."
        ),
    )
}
