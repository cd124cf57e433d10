//! The process topology of `freshgate serve`: the main thread runs signals, reloads and the
//! admin listener on a current-thread runtime; `workers` threads each run one accept loop on
//! their own current-thread runtime, on one shared listening socket; a client connection's
//! upstream connection is driven in that connection's task, so a request never changes thread. A worker that stops on its own is fatal: the
//! process drains the others and exits 1 rather than serving on with less capacity unnoticed.
//!
//! [`run`] is the whole of it, driven by a shutdown future, so tests can run it in-process.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch, Semaphore};

use crate::admin::{self, Draining};
use crate::config::{self, Snapshot, Startup};
use crate::reload::Reloader;
use crate::server;
use crate::state::Gateway;

/// Loads the config, printing every error; also returns the bytes that were parsed.
pub fn load(path: &Path) -> (Option<Vec<u8>>, Option<Snapshot>) {
    let (bytes, loaded) = config::load_read(path);
    match loaded {
        Ok(snapshot) => {
            for warning in &snapshot.warnings {
                tracing::warn!("{warning}");
            }
            (bytes, Some(snapshot))
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "{}: {} error(s); nothing was started",
                path.display(),
                errors.0.len()
            );
            (bytes, None)
        }
    }
}

/// `freshgate serve`: builds the main thread's runtime and runs [`run`] until SIGINT or
/// SIGTERM; a second signal during the drain exits at once.
pub fn serve(path: &Path) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(path, async {
        shutdown_signal().await;
        // A second SIGINT/SIGTERM during the drain means "now".
        tokio::spawn(async {
            shutdown_signal().await;
            tracing::warn!("second shutdown signal; exiting without waiting for the drain");
            std::process::exit(1);
        });
    }))
}

/// Runs the gateway on `path`'s config until `shutdown` resolves (or a worker dies), then
/// drains. Call inside a current-thread runtime with I/O and time enabled.
pub async fn run(path: &Path, shutdown: impl Future<Output = ()>) -> ExitCode {
    // Take SIGHUP first, so a reload signal that arrives during startup is queued rather than
    // killing the process (SIGHUP's default action).
    #[cfg(unix)]
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    let (loaded_bytes, snapshot) = load(path);
    let Some(snapshot) = snapshot else {
        return ExitCode::FAILURE;
    };
    let startup = snapshot.startup.clone();
    let (listeners, admin_listener, forward_auth) = match bind(&startup).await {
        Ok(bound) => bound,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listeners[0].local_addr().map_or(startup.listen, |a| a);
    let routes = snapshot.routes.routes().len();
    let gateway = Gateway::new(snapshot);
    start_reloads(path, &gateway, loaded_bytes, hangup);
    let draining = Arc::new(Draining::default());
    let stop_admin = admin_listener.map(|l| start_admin(l, &gateway, &draining));
    let prefix = startup.forward_auth_prefix.clone();
    let stop_forward_auth = forward_auth.map(|l| start_forward_auth(l, &gateway, prefix));
    // `jwks_wait`: no connection is accepted before the first remote key set (the listeners are
    // bound, so connections queue in the backlog; `/readyz` says 503 meanwhile).
    if let Err(message) = crate::keys::wait_before_serving(&gateway.snapshot()).await {
        tracing::error!("{message}");
        return ExitCode::FAILURE;
    }
    let mut workers = match Workers::start(listeners, &gateway, startup.max_connections) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let count = workers.threads.len();
    tracing::info!(listen = %addr, routes, workers = count, "freshgate listening");
    let mut code = ExitCode::SUCCESS;
    tokio::select! {
        () = shutdown => tracing::info!("shutdown signal received; draining"),
        Some(i) = workers.down.recv() => {
            tracing::error!(worker = i, "a worker stopped unexpectedly; draining the others and exiting");
            code = ExitCode::FAILURE;
        }
    }
    draining.start();
    workers.stop().await;
    for stop in [stop_admin, stop_forward_auth].into_iter().flatten() {
        let _ = stop.send(());
    }
    tracing::info!("freshgate stopped");
    code
}

/// The listeners: public (one clone per worker), admin and forward-auth.
type Bound = (
    Vec<std::net::TcpListener>,
    Option<tokio::net::TcpListener>,
    Option<tokio::net::TcpListener>,
);

/// The public listening socket (one clone per worker), and the admin and forward-auth
/// listeners, if any.
async fn bind(startup: &Startup) -> Result<Bound, String> {
    let listeners = bind_workers(startup.listen, startup.workers)
        .map_err(|e| format!("cannot listen on {}: {e}", startup.listen))?;
    let own = |key: &'static str, addr: Option<std::net::SocketAddr>| async move {
        match addr {
            Some(addr) => tokio::net::TcpListener::bind(addr)
                .await
                .map(Some)
                .map_err(|e| format!("cannot listen on {key} {addr}: {e}")),
            None => Ok(None),
        }
    };
    let admin = own("admin.listen", startup.admin_listen).await?;
    let forward_auth = own("forward_auth.listen", startup.forward_auth_listen).await?;
    Ok((listeners, admin, forward_auth))
}

/// Reloads on a file change and on SIGHUP.
fn start_reloads(
    path: &Path,
    gateway: &Arc<Gateway>,
    loaded_bytes: Option<Vec<u8>>,
    #[cfg(unix)] hangup: std::io::Result<tokio::signal::unix::Signal>,
) {
    let reloader = Reloader::seeded(path.to_path_buf(), gateway.clone(), loaded_bytes);
    tokio::spawn(reloader.clone().watch_file(Duration::from_secs(1)));
    #[cfg(unix)]
    match hangup {
        Ok(hangup) => {
            tokio::spawn(reloader.on_sighup(hangup));
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; reload by editing the file")
        }
    }
}

/// Serves forward-auth subrequests until the returned sender fires.
fn start_forward_auth(
    listener: tokio::net::TcpListener,
    gateway: &Arc<Gateway>,
    prefix: Option<String>,
) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    tracing::info!(forward_auth = ?listener.local_addr().ok(), "forward-auth listening");
    let shutdown = async move {
        let _ = stopped.await;
    };
    let serve = crate::forward_auth::serve(listener, gateway.clone(), prefix, shutdown);
    tokio::spawn(serve);
    stop
}

/// Serves the admin endpoints until the returned sender fires.
fn start_admin(
    listener: tokio::net::TcpListener,
    gateway: &Arc<Gateway>,
    draining: &Arc<Draining>,
) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    tracing::info!(admin = ?listener.local_addr().ok(), "admin listening (/healthz, /readyz, /metrics)");
    let shutdown = async move {
        let _ = stopped.await;
    };
    tokio::spawn(admin::serve(
        listener,
        gateway.clone(),
        draining.clone(),
        shutdown,
    ));
    stop
}

/// The worker threads, their stop signal, and the channel on which a worker that exits says so.
struct Workers {
    threads: Vec<JoinHandle<std::io::Result<()>>>,
    stop: watch::Sender<bool>,
    down: mpsc::UnboundedReceiver<usize>,
}

/// Dropped on any exit of a worker thread, a panic included: tells the main thread, which
/// treats an exit before shutdown as fatal.
struct Down(mpsc::UnboundedSender<usize>, usize);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = self.0.send(self.1);
    }
}

impl Workers {
    /// One thread per listener, sharing one connection cap; worker `i` writes shard `i` of the
    /// metrics.
    fn start(
        listeners: Vec<std::net::TcpListener>,
        gateway: &Arc<Gateway>,
        max_connections: usize,
    ) -> Result<Workers, String> {
        let (stop, stopped) = watch::channel(false);
        let (worker_down, down) = mpsc::unbounded_channel::<usize>();
        let permits = Arc::new(Semaphore::new(max_connections));
        let mut threads = Vec::new();
        for (i, listener) in listeners.into_iter().enumerate() {
            let (gateway, permits, stopped) = (gateway.clone(), permits.clone(), stopped.clone());
            let down = Down(worker_down.clone(), i);
            let thread = std::thread::Builder::new()
                .name(format!("freshgate-worker-{i}"))
                .spawn(move || {
                    crate::metrics::enter_worker(i);
                    worker(listener, gateway, permits, stopped, down)
                })
                .map_err(|e| format!("cannot start worker thread {i}: {e}"))?;
            threads.push(thread);
        }
        Ok(Workers {
            threads,
            stop,
            down,
        })
    }

    /// Tells every worker to stop accepting and drain, and waits for the threads.
    async fn stop(self) {
        let _ = self.stop.send(true);
        let threads = self.threads;
        let joined = tokio::task::spawn_blocking(move || {
            threads
                .into_iter()
                .map(JoinHandle::join)
                .collect::<Vec<_>>()
        })
        .await;
        for result in joined.into_iter().flatten() {
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "a worker failed"),
                Err(_) => tracing::error!("a worker thread panicked"),
            }
        }
    }
}

/// One worker thread: its own current-thread runtime running one accept loop.
fn worker(
    listener: std::net::TcpListener,
    gateway: Arc<Gateway>,
    permits: Arc<Semaphore>,
    mut stopped: watch::Receiver<bool>,
    _down: Down,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        server::serve_with(listener, gateway, shutdown, permits).await;
        Ok(())
    })
}

/// Binds the listening socket once and hands each worker a clone of it: the workers share one
/// accept queue. (Not `SO_REUSEPORT`: that would let a second instance bind the same port
/// without an error and silently take half the connections.)
fn bind_workers(addr: SocketAddr, workers: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let mut listeners = Vec::with_capacity(workers);
    for _ in 1..workers.max(1) {
        listeners.push(listener.try_clone()?);
    }
    listeners.push(listener);
    Ok(listeners)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
