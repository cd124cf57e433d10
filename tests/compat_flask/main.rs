//! The compatibility suite for `[jwt] profile = "flask-jwt-extended"`, against the REAL library:
//! every request is sent both to the flask-jwt-extended 4.7.4 reference app
//! (tests/compat_flask/app.py, PyJWT 2.15.1, served by waitress from a virtualenv installed from
//! PyPI) and to freshgate with the profile in front of the echo upstream, and the two decisions
//! must be the same: status, `{"msg": ...}` body byte for byte, content type, and the identity
//! the upstream sees (the judge and the case tables are tests/compat's, with a [`Library`] for
//! flask-jwt-extended: `library.rs`).
//!
//! Each topic is a table, one row a case. Where the library crashes with 500, freshgate must
//! answer a 4xx (`LibraryCrashes`), with the reason next to the row. The observations behind the
//! rows, and the order of the library's checks, are written down in the findings file
//! (`findings/flask.md` in the project's shared work area).
//!
//! Both sides get the same settings from one list ([`side::Setting`]): the app's `JWT_*`
//! environment variables and the gateway's `[jwt]` lines.
//!
//! Setup: `python3 -m venv target/compat-venv-flask` + `pip install -r
//! tests/compat_flask/requirements.txt`, once per process (skipped when the venv's marker file
//! matches the requirements). A setup failure fails every test here with the reason.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

#[path = "../support/mod.rs"]
mod support;

// Shared with tests/compat (read-only here); this suite uses part of each.
#[allow(dead_code)]
#[path = "../compat/app.rs"]
mod app;
#[allow(dead_code)]
#[path = "../compat/case.rs"]
mod case;
#[path = "../compat/gateway.rs"]
mod gateway;
#[allow(dead_code)]
#[path = "../compat/judge.rs"]
mod judge;
#[allow(dead_code)]
#[path = "../compat/venv.rs"]
mod venv;

mod library;
mod side;

mod authorization_header;
mod cookies;
mod decode_failures;
mod issued_tokens;
mod issuer_audience;
mod library_crashes;
mod locations;
mod settings;
mod time_claims;
mod token_claims;

use freshgate::auth::TokenType;
use freshgate::token::TokenSpec;
use serde_json::{json, Map, Value};
use support::{now, ClaimsExt};

/// Issuer and audience of the app instances that check them (and of their gateways).
const ISSUER: &str = "https://issuer.compat.test";
const AUDIENCE: &str = "freshgate-compat";
/// A secret that is not the one the app and the gateway use.
const OTHER_SECRET: &str = "some-other-secret-entirely";
/// The `csrf` claim of the cookie tokens made here.
const CSRF: &str = "0b6c1d3e-compat-csrf";

/// An access token's claims as the library writes them (sub "alice", 15 minutes).
fn access(fresh: bool) -> Map<String, Value> {
    TokenSpec::new("alice", TokenType::Access, fresh).claims(now())
}

/// A refresh token's claims as the library writes them (sub "alice", 30 days, `fresh` false).
fn refresh() -> Map<String, Value> {
    TokenSpec::new("alice", TokenType::Refresh, false)
        .claims(now())
        .set("fresh", json!(false))
}
