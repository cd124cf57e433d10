//! The client connection read through the [`Framer`], which flags refused framings, times
//! each request head from its first byte and each idle wait from the last answer.

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
    idle_timeout: Duration,
    /// An idle connection is parked after this (below `idle_timeout`), rather than timed out.
    park_after: Option<Duration>,
    /// Parked: hyper read an end of stream, so that it gives the connection back between
    /// requests (see [`Guarded::parked`]); the socket itself is left open.
    parked: bool,
    /// The head partly received must be whole by then.
    head_deadline: Option<Instant>,
    /// Registered once, moved only when it fires early (a head ended first).
    head_timer: Option<Pin<Box<Sleep>>>,
    /// Kept registered for the connection's life at or before its idle deadline: a check point.
    idle_timer: Option<Pin<Box<Sleep>>>,
    /// The last write could not go out (the client reads slowly): hyper still holds response
    /// bytes, so the connection is not idle.
    write_blocked: bool,
    /// When a blocked write last went out: the idle wait counts from then if it is later than
    /// the last answer (which hyper stamps when it has taken the body, not sent it).
    unblocked_at: Option<Instant>,
    /// The answers taken to their end as of hyper's last flush, which comes once its write
    /// buffer is empty: an answer counted since may still be in that buffer.
    flushed: u32,
}

impl<S> std::fmt::Debug for Guarded<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded").finish_non_exhaustive()
    }
}

impl<S> Guarded<S> {
    pub fn new(
        inner: S,
        flags: Arc<Flags>,
        head_timeout: Duration,
        (idle_timeout, park_after): (Duration, Duration),
    ) -> Self {
        Guarded {
            inner,
            framer: Framer::default(),
            flags,
            head_timeout,
            idle_timeout,
            park_after: (park_after < idle_timeout).then_some(park_after),
            parked: false,
            head_deadline: None,
            head_timer: None,
            idle_timer: None,
            write_blocked: false,
            unblocked_at: None,
            flushed: 0,
        }
    }

    /// The connection was idle for `park_after`: hyper was shown an end of stream, which it
    /// answers by ending the connection without a word (its shutdown is not passed on). The
    /// socket is open, nothing of a next request has been read, and [`Guarded::unpark`]
    /// readies the guard for a new hyper connection.
    pub fn parked(&self) -> bool {
        self.parked
    }

    /// Readies a parked connection for its next request. Its idle timer is made anew; the idle
    /// wait still counts from the last answer.
    pub fn unpark(&mut self) {
        self.parked = false;
        self.idle_timer = None;
    }

    /// `idle_park_after = "0s"`: an idle connection is parked as soon as hyper waits for its
    /// next request, without a timer. Asked on every read that waits and every flush: the
    /// cheap test first.
    fn park_now(&self) -> bool {
        self.park_after == Some(Duration::ZERO) && self.park_wait().is_some() && self.idle()
    }

    /// `park_after`, if this connection may be parked: not once the framing is lost (bytes of
    /// a next head may sit in hyper's buffer), nor once hyper armed an upgrade.
    fn park_wait(&self) -> Option<Duration> {
        self.park_after
            .filter(|_| !self.framer.lost() && !self.flags.unparkable())
    }

    /// What is left of the idle wait, counted from the last answer: how long a parked
    /// connection waits for its next byte.
    pub fn idle_left(&self) -> Duration {
        (self.idle_since() + self.idle_timeout).saturating_duration_since(Instant::now())
    }

    /// The socket.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Idle: every request hyper handed the handler has its answer, all of it written (hyper
    /// flushed since, and the socket took it), and no
    /// next head has begun (once the framing is lost, hyper refuses such requests, and the
    /// last condition is not known: the answers alone decide).
    fn idle(&self) -> bool {
        let framer = &self.framer;
        self.flags.all_answered()
            && self.flushed == self.flags.answers()
            && !self.write_blocked
            && (framer.between_requests() || framer.lost())
    }

    /// When the idle wait began: the last answer, or the last blocked write's going out.
    fn idle_since(&self) -> Instant {
        let answered = self.flags.answered_at();
        self.unblocked_at.map_or(answered, |at| at.max(answered))
    }

    /// Ready once the connection has been idle for `idle_timeout` (or `park_after`), counted
    /// from where hyper's header timer would have started. The timer is kept registered at or
    /// before that deadline, so that it wakes the task in time however the connection waits
    /// (hyper reads again when woken, and the read comes here): each time it fires is a check
    /// point, which moves it on. A deadline that passes while the connection is writing only
    /// moves it on.
    fn poll_idle(&mut self, cx: &mut Context<'_>, writing: bool) -> Poll<()> {
        let timeout = self.park_wait().unwrap_or(self.idle_timeout);
        // The check point of a connection that is not idle: never sooner than `idle_timeout`
        // with a zero `park_after`, which parks at once instead (see `park_now`).
        let check = match timeout.is_zero() {
            true => self.idle_timeout,
            false => timeout,
        };
        let mut timer = self.idle_timer.take();
        let timer_ref = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        let mut outcome = Poll::Pending;
        while poll_unbudgeted(timer_ref, cx).is_ready() {
            let now = Instant::now();
            let deadline = match !writing && self.idle() {
                true => self.idle_since() + timeout,
                false => now + check,
            };
            if deadline <= now {
                outcome = Poll::Ready(());
                break;
            }
            timer_ref.as_mut().reset(deadline);
        }
        self.idle_timer = timer;
        outcome
    }

    /// Ready once the head partly received is past its deadline.
    fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.head_deadline else {
            return Poll::Pending;
        };
        let timer = self
            .head_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() > deadline {
            timer.as_mut().reset(deadline);
        }
        while poll_unbudgeted(timer, cx).is_ready() {
            if Instant::now() >= deadline {
                return Poll::Ready(());
            }
            timer.as_mut().reset(deadline);
        }
        Poll::Pending
    }

    /// The idle timer back at a check point if it fired while hyper was not reading (a
    /// request body held back, a half-closed client), so that it wakes the task after this
    /// response too.
    fn keep_idle_timer(&mut self, cx: &mut Context<'_>) {
        if self.idle_timer.as_ref().is_none_or(|t| t.is_elapsed()) && !self.flags.switched() {
            let _ = self.poll_idle(cx, true);
        }
    }

    /// Notes whether a write went out, for [`Guarded::idle`].
    fn wrote<T>(&mut self, result: Poll<T>) -> Poll<T> {
        match (&result, self.write_blocked) {
            (Poll::Pending, _) => self.write_blocked = true,
            (Poll::Ready(_), true) => {
                self.write_blocked = false;
                self.unblocked_at = Some(Instant::now());
            }
            (Poll::Ready(_), false) => {}
        }
        result
    }
}

/// Polls a timer outside tokio's cooperative budget: with the budget spent, a `Sleep` answers
/// `Pending` without registering, and the guard, which does not poll a timer it takes for
/// registered, would then never be woken by it.
fn poll_unbudgeted(timer: &mut Pin<Box<Sleep>>, cx: &mut Context<'_>) -> Poll<()> {
    let mut unbudgeted = tokio::task::unconstrained(timer.as_mut());
    Pin::new(&mut unbudgeted).poll(cx)
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.parked {
            return Poll::Ready(Ok(()));
        }
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
                    (_, false) => this.head_deadline = None,
                    (false, true) => this.head_deadline = Some(Instant::now() + this.head_timeout),
                    (true, true) => {}
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.park_now() => {
                this.parked = true;
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                // A registered idle timer needs no poll: it was polled with this task's waker
                // (hyper's connection is polled with one waker for its life).
                let idle = match this.idle_timer.as_ref().is_some_and(|t| !t.is_elapsed()) {
                    true => Poll::Pending,
                    false => this.poll_idle(cx, false),
                };
                let timed_out = match (idle, this.poll_head(cx)) {
                    (Poll::Ready(()), _) if this.park_wait().is_some() => {
                        this.parked = true;
                        return Poll::Ready(Ok(()));
                    }
                    (Poll::Ready(()), _) => "idle timeout",
                    (_, Poll::Ready(())) => "request head timeout",
                    _ => return Poll::Pending,
                };
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, timed_out)))
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
        self.keep_idle_timer(cx);
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.keep_idle_timer(cx);
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        if result.is_ready() {
            self.flushed = self.flags.answers();
            // hyper may have asked for its next request before this answer went out: it is
            // to ask again, and find the connection parked.
            if self.park_now() {
                cx.waker().wake_by_ref();
            }
        }
        result
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.parked {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
