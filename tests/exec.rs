//! Non-interactive exec through the gateway: output, errors, exit status, stdin,
//! environment, several channels on one connection.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use menwei_e2e::*;
use sha2::{Digest, Sha256};

both_databases! {
    fn exec_returns_stdout_stderr_and_exit_status(db) {
        let w = World::new(db);
        let out = w.alice.exec(&w.gw, "web01", "echo out; echo err >&2; exit 3");
        assert_eq!(out.code(), 3, "exit status of `exit 3`:\n{out}");
        assert_eq!(out.stdout_text(), "out\n", "{out}");
        assert!(out.stderr_text().contains("err\n"), "stderr:\n{out}");

        let ok = w.alice.exec(&w.gw, "web01", "uptime");
        ok.ok();
        assert!(ok.stdout_text().contains("load average"), "{ok}");
    }

    fn stdin_reaches_the_target_and_ends_with_eof(db) {
        let w = World::new(db);
        let out = w.alice.exec_input(&w.gw, "web01", "cat", b"hi\n");
        out.ok();
        assert_eq!(out.stdout, b"hi\n");

        // Every byte value, several times: the channel is 8-bit clean both ways.
        let input: Vec<u8> = (0..=255u8).cycle().take(256 * 64).collect();
        let out = w.alice.exec_input(&w.gw, "web01", "cat", &input);
        out.ok();
        assert!(out.stdout == input, "cat returned different bytes ({} vs {})", out.stdout.len(), input.len());
        let out = w.alice.exec_input(&w.gw, "web01", "sha256sum", &input);
        out.ok();
        assert!(out.stdout_text().starts_with(&hex::encode(Sha256::digest(&input))), "{out}");
    }

    fn only_term_lang_and_lc_variables_reach_the_target(db) {
        let w = World::new(db);
        let mut c = w.alice.ssh_command(
            &w.gw,
            "alice:web01",
            &["-o", "SendEnv=LANG LC_* FOO MENWEI_SECRET"],
            // printenv prints the value of each variable that is set, in this order.
            &["printenv LANG LC_PAPER FOO MENWEI_SECRET; true"],
        );
        c.env("LANG", "C.UTF-8")
            .env("LC_PAPER", "lc-passes")
            .env("FOO", "foo-stays")
            .env("MENWEI_SECRET", "secret-stays");
        let out = run(c, Stdin::Null, SHORT);
        out.ok();
        assert_eq!(out.stdout_text(), "C.UTF-8\nlc-passes\n", "{out}");

        // TERM travels with the pty request.
        let mut c = w.alice.ssh_command(&w.gw, "alice:web01", &["-tt"], &["printenv TERM"]);
        c.env("TERM", "xterm-e2e");
        let out = run(c, Stdin::Null, SHORT);
        out.ok();
        assert!(out.stdout_text().contains("xterm-e2e"), "{out}");
    }

    fn several_channels_share_one_connection(db) {
        let w = World::new(db);
        let ctl = w.alice.home().join("cm.sock");
        let ctl_s = ctl.to_str().unwrap().to_string();
        let mut master = w.alice.spawn(
            &w.gw,
            "alice:web01",
            &["-M", "-S", &ctl_s, "-N", "-o", "ControlPersist=no"],
            &[],
            Stdin::Null,
        );
        wait_until("the control socket", SHORT, || Path::new(&ctl).exists().then_some(()));

        let outs: Vec<Out> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|i| {
                    let (w, ctl_s) = (&w, &ctl_s);
                    s.spawn(move || {
                        w.alice.ssh(
                            &w.gw,
                            "alice:web01",
                            &["-S", ctl_s, "-o", "ControlMaster=no"],
                            &[&format!("sleep 1; echo channel-{i}")],
                            Stdin::Null,
                        )
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        if outs.iter().any(|o| !o.success()) {
            let m = master.kill();
            panic!("a channel failed:\n{}\nmaster:\n{m}", outs.iter().map(|o| o.to_string()).collect::<Vec<_>>().join("\n"));
        }
        for (i, o) in outs.iter().enumerate() {
            o.ok();
            assert_eq!(o.stdout_text(), format!("channel-{i}\n"), "{o}");
        }
        // Ran concurrently over the one connection, not one after another.
        let slowest = outs.iter().map(|o| o.elapsed).max().unwrap();
        assert!(slowest < Duration::from_secs(4), "channels were serialized: slowest {slowest:?}");

        let mut stop = Command::new("ssh");
        stop.args(["-S", &ctl_s, "-O", "exit", "127.0.0.1"]);
        let _ = run(stop, Stdin::Null, SHORT);
        let m = master.wait(SHORT);
        assert!(m.stderr.is_empty() || !says_refused(&m.stderr_text()), "{m}");
    }
}
