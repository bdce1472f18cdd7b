//! SSH login names (`alice:web01`, `alice`) and the names of users and targets.
//!
//! A name is 1 to 64 bytes of `A-Z a-z 0-9 . _ -` and starts with a letter, digit or `_`
//! (so it can never be taken for a command-line option or a hidden or parent directory).
//! Not where the account or target is looked up: that is the gateway's job.

use std::fmt;

use crate::{codes, Refusal};

/// Longest user or target name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// A parsed SSH login name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Login {
    /// The engineer's account name.
    pub engineer: String,
    /// The target asked for; `None` asks for the menu of targets granted now.
    pub target: Option<String>,
}

impl fmt::Display for Login {
    /// The login name as typed: `alice:web01` or `alice`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Some(target) => write!(f, "{}:{target}", self.engineer),
            None => f.write_str(&self.engineer),
        }
    }
}

/// A character for a message: itself if printable ASCII, else its code point.
fn show(c: char) -> String {
    if c.is_ascii_graphic() {
        format!("'{c}'")
    } else {
        format!("U+{:04X}", u32::from(c))
    }
}

/// What is wrong with `name`, if anything, as the tail of a sentence.
fn problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".to_owned());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!("is longer than {MAX_NAME_LEN} bytes"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Some(format!(
            "contains {}; use only letters, digits, '.', '_' and '-'",
            show(c)
        ));
    }
    if name.starts_with(['.', '-']) {
        return Some("must start with a letter, a digit or '_'".to_owned());
    }
    None
}

/// Checks a user or target name; `kind` names it in the message (`"user"`, `"target"`).
pub fn validate_name(kind: &str, name: &str) -> Result<(), Refusal> {
    match problem(name) {
        None => Ok(()),
        Some(problem) => Err(Refusal::new(
            codes::BAD_NAME,
            format!("{kind} name {problem}"),
        )),
    }
}

/// `name` in double quotes for a message when it is well formed, else `fallback`
/// (`this target`), so a message never echoes arbitrary bytes.
pub(crate) fn quoted(name: &str, fallback: &str) -> String {
    match problem(name) {
        None => format!("\"{name}\""),
        Some(_) => fallback.to_owned(),
    }
}

/// Parses an SSH login name: `alice:web01` asks for target `web01` as engineer `alice`;
/// `alice` asks for the menu.
///
/// Refused with code `bad_username`: non-UTF-8, more than one `:`, an empty part, a part
/// over 64 bytes, any character outside `A-Z a-z 0-9 . _ -`. The message says what is
/// wrong in one line and echoes nothing unprintable.
pub fn parse_login(raw: &[u8]) -> Result<Login, Refusal> {
    let bad = |message: String| Refusal::new(codes::BAD_USERNAME, message);
    let usage = "log in as engineer:target or engineer";
    let text = std::str::from_utf8(raw)
        .map_err(|_| bad(format!("login name is not valid UTF-8; {usage}")))?;
    if text.is_empty() {
        return Err(bad(format!("login name is empty; {usage}")));
    }
    let mut parts = text.split(':');
    let (engineer, target) = match (parts.next(), parts.next(), parts.next()) {
        (Some(engineer), None, _) => (engineer, None),
        (Some(engineer), Some(target), None) => (engineer, Some(target)),
        _ => return Err(bad(format!("login name has more than one ':'; {usage}"))),
    };
    if let Some(problem) = problem(engineer) {
        return Err(bad(format!("engineer name {problem}; {usage}")));
    }
    if let Some(problem) = target.and_then(problem) {
        return Err(bad(format!("target name {problem}; {usage}")));
    }
    Ok(Login {
        engineer: engineer.to_owned(),
        target: target.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message(raw: &[u8]) -> String {
        parse_login(raw).unwrap_err().message
    }

    #[test]
    fn engineer_and_target() {
        let login = parse_login(b"alice:web01").unwrap();
        assert_eq!(login.engineer, "alice");
        assert_eq!(login.target.as_deref(), Some("web01"));
        assert_eq!(login.to_string(), "alice:web01");
    }

    #[test]
    fn engineer_alone_asks_for_the_menu() {
        let login = parse_login(b"alice").unwrap();
        assert_eq!((login.engineer.as_str(), login.target), ("alice", None));
    }

    #[test]
    fn empty_parts_are_refused() {
        assert_eq!(
            message(b"alice:"),
            "target name is empty; log in as engineer:target or engineer"
        );
        assert_eq!(
            message(b":web01"),
            "engineer name is empty; log in as engineer:target or engineer"
        );
        assert_eq!(
            message(b""),
            "login name is empty; log in as engineer:target or engineer"
        );
    }

    #[test]
    fn two_colons_are_refused() {
        assert!(message(b"alice:web01:22").contains("more than one ':'"));
    }

    #[test]
    fn long_parts_are_refused() {
        let ok = "a".repeat(64);
        assert!(parse_login(format!("{ok}:{ok}").as_bytes()).is_ok());
        let long = "a".repeat(65);
        assert!(message(format!("alice:{long}").as_bytes()).contains("longer than 64 bytes"));
        assert!(message(long.as_bytes()).starts_with("engineer name is longer"));
    }

    #[test]
    fn control_characters_are_named_not_echoed() {
        let m = message(b"alice:web\x1b[2J01");
        assert_eq!(
            m,
            "target name contains U+001B; use only letters, digits, '.', '_' and '-'; \
             log in as engineer:target or engineer"
        );
        assert!(message(b"al\nice").contains("U+000A"));
        assert!(message(b"alice\0").contains("U+0000"));
    }

    #[test]
    fn other_characters_are_refused() {
        assert!(message(b"alice@corp").contains("'@'"));
        assert!(message(b"alice:web 01").contains("U+0020"));
        assert!(message("\u{e9}lise".as_bytes()).contains("U+00E9"));
    }

    #[test]
    fn non_utf8_is_refused() {
        assert!(message(b"al\xffice").contains("not valid UTF-8"));
    }

    #[test]
    fn names_cannot_look_like_options_or_dot_directories() {
        assert!(validate_name("target", "-oProxyCommand").is_err());
        assert!(validate_name("target", "..").is_err());
        assert!(validate_name("user", ".hidden").is_err());
        assert!(validate_name("user", "_svc").is_ok());
        assert!(validate_name("target", "10.0.0.5").is_ok());
    }

    #[test]
    fn validate_name_says_which_name() {
        let r = validate_name("target", "web/01").unwrap_err();
        assert_eq!(r.code, "bad_name");
        assert_eq!(
            r.message,
            "target name contains '/'; use only letters, digits, '.', '_' and '-'"
        );
    }

    proptest! {
        #[test]
        fn parse_login_never_panics_and_ok_round_trips(
            raw in prop_oneof![
                prop::collection::vec(any::<u8>(), 0..140),
                "[a-zA-Z0-9._:-]{0,70}".prop_map(String::into_bytes),
                "[a-z]{1,8}(:[a-z0-9]{1,8})?".prop_map(String::into_bytes),
            ],
        ) {
            match parse_login(&raw) {
                Ok(login) => {
                    prop_assert_eq!(login.to_string().into_bytes(), raw);
                    prop_assert!(validate_name("user", &login.engineer).is_ok());
                    if let Some(target) = &login.target {
                        prop_assert!(validate_name("target", target).is_ok());
                    }
                }
                Err(r) => {
                    prop_assert_eq!(r.code, "bad_username");
                    prop_assert!(r.message.chars().all(|c| (' '..='~').contains(&c)));
                }
            }
        }

        #[test]
        fn valid_names_always_parse(
            engineer in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,63}",
            target in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,63}",
        ) {
            let login = parse_login(format!("{engineer}:{target}").as_bytes()).unwrap();
            prop_assert_eq!(login.engineer, engineer);
            prop_assert_eq!(login.target, Some(target));
        }
    }
}
