//! Prometheus metrics, registered once and updated through verbs: the handler calls
//! [`Metrics::record_request`] with its [`Exchange`], the forwarder [`Metrics::record_upstream`],
//! the reloader [`Metrics::record_reload`]. The metric families and their label sets are
//! private to this module. Labels are bounded: route and upstream names come from the config;
//! statuses, policies, decisions and reasons from fixed sets.
//!
//! What a request writes is worker-local ([`shard`]): each series keeps a shard per worker
//! thread and `/metrics` adds them up, so workers on different cores never write the same cache
//! line. Per-connection and rarer writes (open connections and WebSockets, WebSocket sessions
//! and bytes, reloads, dropped log lines) stay prometheus-client's shared metrics.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::error::GatewayError;
use crate::handler::{Decision, Exchange};
use crate::routes::Route;
use crate::websocket::Relayed;

mod handles;
mod revocation;
mod route;
mod shard;
pub use revocation::RevocationMetrics;
pub use route::RouteMetrics;
pub use shard::enter_worker;
use shard::{CounterShape, Counters, HistogramShape, Histograms, ShardedHistogram};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: Arc<str>,
    policy: &'static str,
    /// `forwarded`, `rejected`, `reported` (report mode: would have been rejected) or
    /// `upstream_error`.
    decision: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
    /// `enforce` or `report`.
    mode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamErrorLabels {
    upstream: Arc<str>,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SessionLabels {
    route: Arc<str>,
    /// `rejected`, `not_upgraded`, or how a relayed socket closed: `client`, `upstream`,
    /// `idle_timeout`, `token_expired`, `shutdown`, `failed` (an upgrade never completed).
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    /// `upstream` (client to upstream) or `downstream`.
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: Arc<str>,
}

/// Every metric freshgate exports.
pub struct Metrics {
    registry: Registry,
    requests: Counters<RequestLabels>,
    no_route: route::NoRoute,
    rejections: Counters<ReasonLabels>,
    request_duration: ShardedHistogram,
    upstream_duration: Histograms<UpstreamLabels>,
    upstream_errors: Counters<UpstreamErrorLabels>,
    open_connections: Gauge,
    reloads: Family<OutcomeLabels, Counter>,
    fresh_token_age: Histograms<RouteLabels>,
    websockets_open: Gauge,
    websocket_sessions: Family<SessionLabels, Counter>,
    websocket_bytes: Family<DirectionLabels, Counter>,
    log_lines_dropped: Counter,
    revocation: RevocationMetrics,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// 50 us .. ~26 s
fn latency_histogram(shards: usize) -> HistogramShape {
    HistogramShape {
        start: 0.00005,
        factor: 2.0,
        length: 20,
        shards,
    }
}

/// 10 s .. ~2 days: wide enough to pick any sensible max_age.
fn age_histogram(shards: usize) -> HistogramShape {
    HistogramShape {
        start: 10.0,
        factor: 2.0,
        length: 15,
        shards,
    }
}

/// One worker and the main thread.
impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(1)
    }
}

impl Metrics {
    /// The metrics of a gateway served by `workers` worker threads: one shard for each, and one
    /// for every other thread.
    pub fn new(workers: usize) -> Self {
        let shards = workers + 1;
        let counters = CounterShape(shards);
        let mut registry = Registry::with_prefix("freshgate");
        let metrics = Metrics {
            requests: Family::new_with_constructor(counters),
            no_route: route::NoRoute::default(),
            rejections: Family::new_with_constructor(counters),
            request_duration: latency_histogram(shards).histogram(),
            upstream_duration: Family::new_with_constructor(latency_histogram(shards)),
            upstream_errors: Family::new_with_constructor(counters),
            open_connections: Gauge::default(),
            reloads: Family::default(),
            fresh_token_age: Family::new_with_constructor(age_histogram(shards)),
            websockets_open: Gauge::default(),
            websocket_sessions: Family::default(),
            websocket_bytes: Family::default(),
            log_lines_dropped: Counter::default(),
            revocation: RevocationMetrics::new(shards),
            registry: Registry::default(),
        };
        metrics.register(&mut registry);
        Metrics {
            registry,
            ..metrics
        }
    }

    /// Registers every family, with its name and help text.
    fn register(&self, r: &mut Registry) {
        self.revocation.register(r);
        let m = self;
        r.register(
            "requests",
            "Requests answered, by route, policy, decision and status",
            m.requests.clone(),
        );
        r.register(
            "rejections",
            "Requests rejected (or, in report mode, that would have been), by reason",
            m.rejections.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from request head to response head, at the gateway",
            m.request_duration.clone(),
        );
        r.register(
            "upstream_duration_seconds",
            "Time for the upstream's response head",
            m.upstream_duration.clone(),
        );
        r.register(
            "upstream_errors",
            "Upstream exchanges that failed, by kind (unavailable, timeout)",
            m.upstream_errors.clone(),
        );
        r.register(
            "open_connections",
            "Client connections open now",
            m.open_connections.clone(),
        );
        r.register(
            "reloads",
            "Config reloads, by outcome (success, failure)",
            m.reloads.clone(),
        );
        r.register(
            "fresh_token_age_seconds",
            "On fresh routes: seconds since the user authenticated (auth_time, else iat), to help choose max_age",
            m.fresh_token_age.clone(),
        );
        r.register(
            "log_lines_dropped",
            "Log lines dropped because the log writer's buffer was full",
            m.log_lines_dropped.clone(),
        );
        m.register_websockets(r);
    }

    fn register_websockets(&self, r: &mut Registry) {
        r.register(
            "websockets_open",
            "Relayed WebSockets open now",
            self.websockets_open.clone(),
        );
        r.register(
            "websocket_sessions",
            "WebSocket handshakes on WebSocket routes, by route and outcome",
            self.websocket_sessions.clone(),
        );
        r.register(
            "websocket_bytes",
            "Bytes relayed on WebSockets, by direction",
            self.websocket_bytes.clone(),
        );
    }

    /// Counts one answered request: its route, decision and status, its latency, and for
    /// rejections (enforced or reported) its reason.
    pub fn record_request(&self, exchange: &Exchange<'_>, latency: Duration) {
        self.request_duration.observe(latency.as_secs_f64());
        let status = exchange.status.as_u16();
        route::count_request(
            &self.requests,
            &self.no_route,
            exchange.route,
            exchange.decision,
            status,
        );
        // Only what report mode let through counts as "report"; a 400 or 413 on a report-mode
        // route was enforced.
        let mode = match exchange.decision {
            Decision::Reported => "report",
            Decision::Rejected => "enforce",
            Decision::Forwarded | Decision::UpstreamError | Decision::Preflight => return,
        };
        route::count_rejection(
            &self.rejections,
            &self.no_route,
            exchange.route,
            exchange.reason,
            mode,
        );
    }

    /// Counts one upstream exchange of `route`: how long the response head took, and a
    /// failure's kind.
    pub fn record_upstream(&self, route: &Route, elapsed: Duration, error: Option<&GatewayError>) {
        route::upstream_duration(&self.upstream_duration, route).observe(elapsed.as_secs_f64());
        if let Some(kind) = error.and_then(GatewayError::upstream_kind) {
            route::count_upstream_error(&self.upstream_errors, route, kind);
        }
    }

    /// Counts a config reload.
    pub fn record_reload(&self, success: bool) {
        let outcome = match success {
            true => "success",
            false => "failure",
        };
        self.reloads.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// On fresh routes: how long ago the token's user authenticated, in seconds.
    pub fn observe_fresh_age(&self, route: &Route, age_seconds: f64) {
        route::fresh_age(&self.fresh_token_age, route).observe(age_seconds);
    }

    /// A WebSocket handshake that was not relayed: `rejected` or `not_upgraded`.
    pub fn record_websocket(&self, route: &str, outcome: &'static str) {
        self.websocket_sessions
            .get_or_create(&SessionLabels {
                route: route.into(),
                outcome,
            })
            .inc();
    }

    pub fn websocket_opened(&self) {
        self.websockets_open.inc();
    }

    /// A relayed WebSocket ended (`None`: the upgrade never completed on one side).
    pub fn websocket_closed(&self, route: &Arc<str>, relayed: Option<&Relayed>) {
        self.websockets_open.dec();
        let outcome = relayed.map_or("failed", |r| r.closed.as_str());
        self.websocket_sessions
            .get_or_create(&SessionLabels {
                route: route.clone(),
                outcome,
            })
            .inc();
        if let Some(r) = relayed {
            let bytes = |direction| {
                self.websocket_bytes
                    .get_or_create(&DirectionLabels { direction })
            };
            bytes("upstream").inc_by(r.up);
            bytes("downstream").inc_by(r.down);
        }
    }

    pub fn connection_opened(&self) {
        self.open_connections.inc();
    }

    pub fn connection_closed(&self) {
        self.open_connections.dec();
    }

    /// The `[revocation]` store's lookups, errors and latency.
    pub fn revocation(&self) -> &RevocationMetrics {
        &self.revocation
    }

    /// The OpenMetrics text exposition, which Prometheus scrapes.
    pub fn encode(&self) -> String {
        // The log writer counts its drops itself; bring the counter up to date.
        let dropped = crate::logging::dropped_lines();
        self.log_lines_dropped
            .inc_by(dropped.saturating_sub(self.log_lines_dropped.get()));
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
