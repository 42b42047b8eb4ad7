//! Query parameters of the admin routes, read strictly: an unknown or repeated
//! parameter, or a value that does not parse, is a 400 whose `param` names it, so a
//! typo (`group-by=model`) never silently widens a billing query.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use prost_types::Timestamp;
use switchyard_error::{ApiError, ErrorCode};

use crate::error::HttpError;

/// The raw query string's pairs, taken one by one by name.
#[derive(Debug)]
pub struct Params(Vec<(String, String)>);

/// The extractor's result: the pairs, or axum's rejection of an undecodable query.
pub type RawQuery = Result<Query<Vec<(String, String)>>, QueryRejection>;

impl Params {
    /// Decodes the query; a repeated name is refused.
    pub fn new(query: RawQuery) -> Result<Self, HttpError> {
        Self::with_lists(query, &[])
    }

    /// Decodes the query; a repeated name is refused unless it is one of `lists`
    /// (read with [`Self::list`]).
    pub fn with_lists(query: RawQuery, lists: &[&str]) -> Result<Self, HttpError> {
        let Query(pairs) = query.map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("Invalid query string: {}", e.body_text()),
            )
        })?;
        for (i, (name, _)) in pairs.iter().enumerate() {
            let listed = lists.iter().any(|l| list_name(name) == *l);
            if !listed && pairs[..i].iter().any(|(seen, _)| seen == name) {
                return Err(ApiError::invalid(
                    name,
                    format!("Query parameter '{name}' is repeated."),
                )
                .into());
            }
        }
        Ok(Self(pairs))
    }

    /// Removes and returns `name`'s value; an empty value counts as absent.
    pub fn text(&mut self, name: &str) -> Option<String> {
        let at = self.0.iter().position(|(n, _)| n == name)?;
        Some(self.0.swap_remove(at).1).filter(|v| !v.is_empty())
    }

    /// Every value of list `name`, sent as `name=a&name=b` (OpenAI's SDKs) or
    /// `name[]=a&name[]=b`.
    pub fn list(&mut self, name: &str) -> Vec<String> {
        let mut values = Vec::new();
        self.0.retain(|(n, v)| {
            let take = list_name(n) == name;
            if take && !v.is_empty() {
                values.push(v.clone());
            }
            !take
        });
        values
    }

    /// An RFC 3339 time (`2026-01-31T00:00:00Z`; a bare date means midnight UTC).
    ///
    /// An unencoded `+02:00` offset arrives as ` 02:00` (form decoding turns `+` into
    /// a space); that one case is read as the `+` it was.
    pub fn time(&mut self, name: &str) -> Result<Option<Timestamp>, HttpError> {
        let Some(value) = self.text(name) else {
            return Ok(None);
        };
        let parsed = value.parse::<Timestamp>().ok().or_else(|| {
            let (time, offset) = value.rsplit_once(' ')?;
            format!("{time}+{offset}").parse().ok()
        });
        parsed.map(Some).ok_or_else(|| {
            invalid(
                name,
                &value,
                "an RFC 3339 time such as 2026-01-31T00:00:00Z",
            )
        })
    }

    /// One of `choices`, mapped to its value.
    pub fn choice<T: Copy>(
        &mut self,
        name: &str,
        choices: &[(&str, T)],
    ) -> Result<Option<T>, HttpError> {
        let Some(value) = self.text(name) else {
            return Ok(None);
        };
        match choices.iter().find(|(text, _)| *text == value) {
            Some((_, choice)) => Ok(Some(*choice)),
            None => {
                let names: Vec<&str> = choices.iter().map(|(text, _)| *text).collect();
                Err(invalid(
                    name,
                    &value,
                    &format!("one of {}", names.join(", ")),
                ))
            }
        }
    }

    /// An integer in `range`.
    pub fn number(
        &mut self,
        name: &str,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<Option<u32>, HttpError> {
        let Some(value) = self.text(name) else {
            return Ok(None);
        };
        match value.parse::<u32>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(invalid(
                name,
                &value,
                &format!("an integer from {} to {}", range.start(), range.end()),
            )),
        }
    }

    /// Refuses whatever parameter was not taken.
    pub fn finish(self) -> Result<(), HttpError> {
        match self.0.into_iter().next() {
            None => Ok(()),
            Some((name, _)) => {
                Err(ApiError::invalid(&name, format!("Unknown query parameter '{name}'.")).into())
            }
        }
    }
}

/// A list parameter's name without the `[]` some encoders add.
fn list_name(name: &str) -> &str {
    name.strip_suffix("[]").unwrap_or(name)
}

/// A path segment such as a key id, or a 400 naming it when it does not decode.
pub fn path(name: &str, value: Result<Path<String>, PathRejection>) -> Result<String, HttpError> {
    let Path(value) =
        value.map_err(|e| ApiError::invalid(name, format!("Invalid {name} in the path: {e}")))?;
    Ok(value)
}

/// A start/end pair, checked to be in order.
pub fn range(params: &mut Params) -> Result<(Option<Timestamp>, Option<Timestamp>), HttpError> {
    let start = params.time("start")?;
    let end = params.time("end")?;
    if let (Some(s), Some(e)) = (start, end)
        && (e.seconds, e.nanos) <= (s.seconds, s.nanos)
    {
        return Err(ApiError::invalid("end", "'end' must be after 'start'.").into());
    }
    Ok((start, end))
}

fn invalid(name: &str, value: &str, expected: &str) -> HttpError {
    // The value is echoed only when short: it is the caller's own input, but a long
    // one makes an unreadable message.
    let shown = if value.len() <= 64 {
        format!(" '{value}'")
    } else {
        String::new()
    };
    ApiError::invalid(
        name,
        format!("Invalid value{shown} for '{name}': expected {expected}."),
    )
    .into()
}
