//! The principal cache: admission without a round trip to auth.
//!
//! `Auth.Authenticate` answers with a `Principal` (tenant, key, allowlists, limits,
//! budgets). The router keeps those answers, keyed by the SHA-256 of the presented
//! key (never the key itself), and serves later requests from memory. It may do so
//! only while it is sure to hear of every change, so a background task keeps one
//! `Auth.WatchChanges` stream open:
//!
//! - until the stream says `ready`, and whenever it breaks, nothing is cached and
//!   every request asks auth; a break also drops the whole cache, and the task
//!   subscribes again with capped exponential backoff;
//! - a `Change` naming a key id or a tenant drops that key's or tenant's entries;
//! - an entry also goes when its principal's `valid_until` passes (expiry, end of a
//!   rotation overlap), and after `router.principal_cache_ttl_ms` as a safety net;
//! - a fetch that was in flight while any change (or break) arrived is not cached,
//!   since auth may have answered from the state before it: an epoch counter, bumped
//!   on every change and break, must be unchanged from the fetch's start.
//!
//! Only successful answers are cached (a bad key always asks auth), and a hit checks
//! the requested model against both allowlists exactly as auth does. At most
//! [`MAX_ENTRIES`] principals are kept; inserting into a full cache first drops the
//! entries past their time and, if it is still full, clears it (refilled on demand
//! by ordinary misses: simpler than LRU bookkeeping on every hit, and a cache that
//! large is reached only by a flood of distinct keys).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};
use switchyard_error::{ApiError, ErrorCode};
use switchyard_grpc::{GrpcChannel, new_request_id, outgoing};
use switchyard_proto::auth::v1::auth_client::AuthClient;
use switchyard_proto::auth::v1::change::Target;
use switchyard_proto::auth::v1::{AuthenticateRequest, Principal, WatchChangesRequest};
use switchyard_telemetry::{metrics, names};
use tokio_util::sync::CancellationToken;
use tonic::Status;

/// Most principals cached; see the module docs for what happens when full.
pub const MAX_ENTRIES: usize = 100_000;
/// First wait before subscribing again after the change stream failed.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Longest wait between subscription attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(2);

type KeyDigest = [u8; 32];

/// Principals by key digest, served only while auth's change stream is live.
pub struct PrincipalCache {
    auth: AuthClient<GrpcChannel>,
    /// Safety-net lifetime of an entry; zero disables the cache.
    ttl: Duration,
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The change stream has said `ready` and not broken since.
    live: bool,
    /// Bumped on every change, `ready` and break: a fetch is cached only if it is
    /// unchanged from the fetch's start.
    epoch: u64,
    entries: HashMap<KeyDigest, Entry>,
}

struct Entry {
    principal: Principal,
    /// When the fetch that produced it began (auth read its state after this).
    fetched: Instant,
    valid_until: Option<SystemTime>,
}

impl PrincipalCache {
    /// A cache over auth at `auth`; `ttl` zero disables caching (every request
    /// asks auth and no watch is needed).
    pub fn new(auth: GrpcChannel, ttl: Duration) -> Arc<Self> {
        Self::with_capacity(auth, ttl, MAX_ENTRIES)
    }

    fn with_capacity(auth: GrpcChannel, ttl: Duration, capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            auth: AuthClient::new(auth),
            ttl,
            capacity,
            state: Mutex::new(State::default()),
        })
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// Starts the task that keeps auth's change stream subscribed, until
    /// `shutdown`; `None` when caching is disabled. Must run inside a Tokio runtime.
    pub fn spawn_watch(
        self: &Arc<Self>,
        shutdown: CancellationToken,
    ) -> Option<tokio::task::JoinHandle<()>> {
        self.enabled()
            .then(|| tokio::spawn(self.clone().watch(shutdown)))
    }

    /// Admits `api_key` for `model` (empty: any model): from the cache when it may,
    /// else by asking auth (and caching the answer when that is safe). Errors are
    /// auth's, or on a cache hit the same PERMISSION_DENIED auth would give.
    pub async fn authenticate(
        &self,
        api_key: &str,
        model: &str,
        request_id: &str,
    ) -> Result<Principal, Status> {
        let digest: KeyDigest = Sha256::digest(api_key.as_bytes()).into();
        if let Some(principal) = self.lookup(&digest, Instant::now(), SystemTime::now()) {
            metrics::counter!(names::PRINCIPAL_CACHE_HITS).increment(1);
            check_model(&principal, model)?;
            return Ok(principal);
        }
        metrics::counter!(names::PRINCIPAL_CACHE_MISSES).increment(1);
        let started = self.begin_fetch();
        let call = AuthenticateRequest {
            api_key: api_key.to_string(),
            model: model.to_string(),
        };
        let principal = self
            .auth
            .clone()
            .authenticate(outgoing(call, request_id))
            .await?
            .into_inner();
        if let Some((epoch, fetched)) = started {
            self.insert(digest, &principal, epoch, fetched, SystemTime::now());
        }
        Ok(principal)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent, so a panic elsewhere
        // while holding the lock does not make it unusable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached principal for `digest`, if the cache is live and it is still
    /// good at `now` / `wall`.
    fn lookup(&self, digest: &KeyDigest, now: Instant, wall: SystemTime) -> Option<Principal> {
        let mut state = self.state();
        if !state.live {
            return None;
        }
        let entry = state.entries.get(digest)?;
        if self.fresh(entry, now, wall) {
            return Some(entry.principal.clone());
        }
        state.entries.remove(digest);
        set_entries(&state);
        None
    }

    fn fresh(&self, entry: &Entry, now: Instant, wall: SystemTime) -> bool {
        now.saturating_duration_since(entry.fetched) < self.ttl
            && entry.valid_until.is_none_or(|until| wall < until)
    }

    /// The epoch and start time of a fetch whose answer may be cached, if any.
    fn begin_fetch(&self) -> Option<(u64, Instant)> {
        let state = self.state();
        (self.enabled() && state.live).then(|| (state.epoch, Instant::now()))
    }

    /// Caches a fetched principal unless anything changed since the fetch began.
    fn insert(
        &self,
        digest: KeyDigest,
        principal: &Principal,
        epoch: u64,
        fetched: Instant,
        wall: SystemTime,
    ) {
        let valid_until = match principal.valid_until.map(SystemTime::try_from) {
            None => None,
            Some(Ok(until)) if wall < until => Some(until),
            // Already past, or not a representable time: do not cache.
            Some(_) => return,
        };
        let mut state = self.state();
        if !state.live || state.epoch != epoch {
            return;
        }
        if state.entries.len() >= self.capacity && !state.entries.contains_key(&digest) {
            let now = Instant::now();
            state.entries.retain(|_, e| self.fresh(e, now, wall));
            if state.entries.len() >= self.capacity {
                tracing::info!(
                    entries = state.entries.len(),
                    "principal cache full; cleared"
                );
                state.entries.clear();
            }
        }
        state.entries.insert(
            digest,
            Entry {
                principal: principal.clone(),
                fetched,
                valid_until,
            },
        );
        set_entries(&state);
    }

    /// Applies one message of the change stream.
    fn apply(&self, target: Target) {
        let mut state = self.state();
        state.epoch += 1;
        match target {
            Target::Ready(_) => {
                if !state.live {
                    tracing::info!("watching auth's changes: principal cache on");
                }
                state.live = true;
                metrics::gauge!(names::PRINCIPAL_WATCH_LIVE).set(1.0);
            }
            Target::KeyId(id) => state.entries.retain(|_, e| e.principal.key_id != id),
            Target::Tenant(name) => state.entries.retain(|_, e| e.principal.tenant != name),
        }
        set_entries(&state);
    }

    /// The change stream is gone: nothing cached can be trusted any more.
    fn disconnect(&self) {
        let mut state = self.state();
        state.epoch += 1;
        state.live = false;
        state.entries.clear();
        set_entries(&state);
        metrics::gauge!(names::PRINCIPAL_WATCH_LIVE).set(0.0);
    }

    /// Keeps the change stream subscribed until `shutdown`.
    async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        let mut backoff = BACKOFF_MIN;
        loop {
            let went_live = tokio::select! {
                () = shutdown.cancelled() => break,
                went_live = self.follow() => went_live,
            };
            self.disconnect();
            metrics::counter!(names::PRINCIPAL_WATCH_BREAKS).increment(1);
            if went_live {
                backoff = BACKOFF_MIN;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        self.disconnect();
    }

    /// Follows one subscription until it ends; whether it ever became live.
    async fn follow(&self) -> bool {
        let request = outgoing(WatchChangesRequest {}, &new_request_id());
        let mut stream = match self.auth.clone().watch_changes(request).await {
            Ok(response) => response.into_inner(),
            Err(status) => {
                tracing::debug!(error = %status.message(), "cannot watch auth's changes");
                return false;
            }
        };
        let mut went_live = false;
        loop {
            match stream.message().await {
                Ok(Some(change)) => {
                    let Some(target) = change.target else {
                        continue;
                    };
                    went_live |= matches!(target, Target::Ready(_));
                    self.apply(target);
                }
                Ok(None) => {
                    tracing::warn!("auth's change stream ended; principal cache off");
                    return went_live;
                }
                Err(status) => {
                    tracing::warn!(
                        code = ?status.code(),
                        error = %status.message(),
                        "auth's change stream failed; principal cache off"
                    );
                    return went_live;
                }
            }
        }
    }
}

fn set_entries(state: &State) {
    metrics::gauge!(names::PRINCIPAL_CACHE_ENTRIES).set(state.entries.len() as f64);
}

/// Auth's allowlist check, on a cached principal: a model must pass the tenant's
/// and the key's allowlist (empty allows all); an empty model skips the check. The
/// refusal is the status auth gives (`AuthError::ModelNotAllowed`).
fn check_model(principal: &Principal, model: &str) -> Result<(), Status> {
    let allowed =
        |patterns: &[String]| model.is_empty() || switchyard_policy::model_allowed(patterns, model);
    if allowed(&principal.tenant_allowed_models) && allowed(&principal.allowed_models) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::PermissionDenied,
        format!(
            "API key {} may not use model `{model}`",
            principal.key_prefix
        ),
    )
    .to_status())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use switchyard_grpc::in_process;
    use switchyard_proto::auth::v1::Change;
    use switchyard_proto::auth::v1::auth_server::{Auth, AuthServer};
    use tokio::sync::{Semaphore, mpsc};
    use tokio_stream::wrappers::ReceiverStream;
    use tonic::{Request, Response};

    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    fn principal(key_id: &str, tenant: &str) -> Principal {
        Principal {
            key_id: key_id.into(),
            key_prefix: format!("sy_{key_id}"),
            tenant: tenant.into(),
            ..Default::default()
        }
    }

    fn digest(key: &str) -> KeyDigest {
        Sha256::digest(key.as_bytes()).into()
    }

    /// A cache whose auth is never called (state-machine tests).
    fn offline(ttl: Duration, capacity: usize) -> Arc<PrincipalCache> {
        let unused = in_process(AuthServer::new(FakeAuth::default()));
        PrincipalCache::with_capacity(unused, ttl, capacity)
    }

    /// Caches `p` under `key` through the ordinary begin / insert path.
    fn fetch(cache: &PrincipalCache, key: &str, p: &Principal) {
        let (epoch, fetched) = cache.begin_fetch().expect("cacheable");
        cache.insert(digest(key), p, epoch, fetched, SystemTime::now());
    }

    fn cached(cache: &PrincipalCache, key: &str) -> Option<Principal> {
        cache.lookup(&digest(key), Instant::now(), SystemTime::now())
    }

    /// Waits for a condition another task brings about: bounded, 5 ms steps, 10 s.
    async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
        for _ in 0..2000 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("not within 10 s: {what}");
    }

    #[test]
    fn nothing_is_cached_until_ready_and_a_break_clears_everything() {
        let cache = offline(TTL, MAX_ENTRIES);
        assert!(
            cache.begin_fetch().is_none(),
            "not live: nothing may be cached"
        );
        cache.apply(Target::Ready(true));
        fetch(&cache, "k1", &principal("k1", "t"));
        assert_eq!(cached(&cache, "k1").unwrap().key_id, "k1");
        cache.disconnect();
        assert!(cached(&cache, "k1").is_none());
        assert!(
            cache.state().entries.is_empty(),
            "the whole cache is dropped"
        );
        assert!(cache.begin_fetch().is_none());
        // A new subscription starts empty and caches again.
        cache.apply(Target::Ready(true));
        assert!(cached(&cache, "k1").is_none());
        fetch(&cache, "k1", &principal("k1", "t"));
        assert!(cached(&cache, "k1").is_some());
    }

    #[test]
    fn a_fetch_spanning_a_change_or_a_break_is_not_cached() {
        let cache = offline(TTL, MAX_ENTRIES);
        cache.apply(Target::Ready(true));
        let p = principal("k1", "t");
        for interleave in [
            |c: &PrincipalCache| c.apply(Target::KeyId("k1".into())),
            // Even a change to another key: auth's answer may predate any change.
            |c: &PrincipalCache| c.apply(Target::Tenant("other".into())),
            |c: &PrincipalCache| {
                c.disconnect();
                c.apply(Target::Ready(true));
            },
        ] {
            let (epoch, fetched) = cache.begin_fetch().unwrap();
            interleave(&cache);
            cache.insert(digest("k1"), &p, epoch, fetched, SystemTime::now());
            assert!(cached(&cache, "k1").is_none());
        }
        // Nothing in between: cached.
        fetch(&cache, "k1", &p);
        assert!(cached(&cache, "k1").is_some());
    }

    #[test]
    fn changes_drop_their_key_or_tenant_only() {
        let cache = offline(TTL, MAX_ENTRIES);
        cache.apply(Target::Ready(true));
        fetch(&cache, "a", &principal("ka", "t1"));
        fetch(&cache, "b", &principal("kb", "t1"));
        fetch(&cache, "c", &principal("kc", "t2"));
        cache.apply(Target::KeyId("ka".into()));
        assert!(cached(&cache, "a").is_none());
        assert!(cached(&cache, "b").is_some() && cached(&cache, "c").is_some());
        cache.apply(Target::Tenant("t1".into()));
        assert!(cached(&cache, "b").is_none());
        assert!(cached(&cache, "c").is_some());
    }

    #[test]
    fn ttl_and_valid_until_end_entries() {
        let cache = offline(TTL, MAX_ENTRIES);
        cache.apply(Target::Ready(true));
        let (t0, wall) = (Instant::now(), SystemTime::now());
        let (epoch, _) = cache.begin_fetch().unwrap();
        cache.insert(digest("k"), &principal("k", "t"), epoch, t0, wall);
        let at = |after: Duration| cache.lookup(&digest("k"), t0 + after, wall);
        assert!(at(TTL - Duration::from_millis(1)).is_some());
        assert!(at(TTL).is_none(), "the safety-net TTL ends it");
        assert!(cache.state().entries.is_empty(), "and it is removed");

        let until = wall + Duration::from_secs(10);
        let mut p = principal("k", "t");
        p.valid_until = Some(until.into());
        let (epoch, _) = cache.begin_fetch().unwrap();
        cache.insert(digest("k"), &p, epoch, t0, wall);
        let at = |w: SystemTime| cache.lookup(&digest("k"), t0, w);
        assert!(at(until - Duration::from_millis(1)).is_some());
        assert!(at(until).is_none(), "valid_until ends it");

        // A principal already past its time is never cached.
        p.valid_until = Some(wall.into());
        let (epoch, _) = cache.begin_fetch().unwrap();
        cache.insert(digest("k"), &p, epoch, t0, wall);
        assert!(cache.state().entries.is_empty());

        // TTL 0: caching is off, even with a live stream.
        let off = offline(Duration::ZERO, MAX_ENTRIES);
        off.apply(Target::Ready(true));
        assert!(off.begin_fetch().is_none());
    }

    #[test]
    fn a_full_cache_drops_stale_entries_then_clears() {
        let cache = offline(TTL, 2);
        cache.apply(Target::Ready(true));
        let long_ago = Instant::now().checked_sub(TTL).unwrap();
        let (epoch, _) = cache.begin_fetch().unwrap();
        cache.insert(
            digest("old"),
            &principal("old", "t"),
            epoch,
            long_ago,
            SystemTime::now(),
        );
        fetch(&cache, "b", &principal("kb", "t"));
        fetch(&cache, "c", &principal("kc", "t"));
        let kept = |k: &str| cache.state().entries.contains_key(&digest(k));
        assert!(
            !kept("old") && kept("b") && kept("c"),
            "stale entry made room"
        );
        fetch(&cache, "d", &principal("kd", "t"));
        assert!(
            kept("d") && !kept("b") && !kept("c"),
            "full of fresh: cleared"
        );
        assert_eq!(cache.state().entries.len(), 1);
    }

    #[test]
    fn hits_check_both_allowlists() {
        let mut p = principal("k", "t");
        p.allowed_models = vec!["chat-*".into()];
        p.tenant_allowed_models = vec!["chat-fast".into(), "embed".into()];
        assert!(check_model(&p, "chat-fast").is_ok());
        assert!(check_model(&p, "").is_ok(), "no model: no check");
        for refused in ["embed", "chat-slow", "other"] {
            let status = check_model(&p, refused).unwrap_err();
            assert_eq!(status.code(), tonic::Code::PermissionDenied, "{refused}");
        }
        assert!(
            check_model(&principal("k", "t"), "anything").is_ok(),
            "empty allows all"
        );
    }

    /// Auth in-process, admin calls through its generated clients.
    struct RealAuth {
        svc: switchyard_auth::AuthService,
        _dir: tempfile::TempDir,
    }

    impl RealAuth {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let store = switchyard_auth::SledKeyStore::open(dir.path().to_str().unwrap()).unwrap();
            let svc = switchyard_auth::AuthService::with_store(
                Arc::new(store),
                Some(switchyard_config::Secret::new("admin")),
            );
            Self { svc, _dir: dir }
        }

        fn admin<T>(msg: T) -> Request<T> {
            let mut r = Request::new(msg);
            r.metadata_mut()
                .insert("authorization", "Bearer admin".parse().unwrap());
            r
        }

        /// A key of a new tenant; returns (secret, key id).
        async fn key(
            &self,
            tenant: &str,
            key_models: &[&str],
            tenant_models: &[&str],
        ) -> (String, String) {
            use switchyard_proto::auth::v1::tenant_admin_client::TenantAdminClient;
            use switchyard_proto::auth::v1::{CreateKeyRequest, CreateTenantRequest, Tenant};
            let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
            TenantAdminClient::new(in_process(self.svc.tenant_admin_server()))
                .create_tenant(Self::admin(CreateTenantRequest {
                    tenant: Some(Tenant {
                        name: tenant.into(),
                        allowed_models: strings(tenant_models),
                        ..Default::default()
                    }),
                }))
                .await
                .unwrap();
            let created = self
                .keys()
                .create_key(Self::admin(CreateKeyRequest {
                    tenant: tenant.into(),
                    allowed_models: strings(key_models),
                    ..Default::default()
                }))
                .await
                .unwrap()
                .into_inner();
            (created.secret, created.key.unwrap().id)
        }

        fn keys(
            &self,
        ) -> switchyard_proto::auth::v1::key_admin_client::KeyAdminClient<GrpcChannel> {
            switchyard_proto::auth::v1::key_admin_client::KeyAdminClient::new(in_process(
                self.svc.admin_server(),
            ))
        }
    }

    #[tokio::test]
    async fn a_hit_refuses_exactly_as_auth_does() {
        let auth = RealAuth::new();
        let (secret, _) = auth.key("acme", &["chat-*"], &["chat-fast", "embed"]).await;
        let cache = PrincipalCache::new(in_process(auth.svc.auth_server()), TTL);
        cache.apply(Target::Ready(true));
        let p = cache
            .authenticate(&secret, "chat-fast", "r1")
            .await
            .unwrap();
        assert!(cached(&cache, &secret).is_some());
        for model in ["chat-fast", "", "embed", "chat-slow", "other"] {
            let from_auth = auth.svc.authenticate(&secret, model).map_err(Status::from);
            let from_hit = cache.authenticate(&secret, model, "r2").await;
            match (from_auth, from_hit) {
                (Ok(_), Ok(hit)) => assert_eq!(hit, p),
                (Err(a), Err(h)) => {
                    assert_eq!(
                        (a.code(), a.message(), a.details()),
                        (h.code(), h.message(), h.details()),
                        "{model}"
                    );
                }
                (a, h) => panic!("{model}: auth {a:?}, cache {h:?}"),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_watch_keeps_the_cache_fresh_and_stops_on_shutdown() {
        let auth = RealAuth::new();
        let (secret, id) = auth.key("acme", &[], &[]).await;
        let cache = PrincipalCache::new(in_process(auth.svc.auth_server()), TTL);
        let shutdown = CancellationToken::new();
        let task = cache.spawn_watch(shutdown.clone()).unwrap();
        eventually("watch live", || cache.state().live).await;
        cache.authenticate(&secret, "", "r1").await.unwrap();
        assert!(cached(&cache, &secret).is_some());
        auth.keys()
            .revoke_key(RealAuth::admin(
                switchyard_proto::auth::v1::RevokeKeyRequest { key_id: id },
            ))
            .await
            .unwrap();
        eventually("revoked key evicted", || cached(&cache, &secret).is_none()).await;
        let err = cache.authenticate(&secret, "", "r2").await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated);
        assert!(cached(&cache, &secret).is_none(), "refusals are not cached");

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("watch stops on shutdown")
            .unwrap();
        assert!(!cache.state().live);
    }

    type ChangeSender = mpsc::Sender<Result<Change, Status>>;

    /// An `Auth` whose change streams the test writes and whose answers it may hold.
    #[derive(Clone, Default)]
    struct FakeAuth {
        calls: Arc<AtomicUsize>,
        /// When set, each `Authenticate` waits for a permit.
        gate: Option<Arc<Semaphore>>,
        /// One sender per `WatchChanges` call, in order.
        streams: Arc<Mutex<Vec<ChangeSender>>>,
    }

    #[tonic::async_trait]
    impl Auth for FakeAuth {
        async fn authenticate(
            &self,
            request: Request<AuthenticateRequest>,
        ) -> Result<Response<Principal>, Status> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(gate) = &self.gate {
                gate.acquire().await.unwrap().forget();
            }
            let key = request.into_inner().api_key;
            Ok(Response::new(principal(&key, "t")))
        }

        type WatchChangesStream = ReceiverStream<Result<Change, Status>>;

        async fn watch_changes(
            &self,
            _: Request<WatchChangesRequest>,
        ) -> Result<Response<Self::WatchChangesStream>, Status> {
            let (tx, rx) = mpsc::channel(16);
            self.streams.lock().unwrap().push(tx);
            Ok(Response::new(ReceiverStream::new(rx)))
        }
    }

    impl FakeAuth {
        fn subscriptions(&self) -> usize {
            self.streams.lock().unwrap().len()
        }

        async fn send(&self, item: Result<Target, Status>) {
            let tx = self.streams.lock().unwrap().last().unwrap().clone();
            let item = item.map(|t| Change { target: Some(t) });
            tx.send(item).await.unwrap();
        }
    }

    fn watched(fake: &FakeAuth) -> (Arc<PrincipalCache>, CancellationToken) {
        let cache = PrincipalCache::new(in_process(AuthServer::new(fake.clone())), TTL);
        let shutdown = CancellationToken::new();
        cache.spawn_watch(shutdown.clone()).unwrap();
        (cache, shutdown)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_broken_stream_clears_the_cache_until_resubscribed() {
        let fake = FakeAuth::default();
        let (cache, shutdown) = watched(&fake);
        eventually("subscribed", || fake.subscriptions() == 1).await;
        cache.authenticate("k1", "", "r").await.unwrap();
        cache.authenticate("k1", "", "r").await.unwrap();
        assert_eq!(fake.calls.load(Ordering::SeqCst), 2, "not live: no caching");
        fake.send(Ok(Target::Ready(true))).await;
        eventually("live", || cache.state().live).await;
        for _ in 0..3 {
            cache.authenticate("k1", "", "r").await.unwrap();
        }
        assert_eq!(fake.calls.load(Ordering::SeqCst), 3, "one fetch, two hits");

        fake.send(Err(Status::unavailable("lagged"))).await;
        eventually("broken", || !cache.state().live).await;
        assert!(cache.state().entries.is_empty());
        cache.authenticate("k1", "", "r").await.unwrap();
        cache.authenticate("k1", "", "r").await.unwrap();
        assert_eq!(
            fake.calls.load(Ordering::SeqCst),
            5,
            "down: every request asks"
        );

        eventually("subscribed again", || fake.subscriptions() == 2).await;
        fake.send(Ok(Target::Ready(true))).await;
        eventually("live again", || cache.state().live).await;
        cache.authenticate("k1", "", "r").await.unwrap();
        cache.authenticate("k1", "", "r").await.unwrap();
        assert_eq!(fake.calls.load(Ordering::SeqCst), 6);
        shutdown.cancel();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_answer_in_flight_across_a_change_is_not_cached() {
        let fake = FakeAuth {
            gate: Some(Arc::new(Semaphore::new(0))),
            ..Default::default()
        };
        let (cache, shutdown) = watched(&fake);
        eventually("subscribed", || fake.subscriptions() == 1).await;
        fake.send(Ok(Target::Ready(true))).await;
        eventually("live", || cache.state().live).await;
        let epoch = cache.state().epoch;
        let pending = tokio::spawn({
            let cache = cache.clone();
            async move { cache.authenticate("k1", "", "r").await }
        });
        eventually("auth reached", || fake.calls.load(Ordering::SeqCst) == 1).await;
        fake.send(Ok(Target::KeyId("k1".into()))).await;
        eventually("change applied", || cache.state().epoch > epoch).await;
        fake.gate.as_ref().unwrap().add_permits(1);
        assert_eq!(pending.await.unwrap().unwrap().key_id, "k1");
        assert!(
            cache.state().entries.is_empty(),
            "possibly stale: not cached"
        );
        shutdown.cancel();
    }
}
