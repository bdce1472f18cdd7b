//! Whether an engineer may reach a target: at connect time, and again and again while the
//! session lives.
//!
//! Not where grants are created or revoked (`duties.rs`) or what a grant is (`grant.rs`).
//! The gateway calls [`connect`] once per connection and [`session_check`] every ~500 ms.

use crate::{codes, format_duration, validate_name, Decision, Grant, GrantState, Millis, Refusal};

/// Whether a live session may go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCheck {
    /// The grant is live for `remaining_ms` more milliseconds (always > 0).
    Continue {
        /// Milliseconds until the grant ends; the gateway warns before zero.
        remaining_ms: Millis,
    },
    /// Close the session now and show the engineer why.
    End(Refusal),
}

/// How a target is named in a message: `"web01"` (or `target "web01"` with `noun`) when
/// the name is well formed, and `this target` otherwise, so a message never echoes
/// arbitrary bytes.
fn target_phrase(target: &str, noun: bool) -> String {
    match (validate_name("target", target), noun) {
        (Ok(()), true) => format!("target \"{target}\""),
        (Ok(()), false) => format!("\"{target}\""),
        (Err(_), _) => "this target".to_owned(),
    }
}

/// May `engineer` open a session to `target` at `now`?
///
/// Allows with the live grant, for exactly this engineer and target, that ends last.
/// Otherwise the refusal says what the engineer can do about it: a grant that starts
/// later, one that ended or was revoked, or none at all.
pub fn connect<'g>(
    engineer: &str,
    target: &str,
    now: Millis,
    grants: &'g [Grant],
) -> Decision<&'g Grant> {
    let phrase = target_phrase(target, false);
    let no_grant = || {
        Decision::deny(
            codes::NO_GRANT,
            format!(
                "no live grant for {}; ask an approver for access",
                target_phrase(target, true)
            ),
        )
    };
    // Names that could never be stored match nothing, whatever the grant list holds.
    if validate_name("user", engineer).is_err() || validate_name("target", target).is_err() {
        return no_grant();
    }
    let mine = || {
        grants
            .iter()
            .filter(|g| g.engineer == engineer && g.target == target)
    };

    if let Some(best) = mine().filter(|g| g.is_live(now)).max_by_key(|g| g.end()) {
        return Decision::Allow(best);
    }
    // Nothing live: the soonest grant to come is the most useful thing to say.
    if let Some(next) = mine()
        .filter(|g| g.state(now) == GrantState::NotYet)
        .min_by_key(|g| g.starts_at)
    {
        let wait = format_duration(next.starts_at.saturating_sub(now));
        return Decision::deny(
            codes::GRANT_NOT_YET,
            format!("your grant for {phrase} starts in {wait}; connect again then"),
        );
    }
    // Otherwise the grant that ended last says why there is none now.
    match mine().max_by_key(|g| g.end()).map(|g| g.state(now)) {
        Some(GrantState::Revoked) => Decision::deny(
            codes::GRANT_REVOKED,
            format!(
                "your grant for {phrase} was revoked by an approver; ask an approver for a new grant"
            ),
        ),
        Some(GrantState::Expired) => Decision::deny(
            codes::GRANT_EXPIRED,
            format!("your grant for {phrase} has ended; ask an approver for a new grant"),
        ),
        // Live and NotYet were handled above; None means no grant at all.
        Some(GrantState::Live { .. } | GrantState::NotYet) | None => no_grant(),
    }
}

/// Is the live session opened under `grant` still allowed at `now`?
///
/// Ends exactly when the grant stops being live: at `ends_at`, or at the revocation.
/// A grant that has not started yet also ends the session (code `grant_not_yet`): it can
/// only happen through clock skew or an edited grant, and the gateway fails closed.
pub fn session_check(grant: &Grant, now: Millis) -> SessionCheck {
    let phrase = target_phrase(&grant.target, false);
    match grant.state(now) {
        GrantState::Live { remaining_ms } => SessionCheck::Continue { remaining_ms },
        GrantState::Expired => SessionCheck::End(Refusal::new(
            codes::GRANT_EXPIRED,
            format!("your grant for {phrase} has ended; the session is closed"),
        )),
        GrantState::Revoked => SessionCheck::End(Refusal::new(
            codes::GRANT_REVOKED,
            format!("your grant for {phrase} was revoked by an approver; the session is closed"),
        )),
        GrantState::NotYet => SessionCheck::End(Refusal::new(
            codes::GRANT_NOT_YET,
            format!("your grant for {phrase} has not started yet; the session is closed"),
        )),
    }
}

/// May an engineer who holds `live` sessions now (on every node) open one more, under a
/// policy allowing `max` at once? The refusal names the limit, so the engineer knows what
/// to do (close one) and an administrator which key to change.
pub fn session_count_check(live: u64, max: u32) -> Decision<()> {
    if live < u64::from(max) {
        return Decision::Allow(());
    }
    Decision::deny(
        codes::TOO_MANY_SESSIONS,
        format!(
            "you already have {live} live sessions, the most max_sessions_per_engineer ({max}) allows; end one and connect again"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::tests::{arb_grant, grant};
    use proptest::prelude::*;

    fn code<T>(d: &Decision<T>) -> &'static str {
        d.refusal().map_or("allow", |r| r.code.as_str())
    }

    #[test]
    fn live_grant_allows_connect() {
        let grants = [grant("alice", "web01", 0, 1000)];
        assert_eq!(
            connect("alice", "web01", 500, &grants),
            Decision::Allow(&grants[0])
        );
    }

    #[test]
    fn connect_picks_the_live_grant_that_ends_last() {
        let grants = [
            grant("alice", "web01", 0, 1000),
            grant("alice", "web01", 100, 5000),
            grant("alice", "web01", 200, 3000),
        ];
        assert_eq!(
            connect("alice", "web01", 500, &grants),
            Decision::Allow(&grants[1])
        );
    }

    #[test]
    fn grant_for_another_target_or_engineer_does_not_count() {
        let grants = [
            grant("alice", "db01", 0, 1000),
            grant("bob", "web01", 0, 1000),
        ];
        let d = connect("alice", "web01", 500, &grants);
        assert_eq!(code(&d), "no_grant");
        assert_eq!(
            d.refusal().unwrap().message,
            r#"no live grant for target "web01"; ask an approver for access"#
        );
    }

    #[test]
    fn ended_grant_says_expired() {
        let grants = [grant("alice", "web01", 0, 1000)];
        let d = connect("alice", "web01", 1000, &grants);
        assert_eq!(code(&d), "grant_expired");
        assert!(d.refusal().unwrap().message.contains("has ended"));
    }

    #[test]
    fn revoked_grant_says_revoked() {
        let grants = [Grant {
            revoked_at: Some(300),
            ..grant("alice", "web01", 0, 1000)
        }];
        assert_eq!(
            code(&connect("alice", "web01", 500, &grants)),
            "grant_revoked"
        );
    }

    #[test]
    fn future_grant_says_when_it_starts() {
        let grants = [
            grant("alice", "web01", 0, 10),
            grant("alice", "web01", 12 * 60_000, 20 * 60_000),
        ];
        let d = connect("alice", "web01", 20, &grants);
        assert_eq!(code(&d), "grant_not_yet");
        assert_eq!(
            d.refusal().unwrap().message,
            r#"your grant for "web01" starts in 12 min; connect again then"#
        );
    }

    #[test]
    fn unprintable_target_is_not_echoed() {
        let d = connect("alice", "web\x1b[2J01", 0, &[]);
        assert_eq!(
            d.refusal().unwrap().message,
            "no live grant for this target; ask an approver for access"
        );
    }

    #[test]
    fn empty_names_match_nothing() {
        let grants = [grant("", "", 0, 1000)];
        assert_eq!(code(&connect("", "", 500, &grants)), "no_grant");
    }

    #[test]
    fn session_ends_at_grant_end() {
        let g = grant("alice", "web01", 0, 1000);
        assert_eq!(
            session_check(&g, 999),
            SessionCheck::Continue { remaining_ms: 1 }
        );
        let SessionCheck::End(r) = session_check(&g, 1000) else {
            panic!("must end")
        };
        assert_eq!(r.code, "grant_expired");
        assert_eq!(
            r.message,
            r#"your grant for "web01" has ended; the session is closed"#
        );
    }

    #[test]
    fn session_ends_at_revocation() {
        let g = Grant {
            revoked_at: Some(400),
            ..grant("alice", "web01", 0, 1000)
        };
        assert!(matches!(
            session_check(&g, 399),
            SessionCheck::Continue { .. }
        ));
        let SessionCheck::End(r) = session_check(&g, 400) else {
            panic!("must end")
        };
        assert_eq!(r.code, "grant_revoked");
        assert_eq!(
            r.message,
            r#"your grant for "web01" was revoked by an approver; the session is closed"#
        );
    }

    fn printable_one_line(s: &str) -> bool {
        !s.is_empty() && s.chars().all(|c| (' '..='~').contains(&c))
    }

    proptest! {
        #[test]
        fn connect_allows_only_with_a_live_grant_for_exactly_that_target(
            grants in prop::collection::vec(arb_grant(), 0..8),
            engineer in prop::sample::select(vec!["alice", "bob", "carol", ""]),
            target in prop::sample::select(vec!["web01", "db01", "web02", "web01 "]),
            now in -100i64..100,
        ) {
            let exists = grants
                .iter()
                .any(|g| g.engineer == engineer && g.target == target && g.is_live(now));
            match connect(engineer, target, now, &grants) {
                Decision::Allow(g) => {
                    prop_assert!(exists);
                    prop_assert_eq!(g.engineer.as_str(), engineer);
                    prop_assert_eq!(g.target.as_str(), target);
                    prop_assert!(g.is_live(now));
                    let latest = grants.iter()
                        .filter(|o| o.engineer == engineer && o.target == target && o.is_live(now))
                        .map(Grant::end).max();
                    prop_assert_eq!(Some(g.end()), latest);
                }
                Decision::Deny(r) => {
                    prop_assert!(!exists);
                    prop_assert!(printable_one_line(&r.message));
                    let any = grants.iter().any(|g| g.engineer == engineer && g.target == target);
                    prop_assert_eq!(r.code == "no_grant", !any);
                }
            }
        }

        #[test]
        fn connect_messages_never_echo_unprintable_targets(target in any::<String>()) {
            let grants = [grant("alice", &target, 0, 10)];
            let d = connect("alice", &target, 20, &grants);
            prop_assert!(printable_one_line(&d.refusal().unwrap().message));
        }

        #[test]
        fn session_check_ends_exactly_when_the_grant_stops_being_live(
            g in arb_grant(), now in -100i64..100,
        ) {
            let stopped = now >= g.ends_at || g.revoked_at.is_some_and(|r| r <= now);
            match session_check(&g, now) {
                SessionCheck::Continue { remaining_ms } => {
                    prop_assert!(!stopped && now >= g.starts_at);
                    prop_assert!(remaining_ms > 0 && now + remaining_ms <= g.ends_at);
                }
                SessionCheck::End(r) => {
                    prop_assert!(stopped || now < g.starts_at);
                    prop_assert!(["grant_expired", "grant_revoked", "grant_not_yet"].contains(&r.code.as_str()));
                    prop_assert!(printable_one_line(&r.message));
                }
            }
        }

        #[test]
        fn once_a_started_session_ends_it_stays_ended(
            g in arb_grant(), now in -100i64..100, later in 0i64..100,
        ) {
            if now >= g.starts_at && matches!(session_check(&g, now), SessionCheck::End(_)) {
                let ended_later = matches!(session_check(&g, now + later), SessionCheck::End(_));
                prop_assert!(ended_later);
            }
        }
    }

    #[test]
    fn sessions_up_to_the_cap_pass_and_the_next_is_refused_naming_the_limit() {
        assert_eq!(session_count_check(0, 1), Decision::Allow(()));
        assert_eq!(session_count_check(9, 10), Decision::Allow(()));
        let d = session_count_check(10, 10);
        assert_eq!(code(&d), "too_many_sessions");
        let Decision::Deny(r) = d else { unreachable!() };
        assert!(
            r.message.contains("max_sessions_per_engineer (10)"),
            "{}",
            r.message
        );
        assert!(!r.message.contains('\n'));
    }

    proptest! {
        #[test]
        fn a_session_is_allowed_exactly_below_the_cap(live in 0u64..100, max in 1u32..50) {
            let allowed = matches!(session_count_check(live, max), Decision::Allow(()));
            prop_assert_eq!(allowed, live < u64::from(max));
        }
    }
}
