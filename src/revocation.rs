//! `[revocation]`: revocations shared across replicas, read from the Redis keys the apps
//! already write (fastapi-jwt-auth's `examples/denylist_redis.py`, flask-jwt-extended's and
//! AuthX's recipes). This is the I/O around the pure decision:
//!
//! 1. [`crate::pipeline::revocation_lookup`] (pure) says whether the request's token needs a
//!    lookup, and with which keys;
//! 2. [`Revoker::answer`] asks Redis once (the key and the subject's cutoff in one pipeline,
//!    one round trip, over one multiplexed connection that reconnects by itself), within
//!    `timeout`, unless a cache answers;
//! 3. the answer goes into [`crate::pipeline::evaluate_with`] as data and is consulted where
//!    the library checks its denylist.
//!
//! Caching: a revoked answer is kept until the token's `exp` (revocation is permanent); a
//! "not revoked" answer only with `negative_cache`, for exactly that long. When Redis cannot
//! answer in `timeout`: `unavailable = "deny"` answers 503 `Revocation check unavailable` with
//! `Retry-After`; `"allow"` lets the request pass. Both are counted, and the outage is logged
//! once per [`OUTAGE_LOG_INTERVAL`].

mod revoke;
mod store;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use crate::auth::{Revocation, RevocationRules, Verdict};
use crate::config::Snapshot;
use crate::metrics::Metrics;
use crate::pipeline::{self, Lookup, RequestHead};

pub use revoke::{revoke, RevokeTarget};
pub use store::{Store, Stored};

/// `Retry-After` on a 503 for an unavailable store: the connection retries continuously.
pub const RETRY_AFTER_SECONDS: &str = "1";
/// An outage is logged at most once per this interval.
pub const OUTAGE_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// `unavailable` (and a route's `revocation_unavailable`): what a request gets when Redis
/// cannot answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// 503 `Revocation check unavailable`, with `Retry-After` (the default: fail closed).
    Deny,
    /// Forward as if not revoked; counted and logged.
    Allow,
}

/// `[revocation]` with a store, validated.
pub struct RevocationSettings {
    /// The store's address and credentials (never printed).
    pub client: redis::Client,
    /// [`RevocationSettings::store_key`] of `client` (holds the password: never printed).
    pub store_key: String,
    pub rules: Arc<RevocationRules>,
    pub timeout: Duration,
    pub unavailable: Unavailable,
    /// How long a "not revoked" answer may be reused; `None`: never.
    pub negative_cache: Option<Duration>,
    /// The TTL of a subject cutoff (and of a `--jti` revocation) written by `freshgate revoke`.
    pub refresh_lifetime: Duration,
}

impl RevocationSettings {
    /// The store without its credentials, for logs and `check`: `host:port/db`.
    pub fn address(&self) -> String {
        let info = self.client.get_connection_info();
        let addr = match &info.addr {
            redis::ConnectionAddr::Tcp(host, port) => format!("redis://{host}:{port}"),
            redis::ConnectionAddr::TcpTls { host, port, .. } => format!("rediss://{host}:{port}"),
            redis::ConnectionAddr::Unix(path) => format!("unix:{}", path.display()),
        };
        format!("{addr}/{}", info.redis.db)
    }

    /// Whether two configs name the same store with the same credentials: a reload keeps the
    /// connection (and the caches) unless this changes. Asked on every lookup, so it compares
    /// one string made at validation.
    pub fn same_store(&self, other: &RevocationSettings) -> bool {
        self.store_key == other.store_key
    }

    /// What [`RevocationSettings::same_store`] compares: address, database and credentials.
    pub fn store_key(client: &redis::Client) -> String {
        let info = client.get_connection_info();
        let redis = &info.redis;
        format!(
            "{}\n{}\n{:?}\n{:?}",
            info.addr, redis.db, redis.username, redis.password
        )
    }
}

impl fmt::Debug for RevocationSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationSettings")
            .field("store", &self.address())
            .field("rules", &self.rules)
            .field("timeout", &self.timeout)
            .field("unavailable", &self.unavailable)
            .field("negative_cache", &self.negative_cache)
            .finish_non_exhaustive()
    }
}

/// The process's revocation store: one per `[revocation] redis` in force, kept across reloads
/// that do not change it, rebuilt (connection and caches) when they do.
#[derive(Debug, Default)]
pub struct Revoker {
    store: ArcSwapOption<Store>,
    rebuild: std::sync::Mutex<()>,
}

impl Revoker {
    /// The store for `settings`, started (connecting in the background) on first use.
    pub fn store(&self, settings: &Arc<RevocationSettings>) -> Arc<Store> {
        if let Some(store) = self.store.load_full() {
            if Arc::ptr_eq(store.settings(), settings) || store.settings().same_store(settings) {
                return store;
            }
        }
        // Rebuilds are rare (start, a reload with a new store); only they take the lock.
        let _guard = self.rebuild.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(store) = self.store.load_full() {
            if store.settings().same_store(settings) {
                return store;
            }
        }
        let store = Store::start(settings.clone());
        self.store.store(Some(store.clone()));
        store
    }

    /// Whether the store a snapshot uses is reachable: `None` without a store.
    pub fn reachable(&self, snapshot: &Snapshot) -> Option<bool> {
        let settings = snapshot.revocation.as_ref()?;
        Some(self.store(settings).is_healthy())
    }

    /// The revocation answer for a request, for [`pipeline::evaluate_with`]: `Unchecked` when
    /// the evaluation will not ask (no store, or the token fails or is skipped earlier).
    pub async fn answer(
        &self,
        snapshot: &Snapshot,
        head: &RequestHead<'_>,
        now_ms: i64,
        metrics: &Metrics,
    ) -> Revocation {
        let Some(settings) = &snapshot.revocation else {
            return Revocation::Unchecked;
        };
        let Some(lookup) = pipeline::revocation_lookup(snapshot, head, now_ms) else {
            return Revocation::Unchecked;
        };
        let store = self.store(settings);
        let verdict = store.verdict(&lookup, now_ms, metrics).await;
        Revocation::Answered(apply_policy(verdict, settings, &lookup))
    }
}

/// An unavailable store under `allow` (the route's `revocation_unavailable`, else the
/// store's) lets the request pass.
fn apply_policy(verdict: Verdict, settings: &RevocationSettings, lookup: &Lookup<'_>) -> Verdict {
    let policy = lookup
        .route
        .revocation_unavailable
        .unwrap_or(settings.unavailable);
    match (verdict, policy) {
        (Verdict::Unavailable, Unavailable::Allow) => Verdict::Clear,
        (verdict, _) => verdict,
    }
}

/// What one lookup did, for `explain`.
#[derive(Debug)]
pub struct Explained {
    /// The keys as read (a `{token}` key is shown as its template).
    pub keys: Vec<String>,
    pub verdict: Verdict,
    pub elapsed: Duration,
}

/// Runs the lookup a request needs against the store, on a runtime of its own, for
/// `freshgate explain`. `None` when the request needs none.
pub fn explain_lookup(
    snapshot: &Snapshot,
    head: &RequestHead<'_>,
    now_ms: i64,
) -> Option<(Revocation, Explained)> {
    let settings = snapshot.revocation.as_ref()?;
    let lookup = pipeline::revocation_lookup(snapshot, head, now_ms)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let started = Instant::now();
    let verdict = runtime.block_on(async {
        let store = Store::start(settings.clone());
        store.verdict(&lookup, now_ms, &Metrics::default()).await
    });
    let rules = &settings.rules;
    let shown =
        |template: &crate::auth::revocation::KeyTemplate, key: &[u8]| match template.uses_token() {
            true => template.as_str().to_owned(),
            false => String::from_utf8_lossy(key).into_owned(),
        };
    let keys = match &lookup.keys {
        Ok(keys) => std::iter::once(shown(&rules.key, &keys.primary))
            .chain(
                rules
                    .cutoff
                    .iter()
                    .zip(&keys.cutoff)
                    .map(|(t, k)| shown(t, k)),
            )
            .collect(),
        Err(_) => Vec::new(),
    };
    let verdict = apply_policy(verdict, settings, &lookup);
    let explained = Explained {
        keys,
        verdict: verdict.clone(),
        elapsed: started.elapsed(),
    };
    Some((Revocation::Answered(verdict), explained))
}
