//! The throwaway keys in `tests/keys/` (see its README), their paths as TOML, and tokens signed
//! with them by jsonwebtoken, with the claims fastapi-jwt-auth writes ([`TokenSpec`]).

use std::path::{Path, PathBuf};

use freshgate::auth::TokenType;
use freshgate::token::TokenSpec;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};

use crate::support::{now, SECRET};

pub const RSA_PRIVATE: &str = "TEST-ONLY-rsa-private.pem";
pub const RSA_PUBLIC: &str = "TEST-ONLY-rsa-public.pem";
pub const RSA_PRIVATE_PKCS1: &str = "TEST-ONLY-rsa-private-pkcs1.pem";
pub const RSA_PUBLIC_PKCS1: &str = "TEST-ONLY-rsa-public-pkcs1.pem";
pub const RSA_ENC_PRIVATE: &str = "TEST-ONLY-rsa-enc-private.pem";
pub const P256_PRIVATE: &str = "TEST-ONLY-p256-private.pem";
pub const P256_PUBLIC: &str = "TEST-ONLY-p256-public.pem";
pub const P384_PRIVATE: &str = "TEST-ONLY-p384-private.pem";
pub const P384_PUBLIC: &str = "TEST-ONLY-p384-public.pem";
pub const ED25519_PRIVATE: &str = "TEST-ONLY-ed25519-private.pem";
pub const ED25519_PUBLIC: &str = "TEST-ONLY-ed25519-public.pem";
pub const JWKS: &str = "TEST-ONLY-jwks.json";

pub const ALL_ALGORITHMS: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The absolute path of a test key: the gateway under test resolves relative paths against
/// ".", which is not this directory.
pub fn key_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(name)
}

/// A test key's path as a TOML literal string.
pub fn toml_key(name: &str) -> String {
    toml_path(&key_path(name))
}

pub fn toml_path(path: &Path) -> String {
    let text = path.display().to_string();
    assert!(
        !text.contains('\''),
        "{text} cannot be written as a TOML literal string"
    );
    format!("'{text}'")
}

pub fn key_bytes(name: &str) -> Vec<u8> {
    std::fs::read(key_path(name)).unwrap_or_else(|e| panic!("read test key {name}: {e}"))
}

/// The private key the tests sign `alg` tokens with.
pub fn encoding_key(alg: Algorithm) -> EncodingKey {
    let key = match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            EncodingKey::from_secret(SECRET.as_bytes())
        }
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => EncodingKey::from_rsa_pem(&key_bytes(RSA_PRIVATE)),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&key_bytes(P256_PRIVATE)),
        Algorithm::ES384 => EncodingKey::from_ec_pem(&key_bytes(P384_PRIVATE)),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&key_bytes(ED25519_PRIVATE)),
        // `Algorithm` is non-exhaustive; a new variant has no test key yet.
        other => panic!("no test key for {other:?}"),
    };
    key.unwrap_or_else(|e| panic!("the test key for {alg:?} loads: {e}"))
}

/// Signs `claims` as an `alg` token with the test key for `alg`, naming `kid` if given.
pub fn sign(alg: Algorithm, kid: Option<&str>, claims: &Map<String, Value>) -> String {
    sign_with(alg, kid, claims, &encoding_key(alg))
}

pub fn sign_with(
    alg: Algorithm,
    kid: Option<&str>,
    claims: &Map<String, Value>,
    key: &EncodingKey,
) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, key)
        .unwrap_or_else(|e| panic!("sign a {alg:?} token: {e}"))
}

/// The claims fastapi-jwt-auth writes for a non-fresh access token issued now.
pub fn access(sub: &str) -> Map<String, Value> {
    TokenSpec::new(sub, TokenType::Access, false).claims(now())
}

/// The claims of a fresh access token issued now.
pub fn fresh(sub: &str) -> Map<String, Value> {
    TokenSpec::new(sub, TokenType::Access, true).claims(now())
}

/// The claims of a refresh token issued now.
pub fn refresh(sub: &str) -> Map<String, Value> {
    TokenSpec::new(sub, TokenType::Refresh, false).claims(now())
}

pub fn hs256(claims: &Map<String, Value>) -> String {
    sign(Algorithm::HS256, None, claims)
}

pub fn jti(claims: &Map<String, Value>) -> String {
    claims["jti"].as_str().expect("a jti").to_string()
}

/// An HS256 token signed with `secret` as the HMAC key.
pub fn hs256_with_secret(secret: &[u8], claims: &Map<String, Value>) -> String {
    let key = EncodingKey::from_secret(secret).expect("a non-empty HMAC secret");
    sign_with(Algorithm::HS256, None, claims, &key)
}
