//! Interactive use: a shell in a real terminal, window changes, Ctrl-C, the target menu,
//! and exec turned off per target.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use menwei_e2e::*;

const T: Duration = Duration::from_secs(20);

both_databases! {
    fn interactive_shell_follows_window_changes_and_ctrl_c(db) {
        let w = World::new(db);
        let mut t = w.alice.pty(&w.gw, "alice:web01", &[], 24, 80);
        // `SIZE:` only appears in the output: the typed command shows `SIZE:/`.
        t.line("stty size | sed 's/^/SIZE:/'");
        t.expect("SIZE:24 80", T);

        // The new size reaches the target's terminal: asked until it shows (a loaded
        // machine only makes this slower).
        t.resize(40, 120);
        wait_until("the target's terminal at 40x120", T, || {
            t.line("stty size | sed 's/^/SIZE:/'");
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while std::time::Instant::now() < deadline {
                if t.shows("SIZE:40 120") {
                    return Some(());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            None
        });

        // Ctrl-C reaches the target's terminal and interrupts the foreground job, once
        // that job runs (it says so).
        t.line("sh -c 'echo RUNNING_$((3*3)); exec sleep 30'");
        t.expect("RUNNING_9", T);
        t.send(b"\x03");
        t.line("echo AFTER_$((2+3))");
        t.expect("AFTER_5", Duration::from_secs(5));

        t.line("exit 7");
        let out = t.wait(T);
        assert_eq!(out.code(), 7, "the shell's exit status comes back:\n{out}");

        // The recording has the resize.
        let id = wait_until("the session to end", SHORT, || {
            let s = w.gw.last_session("alice");
            (!json_text(&s, "ended_at").is_empty()).then(|| json_text(&s, "id"))
        });
        let cast = w.gw.cli_ok(&["recording", "export", &id, "--format", "asciicast"]);
        assert!(
            cast.lines().any(|l| l.contains("\"r\"") && l.contains("120x40")),
            "no resize event 120x40 in the recording:\n{cast}"
        );
    }

    fn menu_lists_granted_targets_by_name_and_description_only(db) {
        let w = World::new(db);
        let db01 = Sshd::start();
        w.gw.add_target("db01", &db01, "Database primary (e2e)");
        w.gw.pin("db01");
        w.gw.grant("alice", "db01", "1h");
        let web02 = Sshd::start();
        w.gw.add_target("web02", &web02, "Ungranted server (e2e)");
        w.gw.pin("web02");

        let mut t = w.alice.pty(&w.gw, "alice", &[], 24, 80);
        t.expect(WEB01_DESCRIPTION, T);
        t.expect("Database primary (e2e)", T);
        std::thread::sleep(Duration::from_millis(500));
        let screen = t.screen_text();
        assert!(screen.contains("web01") && screen.contains("db01"), "menu:\n{screen}");
        assert!(
            !screen.contains("web02") && !screen.contains("Ungranted"),
            "the menu shows a target alice holds no grant for:\n{screen}"
        );
        let login = w.web01.login();
        assert!(
            !screen.contains(&format!("{login}@")),
            "the menu shows a target's login name:\n{screen}"
        );
        // Leaks of addresses and ports are checked when the session is dropped.
    }

    fn allow_exec_false_refuses_exec_but_allows_the_shell(db) {
        let w = World::with(db, WorldOpts {
            config: "[policy.targets.web01]\nallow_exec = false\n",
            ..WorldOpts::default()
        });
        let out = w.alice.exec(&w.gw, "web01", "echo should-not-run");
        assert_one_line_refusal(&out);
        assert!(!out.stdout_text().contains("should-not-run"), "{out}");

        let mut t = w.alice.pty(&w.gw, "alice:web01", &[], 24, 80);
        t.line("echo SHELL_$((40+2))");
        t.expect("SHELL_42", T);
        t.line("exit");
        t.wait(T);
    }
}
