//! The stable machine codes carried by every [`Refusal`](crate::Refusal).
//!
//! Audit events, the REST API and the gateway match on these strings; the human message
//! next to them may change wording, these may not.

/// No grant at all for this engineer and target.
pub const NO_GRANT: &str = "no_grant";
/// There was a grant and it ended.
pub const GRANT_EXPIRED: &str = "grant_expired";
/// There was a grant and an approver revoked it.
pub const GRANT_REVOKED: &str = "grant_revoked";
/// The grant starts later.
pub const GRANT_NOT_YET: &str = "grant_not_yet";

/// The acting account is not an approver.
pub const NOT_APPROVER: &str = "not_approver";
/// An approver tried to grant access to themself.
pub const SELF_GRANT: &str = "self_grant";
/// Access may only be granted to engineers.
pub const RECIPIENT_NOT_ENGINEER: &str = "recipient_not_engineer";
/// A grant's duration is zero or negative.
pub const BAD_DURATION: &str = "bad_duration";
/// A grant's duration is over the cap.
pub const DURATION_OVER_CAP: &str = "duration_over_cap";
/// One account, one role (等保 2.0 三权分立).
pub const SEPARATION_OF_DUTIES: &str = "separation_of_duties";

/// The SFTP subsystem or an sftp-server run through exec.
pub const SFTP_REFUSED: &str = "sftp_refused";
/// `scp -f` (download), or `scp -t` (upload) where uploads are not allowed.
pub const SCP_REFUSED: &str = "scp_refused";
/// `rsync --server`, either direction.
pub const RSYNC_REFUSED: &str = "rsync_refused";
/// Local (`-L`, `-D`) or remote (`-R`) port forwarding.
pub const FORWARDING_REFUSED: &str = "forwarding_refused";
/// Unix-socket forwarding (direct-streamlocal, streamlocal-forward).
pub const STREAMLOCAL_REFUSED: &str = "streamlocal_refused";
/// SSH agent forwarding.
pub const AGENT_FORWARDING_REFUSED: &str = "agent_forwarding_refused";
/// X11 forwarding.
pub const X11_REFUSED: &str = "x11_refused";
/// A non-interactive command where exec is disabled.
pub const EXEC_REFUSED: &str = "exec_refused";
/// An environment variable other than `TERM`, `LANG` and `LC_*`.
pub const ENV_REFUSED: &str = "env_refused";
/// A subsystem other than SFTP.
pub const SUBSYSTEM_REFUSED: &str = "subsystem_refused";

/// A malformed SSH login name.
pub const BAD_USERNAME: &str = "bad_username";
/// A malformed user or target name (CLI, API).
pub const BAD_NAME: &str = "bad_name";

/// Only engineers file requests.
pub const NOT_ENGINEER: &str = "not_engineer";
/// A request names neither targets nor a group, or both.
pub const NO_TARGETS: &str = "no_targets";
/// A request names a target group the policy does not have.
pub const UNKNOWN_GROUP: &str = "unknown_group";
/// The policy does not let this engineer request this target (or group).
pub const TARGET_NOT_REQUESTABLE: &str = "target_not_requestable";
/// A request's start time lies before the moment it is filed.
pub const START_IN_PAST: &str = "start_in_past";
/// Someone acts on a request that is not theirs (withdraw, break-glass, filing for another).
pub const NOT_YOURS: &str = "not_yours";

/// An approver tried to review their own request.
pub const SELF_REVIEW: &str = "self_review";
/// The same approver reviewed this request before.
pub const ALREADY_REVIEWED: &str = "already_reviewed";
/// The request was already approved, denied, withdrawn or lapsed.
pub const NOT_PENDING: &str = "not_pending";
/// The request waited past its lapse time without a decision.
pub const REQUEST_LAPSED: &str = "request_lapsed";
/// An approver tried to make the window longer than requested.
pub const LENGTHEN_REFUSED: &str = "lengthen_refused";

/// Break-glass is turned off by policy.
pub const BREAK_GLASS_OFF: &str = "break_glass_off";
/// Break-glass is only for A-level faults.
pub const BREAK_GLASS_LEVEL: &str = "break_glass_level";
/// The response window has not passed yet.
pub const BREAK_GLASS_TOO_EARLY: &str = "break_glass_too_early";
/// Break-glass covers the targets of one group only.
pub const BREAK_GLASS_GROUPS: &str = "break_glass_groups";

/// A session reached the policy's longest session.
pub const MAX_SESSION: &str = "max_session";
