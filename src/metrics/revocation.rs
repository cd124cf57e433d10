//! The `[revocation]` store's metrics: lookups by outcome, errors, and the round trip's
//! latency, updated through verbs by [`crate::revocation`].

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::OutcomeLabels;

/// `freshgate_revocation_*`.
#[derive(Debug)]
pub struct RevocationMetrics {
    lookups: Family<OutcomeLabels, Counter>,
    errors: Counter,
    latency: Histogram,
}

impl Default for RevocationMetrics {
    fn default() -> Self {
        RevocationMetrics {
            lookups: Family::default(),
            errors: Counter::default(),
            // 20 us .. ~0.65 s: a local round trip is tens of microseconds.
            latency: Histogram::new(exponential_buckets(0.00002, 2.0, 16)),
        }
    }
}

impl RevocationMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "revocation_lookups",
            "Revocation answers by outcome: revoked, clear, cached_revoked, cached_clear, unavailable",
            self.lookups.clone(),
        );
        r.register(
            "revocation_errors",
            "Revocation lookups that failed (timeout, connection, a value of the wrong type)",
            self.errors.clone(),
        );
        r.register(
            "revocation_lookup_duration_seconds",
            "Round trips to the revocation store",
            self.latency.clone(),
        );
    }

    /// One answer; `latency` when the store was asked.
    pub fn record_lookup(&self, outcome: &'static str, latency: Option<Duration>) {
        self.lookups.get_or_create(&OutcomeLabels { outcome }).inc();
        if let Some(latency) = latency {
            self.latency.observe(latency.as_secs_f64());
        }
    }

    pub fn record_error(&self) {
        self.errors.inc();
    }
}
