//! The `freshgate` command: parse the command line, set up logging, hand over to the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use freshgate::auth::TokenType;
use freshgate::routes::Matcher;
use freshgate::token::{sign_hmac, TokenSpec};
use std::sync::Arc;

use freshgate::admin::{self, Draining};
use freshgate::reload::Reloader;
use freshgate::{config, explain, Gateway};
use tracing_subscriber::EnvFilter;

/// An edge gateway that enforces fastapi-jwt-auth's fresh-token policies.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// The config file.
    #[arg(long, global = true, default_value = "gateway.toml")]
    config: PathBuf,
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Validate the config and print the route table in the order it is matched.
    Check,
    /// Show what freshgate would do with a request, without serving or contacting an upstream.
    /// Exits 0 when the request would be forwarded, 1 when it would be rejected.
    Explain {
        /// The request method, e.g. GET.
        method: String,
        /// The request target: a path with optional query (`/a?b=1`) or an absolute URL.
        url: String,
        /// A token, sent as `Authorization: Bearer <token>` (or the configured header/type).
        #[arg(long)]
        token: Option<String>,
        /// An extra request header, `'Name: value'`; repeatable.
        #[arg(long = "header", value_name = "NAME: VALUE")]
        headers: Vec<String>,
    },
    /// Print a token signed with the configured secret, with fastapi-jwt-auth's claims.
    Token {
        /// The `sub` claim.
        #[arg(long)]
        sub: String,
        /// Mint a refresh token instead of an access token.
        #[arg(long, conflicts_with = "fresh")]
        refresh: bool,
        /// Mark the access token fresh, as `/login` does.
        #[arg(long)]
        fresh: bool,
        /// Lifetime, e.g. 15m, 1h, 30d (default 15m for access, 30d for refresh).
        #[arg(long, value_parser = config::parse_duration)]
        expires_in: Option<Duration>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&cli.config),
        Command::Check => check(&cli.config),
        Command::Explain {
            method,
            url,
            token,
            headers,
        } => explain(&cli.config, &method, &url, token.as_deref(), &headers),
        Command::Token {
            sub,
            refresh,
            fresh,
            expires_in,
        } => token(&cli.config, sub, refresh, fresh, expires_in),
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a terminal: journald and log files must not fill with escape codes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn load(path: &Path) -> Option<freshgate::Snapshot> {
    load_read(path).1
}

/// Loads the config, printing every error; also returns the bytes that were parsed.
fn load_read(path: &Path) -> (Option<Vec<u8>>, Option<freshgate::Snapshot>) {
    let (bytes, loaded) = config::load_read(path);
    match loaded {
        Ok(snapshot) => (bytes, Some(snapshot)),
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

fn check(path: &Path) -> ExitCode {
    let Some(snapshot) = load(path) else {
        return ExitCode::FAILURE;
    };
    let mut text = format!("{}: valid; listen {}\n", path.display(), snapshot.listen);
    text.push_str("routes, in the order they are matched:\n");
    for route in snapshot.routes.in_match_order() {
        let methods = match route.methods.as_slice() {
            [] => "*".to_string(),
            ms => ms.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(","),
        };
        let (kind, pattern) = match &route.matcher {
            Matcher::Path(p) => ("path", p),
            Matcher::Prefix(p) => ("prefix", p),
        };
        let upstream = &snapshot.upstreams[route.upstream];
        text.push_str(&format!(
            "  {methods:<14} {kind:<6} {pattern:<32} {:<8} -> {} (http://{})  [route {}]\n",
            route.policy.as_str(),
            upstream.name,
            upstream.authority,
            route.index
        ));
    }
    print_out(&text);
    ExitCode::SUCCESS
}

/// Writes to standard output; a closed pipe (`freshgate check | head -1`) is not an error.
fn print_out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn token(
    path: &Path,
    sub: String,
    refresh: bool,
    fresh: bool,
    expires_in: Option<Duration>,
) -> ExitCode {
    let Some(snapshot) = load(path) else {
        return ExitCode::FAILURE;
    };
    let token_type = match refresh {
        true => TokenType::Refresh,
        false => TokenType::Access,
    };
    let mut spec = TokenSpec::new(sub, token_type, fresh);
    if expires_in.is_some() {
        spec.expires_in = expires_in;
    }
    let decoder = &snapshot.auth.decoder;
    spec.issuer = decoder.issuer.clone();
    spec.audience = decoder.audience.as_ref().and_then(|a| a.first().cloned());
    let (Some(secret), Some(alg)) = (&snapshot.secret, decoder.algorithms.first()) else {
        eprintln!(
            "{}: no HMAC secret is configured, so freshgate cannot sign tokens",
            path.display()
        );
        return ExitCode::FAILURE;
    };
    match sign_hmac(
        &spec.claims(freshgate::server::now_ms() / 1000),
        secret.expose(),
        *alg,
    ) {
        Ok(token) => {
            print_out(&format!("{token}\n"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot sign the token: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the gateway: this thread runs signals, reloads and the admin listener; `workers`
/// threads each run one accept loop on their own single-threaded runtime, on a shared
/// listening socket, with their own upstream pool, so a request never changes thread (see the
/// README's performance notes). A worker that stops on its own is fatal: the process drains
/// the others and exits 1 rather than serving on with less capacity unnoticed.
fn serve(path: &Path) -> ExitCode {
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
    runtime.block_on(async move {
        // Take SIGHUP first, so a reload signal that arrives during startup is queued rather
        // than killing the process (SIGHUP's default action).
        #[cfg(unix)]
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
        let (loaded_bytes, snapshot) = load_read(path);
        let Some(snapshot) = snapshot else {
            return ExitCode::FAILURE;
        };
        let listeners = match bind_workers(snapshot.listen, snapshot.server.workers) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cannot listen on {}: {e}", snapshot.listen);
                return ExitCode::FAILURE;
            }
        };
        let admin_listener = match snapshot.admin_listen {
            Some(addr) => match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => Some(l),
                Err(e) => {
                    eprintln!("cannot listen on admin.listen {addr}: {e}");
                    return ExitCode::FAILURE;
                }
            },
            None => None,
        };
        let addr = listeners[0].local_addr().map_or(snapshot.listen, |a| a);
        let routes = snapshot.routes.routes().len();
        let workers = listeners.len();
        let gateway = Gateway::new(snapshot);
        let reloader = Reloader::seeded(path.to_path_buf(), gateway.clone(), loaded_bytes);
        tokio::spawn(reloader.clone().watch_file(Duration::from_secs(1)));
        #[cfg(unix)]
        match hangup {
            Ok(hangup) => {
                tokio::spawn(reloader.clone().on_sighup(hangup));
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload by editing the file")
            }
        }
        let draining = Arc::new(Draining::default());
        let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
        if let Some(admin_listener) = admin_listener {
            let admin_addr = admin_listener.local_addr().ok();
            tracing::info!(admin = ?admin_addr, "admin listening (/healthz, /readyz, /metrics)");
            let shutdown = async move {
                let _ = admin_stopped.await;
            };
            tokio::spawn(admin::serve(
                admin_listener,
                gateway.clone(),
                draining.clone(),
                shutdown,
            ));
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (worker_down, mut down) = tokio::sync::mpsc::unbounded_channel::<usize>();
        let permits = Arc::new(tokio::sync::Semaphore::new(
            gateway.snapshot().server.max_connections,
        ));
        let mut threads = Vec::new();
        for (i, listener) in listeners.into_iter().enumerate() {
            let (gateway, permits, mut stopped) =
                (gateway.clone(), permits.clone(), stopped.clone());
            let worker_down = worker_down.clone();
            let thread = std::thread::Builder::new()
                .name(format!("freshgate-worker-{i}"))
                .spawn(move || {
                    // Dropped on any exit of the thread, a panic included: tells the main
                    // thread, which treats an exit before shutdown as fatal.
                    struct Down(tokio::sync::mpsc::UnboundedSender<usize>, usize);
                    impl Drop for Down {
                        fn drop(&mut self) {
                            let _ = self.0.send(self.1);
                        }
                    }
                    let _down = Down(worker_down, i);
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    runtime.block_on(async move {
                        let listener = tokio::net::TcpListener::from_std(listener)?;
                        let shutdown = async move {
                            let _ = stopped.wait_for(|stop| *stop).await;
                        };
                        freshgate::server::serve_with(listener, gateway, shutdown, permits).await;
                        Ok::<_, std::io::Error>(())
                    })
                });
            match thread {
                Ok(t) => threads.push(t),
                Err(e) => {
                    eprintln!("cannot start worker thread {i}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        drop(worker_down);
        tracing::info!(listen = %addr, routes, workers, "freshgate listening");
        let mut code = ExitCode::SUCCESS;
        tokio::select! {
            () = shutdown_signal() => {}
            Some(i) = down.recv() => {
                tracing::error!(worker = i, "a worker stopped unexpectedly; draining the others and exiting");
                code = ExitCode::FAILURE;
            }
        }
        draining.start();
        let _ = stop.send(true);
        // A second SIGINT/SIGTERM during the drain means "now".
        tokio::spawn(async {
            shutdown_signal().await;
            tracing::warn!("second shutdown signal; exiting without waiting for the drain");
            std::process::exit(1);
        });
        let joined = tokio::task::spawn_blocking(move || {
            threads.into_iter().map(|t| t.join()).collect::<Vec<_>>()
        })
        .await;
        for result in joined.into_iter().flatten() {
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "a worker failed"),
                Err(_) => tracing::error!("a worker thread panicked"),
            }
        }
        let _ = stop_admin.send(());
        tracing::info!("freshgate stopped");
        code
    })
}

/// Binds the listening socket once and hands each worker a clone of it: the workers share
/// one accept queue. (Not `SO_REUSEPORT`: that would let a second instance bind the same port
/// without an error and silently take half the connections.)
fn bind_workers(
    addr: std::net::SocketAddr,
    workers: usize,
) -> std::io::Result<Vec<std::net::TcpListener>> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let mut listeners = Vec::with_capacity(workers);
    for _ in 1..workers.max(1) {
        listeners.push(listener.try_clone()?);
    }
    listeners.push(listener);
    Ok(listeners)
}

fn explain(
    path: &Path,
    method: &str,
    url: &str,
    token: Option<&str>,
    extra: &[String],
) -> ExitCode {
    let Some(snapshot) = load(path) else {
        return ExitCode::FAILURE;
    };
    match explain::explain(
        &snapshot,
        method,
        url,
        token,
        extra,
        freshgate::server::now_ms(),
    ) {
        Ok(report) => {
            print_out(&report.text);
            match report.forwarded {
                true => ExitCode::SUCCESS,
                false => ExitCode::FAILURE,
            }
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
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
    tracing::info!("shutdown signal received; draining");
}
