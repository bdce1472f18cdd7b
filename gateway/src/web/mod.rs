//! The web side: HTTPS (axum on hyper-util, TLS by tokio-rustls with ring) serving the REST
//! API under `/api/v1` and the page's static files (docs/web.md).
//!
//! One table, [`routes`], lists every API route with its method, path, the roles that may
//! call it and a one-line summary; the router ([`router`]), the role check of
//! [`auth::layer`] and the OpenAPI document ([`openapi`]) are all built from it, so none
//! of them can disagree. Endpoints call [`crate::approvals`], [`crate::audit`] and
//! [`crate::db`] exactly as their CLI twins do. Not here: the WebSockets of the browser
//! terminal and live watch (added to the table when they exist), and the page itself
//! (`web-terminal/`).

pub mod api;
pub mod assets;
pub mod auth;
pub mod error;
pub mod events;
pub mod health;
mod listener;
pub mod openapi;
pub mod relay;
pub mod streams;
pub mod terminal;

use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::routing::{delete, get, post, MethodRouter};
use axum::Router;
use policy::Role;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::rustls;
use zeroize::Zeroizing;

use crate::config::HttpsConfig;
use crate::credentials::SESSION_KEY_FILE;
use crate::session::Context;
use crate::throttle::Throttle;
use error::MAX_BODY;

/// What every handler sees.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The shared part of [`AppState`].
pub struct Inner {
    /// The gateway's context (config, database, vault, live sessions, policy).
    pub ctx: Arc<Context>,
    /// `[https]`.
    pub https: HttpsConfig,
    /// Signs the session JWTs.
    pub key: Zeroizing<[u8; 32]>,
    /// Failed web logins.
    pub throttle: Arc<Throttle>,
    /// An argon2id hash of nothing, checked for unknown users so they take as long.
    pub dummy_hash: String,
    /// Turns true at shutdown; ends event streams.
    pub shutdown: watch::Receiver<bool>,
    /// WebSockets and event streams open per login (`[https] max_streams_per_login`).
    pub streams: streams::StreamLimits,
    /// Live watch of sessions other nodes hold, both ways.
    pub relay: relay::Relay,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// GET.
    Get,
    /// POST.
    Post,
    /// DELETE.
    Delete,
}

impl Verb {
    /// `GET`, `POST`, `DELETE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Delete => "DELETE",
        }
    }
}

/// One API route.
pub struct Route {
    /// Method.
    pub method: Verb,
    /// Full path with `{param}`s, e.g. `/api/v1/requests/{id}`.
    pub path: &'static str,
    /// Roles that may call it (narrowed further by ownership in the handler).
    pub roles: &'static [Role],
    /// Callable without logging in (login, the OpenAPI document).
    pub public: bool,
    /// One line for the OpenAPI document.
    pub summary: &'static str,
    /// Query parameters, for the OpenAPI document.
    pub query: &'static [&'static str],
    /// Whether it takes a JSON body.
    pub body: bool,
    /// The status it answers with when it works: 200, or 201 for something created, 204
    /// for nothing to say, 101 for a WebSocket. For the OpenAPI document.
    pub status: u16,
    /// The handler.
    pub handler: fn() -> MethodRouter<AppState>,
}

const ENGINEER: &[Role] = &[Role::Engineer];
const APPROVER: &[Role] = &[Role::Approver];
const AUDITOR: &[Role] = &[Role::Auditor];
const ADMIN: &[Role] = &[Role::Admin];
const ANYONE: &[Role] = &[Role::Engineer, Role::Approver, Role::Auditor, Role::Admin];
const DESK: &[Role] = &[Role::Engineer, Role::Approver, Role::Auditor];
const WATCHERS: &[Role] = &[Role::Approver, Role::Auditor];
const LIVE: &[Role] = &[Role::Engineer, Role::Approver];

macro_rules! route {
    ($verb:ident $path:literal, $roles:expr, $summary:literal, $handler:expr $(, query = [$($q:literal),*])? $(, body = $body:literal)? $(, public = $public:literal)? $(, status = $status:literal)?) => {
        Route {
            method: Verb::$verb,
            path: concat!("/api/v1", $path),
            roles: $roles,
            public: false $(|| $public)?,
            summary: $summary,
            query: &[$($($q),*)?],
            body: false $(|| $body)?,
            // 200 unless the route says otherwise.
            status: 200 $(- 200 + $status)?,
            handler: || match Verb::$verb {
                Verb::Get => get($handler),
                Verb::Post => post($handler),
                Verb::Delete => delete($handler),
            },
        }
    };
}

/// Every API route: the one list the router, the role checks and the OpenAPI document are
/// built from.
pub fn routes() -> Vec<Route> {
    use api::{
        accounts, admin, audit_log, breakglass, documents, grants, inspections, reports,
        requestable, requests, sessions,
    };
    vec![
        route!(Post "/login", &[], "Log in with password (and TOTP); sets the session cookie", auth::login, body = true, public = true),
        route!(Post "/logout", ANYONE, "End this web login on every node", auth::logout, status = 204),
        route!(Get "/me", ANYONE, "Who is logged in, and the CSRF token", auth::me),
        route!(Get "/openapi.json", &[], "This document", openapi::document, public = true),
        route!(Get "/requests", DESK, "Requests (an engineer sees their own), newest first; paged with limit and cursor (X-Total-Count, X-Next-Cursor)", requests::list, query = ["state", "engineer", "level", "incident", "target", "from", "to", "limit", "cursor", "sort", "order"]),
        route!(Post "/requests", ENGINEER, "File a request for access", requests::file, body = true, status = 201),
        route!(Get "/requestable", ENGINEER, "Targets (names, descriptions) and groups the policy lets the caller request; never addresses", requestable::list),
        route!(Get "/requests/{id}", DESK, "One request with its reviews and grants", requests::show),
        route!(Post "/requests/{id}/withdraw", ENGINEER, "Withdraw one's own pending request", requests::withdraw),
        route!(Post "/requests/{id}/approve", APPROVER, "Approve a request (optionally shortening it)", requests::approve, body = true),
        route!(Post "/requests/{id}/deny", APPROVER, "Deny a request", requests::deny, body = true),
        route!(Get "/grants", DESK, "Grants (an engineer sees their own), newest first; paged with limit and cursor (X-Total-Count, X-Next-Cursor)", grants::list, query = ["live", "engineer", "target", "limit", "cursor", "sort", "order"]),
        route!(Post "/grants/{id}/revoke", APPROVER, "Revoke a grant; live sessions under it end", grants::revoke),
        route!(Get "/sessions", WATCHERS, "Sessions, filtered, newest first; paged with limit and cursor (X-Total-Count, X-Next-Cursor)", sessions::list, query = ["engineer", "target", "from", "to", "grant", "incident", "level", "live", "limit", "cursor", "sort", "order"]),
        route!(Post "/sessions/{id}/terminate", APPROVER, "End a live session on whichever node holds it", sessions::terminate),
        route!(Get "/sessions/{id}/recording", WATCHERS, "The session's .mwrec bytes (encrypted as stored, the data key in X-Menwei-Recording-Key), typed secrets as •••• unless an auditor unmasks with a reason (audited as a replay, a decryption, and recording.unmask)", sessions::recording, query = ["unmask", "reason"]),
        route!(Get "/sessions/{id}/commands", WATCHERS, "The session's command list, as the player shows it (audited as a replay)", sessions::commands),
        route!(Get "/breakglass", APPROVER, "Emergency grants awaiting sign-off", breakglass::list),
        route!(Post "/breakglass/{id}/signoff", APPROVER, "Sign off an emergency grant", breakglass::signoff, body = true),
        route!(Get "/audit", AUDITOR, "Audit log entries, filtered, oldest first; at most limit (default and cap 5000), the next page with cursor (X-Total-Count, X-Next-Cursor)", audit_log::list, query = ["since", "until", "actor", "action", "target", "session", "limit", "cursor", "sort", "order"]),
        route!(Get "/audit/export", AUDITOR, "The audit log as CSV or JSON lines", audit_log::export, query = ["format", "since"]),
        route!(Get "/audit/verify", AUDITOR, "Check the audit log's hash chain", audit_log::verify),
        route!(Get "/reports", AUDITOR, "The service report of a week, month, quarter or year", reports::report, query = ["period", "at", "format"]),
        route!(Get "/reports/fault/{id}", WATCHERS, "《故障处理报告》 of an incident number: requests, approvals, response and resolution against the tender's limits, sessions, commands (masked input masked), break-glass; json, html (printable) or pdf, lang zh or en", documents::fault, query = ["format", "lang"]),
        route!(Get "/reports/service", WATCHERS, "《服务报告》 of a month, quarter or year (period=2026-11, 2026-Q4, 2026): per level, compliance %, break-glass, usage, refusals, transfers, audit chain; json, csv, html or pdf", documents::service, query = ["period", "format", "lang"]),
        route!(Get "/reports/overview", WATCHERS, "The console's dashboard: the service report's figures for from..to (YYYY-MM-DD, at most 92 days; both left out: the 14 days to today in the reports' calendar), today, and each day", documents::overview, query = ["from", "to"]),
        route!(Get "/reports/daily", WATCHERS, "《监控日志》 of a day (date=YYYY-MM-DD): sessions, refusals, alerts, failed logins, nodes, storage; json, csv, html or pdf", documents::daily, query = ["date", "format", "lang"]),
        route!(Get "/inspections", WATCHERS, "Inspection runbooks (巡检): version, schedule, approvals of this version, latest runs", inspections::list),
        route!(Get "/inspections/{name}", WATCHERS, "One inspection runbook: targets, commands, thresholds, approvals of its current version, its runs", inspections::show),
        route!(Post "/inspections/{name}/approve", APPROVER, "Approve the runbook's current version (body: comment); a changed runbook needs approval again", inspections::approve, body = true),
        route!(Post "/inspections/{name}/run", WATCHERS, "Ask serve to run the runbook now; an unapproved or changed version is refused when it runs", inspections::run, status = 202),
        route!(Get "/inspections/{name}/runs/{id}/report", WATCHERS, "《服务器巡检报告》 of a run: findings against thresholds per target; json, csv, html (printable) or pdf, lang zh or en", inspections::report, query = ["format", "lang"]),
        route!(Get "/users", ADMIN, "Accounts, their role, keys and state (removed ones too with all=true)", admin::users, query = ["all"]),
        route!(Post "/users/{name}/disable", ADMIN, "Disable an account (body: reason); its web logins, API tokens and live sessions end", accounts::disable, body = true),
        route!(Post "/users/{name}/enable", ADMIN, "Let a disabled account log in again", accounts::enable),
        route!(Delete "/users/{name}", ADMIN, "Remove an account, keeping its history and name (body: reason); everything it has open ends", accounts::remove, body = true),
        route!(Post "/users/{name}/role", ADMIN, "Give an account another role (body: role, reason); its web logins, API tokens and live sessions end", accounts::set_role, body = true),
        route!(Post "/users/{name}/logout", ADMIN, "End an account's web logins and live sessions on every node", accounts::logout),
        route!(Get "/users/{name}/keys", ADMIN, "An account's SSH keys: fingerprint, comment, when added", accounts::keys),
        route!(Delete "/users/{name}/keys/{fingerprint}", ADMIN, "Remove an account's SSH key (fingerprint SHA256:…, URL-encoded); its web logins and live sessions end", accounts::key_remove),
        route!(Get "/nodes", ADMIN, "The nodes sharing the database: state, address, version, heartbeat, live sessions", admin::nodes),
        route!(Get "/targets", ADMIN, "Targets and their pinned host keys", admin::targets),
        route!(Get "/policy", ADMIN, "The policy in force", admin::policy),
        route!(Get "/events", LIVE, "Server-sent events: request, decision, session, grant", events::stream),
        route!(Get "/terminal", ENGINEER, "The browser terminal to a granted target (WebSocket)", terminal::open, query = ["target", "cols", "rows"], status = 101),
        route!(Get "/sessions/{id}/watch", WATCHERS, "Watch a live session read-only (WebSocket)", terminal::watch_session, status = 101),
    ]
}

/// Where the API lives; every path under it answers in the API's JSON shape.
pub const API_PREFIX: &str = "/api/v1";

/// The whole application: the API routes with their middleware, then the page's files.
///
/// The API is nested under [`API_PREFIX`] with its own fallback, so an unknown API path is a
/// JSON 404 `not_found` rather than the page's; a known path with a method the table does not
/// list gets 405 `method_not_allowed` from [`auth::layer`], which wraps every route;
/// [`error::json_errors`] catches whatever error still is not JSON.
pub fn router(state: AppState) -> Router {
    let mut api: Router<AppState> = Router::new();
    for r in routes() {
        let path = r.path.strip_prefix(API_PREFIX).unwrap_or(r.path);
        api = api.route(path, (r.handler)());
    }
    let api = api
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::layer,
        ))
        .fallback(error::no_such_endpoint)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(axum::middleware::map_response(no_store));
    Router::new()
        .nest(API_PREFIX, api)
        // Probes for load balancers, without login (outside the API and its table).
        .route("/healthz", get(health::alive))
        .route("/readyz", get(health::ready))
        // Node to node, outside the API and its table: no user calls it, a node's mark
        // (not a login) is its credential (relay.rs).
        .route(relay::FEED_PATH, get(relay::feed))
        .fallback(assets::serve)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn no_store(mut resp: axum::response::Response) -> axum::response::Response {
    resp.headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

async fn security_headers(mut resp: axum::response::Response) -> axum::response::Response {
    let h = resp.headers_mut();
    for (k, v) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000",
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    resp
}

/// Loads the certificate, key and session key named by `[https]`.
fn tls_config(https: &HttpsConfig) -> anyhow::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&https.cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot load the HTTPS certificate from {}: {e}; name one in [https] cert",
                https.cert.display()
            )
        })?;
    if certs.is_empty() {
        anyhow::bail!("{} holds no certificate", https.cert.display());
    }
    crate::vault::check_private(&https.key).map_err(|e| {
        anyhow::anyhow!(
            "cannot load the HTTPS key from {}: {e}",
            https.key.display()
        )
    })?;
    let key = PrivateKeyDer::from_pem_file(&https.key).map_err(|e| {
        anyhow::anyhow!(
            "cannot load the HTTPS key from {}: {e}; name one in [https] key",
            https.key.display()
        )
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("cannot set up TLS")?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("the HTTPS certificate and key do not match")?;
    // HTTP/1.1 only: an idle HTTP/2 connection would escape the listener's timeouts
    // (`listener::accept_loop`).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The key signing web logins: `SESSION_KEY_FILE` next to the configuration, created (0600)
/// when missing so installations older than the web side start.
fn session_key(ctx: &Context) -> anyhow::Result<Zeroizing<[u8; 32]>> {
    let path = ctx.config.dir.join(SESSION_KEY_FILE);
    if !path.exists() {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let key: Zeroizing<[u8; 32]> = Zeroizing::new(rand::random());
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        f.write_all(key.as_slice())
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    crate::vault::check_private(&path)
        .and_then(|()| crate::vault::read_key_file(&path))
        .map_err(|e| anyhow::anyhow!("cannot load the web session key {}: {e}", path.display()))
}

/// Checks `[https]` and the files it names before anything listens: the certificate, its
/// key and the session key. `serve` calls it too; `menwei serve` calls it first to fail fast.
pub fn prepare(ctx: &Context) -> anyhow::Result<Option<HttpsConfig>> {
    let Some(https) = ctx.config.https.clone() else {
        return Ok(None);
    };
    tls_config(&https)?;
    session_key(ctx)?;
    Ok(Some(https))
}

/// Serves HTTPS on `listener` until `shutdown` turns true. Needs `[https]` in the
/// configuration.
pub async fn serve(
    ctx: Arc<Context>,
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let https = ctx
        .config
        .https
        .clone()
        .context("the configuration has no [https] table")?;
    let tls = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(&https)?));
    let key = session_key(&ctx)?;
    let dummy_hash =
        tokio::task::spawn_blocking(|| crate::credentials::hash_password("no such user here"))
            .await
            .context("cannot start the web server")?
            .map_err(|e| anyhow::anyhow!(e))?;
    let throttle = Arc::new(Throttle::new(
        ctx.config.ssh.max_auth_failures,
        ctx.config.ssh.auth_failure_window,
    ));
    tokio::spawn(crate::throttle::share(
        throttle.clone(),
        ctx.db.clone(),
        ctx.config.node_name.clone(),
        "web",
        shutdown.clone(),
    ));
    let relay = relay::Relay::new(&https, &key)?;
    let state = AppState(Arc::new(Inner {
        streams: streams::StreamLimits::new(https.max_streams_per_login),
        relay,
        ctx: ctx.clone(),
        https: https.clone(),
        key,
        throttle,
        dummy_hash,
        shutdown: shutdown.clone(),
    }));
    let app = router(state);
    listener::accept_loop(ctx, https, listener, tls, app, shutdown).await;
    Ok(())
}
