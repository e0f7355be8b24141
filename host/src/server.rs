//! Listeners and connections: accept, TLS handshake inside the connection's
//! task (with a timeout), HTTP/1.1 through the front loop (`front`: plain
//! cache hits written directly, other requests by hyper) and HTTP/2 through
//! hyper-util's auto builder, header-read and idle timeouts, and graceful
//! shutdown.

mod front;
mod idle;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::body::Body;
use crate::config::Limits;
use crate::metrics::Metrics;

use idle::IdleIo;

/// A response the HTTP/1 front loop writes to the socket itself (a plain
/// cache hit): the handler finds it ([`Handler::plain_hit`]), the loop
/// writes its head and body in one go, then reports how that went. The
/// server sees nothing else of it, so it names no type of the request
/// pipeline (the node, which knows both, puts them together).
pub trait DirectResponse: Send + 'static {
    /// Appends the whole HTTP/1.1 response head, the blank line included.
    fn encode_head(&self, out: &mut Vec<u8>);

    /// The whole body.
    fn body(&self) -> &Bytes;

    /// After the response was written (`complete`: all `bytes` of the body)
    /// or the client went away.
    fn finish(self, bytes: u64, complete: bool);
}

/// For handlers that never answer directly.
impl DirectResponse for Infallible {
    fn encode_head(&self, _out: &mut Vec<u8>) {
        match *self {}
    }

    fn body(&self) -> &Bytes {
        match *self {}
    }

    fn finish(self, _bytes: u64, _complete: bool) {
        match self {}
    }
}

/// Handles one request of a connection.
pub trait Handler: Clone + Send + Sync + Unpin + 'static {
    /// What the front loop writes itself ([`Infallible`] for a handler
    /// without plain hits).
    type Direct: DirectResponse;

    /// The response future.
    fn call(
        &self,
        req: http::Request<Incoming>,
        peer: SocketAddr,
        scheme: &'static str,
    ) -> impl Future<Output = http::Response<Body>> + Send + 'static + use<Self>;

    /// Limits for a connection accepted now; `None` keeps the listener's.
    /// The edge takes them from the current config generation, so a reload
    /// applies to new connections.
    fn limits(&self) -> Option<Limits> {
        None
    }

    /// Whether HTTP/1 connections go through the front loop that writes
    /// [`Handler::plain_hit`]s itself; when false they go straight to hyper.
    fn answers_plain_hits(&self) -> bool {
        false
    }

    /// The plain hit answering this HTTP/1.1 GET head, if it is one; `None`
    /// leaves the request to [`Handler::call`].
    fn plain_hit(
        &self,
        _head: &http::request::Parts,
        _peer: SocketAddr,
        _scheme: &'static str,
    ) -> Option<Self::Direct> {
        None
    }
}

/// Everything an accept loop needs.
#[derive(Clone)]
pub struct ListenerCtx<H> {
    /// The request handler.
    pub handler: H,
    /// Limits, unless the handler gives the current ones ([`Handler::limits`]).
    pub limits: Limits,
    /// TLS, for HTTPS listeners; a reload may replace it (new connections
    /// use the new certificates).
    pub tls: Arc<ArcSwapOption<TlsAcceptor>>,
    /// Set to true to stop accepting and drain connections.
    pub shutdown: watch::Receiver<bool>,
    /// Tracks connection tasks so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// Connection metrics.
    pub metrics: Arc<Metrics>,
}

/// Resolves once shutdown has been signalled.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// The hyper connection builder for these limits.
fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    // Half-closed clients are served: a request is answered (and a fill it
    // started is finished and stored) even if the client stops sending or
    // goes away meanwhile; a client gone is noticed when its response is
    // written. Without it, hyper probes the socket for EOF after each
    // request head, which makes it reallocate its read buffer per request
    // while the request still holds the old one.
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .half_close(true)
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .max_concurrent_streams(256);
    b
}

/// Accepts connections until shutdown; each is served in its own task.
pub async fn accept_loop<H: Handler>(listener: TcpListener, ctx: ListenerCtx<H>) {
    let mut limits = ctx.handler.limits().unwrap_or_else(|| ctx.limits.clone());
    let mut builder = Arc::new(builder(&limits));
    let mut shutdown = ctx.shutdown.clone();
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut shutdown) => break,
        };
        let _ = tcp.set_nodelay(true);
        if let Some(current) = ctx.handler.limits()
            && current != limits
        {
            builder = Arc::new(self::builder(&current));
            limits = current;
        }
        let mut ctx = ctx.clone();
        ctx.limits = limits.clone();
        let builder = builder.clone();
        ctx.tracker.clone().spawn(async move {
            ctx.metrics.connections.inc();
            ctx.metrics.open_connections.inc();
            serve_tcp(tcp, peer, &ctx, &builder).await;
            ctx.metrics.open_connections.dec();
        });
    }
}

async fn serve_tcp<H: Handler>(
    tcp: TcpStream,
    peer: SocketAddr,
    ctx: &ListenerCtx<H>,
    builder: &auto::Builder<TokioExecutor>,
) {
    match ctx.tls.load_full() {
        None => serve_io(tcp, peer, "http", ctx, builder, true).await,
        Some(acceptor) => {
            match tokio::time::timeout(ctx.limits.tls_handshake_timeout, acceptor.accept(tcp)).await
            {
                Ok(Ok(tls)) => {
                    // HTTP/2 by ALPN: hyper from the first byte.
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                    serve_io(tls, peer, "https", ctx, builder, !h2).await
                }
                Ok(Err(e)) => {
                    ctx.metrics.tls_failures.inc();
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                }
                Err(_) => {
                    ctx.metrics.tls_failures.inc();
                    tracing::debug!(%peer, "TLS handshake timed out");
                }
            }
        }
    }
}

/// The idle check's period for `idle_timeout`.
fn idle_tick(idle_timeout: Duration) -> Duration {
    idle_timeout
        .min(Duration::from_secs(1))
        .max(Duration::from_millis(100))
}

/// Serves a connection: HTTP/1 through the front loop when the handler
/// answers plain hits (`front`), and hyper for the rest.
async fn serve_io<H: Handler, I>(
    io: I,
    peer: SocketAddr,
    scheme: &'static str,
    ctx: &ListenerCtx<H>,
    builder: &auto::Builder<TokioExecutor>,
    http1_front: bool,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut io = IdleIo::new(io);
    let mut activity = io.activity();
    let first = if http1_front && ctx.handler.answers_plain_hits() {
        match front::serve(&mut io, &mut activity, peer, scheme, ctx).await {
            front::Outcome::Closed => return,
            front::Outcome::Handover(read) => read,
        }
    } else {
        bytes::Bytes::new()
    };
    serve_hyper(
        front::Prefixed::new(first, io),
        activity,
        peer,
        scheme,
        ctx,
        builder,
    )
    .await;
}

/// Serves a connection with hyper until it closes.
async fn serve_hyper<H: Handler, I>(
    io: I,
    mut activity: idle::Activity,
    peer: SocketAddr,
    scheme: &'static str,
    ctx: &ListenerCtx<H>,
    builder: &auto::Builder<TokioExecutor>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let handler = ctx.handler.clone();
    let service = service_fn(move |req| {
        let fut = handler.call(req, peer, scheme);
        async move { Ok::<_, Infallible>(fut.await) }
    });
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut shutdown = ctx.shutdown.clone();
    let idle_timeout = ctx.limits.idle_timeout;
    let mut tick = tokio::time::interval(idle_tick(idle_timeout));
    let mut draining = false;
    loop {
        tokio::select! {
            // The connection first: it is what wakes this task on nearly
            // every poll.
            biased;
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, "connection ended with error: {e}");
                }
                break;
            }
            _ = stopped(&mut shutdown), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tick.tick(), if !draining => {
                if activity.idle_for() >= idle_timeout {
                    tracing::debug!(%peer, "closing idle connection");
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
