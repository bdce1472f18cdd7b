//! Requests, reviews and break-glass as the gateway carries them out, for the CLI and the
//! SSH side alike: take what a person typed, ask `policy`, write the outcome through
//! [`crate::db`], and append the audit entries of docs/approvals.md.
//!
//! Every refusal is a [`Refusal`]: a stable code and one line safe to show an engineer
//! (never a target's address), and every refusal is audited (`request.refused`,
//! `review.refused`) before it is returned. Failures of the database or audit log are
//! [`ApprovalError::Failed`], not refusals. Not where the rules are (`policy`), nor where
//! rows are stored ([`crate::db`]), nor how anything is printed or prompted.

use policy::{
    Actor, Grant, Level, Millis, NewRequest, Policy, Refusal, Request, RequestState, ReviewOutcome,
    Role, Verdict,
};
use serde_json::{json, Value};

use crate::audit::{self, AuditEvent};
use crate::config::Config;
use crate::db::{BreakGlassWrite, Db, NewReview, RequestRow, ReviewWrite, User};
use crate::notify::Kind;

/// Refusal codes of the gateway's own checks (their variants live with every other code in
/// [`policy::codes`]).
pub mod codes {
    pub use policy::codes::{
        BAD_INPUT, BAD_LEVEL, NOT_BREAK_GLASS, UNKNOWN_GRANT, UNKNOWN_REQUEST, UNKNOWN_TARGET,
        UNKNOWN_USER,
    };
}

/// What the approvals code needs: the database, the policy in force, and who writes.
#[derive(Clone, Copy)]
pub struct Desk<'a> {
    /// The database.
    pub db: &'a Db,
    /// The policy in force.
    pub policy: &'a Policy,
    /// The configuration: this node's name for audit entries, webhooks to notify.
    pub config: &'a Config,
    /// How the action arrived, recorded in audit details: `cli:<os user>` or `ssh`.
    pub via: &'a str,
}

/// Why an action did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// Refused, with a line for the person who asked; already audited.
    #[error("{0}")]
    Refused(Refusal),
    /// The database or audit log failed; nothing to show an engineer beyond "try again".
    #[error("{0}")]
    Failed(String),
}

impl From<crate::db::DbError> for ApprovalError {
    fn from(e: crate::db::DbError) -> Self {
        ApprovalError::Failed(e.to_string())
    }
}

impl From<audit::AuditError> for ApprovalError {
    fn from(e: audit::AuditError) -> Self {
        ApprovalError::Failed(e.to_string())
    }
}

impl ApprovalError {
    /// The refusal, if this is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            ApprovalError::Refused(r) => Some(r),
            ApprovalError::Failed(_) => None,
        }
    }
}

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

/// The longest free text (reason, comment) accepted.
pub const MAX_TEXT: usize = 500;
/// The longest incident reference accepted.
pub const MAX_INCIDENT: usize = 100;

/// `Some(refusal)` if `text` is not 1..=max characters on one line.
fn check_text(what: &str, text: &str, max: usize) -> Option<Refusal> {
    let t = text.trim();
    if t.is_empty() {
        return Some(Refusal::new(
            codes::BAD_INPUT,
            format!("{what} must not be empty"),
        ));
    }
    if t.chars().count() > max || t.chars().any(char::is_control) {
        return Some(Refusal::new(
            codes::BAD_INPUT,
            format!("{what} must be at most {max} characters on one line"),
        ));
    }
    None
}

/// A name from input, safe to quote in a message.
fn shown(s: &str) -> String {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_control())
        .take(policy::MAX_NAME_LEN)
        .collect();
    format!("{clean:?}")
}

impl Desk<'_> {
    async fn audit(&self, ev: AuditEvent) -> Result<(), ApprovalError> {
        audit::append(self.db, &self.config.node_name, ev).await?;
        Ok(())
    }

    /// Stores a webhook notification; never fails the action (the audit entry stands).
    async fn notify(&self, kind: Kind, data: Value) {
        crate::notify::enqueue_logged(self.db, self.config, kind, data).await;
    }

    /// An enabled user called `name`, else a refusal (not yet audited).
    async fn user(&self, name: &str) -> Result<Result<User, Refusal>, ApprovalError> {
        if policy::validate_name("user", name).is_err() {
            return Ok(Err(Refusal::new(
                codes::UNKNOWN_USER,
                format!("no user {}", shown(name)),
            )));
        }
        Ok(match self.db.user(name).await? {
            Some(u) if !u.disabled => Ok(u),
            Some(_) => Err(Refusal::new(
                codes::UNKNOWN_USER,
                format!("user {} is disabled", shown(name)),
            )),
            None => Err(Refusal::new(
                codes::UNKNOWN_USER,
                format!("no user {}", shown(name)),
            )),
        })
    }

    async fn refuse(
        &self,
        action: &'static str,
        actor: &str,
        subject: &str,
        refusal: Refusal,
        mut detail: Value,
    ) -> ApprovalError {
        if let Value::Object(m) = &mut detail {
            m.insert("code".into(), json!(refusal.code));
            m.insert("message".into(), json!(refusal.message));
            m.insert("via".into(), json!(self.via));
        }
        let ev = AuditEvent::new(clean_actor(actor), action, subject).with_detail(detail);
        match self.audit(ev).await {
            Ok(()) => ApprovalError::Refused(refusal),
            Err(e) => e,
        }
    }

    /// Refuses `by`'s `action` on request `id` (a withdrawal or break-glass): audits
    /// `request.refused` as [`Desk::refuse`] does.
    async fn refuse_request(
        &self,
        by: &str,
        id: &str,
        action: &str,
        refusal: Refusal,
    ) -> ApprovalError {
        let detail = json!({ "action": action });
        self.refuse("request.refused", by, &clean_actor(id), refusal, detail)
            .await
    }

    async fn audit_grants(
        &self,
        actor: &str,
        req: &Request,
        grants: &[Grant],
        emergency: bool,
    ) -> Result<(), ApprovalError> {
        for g in grants {
            self.audit(
                AuditEvent::new(actor, "grant.create", g.id.clone()).with_detail(json!({
                    "request": req.id,
                    "engineer": g.engineer,
                    "target": g.target,
                    "starts_at": crate::time::rfc3339(g.starts_at),
                    "ends_at": crate::time::rfc3339(g.ends_at),
                    "granted_by": g.granted_by,
                    "emergency": emergency,
                    "reason": g.reason,
                    "via": self.via,
                })),
            )
            .await?;
        }
        Ok(())
    }
}

/// An actor name for the audit log from input: control characters dropped, cut short.
fn clean_actor(s: &str) -> String {
    let c: String = s.chars().filter(|c| !c.is_control()).take(64).collect();
    if c.is_empty() {
        "-".to_string()
    } else {
        c
    }
}

/// The reason written on a request's grants.
fn grant_reason(row_reason: &str, incident: &str, req: &Request) -> String {
    let text = format!(
        "request {} ({incident}, level {}): {row_reason}",
        req.id, req.level
    );
    text.chars().take(MAX_TEXT).collect()
}

/// Files a request for `input.engineer` at `now`: checks the input, asks
/// [`policy::file_request`], stores it pending and audits `request.file`.
pub async fn file(
    desk: &Desk<'_>,
    input: &RequestInput,
    now: Millis,
) -> Result<Filed, ApprovalError> {
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
            "via": desk.via,
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
    let comment = comment.trim();
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
            "via": desk.via,
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

fn unknown_request(id: &str) -> Refusal {
    Refusal::new(
        codes::UNKNOWN_REQUEST,
        format!("no request {}; see: menwei request list", shown(id)),
    )
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
            .with_detail(json!({"targets": req.targets, "via": desk.via})),
    )
    .await?;
    Ok(req)
}

/// Marks every pending request past its lapse time lapsed and audits `request.lapse` for
/// each (actor `gateway`). Safe to call from every node and command: each lapses once.
pub async fn lapse_due(desk: &Desk<'_>, now: Millis) -> Result<Vec<String>, ApprovalError> {
    let ids = desk.db.lapse_requests(now).await?;
    for id in &ids {
        desk.audit(
            AuditEvent::new("gateway", "request.lapse", id.clone())
                .with_detail(json!({"via": desk.via})),
        )
        .await?;
    }
    Ok(ids)
}

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
            "via": desk.via,
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
            json!({"engineer": req.engineer, "targets": req.targets, "comment": comment.trim(), "via": desk.via}),
        ),
    )
    .await?;
    Ok(())
}

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
            "via": desk.via,
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
