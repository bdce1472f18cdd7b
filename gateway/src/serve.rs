//! `menwei serve`: loads the keys, starts the SSH server and the enforcer, and on SIGTERM
//! (or Ctrl-C) ends every live session with a message, seals the recordings, and exits.

use std::os::unix::fs::DirBuilderExt as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::db::Db;
use crate::session::enforcer::{self, End, EndCode, Registry};
use crate::session::live_policy::SharedPolicy;
use crate::session::Context;
use crate::ssh::server;
use crate::throttle::Throttle;

/// How long live sessions get to close and seal their recordings at shutdown.
const DRAIN: Duration = Duration::from_secs(10);

/// How long entries kept during a database outage get to land at shutdown.
const OUTBOX_DRAIN: Duration = Duration::from_secs(5);

/// Runs the gateway until SIGTERM or Ctrl-C.
pub async fn run(config: Config, db: Db) -> anyhow::Result<()> {
    let host_key = config.load_host_key()?;
    let client_key = Arc::new(config.load_client_key()?);
    let signing_key = config.load_signing_key()?;
    config.ensure_recording_public_key(&signing_key)?;
    let vault = config.load_vault()?;
    let webhooks = crate::notify::Webhooks::load(&config)?;
    // Scheduled backups that could never be sealed are refused now, not at 02:00.
    if let Some(backup) = &config.backup {
        crate::backup::seal::read_passphrase(&backup.passphrase_file)
            .context("[backup] passphrase_file")?;
    }
    let recordings = crate::recording_store::RecordingStore::open(&config.recordings)?;
    // Owner-only, like the files in it (the recorder creates those 0600).
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&config.recordings.dir)
        .with_context(|| {
            format!(
                "cannot create recordings directory {}",
                config.recordings.dir.display()
            )
        })?;
    // Serving anyway: sessions are refused one by one (and say why) until there is room.
    match crate::session::room::room(&config.recordings.dir, config.recordings.min_free) {
        Ok(room) if room.is_short() => tracing::warn!(
            "the recordings disk is nearly full ({room}): no session will start until there is room"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot read the recordings disk's free space: {e}"),
    }
    let listen = config.ssh.listen;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    // Counting from before the first connection is accepted.
    let metrics = match config.metrics.listen {
        Some(addr) => Some((
            addr,
            crate::metrics::bind(addr).await?,
            crate::metrics::install()?,
        )),
        None => None,
    };
    let sessions = Arc::new(Registry::default());
    let policy = SharedPolicy::new(config.policy.clone());
    let node_name = config.node_name.clone();
    let ctx = Arc::new(Context {
        login_alerts: crate::login_alert::LoginAlerts::new(
            config.audit.login_alert_failures,
            config.audit.login_alert_window,
        ),
        throttle: Arc::new(Throttle::new(
            config.ssh.max_auth_failures,
            config.ssh.auth_failure_window,
        )),
        config,
        db: db.clone(),
        client_key,
        signing_key,
        vault,
        recordings,
        sessions: sessions.clone(),
        policy: policy.clone(),
        refusals: Default::default(),
        opening: Default::default(),
        outbox: crate::outbox::Outbox::new(&node_name),
    });
    end_leftover_sessions(&ctx).await;
    // Before any session opens, every recording in the spool is one a stop or a crash left.
    match ctx.recordings.queue_spool() {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(node = %ctx.config.node_name, "{n} recording(s) in the spool to upload to {}", ctx.recordings.url().unwrap_or_default())
        }
        Err(e) => {
            tracing::warn!(node = %ctx.config.node_name, "cannot list the recordings spool: {e}")
        }
    }
    ctx.db
        .node_up(
            &ctx.config.node_name,
            &crate::nodes::address(&ctx.config),
            crate::nodes::VERSION,
            crate::time::now_ms(),
        )
        .await
        .context("cannot record this node in the database")?;
    let (stop, stopped) = watch::channel(false);
    let enforcer = tokio::spawn(enforcer::run(
        sessions.clone(),
        db,
        policy.clone(),
        stopped.clone(),
    ));
    // Stopped last, after the final entries: what the database never took goes to the log.
    let (stop_outbox, outbox_stopped) = watch::channel(false);
    let outbox = tokio::spawn({
        let ctx = ctx.clone();
        async move { crate::outbox::run(&ctx.outbox, &ctx.db, outbox_stopped).await }
    });
    let lapser = tokio::spawn(lapse_requests(ctx.clone(), stopped.clone()));
    let notifier = tokio::spawn(crate::notify::run(
        ctx.db.clone(),
        webhooks,
        stopped.clone(),
    ));
    let summary = tokio::spawn(crate::refusals::run(
        ctx.clone(),
        ctx.config.audit.summary_interval,
        stopped.clone(),
    ));
    let trimmer = tokio::spawn(crate::memory::run(stopped.clone()));
    let heart = tokio::spawn(crate::nodes::run(ctx.clone(), stopped.clone()));
    let backups = tokio::spawn(crate::backup::schedule::run(ctx.clone(), stopped.clone()));
    let retention = tokio::spawn(crate::retention::run(ctx.clone(), stopped.clone()));
    let inspections = tokio::spawn(crate::inspections::schedule::run(
        ctx.clone(),
        stopped.clone(),
    ));
    let shared_throttle = tokio::spawn(crate::throttle::share(
        ctx.throttle.clone(),
        ctx.db.clone(),
        ctx.config.node_name.clone(),
        "ssh",
        stopped.clone(),
    ));
    let uploader = tokio::spawn(crate::recording_store::run(ctx.clone(), stopped.clone()));
    let ssh = tokio::spawn(server::serve(
        ctx.clone(),
        host_key,
        listener,
        stopped.clone(),
    ));
    let web = match crate::web::prepare(&ctx)? {
        Some(https) => {
            let web_listener = TcpListener::bind(https.listen)
                .await
                .with_context(|| format!("cannot listen on {} ([https] listen)", https.listen))?;
            tracing::info!(node = %ctx.config.node_name, "listening on https://{}", https.listen);
            Some(tokio::spawn(crate::web::serve(
                ctx.clone(),
                web_listener,
                stopped.clone(),
            )))
        }
        None => None,
    };
    let metrics = match metrics {
        Some((addr, listener, handle)) => {
            tracing::info!(node = %ctx.config.node_name, "metrics at http://{addr}/metrics");
            Some(tokio::spawn(crate::metrics::serve(
                handle,
                listener,
                ctx.clone(),
                stopped.clone(),
            )))
        }
        None => None,
    };
    // A gateway that cannot audit serves nobody; it says it listens only once its start is
    // in the audit log.
    if let Err(e) = ctx
        .audit_before(
            "menwei",
            "gateway.start",
            &ctx.config.node_name,
            serde_json::json!({"listen": listen.to_string()}),
        )
        .await
    {
        anyhow::bail!("cannot write the audit log, so the gateway does not start: {e}");
    }
    tracing::info!(node = %ctx.config.node_name, "listening on ssh://{listen}");

    wait_for_stop(&ctx).await?;
    tracing::info!(
        node = %ctx.config.node_name,
        "stopping; ending {} live session(s)",
        sessions.len()
    );
    sessions.end_all(&End::new(
        EndCode::GatewayShutdown,
        "the gateway is shutting down; the session is closed",
    ));
    let deadline = tokio::time::Instant::now() + DRAIN;
    while !sessions.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(true);
    let _ = enforcer.await;
    let _ = notifier.await;
    let _ = lapser.await;
    let _ = trimmer.await;
    let _ = heart.await;
    let _ = backups.await;
    let _ = retention.await;
    let _ = inspections.await;
    let _ = shared_throttle.await;
    let _ = uploader.await;
    if let Err(e) = ctx
        .db
        .node_stopped(&ctx.config.node_name, crate::time::now_ms())
        .await
    {
        tracing::warn!(node = %ctx.config.node_name, "cannot record that this node stopped: {e}");
    }
    let _ = ssh.await;
    if let Some(web) = web {
        let _ = web.await;
    }
    if let Some(metrics) = metrics {
        let _ = metrics.await;
    }
    // After the front doors: their last refusals are in the final summary.
    if let Ok(since) = summary.await {
        crate::refusals::summarize(&ctx, since).await;
    }
    ctx.audit(
        "menwei",
        "gateway.stop",
        &ctx.config.node_name,
        serde_json::json!({}),
    )
    .await;
    if !ctx.outbox.drained(OUTBOX_DRAIN).await {
        tracing::error!(
            node = %ctx.config.node_name,
            "{} entries kept during a database outage were never written; they are on the log",
            ctx.outbox.len()
        );
    }
    let _ = stop_outbox.send(true);
    let _ = outbox.await;
    tracing::info!(node = %ctx.config.node_name, "stopped");
    Ok(())
}

/// Sessions this node started and never ended (it was killed or crashed) are over: their
/// connections died with the process. Their rows say so, so they no longer count as live
/// (lists, `max_sessions_per_engineer`); the recordings say they were cut short.
async fn end_leftover_sessions(ctx: &Context) {
    let node = &ctx.config.node_name;
    let leftover = match ctx.db.sessions_open_on(node).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("cannot look for sessions left open by a crash: {e}");
            return;
        }
    };
    let now = crate::time::now_ms();
    for s in leftover {
        let code = EndCode::NodeRestarted.as_str();
        if let Err(e) = ctx.db.session_end(&s.id, now, code).await {
            tracing::warn!(session = %s.id, node = %node, "cannot end a session left open by a crash: {e}");
            continue;
        }
        tracing::info!(
            session = %s.id,
            node = %node,
            reason = code,
            "session ended: the gateway stopped without ending it (found at start)"
        );
        crate::metrics::session_ended(code);
        ctx.audit(
            &s.engineer,
            "session.end",
            &s.target,
            serde_json::json!({"session": s.id, "reason": code, "message": "the gateway stopped without ending the session", "node": node}),
        )
        .await;
    }
}

/// Once a second until shutdown: marks pending requests whose time ran out as lapsed, and
/// notifies webhooks of grants that expired since the last look (each once, whichever
/// node sees it first; grants that expired while no node ran are not announced).
async fn lapse_requests(ctx: Arc<Context>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut since = crate::time::now_ms();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let now = crate::time::now_ms();
        if !ctx.config.webhooks.is_empty() {
            match ctx.db.grants_expired_between(since, now).await {
                Ok(expired) => {
                    for g in expired {
                        let data = serde_json::json!({
                            "grant": g.grant.id,
                            "engineer": g.grant.engineer,
                            "target": g.grant.target,
                            "ends_at": crate::time::rfc3339(g.grant.ends_at),
                        });
                        if let Err(e) = crate::notify::enqueue_keyed(
                            &ctx.db,
                            &ctx.config,
                            crate::notify::Kind::Expiry,
                            Some(&g.grant.id),
                            data,
                        )
                        .await
                        {
                            tracing::error!("cannot store an expiry notification: {e}");
                        }
                    }
                    since = now;
                }
                Err(e) => tracing::warn!("cannot look for expired grants: {e}"),
            }
        }
        let policy = ctx.policy.current();
        let desk = crate::approvals::Desk {
            db: &ctx.db,
            policy: &policy,
            config: &ctx.config,
            proof: &crate::approvals::Proof::plain("gateway"),
        };
        if let Err(e) = crate::approvals::lapse_due(&desk, crate::time::now_ms()).await {
            tracing::warn!("cannot lapse requests: {e}");
        }
    }
}

/// Waits for SIGTERM or Ctrl-C; on SIGHUP reloads the policy meanwhile.
async fn wait_for_stop(ctx: &Context) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            r = tokio::signal::ctrl_c() => return r.context("cannot wait for Ctrl-C"),
            _ = hup.recv() => reload_policy(ctx).await,
        }
    }
}

/// Puts the configuration file's current policy in force if it is valid; otherwise keeps
/// the last good one and says so in the log and the audit log.
async fn reload_policy(ctx: &Context) {
    match crate::config::reload_policy(&ctx.config.path) {
        Ok(policy) => {
            let groups = policy.groups.len();
            ctx.policy.replace(policy);
            tracing::info!(node = %ctx.config.node_name, "policy reloaded ({groups} groups)");
            ctx.audit(
                "menwei",
                "policy.reload",
                &ctx.config.node_name,
                serde_json::json!({"groups": groups}),
            )
            .await;
        }
        Err(e) => {
            tracing::error!(node = %ctx.config.node_name, "policy not reloaded, the last good one stays in force: {e}");
            ctx.audit(
                "menwei",
                "policy.reload.refused",
                &ctx.config.node_name,
                serde_json::json!({"error": e.to_string()}),
            )
            .await;
        }
    }
}
