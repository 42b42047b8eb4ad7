//! Aggregates equal the sum of the records they cover, for every granularity,
//! dimension and tenant scope, however batches and redeliveries are mixed.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::collections::BTreeMap;

use common::*;
use switchyard_grpc::GrpcChannel;
use switchyard_proto::metering::v1::usage_query_client::UsageQueryClient;
use switchyard_proto::metering::v1::{
    Dimension, Granularity, Outcome, SummarizeUsageRequest, SummarizeUsageResponse, UsageRecord,
    UsageTotals,
};

const TENANTS: &[&str] = &["alpha", "beta", "gamma"];
const KEYS: &[&str] = &["k1", "k2", "k3", "k4"];
const MODELS: &[&str] = &["chat-fast", "chat-strong", "embed"];
const PROVIDERS: &[&str] = &["openai-main", "groq"];
const TEAMS: &[&str] = &["search", "ads", "support"];
/// 2026-01-20T00:00:00Z; records spread over the next 70 days (three months).
const BASE: u64 = JAN_2026 + 19 * DAY;
const SPAN: u64 = 70 * DAY;

fn random_record(rng: &mut Rng, i: usize) -> UsageRecord {
    let outcomes = [Outcome::Ok, Outcome::Ok, Outcome::Error, Outcome::Cancelled];
    let record = UsageRecord {
        request_id: format!("req-{i}"),
        time: Some(prost_types::Timestamp {
            seconds: (BASE + rng.below(SPAN)) as i64,
            nanos: rng.below(1_000_000_000) as i32,
        }),
        tenant: rng.pick(TENANTS).into(),
        key_id: rng.pick(KEYS).into(),
        requested_model: rng.pick(MODELS).into(),
        provider: rng.pick(PROVIDERS).into(),
        prompt_tokens: rng.below(5_000),
        completion_tokens: rng.below(2_000),
        cached_prompt_tokens: rng.below(100),
        reasoning_tokens: rng.below(50),
        usage_estimated: rng.below(5) == 0,
        cost_micros: rng.below(1_000_000) as i64,
        outcome: outcomes[rng.below(4) as usize] as i32,
        // A team tag on three records in four, as callers set one.
        metadata: match rng.below(4) {
            0 => Default::default(),
            _ => [("team".to_string(), rng.pick(TEAMS).to_string())].into(),
        },
        ..Default::default()
    };
    if rng.below(8) == 0 {
        // Answered from the router's response cache: no tokens, no cost, outcome OK.
        return UsageRecord {
            cache_hit: true,
            outcome: Outcome::Ok as i32,
            usage_estimated: false,
            prompt_tokens: 0,
            completion_tokens: 0,
            cached_prompt_tokens: 0,
            reasoning_tokens: 0,
            cost_micros: 0,
            ..record
        };
    }
    record
}

fn add(into: &mut UsageTotals, r: &UsageRecord) {
    into.requests += 1;
    into.prompt_tokens += r.prompt_tokens;
    into.completion_tokens += r.completion_tokens;
    into.cached_prompt_tokens += r.cached_prompt_tokens;
    into.reasoning_tokens += r.reasoning_tokens;
    into.cost_micros += r.cost_micros;
    into.errors += u64::from(r.outcome == Outcome::Error as i32);
    into.cancelled += u64::from(r.outcome == Outcome::Cancelled as i32);
    into.estimated += u64::from(r.usage_estimated);
    into.cache_hits += u64::from(r.cache_hit);
}

fn secs(r: &UsageRecord) -> u64 {
    r.time.unwrap().seconds as u64
}

/// The bucket start of `t`, computed independently of the crate.
fn floor(granularity: Granularity, t: u64) -> u64 {
    match granularity {
        Granularity::Hour => t - t % HOUR,
        Granularity::Day => t - t % DAY,
        Granularity::Month => *[JAN_2026, FEB_2026, MAR_2026, APR_2026]
            .iter()
            .rev()
            .find(|m| **m <= t)
            .unwrap(),
        Granularity::Unspecified => unreachable!(),
    }
}

fn group_of(dimension: Dimension, r: &UsageRecord) -> String {
    match dimension {
        Dimension::Unspecified => String::new(),
        Dimension::Tenant => r.tenant.clone(),
        Dimension::Key => r.key_id.clone(),
        Dimension::Model => r.requested_model.clone(),
        Dimension::Provider => r.provider.clone(),
    }
}

/// What a summary must say, by the documented bucket rule, from the raw records.
fn expected(
    records: &[UsageRecord],
    granularity: Granularity,
    dimension: Dimension,
    tenant: &str,
    start: u64,
    end: u64,
) -> Vec<(u64, String, UsageTotals)> {
    let mut rows: BTreeMap<(u64, String), UsageTotals> = BTreeMap::new();
    for r in records {
        if !tenant.is_empty() && r.tenant != tenant {
            continue;
        }
        let t = secs(r);
        let bucket = match granularity {
            Granularity::Unspecified => {
                let from = start - start % HOUR;
                let to = end.div_ceil(HOUR) * HOUR;
                if t < from || t >= to {
                    continue;
                }
                from
            }
            g => {
                let bucket = floor(g, t);
                if bucket < floor(g, start) || bucket >= end {
                    continue;
                }
                bucket
            }
        };
        add(rows.entry((bucket, group_of(dimension, r))).or_default(), r);
    }
    rows.into_iter().map(|((b, g), t)| (b, g, t)).collect()
}

/// What a summary by the `team` tag must say: exactly the records in
/// `[start, end)`, each in its own time's bucket (the range's start without a
/// granularity), untagged ones under "".
fn by_team(
    records: &[UsageRecord],
    granularity: Granularity,
    tenant: &str,
    start: u64,
    end: u64,
) -> Vec<(u64, String, UsageTotals)> {
    let mut rows: BTreeMap<(u64, String), UsageTotals> = BTreeMap::new();
    for r in records {
        let t = secs(r);
        if (!tenant.is_empty() && r.tenant != tenant) || t < start || t >= end {
            continue;
        }
        let bucket = match granularity {
            Granularity::Unspecified => start,
            g => floor(g, t),
        };
        let team = r.metadata.get("team").cloned().unwrap_or_default();
        add(rows.entry((bucket, team)).or_default(), r);
    }
    rows.into_iter().map(|((b, g), t)| (b, g, t)).collect()
}

fn actual(summary: &SummarizeUsageResponse) -> Vec<(u64, String, UsageTotals)> {
    summary
        .buckets
        .iter()
        .map(|b| {
            (
                b.start.unwrap().seconds as u64,
                b.group.clone(),
                b.totals.unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn aggregates_equal_the_sum_of_records_despite_redeliveries() {
    let harness = Harness::new();
    let mut rng = Rng(0x5EED_2026);
    let mut unique: Vec<UsageRecord> = Vec::new();
    let mut next_id = 0;
    let mut inserted = 0;
    while next_id < 2_000 {
        let mut batch = Vec::new();
        for _ in 0..=rng.below(64) {
            if !unique.is_empty() && rng.below(4) == 0 {
                // A redelivery, sometimes with different contents: never counted again.
                let mut again = unique[rng.below(unique.len() as u64) as usize].clone();
                if rng.below(2) == 0 {
                    again.cost_micros += 1_000;
                }
                batch.push(again);
            } else {
                let fresh = random_record(&mut rng, next_id);
                next_id += 1;
                unique.push(fresh.clone());
                batch.push(fresh.clone());
                if rng.below(10) == 0 {
                    batch.push(fresh); // duplicated within the batch
                }
            }
        }
        let ack = harness.record(batch.clone()).await;
        assert_eq!(ack.inserted + ack.duplicates, batch.len() as u32);
        inserted += ack.inserted;
    }
    assert_eq!(inserted as usize, unique.len());

    let mut client = harness.query();
    let ranges = [
        (BASE, BASE + SPAN + DAY),
        // Not aligned to anything: partial buckets at both edges.
        (BASE + 3 * DAY + 1_234, BASE + 40 * DAY + 777),
        (FEB_2026 - 1, FEB_2026 + 1),
    ];
    for (start, end) in ranges {
        for granularity in [
            Granularity::Unspecified,
            Granularity::Hour,
            Granularity::Day,
            Granularity::Month,
        ] {
            for tenant in ["", "alpha"] {
                let summary = client
                    .summarize_usage(as_caller(
                        ADMIN,
                        SummarizeUsageRequest {
                            start: ts(start),
                            end: ts(end),
                            granularity: granularity as i32,
                            tenant: tenant.into(),
                            group_by_metadata: "team".into(),
                            ..Default::default()
                        },
                    ))
                    .await
                    .unwrap()
                    .into_inner();
                let want = by_team(&unique, granularity, tenant, start, end);
                assert_eq!(
                    actual(&summary),
                    want,
                    "{granularity:?} by team, tenant {tenant:?} [{start}, {end})"
                );
                let requests: u64 = want.iter().map(|(_, _, t)| t.requests).sum();
                assert_eq!(summary.total.unwrap().requests, requests);
            }
            for dimension in [
                Dimension::Unspecified,
                Dimension::Tenant,
                Dimension::Key,
                Dimension::Model,
                Dimension::Provider,
            ] {
                for tenant in ["", "alpha"] {
                    let summary = client
                        .summarize_usage(as_caller(
                            ADMIN,
                            SummarizeUsageRequest {
                                start: ts(start),
                                end: ts(end),
                                granularity: granularity as i32,
                                group_by: dimension as i32,
                                tenant: tenant.into(),
                                group_by_metadata: String::new(),
                            },
                        ))
                        .await
                        .unwrap()
                        .into_inner();
                    let want = expected(&unique, granularity, dimension, tenant, start, end);
                    assert!(!want.is_empty() || start == FEB_2026 - 1);
                    let case = format!(
                        "{granularity:?} by {dimension:?} tenant {tenant:?} [{start}, {end})"
                    );
                    assert_eq!(actual(&summary), want, "{case}");
                    let mut total = UsageTotals::default();
                    for (_, _, t) in &want {
                        total.requests += t.requests;
                        total.cost_micros += t.cost_micros;
                        total.prompt_tokens += t.prompt_tokens;
                        total.cache_hits += t.cache_hits;
                    }
                    let got = summary.total.unwrap();
                    assert_eq!(
                        (
                            got.requests,
                            got.cost_micros,
                            got.prompt_tokens,
                            got.cache_hits
                        ),
                        (
                            total.requests,
                            total.cost_micros,
                            total.prompt_tokens,
                            total.cache_hits
                        ),
                        "{case}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn month_buckets_split_at_utc_midnight() {
    let harness = Harness::new();
    let jan_31_2359 = FEB_2026 - 60;
    harness
        .record(vec![
            record("late-january", jan_31_2359, "alpha"),
            record("early-february", FEB_2026, "alpha"),
        ])
        .await;
    let mut client = harness.query();
    let mut summarize = async |granularity: Granularity, start: u64, end: u64| {
        client
            .summarize_usage(as_caller(
                ADMIN,
                SummarizeUsageRequest {
                    start: ts(start),
                    end: ts(end),
                    granularity: granularity as i32,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
    };
    let months = summarize(Granularity::Month, JAN_2026, MAR_2026).await;
    let starts: Vec<_> = months
        .buckets
        .iter()
        .map(|b| b.start.unwrap().seconds as u64)
        .collect();
    assert_eq!(starts, [JAN_2026, FEB_2026]);
    assert!(
        months
            .buckets
            .iter()
            .all(|b| b.totals.unwrap().requests == 1)
    );
    let days = summarize(Granularity::Day, FEB_2026 - DAY, FEB_2026 + DAY).await;
    let starts: Vec<_> = days
        .buckets
        .iter()
        .map(|b| b.start.unwrap().seconds as u64)
        .collect();
    assert_eq!(starts, [FEB_2026 - DAY, FEB_2026]);
    // One bucket for the whole range, starting at the range start.
    let whole = summarize(Granularity::Unspecified, FEB_2026 - HOUR, FEB_2026 + HOUR).await;
    assert_eq!(whole.buckets.len(), 1);
    assert_eq!(
        whole.buckets[0].start.unwrap().seconds as u64,
        FEB_2026 - HOUR
    );
    assert_eq!(whole.total.unwrap().requests, 2);
    // February alone holds only the February record.
    let feb = summarize(Granularity::Unspecified, FEB_2026, MAR_2026).await;
    assert_eq!(feb.total.unwrap().requests, 1);
    assert_eq!(feb.total.unwrap().cost_micros, 100);
}

#[tokio::test]
async fn groups_by_each_dimension() {
    let harness = Harness::new();
    let t = FEB_2026 + 10 * HOUR;
    let mut a = record("a", t, "alpha");
    a.requested_model = "m1".into();
    a.provider = "p1".into();
    a.key_id = "ka".into();
    let mut b = record("b", t + 1, "beta");
    b.requested_model = "m2".into();
    b.provider = "p1".into();
    b.key_id = "kb".into();
    let mut c = record("c", t + 2, "beta");
    c.requested_model = "m2".into();
    c.provider = "p2".into();
    c.key_id = "kb".into();
    harness.record(vec![a, b, c]).await;
    let mut client = harness.query();
    for (dimension, want) in [
        (Dimension::Unspecified, vec![("", 3)]),
        (Dimension::Tenant, vec![("alpha", 1), ("beta", 2)]),
        (Dimension::Key, vec![("ka", 1), ("kb", 2)]),
        (Dimension::Model, vec![("m1", 1), ("m2", 2)]),
        (Dimension::Provider, vec![("p1", 2), ("p2", 1)]),
    ] {
        let summary = february_by(&mut client, dimension).await;
        let got: Vec<_> = summary
            .buckets
            .iter()
            .map(|b| (b.group.as_str(), b.totals.unwrap().requests))
            .collect();
        assert_eq!(got, want, "{dimension:?}");
        assert_eq!(summary.total.unwrap().requests, 3);
    }
}

/// February 2026's usage, summarised by `dimension`, as the admin sees it.
async fn february_by(
    client: &mut UsageQueryClient<GrpcChannel>,
    dimension: Dimension,
) -> SummarizeUsageResponse {
    client
        .summarize_usage(as_caller(
            ADMIN,
            SummarizeUsageRequest {
                start: ts(FEB_2026),
                end: ts(MAR_2026),
                group_by: dimension as i32,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn cache_hits_are_counted_and_summed() {
    let harness = Harness::new();
    let t = FEB_2026 + 10 * HOUR;
    let mut hit = record("hit", t, "alpha");
    hit.cache_hit = true;
    hit.prompt_tokens = 0;
    hit.completion_tokens = 0;
    hit.cost_micros = 0;
    let mut second_hit = hit.clone();
    second_hit.request_id = "hit-2".into();
    second_hit.tenant = "beta".into();
    harness
        .record(vec![
            hit.clone(),
            record("miss", t + 1, "alpha"),
            second_hit,
            hit, // a redelivery counts nothing
        ])
        .await;
    let mut client = harness.query();
    let summary = february_by(&mut client, Dimension::Tenant).await;
    let got: Vec<_> = summary
        .buckets
        .iter()
        .map(|b| {
            let totals = b.totals.unwrap();
            (b.group.as_str(), totals.requests, totals.cache_hits)
        })
        .collect();
    assert_eq!(got, [("alpha", 2, 1), ("beta", 1, 1)]);
    let total = summary.total.unwrap();
    assert_eq!((total.requests, total.cache_hits), (3, 2));
    // A hit adds a request but no tokens and no cost.
    assert_eq!((total.prompt_tokens, total.cost_micros), (10, 100));
}
