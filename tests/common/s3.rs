//! A real S3-compatible server for the recording store tests: `s3s-fs` (from crates.io;
//! `scripts/setup` installs it under `$MENWEI_TOOLS`) on a free loopback port, serving a
//! temporary directory that holds one bucket, with access keys of its own. Objects are
//! plain files under `root/bucket/`, so a test can look at what the gateway stored without
//! an S3 client. [`S3Server::stop`] and [`S3Server::start_again`] take it away and bring
//! it back on the same port and data; `Drop` stops it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{free_port, Spawned, Stdin};

/// The s3s-fs release `scripts/setup` installs (its directory under `$MENWEI_TOOLS`).
const SETUP_DIR: &str = "s3s-fs-0.14.1/bin/s3s-fs";

/// The `s3s-fs` to run ([`crate::process::setup_tool`]).
fn s3s_fs() -> PathBuf {
    crate::process::setup_tool("MENWEI_S3S_FS", SETUP_DIR, "s3s-fs")
}

/// `s3s-fs` serving one bucket on 127.0.0.1.
pub struct S3Server {
    child: Option<Spawned>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The bucket the gateway writes to.
    pub bucket: String,
    /// The access key id it accepts.
    pub access_key: String,
    /// The secret key it accepts.
    pub secret_key: String,
    root: TempDir,
}

impl S3Server {
    /// Starts a server with an empty bucket `menwei-rec`.
    pub fn start() -> S3Server {
        let root = tempfile::Builder::new()
            .prefix("menwei-s3-")
            .tempdir()
            .unwrap();
        let bucket = "menwei-rec".to_string();
        // A bucket of s3s-fs is a directory under its root.
        std::fs::create_dir_all(root.path().join(&bucket)).unwrap();
        let mut s = S3Server {
            child: None,
            port: free_port("127.0.0.1"),
            bucket,
            access_key: format!("AKMENWEI{:08x}", rand::random::<u32>()),
            secret_key: format!("{:032x}", rand::random::<u128>()),
            root,
        };
        s.start_again();
        s
    }

    /// Starts it (again) on its port and data; waits until it accepts connections.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "s3s-fs is already running");
        let mut c = Command::new(s3s_fs());
        c.args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", &self.access_key])
            .args(["--secret-key", &self.secret_key])
            .arg(self.root.path());
        let mut child = Spawned::start(c, Stdin::Null, None);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                !child.exited() && std::time::Instant::now() < deadline,
                "s3s-fs does not listen on {}:\n{}",
                self.port,
                child.snapshot()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(child);
    }

    /// Kills it: the port refuses connections until [`S3Server::start_again`].
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill();
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where the object `key` of the bucket is kept on disk.
    pub fn object(&self, key: &str) -> PathBuf {
        self.root.path().join(&self.bucket).join(key)
    }

    /// Every object key in the bucket, sorted (s3s-fs's own bookkeeping files left out).
    pub fn keys(&self) -> Vec<String> {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, base, out);
                } else if let Ok(rel) = p.strip_prefix(base) {
                    let rel = rel.to_string_lossy().into_owned();
                    if !rel.split('/').any(|part| part.starts_with('.')) {
                        out.push(rel);
                    }
                }
            }
        }
        let base = self.root.path().join(&self.bucket);
        let mut out = Vec::new();
        walk(&base, &base, &mut out);
        out.sort();
        out
    }

    /// Writes its keys to `file` in the AWS credentials file's form, for
    /// `[recordings] credentials_file`.
    pub fn write_credentials(&self, file: &Path) {
        std::fs::write(
            file,
            format!(
                "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
                self.access_key, self.secret_key
            ),
        )
        .unwrap();
    }

    /// The `[recordings]` lines that put recordings in this bucket under `prefix`, with the
    /// keys in `credentials_file`: to replace the generated `dir = "recordings"` line with.
    pub fn recordings_config(&self, prefix: &str, credentials_file: &Path) -> String {
        format!(
            "dir = \"recordings\"\nstore = \"s3://{}/{prefix}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\ncredentials_file = \"{}\"",
            self.bucket,
            self.endpoint(),
            credentials_file.display()
        )
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(c) = &self.child {
                eprintln!(
                    "----- s3s-fs log -----\n{}",
                    String::from_utf8_lossy(&c.stderr_now())
                );
            }
        }
        self.stop();
    }
}
