//! Shutdown as a connection's loop sees it: the drain (finish the request in flight, then
//! close) and the close (drop the connection now), cheap enough to look at on every poll.
//! Polling a `CancellationToken`'s future registers the task with the token each time (a lock
//! and a list update); a connection is polled two or three times per request. So the tokens'
//! futures are polled only when a stop was raised, or when the task's waker changed (the
//! registration would be stale); otherwise one atomic load answers.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Waker};

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// One accept loop's stop signals.
#[derive(Clone, Debug)]
pub(super) struct Stop {
    pub draining: CancellationToken,
    pub closing: CancellationToken,
    /// Set before either token is cancelled: the one thing a connection looks at per poll.
    raised: Arc<AtomicBool>,
}

impl Stop {
    pub fn new(closing: CancellationToken) -> Self {
        Stop {
            draining: CancellationToken::new(),
            closing,
            raised: Arc::default(),
        }
    }

    /// Idle connections close now, busy ones after their response.
    pub fn drain(&self) {
        self.raised.store(true, Ordering::Release);
        self.draining.cancel();
    }

    /// Every connection still open is dropped.
    pub fn close(&self) {
        self.raised.store(true, Ordering::Release);
        self.closing.cancel();
    }

    pub fn watch(&self) -> Watch {
        Watch {
            drain: Box::pin(self.draining.clone().cancelled_owned()),
            close: Box::pin(self.closing.clone().cancelled_owned()),
            raised: self.raised.clone(),
            waker: None,
        }
    }
}

/// One connection's watch on its accept loop's [`Stop`].
pub(super) struct Watch {
    drain: Pin<Box<WaitForCancellationFutureOwned>>,
    close: Pin<Box<WaitForCancellationFutureOwned>>,
    raised: Arc<AtomicBool>,
    /// The waker the tokens were last registered with.
    waker: Option<Waker>,
}

impl Watch {
    /// Whether the drain and the close have started.
    pub fn poll(&mut self, cx: &mut Context<'_>) -> (bool, bool) {
        let registered = self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        if registered && !self.raised.load(Ordering::Acquire) {
            return (false, false);
        }
        self.waker = Some(cx.waker().clone());
        let drain = self.drain.as_mut().poll(cx).is_ready();
        let close = self.close.as_mut().poll(cx).is_ready();
        (drain, close)
    }
}
