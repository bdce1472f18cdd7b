//! One run of a runbook: refused unless its current version is approved, otherwise one
//! session per target, opened by [`crate::session::open_under`] as `inspection:NAME` under
//! a grant of the run's own, each listed command an exec channel through the session's
//! [`Pipe`] (recorded, guarded, audited like an engineer's), its output read and judged.
//! Nothing is sent to a target but the listed command lines (and the end of their input).
//! The findings are stored with the run for the report.

use std::sync::Arc;
use std::time::Duration;

use policy::inspection::{judge, runbook_runs};
use policy::{ChannelRequest, Decision, Grant};
use serde_json::{json, Value};
use tokio::sync::watch;

use super::{identity, GRANT_PREFIX};
use crate::config::{Check, Runbook};
use crate::db::InspectionRun;
use crate::session::enforcer::{trip, End, EndCode};
use crate::session::pipe::{self, Input, Output, Pipe, Program, Step};
use crate::session::{self, Context, LiveSession};
use crate::time::now_ms;

/// How long a run's grant lasts on each target: enough for its commands, no more.
const RUN_WINDOW_MS: i64 = 10 * 60 * 1000;
/// How long one command may take before it counts as unreadable.
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);
/// The most of a command's output kept in the findings.
const KEPT_OUTPUT: usize = 4096;

/// Runs `run` (already claimed or taken by this node) of `rb` and stores how it came out.
pub async fn run(ctx: &Arc<Context>, rb: &Runbook, run: &InspectionRun) {
    let findings = execute(ctx, rb, run).await;
    let state = if findings.get("refusal").is_some_and(|r| !r.is_null()) {
        "refused"
    } else {
        "done"
    };
    let count = findings
        .get("findings")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if let Err(e) = ctx
        .db
        .inspection_finish(&run.id, state, &findings.to_string(), now_ms())
        .await
    {
        tracing::error!(run = %run.id, "cannot store the inspection's findings: {e}");
    }
    if state == "done" {
        tracing::info!(run = %run.id, runbook = %rb.name, findings = count, "inspection done");
        ctx.audit(
            &identity(&rb.name),
            "inspection.done",
            &rb.name,
            json!({"run": run.id, "version": rb.version, "findings": count, "node": ctx.config.node_name}),
        )
        .await;
    }
}

async fn execute(ctx: &Arc<Context>, rb: &Runbook, run: &InspectionRun) -> Value {
    let started_at = now_ms();
    let approvals = match ctx.db.runbook_approvals(&rb.name, &rb.version).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(run = %run.id, "cannot read the runbook's approvals: {e}");
            Vec::new()
        }
    };
    let approvers: Vec<String> = approvals.iter().map(|a| a.approver.clone()).collect();
    let mut base = json!({
        "runbook": rb.name,
        "version": rb.version,
        "run": run.id,
        "asked_by": run.asked_by,
        "slot": run.slot,
        "started_at": started_at,
        "approved_by": approvers,
        "thresholds": rb.thresholds,
        "schedule": rb.schedule_text,
        "node": ctx.config.node_name,
        "refusal": null,
        "findings": 0,
        "targets": [],
    });
    if let Decision::Deny(refusal) = runbook_runs(&rb.name, &approvers, rb.approvers) {
        tracing::warn!(run = %run.id, runbook = %rb.name, code = %refusal.code, "inspection refused: {}", refusal.message);
        ctx.audit(
            &identity(&rb.name),
            "inspection.refused",
            &rb.name,
            json!({"action": "run", "run": run.id, "version": rb.version, "code": refusal.code,
                   "message": refusal.message, "approvals": approvers.len(), "needed": rb.approvers}),
        )
        .await;
        set(
            &mut base,
            "refusal",
            json!({"code": refusal.code, "message": refusal.message}),
        );
        set(&mut base, "ended_at", json!(now_ms()));
        return base;
    }
    ctx.audit(
        &identity(&rb.name),
        "inspection.start",
        &rb.name,
        json!({"run": run.id, "version": rb.version, "targets": rb.targets, "approved_by": approvers}),
    )
    .await;
    let mut targets = Vec::new();
    let mut findings = 0u64;
    for target in &rb.targets {
        let t = inspect_target(ctx, rb, run, target, &approvers).await;
        findings += t.get("checks").and_then(Value::as_array).map_or(0, |c| {
            c.iter()
                .filter(|c| c.get("finding").and_then(Value::as_bool) == Some(true))
                .count() as u64
        });
        if t.get("error").is_some_and(|e| !e.is_null()) {
            findings += 1;
        }
        targets.push(t);
    }
    set(&mut base, "targets", Value::Array(targets));
    set(&mut base, "findings", json!(findings));
    set(&mut base, "ended_at", json!(now_ms()));
    base
}

/// Sets `key` of a JSON object.
fn set(v: &mut Value, key: &str, x: Value) {
    if let Some(m) = v.as_object_mut() {
        m.insert(key.to_string(), x);
    }
}

/// One target: a session, the checks one exec channel each, the session closed.
async fn inspect_target(
    ctx: &Arc<Context>,
    rb: &Runbook,
    run: &InspectionRun,
    target: &str,
    approvers: &[String],
) -> Value {
    let now = now_ms();
    let who = identity(&rb.name);
    let grant = Grant {
        id: format!("{GRANT_PREFIX}{}", hex::encode(rand::random::<[u8; 8]>())),
        engineer: who.clone(),
        target: target.to_string(),
        starts_at: now,
        ends_at: now + RUN_WINDOW_MS,
        revoked_at: None,
        reason: format!(
            "inspection {} version {} run {}",
            rb.name,
            rb.version.get(..12).unwrap_or(&rb.version),
            run.id
        ),
        granted_by: approvers.join(","),
    };
    let failed = |message: String| json!({"target": target, "session": null, "error": message, "checks": []});
    if let Err(e) = ctx.db.inspection_grant_add(&run.id, &grant).await {
        return failed(format!("cannot store the run's grant: {e}"));
    }
    let (gone_tx, gone_rx) = watch::channel(false);
    let live =
        match session::open_under(ctx, &who, target, grant, "inspection", None, gone_rx).await {
            Ok(live) => live,
            Err(refusal) => return failed(refusal.message),
        };
    let rules = ctx.policy.current().channel_rules(target);
    let mut checks = Vec::new();
    for (i, check) in rb.checks.iter().enumerate() {
        if live.is_ending() {
            break;
        }
        let ch = u32::try_from(i).unwrap_or(u32::MAX);
        let allowed = policy::channel_request(
            &ChannelRequest::Exec(check.command.as_bytes()),
            &rules,
            target,
        );
        let result = match allowed {
            Decision::Allow(()) => exec(&live, ch, check).await,
            Decision::Deny(refusal) => {
                let _ = live
                    .recorder
                    .record(recordings::Event::Refused {
                        channel: Some(ch),
                        what: format!("exec {}", check.command),
                        reason: refusal.message.clone(),
                    })
                    .await;
                ctx.audit(
                    &who,
                    "exec.refused",
                    target,
                    json!({"session": live.id, "code": refusal.code, "command": check.command}),
                )
                .await;
                Ran {
                    exit: None,
                    output: String::new(),
                    error: Some(refusal.message),
                }
            }
        };
        checks.push(judged(rb, check, result));
    }
    let session_id = live.id.clone();
    trip(
        &live.end,
        End::new(EndCode::ClientClosed, "the inspection finished"),
    );
    let _ = gone_tx.send(true);
    drop(live);
    json!({"target": target, "session": session_id, "error": null, "checks": checks})
}

/// What one command did.
struct Ran {
    exit: Option<u32>,
    /// Standard output, where the figure is read.
    output: String,
    error: Option<String>,
}

fn judged(rb: &Runbook, check: &Check, ran: Ran) -> Value {
    let figure = check.measure.read(&ran.output);
    let threshold = rb.threshold(check.measure);
    let verdict = judge(check.measure, ran.exit, figure, threshold);
    let mut kept = ran.output;
    if kept.len() > KEPT_OUTPUT {
        let mut cut = KEPT_OUTPUT;
        while !kept.is_char_boundary(cut) {
            cut -= 1;
        }
        kept.truncate(cut);
    }
    json!({
        "name": check.name,
        "command": check.command,
        "measure": check.measure.as_str(),
        "exit_status": ran.exit,
        "figure": figure,
        "threshold": threshold,
        "verdict": verdict.as_str(),
        "finding": verdict.is_finding(),
        "error": ran.error,
        "output": kept,
    })
}

/// One exec channel through the session's pipe: started (recorded, then sent), its input
/// closed, its output recorded and collected until the target closes it.
async fn exec(live: &LiveSession, ch: u32, check: &Check) -> Ran {
    let unreadable = |e: &str| Ran {
        exit: None,
        output: String::new(),
        error: Some(e.to_string()),
    };
    let channel = match live.upstream.open_session().await {
        Ok(c) => c,
        Err(_) => return unreadable("the target refused to open a channel"),
    };
    let (from_target, to_target) = channel.split();
    let pipe = Pipe::new(live, ch, false, &to_target);
    let program = Program::Exec(check.command.clone().into_bytes());
    let started = pipe
        .start(pipe::Start {
            kind: "inspection",
            refused: &[],
            env: &[],
            pty: None,
            program: &program,
            shell_reply: false,
        })
        .await;
    if started == Step::Stop || pipe.input(Input::Eof).await == Step::Stop {
        return unreadable("the session ended before the command ran");
    }
    let (queue, mut queued) = pipe::output_queue();
    let collect = async {
        let mut out = Vec::new();
        let mut exit = None;
        while let Some(o) = queued.recv().await {
            match o {
                Output::Data(d) => out.extend_from_slice(&d),
                // Kept out of the figure's text: a warning must not read as a figure.
                Output::Stderr(..) => {}
                Output::Exit(code) => exit = Some(code),
                Output::Close => break,
                Output::Eof | Output::Success | Output::Failure | Output::ExitSignal { .. } => {}
            }
        }
        (out, exit)
    };
    let both = async { tokio::join!(pipe.output(from_target, queue), collect) };
    match tokio::time::timeout(CHECK_TIMEOUT, both).await {
        Ok((_, (out, exit))) => Ran {
            exit,
            output: String::from_utf8_lossy(&out).into_owned(),
            error: None,
        },
        Err(_) => {
            let _ = pipe.input(Input::Close).await;
            unreadable("the command did not finish within 60 s")
        }
    }
}
