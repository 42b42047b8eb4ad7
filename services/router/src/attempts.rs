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

use crate::models::{Deployment, ModelTable};
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
pub async fn with_fallbacks<T, F, Fut>(
    models: &ModelTable,
    model: &str,
    first: Deployment,
    rest: Vec<Deployment>,
    policy: &RetryPolicy,
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
                    .plan()
                    .into_iter()
                    .map(|d| (name.to_string(), d.clone())),
            );
        }
    };
    policy.budget.deposit();
    let mut earlier: Vec<Attempt> = Vec::new();
    let mut last: Option<Failure> = None;
    let mut attempts = 0;
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
        if let Some(prev) = &last {
            if prev.deployment.provider == deployment.provider
                && prev.deployment.upstream_model == deployment.upstream_model
            {
                let wait = backoff(attempts, policy.backoff, policy.backoff_max)
                    .max(prev.err.retry_after.unwrap_or_default());
                if wait > policy.backoff_max {
                    // Not back within our patience: try whatever comes next.
                    continue;
                }
                if !policy.budget.try_withdraw() {
                    break;
                }
                tokio::time::sleep(wait).await;
            } else if !policy.budget.try_withdraw() {
                break;
            }
        }
        attempts += 1;
        let started = Instant::now();
        let outcome = call(deployment.clone()).await;
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        if let Some(prev) = last.take() {
            earlier.push(prev.attempt());
        }
        let status = match outcome {
            Ok(answer) => {
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
        None => Tried {
            // Only when the budget or max_attempts allowed no attempt at all,
            // which max_attempts >= 1 rules out; kept total for safety.
            result: Err(ApiError::new(
                ErrorCode::UpstreamUnavailable,
                "no deployment could be tried",
            )
            .to_status()),
            deployment: first_deployment,
            earlier,
        },
    }
}
