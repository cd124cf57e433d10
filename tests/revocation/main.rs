//! `[revocation]` against a real `redis-server` started on a free port: each `revoked_when`
//! rule with the key shapes the libraries write, the subject cutoff, `token_checks`, the
//! caches, bad input, and outages (stopped, slow) under `deny` and `allow`; two replicas
//! sharing one store; `freshgate revoke`, `explain` and `check`. The fastapi-jwt-auth Redis
//! example app behind two replicas is in the compatibility suite (`tests/compat/`).
// Tests fail loudly by design.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod commands;
mod modes;
mod outages;
mod reload;
mod replicas;

use std::net::SocketAddr;

use freshgate::auth::TokenType;
use serde_json::{Map, Value};
use support::*;

const REVOKED: &str = "Token has been revoked";
const UNAVAILABLE: &str = "Revocation check unavailable";

/// The example routes in front of `{upstream}`, with `[revocation]` on `redis` plus `extra`.
fn config(redis: &RedisServer, extra: &str) -> String {
    let routes = support::ROUTES;
    format!(
        r#"
[upstreams]
app = "http://{{upstream}}"

[jwt]
secret = "{SECRET}"

[revocation]
redis = "{url}"
{extra}

{routes}"#,
        url = redis.url()
    )
}

/// A token's claims as the library writes them.
fn claims(sub: &str, token_type: TokenType) -> Map<String, Value> {
    freshgate::token::TokenSpec::new(sub, token_type, false).claims(now())
}

/// A signed access token for `sub` and its `jti`.
fn access_with_jti(sub: &str) -> (String, String) {
    let claims = claims(sub, TokenType::Access);
    let jti = claims["jti"].as_str().unwrap().to_owned();
    (sign_claims(&claims), jti)
}

async fn get(addr: SocketAddr, path: &str, token: &str) -> Reply {
    client::get(path).bearer(token).send(addr).await
}

/// Asserts a status and detail, with the reply in the message.
#[track_caller]
fn expect(reply: &Reply, status: u16, detail: Option<&str>, what: &str) {
    assert_eq!(reply.status.as_u16(), status, "{what}: {}", reply.text());
    if let Some(detail) = detail {
        assert_eq!(reply.detail(), detail, "{what}");
    }
}
