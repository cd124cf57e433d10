//! Accepting connections and walking each request down the one straight line:
//! [`pipeline::evaluate`] (checks, canonical path, route, token decision) -> header rewrite ->
//! forward. [`Gateway::handle`] is the one place that turns a [`GatewayError`] into a response,
//! counts the request and writes its access-log line.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use futures_util::FutureExt;
use http::uri::PathAndQuery;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{Either, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::request_id::{MakeRequestId, RequestId};

use crate::auth::{AuthError, Identity, Outcome};
use crate::config::Snapshot;
use crate::error::{json_response, Body, GatewayError};
use crate::framing;
use crate::headers::{self, X_AUTH_REPORTED, X_REQUEST_ID};
use crate::metrics::{
    Metrics, ReasonLabels, RequestLabels, RouteLabels, UpstreamErrorLabels, UpstreamLabels,
};
use crate::pipeline::{self, declared_length, RequestHead};
use crate::proxy::{UpstreamBody, UpstreamClient};
use crate::routes::{Policy, Route};

/// The running gateway: the current config snapshot and the metrics, shared by every accept
/// loop.
#[derive(Debug)]
pub struct Gateway {
    snapshot: ArcSwap<Snapshot>,
    metrics: Metrics,
}

/// One accept loop's view: the gateway, plus this loop's own pool of upstream connections, so
/// that with one loop per thread a request and its upstream connection stay on one thread.
#[derive(Debug)]
struct Worker {
    gateway: Arc<Gateway>,
    client: UpstreamClient,
    ids: RequestIds,
}

/// The client side of a connection, formatted once.
struct Peer {
    addr: SocketAddr,
    /// The client's IP as header text, for `X-Forwarded-For`.
    ip: HeaderValue,
    /// What the framing guard found on this connection.
    flags: Arc<framing::Flags>,
}

/// What a forwarded request reports back for the access log.
#[derive(Default)]
struct Forwarded {
    upstream_latency: Option<Duration>,
}

impl Gateway {
    pub fn new(snapshot: Snapshot) -> Arc<Self> {
        Arc::new(Gateway {
            snapshot: ArcSwap::from_pointee(snapshot),
            metrics: Metrics::default(),
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

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

impl Worker {
    /// Answers one request. Never fails: errors become their JSON response here, and this is
    /// the one place that counts the request and writes the access log.
    async fn handle(&self, request: Request<Incoming>, peer: &Peer) -> Response<Body> {
        let started = Instant::now();
        let snapshot = self.gateway.snapshot.load_full();
        let request_id = self.ids.for_request(&request);
        let now = now_ms();
        let head = RequestHead {
            method: request.method(),
            uri: request.uri(),
            version: request.version(),
            headers: request.headers(),
        };
        let mut evaluation = pipeline::evaluate(&snapshot, &head, now);
        let violation = peer.flags.violation();
        if let Some(violation) = violation {
            // A head hyper accepted but freshgate refuses (bare LF, Content-Length with
            // Transfer-Encoding): 400 and the connection closed, never forwarded.
            tracing::debug!(peer = %peer.addr, reason = violation.detail(), "request refused by the framing guard");
            evaluation.verdict = Err(GatewayError::BadRequest(violation.detail()));
        }
        let method = request.method().clone();
        let route = evaluation.route;
        let subject = match &evaluation.verdict {
            Ok(Outcome::Authenticated(identity))
                if snapshot.log_subject
                    && tracing::enabled!(target: "freshgate::access", tracing::Level::INFO) =>
            {
                identity.subject().map(|s| s.into_owned())
            }
            _ => None,
        };
        if let (Some(route), Ok(Outcome::Authenticated(identity))) = (route, &evaluation.verdict) {
            if route.policy == Policy::Fresh {
                self.observe_token_age(route, identity, now);
            }
        }
        let mut forwarded = Forwarded::default();
        let result = match (evaluation.verdict, route, &evaluation.target) {
            (Ok(outcome), Some(route), Some(target)) => {
                self.forward(
                    &snapshot,
                    route,
                    request,
                    target,
                    outcome,
                    peer,
                    &request_id,
                    evaluation.reported.as_ref(),
                    &mut forwarded,
                )
                .await
            }
            (Ok(_), _, _) => Err(GatewayError::NotFound),
            (Err(error), _, _) => Err(error),
        };
        let path = evaluation.target.as_ref().map_or("-", PathAndQuery::path);
        let (mut response, decision, reason) = match result {
            Ok(response) => {
                let decision = if evaluation.reported.is_some() {
                    "reported"
                } else {
                    "forwarded"
                };
                (
                    response,
                    decision,
                    evaluation.reported.as_ref().map_or("-", |e| e.reason()),
                )
            }
            Err(error) => {
                let decision = if error.is_client_error() {
                    "rejected"
                } else {
                    "upstream_error"
                };
                let reason = error.reason();
                if !error.is_client_error() {
                    tracing::warn!(request.id = request_id.to_str().unwrap_or("-"), http.path = path, %error, "upstream exchange failed");
                }
                (
                    error.into_response(route.and_then(|r| r.max_age)),
                    decision,
                    reason,
                )
            }
        };
        response
            .headers_mut()
            .insert(X_REQUEST_ID, request_id.clone());
        if violation.is_some() {
            response
                .headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        let status = response.status().as_u16();
        let latency = started.elapsed();
        self.count(route, decision, reason, status, latency);
        tracing::event!(
            target: "freshgate::access",
            tracing::Level::INFO,
            request.id = request_id.to_str().unwrap_or("-"),
            http.method = method.as_str(),
            http.path = path,
            route.id = route.map_or("-", |r| &*r.name),
            route.policy = route.map_or("-", |r| r.policy.as_str()),
            auth.decision = decision,
            auth.reason = reason,
            http.status = status,
            latency_us = latency.as_micros() as u64,
            upstream.latency_us = forwarded.upstream_latency.map(|d| d.as_micros() as u64),
            auth.subject = subject.as_deref(),
        );
        response
    }

    fn count(
        &self,
        route: Option<&Route>,
        decision: &'static str,
        reason: &'static str,
        status: u16,
        latency: Duration,
    ) {
        let m = &self.gateway.metrics;
        m.request_duration.observe(latency.as_secs_f64());
        m.requests
            .get_or_create(&RequestLabels {
                route: route.map_or_else(no_route_label, |r| r.name.clone()),
                policy: route.map_or("-", |r| r.policy.as_str()),
                decision,
                status,
            })
            .inc();
        if decision == "rejected" || decision == "reported" {
            // Only what report mode let through counts as "report"; a 400 or 413 on a
            // report-mode route was enforced.
            let mode = match decision {
                "reported" => "report",
                _ => "enforce",
            };
            m.rejections
                .get_or_create(&ReasonLabels { reason, mode })
                .inc();
        }
    }

    /// On fresh routes: how long ago the user authenticated (`auth_time`, else `iat`).
    fn observe_token_age(&self, route: &Route, identity: &Identity, now_ms: i64) {
        let claims = &identity.claims;
        let authenticated = claims
            .get("auth_time")
            .or_else(|| claims.get("iat"))
            .and_then(Value::as_f64);
        if let Some(at) = authenticated {
            let age = (now_ms as f64 / 1000.0 - at).max(0.0);
            self.gateway
                .metrics
                .fresh_token_age
                .get_or_create(&RouteLabels {
                    route: route.name.clone(),
                })
                .observe(age);
        }
    }

    /// [`Gateway::handle`], with a panic (a bug, never a client's doing) contained to its
    /// request: it is logged and answered 500, and the process and other connections go on.
    async fn handle_contained(&self, request: Request<Incoming>, peer: &Peer) -> Response<Body> {
        match AssertUnwindSafe(self.handle(request, peer))
            .catch_unwind()
            .await
        {
            Ok(response) => response,
            Err(_) => {
                tracing::error!(peer = %peer.addr, "request handler panicked; answered 500");
                json_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn forward(
        &self,
        snapshot: &Snapshot,
        route: &Route,
        mut request: Request<Incoming>,
        target: &PathAndQuery,
        outcome: Outcome,
        peer: &Peer,
        request_id: &HeaderValue,
        reported: Option<&AuthError>,
        forwarded: &mut Forwarded,
    ) -> Result<Response<Body>, GatewayError> {
        if let Some(authority) = request.uri().authority() {
            // Absolute-form target: RFC 9112 section 3.2.2 says its authority replaces Host.
            if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
                request.headers_mut().insert(http::header::HOST, host);
            }
        }
        let headers = request.headers_mut();
        headers::remove_hop_by_hop(headers);
        headers::remove_identity(headers);
        headers::set_forwarded(headers, &peer.ip);
        // After the hop-by-hop removal, so `Connection: X-Request-Id` cannot take it away.
        headers.insert(X_REQUEST_ID, request_id.clone());
        if let Some(reported) = reported {
            // Report mode: the upstream learns that enforcement would have rejected this.
            headers.insert(X_AUTH_REPORTED, HeaderValue::from_static(reported.reason()));
        }
        if let Outcome::Authenticated(identity) = &outcome {
            headers::set_identity(headers, identity);
            headers::set_claims(headers, identity, &snapshot.forward.claims);
        }
        if route
            .strip_authorization
            .unwrap_or(snapshot.forward.strip_authorization)
        {
            headers::strip_token(headers, &snapshot.auth);
        }
        let limit = route.max_body_bytes.or(snapshot.server.max_body_bytes);
        let request = limit_body(request, limit);
        let upstream = &snapshot.upstreams[route.upstream];
        let timeout = snapshot.server.upstream_timeout;
        let started = Instant::now();
        let result = self
            .client
            .forward(
                upstream,
                target.clone(),
                request,
                timeout,
                snapshot.server.request_head_timeout,
            )
            .await;
        let elapsed = started.elapsed();
        forwarded.upstream_latency = Some(elapsed);
        let labels = UpstreamLabels {
            upstream: upstream.name.clone(),
        };
        let metrics = &self.gateway.metrics;
        metrics
            .upstream_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if let Err(error) = &result {
            let kind = match error {
                GatewayError::GatewayTimeout => Some("timeout"),
                GatewayError::BadGateway(_) => Some("unavailable"),
                _ => None,
            };
            if let Some(kind) = kind {
                metrics
                    .upstream_errors
                    .get_or_create(&UpstreamErrorLabels {
                        upstream: upstream.name.clone(),
                        kind,
                    })
                    .inc();
            }
        }
        Ok(result?.map(Either::Left))
    }
}

/// Request ids: the client's `X-Request-Id` when it is a sane token (1 to 128 visible ASCII
/// characters), otherwise `<random per process>-<counter>`: unique across replicas and
/// restarts without a `getrandom` system call per request (a UUID v4 each time cost 2% of CPU).
#[derive(Debug)]
struct RequestIds {
    prefix: String,
    next: std::sync::atomic::AtomicU64,
}

impl Default for RequestIds {
    fn default() -> Self {
        let random = uuid::Uuid::new_v4().simple().to_string();
        RequestIds {
            prefix: random[..12].to_string(),
            next: std::sync::atomic::AtomicU64::new(1),
        }
    }
}

impl RequestIds {
    fn for_request<B>(&self, request: &Request<B>) -> HeaderValue {
        if let Some(id) = request.headers().get(X_REQUEST_ID) {
            let bytes = id.as_bytes();
            if (1..=128).contains(&bytes.len()) && bytes.iter().all(|b| (0x21..0x7f).contains(b)) {
                return id.clone();
            }
        }
        let mut ids = self;
        ids.make_request_id(request)
            .map_or(HeaderValue::from_static("-"), RequestId::into_header_value)
    }
}

/// tower-http's request-id interface, so the generator can also serve a tower stack.
impl MakeRequestId for &RequestIds {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Only hex digits and '-': always a valid header value.
        HeaderValue::from_str(&format!("{}-{n:x}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// Applies the route's body limit to a body of unknown length: it is cut off at the limit
/// while streaming (the upstream exchange then fails and the client gets 413). A declared
/// `Content-Length` above the limit was already refused by [`pipeline::evaluate`].
fn limit_body(request: Request<Incoming>, limit: Option<u64>) -> Request<UpstreamBody> {
    match limit {
        Some(limit) if declared_length(request.headers()).is_none() => {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            request.map(|body| Either::Right(Limited::new(body, limit)))
        }
        _ => request.map(Either::Left),
    }
}

/// The metrics label of requests that matched no route, built once rather than per 404.
fn no_route_label() -> Arc<str> {
    static LABEL: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
    LABEL.get_or_init(|| Arc::from("-")).clone()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

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
    let permits = Arc::new(Semaphore::new(gateway.snapshot().server.max_connections));
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
    let worker = Arc::new(Worker {
        client: UpstreamClient::new(gateway.snapshot().server.upstream_connect_timeout),
        gateway,
        ids: RequestIds::default(),
    });
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
        let _ = stream.set_nodelay(true);
        let limits = &worker.gateway.snapshot().server;
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            // hyper's header timer starts when a connection waits for its next request: it is
            // the idle timeout. The head itself is timed from its first byte by the guard.
            .header_read_timeout(limits.idle_timeout)
            .max_headers(limits.max_headers)
            // Heads up to the limit reach the handler, which answers a JSON 431; hyper itself
            // cuts off anything far beyond it (a bare 431 and a closed connection).
            .max_buf_size(
                limits
                    .max_header_bytes
                    .saturating_mul(2)
                    .max(16 * 1024)
                    .saturating_add(limits.max_uri_bytes),
            );
        let flags = Arc::new(framing::Flags::default());
        let peer = Arc::new(Peer {
            addr,
            // An IP address is always a valid header value.
            ip: HeaderValue::from_str(&addr.ip().to_string())
                .unwrap_or(HeaderValue::from_static("unknown")),
            flags: flags.clone(),
        });
        let stream = framing::Guarded::new(stream, flags, limits.request_head_timeout);
        let service_worker = worker.clone();
        let service = service_fn(move |request| {
            let worker = service_worker.clone();
            let peer = peer.clone();
            async move { Ok::<_, Infallible>(worker.handle_contained(request, &peer).await) }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        let gauge = worker.gateway.metrics.open_connections.clone();
        gauge.inc();
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, peer = %addr, "connection ended with an error");
            }
            gauge.dec();
            drop(permit);
        });
    }
    drop(listener);
    let drain = worker.gateway.snapshot().server.shutdown_timeout;
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(drain) => tracing::warn!(?drain, "shutdown timeout reached; closing remaining connections"),
    }
}
