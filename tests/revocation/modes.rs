//! Each `revoked_when` rule with the key shape its library writes, the subject cutoff,
//! `token_checks`, a missing `jti`, and the caches.

use std::time::Duration;

use freshgate::auth::TokenType;
use serde_json::json;

use crate::support::*;
use crate::*;

#[tokio::test]
async fn fastapi_jwt_auth_equals_true_revokes_only_the_value_true() {
    let redis = RedisServer::start().await;
    let (_up, gw) = start_with_echo(&config(
        &redis,
        r#"key = "{jti}"
revoked_when = "equals:true""#,
    ))
    .await;
    let (revoked, jti) = access_with_jti("alice");
    let (other, other_jti) = access_with_jti("alice");
    let (fresh, _) = access_with_jti("alice");
    redis.set(&jti, "true").await;
    redis.set(&other_jti, "false").await;
    expect(
        &get(gw.addr, "/protected", &revoked).await,
        401,
        Some(REVOKED),
        "the value true revokes",
    );
    expect(
        &get(gw.addr, "/protected", &other).await,
        200,
        None,
        "another value does not",
    );
    expect(
        &get(gw.addr, "/protected", &fresh).await,
        200,
        None,
        "no key does not",
    );
    let metrics = gw.metrics();
    assert_eq!(
        counter(
            &metrics,
            "freshgate_revocation_lookups_total",
            &[("outcome", "revoked")]
        ),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        counter(
            &metrics,
            "freshgate_revocation_lookups_total",
            &[("outcome", "clear")]
        ),
        2.0,
        "{metrics}"
    );
    assert!(
        metrics.contains("freshgate_revocation_lookup_duration_seconds_count 3"),
        "the latency histogram counts round trips: {metrics}"
    );
}

#[tokio::test]
async fn flask_jwt_extended_exists_revokes_any_value_and_a_revoked_refresh_token_is_401_before_the_type_check(
) {
    let redis = RedisServer::start().await;
    let (_up, gw) = start_with_echo(&config(&redis, r#"revoked_when = "exists""#)).await;
    let refresh = claims("alice", TokenType::Refresh);
    redis.set(refresh["jti"].as_str().unwrap(), "").await;
    let refresh = sign_claims(&refresh);
    expect(
        &get(gw.addr, "/protected", &refresh).await,
        401,
        Some(REVOKED),
        "revoked comes before the wrong type, as in the library",
    );
    let (access, _) = access_with_jti("alice");
    expect(
        &get(gw.addr, "/protected", &access).await,
        200,
        None,
        "no key",
    );
}

#[tokio::test]
async fn authx_token_keys_and_an_allowlist_read_as_configured() {
    let redis = RedisServer::start().await;
    let (_up, authx) = start_with_echo(&config(
        &redis,
        r#"key = "revoked:{token}"
revoked_when = "exists""#,
    ))
    .await;
    let (token, _) = access_with_jti("alice");
    expect(
        &get(authx.addr, "/protected", &token).await,
        200,
        None,
        "AuthX: not yet revoked",
    );
    redis.set(format!("revoked:{token}"), "1").await;
    expect(
        &get(authx.addr, "/protected", &token).await,
        401,
        Some(REVOKED),
        "AuthX: revoked:<token> revokes",
    );

    let (_up2, allow) = start_with_echo(&config(
        &redis,
        r#"key = "session:{sub}:{jti}"
revoked_when = "missing""#,
    ))
    .await;
    let (listed, jti) = access_with_jti("bob");
    redis.set(format!("session:bob:{jti}"), "active").await;
    let (unlisted, _) = access_with_jti("bob");
    expect(
        &get(allow.addr, "/protected", &listed).await,
        200,
        None,
        "allowlist: a listed token passes",
    );
    expect(
        &get(allow.addr, "/protected", &unlisted).await,
        401,
        Some(REVOKED),
        "allowlist: no key means revoked",
    );
}

#[tokio::test]
async fn a_subject_cutoff_revokes_tokens_issued_at_or_before_it() {
    let redis = RedisServer::start().await;
    let (_up, gw) = start_with_echo(&config(
        &redis,
        r#"subject_cutoff_key = "logout-all:{sub}""#,
    ))
    .await;
    let old = sign_claims(&claims("alice", TokenType::Access).set("iat", json!(now() - 60)));
    let new = sign_claims(&claims("alice", TokenType::Access).set("iat", json!(now() + 1)));
    let bob = sign_claims(&claims("bob", TokenType::Access).set("iat", json!(now() - 60)));
    redis
        .set("logout-all:alice", (now() - 10).to_string())
        .await;
    expect(
        &get(gw.addr, "/protected", &old).await,
        401,
        Some(REVOKED),
        "issued before the cutoff",
    );
    expect(
        &get(gw.addr, "/protected", &new).await,
        200,
        None,
        "issued after the cutoff",
    );
    expect(
        &get(gw.addr, "/protected", &bob).await,
        200,
        None,
        "another subject",
    );
}

#[tokio::test]
async fn token_checks_limit_which_types_are_looked_up() {
    let redis = RedisServer::start().await;
    let (_up, gw) = start_with_echo(&config(
        &redis,
        r#"token_checks = ["refresh"]
revoked_when = "exists""#,
    ))
    .await;
    let (access, jti) = access_with_jti("alice");
    redis.set(&jti, "").await;
    let refresh = claims("alice", TokenType::Refresh);
    redis.set(refresh["jti"].as_str().unwrap(), "").await;
    expect(
        &get(gw.addr, "/protected", &access).await,
        200,
        None,
        "an access token is not checked",
    );
    let reply = client::post("/refresh")
        .bearer(sign_claims(&refresh))
        .send(gw.addr)
        .await;
    expect(&reply, 401, Some(REVOKED), "a refresh token is");
    let metrics = gw.metrics();
    assert_eq!(
        counter(
            &metrics,
            "freshgate_revocation_lookups_total",
            &[("outcome", "revoked")]
        ),
        1.0,
        "one lookup only: {metrics}"
    );
}

#[tokio::test]
async fn a_token_without_jti_under_a_jti_key_is_422_missing_claim() {
    let redis = RedisServer::start().await;
    let (up, gw) = start_with_echo(&config(&redis, "")).await;
    let token = sign_claims(&claims("alice", TokenType::Access).unset("jti"));
    expect(
        &get(gw.addr, "/protected", &token).await,
        422,
        Some("Missing claim: jti"),
        "no jti",
    );
    assert_eq!(up.hits(), 0, "never forwarded");
}

#[tokio::test]
async fn a_revoked_answer_is_cached_until_exp_and_a_clear_one_only_within_negative_cache() {
    let redis = RedisServer::start().await;
    let (_up, gw) = start_with_echo(&config(&redis, r#"revoked_when = "exists""#)).await;
    let (token, jti) = access_with_jti("alice");
    redis.set(&jti, "").await;
    expect(
        &get(gw.addr, "/protected", &token).await,
        401,
        Some(REVOKED),
        "revoked",
    );
    redis.run(&[b"DEL", jti.as_bytes()]).await;
    expect(
        &get(gw.addr, "/protected", &token).await,
        401,
        Some(REVOKED),
        "revocation is permanent: cached until exp",
    );
    let metrics = gw.metrics();
    assert_eq!(
        counter(
            &metrics,
            "freshgate_revocation_lookups_total",
            &[("outcome", "cached_revoked")]
        ),
        1.0,
        "{metrics}"
    );

    // Without a negative cache every request asks: a revocation is seen on the next one.
    let (token, jti) = access_with_jti("carol");
    expect(
        &get(gw.addr, "/protected", &token).await,
        200,
        None,
        "clear",
    );
    redis.set(&jti, "").await;
    expect(
        &get(gw.addr, "/protected", &token).await,
        401,
        Some(REVOKED),
        "the next request sees it",
    );

    let (_up2, cached) = start_with_echo(&config(
        &redis,
        r#"revoked_when = "exists"
negative_cache = "300ms""#,
    ))
    .await;
    let (token, jti) = access_with_jti("dave");
    expect(
        &get(cached.addr, "/protected", &token).await,
        200,
        None,
        "clear, and remembered",
    );
    redis.set(&jti, "").await;
    let started = std::time::Instant::now();
    eventually(
        Duration::from_secs(3),
        "the revocation to be seen once the negative cache lapses",
        async || get(cached.addr, "/protected", &token).await.status == 401,
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(1300),
        "within negative_cache (plus polling): {:?}",
        started.elapsed()
    );
    let metrics = cached.metrics();
    assert!(
        counter(
            &metrics,
            "freshgate_revocation_lookups_total",
            &[("outcome", "cached_clear")]
        ) >= 1.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn a_password_from_redis_password_env_is_used_and_never_shown() {
    let redis = RedisServer::start_with_password(Some("s3cret-pw")).await;
    // SAFETY of the test: a variable no other test reads.
    std::env::set_var("FRESHGATE_TEST_REDIS_PASSWORD", "s3cret-pw");
    let (_up, gw) = start_with_echo(&config(
        &redis,
        r#"redis_password_env = "FRESHGATE_TEST_REDIS_PASSWORD""#,
    ))
    .await;
    let (token, jti) = access_with_jti("alice");
    redis.set(&jti, "true").await;
    expect(
        &get(gw.addr, "/protected", &token).await,
        401,
        Some(REVOKED),
        "authenticated and read",
    );
    let shown = format!("{:?}", gw.gateway.snapshot());
    assert!(
        !shown.contains("s3cret-pw"),
        "the password is never printed: {shown}"
    );

    let (_up2, wrong) = start_with_echo(&config(&redis, r#"timeout = "100ms""#)).await;
    expect(
        &get(wrong.addr, "/protected", &token).await,
        503,
        Some(UNAVAILABLE),
        "without the password: unavailable, fail closed",
    );
}
