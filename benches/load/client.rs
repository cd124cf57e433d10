//! The load client: closed-loop keep-alive connections, and the idle-connection hold.

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
    /// Of which system (kernel) time.
    pub system: Option<Duration>,
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
    let sys_before = probe.and_then(crate::procs::system_time);
    let usage_before = crate::procs::usage();
    let started = Instant::now();
    control.phase.store(MEASURE, Ordering::SeqCst);
    tokio::time::sleep(window).await;
    control.phase.store(STOP, Ordering::SeqCst);
    let measured_window = started.elapsed();
    let cpu_after = probe.and_then(crate::procs::cpu_time);
    let sys_after = probe.and_then(crate::procs::system_time);
    let foreign = usage_before
        .zip(crate::procs::usage())
        .map(|(before, after)| crate::procs::foreign(before, after));
    let mut total = Tally::new()?;
    // A connection sees STOP only between requests; one whose request never gets an answer
    // (a hung gateway) is given up on after a grace period instead of hanging the run.
    let grace = Instant::now() + STOP_GRACE;
    for mut task in tasks {
        let tally = match tokio::time::timeout_at(grace.into(), &mut task).await {
            Ok(joined) => joined.map_err(|e| format!("a client connection task failed: {e}"))?,
            Err(_) => {
                task.abort();
                total.error(|| format!("no answer within {STOP_GRACE:?} after the window closed"));
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
        system: sys_before
            .zip(sys_after)
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
