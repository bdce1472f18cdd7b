//! Data does not leave the site: file transfer, forwarding of every kind, agent and X11
//! are refused by default, each with a message to the engineer and an audit event.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use menwei_e2e::*;

fn refusals(gw: &Gateway) -> usize {
    gw.audit()
        .iter()
        .filter(|e| json_text(e, "action") == "channel.refused")
        .count()
}

/// Waits for one more `channel.refused` event than `before`.
#[track_caller]
fn wait_refusal_audited(gw: &Gateway, before: usize, what: &str) {
    let n = wait_until_opt(|| {
        let n = refusals(gw);
        (n > before).then_some(n)
    });
    assert!(n.is_some(), "{what}: no channel.refused audit event");
}

fn wait_until_opt<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    for _ in 0..50 {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// The client failed and some line the engineer sees says it was refused.
#[track_caller]
fn assert_told_refused(out: &Out) {
    assert!(
        lines(&out.all_text()).iter().any(|l| says_refused(l)),
        "no line tells the engineer it was refused:\n{out}"
    );
}

/// Reads until EOF or `timeout`; returns what came.
fn read_some(s: &mut impl Read, timeout_ok: bool) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => {
                assert!(timeout_ok, "read: {e}");
                break;
            }
        }
    }
    got
}

/// web01 in a group that allows exec and says nothing of shell syntax.
const EXEC_GROUP: &str =
    "[policy.groups.web]\ntargets = [\"web01\"]\nengineers = [\"*\"]\nallow_exec = true\n";

/// What the engineer is told when an exec line hides its command behind a variable.
const SHELL_SYNTAX_LINE: &str = "menwei: refused: this command uses shell syntax ($ expansion) that the policy does not allow on web01; run it in an interactive session (ssh -t) instead";

/// The lines the gateway itself said (`menwei: …`); the client adds its own after them.
fn gateway_lines(out: &Out) -> Vec<String> {
    lines(&out.stderr_text())
        .into_iter()
        .filter(|l| l.starts_with("menwei"))
        .collect()
}

/// Waits for the audit row of a shell-syntax refusal on web01 whose command contains `part`.
#[track_caller]
fn wait_shell_syntax_audited(gw: &Gateway, part: &str) {
    gw.wait_audit("channel.refused", |e| {
        json_text(e, "subject") == "web01"
            && e["detail"]["code"] == "shell_syntax_refused"
            && e["detail"]["request"] == "exec"
            && e["detail"]["command"]
                .as_str()
                .is_some_and(|c| c.contains(part))
    });
}

both_databases! {
    fn sftp_server_behind_a_shell_variable_is_refused_and_audited(db) {
        let w = World::with(db, WorldOpts { config: EXEC_GROUP, ..WorldOpts::default() });
        w.alice.exec(&w.gw, "web01", "echo exec-allowed").ok();
        // The target is this machine: a file only this test has.
        let secret = w.gw.scratch().join("site-data.txt");
        std::fs::write(&secret, "site data\n").unwrap();
        let dest = w.alice.home().join("taken.txt");
        let batch = format!("get {} {}\n", secret.display(), dest.display());
        // A server path with '/' makes sftp run it as an exec line, through the shell.
        let out = w.alice.sftp_with(&w.gw, "web01", &["-s", "S=/usr/lib/openssh/sftp-server; $S"], &batch);
        out.failed();
        assert_eq!(gateway_lines(&out), [SHELL_SYNTAX_LINE], "{out}");
        assert!(!dest.exists(), "the file arrived:\n{out}");
        wait_shell_syntax_audited(&w.gw, "$S");
    }

    fn rsync_behind_a_shell_variable_is_refused_and_audited(db) {
        let w = World::with(db, WorldOpts { config: EXEC_GROUP, ..WorldOpts::default() });
        w.alice.exec(&w.gw, "web01", "echo exec-allowed").ok();
        let tree = w.gw.scratch().join("tree");
        std::fs::create_dir_all(tree.join("etc")).unwrap();
        std::fs::write(tree.join("etc/site.conf"), "site data\n").unwrap();
        let dest = w.alice.home().join("copied");
        let src = format!("127.0.0.1:{}/", tree.display());
        let out = w.alice.rsync(&w.gw, "web01", &["-r", "--rsync-path=R=rsync; $R", &src, dest.to_str().unwrap()]);
        out.failed();
        assert_eq!(gateway_lines(&out), [SHELL_SYNTAX_LINE], "{out}");
        assert!(!dest.join("etc/site.conf").exists(), "the tree was copied out:\n{out}");
        wait_shell_syntax_audited(&w.gw, "$R --server");
    }

    fn allow_shell_syntax_lets_a_group_use_it(db) {
        let config = format!("{EXEC_GROUP}allow_shell_syntax = true\n");
        let w = World::with(db, WorldOpts { config: Box::leak(config.into_boxed_str()), ..WorldOpts::default() });
        let out = w.alice.exec(&w.gw, "web01", "S=e2e-word; echo \"[$S]\" `echo backquoted`");
        out.ok();
        assert_eq!(out.stdout_text(), "[e2e-word] backquoted\n", "{out}");
        // Transfers stay refused whatever syntax hides them.
        let out = w.alice.exec(&w.gw, "web01", "S=x; $S; /usr/lib/openssh/sftp-server");
        assert_one_line_refusal(&out);
    }

    fn sftp_is_refused_and_audited(db) {
        let w = World::new(db);
        let before = refusals(&w.gw);
        let out = w.alice.sftp(&w.gw, "web01", "get /etc/hostname\n");
        out.failed();
        assert_told_refused(&out);
        wait_refusal_audited(&w.gw, before, "sftp");
    }

    fn scp_download_is_refused_and_audited(db) {
        let w = World::new(db);
        let dest = w.alice.home().join("stolen");
        let d = dest.to_str().unwrap();
        // OpenSSH 9 scp speaks SFTP by default; -O is the legacy `scp -f` exec.
        for legacy in [false, true] {
            let before = refusals(&w.gw);
            let mut args = vec![];
            if legacy {
                args.push("-O");
            }
            args.extend(["127.0.0.1:/etc/hostname", d]);
            let out = w.alice.scp(&w.gw, "web01", &args);
            out.failed();
            assert_told_refused(&out);
            assert!(!dest.exists() || std::fs::metadata(&dest).unwrap().len() == 0, "a file arrived (legacy={legacy})");
            wait_refusal_audited(&w.gw, before, &format!("scp download (legacy={legacy})"));
        }
    }

    fn scp_upload_is_refused_and_audited(db) {
        let w = World::new(db);
        let src = w.alice.home().join("payload");
        std::fs::write(&src, "payload\n").unwrap();
        let remote = format!("/tmp/menwei-e2e-upload-{}", std::process::id());
        for legacy in [false, true] {
            let before = refusals(&w.gw);
            let dst = format!("127.0.0.1:{remote}");
            let mut args = vec![];
            if legacy {
                args.push("-O");
            }
            args.extend([src.to_str().unwrap(), dst.as_str()]);
            let out = w.alice.scp(&w.gw, "web01", &args);
            out.failed();
            assert_told_refused(&out);
            assert!(!Path::new(&remote).exists(), "the upload reached the target (legacy={legacy})");
            wait_refusal_audited(&w.gw, before, &format!("scp upload (legacy={legacy})"));
        }
    }

    fn rsync_is_refused_and_audited(db) {
        let w = World::new(db);
        let before = refusals(&w.gw);
        let dest = w.alice.home().join("rsynced");
        let out = w.alice.rsync(&w.gw, "web01", &["127.0.0.1:/etc/hostname", dest.to_str().unwrap()]);
        out.failed();
        assert_told_refused(&out);
        assert!(!dest.exists());
        wait_refusal_audited(&w.gw, before, "rsync");
    }

    fn local_and_stream_local_forwarding_are_refused_and_audited(db) {
        let w = World::new(db);
        let lport = free_port("127.0.0.1");
        let lsock = w.alice.home().join("fwd.sock");
        let l_tcp = format!("127.0.0.1:{lport}:127.0.0.1:{}", w.gw.port);
        let l_unix = format!("{}:/run/menwei-e2e-nowhere.sock", lsock.display());
        let mut ssh = w.alice.spawn(
            &w.gw,
            "alice:web01",
            &["-o", "LogLevel=INFO", "-N", "-L", &l_tcp, "-L", &l_unix],
            &[],
            Stdin::Null,
        );
        let before = refusals(&w.gw);
        let mut s = wait_until("ssh's -L listener", SHORT, || TcpStream::connect(("127.0.0.1", lport)).ok());
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let got = read_some(&mut s, true);
        assert!(got.is_empty() || !got.starts_with(b"SSH-"), "-L reached the forwarded service: {got:?}");
        wait_refusal_audited(&w.gw, before, "-L");

        let before = refusals(&w.gw);
        let mut u = wait_until("ssh's unix -L listener", SHORT, || UnixStream::connect(&lsock).ok());
        u.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = u.write_all(b"hello");
        read_some(&mut u, true);
        wait_refusal_audited(&w.gw, before, "stream-local -L");

        let out = ssh.kill();
        assert!(out.stderr_text().contains("open failed"), "{out}");
        assert_told_refused(&out);
    }

    fn remote_forwarding_is_refused_and_audited(db) {
        let w = World::new(db);
        let before = refusals(&w.gw);
        let out = w.alice.ssh(
            &w.gw,
            "alice:web01",
            &["-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:9"],
            &["echo should-not-run; sleep 2"],
            Stdin::Null,
        );
        out.failed();
        assert!(out.stderr_text().contains("forwarding failed"), "{out}");
        wait_refusal_audited(&w.gw, before, "-R");
    }

    fn dynamic_forwarding_is_refused_and_audited(db) {
        let w = World::new(db);
        let lport = free_port("127.0.0.1");
        let d = format!("127.0.0.1:{lport}");
        let mut ssh = w.alice.spawn(&w.gw, "alice:web01", &["-o", "LogLevel=INFO", "-N", "-D", &d], &[], Stdin::Null);
        let before = refusals(&w.gw);
        let mut s = wait_until("ssh's SOCKS listener", SHORT, || TcpStream::connect(("127.0.0.1", lport)).ok());
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&[5, 1, 0]).unwrap();
        let mut hello = [0u8; 2];
        s.read_exact(&mut hello).unwrap();
        assert_eq!(hello, [5, 0]);
        let p = w.gw.port.to_be_bytes();
        s.write_all(&[5, 1, 0, 1, 127, 0, 0, 1, p[0], p[1]]).unwrap();
        let reply = read_some(&mut s, true);
        assert!(reply.len() < 2 || reply[1] != 0, "the SOCKS connect succeeded: {reply:?}");
        wait_refusal_audited(&w.gw, before, "-D");
        let out = ssh.kill();
        assert_told_refused(&out);
    }

    fn agent_forwarding_is_refused_and_audited(db) {
        let w = World::new(db);
        let sock = w.alice.home().join("agent.sock");
        let mut agent_cmd = Command::new("ssh-agent");
        agent_cmd.arg("-D").arg("-a").arg(&sock);
        let _agent = Spawned::start(agent_cmd, Stdin::Null, None);
        wait_until("ssh-agent's socket", SHORT, || sock.exists().then_some(()));

        let before = refusals(&w.gw);
        let mut c = w.alice.ssh_command(&w.gw, "alice:web01", &["-A"], &["printenv SSH_AUTH_SOCK || echo no-agent"]);
        c.env("SSH_AUTH_SOCK", &sock);
        let out = run(c, Stdin::Null, SHORT);
        assert_no_leak(&out.stdout, "ssh -A");
        assert_no_leak(&out.stderr, "ssh -A");
        assert_eq!(out.stdout_text(), "no-agent\n", "an agent socket reached the target:\n{out}");
        assert_told_refused(&out);
        wait_refusal_audited(&w.gw, before, "-A");
    }

    fn x11_forwarding_is_refused_and_audited(db) {
        let w = World::new(db);
        let before = refusals(&w.gw);
        // -Y (trusted) sends the x11-req even without xauth installed.
        let mut c = w.alice.ssh_command(&w.gw, "alice:web01", &["-Y"], &["printenv DISPLAY || echo no-display"]);
        c.env("DISPLAY", ":42");
        let out = run(c, Stdin::Null, SHORT);
        assert_no_leak(&out.stdout, "ssh -Y");
        assert_no_leak(&out.stderr, "ssh -Y");
        assert_eq!(out.stdout_text(), "no-display\n", "X11 display set on the target:\n{out}");
        assert_told_refused(&out);
        wait_refusal_audited(&w.gw, before, "X11");
    }
}
