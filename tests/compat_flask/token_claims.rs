//! The claims flask-jwt-extended reads after decoding: `type` (only `"refresh"` is a refresh
//! token; absent is an access token), `fresh` (absent is not fresh, a number is a fresh-until
//! time), `sub` (required, a string), `jti` (a string when present), `aud`/`iss` with no audience
//! or issuer configured, and the order type → fresh → revoked.

use serde_json::{json, Value};

use crate::case::Expect::*;
use crate::case::*;
use crate::side::{revoked, Sides};
use crate::support::{now, ClaimsExt};
use crate::{access, refresh};

#[rustfmt::skip]
fn type_cases() -> Vec<Case> {
    let typed = |value: Value| access(true).set("type", value).token();
    vec![
        row("no type on the access route is an access token", to("/protected").bearer(access(true).unset("type").token()), Same),
        row("no type on the fresh route is an access token", to("/protected-fresh").bearer(access(true).unset("type").token()), Same),
        row("no type on the optional route is an access token", to("/partially-protected").bearer(access(true).unset("type").token()), Same),
        row("no type on the refresh route is 422 Only refresh tokens", to("/refresh").bearer(refresh().unset("type").token()), Same),
        row("type null is an access token", to("/protected").bearer(typed(Value::Null)), Same),
        row("type null on the refresh route is 422", to("/refresh").bearer(typed(Value::Null)), Same),
        row("type REFRESH in upper case is an access token", to("/protected").bearer(typed(json!("REFRESH"))), Same),
        row("type REFRESH in upper case on the refresh route is 422", to("/refresh").bearer(typed(json!("REFRESH"))), Same),
        row("type Access is an access token", to("/protected").bearer(typed(json!("Access"))), Same),
        row("type `refresh ` with a space is an access token", to("/protected").bearer(typed(json!("refresh "))), Same),
        row("type `refresh ` with a space on the refresh route is 422", to("/refresh").bearer(typed(json!("refresh "))), Same),
        row("a numeric type is an access token", to("/protected").bearer(typed(json!(1))), Same),
        row("a numeric type on the refresh route is 422", to("/refresh").bearer(typed(json!(1))), Same),
        row("a list type is an access token (no crash)", to("/protected").bearer(typed(json!(["refresh"]))), Same),
        row("an object type is an access token", to("/protected").bearer(typed(json!({"a": 1}))), Same),
        row("any other word is an access token on the fresh route", to("/protected-fresh").bearer(typed(json!("whatever"))), Same),
        row("a refresh token with fresh true on the fresh route is 422 (type before fresh)", to("/protected-fresh").bearer(refresh().set("fresh", json!(true)).token()), Same),
        row("a refresh token without fresh is accepted on the refresh route", to("/refresh").bearer(refresh().unset("fresh").token()), Same),
        row("a refresh token with fresh null is accepted on the refresh route", to("/refresh").bearer(refresh().set("fresh", Value::Null).token()), Same),
    ]
}

#[rustfmt::skip]
fn fresh_cases(now: i64) -> Vec<Case> {
    let fresh = |value: Value| to("/protected-fresh").bearer(access(true).set("fresh", value).token());
    vec![
        row("fresh true is fresh", fresh(json!(true)), Same),
        row("fresh false is 401 Fresh token required", fresh(json!(false)), Same),
        row("no fresh claim is not fresh", to("/protected-fresh").bearer(access(true).unset("fresh").token()), Same),
        row("no fresh claim is accepted on the access route", to("/protected").bearer(access(true).unset("fresh").token()), Same),
        row("fresh 0 is an epoch long past: not fresh", fresh(json!(0)), Same),
        row("fresh 1 is an epoch long past: not fresh", fresh(json!(1)), Same),
        row("fresh an hour ago is not fresh", fresh(json!(now - 3600)), Same),
        row("fresh an hour ahead is fresh", fresh(json!(now + 3600)), Same),
        row("fresh a float an hour ahead is fresh", fresh(json!(now as f64 + 3600.5)), Same),
        row("fresh half a second ago is not fresh", fresh(json!(now as f64 - 0.5)), Same),
        row("fresh 5 s ahead is fresh", fresh(json!(now + 5)), Same),
        row("fresh beyond 64 bits is fresh", fresh(json!(1e20)), Same),
        row("a string fresh is accepted on the access route", to("/protected").bearer(access(true).set("fresh", json!("true")).token()), Same),
        row("a list fresh is accepted on the optional route", to("/partially-protected").bearer(access(true).set("fresh", json!([1])).token()), Same),
        row("fresh null is accepted on the access route", to("/protected").bearer(access(true).set("fresh", Value::Null).token()), Same),
    ]
}

#[rustfmt::skip]
fn subject_cases() -> Vec<Case> {
    let sub = |value: Value| access(true).set("sub", value).token();
    vec![
        row("no sub is 422 Missing claim: sub", to("/protected").bearer(access(true).unset("sub").token()), Same),
        row("no sub is 422 on the optional route", to("/partially-protected").bearer(access(true).unset("sub").token()), Same),
        row("no sub is 422 on the refresh route", to("/refresh").bearer(refresh().unset("sub").token()), Same),
        row("no sub comes before the type check", to("/protected").bearer(refresh().unset("sub").token()), Same),
        row("sub null is 422 Subject must be a string", to("/protected").bearer(sub(Value::Null)), Same),
        row("a numeric sub is 422 Subject must be a string", to("/protected").bearer(sub(json!(42))), Same),
        row("a numeric sub is 422 on the optional route", to("/partially-protected").bearer(sub(json!(42))), Same),
        row("a list sub is 422", to("/protected").bearer(sub(json!(["a"]))), Same),
        row("an object sub is 422", to("/protected").bearer(sub(json!({"a": 1}))), Same),
        row("a boolean sub is 422", to("/protected").bearer(sub(json!(true))), Same),
        row("an empty sub is accepted", to("/protected").bearer(sub(json!(""))), Same),
        row("an empty sub on the optional route is accepted (the app prints anonymous)", to("/partially-protected").bearer(sub(json!(""))), Same),
        row("a non-ASCII sub is accepted", to("/protected").bearer(sub(json!("al\u{ef}ce"))), Same),
        row("no jti is accepted", to("/protected").bearer(access(true).unset("jti").token()), Same),
        row("jti null is 422 JWT ID must be a string", to("/protected").bearer(access(true).set("jti", Value::Null).token()), Same),
        row("a numeric jti is 422", to("/protected").bearer(access(true).set("jti", json!(5)).token()), Same),
        row("a list jti is 422", to("/protected").bearer(access(true).set("jti", json!(["a"])).token()), Same),
        row("an empty jti is accepted", to("/protected").bearer(access(true).set("jti", json!("")).token()), Same),
        row("a numeric sub comes before a numeric jti", to("/protected").bearer(access(true).set("sub", json!(5)).set("jti", json!(5)).token()), Same),
        row("a numeric jti comes before a missing sub", to("/protected").bearer(access(true).unset("sub").set("jti", json!(5)).token()), Same),
        row("aud when no audience is configured is ignored", to("/protected").bearer(access(true).set("aud", json!("someone")).token()), Same),
        row("a list aud when no audience is configured is ignored", to("/protected").bearer(access(true).set("aud", json!(["someone"])).token()), Same),
        row("a numeric aud when no audience is configured is ignored", to("/protected").bearer(access(true).set("aud", json!(5)).token()), Same),
        row("an object aud on the refresh route when no audience is configured is ignored", to("/refresh").bearer(refresh().set("aud", json!({"a": 1})).token()), Same),
        row("iss when no issuer is configured is ignored", to("/protected").bearer(access(true).set("iss", json!("anyone")).token()), Same),
        row("a numeric iss when no issuer is configured is ignored", to("/protected").bearer(access(true).set("iss", json!(5)).token()), Same),
    ]
}

#[tokio::test]
async fn freshgate_reads_type_fresh_sub_and_jti_like_flask_jwt_extended() {
    let sides = Sides::start(vec![]).await;
    let mut cases = type_cases();
    cases.extend(fresh_cases(now()));
    cases.extend(subject_cases());
    sides.judge("token claims", cases).await;
}

#[tokio::test]
async fn freshgate_checks_revocation_after_type_and_freshness_like_flask_jwt_extended() {
    let sides = Sides::start(vec![revoked(&["gone"])]).await;
    let gone = || access(true).set("jti", json!("gone"));
    let gone_refresh = || refresh().set("jti", json!("gone"));

    #[rustfmt::skip]
    let cases = vec![
        row("a revoked access token is 401 Token has been revoked", to("/protected").bearer(gone().token()), Same),
        row("a revoked access token is 401 on the optional route", to("/partially-protected").bearer(gone().token()), Same),
        row("a revoked refresh token is 401 on the refresh route", to("/refresh").bearer(gone_refresh().token()), Same),
        row("a revoked refresh token on an access route is 422 (type before revocation)", to("/protected").bearer(gone_refresh().token()), Same),
        row("a revoked access token on the refresh route is 422 (type before revocation)", to("/refresh").bearer(gone().token()), Same),
        row("a revoked non-fresh token on the fresh route is 401 Fresh token required (fresh first)", to("/protected-fresh").bearer(gone().set("fresh", json!(false)).token()), Same),
        row("a revoked fresh token on the fresh route is 401 Token has been revoked", to("/protected-fresh").bearer(gone().token()), Same),
        row("a revoked expired token is 401 Token has expired (expiry first)", to("/protected").bearer(gone().set("exp", json!(now() - 60)).token()), Same),
        // Documented difference (README): with a denylist, a token without `jti` cannot be
        // checked, so freshgate refuses it (fail closed); the library's callback sees None.
        row("a token without jti is refused under a denylist", to("/protected").bearer(access(true).unset("jti").token()), LibraryAcceptsFreshgateRejects(422, "Missing claim: jti")),
        row("a token with another jti is not revoked", to("/protected").bearer(access(true).token()), Same),
    ];
    sides.judge("revocation order", cases).await;
}
