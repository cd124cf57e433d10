//! The load harness (issue 6): what does a request through freshgate cost (throughput, latency,
//! gateway CPU and memory), next to the upstream alone and to nginx and HAProxy, on this machine?
//!
//! ```text
//! cargo bench --bench load -- [--connections 64] [--duration 10s] [--scenarios a,b]
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
//! Everything lives in this one file (in modules by responsibility) because `benches/*.rs` are
//! bench targets of their own and this harness owns no other source path.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

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
    /// Worker threads of the load client [default: one per CPU].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    client_threads: Option<u16>,
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

/// The rows the harness knows, in table order.
mod scenarios {
    /// What `--help` lists after the options.
    pub const HELP: &str = "\
Rows (--scenarios, comma-separated; default all):
  upstream-direct            the fast upstream without a gateway (the ceiling)
  public                     freshgate, public route, no token
  access-hs256               freshgate, access route, one HS256 token repeated
  fresh-hs256                freshgate, fresh route, one fresh HS256 token repeated
  access-rs256               freshgate, access route, RS256 (needs public_key_file support)
  access-es256               freshgate, access route, ES256 (needs public_key_file support)
  access-eddsa               freshgate, access route, EdDSA (needs public_key_file support)
  rejected-expired           freshgate, access route, expired token: 422 is the expected answer
  access-hs256-10k-subjects  freshgate, access route, 10,000 distinct tokens round-robin
  nginx                      nginx proxy_pass, no auth (bench/nginx.conf), if installed
  haproxy                    HAProxy 2.5+ jwt_verify HS256 (bench/haproxy.cfg), if installed
  wrk                        wrk against freshgate access-hs256, to cross-check the client
  idle-1000                  freshgate peak RSS with 1,000 idle keep-alive connections";

    /// One row of the table (or, for [`Scenario::Idle`], the line below it).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Scenario {
        UpstreamDirect,
        Public,
        AccessHs256,
        FreshHs256,
        AccessRs256,
        AccessEs256,
        AccessEdDsa,
        RejectedExpired,
        ManySubjects,
        Nginx,
        Haproxy,
        Wrk,
        Idle,
    }

    impl Scenario {
        pub const ALL: [Scenario; 13] = [
            Scenario::UpstreamDirect,
            Scenario::Public,
            Scenario::AccessHs256,
            Scenario::FreshHs256,
            Scenario::AccessRs256,
            Scenario::AccessEs256,
            Scenario::AccessEdDsa,
            Scenario::RejectedExpired,
            Scenario::ManySubjects,
            Scenario::Nginx,
            Scenario::Haproxy,
            Scenario::Wrk,
            Scenario::Idle,
        ];

        pub fn name(self) -> &'static str {
            match self {
                Scenario::UpstreamDirect => "upstream-direct",
                Scenario::Public => "public",
                Scenario::AccessHs256 => "access-hs256",
                Scenario::FreshHs256 => "fresh-hs256",
                Scenario::AccessRs256 => "access-rs256",
                Scenario::AccessEs256 => "access-es256",
                Scenario::AccessEdDsa => "access-eddsa",
                Scenario::RejectedExpired => "rejected-expired",
                Scenario::ManySubjects => "access-hs256-10k-subjects",
                Scenario::Nginx => "nginx",
                Scenario::Haproxy => "haproxy",
                Scenario::Wrk => "wrk",
                Scenario::Idle => "idle-1000",
            }
        }

        /// The label in the table, which says what a peer row is.
        pub fn label(self) -> &'static str {
            match self {
                Scenario::Nginx => "nginx proxy_pass (no auth)",
                Scenario::Haproxy => "haproxy jwt_verify HS256",
                Scenario::Wrk => "access-hs256 (wrk)",
                other => other.name(),
            }
        }

        pub fn parse(name: &str) -> Option<Scenario> {
            Scenario::ALL.into_iter().find(|s| s.name() == name)
        }
    }
}

/// Child processes: started, watched, stopped (also on Ctrl-C and failure), and measured
/// through `/proc`.
mod procs {
    use std::fs::{self, File};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, ExitStatus, Stdio};
    use std::sync::{Mutex, OnceLock, PoisonError};
    use std::time::{Duration, Instant};

    struct Running {
        pid: u32,
        name: String,
        child: Child,
    }

    /// Every child still running. A global, so the Ctrl-C handler and the guard reach them.
    static CHILDREN: Mutex<Vec<Running>> = Mutex::new(Vec::new());
    /// The scratch directory, removed by the Ctrl-C handler (which exits without unwinding).
    static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

    fn children() -> std::sync::MutexGuard<'static, Vec<Running>> {
        // A panic while holding the lock leaves a list that is still right; keep using it.
        CHILDREN.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A started child: its id, a name for messages, and the file its output goes to.
    #[derive(Debug)]
    pub struct Proc {
        pub pid: u32,
        pub name: String,
        pub log: PathBuf,
    }

    /// Stops every child when dropped.
    pub struct Guard;

    impl Drop for Guard {
        fn drop(&mut self) {
            stop_all();
        }
    }

    pub fn set_scratch(dir: &Path) {
        let _ = SCRATCH.set(dir.to_path_buf());
    }

    pub fn remove_scratch() {
        if let Some(dir) = SCRATCH.get() {
            let _ = fs::remove_dir_all(dir);
        }
    }

    /// Starts `command` with stdout and stderr appended to `log`. With `tie_stdin`, its
    /// standard input is a pipe that closes when this process dies, however it dies.
    pub fn spawn(
        name: &str,
        mut command: Command,
        log: &Path,
        tie_stdin: bool,
    ) -> Result<Proc, String> {
        let open = || {
            File::options()
                .create(true)
                .append(true)
                .open(log)
                .map_err(|e| format!("cannot write {}: {e}", log.display()))
        };
        command.stdout(open()?).stderr(open()?);
        command.stdin(match tie_stdin {
            true => Stdio::piped(),
            false => Stdio::null(),
        });
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {name} ({program}): {e}"))?;
        let pid = child.id();
        children().push(Running {
            pid,
            name: name.to_string(),
            child,
        });
        Ok(Proc {
            pid,
            name: name.to_string(),
            log: log.to_path_buf(),
        })
    }

    /// `Some(status)` once the child has exited.
    pub fn exited(proc: &Proc) -> Option<ExitStatus> {
        let mut list = children();
        let running = list.iter_mut().find(|r| r.pid == proc.pid)?;
        running.child.try_wait().ok().flatten()
    }

    /// Stops one child and waits for it.
    pub fn stop(proc: &Proc) {
        let found = {
            let mut list = children();
            list.iter()
                .position(|r| r.pid == proc.pid)
                .map(|i| list.remove(i))
        };
        if let Some(running) = found {
            terminate(running);
        }
    }

    /// Stops every child, newest first (gateways before the upstream they talk to).
    pub fn stop_all() {
        let all: Vec<Running> = children().drain(..).rev().collect();
        for running in all {
            terminate(running);
        }
    }

    /// SIGTERM, up to 3 s to exit, then SIGKILL. SIGTERM first because nginx's master only takes
    /// its workers down on a signal it can handle; SIGKILL would orphan them on the port.
    /// Signalling by pid is safe: a child not yet waited for keeps its pid, even as a zombie.
    fn terminate(mut running: Running) {
        if matches!(running.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // `kill(1)` because std has no SIGTERM and this crate forbids unsafe code (no libc).
        let termed = Command::new("kill")
            .args(["-TERM", &running.pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + Duration::from_secs(3);
        while termed && Instant::now() < deadline {
            if matches!(running.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Err(e) = running.child.kill() {
            eprintln!(
                "load: cannot kill {} (pid {}): {e}",
                running.name, running.pid
            );
        }
        let _ = running.child.wait();
    }

    /// The last `lines` lines of a log, indented, for error messages.
    pub fn log_tail(path: &Path, lines: usize) -> String {
        let text = fs::read_to_string(path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let tail = &all[all.len().saturating_sub(lines)..];
        match tail.is_empty() {
            true => format!("    ({} is empty)", path.display()),
            false => tail
                .iter()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// (parent pid, utime + stime in clock ticks) from `/proc/<pid>/stat`.
    fn stat(pid: u32) -> Option<(u32, u64)> {
        let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Field 2, the command name, may hold spaces and ')'; the fields after the last ')'
        // are fixed: the first of them is field 3 (state), so field n is at index n - 3.
        let rest = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ppid = fields.get(1)?.parse().ok()?;
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some((ppid, utime + stime))
    }

    /// `root` and every descendant: nginx works in child processes of its master.
    fn tree(root: u32) -> Vec<u32> {
        let mut parents: Vec<(u32, u32)> = Vec::new();
        if let Ok(entries) = fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                    continue;
                };
                if let Some((ppid, _)) = stat(pid) {
                    parents.push((pid, ppid));
                }
            }
        }
        let mut found = vec![root];
        let mut i = 0;
        while i < found.len() {
            let parent = found[i];
            found.extend(
                parents
                    .iter()
                    .filter(|(_, pp)| *pp == parent)
                    .map(|(p, _)| *p),
            );
            i += 1;
        }
        found
    }

    /// CPU time (user + system) used so far by `root` and its descendants.
    pub fn cpu_time(root: u32) -> Option<Duration> {
        stat(root)?;
        let ticks: u64 = tree(root)
            .into_iter()
            .filter_map(stat)
            .map(|(_, t)| t)
            .sum();
        Some(Duration::from_micros(
            ticks.saturating_mul(1_000_000) / clock_ticks(),
        ))
    }

    /// CPU time the whole machine and this harness's own process tree (client, upstream,
    /// gateways, peers: all children of this process) have used so far.
    #[derive(Clone, Copy)]
    pub struct Usage {
        machine: Duration,
        ours: Duration,
    }

    pub fn usage() -> Option<Usage> {
        // /proc/stat's first line: "cpu user nice system idle iowait irq softirq steal ..."
        let text = fs::read_to_string("/proc/stat").ok()?;
        let ticks: Vec<u64> = text
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        let busy: u64 = [0, 1, 2, 5, 6, 7]
            .iter()
            .filter_map(|&i| ticks.get(i))
            .sum();
        let me = std::process::id();
        // Children already waited for (wrk after its run) leave the tree; their CPU time moves
        // to this process's cutime + cstime (fields 16 and 17), so count those too.
        let text = fs::read_to_string(format!("/proc/{me}/stat")).ok()?;
        let fields: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
        let reaped: u64 = [13, 14]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
            .sum();
        Some(Usage {
            machine: Duration::from_micros(busy.saturating_mul(1_000_000) / clock_ticks()),
            ours: cpu_time(me)? + Duration::from_micros(reaped * 1_000_000 / clock_ticks()),
        })
    }

    /// The CPU time other processes used between two readings: what disturbed a row.
    pub fn foreign(before: Usage, after: Usage) -> Duration {
        let machine = after.machine.saturating_sub(before.machine);
        machine.saturating_sub(after.ours.saturating_sub(before.ours))
    }

    /// Peak resident memory (VmHWM) of `root` plus its descendants, in KiB. Summing counts
    /// pages shared between nginx's processes more than once; freshgate and HAProxy are one
    /// process, so for them it is exact.
    pub fn peak_rss_kib(root: u32) -> Option<u64> {
        let sum: u64 = tree(root)
            .into_iter()
            .filter_map(|pid| status_kib(pid, "VmHWM:"))
            .sum();
        (sum > 0).then_some(sum)
    }

    /// A `kB` line of `/proc/<pid>/status`.
    pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
        let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = text.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    /// `sysconf(_SC_CLK_TCK)`, asked of `getconf` (no libc here); 100 if that fails, which is
    /// the value on every Linux architecture in practice.
    pub fn clock_ticks() -> u64 {
        static TICKS: OnceLock<u64> = OnceLock::new();
        *TICKS.get_or_init(|| {
            Command::new("getconf")
                .arg("CLK_TCK")
                .output()
                .ok()
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .and_then(|s| s.trim().parse().ok())
                .filter(|&t| t > 0)
                .unwrap_or(100)
        })
    }

    /// The soft limit on open files, from `/proc/self/limits`.
    pub fn open_files_limit() -> Option<u64> {
        let text = fs::read_to_string("/proc/self/limits").ok()?;
        let line = text.lines().find(|l| l.starts_with("Max open files"))?;
        line.split_whitespace().nth(3)?.parse().ok()
    }

    /// Looks for an executable on `PATH` and in the sbin directories, where Debian puts
    /// nginx and HAProxy but which a non-root `PATH` often lacks.
    pub fn find_program(name: &str) -> Option<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    }
}

/// The fast upstream: hyper HTTP/1.1 keep-alive, 200 with a small body to everything.
mod upstream {
    use std::convert::Infallible;
    use std::io::Read;
    use std::net::SocketAddr;
    use std::process::ExitCode;
    use std::time::Duration;

    use bytes::Bytes;
    use http::header::CONTENT_TYPE;
    use http::{HeaderValue, Request, Response};
    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    const BODY: &[u8] = b"{\"ok\":true}\n";

    pub fn serve(addr: SocketAddr, exit_on_stdin_eof: bool) -> ExitCode {
        let listener = match std::net::TcpListener::bind(addr) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("upstream: cannot listen on {addr}: {e} (is the port busy?)");
                return ExitCode::from(2);
            }
        };
        if exit_on_stdin_eof {
            // The harness holds the other end of stdin; EOF means it is gone, even if it was
            // SIGKILLed and never got to stop this process.
            std::thread::spawn(|| {
                let mut buf = [0u8; 64];
                let mut stdin = std::io::stdin();
                while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
                std::process::exit(0);
            });
        }
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("upstream: cannot start the runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        runtime.block_on(async move {
            let listener = match listener
                .set_nonblocking(true)
                .and_then(|()| tokio::net::TcpListener::from_std(listener))
            {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("upstream: cannot use the listener: {e}");
                    return ExitCode::FAILURE;
                }
            };
            eprintln!("upstream: listening on {addr}");
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        // EMFILE and friends: survive, but do not spin on a full fd table.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(answer))
                        .await;
                });
            }
        })
    }

    async fn answer(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(response)
    }
}

/// The load client: closed-loop keep-alive connections, and the idle-connection hold.
mod client {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use hdrhistogram::Histogram;
    use http::header::{AUTHORIZATION, CONNECTION, HOST};
    use http::{HeaderValue, Request, StatusCode, Uri};
    use http_body_util::{BodyExt, Empty};
    use hyper::client::conn::http1::{self, SendRequest};
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpStream;
    use tokio::sync::{watch, Barrier};

    /// Latencies are recorded in microseconds, up to a minute.
    const MAX_LATENCY_US: u64 = 60_000_000;
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    /// How long a single answer may take outside the measured loop (preflight, idle hold), and
    /// how long connections may take to finish their last request once a row's window closes.
    const STOP_GRACE: Duration = Duration::from_secs(10);

    /// What every request of a row looks like.
    #[derive(Debug)]
    pub struct Workload {
        pub addr: SocketAddr,
        pub path: Uri,
        /// `Authorization` values used round-robin across all connections; empty: none sent.
        pub tokens: Vec<HeaderValue>,
        pub expected: StatusCode,
    }

    impl Workload {
        fn request(&self, host: &HeaderValue, turn: usize) -> Request<Empty<Bytes>> {
            let mut request = Request::new(Empty::new());
            *request.uri_mut() = self.path.clone();
            let headers = request.headers_mut();
            headers.insert(HOST, host.clone());
            if !self.tokens.is_empty() {
                headers.insert(AUTHORIZATION, self.tokens[turn % self.tokens.len()].clone());
            }
            request
        }
    }

    /// One row's measurement.
    pub struct Measured {
        /// Responses with the expected status completed inside the window.
        pub requests: u64,
        /// Unexpected statuses and I/O errors inside the window.
        pub errors: u64,
        pub first_error: Option<String>,
        pub window: Duration,
        pub histogram: Histogram<u64>,
        /// CPU used by the measured process tree inside the window.
        pub cpu: Option<Duration>,
        /// CPU used inside the window by processes the harness did not start.
        pub foreign: Option<Duration>,
    }

    impl Measured {
        pub fn rate(&self) -> f64 {
            self.requests as f64 / self.window.as_secs_f64()
        }
    }

    const WARMUP: u8 = 0;
    const MEASURE: u8 = 1;
    const STOP: u8 = 2;

    /// What the driving task tells the connection tasks.
    struct Control {
        phase: AtomicU8,
        turn: AtomicUsize,
    }

    /// Per connection; merged when the row ends, so the hot loop shares nothing but two atomics.
    struct Tally {
        requests: u64,
        errors: u64,
        first_error: Option<String>,
        histogram: Histogram<u64>,
    }

    impl Tally {
        fn new() -> Result<Tally, String> {
            Ok(Tally {
                requests: 0,
                errors: 0,
                first_error: None,
                histogram: histogram()?,
            })
        }

        fn error(&mut self, why: impl FnOnce() -> String) {
            self.errors += 1;
            if self.first_error.is_none() {
                self.first_error = Some(why());
            }
        }
    }

    fn histogram() -> Result<Histogram<u64>, String> {
        Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
            .map_err(|e| format!("cannot create a histogram: {e}"))
    }

    pub fn host_header(addr: SocketAddr) -> HeaderValue {
        // A socket address is ASCII digits, dots, colons and brackets: always a valid value.
        HeaderValue::from_str(&addr.to_string()).unwrap_or(HeaderValue::from_static("localhost"))
    }

    async fn connect(addr: SocketAddr) -> Result<SendRequest<Empty<Bytes>>, String> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("connect to {addr} timed out"))?
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        // Small requests on a closed loop: Nagle would add a delayed-ACK wait to each one.
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake with {addr}: {e}"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// One request and its whole body. Returns the status and whether the server is closing
    /// the connection (nginx does so after `keepalive_requests`).
    async fn exchange(
        sender: &mut SendRequest<Empty<Bytes>>,
        request: Request<Empty<Bytes>>,
    ) -> Result<(StatusCode, bool, Bytes), hyper::Error> {
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let closing = response
            .headers()
            .get(CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, closing, body))
    }

    /// Sends one request on a new connection and checks the status, so a misconfigured row
    /// fails with the answer it got instead of a column of errors.
    pub async fn preflight(workload: &Workload) -> Result<(), String> {
        let mut sender = connect(workload.addr).await?;
        let request = workload.request(&host_header(workload.addr), 0);
        let (status, _, body) = tokio::time::timeout(STOP_GRACE, exchange(&mut sender, request))
            .await
            .map_err(|_| format!("no answer from {} within {STOP_GRACE:?}", workload.addr))?
            .map_err(|e| format!("request to {}: {e}", workload.addr))?;
        if status != workload.expected {
            let body = String::from_utf8_lossy(&body);
            let body: String = body.chars().take(200).collect();
            return Err(format!(
                "expected {}, got {status}: {}",
                workload.expected,
                body.trim()
            ));
        }
        Ok(())
    }

    /// Runs `connections` closed loops for `warmup` then `window`, measuring the window only;
    /// `probe` is the process tree whose CPU time is read at the window's edges.
    pub async fn run(
        workload: Arc<Workload>,
        connections: u32,
        warmup: Duration,
        window: Duration,
        probe: Option<u32>,
    ) -> Result<Measured, String> {
        let control = Arc::new(Control {
            phase: AtomicU8::new(WARMUP),
            turn: AtomicUsize::new(0),
        });
        let connected = Arc::new(Barrier::new(connections as usize + 1));
        let mut tasks = Vec::with_capacity(connections as usize);
        for _ in 0..connections {
            let tally = Tally::new()?;
            tasks.push(tokio::spawn(closed_loop(
                workload.clone(),
                control.clone(),
                connected.clone(),
                tally,
            )));
        }
        // Every connection is open (or has failed) before the clock starts.
        connected.wait().await;
        tokio::time::sleep(warmup).await;
        let cpu_before = probe.and_then(crate::procs::cpu_time);
        let usage_before = crate::procs::usage();
        let started = Instant::now();
        control.phase.store(MEASURE, Ordering::SeqCst);
        tokio::time::sleep(window).await;
        control.phase.store(STOP, Ordering::SeqCst);
        let measured_window = started.elapsed();
        let cpu_after = probe.and_then(crate::procs::cpu_time);
        let foreign = usage_before
            .zip(crate::procs::usage())
            .map(|(before, after)| crate::procs::foreign(before, after));
        let mut total = Tally::new()?;
        // A connection sees STOP only between requests; one whose request never gets an answer
        // (a hung gateway) is given up on after a grace period instead of hanging the run.
        let grace = Instant::now() + STOP_GRACE;
        for mut task in tasks {
            let tally = match tokio::time::timeout_at(grace.into(), &mut task).await {
                Ok(joined) => {
                    joined.map_err(|e| format!("a client connection task failed: {e}"))?
                }
                Err(_) => {
                    task.abort();
                    total.error(|| {
                        format!("no answer within {STOP_GRACE:?} after the window closed")
                    });
                    continue;
                }
            };
            total.requests += tally.requests;
            total.errors += tally.errors;
            if total.first_error.is_none() {
                total.first_error = tally.first_error;
            }
            total
                .histogram
                .add(&tally.histogram)
                .map_err(|e| format!("cannot merge histograms: {e}"))?;
        }
        Ok(Measured {
            requests: total.requests,
            errors: total.errors,
            first_error: total.first_error,
            window: measured_window,
            histogram: total.histogram,
            cpu: cpu_before
                .zip(cpu_after)
                .map(|(before, after)| after.saturating_sub(before)),
            foreign,
        })
    }

    async fn closed_loop(
        workload: Arc<Workload>,
        control: Arc<Control>,
        connected: Arc<Barrier>,
        mut tally: Tally,
    ) -> Tally {
        let host = host_header(workload.addr);
        let mut sender = connect(workload.addr).await;
        connected.wait().await;
        loop {
            let phase = control.phase.load(Ordering::Relaxed);
            if phase == STOP {
                break;
            }
            let live = match &mut sender {
                Ok(s) => s,
                Err(why) => {
                    if phase == MEASURE {
                        let why = why.clone();
                        tally.error(|| why);
                    }
                    // A pause, not a synchronisation: a refused connect must not spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    sender = connect(workload.addr).await;
                    continue;
                }
            };
            let turn = match workload.tokens.len() {
                0 | 1 => 0,
                _ => control.turn.fetch_add(1, Ordering::Relaxed),
            };
            let request = workload.request(&host, turn);
            let began = Instant::now();
            let result = exchange(live, request).await;
            let elapsed = began.elapsed();
            // Only requests that started and ended inside the window count.
            let counted = phase == MEASURE && control.phase.load(Ordering::Relaxed) == MEASURE;
            match result {
                Ok((status, closing, _)) => {
                    if counted && status == workload.expected {
                        tally.requests += 1;
                        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
                        tally.histogram.saturating_record(us.max(1));
                    } else if counted {
                        tally.error(|| format!("unexpected status {status}"));
                    }
                    if closing {
                        sender = connect(workload.addr).await;
                    }
                }
                Err(e) => {
                    if counted {
                        tally.error(|| format!("I/O: {e}"));
                    }
                    sender = connect(workload.addr).await;
                }
            }
        }
        tally
    }

    /// What the idle-connection hold saw.
    pub struct Idle {
        pub open: usize,
        pub first_error: Option<String>,
        pub peak_rss_kib: Option<u64>,
        pub rss_kib: Option<u64>,
    }

    /// Opens `count` connections, sends one request on each, and while all of them are held
    /// open and idle reads the peak and current RSS of `pid`.
    pub async fn hold_idle(workload: Arc<Workload>, count: usize, pid: u32) -> Idle {
        let answered = Arc::new(Barrier::new(count + 1));
        let (release, released) = watch::channel(false);
        let mut tasks = Vec::with_capacity(count);
        for _ in 0..count {
            let workload = workload.clone();
            let answered = answered.clone();
            let mut released = released.clone();
            tasks.push(tokio::spawn(async move {
                let host = host_header(workload.addr);
                let opened = async {
                    let mut sender = connect(workload.addr).await?;
                    let request = workload.request(&host, 0);
                    let (status, _, _) =
                        tokio::time::timeout(STOP_GRACE, exchange(&mut sender, request))
                            .await
                            .map_err(|_| format!("no answer within {STOP_GRACE:?}"))?
                            .map_err(|e| format!("I/O: {e}"))?;
                    match status == workload.expected {
                        true => Ok(sender),
                        false => Err(format!("unexpected status {status}")),
                    }
                }
                .await;
                answered.wait().await;
                // Holding `opened` keeps the connection open until the reading is done.
                let _ = released.wait_for(|&r| r).await;
                opened.map(drop)
            }));
        }
        answered.wait().await;
        let peak_rss_kib = crate::procs::status_kib(pid, "VmHWM:");
        let rss_kib = crate::procs::status_kib(pid, "VmRSS:");
        let _ = release.send(true);
        let mut open = 0;
        let mut first_error = None;
        for task in tasks {
            match task.await {
                Ok(Ok(())) => open += 1,
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    first_error.get_or_insert(format!("task failed: {e}"));
                }
            }
        }
        Idle {
            open,
            first_error,
            peak_rss_kib,
            rss_kib,
        }
    }
}

/// Tokens, signed the way fastapi-jwt-auth signs them.
mod tokens {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use freshgate::auth::TokenType;
    use freshgate::token::{sign_hmac, TokenSpec};
    use http::HeaderValue;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    /// Long enough that no token expires during a run.
    const LIFETIME: Duration = Duration::from_secs(24 * 3600);

    pub fn now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }

    fn spec(subject: &str, fresh: bool) -> TokenSpec {
        let mut spec = TokenSpec::new(subject, TokenType::Access, fresh);
        spec.expires_in = Some(LIFETIME);
        spec
    }

    pub fn bearer(token: &str) -> Result<HeaderValue, String> {
        HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|e| format!("a signed token is not a header value: {e}"))
    }

    /// An HS256 access token for `subject`.
    pub fn hs256(secret: &[u8], subject: &str, fresh: bool) -> Result<HeaderValue, String> {
        let claims = spec(subject, fresh).claims(now());
        let token = sign_hmac(&claims, secret, Algorithm::HS256)
            .map_err(|e| format!("cannot sign an HS256 token: {e}"))?;
        bearer(&token)
    }

    /// An access token whose `exp` passed an hour ago (issued two hours ago, 1 h lifetime).
    pub fn expired(secret: &[u8]) -> Result<HeaderValue, String> {
        let mut spec = spec("bench-expired", false);
        spec.expires_in = Some(Duration::from_secs(3600));
        let token = sign_hmac(&spec.claims(now() - 2 * 3600), secret, Algorithm::HS256)
            .map_err(|e| format!("cannot sign an HS256 token: {e}"))?;
        bearer(&token)
    }

    /// An access token signed with an asymmetric private key in PEM (PKCS#8).
    pub fn asymmetric(alg: Algorithm, private_pem: &[u8]) -> Result<HeaderValue, String> {
        let key = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(private_pem),
            Algorithm::ES256 => EncodingKey::from_ec_pem(private_pem),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(private_pem),
            other => return Err(format!("no key type for {other:?}")),
        }
        .map_err(|e| format!("cannot read the {alg:?} private key: {e}"))?;
        let claims = spec("bench-user", false).claims(now());
        let token = jsonwebtoken::encode(&Header::new(alg), &claims, &key)
            .map_err(|e| format!("cannot sign a {alg:?} token: {e}"))?;
        bearer(&token)
    }
}

/// The table and the lines around it.
mod report {
    use std::fmt::Write as _;

    use crate::client::Measured;
    use crate::scenarios::Scenario;

    /// One row's figures, from our client or from wrk.
    pub struct Figures {
        pub rate: f64,
        pub p50_us: u64,
        pub p99_us: u64,
        pub p999_us: Option<u64>,
        pub errors: u64,
        pub cpu_us_per_request: Option<f64>,
        pub peak_rss_kib: Option<u64>,
    }

    impl Figures {
        pub fn from_measured(m: &Measured, peak_rss_kib: Option<u64>) -> Figures {
            let q = |q: f64| m.histogram.value_at_quantile(q);
            Figures {
                rate: m.rate(),
                p50_us: q(0.5),
                p99_us: q(0.99),
                p999_us: Some(q(0.999)),
                errors: m.errors,
                cpu_us_per_request: m
                    .cpu
                    .filter(|_| m.requests > 0)
                    .map(|cpu| cpu.as_secs_f64() * 1e6 / m.requests as f64),
                peak_rss_kib,
            }
        }
    }

    pub enum Outcome {
        Measured(Figures),
        Skipped(String),
        Failed(String),
    }

    pub struct Row {
        pub scenario: Scenario,
        pub outcome: Outcome,
    }

    const HEADERS: [&str; 8] = [
        "scenario",
        "req/s",
        "p50",
        "p99",
        "p99.9",
        "errors",
        "CPU µs/req",
        "peak RSS",
    ];

    pub fn latency(us: u64) -> String {
        match us {
            0..=999 => format!("{us} µs"),
            1_000..=9_999 => format!("{:.2} ms", us as f64 / 1e3),
            _ => format!("{:.1} ms", us as f64 / 1e3),
        }
    }

    pub fn mib(kib: u64) -> String {
        format!("{:.1} MiB", kib as f64 / 1024.0)
    }

    fn thousands(n: u64) -> String {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    }

    fn cells(row: &Row) -> Vec<String> {
        let dash = || "-".to_string();
        let mut cells = vec![row.scenario.label().to_string()];
        match &row.outcome {
            Outcome::Measured(f) => cells.extend([
                thousands(f.rate.round() as u64),
                latency(f.p50_us),
                latency(f.p99_us),
                f.p999_us.map_or_else(dash, latency),
                thousands(f.errors),
                f.cpu_us_per_request
                    .map_or_else(dash, |c| format!("{c:.1}")),
                f.peak_rss_kib.map_or_else(dash, mib),
            ]),
            Outcome::Skipped(why) => {
                cells.push(format!("skipped: {why}"));
                cells.extend(std::iter::repeat_n(String::new(), HEADERS.len() - 2));
            }
            Outcome::Failed(why) => {
                // The whole message (often a log tail) goes below the table.
                let first = why.lines().next().unwrap_or_default();
                cells.push(format!("failed: {}", first.trim_end_matches(':')));
                cells.extend(std::iter::repeat_n(String::new(), HEADERS.len() - 2));
            }
        }
        cells
    }

    /// A Markdown table with padded columns, so it reads in a terminal and pastes into the
    /// README as is. Text columns are left-aligned, figures right-aligned.
    pub fn table(rows: &[Row]) -> String {
        let body: Vec<Vec<String>> = rows.iter().map(cells).collect();
        // A `skipped:`/`failed:` message sits in the req/s cell and is left to overflow it;
        // only measured rows (and the headers) set the widths of the figure columns.
        let measured = |r: &&Vec<String>| !r[2].is_empty();
        let width = |i: usize| {
            let cells = body.iter().filter(|r| i == 0 || measured(r));
            cells
                .map(|r| r[i].chars().count())
                .chain(std::iter::once(HEADERS[i].chars().count()))
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..HEADERS.len()).map(width).collect();
        let line = |cells: &[String], out: &mut String| {
            out.push('|');
            for (i, cell) in cells.iter().enumerate() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                let _ = match (i, cell.is_empty()) {
                    (0, _) | (_, true) => write!(out, " {cell}{} |", " ".repeat(pad)),
                    _ => write!(out, " {}{cell} |", " ".repeat(pad)),
                };
            }
            out.push('\n');
        };
        let mut out = String::new();
        line(&HEADERS.map(String::from), &mut out);
        out.push('|');
        for (i, w) in widths.iter().enumerate() {
            let dashes = "-".repeat((*w).max(3));
            let _ = match i {
                0 => write!(out, " {dashes} |"),
                _ => write!(out, " {}: |", &dashes[1..]),
            };
        }
        out.push('\n');
        for cells in &body {
            line(cells, &mut out);
        }
        out
    }

    /// Collapses repeated rows (`--repeat`) to the run with the median request rate, in table
    /// order, and says how far the runs spread.
    pub fn medians(rows: Vec<Row>) -> (Vec<Row>, Vec<String>) {
        let mut groups: Vec<(Scenario, Vec<Outcome>)> = Vec::new();
        for row in rows {
            match groups.iter_mut().find(|(s, _)| *s == row.scenario) {
                Some((_, outcomes)) => outcomes.push(row.outcome),
                None => groups.push((row.scenario, vec![row.outcome])),
            }
        }
        let mut spread = Vec::new();
        let mut out = Vec::new();
        for (scenario, outcomes) in groups {
            let runs = outcomes.len();
            let (mut measured, others): (Vec<Outcome>, Vec<Outcome>) = outcomes
                .into_iter()
                .partition(|o| matches!(o, Outcome::Measured(_)));
            let rate = |o: &Outcome| match o {
                Outcome::Measured(f) => f.rate,
                _ => 0.0,
            };
            measured.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
            if measured.len() > 1 {
                let rates: Vec<String> = measured
                    .iter()
                    .map(|o| thousands(rate(o).round() as u64))
                    .collect();
                spread.push(format!(
                    "{}: {} runs, req/s {} (median shown)",
                    scenario.label(),
                    measured.len(),
                    rates.join(" / ")
                ));
            }
            if runs > measured.len() && !measured.is_empty() {
                spread.push(format!(
                    "{}: {} of {runs} runs did not measure",
                    scenario.label(),
                    runs - measured.len()
                ));
            }
            let outcome = match measured.is_empty() {
                // The lower middle for an even count: never flatter than the data.
                false => measured.swap_remove((measured.len() - 1) / 2),
                true => others
                    .into_iter()
                    .next()
                    .unwrap_or(Outcome::Skipped("no run".into())),
            };
            out.push(Row { scenario, outcome });
        }
        (out, spread)
    }

    /// Above this share of the machine's CPU time used by other processes, a row is disturbed.
    const QUIET: f64 = 0.05;

    /// Whether anything else ran during the measured windows (a compile moves every number).
    pub fn noise(foreign: &[(Scenario, f64)]) -> String {
        let worst = foreign.iter().map(|(_, share)| *share).fold(0.0, f64::max);
        // The worst run of each row (rows repeat with --repeat), in table order.
        let mut per_row: Vec<(Scenario, f64)> = Vec::new();
        for &(scenario, share) in foreign {
            match per_row.iter_mut().find(|(s, _)| *s == scenario) {
                Some((_, worst)) => *worst = worst.max(share),
                None => per_row.push((scenario, share)),
            }
        }
        let disturbed: Vec<String> = per_row
            .iter()
            .filter(|(_, share)| *share > QUIET)
            .map(|(s, share)| format!("{} {:.0}%", s.label(), share * 100.0))
            .collect();
        match disturbed.is_empty() {
            true => format!(
                "quiet machine: other processes used at most {:.1}% of the CPU time during any row",
                worst * 100.0
            ),
            false => format!(
                "WARNING: other processes used CPU during these rows (share of the machine's CPU \
                 time): {}. Their figures are disturbed; rerun on a quiet machine.",
                disturbed.join(", ")
            ),
        }
    }

    /// The issue 6 bars that this run can judge, each met or not with its figures.
    pub fn bars(rows: &[Row], idle_peak_kib: Option<u64>) -> Vec<String> {
        let get = |s: Scenario| {
            rows.iter()
                .find_map(|r| match (&r.outcome, r.scenario == s) {
                    (Outcome::Measured(f), true) => Some(f),
                    _ => None,
                })
        };
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        let mut out = Vec::new();
        let Some(ours) = get(Scenario::AccessHs256) else {
            return out;
        };
        if let Some(h) = get(Scenario::Haproxy) {
            let ratio = ours.rate / h.rate;
            out.push(format!(
                "access-hs256 >= 1.25x haproxy jwt_verify req/s: {} ({ratio:.2}x)",
                verdict(ratio >= 1.25)
            ));
            out.push(format!(
                "access-hs256 p99 <= haproxy p99: {} ({} vs {})",
                verdict(ours.p99_us <= h.p99_us),
                latency(ours.p99_us),
                latency(h.p99_us)
            ));
        }
        if let Some(n) = get(Scenario::Nginx) {
            let ratio = ours.rate / n.rate;
            out.push(format!(
                "access-hs256 >= 1.0x nginx proxy_pass req/s: {} ({ratio:.2}x)",
                verdict(ratio >= 1.0)
            ));
            out.push(format!(
                "access-hs256 p99 <= nginx p99: {} ({} vs {})",
                verdict(ours.p99_us <= n.p99_us),
                latency(ours.p99_us),
                latency(n.p99_us)
            ));
            if let (Some(a), Some(b)) = (ours.cpu_us_per_request, n.cpu_us_per_request) {
                out.push(format!(
                    "access-hs256 CPU/req < nginx CPU/req: {} ({a:.1} vs {b:.1} µs)",
                    verdict(a < b)
                ));
            }
        }
        for s in [
            Scenario::AccessRs256,
            Scenario::AccessEs256,
            Scenario::AccessEdDsa,
        ] {
            if let Some(f) = get(s) {
                let ratio = f.rate / ours.rate;
                out.push(format!(
                    "{} within 10% of access-hs256 req/s: {} ({ratio:.2}x)",
                    s.name(),
                    verdict(ratio >= 0.9)
                ));
            }
        }
        if let Some(many) = get(Scenario::ManySubjects) {
            out.push(format!(
                "10k distinct tokens vs one repeated token: {:.2}x the req/s (reported, no bar)",
                many.rate / ours.rate
            ));
        }
        if let Some(kib) = idle_peak_kib {
            out.push(format!(
                "freshgate RSS < 64 MiB at 1,000 keep-alive connections: {} ({})",
                verdict(kib < 64 * 1024),
                mib(kib)
            ));
        }
        out
    }
}

/// Peers: nginx, HAProxy and wrk, found on the machine and given configs from `bench/`.
mod peers {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use crate::report::Figures;

    pub const NGINX_CONF: &str = include_str!("../bench/nginx.conf");
    pub const HAPROXY_CFG: &str = include_str!("../bench/haproxy.cfg");

    /// A peer program and its version line, or why it cannot take part.
    pub enum Found {
        Ready { program: PathBuf, version: String },
        Missing(String),
    }

    fn version_line(program: &Path, arg: &str) -> String {
        // nginx prints its version on stderr, HAProxy and wrk on stdout.
        Command::new(program)
            .arg(arg)
            .output()
            .map(|o| {
                let text = [o.stdout, o.stderr].concat();
                String::from_utf8_lossy(&text)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            })
            .unwrap_or_default()
    }

    pub fn nginx() -> Found {
        match crate::procs::find_program("nginx") {
            None => Found::Missing("nginx not installed (apt-get install nginx)".into()),
            Some(program) => {
                let version = version_line(&program, "-v");
                let version = version.trim_start_matches("nginx version: ").to_string();
                Found::Ready { program, version }
            }
        }
    }

    /// HAProxy, if it is 2.5 or later: `jwt_verify` arrived in 2.5.
    pub fn haproxy() -> Found {
        let Some(program) = crate::procs::find_program("haproxy") else {
            return Found::Missing("haproxy not installed (apt-get install haproxy)".into());
        };
        let line = version_line(&program, "-v");
        let version = line
            .split_whitespace()
            .nth(2)
            .unwrap_or_default()
            .to_string();
        let mut numbers = version.split(|c: char| !c.is_ascii_digit());
        let major: u32 = numbers.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let minor: u32 = numbers.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        match (major, minor) >= (2, 5) {
            true => Found::Ready {
                program,
                version: format!("HAProxy {version}"),
            },
            false => Found::Missing(format!(
                "haproxy {version:?} has no jwt_verify (needs 2.5 or later)"
            )),
        }
    }

    pub fn wrk() -> Found {
        match crate::procs::find_program("wrk") {
            None => Found::Missing("wrk not installed (apt-get install wrk)".into()),
            Some(program) => {
                let line = version_line(&program, "-v");
                let version = line
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                Found::Ready { program, version }
            }
        }
    }

    /// Parses wrk's `--latency` report into the table's figures (wrk has no p99.9).
    pub fn parse_wrk(output: &str) -> Result<(Figures, u64), String> {
        let field = |prefix: &str| {
            output
                .lines()
                .map(str::trim)
                .find_map(|l| l.strip_prefix(prefix))
                .map(str::trim)
        };
        let rate: f64 = field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .ok_or("no Requests/sec line in wrk's output")?;
        let requests: u64 = output
            .lines()
            .find(|l| l.contains(" requests in "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or("no 'requests in' line in wrk's output")?;
        let p50 = field("50%")
            .and_then(wrk_latency_us)
            .ok_or("no 50% latency")?;
        let p99 = field("99%")
            .and_then(wrk_latency_us)
            .ok_or("no 99% latency")?;
        let non_2xx: u64 = field("Non-2xx or 3xx responses:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        // "Socket errors: connect 0, read 0, write 0, timeout 0"
        let socket_errors: u64 = field("Socket errors:").map_or(0, |v| {
            v.split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum()
        });
        let figures = Figures {
            rate,
            p50_us: p50,
            p99_us: p99,
            p999_us: None,
            errors: non_2xx + socket_errors,
            cpu_us_per_request: None,
            peak_rss_kib: None,
        };
        Ok((figures, requests))
    }

    /// wrk's latency units: `us`, `ms`, `s`, `m`.
    fn wrk_latency_us(text: &str) -> Option<u64> {
        let split = text.find(|c: char| c.is_ascii_alphabetic())?;
        let (number, unit) = text.split_at(split);
        let value: f64 = number.parse().ok()?;
        let scale = match unit {
            "us" => 1.0,
            "ms" => 1e3,
            "s" => 1e6,
            "m" => 60e6,
            _ => return None,
        };
        Some((value * scale).round() as u64)
    }
}

/// The run: plan it, start the processes, measure each row, print the table.
mod run {
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
    use crate::procs::{self, Proc};
    use crate::report::{self, Figures, Outcome, Row};
    use crate::scenarios::Scenario;
    use crate::tokens;
    use crate::Options;

    const FRESHGATE_TOML: &str = include_str!("../bench/freshgate.toml");
    /// The generated gateway's secret; the one used with `--target` is `--secret`'s.
    const SECRET: &str = "freshgate-load-harness-secret-not-for-production";
    const READY_TIMEOUT: Duration = Duration::from_secs(15);
    const IDLE_CONNECTIONS: usize = 1000;
    const MANY_SUBJECTS: usize = 10_000;

    /// The paths of gateway.toml.example's routes, which bench/freshgate.toml copies.
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
        let header = machine_header(&plan);
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
        let versions = bench.versions();
        println!("{header}");
        if !versions.is_empty() {
            println!("peers: {}", versions.join("; "));
        }
        println!();
        print!("{}", report::table(&bench.rows));
        println!();
        for note in spread.iter().chain(&bench.notes) {
            println!("{note}");
        }
        for row in &bench.rows {
            if let Outcome::Failed(why) = &row.outcome {
                println!("{} failed: {why}", row.scenario.label());
            }
        }
        let idle_peak = idle.as_ref().and_then(|i: &client::Idle| i.peak_rss_kib);
        if let Some(i) = &idle {
            println!(
                "freshgate with {}/{IDLE_CONNECTIONS} idle keep-alive connections open: peak RSS (VmHWM) {}, RSS now {}{}",
                i.open,
                i.peak_rss_kib.map_or("-".into(), report::mib),
                i.rss_kib.map_or("-".into(), report::mib),
                i.first_error.as_ref().map_or(String::new(), |e| format!(" (first failure: {e})"))
            );
        }
        println!("{}", report::noise(&bench.foreign));
        let bars = report::bars(&bench.rows, idle_peak);
        if !bars.is_empty() {
            println!("\nissue 6 bars judged by this run:");
            for bar in bars {
                println!("  {bar}");
            }
        }
        Ok(())
    }

    /// The lines above the table: date, machine, load, run settings, the command.
    fn machine_header(plan: &Plan) -> String {
        let model = fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, m)| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU model".into());
        let load = fs::read_to_string("/proc/loadavg")
            .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "?".into());
        let args: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| a != "--bench")
            .collect();
        let o = &plan.options;
        let gateway = match plan.target {
            Some(addr) => format!("gateway: --target {addr}"),
            None => format!(
                "gateway: freshgate{}, access log {}",
                git_revision().map_or(String::new(), |r| format!(" {r}")),
                if o.access_log {
                    "on (info, to a file)"
                } else {
                    "off (RUST_LOG=warn)"
                }
            ),
        };
        format!(
            "freshgate load harness, {date}\n\
             machine: {cpus} CPUs (nproc), {model}; load average at start {load}\n\
             load: closed loop, HTTP/1.1 keep-alive, {conns} connections, {warm:?} warm-up + {dur:?} measured per row{rounds}, client on {threads} threads of the same machine\n\
             {gateway}\n\
             command: cargo bench --bench load -- {args}",
            date = humantime::format_rfc3339_seconds(SystemTime::now()),
            cpus = cpus(),
            conns = o.connections,
            warm = o.warmup,
            dur = o.duration,
            threads = plan.client_threads,
            rounds = match o.repeat {
                1 => String::new(),
                n => format!(", median of {n} interleaved rounds"),
            },
            args = args.join(" "),
        )
    }

    fn git_revision() -> Option<String> {
        let dir = env!("CARGO_MANIFEST_DIR");
        let output = Command::new("git")
            .args(["-C", dir, "rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        let rev = String::from_utf8_lossy(&output.stdout).trim().to_string();
        let dirty = Command::new("git")
            .args(["-C", dir, "status", "--porcelain", "--untracked-files=no"])
            .output()
            .is_ok_and(|o| !o.stdout.is_empty());
        Some(match dirty {
            true => format!("{rev} + uncommitted changes"),
            false => rev,
        })
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

    impl Bench {
        fn secret(&self) -> Vec<u8> {
            match (&self.plan.target, &self.plan.options.secret) {
                (Some(_), Some(s)) => s.clone().into_bytes(),
                (Some(_), None) => b"secret".to_vec(),
                (None, _) => SECRET.as_bytes().to_vec(),
            }
        }

        async fn start_upstream(&mut self) -> Result<(), String> {
            let port = match self.plan.options.upstream_port {
                0 => free_port()?,
                p => p,
            };
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let exe = std::env::current_exe()
                .map_err(|e| format!("cannot find this harness's own binary: {e}"))?;
            let mut command = Command::new(exe);
            command.args(["--upstream", &addr.to_string(), "--exit-on-stdin-eof"]);
            let log = self.dir.join("upstream.log");
            let proc = procs::spawn("the upstream", command, &log, true)?;
            wait_ready(addr, &proc).await?;
            self.upstream = Some((addr, proc));
            Ok(())
        }

        fn upstream_addr(&self) -> Result<SocketAddr, String> {
            self.upstream
                .as_ref()
                .map(|(a, _)| *a)
                .ok_or_else(|| "the upstream is not running".to_string())
        }

        fn gateway_addr(&self) -> SocketAddr {
            SocketAddr::from(([127, 0, 0, 1], self.gateway_port))
        }

        /// Writes a freshgate config with `jwt_key` as the `[jwt]` key lines.
        fn write_config(&self, name: &str, jwt_key: &str) -> Result<PathBuf, String> {
            let text = render(
                FRESHGATE_TOML,
                "bench/freshgate.toml",
                &[
                    ("GATEWAY_PORT", self.gateway_port.to_string()),
                    ("UPSTREAM_PORT", self.upstream_addr()?.port().to_string()),
                    ("JWT_KEY", jwt_key.to_string()),
                ],
            )?;
            let path = self.dir.join(name);
            fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(path)
        }

        fn hs256_config(&self) -> Result<PathBuf, String> {
            self.write_config(
                "freshgate-hs256.toml",
                &format!("algorithms = [\"HS256\"]\nsecret = \"{SECRET}\""),
            )
        }

        /// `freshgate check`: `Err` carries its first error line.
        fn check(&self, config: &Path) -> Result<(), String> {
            let output = Command::new(&self.gateway_bin)
                .arg("check")
                .arg("--config")
                .arg(config)
                .output()
                .map_err(|e| format!("cannot run {} check: {e}", self.gateway_bin.display()))?;
            if output.status.success() {
                return Ok(());
            }
            let text = String::from_utf8_lossy(&output.stderr);
            Err(text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("freshgate check failed without a message")
                .trim()
                .to_string())
        }

        /// A new freshgate process (fresh memory figures for every row) on the gateway port.
        async fn start_freshgate(&self, config: &Path) -> Result<Proc, String> {
            let mut command = Command::new(&self.gateway_bin);
            command.arg("serve").arg("--config").arg(config);
            let level = if self.plan.options.access_log {
                "info"
            } else {
                "warn"
            };
            command.env("RUST_LOG", level);
            let log = self.dir.join("freshgate.log");
            let proc = procs::spawn("freshgate", command, &log, false)?;
            if let Err(e) = wait_ready(self.gateway_addr(), &proc).await {
                procs::stop(&proc);
                return Err(e);
            }
            Ok(proc)
        }

        /// Preflight, load, row. A failed preflight becomes a `failed:` row, not an abort.
        async fn measure(
            &mut self,
            scenario: Scenario,
            workload: Workload,
            probe: Option<u32>,
        ) -> Outcome {
            if let Err(e) = client::preflight(&workload).await {
                return Outcome::Failed(e);
            }
            let o = &self.plan.options;
            eprintln!(
                "load: {} ({} connections, {:?} + {:?}){}",
                scenario.label(),
                o.connections,
                o.warmup,
                o.duration,
                probe.map_or(String::new(), |p| format!(", measuring pid {p}"))
            );
            match client::run(
                Arc::new(workload),
                o.connections,
                o.warmup,
                o.duration,
                probe,
            )
            .await
            {
                Ok(m) => {
                    if let Some(e) = &m.first_error {
                        eprintln!("load: {}: first error: {e}", scenario.label());
                    }
                    self.note_foreign(scenario, m.foreign, m.window);
                    let rss = probe.and_then(procs::peak_rss_kib);
                    Outcome::Measured(Figures::from_measured(&m, rss))
                }
                Err(e) => Outcome::Failed(e),
            }
        }

        /// A line for under the table, once however many rounds repeat it.
        fn note(&mut self, line: impl Into<String>) {
            let line = line.into();
            if !self.notes.contains(&line) {
                self.notes.push(line);
            }
        }

        fn note_foreign(
            &mut self,
            scenario: Scenario,
            foreign: Option<Duration>,
            window: Duration,
        ) {
            if let Some(foreign) = foreign {
                let capacity = window.as_secs_f64() * cpus() as f64;
                self.foreign
                    .push((scenario, foreign.as_secs_f64() / capacity));
            }
        }

        fn workload(&self, addr: SocketAddr, scenario: Scenario) -> Result<Workload, String> {
            let secret = self.secret();
            let (path, tokens, expected) = match scenario {
                Scenario::UpstreamDirect | Scenario::Public => {
                    (PUBLIC_PATH, vec![], StatusCode::OK)
                }
                Scenario::FreshHs256 => (
                    FRESH_PATH,
                    vec![tokens::hs256(&secret, "bench-user", true)?],
                    StatusCode::OK,
                ),
                Scenario::RejectedExpired => (
                    ACCESS_PATH,
                    vec![tokens::expired(&secret)?],
                    StatusCode::UNPROCESSABLE_ENTITY,
                ),
                Scenario::ManySubjects => (
                    ACCESS_PATH,
                    (0..MANY_SUBJECTS)
                        .map(|i| tokens::hs256(&secret, &format!("bench-user-{i}"), false))
                        .collect::<Result<_, _>>()?,
                    StatusCode::OK,
                ),
                _ => (
                    ACCESS_PATH,
                    vec![tokens::hs256(&secret, "bench-user", false)?],
                    StatusCode::OK,
                ),
            };
            Ok(Workload {
                addr,
                path: Uri::from_static(path),
                tokens,
                expected,
            })
        }

        async fn run_target(&mut self, target: SocketAddr) -> Result<(), String> {
            let probe = self.plan.options.target_pid;
            for scenario in self.plan.rows.clone() {
                let outcome = match scenario {
                    Scenario::UpstreamDirect => {
                        Outcome::Skipped("the upstream of a --target is not known".into())
                    }
                    Scenario::AccessRs256 | Scenario::AccessEs256 | Scenario::AccessEdDsa => {
                        Outcome::Skipped("--target runs sign HS256 only".into())
                    }
                    Scenario::Nginx | Scenario::Haproxy => {
                        Outcome::Skipped("peers run without --target".into())
                    }
                    Scenario::Idle => {
                        self.note("idle-1000 runs only against a gateway the harness starts");
                        continue;
                    }
                    Scenario::Wrk => self.wrk(target, probe).await,
                    _ => {
                        let workload = self.workload(target, scenario)?;
                        self.measure(scenario, workload, probe).await
                    }
                };
                self.rows.push(Row { scenario, outcome });
            }
            Ok(())
        }

        async fn run_local(&mut self) -> Result<(), String> {
            let hs256 = self.hs256_config()?;
            // A config the harness wrote and freshgate refuses means an API change: stop here.
            self.check(&hs256).map_err(|e| {
                format!(
                    "freshgate refuses the generated config {}: {e}",
                    hs256.display()
                )
            })?;
            for scenario in self.plan.rows.clone() {
                let outcome = match scenario {
                    Scenario::Idle => continue,
                    Scenario::UpstreamDirect => {
                        let upstream = self.upstream_addr()?;
                        let pid = self.upstream.as_ref().map(|(_, p)| p.pid);
                        let workload = self.workload(upstream, scenario)?;
                        self.note("upstream-direct: CPU and RSS are the upstream's own (no gateway in the path).");
                        self.measure(scenario, workload, pid).await
                    }
                    Scenario::AccessRs256 => self.asymmetric(scenario, Algorithm::RS256).await?,
                    Scenario::AccessEs256 => self.asymmetric(scenario, Algorithm::ES256).await?,
                    Scenario::AccessEdDsa => self.asymmetric(scenario, Algorithm::EdDSA).await?,
                    Scenario::Nginx => self.nginx().await?,
                    Scenario::Haproxy => self.haproxy().await?,
                    Scenario::Wrk => {
                        let proc = self.start_freshgate(&hs256).await?;
                        let outcome = self.wrk(self.gateway_addr(), Some(proc.pid)).await;
                        procs::stop(&proc);
                        outcome
                    }
                    _ => {
                        let workload = self.workload(self.gateway_addr(), scenario)?;
                        let proc = self.start_freshgate(&hs256).await?;
                        let outcome = self.measure(scenario, workload, Some(proc.pid)).await;
                        procs::stop(&proc);
                        outcome
                    }
                };
                self.rows.push(Row { scenario, outcome });
            }
            Ok(())
        }

        /// RS256, ES256, EdDSA: a real key pair from openssl, a config naming the public key,
        /// and a row only if freshgate accepts that config.
        async fn asymmetric(
            &mut self,
            scenario: Scenario,
            alg: Algorithm,
        ) -> Result<Outcome, String> {
            let Some(openssl) = procs::find_program("openssl") else {
                return Ok(Outcome::Skipped("needs openssl to make a key pair".into()));
            };
            let name = scenario.name().trim_start_matches("access-");
            let private = self.dir.join(format!("{name}.key"));
            let public = self.dir.join(format!("{name}.pub.pem"));
            let keygen: &[&str] = match alg {
                Algorithm::RS256 => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                Algorithm::ES256 => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
                _ => &["-algorithm", "ED25519"],
            };
            let mut genpkey = Command::new(&openssl);
            genpkey
                .arg("genpkey")
                .args(keygen)
                .arg("-out")
                .arg(&private);
            run_quietly(genpkey, "openssl genpkey")?;
            let mut pkey = Command::new(&openssl);
            pkey.arg("pkey").arg("-in").arg(&private);
            pkey.arg("-pubout").arg("-out").arg(&public);
            run_quietly(pkey, "openssl pkey")?;
            let alg_name = match alg {
                Algorithm::EdDSA => "EdDSA".to_string(),
                other => format!("{other:?}"),
            };
            // The key name freshgate is expected to use once it loads public keys.
            let config = self.write_config(
                &format!("freshgate-{name}.toml"),
                &format!(
                    "algorithms = [\"{alg_name}\"]\npublic_key_file = \"{}\"",
                    public.display()
                ),
            )?;
            if let Err(why) = self.check(&config) {
                self.note(format!(
                    "{}: `freshgate check` refuses the config: {why}",
                    scenario.name()
                ));
                return Ok(Outcome::Skipped("needs public_key_file".into()));
            }
            let pem = fs::read(&private)
                .map_err(|e| format!("cannot read {}: {e}", private.display()))?;
            let workload = Workload {
                addr: self.gateway_addr(),
                path: Uri::from_static(ACCESS_PATH),
                tokens: vec![tokens::asymmetric(alg, &pem)?],
                expected: StatusCode::OK,
            };
            let proc = self.start_freshgate(&config).await?;
            let outcome = self.measure(scenario, workload, Some(proc.pid)).await;
            procs::stop(&proc);
            Ok(outcome)
        }

        /// Starts a peer from its template, measures the access-hs256 workload through it.
        async fn peer(
            &mut self,
            scenario: Scenario,
            found: Found,
            template: (&str, &str),
            validate: &[&str],
            serve: &[&str],
        ) -> Result<Outcome, String> {
            let program = match found {
                Found::Ready { program, .. } => program,
                Found::Missing(why) => return Ok(Outcome::Skipped(why)),
            };
            let port = free_port()?;
            let (origin, text) = template;
            // nginx's master drops its workers to `nobody`, a user some systems lack; as root,
            // keep them root (a local benchmark, no exposure). Otherwise there is no switch.
            let user_line = if is_root() { "user root;" } else { "" };
            let config = render(
                text,
                origin,
                &[
                    ("GATEWAY_PORT", port.to_string()),
                    ("UPSTREAM_PORT", self.upstream_addr()?.port().to_string()),
                    ("SECRET", SECRET.to_string()),
                    ("DIR", self.dir.display().to_string()),
                    ("USER_LINE", user_line.to_string()),
                ],
            )?;
            let name = scenario.name();
            let path = self.dir.join(format!("{name}.conf"));
            fs::write(&path, config)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            let fill = |args: &[&str]| -> Vec<String> {
                args.iter()
                    .map(|a| {
                        a.replace("{config}", &path.display().to_string())
                            .replace("{dir}", &self.dir.display().to_string())
                    })
                    .collect()
            };
            let checked = Command::new(&program).args(fill(validate)).output();
            match checked {
                Ok(o) if o.status.success() => {}
                Ok(o) => {
                    let text = [o.stdout, o.stderr].concat();
                    return Ok(Outcome::Failed(format!(
                        "{name} refuses {origin}: {}",
                        String::from_utf8_lossy(&text)
                            .lines()
                            .next()
                            .unwrap_or_default()
                    )));
                }
                Err(e) => {
                    return Ok(Outcome::Failed(format!(
                        "cannot run {}: {e}",
                        program.display()
                    )))
                }
            }
            let mut command = Command::new(&program);
            command.args(fill(serve));
            let proc = procs::spawn(name, command, &self.dir.join(format!("{name}.log")), false)?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if let Err(e) = wait_ready(addr, &proc).await {
                procs::stop(&proc);
                return Ok(Outcome::Failed(e));
            }
            let workload = self.workload(addr, Scenario::AccessHs256)?;
            let outcome = self.measure(scenario, workload, Some(proc.pid)).await;
            procs::stop(&proc);
            Ok(outcome)
        }

        async fn nginx(&mut self) -> Result<Outcome, String> {
            let error_log = "{dir}/nginx-error.log";
            self.peer(
                Scenario::Nginx,
                peers::nginx(),
                ("bench/nginx.conf", peers::NGINX_CONF),
                &["-t", "-q", "-p", "{dir}", "-c", "{config}", "-e", error_log],
                &["-p", "{dir}", "-c", "{config}", "-e", error_log],
            )
            .await
        }

        async fn haproxy(&mut self) -> Result<Outcome, String> {
            self.peer(
                Scenario::Haproxy,
                peers::haproxy(),
                ("bench/haproxy.cfg", peers::HAPROXY_CFG),
                &["-c", "-q", "-f", "{config}"],
                // -db: stay in the foreground, one process, so SIGTERM stops all of it.
                &["-db", "-f", "{config}"],
            )
            .await
        }

        /// wrk's own figures for access-hs256 against `addr`, and the gateway CPU per request
        /// it caused (over its whole run, connection setup included).
        async fn wrk(&mut self, addr: SocketAddr, probe: Option<u32>) -> Outcome {
            let program = match peers::wrk() {
                Found::Ready { program, .. } => program,
                Found::Missing(why) => return Outcome::Skipped(why),
            };
            let workload = match self.workload(addr, Scenario::AccessHs256) {
                Ok(w) => w,
                Err(e) => return Outcome::Failed(e),
            };
            if let Err(e) = client::preflight(&workload).await {
                return Outcome::Failed(e);
            }
            let o = &self.plan.options;
            let token = workload.tokens[0].to_str().unwrap_or_default().to_string();
            let threads = cpus().min(o.connections as usize);
            // wrk takes whole seconds; round up so a short run still measures something.
            let seconds = o.duration.as_secs_f64().ceil().max(1.0) as u64;
            eprintln!(
                "load: wrk -t{threads} -c{} -d{seconds}s against {addr}",
                o.connections
            );
            let mut command = Command::new(&program);
            command
                .arg(format!("-t{threads}"))
                .arg(format!("-c{}", o.connections))
                .arg(format!("-d{seconds}s"))
                .arg("--latency")
                .arg("-H")
                .arg(format!("Authorization: {token}"))
                .arg(format!("http://{addr}{ACCESS_PATH}"));
            let log = self.dir.join("wrk.log");
            let cpu_before = probe.and_then(procs::cpu_time);
            let usage_before = procs::usage();
            let started = Instant::now();
            let proc = match procs::spawn("wrk", command, &log, false) {
                Ok(p) => p,
                Err(e) => return Outcome::Failed(e),
            };
            let status = wait_exit(&proc, Duration::from_secs(seconds + 30)).await;
            let foreign = usage_before
                .zip(procs::usage())
                .map(|(before, after)| procs::foreign(before, after));
            let window = started.elapsed();
            procs::stop(&proc);
            let cpu_after = probe.and_then(procs::cpu_time);
            self.note_foreign(Scenario::Wrk, foreign, window);
            let output = fs::read_to_string(&log).unwrap_or_default();
            match status {
                Ok(s) if s.success() => {}
                Ok(s) => {
                    return Outcome::Failed(format!(
                        "wrk exited with {s}: {}",
                        output.lines().last().unwrap_or_default()
                    ))
                }
                Err(e) => return Outcome::Failed(e),
            }
            match peers::parse_wrk(&output) {
                Ok((mut figures, requests)) => {
                    if let (Some(before), Some(after), true) = (cpu_before, cpu_after, requests > 0)
                    {
                        let cpu = after.saturating_sub(before).as_secs_f64() * 1e6;
                        figures.cpu_us_per_request = Some(cpu / requests as f64);
                    }
                    figures.peak_rss_kib = probe.and_then(procs::peak_rss_kib);
                    self.note("access-hs256 (wrk): wrk's own figures (it reports no p99.9); CPU/req spans its whole run, connection setup included.");
                    Outcome::Measured(figures)
                }
                Err(e) => Outcome::Failed(e.to_string()),
            }
        }

        /// A new freshgate, 1,000 connections each with one answered request, held idle.
        async fn idle(&mut self) -> Result<client::Idle, String> {
            let config = self.hs256_config()?;
            let proc = self.start_freshgate(&config).await?;
            eprintln!("load: idle-1000 (freshgate pid {})", proc.pid);
            let workload = self.workload(self.gateway_addr(), Scenario::AccessHs256)?;
            let idle = client::hold_idle(Arc::new(workload), IDLE_CONNECTIONS, proc.pid).await;
            procs::stop(&proc);
            Ok(idle)
        }

        fn versions(&self) -> Vec<String> {
            let mut out = Vec::new();
            let wanted = [
                (Scenario::Nginx, peers::nginx as fn() -> Found),
                (Scenario::Haproxy, peers::haproxy),
                (Scenario::Wrk, peers::wrk),
            ];
            for (scenario, find) in wanted {
                if self.plan.wants(scenario) {
                    if let Found::Ready { version, .. } = find() {
                        out.push(version);
                    }
                }
            }
            out
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
}
