//! Request smuggling: framing tricks sent as raw bytes. Each is refused with 400 and a closed
//! connection, and the echo upstream never receives more requests than the client framed
//! unambiguously.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod support;

use support::*;

#[tokio::test]
async fn framing_tricks_are_400_and_never_forwarded() {
    let (upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let cases: &[(&str, &'static [u8])] = &[
        ("two different Content-Length values", b"POST /public/a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc"),
        ("a Content-Length list", b"POST /public/a HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 40\r\n\r\nabc"),
        ("a signed Content-Length", b"POST /public/a HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc"),
        ("an unknown transfer coding", b"POST /public/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc"),
        ("two Host headers", b"GET /public/a HTTP/1.1\r\nHost: x\r\nHost: y\r\nConnection: close\r\n\r\n"),
        ("a coding before chunked", b"POST /public/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo, chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"),
        ("chunked not last", b"POST /public/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
        ("Transfer-Encoding in HTTP/1.0", b"POST /public/a HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("obsolete line folding", b"GET /public/a HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n"),
        ("a bare CR in the head", b"GET /public/a HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n"),
        ("a space before the colon", b"GET /public/a HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello"),
    ];
    for (name, request) in cases {
        let answer = raw(gw.addr, request).await;
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
            "{name}: {answer:?}"
        );
    }
    assert_eq!(upstream.hits(), 0, "nothing was forwarded");
}

#[tokio::test]
async fn a_malformed_chunked_body_is_400_and_the_upstream_never_gets_a_complete_request() {
    let (upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let answer = raw(
        gw.addr,
        b"POST /public/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\nGET /public/smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains(r#"{"detail":"Invalid request body"}"#),
        "{answer}"
    );
    assert!(!answer.contains("smuggled"), "{answer}");
    // The head was already on its way when the bad chunk arrived; the upstream saw at most
    // that one request, with an aborted body.
    assert!(upstream.hits() <= 1, "hits: {}", upstream.hits());
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_400_and_the_connection_closed() {
    // hyper would read this as chunked (RFC 9112 section 6.3); freshgate's framing guard sees
    // both headers in the raw head and refuses it, whatever their order.
    let (upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    for request in [
        &b"POST /public/a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /public/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &b"POST /public/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\nGET /public/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"[..],
    ] {
        let answer = raw(gw.addr, request).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains(r#"{"detail":"Both Content-Length and Transfer-Encoding"}"#), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
        assert!(!answer.contains("smuggled"), "{answer}");
    }
    assert_eq!(upstream.hits(), 0, "nothing reached the upstream");
}

#[tokio::test]
async fn a_head_with_bare_lf_line_endings_is_400_and_never_forwarded() {
    let (upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let answer = raw(
        gw.addr,
        b"GET /public/lf HTTP/1.1\nHost: x\nConnection: close\n\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains(r#"{"detail":"Bare LF in request head"}"#),
        "{answer}"
    );
    // Also when it hides behind a well-framed first request on the same connection.
    let answer = raw(
        gw.addr,
        b"POST /public/ok HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /public/lf HTTP/1.1\nHost: x\n\n",
    )
    .await;
    assert!(answer.contains("HTTP/1.1 400"), "{answer}");
    assert!(!answer.contains(r#""path":"/public/lf""#), "{answer}");
    assert!(
        upstream.hits() <= 1,
        "at most the well-framed request was forwarded: {}",
        upstream.hits()
    );
}

#[tokio::test]
async fn pipelined_requests_are_each_forwarded_once() {
    let (upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let answer = raw(
        gw.addr,
        b"GET /public/1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /public/2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /public/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(answer.matches("HTTP/1.1 200").count(), 3, "{answer}");
    assert!(
        answer.contains(r#""path":"/public/2","headers""#)
            || answer.contains(r#""path":"/public/2""#),
        "{answer}"
    );
    assert_eq!(upstream.hits(), 3);
}
