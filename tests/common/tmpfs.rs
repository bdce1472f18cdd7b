//! A small filesystem of its own: a `tmpfs` of a fixed size mounted on a fresh directory,
//! for tests that fill a disk (the recordings folder) without touching the machine's own.
//! Needs root (the tests run as root); a mount that fails fails the test, it never skips.
//! Unmounted in `Drop` (lazily, so a process still holding a file cannot keep it mounted).

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::process::{run, Stdin};
use crate::SHORT;

/// A mounted tmpfs.
pub struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` reads it: `8m`, `64k`).
    #[track_caller]
    pub fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::Builder::new()
            .prefix("menwei-tmpfs-")
            .tempdir()
            .unwrap();
        let mut c = Command::new("mount");
        c.args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0755"))
            .arg("menwei-e2e")
            .arg(dir.path());
        let out = run(c, Stdin::Null, SHORT);
        assert!(
            out.success(),
            "cannot mount a {size} tmpfs on {} (the disk tests need root and mount): \n{out}",
            dir.path().display()
        );
        Tmpfs { dir }
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A directory inside it, created.
    pub fn dir(&self, name: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// Mounts it again with `opts` (`ro`, `rw`): a read-only filesystem refuses writes
    /// even to root.
    #[track_caller]
    pub fn remount(&self, opts: &str) {
        let mut c = Command::new("mount");
        c.args(["-o", &format!("remount,{opts}")]).arg(self.path());
        run(c, Stdin::Null, SHORT).ok();
    }

    /// Bytes free on it.
    pub fn free(&self) -> u64 {
        let mut c = Command::new("df");
        c.args(["--output=avail", "-B1"]).arg(self.path());
        let out = run(c, Stdin::Null, SHORT);
        out.ok();
        let text = out.stdout_text();
        let last = text.lines().last().unwrap_or_default().trim().to_string();
        last.parse()
            .unwrap_or_else(|e| panic!("df said {text:?}: {e}"))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
