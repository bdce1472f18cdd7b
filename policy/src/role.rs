//! The four roles an account can hold, and their names.
//!
//! What each role may do is decided in `duties.rs`, not here.

use std::{fmt, str::FromStr};

/// The role of an account. One account holds exactly one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The contractor's engineers: request access and open sessions.
    Engineer,
    /// The bureau's duty officers: approve, deny, revoke, terminate.
    Approver,
    /// The bureau's audit administrator: recordings and the audit log.
    Auditor,
    /// The system administrator: users, keys, targets, credentials.
    Admin,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 4] = [Role::Engineer, Role::Approver, Role::Auditor, Role::Admin];

    /// The lowercase name: `engineer`, `approver`, `auditor` or `admin`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Engineer => "engineer",
            Role::Approver => "approver",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    /// The name with its article, for messages: `an engineer`, `an admin`.
    pub(crate) fn with_article(&self) -> String {
        // Every role's name starts with a vowel.
        format!("an {}", self.as_str())
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is none of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {input:?}; expected engineer, approver, auditor or admin")]
pub struct UnknownRole {
    /// What was given, cut to a readable length.
    input: String,
}

impl FromStr for Role {
    type Err = UnknownRole;

    /// Parses a role name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownRole {
                input: s.chars().take(32).collect(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(role.to_string(), role.as_str());
        }
        assert_eq!("Admin".parse::<Role>(), Ok(Role::Admin));
    }

    #[test]
    fn unknown_role_says_what_is_expected() {
        let err = "root".parse::<Role>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unknown role "root"; expected engineer, approver, auditor or admin"#
        );
    }

    #[test]
    fn unknown_role_escapes_unprintable_input() {
        let err = "a\x1b[2Jb".parse::<Role>().unwrap_err().to_string();
        assert!(!err.contains('\x1b'), "{err}");
    }

    #[test]
    fn serde_uses_lowercase_names() {
        assert_eq!(
            serde_json::to_string(&Role::Approver).unwrap(),
            r#""approver""#
        );
        assert_eq!(
            serde_json::from_str::<Role>(r#""auditor""#).unwrap(),
            Role::Auditor
        );
    }
}
