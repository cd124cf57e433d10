//! Property tests (issue 4): canonicalising a path is idempotent and only ever yields an
//! unambiguous path, and no spelling of a path under a `fresh` route gets a non-fresh token
//! past the decision, neither in the pure functions nor through real sockets.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod support;

use std::sync::OnceLock;

use freshgate::auth::Policy;
use freshgate::auth::{decide, AuthError, Outcome, TokenType};
use freshgate::path::canonicalize;
use freshgate::Snapshot;
use http::{HeaderMap, HeaderValue, Method};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestRunner;
use support::*;

// ---------------------------------------------------------------------------------------------
// Canonical paths

/// Any text: arbitrary characters (half of it starting with `/` so that it gets past the first
/// check), and arbitrary characters mixed with path pieces, since uniformly random text almost
/// never holds a valid `%XX` escape or a dot segment.
fn any_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        select(path_pieces()).prop_map(String::from),
        any::<char>().prop_map(String::from),
    ];
    prop_oneof![
        ".*",
        "/.*",
        prop::collection::vec(piece, 0..40).prop_map(|p| format!("/{}", p.concat())),
    ]
}

/// Any ASCII text (what most clients send), half of it starting with `/`.
fn any_ascii() -> impl Strategy<Value = String> {
    prop_oneof!["[\\x00-\\x7f]*", "/[\\x00-\\x7f]*"]
}

/// The path-ish alphabet: `/`, `.`, `%`, hex digits, `2e`, `2f`, `5c`, letters, `~`, with the
/// separators weighted up, and a few whole escapes (a lone `%` rarely meets two hex digits).
fn path_pieces() -> Vec<&'static str> {
    const SINGLES: &str = "0123456789abcdefABCDEFgxzGXZ~-_";
    let mut pieces = vec![
        "/", "/", "/", ".", ".", "%", "%", "2e", "2E", "2f", "2F", "5c", "5C", "%2e", "%2E", "%20",
        "%3a", "%41", "%7E", "%c3%A9",
    ];
    pieces.extend((0..SINGLES.len()).map(|i| &SINGLES[i..i + 1]));
    pieces
}

/// Strings over a path-ish alphabet, so that dot segments, repeated slashes and escapes (valid,
/// invalid, encoded dots and slashes) are common rather than rare.
fn path_like() -> impl Strategy<Value = String> {
    let pieces = prop::collection::vec(select(path_pieces()), 0..40);
    (any::<bool>(), pieces).prop_map(|(rooted, pieces)| {
        let body = pieces.concat();
        match rooted {
            true => format!("/{body}"),
            false => body,
        }
    })
}

/// The ways a canonical path could still be ambiguous; `None` when it is not.
fn ambiguity(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return Some("does not start with '/'".into());
    }
    for bad in ["/../", "/./", "//"] {
        if path.contains(bad) {
            return Some(format!("contains {bad:?}"));
        }
    }
    for bad in ["/..", "/."] {
        if path.ends_with(bad) {
            return Some(format!("ends in {bad:?}"));
        }
    }
    let lower = path.to_ascii_lowercase();
    for bad in ["%2f", "%5c"] {
        if lower.contains(bad) {
            return Some(format!(
                "contains an encoded slash or backslash ({bad:?}, any case)"
            ));
        }
    }
    None
}

proptest! {
    #[test]
    fn canonicalising_any_ascii_string_twice_changes_nothing(input in any_ascii()) {
        if let Ok(once) = canonicalize(&input) {
            let twice = canonicalize(&once);
            prop_assert_eq!(twice.as_deref(), Ok(&*once), "input {:?}", input);
        }
    }

    // Fails today (minimal case found: "/¡%20"): `path::decode_unreserved` copies the bytes of
    // a path that needs rewriting one by one as `char`s, so each UTF-8 byte of a non-ASCII
    // character (which hyper accepts in a request target) becomes a character of its own on
    // every pass: "/é%20" -> "/\u{c3}\u{a9}%20" -> "/\u{c3}\u{83}\u{c2}\u{a9}%20". Over the
    // wire, `GET /café/./x` reaches the upstream as `/cafÃ©/x`.
    #[test]
    fn canonicalising_any_string_twice_changes_nothing(input in any_text()) {
        if let Ok(once) = canonicalize(&input) {
            let twice = canonicalize(&once);
            prop_assert_eq!(twice.as_deref(), Ok(&*once), "input {:?}", input);
        }
    }

    #[test]
    fn canonicalising_path_like_strings_twice_changes_nothing(input in path_like()) {
        if let Ok(once) = canonicalize(&input) {
            let twice = canonicalize(&once);
            prop_assert_eq!(twice.as_deref(), Ok(&*once), "input {:?}", input);
        }
    }

    #[test]
    fn a_canonical_path_has_no_dot_segment_no_double_slash_and_no_encoded_slash(
        input in prop_oneof![any_text(), path_like()],
    ) {
        if let Ok(path) = canonicalize(&input) {
            prop_assert_eq!(ambiguity(&path), None, "{:?} -> {:?}", input, path);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Spellings of a path under a `fresh` route

/// The route table of these properties: the example app's ([`EXAMPLE_ROUTES`], where
/// `/protected-fresh` and `DELETE /repos/{owner}/{repo}` are `fresh`) above a catch-all public
/// prefix, so a spelling that escaped its route would be forwarded. `{upstream}` is the echo
/// upstream in the socket test.
fn fresh_routes() -> String {
    format!("{EXAMPLE_ROUTES}\n[[route]]\nprefix = \"/\"\npolicy = \"public\"\n")
}

/// How a character of a segment is written (`how` in `0..8`): as is half the time, else
/// percent-encoded with each hex digit in either case.
fn spell_char(c: char, how: u8) -> String {
    let byte = c as u32;
    let (upper, lower) = (format!("{byte:02X}"), format!("{byte:02x}"));
    match how {
        0..=3 => c.to_string(),
        4 => format!("%{lower}"),
        5 => format!("%{upper}"),
        6 => format!("%{}{}", &upper[..1], &lower[1..]),
        _ => format!("%{}{}", &lower[..1], &upper[1..]),
    }
}

/// A segment of unreserved characters, each written the way `how` says (plain when `how` runs
/// out).
fn spell_segment(segment: &str, how: &[u8]) -> String {
    segment
        .chars()
        .enumerate()
        .map(|(i, c)| spell_char(c, how.get(i).copied().unwrap_or(0)))
        .collect()
}

/// `.` as `.`, `%2e` or `%2E`.
fn spell_dot(how: u8) -> &'static str {
    [".", "%2e", "%2E"][usize::from(how % 3)]
}

/// Something inserted before a segment that canonicalisation must remove.
#[derive(Debug, Clone)]
enum Noise {
    /// An extra `/`.
    Slash,
    /// A `./` segment (the dot spelled somehow).
    Dot(u8),
    /// `<name>/../`, the name and the dots spelled somehow.
    Climb(String, Vec<u8>, u8, u8),
}

fn noise() -> impl Strategy<Value = Noise> {
    let name = prop_oneof![
        select(vec!["static", "repos", "protected-fresh", "x", "..."]).prop_map(String::from),
        "[A-Za-z0-9._~-]{1,8}",
    ]
    .prop_filter("a dot segment is not a name", |s| s != "." && s != "..");
    prop_oneof![
        Just(Noise::Slash),
        (0u8..3).prop_map(Noise::Dot),
        (name, prop::collection::vec(0u8..8, 16), 0u8..3, 0u8..3)
            .prop_map(|(n, how, a, b)| Noise::Climb(n, how, a, b)),
    ]
}

/// A request governed by a `fresh` route of [`fresh_routes`]: its method, its canonical path
/// and a random spelling of that path (percent-encoded unreserved characters in any case,
/// `./`, `x/../` and repeated slashes inserted).
fn fresh_request() -> impl Strategy<Value = (Method, String, String)> {
    let segment =
        "[A-Za-z0-9._~-]{1,8}".prop_filter("dot segments are resolved", |s| s != "." && s != "..");
    let target = prop_oneof![
        select(vec![
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
        ])
        .prop_map(|m| (m, vec!["protected-fresh".to_string()])),
        (segment.clone(), segment)
            .prop_map(|(o, r)| (Method::DELETE, vec!["repos".to_string(), o, r])),
    ];
    target.prop_flat_map(|(method, segments)| {
        let n = segments.len();
        (
            Just(method),
            Just(segments),
            prop::collection::vec(prop::collection::vec(0u8..8, 16), n),
            prop::collection::vec(prop::collection::vec(noise(), 0..3), n),
        )
            .prop_map(|(method, segments, hows, noises)| {
                let canonical: String = segments.iter().map(|s| format!("/{s}")).collect();
                let mut spelling = String::new();
                for ((segment, how), noise) in segments.iter().zip(&hows).zip(&noises) {
                    for n in noise {
                        match n {
                            Noise::Slash => spelling.push('/'),
                            Noise::Dot(d) => {
                                spelling.push('/');
                                spelling.push_str(spell_dot(*d));
                            }
                            Noise::Climb(name, how, a, b) => {
                                spelling.push('/');
                                spelling.push_str(&spell_segment(name, how));
                                spelling.push('/');
                                spelling.push_str(spell_dot(*a));
                                spelling.push_str(spell_dot(*b));
                            }
                        }
                    }
                    spelling.push('/');
                    spelling.push_str(&spell_segment(segment, how));
                }
                (method, canonical, spelling)
            })
    })
}

struct Fixture {
    snapshot: Snapshot,
    stale: HeaderMap,
    fresh: HeaderMap,
}

fn authorization(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(&format!("Bearer {token}")).expect("a token is ASCII");
    headers.insert(http::header::AUTHORIZATION, value);
    headers
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let text = fresh_routes().replace("{upstream}", "127.0.0.1:9");
        let snapshot =
            freshgate::config::parse(&text, "properties.toml", std::path::Path::new("."))
                .unwrap_or_else(|e| panic!("the properties' config is invalid:\n{e}"));
        Fixture {
            snapshot,
            stale: authorization(&token("alice", TokenType::Access, false)),
            fresh: authorization(&token("alice", TokenType::Access, true)),
        }
    })
}

fn now_ms() -> i64 {
    now() * 1000
}

proptest! {
    #[test]
    fn every_spelling_of_a_fresh_path_is_rejected_for_a_non_fresh_access_token(
        (method, canonical, spelling) in fresh_request(),
    ) {
        let f = fixture();
        let path = canonicalize(&spelling);
        prop_assert_eq!(path.as_deref(), Ok(canonical.as_str()), "spelling {:?}", spelling);
        let route = f.snapshot.routes.lookup(&method, &canonical);
        let policy = route.map(|r| r.policy());
        prop_assert_eq!(policy, Some(Policy::Fresh), "{} {:?}", method, spelling);
        let decision = decide(&f.snapshot.auth, Policy::Fresh, &f.stale, now_ms());
        prop_assert!(
            matches!(decision, Err(AuthError::NotFresh)),
            "{} {:?} with a non-fresh token: {:?}", method, spelling, decision
        );
        // The control: the same request with a fresh token goes on, so the rejection above is
        // the freshness check and not some other failure.
        let decision = decide(&f.snapshot.auth, Policy::Fresh, &f.fresh, now_ms());
        prop_assert!(
            matches!(decision, Ok(Outcome::Authenticated(_))),
            "{} {:?} with a fresh token: {:?}", method, spelling, decision
        );
    }
}

#[test]
fn no_spelling_of_a_fresh_path_reaches_the_upstream_with_a_non_fresh_token() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (upstream, gateway) = runtime.block_on(start_with_echo(&fresh_routes()));
    let stale = bearer(&token("alice", TokenType::Access, false));
    let mut runner = TestRunner::new(ProptestConfig::with_cases(32));
    runner
        .run(&fresh_request(), |(method, _canonical, spelling)| {
            let reply = runtime.block_on(send(
                gateway.addr,
                method.as_str(),
                &spelling,
                &[(stale.0, &stale.1)],
            ));
            prop_assert_eq!(reply.status, 401, "{} {:?}", method, spelling);
            if method != Method::HEAD {
                prop_assert_eq!(reply.detail(), "Fresh token required", "{:?}", spelling);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        upstream.hits(),
        0,
        "a spelling of a fresh path reached the upstream"
    );
    // The control: the catch-all public prefix does forward, so the zero above means something.
    let reply = runtime.block_on(send(gateway.addr, "GET", "/static/control", &[]));
    assert_eq!(reply.status, 200, "the public prefix forwards");
    assert_eq!(upstream.hits(), 1, "the upstream counts what it receives");
}
