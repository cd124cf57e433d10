//! A config file in its own temporary directory, which a test can rewrite (reload tests) and
//! put other files beside (a denylist, a secret file).

use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// `gateway.toml` in a fresh temporary directory, removed on drop.
pub struct ConfigFile {
    dir: TempDir,
    pub path: PathBuf,
}

impl ConfigFile {
    pub fn new(text: &str) -> ConfigFile {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("gateway.toml");
        let file = ConfigFile { dir, path };
        file.write(text);
        file
    }

    /// The directory the file is in (relative paths in the config resolve against it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces the content in one step (a sibling file renamed over it), as deploy tools do,
    /// so a watcher never sees a half-written file unless a test writes one on purpose.
    pub fn write(&self, text: &str) {
        let staging = self.path.with_extension("toml.new");
        std::fs::write(&staging, text).expect("write the staging config");
        std::fs::rename(&staging, &self.path).expect("rename the config into place");
    }

    /// Writes another file, `name`, beside the config, and returns its path.
    pub fn write_beside(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir().join(name);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// `path:line:` as config errors start, for the 1-based `line`.
    pub fn at_line(&self, line: usize) -> String {
        format!("{}:{line}:", self.path.display())
    }
}
