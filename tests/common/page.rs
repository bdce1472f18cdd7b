//! The built page (`web-terminal/dist`) and web logins for the browser tests: the tests
//! that drive Chromium (browser.rs, console.rs) serve the same built files and log people
//! in with a password and TOTP the same way.

use std::path::{Path, PathBuf};

use crate::{Gateway, Stdin, WEB_PASSWORD};

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `web-terminal/dist`, checked to hold `files`; a clear failure says how to build it.
pub fn built_page(files: &[&str]) -> PathBuf {
    let dist = repo_root().join("web-terminal/dist");
    for f in files {
        assert!(
            dist.join(f).is_file(),
            "the page is not built ({} is missing): run web-terminal/build",
            dist.join(f).display()
        );
    }
    dist.canonicalize().unwrap_or(dist)
}

/// Sets `name`'s web password ([`WEB_PASSWORD`]), enrolls TOTP (every role's web login
/// asks for a code) and returns the secret as hex, for the page scripts' own codes.
pub fn web_login_hex(gw: &Gateway, name: &str) -> String {
    gw.cli_with(
        &["user", "passwd", name],
        Stdin::Bytes(format!("{WEB_PASSWORD}\n").into_bytes()),
    )
    .ok();
    hex::encode(gw.enroll_totp(name))
}
