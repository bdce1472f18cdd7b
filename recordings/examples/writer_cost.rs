//! CPU the recording writer spends per byte moved, and how it divides between its steps:
//! the whole `Writer` (event encoding, zstd, AEGIS-256X2, BLAKE3, an Ed25519 signature per
//! 1 MiB chunk, into lent memory: format 4) on zeros, random bytes and a build log, then each
//! step alone on 1 MiB chunks, beside format 3's AES-256-GCM and format 2's ChaCha20-Poly1305 and SHA-256. CPU time
//! of this thread (`/proc/thread-self/schedstat`), so other processes on the machine slow
//! the wall clock but not the figures much. With a text FILE, also what the writer stores
//! for it (as `bench/run` sends it over `ssh -tt`: LF as CR LF, 4 KiB packets).
//!
//!     cargo run --release -p recordings --example writer_cost [MIB [FILE]]   (default 64)
//!
//! A benchmark aid for BENCHMARKS.md (issue 10), not part of the gateway.

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use recordings::{DataKey, Meta, Stream, Writer};
use sha2::{Digest, Sha256};

const PACKET: usize = 32 * 1024;
const CHUNK: usize = recordings::writer::CHUNK_BYTES;

/// Nanoseconds this thread has run on a CPU.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn build_log(len: usize) -> Vec<u8> {
    let dirs = [
        "net", "session", "policy", "vault", "web", "audit", "record",
    ];
    let flags = "-O2 -g -Wall -Wextra -fPIC -I/build/include -I/build/src -DNDEBUG";
    let mut out = Vec::new();
    let mut i = 0usize;
    while out.len() < len {
        let dir = dirs.get(i % dirs.len()).copied().unwrap_or("net");
        let line = match i % 3 {
            0 => format!("[{:>3}%] Building C object src/{dir}/CMakeFiles/{dir}.dir/file_{i}.c.o\r\n", i * 100 / 400_000),
            1 => format!("/usr/bin/cc {flags} -o CMakeFiles/{dir}.dir/file_{i}.c.o -c /build/src/{dir}/file_{i}.c\r\n"),
            _ => format!("/build/src/{dir}/file_{i}.c:{}:{}: warning: unused variable 'tmp' [-Wunused-variable]\r\n", i % 700, i % 60),
        };
        out.extend_from_slice(line.as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// CPU ns per byte of `f` over `data`.
fn per_byte(data: &[u8], f: impl FnOnce(&[u8])) -> f64 {
    let t0 = cpu_ns();
    f(data);
    (cpu_ns() - t0) as f64 / data.len() as f64
}

/// Bytes the writer stores for `data` in 32 KiB packets, whole file.
fn whole_writer(data: &[u8]) -> usize {
    whole_writer_packets(data, PACKET)
}

/// Bytes the writer stores for `data` in `packet`-byte packets, whole file.
fn whole_writer_packets(data: &[u8], packet: usize) -> usize {
    let meta = Meta {
        session_id: "s-cost".into(),
        engineer: "alice".into(),
        target: "web01".into(),
        grant_id: "g-1".into(),
        started_at_ms: 1_700_000_000_000,
        node: "gw".into(),
        key: None,
    };
    let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let data_key = DataKey::from_bytes([9; 32]);
    let sink = Counter(0, Vec::new());
    let Ok(mut w) = Writer::encrypted(sink, meta, &key, &data_key, "k".into()) else {
        return 0;
    };
    for (i, packet) in data.chunks(packet).enumerate() {
        let _ = w.push_data(i as u64, Stream::Output, 0, packet);
        if w.chunk_full() {
            let _ = w.flush_chunk();
        }
    }
    w.seal(u64::MAX, "done").map(|c| c.0).unwrap_or(0)
}

/// A sink that counts what it is given and, like the gateway's direct-I/O file, lends the
/// writer the memory chunk records are built in.
struct Counter(usize, Vec<u8>);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl recordings::Sink for Counter {
    fn lend(&mut self, len: usize) -> std::io::Result<Option<&mut [u8]>> {
        if self.1.len() < len {
            self.1.resize(len, 0);
        }
        self.0 += len;
        Ok(self.1.get_mut(..len))
    }
    fn commit(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(64);
    let len = mib << 20;
    let inputs = [
        ("zeros", vec![0u8; len]),
        ("random", noise(len)),
        ("build log", build_log(len)),
    ];
    println!("CPU ns per byte moved, {mib} MiB each (1 ns/B = 954 MiB/s of one core)");
    if let Some(file) = std::env::args().nth(2) {
        let text = std::fs::read(&file).unwrap_or_default();
        let mut crlf = Vec::with_capacity(text.len() * 11 / 10);
        for &b in &text {
            if b == b'\n' {
                crlf.push(b'\r');
            }
            crlf.push(b);
        }
        let mut stored = 0;
        let ns = per_byte(&crlf, |d| stored = whole_writer_packets(d, 4096));
        println!(
            "{file}: {} bytes moved, {stored} stored: {:.4}x, {ns:.2} ns per byte",
            crlf.len(),
            stored as f64 / crlf.len() as f64
        );
    }
    println!("| data | whole writer | zstd -1 | AEGIS-256X2, one buffer into another (format 4) | AES-256-GCM (ring, format 3) | ChaCha20-Poly1305 (format 2) | BLAKE3 | SHA-256 (format 2) | Ed25519 per chunk | copy |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let ring_key = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &[7u8; 32])
        .map(ring::aead::LessSafeKey::new)
        .ok();
    let cipher = ChaCha20Poly1305::new(&[7u8; 32].into());
    let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    for (name, data) in &inputs {
        let whole = per_byte(data, |d| {
            whole_writer(d);
        });
        let zstd = per_byte(data, |d| {
            let Ok(mut c) = zstd::bulk::Compressor::new(1) else {
                return;
            };
            for chunk in d.chunks(CHUNK) {
                let _ = c.compress(chunk);
            }
        });
        let aead = per_byte(data, |d| {
            let mut buf = Vec::with_capacity(CHUNK + 16);
            for chunk in d.chunks(CHUNK) {
                buf.clear();
                buf.extend_from_slice(chunk);
                let _ = cipher.encrypt_in_place(Nonce::from_slice(&[0; 12]), b"", &mut buf);
            }
        });
        let aegis = per_byte(data, |d| {
            let mut buf = vec![0u8; CHUNK];
            for chunk in d.chunks(CHUNK) {
                let cipher = aegis::aegis256x2::Aegis256X2::<16>::new(&[7; 32], &[0; 32]);
                let mut enc = cipher.encryptor(b"");
                enc.update(chunk, buf.get_mut(..chunk.len()).unwrap_or_default());
                std::hint::black_box(enc.finalize());
            }
        });
        let ring_aead = per_byte(data, |d| {
            let Some(k) = &ring_key else { return };
            let mut buf = Vec::with_capacity(CHUNK + 16);
            for chunk in d.chunks(CHUNK) {
                buf.clear();
                buf.extend_from_slice(chunk);
                let nonce = ring::aead::Nonce::assume_unique_for_key([0; 12]);
                let _ = k.seal_in_place_append_tag(nonce, ring::aead::Aad::empty(), &mut buf);
            }
        });
        let b3 = per_byte(data, |d| {
            for chunk in d.chunks(CHUNK) {
                std::hint::black_box(blake3::hash(chunk));
            }
        });
        let sha = per_byte(data, |d| {
            for chunk in d.chunks(CHUNK) {
                std::hint::black_box(Sha256::digest(chunk));
            }
        });
        let sign = per_byte(data, |d| {
            use ed25519_dalek::Signer;
            for _ in d.chunks(CHUNK) {
                std::hint::black_box(key.sign(&[1u8; 32]));
            }
        });
        let copy = per_byte(data, |d| {
            let mut buf = Vec::with_capacity(CHUNK);
            for chunk in d.chunks(CHUNK) {
                buf.clear();
                buf.extend_from_slice(chunk);
                std::hint::black_box(&buf);
            }
        });
        println!(
            "| {name} | {whole:.3} | {zstd:.3} | {aegis:.3} | {ring_aead:.3} | {aead:.3} | {b3:.3} | {sha:.3} | {sign:.4} | {copy:.3} |"
        );
    }
}
