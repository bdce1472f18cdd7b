//! Whether this node can serve: the checks behind `GET /readyz` (a load balancer's question,
//! asked without login). The database answers, the recordings directory takes a write, and
//! its filesystem has more free than `[recordings] min_free`; with a recording store, whether
//! the store answers is said too, without making the node unready (sessions record to the
//! spool meanwhile, and every node shares the store). Each check is bounded in time,
//! and what it says names no address, path or credential: the probe is public.
//! Not liveness (`GET /healthz` only says the process answers).

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::config::Config;
use crate::db::Db;
use crate::recording_store::RecordingStore;
use crate::session::room::room;

/// The longest a check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// One check's outcome: `ok`, or why not in one line.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// It passed.
    Ok,
    /// It failed, and why.
    Failed(String),
}

impl Check {
    fn is_ok(&self) -> bool {
        matches!(self, Check::Ok)
    }
}

/// Every readiness check of this node.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    /// Whether every check passed.
    pub ready: bool,
    /// This node's name.
    pub node: String,
    /// The database answers a query.
    pub database: Check,
    /// A file can be written in the recordings directory.
    pub recordings: Check,
    /// The recordings filesystem has more free than `min_free`.
    pub disk: Check,
    /// With `[recordings] store`: whether the store answers (informative: not part of
    /// `ready`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<Check>,
}

impl std::fmt::Display for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.ready { "ready" } else { "NOT ready" };
        writeln!(f, "node {}: {state}", self.node)?;
        for (name, check) in [
            ("database", &self.database),
            ("recordings", &self.recordings),
            ("disk", &self.disk),
        ] {
            match check {
                Check::Ok => writeln!(f, "  {name:<11} ok")?,
                Check::Failed(why) => writeln!(f, "  {name:<11} FAILED: {why}")?,
            }
        }
        match &self.store {
            None => {}
            Some(Check::Ok) => writeln!(f, "  {:<11} ok", "store")?,
            Some(Check::Failed(why)) => writeln!(
                f,
                "  {:<11} UNAVAILABLE (recordings wait in the spool): {why}",
                "store"
            )?,
        }
        Ok(())
    }
}

/// Runs every check (concurrently, each within `CHECK_TIMEOUT`) for the node `config`
/// describes; `db` is `None` when the database could not even be connected to, `store` when
/// the recording store could not be set up.
pub async fn readiness(
    config: &Config,
    db: Option<&Db>,
    store: Option<&RecordingStore>,
) -> Readiness {
    let dir = config.recordings.dir.clone();
    let (database, recordings, disk, store) = tokio::join!(
        database(db),
        blocking(probe_write(dir.clone(), config.node_name.clone())),
        blocking(free_space(dir, config.recordings.min_free)),
        store_check(config, store),
    );
    Readiness {
        ready: database.is_ok() && recordings.is_ok() && disk.is_ok(),
        node: config.node_name.clone(),
        database,
        recordings,
        disk,
        store,
    }
}

/// Whether the recording store answers; `None` without one.
async fn store_check(config: &Config, store: Option<&RecordingStore>) -> Option<Check> {
    config.recordings.store.as_ref()?;
    let Some(store) = store else {
        return Some(Check::Failed("the recording store cannot be set up".into()));
    };
    Some(
        match tokio::time::timeout(CHECK_TIMEOUT, store.probe()).await {
            Ok(Some(Ok(()))) | Ok(None) => Check::Ok,
            Ok(Some(Err(e))) => {
                tracing::warn!("readiness: the recording store does not answer: {e}");
                Check::Failed(format!(
                    "the recording store does not answer ({} waiting in the spool)",
                    store.waiting()
                ))
            }
            Err(_) => Check::Failed(format!(
                "the recording store did not answer within {} s",
                CHECK_TIMEOUT.as_secs()
            )),
        },
    )
}

async fn database(db: Option<&Db>) -> Check {
    let Some(db) = db else {
        return Check::Failed("the database does not answer".into());
    };
    match tokio::time::timeout(CHECK_TIMEOUT, db.ping()).await {
        Ok(Ok(())) => Check::Ok,
        // The error text may carry the server's address: logged, not answered.
        Ok(Err(e)) => {
            tracing::warn!("readiness: the database does not answer: {e}");
            Check::Failed("the database does not answer".into())
        }
        Err(_) => Check::Failed(format!(
            "the database did not answer within {} s",
            CHECK_TIMEOUT.as_secs()
        )),
    }
}

/// Runs a filesystem check off the runtime, within [`CHECK_TIMEOUT`].
async fn blocking(check: impl FnOnce() -> Check + Send + 'static) -> Check {
    match tokio::time::timeout(CHECK_TIMEOUT, tokio::task::spawn_blocking(check)).await {
        Ok(Ok(check)) => check,
        Ok(Err(_)) => Check::Failed("the check did not finish".into()),
        Err(_) => Check::Failed(format!(
            "the recordings filesystem did not answer within {} s",
            CHECK_TIMEOUT.as_secs()
        )),
    }
}

/// Writes, syncs and removes a small file of this node's in `dir`.
fn probe_write(dir: std::path::PathBuf, node: String) -> impl FnOnce() -> Check {
    move || {
        let probe = dir.join(format!(".readyz-{node}"));
        let written = write_probe(&probe);
        let _ = std::fs::remove_file(&probe);
        match written {
            Ok(()) => Check::Ok,
            Err(e) => {
                tracing::warn!("readiness: the recordings directory cannot be written: {e}");
                Check::Failed(format!(
                    "the recordings directory cannot be written ({})",
                    e.kind()
                ))
            }
        }
    }
}

fn write_probe(probe: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(probe)?;
    f.write_all(b"ready\n")?;
    f.sync_all()
}

fn free_space(dir: std::path::PathBuf, min_free: crate::config::MinFree) -> impl FnOnce() -> Check {
    move || match room(&dir, min_free) {
        Ok(r) if r.is_short() => Check::Failed(format!("the recordings disk is nearly full: {r}")),
        Ok(_) => Check::Ok,
        Err(e) => Check::Failed(format!(
            "the recordings filesystem cannot be measured ({})",
            e.kind()
        )),
    }
}
