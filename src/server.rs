//! Accepting connections: one task per connection, each request handed to the
//! [`Handler`](crate::handler::Handler); the connection cap, the framing guard in front of
//! hyper, hyper's limits, and the graceful drain.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::ServerSettings;
use crate::framing;
use crate::handler::{Handler, Peer};
use crate::state::Gateway;

/// Serves `listener` until `shutdown` resolves, then stops accepting and waits up to the
/// snapshot's `shutdown_timeout` for requests in flight to finish. At most
/// `[server] max_connections` client connections are served at once (read at start); further
/// ones wait in the listen backlog and are accepted as others close, so the ones being served
/// are never affected.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(gateway.snapshot().startup.max_connections));
    serve_with(listener, gateway, shutdown, permits).await
}

/// [`serve`] with a connection cap shared with other accept loops.
pub async fn serve_with(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
    permits: Arc<Semaphore>,
) {
    let graceful = GracefulShutdown::new();
    let connect_timeout = gateway.snapshot().startup.upstream_connect_timeout;
    let handler = Arc::new(Handler::new(gateway, connect_timeout));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Accept errors (EMFILE, ECONNABORTED, ...) are survived, not fatal; a short
                    // pause keeps a full file table from spinning the loop.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        spawn_connection(&handler, &graceful, stream, addr, permit);
    }
    drop(listener);
    let drain = handler.gateway().snapshot().server.shutdown_timeout;
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(drain) => tracing::warn!(?drain, "shutdown timeout reached; closing remaining connections"),
    }
}

/// Serves one accepted connection on its own task, behind the framing guard, under the
/// graceful-shutdown watch; the connection permit is released when it ends.
fn spawn_connection(
    handler: &Arc<Handler>,
    graceful: &GracefulShutdown,
    stream: TcpStream,
    addr: SocketAddr,
    permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let snapshot = handler.gateway().snapshot();
    let limits = &snapshot.server;
    let flags = Arc::new(framing::Flags::default());
    let peer = Arc::new(Peer::new(addr, flags.clone()));
    let stream = framing::Guarded::new(stream, flags, limits.request_head_timeout);
    let service_handler = handler.clone();
    let service = service_fn(move |request| {
        let handler = service_handler.clone();
        let peer = peer.clone();
        async move { Ok::<_, Infallible>(handler.handle_contained(request, &peer).await) }
    });
    let connection =
        graceful.watch(http_builder(limits).serve_connection(TokioIo::new(stream), service));
    let gateway = handler.gateway().clone();
    gateway.metrics().connection_opened();
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, peer = %addr, "connection ended with an error");
        }
        gateway.metrics().connection_closed();
        drop(permit);
    });
}

/// hyper's connection settings from the snapshot's limits.
fn http_builder(limits: &ServerSettings) -> http1::Builder {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        // hyper's header timer starts when a connection waits for its next request: it is the
        // idle timeout. The head itself is timed from its first byte by the guard.
        .header_read_timeout(limits.idle_timeout)
        .max_headers(limits.max_headers)
        // Heads up to the limit reach the handler, which answers a JSON 431; hyper itself cuts
        // off anything far beyond it (a bare 431 and a closed connection).
        .max_buf_size(
            limits
                .max_header_bytes
                .saturating_mul(2)
                .max(16 * 1024)
                .saturating_add(limits.max_uri_bytes),
        );
    http
}
