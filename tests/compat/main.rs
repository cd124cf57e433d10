//! The compatibility suite against the REAL library: every request is sent both to the
//! fastapi-jwt-auth 0.5.0 example app (tests/compat/app.py, run from a virtualenv installed from
//! PyPI) and to freshgate in front of the echo upstream, and the two decisions must be the same
//! (the contract: shared/compat/fastapi-jwt-auth.md, "Decision contract").
//!
//! Each topic is a table, one row a case: a name, the request, and the expectation ([`case`]).
//! Where the library crashes with 500, and for the documented freshness differences, the
//! expected answer of each side is the row's expectation, with the reason next to the row.
//!
//! Cookie tokens: the app runs with `AUTHJWT_TOKEN_LOCATION` (and its own `/login` cookies are
//! used), the gateway with the same `token_location`. Every rejection must also carry freshgate's
//! documented `WWW-Authenticate` challenge, which the library never sends; the body stays equal.
//!
//! Setup: `python3 -m venv target/compat-venv` + `pip install -r tests/compat/requirements.txt`,
//! done once per process (and skipped when the venv's marker file matches the requirements).
//! The Redis denylist example (`denylist_redis.rs`) also needs `redis-server` (see the README).
//! A setup failure fails every test here with the reason: this suite never skips itself.
//! `FRESHGATE_COMPAT_PYTHON` may name another interpreter than `python3` for creating the venv.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

#[path = "../support/mod.rs"]
mod support;

mod app;
mod case;
mod gateway;
mod judge;
mod reference;
mod venv;

mod authorization_header;
mod cookies;
mod decode_failures;
mod denylist_redis;
mod freshness;
mod issued_tokens;
mod issuer_audience;
mod library_crashes;
mod websocket;

use freshgate::auth::TokenType;
use freshgate::token::TokenSpec;
use serde_json::{Map, Value};
use support::now;

/// Issuer and audience of the second app instance (and of its gateway).
const ISSUER: &str = "https://issuer.compat.test";
const AUDIENCE: &str = "freshgate-compat";
/// A secret that is not the one the app and the gateway use.
const OTHER_SECRET: &str = "some-other-secret-entirely";

/// An access token's claims as the library writes them (sub "alice", 15 minutes).
fn access(fresh: bool) -> Map<String, Value> {
    TokenSpec::new("alice", TokenType::Access, fresh).claims(now())
}

/// A refresh token's claims as the library writes them (sub "alice", 30 days, no `fresh`).
fn refresh() -> Map<String, Value> {
    TokenSpec::new("alice", TokenType::Refresh, false).claims(now())
}
