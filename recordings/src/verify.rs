//! Verifying a recording for audit: is it whole, unaltered, and written by our gateway?
//!
//! [`verify`] walks the same chain as the reader (without decoding events) and also checks
//! that the header names the gateway key the caller trusts. The report names the first
//! problem: the header, or the chunk that was altered, removed or reordered, or the seal.

use ed25519_dalek::VerifyingKey;

use crate::error::ReadError;
use crate::reader::{walk, Ending, Signatures};

/// The outcome of [`verify`]. Its `Display` is one line for an auditor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// The session id from the header, if the header could be read.
    pub session_id: Option<String>,
    /// Chunks that verified, in order, before the first problem (or all of them).
    pub chunks: u64,
    /// How the recording ends if it verified, else the first problem found.
    pub outcome: Result<Ending, ReadError>,
}

impl VerifyReport {
    /// Whether everything present verified (the recording may still be cut short).
    pub fn is_ok(&self) -> bool {
        self.outcome.is_ok()
    }

    /// Whether everything verified and the recording is sealed.
    pub fn is_sealed(&self) -> bool {
        matches!(self.outcome, Ok(Ending::Sealed { .. }))
    }
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.session_id {
            Some(id) => write!(f, "recording {id}: ")?,
            None => write!(f, "recording: ")?,
        }
        match &self.outcome {
            Ok(Ending::Sealed { reason, .. }) => write!(
                f,
                "ok: {} chunks, sealed (session ended: {reason})",
                self.chunks
            ),
            Ok(Ending::CutShort {
                at_byte,
                after_chunk: Some(chunk),
            }) => write!(
                f,
                "ok up to chunk {chunk}: cut short (not sealed) after byte {at_byte}"
            ),
            Ok(Ending::CutShort {
                at_byte,
                after_chunk: None,
            }) => write!(
                f,
                "ok: no chunks, cut short (not sealed) after byte {at_byte}"
            ),
            Err(e) => write!(f, "{e}"),
        }
    }
}

/// Verifies `bytes` against the gateway key `key`: header signature and key, then every
/// chunk's sequence, hash, chain link and signature, then the seal.
pub fn verify(bytes: &[u8], key: &VerifyingKey) -> VerifyReport {
    let walk = match walk(bytes, Signatures::Every) {
        Ok(walk) => walk,
        Err(e) => {
            return VerifyReport {
                session_id: None,
                chunks: 0,
                outcome: Err(e),
            }
        }
    };
    let session_id = Some(walk.header.meta.session_id.clone());
    if walk.header.key != *key {
        return VerifyReport {
            session_id,
            chunks: 0,
            outcome: Err(ReadError::WrongKey {
                found: hex::encode(walk.header.key.as_bytes()),
                expected: hex::encode(key.as_bytes()),
            }),
        };
    }
    VerifyReport {
        session_id,
        chunks: walk.chunks.len() as u64,
        outcome: walk.outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{key, meta, other_key, sample, Sample};
    use crate::writer::Writer;
    use crate::{Event, Meta};

    fn check(bytes: &[u8]) -> VerifyReport {
        verify(bytes, &key().verifying_key())
    }

    /// Which part of the file a failed report blames.
    #[derive(Debug, PartialEq, Eq)]
    enum Blame {
        Header,
        Chunk(u64),
        Seal,
    }

    fn blame(report: &VerifyReport) -> Blame {
        match report.outcome.as_ref().unwrap_err() {
            ReadError::Empty
            | ReadError::NotARecording
            | ReadError::UnsupportedVersion { .. }
            | ReadError::Header { .. }
            | ReadError::WrongKey { .. } => Blame::Header,
            ReadError::Altered { chunk, .. }
            | ReadError::Removed { chunk, .. }
            | ReadError::Reordered { chunk, .. }
            | ReadError::BadEvent { chunk, .. }
            | ReadError::WrongDataKey { chunk, .. } => Blame::Chunk(*chunk),
            // Verifying never opens a payload.
            ReadError::Encrypted => Blame::Header,
            ReadError::Seal { .. } | ReadError::AfterSeal { .. } => Blame::Seal,
        }
    }

    /// Splits a sample into header, chunk records and seal.
    fn parts(s: &Sample) -> (Vec<u8>, Vec<Vec<u8>>, Vec<u8>) {
        let mut chunks = Vec::new();
        let mut start = s.header_len;
        for end in &s.chunk_ends {
            chunks.push(s.bytes[start..*end].to_vec());
            start = *end;
        }
        (
            s.bytes[..s.header_len].to_vec(),
            chunks,
            s.bytes[start..].to_vec(),
        )
    }

    fn join(header: &[u8], chunks: &[Vec<u8>], seal: &[u8]) -> Vec<u8> {
        let mut out = header.to_vec();
        for c in chunks {
            out.extend_from_slice(c);
        }
        out.extend_from_slice(seal);
        out
    }

    #[test]
    fn intact_sealed_recording_verifies() {
        let report = check(&sample(true).bytes);
        assert!(report.is_ok() && report.is_sealed());
        assert_eq!(
            report.to_string(),
            "recording s-1a2b: ok: 4 chunks, sealed (session ended: client closed)"
        );
    }

    #[test]
    fn unsealed_recording_verifies_as_cut_short() {
        let s = sample(false);
        let report = check(&s.bytes);
        assert!(report.is_ok() && !report.is_sealed());
        assert_eq!(
            report.to_string(),
            format!(
                "recording s-1a2b: ok up to chunk 3: cut short (not sealed) after byte {}",
                s.bytes.len()
            )
        );
    }

    #[test]
    fn flipping_any_byte_fails_and_names_the_part_holding_it() {
        for sealed in [true, false] {
            let s = sample(sealed);
            for at in 0..s.bytes.len() {
                let expected = if at < s.header_len {
                    Blame::Header
                } else {
                    match s.chunk_ends.iter().position(|end| at < *end) {
                        Some(chunk) => Blame::Chunk(chunk as u64),
                        None => Blame::Seal,
                    }
                };
                for flip in [0x01u8, 0x10, 0x80, 0xff] {
                    let mut bytes = s.bytes.clone();
                    bytes[at] ^= flip;
                    let report = check(&bytes);
                    assert!(!report.is_ok(), "flip {flip:#x} at {at} went unnoticed");
                    assert_eq!(blame(&report), expected, "flip {flip:#x} at {at}: {report}");
                }
            }
        }
    }

    #[test]
    fn removed_chunk_is_named() {
        for sealed in [true, false] {
            let s = sample(sealed);
            let (header, chunks, seal) = parts(&s);
            // Without a seal, losing the last chunk looks like being cut short earlier.
            let removable = if sealed { 4 } else { 3 };
            for k in 0..removable {
                let mut kept = chunks.clone();
                kept.remove(k);
                let report = check(&join(&header, &kept, &seal));
                assert!(
                    matches!(report.outcome, Err(ReadError::Removed { chunk, .. }) if chunk == k as u64),
                    "removing {k}: {report}"
                );
                assert!(report.to_string().contains(&format!("chunk {k} removed")));
            }
        }
    }

    #[test]
    fn swapped_chunks_are_reordered() {
        let s = sample(true);
        let (header, chunks, seal) = parts(&s);
        for k in 0..3 {
            let mut swapped = chunks.clone();
            swapped.swap(k, k + 1);
            let report = check(&join(&header, &swapped, &seal));
            let at_byte = s
                .chunk_ends
                .get(k.wrapping_sub(1))
                .copied()
                .unwrap_or(s.header_len);
            assert_eq!(
                report.to_string(),
                format!(
                    "recording s-1a2b: chunk {} reordered (found at byte {at_byte} where chunk {k} belongs)",
                    k + 1
                )
            );
        }
    }

    #[test]
    fn duplicated_chunk_is_reordered() {
        let s = sample(true);
        let (header, mut chunks, seal) = parts(&s);
        chunks.insert(2, chunks[1].clone());
        let report = check(&join(&header, &chunks, &seal));
        assert!(
            matches!(
                report.outcome,
                Err(ReadError::Reordered {
                    chunk: 1,
                    expected: 2,
                    ..
                })
            ),
            "{report}"
        );
    }

    #[test]
    fn chunk_from_another_session_is_altered() {
        let s = sample(true);
        let (header, mut chunks, seal) = parts(&s);
        let other = Meta {
            session_id: "s-other".into(),
            ..meta()
        };
        let mut w = Writer::new(Vec::new(), other, &key()).unwrap();
        let mut ends = vec![w.get_ref().len()];
        for i in 0..2 {
            w.push(
                i,
                Event::Marker {
                    text: "x".repeat(300),
                },
            )
            .unwrap();
            w.flush_chunk().unwrap();
            ends.push(w.get_ref().len());
        }
        chunks[1] = w.get_ref()[ends[1]..ends[2]].to_vec();
        let report = check(&join(&header, &chunks, &seal));
        assert_eq!(
            report.to_string(),
            format!(
                "recording s-1a2b: chunk 1 altered (signature mismatch at byte {})",
                s.chunk_ends[0]
            )
        );
    }

    #[test]
    fn recording_signed_by_another_gateway_names_the_key() {
        let mut w = Writer::new(Vec::new(), meta(), &other_key()).unwrap();
        w.push(1, Event::Marker { text: "hi".into() }).unwrap();
        let bytes = w.seal(2, "client closed").unwrap();
        let report = check(&bytes);
        assert!(!report.is_ok());
        assert_eq!(
            report.to_string(),
            format!(
                "recording s-1a2b: signed by another gateway key ({}, expected {})",
                hex::encode(other_key().verifying_key().as_bytes()),
                hex::encode(key().verifying_key().as_bytes())
            )
        );
    }

    #[test]
    fn truncation_anywhere_after_the_header_verifies_as_cut_short() {
        let s = sample(true);
        for cut in s.header_len..s.bytes.len() {
            let report = check(&s.bytes[..cut]);
            assert!(
                report.is_ok() && !report.is_sealed(),
                "cut at {cut}: {report}"
            );
            assert!(report.to_string().contains("cut short (not sealed)"));
        }
    }

    #[test]
    fn altered_chunk_message_names_chunk_and_byte() {
        let s = sample(true);
        let mut bytes = s.bytes.clone();
        bytes[s.chunk_ends[2] + 21 + 64 + 5] ^= 1;
        assert_eq!(
            check(&bytes).to_string(),
            format!(
                "recording s-1a2b: chunk 3 altered (signature mismatch at byte {})",
                s.chunk_ends[2]
            )
        );
    }
}
