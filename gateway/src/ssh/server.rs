//! The SSH server engineers connect to: its russh configuration and the accept loop. Not what happens on a connection
//! ([`super::connection`]).

use std::sync::Arc;
use std::time::Duration;

use russh::keys::PrivateKey;
use russh::server::{Config as RusshConfig, Server as _};
use russh::{MethodKind, MethodSet};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::connection::Connection;
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

struct Acceptor {
    ctx: Arc<Context>,
}

impl russh::server::Server for Acceptor {
    type Handler = Connection;

    fn new_client(&mut self, peer: Option<std::net::SocketAddr>) -> Connection {
        Connection::new(self.ctx.clone(), peer)
    }

    fn handle_session_error(&mut self, error: russh::Error) {
        tracing::debug!("connection ended with an error: {error}");
    }
}

/// Serves SSH on `listener` until `shutdown` turns true.
pub async fn serve(
    ctx: Arc<Context>,
    host_key: PrivateKey,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let config = Arc::new(russh_config(host_key));
    let mut acceptor = Acceptor { ctx };
    let running = acceptor.run_on_socket(config, &listener);
    let handle = running.handle();
    tokio::select! {
        result = running => result.map_err(|e| anyhow::anyhow!("SSH server stopped: {e}")),
        _ = shutdown.wait_for(|s| *s) => {
            handle.shutdown("menwei gateway is shutting down".into());
            Ok(())
        }
    }
}
