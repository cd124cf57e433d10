//! One Redis store: the multiplexed connection (redis-rs's `ConnectionManager`, which
//! reconnects by itself), a health probe, and the two caches. The first connection is made
//! in the background; a lookup waits for it at most its `timeout`.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
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

/// A Redis store in use.
pub struct Store {
    settings: Arc<RevocationSettings>,
    connection: watch::Receiver<Option<ConnectionManager>>,
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
        let (sender, connection) = watch::channel(None);
        let store = Arc::new(Store {
            settings,
            connection,
            healthy: AtomicBool::new(false),
            revoked: token_cache(),
            clear: token_cache(),
            outage_logged: AtomicI64::new(0),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(maintain(Arc::downgrade(&store), sender));
        }
        store
    }

    pub fn settings(&self) -> &Arc<RevocationSettings> {
        &self.settings
    }

    /// Whether the last probe (or lookup) reached Redis.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// The connection, waiting for the first one until `deadline`.
    async fn connection(&self, deadline: tokio::time::Instant) -> Option<ConnectionManager> {
        let mut receiver = self.connection.clone();
        let wait = receiver.wait_for(Option::is_some);
        let ready = tokio::time::timeout_at(deadline, wait).await.ok()?.ok()?;
        ready.clone()
    }

    /// The lookup's verdict: from a cache, or one round trip within `timeout`.
    pub async fn verdict(&self, lookup: &Lookup<'_>, now_ms: i64, metrics: &Metrics) -> Verdict {
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
        if self.clear.get(token).is_some_and(|until| until > now_ms) {
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

/// One round trip: `MGET` of the keys (a value that is not a string reads as nil there, never
/// as an error), and `EXISTS` of each to tell such a value from an absent key.
async fn read(mut connection: ConnectionManager, keys: &Keys) -> Result<(Stored, Stored), Failure> {
    let mut pipe = redis::pipe();
    let mut mget = redis::cmd("MGET");
    mget.arg(&keys.primary);
    if let Some(cutoff) = &keys.cutoff {
        mget.arg(cutoff);
    }
    pipe.add_command(mget);
    pipe.cmd("EXISTS").arg(&keys.primary);
    if let Some(cutoff) = &keys.cutoff {
        pipe.cmd("EXISTS").arg(cutoff);
    }
    let (values, exists): (Values, Vec<i64>) = pipe
        .query_async::<Vec<redis::Value>>(&mut connection)
        .await
        .map_err(|_| Failure::Error)
        .and_then(|replies| split(replies).ok_or(Failure::Error))?;
    let stored = |i: usize| match (values.get(i).cloned().flatten(), exists.get(i)) {
        (Some(value), _) => Stored::Text(value),
        (None, Some(1..)) => Stored::WrongType,
        (None, _) => Stored::Absent,
    };
    let cutoff = match keys.cutoff {
        Some(_) => stored(1),
        None => Stored::Absent,
    };
    Ok((stored(0), cutoff))
}

/// `MGET`'s answer: each key's string value, or nil.
type Values = Vec<Option<Vec<u8>>>;

/// The `MGET` values and the `EXISTS` counts of a pipeline's replies.
fn split(replies: Vec<redis::Value>) -> Option<(Values, Vec<i64>)> {
    let mut replies = replies.into_iter();
    let values: Values = redis::from_owned_redis_value(replies.next()?).ok()?;
    let exists = replies
        .map(|r| redis::from_owned_redis_value::<i64>(r).ok())
        .collect::<Option<Vec<i64>>>()?;
    Some((values, exists))
}

/// Connects (retrying until it succeeds), then probes health every second, until the store
/// is dropped.
async fn maintain(store: Weak<Store>, sender: watch::Sender<Option<ConnectionManager>>) {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(1))
        .set_number_of_retries(2)
        .set_max_delay(500);
    let connection = loop {
        let Some(client) = store.upgrade().map(|s| s.settings.client.clone()) else {
            return;
        };
        match ConnectionManager::new_with_config(client, config.clone()).await {
            Ok(connection) => break connection,
            Err(error) => {
                if let Some(store) = store.upgrade() {
                    store.healthy.store(false, Ordering::Relaxed);
                    tracing::debug!(revocation.store = %store.settings.address(), %error, "revocation store: connecting");
                }
                tokio::time::sleep(PROBE_INTERVAL / 2).await;
            }
        }
    };
    sender.send_replace(Some(connection.clone()));
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
