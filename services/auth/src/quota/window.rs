//! A per-minute rate window: 60 one-second buckets of requests and tokens.
//!
//! The window at second `now` is the buckets of seconds `now-59 ..= now`; a limit of
//! N per minute admits at most N in any 60 consecutive whole seconds. Each request
//! and its tokens are counted at the second it was admitted (routers correct the
//! second of capacity they leased ahead, see `quota.proto`).

/// Seconds in the window.
pub const WINDOW_SECS: i64 = 60;

/// One second of the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Unix second this bucket counts (stale when outside the window).
    pub sec: i64,
    pub requests: u64,
    pub tokens: u64,
}

/// Which count of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Requests,
    Tokens,
}

impl Bucket {
    fn get(&self, measure: Measure) -> u64 {
        match measure {
            Measure::Requests => self.requests,
            Measure::Tokens => self.tokens,
        }
    }
}

/// The window's buckets, indexed by second modulo 60.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    buckets: [Bucket; WINDOW_SECS as usize],
}

impl Default for Window {
    fn default() -> Self {
        Self {
            buckets: [Bucket::default(); WINDOW_SECS as usize],
        }
    }
}

fn in_window(sec: i64, now: i64) -> bool {
    sec <= now && sec > now - WINDOW_SECS
}

impl Window {
    /// A window from stored buckets (stale ones are ignored by every reader).
    pub fn from_buckets(stored: impl IntoIterator<Item = Bucket>) -> Self {
        let mut window = Self::default();
        for b in stored {
            let slot = &mut window.buckets[b.sec.rem_euclid(WINDOW_SECS) as usize];
            if b.sec >= slot.sec {
                *slot = b;
            }
        }
        window
    }

    /// The buckets still inside the window at `now`, for storage.
    pub fn live_buckets(&self, now: i64) -> impl Iterator<Item = Bucket> + '_ {
        self.buckets
            .iter()
            .copied()
            .filter(move |b| in_window(b.sec, now) && (b.requests > 0 || b.tokens > 0))
    }

    /// What the window holds at `now`.
    pub fn used(&self, measure: Measure, now: i64) -> u64 {
        self.live_buckets(now)
            .fold(0u64, |sum, b| sum.saturating_add(b.get(measure)))
    }

    /// Adds (or, negative, takes back) counts at second `at`. A second in the future
    /// counts as `now`; one already outside the window is dropped (it no longer
    /// counts anyway). Taking back never goes below zero.
    pub fn add(&mut self, at: i64, now: i64, requests: i64, tokens: i64) {
        let at = at.min(now);
        if !in_window(at, now) {
            return;
        }
        let slot = &mut self.buckets[at.rem_euclid(WINDOW_SECS) as usize];
        if slot.sec != at {
            *slot = Bucket {
                sec: at,
                ..Bucket::default()
            };
        }
        slot.requests = apply(slot.requests, requests);
        slot.tokens = apply(slot.tokens, tokens);
    }

    /// Milliseconds until the window has room for `need` more under `limit` (0 if
    /// it has now; `None` if it never will, `need` being larger than `limit`).
    pub fn wait_ms(&self, measure: Measure, need: u64, limit: u64, now_ms: i64) -> Option<u64> {
        if need > limit {
            return None;
        }
        let now = now_ms.div_euclid(1000);
        let mut used = self.used(measure, now);
        if used.saturating_add(need) <= limit {
            return Some(0);
        }
        let mut live: Vec<Bucket> = self.live_buckets(now).collect();
        live.sort_by_key(|b| b.sec);
        for b in live {
            used = used.saturating_sub(b.get(measure));
            if used.saturating_add(need) <= limit {
                return Some(leaves_at_ms(b.sec, now_ms));
            }
        }
        Some(0)
    }

    /// Milliseconds until everything now counted has left the window (OpenAI's
    /// `x-ratelimit-reset-*`: when the limit is fully available again).
    pub fn reset_ms(&self, measure: Measure, now_ms: i64) -> u64 {
        let now = now_ms.div_euclid(1000);
        self.live_buckets(now)
            .filter(|b| b.get(measure) > 0)
            .map(|b| leaves_at_ms(b.sec, now_ms))
            .max()
            .unwrap_or(0)
    }
}

/// When a bucket's second stops counting, in ms from `now_ms`.
fn leaves_at_ms(sec: i64, now_ms: i64) -> u64 {
    u64::try_from((sec + WINDOW_SECS) * 1000 - now_ms).unwrap_or(0)
}

fn apply(value: u64, delta: i64) -> u64 {
    if delta >= 0 {
        value.saturating_add(delta.unsigned_abs())
    } else {
        value.saturating_sub(delta.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_800_000_000;

    #[test]
    fn counts_the_last_sixty_seconds() {
        let mut w = Window::default();
        w.add(T, T, 3, 30);
        w.add(T + 30, T + 30, 2, 20);
        assert_eq!(w.used(Measure::Requests, T + 30), 5);
        assert_eq!(w.used(Measure::Tokens, T + 59), 50);
        // Second T leaves the window at T + 60.
        assert_eq!(w.used(Measure::Requests, T + 60), 2);
        assert_eq!(w.used(Measure::Requests, T + 90), 0);
    }

    #[test]
    fn takes_back_at_the_charged_second_only_while_it_counts() {
        let mut w = Window::default();
        w.add(T, T, 5, 500);
        w.add(T, T + 1, -2, -300);
        assert_eq!(w.used(Measure::Requests, T + 1), 3);
        assert_eq!(w.used(Measure::Tokens, T + 1), 200);
        // Never below zero, and an expired second is left alone.
        w.add(T, T + 1, -10, 0);
        assert_eq!(w.used(Measure::Requests, T + 1), 0);
        w.add(T, T + 70, -1, 0);
        w.add(T + 70, T + 70, 1, 0);
        assert_eq!(w.used(Measure::Requests, T + 70), 1);
    }

    #[test]
    fn a_reused_slot_starts_from_zero() {
        let mut w = Window::default();
        w.add(T, T, 7, 0);
        w.add(T + 60, T + 60, 1, 0);
        assert_eq!(w.used(Measure::Requests, T + 60), 1);
    }

    #[test]
    fn waits_until_enough_leaves() {
        let mut w = Window::default();
        w.add(T, T, 4, 0);
        w.add(T + 10, T + 10, 6, 0);
        let now_ms = (T + 20) * 1000 + 500;
        assert_eq!(w.wait_ms(Measure::Requests, 1, 11, now_ms), Some(0));
        // Room for one more once second T leaves: at T + 60.
        assert_eq!(w.wait_ms(Measure::Requests, 1, 10, now_ms), Some(39_500));
        // Room for five only once T + 10 leaves too.
        assert_eq!(w.wait_ms(Measure::Requests, 5, 10, now_ms), Some(49_500));
        assert_eq!(w.wait_ms(Measure::Requests, 11, 10, now_ms), None);
        assert_eq!(w.reset_ms(Measure::Requests, now_ms), 49_500);
    }

    #[test]
    fn round_trips_through_storage() {
        let mut w = Window::default();
        w.add(T, T, 1, 10);
        w.add(T + 5, T + 5, 2, 20);
        let stored: Vec<_> = w.live_buckets(T + 5).collect();
        assert_eq!(Window::from_buckets(stored), w);
    }
}
