//! What `menwei serve` does for inspections: each second, claims the slots of the runbooks'
//! schedules that have come (a slot's run row is unique, so one node runs it however many
//! serve) and takes the runs asked for (`menwei inspection run`, the API), running each on
//! its own task. A slot missed while no node served is not run late; the next one is. A run
//! the node was in the middle of when it stopped is marked failed when it starts again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use policy::Millis;
use tokio::sync::watch;

use crate::db::InspectionRun;
use crate::session::Context;
use crate::time::now_ms;

/// How often slots and asked-for runs are looked for.
const TICK: Duration = Duration::from_secs(1);

/// Runs until shutdown.
pub async fn run(ctx: Arc<Context>, mut shutdown: watch::Receiver<bool>) {
    if ctx.config.inspections.is_empty() {
        return;
    }
    // Runs this node had under way when it last stopped will not finish: say so.
    match ctx
        .db
        .inspections_abandoned(&ctx.config.node_name, now_ms())
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            runs = n,
            "inspection runs left unfinished by the last stop marked failed"
        ),
        Err(e) => tracing::warn!("cannot mark unfinished inspection runs: {e}"),
    }
    let offset = ctx.config.reports.calendar.utc_offset_ms;
    let started = now_ms();
    // The next slot of each scheduled runbook.
    let mut next: BTreeMap<String, Millis> = ctx
        .config
        .inspections
        .values()
        .filter_map(|rb| {
            Some((
                rb.name.clone(),
                rb.schedule.as_ref()?.next_after(started, offset),
            ))
        })
        .collect();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let now = now_ms();
        for (name, due) in next.iter_mut() {
            if *due > now {
                continue;
            }
            let slot = *due;
            let Some(rb) = ctx.config.inspections.get(name) else {
                continue;
            };
            if let Some(s) = &rb.schedule {
                *due = s.next_after(now, offset);
            }
            let run = InspectionRun {
                id: crate::db::new_id("ir"),
                runbook: name.clone(),
                version: rb.version.clone(),
                slot: slot.to_string(),
                asked_by: None,
                state: "running".into(),
                created_at: now,
                started_at: Some(now),
                ended_at: None,
                node: Some(ctx.config.node_name.clone()),
                findings: None,
            };
            match ctx.db.inspection_claim(&run).await {
                Ok(true) => spawn(&ctx, run),
                Ok(false) => {
                    tracing::debug!(runbook = %name, slot, "inspection slot taken by another node")
                }
                Err(e) => tracing::error!(runbook = %name, "cannot claim the inspection slot: {e}"),
            }
        }
        let queued = match ctx.db.inspections_queued().await {
            Ok(q) => q,
            Err(e) => {
                tracing::warn!("cannot read the inspections asked for: {e}");
                continue;
            }
        };
        for mut run in queued {
            let version = ctx
                .config
                .inspections
                .get(&run.runbook)
                .map_or_else(|| run.version.clone(), |rb| rb.version.clone());
            match ctx
                .db
                .inspection_take(&run.id, &version, &ctx.config.node_name, now)
                .await
            {
                Ok(true) => {
                    run.version = version;
                    spawn(&ctx, run);
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(run = %run.id, "cannot take the inspection run: {e}"),
            }
        }
    }
}

fn spawn(ctx: &Arc<Context>, run: InspectionRun) {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        match ctx.config.inspections.get(&run.runbook).cloned() {
            Some(rb) => super::runner::run(&ctx, &rb, &run).await,
            None => {
                let refusal = super::unknown(&run.runbook);
                let findings = serde_json::json!({"runbook": run.runbook, "run": run.id,
                    "refusal": {"code": refusal.code, "message": refusal.message}, "findings": 0, "targets": []});
                let _ = ctx
                    .db
                    .inspection_finish(&run.id, "refused", &findings.to_string(), now_ms())
                    .await;
            }
        }
    });
}
