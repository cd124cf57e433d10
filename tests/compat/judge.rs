//! Running a table: every case sent directly to the app and through the gateway, and the two
//! answers judged against the case's expectation. A mismatch is a line saying what differs and
//! both answers; a table passes when there is none. What differs between the libraries a suite
//! mirrors (the body's key, which rejections mean "no token", how the library reads the
//! Authorization header, what counts as a refresh token) is a [`Library`].

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::{Map, Value};
use std::collections::HashSet;

use crate::app::App;
use crate::case::{Case, Expect};
use crate::gateway::Stack;
use crate::support::forge::payload_of;
use crate::support::{now, Reply};

/// A request's headers as a case holds them: names and raw values, in order.
pub type Headers = [(&'static str, Vec<u8>)];

/// What the judge needs to know of the library a suite mirrors.
pub struct Library {
    /// The key of the rejection body's one string: `detail`, `msg`.
    pub message_key: &'static str,
    /// The 401 texts that mean no token was sent, which freshgate challenges with a plain
    /// `Bearer` (any other 401 gets `error="invalid_token"`).
    pub no_token: fn(&str) -> bool,
    /// The token the library reads from these request headers, for an [`Expect::Same`]
    /// acceptance (the upstream must see its identity).
    pub header_token: fn(&Headers) -> Option<String>,
    /// The `X-Auth-Token-Type` freshgate reports for a token with these claims.
    pub token_type: fn(&Map<String, Value>) -> String,
}

/// fastapi-jwt-auth 0.5.0 (tests/compat).
pub const FASTAPI_JWT_AUTH: Library = Library {
    message_key: "detail",
    no_token: |detail| detail.starts_with("Missing cookie ") || detail.ends_with(" Header"),
    header_token: library_token,
    token_type: |claims| {
        claims
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    },
};

/// Sends every case to the app and through the gateway, and returns one line per mismatch.
async fn run_cases(library: &Library, app: &App, stack: &Stack, cases: &[Case]) -> Vec<String> {
    let mut names = HashSet::new();
    for case in cases {
        assert!(
            names.insert(case.name.clone()),
            "duplicate case name: {}",
            case.name
        );
    }
    let mut mismatches = Vec::new();
    for case in cases {
        let request = &case.request;
        let direct = request.send(app.addr).await;
        let hits_before = stack.upstream.hits();
        let proxied = request.send(stack.gateway.addr).await;
        let forwarded = stack.upstream.hits() - hits_before;
        match judge(library, case, &direct, &proxied, forwarded) {
            Ok(None) => {}
            Ok(Some(note)) => eprintln!("note: {}: {note}", case.name),
            Err(why) => mismatches.push(format!(
                "{}\n    request:   {} {} {}\n    problem:   {why}\n    app:       {} {}\n    freshgate: {} {}",
                case.name,
                request.method,
                request.path,
                show_headers(&request.headers),
                direct.status.as_u16(),
                show(&direct.body),
                proxied.status.as_u16(),
                show(&proxied.body),
            )),
        }
    }
    mismatches
}

/// Sends every case of the `suite` table to both sides; every case must be judged right, as
/// fastapi-jwt-auth's.
pub async fn assert_cases(suite: &str, app: &App, stack: &Stack, cases: Vec<Case>) {
    assert_cases_of(&FASTAPI_JWT_AUTH, suite, app, stack, cases).await;
}

/// [`assert_cases`] for an app of another `library`.
pub async fn assert_cases_of(
    library: &Library,
    suite: &str,
    app: &App,
    stack: &Stack,
    cases: Vec<Case>,
) {
    let mismatches = run_cases(library, app, stack, &cases).await;
    assert!(
        mismatches.is_empty(),
        "{suite}: {} of {} cases disagree:\n\n{}\n",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n\n")
    );
}

/// `Ok(Some(note))` passes with something worth printing.
fn judge(
    library: &Library,
    case: &Case,
    direct: &Reply,
    proxied: &Reply,
    forwarded: usize,
) -> Result<Option<String>, String> {
    let app_ok = direct.status.is_success();
    let gw_ok = proxied.status.is_success();
    match &case.expect {
        Expect::Same | Expect::SameReading(_) | Expect::Anonymous if app_ok => {
            if !gw_ok || forwarded != 1 {
                return Err(format!(
                    "the app accepts, freshgate does not forward (forwarded {forwarded} time(s))"
                ));
            }
            check_identity(library, case, proxied).map(|()| None)
        }
        Expect::Same | Expect::SameReading(_) | Expect::Anonymous => {
            same_rejection(library, case, direct, proxied)?;
            not_forwarded(forwarded).map(|()| None)
        }
        Expect::LibraryCrashes(status, detail) => {
            if direct.status != 500 {
                return Err(format!(
                    "expected the library to crash with 500 (its documented bug), it answered {}",
                    direct.status
                ));
            }
            freshgate_rejects(library, proxied, *status, *detail)?;
            not_forwarded(forwarded).map(|()| None)
        }
        Expect::LibraryAcceptsFreshgateRejects(status, detail) => {
            if !app_ok {
                return Err("expected the library to accept (Python truthiness)".into());
            }
            freshgate_rejects(library, proxied, *status, Some(detail))?;
            not_forwarded(forwarded).map(|()| None)
        }
        Expect::BothRefuseOtherText(status, prefix) => {
            if direct.status != *status {
                return Err(format!("expected the library to refuse with {status}"));
            }
            freshgate_rejects(library, proxied, *status, None)?;
            match message_of(library, proxied) {
                Some(got) if got.starts_with(prefix) => not_forwarded(forwarded).map(|()| None),
                got => Err(format!(
                    "freshgate's message {got:?} should start with {prefix:?}"
                )),
            }
        }
    }
}

/// The app rejects: freshgate must answer the same status, message (byte for byte where the
/// message is compared whole) and content type, plus its own challenge.
fn same_rejection(
    library: &Library,
    case: &Case,
    direct: &Reply,
    proxied: &Reply,
) -> Result<(), String> {
    if direct.status != proxied.status {
        return Err("different status".into());
    }
    if direct.headers.get(CONTENT_TYPE) != proxied.headers.get(CONTENT_TYPE) {
        return Err(format!(
            "different content-type: app {:?}, freshgate {:?}",
            direct.headers.get(CONTENT_TYPE),
            proxied.headers.get(CONTENT_TYPE)
        ));
    }
    if let Some(challenge) = direct.headers.get(WWW_AUTHENTICATE) {
        return Err(format!(
            "the app itself sent WWW-Authenticate {challenge:?}: only freshgate adds one"
        ));
    }
    if case.request.method == "HEAD" {
        // No body either way: the length of the one it stands for must agree.
        if direct.headers.get(CONTENT_LENGTH) != proxied.headers.get(CONTENT_LENGTH) {
            return Err("HEAD: different content-length".into());
        }
        return Ok(());
    }
    let key = library.message_key;
    let (Some(app_message), Some(gw_message)) =
        (message_of(library, direct), message_of(library, proxied))
    else {
        return Err(format!("a rejection without a JSON string `{key}`"));
    };
    if comparable(&app_message) != comparable(&gw_message) {
        return Err(format!(
            "different {key}: app {app_message:?}, freshgate {gw_message:?}"
        ));
    }
    if comparable(&app_message) == app_message && direct.body != proxied.body {
        return Err(format!("same {key} but different body bytes"));
    }
    check_challenge(library, proxied)
}

fn freshgate_rejects(
    library: &Library,
    proxied: &Reply,
    status: u16,
    detail: Option<&str>,
) -> Result<(), String> {
    if proxied.status != status {
        return Err(format!("freshgate should answer {status}"));
    }
    let key = library.message_key;
    match (message_of(library, proxied), detail) {
        (None, _) => Err(format!("freshgate's answer has no JSON string `{key}`")),
        (Some(got), _) if got.is_empty() => Err(format!("freshgate's `{key}` is empty")),
        (Some(got), Some(want)) if got != want => {
            Err(format!("freshgate's {key} should be {want:?}"))
        }
        _ => match proxied.headers.get(CONTENT_TYPE) {
            Some(v) if v == "application/json" => check_challenge(library, proxied),
            other => Err(format!(
                "freshgate's content-type is {other:?}, not application/json"
            )),
        },
    }
}

/// freshgate's rejection carries the documented `WWW-Authenticate` challenge
/// (`AuthError::challenge`), which the library does not send; the body stays the library's. A
/// 401 without a token gets `Bearer`; a non-fresh token the RFC 9470 step-up challenge (no
/// `max_age` here: the compat routes set none); any other 401 `error="invalid_token"` with the
/// detail; other statuses none.
fn check_challenge(library: &Library, proxied: &Reply) -> Result<(), String> {
    let detail = message_of(library, proxied).unwrap_or_default();
    let want = match proxied.status.as_u16() {
        401 if (library.no_token)(&detail) => Some("Bearer".to_string()),
        401 if detail == "Fresh token required" => Some(
            r#"Bearer error="insufficient_user_authentication", error_description="Fresh token required""#
                .to_string(),
        ),
        401 => Some(format!(
            r#"Bearer error="invalid_token", error_description="{detail}""#
        )),
        _ => None,
    };
    let got: Vec<_> = proxied
        .headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    match (want, got.as_slice()) {
        (None, []) => Ok(()),
        (Some(want), [got]) if *got == want => Ok(()),
        (want, _) => Err(format!(
            "freshgate's WWW-Authenticate is {got:?}, the documented challenge is {want:?}"
        )),
    }
}

fn not_forwarded(forwarded: usize) -> Result<(), String> {
    match forwarded {
        0 => Ok(()),
        n => Err(format!(
            "a rejected request reached the upstream {n} time(s)"
        )),
    }
}

/// The part of a `detail` both sides must agree on. After `Invalid header string:` and
/// `Invalid payload string:` comes Python's JSON error wording ("Expecting value: line 1 column 1
/// (char 0)"), which freshgate does not copy (it has its own parser's text), so only the prefix up
/// to and including the colon is compared.
fn comparable(detail: &str) -> &str {
    for prefix in ["Invalid header string:", "Invalid payload string:"] {
        if detail.starts_with(prefix) {
            return prefix;
        }
    }
    detail
}

/// The rejection body's one string, under the library's key.
fn message_of(library: &Library, reply: &Reply) -> Option<String> {
    let body: Value = serde_json::from_slice(&reply.body).ok()?;
    body.get(library.message_key)?.as_str().map(str::to_string)
}

/// The upstream saw the identity of the token the library read (by default the one in the
/// Authorization header, as the library reads it; for cookies the case names it), or no identity
/// at all when no token was read.
fn check_identity(library: &Library, case: &Case, proxied: &Reply) -> Result<(), String> {
    let echo: Value = serde_json::from_slice(&proxied.body)
        .map_err(|_| "the forwarded answer is not the echo upstream's".to_string())?;
    let saw = |name: &str| -> Vec<String> {
        echo["headers"]
            .as_array()
            .map(|pairs| {
                pairs
                    .iter()
                    .filter(|pair| pair[0].as_str() == Some(name))
                    .map(|pair| pair[1].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut subject = saw("x-auth-subject");
    if saw("x-auth-subject-encoding") == ["percent"] {
        subject = subject.iter().map(|s| percent_decoded(s)).collect();
    }
    let got = (subject, saw("x-auth-fresh"), saw("x-auth-token-type"));
    let token = match &case.expect {
        Expect::SameReading(token) => Some(token.clone()),
        Expect::Anonymous => None,
        Expect::Same
        | Expect::LibraryCrashes(..)
        | Expect::LibraryAcceptsFreshgateRejects(..)
        | Expect::BothRefuseOtherText(..) => (library.header_token)(&case.request.headers),
    };
    let want = match token {
        None => (vec![], vec![], vec![]),
        Some(token) => {
            let claims = payload_of(&token).ok_or("cannot read the token's payload")?;
            let subject = match claims.get("sub") {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Null) | None => vec![],
                Some(other) => vec![other.to_string()],
            };
            // freshgate's documented rule: JSON true, or a "fresh until" epoch not yet passed.
            let fresh = match claims.get("fresh") {
                Some(Value::Bool(true)) => true,
                Some(Value::Number(n)) => n.as_f64().is_some_and(|t| t >= now() as f64),
                _ => false,
            };
            let token_type = (library.token_type)(&claims);
            (subject, vec![fresh.to_string()], vec![token_type])
        }
    };
    if got != want {
        return Err(format!(
            "the upstream saw (X-Auth-Subject, X-Auth-Fresh, X-Auth-Token-Type) = {got:?}, expected {want:?}"
        ));
    }
    Ok(())
}

/// `X-Auth-Subject` sent with `X-Auth-Subject-Encoding: percent`, decoded (`%XX` bytes, UTF-8).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = text
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The token fastapi-jwt-auth reads: the first Authorization header (latin-1, as Starlette
/// decodes it), split on whitespace, second part.
fn library_token(headers: &[(&'static str, Vec<u8>)]) -> Option<String> {
    let (_, value) = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))?;
    let text: String = value.iter().map(|&b| char::from(b)).collect();
    let parts: Vec<&str> = text.split_whitespace().collect();
    match parts.as_slice() {
        [_, token] => Some(token.to_string()),
        _ => None,
    }
}

pub fn show(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.chars().count() {
        n if n > 400 => format!(
            "{}... ({n} chars)",
            text.chars().take(400).collect::<String>()
        ),
        _ => text.into_owned(),
    }
}

fn show_headers(headers: &[(&'static str, Vec<u8>)]) -> String {
    if headers.is_empty() {
        return "(no headers)".into();
    }
    headers
        .iter()
        .map(|(n, v)| {
            let v = String::from_utf8_lossy(v);
            let v = match v.chars().count() {
                n if n > 60 => format!("{}...", v.chars().take(60).collect::<String>()),
                _ => v.into_owned(),
            };
            format!("[{n}: {v:?}]")
        })
        .collect::<Vec<_>>()
        .join(" ")
}
