//! The client's request body on its way upstream, with the end-of-body signal and the stall
//! timer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::oneshot;

use super::UpstreamBody;

/// The client's request body as it is sent upstream. It tells [`super::UpstreamClient::forward`]
/// when the client has finished sending, so `upstream_timeout` measures only the upstream
/// (a slow upload is not the upstream's fault), and it cuts off a client whose body stalls
/// for longer than `idle` (408).
pub struct Sending {
    /// `None`: no body (a retried request).
    inner: Option<UpstreamBody>,
    done: Option<oneshot::Sender<()>>,
    idle: Duration,
    /// The stall timer, allocated at the body's first wait and reset at each next one.
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The body is waiting for the client: the stall timer runs.
    stalling: bool,
}

impl std::fmt::Debug for Sending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sending")
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

/// The client stopped sending its body for longer than allowed.
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled")]
pub struct BodyStalled;

impl Sending {
    /// The body, and a signal of its end; `None` when it has already ended (no body: the
    /// usual case, which then needs no channel).
    pub(super) fn new(
        inner: Option<UpstreamBody>,
        idle: Duration,
    ) -> (Self, Option<oneshot::Receiver<()>>) {
        let mut body = Sending {
            inner,
            done: None,
            idle,
            stall: None,
            stalling: false,
        };
        if body.is_end_stream() {
            return (body, None);
        }
        let (tx, rx) = oneshot::channel();
        body.done = Some(tx);
        (body, Some(rx))
    }

    /// The stall timer, (re)started when the body begins to wait for the client.
    fn stall_timer(&mut self) -> &mut Pin<Box<tokio::time::Sleep>> {
        let restart = !std::mem::replace(&mut self.stalling, true);
        let idle = self.idle;
        let stall = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        if restart {
            stall.as_mut().reset(tokio::time::Instant::now() + idle);
        }
        stall
    }

    fn check_end(&mut self) {
        if self.is_end_stream() {
            if let Some(done) = self.done.take() {
                let _ = done.send(());
            }
        }
    }
}

impl Body for Sending {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.stalling = false;
                match &frame {
                    None => {
                        if let Some(done) = this.done.take() {
                            let _ = done.send(());
                        }
                    }
                    Some(_) => this.check_end(),
                }
                Poll::Ready(frame)
            }
            Poll::Pending => {
                let stall = this.stall_timer();
                match stall.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyStalled)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Some(inner) => inner.size_hint(),
            None => SizeHint::with_exact(0),
        }
    }
}
