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
