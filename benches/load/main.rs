//! The load harness (issue 6): what does a request through freshgate cost (throughput, latency,
//! gateway CPU and memory), next to the upstream alone and to nginx and HAProxy, on this machine?
//!
//! ```text
//! cargo bench --bench load -- [--connections 64] [--duration 10s] [--scenarios a,b]
//!                             [--workers N] [--plot FILE.svg]
//!                             [--target URL [--target-pid PID] [--secret S]]
//! ```
//!
//! It starts a fast upstream (this binary re-executed with `--upstream ADDR`) and the release
//! `freshgate` binary as separate processes, drives closed-loop HTTP/1.1 keep-alive load with a
//! client built on hyper (one task per connection, each sending its next request as soon as the
//! previous response body is read, latencies in an HDR histogram) and prints one table. nginx,
//! HAProxy and wrk join the same table when installed; their configs are in `bench/`.
//! `bench/README.md` has the caveats and a recent table.
//!
//! One bench target, `benches/load/main.rs`, with a module per responsibility beside it. The
//! gateway's route table is the shared fixture `tests/fixtures/routes.toml`.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod baseline;
mod client;
mod peers;
mod plot;
mod procs;
mod report;
mod run;
mod scenarios;
mod tokens;
mod upstream;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// Options, validated by clap where it can and by [`run::Plan::new`] for the rest.
#[derive(Parser, Debug)]
#[command(
    name = "load",
    about = "freshgate's load harness: one table of req/s, latency, gateway CPU and RSS per scenario",
    after_help = scenarios::HELP
)]
pub struct Options {
    /// Open keep-alive connections, each a closed loop of one request at a time.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=5_000))]
    connections: u32,
    /// Measured time per row, e.g. 10s, 500ms, 1m.
    #[arg(long, default_value = "10s", value_parser = parse_positive_duration)]
    duration: Duration,
    /// Unmeasured time per row before measuring (connections open, pools and caches warm).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Run every row this many times, in interleaved rounds, and show each row's median run:
    /// rows vary by 10-15% from one gateway process to the next on a small machine.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    repeat: u32,
    /// Comma-separated rows to run (default: all); the list is below.
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    scenarios: Vec<String>,
    /// Load an already running gateway at this base URL (e.g. http://127.0.0.1:8080) instead of
    /// starting one; it needs gateway.toml.example's routes and an HS256 secret (--secret).
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// With --target: the gateway's process id, to report its CPU per request and peak RSS.
    #[arg(long, value_name = "PID", requires = "target")]
    target_pid: Option<u32>,
    /// With --target: the gateway's HMAC secret [default: "secret", the example config's].
    #[arg(long, requires = "target")]
    secret: Option<String>,
    /// The freshgate binary to run [default: the release binary cargo built with this bench].
    #[arg(long, value_name = "PATH")]
    gateway_bin: Option<PathBuf>,
    /// Port for the freshgate processes [default: a free one].
    #[arg(long, default_value_t = 0)]
    gateway_port: u16,
    /// Port for the fast upstream [default: a free one].
    #[arg(long, default_value_t = 0)]
    upstream_port: u16,
    /// Keep freshgate's access log on (info level, to a file) instead of running at warn.
    #[arg(long)]
    access_log: bool,
    /// Workers of every gateway row: freshgate's `[server] workers`, the bare-hyper
    /// forwarder's runtimes, nginx's `worker_processes`, HAProxy's `nbthread` [default: each
    /// one's own, one per CPU].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256), conflicts_with = "target")]
    workers: Option<u16>,
    /// Draw each row's latency percentile curve (p50 to p99.99, from its HDR histogram) into
    /// this SVG file; a relative path is from the package root, where `cargo bench` runs.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Worker threads of the load client [default: one per CPU].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    client_threads: Option<u16>,
    /// Serve only the bare-hyper forwarder on ADDR in front of --upstream-addr, until stopped.
    #[arg(long, value_name = "ADDR", hide = true)]
    baseline: Option<std::net::SocketAddr>,
    /// With --baseline: the upstream to forward to.
    #[arg(long, value_name = "ADDR", hide = true)]
    upstream_addr: Option<std::net::SocketAddr>,
    /// Serve only the fast upstream on ADDR (e.g. 127.0.0.1:8000), until stopped.
    #[arg(long, value_name = "ADDR")]
    upstream: Option<std::net::SocketAddr>,
    /// Exit when standard input closes: how the harness ties its upstream's life to its own.
    #[arg(long, hide = true)]
    exit_on_stdin_eof: bool,
    /// Passed by `cargo bench`; without it (as under `cargo test --benches`) nothing runs.
    #[arg(long, hide = true)]
    bench: bool,
    /// `cargo bench FILTER` passes its filter on: only rows whose name contains it run.
    #[arg(hide = true)]
    filter: Option<String>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration ({e}); write e.g. 10s, 500ms or 1m"))
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        d if d < Duration::from_millis(100) => Err(format!(
            "{text:?} is too short to measure anything; use at least 100ms (10s is typical)"
        )),
        d => Ok(d),
    }
}

fn main() -> ExitCode {
    let options = Options::parse();
    if let Some(addr) = options.upstream {
        return upstream::serve(addr, options.exit_on_stdin_eof);
    }
    if let (Some(listen), Some(upstream)) = (options.baseline, options.upstream_addr) {
        let workers = options.workers.map_or_else(
            || std::thread::available_parallelism().map_or(1, usize::from),
            usize::from,
        );
        return baseline::serve(listen, upstream, workers);
    }
    if !options.bench {
        // `cargo test --benches` runs bench binaries without `--bench`, as criterion expects;
        // a load run there would be minutes of noise, so this mode only says how to run it.
        println!("load harness: nothing to do in test mode; run `cargo bench --bench load`");
        return ExitCode::SUCCESS;
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "load: this is a debug build, so the freshgate next to it is one too; \
             run `cargo bench --bench load` (release profile)"
        );
        return ExitCode::FAILURE;
    }
    // Stops every child on the way out, whether `run` returns an error or panics.
    let _children = procs::Guard;
    match run::main(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("load: {message}");
            ExitCode::FAILURE
        }
    }
}
