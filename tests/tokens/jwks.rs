//! JWKS: a token's `kid` picks its key; without one, the keys fitting the alg are tried; odd
//! and unknown kids are plain 422s, and the encryption key never verifies.

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use crate::support::forge::forge;
use crate::{config, BAD_SIGNATURE, KID_MISFIT, ROUTES, UNKNOWN_KID};

use crate::expect::*;
use crate::keys::*;
use crate::support::start_with_echo;

fn jwks_config() -> String {
    config(
        &format!(
            "jwks_file = {}\nalgorithms = [\"RS256\", \"ES256\", \"EdDSA\"]",
            toml_key(JWKS)
        ),
        ROUTES,
    )
}

#[tokio::test]
async fn a_token_kid_picks_its_key_from_the_jwks() {
    let (upstream, gw) = start_with_echo(&jwks_config()).await;
    for (alg, kid) in [
        (Algorithm::RS256, "rsa-1"),
        (Algorithm::ES256, "p256-1"),
        (Algorithm::EdDSA, "ed-1"),
    ] {
        let token = sign(alg, Some(kid), &access(kid));
        let reply = get_bearer(gw.addr, "/protected", &token).await;
        assert_forwarded(&reply, kid, &format!("{alg:?} with kid {kid}"));
    }
    assert_eq!(upstream.hits(), 3, "every token was forwarded");
}

#[tokio::test]
async fn without_a_kid_the_jwks_keys_fitting_the_alg_are_tried() {
    let (upstream, gw) = start_with_echo(&jwks_config()).await;
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let subject = format!("{alg:?}");
        let token = sign(alg, None, &access(&subject));
        let reply = get_bearer(gw.addr, "/protected", &token).await;
        assert_forwarded(&reply, &subject, &format!("{alg:?} without kid"));
    }
    assert_eq!(upstream.hits(), 3, "every token was forwarded");
}

#[tokio::test]
async fn an_unknown_kid_is_422_because_no_key_matches() {
    let (upstream, gw) = start_with_echo(&jwks_config()).await;
    for kid in ["rsa-2", "RSA-1", "rsa-1 ", ""] {
        let token = sign(Algorithm::RS256, Some(kid), &access("mallory"));
        let reply = get_bearer(gw.addr, "/protected", &token).await;
        assert_422(&reply, UNKNOWN_KID, &format!("kid {kid:?}"));
    }
    assert_eq!(upstream.hits(), 0, "nothing was forwarded");
}

#[tokio::test]
async fn a_kid_naming_a_key_of_the_wrong_type_for_the_alg_is_422() {
    let (upstream, gw) = start_with_echo(&jwks_config()).await;
    for (alg, kid) in [
        (Algorithm::ES256, "rsa-1"),
        (Algorithm::RS256, "p256-1"),
        (Algorithm::EdDSA, "p256-1"),
        (Algorithm::RS256, "ed-1"),
    ] {
        let token = sign(alg, Some(kid), &access("mallory"));
        let reply = get_bearer(gw.addr, "/protected", &token).await;
        assert_422(&reply, KID_MISFIT, &format!("{alg:?} with kid {kid}"));
    }
    assert_eq!(upstream.hits(), 0, "nothing was forwarded");
}

#[tokio::test]
async fn a_jwks_key_with_an_alg_verifies_only_that_alg() {
    // rsa-1 says "alg": "RS256"; the PEM copy of the same key has no such pin.
    let jwt = format!(
        "jwks_file = {}\npublic_key_file = {}\nalgorithms = [\"RS256\", \"PS256\"]",
        toml_key(JWKS),
        toml_key(RSA_PUBLIC)
    );
    let (_upstream, gw) = start_with_echo(&config(&jwt, ROUTES)).await;
    let token = sign(Algorithm::PS256, Some("rsa-1"), &access("alice"));
    let reply = get_bearer(gw.addr, "/protected", &token).await;
    assert_422(&reply, KID_MISFIT, "PS256 naming the RS256-only rsa-1");
    let token = sign(Algorithm::PS256, None, &access("alice"));
    let reply = get_bearer(gw.addr, "/protected", &token).await;
    assert_forwarded(
        &reply,
        "alice",
        "PS256 without kid, verified by the PEM key",
    );
}

#[tokio::test]
async fn a_kid_with_path_characters_or_odd_bytes_is_a_plain_422() {
    let (upstream, gw) = start_with_echo(&jwks_config()).await;
    let long = "k".repeat(4000);
    let kids = [
        "../../etc/passwd",
        "/etc/passwd",
        "..\\..\\windows\\win.ini",
        "rsa-1/../rsa-1",
        "file:///etc/passwd",
        "%2e%2e%2fetc%2fpasswd",
        "rsa-1\u{0}",
        "\u{1F511}",
        "rsa-1\r\nX-Injected: 1",
        long.as_str(),
    ];
    for kid in kids {
        let token = sign(Algorithm::RS256, Some(kid), &access("mallory"));
        let reply = get_bearer(gw.addr, "/protected", &token).await;
        let case = format!("kid {:?}", kid.chars().take(40).collect::<String>());
        assert_422(&reply, UNKNOWN_KID, &case);
    }
    let header_kids = [
        json!(5),
        json!(["rsa-1"]),
        json!({ "kid": "rsa-1" }),
        json!(null),
    ];
    for kid in header_kids {
        let token = forge(
            &json!({ "alg": "RS256", "kid": kid }),
            &access("mallory"),
            b"sig",
        );
        let reply = get_bearer(gw.addr, "/protected", &token).await;
        assert_422(
            &reply,
            "Key ID header parameter must be a string",
            &format!("kid {kid}"),
        );
    }
    assert_eq!(upstream.hits(), 0, "nothing was forwarded");
    let token = sign(Algorithm::RS256, Some("rsa-1"), &access("alice"));
    let reply = get_bearer(gw.addr, "/protected", &token).await;
    assert_forwarded(&reply, "alice", "the gateway still serves after odd kids");
}

#[tokio::test]
async fn the_jwks_encryption_key_never_verifies_a_token() {
    let (upstream, gw) = start_with_echo(&jwks_config()).await;
    let enc = EncodingKey::from_rsa_pem(&key_bytes(RSA_ENC_PRIVATE)).expect("the enc test key");
    let token = sign_with(Algorithm::RS256, Some("rsa-enc"), &access("mallory"), &enc);
    let reply = get_bearer(gw.addr, "/protected", &token).await;
    assert_422(&reply, UNKNOWN_KID, "RS256 naming the enc key");
    let token = sign_with(Algorithm::RS256, None, &access("mallory"), &enc);
    let reply = get_bearer(gw.addr, "/protected", &token).await;
    assert_422(&reply, BAD_SIGNATURE, "RS256 signed by the enc key, no kid");
    assert_eq!(upstream.hits(), 0, "nothing was forwarded");
}
