//! The transfer guard in the byte stream: on a target that allows exec and shell syntax,
//! a file transfer hidden from the command line (`S=scp; $S -f FILE`, `sftp -s`, rsync's
//! `--rsync-path`, `sz` typed into a shell) is recognised in the channel's bytes and the
//! session ends with one line naming it, audited as `transfer.detected`; under
//! `transfer_guard = "alert"` it goes on, audited. Ordinary use is not ended. And a
//! group's `max_output_bytes`: a warning at half, the end at the limit.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use menwei_e2e::*;

const OPEN: &str = "[policy.groups.web]\ntargets = [\"web01\"]\nengineers = [\"*\"]\nallow_exec = true\nallow_shell_syntax = true\n";

const ALERT: &str = "[policy.groups.web]\ntargets = [\"web01\"]\nengineers = [\"*\"]\nallow_exec = true\nallow_shell_syntax = true\ntransfer_guard = \"alert\"\n";

const LIMITED: &str = "[policy.groups.web]\ntargets = [\"web01\"]\nengineers = [\"*\"]\nmax_output_bytes = \"64KiB\"\n";

/// The `transfer.detected` entry for `protocol`, checked for its direction and bytes, and
/// the session's end reason.
fn assert_ended_for(w: &World, protocol: &str, direction: &str) {
    let e =
        w.gw.wait_audit("transfer.detected", |e| e["detail"]["protocol"] == protocol);
    assert_eq!(json_text(&e["detail"], "direction"), direction, "{e}");
    assert!(e["detail"]["bytes"].as_u64().unwrap() > 0, "{e}");
    assert_eq!(json_text(&e["detail"], "action"), "end", "{e}");
    assert_eq!(last_end_reason(&w.gw), "transfer_detected");
}

fn a_file(name: &str) -> String {
    let path = format!(
        "/tmp/menwei-e2e-{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    );
    std::fs::write(&path, "the file's content\n".repeat(100)).unwrap();
    path
}

both_databases! {
    fn hidden_scp_source_is_ended_and_audited(db) {
        let w = World::with(db, WorldOpts { config: OPEN, ..WorldOpts::default() });
        let file = a_file("scp-f");
        // scp's source waits for the sink's `\0`, then sends `C0644 SIZE NAME`.
        let out = w.alice.exec_input(&w.gw, "web01", &format!("S=scp; $S -f {file}"), b"\0");
        out.failed();
        assert!(out.stderr_text().contains("file transfer refused: scp started on this channel"), "{out}");
        assert!(!out.stdout_text().contains("the file's content"), "{out}");
        assert_ended_for(&w, "scp", "download");
        let _ = std::fs::remove_file(&file);
    }

    fn sftp_through_an_exec_line_is_ended(db) {
        let w = World::with(db, WorldOpts { config: OPEN, ..WorldOpts::default() });
        let out = w.alice.sftp_with(&w.gw, "web01", &["-s", "S=/usr/lib/openssh/sftp-server; $S"], "ls /\n");
        out.failed();
        assert_ended_for(&w, "sftp", "upload");
    }

    fn rsync_with_a_hidden_rsync_path_is_ended(db) {
        let w = World::with(db, WorldOpts { config: OPEN, ..WorldOpts::default() });
        let file = a_file("rsync");
        let dst = w.alice.home().join("copy");
        let out = w.alice.rsync(&w.gw, "web01", &["--rsync-path=R=rsync; $R", &format!("127.0.0.1:{file}"), dst.to_str().unwrap()]);
        out.failed();
        assert!(!dst.exists(), "the file came through");
        assert!(out.stderr_text().contains("rsync started on this channel"), "{out}");
        let e = w.gw.wait_audit("transfer.detected", |e| e["detail"]["protocol"] == "rsync");
        assert!(e["detail"]["bytes"].as_u64().unwrap() >= 8, "{e}");
        assert_eq!(last_end_reason(&w.gw), "transfer_detected");
        let _ = std::fs::remove_file(&file);
    }

    fn sz_inside_an_interactive_shell_is_ended(db) {
        let w = World::with(db, WorldOpts { config: OPEN, ..WorldOpts::default() });
        let file = a_file("sz");
        let mut shell = live_shell(&w);
        shell.send(format!("sz {file}\n").as_bytes());
        shell.wait_stderr("file transfer refused: ZMODEM started on this channel", SHORT);
        let _ = shell.wait(SHORT);
        assert_ended_for(&w, "zmodem", "download");
        let _ = std::fs::remove_file(&file);
    }

    fn hidden_scp_sink_and_rz_are_ended_as_uploads(db) {
        let w = World::with(db, WorldOpts { config: OPEN, ..WorldOpts::default() });
        let remote = a_file("scp-t");
        std::fs::remove_file(&remote).unwrap();
        // scp's sink answers `\0`; the source then sends `C0644 SIZE NAME`.
        let out = w.alice.exec_input(&w.gw, "web01", &format!("S=scp; $S -t {remote}"), b"C0644 6 x\nhello\n\0");
        out.failed();
        assert!(out.stderr_text().contains("scp started on this channel"), "{out}");
        assert!(!std::path::Path::new(&remote).exists(), "the upload arrived");
        assert_ended_for(&w, "scp", "upload");

        let mut shell = live_shell(&w);
        shell.send(b"rz\n");
        shell.wait_stderr("file transfer refused: ZMODEM started on this channel", SHORT);
        let _ = shell.wait(SHORT);
        w.gw.wait_audit("transfer.detected", |e| e["detail"]["protocol"] == "zmodem" && e["detail"]["direction"] == "upload");
    }

    fn alert_lets_the_transfer_finish_audits_it_and_fires_the_webhook(db) {
        let secret_dir = tempfile::tempdir().unwrap();
        let secret = secret_dir.path().join("webhook.secret");
        std::fs::write(&secret, "e2e-webhook-secret-0123456789\n").unwrap();
        let rx = WebhookReceiver::start(free_port("127.0.0.1"), false);
        let config = format!(
            "{ALERT}\n[[webhooks]]\nurl = \"http://127.0.0.1:{}/hook\"\nsecret_file = \"{}\"\nevents = [\"transfer\"]\n",
            rx.port,
            secret.display()
        );
        let w = World::with(db, WorldOpts { config: Box::leak(config.into_boxed_str()), ..WorldOpts::default() });
        let file = a_file("alert");
        let dst = w.alice.home().join("copy");
        let out = w.alice.rsync(&w.gw, "web01", &["--rsync-path=R=rsync; $R", &format!("127.0.0.1:{file}"), dst.to_str().unwrap()]);
        out.ok();
        assert_eq!(std::fs::read(&dst).unwrap(), std::fs::read(&file).unwrap());
        let e = w.gw.wait_audit("transfer.detected", |e| e["detail"]["protocol"] == "rsync");
        assert_eq!(json_text(&e["detail"], "action"), "alert", "{e}");
        assert_eq!(last_end_reason(&w.gw), "client_closed");
        let hits = rx.wait_hits(1, SHORT);
        assert_eq!(hits[0].header("x-menwei-event"), "transfer");
        let body = hits[0].json();
        assert_eq!(body["data"]["protocol"], "rsync", "{body}");
        assert_eq!(body["data"]["engineer"], "alice", "{body}");
        assert_no_leak(&hits[0].body, "transfer webhook body");
        let _ = std::fs::remove_file(&file);
    }

    fn ordinary_interactive_use_is_not_ended(db) {
        let w = World::with(db, WorldOpts { config: OPEN, ..WorldOpts::default() });
        let mut shell = live_shell(&w);
        shell.send(b"head -c 1048576 /dev/urandom; echo; echo \"RANDOM:$((2*3))\"\n");
        shell.wait_stdout("RANDOM:6", SHORT);
        shell.send(b"ls -la /usr/bin | tail -3; echo \"LS:$((3*3))\"\n");
        shell.wait_stdout("LS:9", SHORT);
        shell.send(b"printf 'C0644 12 name\\n**B0\\030\\030'; echo \"PRINTF:$((4*4))\"\n");
        shell.wait_stdout("PRINTF:16", SHORT);
        // Binary output of an exec channel, from its first byte.
        let out = w.alice.exec(&w.gw, "web01", "head -c 1048576 /dev/urandom | od -An -tx1 | head -c 300000; head -c 65536 /dev/urandom");
        out.ok();
        shell.send(b"echo \"STILL:$((5*5))\"\n");
        shell.wait_stdout("STILL:25", SHORT);
        shell.send(b"exit\n");
        shell.wait(SHORT).ok();
        assert!(!w.gw.audit().iter().any(|e| json_text(e, "action") == "transfer.detected"));
    }

    fn max_output_bytes_warns_at_half_and_ends_at_the_limit(db) {
        let w = World::with(db, WorldOpts { config: LIMITED, ..WorldOpts::default() });
        let mut shell = live_shell(&w);
        // 40,000 bytes of base64: past half of 64 KiB.
        shell.send(b"head -c 30000 /dev/zero | base64 -w 0; echo; echo \"HALF:$((7*7))\"\n");
        shell.wait_stdout("HALF:49", SHORT);
        shell.wait_stderr("this session has printed half of its output limit (64 KiB)", SHORT);
        shell.send(b"head -c 30000 /dev/zero | base64 -w 0; echo\n");
        shell.wait_stderr("this session reached its output limit (64 KiB, max_output_bytes)", SHORT);
        let _ = shell.wait(SHORT);
        assert_eq!(last_end_reason(&w.gw), "output_limit");
        w.gw.wait_audit("session.warning", |e| e["detail"]["code"] == "output_limit_near");
        w.gw.wait_audit("session.end", |e| e["detail"]["reason"] == "output_limit");
    }
}
