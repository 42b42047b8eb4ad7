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

use std::collections::VecDeque;
use std::future::Future;
use std::time::{Duration, Instant};

use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::metering::v1::{Attempt, Outcome};
use tonic::Status;

use crate::health::{Gate, Health, Report};
use crate::models::{Deployment, ModelTable, RouteInput};
use crate::retry::{RetryBudget, backoff};

/// The retry settings of a router.
#[derive(Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub budget: RetryBudget,
    pub backoff: Duration,
    pub backoff_max: Duration,
}

/// What trying produced: the result, the deployment that gave it, and the failed
/// attempts before it (the record's `attempts`, the final one added by the draft).
pub struct Tried<T> {
    pub result: Result<T, Status>,
    pub deployment: Deployment,
    pub earlier: Vec<Attempt>,
}

/// One failed attempt, kept until the next one decides whether it was the last.
struct Failure {
    deployment: Deployment,
    err: ApiError,
    status: Status,
    latency_us: u64,
}

impl Failure {
    fn attempt(&self) -> Attempt {
        Attempt {
            provider: self.deployment.provider.clone(),
            upstream_model: self.deployment.upstream_model.clone(),
            outcome: Outcome::Error as i32,
            error_reason: self.err.code.reason().to_string(),
            latency_us: self.latency_us,
        }
    }
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
    policy.budget.deposit();
    let mut earlier: Vec<Attempt> = Vec::new();
    let mut last: Option<Failure> = None;
    let mut attempts = 0;
    // The soonest an open breaker skipped along the way may close.
    let mut skipped: Option<Duration> = None;
    let mut rate_limited = false;
    while attempts < policy.max_attempts {
        let (current, deployment) = match queue.pop_front() {
            Some(next) => next,
            None => match fallbacks.pop_front() {
                Some(name) => {
                    enqueue(&mut queue, &name);
                    continue;
                }
                None => break,
            },
        };
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
            if prev.deployment.provider == deployment.provider
                && prev.deployment.upstream_model == deployment.upstream_model
            {
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
        let outcome = call(deployment.clone()).await;
        let elapsed = started.elapsed();
        let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        if let Some(prev) = last.take() {
            earlier.push(prev.attempt());
        }
        let status = match outcome {
            Ok(answer) => {
                running.end(Report::Answered(elapsed));
                if let Some(first_failure) = earlier.first() {
                    tracing::info!(
                        provider = %deployment.provider,
                        after = %first_failure.error_reason,
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
        running.end(if err.retryable {
            Report::Failed {
                cooldown: (err.code == ErrorCode::RateLimited)
                    .then_some(err.retry_after)
                    .flatten(),
            }
        } else {
            Report::Refused
        });
        let fallback = match err.code {
            ErrorCode::ContextLengthExceeded => models
                .get(&current)
                .and_then(|m| m.context_fallback.clone()),
            ErrorCode::ContentFiltered => models
                .get(&current)
                .and_then(|m| m.content_filter_fallback.clone()),
            _ => None,
        };
        let go_on = fallback.is_some() || err.retryable;
        if let Some(name) = &fallback {
            // A bigger or more permissive model: the same request elsewhere on
            // this model would fail the same way.
            queue.clear();
            enqueue(&mut queue, name);
        }
        last = Some(Failure {
            deployment,
            err,
            status,
            latency_us,
        });
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
