//! `freshgate explain` through the real binary: for each policy, the canonical path, the route,
//! the policy, the decision with its reason, the identity headers of a forward or the exact
//! response of a rejection, and the exit code (0 forwarded, 1 rejected, 2 usage mistake).
//! Tokens are minted with `freshgate token`, as an operator would.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod support;

use freshgate::auth::TokenType;
use freshgate::token::{sign_hmac, TokenSpec};
use support::{freshgate_command, now, ConfigFile};

const SECRET: &str = "explain-test-secret";

const CONFIG: &str = r#"
[upstreams]
app = "http://127.0.0.1:9"

[jwt]
secret = "explain-test-secret"

[[route]]
path = "/public"
policy = "public"

[[route]]
path = "/optional"
policy = "optional"

[[route]]
path = "/protected"
policy = "access"

[[route]]
path = "/protected-fresh"
policy = "fresh"

[[route]]
path = "/refresh"
methods = ["POST"]
policy = "refresh"

[[route]]
path = "/shadow"
policy = "fresh"
mode = "report"
"#;

/// The config above in its own directory. The upstream is never contacted: nothing listens on
/// port 9 and explain must not need it.
struct Fixture {
    config: ConfigFile,
}

/// What one `freshgate explain` run printed, and its exit code.
struct Run {
    what: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            config: ConfigFile::new(CONFIG),
        }
    }

    fn freshgate(&self, args: &[&str]) -> Run {
        let output = freshgate_command()
            .arg("--config")
            .arg(&self.config.path)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run the freshgate binary");
        Run {
            what: format!("freshgate {}", args.join(" ")),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `freshgate token --sub alice` with `flags` (`--fresh`, `--refresh`).
    fn mint(&self, flags: &[&str]) -> String {
        let mut args = vec!["token", "--sub", "alice"];
        args.extend_from_slice(flags);
        let run = self.freshgate(&args);
        assert_eq!(run.code, Some(0), "{} failed: {}", run.what, run.stderr);
        let token = run.stdout.trim().to_string();
        assert_eq!(
            token.split('.').count(),
            3,
            "{} prints one JWT: {:?}",
            run.what,
            run.stdout
        );
        token
    }

    /// `freshgate explain METHOD URL` with extra arguments.
    fn explain(&self, method: &str, url: &str, extra: &[&str]) -> Run {
        let mut args = vec!["explain", method, url];
        args.extend_from_slice(extra);
        self.freshgate(&args)
    }
}

impl Run {
    #[track_caller]
    fn exits(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "{}: exit code\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Each of `lines` is a whole line of the output.
    #[track_caller]
    fn shows(&self, lines: &[&str]) -> &Run {
        for line in lines {
            assert!(
                self.stdout.lines().any(|l| l == *line),
                "{}: expected the line {line:?} in:\n{}",
                self.what,
                self.stdout
            );
        }
        self
    }

    #[track_caller]
    fn does_not_show(&self, fragment: &str) -> &Run {
        assert!(
            !self.stdout.contains(fragment),
            "{}: {fragment:?} should not be in:\n{}",
            self.what,
            self.stdout
        );
        self
    }

    /// A rejection: the decision line, then the response freshgate would send: the status
    /// line, headers (`content-type: application/json` among them), a blank line and exactly
    /// `body`, which ends the output.
    #[track_caller]
    fn rejects(&self, reason: &str, status: &str, body: &str) -> &Run {
        self.exits(1)
            .shows(&[&format!("decision:   rejected ({reason})")]);
        let block: Vec<&str> = self
            .stdout
            .lines()
            .skip_while(|l| *l != "response:")
            .skip(1)
            .collect();
        let blank = block.iter().position(|l| l.is_empty());
        let (head, rest) = block.split_at(blank.unwrap_or(block.len()));
        assert_eq!(
            head.first().copied(),
            Some(format!("  HTTP/1.1 {status}").as_str()),
            "{}: the status line follows `response:` in:\n{}",
            self.what,
            self.stdout
        );
        assert!(
            head.contains(&"  content-type: application/json"),
            "{}: a JSON content type among the response headers in:\n{}",
            self.what,
            self.stdout
        );
        assert_eq!(
            rest,
            ["", &format!("  {body}")],
            "{}: a blank line, then exactly the body, ends the output:\n{}",
            self.what,
            self.stdout
        );
        self.does_not_show("identity")
    }

    /// A forward with these identity headers (none: anonymous).
    #[track_caller]
    fn forwards(&self, identity: &[&str]) -> &Run {
        self.exits(0).does_not_show("response:");
        match identity {
            [] => self.shows(&["identity:   none (anonymous)"]),
            headers => self
                .shows(&["identity headers sent upstream:"])
                .shows(headers),
        }
    }
}

#[test]
fn a_public_route_is_forwarded_anonymously_even_with_spoofed_identity_headers() {
    let f = Fixture::new();
    f.explain("GET", "/public", &[]).forwards(&[]).shows(&[
        "request:    GET /public",
        "canonical:  /public",
        "route:      route[1] path /public (* /public)",
        "policy:     public (mode enforce)",
        "upstream:   app (http://127.0.0.1:9)",
        "decision:   forwarded",
    ]);
    let token = f.mint(&["--fresh"]);
    f.explain(
        "GET",
        "/public",
        &["--token", &token, "--header", "X-Auth-Subject: admin"],
    )
    .forwards(&[])
    .does_not_show("admin");
}

#[test]
fn an_optional_route_forwards_anonymously_without_a_token_and_with_identity_with_one() {
    let f = Fixture::new();
    f.explain("GET", "/optional", &[])
        .forwards(&[])
        .shows(&["policy:     optional (mode enforce)"]);
    let token = f.mint(&[]);
    f.explain("GET", "/optional", &["--token", &token])
        .forwards(&[
            "  x-auth-subject: alice",
            "  x-auth-fresh: false",
            "  x-auth-token-type: access",
        ])
        .shows(&["decision:   forwarded"]);
    f.explain(
        "GET",
        "/optional",
        &["--header", "Authorization: Basic abc"],
    )
    .rejects(
        "bad_header",
        "422 Unprocessable Entity",
        r#"{"detail":"Bad Authorization header. Expected value 'Bearer <JWT>'"}"#,
    );
}

#[test]
fn an_access_route_rejects_a_missing_token_and_a_refresh_token_and_forwards_an_access_token() {
    let f = Fixture::new();
    f.explain("GET", "/protected", &[])
        .rejects(
            "missing",
            "401 Unauthorized",
            r#"{"detail":"Missing Authorization Header"}"#,
        )
        .shows(&[
            "canonical:  /protected",
            "route:      route[3] path /protected (* /protected)",
            "policy:     access (mode enforce)",
        ]);
    let access = f.mint(&[]);
    f.explain("GET", "/protected", &["--token", &access])
        .forwards(&["  x-auth-subject: alice", "  x-auth-token-type: access"]);
    let header = format!("Authorization: Bearer {access}");
    f.explain("GET", "/protected", &["--header", &header])
        .forwards(&["  x-auth-subject: alice"]);
    let refresh = f.mint(&["--refresh"]);
    f.explain("GET", "/protected", &["--token", &refresh])
        .rejects(
            "wrong_type",
            "422 Unprocessable Entity",
            r#"{"detail":"Only access tokens are allowed"}"#,
        );
}

#[test]
fn a_fresh_route_forwards_a_fresh_token_and_rejects_a_non_fresh_one_with_401() {
    let f = Fixture::new();
    let fresh = f.mint(&["--fresh"]);
    f.explain("GET", "/protected-fresh", &["--token", &fresh])
        .forwards(&[
            "  x-auth-subject: alice",
            "  x-auth-fresh: true",
            "  x-auth-token-type: access",
        ])
        .shows(&[
            "route:      route[4] path /protected-fresh (* /protected-fresh)",
            "policy:     fresh (mode enforce)",
        ]);
    let stale = f.mint(&[]);
    f.explain("GET", "/protected-fresh", &["--token", &stale])
        .rejects(
            "not_fresh",
            "401 Unauthorized",
            r#"{"detail":"Fresh token required"}"#,
        );
}

#[test]
fn an_expired_or_forged_token_is_rejected_with_pyjwts_message() {
    let f = Fixture::new();
    // Issued an hour ago with the default 15 minute lifetime: expired 45 minutes ago.
    let an_hour_ago = now() - 3600;
    let claims = TokenSpec::new("alice", TokenType::Access, true).claims(an_hour_ago);
    let expired = sign_hmac(&claims, SECRET.as_bytes(), jsonwebtoken::Algorithm::HS256)
        .expect("sign an expired token");
    f.explain("GET", "/protected", &["--token", &expired])
        .rejects(
            "expired",
            "422 Unprocessable Entity",
            r#"{"detail":"Signature has expired"}"#,
        );
    let forged = sign_hmac(
        &TokenSpec::new("alice", TokenType::Access, true).claims(an_hour_ago + 3600),
        b"another secret",
        jsonwebtoken::Algorithm::HS256,
    )
    .expect("sign with another secret");
    f.explain("GET", "/protected", &["--token", &forged])
        .rejects(
            "invalid_signature",
            "422 Unprocessable Entity",
            r#"{"detail":"Signature verification failed"}"#,
        );
}

#[test]
fn a_refresh_route_forwards_a_refresh_token_and_rejects_an_access_token() {
    let f = Fixture::new();
    let refresh = f.mint(&["--refresh"]);
    f.explain("POST", "/refresh", &["--token", &refresh])
        .forwards(&[
            "  x-auth-subject: alice",
            "  x-auth-fresh: false",
            "  x-auth-token-type: refresh",
        ])
        .shows(&[
            "request:    POST /refresh",
            "route:      route[5] path /refresh (POST /refresh)",
            "policy:     refresh (mode enforce)",
        ]);
    let access = f.mint(&["--fresh"]);
    f.explain("POST", "/refresh", &["--token", &access])
        .rejects(
            "wrong_type",
            "422 Unprocessable Entity",
            r#"{"detail":"Only refresh tokens are allowed"}"#,
        );
}

#[test]
fn a_request_no_route_matches_is_404_with_route_none() {
    let f = Fixture::new();
    for (method, url) in [("GET", "/nope"), ("GET", "/refresh"), ("GET", "/public/x")] {
        f.explain(method, url, &[])
            .rejects("no_route", "404 Not Found", r#"{"detail":"Not Found"}"#)
            .shows(&[&format!("canonical:  {url}"), "route:      none"])
            .does_not_show("policy:");
    }
}

#[test]
fn an_encoded_path_is_shown_in_canonical_form_and_routed_by_it() {
    let f = Fixture::new();
    f.explain("GET", "/%70rotected", &[])
        .rejects(
            "missing",
            "401 Unauthorized",
            r#"{"detail":"Missing Authorization Header"}"#,
        )
        .shows(&[
            "request:    GET /%70rotected",
            "canonical:  /protected",
            "route:      route[3] path /protected (* /protected)",
        ]);
    let token = f.mint(&[]);
    f.explain("GET", "/%70rotected?next=%2Fa", &["--token", &token])
        .forwards(&["  x-auth-subject: alice"])
        .shows(&["canonical:  /protected?next=%2Fa"]);
    f.explain("GET", "http://example.test/o%70tional", &[])
        .forwards(&[])
        .shows(&[
            "canonical:  /optional",
            "policy:     optional (mode enforce)",
        ]);
}

#[test]
fn a_report_mode_route_forwards_what_it_would_reject_and_says_what_enforcing_would_answer() {
    let f = Fixture::new();
    let stale = f.mint(&[]);
    f.explain("GET", "/shadow", &["--token", &stale])
        .forwards(&[
            "  x-auth-subject: alice",
            "  x-auth-fresh: false",
            "  x-auth-token-type: access",
            "  x-auth-reported: not_fresh",
        ])
        .shows(&[
            "policy:     fresh (mode report)",
            r#"decision:   forwarded (report mode; enforcing would answer 401 "Fresh token required": not_fresh)"#,
        ]);
    f.explain("GET", "/shadow", &[])
        .forwards(&["  x-auth-reported: missing"])
        .shows(&[
            r#"decision:   forwarded (report mode; enforcing would answer 401 "Missing Authorization Header": missing)"#,
        ]);
    let fresh = f.mint(&["--fresh"]);
    f.explain("GET", "/shadow", &["--token", &fresh])
        .forwards(&["  x-auth-fresh: true"])
        .shows(&["decision:   forwarded"]);
}

#[test]
fn a_malformed_argument_is_a_usage_error_with_exit_2() {
    let f = Fixture::new();
    for (what, method, url, extra) in [
        (
            "a header without a colon",
            "GET",
            "/public",
            "no-colon-here",
        ),
        ("a header with a bad name", "GET", "/public", "Bad Name: x"),
        ("a method with a space", "GE T", "/public", "X-Ok: 1"),
        ("a target with a space", "GET", "/a b", "X-Ok: 1"),
    ] {
        let run = f.explain(method, url, &["--header", extra]);
        assert_eq!(
            run.code,
            Some(2),
            "{what}: exit 2\nstdout:\n{}\nstderr:\n{}",
            run.stdout,
            run.stderr
        );
        assert!(
            run.stdout.is_empty(),
            "{what}: nothing on stdout: {}",
            run.stdout
        );
        assert!(!run.stderr.trim().is_empty(), "{what}: a message on stderr");
    }
    let run = f.explain("GET", "/public", &["--header", "no-colon-here"]);
    assert!(
        run.stderr.contains("Name: value"),
        "the message shows the expected form: {}",
        run.stderr
    );
}
