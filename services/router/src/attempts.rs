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
#[path = "attempts_tests.rs"]
mod tests;
