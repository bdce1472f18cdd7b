//! What an administrator does to an existing account, in one place for both front doors
//! that offer it: the CLI (`menwei user disable | enable | remove | logout | key list |
//! key remove`) and the API (`/api/v1/users/…`). Each operation checks, writes through
//! [`crate::db`] and appends its audit entry (with who acted and `via` which door); the
//! callers only translate arguments in and outcomes out.
//!
//! Live sessions are not ended here: the account's `disabled` flag and `cut_off_at`,
//! written here, are what every node's [`crate::session::enforcer`] reads each half
//! second, so a decision taken on any node reaches sessions on all of them. Web logins and
//! API tokens are ended here, in the database every node reads them from. Not here:
//! creating accounts, keys and passwords (`cli/users.rs`), nor who may call what (the
//! CLI is the operator's; the API's route table admits admins only).

use policy::{codes, Millis, Refusal, Role};
use serde_json::{json, Value};

use crate::audit::{self, AuditEvent};
use crate::db::{Db, User, UserKey};

/// The longest reason accepted for disabling or removing an account.
pub const MAX_REASON: usize = 200;

/// Who acts on accounts, and how: the database, this node's name for audit entries, the
/// acting person (an OS user on the CLI, an admin account on the API) and the door.
#[derive(Clone, Copy)]
pub struct Admin<'a> {
    /// The database.
    pub db: &'a Db,
    /// This node's name, for audit entries.
    pub node: &'a str,
    /// Who acts, as the audit log names them.
    pub actor: &'a str,
    /// How the actor proved who they are, stamped on the audit entries (`via`: `cli` with
    /// the OS user, `web`, or `api-token` with the token's id).
    pub proof: &'a crate::approvals::Proof,
}

/// Why an account operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Refused, with a stable code and one line for the person who asked.
    #[error("{}", .0.message)]
    Refused(Refusal),
    /// The database or the audit log failed.
    #[error("{0}")]
    Failed(String),
}

impl From<crate::db::DbError> for AccountError {
    fn from(e: crate::db::DbError) -> Self {
        AccountError::Failed(e.to_string())
    }
}

impl From<audit::AuditError> for AccountError {
    fn from(e: audit::AuditError) -> Self {
        AccountError::Failed(e.to_string())
    }
}

/// What cutting an account off ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ended {
    /// Web logins ended.
    pub web_logins: u64,
    /// API tokens revoked.
    pub tokens: u64,
    /// SSH keys deleted (removal only).
    pub keys: u64,
}

impl Ended {
    /// The counts as audit detail and API answer fields, with the fields of `more`.
    pub fn json_with(&self, more: Value) -> Value {
        let mut v = json!({
            "web_logins_ended": self.web_logins,
            "tokens_revoked": self.tokens,
            "keys_removed": self.keys,
        });
        if let (Value::Object(m), Value::Object(more)) = (&mut v, more) {
            m.extend(more);
        }
        v
    }
}

fn refused(code: policy::codes::Code, message: String) -> AccountError {
    AccountError::Refused(Refusal::new(code, message))
}

fn was_removed(name: &str) -> AccountError {
    refused(
        codes::ACCOUNT_REMOVED,
        format!("user {} was removed", shown(name)),
    )
}

/// `s` safe to quote in a one-line message.
fn shown(s: &str) -> String {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_control())
        .take(policy::MAX_NAME_LEN)
        .collect();
    format!("{clean:?}")
}

/// The reason as stored: invisible characters dropped, trimmed, 1 to [`MAX_REASON`]
/// characters on one line (`what` names the field in the refusal).
pub fn check_reason(what: &str, reason: &str) -> Result<String, AccountError> {
    let reason = policy::visible_text(reason);
    match crate::approvals::check_text(what, &reason, MAX_REASON) {
        Some(refusal) => Err(AccountError::Refused(refusal)),
        None => Ok(reason),
    }
}

/// Refuses taking away the last enabled admin: `target` would be disabled or removed while
/// `accounts` (all of them, `target` included) hold no other enabled admin.
pub fn check_not_last_admin(target: &User, accounts: &[User]) -> Result<(), AccountError> {
    let enabled_admin = |u: &User| u.role == Role::Admin && !u.disabled;
    if enabled_admin(target)
        && !accounts
            .iter()
            .any(|u| enabled_admin(u) && u.name != target.name)
    {
        return Err(refused(
            codes::LAST_ADMIN,
            format!(
                "user {} is the last enabled admin; add or enable another admin first",
                shown(&target.name)
            ),
        ));
    }
    Ok(())
}

impl Admin<'_> {
    async fn audit(
        &self,
        action: &'static str,
        subject: &str,
        mut detail: Value,
    ) -> Result<(), AccountError> {
        self.proof.stamp(&mut detail);
        let ev = AuditEvent::new(self.actor, action, subject).with_detail(detail);
        audit::append(self.db, self.node, ev).await?;
        Ok(())
    }

    /// The account called `name`, removed ones included.
    pub async fn account(&self, name: &str) -> Result<User, AccountError> {
        let unknown = || refused(codes::UNKNOWN_USER, format!("no user {}", shown(name)));
        if policy::validate_name("user", name).is_err() {
            return Err(unknown());
        }
        self.db.user(name).await?.ok_or_else(unknown)
    }

    /// The account called `name`, refused if it was removed.
    async fn present(&self, name: &str) -> Result<User, AccountError> {
        let user = self.account(name).await?;
        if user.removed_at.is_some() {
            return Err(was_removed(&user.name));
        }
        Ok(user)
    }

    /// The account to disable or remove and the reason as stored: refused if it is not
    /// there, was removed, the reason is bad or it is the last enabled admin.
    async fn cuttable(&self, name: &str, reason: &str) -> Result<(User, String), AccountError> {
        let user = self.present(name).await?;
        let reason = check_reason("reason", reason)?;
        check_not_last_admin(&user, &self.db.users().await?)?;
        Ok((user, reason))
    }

    /// Ends `name`'s web logins and, with `tokens`, revokes its API tokens.
    async fn end_logins(
        &self,
        name: &str,
        tokens: bool,
        now: Millis,
    ) -> Result<Ended, AccountError> {
        Ok(Ended {
            web_logins: self.db.web_sessions_revoke_user(name, now).await?,
            tokens: if tokens {
                self.db.tokens_revoke_user(name, now).await?
            } else {
                0
            },
            keys: 0,
        })
    }

    /// Disables `name` with `reason`: no login of any kind; its web logins end, its API
    /// tokens are revoked, its live sessions end at their enforcer's next check, saying
    /// the reason. Audited `user.disable`.
    pub async fn disable(
        &self,
        name: &str,
        reason: &str,
        now: Millis,
    ) -> Result<Ended, AccountError> {
        let (user, reason) = self.cuttable(name, reason).await?;
        self.db
            .user_set_disabled(&user.name, Some(&reason), now)
            .await?;
        let ended = self.end_logins(&user.name, true, now).await?;
        let detail = ended.json_with(json!({"reason": reason}));
        self.audit("user.disable", &user.name, detail).await?;
        Ok(ended)
    }

    /// Lets a disabled (not removed) account log in again; its ended sessions, logins and
    /// tokens stay ended. Audited `user.enable`.
    pub async fn enable(&self, name: &str, now: Millis) -> Result<User, AccountError> {
        let user = self.present(name).await?;
        self.db.user_set_disabled(&user.name, None, now).await?;
        self.audit("user.enable", &user.name, json!({})).await?;
        Ok(user)
    }

    /// Removes `name` for good, keeping its history: disabled with `reason`, its keys,
    /// password and TOTP secret deleted, its web logins ended, API tokens revoked and live
    /// sessions ended; the row stays, so every request, session and audit entry naming it
    /// still means this person and the name is never given to another. Audited
    /// `user.remove`.
    pub async fn remove(
        &self,
        name: &str,
        reason: &str,
        now: Millis,
    ) -> Result<Ended, AccountError> {
        let (user, reason) = self.cuttable(name, reason).await?;
        let Some(keys) = self.db.user_remove(&user.name, &reason, now).await? else {
            // Removed between the read above and now, by someone else.
            return Err(was_removed(&user.name));
        };
        let ended = Ended {
            keys,
            ..self.end_logins(&user.name, true, now).await?
        };
        let detail = ended.json_with(json!({"reason": reason, "role": user.role.as_str()}));
        self.audit("user.remove", &user.name, detail).await?;
        Ok(ended)
    }

    /// Gives `name` the role `role` for `reason`: everything it had open was opened under
    /// the old role, so its web logins end, its API tokens are revoked and its live sessions
    /// end at their enforcer's next check. Refused for a removed account, the same role, or
    /// the last enabled admin. Audited `user.role` with both roles.
    pub async fn set_role(
        &self,
        name: &str,
        role: Role,
        reason: &str,
        now: Millis,
    ) -> Result<Ended, AccountError> {
        let user = self.present(name).await?;
        let reason = check_reason("reason", reason)?;
        if user.role == role {
            return Err(refused(
                codes::BAD_INPUT,
                format!(
                    "user {} already has the role {}",
                    shown(&user.name),
                    role.as_str()
                ),
            ));
        }
        check_not_last_admin(&user, &self.db.users().await?)?;
        self.db.user_set_role(&user.name, role, now).await?;
        let ended = self.end_logins(&user.name, true, now).await?;
        let detail = ended.json_with(json!({
            "reason": reason,
            "from": user.role.as_str(),
            "to": role.as_str(),
        }));
        self.audit("user.role", &user.name, detail).await?;
        Ok(ended)
    }

    /// Ends every web login and live session of `name` now, on every node; it may log in
    /// again. Audited `user.logout`.
    pub async fn logout(&self, name: &str, now: Millis) -> Result<Ended, AccountError> {
        let user = self.account(name).await?;
        self.db.user_cut_off(&user.name, now).await?;
        let ended = self.end_logins(&user.name, false, now).await?;
        self.audit(
            "user.logout",
            &user.name,
            json!({"web_logins_ended": ended.web_logins}),
        )
        .await?;
        Ok(ended)
    }

    /// `name`'s SSH keys, oldest first.
    pub async fn keys(&self, name: &str) -> Result<Vec<UserKey>, AccountError> {
        let user = self.account(name).await?;
        Ok(self.db.user_key_rows(&user.name).await?)
    }

    /// Removes `name`'s key `fingerprint` (a lost laptop's): it logs in no more, and the
    /// account's web logins and live sessions end. Audited `user.key.remove`.
    pub async fn key_remove(
        &self,
        name: &str,
        fingerprint: &str,
        now: Millis,
    ) -> Result<Ended, AccountError> {
        let user = self.account(name).await?;
        if !self.db.user_key_remove(&user.name, fingerprint).await? {
            return Err(refused(
                codes::UNKNOWN_KEY,
                format!(
                    "user {} has no key {}",
                    shown(&user.name),
                    shown(fingerprint)
                ),
            ));
        }
        self.db.user_cut_off(&user.name, now).await?;
        let ended = self.end_logins(&user.name, false, now).await?;
        self.audit(
            "user.key.remove",
            &user.name,
            json!({"fingerprint": fingerprint, "web_logins_ended": ended.web_logins}),
        )
        .await?;
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, role: Role, disabled: bool) -> User {
        User {
            name: name.into(),
            role,
            disabled,
            disabled_reason: None,
            cut_off_at: None,
            removed_at: None,
            created_at: 0,
        }
    }

    #[test]
    fn the_last_enabled_admin_stays() {
        let adam = user("adam", Role::Admin, false);
        let alice = user("alice", Role::Engineer, false);
        let old = user("old", Role::Admin, true);
        let all = [adam.clone(), alice.clone(), old.clone()];
        let err = check_not_last_admin(&adam, &all).unwrap_err();
        assert!(
            matches!(&err, AccountError::Refused(r) if r.code == codes::LAST_ADMIN),
            "{err}"
        );
        assert!(check_not_last_admin(&alice, &all).is_ok());
        // A disabled admin may be removed; with a second enabled admin, either may go.
        assert!(check_not_last_admin(&old, &all).is_ok());
        let eve = user("eve", Role::Admin, false);
        assert!(check_not_last_admin(&adam, &[adam.clone(), eve]).is_ok());
    }

    #[test]
    fn reasons_are_one_visible_line() {
        assert_eq!(
            check_reason("reason", "  left \u{200b}the firm ").unwrap(),
            "left the firm"
        );
        for bad in ["", " \u{200b} ", "two\nlines", &"x".repeat(MAX_REASON + 1)] {
            let err = check_reason("--reason", bad).unwrap_err();
            assert!(
                matches!(&err, AccountError::Refused(r) if r.code == codes::BAD_INPUT),
                "{bad:?}"
            );
            assert!(err.to_string().starts_with("--reason must"), "{err}");
        }
    }
}
