//! Tokens as deployments issue them (issue 3), through a real gateway in front of a real echo
//! upstream: every algorithm with real keys, algorithm confusion, JWKS `kid` selection, config
//! refusals for keys and forwarding, `max_age` freshness windows, `WWW-Authenticate`
//! challenges, claims sent as headers, `strip_authorization`, the file-backed denylist (edited
//! while running) and cookies with CSRF double submit.
//!
//! The keys are the throwaway ones in `tests/keys/` (see its README); tokens are minted with
//! jsonwebtoken and the claims fastapi-jwt-auth writes ([`freshgate::token::TokenSpec`]).
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

#[path = "../support/mod.rs"]
mod support;

mod algorithms;
mod challenges;
mod claims;
mod cookies;
mod denylist;
mod expect;
mod freshness;
mod jwks;
mod keys;
mod refusals;
mod require;

use support::SECRET;

/// Routes for every policy; `/fresh-window` has a five-minute `max_age`.
const ROUTES: &str = r#"
[[route]]
path = "/protected"
policy = "access"

[[route]]
path = "/fresh"
policy = "fresh"

[[route]]
path = "/fresh-window"
policy = "fresh"
max_age = "5m"

[[route]]
path = "/refresh"
policy = "refresh"

[[route]]
path = "/optional"
policy = "optional"
"#;

/// A whole config: the echo upstream, `[jwt]` with `jwt` in it, then `rest` (routes and any
/// other tables).
fn config(jwt: &str, rest: &str) -> String {
    format!("[upstreams]\napp = \"http://{{upstream}}\"\n\n[jwt]\n{jwt}\n{rest}")
}

/// `[jwt]` lines for the shared HMAC secret plus `extra`.
fn secret_jwt(extra: &str) -> String {
    format!("secret = \"{SECRET}\"\n{extra}")
}

const NOT_ALLOWED: &str = "The specified alg value is not allowed";
const BAD_SIGNATURE: &str = "Signature verification failed";
const UNKNOWN_KID: &str = "No key matches the token's kid";
const KID_MISFIT: &str = "The key named by the token's kid does not fit its alg";
const NOT_FRESH: &str = "Fresh token required";
const REVOKED: &str = "Token has been revoked";
const INVALID_TOKEN_REVOKED: &str =
    r#"Bearer error="invalid_token", error_description="Token has been revoked""#;
const STEP_UP: &str =
    r#"Bearer error="insufficient_user_authentication", error_description="Fresh token required""#;
