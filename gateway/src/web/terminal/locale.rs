//! The locale of a shell opened from the page: which `LANG`/`LC_*` the gateway sends the
//! target for the page's language ([`Lang`], the terminal socket's `lang` parameter). Only
//! the choice; the relay sends each variable through the same allow-list as SSH's `env`
//! requests (`policy::channel_request`) and records it.
//!
//! Why not simply `LANG=zh_CN.UTF-8`: the gateway cannot know which locales a target has,
//! and a `LANG` naming a missing locale leaves the shell in the C locale, where bash's
//! readline takes the bytes of typed Chinese for Meta keys (`echo 你好世界` prints
//! garbage). `LC_CTYPE=C.UTF-8` next to it does not help: bash 5 applies `LANG` with one
//! `setlocale(LC_ALL, …)`, which fails whole, and stays in C. So:
//!
//! - `LANG=C.UTF-8` always. The character set is what makes typing and output work; C.UTF-8
//!   exists on every current Debian, Ubuntu and RHEL (and is built into glibc since 2.35).
//! - `LC_MESSAGES=zh_CN.UTF-8` for a Chinese page: programs speak Chinese where the target
//!   has the locale. Where it has not, bash still takes `LC_CTYPE` from `LANG` (UTF-8: typed
//!   Chinese works, checked against bash 5.2 on a target with only C.UTF-8), and programs
//!   that set their whole locale at once fall back to C, as with any missing locale.
//! - Nothing more for English: the C locale's messages are English already, and naming
//!   `en_US.UTF-8` would only risk the same fallback on targets without it.

use menwei_protocol::Lang;

/// The always-present UTF-8 locale.
const UTF8: &str = "C.UTF-8";

/// The variables for a shell opened from a page in `lang` (no or an unknown language:
/// `None`), in the order they are sent.
pub(super) fn shell_env(lang: Option<Lang>) -> Vec<(&'static str, &'static str)> {
    let mut env = vec![("LANG", UTF8)];
    match lang {
        Some(Lang::Zh) => env.push(("LC_MESSAGES", "zh_CN.UTF-8")),
        // See above: English needs no messages locale of its own.
        Some(Lang::En) | None => {}
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy::{channel_request, ChannelRequest, ChannelRules, Decision};

    #[test]
    fn every_page_gets_a_utf8_charset_and_chinese_gets_chinese_messages() {
        assert_eq!(shell_env(None), vec![("LANG", "C.UTF-8")]);
        assert_eq!(shell_env(Some(Lang::En)), vec![("LANG", "C.UTF-8")]);
        assert_eq!(
            shell_env(Some(Lang::Zh)),
            vec![("LANG", "C.UTF-8"), ("LC_MESSAGES", "zh_CN.UTF-8")]
        );
    }

    #[test]
    fn what_the_page_sends_passes_the_ssh_allow_list() {
        let rules = ChannelRules::default();
        for lang in [None, Some(Lang::Zh), Some(Lang::En)] {
            for (name, _) in shell_env(lang) {
                assert_eq!(
                    channel_request(&ChannelRequest::Env { name }, &rules, "web01"),
                    Decision::Allow(()),
                    "{name}"
                );
            }
        }
    }
}
