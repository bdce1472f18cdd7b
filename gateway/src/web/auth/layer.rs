//! The middleware on every `/api/v1` route: finds the route in [`crate::web::routes`],
//! resolves the caller, refuses what the route's roles, the CSRF check or a missing login
//! do not allow, and renews the session cookie while it is used. Not how the caller is
//! resolved (`caller.rs`) nor what any endpoint does.

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::SET_COOKIE;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::caller::authenticate;
use super::cookies::session_cookie;
use super::csrf::check_csrf;
use crate::web::error::ApiError;
use crate::web::AppState;

/// The middleware on every `/api/v1` route: answers a method the route table does not list
/// for the path (405 `method_not_allowed`), resolves the caller, refuses a missing or bad
/// one (401), a cookie state change without the CSRF header or from another origin (403
/// `csrf`), a role the route does not list (403); renews the cookie while it is used.
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let method = req.method().clone();
    let table = crate::web::routes();
    let Some(route) = table
        .iter()
        .find(|r| r.path == path && r.method.as_str() == method.as_str())
    else {
        // The path is in the table, not with this method (HEAD included: the API takes
        // none). Answered here, before anything runs, with the methods it takes.
        let allow: Vec<&str> = table
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.method.as_str())
            .collect();
        let mut resp = ApiError::method_not_allowed().into_response();
        if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
            resp.headers_mut().insert(axum::http::header::ALLOW, v);
        }
        return resp;
    };
    let roles = route.roles;
    let public = route.public;
    let (caller, renewed) = match authenticate(&state, req.headers()).await {
        Ok(Some((c, r))) => (Some(c), r),
        Ok(None) => (None, None),
        // A public route (login, the OpenAPI document) answers whatever the cookie says.
        Err(_) if public => (None, None),
        Err(e) => return e.into_response(),
    };
    if !public {
        let Some(caller) = caller.as_ref() else {
            return ApiError::unauthenticated("log in first").into_response();
        };
        if let Err(e) = check_csrf(&state, caller, &method, req.headers()) {
            return e.into_response();
        }
        if !roles.contains(&caller.role) {
            return ApiError::forbidden(format!("an {} may not do this", caller.role.as_str()))
                .into_response();
        }
    }
    if let Some(c) = caller {
        req.extensions_mut().insert(c);
    }
    let mut resp = next.run(req).await;
    if let Some(jwt) = renewed {
        if let Ok(v) = HeaderValue::from_str(&session_cookie(&jwt, &state)) {
            resp.headers_mut().append(SET_COOKIE, v);
        }
    }
    resp
}
