//! The client connection read through the [`Framer`], which flags refused framings and times
//! each request head from its first byte.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::{Flags, Framer};

/// The client connection, read through a [`Framer`].
pub struct Guarded<S> {
    inner: S,
    framer: Framer,
    flags: Arc<Flags>,
    head_timeout: Duration,
    /// The connection's head timer, allocated at its first head and reset at each next one.
    head_timer: Option<Pin<Box<Sleep>>>,
    /// The timer runs: a head is partly received.
    head_timing: bool,
}

impl<S> std::fmt::Debug for Guarded<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded").finish_non_exhaustive()
    }
}

impl<S> Guarded<S> {
    pub fn new(inner: S, flags: Arc<Flags>, head_timeout: Duration) -> Self {
        Guarded {
            inner,
            framer: Framer::default(),
            flags,
            head_timeout,
            head_timer: None,
            head_timing: false,
        }
    }
}

impl<S> Guarded<S> {
    /// A head's first byte arrived: it must be whole within `head_timeout`. One timer per
    /// connection, reset for each head rather than allocated: a timer left behind by a finished
    /// head is not polled, and wakes the task at most once (when it passes) if no head resets it.
    fn start_head_timer(&mut self) {
        let deadline = Instant::now() + self.head_timeout;
        match self.head_timer.as_mut() {
            Some(timer) => timer.as_mut().reset(deadline),
            None => self.head_timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
        self.head_timing = true;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.flags.switched() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let was_in_head = this.framer.in_head();
                if let Some(v) = this.framer.feed(&buf.filled()[before..]) {
                    this.flags.set(v);
                }
                match (was_in_head, this.framer.in_head()) {
                    (_, false) => this.head_timing = false,
                    (false, true) => this.start_head_timer(),
                    (true, true) => {}
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let timer = this.head_timer.as_mut().filter(|_| this.head_timing);
                match timer.map(|t| t.as_mut().poll(cx)) {
                    Some(Poll::Ready(())) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "request head timeout",
                    ))),
                    _ => Poll::Pending,
                }
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
