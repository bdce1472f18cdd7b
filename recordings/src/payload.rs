//! A chunk's payload in format version 2: the encoded events compressed with zstd, then
//! sealed with ChaCha20-Poly1305 under the recording's data key. The chain in `format.rs`
//! hashes and signs the sealed bytes, so verifying needs no key; reading the events does.
//! Not the framing (`format.rs`) nor the event bytes (`codec.rs`).
//!
//! ```text
//! plain   = flag u8 | body             flag 0: body = events; 1: body = zstd(events)
//! payload = plain                      when the header names no data key (Meta.key unset)
//!         | seal(plain) | tag [16]     otherwise: ChaCha20-Poly1305, nonce = seq u64 | 0u32,
//!                                      associated data = H(header) | seq
//! ```
//!
//! A chunk that zstd does not shrink (random data, already compressed files) is stored with
//! flag 0, so a chunk never grows by more than the flag and the tag.

use std::fmt;
use std::io::Read;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use zeroize::Zeroizing;

use crate::format::{fill, Hash};

/// Flag of a body stored as it is.
const RAW: u8 = 0;
/// Flag of a zstd-compressed body.
const ZSTD: u8 = 1;
/// Bytes of the AEAD tag after a sealed payload.
pub(crate) const TAG_LEN: usize = 16;
/// Bytes a payload adds to the events at most: the flag and the tag.
pub(crate) const PAYLOAD_OVERHEAD: usize = 1 + TAG_LEN;
/// The zstd level the writer uses: fast, and within a few percent of the best ratio on
/// terminal text.
#[cfg(not(target_arch = "wasm32"))]
const ZSTD_LEVEL: i32 = 3;

/// A recording's 256-bit data key, which seals its chunks. `Debug` prints `<redacted>`; the
/// bytes are wiped on drop. The gateway wraps it with its vault key into `Meta::key`.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// A key from its 32 bytes (fresh random bytes for a new recording).
    pub fn from_bytes(bytes: [u8; 32]) -> DataKey {
        DataKey(Zeroizing::new(bytes))
    }

    /// A key from a byte slice, `None` unless it is 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<DataKey> {
        <[u8; 32]>::try_from(bytes).ok().map(DataKey::from_bytes)
    }

    /// The key bytes; keep the borrow short and never print them.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(self.0.as_slice()))
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// The nonce of chunk `seq`: unique per chunk under a key used by one recording only.
fn nonce(seq: u64) -> Nonce {
    let mut n = [0u8; 12];
    fill(&mut n, &[&seq.to_le_bytes()]);
    Nonce::from(n)
}

/// The associated data of chunk `seq`: the chunk cannot be moved to another place or file
/// and still open.
fn aad(header: &Hash, seq: u64) -> [u8; 40] {
    let mut a = [0u8; 40];
    fill(&mut a, &[header, &seq.to_le_bytes()]);
    a
}

/// Turns events into payloads; holds the compression context between chunks.
pub(crate) struct Sealer {
    cipher: Option<ChaCha20Poly1305>,
    #[cfg(not(target_arch = "wasm32"))]
    compressor: zstd::bulk::Compressor<'static>,
    #[cfg(not(target_arch = "wasm32"))]
    scratch: Vec<u8>,
}

impl Sealer {
    /// A sealer for one recording; without a key payloads are compressed only.
    pub(crate) fn new(key: Option<&DataKey>) -> std::io::Result<Sealer> {
        Ok(Sealer {
            cipher: key.map(DataKey::cipher),
            #[cfg(not(target_arch = "wasm32"))]
            compressor: zstd::bulk::Compressor::new(ZSTD_LEVEL)?,
            #[cfg(not(target_arch = "wasm32"))]
            scratch: Vec::new(),
        })
    }

    /// Appends the payload of chunk `seq` holding `events` to `out`.
    pub(crate) fn seal(
        &mut self,
        out: &mut Vec<u8>,
        events: &[u8],
        header: &Hash,
        seq: u64,
    ) -> std::io::Result<()> {
        let start = out.len();
        self.compress(out, events)?;
        if let Some(cipher) = &self.cipher {
            let plain = out.get_mut(start..).unwrap_or_default();
            let tag = cipher
                .encrypt_in_place_detached(&nonce(seq), &aad(header, seq), plain)
                .map_err(|_| std::io::Error::other("chunk too large to seal"))?;
            out.extend_from_slice(&tag);
        }
        Ok(())
    }

    /// Appends flag and body: compressed when that is smaller, else the events as they are.
    #[cfg(not(target_arch = "wasm32"))]
    fn compress(&mut self, out: &mut Vec<u8>, events: &[u8]) -> std::io::Result<()> {
        self.scratch.clear();
        self.scratch
            .reserve(zstd::zstd_safe::compress_bound(events.len()));
        let n = self
            .compressor
            .compress_to_buffer(events, &mut self.scratch)?;
        if n < events.len() {
            out.push(ZSTD);
            out.extend_from_slice(&self.scratch);
        } else {
            out.push(RAW);
            out.extend_from_slice(events);
        }
        Ok(())
    }

    /// The browser never writes recordings; a wasm writer (tests only) stores raw bodies.
    #[cfg(target_arch = "wasm32")]
    fn compress(&mut self, out: &mut Vec<u8>, events: &[u8]) -> std::io::Result<()> {
        out.push(RAW);
        out.extend_from_slice(events);
        Ok(())
    }
}

/// Why a payload did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// The recording is encrypted and no key was given.
    NoKey,
    /// The AEAD tag does not match: another recording's key.
    WrongKey,
    /// The plaintext is not a flag and a body the writer makes.
    Malformed(&'static str),
}

/// Opens payloads (`open`); holds the zstd decoder, whose buffers are reused chunk after
/// chunk (a fresh decoder per chunk costs more than the decoding in the browser).
pub(crate) struct Opener {
    cipher: Option<ChaCha20Poly1305>,
    sealed: bool,
    decoder: ruzstd::decoding::FrameDecoder,
}

impl Opener {
    /// An opener for one recording; `sealed` when its header names a data key.
    pub(crate) fn new(sealed: bool, key: Option<&DataKey>) -> Opener {
        Opener {
            cipher: key.map(DataKey::cipher),
            sealed,
            decoder: ruzstd::decoding::FrameDecoder::new(),
        }
    }

    /// The events of chunk `seq` from its payload.
    pub(crate) fn open(
        &mut self,
        payload: &[u8],
        header: &Hash,
        seq: u64,
    ) -> Result<Vec<u8>, OpenError> {
        let plain = if self.sealed {
            let cipher = self.cipher.as_ref().ok_or(OpenError::NoKey)?;
            let split = payload
                .len()
                .checked_sub(TAG_LEN)
                .ok_or(OpenError::Malformed("shorter than its tag"))?;
            let (sealed_part, tag) = payload.split_at(split);
            let mut buf = sealed_part.to_vec();
            cipher
                .decrypt_in_place_detached(
                    &nonce(seq),
                    &aad(header, seq),
                    &mut buf,
                    Tag::from_slice(tag),
                )
                .map_err(|_| OpenError::WrongKey)?;
            buf
        } else {
            payload.to_vec()
        };
        match plain.split_first() {
            Some((&RAW, body)) => Ok(body.to_vec()),
            Some((&ZSTD, body)) => self.decompress(body),
            Some(_) => Err(OpenError::Malformed("unknown compression flag")),
            None => Err(OpenError::Malformed("empty payload")),
        }
    }

    /// Decompresses one zstd frame, never past what one chunk can hold (4 GiB). The writer's
    /// frames state their size, so the output is allocated once.
    fn decompress(&mut self, body: &[u8]) -> Result<Vec<u8>, OpenError> {
        let bad = OpenError::Malformed("does not decompress");
        self.decoder.init(body).map_err(|_| bad)?;
        let size = self.decoder.content_size();
        if size == 0 || size > u64::from(u32::MAX) {
            // No size stated (not the writer's frame): decode as a stream, still bounded.
            let decoder =
                ruzstd::decoding::StreamingDecoder::new_with_decoder(body, &mut self.decoder)
                    .map_err(|_| bad)?;
            let mut out = Vec::new();
            decoder
                .take(u64::from(u32::MAX))
                .read_to_end(&mut out)
                .map_err(|_| bad)?;
            return Ok(out);
        }
        let mut out = Vec::with_capacity(usize::try_from(size).map_err(|_| bad)?);
        self.decoder
            .decode_all_to_vec(body, &mut out)
            .map_err(|_| bad)?;
        Ok(out)
    }
}

/// The events of chunk `seq` from its payload, `key` required when `sealed` (one chunk; a
/// reader of many uses one [`Opener`]).
#[cfg(test)]
pub(crate) fn open(
    payload: &[u8],
    sealed: bool,
    key: Option<&DataKey>,
    header: &Hash,
    seq: u64,
) -> Result<Vec<u8>, OpenError> {
    Opener::new(sealed, key).open(payload, header, seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(events: &[u8], key: Option<&DataKey>) -> usize {
        let mut sealer = Sealer::new(key).unwrap();
        let mut out = Vec::new();
        sealer.seal(&mut out, events, &[3; 32], 9).unwrap();
        assert_eq!(open(&out, key.is_some(), key, &[3; 32], 9).unwrap(), events);
        out.len()
    }

    #[test]
    fn payloads_round_trip_with_and_without_a_key() {
        let key = DataKey::from_bytes([5; 32]);
        for events in [
            &b""[..],
            b"x",
            &[0; 10_000],
            b"hello hello hello hello hello",
        ] {
            round_trip(events, None);
            round_trip(events, Some(&key));
        }
    }

    #[test]
    fn a_payload_opens_only_with_its_key_seq_and_header() {
        let key = DataKey::from_bytes([5; 32]);
        let mut out = Vec::new();
        Sealer::new(Some(&key))
            .unwrap()
            .seal(&mut out, b"secret", &[3; 32], 9)
            .unwrap();
        let other = DataKey::from_bytes([6; 32]);
        assert_eq!(open(&out, true, None, &[3; 32], 9), Err(OpenError::NoKey));
        for (k, h, s) in [(&other, [3; 32], 9), (&key, [4; 32], 9), (&key, [3; 32], 8)] {
            assert_eq!(open(&out, true, Some(k), &h, s), Err(OpenError::WrongKey));
        }
        assert!(!out.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn the_key_never_prints() {
        let key = DataKey::from_bytes([0xab; 32]);
        assert_eq!(format!("{key:?}"), "DataKey(<redacted>)");
    }
}
