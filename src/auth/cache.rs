//! The verified-token cache: token bytes -> claims whose signature was verified. Only the
//! time-independent work is cached (parsing, the `alg` check, the signature); `exp`, `nbf`,
//! issuer, audience, revocation, type, freshness and CSRF are checked on every use, so a
//! cached token expires, goes stale or is revoked exactly when an uncached one would.
//!
//! Failures are never cached, so only tokens signed by a configured key get in: a flood of
//! distinct bad tokens costs the attacker's own requests and cannot evict good entries. The
//! cache is bounded by weight (token plus claims bytes) and uses S3-FIFO (`quick_cache`), which
//! keeps frequently used tokens when many one-off ones pass through. It belongs to a config
//! snapshot, so a reload (new keys) starts empty.

use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::Weighter;

use super::Claims;

/// At most this many bytes of tokens and claims are kept.
pub const CACHE_BYTES: u64 = 16 * 1024 * 1024;
/// Tokens longer than this are verified every time rather than cached.
const MAX_CACHED_TOKEN: usize = 4096;

#[derive(Clone)]
struct EntryWeight;

impl Weighter<Box<[u8]>, Entry> for EntryWeight {
    fn weight(&self, key: &Box<[u8]>, value: &Entry) -> u64 {
        // Key, value and roughly the map's overhead.
        (key.len() + value.size + 128) as u64
    }
}

#[derive(Clone)]
struct Entry {
    claims: Arc<Claims>,
    /// The payload's JSON length: a stand-in for the claims' heap size.
    size: usize,
}

pub struct TokenCache {
    cache: Cache<Box<[u8]>, Entry, EntryWeight>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.cache.len())
            .finish()
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache {
            cache: Cache::with_weighter(16 * 1024, CACHE_BYTES, EntryWeight),
        }
    }
}

impl TokenCache {
    pub fn get(&self, token: &[u8]) -> Option<Arc<Claims>> {
        self.cache.get(token).map(|e| e.claims)
    }

    /// Remembers a token whose signature verified.
    pub fn insert(&self, token: &[u8], claims: Arc<Claims>, payload_len: usize) {
        if token.len() > MAX_CACHED_TOKEN {
            return;
        }
        let entry = Entry {
            claims,
            size: payload_len * 2,
        };
        self.cache.insert(token.into(), entry);
    }

    pub fn len(&self) -> usize {
        self.cache.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }
}
