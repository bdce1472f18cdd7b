//! Menwei's recording format: one file per SSH connection, written by the gateway while the
//! session runs, read back for replay, verified for audit, exported as asciicast v2.
//!
//! The crate is a pure library: no async, no clock, no file system. The [`Writer`] wraps any
//! [`Sink`]: a [`std::io::Write`], or one that lends the memory chunk records are built in
//! (the gateway hands it its direct-I/O recording file); the reader
//! ([`Recording::parse`]) and [`verify()`] work on `&[u8]`, so they also run in the browser.
//!
//! Chunks are compressed (zstd) and encrypted (AEGIS-256X2) under a per-recording
//! [`DataKey`] *before* they are hashed and signed: [`verify()`] needs no key, reading the
//! events needs the data key, which the gateway keeps wrapped by its vault key in the signed
//! header (`Meta::key`). Files of versions 1 (events stored as they are), 2
//! (ChaCha20-Poly1305) and 3 (AES-256-GCM) still read.
//!
//! # Format (version 4)
//!
//! All integers are little-endian. `H(x)` is SHA-256; `C(x)`, the chunk hash, is BLAKE3 from
//! version 3 (SHA-256 in versions 1 and 2).
//!
//! ```text
//! file    = header record* [seal]            records are appended, never rewritten
//! header  = magic "\x89MWREC\r\n" | version u16 | gateway key [32] | meta_len u32
//!           | meta (JSON of Meta) | sig [64]   sig: Ed25519 over all header bytes before it
//! record  = tag u8 | seq u64 | body_len u32 | check [8] | body
//!           check = H("menwei-rec frame" | tag | seq | body_len)[..8]  (catches damaged
//!           lengths, so a damaged record is never mistaken for a cut-short one)
//! chunk   = tag 'C', seq = 0, 1, 2, ...;  body = prev [32] | hash [32] | sig [64] | payload
//!           prev: hash of the previous chunk, for chunk 0 H(header)
//!           hash = C("menwei-rec chunk" | prev | seq | payload)
//!           payload: the events, compressed and sealed (AEGIS-256X2 in version 4,
//!           AES-256-GCM in 3, ChaCha20-Poly1305 in 2), see `payload.rs` (version 1: the
//!           events as they are)
//!           sig: Ed25519 over "menwei-rec chunk sig" | H(header) | seq | hash
//! seal    = tag 'S', seq = number of chunks;  body = head [32] | end_micros u64 | sig [64]
//!           | reason (UTF-8);  head = hash of the last chunk (H(header) if none)
//!           sig: Ed25519 over "menwei-rec seal" | H(header) | seq | head | end_micros | reason
//! events  = (kind u8 | at_micros varint | fields)*   see `codec.rs`; byte strings are
//!           varint length + raw bytes, so any byte sequence survives unchanged
//! ```
//!
//! A file that ends without a seal was cut short (the gateway died); everything up to the
//! last complete chunk is still readable and verifiable, a partial trailing record is ignored.
//!
//! Files: [`event`] (what is recorded), `codec` (event bytes), `format` (framing, hashes,
//! signatures), `payload` (compression, encryption, [`DataKey`]), [`writer`], [`reader`], [`mod@verify`], [`mod@mask`] (typed secrets), [`asciicast`], [`mod@commands`] (the
//! command list a player shows and the API serves), [`error`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod asciicast;
mod codec;
pub mod commands;
pub mod error;
mod escapes;
pub mod event;
mod format;
pub mod mask;
pub mod meta;
mod payload;
pub mod reader;
pub mod verify;
pub mod writer;

#[cfg(test)]
mod testutil;

pub use asciicast::{interactive_channel, to_asciicast, AsciicastOptions};
pub use commands::{commands, Command};
pub use error::{ReadError, WriteError};
pub use event::{Event, Side, Stream};
pub use meta::Meta;
pub use payload::DataKey;
pub use reader::{Ending, Recording};
pub use verify::{verify, VerifyReport};
pub use writer::{Sink, Writer};

/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u16 = format::VERSION;
