//! What an SSH `exec` request would run: a plain command or a file transfer.
//!
//! OpenSSH's `scp` sends `scp -f PATH` (download) or `scp -t PATH` (upload), rsync sends
//! `rsync --server ...`, and sftp can be run as `/usr/lib/openssh/sftp-server`. Each simple
//! command in the line (see `shell.rs`) is looked at after environment assignments, shell
//! keywords and wrappers (`env`, `exec`, `sudo`, `nice`, `timeout`, `busybox`, `xargs`,
//! ...), and through `sh -c`, `bash -lc`, `su -c`, `script -c`, `eval`, `env -S`, `watch`,
//! `sg`, `ssh HOST CMD` and `find -exec`. When in doubt the answer is a transfer, which is
//! refused.
//!
//! The same walk notes the shell syntax that hides what runs (`$S`, `eval`, `sh -s`, …;
//! see `shell_syntax.rs`), which [`shell_syntax`] reports.
//!
//! This is not a sandbox: an engineer allowed to run commands can always print a file.
//! It makes the standard tools fail with a clear message instead of working silently.

use crate::shell;
use crate::shell_syntax::{self as syntax, Found, ShellSyntax};

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
    "ash", "bash", "dash", "ksh", "mksh", "posh", "runuser", "script", "sh", "su", "yash", "zsh",
];

/// ssh's short options that take an argument.
const SSH_ARG_OPTIONS: &str = "BbcDEeFIiJLlmOoPpQRSWw";

/// scp's short options that take an argument.
const SCP_ARG_OPTIONS: &str = "cDFiJloPSX";

/// Classifies an exec command line. Non-UTF-8 bytes are read as U+FFFD.
pub fn classify_exec(command: &[u8]) -> ExecKind {
    classify_line(&String::from_utf8_lossy(command), 0, &mut Walk::default())
}

/// The first shell syntax in an exec command line that hides what it runs, if any.
pub fn shell_syntax(command: &[u8]) -> Option<ShellSyntax> {
    let mut walk = Walk::default();
    classify_line(&String::from_utf8_lossy(command), 0, &mut walk);
    walk.found.first()
}

/// What the walk carries: the syntax found so far, and whether the command being read
/// gets its own command from input (`xargs`).
#[derive(Default)]
struct Walk {
    found: Found,
    from_input: bool,
}

fn classify_line(line: &str, depth: usize, walk: &mut Walk) -> ExecKind {
    if depth > MAX_NESTING {
        walk.found.note(ShellSyntax::NestedShell);
        // Too deep to follow, so what the line runs is unknown: a name can hide in quoting
        // that only a full reading decodes (`$'\x73ftp-server'`). Refused as a transfer,
        // named after a tool the line mentions, if any.
        return match by_substring(line) {
            ExecKind::Plain => ExecKind::ScpDownload,
            kind => kind,
        };
    }
    let script = shell::split(line);
    for (seen, syntax) in [
        (script.dollar, ShellSyntax::Dollar),
        (script.backquote, ShellSyntax::Backquote),
        (
            script.process_substitution,
            ShellSyntax::ProcessSubstitution,
        ),
        (script.brace, ShellSyntax::Brace),
        (script.truncated, ShellSyntax::NestedShell),
    ] {
        if seen {
            walk.found.note(syntax);
        }
    }
    let mut kinds: Vec<ExecKind> = script
        .commands
        .iter()
        .map(|words| {
            walk.from_input = false;
            classify_words(words, depth, walk)
        })
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

fn classify_words(words: &[String], depth: usize, walk: &mut Walk) -> ExecKind {
    let mut rest = words;
    while let Some((first, tail)) = rest.split_first() {
        if is_assignment(first) || is_keyword(first) {
            if syntax::sets_code_variable(first) {
                walk.found.note(ShellSyntax::CodeVariable);
            }
            rest = tail;
            continue;
        }
        let name = first
            .rsplit('/')
            .next()
            .unwrap_or(first)
            .to_ascii_lowercase();
        if let Some(found) = syntax::command_name(first, &name) {
            walk.found.note(found);
        }
        if syntax::sets_code_variable(first) {
            // `env 'BASH_FUNC_ls%%=() { …; }'`: not a name `is_assignment` accepts.
            walk.found.note(ShellSyntax::CodeVariable);
        }
        match name.as_str() {
            "scp" => return scp_kind(tail),
            "rsync" | "openrsync" => return ExecKind::Rsync,
            "sftp" | "sftp-server" | "internal-sftp" => return ExecKind::Sftp,
            "eval" => return nested_line(&tail.join(" "), depth, walk),
            "watch" => {
                // watch runs its words joined, through `sh -c`.
                let command = skip_options(tail, "nq", 0);
                return classify_line(&command.join(" "), depth + 1, walk);
            }
            // Their words after a group or host, joined, are a command line: `sg` runs it
            // through `sh -c`, `ssh` on another host. Without one, a shell reads input.
            "sg" | "ssh" => {
                let arg_options = if name == "ssh" { SSH_ARG_OPTIONS } else { "" };
                let command = skip_options(tail, arg_options, 1);
                if command.is_empty() {
                    walk.found.note(ShellSyntax::ShellScript);
                    return ExecKind::Plain;
                }
                return nested_line(&command.join(" "), depth, walk);
            }
            // GNU parallel runs its arguments or its input as commands, through a shell.
            "parallel" => {
                walk.found.note(ShellSyntax::FromInput);
                return by_substring(&tail.join(" "));
            }
            "xargs" => {
                let (replace, command) = syntax::xargs_command(tail);
                let hidden = command.first().is_some_and(|name| {
                    name.contains("{}") || replace.as_deref().is_some_and(|r| name.contains(r))
                });
                if hidden {
                    walk.found.note(ShellSyntax::FromInput);
                }
                walk.from_input = true;
                rest = command;
                continue;
            }
            "find" => {
                let mut kinds = Vec::new();
                for command in syntax::find_commands(tail) {
                    if command.first().is_some_and(|name| name.contains("{}")) {
                        walk.found.note(ShellSyntax::FromInput);
                    }
                    kinds.push(classify_words(command, depth, walk));
                }
                // Run once per file found: an upload among them is not a lone `scp -t`.
                return combine(&kinds, true);
            }
            shell if SHELLS.contains(&shell) => return shell_kind(tail, depth, walk),
            declarer if syntax::DECLARERS.contains(&declarer) => {
                if tail.iter().any(|w| syntax::sets_code_variable(w)) {
                    walk.found.note(ShellSyntax::CodeVariable);
                }
                return ExecKind::Plain;
            }
            other => {
                if other == "env" {
                    if let Some(kind) = env_split_string(tail, depth, walk) {
                        return kind;
                    }
                }
                match WRAPPERS.iter().find(|(wrapper, _, _)| *wrapper == other) {
                    Some((_, arg_options, positional)) => {
                        rest = skip_options(tail, arg_options, *positional);
                        if rest.is_empty() {
                            wrapper_alone(other, tail, walk);
                        }
                    }
                    None => return ExecKind::Plain,
                }
            }
        }
    }
    ExecKind::Plain
}

/// A wrapper with no command after it: `sudo -s` runs a shell reading its input, and
/// under `xargs` the command comes from the input.
fn wrapper_alone(wrapper: &str, args: &[String], walk: &mut Walk) {
    let shell_option = |w: &String| {
        matches!(w.as_str(), "--shell" | "--login")
            || (w.starts_with('-') && !w.starts_with("--") && w.contains(['s', 'i']))
    };
    if matches!(wrapper, "sudo" | "doas") && args.iter().any(shell_option) {
        walk.found.note(ShellSyntax::ShellScript);
    } else if walk.from_input {
        walk.found.note(ShellSyntax::FromInput);
    }
}

/// A script inside a script (`sh -c`, `eval`, `su -c`, `env -S`): read at the next depth,
/// where a shell or `eval` is a shell inside a shell.
fn nested_line(line: &str, depth: usize, walk: &mut Walk) -> ExecKind {
    if depth > 0 {
        walk.found.note(ShellSyntax::NestedShell);
    }
    classify_line(line, depth + 1, walk)
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
        "!" | "if" | "then" | "else" | "elif" | "do" | "while" | "until" | "coproc"
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
fn env_split_string(args: &[String], depth: usize, walk: &mut Walk) -> Option<ExecKind> {
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
        return Some(nested_line(&line, depth, walk));
    }
    None
}

/// `sh -c SCRIPT`, `bash -lc SCRIPT`, `su root -c SCRIPT`: classify the script.
fn shell_kind(args: &[String], depth: usize, walk: &mut Walk) -> ExecKind {
    let mut rest = args;
    while let Some((word, tail)) = rest.split_first() {
        rest = tail;
        if let Some(script) = word.strip_prefix("--command=") {
            return nested_line(script, depth, walk);
        }
        let runs_script = word == "--command"
            || (word.starts_with('-') && !word.starts_with("--") && word.contains('c'));
        if runs_script {
            return match rest.first() {
                Some(script) => nested_line(script, depth, walk),
                None => {
                    // `-c` without its script: under xargs, the script is the input.
                    walk.found.note(ShellSyntax::ShellScript);
                    ExecKind::Plain
                }
            };
        }
    }
    // A shell reading its script from stdin or a file: what it runs is not on this line.
    walk.found.note(ShellSyntax::ShellScript);
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
            "watch scp -f x",
            "sg wheel scp -f x",
            "sg wheel 'scp -f x'",
            "ssh -o BatchMode=yes -p 22 other scp -f x",
            "script -qc 'scp -f x' /dev/null",
            "parallel ::: 'scp -f x'",
            "find / -name x -exec scp -f {} ;",
            "echo x | xargs scp -f",
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
