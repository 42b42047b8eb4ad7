//! Who may query what: the admin token sees every tenant, a virtual key only its own.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::*;
use futures::StreamExt;
use switchyard_proto::metering::v1::{
    Dimension, ExportUsageRequest, GetUsageRequest, ListUsageRequest, SummarizeUsageRequest,
};
use tonic::Code;

async fn seeded() -> Harness {
    let harness = Harness::new();
    harness
        .record(vec![
            record("alpha-1", FEB_2026 + 10, "alpha"),
            record("alpha-2", FEB_2026 + 20, "alpha"),
            record("beta-1", FEB_2026 + 30, "beta"),
        ])
        .await;
    harness
}

fn by_tenant() -> SummarizeUsageRequest {
    SummarizeUsageRequest {
        start: ts(FEB_2026),
        end: ts(MAR_2026),
        group_by: Dimension::Tenant as i32,
        ..Default::default()
    }
}

#[tokio::test]
async fn admin_sees_every_tenant() {
    let harness = seeded().await;
    let mut client = harness.query();
    let summary = client
        .summarize_usage(as_caller(ADMIN, by_tenant()))
        .await
        .unwrap()
        .into_inner();
    let groups: Vec<_> = summary.buckets.iter().map(|b| b.group.as_str()).collect();
    assert_eq!(groups, ["alpha", "beta"]);
    let record = client
        .get_usage(as_caller(
            ADMIN,
            GetUsageRequest {
                request_id: "beta-1".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(record.tenant, "beta");
}

#[tokio::test]
async fn a_virtual_key_sees_only_its_tenant() {
    let harness = seeded().await;
    let mut client = harness.query();

    // Summaries are narrowed to the key's tenant, whatever the breakdown.
    let summary = client
        .summarize_usage(as_caller(ALPHA_KEY, by_tenant()))
        .await
        .unwrap()
        .into_inner();
    let groups: Vec<_> = summary.buckets.iter().map(|b| b.group.as_str()).collect();
    assert_eq!(groups, ["alpha"]);
    assert_eq!(summary.total.unwrap().requests, 2);
    let by_key = client
        .summarize_usage(as_caller(
            ALPHA_KEY,
            SummarizeUsageRequest {
                group_by: Dimension::Key as i32,
                ..by_tenant()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let groups: Vec<_> = by_key.buckets.iter().map(|b| b.group.as_str()).collect();
    assert_eq!(groups, ["alpha-key"]);

    // Listing and export: only its own records.
    let listed = client
        .list_usage(as_caller(BETA_KEY, ListUsageRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = listed
        .records
        .iter()
        .map(|r| r.request_id.as_str())
        .collect();
    assert_eq!(ids, ["beta-1"]);
    let exported: Vec<_> = client
        .export_usage(as_caller(ALPHA_KEY, ExportUsageRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap().request_id)
        .collect()
        .await;
    assert_eq!(exported, ["alpha-1", "alpha-2"]);

    // Its own record is found; another tenant's does not exist as far as it knows.
    let own = client
        .get_usage(as_caller(
            ALPHA_KEY,
            GetUsageRequest {
                request_id: "alpha-1".into(),
            },
        ))
        .await;
    assert!(own.is_ok());
    let other = client
        .get_usage(as_caller(
            ALPHA_KEY,
            GetUsageRequest {
                request_id: "beta-1".into(),
            },
        ))
        .await
        .unwrap_err();
    let missing = client
        .get_usage(as_caller(
            ALPHA_KEY,
            GetUsageRequest {
                request_id: "nope".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::NotFound);
    assert_eq!(
        other.message().replace("beta-1", "X"),
        missing.message().replace("nope", "X")
    );
}

#[tokio::test]
async fn naming_another_tenant_is_refused() {
    let harness = seeded().await;
    let mut client = harness.query();
    let summary = client
        .summarize_usage(as_caller(
            ALPHA_KEY,
            SummarizeUsageRequest {
                tenant: "beta".into(),
                ..by_tenant()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(summary.code(), Code::PermissionDenied);
    let list = client
        .list_usage(as_caller(
            ALPHA_KEY,
            ListUsageRequest {
                tenant: "beta".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(list.code(), Code::PermissionDenied);
    let export = client
        .export_usage(as_caller(
            ALPHA_KEY,
            ExportUsageRequest {
                tenant: "beta".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(export.code(), Code::PermissionDenied);
    // Naming its own tenant is fine.
    let own = client
        .summarize_usage(as_caller(
            ALPHA_KEY,
            SummarizeUsageRequest {
                tenant: "alpha".into(),
                ..by_tenant()
            },
        ))
        .await;
    assert!(own.is_ok());
}

#[tokio::test]
async fn unknown_or_missing_credentials_are_unauthenticated() {
    let harness = seeded().await;
    let mut client = harness.query();
    for token in ["sy_unknown_key", "not-a-key", "admin-s3cre"] {
        let err = client
            .summarize_usage(as_caller(token, by_tenant()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{token}");
    }
    let err = client
        .summarize_usage(tonic::Request::new(by_tenant()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
}
