//! The `Quota` gRPC service: this auth replica as the shard owning some keys' and
//! tenants' counters (rate windows, concurrency slots, budget spend).
//!
//! Routers pick the owning shard by rendezvous hashing the subject id over their
//! `router.quota_shards` list, so every router asks the same shard about the same
//! subject and the counters are exact however many routers there are. What a shard
//! grants is charged before it answers, and durable (group commit) before the
//! answer leaves: a restart loses neither spend nor window. See docs/limits.md.

mod store;
mod subject;
mod window;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use switchyard_durable::GroupCommit;
use switchyard_proto::auth::v1::quota_server::{Quota, QuotaServer};
use switchyard_proto::auth::v1::{
    AcquireRequest, AcquireResponse, Budget, QuotaDimension, ReportRequest, ReportResponse,
};
use switchyard_telemetry::{metrics, names};
use tonic::{Request, Response, Status};

pub use subject::{LEASE_MS, SubjectState, period_start};

use crate::AuthError;
use crate::alerts::AlertHook;
use store::StoredRouter;

/// How often routers should report; their slots are kept while they do.
pub const REPORT_INTERVAL_MS: u32 = 500;
/// A router silent this long is presumed gone: its slots stop counting.
pub const DEAD_AFTER_MS: i64 = 10_000;
/// A router silent this long is forgotten, slots and all.
const FORGET_AFTER_MS: i64 = 600_000;

/// One shard of quota counters. Cheap to clone.
#[derive(Clone)]
pub struct QuotaShard {
    inner: Arc<Inner>,
}

struct Inner {
    commit: GroupCommit,
    tree: sled::Tree,
    state: Mutex<ShardState>,
    /// Where crossed budget alerts are pushed, if anywhere.
    alerts: Option<AlertHook>,
}

#[derive(Default)]
struct ShardState {
    subjects: HashMap<String, SubjectState>,
    routers: HashMap<String, StoredRouter>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn valid_subject(id: &str) -> bool {
    (id.starts_with("key:") || id.starts_with("tenant:")) && id.len() <= 200
}

fn check_router(id: &str) -> Result<(), AuthError> {
    if id.is_empty() || id.len() > 64 {
        return Err(AuthError::invalid("router_id", "must be 1-64 characters"));
    }
    Ok(())
}

/// The subject's state, loaded from disk on first use.
fn load<'a>(
    subjects: &'a mut HashMap<String, SubjectState>,
    tree: &sled::Tree,
    id: &str,
) -> Result<&'a mut SubjectState, AuthError> {
    if !subjects.contains_key(id) {
        let state = match tree.get(store::subject_key(id))? {
            Some(bytes) => store::decode_subject(&bytes)?,
            None => SubjectState::default(),
        };
        subjects.insert(id.to_string(), state);
    }
    subjects
        .get_mut(id)
        .ok_or(AuthError::Internal("quota subject vanished"))
}

impl ShardState {
    fn alive(routers: &HashMap<String, StoredRouter>, router: &str, now_ms: i64) -> bool {
        routers
            .get(router)
            .is_some_and(|r| now_ms - r.last_seen_ms <= DEAD_AFTER_MS)
    }

    fn forgotten(routers: &HashMap<String, StoredRouter>, router: &str, now_ms: i64) -> bool {
        routers
            .get(router)
            .is_none_or(|r| now_ms - r.last_seen_ms > FORGET_AFTER_MS)
    }
}

impl QuotaShard {
    /// The shard over tree `quota` of auth's database; state left by a previous
    /// run is picked up (spend, windows, routers' slots). Crossed budget alerts
    /// also go to `alerts` when given.
    pub fn open(db: &sled::Db, alerts: Option<AlertHook>) -> Result<Self, AuthError> {
        let tree = db.open_tree("quota")?;
        let routers = store::load_routers(&tree)?;
        Ok(Self {
            inner: Arc::new(Inner {
                commit: GroupCommit::start(db.clone(), "quota counters"),
                tree,
                state: Mutex::new(ShardState {
                    subjects: HashMap::new(),
                    routers,
                }),
                alerts,
            }),
        })
    }

    /// The generated `Quota` server.
    pub fn server(&self) -> QuotaServer<Self> {
        QuotaServer::new(self.clone())
    }

    /// Grants or refuses, then makes the grant durable before returning it.
    pub async fn acquire(&self, req: &AcquireRequest) -> Result<AcquireResponse, AuthError> {
        let subject = req.subject.as_ref().map(|s| s.id.as_str()).unwrap_or("");
        if !valid_subject(subject) {
            return Err(AuthError::invalid(
                "subject.id",
                "must be `key:<id>` or `tenant:<name>`",
            ));
        }
        check_router(&req.router_id)?;
        let now = now_ms();
        let response = {
            let mut guard = self.state()?;
            let state = &mut *guard;
            let router = state.routers.entry(req.router_id.clone()).or_default();
            router.last_seen_ms = now;
            let tree = &self.inner.tree;
            let entry = load(&mut state.subjects, tree, subject)?;
            let spec = req.subject.as_ref();
            let routers = &state.routers;
            entry.forget_routers(|r| ShardState::forgotten(routers, r, now));
            let budget = spec.and_then(|s| s.budget.as_ref());
            let response = entry.acquire(
                spec.and_then(|s| s.limits.as_ref()),
                budget,
                &req.router_id,
                &req.need.unwrap_or_default(),
                &req.extra.unwrap_or_default(),
                now,
                |r| ShardState::alive(routers, r, now),
            );
            let refused = response.refused();
            if refused != QuotaDimension::Unspecified {
                let dimension = match refused {
                    QuotaDimension::Requests => "requests",
                    QuotaDimension::Tokens => "tokens",
                    QuotaDimension::Concurrency => "concurrency",
                    _ => "budget",
                };
                metrics::counter!(names::QUOTA_REFUSALS, "dimension" => dimension).increment(1);
            }
            let need_micros = req.need.map_or(0, |n| n.micros);
            let noted = self.announce(subject, entry, budget, &response, need_micros, now);
            // A grant, or a refusal newly noted, is written (and the grant made
            // durable below) before the answer.
            if refused == QuotaDimension::Unspecified || noted {
                tree.insert(
                    store::subject_key(subject),
                    store::encode_subject(entry, now.div_euclid(1000)),
                )?;
            }
            response
        };
        if response.refused() == QuotaDimension::Unspecified {
            self.durable().await?;
        }
        Ok(response)
    }

    /// Logs, counts and (with a webhook) posts what `response` says of `subject`'s
    /// budget: its soft alert crossed, or the period's first refusal for it,
    /// which is noted in `entry` so it is announced once. Whether it noted one.
    fn announce(
        &self,
        subject: &str,
        entry: &mut SubjectState,
        budget: Option<&Budget>,
        response: &AcquireResponse,
        need_micros: i64,
        now_ms: i64,
    ) -> bool {
        let now = now_ms.div_euclid(1000);
        let hook = self.inner.alerts.as_ref().zip(budget);
        if response.budget_alert {
            let kind = if subject.starts_with("key:") {
                "key"
            } else {
                "tenant"
            };
            tracing::warn!(
                subject,
                spent_micros = entry.spent,
                "budget soft-alert threshold crossed"
            );
            metrics::counter!(names::BUDGET_ALERTS, "subject_kind" => kind).increment(1);
            if let Some((hook, budget)) = hook {
                hook.budget_crossed(subject, budget, entry.spent, now);
            }
        }
        if response.refused() != QuotaDimension::Budget
            || entry.exceeded_noted == Some(entry.budget_period)
        {
            return false;
        }
        // Noted on disk by the caller, so a restart does not announce it again.
        entry.exceeded_noted = Some(entry.budget_period);
        tracing::warn!(
            subject,
            spent_micros = entry.spent,
            "budget exceeded: requests refused until the period ends"
        );
        if let Some((hook, budget)) = hook {
            hook.budget_exceeded(subject, budget, entry.spent, need_micros, now);
        }
        true
    }

    /// Applies a router's report once (by sequence number) and makes it durable.
    pub async fn report(&self, req: &ReportRequest) -> Result<ReportResponse, AuthError> {
        check_router(&req.router_id)?;
        if let Some(bad) = req.subjects.iter().find(|s| !valid_subject(&s.subject_id)) {
            return Err(AuthError::invalid(
                "subjects.subject_id",
                format!("`{}` is not `key:<id>` or `tenant:<name>`", bad.subject_id),
            ));
        }
        let now = now_ms();
        {
            let mut guard = self.state()?;
            let state = &mut *guard;
            let tree = &self.inner.tree;
            let mut router = state
                .routers
                .get(&req.router_id)
                .copied()
                .unwrap_or_default();
            router.last_seen_ms = now;
            let mut batch = sled::Batch::default();
            if req.seq > router.last_seq {
                router.last_seq = req.seq;
                for report in &req.subjects {
                    let entry = load(&mut state.subjects, tree, &report.subject_id)?;
                    entry.apply(&req.router_id, report, now);
                    batch.insert(
                        store::subject_key(&report.subject_id),
                        store::encode_subject(entry, now.div_euclid(1000)),
                    );
                }
            }
            batch.insert(
                store::router_key(&req.router_id),
                prost::Message::encode_to_vec(&router),
            );
            tree.apply_batch(batch)?;
            state.routers.insert(req.router_id.clone(), router);
        }
        self.durable().await?;
        Ok(ReportResponse {
            report_interval_ms: REPORT_INTERVAL_MS,
        })
    }

    fn state(&self) -> Result<std::sync::MutexGuard<'_, ShardState>, AuthError> {
        self.inner
            .state
            .lock()
            .map_err(|_| AuthError::Internal("quota state poisoned"))
    }

    async fn durable(&self) -> Result<(), AuthError> {
        self.inner
            .commit
            .durable()
            .await
            .map_err(|_| AuthError::Internal("quota flusher stopped"))
    }

    /// Makes everything durable (shutdown).
    pub async fn flush(&self) -> Result<(), AuthError> {
        Ok(self.inner.commit.flush().await?)
    }
}

#[tonic::async_trait]
impl Quota for QuotaShard {
    async fn acquire(
        &self,
        request: Request<AcquireRequest>,
    ) -> Result<Response<AcquireResponse>, Status> {
        Ok(Response::new(
            QuotaShard::acquire(self, request.get_ref()).await?,
        ))
    }

    async fn report(
        &self,
        request: Request<ReportRequest>,
    ) -> Result<Response<ReportResponse>, Status> {
        Ok(Response::new(
            QuotaShard::report(self, request.get_ref()).await?,
        ))
    }
}
