//! Bad input gets a clear answer, never a 500 or a Redis protocol error: a 16 KiB token in a
//! `{token}` key, subjects with spaces and newlines, values of the wrong type.

use freshgate::auth::TokenType;
use serde_json::json;

use crate::support::*;
use crate::*;

#[tokio::test]
async fn a_16_kib_token_in_a_token_key_is_looked_up_like_any_other() {
    let redis = RedisServer::start().await;
    let text = config(
        &redis,
        r#"key = "revoked:{token}"
revoked_when = "exists""#,
    )
    .replacen(
        "[jwt]",
        "[server]\nmax_token_bytes = 65536\nmax_header_bytes = 131072\n\n[jwt]",
        1,
    );
    let (_up, gw) = start_with_echo(&text).await;
    let big =
        sign_claims(&claims("alice", TokenType::Access).set("pad", json!("x".repeat(12 * 1024))));
    assert!(big.len() >= 16 * 1024, "the token is {} bytes", big.len());
    expect(
        &get(gw.addr, "/protected", &big).await,
        200,
        None,
        "not revoked",
    );
    redis.set(format!("revoked:{big}"), "1").await;
    expect(
        &get(gw.addr, "/protected", &big).await,
        401,
        Some(REVOKED),
        "revoked",
    );
}

#[tokio::test]
async fn subjects_with_spaces_and_newlines_are_keys_verbatim() {
    let redis = RedisServer::start().await;
    let (_up, gw) = start_with_echo(&config(
        &redis,
        r#"subject_cutoff_key = "logout-all:{sub}""#,
    ))
    .await;
    let sub = "ali ce\r\n*1\r\n$4\r\nPING";
    let token = sign_claims(&claims(sub, TokenType::Access).set("iat", json!(now() - 60)));
    expect(
        &get(gw.addr, "/protected", &token).await,
        200,
        None,
        "no cutoff yet",
    );
    redis
        .set(format!("logout-all:{sub}"), now().to_string())
        .await;
    expect(
        &get(gw.addr, "/protected", &token).await,
        401,
        Some(REVOKED),
        "the exact subject's cutoff applies",
    );
}

#[tokio::test]
async fn a_value_of_the_wrong_type_revokes_and_is_counted() {
    let redis = RedisServer::start().await;
    let (_up, gw) = start_with_echo(&config(
        &redis,
        r#"subject_cutoff_key = "logout-all:{sub}""#,
    ))
    .await;
    let (token, jti) = access_with_jti("alice");
    redis.run(&[b"LPUSH", jti.as_bytes(), b"true"]).await;
    expect(
        &get(gw.addr, "/protected", &token).await,
        401,
        Some(REVOKED),
        "a list where a string belongs: fail closed",
    );
    let (token, _) = access_with_jti("bob");
    redis.run(&[b"HSET", b"logout-all:bob", b"at", b"1"]).await;
    expect(
        &get(gw.addr, "/protected", &token).await,
        401,
        Some(REVOKED),
        "a hash as the cutoff: fail closed",
    );
    let (token, _) = access_with_jti("carol");
    redis.set("logout-all:carol", "yesterday").await;
    expect(
        &get(gw.addr, "/protected", &token).await,
        401,
        Some(REVOKED),
        "a cutoff that is not a number: fail closed",
    );
    let metrics = gw.metrics();
    assert_eq!(
        counter(&metrics, "freshgate_revocation_errors_total", &[]),
        2.0,
        "wrong types are counted: {metrics}"
    );
}
