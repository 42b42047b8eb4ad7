//! The max-rate search: the highest request rate a shape sustains, where sustained
//! means no errors, at least 95 % of the scheduled rate achieved, and added p99 (over
//! the direct path at the same rate, whole answer and first token) under the limit.
//!
//! It doubles from a start rate while rates pass, then bisects between the highest
//! pass and the lowest failure until they are within 5 % (or 10 requests/s). It is
//! bounded by a maximum rate and a maximum number of steps, so it always ends.

use super::report::CaseRow;

/// Fraction of the scheduled rate that must be achieved.
const ACHIEVED_FRACTION: f64 = 0.95;

/// Whether `row` passes with an added-p99 limit of `limit_ms`.
pub fn passes(row: &CaseRow, limit_ms: f64) -> bool {
    row.errors == 0
        && row.achieved_rps >= ACHIEVED_FRACTION * row.rate as f64
        && row.added_p99().is_some_and(|added| added < limit_ms)
}

/// The state of one search.
#[derive(Debug, Clone)]
pub struct Search {
    start: u64,
    max: u64,
    max_steps: usize,
    steps: usize,
    /// Highest rate that passed.
    pass: Option<u64>,
    /// Lowest rate that failed.
    fail: Option<u64>,
}

impl Search {
    /// A search from `start` (doubling) up to `max`, in at most `max_steps` steps.
    pub fn new(start: u64, max: u64, max_steps: usize) -> Self {
        Self {
            start: start.max(1),
            max: max.max(1),
            max_steps,
            steps: 0,
            pass: None,
            fail: None,
        }
    }

    /// The next rate to try, or `None` when the search is over.
    pub fn next(&self) -> Option<u64> {
        if self.steps >= self.max_steps {
            return None;
        }
        match (self.pass, self.fail) {
            (None, None) => Some(self.start.min(self.max)),
            (Some(pass), None) => (pass < self.max).then(|| pass.saturating_mul(2).min(self.max)),
            (pass, Some(fail)) => {
                let pass = pass.unwrap_or(0);
                let resolution = (pass / 20).max(10);
                let mid = pass + (fail - pass) / 2;
                (fail - pass > resolution && mid > 0 && mid != pass).then_some(mid)
            }
        }
    }

    /// Notes the outcome of trying `rate`.
    pub fn record(&mut self, rate: u64, pass: bool) {
        self.steps += 1;
        if pass {
            self.pass = Some(self.pass.map_or(rate, |p| p.max(rate)));
        } else {
            self.fail = Some(self.fail.map_or(rate, |f| f.min(rate)));
        }
    }

    /// The highest rate that passed.
    pub fn best(&self) -> Option<u64> {
        self.pass
    }

    /// Whether the maximum rate itself passed (the real limit is higher).
    pub fn capped(&self) -> bool {
        self.pass == Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search against a shape that sustains up to `limit`.
    fn run(mut s: Search, limit: u64) -> (Search, Vec<u64>) {
        let mut tried = Vec::new();
        while let Some(rate) = s.next() {
            tried.push(rate);
            s.record(rate, rate <= limit);
        }
        (s, tried)
    }

    #[test]
    fn doubles_then_bisects_to_within_five_percent() {
        let (s, tried) = run(Search::new(1000, 64_000, 20), 5000);
        assert_eq!(&tried[..4], &[1000, 2000, 4000, 8000]);
        let best = s.best().unwrap_or_default();
        assert!((4750..=5000).contains(&best), "{best} from {tried:?}");
        assert!(!s.capped());
    }

    #[test]
    fn is_bounded_by_steps_and_max_rate() {
        let (s, tried) = run(Search::new(1000, 64_000, 3), u64::MAX);
        assert_eq!(tried, vec![1000, 2000, 4000]);
        assert_eq!(s.best(), Some(4000));
        let (s, tried) = run(Search::new(1000, 3000, 20), u64::MAX);
        assert_eq!(tried, vec![1000, 2000, 3000]);
        assert!(s.capped());
    }

    #[test]
    fn nothing_passing_bisects_down_and_ends() {
        let (s, tried) = run(Search::new(1000, 64_000, 20), 0);
        assert_eq!(s.best(), None);
        assert!(tried.len() < 10, "{tried:?}");
    }
}
