//! Admission against rate limits and budgets, exact across router replicas.
//!
//! Each key and tenant with limits is a *subject* whose counters live on one auth
//! shard (see [`shards`]). A request needs, per limited subject: one request (RPM),
//! its estimated tokens (TPM: prompt tokens counted plus `max_tokens` or
//! `router.estimate_max_tokens`), one slot (concurrency) and its estimated cost
//! (budget). The router spends that from a lease it holds for the subject; only
//! when the lease cannot cover it does it ask the shard, for the need plus room for
//! the requests waiting behind it (one request at a time per subject, so a burst
//! shares one round trip). Every report interval a background task hands back what
//! was not spent and settles finished requests to their real usage.
//!
//! Limits: docs/limits.md states the bounds (overshoot, revocation, restarts).

mod lease;
mod shards;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use switchyard_error::{ApiError, ErrorCode, RateLimitInfo};
use switchyard_grpc::{GrpcChannel, outgoing};
use switchyard_proto::auth::v1::quota_client::QuotaClient;
use switchyard_proto::auth::v1::{
    AcquireRequest, AcquireResponse, Amounts, Budget, Limits, Principal, QuotaDimension,
    QuotaSubject, ReportRequest,
};
use tokio_util::sync::CancellationToken;

use lease::{Charge, Lease};

/// How often leases are handed back and usage settled with the shards.
const REPORT_INTERVAL: Duration = Duration::from_millis(500);
/// A lease is not spent past this margin before the shard's deadline.
const LEASE_MARGIN: Duration = Duration::from_millis(250);
/// How long a freed slot may serve this router's next request before it is
/// handed back (it is handed back at the next report in any case).
const SLOT_HOLD: Duration = Duration::from_secs(1);
/// How long a shard refusal is remembered before the shard is asked again (or the
/// next report, whichever is first).
const REFUSAL_MEMORY: Duration = Duration::from_millis(250);

/// What a request is expected to use, before it runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Estimate {
    /// Prompt tokens plus the completion tokens it may produce.
    pub tokens: u64,
    /// Its cost at that many tokens, in micro-dollars.
    pub micros: i64,
}

/// One quota shard and this router's leases with it.
struct Shard {
    client: QuotaClient<GrpcChannel>,
    book: Mutex<Book>,
}

#[derive(Default)]
struct Book {
    leases: HashMap<String, Entry>,
    seq: u64,
    /// A report sent but not acknowledged: resent as is until it is.
    unacked: Option<ReportRequest>,
}

#[derive(Default)]
struct Entry {
    lease: Lease,
    /// Requests waiting to ask the shard about this subject.
    waiting: u64,
    /// One request at a time asks the shard; the rest wait and retry the lease.
    asking: Arc<tokio::sync::Mutex<()>>,
    /// The shard's last refusal, reused for a short while.
    refused: Option<(Instant, ApiError)>,
}

/// The admission controller of one router. Cheap to clone.
#[derive(Clone)]
pub struct Admission {
    inner: Arc<Inner>,
}

struct Inner {
    router_id: String,
    names: Vec<String>,
    shards: Vec<Shard>,
}

/// A subject a request is charged to.
struct Subject<'a> {
    id: String,
    limits: Option<&'a Limits>,
    budget: Option<&'a Budget>,
}

/// A [`Subject`] that owns its limits, for an ask that may outlive its request.
struct OwnedSubject {
    id: String,
    limits: Option<Limits>,
    budget: Option<Budget>,
}

fn now_sec() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Admission {
    /// A controller over `shards` (name, channel), named in order of the
    /// configured list. `router_id` identifies this process to the shards.
    pub fn new(router_id: String, shards: Vec<(String, GrpcChannel)>) -> Self {
        let names = shards.iter().map(|(n, _)| n.clone()).collect();
        let shards = shards
            .into_iter()
            .map(|(_, channel)| Shard {
                client: QuotaClient::new(channel),
                book: Mutex::new(Book::default()),
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                router_id,
                names,
                shards,
            }),
        }
    }

    /// Takes what the request needs from every limited subject of `principal`
    /// (key first, then tenant), or refuses with the first limit that is hit.
    pub async fn admit(
        &self,
        principal: &Principal,
        estimate: Estimate,
        request_id: &str,
    ) -> Result<Ticket, ApiError> {
        let subjects = [
            Subject {
                id: format!("key:{}", principal.key_id),
                limits: principal.key_limits.as_ref(),
                budget: principal.key_budget.as_ref(),
            },
            Subject {
                id: format!("tenant:{}", principal.tenant),
                limits: principal.tenant_limits.as_ref(),
                budget: principal.tenant_budget.as_ref(),
            },
        ];
        let mut ticket = Ticket {
            inner: self.inner.clone(),
            parts: Vec::new(),
            settled: false,
        };
        for subject in &subjects {
            let need = need_of(subject, estimate);
            if need == Amounts::default() {
                continue;
            }
            let shard = shards::owner(&self.inner.names, &subject.id).ok_or_else(|| {
                ApiError::new(ErrorCode::ServiceUnavailable, "no quota shard configured")
            })?;
            // On refusal, `ticket` drops and gives back what earlier subjects took.
            let charge = self.take(shard, subject, &need, request_id).await?;
            ticket.parts.push(Part {
                shard,
                subject: subject.id.clone(),
                need,
                charge,
                slot_held: need.slots > 0,
            });
        }
        Ok(ticket)
    }

    async fn take(
        &self,
        shard: usize,
        subject: &Subject<'_>,
        need: &Amounts,
        request_id: &str,
    ) -> Result<Charge, ApiError> {
        {
            let mut book = lock(&self.inner.shards[shard].book);
            let entry = book.leases.entry(subject.id.clone()).or_default();
            entry.lease.demand += 1;
            if let Some(charge) = entry.lease.take(need, Instant::now(), now_sec()) {
                return Ok(charge);
            }
            if let Some((until, err)) = &entry.refused
                && *until > Instant::now()
            {
                return Err(err.clone());
            }
        }
        // The shard charges what it grants at once: a grant the router never
        // books would stay charged (a budget spent by nobody) and never be
        // handed back. So the ask runs to its end even if the request is
        // dropped meanwhile (its caller left): polled in place, finished in a
        // task, the grant booked for later requests and nothing taken from it.
        let gone = CancellationToken::new();
        let ask = self.clone().ask(
            shard,
            OwnedSubject {
                id: subject.id.clone(),
                limits: subject.limits.cloned(),
                budget: subject.budget.cloned(),
            },
            *need,
            request_id.to_string(),
            gone.clone(),
        );
        crate::detach::Detach::new(ask, Some(gone)).await
    }

    /// The slow path of [`Admission::take`]: asks the owning shard (one request
    /// per subject at a time; the others wait their turn and usually find the
    /// grant booked), books what it grants, then takes `need` from it unless the
    /// request is `gone`.
    async fn ask(
        self,
        shard: usize,
        subject: OwnedSubject,
        need: Amounts,
        request_id: String,
        gone: CancellationToken,
    ) -> Result<Charge, ApiError> {
        let subject = Subject {
            id: subject.id,
            limits: subject.limits.as_ref(),
            budget: subject.budget.as_ref(),
        };
        let need = &need;
        let book = &self.inner.shards[shard].book;
        let asking = {
            let mut book = lock(book);
            let entry = book.leases.entry(subject.id.clone()).or_default();
            entry.waiting += 1;
            entry.asking.clone()
        };
        let _turn = asking.lock().await;
        // A grant may be eaten by concurrent fast-path takes before this request
        // takes from it: ask again, a bounded number of times.
        for _ in 0..3 {
            let (shortfall, extra) = {
                let mut book = lock(book);
                let entry = book.leases.entry(subject.id.clone()).or_default();
                // Someone else's grant may cover us now (or we left).
                if gone.is_cancelled() {
                    entry.waiting = entry.waiting.saturating_sub(1);
                    return Err(ApiError::internal());
                }
                if let Some(charge) = entry.lease.take(need, Instant::now(), now_sec()) {
                    entry.waiting = entry.waiting.saturating_sub(1);
                    return Ok(charge);
                }
                if let Some((until, err)) = &entry.refused
                    && *until > Instant::now()
                {
                    entry.waiting = entry.waiting.saturating_sub(1);
                    return Err(err.clone());
                }
                // Room for the requests queued behind this one, or for as many as
                // the last interval saw, whichever is more.
                let units = entry
                    .waiting
                    .saturating_sub(1)
                    .max(entry.lease.last_demand)
                    .max(1);
                let shortfall = lease::shortfall(need, &entry.lease.available(Instant::now()));
                (shortfall, scale(need, units))
            };
            let response = self
                .acquire(shard, &subject, shortfall, extra, &request_id)
                .await;
            let mut book = lock(book);
            let entry = book.leases.entry(subject.id.clone()).or_default();
            let response = match response {
                Ok(r) => r,
                Err(err) => {
                    entry.waiting = entry.waiting.saturating_sub(1);
                    return Err(err);
                }
            };
            if response.refused() != QuotaDimension::Unspecified {
                let err = refusal(&subject, need, &response);
                entry.refused = Some((Instant::now() + REFUSAL_MEMORY, err.clone()));
                entry.waiting = entry.waiting.saturating_sub(1);
                return Err(err);
            }
            entry.refused = None;
            let lease = Duration::from_millis(u64::from(response.lease_ms));
            entry.lease.granted(
                response.granted.unwrap_or_default(),
                Charge {
                    at: response.charged_at,
                    period: response.budget_period,
                },
                Instant::now() + lease.saturating_sub(LEASE_MARGIN),
            );
            if gone.is_cancelled() {
                // Booked for later requests; handed back by the next report if
                // none takes it.
                entry.waiting = entry.waiting.saturating_sub(1);
                return Err(ApiError::internal());
            }
            if let Some(charge) = entry.lease.take(need, Instant::now(), now_sec()) {
                entry.waiting = entry.waiting.saturating_sub(1);
                return Ok(charge);
            }
        }
        let mut book = lock(book);
        let entry = book.leases.entry(subject.id.clone()).or_default();
        entry.waiting = entry.waiting.saturating_sub(1);
        Err(ApiError::new(
            ErrorCode::RateLimited,
            "Rate limit contention; please try again.",
        )
        .with_retry_after(REPORT_INTERVAL))
    }

    async fn acquire(
        &self,
        shard: usize,
        subject: &Subject<'_>,
        need: Amounts,
        extra: Amounts,
        request_id: &str,
    ) -> Result<AcquireResponse, ApiError> {
        let call = AcquireRequest {
            router_id: self.inner.router_id.clone(),
            subject: Some(QuotaSubject {
                id: subject.id.clone(),
                limits: subject.limits.cloned(),
                budget: subject.budget.cloned(),
            }),
            need: Some(need),
            extra: Some(extra),
        };
        let mut client = self.inner.shards[shard].client.clone();
        let response = client.acquire(outgoing(call, request_id)).await.map_err(|status| {
            tracing::warn!(error = %status.message(), subject = %subject.id, "quota shard unreachable");
            ApiError::new(
                ErrorCode::ServiceUnavailable,
                "rate limits and budgets cannot be checked right now; try again shortly",
            )
            .with_retry_after(Duration::from_secs(1))
        })?;
        Ok(response.into_inner())
    }

    /// Runs the reports to every shard until `stop`, then hands everything back
    /// once more and returns.
    pub async fn run_reports(self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(REPORT_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.cancelled() => break,
            }
            self.report_all().await;
        }
        // Final hand-back; a shard that does not answer in time keeps the lease
        // charged (spend is never under-counted) and frees the slots once this
        // router stops reporting.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.report_all()).await;
    }

    async fn report_all(&self) {
        let sends = (0..self.inner.shards.len()).map(|i| self.report(i));
        futures::future::join_all(sends).await;
    }

    async fn report(&self, shard: usize) {
        let this = &self.inner.shards[shard];
        let request = {
            let mut book = lock(&this.book);
            match &book.unacked {
                Some(unacked) => unacked.clone(),
                None => {
                    if book.leases.is_empty() {
                        return;
                    }
                    let mut subjects = Vec::new();
                    for (id, entry) in &mut book.leases {
                        let lease = &mut entry.lease;
                        lease.return_all();
                        lease.last_demand = std::mem::take(&mut lease.demand);
                        entry.refused = None;
                        let pending = std::mem::take(&mut lease.pending);
                        if !pending.is_empty() {
                            subjects.extend(pending.into_reports(id));
                        }
                    }
                    book.leases
                        .retain(|_, e| !e.lease.is_idle() || e.waiting > 0);
                    book.seq += 1;
                    let request = ReportRequest {
                        router_id: self.inner.router_id.clone(),
                        seq: book.seq,
                        subjects,
                    };
                    book.unacked = Some(request.clone());
                    request
                }
            }
        };
        let mut client = this.client.clone();
        match client.report(request).await {
            Ok(_) => lock(&this.book).unacked = None,
            Err(status) => {
                tracing::warn!(error = %status.message(), shard = %self.inner.names[shard], "quota report failed; will resend");
            }
        }
    }
}

/// What `subject` counts of a request: only the dimensions it limits.
fn need_of(subject: &Subject<'_>, estimate: Estimate) -> Amounts {
    let limits = subject.limits.copied().unwrap_or_default();
    Amounts {
        requests: u64::from(limits.requests_per_minute.is_some()),
        tokens: if limits.tokens_per_minute.is_some() {
            estimate.tokens
        } else {
            0
        },
        slots: u32::from(limits.max_concurrent.is_some()),
        micros: if subject.budget.is_some() {
            estimate.micros.max(0)
        } else {
            0
        },
    }
}

fn scale(need: &Amounts, units: u64) -> Amounts {
    Amounts {
        requests: need.requests.saturating_mul(units),
        tokens: need.tokens.saturating_mul(units),
        micros: need
            .micros
            .saturating_mul(i64::try_from(units).unwrap_or(i64::MAX)),
        slots: need
            .slots
            .saturating_mul(u32::try_from(units).unwrap_or(u32::MAX)),
    }
}

/// The caller's error for a shard's refusal.
fn refusal(subject: &Subject<'_>, need: &Amounts, response: &AcquireResponse) -> ApiError {
    let who = &subject.id;
    let info = RateLimitInfo {
        limit_requests: response.requests.map(|w| w.limit),
        remaining_requests: response.requests.map(|w| w.remaining),
        reset_requests_ms: response.requests.map(|w| w.reset_ms),
        limit_tokens: response.tokens.map(|w| w.limit),
        remaining_tokens: response.tokens.map(|w| w.remaining),
        reset_tokens_ms: response.tokens.map(|w| w.reset_ms),
    };
    let retry = Duration::from_millis(response.retry_after_ms);
    let limits = subject.limits.copied().unwrap_or_default();
    let rate = |message: String| {
        ApiError::new(ErrorCode::RateLimited, message)
            .with_retry_after(retry)
            .with_rate_limit(info)
    };
    match response.refused() {
        QuotaDimension::Requests => rate(format!(
            "Rate limit reached for {who}: {} requests per minute. Please try again in {}.",
            limits.requests_per_minute.unwrap_or(0),
            seconds(retry)
        )),
        QuotaDimension::Tokens => rate(format!(
            "Rate limit reached for {who}: {} tokens per minute (this request needs {} by estimate). Please try again in {}.",
            limits.tokens_per_minute.unwrap_or(0),
            need.tokens,
            seconds(retry)
        )),
        QuotaDimension::Concurrency => rate(format!(
            "Concurrency limit reached for {who}: {} requests in flight. Please try again when one finishes.",
            limits.max_concurrent.unwrap_or(0)
        )),
        QuotaDimension::Budget | QuotaDimension::Unspecified => {
            let budget = subject.budget.copied().unwrap_or_default();
            ApiError::new(
                ErrorCode::BudgetExceeded,
                format!(
                    "Budget exceeded for {who}: {} of {} micro-dollars left this period, and this request may cost up to {}.",
                    response.budget_remaining_micros, budget.limit_micros, need.micros
                ),
            )
            .with_quota_subject(who.clone())
        }
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// A request's claim on its subjects. Settle it with the real usage when the
/// request ends; dropping it unsettled settles it as having used nothing beyond
/// its request (a refusal further on, a failure before the provider was called).
pub struct Ticket {
    inner: Arc<Inner>,
    parts: Vec<Part>,
    settled: bool,
}

struct Part {
    shard: usize,
    subject: String,
    need: Amounts,
    charge: Charge,
    slot_held: bool,
}

impl Ticket {
    /// A ticket for a request no subject limits (nothing to settle).
    pub fn unlimited(admission: &Admission) -> Self {
        Self {
            inner: admission.inner.clone(),
            parts: Vec::new(),
            settled: false,
        }
    }

    /// Frees the request's concurrency slots now (its client went away, even if
    /// the router still drains the upstream for usage).
    pub fn release_slots(&mut self) {
        for part in &mut self.parts {
            if std::mem::take(&mut part.slot_held) {
                let mut book = lock(&self.inner.shards[part.shard].book);
                let entry = book.leases.entry(part.subject.clone()).or_default();
                let now = Instant::now();
                entry.lease.release_slot(now, now + SLOT_HOLD);
            }
        }
    }

    /// Replaces the estimates by what the request really used, and frees its
    /// slots.
    pub fn settle(&mut self, tokens: u64, micros: i64) {
        if std::mem::replace(&mut self.settled, true) {
            return;
        }
        self.release_slots();
        for part in &self.parts {
            let mut book = lock(&self.inner.shards[part.shard].book);
            let entry = book.leases.entry(part.subject.clone()).or_default();
            entry.lease.settle(&part.need, part.charge, tokens, micros);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.settle(0, 0);
    }
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field(
                "subjects",
                &self.parts.iter().map(|p| &p.subject).collect::<Vec<_>>(),
            )
            .field("settled", &self.settled)
            .finish()
    }
}

#[cfg(test)]
mod tests;
