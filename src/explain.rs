//! `freshgate explain` and `freshgate check`'s route table: what the gateway would do with one
//! request, computed by the same [`pipeline::evaluate`] and [`headers::rewrite_request`] the
//! server runs (parse -> evaluate -> rewrite -> [`Report`]), without serving or contacting an
//! upstream; and the route table in the order it is matched.

use std::fmt;
use std::path::Path;

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};

use crate::auth::{self, AuthError, AuthSettings, Profile, Revocation};
use crate::config::{Snapshot, WebSocketReject};
use crate::error::GatewayError;
use crate::headers::{self, Forward};
use crate::pipeline::{self, Evaluation, RequestHead};
use crate::revocation;
use crate::routes::{Matcher, Route};

/// The client address `explain` assumes, for `X-Forwarded-For`.
const CLIENT_IP: HeaderValue = HeaderValue::from_static("127.0.0.1");
/// The request id `explain` assumes, for `X-Request-Id`.
const REQUEST_ID: HeaderValue = HeaderValue::from_static("explain");

/// What `explain` found; its `Display` is the printed explanation.
#[derive(Debug)]
pub struct Report {
    request: String,
    /// The request is a WebSocket handshake on a WebSocket route: how it is decided.
    websocket: Option<String>,
    canonical: Option<String>,
    route: Option<RouteLine>,
    /// The `[revocation]` lookup: its keys and answer, or that it was skipped.
    revocation: Option<String>,
    verdict: Verdict,
    /// Which issuer's keys and which key verified the token, when one did.
    key: Option<String>,
}

/// The route a request matched, as printed.
#[derive(Debug)]
struct RouteLine {
    index: usize,
    kind: &'static str,
    pattern: String,
    name: String,
    policy: String,
    mode: &'static str,
    upstream: String,
}

#[derive(Debug)]
enum Verdict {
    Forward {
        /// Report mode: the status, detail and reason enforcement would have answered.
        reported: Option<(StatusCode, String, &'static str)>,
        /// The identity headers, empty when anonymous.
        identity: Vec<(String, String)>,
        /// Every header as the upstream would receive it.
        upstream: Vec<(String, String)>,
    },
    Reject {
        reason: &'static str,
        status: StatusCode,
        challenge: Option<String>,
        body: String,
    },
}

impl Verdict {
    /// The response a rejection gets, with the route's freshness window in its challenge.
    fn reject(error: &GatewayError, route: Option<&Route>, auth: &AuthSettings) -> Verdict {
        let profile = auth.profile();
        Verdict::Reject {
            reason: error.reason(),
            status: error.status_in(profile),
            challenge: error
                .challenge_in(route.and_then(|r| r.rule.max_age), profile)
                .map(|c| text(&c)),
            body: auth.body(&error.detail_in(profile)),
        }
    }

    /// A forward whose upstream request has `headers`.
    fn forward(reported: Option<AuthError>, headers: &HeaderMap, profile: &Profile) -> Verdict {
        let upstream = lines(headers);
        Verdict::Forward {
            reported: reported.map(|e| {
                (
                    profile.status(&e),
                    profile.detail(&e).into_owned(),
                    e.reason(),
                )
            }),
            identity: upstream
                .iter()
                .filter(|(name, _)| name.starts_with(headers::IDENTITY_PREFIX))
                .cloned()
                .collect(),
            upstream,
        }
    }
}

impl Report {
    /// Whether the request would be forwarded.
    pub fn forwarded(&self) -> bool {
        matches!(self.verdict, Verdict::Forward { .. })
    }
}

/// Explains `method url` with an optional token and extra `Name: value` headers, asking the
/// `[revocation]` store when the token needs it. `Err` is a usage mistake (bad method, URL or
/// header), with a message.
pub fn explain(
    snapshot: &Snapshot,
    method: &str,
    url: &str,
    token: Option<&str>,
    extra: &[String],
    now_ms: i64,
) -> Result<Report, String> {
    explain_with(snapshot, method, url, token, extra, now_ms, true)
}

/// [`explain`]; `lookup = false` (`--no-revocation`) skips the `[revocation]` store, offline:
/// the token is then treated as not revoked there (the denylist file still applies).
pub fn explain_with(
    snapshot: &Snapshot,
    method: &str,
    url: &str,
    token: Option<&str>,
    extra: &[String],
    now_ms: i64,
    lookup: bool,
) -> Result<Report, String> {
    let (method, uri) = request_line(method, url)?;
    let mut headers = request_headers(snapshot, token, extra)?;
    let head = RequestHead {
        method: &method,
        uri: &uri,
        version: Version::HTTP_11,
        headers: &headers,
    };
    let (answer, revocation) = revocation_line(snapshot, &head, now_ms, lookup);
    let evaluation = pipeline::evaluate_with(snapshot, &head, now_ms, &answer);
    let route = evaluation.route();
    let canonical = evaluation.target().map(|t| t.as_str().to_owned());
    let websocket = websocket_line(snapshot, route, evaluation.handshake());
    let verdict = match evaluation {
        Evaluation::Refuse { error, .. } => Verdict::reject(&error, route, &snapshot.auth),
        Evaluation::Forward {
            route,
            outcome,
            reported,
            handshake,
            ..
        } => {
            let forward = Forward {
                authority: uri.authority(),
                client_ip: &CLIENT_IP,
                trusted: false,
                upgrade: handshake,
                request_id: &REQUEST_ID,
                reported: reported.as_ref().map(|e| e.reason()),
                identity: outcome.identity(),
                claims: &snapshot.forward.claims,
                strip_token: route.strip_token.then_some(&snapshot.auth),
            };
            headers::rewrite_request(&mut headers, &forward);
            Verdict::forward(reported, &headers, snapshot.auth.profile())
        }
    };
    let key = token.and_then(|t| snapshot.auth.decoder().verified_by(t.as_bytes()));
    Ok(Report {
        request: format!("{method} {url}"),
        websocket,
        canonical,
        route: route.map(RouteLine::of),
        revocation,
        verdict,
        key,
    })
}

/// The `[revocation]` answer to decide with, and its line: the keys read and the answer, or
/// that the lookup was skipped or not needed.
fn revocation_line(
    snapshot: &Snapshot,
    head: &RequestHead<'_>,
    now_ms: i64,
    lookup: bool,
) -> (Revocation, Option<String>) {
    let Some(settings) = &snapshot.revocation else {
        return (Revocation::Unchecked, None);
    };
    if pipeline::revocation_lookup(snapshot, head, now_ms).is_none() {
        return (
            Revocation::Unchecked,
            Some("not needed for this request".into()),
        );
    }
    if !lookup {
        return (
            Revocation::Skipped,
            Some("skipped (--no-revocation)".into()),
        );
    }
    let Some((answer, explained)) = revocation::explain_lookup(snapshot, head, now_ms) else {
        return (Revocation::Unchecked, None);
    };
    let verdict = match &explained.verdict {
        auth::Verdict::Clear => "not revoked".to_owned(),
        auth::Verdict::Revoked => "revoked".to_owned(),
        auth::Verdict::Unavailable => {
            format!("unavailable (no answer within {:?})", settings.timeout)
        }
        auth::Verdict::Refused(error) => format!("cannot look up: {}", error.detail()),
    };
    let keys: Vec<String> = explained.keys.iter().map(|k| format!("{k:?}")).collect();
    let line = format!(
        "{} GET {} -> {verdict} ({} us)",
        settings.address(),
        keys.join(" "),
        explained.elapsed.as_micros()
    );
    (answer, Some(line))
}

/// How a WebSocket handshake on a WebSocket route is decided and refused.
fn websocket_line(snapshot: &Snapshot, route: Option<&Route>, handshake: bool) -> Option<String> {
    let mode = route.and_then(|r| r.websocket).filter(|_| handshake)?;
    let refusal = match snapshot.server.websocket_reject {
        WebSocketReject::Message => "a refusal is a text frame and a 1008 close",
        WebSocketReject::Http => "a refusal is the JSON answer",
    };
    Some(format!(
        "handshake, token from {}; {refusal}",
        mode.as_str()
    ))
}

/// The method and target as given on the command line.
fn request_line(method: &str, url: &str) -> Result<(Method, Uri), String> {
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("{method:?} is not an HTTP method"))?;
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a request target: {e}"))?;
    Ok((method, uri))
}

/// The request's headers: a `Host`, the extra `--header`s, and the token where the config
/// reads it.
fn request_headers(
    snapshot: &Snapshot,
    token: Option<&str>,
    extra: &[String],
) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::HOST,
        HeaderValue::from_static("explain.invalid"),
    );
    for line in extra {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("--header {line:?}: write it as 'Name: value'"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("--header {line:?}: bad header name"))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("--header {line:?}: bad header value"))?;
        headers.append(name, value);
    }
    if let Some(token) = token {
        let auth = &snapshot.auth;
        let value = match auth.header_type() {
            "" => token.to_owned(),
            kind => format!("{kind} {token}"),
        };
        let value = HeaderValue::from_str(&value)
            .map_err(|_| "--token: not a valid header value".to_owned())?;
        headers.insert(auth.header_name().clone(), value);
    }
    Ok(headers)
}

fn text(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

fn lines(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), text(value)))
        .collect()
}

fn matcher(route: &Route) -> (&'static str, &str) {
    match &route.matcher {
        Matcher::Path(p) => ("path", p),
        Matcher::Prefix(p) => ("prefix", p),
    }
}

impl RouteLine {
    fn of(route: &Route) -> Self {
        let (kind, pattern) = matcher(route);
        RouteLine {
            index: route.index,
            kind,
            pattern: pattern.to_owned(),
            name: route.name.to_string(),
            policy: route.policy().to_string(),
            mode: route.mode.as_str(),
            upstream: format!(
                "{} (http://{})",
                route.upstream.name, route.upstream.authority
            ),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "request:    {}", self.request)?;
        writeln!(
            f,
            "canonical:  {}",
            self.canonical.as_deref().unwrap_or("-")
        )?;
        match &self.route {
            Some(r) => {
                let (index, kind, pattern, name) = (r.index, r.kind, &r.pattern, &r.name);
                writeln!(f, "route:      route[{index}] {kind} {pattern} ({name})")?;
                writeln!(f, "policy:     {} (mode {})", r.policy, r.mode)?;
                writeln!(f, "upstream:   {}", r.upstream)?;
            }
            None => writeln!(f, "route:      none")?,
        }
        if let Some(websocket) = &self.websocket {
            writeln!(f, "websocket:  {websocket}")?;
        }
        if let Some(key) = &self.key {
            writeln!(f, "verified:   {key}")?;
        }
        if let Some(revocation) = &self.revocation {
            writeln!(f, "revocation: {revocation}")?;
        }
        write!(f, "{}", self.verdict)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Forward {
                reported,
                identity,
                upstream,
            } => {
                match reported {
                    Some((status, detail, reason)) => writeln!(
                        f,
                        "decision:   forwarded (report mode; enforcing would answer {} {detail:?}: {reason})",
                        status.as_u16()
                    )?,
                    None => writeln!(f, "decision:   forwarded")?,
                }
                match identity.is_empty() {
                    true => writeln!(f, "identity:   none (anonymous)")?,
                    false => write_headers(f, "identity headers sent upstream:", identity)?,
                }
                write_headers(f, "every header the upstream receives:", upstream)
            }
            Verdict::Reject {
                reason,
                status,
                challenge,
                body,
            } => {
                writeln!(f, "decision:   rejected ({reason})")?;
                writeln!(f, "response:")?;
                let phrase = status.canonical_reason().unwrap_or("");
                writeln!(f, "  HTTP/1.1 {} {phrase}", status.as_u16())?;
                writeln!(f, "  content-type: application/json")?;
                if let Some(challenge) = challenge {
                    writeln!(f, "  www-authenticate: {challenge}")?;
                }
                writeln!(f)?;
                writeln!(f, "  {body}")
            }
        }
    }
}

fn write_headers(
    f: &mut fmt::Formatter<'_>,
    title: &str,
    lines: &[(String, String)],
) -> fmt::Result {
    writeln!(f, "{title}")?;
    for (name, value) in lines {
        writeln!(f, "  {name}: {value}")?;
    }
    Ok(())
}

/// `freshgate check`'s output: the file is valid, where it listens, the profile it follows,
/// and the routes in the order they are matched.
pub fn route_table(path: &Path, snapshot: &Snapshot) -> String {
    let mut text = format!(
        "{}: valid; listen {}\n",
        path.display(),
        snapshot.startup.listen
    );
    let profile = snapshot.auth.profile();
    text.push_str(&format!(
        "profile {} ({}; bodies {{\"{}\": ...}})\n",
        profile.name,
        profile.follows,
        snapshot.auth.message_key()
    ));
    text.push_str("routes, in the order they are matched:\n");
    for route in snapshot.routes.in_match_order() {
        let methods = match route.methods.as_slice() {
            [] => "*".to_owned(),
            ms => ms.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(","),
        };
        let (kind, pattern) = matcher(route);
        let upstream = &route.upstream;
        let websocket = match route.websocket {
            Some(mode) => format!("  websocket={}", mode.as_str()),
            None => String::new(),
        };
        text.push_str(&format!(
            "  {methods:<14} {kind:<6} {pattern:<32} {:<8} -> {} (http://{})  [route {}]{websocket}\n",
            route.policy().as_str(),
            upstream.name,
            upstream.authority,
            route.index
        ));
    }
    text
}
