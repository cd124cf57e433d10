//! The decision itself: find the token, verify it, then the checks in the library's order
//! (see the table in [`crate::auth`]).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method};
use serde_json::Value;

pub use super::identity::{Identity, Outcome};
use super::{
    jws, source, AuthError, AuthSettings, Claims, Policy, Revocation, Rule, TokenType,
    WebSocketMode,
};

/// Decides a request whose token can only be in a header, as on a `GET`: the common case and
/// the one the table tests drive. See [`decide_reporting`] for the general form.
pub fn decide(
    settings: &AuthSettings,
    policy: Policy,
    headers: &HeaderMap,
    now_ms: i64,
) -> Result<Outcome, AuthError> {
    decide_reporting(settings, policy.into(), &Method::GET, headers, now_ms)
        .map_err(|(error, _)| error)
}

/// The token a request carries, and where it was found.
enum Found<'h> {
    None,
    Header(Cow<'h, [u8]>),
    /// A cookie, with the CSRF header's value (if any) and whether the method needs CSRF.
    Cookie {
        token: Option<Cow<'h, [u8]>>,
        csrf: Option<Cow<'h, [u8]>>,
        csrf_method: bool,
    },
}

/// A rejection, with the verified identity when the token itself was valid (report mode
/// forwards that identity).
type Rejection = (AuthError, Option<Identity>);

/// Decides a request. `now_ms` is the current time in milliseconds since the epoch. A
/// rejection that came after the token was verified (revoked, wrong type, not fresh, CSRF)
/// also returns the verified identity, for routes in report (shadow) mode. With
/// `[revocation]` configured this refuses checked tokens as unavailable: the server uses
/// [`decide_reporting_with`] and the lookup's answer.
pub fn decide_reporting(
    settings: &AuthSettings,
    rule: Rule,
    method: &Method,
    headers: &HeaderMap,
    now_ms: i64,
) -> Result<Outcome, Rejection> {
    let at = TokenAt::Http(method);
    decide_with(settings, rule, at, headers, now_ms, &Revocation::Unchecked)
}

/// [`decide_reporting`] with the answer of the `[revocation]` lookup for this request.
pub fn decide_reporting_with(
    settings: &AuthSettings,
    rule: Rule,
    method: &Method,
    headers: &HeaderMap,
    now_ms: i64,
    revocation: &Revocation,
) -> Result<Outcome, Rejection> {
    decide_with(
        settings,
        rule,
        TokenAt::Http(method),
        headers,
        now_ms,
        revocation,
    )
}

/// Decides a WebSocket handshake on a route whose token comes from `mode` (see
/// [`WebSocketMode`]): `query` reads the raw token from `[jwt] websocket_token_param` in
/// `query`, with fastapi-jwt-auth's `Missing access token from Query or Path` when absent;
/// `cookies` reads the token cookie and requires the CSRF value from
/// `[jwt] websocket_csrf_param` on every handshake when CSRF protection is on; `headers`
/// follows the ordinary rules. Everything after finding the token is as for HTTP.
pub fn decide_websocket(
    settings: &AuthSettings,
    rule: Rule,
    mode: WebSocketMode,
    query: Option<&str>,
    headers: &HeaderMap,
    now_ms: i64,
) -> Result<Outcome, Rejection> {
    let at = TokenAt::WebSocket(mode, query);
    decide_with(settings, rule, at, headers, now_ms, &Revocation::Unchecked)
}

/// [`decide_websocket`] with the answer of the `[revocation]` lookup for this handshake.
pub fn decide_websocket_with(
    settings: &AuthSettings,
    rule: Rule,
    mode: WebSocketMode,
    query: Option<&str>,
    headers: &HeaderMap,
    now_ms: i64,
    revocation: &Revocation,
) -> Result<Outcome, Rejection> {
    let at = TokenAt::WebSocket(mode, query);
    decide_with(settings, rule, at, headers, now_ms, revocation)
}

/// Where a request carries its token: an HTTP request (its method decides CSRF), or a
/// WebSocket handshake on a route of that mode, with the request's query.
#[derive(Debug, Clone, Copy)]
pub enum TokenAt<'q> {
    Http(&'q Method),
    WebSocket(WebSocketMode, Option<&'q str>),
}

fn decide_with(
    settings: &AuthSettings,
    rule: Rule,
    at: TokenAt<'_>,
    headers: &HeaderMap,
    now_ms: i64,
    revocation: &Revocation,
) -> Result<Outcome, Rejection> {
    let Some(wanted) = wanted(rule.policy) else {
        return Ok(Outcome::Anonymous);
    };
    let (found, missing) = locate(settings, wanted, at, headers).map_err(|e| (e, None))?;
    let found = Token { found, missing };
    decide_found(settings, rule, wanted, found, now_ms, revocation)
}

/// The verified, valid claims and the token, when the decision will reach its revocation
/// step with a `[revocation]` store to ask (the token's type is in `token_checks`): what the
/// server looks up before it decides. `None` when no lookup is needed, because the request
/// fails earlier or is not checked. Verification is the cached one, so deciding after this
/// costs no second signature check.
pub fn revocation_claims(
    settings: &AuthSettings,
    rule: Rule,
    at: TokenAt<'_>,
    headers: &HeaderMap,
    now_ms: i64,
) -> Option<(Arc<Claims>, Vec<u8>)> {
    settings.revocation_rules()?;
    let wanted = wanted(rule.policy)?;
    let (found, missing) = locate(settings, wanted, at, headers).ok()?;
    let (token, _) = presented(settings, rule.policy, wanted, found, &missing).ok()??;
    let claims = verified_valid(settings, rule, &token, now_ms).ok()?;
    settings
        .token_checks
        .applies(&claims)
        .then(|| (claims, token.into_owned()))
}

/// Finds the token where `at` says, with the detail for its absence.
fn locate<'h>(
    settings: &AuthSettings,
    wanted: TokenType,
    at: TokenAt<'h>,
    headers: &'h HeaderMap,
) -> Result<(Found<'h>, Arc<str>), AuthError> {
    let (mode, query) = match at {
        TokenAt::Http(method) => {
            let found = find_token(settings, wanted, method, headers)?;
            return Ok((found, settings.missing_header_detail.clone()));
        }
        TokenAt::WebSocket(WebSocketMode::Headers, _) => {
            let found = find_token(settings, wanted, &Method::GET, headers)?;
            return Ok((found, settings.missing_header_detail.clone()));
        }
        TokenAt::WebSocket(mode, query) => (mode, query),
    };
    let param = |name: &str| query.and_then(|q| source::query_param(q, name));
    let found = match mode {
        WebSocketMode::Query | WebSocketMode::Headers => {
            match param(&settings.websocket_token_param) {
                Some(token) if !token.is_empty() => Found::Header(token),
                _ => Found::None,
            }
        }
        WebSocketMode::Cookies => {
            let cookies = settings.cookies();
            let name = match wanted {
                TokenType::Access => &cookies.access,
                TokenType::Refresh => &cookies.refresh,
            };
            Found::Cookie {
                token: source::cookie(headers, name).filter(|t| !t.is_empty()),
                csrf: param(&settings.websocket_csrf_param).filter(|v| !v.is_empty()),
                // A handshake is always checked, whatever its method, as the library does.
                csrf_method: true,
            }
        }
    };
    let missing = format!("Missing {} token from Query or Path", wanted.as_str()).into();
    Ok((found, missing))
}

/// A token looked for, with the detail to answer when it was not found.
struct Token<'h> {
    found: Found<'h>,
    missing: Arc<str>,
}

/// The token type a policy wants; `None` for `public`, which checks nothing.
fn wanted(policy: Policy) -> Option<TokenType> {
    match policy {
        Policy::Public => None,
        Policy::Optional | Policy::Access | Policy::Fresh => Some(TokenType::Access),
        Policy::Refresh => Some(TokenType::Refresh),
    }
}

/// The decision once the token was looked for.
fn decide_found(
    settings: &AuthSettings,
    rule: Rule,
    wanted: TokenType,
    token: Token<'_>,
    now_ms: i64,
    revocation: &Revocation,
) -> Result<Outcome, Rejection> {
    let presented = presented(settings, rule.policy, wanted, token.found, &token.missing)?;
    let Some((token, csrf)) = presented else {
        return Ok(Outcome::Anonymous);
    };
    let claims = verified_valid(settings, rule, &token, now_ms).map_err(|e| (e, None))?;
    let fresh = is_fresh(&claims, now_ms);
    let token_type = match claims.get("type").and_then(Value::as_str) {
        Some("access") => Some(TokenType::Access),
        Some("refresh") => Some(TokenType::Refresh),
        _ => None,
    };
    let failure =
        revoked(settings, &claims, &token, revocation).or_else(|| match claims.get("type") {
            None => Some(AuthError::MissingClaim("type")),
            Some(_) if token_type != Some(wanted) => Some(AuthError::WrongType(wanted)),
            Some(_)
                if rule.policy == Policy::Fresh
                    && !(fresh && within(rule.max_age, &claims, settings, now_ms)) =>
            {
                Some(AuthError::NotFresh)
            }
            Some(_) => csrf.and_then(|sent| csrf_failure(&sent, &claims)),
        });
    let identity = token_type.map(|token_type| Identity {
        claims,
        token_type,
        fresh,
    });
    match (failure, identity) {
        (None, Some(identity)) => Ok(Outcome::Authenticated(identity)),
        (Some(error), identity) => Err((error, identity)),
        // `failure` is None only when the type matched, so the identity exists.
        (None, None) => Err((AuthError::MissingClaim("type"), None)),
    }
}

/// The size limit, the (cached) signature check and the time and issuer claims.
fn verified_valid(
    settings: &AuthSettings,
    rule: Rule,
    token: &[u8],
    now_ms: i64,
) -> Result<Arc<Claims>, AuthError> {
    if token.len() > settings.max_token_bytes {
        return Err(AuthError::TokenTooLarge);
    }
    // The issuer is checked only for access tokens on `access` and `fresh` routes.
    let check_issuer = matches!(rule.policy, Policy::Access | Policy::Fresh);
    settings
        .verified(token)
        .and_then(|claims| {
            settings
                .decoder()
                .validate_claims(&claims, check_issuer, now_ms)
                .map(|()| claims)
        })
        .map_err(AuthError::Decode)
}

/// A token to verify and the CSRF header value to compare once it is verified.
type Presented<'h> = (Cow<'h, [u8]>, Option<Cow<'h, [u8]>>);

/// The token to verify and the CSRF header value to compare after verification (`None`: not
/// checked), or `None` for an anonymous request an `optional` route admits. Missing tokens and
/// a missing CSRF header on a CSRF method are refused here, before any decoding, as the
/// library does (on `optional` routes too once a cookie was sent).
fn presented<'h>(
    settings: &AuthSettings,
    policy: Policy,
    wanted: TokenType,
    found: Found<'h>,
    missing: &Arc<str>,
) -> Result<Option<Presented<'h>>, Rejection> {
    let optional = policy == Policy::Optional;
    match found {
        Found::None | Found::Cookie { token: None, .. } if optional => Ok(None),
        Found::None => Err((AuthError::MissingToken(missing.clone()), None)),
        Found::Cookie { token: None, .. } => {
            let cookies = settings.cookies();
            let name = match wanted {
                TokenType::Access => &cookies.access,
                TokenType::Refresh => &cookies.refresh,
            };
            Err((AuthError::MissingCookie(name.clone()), None))
        }
        Found::Header(token) => Ok(Some((token, None))),
        Found::Cookie {
            token: Some(token),
            csrf,
            csrf_method,
        } => {
            let protect = settings.cookies().csrf_protect && csrf_method;
            if protect && csrf.is_none() {
                return Err((AuthError::MissingCsrf, None));
            }
            Ok(Some((token, csrf.filter(|_| protect))))
        }
    }
}

/// Finds the token: the header when `headers` is a location and one was sent (a malformed
/// header is final, even with a good cookie), else the cookie when `cookies` is a location.
fn find_token<'h>(
    settings: &AuthSettings,
    wanted: TokenType,
    method: &Method,
    headers: &'h HeaderMap,
) -> Result<Found<'h>, AuthError> {
    if settings.from_headers {
        let token = source::header_token(headers, settings.header_name(), settings.header_type())
            .map_err(|_| AuthError::BadHeader(settings.bad_header_detail.clone()))?;
        if let Some(token) = token {
            return Ok(Found::Header(token));
        }
    }
    if !settings.from_cookies() {
        return Ok(Found::None);
    }
    let cookies = settings.cookies();
    let name = match wanted {
        TokenType::Access => &cookies.access,
        TokenType::Refresh => &cookies.refresh,
    };
    // An empty value counts as absent, as the library's `if not cookie` / `not csrf_token`.
    let token = source::cookie(headers, name).filter(|t| !t.is_empty());
    let csrf = headers
        .get(match wanted {
            TokenType::Access => &cookies.csrf_header,
            TokenType::Refresh => &cookies.refresh_csrf_header,
        })
        .map(HeaderValue::as_bytes)
        .filter(|v| !v.is_empty())
        .map(Cow::Borrowed);
    Ok(Found::Cookie {
        token,
        csrf,
        csrf_method: cookies.csrf_methods.contains(method),
    })
}

/// The revocation step, for the token types in `token_checks`: the denylist file, then the
/// `[revocation]` store's answer. A token without `jti` cannot be checked against the file,
/// so with a denylist it is refused (fail closed) where the library's usual callback would
/// crash.
fn revoked(
    settings: &AuthSettings,
    claims: &Claims,
    token: &[u8],
    revocation: &Revocation,
) -> Option<AuthError> {
    if !settings.token_checks.applies(claims) {
        return None;
    }
    denylisted(settings, claims).or_else(|| {
        let rules = settings.revocation_rules()?;
        match revocation {
            Revocation::Skipped => None,
            Revocation::Answered(verdict) => verdict.error(),
            // Fail closed: no lookup was made for a token that needs one.
            Revocation::Unchecked => Some(
                rules
                    .keys(claims, token)
                    .err()
                    .unwrap_or(AuthError::RevocationUnavailable),
            ),
        }
    })
}

/// The `denylist_file` check.
fn denylisted(settings: &AuthSettings, claims: &Claims) -> Option<AuthError> {
    let denylist = settings.denylist()?;
    match claims.get("jti") {
        None => Some(AuthError::MissingClaim("jti")),
        Some(Value::String(jti)) => denylist.contains(jti).then_some(AuthError::Revoked),
        // The library's set lookup crashes on these (unhashable): refused, never forwarded.
        Some(Value::Array(_) | Value::Object(_)) => Some(AuthError::BadClaim("jti")),
        Some(other) => denylist
            .contains(&other.to_string())
            .then_some(AuthError::Revoked),
    }
}

/// The route's freshness window: `auth_time` if present, else `iat`, no older than `max_age`
/// plus leeway. Without a window, always true; without a usable time, false (fail closed).
fn within(
    max_age: Option<Duration>,
    claims: &Claims,
    settings: &AuthSettings,
    now_ms: i64,
) -> bool {
    let Some(max_age) = max_age else {
        return true;
    };
    let Some(at) = claims.get("auth_time").or_else(|| claims.get("iat")) else {
        return false;
    };
    let Ok(at) = jws::python_int(at) else {
        return false;
    };
    let oldest =
        i128::from(now_ms) - max_age.as_millis() as i128 - i128::from(settings.decoder().leeway_ms);
    at.saturating_mul(1000) >= oldest
}

/// The CSRF double-submit check, after everything else: the claim must exist and equal the
/// header, compared in constant time.
fn csrf_failure(sent: &[u8], claims: &Claims) -> Option<AuthError> {
    match claims.get("csrf") {
        None => Some(AuthError::MissingClaim("csrf")),
        Some(Value::String(expected)) if constant_time_eq(sent, expected.as_bytes()) => None,
        Some(_) => Some(AuthError::CsrfMismatch),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // The length is not secret (the token carries it); the content is compared without an
    // early exit.
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// freshgate's freshness rule: JSON `true`, or a number that is a "fresh until" epoch time not
/// yet passed. The library's Python truthiness (`"false"` is fresh) is deliberately not copied.
pub fn is_fresh(claims: &Claims, now_ms: i64) -> bool {
    match claims.get("fresh") {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n
            .as_f64()
            .is_some_and(|until| until * 1000.0 >= now_ms as f64),
        _ => false,
    }
}
