//! The decision itself: find the token, verify it, then the checks in the library's order
//! (see the table in [`crate::auth`]).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method};
use serde_json::Value;

pub use super::identity::{Identity, Outcome};
pub use super::locate::TokenAt;
use super::locate::{cookie_name, locate, Found};
use super::profile::{Check, CsrfStage, DecodeRules, IssuerRule, TypeRule, UnexpectedAudience};
use super::{
    jws, pyjwt2, AuthError, AuthSettings, Claims, DecodeError, Policy, Revocation, Rule, TokenType,
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
    let at = TokenAt::Http(method, None);
    decide_with(settings, rule, at, headers, now_ms, &Revocation::Unchecked)
}

/// [`decide_reporting`] for a request whose token is `at` (an HTTP request with its query),
/// with the answer of the `[revocation]` lookup for this request.
pub fn decide_reporting_with(
    settings: &AuthSettings,
    rule: Rule,
    at: TokenAt<'_>,
    headers: &HeaderMap,
    now_ms: i64,
    revocation: &Revocation,
) -> Result<Outcome, Rejection> {
    decide_with(settings, rule, at, headers, now_ms, revocation)
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
    // flask-jwt-extended's decorators let `OPTIONS` through unchecked.
    if let (true, TokenAt::Http(&Method::OPTIONS, _)) =
        (settings.profile().rules.options_exempt, at)
    {
        return Ok(Outcome::Anonymous);
    }
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
    let claims = verified_valid(settings, rule, &token, now_ms, None).ok()?;
    settings
        .token_checks
        .applies(&claims)
        .then(|| (claims, token.into_owned()))
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
    let rules = &settings.profile().rules;
    let in_decode = (rules.csrf == CsrfStage::InDecode)
        .then_some(csrf.as_deref())
        .flatten();
    let claims =
        verified_valid(settings, rule, &token, now_ms, in_decode).map_err(|e| (e, None))?;
    let fresh = is_fresh(&claims, now_ms);
    let token_type = token_type(rules.token_type, &claims);
    let failure = rules
        .order
        .iter()
        .find_map(|check| match check {
            Check::Revoked => revoked(settings, &claims, &token, revocation),
            Check::Type => type_failure(rules.token_type, &claims, token_type, wanted),
            Check::Fresh => (rule.policy == Policy::Fresh
                && !(fresh && within(rule.max_age, &claims, settings, now_ms)))
            .then_some(AuthError::NotFresh),
        })
        .or_else(|| match rules.csrf {
            CsrfStage::Last => csrf.and_then(|sent| csrf_failure(&sent, &claims)),
            CsrfStage::InDecode => None,
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

/// The token's type under the profile's rule; `None` when it has none the rule accepts.
fn token_type(rule: TypeRule, claims: &Claims) -> Option<TokenType> {
    match (rule, claims.get("type").and_then(Value::as_str)) {
        (_, Some("refresh")) => Some(TokenType::Refresh),
        (TypeRule::Exact, Some("access")) | (TypeRule::RefreshOrAccess, _) => {
            Some(TokenType::Access)
        }
        (TypeRule::Exact, _) => None,
    }
}

/// The type check: `type` must be the wanted one (fastapi-jwt-auth also refuses a token
/// without one), or for flask-jwt-extended only a refresh token is refused outside refresh
/// routes.
fn type_failure(
    rule: TypeRule,
    claims: &Claims,
    found: Option<TokenType>,
    wanted: TokenType,
) -> Option<AuthError> {
    match (rule, claims.get("type")) {
        (TypeRule::Exact, None) => Some(AuthError::MissingClaim("type")),
        _ if found != Some(wanted) => Some(AuthError::WrongType(wanted)),
        _ => None,
    }
}

/// The size limit, the (cached) signature check and the claim checks of the profile's PyJWT;
/// for flask-jwt-extended also the identity claim and the CSRF value (`csrf`), inside
/// decoding, and an expired token is reported expired only once everything else holds.
fn verified_valid(
    settings: &AuthSettings,
    rule: Rule,
    token: &[u8],
    now_ms: i64,
    csrf: Option<&[u8]>,
) -> Result<Arc<Claims>, AuthError> {
    if token.len() > settings.max_token_bytes {
        return Err(AuthError::TokenTooLarge);
    }
    let rules = &settings.profile().rules;
    let issuer = match rules.issuer {
        // Only for access tokens on `access` and `fresh` routes.
        IssuerRule::AccessRoutes => matches!(rule.policy, Policy::Access | Policy::Fresh),
        IssuerRule::Always => true,
    };
    let claims = settings.verified(token).map_err(AuthError::Decode)?;
    let decoder = settings.decoder();
    let checks = |exp| match rules.decode {
        DecodeRules::PyJwt1_7 => decoder.validate_claims(&claims, issuer, now_ms),
        DecodeRules::PyJwt2_15 => {
            let audience = decoder.audience.is_some()
                || rules.unexpected_audience == UnexpectedAudience::Reject;
            let checks = pyjwt2::Checks {
                issuer,
                audience,
                exp,
            };
            decoder.validate_claims_pyjwt2(&claims, checks, now_ms)
        }
    };
    let in_decode = |claims: &Claims| {
        if rules.require_subject && !claims.contains_key("sub") {
            return Err(AuthError::MissingClaim("sub"));
        }
        csrf.and_then(|sent| csrf_failure(sent, claims))
            .map_or(Ok(()), Err)
    };
    match checks(true) {
        Ok(()) => in_decode(&claims).map(|()| claims),
        // flask-jwt-extended decodes an expired token again without `exp` to report it,
        // and that second decode's failures come first.
        Err(DecodeError::Expired) if rules.expiry_last => {
            checks(false).map_err(AuthError::Decode)?;
            in_decode(&claims)?;
            Err(AuthError::Decode(DecodeError::Expired))
        }
        Err(e) => Err(AuthError::Decode(e)),
    }
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
            let name = cookie_name(settings, wanted).to_owned();
            Err((AuthError::MissingCookie(name), None))
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
