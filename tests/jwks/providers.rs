//! `[[jwt.provider]]`: several issuers, each with its own keys, audience and algorithms; a
//! token's `iss` picks its provider, and `[jwt]`'s own keys still serve the other tokens.

use jsonwebtoken::Algorithm;
use serde_json::{json, Map, Value};

use crate::keys::{access, hs256, sign, toml_key, toml_path, JWKS};
use crate::support::provider::Provider;
use crate::support::*;
use crate::{keys_answer, start, Setup};

const ISSUER_B: &str = "https://idp-b.example";

/// Provider A by discovery from the local HTTPS provider (RS256, audience `api-a`), provider B
/// from the test JWKS file (ES256, audience `api-b`), and `jwt_extra` in `[jwt]`.
fn providers_config(a: &Provider, jwt_extra: &str) -> String {
    format!(
        r#"[upstreams]
app = "http://{{upstream}}"

[jwt]
jwks_ca_file = {ca}
{jwt_extra}

[[jwt.provider]]
issuer = "{issuer_a}"
discovery = true
audience = ["api-a"]
algorithms = ["RS256"]

[[jwt.provider]]
issuer = "{ISSUER_B}"
jwks_file = {jwks}
audience = ["api-b"]
algorithms = ["ES256"]

[[route]]
path = "/protected"
policy = "access"
"#,
        ca = toml_path(&a.ca_file),
        issuer_a = a.issuer(),
        jwks = toml_key(JWKS),
    )
}

fn claims(iss: Option<&str>, aud: &str) -> Map<String, Value> {
    let mut claims = access("someone");
    if let Some(iss) = iss {
        claims.insert("iss".into(), json!(iss));
    }
    claims.insert("aud".into(), json!(aud));
    claims
}

/// Forwarded, or the gateway's status and detail.
type Want = Result<(), (u16, &'static str)>;

async fn expect(s: &Setup, token: &str, want: Want, what: &str) {
    let reply = s.get(token).await;
    match want {
        Ok(()) => assert_eq!(
            reply.status.as_u16(),
            200,
            "{what}: forwarded (body {})",
            reply.text()
        ),
        Err((status, detail)) => {
            assert_eq!(
                reply.status.as_u16(),
                status,
                "{what}: status (body {})",
                reply.text()
            );
            assert_eq!(reply.detail(), detail, "{what}: detail");
        }
    }
}

#[tokio::test]
async fn a_tokens_issuer_picks_its_providers_keys_audience_and_algorithms() {
    let a = Provider::start(keys_answer(&["rsa-1"])).await;
    let s = start(&providers_config(&a, "")).await;
    s.wait_ready().await;
    let iss_a = a.issuer();
    let rs = |c: &Map<String, Value>| sign(Algorithm::RS256, Some("rsa-1"), c);
    let es = |c: &Map<String, Value>| sign(Algorithm::ES256, Some("p256-1"), c);
    #[rustfmt::skip]
    let rows: Vec<(&str, String, Want)> = vec![
        ("provider A's key and audience", rs(&claims(Some(&iss_a), "api-a")), Ok(())),
        ("provider B's key and audience", es(&claims(Some(ISSUER_B), "api-b")), Ok(())),
        ("A's token for B's audience", rs(&claims(Some(&iss_a), "api-b")), Err((422, "Invalid audience"))),
        ("B's issuer with an algorithm only A accepts", rs(&claims(Some(ISSUER_B), "api-b")), Err((422, "The specified alg value is not allowed"))),
        ("A's issuer with B's key", es(&claims(Some(&iss_a), "api-a")), Err((422, "The specified alg value is not allowed"))),
        ("an issuer no provider has", rs(&claims(Some("https://evil.example"), "api-a")), Err((422, "Invalid issuer"))),
        ("no issuer at all", rs(&claims(None, "api-a")), Err((422, "Token is missing the \"iss\" claim"))),
    ];
    for (what, token, want) in rows {
        expect(&s, &token, want, what).await;
    }
}

#[tokio::test]
async fn jwt_own_keys_still_serve_tokens_of_no_provider() {
    let a = Provider::start(keys_answer(&["rsa-1"])).await;
    let s = start(&providers_config(&a, &format!("secret = \"{SECRET}\""))).await;
    s.wait_ready().await;
    expect(
        &s,
        &hs256(&access("alice")),
        Ok(()),
        "an HS256 token without iss, as before",
    )
    .await;
    let a_token = sign(
        Algorithm::RS256,
        Some("rsa-1"),
        &claims(Some(&a.issuer()), "api-a"),
    );
    expect(&s, &a_token, Ok(()), "provider A beside the secret").await;
    let forged = hs256(&claims(Some(ISSUER_B), "api-b"));
    expect(
        &s,
        &forged,
        Err((422, "The specified alg value is not allowed")),
        "B's issuer cannot be claimed with the [jwt] secret",
    )
    .await;
}

#[tokio::test]
async fn provider_entries_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let base = "[upstreams]\napp = \"http://127.0.0.1:1\"\n\n[[route]]\npath = \"/p\"\npolicy = \"access\"\n\n[jwt]\nissuer = \"https://main.example\"\n";
    let jwks = toml_key(JWKS);
    let rows = [
        (format!("[[jwt.provider]]\njwks_file = {jwks}\nalgorithms = [\"ES256\"]"), "jwt.provider[1].issuer", "no issuer"),
        (format!("[[jwt.provider]]\nissuer = \"https://main.example\"\njwks_file = {jwks}\nalgorithms = [\"ES256\"]"), "jwt.provider[1].issuer", "already the issuer"),
        (format!("[[jwt.provider]]\nissuer = \"https://b\"\njwks_file = {jwks}\nalgorithms = [\"ES256\"]\n[[jwt.provider]]\nissuer = \"https://b\"\njwks_file = {jwks}\nalgorithms = [\"ES256\"]"), "jwt.provider[2].issuer", "already the issuer"),
        ("[[jwt.provider]]\nissuer = \"https://b\"\nalgorithms = [\"ES256\"]".to_owned(), "jwt", "no key is configured"),
        (format!("[[jwt.provider]]\nissuer = \"https://b\"\njwks_file = {jwks}\naudiences = [\"x\"]"), "provider", "unknown field `audiences`"),
    ];
    for (jwt, key, fragment) in rows {
        let text = format!("{base}{jwt}\n");
        let errors = match freshgate::config::parse(&text, "gateway.toml", dir.path()) {
            Ok(_) => panic!("{jwt}: accepted"),
            Err(errors) => errors.to_string(),
        };
        assert!(
            errors.contains(key) && errors.contains(fragment),
            "{jwt}:\n{errors}"
        );
    }
}
