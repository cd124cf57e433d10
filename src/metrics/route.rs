//! A route's metric handles, kept with the route so that counting a request hashes no labels and
//! takes no family lock: each handle is taken from its family the first time the route needs it
//! (a series appears when it is first counted, never as a zero before) and is the family's own
//! series, so counts carry on across reloads. Statuses outside [`slot`]'s table, and rejection
//! reasons past a route's first few, are looked up in the family each time (a read lock). A
//! route's handles count into the gateway whose snapshot holds it. The series are sharded by
//! worker ([`super::shard`]): a handle is read-only once set, so workers share it without
//! writing to the same cache line.

use std::sync::{Arc, OnceLock};

use super::handles::Handles;
use super::shard::{Counters, Histograms, ShardedCounter, ShardedHistogram};
use super::{ReasonLabels, RequestLabels, RouteLabels, UpstreamErrorLabels, UpstreamLabels};
use crate::handler::Decision;
use crate::routes::Route;

/// How many (decision, status) pairs a route keeps handles for: see [`slot`].
const SLOTS: usize = 24;

/// The (decision, status) pairs a route keeps a counter handle for: what its upstream commonly
/// answers, and what freshgate itself answers.
fn slot(decision: Decision, status: u16) -> Option<usize> {
    use Decision::{Forwarded, Preflight, Rejected, Reported, UpstreamError};
    Some(match (decision, status) {
        (Forwarded, 200) => 0,
        (Forwarded, 201) => 1,
        (Forwarded, 204) => 2,
        (Forwarded, 301) => 3,
        (Forwarded, 302) => 4,
        (Forwarded, 304) => 5,
        (Forwarded, 400) => 6,
        (Forwarded, 401) => 7,
        (Forwarded, 403) => 8,
        (Forwarded, 404) => 9,
        (Forwarded, 422) => 10,
        (Forwarded, 500) => 11,
        (Rejected, 400) => 12,
        (Rejected, 401) => 13,
        (Rejected, 403) => 14,
        (Rejected, 404) => 15,
        (Rejected, 405) => 16,
        (Rejected, 413) => 17,
        (Rejected, 422) => 18,
        (UpstreamError, 502) => 19,
        (UpstreamError, 504) => 20,
        (Preflight, 200) => 21,
        (Preflight, 204) => 22,
        (Reported, 200) => 23,
        _ => return None,
    })
}

/// The handles of one route (or of requests that matched none). A clone starts empty: a route
/// copied with another name or policy must not count into the original's series.
pub struct RouteMetrics {
    requests: [OnceLock<ShardedCounter>; SLOTS],
    /// By (reason, mode): a route sees few reasons.
    rejections: Handles<(&'static str, &'static str), 4>,
    /// By kind: `unavailable`, `timeout`.
    upstream_errors: Handles<&'static str, 2>,
    upstream_duration: OnceLock<ShardedHistogram>,
    fresh_age: OnceLock<ShardedHistogram>,
}

impl RouteMetrics {
    pub const fn new() -> Self {
        RouteMetrics {
            requests: [const { OnceLock::new() }; SLOTS],
            rejections: Handles::new(),
            upstream_errors: Handles::new(),
            upstream_duration: OnceLock::new(),
            fresh_age: OnceLock::new(),
        }
    }
}

impl Default for RouteMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for RouteMetrics {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for RouteMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouteMetrics")
    }
}

/// The handles of requests that matched no route, kept with the [`super::Metrics`] they count
/// into (a process may run several gateways: tests do).
#[derive(Debug)]
pub(super) struct NoRoute {
    label: Arc<str>,
    handles: RouteMetrics,
}

impl Default for NoRoute {
    fn default() -> Self {
        NoRoute {
            label: Arc::from("-"),
            handles: RouteMetrics::new(),
        }
    }
}

/// Counts one request of `route` (`None`: no route matched) in `family`.
pub(super) fn count_request(
    family: &Counters<RequestLabels>,
    no_route: &NoRoute,
    route: Option<&Route>,
    decision: Decision,
    status: u16,
) {
    let (name, policy, handles) = match route {
        Some(r) => (&r.name, r.policy().as_str(), &r.metrics),
        None => (&no_route.label, "-", &no_route.handles),
    };
    let labels = || RequestLabels {
        route: name.clone(),
        policy,
        decision: decision.as_str(),
        status,
    };
    match slot(decision, status) {
        Some(i) => handles.requests[i]
            .get_or_init(|| family.get_or_create(&labels()).clone())
            .inc(),
        None => family.get_or_create(&labels()).inc(),
    };
}

/// Counts one rejection (`mode`: `enforce` or `report`) of `route`'s requests.
pub(super) fn count_rejection(
    family: &Counters<ReasonLabels>,
    no_route: &NoRoute,
    route: Option<&Route>,
    reason: &'static str,
    mode: &'static str,
) {
    let handles = route.map_or(&no_route.handles, |r| &r.metrics);
    handles.rejections.inc((reason, mode), || {
        family.get_or_create(&ReasonLabels { reason, mode }).clone()
    });
}

/// Counts one failed exchange with `route`'s upstream.
pub(super) fn count_upstream_error(
    family: &Counters<UpstreamErrorLabels>,
    route: &Route,
    kind: &'static str,
) {
    route.metrics.upstream_errors.inc(kind, || {
        let labels = UpstreamErrorLabels {
            upstream: route.upstream.name.clone(),
            kind,
        };
        family.get_or_create(&labels).clone()
    });
}

/// The route's upstream latency histogram.
pub(super) fn upstream_duration<'r>(
    family: &Histograms<UpstreamLabels>,
    route: &'r Route,
) -> &'r ShardedHistogram {
    route.metrics.upstream_duration.get_or_init(|| {
        let labels = UpstreamLabels {
            upstream: route.upstream.name.clone(),
        };
        family.get_or_create(&labels).clone()
    })
}

/// The route's fresh-token age histogram.
pub(super) fn fresh_age<'r>(
    family: &Histograms<RouteLabels>,
    route: &'r Route,
) -> &'r ShardedHistogram {
    route.metrics.fresh_age.get_or_init(|| {
        let labels = RouteLabels {
            route: route.name.clone(),
        };
        family.get_or_create(&labels).clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slot_is_used_once() {
        use Decision::{Forwarded, Preflight, Rejected, Reported, UpstreamError};
        let mut seen = [false; SLOTS];
        for decision in [Forwarded, Preflight, Rejected, Reported, UpstreamError] {
            for status in 100..600 {
                if let Some(i) = slot(decision, status) {
                    assert!(!seen[i], "slot {i} is given to two pairs");
                    seen[i] = true;
                }
            }
        }
        assert!(seen.iter().all(|s| *s), "every slot is reachable: {seen:?}");
    }
}
