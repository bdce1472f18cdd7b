//! Errors of writing and of reading or verifying a recording.
//!
//! Read errors say what is wrong and where: the chunk number (or header, or seal) and the
//! byte offset of the record in the file, so an auditor can find it with a hex viewer.

/// Writing a recording failed. The gateway stops the session: recording fails closed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The underlying file refused a write or flush.
    #[error("could not write the recording: {0}; the session must stop")]
    Io(#[from] std::io::Error),
    /// The metadata could not be encoded.
    #[error("could not encode the recording metadata: {0}")]
    Meta(#[from] serde_json::Error),
    /// The metadata JSON is larger than the header allows.
    #[error("recording metadata is {len} bytes, more than the header allows (4 GiB)")]
    MetaTooLarge {
        /// Encoded length.
        len: usize,
    },
    /// More events were buffered than one chunk can hold.
    #[error(
        "{len} bytes buffered, more than one chunk holds (4 GiB); call flush_chunk more often"
    )]
    ChunkTooLarge {
        /// Buffered length.
        len: usize,
    },
    /// An earlier write failed, so the file may end in a partial chunk; nothing more is
    /// written after it.
    #[error(
        "an earlier write to the recording failed; the recording ends at its last complete chunk"
    )]
    Failed,
}

/// A recording could not be read or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The file holds no byte: the recording was created but never written (a session
    /// refused before it opened, or a gateway stopped at that instant).
    #[error("the file is empty: no recording was ever written to it")]
    Empty,
    /// The bytes do not start with the recording magic.
    #[error("not a Menwei recording (the file does not start with the recording magic)")]
    NotARecording,
    /// A version this reader does not know.
    #[error("recording format version {found} is not supported (this reader knows versions 1 to {supported}); use a newer menwei")]
    UnsupportedVersion {
        /// Version in the file.
        found: u16,
        /// Version this reader reads.
        supported: u16,
    },
    /// The header is damaged or incomplete.
    #[error("header damaged ({what})")]
    Header {
        /// What is wrong.
        what: String,
    },
    /// The header names another gateway key than the one expected.
    #[error("signed by another gateway key ({found}, expected {expected})")]
    WrongKey {
        /// Key in the header, hex.
        found: String,
        /// Key the caller trusts, hex.
        expected: String,
    },
    /// A chunk's content does not match its hash, signature, framing or chain link.
    #[error("chunk {chunk} altered ({what} at byte {at_byte})")]
    Altered {
        /// The chunk's number.
        chunk: u64,
        /// Offset of the chunk's record in the file.
        at_byte: u64,
        /// What does not match.
        what: &'static str,
    },
    /// A chunk is missing: the sequence jumps.
    #[error("chunk {chunk} removed (missing before byte {at_byte})")]
    Removed {
        /// The first missing chunk.
        chunk: u64,
        /// Offset of the record found in its place.
        at_byte: u64,
    },
    /// A chunk appears out of order (moved or duplicated).
    #[error("chunk {chunk} reordered (found at byte {at_byte} where chunk {expected} belongs)")]
    Reordered {
        /// The chunk found out of place.
        chunk: u64,
        /// The chunk that belongs there.
        expected: u64,
        /// Offset of the misplaced chunk.
        at_byte: u64,
    },
    /// The seal does not match.
    #[error("seal altered ({what} at byte {at_byte})")]
    Seal {
        /// Offset of the seal record.
        at_byte: u64,
        /// What does not match.
        what: &'static str,
    },
    /// Something follows the seal.
    #[error("unexpected data after the seal at byte {at_byte}")]
    AfterSeal {
        /// Offset of the data.
        at_byte: u64,
    },
    /// The recording's chunks are encrypted and no data key was given. Verifying needs
    /// none; reading the events does.
    #[error("the recording is encrypted: reading its events needs its data key (run `menwei recording export` on a gateway host that holds the vault key, or replay it as an auditor)")]
    Encrypted,
    /// A chunk verified but does not decrypt with the data key given: it belongs to another
    /// recording (or the wrapped key in the header was unwrapped with another vault key).
    #[error("chunk {chunk} does not decrypt with this data key (at byte {at_byte}): the key belongs to another recording")]
    WrongDataKey {
        /// The chunk's number.
        chunk: u64,
        /// Offset of the chunk's record in the file.
        at_byte: u64,
    },
    /// A chunk verified but its events do not decode (a writer bug, not tampering).
    #[error("chunk {chunk} has an undecodable event ({what} at byte {at_byte})")]
    BadEvent {
        /// The chunk's number.
        chunk: u64,
        /// Offset of the problem in the file.
        at_byte: u64,
        /// What is wrong.
        what: &'static str,
    },
}
