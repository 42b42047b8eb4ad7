//! Ingest and summary speed of the sled ledger.
//!
//! ```text
//! cargo run --release -p switchyard-metering --example ledger_bench [-- --records 100000]
//! ```
//!
//! Inserts N records (default 1,000,000) spread over January 2026 in batches of 256
//! (one transaction and one flush each, as RecordUsage does) into a temporary ledger,
//! then times summaries of the month through the real `UsageQuery` service.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use switchyard_config::Secret;
use switchyard_grpc::{AdminToken, in_process};
use switchyard_metering::{Ledger, MeteringService, SledLedger, synthetic};
use switchyard_proto::metering::v1::usage_query_client::UsageQueryClient;
use switchyard_proto::metering::v1::{Dimension, Granularity, SummarizeUsageRequest};

const BATCH: usize = 256;
const JAN_2026: i64 = 1_767_225_600;
const FEB_2026: i64 = 1_769_904_000;
const TOKEN: &str = "bench-admin";

fn records_arg() -> anyhow::Result<usize> {
    let mut args = std::env::args().skip(1);
    let mut records = 1_000_000;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--records" => {
                records = args
                    .next()
                    .context("--records needs a number")?
                    .parse()
                    .context("--records needs a number")?;
            }
            other => bail!("unknown argument `{other}` (use --records N)"),
        }
    }
    Ok(records)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = records_arg()?;
    let dir = tempfile::tempdir()?;
    let ledger = Arc::new(SledLedger::open(
        dir.path().to_str().context("temp path is not UTF-8")?,
    )?);

    let started = Instant::now();
    let ingest = ledger.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut batch = Vec::with_capacity(BATCH);
        for i in 0..n {
            batch.push(synthetic::record(
                i as u64,
                n as u64,
                JAN_2026,
                FEB_2026 - JAN_2026,
            ));
            if batch.len() == BATCH || i + 1 == n {
                ingest.insert_batch(&batch)?;
                batch.clear();
            }
        }
        Ok(())
    })
    .await??;
    let elapsed = started.elapsed();
    println!(
        "ingested {n} records in {:.2} s: {:.0} records/s (batches of {BATCH})",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );

    let service =
        MeteringService::with_ledger(ledger, AdminToken::new(Some(Secret::new(TOKEN))), None);
    let mut client = UsageQueryClient::new(in_process(service.query_server()));
    let cases = [
        (
            "month, no breakdown",
            Granularity::Month,
            Dimension::Unspecified,
            "",
            "",
        ),
        (
            "whole range, by model",
            Granularity::Unspecified,
            Dimension::Model,
            "",
            "",
        ),
        ("by day, by key", Granularity::Day, Dimension::Key, "", ""),
        (
            "by hour, one tenant by model",
            Granularity::Hour,
            Dimension::Model,
            "tenant-7",
            "",
        ),
        // From the records, not the aggregates: every record of the month read.
        (
            "whole range, by metadata tag",
            Granularity::Unspecified,
            Dimension::Unspecified,
            "",
            "team",
        ),
        (
            "by day, one tenant by metadata tag",
            Granularity::Day,
            Dimension::Unspecified,
            "tenant-7",
            "team",
        ),
    ];
    for (name, granularity, group_by, tenant, tag) in cases {
        let mut request = tonic::Request::new(SummarizeUsageRequest {
            start: Some(prost_types::Timestamp {
                seconds: JAN_2026,
                nanos: 0,
            }),
            end: Some(prost_types::Timestamp {
                seconds: FEB_2026,
                nanos: 0,
            }),
            granularity: granularity as i32,
            group_by: group_by as i32,
            tenant: tenant.into(),
            group_by_metadata: tag.into(),
        });
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {TOKEN}").parse()?);
        let started = Instant::now();
        let summary = client.summarize_usage(request).await?.into_inner();
        let took = started.elapsed();
        let total = summary.total.unwrap_or_default();
        println!(
            "summary of January ({name}): {:.2} ms, {} buckets, {} requests",
            took.as_secs_f64() * 1_000.0,
            summary.buckets.len(),
            total.requests
        );
    }
    Ok(())
}
