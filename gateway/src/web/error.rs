//! The API's errors: one JSON shape, `{"error": {"code", "message"}}`, with the statuses and
//! stable codes of docs/web.md, and the mapping from the gateway's own errors (refusals of
//! [`crate::approvals`], database failures) onto them. Also the extractors whose rejections
//! come back in that shape ([`Body`] for JSON bodies, [`Id`] for a path's id, [`Params`] for
//! query strings), the answer for unknown routes, and [`json_errors`],
//! the last guard that no `/api/v1` error leaves in another shape. Not where anything is
//! decided.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use policy::Refusal;
use serde_json::json;

use crate::approvals::ApprovalError;

/// Bodies larger than this are refused with 413 `too_large`.
pub const MAX_BODY: usize = 64 * 1024;

/// The API's stable error codes (docs/web.md); each answers with one HTTP status, so a
/// code and its status cannot disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiCode {
    /// 400: the body is not JSON.
    BadJson,
    /// 400: a field, parameter or path id is wrong.
    BadInput,
    /// 400: a WebSocket endpoint called without the upgrade.
    WebsocketRequired,
    /// 400: a list's `cursor` was altered, or made for another list, sort, order or
    /// filters.
    BadCursor,
    /// 400: a list's `sort` names no column it sorts by.
    BadSort,
    /// 401: no login, or an expired, revoked or forged one.
    Unauthenticated,
    /// 403: the role or ownership does not allow it.
    Forbidden,
    /// 403: a cookie login's state change without the right CSRF header.
    Csrf,
    /// 403: a WebSocket opened from another page.
    Origin,
    /// 404: no such endpoint or id.
    NotFound,
    /// 405: the endpoint does not take this method.
    MethodNotAllowed,
    /// 409: the state does not allow it now.
    Conflict,
    /// 413: the body is over [`MAX_BODY`].
    TooLarge,
    /// 429: too many failed logins.
    Throttled,
    /// 429: this login already holds `[https] max_streams_per_login` WebSockets and event
    /// streams.
    TooManyStreams,
    /// 429: the engineer already holds `[policy] max_sessions_per_engineer` live sessions.
    TooManySessions,
    /// 410: the session's recording was removed under `[retention] recordings`.
    RecordingExpired,
    /// 503: the database (or another part the answer needs) failed.
    Unavailable,
}

impl ApiCode {
    /// The stable string.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiCode::BadJson => "bad_json",
            ApiCode::BadInput => "bad_input",
            ApiCode::WebsocketRequired => "websocket_required",
            ApiCode::BadCursor => "bad_cursor",
            ApiCode::BadSort => "bad_sort",
            ApiCode::Unauthenticated => "unauthenticated",
            ApiCode::Forbidden => "forbidden",
            ApiCode::Csrf => "csrf",
            ApiCode::Origin => "origin",
            ApiCode::NotFound => "not_found",
            ApiCode::MethodNotAllowed => "method_not_allowed",
            ApiCode::Conflict => "conflict",
            ApiCode::TooLarge => "too_large",
            ApiCode::Throttled => "throttled",
            ApiCode::TooManyStreams => "too_many_streams",
            ApiCode::TooManySessions => "too_many_sessions",
            ApiCode::RecordingExpired => "recording_expired",
            ApiCode::Unavailable => "unavailable",
        }
    }

    /// The HTTP status it answers with.
    pub fn status(self) -> StatusCode {
        match self {
            ApiCode::BadJson
            | ApiCode::BadInput
            | ApiCode::WebsocketRequired
            | ApiCode::BadCursor
            | ApiCode::BadSort => StatusCode::BAD_REQUEST,
            ApiCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiCode::Forbidden | ApiCode::Csrf | ApiCode::Origin => StatusCode::FORBIDDEN,
            ApiCode::NotFound => StatusCode::NOT_FOUND,
            ApiCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiCode::Conflict => StatusCode::CONFLICT,
            ApiCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiCode::Throttled | ApiCode::TooManyStreams | ApiCode::TooManySessions => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiCode::RecordingExpired => StatusCode::GONE,
            ApiCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The stable code, which decides the status.
    pub code: ApiCode,
    /// One line for a person; never a target's address.
    pub message: String,
    /// The refusal code behind it, when a refusal of the approvals desk is.
    pub reason: Option<String>,
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with `code` (and so its status) and `message`.
    pub fn new(code: ApiCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            reason: None,
        }
    }

    /// 400 `bad_input`.
    pub fn bad_input(message: impl Into<String>) -> ApiError {
        ApiError::new(ApiCode::BadInput, message)
    }

    /// 401 `unauthenticated`.
    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(ApiCode::Unauthenticated, message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(ApiCode::Forbidden, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ApiCode::NotFound, message)
    }

    /// 405 `method_not_allowed`: the path exists, not with this method.
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            ApiCode::MethodNotAllowed,
            "this endpoint does not take this method; see the Allow header and /api/v1/openapi.json",
        )
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(ApiCode::Conflict, message)
    }

    /// 503 `unavailable`: the database (or audit log) failed. The cause goes to the log,
    /// not to the caller.
    pub fn unavailable(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!("web request failed: {cause}");
        ApiError::new(
            ApiCode::Unavailable,
            "the gateway cannot reach its database; try again",
        )
    }

    /// The answer for a refusal of the approvals desk: its message, a status by its code.
    pub fn refused(r: &Refusal) -> ApiError {
        use crate::approvals::codes as gw;
        use policy::codes as p;
        let code = r.code;
        let stable = if [gw::UNKNOWN_REQUEST, gw::UNKNOWN_GRANT, p::UNKNOWN_RUNBOOK].contains(&code)
        {
            ApiCode::NotFound
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
            ApiCode::Forbidden
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
            p::RUNBOOK_NOT_APPROVED,
        ]
        .contains(&code)
        {
            ApiCode::Conflict
        } else {
            ApiCode::BadInput
        };
        ApiError {
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
    /// 503 `unavailable` with the reason `database_unavailable`, the code an SSH engineer's
    /// refusal carries.
    fn from(e: crate::db::DbError) -> Self {
        ApiError {
            reason: Some(policy::codes::DATABASE_UNAVAILABLE.to_string()),
            ..ApiError::unavailable(e)
        }
    }
}

impl From<crate::audit::AuditError> for ApiError {
    fn from(e: crate::audit::AuditError) -> Self {
        ApiError::unavailable(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(self.code.status(), self.code, self.message, self.reason)
    }
}

/// `{"error": {"code", "message", "reason"?}}` with `status`.
fn error_response(
    status: StatusCode,
    code: ApiCode,
    message: String,
    reason: Option<String>,
) -> Response {
    let mut error = json!({"code": code.as_str(), "message": message});
    if let (Some(reason), Some(m)) = (reason, error.as_object_mut()) {
        m.insert("reason".into(), reason.into());
    }
    (status, axum::Json(json!({ "error": error }))).into_response()
}

/// A JSON request body of at most [`MAX_BODY`] bytes: malformed JSON is 400 `bad_json`,
/// well-formed JSON of the wrong shape or with a NUL character in a string 400 `bad_input`, a
/// larger body 413 `too_large`.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Read as any JSON first (the same content-type, size and syntax answers), refuse a
        // NUL in any string, then take the shape `T` with axum's own messages.
        let value = match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(v)) => v,
            Err(rejection) => return Err(json_rejection(&rejection)),
        };
        if holds_nul(&value) {
            return Err(nul_refused("a string in the body"));
        }
        let bytes = serde_json::to_vec(&value).map_err(|e| ApiError::bad_input(e.to_string()))?;
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

/// Whether any string (or key) of `value` holds a NUL character.
fn holds_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        serde_json::Value::Object(fields) => {
            fields.iter().any(|(k, v)| k.contains('\0') || holds_nul(v))
        }
        _ => false,
    }
}

/// 400 `bad_input` for a NUL character in `what`: no name, id or text the gateway keeps may
/// hold one (PostgreSQL cannot store it, and no terminal or page shows it).
pub fn nul_refused(what: &str) -> ApiError {
    ApiError::bad_input(format!(
        "{what} holds a NUL character, which no name, id or text may hold"
    ))
}

/// Refuses `text` (`what`, for the message) when it holds a NUL character.
pub fn no_nul(what: &str, text: &str) -> Result<(), ApiError> {
    if text.contains('\0') {
        Err(nul_refused(what))
    } else {
        Ok(())
    }
}

fn json_rejection(r: &JsonRejection) -> ApiError {
    let text = one_line(&r.body_text());
    match r {
        JsonRejection::JsonDataError(_) => ApiError::bad_input(text),
        JsonRejection::BytesRejection(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                ApiCode::TooLarge,
                format!("the body is larger than {} KiB", MAX_BODY / 1024),
            )
        }
        _ => ApiError::new(ApiCode::BadJson, text),
    }
}

/// The answer of every `/api/v1` path no route matches: 404 `not_found`.
pub async fn no_such_endpoint() -> ApiError {
    ApiError::not_found("no such API endpoint; see /api/v1/openapi.json")
}

/// The `{id}` of a route's path, checked by [`check_id`]: not UTF-8 after percent-decoding
/// is 400 `bad_input`, a path-like or overlong id 404 `not_found`.
#[derive(Debug)]
pub struct Id(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|r| {
                ApiError::bad_input(format!(
                    "the id in the path cannot be read ({}); ids are letters, digits, '-', '_' and '.'",
                    one_line(&r.body_text())
                ))
            })?;
        check_id(&id)?;
        Ok(Id(id))
    }
}

/// A query string of shape `T`: a parameter that does not parse (`live=maybe`) or holds a
/// NUL character is 400 `bad_input` naming it.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S, T> FromRequestParts<S> for Params<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A NUL can only come percent-encoded.
        if parts.uri.query().is_some_and(|q| q.contains("%00")) {
            return Err(nul_refused("a query parameter"));
        }
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Params(v))
            .map_err(|r| ApiError::bad_input(one_line(&r.body_text())))
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The stable code of an error status, for answers that did not come from an [`ApiError`].
fn code_of(status: StatusCode) -> ApiCode {
    match status {
        StatusCode::UNAUTHORIZED => ApiCode::Unauthenticated,
        StatusCode::FORBIDDEN => ApiCode::Forbidden,
        StatusCode::NOT_FOUND => ApiCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ApiCode::MethodNotAllowed,
        StatusCode::CONFLICT => ApiCode::Conflict,
        StatusCode::PAYLOAD_TOO_LARGE => ApiCode::TooLarge,
        StatusCode::TOO_MANY_REQUESTS => ApiCode::Throttled,
        s if s.is_server_error() => ApiCode::Unavailable,
        _ => ApiCode::BadInput,
    }
}

/// The last guard on `/api/v1`: an error answer that is not JSON (a rejection of an extractor
/// or layer that no handler turned into an [`ApiError`]) is replaced by the JSON shape with
/// the stable code of its status (the status itself is kept). Logged, since it means an
/// extractor still needs its own mapping.
pub async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| one_line(&String::from_utf8_lossy(&b)))
        .unwrap_or_default();
    tracing::warn!(%status, "an API error left without the JSON shape: {text}");
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut fixed = error_response(status, code_of(status), message, None);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fixed.headers_mut().append(name, value.clone());
        }
    }
    fixed
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
                check_id(bad).unwrap_err().code.status(),
                StatusCode::NOT_FOUND,
                "{bad}"
            );
        }
        assert_eq!(check_id("s-0123abcd").unwrap(), "s-0123abcd");
    }

    #[tokio::test]
    async fn errors_that_are_not_json_get_the_json_shape_and_keep_their_headers() {
        let plain = Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .header(header::ALLOW, "GET")
            .body(axum::body::Body::from("Invalid URL: Invalid UTF-8 in `id`"))
            .unwrap();
        let fixed = json_errors(plain).await;
        assert_eq!(fixed.status(), StatusCode::BAD_REQUEST);
        assert_eq!(fixed.headers()[header::ALLOW], "GET");
        assert!(fixed.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let body = axum::body::to_bytes(fixed.into_body(), 4096).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "bad_input");
        assert_eq!(v["error"]["message"], "Invalid URL: Invalid UTF-8 in `id`");
        // An empty 405 gets its code and a message; JSON answers and successes pass as they are.
        let empty = json_errors(StatusCode::METHOD_NOT_ALLOWED.into_response()).await;
        let body = axum::body::to_bytes(empty.into_body(), 4096).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "method_not_allowed");
        assert_eq!(v["error"]["message"], "Method Not Allowed");
        let ours = json_errors(ApiError::conflict("busy").into_response()).await;
        let body = axum::body::to_bytes(ours.into_body(), 4096).await.unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()["error"]["message"],
            "busy"
        );
        let ok = json_errors((StatusCode::OK, "fine").into_response()).await;
        let body = axum::body::to_bytes(ok.into_body(), 4096).await.unwrap();
        assert_eq!(&body[..], b"fine");
    }

    #[test]
    fn api_codes_keep_their_strings_and_statuses() {
        for (code, text, status) in [
            (ApiCode::BadJson, "bad_json", 400),
            (ApiCode::BadInput, "bad_input", 400),
            (ApiCode::WebsocketRequired, "websocket_required", 400),
            (ApiCode::Unauthenticated, "unauthenticated", 401),
            (ApiCode::Forbidden, "forbidden", 403),
            (ApiCode::Csrf, "csrf", 403),
            (ApiCode::Origin, "origin", 403),
            (ApiCode::NotFound, "not_found", 404),
            (ApiCode::MethodNotAllowed, "method_not_allowed", 405),
            (ApiCode::Conflict, "conflict", 409),
            (ApiCode::TooLarge, "too_large", 413),
            (ApiCode::Throttled, "throttled", 429),
            (ApiCode::TooManyStreams, "too_many_streams", 429),
            (ApiCode::TooManySessions, "too_many_sessions", 429),
            (ApiCode::RecordingExpired, "recording_expired", 410),
            (ApiCode::Unavailable, "unavailable", 503),
        ] {
            assert_eq!((code.as_str(), code.status().as_u16()), (text, status));
            let resp = ApiError::new(code, "m").into_response();
            assert_eq!(resp.status().as_u16(), status, "{text}");
        }
    }

    #[test]
    fn refusals_keep_their_code_as_the_reason() {
        let e = ApiError::refused(&Refusal::new(policy::codes::NOT_PENDING, "gone"));
        assert_eq!(
            (e.code.status(), e.code.as_str()),
            (StatusCode::CONFLICT, "conflict")
        );
        assert_eq!(e.reason.as_deref(), Some("not_pending"));
        let e = ApiError::refused(&Refusal::new(policy::codes::NOT_YOURS, "x"));
        assert_eq!(e.code.status(), StatusCode::FORBIDDEN);
    }
}
