//! `max_age` freshness windows: `auth_time` (or `iat`) inside the window, leeway, a numeric
//! `fresh` as a fresh-until time, and the step-up challenge on a rejection.

use serde_json::{json, Map, Value};

use crate::{config, secret_jwt, NOT_FRESH, ROUTES, STEP_UP};

use crate::expect::*;
use crate::keys::*;
use crate::support::*;

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
    let (upstream, gw) = start_with_echo(&config(&secret_jwt(""), ROUTES)).await;
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
    let (upstream, gw) = start_with_echo(&config(&secret_jwt("leeway = \"30s\""), ROUTES)).await;
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
    let (upstream, gw) = start_with_echo(&config(&secret_jwt(""), ROUTES)).await;
    let until = |offset: i64| fresh_at(Some(0), None).set("fresh", json!(now() + offset));
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
            fresh_at(Some(0), Some(0)).set("fresh", json!(false)),
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
    let (upstream, gw) = start_with_echo(&config(&secret_jwt(""), ROUTES)).await;
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
            fresh_at(None, None).set("auth_time", json!("yesterday")),
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
