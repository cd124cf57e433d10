//! Table tests of [`evaluate`] over request heads: the request checks (methods, Host, transfer
//! codings, size limits, target forms), the canonical target, route lookup, the token decision
//! with enforce and report mode, and the declared body size. A snapshot is parsed from the TOML
//! below; no socket is opened and the clock is `NOW_MS`.

use http::header::{AUTHORIZATION, CONTENT_LENGTH};
use http::HeaderName;
use jsonwebtoken::Algorithm;
use serde_json::Value;

use super::*;
use crate::auth::TokenType;
use crate::token::{sign_hmac, TokenSpec};

const SECRET: &str = "pipeline-unit-test-secret";
/// "Now" in seconds since the epoch, and as passed to [`evaluate`] (half a second later).
const NOW: i64 = 1_700_000_000;
const NOW_MS: i64 = NOW * 1000 + 500;
/// The Host every request sends unless a row says otherwise.
const HOST_NAME: &str = "gateway.test";

const CONFIG: &str = r#"
[server]
max_uri_bytes = 64
max_header_bytes = 1024
max_token_bytes = 512
max_body_bytes = 100

[upstreams]
app = "http://127.0.0.1:8000"

[jwt]
secret = "pipeline-unit-test-secret"

[[route]]
path = "/protected"
policy = "access"

[[route]]
path = "/fresh"
policy = "fresh"

[[route]]
path = "/step-up"
policy = "fresh"
max_age = "5m"

[[route]]
path = "/shadow"
policy = "fresh"
mode = "report"

[[route]]
path = "/upload"
methods = ["POST"]
policy = "public"
max_body_bytes = 10

[[route]]
prefix = "/a"
policy = "public"

[[route]]
prefix = "/public"
policy = "public"
"#;

fn snapshot() -> Snapshot {
    crate::config::parse(CONFIG, "pipeline-test.toml", std::path::Path::new("."))
        .unwrap_or_else(|e| panic!("the test config is valid:\n{e}"))
}

/// A token for `alice` issued `issued_ago` seconds before `NOW`, with the library's claims.
fn token(token_type: TokenType, fresh: bool, issued_ago: i64) -> String {
    token_with(token_type, fresh, issued_ago, |_| {})
}

fn token_with(
    token_type: TokenType,
    fresh: bool,
    issued_ago: i64,
    change: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> String {
    let mut claims = TokenSpec::new("alice", token_type, fresh).claims(NOW - issued_ago);
    change(&mut claims);
    sign_hmac(&claims, SECRET.as_bytes(), Algorithm::HS256).expect("HMAC signing cannot fail")
}

// ---------------------------------------------------------------------------------------------
// Request heads
// ---------------------------------------------------------------------------------------------

/// A request line and headers; [`head`] starts one as HTTP/1.1 with `Host: gateway.test`.
struct Head {
    method: Method,
    uri: String,
    version: Version,
    headers: HeaderMap,
}

fn head(method: &str, uri: &str) -> Head {
    Head {
        method: method.parse().expect("a valid method"),
        uri: uri.to_owned(),
        version: Version::HTTP_11,
        headers: HeaderMap::new(),
    }
    .line("host", HOST_NAME)
}

impl Head {
    /// Appends a header line.
    fn line(mut self, name: &str, value: &str) -> Head {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("a valid header name");
        let value = HeaderValue::from_str(value).expect("a valid header value");
        self.headers.append(name, value);
        self
    }

    fn no_host(mut self) -> Head {
        self.headers.remove(HOST);
        self
    }

    fn http_10(mut self) -> Head {
        self.version = Version::HTTP_10;
        self
    }

    fn bearer(self, token: &str) -> Head {
        self.line(AUTHORIZATION.as_str(), &format!("Bearer {token}"))
    }

    fn length(self, bytes: u64) -> Head {
        self.line(CONTENT_LENGTH.as_str(), &bytes.to_string())
    }

    /// Pads the head with an `x-pad` header so that [`check_sizes`] counts exactly `total`
    /// header bytes (name + value + 4 per line).
    fn header_bytes(self, total: usize) -> Head {
        let counted: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum();
        let pad = total - counted - "x-pad".len() - 4;
        self.line("x-pad", &"p".repeat(pad))
    }
}

// ---------------------------------------------------------------------------------------------
// What a row expects, and the runner
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
enum Want {
    /// `Evaluation::Refuse` with this status, detail and reason, and the target and route name
    /// it had got to (`None`: not that far).
    Refused {
        status: u16,
        detail: &'static str,
        reason: &'static str,
        target: Option<&'static str>,
        route: Option<&'static str>,
    },
    /// `Evaluation::Forward` to this target and route, with this subject (`None`: anonymous)
    /// and, in report mode, the reason of the rejection that was not enforced.
    Forwarded {
        target: &'static str,
        route: &'static str,
        subject: Option<&'static str>,
        reported: Option<&'static str>,
    },
}

fn refused(status: u16, detail: &'static str, reason: &'static str) -> Want {
    Want::Refused {
        status,
        detail,
        reason,
        target: None,
        route: None,
    }
}

fn forwarded(target: &'static str, route: &'static str) -> Want {
    Want::Forwarded {
        target,
        route,
        subject: None,
        reported: None,
    }
}

impl Want {
    /// A refusal that got as far as the canonical target `at`, and the route named `on` (if any).
    fn after(self, at: &'static str, on: Option<&'static str>) -> Want {
        match self {
            Want::Refused {
                status,
                detail,
                reason,
                ..
            } => Want::Refused {
                status,
                detail,
                reason,
                target: Some(at),
                route: on,
            },
            Want::Forwarded { .. } => panic!("after() is for refusals"),
        }
    }

    /// A forward carrying this subject and, for report mode, this unenforced rejection.
    fn with(self, who: Option<&'static str>, unenforced: Option<&'static str>) -> Want {
        match self {
            Want::Forwarded { target, route, .. } => Want::Forwarded {
                target,
                route,
                subject: who,
                reported: unenforced,
            },
            Want::Refused { .. } => panic!("with() is for forwards"),
        }
    }
}

/// What [`evaluate`] answered, in the terms of [`Want`], for comparison and for the message.
fn observed(evaluation: &Evaluation<'_>) -> String {
    match evaluation {
        Evaluation::Refuse {
            target,
            route,
            error,
            ..
        } => format!(
            "refused {} {:?} ({}) at {:?} on {:?}",
            error.status().as_u16(),
            error.detail(),
            error.reason(),
            target.as_ref().map(PathAndQuery::as_str),
            route.map(|r| &*r.name)
        ),
        Evaluation::Forward {
            target,
            route,
            outcome,
            reported,
            ..
        } => {
            let subject = match outcome {
                Outcome::Anonymous => None,
                Outcome::Authenticated(identity) => identity.subject().map(|s| s.into_owned()),
            };
            format!(
                "forwarded to {:?} on {:?} as {subject:?} reporting {:?}",
                target.as_str(),
                &*route.name,
                reported.as_ref().map(AuthError::reason)
            )
        }
    }
}

impl Want {
    fn describe(&self) -> String {
        match self {
            Want::Refused {
                status,
                detail,
                reason,
                target,
                route,
            } => format!("refused {status} {detail:?} ({reason}) at {target:?} on {route:?}"),
            Want::Forwarded {
                target,
                route,
                subject,
                reported,
            } => format!(
                "forwarded to {target:?} on {route:?} as {:?} reporting {reported:?}",
                subject.map(str::to_owned)
            ),
        }
    }
}

/// Evaluates every row and fails once, listing every row that disagrees.
fn check(rows: Vec<(&str, Head, Want)>) {
    let snapshot = snapshot();
    let total = rows.len();
    let failures: Vec<String> = rows
        .into_iter()
        .filter_map(|(name, h, want)| {
            let uri: Uri = h.uri.parse().expect("a valid request target");
            let request = RequestHead {
                method: &h.method,
                uri: &uri,
                version: h.version,
                headers: &h.headers,
            };
            let got = observed(&evaluate(&snapshot, &request, NOW_MS));
            let want = want.describe();
            (got != want).then(|| format!("  {name}\n    want: {want}\n    got:  {got}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {total} request heads are evaluated wrongly:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const PUBLIC: &str = "* /public/**";
const A: &str = "* /a/**";
const PROTECTED: Option<&str> = Some("* /protected");
/// A target of exactly `max_uri_bytes` (64).
const AT_URI_LIMIT: &str = "/public/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

// ---------------------------------------------------------------------------------------------
// The rows
// ---------------------------------------------------------------------------------------------

#[test]
fn request_checks_refuse_what_a_reverse_proxy_must_not_relay() {
    let bad = |detail| refused(400, detail, "bad_request");
    assert_eq!(
        AT_URI_LIMIT.len(),
        64,
        "the row's target is exactly max_uri_bytes long"
    );
    let long_query = format!("/public/x?{}", "q".repeat(65 - "/public/x?".len()));
    #[rustfmt::skip]
    let rows = vec![
        ("CONNECT is 405 before anything else", head("CONNECT", "example.test:443").no_host().line("host", "example.test:443"), refused(405, "Method Not Allowed", "method_not_allowed")),
        ("CONNECT is 405 even to a routed path", head("CONNECT", "/public/x"), refused(405, "Method Not Allowed", "method_not_allowed")),
        ("TRACE is 405", head("TRACE", "/public/x"), refused(405, "Method Not Allowed", "method_not_allowed")),
        ("HTTP/1.1 without Host is 400", head("GET", "/public/x").no_host(), bad("Missing Host header")),
        ("HTTP/1.1 with two Host lines is 400", head("GET", "/public/x").line("host", "other.test"), bad("Several Host headers")),
        ("HTTP/1.0 without Host is forwarded", head("GET", "/public/x").no_host().http_10(), forwarded("/public/x", PUBLIC)),
        ("HTTP/1.0 with two Host lines is 400", head("GET", "/public/x").line("host", "other.test").http_10(), bad("Several Host headers")),
        ("HTTP/1.1 absolute-form without Host is forwarded: the target names the authority", head("GET", "http://example.test/public/x").no_host(), forwarded("/public/x", PUBLIC)),
        ("Transfer-Encoding chunked is forwarded", head("POST", "/public/x").line("transfer-encoding", "chunked"), forwarded("/public/x", PUBLIC)),
        ("Transfer-Encoding chunked in another case with spaces is forwarded", head("POST", "/public/x").line("transfer-encoding", " Chunked "), forwarded("/public/x", PUBLIC)),
        ("Transfer-Encoding gzip, chunked is 400", head("POST", "/public/x").line("transfer-encoding", "gzip, chunked"), bad("Unsupported transfer coding")),
        ("Transfer-Encoding gzip is 400", head("POST", "/public/x").line("transfer-encoding", "gzip"), bad("Unsupported transfer coding")),
        ("two Transfer-Encoding lines gzip and chunked are 400", head("POST", "/public/x").line("transfer-encoding", "gzip").line("transfer-encoding", "chunked"), bad("Unsupported transfer coding")),
        ("two Transfer-Encoding lines chunked and chunked are 400", head("POST", "/public/x").line("transfer-encoding", "chunked").line("transfer-encoding", "chunked"), bad("Unsupported transfer coding")),
        ("a target of exactly max_uri_bytes is forwarded", head("GET", AT_URI_LIMIT), forwarded(AT_URI_LIMIT, PUBLIC)),
        ("a target one byte over max_uri_bytes is 414", head("GET", &format!("{AT_URI_LIMIT}a")), refused(414, "URI Too Long", "uri_too_long")),
        ("the query counts towards max_uri_bytes", head("GET", &long_query), refused(414, "URI Too Long", "uri_too_long")),
        ("headers of exactly max_header_bytes are forwarded", head("GET", "/public/x").header_bytes(1024), forwarded("/public/x", PUBLIC)),
        ("headers one byte over max_header_bytes are 431", head("GET", "/public/x").header_bytes(1025), refused(431, "Request Header Fields Too Large", "headers_too_large")),
        ("a token over max_token_bytes is 431 from the decision, on its route", head("GET", "/protected").bearer(&token_with(TokenType::Access, false, 0, |c| { c.insert("pad".into(), "x".repeat(400).into()); })), refused(431, "Token too large", "token_too_large").after("/protected", PROTECTED)),
    ];
    check(rows);
}

#[test]
fn the_target_is_canonicalised_with_its_query_untouched_and_only_http_absolute_form_accepted() {
    let bad = |detail| refused(400, detail, "bad_request");
    #[rustfmt::skip]
    let rows = vec![
        ("dot segments are resolved and the query kept byte for byte", head("GET", "/a/./b/../c?x=%2F"), forwarded("/a/c?x=%2F", A)),
        ("slashes are merged, encoded dots resolved, the query untouched", head("GET", "/public//x/%2e%2e/y?q=%2F..%2f&x=//"), forwarded("/public/y?q=%2F..%2f&x=//", PUBLIC)),
        ("an encoded path character is decoded before lookup", head("GET", "/%61/c"), forwarded("/a/c", A)),
        ("a canonical target is kept as it is", head("GET", "/public/x?y=1&y=2"), forwarded("/public/x?y=1&y=2", PUBLIC)),
        ("absolute-form http uses its path", head("GET", "http://example.test/public/%61").no_host().line("host", "other.test"), forwarded("/public/a", PUBLIC)),
        ("absolute-form http with a Host line is forwarded", head("GET", "http://example.test/public/x?q=1"), forwarded("/public/x?q=1", PUBLIC)),
        ("absolute-form https is refused", head("GET", "https://example.test/public/x"), bad("Only http absolute-form targets are accepted")),
        ("OPTIONS * is refused", head("OPTIONS", "*"), bad("Request target must be an absolute path")),
        ("authority-form outside CONNECT is refused", head("GET", "example.test:80").no_host(), bad("Request target must be an absolute path")),
        ("an encoded slash is refused before lookup", head("GET", "/public/a%2Fb"), bad("Encoded slash or backslash in path")),
        ("a path climbing above the root is refused", head("GET", "/public/../../etc/passwd"), bad("Path climbs above the root")),
        ("invalid percent-encoding is refused", head("GET", "/public/a%zz"), bad("Invalid percent-encoding in path")),
        ("an encoded control character is refused", head("GET", "/public/a%00"), bad("Control character in path")),
    ];
    check(rows);
}

#[test]
fn no_route_is_404_with_the_canonical_target_and_no_route() {
    let not_found = |at| refused(404, "Not Found", "no_route").after(at, None);
    #[rustfmt::skip]
    let rows = vec![
        ("a path no route covers is 404", head("GET", "/nope"), not_found("/nope")),
        ("a method the route does not list is 404", head("GET", "/upload"), not_found("/upload")),
        ("a prefix covers its path and below, not a longer name", head("GET", "/publicx"), not_found("/publicx")),
        ("an exact path does not cover what is below it", head("GET", "/protected/x"), not_found("/protected/x")),
        ("the refusal carries the canonical target with its query", head("GET", "/./nope/../nope2?q=%2F"), not_found("/nope2?q=%2F")),
    ];
    check(rows);
}

#[test]
fn the_declared_body_is_checked_against_the_route_limit_after_the_decision() {
    let too_large =
        |at, on| refused(413, "Request Entity Too Large", "payload_too_large").after(at, Some(on));
    let good = token(TokenType::Access, false, 0);
    #[rustfmt::skip]
    let rows = vec![
        ("a body of exactly the route's max_body_bytes is forwarded", head("POST", "/upload").length(10), forwarded("/upload", "POST /upload")),
        ("a body one byte over the route's max_body_bytes is 413", head("POST", "/upload").length(11), too_large("/upload", "POST /upload")),
        ("a route without its own limit has the server's", head("POST", "/public/x").length(100), forwarded("/public/x", PUBLIC)),
        ("one byte over the server's limit is 413", head("POST", "/public/x").length(101), too_large("/public/x", PUBLIC)),
        ("no Content-Length is not refused here (the body is limited while it streams)", head("POST", "/upload"), forwarded("/upload", "POST /upload")),
        ("the decision comes before the body limit: no token is 401", head("POST", "/protected").length(1000), refused(401, "Missing Authorization Header", "missing").after("/protected", PROTECTED)),
        ("a valid token with a body over the limit is 413", head("POST", "/protected").length(1000).bearer(&good), too_large("/protected", "* /protected")),
        ("report mode does not lift the body limit", head("POST", "/shadow").length(1000), too_large("/shadow", "* /shadow")),
    ];
    check(rows);
}

#[test]
fn enforce_mode_refuses_on_its_route_and_report_mode_forwards_what_it_reports() {
    let access = token(TokenType::Access, false, 0);
    let fresh = token(TokenType::Access, true, 0);
    let fresh_but_old = token(TokenType::Access, true, 600);
    let expired = token(TokenType::Access, true, 3600);
    let refresh = token(TokenType::Refresh, false, 0);
    let shadow = || forwarded("/shadow", "* /shadow");
    #[rustfmt::skip]
    let rows = vec![
        ("no token on an access route is 401 on that route", head("GET", "/protected"), refused(401, "Missing Authorization Header", "missing").after("/protected", PROTECTED)),
        ("an access token on an access route is forwarded with its subject", head("GET", "/protected").bearer(&access), forwarded("/protected", "* /protected").with(Some("alice"), None)),
        ("a refresh token on an access route is 422 on that route", head("GET", "/protected").bearer(&refresh), refused(422, "Only access tokens are allowed", "wrong_type").after("/protected", PROTECTED)),
        ("a non-fresh token on a fresh route is 401 on that route", head("GET", "/fresh").bearer(&access), refused(401, "Fresh token required", "not_fresh").after("/fresh", Some("* /fresh"))),
        ("the route's max_age window is applied", head("GET", "/step-up").bearer(&fresh_but_old), refused(401, "Fresh token required", "not_fresh").after("/step-up", Some("* /step-up"))),
        ("a fresh token inside the route's window is forwarded", head("GET", "/step-up").bearer(&fresh), forwarded("/step-up", "* /step-up").with(Some("alice"), None)),
        ("a public route forwards a garbage token anonymously", head("GET", "/public/x").line("authorization", "garbage"), forwarded("/public/x", PUBLIC)),
        ("report mode forwards no token anonymously, reporting missing", head("GET", "/shadow"), shadow().with(None, Some("missing"))),
        ("report mode forwards a non-fresh token with its identity, reporting not_fresh", head("GET", "/shadow").bearer(&access), shadow().with(Some("alice"), Some("not_fresh"))),
        ("report mode forwards a refresh token with its identity, reporting wrong_type", head("GET", "/shadow").bearer(&refresh), shadow().with(Some("alice"), Some("wrong_type"))),
        ("report mode forwards an expired token anonymously, reporting expired", head("GET", "/shadow").bearer(&expired), shadow().with(None, Some("expired"))),
        ("report mode forwards a bad header anonymously, reporting bad_header", head("GET", "/shadow").line("authorization", "Token x"), shadow().with(None, Some("bad_header"))),
        ("report mode forwards a fresh token with nothing to report", head("GET", "/shadow").bearer(&fresh), shadow().with(Some("alice"), None)),
        ("report mode does not lift the request checks", head("TRACE", "/shadow"), refused(405, "Method Not Allowed", "method_not_allowed")),
    ];
    check(rows);
}
