//! The answer every rule gives: allow, or deny with a [`Refusal`].
//!
//! Not where rules live: each rule's file builds its own refusals from [`crate::codes`].

use std::fmt;

/// A refusal: a stable machine code and one line safe to show the engineer.
///
/// The message never contains a target's address or login, nor an unprintable byte.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    /// Stable machine code.
    pub code: crate::codes::Code,
    /// One line for the person who asked.
    pub message: String,
}

impl Refusal {
    /// A refusal with this code and message.
    pub fn new(code: crate::codes::Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// Allow, with what the rule found (often nothing), or deny with a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<T = ()> {
    /// Go ahead.
    Allow(T),
    /// No, and why.
    Deny(Refusal),
}

impl<T> Decision<T> {
    /// A denial with this code and message.
    pub fn deny(code: crate::codes::Code, message: impl Into<String>) -> Self {
        Self::Deny(Refusal::new(code, message))
    }

    /// Whether this is an [`Decision::Allow`].
    pub fn is_allow(&self) -> bool {
        matches!(self, Self::Allow(_))
    }

    /// The refusal, if this is a denial.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Self::Allow(_) => None,
            Self::Deny(refusal) => Some(refusal),
        }
    }

    /// `Ok` for allow, `Err` for deny, for use with `?`.
    pub fn into_result(self) -> Result<T, Refusal> {
        match self {
            Self::Allow(value) => Ok(value),
            Self::Deny(refusal) => Err(refusal),
        }
    }
}

impl<T> From<Result<T, Refusal>> for Decision<T> {
    fn from(result: Result<T, Refusal>) -> Self {
        match result {
            Ok(value) => Self::Allow(value),
            Err(refusal) => Self::Deny(refusal),
        }
    }
}
