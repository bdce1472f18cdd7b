//! The recording file's writes. Where the filesystem allows it the file is opened for
//! direct I/O (`O_DIRECT`): chunks go from a block-aligned staging buffer to the disk without
//! passing through the page cache, so a bulk transfer's recording costs neither the kernel's
//! copy into the cache nor its writeback threads (measured in BENCHMARKS.md, "Recording
//! cost"). Where it does not (a filesystem that refuses `O_DIRECT` at open or at the first
//! write), the same calls write through the page cache.
//!
//! The writer builds each chunk record in the staging buffer itself ([`recordings::Sink`]):
//! sealing encrypts the events straight into the memory they are written from, so no byte
//! is copied between the sealing and the disk.
//!
//! Direct writes must start and end on block boundaries, the stream does not: each flush
//! (the writer flushes after every record) writes what is staged, zero-padded to the next
//! block, and keeps the partial last block staged, to be written again with what follows.
//! So after every flush the file holds every record written so far, followed by fewer than
//! [`BLOCK`] zero bytes; readers take such a tail as the file's end (`recordings` reader),
//! and the task trims the file to its length when the recording ends. A crash loses
//! exactly what it lost with buffered writes: nothing flushed.
//!
//! Not the fsync (the task, beside the writing) nor the room on disk (`room.rs`, which
//! reserves whole blocks so the padding always has its room).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rustix::fs::OFlags;

/// Alignment of direct writes, in memory, in the file and in length: a page, which covers
/// every device's logical block size.
pub(crate) const BLOCK: usize = 4096;
/// After a flush of at most this many bytes the staging memory goes back but for the partial
/// last block (an interactive session's tick, a session gone quiet after a burst): an idle
/// recording holds a few hundred bytes here, not an aligned buffer.
const KEEP: usize = 2 * BLOCK;

/// Creates `path` (never overwriting, mode 0600) for direct writes, or for buffered ones
/// where the filesystem refuses `O_DIRECT`.
pub(super) fn create(path: &Path) -> std::io::Result<(File, bool)> {
    let open = |flags: OFlags| {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(flags.bits() as i32)
            .open(path)
    };
    match open(OFlags::DIRECT) {
        Ok(file) => Ok((file, true)),
        Err(e) if refused(&e) => open(OFlags::empty()).map(|file| (file, false)),
        Err(e) => Err(e),
    }
}

/// Whether `e` is the filesystem refusing direct I/O (EINVAL).
fn refused(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error())
}

/// The first `n` bytes of the aligned region at `start` in `stage`; an error (never a shorter
/// slice) past its end.
fn aligned(stage: &mut [u8], start: usize, n: usize) -> std::io::Result<&mut [u8]> {
    stage
        .get_mut(start..start + n)
        .ok_or_else(|| std::io::Error::other("recording staging buffer overrun"))
}

/// A recording file shared between the writer (which writes through this) and the task
/// (which fsyncs and trims the `Arc<File>`), counting the bytes written.
pub(super) struct RecordingFile {
    file: Arc<File>,
    /// Whether writes bypass the page cache.
    direct: bool,
    /// Staging memory: the aligned region and `BLOCK` bytes of slack before it, or after a
    /// small flush only the staged bytes (at `start` 0, unaligned; the next write makes
    /// room again).
    stage: Vec<u8>,
    /// Where the aligned region starts in `stage`.
    start: usize,
    /// Bytes staged: the file's bytes from `base` on, not all of them on disk.
    len: usize,
    /// The file offset of the staged bytes, a multiple of [`BLOCK`].
    base: u64,
    /// Bytes of the stream on disk (up to the last flush); direct writes only.
    flushed: u64,
    /// Bytes of the stream taken: the file's length once the recording ends.
    pub(super) written: u64,
    /// Bytes lent to the writer after the staged ones, taken by `commit`.
    lent: usize,
}

/// `n` rounded up to a whole number of blocks.
fn whole_blocks(n: usize) -> usize {
    n.div_ceil(BLOCK) * BLOCK
}

impl RecordingFile {
    /// Writes to `file` from offset 0; `direct` when it was opened with `O_DIRECT`.
    pub(super) fn new(file: Arc<File>, direct: bool) -> RecordingFile {
        RecordingFile {
            file,
            direct,
            stage: Vec::new(),
            start: 0,
            len: 0,
            base: 0,
            flushed: 0,
            written: 0,
            lent: 0,
        }
    }

    /// The file, for the task's fsyncs and trim.
    pub(super) fn file(&self) -> Arc<File> {
        self.file.clone()
    }

    /// The aligned region's capacity: none while only the partial last block is kept.
    fn capacity(&self) -> usize {
        self.stage.len().saturating_sub(BLOCK)
    }

    /// Makes the aligned region exactly `capacity` bytes (whole blocks, at least the staged
    /// and lent bytes padded), keeping the staged bytes and those lent.
    fn room(&mut self, capacity: usize) {
        let mut stage = vec![0u8; capacity + BLOCK];
        let start = stage.as_ptr().align_offset(BLOCK).min(BLOCK);
        let keep = self.len + self.lent;
        if let (Some(to), Some(from)) = (
            stage.get_mut(start..start + keep),
            self.stage.get(self.start..self.start + keep),
        ) {
            to.copy_from_slice(from);
        }
        self.stage = stage;
        self.start = start;
    }

    /// The aligned region's first `n` bytes; an error (never a shorter slice) past its end.
    fn region(&mut self, n: usize) -> std::io::Result<&mut [u8]> {
        aligned(&mut self.stage, self.start, n)
    }

    /// Writes the staged bytes, zero-padded to whole blocks, at `base`; then keeps only the
    /// partial last block staged.
    fn write_staged(&mut self) -> std::io::Result<()> {
        let len = self.len;
        let padded = whole_blocks(len);
        let base = self.base;
        let region = aligned(&mut self.stage, self.start, padded)?;
        if let Some(pad) = region.get_mut(len..) {
            pad.fill(0);
        }
        if let Err(e) = self.file.write_all_at(region, base) {
            if !refused(&e) {
                return Err(e);
            }
            // The filesystem took O_DIRECT at open but refuses the write: go through the
            // page cache from here on.
            self.buffered()?;
            let staged = aligned(&mut self.stage, self.start, len)?;
            self.file.write_all_at(staged, base)?;
            self.base += len as u64;
            self.len = 0;
            self.stage = Vec::new();
            return Ok(());
        }
        let whole = len / BLOCK * BLOCK;
        let start = self.start;
        self.stage.copy_within(start + whole..start + len, start);
        self.base += whole as u64;
        self.len -= whole;
        Ok(())
    }

    /// Turns direct I/O off for this file.
    fn buffered(&mut self) -> std::io::Result<()> {
        let flags = rustix::fs::fcntl_getfl(&*self.file)?;
        rustix::fs::fcntl_setfl(&*self.file, flags - OFlags::DIRECT)?;
        self.direct = false;
        tracing::debug!(
            "the recordings filesystem refuses direct writes; writing through the page cache"
        );
        Ok(())
    }

    /// The `n` bytes of staging memory after the staged ones, made room for (keeping what
    /// was lent).
    fn after_staged(&mut self, n: usize) -> std::io::Result<&mut [u8]> {
        let (len, end) = (self.len, self.len + n);
        if end > self.capacity() {
            self.room(whole_blocks(end).max(2 * self.capacity()));
        }
        Ok(self.region(end)?.get_mut(len..).unwrap_or_default())
    }
}

impl Write for RecordingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.direct {
            let started = Instant::now();
            let n = self.file.write_at(buf, self.written)?;
            crate::metrics::recording_written(n, started.elapsed());
            self.written += n as u64;
            return Ok(n);
        }
        self.after_staged(buf.len())?.copy_from_slice(buf);
        self.len += buf.len();
        self.written += buf.len() as u64;
        Ok(buf.len())
    }

    /// Puts every byte taken on disk (not synced: the task fsyncs each interval).
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.direct || self.written == self.flushed {
            return Ok(());
        }
        let started = Instant::now();
        let large = self.len > KEEP;
        self.write_staged()?;
        let n = self.written - self.flushed;
        crate::metrics::recording_written(n as usize, started.elapsed());
        self.flushed = self.written;
        if !large && self.direct {
            self.stage = self.region(self.len)?.to_vec();
            self.start = 0;
        }
        Ok(())
    }
}

/// Chunk records are built in the staging memory after the staged bytes; buffered writes
/// lend nothing (the writer's own buffer goes to `write`, one copy into the page cache).
impl recordings::Sink for RecordingFile {
    fn lend(&mut self, len: usize) -> std::io::Result<Option<&mut [u8]>> {
        if !self.direct {
            return Ok(None);
        }
        // Grown with what was lent kept (a streamed chunk asks again as it grows).
        self.after_staged(len)?;
        self.lent = len;
        self.after_staged(len).map(Some)
    }

    fn commit(&mut self) -> std::io::Result<()> {
        let n = std::mem::take(&mut self.lent);
        if n == 0 {
            return Err(std::io::Error::other("nothing was lent"));
        }
        self.len += n;
        self.written += n as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn on_disk(path: &Path) -> Vec<u8> {
        std::fs::read(path).unwrap()
    }

    /// A new recording file in a fresh directory, opened for direct writes (ext4 and tmpfs,
    /// Linux 6.6 on, both take them): the directory (kept for the test), its path, the
    /// file.
    fn direct_file() -> (tempfile::TempDir, std::path::PathBuf, Arc<File>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.mwrec");
        let (file, direct) = create(&path).unwrap();
        assert!(direct, "O_DIRECT refused in {}", dir.path().display());
        (dir, path, Arc::new(file))
    }

    #[test]
    fn each_flush_puts_the_stream_on_disk_padded_and_later_writes_continue_it() {
        let (_dir, path, file) = direct_file();
        let mut out = RecordingFile::new(file.clone(), true);
        let mut stream = Vec::new();
        for (i, len) in [100usize, 5000, 1, 3 * BLOCK, 1 << 20, 7, BLOCK - 1]
            .into_iter()
            .enumerate()
        {
            let part: Vec<u8> = (0..len).map(|j| (i * 31 + j % 251 + 1) as u8).collect();
            out.write_all(&part).unwrap();
            stream.extend_from_slice(&part);
            out.flush().unwrap();
            let disk = on_disk(&path);
            assert_eq!(disk.len(), whole_blocks(stream.len()), "after part {i}");
            assert_eq!(&disk[..stream.len()], &stream[..], "after part {i}");
            assert!(disk[stream.len()..].iter().all(|b| *b == 0));
        }
        assert_eq!(out.written, stream.len() as u64);
        assert!(
            out.capacity() <= KEEP,
            "a small flush gives the staging memory back"
        );
        file.set_len(out.written).unwrap();
        assert_eq!(on_disk(&path), stream);
    }

    #[test]
    fn chunks_built_in_the_staging_memory_make_the_same_file_as_a_plain_writer() {
        use recordings::{DataKey, Writer};
        let (_dir, path, file) = direct_file();
        let meta = super::super::test_meta("s-1");
        let key = super::super::test_key();
        let data_key = DataKey::from_bytes([9; 32]);
        let out = RecordingFile::new(file.clone(), true);
        let mut staged = Writer::encrypted(out, meta.clone(), &key, &data_key, "k".into()).unwrap();
        let mut plain = Writer::encrypted(Vec::new(), meta, &key, &data_key, "k".into()).unwrap();
        // Random data: the chunks after the first are sealed as their packets arrive, into
        // staging memory that grows under them.
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let random: Vec<u8> = (0..(3usize << 19) + 777)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        let text = b"$ make\r\ncc -c main.c\r\n".repeat(3000);
        // Small packets first, then large ones: a streamed chunk outgrows the staging memory
        // the first chunk left and is moved with it.
        for (t, (data, packet)) in [
            (&random[..], 4096),
            (&random[..], 100_000),
            (&b"x"[..], 1),
            (&text[..], 4096),
            (&random[..5000], 4096),
        ]
        .iter()
        .enumerate()
        {
            for w in [&mut staged as &mut dyn Push, &mut plain] {
                w.push(t as u64, data, *packet);
            }
            assert!(
                on_disk(&path)[..staged.get_ref().written as usize] == *plain.get_ref(),
                "the files differ after chunk {t}"
            );
        }
        let written = staged.seal(9, "end").unwrap().written;
        file.set_len(written).unwrap();
        assert!(
            on_disk(&path) == plain.seal(9, "end").unwrap(),
            "the files differ"
        );
    }

    /// A chunk pushed and written, through either sink.
    trait Push {
        fn push(&mut self, t: u64, data: &[u8], packet: usize);
    }

    impl<W: recordings::Sink> Push for recordings::Writer<W> {
        fn push(&mut self, t: u64, data: &[u8], packet: usize) {
            for packet in data.chunks(packet) {
                self.push_data(t, recordings::Stream::Output, 0, packet)
                    .unwrap();
                if self.chunk_full() {
                    self.flush_chunk().unwrap();
                }
            }
            self.flush_chunk().unwrap();
        }
    }

    #[test]
    fn without_direct_io_the_same_calls_write_through_the_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.mwrec");
        let file = Arc::new(std::fs::File::create(&path).unwrap());
        let mut out = RecordingFile::new(file, false);
        out.write_all(b"header").unwrap();
        out.flush().unwrap();
        out.write_all(b" and a chunk").unwrap();
        assert_eq!(on_disk(&path), b"header and a chunk");
        assert_eq!(out.written, 18);
    }
}
