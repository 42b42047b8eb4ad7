//! Trying a request's deployments, then its fallback models, until one answers.
//!
//! Order: the model's plan (the strategy's pick, then its other deployments), then
//! each model in `fallbacks` with its own plan. A failure moves on only when a
//! retry may help (`ApiError::retryable`: unavailable, rate limited, timed out,
//! connection errors); a prompt too long for the model moves to its
//! `context_fallback`, refused content to its `content_filter_fallback`, and any
//! other failure is the answer. At most `router.max_attempts` attempts are made,
//! and every attempt after the first needs the router's retry budget. Trying the
//! same deployment again waits a jittered backoff, or the provider's
//! `retry-after` if longer; one longer than `router.retry_backoff_max_ms` skips
//! that deployment instead of holding the caller.
//!
//! Hedging (`[[models]] hedge_after_ms`, opt-in per model): when an attempt on
//! such a model has not answered (its first token, for streams) within the delay,
//! one hedge attempt starts on the next deployment in line (the plan, then the
//! fallback models'; open breakers and the running deployment itself are passed
//! over). The first to answer wins and the other is dropped, which cancels its
//! call; a failure of one waits for the other, and when both fail the loop goes
//! on from the one that failed last, under the usual rules. A request hedges at
//! most once; the hedge is an attempt (it counts toward `max_attempts`) and a
//! retry (it needs the retry budget: none left, no hedge). The loser is listed as
//! a `hedged`, CANCELLED attempt, billed its prompt by [`crate::record`].

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::metering::v1::{Attempt, Outcome};
use switchyard_telemetry::{metrics, names};
use tokio::time::Instant;
use tonic::Status;

use crate::health::{Gate, Health, Report};
use crate::models::{Deployment, ModelTable, RouteInput};
use crate::record::Earlier;
use crate::retry::{RetryBudget, backoff};

/// The retry settings of a router.
#[derive(Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub budget: RetryBudget,
    pub backoff: Duration,
    pub backoff_max: Duration,
}

/// What trying produced: the result, the deployment that gave it, and the
/// attempts before it (the record's `attempts`, the final one added by the
/// draft): failed ones, and a hedge race's cancelled loser.
pub struct Tried<T> {
    pub result: Result<T, Status>,
    pub deployment: Deployment,
    pub earlier: Vec<Earlier>,
}

/// One failed attempt, kept until the next one decides whether it was the last.
struct Failure {
    deployment: Deployment,
    err: ApiError,
    status: Status,
    latency_us: u64,
    /// The request's time it accounts for (see [`Earlier::serial_us`]).
    serial_us: u64,
}

impl Failure {
    fn attempt(&self) -> Earlier {
        Earlier {
            attempt: Attempt {
                provider: self.deployment.provider.clone(),
                upstream_model: self.deployment.upstream_model.clone(),
                outcome: Outcome::Error as i32,
                error_reason: self.err.code.reason().to_string(),
                latency_us: self.latency_us,
                ..Attempt::default()
            },
            price: self.deployment.price,
            serial_us: self.serial_us,
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn same(a: &Deployment, b: &Deployment) -> bool {
    a.provider == b.provider && a.upstream_model == b.upstream_model
}

/// What an attempt's failure tells the deployment's health.
fn report(err: &ApiError) -> Report {
    if err.retryable {
        Report::Failed {
            cooldown: (err.code == ErrorCode::RateLimited)
                .then_some(err.retry_after)
                .flatten(),
        }
    } else {
        Report::Refused
    }
}

/// The loser of a hedge race: cancelled when the other attempt answered.
fn cancelled(deployment: &Deployment, latency: Duration, serial: Duration) -> Earlier {
    Earlier {
        attempt: Attempt {
            provider: deployment.provider.clone(),
            upstream_model: deployment.upstream_model.clone(),
            outcome: Outcome::Cancelled as i32,
            latency_us: micros(latency),
            hedged: true,
            ..Attempt::default()
        },
        price: deployment.price,
        serial_us: micros(serial),
    }
}

/// One side of a hedge race.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// The attempt that was running when the hedge started.
    First,
    /// The hedge.
    Hedge,
}

/// Runs `call` on `first`, then along the plan, until an answer or a failure no
/// other deployment can help with.
#[allow(clippy::too_many_arguments)]
pub async fn with_fallbacks<T, F, Fut>(
    models: &ModelTable,
    model: &str,
    first: Deployment,
    rest: Vec<Deployment>,
    policy: &RetryPolicy,
    health: &Health,
    route: RouteInput<'_>,
    mut call: F,
) -> Tried<T>
where
    F: FnMut(Deployment) -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let first_deployment = first.clone();
    let mut queue: VecDeque<(String, Deployment)> = std::iter::once(first)
        .chain(rest)
        .map(|d| (model.to_string(), d))
        .collect();
    let mut fallbacks: VecDeque<String> = models
        .get(model)
        .map(|m| m.fallbacks.iter().cloned().collect())
        .unwrap_or_default();
    let enqueue = |queue: &mut VecDeque<(String, Deployment)>, name: &str| {
        if let Some(entry) = models.get(name) {
            queue.extend(
                entry
                    .plan(health, route)
                    .into_iter()
                    .map(|d| (name.to_string(), d.clone())),
            );
        }
    };
    // Where in the queue a hedge of `running` would go, and its gate: the first
    // deployment in line other than `running` whose breaker lets it through (open
    // ones are dropped, as the loop would skip them). Fallback models are planned
    // into the queue as needed.
    let hedge_slot = |queue: &mut VecDeque<(String, Deployment)>,
                      fallbacks: &mut VecDeque<String>,
                      running: &Deployment| {
        let mut i = 0;
        loop {
            let Some((_, next)) = queue.get(i) else {
                let name = fallbacks.pop_front()?;
                enqueue(queue, &name);
                continue;
            };
            if same(next, running) || route.too_big_for(next) {
                i += 1;
                continue;
            }
            match health.gate(next) {
                Gate::Open { .. } => {
                    queue.remove(i);
                }
                gate => return Some((i, gate)),
            }
        }
    };
    // What a failure of an attempt on `current` does to the plan: a bigger or
    // more permissive model replaces what is left of it (the same request
    // elsewhere on this model would fail the same way). Whether trying on may help.
    let replan = |queue: &mut VecDeque<(String, Deployment)>, current: &str, err: &ApiError| {
        let fallback = match err.code {
            ErrorCode::ContextLengthExceeded => {
                models.get(current).and_then(|m| m.context_fallback.clone())
            }
            ErrorCode::ContentFiltered => models
                .get(current)
                .and_then(|m| m.content_filter_fallback.clone()),
            _ => None,
        };
        if let Some(name) = &fallback {
            queue.clear();
            enqueue(queue, name);
        }
        fallback.is_some() || err.retryable
    };
    policy.budget.deposit();
    let mut earlier: Vec<Earlier> = Vec::new();
    let mut last: Option<Failure> = None;
    let mut attempts = 0;
    // The soonest an open breaker skipped along the way may close.
    let mut skipped: Option<Duration> = None;
    let mut rate_limited = false;
    // At most one hedge per request.
    let mut hedged = false;
    // Deployments whose context window the request cannot fit are skipped
    // without a call; their model's `context_fallback` comes once the plan is
    // through, before the `fallbacks`.
    let mut too_long = false;
    let mut context_next: Option<String> = None;
    while attempts < policy.max_attempts {
        let (current, deployment) = match queue.pop_front() {
            Some(next) => next,
            None => match context_next.take().or_else(|| fallbacks.pop_front()) {
                Some(name) => {
                    enqueue(&mut queue, &name);
                    continue;
                }
                None => break,
            },
        };
        if route.too_big_for(&deployment) {
            too_long = true;
            if context_next.is_none() {
                context_next = models
                    .get(&current)
                    .and_then(|m| m.context_fallback.clone())
                    .filter(|name| *name != current);
            }
            continue;
        }
        let gate = health.gate(&deployment);
        if let Gate::Open {
            retry_in,
            rate_limited: asked,
        } = gate
        {
            skipped = Some(skipped.map_or(retry_in, |s| s.min(retry_in)));
            rate_limited |= asked;
            continue;
        }
        // A probe that is not sent after all must be handed back, or the
        // deployment would stay out for good.
        let give_back = |health: &Health| {
            if gate == Gate::Probe {
                health.release_probe(&deployment);
            }
        };
        if let Some(prev) = &last {
            if same(&prev.deployment, &deployment) {
                let wait = backoff(attempts, policy.backoff, policy.backoff_max)
                    .max(prev.err.retry_after.unwrap_or_default());
                if wait > policy.backoff_max {
                    // Not back within our patience: try whatever comes next.
                    give_back(health);
                    continue;
                }
                if !policy.budget.try_withdraw() {
                    give_back(health);
                    break;
                }
                tokio::time::sleep(wait).await;
            } else if !policy.budget.try_withdraw() {
                give_back(health);
                break;
            }
        }
        attempts += 1;
        let started = Instant::now();
        let running = health.begin(&deployment);
        let mut attempt = std::pin::pin!(call(deployment.clone()));
        let hedge_after = models
            .get(&current)
            .and_then(|m| m.hedge_after)
            .filter(|_| !hedged);
        let early = match hedge_after {
            Some(delay) => tokio::time::timeout(delay, &mut attempt).await.ok(),
            None => Some((&mut attempt).await),
        };
        // Past the hedge delay: a second attempt, if one is in line and allowed.
        let slot = match early {
            None if attempts < policy.max_attempts => {
                hedge_slot(&mut queue, &mut fallbacks, &deployment)
            }
            _ => None,
        };
        let hedge = slot.and_then(|(i, gate)| {
            if policy.budget.try_withdraw() {
                return queue.remove(i);
            }
            // No budget, no hedge: the deployment stays in line.
            if gate == Gate::Probe
                && let Some((_, d)) = queue.get(i)
            {
                health.release_probe(d);
            }
            None
        });
        let Some(hedge) = hedge else {
            // One attempt: as it ends.
            let outcome = match early {
                Some(outcome) => outcome,
                None => attempt.await,
            };
            let elapsed = started.elapsed();
            if let Some(prev) = last.take() {
                earlier.push(prev.attempt());
            }
            let status = match outcome {
                Ok(answer) => {
                    running.end(Report::Answered(elapsed));
                    if let Some(first_failure) = earlier.first() {
                        tracing::info!(
                            provider = %deployment.provider,
                            after = %first_failure.attempt.error_reason,
                            attempts,
                            "served after a fallback"
                        );
                    }
                    return Tried {
                        result: Ok(answer),
                        deployment,
                        earlier,
                    };
                }
                Err(status) => status,
            };
            let err = ApiError::from_status(&status);
            running.end(report(&err));
            let go_on = replan(&mut queue, &current, &err);
            last = Some(Failure {
                deployment,
                err,
                status,
                latency_us: micros(elapsed),
                serial_us: micros(elapsed),
            });
            if !go_on {
                break;
            }
            continue;
        };
        // A hedge race: the first answer wins, the other attempt is dropped.
        let (hedge_current, hedge) = hedge;
        hedged = true;
        attempts += 1;
        tracing::debug!(
            model,
            provider = %deployment.provider,
            upstream_model = %deployment.upstream_model,
            hedge_provider = %hedge.provider,
            hedge_upstream_model = %hedge.upstream_model,
            after_ms = hedge_after.map_or(0, |d| d.as_millis() as u64),
            "no answer yet: hedging on the next deployment"
        );
        let hedge_started = Instant::now();
        let mut running_first = Some(running);
        let mut running_hedge = Some(health.begin(&hedge));
        let mut second = std::pin::pin!(call(hedge.clone()));
        let count = |outcome: &'static str| {
            metrics::counter!(names::HEDGES, "model" => model.to_string(), "outcome" => outcome)
                .increment(1);
        };
        // The first side's failure, while the other still runs.
        let mut failed: Option<(Side, Failure)> = None;
        // The first attempt's share of the request's time: until the hedge began.
        let first_serial = hedge_started.duration_since(started);
        let go_on = loop {
            let (side, outcome) = tokio::select! {
                biased;
                outcome = &mut attempt, if running_first.is_some() => (Side::First, outcome),
                outcome = &mut second, if running_hedge.is_some() => (Side::Hedge, outcome),
            };
            let now = Instant::now();
            let (this, this_started, this_running, this_current) = match side {
                Side::First => (&deployment, started, running_first.take(), &current),
                Side::Hedge => (&hedge, hedge_started, running_hedge.take(), &hedge_current),
            };
            let elapsed = now.duration_since(this_started);
            match outcome {
                Ok(answer) => {
                    if let Some(running) = this_running {
                        running.end(Report::Answered(elapsed));
                    }
                    count(if side == Side::Hedge { "won" } else { "lost" });
                    if let Some(prev) = last.take() {
                        earlier.push(prev.attempt());
                    }
                    match failed.take() {
                        // The other side failed earlier in the race. A failed
                        // hedge overlapped the first attempt, whose answer's
                        // latency counts from its own start.
                        Some((other, mut failure)) => {
                            if other == Side::Hedge {
                                failure.serial_us = 0;
                            }
                            earlier.push(failure.attempt());
                        }
                        // The other side is still running: it lost.
                        None => {
                            let (loser, loser_started, serial) = match side {
                                Side::First => (&hedge, hedge_started, Duration::ZERO),
                                Side::Hedge => (&deployment, started, first_serial),
                            };
                            earlier.push(cancelled(
                                loser,
                                now.duration_since(loser_started),
                                serial,
                            ));
                            // Dropped: the loser's call is cancelled and its
                            // deployment's health only sees it end.
                            drop(running_first.take());
                            drop(running_hedge.take());
                        }
                    }
                    return Tried {
                        result: Ok(answer),
                        deployment: this.clone(),
                        earlier,
                    };
                }
                Err(status) => {
                    let err = ApiError::from_status(&status);
                    if let Some(running) = this_running {
                        running.end(report(&err));
                    }
                    let go_on = replan(&mut queue, this_current, &err);
                    let failure = Failure {
                        deployment: this.clone(),
                        err,
                        status,
                        latency_us: micros(elapsed),
                        serial_us: micros(match side {
                            Side::First => first_serial,
                            Side::Hedge => elapsed,
                        }),
                    };
                    let Some((first_side, mut first_failure)) = failed.take() else {
                        // Wait for the other side.
                        failed = Some((side, failure));
                        continue;
                    };
                    // Both failed: on from the one that failed last.
                    count("lost");
                    if first_side == Side::Hedge {
                        // The hedge ended first; the first attempt kept the
                        // request waiting until now.
                        first_failure.serial_us = micros(now.duration_since(hedge_started));
                    }
                    if let Some(prev) = last.take() {
                        earlier.push(prev.attempt());
                    }
                    earlier.push(first_failure.attempt());
                    last = Some(failure);
                    break go_on;
                }
            }
        };
        if !go_on {
            break;
        }
    }
    match last {
        Some(failure) => Tried {
            result: Err(failure.status),
            deployment: failure.deployment,
            earlier,
        },
        // Nothing was tried, as no context window fits the request.
        None if too_long => Tried {
            result: Err(ApiError::new(
                ErrorCode::ContextLengthExceeded,
                format!(
                    "This request needs {} tokens (prompt plus max_tokens), more than the \
                     context window of every deployment of `{model}`.",
                    route.need.unwrap_or_default()
                ),
            )
            .with_param("messages")
            .to_status()),
            deployment: first_deployment,
            earlier,
        },
        // Nothing was tried: every deployment's breaker is open. Answer at once
        // rather than pile requests onto failing providers.
        None => {
            let retry_in = skipped.unwrap_or_default();
            let secs = retry_in.as_secs().max(1);
            // A provider that asked for a pause is a rate limit the caller can wait
            // out (429); failing ones are unavailable (503).
            let mut err = if rate_limited {
                ApiError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "the providers of `{model}` are rate limiting requests; retry in {secs}s"
                    ),
                )
            } else {
                ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    format!(
                        "every deployment of `{model}` is failing and cooling down; retry in {secs}s"
                    ),
                )
            };
            if !retry_in.is_zero() {
                err = err.with_retry_after(retry_in);
            }
            Tried {
                result: Err(err.to_status()),
                deployment: first_deployment,
                earlier,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Deployments `a`, `b`, `c` (priced) of model `m`, tried in that order, and
    /// the extra models in `more`.
    fn table(m_extra: &str, more: &str) -> ModelTable {
        let price = r#"price = { input_per_million = "1", output_per_million = "2" }"#;
        let config = switchyard_config::load_str(&format!(
            r#"
version = 1
[[providers]]
name = "p"
kind = "mock"
[[models]]
name = "m"
strategy = "ordered"
{m_extra}
deployments = [{{ provider = "p", model = "a", {price} }}, {{ provider = "p", model = "b", {price} }}, {{ provider = "p", model = "c", {price} }}]
{more}
"#
        ))
        .unwrap();
        let prices = crate::pricing::resolve(&config).unwrap();
        ModelTable::from_config(&config, &prices)
    }

    /// Up to three attempts; `free` retries a second, nothing earned.
    fn policy(free: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            budget: RetryBudget::new(0, free),
            backoff: Duration::from_secs(1),
            backoff_max: Duration::from_secs(2),
        }
    }

    fn health() -> Health {
        Health::new(5, Duration::from_secs(10))
    }

    /// How a fake provider answers a call: after this long, this way.
    #[derive(Clone)]
    struct Step {
        after: Duration,
        fails: Option<ApiError>,
    }

    fn answers(ms: u64) -> Step {
        Step {
            after: Duration::from_millis(ms),
            fails: None,
        }
    }

    fn fails(ms: u64) -> Step {
        Step {
            after: Duration::from_millis(ms),
            fails: Some(ApiError::new(ErrorCode::UpstreamUnavailable, "down")),
        }
    }

    type Answer = Pin<Box<dyn Future<Output = Result<String, Status>> + Send>>;

    /// A fake provider: each call on upstream model `x` takes the next step
    /// scripted for `x` and answers with `x`. The calls are logged, in order.
    struct Fake {
        steps: Arc<Mutex<HashMap<String, VecDeque<Step>>>>,
        calls: Arc<Mutex<Vec<String>>>,
    }

    impl Fake {
        fn new(script: &[(&str, Step)]) -> Self {
            let mut steps: HashMap<String, VecDeque<Step>> = HashMap::new();
            for (model, step) in script {
                steps
                    .entry((*model).to_string())
                    .or_default()
                    .push_back(step.clone());
            }
            Self {
                steps: Arc::new(Mutex::new(steps)),
                calls: Arc::default(),
            }
        }

        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }

        fn call(&self) -> impl FnMut(Deployment) -> Answer + use<> {
            let (steps, calls) = (self.steps.clone(), self.calls.clone());
            move |d: Deployment| {
                let model = d.upstream_model;
                calls.lock().unwrap().push(model.clone());
                let step = steps
                    .lock()
                    .unwrap()
                    .get_mut(&model)
                    .and_then(VecDeque::pop_front)
                    .unwrap_or_else(|| panic!("no call scripted for {model}"));
                Box::pin(async move {
                    tokio::time::sleep(step.after).await;
                    match step.fails {
                        Some(err) => Err(err.to_status()),
                        None => Ok(model),
                    }
                })
            }
        }
    }

    /// Tries model `m`'s plan with the fake provider.
    async fn run(
        models: &ModelTable,
        policy: &RetryPolicy,
        health: &Health,
        fake: &Fake,
    ) -> Tried<String> {
        let mut plan: VecDeque<Deployment> = models
            .get("m")
            .unwrap()
            .plan(health, RouteInput::none())
            .into_iter()
            .cloned()
            .collect();
        let first = plan.pop_front().unwrap();
        with_fallbacks(
            models,
            "m",
            first,
            plan.into(),
            policy,
            health,
            RouteInput::none(),
            fake.call(),
        )
        .await
    }

    /// (upstream model, outcome, hedged) of each earlier attempt.
    fn listed(earlier: &[Earlier]) -> Vec<(String, Outcome, bool)> {
        earlier
            .iter()
            .map(|e| {
                (
                    e.attempt.upstream_model.clone(),
                    Outcome::try_from(e.attempt.outcome).unwrap(),
                    e.attempt.hedged,
                )
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_attempt_is_hedged_after_the_delay_and_the_hedge_wins() {
        let models = table("hedge_after_ms = 100", "");
        let (policy, health) = (policy(1), health());
        let fake = Fake::new(&[("a", answers(1_000)), ("b", answers(10))]);
        let mut tried = std::pin::pin!(run(&models, &policy, &health, &fake));
        // Before the delay only the first attempt runs.
        assert!(
            tokio::time::timeout(Duration::from_millis(99), &mut tried)
                .await
                .is_err()
        );
        assert_eq!(fake.calls(), ["a"]);
        let tried = tried.await;
        assert_eq!(tried.result.unwrap(), "b");
        assert_eq!(tried.deployment.upstream_model, "b");
        assert_eq!(fake.calls(), ["a", "b"]);
        assert_eq!(
            listed(&tried.earlier),
            [("a".into(), Outcome::Cancelled, true)]
        );
        assert_eq!(
            tried.earlier[0].price,
            models.get("m").unwrap().deployments[0].price
        );
        // The loser was abandoned, not failed; the hedge took the one free retry.
        let a = &models.get("m").unwrap().deployments[0];
        assert_eq!(health.in_flight(a), 0);
        assert_eq!(health.gate(a), Gate::Closed);
        assert!(!policy.budget.try_withdraw());
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_attempt_can_still_win_the_race() {
        let models = table("hedge_after_ms = 100", "");
        let (policy, health) = (policy(1), health());
        let fake = Fake::new(&[("a", answers(150)), ("b", answers(1_000))]);
        let tried = run(&models, &policy, &health, &fake).await;
        assert_eq!(tried.result.unwrap(), "a");
        assert_eq!(
            listed(&tried.earlier),
            [("b".into(), Outcome::Cancelled, true)]
        );
        assert_eq!(
            health.in_flight(&models.get("m").unwrap().deployments[1]),
            0
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_hedge_when_the_answer_comes_before_the_delay() {
        let models = table("hedge_after_ms = 100", "");
        let (policy, health) = (policy(10), health());
        let fake = Fake::new(&[("a", answers(50))]);
        let tried = run(&models, &policy, &health, &fake).await;
        assert_eq!(tried.result.unwrap(), "a");
        assert_eq!(fake.calls(), ["a"]);
        assert!(tried.earlier.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn no_hedge_without_the_option_or_the_retry_budget() {
        // Not configured: the slow attempt is simply awaited.
        let models = table("", "");
        let health = health();
        let fake = Fake::new(&[("a", answers(1_000))]);
        let tried = run(&models, &policy(10), &health, &fake).await;
        assert_eq!(tried.result.unwrap(), "a");
        assert_eq!(fake.calls(), ["a"]);
        // Configured, but the retry budget is empty.
        let models = table("hedge_after_ms = 100", "");
        let fake = Fake::new(&[("a", answers(1_000))]);
        let tried = run(&models, &policy(0), &health, &fake).await;
        assert_eq!(tried.result.unwrap(), "a");
        assert_eq!(fake.calls(), ["a"]);
        assert!(tried.earlier.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn no_hedge_past_max_attempts() {
        let models = table("hedge_after_ms = 100", "");
        let policy = RetryPolicy {
            max_attempts: 1,
            ..policy(10)
        };
        let health = health();
        let fake = Fake::new(&[("a", answers(1_000))]);
        let tried = run(&models, &policy, &health, &fake).await;
        assert_eq!(tried.result.unwrap(), "a");
        assert_eq!(fake.calls(), ["a"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_in_the_race_waits_for_the_other_attempt() {
        let models = table("hedge_after_ms = 100", "");
        let health = health();
        // The hedge fails first: the first attempt's answer is still taken.
        let policy = policy(10);
        let fake = Fake::new(&[("a", answers(1_000)), ("b", fails(10))]);
        let tried = run(&models, &policy, &health, &fake).await;
        assert_eq!(tried.result.unwrap(), "a");
        assert_eq!(fake.calls(), ["a", "b"]);
        assert_eq!(
            listed(&tried.earlier),
            [("b".into(), Outcome::Error, false)]
        );
        // The first attempt fails while the hedge runs: the hedge answers.
        let fake = Fake::new(&[("a", fails(200)), ("b", answers(500))]);
        let tried = run(&models, &policy, &health, &fake).await;
        assert_eq!(tried.result.unwrap(), "b");
        assert_eq!(fake.calls(), ["a", "b"]);
        assert_eq!(
            listed(&tried.earlier),
            [("a".into(), Outcome::Error, false)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn when_both_fail_the_plan_goes_on_without_another_hedge() {
        let models = table("hedge_after_ms = 100", "");
        let (policy, health) = (policy(10), health());
        let fake = Fake::new(&[("a", fails(300)), ("b", fails(50)), ("c", answers(1_000))]);
        let tried = run(&models, &policy, &health, &fake).await;
        assert_eq!(tried.result.unwrap(), "c");
        // c ran alone, though slow: one hedge per request.
        assert_eq!(fake.calls(), ["a", "b", "c"]);
        assert_eq!(
            listed(&tried.earlier),
            [
                ("b".into(), Outcome::Error, false),
                ("a".into(), Outcome::Error, false)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hedge_passes_over_open_breakers_and_reaches_fallback_models() {
        let models = table(
            "hedge_after_ms = 100\nfallbacks = [\"f\"]",
            "[[models]]\nname = \"f\"\ndeployments = [{ provider = \"p\", model = \"d\" }]",
        );
        let health = Health::new(1, Duration::from_secs(60));
        let m = models.get("m").unwrap();
        // b and c are cooling down.
        for d in &m.deployments[1..] {
            health.begin(d).end(Report::Failed { cooldown: None });
        }
        let policy = policy(10);
        let fake = Fake::new(&[("a", answers(1_000)), ("d", answers(10))]);
        let tried = run(&models, &policy, &health, &fake).await;
        assert_eq!(tried.result.unwrap(), "d");
        assert_eq!(fake.calls(), ["a", "d"]);
        assert_eq!(
            listed(&tried.earlier),
            [("a".into(), Outcome::Cancelled, true)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_same_deployment_is_retried_after_a_backoff() {
        // `m` fails over to `again`, served by the same deployment `c`.
        let models = table(
            "fallbacks = [\"again\"]",
            "[[models]]\nname = \"again\"\ndeployments = [{ provider = \"p\", model = \"c\" }]",
        );
        let health = health();
        let policy = RetryPolicy {
            max_attempts: 4,
            ..policy(10)
        };
        // a, b and c fail at once; `again`'s c answers.
        let fake = Fake::new(&[
            ("a", fails(0)),
            ("b", fails(0)),
            ("c", fails(0)),
            ("c", answers(0)),
        ]);
        let mut tried = std::pin::pin!(run(&models, &policy, &health, &fake));
        // The backoff before the fourth attempt is at least half of 1 s doubled
        // twice, capped at 2 s: nothing more is sent for a second.
        assert!(
            tokio::time::timeout(Duration::from_millis(900), &mut tried)
                .await
                .is_err()
        );
        assert_eq!(fake.calls(), ["a", "b", "c"]);
        let tried = tried.await;
        assert_eq!(tried.result.unwrap(), "c");
        assert_eq!(fake.calls(), ["a", "b", "c", "c"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_beyond_the_backoff_max_skips_the_deployment() {
        let models = table(
            "fallbacks = [\"again\", \"other\"]",
            "[[models]]\nname = \"again\"\ndeployments = [{ provider = \"p\", model = \"c\" }]\n\
             [[models]]\nname = \"other\"\ndeployments = [{ provider = \"p\", model = \"d\" }]",
        );
        let health = health();
        // a and b fail; c asks for 5 s (more than the 2 s backoff max).
        let fake = Fake::new(&[
            ("a", fails(0)),
            ("b", fails(0)),
            (
                "c",
                Step {
                    after: Duration::ZERO,
                    fails: Some(
                        ApiError::new(ErrorCode::UpstreamUnavailable, "busy")
                            .with_retry_after(Duration::from_secs(5)),
                    ),
                },
            ),
            ("d", answers(0)),
        ]);
        let policy = RetryPolicy {
            max_attempts: 4,
            ..policy(10)
        };
        // `again` (c once more) is skipped at once, not waited for.
        let tried = tokio::time::timeout(
            Duration::from_secs(1),
            run(&models, &policy, &health, &fake),
        )
        .await
        .unwrap();
        assert_eq!(tried.result.unwrap(), "d");
        assert_eq!(fake.calls(), ["a", "b", "c", "d"]);
    }
}
