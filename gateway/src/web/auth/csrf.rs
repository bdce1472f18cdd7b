//! CSRF for cookie logins: a state change must come from the gateway's own origin (when the
//! browser says) and carry the session's token in [`CSRF_HEADER`] (double submit; the
//! token is also in the readable [`super::CSRF_COOKIE`]). API tokens are not cookies and
//! pass. Not who is calling (`caller.rs`).

use axum::http::header::ORIGIN;
use axum::http::{HeaderMap, Method};

use super::{Caller, Via, CSRF_HEADER};
use crate::web::error::{ApiCode, ApiError, ApiResult};
use crate::web::AppState;

/// Refuses a cookie login's state change that comes from another origin or lacks the
/// session's CSRF token in [`CSRF_HEADER`]; tokens and safe methods pass.
pub(super) fn check_csrf(
    state: &AppState,
    caller: &Caller,
    method: &Method,
    headers: &HeaderMap,
) -> ApiResult<()> {
    let Via::Cookie { csrf, .. } = &caller.via else {
        return Ok(());
    };
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let csrf_err = |m: &str| ApiError::new(ApiCode::Csrf, m);
    if let Some(origin) = headers.get(ORIGIN) {
        if origin.to_str().ok() != Some(state.https.origin.as_str()) {
            return Err(csrf_err("the request comes from another site"));
        }
    }
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    match sent {
        Some(s) if constant_eq(s, csrf) => Ok(()),
        _ => Err(csrf_err(
            "missing or wrong X-CSRF-Token header; send the __Host-menwei_csrf cookie's value",
        )),
    }
}

/// Whether `a` equals `b`, compared without stopping at the first difference.
fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
