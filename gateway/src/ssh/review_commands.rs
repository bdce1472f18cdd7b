//! An approver's answers over SSH, proved by the approver's own key and TOTP code at login
//! (approvers always give one): `ssh bob@gateway review list`, `review approve r-… [--for
//! 30m] [--comment TEXT]` and `review deny r-… --comment TEXT`. The same
//! [`crate::approvals::review`] as the CLI and the web, audited `via: ssh`. Not the
//! engineer's commands ([`super::commands`]).

use policy::{format_duration, ReviewOutcome, Verdict};

use super::commands::Reply;
use super::conn_state::ConnState;
use crate::approvals::{self, ApprovalError, Desk, Proof};
use crate::time::{now_ms, rfc3339};

/// How the review commands are written.
pub const USAGE: &str = "review list | review approve ID [--for DURATION] [--comment TEXT] | \
                         review deny ID --comment TEXT";

/// Runs `review …` (the words after `review`) for the approver of `conn`.
pub async fn run(conn: &ConnState, words: &[&str]) -> Reply {
    match words {
        ["list"] => list(conn).await,
        ["approve", id, rest @ ..] => answer(conn, id, Verdict::Approve, rest).await,
        ["deny", id, rest @ ..] => answer(conn, id, Verdict::Deny, rest).await,
        _ => Reply::fail(format!("usage: {USAGE}")),
    }
}

/// Control characters out of text shown on the approver's terminal.
fn shown(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Whether the account behind `conn` is an approver; a reply saying otherwise when not.
async fn approver(conn: &ConnState) -> Result<(), Reply> {
    match conn.ctx.db.user(&conn.engineer).await {
        Ok(Some(u)) if u.role == policy::Role::Approver && !u.disabled => Ok(()),
        Ok(_) => Err(Reply::fail("only approvers review requests".into())),
        Err(_) => Err(Reply::fail(
            "the gateway cannot read accounts right now; try again shortly".into(),
        )),
    }
}

/// The pending requests, oldest first, with how long each has waited.
async fn list(conn: &ConnState) -> Reply {
    if let Err(r) = approver(conn).await {
        return r;
    }
    let Ok(rows) = conn.ctx.db.pending_requests().await else {
        return Reply::fail("the gateway cannot read requests right now; try again shortly".into());
    };
    let now = now_ms();
    let window = conn.ctx.policy.current().response_window_ms;
    let mut out = String::new();
    for row in &rows {
        let r = &row.request;
        let waited = now.saturating_sub(r.filed_at).max(0);
        out.push_str(&format!(
            "{}  waiting {} of {}{}  {} on {}  level {} for {}  {}/{} approvals  {}: {}\n",
            shown(&r.id),
            format_duration(waited),
            format_duration(window),
            if waited > window { " OVERDUE" } else { "" },
            shown(&r.engineer),
            shown(&r.targets.join(",")),
            r.level,
            format_duration(r.duration_ms),
            crate::views::approvals(row),
            r.approvals_needed,
            shown(&row.incident),
            shown(&row.reason),
        ));
    }
    if rows.is_empty() {
        out.push_str("no pending requests\n");
    }
    Reply::ok(out)
}

/// `--for DURATION` and `--comment TEXT` from `rest`.
fn options(rest: &[&str]) -> Result<(Option<String>, String), String> {
    let (mut shorten, mut comment) = (None, String::new());
    let mut it = rest.iter();
    while let Some(word) = it.next() {
        match (*word, it.next()) {
            ("--for", Some(d)) => shorten = Some((*d).to_string()),
            ("--comment", Some(c)) => comment = (*c).to_string(),
            _ => return Err(format!("usage: {USAGE}")),
        }
    }
    Ok((shorten, comment))
}

/// Approves or denies request `id` as the approver of `conn`.
async fn answer(conn: &ConnState, id: &str, verdict: Verdict, rest: &[&str]) -> Reply {
    let (shorten, comment) = match options(rest) {
        Ok(o) => o,
        Err(e) => return Reply::fail(e),
    };
    let policy = conn.ctx.policy.current();
    let proof = Proof::plain("ssh");
    let desk = Desk {
        db: &conn.ctx.db,
        policy: &policy,
        config: &conn.ctx.config,
        proof: &proof,
    };
    let reviewed = approvals::review(
        &desk,
        id,
        &conn.engineer,
        verdict,
        &comment,
        shorten.as_deref(),
        now_ms(),
    )
    .await;
    match reviewed {
        Ok(done) => Reply::ok(match done.outcome {
            ReviewOutcome::Pending { approvals, needed } => format!(
                "request {} approved: {approvals} of {needed} approvals\n",
                done.before.id
            ),
            ReviewOutcome::Approved { starts_at, ends_at } => format!(
                "request {} approved: {} on {} from {} to {}\n",
                done.before.id,
                shown(&done.before.engineer),
                shown(&done.before.targets.join(",")),
                rfc3339(starts_at),
                rfc3339(ends_at)
            ),
            ReviewOutcome::Denied => format!("request {} denied\n", done.before.id),
        }),
        Err(ApprovalError::Refused(r)) => Reply::fail(r.message),
        Err(ApprovalError::Failed(_)) => {
            Reply::fail("the gateway cannot record reviews right now; try again shortly".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_take_for_and_comment_and_nothing_else() {
        assert_eq!(options(&[]).unwrap(), (None, String::new()));
        assert_eq!(
            options(&["--for", "30m", "--comment", "go ahead"]).unwrap(),
            (Some("30m".into()), "go ahead".into())
        );
        assert!(options(&["--for"]).is_err());
        assert!(options(&["--by", "carol"]).is_err());
    }
}
