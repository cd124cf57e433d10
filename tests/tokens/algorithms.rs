//! Every algorithm end to end with real keys, and algorithm confusion: an RSA public key used
//! as an HMAC secret, `none` however spelt, a signature relabelled to another curve.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use crate::support::forge::{forge, with_header};
use crate::{config, secret_jwt, BAD_SIGNATURE, KID_MISFIT, NOT_ALLOWED, ROUTES};

use crate::expect::*;
use crate::keys::*;
use crate::support::start_with_echo;

// 1. Every algorithm end to end

/// `[jwt]` with the secret and every public key (RSA, P-256, P-384, Ed25519) as a list.
fn every_key_jwt(algorithms: &str) -> String {
    secret_jwt(&format!(
        "public_key_file = [{}, {}, {}, {}]\nalgorithms = {algorithms}",
        toml_key(RSA_PUBLIC),
        toml_key(P256_PUBLIC),
        toml_key(P384_PUBLIC),
        toml_key(ED25519_PUBLIC),
    ))
}

const EVERY_ALGORITHM: &str = r#"["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]"#;

#[tokio::test]
async fn every_algorithm_is_forwarded_with_its_subject_when_listed_and_keyed() {
    let (upstream, gw) = start_with_echo(&config(&every_key_jwt(EVERY_ALGORITHM), ROUTES)).await;
    for alg in ALL_ALGORITHMS {
        let subject = format!("user-{alg:?}");
        let token = sign(alg, None, &access(&subject));
        let reply = get_bearer(gw.addr, "/protected", &token).await;
        assert_forwarded(&reply, &subject, &format!("{alg:?} token"));
        assert_eq!(
            reply.upstream_saw("x-auth-token-type"),
            ["access"],
            "{alg:?}: token type header"
        );
    }
    assert_eq!(
        upstream.hits(),
        ALL_ALGORITHMS.len(),
        "one forwarded request per algorithm"
    );
}

#[tokio::test]
async fn a_token_whose_alg_is_not_listed_is_422_even_when_a_key_for_it_exists() {
    let (upstream, gw) =
        start_with_echo(&config(&every_key_jwt(r#"["RS256", "ES256"]"#), ROUTES)).await;
    for alg in ALL_ALGORITHMS {
        let token = sign(alg, None, &access("mallory"));
        let reply = get_bearer(gw.addr, "/protected", &token).await;
        match alg {
            Algorithm::RS256 | Algorithm::ES256 => {
                assert_forwarded(&reply, "mallory", &format!("listed {alg:?}"))
            }
            _ => assert_422(&reply, NOT_ALLOWED, &format!("unlisted {alg:?}")),
        }
    }
    assert_eq!(
        upstream.hits(),
        2,
        "only the two listed algorithms got through"
    );
}

#[tokio::test]
async fn an_es256_token_is_never_verified_by_the_p384_key() {
    let jwt = format!(
        "public_key_file = [{}]\nalgorithms = [\"ES384\"]",
        toml_key(P384_PUBLIC)
    );
    let (upstream, gw) = start_with_echo(&config(&jwt, ROUTES)).await;
    let es256 = sign(Algorithm::ES256, None, &access("mallory"));
    let reply = get_bearer(gw.addr, "/protected", &es256).await;
    assert_422(
        &reply,
        NOT_ALLOWED,
        "an ES256 token where only ES384 is listed",
    );

    // The same P-256 signature under a header that claims ES384: the P-384 key must refuse it.
    let relabelled = with_header(&es256, &json!({ "alg": "ES384", "typ": "JWT" }));
    let reply = get_bearer(gw.addr, "/protected", &relabelled).await;
    assert_422(&reply, BAD_SIGNATURE, "a P-256 signature relabelled ES384");

    let es384 = sign(Algorithm::ES384, None, &access("alice"));
    let reply = get_bearer(gw.addr, "/protected", &es384).await;
    assert_forwarded(&reply, "alice", "a real ES384 token");
    assert_eq!(
        upstream.hits(),
        1,
        "only the real ES384 token was forwarded"
    );
}

#[tokio::test]
async fn a_pkcs1_rsa_public_key_verifies_rs256_tokens() {
    let jwt = format!(
        "public_key_file = {}\nalgorithms = [\"RS256\"]",
        toml_key(RSA_PUBLIC_PKCS1)
    );
    let (_upstream, gw) = start_with_echo(&config(&jwt, ROUTES)).await;
    let token = sign(Algorithm::RS256, None, &access("alice"));
    let reply = get_bearer(gw.addr, "/protected", &token).await;
    assert_forwarded(&reply, "alice", "RS256 against a BEGIN RSA PUBLIC KEY file");
}

// 2. Algorithm confusion

/// The byte strings an attacker would try as the HMAC secret: the RSA public key's PEM file as
/// is, without its final newline, and the DER inside it.
fn rsa_public_key_as_secrets() -> Vec<(&'static str, Vec<u8>)> {
    let pem = key_bytes(RSA_PUBLIC);
    let text = String::from_utf8(pem.clone()).expect("a PEM file is text");
    let trimmed = text.trim_end().as_bytes().to_vec();
    let base64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(base64).expect("the PEM body is base64");
    vec![
        ("the PEM file's bytes", pem),
        ("the PEM without its final newline", trimmed),
        ("the DER inside the PEM", der),
    ]
}

#[tokio::test]
async fn an_hs256_token_signed_with_the_rsa_public_key_is_rejected_when_only_that_key_is_configured(
) {
    let jwt = format!(
        "public_key_file = {}\nalgorithms = [\"RS256\", \"RS384\", \"RS512\", \"PS256\"]",
        toml_key(RSA_PUBLIC)
    );
    let (upstream, gw) = start_with_echo(&config(&jwt, ROUTES)).await;
    for (what, secret) in rsa_public_key_as_secrets() {
        let token = hs256_with_secret(&secret, &fresh("mallory"));
        let reply = get_bearer(gw.addr, "/protected", &token).await;
        assert_422(&reply, NOT_ALLOWED, &format!("HS256 signed with {what}"));
    }
    assert_eq!(upstream.hits(), 0, "no confused token was forwarded");
}

#[tokio::test]
async fn an_hs256_token_signed_with_the_rsa_public_key_is_rejected_even_when_hs256_is_listed() {
    let jwt = secret_jwt(&format!(
        "public_key_file = {}\nalgorithms = [\"RS256\", \"HS256\"]",
        toml_key(RSA_PUBLIC)
    ));
    let (upstream, gw) = start_with_echo(&config(&jwt, ROUTES)).await;
    for (what, secret) in rsa_public_key_as_secrets() {
        let token = hs256_with_secret(&secret, &fresh("mallory"));
        let reply = get_bearer(gw.addr, "/protected", &token).await;
        assert_422(&reply, BAD_SIGNATURE, &format!("HS256 signed with {what}"));
    }
    assert_eq!(upstream.hits(), 0, "no confused token was forwarded");

    // The config itself works: real tokens of both kinds go through.
    let reply = get_bearer(gw.addr, "/protected", &hs256(&access("alice"))).await;
    assert_forwarded(&reply, "alice", "HS256 signed with the real secret");
    let token = sign(Algorithm::RS256, None, &access("bob"));
    let reply = get_bearer(gw.addr, "/protected", &token).await;
    assert_forwarded(&reply, "bob", "RS256 signed with the RSA key");
}

#[tokio::test]
async fn an_hs256_token_naming_the_jwks_rsa_key_and_signed_with_its_pem_is_rejected() {
    let jwt = secret_jwt(&format!(
        "jwks_file = {}\npublic_key_file = {}\nalgorithms = [\"RS256\", \"HS256\"]",
        toml_key(JWKS),
        toml_key(RSA_PUBLIC)
    ));
    let (upstream, gw) = start_with_echo(&config(&jwt, ROUTES)).await;
    let pem = key_bytes(RSA_PUBLIC);
    let key = EncodingKey::from_secret(&pem).expect("a non-empty HMAC secret");
    let token = sign_with(Algorithm::HS256, Some("rsa-1"), &fresh("mallory"), &key);
    let reply = get_bearer(gw.addr, "/protected", &token).await;
    assert_422(&reply, KID_MISFIT, "HS256 with kid rsa-1");
    let token = hs256_with_secret(&pem, &fresh("mallory"));
    let reply = get_bearer(gw.addr, "/protected", &token).await;
    assert_422(
        &reply,
        BAD_SIGNATURE,
        "HS256 without kid, signed with the PEM",
    );
    assert_eq!(upstream.hits(), 0, "no confused token was forwarded");
}

#[tokio::test]
async fn unsigned_tokens_are_rejected_however_none_is_spelled() {
    let (upstream, gw) = start_with_echo(&config(&every_key_jwt(EVERY_ALGORITHM), ROUTES)).await;
    let claims = fresh("mallory");
    let headers = [
        json!({ "alg": "none", "typ": "JWT" }),
        json!({ "alg": "None" }),
        json!({ "alg": "NONE" }),
        json!({ "alg": "nOnE" }),
        json!({ "alg": "" }),
        json!({ "alg": null }),
        json!({ "typ": "JWT" }),
        json!({ "alg": "none", "kid": "rsa-1" }),
    ];
    for header in &headers {
        let token = forge(header, &claims, b"");
        assert!(token.ends_with('.'), "{header}: the signature is empty");
        let reply = get_bearer(gw.addr, "/protected", &token).await;
        assert_422(&reply, NOT_ALLOWED, &format!("header {header}"));
    }
    // `none` with a real HS256 signature attached is no better.
    let real = hs256(&claims);
    let token = with_header(&real, &json!({ "alg": "none", "typ": "JWT" }));
    let reply = get_bearer(gw.addr, "/protected", &token).await;
    assert_422(
        &reply,
        NOT_ALLOWED,
        "alg none carrying a valid HS256 signature",
    );
    assert_eq!(upstream.hits(), 0, "no unsigned token was forwarded");
}
