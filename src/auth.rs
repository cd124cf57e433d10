//! The token decision: given a route's policy and the request headers, forward (with or without
//! an identity) or reject with fastapi-jwt-auth 0.5.0's status and `detail`.
//!
//! | step | check                                   | failure                                                   |
//! |------|-----------------------------------------|-----------------------------------------------------------|
//! | 0    | policy `public`                         | nothing is checked, the request is forwarded              |
//! | 1    | `Authorization` header shape            | 422 `Bad Authorization header. Expected value 'Bearer <JWT>'` (also on `optional`) |
//! | 2    | token present                           | `optional`: forward anonymously; others: 401 `Missing Authorization Header` |
//! | 3    | decode (see [`jws`]): segments, `kid`, `alg`, signature, payload, `iat`, `nbf`, `exp`, `iss`, `aud` | 422 with PyJWT 1.7.1's message |
//! | 4    | `type` claim                            | 422 `Only access tokens are allowed` / `Only refresh tokens are allowed`; absent: 422 `Missing claim: type` |
//! | 5    | `fresh` policy: `fresh` claim           | 401 `Fresh token required`                                 |
//!
//! The issuer is checked only for access tokens on `access` and `fresh` routes, as the library
//! does. Where the library answers 500 (unknown or missing `alg`, missing `type` or `fresh`),
//! the answer here is the 4xx above. Freshness is JSON `true`, or a number read as a
//! "fresh until" epoch time that has not passed (flask-jwt-extended); nothing else.
//!
//! Everything here is pure: no I/O, the clock is an argument.

pub mod b64;
pub mod jws;

use std::borrow::Cow;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, StatusCode};
use serde_json::Value;

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
    bad_header_detail: Arc<str>,
    missing_header_detail: Arc<str>,
}

impl AuthSettings {
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
            bad_header_detail: bad_header_detail.into(),
            missing_header_detail: format!("Missing {header_name} Header").into(),
        })
    }
}

/// A verified token's identity, as forwarded upstream.
#[derive(Clone, PartialEq)]
pub struct Identity {
    pub claims: Claims,
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
}

impl AuthError {
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::MissingToken(_) | AuthError::NotFresh => StatusCode::UNAUTHORIZED,
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
        }
    }
}

/// Decides a request. `now_ms` is the current time in milliseconds since the epoch.
pub fn decide(
    settings: &AuthSettings,
    policy: Policy,
    headers: &HeaderMap,
    now_ms: i64,
) -> Result<Outcome, AuthError> {
    decide_reporting(settings, policy, headers, now_ms).map_err(|(error, _)| error)
}

/// [`decide`], but a rejection that came after the token was verified (wrong type, not
/// fresh) also returns the verified identity, for routes in report (shadow) mode.
pub fn decide_reporting(
    settings: &AuthSettings,
    policy: Policy,
    headers: &HeaderMap,
    now_ms: i64,
) -> Result<Outcome, (AuthError, Option<Identity>)> {
    let (wanted, check_issuer) = match policy {
        Policy::Public => return Ok(Outcome::Anonymous),
        Policy::Optional => (TokenType::Access, false),
        Policy::Access | Policy::Fresh => (TokenType::Access, true),
        Policy::Refresh => (TokenType::Refresh, false),
    };
    let token = header_token(settings, headers).map_err(|e| (e, None))?;
    let Some(token) = token else {
        return match policy {
            Policy::Optional => Ok(Outcome::Anonymous),
            _ => Err((
                AuthError::MissingToken(settings.missing_header_detail.clone()),
                None,
            )),
        };
    };
    if token.len() > settings.max_token_bytes {
        return Err((AuthError::TokenTooLarge, None));
    }
    let claims = settings
        .decoder
        .decode(&token, check_issuer, now_ms)
        .map_err(|e| (AuthError::Decode(e), None))?;
    let fresh = is_fresh(&claims, now_ms);
    let token_type = match claims.get("type").and_then(Value::as_str) {
        Some("access") => Some(TokenType::Access),
        Some("refresh") => Some(TokenType::Refresh),
        _ => None,
    };
    let failure = match claims.get("type") {
        None => Some(AuthError::MissingClaim("type")),
        Some(_) if token_type != Some(wanted) => Some(AuthError::WrongType(wanted)),
        Some(_) if policy == Policy::Fresh && !fresh => Some(AuthError::NotFresh),
        Some(_) => None,
    };
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

/// Reads the token from the first configured header, with the library's parsing rules:
/// absent or empty means no token; otherwise `<type><whitespace><token>` with exactly two
/// whitespace-separated parts (or exactly one part when no type is configured).
fn header_token<'h>(
    settings: &AuthSettings,
    headers: &'h HeaderMap,
) -> Result<Option<Cow<'h, [u8]>>, AuthError> {
    let Some(value) = headers.get(&settings.header_name) else {
        return Ok(None);
    };
    let value = value.as_bytes();
    if value.is_empty() {
        return Ok(None);
    }
    let bad = || AuthError::BadHeader(settings.bad_header_detail.clone());
    let rest = match settings.header_type.as_bytes() {
        [] => value,
        kind => match value.strip_prefix(kind) {
            Some(rest) if rest.first().is_some_and(|&b| is_py_space(b)) => rest,
            _ => return Err(bad()),
        },
    };
    let mut parts = rest.split(|&b| is_py_space(b)).filter(|p| !p.is_empty());
    let (Some(token), None) = (parts.next(), parts.next()) else {
        return Err(bad());
    };
    Ok(Some(latin1_to_utf8(token)))
}

/// Python's whitespace among the characters a latin-1 decoded header value can hold
/// (`str.split()` and `re`'s `\s`).
fn is_py_space(b: u8) -> bool {
    matches!(
        b,
        b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' ' | 0x85 | 0xa0
    )
}

/// Starlette decodes header values as latin-1 and PyJWT encodes the token as UTF-8; doing the
/// same keeps the signing input byte-identical for the (odd) token with non-ASCII bytes.
fn latin1_to_utf8(bytes: &[u8]) -> Cow<'_, [u8]> {
    if bytes.is_ascii() {
        return Cow::Borrowed(bytes);
    }
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    Cow::Owned(text.into_bytes())
}

#[cfg(test)]
mod tests;
