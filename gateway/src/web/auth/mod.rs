//! Who is calling: web logins (argon2id password, TOTP for the roles that need it, a short
//! HS256 JWT (the `jsonwebtoken` crate) in an HttpOnly cookie whose `jti` lives in the
//! database so logout ends it on every node, CSRF double-submit on every state change) and
//! API tokens for scripts (`Authorization: Bearer mwt_…`, stored as SHA-256). The
//! [`fn@layer`] middleware resolves the caller of every `/api/v1` route, checks the route's
//! roles from [`super::routes`], and renews the cookie while it is used. Failed logins are throttled per user and client
//! address ([`client_ip`]: the TCP peer, `X-Forwarded-For` only from trusted proxies).
//! Not what any endpoint does.
//!
//! By concept: `caller.rs` who is calling (the [`Caller`] extractor, resolved from a bearer
//! token or the session cookie); `layer.rs` the middleware that enforces it on every
//! route; `jwt.rs` the session JWT; `csrf.rs` the double-submit check; `cookies.rs` the
//! cookies' exact shape; `login.rs` the login, logout and `me` handlers; `recheck.rs` the
//! second look, every few seconds, that keeps a long-lived stream to a login still live. Password hashes
//! and API token secrets themselves are [`crate::credentials`]'s.

mod caller;
mod cookies;
mod csrf;
mod jwt;
mod layer;
mod login;
mod recheck;

pub use caller::{Caller, Via};
pub use layer::layer;
pub use login::{client_ip, login, logout, me, Login};
pub use recheck::{login_ended, Ended};

/// The session cookie (the JWT).
pub const SESSION_COOKIE: &str = "__Host-menwei_session";
/// The readable cookie holding the CSRF token.
pub const CSRF_COOKIE: &str = "__Host-menwei_csrf";
/// The header every state change of a cookie login carries.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The current time in unix seconds, as JWTs and TOTP count it.
fn now_secs() -> i64 {
    crate::time::now_ms() / 1000
}
