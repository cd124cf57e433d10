//! The pure part of handling a request, shared by the server and `freshgate explain`: request
//! checks and limits, path canonicalisation, route lookup, the token decision (with report
//! mode) and the declared body size. No I/O; the clock is an argument.

use std::borrow::Cow;

use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Method, Uri, Version};

use crate::auth::{self, AuthError, Outcome, Rule};
use crate::config::{ServerSettings, Snapshot};
use crate::error::GatewayError;
use crate::path;
use crate::routes::{Mode, Route};

/// What the gateway will do with a request, and what it learned on the way.
#[derive(Debug)]
pub struct Evaluation<'a> {
    /// The canonical path and the untouched query, once the target was accepted.
    pub target: Option<PathAndQuery>,
    pub route: Option<&'a Route>,
    /// Forward with this outcome, or answer this error.
    pub verdict: Result<Outcome, GatewayError>,
    /// Report mode: the rejection that was logged and counted but not enforced.
    pub reported: Option<AuthError>,
}

/// The request line and headers, as [`evaluate`] needs them.
pub struct RequestHead<'r> {
    pub method: &'r Method,
    pub uri: &'r Uri,
    pub version: Version,
    pub headers: &'r HeaderMap,
}

/// Evaluates a request against a snapshot at `now_ms`.
pub fn evaluate<'a>(snapshot: &'a Snapshot, head: &RequestHead<'_>, now_ms: i64) -> Evaluation<'a> {
    let mut evaluation = Evaluation {
        target: None,
        route: None,
        verdict: Err(GatewayError::NotFound),
        reported: None,
    };
    let target = match check_request(head, &snapshot.server) {
        Ok(target) => target,
        Err(error) => {
            evaluation.verdict = Err(error);
            return evaluation;
        }
    };
    let route = snapshot.routes.lookup(head.method, target.path());
    evaluation.target = Some(target);
    let Some(route) = route else {
        return evaluation;
    };
    evaluation.route = Some(route);
    let rule = Rule {
        policy: route.policy,
        max_age: route.max_age,
    };
    let decision = auth::decide_reporting(&snapshot.auth, rule, head.method, head.headers, now_ms);
    evaluation.verdict = match (decision, route.mode) {
        (Ok(outcome), _) => Ok(outcome),
        (Err((error, _)), Mode::Enforce) => Err(GatewayError::Auth(error)),
        (Err((error, identity)), Mode::Report) => {
            evaluation.reported = Some(error);
            Ok(identity.map_or(Outcome::Anonymous, Outcome::Authenticated))
        }
    };
    if evaluation.verdict.is_ok() {
        let limit = route.max_body_bytes.or(snapshot.server.max_body_bytes);
        if declared_length(head.headers)
            .zip(limit)
            .is_some_and(|(len, limit)| len > limit)
        {
            evaluation.verdict = Err(GatewayError::PayloadTooLarge);
        }
    }
    evaluation
}

/// The body length a request declares with `Content-Length`, if any.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Checks the request against the limits and returns the canonical path with the query
/// untouched. Origin-form (`/path?q`) is the norm; absolute-form (`http://host/path`) is
/// accepted as RFC 9112 section 3.2.2 requires; `*` (only meaningful for `OPTIONS`),
/// authority-form and the methods a reverse proxy must not relay (`CONNECT`, `TRACE`) are
/// refused.
fn check_request(
    head: &RequestHead<'_>,
    limits: &ServerSettings,
) -> Result<PathAndQuery, GatewayError> {
    if head.method == Method::CONNECT || head.method == Method::TRACE {
        return Err(GatewayError::MethodNotAllowed);
    }
    // RFC 9112 section 3.2: a server MUST answer 400 to an HTTP/1.1 request without Host.
    // HTTP/1.0 requests may omit it; the upstream then gets its own authority as Host.
    if head.version == Version::HTTP_11
        && head.uri.authority().is_none()
        && !head.headers.contains_key(HOST)
    {
        return Err(GatewayError::BadRequest("Missing Host header"));
    }
    // RFC 9112 section 3.2: several Host lines are a 400.
    if head.headers.get_all(HOST).iter().nth(1).is_some() {
        return Err(GatewayError::BadRequest("Several Host headers"));
    }
    // hyper accepts any codings before a final `chunked` and drops them; a request that asks
    // for a coding nobody here decodes is refused rather than forwarded as something else.
    let mut codings = head.headers.get_all(TRANSFER_ENCODING).iter();
    if let Some(first) = codings.next() {
        let chunked = |v: &HeaderValue| v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked");
        if !chunked(first) || codings.next().is_some() {
            return Err(GatewayError::BadRequest("Unsupported transfer coding"));
        }
    }
    if head.uri.path_and_query().map_or(0, |p| p.as_str().len()) > limits.max_uri_bytes {
        return Err(GatewayError::UriTooLong);
    }
    let header_bytes: usize = head
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > limits.max_header_bytes {
        return Err(GatewayError::HeadersTooLarge);
    }
    if head
        .uri
        .scheme()
        .is_some_and(|s| s != &http::uri::Scheme::HTTP)
    {
        return Err(GatewayError::BadRequest(
            "Only http absolute-form targets are accepted",
        ));
    }
    let not_a_path = GatewayError::BadRequest("Request target must be an absolute path");
    let original = head.uri.path_and_query().ok_or(not_a_path)?;
    let canonical =
        path::canonicalize(original.path()).map_err(|e| GatewayError::BadRequest(e.detail()))?;
    if let Cow::Borrowed(_) = canonical {
        return Ok(original.clone());
    }
    let rebuilt = match original.query() {
        Some(query) => format!("{canonical}?{query}"),
        None => canonical.into_owned(),
    };
    PathAndQuery::try_from(rebuilt)
        .map_err(|_| GatewayError::BadRequest("Request target must be an absolute path"))
}
