//! The audit log: what goes in, and that no row can be changed, removed or slipped in
//! without `menwei audit verify` noticing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

use menwei_e2e::*;

fn audit_verify(gw: &Gateway) -> Out {
    gw.cli(&["audit", "verify"])
}

/// The first `seq` of an `action` row, read behind the product's back.
fn seq_of(gw: &Gateway, action: &str) -> i64 {
    let o = gw.sql(&format!(
        "SELECT MIN(seq) FROM audit_log WHERE action = '{action}'"
    ));
    o.ok();
    o.stdout_text()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no {action} row: {o}"))
}

#[track_caller]
fn assert_verify_fails_at(gw: &Gateway, seq: i64, what: &str) {
    let out = audit_verify(gw);
    assert!(
        !out.success(),
        "audit verify accepted a log with {what}:\n{out}"
    );
    let text = out.all_text();
    let s = seq.to_string();
    let names_it = text
        .split(|c: char| !c.is_ascii_digit())
        .any(|tok| tok == s);
    assert!(
        names_it,
        "audit verify does not name row {seq} ({what}):\n{out}"
    );
}

both_databases! {
    fn audit_log_records_logins_sessions_refusals_and_grants(db) {
        let w = World::new(db);
        w.alice.exec(&w.gw, "web01", "true").ok();
        let mallory = Engineer::new("mallory");
        let out = w.alice.ssh(&w.gw, "mallory:web01", &[], &["true"], Stdin::Null);
        out.failed();
        // mallory is unknown; alice's key under mallory's name is also a failure.
        let out = mallory.exec(&w.gw, "web01", "true");
        out.failed();

        for action in ["user.add", "target.add", "target.pin", "grant.create", "login.success", "session.start", "session.end"] {
            w.gw.wait_audit(action, |_| true);
        }
        w.gw.wait_audit("login.failure", |e| e.to_string().contains("mallory"));
        let start = w.gw.wait_audit("session.start", |e| e.to_string().contains("alice"));
        assert_eq!(json_text(&start, "node"), w.gw.node, "{start}");
        assert!(start.to_string().contains("web01"), "{start}");

        let csv = w.gw.cli_ok(&["audit", "export", "--format", "csv"]);
        let header = csv.lines().next().unwrap_or_default();
        for col in ["seq", "action", "actor"] {
            assert!(header.contains(col), "csv header {header:?} lacks {col}");
        }
        assert!(csv.contains("session.start"), "{csv}");

        let later = w.gw.cli_ok(&["audit", "export", "--format", "jsonl", "--since", "2999-01-01T00:00:00Z"]);
        assert!(later.trim().is_empty(), "--since in the future still exports: {later}");
        let before = w.gw.audit().len();
        let all = w.gw.cli_ok(&["audit", "export", "--format", "jsonl", "--since", "2000-01-01T00:00:00Z"]);
        let n = all.lines().filter(|l| !l.trim().is_empty()).count();
        let after = w.gw.audit().len();
        assert!(before <= n && n <= after, "--since 2000 exported {n} events, the log has {before}..{after}");

        audit_verify(&w.gw).ok();
    }

    fn editing_deleting_or_inserting_an_audit_row_makes_verify_fail(db) {
        let w = World::new(db);
        w.alice.exec(&w.gw, "web01", "true").ok();
        w.gw.wait_audit("session.end", |_| true);
        audit_verify(&w.gw).ok();

        // Changed row.
        let seq = seq_of(&w.gw, "session.start");
        let actor = w.gw.sql(&format!("SELECT actor FROM audit_log WHERE seq = {seq}")).stdout_text().trim().to_string();
        w.gw.sql(&format!("UPDATE audit_log SET actor = 'mallory' WHERE seq = {seq}")).ok();
        assert_verify_fails_at(&w.gw, seq, "an edited actor");
        w.gw.sql(&format!("UPDATE audit_log SET actor = '{actor}' WHERE seq = {seq}")).ok();
        audit_verify(&w.gw).ok();

        let seq_d = seq_of(&w.gw, "grant.create");
        w.gw.sql(&format!("UPDATE audit_log SET detail = '{{}}' WHERE seq = {seq_d}")).ok();
        let out = audit_verify(&w.gw);
        assert!(!out.success(), "audit verify accepted an edited detail:\n{out}");
        drop(w);

        // Removed row (in the middle of the chain).
        let w = World::new(db);
        w.alice.exec(&w.gw, "web01", "true").ok();
        w.gw.wait_audit("session.end", |_| true);
        let seq = seq_of(&w.gw, "grant.create");
        w.gw.sql(&format!("DELETE FROM audit_log WHERE seq = {seq}")).ok();
        let out = audit_verify(&w.gw);
        assert!(!out.success(), "audit verify accepted a log with row {seq} removed:\n{out}");
        drop(w);

        // Inserted row: a copy of a real one, slipped in as the newest.
        let w = World::new(db);
        w.gw.wait_audit("grant.create", |_| true);
        w.gw.sql(
            "INSERT INTO audit_log (seq, at, node, actor, action, subject, detail, prev_hash, hash) \
             SELECT seq + 1000, at, node, actor, action, subject, detail, prev_hash, hash \
             FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)",
        ).ok();
        let out = audit_verify(&w.gw);
        assert!(!out.success(), "audit verify accepted an inserted row:\n{out}");
    }

    fn an_audit_log_that_cannot_be_written_lets_nobody_in(db) {
        let w = World::new(db);
        let before = w.alice.exec(&w.gw, "web01", "echo audited");
        assert_eq!(before.ok().stdout_text(), "audited\n");
        let sessions = w.gw.sessions().len();
        // Behind the product's back, the audit log stops taking rows.
        let (block, unblock) = match w.gw.db.kind() {
            Db::Sqlite => (
                "CREATE TRIGGER no_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log read-only'); END;",
                "DROP TRIGGER no_audit;",
            ),
            Db::Postgres => (
                "CREATE FUNCTION no_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit log read-only'; END $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER no_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION no_audit();",
                "DROP TRIGGER no_audit ON audit_log;",
            ),
        };
        w.gw.sql(block).ok();
        let out = w.alice.exec(&w.gw, "web01", "echo not-audited");
        assert!(!out.success(), "a login went ahead without its audit entry:\n{out}");
        assert!(!out.stdout_text().contains("not-audited"), "{out}");
        assert_eq!(w.gw.sessions().len(), sessions, "a session opened without its audit entry");
        // Once the log takes rows again, so does the gateway.
        w.gw.sql(unblock).ok();
        let after = w.alice.exec(&w.gw, "web01", "echo audited-again");
        assert_eq!(after.ok().stdout_text(), "audited-again\n");
        assert!(audit_verify(&w.gw).success(), "the chain broke across the outage");
    }
}

both_databases! {
    fn the_cli_actor_is_the_kernels_user_not_the_environments(db) {
        let w = World::new(db);
        let mut c = Command::new(menwei_bin());
        c.arg("--config").arg(&w.gw.config)
            .args(["user", "add", "mallory-made", "--role", "auditor"])
            .env("USER", "bob")
            .env("LOGNAME", "bob");
        run(c, Stdin::Null, SHORT).ok();
        let me = Command::new("id").arg("-un").output().unwrap();
        let me = String::from_utf8(me.stdout).unwrap().trim().to_string();
        assert_ne!(me, "bob");
        let added = w.gw.wait_audit("user.add", |e| json_text(e, "subject") == "mallory-made");
        assert_eq!(json_text(&added, "actor"), me, "{added}");
    }
}
