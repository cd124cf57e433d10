//! Reloads: a reload that keeps `[revocation] redis` keeps the store (its connection and its
//! caches); one that changes it switches to the new store.

use crate::support::*;
use crate::*;

#[tokio::test]
async fn a_reload_keeps_the_store_unless_its_address_changes() {
    let first = RedisServer::start().await;
    let second = RedisServer::start().await;
    let upstream = Upstream::start().await;
    let text = |redis: &RedisServer, extra: &str| {
        config(redis, extra).replace("{upstream}", &upstream.addr.to_string())
    };
    let file = ConfigFile::new(&text(&first, ""));
    let gw = TestGateway::from_file(&file).await;
    let (token, jti) = access_with_jti("alice");
    first.set(&jti, "true").await;
    expect(
        &get(gw.addr, "/protected", &token).await,
        401,
        Some(REVOKED),
        "revoked in the first store",
    );

    file.write(&text(&first, r#"timeout = "80ms""#));
    gw.reloader().reload("test").await.expect("a valid reload");
    first.run(&[b"DEL", jti.as_bytes()]).await;
    expect(
        &get(gw.addr, "/protected", &token).await,
        401,
        Some(REVOKED),
        "the same store: its cache holds",
    );
    let cached = counter(
        &gw.metrics(),
        "freshgate_revocation_lookups_total",
        &[("outcome", "cached_revoked")],
    );
    assert_eq!(cached, 1.0, "answered from the kept cache");

    file.write(&text(&second, ""));
    gw.reloader().reload("test").await.expect("a valid reload");
    expect(
        &get(gw.addr, "/protected", &token).await,
        200,
        None,
        "the new store knows nothing of it",
    );
    second.set(&jti, "true").await;
    expect(
        &get(gw.addr, "/protected", &token).await,
        401,
        Some(REVOKED),
        "and is the one asked",
    );
}
