//! Backups of the gateway itself: a backup made while serving, a wiped data directory (and
//! database), a restore, and the gateway is whole again: audit chain intact, recordings
//! verify, alice logs in through SSH. A scheduled backup is verified, audited, copied
//! off-site and pruned; a failed one is audited and sent to webhooks; a backup with one
//! flipped byte fails `backup verify` naming the member; a wrong passphrase is one line.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use menwei_e2e::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

const PASSPHRASE: &str = "correct horse battery staple\n";

/// A passphrase file outside the data directory (it is never part of a backup).
fn passphrase(gw: &Gateway) -> PathBuf {
    let p = gw.scratch().join("backup.passphrase");
    fs::write(&p, PASSPHRASE).unwrap();
    p
}

/// `backup create` into `gw.scratch()/backups`; the backup's directory.
fn create(gw: &Gateway, pass: &Path) -> PathBuf {
    let to = gw.scratch().join("backups");
    let out = gw.cli_ok(&[
        "backup",
        "create",
        "--to",
        to.to_str().unwrap(),
        "--passphrase-file",
        pass.to_str().unwrap(),
    ]);
    let path = PathBuf::from(out.trim());
    assert!(path.join("manifest.json").is_file(), "no backup at {out:?}");
    path
}

fn verify(gw: &Gateway, backup: &Path, pass: &Path) -> Out {
    gw.cli(&[
        "backup",
        "verify",
        backup.to_str().unwrap(),
        "--passphrase-file",
        pass.to_str().unwrap(),
    ])
}

/// alice's latest session, once ended: its id.
fn ended_session(gw: &Gateway) -> String {
    let s = wait_until("alice's session to end", SHORT, || {
        let s = gw.last_session("alice");
        (!json_text(&s, "ended_at").is_empty()).then_some(s)
    });
    json_text(&s, "id")
}

fn wipe(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            fs::remove_dir_all(&p).unwrap();
        } else {
            fs::remove_file(&p).unwrap();
        }
    }
}

fn flip_byte(file: &Path) {
    let mut bytes = fs::read(file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(file, bytes).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    let out = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(out.status.success(), "cp -a: {out:?}");
}

both_databases! {
    fn a_restored_backup_gives_back_the_audit_log_the_recordings_and_the_logins(db) {
        let mut w = World::new(db);
        let before = w.alice.exec(&w.gw, "web01", "echo before-the-backup");
        before.ok();
        assert!(before.stdout_text().contains("before-the-backup"), "{before}");
        let session = ended_session(&w.gw);
        let pass = passphrase(&w.gw);
        // Made while the gateway serves.
        let backup = create(&w.gw, &pass);
        w.gw.stop(SHORT);

        // The disk and the database are lost.
        let data = w.gw.data_dir();
        wipe(&data);
        let restore = || w.gw.cli(&[
            "backup", "restore", backup.to_str().unwrap(),
            "--data-dir", data.to_str().unwrap(),
            "--passphrase-file", pass.to_str().unwrap(),
        ]);
        if db == Db::Postgres {
            // A database still in use is not overwritten, and nothing is left half-restored.
            let refused = restore();
            refused.failed();
            assert!(refused.stderr_text().contains("already has"), "{refused}");
            assert_eq!(fs::read_dir(&data).unwrap().count(), 0, "left in {}", data.display());
            w.gw.sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public").ok();
        }
        assert!(!w.gw.cli(&["audit", "verify"]).success());

        let restored = restore();
        restored.ok();
        assert!(restored.stdout_text().contains("restored"), "{restored}");

        let audit = w.gw.cli_ok(&["audit", "verify"]);
        assert!(audit.contains("intact"), "{audit}");
        let rec = w.gw.cli_ok(&["recording", "verify", &session]);
        assert!(rec.contains("sealed"), "{rec}");
        let cast = w.gw.cli_ok(&["recording", "export", &session, "--format", "asciicast"]);
        assert!(cast.contains("before-the-backup"), "{cast}");

        // The restored gateway takes alice's key and her grant, and reaches web01.
        w.gw.serve();
        let after = w.alice.exec(&w.gw, "web01", "echo after-the-restore");
        after.ok();
        assert!(after.stdout_text().contains("after-the-restore"), "{after}");
        let restored_entry = w.gw.wait_audit("backup.restored", |_| true);
        assert_eq!(json_text(&restored_entry, "subject"), backup.to_str().unwrap());
    }

    fn a_scheduled_backup_is_verified_audited_copied_off_site_and_pruned(db) {
        let mut w = World::new(db);
        w.alice.exec(&w.gw, "web01", "echo recorded").ok();
        ended_session(&w.gw);
        w.gw.stop(SHORT);
        let pass = passphrase(&w.gw);
        let local = w.gw.scratch().join("local");
        let offsite = w.gw.scratch().join("offsite");
        w.gw.append_config(&format!(
            "[backup]\nschedule = \"every 2s\"\nlocal = \"{}\"\noffsite = \"{}\"\nkeep = 2\npassphrase_file = \"{}\"\n",
            local.display(), offsite.display(), pass.display()
        ));
        w.gw.serve();
        let created = wait_until("three scheduled backups in the audit log", Duration::from_secs(90), || {
            let entries: Vec<Value> = w.gw.audit().into_iter()
                .filter(|e| json_text(e, "action") == "backup.created")
                .collect();
            (entries.len() >= 3).then_some(entries)
        });
        let first = &created[0];
        assert_eq!(json_text(first, "actor"), "menwei");
        let detail = &first["detail"];
        assert_eq!(detail["recordings"], 1, "{first}");
        assert_eq!(detail["verified"]["recordings"], 1, "{first}");
        assert!(detail["verified"]["audit_entries"].as_u64().unwrap() > 0, "{first}");
        assert!(detail["offsite"].as_str().unwrap().starts_with(offsite.to_str().unwrap()), "{first}");
        assert!(w.gw.audit().iter().all(|e| json_text(e, "action") != "backup.failed"));
        w.gw.stop(SHORT);
        let backups = |dir: &Path| -> Vec<PathBuf> {
            let mut v: Vec<PathBuf> = fs::read_dir(dir).unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("menwei-backup-"))
                .collect();
            v.sort();
            v
        };
        assert_eq!(backups(&local).len(), 2, "keep = 2 in {}", local.display());
        let off = backups(&offsite);
        assert_eq!(off.len(), 2, "keep = 2 in {}", offsite.display());
        let checked = verify(&w.gw, off.last().unwrap(), &pass);
        checked.ok();
        assert!(checked.stdout_text().contains("intact"), "{checked}");
    }
}

#[test]
fn a_failed_scheduled_backup_is_audited_and_sent_to_webhooks() {
    let mut gw = Gateway::init(Db::Sqlite);
    let rx = WebhookReceiver::start(free_port("127.0.0.1"), false);
    fs::write(gw.data_dir().join("webhook.secret"), "e2e-backup-secret\n").unwrap();
    let pass = passphrase(&gw);
    // `local` is a file: no backup can be written there.
    let local = gw.scratch().join("not-a-directory");
    fs::write(&local, "x").unwrap();
    gw.append_config(&format!(
        "[[webhooks]]\nurl = \"http://127.0.0.1:{}/hook\"\nsecret_file = \"webhook.secret\"\nevents = [\"backup_failed\"]\n\n[backup]\nschedule = \"every 1s\"\nlocal = \"{}\"\npassphrase_file = \"{}\"\n",
        rx.port,
        local.display(),
        pass.display()
    ));
    gw.serve();
    let failed = gw.wait_audit("backup.failed", |_| true);
    let reason = failed["detail"]["reason"].as_str().unwrap().to_string();
    assert!(reason.contains(local.to_str().unwrap()), "{failed}");
    let hits = rx.wait_hits(1, SHORT);
    assert_eq!(hits[0].header("x-menwei-event"), "backup_failed");
    assert_eq!(
        hits[0].json()["data"]["reason"],
        reason.as_str(),
        "{}",
        hits[0].json()
    );
    assert!(gw.log().contains("scheduled backup failed"), "{}", gw.log());
}

#[test]
fn a_flipped_byte_fails_verify_naming_the_member_and_its_hash() {
    let w = World::new(Db::Sqlite);
    w.alice.exec(&w.gw, "web01", "echo recorded").ok();
    let session = ended_session(&w.gw);
    let pass = passphrase(&w.gw);
    let backup = create(&w.gw, &pass);
    let good = verify(&w.gw, &backup, &pass);
    good.ok();
    assert!(
        good.stdout_text()
            .contains("1 recordings verified (1 sealed)"),
        "{good}"
    );

    let recording = format!("recordings/{session}.mwrec");
    for member in ["database.sqlite.sealed", recording.as_str(), "keys.sealed"] {
        let copy =
            w.gw.scratch()
                .join(format!("flipped-{}", member.replace('/', "-")));
        copy_dir(&backup, &copy);
        flip_byte(&copy.join(member));
        let out = verify(&w.gw, &copy, &pass);
        out.failed();
        let err = out.stderr_text();
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(&format!("member {member}: sha256 ")),
            "{member}: {err}"
        );
        assert!(err.contains("is not the manifest's"), "{member}: {err}");
        // Neither is it restored.
        let into =
            w.gw.scratch()
                .join(format!("restore-{}", member.replace('/', "-")));
        let r = w.gw.cli(&[
            "backup",
            "restore",
            copy.to_str().unwrap(),
            "--data-dir",
            into.to_str().unwrap(),
            "--passphrase-file",
            pass.to_str().unwrap(),
        ]);
        r.failed();
        assert!(!into.join("menwei.toml").exists());
    }

    // Whoever alters a recording and fixes its hash in the manifest is caught by the MAC.
    let forged = w.gw.scratch().join("forged");
    copy_dir(&backup, &forged);
    let file = forged.join(&recording);
    let old = hex::encode(Sha256::digest(fs::read(&file).unwrap()));
    flip_byte(&file);
    let new = hex::encode(Sha256::digest(fs::read(&file).unwrap()));
    let manifest = fs::read_to_string(forged.join("manifest.json")).unwrap();
    fs::write(forged.join("manifest.json"), manifest.replace(&old, &new)).unwrap();
    let out = verify(&w.gw, &forged, &pass);
    out.failed();
    assert!(
        out.stderr_text().contains("manifest.json was altered"),
        "{out}"
    );
    // Each check is audited, with what it found.
    let audited = w.gw.wait_audit("backup.verify", |e| {
        e["detail"]["problems"]
            .to_string()
            .contains("manifest.json was altered")
    });
    assert_eq!(audited["detail"]["intact"], false, "{audited}");
    w.gw.wait_audit("backup.verify", |e| e["detail"]["intact"] == true);
}

#[test]
fn a_wrong_passphrase_is_refused_in_one_line_and_a_used_data_dir_is_left_alone() {
    let gw = Gateway::init(Db::Sqlite);
    let pass = passphrase(&gw);
    let backup = create(&gw, &pass);
    let wrong = gw.scratch().join("wrong.passphrase");
    fs::write(&wrong, "not the right passphrase\n").unwrap();
    let out = verify(&gw, &backup, &wrong);
    out.failed();
    assert_eq!(
        out.stderr_text().trim(),
        "error: wrong passphrase: it does not open this backup's keys.sealed"
    );

    let before = fs::read(&gw.config).unwrap();
    let out = gw.cli(&[
        "backup",
        "restore",
        backup.to_str().unwrap(),
        "--data-dir",
        gw.data_dir().to_str().unwrap(),
        "--passphrase-file",
        pass.to_str().unwrap(),
    ]);
    out.failed();
    assert!(out.stderr_text().contains("is not empty"), "{out}");
    assert_eq!(fs::read(&gw.config).unwrap(), before);

    // A bucket without keys: one line saying where to give them, nothing uploaded.
    let out = gw.cli_env(
        &[
            "backup",
            "create",
            "--to",
            "s3://menwei-bak/site",
            "--passphrase-file",
            pass.to_str().unwrap(),
        ],
        &[("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", "")],
    );
    out.failed();
    let err = out.stderr_text();
    assert_eq!(err.trim().lines().count(), 1, "{out}");
    assert!(err.contains("no keys: set --credentials-file"), "{out}");
}

/// `--endpoint … --credentials-file …` for `s3`'s bucket.
fn s3_flags(s3: &S3Server, keys: &Path) -> Vec<String> {
    vec![
        "--endpoint".into(),
        s3.endpoint(),
        "--credentials-file".into(),
        keys.display().to_string(),
    ]
}

#[test]
fn recordings_already_in_the_store_are_backed_up_and_a_bucket_backup_restores_them() {
    let s3 = S3Server::start();
    let keys_dir = tempfile::tempdir().unwrap();
    let keys = keys_dir.path().join("s3.credentials");
    s3.write_credentials(&keys);
    let replace = replace_lines(vec![(
        "dir = \"recordings\"",
        s3.recordings_config("rec", &keys),
    )]);
    let mut w = World::with(
        Db::Sqlite,
        WorldOpts {
            replace,
            ..WorldOpts::default()
        },
    );
    w.alice.exec(&w.gw, "web01", "echo kept-in-the-store").ok();
    let session = ended_session(&w.gw);
    let object = format!("rec/{session}.mwrec");
    let spooled = w.gw.recordings_dir().join(format!("{session}.mwrec"));
    wait_until(
        "the recording uploaded and gone from the spool",
        Duration::from_secs(40),
        || (s3.keys().contains(&object) && !spooled.exists()).then_some(()),
    );

    // Into the same bucket under another prefix; the CLI prints where.
    let pass = passphrase(&w.gw);
    let mut args: Vec<String> = [
        "backup",
        "create",
        "--to",
        "s3://menwei-rec/backups",
        "--passphrase-file",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.push(pass.display().to_string());
    args.extend(s3_flags(&s3, &keys));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let place = w.gw.cli_ok(&args).trim().to_string();
    assert!(
        place.starts_with("s3://menwei-rec/backups/menwei-backup-"),
        "{place}"
    );
    let name = place.rsplit('/').next().unwrap().to_string();
    let in_bucket = |rel: &str| format!("backups/{name}/{rel}");
    let keys_now = s3.keys();
    for rel in [
        "manifest.json",
        "manifest.mac",
        "keys.sealed",
        "database.sqlite.sealed",
        &format!("recordings/{session}.mwrec"),
    ] {
        assert!(
            keys_now.contains(&in_bucket(rel)),
            "{rel} not in the bucket: {keys_now:?}"
        );
    }
    // The backup's copy is the store's recording, byte for byte.
    assert_eq!(
        fs::read(s3.object(&in_bucket(&format!("recordings/{session}.mwrec")))).unwrap(),
        fs::read(s3.object(&object)).unwrap()
    );
    let created = w.gw.wait_audit("backup.created", |_| true);
    assert_eq!(json_text(&created, "subject"), place, "{created}");
    assert_eq!(created["detail"]["recordings"], 1, "{created}");

    let verify_s3 = |w: &World| {
        let mut a = vec![
            "backup".to_string(),
            "verify".into(),
            place.clone(),
            "--passphrase-file".into(),
            pass.display().to_string(),
        ];
        a.extend(s3_flags(&s3, &keys));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        w.gw.cli(&a)
    };
    let good = verify_s3(&w);
    good.ok();
    assert!(
        good.stdout_text().contains("intact")
            && good
                .stdout_text()
                .contains("1 recordings verified (1 sealed)"),
        "{good}"
    );

    // A byte changed in the bucket is named.
    let member = s3.object(&in_bucket(&format!("recordings/{session}.mwrec")));
    let original = fs::read(&member).unwrap();
    flip_byte(&member);
    let bad = verify_s3(&w);
    bad.failed();
    assert!(
        bad.stderr_text()
            .contains(&format!("member recordings/{session}.mwrec: sha256 ")),
        "{bad}"
    );
    fs::write(&member, &original).unwrap();

    // The disk, the database and the store's copy are lost; the bucket backup brings the
    // recording back.
    w.gw.stop(SHORT);
    fs::remove_file(s3.object(&object)).unwrap();
    let data = w.gw.data_dir();
    wipe(&data);
    let mut a = vec![
        "backup".to_string(),
        "restore".into(),
        place.clone(),
        "--data-dir".into(),
        data.display().to_string(),
        "--passphrase-file".into(),
        pass.display().to_string(),
    ];
    a.extend(s3_flags(&s3, &keys));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let restored = w.gw.cli(&a);
    restored.ok();
    assert!(
        restored.stdout_text().contains("1 recordings"),
        "{restored}"
    );
    let cast =
        w.gw.cli_ok(&["recording", "export", &session, "--format", "asciicast"]);
    assert!(cast.contains("kept-in-the-store"), "{cast}");
    let audit = w.gw.cli_ok(&["audit", "verify"]);
    assert!(audit.contains("intact"), "{audit}");
    // Served again, the gateway puts it back in the store.
    w.gw.serve();
    wait_until(
        "the restored recording uploaded again",
        Duration::from_secs(40),
        || s3.keys().contains(&object).then_some(()),
    );
}

#[test]
fn a_scheduled_backup_goes_to_a_bucket_read_back_and_pruned_there() {
    let s3 = S3Server::start();
    let mut w = World::new(Db::Sqlite);
    w.alice.exec(&w.gw, "web01", "echo recorded").ok();
    ended_session(&w.gw);
    w.gw.stop(SHORT);
    let pass = passphrase(&w.gw);
    let keys = w.gw.data_dir().join("backup-s3.credentials");
    s3.write_credentials(&keys);
    let local = w.gw.scratch().join("local");
    w.gw.append_config(&format!(
        "[backup]\nschedule = \"every 2s\"\nlocal = \"{}\"\noffsite = \"s3://{}/site\"\nendpoint = \"{}\"\ncredentials_file = \"backup-s3.credentials\"\nkeep = 2\npassphrase_file = \"{}\"\n",
        local.display(), s3.bucket, s3.endpoint(), pass.display()
    ));
    w.gw.serve();
    let created = wait_until(
        "three scheduled backups in the audit log",
        Duration::from_secs(90),
        || {
            let entries: Vec<Value> =
                w.gw.audit()
                    .into_iter()
                    .filter(|e| json_text(e, "action") == "backup.created")
                    .collect();
            (entries.len() >= 3).then_some(entries)
        },
    );
    let offsite = created[0]["detail"]["offsite"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        offsite.starts_with("s3://menwei-rec/site/menwei-backup-"),
        "{}",
        created[0]
    );
    assert!(w
        .gw
        .audit()
        .iter()
        .all(|e| json_text(e, "action") != "backup.failed"));
    w.gw.stop(SHORT);
    let mut names: Vec<String> = s3
        .keys()
        .iter()
        .filter_map(|k| k.strip_prefix("site/"))
        .filter_map(|k| k.split('/').next())
        .map(str::to_string)
        .collect();
    names.dedup();
    assert_eq!(names.len(), 2, "keep = 2 in the bucket: {:?}", s3.keys());
    // The config's [backup] keys reach the bucket: no flags needed.
    let newest = format!("s3://menwei-rec/site/{}", names[1]);
    let out = w.gw.cli(&[
        "backup",
        "verify",
        &newest,
        "--passphrase-file",
        pass.to_str().unwrap(),
    ]);
    out.ok();
    assert!(out.stdout_text().contains("intact"), "{out}");
    assert!(
        !w.gw.log().contains(&s3.secret_key),
        "the secret key is in serve's log"
    );
}
