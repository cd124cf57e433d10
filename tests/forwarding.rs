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
use support::*;

async fn setup() -> (Upstream, TestGateway) {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(EXAMPLE_ROUTES, upstream.addr).await;
    (upstream, gateway)
}

#[tokio::test]
async fn a_fresh_token_on_a_fresh_route_is_forwarded_with_identity_headers() {
    let (upstream, gw) = setup().await;
    let (name, value) = bearer(&token("alice", TokenType::Access, true));
    let reply = send(gw.addr, "GET", "/protected-fresh?x=1", &[(name, &value)]).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.json()["path"],
        "/protected-fresh?x=1",
        "path and query unchanged"
    );
    assert_eq!(reply.upstream_saw("x-auth-subject"), ["alice"]);
    assert_eq!(reply.upstream_saw("x-auth-fresh"), ["true"]);
    assert_eq!(reply.upstream_saw("x-auth-token-type"), ["access"]);
    assert_eq!(
        reply.upstream_saw("authorization"),
        [String::from_utf8(value).unwrap()],
        "Authorization is forwarded unchanged"
    );
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn a_non_fresh_token_on_a_fresh_route_is_401_and_never_reaches_the_upstream() {
    let (upstream, gw) = setup().await;
    let (name, value) = bearer(&token("alice", TokenType::Access, false));
    let reply = send(gw.addr, "GET", "/protected-fresh", &[(name, &value)]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body, r#"{"detail":"Fresh token required"}"#);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(upstream.hits(), 0, "a rejected request is not forwarded");
}

#[tokio::test]
async fn a_refresh_token_is_forwarded_on_the_refresh_route_with_fresh_false() {
    let (_upstream, gw) = setup().await;
    let (name, value) = bearer(&token("bob", TokenType::Refresh, false));
    let reply = send(gw.addr, "POST", "/refresh", &[(name, &value)]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.upstream_saw("x-auth-token-type"), ["refresh"]);
    assert_eq!(reply.upstream_saw("x-auth-fresh"), ["false"]);
}

#[tokio::test]
async fn a_path_that_matches_no_route_is_404_and_never_reaches_the_upstream() {
    let (upstream, gw) = setup().await;
    for (method, path) in [
        ("GET", "/nope"),
        ("GET", "/login"),
        ("GET", "/publicx"),
        ("GET", "/protected/x"),
    ] {
        let reply = send(gw.addr, method, path, &[]).await;
        assert_eq!(reply.status, 404, "{method} {path}");
        assert_eq!(reply.body, r#"{"detail":"Not Found"}"#, "{method} {path}");
    }
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn client_sent_x_auth_headers_are_removed_on_every_route() {
    let (_upstream, gw) = setup().await;
    let spoof: &[(&str, &[u8])] = &[
        ("x-auth-subject", b"admin"),
        ("X-Auth-Fresh", b"true"),
        ("x-auth-anything", b"1"),
        ("x_auth_subject", b"admin"),
        ("X_Auth-Fresh", b"true"),
    ];
    let reply = send(gw.addr, "GET", "/public/a", spoof).await;
    assert_eq!(reply.status, 200);
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
    assert_eq!(reply.status, 200);
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
    assert_eq!(reply.upstream_saw("x-auth-fresh"), ["false"]);
    assert!(reply.upstream_saw("x-auth-anything").is_empty());
}

#[tokio::test]
async fn hop_by_hop_headers_and_those_named_in_connection_are_removed() {
    let (_upstream, gw) = setup().await;
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
    assert_eq!(reply.upstream_saw("x-end-to-end"), ["kept"]);
}

#[tokio::test]
async fn forwarded_headers_are_added_and_host_is_kept() {
    let (_upstream, gw) = setup().await;
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
        [gw.addr.to_string()]
    );
    assert_eq!(
        reply.upstream_saw("host"),
        [gw.addr.to_string()],
        "Host is kept"
    );
}

#[tokio::test]
async fn a_subject_that_cannot_travel_verbatim_is_percent_encoded_and_flagged() {
    let (_upstream, gw) = setup().await;
    let mut claims = freshgate::token::TokenSpec::new("x", TokenType::Access, false).claims(now());
    claims.insert("sub".into(), "eve\r\nX-Auth-Admin: yes".into());
    let (name, value) = bearer(&sign_claims(&claims));
    let reply = send(gw.addr, "GET", "/protected", &[(name, &value)]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.upstream_saw("x-auth-subject"),
        ["eve%0D%0AX-Auth-Admin:%20yes"]
    );
    assert_eq!(reply.upstream_saw("x-auth-subject-encoding"), ["percent"]);
    assert!(
        reply.upstream_saw("x-auth-admin").is_empty(),
        "no header was injected"
    );
}

#[tokio::test]
async fn a_numeric_subject_is_sent_as_decimal_text() {
    let (_upstream, gw) = setup().await;
    let mut claims = freshgate::token::TokenSpec::new("x", TokenType::Access, true).claims(now());
    claims.insert("sub".into(), 42.into());
    let (name, value) = bearer(&sign_claims(&claims));
    let reply = send(gw.addr, "GET", "/protected", &[(name, &value)]).await;
    assert_eq!(reply.upstream_saw("x-auth-subject"), ["42"]);
    assert!(reply.upstream_saw("x-auth-subject-encoding").is_empty());
}

#[tokio::test]
async fn large_request_and_response_bodies_stream_through() {
    let (_upstream, gw) = setup().await;
    let body = Bytes::from(vec![b'a'; 8 * 1024 * 1024]);
    let reply = send_body(gw.addr, "POST", "/public/upload", &[], body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json()["body_len"],
        8 * 1024 * 1024,
        "the upstream got every byte"
    );

    let reply = send(gw.addr, "GET", "/bytes/20000000", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), 20_000_000, "the client got every byte");
}

#[tokio::test]
async fn an_unreachable_upstream_is_502() {
    // Bind then drop a listener to get a port with nothing behind it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = TestGateway::start(EXAMPLE_ROUTES, closed).await;
    let reply = send(gw.addr, "GET", "/public/x", &[]).await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.body, r#"{"detail":"Bad Gateway"}"#);
}

#[tokio::test]
async fn an_upstream_slower_than_upstream_timeout_is_504() {
    let upstream = Upstream::start().await;
    let config = format!("[server]\nupstream_timeout = \"200ms\"\n{EXAMPLE_ROUTES}");
    let gw = TestGateway::start(&config, upstream.addr).await;
    let reply = send(gw.addr, "GET", "/slow/3000", &[]).await;
    assert_eq!(reply.status, 504);
    assert_eq!(reply.body, r#"{"detail":"Gateway Timeout"}"#);
    let reply = send(gw.addr, "GET", "/slow/10", &[]).await;
    assert_eq!(reply.status, 200, "a fast enough answer is forwarded");
}

#[tokio::test]
async fn a_public_route_is_transparent() {
    let (upstream, gw) = setup().await;
    let headers: &[(&str, &[u8])] = &[("accept", b"application/json"), ("x-custom", b"1")];
    let direct = send(upstream.addr, "GET", "/public/same", headers).await;
    let proxied = send(gw.addr, "GET", "/public/same", headers).await;
    assert_eq!(direct.status, proxied.status);
    assert_eq!(
        direct.headers["content-type"],
        proxied.headers["content-type"]
    );
    assert_eq!(direct.headers["x-upstream"], proxied.headers["x-upstream"]);
    assert_eq!(direct.json()["method"], proxied.json()["method"]);
    assert_eq!(direct.json()["path"], proxied.json()["path"]);
}

#[tokio::test]
async fn connection_cannot_remove_host_or_the_request_id() {
    let (_upstream, gw) = setup().await;
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
