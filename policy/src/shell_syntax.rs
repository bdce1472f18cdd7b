//! Shell syntax that makes the target's shell decide what runs: the indirections an exec
//! line can use to hide a command from [`classify_exec`](crate::classify_exec).
//!
//! `S=/usr/lib/openssh/sftp-server; $S` runs sftp-server, yet no word of it names a tool
//! the way a command does. So where a target allows exec, a line that uses `$` expansion,
//! backquotes, process substitution, `eval`, `source`, a shell reading its script from
//! input, a shell inside `sh -c`, aliases, wildcards or braces in a command name, commands
//! taken from input (`xargs`, `find -exec {}`) or the variables through which a shell runs
//! other code (`BASH_ENV`, `PS4`, …) is refused unless every group holding the target sets
//! `allow_shell_syntax`. Single-quoted text is data (`awk '{print $1}'` passes), except
//! where it is itself a script (`sh -c '…'`, `su -c`, `env -S`, `watch`), which is read
//! the same way.
//!
//! Not the walk over the line (that is `exec.rs`, which reports what it meets here), and
//! not a sandbox: a program on the target can still run anything (`python3 -c …`, a copy
//! of a tool under another name). It makes the shell's own ways of hiding a command fail
//! with a clear message.

/// A kind of shell syntax that hides what an exec line runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShellSyntax {
    /// `$NAME`, `${…}`, `$(…)`, `$((…))`, `$"…"`, outside single quotes.
    Dollar,
    /// `` `…` ``: command substitution with backquotes.
    Backquote,
    /// `<(…)` or `>(…)`.
    ProcessSubstitution,
    /// `eval`, `trap`: a string run as a command.
    Eval,
    /// `source FILE`, `. FILE`: a file run as a script.
    Source,
    /// A shell reading its script from input or a file (`sh -s`, `bash`, `bash FILE`,
    /// `sudo -s`).
    ShellScript,
    /// A shell, or `eval`, inside `sh -c` (or nested too deep to follow).
    NestedShell,
    /// `alias`, `hash`, `enable`: another name for a command.
    Alias,
    /// `*`, `?` or `[` in a command name.
    Glob,
    /// Brace expansion, `{a,b}`.
    Brace,
    /// A command taken from input: `xargs` with no command of its own or `{}` as one,
    /// `find -exec {}`.
    FromInput,
    /// Setting a variable through which a shell or the loader runs other code.
    CodeVariable,
}

impl ShellSyntax {
    /// Every kind, in the order of this file.
    pub const ALL: &'static [ShellSyntax] = &[
        ShellSyntax::Dollar,
        ShellSyntax::Backquote,
        ShellSyntax::ProcessSubstitution,
        ShellSyntax::Eval,
        ShellSyntax::Source,
        ShellSyntax::ShellScript,
        ShellSyntax::NestedShell,
        ShellSyntax::Alias,
        ShellSyntax::Glob,
        ShellSyntax::Brace,
        ShellSyntax::FromInput,
        ShellSyntax::CodeVariable,
    ];

    /// What was found, for the engineer's one line.
    pub fn describe(self) -> &'static str {
        match self {
            ShellSyntax::Dollar => "$ expansion",
            ShellSyntax::Backquote => "backquotes",
            ShellSyntax::ProcessSubstitution => "process substitution",
            ShellSyntax::Eval => "eval, which runs a string as a command",
            ShellSyntax::Source => "source, which runs a file as a script",
            ShellSyntax::ShellScript => "a shell reading its script from input or a file",
            ShellSyntax::NestedShell => "a shell inside sh -c",
            ShellSyntax::Alias => "an alias for a command",
            ShellSyntax::Glob => "a wildcard in a command name",
            ShellSyntax::Brace => "brace expansion",
            ShellSyntax::FromInput => "a command taken from input (xargs, find -exec {})",
            ShellSyntax::CodeVariable => "a variable that makes the shell run other code",
        }
    }
}

/// The first shell syntax met on a line, as the walk in `exec.rs` reports it.
#[derive(Debug, Default)]
pub(crate) struct Found(Option<ShellSyntax>);

impl Found {
    /// Notes `syntax` unless something was found before.
    pub(crate) fn note(&mut self, syntax: ShellSyntax) {
        self.0.get_or_insert(syntax);
    }

    pub(crate) fn first(&self) -> Option<ShellSyntax> {
        self.0
    }
}

/// Builtins that give a command another name.
const ALIASES: &[&str] = &["alias", "enable", "hash"];

/// Builtins that run a string as a command, now or later.
const EVALS: &[&str] = &["eval", "trap"];

/// What a command word (`word` as written, `name` its last path part in lowercase) says
/// itself: `eval`, `source`, an alias, a wildcard anywhere in its path.
pub(crate) fn command_name(word: &str, name: &str) -> Option<ShellSyntax> {
    if EVALS.contains(&name) {
        Some(ShellSyntax::Eval)
    } else if name == "source" || name == "." {
        Some(ShellSyntax::Source)
    } else if ALIASES.contains(&name) {
        Some(ShellSyntax::Alias)
    } else if word != "[" && word != "[[" && word.contains(['*', '?', '[']) {
        Some(ShellSyntax::Glob)
    } else {
        None
    }
}

/// Variables through which a shell or the dynamic loader runs code named elsewhere.
const CODE_VARIABLES: &[&str] = &[
    "BASH_ENV",
    "BASHOPTS",
    "ENV",
    "LD_AUDIT",
    "LD_PRELOAD",
    "PROMPT_COMMAND",
    "PS4",
    "SHELLOPTS",
];

/// Whether `word` sets (`NAME=…`, `NAME+=…`) or names one of those variables, or an
/// exported bash function (`BASH_FUNC_…`).
pub(crate) fn sets_code_variable(word: &str) -> bool {
    let name = word.split_once('=').map_or(word, |(name, _)| name);
    let name = name.strip_suffix('+').unwrap_or(name);
    CODE_VARIABLES.contains(&name) || word.contains("BASH_FUNC_")
}

/// Builtins whose arguments are assignments.
pub(crate) const DECLARERS: &[&str] = &["declare", "export", "local", "readonly", "typeset"];

/// The string `xargs` replaces in its command (`-I R`, `-i`), and the words after its
/// options: the command it runs, empty for `echo`.
pub(crate) fn xargs_command(args: &[String]) -> (Option<String>, &[String]) {
    let mut replace = None;
    let mut rest = args;
    while let Some((word, tail)) = rest.split_first() {
        if word == "--" {
            return (replace, tail);
        }
        if let Some(long) = word.strip_prefix("--") {
            rest = tail;
            match long.split_once('=') {
                Some(("replace" | "replace-str", r)) => replace = Some(r.to_owned()),
                None if long == "replace" => replace = Some("{}".to_owned()),
                _ => {}
            }
            continue;
        }
        let Some(flags) = word.strip_prefix('-').filter(|f| !f.is_empty()) else {
            return (replace, rest);
        };
        rest = tail;
        for (at, c) in flags.char_indices() {
            let attached = flags.get(at + c.len_utf8()..).unwrap_or("");
            match c {
                'I' | 'i' => {
                    replace = Some(if !attached.is_empty() {
                        attached.to_owned()
                    } else if c == 'I' {
                        let (next, after) = rest
                            .split_first()
                            .map_or(("{}", rest), |(n, a)| (n.as_str(), a));
                        rest = after;
                        next.to_owned()
                    } else {
                        "{}".to_owned()
                    });
                    break;
                }
                c if "adEeLlnPs".contains(c) => {
                    if attached.is_empty() {
                        rest = rest.split_first().map_or(rest, |(_, after)| after);
                    }
                    break;
                }
                _ => {}
            }
        }
    }
    (replace, rest)
}

/// The commands `find` runs: the words after each `-exec`, `-execdir`, `-ok` and
/// `-okdir`, up to its `;` or `+`.
pub(crate) fn find_commands(args: &[String]) -> Vec<&[String]> {
    let mut commands = Vec::new();
    let mut rest = args;
    while let Some(at) = rest
        .iter()
        .position(|w| matches!(w.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir"))
    {
        let after = rest.get(at + 1..).unwrap_or(&[]);
        let end = after
            .iter()
            .position(|w| w == ";" || w == "+")
            .unwrap_or(after.len());
        commands.push(after.get(..end).unwrap_or(after));
        rest = after.get(end..).unwrap_or(&[]);
    }
    commands
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell_syntax as syntax;
    use proptest::prelude::*;
    use ShellSyntax::*;

    fn found(line: &str) -> Option<ShellSyntax> {
        crate::exec::shell_syntax(line.as_bytes())
    }

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn the_two_bypasses_seen() {
        // sftp -s 'S=/usr/lib/openssh/sftp-server; $S' sends the subsystem as this line.
        assert_eq!(found("S=/usr/lib/openssh/sftp-server; $S"), Some(Dollar));
        // rsync --rsync-path='R=rsync; $R' sends this.
        assert_eq!(
            found("R=rsync; $R --server --sender -vlogDtpre.iLsfxC . /etc"),
            Some(Dollar)
        );
    }

    #[test]
    fn expansions_and_substitutions() {
        for (line, want) in [
            ("$S", Dollar),
            ("${S}", Dollar),
            ("exec $S", Dollar),
            ("echo \"$HOME\"", Dollar),
            ("ls $1", Dollar),
            ("echo $?", Dollar),
            ("echo $@", Dollar),
            ("echo $((1+1))", Dollar),
            ("echo $(id)", Dollar),
            ("echo \"$(id)\"", Dollar),
            ("echo $\"x\"", Dollar),
            ("`echo sftp-server`", Backquote),
            ("echo \"`id`\"", Backquote),
            ("cat <(id)", ProcessSubstitution),
            ("tee >(cat)", ProcessSubstitution),
            ("/usr/lib/openssh/sftp-{server,x}", Brace),
            ("{sftp-server,}", Brace),
        ] {
            assert_eq!(found(line), Some(want), "{line:?}");
        }
    }

    #[test]
    fn commands_that_run_other_commands() {
        for (line, want) in [
            ("eval sftp-server", Eval),
            ("eval ls", Eval),
            ("trap /usr/lib/openssh/sftp-server EXIT", Eval),
            ("source /tmp/x", Source),
            (". /tmp/x", Source),
            ("sh", ShellScript),
            ("sh -s", ShellScript),
            ("bash -", ShellScript),
            ("bash /tmp/x.sh", ShellScript),
            ("bash <<< ls", ShellScript),
            ("sudo bash", ShellScript),
            ("sudo -s", ShellScript),
            ("sudo -i", ShellScript),
            ("su", ShellScript),
            ("xargs sh -c", ShellScript),
            ("sh -c 'sh -c ls'", NestedShell),
            ("bash -c 'eval ls'", Eval),
            ("sh -c \"bash\"", ShellScript),
            ("alias x=/usr/lib/openssh/sftp-server\nx", Alias),
            ("hash -p /usr/lib/openssh/sftp-server x; x", Alias),
            ("/usr/lib/openssh/sftp-se?ver", Glob),
            ("/usr/lib/openssh/sftp-serve[r]", Glob),
            ("env /usr/lib/*/sftp-server", Glob),
            ("echo sftp-server | xargs env", FromInput),
            ("xargs sudo", FromInput),
            ("xargs -I{} {}", FromInput),
            ("xargs -I X X", FromInput),
            ("parallel ::: /usr/lib/openssh/sftp-server", FromInput),
            ("script -qc 'eval x' /dev/null", Eval),
            ("script", ShellScript),
            ("ssh other 'S=x; $S'", Dollar),
            ("ssh -p 22 other", ShellScript),
            ("sg wheel", ShellScript),
            ("sg wheel 'sh -c ls'", NestedShell),
            ("find /usr/lib -name sftp-server -exec {} ;", FromInput),
            ("find . -exec sh -c 'eval x' ;", Eval),
            ("BASH_ENV=/tmp/x bash -c true", CodeVariable),
            ("env BASH_ENV=/tmp/x bash -c true", CodeVariable),
            ("PS4='$(sftp-server)' bash -xc true", CodeVariable),
            ("export PROMPT_COMMAND=x", CodeVariable),
            ("LD_PRELOAD=/tmp/x.so ls", CodeVariable),
            ("env 'BASH_FUNC_ls%%=() { id; }' bash -c ls", CodeVariable),
        ] {
            assert_eq!(found(line), Some(want), "{line:?}");
        }
    }

    #[test]
    fn scripts_given_as_words_are_read_too() {
        for (line, want) in [
            ("sh -c 'S=sftp-server; $S'", Dollar),
            ("bash -lc '`x`'", Backquote),
            ("su root -c 'eval x'", Eval),
            ("env -S 'eval x'", Eval),
            ("watch 'eval x'", Eval),
            ("sudo sh -c '$0' /usr/lib/openssh/sftp-server", Dollar),
        ] {
            assert_eq!(found(line), Some(want), "{line:?}");
        }
    }

    #[test]
    fn plain_maintenance_lines_have_none() {
        for line in [
            "",
            "uptime",
            "systemctl status nginx",
            "tail -n 100 /var/log/syslog | grep error",
            "[ -f /etc/nginx/nginx.conf ] && echo yes",
            "awk '{print $1}' /etc/passwd",
            "grep -E 'error|warn$' /var/log/syslog",
            "sed -n '$p' /etc/hosts",
            "echo 'a $b `c`'",
            "echo cost$",
            "df -h; free -m && uptime",
            "sudo -u www-data ls /srv",
            "sudo sh -c 'systemctl restart nginx'",
            "bash -lc 'journalctl -u nginx | tail'",
            "find /var/log -name '*.gz' -mtime +30 -exec rm {} +",
            "find /var/log -name '*.gz' -print0 | xargs -0 ls -l",
            "ls /var/log/*.log",
            "for f in a b; do echo f; done",
            "{ ls; }",
            "echo $'\\x41'",
            "LC_ALL=C sort /etc/passwd",
            "scp -t /tmp",
            "echo done 2>&1 >/dev/null",
        ] {
            assert_eq!(found(line), None, "{line:?}");
        }
    }

    #[test]
    fn every_kind_has_its_own_one_line_description() {
        let mut seen = std::collections::BTreeSet::new();
        for s in ShellSyntax::ALL {
            let d = s.describe();
            assert!(!d.is_empty() && !d.contains('\n'), "{s:?}");
            assert!(seen.insert(d), "{s:?} says what another says");
        }
    }

    #[test]
    fn xargs_options() {
        let args = words(&["-0", "-n", "1", "ls", "-l"]);
        let (r, rest) = syntax::xargs_command(&args);
        assert_eq!((r, rest), (None, &words(&["ls", "-l"])[..]));
        let args = words(&["-I", "X", "cp", "X", "/tmp"]);
        let (r, rest) = syntax::xargs_command(&args);
        assert_eq!(r.as_deref(), Some("X"));
        assert_eq!(rest, &words(&["cp", "X", "/tmp"])[..]);
        let (r, _) = syntax::xargs_command(&words(&["-iZ", "x"]));
        assert_eq!(r.as_deref(), Some("Z"));
        let (r, _) = syntax::xargs_command(&words(&["--replace", "x"]));
        assert_eq!(r.as_deref(), Some("{}"));
    }

    #[test]
    fn find_exec_commands() {
        let args = words(&[".", "-exec", "ls", "{}", ";", "-execdir", "rm", "{}", "+"]);
        assert_eq!(
            syntax::find_commands(&args),
            vec![&words(&["ls", "{}"])[..], &words(&["rm", "{}"])[..]]
        );
    }

    fn shell_quote(s: &str) -> String {
        format!("'{}'", s.replace('\'', r"'\''"))
    }

    proptest! {
        /// Hiding a tool's name behind a variable is never accepted silently, whatever
        /// comes before it or wraps it.
        #[test]
        fn a_command_behind_a_variable_is_always_found(
            prefix in prop::sample::select(vec!["", "exec ", "env ", "sudo ", "nice ", "command ", "LC_ALL=C ", "true; ", "cd /tmp && "]),
            reference in prop::sample::select(vec!["$S", "${S}", "\"$S\"", "$(echo $S)", "`echo $S`", "${S:-x}", "$1"]),
            args in "[ a-z./-]{0,20}",
            wrap in prop::sample::select(vec![0u8, 1, 2]),
        ) {
            let line = format!("S=/usr/lib/openssh/sftp-server; {prefix}{reference} {args}");
            let line = match wrap {
                0 => line,
                1 => format!("sh -c {}", shell_quote(&line)),
                _ => format!("sudo bash -lc {}", shell_quote(&line)),
            };
            prop_assert!(found(&line).is_some(), "{:?}", line);
        }

        /// Text in single quotes is data: no `$`, backquote or brace inside it counts.
        #[test]
        fn single_quoted_arguments_are_data(
            command in prop::sample::select(vec!["echo", "grep -e", "awk", "printf '%s\\n'", "sed -n"]),
            text in "[a-z $`{},*?()|;&<>\"\\\\-]{0,30}",
        ) {
            let line = format!("{command} {} /tmp/f", shell_quote(&text));
            prop_assert_eq!(found(&line), None, "{:?}", line);
        }

        #[test]
        fn never_panics(raw in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = crate::exec::shell_syntax(&raw);
        }
    }
}
