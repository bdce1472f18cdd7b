//! The tender's service levels, as arithmetic: was a fault answered within the response
//! window (30 minutes for every level), and by when must it be resolved (A and B within
//! 2 hours, C within one working day, D within five working days).
//!
//! Working days are Monday to Friday in the bureau's time zone, minus the public holidays of
//! a [`Calendar`], plus the weekend days it names as working days (China moves weekends
//! around its holidays). Days are counted as days since 1970-01-01 in that zone; dates come
//! in as `YYYY-MM-DD` ([`parse_day`]). No clock, no files: the gateway reads the holiday
//! file and passes the days in.

use std::collections::BTreeSet;

use crate::{Level, Millis};

const DAY_MS: Millis = 86_400_000;
const HOUR_MS: Millis = 3_600_000;

/// How long a level has to be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolutionLimit {
    /// Within this many hours of the report, whatever the day.
    Hours(u32),
    /// By the same time of day this many working days later.
    WorkingDays(u32),
}

/// The tender's resolution limit of `level`: A and B 2 hours, C one working day, D five.
pub fn resolution_limit(level: Level) -> ResolutionLimit {
    match level {
        Level::A | Level::B => ResolutionLimit::Hours(2),
        Level::C => ResolutionLimit::WorkingDays(1),
        Level::D => ResolutionLimit::WorkingDays(5),
    }
}

/// A day that is not `YYYY-MM-DD` on the Gregorian calendar (years 1 to 9999).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a date (expected YYYY-MM-DD)")]
pub struct BadDay(pub String);

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01: `(year, month, day)`.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// `YYYY-MM-DD` of a day since 1970-01-01.
pub fn format_day(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses `YYYY-MM-DD` into days since 1970-01-01; an impossible date (2026-02-30) is an
/// error.
pub fn parse_day(s: &str) -> Result<i64, BadDay> {
    let bad = || BadDay(s.to_owned());
    let mut parts = s.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let num = |p: &str| {
        p.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| p.parse::<u32>().ok())
            .flatten()
    };
    let (Some(y), Some(m), Some(d)) = (num(y), num(m), num(d)) else {
        return Err(bad());
    };
    if y == 0 || !(1..=12).contains(&m) || d == 0 {
        return Err(bad());
    }
    let days = days_from_civil(i64::from(y), m, d);
    if civil_from_days(days) != (i64::from(y), m, d) {
        return Err(bad());
    }
    Ok(days)
}

/// 0 for Monday … 6 for Sunday.
pub fn weekday(days: i64) -> u32 {
    // 1970-01-01 was a Thursday.
    u32::try_from((days + 3).rem_euclid(7)).unwrap_or(0)
}

/// The bureau's working days: its time zone, public holidays and weekend working days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    /// The zone's offset from UTC, in milliseconds (China: +8 hours).
    pub utc_offset_ms: Millis,
    /// Days off that would be working days (days since 1970-01-01).
    pub holidays: BTreeSet<i64>,
    /// Saturdays and Sundays that are working days.
    pub workdays: BTreeSet<i64>,
}

impl Calendar {
    /// Whether `day` (days since 1970-01-01) is a working day.
    pub fn is_working_day(&self, day: i64) -> bool {
        if self.workdays.contains(&day) {
            return true;
        }
        weekday(day) < 5 && !self.holidays.contains(&day)
    }

    /// The local day of an instant.
    pub fn day_of(&self, at: Millis) -> i64 {
        at.saturating_add(self.utc_offset_ms).div_euclid(DAY_MS)
    }

    /// The first working day after `day`. Gives up (returns `day + 3660`) past ten years of
    /// holidays, which no real calendar has.
    fn next_working_day(&self, day: i64) -> i64 {
        (1..=3660)
            .map(|i| day + i)
            .find(|d| self.is_working_day(*d))
            .unwrap_or(day + 3660)
    }

    /// `n` working days after `at`: the same local time of day on the `n`th working day
    /// after `at`'s day; from a day off, counting starts at the next working day's midnight
    /// (a fault reported on Saturday with one working day is due at Tuesday 00:00).
    pub fn add_working_days(&self, at: Millis, n: u32) -> Millis {
        let local = at.saturating_add(self.utc_offset_ms);
        let (mut day, mut time) = (local.div_euclid(DAY_MS), local.rem_euclid(DAY_MS));
        if !self.is_working_day(day) {
            day = self.next_working_day(day);
            time = 0;
        }
        for _ in 0..n {
            day = self.next_working_day(day);
        }
        day.saturating_mul(DAY_MS)
            .saturating_add(time)
            .saturating_sub(self.utc_offset_ms)
    }
}

/// By when a fault of `level` reported at `reported_at` must be resolved.
pub fn resolution_deadline(level: Level, reported_at: Millis, calendar: &Calendar) -> Millis {
    match resolution_limit(level) {
        ResolutionLimit::Hours(h) => reported_at.saturating_add(HOUR_MS * i64::from(h)),
        ResolutionLimit::WorkingDays(n) => calendar.add_working_days(reported_at, n),
    }
}

/// How a time limit was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compliance {
    /// Done by the limit.
    Met,
    /// Done after the limit.
    Missed,
    /// Not done, and the limit has passed.
    Overdue,
    /// Not done yet, and there is still time.
    Open,
}

impl Compliance {
    /// `done` (when it was done, if it was) against `deadline`, as of `now`.
    pub fn of(done: Option<Millis>, deadline: Millis, now: Millis) -> Compliance {
        match done {
            Some(t) if t <= deadline => Compliance::Met,
            Some(_) => Compliance::Missed,
            None if now > deadline => Compliance::Overdue,
            None => Compliance::Open,
        }
    }

    /// Whether it counts against the provider (missed or overdue); `None` while open.
    pub fn kept(&self) -> Option<bool> {
        match self {
            Compliance::Met => Some(true),
            Compliance::Missed | Compliance::Overdue => Some(false),
            Compliance::Open => None,
        }
    }
}

/// The response of a fault filed at `filed_at`, answered at `answered_at` (if it was),
/// against the response window, as of `now`.
pub fn response(
    filed_at: Millis,
    answered_at: Option<Millis>,
    window_ms: Millis,
    now: Millis,
) -> Compliance {
    Compliance::of(answered_at, filed_at.saturating_add(window_ms), now)
}

/// Percentage of `kept` among `counted`, one decimal; `None` when nothing was counted.
pub fn percent(kept: u64, counted: u64) -> Option<f64> {
    if counted == 0 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let p = kept as f64 * 100.0 / counted as f64;
    Some((p * 10.0).round() / 10.0)
}

/// The `p`-th percentile (0–100, nearest rank) of `values`, one decimal; `None` when there
/// are none. The order of `values` does not matter.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * sorted.len() as f64).ceil() as usize;
    let v = sorted.get(rank.saturating_sub(1)).or(sorted.first())?;
    Some((v * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(day: &str, hh: i64, mm: i64, cal: &Calendar) -> Millis {
        parse_day(day).unwrap() * DAY_MS + hh * HOUR_MS + mm * 60_000 - cal.utc_offset_ms
    }

    fn china() -> Calendar {
        Calendar {
            utc_offset_ms: 8 * HOUR_MS,
            ..Calendar::default()
        }
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7.0], 90.0), Some(7.0));
        // Unsorted in, nearest rank out: median of 4 is the 2nd, p90 of 10 the 9th.
        assert_eq!(percentile(&[40.0, 1.0, 3.0, 2.0], 50.0), Some(2.0));
        let ten: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        assert_eq!(percentile(&ten, 90.0), Some(9.0));
        assert_eq!(percentile(&ten, 100.0), Some(10.0));
        assert_eq!(percentile(&[0.123_45], 50.0), Some(0.1));
    }

    #[test]
    fn days_and_weekdays() {
        assert_eq!(parse_day("1970-01-01"), Ok(0));
        assert_eq!(format_day(parse_day("2026-11-29").unwrap()), "2026-11-29");
        // 2026-11-29 is a Sunday, 2026-11-30 a Monday.
        assert_eq!(weekday(parse_day("2026-11-29").unwrap()), 6);
        assert_eq!(weekday(parse_day("2026-11-30").unwrap()), 0);
        assert!(parse_day("2028-02-29").is_ok());
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-1-01",
            "26-01-01",
            "2026-01-00",
            "2026/01/01",
            "",
            "2026-01-01-",
            "+026-01-01",
        ] {
            assert!(parse_day(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn levels_have_the_tenders_limits() {
        let cal = china();
        let fri = at("2026-11-27", 10, 0, &cal);
        assert_eq!(resolution_deadline(Level::A, fri, &cal), fri + 2 * HOUR_MS);
        assert_eq!(resolution_deadline(Level::B, fri, &cal), fri + 2 * HOUR_MS);
        // C: one working day, over the weekend to Monday 10:00.
        assert_eq!(
            resolution_deadline(Level::C, fri, &cal),
            at("2026-11-30", 10, 0, &cal)
        );
        // D: five working days, Friday to the next Friday.
        assert_eq!(
            resolution_deadline(Level::D, fri, &cal),
            at("2026-12-04", 10, 0, &cal)
        );
    }

    #[test]
    fn holidays_and_moved_weekends_count() {
        let mut cal = china();
        cal.holidays.insert(parse_day("2026-11-30").unwrap());
        let fri = at("2026-11-27", 10, 0, &cal);
        assert_eq!(
            resolution_deadline(Level::C, fri, &cal),
            at("2026-12-01", 10, 0, &cal)
        );
        // A Saturday made a working day comes first.
        cal.workdays.insert(parse_day("2026-11-28").unwrap());
        assert_eq!(
            resolution_deadline(Level::C, fri, &cal),
            at("2026-11-28", 10, 0, &cal)
        );
        // Reported on a day off: counting starts at the next working day's midnight.
        let cal = china();
        let sat = at("2026-11-28", 15, 0, &cal);
        assert_eq!(
            resolution_deadline(Level::C, sat, &cal),
            at("2026-12-01", 0, 0, &cal)
        );
    }

    #[test]
    fn the_zone_decides_the_day() {
        // Friday 23:30 in Beijing is Friday 15:30 UTC: a UTC calendar and a Beijing one agree
        // on Friday. Monday 01:00 in Beijing is Sunday 17:00 UTC: they disagree.
        let utc = Calendar::default();
        let cal = china();
        let mon_early = at("2026-11-30", 1, 0, &cal);
        assert!(cal.is_working_day(cal.day_of(mon_early)));
        assert!(!utc.is_working_day(utc.day_of(mon_early)));
    }

    #[test]
    fn response_and_compliance() {
        let w = 30 * 60_000;
        assert_eq!(response(0, Some(w), w, 0), Compliance::Met);
        assert_eq!(response(0, Some(w + 1), w, 0), Compliance::Missed);
        assert_eq!(response(0, None, w, w + 1), Compliance::Overdue);
        assert_eq!(response(0, None, w, w), Compliance::Open);
        assert_eq!(percent(2, 3), Some(66.7));
        assert_eq!(percent(0, 0), None);
    }

    proptest! {
        #[test]
        fn dates_round_trip(days in -700_000i64..2_900_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), days);
            if (1..=9999).contains(&y) {
                prop_assert_eq!(parse_day(&format_day(days)), Ok(days));
            }
        }

        #[test]
        fn working_day_deadlines_land_on_working_days_after_the_report(
            start in 0i64..4_000_000_000_000,
            n in 1u32..10,
            holidays in proptest::collection::btree_set(20_000i64..21_000, 0..200),
            offset_h in -12i64..14,
        ) {
            let cal = Calendar { utc_offset_ms: offset_h * HOUR_MS, holidays, workdays: BTreeSet::new() };
            let due = cal.add_working_days(start, n);
            prop_assert!(due > start);
            prop_assert!(cal.is_working_day(cal.day_of(due)));
            // Exactly n working days lie in (report day, due day].
            let from = cal.day_of(start);
            let to = cal.day_of(due);
            let counted = (from + 1..=to).filter(|d| cal.is_working_day(*d)).count();
            let expected = if cal.is_working_day(from) { n } else { n + 1 };
            prop_assert_eq!(u32::try_from(counted).unwrap(), expected);
            // More working days never come earlier; a holiday never makes it earlier.
            prop_assert!(cal.add_working_days(start, n + 1) > due);
        }
    }
}
