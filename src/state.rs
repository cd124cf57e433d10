//! The running gateway's shared state: the config snapshot in force, behind one `ArcSwap`, and
//! the metrics. Every accept loop, the admin listener and the reloader hold the same
//! [`Gateway`].

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::Snapshot;
use crate::metrics::Metrics;
use crate::revocation::Revoker;

/// The current config snapshot and the metrics, shared by every accept loop.
#[derive(Debug)]
pub struct Gateway {
    snapshot: ArcSwap<Snapshot>,
    metrics: Metrics,
    revocation: Revoker,
}

impl Gateway {
    pub fn new(snapshot: Snapshot) -> Arc<Self> {
        Arc::new(Gateway {
            metrics: Metrics::new(snapshot.startup.workers),
            snapshot: ArcSwap::from_pointee(snapshot),
            revocation: Revoker::default(),
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

    /// The `[revocation]` store in use, kept across reloads that do not change it.
    pub fn revocation(&self) -> &Revoker {
        &self.revocation
    }
}
