//! UTC calendar buckets (hour, day, calendar month) in seconds since the Unix epoch.
//!
//! Aggregates are keyed by the start of the bucket a record falls in. Month buckets
//! follow the proleptic Gregorian calendar in UTC, so they are 28–31 days long; every
//! month boundary is a day boundary and every day boundary an hour boundary, which is
//! what lets a range be covered exactly by a mix of month, day and hour buckets.

const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;

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
            Self::Month => {
                let (year, month, _) = civil_from_days(secs / DAY);
                days_from_civil(year, month) * DAY
            }
        }
    }

    /// The start of the bucket after the one starting at (or holding) `secs`.
    pub(crate) fn next(self, secs: u64) -> u64 {
        match self {
            Self::Hour => self.floor(secs).saturating_add(HOUR),
            Self::Day => self.floor(secs).saturating_add(DAY),
            Self::Month => {
                let (year, month, _) = civil_from_days(secs / DAY);
                let (year, month) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                days_from_civil(year, month).saturating_mul(DAY)
            }
        }
    }

    /// The start of the first bucket at or after `secs`.
    pub(crate) fn ceil(self, secs: u64) -> u64 {
        let floor = self.floor(secs);
        if floor == secs { secs } else { self.next(secs) }
    }
}

/// Days since 1970-01-01 of the first day of `month` in `year` (years ≥ 1970).
fn days_from_civil(year: u64, month: u64) -> u64 {
    // Howard Hinnant's algorithm, with March as the first month of the computing year
    // so the leap day is the last day of it.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

/// (year, month 1–12, day 1–31) of a day count since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-01-31T23:59:00Z and 2026-02-01T00:00:00Z.
    const JAN_31_2359: u64 = 1_769_903_940;
    const FEB_1: u64 = 1_769_904_000;
    const JAN_1: u64 = 1_767_225_600;
    const MAR_1: u64 = 1_772_323_200;

    #[test]
    fn months_are_calendar_aligned_in_utc() {
        assert_eq!(civil_from_days(FEB_1 / DAY), (2026, 2, 1));
        assert_eq!(Granularity::Month.floor(JAN_31_2359), JAN_1);
        assert_eq!(Granularity::Month.floor(FEB_1), FEB_1);
        assert_eq!(Granularity::Month.next(JAN_31_2359), FEB_1);
        assert_eq!(Granularity::Month.next(FEB_1), MAR_1);
        assert_eq!(Granularity::Month.floor(0), 0);
        // 2024 is a leap year: 2024-02-01 → 2024-03-01 is 29 days.
        let feb_2024 = days_from_civil(2024, 2) * DAY;
        assert_eq!(Granularity::Month.next(feb_2024) - feb_2024, 29 * DAY);
        // December rolls into the next year.
        let dec_2025 = days_from_civil(2025, 12) * DAY;
        assert_eq!(Granularity::Month.next(dec_2025), JAN_1);
    }

    #[test]
    fn hours_and_days() {
        assert_eq!(Granularity::Day.floor(JAN_31_2359), FEB_1 - DAY);
        assert_eq!(Granularity::Hour.floor(JAN_31_2359), FEB_1 - HOUR);
        assert_eq!(Granularity::Hour.ceil(JAN_31_2359), FEB_1);
        assert_eq!(Granularity::Hour.ceil(FEB_1), FEB_1);
    }

    #[test]
    fn round_trips_every_month_for_centuries() {
        let mut start = 0;
        for year in 1970..2400 {
            for month in 1..=12 {
                assert_eq!(days_from_civil(year, month) * DAY, start);
                assert_eq!(Granularity::Month.floor(start + DAY / 2), start);
                start = Granularity::Month.next(start);
            }
        }
    }
}
