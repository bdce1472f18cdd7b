//! Uploads that policy allows: `scp -O` passes, and the recording and the audit log hold
//! each file's path, size and SHA-256. SFTP stays refused, and says how uploads are made.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use menwei_e2e::*;
use rand::RngCore;
use sha2::{Digest, Sha256};

const UPLOADS: &str =
    "[policy.groups.web]\ntargets = [\"web01\"]\nengineers = [\"*\"]\nallow_uploads = true\n";

both_databases! {
    fn allowed_upload_arrives_and_is_audited_with_its_digest(db) {
        let w = World::with(db, WorldOpts { config: UPLOADS, ..WorldOpts::default() });
        let src = w.alice.home().join("payload.bin");
        let mut bytes = vec![0u8; 300_000];
        rand::thread_rng().fill_bytes(&mut bytes);
        std::fs::write(&src, &bytes).unwrap();
        let digest = hex::encode(Sha256::digest(&bytes));
        let remote = format!("/tmp/menwei-e2e-allowed-{}-{}", std::process::id(), rand::random::<u32>());
        let dst = format!("127.0.0.1:{remote}");

        let out = w.alice.scp(&w.gw, "web01", &["-O", src.to_str().unwrap(), &dst]);
        out.ok();
        assert!(Path::new(&remote).exists(), "the upload did not reach the target");
        assert_eq!(hex::encode(Sha256::digest(std::fs::read(&remote).unwrap())), digest);
        let _ = std::fs::remove_file(&remote);

        let e = w.gw.wait_audit("upload", |e| e.to_string().contains(&digest));
        assert!(e.to_string().contains("300000"), "{e}");

        // SFTP stays refused here, with a hint.
        let sftp = w.alice.sftp(&w.gw, "web01", "ls /\n");
        sftp.failed();
        assert!(sftp.stderr_text().contains("scp -O"), "{sftp}");
    }
}
