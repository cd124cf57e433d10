//! The `[revocation]` store's metrics: lookups by outcome, errors, and the round trip's
//! latency, updated through verbs by [`crate::revocation`].

use std::time::Duration;

use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::handles::Handles;
use super::shard::{CounterShape, Counters, HistogramShape, ShardedCounter, ShardedHistogram};
use super::OutcomeLabels;

/// `freshgate_revocation_*`, sharded by worker like the request metrics.
#[derive(Debug)]
pub struct RevocationMetrics {
    lookups: Counters<OutcomeLabels>,
    /// The five outcomes' handles.
    outcomes: Handles<&'static str, 5>,
    errors: ShardedCounter,
    latency: ShardedHistogram,
}

impl RevocationMetrics {
    pub(super) fn new(shards: usize) -> Self {
        // 20 us .. ~0.65 s: a local round trip is tens of microseconds.
        let latency = HistogramShape {
            start: 0.00002,
            factor: 2.0,
            length: 16,
            shards,
        };
        RevocationMetrics {
            lookups: Family::new_with_constructor(CounterShape(shards)),
            outcomes: Handles::new(),
            errors: ShardedCounter::new(shards),
            latency: latency.histogram(),
        }
    }

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
        self.outcomes.inc(outcome, || {
            self.lookups
                .get_or_create(&OutcomeLabels { outcome })
                .clone()
        });
        if let Some(latency) = latency {
            self.latency.observe(latency.as_secs_f64());
        }
    }

    pub fn record_error(&self) {
        self.errors.inc();
    }
}
