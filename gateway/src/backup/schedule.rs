//! The backups `menwei serve` makes on `[backup] schedule`: each is created in `local`,
//! verified (restored into a scratch directory, audit chain and recordings checked),
//! copied to `offsite`, and the oldest beyond `keep` removed from both. Each run is audited
//! as `backup.created` or `backup.failed`; a failure is also logged and sent to webhooks as
//! `backup_failed`. Not the backup format ([`super`]).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch;

use crate::config::{BackupConfig, Destination, Schedule};
use crate::session::Context;
use policy::Millis;

const DAY_MS: Millis = 24 * 60 * 60 * 1000;

/// When the run after `now` is due, for a schedule that started at `started`.
pub fn next_due(schedule: Schedule, started: Millis, last: Option<Millis>, now: Millis) -> Millis {
    match schedule {
        Schedule::Every(d) => last.unwrap_or(started) + crate::time::duration_ms(d),
        Schedule::Daily { minute_of_day } => {
            let at = Millis::from(minute_of_day) * 60_000;
            let today = now.div_euclid(DAY_MS) * DAY_MS + at;
            if today > now {
                today
            } else {
                today + DAY_MS
            }
        }
    }
}

/// Runs the schedule until shutdown.
pub async fn run(ctx: Arc<Context>, mut shutdown: watch::Receiver<bool>) {
    let Some(cfg) = ctx.config.backup.clone() else {
        return;
    };
    let started = crate::time::now_ms();
    let mut last = None;
    loop {
        let now = crate::time::now_ms();
        let due = next_due(cfg.schedule, started, last, now);
        let wait = Duration::from_millis(u64::try_from(due - now).unwrap_or(0));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        last = Some(due);
        run_once(&ctx, &cfg).await;
    }
}

/// One scheduled backup, audited either way.
pub async fn run_once(ctx: &Context, cfg: &BackupConfig) {
    let local = cfg.local.display().to_string();
    match attempt(ctx, cfg).await {
        Ok(detail) => {
            let name = detail.get("name").cloned().unwrap_or_default();
            tracing::info!(backup = %name, "backup created and verified");
            ctx.audit("menwei", "backup.created", &local, detail).await;
        }
        Err(reason) => {
            tracing::error!(local = %local, "scheduled backup failed: {reason}");
            let detail = json!({
                "reason": reason,
                "local": local,
                "node": ctx.config.node_name,
            });
            ctx.audit("menwei", "backup.failed", &local, detail.clone())
                .await;
            crate::notify::enqueue_logged(
                &ctx.db,
                &ctx.config,
                crate::notify::Kind::BackupFailed,
                detail,
            )
            .await;
        }
    }
}

async fn attempt(ctx: &Context, cfg: &BackupConfig) -> Result<Value, String> {
    let text = |e: super::BackupError| e.to_string();
    let pass = super::seal::read_passphrase(&cfg.passphrase_file).map_err(text)?;
    let created = super::create(&ctx.config, &ctx.db, &cfg.local, pass.clone())
        .await
        .map_err(text)?;
    let verified = super::verify(&created.path, pass)
        .await
        .map_err(|e| format!("{}: verify: {e}", created.name))?;
    if !verified.problems.is_empty() {
        return Err(format!(
            "{}: verify: {}",
            created.name,
            verified.problems.join("; ")
        ));
    }
    let offsite = match &cfg.offsite {
        Some(Destination::Dir(dir)) => {
            let copied = super::copy_to(&created.path, dir)
                .map_err(|e| format!("{}: off-site copy: {e}", created.name))?;
            super::prune(dir, cfg.keep).map_err(text)?;
            Some(copied.display().to_string())
        }
        Some(Destination::Store(store)) => {
            let bucket =
                super::offsite::Bucket::open(store, "[backup] credentials_file").map_err(text)?;
            let copied = bucket
                .upload(&created.path)
                .await
                .map_err(|e| format!("{}: off-site upload: {e}", created.name))?;
            bucket.prune(cfg.keep).await.map_err(text)?;
            Some(copied)
        }
        None => None,
    };
    let removed = super::prune(&cfg.local, cfg.keep).map_err(text)?;
    Ok(json!({
        "name": created.name,
        "path": created.path.display().to_string(),
        "bytes": created.bytes,
        "recordings": created.recordings,
        "missing_recordings": created.missing_recordings,
        "verified": {
            "audit_entries": verified.audit_entries,
            "recordings": verified.recordings,
        },
        "offsite": offsite,
        "removed": removed.len(),
        "node": ctx.config.node_name,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_runs_at_the_next_minute_of_the_day() {
        let day = 20_000 * DAY_MS;
        let two_am = Schedule::Daily { minute_of_day: 120 };
        assert_eq!(next_due(two_am, 0, None, day), day + 120 * 60_000);
        assert_eq!(
            next_due(two_am, 0, None, day + 120 * 60_000),
            day + DAY_MS + 120 * 60_000
        );
        let every = Schedule::Every(Duration::from_secs(2));
        assert_eq!(next_due(every, 1000, None, 1500), 3000);
        assert_eq!(next_due(every, 1000, Some(3000), 3100), 5000);
    }
}
