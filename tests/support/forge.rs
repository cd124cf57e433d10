//! Tokens for tests: the honest ones fastapi-jwt-auth issues ([`token`]), claims edited in a
//! chain ([`ClaimsExt`]), and the ones no honest signer writes, built by hand from a header
//! text, a payload text and a signature ([`raw_token`], [`forge`], [`with_header`]).
//!
//! HMAC signatures here come from jsonwebtoken's signing primitive over the exact segments, so
//! they never depend on the gateway's own code.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use freshgate::auth::TokenType;
use freshgate::token::{sign_hmac, TokenSpec};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Map, Value};

use super::SECRET;

/// The JOSE header fastapi-jwt-auth (PyJWT) writes for HS256.
pub const HS256_HEADER: &str = r#"{"typ":"JWT","alg":"HS256"}"#;

/// Seconds since the epoch.
pub fn now() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since.as_secs()).expect("seconds fit in i64")
}

/// A token like the library's, signed with [`SECRET`].
pub fn token(sub: &str, token_type: TokenType, fresh: bool) -> String {
    sign_claims(&TokenSpec::new(sub, token_type, fresh).claims(now()))
}

/// Signs arbitrary claims with [`SECRET`] (HS256).
pub fn sign_claims(claims: &Map<String, Value>) -> String {
    sign_hmac(claims, SECRET.as_bytes(), Algorithm::HS256).expect("sign")
}

/// One JWS segment: base64url without padding.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The base64url HMAC signature (`alg` is HS256, HS384 or HS512) of `signing_input`.
pub fn hmac_signature(signing_input: &str, alg: Algorithm, secret: impl AsRef<[u8]>) -> String {
    let key = EncodingKey::from_secret(secret.as_ref()).expect("an HMAC key");
    jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, alg).expect("sign")
}

/// `signing_input` (`header.payload`, exactly as given) plus its HS256 signature with
/// [`SECRET`].
pub fn sign_input(signing_input: &str) -> String {
    format!(
        "{signing_input}.{}",
        hmac_signature(signing_input, Algorithm::HS256, SECRET)
    )
}

/// A token whose header and payload are exactly these texts, HMAC-signed with `secret`.
pub fn raw_token(header: &str, payload: &str, alg: Algorithm, secret: impl AsRef<[u8]>) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = hmac_signature(&input, alg, secret);
    format!("{input}.{sig}")
}

/// A token with a hand-written JOSE header and signature, for what no honest signer writes.
pub fn forge(header: &Value, claims: &Map<String, Value>, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string()),
        b64(Value::Object(claims.clone()).to_string()),
        b64(signature)
    )
}

/// `token` with its JOSE header replaced by `header`, payload and signature kept.
pub fn with_header(token: &str, header: &Value) -> String {
    let (_, rest) = token.split_once('.').expect("a compact JWT");
    format!("{}.{rest}", b64(header.to_string()))
}

/// The three segments of a token (empty where missing).
pub fn parts(token: &str) -> (String, String, String) {
    let mut it = token.split('.');
    let (h, p, s) = (it.next(), it.next(), it.next());
    (
        h.unwrap_or_default().to_string(),
        p.unwrap_or_default().to_string(),
        s.unwrap_or_default().to_string(),
    )
}

/// The claims of a token's payload, when it is a base64url JSON object.
pub fn payload_of(token: &str) -> Option<Map<String, Value>> {
    let payload = token.split('.').nth(1)?.trim_end_matches('=');
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    // The JSON text encodings PyJWT 2 reads too: a UTF-8 BOM, UTF-16 LE with its BOM.
    let text = match bytes.as_slice() {
        [0xef, 0xbb, 0xbf, rest @ ..] => String::from_utf8(rest.to_vec()).ok()?,
        [0xff, 0xfe, rest @ ..] => {
            let units: Vec<u16> = rest
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16(&units).ok()?
        }
        _ => String::from_utf8(bytes).ok()?,
    };
    match serde_json::from_str(&text).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// Edits of claims, as chains: `claims.set("exp", json!(0)).unset("fresh").token()`.
pub trait ClaimsExt: Sized {
    /// With `key` set to `value`.
    fn set(self, key: &str, value: Value) -> Self;
    /// Without `key`.
    fn unset(self, key: &str) -> Self;
    /// Signed like the library's tokens: [`HS256_HEADER`], HS256, [`SECRET`].
    fn token(&self) -> String;
    /// Signed with HS256 and [`SECRET`] under an arbitrary header object.
    fn token_under(&self, header: Value) -> String;
    /// The payload text.
    fn text(&self) -> String;
}

impl ClaimsExt for Map<String, Value> {
    fn set(mut self, key: &str, value: Value) -> Self {
        self.insert(key.to_string(), value);
        self
    }

    fn unset(mut self, key: &str) -> Self {
        self.remove(key);
        self
    }

    fn token(&self) -> String {
        raw_token(HS256_HEADER, &self.text(), Algorithm::HS256, SECRET)
    }

    fn token_under(&self, header: Value) -> String {
        raw_token(&header.to_string(), &self.text(), Algorithm::HS256, SECRET)
    }

    fn text(&self) -> String {
        Value::Object(self.clone()).to_string()
    }
}
