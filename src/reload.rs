//! Hot reload: on SIGHUP, or when the config file's content changes on disk, the file is parsed
//! and validated into a whole new snapshot that is swapped in atomically. A request keeps the
//! snapshot it started with. An invalid file is rejected with the same messages as `check`,
//! logged, counted, and the old snapshot keeps serving.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::config::{self, ConfigErrors};
use crate::state::Gateway;

/// Reloads one config file into one gateway. Reloads never overlap.
#[derive(Debug)]
pub struct Reloader {
    path: PathBuf,
    gateway: Arc<Gateway>,
    /// The bytes last loaded or last rejected, so an unchanged file is not reloaded again and
    /// a rejected one is not reported every poll.
    last_seen: Mutex<Option<Vec<u8>>>,
}

/// How long a changed file must stay unchanged before it is loaded: editors and deploy tools
/// write in several steps, and a half-written file should not even be tried.
const SETTLE: Duration = Duration::from_millis(200);

impl Reloader {
    pub fn new(path: PathBuf, gateway: Arc<Gateway>) -> Arc<Self> {
        let current = std::fs::read(&path).ok();
        Self::seeded(path, gateway, current)
    }

    /// Like [`Reloader::new`], with the bytes the running snapshot was parsed from, so an edit
    /// made between the first load and this call is still noticed.
    pub fn seeded(path: PathBuf, gateway: Arc<Gateway>, loaded: Option<Vec<u8>>) -> Arc<Self> {
        Arc::new(Reloader {
            path,
            gateway,
            last_seen: Mutex::new(loaded),
        })
    }

    /// Loads the file now (SIGHUP, or a change seen on disk). `trigger` is for the log.
    pub async fn reload(&self, trigger: &'static str) -> Result<(), ConfigErrors> {
        let mut last_seen = self.last_seen.lock().await;
        // Remember exactly the bytes that were judged, accepted or not.
        let (seen, loaded) = config::load_read(&self.path);
        *last_seen = seen;
        let metrics = self.gateway.metrics();
        match loaded {
            Ok(snapshot) => {
                let old = self.gateway.snapshot();
                for key in snapshot.startup.changed_keys(&old.startup) {
                    tracing::warn!(key, "changed; it takes effect on restart");
                }
                for warning in &snapshot.warnings {
                    tracing::warn!("{warning}");
                }
                let routes = snapshot.routes.routes().len();
                self.gateway.replace(snapshot);
                metrics.record_reload(true);
                tracing::info!(trigger, path = %self.path.display(), routes, "config reloaded");
                Ok(())
            }
            Err(errors) => {
                metrics.record_reload(false);
                tracing::error!(trigger, path = %self.path.display(), "config rejected; the previous config keeps serving:\n{errors}");
                Err(errors)
            }
        }
    }

    /// Reloads when the file's content changes, checking every `interval` and waiting for the
    /// content to settle first. Runs until the task is dropped.
    pub async fn watch_file(self: Arc<Self>, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.refresh_denylist();
            let Ok(now) = tokio::fs::read(&self.path).await else {
                // Missing for a moment while a tool replaces it: check again next tick.
                continue;
            };
            if self.last_seen.lock().await.as_deref() == Some(now.as_slice()) {
                continue;
            }
            tokio::time::sleep(SETTLE).await;
            match tokio::fs::read(&self.path).await {
                Ok(settled) if settled == now => {
                    let _ = self.reload("file changed").await;
                }
                // Still changing: the next tick looks again.
                _ => {}
            }
        }
    }

    /// Re-reads the current snapshot's denylist file if it changed. An unreadable file keeps
    /// the last list in force.
    fn refresh_denylist(&self) {
        let snapshot = self.gateway.snapshot();
        let Some(denylist) = &snapshot.denylist_file else {
            return;
        };
        match denylist.refresh() {
            Ok(Some(entries)) => {
                tracing::info!(path = %denylist.path().display(), entries, "denylist reloaded")
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "denylist not re-read; the last list stays in force")
            }
        }
    }

    /// Reloads on every SIGHUP. Signals that arrive during a reload are coalesced into one
    /// more reload afterwards.
    #[cfg(unix)]
    pub async fn on_sighup(self: Arc<Self>, mut hangup: tokio::signal::unix::Signal) {
        while hangup.recv().await.is_some() {
            let _ = self.reload("SIGHUP").await;
        }
    }
}
