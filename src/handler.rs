//! One request, from its head to its response: the outer [`Handler::handle`] turns any
//! [`GatewayError`] into the response, decorates it, counts the request once and writes its one
//! access-log line; the inner [`Handler::try_handle`] walks the straight line
//! (framing verdict -> [`pipeline::evaluate`] -> [`headers::rewrite_request`] -> [`proxy`]) and
//! uses `?`. What the request learns on the way is kept in its [`Exchange`].

use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{Either, Limited};
use hyper::body::Incoming;

use crate::auth::{Identity, Policy, Revocation};
use crate::clock;
use crate::config::{Snapshot, WebSocketReject};
use crate::error::{json_response, Body, GatewayError};
use crate::framing;
use crate::headers::{self, Forward, X_REQUEST_ID};
use crate::pipeline::{declared_length, Evaluation, RequestHead};
use crate::proxy::{Limits, Link, UpstreamBody, UpstreamClient};
pub use crate::request_id::RequestIds;
use crate::routes::Route;
use crate::state::Gateway;
use crate::websocket;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What became of a request, for the access log and the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Forwarded, and the upstream answered.
    Forwarded,
    /// Report mode: forwarded although enforcement would have rejected it.
    Reported,
    /// Answered by freshgate with a 4xx: the client's doing.
    Rejected,
    /// The upstream could not be reached, broke the exchange or timed out.
    UpstreamError,
    /// A CORS preflight, forwarded without a token check.
    Preflight,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Forwarded => "forwarded",
            Decision::Reported => "reported",
            Decision::Rejected => "rejected",
            Decision::UpstreamError => "upstream_error",
            Decision::Preflight => "preflight",
        }
    }
}

/// The record of one request: what the handler learned on its way, logged and counted once by
/// the outer handler.
#[derive(Debug)]
pub struct Exchange<'s> {
    pub started: Instant,
    /// The snapshot this request uses from start to end.
    pub snapshot: &'s Snapshot,
    pub request_id: HeaderValue,
    pub method: Method,
    /// The canonical path and the untouched query, once the target was accepted.
    pub target: Option<PathAndQuery>,
    pub route: Option<&'s Route>,
    pub decision: Decision,
    /// A stable label: the rejection's reason, or report mode's would-be reason; `-` otherwise.
    pub reason: &'static str,
    /// The token's subject, for the access log (`[log] subject`).
    pub subject: Option<String>,
    pub upstream_latency: Option<Duration>,
    pub status: StatusCode,
    /// The framing guard refused the request: the connection closes after the answer.
    pub close: bool,
    /// The client's address (behind trusted proxies, from `X-Forwarded-For`).
    pub client: Option<IpAddr>,
}

impl<'s> Exchange<'s> {
    pub(crate) fn new(snapshot: &'s Snapshot, request_id: HeaderValue, method: Method) -> Self {
        Exchange {
            started: Instant::now(),
            snapshot,
            request_id,
            method,
            target: None,
            route: None,
            decision: Decision::Forwarded,
            reason: "-",
            subject: None,
            upstream_latency: None,
            status: StatusCode::OK,
            close: false,
            client: None,
        }
    }

    /// The request's path for logs, `-` before the target was accepted.
    pub fn path(&self) -> &str {
        self.target.as_ref().map_or("-", PathAndQuery::path)
    }

    /// What a forwarded request is: a preflight, or report mode's would-be rejection.
    fn decide(&mut self, preflight: bool, reported: Option<&crate::auth::AuthError>) {
        if preflight {
            self.decision = Decision::Preflight;
        }
        if let Some(reported) = reported {
            self.decision = Decision::Reported;
            self.reason = reported.reason();
        }
    }

    /// Report mode's would-be rejection reason, for the `X-Auth-Reported` marker.
    fn reported(&self) -> Option<&'static str> {
        (self.decision == Decision::Reported).then_some(self.reason)
    }

    /// Turns an error into its response and records it as the decision.
    pub(crate) fn fail(&mut self, error: GatewayError) -> Response<Body> {
        self.reason = error.reason();
        self.decision = match error.is_client_error() {
            true => Decision::Rejected,
            false => {
                tracing::warn!(request.id = self.request_id.to_str().unwrap_or("-"), http.path = self.path(), %error, "upstream exchange failed");
                Decision::UpstreamError
            }
        };
        error.into_response(self.route.and_then(|r| r.rule.max_age), &self.snapshot.auth)
    }

    /// The access-log line (target `freshgate::access`).
    pub(crate) fn log(&self, latency: Duration) {
        tracing::event!(
            target: "freshgate::access",
            tracing::Level::INFO,
            request.id = self.request_id.to_str().unwrap_or("-"),
            client.address = self
                .client
                .map(|ip| tracing::field::display(crate::logging::Address(ip))),
            http.method = self.method.as_str(),
            http.path = self.path(),
            route.id = self.route.map_or("-", |r| &*r.name),
            route.policy = self.route.map_or("-", |r| r.policy().as_str()),
            auth.decision = self.decision.as_str(),
            auth.reason = self.reason,
            http.status = self.status.as_u16(),
            latency_us = latency.as_micros() as u64,
            upstream.latency_us = self.upstream_latency.map(|d| d.as_micros() as u64),
            auth.subject = self.subject.as_deref(),
        );
    }
}

/// The client side of a connection, formatted once per connection.
#[derive(Debug)]
pub struct Peer {
    /// The TCP peer, or the client a PROXY header named.
    pub addr: SocketAddr,
    /// The peer's IP as header text, for `X-Forwarded-For`.
    pub ip: HeaderValue,
    /// The peer is one of `[server] trusted_proxies`: its `X-Forwarded-*` are believed.
    pub trusted: bool,
    /// What the framing guard found on this connection.
    pub flags: Arc<framing::Flags>,
    /// The connection's own upstream connections, driven by its task.
    pub upstream: Link,
}

impl Peer {
    pub fn new(
        addr: SocketAddr,
        flags: Arc<framing::Flags>,
        trusted: bool,
        upstream: Link,
    ) -> Self {
        Peer {
            addr,
            // An IP address is always a valid header value.
            ip: HeaderValue::from_str(&addr.ip().to_string())
                .unwrap_or(HeaderValue::from_static("unknown")),
            trusted,
            flags,
            upstream,
        }
    }

    /// The client's address: the peer's, or behind trusted proxies the right-most
    /// `X-Forwarded-For` entry that is not a trusted proxy.
    fn client(&self, headers: &http::HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
        if !self.trusted {
            return self.addr.ip();
        }
        let chain = headers
            .get_all(crate::headers::X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpAddr>()
                    .or_else(|_| entry.parse::<SocketAddr>().map(|a| a.ip()))
                    .ok()
            })
            .collect::<Vec<_>>();
        chain
            .iter()
            .rev()
            .find(|ip| !trusted.iter().any(|net| net.contains(*ip)))
            .or(chain.first())
            .copied()
            .unwrap_or(self.addr.ip())
    }
}

/// One accept loop's request handler: the gateway and how to reach upstreams. Each client
/// connection's [`Peer`] owns its upstream connection, driven in that connection's task, so a
/// request and its upstream connection stay on one thread.
#[derive(Debug)]
pub struct Handler {
    gateway: Arc<Gateway>,
    client: UpstreamClient,
    ids: RequestIds,
    /// Relayed and refused WebSockets, which outlive their request; drained at shutdown.
    sockets: Sockets,
}

/// The tasks that serve upgraded connections, and the signal that ends them when shutdown's
/// drain runs out.
#[derive(Debug, Clone, Default)]
pub struct Sockets {
    pub tasks: TaskTracker,
    pub closing: CancellationToken,
}

impl Handler {
    pub fn new(gateway: Arc<Gateway>, connect_timeout: Duration, sockets: Sockets) -> Self {
        Handler {
            gateway,
            client: UpstreamClient::new(connect_timeout),
            ids: RequestIds::default(),
            sockets,
        }
    }

    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    pub fn sockets(&self) -> &Sockets {
        &self.sockets
    }

    /// The upstream side of a new client connection of this worker.
    pub fn link(&self) -> Link {
        self.client.link()
    }

    /// [`Handler::handle`], with a panic (a bug, never a client's doing) contained to its
    /// request: it is logged and answered 500, and the process and other connections go on.
    pub async fn handle_contained(
        &self,
        request: Request<Incoming>,
        peer: &Peer,
    ) -> Response<Body> {
        match AssertUnwindSafe(self.handle(request, peer))
            .catch_unwind()
            .await
        {
            Ok(response) => response,
            Err(_) => {
                tracing::error!(peer = %peer.addr, "request handler panicked; answered 500");
                let body = crate::error::json_body("detail", "Internal Server Error");
                json_response(StatusCode::INTERNAL_SERVER_ERROR, body)
            }
        }
    }

    /// Answers one request. Never fails: this is the one place that turns errors into
    /// responses, counts the request and writes the access log.
    async fn handle(&self, request: Request<Incoming>, peer: &Peer) -> Response<Body> {
        let snapshot = self.gateway.snapshot();
        let request_id = self.ids.for_request(&request);
        let mut exchange = Exchange::new(&snapshot, request_id, request.method().clone());
        exchange.client = Some(peer.client(request.headers(), &snapshot.server.trusted_proxies));
        let mut response = match self.try_handle(&mut exchange, request, peer).await {
            Ok(response) => response,
            Err(error) => exchange.fail(error),
        };
        let headers = response.headers_mut();
        headers.insert(X_REQUEST_ID, exchange.request_id.clone());
        if exchange.close {
            headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        exchange.status = response.status();
        let latency = exchange.started.elapsed();
        self.gateway.metrics().record_request(&exchange, latency);
        exchange.log(latency);
        response
    }

    /// The straight line: framing verdict, evaluation, then forwarding.
    async fn try_handle<'s>(
        &self,
        exchange: &mut Exchange<'s>,
        request: Request<Incoming>,
        peer: &Peer,
    ) -> Result<Response<Body>, GatewayError> {
        framing_verdict(exchange, peer)?;
        let now = clock::now_ms();
        let snapshot = exchange.snapshot;
        let head = RequestHead::of(&request);
        // The one I/O before the decision: the `[revocation]` store, when the token needs it.
        let revocation = self.gateway.revocation();
        // Futures only where there is something to wait for: none is created (and moved)
        // for a request that needs neither.
        let answer = match snapshot.revocation.is_some() {
            true => {
                revocation
                    .answer(snapshot, &head, now, self.gateway.metrics())
                    .await
            }
            false => Revocation::Unchecked,
        };
        // With remote keys, an unknown kid waits for one shared refetch (see `keys`).
        let evaluation = match crate::keys::evaluate_now(snapshot, &head, now, &answer) {
            Ok(evaluation) => evaluation,
            Err(evaluation) => {
                crate::keys::evaluate_after_refetch(snapshot, &head, &answer, evaluation).await
            }
        };
        let (target, route, outcome, handshake) = match evaluation {
            Evaluation::Refuse {
                target,
                route,
                error,
                handshake,
            } => {
                (exchange.target, exchange.route) = (target, route);
                if handshake && snapshot.server.websocket_reject == WebSocketReject::Message {
                    return Ok(self.refuse_socket(exchange, request, peer, &error));
                }
                return Err(error);
            }
            Evaluation::Forward {
                target,
                route,
                outcome,
                reported,
                handshake,
                preflight,
            } => {
                exchange.decide(preflight, reported.as_ref());
                (target, route, outcome, handshake)
            }
        };
        exchange.target = Some(target.clone());
        exchange.route = Some(route);
        let identity = outcome.identity();
        if let Some(identity) = identity {
            self.observe(exchange, route, identity, now);
        }
        let sent = Sent {
            target,
            identity,
            handshake,
        };
        self.forward(exchange, route, request, sent, peer).await
    }

    /// `websocket_reject = "message"`: the handshake is completed here and the refusal sent as
    /// frames; the upstream is never contacted.
    fn refuse_socket(
        &self,
        exchange: &mut Exchange<'_>,
        mut request: Request<Incoming>,
        peer: &Peer,
        error: &GatewayError,
    ) -> Response<Body> {
        exchange.decision = Decision::Rejected;
        exchange.reason = error.reason();
        let route = exchange.route.map_or("-", |r| &*r.name);
        self.gateway.metrics().record_websocket(route, "rejected");
        let upgrade = hyper::upgrade::on(&mut request);
        let message = error
            .detail_in(exchange.snapshot.auth.profile())
            .into_owned();
        let (response, task) = websocket::reject_with_message(request.headers(), upgrade, message);
        peer.flags.switch_protocols();
        self.sockets.tasks.spawn(task);
        response
    }

    /// What a verified identity tells the log and the metrics.
    fn observe(
        &self,
        exchange: &mut Exchange<'_>,
        route: &Route,
        identity: &Identity,
        now_ms: i64,
    ) {
        if exchange.snapshot.log_subject
            && tracing::enabled!(target: "freshgate::access", tracing::Level::INFO)
        {
            exchange.subject = identity.subject().map(|s| s.into_owned());
        }
        if route.policy() == Policy::Fresh {
            if let Some(age) = identity.authenticated_age(now_ms) {
                self.gateway.metrics().observe_fresh_age(route, age);
            }
        }
    }

    /// Rewrites the headers and sends the request to the route's upstream; a WebSocket
    /// handshake the upstream accepts is relayed on a task of its own.
    async fn forward(
        &self,
        exchange: &mut Exchange<'_>,
        route: &Route,
        mut request: Request<Incoming>,
        sent: Sent<'_>,
        peer: &Peer,
    ) -> Result<Response<Body>, GatewayError> {
        let snapshot = exchange.snapshot;
        let authority = request.uri().authority().cloned();
        let client_side = sent.handshake.then(|| hyper::upgrade::on(&mut request));
        let forward = Forward {
            authority: authority.as_ref(),
            client_ip: &peer.ip,
            trusted: peer.trusted,
            upgrade: sent.handshake,
            request_id: &exchange.request_id,
            reported: exchange.reported(),
            identity: sent.identity,
            claims: &snapshot.forward.claims,
            strip_token: route.strip_token.then_some(&snapshot.auth),
        };
        headers::rewrite_request(request.headers_mut(), &forward);
        let request = limit_body(request, route.max_body_bytes);
        let server = &snapshot.server;
        let started = Instant::now();
        let result = self
            .client
            .forward(
                &peer.upstream,
                &route.upstream,
                sent.target,
                request,
                exchange_limits(snapshot),
                sent.handshake,
            )
            .await;
        let elapsed = started.elapsed();
        exchange.upstream_latency = Some(elapsed);
        self.gateway
            .metrics()
            .record_upstream(route, elapsed, result.as_ref().err());
        let mut response = result?;
        if let Some(client_side) = client_side {
            let session = websocket::Session {
                gateway: &self.gateway,
                sockets: &self.sockets,
                route,
                identity: sent.identity,
                request_id: &exchange.request_id,
                idle: server.websocket_idle_timeout,
            };
            if session.upgrade(client_side, &mut response) {
                peer.flags.switch_protocols();
            }
        }
        Ok(response.map(Either::Left))
    }
}

/// A head hyper accepted but freshgate refuses (bare LF, Content-Length with
/// Transfer-Encoding): 400 and the connection closed, never forwarded.
fn framing_verdict(exchange: &mut Exchange<'_>, peer: &Peer) -> Result<(), GatewayError> {
    let Some(violation) = peer.flags.violation() else {
        return Ok(());
    };
    tracing::debug!(peer = %peer.addr, reason = violation.detail(), "request refused by the framing guard");
    exchange.close = true;
    Err(GatewayError::BadRequest(violation.detail()))
}

/// The snapshot's bounds on one upstream exchange; the kept connections are shared out among
/// the workers, rounding up.
fn exchange_limits(snapshot: &Snapshot) -> Limits {
    let server = &snapshot.server;
    Limits {
        timeout: server.upstream_timeout,
        body_idle: server.request_head_timeout,
        keep: server
            .max_idle_upstream_connections
            .div_ceil(snapshot.startup.workers.max(1)),
    }
}

/// What is sent upstream besides the request itself.
struct Sent<'a> {
    /// The canonical path and the untouched query.
    target: PathAndQuery,
    identity: Option<&'a Identity>,
    /// A WebSocket handshake to relay.
    handshake: bool,
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
