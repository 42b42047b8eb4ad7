//! `SummarizeUsage`: totals over a time range, answered from the `agg` tree with a
//! handful of range scans, never from raw records — except a breakdown by a
//! metadata key, which no aggregate holds: that one reads the records in the range
//! (exactly `[start, end)`, bucketed by each record's own time).
//!
//! Bucket rule. Aggregates exist per UTC hour, day and calendar month, so a range is
//! widened to whole buckets: with a granularity, every bucket whose start lies in
//! `[floor(start), end)` is returned in full (the first and last bucket may hold usage
//! outside the range). Without one (`GRANULARITY_UNSPECIFIED`) the range is widened to
//! whole hours, `[floor_hour(start), ceil_hour(end))`, and summed exactly by covering
//! it with the coarsest aligned buckets — months in the middle, days, then hours at
//! the edges — which is at most five scans whatever the range's length.

use std::collections::BTreeMap;

use switchyard_proto::metering::v1::{
    Dimension as WireDimension, Granularity as WireGranularity, SummarizeUsageRequest,
    SummarizeUsageResponse, UsageBucket, UsageTotals,
};

use crate::MeteringError;
use crate::aggregate::{add, totals_of};
use crate::buckets::{Granularity, MAX_SECS};
use crate::ledger::{AggRow, AggScan, Dimension, Ledger, ListFilter, time_us};

/// Most (bucket, group) rows one answer may hold; beyond it the caller must narrow
/// the range or coarsen the granularity (keeps answers under the message size cap).
pub(crate) const MAX_ROWS: usize = 50_000;

/// A validated summary request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SummaryQuery {
    /// Inclusive, µs since the epoch.
    pub start_us: u64,
    /// Exclusive, µs since the epoch.
    pub end_us: u64,
    /// `None`: one bucket for the whole range.
    pub granularity: Option<Granularity>,
    pub group_by: Dimension,
    /// Break down by this metadata key's value instead (from the records).
    pub metadata_key: Option<String>,
    /// Empty: every tenant.
    pub tenant: String,
}

/// Records read per ledger call of a breakdown by metadata.
const PAGE: usize = 5_000;
/// The longest metadata key accepted.
const MAX_METADATA_KEY: usize = 256;

impl SummaryQuery {
    /// Checks the wire request; `start_us`/`end_us` are already defaulted.
    pub(crate) fn from_wire(
        request: &SummarizeUsageRequest,
        start_us: u64,
        end_us: u64,
        tenant: String,
    ) -> Result<Self, MeteringError> {
        let granularity = match WireGranularity::try_from(request.granularity) {
            Ok(WireGranularity::Unspecified) => None,
            Ok(WireGranularity::Hour) => Some(Granularity::Hour),
            Ok(WireGranularity::Day) => Some(Granularity::Day),
            Ok(WireGranularity::Month) => Some(Granularity::Month),
            Err(_) => return Err(MeteringError::invalid("granularity", "unknown value")),
        };
        let group_by = match WireDimension::try_from(request.group_by) {
            Ok(WireDimension::Unspecified) => Dimension::None,
            Ok(WireDimension::Tenant) => Dimension::Tenant,
            Ok(WireDimension::Key) => Dimension::Key,
            Ok(WireDimension::Model) => Dimension::Model,
            Ok(WireDimension::Provider) => Dimension::Provider,
            Err(_) => return Err(MeteringError::invalid("group_by", "unknown value")),
        };
        if end_us <= start_us {
            return Err(MeteringError::invalid("end", "must be after start"));
        }
        let metadata_key = match request.group_by_metadata.as_str() {
            "" => None,
            _ if group_by != Dimension::None => {
                return Err(MeteringError::invalid(
                    "group_by_metadata",
                    "give `group_by` or `group_by_metadata`, not both",
                ));
            }
            key if key.len() > MAX_METADATA_KEY => {
                return Err(MeteringError::invalid(
                    "group_by_metadata",
                    format!("must be at most {MAX_METADATA_KEY} bytes"),
                ));
            }
            key => Some(key.to_string()),
        };
        Ok(Self {
            start_us,
            end_us,
            granularity,
            group_by,
            metadata_key,
            tenant,
        })
    }
}

/// Seconds, rounded up, of an exclusive end in µs, clamped to year 10000.
fn end_secs(end_us: u64) -> u64 {
    end_us.div_ceil(1_000_000).min(MAX_SECS)
}

/// The aligned pieces `(granularity, from, to)` that exactly cover `[from, to)`, both
/// hour-aligned: coarsest first wherever a whole bucket fits, runs of one granularity
/// merged into one scan.
pub(crate) fn cover(from: u64, to: u64) -> Vec<(Granularity, u64, u64)> {
    let mut pieces: Vec<(Granularity, u64, u64)> = Vec::new();
    let mut at = from;
    while at < to {
        let granularity = [Granularity::Month, Granularity::Day]
            .into_iter()
            .find(|g| g.floor(at) == at && g.next(at) <= to)
            .unwrap_or(Granularity::Hour);
        let next = granularity.next(at);
        match pieces.last_mut() {
            Some(last) if last.0 == granularity && last.2 == at => last.2 = next,
            _ => pieces.push((granularity, at, next)),
        }
        at = next;
    }
    pieces
}

/// Answers a summary from the aggregates.
pub(crate) fn summarize(
    ledger: &dyn Ledger,
    query: &SummaryQuery,
) -> Result<SummarizeUsageResponse, MeteringError> {
    if let Some(key) = &query.metadata_key {
        return Ok(answer(by_metadata(ledger, query, key)?));
    }
    let tenant = (!query.tenant.is_empty()).then(|| query.tenant.clone());
    let scan = |granularity, from_secs, to_secs| {
        let rows = ledger.aggregates(&AggScan {
            granularity,
            dimension: query.group_by,
            tenant: tenant.clone(),
            from_secs,
            to_secs,
            limit: MAX_ROWS + 1,
        })?;
        if rows.len() > MAX_ROWS {
            return Err(MeteringError::invalid(
                "granularity",
                format!(
                    "more than {MAX_ROWS} buckets; narrow the range or use a coarser granularity"
                ),
            ));
        }
        Ok(rows)
    };
    let start_secs = (query.start_us / 1_000_000).min(MAX_SECS);
    let end_secs = end_secs(query.end_us);
    let rows: Vec<AggRow> = match query.granularity {
        Some(granularity) => scan(granularity, granularity.floor(start_secs), end_secs)?,
        None => {
            let from = Granularity::Hour.floor(start_secs);
            let to = Granularity::Hour.ceil(end_secs);
            let mut groups: BTreeMap<String, UsageTotals> = BTreeMap::new();
            for (granularity, piece_from, piece_to) in cover(from, to) {
                for row in scan(granularity, piece_from, piece_to)? {
                    add(groups.entry(row.group).or_default(), &row.totals);
                }
                if groups.len() > MAX_ROWS {
                    return Err(MeteringError::invalid(
                        "group_by",
                        format!("more than {MAX_ROWS} groups; narrow the range"),
                    ));
                }
            }
            groups
                .into_iter()
                .map(|(group, totals)| AggRow {
                    bucket_start_secs: from,
                    group,
                    totals,
                })
                .collect()
        }
    };
    Ok(answer(rows))
}

/// The rows of a breakdown by metadata `key`, from the records in the range:
/// each in its own time's bucket (the range's start without a granularity).
fn by_metadata(
    ledger: &dyn Ledger,
    query: &SummaryQuery,
    key: &str,
) -> Result<Vec<AggRow>, MeteringError> {
    let range_start = (query.start_us / 1_000_000).min(MAX_SECS);
    let mut rows: BTreeMap<(u64, String), UsageTotals> = BTreeMap::new();
    let mut filter = ListFilter {
        start_us: query.start_us,
        end_us: query.end_us,
        tenant: query.tenant.clone(),
        limit: PAGE,
        ..ListFilter::default()
    };
    loop {
        let (records, next) = ledger.list(&filter)?;
        for record in &records {
            let secs = (time_us(record) / 1_000_000).min(MAX_SECS);
            let bucket = query.granularity.map_or(range_start, |g| g.floor(secs));
            let group = record.metadata.get(key).cloned().unwrap_or_default();
            add(rows.entry((bucket, group)).or_default(), &totals_of(record));
        }
        if rows.len() > MAX_ROWS {
            return Err(MeteringError::invalid(
                "group_by_metadata",
                format!(
                    "more than {MAX_ROWS} buckets and values; narrow the range or use a coarser granularity"
                ),
            ));
        }
        match next {
            Some(after) => filter.after = Some(after),
            None => break,
        }
    }
    Ok(rows
        .into_iter()
        .map(|((bucket_start_secs, group), totals)| AggRow {
            bucket_start_secs,
            group,
            totals,
        })
        .collect())
}

/// The answer over `rows`, in bucket then group order, with their sum.
fn answer(rows: Vec<AggRow>) -> SummarizeUsageResponse {
    let mut total = UsageTotals::default();
    let buckets = rows
        .into_iter()
        .map(|row| {
            add(&mut total, &row.totals);
            UsageBucket {
                start: Some(prost_types::Timestamp {
                    seconds: i64::try_from(row.bucket_start_secs).unwrap_or(i64::MAX),
                    nanos: 0,
                }),
                group: row.group,
                totals: Some(row.totals),
            }
        })
        .collect();
    SummarizeUsageResponse {
        total: Some(total),
        buckets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3_600;
    const D: u64 = 86_400;
    // 2026-01-01T00:00:00Z, 2026-02-01, 2026-03-01.
    const JAN: u64 = 1_767_225_600;
    const FEB: u64 = 1_769_904_000;
    const MAR: u64 = 1_772_323_200;

    #[test]
    fn covers_a_range_with_few_aligned_scans() {
        // 2025-12-30T05:00 .. 2026-03-02T07:00: hours, days, two months, a day, hours.
        let from = JAN - 2 * D + 5 * H;
        let to = MAR + D + 7 * H;
        let pieces = cover(from, to);
        assert_eq!(
            pieces,
            vec![
                (Granularity::Hour, from, JAN - D),
                (Granularity::Day, JAN - D, JAN),
                (Granularity::Month, JAN, MAR),
                (Granularity::Day, MAR, MAR + D),
                (Granularity::Hour, MAR + D, to),
            ]
        );
        // Contiguous and exact.
        assert!(pieces.windows(2).all(|w| w[0].2 == w[1].1));
        assert_eq!(cover(FEB, FEB + H), vec![(Granularity::Hour, FEB, FEB + H)]);
        assert!(cover(FEB, FEB).is_empty());
    }

    #[test]
    fn rejects_unknown_enums_and_empty_ranges() {
        let request = SummarizeUsageRequest {
            granularity: 9,
            ..Default::default()
        };
        assert!(SummaryQuery::from_wire(&request, 0, 1, String::new()).is_err());
        let request = SummarizeUsageRequest::default();
        assert!(SummaryQuery::from_wire(&request, 5, 5, String::new()).is_err());
        assert!(SummaryQuery::from_wire(&request, 5, 6, String::new()).is_ok());
        // A metadata breakdown stands instead of a dimension, not beside it.
        let both = SummarizeUsageRequest {
            group_by: WireDimension::Model as i32,
            group_by_metadata: "team".into(),
            ..Default::default()
        };
        assert!(matches!(
            SummaryQuery::from_wire(&both, 5, 6, String::new()),
            Err(MeteringError::InvalidArgument { param, .. }) if param == "group_by_metadata"
        ));
        let tag = SummarizeUsageRequest {
            group_by_metadata: "team".into(),
            ..Default::default()
        };
        let query = SummaryQuery::from_wire(&tag, 5, 6, String::new()).unwrap();
        assert_eq!(query.metadata_key.as_deref(), Some("team"));
    }
}
