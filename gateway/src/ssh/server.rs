//! The SSH server engineers connect to: its russh configuration and the accept loop. Not what happens on a connection
//! ([`super::connection`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::PrivateKey;
use russh::server::Config as RusshConfig;
use russh::{Disconnect, MethodKind, MethodSet};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::connection::Connection;
use crate::accept::{self, ConnectionLimits, ConnectionSlot, Over, RateLimitedWarn};
use crate::refusals::Limit;
use crate::session::Context;

/// The russh server configuration: public key (then keyboard-interactive for the TOTP code
/// where a second factor is needed), bounded buffers.
fn russh_config(host_key: PrivateKey) -> RusshConfig {
    RusshConfig {
        server_id: russh::SshId::Standard("SSH-2.0-Menwei".into()),
        methods: MethodSet::from(&[MethodKind::PublicKey, MethodKind::KeyboardInteractive][..]),
        keys: vec![host_key],
        auth_rejection_time: Duration::from_millis(300),
        auth_rejection_time_initial: Some(Duration::from_millis(0)),
        max_auth_attempts: 6,
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(30)),
        keepalive_max: 4,
        window_size: 2 * 1024 * 1024,
        maximum_packet_size: 32768,
        // Each channel buffers at most this many packets from the engineer before the
        // connection stops reading: bounded memory per channel.
        channel_buffer_size: 32,
        nodelay: true,
        // Window goes back to the engineer only as the relay consumes input
        // (`Handle::consumed`), so a slow target slows the engineer's client through SSH
        // flow control and the connection never stops reading (vendor/russh patch).
        window_on_consume: true,
        ..Default::default()
    }
}

/// Accept failures: the first at once, then a line per 10 s at most while they last.
static ACCEPT_FAILED: RateLimitedWarn =
    RateLimitedWarn::new("SSH accept failed, retrying", Duration::from_secs(10));
/// Connections closed over a limit: a line per second at most, with the count.
static OVER_LIMIT: RateLimitedWarn =
    RateLimitedWarn::new("SSH connection closed at accept", Duration::from_secs(1));

/// Connections from a load balancer closed for a missing or broken PROXY header: a line
/// per second at most, with the count.
static PROXY_REFUSED: RateLimitedWarn = RateLimitedWarn::new(
    "SSH connection from a load balancer closed",
    Duration::from_secs(1),
);

/// The longest a load balancer may take to send its PROXY header (it sends it at once).
const PROXY_HEADER_WAIT: Duration = Duration::from_secs(5);

/// Connections closed to make room for one from a less busy address: a line per second at
/// most, with the count.
static DISPLACED: RateLimitedWarn = RateLimitedWarn::new(
    "SSH connection not logged in closed to make room (the gateway is full)",
    Duration::from_secs(1),
);

/// Serves SSH on `listener` until `shutdown` turns true.
///
/// Our own accept loop rather than russh's `run_on_socket`, whose loop ends for good on the
/// first failed `accept` (EMFILE when file descriptors run out): here a failure is logged,
/// followed by a short back-off, and the loop keeps listening. A connection over
/// `max_connections` or `max_connections_per_address` is closed at once, before any SSH
/// byte is sent; one not authenticated within `login_grace` is disconnected.
pub async fn serve(
    ctx: Arc<Context>,
    host_key: PrivateKey,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let config = Arc::new(russh_config(host_key));
    let ssh = &ctx.config.ssh;
    let limits = Arc::new(
        ConnectionLimits::new(ssh.max_connections, ssh.max_connections_per_address).displacing(),
    );
    // PROXY headers being read from the load balancers at once: bounded like connections.
    let headers = Arc::new(tokio::sync::Semaphore::new(ssh.max_connections));
    let mut failing = false;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    failing = true;
                    ACCEPT_FAILED.event(&e);
                    tokio::time::sleep(accept::BACKOFF).await;
                    continue;
                }
            },
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return Ok(()),
        };
        if std::mem::take(&mut failing) {
            tracing::info!("SSH accept works again");
        }
        if !ssh.proxy_protocol_from.contains(&peer.ip()) {
            admit(&ctx, &config, &limits, stream, peer, &shutdown);
            continue;
        }
        // From a load balancer: the engineer's address comes first, in the PROXY header,
        // and the limits count that address.
        let Ok(permit) = headers.clone().try_acquire_owned() else {
            ctx.refusals.count(Limit::SshConnections);
            OVER_LIMIT.event(&format_args!(
                "too many PROXY headers being read ({})",
                peer.ip()
            ));
            continue;
        };
        let (ctx, config, limits, shutdown) = (
            ctx.clone(),
            config.clone(),
            limits.clone(),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            let mut stream = stream;
            let wait = ctx.config.ssh.login_grace.min(PROXY_HEADER_WAIT);
            let read =
                tokio::time::timeout(wait, crate::proxy_header::read(&mut stream, peer)).await;
            drop(permit);
            match read {
                Ok(Ok(engineer)) => admit(&ctx, &config, &limits, stream, engineer, &shutdown),
                Ok(Err(e)) => PROXY_REFUSED.event(&format_args!("{e} (from {})", peer.ip())),
                Err(_) => PROXY_REFUSED.event(&format_args!(
                    "no PROXY protocol header within {wait:?} (from {})",
                    peer.ip()
                )),
            }
        });
    }
}

/// Admits a connection from `peer` (the engineer's address: the socket's, or the PROXY
/// header's) under the limits and serves it; over a limit it is closed at once, before any
/// SSH byte is sent.
fn admit(
    ctx: &Arc<Context>,
    config: &Arc<RusshConfig>,
    limits: &ConnectionLimits,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: &watch::Receiver<bool>,
) {
    let slot = match limits.admit(peer.ip()) {
        Ok(slot) => slot,
        Err(over) => {
            // Dropping the stream closes it. Counted for the audit's summary per
            // interval, not a row per attempt (no audit flooding).
            ctx.refusals.count(match over {
                Over::Total => Limit::SshConnections,
                Over::PerAddress => Limit::SshConnectionsPerAddress,
            });
            OVER_LIMIT.event(&format_args!("{over} ({})", peer.ip()));
            return;
        }
    };
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!("set_nodelay failed: {e}");
    }
    let (logged_in, logged_in_rx) = watch::channel(false);
    let handler = Connection::new(ctx.clone(), Some(peer), logged_in);
    tokio::spawn(connection(
        ctx.clone(),
        config.clone(),
        stream,
        handler,
        logged_in_rx,
        shutdown.clone(),
        slot,
    ));
}

/// Runs one admitted connection until it ends, the login grace passes without a login, or the
/// gateway shuts down. Holds its `slot` until then.
async fn connection(
    ctx: Arc<Context>,
    config: Arc<RusshConfig>,
    stream: TcpStream,
    handler: Connection,
    mut logged_in: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
    slot: ConnectionSlot,
) {
    let deadline = tokio::time::Instant::now() + ctx.config.ssh.login_grace;
    // A second handle on the socket, to close it under a client that stalls in the
    // handshake: russh sends a disconnect only once the key exchange is done. Kept until
    // login. Without one (out of file descriptors) the connection is not served.
    let (stream, closer) = match with_closer(stream) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::debug!("SSH connection dropped: cannot duplicate its socket: {e}");
            return;
        }
    };
    // run_stream sends our identification and reads the client's: a silent client is held
    // here, within the grace.
    let setup =
        tokio::time::timeout_at(deadline, russh::server::run_stream(config, stream, handler));
    let mut session = tokio::select! {
        setup = setup => match setup {
            Ok(Ok(session)) => session,
            Ok(Err(e)) => {
                tracing::debug!("SSH connection setup failed: {e}");
                return;
            }
            Err(_) => {
                ctx.refusals.count(Limit::SshLoginGrace);
                tracing::debug!("SSH connection closed: no identification within login_grace");
                return;
            }
        },
        _ = slot.displaced() => {
            ctx.refusals.count(Limit::SshConnections);
            DISPLACED.event(&"before its identification");
            return;
        }
    };
    let handle = session.handle();
    let login_seen = logged_in.clone();
    let grace_over = async {
        let login = async { logged_in.wait_for(|l| *l).await.is_ok() };
        tokio::select! {
            login = tokio::time::timeout_at(deadline, login) => match login {
                Err(_) => {
                    ctx.refusals.count(Limit::SshLoginGrace);
                    ("not logged in within the login grace time", closer)
                }
                // Logged in, or the handler is gone and the session is ending by itself.
                Ok(_) => {
                    slot.logged_in();
                    drop(closer);
                    std::future::pending().await
                }
            },
            // Displaced in the instant between its login and `logged_in` above, a
            // connection stays: its slot is simply no longer counted.
            _ = slot.displaced(), if !*login_seen.borrow() => {
                ctx.refusals.count(Limit::SshConnections);
                DISPLACED.event(&"before its login");
                ("the gateway is full: closed to make room for another connection", closer)
            }
        }
    };
    let (reason, closer) = tokio::select! {
        result = &mut session => {
            match result {
                Ok(()) => {}
                // A client that ignored the SSH channel window (issue 8): it was told why and
                // disconnected before its data was queued.
                Err(e @ russh::Error::ChannelWindow(_)) => {
                    tracing::warn!("SSH connection disconnected: {e}");
                }
                Err(e) => tracing::debug!("SSH connection ended with an error: {e}"),
            }
            return;
        }
        (reason, closer) = grace_over => (reason, Some(closer)),
        _ = async { let _ = shutdown.wait_for(|s| *s).await; } => ("menwei gateway is shutting down", None),
    };
    if handle
        .disconnect(Disconnect::ByApplication, reason.into(), String::new())
        .await
        .is_err()
    {
        tracing::debug!("SSH connection gone before its disconnect");
    }
    if let Some(closer) = closer {
        if tokio::time::timeout(DISCONNECT_WAIT, &mut session)
            .await
            .is_ok()
        {
            return;
        }
        tracing::debug!("SSH connection closed: {reason}");
        let _ = closer.shutdown(std::net::Shutdown::Both);
    }
    if let Err(e) = session.await {
        tracing::debug!("SSH connection ended with an error: {e}");
    }
}

/// How long a disconnect may take before the socket is shut down under the session.
const DISCONNECT_WAIT: Duration = Duration::from_secs(1);

/// `stream` and a duplicate of its socket that can shut it down.
fn with_closer(stream: TcpStream) -> std::io::Result<(TcpStream, std::net::TcpStream)> {
    let std = stream.into_std()?;
    let closer = std.try_clone()?;
    Ok((TcpStream::from_std(std)?, closer))
}
