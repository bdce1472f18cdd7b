//! The file's framing and its integrity chain: header layout, record headers, chunk hashes
//! and the messages the gateway signs. Shared by the writer and the reader so that both
//! compute exactly the same bytes. What the events inside a chunk look like is `codec.rs`.
//!
//! The chunk hash chain is SHA-256 in versions 1 and 2 and BLAKE3 from version 3 (a third
//! of SHA-256's CPU per byte here, and fast in the browser's wasm too); the header hash,
//! record-header checks and signed messages stay SHA-256 and Ed25519 in every version.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::{ReadError, WriteError};
use crate::meta::Meta;

/// First bytes of every recording. The high byte and CR LF catch text-mode mangling.
pub(crate) const MAGIC: [u8; 8] = *b"\x89MWREC\r\n";
/// Format version written. Version 2 compresses and (when the header names a data key)
/// seals each chunk's events with ChaCha20-Poly1305, see `payload.rs`; version 3 seals with
/// AES-256-GCM and chains chunks with BLAKE3 instead of SHA-256; version 4 seals with
/// AEGIS-256X2, the same framing and chain.
pub(crate) const VERSION: u16 = 4;
/// The first version whose chunk hashes are BLAKE3 and whose payloads are AES-256-GCM.
pub(crate) const V3: u16 = 3;
/// The first version whose payloads are AEGIS-256X2.
pub(crate) const V4: u16 = 4;
/// The oldest version still read: version 1 chunks hold the encoded events as they are.
pub(crate) const OLDEST_VERSION: u16 = 1;
/// Header bytes before the metadata: magic, version, key, metadata length.
const HEADER_FIXED: usize = 8 + 2 + 32 + 4;
const SIG_LEN: usize = 64;

/// Record type of a chunk.
pub(crate) const TAG_CHUNK: u8 = b'C';
/// Record type of the seal.
pub(crate) const TAG_SEAL: u8 = b'S';
/// tag, seq, body length, check.
pub(crate) const FRAME_HEADER_LEN: usize = 1 + 8 + 4 + 8;
/// A chunk body's fixed part: prev, hash, sig.
pub(crate) const CHUNK_FIXED_LEN: usize = 32 + 32 + SIG_LEN;
/// A seal body's fixed part: head, end_micros, sig.
pub(crate) const SEAL_FIXED_LEN: usize = 32 + 8 + SIG_LEN;

/// A SHA-256 digest.
pub(crate) type Hash = [u8; 32];

/// Reads `N` bytes at `at`, `None` past the end.
pub(crate) fn array<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    let slice = bytes.get(at..at.checked_add(N)?)?;
    <[u8; N]>::try_from(slice).ok()
}

/// Encodes and signs the header.
pub(crate) fn encode_header(meta: &Meta, key: &SigningKey) -> Result<Vec<u8>, WriteError> {
    let json = serde_json::to_vec(meta)?;
    let len =
        u32::try_from(json.len()).map_err(|_| WriteError::MetaTooLarge { len: json.len() })?;
    let mut out = Vec::with_capacity(HEADER_FIXED + json.len() + SIG_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(key.verifying_key().as_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&json);
    let sig = key.sign(&out);
    out.extend_from_slice(&sig.to_bytes());
    Ok(out)
}

/// A parsed, signature-checked header.
pub(crate) struct Header {
    /// The format version the file was written in.
    pub version: u16,
    pub meta: Meta,
    pub key: VerifyingKey,
    /// SHA-256 of all header bytes, signature included.
    pub hash: Hash,
    /// Header length in bytes: the first record starts here.
    pub len: usize,
}

fn header_damaged(what: impl Into<String>) -> ReadError {
    ReadError::Header { what: what.into() }
}

/// Parses the header and checks its signature against the key it names.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<Header, ReadError> {
    let truncated = || {
        header_damaged(format!(
            "the file ends inside the header, at byte {}",
            bytes.len()
        ))
    };
    match bytes.get(..MAGIC.len()) {
        Some(magic) if magic == MAGIC => {}
        Some(_) => return Err(ReadError::NotARecording),
        None if MAGIC.starts_with(bytes) => return Err(truncated()),
        None => return Err(ReadError::NotARecording),
    }
    let version = u16::from_le_bytes(array(bytes, 8).ok_or_else(truncated)?);
    if !(OLDEST_VERSION..=VERSION).contains(&version) {
        return Err(ReadError::UnsupportedVersion {
            found: version,
            supported: VERSION,
        });
    }
    let key_bytes: [u8; 32] = array(bytes, 10).ok_or_else(truncated)?;
    let meta_len = u32::from_le_bytes(array(bytes, 42).ok_or_else(truncated)?);
    let meta_end = usize::try_from(meta_len)
        .ok()
        .and_then(|len| HEADER_FIXED.checked_add(len))
        .ok_or_else(truncated)?;
    let signed = bytes.get(..meta_end).ok_or_else(truncated)?;
    let sig: [u8; SIG_LEN] = array(bytes, meta_end).ok_or_else(truncated)?;
    let key = VerifyingKey::from_bytes(&key_bytes)
        .map_err(|_| header_damaged("the gateway key is not a valid Ed25519 public key"))?;
    key.verify_strict(signed, &Signature::from_bytes(&sig))
        .map_err(|_| header_damaged("signature mismatch"))?;
    let json = signed.get(HEADER_FIXED..).unwrap_or_default();
    let meta: Meta = serde_json::from_slice(json)
        .map_err(|e| header_damaged(format!("metadata is not valid: {e}")))?;
    let len = meta_end + SIG_LEN;
    let hash = Sha256::digest(bytes.get(..len).unwrap_or_default()).into();
    Ok(Header {
        version,
        meta,
        key,
        hash,
        len,
    })
}

/// The check of a record header, which makes a damaged length or type detectable.
pub(crate) fn frame_check(tag: u8, seq: u64, body_len: u32) -> [u8; 8] {
    let digest = Sha256::new()
        .chain_update(b"menwei-rec frame")
        .chain_update([tag])
        .chain_update(seq.to_le_bytes())
        .chain_update(body_len.to_le_bytes())
        .finalize();
    let mut check = [0u8; 8];
    check.copy_from_slice(digest.get(..8).unwrap_or_default());
    check
}

/// Encodes a record header.
pub(crate) fn frame_header(tag: u8, seq: u64, body_len: u32) -> [u8; FRAME_HEADER_LEN] {
    let mut out = [0u8; FRAME_HEADER_LEN];
    fill(
        &mut out,
        &[
            &[tag],
            &seq.to_le_bytes(),
            &body_len.to_le_bytes(),
            &frame_check(tag, seq, body_len),
        ],
    );
    out
}

/// Copies `parts` one after the other into the start of `dst` (as far as it reaches).
pub(crate) fn fill(dst: &mut [u8], parts: &[&[u8]]) {
    let mut at = 0;
    for part in parts {
        if let Some(dst) = dst.get_mut(at..at + part.len()) {
            dst.copy_from_slice(part);
        }
        at += part.len();
    }
}

/// The BLAKE3 chunk hash (version 3 on) of chunk `seq` after `prev`, before its payload:
/// feed it the payload, in as many pieces as it comes in, then finalize.
pub(crate) fn chunk_hasher(prev: &Hash, seq: u64) -> blake3::Hasher {
    let mut h = blake3::Hasher::new();
    h.update(b"menwei-rec chunk")
        .update(prev)
        .update(&seq.to_le_bytes());
    h
}

/// A chunk's hash in format `version`, chaining it to the previous one: BLAKE3 from
/// version 3, SHA-256 before, over the same bytes.
pub(crate) fn chunk_hash(version: u16, prev: &Hash, seq: u64, events: &[u8]) -> Hash {
    if version >= V3 {
        let mut h = chunk_hasher(prev, seq);
        h.update(events);
        return h.finalize().into();
    }
    Sha256::new()
        .chain_update(b"menwei-rec chunk")
        .chain_update(prev)
        .chain_update(seq.to_le_bytes())
        .chain_update(events)
        .finalize()
        .into()
}

/// What the gateway signs for a chunk.
pub(crate) fn chunk_message(header: &Hash, seq: u64, hash: &Hash) -> Vec<u8> {
    let mut msg = Vec::with_capacity(20 + 32 + 8 + 32);
    msg.extend_from_slice(b"menwei-rec chunk sig");
    msg.extend_from_slice(header);
    msg.extend_from_slice(&seq.to_le_bytes());
    msg.extend_from_slice(hash);
    msg
}

/// What the gateway signs for the seal.
pub(crate) fn seal_message(
    header: &Hash,
    chunks: u64,
    head: &Hash,
    end_micros: u64,
    reason: &[u8],
) -> Vec<u8> {
    let mut msg = Vec::with_capacity(15 + 32 + 8 + 32 + 8 + reason.len());
    msg.extend_from_slice(b"menwei-rec seal");
    msg.extend_from_slice(header);
    msg.extend_from_slice(&chunks.to_le_bytes());
    msg.extend_from_slice(head);
    msg.extend_from_slice(&end_micros.to_le_bytes());
    msg.extend_from_slice(reason);
    msg
}

/// Checks an Ed25519 signature given as bytes.
pub(crate) fn signature_ok(key: &VerifyingKey, msg: &[u8], sig: &[u8; SIG_LEN]) -> bool {
    key.verify_strict(msg, &Signature::from_bytes(sig)).is_ok()
}

/// One record as framed in the file (its check already verified).
pub(crate) struct Frame<'a> {
    pub tag: u8,
    pub seq: u64,
    /// Offset of the record header.
    pub at: usize,
    pub body: &'a [u8],
}

impl Frame<'_> {
    /// Offset of the first byte after the record.
    pub(crate) fn end(&self) -> usize {
        self.at + FRAME_HEADER_LEN + self.body.len()
    }
}

/// The result of reading a record at some offset.
pub(crate) enum FrameRead<'a> {
    /// A whole record.
    Whole(Frame<'a>),
    /// The file ends inside the record: a partial last write.
    Truncated,
    /// The record header fails its check. Fields are as found, untrusted.
    Damaged { tag: u8, seq: u64, body_len: u32 },
}

/// Reads the record starting at `at` (which must be < `bytes.len()`).
pub(crate) fn read_frame(bytes: &[u8], at: usize) -> FrameRead<'_> {
    let (Some(tag), Some(seq), Some(len), Some(check)) = (
        array::<1>(bytes, at),
        array::<8>(bytes, at + 1),
        array::<4>(bytes, at + 9),
        array::<8>(bytes, at + 13),
    ) else {
        return FrameRead::Truncated;
    };
    let [tag] = tag;
    let seq = u64::from_le_bytes(seq);
    let body_len = u32::from_le_bytes(len);
    if frame_check(tag, seq, body_len) != check {
        return FrameRead::Damaged { tag, seq, body_len };
    }
    let start = at + FRAME_HEADER_LEN;
    let body = usize::try_from(body_len)
        .ok()
        .and_then(|len| start.checked_add(len))
        .and_then(|end| bytes.get(start..end));
    match body {
        Some(body) => FrameRead::Whole(Frame { tag, seq, at, body }),
        None => FrameRead::Truncated,
    }
}

/// The parts of a chunk body.
pub(crate) struct ChunkBody<'a> {
    pub prev: Hash,
    pub hash: Hash,
    pub sig: [u8; SIG_LEN],
    pub events: &'a [u8],
}

pub(crate) fn split_chunk(body: &[u8]) -> Option<ChunkBody<'_>> {
    Some(ChunkBody {
        prev: array(body, 0)?,
        hash: array(body, 32)?,
        sig: array(body, 64)?,
        events: body.get(CHUNK_FIXED_LEN..)?,
    })
}

/// The parts of a seal body.
pub(crate) struct SealBody<'a> {
    pub head: Hash,
    pub end_micros: u64,
    pub sig: [u8; SIG_LEN],
    pub reason: &'a [u8],
}

pub(crate) fn split_seal(body: &[u8]) -> Option<SealBody<'_>> {
    Some(SealBody {
        head: array(body, 0)?,
        end_micros: u64::from_le_bytes(array(body, 32)?),
        sig: array(body, 40)?,
        reason: body.get(SEAL_FIXED_LEN..)?,
    })
}

/// Whether `body` is a seal for chunk count `seq` with a good signature.
pub(crate) fn seal_signature_ok(key: &VerifyingKey, header: &Hash, seq: u64, body: &[u8]) -> bool {
    split_seal(body).is_some_and(|s| {
        signature_ok(
            key,
            &seal_message(header, seq, &s.head, s.end_micros, s.reason),
            &s.sig,
        )
    })
}

/// Whether `body` is chunk `seq` of a format `version` file with a good hash and signature.
pub(crate) fn chunk_signature_ok(
    version: u16,
    key: &VerifyingKey,
    header: &Hash,
    seq: u64,
    body: &[u8],
) -> bool {
    split_chunk(body).is_some_and(|c| {
        chunk_hash(version, &c.prev, seq, c.events) == c.hash
            && signature_ok(key, &chunk_message(header, seq, &c.hash), &c.sig)
    })
}
