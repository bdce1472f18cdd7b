//! Asking for access from inside `ssh`: an engineer who connects to a target without a
//! live grant, on a terminal, is offered to file a request (reason, incident, fault level,
//! duration), then waits on a status line until approvers decide; the moment it is
//! approved the same connection goes on to the target. Ctrl-C (or leaving) withdraws the
//! request. While an A-level request waits past the response window with nobody deciding,
//! and policy enables it, `b` opens an emergency (break-glass) grant.
//!
//! The decisions are [`crate::approvals`]' (and through it `policy`'s); this file only
//! asks, shows and waits.

use std::sync::Arc;
use std::time::Duration;

use policy::{Level, Refusal, RequestState, Verdict};

use super::conn_state::ConnState;
use super::terminal::{Input, Terminal};
use crate::approvals::{self, ApprovalError, Desk, RequestInput, MAX_INCIDENT, MAX_TEXT};
use crate::time::now_ms;

/// How often the waiting screen looks at the request.
const POLL: Duration = Duration::from_secs(1);

/// Whether the engineer ended up with a live grant for `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Approved (or break-glass opened): connect now.
    Granted,
    /// Not filed, denied, withdrawn or lapsed: the channel ends.
    NotGranted,
}

/// Offers a request for `target` after `why` refused the connection.
pub async fn offer(
    conn: &Arc<ConnState>,
    term: &mut Terminal<'_>,
    target: &str,
    why: &Refusal,
) -> Outcome {
    let policy = conn.ctx.policy.current();
    term.say(&format!("menwei: {}\n", why.message)).await;
    if !policy.may_request(&conn.engineer, target) {
        return Outcome::NotGranted;
    }
    let question = format!("File an access request for \"{target}\" now? [y/N] ");
    match term.line(&question, 8).await {
        Input::Line(a) if a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes") => {}
        _ => return Outcome::NotGranted,
    }
    let Some(input) = ask(conn, term, target, &policy).await else {
        term.say("No request filed.\n").await;
        return Outcome::NotGranted;
    };
    let desk = Desk {
        db: &conn.ctx.db,
        policy: &policy,
        config: &conn.ctx.config,
        proof: &crate::approvals::Proof::plain("ssh"),
    };
    let filed = match approvals::file(&desk, &input, now_ms()).await {
        Ok(filed) => filed,
        Err(e) => {
            term.say(&format!("menwei: {}\n", say_error(&e))).await;
            return Outcome::NotGranted;
        }
    };
    let id = filed.row.request.id.clone();
    let needed = filed.row.request.approvals_needed;
    term.say(&format!(
        "Request {id} filed: {needed} approval{} needed. Waiting here; Ctrl-C withdraws it.\n",
        if needed == 1 { "" } else { "s" }
    ))
    .await;
    wait(conn, term, target, &id).await
}

/// Asks for reason, incident, level and duration; `None` when the engineer gives up.
async fn ask(
    conn: &ConnState,
    term: &mut Terminal<'_>,
    target: &str,
    policy: &policy::Policy,
) -> Option<RequestInput> {
    let reason = ask_text(term, "Reason: ", MAX_TEXT).await?;
    let incident = ask_text(term, "Incident reference (e.g. INC-1234): ", MAX_INCIDENT).await?;
    let caps = Level::ALL
        .iter()
        .map(|l| format!("{l} up to {}", policy::format_duration(policy.max_for(*l))))
        .collect::<Vec<_>>()
        .join(", ");
    let level = loop {
        let text = ask_text(term, &format!("Fault level ({caps}): "), 1).await?;
        match text.parse::<Level>() {
            Ok(level) => break level,
            Err(e) => {
                term.say(&format!("{e}\n")).await;
            }
        }
    };
    let cap = policy.max_for(level);
    let default = policy::format_duration(cap.min(60 * 60 * 1000));
    let duration = loop {
        let text = match term
            .line(
                &format!(
                    "Duration, at most {} [{default}]: ",
                    policy::format_duration(cap)
                ),
                16,
            )
            .await
        {
            Input::Line(t) if t.is_empty() => cap.min(60 * 60 * 1000),
            Input::Line(t) => match crate::time::parse_duration(&t) {
                Ok(d) if crate::time::duration_ms(d) <= cap && !d.is_zero() => {
                    crate::time::duration_ms(d)
                }
                Ok(_) => {
                    term.say(&format!(
                        "Level {level} allows at most {}.\n",
                        policy::format_duration(cap)
                    ))
                    .await;
                    continue;
                }
                Err(e) => {
                    term.say(&format!("{e}\n")).await;
                    continue;
                }
            },
            _ => return None,
        };
        break text;
    };
    Some(RequestInput {
        engineer: conn.engineer.clone(),
        targets: vec![target.to_string()],
        reason,
        incident,
        level: level.to_string(),
        duration: format!("{}s", duration / 1000),
        ..RequestInput::default()
    })
}

/// Reads a non-empty line; `None` on Ctrl-C or when the engineer leaves.
async fn ask_text(term: &mut Terminal<'_>, prompt: &str, max: usize) -> Option<String> {
    loop {
        match term.line(prompt, max).await {
            Input::Line(t) if !t.is_empty() => return Some(t),
            Input::Line(_) => {}
            _ => return None,
        }
    }
}

fn say_error(e: &ApprovalError) -> String {
    match e {
        ApprovalError::Refused(r) => r.message.clone(),
        ApprovalError::Failed(_) => {
            "the gateway cannot file requests right now (its database is unavailable); try again shortly".into()
        }
    }
}

/// Waits for a decision on request `id`, showing a status line.
async fn wait(conn: &Arc<ConnState>, term: &mut Terminal<'_>, target: &str, id: &str) -> Outcome {
    let started = now_ms();
    loop {
        let policy = conn.ctx.policy.current();
        let desk = Desk {
            db: &conn.ctx.db,
            policy: &policy,
            config: &conn.ctx.config,
            proof: &crate::approvals::Proof::plain("ssh"),
        };
        let row = match conn.ctx.db.request_row(id).await {
            Ok(Some(row)) => row,
            Ok(None) | Err(_) => {
                term.say("\nmenwei: the gateway lost track of the request; try again shortly\n")
                    .await;
                return Outcome::NotGranted;
            }
        };
        let req = &row.request;
        match req.state {
            RequestState::Approved => {
                term.say(&format!("\nApproved. Connecting to {target}…\n"))
                    .await;
                return Outcome::Granted;
            }
            RequestState::Denied => {
                let by = req
                    .reviews
                    .iter()
                    .zip(row.review_comments.iter())
                    .find(|(r, _)| r.verdict == Verdict::Deny)
                    .map(|(r, c)| format!(" by {}: {c}", r.approver))
                    .unwrap_or_default();
                term.say(&format!("\nRequest {id} was denied{by}\n")).await;
                return Outcome::NotGranted;
            }
            RequestState::Withdrawn => {
                term.say(&format!("\nRequest {id} was withdrawn.\n")).await;
                return Outcome::NotGranted;
            }
            RequestState::Lapsed => {
                term.say(&format!("\nRequest {id} lapsed: no decision in time.\n"))
                    .await;
                return Outcome::NotGranted;
            }
            RequestState::Pending => {}
        }
        let now = now_ms();
        let approvals = req
            .reviews
            .iter()
            .filter(|r| r.verdict == Verdict::Approve)
            .count();
        let glass = policy::break_glass_open(&policy, req, now);
        let waited = u64::try_from(now.saturating_sub(started) / 1000).unwrap_or(0);
        let status = format!(
            "\r\x1b[K[{:02}:{:02}] waiting for approval: {approvals} of {}{}",
            waited / 60,
            waited % 60,
            req.approvals_needed,
            if glass {
                " — no answer within the response window: press b for an emergency grant"
            } else {
                ""
            }
        );
        if !term.say(&status).await {
            withdraw(&desk, id, &conn.engineer).await;
            return Outcome::NotGranted;
        }
        match term.key(POLL).await {
            Input::Interrupt | Input::Gone => {
                withdraw(&desk, id, &conn.engineer).await;
                term.say(&format!("\nRequest {id} withdrawn.\n")).await;
                return Outcome::NotGranted;
            }
            Input::Key(b'b' | b'B') if glass => {
                match approvals::break_glass(&desk, id, &conn.engineer, now_ms()).await {
                    Ok(_) => {
                        term.say(
                            "\nEmergency grant opened; every approver has been alerted and must review it afterwards.\n",
                        )
                        .await;
                        return Outcome::Granted;
                    }
                    Err(e) => {
                        term.say(&format!("\nmenwei: {}\n", say_error(&e))).await;
                    }
                }
            }
            Input::Key(_) | Input::Line(_) | Input::Timeout => {}
        }
    }
}

async fn withdraw(desk: &Desk<'_>, id: &str, engineer: &str) {
    if let Err(e) = approvals::withdraw(desk, id, engineer, now_ms()).await {
        tracing::warn!(request = id, "could not withdraw on leaving: {e}");
    }
}
