//! Starting and ending a web login: `POST /login` (password, then TOTP for the roles that
//! need it; failures throttled per user and client address, [`client_ip`]), `POST /logout`
//! (ends the login on every node) and `GET /me`. Not how later requests prove the login
//! (`caller.rs`).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::cookies::{self, csrf_cookie, session_cookie};
use super::jwt::{jwt_sign, Claims};
use super::{now_secs, Caller, Via};
use crate::credentials::check_password_bounded;
use crate::db::{self, WebSession};
use crate::web::error::{ApiCode, ApiError, ApiResult, Body};
use crate::web::AppState;

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

/// `POST /login` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    user: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

/// The one log line (and count) of a refused web login: the name as shown (controls
/// removed, truncated), why, from where, on which node. Never the password or the code.
fn web_login_refused(
    ctx: &crate::session::Context,
    shown: &str,
    client: &str,
    reason: &'static str,
) {
    crate::metrics::login("web", false, reason);
    tracing::warn!(
        node = %ctx.config.node_name,
        user = shown,
        client,
        reason,
        "web login refused: {reason}"
    );
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
    // The failure is counted before the password is checked (the check is the costly
    // part), and given back on success: a burst cannot outrun the limit.
    if !state.throttle.reserve(&shown, ip) {
        web_login_refused(ctx, &shown, &client, "throttled");
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
            web_login_refused(&state.ctx, &shown, &client, reason);
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
    // Bounded like an SSH login: a database that does not answer is a 503
    // (`database_unavailable`) within seconds, never a wrong password.
    let looked_up = db::within(
        db::ANSWER_WAIT,
        "checking a login",
        crate::metrics::db("user", ctx.db.user(&body.user)),
    )
    .await;
    let looked_up = match looked_up {
        Ok(u) => u,
        Err(e) => {
            // Not the caller's failure: nothing counts against the throttle, and the refusal
            // is audited once the database is back.
            state.throttle.forgive(&shown, ip);
            ctx.audit_later(
                &shown,
                "web.login.failure",
                "",
                json!({"reason": policy::codes::DATABASE_UNAVAILABLE, "client": client}),
            );
            return Err(e.into());
        }
    };
    let user = match looked_up {
        Some(u) if !u.disabled => Some(u),
        _ => None,
    };
    let hash = match &user {
        Some(u) => {
            db::within(
                db::ANSWER_WAIT,
                "checking a login",
                crate::metrics::db("password_hash", ctx.db.password_hash(&u.name)),
            )
            .await?
        }
        None => None,
    };
    // Always run argon2 once, so an unknown user costs what a known one does.
    let password = Zeroizing::new(body.password);
    let against = hash.clone().unwrap_or_else(|| state.dummy_hash.clone());
    let ok = check_password_bounded(password, against).await;
    let (Some(user), Some(_), true) = (user.clone(), hash, ok) else {
        // A wrong password for an account that exists counts towards its alert.
        if let Some(u) = &user {
            crate::login_alert::failed(ctx, &u.name, ip, "web").await;
        }
        return Err(fail("wrong user name or password").await);
    };
    let second_factor = crate::totp::required(&ctx.policy.current(), user.role)
        || state.https.totp_roles.contains(&user.role);
    if second_factor {
        let code = body.totp.unwrap_or_default();
        let secret = db::within(
            db::ANSWER_WAIT,
            "reading a TOTP secret",
            ctx.db.totp_secret(&user.name),
        );
        let Some((sealed, _)) = secret.await? else {
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
            Some(step) => match ctx.db.totp_use(&user.name, step).await? {
                true => None,
                false => Some("code already used"),
            },
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
            crate::login_alert::failed(ctx, &user.name, ip, "web").await;
            return Err(fail("wrong TOTP code").await);
        }
    }
    // Logged in: the failure reserved above is given back.
    state.throttle.forgive(&shown, ip);
    crate::metrics::login("web", true, "ok");
    let now = crate::time::now_ms();
    let ttl_ms = crate::time::duration_ms(state.https.session_ttl.min(state.https.max_login));
    let session = WebSession {
        jti: hex::encode(rand::random::<[u8; 16]>()),
        user_name: user.name.clone(),
        csrf: B64.encode(rand::random::<[u8; 24]>()),
        created_at: now,
        expires_at: now.saturating_add(ttl_ms),
        revoked_at: None,
    };
    db::within(
        db::ANSWER_WAIT,
        "storing a web login",
        ctx.db.web_session_add(&session, Some(&peer.to_string())),
    )
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
    for c in cookies::cleared() {
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
