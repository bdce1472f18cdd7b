//! Break-glass: an engineer opens an emergency grant for an A-level request no approver
//! decided within the response window ([`policy::break_glass`]), and an approver signs it
//! off afterwards. Not ordinary reviews ([`mod@super::review`]).

use policy::{Grant, Millis, Refusal, Role};
use serde_json::json;

use super::{
    check_text, clean_actor, codes, grant_reason, unknown_request, ApprovalError, Desk, MAX_TEXT,
};
use crate::audit::AuditEvent;
use crate::db::BreakGlassWrite;
use crate::notify::Kind;

/// The engineer `by` opens an emergency grant for their A-level request `id` that no
/// approver decided within the response window ([`policy::break_glass`]); audits
/// `breakglass.open` and a `grant.create` per grant (with `emergency`).
pub async fn break_glass(
    desk: &Desk<'_>,
    id: &str,
    by: &str,
    now: Millis,
) -> Result<Vec<Grant>, ApprovalError> {
    let refuse = |r: Refusal| desk.refuse_request(by, id, "breakglass", r);
    let Some(row) = desk.db.request_row(id).await? else {
        return Err(refuse(unknown_request(id)).await);
    };
    let written = desk
        .db
        .open_break_glass(
            id,
            now,
            |req| {
                format!(
                    "break-glass: {}",
                    grant_reason(&row.reason, &row.incident, req)
                )
            },
            |req| policy::break_glass(desk.policy, req, by, now),
        )
        .await?;
    let (before, grants) = match written {
        BreakGlassWrite::Unknown => return Err(refuse(unknown_request(id)).await),
        BreakGlassWrite::Refused(_, r) => return Err(refuse(r).await),
        BreakGlassWrite::Opened { before, grants } => (*before, grants),
    };
    desk.audit(
        AuditEvent::new(
            before.engineer.clone(),
            "breakglass.open",
            before.id.clone(),
        )
        .with_detail(json!({
            "engineer": before.engineer,
            "targets": before.targets,
            "level": before.level,
            "filed_at": crate::time::rfc3339(before.filed_at),
            "ends_at": grants.first().map(|g| crate::time::rfc3339(g.ends_at)),
            "emergency": true,
        })),
    )
    .await?;
    desk.audit_grants(&before.engineer, &before, &grants, true)
        .await?;
    desk.notify(
        Kind::BreakGlass,
        json!({
            "request": before.id,
            "engineer": before.engineer,
            "targets": before.targets,
            "level": before.level,
            "ends_at": grants.first().map(|g| crate::time::rfc3339(g.ends_at)),
            "grants": grants.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
        }),
    )
    .await;
    Ok(grants)
}

/// The approver `by` signs off the emergency grant of request `id` with `comment`; audits
/// `breakglass.signoff` or `review.refused`.
pub async fn sign_off(
    desk: &Desk<'_>,
    id: &str,
    by: &str,
    comment: &str,
    now: Millis,
) -> Result<(), ApprovalError> {
    let subject = clean_actor(id);
    let refuse = |r: Refusal| {
        desk.refuse(
            "review.refused",
            by,
            &subject,
            r,
            json!({"action": "breakglass.signoff"}),
        )
    };
    let user = match desk.user(by).await? {
        Ok(u) => u,
        Err(r) => return Err(refuse(r).await),
    };
    if user.role != Role::Approver {
        let r = Refusal::new(
            policy::codes::NOT_APPROVER,
            format!(
                "only approvers can sign off break-glass; this account is an {}",
                user.role
            ),
        );
        return Err(refuse(r).await);
    }
    let comment = policy::visible_text(comment);
    let comment = comment.as_str();
    if let Some(r) = check_text("the comment", comment, MAX_TEXT) {
        return Err(refuse(r).await);
    }
    let Some(req) = desk.db.request(id).await? else {
        return Err(refuse(unknown_request(id)).await);
    };
    if !desk
        .db
        .sign_off_break_glass(&req.id, &user.name, comment.trim(), now)
        .await?
    {
        let r = Refusal::new(
            codes::NOT_BREAK_GLASS,
            format!(
                "request {} has no emergency grant awaiting sign-off; see: menwei breakglass list",
                req.id
            ),
        );
        return Err(refuse(r).await);
    }
    desk.audit(
        AuditEvent::new(user.name.clone(), "breakglass.signoff", req.id.clone()).with_detail(
            json!({"engineer": req.engineer, "targets": req.targets, "comment": comment.trim()}),
        ),
    )
    .await?;
    Ok(())
}
