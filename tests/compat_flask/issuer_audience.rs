//! `iss` and `aud` with an issuer and an audience configured on both sides: the issuer on every
//! route and token type, the audience as PyJWT 2 checks it, in the library's order (expiry after
//! both).

use serde_json::{json, Map, Value};

use crate::case::Expect::*;
use crate::case::*;
use crate::side::{audience, issuer, Sides};
use crate::support::{now, ClaimsExt};
use crate::{access, refresh, AUDIENCE, ISSUER};

fn good_access() -> Map<String, Value> {
    access(true)
        .set("iss", json!(ISSUER))
        .set("aud", json!(AUDIENCE))
}

fn good_refresh() -> Map<String, Value> {
    refresh()
        .set("iss", json!(ISSUER))
        .set("aud", json!(AUDIENCE))
}

#[rustfmt::skip]
fn issuer_cases() -> Vec<Case> {
    let elsewhere = json!("https://elsewhere.test");
    vec![
        row("no iss is 422 missing iss on the access route", to("/protected").bearer(good_access().unset("iss").token()), Same),
        row("no iss is 422 on the fresh route", to("/protected-fresh").bearer(good_access().unset("iss").token()), Same),
        row("no iss is 422 on the optional route", to("/partially-protected").bearer(good_access().unset("iss").token()), Same),
        row("no iss is 422 on the refresh route", to("/refresh").bearer(good_refresh().unset("iss").token()), Same),
        row("another iss is Invalid issuer on the access route", to("/protected").bearer(good_access().set("iss", elsewhere.clone()).token()), Same),
        row("another iss is Invalid issuer on the optional route", to("/partially-protected").bearer(good_access().set("iss", elsewhere.clone()).token()), Same),
        row("another iss is Invalid issuer on the refresh route", to("/refresh").bearer(good_refresh().set("iss", elsewhere).token()), Same),
        row("a numeric iss is 422 Payload Issuer (iss) must be a string", to("/protected").bearer(good_access().set("iss", json!(5)).token()), Same),
        row("a null iss is 422 must be a string", to("/protected").bearer(good_access().set("iss", Value::Null).token()), Same),
        row("a list iss holding the issuer is 422 must be a string", to("/protected").bearer(good_access().set("iss", json!([ISSUER])).token()), Same),
        row("an iss with a trailing slash is Invalid issuer", to("/protected").bearer(good_access().set("iss", json!(format!("{ISSUER}/"))).token()), Same),
        row("a refresh token without iss on the access route: iss before type", to("/protected").bearer(good_refresh().unset("iss").token()), Same),
        row("a refresh token with the iss on the access route is 422 Only non-refresh tokens", to("/protected").bearer(good_refresh().token()), Same),
    ]
}

#[rustfmt::skip]
fn audience_cases() -> Vec<Case> {
    let aud = |value: Value| to("/protected").bearer(good_access().set("aud", value).token());
    vec![
        row("no aud is 422 missing aud", to("/protected").bearer(good_access().unset("aud").token()), Same),
        row("no aud is 422 on the optional route", to("/partially-protected").bearer(good_access().unset("aud").token()), Same),
        row("no aud is 422 on the refresh route", to("/refresh").bearer(good_refresh().unset("aud").token()), Same),
        row("aud null counts as missing", aud(Value::Null), Same),
        row("an empty aud counts as missing", aud(json!("")), Same),
        row("an empty aud list counts as missing", aud(json!([])), Same),
        row("another aud is 422 Audience doesn't match", aud(json!("someone-else")), Same),
        row("an aud list holding the audience is accepted", aud(json!(["someone-else", AUDIENCE])), Same),
        row("an aud list without the audience is 422 Audience doesn't match", aud(json!(["someone-else", "x"])), Same),
        row("a numeric aud is 422 Invalid claim format in token", aud(json!(5)), Same),
        row("an aud list with a number is 422 Invalid claim format", aud(json!([AUDIENCE, 5])), Same),
        row("an object aud is 422 Invalid claim format", aud(json!({"a": AUDIENCE})), Same),
        row("a boolean aud is 422 Invalid claim format", aud(json!(true)), Same),
    ]
}

#[rustfmt::skip]
fn order_cases() -> Vec<Case> {
    let past = json!(now() - 60);
    vec![
        row("iss is checked before aud", to("/protected").bearer(good_access().unset("iss").unset("aud").token()), Same),
        row("an expired token without iss is 422 missing iss (expiry after iss)", to("/protected").bearer(good_access().unset("iss").set("exp", past.clone()).token()), Same),
        row("an expired token with another aud is 422 (expiry after aud)", to("/protected").bearer(good_access().set("aud", json!("x")).set("exp", past).token()), Same),
        row("nbf ahead comes before a missing iss", to("/protected").bearer(good_access().unset("iss").set("nbf", json!(now() + 60)).token()), Same),
        row("an exp that is not a number comes before a missing iss", to("/protected").bearer(good_access().unset("iss").set("exp", json!("x")).token()), Same),
        row("another aud comes before a numeric sub", to("/protected").bearer(good_access().set("aud", json!("x")).set("sub", json!(5)).token()), Same),
        row("another iss comes before a missing sub", to("/protected").bearer(good_access().set("iss", json!("x")).unset("sub").token()), Same),
    ]
}

#[tokio::test]
async fn freshgate_checks_issuer_and_audience_like_flask_jwt_extended() {
    let mut settings = Vec::from(issuer(ISSUER));
    settings.extend(audience(&[AUDIENCE]));
    let sides = Sides::start(settings).await;
    let (fresh, refresh_token) = sides.app.login().await;
    let not_fresh = sides.app.refresh(&refresh_token).await;

    #[rustfmt::skip]
    let mut cases = vec![
        row("the app's fresh access token (iss and aud) is accepted on the access route", to("/protected").bearer(&fresh), Same),
        row("the app's fresh access token is accepted on the fresh route", to("/protected-fresh").bearer(&fresh), Same),
        row("the app's refresh token (iss and aud) is accepted on the refresh route", to("/refresh").bearer(&refresh_token), Same),
        row("the app's non-fresh access token is 401 on the fresh route", to("/protected-fresh").bearer(&not_fresh), Same),
    ];
    cases.extend(issuer_cases());
    cases.extend(audience_cases());
    cases.extend(order_cases());
    sides.judge("issuer and audience", cases).await;
}

#[tokio::test]
async fn freshgate_accepts_any_of_several_audiences_like_flask_jwt_extended() {
    let sides = Sides::start(Vec::from(audience(&["a1", "a2"]))).await;
    let aud = |value: Value| to("/protected").bearer(access(true).set("aud", value).token());

    #[rustfmt::skip]
    let cases = vec![
        row("aud a2 is one of the audiences", aud(json!("a2")), Same),
        row("an aud list with a1 is accepted", aud(json!(["x", "a1"])), Same),
        row("aud x is 422 Audience doesn't match", aud(json!("x")), Same),
        row("no aud is 422 missing aud", to("/protected").bearer(access(true).token()), Same),
    ];
    sides.judge("several audiences", cases).await;
}
