//! The gateway's SSH client side: connects to a target with the gateway's own credential
//! and refuses any target whose host key does not match its pin; once connected, says when
//! and how the connection was lost ([`Upstream::lost`]): closed or reset by the target, or
//! its keepalives left unanswered (`[targets] keepalive`).
//!
//! Errors here name the target's address for operators (logs, audit); they are never
//! shown to an engineer: [`UpstreamError::engineer_message`] is the one line they get.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, DisconnectReason};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};

use tokio::sync::watch;

use crate::config::TargetsConfig;
use crate::vault::Secret;

/// How long the gateway waits for a target to accept TCP and finish the handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection to a target failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// TCP connect or SSH handshake did not complete.
    #[error("cannot reach target at {address}: {reason}")]
    Unreachable {
        /// HOST:PORT, for operators only.
        address: String,
        /// What went wrong.
        reason: String,
    },
    /// The target presented a host key other than its pin.
    #[error("target at {address} presented host key {presented}, which does not match the pinned {pinned}")]
    HostKeyMismatch {
        /// HOST:PORT, for operators only.
        address: String,
        /// Fingerprint the target presented.
        presented: String,
        /// Fingerprint that was pinned.
        pinned: String,
    },
    /// The target refused the gateway's credential.
    #[error("target at {address} refused the gateway's credential for its login")]
    AuthFailed {
        /// HOST:PORT, for operators only.
        address: String,
    },
}

impl UpstreamError {
    /// Stable code for audit events.
    pub fn code(&self) -> policy::codes::Code {
        use policy::codes;
        match self {
            UpstreamError::Unreachable { .. } => codes::TARGET_UNREACHABLE,
            UpstreamError::HostKeyMismatch { .. } => codes::TARGET_HOSTKEY_MISMATCH,
            UpstreamError::AuthFailed { .. } => codes::TARGET_AUTH_FAILED,
        }
    }

    /// The one line an engineer sees: names the target, never its address or login.
    pub fn engineer_message(&self, target: &str) -> String {
        match self {
            UpstreamError::Unreachable { .. } => {
                format!("target \"{target}\" is not reachable from the gateway right now; try again or tell an approver")
            }
            UpstreamError::HostKeyMismatch { .. } => format!(
                "target \"{target}\" presented an unexpected host key; the connection was refused and the administrators were told"
            ),
            UpstreamError::AuthFailed { .. } => format!(
                "the gateway could not log in to target \"{target}\"; tell an administrator"
            ),
        }
    }
}

/// The SHA-256 fingerprint of a key, as OpenSSH prints it (`SHA256:…`).
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// How the connection to a target was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// Closed, reset or disconnected by the target (or anything else that ended the
    /// connection from under the session).
    Closed,
    /// This many keepalives in a row went unanswered.
    Unanswered {
        /// `[targets] keepalive_max_misses`.
        keepalives: u32,
    },
}

/// Client handler that accepts exactly the pinned host key and remembers what it saw; when
/// the connection ends, it says how ([`Lost`]). russh drops it when the connection's task
/// ends, which closes `lost` even where russh ends without calling `disconnected`.
pub struct PinnedHostKey {
    /// `None` only when fetching a key to pin: then every key is rejected after being seen.
    pinned_fingerprint: Option<String>,
    seen: Arc<Mutex<Option<PublicKey>>>,
    lost: watch::Sender<Option<Lost>>,
    keepalives: u32,
}

impl client::Handler for PinnedHostKey {
    type Error = russh::Error;

    async fn disconnected(
        &mut self,
        reason: DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let lost = match &reason {
            DisconnectReason::Error(russh::Error::KeepaliveTimeout) => Lost::Unanswered {
                keepalives: self.keepalives,
            },
            // The target's SSH_MSG_DISCONNECT, its EOF or reset, a broken packet: closed.
            DisconnectReason::ReceivedDisconnect(_) | DisconnectReason::Error(_) => Lost::Closed,
        };
        self.lost.send_replace(Some(lost));
        // russh's default: an error is the connection task's result.
        match reason {
            DisconnectReason::ReceivedDisconnect(_) => Ok(()),
            DisconnectReason::Error(e) => Err(e),
        }
    }

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            // Host certificates are not part of the pinning model: refuse them.
            PublicKeyOrCertificate::Certificate(_) => return Ok(false),
        };
        let matches = self
            .pinned_fingerprint
            .as_deref()
            .is_some_and(|pin| pin == fingerprint(&key));
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(key);
        }
        Ok(matches)
    }
}

/// A live, authenticated connection from the gateway to one target.
pub struct Upstream {
    handle: client::Handle<PinnedHostKey>,
    lost: watch::Receiver<Option<Lost>>,
}

/// What the gateway logs in to a target with.
pub struct Credential {
    /// The login name on the target.
    pub login: String,
    /// The gateway's client key.
    pub key: Arc<PrivateKey>,
    /// A password from the vault, tried when the key is refused.
    pub password: Option<Secret<String>>,
}

/// Ciphers offered to targets, most preferred first.
const UPSTREAM_CIPHERS: &[russh::cipher::Name] = &[
    russh::cipher::AES_256_GCM,
    russh::cipher::AES_128_GCM,
    russh::cipher::CHACHA20_POLY1305,
    russh::cipher::AES_256_CTR,
    russh::cipher::AES_128_CTR,
];

/// russh counts a keepalive as missed when the next one is due: with `keepalive_max` at
/// the misses allowed, the connection ends one interval after the last unanswered one
/// (OpenSSH's `ServerAliveCountMax` the same way), and any byte from the target starts
/// the count again.
fn client_config(targets: &TargetsConfig) -> Arc<client::Config> {
    Arc::new(client::Config {
        inactivity_timeout: None,
        keepalive_interval: targets.keepalive,
        keepalive_max: usize::try_from(targets.keepalive_max_misses).unwrap_or(usize::MAX),
        nodelay: true,
        window_size: 2 * 1024 * 1024,
        maximum_packet_size: 32768,
        channel_buffer_size: 64,
        // The gateway picks the target leg's cipher: AES-GCM runs on the CPU's AES
        // instructions (ring), cheaper than ChaCha20 in software for every relayed byte.
        preferred: russh::Preferred {
            cipher: std::borrow::Cow::Borrowed(UPSTREAM_CIPHERS),
            ..russh::Preferred::default()
        },
        ..Default::default()
    })
}

impl Upstream {
    /// Connects to `address`, checks the host key against `pinned_fingerprint`, and logs in.
    /// Keepalives as `targets` says.
    pub async fn connect(
        address: &str,
        pinned_fingerprint: &str,
        credential: &Credential,
        targets: &TargetsConfig,
    ) -> Result<Upstream, UpstreamError> {
        let seen = Arc::new(Mutex::new(None));
        let (lost_tx, lost) = watch::channel(None);
        let handler = PinnedHostKey {
            pinned_fingerprint: Some(pinned_fingerprint.to_string()),
            seen: seen.clone(),
            lost: lost_tx,
            keepalives: targets.keepalive_max_misses,
        };
        let connecting = client::connect(client_config(targets), address.to_string(), handler);
        let mut handle = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(handle)) => handle,
            Ok(Err(e)) => {
                let presented = seen.lock().ok().and_then(|s| s.as_ref().map(fingerprint));
                return Err(match presented {
                    Some(presented) if presented != pinned_fingerprint => {
                        UpstreamError::HostKeyMismatch {
                            address: address.to_string(),
                            presented,
                            pinned: pinned_fingerprint.to_string(),
                        }
                    }
                    _ => UpstreamError::Unreachable {
                        address: address.to_string(),
                        reason: e.to_string(),
                    },
                });
            }
            Err(_) => {
                return Err(UpstreamError::Unreachable {
                    address: address.to_string(),
                    reason: "timed out".into(),
                })
            }
        };
        let unreachable = |e: russh::Error| UpstreamError::Unreachable {
            address: address.to_string(),
            reason: e.to_string(),
        };
        let rsa_hash = handle
            .best_supported_rsa_hash()
            .await
            .map_err(unreachable)?
            .flatten();
        let key = PrivateKeyWithHashAlg::new(credential.key.clone(), rsa_hash);
        let mut ok = handle
            .authenticate_publickey(credential.login.clone(), key)
            .await
            .map_err(unreachable)?
            .success();
        if !ok {
            if let Some(password) = &credential.password {
                ok = handle
                    .authenticate_password(credential.login.clone(), password.expose().clone())
                    .await
                    .map_err(unreachable)?
                    .success();
            }
        }
        if !ok {
            return Err(UpstreamError::AuthFailed {
                address: address.to_string(),
            });
        }
        Ok(Upstream { handle, lost })
    }

    /// Resolves once the connection to the target is gone, saying how. After
    /// [`Upstream::close`] it resolves too (the gateway closed it; nobody asks then).
    pub async fn lost(&self) -> Lost {
        let mut lost = self.lost.clone();
        let how = match lost.wait_for(Option::is_some).await {
            Ok(how) => how.unwrap_or(Lost::Closed),
            // The connection's task ended without a word (its handler dropped): closed.
            Err(_) => Lost::Closed,
        };
        how
    }

    /// Opens a new session channel on the target.
    pub async fn open_session(&self) -> Result<russh::Channel<client::Msg>, russh::Error> {
        self.handle.channel_open_session().await
    }

    /// Closes the connection to the target.
    pub async fn close(&self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "session ended", "en")
            .await;
    }
}

/// Connects to `address` (HOST:PORT) only far enough to learn the host key the target
/// presents, for `menwei target pin`. Never authenticates.
pub async fn fetch_host_key(address: &str) -> anyhow::Result<PublicKey> {
    let seen = Arc::new(Mutex::new(None));
    let targets = TargetsConfig::default();
    let handler = PinnedHostKey {
        pinned_fingerprint: None,
        seen: seen.clone(),
        lost: watch::channel(None).0,
        keepalives: targets.keepalive_max_misses,
    };
    let connecting = client::connect(client_config(&targets), address.to_string(), handler);
    let outcome = tokio::time::timeout(CONNECT_TIMEOUT, connecting).await;
    let key = seen.lock().ok().and_then(|s| s.clone());
    match (key, outcome) {
        (Some(key), _) => Ok(key),
        (None, Err(_)) => anyhow::bail!("timed out connecting to {address}"),
        (None, Ok(Err(e))) => anyhow::bail!("cannot connect to {address}: {e}"),
        (None, Ok(Ok(_))) => anyhow::bail!("{address} did not present a host key"),
    }
}
