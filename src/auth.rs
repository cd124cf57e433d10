//! The token decision: given a route's rule and the request, forward (with or without an
//! identity) or reject with fastapi-jwt-auth 0.5.0's status and `detail`.
//!
//! Header tokens (`token_location = ["headers"]`, the default):
//!
//! | step | check                                   | failure                                                   |
//! |------|-----------------------------------------|-----------------------------------------------------------|
//! | 0    | policy `public`                         | nothing is checked, the request is forwarded              |
//! | 1    | `Authorization` header shape            | 422 `Bad Authorization header. Expected value 'Bearer <JWT>'` (also on `optional`) |
//! | 2    | token present                           | `optional`: forward anonymously; others: 401 `Missing Authorization Header` |
//! | 3    | decode (see [`jws`]): segments, `kid`, `alg`, signature, payload, `iat`, `nbf`, `exp`, `iss`, `aud` | 422 with PyJWT 1.7.1's message |
//! | 4    | revocation (with a denylist)            | 401 `Token has been revoked`                               |
//! | 5    | `type` claim                            | 422 `Only access tokens are allowed` / `Only refresh tokens are allowed`; absent: 422 `Missing claim: type` |
//! | 6    | `fresh` policy: `fresh` claim, and the route's `max_age` window | 401 `Fresh token required`         |
//!
//! Cookie tokens (`token_location` with `cookies`; used only when no header token was sent):
//! missing cookie (401 `Missing cookie access_token_cookie`) -> missing CSRF header on a CSRF
//! method (401 `Missing CSRF Token`) -> decode -> revoked -> type -> fresh -> `csrf` claim
//! absent (422 `Missing claim: csrf`) -> CSRF mismatch (401 `CSRF double submit tokens do not
//! match`, compared in constant time).
//!
//! The issuer is checked only for access tokens on `access` and `fresh` routes, as the library
//! does. Where the library answers 500 (unknown or missing `alg`, missing `type` or `fresh`),
//! the answer here is the 4xx above. Freshness is JSON `true`, or a number read as a
//! "fresh until" epoch time that has not passed (flask-jwt-extended); nothing else.
//!
//! Everything here is pure: no I/O, the clock is an argument.

pub mod b64;
pub mod cache;
pub mod denylist;
pub mod jws;
pub mod keys;
pub mod source;

use std::borrow::Cow;
use std::sync::Arc;

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::Value;

pub use denylist::Denylist;
pub use jws::{Claims, DecodeError, Decoder};

use crate::routes::Policy;

/// What kind of token a route wants or a token claims to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    Access,
    Refresh,
}

impl TokenType {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::Access => "access",
            TokenType::Refresh => "refresh",
        }
    }
}

/// Where and how tokens are read, plus the decoder; built once per config snapshot.
#[derive(Debug)]
pub struct AuthSettings {
    pub decoder: Decoder,
    pub header_name: HeaderName,
    /// `Bearer` by default; empty means the header carries the bare token.
    pub header_type: String,
    /// Longer tokens are refused (431) before any decoding (`[server] max_token_bytes`).
    pub max_token_bytes: usize,
    /// `token_location` includes `headers` (the default).
    pub from_headers: bool,
    /// `token_location` includes `cookies`.
    pub from_cookies: bool,
    pub cookies: CookieSettings,
    /// `denylist_file`: revoked `jti`s.
    pub denylist: Option<Arc<Denylist>>,
    /// Verified tokens of this snapshot.
    pub cache: cache::TokenCache,
    bad_header_detail: Arc<str>,
    missing_header_detail: Arc<str>,
}

/// Cookie names and CSRF double-submit settings, with the library's defaults.
#[derive(Debug, Clone)]
pub struct CookieSettings {
    pub access: String,
    pub refresh: String,
    pub csrf_protect: bool,
    pub csrf_header: HeaderName,
    pub csrf_methods: Vec<Method>,
}

impl Default for CookieSettings {
    fn default() -> Self {
        CookieSettings {
            access: "access_token_cookie".into(),
            refresh: "refresh_token_cookie".into(),
            csrf_protect: true,
            csrf_header: HeaderName::from_static("x-csrf-token"),
            csrf_methods: vec![Method::POST, Method::PUT, Method::PATCH, Method::DELETE],
        }
    }
}

/// What a route asks of the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub policy: Policy,
    /// `fresh` routes only: the user must have authenticated at most this long ago.
    pub max_age: Option<Duration>,
}

impl From<Policy> for Rule {
    fn from(policy: Policy) -> Self {
        Rule {
            policy,
            max_age: None,
        }
    }
}

impl AuthSettings {
    /// The token's verified claims, from the cache or by verifying it (and caching success).
    fn verified(&self, token: &[u8]) -> Result<Arc<Claims>, DecodeError> {
        if let Some(claims) = self.cache.get(token) {
            return Ok(claims);
        }
        let claims = Arc::new(self.decoder.verify(token)?);
        // The token's length bounds the payload's.
        self.cache.insert(token, claims.clone(), token.len());
        Ok(claims)
    }

    /// `header_name` is used as written in messages (`Authorization`), and case-insensitively
    /// for lookup.
    pub fn new(
        decoder: Decoder,
        header_name: &str,
        header_type: &str,
    ) -> Result<Self, http::Error> {
        let bad_header_detail = match header_type {
            "" => format!("Bad {header_name} header. Expected value '<JWT>'"),
            t => format!("Bad {header_name} header. Expected value '{t} <JWT>'"),
        };
        Ok(AuthSettings {
            decoder,
            header_name: HeaderName::from_bytes(header_name.as_bytes())?,
            header_type: header_type.to_string(),
            max_token_bytes: 8 * 1024,
            from_headers: true,
            from_cookies: false,
            cookies: CookieSettings::default(),
            denylist: None,
            cache: cache::TokenCache::default(),
            bad_header_detail: bad_header_detail.into(),
            missing_header_detail: format!("Missing {header_name} Header").into(),
        })
    }
}

/// A verified token's identity, as forwarded upstream.
#[derive(Clone, PartialEq)]
pub struct Identity {
    pub claims: Arc<Claims>,
    pub token_type: TokenType,
    pub fresh: bool,
}

// Claims may carry personal data; logs get only the token type and freshness.
impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("token_type", &self.token_type)
            .field("fresh", &self.fresh)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The `sub` claim as text: a string as is, a number as its decimal text, any other JSON
    /// value as compact JSON. `None` when absent or null.
    pub fn subject(&self) -> Option<Cow<'_, str>> {
        match self.claims.get("sub")? {
            Value::Null => None,
            Value::String(s) => Some(Cow::Borrowed(s)),
            other => Some(Cow::Owned(other.to_string())),
        }
    }
}

/// The decision for a request that may go on.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// No token was needed or sent; forward without identity headers.
    Anonymous,
    /// A valid token; forward with identity headers.
    Authenticated(Identity),
}

/// Why a request is rejected. [`AuthError::status`] and [`AuthError::detail`] are the contract.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthError {
    BadHeader(Arc<str>),
    MissingToken(Arc<str>),
    Decode(DecodeError),
    WrongType(TokenType),
    MissingClaim(&'static str),
    NotFresh,
    /// The token is longer than `max_token_bytes`.
    TokenTooLarge,
    /// Cookie location: the cookie is absent or empty; carries the cookie's name.
    MissingCookie(String),
    /// Cookie location, CSRF method: no `X-CSRF-Token` header.
    MissingCsrf,
    /// The CSRF header does not equal the token's `csrf` claim.
    CsrfMismatch,
    /// The token's `jti` is in the denylist.
    Revoked,
}

impl AuthError {
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::MissingToken(_)
            | AuthError::NotFresh
            | AuthError::MissingCookie(_)
            | AuthError::MissingCsrf
            | AuthError::CsrfMismatch
            | AuthError::Revoked => StatusCode::UNAUTHORIZED,
            AuthError::TokenTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            AuthError::BadHeader(_)
            | AuthError::Decode(_)
            | AuthError::WrongType(_)
            | AuthError::MissingClaim(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    pub fn detail(&self) -> Cow<'static, str> {
        match self {
            AuthError::BadHeader(d) | AuthError::MissingToken(d) => Cow::Owned(d.to_string()),
            AuthError::Decode(e) => e.detail(),
            AuthError::WrongType(TokenType::Access) => "Only access tokens are allowed".into(),
            AuthError::WrongType(TokenType::Refresh) => "Only refresh tokens are allowed".into(),
            AuthError::MissingClaim(claim) => format!("Missing claim: {claim}").into(),
            AuthError::NotFresh => "Fresh token required".into(),
            AuthError::TokenTooLarge => "Token too large".into(),
            AuthError::MissingCookie(name) => format!("Missing cookie {name}").into(),
            AuthError::MissingCsrf => "Missing CSRF Token".into(),
            AuthError::CsrfMismatch => "CSRF double submit tokens do not match".into(),
            AuthError::Revoked => "Token has been revoked".into(),
        }
    }

    /// A short stable label for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::BadHeader(_) => "bad_header",
            AuthError::MissingToken(_) => "missing",
            AuthError::Decode(e) => e.reason(),
            AuthError::WrongType(_) => "wrong_type",
            AuthError::MissingClaim(_) => "missing_claim",
            AuthError::NotFresh => "not_fresh",
            AuthError::TokenTooLarge => "token_too_large",
            AuthError::MissingCookie(_) => "missing",
            AuthError::MissingCsrf => "missing_csrf",
            AuthError::CsrfMismatch => "csrf_mismatch",
            AuthError::Revoked => "revoked",
        }
    }

    /// The `WWW-Authenticate` challenge of a 401: RFC 6750 `Bearer` without an error when no
    /// token was sent, `error="invalid_token"` when one was rejected, and for freshness the
    /// RFC 9470 step-up challenge with the route's `max_age`. `None` for other statuses.
    pub fn challenge(&self, max_age: Option<Duration>) -> Option<HeaderValue> {
        let value = match self {
            AuthError::MissingToken(_) | AuthError::MissingCookie(_) => "Bearer".to_string(),
            AuthError::NotFresh => {
                let mut v = String::from(
                    r#"Bearer error="insufficient_user_authentication", error_description="Fresh token required""#,
                );
                if let Some(max_age) = max_age {
                    v.push_str(&format!(", max_age={}", max_age.as_secs()));
                }
                v
            }
            AuthError::MissingCsrf | AuthError::CsrfMismatch | AuthError::Revoked => {
                format!(
                    r#"Bearer error="invalid_token", error_description="{}""#,
                    self.detail()
                )
            }
            AuthError::BadHeader(_)
            | AuthError::Decode(_)
            | AuthError::WrongType(_)
            | AuthError::MissingClaim(_)
            | AuthError::TokenTooLarge => return None,
        };
        HeaderValue::from_str(&value).ok()
    }
}

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
        csrf: Option<&'h [u8]>,
        csrf_method: bool,
    },
}

/// Decides a request. `now_ms` is the current time in milliseconds since the epoch. A
/// rejection that came after the token was verified (revoked, wrong type, not fresh, CSRF)
/// also returns the verified identity, for routes in report (shadow) mode.
pub fn decide_reporting(
    settings: &AuthSettings,
    rule: Rule,
    method: &Method,
    headers: &HeaderMap,
    now_ms: i64,
) -> Result<Outcome, (AuthError, Option<Identity>)> {
    let policy = rule.policy;
    let (wanted, check_issuer) = match policy {
        Policy::Public => return Ok(Outcome::Anonymous),
        Policy::Optional => (TokenType::Access, false),
        Policy::Access | Policy::Fresh => (TokenType::Access, true),
        Policy::Refresh => (TokenType::Refresh, false),
    };
    let reject = |e| Err((e, None));
    let found = find_token(settings, wanted, method, headers).map_err(|e| (e, None))?;
    // What CSRF to check after the token is verified: (header value, whether it is checked).
    let (token, csrf) = match found {
        Found::None if policy == Policy::Optional => return Ok(Outcome::Anonymous),
        Found::None => {
            return reject(AuthError::MissingToken(
                settings.missing_header_detail.clone(),
            ))
        }
        Found::Header(token) => (token, None),
        Found::Cookie { token: None, .. } if policy == Policy::Optional => {
            return Ok(Outcome::Anonymous)
        }
        Found::Cookie { token: None, .. } => {
            let name = match wanted {
                TokenType::Access => &settings.cookies.access,
                TokenType::Refresh => &settings.cookies.refresh,
            };
            return reject(AuthError::MissingCookie(name.clone()));
        }
        Found::Cookie {
            token: Some(token),
            csrf,
            csrf_method,
        } => {
            let protect = settings.cookies.csrf_protect && csrf_method;
            // The library asks for the CSRF header before decoding, on `optional` routes too
            // once a cookie was sent.
            if protect && csrf.is_none() {
                return reject(AuthError::MissingCsrf);
            }
            (token, csrf.filter(|_| protect))
        }
    };
    if token.len() > settings.max_token_bytes {
        return reject(AuthError::TokenTooLarge);
    }
    let claims = match settings.verified(&token) {
        Ok(claims) => claims,
        Err(e) => return reject(AuthError::Decode(e)),
    };
    if let Err(e) = settings
        .decoder
        .validate_claims(&claims, check_issuer, now_ms)
    {
        return reject(AuthError::Decode(e));
    }
    let fresh = is_fresh(&claims, now_ms);
    let token_type = match claims.get("type").and_then(Value::as_str) {
        Some("access") => Some(TokenType::Access),
        Some("refresh") => Some(TokenType::Refresh),
        _ => None,
    };
    let failure = revoked(settings, &claims).or_else(|| match claims.get("type") {
        None => Some(AuthError::MissingClaim("type")),
        Some(_) if token_type != Some(wanted) => Some(AuthError::WrongType(wanted)),
        Some(_)
            if policy == Policy::Fresh
                && !(fresh && within(rule.max_age, &claims, settings, now_ms)) =>
        {
            Some(AuthError::NotFresh)
        }
        Some(_) => csrf.and_then(|sent| csrf_failure(sent, &claims)),
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

/// Finds the token: the header when `headers` is a location and one was sent (a malformed
/// header is final, even with a good cookie), else the cookie when `cookies` is a location.
fn find_token<'h>(
    settings: &AuthSettings,
    wanted: TokenType,
    method: &Method,
    headers: &'h HeaderMap,
) -> Result<Found<'h>, AuthError> {
    if settings.from_headers {
        let token = source::header_token(headers, &settings.header_name, &settings.header_type)
            .map_err(|_| AuthError::BadHeader(settings.bad_header_detail.clone()))?;
        if let Some(token) = token {
            return Ok(Found::Header(token));
        }
    }
    if !settings.from_cookies {
        return Ok(Found::None);
    }
    let cookies = &settings.cookies;
    let name = match wanted {
        TokenType::Access => &cookies.access,
        TokenType::Refresh => &cookies.refresh,
    };
    // An empty value counts as absent, as the library's `if not cookie` / `not csrf_token`.
    let token = source::cookie(headers, name).filter(|t| !t.is_empty());
    let csrf = headers
        .get(&cookies.csrf_header)
        .map(HeaderValue::as_bytes)
        .filter(|v| !v.is_empty());
    Ok(Found::Cookie {
        token,
        csrf,
        csrf_method: cookies.csrf_methods.contains(method),
    })
}

/// The denylist check; a token without `jti` cannot be checked, so with a denylist it is
/// refused (fail closed) where the library's usual callback would crash.
fn revoked(settings: &AuthSettings, claims: &Claims) -> Option<AuthError> {
    let denylist = settings.denylist.as_ref()?;
    match claims.get("jti") {
        None => Some(AuthError::MissingClaim("jti")),
        Some(Value::String(jti)) => denylist.contains(jti).then_some(AuthError::Revoked),
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
        i128::from(now_ms) - max_age.as_millis() as i128 - i128::from(settings.decoder.leeway_ms);
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

#[cfg(test)]
mod tests;
