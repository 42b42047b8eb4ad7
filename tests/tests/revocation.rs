//! Revocation through the router's principal cache, both shapes, real services over
//! real HTTP and gRPC: a key whose principal is cached stops working within the
//! bound docs/limits.md states once it is revoked, narrowed, rotated out, its tenant
//! disabled, or it expires.
//!
//! Each test records the mesh's metrics with a thread-local recorder (the runtime is
//! single-threaded, so every service task runs on the test's thread and no other
//! test's mesh is counted), to wait for the router's watch of auth to be live and
//! to prove a principal really was served from the cache before the change.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::json;
use switchyard_proto::auth::v1::key_admin_client::KeyAdminClient;
use switchyard_proto::auth::v1::tenant_admin_client::TenantAdminClient;
use switchyard_proto::auth::v1::{
    CreateKeyRequest, DisableTenantRequest, EnableTenantRequest, Key, RotateKeyRequest,
    UpdateKeyRequest,
};
use switchyard_telemetry::metrics::{
    self, Counter, Gauge, Histogram, KeyName, Metadata, Recorder, SharedString, Unit,
};
use switchyard_telemetry::names;
use switchyard_tests::{ADMIN_TOKEN, Mesh, REVOCATION_BOUND, Shape, Upstream, both_shapes, within};

/// Counters and gauges by name (labels ignored).
#[derive(Default)]
struct Recorded(Mutex<HashMap<String, Arc<AtomicU64>>>);

impl Recorded {
    fn cell(&self, name: &str) -> Arc<AtomicU64> {
        self.0
            .lock()
            .unwrap()
            .entry(name.to_string())
            .or_default()
            .clone()
    }
    fn counter(&self, name: &str) -> u64 {
        self.cell(name).load(Ordering::SeqCst)
    }
    fn gauge(&self, name: &str) -> f64 {
        f64::from_bits(self.cell(name).load(Ordering::SeqCst))
    }
}

impl Recorder for Recorded {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &metrics::Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.cell(key.name()))
    }
    fn register_gauge(&self, key: &metrics::Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.cell(key.name()))
    }
    fn register_histogram(&self, _: &metrics::Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

struct Env {
    _upstream: Upstream,
    mesh: Mesh,
    http: reqwest::Client,
}

fn admin<T>(message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {ADMIN_TOKEN}").parse().unwrap(),
    );
    r
}

impl Env {
    /// A mesh whose router's watch of auth is live (waited for, bounded).
    async fn start(shape: Shape, metrics: &Recorded) -> Self {
        let upstream = Upstream::start().await;
        let mesh = Mesh::start(shape, &upstream.base_url()).await;
        within(
            Duration::from_secs(5),
            "the router's watch of auth is live",
            async || metrics.gauge(names::PRINCIPAL_WATCH_LIVE) == 1.0,
        )
        .await;
        Self {
            _upstream: upstream,
            mesh,
            http: reqwest::Client::new(),
        }
    }

    fn keys(&self) -> KeyAdminClient<switchyard_grpc::GrpcChannel> {
        KeyAdminClient::new(Mesh::channel(self.mesh.auth_admin))
    }

    fn tenants(&self) -> TenantAdminClient<switchyard_grpc::GrpcChannel> {
        TenantAdminClient::new(Mesh::channel(self.mesh.auth_admin))
    }

    /// Creates a key of a new tenant; returns (secret, key).
    async fn key(
        &self,
        tenant: &str,
        models: &[&str],
        expires_at: Option<SystemTime>,
    ) -> (String, Key) {
        let created = self
            .keys()
            .create_key(admin(CreateKeyRequest {
                tenant: tenant.into(),
                allowed_models: models.iter().map(|m| m.to_string()).collect(),
                create_tenant: true,
                expires_at: expires_at.map(Into::into),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        (created.secret, created.key.unwrap())
    }

    /// The HTTP status of a one-message chat with `model`.
    async fn chat(&self, key: &str, model: &str) -> u16 {
        self.http
            .post(format!("{}/v1/chat/completions", self.mesh.base_url()))
            .bearer_auth(key)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Uses `key` until its principal is served from the router's cache: a miss
    /// fills it, the next request must be a hit.
    async fn cached(&self, key: &str, model: &str, metrics: &Recorded) {
        assert_eq!(self.chat(key, model).await, 200);
        let hits = metrics.counter(names::PRINCIPAL_CACHE_HITS);
        assert_eq!(self.chat(key, model).await, 200);
        assert_eq!(
            metrics.counter(names::PRINCIPAL_CACHE_HITS),
            hits + 1,
            "the second request is answered from the cache"
        );
    }

    /// Asserts `key` gets `status` for `model` within the revocation bound.
    async fn refused_within_bound(&self, key: &str, model: &str, status: u16, what: &str) {
        let took = within(REVOCATION_BOUND, what, async || {
            self.chat(key, model).await == status
        })
        .await;
        eprintln!("{what}: seen within {took:?} (including the request that saw it)");
        // And it stays so (refusals are never cached, so this asked auth or the
        // evicted cache again).
        assert_eq!(self.chat(key, model).await, status, "{what}");
    }
}

both_shapes!(
    runtime = (flavor = "current_thread");
    revoked_key_is_refused_within_the_bound,
    disabled_tenant_is_refused_then_enabled_again,
    narrowed_allowlist_is_enforced_on_cached_principals,
    rotation_without_overlap_ends_the_old_key,
    expired_key_stops_at_its_expiry,
);

async fn revoked_key_is_refused_within_the_bound(shape: Shape) {
    let metrics = Recorded::default();
    let _local = metrics::set_default_local_recorder(&metrics);
    let env = Env::start(shape, &metrics).await;
    let (secret, key) = env.key("acme", &[], None).await;
    env.cached(&secret, "mock-model", &metrics).await;
    env.mesh.revoke_key(&key.id).await;
    env.refused_within_bound(&secret, "mock-model", 401, "revoked key refused")
        .await;
    env.mesh.shutdown().await;
}

async fn disabled_tenant_is_refused_then_enabled_again(shape: Shape) {
    let metrics = Recorded::default();
    let _local = metrics::set_default_local_recorder(&metrics);
    let env = Env::start(shape, &metrics).await;
    let (secret, _) = env.key("globex", &[], None).await;
    let (other, _) = env.key("initech", &[], None).await;
    env.cached(&secret, "mock-model", &metrics).await;
    env.cached(&other, "mock-model", &metrics).await;
    env.tenants()
        .disable_tenant(admin(DisableTenantRequest {
            name: "globex".into(),
        }))
        .await
        .unwrap();
    env.refused_within_bound(&secret, "mock-model", 401, "disabled tenant's key refused")
        .await;
    // Another tenant's cached principal is untouched.
    let hits = metrics.counter(names::PRINCIPAL_CACHE_HITS);
    assert_eq!(env.chat(&other, "mock-model").await, 200);
    assert_eq!(metrics.counter(names::PRINCIPAL_CACHE_HITS), hits + 1);
    env.tenants()
        .enable_tenant(admin(EnableTenantRequest {
            name: "globex".into(),
        }))
        .await
        .unwrap();
    // Refusals are never cached: the very next request asks auth and is admitted.
    assert_eq!(env.chat(&secret, "mock-model").await, 200);
    env.mesh.shutdown().await;
}

async fn narrowed_allowlist_is_enforced_on_cached_principals(shape: Shape) {
    let metrics = Recorded::default();
    let _local = metrics::set_default_local_recorder(&metrics);
    let env = Env::start(shape, &metrics).await;
    let (secret, key) = env.key("acme", &["mock-*"], None).await;
    env.cached(&secret, "mock-model", &metrics).await;
    // A cache hit checks the allowlist itself, with auth's refusal.
    let hits = metrics.counter(names::PRINCIPAL_CACHE_HITS);
    let refused = env
        .http
        .post(format!("{}/v1/chat/completions", env.mesh.base_url()))
        .bearer_auth(&secret)
        .json(&json!({"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(metrics.counter(names::PRINCIPAL_CACHE_HITS), hits + 1);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["type"], "permission_error", "{body}");
    let message = format!("API key {} may not use model `chat-model`", key.prefix);
    assert_eq!(body["error"]["message"], message.as_str(), "{body}");

    env.keys()
        .update_key(admin(UpdateKeyRequest {
            key: Some(Key {
                id: key.id.clone(),
                allowed_models: vec!["chat-*".into()],
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["allowed_models".into()],
            }),
        }))
        .await
        .unwrap();
    env.refused_within_bound(&secret, "mock-model", 403, "narrowed allowlist enforced")
        .await;
    assert_eq!(env.chat(&secret, "chat-model").await, 200, "newly allowed");
    env.mesh.shutdown().await;
}

async fn rotation_without_overlap_ends_the_old_key(shape: Shape) {
    let metrics = Recorded::default();
    let _local = metrics::set_default_local_recorder(&metrics);
    let env = Env::start(shape, &metrics).await;
    let (secret, key) = env.key("acme", &[], None).await;
    env.cached(&secret, "mock-model", &metrics).await;
    let rotated = env
        .keys()
        .rotate_key(admin(RotateKeyRequest {
            key_id: key.id.clone(),
            overlap_seconds: Some(0),
        }))
        .await
        .unwrap()
        .into_inner();
    env.refused_within_bound(&secret, "mock-model", 401, "rotated-out key refused")
        .await;
    assert_eq!(env.chat(&rotated.secret, "mock-model").await, 200);
    env.mesh.shutdown().await;
}

async fn expired_key_stops_at_its_expiry(shape: Shape) {
    let metrics = Recorded::default();
    let _local = metrics::set_default_local_recorder(&metrics);
    let env = Env::start(shape, &metrics).await;
    let expires = SystemTime::now() + Duration::from_millis(1500);
    let (secret, _) = env.key("acme", &[], Some(expires)).await;
    env.cached(&secret, "mock-model", &metrics).await;
    // Expiry is a time, not a change: no message is sent. Wait for it (bounded).
    let left = expires
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    assert!(left < Duration::from_secs(2));
    tokio::time::sleep(left).await;
    within(
        Duration::from_secs(1),
        "the wall clock passes the expiry",
        async || SystemTime::now() >= expires,
    )
    .await;
    // The cached principal carried `valid_until`: the first request after it is
    // refused, with no stream message and no TTL involved.
    assert_eq!(env.chat(&secret, "mock-model").await, 401);
    env.mesh.shutdown().await;
}
