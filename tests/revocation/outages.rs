//! Redis stopped mid-run and Redis slow: `deny` answers 503 with `Retry-After`, `allow`
//! forwards, both counted; nothing panics, and the connection comes back by itself.

use std::time::{Duration, Instant};

use crate::support::*;
use crate::*;

#[tokio::test]
async fn deny_answers_503_while_redis_is_down_and_recovers_by_itself() {
    let mut redis = RedisServer::start().await;
    let (up, gw) = start_with_echo(&config(
        &redis,
        r#"timeout = "100ms"
unavailable = "deny""#,
    ))
    .await;
    let (token, _) = access_with_jti("alice");
    expect(
        &get(gw.addr, "/protected", &token).await,
        200,
        None,
        "before the outage",
    );
    redis.stop();
    let hits = up.hits();
    let started = Instant::now();
    let reply = get(gw.addr, "/protected", &token).await;
    expect(&reply, 503, Some(UNAVAILABLE), "during the outage");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered promptly: {:?}",
        started.elapsed()
    );
    assert_eq!(
        reply.header_values("retry-after"),
        vec!["1".to_string()],
        "Retry-After"
    );
    expect(
        &client::get("/static/x").send(gw.addr).await,
        200,
        None,
        "public routes need no lookup",
    );
    let anonymous = client::get("/partially-protected").send(gw.addr).await;
    expect(
        &anonymous,
        200,
        None,
        "an optional route without a token needs none either",
    );
    assert_eq!(
        up.hits(),
        hits + 2,
        "only the lookup-free requests reached the upstream"
    );
    let metrics = gw.metrics();
    assert!(
        counter(
            &metrics,
            "freshgate_revocation_lookups_total",
            &[("outcome", "unavailable")]
        ) >= 1.0,
        "{metrics}"
    );
    assert!(
        counter(&metrics, "freshgate_revocation_errors_total", &[]) >= 1.0,
        "{metrics}"
    );

    redis.resume().await;
    eventually(
        Duration::from_secs(10),
        "the connection to come back without a restart",
        async || get(gw.addr, "/protected", &token).await.status == 200,
    )
    .await;
    gw.stop().await;
}

#[tokio::test]
async fn allow_forwards_while_redis_is_down_and_counts_it() {
    let mut redis = RedisServer::start().await;
    let (_up, gw) = start_with_echo(&config(
        &redis,
        r#"timeout = "100ms"
unavailable = "allow""#,
    ))
    .await;
    let (token, _) = access_with_jti("alice");
    redis.stop();
    for _ in 0..3 {
        expect(
            &get(gw.addr, "/protected", &token).await,
            200,
            None,
            "allowed through the outage",
        );
    }
    let metrics = gw.metrics();
    assert_eq!(
        counter(
            &metrics,
            "freshgate_revocation_lookups_total",
            &[("outcome", "unavailable")]
        ),
        3.0,
        "{metrics}"
    );
    redis.resume().await;
    let (revoked, jti) = access_with_jti("alice");
    redis.set(&jti, "true").await;
    eventually(
        Duration::from_secs(10),
        "revocations to be enforced again",
        async || get(gw.addr, "/protected", &revoked).await.status == 401,
    )
    .await;
    gw.stop().await;
}

#[tokio::test]
async fn a_route_may_override_the_unavailable_policy() {
    let mut redis = RedisServer::start().await;
    let text = config(&redis, r#"timeout = "100ms""#).replace(
        "path = \"/partially-protected\"",
        "path = \"/partially-protected\"\nrevocation_unavailable = \"allow\"",
    );
    let (_up, gw) = start_with_echo(&text).await;
    let (token, _) = access_with_jti("alice");
    redis.stop();
    expect(
        &get(gw.addr, "/protected", &token).await,
        503,
        Some(UNAVAILABLE),
        "the default: deny",
    );
    expect(
        &get(gw.addr, "/partially-protected", &token).await,
        200,
        None,
        "this route: allow",
    );
}

#[tokio::test]
async fn a_slow_redis_is_cut_off_at_the_timeout() {
    let redis = RedisServer::start().await;
    let (_up, gw) = start_with_echo(&config(&redis, r#"timeout = "50ms""#)).await;
    let (token, _) = access_with_jti("alice");
    expect(
        &get(gw.addr, "/protected", &token).await,
        200,
        None,
        "connected and fast",
    );
    let mut sleeper = redis.connection().await;
    let mut probe = redis.connection().await;
    let sleep = tokio::spawn(async move {
        ::redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg("2")
            .query_async::<::redis::Value>(&mut sleeper)
            .await
    });
    // The sleep has begun once a PING of our own stalls.
    eventually(
        Duration::from_secs(5),
        "DEBUG SLEEP to block redis",
        async || {
            let command = ::redis::cmd("PING");
            let ping = command.query_async::<String>(&mut probe);
            tokio::time::timeout(Duration::from_millis(100), ping)
                .await
                .is_err()
        },
    )
    .await;
    let started = Instant::now();
    let reply = get(gw.addr, "/protected", &token).await;
    let took = started.elapsed();
    expect(
        &reply,
        503,
        Some(UNAVAILABLE),
        "no answer within the timeout",
    );
    assert!(
        took < Duration::from_millis(400),
        "the 50 ms timeout holds: {took:?}"
    );
    let _ = sleep.await;
    eventually(
        Duration::from_secs(5),
        "answers again after the sleep",
        async || get(gw.addr, "/protected", &token).await.status == 200,
    )
    .await;
}

#[tokio::test]
async fn readyz_reports_redis_under_deny_only() {
    let mut redis = RedisServer::start().await;
    let admin_config = |policy: &str| {
        config(&redis, &format!("unavailable = \"{policy}\""))
            .replacen("[upstreams]", "[server]\nlisten = \"127.0.0.1:0\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[upstreams]", 1)
            .replace("{upstream}", "127.0.0.1:9")
    };
    let mut deny = Process::start(&admin_config("deny")).await;
    let mut allow = Process::start(&admin_config("allow")).await;
    let ready = async |p: &Process| client::get("/readyz").send(p.admin).await.status.as_u16();
    eventually(
        Duration::from_secs(10),
        "deny replica ready with redis up",
        async || ready(&deny).await == 200,
    )
    .await;
    redis.stop();
    eventually(
        Duration::from_secs(10),
        "deny replica not ready with redis down",
        async || ready(&deny).await == 503,
    )
    .await;
    assert_eq!(ready(&allow).await, 200, "an allow replica stays ready");
    redis.resume().await;
    eventually(
        Duration::from_secs(10),
        "deny replica ready again",
        async || ready(&deny).await == 200,
    )
    .await;
    assert!(deny.is_running() && allow.is_running(), "nothing crashed");
}
