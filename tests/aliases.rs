//! Hardening, round 2 (issue 10), through real sockets: spellings of a method, a path or a host
//! that a lenient backend reads as a protected route must never reach it under a weaker rule.
//! Each backend here is written in the test harness to route as a real one does by default:
//! Express (case-insensitive, non-strict trailing slash), Werkzeug (upper-cases the method,
//! runs the `GET` view for `HEAD`), Tomcat/Jetty/Spring (drop `;` path parameters) and a backend
//! that percent-decodes twice. The backend answers which view it ran; a test passes when no
//! protected view runs without the token its route demands.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How a lenient backend reads a request before routing it.
#[derive(Clone, Copy, Debug)]
enum Lenient {
    /// Express 4 defaults: routes are case-insensitive and a trailing slash is optional.
    Express,
    /// Werkzeug/Flask: the method is upper-cased; `HEAD` runs the `GET` view.
    Werkzeug,
    /// Tomcat, Jetty, Spring: `;` path parameters are dropped from each segment, then dot
    /// segments are resolved.
    DropsParams,
    /// A backend (or a second proxy) that percent-decodes the path once more.
    DecodesTwice,
}

fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn resolve_dots(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/').skip(1) {
        match seg {
            "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

/// The path and method the backend routes on.
fn read_as(kind: Lenient, method: &str, path: &str) -> (String, String) {
    let path = percent_decode(path);
    match kind {
        Lenient::Express => {
            let lower = path.to_lowercase();
            let trimmed = match lower.len() > 1 {
                true => lower.trim_end_matches('/').to_string(),
                false => lower,
            };
            (method.to_string(), trimmed)
        }
        Lenient::Werkzeug => {
            let method = match method.to_ascii_uppercase().as_str() {
                "HEAD" => "GET".to_string(),
                m => m.to_string(),
            };
            (method, path)
        }
        Lenient::DropsParams => {
            let dropped: Vec<&str> = path
                .split('/')
                .map(|seg| seg.split(';').next().unwrap_or(""))
                .collect();
            (method.to_string(), resolve_dots(&dropped.join("/")))
        }
        Lenient::DecodesTwice => (method.to_string(), resolve_dots(&percent_decode(&path))),
    }
}

/// A lenient backend: answers `{"view": ...}` for the view it runs, and records every view run
/// with whether the request carried an identity the gateway verified.
struct Backend {
    addr: SocketAddr,
    runs: Runs,
}

/// The views a backend ran, each with the `X-Auth-Fresh` it was given.
type Runs = Arc<Mutex<Vec<(String, Option<String>)>>>;

impl Backend {
    async fn start(kind: Lenient) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let runs = Arc::new(Mutex::new(Vec::new()));
        let recorded = runs.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (method, path) = read_as(kind, req.method().as_str(), req.uri().path());
                        let view = match (method.as_str(), path.as_str()) {
                            ("DELETE", "/repos/a/b") => "delete-repo",
                            ("POST", "/transfer") => "transfer",
                            ("GET", "/admin/settings" | "/admin") => "admin",
                            _ => "public",
                        };
                        let fresh = req
                            .headers()
                            .get("x-auth-fresh")
                            .map(|v| v.to_str().unwrap_or("?").to_string());
                        recorded.lock().unwrap().push((view.to_string(), fresh));
                        let body = format!(r#"{{"view":"{view}"}}"#);
                        async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Backend { addr, runs }
    }

    /// Protected views the backend ran without a fresh identity.
    fn unguarded_runs(&self) -> Vec<String> {
        self.runs
            .lock()
            .unwrap()
            .iter()
            .filter(|(view, fresh)| view != "public" && fresh.as_deref() != Some("true"))
            .map(|(view, fresh)| format!("{view} (x-auth-fresh: {fresh:?})"))
            .collect()
    }
}

const CONFIG: &str = r#"
[upstreams]
app = "http://{upstream}"

[jwt]
secret = "test-secret-not-for-production"

[[route]]
path = "/repos/{owner}/{repo}"
methods = ["DELETE"]
policy = "fresh"

[[route]]
path = "/transfer"
methods = ["POST"]
policy = "fresh"

[[route]]
path = "/admin/settings"
methods = ["GET"]
policy = "fresh"

[[route]]
path = "/admin"
policy = "fresh"

[[route]]
path = "/account"
policy = "access"

[[route]]
prefix = "/"
policy = "public"
"#;

/// Sends one raw request head and returns the status line's code and the whole answer.
async fn raw_request(addr: SocketAddr, head: String) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut answer),
    )
    .await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn head(method: &str, target: &str, extra: &str) -> String {
    format!("{method} {target} HTTP/1.1\r\nhost: gw.test\r\nconnection: close\r\n{extra}\r\n")
}

/// Each row: a request line (method, target) that a lenient backend of `kind` routes to a
/// fresh view, the status freshgate must answer without a token, and its detail.
async fn assert_guarded(kind: Lenient, rows: &[(&str, &str, u16, &str)]) {
    let backend = Backend::start(kind).await;
    let gw = TestGateway::start(CONFIG, backend.addr).await;
    for &(method, target, status, detail) in rows {
        let (got, text) = raw_request(gw.addr, head(method, target, "")).await;
        assert_eq!(
            got, status,
            "{kind:?}: {method} {target} must be {status}, got:\n{text}"
        );
        assert!(
            text.contains(detail),
            "{kind:?}: {method} {target} answers {detail:?}, got:\n{text}"
        );
    }
    assert_eq!(
        backend.unguarded_runs(),
        Vec::<String>::new(),
        "{kind:?}: no protected view ran without a fresh token"
    );
}

const UPPER_CASE: &str = r#"{"detail":"Method must be upper case"}"#;
const AMBIGUOUS: &str = r#"{"detail":"Ambiguous path"}"#;
const MISSING: &str = r#"{"detail":"Missing Authorization Header"}"#;

#[tokio::test]
async fn lower_and_mixed_case_methods_are_refused_before_any_route_is_chosen() {
    assert_guarded(
        Lenient::Werkzeug,
        &[
            ("delete", "/repos/a/b", 400, UPPER_CASE),
            ("Delete", "/repos/a/b", 400, UPPER_CASE),
            ("post", "/transfer", 400, UPPER_CASE),
            ("Put", "/transfer", 400, UPPER_CASE),
            ("gEt", "/admin", 400, UPPER_CASE),
            ("DELETE", "/repos/a/b", 401, MISSING),
        ],
    )
    .await;
}

#[tokio::test]
async fn extension_methods_stay_case_sensitive_tokens() {
    let backend = Backend::start(Lenient::Express).await;
    let gw = TestGateway::start(CONFIG, backend.addr).await;
    for method in ["PURGE", "purge", "MKCOL"] {
        let (status, text) = raw_request(gw.addr, head(method, "/page", "")).await;
        assert_eq!(
            status, 200,
            "{method} is an extension method and is forwarded: {text}"
        );
    }
}

#[tokio::test]
async fn head_follows_the_get_route_instead_of_falling_through_to_a_public_one() {
    assert_guarded(Lenient::Werkzeug, &[("HEAD", "/admin/settings", 401, "")]).await;
}

#[tokio::test]
async fn case_and_trailing_slash_spellings_of_a_fresh_route_are_refused_under_a_public_catch_all() {
    assert_guarded(
        Lenient::Express,
        &[
            ("GET", "/ADMIN/SETTINGS", 400, AMBIGUOUS),
            ("GET", "/Admin/Settings", 400, AMBIGUOUS),
            ("GET", "/admin/settings/", 400, AMBIGUOUS),
            ("GET", "/Admin/Settings/", 400, AMBIGUOUS),
            ("GET", "/adm%C4%B1n", 400, AMBIGUOUS),
            ("GET", "/admin/settings", 401, MISSING),
        ],
    )
    .await;
}

#[tokio::test]
async fn path_parameters_are_refused_where_a_backend_that_drops_them_reads_a_fresh_route() {
    assert_guarded(
        Lenient::DropsParams,
        &[
            ("GET", "/admin;jsessionid=1", 400, AMBIGUOUS),
            ("GET", "/public/..;/admin", 400, AMBIGUOUS),
            ("GET", "/Admin;x/", 400, AMBIGUOUS),
        ],
    )
    .await;
}

#[tokio::test]
async fn double_encoded_dot_segments_are_refused_where_a_second_decoding_reads_a_fresh_route() {
    assert_guarded(
        Lenient::DecodesTwice,
        &[("GET", "/public/%252e%252e/admin", 400, AMBIGUOUS)],
    )
    .await;
}

#[tokio::test]
async fn an_alias_that_is_merely_weaker_is_forwarded_under_the_stricter_rule() {
    let backend = Backend::start(Lenient::Express).await;
    let gw = TestGateway::start(CONFIG, backend.addr).await;
    let token = token("alice", freshgate::auth::TokenType::Access, false);
    let auth = format!("authorization: Bearer {token}\r\n");
    // `/account/` is public by the catch-all, but its alias `/account` is access: refused.
    let (status, _) = raw_request(gw.addr, head("GET", "/account/", "")).await;
    assert_eq!(
        status, 400,
        "a public spelling of an access route is ambiguous"
    );
    // `/account` itself is access; its alias `/account/` is public: merely weaker, forwarded.
    let (status, text) = raw_request(gw.addr, head("GET", "/account", &auth)).await;
    assert_eq!(
        status, 200,
        "the access route's own path is forwarded: {text}"
    );
}

#[tokio::test]
async fn path_aliases_can_be_turned_off_for_a_backend_that_cannot_produce_them() {
    let backend = Backend::start(Lenient::Werkzeug).await;
    let config = CONFIG.replace(
        "[jwt]",
        "[server]\npath_aliases = [\"params\", \"double_encoding\"]\n\n[jwt]",
    );
    let gw = TestGateway::start(&config, backend.addr).await;
    let (status, text) = raw_request(gw.addr, head("GET", "/ADMIN/SETTINGS", "")).await;
    assert_eq!(
        status, 200,
        "with case aliases off, a case-sensitive backend's other path is public: {text}"
    );
    let (status, _) = raw_request(gw.addr, head("GET", "/admin;x", "")).await;
    assert_eq!(status, 400, "params aliases stay on");
}

#[tokio::test]
async fn invalid_hosts_are_400_and_never_forwarded() {
    let backend = Backend::start(Lenient::Express).await;
    let gw = TestGateway::start(CONFIG, backend.addr).await;
    const INVALID: &str = r#"{"detail":"Invalid Host header"}"#;
    for (what, request) in [
        ("a space", "GET / HTTP/1.1\r\nhost: a b\r\nconnection: close\r\n\r\n".to_string()),
        ("a path", "GET / HTTP/1.1\r\nhost: evil.example/reset?x=\r\nconnection: close\r\n\r\n".to_string()),
        ("an empty value", "GET / HTTP/1.1\r\nhost: \r\nconnection: close\r\n\r\n".to_string()),
        ("userinfo in an absolute-form target", "GET http://admin:pw@evil.example/ HTTP/1.1\r\nhost: evil.example\r\nconnection: close\r\n\r\n".to_string()),
        ("a bad port", "GET / HTTP/1.1\r\nhost: a.example:99999\r\nconnection: close\r\n\r\n".to_string()),
    ] {
        let (status, text) = raw_request(gw.addr, request).await;
        assert_eq!(status, 400, "{what}: 400, got:\n{text}");
        assert!(text.contains(INVALID), "{what}: the JSON detail, got:\n{text}");
    }
    assert!(
        backend.runs.lock().unwrap().is_empty(),
        "no request with an invalid Host reached the backend"
    );
}

#[tokio::test]
async fn a_host_outside_allowed_hosts_is_421() {
    let backend = Backend::start(Lenient::Express).await;
    let config = CONFIG.replace(
        "[jwt]",
        "[server]\nallowed_hosts = [\"gw.test\", \"*.example.com\"]\n\n[jwt]",
    );
    let gw = TestGateway::start(&config, backend.addr).await;
    for (host, want) in [
        ("gw.test", 200),
        ("GW.TEST:8080", 200),
        ("api.example.com", 200),
        ("example.com", 421),
        ("evil.test", 421),
    ] {
        let request = format!("GET /page HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
        let (status, text) = raw_request(gw.addr, request).await;
        assert_eq!(status, want, "Host {host}: {text}");
    }
}

mod properties {
    //! No spelling of a route's path reaches a lenient backend's view of a stricter route: for
    //! random spellings (case changes, trailing slashes, `;` parameters, encoded letters and
    //! double-encoded dot segments), whatever freshgate forwards is judged by a rule that
    //! implies the rule of the route each lenient backend would run.

    use super::*;
    use freshgate::routes::RouteTable;
    use proptest::prelude::*;

    fn table() -> freshgate::Snapshot {
        let text = CONFIG.replace("{upstream}", "127.0.0.1:9");
        freshgate::config::parse(&text, "aliases.toml", std::path::Path::new(".")).unwrap()
    }

    /// One random change to a path.
    #[derive(Debug, Clone)]
    enum Change {
        Upper(usize),
        Encode(usize),
        TrailingSlash,
        Param(usize),
        DotDotParam,
        DoubleEncodedDots,
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            any::<usize>().prop_map(Change::Upper),
            any::<usize>().prop_map(Change::Encode),
            Just(Change::TrailingSlash),
            any::<usize>().prop_map(Change::Param),
            Just(Change::DotDotParam),
            Just(Change::DoubleEncodedDots),
        ]
    }

    fn apply(path: &str, change: &Change) -> String {
        let letters: Vec<usize> = path
            .char_indices()
            .filter(|(_, c)| c.is_ascii_lowercase())
            .map(|(i, _)| i)
            .collect();
        let slashes: Vec<usize> = path.match_indices('/').map(|(i, _)| i).skip(1).collect();
        match change {
            Change::Upper(n) if !letters.is_empty() => {
                let i = letters[n % letters.len()];
                format!(
                    "{}{}{}",
                    &path[..i],
                    path[i..=i].to_uppercase(),
                    &path[i + 1..]
                )
            }
            Change::Encode(n) if !letters.is_empty() => {
                let i = letters[n % letters.len()];
                format!(
                    "{}%{:02X}{}",
                    &path[..i],
                    path.as_bytes()[i],
                    &path[i + 1..]
                )
            }
            Change::TrailingSlash => match path.strip_suffix('/') {
                Some(trimmed) if !trimmed.is_empty() => trimmed.to_string(),
                _ => format!("{path}/"),
            },
            Change::Param(n) => {
                let mut ends = slashes.clone();
                ends.push(path.len());
                let i = ends[n % ends.len()];
                format!("{};jsessionid=1{}", &path[..i], &path[i..])
            }
            Change::DotDotParam => format!("/public/..;{path}"),
            Change::DoubleEncodedDots => format!("/public/%252e%252e{path}"),
            Change::Upper(_) | Change::Encode(_) => path.to_string(),
        }
    }

    /// The route a backend reading the path as `kind` runs, judged with lower-case patterns
    /// (every pattern in [`CONFIG`] is lower case, as Express compares them).
    fn backend_route<'t>(
        routes: &'t RouteTable,
        kind: Lenient,
        path: &str,
    ) -> Option<&'t freshgate::routes::Route> {
        let (method, read) = read_as(kind, "GET", path);
        let canonical = freshgate::path::canonicalize(&read).ok()?;
        routes.lookup(&method.parse().ok()?, &canonical)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn no_spelling_reaches_a_stricter_backend_route_under_a_weaker_rule(
            base in prop::sample::select(vec!["/admin", "/admin/settings", "/account", "/repos/a/b", "/static/x", "/public/page"]),
            changes in prop::collection::vec(change(), 0..5),
        ) {
            let snapshot = table();
            let routes = &snapshot.routes;
            let path = changes.iter().fold(base.to_string(), |p, c| apply(&p, c));
            let Ok(canonical) = freshgate::path::canonicalize(&path) else {
                return Ok(());
            };
            let get = http::Method::GET;
            let Ok(Some(judged)) = routes.lookup_aliased(&get, &canonical, freshgate::aliases::AliasSet::ALL) else {
                return Ok(());
            };
            for kind in [Lenient::Express, Lenient::DropsParams, Lenient::DecodesTwice] {
                if let Some(run) = backend_route(routes, kind, &path) {
                    prop_assert!(
                        judged.rule.implies(&run.rule),
                        "{path:?} (canonical {canonical:?}) is judged by {} but {kind:?} runs {} ({})",
                        judged.name, run.name, run.policy()
                    );
                }
            }
        }
    }
}
