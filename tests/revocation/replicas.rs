//! Two replicas on one store: a revocation written once (here by `freshgate revoke`, as an
//! operator would in an incident) is enforced by both on their next request.

use freshgate::auth::TokenType;

use crate::support::*;
use crate::*;

/// Runs `freshgate revoke --config <config> ARGS`; its stdout, or the failure.
fn revoke(config: &ConfigFile, args: &[&str]) -> Result<String, String> {
    let out = freshgate_command()
        .arg("revoke")
        .arg("--config")
        .arg(&config.path)
        .args(args)
        .output()
        .expect("run freshgate revoke");
    match out.status.success() {
        true => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

#[tokio::test]
async fn a_token_revoked_once_is_refused_by_every_replica_on_its_next_request() {
    let redis = RedisServer::start().await;
    let text = config(
        &redis,
        r#"subject_cutoff_key = "logout-all:{sub}"
refresh_lifetime = "1h""#,
    );
    let (_up_a, a) = start_with_echo(&text).await;
    let (_up_b, b) = start_with_echo(&text).await;
    let file = ConfigFile::new(&text.replace("{upstream}", "127.0.0.1:9"));
    let (token, jti) = access_with_jti("alice");
    for gw in [&a, &b] {
        expect(
            &get(gw.addr, "/protected", &token).await,
            200,
            None,
            "before",
        );
    }
    let said = revoke(&file, &["--token", &token]).expect("revoke --token");
    assert!(said.contains("wrote the token key"), "{said}");
    assert_eq!(
        redis.get(&jti).await.as_deref(),
        Some("true"),
        "written as the config reads it"
    );
    let ttl = redis.ttl(&jti).await;
    assert!(
        (890..=901).contains(&ttl),
        "TTL is the token's remaining lifetime: {ttl}"
    );
    for (name, gw) in [("A", &a), ("B", &b)] {
        expect(
            &get(gw.addr, "/protected", &token).await,
            401,
            Some(REVOKED),
            name,
        );
    }

    let (by_jti, jti) = access_with_jti("bob");
    revoke(&file, &["--jti", &jti]).expect("revoke --jti");
    assert!(
        (3590..=3600).contains(&redis.ttl(&jti).await),
        "a jti lives for refresh_lifetime"
    );
    expect(
        &get(b.addr, "/protected", &by_jti).await,
        401,
        Some(REVOKED),
        "by jti",
    );

    let everywhere =
        sign_claims(&claims("carol", TokenType::Refresh).set("iat", serde_json::json!(now() - 5)));
    let said = revoke(&file, &["--subject", "carol", "--all"]).expect("revoke --subject --all");
    assert!(said.contains("subject cutoff"), "{said}");
    assert!(
        (3590..=3600).contains(&redis.ttl("logout-all:carol").await),
        "a cutoff lives for refresh_lifetime"
    );
    let reply = client::post("/refresh")
        .bearer(&everywhere)
        .send(a.addr)
        .await;
    expect(
        &reply,
        401,
        Some(REVOKED),
        "every token of the subject issued until now",
    );
}

#[tokio::test]
async fn revoke_refuses_what_it_cannot_write() {
    let redis = RedisServer::start().await;
    let file = ConfigFile::new(
        &config(&redis, r#"key = "revoked:{token}""#).replace("{upstream}", "127.0.0.1:9"),
    );
    let err =
        revoke(&file, &["--jti", "abc"]).expect_err("a token key cannot be written from a jti");
    assert!(err.contains("needs more than a jti"), "{err}");
    let err =
        revoke(&file, &["--subject", "alice", "--all"]).expect_err("no cutoff key configured");
    assert!(err.contains("subject_cutoff_key"), "{err}");
    let err = revoke(&file, &["--token", "not.a.token"]).expect_err("a token that does not verify");
    assert!(err.contains("does not verify"), "{err}");
    let expired =
        sign_claims(&claims("alice", TokenType::Access).set("exp", serde_json::json!(now() - 60)));
    let said = revoke(&file, &["--token", &expired]).expect("an expired token needs nothing");
    assert!(said.contains("already expired"), "{said}");
    let err = revoke(&file, &["--subject", "alice"]).expect_err("--subject needs --all");
    assert!(err.contains("--all"), "{err}");
}
