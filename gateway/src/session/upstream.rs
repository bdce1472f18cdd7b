//! The gateway's SSH client side: connects to a target with the gateway's own credential
//! and refuses any target whose host key does not match its pin.
//!
//! Errors here name the target's address for operators (logs, audit); they are never
//! shown to an engineer: [`UpstreamError::engineer_message`] is the one line they get.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};

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

/// Client handler that accepts exactly the pinned host key and remembers what it saw.
pub struct PinnedHostKey {
    /// `None` only when fetching a key to pin: then every key is rejected after being seen.
    pinned_fingerprint: Option<String>,
    seen: Arc<Mutex<Option<PublicKey>>>,
}

impl client::Handler for PinnedHostKey {
    type Error = russh::Error;

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

fn client_config() -> Arc<client::Config> {
    Arc::new(client::Config {
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(30)),
        keepalive_max: 4,
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
    pub async fn connect(
        address: &str,
        pinned_fingerprint: &str,
        credential: &Credential,
    ) -> Result<Upstream, UpstreamError> {
        let seen = Arc::new(Mutex::new(None));
        let handler = PinnedHostKey {
            pinned_fingerprint: Some(pinned_fingerprint.to_string()),
            seen: seen.clone(),
        };
        let connecting = client::connect(client_config(), address.to_string(), handler);
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
        Ok(Upstream { handle })
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
    let handler = PinnedHostKey {
        pinned_fingerprint: None,
        seen: seen.clone(),
    };
    let connecting = client::connect(client_config(), address.to_string(), handler);
    let outcome = tokio::time::timeout(CONNECT_TIMEOUT, connecting).await;
    let key = seen.lock().ok().and_then(|s| s.clone());
    match (key, outcome) {
        (Some(key), _) => Ok(key),
        (None, Err(_)) => anyhow::bail!("timed out connecting to {address}"),
        (None, Ok(Err(e))) => anyhow::bail!("cannot connect to {address}: {e}"),
        (None, Ok(Ok(_))) => anyhow::bail!("{address} did not present a host key"),
    }
}
