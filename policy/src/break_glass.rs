//! Break-glass: an engineer opens a short emergency grant for an A-level request that no
//! approver has decided within the response window.
//!
//! Only when the policy turns it on, only for the engineer's own pending A-level request,
//! only once the response window has passed since filing, only for targets of one group,
//! and never longer than the break-glass maximum (at most 2 h) nor the level A cap. Not
//! where approvers are alerted or the grant is signed off: that is the gateway.

use crate::{
    codes, duties::same_account, format_duration, rules::BREAK_GLASS_CEILING_MS, Decision, Level,
    Millis, Policy, Request,
};

/// May `actor` open an emergency grant for `req` at `now`? Allows with its duration.
///
/// A pending request with some but not enough approvals still counts as undecided.
pub fn break_glass(policy: &Policy, req: &Request, actor: &str, now: Millis) -> Decision<Millis> {
    if !policy.break_glass.enabled {
        return Decision::deny(
            codes::BREAK_GLASS_OFF,
            "break-glass is turned off by policy; wait for an approver",
        );
    }
    if !same_account(actor, &req.engineer) {
        return Decision::deny(
            codes::NOT_YOURS,
            "only the engineer who filed a request can break the glass for it",
        );
    }
    if let Some(refusal) = req.not_pending(now) {
        return Decision::Deny(refusal);
    }
    if req.level != Level::A {
        return Decision::deny(
            codes::BREAK_GLASS_LEVEL,
            format!(
                "break-glass is only for level A faults; this request is level {}",
                req.level
            ),
        );
    }
    let one_group = policy
        .groups
        .values()
        .any(|group| req.targets.iter().all(|target| group.holds(target)));
    if req.targets.is_empty() || !one_group {
        return Decision::deny(
            codes::BREAK_GLASS_GROUPS,
            "break-glass covers the targets of one group only; file a request for one group",
        );
    }
    let opens_at = req.filed_at.saturating_add(policy.response_window_ms);
    if now < opens_at {
        return Decision::deny(
            codes::BREAK_GLASS_TOO_EARLY,
            format!(
                "break-glass opens {} after filing when no approver has answered; {} to go",
                format_duration(policy.response_window_ms),
                format_duration(opens_at.saturating_sub(now))
            ),
        );
    }
    let duration_ms = req
        .duration_ms
        .min(policy.break_glass.max_ms)
        .min(policy.max_for(Level::A))
        .min(BREAK_GLASS_CEILING_MS);
    if duration_ms <= 0 {
        return Decision::deny(
            codes::BAD_DURATION,
            "the policy allows no time for break-glass; ask an admin to check the policy",
        );
    }
    Decision::Allow(duration_ms)
}

/// Whether break-glass would be offered for `req` to its engineer at `now`: the waiting
/// screen shows the `b` key only then.
pub fn break_glass_open(policy: &Policy, req: &Request, now: Millis) -> bool {
    break_glass(policy, req, &req.engineer, now).is_allow()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::tests::{request, HOUR, MIN, T0};
    use crate::rules::tests::{names, policy};
    use crate::{RequestState, Review, Verdict};
    use proptest::prelude::*;

    const OPEN: Millis = T0 + 30 * MIN;

    fn refused(d: Decision<Millis>) -> (&'static str, String) {
        match d {
            Decision::Deny(r) => (r.code.as_str(), r.message),
            Decision::Allow(v) => panic!("allowed: {v}"),
        }
    }

    #[test]
    fn opens_after_the_response_window_for_the_requested_time() {
        assert_eq!(
            break_glass(&policy(), &request(), "alice", OPEN),
            Decision::Allow(HOUR)
        );
        assert!(break_glass_open(&policy(), &request(), OPEN));
        assert!(!break_glass_open(&policy(), &request(), OPEN - 1));
    }

    #[test]
    fn lasts_at_most_the_break_glass_maximum_and_the_level_cap() {
        let mut p = policy();
        p.break_glass.max_ms = 45 * MIN;
        let req = Request {
            duration_ms: 2 * HOUR,
            ..request()
        };
        assert_eq!(
            break_glass(&p, &req, "alice", OPEN),
            Decision::Allow(45 * MIN)
        );
        p.break_glass.max_ms = 5 * HOUR;
        p.levels.insert(Level::A, 3 * HOUR);
        assert_eq!(
            break_glass(&p, &req, "alice", OPEN),
            Decision::Allow(2 * HOUR)
        );
        p.levels.insert(Level::A, 20 * MIN);
        assert_eq!(
            break_glass(&p, &req, "alice", OPEN),
            Decision::Allow(20 * MIN)
        );
    }

    #[test]
    fn off_unless_the_policy_turns_it_on() {
        let mut p = policy();
        p.break_glass.enabled = false;
        assert_eq!(
            refused(break_glass(&p, &request(), "alice", OPEN)),
            (
                "break_glass_off",
                "break-glass is turned off by policy; wait for an approver".to_owned()
            )
        );
    }

    #[test]
    fn only_for_the_engineers_own_request() {
        assert_eq!(
            refused(break_glass(&policy(), &request(), "bob", OPEN)),
            (
                "not_yours",
                "only the engineer who filed a request can break the glass for it".to_owned()
            )
        );
    }

    #[test]
    fn only_while_pending() {
        let req = Request {
            state: RequestState::Denied,
            ..request()
        };
        assert_eq!(
            refused(break_glass(&policy(), &req, "alice", OPEN)),
            (
                "not_pending",
                r#"request "r-1" was denied; it is no longer pending"#.to_owned()
            )
        );
        assert_eq!(
            refused(break_glass(&policy(), &request(), "alice", T0 + 4 * HOUR)).0,
            "not_pending"
        );
    }

    #[test]
    fn only_for_level_a() {
        let req = Request {
            level: Level::B,
            ..request()
        };
        assert_eq!(
            refused(break_glass(&policy(), &req, "alice", OPEN)),
            (
                "break_glass_level",
                "break-glass is only for level A faults; this request is level B".to_owned()
            )
        );
    }

    #[test]
    fn only_for_targets_of_one_group() {
        let req = Request {
            targets: names(&["web01", "db01"]),
            ..request()
        };
        assert_eq!(
            refused(break_glass(&policy(), &req, "alice", OPEN)),
            (
                "break_glass_groups",
                "break-glass covers the targets of one group only; file a request for one group"
                    .to_owned()
            )
        );
        let req = Request {
            targets: names(&["web01", "web02"]),
            ..request()
        };
        assert!(break_glass(&policy(), &req, "alice", OPEN).is_allow());
    }

    #[test]
    fn says_how_long_until_it_opens() {
        assert_eq!(
            refused(break_glass(&policy(), &request(), "alice", T0 + 18 * MIN)),
            (
                "break_glass_too_early",
                "break-glass opens 30 min after filing when no approver has answered; 12 min to go"
                    .to_owned()
            )
        );
    }

    #[test]
    fn a_partial_approval_still_counts_as_undecided() {
        let req = Request {
            approvals_needed: 2,
            reviews: vec![Review {
                approver: "olga".to_owned(),
                verdict: Verdict::Approve,
                duration_ms: None,
                at: T0,
            }],
            ..request()
        };
        assert!(break_glass(&policy(), &req, "alice", OPEN).is_allow());
    }

    proptest! {
        #[test]
        fn break_glass_only_when_enabled_for_level_a_after_the_window(
            p in crate::rules::tests::arb_policy(),
            actor in prop::sample::select(vec!["alice", "ALICE", "bob"]),
            level in prop::sample::select(Level::ALL.to_vec()),
            state in prop::sample::select(RequestState::ALL.to_vec()),
            targets in prop::sample::subsequence(vec!["web01", "web02", "db01"], 0..=3),
            duration_ms in 1..4 * HOUR,
            now in T0 - HOUR..T0 + 5 * HOUR,
        ) {
            let req = Request {
                targets: names(&targets), level, state, duration_ms, ..request()
            };
            if let Decision::Allow(granted) = break_glass(&p, &req, actor, now) {
                prop_assert!(p.break_glass.enabled);
                prop_assert_eq!(level, Level::A);
                prop_assert_eq!(state, RequestState::Pending);
                prop_assert!(actor.eq_ignore_ascii_case("alice"));
                prop_assert!(now >= req.filed_at + p.response_window_ms);
                prop_assert!(now < req.lapses_at);
                prop_assert!(0 < granted && granted <= duration_ms);
                prop_assert!(granted <= p.break_glass.max_ms && granted <= 2 * HOUR);
                prop_assert!(granted <= p.max_for(Level::A));
                prop_assert!(p.groups.values().any(|g| req.targets.iter().all(|t| g.holds(t))));
            }
        }
    }
}
