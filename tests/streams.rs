//! Bulk data: 100 MiB each way arrives intact, and a client that stops reading does not
//! make the gateway buffer without bound.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use menwei_e2e::*;
use rand::RngCore;
use sha2::{Digest, Sha256};

const MIB100: u64 = 100 * 1024 * 1024;
const BULK: Duration = Duration::from_secs(240);

fn sha256_file(p: &Path) -> (u64, String) {
    let mut f = File::open(p).unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        n += k as u64;
        h.update(&buf[..k]);
    }
    (n, hex::encode(h.finalize()))
}

both_databases! {
    fn download_of_100_mib_arrives_with_the_same_sha256(db) {
        let w = World::new(db);
        let dest = w.gw.scratch().join("down.bin");
        // The target is this machine: a file of the test's own, named on the line.
        let f = w.gw.scratch().join("source.bin");
        let f = f.display();
        let remote = format!(
            "head -c {MIB100} /dev/urandom > {f}; sha256sum < {f} >&2; cat {f}; rm -f {f}"
        );
        let cmd = w.alice.ssh_command(&w.gw, "alice:web01", &[], &[&remote]);
        let mut c = Spawned::start(cmd, Stdin::Null, Some(dest.clone()));
        let out = c.wait(BULK);
        out.ok();
        let (n, local) = sha256_file(&dest);
        assert_eq!(n, MIB100, "received {n} bytes");
        assert!(out.stderr_text().starts_with(&local), "target's sha256 {:?} != received {local}", out.stderr_text());
        assert_no_leak(&out.stderr, "download stderr");
    }

    fn upload_of_100_mib_arrives_with_the_same_sha256(db) {
        let w = World::new(db);
        let src = w.gw.scratch().join("up.bin");
        {
            let mut f = File::create(&src).unwrap();
            let mut buf = vec![0u8; 1 << 20];
            for _ in 0..100 {
                rand::thread_rng().fill_bytes(&mut buf);
                f.write_all(&buf).unwrap();
            }
        }
        let (_, local) = sha256_file(&src);
        let cmd = w.alice.ssh_command(&w.gw, "alice:web01", &[], &["sha256sum"]);
        let mut c = Spawned::start(cmd, Stdin::File(src), None);
        let out = c.wait(BULK);
        out.ok();
        assert!(out.stdout_text().starts_with(&local), "target got sha256 {:?}, sent {local}", out.stdout_text());
    }

    fn bulk_input_echoed_by_the_target_comes_back_intact(db) {
        // Both directions at full speed through one channel: the target's `cat` only reads
        // as fast as its output drains, so a relay that stopped reading the engineer's
        // connection under input pressure would deadlock here.
        let w = World::new(db);
        let src = w.gw.scratch().join("echo-in.bin");
        {
            let mut f = File::create(&src).unwrap();
            let mut buf = vec![0u8; 1 << 20];
            for _ in 0..50 {
                rand::thread_rng().fill_bytes(&mut buf);
                f.write_all(&buf).unwrap();
            }
        }
        let dest = w.gw.scratch().join("echo-out.bin");
        let cmd = w.alice.ssh_command(&w.gw, "alice:web01", &[], &["cat"]);
        let mut c = Spawned::start(cmd, Stdin::File(src.clone()), Some(dest.clone()));
        c.wait(BULK).ok();
        assert_eq!(sha256_file(&dest), sha256_file(&src), "the echoed stream differs from what was sent");
    }

    fn client_that_stops_reading_does_not_grow_gateway_memory(db) {
        let w = World::new(db);
        let before = rss_kib(w.gw.pid());
        // The client's stdout is a pipe that is read for its first MiB (the session is open
        // and data flows through the gateway), then never again: ssh stops reading the
        // socket, and the target keeps writing as fast as it can.
        let ssh = w.alice.ssh_command(&w.gw, "alice:web01", &[], &["cat /dev/zero"]);
        let line = format!(
            "{} | {{ head -c 1048576 | wc -c | sed 's/^/flowed:/' >&2; sleep 60; }}",
            std::iter::once(ssh.get_program())
                .chain(ssh.get_args())
                .map(|a| format!("'{}'", a.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut sh = Command::new("bash");
        sh.arg("-c").arg(line);
        let mut stalled = Spawned::start(sh, Stdin::Null, None).on_exit(check_engineer_output);
        stalled.wait_stderr("flowed:1048576", SHORT);
        let live = wait_until("the stalled session listed as live", SHORT, || {
            w.gw.sessions().into_iter().find(|s| json_text(s, "engineer") == "alice" && json_text(s, "ended_at").is_empty())
        });
        w.assert_bounded_behind_stalled_reader(before, Duration::from_secs(6), "a stalled reader");
        assert!(!stalled.exited(), "the stalled client's ssh ended:\n{}", stalled.snapshot());
        // The stalled session is still there, neither ended nor dropped.
        let id = json_text(&live, "id");
        assert!(
            w.gw.sessions().iter().any(|s| json_text(s, "id") == id && json_text(s, "ended_at").is_empty()),
            "the stalled session {id} ended"
        );
    }
}
