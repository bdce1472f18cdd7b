//! A grant: one engineer may reach one target between two instants, unless revoked.
//!
//! This file says what a grant is and where it stands at a given instant. Whether a
//! connection or a live session may proceed is decided in `access.rs`; who may create or
//! revoke a grant in `duties.rs`.

use crate::Millis;

/// Access for one engineer to one target during `[starts_at, ends_at)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Grant {
    /// Grant id, as stored.
    pub id: String,
    /// The engineer's account name.
    pub engineer: String,
    /// The target's name (never its address).
    pub target: String,
    /// First instant the grant is live.
    pub starts_at: Millis,
    /// First instant the grant is no longer live.
    pub ends_at: Millis,
    /// When an approver revoked it, if they did.
    pub revoked_at: Option<Millis>,
    /// Why access was asked for (incident, work to do).
    pub reason: String,
    /// The approver who granted it.
    pub granted_by: String,
}

/// Where a grant stands at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantState {
    /// Starts later.
    NotYet,
    /// Live now, for `remaining_ms` more milliseconds (always > 0).
    Live {
        /// Milliseconds until the grant ends.
        remaining_ms: Millis,
    },
    /// Ended at `ends_at`.
    Expired,
    /// Revoked by an approver before it ended.
    Revoked,
}

impl Grant {
    /// The instant the grant stops being live: `ends_at`, or the revocation if earlier.
    pub fn end(&self) -> Millis {
        match self.revoked_at {
            Some(revoked_at) => revoked_at.min(self.ends_at),
            None => self.ends_at,
        }
    }

    /// Whether the grant was revoked before it would have ended, as seen at `now`.
    fn revoked_by(&self, now: Millis) -> bool {
        self.revoked_at
            .is_some_and(|revoked_at| revoked_at <= now && revoked_at < self.ends_at)
    }

    /// `starts_at <= now < ends_at`, and not revoked at or before `now`.
    pub fn is_live(&self, now: Millis) -> bool {
        self.starts_at <= now && now < self.end()
    }

    /// Where the grant stands at `now`. A revocation wins over everything once it has
    /// happened, unless the grant had already expired by then.
    pub fn state(&self, now: Millis) -> GrantState {
        if self.revoked_by(now) {
            GrantState::Revoked
        } else if now >= self.ends_at {
            GrantState::Expired
        } else if now < self.starts_at {
            GrantState::NotYet
        } else {
            GrantState::Live {
                remaining_ms: self.end().saturating_sub(now),
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn grant(engineer: &str, target: &str, starts_at: Millis, ends_at: Millis) -> Grant {
        Grant {
            id: format!("g-{engineer}-{target}-{starts_at}-{ends_at}"),
            engineer: engineer.to_owned(),
            target: target.to_owned(),
            starts_at,
            ends_at,
            revoked_at: None,
            reason: "INC-1 level B".to_owned(),
            granted_by: "olga".to_owned(),
        }
    }

    #[test]
    fn grant_is_live_from_start_until_just_before_end() {
        let g = grant("alice", "web01", 100, 200);
        assert_eq!(g.state(99), GrantState::NotYet);
        assert_eq!(g.state(100), GrantState::Live { remaining_ms: 100 });
        assert_eq!(g.state(199), GrantState::Live { remaining_ms: 1 });
        assert_eq!(g.state(200), GrantState::Expired);
        assert!(!g.is_live(99) && g.is_live(100) && g.is_live(199) && !g.is_live(200));
    }

    #[test]
    fn revocation_takes_effect_at_the_revocation_instant() {
        let g = Grant {
            revoked_at: Some(150),
            ..grant("alice", "web01", 100, 200)
        };
        assert_eq!(g.state(149), GrantState::Live { remaining_ms: 1 });
        assert_eq!(g.state(150), GrantState::Revoked);
        assert_eq!(g.state(250), GrantState::Revoked);
        assert!(!g.is_live(150));
    }

    #[test]
    fn revocation_before_start_means_never_live() {
        let g = Grant {
            revoked_at: Some(50),
            ..grant("alice", "web01", 100, 200)
        };
        assert_eq!(g.state(120), GrantState::Revoked);
        assert!(!g.is_live(120));
    }

    #[test]
    fn revoking_an_expired_grant_leaves_it_expired() {
        let g = Grant {
            revoked_at: Some(300),
            ..grant("alice", "web01", 100, 200)
        };
        assert_eq!(g.state(400), GrantState::Expired);
    }

    #[test]
    fn empty_window_is_never_live() {
        let g = grant("alice", "web01", 200, 100);
        assert!((0..300).all(|t| !g.is_live(t)));
    }

    pub(crate) fn arb_grant() -> impl Strategy<Value = Grant> {
        (
            prop::sample::select(vec!["alice", "bob"]),
            prop::sample::select(vec!["web01", "db01"]),
            -50i64..50,
            -50i64..50,
            prop::option::of(-60i64..60),
        )
            .prop_map(|(engineer, target, starts_at, ends_at, revoked_at)| Grant {
                revoked_at,
                ..grant(engineer, target, starts_at, ends_at)
            })
    }

    proptest! {
        #[test]
        fn is_live_agrees_with_state(g in arb_grant(), now in -100i64..100) {
            let live = matches!(g.state(now), GrantState::Live { .. });
            prop_assert_eq!(g.is_live(now), live);
            let by_definition = g.starts_at <= now
                && now < g.ends_at
                && g.revoked_at.is_none_or(|r| r > now);
            prop_assert_eq!(g.is_live(now), by_definition);
            if let GrantState::Live { remaining_ms } = g.state(now) {
                prop_assert!(remaining_ms > 0);
                prop_assert_eq!(now + remaining_ms, g.end());
            }
        }

        #[test]
        fn state_never_overflows(
            starts_at in any::<i64>(), ends_at in any::<i64>(),
            revoked_at in any::<Option<i64>>(), now in any::<i64>(),
        ) {
            let g = Grant { revoked_at, ..grant("a", "t", starts_at, ends_at) };
            let _ = g.state(now);
        }
    }
}
