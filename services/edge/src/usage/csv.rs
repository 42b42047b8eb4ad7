//! The CSV export: RFC 4180 (CRLF line ends; a field is quoted when it holds a comma,
//! a quote, CR or LF, with quotes doubled). Values are written as they are — no
//! spreadsheet-formula escaping — so the file is an exact copy of the ledger.

use switchyard_proto::metering::v1::UsageRecord;

use super::{outcome_name, time};

/// The columns, in order. Changing them breaks billing pipelines: add at the end.
pub const CSV_COLUMNS: [&str; 22] = [
    "request_id",
    "time",
    "tenant",
    "key_id",
    "operation",
    "requested_model",
    "provider",
    "upstream_model",
    "prompt_tokens",
    "completion_tokens",
    "cached_prompt_tokens",
    "cache_write_prompt_tokens",
    "reasoning_tokens",
    "usage_estimated",
    "cost_micros",
    "price_version",
    "latency_us",
    "time_to_first_token_us",
    "stream",
    "outcome",
    "error_reason",
    "cache_hit",
];

/// Appends the header row.
pub fn write_csv_header(out: &mut Vec<u8>) {
    write_row(out, CSV_COLUMNS.iter().copied());
}

/// Appends one record as a row of [`CSV_COLUMNS`].
pub fn write_csv_row(r: &UsageRecord, out: &mut Vec<u8>) {
    let time = time(r).unwrap_or_default();
    let numbers = [
        r.prompt_tokens.to_string(),
        r.completion_tokens.to_string(),
        r.cached_prompt_tokens.to_string(),
        r.cache_write_prompt_tokens.to_string(),
        r.reasoning_tokens.to_string(),
    ];
    let cost = r.cost_micros.to_string();
    let latency = r.latency_us.to_string();
    let ttft = r.time_to_first_token_us.to_string();
    let fields: [&str; 22] = [
        &r.request_id,
        &time,
        &r.tenant,
        &r.key_id,
        &r.operation,
        &r.requested_model,
        &r.provider,
        &r.upstream_model,
        &numbers[0],
        &numbers[1],
        &numbers[2],
        &numbers[3],
        &numbers[4],
        bool_field(r.usage_estimated),
        &cost,
        &r.price_version,
        &latency,
        &ttft,
        bool_field(r.stream),
        outcome_name(r.outcome),
        &r.error_reason,
        bool_field(r.cache_hit),
    ];
    write_row(out, fields.into_iter());
}

fn bool_field(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

fn write_row<'a>(out: &mut Vec<u8>, fields: impl Iterator<Item = &'a str>) {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_field(out, field);
    }
    out.extend_from_slice(b"\r\n");
}

fn write_field(out: &mut Vec<u8>, field: &str) {
    if !field.contains([',', '"', '\r', '\n']) {
        out.extend_from_slice(field.as_bytes());
        return;
    }
    out.push(b'"');
    for part in field.split_inclusive('"') {
        out.extend_from_slice(part.as_bytes());
        if part.ends_with('"') {
            out.push(b'"');
        }
    }
    out.push(b'"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn field(value: &str) -> String {
        let mut out = Vec::new();
        write_field(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(field("plain value"), "plain value");
        assert_eq!(field(""), "");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("\"a\",b"), "\"\"\"a\"\",b\"");
        assert_eq!(field("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(field("cr\r"), "\"cr\r\"");
    }

    #[test]
    fn header_lists_every_column_once() {
        let mut out = Vec::new();
        write_csv_header(&mut out);
        let line = String::from_utf8(out).unwrap();
        assert!(line.ends_with("\r\n"));
        assert_eq!(line.trim_end().split(',').count(), CSV_COLUMNS.len());
        assert!(line.starts_with("request_id,time,tenant,key_id,operation,"));
        // Consumers read by position: new columns only ever go at the end.
        assert!(line.ends_with(",error_reason,cache_hit\r\n"));
    }
}
