//! `WWW-Authenticate`: every 401 carries its exact challenge, and 422s carry none.

use jsonwebtoken::Algorithm;
use serde_json::json;

use crate::{
    config, secret_jwt, BAD_SIGNATURE, INVALID_TOKEN_REVOKED, NOT_ALLOWED, NOT_FRESH, REVOKED,
    ROUTES, STEP_UP,
};

use crate::expect::*;
use crate::keys::*;
use crate::support::client::get;
use crate::support::*;

#[tokio::test]
async fn every_401_carries_its_exact_challenge_and_422s_carry_none() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let revoked_claims = fresh("alice");
    let denylist = dir.path().join("denylist.txt");
    std::fs::write(&denylist, format!("{}\n", jti(&revoked_claims))).expect("write denylist");
    let jwt = secret_jwt(&format!("denylist_file = {}", toml_path(&denylist)));
    let (upstream, gw) = start_with_echo(&config(&jwt, ROUTES)).await;

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

    let expired = access("alice").set("exp", json!(now() - 60));
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
            format!("Bearer {}", hs256(&access("alice").unset("type"))),
            "Missing claim: type",
        ),
    ];
    for (what, authorization, detail) in unprocessable {
        let reply = get("/protected").auth(&authorization).send(gw.addr).await;
        assert_422(&reply, detail, what);
    }
    assert_eq!(upstream.hits(), 0, "nothing was forwarded");
}
