//! Separation of duties: who may grant and revoke access, and which role an account may
//! hold (等保 2.0 三权分立: one account, one role; nobody approves their own access).
//!
//! Not what a role is (`role.rs`) nor whether a grant is live (`grant.rs`).

use crate::{codes, format_duration, validate_name, Decision, Millis, Role};

/// An account acting or acted upon: its name and its one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor<'a> {
    /// Account name.
    pub name: &'a str,
    /// The account's role.
    pub role: Role,
}

/// Whether two account names are the same account. Ignores ASCII case, so that a
/// case-insensitive user store can never let `Olga` grant to `olga`.
pub(crate) fn same_account(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// May `actor` grant `engineer` access lasting `duration_ms`, with `max_ms` the cap?
///
/// Only approvers grant, only engineers receive, nobody grants to themself, and
/// `0 < duration_ms <= max_ms`.
pub fn create_grant(
    actor: &Actor,
    engineer: &Actor,
    duration_ms: Millis,
    max_ms: Millis,
) -> Decision {
    if actor.role != Role::Approver {
        return Decision::deny(
            codes::NOT_APPROVER,
            format!(
                "only approvers can grant access; this account is {}",
                actor.role.with_article()
            ),
        );
    }
    if same_account(actor.name, engineer.name) {
        return Decision::deny(
            codes::SELF_GRANT,
            "you cannot grant access to yourself; ask another approver",
        );
    }
    if engineer.role != Role::Engineer {
        let who = match validate_name("user", engineer.name) {
            Ok(()) => format!("\"{}\"", engineer.name),
            Err(_) => "this account".to_owned(),
        };
        return Decision::deny(
            codes::RECIPIENT_NOT_ENGINEER,
            format!(
                "access can only be granted to engineers; {who} is {}",
                engineer.role.with_article()
            ),
        );
    }
    if duration_ms <= 0 {
        return Decision::deny(codes::BAD_DURATION, "a grant must last longer than zero");
    }
    if duration_ms > max_ms {
        return Decision::deny(
            codes::DURATION_OVER_CAP,
            format!(
                "a grant may last at most {}; {} was asked for",
                format_duration(max_ms),
                format_duration(duration_ms)
            ),
        );
    }
    Decision::Allow(())
}

/// May `actor` revoke a grant? Approvers only.
pub fn revoke_grant(actor: &Actor) -> Decision {
    match actor.role {
        Role::Approver => Decision::Allow(()),
        Role::Engineer | Role::Auditor | Role::Admin => Decision::deny(
            codes::NOT_APPROVER,
            format!(
                "only approvers can revoke access; this account is {}",
                actor.role.with_article()
            ),
        ),
    }
}

/// May an account whose role is `current` (`None` for a new account) be given `requested`?
///
/// A new account takes any role; an existing account keeps the role it has. Changing it is
/// refused, so that no account ever holds two roles over its lifetime: an account that was
/// admin may never become approver or auditor. Create a separate account instead.
pub fn assign_role(current: Option<Role>, requested: Role) -> Decision {
    match current {
        None => Decision::Allow(()),
        Some(role) if role == requested => Decision::Allow(()),
        Some(role) => Decision::deny(
            codes::SEPARATION_OF_DUTIES,
            format!(
                "this account is {} and cannot become {}: one account holds one role \
                 (separation of duties); create a separate account",
                role.with_article(),
                requested.with_article()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OLGA: Actor = Actor {
        name: "olga",
        role: Role::Approver,
    };
    const ALICE: Actor = Actor {
        name: "alice",
        role: Role::Engineer,
    };
    const HOUR: Millis = 3_600_000;

    fn code(d: &Decision) -> &'static str {
        d.refusal().map_or("allow", |r| r.code.as_str())
    }

    #[test]
    fn approver_grants_engineer_within_cap() {
        assert_eq!(
            create_grant(&OLGA, &ALICE, 2 * HOUR, 4 * HOUR),
            Decision::Allow(())
        );
        assert_eq!(
            create_grant(&OLGA, &ALICE, 4 * HOUR, 4 * HOUR),
            Decision::Allow(())
        );
    }

    #[test]
    fn admin_cannot_grant() {
        let admin = Actor {
            name: "root",
            role: Role::Admin,
        };
        let d = create_grant(&admin, &ALICE, HOUR, 4 * HOUR);
        assert_eq!(code(&d), "not_approver");
        assert_eq!(
            d.refusal().unwrap().message,
            "only approvers can grant access; this account is an admin"
        );
    }

    #[test]
    fn approver_cannot_grant_to_themself_even_in_other_case() {
        let me = Actor {
            name: "OLGA",
            role: Role::Engineer,
        };
        assert_eq!(
            code(&create_grant(&OLGA, &me, HOUR, 4 * HOUR)),
            "self_grant"
        );
    }

    #[test]
    fn only_engineers_receive_grants() {
        let auditor = Actor {
            name: "ada",
            role: Role::Auditor,
        };
        let d = create_grant(&OLGA, &auditor, HOUR, 4 * HOUR);
        assert_eq!(code(&d), "recipient_not_engineer");
        assert_eq!(
            d.refusal().unwrap().message,
            r#"access can only be granted to engineers; "ada" is an auditor"#
        );
    }

    #[test]
    fn duration_must_be_positive_and_within_cap() {
        assert_eq!(
            code(&create_grant(&OLGA, &ALICE, 0, 4 * HOUR)),
            "bad_duration"
        );
        assert_eq!(
            code(&create_grant(&OLGA, &ALICE, -1, 4 * HOUR)),
            "bad_duration"
        );
        let d = create_grant(&OLGA, &ALICE, 6 * HOUR, 4 * HOUR);
        assert_eq!(code(&d), "duration_over_cap");
        assert_eq!(
            d.refusal().unwrap().message,
            "a grant may last at most 4 h; 6 h was asked for"
        );
    }

    #[test]
    fn only_approvers_revoke() {
        assert_eq!(revoke_grant(&OLGA), Decision::Allow(()));
        for role in [Role::Engineer, Role::Auditor, Role::Admin] {
            let actor = Actor { name: "x", role };
            assert_eq!(code(&revoke_grant(&actor)), "not_approver");
        }
    }

    #[test]
    fn admin_can_never_become_approver() {
        let d = assign_role(Some(Role::Admin), Role::Approver);
        assert_eq!(code(&d), "separation_of_duties");
        assert!(d.refusal().unwrap().message.contains("an admin"));
        assert_eq!(assign_role(None, Role::Admin), Decision::Allow(()));
        assert_eq!(
            assign_role(Some(Role::Admin), Role::Admin),
            Decision::Allow(())
        );
    }

    fn arb_role() -> impl Strategy<Value = Role> {
        prop::sample::select(Role::ALL.to_vec())
    }

    fn arb_actor() -> impl Strategy<Value = (&'static str, Role)> {
        (
            prop::sample::select(vec!["olga", "alice", "Alice", "bob"]),
            arb_role(),
        )
    }

    proptest! {
        #[test]
        fn create_grant_allows_only_approver_to_other_engineer_within_cap(
            (actor_name, actor_role) in arb_actor(),
            (engineer_name, engineer_role) in arb_actor(),
            duration_ms in prop_oneof![any::<i64>(), -10i64..10],
            max_ms in prop_oneof![any::<i64>(), -10i64..10],
        ) {
            let actor = Actor { name: actor_name, role: actor_role };
            let engineer = Actor { name: engineer_name, role: engineer_role };
            let d = create_grant(&actor, &engineer, duration_ms, max_ms);
            let ok = actor_role == Role::Approver
                && engineer_role == Role::Engineer
                && !actor_name.eq_ignore_ascii_case(engineer_name)
                && 0 < duration_ms
                && duration_ms <= max_ms;
            prop_assert_eq!(d.is_allow(), ok);
        }

        #[test]
        fn no_account_ever_holds_two_roles(
            requests in prop::collection::vec(arb_role(), 0..12),
        ) {
            let mut current: Option<Role> = None;
            let mut held = std::collections::HashSet::new();
            for requested in requests {
                if assign_role(current, requested).is_allow() {
                    current = Some(requested);
                    held.insert(requested);
                }
                prop_assert!(held.len() <= 1, "held {:?}", held);
            }
        }
    }
}
