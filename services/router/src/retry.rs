//! When a failed attempt may be tried again: the retry budget and backoff.
//!
//! The budget is a token bucket shared by all requests of a router: every first
//! attempt deposits `percent / 100` of a token, every retry (a second attempt on any
//! deployment or fallback model) withdraws one, and `min_per_second` tokens are
//! always allowed per second on top. So when a provider fails every request, the
//! upstream load it sees is at most (1 + percent/100) × the request rate plus
//! `min_per_second`, instead of `max_attempts` × the request rate.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;

/// Scale of the bucket: tokens are counted in thousandths.
const MILLI: u64 = 1_000;

/// The shared retry budget of one router.
#[derive(Debug)]
pub struct RetryBudget {
    percent: u64,
    min_per_second: u64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Earned by first attempts, in thousandths of a retry.
    earned: u64,
    /// Free retries left in the current second.
    free: u64,
    second: Instant,
}

impl RetryBudget {
    /// A budget letting retries add `percent` % to first attempts, plus
    /// `min_per_second` retries per second regardless.
    pub fn new(percent: u32, min_per_second: u32) -> Self {
        Self {
            percent: u64::from(percent),
            min_per_second: u64::from(min_per_second),
            state: Mutex::new(State {
                earned: 0,
                free: u64::from(min_per_second),
                second: Instant::now(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A first attempt was made: it earns a share of a retry. The balance is
    /// capped at ten seconds' worth of the floor plus 100 retries, so a long calm
    /// spell cannot bank an outage's worth of retries.
    pub fn deposit(&self) {
        let cap = (100 + self.min_per_second * 10) * MILLI;
        let mut state = self.state();
        state.earned = (state.earned + self.percent * MILLI / 100).min(cap);
    }

    /// Takes one retry if the budget allows it.
    pub fn try_withdraw(&self) -> bool {
        let mut state = self.state();
        if state.second.elapsed() >= Duration::from_secs(1) {
            state.second = Instant::now();
            state.free = self.min_per_second;
        }
        if state.free > 0 {
            state.free -= 1;
            return true;
        }
        if state.earned >= MILLI {
            state.earned -= MILLI;
            return true;
        }
        false
    }
}

/// How long to wait before retry number `retry` (1 for the first retry) of the
/// same deployment: `base` doubled per retry, capped at `max`, with full jitter in
/// its upper half so retries of many requests spread out.
pub fn backoff(retry: u32, base: Duration, max: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << retry.saturating_sub(1).min(16));
    let ceiling = exp.min(max);
    let half = ceiling / 2;
    half + ceiling
        .saturating_sub(half)
        .mul_f64(rand::rng().random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_a_share_of_first_attempts() {
        let budget = RetryBudget::new(20, 0);
        assert!(!budget.try_withdraw());
        for _ in 0..10 {
            budget.deposit();
        }
        // Ten first attempts at 20 % earn two retries.
        assert!(budget.try_withdraw());
        assert!(budget.try_withdraw());
        assert!(!budget.try_withdraw());
    }

    #[test]
    fn the_floor_allows_a_few_retries_per_second() {
        let budget = RetryBudget::new(0, 3);
        assert!(budget.try_withdraw());
        assert!(budget.try_withdraw());
        assert!(budget.try_withdraw());
        assert!(!budget.try_withdraw());
    }

    #[test]
    fn backoff_doubles_within_bounds() {
        let base = Duration::from_millis(100);
        let max = Duration::from_millis(1_000);
        for retry in 1..=6 {
            let ceiling = (base * (1 << (retry - 1))).min(max);
            let d = backoff(retry, base, max);
            assert!(d >= ceiling / 2 && d <= ceiling, "{retry}: {d:?}");
        }
    }
}
