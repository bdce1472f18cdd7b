//! Who is calling: web logins (argon2id password, TOTP for the roles that need it, a short
//! HS256 JWT (the `jsonwebtoken` crate) in an HttpOnly cookie whose `jti` lives in the database so logout ends it on
//! every node, CSRF double-submit on every state change) and API tokens for scripts
//! (`Authorization: Bearer mwt_…`, stored as SHA-256). The [`layer`] middleware resolves the
//! caller of every `/api/v1` route, checks the route's roles from [`super::routes`], and
//! renews the cookie while it is used. Failed logins are throttled per user and client
//! address ([`client_ip`]: the TCP peer, `X-Forwarded-For` only from trusted proxies).
//! Not what any endpoint does.

use std::net::{IpAddr, SocketAddr};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use policy::{Millis, Role};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::error::{ApiCode, ApiError, ApiResult, Body};
use super::AppState;
use crate::db::{ApiToken, WebSession};

/// The session cookie (the JWT).
pub const SESSION_COOKIE: &str = "menwei_session";
/// The readable cookie holding the CSRF token.
pub const CSRF_COOKIE: &str = "menwei_csrf";
/// The header every state change of a cookie login carries.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// API tokens start with this.
pub const TOKEN_PREFIX: &str = "mwt_";
/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 10;
/// The longest password accepted (argon2 takes any length; this bounds the work).
pub const MAX_PASSWORD: usize = 1024;

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
    /// How actions of this caller are marked in audit details (`via`).
    pub fn via_text(&self) -> String {
        match &self.via {
            Via::Cookie { .. } => "web".to_string(),
            Via::Token(id) => format!("api:{id}"),
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

// ---- passwords ----

/// An argon2id PHC string for `password`.
pub fn hash_password(password: &str) -> Result<String, String> {
    let hash: PasswordHash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| format!("cannot hash the password: {e}"))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `hash` (constant time in the hash compare).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A password's shape: long enough, not absurdly long, one line.
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(format!(
            "the password must have at least {MIN_PASSWORD} characters"
        ));
    }
    if n > MAX_PASSWORD || password.chars().any(char::is_control) {
        return Err(format!(
            "the password must be at most {MAX_PASSWORD} characters on one line"
        ));
    }
    Ok(())
}

// ---- API tokens ----

/// A new token secret (`mwt_` and 43 URL-safe characters) and its stored hash.
pub fn new_token() -> (Zeroizing<String>, String) {
    let bytes: [u8; 32] = rand::random();
    let secret = Zeroizing::new(format!("{TOKEN_PREFIX}{}", B64.encode(bytes)));
    let hash = token_hash(&secret);
    (secret, hash)
}

/// How a token secret is stored: SHA-256, hex.
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

// ---- JWT (HS256, compact; signed and checked by `jsonwebtoken`) ----

#[derive(serde::Serialize, Deserialize)]
struct Claims {
    sub: String,
    jti: String,
    iat: i64,
    exp: i64,
}

/// The one algorithm a session JWT may name; a token naming any other (`none`, `HS512`, an
/// asymmetric one) is refused whatever its signature.
const JWT_ALG: Algorithm = Algorithm::HS256;

/// A signed JWT for `sub` with id `jti`, valid until `exp` (unix seconds).
fn jwt_sign(key: &[u8; 32], claims: &Claims) -> Option<String> {
    let key = EncodingKey::from_secret(key);
    jsonwebtoken::encode(&Header::new(JWT_ALG), claims, &key).ok()
}

/// How a session JWT is checked: [`JWT_ALG`] only, `sub` and `exp` present, no audience.
/// Expiry is compared by [`jwt_verify`] against the time it is given, not the library's
/// clock, so the check is the same at every call and testable.
fn jwt_validation() -> Validation {
    let mut v = Validation::new(JWT_ALG);
    v.required_spec_claims = ["exp", "sub"].into_iter().map(String::from).collect();
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.leeway = 0;
    v
}

/// The claims of `token` if it is an HS256 JWT signed with `key` and not expired at `now`.
fn jwt_verify(key: &[u8; 32], token: &str, now_secs: i64) -> Option<Claims> {
    let key = DecodingKey::from_secret(key);
    let data = jsonwebtoken::decode::<Claims>(token, &key, &jwt_validation()).ok()?;
    (data.claims.exp > now_secs).then_some(data.claims)
}

// ---- the caller of a request ----

/// The client's address: the TCP peer, or the nearest untrusted hop of
/// `X-Forwarded-For` when the peer is a trusted proxy.
pub fn client_ip(
    state: &AppState,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> Option<IpAddr> {
    let peer = peer?.ip();
    let trusted = &state.https.trusted_proxies;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    Some(
        forwarded
            .iter()
            .rev()
            .find(|ip| !trusted.contains(ip))
            .copied()
            .unwrap_or(peer),
    )
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn now_secs() -> i64 {
    crate::time::now_ms() / 1000
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The caller of a request, from a bearer token or the session cookie; `Ok(None)` when it
/// carries neither. Also returns a renewed JWT when the cookie passed half its life.
async fn authenticate(
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
        let Some(token) = token.filter(|t| token_live(t, now)) else {
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
    let Some(session) = session
        .filter(|s| s.revoked_at.is_none() && s.expires_at > now && s.user_name == claims.sub)
    else {
        return Err(expired());
    };
    let user = live_user(state, &session.user_name).await?;
    let ttl_ms = crate::time::duration_ms(state.https.session_ttl);
    let renewed = if claims.exp.saturating_mul(1000).saturating_sub(now) < ttl_ms / 2 {
        let expires_at = now.saturating_add(ttl_ms);
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

fn token_live(t: &ApiToken, now: Millis) -> bool {
    t.revoked_at.is_none() && t.expires_at.is_none_or(|e| e > now)
}

async fn live_user(state: &AppState, name: &str) -> ApiResult<crate::db::User> {
    match state.ctx.db.user(name).await? {
        Some(u) if !u.disabled => Ok(u),
        _ => Err(ApiError::unauthenticated("the account is disabled or gone")),
    }
}

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
    let table = super::routes();
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

fn check_csrf(
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
            "missing or wrong X-CSRF-Token header; send the menwei_csrf cookie's value",
        )),
    }
}

fn session_cookie(jwt: &str, state: &AppState) -> String {
    format!(
        "{SESSION_COOKIE}={jwt}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={}",
        state.https.session_ttl.as_secs()
    )
}

fn csrf_cookie(csrf: &str, state: &AppState) -> String {
    format!(
        "{CSRF_COOKIE}={csrf}; Secure; SameSite=Strict; Path=/; Max-Age={}",
        state.https.session_ttl.as_secs()
    )
}

// ---- login, logout, me ----

/// `POST /login` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    user: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

/// `POST /api/v1/login`.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Body(body): Body<Login>,
) -> ApiResult<Response> {
    let ip = client_ip(&state, Some(peer), &headers);
    let client = ip.map(|i| i.to_string()).unwrap_or_default();
    let shown: String = body
        .user
        .chars()
        .filter(|c| !c.is_control())
        .take(policy::MAX_NAME_LEN)
        .collect();
    let ctx = &state.ctx;
    if state.throttle.is_blocked(&shown, ip) {
        ctx.audit(
            &shown,
            "web.login.failure",
            "",
            json!({"reason": "throttled", "client": client}),
        )
        .await;
        return Err(ApiError::new(
            ApiCode::Throttled,
            "too many failed logins; wait a few minutes",
        ));
    }
    let fail = |reason: &'static str| {
        let state = state.clone();
        let shown = shown.clone();
        let client = client.clone();
        async move {
            state.throttle.record_failure(&shown, ip);
            state
                .ctx
                .audit(
                    &shown,
                    "web.login.failure",
                    "",
                    json!({"reason": reason, "client": client}),
                )
                .await;
            ApiError::unauthenticated("wrong user name, password or code")
        }
    };
    let user = match ctx.db.user(&body.user).await? {
        Some(u) if !u.disabled => Some(u),
        _ => None,
    };
    let hash = match &user {
        Some(u) => ctx.db.password_hash(&u.name).await?,
        None => None,
    };
    // Always run argon2 once, so an unknown user costs what a known one does.
    let password = Zeroizing::new(body.password);
    let against = hash.clone().unwrap_or_else(|| state.dummy_hash.clone());
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &against))
        .await
        .unwrap_or(false);
    let (Some(user), Some(_), true) = (user, hash, ok) else {
        return Err(fail("wrong user name or password").await);
    };
    let second_factor = crate::totp::required(&ctx.policy.current(), user.role);
    if second_factor {
        let code = body.totp.unwrap_or_default();
        let Some((sealed, _)) = ctx.db.totp_secret(&user.name).await? else {
            ctx.audit(
                &user.name,
                "login.totp.failure",
                "",
                json!({"reason": "not enrolled", "client": client, "via": "web"}),
            )
            .await;
            return Err(fail("TOTP not enrolled").await);
        };
        let secret = crate::totp::open(&ctx.vault, &sealed).map_err(ApiError::unavailable)?;
        let unix = u64::try_from(now_secs()).unwrap_or(0);
        let reason = match crate::totp::matching_step(&secret, code.trim(), unix) {
            Some(step) if ctx.totp_replay.accept(&user.name, step) => None,
            Some(_) => Some("code already used"),
            None => Some("wrong code"),
        };
        if let Some(reason) = reason {
            ctx.audit(
                &user.name,
                "login.totp.failure",
                "",
                json!({"reason": reason, "client": client, "via": "web"}),
            )
            .await;
            return Err(fail("wrong TOTP code").await);
        }
    }
    let now = crate::time::now_ms();
    let ttl_ms = crate::time::duration_ms(state.https.session_ttl);
    let session = WebSession {
        jti: hex::encode(rand::random::<[u8; 16]>()),
        user_name: user.name.clone(),
        csrf: B64.encode(rand::random::<[u8; 24]>()),
        created_at: now,
        expires_at: now.saturating_add(ttl_ms),
        revoked_at: None,
    };
    ctx.db
        .web_session_add(&session, Some(&peer.to_string()))
        .await?;
    let jwt = jwt_sign(
        &state.key,
        &Claims {
            sub: user.name.clone(),
            jti: session.jti.clone(),
            iat: now / 1000,
            exp: session.expires_at / 1000,
        },
    )
    .ok_or_else(|| ApiError::unavailable("cannot sign the session"))?;
    ctx.audit(
        &user.name,
        "web.login",
        "",
        json!({"client": client, "second_factor": if second_factor { "totp" } else { "none" }, "jti": session.jti}),
    )
    .await;
    let mut resp = Json(json!({
        "name": user.name,
        "role": user.role.as_str(),
        "csrf": session.csrf,
    }))
    .into_response();
    for c in [
        session_cookie(&jwt, &state),
        csrf_cookie(&session.csrf, &state),
    ] {
        let v = HeaderValue::from_str(&c).map_err(ApiError::unavailable)?;
        resp.headers_mut().append(SET_COOKIE, v);
    }
    Ok(resp)
}

/// `POST /api/v1/logout`: ends the web login on every node and clears the cookies.
pub async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let Via::Cookie { jti, .. } = &caller.via else {
        return Err(ApiError::bad_input(
            "API tokens do not log out; an admin revokes them: menwei token revoke ID",
        ));
    };
    state
        .ctx
        .db
        .web_session_revoke(jti, crate::time::now_ms())
        .await?;
    state
        .ctx
        .audit(&caller.name, "web.logout", "", json!({"jti": jti}))
        .await;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    for c in [
        format!("{SESSION_COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0"),
        format!("{CSRF_COOKIE}=; Secure; SameSite=Strict; Path=/; Max-Age=0"),
    ] {
        let v = HeaderValue::from_str(&c).map_err(ApiError::unavailable)?;
        resp.headers_mut().append(SET_COOKIE, v);
    }
    Ok(resp)
}

/// `GET /api/v1/me`.
pub async fn me(caller: Caller) -> Json<Value> {
    let csrf = match &caller.via {
        Via::Cookie { csrf, .. } => Some(csrf.clone()),
        Via::Token(_) => None,
    };
    Json(json!({"name": caller.name, "role": caller.role.as_str(), "csrf": csrf}))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A compact JWS by hand: `header` and `claims` as given, signed by `sign` over
    /// `header.claims` (the signature part is empty when `sign` gives nothing).
    fn hand_made(header: &str, claims: &Claims, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header),
            B64.encode(serde_json::to_vec(claims).unwrap())
        );
        let sig = sign(input.as_bytes());
        format!("{input}.{}", B64.encode(sig))
    }

    #[test]
    fn jwt_round_trips_and_refuses_forgery_expiry_and_other_algorithms() {
        let key = [7u8; 32];
        let c = Claims {
            sub: "olga".into(),
            jti: "j".into(),
            iat: 1,
            exp: 100,
        };
        let t = jwt_sign(&key, &c).unwrap();
        assert_eq!(jwt_verify(&key, &t, 50).unwrap().sub, "olga");
        assert!(jwt_verify(&key, &t, 100).is_none(), "expired");
        assert!(jwt_verify(&[8u8; 32], &t, 50).is_none(), "other key");
        let mut forged = t.clone();
        forged.push('A');
        assert!(jwt_verify(&key, &forged, 50).is_none());
        let (_, rest) = t.split_once('.').unwrap();
        let none = format!("{}.{}", B64.encode(r#"{"alg":"none"}"#), rest);
        assert!(
            jwt_verify(&key, &none, 50).is_none(),
            "alg none, HS256 signature"
        );

        use hmac::{Hmac, Mac};
        let hs256 = |i: &[u8]| {
            let mut m = Hmac::<Sha256>::new_from_slice(&key).unwrap();
            m.update(i);
            m.finalize().into_bytes().to_vec()
        };
        let hs512 = |i: &[u8]| {
            let mut m = Hmac::<sha2::Sha512>::new_from_slice(&key).unwrap();
            m.update(i);
            m.finalize().into_bytes().to_vec()
        };
        // The hand-made token is right when it says HS256 and is signed so...
        let good = hand_made(r#"{"alg":"HS256","typ":"JWT"}"#, &c, hs256);
        assert_eq!(jwt_verify(&key, &good, 50).unwrap().jti, "j");
        // ...and refused when it names another algorithm, even signed with the right key.
        let other = hand_made(r#"{"alg":"HS512","typ":"JWT"}"#, &c, hs512);
        assert!(
            jwt_verify(&key, &other, 50).is_none(),
            "HS512 with the right key"
        );
        // No signature at all, whatever the header says.
        let unsigned = hand_made(r#"{"alg":"HS256","typ":"JWT"}"#, &c, |_| Vec::new());
        assert!(unsigned.ends_with('.'), "{unsigned}");
        assert!(jwt_verify(&key, &unsigned, 50).is_none(), "empty signature");
        let none = hand_made(r#"{"alg":"none","typ":"JWT"}"#, &c, |_| Vec::new());
        assert!(
            jwt_verify(&key, &none, 50).is_none(),
            "alg none, empty signature"
        );
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(check_password("short").is_err());
        assert!(check_password("long enough password").is_ok());
    }

    #[test]
    fn tokens_are_prefixed_and_hashed() {
        let (secret, hash) = new_token();
        assert!(secret.starts_with(TOKEN_PREFIX));
        assert_eq!(token_hash(&secret), hash);
        assert_eq!(hash.len(), 64);
    }
}
