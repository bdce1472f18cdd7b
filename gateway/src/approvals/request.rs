//! An engineer's request over its own life: filed (checked, asked of
//! [`policy::file_request`], stored pending), withdrawn by its engineer, or lapsed when no
//! approver decided in time. Not the approver's side ([`mod@super::review`]) nor break-glass
//! ([`mod@super::break_glass`]).

use policy::{Actor, Level, Millis, NewRequest, Refusal, Request, RequestState};
use serde_json::json;

use super::{
    check_text, codes, shown, unknown_request, ApprovalError, Desk, MAX_INCIDENT, MAX_TEXT,
};
use crate::audit::AuditEvent;
use crate::db::RequestRow;
use crate::notify::Kind;

/// A request as typed: strings, checked here so the CLI and the SSH prompt refuse alike.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInput {
    /// The engineer the access is for (the one filing).
    pub engineer: String,
    /// Targets by name; empty when `group` is given.
    pub targets: Vec<String>,
    /// A target group instead of targets.
    pub group: Option<String>,
    /// Why.
    pub reason: String,
    /// Incident reference, e.g. `INC-1`.
    pub incident: String,
    /// Fault level, `A`–`D`.
    pub level: String,
    /// Wanted duration, e.g. `1h`.
    pub duration: String,
    /// Wanted start (RFC 3339); `None`: as soon as approved.
    pub start: Option<String>,
    /// The grant this request extends (asked from inside a session).
    pub extends_grant: Option<String>,
}

/// A filed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filed {
    /// As stored.
    pub row: RequestRow,
}

/// Files a request for `input.engineer` at `now`: checks the input, asks
/// [`policy::file_request`], stores it pending and audits `request.file`.
pub async fn file(
    desk: &Desk<'_>,
    input: &RequestInput,
    now: Millis,
) -> Result<Filed, ApprovalError> {
    // What the approver reads is what was filed: no bidi controls, no zero-width characters.
    let cleaned = RequestInput {
        reason: policy::visible_text(&input.reason),
        incident: policy::visible_text(&input.incident),
        ..input.clone()
    };
    let input = &cleaned;
    let detail = json!({
        "targets": input.targets,
        "group": input.group,
        "level": input.level,
        "duration": input.duration,
        "incident": input.incident,
    });
    let subject = match (&input.group, input.targets.as_slice()) {
        (Some(g), _) => format!("group:{g}"),
        (None, []) => "-".to_string(),
        (None, t) => t.join(","),
    };
    let refuse = |r: Refusal| {
        desk.refuse(
            "request.refused",
            &input.engineer,
            &subject,
            r,
            detail.clone(),
        )
    };

    let engineer = match desk.user(&input.engineer).await? {
        Ok(u) => u,
        Err(r) => return Err(refuse(r).await),
    };
    let level = match input.level.trim().parse::<Level>() {
        Ok(l) => l,
        Err(e) => return Err(refuse(Refusal::new(codes::BAD_LEVEL, e.to_string())).await),
    };
    let duration_ms = match crate::time::parse_duration(input.duration.trim()) {
        Ok(d) => crate::time::duration_ms(d),
        Err(e) => return Err(refuse(Refusal::new(policy::codes::BAD_DURATION, e)).await),
    };
    let starts_at = match input.start.as_deref().map(crate::time::parse_rfc3339) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => return Err(refuse(Refusal::new(codes::BAD_INPUT, e)).await),
    };
    for (what, text, max) in [
        ("the reason", input.reason.as_str(), MAX_TEXT),
        (
            "the incident reference",
            input.incident.as_str(),
            MAX_INCIDENT,
        ),
    ] {
        if let Some(r) = check_text(what, text, max) {
            return Err(refuse(r).await);
        }
    }
    let plan = policy::file_request(
        desk.policy,
        &Actor {
            name: &engineer.name,
            role: engineer.role,
        },
        &NewRequest {
            engineer: &input.engineer,
            targets: &input.targets,
            group: input.group.as_deref(),
            level,
            duration_ms,
            starts_at,
            now,
        },
    );
    let plan = match plan.into_result() {
        Ok(p) => p,
        Err(r) => return Err(refuse(r).await),
    };
    for t in &plan.targets {
        if desk.db.target(t).await?.is_none() {
            let r = Refusal::new(
                codes::UNKNOWN_TARGET,
                format!(
                    "target {} is not registered on the gateway; ask an admin",
                    shown(t)
                ),
            );
            return Err(refuse(r).await);
        }
    }
    if let Some(g) = &input.extends_grant {
        let ok = desk
            .db
            .grant(g)
            .await?
            .is_some_and(|g| g.engineer == engineer.name);
        if !ok {
            let r = Refusal::new(codes::BAD_INPUT, format!("you hold no grant {}", shown(g)));
            return Err(refuse(r).await);
        }
    }
    let row = RequestRow {
        request: Request {
            id: crate::db::new_id("r"),
            engineer: engineer.name.clone(),
            targets: plan.targets,
            level,
            duration_ms: plan.duration_ms,
            starts_at: plan.starts_at,
            state: RequestState::Pending,
            approvals_needed: plan.approvals_needed,
            filed_at: now,
            lapses_at: plan.lapses_at,
            reviews: Vec::new(),
            break_glass: false,
            extends_grant: input.extends_grant.clone(),
        },
        group: input.group.clone(),
        reason: input.reason.trim().to_string(),
        incident: input.incident.trim().to_string(),
        decided_at: None,
        signed_off_by: None,
        signed_off_at: None,
        signoff_comment: None,
        review_comments: Vec::new(),
    };
    desk.db.file_request(&row).await?;
    let r = &row.request;
    desk.audit(
        AuditEvent::new(engineer.name.clone(), "request.file", r.id.clone()).with_detail(json!({
            "engineer": r.engineer,
            "targets": r.targets,
            "group": row.group,
            "level": r.level,
            "duration_ms": r.duration_ms,
            "starts_at": r.starts_at.map(crate::time::rfc3339),
            "approvals_needed": r.approvals_needed,
            "lapses_at": crate::time::rfc3339(r.lapses_at),
            "reason": row.reason,
            "incident": row.incident,
            "extends_grant": r.extends_grant,
        })),
    )
    .await?;
    desk.notify(
        Kind::Request,
        json!({
            "request": r.id,
            "engineer": r.engineer,
            "targets": r.targets,
            "group": row.group,
            "level": r.level,
            "duration_ms": r.duration_ms,
            "approvals_needed": r.approvals_needed,
            "filed_at": crate::time::rfc3339(r.filed_at),
            "incident": row.incident,
            "reason": row.reason,
        }),
    )
    .await;
    Ok(Filed { row })
}

/// The engineer `by` withdraws their pending request `id`; audits `request.withdraw` or
/// `request.refused`.
pub async fn withdraw(
    desk: &Desk<'_>,
    id: &str,
    by: &str,
    now: Millis,
) -> Result<Request, ApprovalError> {
    let refuse = |r: Refusal| desk.refuse_request(by, id, "withdraw", r);
    let Some(req) = desk.db.request(id).await? else {
        return Err(refuse(unknown_request(id)).await);
    };
    if let Err(r) = policy::withdraw(&req, by, now).into_result() {
        return Err(refuse(r).await);
    }
    if !desk.db.withdraw_request(&req.id, now).await? {
        let r = Refusal::new(
            policy::codes::NOT_PENDING,
            format!("request {} is no longer pending", req.id),
        );
        return Err(refuse(r).await);
    }
    desk.audit(
        AuditEvent::new(req.engineer.clone(), "request.withdraw", req.id.clone())
            .with_detail(json!({"targets": req.targets})),
    )
    .await?;
    Ok(req)
}

/// Marks every pending request past its lapse time lapsed and audits `request.lapse` for
/// each (actor `gateway`). Safe to call from every node and command: each lapses once.
pub async fn lapse_due(desk: &Desk<'_>, now: Millis) -> Result<Vec<String>, ApprovalError> {
    let ids = desk.db.lapse_requests(now).await?;
    for id in &ids {
        desk.audit(AuditEvent::new("gateway", "request.lapse", id.clone()))
            .await?;
    }
    Ok(ids)
}
