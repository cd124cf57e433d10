//! The token decision: given a route's rule and the request, forward (with or without an
//! identity) or reject with fastapi-jwt-auth 0.5.0's status and `detail`.
//!
//! Header tokens (`token_location = ["headers"]`, the default):
//!
//! | step | check                                   | failure                                                   |
//! |------|-----------------------------------------|-----------------------------------------------------------|
//! | 0    | policy `public`                         | nothing is checked, the request is forwarded              |
//! | 1    | `Authorization` header shape            | 422 `Bad Authorization header. Expected value 'Bearer <JWT>'` (also on `optional`) |
//! | 2    | token present                           | `optional`: forward anonymously; others: 401 `Missing Authorization Header` |
//! | 3    | decode (see [`jws`]): segments, `kid`, `alg`, signature, payload, `iat`, `nbf`, `exp`, `iss`, `aud` | 422 with PyJWT 1.7.1's message |
//! | 4    | revocation (with a denylist or `[revocation]`, for the types in `token_checks`; see [`revocation`]) | 401 `Token has been revoked`; the store unavailable under `deny`: 503 `Revocation check unavailable` |
//! | 5    | `type` claim                            | 422 `Only access tokens are allowed` / `Only refresh tokens are allowed`; absent: 422 `Missing claim: type` |
//! | 6    | `fresh` policy: `fresh` claim, and the route's `max_age` window | 401 `Fresh token required`         |
//!
//! Cookie tokens (`token_location` with `cookies`; used only when no header token was sent):
//! missing cookie (401 `Missing cookie access_token_cookie`) -> missing CSRF header on a CSRF
//! method (401 `Missing CSRF Token`) -> decode -> revoked -> type -> fresh -> `csrf` claim
//! absent (422 `Missing claim: csrf`) -> CSRF mismatch (401 `CSRF double submit tokens do not
//! match`, compared in constant time).
//!
//! The issuer is checked only for access tokens on `access` and `fresh` routes, as the library
//! does. Where the library answers 500 (unknown or missing `alg`, missing `type` or `fresh`),
//! the answer here is the 4xx above. Freshness is JSON `true`, or a number read as a
//! "fresh until" epoch time that has not passed (flask-jwt-extended); nothing else.
//!
//! After these, a route's `acr` step-up and `require` claim requirements (see [`require`]).
//!
//! Everything here is pure: no I/O, the clock is an argument.

pub mod b64;
pub mod cache;
mod decide;
mod decode_error;
pub mod denylist;
mod error;
mod identity;
pub mod jws;
pub mod keys;
mod locate;
pub mod policy;
pub mod profile;
mod pyint;
mod pyjwt2;
mod require;
pub mod revocation;
mod settings;
pub mod source;

pub use decide::{
    decide, decide_reporting, decide_reporting_with, decide_websocket, decide_websocket_with,
    is_fresh, revocation_claims, Identity, Outcome, TokenAt,
};
pub use denylist::Denylist;
pub use error::AuthError;
pub use jws::{Claims, DecodeError, Decoder};
pub use policy::{Mode, Policy, Rule, TokenType, WebSocketMode};
pub use profile::Profile;
pub use require::Requirements;
pub use revocation::{Revocation, RevocationRules, Verdict};
pub use settings::{AuthSettings, AuthSettingsBuilder, CookieSettings, Location};

#[cfg(test)]
mod tests;
