//! UTC calendar arithmetic in seconds since the Unix epoch: the day, ISO week
//! (Monday first) and calendar month holding an instant. Metering's aggregates and
//! auth's budget periods both align to these boundaries, so a "monthly" budget and
//! a month of usage cover the same seconds.

/// Seconds in an hour.
pub const HOUR: u64 = 3_600;
/// Seconds in a day.
pub const DAY: u64 = 86_400;
/// Seconds in a week.
pub const WEEK: u64 = 7 * DAY;

/// The start of the UTC day holding `secs`.
pub fn day_start(secs: u64) -> u64 {
    secs - secs % DAY
}

/// The start of the week (Monday 00:00 UTC) holding `secs`.
pub fn week_start(secs: u64) -> u64 {
    let days = secs / DAY;
    // 1970-01-01 was a Thursday: three days after a Monday.
    let since_monday = (days + 3) % 7;
    days.saturating_sub(since_monday) * DAY
}

/// The start of the calendar month (UTC) holding `secs`.
pub fn month_start(secs: u64) -> u64 {
    let (year, month, _) = civil_from_days(secs / DAY);
    days_from_civil(year, month) * DAY
}

/// The start of the calendar month after the one holding `secs`.
pub fn next_month_start(secs: u64) -> u64 {
    let (year, month, _) = civil_from_days(secs / DAY);
    let (year, month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    days_from_civil(year, month).saturating_mul(DAY)
}

/// Days since 1970-01-01 of the first day of `month` in `year` (years ≥ 1970).
pub fn days_from_civil(year: u64, month: u64) -> u64 {
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
pub fn civil_from_days(days: u64) -> (u64, u64, u64) {
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

/// The start of the budget period holding `now` (unix seconds), UTC-aligned; 0
/// (the epoch) for a lifetime budget. Auth's counters and the router's report of
/// a key's spend both align to it.
pub fn budget_period_start(period: switchyard_proto::auth::v1::BudgetPeriod, now: i64) -> i64 {
    use switchyard_proto::auth::v1::BudgetPeriod;
    let secs = u64::try_from(now).unwrap_or(0);
    let start = match period {
        BudgetPeriod::Daily => day_start(secs),
        BudgetPeriod::Weekly => week_start(secs),
        BudgetPeriod::Monthly => month_start(secs),
        BudgetPeriod::Lifetime | BudgetPeriod::Unspecified => 0,
    };
    i64::try_from(start).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-01-31T23:59:00Z, 2026-02-01T00:00:00Z, 2026-01-01, 2026-03-01.
    const JAN_31_2359: u64 = 1_769_903_940;
    const FEB_1: u64 = 1_769_904_000;
    const JAN_1: u64 = 1_767_225_600;
    const MAR_1: u64 = 1_772_323_200;

    #[test]
    fn months_are_calendar_aligned_in_utc() {
        assert_eq!(civil_from_days(FEB_1 / DAY), (2026, 2, 1));
        assert_eq!(month_start(JAN_31_2359), JAN_1);
        assert_eq!(month_start(FEB_1), FEB_1);
        assert_eq!(next_month_start(JAN_31_2359), FEB_1);
        assert_eq!(next_month_start(FEB_1), MAR_1);
        assert_eq!(month_start(0), 0);
        // 2024 is a leap year: 2024-02-01 → 2024-03-01 is 29 days.
        let feb_2024 = days_from_civil(2024, 2) * DAY;
        assert_eq!(next_month_start(feb_2024) - feb_2024, 29 * DAY);
        // December rolls into the next year.
        let dec_2025 = days_from_civil(2025, 12) * DAY;
        assert_eq!(next_month_start(dec_2025), JAN_1);
    }

    #[test]
    fn weeks_start_on_monday() {
        // 2026-11-23 is a Monday (checked with `date -u -d 2026-11-23 +%u` = 1).
        let monday = days_from_civil(2026, 11) * DAY + 22 * DAY;
        assert_eq!(week_start(monday), monday);
        assert_eq!(week_start(monday + 6 * DAY + DAY - 1), monday);
        assert_eq!(week_start(monday + WEEK), monday + WEEK);
        assert_eq!(week_start(monday - 1), monday - WEEK);
        assert_eq!(day_start(monday + 5), monday);
    }

    #[test]
    fn round_trips_every_month_for_centuries() {
        let mut start = 0;
        for year in 1970..2400 {
            for month in 1..=12 {
                assert_eq!(days_from_civil(year, month) * DAY, start);
                assert_eq!(month_start(start + DAY / 2), start);
                start = next_month_start(start);
            }
        }
    }
}
