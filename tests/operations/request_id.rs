//! `X-Request-Id`: a sane client id is kept, anything else replaced by a generated one, on
//! forwarded and on rejected requests alike.

use crate::support::*;

/// A generated id: 12 random hex digits for the process, `-`, a hex counter.
fn is_generated_id(id: &str) -> bool {
    match id.split_once('-') {
        Some((prefix, counter)) => {
            prefix.len() == 12
                && prefix.chars().all(|c| c.is_ascii_hexdigit())
                && !counter.is_empty()
                && counter.chars().all(|c| c.is_ascii_hexdigit())
        }
        None => false,
    }
}

#[tokio::test]
async fn a_sane_client_request_id_is_forwarded_upstream_and_returned() {
    let upstream = Upstream::start().await;
    let gw = TestGateway::start(EXAMPLE_ROUTES, upstream.addr).await;
    let longest = "r".repeat(128);
    for id in [
        "abc-123_XYZ.9",
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        &longest,
    ] {
        let reply = send(
            gw.addr,
            "GET",
            "/public/x",
            &[("x-request-id", id.as_bytes())],
        )
        .await;
        assert_eq!(reply.status, 200, "{id:?}: forwarded");
        assert_eq!(
            reply.upstream_saw("x-request-id"),
            [id],
            "{id:?}: the upstream got it"
        );
        assert_eq!(
            reply
                .headers
                .get_all("x-request-id")
                .iter()
                .collect::<Vec<_>>(),
            [id],
            "{id:?}: the client got it back, once"
        );
    }
}

#[tokio::test]
async fn a_missing_or_insane_request_id_is_replaced_by_one_generated_id_upstream_and_in_the_response(
) {
    let upstream = Upstream::start().await;
    let gw = TestGateway::start(EXAMPLE_ROUTES, upstream.addr).await;
    let too_long = "r".repeat(129);
    let cases: [(&str, Option<&[u8]>); 5] = [
        ("missing", None),
        ("empty", Some(b"")),
        ("too long (129 bytes)", Some(too_long.as_bytes())),
        ("with spaces", Some(b"has spaces in it")),
        ("with non-ASCII bytes", Some(b"caf\xc3\xa9")),
    ];
    let mut generated = Vec::new();
    for (what, sent) in cases {
        let headers: Vec<(&str, &[u8])> = sent.map(|v| ("x-request-id", v)).into_iter().collect();
        let reply = send(gw.addr, "GET", "/public/x", &headers).await;
        assert_eq!(reply.status, 200, "{what}: forwarded");
        let returned: Vec<String> = reply
            .headers
            .get_all("x-request-id")
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        assert_eq!(
            returned.len(),
            1,
            "{what}: one id in the response: {returned:?}"
        );
        assert!(
            is_generated_id(&returned[0]),
            "{what}: a generated id: {returned:?}"
        );
        assert_eq!(
            reply.upstream_saw("x-request-id"),
            returned,
            "{what}: the upstream saw the same generated id, and only it"
        );
        generated.push(returned[0].clone());
    }
    generated.sort();
    generated.dedup();
    assert_eq!(
        generated.len(),
        5,
        "every generated id is new: {generated:?}"
    );
}

#[tokio::test]
async fn rejected_responses_carry_the_request_id_too() {
    let upstream = Upstream::start().await;
    let gw = TestGateway::start(EXAMPLE_ROUTES, upstream.addr).await;
    for (path, status) in [("/protected", 401), ("/nope", 404)] {
        let reply = send(gw.addr, "GET", path, &[("x-request-id", b"trace-me-42")]).await;
        assert_eq!(reply.status, status, "{path}: rejected");
        assert_eq!(
            reply.headers.get("x-request-id").map(|v| v.as_bytes()),
            Some(&b"trace-me-42"[..]),
            "{path}: the client's id comes back on a rejection"
        );
        let reply = send(gw.addr, "GET", path, &[]).await;
        let id = reply
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            is_generated_id(id),
            "{path}: a rejection without an id gets a generated one: {id:?}"
        );
    }
    assert_eq!(upstream.hits(), 0, "nothing was forwarded");
}
