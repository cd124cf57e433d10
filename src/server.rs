//! Accepting connections and walking each request down the one straight line:
//! route lookup -> token decision -> header rewrite -> forward, with [`GatewayError`] turned into
//! a response, and the access log written, in exactly one place ([`Gateway::handle`]).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use http::uri::PathAndQuery;
use std::borrow::Cow;

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use http::header::HOST;
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::Limited;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::auth::{self, Outcome};
use crate::config::{ServerSettings, Snapshot};
use crate::error::{Body, GatewayError};
use crate::headers;
use crate::path;
use crate::proxy::{UpstreamBody, UpstreamClient};
use crate::routes::Route;
use http_body_util::Either;

/// The running gateway: the current config snapshot and the shared upstream client.
#[derive(Debug)]
pub struct Gateway {
    snapshot: ArcSwap<Snapshot>,
    client: UpstreamClient,
}

/// What the access log records about a request that got an answer.
#[derive(Default)]
struct Decision<'a> {
    /// The canonical path and query, once the target was accepted.
    path: Option<PathAndQuery>,
    route: Option<&'a Route>,
}

impl Gateway {
    pub fn new(snapshot: Snapshot) -> Arc<Self> {
        let client = UpstreamClient::new(snapshot.server.upstream_connect_timeout);
        Arc::new(Gateway {
            snapshot: ArcSwap::from_pointee(snapshot),
            client,
        })
    }

    /// The snapshot new requests will use.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Swaps in a new snapshot; requests already running keep the one they started with.
    pub fn replace(&self, snapshot: Snapshot) {
        self.snapshot.store(Arc::new(snapshot));
    }

    /// Answers one request. Never fails: errors become their JSON response here, and this is
    /// the one place that writes the access log.
    pub async fn handle(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let started = Instant::now();
        let snapshot = self.snapshot.load_full();
        let method = request.method().clone();
        let mut decision = Decision::default();
        let result = match check_request(&request, &snapshot.server) {
            Ok(target) => {
                let result = self
                    .forward(&snapshot, request, &target, peer, &mut decision)
                    .await;
                decision.path = Some(target);
                result
            }
            Err(error) => Err(error),
        };
        let latency_us = started.elapsed().as_micros() as u64;
        let path = decision.path.as_ref().map_or("-", PathAndQuery::path);
        let route = decision.route.map_or("-", |r| r.name.as_str());
        let policy = decision.route.map_or("-", |r| r.policy.as_str());
        match result {
            Ok(response) => {
                tracing::info!(http.method = %method, http.path = path, route.id = route,
                    route.policy = policy, auth.outcome = "forwarded",
                    http.status = response.status().as_u16(), latency_us);
                response
            }
            Err(error) => {
                let status = error.status().as_u16();
                let reason = error.reason();
                if error.is_client_error() {
                    tracing::info!(http.method = %method, http.path = path, route.id = route,
                        route.policy = policy, auth.outcome = "rejected", auth.reason = reason,
                        http.status = status, latency_us);
                } else {
                    tracing::warn!(http.method = %method, http.path = path, route.id = route,
                        route.policy = policy, auth.outcome = "upstream_error", error = %error,
                        http.status = status, latency_us);
                }
                error.into_response()
            }
        }
    }

    /// [`Gateway::handle`], with a panic (a bug, never a client's doing) contained to its
    /// request: it is logged and answered 500, and the process and other connections go on.
    async fn handle_contained(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Body> {
        match AssertUnwindSafe(self.handle(request, peer))
            .catch_unwind()
            .await
        {
            Ok(response) => response,
            Err(_) => {
                tracing::error!(%peer, "request handler panicked; answered 500");
                crate::error::json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error",
                )
            }
        }
    }

    async fn forward<'a>(
        &self,
        snapshot: &'a Snapshot,
        mut request: Request<Incoming>,
        target: &PathAndQuery,
        peer: SocketAddr,
        decision: &mut Decision<'a>,
    ) -> Result<Response<Body>, GatewayError> {
        let route = snapshot
            .routes
            .lookup(request.method(), target.path())
            .ok_or(GatewayError::NotFound)?;
        decision.route = Some(route);
        let outcome = auth::decide(&snapshot.auth, route.policy, request.headers(), now_ms())
            .map_err(GatewayError::Auth)?;
        if let Some(authority) = request.uri().authority() {
            // Absolute-form target: RFC 9112 section 3.2.2 says its authority replaces Host.
            if let Ok(host) = http::HeaderValue::from_str(authority.as_str()) {
                request.headers_mut().insert(http::header::HOST, host);
            }
        }
        let headers = request.headers_mut();
        headers::remove_hop_by_hop(headers);
        headers::remove_identity(headers);
        headers::set_forwarded(headers, peer.ip());
        if let Outcome::Authenticated(identity) = &outcome {
            headers::set_identity(headers, identity);
        }
        let limit = route.max_body_bytes.or(snapshot.server.max_body_bytes);
        let request = limit_body(request, limit)?;
        let upstream = &snapshot.upstreams[route.upstream];
        let timeout = snapshot.server.upstream_timeout;
        let response = self
            .client
            .forward(upstream, target.clone(), request, timeout)
            .await?;
        Ok(response.map(Either::Left))
    }
}

/// Checks the request against the limits and returns the canonical path with the query
/// untouched. Origin-form (`/path?q`) is the norm; absolute-form (`http://host/path`) is
/// accepted as RFC 9112 section 3.2.2 requires; `*` (only meaningful for `OPTIONS`),
/// authority-form and the methods a reverse proxy must not relay (`CONNECT`, `TRACE`) are
/// refused.
fn check_request(
    request: &Request<Incoming>,
    limits: &ServerSettings,
) -> Result<PathAndQuery, GatewayError> {
    if request.method() == Method::CONNECT || request.method() == Method::TRACE {
        return Err(GatewayError::MethodNotAllowed);
    }
    // RFC 9112 section 3.2: a server MUST answer 400 to an HTTP/1.1 request without Host.
    // HTTP/1.0 requests may omit it; the upstream then gets its own authority as Host.
    if request.version() == Version::HTTP_11
        && request.uri().authority().is_none()
        && !request.headers().contains_key(HOST)
    {
        return Err(GatewayError::BadRequest("Missing Host header"));
    }
    let uri = request.uri();
    if uri.path_and_query().map_or(0, |p| p.as_str().len()) > limits.max_uri_bytes {
        return Err(GatewayError::UriTooLong);
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > limits.max_header_bytes {
        return Err(GatewayError::HeadersTooLarge);
    }
    if uri.scheme().is_some_and(|s| s != &http::uri::Scheme::HTTP) {
        return Err(GatewayError::BadRequest(
            "Only http absolute-form targets are accepted",
        ));
    }
    let original = uri.path_and_query().ok_or(GatewayError::BadRequest(
        "Request target must be an absolute path",
    ))?;
    let canonical =
        path::canonicalize(original.path()).map_err(|e| GatewayError::BadRequest(e.detail()))?;
    if let Cow::Borrowed(_) = canonical {
        return Ok(original.clone());
    }
    let rebuilt = match original.query() {
        Some(query) => format!("{canonical}?{query}"),
        None => canonical.into_owned(),
    };
    PathAndQuery::try_from(rebuilt)
        .map_err(|_| GatewayError::BadRequest("Request target must be an absolute path"))
}

/// Applies the route's body limit: a declared `Content-Length` above it is refused before
/// anything is forwarded; a body of unknown length is cut off at the limit while streaming
/// (the upstream exchange then fails and the client gets 413).
fn limit_body(
    request: Request<Incoming>,
    limit: Option<u64>,
) -> Result<Request<UpstreamBody>, GatewayError> {
    let Some(limit) = limit else {
        return Ok(request.map(Either::Left));
    };
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > limit => Err(GatewayError::PayloadTooLarge),
        Some(_) => Ok(request.map(Either::Left)),
        None => {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            Ok(request.map(|body| Either::Right(Limited::new(body, limit))))
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Serves `listener` until `shutdown` resolves, then stops accepting and waits up to
/// `drain` for connections in flight to finish. At most `[server] max_connections` client
/// connections are served at once (read at start); further ones wait in the listen backlog
/// and are accepted as others close, so the ones being served are never affected.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(gateway.snapshot().server.max_connections));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
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
        let _ = stream.set_nodelay(true);
        let limits = &gateway.snapshot().server;
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.request_head_timeout)
            .max_headers(limits.max_headers)
            // Heads up to the limit reach the handler, which answers a JSON 431; hyper itself
            // cuts off anything far beyond it (a bare 431 and a closed connection).
            .max_buf_size((limits.max_header_bytes * 2).max(16 * 1024) + limits.max_uri_bytes);
        let service_gateway = gateway.clone();
        let service = service_fn(move |request| {
            let gateway = service_gateway.clone();
            async move { Ok::<_, Infallible>(gateway.handle_contained(request, peer).await) }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(drain) => tracing::warn!("drain timeout reached; closing remaining connections"),
    }
}
