//! Reading a recording from bytes: the chain walk shared with [`crate::verify()`], and
//! [`Recording`], the decoded events with their metadata.
//!
//! The walk is strict: every chunk's framing, sequence number, hash, chain link and
//! signature (against the key in the header) must hold, or the first one that does not is
//! reported. [`Recording::parse_for_replay`] (the browser's player) first checks only the
//! last record's signature (`Signatures::Last`): each chunk's hash covers the one before
//! it, so the signature of the seal (or, cut short, of the last chunk) vouches for every
//! event before it, and a replay opens without verifying thousands of signatures; anything
//! wrong, and it walks again checking every signature, to name the first bad record as
//! [`Recording::parse`] and [`crate::verify()`] (which check every one) do. The one thing
//! tolerated is a file that ends inside its last record, which is what a crash of the
//! gateway leaves behind. The walk needs no data key: the chain covers
//! the sealed payloads; [`Recording::parse`] then opens them (`payload.rs`). Works on `&[u8]`
//! only (no file system), so it also builds for the browser. Deciding whether the header's
//! key is trusted is `verify.rs`.

use ed25519_dalek::VerifyingKey;

use crate::codec::Decoder;
use crate::error::ReadError;
use crate::event::Event;
use crate::format::{self, Frame, FrameRead, Hash, Header, TAG_CHUNK, TAG_SEAL};
use crate::meta::Meta;
use crate::payload::{DataKey, OpenError, Opener};

/// How a recording ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The gateway sealed it when the session ended.
    Sealed {
        /// End time, microseconds since the recording started.
        at_micros: u64,
        /// Why the session ended, e.g. `client closed` or `grant expired`.
        reason: String,
    },
    /// No seal: the gateway stopped without closing the recording (crash, kill -9, full
    /// disk), or it is still being written.
    CutShort {
        /// Length of the intact part: everything from here on is ignored.
        at_byte: u64,
        /// The last complete chunk, `None` if there is none.
        after_chunk: Option<u64>,
    },
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Sealed { reason, .. } => write!(f, "sealed (session ended: {reason})"),
            Ending::CutShort {
                at_byte,
                after_chunk: Some(chunk),
            } => write!(
                f,
                "cut short (not sealed) at byte {at_byte} after chunk {chunk}"
            ),
            Ending::CutShort {
                at_byte,
                after_chunk: None,
            } => write!(
                f,
                "cut short (not sealed) at byte {at_byte} before the first chunk"
            ),
        }
    }
}

/// A chunk that passed every check.
pub(crate) struct GoodChunk<'a> {
    pub seq: u64,
    /// Offset of the event bytes in the file.
    pub events_at: usize,
    pub events: &'a [u8],
}

/// The result of walking the chain.
pub(crate) struct Walk<'a> {
    pub header: Header,
    /// Chunks that passed, in order, up to the first problem.
    pub chunks: Vec<GoodChunk<'a>>,
    /// Hash of the last good chunk (the header's if none).
    pub head: Hash,
    /// How the recording ends, or the first problem found after the header.
    pub outcome: Result<Ending, ReadError>,
}

/// Which chunk signatures a walk verifies. The seal's is always verified.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signatures {
    /// Every chunk's: the first bad one is named (`Recording::parse`, `recording verify`).
    Every,
    /// Only the last record's (the seal's, or the last chunk's when cut short): it covers
    /// the chunks before it through their hashes, which are all checked.
    Last,
}

/// Walks header, chunks and seal. `Err` only when the header itself is unusable.
pub(crate) fn walk(bytes: &[u8], signatures: Signatures) -> Result<Walk<'_>, ReadError> {
    if bytes.is_empty() {
        return Err(ReadError::Empty);
    }
    let header = format::parse_header(bytes)?;

    // First pass: the records' framing, so that a misplaced chunk can be told from a
    // missing one by looking ahead.
    let mut frames = Vec::new();
    let mut pos = header.len;
    let tail = loop {
        if pos >= bytes.len() || is_padding(bytes.get(pos..).unwrap_or_default()) {
            break Tail::End;
        }
        match format::read_frame(bytes, pos) {
            FrameRead::Whole(frame) => {
                pos = frame.end();
                frames.push(frame);
            }
            FrameRead::Truncated => break Tail::Truncated,
            FrameRead::Damaged { tag, seq, body_len } => {
                break Tail::Damaged { tag, seq, body_len }
            }
        }
    };

    let mut walk = Walk {
        head: header.hash,
        header,
        chunks: Vec::new(),
        // Replaced below in every case; the walk is returned only once it is known.
        outcome: Err(ReadError::NotARecording),
    };
    let mut seal = None;
    for (index, frame) in frames.iter().enumerate() {
        if seal.is_some() {
            walk.outcome = Err(ReadError::AfterSeal {
                at_byte: frame.at as u64,
            });
            return Ok(walk);
        }
        let expected = walk.chunks.len() as u64;
        let later = frames.get(index + 1..).unwrap_or_default();
        let signed = signatures == Signatures::Every || later.is_empty();
        let checked = match frame.tag {
            TAG_CHUNK => check_chunk(&walk, frame, expected, later, signed).map(|c| {
                walk.head = c.1;
                walk.chunks.push(c.0);
            }),
            TAG_SEAL => check_seal(&walk, frame, expected).map(|s| seal = Some(s)),
            // The record header's check passed, so only a forger writes this.
            _ => Err(ReadError::Altered {
                chunk: expected,
                at_byte: frame.at as u64,
                what: "unknown record type",
            }),
        };
        if let Err(e) = checked {
            walk.outcome = Err(e);
            return Ok(walk);
        }
    }

    let after_chunk = walk.chunks.last().map(|c| c.seq);
    walk.outcome = match (tail, seal) {
        (Tail::End, Some(ending)) => Ok(ending),
        (Tail::End | Tail::Truncated, None) => Ok(Ending::CutShort {
            at_byte: pos as u64,
            after_chunk,
        }),
        (Tail::Truncated | Tail::Damaged { .. }, Some(_)) => Err(ReadError::AfterSeal {
            at_byte: pos as u64,
        }),
        (Tail::Damaged { tag, seq, body_len }, None) => {
            Err(damaged(&walk, bytes, pos, tag, seq, body_len))
        }
    };
    Ok(walk)
}

/// Whether the bytes after the last whole record are the zero padding of a direct write
/// (the gateway writes whole blocks of 4096 bytes and trims the file when the recording
/// ends, so a live or crashed recording can end in fewer than that): taken as the file's
/// end. Zeros never make a record (no record type is 0).
fn is_padding(rest: &[u8]) -> bool {
    rest.len() < PADDING_MAX && rest.iter().all(|b| *b == 0)
}

/// Padding is shorter than this: the block size of direct writes.
const PADDING_MAX: usize = 4096;

/// How the records end.
enum Tail {
    /// Exactly at the end of the file.
    End,
    /// Inside a record.
    Truncated,
    /// At a record whose header fails its check.
    Damaged { tag: u8, seq: u64, body_len: u32 },
}

/// Checks chunk `frame`, expected to be chunk number `expected`; its signature too when
/// `signed`.
fn check_chunk<'a>(
    walk: &Walk<'_>,
    frame: &Frame<'a>,
    expected: u64,
    later: &[Frame<'_>],
    signed: bool,
) -> Result<(GoodChunk<'a>, Hash), ReadError> {
    let at_byte = frame.at as u64;
    if frame.seq != expected {
        let expected_comes_later = later
            .iter()
            .any(|f| f.tag == TAG_CHUNK && f.seq == expected);
        return Err(if frame.seq < expected || expected_comes_later {
            ReadError::Reordered {
                chunk: frame.seq,
                expected,
                at_byte,
            }
        } else {
            ReadError::Removed {
                chunk: expected,
                at_byte,
            }
        });
    }
    let altered = |what| ReadError::Altered {
        chunk: expected,
        at_byte,
        what,
    };
    let body = format::split_chunk(frame.body).ok_or_else(|| altered("chunk too short"))?;
    if format::chunk_hash(walk.header.version, &body.prev, frame.seq, body.events) != body.hash {
        return Err(altered("hash mismatch"));
    }
    let msg = format::chunk_message(&walk.header.hash, frame.seq, &body.hash);
    if signed && !format::signature_ok(&walk.header.key, &msg, &body.sig) {
        return Err(altered("signature mismatch"));
    }
    if body.prev != walk.head {
        return Err(altered("does not link to the previous chunk"));
    }
    let chunk = GoodChunk {
        seq: frame.seq,
        events_at: frame.at + format::FRAME_HEADER_LEN + format::CHUNK_FIXED_LEN,
        events: body.events,
    };
    Ok((chunk, body.hash))
}

fn check_seal(walk: &Walk<'_>, frame: &Frame<'_>, expected: u64) -> Result<Ending, ReadError> {
    let at_byte = frame.at as u64;
    let altered = |what| ReadError::Seal { at_byte, what };
    let body = format::split_seal(frame.body).ok_or_else(|| altered("seal too short"))?;
    if !format::seal_signature_ok(&walk.header.key, &walk.header.hash, frame.seq, frame.body) {
        return Err(altered("signature mismatch"));
    }
    if frame.seq > expected {
        return Err(ReadError::Removed {
            chunk: expected,
            at_byte,
        });
    }
    if frame.seq < expected || body.head != walk.head {
        return Err(altered("does not match the chunks before it"));
    }
    let reason = std::str::from_utf8(body.reason).map_err(|_| altered("reason is not UTF-8"))?;
    Ok(Ending::Sealed {
        at_micros: body.end_micros,
        reason: reason.to_owned(),
    })
}

/// Names the record whose header fails its check. A damaged type byte cannot be trusted,
/// so the body decides first: if it verifies as a seal or as a chunk, that is what it is;
/// otherwise the type byte (then intact, the damage being elsewhere in the header) does.
fn damaged(
    walk: &Walk<'_>,
    bytes: &[u8],
    at: usize,
    tag: u8,
    seq: u64,
    body_len: u32,
) -> ReadError {
    let at_byte = at as u64;
    let what = "damaged record header";
    let as_seal = ReadError::Seal { at_byte, what };
    let as_chunk = ReadError::Altered {
        chunk: walk.chunks.len() as u64,
        at_byte,
        what,
    };
    let start = at + format::FRAME_HEADER_LEN;
    let body = usize::try_from(body_len)
        .ok()
        .and_then(|len| bytes.get(start..start.checked_add(len)?));
    let (key, header) = (&walk.header.key, &walk.header.hash);
    match body {
        Some(body) if format::seal_signature_ok(key, header, seq, body) => as_seal,
        Some(body) if format::chunk_signature_ok(walk.header.version, key, header, seq, body) => {
            as_chunk
        }
        _ if tag == TAG_SEAL => as_seal,
        _ => as_chunk,
    }
}

/// Decodes one chunk's events onto `events`; `at_byte` maps an offset in `plain` to the one
/// reported.
fn decode_into(
    events: &mut Vec<(u64, Event)>,
    plain: &[u8],
    chunk: u64,
    at_byte: impl Fn(usize) -> usize,
) -> Result<(), ReadError> {
    let mut decoder = Decoder::new(plain);
    loop {
        match decoder.next_event() {
            Ok(Some(event)) => events.push(event),
            Ok(None) => return Ok(()),
            Err(e) => {
                return Err(ReadError::BadEvent {
                    chunk,
                    at_byte: at_byte(e.at) as u64,
                    what: e.what,
                })
            }
        }
    }
}

/// A parsed recording: metadata, events, and how it ends. Every chunk was checked against
/// the gateway key named in the header; use [`crate::verify()`] to also check that key.
#[derive(Clone, Debug)]
pub struct Recording {
    meta: Meta,
    gateway_key: VerifyingKey,
    events: Vec<(u64, Event)>,
    chunks: u64,
    head: Hash,
    ending: Ending,
}

impl Recording {
    /// Parses a whole recording. A partial last record is tolerated (see [`Ending`]); any
    /// other damage is an error naming the chunk and byte offset. An encrypted recording
    /// (`Meta::key` set) needs its unwrapped `data_key`, others ignore it.
    pub fn parse(bytes: &[u8], data_key: Option<&DataKey>) -> Result<Recording, ReadError> {
        Recording::read(bytes, data_key, Signatures::Every)
    }

    /// [`Recording::parse`] for the replay in the browser, which opens an hour-long
    /// recording in a fraction of the time: every chunk's hash and link are checked, but
    /// only the last record's signature (the seal's, or the last chunk's when cut short),
    /// which vouches for every chunk's content before it through the chain. So the events
    /// are exactly those the gateway signed; damage to an earlier chunk's signature bytes
    /// alone, which changes no event, is left to [`Recording::parse`] and
    /// [`crate::verify()`]. Any fault found is named as `parse` names it.
    pub fn parse_for_replay(
        bytes: &[u8],
        data_key: Option<&DataKey>,
    ) -> Result<Recording, ReadError> {
        Recording::read(bytes, data_key, Signatures::Last)
    }

    fn read(
        bytes: &[u8],
        data_key: Option<&DataKey>,
        signatures: Signatures,
    ) -> Result<Recording, ReadError> {
        let walk = match walk(bytes, signatures) {
            Ok(walk) if walk.outcome.is_ok() || signatures == Signatures::Every => walk,
            // Named as the full check names it: the first bad signature, not a later fault.
            _ => walk(bytes, Signatures::Every)?,
        };
        let ending = walk.outcome?;
        let sealed = walk.header.meta.key.is_some();
        if sealed && data_key.is_none() {
            return Err(ReadError::Encrypted);
        }
        let mut events = Vec::new();
        let mut opener = Opener::new(walk.header.version, sealed, data_key);
        for chunk in &walk.chunks {
            let chunk_at = chunk.events_at - format::FRAME_HEADER_LEN - format::CHUNK_FIXED_LEN;
            // Version 1 chunks hold the events as they are; offsets into them are offsets
            // into the file. A version 2 payload's offsets are its own: the chunk's is given.
            let v1 = walk.header.version == 1;
            let opened;
            let plain = if v1 {
                chunk.events
            } else {
                let header = &walk.header.hash;
                opened = opener
                    .open(chunk.events, header, chunk.seq)
                    .map_err(|e| match e {
                        OpenError::NoKey => ReadError::Encrypted,
                        OpenError::WrongKey => ReadError::WrongDataKey {
                            chunk: chunk.seq,
                            at_byte: chunk_at as u64,
                        },
                        OpenError::Malformed(what) => ReadError::BadEvent {
                            chunk: chunk.seq,
                            at_byte: chunk.events_at as u64,
                            what,
                        },
                    })?;
                opened.as_slice()
            };
            let events_at = chunk.events_at;
            decode_into(&mut events, plain, chunk.seq, |at| {
                events_at + if v1 { at } else { 0 }
            })?;
        }
        Ok(Recording {
            meta: walk.header.meta,
            gateway_key: walk.header.key,
            events,
            chunks: walk.chunks.len() as u64,
            head: walk.head,
            ending,
        })
    }

    /// The metadata of the signed header alone, chunks unread: where a reader finds the
    /// wrapped data key (`Meta::key`) it must unwrap before [`Recording::parse`].
    pub fn meta_of(bytes: &[u8]) -> Result<Meta, ReadError> {
        if bytes.is_empty() {
            return Err(ReadError::Empty);
        }
        Ok(format::parse_header(bytes)?.meta)
    }

    /// The metadata from the header.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The gateway key named in the header.
    pub fn gateway_key(&self) -> &VerifyingKey {
        &self.gateway_key
    }

    /// All events in recorded order, with their time in microseconds since the start.
    pub fn events(&self) -> &[(u64, Event)] {
        &self.events
    }

    /// Takes the events out.
    pub fn into_events(self) -> Vec<(u64, Event)> {
        self.events
    }

    /// Number of complete chunks.
    pub fn chunk_count(&self) -> u64 {
        self.chunks
    }

    /// Hash of the last complete chunk (of the header if none).
    pub fn head_hash(&self) -> [u8; 32] {
        self.head
    }

    /// How the recording ends.
    pub fn ending(&self) -> &Ending {
        &self.ending
    }

    /// Whether the gateway sealed the recording.
    pub fn is_sealed(&self) -> bool {
        matches!(self.ending, Ending::Sealed { .. })
    }

    /// Why the session ended, if sealed.
    pub fn end_reason(&self) -> Option<&str> {
        match &self.ending {
            Ending::Sealed { reason, .. } => Some(reason),
            Ending::CutShort { .. } => None,
        }
    }

    /// Recording length in microseconds: the seal's end time, or the last event's time.
    pub fn duration_micros(&self) -> u64 {
        let last_event = self.events.iter().map(|(at, _)| *at).max().unwrap_or(0);
        match self.ending {
            Ending::Sealed { at_micros, .. } => at_micros.max(last_event),
            Ending::CutShort { .. } => last_event,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Stream;
    use crate::testutil::{data_key, key, meta, sample, Sample};
    use crate::writer::Writer;
    use crate::DataKey;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_byte_streams_round_trip_losslessly(
            packets in proptest::collection::vec(
                (0..3u8, proptest::collection::vec(any::<u8>(), 0..2000), any::<bool>()),
                0..40,
            ),
            events in proptest::collection::vec(crate::codec::tests::arb_event(), 0..10),
        ) {
            let mut w =
                Writer::encrypted(Vec::new(), meta(), &key(), &data_key(), "wrapped".into())
                    .unwrap();
            let mut expected = Vec::new();
            let mut t = 0;
            for (stream, data, flush) in packets {
                t += 17;
                let (stream, event) = match stream {
                    0 => (Stream::Input, Event::Input { channel: 0, data: data.clone() }),
                    1 => (Stream::Output, Event::Output { channel: 0, data: data.clone() }),
                    _ => (Stream::Stderr, Event::Stderr { channel: 0, data: data.clone() }),
                };
                w.push_data(t, stream, 0, &data).unwrap();
                expected.push((t, event));
                if flush {
                    w.flush_chunk().unwrap();
                }
            }
            for event in events {
                t += 1;
                w.push(t, event.clone()).unwrap();
                expected.push((t, event));
            }
            let bytes = w.seal(t + 1, "client closed").unwrap();
            let rec = Recording::parse(&bytes, Some(&data_key())).unwrap();
            prop_assert_eq!(rec.events(), &expected[..]);
            prop_assert_eq!(rec.meta(), &Meta { key: Some("wrapped".into()), ..meta() });
            prop_assert_eq!(rec.end_reason(), Some("client closed"));
        }
    }

    #[test]
    fn a_version_1_recording_still_reads_and_verifies() {
        // Written by the version 1 writer: events as they are, no data key in the header.
        let old = include_bytes!("../testdata/v1-sample.mwrec");
        assert_eq!(u16::from_le_bytes([old[8], old[9]]), 1);
        let rec = Recording::parse(old, None).unwrap();
        let new = Recording::parse(&sample(true).bytes, Some(&data_key())).unwrap();
        assert_eq!(rec.events(), new.events());
        assert_eq!(rec.meta(), &meta());
        assert_eq!(rec.end_reason(), Some("client closed"));
        assert!(crate::verify(old, &key().verifying_key()).is_sealed());
    }

    /// Reads and verifies `old`, a sealed recording of format `version` made from the same
    /// events as [`sample`], and checks that another data key is named as wrong; the new
    /// writer's file of the same events is version 4 and differs from it.
    fn an_old_recording_reads_and_verifies(old: &[u8], version: u16) {
        assert_eq!(u16::from_le_bytes([old[8], old[9]]), version);
        let rec = Recording::parse(old, Some(&data_key())).unwrap();
        let new = Recording::parse(&sample(true).bytes, Some(&data_key())).unwrap();
        assert_eq!(rec.events(), new.events());
        assert_eq!(rec.end_reason(), Some("client closed"));
        assert!(crate::verify(old, &key().verifying_key()).is_sealed());
        let other = DataKey::from_bytes([1; 32]);
        assert!(matches!(
            Recording::parse(old, Some(&other)).unwrap_err(),
            ReadError::WrongDataKey { chunk: 0, .. }
        ));
        let bytes = sample(true).bytes;
        assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 4);
        assert_ne!(bytes[..], old[..]);
    }

    #[test]
    fn a_version_2_recording_still_reads_and_verifies() {
        // Written by the version 2 writer: ChaCha20-Poly1305 payloads, a SHA-256 chain.
        an_old_recording_reads_and_verifies(include_bytes!("../testdata/v2-sample.mwrec"), 2);
    }

    #[test]
    fn a_version_3_recording_still_reads_and_verifies() {
        // Written by the version 3 writer: AES-256-GCM payloads, a BLAKE3 chain.
        let old = include_bytes!("../testdata/v3-sample.mwrec");
        an_old_recording_reads_and_verifies(old, 3);
        // Same events and framing, another AEAD: as long as the version 4 file.
        assert_eq!(sample(true).bytes.len(), old.len());
        let mut flipped = old.to_vec();
        let last = flipped.len() - 200;
        flipped[last] ^= 1;
        assert!(!crate::verify(&flipped, &key().verifying_key()).is_sealed());
    }

    /// `s` with one byte of chunk `n`'s payload changed and every hash from there on
    /// recomputed and linked again (the seal's head too): what a forger without the
    /// gateway's signing key can do. Only the signatures are left as they were.
    fn rehashed(s: &Sample, n: usize) -> Vec<u8> {
        let mut bytes = s.bytes.clone();
        let starts: Vec<usize> = std::iter::once(s.header_len)
            .chain(s.chunk_ends.iter().copied())
            .collect();
        let body = |i: usize| starts[i] + format::FRAME_HEADER_LEN;
        bytes[body(n) + format::CHUNK_FIXED_LEN + 5] ^= 1;
        let mut prev: Hash = format::array(&bytes, body(n)).unwrap();
        for (i, end) in s.chunk_ends.iter().enumerate().skip(n) {
            let at = body(i);
            bytes[at..at + 32].copy_from_slice(&prev);
            let events = &bytes[at + format::CHUNK_FIXED_LEN..*end];
            prev = format::chunk_hash(format::VERSION, &prev, i as u64, events);
            bytes[at + 32..at + 64].copy_from_slice(&prev);
        }
        if bytes.len() > *s.chunk_ends.last().unwrap() {
            let at = body(s.chunk_ends.len());
            bytes[at..at + 32].copy_from_slice(&prev);
        }
        bytes
    }

    #[test]
    fn a_chain_hashed_again_without_the_signing_key_is_refused_and_named_as_verify_names_it() {
        for sealed in [true, false] {
            let s = sample(sealed);
            for n in 0..s.chunk_ends.len() {
                let forged = rehashed(&s, n);
                let e = Recording::parse_for_replay(&forged, Some(&data_key())).unwrap_err();
                assert!(
                    matches!(
                        e,
                        ReadError::Altered { chunk, what: "signature mismatch", .. } if chunk == n as u64
                    ),
                    "sealed {sealed}, chunk {n}: {e}"
                );
                let report = crate::verify(&forged, &key().verifying_key());
                let full = Recording::parse(&forged, Some(&data_key())).unwrap_err();
                for other in [report.outcome.unwrap_err(), full] {
                    assert_eq!(
                        other.to_string(),
                        e.to_string(),
                        "sealed {sealed}, chunk {n}"
                    );
                }
            }
        }
    }

    #[test]
    fn an_earlier_chunks_signature_bytes_alone_stop_parse_and_verify_not_the_replay() {
        let s = sample(true);
        let mut bytes = s.bytes.clone();
        // Chunk 1's signature, after its frame header, prev and hash.
        bytes[s.chunk_ends[0] + format::FRAME_HEADER_LEN + 64 + 3] ^= 1;
        let e = Recording::parse(&bytes, Some(&data_key())).unwrap_err();
        assert!(
            matches!(
                e,
                ReadError::Altered {
                    chunk: 1,
                    what: "signature mismatch",
                    ..
                }
            ),
            "{e}"
        );
        let report = crate::verify(&bytes, &key().verifying_key());
        assert_eq!(report.outcome.unwrap_err().to_string(), e.to_string());
        // The events are still the ones the seal's signature vouches for.
        let replay = Recording::parse_for_replay(&bytes, Some(&data_key())).unwrap();
        let whole = Recording::parse(&s.bytes, Some(&data_key())).unwrap();
        assert_eq!(replay.events(), whole.events());
        assert!(replay.is_sealed());
    }

    #[test]
    fn an_encrypted_recording_needs_its_data_key_and_names_a_wrong_one() {
        let Sample {
            bytes, header_len, ..
        } = sample(true);
        assert_eq!(
            Recording::meta_of(&bytes).unwrap().key.as_deref(),
            Some("wrapped")
        );
        let err = Recording::parse(&bytes, None).unwrap_err();
        assert_eq!(err, ReadError::Encrypted);
        assert!(err.to_string().contains("needs its data key"), "{err}");
        let other = DataKey::from_bytes([1; 32]);
        let err = Recording::parse(&bytes, Some(&other)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("chunk 0 does not decrypt with this data key (at byte {header_len}): the key belongs to another recording")
        );
        // Verifying needs no key.
        assert!(crate::verify(&bytes, &key().verifying_key()).is_sealed());
    }

    #[test]
    fn an_encrypted_file_holds_none_of_the_plaintext() {
        let Sample { bytes, .. } = sample(true);
        let rec = Recording::parse(&bytes, Some(&data_key())).unwrap();
        for (_, event) in rec.events() {
            if let Event::Output { data, .. } | Event::Stderr { data, .. } = event {
                for needle in data.chunks(8).filter(|c| c.len() == 8) {
                    assert!(
                        !bytes.windows(8).any(|w| w == needle),
                        "{:?} is in the file",
                        String::from_utf8_lossy(needle)
                    );
                }
            }
        }
    }

    #[test]
    fn sealed_recording_reports_reason_and_end_time() {
        let Sample { bytes, .. } = sample(true);
        let rec = Recording::parse(&bytes, Some(&data_key())).unwrap();
        assert!(rec.is_sealed());
        assert_eq!(
            rec.ending(),
            &Ending::Sealed {
                at_micros: 9_000_000,
                reason: "client closed".into()
            }
        );
        assert_eq!(rec.chunk_count(), 4);
        assert_eq!(rec.duration_micros(), 9_000_000);
        assert_eq!(rec.gateway_key(), &key().verifying_key());
    }

    #[test]
    fn unsealed_recording_is_cut_short_after_its_last_chunk() {
        let Sample {
            bytes, chunk_ends, ..
        } = sample(false);
        let rec = Recording::parse(&bytes, Some(&data_key())).unwrap();
        assert!(!rec.is_sealed());
        assert_eq!(rec.end_reason(), None);
        assert_eq!(
            rec.ending(),
            &Ending::CutShort {
                at_byte: bytes.len() as u64,
                after_chunk: Some(3)
            }
        );
        assert_eq!(*chunk_ends.last().unwrap(), bytes.len());
        assert_eq!(
            rec.ending().to_string(),
            format!(
                "cut short (not sealed) at byte {} after chunk 3",
                bytes.len()
            )
        );
    }

    #[test]
    fn zero_padding_of_a_direct_write_after_the_last_record_reads_as_the_files_end() {
        for sealed in [true, false] {
            let Sample { bytes, .. } = sample(sealed);
            let whole = Recording::parse(&bytes, Some(&data_key())).unwrap();
            for pad in [1, 21, PADDING_MAX - 1] {
                let mut padded = bytes.clone();
                padded.resize(bytes.len() + pad, 0);
                let rec = Recording::parse(&padded, Some(&data_key()))
                    .unwrap_or_else(|e| panic!("sealed {sealed}, {pad} zeros: {e}"));
                assert_eq!(rec.ending(), whole.ending(), "sealed {sealed}, {pad} zeros");
                assert_eq!(rec.events(), whole.events());
                let report = crate::verify::verify(&padded, &key().verifying_key());
                assert_eq!(report.outcome.as_ref().ok(), Some(whole.ending()));
            }
            // A block of zeros or more, or anything but zeros, is not padding.
            let mut long = bytes.clone();
            long.resize(bytes.len() + PADDING_MAX, 0);
            let mut marked = bytes.clone();
            marked.resize(bytes.len() + 30, 0);
            marked[bytes.len() + 3] = 1;
            for (what, file) in [("a block of zeros", long), ("a non-zero byte", marked)] {
                let read = Recording::parse(&file, Some(&data_key()));
                assert!(
                    read.is_err(),
                    "sealed {sealed}, {what}: read as {:?}",
                    read.map(|r| r.ending().clone())
                );
            }
        }
    }

    #[test]
    fn truncation_anywhere_after_the_header_keeps_the_chunks_before_it() {
        let Sample {
            bytes,
            header_len,
            chunk_ends,
            events_per_chunk,
        } = sample(true);
        let full = Recording::parse(&bytes, Some(&data_key())).unwrap();
        for cut in header_len..bytes.len() {
            let rec = Recording::parse(&bytes[..cut], Some(&data_key()))
                .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            let complete = chunk_ends.iter().filter(|end| **end <= cut).count();
            let intact = chunk_ends
                .get(complete.wrapping_sub(1))
                .copied()
                .unwrap_or(header_len);
            assert_eq!(
                rec.ending(),
                &Ending::CutShort {
                    at_byte: intact as u64,
                    after_chunk: complete.checked_sub(1).map(|c| c as u64),
                },
                "cut at {cut}"
            );
            let n: usize = events_per_chunk[..complete].iter().sum();
            assert_eq!(rec.events(), &full.events()[..n], "cut at {cut}");
        }
    }

    #[test]
    fn truncation_inside_the_header_is_an_error() {
        let Sample {
            bytes, header_len, ..
        } = sample(true);
        for cut in 1..header_len {
            let err = Recording::parse(&bytes[..cut], Some(&data_key())).unwrap_err();
            assert!(
                matches!(err, ReadError::Header { .. }),
                "cut at {cut}: {err}"
            );
        }
    }

    #[test]
    fn an_empty_file_says_it_is_empty() {
        let err = Recording::parse(b"", Some(&data_key())).unwrap_err();
        assert_eq!(err, ReadError::Empty);
        assert_eq!(
            err.to_string(),
            "the file is empty: no recording was ever written to it"
        );
    }

    #[test]
    fn other_files_are_not_recordings() {
        assert_eq!(
            Recording::parse(b"SSH-2.0-OpenSSH_9.6\r\n", Some(&data_key())).unwrap_err(),
            ReadError::NotARecording
        );
        assert_eq!(
            Recording::parse(b"{\"version\": 2}", Some(&data_key()))
                .unwrap_err()
                .to_string(),
            "not a Menwei recording (the file does not start with the recording magic)"
        );
    }

    #[test]
    fn a_newer_version_is_named() {
        let Sample { mut bytes, .. } = sample(true);
        bytes[8] = 9;
        assert_eq!(
            Recording::parse(&bytes, Some(&data_key())).unwrap_err(),
            ReadError::UnsupportedVersion {
                found: 9,
                supported: 4
            }
        );
    }

    #[test]
    fn garbage_in_the_middle_names_chunk_and_byte() {
        let Sample {
            mut bytes,
            chunk_ends,
            ..
        } = sample(true);
        let at = chunk_ends[1] + 200;
        bytes[at] ^= 0x40;
        let err = Recording::parse(&bytes, Some(&data_key())).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("chunk 2 altered (hash mismatch at byte {})", chunk_ends[1])
        );
    }

    #[test]
    fn hundred_mib_of_output_round_trips() {
        let packet: Vec<u8> = (0..32 * 1024u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut w = Writer::new(Vec::new(), meta(), &key()).unwrap();
        let started = std::time::Instant::now();
        for i in 0..3200u64 {
            w.push_data(i, Stream::Output, 0, &packet).unwrap();
            if w.buffered_bytes() > 1 << 20 {
                w.flush_chunk().unwrap();
            }
        }
        let bytes = w.seal(3200, "client closed").unwrap();
        let wrote = started.elapsed();
        let rec = Recording::parse(&bytes, Some(&data_key())).unwrap();
        let read = started.elapsed() - wrote;
        let report = crate::verify(&bytes, &key().verifying_key());
        eprintln!(
            "100 MiB: write {wrote:?}, parse {read:?}, verify {:?}",
            started.elapsed() - wrote - read
        );
        assert!(report.is_sealed(), "{report}");
        assert_eq!(rec.events().len(), 3200);
        assert!(rec
            .events()
            .iter()
            .all(|(_, e)| matches!(e, Event::Output { data, .. } if *data == packet)));
    }
}
