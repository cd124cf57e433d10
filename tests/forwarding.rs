//! The gateway between a real client and a real echo upstream: what the client gets back and
//! what the upstream sees.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod support;

use bytes::Bytes;
use freshgate::auth::TokenType;
use serde_json::Value;
use support::*;

#[tokio::test]
async fn a_fresh_token_on_a_fresh_route_is_forwarded_with_identity_headers() {
    let (upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let (name, value) = bearer(&token("alice", TokenType::Access, true));
    let reply = send(gw.addr, "GET", "/protected-fresh?x=1", &[(name, &value)]).await;
    assert_eq!(reply.status, 200, "forwarded: {:?}", reply.body);
    assert_eq!(
        reply.json()["path"],
        "/protected-fresh?x=1",
        "path and query unchanged"
    );
    assert_eq!(
        reply.upstream_saw("x-auth-subject"),
        ["alice"],
        "the verified subject"
    );
    assert_eq!(
        reply.upstream_saw("x-auth-fresh"),
        ["true"],
        "the token is fresh"
    );
    assert_eq!(
        reply.upstream_saw("x-auth-token-type"),
        ["access"],
        "the token type"
    );
    assert_eq!(
        reply.upstream_saw("authorization"),
        [String::from_utf8(value).expect("a bearer header is ASCII")],
        "Authorization is forwarded unchanged"
    );
    assert_eq!(upstream.hits(), 1, "forwarded exactly once");
}

#[tokio::test]
async fn a_non_fresh_token_on_a_fresh_route_is_401_and_never_reaches_the_upstream() {
    let (upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let (name, value) = bearer(&token("alice", TokenType::Access, false));
    let reply = send(gw.addr, "GET", "/protected-fresh", &[(name, &value)]).await;
    assert_eq!(reply.status, 401, "a non-fresh token is refused");
    assert_eq!(
        reply.body, r#"{"detail":"Fresh token required"}"#,
        "the library's detail"
    );
    assert_eq!(
        reply.headers["content-type"], "application/json",
        "a JSON answer"
    );
    assert_eq!(upstream.hits(), 0, "a rejected request is not forwarded");
}

#[tokio::test]
async fn a_refresh_token_is_forwarded_on_the_refresh_route_with_fresh_false() {
    let (_upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let (name, value) = bearer(&token("bob", TokenType::Refresh, false));
    let reply = send(gw.addr, "POST", "/refresh", &[(name, &value)]).await;
    assert_eq!(reply.status, 200, "forwarded: {}", reply.text());
    assert_eq!(
        reply.upstream_saw("x-auth-token-type"),
        ["refresh"],
        "the token type is refresh"
    );
    assert_eq!(
        reply.upstream_saw("x-auth-fresh"),
        ["false"],
        "a refresh token is never fresh"
    );
}

#[tokio::test]
async fn a_path_that_matches_no_route_is_404_and_never_reaches_the_upstream() {
    let (upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    for (method, path) in [
        ("GET", "/nope"),
        ("GET", "/login"),
        ("GET", "/publicx"),
        ("GET", "/protected/x"),
    ] {
        let reply = send(gw.addr, method, path, &[]).await;
        assert_eq!(reply.status, 404, "{method} {path}: no route");
        assert_eq!(
            reply.body, r#"{"detail":"Not Found"}"#,
            "{method} {path}: the 404 body"
        );
    }
    assert_eq!(upstream.hits(), 0, "nothing was forwarded");
}

#[tokio::test]
async fn client_sent_x_auth_headers_are_removed_on_every_route() {
    let (_upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let spoof: &[(&str, &[u8])] = &[
        ("x-auth-subject", b"admin"),
        ("X-Auth-Fresh", b"true"),
        ("x-auth-anything", b"1"),
        ("x_auth_subject", b"admin"),
        ("X_Auth-Fresh", b"true"),
    ];
    let reply = send(gw.addr, "GET", "/public/a", spoof).await;
    assert_eq!(reply.status, 200, "the public route forwards");
    for name in [
        "x-auth-subject",
        "x-auth-fresh",
        "x-auth-anything",
        "x_auth_subject",
        "x_auth-fresh",
    ] {
        assert!(
            reply.upstream_saw(name).is_empty(),
            "{name} reached the upstream on a public route"
        );
    }
    let reply = send(gw.addr, "GET", "/partially-protected", spoof).await;
    assert_eq!(reply.status, 200, "the optional route forwards anonymously");
    assert!(
        reply.upstream_saw("x-auth-subject").is_empty(),
        "anonymous optional requests carry no subject"
    );

    let (name, value) = bearer(&token("alice", TokenType::Access, false));
    let mut headers = spoof.to_vec();
    headers.push((name, &value));
    let reply = send(gw.addr, "GET", "/protected", &headers).await;
    assert_eq!(
        reply.upstream_saw("x-auth-subject"),
        ["alice"],
        "only the verified subject"
    );
    assert_eq!(
        reply.upstream_saw("x-auth-fresh"),
        ["false"],
        "only the verified freshness"
    );
    assert!(
        reply.upstream_saw("x-auth-anything").is_empty(),
        "a client-sent x-auth-* header the gateway does not set is removed too"
    );
}

#[tokio::test]
async fn hop_by_hop_headers_and_those_named_in_connection_are_removed() {
    let (_upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let reply = send(
        gw.addr,
        "GET",
        "/public/x",
        &[
            ("connection", b"keep-alive, x-private"),
            ("x-private", b"secret"),
            ("keep-alive", b"timeout=5"),
            ("te", b"trailers"),
            ("proxy-connection", b"keep-alive"),
            ("x-end-to-end", b"kept"),
        ],
    )
    .await;
    for name in ["x-private", "keep-alive", "te", "proxy-connection"] {
        assert!(
            reply.upstream_saw(name).is_empty(),
            "{name} reached the upstream"
        );
    }
    assert_eq!(
        reply.upstream_saw("x-end-to-end"),
        ["kept"],
        "an end-to-end header is forwarded"
    );
}

#[tokio::test]
async fn forwarded_headers_are_added_and_host_is_kept() {
    let (_upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let reply = send(
        gw.addr,
        "GET",
        "/public/x",
        &[
            ("x-forwarded-for", b"10.1.2.3"),
            ("x-forwarded-proto", b"https"),
        ],
    )
    .await;
    assert_eq!(
        reply.upstream_saw("x-forwarded-for"),
        ["10.1.2.3, 127.0.0.1"],
        "client appended to the chain"
    );
    assert_eq!(
        reply.upstream_saw("x-forwarded-proto"),
        ["http"],
        "set by the gateway, not the client"
    );
    assert_eq!(
        reply.upstream_saw("x-forwarded-host"),
        [gw.addr.to_string()],
        "the Host the client asked for"
    );
    assert_eq!(
        reply.upstream_saw("host"),
        [gw.addr.to_string()],
        "Host is kept"
    );
}

#[tokio::test]
async fn a_subject_that_cannot_travel_verbatim_is_percent_encoded_and_flagged() {
    let (_upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let mut claims = freshgate::token::TokenSpec::new("x", TokenType::Access, false).claims(now());
    claims.insert("sub".into(), "eve\r\nX-Auth-Admin: yes".into());
    let (name, value) = bearer(&sign_claims(&claims));
    let reply = send(gw.addr, "GET", "/protected", &[(name, &value)]).await;
    assert_eq!(reply.status, 200, "forwarded: {}", reply.text());
    assert_eq!(
        reply.upstream_saw("x-auth-subject"),
        ["eve%0D%0AX-Auth-Admin:%20yes"],
        "CR, LF and space are percent-encoded"
    );
    assert_eq!(
        reply.upstream_saw("x-auth-subject-encoding"),
        ["percent"],
        "the encoding is flagged"
    );
    assert!(
        reply.upstream_saw("x-auth-admin").is_empty(),
        "no header was injected"
    );
}

#[tokio::test]
async fn a_numeric_subject_is_sent_as_decimal_text() {
    let (_upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let mut claims = freshgate::token::TokenSpec::new("x", TokenType::Access, true).claims(now());
    claims.insert("sub".into(), 42.into());
    let (name, value) = bearer(&sign_claims(&claims));
    let reply = send(gw.addr, "GET", "/protected", &[(name, &value)]).await;
    assert_eq!(
        reply.upstream_saw("x-auth-subject"),
        ["42"],
        "the number as decimal text"
    );
    assert!(
        reply.upstream_saw("x-auth-subject-encoding").is_empty(),
        "a decimal number needs no encoding"
    );
}

#[tokio::test]
async fn large_request_and_response_bodies_stream_through() {
    let (_upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let body = Bytes::from(vec![b'a'; 8 * 1024 * 1024]);
    let reply = send_body(gw.addr, "POST", "/public/upload", &[], body).await;
    assert_eq!(reply.status, 200, "an 8 MiB upload is forwarded");
    assert_eq!(
        reply.json()["body_len"],
        8 * 1024 * 1024,
        "the upstream got every byte"
    );

    let reply = send(gw.addr, "GET", "/bytes/20000000", &[]).await;
    assert_eq!(reply.status, 200, "a 20 MB download is forwarded");
    assert_eq!(reply.body.len(), 20_000_000, "the client got every byte");
}

#[tokio::test]
async fn an_unreachable_upstream_is_502() {
    let gw = TestGateway::start(EXAMPLE_ROUTES, dead_port()).await;
    let reply = send(gw.addr, "GET", "/public/x", &[]).await;
    assert_eq!(reply.status, 502, "nothing listens on the upstream port");
    assert_eq!(reply.body, r#"{"detail":"Bad Gateway"}"#, "the 502 body");
}

#[tokio::test]
async fn an_upstream_slower_than_upstream_timeout_is_504() {
    let upstream = Upstream::start().await;
    let config = format!("[server]\nupstream_timeout = \"200ms\"\n{EXAMPLE_ROUTES}");
    let gw = TestGateway::start(&config, upstream.addr).await;
    let reply = send(gw.addr, "GET", "/slow/3000", &[]).await;
    assert_eq!(reply.status, 504, "3 s is over the 200 ms upstream_timeout");
    assert_eq!(
        reply.body, r#"{"detail":"Gateway Timeout"}"#,
        "the 504 body"
    );
    let reply = send(gw.addr, "GET", "/slow/10", &[]).await;
    assert_eq!(reply.status, 200, "a fast enough answer is forwarded");
}

#[tokio::test]
async fn upstream_timeout_runs_from_each_request_on_a_keep_alive_connection() {
    // One timer per client connection serves its requests: the one left from a finished
    // request must neither cut a later request short nor let it run past its own deadline.
    let upstream = Upstream::start().await;
    let config = format!("[server]\nupstream_timeout = \"400ms\"\n{EXAMPLE_ROUTES}");
    let gw = TestGateway::start(&config, upstream.addr).await;
    let mut conn = Connection::open(gw.addr).await.unwrap();
    assert_eq!(conn.get("/slow/10", &[]).await.unwrap().status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // Its deadline is 400 ms after it starts, beyond the one left from the first request.
    let reply = conn.get("/slow/300", &[]).await.unwrap();
    assert_eq!(reply.status, 200, "300 ms is within this request's 400 ms");
    let started = std::time::Instant::now();
    let reply = conn.get("/slow/3000", &[]).await.unwrap();
    let took = started.elapsed();
    assert_eq!(reply.status, 504, "3 s is over the 400 ms upstream_timeout");
    assert!(
        took >= std::time::Duration::from_millis(380) && took < std::time::Duration::from_secs(2),
        "answered at the deadline, not before or long after: {took:?}"
    );
    let mut conn = Connection::open(gw.addr).await.unwrap();
    assert_eq!(conn.get("/slow/10", &[]).await.unwrap().status, 200);
}

// ---------------------------------------------------------------------------------------------
// Transparency: the same requests directly and through a `public` route
// ---------------------------------------------------------------------------------------------

/// Request headers as raw bytes, in order.
type Headers<'a> = &'a [(&'a str, &'a [u8])];

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Request headers the gateway sets on purpose, so the upstream sees them differently: `Host`
/// (the client's, which names the gateway), `X-Forwarded-*` and `X-Request-Id`.
const SET_BY_THE_GATEWAY: [&str; 5] = [
    "host",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-request-id",
];

/// Response headers that are not compared end to end: hop-by-hop (RFC 9110 section 7.6.1),
/// `content-length` (the echo's body names the request headers, which the gateway adds to),
/// `date` (the clock) and the gateway's `x-request-id`.
const NOT_END_TO_END: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "date",
    "x-request-id",
];

/// The echo's description of the request without the headers the gateway sets.
fn as_the_client_sent_it(reply: &Reply) -> Value {
    let mut echo = reply.json();
    if let Some(headers) = echo["headers"].as_array_mut() {
        headers.retain(|pair| !SET_BY_THE_GATEWAY.contains(&pair[0].as_str().unwrap_or_default()));
    }
    echo
}

/// The end-to-end response headers, in order (values as `Debug` shows them, bytes escaped).
fn end_to_end(reply: &Reply) -> Vec<(String, String)> {
    reply
        .headers
        .iter()
        .filter(|(name, _)| !NOT_END_TO_END.contains(&name.as_str()))
        .map(|(name, value)| (name.to_string(), format!("{value:?}")))
        .collect()
}

#[tokio::test]
async fn a_public_route_is_transparent_for_every_method_body_and_header_set() {
    let (upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let binary: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let bodies: [(&str, Bytes); 3] = [
        ("no body", Bytes::new()),
        ("a short text body", Bytes::from_static(b"hello")),
        ("a 100 kB binary body", Bytes::from(binary)),
    ];
    let header_sets: [(&str, Headers<'_>); 3] = [
        ("no headers", &[]),
        (
            "content negotiation and a custom header",
            &[
                ("accept", b"application/json"),
                ("accept-language", b"en, fr;q=0.5"),
                ("x-custom", b"1"),
            ],
        ),
        (
            "repeated, latin-1 and caching headers",
            &[
                ("x-list", b"a"),
                ("x-list", b"b"),
                ("x-latin1", b"caf\xe9"),
                ("cache-control", b"no-cache"),
                ("user-agent", b"matrix/1.0"),
                ("cookie", b"theme=dark"),
            ],
        ),
    ];
    let mut cases = 0;
    for method in METHODS {
        for (body_name, body) in &bodies {
            for (headers_name, headers) in &header_sets {
                let case = format!("{method} with {body_name} and {headers_name}");
                let path = "/public/matrix?q=1&r=%2F";
                let direct = send_body(upstream.addr, method, path, headers, body.clone()).await;
                let proxied = send_body(gw.addr, method, path, headers, body.clone()).await;
                assert_eq!(direct.status, proxied.status, "{case}: the same status");
                match method {
                    "HEAD" => assert_eq!(
                        (direct.body.len(), proxied.body.len()),
                        (0, 0),
                        "{case}: no body either way"
                    ),
                    _ => assert_eq!(
                        as_the_client_sent_it(&direct),
                        as_the_client_sent_it(&proxied),
                        "{case}: the same body, so the upstream saw the same method, path, \
                         body length and headers (but those the gateway sets)"
                    ),
                }
                assert_eq!(
                    end_to_end(&direct),
                    end_to_end(&proxied),
                    "{case}: the same end-to-end response headers"
                );
                cases += 1;
            }
        }
    }
    assert_eq!(
        upstream.hits(),
        2 * cases,
        "every request reached the upstream once each way"
    );
}

#[tokio::test]
async fn connection_cannot_remove_host_or_the_request_id() {
    let (_upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let reply = send(
        gw.addr,
        "GET",
        "/public/x",
        &[
            ("connection", b"Host, X-Request-Id"),
            ("x-request-id", b"abc-1"),
        ],
    )
    .await;
    assert_eq!(
        reply.upstream_saw("host"),
        [gw.addr.to_string()],
        "Host survives"
    );
    assert_eq!(
        reply.upstream_saw("x-request-id"),
        ["abc-1"],
        "the request id survives"
    );
}
