//! Requests, reviews and break-glass as the gateway carries them out, for the CLI and the
//! SSH side alike: take what a person typed, ask `policy`, write the outcome through
//! [`crate::db`], and append the audit entries of docs/approvals.md.
//!
//! Every refusal is a [`Refusal`]: a stable code and one line safe to show an engineer
//! (never a target's address), and every refusal is audited (`request.refused`,
//! `review.refused`) before it is returned. Failures of the database or audit log are
//! [`ApprovalError::Failed`], not refusals. Not where the rules are (`policy`), nor where
//! rows are stored ([`crate::db`]), nor how anything is printed or prompted.
//!
//! By concept: `request.rs` files, withdraws and lapses an engineer's requests;
//! `review.rs` is an approver's approve or deny; `break_glass.rs` opens an emergency grant
//! and signs it off; `revoke.rs` takes a grant back. This file holds the [`Desk`] they all act through,
//! the error they return, and the checks and audit helpers they share.

mod break_glass;
mod request;
mod review;
mod revoke;

pub use break_glass::{break_glass, sign_off};
pub use request::{file, lapse_due, withdraw, Filed, RequestInput};
pub use review::{review, Reviewed};
pub use revoke::revoke;

use policy::{Grant, Policy, Refusal, Request};
use serde_json::{json, Value};

use crate::audit::{self, AuditEvent};
use crate::config::Config;
use crate::db::{Db, User};
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
    /// How the actor proved who they are, stamped on every audit entry the desk writes.
    pub proof: &'a Proof,
}

/// How the person behind an action proved who they are: recorded in its audit details as
/// `via` (`web`, `api-token`, `ssh`, `cli+totp`, `cli+token`, or `cli` for a CLI action that
/// names no account to prove), with the operating-system user of a CLI action (from the
/// kernel, not `$USER`) and the id of an API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// How: `web`, `api-token`, `ssh`, `cli+totp`, `cli+token` or `cli`.
    pub via: &'static str,
    /// The operating-system user who ran the CLI.
    pub os_user: Option<String>,
    /// The API token used.
    pub token: Option<String>,
}

impl Proof {
    /// A proof with no details beyond `via` (e.g. `ssh`: key and, where required, TOTP).
    pub fn plain(via: &'static str) -> Proof {
        Proof {
            via,
            os_user: None,
            token: None,
        }
    }

    /// Adds `via`, `os_user` and `token` (where known) to an audit entry's detail object.
    pub fn stamp(&self, detail: &mut Value) {
        if detail.is_null() {
            *detail = json!({});
        }
        if let Value::Object(m) = detail {
            m.insert("via".into(), json!(self.via));
            if let Some(u) = &self.os_user {
                m.insert("os_user".into(), json!(u));
            }
            if let Some(t) = &self.token {
                m.insert("token".into(), json!(t));
            }
        }
    }
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

/// The longest free text (reason, comment) accepted.
pub const MAX_TEXT: usize = 500;
/// The longest incident reference accepted.
pub const MAX_INCIDENT: usize = 100;

/// `Some(refusal)` if `text` is not 1..=max characters on one line.
pub(crate) fn check_text(what: &str, text: &str, max: usize) -> Option<Refusal> {
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
    async fn audit(&self, mut ev: AuditEvent) -> Result<(), ApprovalError> {
        self.proof.stamp(&mut ev.detail);
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

/// The refusal for a request id that names no request.
fn unknown_request(id: &str) -> Refusal {
    Refusal::new(
        codes::UNKNOWN_REQUEST,
        format!("no request {}; see: menwei request list", shown(id)),
    )
}
