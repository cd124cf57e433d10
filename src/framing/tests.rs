//! The guard's framing follower, table-tested over every read boundary.

use super::*;

fn run(chunks: &[&[u8]]) -> (Option<Violation>, bool) {
    let mut f = Framer::default();
    let mut found = None;
    for c in chunks {
        found = found.or(f.feed(c));
    }
    (found, matches!(f.state, State::Lost))
}

#[test]
fn clean_streams_have_no_violation_whatever_the_read_boundaries() {
    let stream: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nh\r\nl\nPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: x\r\n\r\n3;ext=1\r\na\nb\r\n0\r\nX-Trailer: 1\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n";
    for split in 1..stream.len() {
        let (first, second) = stream.split_at(split);
        assert_eq!(run(&[first, second]), (None, false), "split at {split}");
    }
    // Leading empty lines before a request line are allowed.
    assert_eq!(
        run(&[b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"]),
        (None, false)
    );
}

#[test]
fn the_refused_framings_are_flagged() {
    let cases: &[(&[u8], Violation)] = &[
        (b"GET / HTTP/1.1\nHost: x\n\n", Violation::BareLf),
        (b"GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n", Violation::BareCr),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Violation::LengthAndChunked),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\nHost: x\r\n\r\n0\r\n\r\n", Violation::LengthAndChunked),
        // A smuggled second head behind a first request's body.
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /x HTTP/1.1\nHost: x\n\n", Violation::BareLf),
    ];
    for (stream, want) in cases {
        assert_eq!(
            run(&[stream]).0,
            Some(*want),
            "{}",
            String::from_utf8_lossy(stream)
        );
    }
}

#[test]
fn long_lines_are_cut_at_the_kept_start_whatever_the_read_boundaries() {
    let long = "a".repeat(200);
    // A long header before Content-Length: the body is skipped, the bare LF after it found.
    let stream = format!("POST / HTTP/1.1\r\nX-Long: {long}\r\nContent-Length: 5\r\n\r\nh\nl\rxGET / HTTP/1.1\nHost: x\n\n");
    // A Content-Length whose value lies beyond the kept start cannot be read: framing lost.
    let padded = format!(
        "POST / HTTP/1.1\r\nContent-Length:{}5\r\n\r\nhello",
        " ".repeat(70)
    );
    for split in 1..stream.len() {
        let (a, b) = stream.as_bytes().split_at(split);
        assert_eq!(
            run(&[a, b]),
            (Some(Violation::BareLf), false),
            "split at {split}"
        );
    }
    for split in 1..padded.len() {
        let (a, b) = padded.as_bytes().split_at(split);
        assert_eq!(run(&[a, b]), (None, true), "split at {split}");
    }
    let bytes: Vec<&[u8]> = stream.as_bytes().chunks(1).collect();
    assert_eq!(
        run(&bytes),
        (Some(Violation::BareLf), false),
        "byte by byte"
    );
}

#[test]
fn body_bytes_are_never_read_as_heads() {
    let body = b"line one\nline two\r\rbare\n";
    let mut stream = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    stream.extend_from_slice(body);
    stream.extend_from_slice(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    stream.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
    stream.extend_from_slice(body);
    stream.extend_from_slice(b"\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(run(&[&stream]), (None, false));
}

#[test]
fn a_connection_is_between_requests_only_after_a_whole_one() {
    let stream: &[u8] = b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nPOST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n";
    for split in 1..stream.len() {
        let (first, second) = stream.split_at(split);
        let mut f = Framer::default();
        f.feed(first);
        f.feed(second);
        assert!(f.between_requests(), "split at {split}");
    }
    let mut f = Framer::default();
    assert!(f.between_requests());
    f.feed(b"\r\n");
    assert!(
        f.between_requests(),
        "empty lines before a request begin none"
    );
    f.feed(b"POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nh");
    assert!(!f.between_requests(), "in the body");
    f.feed(b"iG");
    assert!(!f.between_requests(), "in the next head");
}

/// The idle timer is polled outside tokio's cooperative budget: polled with the budget spent
/// (at every count of units left, before and after it fires), it is still registered, and
/// the idle connection still ends on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_timer_polled_with_the_task_budget_spent_still_ends_the_connection() {
    use std::task::Poll;
    use std::time::Duration;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
    use tokio::time::Instant;

    async fn poll_once(g: &mut Guarded<tokio::io::DuplexStream>) -> bool {
        let mut buf = [0u8; 64];
        std::future::poll_fn(|cx| {
            let mut rb = ReadBuf::new(&mut buf);
            Poll::Ready(
                std::pin::Pin::new(&mut *g)
                    .poll_read(cx, &mut rb)
                    .is_pending(),
            )
        })
        .await
    }

    let mut tasks = Vec::new();
    for k in 100..128usize {
        tasks.push(tokio::spawn(async move {
            let (client, flags, mut g) = one_request_read((IDLE, IDLE)).await;
            let mut buf = [0u8; 1024];
            let t0 = Instant::now();
            assert!(
                poll_once(&mut g).await,
                "waiting: the idle timer registered"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            flags.answered(); // idle from t0 + 100 ms: the deadline is t0 + 300 ms
            g.flush().await.unwrap(); // as hyper does once its write buffer is empty
            tokio::time::sleep_until(t0 + Duration::from_millis(250)).await; // fired at 200
            for _ in 0..k {
                tokio::task::coop::consume_budget().await;
            }
            let _ = poll_once(&mut g).await;
            let ended = tokio::time::timeout(Duration::from_secs(3), g.read(&mut buf)).await;
            let after = t0.elapsed();
            drop(client);
            (k, after, ended.map(|r| r.map_err(|e| e.kind())))
        }));
    }
    // The same, with the budget spent before the connection's first wait (the timer created).
    for k in 120..128usize {
        tasks.push(tokio::spawn(async move {
            let (client, flags, mut g) = one_request_read((IDLE, IDLE)).await;
            let mut buf = [0u8; 1024];
            flags.answered();
            g.flush().await.unwrap();
            let t0 = Instant::now();
            tokio::time::sleep(Duration::from_millis(10)).await;
            for _ in 0..k {
                tokio::task::coop::consume_budget().await;
            }
            let _ = poll_once(&mut g).await;
            let ended = tokio::time::timeout(Duration::from_secs(3), g.read(&mut buf)).await;
            let after = t0.elapsed();
            drop(client);
            (1000 + k, after, ended.map(|r| r.map_err(|e| e.kind())))
        }));
    }
    let mut late = Vec::new();
    for t in tasks {
        let (k, after, ended) = t.await.unwrap();
        if after > Duration::from_millis(1000) {
            late.push((k, after, ended));
        }
    }
    assert!(
        late.is_empty(),
        "idle deadline t0+300ms; connections ended late (k units consumed, ended after, result): {late:?}"
    );
}

/// An answer hyper has taken but not flushed may still sit in its write buffer: the connection
/// is not idle (nor parked, which would lose it) until hyper's next flush; then it is, and with
/// `park_after` below the idle timeout it is parked (an end of stream, the socket left open)
/// rather than timed out.
#[tokio::test]
async fn an_answer_not_yet_flushed_keeps_the_connection_from_idling_and_then_it_is_parked() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let idle = (Duration::from_secs(30), Duration::from_millis(50));
    let (mut client, flags, mut g) = one_request_read(idle).await;
    let mut buf = [0u8; 1024];
    flags.answered();
    let waiting = tokio::time::timeout(Duration::from_millis(300), g.read(&mut buf)).await;
    assert!(waiting.is_err(), "not idle before the flush: {waiting:?}");
    assert!(!g.parked());
    g.flush().await.unwrap();
    let read = tokio::time::timeout(Duration::from_secs(2), g.read(&mut buf)).await;
    assert_eq!(read.unwrap().unwrap(), 0, "parked: an end of stream");
    assert!(g.parked(), "parked, not timed out");
    g.shutdown().await.unwrap();
    client.write_all(b"still open").await.unwrap();
    g.unpark();
    assert_eq!(
        g.read(&mut buf).await.unwrap(),
        10,
        "the socket stayed open"
    );
}

const IDLE: std::time::Duration = std::time::Duration::from_millis(200);

/// A guard (`idle`: the idle timeout and `park_after`) that has read one request, which hyper
/// handed on.
async fn one_request_read(
    idle: (std::time::Duration, std::time::Duration),
) -> (
    tokio::io::DuplexStream,
    std::sync::Arc<Flags>,
    Guarded<tokio::io::DuplexStream>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client, server) = tokio::io::duplex(4096);
    let flags = std::sync::Arc::new(Flags::default());
    let head = std::time::Duration::from_secs(30);
    let mut g = Guarded::new(server, flags.clone(), head, idle);
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    assert!(g.read(&mut buf).await.unwrap() > 0);
    flags.started();
    (client, flags, g)
}
