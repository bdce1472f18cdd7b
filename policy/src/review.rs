//! Reviews: an approver approves or denies a pending request, and when that makes a grant.
//!
//! A grant exists only once the needed number of distinct approvers approved; any deny ends
//! the request; nobody reviews their own request; an approver may shorten the window, never
//! lengthen it, and no window outlasts the level's cap. Not where comments are required or
//! the grants written: that is the gateway.

use std::{fmt, str::FromStr};

use crate::{
    codes, duties::same_account, format_duration, is_lapsed, Actor, Decision, Millis, Policy,
    Request, Role,
};

/// An approver's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Approve, possibly shortening the window.
    Approve,
    /// Deny: ends the request.
    Deny,
}

impl Verdict {
    /// `approve` or `deny`, as stored.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Deny => "deny",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verdict that is neither `approve` nor `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("verdict must be approve or deny")]
pub struct UnknownVerdict;

impl FromStr for Verdict {
    type Err = UnknownVerdict;

    /// Parses `approve` or `deny`, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Verdict::Approve, Verdict::Deny]
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or(UnknownVerdict)
    }
}

/// One approver's review of a request, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Review {
    /// The approver's account name.
    pub approver: String,
    /// Approve or deny.
    pub verdict: Verdict,
    /// The window this approver allowed, if they shortened it.
    pub duration_ms: Option<Millis>,
    /// When they reviewed.
    pub at: Millis,
}

/// What a review leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewOutcome {
    /// Still waiting: `approvals` distinct approvers of `needed` so far, this one included.
    Pending {
        /// Distinct approvals so far, this one included.
        approvals: u32,
        /// Distinct approvals needed.
        needed: u32,
    },
    /// Enough approvers: grants for every target over `[starts_at, ends_at)`.
    Approved {
        /// First instant of the grants.
        starts_at: Millis,
        /// First instant after the grants.
        ends_at: Millis,
    },
    /// Denied: the request ends.
    Denied,
}

/// May `reviewer` give `verdict` on `req` at `now`, shortening the window to
/// `shorten_to_ms`? Allows with what follows from it.
///
/// Refused: not an approver; the engineer's own request (names compared ignoring case);
/// a request no longer pending or lapsed; a second review by the same approver; a window
/// of zero or longer than requested. An approval makes grants once the distinct approvers,
/// this one included, reach the larger of the request's and the policy's number. The
/// window starts at the requested start or now, whichever is later, and lasts the shortest
/// of: the requested duration, every approver's shortening, the level's cap.
pub fn review(
    policy: &Policy,
    req: &Request,
    reviewer: &Actor,
    verdict: Verdict,
    shorten_to_ms: Option<Millis>,
    now: Millis,
) -> Decision<ReviewOutcome> {
    if reviewer.role != Role::Approver {
        return Decision::deny(
            codes::NOT_APPROVER,
            format!(
                "only approvers can review requests; this account is {}",
                reviewer.role.with_article()
            ),
        );
    }
    if same_account(reviewer.name, &req.engineer) {
        return Decision::deny(
            codes::SELF_REVIEW,
            "you cannot review your own request; ask another approver",
        );
    }
    if is_lapsed(req, now) {
        return Decision::deny(
            codes::REQUEST_LAPSED,
            format!(
                "{} lapsed without a decision; the engineer must file a new one",
                req.phrase()
            ),
        );
    }
    if let Some(refusal) = req.not_pending(now) {
        return Decision::Deny(refusal);
    }
    if req.reviews.iter().any(|r| r.verdict == Verdict::Deny) {
        // A stored deny with a pending state: the deny wins.
        return Decision::deny(
            codes::NOT_PENDING,
            format!("{} was denied; it is no longer pending", req.phrase()),
        );
    }
    if req
        .reviews
        .iter()
        .any(|r| same_account(&r.approver, reviewer.name))
    {
        return Decision::deny(
            codes::ALREADY_REVIEWED,
            format!("you have already reviewed {}", req.phrase()),
        );
    }
    if verdict == Verdict::Deny {
        return Decision::Allow(ReviewOutcome::Denied);
    }
    match shorten_to_ms {
        Some(ms) if ms <= 0 => {
            return Decision::deny(codes::BAD_DURATION, "a grant must last longer than zero")
        }
        Some(ms) if ms > req.duration_ms => {
            return Decision::deny(
                codes::LENGTHEN_REFUSED,
                format!(
                    "an approver may shorten the window, not lengthen it; {} was requested",
                    format_duration(req.duration_ms)
                ),
            )
        }
        Some(_) | None => {}
    }

    let mut approvers: Vec<&str> = vec![reviewer.name];
    for r in req.reviews.iter().filter(|r| r.verdict == Verdict::Approve) {
        let counted = approvers.iter().any(|a| same_account(a, &r.approver));
        if !counted && !same_account(&r.approver, &req.engineer) {
            approvers.push(&r.approver);
        }
    }
    let approvals = u32::try_from(approvers.len()).unwrap_or(u32::MAX);
    let needed = req
        .approvals_needed
        .max(policy.approvals_needed(&req.targets))
        .max(1);
    if approvals < needed {
        return Decision::Allow(ReviewOutcome::Pending { approvals, needed });
    }

    let duration_ms = req
        .reviews
        .iter()
        .filter(|r| r.verdict == Verdict::Approve)
        .filter_map(|r| r.duration_ms)
        .chain(shorten_to_ms)
        .fold(req.duration_ms.min(policy.max_for(req.level)), Millis::min);
    if duration_ms <= 0 {
        return Decision::deny(
            codes::BAD_DURATION,
            format!(
                "the policy allows no time for level {}; ask an admin to check the policy",
                req.level
            ),
        );
    }
    let starts_at = req.starts_at.unwrap_or(now).max(now);
    Decision::Allow(ReviewOutcome::Approved {
        starts_at,
        ends_at: starts_at.saturating_add(duration_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::tests::{request, HOUR, MIN, T0};
    use crate::rules::tests::{names, policy};
    use crate::{Level, RequestState};
    use proptest::prelude::*;

    const OLGA: Actor = Actor {
        name: "olga",
        role: Role::Approver,
    };
    const PETER: Actor = Actor {
        name: "peter",
        role: Role::Approver,
    };

    fn approved_by(name: &str, duration_ms: Option<Millis>) -> Review {
        Review {
            approver: name.to_owned(),
            verdict: Verdict::Approve,
            duration_ms,
            at: T0,
        }
    }

    fn refused(d: Decision<ReviewOutcome>) -> (&'static str, String) {
        match d {
            Decision::Deny(r) => (r.code.as_str(), r.message),
            Decision::Allow(v) => panic!("allowed: {v:?}"),
        }
    }

    #[test]
    fn verdict_names_round_trip() {
        for v in [Verdict::Approve, Verdict::Deny] {
            assert_eq!(v.as_str().parse::<Verdict>(), Ok(v));
            assert_eq!(v.to_string(), v.as_str());
        }
        assert_eq!(
            "maybe".parse::<Verdict>().unwrap_err().to_string(),
            "verdict must be approve or deny"
        );
    }

    #[test]
    fn one_approval_opens_a_one_approver_request_now() {
        let d = review(
            &policy(),
            &request(),
            &OLGA,
            Verdict::Approve,
            None,
            T0 + MIN,
        );
        assert_eq!(
            d,
            Decision::Allow(ReviewOutcome::Approved {
                starts_at: T0 + MIN,
                ends_at: T0 + MIN + HOUR,
            })
        );
    }

    #[test]
    fn a_later_start_is_kept_and_a_passed_one_moves_to_now() {
        let later = Request {
            starts_at: Some(T0 + 3 * HOUR),
            ..request()
        };
        assert_eq!(
            review(&policy(), &later, &OLGA, Verdict::Approve, None, T0),
            Decision::Allow(ReviewOutcome::Approved {
                starts_at: T0 + 3 * HOUR,
                ends_at: T0 + 4 * HOUR,
            })
        );
        let passed = Request {
            starts_at: Some(T0),
            ..request()
        };
        assert_eq!(
            review(&policy(), &passed, &OLGA, Verdict::Approve, None, T0 + HOUR),
            Decision::Allow(ReviewOutcome::Approved {
                starts_at: T0 + HOUR,
                ends_at: T0 + 2 * HOUR,
            })
        );
    }

    #[test]
    fn two_approver_request_waits_for_a_second_distinct_approver() {
        let mut req = Request {
            targets: names(&["db01"]),
            approvals_needed: 2,
            ..request()
        };
        assert_eq!(
            review(&policy(), &req, &OLGA, Verdict::Approve, None, T0),
            Decision::Allow(ReviewOutcome::Pending {
                approvals: 1,
                needed: 2
            })
        );
        req.reviews.push(approved_by("olga", Some(30 * MIN)));
        assert_eq!(
            refused(review(&policy(), &req, &OLGA, Verdict::Approve, None, T0)),
            (
                "already_reviewed",
                r#"you have already reviewed request "r-1""#.to_owned()
            )
        );
        let olga_again = Actor {
            name: "OLGA",
            role: Role::Approver,
        };
        assert_eq!(
            refused(review(
                &policy(),
                &req,
                &olga_again,
                Verdict::Approve,
                None,
                T0
            ))
            .0,
            "already_reviewed"
        );
        assert_eq!(
            review(&policy(), &req, &PETER, Verdict::Approve, None, T0),
            Decision::Allow(ReviewOutcome::Approved {
                starts_at: T0,
                ends_at: T0 + 30 * MIN,
            }),
            "the shortest window any approver allowed"
        );
    }

    #[test]
    fn the_policy_can_raise_the_approvals_needed_after_filing() {
        let req = Request {
            targets: names(&["db01"]),
            approvals_needed: 1,
            ..request()
        };
        assert_eq!(
            review(&policy(), &req, &OLGA, Verdict::Approve, None, T0),
            Decision::Allow(ReviewOutcome::Pending {
                approvals: 1,
                needed: 2
            })
        );
    }

    #[test]
    fn a_deny_ends_the_request() {
        let req = Request {
            approvals_needed: 2,
            reviews: vec![approved_by("peter", None)],
            ..request()
        };
        assert_eq!(
            review(&policy(), &req, &OLGA, Verdict::Deny, None, T0),
            Decision::Allow(ReviewOutcome::Denied)
        );
        let denied = Request {
            reviews: vec![Review {
                verdict: Verdict::Deny,
                ..approved_by("peter", None)
            }],
            ..request()
        };
        assert_eq!(
            refused(review(
                &policy(),
                &denied,
                &OLGA,
                Verdict::Approve,
                None,
                T0
            ))
            .0,
            "not_pending"
        );
    }

    #[test]
    fn only_approvers_review() {
        for role in [Role::Engineer, Role::Auditor, Role::Admin] {
            let actor = Actor { name: "x", role };
            let (code, message) = refused(review(
                &policy(),
                &request(),
                &actor,
                Verdict::Approve,
                None,
                T0,
            ));
            assert_eq!(code, "not_approver");
            assert_eq!(
                message,
                format!(
                    "only approvers can review requests; this account is {}",
                    role.with_article()
                )
            );
        }
    }

    #[test]
    fn nobody_reviews_their_own_request() {
        for name in ["alice", "Alice"] {
            let me = Actor {
                name,
                role: Role::Approver,
            };
            assert_eq!(
                refused(review(&policy(), &request(), &me, Verdict::Deny, None, T0)),
                (
                    "self_review",
                    "you cannot review your own request; ask another approver".to_owned()
                )
            );
        }
    }

    #[test]
    fn decided_requests_are_not_reviewed() {
        for (state, what) in [
            (RequestState::Approved, "was already approved"),
            (RequestState::Denied, "was denied"),
            (RequestState::Withdrawn, "was withdrawn"),
            (RequestState::Lapsed, "has lapsed"),
        ] {
            let req = Request { state, ..request() };
            assert_eq!(
                refused(review(&policy(), &req, &OLGA, Verdict::Approve, None, T0)),
                (
                    "not_pending",
                    format!("request \"r-1\" {what}; it is no longer pending")
                )
            );
        }
    }

    #[test]
    fn a_lapsed_request_is_not_reviewed() {
        assert_eq!(
            refused(review(
                &policy(),
                &request(),
                &OLGA,
                Verdict::Approve,
                None,
                T0 + 4 * HOUR
            )),
            (
                "request_lapsed",
                r#"request "r-1" lapsed without a decision; the engineer must file a new one"#
                    .to_owned()
            )
        );
    }

    #[test]
    fn approvers_shorten_but_never_lengthen() {
        assert_eq!(
            refused(review(
                &policy(),
                &request(),
                &OLGA,
                Verdict::Approve,
                Some(HOUR + 1),
                T0
            )),
            (
                "lengthen_refused",
                "an approver may shorten the window, not lengthen it; 1 h was requested".to_owned()
            )
        );
        assert_eq!(
            refused(review(
                &policy(),
                &request(),
                &OLGA,
                Verdict::Approve,
                Some(0),
                T0
            )),
            (
                "bad_duration",
                "a grant must last longer than zero".to_owned()
            )
        );
        assert_eq!(
            review(
                &policy(),
                &request(),
                &OLGA,
                Verdict::Approve,
                Some(HOUR),
                T0
            ),
            Decision::Allow(ReviewOutcome::Approved {
                starts_at: T0,
                ends_at: T0 + HOUR
            })
        );
    }

    #[test]
    fn the_window_never_outlasts_the_current_level_cap() {
        let mut p = policy();
        p.levels.insert(Level::A, 20 * MIN);
        assert_eq!(
            review(&p, &request(), &OLGA, Verdict::Approve, None, T0),
            Decision::Allow(ReviewOutcome::Approved {
                starts_at: T0,
                ends_at: T0 + 20 * MIN
            })
        );
        p.levels.remove(&Level::A);
        assert_eq!(
            refused(review(&p, &request(), &OLGA, Verdict::Approve, None, T0)),
            (
                "bad_duration",
                "the policy allows no time for level A; ask an admin to check the policy"
                    .to_owned()
            )
        );
    }

    fn arb_reviewer() -> impl Strategy<Value = Actor<'static>> {
        (
            prop::sample::select(vec!["olga", "Olga", "peter", "quinn", "alice", "ALICE"]),
            prop::sample::select(vec![
                Role::Approver,
                Role::Approver,
                Role::Admin,
                Role::Engineer,
            ]),
        )
            .prop_map(|(name, role)| Actor { name, role })
    }

    proptest! {
        /// Replays random review sequences as the gateway would (store each allowed review,
        /// stop at the first decision) and checks every outcome.
        #[test]
        fn grants_need_enough_distinct_other_approvers_and_stay_within_limits(
            approvals_needed in 0u32..4,
            targets in prop::sample::subsequence(vec!["web01", "db01"], 1..=2),
            duration_ms in 1..3 * HOUR,
            starts_at in prop::option::of(T0 - HOUR..T0 + HOUR),
            steps in prop::collection::vec(
                (
                    arb_reviewer(),
                    prop_oneof![4 => Just(Verdict::Approve), 1 => Just(Verdict::Deny)],
                    prop::option::of(-MIN..4 * HOUR),
                    0..HOUR,
                ),
                0..10,
            ),
        ) {
            let p = policy();
            let mut req = Request {
                targets: names(&targets),
                approvals_needed,
                duration_ms,
                starts_at,
                ..request()
            };
            let needed = approvals_needed.max(p.approvals_needed(&req.targets)).max(1);
            let mut now = T0;
            for (reviewer, verdict, shorten, wait) in steps {
                now += wait;
                let d = review(&p, &req, &reviewer, verdict, shorten, now);
                let Decision::Allow(outcome) = d else { continue };
                prop_assert_eq!(reviewer.role, Role::Approver);
                prop_assert!(!reviewer.name.eq_ignore_ascii_case("alice"), "self-review");
                prop_assert!(now < req.lapses_at);
                prop_assert!(!req.reviews.iter().any(|r| r.approver.eq_ignore_ascii_case(reviewer.name)));
                req.reviews.push(Review {
                    approver: reviewer.name.to_owned(),
                    verdict,
                    duration_ms: shorten,
                    at: now,
                });
                let mut distinct: Vec<String> = req.reviews.iter()
                    .filter(|r| r.verdict == Verdict::Approve)
                    .map(|r| r.approver.to_ascii_lowercase())
                    .collect();
                distinct.sort();
                distinct.dedup();
                match outcome {
                    ReviewOutcome::Pending { approvals, needed: n } => {
                        prop_assert_eq!(verdict, Verdict::Approve);
                        prop_assert_eq!(n, needed);
                        prop_assert_eq!(approvals as usize, distinct.len());
                        prop_assert!(approvals < needed);
                    }
                    ReviewOutcome::Approved { starts_at: s, ends_at } => {
                        prop_assert_eq!(verdict, Verdict::Approve);
                        prop_assert!(distinct.len() as u32 >= needed);
                        prop_assert!(s >= now && s >= req.starts_at.unwrap_or(now));
                        let window = ends_at - s;
                        prop_assert!(window > 0);
                        prop_assert!(window <= duration_ms);
                        prop_assert!(window <= p.max_for(req.level));
                        for r in &req.reviews {
                            prop_assert!(r.duration_ms.is_none_or(|d| window <= d));
                        }
                        req.state = RequestState::Approved;
                    }
                    ReviewOutcome::Denied => {
                        prop_assert_eq!(verdict, Verdict::Deny);
                        req.state = RequestState::Denied;
                    }
                }
            }
        }
    }
}
