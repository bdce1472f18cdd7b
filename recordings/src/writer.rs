//! Writing a recording while the session runs.
//!
//! Events are buffered in memory, already encoded; [`Writer::flush_chunk`] compresses and
//! (for [`Writer::encrypted`]) seals the buffer (`payload.rs`), hashes and signs it into one
//! chunk record, writes it in one piece and flushes the inner writer (which should sync to
//! disk). The record is built in memory the [`Sink`] lends where it has some (the gateway's
//! direct-I/O staging buffer: sealing writes the events there, so no byte is copied again
//! before the disk), else in the writer's own buffer, handed to `write_all`.
//!
//! After a large chunk that zstd could not shrink (random data), the chunks that follow are
//! streamed instead: each event is sealed into the record's memory as it is pushed, straight
//! from the caller's packet, and hashed there soon after, so bulk data crosses the writer's
//! CPU once while it is in the cache (`Streamed`). A zstd sample of the streamed data that
//! shrinks sends the next chunk back to buffering and compression. The file is the same
//! either way; only the writer's work differs. The gateway calls it at least every second and when [`Writer::buffered_bytes`]
//! passes its threshold, so a crash loses at most that much. Nothing here reads a clock:
//! callers pass timestamps. Not for reading (see `reader.rs`).

use std::io::Write;

use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

use crate::codec;
use crate::error::WriteError;
use crate::event::{Event, Stream};
use crate::format::{self, Hash};
use crate::meta::Meta;
use crate::payload::{DataKey, Sealer, StreamSeal, PAYLOAD_OVERHEAD, TAG_LEN};

/// A chunk record's bytes before its payload: the record header and the fixed body part
/// (previous hash, own hash, signature).
const PREFIX: usize = format::FRAME_HEADER_LEN + format::CHUNK_FIXED_LEN;

/// Encoded event bytes at which [`Writer::chunk_full`] says a chunk should be written.
/// Large chunks compress terminal text better (a tenth of its size rather than 11% for
/// package-install logs at a quarter of this) and, for bulk data, share the signature, the
/// hashing and the write among more bytes. The gateway also writes a chunk every flush
/// interval, so this bounds memory, not how much a crash can lose.
pub const CHUNK_BYTES: usize = 1024 * 1024;
/// Buffer memory a writer keeps after a chunk much smaller than [`CHUNK_BYTES`]: a session
/// that goes quiet after a burst gives the rest back.
const KEEP: usize = 64 * 1024;
/// Encoded event bytes a chunk stored as it is must reach before the chunks after it are
/// streamed (sealed as their events arrive); a streamed chunk written smaller ends the
/// streaming.
const STREAM_AFTER: usize = 64 * 1024;

/// Bytes a chunk adds around its events at most: the record header, the previous and own
/// hashes, the signature, the payload's compression flag and encryption tag (a chunk that
/// compression does not shrink is stored as it is). With [`event_len_bound`], what a writer's caller needs to know how large
/// the file can grow before the bytes are written (to reserve disk space, or to hold a
/// recording to a size limit).
pub const CHUNK_OVERHEAD: usize = PREFIX + PAYLOAD_OVERHEAD;

/// At most how many bytes `event` takes inside a chunk, whatever its time stamp.
pub fn event_len_bound(event: &Event) -> usize {
    let mut out = Vec::new();
    codec::encode(&mut out, u64::MAX, event);
    out.len()
}

/// At most how many bytes a data event of `len` bytes takes inside a chunk (kind, time,
/// channel and length varints, then the bytes).
pub fn data_len_bound(len: usize) -> usize {
    1 + 10 + 5 + 10 + len
}

/// Bytes the seal takes with a reason of `reason_len` bytes.
pub fn seal_len(reason_len: usize) -> usize {
    format::FRAME_HEADER_LEN + format::SEAL_FIXED_LEN + reason_len
}

/// Where a [`Writer`] puts its records: any [`Write`] (an empty `impl Sink for T {}` takes
/// the defaults: the writer builds each record in its own buffer and hands it to
/// `write_all`), or a sink that lends the writer the memory a chunk record is to be written
/// from, so sealing puts the bytes where they leave from.
pub trait Sink: Write {
    /// `len` bytes of memory for the next chunk record, which [`Sink::commit`] writes; `None`
    /// (the default) when the sink has none to lend.
    fn lend(&mut self, len: usize) -> std::io::Result<Option<&mut [u8]>> {
        let _ = len;
        Ok(None)
    }

    /// Takes the record built in the memory [`Sink::lend`] gave, as if written with
    /// `write_all`. Only called after a lend.
    fn commit(&mut self) -> std::io::Result<()> {
        Err(std::io::Error::other("nothing was lent"))
    }
}

impl Sink for Vec<u8> {}
impl Sink for std::fs::File {}
impl<W: Write> Sink for std::io::BufWriter<W> {}
impl<S: Sink + ?Sized> Sink for &mut S {
    fn lend(&mut self, len: usize) -> std::io::Result<Option<&mut [u8]>> {
        (**self).lend(len)
    }
    fn commit(&mut self) -> std::io::Result<()> {
        (**self).commit()
    }
}

/// Writes one recording to `W`.
pub struct Writer<W: Sink> {
    inner: W,
    key: SigningKey,
    header_hash: Hash,
    /// Hash of the last chunk written (the header's before the first).
    head: Hash,
    next_seq: u64,
    /// The next chunk's encoded events.
    buf: Vec<u8>,
    /// Where a chunk record is built when the sink lends no memory.
    record: Vec<u8>,
    sealer: Sealer,
    /// The chunk being streamed, if any.
    streamed: Option<Streamed>,
    /// Whether the next chunk is streamed: the last one was large, sealed and stored as it
    /// is (random data), and no sample since shrank under zstd.
    stream_next: bool,
    /// One event's bytes before they are streamed (the whole event, or a data event's
    /// header).
    event: Vec<u8>,
    failed: bool,
}

/// A chunk sealed and hashed piece by piece as its events arrive, into the record's memory
/// (the sink's or the writer's `record`). Random data passes through the writer's CPU once,
/// while it is still in the cache, instead of being buffered and then read again to be
/// sealed and again to be hashed. Chosen after a chunk of random data, until a sample of the
/// data shrinks under zstd again (then the chunk after is buffered and compressed).
struct Streamed {
    seal: StreamSeal,
    /// Payload bytes so far: the flag and the sealed events.
    payload: usize,
    /// Encoded event bytes so far.
    events: usize,
    /// Whether the memory is the sink's.
    lent: bool,
    /// Whether a sample of this chunk's second half was taken.
    probed_late: bool,
}

/// `len` bytes of memory for the chunk record being built, its bytes from earlier calls
/// kept: the sink's if it lends some, else `own`. Whether it is the sink's.
fn record_memory<'a, W: Sink>(
    inner: &'a mut W,
    own: &'a mut Vec<u8>,
    len: usize,
) -> std::io::Result<(&'a mut [u8], bool)> {
    if let Some(memory) = inner.lend(len)? {
        if memory.len() != len {
            return Err(std::io::Error::other(
                "the sink lent memory of the wrong length",
            ));
        }
        return Ok((memory, true));
    }
    if own.len() < len {
        own.resize(len, 0);
    }
    Ok((own.get_mut(..len).unwrap_or_default(), false))
}

/// [`record_memory`] again for a chunk record begun in memory from where `lent` says (a
/// streamed chunk as it grows, any chunk when its prefix is filled): the same place, or an
/// error.
fn streamed_memory<'a, W: Sink>(
    inner: &'a mut W,
    own: &'a mut Vec<u8>,
    len: usize,
    lent: bool,
) -> std::io::Result<&'a mut [u8]> {
    let (memory, now) = record_memory(inner, own, len)?;
    if now != lent {
        return Err(std::io::Error::other(
            "the sink stopped lending memory mid-chunk",
        ));
    }
    Ok(memory)
}

impl<W: Sink> Writer<W> {
    /// Writes the signed header to `inner` and flushes it. Chunks are compressed but not
    /// encrypted: anyone who can read the file can read the session (`meta.key` is
    /// ignored). The gateway uses [`Writer::encrypted`].
    pub fn new(inner: W, meta: Meta, key: &SigningKey) -> Result<Writer<W>, WriteError> {
        Self::start(inner, Meta { key: None, ..meta }, key, None)
    }

    /// Like [`Writer::new`], with every chunk sealed under `data_key`; `wrapped_key` (the
    /// data key wrapped by the gateway's vault key, opaque here) goes into the signed
    /// header as `Meta::key`, where a reader that holds the vault key finds it.
    pub fn encrypted(
        inner: W,
        meta: Meta,
        key: &SigningKey,
        data_key: &DataKey,
        wrapped_key: String,
    ) -> Result<Writer<W>, WriteError> {
        let meta = Meta {
            key: Some(wrapped_key),
            ..meta
        };
        Self::start(inner, meta, key, Some(data_key))
    }

    fn start(
        mut inner: W,
        meta: Meta,
        key: &SigningKey,
        data_key: Option<&DataKey>,
    ) -> Result<Writer<W>, WriteError> {
        let sealer = Sealer::new(data_key)?;
        let header = format::encode_header(&meta, key)?;
        inner.write_all(&header)?;
        inner.flush()?;
        let header_hash: Hash = Sha256::digest(&header).into();
        Ok(Writer {
            inner,
            key: key.clone(),
            header_hash,
            head: header_hash,
            next_seq: 0,
            buf: Vec::new(),
            record: Vec::new(),
            sealer,
            streamed: None,
            stream_next: false,
            event: Vec::new(),
            failed: false,
        })
    }

    fn usable(&self) -> Result<(), WriteError> {
        if self.failed {
            Err(WriteError::Failed)
        } else {
            Ok(())
        }
    }

    /// Buffers one event (or seals it into the chunk being streamed). Fails after an
    /// earlier write failed, and when the sink cannot lend the memory a streamed chunk
    /// grows into (then the writer takes no more).
    pub fn push(&mut self, at_micros: u64, event: Event) -> Result<(), WriteError> {
        self.usable()?;
        if !self.streams() {
            codec::encode(&mut self.buf, at_micros, &event);
            return Ok(());
        }
        let mut bytes = std::mem::take(&mut self.event);
        bytes.clear();
        codec::encode(&mut bytes, at_micros, &event);
        let streamed = self.stream_in(&bytes, &[]);
        self.event = bytes;
        streamed
    }

    /// Buffers terminal data without building an [`Event`] (saves a copy per packet); the
    /// same as pushing `Event::Input`/`Output`/`Stderr`.
    pub fn push_data(
        &mut self,
        at_micros: u64,
        stream: Stream,
        channel: u32,
        data: &[u8],
    ) -> Result<(), WriteError> {
        self.usable()?;
        if !self.streams() {
            codec::encode_data(&mut self.buf, at_micros, stream, channel, data);
            return Ok(());
        }
        let mut head = std::mem::take(&mut self.event);
        head.clear();
        codec::encode_data_header(&mut head, at_micros, stream, channel, data.len());
        let streamed = self.stream_in(&head, data);
        self.event = head;
        streamed
    }

    /// Whether the next event goes into a streamed chunk: one is open, or the next chunk is
    /// to be streamed and no events wait in the buffer.
    fn streams(&self) -> bool {
        self.streamed.is_some() || (self.stream_next && self.buf.is_empty())
    }

    /// Seals `head` then `data` (one event's bytes) into the streamed chunk, opening it if
    /// need be. Any error stops the writer.
    fn stream_in(&mut self, head: &[u8], data: &[u8]) -> Result<(), WriteError> {
        let result = self.try_stream_in(head, data);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn try_stream_in(&mut self, head: &[u8], data: &[u8]) -> Result<(), WriteError> {
        if self.streamed.is_none() {
            let (memory, lent) = record_memory(&mut self.inner, &mut self.record, PREFIX + 1)?;
            let flag = memory.get_mut(PREFIX..).unwrap_or_default();
            let seal = self
                .sealer
                .stream(&self.header_hash, &self.head, self.next_seq, flag)
                .ok_or_else(|| std::io::Error::other("only sealed chunks are streamed"))?;
            self.streamed = Some(Streamed {
                seal,
                payload: 1,
                events: 0,
                lent,
                probed_late: false,
            });
        }
        let Some(st) = self.streamed.as_mut() else {
            return Ok(());
        };
        let at = PREFIX + st.payload;
        let n = head.len() + data.len();
        let memory = streamed_memory(&mut self.inner, &mut self.record, at + n, st.lent)?;
        let (out_head, out_data) = memory
            .get_mut(at..)
            .unwrap_or_default()
            .split_at_mut(head.len());
        st.seal.update(head, out_head);
        st.seal.update(data, out_data);
        st.seal
            .hash_along(memory.get(PREFIX..at + n).unwrap_or_default());
        // A sample at the chunk's start and one past its middle: data that compresses
        // again (text after a download) sends the next chunk back to zstd.
        let late = st.events >= CHUNK_BYTES / 2;
        if st.events == 0 || (late && !st.probed_late) {
            if let Some(shrinks) = self.sealer.shrinks(data)? {
                st.probed_late |= late;
                self.stream_next &= !shrinks;
            }
        }
        st.payload += n;
        st.events += n;
        Ok(())
    }

    /// Buffers event bytes as they are, without encoding them: for the fuzz targets
    /// (`fuzz/`), which need arbitrary event bytes inside correctly hashed and signed chunks
    /// to reach the event decoder. Only with the `fuzzing` feature; the gateway never
    /// enables it.
    #[cfg(feature = "fuzzing")]
    #[doc(hidden)]
    pub fn push_encoded(&mut self, events: &[u8]) -> Result<(), WriteError> {
        self.usable()?;
        self.buf.extend_from_slice(events);
        Ok(())
    }

    /// Bytes of encoded events waiting for the next chunk.
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len() + self.streamed.as_ref().map_or(0, |st| st.events)
    }

    /// Whether enough events are buffered ([`CHUNK_BYTES`]) to write a chunk now.
    pub fn chunk_full(&self) -> bool {
        self.buffered_bytes() >= CHUNK_BYTES
    }

    /// Number of chunks written so far.
    pub fn chunks_written(&self) -> u64 {
        self.next_seq
    }

    /// Hash of the last chunk written (of the header before the first chunk): the value an
    /// audit log can keep to pin the recording's content so far.
    pub fn head_hash(&self) -> [u8; 32] {
        self.head
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Writes the buffered events as one chunk and flushes. Does nothing when no events are
    /// buffered. After an error the writer refuses further writes: the file may end in a
    /// partial chunk, which readers treat as the recording being cut short there.
    pub fn flush_chunk(&mut self) -> Result<(), WriteError> {
        self.usable()?;
        let events = self.buffered_bytes();
        if events == 0 {
            return Ok(());
        }
        let written = match self.streamed.take() {
            Some(st) => {
                // A streamed chunk written before it grew large (the flush interval's) says
                // the bulk transfer is over: what follows, terminal text as likely as not, is
                // buffered and compressed again.
                self.stream_next &= st.events >= STREAM_AFTER;
                self.finish_streamed(st)
            }
            None => self.write_chunk(),
        };
        if let Err(e) = written {
            self.failed = true;
            return Err(e);
        }
        self.buf.clear();
        self.record.clear();
        if events < KEEP {
            self.buf.shrink_to(KEEP);
            self.record.shrink_to(KEEP);
            self.sealer.shrink(KEEP);
        }
        Ok(())
    }

    fn write_chunk(&mut self) -> Result<(), WriteError> {
        let events = &self.buf;
        let too_large = || WriteError::ChunkTooLarge { len: events.len() };
        let seq = self.next_seq;
        let prepared = self.sealer.prepare(events)?;
        self.stream_next =
            self.sealer.sealed() && !prepared.compressed && events.len() >= STREAM_AFTER;
        let len = PREFIX + prepared.len;
        let body_len = u32::try_from(len - format::FRAME_HEADER_LEN).map_err(|_| too_large())?;
        let (memory, lent) = record_memory(&mut self.inner, &mut self.record, len)?;
        let payload = memory.get_mut(PREFIX..).unwrap_or_default();
        self.sealer
            .seal_into(events, prepared, payload, &self.header_hash, seq)?;
        let hash = format::chunk_hash(format::VERSION, &self.head, seq, payload);
        self.send_record(len, lent, hash, body_len)
    }

    /// Writes the chunk record of `len` bytes whose payload is built (in the sink's memory
    /// when `lent`, else in `record`) and hashes to `hash`: fills its prefix (frame header of
    /// `body_len`, the previous hash, `hash`, the signature over it), then writes and
    /// flushes; `hash` becomes the chain's head.
    fn send_record(
        &mut self,
        len: usize,
        lent: bool,
        hash: Hash,
        body_len: u32,
    ) -> Result<(), WriteError> {
        let seq = self.next_seq;
        let memory = streamed_memory(&mut self.inner, &mut self.record, len, lent)?;
        let sig = self
            .key
            .sign(&format::chunk_message(&self.header_hash, seq, &hash));
        let frame = format::frame_header(format::TAG_CHUNK, seq, body_len);
        format::fill(
            memory.get_mut(..PREFIX).unwrap_or_default(),
            &[&frame, &self.head, &hash, &sig.to_bytes()],
        );
        if lent {
            self.inner.commit()?;
        } else {
            self.inner
                .write_all(self.record.get(..len).unwrap_or_default())?;
        }
        self.inner.flush()?;
        self.head = hash;
        self.next_seq += 1;
        Ok(())
    }

    /// Writes the streamed chunk `st`: its tag after the payload, then the prefix.
    fn finish_streamed(&mut self, st: Streamed) -> Result<(), WriteError> {
        let at = PREFIX + st.payload;
        let len = at + TAG_LEN;
        let body_len = u32::try_from(len - format::FRAME_HEADER_LEN)
            .map_err(|_| WriteError::ChunkTooLarge { len: st.events })?;
        let memory = streamed_memory(&mut self.inner, &mut self.record, len, st.lent)?;
        let hash = st.seal.finish(memory.get_mut(PREFIX..).unwrap_or_default());
        self.send_record(len, st.lent, hash, body_len)
    }

    /// Writes the buffered events, then the seal (chunk count, head hash, end time, why the
    /// session ended, signature), flushes and returns the inner writer. `at_micros` is the
    /// end time, counted like event times.
    pub fn seal(mut self, at_micros: u64, reason: &str) -> Result<W, WriteError> {
        self.flush_chunk()?;
        self.usable()?;
        let seq = self.next_seq;
        let body_len = format::SEAL_FIXED_LEN + reason.len();
        let body_len =
            u32::try_from(body_len).map_err(|_| WriteError::ChunkTooLarge { len: body_len })?;
        let sig = self.key.sign(&format::seal_message(
            &self.header_hash,
            seq,
            &self.head,
            at_micros,
            reason.as_bytes(),
        ));
        let mut record = Vec::with_capacity(format::FRAME_HEADER_LEN + body_len as usize);
        record.extend_from_slice(&format::frame_header(format::TAG_SEAL, seq, body_len));
        record.extend_from_slice(&self.head);
        record.extend_from_slice(&at_micros.to_le_bytes());
        record.extend_from_slice(&sig.to_bytes());
        record.extend_from_slice(reason.as_bytes());
        self.inner.write_all(&record)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{data_key, key, meta, noise};

    /// Accepts `limit` bytes, then fails, like a full disk.
    struct FullDisk {
        written: Vec<u8>,
        limit: usize,
    }

    impl Write for FullDisk {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let room = self.limit.saturating_sub(self.written.len());
            if room == 0 {
                return Err(std::io::Error::other("disk full"));
            }
            let n = room.min(buf.len());
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Sink for FullDisk {}

    /// Counts flushes, to see that each chunk is synced.
    #[derive(Default)]
    struct Syncs {
        bytes: Vec<u8>,
        flushes: usize,
    }

    impl Write for Syncs {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.flushes += 1;
            Ok(())
        }
    }
    impl Sink for Syncs {}

    #[test]
    fn a_writer_gone_quiet_after_a_burst_gives_its_buffers_back_and_both_kinds_of_chunk_read() {
        let data_key = data_key();
        let mut w =
            Writer::encrypted(Syncs::default(), meta(), &key(), &data_key, "k".into()).unwrap();
        let burst = noise(CHUNK_BYTES + 4096, 7);
        for (i, packet) in burst.chunks(32 * 1024).enumerate() {
            w.push_data(i as u64, Stream::Output, 0, packet).unwrap();
            if w.chunk_full() {
                w.flush_chunk().unwrap();
            }
        }
        assert_eq!(w.chunks_written(), 1, "a full chunk is written as it fills");
        assert!(
            w.buf.capacity() > CHUNK_BYTES,
            "the burst's buffer is kept while it lasts"
        );
        w.flush_chunk().unwrap();
        w.push_data(99, Stream::Output, 0, &[b'a'; 200]).unwrap();
        w.flush_chunk().unwrap();
        assert!(w.buf.capacity() <= KEEP, "kept {} bytes", w.buf.capacity());
        assert!(
            w.record.capacity() <= KEEP,
            "kept {} bytes",
            w.record.capacity()
        );
        let file = w.seal(100, "done").unwrap().bytes;
        let rec = crate::Recording::parse(&file, Some(&data_key)).unwrap();
        let mut output = Vec::new();
        for (_, e) in rec.events() {
            if let Event::Output { data, .. } = e {
                output.extend_from_slice(data);
            }
        }
        let mut expected = burst.clone();
        expected.extend_from_slice(&[b'a'; 200]);
        assert_eq!(output, expected, "raw chunks and compressed ones read back");
    }

    /// Lends the writer its memory for chunk records, as the gateway's direct-I/O file does.
    #[derive(Default)]
    struct Lends {
        bytes: Vec<u8>,
        lent: Vec<u8>,
        commits: usize,
    }

    impl Write for Lends {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink for Lends {
        fn lend(&mut self, len: usize) -> std::io::Result<Option<&mut [u8]>> {
            // Stale bytes from the last record: the writer must overwrite all of them.
            self.lent.resize(len, 0xa5);
            Ok(Some(&mut self.lent))
        }
        fn commit(&mut self) -> std::io::Result<()> {
            self.bytes.extend_from_slice(&self.lent);
            self.commits += 1;
            Ok(())
        }
    }

    #[test]
    fn a_sink_that_lends_memory_gets_the_same_file() {
        let data_key = data_key();
        let mut lends =
            Writer::encrypted(Lends::default(), meta(), &key(), &data_key, "k".into()).unwrap();
        let mut plain =
            Writer::encrypted(Vec::new(), meta(), &key(), &data_key, "k".into()).unwrap();
        let random = noise(CHUNK_BYTES + 1000, 3);
        let text = b"$ make\r\ncc -c main.c\r\n".repeat(5000);
        for (t, data) in [&random[..], &text[..], b"x", &random[..70_000]]
            .iter()
            .enumerate()
        {
            lends.push_data(t as u64, Stream::Output, 0, data).unwrap();
            plain.push_data(t as u64, Stream::Output, 0, data).unwrap();
            lends.flush_chunk().unwrap();
            plain.flush_chunk().unwrap();
        }
        let lent = lends.seal(9, "end").unwrap();
        assert_eq!(lent.commits, 4, "every chunk was built in the lent memory");
        let file = plain.seal(9, "end").unwrap();
        assert_eq!(lent.bytes, file);
        let rec = crate::Recording::parse(&file, Some(&data_key)).unwrap();
        assert_eq!(rec.events().len(), 4);
    }

    /// Pushes `data` in 32 KiB packets, writing chunks as they fill: what the gateway does.
    fn pour<W: Sink>(w: &mut Writer<W>, data: &[u8]) {
        for packet in data.chunks(32 * 1024) {
            w.push_data(1, Stream::Output, 0, packet).unwrap();
            if w.chunk_full() {
                w.flush_chunk().unwrap();
            }
        }
        w.flush_chunk().unwrap();
    }

    #[test]
    fn random_data_is_sealed_as_it_arrives_and_text_after_it_is_compressed_again() {
        let data_key = data_key();
        let mut lends =
            Writer::encrypted(Lends::default(), meta(), &key(), &data_key, "k".into()).unwrap();
        let mut plain =
            Writer::encrypted(Syncs::default(), meta(), &key(), &data_key, "k".into()).unwrap();
        let random = noise(3 * CHUNK_BYTES, 11);
        let text = b"Setting up libfoo:amd64 (1.2.3) ...\r\n".repeat(20_000);
        let mut sizes = Vec::new();
        for (i, data) in [&random[..], &text[..], &text[..]].into_iter().enumerate() {
            let before = plain.get_ref().bytes.len();
            pour(&mut plain, data);
            pour(&mut lends, data);
            sizes.push(plain.get_ref().bytes.len() - before);
            if i == 0 {
                // The first chunk is buffered (nothing told it apart); the random ones after
                // it are sealed as they arrive.
                assert!(plain.stream_next, "random data goes on streamed");
                assert!(plain.buf.capacity() > 0);
            }
        }
        assert!(!plain.stream_next, "text sends the writer back to zstd");
        // Random data costs its size; the first text after it is stored as it is (its chunk
        // was streamed), the next is compressed.
        assert!(
            sizes[0] >= random.len() && sizes[0] < random.len() + 4096,
            "{sizes:?}"
        );
        assert!(sizes[1] >= text.len(), "{sizes:?}");
        assert!(sizes[2] < text.len() / 10, "{sizes:?}");
        let lent = lends.seal(9, "end").unwrap();
        let file = plain.seal(9, "end").unwrap().bytes;
        assert!(
            lent.bytes == file,
            "the bytes differ with the sink lending memory"
        );
        assert!(
            lent.commits >= 3,
            "streamed chunks were built in the lent memory"
        );
        let rec = crate::Recording::parse(&file, Some(&data_key)).unwrap();
        let mut output = Vec::new();
        for (_, e) in rec.events() {
            if let Event::Output { data, .. } = e {
                output.extend_from_slice(data);
            }
        }
        assert!(
            output == [&random[..], &text[..], &text[..]].concat(),
            "output differs"
        );
        assert!(crate::verify(&file, &key().verifying_key()).is_sealed());
    }

    #[test]
    fn after_a_download_small_chunks_of_text_are_compressed_again() {
        let mut w =
            Writer::encrypted(Syncs::default(), meta(), &key(), &data_key(), "k".into()).unwrap();
        pour(&mut w, &noise(3 * CHUNK_BYTES, 4));
        assert!(w.stream_next);
        // Interactive work after the download: echoes and short outputs, each well under
        // the samples' size, written at each flush interval.
        let line = b"$ ls -l /var/log\r\ntotal 1204\r\n-rw-r--r-- 1 root root 3021 syslog\r\n";
        let mut sizes = Vec::new();
        for _ in 0..3 {
            let before = w.get_ref().bytes.len();
            for _ in 0..40 {
                w.push_data(2, Stream::Output, 0, line).unwrap();
            }
            w.flush_chunk().unwrap();
            sizes.push(w.get_ref().bytes.len() - before);
        }
        assert!(!w.stream_next, "a small streamed chunk ends the streaming");
        let raw = 40 * line.len();
        assert!(sizes[0] > raw, "the first was streamed as it is: {sizes:?}");
        assert!(
            sizes[1] < raw / 4 && sizes[2] < raw / 4,
            "then compressed: {sizes:?}"
        );
    }

    #[test]
    fn each_chunk_is_flushed_and_empty_flushes_write_nothing() {
        let mut w = Writer::new(Syncs::default(), meta(), &key()).unwrap();
        assert_eq!(w.get_ref().flushes, 1, "header is flushed");
        let header_len = w.get_ref().bytes.len();
        w.flush_chunk().unwrap();
        assert_eq!(w.get_ref().bytes.len(), header_len);
        w.push_data(1, Stream::Output, 0, b"hello").unwrap();
        assert_eq!(w.buffered_bytes(), 9);
        w.flush_chunk().unwrap();
        assert_eq!(w.get_ref().flushes, 2);
        assert_eq!(w.buffered_bytes(), 0);
        assert_eq!(w.chunks_written(), 1);
        let out = w.seal(2, "client closed").unwrap();
        assert_eq!(out.flushes, 3);
    }

    #[test]
    fn failed_write_stops_the_writer_and_the_file_reads_as_cut_short() {
        let mut w = Writer::new(
            FullDisk {
                written: Vec::new(),
                limit: 600,
            },
            meta(),
            &key(),
        )
        .unwrap();
        w.push_data(1, Stream::Output, 0, &noise(100, 1)).unwrap();
        w.flush_chunk().unwrap();
        w.push_data(2, Stream::Output, 0, &noise(500, 2)).unwrap();
        assert!(matches!(w.flush_chunk(), Err(WriteError::Io(_))));
        assert!(matches!(
            w.push_data(3, Stream::Output, 0, b"c"),
            Err(WriteError::Failed)
        ));
        let bytes = w.get_ref().written.clone();
        assert!(matches!(w.seal(4, "x"), Err(WriteError::Failed)));
        let rec = crate::Recording::parse(&bytes, None).unwrap();
        assert!(!rec.is_sealed());
        assert_eq!(rec.chunk_count(), 1);
    }

    #[test]
    fn the_bounds_hold_the_file_to_what_was_announced() {
        let mut w = Writer::encrypted(
            Syncs::default(),
            meta(),
            &key(),
            &data_key(),
            "wrapped".into(),
        )
        .unwrap();
        let mut bound = w.get_ref().bytes.len();
        let events = [
            // Compresses: the bound holds with room to spare.
            Event::Marker {
                text: "m".repeat(300),
            },
            // Too small to compress, and random data: stored as they are, the bound is tight.
            Event::Resize {
                channel: 7,
                cols: 80,
                rows: 24,
            },
            Event::Refused {
                channel: None,
                what: "x11".into(),
                reason: "no".into(),
            },
            Event::Input {
                channel: u32::MAX,
                data: noise(70_000, 3),
            },
        ];
        for (i, e) in events.into_iter().enumerate() {
            let chunk_bound = event_len_bound(&e) + CHUNK_OVERHEAD;
            let before = w.get_ref().bytes.len();
            w.push(u64::MAX - i as u64, e).unwrap();
            w.flush_chunk().unwrap();
            let written = w.get_ref().bytes.len() - before;
            assert!(
                written <= chunk_bound,
                "event {i}: {written} > {chunk_bound}"
            );
            assert!(
                i == 0 || written + 20 > chunk_bound,
                "event {i}: the bound is loose: {written} vs {chunk_bound}"
            );
            bound += chunk_bound;
        }
        assert!(
            data_len_bound(70_000)
                >= event_len_bound(&Event::Input {
                    channel: u32::MAX,
                    data: vec![0; 70_000]
                })
        );
        bound += seal_len(5);
        let out = w.seal(u64::MAX, "limit").unwrap();
        assert!(out.bytes.len() <= bound, "{} > {bound}", out.bytes.len());
    }

    /// A build log's worth of terminal text, as `make` prints it: compiler command lines
    /// with their flags, per-file progress and warnings, names and numbers varying.
    fn build_log(len: usize) -> Vec<u8> {
        let dirs = [
            "net", "session", "policy", "vault", "web", "audit", "record",
        ];
        let flags = "-O2 -g -Wall -Wextra -fPIC -I/build/include -I/build/src -DNDEBUG";
        let mut out = Vec::new();
        let mut i = 0usize;
        while out.len() < len {
            let dir = dirs[i % dirs.len()];
            let line = match i % 3 {
                0 => format!("[{:>3}%] Building C object src/{dir}/CMakeFiles/{dir}.dir/file_{i}.c.o\r\n", i * 100 / 40_000),
                1 => format!("/usr/bin/cc {flags} -o CMakeFiles/{dir}.dir/file_{}.c.o -c /build/src/{dir}/file_{}.c\r\n", i - 1, i - 1),
                _ => format!("/build/src/{dir}/file_{}.c:{}:{}: warning: unused variable 'tmp' [-Wunused-variable]\r\n", i - 2, i % 700, i % 60),
            };
            out.extend_from_slice(line.as_bytes());
            i += 1;
        }
        out.truncate(len);
        out
    }

    /// Bytes on disk per byte moved, streamed as the gateway does: 4 KiB packets, a chunk
    /// whenever [`Writer::chunk_full`] says so.
    fn ratio(data: &[u8]) -> f64 {
        let mut w = Writer::encrypted(Vec::new(), meta(), &key(), &data_key(), "k".into()).unwrap();
        let start = w.get_ref().len();
        for (i, packet) in data.chunks(4096).enumerate() {
            w.push_data(i as u64, Stream::Output, 0, packet).unwrap();
            if w.chunk_full() {
                w.flush_chunk().unwrap();
            }
        }
        let bytes = w.seal(u64::MAX, "client closed").unwrap();
        (bytes.len() - start) as f64 / data.len() as f64
    }

    #[test]
    fn recordings_cost_little_disk_for_text_and_at_most_5_percent_for_random_data() {
        let len = 4 << 20;
        let zeros = ratio(&vec![0; len]);
        let text = ratio(&build_log(len));
        let random = ratio(&noise(len, 7));
        eprintln!("bytes on disk per byte moved: zeros {zeros:.4}, build log {text:.4}, random {random:.4}");
        assert!(zeros <= 0.01, "zeros: {zeros}");
        assert!(text <= 0.1, "terminal text: {text}");
        assert!(random <= 1.05, "random data: {random}");
    }
}
