//! The HTTPS listener: accepts TCP connections, caps how many are open, runs TLS and hands
//! each connection to hyper with the header timeout. Not the application ([`super::router`])
//! nor the streams' own cap ([`super::streams`]).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

use crate::accept::{ConnectionLimits, ConnectionSlot, RateLimitedWarn};
use crate::config::HttpsConfig;
use crate::refusals::Limit;
use crate::session::Context;

/// How long open connections (event streams) get to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(3);

/// A connection's socket with its place under `max_connections`: the place is given back when
/// the socket closes, also after hyper handed it to a WebSocket.
struct Held<T> {
    io: T,
    _slot: ConnectionSlot,
}

impl<T: AsyncRead + Unpin> AsyncRead for Held<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Held<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Accepts HTTPS connections until `shutdown`: a failed `accept` is reported, backed off and
/// retried (the loop never ends on one, like SSH's); a connection over `[https]
/// max_connections` is closed at once, before TLS; one whose TLS handshake, or whose request
/// headers, take longer than `header_read_timeout` is closed (slowloris). Each refusal is
/// counted for the audit's summary ([`crate::refusals`]), none audited on its own.
pub(super) async fn accept_loop(
    ctx: Arc<Context>,
    https: HttpsConfig,
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    static HTTPS_ACCEPT_FAILED: RateLimitedWarn =
        RateLimitedWarn::new("HTTPS accept failed, retrying", Duration::from_secs(10));
    static OVER_LIMIT: RateLimitedWarn = RateLimitedWarn::new(
        "HTTPS connection closed at accept: max_connections reached",
        Duration::from_secs(1),
    );
    // No cap per address: behind a reverse proxy every connection comes from one.
    let limits = ConnectionLimits::new(https.max_connections, https.max_connections);
    let header_timeout = https.header_read_timeout;
    // HTTP/1.1 only (and only it offered in ALPN, see `super::tls_config`): hyper holds an
    // HTTP/2 connection to no header or idle timeout once its first request is in, so an
    // idle HTTP/2 client would keep one of `max_connections` for good. The page's
    // WebSockets upgrade over HTTP/1.1 anyway.
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    // HTTP/1: each request's headers within the timeout, counted from when the connection
    // waits for them (so an idle keep-alive connection is closed after it too).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let builder = Arc::new(builder);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and the like: report (once per 10 s at most), back off, keep
                    // listening.
                    HTTPS_ACCEPT_FAILED.event(&e);
                    tokio::time::sleep(crate::accept::BACKOFF).await;
                    continue;
                }
            },
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => break,
        };
        let Ok(slot) = limits.admit(peer.ip()) else {
            // Dropping the stream closes it, before any TLS work.
            ctx.refusals.count(Limit::HttpsConnections);
            OVER_LIMIT.event(&peer.ip());
            continue;
        };
        let tls = tls.clone();
        let app = app.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let ctx = ctx.clone();
        let balancer = https.proxy_protocol_from.contains(&peer.ip());
        tokio::spawn(async move {
            let mut tcp = tcp;
            // From a load balancer in TCP mode: the browser's address comes first, in the
            // PROXY header, within the same time as the TLS handshake.
            let peer = if balancer {
                let read = crate::proxy_header::read(&mut tcp, peer);
                match tokio::time::timeout(header_timeout, read).await {
                    Ok(Ok(client)) => client,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, "HTTPS connection from a load balancer closed: {e}");
                        return;
                    }
                    Err(_) => {
                        ctx.refusals.count(Limit::HttpsHeaderReadTimeout);
                        tracing::debug!(%peer, "HTTPS connection from a load balancer closed: no PROXY header in time");
                        return;
                    }
                }
            } else {
                peer
            };
            let stream = match tokio::time::timeout(header_timeout, tls.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    ctx.refusals.count(Limit::HttpsHeaderReadTimeout);
                    tracing::debug!(%peer, "HTTPS connection closed: TLS handshake too slow");
                    return;
                }
            };
            // Turns true once the first request's headers are in. Until then the deadline
            // below holds, whatever the protocol: HTTP/2 and hyper's protocol detection
            // have no header timeout of their own.
            let (headers_in, first_request) = watch::channel(false);
            let mut first = first_request.clone();
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    headers_in.send_replace(true);
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo::<SocketAddr>(peer));
                    app.clone().oneshot(req.map(axum::body::Body::new))
                },
            );
            // The slot goes with the socket, so an upgraded WebSocket keeps holding it.
            let io = Held {
                io: stream,
                _slot: slot,
            };
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            let conn = watcher.watch(conn.into_owned());
            tokio::pin!(conn);
            let first = tokio::time::timeout(header_timeout, async move {
                let _ = first.wait_for(|in_| *in_).await;
            });
            let result = tokio::select! {
                result = &mut conn => result,
                waited = first => match waited {
                    Ok(()) => conn.await,
                    Err(_) => {
                        // Dropping the connection closes it.
                        ctx.refusals.count(Limit::HttpsHeaderReadTimeout);
                        tracing::debug!(%peer, "HTTPS connection closed: no request within header_read_timeout");
                        return;
                    }
                },
            };
            if let Err(e) = result {
                let timed_out = e
                    .downcast_ref::<hyper::Error>()
                    .is_some_and(hyper::Error::is_timeout);
                // Closed waiting for a request: counted as a refusal only if none came at
                // all (an idle keep-alive connection closing is no refusal).
                if timed_out && !*first_request.borrow() {
                    ctx.refusals.count(Limit::HttpsHeaderReadTimeout);
                }
                tracing::debug!(%peer, "HTTPS connection ended: {e}");
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
}
