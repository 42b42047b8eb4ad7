//! `switchyard usage …`: read the usage ledger through metering's `UsageQuery` API.
//!
//! - `switchyard usage [--tenant T] [--key K] [--since-hours N] [--limit N] [--json]`
//!   lists records (or `--request-id ID` shows one), as it always has.
//! - `switchyard usage summary` prints totals per time bucket and group, answered
//!   from metering's aggregates.
//! - `switchyard usage export` streams every record in a range to stdout as JSONL or
//!   CSV — byte for byte the edge's `/admin/v1/usage/export` format — writing each
//!   record as it arrives, so an export of any size runs in constant memory.

use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand, ValueEnum};
use std::io::{BufWriter, ErrorKind, Write};
use switchyard_edge::usage::{ExportFormat, SummaryJson, usd};
use switchyard_proto::metering::v1::usage_query_client::UsageQueryClient;
use switchyard_proto::metering::v1::{
    Dimension, ExportUsageRequest, GetUsageRequest, Granularity, ListUsageRequest, Outcome,
    SummarizeUsageRequest, UsageRecord, UsageTotals,
};

use super::admin::{AdminConn, fmt_time, status_error};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct UsageArgs {
    #[command(subcommand)]
    command: Option<UsageCommand>,
    #[command(flatten)]
    list: ListArgs,
}

#[derive(Debug, Subcommand)]
enum UsageCommand {
    /// Totals per time bucket and group (tenant, key, model or provider).
    Summary(SummaryArgs),
    /// Every record in a time range to stdout, as JSONL or CSV.
    Export(ExportArgs),
}

/// Listing records: the behaviour of a bare `switchyard usage`.
#[derive(Debug, Args)]
struct ListArgs {
    #[command(flatten)]
    conn: AdminConn,
    /// Show one request's record.
    #[arg(long)]
    request_id: Option<String>,
    /// Only this tenant.
    #[arg(long, default_value = "")]
    tenant: String,
    /// Only this key id.
    #[arg(long, default_value = "")]
    key: String,
    /// Only records from the last N hours.
    #[arg(long)]
    since_hours: Option<u64>,
    /// At most this many records.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct SummaryArgs {
    #[command(flatten)]
    conn: AdminConn,
    /// Break totals down by this dimension.
    #[arg(long, value_enum)]
    by: Option<By>,
    /// Break totals down by the value of this metadata key (a tag such as
    /// `team`, from the request's `metadata` or `x-switchyard-tags`), read from
    /// the records in the range.
    #[arg(long, value_name = "KEY", conflicts_with = "by")]
    by_metadata: Option<String>,
    /// Bucket size; default one bucket for the whole range.
    #[arg(long, value_enum)]
    granularity: Option<Bucket>,
    /// Only usage from the last N hours (rounded down to the granularity).
    #[arg(long)]
    since_hours: Option<u64>,
    /// Only this tenant.
    #[arg(long, default_value = "")]
    tenant: String,
    /// Print the JSON of `GET /admin/v1/usage/summary` instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum By {
    Tenant,
    Key,
    Model,
    Provider,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Bucket {
    Hour,
    Day,
    Month,
}

#[derive(Debug, Args)]
struct ExportArgs {
    #[command(flatten)]
    conn: AdminConn,
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    format: Format,
    /// Only usage from the last N hours.
    #[arg(long)]
    since_hours: Option<u64>,
    /// Only this tenant.
    #[arg(long, default_value = "")]
    tenant: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Jsonl,
    Csv,
}

/// Runs `switchyard usage [summary | export]`.
pub async fn run(config_path: &str, args: UsageArgs) -> anyhow::Result<()> {
    match args.command {
        None => list(config_path, args.list).await,
        Some(UsageCommand::Summary(summary_args)) => summary(config_path, summary_args).await,
        Some(UsageCommand::Export(export_args)) => export(config_path, export_args).await,
    }
}

/// The start of "the last N hours".
fn since(hours: Option<u64>) -> Option<prost_types::Timestamp> {
    hours.map(|h| {
        prost_types::Timestamp::from(
            SystemTime::now() - Duration::from_secs(h.saturating_mul(3600)),
        )
    })
}

async fn list(config_path: &str, args: ListArgs) -> anyhow::Result<()> {
    let mut client = UsageQueryClient::new(args.conn.channel(config_path).await?);
    let records = if let Some(request_id) = &args.request_id {
        vec![
            client
                .get_usage(args.conn.request(GetUsageRequest {
                    request_id: request_id.clone(),
                })?)
                .await
                .map_err(status_error)?
                .into_inner(),
        ]
    } else {
        client
            .list_usage(args.conn.request(ListUsageRequest {
                start: since(args.since_hours),
                end: None,
                tenant: args.tenant.clone(),
                key_id: args.key.clone(),
                limit: args.limit,
                page_token: String::new(),
            })?)
            .await
            .map_err(status_error)?
            .into_inner()
            .records
    };
    if args.json {
        for r in &records {
            println!("{}", record_json(r));
        }
        return Ok(());
    }
    println!(
        "{:<20} {:<38} {:<12} {:<16} {:<18} {:>8} {:>8} {:>12} {:>9} {:<9} {:<5}",
        "TIME",
        "REQUEST",
        "TENANT",
        "MODEL",
        "PROVIDER",
        "PROMPT",
        "COMPL",
        "COST_USD",
        "LAT_MS",
        "OUTCOME",
        "CACHE"
    );
    for r in &records {
        println!(
            "{:<20} {:<38} {:<12} {:<16} {:<18} {:>8} {:>8} {:>12} {:>9.1} {:<9} {:<5}",
            fmt_time(r.time.as_ref()),
            r.request_id,
            r.tenant,
            r.requested_model,
            r.provider,
            r.prompt_tokens,
            r.completion_tokens,
            usd(r.cost_micros),
            r.latency_us as f64 / 1000.0,
            outcome(r),
            if r.cache_hit { "hit" } else { "-" }
        );
    }
    if records.is_empty() {
        eprintln!("no usage records match");
    }
    Ok(())
}

async fn summary(config_path: &str, args: SummaryArgs) -> anyhow::Result<()> {
    let mut client = UsageQueryClient::new(args.conn.channel(config_path).await?);
    let group_by = match args.by {
        None => Dimension::Unspecified,
        Some(By::Tenant) => Dimension::Tenant,
        Some(By::Key) => Dimension::Key,
        Some(By::Model) => Dimension::Model,
        Some(By::Provider) => Dimension::Provider,
    };
    let granularity = match args.granularity {
        None => Granularity::Unspecified,
        Some(Bucket::Hour) => Granularity::Hour,
        Some(Bucket::Day) => Granularity::Day,
        Some(Bucket::Month) => Granularity::Month,
    };
    let answer = client
        .summarize_usage(args.conn.request(SummarizeUsageRequest {
            start: since(args.since_hours),
            end: None,
            granularity: granularity.into(),
            group_by: group_by.into(),
            tenant: args.tenant.clone(),
            group_by_metadata: args.by_metadata.clone().unwrap_or_default(),
        })?)
        .await
        .map_err(status_error)?
        .into_inner();
    let grouped = args.by.is_some() || args.by_metadata.is_some();
    if args.json {
        let json = serde_json::to_string(&SummaryJson::new(&answer, grouped))?;
        println!("{json}");
        return Ok(());
    }
    println!(
        "{:<20} {:<24} {:>10} {:>12} {:>12} {:>14} {:>10}",
        "BUCKET_START", "GROUP", "REQUESTS", "PROMPT", "COMPLETION", "COST_USD", "CACHE_HITS"
    );
    for bucket in &answer.buckets {
        let group = match (grouped, bucket.group.as_str()) {
            (false, _) => "-",
            (true, "") => "(none)",
            (true, group) => group,
        };
        // A summary without a start covers all time: say so rather than 1970.
        let start = match bucket.start {
            Some(t) if t.seconds > 0 => fmt_time(Some(&t)),
            _ => "all time".to_string(),
        };
        summary_row(&start, group, &bucket.totals.unwrap_or_default());
    }
    summary_row("TOTAL", "", &answer.total.unwrap_or_default());
    Ok(())
}

fn summary_row(start: &str, group: &str, t: &UsageTotals) {
    println!(
        "{:<20} {:<24} {:>10} {:>12} {:>12} {:>14} {:>10}",
        start,
        group,
        t.requests,
        t.prompt_tokens,
        t.completion_tokens,
        usd(t.cost_micros),
        t.cache_hits
    );
}

async fn export(config_path: &str, args: ExportArgs) -> anyhow::Result<()> {
    let format = match args.format {
        Format::Jsonl => ExportFormat::Jsonl,
        Format::Csv => ExportFormat::Csv,
    };
    let mut client = UsageQueryClient::new(args.conn.channel(config_path).await?);
    let mut records = client
        .export_usage(args.conn.request(ExportUsageRequest {
            start: since(args.since_hours),
            end: None,
            tenant: args.tenant.clone(),
        })?)
        .await
        .map_err(status_error)?
        .into_inner();
    // Blocking writes are fine here: this command is the only task on the runtime.
    let mut out = BufWriter::new(std::io::stdout());
    let mut buf = Vec::with_capacity(1024);
    format.write_header(&mut buf);
    let mut written = 0u64;
    loop {
        if !buf.is_empty() {
            match out.write_all(&buf) {
                // The reader went away (`| head`): stop quietly, as Unix tools do.
                Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(()),
                other => other?,
            }
            buf.clear();
        }
        match records.message().await {
            Ok(Some(record)) => {
                format.write_record(&record, &mut buf)?;
                written += 1;
            }
            Ok(None) => break,
            Err(status) => {
                // Keep what was written, but fail loudly: a cut export is not complete.
                out.flush().ok();
                return Err(status_error(status)
                    .context(format!("export cut short after {written} records")));
            }
        }
    }
    match out.flush() {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// The outcome as `switchyard usage` has always printed it.
fn outcome(r: &UsageRecord) -> &'static str {
    match Outcome::try_from(r.outcome) {
        Ok(Outcome::Ok) => "ok",
        Ok(Outcome::Error) => "error",
        Ok(Outcome::Cancelled) => "cancelled",
        _ => "unknown",
    }
}

/// One record of `switchyard usage --json` (times in microseconds, as it always was).
fn record_json(r: &UsageRecord) -> serde_json::Value {
    let time_us = r
        .time
        .map(|t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1000)
        .unwrap_or(0);
    serde_json::json!({
        "request_id": r.request_id,
        "time_us": time_us,
        "tenant": r.tenant,
        "key_id": r.key_id,
        "operation": r.operation,
        "requested_model": r.requested_model,
        "provider": r.provider,
        "upstream_model": r.upstream_model,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "cached_prompt_tokens": r.cached_prompt_tokens,
        "cache_write_prompt_tokens": r.cache_write_prompt_tokens,
        "reasoning_tokens": r.reasoning_tokens,
        "usage_estimated": r.usage_estimated,
        "cache_hit": r.cache_hit,
        "cost_micros": r.cost_micros,
        "price_version": r.price_version,
        "latency_us": r.latency_us,
        "time_to_first_token_us": r.time_to_first_token_us,
        "stream": r.stream,
        "outcome": outcome(r),
        "error_reason": r.error_reason,
        "metadata": r.metadata,
    })
}
