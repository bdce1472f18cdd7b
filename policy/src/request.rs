//! Requests for access: what one is, filing one, withdrawing one, and when it lapses.
//!
//! Not where it is reviewed (`review.rs`) or turned into an emergency grant
//! (`break_glass.rs`); not where it is stored or numbered: that is the gateway.

use std::{fmt, str::FromStr};

use crate::{
    codes, duties::same_account, format_duration, login::quoted, rules::group_phrase, Actor,
    Decision, Level, Millis, Policy, Refusal, Review, Role,
};

/// Where a request stands. `Pending` moves to one of the others, which are final and stay
/// on record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestState {
    /// Waiting for approvers.
    Pending,
    /// Enough distinct approvers approved: grants exist.
    Approved,
    /// An approver denied it.
    Denied,
    /// The engineer withdrew it.
    Withdrawn,
    /// Nobody decided before it lapsed.
    Lapsed,
}

impl RequestState {
    /// Every state, in a stable order.
    pub const ALL: [RequestState; 5] = [
        RequestState::Pending,
        RequestState::Approved,
        RequestState::Denied,
        RequestState::Withdrawn,
        RequestState::Lapsed,
    ];

    /// The lowercase name: `pending`, `approved`, `denied`, `withdrawn` or `lapsed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Approved => "approved",
            RequestState::Denied => "denied",
            RequestState::Withdrawn => "withdrawn",
            RequestState::Lapsed => "lapsed",
        }
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request state name that is none of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown request state {input:?}; expected pending, approved, denied, withdrawn or lapsed")]
pub struct UnknownRequestState {
    /// What was given, cut to a readable length.
    input: String,
}

impl FromStr for RequestState {
    type Err = UnknownRequestState;

    /// Parses a state name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RequestState::ALL
            .into_iter()
            .find(|state| state.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownRequestState {
                input: s.chars().take(32).collect(),
            })
    }
}

/// What an engineer asks for, as typed: targets or a group, level, duration, start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewRequest<'a> {
    /// The engineer the access is for: the one filing.
    pub engineer: &'a str,
    /// Targets asked for by name; empty when a group is named.
    pub targets: &'a [String],
    /// A target group asked for instead of targets.
    pub group: Option<&'a str>,
    /// The fault level.
    pub level: Level,
    /// The wanted duration.
    pub duration_ms: Millis,
    /// When the grant should start; `None`: as soon as it is approved.
    pub starts_at: Option<Millis>,
    /// The moment of filing.
    pub now: Millis,
}

/// What the gateway stores for an accepted request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestPlan {
    /// The targets, a group expanded, duplicates removed, in the order given.
    pub targets: Vec<String>,
    /// Distinct approvers needed (at least 1).
    pub approvals_needed: u32,
    /// The wanted duration, within the level's cap.
    pub duration_ms: Millis,
    /// The wanted start, not in the past.
    pub starts_at: Option<Millis>,
    /// When the request lapses if nobody decides.
    pub lapses_at: Millis,
}

/// A request as stored, with its reviews so far.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Request {
    /// Request id, as stored (`r-…`).
    pub id: String,
    /// The engineer who filed it and would receive the grants.
    pub engineer: String,
    /// The targets, a group already expanded.
    pub targets: Vec<String>,
    /// The fault level.
    pub level: Level,
    /// The wanted duration.
    pub duration_ms: Millis,
    /// The wanted start, if any.
    pub starts_at: Option<Millis>,
    /// Where it stands.
    pub state: RequestState,
    /// Distinct approvers needed, fixed at filing.
    pub approvals_needed: u32,
    /// When it was filed.
    pub filed_at: Millis,
    /// When it lapses if nobody decides.
    pub lapses_at: Millis,
    /// Reviews so far, oldest first.
    pub reviews: Vec<Review>,
    /// Whether the engineer opened an emergency grant for it.
    pub break_glass: bool,
    /// The grant this request would extend, for extensions asked from inside a session.
    pub extends_grant: Option<String>,
}

impl Request {
    /// The request for a message: `request "r-12"`, or `this request` if the id is odd.
    pub(crate) fn phrase(&self) -> String {
        match quoted(&self.id, "") {
            q if q.is_empty() => "this request".to_owned(),
            q => format!("request {q}"),
        }
    }

    /// The refusal for acting on a request that is no longer pending at `now`, if it is not.
    pub(crate) fn not_pending(&self, now: Millis) -> Option<Refusal> {
        let what = match self.state {
            RequestState::Pending if is_lapsed(self, now) => "has lapsed",
            RequestState::Pending => return None,
            RequestState::Approved => "was already approved",
            RequestState::Denied => "was denied",
            RequestState::Withdrawn => "was withdrawn",
            RequestState::Lapsed => "has lapsed",
        };
        Some(Refusal::new(
            codes::NOT_PENDING,
            format!("{} {what}; it is no longer pending", self.phrase()),
        ))
    }
}

/// May `requester` file `req`? Allows with what to store.
///
/// Only engineers file, for themselves; exactly one of targets and group; every target
/// requestable by the engineer under the policy (a group: the engineer is listed in it);
/// `0 < duration <= ` the level's cap; a start not in the past.
pub fn file_request(policy: &Policy, requester: &Actor, req: &NewRequest) -> Decision<RequestPlan> {
    if requester.role != Role::Engineer {
        return Decision::deny(
            codes::NOT_ENGINEER,
            format!(
                "only engineers can request access; this account is {}",
                requester.role.with_article()
            ),
        );
    }
    if requester.name != req.engineer {
        return Decision::deny(
            codes::NOT_YOURS,
            "an engineer can request access only for themself",
        );
    }
    let targets: Vec<String> = match (req.targets.is_empty(), req.group) {
        (false, Some(_)) => {
            return Decision::deny(
                codes::NO_TARGETS,
                "name either targets or a group, not both",
            )
        }
        (true, None) => {
            return Decision::deny(
                codes::NO_TARGETS,
                "name the targets or the group to request access to",
            )
        }
        (true, Some(name)) => {
            let Some(group) = policy.group(name) else {
                return Decision::deny(
                    codes::UNKNOWN_GROUP,
                    format!(
                        "there is no target group {}; ask an admin which groups exist",
                        quoted(name, "by that name")
                    ),
                );
            };
            if !group.admits(req.engineer) {
                return Decision::deny(
                    codes::TARGET_NOT_REQUESTABLE,
                    format!("you may not request access to {}", group_phrase(name)),
                );
            }
            if group.targets.is_empty() {
                return Decision::deny(
                    codes::NO_TARGETS,
                    format!("{} holds no targets", group_phrase(name)),
                );
            }
            group.targets.clone()
        }
        (false, None) => req.targets.to_vec(),
    };
    let mut unique: Vec<String> = Vec::with_capacity(targets.len());
    for target in targets {
        if !policy.may_request(req.engineer, &target) {
            return Decision::deny(
                codes::TARGET_NOT_REQUESTABLE,
                format!(
                    "you may not request access to {}",
                    quoted(&target, "this target")
                ),
            );
        }
        if !unique.contains(&target) {
            unique.push(target);
        }
    }
    if req.duration_ms <= 0 {
        return Decision::deny(
            codes::BAD_DURATION,
            "the wanted duration must be longer than zero",
        );
    }
    let cap = policy.max_for(req.level);
    if req.duration_ms > cap {
        return Decision::deny(
            codes::DURATION_OVER_CAP,
            format!(
                "level {} allows at most {}",
                req.level,
                format_duration(cap)
            ),
        );
    }
    if req.starts_at.is_some_and(|start| start < req.now) {
        return Decision::deny(
            codes::START_IN_PAST,
            "the start time is in the past; leave it out to start as soon as approved",
        );
    }
    Decision::Allow(RequestPlan {
        approvals_needed: policy.approvals_needed(&unique),
        targets: unique,
        duration_ms: req.duration_ms,
        starts_at: req.starts_at,
        lapses_at: req.now.saturating_add(policy.request_ttl_ms),
    })
}

/// May `actor` withdraw `req` at `now`? Only the engineer who filed it, only while pending.
pub fn withdraw(req: &Request, actor: &str, now: Millis) -> Decision {
    if !same_account(actor, &req.engineer) {
        return Decision::deny(
            codes::NOT_YOURS,
            "only the engineer who filed a request can withdraw it",
        );
    }
    match req.not_pending(now) {
        Some(refusal) => Decision::Deny(refusal),
        None => Decision::Allow(()),
    }
}

/// Whether `req` is pending and has waited until its lapse time at `now`.
pub fn is_lapsed(req: &Request, now: Millis) -> bool {
    req.state == RequestState::Pending && now >= req.lapses_at
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules::tests::{names, policy};
    use crate::Verdict;
    use proptest::prelude::*;

    pub(crate) const MIN: Millis = 60_000;
    pub(crate) const HOUR: Millis = 60 * MIN;
    pub(crate) const T0: Millis = 1_700_000_000_000;

    const ALICE: Actor = Actor {
        name: "alice",
        role: Role::Engineer,
    };

    /// A pending level-A request by alice for web01, filed at `T0`, for 1 h, 1 approver.
    pub(crate) fn request() -> Request {
        Request {
            id: "r-1".to_owned(),
            engineer: "alice".to_owned(),
            targets: names(&["web01"]),
            level: Level::A,
            duration_ms: HOUR,
            starts_at: None,
            state: RequestState::Pending,
            approvals_needed: 1,
            filed_at: T0,
            lapses_at: T0 + 4 * HOUR,
            reviews: vec![],
            break_glass: false,
            extends_grant: None,
        }
    }

    fn new<'a>(targets: &'a [String], group: Option<&'a str>) -> NewRequest<'a> {
        NewRequest {
            engineer: "alice",
            targets,
            group,
            level: Level::B,
            duration_ms: HOUR,
            starts_at: None,
            now: T0,
        }
    }

    fn refused<T: fmt::Debug>(d: Decision<T>) -> (&'static str, String) {
        match d {
            Decision::Deny(r) => (r.code.as_str(), r.message),
            Decision::Allow(v) => panic!("allowed: {v:?}"),
        }
    }

    #[test]
    fn state_names_round_trip() {
        for state in RequestState::ALL {
            assert_eq!(state.as_str().parse::<RequestState>(), Ok(state));
            assert_eq!(state.to_string(), state.as_str());
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{state}\"")
            );
        }
        assert_eq!("Lapsed".parse::<RequestState>(), Ok(RequestState::Lapsed));
        assert_eq!(
            "open".parse::<RequestState>().unwrap_err().to_string(),
            r#"unknown request state "open"; expected pending, approved, denied, withdrawn or lapsed"#
        );
    }

    #[test]
    fn targets_are_filed_deduplicated_with_the_largest_approvals() {
        let targets = names(&["web01", "db01", "web01"]);
        let plan = file_request(&policy(), &ALICE, &new(&targets, None))
            .into_result()
            .unwrap();
        assert_eq!(
            plan,
            RequestPlan {
                targets: names(&["web01", "db01"]),
                approvals_needed: 2,
                duration_ms: HOUR,
                starts_at: None,
                lapses_at: T0 + 4 * HOUR,
            }
        );
    }

    #[test]
    fn a_group_is_expanded() {
        let plan = file_request(&policy(), &ALICE, &new(&[], Some("web")))
            .into_result()
            .unwrap();
        assert_eq!(plan.targets, names(&["web01", "web02"]));
        assert_eq!(plan.approvals_needed, 1);
    }

    #[test]
    fn a_future_start_is_kept() {
        let targets = names(&["web01"]);
        let req = NewRequest {
            starts_at: Some(T0 + HOUR),
            ..new(&targets, None)
        };
        let plan = file_request(&policy(), &ALICE, &req).into_result().unwrap();
        assert_eq!(plan.starts_at, Some(T0 + HOUR));
    }

    #[test]
    fn only_engineers_file() {
        let olga = Actor {
            name: "alice",
            role: Role::Approver,
        };
        let targets = names(&["web01"]);
        assert_eq!(
            refused(file_request(&policy(), &olga, &new(&targets, None))),
            (
                "not_engineer",
                "only engineers can request access; this account is an approver".to_owned()
            )
        );
    }

    #[test]
    fn engineers_file_only_for_themselves() {
        let bob = Actor {
            name: "bob",
            role: Role::Engineer,
        };
        let targets = names(&["web01"]);
        assert_eq!(
            refused(file_request(&policy(), &bob, &new(&targets, None))),
            (
                "not_yours",
                "an engineer can request access only for themself".to_owned()
            )
        );
    }

    #[test]
    fn targets_or_a_group_not_both_nor_neither() {
        let targets = names(&["web01"]);
        assert_eq!(
            refused(file_request(&policy(), &ALICE, &new(&targets, Some("web")))),
            (
                "no_targets",
                "name either targets or a group, not both".to_owned()
            )
        );
        assert_eq!(
            refused(file_request(&policy(), &ALICE, &new(&[], None))),
            (
                "no_targets",
                "name the targets or the group to request access to".to_owned()
            )
        );
    }

    #[test]
    fn unknown_group_is_named() {
        assert_eq!(
            refused(file_request(&policy(), &ALICE, &new(&[], Some("mail")))),
            (
                "unknown_group",
                r#"there is no target group "mail"; ask an admin which groups exist"#.to_owned()
            )
        );
        let (_, message) = refused(file_request(&policy(), &ALICE, &new(&[], Some("m\x1b"))));
        assert_eq!(
            message,
            "there is no target group by that name; ask an admin which groups exist"
        );
    }

    #[test]
    fn targets_outside_the_engineers_groups_are_refused() {
        let targets = names(&["db01"]);
        let bob = Actor {
            name: "bob",
            role: Role::Engineer,
        };
        let req = NewRequest {
            engineer: "bob",
            ..new(&targets, None)
        };
        assert_eq!(
            refused(file_request(&policy(), &bob, &req)),
            (
                "target_not_requestable",
                r#"you may not request access to "db01""#.to_owned()
            )
        );
        let req = NewRequest {
            engineer: "bob",
            ..new(&[], Some("databases"))
        };
        assert_eq!(
            refused(file_request(&policy(), &bob, &req)),
            (
                "target_not_requestable",
                r#"you may not request access to group "databases""#.to_owned()
            )
        );
        let odd = names(&["mail01", "x\x1b"]);
        assert_eq!(
            refused(file_request(&policy(), &ALICE, &new(&odd[1..], None))).1,
            "you may not request access to this target"
        );
        assert_eq!(
            refused(file_request(&policy(), &ALICE, &new(&odd[..1], None))).1,
            r#"you may not request access to "mail01""#
        );
    }

    #[test]
    fn duration_is_positive_and_within_the_level_cap() {
        let targets = names(&["web01"]);
        for duration_ms in [0, -HOUR] {
            let req = NewRequest {
                duration_ms,
                ..new(&targets, None)
            };
            assert_eq!(
                refused(file_request(&policy(), &ALICE, &req)),
                (
                    "bad_duration",
                    "the wanted duration must be longer than zero".to_owned()
                )
            );
        }
        let req = NewRequest {
            level: Level::A,
            duration_ms: 2 * HOUR + 1,
            ..new(&targets, None)
        };
        assert_eq!(
            refused(file_request(&policy(), &ALICE, &req)),
            ("duration_over_cap", "level A allows at most 2 h".to_owned())
        );
        let req = NewRequest {
            level: Level::D,
            duration_ms: 120 * HOUR,
            ..new(&targets, None)
        };
        assert!(file_request(&policy(), &ALICE, &req).is_allow());
    }

    #[test]
    fn start_may_not_lie_in_the_past() {
        let targets = names(&["web01"]);
        let req = NewRequest {
            starts_at: Some(T0 - 1),
            ..new(&targets, None)
        };
        assert_eq!(
            refused(file_request(&policy(), &ALICE, &req)),
            (
                "start_in_past",
                "the start time is in the past; leave it out to start as soon as approved"
                    .to_owned()
            )
        );
    }

    #[test]
    fn only_the_filer_withdraws_a_pending_request() {
        let req = request();
        assert_eq!(withdraw(&req, "alice", T0), Decision::Allow(()));
        assert_eq!(withdraw(&req, "ALICE", T0), Decision::Allow(()));
        assert_eq!(
            refused(withdraw(&req, "bob", T0)),
            (
                "not_yours",
                "only the engineer who filed a request can withdraw it".to_owned()
            )
        );
        for (state, what) in [
            (RequestState::Approved, "was already approved"),
            (RequestState::Denied, "was denied"),
            (RequestState::Withdrawn, "was withdrawn"),
            (RequestState::Lapsed, "has lapsed"),
        ] {
            let req = Request { state, ..request() };
            assert_eq!(
                refused(withdraw(&req, "alice", T0)),
                (
                    "not_pending",
                    format!("request \"r-1\" {what}; it is no longer pending")
                )
            );
        }
        assert_eq!(
            refused(withdraw(&req, "alice", T0 + 4 * HOUR)).1,
            "request \"r-1\" has lapsed; it is no longer pending"
        );
    }

    #[test]
    fn a_pending_request_lapses_at_its_lapse_time() {
        let req = request();
        assert!(!is_lapsed(&req, T0 + 4 * HOUR - 1));
        assert!(is_lapsed(&req, T0 + 4 * HOUR));
        let approved = Request {
            state: RequestState::Approved,
            ..request()
        };
        assert!(!is_lapsed(&approved, T0 + 5 * HOUR));
    }

    #[test]
    fn requests_serialize_for_the_api() {
        let mut req = request();
        req.reviews.push(Review {
            approver: "olga".to_owned(),
            verdict: Verdict::Approve,
            duration_ms: None,
            at: T0,
        });
        let json = serde_json::to_string(&req).unwrap();
        assert!(json.contains(r#""state":"pending""#), "{json}");
        assert!(json.contains(r#""verdict":"approve""#), "{json}");
        assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), req);
    }

    fn arb_state() -> impl Strategy<Value = RequestState> {
        prop::sample::select(RequestState::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn withdraw_only_by_the_owner_while_pending(
            actor in prop::sample::select(vec!["alice", "Alice", "bob", "olga", ""]),
            state in arb_state(),
            now in T0..T0 + 8 * HOUR,
        ) {
            let req = Request { state, ..request() };
            let d = withdraw(&req, actor, now);
            let ok = actor.eq_ignore_ascii_case("alice")
                && state == RequestState::Pending
                && now < req.lapses_at;
            prop_assert_eq!(d.is_allow(), ok, "{:?}", d);
        }

        #[test]
        fn a_filed_plan_is_within_policy(
            p in crate::rules::tests::arb_policy(),
            engineer in prop::sample::select(vec!["alice", "bob"]),
            targets in prop::sample::subsequence(vec!["web01", "web02", "db01", "mail01"], 0..=4),
            group in prop::option::of(prop::sample::select(vec!["web", "db", "all", "nope"])),
            level in prop::sample::select(Level::ALL.to_vec()),
            duration_ms in -HOUR..200 * HOUR,
            start in prop::option::of(-HOUR..HOUR),
        ) {
            let targets = names(&targets);
            let actor = Actor { name: engineer, role: Role::Engineer };
            let req = NewRequest {
                engineer, targets: &targets, group, level, duration_ms,
                starts_at: start.map(|s| T0 + s), now: T0,
            };
            match file_request(&p, &actor, &req) {
                Decision::Allow(plan) => {
                    prop_assert!(!plan.targets.is_empty());
                    for t in &plan.targets {
                        prop_assert!(p.may_request(engineer, t));
                        prop_assert_eq!(plan.targets.iter().filter(|o| *o == t).count(), 1);
                    }
                    prop_assert!(0 < plan.duration_ms && plan.duration_ms <= p.max_for(level));
                    prop_assert!(plan.starts_at.is_none_or(|s| s >= T0));
                    prop_assert_eq!(plan.approvals_needed, p.approvals_needed(&plan.targets));
                    prop_assert!(plan.approvals_needed >= 1);
                }
                Decision::Deny(r) => {
                    prop_assert!(r.message.chars().all(|c| (' '..='~').contains(&c)));
                }
            }
        }
    }
}
