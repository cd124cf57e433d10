//! Accepting connections: one task per connection, each request handed to the
//! [`Handler`](crate::handler::Handler); the connection cap, the framing guard in front of
//! hyper, hyper's limits, and the graceful drain.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::ServerSettings;
use crate::handler::{Handler, Peer, Sockets};
use crate::state::Gateway;
use crate::{framing, proxy_protocol};

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
    let sockets = Sockets::default();
    let draining = CancellationToken::new();
    let connect_timeout = gateway.snapshot().startup.upstream_connect_timeout;
    let handler = Arc::new(Handler::new(gateway, connect_timeout, sockets.clone()));
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
        spawn_connection(&handler, &draining, stream, addr, permit);
    }
    drop(listener);
    // Idle keep-alive connections close now, busy ones after their response; relayed
    // WebSockets run on. Whatever is still open when the drain runs out is closed.
    draining.cancel();
    sockets.tasks.close();
    let drain = handler.gateway().snapshot().server.shutdown_timeout;
    tokio::select! {
        () = sockets.tasks.wait() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(drain) => tracing::warn!(?drain, "shutdown timeout reached; closing remaining connections"),
    }
    sockets.closing.cancel();
    // Closing is prompt: every task stops at its next poll.
    let _ = tokio::time::timeout(Duration::from_secs(1), sockets.tasks.wait()).await;
}

/// Accepts connections on a side listener (admin, forward-auth) until `shutdown` resolves,
/// handing each to `serve`; accept errors are survived, not fatal.
pub async fn accept_until(
    listener: TcpListener,
    what: &'static str,
    shutdown: impl Future<Output = ()>,
    mut serve: impl FnMut(TcpStream),
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => serve(stream),
                Err(error) => {
                    tracing::warn!(%error, listener = what, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => return,
        }
    }
}

/// Serves one accepted connection on its own task, behind the framing guard (and, with
/// `proxy_protocol`, after its PROXY header); the connection permit is released when it ends.
/// When `draining` fires, hyper finishes the request in flight and closes; when the handler's
/// `closing` fires, the connection is dropped.
fn spawn_connection(
    handler: &Arc<Handler>,
    draining: &CancellationToken,
    stream: TcpStream,
    addr: SocketAddr,
    permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let handler = handler.clone();
    let (draining, closing) = (draining.clone(), handler.sockets().closing.clone());
    let tasks = handler.sockets().tasks.clone();
    tasks.spawn(async move {
        let snapshot = handler.gateway().snapshot();
        let Some((stream, peer)) = accept_peer(stream, addr, &snapshot.server).await else {
            return;
        };
        let limits = &snapshot.server;
        let gateway = handler.gateway().clone();
        gateway.metrics().connection_opened();
        if !first_byte(&stream, limits.idle_timeout, &draining, &closing).await {
            gateway.metrics().connection_closed();
            drop(permit);
            return;
        }
        let flags = Arc::new(framing::Flags::default());
        let peer = Arc::new(Peer::new(
            peer,
            flags.clone(),
            is_trusted(limits, peer.ip()),
        ));
        let stream = framing::Guarded::new(stream, flags, limits.request_head_timeout);
        let connection = http_builder(limits)
            .serve_connection(TokioIo::new(stream), service(&handler, peer))
            .with_upgrades();
        let mut connection = std::pin::pin!(connection);
        let mut drain = std::pin::pin!(draining.cancelled_owned());
        let mut close = std::pin::pin!(closing.cancelled_owned());
        let mut draining = false;
        let result = std::future::poll_fn(|cx| {
            if !draining && drain.as_mut().poll(cx).is_ready() {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
            if close.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            connection.as_mut().poll(cx)
        })
        .await;
        if let Err(error) = result {
            tracing::debug!(%error, peer = %addr, "connection ended with an error");
        }
        gateway.metrics().connection_closed();
        drop(permit);
    });
}

/// The hyper service of one connection: every request to the handler, for `peer`.
fn service(
    handler: &Arc<Handler>,
    peer: Arc<Peer>,
) -> impl hyper::service::Service<
    http::Request<hyper::body::Incoming>,
    Response = http::Response<crate::error::Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<http::Response<crate::error::Body>, Infallible>> + Send,
> + Clone {
    let handler = handler.clone();
    service_fn(move |request| {
        let handler = handler.clone();
        let peer = peer.clone();
        async move { Ok::<_, Infallible>(handler.handle_contained(request, &peer).await) }
    })
}

/// Waits until the client sends its first byte (or closes): until then a connection holds no
/// hyper state (two 8 KiB buffers and the dispatcher), so an idle connection costs about
/// 2 KiB. The idle timeout and the drain apply here as hyper would apply them; `false` means
/// the connection is to be closed.
async fn first_byte(
    stream: &TcpStream,
    idle: Duration,
    draining: &CancellationToken,
    closing: &CancellationToken,
) -> bool {
    let mut first = [0u8; 1];
    tokio::select! {
        // `peek` waits for a byte (or the end), through readiness false positives.
        ready = tokio::time::timeout(idle, stream.peek(&mut first)) => matches!(ready, Ok(Ok(_))),
        () = draining.cancelled() => false,
        () = closing.cancelled() => false,
    }
}

fn is_trusted(limits: &ServerSettings, ip: std::net::IpAddr) -> bool {
    limits.trusted_proxies.iter().any(|net| net.contains(&ip))
}

/// The connection's client: the TCP peer, or with `proxy_protocol` the client its PROXY header
/// names. `None` closes the connection: with the PROXY protocol on, a peer that is not a trusted
/// proxy, or a missing, truncated or invalid header.
async fn accept_peer(
    mut stream: TcpStream,
    addr: SocketAddr,
    limits: &ServerSettings,
) -> Option<(TcpStream, SocketAddr)> {
    let Some(protocol) = limits.proxy_protocol else {
        return Some((stream, addr));
    };
    if !is_trusted(limits, addr.ip()) {
        tracing::debug!(peer = %addr, "PROXY protocol from a peer that is not a trusted proxy; closed");
        return None;
    }
    match proxy_protocol::read_header(&mut stream, protocol, limits.request_head_timeout).await {
        Ok(client) => Some((stream, client.unwrap_or(addr))),
        Err(error) => {
            tracing::debug!(peer = %addr, %error, "PROXY header refused; closed");
            None
        }
    }
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
