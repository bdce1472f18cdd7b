//! A conservative reader for the shell command lines that arrive in SSH `exec` requests.
//!
//! It splits a line into the simple commands a POSIX shell would run — across `;`, `&&`,
//! `|`, newlines, subshells, `$(...)`, backticks and `<(...)` — and removes quoting, so that
//! `exec.rs` can look at each command's first word. It is not a shell: it does not expand
//! variables, globs, braces or aliases, and when in doubt it splits more, not less. It
//! notes the expansions it passes outside single quotes (`$`, backquotes, `<(…)`, braces)
//! for `shell_syntax.rs`.

use std::{iter::Peekable, str::Chars};

/// How deep `$(...)` and backticks are followed before giving up.
const MAX_DEPTH: usize = 16;

/// A command line split into simple commands.
#[derive(Debug, Default)]
pub(crate) struct Script {
    /// Each simple command's words, quoting removed. Substitutions become `$`.
    pub(crate) commands: Vec<Vec<String>>,
    /// More than one plain command: operators, redirections, substitutions or comments.
    pub(crate) compound: bool,
    /// Nesting went deeper than this reader follows; `commands` may be incomplete.
    pub(crate) truncated: bool,
    /// `$NAME`, `${`, `$(`, `$"` or another expansion outside single quotes.
    pub(crate) dollar: bool,
    /// A backquote outside single quotes.
    pub(crate) backquote: bool,
    /// `<(` or `>(`.
    pub(crate) process_substitution: bool,
    /// An unquoted `{` that starts a brace expansion (not `{ list; }`, not `{}`).
    pub(crate) brace: bool,
}

/// Whether `$` followed by `next` expands something: a name, a digit, `{`, `(`, a special
/// parameter, or `"` (a translated string). A `$` before a blank or at the end is a `$`.
fn expands(next: Option<&char>) -> bool {
    next.is_some_and(|&c| {
        c.is_alphanumeric()
            || matches!(
                c,
                '_' | '{' | '(' | '@' | '*' | '#' | '?' | '-' | '$' | '!' | '"'
            )
    })
}

/// Splits `line` into simple commands.
pub(crate) fn split(line: &str) -> Script {
    let mut lexer = Lexer {
        chars: line.chars().peekable(),
        script: Script::default(),
    };
    lexer.script(None, 0);
    lexer.script
}

/// The simple command being read.
#[derive(Default)]
struct Command {
    words: Vec<String>,
    /// The word being read; `Some("")` after `''`, which is a real (empty) word.
    word: Option<String>,
    /// The next word is a redirection's target, not part of the command.
    skip_next: bool,
}

impl Command {
    fn word(&mut self) -> &mut String {
        self.word.get_or_insert_with(String::new)
    }

    fn end_word(&mut self) {
        if let Some(word) = self.word.take() {
            if !std::mem::take(&mut self.skip_next) {
                self.words.push(word);
            }
        }
    }
}

struct Lexer<'a> {
    chars: Peekable<Chars<'a>>,
    script: Script,
}

impl Lexer<'_> {
    fn end_command(&mut self, cmd: &mut Command) {
        cmd.end_word();
        cmd.skip_next = false;
        let words = std::mem::take(&mut cmd.words);
        if !words.is_empty() {
            self.script.commands.push(words);
        }
    }

    /// Reads commands until `close` (the end of a substitution) or the end of the line.
    fn script(&mut self, close: Option<char>, depth: usize) {
        let mut cmd = Command::default();
        while let Some(c) = self.chars.next() {
            if Some(c) == close {
                break;
            }
            match c {
                // `{}` is a word (find's, xargs's placeholder), not a brace expansion.
                '{' if self.chars.next_if_eq(&'}').is_some() => cmd.word().push_str("{}"),
                '{' => {
                    if self.chars.peek().is_some_and(|c| !c.is_whitespace()) {
                        self.script.brace = true;
                    }
                    cmd.end_word();
                }
                // Braces and commas split words too, so `{scp,-f,x}` shows its words.
                ' ' | '\t' | '\r' | '\0' | '}' | ',' => cmd.end_word(),
                '&' if self.chars.peek() == Some(&'>') => self.redirect(&mut cmd, depth),
                '\n' | ';' | '&' | '|' | '(' | ')' => {
                    self.script.compound = true;
                    self.end_command(&mut cmd);
                }
                '<' | '>' => self.redirect(&mut cmd, depth),
                '#' if cmd.word.is_none() => {
                    self.script.compound = true;
                    while self.chars.next_if(|&c| c != '\n').is_some() {}
                }
                '\'' => self.single_quoted(cmd.word()),
                '"' => self.double_quoted(&mut cmd, depth),
                '\\' => match self.chars.next() {
                    Some('\n') | None => {}
                    Some(c) => cmd.word().push(c),
                },
                '$' => match self.chars.peek() {
                    Some('(') => {
                        self.script.dollar = true;
                        self.chars.next();
                        self.substitution(')', depth, &mut cmd);
                    }
                    Some('\'') => {
                        self.chars.next();
                        self.ansi_c_quoted(cmd.word());
                    }
                    next => {
                        self.script.dollar |= expands(next);
                        cmd.word().push('$');
                    }
                },
                '`' => {
                    self.script.backquote = true;
                    self.substitution('`', depth, &mut cmd);
                }
                c => cmd.word().push(c),
            }
        }
        self.end_command(&mut cmd);
    }

    /// After `<`, `>` or `&>`: the operator's fd and target are not command words.
    fn redirect(&mut self, cmd: &mut Command, depth: usize) {
        self.script.compound = true;
        let is_fd = cmd
            .word
            .as_deref()
            .is_some_and(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()));
        if is_fd {
            cmd.word = None;
        } else {
            cmd.end_word();
        }
        if self.chars.next_if_eq(&'(').is_some() {
            // Process substitution `<(...)`: a command of its own.
            self.script.process_substitution = true;
            self.substitution(')', depth, cmd);
            return;
        }
        while self
            .chars
            .next_if(|c| matches!(c, '<' | '>' | '&' | '|'))
            .is_some()
        {}
        cmd.skip_next = true;
    }

    /// `$(...)`, backticks, `<(...)`: read the inner commands; the word gets a `$`.
    fn substitution(&mut self, close: char, depth: usize, cmd: &mut Command) {
        self.script.compound = true;
        if depth >= MAX_DEPTH {
            // Too deep: read on at this level as if a new command started here, so the
            // inner commands still show, with rough edges.
            self.script.truncated = true;
            self.end_command(cmd);
            return;
        }
        self.script(Some(close), depth + 1);
        cmd.word().push('$');
    }

    fn single_quoted(&mut self, word: &mut String) {
        for c in self.chars.by_ref() {
            if c == '\'' {
                return;
            }
            word.push(c);
        }
    }

    fn double_quoted(&mut self, cmd: &mut Command, depth: usize) {
        cmd.word();
        while let Some(c) = self.chars.next() {
            match c {
                '"' => return,
                '\\' => match self.chars.peek() {
                    Some('$' | '`' | '"' | '\\') => {
                        if let Some(escaped) = self.chars.next() {
                            cmd.word().push(escaped);
                        }
                    }
                    Some('\n') => {
                        self.chars.next();
                    }
                    _ => cmd.word().push('\\'),
                },
                '$' if self.chars.peek() == Some(&'(') => {
                    self.script.dollar = true;
                    self.chars.next();
                    self.substitution(')', depth, cmd);
                }
                '$' => {
                    // Inside double quotes `$"` is the closing quote after a `$`.
                    let next = self.chars.peek().filter(|&&c| c != '"');
                    self.script.dollar |= expands(next);
                    cmd.word().push('$');
                }
                '`' => {
                    self.script.backquote = true;
                    self.substitution('`', depth, cmd);
                }
                c => cmd.word().push(c),
            }
        }
    }

    /// `$'...'` with its backslash escapes, so `$'\x73cp'` reads as `scp`.
    fn ansi_c_quoted(&mut self, word: &mut String) {
        while let Some(c) = self.chars.next() {
            match c {
                '\'' => return,
                '\\' => {
                    let Some(escape) = self.chars.next() else {
                        return;
                    };
                    let decoded = match escape {
                        'n' => Some('\n'),
                        't' => Some('\t'),
                        'r' => Some('\r'),
                        'a' | 'b' | 'e' | 'E' | 'f' | 'v' => Some('\u{1b}'),
                        'x' => self.number(16, 2, 0),
                        'u' => self.number(16, 4, 0),
                        'U' => self.number(16, 8, 0),
                        d @ '0'..='7' => self.number(8, 2, d.to_digit(8).unwrap_or(0)),
                        other => Some(other),
                    };
                    word.push(decoded.unwrap_or(char::REPLACEMENT_CHARACTER));
                }
                c => word.push(c),
            }
        }
    }

    /// Up to `max` more digits in `radix` after `start`, as a character.
    fn number(&mut self, radix: u32, max: usize, start: u32) -> Option<char> {
        let mut value = start;
        for _ in 0..max {
            match self.chars.peek().and_then(|c| c.to_digit(radix)) {
                Some(digit) => {
                    self.chars.next();
                    value = value.saturating_mul(radix).saturating_add(digit);
                }
                None => break,
            }
        }
        char::from_u32(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands(line: &str) -> Vec<Vec<String>> {
        split(line).commands
    }

    fn words(list: &[&[&str]]) -> Vec<Vec<String>> {
        list.iter()
            .map(|c| c.iter().map(|w| (*w).to_owned()).collect())
            .collect()
    }

    #[test]
    fn plain_command_is_one_command() {
        let script = split("  scp -t /tmp ");
        assert_eq!(script.commands, words(&[&["scp", "-t", "/tmp"]]));
        assert!(!script.compound);
    }

    #[test]
    fn quoting_is_removed() {
        assert_eq!(
            commands(r#"'s'c"p" -f 'a b' "c\"d" e\ f ''"#),
            words(&[&["scp", "-f", "a b", "c\"d", "e f", ""]])
        );
        assert_eq!(
            commands(r"$'\x73\143p' -f x"),
            words(&[&["scp", "-f", "x"]])
        );
    }

    #[test]
    fn operators_split_commands() {
        let script = split("cd /tmp && scp -f x | cat; ls\nid");
        assert!(script.compound);
        assert_eq!(
            script.commands,
            words(&[
                &["cd", "/tmp"],
                &["scp", "-f", "x"],
                &["cat"],
                &["ls"],
                &["id"]
            ])
        );
    }

    #[test]
    fn substitutions_are_commands_of_their_own() {
        let found = commands(r#"echo "$(scp -f a)" `rsync --server` <(sftp-server)"#);
        assert!(found.contains(&vec!["scp".to_owned(), "-f".to_owned(), "a".to_owned()]));
        assert!(found.contains(&vec!["rsync".to_owned(), "--server".to_owned()]));
        assert!(found.contains(&vec!["sftp-server".to_owned()]));
    }

    #[test]
    fn redirections_are_not_command_words() {
        assert_eq!(
            commands("2>/dev/null >out scp -f x 2>&1"),
            words(&[&["scp", "-f", "x"]])
        );
    }

    #[test]
    fn comments_are_skipped() {
        assert_eq!(commands("ls # scp -f x\nid"), words(&[&["ls"], &["id"]]));
    }

    #[test]
    fn expansions_outside_single_quotes_are_noted() {
        let s = split("echo '$a `b` {c,d}' \"x$\" cost$ {} { ls; }");
        assert!(!s.dollar && !s.backquote && !s.brace && !s.process_substitution);
        assert!(split("echo $a").dollar);
        assert!(split("echo \"${a}\"").dollar);
        assert!(split("echo \"`id`\"").backquote);
        assert!(split("cat <(id)").process_substitution);
        assert!(split("echo {a,b}").brace);
        assert_eq!(
            commands("find . -exec ls {} +"),
            words(&[&["find", ".", "-exec", "ls", "{}", "+"]])
        );
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let line = "$(".repeat(100_000) + "scp -f x";
        let script = split(&line);
        assert!(script.truncated);
        assert!(script
            .commands
            .iter()
            .any(|c| c.first().is_some_and(|w| w == "scp")));
    }
}
