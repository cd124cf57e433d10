//! Table-driven tests of the decision, one row per line of the contract
//! (`compat/fastapi-jwt-auth.md`), split by the part of the contract they check:
//!
//! | module         | contract section                                                   |
//! |----------------|--------------------------------------------------------------------|
//! | [`headers`]    | reading the token from the Authorization header                   |
//! | [`decode`]     | decode failures (PyJWT 1.7.1 wording and order), time claims, leeway |
//! | [`claims`]     | issuer, audience, token type, freshness values                     |
//! | [`algorithms`] | accepted algorithms, and where the library answers 500             |
//! | [`identity`]   | the accepted identity; every rejection's status, detail, challenge |
//! | [`cookies`]    | cookies and CSRF, with `token_location` cookies and both           |
//! | [`denylist`]   | revocation by `jti`, and its place in the order of checks          |
//! | [`revocation`] | `[revocation]`: key templates, value rules, the answer in the order  |
//! | [`windows`]    | `max_age` freshness windows, with leeway                           |
//! | [`report`]     | the verified identity a rejection carries for report mode          |
//! | [`require`]    | `require` claim requirements and `acr` step-up, after freshness    |
//!
//! Every token is built by hand (base64url of chosen header and payload JSON plus an HMAC
//! signature) so that a row can carry exactly the defect it names. The clock is fixed: `NOW_MS`
//! is half a second past `NOW`, which also checks that, like PyJWT, the decision compares whole
//! seconds (`exp == NOW` is still valid at `NOW + 0.5 s`). Rows that need another instant say
//! so with [`Case::at`].
//!
//! The row tables carry `#[rustfmt::skip]` so that each row stays on one line and a table reads
//! like the contract's; everything else is default rustfmt.

mod algorithms;
mod claims;
mod cookies;
mod decode;
mod denylist;
mod headers;
mod identity;
mod profiles;
mod report;
mod require;
mod revocation;
mod windows;

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::header::COOKIE;
use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

use super::jws::VerifyKey;
use super::*;
use http::{HeaderMap, HeaderName, Method};

/// The secret of every test decoder.
const SECRET: &[u8] = b"unit-test-secret";
/// A secret the decoder does not know.
const OTHER_SECRET: &[u8] = b"some-other-secret";
/// "Now" for every row, in seconds since the epoch.
const NOW: i64 = 1_700_000_000;
/// "Now" as passed to [`decide`]: half a second past `NOW`.
const NOW_MS: i64 = NOW * 1000 + 500;
/// The standard JOSE header PyJWT writes for HS256.
const HS256_HEADER: &str = r#"{"typ":"JWT","alg":"HS256"}"#;

// ---------------------------------------------------------------------------------------------
// Building settings
// ---------------------------------------------------------------------------------------------

fn decoder() -> Decoder {
    Decoder {
        algorithms: vec![Algorithm::HS256],
        keys: vec![VerifyKey::hmac(SECRET).expect("an HMAC secret is a valid key")],
        leeway_ms: 0,
        issuer: None,
        audience: None,
        remote: None,
        providers: Vec::new(),
        pyjwt: crate::auth::profile::DecodeRules::PyJwt1_7,
        payload_first: false,
    }
}

/// The default decoder changed by `change`.
fn decoder_with(change: impl FnOnce(&mut Decoder)) -> Decoder {
    let mut d = decoder();
    change(&mut d);
    d
}

/// The library's defaults: HS256, `Authorization: Bearer <JWT>`, leeway 0, no issuer or audience.
fn default_settings() -> AuthSettings {
    settings_with(|_| {})
}

/// Default settings with the decoder changed by `change`.
fn settings_with(change: impl FnOnce(&mut Decoder)) -> AuthSettings {
    AuthSettings::new(decoder_with(change), "Authorization", "Bearer")
        .expect("Authorization is a valid header name")
}

/// The default decoder with the builder's settings changed by `change`: the token locations,
/// the cookie settings, a denylist, the token size limit.
fn built(change: impl FnOnce(AuthSettingsBuilder) -> AuthSettingsBuilder) -> AuthSettings {
    built_from(decoder(), change)
}

/// [`built`] with another decoder.
fn built_from(
    decoder: Decoder,
    change: impl FnOnce(AuthSettingsBuilder) -> AuthSettingsBuilder,
) -> AuthSettings {
    change(AuthSettings::builder(decoder))
        .build()
        .expect("Authorization is a valid header name")
}

/// A denylist of these `jti`s, as the builder takes it.
fn denylist<const N: usize>(jtis: [&str; N]) -> Option<Arc<Denylist>> {
    Some(Arc::new(Denylist::from_entries(jtis)))
}

// ---------------------------------------------------------------------------------------------
// Building tokens
// ---------------------------------------------------------------------------------------------

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `b64(header).b64(payload).signature` where the signature is `alg` with `secret` over the
/// first two segments.
fn jws(header: &str, payload: &str, alg: Algorithm, secret: &[u8]) -> String {
    let signing_input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let key = EncodingKey::from_secret(secret).expect("an HMAC secret is a valid key");
    let signature = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, alg)
        .expect("HMAC signing cannot fail");
    format!("{signing_input}.{signature}")
}

/// A correctly signed HS256 token with the standard header and `claims` as payload.
fn hs256(claims: &Value) -> String {
    jws(HS256_HEADER, &claims.to_string(), Algorithm::HS256, SECRET)
}

/// A token with the given raw header JSON, `claims` as payload and a correct HS256 signature.
fn with_header(header: &str, claims: &Value) -> String {
    jws(header, &claims.to_string(), Algorithm::HS256, SECRET)
}

/// A token whose segments are given as already-encoded text, for malformed-token rows.
fn segments(header: &str, payload: &str, signature: &str) -> String {
    format!("{header}.{payload}.{signature}")
}

/// What fastapi-jwt-auth writes for `create_access_token(subject="alice")` at `NOW`.
fn access() -> Value {
    json!({
        "sub": "alice",
        "iat": NOW,
        "nbf": NOW,
        "jti": "0d1f6d0e-5f0c-4e55-9a3e-7f2b8c1d2e3f",
        "exp": NOW + 15 * 60,
        "type": "access",
        "fresh": false,
    })
}

/// What fastapi-jwt-auth writes for `create_access_token(subject="alice", fresh=True)`.
fn fresh_access() -> Value {
    set(access(), json!({"fresh": true}))
}

/// What fastapi-jwt-auth writes for `create_refresh_token(subject="alice")` at `NOW`.
fn refresh() -> Value {
    json!({
        "sub": "alice",
        "iat": NOW,
        "nbf": NOW,
        "jti": "7a3c1b2d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "exp": NOW + 30 * 24 * 3600,
        "type": "refresh",
    })
}

/// `base` with every key of `changes` set to its value there.
fn set(mut base: Value, changes: Value) -> Value {
    let (Value::Object(map), Value::Object(changes)) = (&mut base, changes) else {
        panic!("set() takes two JSON objects");
    };
    map.extend(changes);
    base
}

/// `base` without `keys`.
fn unset(mut base: Value, keys: &[&str]) -> Value {
    let Value::Object(map) = &mut base else {
        panic!("unset() takes a JSON object");
    };
    for key in keys {
        map.remove(*key);
    }
    base
}

// ---------------------------------------------------------------------------------------------
// Building requests
// ---------------------------------------------------------------------------------------------

/// Headers with one `name` header per value, in order.
fn headers(name: &str, values: &[&[u8]]) -> HeaderMap {
    let name = HeaderName::from_bytes(name.as_bytes()).expect("valid header name");
    let mut map = HeaderMap::new();
    for value in values {
        let value = HeaderValue::from_bytes(value).expect("valid header value");
        map.append(name.clone(), value);
    }
    map
}

/// `Authorization` headers with these values, in order.
fn authorization(values: &[&str]) -> HeaderMap {
    let values: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
    headers("Authorization", &values)
}

/// `Authorization: Bearer <token>`.
fn bearer(token: &str) -> HeaderMap {
    authorization(&[&format!("Bearer {token}")])
}

/// One `Cookie` line.
fn cookie(value: &str) -> HeaderMap {
    HeaderMap::new().cookie(value)
}

/// Adds header lines to a request's headers, so a row can read `cookie(..).csrf(..)`.
trait Lines: Sized {
    /// Appends a `name: value` line (a repeated name adds a second line).
    fn line(self, name: &str, value: impl AsRef<[u8]>) -> Self;

    fn cookie(self, value: &str) -> Self {
        self.line(COOKIE.as_str(), value)
    }

    /// The default CSRF header, `X-CSRF-Token`.
    fn csrf(self, value: impl AsRef<[u8]>) -> Self {
        self.line("X-CSRF-Token", value)
    }

    fn authorization(self, value: &str) -> Self {
        self.line("Authorization", value)
    }
}

impl Lines for HeaderMap {
    fn line(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("valid header name");
        let value = HeaderValue::from_bytes(value.as_ref()).expect("valid header value");
        self.append(name, value);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Rows and the runner
// ---------------------------------------------------------------------------------------------

/// What a row expects the decision to answer.
#[derive(Debug)]
enum Want {
    /// Forwarded without identity.
    Anonymous,
    /// Forwarded with an identity of this type and freshness.
    Authenticated { token_type: TokenType, fresh: bool },
    /// Forwarded with the identity of the token whose subject is this (for rows where two
    /// tokens are sent and the row names which one counts).
    Subject(&'static str),
    /// Rejected with exactly this status and detail.
    Rejected(u16, &'static str),
    /// Rejected with this status and a detail that starts with this text (the rest is the JSON
    /// parser's own error text, which the contract leaves open).
    RejectedStartingWith(u16, &'static str),
}

use Want::*;

const ACCESS: Want = Authenticated {
    token_type: TokenType::Access,
    fresh: false,
};
const FRESH_ACCESS: Want = Authenticated {
    token_type: TokenType::Access,
    fresh: true,
};
const REFRESH: Want = Authenticated {
    token_type: TokenType::Refresh,
    fresh: false,
};

/// One request and the answer the contract gives it.
struct Case {
    name: &'static str,
    rule: Rule,
    method: Method,
    headers: HeaderMap,
    now_ms: i64,
    want: Want,
}

/// A `GET` under `policy` at `NOW_MS`, the common row.
fn case(name: &'static str, policy: Policy, headers: HeaderMap, want: Want) -> Case {
    Case {
        name,
        rule: policy.into(),
        method: Method::GET,
        headers,
        now_ms: NOW_MS,
        want,
    }
}

/// A request with another method: CSRF applies to some.
fn request(
    name: &'static str,
    policy: Policy,
    method: Method,
    headers: HeaderMap,
    want: Want,
) -> Case {
    Case {
        method,
        ..case(name, policy, headers, want)
    }
}

impl Case {
    /// The same request on a `fresh` route with this `max_age` window.
    fn within(mut self, max_age_secs: u64) -> Case {
        self.rule = Rule {
            policy: self.rule.policy,
            max_age: Some(std::time::Duration::from_secs(max_age_secs)),
        };
        self
    }

    /// The same request decided at `now_ms` instead of `NOW_MS`.
    fn at(mut self, now_ms: i64) -> Case {
        self.now_ms = now_ms;
        self
    }
}

fn describe(got: &Result<Outcome, AuthError>, profile: &Profile) -> String {
    match got {
        Ok(Outcome::Anonymous) => "forwarded anonymously".to_string(),
        Ok(Outcome::Authenticated(id)) => format!(
            "forwarded with type {}, fresh={}, sub={:?}",
            id.token_type.as_str(),
            id.fresh,
            id.subject()
        ),
        Err(e) => format!("{} {:?}", profile.status(e).as_u16(), profile.detail(e)),
    }
}

impl Want {
    fn matches(&self, got: &Result<Outcome, AuthError>, profile: &Profile) -> bool {
        match (self, got) {
            (Anonymous, Ok(Outcome::Anonymous)) => true,
            (Authenticated { token_type, fresh }, Ok(Outcome::Authenticated(id))) => {
                id.token_type == *token_type && id.fresh == *fresh
            }
            (Subject(subject), Ok(Outcome::Authenticated(id))) => {
                id.subject().as_deref() == Some(*subject)
            }
            (Rejected(status, detail), Err(e)) => {
                profile.status(e).as_u16() == *status && profile.detail(e) == *detail
            }
            (RejectedStartingWith(status, prefix), Err(e)) => {
                profile.status(e).as_u16() == *status && profile.detail(e).starts_with(prefix)
            }
            _ => false,
        }
    }
}

/// Why a row disagrees, or `None` when it agrees. Every row goes through
/// [`decide_reporting`]; a plain `GET` row without a window also through [`decide`], which must
/// give the same answer.
fn disagreement(settings: &AuthSettings, c: &Case) -> Option<String> {
    let got = decide_reporting(settings, c.rule, &c.method, &c.headers, c.now_ms)
        .map_err(|(error, _)| error);
    let label = format!("{} [{} {}]", c.name, c.method, c.rule.policy);
    let profile = settings.profile();
    if !c.want.matches(&got, profile) {
        return Some(format!(
            "  {label}\n    want: {:?}\n    got:  {}",
            c.want,
            describe(&got, profile)
        ));
    }
    if c.method == Method::GET && c.rule.max_age.is_none() {
        let short = decide(settings, c.rule.policy, &c.headers, c.now_ms);
        if short != got {
            return Some(format!(
                "  {label}\n    decide:           {}\n    decide_reporting: {}",
                describe(&short, profile),
                describe(&got, profile)
            ));
        }
    }
    None
}

/// Runs every row and fails once, listing every row that disagrees, so one wrong row does not
/// hide the others.
fn check(settings: &AuthSettings, cases: Vec<Case>) {
    check_in("", settings, cases);
}

/// [`check`], naming the settings in the failure (for rows run under several settings).
fn check_in(settings_name: &str, settings: &AuthSettings, cases: Vec<Case>) {
    let total = cases.len();
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|c| disagreement(settings, &c))
        .collect();
    assert!(
        failures.is_empty(),
        "{settings_name}{}{} of {total} rows disagree with the contract:\n{}",
        if settings_name.is_empty() { "" } else { ": " },
        failures.len(),
        failures.join("\n")
    );
}

const BAD_HEADER: &str = "Bad Authorization header. Expected value 'Bearer <JWT>'";
const MISSING_HEADER: &str = "Missing Authorization Header";
const ALG_NOT_ALLOWED: &str = "The specified alg value is not allowed";
const NOT_FRESH: &str = "Fresh token required";
const REVOKED: &str = "Token has been revoked";
const ONLY_ACCESS: &str = "Only access tokens are allowed";
const ONLY_REFRESH: &str = "Only refresh tokens are allowed";
