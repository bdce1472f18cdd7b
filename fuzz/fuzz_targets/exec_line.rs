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

/// At most 200 characters of `line`, for a message (a nested line can be kilobytes).
fn clip(line: &str) -> String {
    match line.char_indices().nth(200) {
        Some((at, _)) => format!("{}… ({} bytes)", &line[..at], line.len()),
        None => line.to_owned(),
    }
}

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
            clip(&String::from_utf8_lossy(bytes))
        );
    }

    if kind != ExecKind::Plain {
        let line = String::from_utf8_lossy(bytes);
        for wrapper in ["sh -c", "bash -lc", "sudo -u root sh -c"] {
            let wrapped = format!("{wrapper} {}", sh_quote(&line));
            let got = classify_exec(wrapped.as_bytes());
            assert!(
                got != ExecKind::Plain,
                "{:?} is {kind:?}, but under {wrapper:?} it is {got:?}",
                clip(&line)
            );
        }
    }
});
