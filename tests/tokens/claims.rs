//! Claims sent to the upstream as headers (joined, nested, compact JSON, percent-encoded),
//! client-sent copies removed, and `strip_authorization` globally and per route.

use http::StatusCode;
use serde_json::json;

use crate::{config, secret_jwt, ROUTES};

use crate::expect::*;
use crate::keys::*;
use crate::support::*;

const CLAIM_HEADERS: &str = r#"
[forward]
claims = { "X-Auth-Roles" = "roles", "X-Auth-Tenant" = "org.id", "X-Auth-Missing" = "nope", "X-Auth-Org" = "org", "X-Auth-Level" = "level" }
"#;

#[tokio::test]
async fn mapped_claims_are_sent_as_headers_joined_nested_or_as_compact_json() {
    let (_upstream, gw) = start_with_echo(&config(
        &secret_jwt(""),
        &format!("{CLAIM_HEADERS}{ROUTES}"),
    ))
    .await;
    let claims = access("alice")
        .set("roles", json!(["admin", "billing"]))
        .set("org", json!({ "id": "acme", "name": "Acme" }))
        .set("level", json!(3));
    let reply = get_bearer(gw.addr, "/protected", &hs256(&claims)).await;
    assert_forwarded(&reply, "alice", "a token with mapped claims");
    assert_eq!(
        reply.upstream_saw("x-auth-roles"),
        ["admin,billing"],
        "array comma-joined"
    );
    assert_eq!(
        reply.upstream_saw("x-auth-tenant"),
        ["acme"],
        "nested claim reached"
    );
    assert_eq!(
        reply.upstream_saw("x-auth-org"),
        [r#"{"id":"acme","name":"Acme"}"#],
        "object as compact JSON"
    );
    assert_eq!(
        reply.upstream_saw("x-auth-level"),
        ["3"],
        "number as its text"
    );
    assert!(
        reply.upstream_saw("x-auth-missing").is_empty(),
        "absent claim: no header"
    );
    for name in [
        "x-auth-roles-encoding",
        "x-auth-tenant-encoding",
        "x-auth-org-encoding",
    ] {
        assert!(
            reply.upstream_saw(name).is_empty(),
            "{name}: nothing needed encoding"
        );
    }
}

#[tokio::test]
async fn a_claim_value_with_cr_lf_is_percent_encoded_and_flagged() {
    let (_upstream, gw) = start_with_echo(&config(
        &secret_jwt(""),
        &format!("{CLAIM_HEADERS}{ROUTES}"),
    ))
    .await;
    let claims = access("alice").set("roles", json!(["admin\r\nX-Injected: yes", "b"]));
    let reply = get_bearer(gw.addr, "/protected", &hs256(&claims)).await;
    assert_forwarded(&reply, "alice", "a token with CR/LF in a role");
    assert_eq!(
        reply.upstream_saw("x-auth-roles"),
        ["admin%0D%0AX-Injected:%20yes,b"],
        "CR, LF and space percent-encoded"
    );
    assert_eq!(
        reply.upstream_saw("x-auth-roles-encoding"),
        ["percent"],
        "flagged"
    );
    assert!(
        reply.upstream_saw("x-injected").is_empty(),
        "no header was injected"
    );
}

#[tokio::test]
async fn client_sent_mapped_headers_are_removed_whether_or_not_the_claim_exists() {
    let (_upstream, gw) = start_with_echo(&config(
        &secret_jwt(""),
        &format!("{CLAIM_HEADERS}{ROUTES}"),
    ))
    .await;
    let spoofed = [
        ("x-auth-roles", "admin"),
        ("x-auth-roles-encoding", "percent"),
        ("x-auth-missing", "spoofed"),
        ("x-auth-tenant", "other-tenant"),
    ];
    let without_claims = hs256(&access("alice"));
    let authorization = format!("Bearer {without_claims}");
    let mut headers = spoofed.to_vec();
    headers.push(("authorization", &authorization));
    let reply = call(gw.addr, "GET", "/protected", &headers).await;
    assert_forwarded(&reply, "alice", "a token without the mapped claims");
    for (name, _) in spoofed {
        assert!(
            reply.upstream_saw(name).is_empty(),
            "client-sent {name} was removed"
        );
    }

    let with_roles = hs256(&access("alice").set("roles", json!(["user"])));
    let authorization = format!("Bearer {with_roles}");
    let mut headers = spoofed.to_vec();
    headers.push(("authorization", &authorization));
    let reply = call(gw.addr, "GET", "/protected", &headers).await;
    assert_eq!(
        reply.upstream_saw("x-auth-roles"),
        ["user"],
        "only the verified roles"
    );
    assert!(
        reply.upstream_saw("x-auth-roles-encoding").is_empty(),
        "no spoofed encoding flag"
    );

    let reply = call(gw.addr, "GET", "/optional", &spoofed).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "anonymous optional request is forwarded"
    );
    assert!(
        reply.upstream_saw("x-auth-roles").is_empty(),
        "removed on anonymous requests too"
    );
}

const STRIP_ROUTES: &str = r#"
[[route]]
path = "/default"
policy = "access"

[[route]]
path = "/strip"
policy = "access"
strip_authorization = true

[[route]]
path = "/keep"
policy = "access"
strip_authorization = false
"#;

#[tokio::test]
async fn strip_authorization_is_global_and_a_route_overrides_it_both_ways() {
    let token = hs256(&access("alice"));
    let bearer_value = format!("Bearer {token}");
    for (global, expectations) in [
        (
            "[forward]\nstrip_authorization = true\n",
            [("/default", true), ("/strip", true), ("/keep", false)],
        ),
        (
            "[forward]\nstrip_authorization = false\n",
            [("/default", false), ("/strip", true), ("/keep", false)],
        ),
        (
            "",
            [("/default", false), ("/strip", true), ("/keep", false)],
        ),
    ] {
        let (_upstream, gw) =
            start_with_echo(&config(&secret_jwt(""), &format!("{global}{STRIP_ROUTES}"))).await;
        for (path, stripped) in expectations {
            let case = format!("{path} with {:?}", global.trim());
            let reply = get_bearer(gw.addr, path, &token).await;
            assert_forwarded(&reply, "alice", &case);
            let want: Vec<String> = match stripped {
                true => Vec::new(),
                false => vec![bearer_value.clone()],
            };
            assert_eq!(
                reply.upstream_saw("authorization"),
                want,
                "{case}: Authorization upstream"
            );
        }
    }
}
