//! The HTTP/1 front of a connection. It reads request heads itself and
//! writes plain cache hits (a stored response sent as it is, see
//! [`super::DirectResponse`]) straight to the socket: no hyper
//! dispatcher, no response map, one write of the prepared head and the
//! stored body. Every other request without a body is served by hyper alone
//! (the head is handed to a one-request hyper connection, which then reads
//! the end of the stream) and the connection comes back here. A request with
//! a body, an upgrade, `Expect`, `Connection: close`, HTTP/1.0, an
//! absolute-form target, or anything this parser does not take (HTTP/2's
//! preface included) hands the connection to hyper for good, with the bytes
//! read so far.
//!
//! Timeouts are the same as under hyper: a connection idle for
//! `idle_timeout` is closed, a head not complete within
//! `header_read_timeout` of its first read closes the connection, and
//! shutdown closes it between requests.

use std::convert::Infallible;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri, Version};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::watch;
use tokio::time::{Instant, Interval};

use super::idle::{Activity, IdleIo};
use super::{DirectResponse, Handler, ListenerCtx};
use crate::config::Limits;

/// Heads with more fields go to hyper (whose own limit is 100).
const MAX_FIELDS: usize = 64;

/// What the front loop leaves to the caller.
pub(super) enum Outcome {
    /// The connection is done; close it.
    Closed,
    /// hyper serves the rest of the connection, starting with these bytes.
    Handover(Bytes),
}

/// Serves the connection until it closes or needs hyper for good.
pub(super) async fn serve<H: Handler, I>(
    io: &mut IdleIo<I>,
    activity: &mut Activity,
    peer: SocketAddr,
    scheme: &'static str,
    ctx: &ListenerCtx<H>,
) -> Outcome
where
    I: AsyncRead + AsyncWrite + Unpin + Send,
{
    let limits = &ctx.limits;
    let max_head = limits.max_header_bytes.max(8192);
    let mut guard = Guard::new(ctx.shutdown.clone(), activity, limits.idle_timeout);
    let mut buf = BytesMut::with_capacity(8192);
    let mut out = Vec::with_capacity(1024);
    let hyper_one = one_request_builder(limits);
    loop {
        // A whole head, or more bytes.
        let (parsed, len) = match parse(&buf) {
            Parsed::Partial if buf.len() >= max_head => return Outcome::Handover(buf.freeze()),
            Parsed::Partial => {
                if !read_more(
                    io,
                    &mut buf,
                    &mut guard,
                    limits.header_read_timeout,
                    max_head,
                )
                .await
                {
                    return Outcome::Closed;
                }
                continue;
            }
            Parsed::Other => return Outcome::Handover(buf.freeze()),
            Parsed::Bodyless { get, len } => (get, len),
        };
        let head = buf.split_to(len).freeze();
        let hit = match parsed {
            Some(fields) => to_parts(&head, &fields)
                .and_then(|parts| ctx.handler.plain_hit(&parts, peer, scheme)),
            None => None,
        };
        let Some(hit) = hit else {
            if !through_hyper(&hyper_one, io, head, peer, scheme, ctx, &mut guard).await {
                return Outcome::Closed;
            }
            continue;
        };
        out.clear();
        hit.encode_head(&mut out);
        let body = hit.body().clone();
        let sent = guard.run(write_all(io, &out, &body), false).await;
        let complete = matches!(sent, Some(Ok(())));
        hit.finish(if complete { body.len() as u64 } else { 0 }, complete);
        if !complete || guard.stopping {
            return Outcome::Closed;
        }
    }
}

/// Reads more of a head: the first bytes of one wait as long as the
/// connection may idle, the rest at most `header_read_timeout` from now.
/// False when the connection is to close (end of stream, error, timeout,
/// shutdown).
async fn read_more<I: AsyncRead + Unpin>(
    io: &mut IdleIo<I>,
    buf: &mut BytesMut,
    guard: &mut Guard<'_>,
    header_read_timeout: Duration,
    max_head: usize,
) -> bool {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(8192);
    }
    let read = if buf.is_empty() {
        guard.run(io.read_buf(buf), true).await
    } else {
        let deadline = Instant::now() + header_read_timeout;
        let mut read = Some(Ok(0));
        // A head trickling in is bounded as a whole, not per read.
        while buf.len() < max_head && matches!(parse(buf), Parsed::Partial) {
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(8192);
            }
            let next = guard.run(io.read_buf(buf), true);
            read = tokio::time::timeout_at(deadline, next).await.ok().flatten();
            if !matches!(read, Some(Ok(n)) if n > 0) {
                break;
            }
        }
        read
    };
    matches!(read, Some(Ok(n)) if n > 0)
}

/// Where to stop a wait: shutdown and the idle timeout.
struct Guard<'a> {
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// Shutdown has been signalled.
    stopping: bool,
    tick: Interval,
    activity: &'a mut Activity,
    idle_timeout: Duration,
}

impl<'a> Guard<'a> {
    fn new(
        mut shutdown: watch::Receiver<bool>,
        activity: &'a mut Activity,
        idle_timeout: Duration,
    ) -> Self {
        Guard {
            shutdown: Box::pin(async move {
                let _ = shutdown.wait_for(|s| *s).await;
            }),
            stopping: false,
            tick: tokio::time::interval(super::idle_tick(idle_timeout)),
            activity,
            idle_timeout,
        }
    }

    /// Runs `fut` to its end; `None` if the connection went idle first, or
    /// (with `stop`) shutdown was signalled first.
    async fn run<F: Future>(&mut self, fut: F, stop: bool) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                biased;
                r = &mut fut => return Some(r),
                () = &mut self.shutdown, if !self.stopping => {
                    self.stopping = true;
                    if stop {
                        return None;
                    }
                }
                _ = self.tick.tick() => {
                    if self.activity.idle_for() >= self.idle_timeout {
                        return None;
                    }
                }
            }
        }
    }
}

/// A head in the buffer.
enum Parsed {
    /// Not complete yet.
    Partial,
    /// A complete HTTP/1.1 head of `len` bytes whose request has no body
    /// and keeps the connection open: the fields if it is a GET (to look for
    /// a plain hit), `None` for other methods.
    Bodyless { get: Option<Fields>, len: usize },
    /// Anything else: hyper's.
    Other,
}

/// A GET's target and fields, as byte ranges of the head.
struct Fields {
    target: (usize, usize),
    fields: Vec<((usize, usize), (usize, usize))>,
}

fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Other,
    };
    let (Some(method), Some(target), Some(1)) = (req.method, req.path, req.version) else {
        return Parsed::Other;
    };
    if method == "CONNECT" || !target.starts_with('/') {
        return Parsed::Other;
    }
    let mut hosts = 0;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"transfer-encoding")
            || name.eq_ignore_ascii_case(b"upgrade")
            || name.eq_ignore_ascii_case(b"expect")
            || (name.eq_ignore_ascii_case(b"connection")
                && !h.value.trim_ascii().eq_ignore_ascii_case(b"keep-alive"))
        {
            return Parsed::Other;
        }
    }
    if hosts > 1 {
        return Parsed::Other;
    }
    let get = (method == "GET").then(|| {
        let base = buf.as_ptr() as usize;
        let range = |s: &[u8]| {
            let start = s.as_ptr() as usize - base;
            (start, start + s.len())
        };
        Fields {
            target: range(target.as_bytes()),
            fields: req
                .headers
                .iter()
                .map(|h| (range(h.name.as_bytes()), range(h.value)))
                .collect(),
        }
    });
    Parsed::Bodyless { get, len }
}

/// The request parts of a parsed GET, sharing the head's bytes; `None` if a
/// name, value or target is not one `http` takes (hyper then answers).
fn to_parts(head: &Bytes, get: &Fields) -> Option<http::request::Parts> {
    let slice = |(a, b): (usize, usize)| head.slice(a..b);
    let uri = Uri::from_maybe_shared(slice(get.target)).ok()?;
    let mut headers = HeaderMap::with_capacity(get.fields.len());
    for &(name, value) in &get.fields {
        let name = HeaderName::from_bytes(&head[name.0..name.1]).ok()?;
        let value = HeaderValue::from_maybe_shared(slice(value)).ok()?;
        headers.append(name, value);
    }
    let (mut parts, ()) = Request::new(()).into_parts();
    parts.method = Method::GET;
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    parts.headers = headers;
    Some(parts)
}

/// Writes the head and the body, in as few writes as the socket takes.
async fn write_all<W: AsyncWrite + Unpin>(io: &mut W, head: &[u8], body: &Bytes) -> io::Result<()> {
    let (mut head, mut body) = (head, &body[..]);
    while !head.is_empty() {
        let n = io
            .write_vectored(&[IoSlice::new(head), IoSlice::new(body)])
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let from_head = n.min(head.len());
        head = &head[from_head..];
        body = &body[n - from_head..];
    }
    io.write_all(body).await?;
    io.flush().await
}

/// Serves one request with hyper: `head` is all it reads, then the end of
/// the stream, which a keep-alive connection takes as the client being
/// done; hyper answers, and the connection returns here. False when the
/// connection is to close (hyper closed it, an error, idle, shutdown).
async fn through_hyper<H: Handler, I>(
    hyper_one: &http1::Builder,
    io: &mut IdleIo<I>,
    head: Bytes,
    peer: SocketAddr,
    scheme: &'static str,
    ctx: &ListenerCtx<H>,
    guard: &mut Guard<'_>,
) -> bool
where
    I: AsyncRead + AsyncWrite + Unpin + Send,
{
    let handler = ctx.handler.clone();
    let service = service_fn(move |req| {
        let fut = handler.call(req, peer, scheme);
        Box::pin(async move { Ok::<_, Infallible>(fut.await) })
    });
    let one = Prefixed::then_end(head, io);
    let mut conn = hyper_one.serve_connection(TokioIo::new(one), service);
    // Idle or shutdown: hyper finishes the request in hand, then closes.
    let mut closing = false;
    loop {
        let done = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx));
        match guard.run(done, true).await {
            Some(Ok(())) => break,
            Some(Err(e)) => {
                tracing::debug!(%peer, "connection ended with error: {e}");
                return false;
            }
            None if !closing => {
                closing = true;
                Pin::new(&mut conn).graceful_shutdown();
            }
            None => {}
        }
    }
    // Read to the end: hyper was waiting for another request.
    let ended = conn.into_parts().io.into_inner().ended;
    ended && !closing && !guard.stopping
}

/// The builder of the one-request hyper connections: the head is complete
/// when hyper gets it (the front loop timed its reading), so hyper keeps no
/// header timer.
fn one_request_builder(limits: &Limits) -> http1::Builder {
    let mut b = http1::Builder::new();
    b.header_read_timeout(None)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .half_close(true)
        .keep_alive(true);
    b
}

pin_project_lite::pin_project! {
    /// The connection as hyper sees it: reads give the bytes the front loop
    /// read first, then the connection's (after a handover) or the end of
    /// the stream (a one-request connection); writes go to the connection.
    pub(super) struct Prefixed<I> {
        prefix: Bytes,
        #[pin]
        inner: I,
        end_after_prefix: bool,
        // A read found the end after the prefix.
        ended: bool,
    }
}

impl<I> Prefixed<I> {
    /// `prefix`, then the rest of `inner`.
    pub(super) fn new(prefix: Bytes, inner: I) -> Self {
        Prefixed {
            prefix,
            inner,
            end_after_prefix: false,
            ended: false,
        }
    }

    /// `prefix`, then the end of the stream.
    fn then_end(prefix: Bytes, inner: I) -> Self {
        Prefixed {
            end_after_prefix: true,
            ..Prefixed::new(prefix, inner)
        }
    }
}

impl<I: AsyncRead> AsyncRead for Prefixed<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        if this.prefix.is_empty() {
            if *this.end_after_prefix {
                *this.ended = true;
                return Poll::Ready(Ok(()));
            }
            return this.inner.poll_read(cx, buf);
        }
        let n = this.prefix.len().min(buf.remaining());
        buf.put_slice(&this.prefix[..n]);
        this.prefix.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite> AsyncWrite for Prefixed<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(raw: &str) -> &'static str {
        match parse(raw.as_bytes()) {
            Parsed::Partial => "partial",
            Parsed::Other => "other",
            Parsed::Bodyless { get: Some(_), .. } => "get",
            Parsed::Bodyless { get: None, .. } => "bodyless",
        }
    }

    #[test]
    fn what_stays_in_front() {
        assert_eq!(kind("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"), "get");
        assert_eq!(
            kind("GET /a HTTP/1.1\r\nConnection: Keep-Alive\r\n\r\n"),
            "get"
        );
        assert_eq!(kind("HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n"), "bodyless");
        assert_eq!(kind("DELETE /a HTTP/1.1\r\nHost: x\r\n\r\n"), "bodyless");
        assert_eq!(kind("GET /a HTTP/1.1\r\nHost: x\r\n"), "partial");
        assert_eq!(kind("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"), "get");
    }

    #[test]
    fn what_goes_to_hyper() {
        for raw in [
            "GET /a HTTP/1.0\r\nHost: x\r\n\r\n",
            "GET /a HTTP/1.1\r\nConnection: close\r\n\r\n",
            "GET /a HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
            "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /a HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n",
            "CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET /a HTTP/1.1\r\nBad Name: x\r\n\r\n",
        ] {
            assert_eq!(kind(raw), "other", "{raw:?}");
        }
    }

    #[test]
    fn parts_share_the_head() {
        let head = Bytes::from_static(
            b"GET /p?q=1 HTTP/1.1\r\nHost: Shop.Test\r\nX-A: 1\r\nX-A: 2\r\n\r\n",
        );
        let Parsed::Bodyless { get: Some(f), len } = parse(&head) else {
            panic!("not a GET");
        };
        assert_eq!(len, head.len());
        let parts = to_parts(&head, &f).expect("parts");
        assert_eq!(parts.uri.path(), "/p");
        assert_eq!(parts.uri.query(), Some("q=1"));
        assert_eq!(parts.headers["host"], "Shop.Test");
        assert_eq!(parts.headers.get_all("x-a").iter().count(), 2);
    }
}
