//! Any text as `menwei.toml` for `Config::parse` (the gateway's configuration, policy table,
//! webhooks, HTTPS), as `menwei serve`, `menwei policy check` and SIGHUP read it.
//! No panic, and every refusal is what `ConfigError` promises an operator: one line, placed
//! at a line and column that exist in the file. An accepted file's policy problems against
//! an empty target list are placed the same way.
//!
//! Needs the whole gateway crate, built instrumented: `cargo fuzz build --features gateway`
//! (scripts/fuzz does). Left out of the CI smoke run for its build time (scripts/test).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use menwei::config::{Config, ConfigError};

/// In a directory that does not exist: a `[policy] file` or key path named relative to it
/// reads nothing.
const PATH: &str = "/nonexistent-menwei-fuzz/menwei.toml";

/// Checks that `line`:`column` exists in `text`, when the problem is in that file (an
/// absolute `[policy] file` may name another one).
fn placed(text: &str, path: &Path, line: usize, column: usize, what: &str) {
    if path != Path::new(PATH) {
        return;
    }
    let lines = text.split('\n').count();
    assert!(
        (1..=lines).contains(&line) && column >= 1,
        "{what} placed at {line}:{column} in a file of {lines} lines"
    );
    if let Some(l) = text.split('\n').nth(line - 1) {
        assert!(
            column <= l.chars().count() + 1,
            "{what} placed at column {column} of a line of {} characters",
            l.chars().count()
        );
    }
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    match Config::parse(Path::new(PATH), text) {
        Ok(config) => {
            let name = &config.node_name;
            assert!(!name.is_empty() && name.len() <= 64, "node name {name:?}");
            for issue in config.policy_problems_with_targets(&[]) {
                let shown = issue.to_string();
                assert!(!shown.contains('\n'), "two-line policy issue: {shown:?}");
                placed(text, &issue.path, issue.line, issue.column, &shown);
            }
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(!shown.contains('\n'), "two-line error: {shown:?}");
            match &e {
                ConfigError::Syntax {
                    path, line, column, ..
                } => placed(text, path, *line, *column, &shown),
                ConfigError::Policy(issues) => {
                    assert!(!issues.is_empty(), "a policy error without issues");
                    for issue in issues {
                        placed(
                            text,
                            &issue.path,
                            issue.line,
                            issue.column,
                            &issue.to_string(),
                        );
                    }
                }
                // No key file is loaded by parse; a `[policy] file` that cannot be read.
                ConfigError::Read { .. } | ConfigError::Key { .. } => {}
            }
        }
    }
});
