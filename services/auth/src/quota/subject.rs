//! One subject's counters (a key's or a tenant's) and the rules that grant, refuse
//! and correct capacity. Pure: the clock and router liveness are passed in.

use std::collections::HashMap;

use switchyard_proto::auth::v1::{
    AcquireResponse, Amounts, Budget, Limits, QuotaDimension, SubjectReport, WindowState,
};

use super::window::{Measure, Window};

/// A lease may be spent for this long before the router must hand it back.
pub const LEASE_MS: u32 = 2_000;

/// The share of the remaining headroom one grant may take as extra: a quarter, so
/// leases shrink to nothing as a limit nears and the last units go one by one.
const EXTRA_SHARE: u64 = 4;

/// What a subject has used.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubjectState {
    pub window: Window,
    /// Start of the budget period `spent` belongs to (unix seconds; 0: lifetime).
    pub budget_period: i64,
    /// Micro-dollars charged in `budget_period`.
    pub spent: i64,
    /// Concurrency slots held, per router.
    pub slots: HashMap<String, u32>,
    /// The budget period in which a refusal for budget was last announced (so
    /// it is announced once per period).
    pub exceeded_noted: Option<i64>,
}

/// The start of the budget period holding `now` (unix seconds), UTC-aligned.
pub use switchyard_policy::calendar::budget_period_start as period_start;

/// Whether spend going from `before` to `after` crossed the budget's soft-alert
/// threshold (`alert_percent` of the limit).
fn crossed_alert(budget: &Budget, before: i64, after: i64) -> bool {
    let Some(percent) = budget.alert_percent else {
        return false;
    };
    let threshold = i128::from(budget.limit_micros) * i128::from(percent) / 100;
    i128::from(before) < threshold && i128::from(after) >= threshold
}

/// Grants up to `extra` of `headroom` (a limit minus use minus the need).
fn extra_of(extra: u64, headroom: u64) -> u64 {
    extra.min(headroom / EXTRA_SHARE)
}

impl SubjectState {
    /// Starts a new budget period when `now` left the old one.
    fn roll_period(&mut self, budget: Option<&Budget>, now: i64) {
        let Some(budget) = budget else {
            return;
        };
        let period = period_start(budget.period(), now);
        if period != self.budget_period {
            self.budget_period = period;
            self.spent = 0;
        }
    }

    /// Slots held by routers still alive.
    fn slots_held(&self, alive: &impl Fn(&str) -> bool) -> u64 {
        self.slots
            .iter()
            .filter(|(router, _)| alive(router))
            .map(|(_, n)| u64::from(*n))
            .sum()
    }

    /// Grants `need` whole or refuses it, plus what headroom allows of `extra`;
    /// everything granted is charged at once.
    #[allow(clippy::too_many_arguments)]
    pub fn acquire(
        &mut self,
        limits: Option<&Limits>,
        budget: Option<&Budget>,
        router: &str,
        need: &Amounts,
        extra: &Amounts,
        now_ms: i64,
        alive: impl Fn(&str) -> bool,
    ) -> AcquireResponse {
        let now = now_ms.div_euclid(1000);
        self.roll_period(budget, now);
        let rpm = limits.and_then(|l| l.requests_per_minute);
        let tpm = limits.and_then(|l| l.tokens_per_minute);
        let max_slots = limits.and_then(|l| l.max_concurrent).map(u64::from);
        let used_requests = self.window.used(Measure::Requests, now);
        let used_tokens = self.window.used(Measure::Tokens, now);
        let held = self.slots_held(&alive);

        let refuse = |dimension: QuotaDimension, retry_after_ms: u64| AcquireResponse {
            refused: dimension as i32,
            retry_after_ms,
            ..AcquireResponse::default()
        };
        let mut refusal = None;
        if let Some(limit) = rpm
            && used_requests.saturating_add(need.requests) > limit
        {
            let wait = self
                .window
                .wait_ms(Measure::Requests, need.requests, limit, now_ms);
            refusal = Some(refuse(QuotaDimension::Requests, wait.unwrap_or(0)));
        } else if let Some(limit) = tpm
            && used_tokens.saturating_add(need.tokens) > limit
        {
            // A request larger than the whole limit never fits: say when the window
            // is empty, the best a caller can hope for.
            let wait = self
                .window
                .wait_ms(Measure::Tokens, need.tokens, limit, now_ms)
                .unwrap_or_else(|| self.window.reset_ms(Measure::Tokens, now_ms));
            refusal = Some(refuse(QuotaDimension::Tokens, wait));
        } else if let Some(limit) = max_slots
            && held.saturating_add(u64::from(need.slots)) > limit
        {
            // Unknown: a slot frees when some request ends; a second is a fair guess.
            refusal = Some(refuse(QuotaDimension::Concurrency, 1_000));
        } else if let Some(budget) = budget
            && self.spent.saturating_add(need.micros) > budget.limit_micros
        {
            refusal = Some(refuse(QuotaDimension::Budget, 0));
        }
        if let Some(mut refused) = refusal {
            self.describe(&mut refused, rpm, tpm, budget, now_ms);
            return refused;
        }

        let mut granted = *need;
        if let Some(limit) = rpm {
            let headroom = limit - used_requests - need.requests;
            granted.requests += extra_of(extra.requests, headroom);
        }
        if let Some(limit) = tpm {
            let headroom = limit - used_tokens - need.tokens;
            granted.tokens += extra_of(extra.tokens, headroom);
        }
        if let Some(limit) = max_slots {
            let headroom = limit - held - u64::from(need.slots);
            let extra_slots = extra_of(u64::from(extra.slots), headroom);
            granted.slots += u32::try_from(extra_slots).unwrap_or(0);
        }
        if let Some(budget) = budget {
            let headroom = budget.limit_micros - self.spent - need.micros;
            let headroom = u64::try_from(headroom).unwrap_or(0);
            let extra_micros = extra_of(u64::try_from(extra.micros).unwrap_or(0), headroom);
            granted.micros += i64::try_from(extra_micros).unwrap_or(0);
        }
        self.window.add(
            now,
            now,
            i64::try_from(granted.requests).unwrap_or(i64::MAX),
            i64::try_from(granted.tokens).unwrap_or(i64::MAX),
        );
        if granted.slots > 0 {
            *self.slots.entry(router.to_string()).or_default() += granted.slots;
        }
        let mut alert = false;
        if let Some(budget) = budget {
            let before = self.spent;
            self.spent = self.spent.saturating_add(granted.micros);
            alert = crossed_alert(budget, before, self.spent);
        }
        let mut response = AcquireResponse {
            granted: Some(granted),
            charged_at: now,
            budget_period: self.budget_period,
            lease_ms: LEASE_MS,
            ..AcquireResponse::default()
        };
        self.describe(&mut response, rpm, tpm, budget, now_ms);
        response.budget_alert = alert;
        response
    }

    /// Fills in the window and budget states a response reports.
    fn describe(
        &self,
        response: &mut AcquireResponse,
        rpm: Option<u64>,
        tpm: Option<u64>,
        budget: Option<&Budget>,
        now_ms: i64,
    ) {
        let now = now_ms.div_euclid(1000);
        let state = |measure, limit: u64| WindowState {
            limit,
            remaining: limit.saturating_sub(self.window.used(measure, now)),
            reset_ms: self.window.reset_ms(measure, now_ms),
        };
        response.requests = rpm.map(|l| state(Measure::Requests, l));
        response.tokens = tpm.map(|l| state(Measure::Tokens, l));
        response.budget_period = self.budget_period;
        response.budget_remaining_micros = budget
            .map(|b| b.limit_micros.saturating_sub(self.spent).max(0))
            .unwrap_or(0);
    }

    /// Applies a router's corrections: window deltas at their seconds, the budget
    /// delta if it is for the current period, slots handed back.
    pub fn apply(&mut self, router: &str, report: &SubjectReport, now_ms: i64) {
        let now = now_ms.div_euclid(1000);
        for delta in &report.window {
            self.window.add(delta.at, now, delta.requests, delta.tokens);
        }
        // A correction for a period that has ended changes nothing that still counts.
        if report.micros != 0 && report.budget_period == self.budget_period {
            self.spent = self.spent.saturating_add(report.micros).max(0);
        }
        if report.slots_returned > 0
            && let Some(held) = self.slots.get_mut(router)
        {
            *held = held.saturating_sub(report.slots_returned);
            if *held == 0 {
                self.slots.remove(router);
            }
        }
    }

    /// Forgets the slots of routers that are gone for good.
    pub fn forget_routers(&mut self, gone: impl Fn(&str) -> bool) {
        self.slots.retain(|router, _| !gone(router));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_proto::auth::v1::{BudgetPeriod, WindowDelta};

    const NOW_MS: i64 = 1_800_000_000_000;

    fn limits(rpm: Option<u64>, tpm: Option<u64>, slots: Option<u32>) -> Limits {
        Limits {
            requests_per_minute: rpm,
            tokens_per_minute: tpm,
            max_concurrent: slots,
        }
    }

    fn one(tokens: u64, micros: i64) -> Amounts {
        Amounts {
            requests: 1,
            tokens,
            micros,
            slots: 1,
        }
    }

    fn alive(_: &str) -> bool {
        true
    }

    /// A request that needs only `micros` of budget `b`.
    fn spend(s: &mut SubjectState, b: &Budget, micros: i64, now_ms: i64) -> AcquireResponse {
        s.acquire(
            None,
            Some(b),
            "a",
            &one(0, micros),
            &Amounts::default(),
            now_ms,
            alive,
        )
    }

    #[test]
    fn admits_exactly_the_rpm_then_refuses_with_a_wait() {
        let mut s = SubjectState::default();
        let l = limits(Some(10), None, None);
        for i in 0..10 {
            let r = s.acquire(
                Some(&l),
                None,
                "a",
                &one(0, 0),
                &Amounts::default(),
                NOW_MS + i,
                alive,
            );
            assert_eq!(r.refused(), QuotaDimension::Unspecified, "request {i}");
        }
        let r = s.acquire(
            Some(&l),
            None,
            "a",
            &one(0, 0),
            &Amounts::default(),
            NOW_MS + 10,
            alive,
        );
        assert_eq!(r.refused(), QuotaDimension::Requests);
        assert!(r.retry_after_ms > 59_000 && r.retry_after_ms <= 60_000);
        let state = r.requests.unwrap();
        assert_eq!((state.limit, state.remaining), (10, 0));
    }

    #[test]
    fn extra_takes_a_quarter_of_headroom_and_none_near_the_limit() {
        let mut s = SubjectState::default();
        let l = limits(Some(100), None, None);
        let want = Amounts {
            requests: 50,
            ..Amounts::default()
        };
        let r = s.acquire(Some(&l), None, "a", &one(0, 0), &want, NOW_MS, alive);
        // Headroom after the need: 99; a quarter: 24.
        assert_eq!(r.granted.unwrap().requests, 25);
        let mut s = SubjectState::default();
        s.window.add(NOW_MS / 1000, NOW_MS / 1000, 96, 0);
        let r = s.acquire(Some(&l), None, "a", &one(0, 0), &want, NOW_MS, alive);
        assert_eq!(r.granted.unwrap().requests, 1);
    }

    #[test]
    fn budget_refuses_the_need_that_does_not_fit_and_settles_to_real_cost() {
        let mut s = SubjectState::default();
        let b = Budget {
            limit_micros: 1_000,
            period: BudgetPeriod::Monthly as i32,
            alert_percent: None,
        };
        let r = spend(&mut s, &b, 600, NOW_MS);
        assert_eq!(r.refused(), QuotaDimension::Unspecified);
        assert_eq!(r.budget_remaining_micros, 400);
        let r = spend(&mut s, &b, 600, NOW_MS);
        assert_eq!(r.refused(), QuotaDimension::Budget);
        // The first request really cost 100: the router hands back 500.
        let period = s.budget_period;
        s.apply(
            "a",
            &SubjectReport {
                subject_id: "key:k".into(),
                micros: -500,
                budget_period: period,
                ..SubjectReport::default()
            },
            NOW_MS,
        );
        assert_eq!(s.spent, 100);
        let r = spend(&mut s, &b, 600, NOW_MS);
        assert_eq!(r.refused(), QuotaDimension::Unspecified);
        // A correction for an earlier period is ignored.
        s.apply(
            "a",
            &SubjectReport {
                micros: -700,
                budget_period: period - 1,
                ..SubjectReport::default()
            },
            NOW_MS,
        );
        assert_eq!(s.spent, 700);
    }

    #[test]
    fn crossing_the_soft_alert_threshold_is_flagged_once() {
        let mut s = SubjectState::default();
        let b = Budget {
            limit_micros: 1_000,
            period: BudgetPeriod::Lifetime as i32,
            alert_percent: Some(80),
        };
        let flags: Vec<bool> = [500, 290, 10, 100]
            .into_iter()
            .map(|m| {
                let r = spend(&mut s, &b, m, NOW_MS);
                r.budget_alert
            })
            .collect();
        // 500, 790, 800 (crosses 80 %), 900.
        assert_eq!(flags, [false, false, true, false]);
    }

    #[test]
    fn a_new_period_starts_from_zero() {
        let mut s = SubjectState::default();
        let b = Budget {
            limit_micros: 1_000,
            period: BudgetPeriod::Daily as i32,
            alert_percent: None,
        };
        spend(&mut s, &b, 1_000, NOW_MS);
        let next_day = NOW_MS + 86_400_000;
        let r = spend(&mut s, &b, 1_000, next_day);
        assert_eq!(r.refused(), QuotaDimension::Unspecified);
    }

    #[test]
    fn slots_of_dead_routers_do_not_count_and_returned_slots_free() {
        let mut s = SubjectState::default();
        let l = limits(None, None, Some(2));
        let need = one(0, 0);
        let none = Amounts::default();
        s.acquire(Some(&l), None, "a", &need, &none, NOW_MS, alive);
        s.acquire(Some(&l), None, "b", &need, &none, NOW_MS, alive);
        let r = s.acquire(Some(&l), None, "c", &need, &none, NOW_MS, alive);
        assert_eq!(r.refused(), QuotaDimension::Concurrency);
        // Router b went silent: its slot no longer counts.
        let r = s.acquire(Some(&l), None, "c", &need, &none, NOW_MS, |r| r != "b");
        assert_eq!(r.refused(), QuotaDimension::Unspecified);
        s.apply(
            "a",
            &SubjectReport {
                slots_returned: 1,
                ..SubjectReport::default()
            },
            NOW_MS,
        );
        assert!(!s.slots.contains_key("a"));
    }

    #[test]
    fn window_deltas_move_lease_units_to_the_second_they_were_used() {
        let mut s = SubjectState::default();
        let l = limits(Some(10), Some(1_000), None);
        let now = NOW_MS / 1000;
        let want = Amounts {
            requests: 8,
            tokens: 400,
            ..Amounts::default()
        };
        let r = s.acquire(Some(&l), None, "a", &one(100, 0), &want, NOW_MS, alive);
        let g = r.granted.unwrap();
        assert_eq!((g.requests, g.tokens), (3, 325));
        // One extra unit used a second later; the rest handed back.
        s.apply(
            "a",
            &SubjectReport {
                window: vec![
                    WindowDelta {
                        at: now,
                        requests: -2,
                        tokens: -225,
                    },
                    WindowDelta {
                        at: now + 1,
                        requests: 1,
                        tokens: 50,
                    },
                ],
                ..SubjectReport::default()
            },
            NOW_MS + 1_000,
        );
        assert_eq!(s.window.used(Measure::Requests, now + 1), 2);
        assert_eq!(s.window.used(Measure::Tokens, now + 1), 150);
        assert_eq!(s.window.used(Measure::Requests, now + 60), 1);
    }
}
