//! The upstream connections a client connection owns. freshgate's upstream client is
//! connection-affine: a client connection keeps one keep-alive connection to the upstream of
//! its last request, and drives it in its own task ([`Link::poll_drive`], called by the
//! server's connection loop), so a request never goes through a shared pool, a channel to
//! another task or a lock another request holds. Upstream connections are so bounded by the
//! client connections being served (`[server] max_connections`, shared by the workers), and
//! close with them.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use http::uri::Authority;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::Sending;

/// An upstream HTTP/1.1 connection's driver.
pub(super) type Conn = Connection<TokioIo<TcpStream>, Sending>;

/// A client connection's upstream connections: the one kept for the next request, and every
/// one still being driven (a connection whose sender was dropped finishes its exchange, or
/// closes, here).
#[derive(Default)]
pub struct Link {
    state: Mutex<State>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Link")
            .field("held", &state.held.as_ref().map(|h| &h.authority))
            .field("driving", &state.driving.len())
            .finish()
    }
}

#[derive(Default)]
struct State {
    held: Option<Held>,
    driving: Vec<(u64, Conn)>,
    opened: u64,
}

/// A connection's sending half, checked out by the request that uses it.
pub(super) struct Held {
    pub id: u64,
    pub authority: Authority,
    pub sender: SendRequest<Sending>,
}

impl Link {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Only this connection's task locks it, one step at a time: a poisoned lock can only
        // come from a panic in that same task, whose state is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drives the upstream connections: reads their responses, writes their requests, and
    /// drops the ones that have ended. The client connection's task calls this on every poll,
    /// before and after polling the client connection.
    pub fn poll_drive(&self, cx: &mut Context<'_>) {
        let mut state = self.lock();
        if state.driving.is_empty() {
            return;
        }
        let State { held, driving, .. } = &mut *state;
        driving.retain_mut(|(id, conn)| match Pin::new(conn).poll(cx) {
            Poll::Pending => true,
            Poll::Ready(result) => {
                if let Err(error) = result {
                    tracing::debug!(%error, "upstream connection ended with an error");
                }
                if held.as_ref().is_some_and(|h| h.id == *id) {
                    *held = None;
                }
                false
            }
        });
    }

    /// The kept connection, when it goes to `authority` and is still open.
    pub(super) fn checkout(&self, authority: &Authority) -> Option<Held> {
        let held = self.lock().held.take()?;
        (held.authority == *authority && !held.sender.is_closed()).then_some(held)
    }

    /// Keeps `held` for the next request.
    pub(super) fn checkin(&self, held: Held) {
        self.lock().held = Some(held);
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
        state.driving.push((id, conn));
        Held {
            id,
            authority: authority.clone(),
            sender,
        }
    }

    /// Closes a connection whose exchange failed or was abandoned: it is never used again.
    pub(super) fn discard(&self, id: u64) {
        let mut state = self.lock();
        state.driving.retain(|(i, _)| *i != id);
        if state.held.as_ref().is_some_and(|h| h.id == id) {
            state.held = None;
        }
    }
}
