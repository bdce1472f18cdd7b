//! The login cookies' exact shape: the session JWT ([`SESSION_COOKIE`], HttpOnly) and the
//! CSRF token ([`CSRF_COOKIE`], readable by the page), both `Secure; SameSite=Strict`, set,
//! renewed and cleared here; and reading a cookie from a request. Not what is in them.

use axum::http::header::COOKIE;
use axum::http::HeaderMap;

use super::{CSRF_COOKIE, SESSION_COOKIE};
use crate::web::AppState;

/// The value of the cookie `name` in the request's `Cookie` headers.
pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Set-Cookie` for the session JWT: HttpOnly, for the session's lifetime.
pub(super) fn session_cookie(jwt: &str, state: &AppState) -> String {
    format!(
        "{SESSION_COOKIE}={jwt}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={}",
        state.https.session_ttl.as_secs()
    )
}

/// `Set-Cookie` for the CSRF token: readable by the page, for the session's lifetime.
pub(super) fn csrf_cookie(csrf: &str, state: &AppState) -> String {
    format!(
        "{CSRF_COOKIE}={csrf}; Secure; SameSite=Strict; Path=/; Max-Age={}",
        state.https.session_ttl.as_secs()
    )
}

/// `Set-Cookie` values that clear both cookies (logout).
pub(super) fn cleared() -> [String; 2] {
    [
        format!("{SESSION_COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0"),
        format!("{CSRF_COOKIE}=; Secure; SameSite=Strict; Path=/; Max-Age=0"),
    ]
}
