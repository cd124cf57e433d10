//! The files a config names, read with bounds: the config itself, key files, and the denylist
//! file that is re-read when it changes. Everything else in the gateway is free of file I/O.

use std::io::{Error, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::auth::Denylist;

/// The largest denylist file read (about a million ids).
const DENYLIST_MAX_BYTES: u64 = 64 << 20;

/// Reads a regular file of at most `max` bytes: a FIFO, a device or a huge file named by
/// mistake must fail at load, not hang it or exhaust memory.
pub fn read_file(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    if meta.len() > max {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("larger than {max} bytes"),
        ));
    }
    std::fs::read(path)
}

/// A file's length and modification time: the denylist is re-read only when they change.
type Stamp = (u64, std::time::SystemTime);

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// `denylist_file`: one `jti` per line, feeding a [`Denylist`]. The file is re-read when its
/// content changes, without a restart; if it becomes unreadable or vanishes, the last list read
/// stays in force, so a revoked token never comes back to life by accident.
#[derive(Debug)]
pub struct DenylistFile {
    path: PathBuf,
    list: Arc<Denylist>,
    /// The bytes the current list was built from, and the file's stamp then.
    read: Mutex<(Vec<u8>, Option<Stamp>)>,
}

impl DenylistFile {
    /// Reads the file; `Err` names the problem for the config error.
    pub fn load(path: &Path) -> Result<Arc<DenylistFile>, String> {
        let bytes = read_file(path, DENYLIST_MAX_BYTES)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(Arc::new(DenylistFile {
            path: path.to_path_buf(),
            list: Arc::new(Denylist::new(Denylist::parse(&bytes))),
            read: Mutex::new((bytes, stamp(path))),
        }))
    }

    /// The list this file feeds.
    pub fn denylist(&self) -> &Arc<Denylist> {
        &self.list
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
        let bytes = read_file(&self.path, DENYLIST_MAX_BYTES)
            .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
        if read.0 == bytes {
            read.1 = now;
            return Ok(None);
        }
        let jtis = Denylist::parse(&bytes);
        let count = jtis.len();
        self.list.replace(jtis);
        *read = (bytes, now);
        Ok(Some(count))
    }
}
