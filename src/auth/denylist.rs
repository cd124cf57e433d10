//! Revocation by `jti`: the set of revoked token ids the decision consults. It is in-memory and
//! swapped whole when its source changes (see [`crate::fs::DenylistFile`] for the file that
//! feeds it), so a request sees either the old list or the new one, never half of each.

use std::collections::HashSet;
use std::sync::Arc;

use arc_swap::ArcSwap;

/// The revoked token ids.
#[derive(Debug, Default)]
pub struct Denylist {
    jtis: ArcSwap<HashSet<String>>,
}

impl Denylist {
    pub fn new(jtis: HashSet<String>) -> Self {
        Denylist {
            jtis: ArcSwap::from_pointee(jtis),
        }
    }

    /// A list of the given ids.
    pub fn from_entries<I: IntoIterator<Item = S>, S: Into<String>>(jtis: I) -> Self {
        Self::new(jtis.into_iter().map(Into::into).collect())
    }

    /// Parses the file format: one `jti` per line; blank lines and `#` comments are ignored.
    pub fn parse(bytes: &[u8]) -> HashSet<String> {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }

    pub fn contains(&self, jti: &str) -> bool {
        self.jtis.load().contains(jti)
    }

    pub fn len(&self) -> usize {
        self.jtis.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces the whole list.
    pub fn replace(&self, jtis: HashSet<String>) {
        self.jtis.store(Arc::new(jtis));
    }
}
