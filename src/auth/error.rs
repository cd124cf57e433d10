//! [`AuthError`]: why the decision rejected a request, with the library's status, `detail` and
//! the RFC 6750 / RFC 9470 `WWW-Authenticate` challenge.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, StatusCode};

use super::{DecodeError, Profile, TokenType};

/// Why a request is rejected. [`AuthError::status`] and [`AuthError::detail`] are the contract.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthError {
    BadHeader(Arc<str>),
    MissingToken(Arc<str>),
    Decode(DecodeError),
    WrongType(TokenType),
    MissingClaim(&'static str),
    /// A claim of a JSON type the library cannot handle (it crashes); carries the claim.
    BadClaim(&'static str),
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
    /// The route's `acr` step-up: the token's `acr` is not one of these (space-separated).
    InsufficientAuthentication(Arc<str>),
    /// The route's `require` does not hold; carries the required scopes when a scope is
    /// missing, for the challenge.
    InsufficientScope(Option<Arc<str>>),
    /// `[revocation]` could not answer in time and its policy is `deny` (503, `Retry-After`).
    RevocationUnavailable,
}

impl AuthError {
    /// The status under the default profile (fastapi-jwt-auth); see [`Profile::status`].
    pub fn status(&self) -> StatusCode {
        Profile::default_profile().status(self)
    }

    /// The `detail` under the default profile (fastapi-jwt-auth); see [`Profile::detail`].
    pub fn detail(&self) -> Cow<'static, str> {
        Profile::default_profile().detail(self)
    }

    /// The status and text of freshgate's own reasons, which no library has (the same under
    /// every profile); `None` for the library's reasons, which the profile answers.
    pub(super) fn own_answer(&self) -> Option<(StatusCode, Cow<'static, str>)> {
        Some(match self {
            AuthError::BadClaim(claim) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("Invalid claim: {claim}").into(),
            ),
            AuthError::TokenTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "Token too large".into(),
            ),
            AuthError::InsufficientAuthentication(_) => (
                StatusCode::UNAUTHORIZED,
                "Insufficient user authentication".into(),
            ),
            // FastAPI's own wording for a failed `SecurityScopes` check.
            AuthError::InsufficientScope(_) => {
                (StatusCode::FORBIDDEN, "Not enough permissions".into())
            }
            AuthError::RevocationUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Revocation check unavailable".into(),
            ),
            AuthError::BadHeader(_)
            | AuthError::MissingToken(_)
            | AuthError::Decode(_)
            | AuthError::WrongType(_)
            | AuthError::MissingClaim(_)
            | AuthError::NotFresh
            | AuthError::MissingCookie(_)
            | AuthError::MissingCsrf
            | AuthError::CsrfMismatch
            | AuthError::Revoked => return None,
        })
    }

    /// A short stable label for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::BadHeader(_) => "bad_header",
            AuthError::MissingToken(_) => "missing",
            AuthError::Decode(e) => e.reason(),
            AuthError::WrongType(_) => "wrong_type",
            AuthError::MissingClaim(_) => "missing_claim",
            AuthError::BadClaim(_) => "bad_claim",
            AuthError::NotFresh => "not_fresh",
            AuthError::TokenTooLarge => "token_too_large",
            AuthError::MissingCookie(_) => "missing",
            AuthError::MissingCsrf => "missing_csrf",
            AuthError::CsrfMismatch => "csrf_mismatch",
            AuthError::Revoked => "revoked",
            AuthError::InsufficientAuthentication(_) => "insufficient_authentication",
            AuthError::InsufficientScope(_) => "insufficient_scope",
            AuthError::RevocationUnavailable => "revocation_unavailable",
        }
    }

    /// The `WWW-Authenticate` challenge of a 401 or 403: RFC 6750 `Bearer` without an error
    /// when no token was sent, `error="invalid_token"` when one was rejected, for freshness
    /// and `acr` the RFC 9470 step-up challenge (with `acr_values` and the route's `max_age`),
    /// and for `require` RFC 6750's `error="insufficient_scope"` (with `scope` when a scope is
    /// missing). `None` for other statuses.
    pub fn challenge(&self, max_age: Option<Duration>) -> Option<HeaderValue> {
        self.challenge_in(max_age, Profile::default_profile())
    }

    /// [`AuthError::challenge`] with the texts of `profile`; a decode failure that the
    /// profile answers with 401 (flask-jwt-extended's `Token has expired`) is an
    /// `invalid_token`.
    pub fn challenge_in(
        &self,
        max_age: Option<Duration>,
        profile: &Profile,
    ) -> Option<HeaderValue> {
        let invalid_token = || {
            format!(
                r#"Bearer error="invalid_token", error_description="{}""#,
                profile.detail(self)
            )
        };
        let value = match self {
            AuthError::MissingToken(_) | AuthError::MissingCookie(_) => "Bearer".to_owned(),
            AuthError::NotFresh => {
                let mut v = String::from(
                    r#"Bearer error="insufficient_user_authentication", error_description="Fresh token required""#,
                );
                if let Some(max_age) = max_age {
                    v.push_str(&format!(", max_age={}", max_age.as_secs()));
                }
                v
            }
            AuthError::InsufficientAuthentication(acr_values) => {
                let mut v = format!(
                    r#"Bearer error="insufficient_user_authentication", error_description="{}", acr_values="{acr_values}""#,
                    profile.detail(self)
                );
                if let Some(max_age) = max_age {
                    v.push_str(&format!(", max_age={}", max_age.as_secs()));
                }
                v
            }
            AuthError::InsufficientScope(scope) => {
                let mut v = format!(
                    r#"Bearer error="insufficient_scope", error_description="{}""#,
                    profile.detail(self)
                );
                if let Some(scope) = scope {
                    v.push_str(&format!(r#", scope="{scope}""#));
                }
                v
            }
            AuthError::MissingCsrf | AuthError::CsrfMismatch | AuthError::Revoked => {
                invalid_token()
            }
            AuthError::Decode(_) if profile.status(self) == StatusCode::UNAUTHORIZED => {
                invalid_token()
            }
            AuthError::BadHeader(_)
            | AuthError::Decode(_)
            | AuthError::WrongType(_)
            | AuthError::MissingClaim(_)
            | AuthError::BadClaim(_)
            | AuthError::TokenTooLarge
            | AuthError::RevocationUnavailable => return None,
        };
        HeaderValue::from_str(&value).ok()
    }
}
