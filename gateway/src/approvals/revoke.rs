//! Revoking a grant before its end ([`policy::revoke_grant`]). Ending the live sessions
//! under it is the enforcer's on every node (and the caller's on its own, at once), not
//! this file's.

use policy::{Actor, Grant, Millis, Refusal};
use serde_json::json;

use super::{clean_actor, codes, shown, ApprovalError, Desk};
use crate::audit::AuditEvent;
use crate::notify::Kind;

/// `by` revokes grant `id` at `now`: asks [`policy::revoke_grant`], stores the revocation,
/// audits `grant.revoke` (or `grant.revoke.refused`), notifies webhooks, and returns the
/// grant as it was. Live sessions under it end within the enforcer's next check on every
/// node; the caller may end those on its own node at once.
pub async fn revoke(
    desk: &Desk<'_>,
    id: &str,
    by: &str,
    now: Millis,
) -> Result<Grant, ApprovalError> {
    let subject = clean_actor(id);
    let refuse = |r: Refusal| desk.refuse("grant.revoke.refused", by, &subject, r, json!({}));
    let user = match desk.user(by).await? {
        Ok(u) => u,
        Err(r) => return Err(refuse(r).await),
    };
    let Some(grant) = desk.db.grant(id).await? else {
        return Err(refuse(Refusal::new(
            codes::UNKNOWN_GRANT,
            format!("no grant {}", shown(id)),
        ))
        .await);
    };
    if let Err(r) = policy::revoke_grant(&Actor {
        name: &user.name,
        role: user.role,
    })
    .into_result()
    {
        return Err(refuse(r).await);
    }
    let state_before = crate::views::state_name(&grant, now);
    if !desk.db.grant_revoke(&grant.id, &user.name, now).await? {
        return Err(refuse(Refusal::new(
            policy::codes::GRANT_REVOKED,
            format!("grant {} is already revoked", grant.id),
        ))
        .await);
    }
    desk.audit(
        AuditEvent::new(user.name.clone(), "grant.revoke", grant.id.clone()).with_detail(json!({
            "engineer": grant.engineer,
            "target": grant.target,
            "state_before": state_before,
        })),
    )
    .await?;
    desk.notify(
        Kind::Revocation,
        json!({
            "grant": grant.id,
            "engineer": grant.engineer,
            "target": grant.target,
            "revoked_by": user.name,
            "revoked_at": crate::time::rfc3339(now),
        }),
    )
    .await;
    Ok(grant)
}
