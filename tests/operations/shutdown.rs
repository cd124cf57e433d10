//! Graceful shutdown of the real binary on SIGTERM: requests in flight finish, new connections
//! are refused, idle keep-alive connections do not hold it up, and `shutdown_timeout` bounds it.

use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::binary_config;
use crate::support::*;

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_refuses_new_connections_and_exits_0() {
    let upstream = Upstream::start().await;
    let config = binary_config(upstream.addr, "public", "shutdown_timeout = \"10s\"");
    let mut gw = Process::start(&config).await;
    let addr = gw.listen;

    // An idle keep-alive connection must not hold the shutdown up.
    let mut idle = Connection::open(addr).await.expect("connect");
    let reply = idle.get("/switch", &[]).await.expect("a reply");
    assert_eq!(reply.status, 200, "the keep-alive connection is served");

    let in_flight = tokio::spawn(async move { try_get(addr, "/slow/2000", &[]).await });
    eventually(
        Duration::from_secs(5),
        "the slow request to reach the upstream",
        async || upstream.hits() >= 2,
    )
    .await;
    let signalled = Instant::now();
    gw.signal("TERM");

    eventually(
        Duration::from_secs(2),
        "/readyz to turn 503 while draining",
        async || match try_get(gw.admin, "/readyz", &[]).await {
            Ok(reply) if reply.status == 503 => true,
            Ok(reply) if reply.status == 200 => false,
            other => panic!("/readyz while draining: {other:?}"),
        },
    )
    .await;
    eventually(
        Duration::from_secs(2),
        "new connections to be refused",
        async || TcpStream::connect(addr).await.is_err(),
    )
    .await;
    assert!(
        !in_flight.is_finished(),
        "the listener closed while the slow request was still in flight"
    );

    let reply = in_flight
        .await
        .expect("in-flight task")
        .unwrap_or_else(|e| panic!("the in-flight request failed: {e}"));
    assert_eq!(
        reply.status,
        200,
        "the in-flight request completes: {}",
        reply.text()
    );
    assert_eq!(
        reply.json()["path"],
        "/slow/2000",
        "with the upstream's answer"
    );

    let status = gw.wait_for_exit(Duration::from_secs(10)).await;
    assert!(
        status.success(),
        "freshgate exits 0 after draining: {status}"
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "it exited within shutdown_timeout ({:?})",
        signalled.elapsed()
    );
    assert!(
        gw.find_log(|l| message(l) == "all connections drained")
            .is_some(),
        "every connection drained without the timeout, the idle keep-alive one included: {:#?}",
        gw.logs()
    );
    let refused = TcpStream::connect(addr).await;
    assert!(refused.is_err(), "nothing listens after exit");
}

#[tokio::test]
async fn sigterm_exits_0_after_shutdown_timeout_when_a_request_outlasts_it() {
    let upstream = Upstream::start().await;
    let config = binary_config(upstream.addr, "public", "shutdown_timeout = \"300ms\"");
    let mut gw = Process::start(&config).await;
    let addr = gw.listen;
    let in_flight = tokio::spawn(async move { try_get(addr, "/slow/5000", &[]).await });
    eventually(
        Duration::from_secs(5),
        "the slow request to reach the upstream",
        async || upstream.hits() >= 1,
    )
    .await;
    let signalled = Instant::now();
    gw.signal("TERM");
    let status = gw.wait_for_exit(Duration::from_secs(4)).await;
    assert!(
        status.success(),
        "freshgate exits 0 at the shutdown timeout: {status}"
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(4),
        "it did not wait for the 5 s request ({:?})",
        signalled.elapsed()
    );
    let result = in_flight.await.expect("in-flight task");
    assert!(
        result.is_err(),
        "the request that outlasted the timeout is cut off: {result:?}"
    );
}

/// A keep-alive connection parked after `idle_park_after` (hyper's state dropped, its next byte
/// awaited) does not hold a drain up: SIGTERM closes it at once, and freshgate exits 0 with
/// every connection drained.
#[tokio::test]
async fn sigterm_closes_a_parked_keep_alive_connection_at_once_and_exits_0() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = Upstream::start().await;
    let extra = "shutdown_timeout = \"10s\"\nidle_park_after = \"100ms\"";
    let config = binary_config(upstream.addr, "public", extra);
    let mut gw = Process::start(&config).await;
    let mut stream = TcpStream::connect(gw.listen).await.expect("connect");
    stream
        .write_all(b"GET /switch HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write a request");
    let mut answer = String::new();
    let mut buf = vec![0u8; 64 * 1024];
    while !answer.ends_with('}') {
        let n = stream.read(&mut buf).await.expect("read the answer");
        assert!(n > 0, "answered before the end: {answer}");
        answer.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(answer.starts_with("HTTP/1.1 200"), "served: {answer}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let signalled = Instant::now();
    gw.signal("TERM");
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf)).await;
    let n = read.expect("the parked connection closed within 3 s");
    assert_eq!(n.unwrap_or(0), 0, "closed without a word");
    let status = gw.wait_for_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "freshgate exits 0: {status}");
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "not held up by the parked connection ({:?})",
        signalled.elapsed()
    );
    assert!(
        gw.find_log(|l| message(l) == "all connections drained")
            .is_some(),
        "every connection drained without the timeout: {:#?}",
        gw.logs()
    );
}
