//! Running a table: every case sent directly to the app and through the gateway, and the two
//! answers judged against the case's expectation. A mismatch is a line saying what differs and
//! both answers; a table passes when there is none.

use http::header::WWW_AUTHENTICATE;
use serde_json::Value;
use std::collections::HashSet;

use crate::app::App;
use crate::case::{Case, Expect};
use crate::gateway::Stack;
use crate::support::forge::payload_of;
use crate::support::{now, Reply};

/// Sends every case to the app and through the gateway, and returns one line per mismatch.
async fn run_cases(app: &App, stack: &Stack, cases: &[Case]) -> Vec<String> {
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
        match judge(case, &direct, &proxied, forwarded) {
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

/// Sends every case of the `suite` table to both sides; every case must be judged right.
pub async fn assert_cases(suite: &str, app: &App, stack: &Stack, cases: Vec<Case>) {
    let mismatches = run_cases(app, stack, &cases).await;
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
            check_identity(case, proxied).map(|()| None)
        }
        Expect::Same | Expect::SameReading(_) | Expect::Anonymous => {
            if direct.status != proxied.status {
                return Err("different status".into());
            }
            let (Some(app_detail), Some(gw_detail)) = (detail_of(direct), detail_of(proxied))
            else {
                return Err("a rejection without a JSON string `detail`".into());
            };
            if comparable(&app_detail) != comparable(&gw_detail) {
                return Err(format!(
                    "different detail: app {app_detail:?}, freshgate {gw_detail:?}"
                ));
            }
            if comparable(&app_detail) == app_detail && direct.body != proxied.body {
                return Err("same detail but different body bytes".into());
            }
            if direct.headers.get("content-type") != proxied.headers.get("content-type") {
                return Err(format!(
                    "different content-type: app {:?}, freshgate {:?}",
                    direct.headers.get("content-type"),
                    proxied.headers.get("content-type")
                ));
            }
            if let Some(challenge) = direct.headers.get(WWW_AUTHENTICATE) {
                return Err(format!(
                    "the app itself sent WWW-Authenticate {challenge:?}: only freshgate adds one"
                ));
            }
            check_challenge(proxied)?;
            not_forwarded(forwarded).map(|()| None)
        }
        Expect::LibraryCrashes(status, detail) => {
            if direct.status != 500 {
                return Err(format!(
                    "expected the library to crash with 500 (its documented bug), it answered {}",
                    direct.status
                ));
            }
            freshgate_rejects(proxied, *status, *detail)?;
            not_forwarded(forwarded).map(|()| None)
        }
        Expect::LibraryAcceptsFreshgateRejects(status, detail) => {
            if !app_ok {
                return Err("expected the library to accept (Python truthiness)".into());
            }
            freshgate_rejects(proxied, *status, Some(detail))?;
            not_forwarded(forwarded).map(|()| None)
        }
    }
}

fn freshgate_rejects(proxied: &Reply, status: u16, detail: Option<&str>) -> Result<(), String> {
    if proxied.status != status {
        return Err(format!("freshgate should answer {status}"));
    }
    match (detail_of(proxied), detail) {
        (None, _) => Err("freshgate's answer has no JSON string `detail`".into()),
        (Some(got), _) if got.is_empty() => Err("freshgate's `detail` is empty".into()),
        (Some(got), Some(want)) if got != want => {
            Err(format!("freshgate's detail should be {want:?}"))
        }
        _ => match proxied.headers.get("content-type") {
            Some(v) if v == "application/json" => check_challenge(proxied),
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
fn check_challenge(proxied: &Reply) -> Result<(), String> {
    let detail = detail_of(proxied).unwrap_or_default();
    let want = match proxied.status.as_u16() {
        401 if detail.starts_with("Missing cookie ") || detail.ends_with(" Header") => {
            Some("Bearer".to_string())
        }
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

fn detail_of(reply: &Reply) -> Option<String> {
    let body: Value = serde_json::from_slice(&reply.body).ok()?;
    body.get("detail")?.as_str().map(str::to_string)
}

/// The upstream saw the identity of the token the library read (by default the first
/// Authorization header, split on whitespace; for cookies the case names it), or no identity at
/// all when no token was read.
fn check_identity(case: &Case, proxied: &Reply) -> Result<(), String> {
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
    let got = (
        saw("x-auth-subject"),
        saw("x-auth-fresh"),
        saw("x-auth-token-type"),
    );
    let token = match &case.expect {
        Expect::SameReading(token) => Some(token.clone()),
        Expect::Anonymous => None,
        Expect::Same | Expect::LibraryCrashes(..) | Expect::LibraryAcceptsFreshgateRejects(..) => {
            library_token(&case.request.headers)
        }
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
            let token_type = claims
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
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

/// The token the library reads: the first Authorization header (latin-1, as Starlette decodes
/// it), split on whitespace, second part.
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
