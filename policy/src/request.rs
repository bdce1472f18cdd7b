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
                        "there is no {}; ask an admin which groups exist",
                        group_phrase(name)
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
