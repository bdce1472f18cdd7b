//! The API's errors: one JSON shape, `{"error": {"code", "message"}}`, with the statuses and
//! stable codes of docs/web.md, and the mapping from the gateway's own errors (refusals of
//! [`crate::approvals`], database failures) onto them. Also [`Body`], the JSON body
//! extractor whose rejections (malformed, oversize) come back in that shape. Not where
//! anything is decided.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use policy::Refusal;
use serde_json::json;

use crate::approvals::ApprovalError;

/// Bodies larger than this are refused with 413 `too_large`.
pub const MAX_BODY: usize = 64 * 1024;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code (`bad_json`, `forbidden`, …).
    pub code: &'static str,
    /// One line for a person; never a target's address.
    pub message: String,
    /// The refusal code behind it, when a refusal of the approvals desk is.
    pub reason: Option<String>,
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            reason: None,
        }
    }

    /// 400 `bad_input`.
    pub fn bad_input(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_input", message)
    }

    /// 401 `unauthenticated`.
    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 503 `unavailable`: the database (or audit log) failed. The cause goes to the log,
    /// not to the caller.
    pub fn unavailable(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!("web request failed: {cause}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the gateway cannot reach its database; try again",
        )
    }

    /// The answer for a refusal of the approvals desk: its message, a status by its code.
    pub fn refused(r: &Refusal) -> ApiError {
        use crate::approvals::codes as gw;
        use policy::codes as p;
        let code = r.code;
        let (status, stable) = if [gw::UNKNOWN_REQUEST, gw::UNKNOWN_GRANT].contains(&code) {
            (StatusCode::NOT_FOUND, "not_found")
        } else if [
            p::NOT_YOURS,
            p::NOT_APPROVER,
            p::NOT_ENGINEER,
            p::SELF_REVIEW,
            p::SELF_GRANT,
            p::SEPARATION_OF_DUTIES,
            p::TARGET_NOT_REQUESTABLE,
        ]
        .contains(&code)
        {
            (StatusCode::FORBIDDEN, "forbidden")
        } else if [
            p::NOT_PENDING,
            p::ALREADY_REVIEWED,
            p::REQUEST_LAPSED,
            gw::NOT_BREAK_GLASS,
            p::BREAK_GLASS_OFF,
            p::BREAK_GLASS_LEVEL,
            p::BREAK_GLASS_TOO_EARLY,
            p::BREAK_GLASS_GROUPS,
            p::GRANT_REVOKED,
        ]
        .contains(&code)
        {
            (StatusCode::CONFLICT, "conflict")
        } else {
            (StatusCode::BAD_REQUEST, "bad_input")
        };
        ApiError {
            status,
            code: stable,
            message: r.message.clone(),
            reason: Some(code.to_string()),
        }
    }
}

impl From<ApprovalError> for ApiError {
    fn from(e: ApprovalError) -> Self {
        match &e {
            ApprovalError::Refused(r) => ApiError::refused(r),
            ApprovalError::Failed(cause) => ApiError::unavailable(cause),
        }
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        ApiError::unavailable(e)
    }
}

impl From<crate::audit::AuditError> for ApiError {
    fn from(e: crate::audit::AuditError) -> Self {
        ApiError::unavailable(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let (Some(reason), Some(m)) = (self.reason, error.as_object_mut()) {
            m.insert("reason".into(), reason.into());
        }
        (self.status, axum::Json(json!({ "error": error }))).into_response()
    }
}

/// A JSON request body of at most [`MAX_BODY`] bytes: malformed JSON is 400 `bad_json`,
/// well-formed JSON of the wrong shape 400 `bad_input`, a larger body 413 `too_large`.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(r: &JsonRejection) -> ApiError {
    let text = r.body_text();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match r {
        JsonRejection::JsonDataError(_) => ApiError::bad_input(text),
        JsonRejection::BytesRejection(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the body is larger than {} KiB", MAX_BODY / 1024),
            )
        }
        _ => ApiError::new(StatusCode::BAD_REQUEST, "bad_json", text),
    }
}

/// `id` as a path segment: letters, digits, `-`, `_`, `.`, not starting with a dot, at most
/// 128 characters. Anything else (a path, a traversal) is 404 like an unknown id.
pub fn check_id(id: &str) -> ApiResult<&str> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(id)
    } else {
        Err(ApiError::not_found("no such id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_like_ids_are_not_found() {
        for bad in [
            "",
            "../x",
            ".hidden",
            "a/b",
            "a%2Fb",
            "a b",
            &"x".repeat(129),
        ] {
            assert_eq!(
                check_id(bad).unwrap_err().status,
                StatusCode::NOT_FOUND,
                "{bad}"
            );
        }
        assert_eq!(check_id("s-0123abcd").unwrap(), "s-0123abcd");
    }

    #[test]
    fn refusals_keep_their_code_as_the_reason() {
        let e = ApiError::refused(&Refusal::new(policy::codes::NOT_PENDING, "gone"));
        assert_eq!((e.status, e.code), (StatusCode::CONFLICT, "conflict"));
        assert_eq!(e.reason.as_deref(), Some("not_pending"));
        let e = ApiError::refused(&Refusal::new(policy::codes::NOT_YOURS, "x"));
        assert_eq!(e.status, StatusCode::FORBIDDEN);
    }
}
