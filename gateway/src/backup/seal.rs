//! Sealing a backup: a key derived from the backup passphrase (argon2id, salt and costs kept
//! in the manifest), the members that hold secrets encrypted with ChaCha20-Poly1305 in
//! chunks, and the manifest authenticated with HMAC-SHA256 under a second derived key.
//!
//! A sealed member is a run of chunks, each `[u32 big-endian length][ciphertext + tag]`. The
//! nonce is the member's number and the chunk's counter, and the associated data says
//! whether the chunk is the last, so a member cut short, reordered or swapped for another
//! does not open. Not what is sealed (that is [`super::create`]).

use std::io::{Read, Write};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::BackupError;

/// Plaintext bytes per chunk.
const CHUNK: usize = 1 << 20;
/// Costs of new backups: 64 MiB, 3 passes, 1 lane (OWASP's argon2id floor is 19 MiB, 2).
const M_KIB: u32 = 64 * 1024;
const T_COST: u32 = 3;
/// The most a backup's manifest may ask for, so a forged manifest cannot exhaust memory.
const MAX_M_KIB: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 16;

/// The key derivation's parameters, stored in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kdf {
    /// Always `argon2id`.
    pub alg: String,
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
    /// 16 random bytes, hex.
    pub salt: String,
}

impl Kdf {
    /// Fresh parameters with a random salt.
    #[allow(clippy::new_without_default)] // a random salt is no default
    pub fn new() -> Kdf {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        Kdf {
            alg: "argon2id".to_string(),
            m_kib: M_KIB,
            t: T_COST,
            p: 1,
            salt: hex::encode(salt),
        }
    }
}

/// The two keys of one backup, derived from its passphrase.
pub struct BackupKey {
    aead: Zeroizing<[u8; 32]>,
    mac: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupKey(<redacted>)")
    }
}

/// The passphrase in a file: its bytes without the trailing newline; at least 12 of them.
pub fn read_passphrase(path: &std::path::Path) -> Result<Zeroizing<Vec<u8>>, BackupError> {
    let bytes =
        Zeroizing::new(std::fs::read(path).map_err(|e| {
            BackupError::Passphrase(format!("cannot read {}: {e}", path.display()))
        })?);
    let mut end = bytes.len();
    while end > 0 && matches!(bytes.get(end - 1), Some(b'\n' | b'\r')) {
        end -= 1;
    }
    let pass = Zeroizing::new(bytes.get(..end).unwrap_or_default().to_vec());
    if pass.len() < 12 {
        return Err(BackupError::Passphrase(format!(
            "{}: a backup passphrase has at least 12 characters",
            path.display()
        )));
    }
    Ok(pass)
}

/// Derives the keys of a backup from `passphrase` with `kdf`.
pub fn derive(passphrase: &[u8], kdf: &Kdf) -> Result<BackupKey, BackupError> {
    let bad = |why: &str| BackupError::Manifest(format!("key derivation: {why}"));
    if kdf.alg != "argon2id" {
        return Err(bad(&format!("unknown algorithm {:?}", kdf.alg)));
    }
    if kdf.m_kib > MAX_M_KIB || kdf.t > MAX_T_COST || kdf.p > 8 {
        return Err(bad("costs beyond what a backup may ask for"));
    }
    let salt = hex::decode(&kdf.salt).map_err(|_| bad("salt is not hex"))?;
    let params = Params::new(kdf.m_kib, kdf.t, kdf.p, Some(64)).map_err(|e| bad(&e.to_string()))?;
    let mut out = Zeroizing::new([0u8; 64]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase, &salt, out.as_mut_slice())
        .map_err(|e| bad(&e.to_string()))?;
    let mut aead = Zeroizing::new([0u8; 32]);
    let mut mac = Zeroizing::new([0u8; 32]);
    for (d, s) in aead.iter_mut().chain(mac.iter_mut()).zip(out.iter()) {
        *d = *s;
    }
    Ok(BackupKey { aead, mac })
}

impl BackupKey {
    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(self.aead.as_slice()))
    }

    /// The manifest's authentication tag, hex.
    pub fn mac(&self, manifest: &[u8]) -> Result<String, BackupError> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(self.mac.as_slice())
            .map_err(|e| BackupError::Manifest(format!("HMAC: {e}")))?;
        m.update(manifest);
        Ok(hex::encode(m.finalize().into_bytes()))
    }

    /// Whether `tag` (hex) authenticates `manifest`, compared in constant time.
    pub fn mac_matches(&self, manifest: &[u8], tag: &str) -> bool {
        let Ok(tag) = hex::decode(tag.trim()) else {
            return false;
        };
        let Ok(mut m) = <Hmac<Sha256> as Mac>::new_from_slice(self.mac.as_slice()) else {
            return false;
        };
        m.update(manifest);
        m.verify_slice(&tag).is_ok()
    }

    /// Encrypts everything `from` yields into `to` as member number `member`.
    pub fn seal(
        &self,
        member: u32,
        from: &mut impl Read,
        to: &mut impl Write,
    ) -> std::io::Result<()> {
        let cipher = self.cipher();
        let mut buf = vec![0u8; CHUNK];
        let mut counter = 0u64;
        let mut filled = fill(from, &mut buf)?;
        loop {
            // Look one chunk ahead to know whether this one is the last.
            let mut next = vec![0u8; CHUNK];
            let next_filled = if filled == CHUNK {
                fill(from, &mut next)?
            } else {
                0
            };
            let last = next_filled == 0;
            let ct = cipher
                .encrypt(
                    &nonce(member, counter),
                    Payload {
                        msg: buf.get(..filled).unwrap_or_default(),
                        aad: aad(last),
                    },
                )
                .map_err(|_| std::io::Error::other("encryption failed"))?;
            let len = u32::try_from(ct.len()).map_err(std::io::Error::other)?;
            to.write_all(&len.to_be_bytes())?;
            to.write_all(&ct)?;
            if last {
                return Ok(());
            }
            counter += 1;
            buf = next;
            filled = next_filled;
        }
    }

    /// Decrypts member number `member` from `from` into `to`. `Err(None)`: it does not open
    /// (wrong key, or altered); `Err(Some(e))`: reading or writing failed.
    pub fn open(
        &self,
        member: u32,
        from: &mut impl Read,
        to: &mut impl Write,
    ) -> Result<(), Option<std::io::Error>> {
        let cipher = self.cipher();
        let mut counter = 0u64;
        loop {
            let mut len = [0u8; 4];
            if fill(from, &mut len).map_err(Some)? != 4 {
                return Err(None);
            }
            let len = usize::try_from(u32::from_be_bytes(len)).map_err(|_| None)?;
            if len > CHUNK + 16 {
                return Err(None);
            }
            let mut ct = vec![0u8; len];
            if fill(from, &mut ct).map_err(Some)? != len {
                return Err(None);
            }
            let n = nonce(member, counter);
            let (pt, last) = match cipher.decrypt(
                &n,
                Payload {
                    msg: &ct,
                    aad: aad(false),
                },
            ) {
                Ok(pt) => (pt, false),
                Err(_) => (
                    cipher
                        .decrypt(
                            &n,
                            Payload {
                                msg: &ct,
                                aad: aad(true),
                            },
                        )
                        .map_err(|_| None)?,
                    true,
                ),
            };
            let pt = Zeroizing::new(pt);
            to.write_all(&pt).map_err(Some)?;
            if last {
                // Nothing may follow the last chunk.
                let mut extra = [0u8; 1];
                return match fill(from, &mut extra).map_err(Some)? {
                    0 => Ok(()),
                    _ => Err(None),
                };
            }
            counter += 1;
        }
    }
}

fn nonce(member: u32, counter: u64) -> Nonce {
    let mut n = [0u8; 12];
    let bytes = member
        .to_be_bytes()
        .into_iter()
        .chain(counter.to_be_bytes());
    for (d, s) in n.iter_mut().zip(bytes) {
        *d = s;
    }
    *Nonce::from_slice(&n)
}

fn aad(last: bool) -> &'static [u8] {
    if last {
        b"menwei-backup-v1 last"
    } else {
        b"menwei-backup-v1 more"
    }
}

/// Reads until `buf` is full or the input ends; how many bytes were read.
fn fill(from: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let Some(rest) = buf.get_mut(n..) else { break };
        match from.read(rest) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> Kdf {
        Kdf {
            m_kib: 64,
            t: 1,
            ..Kdf::new()
        }
    }

    #[test]
    fn sealed_members_open_only_whole_and_with_the_right_key() {
        let kdf = quick();
        let key = derive(b"correct horse battery", &kdf).unwrap();
        for size in [0usize, 5, CHUNK, CHUNK + 1, 2 * CHUNK + 7] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let mut sealed = Vec::new();
            key.seal(3, &mut data.as_slice(), &mut sealed).unwrap();
            let mut out = Vec::new();
            key.open(3, &mut sealed.as_slice(), &mut out).unwrap();
            assert_eq!(out, data, "size {size}");
            // Another member number, a flipped byte, a cut: none opens.
            assert!(key
                .open(4, &mut sealed.as_slice(), &mut Vec::new())
                .is_err());
            let mut flipped = sealed.clone();
            let mid = flipped.len() / 2;
            flipped[mid] ^= 1;
            assert!(key
                .open(3, &mut flipped.as_slice(), &mut Vec::new())
                .is_err());
            if size > CHUNK {
                let cut = &sealed[..4 + CHUNK + 16];
                assert!(key.open(3, &mut &cut[..], &mut Vec::new()).is_err());
            }
        }
        let wrong = derive(b"wrong horse battery", &kdf).unwrap();
        let mut sealed = Vec::new();
        key.seal(0, &mut &b"keys"[..], &mut sealed).unwrap();
        assert!(wrong
            .open(0, &mut sealed.as_slice(), &mut Vec::new())
            .is_err());
        let tag = key.mac(b"manifest").unwrap();
        assert!(key.mac_matches(b"manifest", &tag));
        assert!(!wrong.mac_matches(b"manifest", &tag));
    }

    #[test]
    fn forged_costs_are_refused() {
        let kdf = Kdf {
            m_kib: u32::MAX,
            ..Kdf::new()
        };
        assert!(derive(b"x", &kdf).is_err());
    }
}
