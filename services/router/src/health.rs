//! What one router knows about each deployment's health: its circuit breaker,
//! requests in flight and recent latency. Shared by all requests of the router;
//! the strategies read it and every attempt reports to it.
//!
//! Breaker: `router.breaker_failures` consecutive retryable failures (or one 429
//! with a `retry-after`) open it; requests then skip the deployment until the
//! cooldown (`router.breaker_cooldown_ms`, or the provider's longer `retry-after`)
//! ends. The next request after that is a probe: while it runs, others still skip
//! the deployment; its success closes the breaker, its failure opens it again. Any
//! answer from the provider, even a refusal of the request, counts as the
//! deployment being up.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use switchyard_telemetry::{metrics, names};

use crate::models::Deployment;

/// Weight of the newest latency in the moving average.
const EWMA_ALPHA: f64 = 0.2;

/// Whether a deployment may be tried now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Closed breaker: go.
    Closed,
    /// Cooldown over: this request is the probe.
    Probe,
    /// Open: skip it; it may be back in this long. `rate_limited` when the
    /// provider asked for the pause (a 429 with `retry-after`).
    Open {
        retry_in: Duration,
        rate_limited: bool,
    },
}

/// How an attempt ended, as far as the deployment's health goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// An answer, after this long.
    Answered(Duration),
    /// The provider refused this request (it is up; the request was at fault).
    Refused,
    /// Down, overloaded or unreachable; `cooldown` when the provider said for how
    /// long (a 429's `retry-after`).
    Failed { cooldown: Option<Duration> },
}

#[derive(Debug, Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    /// The provider asked for the pause (a 429), rather than failing.
    rate_limited: bool,
    probing: bool,
    latency_us: Option<f64>,
    in_flight: u32,
}

/// An attempt in progress (see [`Health::begin`]).
pub struct Running<'a> {
    health: &'a Health,
    deployment: &'a Deployment,
    ended: bool,
}

impl Running<'_> {
    /// The attempt ended so.
    pub fn end(mut self, report: Report) {
        self.ended = true;
        self.health.end(self.deployment, report);
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.health.abandon(self.deployment);
        }
    }
}

/// Health of every deployment this router has tried.
#[derive(Debug)]
pub struct Health {
    states: Mutex<HashMap<(String, String), State>>,
    failures_to_open: u32,
    cooldown: Duration,
}

fn key(d: &Deployment) -> (String, String) {
    (d.provider.clone(), d.upstream_model.clone())
}

impl Health {
    /// Breakers opening after `failures_to_open` consecutive failures, for
    /// `cooldown`.
    pub fn new(failures_to_open: u32, cooldown: Duration) -> Self {
        Self {
            states: Mutex::new(HashMap::new()),
            failures_to_open: failures_to_open.max(1),
            cooldown,
        }
    }

    fn states(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), State>> {
        self.states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `d` may be tried now; a `Probe` answer makes this request the probe.
    pub fn gate(&self, d: &Deployment) -> Gate {
        let mut states = self.states();
        let Some(state) = states.get_mut(&key(d)) else {
            return Gate::Closed;
        };
        let Some(until) = state.open_until else {
            return Gate::Closed;
        };
        let now = Instant::now();
        if now < until {
            return Gate::Open {
                retry_in: until - now,
                rate_limited: state.rate_limited,
            };
        }
        if state.probing {
            // Someone is probing: wait for its verdict.
            return Gate::Open {
                retry_in: Duration::ZERO,
                rate_limited: state.rate_limited,
            };
        }
        state.probing = true;
        Gate::Probe
    }

    /// A probe granted by [`Health::gate`] will not be sent after all.
    pub fn release_probe(&self, d: &Deployment) {
        if let Some(state) = self.states().get_mut(&key(d)) {
            state.probing = false;
        }
    }

    /// An attempt on `d` starts; report its end with [`Running::end`]. Dropped
    /// without a report (the caller went away mid-attempt), it only stops counting
    /// as in flight and hands back a probe.
    pub fn begin<'a>(&'a self, d: &'a Deployment) -> Running<'a> {
        self.states().entry(key(d)).or_default().in_flight += 1;
        Running {
            health: self,
            deployment: d,
            ended: false,
        }
    }

    fn abandon(&self, d: &Deployment) {
        if let Some(state) = self.states().get_mut(&key(d)) {
            state.in_flight = state.in_flight.saturating_sub(1);
            state.probing = false;
        }
    }

    fn end(&self, d: &Deployment, report: Report) {
        let mut states = self.states();
        let state = states.entry(key(d)).or_default();
        state.in_flight = state.in_flight.saturating_sub(1);
        let was_open = state.open_until.is_some();
        state.probing = false;
        match report {
            Report::Answered(latency) => {
                let us = latency.as_secs_f64() * 1e6;
                state.latency_us = Some(match state.latency_us {
                    Some(avg) => avg + EWMA_ALPHA * (us - avg),
                    None => us,
                });
                state.failures = 0;
                state.open_until = None;
            }
            Report::Refused => {
                state.failures = 0;
                state.open_until = None;
            }
            Report::Failed { cooldown } => {
                state.failures = state.failures.saturating_add(1);
                let tripped = state.failures >= self.failures_to_open || was_open;
                if cooldown.is_some() || tripped {
                    let wait = cooldown.unwrap_or(self.cooldown).max(if tripped {
                        self.cooldown
                    } else {
                        Duration::ZERO
                    });
                    state.open_until = Some(Instant::now() + wait);
                    state.rate_limited = cooldown.is_some() && !tripped;
                    if !was_open {
                        tracing::warn!(provider = %d.provider, model = %d.upstream_model, cooldown_ms = wait.as_millis() as u64, "circuit breaker opened");
                        metrics::counter!(names::BREAKER_OPENED, "provider" => d.provider.clone(), "model" => d.upstream_model.clone()).increment(1);
                    }
                }
            }
        }
        let open = state.open_until.is_some();
        if open != was_open {
            metrics::gauge!(names::DEPLOYMENT_OPEN, "provider" => d.provider.clone(), "model" => d.upstream_model.clone())
                .set(if open { 1.0 } else { 0.0 });
        }
    }

    /// What this router knows of `d`, for the admin API: breaker (`closed`,
    /// `open`, `probing`), time until the next probe, consecutive failures,
    /// requests in flight and the latency average.
    pub fn describe(&self, d: &Deployment) -> (&'static str, Duration, u32, u32, Option<f64>) {
        let states = self.states();
        let Some(s) = states.get(&key(d)) else {
            return ("closed", Duration::ZERO, 0, 0, None);
        };
        let now = Instant::now();
        let (breaker, open_for) = match s.open_until {
            None => ("closed", Duration::ZERO),
            Some(_) if s.probing => ("probing", Duration::ZERO),
            Some(until) => ("open", until.saturating_duration_since(now)),
        };
        (
            breaker,
            open_for,
            s.failures,
            s.in_flight,
            s.latency_us.map(|us| us / 1_000.0),
        )
    }

    /// Requests in flight on `d` from this router.
    pub fn in_flight(&self, d: &Deployment) -> u32 {
        self.states().get(&key(d)).map_or(0, |s| s.in_flight)
    }

    /// `d`'s recent latency (moving average), if it answered before.
    pub fn latency_us(&self, d: &Deployment) -> Option<f64> {
        self.states().get(&key(d)).and_then(|s| s.latency_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(model: &str) -> Deployment {
        Deployment {
            provider: "p".into(),
            upstream_model: model.into(),
            weight: 1,
            price: switchyard_pricing::Price::default(),
            tags: Default::default(),
        }
    }

    fn fail(h: &Health, d: &Deployment) {
        h.begin(d).end(Report::Failed { cooldown: None });
    }

    #[test]
    fn opens_after_consecutive_failures_then_probes_once() {
        let h = Health::new(2, Duration::ZERO);
        let d = dep("m");
        fail(&h, &d);
        assert_eq!(h.gate(&d), Gate::Closed);
        fail(&h, &d);
        // Cooldown zero: the next request is the probe; others wait for it.
        assert_eq!(h.gate(&d), Gate::Probe);
        assert!(matches!(h.gate(&d), Gate::Open { .. }));
        h.begin(&d).end(Report::Answered(Duration::from_millis(10)));
        assert_eq!(h.gate(&d), Gate::Closed);
    }

    #[test]
    fn a_failed_probe_reopens_and_a_retry_after_cools_down_at_once() {
        let h = Health::new(1, Duration::from_secs(60));
        let d = dep("m");
        fail(&h, &d);
        assert!(
            matches!(h.gate(&d), Gate::Open { retry_in, .. } if retry_in > Duration::from_secs(59))
        );
        let r = dep("limited");
        h.begin(&r).end(Report::Failed {
            cooldown: Some(Duration::from_secs(7)),
        });
        // Tripped (threshold 1): at least the cooldown.
        assert!(
            matches!(h.gate(&r), Gate::Open { retry_in, .. } if retry_in > Duration::from_secs(59))
        );
        let h = Health::new(5, Duration::from_secs(60));
        h.begin(&r).end(Report::Failed {
            cooldown: Some(Duration::from_secs(7)),
        });
        // Not tripped: the provider's retry-after alone.
        assert!(
            matches!(h.gate(&r), Gate::Open { retry_in, .. } if retry_in <= Duration::from_secs(7))
        );
    }

    #[test]
    fn refusals_count_as_up_and_latency_averages() {
        let h = Health::new(2, Duration::from_secs(60));
        let d = dep("m");
        fail(&h, &d);
        h.begin(&d).end(Report::Refused);
        fail(&h, &d);
        assert_eq!(h.gate(&d), Gate::Closed);
        let running = h.begin(&d);
        assert_eq!(h.in_flight(&d), 1);
        running.end(Report::Answered(Duration::from_millis(10)));
        // An attempt abandoned mid-way stops counting as in flight.
        drop(h.begin(&d));
        assert_eq!(h.in_flight(&d), 0);
        h.begin(&d).end(Report::Answered(Duration::from_millis(20)));
        let avg = h.latency_us(&d).unwrap();
        assert!((avg - 12_000.0).abs() < 1.0, "{avg}");
        assert_eq!(h.in_flight(&d), 0);
    }
}
