//! What one router knows about each deployment's health: its circuit breaker,
//! requests in flight and recent latency. Shared by all requests of the router;
//! the strategies read it and every attempt reports to it.
//!
//! Breaker: `router.breaker_failures` consecutive retryable failures, a failure
//! rate of at least `router.breaker_failure_rate_percent` over the last
//! `router.breaker_window_ms` (once `router.breaker_min_requests` attempts fell in
//! it), or one 429 with a `retry-after` open it; requests then skip the deployment
//! until the cooldown (`router.breaker_cooldown_ms`, or the provider's longer
//! `retry-after`) ends. The next request after that is a probe: while it runs,
//! others still skip the deployment; its success closes the breaker, its failure
//! opens it again. Any answer from the provider, even a refusal of the request,
//! counts as the deployment being up.
//!
//! The failure-rate window is a ring of [`WINDOW_BUCKETS`] buckets, each a tenth
//! of the window, counting successes and failures: a report touches one bucket
//! and the verdict sums ten, so both are O(1) and nothing is allocated per
//! request. The window therefore slides in steps of a tenth. A breaker closing
//! after a successful probe starts a fresh window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use switchyard_telemetry::{metrics, names};

use crate::models::Deployment;

/// Weight of the newest latency in the moving average.
const EWMA_ALPHA: f64 = 0.2;

/// Buckets of the failure-rate window (each a tenth of it).
const WINDOW_BUCKETS: usize = 10;

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

/// What this router knows of one deployment, for the admin API.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Described {
    /// `closed`, `open` or `probing`.
    pub breaker: &'static str,
    /// While open: until the next probe.
    pub open_for: Duration,
    /// Consecutive retryable failures.
    pub consecutive_failures: u32,
    /// Requests in flight from this router.
    pub in_flight: u32,
    /// Moving average of answer latency, before the first answer `None`.
    pub latency_ms: Option<f64>,
    /// Attempts in the failure-rate window (0 when the rate is off).
    pub window_attempts: u32,
    /// Percent of them that failed; `None` without any (or with the rate off).
    pub failure_rate_percent: Option<f64>,
}

/// The failure-rate rule (`router.breaker_failure_rate_percent`, ...).
#[derive(Debug, Clone, Copy)]
struct FailureRate {
    /// 1..=100.
    percent: u32,
    /// At least 1.
    min_requests: u32,
    /// A tenth of the window, never zero.
    bucket: Duration,
}

/// Attempts that ended in one tenth of the window.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which tenth (counted in bucket widths since [`Health`] was made).
    epoch: u64,
    ok: u32,
    failed: u32,
}

/// The failure-rate window: a ring of buckets indexed by `epoch % WINDOW_BUCKETS`.
#[derive(Debug, Default)]
struct Window {
    buckets: [Bucket; WINDOW_BUCKETS],
}

impl Window {
    /// Counts an attempt that ended in tenth `epoch`.
    fn record(&mut self, epoch: u64, failed: bool) {
        let slot = &mut self.buckets[(epoch % WINDOW_BUCKETS as u64) as usize];
        if slot.epoch > epoch {
            // Ended a whole window before a report already counted (a racing
            // report's clock): too old to matter.
            return;
        }
        if slot.epoch != epoch {
            // A stale tenth (a whole window ago or more): start it over.
            *slot = Bucket {
                epoch,
                ok: 0,
                failed: 0,
            };
        }
        if failed {
            slot.failed = slot.failed.saturating_add(1);
        } else {
            slot.ok = slot.ok.saturating_add(1);
        }
    }

    /// Attempts and failures in the window ending with tenth `epoch`.
    fn counts(&self, epoch: u64) -> (u32, u32) {
        self.buckets
            .iter()
            .filter(|b| b.epoch <= epoch && epoch - b.epoch < WINDOW_BUCKETS as u64)
            .fold((0u32, 0u32), |(total, failed), b| {
                (
                    total.saturating_add(b.ok).saturating_add(b.failed),
                    failed.saturating_add(b.failed),
                )
            })
    }

    fn reset(&mut self) {
        *self = Self::default();
    }
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
    window: Window,
}

/// An attempt in progress (see [`Health::begin`]).
pub struct Running<'a> {
    health: &'a Health,
    deployment: &'a Deployment,
    ended: bool,
}

impl Running<'_> {
    /// The attempt ended so.
    pub fn end(self, report: Report) {
        self.end_at(report, Instant::now());
    }

    /// The attempt ended so, at `now`.
    fn end_at(mut self, report: Report, now: Instant) {
        self.ended = true;
        self.health.end(self.deployment, report, now);
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
    /// Off unless [`Health::with_failure_rate`] turned it on.
    rate: Option<FailureRate>,
    /// Where window tenths are counted from.
    origin: Instant,
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
            rate: None,
            origin: Instant::now(),
        }
    }

    /// Also opens a breaker when at least `percent` of the attempts that ended in
    /// the last `window` failed, once there were at least `min_requests` of them.
    /// `percent` 0 (or an empty window) leaves the rule off.
    pub fn with_failure_rate(mut self, percent: u32, min_requests: u32, window: Duration) -> Self {
        self.rate = (percent > 0 && !window.is_zero()).then(|| FailureRate {
            percent: percent.min(100),
            min_requests: min_requests.max(1),
            bucket: (window / WINDOW_BUCKETS as u32).max(Duration::from_nanos(1)),
        });
        self
    }

    fn states(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), State>> {
        self.states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The window tenth `now` falls in.
    fn epoch(&self, rate: &FailureRate, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(since / rate.bucket.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether `d` may be tried now; a `Probe` answer makes this request the probe.
    pub fn gate(&self, d: &Deployment) -> Gate {
        self.gate_at(d, Instant::now())
    }

    fn gate_at(&self, d: &Deployment, now: Instant) -> Gate {
        let mut states = self.states();
        let Some(state) = states.get_mut(&key(d)) else {
            return Gate::Closed;
        };
        let Some(until) = state.open_until else {
            return Gate::Closed;
        };
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

    fn end(&self, d: &Deployment, report: Report, now: Instant) {
        let epoch = self.rate.as_ref().map(|r| self.epoch(r, now));
        let mut states = self.states();
        let state = states.entry(key(d)).or_default();
        state.in_flight = state.in_flight.saturating_sub(1);
        let was_open = state.open_until.is_some();
        state.probing = false;
        match report {
            Report::Answered(_) | Report::Refused => {
                if let Report::Answered(latency) = report {
                    let us = latency.as_secs_f64() * 1e6;
                    state.latency_us = Some(match state.latency_us {
                        Some(avg) => avg + EWMA_ALPHA * (us - avg),
                        None => us,
                    });
                }
                state.failures = 0;
                state.open_until = None;
                if was_open {
                    // Back up: what failed before the breaker opened is history.
                    state.window.reset();
                } else if let Some(epoch) = epoch {
                    state.window.record(epoch, false);
                }
            }
            Report::Failed { cooldown } => {
                state.failures = state.failures.saturating_add(1);
                let by_rate = match (&self.rate, epoch) {
                    (Some(rate), Some(epoch)) => {
                        state.window.record(epoch, true);
                        let (total, failed) = state.window.counts(epoch);
                        total >= rate.min_requests
                            && u64::from(failed) * 100 >= u64::from(rate.percent) * u64::from(total)
                    }
                    _ => false,
                };
                let consecutive = state.failures >= self.failures_to_open;
                let tripped = consecutive || by_rate || was_open;
                if cooldown.is_some() || tripped {
                    let wait = cooldown.unwrap_or(self.cooldown).max(if tripped {
                        self.cooldown
                    } else {
                        Duration::ZERO
                    });
                    state.open_until = Some(now + wait);
                    state.rate_limited = cooldown.is_some() && !tripped;
                    if !was_open {
                        let reason = if consecutive {
                            "consecutive failures"
                        } else if by_rate {
                            "failure rate"
                        } else {
                            "rate limited"
                        };
                        tracing::warn!(provider = %d.provider, model = %d.upstream_model, cooldown_ms = wait.as_millis() as u64, reason, "circuit breaker opened");
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

    /// What this router knows of `d`, for the admin API.
    pub fn describe(&self, d: &Deployment) -> Described {
        self.describe_at(d, Instant::now())
    }

    fn describe_at(&self, d: &Deployment, now: Instant) -> Described {
        let states = self.states();
        let Some(s) = states.get(&key(d)) else {
            return Described {
                breaker: "closed",
                open_for: Duration::ZERO,
                consecutive_failures: 0,
                in_flight: 0,
                latency_ms: None,
                window_attempts: 0,
                failure_rate_percent: None,
            };
        };
        let (breaker, open_for) = match s.open_until {
            None => ("closed", Duration::ZERO),
            Some(_) if s.probing => ("probing", Duration::ZERO),
            Some(until) => ("open", until.saturating_duration_since(now)),
        };
        let (total, failed) = self
            .rate
            .as_ref()
            .map_or((0, 0), |r| s.window.counts(self.epoch(r, now)));
        Described {
            breaker,
            open_for,
            consecutive_failures: s.failures,
            in_flight: s.in_flight,
            latency_ms: s.latency_us.map(|us| us / 1_000.0),
            window_attempts: total,
            failure_rate_percent: (total > 0).then(|| f64::from(failed) * 100.0 / f64::from(total)),
        }
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
            context_window: None,
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

    /// Reports `n` attempts on `d` ending at `at`, failed or answered.
    fn report(h: &Health, d: &Deployment, at: Instant, n: usize, failed: bool) {
        for _ in 0..n {
            let report = if failed {
                Report::Failed { cooldown: None }
            } else {
                Report::Answered(Duration::from_millis(5))
            };
            h.begin(d).end_at(report, at);
        }
    }

    #[test]
    fn opens_on_a_failure_rate_once_enough_attempts_fell_in_the_window() {
        // Consecutive failures never trip here (threshold 1000): only the rate.
        let h = Health::new(1000, Duration::from_secs(30)).with_failure_rate(
            50,
            6,
            Duration::from_secs(10),
        );
        let d = dep("m");
        let t0 = Instant::now();
        report(&h, &d, t0, 3, false);
        report(&h, &d, t0, 2, true);
        // 2 of 5: too few attempts, and under half.
        assert_eq!(h.gate_at(&d, t0), Gate::Closed);
        let seen = h.describe_at(&d, t0);
        assert_eq!(seen.window_attempts, 5);
        assert_eq!(seen.failure_rate_percent, Some(40.0));
        // 3 of 6: half failed, with enough attempts: open, for the cooldown.
        report(&h, &d, t0, 1, true);
        assert!(matches!(
            h.gate_at(&d, t0),
            Gate::Open { retry_in, rate_limited: false } if retry_in == Duration::from_secs(30)
        ));
        assert_eq!(h.describe_at(&d, t0).breaker, "open");
        // The cooldown ends: one probe; its success closes the breaker and starts
        // a fresh window, so one more failure does not reopen it.
        let later = t0 + Duration::from_secs(31);
        assert_eq!(h.gate_at(&d, later), Gate::Probe);
        report(&h, &d, later, 1, false);
        assert_eq!(h.gate_at(&d, later), Gate::Closed);
        let seen = h.describe_at(&d, later);
        assert_eq!((seen.breaker, seen.window_attempts), ("closed", 0));
        assert_eq!(seen.failure_rate_percent, None);
        report(&h, &d, later, 1, true);
        assert_eq!(h.gate_at(&d, later), Gate::Closed);
    }

    #[test]
    fn the_failure_rate_window_slides() {
        let h = Health::new(1000, Duration::from_secs(30)).with_failure_rate(
            50,
            4,
            Duration::from_secs(10),
        );
        let d = dep("m");
        let t0 = Instant::now();
        report(&h, &d, t0, 3, true);
        // Within the window the old failures still count...
        let mid = t0 + Duration::from_secs(5);
        assert_eq!(h.describe_at(&d, mid).window_attempts, 3);
        // ...a window later they are gone: these four (one failed) alone count.
        let next = t0 + Duration::from_secs(11);
        report(&h, &d, next, 3, false);
        report(&h, &d, next, 1, true);
        assert_eq!(h.gate_at(&d, next), Gate::Closed);
        let seen = h.describe_at(&d, next);
        assert_eq!(seen.window_attempts, 4);
        assert_eq!(seen.failure_rate_percent, Some(25.0));
        // Failures spread over the window add up: 3 of 6 within 10 s.
        let last = next + Duration::from_secs(9);
        report(&h, &d, last, 2, true);
        assert!(matches!(h.gate_at(&d, last), Gate::Open { .. }));
    }

    #[test]
    fn a_zero_percent_leaves_the_failure_rate_off() {
        let h = Health::new(1000, Duration::from_secs(30)).with_failure_rate(
            0,
            1,
            Duration::from_secs(10),
        );
        let d = dep("m");
        let t0 = Instant::now();
        for _ in 0..50 {
            report(&h, &d, t0, 1, true);
            report(&h, &d, t0, 1, false);
        }
        assert_eq!(h.gate_at(&d, t0), Gate::Closed);
        let seen = h.describe_at(&d, t0);
        assert_eq!((seen.window_attempts, seen.failure_rate_percent), (0, None));
    }
}
