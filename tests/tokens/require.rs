//! `require` claim requirements and `acr` step-up through a real gateway: 403 with RFC 6750's
//! `insufficient_scope`, 401 with RFC 9470's `insufficient_user_authentication`, freshness
//! first, report mode, `optional` routes, and path aliases that must not escape a requirement.

use serde_json::{json, Map, Value};

use crate::{config, secret_jwt, NOT_FRESH};

use crate::expect::*;
use crate::keys::*;
use crate::support::*;

const DENIED: &str = "Not enough permissions";
const STEP_UP_ACR: &str = "Insufficient user authentication";

const REQUIRE_ROUTES: &str = r#"
[[route]]
path = "/repos/{repo}"
methods = ["DELETE"]
policy = "access"
require = { roles = "admin", scope = ["repo:delete"] }

[[route]]
path = "/realm"
policy = "access"
require = { realm_access.roles = "admin" }

[[route]]
path = "/payments"
policy = "fresh"
max_age = "5m"
acr = ["mfa", "phr"]
require = { roles = "admin" }

[[route]]
path = "/shadow"
policy = "access"
mode = "report"
require = { roles = "admin" }

[[route]]
path = "/maybe"
policy = "optional"
require = { roles = "admin" }

[[route]]
path = "/docs"
policy = "access"
require = { roles = "admin" }

[[route]]
path = "/Docs"
policy = "access"
"#;

fn with(mut claims: Map<String, Value>, extra: Value) -> Map<String, Value> {
    if let Value::Object(extra) = extra {
        claims.extend(extra);
    }
    claims
}

async fn delete_bearer(gw: &TestGateway, path: &str, token: &str) -> Reply {
    let auth = format!("Bearer {token}");
    call(gw.addr, "DELETE", path, &[("authorization", &auth)]).await
}

#[tokio::test]
async fn claim_requirements_forward_when_they_hold_and_are_403_insufficient_scope_otherwise() {
    let (_upstream, gw) = start_with_echo(&config(&secret_jwt(""), REQUIRE_ROUTES)).await;
    let admin = json!({"roles": ["user", "admin"], "scope": "repo:read repo:delete"});
    let reply = delete_bearer(&gw, "/repos/x", &hs256(&with(access("alice"), admin))).await;
    assert_forwarded(&reply, "alice", "every requirement holds");

    let scp = json!({"roles": "admin", "scp": ["repo:delete"]});
    let reply = delete_bearer(&gw, "/repos/x", &hs256(&with(access("alice"), scp))).await;
    assert_forwarded(&reply, "alice", "an scp array carries the scope");

    let no_scope = json!({"roles": "admin", "scope": "repo:read"});
    let reply = delete_bearer(&gw, "/repos/x", &hs256(&with(access("alice"), no_scope))).await;
    assert_rejected(&reply, 403, DENIED, "a missing scope");
    assert_eq!(
        challenges(&reply),
        [
            r#"Bearer error="insufficient_scope", error_description="Not enough permissions", scope="repo:delete""#
        ],
        "RFC 6750 insufficient_scope naming the scope"
    );

    let no_role = json!({"roles": ["user"], "scope": "repo:delete"});
    let reply = delete_bearer(&gw, "/repos/x", &hs256(&with(access("alice"), no_role))).await;
    assert_rejected(&reply, 403, DENIED, "a missing role");
    assert_eq!(
        challenges(&reply),
        [r#"Bearer error="insufficient_scope", error_description="Not enough permissions""#],
        "a role requirement names no scope"
    );

    for (what, claims) in [
        ("a number", json!({"roles": 7, "scope": "repo:delete"})),
        (
            "an object",
            json!({"roles": {"admin": true}, "scope": "repo:delete"}),
        ),
        ("a boolean scope", json!({"roles": "admin", "scope": true})),
    ] {
        let reply = delete_bearer(&gw, "/repos/x", &hs256(&with(access("alice"), claims))).await;
        assert_rejected(&reply, 403, DENIED, &format!("{what} of the wrong type"));
    }

    let nested = json!({"realm_access": {"roles": ["admin"]}});
    let reply = get_bearer(gw.addr, "/realm", &hs256(&with(access("alice"), nested))).await;
    assert_forwarded(
        &reply,
        "alice",
        "a nested table path reaches a nested claim",
    );
    let reply = get_bearer(gw.addr, "/realm", &hs256(&access("alice"))).await;
    assert_rejected(&reply, 403, DENIED, "the nested claim is absent");
}

#[tokio::test]
async fn acr_step_up_is_401_after_freshness_and_before_permissions() {
    let (_upstream, gw) = start_with_echo(&config(&secret_jwt(""), REQUIRE_ROUTES)).await;
    let good = json!({"acr": "mfa", "roles": "admin"});
    let reply = get_bearer(gw.addr, "/payments", &hs256(&with(fresh("alice"), good))).await;
    assert_forwarded(&reply, "alice", "a listed acr, fresh, with the role");

    let stale = json!({"acr": "pwd"});
    let reply = get_bearer(gw.addr, "/payments", &hs256(&with(access("alice"), stale))).await;
    assert_rejected(
        &reply,
        401,
        NOT_FRESH,
        "a stale token is asked for freshness first",
    );

    let weak = json!({"acr": "pwd", "roles": "admin"});
    let reply = get_bearer(gw.addr, "/payments", &hs256(&with(fresh("alice"), weak))).await;
    assert_rejected(&reply, 401, STEP_UP_ACR, "an unlisted acr");
    assert_eq!(
        challenges(&reply),
        [
            r#"Bearer error="insufficient_user_authentication", error_description="Insufficient user authentication", acr_values="mfa phr", max_age=300"#
        ],
        "RFC 9470: acr_values and the route's max_age"
    );

    let no_role = json!({"acr": "phr"});
    let reply = get_bearer(gw.addr, "/payments", &hs256(&with(fresh("alice"), no_role))).await;
    assert_rejected(&reply, 403, DENIED, "the step-up done, the role is missing");
}

#[tokio::test]
async fn report_mode_forwards_a_failed_requirement_and_optional_routes_admit_no_token() {
    let (_upstream, gw) = start_with_echo(&config(&secret_jwt(""), REQUIRE_ROUTES)).await;
    let reply = get_bearer(gw.addr, "/shadow", &hs256(&access("alice"))).await;
    assert_forwarded(&reply, "alice", "report mode forwards");
    assert_eq!(
        reply.upstream_saw("x-auth-reported"),
        ["insufficient_scope"],
        "and says what would have been refused"
    );

    let reply = call(gw.addr, "GET", "/maybe", &[]).await;
    assert_eq!(
        reply.status.as_u16(),
        200,
        "optional: no token is anonymous"
    );
    let reply = get_bearer(gw.addr, "/maybe", &hs256(&access("alice"))).await;
    assert_rejected(
        &reply,
        403,
        DENIED,
        "optional: a token must meet the requirement",
    );
}

#[tokio::test]
async fn a_path_alias_cannot_escape_a_claim_requirement() {
    let (_upstream, gw) = start_with_echo(&config(&secret_jwt(""), REQUIRE_ROUTES)).await;
    // A case-insensitive backend would read /Docs as /docs, which requires admin: the path is
    // refused whatever the token, as for any alias to a stricter rule.
    for (what, token) in [
        ("a token without the role", hs256(&access("alice"))),
        (
            "an admin token",
            hs256(&with(access("alice"), json!({"roles": "admin"}))),
        ),
    ] {
        let reply = get_bearer(gw.addr, "/Docs", &token).await;
        assert_rejected(&reply, 400, "Ambiguous path", what);
    }
    let reply = get_bearer(gw.addr, "/docs", &hs256(&access("alice"))).await;
    assert_rejected(&reply, 403, DENIED, "the strict route itself");
}
