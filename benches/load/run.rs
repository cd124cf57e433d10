//! The run: plan it, start the processes, measure each row, print the table.

use std::fs;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::{StatusCode, Uri};
use jsonwebtoken::Algorithm;

use crate::client::{self, Workload};
use crate::peers::{self, Found};
use crate::plot;
use crate::procs::{self, Proc};
use crate::report::{self, Figures, Outcome, Row};
use crate::scenarios::Scenario;
use crate::tokens;
use crate::Options;

mod gateway;
mod header;
mod peer_rows;
mod revocation;
mod rows;

/// The gateway's settings, with `{{NAME}}` placeholders; the routes are [`ROUTES`].
const FRESHGATE_TOML: &str = include_str!("../../bench/freshgate.toml");
/// The shared route table: gateway.toml.example's (tests/example_config.rs checks it).
const ROUTES: &str = include_str!("../../tests/fixtures/routes.toml");
/// The generated gateway's secret; the one used with `--target` is `--secret`'s.
const SECRET: &str = "freshgate-load-harness-secret-not-for-production";
const READY_TIMEOUT: Duration = Duration::from_secs(15);
const IDLE_CONNECTIONS: usize = 1000;
const MANY_SUBJECTS: usize = 10_000;

/// Paths of gateway.toml.example's routes, which [`ROUTES`] is.
const PUBLIC_PATH: &str = "/static/app.css";
const ACCESS_PATH: &str = "/protected";
const FRESH_PATH: &str = "/protected-fresh";

/// Validated options.
struct Plan {
    options: Options,
    rows: Vec<Scenario>,
    target: Option<SocketAddr>,
    client_threads: usize,
}

impl Plan {
    fn new(options: Options) -> Result<Plan, String> {
        let mut rows: Vec<Scenario> = match options.scenarios.is_empty() {
            true => Scenario::ALL.to_vec(),
            false => {
                let mut chosen = Vec::new();
                for name in &options.scenarios {
                    let s = Scenario::parse(name.trim()).ok_or_else(|| {
                        let known: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
                        format!(
                            "--scenarios: unknown row {name:?}; known rows: {}",
                            known.join(", ")
                        )
                    })?;
                    if !chosen.contains(&s) {
                        chosen.push(s);
                    }
                }
                // Table order, whatever order they were listed in.
                Scenario::ALL
                    .into_iter()
                    .filter(|s| chosen.contains(s))
                    .collect()
            }
        };
        if let Some(filter) = &options.filter {
            rows.retain(|s| s.name().contains(filter.as_str()));
        }
        let target = options.target.as_deref().map(parse_target).transpose()?;
        if target.is_none() {
            for (flag, port) in [
                ("--gateway-port", options.gateway_port),
                ("--upstream-port", options.upstream_port),
            ] {
                if port != 0 {
                    ensure_free(port, flag)?;
                }
            }
        }
        if let Some(limit) = procs::open_files_limit() {
            let needed = 3 * IDLE_CONNECTIONS as u64 + 200;
            let wanted = needed.max(2 * u64::from(options.connections) + 200);
            if limit < wanted {
                return Err(format!(
                    "the open-files limit is {limit}, too low for this run (needs about \
                     {wanted}); raise it with `ulimit -n 65536` and retry"
                ));
            }
        }
        if let Some(path) = &options.plot {
            check_plot_path(path)?;
        }
        let client_threads = options.client_threads.map_or_else(cpus, usize::from);
        Ok(Plan {
            options,
            rows,
            target,
            client_threads,
        })
    }

    fn wants(&self, s: Scenario) -> bool {
        self.rows.contains(&s)
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn parse_target(text: &str) -> Result<SocketAddr, String> {
    let uri: Uri = text
        .parse()
        .map_err(|e| format!("--target {text:?} is not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "--target {text:?}: only plain http:// gateways can be loaded"
        ));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!(
            "--target {text:?}: give the gateway's base URL without a path; the harness \
             requests {PUBLIC_PATH}, {ACCESS_PATH} and {FRESH_PATH}"
        ));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("--target {text:?} has no host"))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("--target {text:?}: cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("--target {text:?}: {host} has no address"))?;
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| {
        format!("--target {text:?}: nothing accepts connections at {addr} ({e}); start the gateway first")
    })?;
    Ok(addr)
}

/// Refuses a `--plot` file that could not be written, before the run rather than after it.
fn check_plot_path(path: &Path) -> Result<(), String> {
    if path.extension().and_then(|e| e.to_str()) != Some("svg") {
        return Err(format!(
            "--plot {}: the chart is SVG; name the file *.svg",
            path.display()
        ));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match dir.is_dir() {
        true => Ok(()),
        false => Err(format!(
            "--plot {}: the directory {} does not exist",
            path.display(),
            dir.display()
        )),
    }
}

fn ensure_free(port: u16, flag: &str) -> Result<(), String> {
    TcpListener::bind(("127.0.0.1", port)).map(drop).map_err(|e| {
        format!("{flag} {port}: the port is busy ({e}); pick another, or leave the flag out to use a free one")
    })
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// Fills `{{NAME}}` placeholders; a placeholder left over is a harness bug, said loudly.
fn render(template: &str, origin: &str, vars: &[(&str, String)]) -> Result<String, String> {
    let mut text = template.to_string();
    for (name, value) in vars {
        text = text.replace(&format!("{{{{{name}}}}}"), value);
    }
    match text.find("{{") {
        None => Ok(text),
        Some(at) => Err(format!(
            "{origin}: placeholder {} was not filled in",
            text[at..].split("}}").next().unwrap_or_default()
        )),
    }
}

/// Polls until `addr` accepts a connection, failing early with the log if `proc` exits.
async fn wait_ready(addr: SocketAddr, proc: &Proc) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = procs::exited(proc) {
            return Err(format!(
                "{} exited ({status}) before accepting connections; its log:\n{}",
                proc.name,
                procs::log_tail(&proc.log, 15)
            ));
        }
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} did not accept connections on {addr} within {}s; its log:\n{}",
                proc.name,
                READY_TIMEOUT.as_secs(),
                procs::log_tail(&proc.log, 15)
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls until `proc` exits, up to `limit`.
async fn wait_exit(proc: &Proc, limit: Duration) -> Result<std::process::ExitStatus, String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = procs::exited(proc) {
            return Ok(status);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} did not finish within {}s",
                proc.name,
                limit.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Everything a row needs that outlives it.
struct Bench {
    plan: Plan,
    dir: PathBuf,
    gateway_bin: PathBuf,
    upstream: Option<(SocketAddr, Proc)>,
    gateway_port: u16,
    rows: Vec<Row>,
    notes: Vec<String>,
    /// Per measured row: the share of the machine's CPU time other processes used.
    foreign: Vec<(Scenario, f64)>,
}

pub fn main(options: Options) -> Result<(), String> {
    let plan = Plan::new(options)?;
    if plan.rows.is_empty() {
        // `cargo bench other-filter` reaches every bench binary; nothing here matched.
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(plan.client_threads)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the client runtime: {e}"))?;
    let scratch = tempfile::Builder::new()
        .prefix("freshgate-load-")
        .tempdir()
        .map_err(|e| format!("cannot create a scratch directory: {e}"))?;
    procs::set_scratch(scratch.path());
    let result = runtime.block_on(async {
        tokio::spawn(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nload: interrupted; stopping every process the harness started");
                procs::stop_all();
                procs::remove_scratch();
                std::process::exit(130);
            }
        });
        run(plan, scratch.path().to_path_buf()).await
    });
    procs::stop_all();
    result
}

async fn run(plan: Plan, dir: PathBuf) -> Result<(), String> {
    let machine = header::Machine::now();
    let mut bench = Bench {
        gateway_bin: PathBuf::new(),
        upstream: None,
        gateway_port: 0,
        rows: Vec::new(),
        notes: Vec::new(),
        foreign: Vec::new(),
        plan,
        dir,
    };
    let mut idle = None;
    if bench.plan.target.is_none() {
        bench.gateway_bin = gateway_binary(&bench.plan.options)?;
        bench.gateway_port = match bench.plan.options.gateway_port {
            0 => free_port()?,
            p => p,
        };
        bench.start_upstream().await?;
    }
    let rounds = bench.plan.options.repeat;
    for round in 1..=rounds {
        if rounds > 1 {
            eprintln!("load: round {round} of {rounds}");
        }
        // Whole rounds rather than repeating each row in place, so a slow drift of the
        // machine spreads over every row instead of landing on one.
        match bench.plan.target {
            Some(target) => bench.run_target(target).await?,
            None => bench.run_local().await?,
        }
    }
    if bench.plan.target.is_none() && bench.plan.wants(Scenario::Idle) {
        idle = Some(bench.idle().await?);
    }
    let (rows, spread) = report::medians(std::mem::take(&mut bench.rows));
    bench.rows = rows;
    bench.print(&machine.header(&bench.plan), &spread, idle.as_ref());
    match &bench.plan.options.plot {
        Some(path) => {
            plot::write(path, &machine.heading(&bench.plan), &bench.rows)?;
            println!("\nplot: {}", path.display());
            Ok(())
        }
        None => Ok(()),
    }
}

impl Bench {
    /// The report: header, table, notes, the idle line, the noise verdict and the bars.
    fn print(&self, header: &str, spread: &[String], idle: Option<&client::Idle>) {
        let versions = self.versions();
        println!("{header}");
        if !versions.is_empty() {
            println!("peers: {}", versions.join("; "));
        }
        println!();
        print!("{}", report::table(&self.rows));
        println!();
        for note in spread.iter().chain(&self.notes) {
            println!("{note}");
        }
        for row in &self.rows {
            if let Outcome::Failed(why) = &row.outcome {
                println!("{} failed: {why}", row.scenario.label());
            }
        }
        if let Some(i) = idle {
            println!(
                "freshgate with {}/{IDLE_CONNECTIONS} idle keep-alive connections open: peak RSS (VmHWM) {}, RSS now {}{}",
                i.open,
                i.peak_rss_kib.map_or("-".into(), report::mib),
                i.rss_kib.map_or("-".into(), report::mib),
                i.first_error.as_ref().map_or(String::new(), |e| format!(" (first failure: {e})"))
            );
        }
        println!("{}", report::noise(&self.foreign));
        let bars = report::bars(&self.rows, idle.and_then(|i| i.peak_rss_kib));
        if !bars.is_empty() {
            println!("\nbars judged by this run:");
            for bar in bars {
                println!("  {bar}");
            }
        }
    }
}

/// The freshgate binary: `--gateway-bin`, or the one cargo built for this bench (cargo
/// builds a package's binaries before its benches, with the same profile, so it is never
/// stale under `cargo bench`).
fn gateway_binary(options: &Options) -> Result<PathBuf, String> {
    let (path, how) = match &options.gateway_bin {
        Some(path) => (path.clone(), "pass an existing freshgate binary to --gateway-bin"),
        None => (
            PathBuf::from(env!("CARGO_BIN_EXE_freshgate")),
            "run the harness through `cargo bench --bench load`, which builds it; or build it with `cargo build --release --bin freshgate` and pass --gateway-bin target/release/freshgate",
        ),
    };
    match path.is_file() {
        true => Ok(path),
        false => Err(format!(
            "the freshgate binary {} is missing: {how}",
            path.display()
        )),
    }
}

/// Runs a short command to completion; `Err` carries its standard error.
fn run_quietly(mut command: Command, what: &str) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    match output.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status").is_ok_and(|t| {
        t.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}
