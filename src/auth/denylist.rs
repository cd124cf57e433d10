//! File-backed revocation: one `jti` per line (blank lines and `#` comments ignored). The file
//! is re-read when its content changes, without a restart; if it becomes unreadable or
//! vanishes, the last list read stays in force, so a revoked token never comes back to life
//! by accident.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

/// The largest denylist file read (about a million ids).
const MAX_BYTES: u64 = 64 << 20;

/// The revoked token ids.
#[derive(Debug)]
pub struct Denylist {
    path: PathBuf,
    jtis: ArcSwap<HashSet<String>>,
    /// The bytes the current list was built from, and the file's length and modification
    /// time then: the file is re-read only when those change.
    read: Mutex<(Vec<u8>, Option<Stamp>)>,
}

type Stamp = (u64, std::time::SystemTime);

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

fn parse(bytes: &[u8]) -> HashSet<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_string)
        .collect()
}

impl Denylist {
    /// Reads the file; `Err` names the problem for the config error.
    pub fn load(path: &Path) -> Result<Arc<Denylist>, String> {
        let bytes = crate::config::read_file(path, MAX_BYTES)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(Arc::new(Denylist {
            path: path.to_path_buf(),
            jtis: ArcSwap::from_pointee(parse(&bytes)),
            read: Mutex::new((bytes, stamp(path))),
        }))
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

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Re-reads the file if its content changed. Returns the new number of entries when the
    /// list was replaced.
    pub fn refresh(&self) -> Result<Option<usize>, String> {
        let now = stamp(&self.path);
        let mut read = self
            .read
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if now.is_some() && read.1 == now {
            return Ok(None);
        }
        let bytes = crate::config::read_file(&self.path, MAX_BYTES)
            .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
        if read.0 == bytes {
            read.1 = now;
            return Ok(None);
        }
        let jtis = parse(&bytes);
        let count = jtis.len();
        self.jtis.store(Arc::new(jtis));
        *read = (bytes, now);
        Ok(Some(count))
    }
}
