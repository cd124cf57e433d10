//! Path canonicalisation (`freshgate::path::canonicalize`) and route lookup on arbitrary
//! request targets. Never panics, and when a path is accepted:
//!
//! - canonicalising it again changes nothing;
//! - it starts with `/` and has no `//`, no `.` or `..` segment, no encoded slash or backslash
//!   (`%2F`, `%5C`, any case), no raw backslash or control character, and every `%` starts an
//!   upper-case escape of a character that must stay encoded;
//! - the route table picks the route a brute-force reading of the matching contract in
//!   `src/routes.rs` picks.
//!
//! Input: `<METHOD> <path>` as UTF-8; without a space the whole input is the path and the
//! method is `GET`.

#![no_main]

use std::sync::OnceLock;

use freshgate::aliases::{for_each_alias, AliasSet};
use freshgate::path::canonicalize;
use freshgate::routes::{Matcher, Route, RouteTable};
use http::Method;
use libfuzzer_sys::fuzz_target;

/// The example app's route table (tests/fixtures/routes.toml, shared with the tests and the load
/// harness), then routes for the corners of the lookup: a literal segment beside a template,
/// templates at either end, the root, a trailing slash, nested and method-limited prefixes.
const CONFIG: &str = concat!(
    r#"
[upstreams]
app = "http://127.0.0.1:9"

[jwt]
secret = "fuzz-secret-not-for-production"

"#,
    include_str!("../../tests/fixtures/routes.toml"),
    r#"
[[route]]
path = "/repos/new/{repo}"
policy = "optional"

[[route]]
path = "/a/{x}/b"
methods = ["PUT", "PATCH"]
policy = "refresh"

[[route]]
path = "/{any}/b/{y}"
policy = "access"

[[route]]
path = "/"
methods = ["GET"]
policy = "public"

[[route]]
path = "/dir/"
policy = "optional"

[[route]]
prefix = "/static/private"
policy = "access"

[[route]]
prefix = "/api"
methods = ["POST"]
policy = "fresh"

[[route]]
prefix = "/"
methods = ["GET", "HEAD", "OPTIONS"]
policy = "public"
"#
);

fn table() -> &'static RouteTable {
    static SNAPSHOT: OnceLock<freshgate::Snapshot> = OnceLock::new();
    &SNAPSHOT
        .get_or_init(|| {
            freshgate::config::parse(CONFIG, "fuzz.toml", std::path::Path::new("."))
                .unwrap_or_else(|e| panic!("the fuzz target's own config is invalid:\n{e}"))
        })
        .routes
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn upper_hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn check_canonical(input: &str, path: &str) {
    assert!(path.starts_with('/'), "{input:?} -> {path:?}: not absolute");
    for bad in ["//", "/./", "/../"] {
        assert!(!path.contains(bad), "{input:?} -> {path:?}: contains {bad}");
    }
    for bad in ["/.", "/.."] {
        assert!(!path.ends_with(bad), "{input:?} -> {path:?}: ends in {bad}");
    }
    let lower = path.to_ascii_lowercase();
    for bad in ["%2f", "%5c"] {
        assert!(
            !lower.contains(bad),
            "{input:?} -> {path:?}: contains {bad}"
        );
    }
    let bytes = path.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        assert!(
            b != b'\\' && b >= 0x20 && b != 0x7f,
            "{input:?} -> {path:?}: byte 0x{b:02x}"
        );
        if b == b'%' {
            let escape = bytes
                .get(i + 1)
                .copied()
                .and_then(upper_hex)
                .zip(bytes.get(i + 2).copied().and_then(upper_hex));
            let Some((hi, lo)) = escape else {
                panic!("{input:?} -> {path:?}: '%' at {i} is not an upper-case escape");
            };
            let decoded = hi << 4 | lo;
            assert!(
                !is_unreserved(decoded) && decoded >= 0x20 && decoded != 0x7f,
                "{input:?} -> {path:?}: %{hi:X}{lo:X} should have been decoded or refused"
            );
        }
    }
    assert_eq!(
        canonicalize(path).as_deref(),
        Ok(path),
        "{input:?} -> {path:?}: canonicalising twice changed it"
    );
}

/// The matching contract of `src/routes.rs`, read naively: among the routes that allow the
/// method, `path` routes first (literal segments before `{param}` left to right), then the
/// longest `prefix`; for the same pattern, a route listing the method before (for `HEAD`) one
/// listing `GET`, before one listing none.
fn reference_lookup<'t>(routes: &'t [Route], method: &Method, path: &str) -> Option<&'t Route> {
    let rank = |r: &Route| match () {
        () if r.methods.contains(method) => 0u8,
        () if method == Method::HEAD && r.methods.contains(&Method::GET) => 1,
        () => 2,
    };
    let allowed = |r: &Route| r.methods.is_empty() || rank(r) < 2;
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    let by_path = routes
        .iter()
        .filter(|r| allowed(r))
        .filter_map(|r| {
            let Matcher::Path(pattern) = &r.matcher else {
                return None;
            };
            let pattern: Vec<&str> = pattern[1..].split('/').collect();
            if pattern.len() != segments.len() {
                return None;
            }
            let mut key = Vec::with_capacity(pattern.len());
            for (p, s) in pattern.iter().zip(&segments) {
                match p.starts_with('{') {
                    true if s.is_empty() => return None,
                    true => key.push(1u8),
                    false if p == s => key.push(0),
                    false => return None,
                }
            }
            Some(((key, rank(r)), r))
        })
        .min_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, r)| r);
    if by_path.is_some() {
        return by_path;
    }
    routes
        .iter()
        .filter(|r| allowed(r))
        .filter_map(|r| {
            let Matcher::Prefix(prefix) = &r.matcher else {
                return None;
            };
            let covers = prefix == "/"
                || path == prefix
                || path
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('/'));
            covers.then_some(((std::cmp::Reverse(prefix.len()), rank(r)), r))
        })
        .min_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, r)| r)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (method, target) = match text.split_once(' ') {
        Some((m, p)) => (Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET), p),
        None => (Method::GET, text),
    };
    let table = table();
    // Lookup expects a canonical path, but must not panic on anything else either.
    let _ = table.lookup(&method, target);
    let Ok(path) = canonicalize(target) else {
        return;
    };
    check_canonical(target, &path);
    let got = table.lookup(&method, &path).map(|r| r.index);
    let want = reference_lookup(table.routes(), &method, &path).map(|r| r.index);
    assert_eq!(got, want, "{method} {path:?}: route (by config index)");
    // The alias-aware lookup never panics, answers the same route when it answers one, and
    // that route's rule implies the rule of every route an alias of the path reaches.
    if let Ok(Some(judged)) = table.lookup_aliased(&method, &path, AliasSet::ALL) {
        assert_eq!(Some(judged.index), got, "{method} {path:?}: aliased lookup, same route");
        let mut buf = String::new();
        let _ = for_each_alias(&path, AliasSet::ALL, &mut buf, |alias| {
            if let Some(other) = table.lookup(&method, alias) {
                assert!(
                    judged.rule.implies(&other.rule),
                    "{method} {path:?} judged by {} but its alias {alias:?} reaches {}",
                    judged.name,
                    other.name
                );
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
    }
});
