//! Rate limits, concurrency and budgets through the real mesh (both shapes): what
//! is admitted is exactly what the limits allow, and refusals speak OpenAI over
//! HTTP and `google.rpc.Status` over gRPC. Limits across router processes and
//! across an auth restart: services/switchyard/tests/limits.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_proto::auth::v1::tenant_admin_client::TenantAdminClient;
use switchyard_proto::auth::v1::{
    Budget, BudgetPeriod, CreateKeyRequest, Limits, Tenant, UpdateTenantRequest,
};
use switchyard_proto::gateway::v1::gateway_client::GatewayClient;
use switchyard_proto::types::v1::ChatRequest;
use switchyard_tests::{Mesh, Shape, Upstream, both_shapes, text_chat, with_key};
use tonic_types::StatusExt;

/// What one `priced-mock` request costs: 12 completion tokens at $1,000 per million
/// (prompt tokens are free), so estimates and real costs agree exactly.
const COST: i64 = 12 * 1_000;

fn limits(rpm: Option<u64>, tpm: Option<u64>, concurrent: Option<u32>) -> Option<Limits> {
    Some(Limits {
        requests_per_minute: rpm,
        tokens_per_minute: tpm,
        max_concurrent: concurrent,
    })
}

fn monthly(limit_micros: i64) -> Option<Budget> {
    Some(Budget {
        limit_micros,
        period: BudgetPeriod::Monthly as i32,
        alert_percent: None,
    })
}

struct Env {
    upstream: Upstream,
    mesh: Mesh,
    http: reqwest::Client,
}

async fn env(shape: Shape) -> Env {
    let upstream = Upstream::start().await;
    let mesh = Mesh::start(shape, &upstream.base_url()).await;
    Env {
        upstream,
        mesh,
        http: reqwest::Client::new(),
    }
}

/// A prompt the router's tokenizer and the mock provider count alike (" the" is
/// one token and four characters), so estimated and real tokens are equal.
fn prompt(words: usize) -> String {
    let text = " the".repeat(words);
    assert_eq!(
        switchyard_tokens::count(&text),
        switchyard_tokens::approximate(&text)
    );
    text
}

impl Env {
    async fn key(&self, tenant: &str, limits: Option<Limits>, budget: Option<Budget>) -> String {
        let (secret, _) = self
            .mesh
            .create_key_with(CreateKeyRequest {
                tenant: tenant.into(),
                name: "limited".into(),
                limits,
                budget,
                ..Default::default()
            })
            .await;
        secret
    }

    async fn chat(&self, key: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/chat/completions", self.mesh.base_url()))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A priced-mock request over gRPC, which must be refused.
    async fn grpc_refusal(&self, key: &str) -> tonic::Status {
        let mut grpc = GatewayClient::new(Mesh::channel(self.mesh.grpc));
        let request = ChatRequest {
            max_tokens: Some(12),
            ..text_chat("priced-mock", "hello")
        };
        grpc.chat(with_key(request, key)).await.unwrap_err()
    }

    /// A priced-mock request; returns its HTTP status.
    async fn priced(&self, key: &str) -> u16 {
        let body = json!({"model": "priced-mock", "max_tokens": 12,
            "messages": [{"role": "user", "content": prompt(5)}]});
        self.chat(key, body).await.status().as_u16()
    }
}

async fn rpm_is_exact_and_its_refusal_speaks_openai(shape: Shape) {
    let env = env(shape).await;
    let key = env.key("rpm", limits(Some(5), None, None), None).await;
    for i in 0..5 {
        assert_eq!(env.priced(&key).await, 200, "request {i}");
    }
    let body = json!({"model": "priced-mock", "messages": [{"role": "user", "content": "hi"}]});
    let refused = env.chat(&key, body).await;
    assert_eq!(refused.status(), 429);
    let headers = refused.headers().clone();
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    assert_eq!(headers["x-ratelimit-limit-requests"], "5");
    assert_eq!(headers["x-ratelimit-remaining-requests"], "0");
    let reset = headers["x-ratelimit-reset-requests"].to_str().unwrap();
    assert!(reset.ends_with('s'), "{reset}");
    assert!(!headers.contains_key("x-ratelimit-limit-tokens"));
    let err: Value = refused.json().await.unwrap();
    assert_eq!(err["error"]["type"], "rate_limit_error");
    assert_eq!(err["error"]["code"], "rate_limit_exceeded");
    env.mesh.shutdown().await;
}

async fn tpm_admits_exactly_what_fits(shape: Shape) {
    let env = env(shape).await;
    // Each request: 5 prompt words + 4 per message + 3 priming = 12 prompt tokens,
    // plus 12 completion tokens: 24. A limit of 100 fits four (96), not a fifth.
    let key = env.key("tpm", limits(None, Some(100), None), None).await;
    let mut admitted = 0;
    for _ in 0..6 {
        if env.priced(&key).await == 200 {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 4);
    let body = json!({"model": "priced-mock", "max_tokens": 12,
        "messages": [{"role": "user", "content": prompt(5)}]});
    let refused = env.chat(&key, body).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["x-ratelimit-limit-tokens"], "100");
    // 4 left by real use; the shard may still count a token or two of this
    // router's unspent lease (handed back at its next report).
    let remaining: u64 = refused.headers()["x-ratelimit-remaining-tokens"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(remaining <= 4, "{remaining}");
    // A request bigger than the whole limit is refused too, not admitted.
    let big = env.key("tpm-big", limits(None, Some(10), None), None).await;
    assert_eq!(env.priced(&big).await, 429);
    env.mesh.shutdown().await;
}

async fn budget_refusal_speaks_openai_and_grpc(shape: Shape) {
    let env = env(shape).await;
    let (key, key_id) = env
        .mesh
        .create_key_with(CreateKeyRequest {
            tenant: "budget".into(),
            budget: monthly(2 * COST),
            ..Default::default()
        })
        .await;
    assert_eq!(env.priced(&key).await, 200);
    assert_eq!(env.priced(&key).await, 200);
    let body = json!({"model": "priced-mock", "max_tokens": 12,
        "messages": [{"role": "user", "content": "one more"}]});
    let refused = env.chat(&key, body).await;
    assert_eq!(refused.status(), 429);
    // The SDK must not retry an exhausted budget.
    assert_eq!(refused.headers()["x-should-retry"], "false");
    let err: Value = refused.json().await.unwrap();
    assert_eq!(err["error"]["code"], "budget_exceeded");
    assert_eq!(err["error"]["type"], "insufficient_quota");

    let status = env.grpc_refusal(&key).await;
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    let details = status.get_error_details();
    assert_eq!(details.error_info().unwrap().reason, "BUDGET_EXCEEDED");
    let violation = &details.quota_failure().unwrap().violations[0];
    assert_eq!(violation.subject, format!("key:{key_id}"));
    env.mesh.shutdown().await;
}

async fn rate_limit_over_grpc_carries_retry_info(shape: Shape) {
    let env = env(shape).await;
    let key = env.key("grpc-rpm", limits(Some(1), None, None), None).await;
    assert_eq!(env.priced(&key).await, 200);
    let status = env.grpc_refusal(&key).await;
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    let details = status.get_error_details();
    assert_eq!(details.error_info().unwrap().reason, "RATE_LIMITED");
    let delay = details.retry_info().unwrap().retry_delay.unwrap();
    assert!(delay > Duration::ZERO && delay <= Duration::from_secs(60));
    env.mesh.shutdown().await;
}

/// Opens a stream on the upstream's `hang` model and waits for its first event:
/// the request holds its concurrency slot until released or dropped.
async fn open_stream(env: &Env, key: &str) -> reqwest::Response {
    let body = json!({"model": "hang", "stream": true,
        "messages": [{"role": "user", "content": "hold on"}]});
    let mut response = env.chat(key, body).await;
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    response
}

async fn concurrency_slot_frees_on_finish_and_on_disconnect(shape: Shape) {
    let env = env(shape).await;
    let key = env
        .key("concurrency", limits(None, None, Some(2)), None)
        .await;
    let first = open_stream(&env, &key).await;
    let second = open_stream(&env, &key).await;
    // Two streaming: the third is refused.
    assert_eq!(env.priced(&key).await, 429);

    // One finishes: its slot is free before its client sees the end.
    env.upstream.release();
    let text = first.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"));
    assert_eq!(env.priced(&key).await, 200);

    // Take the freed slot again, then drop the other client mid-stream.
    let third = open_stream(&env, &key).await;
    assert_eq!(env.priced(&key).await, 429);
    drop(second);
    // The router notices the disconnect asynchronously; poll, bounded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if env.priced(&key).await == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "slot not freed 5 s after the client disconnected"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(third);
    env.upstream.release();
    env.upstream.release();
    env.mesh.shutdown().await;
}

/// `router.max_in_flight` bounds what one router serves at once, whatever the key:
/// past it a request is shed at once, before auth or the provider (503 with
/// OpenAI's error body and `Retry-After` over HTTP; UNAVAILABLE with RetryInfo
/// over gRPC), is never billed, and a slot frees when a request ends.
async fn in_flight_limit_sheds_the_overload(shape: Shape) {
    let upstream = Upstream::start().await;
    let mesh = Mesh::start_configured(shape, &upstream.base_url(), "max_in_flight = 2", "").await;
    let env = Env {
        upstream,
        mesh,
        http: reqwest::Client::new(),
    };
    let key = env.key("shed", None, None).await;
    let first = open_stream(&env, &key).await;
    let second = open_stream(&env, &key).await;
    let upstream_calls = env.upstream.requests().len();

    let body = json!({"model": "priced-mock", "messages": [{"role": "user", "content": "hi"}]});
    let shed = env.chat(&key, body).await;
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    assert!(!shed.headers().contains_key("x-should-retry"));
    let error: Value = shed.json().await.unwrap();
    assert_eq!(error["error"]["type"], "api_error", "{error}");
    assert_eq!(error["error"]["code"], "service_unavailable", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("router.max_in_flight"),
        "{error}"
    );
    let status = env.grpc_refusal(&key).await;
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let details = status.get_error_details();
    assert_eq!(details.error_info().unwrap().reason, "SERVICE_UNAVAILABLE");
    assert_eq!(
        details.retry_info().unwrap().retry_delay,
        Some(Duration::from_secs(1))
    );
    // Shed before any provider call, and so never billed.
    assert_eq!(env.upstream.requests().len(), upstream_calls);
    assert!(env.mesh.tenant_usage("shed").await.is_empty());

    // A stream ends: its slot is free again.
    env.upstream.release();
    let text = first.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"));
    assert_eq!(env.priced(&key).await, 200);
    drop(second);
    env.upstream.release();
    env.mesh.shutdown().await;
}

async fn tenant_limits_bind_all_its_keys(shape: Shape) {
    let env = env(shape).await;
    let a = env.key("shared", None, None).await;
    let b = env.key("shared", None, None).await;
    let mut tenants = TenantAdminClient::new(Mesh::channel(env.mesh.auth_admin));
    tenants
        .update_tenant(Mesh::admin(UpdateTenantRequest {
            tenant: Some(Tenant {
                name: "shared".into(),
                limits: limits(Some(3), None, None),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["limits".into()],
            }),
        }))
        .await
        .unwrap();
    let mut admitted = 0;
    let mut statuses = Vec::new();
    for key in [&a, &b, &a, &b, &a] {
        let status = env.priced(key).await;
        statuses.push(status);
        if status == 200 {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 3, "{statuses:?}");
    assert_eq!(statuses[3..], [429, 429]);
    // Another tenant is untouched.
    let other = env.key("other", None, None).await;
    assert_eq!(env.priced(&other).await, 200);
    env.mesh.shutdown().await;
}

both_shapes!(
    rpm_is_exact_and_its_refusal_speaks_openai,
    tpm_admits_exactly_what_fits,
    budget_refusal_speaks_openai_and_grpc,
    rate_limit_over_grpc_carries_retry_info,
    concurrency_slot_frees_on_finish_and_on_disconnect,
    in_flight_limit_sheds_the_overload,
    tenant_limits_bind_all_its_keys,
    a_key_reads_its_limits_budgets_and_spend,
);

async fn a_key_reads_its_limits_budgets_and_spend(shape: Shape) {
    let env = env(shape).await;
    let capped = env
        .key("info", limits(Some(100), None, None), monthly(1_000_000))
        .await;
    let plain = env.key("info", None, None).await;
    let mut tenants = TenantAdminClient::new(Mesh::channel(env.mesh.auth_admin));
    tenants
        .update_tenant(Mesh::admin(UpdateTenantRequest {
            tenant: Some(Tenant {
                name: "info".into(),
                budget: Some(Budget {
                    limit_micros: 5_000_000,
                    period: BudgetPeriod::Daily as i32,
                    alert_percent: Some(80),
                }),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["budget".into()],
            }),
        }))
        .await
        .unwrap();
    // One paid request from each key; both count against the tenant's budget,
    // one against the capped key's.
    for (key, id) in [(&capped, "info-capped-1"), (&plain, "info-plain-1")] {
        let body = json!({"model": "priced-mock", "max_tokens": 12,
            "messages": [{"role": "user", "content": prompt(5)}]});
        let resp = env
            .http
            .post(format!("{}/v1/chat/completions", env.mesh.base_url()))
            .bearer_auth(key)
            .header("x-request-id", id)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(env.mesh.wait_usage(id).await.cost_micros, COST);
    }
    let info = |key: &str| {
        let request = env
            .http
            .get(format!("{}/v1/key", env.mesh.base_url()))
            .bearer_auth(key)
            .send();
        async move {
            let resp = request.await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, mine) = info(&capped).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["object"], "key");
    assert_eq!(mine["tenant"], "info");
    assert!(
        capped.starts_with(mine["prefix"].as_str().unwrap()),
        "{mine}"
    );
    assert_eq!(mine["limits"]["key"]["requests_per_minute"], 100);
    assert_eq!(mine["limits"]["tenant"], Value::Null);
    let key_budget = &mine["budgets"]["key"];
    assert_eq!(key_budget["period"], "monthly");
    assert_eq!(key_budget["limit_micros"], 1_000_000);
    assert_eq!(key_budget["spent_micros"], COST);
    assert_eq!(key_budget["remaining_micros"], 1_000_000 - COST);
    assert_eq!(key_budget["spent_usd"], "0.012000");
    let start = key_budget["period_start"].as_str().unwrap();
    assert!(start.ends_with("-01T00:00:00Z"), "{start}");
    let tenant_budget = &mine["budgets"]["tenant"];
    assert_eq!(tenant_budget["period"], "daily");
    assert_eq!(tenant_budget["alert_percent"], 80);
    assert_eq!(tenant_budget["spent_micros"], 2 * COST);
    assert_eq!(tenant_budget["remaining_micros"], 5_000_000 - 2 * COST);
    assert!(
        tenant_budget["period_start"]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00Z")
    );

    let (_, theirs) = info(&plain).await;
    assert_eq!(theirs["budgets"]["key"], Value::Null);
    assert_eq!(theirs["budgets"]["tenant"]["spent_micros"], 2 * COST);
    assert_ne!(theirs["id"], mine["id"]);

    // A bad key gets OpenAI's 401; gRPC callers get the same facts.
    let (status, refused) = info("sy_not_a_key").await;
    assert_eq!(status, 401, "{refused}");
    assert!(refused["error"]["message"].is_string(), "{refused}");
    let mut grpc = GatewayClient::new(Mesh::channel(env.mesh.grpc));
    let over_grpc = grpc
        .get_key_info(with_key(
            switchyard_proto::gateway::v1::GetKeyInfoRequest {},
            &capped,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(over_grpc.key_id, mine["id"].as_str().unwrap());
    let budget = over_grpc.key_budget.unwrap();
    assert_eq!(
        (budget.spent_micros, budget.remaining_micros),
        (COST, 1_000_000 - COST)
    );
    assert_eq!(over_grpc.tenant_budget.unwrap().spent_micros, 2 * COST);
    env.mesh.shutdown().await;
}
