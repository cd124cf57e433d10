//! Limits and timeouts through real sockets: each excess gets its documented answer and the
//! well-behaved requests served at the same time lose nothing.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use freshgate::auth::TokenType;
use support::*;

const LIMITS: &str = r#"
[server]
max_header_bytes = 4096
max_uri_bytes = 256
max_token_bytes = 1024
request_head_timeout = "300ms"
max_connections = 2

[upstreams]
app = "http://{upstream}"

[jwt]
secret = "test-secret-not-for-production"

[[route]]
path = "/protected"
policy = "access"

[[route]]
prefix = "/upload"
policy = "public"
max_body_bytes = 1000

[[route]]
prefix = "/public"
policy = "public"
"#;

#[tokio::test]
async fn headers_over_max_header_bytes_are_431_with_a_json_detail() {
    let (upstream, gw) = start_with_echo(LIMITS).await;
    let big = vec![b'a'; 5000];
    let reply = send(gw.addr, "GET", "/public/x", &[("x-big", &big)]).await;
    assert_eq!(reply.status, 431, "5000 header bytes are over 4096");
    assert_eq!(
        reply.body, r#"{"detail":"Request Header Fields Too Large"}"#,
        "the 431 body"
    );
    assert_eq!(upstream.hits(), 0, "nothing was forwarded");
}

#[tokio::test]
async fn a_uri_over_max_uri_bytes_is_414() {
    let (upstream, gw) = start_with_echo(LIMITS).await;
    let path = format!("/public/{}", "a".repeat(300));
    let reply = send(gw.addr, "GET", &path, &[]).await;
    assert_eq!(reply.status, 414, "a 308-byte URI is over 256");
    assert_eq!(reply.detail(), "URI Too Long", "the 414 detail");
    assert_eq!(upstream.hits(), 0, "nothing was forwarded");
}

#[tokio::test]
async fn a_token_over_max_token_bytes_is_431_before_decoding() {
    let (upstream, gw) = start_with_echo(LIMITS).await;
    let mut claims =
        freshgate::token::TokenSpec::new("alice", TokenType::Access, true).claims(now());
    claims.insert("pad".into(), "x".repeat(2000).into());
    let (name, value) = bearer(&sign_claims(&claims));
    let reply = send(gw.addr, "GET", "/protected", &[(name, &value)]).await;
    assert_eq!(reply.status, 431, "a token over 1024 bytes");
    assert_eq!(reply.detail(), "Token too large", "the 431 detail");
    assert_eq!(upstream.hits(), 0, "nothing was forwarded");
}

#[tokio::test]
async fn a_declared_body_over_the_route_limit_is_413_and_not_forwarded() {
    let (upstream, gw) = start_with_echo(LIMITS).await;
    let reply = send_body(
        gw.addr,
        "POST",
        "/upload/a",
        &[],
        Bytes::from(vec![b'x'; 1001]),
    )
    .await;
    assert_eq!(
        reply.status, 413,
        "1001 declared bytes are over the route's 1000"
    );
    assert_eq!(reply.detail(), "Request Entity Too Large", "the 413 detail");
    assert_eq!(upstream.hits(), 0, "the refused upload was not forwarded");
    let reply = send_body(
        gw.addr,
        "POST",
        "/upload/a",
        &[],
        Bytes::from(vec![b'x'; 1000]),
    )
    .await;
    assert_eq!(reply.status, 200, "a body at the limit passes");
    let reply = send_body(
        gw.addr,
        "POST",
        "/public/a",
        &[],
        Bytes::from(vec![b'x'; 5000]),
    )
    .await;
    assert_eq!(reply.status, 200, "other routes have no limit");
}

#[tokio::test]
async fn a_chunked_body_over_the_route_limit_is_413() {
    let (_upstream, gw) = start_with_echo(LIMITS).await;
    let mut request = b"POST /upload/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..3 {
        request.extend_from_slice(b"200\r\n");
        request.extend_from_slice(&[b'x'; 0x200]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let answer = raw(gw.addr, &request).await;
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "1536 chunked bytes are over the route's 1000: {answer}"
    );
    assert!(
        answer.contains(r#"{"detail":"Request Entity Too Large"}"#),
        "the 413 body: {answer}"
    );
}

#[tokio::test]
async fn a_slow_header_client_is_cut_off_while_others_are_served() {
    let (_upstream, gw) = start_with_echo(LIMITS).await;
    let addr = gw.addr;
    let slow = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        stream
            .write_all(b"GET /public/x HTTP/1.1\r\nHost: x\r\n")
            .expect("write half a head");
        let started = Instant::now();
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf);
        (
            started.elapsed(),
            String::from_utf8_lossy(&buf).into_owned(),
        )
    });
    let reply = send(gw.addr, "GET", "/public/ok", &[]).await;
    assert_eq!(reply.status, 200, "a normal request is served meanwhile");
    let (waited, answer) = slow.await.expect("slow client task");
    assert!(
        waited < Duration::from_secs(4),
        "the slow client was cut off after {waited:?}"
    );
    assert!(
        !answer.contains("200 OK"),
        "the slow request was not served: {answer}"
    );
}

#[tokio::test]
async fn connections_beyond_max_connections_wait_until_one_closes() {
    let (_upstream, gw) = start_with_echo(LIMITS).await;
    // Two idle keep-alive connections take both permits.
    let first = tokio::net::TcpStream::connect(gw.addr)
        .await
        .expect("connect");
    let second = tokio::net::TcpStream::connect(gw.addr)
        .await
        .expect("connect");
    eventually(
        Duration::from_secs(5),
        "both idle connections to be accepted",
        async || metric(&gw.metrics(), "freshgate_open_connections", &[]) == Some(2.0),
    )
    .await;
    let addr = gw.addr;
    let mut third = tokio::spawn(async move { send(addr, "GET", "/public/third", &[]).await });
    // That something does not happen can only be watched for a while.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), &mut third)
            .await
            .is_err(),
        "the third connection waits while two are open"
    );
    drop(first);
    drop(second);
    let reply = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("served once a connection closed")
        .expect("third client task");
    assert_eq!(reply.status, 200, "the waiting connection is served");
}

#[tokio::test]
async fn http_1_1_without_host_is_400_and_http_1_0_without_host_is_served() {
    let (_upstream, gw) = start_with_echo(LIMITS).await;
    let answer = raw(
        gw.addr,
        b"GET /public/x HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "HTTP/1.1 requires Host: {answer}"
    );
    assert!(
        answer.contains(r#"{"detail":"Missing Host header"}"#),
        "the 400 body: {answer}"
    );
    let answer = raw(gw.addr, b"GET /public/x HTTP/1.0\r\n\r\n").await;
    assert!(
        answer.starts_with("HTTP/1.0 200"),
        "HTTP/1.0 without Host is served: {answer}"
    );
}

#[tokio::test]
async fn non_utf8_header_values_are_forwarded_as_bytes() {
    let (_upstream, gw) = start_with_echo(LIMITS).await;
    let reply = send(gw.addr, "GET", "/public/x", &[("x-latin1", b"caf\xe9")]).await;
    assert_eq!(reply.status, 200, "a latin-1 header value is forwarded");
    assert_eq!(
        reply.upstream_saw("x-latin1"),
        ["caf\u{fffd}"],
        "one byte reached the echo, shown lossily"
    );
}

/// Sends a POST whose body arrives one byte every `gap`, then reads the answer.
fn trickle(addr: std::net::SocketAddr, path: &str, bytes: usize, gap: Duration) -> String {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {bytes}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("write the head");
    for _ in 0..bytes {
        std::thread::sleep(gap);
        if stream.write_all(b"x").is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_upload_does_not_count_against_upstream_timeout() {
    let upstream = Upstream::start().await;
    let config = LIMITS.replace(
        "request_head_timeout = \"300ms\"",
        "request_head_timeout = \"2s\"\nupstream_timeout = \"500ms\"",
    );
    let gw = TestGateway::start(&config, upstream.addr).await;
    let addr = gw.addr;
    // Six bytes over about 1.2 s: longer than upstream_timeout, each gap shorter than the
    // body-idle limit.
    let answer = tokio::task::spawn_blocking(move || {
        trickle(addr, "/public/upload", 6, Duration::from_millis(200))
    })
    .await
    .expect("trickling client task");
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "a slow but steady upload is served: {answer}"
    );
    assert!(
        answer.contains(r#""body_len":6"#),
        "the upstream got all six bytes: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_request_body_is_408_not_an_upstream_error() {
    let (_upstream, gw) = start_with_echo(LIMITS).await;
    let addr = gw.addr;
    // request_head_timeout is 300 ms in LIMITS; the body stalls for 1 s between bytes.
    let answer = tokio::task::spawn_blocking(move || {
        trickle(addr, "/public/upload", 3, Duration::from_millis(1000))
    })
    .await
    .expect("trickling client task");
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "a stalled body is the client's fault: {answer}"
    );
    assert!(
        answer.contains(r#"{"detail":"Request Timeout"}"#),
        "the 408 body: {answer}"
    );
}

/// Sends a request on an open connection and reads one response (the echo's JSON ends the
/// body; `Content-Length` framing is enough for these small answers).
fn request_on(stream: &mut std::net::TcpStream, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .expect("write a request");
    let mut buf = vec![0u8; 64 * 1024];
    let n = stream.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_keep_alive_connection_outlives_the_head_timeout_and_ends_at_idle_timeout() {
    let (_upstream, gw) = with_idle_timeout().await;
    let addr = gw.addr;
    let (second, closed_after) = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        let first = request_on(&mut stream, "/public/1");
        assert!(
            first.starts_with("HTTP/1.1 200"),
            "the first request is served: {first}"
        );
        // Idle for longer than the head timeout: the connection must stay.
        std::thread::sleep(Duration::from_millis(700));
        let second = request_on(&mut stream, "/public/2");
        // Then idle until the idle timeout closes it.
        let idle_from = Instant::now();
        let mut buf = [0u8; 1];
        let n = stream.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "the server closed the idle connection");
        (second, idle_from.elapsed())
    })
    .await
    .expect("keep-alive client task");
    assert!(
        second.starts_with("HTTP/1.1 200"),
        "served after idling past the head timeout: {second}"
    );
    assert!(
        closed_after >= Duration::from_millis(1000),
        "not before idle_timeout: {closed_after:?}"
    );
    assert!(
        closed_after < Duration::from_secs(4),
        "closed by idle_timeout: {closed_after:?}"
    );
}

#[tokio::test]
async fn a_later_head_on_a_keep_alive_connection_is_timed_from_its_own_first_byte() {
    let (_upstream, gw) = start_with_echo(LIMITS).await;
    let addr = gw.addr;
    let (first, waited, answer) = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        let first = request_on(&mut stream, "/public/1");
        // Past the first head's timer (300 ms), which the next head must restart, not reuse
        // as it stands.
        std::thread::sleep(Duration::from_millis(500));
        stream
            .write_all(b"GET /public/2 HTTP/1.1\r\nHost: x\r\n")
            .expect("write half a head");
        let started = Instant::now();
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf);
        let answer = String::from_utf8_lossy(&buf).into_owned();
        (first, started.elapsed(), answer)
    })
    .await
    .expect("keep-alive client task");
    assert!(
        first.starts_with("HTTP/1.1 200"),
        "the first request is served: {first}"
    );
    assert!(
        waited >= Duration::from_millis(250),
        "the second head got its own 300 ms, cut off after {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(4),
        "the second head was cut off by the head timeout, after {waited:?}"
    );
    assert!(
        !answer.contains("200 OK"),
        "the half head was not served: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_that_never_sends_a_byte_ends_at_idle_timeout_and_a_late_first_request_is_served(
) {
    let (_upstream, gw) = with_idle_timeout().await;
    let addr = gw.addr;
    let (late, closed_after) = tokio::task::spawn_blocking(move || {
        // Silent past the head timeout, then a request: served (the head timer starts at
        // the first byte, the idle timer at the accept).
        let mut late = std::net::TcpStream::connect(addr).expect("connect");
        late.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        std::thread::sleep(Duration::from_millis(700));
        let late = request_on(&mut late, "/public/late");
        // Silent for good: closed by the idle timeout, without a response.
        let mut silent = std::net::TcpStream::connect(addr).expect("connect");
        silent
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        let from = Instant::now();
        let mut buf = [0u8; 1];
        let n = silent.read(&mut buf).unwrap_or(0);
        assert_eq!(
            n, 0,
            "the server closed the silent connection without answering"
        );
        (late, from.elapsed())
    })
    .await
    .expect("client task");
    assert!(
        late.starts_with("HTTP/1.1 200"),
        "a late first request is served: {late}"
    );
    assert!(
        closed_after >= Duration::from_millis(1000) && closed_after < Duration::from_secs(4),
        "closed by idle_timeout: {closed_after:?}"
    );
}

/// Reads from `stream` until `end` has arrived (or the connection ends or stalls for 5 s).
fn read_until(stream: &mut std::net::TcpStream, end: &[u8]) -> String {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(end.len()).any(|w| w == end) {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_response_slower_than_idle_timeout_or_pausing_longer_is_not_cut_off_by_it() {
    let upstream = Upstream::start().await;
    let config = LIMITS.replace(
        "request_head_timeout = \"300ms\"",
        "request_head_timeout = \"300ms\"\nidle_timeout = \"1500ms\"",
    ) + "[[route]]\nprefix = \"/slow\"\npolicy = \"public\"\n\n[[route]]\nprefix = \"/pause\"\npolicy = \"public\"\n";
    let gw = TestGateway::start(&config, upstream.addr).await;
    let addr = gw.addr;
    let (slow, paused, waited, closed_after) = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        let started = Instant::now();
        let slow = request_on(&mut stream, "/slow/2500");
        let paused_request = b"GET /pause/2500 HTTP/1.1\r\nHost: x\r\n\r\n";
        stream.write_all(paused_request).expect("write a request");
        let paused = read_until(&mut stream, b"0\r\n\r\n");
        let waited = started.elapsed();
        let idle_from = Instant::now();
        let mut buf = [0u8; 1];
        let n = stream.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "the server closed the idle connection");
        (slow, paused, waited, idle_from.elapsed())
    })
    .await
    .expect("keep-alive client task");
    assert!(
        slow.starts_with("HTTP/1.1 200"),
        "a response 2.5 s in coming, past the 1.5 s idle timeout, is served: {slow}"
    );
    assert!(
        paused.starts_with("HTTP/1.1 200") && paused.contains("after the pause"),
        "a body pausing 2.5 s is streamed to its end on the same connection: {paused}"
    );
    assert!(waited >= Duration::from_secs(5), "both waited: {waited:?}");
    assert!(
        closed_after >= Duration::from_millis(1000) && closed_after < Duration::from_secs(4),
        "then idle, closed by idle_timeout: {closed_after:?}"
    );
}

/// `idle_park_after`: a keep-alive connection idle that long gives back hyper's state and its
/// upstream connection. Its next requests (two pipelined in one write) are served, on a new
/// upstream connection, and it still ends at `idle_timeout` after its last answer.
#[tokio::test(flavor = "multi_thread")]
async fn a_connection_parked_when_idle_serves_its_next_requests_and_still_ends_at_idle_timeout() {
    let (upstream, gw) =
        with_server_keys("idle_timeout = \"2s\"\nidle_park_after = \"200ms\"").await;
    let addr = gw.addr;
    let mut stream = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        for path in ["/public/1", "/public/2"] {
            let answer = request_on(&mut stream, path);
            assert!(answer.starts_with("HTTP/1.1 200"), "served: {answer}");
        }
        stream
    })
    .await
    .expect("first requests");
    assert_eq!(upstream.connections(), 1, "one upstream connection, kept");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let closed_after = tokio::task::spawn_blocking(move || {
        let two =
            "GET /public/3 HTTP/1.1\r\nHost: x\r\n\r\nGET /public/4 HTTP/1.1\r\nHost: x\r\n\r\n";
        stream
            .write_all(two.as_bytes())
            .expect("write two requests");
        let mut answers = String::new();
        let mut buf = vec![0u8; 64 * 1024];
        while answers.matches("HTTP/1.1 200").count() < 2 || !answers.ends_with('}') {
            let n = stream.read(&mut buf).expect("read the answers");
            assert!(n > 0, "the parked connection answers both: {answers}");
            answers.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert!(answers.contains("/public/4"), "both answered: {answers}");
        let idle_from = Instant::now();
        let n = stream.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "the server closed the idle connection");
        idle_from.elapsed()
    })
    .await
    .expect("requests after parking");
    assert_eq!(
        upstream.connections(),
        2,
        "the parked connection let go of its upstream one"
    );
    assert!(
        closed_after >= Duration::from_millis(1700),
        "not before idle_timeout: {closed_after:?}"
    );
    assert!(
        closed_after < Duration::from_millis(3500),
        "closed by idle_timeout: {closed_after:?}"
    );
}

/// `idle_park_after = "0s"` parks a connection after every answer (as nginx frees a keep-alive
/// connection's buffers), also when hyper asked for the next request before the answer went
/// out: each next request, sent at once or after a pause, is still served.
#[tokio::test(flavor = "multi_thread")]
async fn a_connection_parked_after_every_answer_serves_every_request() {
    let (upstream, gw) = with_server_keys("idle_park_after = \"0s\"").await;
    let addr = gw.addr;
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        for i in 0..20 {
            let answer = request_on(&mut stream, &format!("/public/{i}"));
            assert!(answer.starts_with("HTTP/1.1 200"), "request {i}: {answer}");
            // A pause after each answer, so that the connection is idle (and parked) before
            // the next request; a longer one now and then.
            let pause = if i % 5 == 0 { 50 } else { 20 };
            std::thread::sleep(Duration::from_millis(pause));
        }
    })
    .await
    .expect("requests");
    assert_eq!(upstream.hits(), 20);
    // Parked after each answer, the connection let go of its upstream connection every time.
    assert_eq!(upstream.connections(), 20, "parked after every answer");
}

/// A request hyper may upgrade (here `Upgrade: h2c`, answered 200 as any other) leaves the
/// upgrade armed in hyper for the connection's life: such a connection is never parked (hyper
/// would drop the socket), and its next request is served on it.
#[tokio::test(flavor = "multi_thread")]
async fn a_connection_that_asked_for_an_upgrade_is_not_parked_and_stays_open() {
    let (_upstream, gw) = with_server_keys("idle_park_after = \"0s\"").await;
    let addr = gw.addr;
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .expect("read timeout");
        let head = "GET /public/1 HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n\r\n";
        stream.write_all(head.as_bytes()).expect("write");
        let first = read_until(&mut stream, b"}");
        assert!(first.starts_with("HTTP/1.1 200"), "answered: {first}");
        std::thread::sleep(Duration::from_millis(200));
        let second = request_on(&mut stream, "/public/2");
        assert!(second.starts_with("HTTP/1.1 200"), "kept alive: {second:?}");
    })
    .await
    .expect("client");
}

/// Bytes that start no request (empty lines, which hyper skips) wake a parked connection but
/// do not extend its idle wait: it still ends at `idle_timeout` after its last answer.
#[tokio::test(flavor = "multi_thread")]
async fn empty_lines_sent_to_a_parked_connection_do_not_extend_idle_timeout() {
    let keys = "idle_timeout = \"1500ms\"\nidle_park_after = \"200ms\"";
    let (_upstream, gw) = with_server_keys(keys).await;
    let addr = gw.addr;
    let closed_after = tokio::task::spawn_blocking(move || {
        use std::io::ErrorKind;
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        let answer = request_on(&mut stream, "/public/1");
        assert!(answer.starts_with("HTTP/1.1 200"), "served: {answer}");
        let answered = Instant::now();
        stream
            .set_read_timeout(Some(Duration::from_millis(400)))
            .expect("read timeout");
        let mut buf = [0u8; 64];
        while answered.elapsed() < Duration::from_secs(6) {
            if stream.write_all(b"\r\n").is_err() {
                break;
            }
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
        answered.elapsed()
    })
    .await
    .expect("client");
    assert!(
        closed_after < Duration::from_millis(3000),
        "closed at idle_timeout from the last answer, not held open by empty lines: {closed_after:?}"
    );
}

/// The limits gateway with more `[server]` keys.
async fn with_server_keys(keys: &str) -> (Upstream, TestGateway) {
    let upstream = Upstream::start().await;
    let head = "request_head_timeout = \"300ms\"";
    let config = LIMITS.replace(head, &format!("{head}\n{keys}"));
    let gw = TestGateway::start(&config, upstream.addr).await;
    (upstream, gw)
}

/// The limits gateway with a 300 ms head timeout and a 1.5 s idle timeout.
async fn with_idle_timeout() -> (Upstream, TestGateway) {
    let upstream = Upstream::start().await;
    let config = LIMITS.replace(
        "request_head_timeout = \"300ms\"",
        "request_head_timeout = \"300ms\"\nidle_timeout = \"1500ms\"",
    );
    let gw = TestGateway::start(&config, upstream.addr).await;
    (upstream, gw)
}

/// The limits gateway with idle_timeout 1.5 s and the test upstream's /slow and /bytes paths.
async fn idle_gateway(max_connections: usize) -> (Upstream, TestGateway) {
    let upstream = Upstream::start().await;
    let config = LIMITS
        .replace(
            "request_head_timeout = \"300ms\"",
            "request_head_timeout = \"300ms\"\nidle_timeout = \"1500ms\"",
        )
        .replace(
            "max_connections = 2",
            &format!("max_connections = {max_connections}"),
        )
        + "[[route]]\nprefix = \"/slow\"\npolicy = \"public\"\n\n[[route]]\nprefix = \"/bytes\"\npolicy = \"public\"\n";
    let gw = TestGateway::start(&config, upstream.addr).await;
    (upstream, gw)
}

/// A `Content-Length` line longer than the guard keeps (64 bytes) makes the guard stop
/// following the framing (hyper accepts it): a request waiting 2.5 s for its upstream is still
/// in flight, not idle, and is answered.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_in_flight_on_a_connection_whose_framing_the_guard_lost_is_not_cut_by_idle_timeout(
) {
    let (_upstream, gw) = idle_gateway(2).await;
    let addr = gw.addr;
    let (answer, after) = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(6)))
            .expect("read timeout");
        let pad = " ".repeat(80);
        let request =
            format!("GET /slow/2500 HTTP/1.1\r\nHost: x\r\nContent-Length:{pad}0\r\n\r\n");
        let started = Instant::now();
        stream.write_all(request.as_bytes()).expect("write");
        let mut buf = vec![0u8; 64 * 1024];
        let n = stream.read(&mut buf).unwrap_or(0);
        (
            String::from_utf8_lossy(&buf[..n]).into_owned(),
            started.elapsed(),
        )
    })
    .await
    .expect("client");
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "a 2.5 s response on a connection whose framing was lost, after {after:?}: {answer:?}"
    );
}

/// Bytes a server socket accepts for a client that reads nothing, until a write blocks.
async fn socket_capacity() -> usize {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut server, _) = listener.accept().await.unwrap();
    let _ = server.set_nodelay(true);
    let chunk = vec![b'x'; 16 * 1024];
    let mut total = 0;
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_millis(300), server.write(&chunk)).await
    {
        total += n;
    }
    drop(client);
    total
}

/// hyper takes a response's body (and the guard counts it answered) before it has written
/// all of it: a client that stops reading for twice idle_timeout, with the sockets full and the
/// tail still in hyper's buffer, gets the whole response when it reads again. Sizes around the
/// sockets' capacity, so that for some the tail is in hyper's buffer.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_for_longer_than_idle_timeout_still_gets_all_of_its_response() {
    let capacity = socket_capacity().await;
    let (_upstream, gw) = idle_gateway(64).await;
    let addr = gw.addr;
    let sizes: Vec<usize> = (-8i64..40)
        .map(|k| (capacity as i64 + k * 8 * 1024).max(1) as usize)
        .collect();
    let results = tokio::task::spawn_blocking(move || {
        let handles: Vec<_> = sizes
            .into_iter()
            .map(|size| {
                std::thread::spawn(move || {
                    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
                    stream
                        .set_read_timeout(Some(Duration::from_secs(5)))
                        .expect("read timeout");
                    let request = format!("GET /bytes/{size} HTTP/1.1\r\nHost: x\r\n\r\n");
                    stream.write_all(request.as_bytes()).expect("write");
                    // Stops reading for twice idle_timeout.
                    std::thread::sleep(Duration::from_secs(3));
                    let mut all = Vec::new();
                    let mut buf = vec![0u8; 256 * 1024];
                    while !all.ends_with(b"\r\n0\r\n\r\n") {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => all.extend_from_slice(&buf[..n]),
                        }
                    }
                    (size, all.ends_with(b"\r\n0\r\n\r\n"), all.len())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let cut: Vec<_> = results.iter().filter(|(_, whole, _)| !whole).collect();
    assert!(
        cut.is_empty(),
        "kernel capacity {capacity}; responses cut short (size, whole, bytes received): {cut:?}"
    );
}

/// A first request whose large body is already in the socket: hyper's reads of it can spend
/// the task's cooperative budget before any read is pending, when the guard creates its idle
/// timer; the timer still ends each connection once it is idle.
#[tokio::test(flavor = "multi_thread")]
async fn a_first_upload_read_in_one_go_leaves_the_idle_timeout_working() {
    let (_upstream, gw) = idle_gateway(64).await;
    let addr = gw.addr;
    let results = tokio::task::spawn_blocking(move || {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                std::thread::spawn(move || {
                    let size = 2 * 1024 * 1024 + i * 4096;
                    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
                    stream
                        .set_read_timeout(Some(Duration::from_secs(6)))
                        .expect("read timeout");
                    let mut request = format!(
                        "POST /public/up HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n"
                    )
                    .into_bytes();
                    request.extend(std::iter::repeat_n(b'y', size));
                    stream.write_all(&request).expect("write");
                    let answer = read_until(&mut stream, b"}");
                    let from = Instant::now();
                    let mut buf = [0u8; 1];
                    let closed = matches!(stream.read(&mut buf), Ok(0));
                    (
                        i,
                        answer.starts_with("HTTP/1.1 200"),
                        closed,
                        from.elapsed(),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let open: Vec<_> = results.iter().filter(|r| !r.1 || !r.2).collect();
    assert!(
        open.is_empty(),
        "idle connections not closed by the 1.5 s idle_timeout (i, served, closed, waited): {open:?}"
    );
}
