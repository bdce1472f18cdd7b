//! The vault: seals target passwords for storage in the database and opens them again when
//! the gateway logs in to a target; wraps each recording's data key the same way.
//!
//! ChaCha20-Poly1305 under a 32-byte key kept in a file next to the configuration (`vault.key`,
//! mode 0600); each sealed value is base64 of a fresh random 96-bit nonce followed by the
//! ciphertext and tag. Opened values come back in [`Secret`], which never prints its content and
//! wipes it on drop. Not a key manager: no rotation, no HSM, and it does not hide the key from
//! whoever can read the gateway's files.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

/// A value that must never reach a log, message or error: `Debug` and `Display` print
/// `<redacted>`, and the memory is wiped on drop.
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret itself; keep the borrow short and never format it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T: Zeroize + Clone> Clone for Secret<T> {
    fn clone(&self) -> Self {
        Secret(self.0.clone())
    }
}

/// Why a value could not be sealed or opened. Messages never contain the secret.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The key file is missing, unreadable or not 32 bytes.
    #[error("vault key {path}: {message}")]
    Key {
        /// The key file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The sealed text is not base64 or too short.
    #[error("sealed value is malformed: {0}")]
    Malformed(&'static str),
    /// Authentication failed: wrong key, or the sealed value was altered.
    #[error("sealed value does not open with this vault key (wrong key or altered value)")]
    Open,
    /// The opened value is not UTF-8 text.
    #[error("sealed value is not text")]
    NotText,
    /// Encryption failed (only for absurdly large values).
    #[error("cannot seal value")]
    Seal,
}

/// The vault key, loaded.
pub struct Vault {
    key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Vault(<redacted>)")
    }
}

const NONCE_LEN: usize = 12;

impl Vault {
    /// Loads the 32-byte key from `path` (raw bytes, or 64 hex digits).
    pub fn load(path: &Path) -> Result<Vault, VaultError> {
        let key = read_key_file(path).map_err(|message| VaultError::Key {
            path: path.display().to_string(),
            message,
        })?;
        Ok(Vault { key })
    }

    /// A vault with the given key bytes.
    pub fn from_key(key: [u8; 32]) -> Vault {
        Vault {
            key: Zeroizing::new(key),
        }
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(self.key.as_slice()))
    }

    /// Seals `plaintext`: base64 of nonce || ciphertext || tag.
    pub fn seal(&self, plaintext: &[u8]) -> Result<String, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .map_err(|_| VaultError::Seal)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    /// Opens a value sealed by [`Vault::seal`] as text.
    pub fn open(&self, sealed: &str) -> Result<Secret<String>, VaultError> {
        let pt = self.open_bytes(sealed)?;
        match String::from_utf8(pt) {
            Ok(s) => Ok(Secret::new(s)),
            Err(e) => {
                let mut bytes = e.into_bytes();
                bytes.zeroize();
                Err(VaultError::NotText)
            }
        }
    }

    /// A fresh random data key for one recording, and its wrapped form for the recording's
    /// header (`Meta::key`): sealed like a target password.
    pub fn new_data_key(&self) -> Result<(recordings::DataKey, String), VaultError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut_slice());
        let wrapped = self.seal(bytes.as_slice())?;
        Ok((recordings::DataKey::from_bytes(*bytes), wrapped))
    }

    /// Unwraps a recording's data key from its header's `Meta::key`.
    pub fn open_data_key(&self, wrapped: &str) -> Result<recordings::DataKey, VaultError> {
        let bytes = Zeroizing::new(self.open_bytes(wrapped)?);
        recordings::DataKey::from_slice(&bytes).ok_or(VaultError::Malformed("not a 32-byte key"))
    }

    /// Opens a sealed value as bytes (the caller wipes them).
    fn open_bytes(&self, sealed: &str) -> Result<Vec<u8>, VaultError> {
        let raw = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(sealed.trim())
                .map_err(|_| VaultError::Malformed("not base64"))?,
        );
        let (nonce, ct) = raw
            .split_at_checked(NONCE_LEN)
            .ok_or(VaultError::Malformed("too short"))?;
        self.cipher()
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| VaultError::Open)
    }
}

/// Refuses a private key file that anyone but its owner may read: a key the group or the
/// world can read is a key others may hold, and the gateway would be lending them its
/// authority. The message says how to fix it.
pub fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .map_err(|e| e.to_string())?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "the file is readable by its group or others (mode {:o}); `chmod 600 {}` and start again",
            mode & 0o777,
            path.display()
        ));
    }
    Ok(())
}

/// Reads a 32-byte key file: exactly 32 raw bytes, or 64 hex digits (surrounding whitespace
/// allowed). Used for the vault key, the recording signing key and its public half.
pub fn read_key_file(path: &Path) -> Result<Zeroizing<[u8; 32]>, String> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| e.to_string())?);
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() == 32 {
        key.copy_from_slice(&bytes);
        return Ok(key);
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| format!("expected 32 bytes, found {}", bytes.len()))?
        .trim();
    if text.len() == 64 {
        hex::decode_to_slice(text, key.as_mut_slice())
            .map_err(|_| "expected 32 bytes or 64 hex digits".to_string())?;
        return Ok(key);
    }
    Err(format!(
        "expected 32 bytes or 64 hex digits, found {} bytes",
        bytes.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips_and_nonces_differ() {
        let v = Vault::from_key([7; 32]);
        let a = v.seal(b"hunter2").unwrap();
        let b = v.seal(b"hunter2").unwrap();
        assert_ne!(a, b);
        assert_eq!(v.open(&a).unwrap().expose(), "hunter2");
        assert_eq!(v.open(&b).unwrap().expose(), "hunter2");
    }

    #[test]
    fn wrong_key_or_altered_value_does_not_open() {
        let v = Vault::from_key([7; 32]);
        let sealed = v.seal(b"hunter2").unwrap();
        assert!(matches!(
            Vault::from_key([8; 32]).open(&sealed),
            Err(VaultError::Open)
        ));
        let mut raw = base64::engine::general_purpose::STANDARD
            .decode(&sealed)
            .unwrap();
        *raw.last_mut().unwrap() ^= 1;
        let altered = base64::engine::general_purpose::STANDARD.encode(raw);
        assert!(matches!(v.open(&altered), Err(VaultError::Open)));
        assert!(matches!(v.open("!!"), Err(VaultError::Malformed(_))));
        assert!(matches!(v.open("AAAA"), Err(VaultError::Malformed(_))));
    }

    #[test]
    fn a_data_key_unwraps_only_with_its_vault() {
        let v = Vault::from_key([7; 32]);
        let (key, wrapped) = v.new_data_key().unwrap();
        assert_eq!(v.open_data_key(&wrapped).unwrap().expose(), key.expose());
        assert_ne!(v.new_data_key().unwrap().0.expose(), key.expose());
        assert!(matches!(
            Vault::from_key([8; 32]).open_data_key(&wrapped),
            Err(VaultError::Open)
        ));
        let not_a_key = v.seal(b"short").unwrap();
        assert!(matches!(
            v.open_data_key(&not_a_key),
            Err(VaultError::Malformed(_))
        ));
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2".to_string());
        assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
        assert_eq!(
            format!("{:?}", Vault::from_key([1; 32])),
            "Vault(<redacted>)"
        );
    }

    #[test]
    fn key_file_is_raw_or_hex() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw");
        std::fs::write(&raw, [3u8; 32]).unwrap();
        assert_eq!(*read_key_file(&raw).unwrap(), [3u8; 32]);
        let hexf = dir.path().join("hex");
        std::fs::write(&hexf, format!("{}\n", hex::encode([4u8; 32]))).unwrap();
        assert_eq!(*read_key_file(&hexf).unwrap(), [4u8; 32]);
        let short = dir.path().join("short");
        std::fs::write(&short, [1u8; 5]).unwrap();
        assert!(read_key_file(&short).unwrap_err().contains("5 bytes"));
    }
}
