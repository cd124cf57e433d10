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

use http::{Method, Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::auth::{self, Outcome};
use crate::config::Snapshot;
use crate::error::{Body, GatewayError};
use crate::headers;
use crate::path;
use crate::proxy::UpstreamClient;
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
        let result = match request_target(&request) {
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
        let upstream = &snapshot.upstreams[route.upstream];
        let timeout = snapshot.server.upstream_timeout;
        let response = self
            .client
            .forward(upstream, target.clone(), request, timeout)
            .await?;
        Ok(response.map(Either::Left))
    }
}

/// Checks the request target and returns the canonical path with the query untouched.
/// Origin-form (`/path?q`) is the norm; absolute-form (`http://host/path`) is accepted as
/// RFC 9112 section 3.2.2 requires; `*` (only meaningful for `OPTIONS`), authority-form and
/// the methods a reverse proxy must not relay (`CONNECT`, `TRACE`) are refused.
fn request_target(request: &Request<Incoming>) -> Result<PathAndQuery, GatewayError> {
    if request.method() == Method::CONNECT || request.method() == Method::TRACE {
        return Err(GatewayError::MethodNotAllowed);
    }
    let uri = request.uri();
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

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Serves `listener` until `shutdown` resolves, then stops accepting and waits up to
/// `drain` for connections in flight to finish.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new());
    tokio::pin!(shutdown);
    loop {
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
        let gateway = gateway.clone();
        let service = service_fn(move |request| {
            let gateway = gateway.clone();
            async move { Ok::<_, Infallible>(gateway.handle(request, peer).await) }
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(drain) => tracing::warn!("drain timeout reached; closing remaining connections"),
    }
}
