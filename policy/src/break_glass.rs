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
