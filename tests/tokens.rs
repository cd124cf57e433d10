//! Tokens as deployments issue them (issue 3), through a real gateway in front of a real echo
//! upstream: every algorithm with real keys, algorithm confusion, JWKS `kid` selection, config
//! refusals for keys and forwarding, `max_age` freshness windows, `WWW-Authenticate`
//! challenges, claims sent as headers, `strip_authorization`, the file-backed denylist (edited
//! while running) and cookies with CSRF double submit.
//!
//! The keys are the throwaway ones in `tests/keys/` (see its README); tokens are minted with
//! jsonwebtoken and the claims fastapi-jwt-auth writes ([`TokenSpec`]).
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use freshgate::auth::TokenType;
use freshgate::config::ConfigError;
use freshgate::reload::Reloader;
use freshgate::token::TokenSpec;
use freshgate::Gateway;
use http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Map, Value};
use support::*;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

// ---------------------------------------------------------------------------------------------
// Keys and tokens
// ---------------------------------------------------------------------------------------------

const RSA_PRIVATE: &str = "TEST-ONLY-rsa-private.pem";
const RSA_PUBLIC: &str = "TEST-ONLY-rsa-public.pem";
const RSA_PRIVATE_PKCS1: &str = "TEST-ONLY-rsa-private-pkcs1.pem";
const RSA_PUBLIC_PKCS1: &str = "TEST-ONLY-rsa-public-pkcs1.pem";
const RSA_ENC_PRIVATE: &str = "TEST-ONLY-rsa-enc-private.pem";
const P256_PRIVATE: &str = "TEST-ONLY-p256-private.pem";
const P256_PUBLIC: &str = "TEST-ONLY-p256-public.pem";
const P384_PRIVATE: &str = "TEST-ONLY-p384-private.pem";
const P384_PUBLIC: &str = "TEST-ONLY-p384-public.pem";
const ED25519_PRIVATE: &str = "TEST-ONLY-ed25519-private.pem";
const ED25519_PUBLIC: &str = "TEST-ONLY-ed25519-public.pem";
const JWKS: &str = "TEST-ONLY-jwks.json";

const ALL_ALGORITHMS: [Algorithm; 12] = [
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
fn key_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(name)
}

/// A test key's path as a TOML literal string.
fn toml_key(name: &str) -> String {
    toml_path(&key_path(name))
}

fn toml_path(path: &Path) -> String {
    let text = path.display().to_string();
    assert!(
        !text.contains('\''),
        "{text} cannot be written as a TOML literal string"
    );
    format!("'{text}'")
}

fn key_bytes(name: &str) -> Vec<u8> {
    std::fs::read(key_path(name)).unwrap_or_else(|e| panic!("read test key {name}: {e}"))
}

/// The private key the tests sign `alg` tokens with.
fn encoding_key(alg: Algorithm) -> EncodingKey {
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
fn sign(alg: Algorithm, kid: Option<&str>, claims: &Map<String, Value>) -> String {
    sign_with(alg, kid, claims, &encoding_key(alg))
}

fn sign_with(
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

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with a hand-written JOSE header and signature, for what no honest signer writes.
fn forge(header: &Value, claims: &Map<String, Value>, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string()),
        b64(Value::Object(claims.clone()).to_string()),
        b64(signature)
    )
}

/// `token` with its JOSE header replaced by `header`, payload and signature kept.
fn with_header(token: &str, header: &Value) -> String {
    let (_, rest) = token.split_once('.').expect("a compact JWT");
    format!("{}.{rest}", b64(header.to_string()))
}

/// The claims fastapi-jwt-auth writes for a non-fresh access token issued now.
fn access(sub: &str) -> Map<String, Value> {
    TokenSpec::new(sub, TokenType::Access, false).claims(now())
}

/// The claims of a fresh access token issued now.
fn fresh(sub: &str) -> Map<String, Value> {
    TokenSpec::new(sub, TokenType::Access, true).claims(now())
}

/// The claims of a refresh token issued now.
fn refresh(sub: &str) -> Map<String, Value> {
    TokenSpec::new(sub, TokenType::Refresh, false).claims(now())
}

/// `claims` with `name` set to `value`.
fn with(mut claims: Map<String, Value>, name: &str, value: Value) -> Map<String, Value> {
    claims.insert(name.to_string(), value);
    claims
}

/// `claims` without `name`.
fn without(mut claims: Map<String, Value>, name: &str) -> Map<String, Value> {
    claims.remove(name);
    claims
}

fn hs256(claims: &Map<String, Value>) -> String {
    sign(Algorithm::HS256, None, claims)
}

fn jti(claims: &Map<String, Value>) -> String {
    claims["jti"].as_str().expect("a jti").to_string()
}

// ---------------------------------------------------------------------------------------------
// Configs, requests and assertions
// ---------------------------------------------------------------------------------------------

/// Routes for every policy; `/fresh-window` has a five-minute `max_age`.
const ROUTES: &str = r#"
[[route]]
path = "/protected"
policy = "access"

[[route]]
path = "/fresh"
policy = "fresh"

[[route]]
path = "/fresh-window"
policy = "fresh"
max_age = "5m"

[[route]]
path = "/refresh"
policy = "refresh"

[[route]]
path = "/optional"
policy = "optional"
"#;

/// A whole config: the echo upstream, `[jwt]` with `jwt` in it, then `rest` (routes and any
/// other tables).
fn config(jwt: &str, rest: &str) -> String {
    format!("[upstreams]\napp = \"http://{{upstream}}\"\n\n[jwt]\n{jwt}\n{rest}")
}

/// `[jwt]` lines for the shared HMAC secret plus `extra`.
fn secret_jwt(extra: &str) -> String {
    format!("secret = \"{SECRET}\"\n{extra}")
}

async fn start(config: &str) -> (Upstream, TestGateway) {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(config, upstream.addr).await;
    (upstream, gateway)
}

/// Sends a request with text headers.
async fn call(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let raw: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
    send(addr, method, path, &raw).await
}

/// `GET path` with `Authorization: Bearer <token>`.
async fn get_bearer(addr: std::net::SocketAddr, path: &str, token: &str) -> Reply {
    call(
        addr,
        "GET",
        path,
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await
}

fn body_text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// Every `WWW-Authenticate` value of a reply.
fn challenges(reply: &Reply) -> Vec<String> {
    reply
        .headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

/// The reply is the gateway's own `{"detail": ...}` answer with this status, and nothing else.
#[track_caller]
fn assert_rejected(reply: &Reply, status: u16, detail: &str, case: &str) {
    assert_eq!(
        reply.status.as_u16(),
        status,
        "{case}: status (body {})",
        body_text(reply)
    );
    assert_eq!(
        body_text(reply),
        json!({ "detail": detail }).to_string(),
        "{case}: the body is exactly {{\"detail\": ...}}"
    );
    assert_eq!(
        reply
            .headers
            .get("content-type")
            .map(|v| v.as_bytes().to_vec()),
        Some(b"application/json".to_vec()),
        "{case}: content-type"
    );
    assert!(
        reply.headers.get("x-upstream").is_none(),
        "{case}: the answer came from the gateway, not the upstream"
    );
}

/// A 422 carries no challenge (RFC 6750 challenges belong to 401s).
#[track_caller]
fn assert_422(reply: &Reply, detail: &str, case: &str) {
    assert_rejected(reply, 422, detail, case);
    assert_eq!(
        challenges(reply),
        Vec::<String>::new(),
        "{case}: a 422 has no WWW-Authenticate"
    );
}

/// The request reached the upstream with this verified subject.
#[track_caller]
fn assert_forwarded(reply: &Reply, subject: &str, case: &str) {
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{case}: forwarded (body {})",
        body_text(reply)
    );
    assert_eq!(
        reply.upstream_saw("x-auth-subject"),
        [subject],
        "{case}: the upstream saw the token's subject"
    );
}

const NOT_ALLOWED: &str = "The specified alg value is not allowed";
const BAD_SIGNATURE: &str = "Signature verification failed";
const UNKNOWN_KID: &str = "No key matches the token's kid";
const KID_MISFIT: &str = "The key named by the token's kid does not fit its alg";
const NOT_FRESH: &str = "Fresh token required";
const REVOKED: &str = "Token has been revoked";
const INVALID_TOKEN_REVOKED: &str =
    r#"Bearer error="invalid_token", error_description="Token has been revoked""#;
const STEP_UP: &str =
    r#"Bearer error="insufficient_user_authentication", error_description="Fresh token required""#;

/// Polls `GET path` with `token` until the status is `want` (or 5 s pass).
async fn wait_for_status(
    addr: std::net::SocketAddr,
    path: &str,
    token: &str,
    want: StatusCode,
    what: &str,
) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = get_bearer(addr, path, token).await;
        if reply.status == want {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: still {} {}",
            reply.status,
            body_text(&reply)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Every algorithm end to end
// ---------------------------------------------------------------------------------------------

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
    let (upstream, gw) = start(&config(&every_key_jwt(EVERY_ALGORITHM), ROUTES)).await;
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
    let (upstream, gw) = start(&config(&every_key_jwt(r#"["RS256", "ES256"]"#), ROUTES)).await;
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
    let (upstream, gw) = start(&config(&jwt, ROUTES)).await;
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
    let (_upstream, gw) = start(&config(&jwt, ROUTES)).await;
    let token = sign(Algorithm::RS256, None, &access("alice"));
    let reply = get_bearer(gw.addr, "/protected", &token).await;
    assert_forwarded(&reply, "alice", "RS256 against a BEGIN RSA PUBLIC KEY file");
}

// ---------------------------------------------------------------------------------------------
// 2. Algorithm confusion
// ---------------------------------------------------------------------------------------------

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

fn hs256_with_secret(secret: &[u8], claims: &Map<String, Value>) -> String {
    let key = EncodingKey::from_secret(secret).expect("a non-empty HMAC secret");
    sign_with(Algorithm::HS256, None, claims, &key)
}

#[tokio::test]
async fn an_hs256_token_signed_with_the_rsa_public_key_is_rejected_when_only_that_key_is_configured(
) {
    let jwt = format!(
        "public_key_file = {}\nalgorithms = [\"RS256\", \"RS384\", \"RS512\", \"PS256\"]",
        toml_key(RSA_PUBLIC)
    );
    let (upstream, gw) = start(&config(&jwt, ROUTES)).await;
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
    let (upstream, gw) = start(&config(&jwt, ROUTES)).await;
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
    let (upstream, gw) = start(&config(&jwt, ROUTES)).await;
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
    let (upstream, gw) = start(&config(&every_key_jwt(EVERY_ALGORITHM), ROUTES)).await;
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

// ---------------------------------------------------------------------------------------------
// 3. JWKS
// ---------------------------------------------------------------------------------------------

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
    let (upstream, gw) = start(&jwks_config()).await;
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
    let (upstream, gw) = start(&jwks_config()).await;
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let subject = format!("{alg:?}");
        let token = sign(alg, None, &access(&subject));
        let reply = get_bearer(gw.addr, "/protected", &token).await;
        assert_forwarded(&reply, &subject, &format!("{alg:?} without kid"));
    }
    assert_eq!(upstream.hits(), 3, "every token was forwarded");
}

#[tokio::test]
async fn an_unknown_kid_is_422_no_key_matches() {
    let (upstream, gw) = start(&jwks_config()).await;
    for kid in ["rsa-2", "RSA-1", "rsa-1 ", ""] {
        let token = sign(Algorithm::RS256, Some(kid), &access("mallory"));
        let reply = get_bearer(gw.addr, "/protected", &token).await;
        assert_422(&reply, UNKNOWN_KID, &format!("kid {kid:?}"));
    }
    assert_eq!(upstream.hits(), 0, "nothing was forwarded");
}

#[tokio::test]
async fn a_kid_naming_a_key_of_the_wrong_type_for_the_alg_is_422() {
    let (upstream, gw) = start(&jwks_config()).await;
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
    let (_upstream, gw) = start(&config(&jwt, ROUTES)).await;
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
    let (upstream, gw) = start(&jwks_config()).await;
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
    let (upstream, gw) = start(&jwks_config()).await;
    let enc = EncodingKey::from_rsa_pem(&key_bytes(RSA_ENC_PRIVATE)).expect("the enc test key");
    let token = sign_with(Algorithm::RS256, Some("rsa-enc"), &access("mallory"), &enc);
    let reply = get_bearer(gw.addr, "/protected", &token).await;
    assert_422(&reply, UNKNOWN_KID, "RS256 naming the enc key");
    let token = sign_with(Algorithm::RS256, None, &access("mallory"), &enc);
    let reply = get_bearer(gw.addr, "/protected", &token).await;
    assert_422(&reply, BAD_SIGNATURE, "RS256 signed by the enc key, no kid");
    assert_eq!(upstream.hits(), 0, "nothing was forwarded");
}

// ---------------------------------------------------------------------------------------------
// 4. Config refusals
// ---------------------------------------------------------------------------------------------

/// A whole config around `jwt` and `rest`, for parsing only (nothing listens on the upstream).
fn parse_only(jwt: &str, rest: &str) -> String {
    let routes = if rest.is_empty() {
        "[[route]]\npath = \"/protected\"\npolicy = \"access\"\n"
    } else {
        rest
    };
    format!("[upstreams]\napp = \"http://127.0.0.1:9\"\n\n[jwt]\n{jwt}\n\n{routes}")
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} is not in the config"))
        + 1
}

/// Parses `text`, expects it refused, and returns the error for `key`, checking it points at
/// the line holding `at`, says `message_part` and carries a fix.
#[track_caller]
fn assert_refused(text: &str, key: &str, at: &str, message_part: &str, case: &str) -> ConfigError {
    let errors = match freshgate::config::parse(text, "test.toml", Path::new(".")) {
        Ok(_) => panic!("{case}: the config was accepted:\n{text}"),
        Err(errors) => errors.0,
    };
    let found = errors.iter().find(|e| e.key == key).unwrap_or_else(|| {
        panic!(
            "{case}: no error names {key}; got:\n{}",
            freshgate::config::ConfigErrors(errors.clone())
        )
    });
    assert!(
        found.message.contains(message_part),
        "{case}: the message {:?} says {message_part:?}",
        found.message
    );
    assert!(!found.fix.is_empty(), "{case}: the error has a fix");
    assert_eq!(
        found.line,
        line_of(text, at),
        "{case}: the error points at the line with {at:?}"
    );
    assert_eq!(found.file, "test.toml", "{case}: the error names the file");
    found.clone()
}

#[test]
fn an_unreadable_public_key_file_is_refused_naming_the_key() {
    for (what, path) in [
        ("a missing file", key_path("TEST-ONLY-does-not-exist.pem")),
        ("a directory", key_path("")),
    ] {
        let text = parse_only(
            &format!(
                "public_key_file = {}\nalgorithms = [\"RS256\"]",
                toml_path(&path)
            ),
            "",
        );
        let error = assert_refused(
            &text,
            "jwt.public_key_file",
            "public_key_file",
            "cannot read",
            what,
        );
        assert!(
            error.message.contains(&path.display().to_string()),
            "{what}: the message names the path: {}",
            error.message
        );
    }
}

/// A config whose `public_key_file` lists the real RSA public key and then `path`.
fn with_public_key_file(path: &Path) -> String {
    parse_only(
        &format!(
            "public_key_file = [{}, {}]\nalgorithms = [\"RS256\"]",
            toml_key(RSA_PUBLIC),
            toml_path(path)
        ),
        "",
    )
}

#[test]
fn a_file_that_is_not_a_pem_public_key_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").expect("write an empty file");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n",
    )
    .expect("write a fake PEM");
    let cases = [
        ("an empty file", empty),
        ("a PEM whose body is not a key", garbage),
        ("a README", key_path("README.md")),
        ("a JWKS", key_path(JWKS)),
    ];
    for (what, path) in cases {
        let name = path.file_name().expect("a file name").to_string_lossy();
        let text = with_public_key_file(&path);
        assert_refused(&text, "jwt.public_key_file", "public_key_file", &name, what);
    }
}

#[test]
fn a_private_key_given_as_public_key_file_is_refused_at_load() {
    // Pointing public_key_file at the private key is a common slip; accepted, it would fail
    // every token at request time (or worse, keep a private key in the gateway's memory).
    let cases = [
        ("an RSA private key (PKCS#8)", RSA_PRIVATE),
        ("an RSA private key (PKCS#1)", RSA_PRIVATE_PKCS1),
        ("a P-256 private key", P256_PRIVATE),
        ("a P-384 private key", P384_PRIVATE),
        ("an Ed25519 private key", ED25519_PRIVATE),
    ];
    let accepted: Vec<&str> = cases
        .iter()
        .filter(|(_, name)| {
            let text = with_public_key_file(&key_path(name));
            freshgate::config::parse(&text, "test.toml", Path::new(".")).is_ok()
        })
        .map(|(what, _)| *what)
        .collect();
    assert_eq!(
        accepted,
        Vec::<&str>::new(),
        "private keys accepted as public_key_file"
    );
    for (what, name) in cases {
        let text = with_public_key_file(&key_path(name));
        assert_refused(&text, "jwt.public_key_file", "public_key_file", name, what);
    }
}

#[test]
fn a_jwks_without_usable_keys_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let jwks: Value = serde_json::from_slice(&key_bytes(JWKS)).expect("the test JWKS is JSON");
    let enc_only: Vec<Value> = jwks["keys"]
        .as_array()
        .expect("a key list")
        .iter()
        .filter(|k| k["use"] == "enc")
        .cloned()
        .collect();
    assert_eq!(enc_only.len(), 1, "the test JWKS has one enc key");
    let cases = [
        (
            "only an encryption key",
            json!({ "keys": enc_only }).to_string(),
            "no usable key",
        ),
        (
            "an empty key list",
            json!({ "keys": [] }).to_string(),
            "no usable key",
        ),
        (
            "a key on an unsupported curve",
            json!({ "keys": [{ "kty": "EC", "crv": "P-521", "x": "AA", "y": "AA" }] }).to_string(),
            "no usable key",
        ),
        (
            "not JSON",
            "-----BEGIN PUBLIC KEY-----".to_string(),
            "not a JSON Web Key Set",
        ),
    ];
    for (i, (what, content, message)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("jwks-{i}.json"));
        std::fs::write(&path, content).expect("write the JWKS");
        let text = parse_only(
            &format!("jwks_file = {}\nalgorithms = [\"RS256\"]", toml_path(&path)),
            "",
        );
        assert_refused(&text, "jwt.jwks_file", "jwks_file", message, what);
    }
}

#[test]
fn an_algorithm_that_no_configured_key_can_verify_is_refused() {
    let cases = [
        (
            "ES256 with only the P-384 key",
            format!(
                "public_key_file = {}\nalgorithms = [\"ES384\", \"ES256\"]",
                toml_key(P384_PUBLIC)
            ),
            "\"ES256\"",
        ),
        (
            "the default HS256 with only an RSA key",
            format!("public_key_file = {}", toml_key(RSA_PUBLIC)),
            "(the default)",
        ),
        (
            "HS256 with only an RSA key",
            format!(
                "public_key_file = {}\nalgorithms = [\"RS256\", \"HS256\"]",
                toml_key(RSA_PUBLIC)
            ),
            "\"HS256\"",
        ),
        (
            "RS256 with only a secret",
            secret_jwt("algorithms = [\"HS256\", \"RS256\"]"),
            "\"RS256\"",
        ),
        (
            "PS256 with only the JWKS key pinned to RS256",
            format!(
                "jwks_file = {}\nalgorithms = [\"RS256\", \"PS256\"]",
                toml_key(JWKS)
            ),
            "\"PS256\"",
        ),
        (
            "EdDSA with only the P-256 key",
            format!(
                "public_key_file = {}\nalgorithms = [\"EdDSA\"]",
                toml_key(P256_PUBLIC)
            ),
            "\"EdDSA\"",
        ),
    ];
    for (what, jwt, message) in cases {
        let text = parse_only(&jwt, "");
        let at = if jwt.contains("algorithms") {
            "algorithms"
        } else {
            "[jwt]"
        };
        assert_refused(&text, "jwt.algorithms", at, message, what);
    }
    let text = parse_only(&secret_jwt("algorithms = [\"HS256\", \"none\"]"), "");
    assert_refused(
        &text,
        "jwt.algorithms",
        "algorithms",
        "never accepted",
        "none in the list",
    );
}

#[test]
fn max_age_on_a_route_that_is_not_fresh_is_refused() {
    for policy in ["access", "optional", "refresh", "public"] {
        let routes = format!("[[route]]\npath = \"/x\"\npolicy = \"{policy}\"\nmax_age = \"5m\"\n");
        let text = parse_only(&secret_jwt(""), &routes);
        assert_refused(
            &text,
            "route[1].max_age",
            "max_age",
            "fresh",
            &format!("max_age on a {policy} route"),
        );
    }
}

#[test]
fn a_claim_header_outside_x_auth_or_set_by_freshgate_is_refused() {
    let cases = [
        ("X-Roles", "X-Auth-"),
        ("Authorization", "X-Auth-"),
        ("X-Authx-Roles", "X-Auth-"),
        ("X-Auth-Subject", "set by freshgate itself"),
        ("x-auth-subject", "set by freshgate itself"),
        ("X-Auth-Fresh", "set by freshgate itself"),
    ];
    for (header, message) in cases {
        let rest = format!(
            "[forward]\nclaims = {{ \"{header}\" = \"roles\" }}\n\n[[route]]\npath = \"/x\"\npolicy = \"access\"\n"
        );
        let text = parse_only(&secret_jwt(""), &rest);
        assert_refused(
            &text,
            &format!("forward.claims.{header:?}"),
            "claims",
            message,
            &format!("claims header {header}"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Freshness windows
// ---------------------------------------------------------------------------------------------

/// A fresh access token issued `iat_ago` seconds ago (iat and nbf), with `auth_time` if given.
fn fresh_at(iat_ago: Option<i64>, auth_time_ago: Option<i64>) -> Map<String, Value> {
    let t = now();
    let mut claims = fresh("alice");
    match iat_ago {
        Some(ago) => {
            claims.insert("iat".into(), json!(t - ago));
            claims.insert("nbf".into(), json!(t - ago));
        }
        None => {
            claims.remove("iat");
        }
    }
    if let Some(ago) = auth_time_ago {
        claims.insert("auth_time".into(), json!(t - ago));
    }
    claims
}

/// Sends each case to its route and checks forwarded or 401 `Fresh token required` with the
/// step-up challenge (`max_age=300` on `/fresh-window`).
async fn check_freshness(gw: &TestGateway, cases: &[(&str, &str, Map<String, Value>, bool)]) {
    for (what, path, claims, accepted) in cases {
        let reply = get_bearer(gw.addr, path, &hs256(claims)).await;
        let case = format!("{what} on {path}");
        if *accepted {
            assert_forwarded(&reply, "alice", &case);
            assert_eq!(
                reply.upstream_saw("x-auth-fresh"),
                ["true"],
                "{case}: fresh"
            );
        } else {
            assert_rejected(&reply, 401, NOT_FRESH, &case);
            let challenge = match *path {
                "/fresh-window" => format!("{STEP_UP}, max_age=300"),
                _ => STEP_UP.to_string(),
            };
            assert_eq!(challenges(&reply), [challenge], "{case}: step-up challenge");
        }
    }
}

#[tokio::test]
async fn max_age_accepts_auth_time_inside_the_window_and_rejects_it_outside() {
    let (upstream, gw) = start(&config(&secret_jwt(""), ROUTES)).await;
    let cases = [
        (
            "auth_time 4m55s ago",
            "/fresh-window",
            fresh_at(Some(0), Some(295)),
            true,
        ),
        (
            "auth_time 5m05s ago",
            "/fresh-window",
            fresh_at(Some(0), Some(305)),
            false,
        ),
        (
            "no auth_time, iat 4m55s ago",
            "/fresh-window",
            fresh_at(Some(295), None),
            true,
        ),
        (
            "no auth_time, iat 5m05s ago",
            "/fresh-window",
            fresh_at(Some(305), None),
            false,
        ),
        (
            "recent auth_time, old iat",
            "/fresh-window",
            fresh_at(Some(400), Some(10)),
            true,
        ),
        (
            "auth_time 5m05s ago beats an iat 4m55s ago",
            "/fresh-window",
            fresh_at(Some(295), Some(305)),
            false,
        ),
        (
            "auth_time 5m05s ago without a window",
            "/fresh",
            fresh_at(Some(0), Some(305)),
            true,
        ),
    ];
    check_freshness(&gw, &cases).await;
    let accepted = cases.iter().filter(|c| c.3).count();
    assert_eq!(
        upstream.hits(),
        accepted,
        "only tokens inside the window were forwarded"
    );
}

#[tokio::test]
async fn leeway_extends_the_max_age_window() {
    let (upstream, gw) = start(&config(&secret_jwt("leeway = \"30s\""), ROUTES)).await;
    let cases = [
        (
            "auth_time 5m25s ago",
            "/fresh-window",
            fresh_at(Some(0), Some(325)),
            true,
        ),
        (
            "auth_time 5m35s ago",
            "/fresh-window",
            fresh_at(Some(0), Some(335)),
            false,
        ),
        (
            "no auth_time, iat 5m25s ago",
            "/fresh-window",
            fresh_at(Some(325), None),
            true,
        ),
        (
            "no auth_time, iat 5m35s ago",
            "/fresh-window",
            fresh_at(Some(335), None),
            false,
        ),
    ];
    check_freshness(&gw, &cases).await;
    assert_eq!(
        upstream.hits(),
        2,
        "only tokens inside window plus leeway were forwarded"
    );
}

#[tokio::test]
async fn a_fresh_claim_that_is_a_number_is_a_fresh_until_time() {
    let (upstream, gw) = start(&config(&secret_jwt(""), ROUTES)).await;
    let until = |offset: i64| with(fresh_at(Some(0), None), "fresh", json!(now() + offset));
    let cases = [
        ("fresh until a minute from now", "/fresh", until(60), true),
        (
            "fresh until a minute from now",
            "/fresh-window",
            until(60),
            true,
        ),
        ("fresh until a minute ago", "/fresh", until(-60), false),
        (
            "fresh until a minute ago",
            "/fresh-window",
            until(-60),
            false,
        ),
        (
            "fresh false inside the window",
            "/fresh-window",
            with(fresh_at(Some(0), Some(0)), "fresh", json!(false)),
            false,
        ),
    ];
    check_freshness(&gw, &cases).await;
    assert_eq!(
        upstream.hits(),
        2,
        "only the future fresh-until tokens were forwarded"
    );
}

#[tokio::test]
async fn a_fresh_token_without_iat_or_auth_time_is_rejected_on_a_max_age_route() {
    let (upstream, gw) = start(&config(&secret_jwt(""), ROUTES)).await;
    let cases = [
        (
            "fresh true, no iat, no auth_time",
            "/fresh-window",
            fresh_at(None, None),
            false,
        ),
        (
            "fresh true, no iat, no auth_time",
            "/fresh",
            fresh_at(None, None),
            true,
        ),
        (
            "fresh true, auth_time not a number",
            "/fresh-window",
            with(fresh_at(None, None), "auth_time", json!("yesterday")),
            false,
        ),
    ];
    check_freshness(&gw, &cases).await;
    assert_eq!(
        upstream.hits(),
        1,
        "only the route without a window forwarded it"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Challenges
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_401_carries_its_exact_challenge_and_422s_carry_none() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let revoked_claims = fresh("alice");
    let denylist = dir.path().join("denylist.txt");
    std::fs::write(&denylist, format!("{}\n", jti(&revoked_claims))).expect("write denylist");
    let jwt = secret_jwt(&format!("denylist_file = {}", toml_path(&denylist)));
    let (upstream, gw) = start(&config(&jwt, ROUTES)).await;

    let reply = call(gw.addr, "GET", "/protected", &[]).await;
    assert_rejected(&reply, 401, "Missing Authorization Header", "no token");
    assert_eq!(
        challenges(&reply),
        ["Bearer"],
        "no token: a bare Bearer challenge"
    );
    let reply = call(gw.addr, "GET", "/fresh-window", &[]).await;
    assert_rejected(
        &reply,
        401,
        "Missing Authorization Header",
        "no token, max_age route",
    );
    assert_eq!(
        challenges(&reply),
        ["Bearer"],
        "no token on a max_age route: bare Bearer"
    );

    let reply = get_bearer(gw.addr, "/protected", &hs256(&revoked_claims)).await;
    assert_rejected(&reply, 401, REVOKED, "revoked");
    assert_eq!(
        challenges(&reply),
        [INVALID_TOKEN_REVOKED],
        "revoked: invalid_token"
    );

    let stale = hs256(&access("alice"));
    let reply = get_bearer(gw.addr, "/fresh", &stale).await;
    assert_rejected(&reply, 401, NOT_FRESH, "not fresh");
    assert_eq!(
        challenges(&reply),
        [STEP_UP],
        "not fresh: the RFC 9470 step-up challenge"
    );
    let reply = get_bearer(gw.addr, "/fresh-window", &stale).await;
    assert_rejected(&reply, 401, NOT_FRESH, "not fresh, max_age route");
    assert_eq!(
        challenges(&reply),
        [format!("{STEP_UP}, max_age=300")],
        "not fresh on a max_age route: step-up with max_age"
    );

    let expired = with(access("alice"), "exp", json!(now() - 60));
    let unprocessable = [
        (
            "a malformed header",
            "Token abc".to_string(),
            "Bad Authorization header. Expected value 'Bearer <JWT>'",
        ),
        (
            "an expired token",
            format!("Bearer {}", hs256(&expired)),
            "Signature has expired",
        ),
        (
            "a refresh token",
            format!("Bearer {}", hs256(&refresh("alice"))),
            "Only access tokens are allowed",
        ),
        (
            "a bad signature",
            format!(
                "Bearer {}",
                hs256_with_secret(b"another-secret", &access("alice"))
            ),
            BAD_SIGNATURE,
        ),
        (
            "an unlisted alg",
            format!("Bearer {}", sign(Algorithm::HS512, None, &access("alice"))),
            NOT_ALLOWED,
        ),
        (
            "a token without type",
            format!("Bearer {}", hs256(&without(access("alice"), "type"))),
            "Missing claim: type",
        ),
    ];
    for (what, authorization, detail) in unprocessable {
        let reply = call(
            gw.addr,
            "GET",
            "/protected",
            &[("authorization", &authorization)],
        )
        .await;
        assert_422(&reply, detail, what);
    }
    assert_eq!(upstream.hits(), 0, "nothing was forwarded");
}

// ---------------------------------------------------------------------------------------------
// 7. Claims to headers, strip_authorization
// ---------------------------------------------------------------------------------------------

const CLAIM_HEADERS: &str = r#"
[forward]
claims = { "X-Auth-Roles" = "roles", "X-Auth-Tenant" = "org.id", "X-Auth-Missing" = "nope", "X-Auth-Org" = "org", "X-Auth-Level" = "level" }
"#;

#[tokio::test]
async fn mapped_claims_are_sent_as_headers_joined_nested_or_as_compact_json() {
    let (_upstream, gw) = start(&config(
        &secret_jwt(""),
        &format!("{CLAIM_HEADERS}{ROUTES}"),
    ))
    .await;
    let claims = with(
        with(
            with(access("alice"), "roles", json!(["admin", "billing"])),
            "org",
            json!({ "id": "acme", "name": "Acme" }),
        ),
        "level",
        json!(3),
    );
    let reply = get_bearer(gw.addr, "/protected", &hs256(&claims)).await;
    assert_forwarded(&reply, "alice", "a token with mapped claims");
    assert_eq!(
        reply.upstream_saw("x-auth-roles"),
        ["admin,billing"],
        "array comma-joined"
    );
    assert_eq!(
        reply.upstream_saw("x-auth-tenant"),
        ["acme"],
        "nested claim reached"
    );
    assert_eq!(
        reply.upstream_saw("x-auth-org"),
        [r#"{"id":"acme","name":"Acme"}"#],
        "object as compact JSON"
    );
    assert_eq!(
        reply.upstream_saw("x-auth-level"),
        ["3"],
        "number as its text"
    );
    assert!(
        reply.upstream_saw("x-auth-missing").is_empty(),
        "absent claim: no header"
    );
    for name in [
        "x-auth-roles-encoding",
        "x-auth-tenant-encoding",
        "x-auth-org-encoding",
    ] {
        assert!(
            reply.upstream_saw(name).is_empty(),
            "{name}: nothing needed encoding"
        );
    }
}

#[tokio::test]
async fn a_claim_value_with_cr_lf_is_percent_encoded_and_flagged() {
    let (_upstream, gw) = start(&config(
        &secret_jwt(""),
        &format!("{CLAIM_HEADERS}{ROUTES}"),
    ))
    .await;
    let claims = with(
        access("alice"),
        "roles",
        json!(["admin\r\nX-Injected: yes", "b"]),
    );
    let reply = get_bearer(gw.addr, "/protected", &hs256(&claims)).await;
    assert_forwarded(&reply, "alice", "a token with CR/LF in a role");
    assert_eq!(
        reply.upstream_saw("x-auth-roles"),
        ["admin%0D%0AX-Injected:%20yes,b"],
        "CR, LF and space percent-encoded"
    );
    assert_eq!(
        reply.upstream_saw("x-auth-roles-encoding"),
        ["percent"],
        "flagged"
    );
    assert!(
        reply.upstream_saw("x-injected").is_empty(),
        "no header was injected"
    );
}

#[tokio::test]
async fn client_sent_mapped_headers_are_removed_whether_or_not_the_claim_exists() {
    let (_upstream, gw) = start(&config(
        &secret_jwt(""),
        &format!("{CLAIM_HEADERS}{ROUTES}"),
    ))
    .await;
    let spoofed = [
        ("x-auth-roles", "admin"),
        ("x-auth-roles-encoding", "percent"),
        ("x-auth-missing", "spoofed"),
        ("x-auth-tenant", "other-tenant"),
    ];
    let without_claims = hs256(&access("alice"));
    let authorization = format!("Bearer {without_claims}");
    let mut headers = spoofed.to_vec();
    headers.push(("authorization", &authorization));
    let reply = call(gw.addr, "GET", "/protected", &headers).await;
    assert_forwarded(&reply, "alice", "a token without the mapped claims");
    for (name, _) in spoofed {
        assert!(
            reply.upstream_saw(name).is_empty(),
            "client-sent {name} was removed"
        );
    }

    let with_roles = hs256(&with(access("alice"), "roles", json!(["user"])));
    let authorization = format!("Bearer {with_roles}");
    let mut headers = spoofed.to_vec();
    headers.push(("authorization", &authorization));
    let reply = call(gw.addr, "GET", "/protected", &headers).await;
    assert_eq!(
        reply.upstream_saw("x-auth-roles"),
        ["user"],
        "only the verified roles"
    );
    assert!(
        reply.upstream_saw("x-auth-roles-encoding").is_empty(),
        "no spoofed encoding flag"
    );

    let reply = call(gw.addr, "GET", "/optional", &spoofed).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "anonymous optional request is forwarded"
    );
    assert!(
        reply.upstream_saw("x-auth-roles").is_empty(),
        "removed on anonymous requests too"
    );
}

const STRIP_ROUTES: &str = r#"
[[route]]
path = "/default"
policy = "access"

[[route]]
path = "/strip"
policy = "access"
strip_authorization = true

[[route]]
path = "/keep"
policy = "access"
strip_authorization = false
"#;

#[tokio::test]
async fn strip_authorization_is_global_and_a_route_overrides_it_both_ways() {
    let token = hs256(&access("alice"));
    let bearer_value = format!("Bearer {token}");
    for (global, expectations) in [
        (
            "[forward]\nstrip_authorization = true\n",
            [("/default", true), ("/strip", true), ("/keep", false)],
        ),
        (
            "[forward]\nstrip_authorization = false\n",
            [("/default", false), ("/strip", true), ("/keep", false)],
        ),
        (
            "",
            [("/default", false), ("/strip", true), ("/keep", false)],
        ),
    ] {
        let (_upstream, gw) =
            start(&config(&secret_jwt(""), &format!("{global}{STRIP_ROUTES}"))).await;
        for (path, stripped) in expectations {
            let case = format!("{path} with {:?}", global.trim());
            let reply = get_bearer(gw.addr, path, &token).await;
            assert_forwarded(&reply, "alice", &case);
            let want: Vec<String> = match stripped {
                true => Vec::new(),
                false => vec![bearer_value.clone()],
            };
            assert_eq!(
                reply.upstream_saw("authorization"),
                want,
                "{case}: Authorization upstream"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Denylist
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_listed_jti_is_401_revoked_before_the_type_check() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let revoked_access = access("alice");
    let revoked_refresh = refresh("alice");
    let denylist = dir.path().join("denylist.txt");
    std::fs::write(
        &denylist,
        format!(
            "# revoked by ops\n\n{}\n  {}  \n",
            jti(&revoked_access),
            jti(&revoked_refresh)
        ),
    )
    .expect("write denylist");
    let jwt = secret_jwt(&format!("denylist_file = {}", toml_path(&denylist)));
    let (upstream, gw) = start(&config(&jwt, ROUTES)).await;

    let reply = get_bearer(gw.addr, "/protected", &hs256(&revoked_access)).await;
    assert_rejected(&reply, 401, REVOKED, "a revoked access token");
    let reply = get_bearer(gw.addr, "/protected", &hs256(&revoked_refresh)).await;
    assert_rejected(
        &reply,
        401,
        REVOKED,
        "a revoked refresh token on an access route",
    );
    let reply = get_bearer(gw.addr, "/refresh", &hs256(&revoked_refresh)).await;
    assert_rejected(
        &reply,
        401,
        REVOKED,
        "a revoked refresh token on the refresh route",
    );
    let reply = get_bearer(gw.addr, "/optional", &hs256(&revoked_access)).await;
    assert_rejected(&reply, 401, REVOKED, "a revoked token on an optional route");

    let expired = with(revoked_access.clone(), "exp", json!(now() - 60));
    let reply = get_bearer(gw.addr, "/protected", &hs256(&expired)).await;
    assert_422(
        &reply,
        "Signature has expired",
        "decoding comes before revocation",
    );
    let reply = get_bearer(
        gw.addr,
        "/protected",
        &hs256(&without(access("bob"), "jti")),
    )
    .await;
    assert_422(&reply, "Missing claim: jti", "a token without jti");
    let reply = get_bearer(gw.addr, "/protected", &hs256(&refresh("bob"))).await;
    assert_422(
        &reply,
        "Only access tokens are allowed",
        "an unlisted refresh token",
    );
    assert_eq!(upstream.hits(), 0, "nothing was forwarded so far");

    let reply = get_bearer(gw.addr, "/protected", &hs256(&access("bob"))).await;
    assert_forwarded(&reply, "bob", "an unlisted access token");
}

/// The gateway serving a config file, with the file watcher running, as `freshgate run` does.
struct WatchedGateway {
    addr: std::net::SocketAddr,
    watcher: tokio::task::JoinHandle<()>,
    _stop: oneshot::Sender<()>,
}

impl WatchedGateway {
    async fn start(config_path: &Path) -> WatchedGateway {
        let snapshot = freshgate::config::load(config_path)
            .unwrap_or_else(|e| panic!("test config is invalid:\n{e}"));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let addr = listener.local_addr().expect("gateway addr");
        let gateway = Gateway::new(snapshot);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(freshgate::serve(listener, gateway.clone(), async move {
            let _ = stopped.await;
        }));
        let reloader = Reloader::new(config_path.to_path_buf(), gateway);
        let watcher = tokio::spawn(reloader.clone().watch_file(Duration::from_millis(100)));
        WatchedGateway {
            addr,
            watcher,
            _stop: stop,
        }
    }
}

impl Drop for WatchedGateway {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

#[tokio::test]
async fn editing_the_denylist_file_while_running_revokes_and_restores_a_token() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let denylist = dir.path().join("denylist.txt");
    let original = "# one jti per line\nsome-other-jti\n";
    std::fs::write(&denylist, original).expect("write denylist");
    let config_path = dir.path().join("gateway.toml");
    let text = config(&secret_jwt("denylist_file = \"denylist.txt\""), ROUTES)
        .replace("{upstream}", &upstream.addr.to_string());
    std::fs::write(&config_path, text).expect("write config");
    let gw = WatchedGateway::start(&config_path).await;

    let claims = access("alice");
    let token = hs256(&claims);
    let reply = get_bearer(gw.addr, "/protected", &token).await;
    assert_forwarded(&reply, "alice", "before the edit");

    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&denylist)
        .expect("open denylist for appending");
    std::io::Write::write_all(&mut file, format!("{}\n", jti(&claims)).as_bytes())
        .expect("append the jti");
    drop(file);
    let reply = wait_for_status(
        gw.addr,
        "/protected",
        &token,
        StatusCode::UNAUTHORIZED,
        "the appended jti to be revoked",
    )
    .await;
    assert_rejected(&reply, 401, REVOKED, "after appending its jti");
    assert_eq!(
        challenges(&reply),
        [INVALID_TOKEN_REVOKED],
        "revoked challenge"
    );
    let other = hs256(&access("bob"));
    let reply = get_bearer(gw.addr, "/protected", &other).await;
    assert_forwarded(&reply, "bob", "other tokens are unaffected");

    std::fs::write(&denylist, original).expect("restore denylist");
    let reply = wait_for_status(
        gw.addr,
        "/protected",
        &token,
        StatusCode::OK,
        "the removed jti to be accepted again",
    )
    .await;
    assert_forwarded(&reply, "alice", "after removing its jti");
}

// ---------------------------------------------------------------------------------------------
// 9. Cookies and CSRF (freshgate's side; the comparison with the library is in compat)
// ---------------------------------------------------------------------------------------------

const CSRF: &str = "c5rf-double-submit-value";

fn cookie_config(extra: &str) -> String {
    config(
        &secret_jwt(&format!("token_location = [\"cookies\"]\n{extra}")),
        ROUTES,
    )
}

/// An access token carrying the library's `csrf` claim.
fn access_with_csrf(sub: &str) -> String {
    hs256(&with(access(sub), "csrf", json!(CSRF)))
}

fn access_cookie(token: &str) -> String {
    format!("theme=dark; access_token_cookie={token}; csrf_access_token={CSRF}")
}

#[tokio::test]
async fn cookie_checks_run_in_the_library_order() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let revoked_claims = with(access("alice"), "csrf", json!(CSRF));
    let denylist = dir.path().join("denylist.txt");
    std::fs::write(&denylist, format!("{}\n", jti(&revoked_claims))).expect("write denylist");
    let extra = format!("denylist_file = {}", toml_path(&denylist));
    let (upstream, gw) = start(&cookie_config(&extra)).await;
    let cookie = |claims: &Map<String, Value>| access_cookie(&hs256(claims));
    let csrf_claim = |claims: Map<String, Value>| with(claims, "csrf", json!(CSRF));
    let expired = csrf_claim(with(access("alice"), "exp", json!(now() - 60)));
    let cases = [
        (
            "no cookie and no CSRF header",
            "/protected",
            vec![],
            401,
            "Missing cookie access_token_cookie",
        ),
        (
            "an expired token and a wrong CSRF header",
            "/protected",
            vec![
                ("cookie", cookie(&expired)),
                ("x-csrf-token", "wrong".into()),
            ],
            422,
            "Signature has expired",
        ),
        (
            "a revoked token and a wrong CSRF header",
            "/protected",
            vec![
                ("cookie", cookie(&revoked_claims)),
                ("x-csrf-token", "wrong".into()),
            ],
            401,
            REVOKED,
        ),
        (
            "a refresh token in the access cookie and a wrong CSRF header",
            "/protected",
            vec![
                ("cookie", cookie(&csrf_claim(refresh("alice")))),
                ("x-csrf-token", "wrong".into()),
            ],
            422,
            "Only access tokens are allowed",
        ),
        (
            "a non-fresh token and a wrong CSRF header",
            "/fresh",
            vec![
                ("cookie", cookie(&csrf_claim(access("alice")))),
                ("x-csrf-token", "wrong".into()),
            ],
            401,
            NOT_FRESH,
        ),
        (
            "a fresh token without csrf claim and a wrong CSRF header",
            "/fresh",
            vec![
                ("cookie", cookie(&fresh("alice"))),
                ("x-csrf-token", "wrong".into()),
            ],
            422,
            "Missing claim: csrf",
        ),
    ];
    for (what, path, headers, status, detail) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let reply = call(gw.addr, "POST", path, &headers).await;
        assert_rejected(&reply, status, detail, what);
    }
    assert_eq!(upstream.hits(), 0, "nothing was forwarded");
}

#[tokio::test]
async fn an_access_cookie_is_accepted_on_get_without_csrf() {
    let (_upstream, gw) = start(&cookie_config("")).await;
    for method in ["GET", "HEAD", "OPTIONS"] {
        let cookie = access_cookie(&access_with_csrf("alice"));
        let reply = call(gw.addr, method, "/protected", &[("cookie", &cookie)]).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{method}: forwarded without CSRF"
        );
        if method != "HEAD" {
            assert_forwarded(&reply, "alice", method);
        }
    }
}

#[tokio::test]
async fn a_cookie_on_post_needs_a_csrf_header_equal_to_the_csrf_claim() {
    let (upstream, gw) = start(&cookie_config("")).await;
    let cookie = access_cookie(&access_with_csrf("alice"));

    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let reply = call(gw.addr, method, "/protected", &[("cookie", &cookie)]).await;
        assert_rejected(
            &reply,
            401,
            "Missing CSRF Token",
            &format!("{method} without X-CSRF-Token"),
        );
        assert_eq!(
            challenges(&reply),
            [r#"Bearer error="invalid_token", error_description="Missing CSRF Token""#],
            "{method}: missing CSRF challenge"
        );
    }
    let broken = access_cookie("not-a-token");
    let reply = call(gw.addr, "POST", "/protected", &[("cookie", &broken)]).await;
    assert_rejected(
        &reply,
        401,
        "Missing CSRF Token",
        "the CSRF header is asked for before decoding",
    );

    let reply = call(
        gw.addr,
        "POST",
        "/protected",
        &[("cookie", &cookie), ("x-csrf-token", "wrong")],
    )
    .await;
    assert_rejected(
        &reply,
        401,
        "CSRF double submit tokens do not match",
        "a mismatching X-CSRF-Token",
    );
    assert_eq!(
        challenges(&reply),
        [
            r#"Bearer error="invalid_token", error_description="CSRF double submit tokens do not match""#
        ],
        "mismatch challenge"
    );

    let no_claim = access_cookie(&hs256(&access("alice")));
    let reply = call(
        gw.addr,
        "POST",
        "/protected",
        &[("cookie", &no_claim), ("x-csrf-token", CSRF)],
    )
    .await;
    assert_422(
        &reply,
        "Missing claim: csrf",
        "a token without a csrf claim",
    );
    assert_eq!(upstream.hits(), 0, "nothing was forwarded so far");

    let reply = call(
        gw.addr,
        "POST",
        "/protected",
        &[("cookie", &cookie), ("x-csrf-token", CSRF)],
    )
    .await;
    assert_forwarded(&reply, "alice", "a matching X-CSRF-Token");
}

#[tokio::test]
async fn a_missing_access_cookie_is_401_naming_the_cookie() {
    let (upstream, gw) = start(&cookie_config("")).await;
    let token = access_with_csrf("alice");
    let cases = [
        ("no cookie at all", vec![]),
        (
            "other cookies only",
            vec![("cookie", "theme=dark".to_string())],
        ),
        (
            "an empty access cookie",
            vec![("cookie", "access_token_cookie=".to_string())],
        ),
        (
            "a header token where only cookies count",
            vec![("authorization", format!("Bearer {token}"))],
        ),
    ];
    for (what, headers) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let reply = call(gw.addr, "GET", "/protected", &headers).await;
        assert_rejected(&reply, 401, "Missing cookie access_token_cookie", what);
        assert_eq!(
            challenges(&reply),
            ["Bearer"],
            "{what}: no token, bare Bearer challenge"
        );
    }
    assert_eq!(upstream.hits(), 0, "nothing was forwarded");
}

#[tokio::test]
async fn the_refresh_route_reads_the_refresh_cookie() {
    let (_upstream, gw) = start(&cookie_config("")).await;
    let refresh_token = hs256(&with(refresh("alice"), "csrf", json!(CSRF)));
    let cookie = format!("refresh_token_cookie={refresh_token}; csrf_refresh_token={CSRF}");
    let reply = call(
        gw.addr,
        "POST",
        "/refresh",
        &[("cookie", &cookie), ("x-csrf-token", CSRF)],
    )
    .await;
    assert_forwarded(&reply, "alice", "a refresh cookie on the refresh route");
    assert_eq!(
        reply.upstream_saw("x-auth-token-type"),
        ["refresh"],
        "refresh token type"
    );

    let only_access = access_cookie(&access_with_csrf("alice"));
    let reply = call(
        gw.addr,
        "POST",
        "/refresh",
        &[("cookie", &only_access), ("x-csrf-token", CSRF)],
    )
    .await;
    assert_rejected(
        &reply,
        401,
        "Missing cookie refresh_token_cookie",
        "only an access cookie on the refresh route",
    );

    let swapped = format!("refresh_token_cookie={}", access_with_csrf("alice"));
    let reply = call(
        gw.addr,
        "POST",
        "/refresh",
        &[("cookie", &swapped), ("x-csrf-token", CSRF)],
    )
    .await;
    assert_422(
        &reply,
        "Only refresh tokens are allowed",
        "an access token in the refresh cookie",
    );
}

#[tokio::test]
async fn with_headers_and_cookies_a_header_token_is_final() {
    let config = config(
        &secret_jwt("token_location = [\"headers\", \"cookies\"]"),
        ROUTES,
    );
    let (_upstream, gw) = start(&config).await;
    let cookie = access_cookie(&access_with_csrf("cookie-user"));
    let header_token = format!("Bearer {}", hs256(&access("header-user")));

    let reply = call(
        gw.addr,
        "GET",
        "/protected",
        &[("cookie", &cookie), ("authorization", &header_token)],
    )
    .await;
    assert_forwarded(&reply, "header-user", "header and cookie: the header wins");
    let reply = call(
        gw.addr,
        "POST",
        "/protected",
        &[("cookie", &cookie), ("authorization", &header_token)],
    )
    .await;
    assert_forwarded(
        &reply,
        "header-user",
        "a header token on POST needs no CSRF",
    );
    let reply = call(
        gw.addr,
        "POST",
        "/protected",
        &[("cookie", &cookie), ("x-csrf-token", CSRF)],
    )
    .await;
    assert_forwarded(&reply, "cookie-user", "no header: the cookie is used");

    let bad_headers = ["Token abc", "Bearer a b", "bearer abc", "Bearer"];
    for bad in bad_headers {
        let reply = call(
            gw.addr,
            "GET",
            "/protected",
            &[("cookie", &cookie), ("authorization", bad)],
        )
        .await;
        assert_422(
            &reply,
            "Bad Authorization header. Expected value 'Bearer <JWT>'",
            &format!("malformed header {bad:?} beside a good cookie"),
        );
    }
    let expired = format!(
        "Bearer {}",
        hs256(&with(access("header-user"), "exp", json!(now() - 60)))
    );
    let reply = call(
        gw.addr,
        "GET",
        "/protected",
        &[("cookie", &cookie), ("authorization", &expired)],
    )
    .await;
    assert_422(
        &reply,
        "Signature has expired",
        "a rejected header token does not fall back to the cookie",
    );
}

#[tokio::test]
async fn custom_cookie_names_csrf_header_and_csrf_methods_are_honoured() {
    let extra = r#"access_cookie = "app_access"
refresh_cookie = "app_refresh"
csrf_header = "X-XSRF-Token"
csrf_methods = ["PUT"]"#;
    let (_upstream, gw) = start(&cookie_config(extra)).await;
    let token = access_with_csrf("alice");
    let cookie = format!("app_access={token}");

    let reply = call(
        gw.addr,
        "GET",
        "/protected",
        &[("cookie", &format!("access_token_cookie={token}"))],
    )
    .await;
    assert_rejected(
        &reply,
        401,
        "Missing cookie app_access",
        "the default cookie name is not read",
    );
    let reply = call(gw.addr, "GET", "/protected", &[("cookie", &cookie)]).await;
    assert_forwarded(&reply, "alice", "the custom access cookie");

    let reply = call(gw.addr, "POST", "/protected", &[("cookie", &cookie)]).await;
    assert_forwarded(&reply, "alice", "POST is not a CSRF method here");
    let reply = call(
        gw.addr,
        "PUT",
        "/protected",
        &[("cookie", &cookie), ("x-csrf-token", CSRF)],
    )
    .await;
    assert_rejected(
        &reply,
        401,
        "Missing CSRF Token",
        "PUT with the default CSRF header name",
    );
    let reply = call(
        gw.addr,
        "PUT",
        "/protected",
        &[("cookie", &cookie), ("x-xsrf-token", CSRF)],
    )
    .await;
    assert_forwarded(&reply, "alice", "PUT with the custom CSRF header");

    let refresh_token = hs256(&with(refresh("alice"), "csrf", json!(CSRF)));
    let reply = call(
        gw.addr,
        "GET",
        "/refresh",
        &[("cookie", &format!("refresh_token_cookie={refresh_token}"))],
    )
    .await;
    assert_rejected(
        &reply,
        401,
        "Missing cookie app_refresh",
        "the default refresh cookie name is not read",
    );
    let reply = call(
        gw.addr,
        "GET",
        "/refresh",
        &[("cookie", &format!("app_refresh={refresh_token}"))],
    )
    .await;
    assert_forwarded(&reply, "alice", "the custom refresh cookie");
}

#[tokio::test]
async fn csrf_protect_false_lets_cookie_posts_through_without_the_header() {
    let (_upstream, gw) = start(&cookie_config("csrf_protect = false")).await;
    let cookie = access_cookie(&hs256(&access("alice")));
    let reply = call(gw.addr, "POST", "/protected", &[("cookie", &cookie)]).await;
    assert_forwarded(&reply, "alice", "POST with csrf_protect = false");
}

#[tokio::test]
async fn strip_authorization_removes_only_the_token_cookies() {
    let (_upstream, gw) = start(&config(
        &secret_jwt("token_location = [\"headers\", \"cookies\"]"),
        &format!("[forward]\nstrip_authorization = true\n{ROUTES}"),
    ))
    .await;
    let cookie = access_cookie(&access_with_csrf("alice"));
    let reply = call(gw.addr, "GET", "/protected", &[("cookie", &cookie)]).await;
    assert_forwarded(&reply, "alice", "a cookie token with strip_authorization");
    assert_eq!(
        reply.upstream_saw("cookie"),
        [format!("theme=dark; csrf_access_token={CSRF}")],
        "the token cookie is gone, the others stay"
    );
}
