//! The stable machine codes carried by every [`Refusal`](crate::Refusal): one enum, [`Code`],
//! whose [`Code::as_str`] (and serde form) is the string stored in audit entries, recordings
//! and the database, and answered by the REST API. The wording of the message next to a code
//! may change; these strings may not.
//!
//! The constants (`codes::NO_GRANT`, …) name the variants, so a rule reads
//! `Refusal::new(codes::NO_GRANT, …)`. The last block are the refusals of the gateway's own
//! checks against its store (unknown ids, malformed input), kept here so that every refusal
//! code is in one list.

macro_rules! codes {
    ($($(#[doc = $doc:literal])* $konst:ident = $variant:ident = $text:literal;)*) => {
        /// A refusal's stable code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Code {
            /// Every code, in the order of this file.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable string (`no_grant`, …).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                }
            }

            /// The code whose string is `s`.
            pub fn parse(s: &str) -> Option<Code> {
                match s {
                    $($text => Some(Code::$variant),)*
                    _ => None,
                }
            }
        }

        $($(#[doc = $doc])* pub const $konst: Code = Code::$variant;)*
    };
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

codes! {
    /// No grant at all for this engineer and target.
    NO_GRANT = NoGrant = "no_grant";
    /// There was a grant and it ended.
    GRANT_EXPIRED = GrantExpired = "grant_expired";
    /// There was a grant and an approver revoked it.
    GRANT_REVOKED = GrantRevoked = "grant_revoked";
    /// The grant starts later.
    GRANT_NOT_YET = GrantNotYet = "grant_not_yet";

    /// The acting account is not an approver.
    NOT_APPROVER = NotApprover = "not_approver";
    /// An approver tried to grant access to themself.
    SELF_GRANT = SelfGrant = "self_grant";
    /// Access may only be granted to engineers.
    RECIPIENT_NOT_ENGINEER = RecipientNotEngineer = "recipient_not_engineer";
    /// A grant's duration is zero or negative.
    BAD_DURATION = BadDuration = "bad_duration";
    /// A grant's duration is over the cap.
    DURATION_OVER_CAP = DurationOverCap = "duration_over_cap";
    /// One account, one role (等保 2.0 三权分立).
    SEPARATION_OF_DUTIES = SeparationOfDuties = "separation_of_duties";

    /// The SFTP subsystem or an sftp-server run through exec.
    SFTP_REFUSED = SftpRefused = "sftp_refused";
    /// `scp -f` (download), or `scp -t` (upload) where uploads are not allowed.
    SCP_REFUSED = ScpRefused = "scp_refused";
    /// `rsync --server`, either direction.
    RSYNC_REFUSED = RsyncRefused = "rsync_refused";
    /// Local (`-L`, `-D`) or remote (`-R`) port forwarding.
    FORWARDING_REFUSED = ForwardingRefused = "forwarding_refused";
    /// Unix-socket forwarding (direct-streamlocal, streamlocal-forward).
    STREAMLOCAL_REFUSED = StreamlocalRefused = "streamlocal_refused";
    /// SSH agent forwarding.
    AGENT_FORWARDING_REFUSED = AgentForwardingRefused = "agent_forwarding_refused";
    /// X11 forwarding.
    X11_REFUSED = X11Refused = "x11_refused";
    /// A non-interactive command where exec is disabled.
    EXEC_REFUSED = ExecRefused = "exec_refused";
    /// An exec line whose shell syntax hides what it runs (`$S`, `eval`, `sh -s`, …)
    /// where the target's groups do not allow shell syntax.
    SHELL_SYNTAX_REFUSED = ShellSyntaxRefused = "shell_syntax_refused";
    /// An environment variable other than `TERM`, `LANG` and `LC_*`.
    ENV_REFUSED = EnvRefused = "env_refused";
    /// A subsystem other than SFTP.
    SUBSYSTEM_REFUSED = SubsystemRefused = "subsystem_refused";

    /// A malformed SSH login name.
    BAD_USERNAME = BadUsername = "bad_username";
    /// A malformed user or target name (CLI, API).
    BAD_NAME = BadName = "bad_name";

    /// Only engineers file requests.
    NOT_ENGINEER = NotEngineer = "not_engineer";
    /// A request names neither targets nor a group, or both.
    NO_TARGETS = NoTargets = "no_targets";
    /// A request names a target group the policy does not have.
    UNKNOWN_GROUP = UnknownGroup = "unknown_group";
    /// The policy does not let this engineer request this target (or group).
    TARGET_NOT_REQUESTABLE = TargetNotRequestable = "target_not_requestable";
    /// A request's start time lies before the moment it is filed.
    START_IN_PAST = StartInPast = "start_in_past";
    /// Someone acts on a request that is not theirs (withdraw, break-glass, filing for another).
    NOT_YOURS = NotYours = "not_yours";

    /// An approver tried to review their own request.
    SELF_REVIEW = SelfReview = "self_review";
    /// The same approver reviewed this request before.
    ALREADY_REVIEWED = AlreadyReviewed = "already_reviewed";
    /// The request was already approved, denied, withdrawn or lapsed.
    NOT_PENDING = NotPending = "not_pending";
    /// The request waited past its lapse time without a decision.
    REQUEST_LAPSED = RequestLapsed = "request_lapsed";
    /// An approver tried to make the window longer than requested.
    LENGTHEN_REFUSED = LengthenRefused = "lengthen_refused";

    /// Break-glass is turned off by policy.
    BREAK_GLASS_OFF = BreakGlassOff = "break_glass_off";
    /// Break-glass is only for A-level faults.
    BREAK_GLASS_LEVEL = BreakGlassLevel = "break_glass_level";
    /// The response window has not passed yet.
    BREAK_GLASS_TOO_EARLY = BreakGlassTooEarly = "break_glass_too_early";
    /// Break-glass covers the targets of one group only.
    BREAK_GLASS_GROUPS = BreakGlassGroups = "break_glass_groups";

    /// A session reached the policy's longest session.
    MAX_SESSION = MaxSession = "max_session";
    /// The engineer already holds `max_sessions_per_engineer` live sessions.
    TOO_MANY_SESSIONS = TooManySessions = "too_many_sessions";

    /// An inspection runbook's version has not been approved by enough approvers, so it
    /// does not run.
    RUNBOOK_NOT_APPROVED = RunbookNotApproved = "runbook_not_approved";

    // The gateway's own refusals: its store, its targets, its recordings.
    /// No inspection runbook with that name.
    UNKNOWN_RUNBOOK = UnknownRunbook = "unknown_runbook";
    /// No request with that id.
    UNKNOWN_REQUEST = UnknownRequest = "unknown_request";
    /// No such (enabled) user.
    UNKNOWN_USER = UnknownUser = "unknown_user";
    /// A target the policy names but the database does not know.
    UNKNOWN_TARGET = UnknownTarget = "unknown_target";
    /// A fault level outside A–D.
    BAD_LEVEL = BadLevel = "bad_level";
    /// Reason, incident, comment or start time missing or malformed.
    BAD_INPUT = BadInput = "bad_input";
    /// No grant with that id.
    UNKNOWN_GRANT = UnknownGrant = "unknown_grant";
    /// The account has no key with that fingerprint.
    UNKNOWN_KEY = UnknownKey = "unknown_key";
    /// Disabling or removing the account would leave no enabled admin.
    LAST_ADMIN = LastAdmin = "last_admin";
    /// The account was removed: it stays disabled and its name stays taken.
    ACCOUNT_REMOVED = AccountRemoved = "account_removed";
    /// An admin tried to disable or remove their own account through the API.
    OWN_ACCOUNT = OwnAccount = "own_account";
    /// No emergency grant awaiting sign-off.
    NOT_BREAK_GLASS = NotBreakGlass = "not_break_glass";
    /// The database cannot be read or written: nothing is decided (fail closed).
    DATABASE_UNAVAILABLE = DatabaseUnavailable = "database_unavailable";
    /// The session's recording cannot be started or written: nothing is opened.
    RECORDING_UNAVAILABLE = RecordingUnavailable = "recording_unavailable";
    /// The recordings disk is below `[recordings] min_free` (or full): no session starts.
    RECORDINGS_DISK_FULL = RecordingsDiskFull = "recordings_disk_full";
    /// A connection names no target, or one the gateway does not know.
    NO_TARGET = NoTarget = "no_target";
    /// The target has no pinned host key.
    TARGET_UNPINNED = TargetUnpinned = "target_unpinned";
    /// The target cannot be reached.
    TARGET_UNREACHABLE = TargetUnreachable = "target_unreachable";
    /// The target presented a host key other than the pinned one.
    TARGET_HOSTKEY_MISMATCH = TargetHostkeyMismatch = "target_hostkey_mismatch";
    /// The gateway's credential was refused by the target.
    TARGET_AUTH_FAILED = TargetAuthFailed = "target_auth_failed";
    /// The target refused to open a channel.
    TARGET_CHANNEL_REFUSED = TargetChannelRefused = "target_channel_refused";
    /// The session has ended; no more channels.
    SESSION_ENDED = SessionEnded = "session_ended";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_one_snake_case_string_that_parses_back() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            let s = c.as_str();
            assert!(
                s.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'),
                "{s}"
            );
            assert!(seen.insert(s), "{s} twice");
            assert_eq!(Code::parse(s), Some(*c));
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(s));
        }
        // The strings stored in audit entries and recordings before the enum existed.
        assert_eq!(NO_GRANT.as_str(), "no_grant");
        assert_eq!(GRANT_REVOKED.as_str(), "grant_revoked");
        assert_eq!(MAX_SESSION.as_str(), "max_session");
        assert_eq!(SFTP_REFUSED.as_str(), "sftp_refused");
        assert_eq!(UNKNOWN_REQUEST.as_str(), "unknown_request");
    }
}
