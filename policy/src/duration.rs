//! Spans of time written for people: `45 s`, `12 min`, `3 h 20 min`, `2 d 4 h`.
//!
//! Used in refusal messages and by the gateway's end-of-grant warnings. Not a parser.

use crate::Millis;

/// A span for people, rounded up to the unit shown; zero or negative is `0 s`.
pub fn format_duration(ms: Millis) -> String {
    if ms <= 0 {
        return "0 s".to_owned();
    }
    let secs = ms / 1000 + i64::from(ms % 1000 != 0);
    if secs < 60 {
        return format!("{secs} s");
    }
    let mins = secs / 60 + i64::from(secs % 60 != 0);
    if mins < 60 {
        return format!("{mins} min");
    }
    let (hours, mins) = (mins / 60, mins % 60);
    if hours < 48 {
        return match mins {
            0 => format!("{hours} h"),
            _ => format!("{hours} h {mins} min"),
        };
    }
    match (hours / 24, hours % 24) {
        (days, 0) => format!("{days} d"),
        (days, hours) => format!("{days} d {hours} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_naturally() {
        assert_eq!(format_duration(-5), "0 s");
        assert_eq!(format_duration(0), "0 s");
        assert_eq!(format_duration(1), "1 s");
        assert_eq!(format_duration(45_000), "45 s");
        assert_eq!(format_duration(60_000), "1 min");
        assert_eq!(format_duration(61_000), "2 min");
        assert_eq!(format_duration(4 * 3_600_000), "4 h");
        assert_eq!(format_duration(3 * 3_600_000 + 20 * 60_000), "3 h 20 min");
        assert_eq!(format_duration(52 * 3_600_000), "2 d 4 h");
        assert!(!format_duration(i64::MAX).is_empty());
    }
}
