//! What an engineer's session channel may ask for.
//!
//! Interactive work passes; data does not leave the site: no SFTP, no scp download, no
//! rsync, no port, socket, agent or X11 forwarding. Uploads (`scp -t`) and non-interactive
//! commands pass only where the target's rules allow them, and a command line whose shell
//! syntax hides what it runs (`S=sftp-server; $S`) only where they allow that too. Not
//! where the request is carried out or recorded: that is the gateway.

use crate::{classify_exec, codes, shell_syntax, Decision, ExecKind};

/// What a session channel (or the connection, for forwarding) asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelRequest<'a> {
    /// Opening a session channel.
    Session,
    /// `pty-req`: a terminal.
    Pty,
    /// `shell`: an interactive shell.
    Shell,
    /// `exec`: a command line, as sent (not necessarily UTF-8).
    Exec(&'a [u8]),
    /// `subsystem`, e.g. `sftp`.
    Subsystem(&'a str),
    /// `env`: an environment variable, by name.
    Env {
        /// The variable's name.
        name: &'a str,
    },
    /// `window-change`: the terminal was resized.
    WindowChange,
    /// `signal`: deliver a signal to the remote process.
    Signal,
    /// `x11-req`.
    X11,
    /// `auth-agent-req@openssh.com`.
    AgentForward,
    /// `direct-tcpip`: `ssh -L` and `ssh -D`.
    LocalForward,
    /// `tcpip-forward`: `ssh -R`.
    RemoteForward,
    /// `direct-streamlocal@openssh.com` and `streamlocal-forward@openssh.com`.
    StreamLocalForward,
}

/// What a target allows beyond interactive sessions. All off by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ChannelRules {
    /// Non-interactive commands (`ssh host command`).
    pub exec_allowed: bool,
    /// File uploads with `scp -t`; the gateway records them with their digest.
    pub uploads_allowed: bool,
    /// Exec lines with shell syntax that hides what they run: `$` expansion, backquotes,
    /// `eval`, `source`, a shell reading its script from input, … (see [`crate::ShellSyntax`]).
    pub shell_syntax_allowed: bool,
}

const TRANSFER: &str = "file transfer is not allowed through this gateway";

/// May this request pass under `rules`, the rules of the target named `target`? The name
/// (never an address) is for the engineer's line.
pub fn channel_request(req: &ChannelRequest, rules: &ChannelRules, target: &str) -> Decision {
    match req {
        // The interactive session itself: a channel, a terminal, a shell, its resizes and
        // signals carry no data off the site beyond what the engineer sees, all recorded.
        ChannelRequest::Session
        | ChannelRequest::Pty
        | ChannelRequest::Shell
        | ChannelRequest::WindowChange
        | ChannelRequest::Signal => Decision::Allow(()),
        ChannelRequest::Exec(command) => exec(command, rules, target),
        // SFTP moves files; any other subsystem is not an interactive session.
        ChannelRequest::Subsystem(name) if name.eq_ignore_ascii_case("sftp") => {
            Decision::deny(codes::SFTP_REFUSED, format!("{TRANSFER} (sftp refused)"))
        }
        ChannelRequest::Subsystem(_) => Decision::deny(
            codes::SUBSYSTEM_REFUSED,
            "only interactive sessions are allowed through this gateway (subsystem refused)",
        ),
        // Locale and terminal type make the shell usable; anything else (LD_PRELOAD,
        // PATH, BASH_ENV, ...) could change what runs on the target. Refused quietly.
        ChannelRequest::Env { name } if env_passes(name) => Decision::Allow(()),
        ChannelRequest::Env { .. } => Decision::deny(
            codes::ENV_REFUSED,
            "environment variable not accepted; only TERM, LANG and LC_* are passed",
        ),
        // X11 lets the target draw on, and read from, the engineer's display.
        ChannelRequest::X11 => Decision::deny(
            codes::X11_REFUSED,
            "X11 forwarding is not allowed through this gateway",
        ),
        // The agent would let the target use the engineer's keys elsewhere.
        ChannelRequest::AgentForward => Decision::deny(
            codes::AGENT_FORWARDING_REFUSED,
            "agent forwarding is not allowed through this gateway",
        ),
        // Tunnels carry data the recording cannot make sense of, in or out of the site.
        ChannelRequest::LocalForward | ChannelRequest::RemoteForward => Decision::deny(
            codes::FORWARDING_REFUSED,
            "port forwarding is not allowed through this gateway",
        ),
        ChannelRequest::StreamLocalForward => Decision::deny(
            codes::STREAMLOCAL_REFUSED,
            "socket forwarding is not allowed through this gateway",
        ),
    }
}

fn exec(command: &[u8], rules: &ChannelRules, target: &str) -> Decision {
    let permitted = match classify_exec(command) {
        // A command's output is recorded; whether any may run is the target's choice.
        ExecKind::Plain if rules.exec_allowed => Decision::Allow(()),
        ExecKind::Plain => Decision::deny(
            codes::EXEC_REFUSED,
            "non-interactive commands are disabled for this target; open an interactive session",
        ),
        // Files coming in are allowed by policy, then recorded with their digest. This
        // does not need `exec_allowed`: the upload is the permission asked for.
        ExecKind::ScpUpload if rules.uploads_allowed => Decision::Allow(()),
        ExecKind::ScpUpload => Decision::deny(
            codes::SCP_REFUSED,
            "file uploads are not allowed for this target (scp refused)",
        ),
        // Files going out never pass.
        ExecKind::ScpDownload => {
            Decision::deny(codes::SCP_REFUSED, format!("{TRANSFER} (scp refused)"))
        }
        // rsync runs both ways over one protocol the gateway does not record file by file.
        ExecKind::Rsync => {
            Decision::deny(codes::RSYNC_REFUSED, format!("{TRANSFER} (rsync refused)"))
        }
        ExecKind::Sftp => Decision::deny(codes::SFTP_REFUSED, format!("{TRANSFER} (sftp refused)")),
    };
    if !permitted.is_allow() || rules.shell_syntax_allowed {
        return permitted;
    }
    // What the line runs must be on the line: `S=sftp-server; $S` names no tool the
    // classifier can see, so syntax that lets the shell decide passes only by policy.
    match shell_syntax(command) {
        None => permitted,
        Some(found) => Decision::deny(
            codes::SHELL_SYNTAX_REFUSED,
            format!(
                "refused: this command uses shell syntax ({}) that the policy does not allow on {}; run it in an interactive session (ssh -t) instead",
                found.describe(),
                target_phrase(target)
            ),
        ),
    }
}

/// A target's name for a message, or `this target` if it is not a well-formed name.
fn target_phrase(target: &str) -> String {
    match crate::validate_name("target", target) {
        Ok(()) => target.to_owned(),
        Err(_) => "this target".to_owned(),
    }
}

/// `TERM`, `LANG` and `LC_<NAME>`.
fn env_passes(name: &str) -> bool {
    match name {
        "TERM" | "LANG" => true,
        _ => name.strip_prefix("LC_").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DEFAULT: ChannelRules = ChannelRules {
        exec_allowed: false,
        uploads_allowed: false,
        shell_syntax_allowed: false,
    };
    const OPEN: ChannelRules = ChannelRules {
        exec_allowed: true,
        uploads_allowed: true,
        shell_syntax_allowed: true,
    };
    /// Exec and uploads, no shell syntax: a group that sets only allow_exec and
    /// allow_uploads.
    const EXEC: ChannelRules = ChannelRules {
        shell_syntax_allowed: false,
        ..OPEN
    };

    fn code(req: ChannelRequest, rules: &ChannelRules) -> &'static str {
        channel_request(&req, rules, "web01")
            .refusal()
            .map_or("allow", |r| r.code.as_str())
    }

    #[test]
    fn interactive_session_passes() {
        for req in [
            ChannelRequest::Session,
            ChannelRequest::Pty,
            ChannelRequest::Shell,
            ChannelRequest::WindowChange,
            ChannelRequest::Signal,
        ] {
            assert_eq!(code(req, &DEFAULT), "allow", "{req:?}");
        }
    }

    #[test]
    fn sftp_subsystem_is_refused_with_a_clear_message() {
        let d = channel_request(&ChannelRequest::Subsystem("sftp"), &OPEN, "web01");
        let r = d.refusal().unwrap();
        assert_eq!(r.code, "sftp_refused");
        assert_eq!(
            r.message,
            "file transfer is not allowed through this gateway (sftp refused)"
        );
        assert_eq!(
            code(ChannelRequest::Subsystem("netconf"), &OPEN),
            "subsystem_refused"
        );
    }

    #[test]
    fn forwarding_of_every_kind_is_refused_even_with_open_rules() {
        assert_eq!(
            code(ChannelRequest::LocalForward, &OPEN),
            "forwarding_refused"
        );
        assert_eq!(
            code(ChannelRequest::RemoteForward, &OPEN),
            "forwarding_refused"
        );
        assert_eq!(
            code(ChannelRequest::StreamLocalForward, &OPEN),
            "streamlocal_refused"
        );
        assert_eq!(
            code(ChannelRequest::AgentForward, &OPEN),
            "agent_forwarding_refused"
        );
        assert_eq!(code(ChannelRequest::X11, &OPEN), "x11_refused");
        let d = channel_request(&ChannelRequest::LocalForward, &OPEN, "web01");
        assert_eq!(
            d.refusal().unwrap().message,
            "port forwarding is not allowed through this gateway"
        );
    }

    #[test]
    fn only_locale_and_terminal_variables_pass() {
        for name in ["TERM", "LANG", "LC_ALL", "LC_CTYPE"] {
            assert_eq!(
                code(ChannelRequest::Env { name }, &DEFAULT),
                "allow",
                "{name}"
            );
        }
        for name in [
            "LD_PRELOAD",
            "PATH",
            "LC_",
            "LC_all",
            "term",
            "LANGUAGE",
            "BASH_ENV",
        ] {
            assert_eq!(
                code(ChannelRequest::Env { name }, &OPEN),
                "env_refused",
                "{name}"
            );
        }
    }

    #[test]
    fn exec_follows_the_target_rules() {
        let uptime = ChannelRequest::Exec(b"uptime");
        assert_eq!(code(uptime, &DEFAULT), "exec_refused");
        assert_eq!(code(uptime, &OPEN), "allow");
        let r = channel_request(&uptime, &DEFAULT, "web01")
            .refusal()
            .cloned()
            .unwrap();
        assert_eq!(
            r.message,
            "non-interactive commands are disabled for this target; open an interactive session"
        );
    }

    #[test]
    fn scp_download_is_refused_even_with_open_rules() {
        let d = channel_request(&ChannelRequest::Exec(b"scp -f /etc/passwd"), &OPEN, "web01");
        let r = d.refusal().unwrap();
        assert_eq!(r.code, "scp_refused");
        assert_eq!(
            r.message,
            "file transfer is not allowed through this gateway (scp refused)"
        );
    }

    #[test]
    fn scp_upload_needs_uploads_allowed() {
        let upload = ChannelRequest::Exec(b"scp -t /tmp");
        assert_eq!(code(upload, &DEFAULT), "scp_refused");
        let uploads_only = ChannelRules {
            uploads_allowed: true,
            ..DEFAULT
        };
        assert_eq!(code(upload, &uploads_only), "allow");
    }

    #[test]
    fn rsync_and_sftp_server_via_exec_are_refused() {
        let rsync = ChannelRequest::Exec(b"rsync --server --sender -logDtpre.iLsfxC . /etc");
        assert_eq!(code(rsync, &OPEN), "rsync_refused");
        let sftp = ChannelRequest::Exec(b"/usr/lib/openssh/sftp-server");
        assert_eq!(code(sftp, &OPEN), "sftp_refused");
    }

    #[test]
    fn shell_syntax_needs_shell_syntax_allowed() {
        for line in [
            &b"S=/usr/lib/openssh/sftp-server; $S"[..],
            b"R=rsync; $R --server --sender -vlogDtpre.iLsfxC . /etc",
            b"eval ls",
            b"sh -s",
            b"echo `id`",
        ] {
            let req = ChannelRequest::Exec(line);
            assert_eq!(code(req, &EXEC), "shell_syntax_refused", "{line:?}");
            assert_eq!(code(req, &OPEN), "allow", "{line:?}");
        }
        let r = channel_request(&ChannelRequest::Exec(b"S=x; $S"), &EXEC, "web01");
        assert_eq!(
            r.refusal().unwrap().message,
            "refused: this command uses shell syntax ($ expansion) that the policy does not allow on web01; run it in an interactive session (ssh -t) instead"
        );
        let r = channel_request(&ChannelRequest::Exec(b"S=x; $S"), &EXEC, "web 01\x1b");
        assert!(r
            .refusal()
            .unwrap()
            .message
            .contains("does not allow on this target;"));
        // Plain lines pass; transfers and disabled exec keep their own refusals.
        assert_eq!(
            code(ChannelRequest::Exec(b"awk '{print $1}' /etc/passwd"), &EXEC),
            "allow"
        );
        assert_eq!(
            code(ChannelRequest::Exec(b"X=1; $X; sftp-server"), &OPEN),
            "sftp_refused"
        );
        assert_eq!(
            code(ChannelRequest::Exec(b"echo $HOME"), &DEFAULT),
            "exec_refused"
        );
    }

    #[test]
    fn default_rules_refuse_exec_and_uploads() {
        assert_eq!(ChannelRules::default(), DEFAULT);
    }

    proptest! {
        #[test]
        fn without_uploads_no_scp_command_passes(
            args in any::<String>(), exec_allowed in any::<bool>(),
        ) {
            let line = format!("scp {args}");
            let rules = ChannelRules { exec_allowed, ..DEFAULT };
            let d = channel_request(&ChannelRequest::Exec(line.as_bytes()), &rules, "web01");
            prop_assert!(!d.is_allow(), "{:?}", line);
        }

        /// Without shell syntax allowed, no line with a `$` expansion outside single
        /// quotes passes, whatever else the rules allow.
        #[test]
        fn without_shell_syntax_no_dollar_line_passes(
            before in "[a-z ;|&=/.-]{0,20}",
            name in "[A-Za-z_][A-Za-z0-9_]{0,8}",
            after in "[a-z ;|&=/.-]{0,20}",
            uploads_allowed in any::<bool>(),
        ) {
            let line = format!("{before}${name}{after}");
            let rules = ChannelRules { exec_allowed: true, uploads_allowed, shell_syntax_allowed: false };
            let d = channel_request(&ChannelRequest::Exec(line.as_bytes()), &rules, "web01");
            prop_assert!(!d.is_allow(), "{:?}", line);
        }
    }
}
