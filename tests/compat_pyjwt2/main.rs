//! The compatibility suite of the `fastapi-jwt-auth-pyjwt2` profile against the REAL fork: every
//! request is sent both to the async-fastapi-jwt-auth 0.6.6 app (tests/compat_pyjwt2/app.py, on
//! PyJWT 2.15.1, run from a virtualenv installed from PyPI) and to freshgate with
//! `[jwt] profile = "fastapi-jwt-auth-pyjwt2"` in front of the echo upstream, and the two decisions
//! must be the same. The tables are tests/compat's families with the fork as the reference, plus
//! the families where PyJWT 2 decides differently from fastapi-jwt-auth 0.5.0 (time claims, `sub`,
//! `jti`, `aud`, strict base64, `crit`), as observed by running both (the findings behind every
//! row: shared notes `findings/pyjwt2.md`).
//!
//! The harness is tests/compat's, used read-only: the app runner (`app.rs`), the rows (`case.rs`),
//! the judge (`judge.rs`) and the virtualenvs (`venv.rs`). Only the app, its venv
//! (`target/compat-venv-pyjwt2` from tests/compat_pyjwt2/requirements.txt) and the gateway's
//! profile line are this suite's own ([`fork`], [`gateway`]).
//!
//! Where the fork crashes with 500, freshgate answers the 4xx fastapi-jwt-auth 0.5.0's profile
//! gives for the same token (`Expect::LibraryCrashes`), with the reason next to the row.
//!
//! `FRESHGATE_COMPAT_PROFILE_LINE` replaces the `profile = ...` line of the gateway's `[jwt]` (set
//! it empty to run the tables against the default profile and see which rows it decides
//! differently from the fork). A setup failure fails every test here with the reason: this suite
//! never skips itself. `FRESHGATE_COMPAT_PYTHON` may name another interpreter than `python3`.
//! The Redis denylist example (`denylist_redis.rs`) also needs `redis-server`, as tests/compat's.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

#[path = "../support/mod.rs"]
mod support;

// tests/compat's harness, shared read-only; this suite uses part of it (not the 0.5.0 app's
// starters), so unused parts are not warnings here.
#[allow(dead_code)]
#[path = "../compat/app.rs"]
mod app;
#[allow(dead_code)]
#[path = "../compat/case.rs"]
mod case;
#[allow(dead_code)]
#[path = "../compat/judge.rs"]
mod judge;
#[allow(dead_code)]
#[path = "../compat/venv.rs"]
mod venv;

mod fork;
// The reference app of the topic files shared with tests/compat.
use fork as reference;
mod gateway;

#[path = "../compat/authorization_header.rs"]
mod authorization_header;
mod claims;
mod cookies;
mod decode_failures;
#[path = "../compat/denylist_redis.rs"]
mod denylist_redis;
mod encodings;
#[path = "../compat/freshness.rs"]
mod freshness;
mod issued_tokens;
mod issuer_audience;
mod library_crashes;
mod time_claims;
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
