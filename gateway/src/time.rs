//! Wall-clock helpers: the gateway keeps every instant as unix epoch milliseconds
//! ([`policy::Millis`]) and shows them to people as RFC 3339 in UTC. Not a scheduler.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use policy::Millis;

/// Now, as unix epoch milliseconds.
pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX))
        .unwrap_or(0)
}

/// RFC 3339 (UTC, millisecond precision) for an epoch-millisecond instant.
pub fn rfc3339(ms: Millis) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

/// Parses an RFC 3339 instant (as printed by [`rfc3339`]) into epoch milliseconds.
pub fn parse_rfc3339(s: &str) -> Result<Millis, String> {
    let t = humantime::parse_rfc3339_weak(s)
        .map_err(|e| format!("invalid time {s:?}: {e}; expected e.g. 2026-11-29T08:00:00Z"))?;
    let d = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("time {s:?} is before 1970"))?;
    Millis::try_from(d.as_millis()).map_err(|_| format!("time {s:?} is out of range"))
}

/// Parses a human duration such as `2h`, `90m`, `3s`, `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("invalid duration {s:?}: {e}; expected e.g. 2h, 90m, 30s"))
}

/// A duration as whole milliseconds, saturating.
pub fn duration_ms(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        let t = 1_764_403_200_123;
        assert_eq!(parse_rfc3339(&rfc3339(t)), Ok(t));
    }

    #[test]
    fn durations_parse_and_bad_ones_say_what_is_expected() {
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("two hours")
            .unwrap_err()
            .contains("expected"));
    }
}
