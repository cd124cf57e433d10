//! Request smuggling: framing tricks sent as raw bytes. Each is refused with 400 and a closed
//! connection, or (where RFC 9112 defines a safe reading) read one way only, and the echo
//! upstream never receives more requests than the client framed unambiguously.

mod support;

use support::*;

async fn setup() -> (Upstream, TestGateway) {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(EXAMPLE_ROUTES, upstream.addr).await;
    (upstream, gateway)
}

#[tokio::test]
async fn framing_tricks_are_400_and_never_forwarded() {
    let (upstream, gw) = setup().await;
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
    let (upstream, gw) = setup().await;
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
async fn content_length_with_transfer_encoding_is_read_as_chunked_once_and_the_connection_closed() {
    // RFC 9112 section 6.3: Transfer-Encoding overrides Content-Length, and the server must
    // close the connection after responding. hyper drops the Content-Length, so the upstream
    // gets one chunked request and the bytes after the chunked body are never read as a
    // second request.
    let (upstream, gw) = setup().await;
    let answer = raw(
        gw.addr,
        b"POST /public/a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /public/smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(!answer.contains("smuggled"), "{answer}");
    assert_eq!(
        upstream.hits(),
        1,
        "exactly one request reached the upstream"
    );
}

#[tokio::test]
async fn a_head_with_bare_lf_line_endings_is_forwarded_once_with_clean_framing() {
    // RFC 9112 section 2.2 lets a recipient accept a bare LF as a line terminator, and hyper
    // does; freshgate writes a fresh head with CRLFs upstream, so the two hops cannot disagree.
    let (upstream, gw) = setup().await;
    let answer = raw(
        gw.addr,
        b"GET /public/lf HTTP/1.1\nHost: x\nConnection: close\n\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn pipelined_requests_are_each_forwarded_once() {
    let (upstream, gw) = setup().await;
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
