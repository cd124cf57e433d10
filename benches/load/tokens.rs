//! Tokens, signed the way fastapi-jwt-auth signs them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use freshgate::auth::TokenType;
use freshgate::token::{sign_hmac, TokenSpec};
use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// Long enough that no token expires during a run.
const LIFETIME: Duration = Duration::from_secs(24 * 3600);

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn spec(subject: &str, fresh: bool) -> TokenSpec {
    let mut spec = TokenSpec::new(subject, TokenType::Access, fresh);
    spec.expires_in = Some(LIFETIME);
    spec
}

pub fn bearer(token: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|e| format!("a signed token is not a header value: {e}"))
}

/// An HS256 access token for `subject`.
pub fn hs256(secret: &[u8], subject: &str, fresh: bool) -> Result<HeaderValue, String> {
    let claims = spec(subject, fresh).claims(now());
    let token = sign_hmac(&claims, secret, Algorithm::HS256)
        .map_err(|e| format!("cannot sign an HS256 token: {e}"))?;
    bearer(&token)
}

/// An access token whose `exp` passed an hour ago (issued two hours ago, 1 h lifetime).
pub fn expired(secret: &[u8]) -> Result<HeaderValue, String> {
    let mut spec = spec("bench-expired", false);
    spec.expires_in = Some(Duration::from_secs(3600));
    let token = sign_hmac(&spec.claims(now() - 2 * 3600), secret, Algorithm::HS256)
        .map_err(|e| format!("cannot sign an HS256 token: {e}"))?;
    bearer(&token)
}

/// An access token signed with an asymmetric private key in PEM (PKCS#8).
pub fn asymmetric(alg: Algorithm, private_pem: &[u8]) -> Result<HeaderValue, String> {
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(private_pem),
        Algorithm::ES256 => EncodingKey::from_ec_pem(private_pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(private_pem),
        other => return Err(format!("no key type for {other:?}")),
    }
    .map_err(|e| format!("cannot read the {alg:?} private key: {e}"))?;
    let claims = spec("bench-user", false).claims(now());
    let token = jsonwebtoken::encode(&Header::new(alg), &claims, &key)
        .map_err(|e| format!("cannot sign a {alg:?} token: {e}"))?;
    bearer(&token)
}
