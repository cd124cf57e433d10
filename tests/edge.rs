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
