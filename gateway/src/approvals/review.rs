//! An approver's review of a pending request: approve (perhaps shortened) or deny, decided
//! by [`policy::review`] inside the database transaction, with the grants an approval makes.
//! Not filing or withdrawing ([`super::request`]), nor break-glass sign-off
//! ([`mod@super::break_glass`]).

use policy::{Actor, Grant, Millis, Refusal, Request, ReviewOutcome, Verdict};
use serde_json::json;

use super::{
    check_text, clean_actor, grant_reason, unknown_request, ApprovalError, Desk, MAX_TEXT,
};
use crate::audit::AuditEvent;
use crate::db::{NewReview, ReviewWrite};
use crate::notify::Kind;

/// What a review did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reviewed {
    /// The request as it was before the review.
    pub before: Request,
    /// What it led to.
    pub outcome: ReviewOutcome,
    /// Grants made by it (approved only), one per target.
    pub grants: Vec<Grant>,
}

/// `approver` approves (`verdict` approve, optionally shortening to `shorten`, e.g. `30m`)
/// or denies request `id` with `comment` (required to deny). Asks [`policy::review`] inside
/// the database transaction; audits `review.approve`/`review.deny` and a `grant.create`
/// per grant made, or `review.refused`.
pub async fn review(
    desk: &Desk<'_>,
    id: &str,
    approver: &str,
    verdict: Verdict,
    comment: &str,
    shorten: Option<&str>,
    now: Millis,
) -> Result<Reviewed, ApprovalError> {
    let detail = json!({"verdict": verdict, "for": shorten});
    let subject = clean_actor(id);
    let refuse = |r: Refusal| desk.refuse("review.refused", approver, &subject, r, detail.clone());
    let user = match desk.user(approver).await? {
        Ok(u) => u,
        Err(r) => return Err(refuse(r).await),
    };
    let comment = policy::visible_text(comment);
    let comment = comment.as_str();
    if verdict == Verdict::Deny || !comment.is_empty() {
        if let Some(r) = check_text("the comment", comment, MAX_TEXT) {
            return Err(refuse(r).await);
        }
    }
    let shorten_ms = match shorten.map(|s| crate::time::parse_duration(s.trim())) {
        None => None,
        Some(Ok(d)) => Some(crate::time::duration_ms(d)),
        Some(Err(e)) => return Err(refuse(Refusal::new(policy::codes::BAD_DURATION, e)).await),
    };
    let Some(row) = desk.db.request_row(id).await? else {
        return Err(refuse(unknown_request(id)).await);
    };
    let new = NewReview {
        review: policy::Review {
            approver: user.name.clone(),
            verdict,
            duration_ms: shorten_ms,
            at: now,
        },
        comment: comment.to_string(),
    };
    let actor = Actor {
        name: &user.name,
        role: user.role,
    };
    let written = desk
        .db
        .record_review(
            id,
            &new,
            |req| grant_reason(&row.reason, &row.incident, req),
            |req| policy::review(desk.policy, req, &actor, verdict, shorten_ms, now),
        )
        .await?;
    let (before, outcome, grants) = match written {
        ReviewWrite::Unknown => return Err(refuse(unknown_request(id)).await),
        ReviewWrite::Refused(_, r) => return Err(refuse(r).await),
        ReviewWrite::Recorded {
            before,
            outcome,
            grants,
        } => (*before, outcome, grants),
    };
    let (action, result) = match outcome {
        ReviewOutcome::Pending { approvals, needed } => (
            "review.approve",
            json!({"state": "pending", "approvals": approvals, "needed": needed}),
        ),
        ReviewOutcome::Approved { starts_at, ends_at } => (
            "review.approve",
            json!({"state": "approved", "starts_at": crate::time::rfc3339(starts_at),
                   "ends_at": crate::time::rfc3339(ends_at)}),
        ),
        ReviewOutcome::Denied => ("review.deny", json!({"state": "denied"})),
    };
    desk.audit(
        AuditEvent::new(user.name.clone(), action, before.id.clone()).with_detail(json!({
            "engineer": before.engineer,
            "targets": before.targets,
            "comment": comment,
            "duration_ms": shorten_ms,
            "outcome": result,
        })),
    )
    .await?;
    desk.audit_grants(&user.name, &before, &grants, false)
        .await?;
    if !matches!(outcome, ReviewOutcome::Pending { .. }) {
        desk.notify(
            Kind::Decision,
            json!({
                "request": before.id,
                "engineer": before.engineer,
                "targets": before.targets,
                "approver": user.name,
                "comment": comment,
                "outcome": result,
                "grants": grants.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
            }),
        )
        .await;
    }
    Ok(Reviewed {
        before,
        outcome,
        grants,
    })
}
