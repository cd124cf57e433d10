//! The upstream connections a client connection owns. freshgate's upstream client is
//! connection-affine: a client connection keeps one keep-alive connection to each upstream
//! it used (at most [`KEPT`]), and drives them in its own task ([`Link::poll_drive`], called
//! by the server's connection loop), so a request never goes through a shared pool, a channel
//! to another task or a lock another request holds. The ones kept between requests are
//! bounded by `[server] max_idle_upstream_connections` (the worker's share of it, counted in
//! [`Idle`]), the ones in use by the requests in flight; they close with their client
//! connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use http::uri::Authority;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::Sending;

/// An upstream HTTP/1.1 connection's driver.
pub(super) type Conn = Connection<TokioIo<TcpStream>, Sending>;

/// Upstream connections kept per client connection: one per upstream, the least recently
/// used one let go beyond this (a browser's connection may alternate between an API and a
/// static-files upstream; more than a few on one connection is rare).
pub const KEPT: usize = 4;

/// A client connection's upstream connections: the ones kept for the next requests, and
/// every one still being driven (a connection whose sender was dropped finishes its exchange,
/// or closes, here).
#[derive(Default)]
pub struct Link {
    state: Mutex<State>,
    /// The worker's count of kept connections, which this link's add to.
    idle: Idle,
}

/// How many upstream connections one worker's client connections keep between requests,
/// against `[server] max_idle_upstream_connections`. Only that worker's thread counts.
#[derive(Clone, Debug, Default)]
pub struct Idle(Arc<AtomicUsize>);

impl Idle {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, n: usize) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    fn sub(&self, n: usize) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Link")
            .field(
                "kept",
                &state.kept.iter().map(|h| &h.authority).collect::<Vec<_>>(),
            )
            .field("driving", &state.driving.len())
            .finish()
    }
}

#[derive(Default)]
struct State {
    /// Kept connections, the most recently used last.
    kept: Vec<Held>,
    driving: Vec<(u64, Conn)>,
    opened: u64,
    /// The waker the drivers are polled with: a new driver wakes it, as it is owed a first
    /// poll.
    waker: Option<Waker>,
    /// The connection's `upstream_timeout` timer (see [`Link::poll_deadline`]).
    timer: Option<Pin<Box<Sleep>>>,
}

/// A connection's sending half, checked out by the request that uses it.
pub(super) struct Held {
    pub id: u64,
    pub authority: Authority,
    pub sender: SendRequest<Sending>,
    /// When it was opened or last kept: a connection idle longer than [`KEPT_IDLE`] is not
    /// used again.
    pub kept_at: Instant,
}

/// How long a kept connection may sit unused and still be used (hyper-util's pool, used
/// before, let go of idle connections after the same time).
pub const KEPT_IDLE: Duration = Duration::from_secs(60);

impl Link {
    /// A client connection's link, counting its kept connections in its worker's `idle`.
    pub fn new(idle: Idle) -> Self {
        Link {
            state: Mutex::default(),
            idle,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Only this connection's task locks it, one step at a time: a poisoned lock can only
        // come from a panic in that same task, whose state is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drives the upstream connections: reads their responses, writes their requests, and
    /// drops the ones that have ended. The client connection's task calls this when `cx`'s
    /// waker was woken (by a driver, or by [`Link::install`]), and once before the first
    /// request, which registers that waker.
    pub fn poll_drive(&self, cx: &mut Context<'_>) {
        let mut state = self.lock();
        if !state
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            state.waker = Some(cx.waker().clone());
        }
        if state.driving.is_empty() {
            return;
        }
        let State { kept, driving, .. } = &mut *state;
        let idle = &self.idle;
        driving.retain_mut(|(id, conn)| match Pin::new(conn).poll(cx) {
            Poll::Pending => true,
            Poll::Ready(result) => {
                if let Err(error) = result {
                    tracing::debug!(%error, "upstream connection ended with an error");
                }
                forget(kept, idle, *id);
                false
            }
        });
    }

    /// The kept connection to `authority`, when it is still open and was kept at most
    /// [`KEPT_IDLE`] before `now`.
    pub(super) fn checkout(&self, authority: &Authority, now: Instant) -> Option<Held> {
        let mut state = self.lock();
        let i = state.kept.iter().rposition(|h| h.authority == *authority)?;
        let held = state.kept.remove(i);
        self.idle.sub(1);
        let stale = now.saturating_duration_since(held.kept_at) > KEPT_IDLE;
        (!held.sender.is_closed() && !stale).then_some(held)
    }

    /// Keeps `held` for the next request to its upstream, unless the worker keeps `cap`
    /// connections already; beyond [`KEPT`] on this link, the least recently used one is let
    /// go. A connection let go closes once its response is read (its sender is dropped).
    /// `since`: when its request started (earlier than now, so it is let go rather sooner).
    pub(super) fn checkin(&self, mut held: Held, cap: usize, since: Instant) {
        if self.idle.count() >= cap {
            return;
        }
        // An upstream that closed with its response (`Connection: close`) may have ended its
        // driver already, in the same poll that delivered the response: nothing to keep.
        if held.sender.is_closed() {
            return;
        }
        let mut state = self.lock();
        held.kept_at = since;
        if state.kept.len() >= KEPT {
            state.kept.remove(0);
            self.idle.sub(1);
        }
        state.kept.reserve_exact(1);
        state.kept.push(held);
        self.idle.add(1);
    }

    /// Starts driving a new connection to `authority`.
    pub(super) fn install(
        &self,
        authority: &Authority,
        sender: SendRequest<Sending>,
        conn: Conn,
    ) -> Held {
        let mut state = self.lock();
        state.opened += 1;
        let id = state.opened;
        // One connection is the usual case: no room for four (a driver is 680 bytes).
        state.driving.reserve_exact(1);
        state.driving.push((id, conn));
        if let Some(waker) = &state.waker {
            waker.wake_by_ref();
        }
        Held {
            id,
            authority: authority.clone(),
            sender,
            kept_at: Instant::now(),
        }
    }

    /// Resolves when `at` has passed. One timer per client connection serves its exchanges
    /// (one at a time): it stays registered at or before the deadline of the one in flight, and
    /// is reset only when it fires early (left from an earlier exchange: at most once per
    /// timeout) or would fire late, rather than registered and removed for every request. A
    /// timer left behind wakes the task once, when it passes.
    pub(super) fn poll_deadline(&self, at: tokio::time::Instant, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        let timer = state
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        if timer.deadline() > at {
            timer.as_mut().reset(at);
        }
        loop {
            match timer.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if timer.deadline() >= at => return Poll::Ready(()),
                Poll::Ready(()) => timer.as_mut().reset(at),
            }
        }
    }

    /// Closes every upstream connection: the client connection went quiet and was parked
    /// (`idle_park_after`); its next request opens a new one. No request is in flight then.
    pub fn release(&self) {
        let mut state = self.lock();
        self.idle.sub(state.kept.len());
        *state = State {
            opened: state.opened,
            ..State::default()
        };
    }

    /// Closes a connection whose exchange failed or was abandoned: it is never used again.
    pub(super) fn discard(&self, id: u64) {
        let mut state = self.lock();
        state.driving.retain(|(i, _)| *i != id);
        forget(&mut state.kept, &self.idle, id);
    }
}

/// Drops connection `id` from `kept`, if it is there, and from the worker's count.
fn forget(kept: &mut Vec<Held>, idle: &Idle, id: u64) {
    let before = kept.len();
    kept.retain(|h| h.id != id);
    idle.sub(before - kept.len());
}

impl Drop for Link {
    fn drop(&mut self) {
        let kept = self.lock().kept.len();
        self.idle.sub(kept);
    }
}
