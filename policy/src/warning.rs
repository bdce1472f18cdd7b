//! Time running out on a live session: the warnings ten minutes and one minute before its
//! grant ends, and the longest session the policy allows.
//!
//! Not where the warning is written to the terminal or recorded as a marker, nor how to ask
//! for more time: the gateway appends that. The grant's own end is `access.rs`.

use crate::{codes, format_duration, login::quoted, Millis, Policy, Refusal, SessionCheck};

const MINUTE: Millis = 60_000;
const DAY: Millis = 24 * 60 * MINUTE;

/// A warning that the grant is about to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Warning {
    /// Ten minutes or less to go.
    TenMinutes,
    /// One minute or less to go.
    OneMinute,
}

impl Warning {
    /// Both warnings, earliest first.
    pub const ALL: [Warning; 2] = [Warning::TenMinutes, Warning::OneMinute];

    /// The minutes this warning announces: 10 or 1.
    pub fn minutes(&self) -> i64 {
        match self {
            Warning::TenMinutes => 10,
            Warning::OneMinute => 1,
        }
    }

    /// The line for the terminal at `now`: `your grant for "web01" ends in 10 min (at 14:05
    /// UTC)`, the time left rounded up to whole minutes (a grant shorter than the warning's
    /// mark is announced with what it really has left). The gateway appends how to ask for
    /// more time.
    pub fn message(&self, target: &str, ends_at: Millis, now: Millis) -> String {
        let left = ends_at.saturating_sub(now).max(1);
        let minutes = left.saturating_add(MINUTE - 1) / MINUTE;
        format!(
            "your grant for {} ends in {} (at {} UTC)",
            quoted(target, "this target"),
            format_duration(minutes.min(self.minutes()) * MINUTE),
            clock(ends_at)
        )
    }
}

/// The UTC time of day of `at`: `14:05`, or `14:05:30` when the seconds are not zero.
fn clock(at: Millis) -> String {
    let secs = at.rem_euclid(DAY) / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match s {
        0 => format!("{h:02}:{m:02}"),
        _ => format!("{h:02}:{m:02}:{s:02}"),
    }
}

/// The warning to show now for a grant ending at `ends_at`, given the ones `sent` already.
///
/// One minute or less to go: [`Warning::OneMinute`] once. More than one and at most ten:
/// [`Warning::TenMinutes`] once. Nothing once the grant has ended, and nothing twice. A
/// session that starts with less than a minute left never gets the ten-minute one.
pub fn warning_due(ends_at: Millis, now: Millis, sent: &[Warning]) -> Option<Warning> {
    let remaining = ends_at.saturating_sub(now);
    let due = if remaining <= 0 {
        return None;
    } else if remaining <= MINUTE {
        Warning::OneMinute
    } else if remaining <= 10 * MINUTE {
        Warning::TenMinutes
    } else {
        return None;
    };
    (!sent.contains(&due)).then_some(due)
}

/// May a session started at `started_at` go on at `now` under the policy's longest
/// session? Ends (code `max_session`) once `now >= started_at + max_session`.
pub fn session_limit(started_at: Millis, policy: &Policy, now: Millis) -> SessionCheck {
    let ends_at = started_at.saturating_add(policy.max_session_ms);
    if now >= ends_at {
        SessionCheck::End(Refusal::new(
            codes::MAX_SESSION,
            format!(
                "the session reached the longest allowed session ({}) and is closed; connect again to go on",
                format_duration(policy.max_session_ms)
            ),
        ))
    } else {
        SessionCheck::Continue {
            remaining_ms: ends_at.saturating_sub(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const END: Millis = 1_700_000_700_000; // 2023-11-14 22:25:00 UTC

    #[test]
    fn ten_minutes_then_one_minute_then_nothing() {
        assert_eq!(warning_due(END, END - 10 * MINUTE - 1, &[]), None);
        assert_eq!(
            warning_due(END, END - 10 * MINUTE, &[]),
            Some(Warning::TenMinutes)
        );
        assert_eq!(
            warning_due(END, END - 5 * MINUTE, &[Warning::TenMinutes]),
            None
        );
        assert_eq!(
            warning_due(END, END - MINUTE, &[Warning::TenMinutes]),
            Some(Warning::OneMinute)
        );
        assert_eq!(warning_due(END, END - 1, &Warning::ALL), None);
        assert_eq!(warning_due(END, END, &[]), None);
        assert_eq!(warning_due(END, END + MINUTE, &[]), None);
    }

    #[test]
    fn a_late_start_skips_the_ten_minute_warning() {
        assert_eq!(
            warning_due(END, END - 30_000, &[]),
            Some(Warning::OneMinute)
        );
    }

    #[test]
    fn messages_name_the_target_and_the_utc_end() {
        assert_eq!(Warning::TenMinutes.minutes(), 10);
        assert_eq!(Warning::OneMinute.minutes(), 1);
        assert_eq!(
            Warning::TenMinutes.message("web01", END, END - 10 * MINUTE),
            r#"your grant for "web01" ends in 10 min (at 22:25 UTC)"#
        );
        // A grant with less left than the mark says what it really has.
        assert_eq!(
            Warning::TenMinutes.message("web01", END, END - 65_000),
            r#"your grant for "web01" ends in 2 min (at 22:25 UTC)"#
        );
        assert_eq!(
            Warning::OneMinute.message("web\x1b01", END + 30_000, END - 20_000),
            "your grant for this target ends in 1 min (at 22:25:30 UTC)"
        );
        assert_eq!(clock(-MINUTE), "23:59");
    }

    #[test]
    fn sessions_end_at_the_longest_session() {
        let policy = Policy::default();
        assert_eq!(
            session_limit(0, &policy, 8 * 3_600_000 - 1),
            SessionCheck::Continue { remaining_ms: 1 }
        );
        let SessionCheck::End(r) = session_limit(0, &policy, 8 * 3_600_000) else {
            panic!("must end")
        };
        assert_eq!(r.code, "max_session");
        assert_eq!(
            r.message,
            "the session reached the longest allowed session (8 h) and is closed; connect again to go on"
        );
    }

    proptest! {
        #[test]
        fn each_warning_fires_at_most_once_and_never_after_the_end(
            ends_at in -10 * MINUTE..20 * MINUTE,
            steps in prop::collection::vec(0..3 * MINUTE, 0..40),
        ) {
            let mut sent = Vec::new();
            let mut now = 0;
            for step in steps {
                now += step;
                if let Some(w) = warning_due(ends_at, now, &sent) {
                    prop_assert!(!sent.contains(&w));
                    prop_assert!(now < ends_at);
                    prop_assert!(ends_at - now <= w.minutes() * MINUTE);
                    sent.push(w);
                }
            }
            prop_assert!(sent.len() <= 2);
        }

        #[test]
        fn session_limit_never_overflows(
            started_at in any::<i64>(), max in any::<i64>(), now in any::<i64>(),
        ) {
            let policy = Policy { max_session_ms: max, ..Policy::default() };
            let _ = session_limit(started_at, &policy, now);
            let _ = warning_due(started_at, now, &[]);
            let _ = Warning::OneMinute.message("t", started_at, now);
        }
    }
}
