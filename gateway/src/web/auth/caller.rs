//! Who is calling: the [`Caller`] of a request and how they proved it ([`Via`]), resolved
//! from an API token (`Authorization: Bearer mwt_…`) or the session cookie's JWT, and the
//! extractor handlers take it with. Not the refusals by route, role or CSRF
//! (`layer.rs`), nor how a login starts (`login.rs`).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use policy::{Millis, Role};

use super::cookies::cookie;
use super::jwt::{jwt_sign, jwt_verify, Claims};
use super::recheck::Ended;
use super::{now_secs, SESSION_COOKIE};
use crate::credentials::{token_hash, TOKEN_PREFIX};
use crate::db::{ApiToken, User, WebSession};
use crate::web::error::{ApiError, ApiResult};
use crate::web::AppState;

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A web login: the JWT's id and its CSRF token.
    Cookie {
        /// `jti`.
        jti: String,
        /// The double-submit token.
        csrf: String,
    },
    /// An API token, by id.
    Token(String),
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Account name.
    pub name: String,
    /// Its one role.
    pub role: Role,
    /// Cookie or token.
    pub via: Via,
}

impl Caller {
    /// How actions of this caller are marked in audit details (`via`): `web` or `api-token`.
    pub fn via_text(&self) -> String {
        self.proof().via.to_string()
    }

    /// How this caller proved who they are, for audit entries: `web` (password and, where
    /// required, TOTP) or `api-token` with the token's id.
    pub fn proof(&self) -> crate::approvals::Proof {
        match &self.via {
            Via::Cookie { .. } => crate::approvals::Proof::plain("web"),
            Via::Token(id) => crate::approvals::Proof {
                via: "api-token",
                os_user: None,
                token: Some(id.clone()),
            },
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::unauthenticated("log in first"))
    }
}

/// The caller of a request, from a bearer token or the session cookie; `Ok(None)` when it
/// carries neither. Also returns a renewed JWT when the cookie passed half its life.
pub(super) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> ApiResult<Option<(Caller, Option<String>)>> {
    let now = crate::time::now_ms();
    if let Some(auth) = headers.get(AUTHORIZATION) {
        let secret = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|s| s.starts_with(TOKEN_PREFIX))
            .ok_or_else(|| ApiError::unauthenticated("expected Authorization: Bearer mwt_…"))?;
        let token = state.ctx.db.token_by_hash(&token_hash(secret)).await?;
        let Some(token) = token.filter(|t| token_ended(state, t, now).is_none()) else {
            return Err(ApiError::unauthenticated(
                "the API token is unknown, expired or revoked",
            ));
        };
        let user = live_user(state, &token.user_name).await?;
        state.ctx.db.token_used(&token.id, now).await?;
        return Ok(Some((
            Caller {
                name: user.name,
                role: user.role,
                via: Via::Token(token.id),
            },
            None,
        )));
    }
    let Some(jwt) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let expired = || ApiError::unauthenticated("the web login has ended; log in again");
    let claims = jwt_verify(&state.key, jwt, now_secs()).ok_or_else(expired)?;
    let session = state.ctx.db.web_session(&claims.jti).await?;
    let Some(session) = session.filter(|s| s.user_name == claims.sub) else {
        return Err(expired());
    };
    match web_login_ended(state, &session, now) {
        None => {}
        Some(Ended::MaxLogin) => {
            return Err(ApiError::unauthenticated(
                "the web login reached its longest life ([https] max_login); log in again",
            ))
        }
        Some(_) => return Err(expired()),
    }
    let last_end = login_last_end(state, &session);
    let user = live_user(state, &session.user_name).await?;
    let ttl_ms = crate::time::duration_ms(state.https.session_ttl);
    let renewed = if claims.exp.saturating_mul(1000).saturating_sub(now) < ttl_ms / 2 {
        let expires_at = now.saturating_add(ttl_ms).min(last_end);
        state
            .ctx
            .db
            .web_session_renew(&session.jti, expires_at)
            .await?;
        jwt_sign(
            &state.key,
            &Claims {
                sub: session.user_name.clone(),
                jti: session.jti.clone(),
                iat: now / 1000,
                exp: expires_at / 1000,
            },
        )
    } else {
        None
    };
    Ok(Some((
        Caller {
            name: user.name,
            role: user.role,
            via: Via::Cookie {
                jti: session.jti,
                csrf: session.csrf,
            },
        },
        renewed,
    )))
}

/// However much it is used, a web login ends `[https] max_login` after the password was
/// given.
fn login_last_end(state: &AppState, s: &WebSession) -> Millis {
    s.created_at
        .saturating_add(crate::time::duration_ms(state.https.max_login))
}

/// Why the web login `s` admits nobody at `now`, if it has ended: revoked (logout, a
/// password change, `user logout`), past `max_login`, or not used for `session_ttl`.
pub(super) fn web_login_ended(state: &AppState, s: &WebSession, now: Millis) -> Option<Ended> {
    if s.revoked_at.is_some() {
        Some(Ended::LoggedOut)
    } else if now >= login_last_end(state, s) {
        Some(Ended::MaxLogin)
    } else if s.expires_at <= now {
        Some(Ended::Idle)
    } else {
        None
    }
}

/// Why the token `t` admits nobody at `now`, if it has ended: revoked, or past its end; a
/// token stored without one (issued before tokens had to end) ends `[https] max_token_ttl`
/// after it was issued.
pub(super) fn token_ended(state: &AppState, t: &ApiToken, now: Millis) -> Option<Ended> {
    let max_ttl = crate::time::duration_ms(state.https.max_token_ttl);
    let ends = t
        .expires_at
        .unwrap_or_else(|| t.created_at.saturating_add(max_ttl));
    if t.revoked_at.is_some() {
        Some(Ended::TokenRevoked)
    } else if ends <= now {
        Some(Ended::TokenExpired)
    } else {
        None
    }
}

/// [`Ended::Account`] for an account that is disabled or gone.
pub(super) fn account_ended(user: Option<&User>) -> Option<Ended> {
    match user {
        Some(u) if !u.disabled => None,
        _ => Some(Ended::Account),
    }
}

async fn live_user(state: &AppState, name: &str) -> ApiResult<User> {
    match state.ctx.db.user(name).await? {
        Some(u) if account_ended(Some(&u)).is_none() => Ok(u),
        _ => Err(ApiError::unauthenticated("the account is disabled or gone")),
    }
}
