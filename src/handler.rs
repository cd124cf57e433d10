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
use http::{HeaderValue, Request, Response, StatusCode};
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

mod exchange;

pub use exchange::{Decision, Exchange};

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

    /// The straight line: framing verdict, evaluation, then forwarding. The steps before and
    /// after the upstream exchange are plain functions: every async level would keep its own
    /// copy of the request in the request's future, and move it on.
    async fn try_handle<'s>(
        &self,
        exchange: &mut Exchange<'s>,
        request: Request<Incoming>,
        peer: &Peer,
    ) -> Result<Response<Body>, GatewayError> {
        framing_verdict(exchange, peer)?;
        let now = clock::now_ms();
        let snapshot = exchange.snapshot;
        let evaluation = self.evaluate(snapshot, &request, now).await;
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
        (exchange.target, exchange.route) = (Some(target.clone()), Some(route));
        let identity = outcome.identity();
        if let Some(identity) = identity {
            self.observe(exchange, route, identity, now);
        }
        let (request, client_side) = rewrite(exchange, route, request, identity, handshake, peer);
        let (started, limits) = (Instant::now(), exchange_limits(snapshot));
        let upstream = (&peer.upstream, &*route.upstream);
        let result = (self.client)
            .forward(upstream, target, request, limits, handshake)
            .await;
        let sent = Sent {
            route,
            identity,
            started,
            client_side,
        };
        self.answered(exchange, sent, result, peer)
    }

    /// The token decision, after the one I/O it may need: the `[revocation]` store's answer,
    /// and with remote keys one shared refetch for an unknown kid (see `keys`). Futures only
    /// where there is something to wait for: none is created (and moved) for a request that
    /// needs neither.
    async fn evaluate<'s>(
        &self,
        snapshot: &'s Snapshot,
        request: &Request<Incoming>,
        now: i64,
    ) -> Evaluation<'s> {
        let head = RequestHead::of(request);
        let answer = match snapshot.revocation.is_some() {
            true => {
                let metrics = self.gateway.metrics();
                self.gateway
                    .revocation()
                    .answer(snapshot, &head, now, metrics)
                    .await
            }
            false => Revocation::Unchecked,
        };
        match crate::keys::evaluate_now(snapshot, &head, now, &answer) {
            Ok(evaluation) => evaluation,
            Err(evaluation) => {
                crate::keys::evaluate_after_refetch(snapshot, &head, &answer, evaluation).await
            }
        }
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

    /// What the upstream's answer makes of the exchange: its latency and metrics, and for a
    /// WebSocket handshake the upstream accepted, the relay on a task of its own.
    fn answered(
        &self,
        exchange: &mut Exchange<'_>,
        sent: Sent<'_>,
        result: Result<Response<Incoming>, GatewayError>,
        peer: &Peer,
    ) -> Result<Response<Body>, GatewayError> {
        let elapsed = sent.started.elapsed();
        exchange.upstream_latency = Some(elapsed);
        self.gateway
            .metrics()
            .record_upstream(sent.route, elapsed, result.as_ref().err());
        let mut response = result?;
        if let Some(client_side) = sent.client_side {
            let session = websocket::Session {
                gateway: &self.gateway,
                sockets: &self.sockets,
                route: sent.route,
                identity: sent.identity,
                request_id: &exchange.request_id,
                idle: exchange.snapshot.server.websocket_idle_timeout,
            };
            if session.upgrade(client_side, &mut response) {
                peer.flags.switch_protocols();
            }
        }
        Ok(response.map(Either::Left))
    }
}

/// The request as the upstream gets it: the identity headers set (client-sent ones stripped),
/// `X-Forwarded-*`, the route's body limit; and for a WebSocket handshake, the client side of
/// the upgrade.
fn rewrite(
    exchange: &Exchange<'_>,
    route: &Route,
    mut request: Request<Incoming>,
    identity: Option<&Identity>,
    handshake: bool,
    peer: &Peer,
) -> (Request<UpstreamBody>, Option<hyper::upgrade::OnUpgrade>) {
    let snapshot = exchange.snapshot;
    let authority = request.uri().authority().cloned();
    let client_side = handshake.then(|| hyper::upgrade::on(&mut request));
    let forward = Forward {
        authority: authority.as_ref(),
        client_ip: &peer.ip,
        trusted: peer.trusted,
        upgrade: handshake,
        request_id: &exchange.request_id,
        reported: exchange.reported(),
        identity,
        claims: &snapshot.forward.claims,
        strip_token: route.strip_token.then_some(&snapshot.auth),
    };
    headers::rewrite_request(request.headers_mut(), &forward);
    (limit_body(request, route.max_body_bytes), client_side)
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

/// What the answer of an upstream exchange is judged with.
struct Sent<'a> {
    route: &'a Route,
    identity: Option<&'a Identity>,
    /// When the exchange began, for the upstream latency.
    started: Instant,
    /// The client side of a WebSocket handshake, to relay once the upstream accepts.
    client_side: Option<hyper::upgrade::OnUpgrade>,
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
