//! How many heap allocations does one request through freshgate cost, on `access-hs256` and on a
//! `public` route?
//!
//! ```text
//! cargo bench --bench allocations [-- --requests 2000]
//! ```
//!
//! The gateway runs in this process (one worker: one current-thread runtime, as each of
//! `freshgate serve`'s workers), with a counting global allocator (`stats_alloc`); the upstream
//! is this binary re-executed (`--upstream ADDR`, the load harness's fast upstream), so its
//! allocations are not counted. The client is a blocking socket in this process that allocates
//! nothing per request (the `direct` row, straight to the upstream, shows it: 0). Requests go one
//! at a time on one keep-alive connection, after a warm-up; access logs are off, as in the load
//! harness (no subscriber is installed).
//!
//! `-- --idle N` asks a second question: how much memory does an idle keep-alive connection
//! hold? It starts the release `freshgate` binary (one worker), opens N connections and reports
//! its RSS growth per connection, then again after each has served one request.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

#[path = "load/upstream.rs"]
mod upstream;

use std::alloc::System;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SECRET: &str = "freshgate-bench-secret-not-for-production";
const WARMUP: usize = 200;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--upstream") {
        let addr = args[i + 1].parse().expect("--upstream ADDR");
        return upstream::serve(addr, true);
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("allocations: nothing to do in test mode; run `cargo bench --bench allocations`");
        return ExitCode::SUCCESS;
    }
    if let Some(i) = args.iter().position(|a| a == "--idle") {
        return idle(args[i + 1].parse().expect("--idle N"));
    }
    let requests = args
        .iter()
        .position(|a| a == "--requests")
        .map_or(2000, |i| args[i + 1].parse().expect("--requests N"));
    let (upstream_addr, _upstream) = start_upstream();
    let gateway = start_gateway(upstream_addr);
    let token = token();
    println!("allocations per request, {requests} requests after {WARMUP} warm-up, one connection, one worker");
    println!(
        "{:<14} {:>12} {:>14} {:>12}",
        "row", "allocs/req", "reallocs/req", "bytes/req"
    );
    for (row, addr, path, token) in [
        ("direct", upstream_addr, "/protected", None),
        ("public", gateway, "/static/app.css", None),
        ("access-hs256", gateway, "/protected", Some(token.as_str())),
    ] {
        let mut client = Client::new(addr, path, token);
        client.run(WARMUP);
        let region = Region::new(GLOBAL);
        client.run(requests);
        let stats = region.change();
        let per = |n: usize| n as f64 / requests as f64;
        println!(
            "{row:<14} {:>12.2} {:>14.2} {:>12.0}",
            per(stats.allocations),
            per(stats.reallocations),
            per(stats.bytes_allocated + stats.bytes_reallocated.max(0) as usize)
        );
    }
    ExitCode::SUCCESS
}

/// The upstream, this binary re-executed; it exits when its stdin (held here) closes.
fn start_upstream() -> (SocketAddr, Child) {
    let addr = free_addr();
    let child = Command::new(std::env::current_exe().expect("this bench's binary"))
        .args(["--upstream", &addr.to_string()])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the upstream");
    wait_listening(addr);
    (addr, child)
}

/// The gateway on a thread of its own with one current-thread runtime, serving the shared route
/// table until the process exits.
fn start_gateway(upstream: SocketAddr) -> SocketAddr {
    let routes = include_str!("../tests/fixtures/routes.toml");
    let config = format!(
        "[server]\nworkers = 1\n\n[upstreams]\napp = \"http://{upstream}\"\n\n\
         [jwt]\nalgorithms = [\"HS256\"]\nsecret = \"{SECRET}\"\nleeway = \"0s\"\n\n{routes}"
    );
    let snapshot = freshgate::config::parse(&config, "allocations.toml", std::path::Path::new("."))
        .unwrap_or_else(|e| panic!("the bench config is refused:\n{e}"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the gateway");
    let addr = listener.local_addr().expect("gateway address");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let gateway = freshgate::Gateway::new(snapshot);
            freshgate::serve(listener, gateway, std::future::pending()).await;
        });
    });
    wait_listening(addr);
    addr
}

fn token() -> String {
    use freshgate::auth::TokenType;
    use freshgate::token::{sign_hmac, TokenSpec};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut spec = TokenSpec::new("bench-user", TokenType::Access, false);
    spec.expires_in = Some(Duration::from_secs(3600));
    sign_hmac(
        &spec.claims(now),
        SECRET.as_bytes(),
        jsonwebtoken::Algorithm::HS256,
    )
    .unwrap()
}

/// One keep-alive connection sending the same GET; it allocates nothing per request.
struct Client {
    stream: TcpStream,
    request: Vec<u8>,
    buf: Vec<u8>,
}

impl Client {
    fn new(addr: SocketAddr, path: &str, token: Option<&str>) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}\r\n").into_bytes();
        Client {
            stream,
            request,
            buf: vec![0; 64 * 1024],
        }
    }

    fn run(&mut self, n: usize) {
        for i in 0..n {
            self.stream.write_all(&self.request).expect("send");
            let mut filled = 0;
            loop {
                let read = self.stream.read(&mut self.buf[filled..]).expect("read");
                assert!(read > 0, "the connection closed after {i} responses");
                filled += read;
                if let Some(end) = response_end(&self.buf[..filled]) {
                    assert!(
                        self.buf.starts_with(b"HTTP/1.1 200"),
                        "request {i} was not 200"
                    );
                    assert_eq!(end, filled, "one response at a time");
                    break;
                }
            }
        }
    }
}

/// Where a response with a `Content-Length` ends, once it is all in `bytes`.
fn response_end(bytes: &[u8]) -> Option<usize> {
    let head = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let length = bytes[..head]
        .split(|&b| b == b'\n')
        .find_map(|line| {
            let line = std::str::from_utf8(line).ok()?;
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .expect("a Content-Length");
    (bytes.len() >= head + length).then_some(head + length)
}

fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

fn wait_listening(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// RSS per idle connection of a `freshgate serve` child process.
fn idle(connections: usize) -> ExitCode {
    // The default, then parked after every answer: the floor an idle connection costs.
    for park in ["1s", "0s"] {
        idle_with(connections, park);
    }
    ExitCode::SUCCESS
}

fn idle_with(connections: usize, park: &str) {
    let (upstream, _upstream) = start_upstream();
    let dir = tempfile::tempdir().expect("temporary directory");
    let listen = free_addr();
    let routes = include_str!("../tests/fixtures/routes.toml");
    let config = format!(
        "[server]\nlisten = \"{listen}\"\nworkers = 1\nmax_connections = {}\nidle_park_after = \"{park}\"\n\n\
         [upstreams]\napp = \"http://{upstream}\"\n\n[jwt]\nsecret = \"{SECRET}\"\n\n{routes}",
        connections + 16
    );
    let path = dir.path().join("idle.toml");
    std::fs::write(&path, config).expect("write the config");
    let bin = std::env::current_exe()
        .expect("this bench's binary")
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/release")
        .join("freshgate");
    let mut gateway = Command::new(bin)
        .args(["serve", "--config"])
        .arg(&path)
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start freshgate (cargo build --release)");
    wait_listening(listen);
    let pid = gateway.id();
    let settle = || std::thread::sleep(Duration::from_millis(500));
    settle();
    let before = rss_kib(pid);
    let mut open: Vec<Client> = (0..connections)
        .map(|_| Client::new(listen, "/static/app.css", None))
        .collect();
    settle();
    let idle = rss_kib(pid);
    for client in &mut open {
        client.run(1);
    }
    settle();
    let served = rss_kib(pid);
    // `idle_park_after` (1 s by default): the connections give back hyper's state.
    std::thread::sleep(Duration::from_millis(1500));
    let parked = rss_kib(pid);
    let per = |kib: u64, from: u64| (kib.saturating_sub(from)) as f64 / connections as f64;
    println!("freshgate with {connections} idle keep-alive connections (one worker, idle_park_after = {park}):");
    println!(
        "  RSS {before} KiB before, {idle} KiB open: {:.2} KiB per connection",
        per(idle, before)
    );
    println!(
        "  {served} KiB after one request on each: {:.2} KiB more per connection ({:.2} KiB in all)",
        per(served, idle),
        per(served, before)
    );
    println!(
        "  {parked} KiB once parked (idle_park_after): {:.2} KiB per connection",
        per(parked, before)
    );
    drop(open);
    let _ = gateway.kill();
    let _ = gateway.wait();
}

fn rss_kib(pid: u32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the gateway's status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}
