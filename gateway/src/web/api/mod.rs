//! The `/api/v1` endpoints, one file per area, each the twin of a CLI command: requests and
//! reviews, grants, sessions and recordings, break-glass, the audit log, reports and the tender's documents, inspections, the
//! admin's read-only views and the admin's account actions. Each handler trusts [`super::auth::layer`] for the role the
//! route table names and checks ownership itself; actions go through [`crate::approvals`]
//! or the same database calls and audit entries as the CLI.

pub mod accounts;
pub mod admin;
pub mod audit_log;
pub mod breakglass;
pub mod documents;
pub mod grants;
pub mod inspections;
pub mod paging;
pub mod reports;
pub mod requestable;
pub mod requests;
pub mod sessions;

use policy::Policy;

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::approvals::{Desk, Proof};

/// The approvals desk for one API call.
pub(crate) fn desk<'a>(state: &'a AppState, policy: &'a Policy, proof: &'a Proof) -> Desk<'a> {
    Desk {
        db: &state.ctx.db,
        policy,
        config: &state.ctx.config,
        proof,
    }
}

/// An RFC 3339 query parameter as Unix milliseconds; absent or empty is `None`, and a bad
/// one is a 400 naming the parameter.
pub(crate) fn time_param(name: &str, v: &Option<String>) -> ApiResult<Option<i64>> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .map(crate::time::parse_rfc3339)
        .transpose()
        .map_err(|e| ApiError::bad_input(format!("{name}: {e}")))
}

/// Whether `caller` sees everyone's rows or only their own (engineers).
pub(crate) fn own_only(caller: &Caller) -> Option<&str> {
    (caller.role == policy::Role::Engineer).then_some(caller.name.as_str())
}

/// The `engineer` filter `caller` may use on a list: an engineer only their own name
/// (another's is 403, "engineers see only their own {what}"), whether asked or not; other
/// roles whatever they asked (absent or empty: everyone).
pub(crate) fn engineer_filter(
    caller: &Caller,
    asked: &Option<String>,
    what: &str,
) -> ApiResult<Option<String>> {
    let asked = asked.clone().filter(|e| !e.is_empty());
    match (own_only(caller), asked) {
        (Some(me), Some(other)) if other != me => Err(ApiError::forbidden(format!(
            "engineers see only their own {what}"
        ))),
        (Some(me), _) => Ok(Some(me.to_string())),
        (None, e) => Ok(e),
    }
}
