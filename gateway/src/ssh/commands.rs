//! Commands to the gateway itself, run on the login without a target:
//! `ssh -p 2222 alice@gateway status` and `ssh -p 2222 alice@gateway extend web01 30m "why"`,
//! and an approver's `ssh bob@gateway review …` ([`super::review_commands`]). They only
//! read the engineer's own grants and requests, file a request or answer one; nothing here
//! reaches a target. Not the menu (`ssh -t alice@gateway` with no command: [`super::menu`]).

use policy::{Decision, RequestState};

use super::conn_state::ConnState;
use crate::approvals::{self, ApprovalError, Desk, RequestInput};
use crate::db::RequestFilter;
use crate::time::{now_ms, rfc3339};

/// What a command printed and how it ended.
pub struct Reply {
    /// For stdout.
    pub out: String,
    /// For stderr.
    pub err: String,
    /// Exit status.
    pub status: u32,
}

impl Reply {
    pub(super) fn ok(out: String) -> Reply {
        Reply {
            out,
            err: String::new(),
            status: 0,
        }
    }

    pub(super) fn fail(err: String) -> Reply {
        Reply {
            out: String::new(),
            err: format!("menwei: {err}\n"),
            status: 1,
        }
    }
}

const USAGE: &str = "commands: status | extend TARGET DURATION REASON… | review … (approvers)";

/// Whether `command` is meant for the gateway (its first word names a gateway command).
pub fn is_gateway_command(command: &[u8]) -> bool {
    let words = split(&String::from_utf8_lossy(command));
    matches!(
        words.first().map(String::as_str),
        Some("status" | "extend" | "review" | "help")
    )
}

/// Runs a gateway command for the engineer of `conn`.
pub async fn run(conn: &ConnState, command: &[u8]) -> Reply {
    let words = split(&String::from_utf8_lossy(command));
    match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["status"] => status(conn).await,
        ["extend", target, duration, reason @ ..] if !reason.is_empty() => {
            extend(conn, target, duration, &reason.join(" ")).await
        }
        ["review", rest @ ..] => super::review_commands::run(conn, rest).await,
        ["help"] => Reply::ok(format!("{USAGE}\n")),
        _ => Reply::fail(format!("unknown command; {USAGE}")),
    }
}

/// The engineer's live grants and open requests.
async fn status(conn: &ConnState) -> Reply {
    let now = now_ms();
    let (grants, requests) = match (
        conn.ctx.db.grants_for(&conn.engineer).await,
        conn.ctx
            .db
            .requests(&RequestFilter {
                engineer: Some(conn.engineer.clone()),
                state: Some(RequestState::Pending),
            })
            .await,
    ) {
        (Ok(g), Ok(r)) => (g, r),
        _ => {
            return Reply::fail(
                "the gateway cannot read grants right now; try again shortly".into(),
            )
        }
    };
    let mut out = String::new();
    let live: Vec<_> = grants.iter().filter(|g| g.is_live(now)).collect();
    if live.is_empty() {
        out.push_str("no live grants\n");
    }
    for g in live {
        out.push_str(&format!(
            "grant {}  {:<16} until {}  ({} left)\n",
            g.id,
            g.target,
            rfc3339(g.ends_at),
            policy::format_duration(g.ends_at.saturating_sub(now))
        ));
    }
    for r in requests {
        let req = &r.request;
        out.push_str(&format!(
            "request {}  {}  level {}  {}  pending since {}\n",
            req.id,
            req.targets.join(","),
            req.level,
            policy::format_duration(req.duration_ms),
            rfc3339(req.filed_at)
        ));
    }
    Reply::ok(out)
}

/// Files a request to extend the live grant for `target` by `duration`, starting where it ends.
async fn extend(conn: &ConnState, target: &str, duration: &str, reason: &str) -> Reply {
    let now = now_ms();
    let Ok(grants) = conn.ctx.db.grants_for(&conn.engineer).await else {
        return Reply::fail("the gateway cannot read grants right now; try again shortly".into());
    };
    let grant = match policy::connect(&conn.engineer, target, now, &grants) {
        Decision::Allow(g) => g.clone(),
        Decision::Deny(_) => {
            return Reply::fail(format!(
                "you hold no live grant for \"{target}\" to extend; file a new request: ssh -t {}:{target}@GATEWAY",
                conn.engineer
            ))
        }
    };
    // The extension inherits the level and incident of the request behind the grant.
    let origin = match conn.ctx.db.grant_record(&grant.id).await {
        Ok(Some(record)) => match record.request_id {
            Some(rid) => conn.ctx.db.request_row(&rid).await.ok().flatten(),
            None => None,
        },
        _ => None,
    };
    let (level, incident) = match &origin {
        Some(row) => (row.request.level.to_string(), row.incident.clone()),
        None => ("C".to_string(), format!("extension of {}", grant.id)),
    };
    let policy = conn.ctx.policy.current();
    let desk = Desk {
        db: &conn.ctx.db,
        policy: &policy,
        config: &conn.ctx.config,
        proof: &crate::approvals::Proof::plain("ssh"),
    };
    let input = RequestInput {
        engineer: conn.engineer.clone(),
        targets: vec![target.to_string()],
        reason: reason.to_string(),
        incident,
        level,
        duration: duration.to_string(),
        start: Some(rfc3339(grant.ends_at)),
        extends_grant: Some(grant.id.clone()),
        ..RequestInput::default()
    };
    match approvals::file(&desk, &input, now).await {
        Ok(filed) => Reply::ok(format!(
            "request {} filed: extend \"{target}\" by {duration} from {}; {} approval(s) needed\n",
            filed.row.request.id,
            rfc3339(grant.ends_at),
            filed.row.request.approvals_needed
        )),
        Err(ApprovalError::Refused(r)) => Reply::fail(r.message),
        Err(ApprovalError::Failed(_)) => {
            Reply::fail("the gateway cannot file requests right now; try again shortly".into())
        }
    }
}

/// Splits a command line into words, honouring single and double quotes.
fn split(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_honours_quotes() {
        assert_eq!(
            split(r#"extend web01 30m "disk still full" 'and more'"#),
            vec!["extend", "web01", "30m", "disk still full", "and more"]
        );
        assert_eq!(split("  status  "), vec!["status"]);
        assert_eq!(split(r#"x "" y"#), vec!["x", "", "y"]);
    }

    #[test]
    fn only_gateway_words_are_gateway_commands() {
        assert!(is_gateway_command(b"status"));
        assert!(is_gateway_command(b"extend web01 1h x"));
        assert!(!is_gateway_command(b"uptime"));
        assert!(!is_gateway_command(b""));
    }
}
