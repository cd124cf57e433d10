//! One Redis store: a multiplexed connection per thread that asks (redis-rs's
//! `ConnectionManager`, which reconnects by itself, driven on that thread's runtime, so a
//! request and its lookup never change thread, as its upstream connection does not), a health
//! probe, and the two caches shared by all threads. Connections are made in the background;
//! a lookup waits for its thread's first one at most its `timeout`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;
use quick_cache::Weighter;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::watch;

use super::{RevocationSettings, OUTAGE_LOG_INTERVAL};
use crate::auth::revocation::Keys;
use crate::auth::Verdict;
use crate::clock;
use crate::metrics::Metrics;
use crate::pipeline::Lookup;

pub use crate::auth::revocation::Stored;

/// At most this many bytes of tokens are kept in each cache.
const CACHE_BYTES: u64 = 16 * 1024 * 1024;
/// How often the health probe pings.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct TokenWeight;

impl Weighter<Box<[u8]>, i64> for TokenWeight {
    fn weight(&self, key: &Box<[u8]>, _: &i64) -> u64 {
        (key.len() + 64) as u64
    }
}

/// Token -> a time in milliseconds since the epoch until which the answer holds.
type TokenCache = Cache<Box<[u8]>, i64, TokenWeight>;

fn token_cache() -> TokenCache {
    Cache::with_weighter(16 * 1024, CACHE_BYTES, TokenWeight)
}

/// A connection being made or made.
type Connection = watch::Receiver<Option<ConnectionManager>>;

thread_local! {
    /// This thread's connection to each store in use, by store id.
    static CONNECTIONS: RefCell<Vec<(u64, Weak<Store>, Connection)>> = const { RefCell::new(Vec::new()) };
}

/// Store ids, unique in the process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A Redis store in use.
pub struct Store {
    id: u64,
    settings: Arc<RevocationSettings>,
    healthy: AtomicBool,
    /// Revoked tokens, until their `exp`.
    revoked: TokenCache,
    /// Tokens found not revoked, until `negative_cache` has passed.
    clear: TokenCache,
    /// When the outage was last logged (ms since the epoch), 0: never.
    outage_logged: AtomicI64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("store", &self.settings.address())
            .field("healthy", &self.is_healthy())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// A store that connects in the background (on the current tokio runtime, when there is
    /// one) and then probes its health every second while it is in use.
    pub fn start(settings: Arc<RevocationSettings>) -> Arc<Store> {
        let store = Arc::new(Store {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            settings,
            healthy: AtomicBool::new(false),
            revoked: token_cache(),
            clear: token_cache(),
            outage_logged: AtomicI64::new(0),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (sender, connection) = watch::channel(None);
            runtime.spawn(maintain(Arc::downgrade(&store), sender, true));
            store.remember_connection(connection);
        }
        store
    }

    /// This thread's connection, started (on this thread's runtime) when it has none.
    fn thread_connection(self: &Arc<Self>) -> Option<Connection> {
        let found = CONNECTIONS.with(|c| {
            let c = c.borrow();
            c.iter()
                .find(|(id, ..)| *id == self.id)
                .map(|(.., rx)| rx.clone())
        });
        if found.is_some() {
            return found;
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (sender, connection) = watch::channel(None);
        runtime.spawn(maintain(Arc::downgrade(self), sender, false));
        self.remember_connection(connection.clone());
        Some(connection)
    }

    /// Keeps this thread's connection, dropping those of stores no longer in use.
    fn remember_connection(self: &Arc<Self>, connection: Connection) {
        CONNECTIONS.with(|c| {
            let mut c = c.borrow_mut();
            c.retain(|(_, store, _)| store.strong_count() > 0);
            c.push((self.id, Arc::downgrade(self), connection));
        });
    }

    pub fn settings(&self) -> &Arc<RevocationSettings> {
        &self.settings
    }

    /// Whether the last probe (or lookup) reached Redis.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// This thread's connection, waiting for the first one until `deadline`.
    async fn connection(
        self: &Arc<Self>,
        deadline: tokio::time::Instant,
    ) -> Option<ConnectionManager> {
        let mut receiver = self.thread_connection()?;
        let wait = receiver.wait_for(Option::is_some);
        let ready = tokio::time::timeout_at(deadline, wait).await.ok()?.ok()?;
        ready.clone()
    }

    /// The lookup's verdict: from a cache, or one round trip within `timeout`.
    pub async fn verdict(
        self: &Arc<Self>,
        lookup: &Lookup<'_>,
        now_ms: i64,
        metrics: &Metrics,
    ) -> Verdict {
        let keys = match &lookup.keys {
            Ok(keys) => keys,
            Err(error) => return Verdict::Refused(error.clone()),
        };
        let metrics = metrics.revocation();
        let token = lookup.token.as_slice();
        if self.revoked.get(token).is_some_and(|until| until > now_ms) {
            metrics.record_lookup("cached_revoked", None);
            return Verdict::Revoked;
        }
        let negative = self.settings.negative_cache.is_some();
        if negative && self.clear.get(token).is_some_and(|until| until > now_ms) {
            metrics.record_lookup("cached_clear", None);
            return Verdict::Clear;
        }
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + self.settings.timeout;
        let read = match self.connection(deadline).await {
            Some(connection) => tokio::time::timeout_at(deadline, read(connection, keys))
                .await
                .unwrap_or(Err(Failure::Timeout)),
            None => Err(Failure::NotConnected),
        };
        let elapsed = started.elapsed();
        let (primary, cutoff) = match read {
            Ok(values) => values,
            Err(failure) => {
                self.outage(failure, metrics);
                metrics.record_lookup("unavailable", Some(elapsed));
                return Verdict::Unavailable;
            }
        };
        self.healthy.store(true, Ordering::Relaxed);
        if primary == Stored::WrongType || cutoff == Stored::WrongType {
            metrics.record_error();
            tracing::warn!(revocation.store = %self.settings.address(), "a revocation key holds a value that is not a string; the token is refused");
        }
        let verdict = self.settings.rules.judge(&lookup.claims, &primary, &cutoff);
        self.remember(token, &verdict, lookup, now_ms);
        let outcome = match verdict {
            Verdict::Revoked => "revoked",
            _ => "clear",
        };
        metrics.record_lookup(outcome, Some(elapsed));
        verdict
    }

    fn remember(&self, token: &[u8], verdict: &Verdict, lookup: &Lookup<'_>, now_ms: i64) {
        match verdict {
            Verdict::Revoked => {
                // Until `exp` (the token is refused as expired after it anyway); a token
                // without one is kept as long as the cache has room.
                let exp = lookup.claims.get("exp").and_then(serde_json::Value::as_f64);
                let until = exp.map_or(i64::MAX, |exp| (exp * 1000.0) as i64);
                self.revoked.insert(token.into(), until);
            }
            Verdict::Clear => {
                if let Some(window) = self.settings.negative_cache {
                    let until = now_ms.saturating_add(window.as_millis() as i64);
                    self.clear.insert(token.into(), until);
                }
            }
            Verdict::Unavailable | Verdict::Refused(_) => {}
        }
    }

    /// Counts a failed lookup and logs the outage once per interval.
    fn outage(&self, failure: Failure, metrics: &crate::metrics::RevocationMetrics) {
        self.healthy.store(false, Ordering::Relaxed);
        metrics.record_error();
        let now = clock::now_ms();
        let last = self.outage_logged.load(Ordering::Relaxed);
        let interval = OUTAGE_LOG_INTERVAL.as_millis() as i64;
        if now - last >= interval
            && self
                .outage_logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                revocation.store = %self.settings.address(),
                revocation.failure = failure.as_str(),
                revocation.unavailable = ?self.settings.unavailable,
                "revocation store unavailable (logged once per {}s)",
                OUTAGE_LOG_INTERVAL.as_secs()
            );
        }
    }
}

/// Why a lookup got no answer.
#[derive(Debug, Clone, Copy)]
enum Failure {
    NotConnected,
    Timeout,
    Error,
}

impl Failure {
    fn as_str(self) -> &'static str {
        match self {
            Failure::NotConnected => "not_connected",
            Failure::Timeout => "timeout",
            Failure::Error => "error",
        }
    }
}

/// One round trip: `GET` of the key, pipelined with `GET` of the cutoff when there is one.
/// A key holding something other than a string answers `WRONGTYPE`; that revokes the token
/// whichever key it was (fail closed), so it need not say which.
async fn read(mut connection: ConnectionManager, keys: &Keys) -> Result<(Stored, Stored), Failure> {
    type Value = Option<Vec<u8>>;
    let read = match &keys.cutoff {
        None => {
            let mut get = redis::cmd("GET");
            get.arg(&keys.primary);
            let value = get.query_async::<Value>(&mut connection).await;
            value.map(|v| (v, None))
        }
        Some(cutoff) => {
            let mut pipe = redis::pipe();
            pipe.cmd("GET").arg(&keys.primary).cmd("GET").arg(cutoff);
            pipe.query_async::<(Value, Value)>(&mut connection).await
        }
    };
    let stored = |value: Value| value.map_or(Stored::Absent, Stored::Text);
    match read {
        Ok((primary, cutoff)) => Ok((stored(primary), stored(cutoff))),
        Err(error) if error.code() == Some("WRONGTYPE") => Ok((Stored::WrongType, Stored::Absent)),
        Err(_) => Err(Failure::Error),
    }
}

/// Connects (retrying until it succeeds); with `probe`, then probes health every second,
/// until the store is dropped.
async fn maintain(
    store: Weak<Store>,
    sender: watch::Sender<Option<ConnectionManager>>,
    probe: bool,
) {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(1))
        .set_number_of_retries(2)
        .set_max_delay(500);
    let retry = PROBE_INTERVAL / 2;
    // A store that refuses us (down, a wrong password) is said at warn, first and then once
    // per interval, with the reason; the attempts in between at debug.
    let every = (OUTAGE_LOG_INTERVAL.as_millis() / retry.as_millis()).max(1);
    let mut attempt: u128 = 0;
    let connection = loop {
        let Some(client) = store.upgrade().map(|s| s.settings.client.clone()) else {
            return;
        };
        match ConnectionManager::new_with_config(client, config.clone()).await {
            Ok(connection) => break connection,
            Err(error) => {
                if let Some(store) = store.upgrade() {
                    store.healthy.store(false, Ordering::Relaxed);
                    let address = store.settings.address();
                    match attempt % every {
                        0 => {
                            tracing::warn!(revocation.store = %address, %error, "revocation store: cannot connect; retrying")
                        }
                        _ => {
                            tracing::debug!(revocation.store = %address, %error, "revocation store: connecting")
                        }
                    }
                }
                attempt += 1;
                tokio::time::sleep(retry).await;
            }
        }
    };
    sender.send_replace(Some(connection.clone()));
    if probe {
        health_probe(&store, &connection).await;
    }
}

/// Pings the store every [`PROBE_INTERVAL`] for `/readyz`, saying when reachability changes;
/// ends with the store.
async fn health_probe(store: &Weak<Store>, connection: &ConnectionManager) {
    loop {
        let Some(store) = store.upgrade() else { return };
        let mut probe = connection.clone();
        let command = redis::cmd("PING");
        let ping = command.query_async::<String>(&mut probe);
        let healthy = matches!(tokio::time::timeout(PROBE_INTERVAL, ping).await, Ok(Ok(_)));
        let was = store.healthy.swap(healthy, Ordering::Relaxed);
        if was != healthy {
            let address = store.settings.address();
            match healthy {
                true => tracing::info!(revocation.store = %address, "revocation store reachable"),
                false => {
                    tracing::warn!(revocation.store = %address, "revocation store unreachable")
                }
            }
        }
        drop(store);
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}
