//! `menwei serve`: loads the keys, starts the SSH server and the enforcer, and on SIGTERM
//! (or Ctrl-C) ends every live session with a message, seals the recordings, and exits.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::db::Db;
use crate::enforcer::{self, End, Registry};
use crate::live_policy::SharedPolicy;
use crate::ssh::server::{self, Context};
use crate::ssh::throttle::Throttle;

/// How long live sessions get to close and seal their recordings at shutdown.
const DRAIN: Duration = Duration::from_secs(10);

/// Runs the gateway until SIGTERM or Ctrl-C.
pub async fn run(config: Config, db: Db) -> anyhow::Result<()> {
    let host_key = config.load_host_key()?;
    let client_key = Arc::new(config.load_client_key()?);
    let signing_key = config.load_signing_key()?;
    let vault = config.load_vault()?;
    std::fs::create_dir_all(&config.recordings.dir).with_context(|| {
        format!(
            "cannot create recordings directory {}",
            config.recordings.dir.display()
        )
    })?;
    let listen = config.ssh.listen;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let sessions = Arc::new(Registry::default());
    let policy = SharedPolicy::new(config.policy.clone());
    let ctx = Arc::new(Context {
        throttle: Throttle::new(config.ssh.max_auth_failures, config.ssh.auth_failure_window),
        config,
        db: db.clone(),
        client_key,
        signing_key,
        vault,
        sessions: sessions.clone(),
        totp_replay: Default::default(),
        policy: policy.clone(),
    });
    let (stop, stopped) = watch::channel(false);
    let enforcer = tokio::spawn(enforcer::run(
        sessions.clone(),
        db,
        policy.clone(),
        stopped.clone(),
    ));
    let ssh = tokio::spawn(server::serve(
        ctx.clone(),
        host_key,
        listener,
        stopped.clone(),
    ));
    eprintln!("menwei: listening on ssh://{listen}");
    ctx.audit(
        "menwei",
        "gateway.start",
        &ctx.config.node_name,
        serde_json::json!({"listen": listen.to_string()}),
    )
    .await;

    wait_for_signal().await?;
    eprintln!(
        "menwei: stopping; ending {} live session(s)",
        sessions.len()
    );
    sessions.end_all(&End::new(
        "gateway_shutdown",
        "the gateway is shutting down; the session is closed",
    ));
    let deadline = tokio::time::Instant::now() + DRAIN;
    while !sessions.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(true);
    let _ = enforcer.await;
    let _ = ssh.await;
    ctx.audit(
        "menwei",
        "gateway.stop",
        &ctx.config.node_name,
        serde_json::json!({}),
    )
    .await;
    eprintln!("menwei: stopped");
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => {}
        r = tokio::signal::ctrl_c() => r.context("cannot wait for Ctrl-C")?,
    }
    Ok(())
}
