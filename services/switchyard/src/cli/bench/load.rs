//! The open-loop load generator: request `i` is due at `t0 + i / rate` and is sent
//! then, as its own task, whether or not earlier requests have answered. Latency is
//! measured from the time a request was *due*, not from when it was sent, so a stall
//! anywhere (the generator, the client, the gateway) shows up in the latency instead
//! of silently lowering the rate (no coordinated omission).
//!
//! Every load is bounded: `rate × duration` requests at most, at most
//! `max_in_flight` at once (a request due while that many are in flight is an
//! `overflow` error), and a grace time after the last one for stragglers, which are
//! then cancelled and counted as `straggler` errors.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::alarm::Alarm;
use super::client::{CallError, Target, Timing};

/// Histograms hold microseconds from 1 µs to an hour, at 3 significant digits.
const HIGHEST_MICROS: u64 = 3_600_000_000;
/// Error details kept per load, for the report.
const ERROR_SAMPLES: usize = 3;

/// How hard and how long to drive one case.
#[derive(Debug, Clone, Copy)]
pub struct LoadSpec {
    /// Requests per second, scheduled evenly.
    pub rate: u64,
    /// How long requests are scheduled for.
    pub duration: Duration,
    /// Most requests in flight at once.
    pub max_in_flight: usize,
    /// How long to wait for the last requests after the schedule ends.
    pub grace: Duration,
}

/// What one load measured.
#[derive(Debug)]
pub struct LoadResult {
    /// The spec it ran with.
    pub spec: LoadSpec,
    /// Requests due (answered, failed, or never sent because the generator fell a
    /// whole grace time behind).
    pub sent: u64,
    /// Requests answered successfully.
    pub ok: u64,
    /// Requests that failed, overflowed or straggled.
    pub errors: u64,
    /// Errors by kind.
    pub error_kinds: BTreeMap<String, u64>,
    /// The first few error details.
    pub error_samples: Vec<String>,
    /// Successful answers per second, over the schedule or until the last answer,
    /// whichever is longer.
    pub achieved_rps: f64,
    /// From due time to the end of the answer, in microseconds (successes only).
    pub total: Histogram<u64>,
    /// From due time to the first content of a stream, in microseconds.
    pub ttft: Option<Histogram<u64>>,
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, HIGHEST_MICROS, 3).context("cannot create a histogram")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

struct Recorder {
    open: bool,
    sent: u64,
    ok: u64,
    errors: u64,
    error_kinds: BTreeMap<String, u64>,
    error_samples: Vec<String>,
    total: Histogram<u64>,
    ttft: Option<Histogram<u64>>,
    last_end: Option<Instant>,
}

impl Recorder {
    fn fail(&mut self, kind: &str, detail: &str, count: u64) {
        if count == 0 {
            return;
        }
        self.errors += count;
        *self.error_kinds.entry(kind.to_string()).or_default() += count;
        if self.error_samples.len() < ERROR_SAMPLES {
            self.error_samples.push(format!("{kind}: {detail}"));
        }
    }

    fn record(&mut self, due: Instant, outcome: Result<Timing, CallError>) {
        if !self.open {
            return;
        }
        match outcome {
            Ok(timing) => {
                self.ok += 1;
                self.total
                    .saturating_record(micros(timing.end.saturating_duration_since(due)));
                if let (Some(ttft), Some(first)) = (self.ttft.as_mut(), timing.first_token) {
                    ttft.saturating_record(micros(first.saturating_duration_since(due)));
                }
                self.last_end = Some(self.last_end.map_or(timing.end, |l| l.max(timing.end)));
            }
            Err(e) => self.fail(e.kind, &e.detail, 1),
        }
    }
}

/// Sends the requests of one load at their due times, from a task on the runtime.
///
/// It sleeps on an [`Alarm`] (a `timerfd`: the kernel's high-resolution timer,
/// read through the runtime's own `epoll`) instead of the runtime's timer, whose
/// 1 ms ticks would add up to 1 ms of send delay to every path and release
/// requests in bursts of `rate / 1000`, which a gateway then queues. Each request
/// runs as its own task. The `bench` command runs on one thread (see `main`), so
/// pacing, sending and reading answers never hand work to another thread: a
/// multi-threaded generator spent about a third more CPU per request on its
/// threads waking each other, CPU the gateway it measures could not use.
struct Pacer {
    target: Target,
    spec: LoadSpec,
    count: u64,
    t0: Instant,
    recorder: Arc<Mutex<Recorder>>,
    permits: Arc<Semaphore>,
    cancel: CancellationToken,
}

impl Pacer {
    /// Sends the load; returns how many requests were due (sent or counted failed).
    async fn run(self) -> anyhow::Result<u64> {
        let alarm = Alarm::new().context("cannot create the load generator's timer")?;
        let interval = 1e9 / self.spec.rate as f64;
        let give_up = self.t0 + self.spec.duration + self.spec.grace;
        let mut sent = 0u64;
        for i in 0..self.count {
            let due = self.t0 + Duration::from_nanos((i as f64 * interval) as u64);
            let now = Instant::now();
            if due > now {
                alarm
                    .sleep_until(due)
                    .await
                    .context("the load generator's timer failed")?;
            } else if now > give_up {
                sent += self.count - i;
                lock(&self.recorder).fail(
                    "generator-behind",
                    "the load generator fell a whole grace time behind its schedule",
                    self.count - i,
                );
                break;
            }
            sent += 1;
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                let detail = format!("more than {} requests in flight", self.spec.max_in_flight);
                lock(&self.recorder).fail("overflow", &detail, 1);
                continue;
            };
            let (target, recorder, cancel) = (
                self.target.clone(),
                self.recorder.clone(),
                self.cancel.clone(),
            );
            tokio::spawn(async move {
                let outcome = tokio::select! {
                    biased;
                    () = cancel.cancelled() => return,
                    outcome = target.call(i) => outcome,
                };
                lock(&recorder).record(due, outcome);
                drop(permit);
            });
        }
        Ok(sent)
    }
}

fn lock(recorder: &Mutex<Recorder>) -> MutexGuard<'_, Recorder> {
    recorder
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Drives `target` open-loop as `spec` says; `streaming` records time to first token.
pub async fn run(target: &Target, spec: LoadSpec, streaming: bool) -> anyhow::Result<LoadResult> {
    anyhow::ensure!(spec.rate > 0, "the rate must be positive");
    let count = (spec.rate as f64 * spec.duration.as_secs_f64()).round() as u64;
    let recorder = Arc::new(Mutex::new(Recorder {
        open: true,
        sent: 0,
        ok: 0,
        errors: 0,
        error_kinds: BTreeMap::new(),
        error_samples: Vec::new(),
        total: histogram()?,
        ttft: if streaming { Some(histogram()?) } else { None },
        last_end: None,
    }));
    let permits = Arc::new(Semaphore::new(spec.max_in_flight));
    let cancel = CancellationToken::new();
    let t0 = Instant::now() + Duration::from_millis(5);
    let pacer = Pacer {
        target: target.clone(),
        spec,
        count,
        t0,
        recorder: recorder.clone(),
        permits: permits.clone(),
        cancel: cancel.clone(),
    };
    let sent = match pacer.run().await {
        Ok(sent) => sent,
        Err(e) => {
            cancel.cancel();
            return Err(e);
        }
    };
    // Every request has been sent: wait (bounded) until all have answered.
    let all = u32::try_from(spec.max_in_flight).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout_at(
        Instant::now().max(t0 + spec.duration) + spec.grace,
        permits.acquire_many(all),
    )
    .await;
    let mut r = lock(&recorder);
    r.open = false;
    r.sent = sent;
    cancel.cancel();
    let stragglers = r.sent.saturating_sub(r.ok + r.errors);
    r.fail(
        "straggler",
        "no answer within the grace time after the schedule ended",
        stragglers,
    );
    let window = r
        .last_end
        .map(|end| end.saturating_duration_since(t0))
        .unwrap_or_default()
        .max(spec.duration);
    Ok(LoadResult {
        spec,
        sent: r.sent,
        ok: r.ok,
        errors: r.errors,
        error_kinds: std::mem::take(&mut r.error_kinds),
        error_samples: std::mem::take(&mut r.error_samples),
        achieved_rps: r.ok as f64 / window.as_secs_f64().max(1e-9),
        total: r.total.clone(),
        ttft: r.ttft.clone(),
    })
}
