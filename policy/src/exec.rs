//! What an SSH `exec` request would run: a plain command or a file transfer.
//!
//! OpenSSH's `scp` sends `scp -f PATH` (download) or `scp -t PATH` (upload), rsync sends
//! `rsync --server ...`, and sftp can be run as `/usr/lib/openssh/sftp-server`. Each simple
//! command in the line (see `shell.rs`) is looked at after environment assignments, shell
//! keywords and wrappers (`env`, `exec`, `sudo`, `nice`, `timeout`, `busybox`, ...), and
//! through `sh -c`, `bash -lc`, `su -c`, `eval` and `env -S`. When in doubt the answer is a
//! transfer, which is refused.
//!
//! This is not a sandbox: an engineer allowed to run commands can always print a file.
//! It makes the standard tools fail with a clear message instead of working silently.

use crate::shell;

/// How an exec command line is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecKind {
    /// An ordinary command.
    Plain,
    /// `scp -f` (the target sends files), or any scp that is not a lone `scp -t`.
    ScpDownload,
    /// A lone `scp -t` (the target receives files), with nothing else on the line.
    ScpUpload,
    /// `rsync`, either direction.
    Rsync,
    /// `sftp-server` or `sftp`.
    Sftp,
}

/// How deep `sh -c "sh -c ..."` and `eval` are followed; a line nested deeper is refused.
const MAX_NESTING: usize = 8;

/// Wrappers that run the rest of their words as a command: name, the short options that
/// take an argument, and how many positional words come before the command.
const WRAPPERS: &[(&str, &str, usize)] = &[
    ("builtin", "", 0),
    ("busybox", "", 0),
    ("chroot", "", 1),
    ("chrt", "", 1),
    ("command", "", 0),
    ("doas", "Cu", 0),
    ("env", "uCS", 0),
    ("exec", "a", 0),
    ("ionice", "cnpP", 0),
    ("nice", "n", 0),
    ("nocache", "", 0),
    ("nohup", "", 0),
    ("setsid", "", 0),
    ("stdbuf", "eio", 0),
    ("sudo", "CDghpRrTtUu", 0),
    ("taskset", "", 1),
    ("time", "fo", 0),
    ("timeout", "ks", 1),
    ("unbuffer", "", 0),
    ("xargs", "adEeIiLlnPs", 0),
];

/// Shells (and `su`) whose `-c` runs a script given as a word.
const SHELLS: &[&str] = &[
    "ash", "bash", "dash", "ksh", "mksh", "posh", "runuser", "sh", "su", "yash", "zsh",
];

/// scp's short options that take an argument.
const SCP_ARG_OPTIONS: &str = "cDFiJloPSX";

/// Classifies an exec command line. Non-UTF-8 bytes are read as U+FFFD.
pub fn classify_exec(command: &[u8]) -> ExecKind {
    classify_line(&String::from_utf8_lossy(command), 0)
}

fn classify_line(line: &str, depth: usize) -> ExecKind {
    if depth > MAX_NESTING {
        // Too deep to follow, so what the line runs is unknown: a name can hide in quoting
        // that only a full reading decodes (`$'\x73ftp-server'`). Refused as a transfer,
        // named after a tool the line mentions, if any.
        return match by_substring(line) {
            ExecKind::Plain => ExecKind::ScpDownload,
            kind => kind,
        };
    }
    let script = shell::split(line);
    let mut kinds: Vec<ExecKind> = script
        .commands
        .iter()
        .map(|words| classify_words(words, depth))
        .collect();
    if script.truncated {
        // Nested too deep to trust the split: any mention of a tool counts as well.
        kinds.push(by_substring(line));
    }
    combine(&kinds, script.compound)
}

/// The line's kind from its commands' kinds: any refused transfer wins; an upload counts
/// only alone, since anything next to it could send data out.
fn combine(kinds: &[ExecKind], compound: bool) -> ExecKind {
    for refused in [ExecKind::Sftp, ExecKind::Rsync, ExecKind::ScpDownload] {
        if kinds.contains(&refused) {
            return refused;
        }
    }
    if kinds.contains(&ExecKind::ScpUpload) {
        return if compound || kinds.len() > 1 {
            ExecKind::ScpDownload
        } else {
            ExecKind::ScpUpload
        };
    }
    ExecKind::Plain
}

/// Fallback for lines nested too deep to follow: any mention of a tool counts.
fn by_substring(line: &str) -> ExecKind {
    let line = line.to_ascii_lowercase();
    if line.contains("sftp") {
        ExecKind::Sftp
    } else if line.contains("rsync") {
        ExecKind::Rsync
    } else if line.contains("scp") {
        ExecKind::ScpDownload
    } else {
        ExecKind::Plain
    }
}

fn classify_words(words: &[String], depth: usize) -> ExecKind {
    let mut rest = words;
    while let Some((first, tail)) = rest.split_first() {
        if is_assignment(first) || is_keyword(first) {
            rest = tail;
            continue;
        }
        let name = first
            .rsplit('/')
            .next()
            .unwrap_or(first)
            .to_ascii_lowercase();
        match name.as_str() {
            "scp" => return scp_kind(tail),
            "rsync" | "openrsync" => return ExecKind::Rsync,
            "sftp" | "sftp-server" | "internal-sftp" => return ExecKind::Sftp,
            "eval" => return classify_line(&tail.join(" "), depth + 1),
            shell if SHELLS.contains(&shell) => return shell_kind(tail, depth),
            other => {
                if other == "env" {
                    if let Some(kind) = env_split_string(tail, depth) {
                        return kind;
                    }
                }
                match WRAPPERS.iter().find(|(wrapper, _, _)| *wrapper == other) {
                    Some((_, arg_options, positional)) => {
                        rest = skip_options(tail, arg_options, *positional);
                    }
                    None => return ExecKind::Plain,
                }
            }
        }
    }
    ExecKind::Plain
}

/// `NAME=value` (or `NAME+=value`) before a command.
fn is_assignment(word: &str) -> bool {
    let Some((name, _)) = word.split_once('=') else {
        return false;
    };
    let name = name.strip_suffix('+').unwrap_or(name);
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Shell words that come before a command without being one.
fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "!" | "if" | "then" | "else" | "elif" | "do" | "while" | "until"
    )
}

/// Skips a wrapper's options (and their arguments) and its positional words.
fn skip_options<'w>(words: &'w [String], arg_options: &str, positional: usize) -> &'w [String] {
    let mut rest = words;
    while let Some((word, tail)) = rest.split_first() {
        if word == "--" {
            rest = tail;
            break;
        }
        let Some(flags) = word.strip_prefix('-') else {
            break;
        };
        rest = tail;
        if flags.starts_with('-') {
            continue;
        }
        // `-u root`: the option's argument is the next word when the option ends the cluster.
        if let Some(at) = flags.find(|c| arg_options.contains(c)) {
            if at + 1 == flags.len() {
                rest = rest.split_first().map_or(rest, |(_, tail)| tail);
            }
        }
    }
    for _ in 0..positional {
        rest = rest.split_first().map_or(rest, |(_, tail)| tail);
    }
    rest
}

/// `env -S 'scp -f x'` splits its argument into words: read it as a command line.
fn env_split_string(args: &[String], depth: usize) -> Option<ExecKind> {
    let mut rest = args;
    while let Some((word, tail)) = rest.split_first() {
        let (split, after) = if word == "-S" || word == "--split-string" {
            let (split, after) = tail.split_first()?;
            (split.as_str(), after)
        } else if let Some(split) = word.strip_prefix("--split-string=") {
            (split, tail)
        } else if let Some(split) = word.strip_prefix("-S") {
            (split, tail)
        } else if word.starts_with('-') {
            rest = tail;
            continue;
        } else {
            return None;
        };
        let mut line = split.to_owned();
        for word in after {
            line.push(' ');
            line.push_str(word);
        }
        return Some(classify_line(&line, depth + 1));
    }
    None
}

/// `sh -c SCRIPT`, `bash -lc SCRIPT`, `su root -c SCRIPT`: classify the script.
fn shell_kind(args: &[String], depth: usize) -> ExecKind {
    let mut rest = args;
    while let Some((word, tail)) = rest.split_first() {
        rest = tail;
        if let Some(script) = word.strip_prefix("--command=") {
            return classify_line(script, depth + 1);
        }
        let runs_script = word == "--command"
            || (word.starts_with('-') && !word.starts_with("--") && word.contains('c'));
        if runs_script {
            return rest
                .first()
                .map_or(ExecKind::Plain, |script| classify_line(script, depth + 1));
        }
    }
    // A shell reading its script from stdin or a file: what it runs is not on this line.
    ExecKind::Plain
}

/// `scp -t` alone is an upload; `-f`, both, or neither (scp run to copy elsewhere) is not.
fn scp_kind(args: &[String]) -> ExecKind {
    let (mut sink, mut source) = (false, false);
    let mut rest = args;
    while let Some((word, tail)) = rest.split_first() {
        rest = tail;
        if word == "--" {
            break;
        }
        // Options may follow operands (getopt permutes), so keep looking past them.
        let Some(flags) = word.strip_prefix('-') else {
            continue;
        };
        if flags.starts_with('-') {
            continue;
        }
        for (at, c) in flags.char_indices() {
            match c {
                't' => sink = true,
                'f' => source = true,
                c if SCP_ARG_OPTIONS.contains(c) => {
                    if at + 1 == flags.len() {
                        rest = rest.split_first().map_or(rest, |(_, tail)| tail);
                    }
                    break;
                }
                _ => {}
            }
        }
    }
    if sink && !source {
        ExecKind::ScpUpload
    } else {
        ExecKind::ScpDownload
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ExecKind::*;

    fn kind(line: &str) -> ExecKind {
        classify_exec(line.as_bytes())
    }

    #[test]
    fn what_openssh_scp_sends() {
        assert_eq!(kind("scp -f /etc/passwd"), ScpDownload);
        assert_eq!(kind("scp -f -- /etc/passwd"), ScpDownload);
        assert_eq!(kind("scp -r -p -f -- /var/log"), ScpDownload);
        assert_eq!(kind("scp -t /tmp"), ScpUpload);
        assert_eq!(kind("scp -r -d -t -- /tmp"), ScpUpload);
        assert_eq!(kind("scp -rdt /tmp"), ScpUpload);
        assert_eq!(kind("scp -v -t -- /tmp"), ScpUpload);
    }

    #[test]
    fn scp_that_is_not_a_lone_sink_is_a_download() {
        assert_eq!(kind("scp -t -f /tmp"), ScpDownload);
        assert_eq!(kind("scp /etc/passwd evil:/x"), ScpDownload);
        assert_eq!(kind("scp -t /tmp; cat /etc/shadow"), ScpDownload);
        assert_eq!(kind("scp -t \"/tmp/$(cat /etc/shadow)\""), ScpDownload);
        assert_eq!(kind("scp -t /tmp > /dev/null"), ScpDownload);
        assert_eq!(kind("scp -o -f -t /tmp"), ScpUpload, "-f is -o's argument");
        assert_eq!(kind("scp -P 22 -t /tmp"), ScpUpload);
    }

    #[test]
    fn paths_whitespace_and_quoting_do_not_hide_scp() {
        for line in [
            "  \t/usr/bin/scp -f x",
            "./scp -f x",
            "'scp' -f x",
            "\"/usr/bin/scp\" -f x",
            "\\scp -f x",
            "SCP -f x",
            "s'c'p -f x",
            "$'\\x73cp' -f x",
            "{scp,-f,x}",
        ] {
            assert_eq!(kind(line), ScpDownload, "{line:?}");
        }
    }

    #[test]
    fn prefixes_and_wrappers_do_not_hide_scp() {
        for line in [
            "LC_ALL=C scp -f x",
            "env scp -f x",
            "env -i PATH=/bin scp -f x",
            "env -u HOME scp -f x",
            "/usr/bin/env scp -f x",
            "env -S 'scp -f x'",
            "exec scp -f x",
            "command scp -f x",
            "nice -n 5 scp -f x",
            "nohup scp -f x",
            "sudo -u root scp -f x",
            "timeout -s KILL 10 scp -f x",
            "busybox scp -f x",
            "time scp -f x",
            "! scp -f x",
            "sh -c 'scp -f x'",
            "/bin/bash -lc \"scp -f x\"",
            "bash -o pipefail -c 'scp -f x'",
            "su root -c 'scp -f x'",
            "sh -c \"sh -c 'scp -f x'\"",
            "eval scp -f x",
            "cd /tmp && scp -f x",
            "true; scp -f x",
            "echo $(scp -f x)",
            "echo \"`scp -f x`\"",
            "cat <(scp -f x)",
            "2>/dev/null scp -f x",
            "(scp -f x)",
            "if true; then scp -f x; fi",
            "for f in a; do scp -f $f; done",
        ] {
            assert_eq!(kind(line), ScpDownload, "{line:?}");
        }
    }

    #[test]
    fn wrapped_lone_upload_stays_an_upload() {
        assert_eq!(kind("sh -c 'scp -t /tmp'"), ScpUpload);
        assert_eq!(kind("LANG=C scp -t /tmp"), ScpUpload);
    }

    #[test]
    fn rsync_and_sftp() {
        assert_eq!(
            kind("rsync --server --sender -vlogDtpre.iLsfxC . /etc"),
            Rsync
        );
        assert_eq!(kind("rsync --server -vlogDtpre.iLsfxC . /tmp"), Rsync);
        assert_eq!(kind("/usr/lib/openssh/sftp-server"), Sftp);
        assert_eq!(kind("/usr/libexec/sftp-server -e"), Sftp);
        assert_eq!(kind("sftp"), Sftp);
        assert_eq!(kind("scp -f x; rsync --server"), Rsync);
    }

    #[test]
    fn plain_commands() {
        for line in [
            "",
            "   ",
            "uptime",
            "systemctl status nginx",
            "grep scp /var/log/auth.log",
            "echo 'scp -f x'",
            "ls # scp -f x",
            "tail -n 100 /var/log/syslog | grep error",
            "sudo -u www-data ls /srv",
            "bash deploy.sh",
        ] {
            assert_eq!(kind(line), Plain, "{line:?}");
        }
    }

    #[test]
    fn non_utf8_and_nul_bytes() {
        assert_eq!(classify_exec(b"\xffscp -f x"), Plain);
        assert_eq!(classify_exec(b"\xff; scp -f x"), ScpDownload);
        assert_eq!(classify_exec(b"\0scp -f x"), ScpDownload);
    }

    #[test]
    fn deep_nesting_falls_back_to_refusing() {
        let line = "echo ".to_owned() + &"$(".repeat(50) + "scp -f x";
        assert_eq!(kind(&line), ScpDownload);
        let mut nested = "scp -f x".to_owned();
        for _ in 0..12 {
            nested = format!("sh -c {}", shell_quote(&nested));
        }
        assert_eq!(kind(&nested), ScpDownload);
    }

    #[test]
    fn a_tool_hidden_in_escapes_below_the_nesting_limit_is_refused() {
        // Found by the exec_line fuzz target's property (a transfer stays a transfer under
        // `sh -c`): nine levels of `sh -c` around `$'\x73ftp-server'` read as Plain, since
        // the fallback only looked for the tool's name, which the escape hides.
        let mut nested = r"$'\x73ftp-server'".to_owned();
        assert_eq!(kind(&nested), Sftp);
        for level in 1..=12 {
            nested = format!("sh -c {}", shell_quote(&nested));
            assert_ne!(kind(&nested), Plain, "{level} levels: {nested}");
        }
        // And anything nested that deep is refused, whatever it says.
        let mut ls = "ls".to_owned();
        for _ in 0..12 {
            ls = format!("sh -c {}", shell_quote(&ls));
        }
        assert_eq!(kind(&ls), ScpDownload);
    }

    fn shell_quote(s: &str) -> String {
        format!("'{}'", s.replace('\'', r"'\''"))
    }

    fn arb_prefix() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "",
            " ",
            "\t  ",
            "LC_ALL=C ",
            "A=1 B=2 ",
            "env ",
            "env -i ",
            "exec ",
            "sudo ",
            "nice ",
            "nohup ",
            "cd /tmp; ",
            "true && ",
            "false || ",
            "ls | ",
            "(",
            "/usr/bin/env ",
        ])
        .prop_map(str::to_owned)
    }

    proptest! {
        #[test]
        fn scp_is_never_plain(
            prefix in arb_prefix(),
            path in prop::sample::select(vec!["", "/usr/bin/", "./", "/opt/x y/"]),
            name in prop::sample::select(vec!["scp", "'scp'", "\"scp\"", "s\\cp", "SCP"]),
            args in any::<String>(),
            wrap in any::<bool>(),
        ) {
            let path = if path.contains(' ') { format!("'{path}'") } else { path.to_owned() };
            let command = format!("{prefix}{path}{name} {args}");
            let line = if wrap { format!("sh -c {}", shell_quote(&command)) } else { command };
            prop_assert_ne!(kind(&line), Plain, "{:?}", line);
        }

        #[test]
        fn classify_never_panics(raw in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = classify_exec(&raw);
        }

        #[test]
        fn classify_never_panics_on_shell_soup(
            line in "[ a-z'\"`$()\\\\;&|<>#{},=\n-]{0,80}",
        ) {
            let _ = kind(&line);
        }
    }
}
