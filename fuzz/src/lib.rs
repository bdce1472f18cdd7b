//! What the fuzz targets (`fuzz_targets/`) share: an allocator that counts, so a target can
//! assert how much a parser allocated for its input; the checks every parsed recording must
//! pass; the fixed key and metadata the targets and the seed corpus sign with; shell quoting.
//!
//! Not a test helper for the main workspace: it is built only by `cargo fuzz` (scripts/fuzz)
//! and by the seed generator (`examples/seeds.rs`). Panicking is how a target reports.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use ed25519_dalek::SigningKey;
use recordings::{
    commands, interactive_channel, to_asciicast, AsciicastOptions, Event, Meta, Recording, Writer,
};

/// The system allocator, counting the bytes live now and the most live since [`measure`]
/// started.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes straight to `System` with the caller's layout and pointer; the
// counters are only bookkeeping beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            // Counted as both buffers at once, the worst a move can cost.
            grew(new_size);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        new
    }
}

fn grew(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result with the most bytes it had allocated at any one time
/// (beyond what was live when it started). Fuzz targets run one input at a time, on one
/// thread, so nothing else allocates meanwhile.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = f();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    (out, peak)
}

/// The most the reader may allocate for a file of `len` bytes. Every event takes at least
/// 3 bytes of the file (kind, time, one more byte) and becomes one `(u64, Event)` in a
/// vector that may hold up to three times its length while it grows; every record takes at
/// least 21 bytes and becomes a small frame; byte strings are copied once. So about one
/// event's size per input byte, plus room for the metadata's JSON. Anything sized by a
/// length the file merely claims (a `Vec::with_capacity(claimed)`) breaks this at once,
/// since a claim can be 4 GiB.
pub fn reader_budget(len: usize) -> usize {
    len.saturating_mul(std::mem::size_of::<(u64, Event)>() + 64) + (64 << 10)
}

/// The key the seed corpus and `recording_events` sign with.
pub fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// Metadata for recordings the targets write.
pub fn meta() -> Meta {
    Meta {
        session_id: "s-0123456789abcdef".into(),
        engineer: "alice".into(),
        target: "web01".into(),
        grant_id: "g-1a2b3c4d".into(),
        started_at_ms: 1_764_460_800_000,
        node: "gw1".into(),
        key: None,
    }
}

/// Writes `events` as one recording signed with [`key`]: one chunk, sealed with `seal`
/// (end time, reason) if given.
pub fn write(meta: Meta, events: &[(u64, Event)], seal: Option<(u64, &str)>) -> Vec<u8> {
    let mut w = Writer::new(Vec::new(), meta, &key()).expect("writing to a Vec works");
    for (at, event) in events {
        w.push(*at, event.clone()).expect("writing to a Vec works");
    }
    w.flush_chunk().expect("writing to a Vec works");
    match seal {
        Some((at, reason)) => w.seal(at, reason).expect("writing to a Vec works"),
        None => w.get_ref().clone(),
    }
}

/// What every recording the reader accepts must satisfy:
/// - `verify` with the key the header names agrees that the chain holds, with as many chunks;
/// - its events, written again by the writer, read back the same (lossless), and writing
///   those again gives the same bytes (the encoding is canonical);
/// - the asciicast export is one JSON value per line, a version 2 header first;
/// - the command list is built without panicking and serializes.
pub fn check_recording(bytes: &[u8], rec: &Recording) {
    let report = recordings::verify(bytes, rec.gateway_key());
    assert!(
        report.is_ok(),
        "parse accepted what verify refuses: {report}"
    );
    assert_eq!(report.chunks, rec.chunk_count());

    let seal = match rec.ending() {
        recordings::Ending::Sealed { at_micros, reason } => Some((*at_micros, reason.as_str())),
        recordings::Ending::CutShort { .. } => None,
    };
    let again = write(rec.meta().clone(), rec.events(), seal);
    let back = Recording::parse(&again, None).expect("the writer's output reads back");
    assert_eq!(
        back.events(),
        rec.events(),
        "events did not survive a rewrite"
    );
    assert_eq!(back.meta(), rec.meta());
    assert_eq!(back.end_reason(), rec.end_reason());
    assert_eq!(
        write(back.meta().clone(), back.events(), seal),
        again,
        "writing the same events twice gave different bytes"
    );

    for include_input in [false, true] {
        let cast = to_asciicast(
            rec,
            &AsciicastOptions {
                include_input,
                ..AsciicastOptions::default()
            },
        );
        for (n, line) in cast.lines().enumerate() {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("asciicast line {n} is not JSON ({e}): {line}"));
            if n == 0 {
                assert_eq!(value["version"], 2, "asciicast header: {line}");
            } else {
                assert!(value.is_array(), "asciicast event is not an array: {line}");
            }
        }
    }
    let list = commands(rec.events(), interactive_channel(rec.events()));
    serde_json::to_string(&list).expect("commands serialize");
}

/// `word` as one single-quoted shell word (`'` written as `'\''`).
pub fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}
