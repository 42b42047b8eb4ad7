//! Usage records and summaries as people and billing systems read them: the JSON of
//! the admin HTTP routes and the JSONL / CSV export format.
//!
//! Public so `switchyard usage` writes byte-for-byte the same export and JSON as the
//! edge: one documented format, two front doors. Conventions: snake_case names, times
//! RFC 3339 in UTC (`2026-01-31T12:00:00.123456Z`, the fraction only when non-zero),
//! cost as integer micro-dollars (`cost_micros`), plus a decimal `cost_usd` string in
//! totals, never a float.

mod csv;
mod json;

pub use csv::{CSV_COLUMNS, write_csv_header, write_csv_row};
pub use json::{AttemptJson, BucketJson, RecordJson, RecordListJson, SummaryJson, TotalsJson};

use switchyard_proto::metering::v1::{Outcome, UsageRecord};

/// `1234` micro-dollars as `"0.001234"`: exact, six decimals, sign kept.
pub fn usd(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
}

/// An outcome as its lowercase name (`ok`, `error`, `cancelled`, `unspecified`).
pub fn outcome_name(outcome: i32) -> &'static str {
    match Outcome::try_from(outcome) {
        Ok(Outcome::Ok) => "ok",
        Ok(Outcome::Error) => "error",
        Ok(Outcome::Cancelled) => "cancelled",
        _ => "unspecified",
    }
}

/// A record time in RFC 3339 UTC, or `None` when the record has none.
fn time(record: &UsageRecord) -> Option<String> {
    record.time.map(|t| t.to_string())
}

/// The two export encodings of a stream of usage records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One [`RecordJson`] object per line, `\n`-terminated.
    Jsonl,
    /// RFC 4180: a header row of [`CSV_COLUMNS`], then one row per record, CRLF.
    Csv,
}

impl ExportFormat {
    /// Parses the `format` parameter (`jsonl` or `csv`).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "jsonl" => Some(Self::Jsonl),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }

    /// The media type of a download in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jsonl => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }

    /// The file extension of a download in this format.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
        }
    }

    /// Appends what precedes the first record (the CSV header row; nothing for JSONL),
    /// so an empty export is still a well-formed file.
    pub fn write_header(self, out: &mut Vec<u8>) {
        if self == Self::Csv {
            write_csv_header(out);
        }
    }

    /// Appends one record, line terminator included.
    pub fn write_record(self, record: &UsageRecord, out: &mut Vec<u8>) -> serde_json::Result<()> {
        match self {
            Self::Jsonl => {
                serde_json::to_writer(&mut *out, &RecordJson::from(record))?;
                out.push(b'\n');
            }
            Self::Csv => write_csv_row(record, out),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd_is_exact_and_keeps_the_sign() {
        assert_eq!(usd(1234), "0.001234");
        assert_eq!(usd(1_234_567), "1.234567");
        assert_eq!(usd(0), "0.000000");
        assert_eq!(usd(-500_000), "-0.500000");
        assert_eq!(usd(i64::MIN), "-9223372036854.775808");
    }
}
