//! Any bytes as an SSH `exec` command line for `policy::classify_exec` (and through it the
//! shell reader, `policy/src/shell.rs`). No panic, and the classification cannot be
//! talked down:
//! - a transfer first on the line stays refused whatever follows it;
//! - a line classified as a transfer is still a transfer when run through `sh -c`,
//!   `bash -lc` or `sudo`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use menwei_fuzz::sh_quote;
use policy::{classify_exec, ExecKind};

fuzz_target!(|bytes: &[u8]| {
    let kind = classify_exec(bytes);

    for (prefix, expected) in [
        (&b"/usr/lib/openssh/sftp-server\n"[..], ExecKind::Sftp),
        (&b"scp -f /etc/passwd; "[..], ExecKind::ScpDownload),
    ] {
        let line = [prefix, bytes].concat();
        let got = classify_exec(&line);
        // Sftp, rsync and downloads are all refused; which one is named may differ.
        assert!(
            got != ExecKind::Plain && got != ExecKind::ScpUpload,
            "{expected:?} first, then {:?}, classified as {got:?}",
            String::from_utf8_lossy(bytes)
        );
    }

    if kind != ExecKind::Plain {
        let line = String::from_utf8_lossy(bytes);
        for wrapper in ["sh -c", "bash -lc", "sudo -u root sh -c"] {
            let wrapped = format!("{wrapper} {}", sh_quote(&line));
            let got = classify_exec(wrapped.as_bytes());
            assert!(
                got != ExecKind::Plain,
                "{line:?} is {kind:?}, but {wrapped:?} is {got:?}"
            );
        }
    }
});
