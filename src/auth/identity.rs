//! What an allowed request carries on: the verified token's [`Identity`], or none.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::Value;

use super::{Claims, TokenType};

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
    /// Seconds since the user authenticated (`auth_time`, else `iat`), at `now_ms`.
    pub fn authenticated_age(&self, now_ms: i64) -> Option<f64> {
        let claims = &self.claims;
        let at = claims
            .get("auth_time")
            .or_else(|| claims.get("iat"))
            .and_then(Value::as_f64)?;
        Some((now_ms as f64 / 1000.0 - at).max(0.0))
    }

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

impl Outcome {
    /// The verified identity, if any.
    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Outcome::Authenticated(identity) => Some(identity),
            Outcome::Anonymous => None,
        }
    }
}
