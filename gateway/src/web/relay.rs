//! Live watch across nodes: an approver or auditor on any node watches a session that
//! another node holds. Not the watch itself ([`super::terminal::watch_session`], which
//! checks the role, takes the stream slot and audits the watch on the node the watcher
//! reached), nor terminate (a `session_stops` row the holding node's enforcer reads within
//! one tick, [`crate::session::enforcer`]).
//!
//! Design: the node the watcher reached asks the holding node for the session's feed over
//! HTTPS, at the `https://` address that node writes into the `nodes` table, and relays it
//! to the browser's WebSocket. Why this and not the database: a feed is a stream of terminal
//! bytes, and PostgreSQL's `NOTIFY` is a signal (8,000-byte payloads, one queue shared by the
//! whole cluster, delivered at commit): fine for "end this session", wrong for output, and
//! SQLite, the single-node database, has none. Why not forward the watcher's own cookie or
//! token: a node would then hand user credentials to another host; a node credential
//! says only "node A, for watcher W, asks for session S's feed until T".
//!
//! Authenticated both ways with the cluster's own keys, nothing new to distribute:
//! - the holding node proves itself with the HTTPS certificate every node already shares (the
//!   balancer passes TLS through, so browsers see the same one from every node): the asking
//!   node accepts exactly that certificate, byte for byte, and no other (no CA, no name:
//!   node addresses are internal and may be bare IPs);
//! - the asking node proves itself with an HMAC-SHA256 over the session, watcher, asking
//!   node and expiry, under a key derived from the web session key every node already shares
//!   (logins hold on every node because of it). The holding node refuses a wrong or expired
//!   mark (401), a watcher who is no approver or auditor, disabled or removed (403), and a
//!   session it does not hold (404).
//!
//! Bounded: each watcher holds at most `[https] max_streams_per_login` relays per asking
//! node at the holding node, on top of the slot its watch holds where it was opened; a
//! relay never slows the session (a watcher too slow loses frames, told so); frames over
//! [`MAX_FRAME`] end the relay; a relay silent past [`SILENT_LIMIT`] (the holding node
//! sends a keep-alive every [`KEEPALIVE`]) ends the watch. Fail closed: whatever goes wrong
//! ends the watch with "the session has ended" or a clear refusal, never a target address.
//!
//! The feed's body: frames of one kind byte, a 4-byte big-endian length and that many bytes;
//! the end of the body is the end of the session.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::broadcast;
use tokio_rustls::rustls;
use zeroize::Zeroizing;

use super::error::{ApiCode, ApiError, ApiResult, Id};
use super::AppState;
use crate::db::{NodeRow, Session};
use crate::session::tap::Frame;

/// The holding node's path for a session's feed; outside `/api/v1` because no user calls it.
pub const FEED_PATH: &str = "/cluster/v1/sessions/{id}/feed";
/// A node mark's life: long enough for one request, too short to keep.
const MARK_LIFE_MS: i64 = 30_000;
/// How long the asking node waits for the holding node's answer.
const ANSWER_WAIT: Duration = Duration::from_secs(5);
/// The holding node sends a keep-alive this often when the session is quiet.
pub const KEEPALIVE: Duration = Duration::from_secs(5);
/// A relay silent this long is lost.
pub const SILENT_LIMIT: Duration = Duration::from_secs(20);
/// The largest frame a relay accepts.
pub const MAX_FRAME: usize = 1 << 20;

const H_NODE: &str = "x-menwei-node";
const H_WATCHER: &str = "x-menwei-watcher";
const H_EXPIRES: &str = "x-menwei-expires";
const H_MARK: &str = "x-menwei-node-mark";

const K_OUTPUT: u8 = 0;
const K_RESIZE: u8 = 1;
const K_NOTICE: u8 = 2;
const K_LAGGED: u8 = 3;
const K_KEEPALIVE: u8 = 4;

/// What one read of a feed gives, local or relayed.
pub enum Next {
    /// A frame of the session.
    Frame(Frame),
    /// Frames were dropped: the watcher was too slow.
    Lagged,
    /// The session ended (or the relay was lost).
    Closed,
}

/// A session's feed as a watch reads it: the local tap, or a relay from the holding node.
pub enum Feed {
    /// The session is on this node.
    Local(broadcast::Receiver<Frame>),
    /// The session is on another node.
    Remote(Box<RemoteFeed>),
}

impl Feed {
    /// The next frame, however far away the session is.
    pub async fn next(&mut self) -> Next {
        match self {
            Feed::Local(rx) => match rx.recv().await {
                Ok(f) => Next::Frame(f),
                Err(broadcast::error::RecvError::Lagged(_)) => Next::Lagged,
                Err(broadcast::error::RecvError::Closed) => Next::Closed,
            },
            Feed::Remote(r) => r.next().await,
        }
    }
}

/// This node's side of relays: the client that asks other nodes and the key that marks
/// its asks; the slots other nodes' relays hold here.
pub struct Relay {
    client: reqwest::Client,
    key: Zeroizing<[u8; 32]>,
    /// Relays this node serves, per asking node and watcher.
    slots: super::streams::StreamLimits,
}

impl Relay {
    /// The relay side of a node whose HTTPS certificate is `cert_pem_path` and whose web
    /// session key is `session_key`.
    pub fn new(
        https: &crate::config::HttpsConfig,
        session_key: &[u8; 32],
    ) -> anyhow::Result<Relay> {
        use anyhow::Context as _;
        use rustls::pki_types::{pem::PemObject as _, CertificateDer};
        let cert = CertificateDer::pem_file_iter(&https.cert)
            .ok()
            .and_then(|mut i| i.next())
            .and_then(Result::ok)
            .with_context(|| format!("{} holds no certificate", https.cert.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("cannot set up TLS for node-to-node")?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ClusterCert { cert, provider }))
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(ANSWER_WAIT)
            .build()
            .context("cannot set up the node-to-node client")?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(session_key)
            .context("cannot derive the node-to-node key")?;
        mac.update(b"menwei node-to-node v1");
        let key = Zeroizing::new(mac.finalize().into_bytes().into());
        Ok(Relay {
            client,
            key,
            slots: super::streams::StreamLimits::new(https.max_streams_per_login),
        })
    }

    fn mark(&self, session: &str, watcher: &str, from: &str, expires: i64) -> Option<String> {
        mark_with(&self.key, session, watcher, from, expires)
    }

    fn check(&self, session: &str, watcher: &str, from: &str, expires: i64, mark: &str) -> bool {
        check_with(&self.key, session, watcher, from, expires, mark)
    }
}

/// The mark of a node's ask: HMAC-SHA256 under the node-to-node key, hex.
fn mark_with(
    key: &[u8; 32],
    session: &str,
    watcher: &str,
    from: &str,
    expires: i64,
) -> Option<String> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    mac.update(format!("watch\n{session}\n{watcher}\n{from}\n{expires}").as_bytes());
    Some(hex::encode(mac.finalize().into_bytes()))
}

/// Whether `mark` is the mark of this ask (compared in constant time).
fn check_with(
    key: &[u8; 32],
    session: &str,
    watcher: &str,
    from: &str,
    expires: i64,
    mark: &str,
) -> bool {
    let Ok(given) = hex::decode(mark) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return false;
    };
    mac.update(format!("watch\n{session}\n{watcher}\n{from}\n{expires}").as_bytes());
    mac.verify_slice(&given).is_ok()
}

/// Accepts exactly the cluster's certificate, checking the handshake's signature with it.
#[derive(Debug)]
struct ClusterCert {
    cert: rustls::pki_types::CertificateDer<'static>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for ClusterCert {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the node does not present the cluster's certificate".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The `HOST:PORT` of the `https://` address a node wrote into the `nodes` table, if it
/// serves HTTPS at an address another node can reach (not 0.0.0.0 or `::`, which would
/// be this node itself).
fn https_of(node: &NodeRow) -> Option<std::net::SocketAddr> {
    node.address
        .split_whitespace()
        .find_map(|a| a.strip_prefix("https://"))
        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        .filter(|a| !a.ip().is_unspecified())
}

/// A relayed feed, read frame by frame.
pub struct RemoteFeed {
    response: reqwest::Response,
    buf: BytesMut,
}

impl RemoteFeed {
    async fn next(&mut self) -> Next {
        loop {
            if self.buf.len() >= 5 {
                let kind = self.buf.first().copied().unwrap_or(u8::MAX);
                let len = self
                    .buf
                    .get(1..5)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(u32::from_be_bytes)
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(usize::MAX);
                if len > MAX_FRAME {
                    tracing::warn!(
                        "a relayed watch sent a frame over {MAX_FRAME} bytes; ending it"
                    );
                    return Next::Closed;
                }
                if self.buf.len() >= 5 + len {
                    self.buf.advance(5);
                    let data = self.buf.split_to(len).freeze();
                    match decode(kind, data) {
                        Some(Some(next)) => return next,
                        Some(None) => continue,
                        None => {
                            tracing::warn!("a relayed watch sent an unknown frame; ending it");
                            return Next::Closed;
                        }
                    }
                }
            }
            match tokio::time::timeout(SILENT_LIMIT, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.buf.extend_from_slice(&chunk),
                Ok(Ok(None)) => return Next::Closed,
                Ok(Err(e)) => {
                    tracing::warn!("a relayed watch broke: {e}");
                    return Next::Closed;
                }
                Err(_) => {
                    tracing::warn!("a relayed watch fell silent; ending it");
                    return Next::Closed;
                }
            }
        }
    }
}

/// One frame's meaning: `None` for an unknown kind, `Some(None)` for a keep-alive.
fn decode(kind: u8, data: Bytes) -> Option<Option<Next>> {
    Some(Some(match kind {
        K_OUTPUT => Next::Frame(Frame::Output(data)),
        K_RESIZE => {
            let cols = data.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok())?;
            let rows = data.get(4..8).and_then(|b| <[u8; 4]>::try_from(b).ok())?;
            Next::Frame(Frame::Resize {
                cols: u32::from_be_bytes(cols),
                rows: u32::from_be_bytes(rows),
            })
        }
        K_NOTICE => Next::Frame(Frame::Notice(String::from_utf8_lossy(&data).into_owned())),
        K_LAGGED => Next::Lagged,
        K_KEEPALIVE => return Some(None),
        _ => return None,
    }))
}

fn encode(kind: u8, data: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + data.len());
    b.put_u8(kind);
    b.put_u32(u32::try_from(data.len()).unwrap_or(u32::MAX));
    b.put_slice(data);
    b.freeze()
}

fn encode_frame(f: &Frame) -> Bytes {
    match f {
        Frame::Output(data) => encode(K_OUTPUT, data),
        Frame::Resize { cols, rows } => {
            encode(K_RESIZE, &[cols.to_be_bytes(), rows.to_be_bytes()].concat())
        }
        Frame::Notice(text) => encode(K_NOTICE, text.as_bytes()),
    }
}

/// Asks the node holding `session` for its feed, for `watcher`. The refusals a watcher may
/// see name the node, never a target.
pub async fn open(state: &AppState, session: &Session, watcher: &str) -> ApiResult<Feed> {
    let ctx = &state.ctx;
    let nodes = ctx.db.nodes().await?;
    let now = crate::time::now_ms();
    let dead_after = crate::time::duration_ms(ctx.config.cluster.dead_after);
    let holder = nodes.iter().find(|n| n.name == session.node);
    let Some(holder) = holder.filter(|n| {
        n.stopped_at.is_none() && n.lost_at.is_none() && n.heartbeat_at >= now - dead_after
    }) else {
        return Err(ApiError::conflict(format!(
            "session {} is held by node {}, which is not answering",
            session.id, session.node
        )));
    };
    let Some(addr) = https_of(holder) else {
        return Err(ApiError::conflict(format!(
            "session {} is held by node {}, which gives no HTTPS address other nodes can reach ([cluster] https_address)",
            session.id, session.node
        )));
    };
    let expires = now.saturating_add(MARK_LIFE_MS);
    let from = &ctx.config.node_name;
    let mark = state
        .relay
        .mark(&session.id, watcher, from, expires)
        .ok_or_else(|| ApiError::unavailable("cannot mark a node-to-node request"))?;
    let url = format!("https://{addr}{}", FEED_PATH.replace("{id}", &session.id));
    let ask = state
        .relay
        .client
        .get(url)
        .header(H_NODE, from.as_str())
        .header(H_WATCHER, watcher)
        .header(H_EXPIRES, expires.to_string())
        .header(H_MARK, mark)
        .send();
    let unreachable = |why: String| {
        tracing::warn!(session = %session.id, holder = %session.node, "cannot relay the watch: {why}");
        ApiError::new(
            ApiCode::Unavailable,
            format!(
                "session {} is held by node {}, which cannot be reached now; try again",
                session.id, session.node
            ),
        )
    };
    let response = match tokio::time::timeout(ANSWER_WAIT, ask).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(unreachable(e.to_string())),
        Err(_) => return Err(unreachable("no answer".into())),
    };
    match response.status().as_u16() {
        200 => Ok(Feed::Remote(Box::new(RemoteFeed {
            response,
            buf: BytesMut::new(),
        }))),
        404 => Err(ApiError::conflict(format!(
            "session {} has ended; replay its recording instead",
            session.id
        ))),
        429 => Err(ApiError::new(
            ApiCode::TooManyStreams,
            "too many watches of yours are open on that session's node; close one",
        )),
        403 => Err(ApiError::forbidden(
            "the node holding the session refused this watcher",
        )),
        other => Err(unreachable(format!("it answered {other}"))),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `GET /cluster/v1/sessions/{id}/feed`: the holding node's side. Answers only a request
/// marked by a node of this cluster, for a watcher who may watch, of a session held here.
pub async fn feed(
    State(state): State<AppState>,
    headers: HeaderMap,
    Id(id): Id,
) -> ApiResult<Response> {
    let unmarked = || ApiError::unauthenticated("this path is for the cluster's nodes only");
    let from = header(&headers, H_NODE).ok_or_else(unmarked)?;
    let watcher = header(&headers, H_WATCHER).ok_or_else(unmarked)?;
    let expires: i64 = header(&headers, H_EXPIRES)
        .and_then(|e| e.parse().ok())
        .ok_or_else(unmarked)?;
    let mark = header(&headers, H_MARK).ok_or_else(unmarked)?;
    let now = crate::time::now_ms();
    if !state.relay.check(&id, watcher, from, expires, mark)
        || expires < now
        || expires > now + MARK_LIFE_MS * 2
    {
        tracing::warn!(session = %id, from = %from, "a node-to-node request with a wrong or expired mark was refused");
        return Err(unmarked());
    }
    // The asking node checked the role; the holding node checks it again, from the database.
    let may_watch = ctx_user_may_watch(&state, watcher).await?;
    if !may_watch {
        return Err(ApiError::forbidden(format!(
            "{watcher} may not watch sessions"
        )));
    }
    let Some(tap) = state.ctx.sessions.tap(&id) else {
        return Err(ApiError::not_found(format!(
            "session {id} is not live here"
        )));
    };
    let Some(slot) = state.relay.slots.take(format!("relay:{from}\n{watcher}")) else {
        state
            .ctx
            .refusals
            .count(crate::refusals::Limit::HttpsStreams);
        return Err(ApiError::new(
            ApiCode::TooManyStreams,
            "too many relayed watches for this watcher",
        ));
    };
    tracing::info!(session = %id, from = %from, watcher = %watcher, "relaying a watch to another node");
    let (size, recent, frames) = tap.join();
    // Only the session holds the feed open: when it ends, the relay ends.
    drop(tap);
    let mut first = Vec::new();
    if let Some((cols, rows)) = size {
        first.push(encode_frame(&Frame::Resize { cols, rows }));
    }
    if !recent.is_empty() {
        first.push(encode(K_OUTPUT, &recent));
    }
    let shutdown = state.shutdown.clone();
    let stream = futures::stream::unfold(
        (first.into_iter(), frames, shutdown, slot),
        |(mut first, mut frames, mut shutdown, slot)| async move {
            if let Some(b) = first.next() {
                return Some((
                    Ok::<_, std::convert::Infallible>(b),
                    (first, frames, shutdown, slot),
                ));
            }
            let b = tokio::select! {
                f = frames.recv() => match f {
                    Ok(f) => encode_frame(&f),
                    Err(broadcast::error::RecvError::Lagged(_)) => encode(K_LAGGED, &[]),
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                () = tokio::time::sleep(KEEPALIVE) => encode(K_KEEPALIVE, &[]),
                _ = shutdown.wait_for(|s| *s) => return None,
            };
            Some((Ok(b), (first, frames, shutdown, slot)))
        },
    );
    Response::builder()
        .header("content-type", "application/octet-stream")
        .body(Body::from_stream(stream))
        .map_err(ApiError::unavailable)
}

/// Whether `name` is an enabled approver or auditor.
async fn ctx_user_may_watch(state: &AppState, name: &str) -> ApiResult<bool> {
    let user = state.ctx.db.user(name).await?;
    Ok(user.is_some_and(|u| {
        !u.disabled
            && u.removed_at.is_none()
            && matches!(u.role, policy::Role::Approver | policy::Role::Auditor)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_back_as_they_went() {
        let mut all = BytesMut::new();
        for f in [
            Frame::Output(Bytes::from_static(b"hello\x00\xff")),
            Frame::Resize {
                cols: 120,
                rows: 40,
            },
            Frame::Notice("ends in 5 minutes".into()),
        ] {
            all.extend_from_slice(&encode_frame(&f));
        }
        assert_eq!(all[0], K_OUTPUT);
        let mut buf = all.freeze();
        let mut seen = Vec::new();
        while buf.len() >= 5 {
            let kind = buf[0];
            let len = u32::from_be_bytes(buf[1..5].try_into().unwrap()) as usize;
            let data = buf.slice(5..5 + len);
            buf.advance(5 + len);
            seen.push(match decode(kind, data).unwrap().unwrap() {
                Next::Frame(Frame::Output(d)) => format!("out {d:?}"),
                Next::Frame(Frame::Resize { cols, rows }) => format!("size {cols}x{rows}"),
                Next::Frame(Frame::Notice(t)) => format!("notice {t}"),
                Next::Lagged => "lagged".into(),
                Next::Closed => "closed".into(),
            });
        }
        assert_eq!(
            seen,
            [
                "out b\"hello\\0\\xff\"",
                "size 120x40",
                "notice ends in 5 minutes"
            ]
        );
        assert!(decode(K_KEEPALIVE, Bytes::new()).unwrap().is_none());
        assert!(decode(99, Bytes::new()).is_none());
    }

    #[test]
    fn a_mark_holds_only_for_what_it_marks_and_under_the_clusters_key() {
        let key = [7u8; 32];
        let m = mark_with(&key, "s-1", "bob", "n1", 1000).unwrap();
        assert!(check_with(&key, "s-1", "bob", "n1", 1000, &m));
        assert!(!check_with(&key, "s-2", "bob", "n1", 1000, &m));
        assert!(!check_with(&key, "s-1", "eve", "n1", 1000, &m));
        assert!(!check_with(&key, "s-1", "bob", "n2", 1000, &m));
        assert!(!check_with(&key, "s-1", "bob", "n1", 1001, &m));
        assert!(!check_with(&[8u8; 32], "s-1", "bob", "n1", 1000, &m));
        assert!(!check_with(&key, "s-1", "bob", "n1", 1000, "zz"));
    }
}
