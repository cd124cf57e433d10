//! Report mode: a route that would reject forwards instead, with the identity it could verify,
//! and counts what enforcing would have rejected.

use freshgate::auth::TokenType;

use crate::support::*;

const REPORT_ROUTES: &str = r#"
[upstreams]
app = "http://{upstream}"

[jwt]
secret = "test-secret-not-for-production"

[[route]]
path = "/shadow"
policy = "fresh"
mode = "report"
"#;

#[tokio::test]
async fn report_mode_forwards_what_enforce_would_reject_with_the_identity_it_could_verify() {
    let upstream = Upstream::start().await;
    let gw = TestGateway::start(REPORT_ROUTES, upstream.addr).await;

    let (name, value) = bearer(&token("alice", TokenType::Access, false));
    let reply = send(gw.addr, "GET", "/shadow", &[(name, &value)]).await;
    assert_eq!(
        reply.status,
        200,
        "a non-fresh token is forwarded: {}",
        reply.text()
    );
    assert_eq!(
        reply.upstream_saw("x-auth-subject"),
        ["alice"],
        "verified subject"
    );
    assert_eq!(
        reply.upstream_saw("x-auth-fresh"),
        ["false"],
        "not fresh, and says so"
    );
    assert_eq!(
        reply.upstream_saw("x-auth-token-type"),
        ["access"],
        "token type"
    );

    let spoof: &[(&str, &[u8])] = &[("x-auth-subject", b"admin"), ("x-auth-fresh", b"true")];
    let reply = send(gw.addr, "GET", "/shadow", spoof).await;
    assert_eq!(reply.status, 200, "no token is forwarded: {}", reply.text());
    for header in ["x-auth-subject", "x-auth-fresh", "x-auth-token-type"] {
        assert!(
            reply.upstream_saw(header).is_empty(),
            "without a token the request is anonymous, and the client's {header} is removed"
        );
    }

    let mut forged = token("alice", TokenType::Access, true);
    forged.push('x');
    let (name, value) = bearer(&forged);
    let reply = send(gw.addr, "GET", "/shadow", &[(name, &value)]).await;
    assert_eq!(
        reply.status, 200,
        "a bad signature is forwarded in report mode"
    );
    assert!(
        reply.upstream_saw("x-auth-subject").is_empty(),
        "an unverified token gives no identity"
    );

    let (name, value) = bearer(&token("alice", TokenType::Access, true));
    let reply = send(gw.addr, "GET", "/shadow", &[(name, &value)]).await;
    assert_eq!(
        reply.upstream_saw("x-auth-fresh"),
        ["true"],
        "a fresh token passes"
    );

    let metrics = gw.metrics();
    for (reason, count) in [
        ("not_fresh", 1.0),
        ("missing", 1.0),
        ("invalid_signature", 1.0),
    ] {
        assert_eq!(
            counter(
                &metrics,
                "freshgate_rejections_total",
                &[("reason", reason), ("mode", "report")]
            ),
            count,
            "report-mode {reason} is counted\n{metrics}"
        );
        assert_eq!(
            counter(
                &metrics,
                "freshgate_rejections_total",
                &[("reason", reason), ("mode", "enforce")]
            ),
            0.0,
            "report-mode {reason} is not counted as enforced\n{metrics}"
        );
    }
    let requests = |decision| {
        counter(
            &metrics,
            "freshgate_requests_total",
            &[
                ("route", "* /shadow"),
                ("policy", "fresh"),
                ("decision", decision),
                ("status", "200"),
            ],
        )
    };
    assert_eq!(
        requests("reported"),
        3.0,
        "three reported requests\n{metrics}"
    );
    assert_eq!(
        requests("forwarded"),
        1.0,
        "one plainly forwarded\n{metrics}"
    );
    assert_eq!(upstream.hits(), 4, "every request reached the upstream");
}
