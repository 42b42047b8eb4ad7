//! UTC calendar buckets (hour, day, calendar month) in seconds since the Unix epoch.
//!
//! Aggregates are keyed by the start of the bucket a record falls in. Month buckets
//! follow the proleptic Gregorian calendar in UTC, so they are 28–31 days long; every
//! month boundary is a day boundary and every day boundary an hour boundary, which is
//! what lets a range be covered exactly by a mix of month, day and hour buckets.

use switchyard_policy::calendar::{self, DAY, HOUR};

/// The latest instant a query may name: 10000-01-01T00:00:00Z, the end of the range
/// `google.protobuf.Timestamp` allows. Clamping here keeps bucket walks short.
pub(crate) const MAX_SECS: u64 = 253_402_300_800;

/// A bucket size of the aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Granularity {
    /// One UTC hour.
    Hour,
    /// One UTC day.
    Day,
    /// One calendar month in UTC (28–31 days).
    Month,
}

impl Granularity {
    /// Every granularity an aggregate is kept at.
    pub(crate) const ALL: [Granularity; 3] = [Self::Hour, Self::Day, Self::Month];

    /// The byte that starts this granularity's aggregate keys.
    pub(crate) fn tag(self) -> u8 {
        match self {
            Self::Hour => 1,
            Self::Day => 2,
            Self::Month => 3,
        }
    }

    /// The start of the bucket holding `secs`.
    pub(crate) fn floor(self, secs: u64) -> u64 {
        match self {
            Self::Hour => secs - secs % HOUR,
            Self::Day => secs - secs % DAY,
            Self::Month => calendar::month_start(secs),
        }
    }

    /// The start of the bucket after the one starting at (or holding) `secs`.
    pub(crate) fn next(self, secs: u64) -> u64 {
        match self {
            Self::Hour => self.floor(secs).saturating_add(HOUR),
            Self::Day => self.floor(secs).saturating_add(DAY),
            Self::Month => calendar::next_month_start(secs),
        }
    }

    /// The start of the first bucket at or after `secs`.
    pub(crate) fn ceil(self, secs: u64) -> u64 {
        let floor = self.floor(secs);
        if floor == secs { secs } else { self.next(secs) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-01-31T23:59:00Z and 2026-02-01T00:00:00Z.
    const JAN_31_2359: u64 = 1_769_903_940;
    const FEB_1: u64 = 1_769_904_000;

    #[test]
    fn hours_and_days() {
        assert_eq!(Granularity::Day.floor(JAN_31_2359), FEB_1 - DAY);
        assert_eq!(Granularity::Hour.floor(JAN_31_2359), FEB_1 - HOUR);
        assert_eq!(Granularity::Hour.ceil(JAN_31_2359), FEB_1);
        assert_eq!(Granularity::Hour.ceil(FEB_1), FEB_1);
    }
}
