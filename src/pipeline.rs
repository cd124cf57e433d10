//! The pure part of handling a request, shared by the server and `freshgate explain`: request
//! checks and limits, path canonicalisation, route lookup, the token decision (with report
//! mode) and the declared body size. No I/O; the clock is an argument.

use std::borrow::Cow;

use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Method, Uri, Version};

use crate::auth::{self, AuthError, Mode, Outcome, Revocation};
use crate::config::{CorsPreflight, ServerSettings, Snapshot};
use crate::error::GatewayError;
use crate::routes::{AliasError, Route};
use crate::websocket::{self, Handshake};
use crate::{host, method, path};

/// What the gateway will do with a request, and what it learned on the way.
#[derive(Debug)]
pub enum Evaluation<'a> {
    /// Answer `error`; nothing is forwarded. `target` and `route` are known when the request got
    /// that far.
    Refuse {
        target: Option<PathAndQuery>,
        route: Option<&'a Route>,
        error: GatewayError,
        /// A valid WebSocket handshake on a WebSocket route, refused by the decision: the
        /// handler may answer it with frames (`websocket_reject = "message"`).
        handshake: bool,
    },
    /// Forward to `route`'s upstream with `outcome`'s identity.
    Forward {
        /// The canonical path and the untouched query.
        target: PathAndQuery,
        route: &'a Route,
        outcome: Outcome,
        /// Report mode: the rejection that was logged and counted but not enforced.
        reported: Option<AuthError>,
        /// A valid WebSocket handshake on a WebSocket route: relay the upgrade.
        handshake: bool,
        /// A CORS preflight forwarded without a token check (`cors_preflight = "forward"`).
        preflight: bool,
    },
}

impl<'a> Evaluation<'a> {
    pub fn route(&self) -> Option<&'a Route> {
        match self {
            Evaluation::Refuse { route, .. } => *route,
            Evaluation::Forward { route, .. } => Some(route),
        }
    }

    /// A valid WebSocket handshake on a WebSocket route.
    pub fn handshake(&self) -> bool {
        match self {
            Evaluation::Refuse { handshake, .. } | Evaluation::Forward { handshake, .. } => {
                *handshake
            }
        }
    }

    pub fn target(&self) -> Option<&PathAndQuery> {
        match self {
            Evaluation::Refuse { target, .. } => target.as_ref(),
            Evaluation::Forward { target, .. } => Some(target),
        }
    }
}

/// The request line and headers, as [`evaluate`] needs them.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'r> {
    pub method: &'r Method,
    pub uri: &'r Uri,
    pub version: Version,
    pub headers: &'r HeaderMap,
}

impl<'r> RequestHead<'r> {
    pub fn of<B>(request: &'r http::Request<B>) -> Self {
        RequestHead {
            method: request.method(),
            uri: request.uri(),
            version: request.version(),
            headers: request.headers(),
        }
    }
}

/// Evaluates a request against a snapshot at `now_ms`. With `[revocation]` configured, tokens
/// it checks are refused as unavailable: the server looks up first (see [`revocation_lookup`])
/// and calls [`evaluate_with`].
pub fn evaluate<'a>(snapshot: &'a Snapshot, head: &RequestHead<'_>, now_ms: i64) -> Evaluation<'a> {
    evaluate_with(snapshot, head, now_ms, &Revocation::Unchecked)
}

/// [`evaluate`] with the `[revocation]` store's answer for this request's token.
pub fn evaluate_with<'a>(
    snapshot: &'a Snapshot,
    head: &RequestHead<'_>,
    now_ms: i64,
    revocation: &Revocation,
) -> Evaluation<'a> {
    let target = match check_request(head, &snapshot.server) {
        Ok(target) => target,
        Err(error) => {
            return Evaluation::Refuse {
                target: None,
                route: None,
                error,
                handshake: false,
            }
        }
    };
    // A CORS preflight asks about another method: its route is the one for OPTIONS, else the
    // one for the method it asks about.
    let preflight =
        preflight_method(head).filter(|_| snapshot.server.cors_preflight == CorsPreflight::Forward);
    let route = match find_route(snapshot, head.method, preflight.as_ref(), target.path()) {
        Ok(Some(route)) => route,
        found => {
            let error = found.err().unwrap_or(GatewayError::NotFound);
            return Evaluation::Refuse {
                target: Some(target),
                route: None,
                error,
                handshake: false,
            };
        }
    };
    if preflight.is_some() {
        // Forwarded without a token check and without identity, so the app's CORS middleware
        // answers it as it does without freshgate.
        return Evaluation::Forward {
            target,
            route,
            outcome: Outcome::Anonymous,
            reported: None,
            handshake: false,
            preflight: true,
        };
    }
    decide(snapshot, head, target, route, now_ms, revocation)
}

/// The route for `method` (or, for a preflight, the method it asks about) with the path's
/// aliases checked; `Err` when an alias is ambiguous or cannot be formed safely.
fn find_route<'a>(
    snapshot: &'a Snapshot,
    method: &Method,
    preflight: Option<&Method>,
    path: &str,
) -> Result<Option<&'a Route>, GatewayError> {
    let aliases = snapshot.server.path_aliases;
    let mut found = snapshot.routes.lookup_aliased(method, path, aliases);
    if let (Some(asked), Ok(None)) = (preflight, &found) {
        found = snapshot.routes.lookup_aliased(asked, path, aliases);
    }
    found.map_err(|error| {
        let error = match error {
            AliasError::Ambiguous => GatewayError::AmbiguousPath,
            AliasError::Refused(refused) => GatewayError::UnsafeAlias(refused.detail()),
        };
        tracing::debug!(http.path = path, reason = error.reason(), "path refused");
        error
    })
}

/// A CORS preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`): the method
/// it asks about.
fn preflight_method(head: &RequestHead<'_>) -> Option<Method> {
    if head.method != Method::OPTIONS || !head.headers.contains_key(http::header::ORIGIN) {
        return None;
    }
    let asked = head
        .headers
        .get(http::header::ACCESS_CONTROL_REQUEST_METHOD)?;
    Method::from_bytes(asked.as_bytes().trim_ascii()).ok()
}

/// The token decision on the route (the WebSocket rules for a handshake on a WebSocket route),
/// report mode, and the declared body size.
fn decide<'a>(
    snapshot: &'a Snapshot,
    head: &RequestHead<'_>,
    target: PathAndQuery,
    route: &'a Route,
    now_ms: i64,
    revocation: &Revocation,
) -> Evaluation<'a> {
    let handshake = match route.websocket {
        Some(_) => websocket::handshake(head.method, head.version, head.headers),
        None => Handshake::None,
    };
    let refuse = |target, error, handshake| Evaluation::Refuse {
        target: Some(target),
        route: Some(route),
        error,
        handshake,
    };
    if let Handshake::Invalid(detail) = handshake {
        return refuse(target, GatewayError::BadRequest(detail), false);
    }
    let handshake = handshake == Handshake::Valid;
    let decision = token_decision(snapshot, head, route, handshake, now_ms, revocation);
    // `acr` and `require` are judged after the whole decision table (freshness first).
    let decision = route.require.judge(decision);
    let (outcome, reported) = match (decision, route.mode) {
        (Ok(outcome), _) => (outcome, None),
        (Err((error, _)), Mode::Enforce) => {
            return refuse(target, GatewayError::Auth(error), handshake)
        }
        (Err((error, identity)), Mode::Report) => (
            identity.map_or(Outcome::Anonymous, Outcome::Authenticated),
            Some(error),
        ),
    };
    if declared_length(head.headers)
        .zip(route.max_body_bytes)
        .is_some_and(|(len, limit)| len > limit)
    {
        return refuse(target, GatewayError::PayloadTooLarge, false);
    }
    Evaluation::Forward {
        target,
        route,
        outcome,
        reported,
        handshake,
        preflight: false,
    }
}

/// The token decision: the WebSocket rules for a handshake on a WebSocket route, else the
/// ordinary ones.
fn token_decision(
    snapshot: &Snapshot,
    head: &RequestHead<'_>,
    route: &Route,
    handshake: bool,
    now_ms: i64,
    revocation: &Revocation,
) -> Result<Outcome, (AuthError, Option<auth::Identity>)> {
    let auth = &snapshot.auth;
    let (rule, headers) = (route.rule, head.headers);
    match route.websocket.filter(|_| handshake) {
        Some(mode) => {
            let query = head.uri.query();
            auth::decide_websocket_with(auth, rule, mode, query, headers, now_ms, revocation)
        }
        None => {
            let at = auth::TokenAt::Http(head.method, head.uri.query());
            auth::decide_reporting_with(auth, rule, at, headers, now_ms, revocation)
        }
    }
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
    // Every method-based rule (route methods, CSRF methods) sees only canonical methods:
    // `delete` would otherwise miss a DELETE route that a lenient backend still runs.
    method::check(head.method).map_err(|_| GatewayError::NonCanonicalMethod)?;
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
    check_host(head, limits)?;
    check_sizes(head, limits)?;
    canonical_target(head.uri)
}

/// `Host`, and the authority of an absolute-form target, must be a valid `host[:port]` (RFC
/// 9112 section 3.2: a 400 otherwise), and one of `allowed_hosts` when that is set (421).
fn check_host(head: &RequestHead<'_>, limits: &ServerSettings) -> Result<(), GatewayError> {
    let authority = head.uri.authority().map(|a| a.as_str().as_bytes());
    let host = authority.or_else(|| head.headers.get(HOST).map(HeaderValue::as_bytes));
    for value in [authority, head.headers.get(HOST).map(HeaderValue::as_bytes)]
        .into_iter()
        .flatten()
    {
        host::validate(value).map_err(|_| GatewayError::InvalidHost)?;
    }
    match (&limits.allowed_hosts, host) {
        (Some(allowed), Some(host)) if !allowed.allows(host) => {
            Err(GatewayError::MisdirectedRequest)
        }
        _ => Ok(()),
    }
}

/// The request target and head against `max_uri_bytes` and `max_header_bytes`.
fn check_sizes(head: &RequestHead<'_>, limits: &ServerSettings) -> Result<(), GatewayError> {
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
    Ok(())
}

/// The canonical path with the query untouched; only `http` absolute-form targets besides
/// origin-form.
fn canonical_target(uri: &Uri) -> Result<PathAndQuery, GatewayError> {
    if uri.scheme().is_some_and(|s| s != &http::uri::Scheme::HTTP) {
        return Err(GatewayError::BadRequest(
            "Only http absolute-form targets are accepted",
        ));
    }
    let not_a_path = GatewayError::BadRequest("Request target must be an absolute path");
    let original = uri.path_and_query().ok_or(not_a_path)?;
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

mod revocation;
pub use revocation::{revocation_lookup, Lookup};

#[cfg(test)]
mod tests;
