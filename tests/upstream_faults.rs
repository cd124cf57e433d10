//! Upstreams that misbehave, over real sockets: each test runs a hand-written upstream on
//! 127.0.0.1:0 that does one wrong thing, and checks what the client sees and what the upstream
//! saw. The keep-alive race (an upstream that closes an idle connection just after a response,
//! without `Connection: close`, as uvicorn's and gunicorn's keep-alive timeouts do) must cost no
//! client a 502: an idempotent request without a body whose upstream connection fails before any
//! response byte is retried once on a fresh connection (RFC 9110 section 9.2.2).
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CONFIG: &str = r#"
[upstreams]
app = "http://{upstream}"

[jwt]
secret = "test-secret-not-for-production"

[[route]]
prefix = "/"
policy = "public"
"#;

/// What a scripted upstream does with each request head it reads on a connection.
#[derive(Clone, Copy, Debug)]
enum Script {
    /// Answer `200` with `Content-Length`, keep-alive implied, then close the connection after
    /// `delay` (zero: at once), without `Connection: close`.
    AnswerThenClose { delay: Duration },
    /// Close the connection without answering.
    CloseWithoutAnswer,
    /// Answer with bytes that are not HTTP.
    Garbage,
    /// Send a head with `Content-Length: 100` and 10 body bytes, then reset.
    ResetMidBody,
    /// Send a chunked head and one chunk, then reset (no terminating chunk).
    ResetMidChunks,
    /// Send `100 Continue`, then a `103 Early Hints`, then a 200.
    Informational,
    /// Answer every request normally, with `Connection: close` on every third one.
    CloseEveryThird,
    /// At random (seeded): answer with `Connection: close` (about one in five), or after an
    /// answer reset the idle connection a random 0-20 ms later unless the next head came first.
    AtRandom { seed: u64 },
    /// Answer every request, keeping the connection open until the gateway closes it.
    KeepAlive,
    /// Answer with `Connection: close` and close, as gunicorn's sync workers do.
    CloseEach,
}

/// A scripted upstream: counts connections, request heads and connections the gateway
/// closed; each connection serves requests until the script or the gateway closes it.
struct Scripted {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    closed_by_gateway: Arc<AtomicUsize>,
}

impl Scripted {
    async fn start(script: Script) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let closed_by_gateway = Arc::new(AtomicUsize::new(0));
        let (c, r, g) = (
            connections.clone(),
            requests.clone(),
            closed_by_gateway.clone(),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let (r, g) = (r.clone(), g.clone());
                tokio::spawn(async move {
                    if serve_scripted(stream, script, r).await {
                        g.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        Scripted {
            addr,
            connections,
            requests,
            closed_by_gateway,
        }
    }
}

/// Reads one request head (through the blank line); `None` at EOF.
async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(head)
}

/// Serves one connection by the script; `true` when the gateway ended it (EOF at a head).
async fn serve_scripted(mut stream: TcpStream, script: Script, requests: Arc<AtomicUsize>) -> bool {
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    while read_head(&mut stream).await.is_some() {
        let n = requests.fetch_add(1, Ordering::SeqCst) + 1;
        match script {
            Script::AnswerThenClose { delay } => {
                let _ = stream.write_all(OK).await;
                tokio::time::sleep(delay).await;
                return false;
            }
            Script::CloseWithoutAnswer => return false,
            Script::Garbage => {
                let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2\r\n\r\n").await;
                return false;
            }
            Script::KeepAlive => {
                let _ = stream.write_all(OK).await;
            }
            Script::CloseEach => {
                let close = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                let _ = stream.write_all(close).await;
                return false;
            }
            Script::ResetMidBody => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
                    .await;
                reset(stream);
                return false;
            }
            Script::ResetMidChunks => {
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\na\r\n0123456789\r\n",
                    )
                    .await;
                reset(stream);
                return false;
            }
            Script::Informational => {
                let _ = stream
                    .write_all(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n")
                    .await;
                let _ = stream.write_all(OK).await;
            }
            Script::AtRandom { seed } => {
                let mut draw = xorshift(seed ^ n as u64);
                match draw() % 10 {
                    0 | 1 => {
                        let close =
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                        let _ = stream.write_all(close).await;
                        return false;
                    }
                    2 | 3 => {
                        let _ = stream.write_all(OK).await;
                        let idle = Duration::from_millis(draw() % 20);
                        tokio::select! {
                            // The next head is served by the loop (its first byte is read
                            // here; the peer's request is then answered normally).
                            readable = stream.readable() => if readable.is_err() { return false },
                            () = tokio::time::sleep(idle) => {
                                reset(stream);
                                return false;
                            }
                        }
                    }
                    _ => {
                        let _ = stream.write_all(OK).await;
                    }
                }
            }
            Script::CloseEveryThird => {
                let close = n % 3 == 0;
                let answer: &[u8] = match close {
                    true => b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    false => OK,
                };
                let _ = stream.write_all(answer).await;
                if close {
                    return false;
                }
            }
        }
    }
    true
}

/// A small xorshift generator: the random scripts repeat for a seed.
fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// Closes with RST rather than FIN (a zero linger; blocking on drop is what a test wants).
#[allow(deprecated)]
fn reset(stream: TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// One keep-alive client connection to the gateway.
async fn client(addr: SocketAddr) -> SendRequest<Empty<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path)
        .header("host", "gateway.test")
        .body(Empty::new())
        .unwrap()
}

/// Sends `count` GETs one after another on one keep-alive connection; returns the statuses
/// that were not 200, with their bodies.
async fn sequential_gets(addr: SocketAddr, count: usize) -> Vec<(StatusCode, String)> {
    let mut sender = client(addr).await;
    let mut failures = Vec::new();
    for _ in 0..count {
        if sender.ready().await.is_err() {
            sender = client(addr).await;
        }
        let response = sender.send_request(get("/x")).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        if status != StatusCode::OK {
            failures.push((status, String::from_utf8_lossy(&body).into_owned()));
        }
    }
    failures
}

#[tokio::test]
async fn an_upstream_that_closes_right_after_each_response_costs_no_client_a_502() {
    let upstream = Scripted::start(Script::AnswerThenClose {
        delay: Duration::ZERO,
    })
    .await;
    let gw = TestGateway::start(CONFIG, upstream.addr).await;
    let failures = sequential_gets(gw.addr, 500).await;
    assert!(
        failures.is_empty(),
        "{} of 500 sequential GETs failed, e.g. {:?}",
        failures.len(),
        failures.first()
    );
}

#[tokio::test]
async fn an_upstream_that_closes_a_few_milliseconds_after_each_response_costs_no_client_a_502() {
    let upstream = Scripted::start(Script::AnswerThenClose {
        delay: Duration::from_millis(3),
    })
    .await;
    let gw = TestGateway::start(CONFIG, upstream.addr).await;
    let failures = sequential_gets(gw.addr, 300).await;
    assert!(
        failures.is_empty(),
        "{} of 300 sequential GETs failed, e.g. {:?}",
        failures.len(),
        failures.first()
    );
}

#[tokio::test]
async fn an_upstream_that_closes_every_third_connection_costs_no_client_a_5xx() {
    let upstream = Scripted::start(Script::CloseEveryThird).await;
    let gw = TestGateway::start(CONFIG, upstream.addr).await;
    let failures = sequential_gets(gw.addr, 300).await;
    assert!(
        failures.is_empty(),
        "{} of 300 GETs failed: {:?}",
        failures.len(),
        failures.first()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_closes_and_resets_connections_at_random_costs_no_client_a_5xx() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let upstream = Scripted::start(Script::AtRandom { seed }).await;
    let gw = TestGateway::start(CONFIG, upstream.addr).await;
    let addr = gw.addr;
    let clients: Vec<_> = (0..8)
        .map(|_| tokio::spawn(async move { sequential_gets(addr, 150).await }))
        .collect();
    let mut failures = Vec::new();
    for client in clients {
        failures.extend(client.await.unwrap());
    }
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of 1200 GETs (8 clients at once) failed: {:?}",
        failures.len(),
        failures.first()
    );
    assert!(
        upstream.connections.load(Ordering::SeqCst) > 8,
        "the upstream did close connections (seed {seed})"
    );
}

#[tokio::test]
async fn an_upstream_that_never_answers_a_get_gets_one_retry_and_then_502() {
    let upstream = Scripted::start(Script::CloseWithoutAnswer).await;
    let gw = TestGateway::start(CONFIG, upstream.addr).await;
    let reply = send(gw.addr, "GET", "/x", &[]).await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_GATEWAY,
        "a dead upstream is 502"
    );
    assert_eq!(reply.detail(), "Bad Gateway", "the 502 has the JSON detail");
    assert_eq!(
        upstream.requests.load(Ordering::SeqCst),
        2,
        "the GET was sent once and retried once, no more"
    );
    assert_eq!(
        upstream.connections.load(Ordering::SeqCst),
        2,
        "the retry went out on a fresh connection"
    );
}

#[tokio::test]
async fn a_post_is_never_retried_when_its_upstream_connection_fails() {
    let upstream = Scripted::start(Script::CloseWithoutAnswer).await;
    let gw = TestGateway::start(CONFIG, upstream.addr).await;
    let reply = send_body(gw.addr, "POST", "/x", &[], Bytes::from_static(b"{}")).await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_GATEWAY,
        "a failed POST is 502"
    );
    assert_eq!(
        upstream.requests.load(Ordering::SeqCst),
        1,
        "a POST is not idempotent: it is sent exactly once"
    );
}

#[tokio::test]
async fn an_upstream_that_answers_garbage_is_502() {
    let upstream = Scripted::start(Script::Garbage).await;
    let gw = TestGateway::start(CONFIG, upstream.addr).await;
    let reply = send_body(gw.addr, "POST", "/x", &[], Bytes::from_static(b"{}")).await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_GATEWAY,
        "a non-HTTP answer is a 502, not a relayed response"
    );
}

/// Reads everything the gateway sends for one raw request until it closes the connection.
async fn raw_until_close(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the gateway closed the connection in time");
    got
}

#[tokio::test]
async fn a_reset_in_the_middle_of_a_content_length_body_reaches_the_client_as_a_broken_connection()
{
    let upstream = Scripted::start(Script::ResetMidBody).await;
    let gw = TestGateway::start(CONFIG, upstream.addr).await;
    let got = raw_until_close(gw.addr, b"GET /x HTTP/1.1\r\nhost: gw\r\n\r\n").await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 200 OK\r\n") && text.contains("content-length: 100"),
        "the head is relayed as the upstream sent it: {text:?}"
    );
    let body = &got[text.find("\r\n\r\n").unwrap() + 4..];
    assert!(
        body.len() < 100,
        "the client never gets a complete 100-byte body, only {} bytes and a closed connection",
        body.len()
    );
}

#[tokio::test]
async fn a_reset_in_the_middle_of_a_chunked_body_never_sends_the_terminating_chunk() {
    let upstream = Scripted::start(Script::ResetMidChunks).await;
    let gw = TestGateway::start(CONFIG, upstream.addr).await;
    let got = raw_until_close(gw.addr, b"GET /x HTTP/1.1\r\nhost: gw\r\n\r\n").await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 200 OK\r\n"),
        "the head is relayed: {text:?}"
    );
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "no terminating chunk: the client must see a broken response, got {text:?}"
    );
}

#[tokio::test]
async fn informational_responses_before_the_final_one_are_handled() {
    let upstream = Scripted::start(Script::Informational).await;
    let gw = TestGateway::start(CONFIG, upstream.addr).await;
    for _ in 0..3 {
        let reply = send(gw.addr, "GET", "/x", &[]).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "1xx answers are consumed and the final 200 is relayed"
        );
    }
}

/// An upstream that reads request bodies and reports, per request, whether the body arrived
/// whole (`complete`) or the connection ended first (`aborted`).
async fn body_reporting_upstream() -> (
    SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<&'static str>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let tx = tx.clone();
                        async move {
                            let outcome = match req.into_body().collect().await {
                                Ok(_) => "complete",
                                Err(_) => "aborted",
                            };
                            let _ = tx.send(outcome);
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(b"ok"),
                            )))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn a_client_that_disconnects_mid_upload_makes_the_upstream_see_an_aborted_request() {
    let (upstream, mut outcomes) = body_reporting_upstream().await;
    let gw = TestGateway::start(CONFIG, upstream).await;
    for (name, head) in [
        (
            "content-length",
            &b"POST /up HTTP/1.1\r\nhost: gw\r\ncontent-length: 1000\r\n\r\n0123456789"[..],
        ),
        (
            "chunked",
            &b"POST /up HTTP/1.1\r\nhost: gw\r\ntransfer-encoding: chunked\r\n\r\na\r\n0123456789\r\n"[..],
        ),
    ] {
        let mut stream = TcpStream::connect(gw.addr).await.unwrap();
        stream.write_all(head).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(stream);
        let outcome = tokio::time::timeout(Duration::from_secs(10), outcomes.recv())
            .await
            .unwrap_or_else(|_| panic!("{name}: the upstream never learned how the body ended"));
        assert_eq!(
            outcome,
            Some("aborted"),
            "{name}: a cut-off upload reaches the upstream as aborted, never complete"
        );
    }
}

/// An upstream that streams a long body slowly and counts connections.
async fn slow_stream_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                while read_head(&mut stream).await.is_some() {
                    let head = b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n";
                    if stream.write_all(head).await.is_err() {
                        return;
                    }
                    for _ in 0..1000 {
                        if stream.write_all(&[b'x'; 1000]).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
            });
        }
    });
    (addr, connections)
}

#[tokio::test]
async fn a_client_that_disconnects_mid_response_makes_the_gateway_drop_that_upstream_connection() {
    let (upstream, connections) = slow_stream_upstream().await;
    let gw = TestGateway::start(CONFIG, upstream).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(b"GET /long HTTP/1.1\r\nhost: gw\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 256];
    let n = stream.read(&mut first).await.unwrap();
    assert!(n > 0, "the response started");
    drop(stream);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The next request must not be queued behind the abandoned body on the same upstream
    // connection: it gets a new one and its own head at once.
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(b"GET /long HTTP/1.1\r\nhost: gw\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut head))
        .await
        .expect("the second request is answered at once")
        .unwrap();
    assert!(
        head[..n].starts_with(b"HTTP/1.1 200"),
        "the second request got its own response"
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        2,
        "the abandoned upstream connection was not reused"
    );
}

#[tokio::test]
async fn a_keep_alive_client_connection_keeps_one_upstream_connection_for_all_its_requests() {
    let upstream = Scripted::start(Script::KeepAlive).await;
    let gw = TestGateway::start(CONFIG, upstream.addr).await;
    let failures = sequential_gets(gw.addr, 50).await;
    assert!(failures.is_empty(), "every GET is answered: {failures:?}");
    assert_eq!(upstream.requests.load(Ordering::SeqCst), 50);
    assert_eq!(
        upstream.connections.load(Ordering::SeqCst),
        1,
        "50 requests on one client connection share one upstream connection"
    );
    let failures = sequential_gets(gw.addr, 5).await;
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(
        upstream.connections.load(Ordering::SeqCst),
        2,
        "a second client connection gets an upstream connection of its own"
    );
}

#[tokio::test]
async fn an_upstream_connection_closes_when_its_client_connection_closes() {
    let upstream = Scripted::start(Script::KeepAlive).await;
    let gw = TestGateway::start(CONFIG, upstream.addr).await;
    for round in 1..=3 {
        let failures = sequential_gets(gw.addr, 3).await;
        assert!(failures.is_empty(), "{failures:?}");
        // `sequential_gets` drops its client connection on return.
        let closed = &upstream.closed_by_gateway;
        eventually(
            Duration::from_secs(5),
            format!("the upstream connection of client connection {round} to close with it"),
            async || (closed.load(Ordering::SeqCst) == round).then_some(()),
        )
        .await;
    }
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_post_after_the_upstream_closed_its_idle_connection_goes_out_on_a_fresh_one() {
    let upstream = Scripted::start(Script::AnswerThenClose {
        delay: Duration::ZERO,
    })
    .await;
    let gw = TestGateway::start(CONFIG, upstream.addr).await;
    let mut connection = Connection::open(gw.addr).await.unwrap();
    let first = connection.get("/x", &[]).await.unwrap();
    assert_eq!(first.status, StatusCode::OK);
    // The upstream has closed its connection: the gateway sees that before the next request,
    // so even a request that is never retried is not lost to the closed connection.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for round in 2..=4 {
        let reply = connection
            .request("POST", "/x", &[], Bytes::from_static(b"{}"))
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK, "POST {round} was answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(upstream.requests.load(Ordering::SeqCst), 4);
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_client_connection_alternating_between_two_upstreams_keeps_one_connection_to_each() {
    let (api, files) = (
        Scripted::start(Script::KeepAlive).await,
        Scripted::start(Script::KeepAlive).await,
    );
    let config = format!(
        r#"
[upstreams]
api = "http://{}"
files = "http://{}"

[jwt]
secret = "test-secret-not-for-production"

[[route]]
prefix = "/static"
policy = "public"
upstream = "files"

[[route]]
prefix = "/"
policy = "public"
upstream = "api"
"#,
        api.addr, files.addr
    );
    let gw = TestGateway::start(&config, api.addr).await;
    let mut connection = Connection::open(gw.addr).await.unwrap();
    for i in 0..20 {
        let path = if i % 2 == 0 {
            "/api/x"
        } else {
            "/static/app.css"
        };
        let reply = connection.get(path, &[]).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{path}");
    }
    assert_eq!(api.requests.load(Ordering::SeqCst), 10);
    assert_eq!(files.requests.load(Ordering::SeqCst), 10);
    assert_eq!(
        (
            api.connections.load(Ordering::SeqCst),
            files.connections.load(Ordering::SeqCst)
        ),
        (1, 1),
        "each upstream saw one connection for its ten requests"
    );
}

/// [`CONFIG`] with `[server]` settings before it.
fn with_server(server: &str) -> String {
    format!("[server]\nworkers = 1\n{server}\n{CONFIG}")
}

#[tokio::test]
async fn beyond_max_idle_upstream_connections_a_connection_closes_after_its_response() {
    let upstream = Scripted::start(Script::KeepAlive).await;
    let gw = TestGateway::start(
        &with_server("max_idle_upstream_connections = 1"),
        upstream.addr,
    )
    .await;
    let (mut first, mut second) = (
        Connection::open(gw.addr).await.unwrap(),
        Connection::open(gw.addr).await.unwrap(),
    );
    assert_eq!(first.get("/a", &[]).await.unwrap().status, StatusCode::OK);
    assert_eq!(second.get("/b", &[]).await.unwrap().status, StatusCode::OK);
    let closed = &upstream.closed_by_gateway;
    eventually(
        Duration::from_secs(5),
        "the second client connection's upstream connection to close: one is kept already",
        async || (closed.load(Ordering::SeqCst) == 1).then_some(()),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(first.get("/a", &[]).await.unwrap().status, StatusCode::OK);
    }
    assert_eq!(
        upstream.connections.load(Ordering::SeqCst),
        2,
        "the kept connection served the first client's next requests"
    );
    assert_eq!(second.get("/b", &[]).await.unwrap().status, StatusCode::OK);
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn with_max_idle_upstream_connections_0_every_request_gets_a_connection_of_its_own() {
    let upstream = Scripted::start(Script::KeepAlive).await;
    let gw = TestGateway::start(
        &with_server("max_idle_upstream_connections = 0"),
        upstream.addr,
    )
    .await;
    let failures = sequential_gets(gw.addr, 5).await;
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 5);
    let closed = &upstream.closed_by_gateway;
    eventually(
        Duration::from_secs(5),
        "every upstream connection to be closed by the gateway",
        async || (closed.load(Ordering::SeqCst) == 5).then_some(()),
    )
    .await;
}

#[tokio::test]
async fn an_upstream_that_closes_after_each_response_takes_no_place_among_the_kept_connections() {
    let (closing, keeping) = (
        Scripted::start(Script::CloseEach).await,
        Scripted::start(Script::KeepAlive).await,
    );
    let config = format!(
        "[server]\nworkers = 1\nmax_idle_upstream_connections = 1\n\n\
         [upstreams]\nclosing = \"http://{}\"\nkeeping = \"http://{}\"\n\n\
         [jwt]\nsecret = \"test-secret-not-for-production\"\n\n\
         [[route]]\nprefix = \"/static\"\npolicy = \"public\"\nupstream = \"closing\"\n\n\
         [[route]]\nprefix = \"/\"\npolicy = \"public\"\nupstream = \"keeping\"\n",
        closing.addr, keeping.addr
    );
    let gw = TestGateway::start(&config, keeping.addr).await;
    // Client connections that last used the closing upstream keep nothing...
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut connection = Connection::open(gw.addr).await.unwrap();
        let reply = connection.get("/static/app.css", &[]).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        idle.push(connection);
    }
    // ...so the one place is free for the keep-alive upstream.
    let mut busy = Connection::open(gw.addr).await.unwrap();
    for _ in 0..5 {
        assert_eq!(busy.get("/api", &[]).await.unwrap().status, StatusCode::OK);
    }
    assert_eq!(
        keeping.connections.load(Ordering::SeqCst),
        1,
        "the keep-alive upstream's connection was kept for all five requests"
    );
    assert_eq!(closing.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_upstream_that_never_completes_the_connect_is_502_at_the_connect_timeout() {
    // A listener that never accepts, its accept queue filled: the kernel drops further SYNs,
    // so a connect hangs until the gateway's connect timeout.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await
        {
            fillers.push(stream);
        }
    }
    let config = with_server("upstream_connect_timeout = \"300ms\"");
    let gw = TestGateway::start(&config, addr).await;
    let started = std::time::Instant::now();
    let reply = send(gw.addr, "GET", "/x", &[]).await;
    let took = started.elapsed();
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.text());
    assert_eq!(reply.detail(), "Bad Gateway");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "answered at the connect timeout, after {took:?}"
    );
    drop((listener, fillers));
}
