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

    /// The line for the terminal: `your grant for "web01" ends in 10 min (at 14:05 UTC)`.
    /// The gateway appends how to ask for more time.
    pub fn message(&self, target: &str, ends_at: Millis) -> String {
        format!(
            "your grant for {} ends in {} (at {} UTC)",
            quoted(target, "this target"),
            format_duration(self.minutes() * MINUTE),
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
