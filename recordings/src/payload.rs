//! A chunk's payload in format versions 2 to 4: the encoded events compressed with zstd,
//! then sealed under the recording's data key (AEGIS-256X2 in version 4, AES-256-GCM in
//! version 3, ChaCha20-Poly1305 in version 2). The chain in `format.rs` hashes and signs the
//! sealed bytes, so verifying needs no key; reading the events does. Not the framing
//! (`format.rs`) nor the event bytes (`codec.rs`).
//!
//! ```text
//! plain   = flag u8 | body             flag 0: body = events; 1: body = zstd(events)
//! payload = plain                      when the header names no data key (Meta.key unset)
//!         | seal(plain) | tag [16]     otherwise: nonce = seq u64 | zeros (32 bytes in
//!                                      version 4, 12 before), associated data = H(header) | seq
//! ```
//!
//! Version 4's AEAD is AEGIS-256X2 (the CFRG's AEGIS draft: a 256-bit key and nonce, a
//! 128-bit tag) because it seals from one buffer into another at a fraction of
//! AES-256-GCM's CPU per byte: the writer encrypts the events straight into the memory the
//! record is written from, so sealing is the copy (BENCHMARKS.md, "Recording cost").
//!
//! A chunk that zstd does not shrink (random data, already compressed files) is stored with
//! flag 0, so a chunk never grows by more than the flag and the tag. The writer does not
//! even try zstd on a large chunk when small samples of it do not shrink, and picks its
//! level from how well the last chunk compressed (see [`Sealer`]); readers need not know.

use std::fmt;
use std::io::Read;

use aes_gcm::Aes256Gcm;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use zeroize::Zeroizing;

use crate::format::{fill, Hash, V3, V4};

/// Flag of a body stored as it is.
const RAW: u8 = 0;
/// Flag of a zstd-compressed body.
const ZSTD: u8 = 1;
/// Bytes of the AEAD tag after a sealed payload.
pub(crate) const TAG_LEN: usize = 16;
/// Bytes a payload adds to the events at most: the flag and the tag.
pub(crate) const PAYLOAD_OVERHEAD: usize = 1 + TAG_LEN;
/// The zstd level for bulk data: fast. Data that compresses to almost nothing (zeros) or
/// hardly at all gains little from more effort.
#[cfg(not(target_arch = "wasm32"))]
const FAST_LEVEL: i32 = 1;
/// The zstd level for text-like chunks (those the last chunk's ratio says compress to
/// between [`TEXT_BAND`]'s bounds): terminal text is low volume, so the writer spends more
/// CPU on it (and lets its chunks grow larger, [`Sealer::text_like`]) to store it in a
/// tenth of its size.
#[cfg(not(target_arch = "wasm32"))]
const TEXT_LEVEL: i32 = 6;
/// Compressed / original sizes, in thousandths, taken as text-like.
#[cfg(not(target_arch = "wasm32"))]
const TEXT_BAND: (usize, usize) = (15, 300);
/// Chunks at least this long are sampled before zstd is tried on them whole.
#[cfg(not(target_arch = "wasm32"))]
const PROBE_MIN: usize = 64 * 1024;
/// Bytes in each sample.
#[cfg(not(target_arch = "wasm32"))]
const SAMPLE: usize = 4096;

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
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// The nonce of chunk `seq` (`N` bytes: 12 for AES-GCM and ChaCha20-Poly1305, 32 for
/// AEGIS-256): unique per chunk under a key used by one recording only.
fn nonce_bytes<const N: usize>(seq: u64) -> [u8; N] {
    let mut n = [0u8; N];
    fill(&mut n, &[&seq.to_le_bytes()]);
    n
}

/// Format 4's AEAD with its 16-byte tag.
type Aegis = aegis::aegis256x2::Aegis256X2<TAG_LEN>;

/// The associated data of chunk `seq`: the chunk cannot be moved to another place or file
/// and still open.
fn aad(header: &Hash, seq: u64) -> [u8; 40] {
    let mut a = [0u8; 40];
    fill(&mut a, &[header, &seq.to_le_bytes()]);
    a
}

/// The writer's AEAD (format 4's AEGIS-256X2) under one recording's data key.
struct SealKey(DataKey);

impl SealKey {
    /// An encryption of chunk `seq`'s payload in the recording whose header hashes to
    /// `header` (its nonce and associated data).
    fn encryptor(&self, header: &Hash, seq: u64) -> aegis::aegis256x2::Encryptor<TAG_LEN> {
        Aegis::new(self.0.expose(), &nonce_bytes(seq)).encryptor(&aad(header, seq))
    }

    /// Seals the plaintext `flag | body` of chunk `seq` into `out` (its flag byte, then the
    /// encrypted body, then the tag; `1 + body.len() + TAG_LEN` bytes): encrypting is the
    /// copy, `body` is read once.
    fn seal_into(&self, header: &Hash, seq: u64, flag: u8, body: &[u8], out: &mut [u8]) {
        let mut enc = self.encryptor(header, seq);
        let (out_flag, rest) = out.split_at_mut(1.min(out.len()));
        let (out_body, out_tag) = rest.split_at_mut(body.len().min(rest.len()));
        enc.update(&[flag], out_flag);
        enc.update(body, out_body);
        let tag = enc.finalize();
        fill(out_tag, &[&tag]);
    }
}

/// A chunk payload sealed and hashed piece by piece as its events arrive (stored as they
/// are: random data), each piece encrypted from where it lies into the record's memory and
/// hashed there soon after, while it is still in the cache. The bytes are exactly those of
/// [`Sealer::seal_into`] on the whole chunk, flag `RAW`.
pub(crate) struct StreamSeal {
    enc: aegis::aegis256x2::Encryptor<TAG_LEN>,
    hash: blake3::Hasher,
    /// Payload bytes hashed so far.
    hashed: usize,
}

/// The chunk hash takes the payload in whole steps of this many bytes of its input: BLAKE3
/// hashes many 1 KiB chunks at once only from input that starts on a boundary of as many
/// (packets of 32 KiB and a few bytes, hashed one by one, make it hash most chunks alone).
const HASH_STEP: usize = 64 * 1024;

impl StreamSeal {
    /// Seals the next plaintext piece into `out` (as long).
    pub(crate) fn update(&mut self, plain: &[u8], out: &mut [u8]) {
        self.enc.update(plain, out);
    }

    /// Hashes what `payload` (the payload sealed so far, from its flag) holds beyond what was
    /// hashed, up to the last whole [`HASH_STEP`] of the hash's input.
    pub(crate) fn hash_along(&mut self, payload: &[u8]) {
        let count = usize::try_from(self.hash.count()).unwrap_or(usize::MAX);
        let pending = payload.len().saturating_sub(self.hashed);
        let step = (count + pending) / HASH_STEP * HASH_STEP;
        let n = step.saturating_sub(count).min(pending);
        if let Some(piece) = payload.get(self.hashed..self.hashed + n) {
            self.hash.update(piece);
            self.hashed += n;
        }
    }

    /// Writes the tag into the last [`TAG_LEN`] bytes of `payload` (the whole payload, flag
    /// to tag) and hashes the rest of it: the chunk hash.
    pub(crate) fn finish(mut self, payload: &mut [u8]) -> Hash {
        let tag = self.enc.finalize();
        let at = payload.len().saturating_sub(TAG_LEN);
        fill(payload.get_mut(at..).unwrap_or_default(), &[&tag]);
        self.hash
            .update(payload.get(self.hashed..).unwrap_or_default());
        self.hash.finalize().into()
    }
}

/// What [`Sealer::prepare`] decided for a chunk: whether its body is compressed (in the
/// sealer's scratch buffer) and the payload's length.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prepared {
    /// Whether the body is the events compressed.
    pub(crate) compressed: bool,
    /// Bytes of the payload: flag, body and (sealed) tag.
    pub(crate) len: usize,
}

/// Turns events into payloads of the current version; holds the compression context and
/// the level chosen for the next chunk.
pub(crate) struct Sealer {
    key: Option<SealKey>,
    #[cfg(not(target_arch = "wasm32"))]
    compressor: zstd::bulk::Compressor<'static>,
    #[cfg(not(target_arch = "wasm32"))]
    level: i32,
    /// Whether the last chunk large enough to tell was text-like.
    #[cfg(not(target_arch = "wasm32"))]
    text_like: bool,
    /// Compresses the samples, at level 1.
    #[cfg(not(target_arch = "wasm32"))]
    probe: zstd::bulk::Compressor<'static>,
    #[cfg(not(target_arch = "wasm32"))]
    scratch: Vec<u8>,
    /// Chunks zstd was tried on whole (what the samples save).
    #[cfg(test)]
    tries: usize,
}

impl Sealer {
    /// A sealer for one recording; without a key payloads are compressed only.
    pub(crate) fn new(key: Option<&DataKey>) -> std::io::Result<Sealer> {
        Ok(Sealer {
            key: key.map(|k| SealKey(k.clone())),
            #[cfg(not(target_arch = "wasm32"))]
            compressor: zstd::bulk::Compressor::new(TEXT_LEVEL)?,
            #[cfg(not(target_arch = "wasm32"))]
            level: TEXT_LEVEL,
            #[cfg(not(target_arch = "wasm32"))]
            text_like: true,
            #[cfg(not(target_arch = "wasm32"))]
            probe: zstd::bulk::Compressor::new(1)?,
            #[cfg(not(target_arch = "wasm32"))]
            scratch: Vec::new(),
            #[cfg(test)]
            tries: 0,
        })
    }

    /// Whether the stream looks like terminal text: the last chunk large enough to tell
    /// compressed to between 1.5% and 30% (before the first, it is taken to be).
    #[cfg(all(test, not(target_arch = "wasm32")))]
    pub(crate) fn text_like(&self) -> bool {
        self.text_like
    }

    /// Whether payloads are sealed (the recording has a data key).
    pub(crate) fn sealed(&self) -> bool {
        self.key.is_some()
    }

    /// Starts sealing chunk `seq` (after the chunk hash `prev`) as its events arrive, its
    /// flag byte (`RAW`) written into `flag`; `None` without a data key.
    pub(crate) fn stream(
        &self,
        header: &Hash,
        prev: &Hash,
        seq: u64,
        flag: &mut [u8],
    ) -> Option<StreamSeal> {
        let key = self.key.as_ref()?;
        let mut seal = StreamSeal {
            enc: key.encryptor(header, seq),
            hash: crate::format::chunk_hasher(prev, seq),
            hashed: 0,
        };
        seal.update(&[RAW], flag);
        Some(seal)
    }

    /// Whether `data` (a piece of a chunk being streamed) would shrink under zstd: a sample
    /// of [`SAMPLE`] bytes of it compresses to less than 90% at level 1. Too short to tell:
    /// `None`.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn shrinks(&mut self, data: &[u8]) -> std::io::Result<Option<bool>> {
        let Some(sample) = data.get(..SAMPLE) else {
            return Ok(None);
        };
        self.scratch.clear();
        self.scratch
            .reserve(zstd::zstd_safe::compress_bound(SAMPLE));
        let n = self.probe.compress_to_buffer(sample, &mut self.scratch)?;
        Ok(Some(n * 10 < sample.len() * 9))
    }

    /// The browser never writes recordings: no sample is taken.
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn shrinks(&mut self, _data: &[u8]) -> std::io::Result<Option<bool>> {
        Ok(None)
    }

    /// Decides how chunk `events` is stored: compressed into the scratch buffer when that
    /// shrinks it, else as they are. The payload's length, for the caller to find the memory
    /// [`Sealer::seal_into`] writes it to.
    pub(crate) fn prepare(&mut self, events: &[u8]) -> std::io::Result<Prepared> {
        let compressed = self.compress(events)?;
        let body = if compressed {
            self.compressed().len()
        } else {
            events.len()
        };
        let tag = if self.key.is_some() { TAG_LEN } else { 0 };
        Ok(Prepared {
            compressed,
            len: 1 + body + tag,
        })
    }

    /// Writes chunk `seq`'s payload, as `prepared` from `events`, into `out` (exactly
    /// `prepared.len` bytes): the flag and the body, encrypted on the way when the recording
    /// has a data key.
    pub(crate) fn seal_into(
        &self,
        events: &[u8],
        prepared: Prepared,
        out: &mut [u8],
        header: &Hash,
        seq: u64,
    ) -> std::io::Result<()> {
        if out.len() != prepared.len {
            return Err(std::io::Error::other("payload memory of the wrong length"));
        }
        let (flag, body) = if prepared.compressed {
            (ZSTD, self.compressed())
        } else {
            (RAW, events)
        };
        match &self.key {
            Some(key) => key.seal_into(header, seq, flag, body, out),
            None => fill(out, &[&[flag], body]),
        }
        Ok(())
    }

    /// Gives back buffer memory beyond `keep` bytes (a session gone quiet after a burst).
    pub(crate) fn shrink(&mut self, keep: usize) {
        #[cfg(not(target_arch = "wasm32"))]
        self.scratch.shrink_to(keep);
        let _ = keep;
    }

    /// Compresses `events` into the scratch buffer and says whether that is smaller than
    /// they are. A chunk of at least [`PROBE_MIN`] bytes is first sampled at its start,
    /// middle and end; when no sample shrinks (random or already compressed data) zstd is
    /// not tried on the whole. Each compressed chunk sets the next one's level.
    #[cfg(not(target_arch = "wasm32"))]
    fn compress(&mut self, events: &[u8]) -> std::io::Result<bool> {
        if events.len() >= PROBE_MIN && !self.samples_shrink(events)? {
            self.text_like = false;
            return Ok(false);
        }
        #[cfg(test)]
        {
            self.tries += 1;
        }
        self.scratch.clear();
        self.scratch
            .reserve(zstd::zstd_safe::compress_bound(events.len()));
        let n = self
            .compressor
            .compress_to_buffer(events, &mut self.scratch)?;
        let per_mille = n.saturating_mul(1000) / events.len().max(1);
        // Tiny chunks (a keystroke's echo) say nothing about the stream.
        if events.len() >= SAMPLE {
            self.text_like = (TEXT_BAND.0..=TEXT_BAND.1).contains(&per_mille);
            let level = if self.text_like {
                TEXT_LEVEL
            } else {
                FAST_LEVEL
            };
            if level != self.level {
                self.compressor.set_compression_level(level)?;
                self.level = level;
            }
        }
        Ok(n < events.len())
    }

    /// What [`Sealer::compress`] last made.
    #[cfg(not(target_arch = "wasm32"))]
    fn compressed(&self) -> &[u8] {
        &self.scratch
    }

    /// Whether any of three samples of `events` compresses (at level 1) to less than 90%.
    #[cfg(not(target_arch = "wasm32"))]
    fn samples_shrink(&mut self, events: &[u8]) -> std::io::Result<bool> {
        let last = events.len().saturating_sub(SAMPLE);
        for at in [0, last / 2, last] {
            if self.shrinks(events.get(at..).unwrap_or_default())? == Some(true) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The browser never writes recordings; a wasm writer (tests only) stores raw bodies.
    #[cfg(target_arch = "wasm32")]
    fn compress(&mut self, _events: &[u8]) -> std::io::Result<bool> {
        Ok(false)
    }

    #[cfg(target_arch = "wasm32")]
    fn compressed(&self) -> &[u8] {
        &[]
    }
}

/// A reader's AEAD, by format version.
enum OpenKey {
    ChaCha(ChaCha20Poly1305),
    Aes(Box<Aes256Gcm>),
    Aegis(DataKey),
}

impl OpenKey {
    fn new(version: u16, key: &DataKey) -> OpenKey {
        if version >= V4 {
            OpenKey::Aegis(key.clone())
        } else if version >= V3 {
            OpenKey::Aes(Box::new(Aes256Gcm::new(
                aes_gcm::Key::<Aes256Gcm>::from_slice(key.expose()),
            )))
        } else {
            OpenKey::ChaCha(ChaCha20Poly1305::new(Key::from_slice(key.expose())))
        }
    }

    fn open(&self, seq: u64, aad: &[u8], buf: &mut [u8], tag: &[u8]) -> Result<(), OpenError> {
        let wrong = |_| OpenError::WrongKey;
        let nonce = || Nonce::from(nonce_bytes(seq));
        match self {
            OpenKey::ChaCha(c) => c
                .decrypt_in_place_detached(&nonce(), aad, buf, Tag::from_slice(tag))
                .map_err(wrong),
            OpenKey::Aes(c) => c
                .decrypt_in_place_detached(&nonce(), aad, buf, Tag::from_slice(tag))
                .map_err(wrong),
            OpenKey::Aegis(key) => {
                let tag = <[u8; TAG_LEN]>::try_from(tag).map_err(|_| OpenError::WrongKey)?;
                Aegis::new(key.expose(), &nonce_bytes(seq))
                    .decrypt_in_place(buf, &tag, aad)
                    .map_err(|_| OpenError::WrongKey)
            }
        }
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
    cipher: Option<OpenKey>,
    sealed: bool,
    decoder: ruzstd::decoding::FrameDecoder,
}

impl Opener {
    /// An opener for one recording of format `version`; `sealed` when its header names a
    /// data key.
    pub(crate) fn new(version: u16, sealed: bool, key: Option<&DataKey>) -> Opener {
        Opener {
            cipher: key.map(|k| OpenKey::new(version, k)),
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
            cipher.open(seq, &aad(header, seq), &mut buf, tag)?;
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
    Opener::new(crate::format::VERSION, sealed, key).open(payload, header, seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunk `seq`'s payload of `events`, sealed by `sealer`.
    fn seal(sealer: &mut Sealer, events: &[u8], seq: u64) -> Vec<u8> {
        let prepared = sealer.prepare(events).unwrap();
        let mut out = vec![0xee; prepared.len];
        sealer
            .seal_into(events, prepared, &mut out, &[3; 32], seq)
            .unwrap();
        assert!(sealer
            .seal_into(events, prepared, &mut out[1..], &[3; 32], seq)
            .is_err());
        out
    }

    fn round_trip(events: &[u8], key: Option<&DataKey>) -> usize {
        let out = seal(&mut Sealer::new(key).unwrap(), events, 9);
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
            &crate::testutil::noise(100_000, 1),
        ] {
            round_trip(events, None);
            round_trip(events, Some(&key));
        }
    }

    #[test]
    fn a_payload_opens_only_with_its_key_seq_and_header() {
        let key = DataKey::from_bytes([5; 32]);
        let out = seal(&mut Sealer::new(Some(&key)).unwrap(), b"secret", 9);
        let other = DataKey::from_bytes([6; 32]);
        assert_eq!(open(&out, true, None, &[3; 32], 9), Err(OpenError::NoKey));
        for (k, h, s) in [(&other, [3; 32], 9), (&key, [4; 32], 9), (&key, [3; 32], 8)] {
            assert_eq!(open(&out, true, Some(k), &h, s), Err(OpenError::WrongKey));
        }
        assert!(!out.windows(6).any(|w| w == b"secret"));
    }

    /// The flag of an unsealed payload: whether the sealer compressed it.
    fn flag(sealer: &mut Sealer, events: &[u8]) -> u8 {
        let out = seal(sealer, events, 0);
        assert_eq!(open(&out, false, None, &[3; 32], 0).unwrap(), events);
        out[0]
    }

    #[test]
    fn random_chunks_are_stored_without_trying_zstd_and_text_gets_the_text_level() {
        let mut sealer = Sealer::new(None).unwrap();
        let random = crate::testutil::noise(256 * 1024, 5);
        assert_eq!(flag(&mut sealer, &random), RAW);
        assert_eq!(sealer.tries, 0, "zstd was tried on the random chunk");
        assert!(!sealer.text_like());
        // Random data with text at one end still compresses: one sample shrinks.
        let mut mixed = random.clone();
        mixed[..64 * 1024].copy_from_slice(&[b'a'; 64 * 1024]);
        assert_eq!(flag(&mut sealer, &mixed), ZSTD);
        let text: Vec<u8> = (0..20_000)
            .flat_map(|i| {
                format!(
                    "Setting up libfoo{}:amd64 ({}.{}) ...\r\n",
                    i % 97,
                    i % 13,
                    i
                )
                .into_bytes()
            })
            .take(200 * 1024)
            .collect();
        assert_eq!(flag(&mut sealer, &text), ZSTD);
        assert!(sealer.text_like());
        assert_eq!(sealer.level, TEXT_LEVEL);
        assert_eq!(flag(&mut sealer, &[0; 256 * 1024]), ZSTD);
        assert!(!sealer.text_like());
        assert_eq!(sealer.level, FAST_LEVEL);
    }

    #[test]
    fn the_key_never_prints() {
        let key = DataKey::from_bytes([0xab; 32]);
        assert_eq!(format!("{key:?}"), "DataKey(<redacted>)");
    }
}
