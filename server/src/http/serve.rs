//! The listeners: plain HTTP on `listen` and, with TLS, HTTPS on `https_listen`, both
//! serving the one router.
//!
//! Every connection is served by hyper's HTTP/1 connection directly (instead of
//! `axum::serve`) for two things axum's loop does not offer: a timeout for reading
//! request headers (a client that sends its headers byte by byte is cut off after
//! `request_timeout`, so it cannot hold connections open) and TLS. Each request gets
//! the peer address ([`ConnectInfo`]) and the [`Transport`] it came over, which the
//! router's transport layer uses to redirect LAN clients from HTTP to HTTPS.
//!
//! With TLS on, the HTTP port also answers a TLS handshake (the first byte of a
//! ClientHello is 0x16, never the start of an HTTP method), so a browser that learnt
//! HSTS for the host and upgrades `http://host:8080` to `https://host:8080` still
//! reaches the appliance.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// How a request reached the appliance; put into every request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Http,
    Https,
}

/// A TLS handshake must be done within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The sockets to serve.
pub struct Listeners {
    /// `listen`: plain HTTP (with TLS on: loopback served, LAN redirected).
    pub http: TcpListener,
    /// `https_listen` and the acceptor with the certificate.
    pub https: Option<(TcpListener, TlsAcceptor)>,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners")
            .field("http", &self.http)
            .field("https", &self.https.as_ref().map(|(l, _)| l))
            .finish()
    }
}

struct Ctx {
    router: Router,
    header_timeout: Duration,
    /// Set on the HTTP listener when TLS is on: TLS handshakes there are served too.
    sniff_tls: Option<TlsAcceptor>,
}

/// Serves until `signal` completes, then stops accepting, lets requests in flight
/// finish and closes idle connections.
pub async fn serve(
    listeners: Listeners,
    router: Router,
    header_timeout: Duration,
    signal: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
    let (stop, stopped) = watch::channel(false);
    let http = Arc::new(Ctx {
        router: router.clone(),
        header_timeout,
        sniff_tls: listeners.https.as_ref().map(|(_, a)| a.clone()),
    });
    let https = listeners.https.map(|(l, acceptor)| {
        (
            l,
            acceptor,
            Arc::new(Ctx {
                router,
                header_timeout,
                sniff_tls: None,
            }),
        )
    });
    let plain_loop = accept_loop(listeners.http, None, http, &graceful, stopped.clone());
    let tls_loop = async {
        if let Some((l, acceptor, ctx)) = https {
            accept_loop(l, Some(acceptor), ctx, &graceful, stopped.clone()).await;
        }
    };
    let stopper = async move {
        signal.await;
        let _ = stop.send(true);
    };
    tokio::join!(plain_loop, tls_loop, stopper);
    graceful.shutdown().await;
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    ctx: Arc<Ctx>,
    graceful: &GracefulShutdown,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((tcp, peer)) => {
                let watcher = graceful.watcher();
                let ctx = ctx.clone();
                let tls = tls.clone();
                tokio::spawn(async move { connection(tcp, peer, tls, ctx, watcher).await });
            }
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!("accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    ctx: Arc<Ctx>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let _ = tcp.set_nodelay(true);
    let acceptor = match (tls, &ctx.sniff_tls) {
        (Some(a), _) => Some(a),
        (None, Some(a)) => {
            let mut first = [0u8; 1];
            match tokio::time::timeout(ctx.header_timeout, tcp.peek(&mut first)).await {
                Ok(Ok(1)) if first[0] == 0x16 => Some(a.clone()),
                Ok(Ok(1)) => None,
                _ => return,
            }
        }
        (None, None) => None,
    };
    match acceptor {
        None => serve_io(tcp, peer, Transport::Http, &ctx, watcher).await,
        Some(a) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, a.accept(tcp)).await {
            Ok(Ok(stream)) => serve_io(stream, peer, Transport::Https, &ctx, watcher).await,
            Ok(Err(e)) => tracing::debug!("TLS handshake with {peer} failed: {e}"),
            Err(_) => tracing::debug!("TLS handshake with {peer} timed out"),
        },
    }
}

async fn serve_io<I>(
    io: I,
    peer: SocketAddr,
    transport: Transport,
    ctx: &Ctx,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let router = ctx.router.clone();
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(transport);
        router.clone().oneshot(req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(ctx.header_timeout)
        .serve_connection(TokioIo::new(io), svc);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!("connection from {peer} ended: {e}");
    }
}
