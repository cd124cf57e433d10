//! Bad configs are refused with messages that name the key, point at the offending value's line
//! and column, and say how to fix it; both through `freshgate::config::parse` and through the
//! real `freshgate check` binary. Also `freshgate check` on a valid config (the route table in
//! match order) and `freshgate token` (the claims fastapi-jwt-auth writes).
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod support;

use std::process::Output;

use freshgate::config::{parse, ConfigError};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use support::{freshgate_command, now, ConfigFile};
use tempfile::TempDir;

/// A valid config; every bad config below is this one with one defect.
const VALID: &str = r#"[server]
listen = "127.0.0.1:8080"
upstream_timeout = "30s"

[upstreams]
app = "http://127.0.0.1:8000"

[jwt]
secret = "s3cret"

[[route]]
path = "/protected"
policy = "access"
"#;

/// A variable no test environment sets (written out in the secret rows, which need literals).
const UNSET_VAR: &str = "FRESHGATE_TEST_SURELY_UNSET_0C6F1A";

// ---------------------------------------------------------------------------------------------
// Building configs and finding positions
// ---------------------------------------------------------------------------------------------

/// `VALID` with each `(old, new)` replacement applied; `old` must occur exactly once.
fn edit(replacements: &[(&str, &str)]) -> String {
    let mut text = VALID.to_string();
    for (old, new) in replacements {
        assert_eq!(
            text.matches(old).count(),
            1,
            "test bug: {old:?} must occur exactly once in the config being edited"
        );
        text = text.replacen(old, new, 1);
    }
    text
}

/// `VALID` followed by `extra`.
fn plus(extra: &str) -> String {
    format!("{VALID}{extra}")
}

/// Where the offending text is: the `nth` (from 0) occurrence of `needle`.
#[derive(Clone, Copy, Debug)]
struct At {
    needle: &'static str,
    nth: usize,
}

fn at(needle: &'static str) -> At {
    At { needle, nth: 0 }
}

fn at_nth(needle: &'static str, nth: usize) -> At {
    At { needle, nth }
}

/// 1-based line and column (in characters) of `at` in `text`, computed independently of the
/// crate under test.
fn position(text: &str, at: At) -> (usize, usize) {
    let offset = text
        .match_indices(at.needle)
        .nth(at.nth)
        .unwrap_or_else(|| panic!("test bug: {at:?} does not occur in\n{text}"))
        .0;
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

// ---------------------------------------------------------------------------------------------
// The bad configs
// ---------------------------------------------------------------------------------------------

/// One bad config and the error it must produce.
struct Bad {
    name: &'static str,
    text: String,
    /// The key the error must name, exactly as reported.
    key: &'static str,
    /// The offending text, whose position the error must report.
    at: At,
    /// A fragment the message must contain.
    message: String,
}

fn bad(name: &'static str, text: String, key: &'static str, at: At, message: &str) -> Bad {
    Bad {
        name,
        text,
        key,
        at,
        message: message.to_string(),
    }
}

/// Why `got` does not match `bad`, or `None` when it does.
fn mismatch(bad: &Bad, file: &str, got: &[ConfigError]) -> Option<String> {
    let [e] = got else {
        return Some(format!(
            "want exactly one error, got {}:\n{}",
            got.len(),
            got.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ));
    };
    let (line, column) = position(&bad.text, bad.at);
    let mut why = Vec::new();
    if e.file != file {
        why.push(format!("file {:?}, want {file:?}", e.file));
    }
    if (e.line, e.column) != (line, column) {
        why.push(format!(
            "position {}:{}, want {line}:{column} (where {:?} is)",
            e.line, e.column, bad.at.needle
        ));
    }
    if e.key != bad.key {
        why.push(format!("key {:?}, want {:?}", e.key, bad.key));
    }
    if !e.message.contains(&bad.message) {
        why.push(format!("message {:?} lacks {:?}", e.message, bad.message));
    }
    if e.fix.trim().is_empty() || !e.to_string().contains("\n  fix: ") {
        why.push(format!("no fix in {:?}", e.to_string()));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// Why `check --config <file>` did not refuse `bad` as expected, or `None`.
fn check_mismatch(bad: &Bad) -> Option<String> {
    let config = ConfigFile::new(&bad.text);
    let file = config.path.display().to_string();
    let out = freshgate(&["check", "--config", &file]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    let (line, column) = position(&bad.text, bad.at);
    let head = format!("{file}:{line}:{column}: {}: ", bad.key);
    let mut why = Vec::new();
    if out.status.code() != Some(1) {
        why.push(format!("exit status {:?}, want 1", out.status.code()));
    }
    if !stdout.is_empty() {
        why.push(format!("stdout is not empty: {stdout:?}"));
    }
    match stderr.lines().find(|l| l.starts_with(&head)) {
        None => why.push(format!("stderr has no line starting {head:?}")),
        Some(l) if !l.contains(&bad.message) => why.push(format!("{l:?} lacks {:?}", bad.message)),
        Some(_) => {}
    }
    if !stderr.contains("\n  fix: ") {
        why.push("stderr has no fix".to_string());
    }
    if !stderr.contains("1 error(s); nothing was started") {
        why.push("stderr does not count one error".to_string());
    }
    (!why.is_empty()).then(|| format!("{}\n      stderr: {stderr:?}", why.join("; ")))
}

/// Feeds every row to `config::parse` and to `freshgate check`, and fails once listing every
/// row either of them does not refuse as expected.
fn assert_refused(rows: Vec<Bad>) {
    let dir = TempDir::new().expect("temp dir");
    let mut failures = Vec::new();
    for bad in &rows {
        match parse(&bad.text, "gateway.toml", dir.path()) {
            Ok(_) => failures.push(format!("  {}: parse accepted it", bad.name)),
            Err(errors) => {
                if let Some(why) = mismatch(bad, "gateway.toml", &errors.0) {
                    failures.push(format!("  {}: parse: {why}", bad.name));
                }
            }
        }
        if let Some(why) = check_mismatch(bad) {
            failures.push(format!("  {}: check: {why}", bad.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems in {} bad configs:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The bad configs, one test per area; each row has exactly one defect, so exactly one error
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_keys_are_refused_in_every_table() {
    #[rustfmt::skip]
    let rows = vec![
        bad("an unknown top-level key", format!("lsiten = \"0.0.0.0:80\"\n{VALID}"), "lsiten", at("lsiten"), "unknown field `lsiten`"),
        bad("an unknown table", plus("\n[metrics]\nenabled = true\n"), "[metrics]", at("metrics"), "unknown field `metrics`"),
        bad("an unknown key in [server]", edit(&[("upstream_timeout", "upstream_timout")]), "server.upstream_timout", at("upstream_timout"), "unknown field `upstream_timout`"),
        bad("an unknown key in [jwt]", edit(&[("secret = \"s3cret\"\n", "secret = \"s3cret\"\nsecrte = \"x\"\n")]), "jwt.secrte", at("secrte"), "unknown field `secrte`"),
        bad("an unknown key in the first [[route]]", edit(&[("policy = \"access\"\n", "policy = \"access\"\nmethod = [\"GET\"]\n")]), "route[1].method", at("method"), "unknown field `method`"),
        bad("an unknown key in a later [[route]]", plus("\n[[route]]\nprefix = \"/static\"\npolcy = \"public\"\n"), "route[2].polcy", at("polcy"), "unknown field `polcy`"),
        bad("an upstream that is not a string", edit(&[("\"http://127.0.0.1:8000\"", "8000")]), "upstreams.app", at("8000"), "invalid type"),
    ];
    assert_refused(rows);
}

#[test]
fn a_policy_must_be_one_of_the_five() {
    #[rustfmt::skip]
    let rows = vec![
        bad("an unknown policy", edit(&[("\"access\"", "\"acess\"")]), "route[1].policy", at("\"acess\""), "unknown policy \"acess\""),
        bad("a policy in the wrong case", edit(&[("\"access\"", "\"Access\"")]), "route[1].policy", at("\"Access\""), "unknown policy \"Access\""),
        bad("a route without a policy", edit(&[("policy = \"access\"\n", "")]), "route[1].policy", at("[[route]]"), "no policy"),
        bad("an unquoted policy (a TOML syntax error)", edit(&[("\"access\"", "access")]), "route[1].policy", at("access"), "quoted"),
    ];
    assert_refused(rows);
}

#[test]
fn durations_must_parse() {
    #[rustfmt::skip]
    let rows = vec![
        bad("a bad server.upstream_timeout", edit(&[("\"30s\"", "\"30 parsecs\"")]), "server.upstream_timeout", at("\"30 parsecs\""), "is not a duration"),
        bad("a server.upstream_connect_timeout without a unit", edit(&[("upstream_timeout = \"30s\"", "upstream_connect_timeout = \"5\"")]), "server.upstream_connect_timeout", at("\"5\""), "is not a duration"),
        bad("a bad jwt.leeway", edit(&[("secret = \"s3cret\"\n", "secret = \"s3cret\"\nleeway = \"ten seconds\"\n")]), "jwt.leeway", at("\"ten seconds\""), "is not a duration"),
        bad("a negative jwt.leeway", edit(&[("secret = \"s3cret\"\n", "secret = \"s3cret\"\nleeway = \"-1s\"\n")]), "jwt.leeway", at("\"-1s\""), "is not a duration"),
        bad("a duration written as a number", edit(&[("secret = \"s3cret\"\n", "secret = \"s3cret\"\nleeway = 15\n")]), "jwt.leeway", at("15"), "invalid type"),
    ];
    assert_refused(rows);
}

#[test]
fn counts_must_be_in_range() {
    #[rustfmt::skip]
    let rows = vec![
        bad("a negative server.max_idle_upstream_connections", edit(&[("upstream_timeout = \"30s\"", "max_idle_upstream_connections = -1")]), "server.max_idle_upstream_connections", at("-1"), "-1 is out of range"),
    ];
    assert_refused(rows);
}

#[test]
fn the_secret_needs_exactly_one_readable_source() {
    assert!(
        std::env::var_os(UNSET_VAR).is_none(),
        "test precondition: {UNSET_VAR} is unset"
    );
    #[rustfmt::skip]
    let rows = vec![
        bad("no secret source", edit(&[("secret = \"s3cret\"\n", "leeway = \"0s\"\n")]), "jwt", at("[jwt]"), "no key is configured"),
        bad("no [jwt] table at all", edit(&[("[jwt]\nsecret = \"s3cret\"\n", "")]), "jwt", at("[server]"), "the [jwt] table is missing"),
        bad("secret and secret_env", edit(&[("secret = \"s3cret\"\n", "secret = \"s3cret\"\nsecret_env = \"FRESHGATE_SECRET\"\n")]), "jwt.secret_env", at("\"FRESHGATE_SECRET\""), "several secret sources"),
        bad("secret and secret_file", edit(&[("secret = \"s3cret\"\n", "secret = \"s3cret\"\nsecret_file = \"jwt.key\"\n")]), "jwt.secret_file", at("\"jwt.key\""), "several secret sources"),
        bad("all three secret sources", edit(&[("secret = \"s3cret\"\n", "secret = \"s3cret\"\nsecret_env = \"FRESHGATE_SECRET\"\nsecret_file = \"jwt.key\"\n")]), "jwt.secret_env", at("\"FRESHGATE_SECRET\""), "several secret sources"),
        bad("an unreadable secret_file", edit(&[("secret = \"s3cret\"", "secret_file = \"missing.key\"")]), "jwt.secret_file", at("\"missing.key\""), "cannot read"),
        bad("a secret_file that is a directory", edit(&[("secret = \"s3cret\"", "secret_file = \".\"")]), "jwt.secret_file", at("\".\""), "cannot read"),
        bad("a secret_env naming an unset variable", edit(&[("secret = \"s3cret\"", "secret_env = \"FRESHGATE_TEST_SURELY_UNSET_0C6F1A\"")]), "jwt.secret_env", at("\"FRESHGATE_TEST_SURELY_UNSET_0C6F1A\""), "FRESHGATE_TEST_SURELY_UNSET_0C6F1A\" is not set"),
        bad("an empty secret", edit(&[("\"s3cret\"", "\"\"")]), "jwt.secret", at("\"\""), "the secret is empty"),
    ];
    assert_refused(rows);
}

#[test]
fn upstreams_must_exist_and_be_plain_http_urls_without_a_path() {
    #[rustfmt::skip]
    let rows = vec![
        bad("a route naming an upstream that does not exist", edit(&[("policy = \"access\"\n", "policy = \"access\"\nupstream = \"backend\"\n")]), "route[1].upstream", at("\"backend\""), "no upstream is named \"backend\""),
        bad("an upstream URL without a scheme", edit(&[("\"http://127.0.0.1:8000\"", "\"127.0.0.1:8000\"")]), "upstreams.app", at("\"127.0.0.1:8000\""), "has no scheme"),
        bad("an upstream host name without a scheme", edit(&[("\"http://127.0.0.1:8000\"", "\"localhost\"")]), "upstreams.app", at("\"localhost\""), "has no scheme"),
        bad("an https upstream URL", edit(&[("\"http://127.0.0.1:8000\"", "\"https://127.0.0.1:8443\"")]), "upstreams.app", at("\"https://127.0.0.1:8443\""), "scheme \"https\" is not supported"),
        bad("an upstream URL with a path", edit(&[("\"http://127.0.0.1:8000\"", "\"http://127.0.0.1:8000/api\"")]), "upstreams.app", at("\"http://127.0.0.1:8000/api\""), "has a path"),
        bad("an upstream URL with a query", edit(&[("\"http://127.0.0.1:8000\"", "\"http://127.0.0.1:8000?x=1\"")]), "upstreams.app", at("\"http://127.0.0.1:8000?x=1\""), "has a path or query"),
        bad("an upstream URL with user info", edit(&[("\"http://127.0.0.1:8000\"", "\"http://user@127.0.0.1:8000\"")]), "upstreams.app", at("\"http://user@127.0.0.1:8000\""), "must name a host"),
        bad("an empty [upstreams] table", edit(&[("app = \"http://127.0.0.1:8000\"\n", "")]), "upstreams", at("[upstreams]"), "no upstream is defined"),
        bad("several upstreams and a route naming none", edit(&[("app = \"http://127.0.0.1:8000\"\n", "app = \"http://127.0.0.1:8000\"\nadmin = \"http://127.0.0.1:9000\"\n")]), "route[1].upstream", at("[[route]]"), "names none"),
    ];
    assert_refused(rows);
}

#[test]
fn routes_must_not_tie_and_need_exactly_one_of_path_and_prefix() {
    let route2 = "\n[[route]]\npath = \"/protected\"\npolicy = \"fresh\"\n";
    // A tie names the earlier route and its line.
    let (first_route_line, _) = position(VALID, at("[[route]]"));
    let tie = format!("ties with route[1] (line {first_route_line})");
    #[rustfmt::skip]
    let rows = vec![
        bad("two routes that tie", plus(route2), "route[2]", at_nth("[[route]]", 1), &tie),
        bad("two routes whose methods overlap", edit(&[("path = \"/protected\"\n", "path = \"/protected\"\nmethods = [\"GET\", \"POST\"]\n")]) + "\n[[route]]\npath = \"/protected\"\nmethods = [\"POST\"]\npolicy = \"fresh\"\n", "route[2]", at_nth("[[route]]", 1), "ties with route[1]"),
        bad("two prefixes that tie", edit(&[("path = \"/protected\"", "prefix = \"/static\"")]) + "\n[[route]]\nprefix = \"/static\"\npolicy = \"public\"\n", "route[2]", at_nth("[[route]]", 1), "ties with route[1]"),
        bad("a route with both path and prefix", edit(&[("path = \"/protected\"\n", "path = \"/protected\"\nprefix = \"/static\"\n")]), "route[1].prefix", at("\"/static\""), "either path or prefix, not both"),
        bad("a route with neither path nor prefix", edit(&[("path = \"/protected\"\n", "")]), "route[1]", at("[[route]]"), "neither path nor prefix"),
    ];
    assert_refused(rows);
}

#[test]
fn bad_path_patterns_are_reported_at_the_pattern_value() {
    #[rustfmt::skip]
    let rows = vec![
        bad("a path that does not start with a slash", edit(&[("\"/protected\"", "\"protected\"")]), "route[1].path", at("\"protected\""), "does not start with '/'"),
        bad("a path with an empty segment", edit(&[("\"/protected\"", "\"/a//b\"")]), "route[1].path", at("\"/a//b\""), "empty segment"),
        bad("a path with a dot segment", edit(&[("\"/protected\"", "\"/a/../b\"")]), "route[1].path", at("\"/a/../b\""), "dot segment"),
        bad("a path with a percent-encoded byte", edit(&[("\"/protected\"", "\"/a/%2e\"")]), "route[1].path", at("\"/a/%2e\""), "contains '%'"),
        bad("a path with a query", edit(&[("\"/protected\"", "\"/a?b\"")]), "route[1].path", at("\"/a?b\""), "contains '?'"),
        bad("a path with an empty parameter", edit(&[("\"/protected\"", "\"/a/{}\"")]), "route[1].path", at("\"/a/{}\""), "is not a valid parameter"),
        bad("a path with a bad parameter name", edit(&[("\"/protected\"", "\"/a/{x-y}\"")]), "route[1].path", at("\"/a/{x-y}\""), "is not a valid parameter"),
        bad("a prefix ending with a slash", edit(&[("path = \"/protected\"", "prefix = \"/static/\"")]), "route[1].prefix", at("\"/static/\""), "ends with '/'"),
        bad("a prefix with a parameter", edit(&[("path = \"/protected\"", "prefix = \"/s/{x}\"")]), "route[1].prefix", at("\"/s/{x}\""), "contains a {param}"),
    ];
    assert_refused(rows);
}

#[test]
fn methods_must_be_uppercase_tokens_and_the_list_non_empty() {
    #[rustfmt::skip]
    let rows = vec![
        bad("a lowercase method", edit(&[("path = \"/protected\"\n", "path = \"/protected\"\nmethods = [\"get\"]\n")]), "route[1].methods", at("\"get\""), "methods are case-sensitive"),
        bad("a mixed-case method after a good one", edit(&[("path = \"/protected\"\n", "path = \"/protected\"\nmethods = [\"GET\", \"Delete\"]\n")]), "route[1].methods", at("\"Delete\""), "methods are case-sensitive"),
        bad("an empty methods list", edit(&[("path = \"/protected\"\n", "path = \"/protected\"\nmethods = []\n")]), "route[1].methods", at("[]"), "the methods list is empty"),
        bad("a method that is not a token", edit(&[("path = \"/protected\"\n", "path = \"/protected\"\nmethods = [\"GE T\"]\n")]), "route[1].methods", at("\"GE T\""), "is not an HTTP method"),
        bad("methods written as a string", edit(&[("path = \"/protected\"\n", "path = \"/protected\"\nmethods = \"GET\"\n")]), "route[1].methods", at("\"GET\""), "invalid type"),
    ];
    assert_refused(rows);
}

#[test]
fn algorithms_need_a_key_that_can_verify_them_and_never_none() {
    #[rustfmt::skip]
    let rows = vec![
        bad("alg none in algorithms", edit(&[("secret = \"s3cret\"\n", "secret = \"s3cret\"\nalgorithms = [\"HS256\", \"none\"]\n")]), "jwt.algorithms", at("\"none\""), "unsigned tokens (\"none\") are never accepted"),
        bad("alg NONE in algorithms", edit(&[("secret = \"s3cret\"\n", "secret = \"s3cret\"\nalgorithms = [\"NONE\"]\n")]), "jwt.algorithms", at("\"NONE\""), "never accepted"),
        bad("an unknown algorithm", edit(&[("secret = \"s3cret\"\n", "secret = \"s3cret\"\nalgorithms = [\"HS999\"]\n")]), "jwt.algorithms", at("\"HS999\""), "is not a JWT algorithm"),
        bad("an asymmetric algorithm with only a secret", edit(&[("secret = \"s3cret\"\n", "secret = \"s3cret\"\nalgorithms = [\"RS256\"]\n")]), "jwt.algorithms", at("\"RS256\""), "no configured key can verify it"),
        bad("an empty algorithms list", edit(&[("secret = \"s3cret\"\n", "secret = \"s3cret\"\nalgorithms = []\n")]), "jwt.algorithms", at("[]"), "the list is empty"),
    ];
    assert_refused(rows);
}

#[test]
fn listen_header_and_audience_values_are_checked_where_written() {
    #[rustfmt::skip]
    let rows = vec![
        bad("a listen address with a host name", edit(&[("\"127.0.0.1:8080\"", "\"localhost:8080\"")]), "server.listen", at("\"localhost:8080\""), "is not an IP address and port"),
        bad("an invalid header_name", edit(&[("secret = \"s3cret\"\n", "secret = \"s3cret\"\nheader_name = \"X Token\"\n")]), "jwt.header_name", at("\"X Token\""), "is not a valid header name"),
        bad("a header_type with whitespace", edit(&[("secret = \"s3cret\"\n", "secret = \"s3cret\"\nheader_type = \"Bear er\"\n")]), "jwt.header_type", at("\"Bear er\""), "contains whitespace"),
        bad("an empty audience list", edit(&[("secret = \"s3cret\"\n", "secret = \"s3cret\"\naudience = []\n")]), "jwt.audience", at("[]"), "the audience list is empty"),
    ];
    assert_refused(rows);
}

// ---------------------------------------------------------------------------------------------
// Through the library
// ---------------------------------------------------------------------------------------------

#[test]
fn the_valid_base_config_is_accepted() {
    let dir = TempDir::new().expect("temp dir");
    let snapshot = parse(VALID, "gateway.toml", dir.path())
        .unwrap_or_else(|e| panic!("the base of every bad config must be valid:\n{e}"));
    assert_eq!(snapshot.routes.routes().len(), 1, "one route");
}

#[test]
fn several_problems_are_all_reported_at_once() {
    let text = edit(&[
        ("\"30s\"", "\"soon\""),
        ("\"http://127.0.0.1:8000\"", "\"https://127.0.0.1:8000\""),
        ("\"access\"", "\"acess\""),
    ]);
    let dir = TempDir::new().expect("temp dir");
    let errors = parse(&text, "gateway.toml", dir.path())
        .expect_err("three defects make the config invalid")
        .0;
    let mut keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "route[1].policy",
            "server.upstream_timeout",
            "upstreams.app"
        ],
        "every defect is reported, not just the first: {errors:?}"
    );
}

#[test]
fn a_relative_secret_file_is_read_from_the_config_directory_without_its_line_break() {
    let dir = TempDir::new().expect("temp dir");
    std::fs::write(dir.path().join("jwt.key"), "file-secret\n").expect("write secret");
    let text = edit(&[("secret = \"s3cret\"", "secret_file = \"jwt.key\"")]);
    let snapshot = parse(&text, "gateway.toml", dir.path())
        .unwrap_or_else(|e| panic!("a readable secret_file is valid:\n{e}"));
    let secret = snapshot.secret.expect("an HMAC secret");
    assert_eq!(
        secret.expose(),
        b"file-secret",
        "the trailing line break is not part of the secret"
    );
}

// ---------------------------------------------------------------------------------------------
// Through the binary
// ---------------------------------------------------------------------------------------------

fn freshgate(args: &[&str]) -> Output {
    freshgate_command()
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove(UNSET_VAR)
        .output()
        .expect("run the freshgate binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn freshgate_check_exits_1_when_the_config_file_does_not_exist() {
    let dir = TempDir::new().expect("temp dir");
    let missing = dir.path().join("absent.toml").display().to_string();
    let out = freshgate(&["check", "--config", &missing]);
    assert_eq!(out.status.code(), Some(1), "exit status");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot read the config file") && stderr.contains("fix: "),
        "stderr explains and fixes: {stderr:?}"
    );
}

#[test]
fn freshgate_check_exits_0_on_a_valid_config_and_prints_the_routes_in_match_order() {
    let config = r#"[upstreams]
app = "http://127.0.0.1:8000"
admin = "http://127.0.0.1:9000"

[jwt]
secret = "s3cret"

[[route]]
prefix = "/"
policy = "public"
upstream = "app"

[[route]]
prefix = "/static"
policy = "public"
upstream = "app"

[[route]]
path = "/repos/{owner}/{repo}"
policy = "access"
upstream = "app"

[[route]]
path = "/repos/{owner}/{repo}"
methods = ["DELETE"]
policy = "fresh"
upstream = "admin"

[[route]]
path = "/login"
methods = ["POST", "PUT"]
policy = "refresh"
upstream = "app"
"#;
    let config = ConfigFile::new(config);
    let file = config.path.display().to_string();
    let out = freshgate(&["check", "--config", &file]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "exit status; stderr: {stderr}");
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some(format!("{file}: valid; listen 127.0.0.1:8080").as_str()),
        "first line names the file and the (default) listen address"
    );
    assert_eq!(
        lines.next(),
        Some(
            r#"profile fastapi-jwt-auth (fastapi-jwt-auth 0.5.0 with PyJWT 1.7.1; bodies {"detail": ...})"#
        ),
        "second line names the profile the decisions follow"
    );
    assert_eq!(
        lines.next(),
        Some("routes, in the order they are matched:"),
        "third line announces the table"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    #[rustfmt::skip]
    let want: Vec<Vec<&str>> = vec![
        vec!["POST,PUT", "path", "/login", "refresh", "->", "app", "(http://127.0.0.1:8000)", "[route", "5]"],
        vec!["DELETE", "path", "/repos/{owner}/{repo}", "fresh", "->", "admin", "(http://127.0.0.1:9000)", "[route", "4]"],
        vec!["*", "path", "/repos/{owner}/{repo}", "access", "->", "app", "(http://127.0.0.1:8000)", "[route", "3]"],
        vec!["*", "prefix", "/static", "public", "->", "app", "(http://127.0.0.1:8000)", "[route", "2]"],
        vec!["*", "prefix", "/", "public", "->", "app", "(http://127.0.0.1:8000)", "[route", "1]"],
    ];
    assert_eq!(rows, want, "the route table in match order:\n{stdout}");
}

// ---------------------------------------------------------------------------------------------
// freshgate token
// ---------------------------------------------------------------------------------------------

/// Runs `freshgate token --config <config> <args>` with `envs` set, and returns the printed
/// token with the times the command ran between.
fn run_token(config: &ConfigFile, args: &[&str], envs: &[(&str, &str)]) -> (String, i64, i64) {
    let file = config.path.display().to_string();
    let before = now();
    let out = freshgate_command()
        .args(["token", "--config", &file])
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("RUST_LOG")
        .output()
        .expect("run the freshgate binary");
    let after = now();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "token {args:?}: stderr {stderr}"
    );
    assert_eq!(
        stdout.lines().count(),
        1,
        "one token on one line: {stdout:?}"
    );
    (stdout.trim().to_string(), before, after)
}

/// The claims of `token` after checking its algorithm and signature (audience left to the
/// caller; expiry checked with no leeway).
fn verify(token: &str, secret: &[u8], alg: Algorithm) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("a JWS header");
    assert_eq!(
        header.alg, alg,
        "signed with the first configured algorithm"
    );
    let mut validation = Validation::new(alg);
    validation.validate_aud = false;
    validation.leeway = 0;
    let key = DecodingKey::from_secret(secret).expect("an HMAC key");
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap_or_else(|e| panic!("the token verifies with the configured secret: {e}"))
        .claims
}

/// `run_token` and `verify` for a config signed with `secret` and `alg`.
fn mint(config: &str, secret: &[u8], alg: Algorithm, args: &[&str]) -> (Value, i64, i64) {
    let (token, before, after) = run_token(&ConfigFile::new(config), args, &[]);
    (verify(&token, secret, alg), before, after)
}

/// Checks the claims every token carries and returns its lifetime (`exp - iat`) in seconds.
fn common_claims(claims: &Value, sub: &str, before: i64, after: i64) -> i64 {
    assert_eq!(claims["sub"], sub, "sub in {claims}");
    let iat = claims["iat"].as_i64().expect("iat is an integer");
    assert!(
        (before..=after).contains(&iat),
        "iat {iat} is the time of minting, between {before} and {after}"
    );
    assert_eq!(claims["nbf"], claims["iat"], "nbf equals iat");
    let jti = claims["jti"].as_str().expect("jti is a string");
    assert!(
        uuid::Uuid::parse_str(jti).is_ok(),
        "jti {jti:?} is a UUID, as the library writes"
    );
    claims["exp"].as_i64().expect("exp is an integer") - iat
}

#[test]
fn freshgate_token_with_fresh_mints_a_fresh_access_token_for_15_minutes() {
    let (claims, before, after) = mint(
        VALID,
        b"s3cret",
        Algorithm::HS256,
        &["--sub", "alice", "--fresh"],
    );
    let lifetime = common_claims(&claims, "alice", before, after);
    assert_eq!(claims["type"], "access", "type in {claims}");
    assert_eq!(claims["fresh"], true, "fresh is the JSON boolean true");
    assert_eq!(lifetime, 15 * 60, "access tokens last 15 minutes");
    for absent in ["iss", "aud", "csrf"] {
        assert!(
            claims.get(absent).is_none(),
            "no {absent} claim in {claims}"
        );
    }
}

#[test]
fn freshgate_token_without_fresh_mints_a_non_fresh_access_token() {
    let (claims, before, after) = mint(VALID, b"s3cret", Algorithm::HS256, &["--sub", "alice"]);
    let lifetime = common_claims(&claims, "alice", before, after);
    assert_eq!(claims["type"], "access", "type in {claims}");
    assert_eq!(claims["fresh"], false, "fresh is the JSON boolean false");
    assert_eq!(lifetime, 15 * 60, "access tokens last 15 minutes");
}

#[test]
fn freshgate_token_with_refresh_mints_a_refresh_token_for_30_days_without_fresh() {
    let (claims, before, after) = mint(
        VALID,
        b"s3cret",
        Algorithm::HS256,
        &["--sub", "bob", "--refresh"],
    );
    let lifetime = common_claims(&claims, "bob", before, after);
    assert_eq!(claims["type"], "refresh", "type in {claims}");
    assert!(
        claims.get("fresh").is_none(),
        "refresh tokens carry no fresh claim: {claims}"
    );
    assert_eq!(lifetime, 30 * 24 * 3600, "refresh tokens last 30 days");
}

#[test]
fn freshgate_token_with_expires_in_sets_the_lifetime() {
    let cases: &[(&[&str], &str, i64)] = &[
        (&["--sub", "alice", "--expires-in", "1h"], "access", 3600),
        (
            &["--sub", "alice", "--fresh", "--expires-in", "90s"],
            "access",
            90,
        ),
        (
            &["--sub", "bob", "--refresh", "--expires-in", "2h"],
            "refresh",
            7200,
        ),
    ];
    for (args, token_type, want) in cases {
        let (claims, before, after) = mint(VALID, b"s3cret", Algorithm::HS256, args);
        let lifetime = common_claims(&claims, claims["sub"].as_str().unwrap_or(""), before, after);
        assert_eq!(claims["type"], *token_type, "{args:?}: type");
        assert_eq!(lifetime, *want, "{args:?}: exp - iat");
    }
}

#[test]
fn freshgate_token_uses_the_first_algorithm_the_issuer_and_the_first_audience() {
    let config = edit(&[(
        "secret = \"s3cret\"\n",
        "secret = \"s3cret\"\nalgorithms = [\"HS512\", \"HS256\"]\nissuer = \"https://auth.example\"\naudience = [\"api\", \"web\"]\n",
    )]);
    let (claims, _, _) = mint(
        &config,
        b"s3cret",
        Algorithm::HS512,
        &["--sub", "alice", "--fresh"],
    );
    assert_eq!(claims["iss"], "https://auth.example", "iss in {claims}");
    assert_eq!(
        claims["aud"], "api",
        "aud is the first configured audience: {claims}"
    );
}

#[test]
fn freshgate_token_signs_with_a_secret_from_the_environment_or_a_file() {
    let env_config = edit(&[(
        "secret = \"s3cret\"",
        "secret_env = \"FRESHGATE_TEST_SECRET_9D2E\"",
    )]);
    let env = [("FRESHGATE_TEST_SECRET_9D2E", "env-secret")];
    let config = ConfigFile::new(&env_config);
    let (token, _, _) = run_token(&config, &["--sub", "carol"], &env);
    let claims = verify(&token, b"env-secret", Algorithm::HS256);
    assert_eq!(claims["sub"], "carol", "signed with the variable's value");

    config.write_beside("jwt.key", "file-secret\n");
    config.write(&edit(&[(
        "secret = \"s3cret\"",
        "secret_file = \"jwt.key\"",
    )]));
    let (token, _, _) = run_token(&config, &["--sub", "dave"], &[]);
    let claims = verify(&token, b"file-secret", Algorithm::HS256);
    assert_eq!(
        claims["sub"], "dave",
        "signed with the file's secret, line break stripped"
    );
}

#[test]
fn freshgate_token_refuses_a_bad_config_and_conflicting_flags() {
    let bad = ConfigFile::new(&edit(&[("\"access\"", "\"acess\"")]));
    let bad = bad.path.display().to_string();
    let out = freshgate(&["token", "--config", &bad, "--sub", "alice"]);
    assert_eq!(out.status.code(), Some(1), "a bad config is exit 1");
    assert!(
        out.stdout.is_empty(),
        "no token is printed for a bad config"
    );
    assert!(
        text(&out.stderr).contains("route[1].policy"),
        "the config error is printed: {}",
        text(&out.stderr)
    );
    let good = ConfigFile::new(VALID);
    let good = good.path.display().to_string();
    let out = freshgate(&[
        "token",
        "--config",
        &good,
        "--sub",
        "alice",
        "--refresh",
        "--fresh",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--refresh with --fresh is a usage error"
    );
    assert!(
        out.stdout.is_empty(),
        "no token is printed for a usage error"
    );
}

#[test]
fn weak_hmac_secrets_are_warned_about_by_check_but_still_accepted() {
    let config = |secret: &str, algorithms: &str| {
        format!("[upstreams]\napp = \"http://127.0.0.1:9\"\n\n[jwt]\nsecret = \"{secret}\"\n{algorithms}\n\n[[route]]\nprefix = \"/\"\npolicy = \"public\"\n")
    };
    let warnings = |text: &str| {
        freshgate::config::parse(text, "weak.toml", std::path::Path::new("."))
            .unwrap()
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    let common = warnings(&config("changeme", ""));
    assert_eq!(
        common.len(),
        1,
        "a common secret is warned about: {common:?}"
    );
    assert!(
        common[0].starts_with("weak.toml:5:10: jwt.secret: the secret is a common one"),
        "{common:?}"
    );
    let short = warnings(&config("0123456789abcdefghij", ""));
    assert!(
        short[0].contains("is 20 bytes, shorter than the 32 bytes"),
        "{short:?}"
    );
    let hs512 = warnings(&config(&"x7".repeat(20), "algorithms = [\"HS512\"]"));
    assert!(
        hs512[0].contains("shorter than the 64 bytes"),
        "HS512 needs 64: {hs512:?}"
    );
    assert!(
        warnings(&config(&"k9".repeat(24), "")).is_empty(),
        "48 random-looking bytes are fine"
    );
    let file = ConfigFile::new(&config("secret", ""));
    let out = freshgate_command()
        .args(["check", "--config"])
        .arg(&file.path)
        .output()
        .unwrap();
    assert!(out.status.success(), "a weak secret is accepted");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("jwt.secret: the secret is a common one"),
        "check prints the warning:\n{stderr}"
    );
}

#[test]
fn rsa_keys_shorter_than_2048_bits_are_refused_at_load_with_their_size() {
    let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys");
    for (key, source) in [
        ("public_key_file", "TEST-ONLY-rsa1024-public.pem"),
        ("jwks_file", "TEST-ONLY-rsa1024-jwks.json"),
    ] {
        let text = format!(
            "[upstreams]\napp = \"http://127.0.0.1:9\"\n\n[jwt]\nalgorithms = [\"RS256\"]\n{key} = \"{}\"\n\n[[route]]\nprefix = \"/\"\npolicy = \"access\"\n",
            keys.join(source).display()
        );
        let errors = parse(&text, "rsa.toml", std::path::Path::new("."))
            .err()
            .unwrap_or_else(|| panic!("{key}: a 1024-bit RSA key must be refused"));
        let text = errors.to_string();
        assert!(
            text.contains(&format!("jwt.{key}")) && text.contains("an RSA key of 1024 bits"),
            "{key}: the error names the key and its size:\n{text}"
        );
    }
}

#[test]
fn access_and_refresh_csrf_header_names_are_set_separately_or_together() {
    let config = |jwt: &str| {
        format!("[upstreams]\napp = \"http://127.0.0.1:9\"\n\n[jwt]\nsecret = \"{}\"\ntoken_location = [\"cookies\"]\n{jwt}\n\n[[route]]\nprefix = \"/\"\npolicy = \"access\"\n", "k9".repeat(24))
    };
    let names = |jwt: &str| {
        let snapshot = parse(&config(jwt), "csrf.toml", std::path::Path::new(".")).unwrap();
        let cookies = snapshot.auth.cookies();
        (
            cookies.csrf_header.to_string(),
            cookies.refresh_csrf_header.to_string(),
        )
    };
    assert_eq!(
        names(""),
        ("x-csrf-token".into(), "x-csrf-token".into()),
        "the library's defaults"
    );
    assert_eq!(
        names("csrf_header = \"X-XSRF\""),
        ("x-xsrf".into(), "x-xsrf".into()),
        "csrf_header sets both"
    );
    assert_eq!(
        names("csrf_header = \"X-XSRF\"\nrefresh_csrf_header = \"X-Refresh-CSRF\""),
        ("x-xsrf".into(), "x-refresh-csrf".into()),
        "refresh_csrf_header overrides it for refresh cookies"
    );
    assert_eq!(
        names("access_csrf_header = \"X-A\""),
        ("x-a".into(), "x-csrf-token".into()),
        "access_csrf_header alone"
    );
    let bad = parse(
        &config("refresh_csrf_header = \"X Bad\""),
        "csrf.toml",
        std::path::Path::new("."),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        bad.contains("jwt.refresh_csrf_header") && bad.contains("is not a valid header name"),
        "{bad}"
    );
}

#[test]
fn claim_requirements_and_acr_need_a_token_route_and_usable_values() {
    let public = |line: &str| {
        plus(&format!(
            "\n[[route]]\nprefix = \"/static\"\npolicy = \"public\"\n{line}\n"
        ))
    };
    let access = |line: &str| {
        edit(&[(
            "policy = \"access\"\n",
            &format!("policy = \"access\"\n{line}\n"),
        )])
    };
    #[rustfmt::skip]
    let rows = vec![
        bad("require on a public route", public("require = { roles = \"admin\" }"), "route[2].require", at("{ roles"), "a public route checks none"),
        bad("acr on a public route", public("acr = [\"mfa\"]"), "route[2].acr", at("[\"mfa\"]"), "a public route checks none"),
        bad("an empty require", access("require = {}"), "route[1].require", at("{}"), "requires nothing"),
        bad("a number to require", access("require = { level = 3 }"), "route[1].require.level", at("{ level"), "not a claim value"),
        bad("an empty list to require", access("require = { roles = [] }"), "route[1].require.roles", at("{ roles"), "not a claim value"),
        bad("an empty string to require", access("require = { roles = \"\" }"), "route[1].require.roles", at("{ roles"), "not a claim value"),
        bad("a list of numbers to require", access("require = { roles = [1] }"), "route[1].require.roles", at("{ roles"), "not a claim value"),
        bad("an empty claim path segment", access("require = { \"a..b\" = \"x\" }"), "route[1].require.a..b", at("{ \"a..b\""), "not a claim path"),
        bad("a scope with a quote", access("require = { scope = 'repo\"x' }"), "route[1].require.scope", at("{ scope"), "not an OAuth scope"),
        bad("an empty acr list", access("acr = []"), "route[1].acr", at("[]"), "no token would ever be accepted"),
        bad("an acr value with a space", access("acr = [\"m fa\"]"), "route[1].acr", at("\"m fa\""), "cannot be sent in acr_values"),
    ];
    assert_refused(rows);
}

#[test]
fn claim_requirements_read_dotted_and_nested_paths_alike() {
    let dir = TempDir::new().expect("temp dir");
    for line in [
        "require = { \"realm_access.roles\" = \"admin\", scope = \"a b\" }",
        "require = { realm_access.roles = [\"admin\"], scope = [\"a\", \"b\"] }",
        "acr = [\"mfa\", \"phr\"]",
    ] {
        let text = edit(&[(
            "policy = \"access\"\n",
            &format!("policy = \"access\"\n{line}\n"),
        )]);
        if let Err(errors) = parse(&text, "gateway.toml", dir.path()) {
            panic!("{line}: refused: {errors:?}");
        }
    }
}

#[test]
fn profile_names_and_profile_specific_keys_are_checked_with_the_position_and_the_fix() {
    let cases = [
        (
            "profile = \"flask\"",
            "jwt.profile: \"flask\" is not a profile",
            "fix: write one of \"fastapi-jwt-auth\", \"fastapi-jwt-auth-pyjwt2\", \"flask-jwt-extended\"",
        ),
        (
            "error_message_key = \"error\"",
            "jwt.error_message_key: error_message_key is not a setting of fastapi-jwt-auth 0.5.0 with PyJWT 1.7.1",
            "profile = \"flask-jwt-extended\"",
        ),
        (
            "profile = \"fastapi-jwt-auth-pyjwt2\"\nquery_string_name = \"t\"",
            "jwt.query_string_name: query_string_name is not a setting of async-fastapi-jwt-auth 0.6.6",
            "remove query_string_name",
        ),
        (
            "token_location = [\"headers\", \"query_string\"]",
            "jwt.token_location: the query_string location is not a setting of fastapi-jwt-auth 0.5.0",
            "fix: write token_location",
        ),
        (
            "denylist_token_checks = [\"access\"]\n[revocation]\ntoken_checks = [\"refresh\"]",
            "jwt.denylist_token_checks: the token types are set twice",
            "keep one of the two",
        ),
    ];
    for (jwt_extra, message, fix) in cases {
        let config = format!(
            "[upstreams]\napp = \"http://127.0.0.1:9\"\n\n[[route]]\npath = \"/\"\npolicy = \"access\"\n\n[jwt]\nsecret = \"a-secret-that-is-long-enough-for-hs256!\"\n{jwt_extra}\n"
        );
        let config = ConfigFile::new(&config);
        let file = config.path.display().to_string();
        let out = freshgate(&["check", "--config", &file]);
        let stderr = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{jwt_extra}: exit status; stderr: {stderr}"
        );
        assert!(
            stderr.contains(message),
            "{jwt_extra}: wanted {message:?} in:\n{stderr}"
        );
        assert!(
            stderr.contains(fix),
            "{jwt_extra}: wanted {fix:?} in:\n{stderr}"
        );
        assert!(
            stderr.contains(&format!("{file}:")),
            "{jwt_extra}: the position is named:\n{stderr}"
        );
    }
}

#[test]
fn check_names_the_flask_profile_and_its_body_key() {
    let config = "[upstreams]\napp = \"http://127.0.0.1:9\"\n\n[[route]]\npath = \"/\"\npolicy = \"access\"\n\n[jwt]\nsecret = \"a-secret-that-is-long-enough-for-hs256!\"\nprofile = \"flask-jwt-extended\"\nerror_message_key = \"error\"\ntoken_location = [\"query_string\", \"headers\"]\n";
    let config = ConfigFile::new(config);
    let file = config.path.display().to_string();
    let out = freshgate(&["check", "--config", &file]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(
        stdout.contains(r#"profile flask-jwt-extended (flask-jwt-extended 4.7.4 with PyJWT 2.15.1; bodies {"error": ...})"#),
        "{stdout}"
    );
}
