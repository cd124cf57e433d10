//! Cookies and CSRF double submit, freshgate's side (the comparison with the library is in
//! tests/compat): the order of the checks, CSRF methods, cookie names, and what
//! `strip_authorization` removes.

use http::StatusCode;
use serde_json::{json, Map, Value};

use crate::{config, secret_jwt, NOT_FRESH, REVOKED, ROUTES};

use crate::expect::Want::*;
use crate::expect::*;
use crate::keys::*;
use crate::support::client::{get, post, put};
use crate::support::*;

const CSRF: &str = "c5rf-double-submit-value";

fn cookie_config(extra: &str) -> String {
    config(
        &secret_jwt(&format!("token_location = [\"cookies\"]\n{extra}")),
        ROUTES,
    )
}

/// An access token carrying the library's `csrf` claim.
fn access_with_csrf(sub: &str) -> String {
    hs256(&access(sub).set("csrf", json!(CSRF)))
}

fn access_cookie(token: &str) -> String {
    format!("theme=dark; access_token_cookie={token}; csrf_access_token={CSRF}")
}

#[tokio::test]
async fn cookie_checks_run_in_the_library_order() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let revoked_claims = access("alice").set("csrf", json!(CSRF));
    let denylist = dir.path().join("denylist.txt");
    std::fs::write(&denylist, format!("{}\n", jti(&revoked_claims))).expect("write denylist");
    let extra = format!("denylist_file = {}", toml_path(&denylist));
    let (upstream, gw) = start_with_echo(&cookie_config(&extra)).await;
    let cookie = |claims: &Map<String, Value>| access_cookie(&hs256(claims));
    let csrf_claim = |claims: Map<String, Value>| claims.set("csrf", json!(CSRF));
    let expired = csrf_claim(access("alice").set("exp", json!(now() - 60)));
    #[rustfmt::skip]
    let cases = [
        ("no cookie and no CSRF header", post("/protected"), 401, "Missing cookie access_token_cookie"),
        ("an expired token and a wrong CSRF header", post("/protected").cookie(cookie(&expired)).csrf("wrong"), 422, "Signature has expired"),
        ("a revoked token and a wrong CSRF header", post("/protected").cookie(cookie(&revoked_claims)).csrf("wrong"), 401, REVOKED),
        ("a refresh token in the access cookie and a wrong CSRF header", post("/protected").cookie(cookie(&csrf_claim(refresh("alice")))).csrf("wrong"), 422, "Only access tokens are allowed"),
        ("a non-fresh token and a wrong CSRF header", post("/fresh").cookie(cookie(&csrf_claim(access("alice")))).csrf("wrong"), 401, NOT_FRESH),
        ("a fresh token without csrf claim and a wrong CSRF header", post("/fresh").cookie(cookie(&fresh("alice"))).csrf("wrong"), 422, "Missing claim: csrf"),
    ];
    for (what, request, status, detail) in cases {
        let reply = request.send(gw.addr).await;
        assert_rejected(&reply, status, detail, what);
    }
    assert_eq!(upstream.hits(), 0, "nothing was forwarded");
}

#[tokio::test]
async fn an_access_cookie_is_accepted_on_get_without_csrf() {
    let (_upstream, gw) = start_with_echo(&cookie_config("")).await;
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
    let (upstream, gw) = start_with_echo(&cookie_config("")).await;
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
    let no_claim = access_cookie(&hs256(&access("alice")));
    let mismatch = r#"Bearer error="invalid_token", error_description="CSRF double submit tokens do not match""#;
    #[rustfmt::skip]
    let rows = [
        ("the CSRF header is asked for before decoding", post("/protected").cookie(&broken), Rejected(401, "Missing CSRF Token"), None),
        ("a mismatching X-CSRF-Token", post("/protected").cookie(&cookie).csrf("wrong"), Rejected(401, "CSRF double submit tokens do not match"), Some(mismatch)),
        ("a token without a csrf claim", post("/protected").cookie(&no_claim).csrf(CSRF), Unprocessable("Missing claim: csrf"), None),
    ];
    for (what, request, want, challenge) in rows {
        let reply = request.send(gw.addr).await;
        assert_wanted(&reply, want, what);
        if let Some(challenge) = challenge {
            assert_eq!(challenges(&reply), [challenge], "{what}: its challenge");
        }
    }
    assert_eq!(upstream.hits(), 0, "nothing was forwarded so far");

    let matching = post("/protected").cookie(&cookie).csrf(CSRF);
    let reply = matching.send(gw.addr).await;
    assert_forwarded(&reply, "alice", "a matching X-CSRF-Token");
}

#[tokio::test]
async fn a_missing_access_cookie_is_401_naming_the_cookie() {
    let (upstream, gw) = start_with_echo(&cookie_config("")).await;
    let token = access_with_csrf("alice");
    #[rustfmt::skip]
    let cases = [
        ("no cookie at all", get("/protected")),
        ("other cookies only", get("/protected").cookie("theme=dark")),
        ("an empty access cookie", get("/protected").cookie("access_token_cookie=")),
        ("a header token where only cookies count", get("/protected").bearer(&token)),
    ];
    for (what, request) in cases {
        let reply = request.send(gw.addr).await;
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
    let (_upstream, gw) = start_with_echo(&cookie_config("")).await;
    let refresh_token = hs256(&refresh("alice").set("csrf", json!(CSRF)));
    let cookie = format!("refresh_token_cookie={refresh_token}; csrf_refresh_token={CSRF}");
    let only_access = access_cookie(&access_with_csrf("alice"));
    let swapped = format!("refresh_token_cookie={}", access_with_csrf("alice"));
    #[rustfmt::skip]
    let rows = [
        ("a refresh cookie on the refresh route", post("/refresh").cookie(&cookie).csrf(CSRF), Forwarded("alice")),
        ("only an access cookie on the refresh route", post("/refresh").cookie(&only_access).csrf(CSRF), Rejected(401, "Missing cookie refresh_token_cookie")),
        ("an access token in the refresh cookie", post("/refresh").cookie(&swapped).csrf(CSRF), Unprocessable("Only refresh tokens are allowed")),
    ];
    for (what, request, want) in rows {
        let reply = request.send(gw.addr).await;
        assert_wanted(&reply, want, what);
        if let Forwarded(_) = want {
            assert_eq!(
                reply.upstream_saw("x-auth-token-type"),
                ["refresh"],
                "{what}: refresh token type"
            );
        }
    }
}

#[tokio::test]
async fn with_headers_and_cookies_a_header_token_is_final() {
    let config = config(
        &secret_jwt("token_location = [\"headers\", \"cookies\"]"),
        ROUTES,
    );
    let (_upstream, gw) = start_with_echo(&config).await;
    let cookie = access_cookie(&access_with_csrf("cookie-user"));
    let header_token = format!("Bearer {}", hs256(&access("header-user")));
    let expired = format!(
        "Bearer {}",
        hs256(&access("header-user").set("exp", json!(now() - 60)))
    );
    let malformed = "Bad Authorization header. Expected value 'Bearer <JWT>'";
    #[rustfmt::skip]
    let mut rows = vec![
        ("header and cookie: the header wins".to_string(), get("/protected").cookie(&cookie).auth(&header_token), Forwarded("header-user")),
        ("a header token on POST needs no CSRF".to_string(), post("/protected").cookie(&cookie).auth(&header_token), Forwarded("header-user")),
        ("no header: the cookie is used".to_string(), post("/protected").cookie(&cookie).csrf(CSRF), Forwarded("cookie-user")),
    ];
    for bad in ["Token abc", "Bearer a b", "bearer abc", "Bearer"] {
        let what = format!("malformed header {bad:?} beside a good cookie");
        rows.push((
            what,
            get("/protected").cookie(&cookie).auth(bad),
            Unprocessable(malformed),
        ));
    }
    rows.push((
        "a rejected header token does not fall back to the cookie".to_string(),
        get("/protected").cookie(&cookie).auth(&expired),
        Unprocessable("Signature has expired"),
    ));
    for (what, request, want) in rows {
        let reply = request.send(gw.addr).await;
        assert_wanted(&reply, want, &what);
    }
}

#[tokio::test]
async fn custom_cookie_names_csrf_header_and_csrf_methods_are_honoured() {
    let extra = r#"access_cookie = "app_access"
refresh_cookie = "app_refresh"
csrf_header = "X-XSRF-Token"
csrf_methods = ["PUT"]"#;
    let (_upstream, gw) = start_with_echo(&cookie_config(extra)).await;
    let token = access_with_csrf("alice");
    let cookie = format!("app_access={token}");
    let refresh_token = hs256(&refresh("alice").set("csrf", json!(CSRF)));
    let default_refresh = format!("refresh_token_cookie={refresh_token}");
    let custom_refresh = format!("app_refresh={refresh_token}");
    #[rustfmt::skip]
    let rows = [
        ("the default cookie name is not read", get("/protected").cookie(format!("access_token_cookie={token}")), Rejected(401, "Missing cookie app_access")),
        ("the custom access cookie", get("/protected").cookie(&cookie), Forwarded("alice")),
        ("POST is not a CSRF method here", post("/protected").cookie(&cookie), Forwarded("alice")),
        ("PUT with the default CSRF header name", put("/protected").cookie(&cookie).csrf(CSRF), Rejected(401, "Missing CSRF Token")),
        ("PUT with the custom CSRF header", put("/protected").cookie(&cookie).with("x-xsrf-token", CSRF), Forwarded("alice")),
        ("the default refresh cookie name is not read", get("/refresh").cookie(&default_refresh), Rejected(401, "Missing cookie app_refresh")),
        ("the custom refresh cookie", get("/refresh").cookie(&custom_refresh), Forwarded("alice")),
    ];
    for (what, request, want) in rows {
        let reply = request.send(gw.addr).await;
        assert_wanted(&reply, want, what);
    }
}

#[tokio::test]
async fn csrf_protect_false_lets_cookie_posts_through_without_the_header() {
    let (_upstream, gw) = start_with_echo(&cookie_config("csrf_protect = false")).await;
    let cookie = access_cookie(&hs256(&access("alice")));
    let reply = call(gw.addr, "POST", "/protected", &[("cookie", &cookie)]).await;
    assert_forwarded(&reply, "alice", "POST with csrf_protect = false");
}

#[tokio::test]
async fn strip_authorization_removes_only_the_token_cookies() {
    let (_upstream, gw) = start_with_echo(&config(
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
