//! Prometheus metrics, registered once and updated on the request path. Labels are bounded:
//! route names come from the config, statuses, policies, decisions and reasons from fixed sets.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: Arc<str>,
    pub policy: &'static str,
    /// `forwarded`, `rejected`, `reported` (report mode: would have been rejected) or
    /// `upstream_error`.
    pub decision: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
    /// `enforce` or `report`.
    pub mode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub upstream: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamErrorLabels {
    pub upstream: Arc<str>,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: Arc<str>,
}

/// Every metric freshgate exports.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub rejections: Family<ReasonLabels, Counter>,
    pub request_duration: Histogram,
    pub upstream_duration: Family<UpstreamLabels, Histogram>,
    pub upstream_errors: Family<UpstreamErrorLabels, Counter>,
    pub open_connections: Gauge,
    pub reloads: Family<OutcomeLabels, Counter>,
    pub fresh_token_age: Family<RouteLabels, Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn latency_histogram() -> Histogram {
    // 50 us .. ~26 s
    Histogram::new(exponential_buckets(0.00005, 2.0, 20))
}

fn age_histogram() -> Histogram {
    // 10 s .. ~2 days: wide enough to pick any sensible max_age.
    Histogram::new(exponential_buckets(10.0, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("freshgate");
        let requests = Family::default();
        registry.register(
            "requests",
            "Requests answered, by route, policy, decision and status",
            requests.clone(),
        );
        let rejections = Family::default();
        registry.register(
            "rejections",
            "Requests rejected (or, in report mode, that would have been), by reason",
            rejections.clone(),
        );
        let request_duration = latency_histogram();
        registry.register(
            "request_duration_seconds",
            "Time from request head to response head, at the gateway",
            request_duration.clone(),
        );
        let upstream_duration =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "upstream_duration_seconds",
            "Time for the upstream's response head",
            upstream_duration.clone(),
        );
        let upstream_errors = Family::default();
        registry.register(
            "upstream_errors",
            "Upstream exchanges that failed, by kind (unavailable, timeout)",
            upstream_errors.clone(),
        );
        let open_connections = Gauge::default();
        registry.register(
            "open_connections",
            "Client connections open now",
            open_connections.clone(),
        );
        let reloads = Family::default();
        registry.register(
            "reloads",
            "Config reloads, by outcome (success, failure)",
            reloads.clone(),
        );
        let fresh_token_age = Family::new_with_constructor(age_histogram as fn() -> Histogram);
        registry.register(
            "fresh_token_age_seconds",
            "On fresh routes: seconds since the user authenticated (auth_time, else iat), to help choose max_age",
            fresh_token_age.clone(),
        );
        Metrics {
            registry,
            requests,
            rejections,
            request_duration,
            upstream_duration,
            upstream_errors,
            open_connections,
            reloads,
            fresh_token_age,
        }
    }
}

impl Metrics {
    /// The OpenMetrics text exposition, which Prometheus scrapes.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
