//! Reading the key files the configuration names: OpenSSH private keys (refused when
//! group- or world-readable) and the recording public key. Not where the paths come from
//! ([`super::KeysConfig`]) nor the vault key ([`crate::vault`]).

use std::path::Path;

use super::ConfigError;

/// The text of a recording public key file: 64 hex digits and a newline, what
/// [`read_recording_public_key`] reads back.
pub fn recording_public_key_text(key: &ed25519_dalek::VerifyingKey) -> String {
    format!("{}\n", hex::encode(key.as_bytes()))
}

/// An Ed25519 public key file: 64 hex digits (what `menwei init` writes) or 32 raw bytes.
pub fn read_recording_public_key(path: &Path) -> Result<ed25519_dalek::VerifyingKey, ConfigError> {
    let error = |message| ConfigError::Key {
        what: "recording public key",
        path: path.to_path_buf(),
        message,
    };
    let bytes = crate::vault::read_key_file(path).map_err(error)?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes)
        .map_err(|_| error("not an Ed25519 public key".into()))
}

/// An OpenSSH private key file, refused when others may read it.
pub(super) fn load_openssh_key(
    what: &'static str,
    path: &Path,
) -> Result<russh::keys::PrivateKey, ConfigError> {
    let error = |message| ConfigError::Key {
        what,
        path: path.to_path_buf(),
        message,
    };
    crate::vault::check_private(path).map_err(error)?;
    russh::keys::load_secret_key(path, None).map_err(|e| error(e.to_string()))
}
