//! Behind a load balancer, beside an existing proxy (issue 12), through real sockets: CORS
//! preflights, trusted forwarding headers and the PROXY protocol.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod support;

use support::*;

const CONFIG: &str = r#"
[server]
{server}

[upstreams]
app = "http://{upstream}"

[jwt]
secret = "test-secret-not-for-production"

[[route]]
path = "/repos/{owner}/{repo}"
methods = ["DELETE"]
policy = "fresh"

[[route]]
path = "/protected"
policy = "access"
"#;

async fn stack(server: &str) -> (Upstream, TestGateway) {
    start_with_echo(&CONFIG.replace("{server}", server)).await
}

const PREFLIGHT: [(&str, &[u8]); 3] = [
    ("origin", b"https://app.example"),
    ("access-control-request-method", b"DELETE"),
    ("x-auth-subject", b"spoofed"),
];

#[tokio::test]
async fn a_cors_preflight_is_forwarded_without_a_token_check_or_identity() {
    let (upstream, gw) = stack("").await;
    // The DELETE route lists no OPTIONS: the preflight takes the route of the method it asks
    // about, and no token is asked for.
    let reply = send(gw.addr, "OPTIONS", "/repos/a/b", &PREFLIGHT).await;
    assert_eq!(
        reply.status,
        200,
        "the app answers its own preflight: {}",
        reply.text()
    );
    assert_eq!(upstream.hits(), 1, "the preflight reached the app");
    assert!(
        reply.upstream_saw("x-auth-subject").is_empty(),
        "no identity header, spoofed or not, reaches the app on a preflight"
    );
    let reply = send(gw.addr, "OPTIONS", "/protected", &PREFLIGHT).await;
    assert_eq!(
        reply.status, 200,
        "a preflight to an access route is forwarded too"
    );
    let metrics = gw.metrics();
    assert!(
        metrics.contains(r#"decision="preflight""#),
        "preflights are counted as their own decision:\n{metrics}"
    );
}

#[tokio::test]
async fn an_options_request_that_is_not_a_preflight_is_judged_by_the_policy() {
    let (upstream, gw) = stack("").await;
    let reply = send(
        gw.addr,
        "OPTIONS",
        "/protected",
        &[("origin", b"https://app.example")],
    )
    .await;
    assert_eq!(
        reply.status, 401,
        "no Access-Control-Request-Method: not a preflight"
    );
    assert_eq!(upstream.hits(), 0, "never forwarded");
}

#[tokio::test]
async fn with_cors_preflight_policy_a_preflight_needs_the_token_like_any_request() {
    let (upstream, gw) = stack("cors_preflight = \"policy\"").await;
    let reply = send(gw.addr, "OPTIONS", "/protected", &PREFLIGHT).await;
    assert_eq!(reply.status, 401, "the route's policy applies");
    assert_eq!(upstream.hits(), 0, "never forwarded");
}

/// Sends `request` from the local address `from` (any of 127.0.0.0/8) to `to` and returns the
/// answer, or `None` when the connection was closed without one.
async fn send_from(from: [u8; 4], to: std::net::SocketAddr, request: &[u8]) -> Option<String> {
    exchange_from(from, to, request, false).await
}

/// [`send_from`], optionally closing the sending side after the request (a client that stops
/// mid-header).
async fn exchange_from(
    from: [u8; 4],
    to: std::net::SocketAddr,
    request: &[u8],
    half_close: bool,
) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from((from, 0))).unwrap();
    let mut stream = socket.connect(to).await.unwrap();
    stream.write_all(request).await.ok()?;
    if half_close {
        stream.shutdown().await.ok()?;
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut answer),
    )
    .await;
    assert!(read.is_ok(), "the answer came in time");
    (!answer.is_empty()).then(|| String::from_utf8_lossy(&answer).into_owned())
}

/// What the echo upstream saw of header `name`, from a raw answer.
fn saw(answer: &str, name: &str) -> Vec<String> {
    let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    json["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str().unwrap().to_owned())
        .collect()
}

const PUBLIC: &str = r#"
[server]
{server}

[upstreams]
app = "http://{upstream}"

[jwt]
secret = "test-secret-not-for-production"

[[route]]
prefix = "/"
policy = "public"
"#;

const FORWARDED_REQUEST: &[u8] = b"GET /page HTTP/1.1\r\nhost: gw.internal\r\nx-forwarded-proto: https\r\nx-forwarded-host: app.example\r\nx-forwarded-for: 203.0.113.9\r\nforwarded: for=203.0.113.9;proto=https\r\nconnection: close\r\n\r\n";

#[tokio::test]
async fn a_trusted_proxy_keeps_its_scheme_and_host_and_its_chain_is_appended_to() {
    let (_upstream, gw) =
        start_with_echo(&PUBLIC.replace("{server}", "trusted_proxies = [\"127.0.0.1/32\"]")).await;
    let answer = send_from([127, 0, 0, 1], gw.addr, FORWARDED_REQUEST)
        .await
        .unwrap();
    assert_eq!(
        saw(&answer, "x-forwarded-proto"),
        ["https"],
        "the balancer's scheme is kept"
    );
    assert_eq!(
        saw(&answer, "x-forwarded-host"),
        ["app.example"],
        "and its host"
    );
    assert_eq!(
        saw(&answer, "x-forwarded-for"),
        ["203.0.113.9, 127.0.0.1"],
        "the chain is appended to"
    );
    assert_eq!(
        saw(&answer, "forwarded"),
        ["for=203.0.113.9;proto=https"],
        "Forwarded passes from a trusted proxy"
    );
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_never_choose_the_scheme_or_host() {
    let (_upstream, gw) =
        start_with_echo(&PUBLIC.replace("{server}", "trusted_proxies = [\"10.0.0.0/8\"]")).await;
    let answer = send_from([127, 0, 0, 1], gw.addr, FORWARDED_REQUEST)
        .await
        .unwrap();
    assert_eq!(
        saw(&answer, "x-forwarded-proto"),
        ["http"],
        "the scheme is freshgate's own"
    );
    assert_eq!(
        saw(&answer, "x-forwarded-host"),
        ["gw.internal"],
        "the host is the request's"
    );
    assert!(
        saw(&answer, "forwarded").is_empty(),
        "Forwarded is removed from an untrusted peer"
    );
}

/// HAProxy in TCP mode in front of the gateway, sending the PROXY protocol (`send-proxy` or
/// `send-proxy-v2`).
async fn haproxy(send: &str, gateway: std::net::SocketAddr) -> (PeerProcess, std::net::SocketAddr) {
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = format!(
        "global\n  maxconn 100\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\
         frontend fe\n  bind {listen}\n  default_backend be\nbackend be\n  server gw {gateway} {send}\n"
    );
    let peer = PeerProcess::start(
        "haproxy",
        "haproxy",
        "haproxy.cfg",
        &config,
        &["-db", "-f", "{config}"],
        listen,
    )
    .await;
    (peer, listen)
}

#[tokio::test]
async fn behind_haproxy_send_proxy_the_header_names_the_client_in_v1_and_v2() {
    for (send, version) in [
        ("send-proxy", "v1"),
        ("send-proxy-v2", "v2"),
        ("send-proxy-v2", "any"),
    ] {
        let server =
            format!("trusted_proxies = [\"127.0.0.1/32\"]\nproxy_protocol = \"{version}\"");
        let (_upstream, gw) = start_with_echo(&PUBLIC.replace("{server}", &server)).await;
        let (haproxy, front) = haproxy(send, gw.addr).await;
        let request = b"GET /page HTTP/1.1\r\nhost: app.example\r\nx-forwarded-for: 198.51.100.66\r\nconnection: close\r\n\r\n";
        let answer = send_from([127, 0, 0, 2], front, request)
            .await
            .unwrap_or_else(|| {
                panic!(
                    "{send} ({version}): no answer; haproxy said:\n{}",
                    haproxy.output()
                )
            });
        assert!(answer.starts_with("HTTP/1.1 200"), "{send}: {answer}");
        assert_eq!(
            saw(&answer, "x-forwarded-for"),
            ["198.51.100.66, 127.0.0.2"],
            "{send} ({version}): the PROXY header's source is the client appended, not HAProxy's 127.0.0.1"
        );
        assert_eq!(
            saw(&answer, "x-forwarded-proto"),
            ["http"],
            "{send}: the client is not trusted for its own headers"
        );
    }
}

#[tokio::test]
async fn with_the_proxy_protocol_on_a_connection_without_a_valid_header_or_from_an_untrusted_peer_is_closed(
) {
    let server =
        "trusted_proxies = [\"127.0.0.1/32\"]\nproxy_protocol = \"any\"\nrequest_head_timeout = \"1s\"";
    let (upstream, gw) = start_with_echo(&PUBLIC.replace("{server}", server)).await;
    let plain = b"GET /page HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n";
    assert_eq!(
        send_from([127, 0, 0, 1], gw.addr, plain).await,
        None,
        "no header: closed"
    );
    let truncated = b"PROXY TCP4 198.51.100.1";
    assert_eq!(
        exchange_from([127, 0, 0, 1], gw.addr, truncated, true).await,
        None,
        "a truncated header: closed"
    );
    assert_eq!(
        send_from([127, 0, 0, 1], gw.addr, truncated).await,
        None,
        "a header that stalls: closed after request_head_timeout"
    );
    let garbage = b"PROXY TCP9 x y 1 2\r\nGET / HTTP/1.1\r\nhost: a\r\n\r\n";
    assert_eq!(
        send_from([127, 0, 0, 1], gw.addr, garbage).await,
        None,
        "an invalid header: closed"
    );
    let forged = b"PROXY TCP4 198.51.100.1 127.0.0.1 5555 80\r\nGET /page HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n";
    assert_eq!(
        send_from([127, 0, 0, 3], gw.addr, forged).await,
        None,
        "a valid header from a peer that is not a trusted proxy: closed"
    );
    let answer = send_from([127, 0, 0, 1], gw.addr, forged).await.unwrap();
    assert_eq!(
        saw(&answer, "x-forwarded-for"),
        ["198.51.100.1"],
        "from the trusted proxy it is believed"
    );
    assert_eq!(
        upstream.hits(),
        1,
        "only the one good request reached the upstream"
    );
}
