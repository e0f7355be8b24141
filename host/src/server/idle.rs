//! An IO wrapper that remembers when bytes last moved, for the idle timeout.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Whether a connection moved bytes, and since when it has not.
///
/// The connection's IO counts the reads and writes that moved bytes (a plain
/// counter: no clock read per request); the task that enforces the idle
/// timeout looks at the count on each of its ticks and notes when it last
/// changed. The idle time it sees starts at the tick that noticed the last
/// move, so a connection is closed at most two ticks after its timeout.
pub struct Activity {
    moves: Arc<AtomicU64>,
    seen: u64,
    since: Instant,
}

impl Activity {
    /// How long no byte has moved, as of the last time the count changed.
    pub fn idle_for(&mut self) -> Duration {
        let moves = self.moves.load(Ordering::Relaxed);
        if moves != self.seen {
            self.seen = moves;
            self.since = Instant::now();
        }
        self.since.elapsed()
    }
}

/// The IO side of [`Activity`].
struct Moves(Arc<AtomicU64>);

impl Moves {
    fn touch(&self) {
        // One writer (the connection's IO): a relaxed load and store, no
        // locked read-modify-write.
        let n = self.0.load(Ordering::Relaxed);
        self.0.store(n.wrapping_add(1), Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    /// Wraps a connection and records activity.
    pub struct IdleIo<I> {
        #[pin]
        inner: I,
        activity: Moves,
    }
}

impl<I> IdleIo<I> {
    /// Wraps `inner`; it counts as active now.
    pub fn new(inner: I) -> Self {
        IdleIo {
            inner,
            activity: Moves(Arc::new(AtomicU64::new(0))),
        }
    }

    /// A handle to read the activity from another task.
    pub fn activity(&self) -> Activity {
        Activity {
            moves: self.activity.0.clone(),
            seen: self.activity.0.load(Ordering::Relaxed),
            since: Instant::now(),
        }
    }
}

impl<I: AsyncRead> AsyncRead for IdleIo<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let r = this.inner.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.touch();
        }
        r
    }
}

impl<I: AsyncWrite> AsyncWrite for IdleIo<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let r = this.inner.poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r
            && *n > 0
        {
            this.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let r = this.inner.poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &r
            && *n > 0
        {
            this.activity.touch();
        }
        r
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
