//! `[ssh]`: where engineers connect and the limits that keep the door open under a flood.
//! Only parsing and checking; the server is [`crate::ssh`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Source, DEFAULT_LISTEN};

/// `[ssh]`.
#[derive(Debug, Clone)]
pub struct SshConfig {
    /// Address the SSH server listens on.
    pub listen: SocketAddr,
    /// The gateway's SSH host key (OpenSSH private key file).
    pub host_key: PathBuf,
    /// Failed authentications allowed per user and per source address within the window.
    pub max_auth_failures: u32,
    /// The window for `max_auth_failures`.
    pub auth_failure_window: Duration,
    /// Sessions without traffic for this long are closed. Set from `[policy] idle_timeout`
    /// (the one place it is written; the policy requires it to be longer than zero).
    pub idle_timeout: Option<Duration>,
    /// Open SSH connections the gateway holds at once; more are closed on accept.
    pub max_connections: usize,
    /// Open SSH connections from one source address; more are closed on accept, so one
    /// address cannot take the headroom every other engineer needs.
    pub max_connections_per_address: usize,
    /// A connection not authenticated this long after accept is closed.
    pub login_grace: Duration,
    /// Session channels open at once on one connection; further opens are refused.
    pub max_channels_per_connection: usize,
    /// Load balancers in TCP mode whose connections start with a PROXY protocol header
    /// naming the engineer's address ([`crate::proxy_header`]), which the limits, throttles
    /// and audit then use; required from them, never read from anyone else.
    pub proxy_protocol_from: Vec<std::net::IpAddr>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSsh {
    listen: Option<Spanned<String>>,
    host_key: Option<Spanned<String>>,
    max_auth_failures: Option<Spanned<i64>>,
    auth_failure_window: Option<Spanned<String>>,
    idle_timeout: Option<Spanned<String>>,
    max_connections: Option<Spanned<i64>>,
    max_connections_per_address: Option<Spanned<i64>>,
    login_grace: Option<Spanned<String>>,
    max_channels_per_connection: Option<Spanned<i64>>,
    proxy_protocol_from: Option<Vec<Spanned<String>>>,
}

/// Checks the raw table; the defaults when absent. `idle_timeout` is left to `[policy]`.
pub(super) fn build(raw: Option<RawSsh>, src: &Source) -> Result<SshConfig, ConfigError> {
    let ssh = raw.unwrap_or_default();
    let listen = src.listen("ssh.listen", ssh.listen.as_ref(), DEFAULT_LISTEN)?;
    if let Some(v) = &ssh.idle_timeout {
        return Err(src.invalid(
            "ssh.idle_timeout",
            v,
            "moved to [policy] idle_timeout; move the line there".to_string(),
        ));
    }
    let max_auth_failures = match &ssh.max_auth_failures {
        Some(v) => {
            let n = *v.get_ref();
            u32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
                src.invalid(
                    "ssh.max_auth_failures",
                    v,
                    format!("{n}: expected a whole number from 1 to 4294967295"),
                )
            })?
        }
        None => 5,
    };
    let max_connections =
        src.count_or("ssh.max_connections", ssh.max_connections.as_ref(), 1000)?;
    let max_connections_per_address = src.count_or(
        "ssh.max_connections_per_address",
        ssh.max_connections_per_address.as_ref(),
        50,
    )?;
    let max_channels_per_connection = src.count_or(
        "ssh.max_channels_per_connection",
        ssh.max_channels_per_connection.as_ref(),
        10,
    )?;
    let login_grace = src.positive_duration_or(
        "ssh.login_grace",
        ssh.login_grace.as_ref(),
        Duration::from_secs(30),
    )?;
    Ok(SshConfig {
        listen,
        host_key: src.path_or(
            "ssh.host_key",
            ssh.host_key.as_ref(),
            "ssh_host_ed25519_key",
        )?,
        max_auth_failures,
        auth_failure_window: src.duration_or(
            "ssh.auth_failure_window",
            ssh.auth_failure_window.as_ref(),
            Duration::from_secs(300),
        )?,
        // Filled from the policy below.
        idle_timeout: None,
        max_connections,
        max_connections_per_address,
        login_grace,
        max_channels_per_connection,
        proxy_protocol_from: src
            .ip_list("ssh.proxy_protocol_from", ssh.proxy_protocol_from.as_ref())?,
    })
}
