//! [`RemoteKeys`]: a key set fetched from a provider (`jwks_url`, or `oidc_issuer` discovery),
//! held in an `ArcSwap` the decoder reads, refreshed by a background task, refetched at most
//! once per cooldown when a token names an unknown `kid` (callers waiting share that fetch),
//! and kept in force through provider failures for up to `jwks_max_stale`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use http::Uri;
use serde_json::Value;

use super::fetch::{FetchError, Fetcher};
use crate::auth::keys::VerifyKey;

/// Where the keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `jwks_url`: the JWKS itself.
    Jwks(Uri),
    /// `oidc_issuer`: `/.well-known/openid-configuration` gives `jwks_uri`, and its `issuer`
    /// must be this one (OpenID Connect Discovery 1.0 section 4.3).
    Discovery { issuer: String, config: Uri },
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Jwks(url) => url.to_string(),
            Source::Discovery { config, .. } => config.to_string(),
        }
    }
}

/// What the config asks of a remote key source.
#[derive(Debug, Clone)]
pub struct RemoteSettings {
    pub source: Source,
    /// The refresh interval; a `Cache-Control: max-age` shortens it, down to `cooldown`.
    pub refresh: Duration,
    /// At most one kid-triggered refetch per this long.
    pub cooldown: Duration,
    /// How long the last good set keeps serving while the provider fails.
    pub max_stale: Duration,
    pub fetcher: Fetcher,
    /// `jwks_wait`: `serve` accepts no connection until the first set is in, up to this long.
    pub wait: Option<Duration>,
    /// The identity of these settings, for sharing one key set across reloads.
    pub key: String,
}

/// The keys in force and when they were fetched.
#[derive(Debug, Default)]
pub struct KeySet {
    pub keys: Vec<VerifyKey>,
    pub fetched: Option<Instant>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    pub fetch_ok: AtomicU64,
    pub fetch_failed: AtomicU64,
    pub kid_refetches: AtomicU64,
    pub cooldown_hits: AtomicU64,
}

/// A remote key set; see the module docs.
#[derive(Debug)]
pub struct RemoteKeys {
    settings: RemoteSettings,
    set: ArcSwap<KeySet>,
    /// When the last kid-triggered refetch started; the lock makes waiters share it.
    kid_fetch: tokio::sync::Mutex<Option<Instant>>,
    /// Completed fetch attempts, so a waiter can tell that a fetch happened while it waited.
    attempts: AtomicU64,
    started: AtomicBool,
    /// The last failure's text, for `check --online`.
    last_error: Mutex<String>,
    /// Woken at every successful fetch.
    fetched: tokio::sync::Notify,
    pub stats: Stats,
}

/// Live key sets by [`RemoteSettings::key`]: a reload that keeps the same source keeps the
/// same set (and its refresher) instead of starting empty until a new fetch completes.
static REGISTRY: Mutex<Vec<(String, Weak<RemoteKeys>)>> = Mutex::new(Vec::new());

impl RemoteKeys {
    /// The live set for these settings, or a new empty one; inside a tokio runtime its
    /// refresher is started at once (the first fetch begins before the listener is ready).
    pub fn shared(settings: RemoteSettings) -> Arc<RemoteKeys> {
        let mut registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
        registry.retain(|(_, weak)| weak.strong_count() > 0);
        if let Some(live) = registry
            .iter()
            .find(|(key, _)| *key == settings.key)
            .and_then(|(_, weak)| weak.upgrade())
        {
            return live;
        }
        let key = settings.key.clone();
        let keys = Arc::new(RemoteKeys {
            settings,
            set: ArcSwap::default(),
            kid_fetch: tokio::sync::Mutex::new(None),
            attempts: AtomicU64::new(0),
            started: AtomicBool::new(false),
            last_error: Mutex::new(String::new()),
            fetched: tokio::sync::Notify::new(),
            stats: Stats::default(),
        });
        registry.push((key, Arc::downgrade(&keys)));
        drop(registry);
        keys.ensure_started();
        keys
    }

    /// The keys in force, for the decoder (a lock-free read).
    pub fn current(&self) -> arc_swap::Guard<Arc<KeySet>> {
        self.set.load()
    }

    /// A first set has been fetched (and has not gone stale): `/readyz` waits for it.
    pub fn is_ready(&self) -> bool {
        self.current().fetched.is_some()
    }

    /// `jwks_wait`, if set.
    pub fn wait(&self) -> Option<Duration> {
        self.settings.wait
    }

    /// Waits up to `within` for a set; true when one is in.
    pub async fn wait_ready(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let fetched = self.fetched.notified();
            if self.is_ready() {
                return true;
            }
            if tokio::time::timeout_at(deadline, fetched).await.is_err() {
                return self.is_ready();
            }
        }
    }

    pub fn source(&self) -> String {
        self.settings.source.describe()
    }

    /// Starts the refresher if it is not running and a tokio runtime is at hand (`check`
    /// parses configs without one, and fetches nothing). Every request asks: once started, the
    /// answer is a plain load, so workers only read the flag's cache line.
    pub fn ensure_started(self: &Arc<Self>) {
        if self.started.load(Ordering::Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        runtime.spawn(refresher(Arc::downgrade(self)));
    }

    /// A token named a `kid` no key has: refetch once, unless one ran within the cooldown.
    /// True when a fetch completed since the call began (the caller should decide again).
    pub async fn refetch_for_kid(&self) -> bool {
        let seen = self.attempts.load(Ordering::SeqCst);
        let mut last = self.kid_fetch.lock().await;
        if self.attempts.load(Ordering::SeqCst) != seen {
            return true;
        }
        if last.is_some_and(|at| at.elapsed() < self.settings.cooldown) {
            self.stats.cooldown_hits.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(jwks.source = %self.source(), "unknown kid within the refetch cooldown");
            return false;
        }
        *last = Some(Instant::now());
        self.stats.kid_refetches.fetch_add(1, Ordering::Relaxed);
        tracing::info!(jwks.source = %self.source(), "unknown kid: refetching the key set");
        self.fetch_once().await;
        true
    }

    /// One fetch now, for `check --online` and `explain`: the kids of the set put in force,
    /// or why the fetch failed.
    pub async fn fetch_now(&self) -> Result<Vec<String>, String> {
        self.fetch_once().await;
        let set = self.current();
        match set.fetched {
            Some(_) => Ok(set
                .keys
                .iter()
                .map(|k| format!("{} {:?}", k.kid.as_deref().unwrap_or("-"), k.algorithms))
                .collect()),
            None => Err(self
                .last_error
                .lock()
                .map(|e| e.clone())
                .unwrap_or_default()),
        }
    }

    /// One fetch; on success the set is replaced (a shrunk set takes effect now), on failure
    /// the last good set stays until it is older than `max_stale`. Returns the next interval.
    async fn fetch_once(&self) -> Duration {
        let result = self.fetch().await;
        self.attempts.fetch_add(1, Ordering::SeqCst);
        match result {
            Ok((keys, max_age)) => {
                self.stats.fetch_ok.fetch_add(1, Ordering::Relaxed);
                tracing::info!(jwks.source = %self.source(), jwks.keys = keys.len(), "key set fetched");
                self.set.store(Arc::new(KeySet {
                    keys,
                    fetched: Some(Instant::now()),
                }));
                self.fetched.notify_waiters();
                max_age.map_or(self.settings.refresh, |age| {
                    age.clamp(self.settings.cooldown, self.settings.refresh)
                })
            }
            Err(error) => {
                self.stats.fetch_failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = self.last_error.lock() {
                    *last = error.to_string();
                }
                let age = self.current().fetched.map(|at| at.elapsed());
                tracing::warn!(jwks.source = %self.source(), jwks.outcome = error.outcome(), %error, jwks.age = ?age, "key fetch failed; the last good set stays in force");
                if age.is_some_and(|age| age > self.settings.max_stale) {
                    tracing::error!(jwks.source = %self.source(), "the key set is older than jwks_max_stale; no remote key is trusted until a fetch succeeds");
                    self.set.store(Arc::new(KeySet::default()));
                }
                self.settings.cooldown.min(self.settings.refresh)
            }
        }
    }

    async fn fetch(&self) -> Result<(Vec<VerifyKey>, Option<Duration>), FetchError> {
        let fetcher = &self.settings.fetcher;
        let jwks_url = match &self.settings.source {
            Source::Jwks(url) => url.clone(),
            Source::Discovery { issuer, config } => {
                discovered(&fetcher.get(config).await?.body, issuer)?
            }
        };
        let fetched = fetcher.get(&jwks_url).await?;
        let keys = parse_remote_jwks(&fetched.body).map_err(FetchError::Invalid)?;
        Ok((keys, fetched.max_age))
    }
}

/// Refreshes while the key set is in use by some snapshot.
async fn refresher(keys: Weak<RemoteKeys>) {
    loop {
        let Some(strong) = keys.upgrade() else {
            return;
        };
        let next = strong.fetch_once().await;
        drop(strong);
        tokio::time::sleep(next).await;
    }
}

/// The `jwks_uri` of a discovery document whose `issuer` is `issuer`.
fn discovered(body: &[u8], issuer: &str) -> Result<Uri, FetchError> {
    let invalid = |why: &str| FetchError::Invalid(format!("discovery document: {why}"));
    let doc: Value = serde_json::from_slice(body).map_err(|_| invalid("not JSON"))?;
    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err(invalid("its issuer is not the configured oidc_issuer"));
    }
    let uri = doc
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("no jwks_uri"))?;
    let uri: Uri = uri.parse().map_err(|_| invalid("jwks_uri is not a URL"))?;
    if uri.scheme_str() != Some("https") {
        return Err(invalid("jwks_uri is not https"));
    }
    Ok(uri)
}

/// Members that only a private (or symmetric) key has (RFC 7518 section 6).
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

/// A provider's JWKS, stricter than a local `jwks_file`: the whole set is refused when any key
/// lacks `kty`, carries private key material, is symmetric (an `oct` key from a URL would be a
/// published HMAC secret), or names an `alg` its type cannot have (an RSA key for HS256).
/// `"use": "enc"` keys are skipped, as locally. A set without a usable key is refused.
pub fn parse_remote_jwks(body: &[u8]) -> Result<Vec<VerifyKey>, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| "not JSON".to_owned())?;
    let members = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("not a JSON Web Key Set (no \"keys\" list)")?;
    for (i, key) in members.iter().enumerate() {
        let kty = key.get("kty").and_then(Value::as_str);
        let why = match kty {
            None => Some("it has no \"kty\""),
            Some("oct") => Some("it is a symmetric key, which a key provider must never publish"),
            Some(_) if PRIVATE_MEMBERS.iter().any(|m| key.get(m).is_some()) => {
                Some("it carries private key material")
            }
            Some(_) => None,
        };
        if let Some(why) = why {
            return Err(format!("keys[{i}]: {why}"));
        }
    }
    let text = std::str::from_utf8(body).map_err(|_| "not UTF-8".to_owned())?;
    let (keys, skipped) = crate::auth::keys::parse_jwks(text)?;
    if let Some(bad) = skipped.iter().find(|s| !s.contains("encryption key")) {
        return Err(bad.clone());
    }
    if keys.is_empty() {
        return Err("the set has no usable signature key".into());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_N: &str = "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw";

    fn rsa(extra: &str) -> String {
        format!(r#"{{"kty":"RSA","kid":"k1","n":"{RSA_N}","e":"AQAB"{extra}}}"#)
    }

    #[test]
    fn provider_sets_with_dangerous_or_malformed_keys_are_refused_whole() {
        let rows = [
            (
                "a public RSA key",
                format!(r#"{{"keys":[{}]}}"#, rsa("")),
                None,
            ),
            (
                "an RSA key pinned to RS256",
                format!(r#"{{"keys":[{}]}}"#, rsa(r#","alg":"RS256""#)),
                None,
            ),
            (
                "a private RSA key",
                format!(r#"{{"keys":[{}]}}"#, rsa(r#","d":"AQAB""#)),
                Some("private key material"),
            ),
            (
                "a key without kty",
                r#"{"keys":[{"kid":"x","n":"AQAB","e":"AQAB"}]}"#.to_owned(),
                Some("no \"kty\""),
            ),
            (
                "an HMAC secret",
                r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#.to_owned(),
                Some("symmetric"),
            ),
            (
                "an RSA key for HS256",
                format!(r#"{{"keys":[{}]}}"#, rsa(r#","alg":"HS256""#)),
                Some("does not fit"),
            ),
            (
                "a good key beside a bad one",
                format!(r#"{{"keys":[{},{{"kid":"y"}}]}}"#, rsa("")),
                Some("keys[1]"),
            ),
            (
                "an empty set",
                r#"{"keys":[]}"#.to_owned(),
                Some("no usable"),
            ),
            ("not JSON", "<html>".to_owned(), Some("not JSON")),
            (
                "JSON without keys",
                r#"{"issuer":"x"}"#.to_owned(),
                Some("no \"keys\""),
            ),
        ];
        for (what, body, want) in rows {
            let got = parse_remote_jwks(body.as_bytes());
            match want {
                None => assert!(got.is_ok(), "{what}: accepted ({:?})", got.err()),
                Some(fragment) => {
                    let err = got.err().unwrap_or_else(|| panic!("{what}: refused"));
                    assert!(err.contains(fragment), "{what}: {err:?} names {fragment:?}");
                }
            }
        }
    }

    #[test]
    fn discovery_needs_the_configured_issuer_and_an_https_jwks_uri() {
        let iss = "https://idp.example";
        let doc =
            |issuer: &str, uri: &str| format!(r#"{{"issuer":"{issuer}","jwks_uri":"{uri}"}}"#);
        let ok = discovered(doc(iss, "https://idp.example/keys").as_bytes(), iss);
        assert_eq!(
            ok.map(|u| u.to_string()),
            Ok("https://idp.example/keys".to_owned()),
            "the jwks_uri"
        );
        assert!(
            discovered(doc("https://evil.example", "https://x/k").as_bytes(), iss).is_err(),
            "another issuer"
        );
        assert!(
            discovered(doc(iss, "http://idp.example/keys").as_bytes(), iss).is_err(),
            "plain http"
        );
        assert!(discovered(b"nope", iss).is_err(), "garbage");
    }
}
