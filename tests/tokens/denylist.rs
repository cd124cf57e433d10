//! The file-backed denylist: a listed `jti` is 401 revoked before the type check, and editing
//! the file while running revokes and restores a token.

use std::net::SocketAddr;
use std::time::Duration;

use http::StatusCode;
use serde_json::json;

use crate::{config, secret_jwt, INVALID_TOKEN_REVOKED, REVOKED, ROUTES};

use crate::expect::*;
use crate::keys::*;
use crate::support::*;

/// Polls `GET path` with `token` until the status is `want` (or 5 s pass).
async fn wait_for_status(
    addr: SocketAddr,
    path: &str,
    token: &str,
    want: StatusCode,
    what: &str,
) -> Reply {
    eventually(Duration::from_secs(5), what, async || {
        let reply = get_bearer(addr, path, token).await;
        match reply.status == want {
            true => Ok(reply),
            false => Err(format!("still {} {}", reply.status, reply.text())),
        }
    })
    .await
}

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
    let (upstream, gw) = start_with_echo(&config(&jwt, ROUTES)).await;

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

    let expired = revoked_access.clone().set("exp", json!(now() - 60));
    let reply = get_bearer(gw.addr, "/protected", &hs256(&expired)).await;
    assert_422(
        &reply,
        "Signature has expired",
        "decoding comes before revocation",
    );
    let reply = get_bearer(gw.addr, "/protected", &hs256(&access("bob").unset("jti"))).await;
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

#[tokio::test]
async fn editing_the_denylist_file_while_running_revokes_and_restores_a_token() {
    let upstream = Upstream::start().await;
    let text = config(&secret_jwt("denylist_file = \"denylist.txt\""), ROUTES)
        .replace("{upstream}", &upstream.addr.to_string());
    let config = ConfigFile::new(&text);
    let original = "# one jti per line\nsome-other-jti\n";
    let denylist = config.write_beside("denylist.txt", original);
    // The gateway serving the file with its watcher, as `freshgate run` does.
    let gw = TestGateway::watching(&config, Duration::from_millis(100)).await;

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
