//! Interactive use: a shell in a real terminal, window changes, Ctrl-C, the target menu
//! (also several at once on one ControlMaster connection), and exec turned off per target.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;
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
        t.line_until_shown("stty size | sed 's/^/SIZE:/'", "SIZE:40 120", T);

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

    fn concurrent_menus_on_one_controlmaster_connection_land_on_their_own_targets(db) {
        let w = World::new(db);
        let web02 = Sshd::start();
        w.gw.add_target("web02", &web02, "Second web server (e2e)");
        w.gw.pin("web02");
        w.gw.grant("alice", "web02", "1h");

        // One connection without a target (`-N`: no channel of its own), then two
        // terminals through it, each at the menu before either chooses.
        let control = w.gw.scratch().join("control");
        let control = control.to_str().unwrap();
        let mut master = w.alice.spawn(&w.gw, "alice", &["-M", "-S", control, "-N", "-o", "ControlPersist=no"], &[], Stdin::Null);
        wait_until("the ControlMaster socket", SHORT, || std::path::Path::new(control).exists().then_some(()));
        // ProxyCommand=false: a client whose channel the master refuses fails instead of
        // opening a connection of its own.
        let mux = ["-S", control, "-o", "ControlMaster=no", "-o", "ProxyCommand=false"];
        let mut terms: Vec<(PtySession, &str, &Sshd)> = [("web01", &w.web01), ("web02", &web02)]
            .into_iter()
            .map(|(name, sshd)| (w.alice.pty(&w.gw, "alice", &mux, 24, 80), name, sshd))
            .collect();
        for (t, _, _) in &mut terms {
            t.expect("Choose a number or name", T);
        }
        for (t, name, _) in &mut terms {
            t.line(name);
        }
        for (t, name, sshd) in &mut terms {
            // Typed until the shell answers (keys typed before it starts go nowhere). The
            // typed line shows `ON:$`; only the shell's answer shows `ON:mark`.
            t.line_until_shown("echo \"ON:$MENWEI_E2E_MARK\"", "ON:mark", T);
            assert!(t.shows(&format!("ON:{}", sshd.mark)), "the shell chosen as {name} runs elsewhere:\n{}", t.screen_text());
        }
        for (t, _, _) in &mut terms {
            t.line("exit");
            t.wait(T);
        }
        let mut stop = Command::new("ssh");
        stop.args(["-S", control, "-O", "exit", "127.0.0.1"]);
        let _ = run(stop, Stdin::Null, SHORT);
        master.wait(SHORT);

        // Each target has its own session, recording and audit entries, naming it.
        let sessions = wait_until("both sessions to end", SHORT, || {
            let s: Vec<_> = w.gw.sessions().into_iter().filter(|s| json_text(s, "engineer") == "alice").collect();
            (s.len() == 2 && s.iter().all(|s| !json_text(s, "ended_at").is_empty())).then_some(s)
        });
        for (name, sshd, other) in [("web01", &w.web01, &web02), ("web02", &web02, &w.web01)] {
            let session = sessions.iter().find(|s| json_text(s, "target") == name)
                .unwrap_or_else(|| panic!("no session to {name}: {sessions:?}"));
            let id = json_text(session, "id");
            let cast = w.gw.cli_ok(&["recording", "export", &id, "--format", "asciicast"]);
            assert!(cast.contains(&format!("ON:{}", sshd.mark)), "the recording of {name} does not show its shell:\n{cast}");
            assert!(!cast.contains(&other.mark), "the recording of {name} shows the other target's shell:\n{cast}");
            w.gw.wait_audit("session.start", |e| json_text(e, "subject") == name && e.to_string().contains(&id));
        }
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
