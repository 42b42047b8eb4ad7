//! A router's local state for one subject: the capacity leased from its shard and
//! not yet spent, and the corrections waiting for the next report.
//!
//! Everything here is counted against the shard already (the shard charges what it
//! grants), so spending from the lease needs no round trip. Corrections move each
//! leased unit to the second it was really used, replace estimates by real usage,
//! and hand back what was not used.

use std::collections::BTreeMap;
use std::time::Instant;

use switchyard_proto::auth::v1::{Amounts, SubjectReport, WindowDelta};

/// Where a request's share of a subject was charged: the window second and the
/// budget period its corrections must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    pub at: i64,
    pub period: i64,
}

/// Corrections for the shard, merged until the next report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pending {
    /// Window second → (requests, tokens) to add (negative: hand back).
    window: BTreeMap<i64, (i64, i64)>,
    /// Budget period → micro-dollars to add (negative: hand back).
    micros: BTreeMap<i64, i64>,
    slots_returned: u32,
}

impl Pending {
    pub fn window(&mut self, at: i64, requests: i64, tokens: i64) {
        if requests == 0 && tokens == 0 {
            return;
        }
        let entry = self.window.entry(at).or_default();
        entry.0 += requests;
        entry.1 += tokens;
    }

    pub fn micros(&mut self, period: i64, micros: i64) {
        if micros != 0 {
            *self.micros.entry(period).or_default() += micros;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.window.values().all(|&(r, t)| r == 0 && t == 0)
            && self.micros.values().all(|&m| m == 0)
            && self.slots_returned == 0
    }

    /// The reports for `subject` (one per budget period named; usually one).
    pub fn into_reports(self, subject: &str) -> Vec<SubjectReport> {
        let window: Vec<WindowDelta> = self
            .window
            .into_iter()
            .filter(|(_, (r, t))| *r != 0 || *t != 0)
            .map(|(at, (requests, tokens))| WindowDelta {
                at,
                requests,
                tokens,
            })
            .collect();
        let mut periods: Vec<(i64, i64)> = self.micros.into_iter().collect();
        if periods.is_empty() {
            periods.push((0, 0));
        }
        let mut reports: Vec<SubjectReport> = periods
            .into_iter()
            .map(|(period, micros)| SubjectReport {
                subject_id: subject.to_string(),
                micros,
                budget_period: period,
                ..SubjectReport::default()
            })
            .collect();
        if let Some(first) = reports.first_mut() {
            first.window = window;
            first.slots_returned = self.slots_returned;
        }
        reports
    }
}

/// One grant from the shard, not yet spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub amounts: Amounts,
    pub charge: Charge,
    pub expires: Instant,
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What `need` lacks after `have`, per dimension.
pub fn shortfall(need: &Amounts, have: &Amounts) -> Amounts {
    Amounts {
        requests: need.requests.saturating_sub(have.requests),
        tokens: need.tokens.saturating_sub(have.tokens),
        micros: (need.micros - have.micros.max(0)).max(0),
        slots: need.slots.saturating_sub(have.slots),
    }
}

/// One subject's lease and corrections.
#[derive(Debug, Default)]
pub struct Lease {
    /// Grants not yet spent, oldest first. Each keeps its own charge, so the units
    /// of each are corrected at the second and period they were charged to.
    pub chunks: Vec<Chunk>,
    pub pending: Pending,
    /// What admissions asked for since the last report, to size the next lease.
    pub demand: u64,
    /// `demand` of the previous report interval.
    pub last_demand: u64,
    /// Slots this router holds for requests in flight.
    pub slots_in_use: u32,
}

impl Lease {
    /// What the unexpired grants hold in all.
    pub fn available(&self, now: Instant) -> Amounts {
        let mut sum = Amounts::default();
        for c in self.chunks.iter().filter(|c| c.expires > now) {
            sum.requests += c.amounts.requests;
            sum.tokens += c.amounts.tokens;
            sum.micros += c.amounts.micros;
            sum.slots += c.amounts.slots;
        }
        sum
    }

    /// Spends `need` from the unexpired grants, oldest first, if they cover it
    /// all. Units are moved to second `now_sec` (they were charged when granted),
    /// and micro-dollars to the newest period they come from.
    pub fn take(&mut self, need: &Amounts, now: Instant, now_sec: i64) -> Option<Charge> {
        if shortfall(need, &self.available(now)) != Amounts::default() {
            return None;
        }
        let period = self
            .chunks
            .iter()
            .filter(|c| c.expires > now)
            .map(|c| c.charge.period)
            .max()
            .unwrap_or_default();
        let mut left = *need;
        for chunk in self.chunks.iter_mut().filter(|c| c.expires > now) {
            let have = &mut chunk.amounts;
            let requests = left.requests.min(have.requests);
            let tokens = left.tokens.min(have.tokens);
            let micros = left.micros.min(have.micros).max(0);
            let slots = left.slots.min(have.slots);
            have.requests -= requests;
            have.tokens -= tokens;
            have.micros -= micros;
            have.slots -= slots;
            left.requests -= requests;
            left.tokens -= tokens;
            left.micros -= micros;
            left.slots -= slots;
            if chunk.charge.at != now_sec {
                let (r, t) = (signed(requests), signed(tokens));
                self.pending.window(chunk.charge.at, -r, -t);
                self.pending.window(now_sec, r, t);
            }
            if chunk.charge.period != period {
                self.pending.micros(chunk.charge.period, -micros);
                self.pending.micros(period, micros);
            }
        }
        self.chunks.retain(|c| c.amounts != Amounts::default());
        self.slots_in_use += need.slots;
        Some(Charge {
            at: now_sec,
            period,
        })
    }

    /// Hands every grant back (in the next report).
    pub fn return_all(&mut self) {
        for chunk in std::mem::take(&mut self.chunks) {
            let have = chunk.amounts;
            self.pending.window(
                chunk.charge.at,
                -signed(have.requests),
                -signed(have.tokens),
            );
            self.pending.micros(chunk.charge.period, -have.micros);
            self.pending.slots_returned += have.slots;
        }
    }

    /// Adds a fresh grant.
    pub fn granted(&mut self, amounts: Amounts, charge: Charge, expires: Instant) {
        self.chunks.push(Chunk {
            amounts,
            charge,
            expires,
        });
    }

    /// Settles a request: its tokens and cost replace the estimates charged for it.
    pub fn settle(&mut self, charged: &Amounts, charge: Charge, tokens: u64, micros: i64) {
        if charged.tokens > 0 {
            self.pending
                .window(charge.at, 0, signed(tokens) - signed(charged.tokens));
        }
        if charged.micros > 0 {
            self.pending.micros(charge.period, micros - charged.micros);
        }
    }

    /// A request's slot is free: it becomes a grant again, for this router's next
    /// request or to be handed back in the next report.
    pub fn release_slot(&mut self, now: Instant, expires: Instant) {
        if self.slots_in_use == 0 {
            return;
        }
        self.slots_in_use -= 1;
        if let Some(chunk) = self.chunks.iter_mut().rev().find(|c| c.expires > now) {
            chunk.amounts.slots += 1;
        } else {
            self.chunks.push(Chunk {
                amounts: Amounts {
                    slots: 1,
                    ..Amounts::default()
                },
                charge: Charge { at: 0, period: 0 },
                expires,
            });
        }
    }

    /// Nothing held, owed or recently used: the entry can go.
    pub fn is_idle(&self) -> bool {
        self.chunks.is_empty()
            && self.pending.is_empty()
            && self.slots_in_use == 0
            && self.demand == 0
            && self.last_demand == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn amounts(requests: u64, tokens: u64, micros: i64, slots: u32) -> Amounts {
        Amounts {
            requests,
            tokens,
            micros,
            slots,
        }
    }

    const AT: Charge = Charge {
        at: 1_000,
        period: 7,
    };

    #[test]
    fn spends_locally_and_moves_units_to_the_second_of_use() {
        let now = Instant::now();
        let later = now + Duration::from_secs(2);
        let mut lease = Lease::default();
        let need = amounts(1, 100, 50, 1);
        lease.granted(amounts(3, 300, 150, 3), AT, later);
        let charge = lease.take(&need, now, 1_001).unwrap();
        assert_eq!(
            charge,
            Charge {
                at: 1_001,
                period: 7
            }
        );
        assert_eq!(lease.available(now), amounts(2, 200, 100, 2));
        assert_eq!(lease.pending.window.get(&1_000), Some(&(-1, -100)));
        assert_eq!(lease.pending.window.get(&1_001), Some(&(1, 100)));
        // It cannot cover a bigger need, nor anything once expired.
        assert!(lease.take(&amounts(1, 500, 0, 0), now, 1_001).is_none());
        assert!(lease.take(&need, later, 1_001).is_none());
    }

    #[test]
    fn a_need_can_span_grants_and_each_is_corrected_at_its_own_second() {
        let now = Instant::now();
        let later = now + Duration::from_secs(2);
        let mut lease = Lease::default();
        lease.granted(amounts(0, 30, 0, 0), AT, later);
        let need = amounts(0, 50, 0, 0);
        assert_eq!(
            shortfall(&need, &lease.available(now)),
            amounts(0, 20, 0, 0)
        );
        lease.granted(
            amounts(0, 20, 0, 0),
            Charge {
                at: 1_002,
                period: 7,
            },
            later,
        );
        let charge = lease.take(&need, now, 1_002).unwrap();
        assert_eq!(charge.at, 1_002);
        assert!(lease.chunks.is_empty());
        assert_eq!(lease.pending.window.get(&1_000), Some(&(0, -30)));
        assert_eq!(lease.pending.window.get(&1_002), Some(&(0, 30)));
    }

    #[test]
    fn settling_and_handing_back_sum_to_real_use() {
        let now = Instant::now();
        let later = now + Duration::from_secs(2);
        let mut lease = Lease::default();
        let need = amounts(1, 100, 50, 1);
        lease.granted(amounts(2, 200, 100, 1), AT, later);
        let charge = lease.take(&need, now, 1_000).unwrap();
        // Charged: 2 requests, 200 tokens, 100 µ$ and 1 slot. Used: 1 request, 30
        // tokens, 12 µ$, and the slot came back.
        lease.settle(&need, charge, 30, 12);
        lease.release_slot(now, later);
        lease.return_all();
        let reports = std::mem::take(&mut lease.pending).into_reports("key:k");
        assert_eq!(reports.len(), 1);
        let r = &reports[0];
        assert_eq!(
            r.window,
            vec![WindowDelta {
                at: 1_000,
                requests: -1,
                tokens: -170
            }]
        );
        assert_eq!((r.micros, r.budget_period), (-88, 7));
        assert_eq!(r.slots_returned, 1);
        assert_eq!(lease.slots_in_use, 0);
    }

    #[test]
    fn a_released_slot_serves_the_next_request_locally() {
        let now = Instant::now();
        let later = now + Duration::from_secs(2);
        let mut lease = Lease::default();
        let need = amounts(0, 0, 0, 1);
        lease.granted(need, AT, later);
        lease.take(&need, now, 1_000).unwrap();
        assert!(lease.take(&need, now, 1_000).is_none());
        lease.release_slot(now, later);
        assert!(lease.take(&need, now, 1_000).is_some());
    }
}
