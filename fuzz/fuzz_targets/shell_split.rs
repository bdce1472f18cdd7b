//! Any text as a shell command line for the reader behind the exec classifier
//! (`policy/src/shell.rs`, opened as `policy::fuzzing::split_shell`). No panic, and:
//! - parse → print → parse: the commands found, each word single-quoted and the commands
//!   one per line, split again into exactly the same words;
//! - the words never hold more characters than the line (each substitution's `$` stands
//!   for at least its `$(`/backtick), so nothing the line says can grow the output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use menwei_fuzz::sh_quote;
use policy::fuzzing::split_shell;

fuzz_target!(|bytes: &[u8]| {
    let Ok(line) = std::str::from_utf8(bytes) else {
        return;
    };
    let (commands, _compound, _truncated) = split_shell(line);

    let chars: usize = commands.iter().flatten().map(|w| w.chars().count()).sum();
    assert!(
        chars <= line.chars().count(),
        "{} characters of words from a line of {}",
        chars,
        line.chars().count()
    );

    let printed = commands
        .iter()
        .map(|words| {
            words
                .iter()
                .map(|w| sh_quote(w))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let (again, compound, truncated) = split_shell(&printed);
    assert_eq!(again, commands, "printed as {printed:?}");
    assert_eq!(compound, commands.len() > 1, "printed as {printed:?}");
    assert!(!truncated);
});
