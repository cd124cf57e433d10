//! Path canonicalisation through real sockets: the policy is chosen on the path the upstream
//! receives, whatever the spelling.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod support;

use freshgate::auth::TokenType;
use support::*;

#[tokio::test]
async fn every_spelling_of_a_fresh_route_demands_a_fresh_token() {
    let (upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let stale = bearer(&token("alice", TokenType::Access, false));
    for spelling in [
        "/protected-fresh",
        "/%70rotected-fresh",
        "//protected-fresh",
        "/./protected-fresh",
        "/public/../protected-fresh",
        "/public/%2e%2e/protected-fresh",
        "/public/%2E%2E/protected-fresh",
        "/public/.%2e/protected-fresh",
        "/protected-fresh/.",
    ] {
        let reply = send(gw.addr, "GET", spelling, &[(stale.0, &stale.1)]).await;
        let fresh_route = spelling != "/protected-fresh/.";
        match fresh_route {
            true => assert_eq!(
                reply.status, 401,
                "{spelling} must be decided as /protected-fresh"
            ),
            // "/protected-fresh/." is "/protected-fresh/", a different path with no route.
            false => assert_eq!(reply.status, 404, "{spelling}"),
        }
    }
    assert_eq!(upstream.hits(), 0, "no spelling reached the upstream");
}

#[tokio::test]
async fn an_encoded_path_character_is_decided_like_the_character_itself() {
    let upstream = Upstream::start().await;
    let config = format!(
        "{EXAMPLE_ROUTES}\n[[route]]\npath = \"/users/@me\"\npolicy = \"fresh\"\n\n[[route]]\npath = \"/users/{{id}}\"\npolicy = \"public\"\n"
    );
    let gw = TestGateway::start(&config, upstream.addr).await;
    for spelling in ["/users/@me", "/users/%40me", "/users/%40%6De"] {
        let reply = send(gw.addr, "DELETE", spelling, &[]).await;
        assert_eq!(reply.status, 401, "{spelling} is /users/@me, a fresh route");
    }
    assert_eq!(upstream.hits(), 0);
    let reply = send(gw.addr, "GET", "/users/42", &[]).await;
    assert_eq!(reply.status, 200, "the template still serves other users");
}

#[tokio::test]
async fn the_upstream_receives_the_canonical_path_and_the_query_untouched() {
    let (_upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let reply = send(gw.addr, "GET", "/public//a/./b/../%63?q=%2F..%2f&x=//", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["path"], "/public/a/c?q=%2F..%2f&x=//");
}

#[tokio::test]
async fn ambiguous_paths_are_400_with_a_json_detail_and_never_forwarded() {
    let (upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let cases = [
        ("/public/a%2Fb", "Encoded slash or backslash in path"),
        ("/public/a%2fb", "Encoded slash or backslash in path"),
        ("/public/a%5Cb", "Encoded slash or backslash in path"),
        ("/public/a%00", "Control character in path"),
        ("/public/a%0A", "Control character in path"),
        ("/public/a%zz", "Invalid percent-encoding in path"),
        ("/public/a%4", "Invalid percent-encoding in path"),
        ("/public/../../etc/passwd", "Path climbs above the root"),
        ("/%2e%2e/public", "Path climbs above the root"),
    ];
    for (path, detail) in cases {
        let reply = send(gw.addr, "GET", path, &[]).await;
        assert_eq!(reply.status, 400, "{path}");
        assert_eq!(reply.detail(), detail, "{path}");
    }
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_raw_backslash_in_the_path_is_400() {
    let (upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let answer = raw(
        gw.addr,
        b"GET /public\\..\\protected-fresh HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn absolute_form_targets_use_their_path_and_authority() {
    let (_upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let answer = raw(
        gw.addr,
        b"GET http://example.test/public/%61 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""path":"/public/a""#), "{answer}");
    assert!(answer.contains(r#"["host","example.test"]"#), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn options_star_connect_and_trace_get_deliberate_answers() {
    let (upstream, gw) = start_with_echo(EXAMPLE_ROUTES).await;
    let mut answers = Vec::new();
    for request in [
        &b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"[..],
        b"CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\nConnection: close\r\n\r\n",
        b"TRACE /public HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET https://example.test/public HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ] {
        answers.push(raw(gw.addr, request).await);
    }
    assert!(
        answers[0].starts_with("HTTP/1.1 400"),
        "OPTIONS *: {}",
        answers[0]
    );
    assert!(
        answers[1].starts_with("HTTP/1.1 405"),
        "CONNECT: {}",
        answers[1]
    );
    assert!(
        answers[2].starts_with("HTTP/1.1 405"),
        "TRACE: {}",
        answers[2]
    );
    assert!(
        answers[3].starts_with("HTTP/1.1 400"),
        "https absolute-form: {}",
        answers[3]
    );
    assert_eq!(upstream.hits(), 0);
}
