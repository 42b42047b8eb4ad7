//! kill -9 under load, in separate processes: every request a client saw complete
//! has exactly one usage record, none is duplicated, and totals equal the records.
//!
//! The test binds every listener once (127.0.0.1:0) and hands the sockets to each
//! (re)started process (socket activation, `LISTEN_FDS`), so a restarted service is
//! back at the same address and waiting clients queue instead of failing.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Proc, admin, listener, write_config};
use switchyard_proto::auth::v1::CreateKeyRequest;
use switchyard_proto::auth::v1::key_admin_client::KeyAdminClient;
use switchyard_proto::metering::v1::usage_query_client::UsageQueryClient;
use switchyard_proto::metering::v1::{ListUsageRequest, SummarizeUsageRequest, UsageRecord};

/// Requests the load completes in all (bounded), and the time it may take.
const TARGET: usize = 360;
const LOAD_LIMIT: Duration = Duration::from_secs(120);
const WORKERS: usize = 6;

/// One request; `true` only if the client saw it complete.
async fn one_request(
    http: &reqwest::Client,
    edge: &str,
    key: &str,
    id: &str,
    stream: bool,
) -> bool {
    let body = serde_json::json!({"model": "m", "stream": stream,
        "messages": [{"role": "user", "content": format!("request {id}")}]});
    let Ok(resp) = http
        .post(format!("http://{edge}/v1/chat/completions"))
        .bearer_auth(key)
        .header("x-request-id", id)
        .json(&body)
        .send()
        .await
    else {
        return false;
    };
    if resp.status() != 200 {
        return false;
    }
    match resp.text().await {
        Ok(text) if stream => text.trim_end().ends_with("data: [DONE]"),
        Ok(text) => text.contains("\"chat.completion\""),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_under_load_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["edge", "router", "auth", "metering", "provider"];
    let mut sockets = HashMap::new();
    let mut addrs = HashMap::new();
    for n in names {
        let (l, a) = listener();
        sockets.insert(n, l);
        addrs.insert(n, a);
    }
    let config = write_config(dir.path(), &addrs, "outbox");
    let proc = |services, socks: &[&str]| Proc {
        services,
        sockets: socks.iter().map(|s| sockets[s].clone()).collect(),
        config: config.clone(),
        log_dir: dir.path().to_path_buf(),
        starts: 0,
        child: None,
    };
    // Passed sockets go in the order edge, router, auth, metering, provider-adapter.
    let mut back = proc("auth,provider-adapter", &["auth", "provider"]);
    let mut metering = proc("metering", &["metering"]);
    let mut front = proc("edge,router", &["edge", "router"]);
    back.start();
    metering.start();
    front.start();

    let auth_channel =
        switchyard_grpc::connect_lazy("test", &format!("http://{}", addrs["auth"])).unwrap();
    let key = KeyAdminClient::new(auth_channel)
        .create_key(admin(CreateKeyRequest {
            tenant: "crash".into(),
            create_tenant: true,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .secret;

    // Bounded concurrent load; the ids of requests that completed for the client.
    let completed = Arc::new(Mutex::new(HashSet::new()));
    let done = Arc::new(AtomicUsize::new(0));
    let started = tokio::time::Instant::now();
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (completed, done, key, edge) = (
            completed.clone(),
            done.clone(),
            key.clone(),
            addrs["edge"].clone(),
        );
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap();
            let mut i = 0;
            while done.load(Ordering::Relaxed) < TARGET && started.elapsed() < LOAD_LIMIT {
                i += 1;
                let id = format!("crash-{w}-{i}");
                if one_request(&http, &edge, &key, &id, i % 2 == 0).await {
                    completed.lock().unwrap().insert(id);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

    // Kill at seeded-random points of the load (deterministic across runs).
    let mut seed: u64 = 0x5eed_cafe;
    let mut jitter = |span: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize % span
    };
    let plan = [
        30 + jitter(20),  // kill -9 metering: usage now waits in the router's outbox
        90 + jitter(20),  // kill -9 edge+router mid-flight while metering is down; restart at once
        150 + jitter(20), // restart metering: the restarted router ships the backlog
        210 + jitter(20), // kill -9 edge+router mid-flight again; restart at once
        280 + jitter(20), // kill -9 metering mid-batch; restart at once
    ];
    let wait_for = |n: usize| {
        let done = done.clone();
        async move {
            while done.load(Ordering::Relaxed) < n && started.elapsed() < LOAD_LIMIT {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };
    wait_for(plan[0]).await;
    metering.kill9().await;
    wait_for(plan[1]).await;
    front.kill9().await;
    front.start();
    wait_for(plan[2]).await;
    metering.start();
    wait_for(plan[3]).await;
    front.kill9().await;
    front.start();
    wait_for(plan[4]).await;
    metering.kill9().await;
    metering.start();
    for w in workers {
        w.await.unwrap();
    }
    let completed = completed.lock().unwrap().clone();
    assert!(
        completed.len() >= TARGET,
        "load did not finish: {} completed",
        completed.len()
    );

    // Every completed request reaches the ledger (the outbox keeps retrying).
    let metering_channel =
        switchyard_grpc::connect_lazy("test", &format!("http://{}", addrs["metering"])).unwrap();
    let mut query = UsageQueryClient::new(metering_channel);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let records: Vec<UsageRecord> = loop {
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = query
                .list_usage(admin(ListUsageRequest {
                    limit: 1000,
                    page_token,
                    ..Default::default()
                }))
                .await
                .unwrap()
                .into_inner();
            all.extend(page.records);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        let ids: HashSet<&str> = all.iter().map(|r| r.request_id.as_str()).collect();
        if completed.iter().all(|id| ids.contains(id.as_str())) {
            break all;
        }
        let missing = completed
            .iter()
            .filter(|id| !ids.contains(id.as_str()))
            .count();
        assert!(
            tokio::time::Instant::now() < deadline,
            "{missing} completed requests have no record"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let mut seen = HashSet::new();
    for r in &records {
        assert!(
            seen.insert(r.request_id.clone()),
            "duplicate record {}",
            r.request_id
        );
        assert_eq!(r.tenant, "crash");
    }
    // Records of requests that did not complete for the client may exist (the router
    // died after the provider answered); records without any request may not.
    for r in &records {
        assert!(
            r.request_id.starts_with("crash-"),
            "unknown record {}",
            r.request_id
        );
    }
    let summary = query
        .summarize_usage(admin(SummarizeUsageRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .total
        .unwrap();
    assert_eq!(summary.requests, records.len() as u64);
    assert_eq!(
        summary.cost_micros,
        records.iter().map(|r| r.cost_micros).sum::<i64>()
    );
    assert_eq!(
        summary.completion_tokens,
        records.iter().map(|r| r.completion_tokens).sum::<u64>()
    );

    front.terminate().await;
    metering.terminate().await;
    back.terminate().await;
}
