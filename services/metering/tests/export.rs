//! ExportUsage streams every record of a range, in time order, page by page.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::*;
use futures::StreamExt;
use switchyard_proto::metering::v1::ExportUsageRequest;

#[tokio::test]
async fn exports_every_record_in_range_in_order() {
    let harness = Harness::new();
    let mut rng = Rng(7);
    let mut all = Vec::new();
    for i in 0..5_000u64 {
        let tenant = if rng.below(3) == 0 { "beta" } else { "alpha" };
        // Shuffled times, so time order is not insertion order.
        all.push(record(
            &format!("r{i:05}"),
            FEB_2026 + rng.below(10 * DAY),
            tenant,
        ));
    }
    for batch in all.chunks(500) {
        assert_eq!(harness.record(batch.to_vec()).await.inserted, 500);
    }
    let (start, end) = (FEB_2026 + DAY, FEB_2026 + 9 * DAY);
    let key = |r: &switchyard_proto::metering::v1::UsageRecord| {
        (r.time.unwrap().seconds as u64, r.request_id.clone())
    };
    let mut want: Vec<_> = all
        .iter()
        .filter(|r| (start..end).contains(&(r.time.unwrap().seconds as u64)))
        .map(key)
        .collect();
    want.sort();

    let mut client = harness.query();
    let mut stream = client
        .export_usage(as_caller(
            ADMIN,
            ExportUsageRequest {
                start: ts(start),
                end: ts(end),
                tenant: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(record) = stream.next().await {
        got.push(key(&record.unwrap()));
    }
    assert!(want.len() > 3_000, "the range spans many pages");
    assert_eq!(got, want);

    // Tenant filter.
    let beta: Vec<_> = client
        .export_usage(as_caller(
            ADMIN,
            ExportUsageRequest {
                start: ts(start),
                end: ts(end),
                tenant: "beta".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap().tenant)
        .collect()
        .await;
    let want_beta = all
        .iter()
        .filter(|r| r.tenant == "beta" && (start..end).contains(&(r.time.unwrap().seconds as u64)))
        .count();
    assert_eq!(beta.len(), want_beta);
    assert!(beta.iter().all(|t| t == "beta"));
}

#[tokio::test]
async fn a_client_may_stop_reading_early() {
    let harness = Harness::new();
    let records: Vec<_> = (0..2_000u64)
        .map(|i| record(&format!("r{i}"), FEB_2026 + i, "alpha"))
        .collect();
    harness.record(records).await;
    let mut client = harness.query();
    let stream = client
        .export_usage(as_caller(ADMIN, ExportUsageRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let first: Vec<_> = stream
        .take(10)
        .map(|r| r.unwrap().request_id)
        .collect()
        .await;
    assert_eq!(first.len(), 10);
    // The stream is dropped here; the service keeps answering.
    let again: Vec<_> = client
        .export_usage(as_caller(ADMIN, ExportUsageRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(again.len(), 2_000);
}
