//! Accepting connections: one task per connection, each request handed to the
//! [`Handler`](crate::handler::Handler); the connection cap, the framing guard in front of
//! hyper, hyper's limits, and the graceful drain.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::ServerSettings;
use crate::handler::{Handler, Peer, Sockets};
use crate::state::Gateway;
use crate::{framing, proxy_protocol};

mod answered;
mod drive;
mod stop;
use answered::Answered;
use stop::Stop;

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
    let stop = Stop::new(sockets.closing.clone());
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
        spawn_connection(&handler, &stop, stream, addr, permit);
    }
    drop(listener);
    // Idle keep-alive connections close now, busy ones after their response; relayed
    // WebSockets run on. Whatever is still open when the drain runs out is closed.
    stop.drain();
    sockets.tasks.close();
    let drain = handler.gateway().snapshot().server.shutdown_timeout;
    tokio::select! {
        () = sockets.tasks.wait() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(drain) => tracing::warn!(?drain, "shutdown timeout reached; closing remaining connections"),
    }
    stop.close();
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
fn spawn_connection(
    handler: &Arc<Handler>,
    stop: &Stop,
    stream: TcpStream,
    addr: SocketAddr,
    permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let handler = handler.clone();
    let stop = stop.clone();
    let tasks = handler.sockets().tasks.clone();
    tasks.spawn(async move {
        let snapshot = handler.gateway().snapshot();
        let Some((stream, peer)) = accept_peer(stream, addr, &snapshot.server).await else {
            return;
        };
        let limits = &snapshot.server;
        let gateway = handler.gateway().clone();
        gateway.metrics().connection_opened();
        if first_byte(&stream, limits.idle_timeout, &stop).await {
            let flags = Arc::new(framing::Flags::default());
            let trusted = is_trusted(limits, peer.ip());
            let peer = Arc::new(Peer::new(peer, flags.clone(), trusted, handler.link()));
            let idle = (limits.idle_timeout, limits.idle_park_after);
            let head = limits.request_head_timeout;
            let mut stream = framing::Guarded::new(stream, flags, head, idle);
            // A parked connection waits for its next byte holding only its socket.
            while let Some(mut parked) = serve_http(&handler, stream, &peer, limits, &stop).await {
                peer.upstream.release();
                // The rest of idle_timeout from the last answer: bytes that start no request
                // (empty lines) do not extend it.
                if !first_byte(parked.get_ref(), parked.idle_left(), &stop).await {
                    break;
                }
                parked.unpark();
                stream = parked;
            }
        }
        gateway.metrics().connection_closed();
        drop(permit);
    });
}

/// Serves HTTP on a connection until it ends, driving the connection's upstream connections
/// in the same task. When a drain starts, hyper finishes the request in flight and closes;
/// when the drain runs out, the connection is dropped. A connection the guard parked (idle
/// for `idle_park_after`) is handed back, with hyper's state dropped.
async fn serve_http(
    handler: &Arc<Handler>,
    stream: framing::Guarded<TcpStream>,
    peer: &Arc<Peer>,
    limits: &ServerSettings,
    stop: &Stop,
) -> Option<framing::Guarded<TcpStream>> {
    let addr = peer.addr;
    let mut connection = http_builder(limits)
        .serve_connection(TokioIo::new(stream), service(handler, peer.clone()))
        .with_upgrades();
    let mut watch = stop.watch();
    let mut draining = false;
    let parts = drive::Parts::new();
    let result = std::future::poll_fn(|cx| {
        let (drain, close) = watch.poll(cx);
        if close {
            return Poll::Ready(Ok(()));
        }
        if drain && !draining {
            draining = true;
            Pin::new(&mut connection).graceful_shutdown();
            parts.wake_server();
        }
        // The upstream connections are driven here, in this task, each part polled when it
        // was woken.
        parts.poll(cx, Pin::new(&mut connection), &peer.upstream)
    })
    .await;
    if let Err(error) = result {
        tracing::debug!(%error, peer = %addr, "connection ended with an error");
        return None;
    }
    // Upgraded connections have no parts; a parked one has read nothing of a next request.
    let parts = connection.into_parts()?;
    let stream = parts.io.into_inner();
    (stream.parked() && parts.read_buf.is_empty() && !draining).then_some(stream)
}

/// The hyper service of one connection: every request to the handler, for `peer`.
fn service(
    handler: &Arc<Handler>,
    peer: Arc<Peer>,
) -> impl hyper::service::Service<
    http::Request<hyper::body::Incoming>,
    Response = http::Response<Answered>,
    Error = Infallible,
    Future = InFlight,
> + Clone {
    let handler = handler.clone();
    service_fn(move |request| {
        let handler = handler.clone();
        let peer = peer.clone();
        // Counted when hyper hands the request over, before it reads on: from then on the
        // guard does not take the connection for idle (nor park it).
        peer.flags.started();
        if request.method() == http::Method::CONNECT
            || request.headers().contains_key(http::header::UPGRADE)
        {
            peer.flags.never_park();
        }
        // Boxed: hyper keeps the slot of its service's future for the connection's life, so
        // an unboxed one (several KiB) would stay with every connection that served a request;
        // boxed, the slot is two words and the request's state is freed with its response.
        let in_flight: InFlight = Box::pin(async move {
            let response = handler.handle_contained(request, &peer).await;
            Ok::<_, Infallible>(response.map(|body| Answered::new(body, peer)))
        });
        in_flight
    })
}

/// One request's handling, on the heap while it is in flight (see [`service`]).
type InFlight = Pin<Box<dyn Future<Output = Result<http::Response<Answered>, Infallible>> + Send>>;

/// Waits until the client sends its first byte (or closes): until then a connection holds no
/// hyper state (two 8 KiB buffers and the dispatcher), so an idle connection costs about
/// 2 KiB. The idle timeout and the drain apply here as hyper would apply them; `false` means
/// the connection is to be closed.
async fn first_byte(stream: &TcpStream, idle: Duration, stop: &Stop) -> bool {
    let mut first = [0u8; 1];
    tokio::select! {
        // `peek` waits for a byte (or the end), through readiness false positives.
        ready = tokio::time::timeout(idle, stream.peek(&mut first)) => matches!(ready, Ok(Ok(_))),
        () = stop.draining.cancelled() => false,
        () = stop.closing.cancelled() => false,
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
        .header_read_timeout(None::<Duration>)
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
