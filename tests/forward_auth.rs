//! Forward-auth (issue 12): freshgate's decisions for a proxy already in front, over real
//! sockets: the subrequest conventions of Traefik and Caddy (`X-Forwarded-Method`/`-Uri`),
//! nginx (`X-Original-Method`/`-URI`) and Envoy `ext_authz` (the check request itself), and real
//! nginx and Caddy (Debian's packages) in front of the echo upstream with the recipes of
//! `deploy/`.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;

use freshgate::auth::TokenType;
use freshgate::Gateway;
use support::*;
use tokio::net::TcpListener;

const CONFIG: &str = r#"
[upstreams]
app = "http://127.0.0.1:9"

[jwt]
secret = "test-secret-not-for-production"

[forward]
claims = { "X-Auth-Roles" = "roles" }

[[route]]
path = "/protected"
policy = "access"

[[route]]
path = "/fresh"
policy = "fresh"

[[route]]
prefix = "/public"
policy = "public"
"#;

/// Request headers of a case.
type Headers<'a> = Vec<(&'a str, &'a [u8])>;

/// The forward-auth listener in this process, on 127.0.0.1:0.
async fn forward_auth(prefix: Option<&str>) -> (SocketAddr, Arc<Gateway>) {
    let snapshot = freshgate::config::parse(CONFIG, "fa.toml", std::path::Path::new(".")).unwrap();
    let gateway = Gateway::new(snapshot);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(freshgate::forward_auth::serve(
        listener,
        gateway.clone(),
        prefix.map(str::to_owned),
        std::future::pending(),
    ));
    (addr, gateway)
}

fn bearer_for(fresh: bool) -> Vec<u8> {
    format!("Bearer {}", token("alice", TokenType::Access, fresh)).into_bytes()
}

#[tokio::test]
async fn traefik_and_caddy_subrequests_are_judged_on_the_forwarded_method_and_uri() {
    let (fa, _) = forward_auth(None).await;
    let auth = bearer_for(false);
    let allowed = send(
        fa,
        "GET",
        "/",
        &[
            ("x-forwarded-method", b"GET"),
            ("x-forwarded-uri", b"/protected?x=1"),
            ("x-forwarded-host", b"app.example"),
            ("x-forwarded-proto", b"https"),
            ("authorization", &auth),
        ],
    )
    .await;
    assert_eq!(allowed.status, 200, "an access token on an access route");
    assert_eq!(
        allowed.header_values("x-auth-subject"),
        ["alice"],
        "the identity, to copy upstream"
    );
    assert_eq!(allowed.header_values("x-auth-fresh"), ["false"]);
    assert_eq!(allowed.header_values("x-auth-token-type"), ["access"]);
    let refused = send(
        fa,
        "GET",
        "/",
        &[
            ("x-forwarded-method", b"GET"),
            ("x-forwarded-uri", b"/fresh"),
            ("authorization", &auth),
        ],
    )
    .await;
    assert_eq!(refused.status, 401, "the library's status");
    assert_eq!(
        refused.text(),
        r#"{"detail":"Fresh token required"}"#,
        "and body"
    );
    assert!(
        refused.header_values("www-authenticate")[0].contains("insufficient_user_authentication"),
        "and challenge"
    );
    let anonymous = send(
        fa,
        "GET",
        "/",
        &[
            ("x-forwarded-method", b"GET"),
            ("x-forwarded-uri", b"/public/x"),
        ],
    )
    .await;
    assert_eq!(anonymous.status, 200, "public");
    assert_eq!(
        anonymous.header_values("x-auth-subject"),
        [""],
        "the identity headers are always sent, empty when anonymous (Caddy copies placeholders otherwise)"
    );
}

#[tokio::test]
async fn nginx_subrequests_get_401_or_403_with_the_library_answer_in_headers() {
    let (fa, _) = forward_auth(None).await;
    let refresh = format!("Bearer {}", token("alice", TokenType::Refresh, false)).into_bytes();
    let wrong_type = send(
        fa,
        "GET",
        "/_freshgate",
        &[
            ("x-original-method", b"GET"),
            ("x-original-uri", b"/protected"),
            ("authorization", &refresh),
        ],
    )
    .await;
    assert_eq!(
        wrong_type.status, 403,
        "nginx passes only 401 and 403: the 422 is answered 403"
    );
    assert_eq!(
        wrong_type.header_values("x-auth-status"),
        ["422"],
        "the library's status"
    );
    assert_eq!(
        wrong_type.header_values("x-auth-detail"),
        ["Only access tokens are allowed"]
    );
    assert_eq!(
        wrong_type.header_values("x-auth-body"),
        [r#"{"detail":"Only access tokens are allowed"}"#],
        "the exact body, for the error_page recipe"
    );
    let missing = send(
        fa,
        "GET",
        "/_freshgate",
        &[
            ("x-original-method", b"GET"),
            ("x-original-uri", b"/protected"),
        ],
    )
    .await;
    assert_eq!(missing.status, 401, "a 401 stays a 401");
}

#[tokio::test]
async fn an_envoy_check_request_is_the_original_behind_the_path_prefix() {
    let (fa, _) = forward_auth(Some("/ext_authz")).await;
    let auth = bearer_for(true);
    let allowed = send(
        fa,
        "DELETE",
        "/ext_authz/fresh",
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(
        allowed.status, 200,
        "the check request's own method and path, less the prefix"
    );
    let outside = send(fa, "GET", "/fresh", &[("authorization", &auth)]).await;
    assert_eq!(
        outside.status, 400,
        "a check path without the prefix is refused"
    );
}

#[tokio::test]
async fn a_subrequest_without_the_original_method_or_with_a_non_canonical_uri_is_400_never_an_allow(
) {
    let (fa, gateway) = forward_auth(None).await;
    let auth = bearer_for(true);
    let cases: [(&str, Headers<'_>, &str); 7] = [
        (
            "both conventions (a client's X-Forwarded-Uri through nginx)",
            vec![
                ("x-original-method", b"GET"),
                ("x-original-uri", b"/protected"),
                ("x-forwarded-method", b"GET"),
                ("x-forwarded-uri", b"/public/x"),
            ],
            "Ambiguous subrequest: X-Forwarded-* and X-Original-* both sent",
        ),
        (
            "both conventions (a client's X-Original-URI through Caddy)",
            vec![
                ("x-forwarded-method", b"GET"),
                ("x-forwarded-uri", b"/protected"),
                ("x-original-uri", b"/public/x"),
            ],
            "Ambiguous subrequest: X-Forwarded-* and X-Original-* both sent",
        ),
        (
            "no X-Forwarded-Method",
            vec![("x-forwarded-uri", b"/public/x")],
            "Missing X-Forwarded-Method",
        ),
        (
            "no X-Original-Method",
            vec![("x-original-uri", b"/public/x")],
            "Missing X-Original-Method",
        ),
        (
            "an encoded letter",
            vec![
                ("x-forwarded-method", b"GET"),
                ("x-forwarded-uri", b"/%70ublic/x"),
            ],
            "Non-canonical path",
        ),
        (
            "a dot segment",
            vec![
                ("x-forwarded-method", b"GET"),
                ("x-forwarded-uri", b"/public/../protected"),
            ],
            "Non-canonical path",
        ),
        (
            "merged slashes",
            vec![
                ("x-forwarded-method", b"GET"),
                ("x-forwarded-uri", b"//public/x"),
            ],
            "Non-canonical path",
        ),
    ];
    for (what, mut headers, detail) in cases {
        headers.push(("authorization", &auth));
        let reply = send(fa, "GET", "/", &headers).await;
        let nginx = headers.iter().any(|(name, _)| *name == "x-original-uri");
        let want = if nginx { 403 } else { 400 };
        assert_eq!(
            reply.status, want,
            "{what}: 400 (403 under nginx's convention)"
        );
        assert_eq!(
            reply.header_values("x-auth-status"),
            ["400"],
            "{what}: the status in a header"
        );
        assert_eq!(reply.detail(), detail, "{what}: the reason");
    }
    let metrics = gateway.metrics().encode();
    assert!(
        metrics.contains("decision=\"rejected\""),
        "subrequests are counted:\n{metrics}"
    );
}

/// The deploy/ recipe for nginx, with the test's ports and a writable prefix.
fn nginx_config(listen: SocketAddr, fa: SocketAddr, upstream: SocketAddr) -> String {
    let recipe = include_str!("../deploy/nginx-forward-auth.conf");
    let server = recipe
        .replace("127.0.0.1:8080", &listen.to_string())
        .replace("127.0.0.1:9191", &fa.to_string())
        .replace("127.0.0.1:8000", &upstream.to_string());
    format!(
        "daemon off;\nmaster_process off;\npid {{dir}}/nginx.pid;\nerror_log {{dir}}/error.log warn;\n\
         events {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n\
         client_body_temp_path {{dir}}/body;\n  proxy_temp_path {{dir}}/proxy;\n  fastcgi_temp_path {{dir}}/fcgi;\n\
         uwsgi_temp_path {{dir}}/uwsgi;\n  scgi_temp_path {{dir}}/scgi;\n{server}\n}}\n"
    )
}

#[tokio::test]
async fn behind_real_nginx_auth_request_the_app_sees_the_identity_and_clients_get_the_library_answers(
) {
    let upstream = Upstream::start().await;
    let (fa, _) = forward_auth(None).await;
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = nginx_config(listen, fa, upstream.addr);
    let nginx = PeerProcess::start(
        "nginx",
        "nginx",
        "nginx.conf",
        &config,
        &["-p", "{dir}", "-c", "{config}"],
        listen,
    )
    .await;
    let auth = bearer_for(false);
    let ok = send(
        listen,
        "GET",
        "/protected",
        &[("authorization", &auth), ("x-auth-subject", b"admin")],
    )
    .await;
    assert_eq!(
        ok.status,
        200,
        "allowed through nginx: {}\n{}",
        ok.text(),
        nginx.output()
    );
    assert_eq!(
        ok.upstream_saw("x-auth-subject"),
        ["alice"],
        "the verified subject, never the spoof"
    );
    assert_eq!(ok.upstream_saw("x-auth-fresh"), ["false"]);
    let missing = send(listen, "GET", "/protected", &[]).await;
    assert_eq!(missing.status, 401, "401 through nginx");
    assert_eq!(
        missing.text(),
        r#"{"detail":"Missing Authorization Header"}"#,
        "the library's exact body, via error_page"
    );
    assert_eq!(
        missing.header_values("www-authenticate"),
        ["Bearer"],
        "and the challenge"
    );
    let refresh = format!("Bearer {}", token("alice", TokenType::Refresh, false)).into_bytes();
    let wrong = send(listen, "GET", "/protected", &[("authorization", &refresh)]).await;
    assert_eq!(
        wrong.status, 403,
        "nginx can only pass 401 or 403: the library's 422 arrives as 403"
    );
    assert_eq!(
        wrong.text(),
        r#"{"detail":"Only access tokens are allowed"}"#,
        "with the library's body"
    );
    let spoofed = send(
        listen,
        "GET",
        "/protected",
        &[
            ("x-forwarded-uri", b"/public/x"),
            ("x-forwarded-method", b"GET"),
        ],
    )
    .await;
    assert_eq!(
        spoofed.status, 401,
        "a client's X-Forwarded-Uri does not make nginx's subrequest judge another route"
    );
    let odd = send(listen, "GET", "/%70rotected", &[("authorization", &auth)]).await;
    assert_eq!(
        odd.status, 403,
        "a non-canonical URI is refused (400, passed on as 403)"
    );
    assert_eq!(
        upstream.hits(),
        1,
        "only the allowed request reached the app"
    );
}

#[tokio::test]
async fn behind_real_caddy_forward_auth_the_app_sees_the_identity_and_clients_get_the_library_answers(
) {
    let upstream = Upstream::start().await;
    let (fa, _) = forward_auth(None).await;
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let recipe = include_str!("../deploy/Caddyfile.forward-auth");
    let config = recipe
        .replace("127.0.0.1:8080", &listen.to_string())
        .replace("127.0.0.1:9191", &fa.to_string())
        .replace("127.0.0.1:8000", &upstream.addr.to_string());
    let caddy = PeerProcess::start(
        "caddy",
        "caddy",
        "Caddyfile",
        &config,
        &["run", "--config", "{config}", "--adapter", "caddyfile"],
        listen,
    )
    .await;
    let auth = bearer_for(true);
    let ok = send(
        listen,
        "GET",
        "/fresh",
        &[
            ("authorization", &auth),
            ("x-auth-subject", b"admin"),
            ("x_auth_roles", b"root"),
        ],
    )
    .await;
    assert_eq!(
        ok.status,
        200,
        "allowed through Caddy: {}\n{}",
        ok.text(),
        caddy.output()
    );
    assert_eq!(
        ok.upstream_saw("x-auth-subject"),
        ["alice"],
        "the verified subject, never the spoof"
    );
    assert!(
        ok.upstream_saw("x_auth_roles").is_empty(),
        "underscore spoofs are removed by the recipe"
    );
    let anonymous = send(
        listen,
        "GET",
        "/public/page",
        &[("x-auth-subject", b"admin")],
    )
    .await;
    assert_eq!(anonymous.status, 200);
    assert_eq!(
        anonymous.upstream_saw("x-auth-subject"),
        [""],
        "anonymous: empty, never a placeholder or a spoof"
    );
    let stale = bearer_for(false);
    let refused = send(listen, "GET", "/fresh", &[("authorization", &stale)]).await;
    assert_eq!(refused.status, 401, "Caddy passes the library's status");
    assert_eq!(
        refused.text(),
        r#"{"detail":"Fresh token required"}"#,
        "and body"
    );
    let refresh = format!("Bearer {}", token("alice", TokenType::Refresh, false)).into_bytes();
    let wrong = send(listen, "GET", "/protected", &[("authorization", &refresh)]).await;
    assert_eq!(wrong.status, 422, "Caddy passes a 422 as it is");
    assert_eq!(
        upstream.hits(),
        2,
        "only the allowed requests reached the app"
    );
}
