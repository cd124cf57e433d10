//! The gateway in this process on 127.0.0.1:0, as `freshgate run` serves it: from TOML text, a
//! prepared snapshot, or a config file with its reloader (and, on request, its file watcher).
//!
//! The serving task's panic is the test's failure: [`TestGateway::stop`] awaits the task and
//! re-raises a panic, and dropping the gateway re-raises one that already happened.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use freshgate::reload::Reloader;
use freshgate::{Gateway, Snapshot};
use futures_util::FutureExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::config::ConfigFile;
use super::upstream::Upstream;

pub struct TestGateway {
    pub addr: SocketAddr,
    pub gateway: Arc<Gateway>,
    reloader: Option<Arc<Reloader>>,
    stop: Option<oneshot::Sender<()>>,
    serving: Option<JoinHandle<()>>,
    watcher: Option<JoinHandle<()>>,
}

impl TestGateway {
    /// Serves `config` (TOML text) with `{upstream}` replaced by `upstream`'s address.
    pub async fn start(config: &str, upstream: SocketAddr) -> TestGateway {
        let text = config.replace("{upstream}", &upstream.to_string());
        let snapshot = freshgate::config::parse(&text, "test.toml", std::path::Path::new("."))
            .unwrap_or_else(|e| panic!("test config is invalid:\n{e}"));
        TestGateway::start_snapshot(snapshot).await
    }

    /// Serves a snapshot built by the test.
    pub async fn start_snapshot(snapshot: Snapshot) -> TestGateway {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let addr = listener.local_addr().expect("gateway addr");
        let gateway = Gateway::new(snapshot);
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(freshgate::serve(listener, gateway.clone(), async move {
            let _ = stopped.await;
        }));
        TestGateway {
            addr,
            gateway,
            reloader: None,
            stop: Some(stop),
            serving: Some(serving),
            watcher: None,
        }
    }

    /// Serves a config FILE, as the binary does, with a [`Reloader`] for it.
    pub async fn from_file(config: &ConfigFile) -> TestGateway {
        let snapshot = freshgate::config::load(&config.path)
            .unwrap_or_else(|e| panic!("test config is invalid:\n{e}"));
        let mut gw = TestGateway::start_snapshot(snapshot).await;
        gw.reloader = Some(Reloader::new(config.path.clone(), gw.gateway.clone()));
        gw
    }

    /// [`TestGateway::from_file`] with the file watcher running, checking every `interval`.
    pub async fn watching(config: &ConfigFile, interval: Duration) -> TestGateway {
        let mut gw = TestGateway::from_file(config).await;
        let reloader = gw.reloader().clone();
        gw.watcher = Some(tokio::spawn(reloader.watch_file(interval)));
        gw
    }

    /// The reloader of a gateway started [`TestGateway::from_file`].
    pub fn reloader(&self) -> &Arc<Reloader> {
        self.reloader
            .as_ref()
            .expect("test bug: only a gateway started from a file has a reloader")
    }

    /// The metrics as `/metrics` would expose them.
    pub fn metrics(&self) -> String {
        self.gateway.metrics().encode()
    }

    /// Shuts the gateway down and waits for it to finish draining; a panic of the serving task
    /// fails the test here.
    pub async fn stop(mut self) {
        drop(self.stop.take());
        if let Some(serving) = self.serving.take() {
            if let Err(error) = serving.await {
                if let Ok(panic) = error.try_into_panic() {
                    std::panic::resume_unwind(panic);
                }
            }
        }
    }
}

/// The echo upstream and a gateway serving `config` in front of it (`{upstream}` in the text is
/// the upstream's address).
pub async fn start_with_echo(config: &str) -> (Upstream, TestGateway) {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(config, upstream.addr).await;
    (upstream, gateway)
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(watcher) = self.watcher.take() {
            watcher.abort();
        }
        drop(self.stop.take());
        // Drop cannot wait for the drain; a task that has already ended is looked at.
        let Some(mut serving) = self.serving.take() else {
            return;
        };
        if let Some(Err(error)) = (&mut serving).now_or_never() {
            if !std::thread::panicking() {
                if let Ok(panic) = error.try_into_panic() {
                    std::panic::resume_unwind(panic);
                }
            }
        }
    }
}
