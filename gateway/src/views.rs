//! The JSON shapes of grants, requests and accounts' keys that the CLI (`--json`) and the
//! web API both answer with: one definition, so that a script reading either sees the same
//! fields.

use policy::{format_duration, Grant, GrantState, Verdict};
use serde_json::{json, Value};

use crate::db::{GrantRecord, RequestRow, User, UserKey};

/// `live`, `expired`, `revoked` or `not_yet`.
pub fn state_name(g: &Grant, now: i64) -> &'static str {
    match g.state(now) {
        GrantState::Live { .. } => "live",
        GrantState::Expired => "expired",
        GrantState::Revoked => "revoked",
        GrantState::NotYet => "not_yet",
    }
}

/// A grant as JSON (also the web API's shape).
pub fn grant_json(r: &GrantRecord, now: i64) -> serde_json::Value {
    let g = &r.grant;
    json!({
        "id": g.id,
        "engineer": g.engineer,
        "target": g.target,
        "starts_at": crate::time::rfc3339(g.starts_at),
        "ends_at": crate::time::rfc3339(g.ends_at),
        "revoked_at": g.revoked_at.map(crate::time::rfc3339),
        "revoked_by": r.revoked_by,
        "reason": g.reason,
        "granted_by": g.granted_by,
        "created_at": crate::time::rfc3339(r.created_at),
        "state": state_name(g, now),
    })
}

/// An account's state as lists show it: `active`, `disabled` or `removed`.
pub fn account_state(u: &User) -> &'static str {
    match (u.removed_at.is_some(), u.disabled) {
        (true, _) => "removed",
        (false, true) => "disabled",
        (false, false) => "active",
    }
}

/// One SSH key of an account: its fingerprint, comment and when it was added; never the
/// key itself.
pub fn key_json(k: &UserKey) -> Value {
    json!({
        "fingerprint": k.fingerprint,
        "comment": k.comment(),
        "added_at": crate::time::rfc3339(k.added_at),
    })
}

/// How many distinct approvers approved `row` so far.
pub fn approvals(row: &RequestRow) -> usize {
    let mut names: Vec<String> = row
        .request
        .reviews
        .iter()
        .filter(|r| r.verdict == Verdict::Approve)
        .map(|r| r.approver.to_lowercase())
        .collect();
    names.sort();
    names.dedup();
    names.len()
}

/// A request as JSON (every stored column, reviews with comments).
pub fn request_json(row: &RequestRow) -> Value {
    let r = &row.request;
    let reviews: Vec<Value> = r
        .reviews
        .iter()
        .zip(
            row.review_comments
                .iter()
                .map(String::as_str)
                .chain(std::iter::repeat("")),
        )
        .map(|(v, comment)| {
            json!({
                "approver": v.approver,
                "verdict": v.verdict,
                "comment": comment,
                "duration_ms": v.duration_ms,
                "at": crate::time::rfc3339(v.at),
            })
        })
        .collect();
    json!({
        "id": r.id,
        "engineer": r.engineer,
        "targets": r.targets,
        "group": row.group,
        "reason": row.reason,
        "incident": row.incident,
        "level": r.level,
        "duration_ms": r.duration_ms,
        "duration": format_duration(r.duration_ms),
        "starts_at": r.starts_at.map(crate::time::rfc3339),
        "state": r.state,
        "approvals": approvals(row),
        "approvals_needed": r.approvals_needed,
        "filed_at": crate::time::rfc3339(r.filed_at),
        "decided_at": row.decided_at.map(crate::time::rfc3339),
        "lapses_at": crate::time::rfc3339(r.lapses_at),
        "break_glass": r.break_glass,
        "extends_grant": r.extends_grant,
        "signed_off_by": row.signed_off_by,
        "signed_off_at": row.signed_off_at.map(crate::time::rfc3339),
        "signoff_comment": row.signoff_comment,
        "reviews": reviews,
    })
}
