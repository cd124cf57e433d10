//! Minting tokens with the claims fastapi-jwt-auth writes, for `freshgate token`, load tests and
//! the test suite.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Map, Value};

use crate::auth::TokenType;
use crate::clock::now_ms;
use crate::config::Snapshot;

/// What to put in a token.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    pub subject: String,
    pub token_type: TokenType,
    /// Only for access tokens; refresh tokens carry no `fresh` claim.
    pub fresh: bool,
    /// `None` writes no `exp`, as the library does with `expires_time=False`.
    pub expires_in: Option<Duration>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

impl TokenSpec {
    /// The library's defaults: access tokens last 15 minutes, refresh tokens 30 days.
    pub fn new(subject: impl Into<String>, token_type: TokenType, fresh: bool) -> Self {
        let expires_in = match token_type {
            TokenType::Access => Duration::from_secs(15 * 60),
            TokenType::Refresh => Duration::from_secs(30 * 24 * 3600),
        };
        TokenSpec {
            subject: subject.into(),
            token_type,
            fresh,
            expires_in: Some(expires_in),
            issuer: None,
            audience: None,
        }
    }

    /// The claims at `now` (seconds since the epoch): `sub`, `iat`, `nbf`, `jti`, `exp`, `type`,
    /// and `fresh` for access tokens, plus `iss`/`aud` when set.
    pub fn claims(&self, now: i64) -> Map<String, Value> {
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(self.subject));
        claims.insert("iat".into(), json!(now));
        claims.insert("nbf".into(), json!(now));
        claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
        if let Some(ttl) = self.expires_in {
            claims.insert("exp".into(), json!(now + ttl.as_secs() as i64));
        }
        claims.insert("type".into(), json!(self.token_type.as_str()));
        if self.token_type == TokenType::Access {
            claims.insert("fresh".into(), json!(self.fresh));
        }
        if let Some(iss) = &self.issuer {
            claims.insert("iss".into(), json!(iss));
        }
        if let Some(aud) = &self.audience {
            claims.insert("aud".into(), json!(aud));
        }
        claims
    }
}

/// Signs `claims` with an HMAC `secret`.
pub fn sign_hmac(
    claims: &Map<String, Value>,
    secret: &[u8],
    alg: Algorithm,
) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret)?,
    )
}

/// `freshgate token`: a token signed with the config's HMAC secret and first algorithm, with
/// the config's issuer and first audience. `Err` says why none can be made.
pub fn mint(
    snapshot: &Snapshot,
    subject: String,
    refresh: bool,
    fresh: bool,
    expires_in: Option<Duration>,
) -> Result<String, String> {
    let token_type = match refresh {
        true => TokenType::Refresh,
        false => TokenType::Access,
    };
    let mut spec = TokenSpec::new(subject, token_type, fresh);
    if expires_in.is_some() {
        spec.expires_in = expires_in;
    }
    let decoder = snapshot.auth.decoder();
    spec.issuer = decoder.issuer.clone();
    spec.audience = decoder.audience.as_ref().and_then(|a| a.first().cloned());
    let (Some(secret), Some(alg)) = (&snapshot.secret, decoder.algorithms.first()) else {
        return Err("no HMAC secret is configured, so freshgate cannot sign tokens".into());
    };
    sign_hmac(&spec.claims(now_ms() / 1000), secret.expose(), *alg)
        .map_err(|e| format!("cannot sign the token: {e}"))
}
