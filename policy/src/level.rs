//! The fault levels A–D of the tender, which every request for access carries.
//!
//! How long a grant of each level may last is policy (`rules.rs`), not here.

use std::{fmt, str::FromStr};

/// A fault level: A is the most urgent, D the least.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Level {
    /// Resolve within 2 hours; the only level break-glass applies to.
    A,
    /// Resolve within 2 hours.
    B,
    /// Resolve within one working day.
    C,
    /// Resolve within five working days.
    D,
}

impl Level {
    /// Every level, most urgent first.
    pub const ALL: [Level; 4] = [Level::A, Level::B, Level::C, Level::D];

    /// The level's letter: `A`, `B`, `C` or `D`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Level::A => "A",
            Level::B => "B",
            Level::C => "C",
            Level::D => "D",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fault level that is none of A, B, C or D.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("fault level must be A, B, C or D")]
pub struct UnknownLevel;

impl FromStr for Level {
    type Err = UnknownLevel;

    /// Parses a level letter, ignoring case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|level| level.as_str().eq_ignore_ascii_case(s))
            .ok_or(UnknownLevel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_round_trip_in_either_case() {
        for level in Level::ALL {
            assert_eq!(level.as_str().parse::<Level>(), Ok(level));
            assert_eq!(
                level.as_str().to_ascii_lowercase().parse::<Level>(),
                Ok(level)
            );
            assert_eq!(level.to_string(), level.as_str());
        }
    }

    #[test]
    fn anything_else_is_refused_with_the_choices() {
        for bad in ["", "E", "AA", " A", "1", "a\x1b"] {
            let err = bad.parse::<Level>().unwrap_err();
            assert_eq!(err.to_string(), "fault level must be A, B, C or D");
        }
    }

    #[test]
    fn a_is_the_most_urgent() {
        assert!(Level::A < Level::B && Level::B < Level::C && Level::C < Level::D);
    }

    #[test]
    fn serde_uses_the_letter() {
        assert_eq!(serde_json::to_string(&Level::C).unwrap(), r#""C""#);
        assert_eq!(serde_json::from_str::<Level>(r#""D""#).unwrap(), Level::D);
    }
}
