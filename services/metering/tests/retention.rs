//! Retention deletes old raw records, keeps aggregates, and never re-counts a late
//! redelivery of a record it deleted.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use switchyard_metering::MeteringService;
use switchyard_proto::metering::v1::{
    GetUsageRequest, Granularity, ListUsageRequest, SummarizeUsageRequest, SummarizeUsageResponse,
};
use tonic::Code;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn summary(
    harness_query: &mut switchyard_proto::metering::v1::usage_query_client::UsageQueryClient<
        switchyard_grpc::GrpcChannel,
    >,
) -> SummarizeUsageResponse {
    harness_query
        .summarize_usage(as_caller(
            ADMIN,
            SummarizeUsageRequest {
                granularity: Granularity::Month as i32,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn deletes_old_records_keeps_aggregates_and_refuses_redelivery() {
    let harness = Harness::with_retention(30);
    let now = now_secs();
    let old: Vec<_> = (0..2_500u64)
        .map(|i| record(&format!("old-{i}"), now - 400 * DAY + i, "alpha"))
        .collect();
    let recent = vec![
        record("recent-1", now - HOUR, "alpha"),
        record("recent-2", now - 29 * DAY, "beta"),
    ];
    harness.record(old.clone()).await;
    harness.record(recent.clone()).await;
    let mut client = harness.query();
    let before = summary(&mut client).await;
    assert_eq!(before.total.unwrap().requests, 2_502);

    // More than one deletion batch.
    assert_eq!(harness.service.compact().await.unwrap(), 2_500);
    assert_eq!(harness.service.compact().await.unwrap(), 0);

    let gone = client
        .get_usage(as_caller(
            ADMIN,
            GetUsageRequest {
                request_id: "old-7".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let listed = client
        .list_usage(as_caller(ADMIN, ListUsageRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = listed
        .records
        .iter()
        .map(|r| r.request_id.as_str())
        .collect();
    assert_eq!(ids, ["recent-2", "recent-1"]);
    // Aggregates are kept.
    assert_eq!(summary(&mut client).await, before);

    // A late redelivery of deleted records is acknowledged but not counted again.
    let ack = harness.record(old[..10].to_vec()).await;
    assert_eq!((ack.inserted, ack.duplicates), (0, 10));
    let ack = harness.record(recent.clone()).await;
    assert_eq!((ack.inserted, ack.duplicates), (0, 2));
    assert_eq!(summary(&mut client).await, before);
    // New usage still lands.
    let ack = harness.record(vec![record("fresh", now, "alpha")]).await;
    assert_eq!(ack.inserted, 1);
    assert_eq!(summary(&mut client).await.total.unwrap().requests, 2_503);
}

#[tokio::test]
async fn without_retention_nothing_is_deleted() {
    let harness = Harness::new();
    harness
        .record(vec![record("ancient", now_secs() - 4_000 * DAY, "alpha")])
        .await;
    assert_eq!(harness.service.compact().await.unwrap(), 0);
    let found = harness
        .query()
        .get_usage(as_caller(
            ADMIN,
            GetUsageRequest {
                request_id: "ancient".into(),
            },
        ))
        .await;
    assert!(found.is_ok());
}

#[tokio::test]
async fn open_runs_retention_from_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = switchyard_config::load_str(&format!(
        "version = 1\n[metering]\ndata_dir = {:?}\nretention_days = 7\n",
        dir.path().join("ledger").to_str().unwrap()
    ))
    .unwrap();
    let service = MeteringService::open(&config, fake_auth()).unwrap();
    let records = vec![
        record("old", now_secs() - 8 * DAY, "alpha"),
        record("new", now_secs() - DAY, "alpha"),
    ];
    switchyard_proto::metering::v1::metering_client::MeteringClient::new(
        switchyard_grpc::in_process(service.metering_server()),
    )
    .record_usage(switchyard_proto::metering::v1::RecordUsageRequest { records })
    .await
    .unwrap();
    // The background pass may or may not have run yet; a pass on demand settles it.
    service.compact().await.unwrap();
    let mut client = switchyard_proto::metering::v1::usage_query_client::UsageQueryClient::new(
        switchyard_grpc::in_process(service.query_server()),
    );
    let old = client
        .get_usage(as_caller(
            ALPHA_KEY,
            GetUsageRequest {
                request_id: "old".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(old.code(), Code::NotFound);
    let new = client
        .get_usage(as_caller(
            ALPHA_KEY,
            GetUsageRequest {
                request_id: "new".into(),
            },
        ))
        .await;
    assert!(new.is_ok());
    service.stop_background();
    service.flush().await.unwrap();
}
