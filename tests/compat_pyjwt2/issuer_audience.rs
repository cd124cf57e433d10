//! `iss` and `aud` with an issuer and an audience configured on both sides: tests/compat's table
//! decided by the fork (`iss` only on access tokens on the access and fresh routes, `aud`
//! everywhere), then PyJWT 2's own answers for every JSON type of both claims.

use serde_json::{json, Value};

use crate::app::App;
use crate::case::Expect::*;
use crate::case::*;
use crate::fork;
use crate::gateway::Stack;
use crate::judge::assert_cases;
use crate::support::{now, ClaimsExt};
use crate::{access, refresh, AUDIENCE, ISSUER};

#[tokio::test]
async fn fork_and_freshgate_agree_on_issuer_and_audience() {
    let app = fork::start(&[
        ("AUTHJWT_DECODE_ISSUER", ISSUER),
        ("AUTHJWT_ENCODE_ISSUER", ISSUER),
        ("AUTHJWT_DECODE_AUDIENCE", AUDIENCE),
        ("COMPAT_TOKEN_AUDIENCE", AUDIENCE),
    ])
    .await;
    let stack = Stack::start(&format!(
        "issuer = \"{ISSUER}\"\naudience = [\"{AUDIENCE}\"]"
    ))
    .await;
    let (fresh, refresh_token) = app.login().await;
    let not_fresh = app.refresh(&refresh_token).await;
    // What the app issues, made here: iss on access tokens only, aud on both.
    let good_access = || {
        access(true)
            .set("iss", json!(ISSUER))
            .set("aud", json!(AUDIENCE))
    };
    let good_refresh = || refresh().set("aud", json!(AUDIENCE));

    #[rustfmt::skip]
    let cases = vec![
        row("the app's fresh access token (with iss and aud) is accepted on the access route", to("/protected").bearer(&fresh), Same),
        row("the app's fresh access token is accepted on the fresh route", to("/protected-fresh").bearer(&fresh), Same),
        row("the app's refresh token (aud, no iss) is accepted on the refresh route", to("/refresh").bearer(&refresh_token), Same),
        row("the app's non-fresh access token is accepted on the access route", to("/protected").bearer(&not_fresh), Same),
        row("the app's non-fresh access token is 401 on the fresh route", to("/protected-fresh").bearer(&not_fresh), Same),
        row("an access token without iss is 422 missing iss on the access route", to("/protected").bearer(good_access().unset("iss").token()), Same),
        row("an access token without iss is 422 missing iss on the fresh route", to("/protected-fresh").bearer(good_access().unset("iss").token()), Same),
        row("an access token with another iss is Invalid issuer on the access route", to("/protected").bearer(good_access() .set("iss", json!("https://elsewhere.test")) .token()), Same),
        row("an access token with another iss is Invalid issuer on the fresh route", to("/protected-fresh").bearer(good_access() .set("iss", json!("https://elsewhere.test")) .token()), Same),
        row("an iss that is not a string is 422 Payload Issuer (iss) must be a string", to("/protected").bearer(good_access().set("iss", json!(5)).token()), Same),
        row("iss is not checked on the optional route: missing iss is accepted", to("/partially-protected").bearer(good_access().unset("iss").token()), Same),
        row("iss is not checked on the optional route: another iss is accepted", to("/partially-protected").bearer(good_access() .set("iss", json!("https://elsewhere.test")) .token()), Same),
        row("iss is not checked on the refresh route: another iss is accepted", to("/refresh").bearer(good_refresh() .set("iss", json!("https://elsewhere.test")) .token()), Same),
        row("a refresh token (no iss) on the access route: missing iss comes before the type check", to("/protected").bearer(good_refresh().token()), Same),
        row("a refresh token with the right iss is 422 Only access tokens on the access route", to("/protected").bearer(good_refresh().set("iss", json!(ISSUER)).token()), Same),
        row("an access token without aud is 422 missing aud", to("/protected").bearer(good_access().unset("aud").token()), Same),
        row("an access token without aud is 422 missing aud on the optional route", to("/partially-protected").bearer(good_access().unset("aud").token()), Same),
        row("a refresh token without aud is 422 missing aud on the refresh route", to("/refresh").bearer(good_refresh().unset("aud").token()), Same),
        row("another aud is 422 Audience doesn't match", to("/protected").bearer(good_access().set("aud", json!("someone-else")).token()), Same),
        row("a list of aud that contains the audience is accepted", to("/protected").bearer(good_access() .set("aud", json!(["someone-else", AUDIENCE])) .token()), Same),
        row("a list of aud that contains the audience is accepted on the fresh route", to("/protected-fresh").bearer(good_access().set("aud", json!([AUDIENCE, "x"])).token()), Same),
        row("a list of aud without the audience is 422 Audience doesn't match", to("/protected").bearer(good_access() .set("aud", json!(["someone-else", "x"])) .token()), Same),
        row("an empty aud list is 422 missing aud", to("/protected").bearer(good_access().set("aud", json!([])).token()), Same),
        row("an aud that is a number is Invalid claim format", to("/protected").bearer(good_access().set("aud", json!(5)).token()), Same),
        row("an aud list with a number is Invalid claim format", to("/protected").bearer(good_access().set("aud", json!([AUDIENCE, 5])).token()), Same),
        row("iss is checked before aud", to("/protected").bearer(good_access().unset("iss").unset("aud").token()), Same),
        row("exp is checked before iss", to("/protected").bearer(good_access() .unset("iss") .set("exp", json!(now() - 60)) .token()), Same),
        row("the optional route still checks aud with another iss", to("/partially-protected").bearer(good_access() .set("iss", json!("x")) .set("aud", json!("y")) .token()), Same),
    ];
    assert_cases("issuer and audience", &app, &stack, cases).await;
}

/// The app and the gateway with the issuer and the audience configured, as in the table above.
async fn with_issuer_and_audience() -> (App, Stack) {
    let app = fork::start(&[
        ("AUTHJWT_DECODE_ISSUER", ISSUER),
        ("AUTHJWT_ENCODE_ISSUER", ISSUER),
        ("AUTHJWT_DECODE_AUDIENCE", AUDIENCE),
        ("COMPAT_TOKEN_AUDIENCE", AUDIENCE),
    ])
    .await;
    let stack = Stack::start(&format!(
        "issuer = \"{ISSUER}\"\naudience = [\"{AUDIENCE}\"]"
    ))
    .await;
    (app, stack)
}

/// Every JSON type of `iss` (PyJWT 2.15 refuses a non-string one before comparing it) on the
/// access route, where it is checked, and on the optional route, where it is not.
#[rustfmt::skip]
fn iss_rows() -> Vec<Case> {
    let good = || access(true).set("iss", json!(ISSUER)).set("aud", json!(AUDIENCE));
    let mut rows = Vec::new();
    for (what, value) in [
        ("5", json!(5)), ("null", Value::Null), ("true", json!(true)),
        ("a list holding the issuer", json!([ISSUER])), ("an object", json!({})),
        ("an empty string", json!("")), ("the issuer with a trailing space", json!(format!("{ISSUER} "))),
    ] {
        let token = good().set("iss", value).token();
        rows.push(row(format!("iss {what} on the access route"), to("/protected").bearer(&token), Same));
        rows.push(row(format!("iss {what} on the optional route is not checked"), to("/partially-protected").bearer(&token), Same));
    }
    rows.push(row("a non-string iss is refused before a wrong aud", to("/protected").bearer(good().set("iss", json!(5)).set("aud", json!("x")).token()), Same));
    rows.push(row("a refresh token with iss 5 on the refresh route is accepted (iss unchecked)", to("/refresh").bearer(refresh().set("aud", json!(AUDIENCE)).set("iss", json!(5)).token()), Same));
    rows
}

/// Every JSON type of `aud` with an audience configured: absent or falsy is "missing", a miss is
/// "Audience doesn't match", on the access and the refresh route.
#[rustfmt::skip]
fn aud_rows() -> Vec<Case> {
    let good = || access(true).set("iss", json!(ISSUER));
    let mut rows = Vec::new();
    for (what, value) in [
        ("an empty string", json!("")), ("an empty list", json!([])), ("null", Value::Null),
        ("0", json!(0)), ("false", json!(false)), ("another string", json!("x")),
        ("a list without it", json!(["x"])), ("the audience", json!(AUDIENCE)),
        ("a list holding it", json!([AUDIENCE])), ("a list with a number", json!([AUDIENCE, 5])),
        ("a list of only a number", json!([5])), ("an object", json!({"a": 1})),
        ("a nested list", json!([[AUDIENCE]])), ("5", json!(5)), ("true", json!(true)),
        ("the audience in upper case", json!(AUDIENCE.to_uppercase())),
    ] {
        rows.push(row(format!("aud {what} on the access route"), to("/protected").bearer(good().set("aud", value.clone()).token()), Same));
        rows.push(row(format!("aud {what} on the refresh route"), to("/refresh").bearer(refresh().set("aud", value).token()), Same));
    }
    rows.push(row("a wrong aud is refused before a non-string sub", to("/protected").bearer(good().set("aud", json!("x")).set("sub", json!(42)).token()), Same));
    rows.push(row("a future iat is refused before a missing iss", to("/protected").bearer(access(true).set("aud", json!(AUDIENCE)).set("iat", json!(now() + 3600)).token()), Same));
    rows.push(row("an integer sub with the right iss and aud is 422 Subject must be a string", to("/protected").bearer(good().set("aud", json!(AUDIENCE)).set("sub", json!(42)).token()), Same));
    rows
}

#[tokio::test]
async fn fork_and_freshgate_agree_on_every_json_type_of_iss_and_aud() {
    let (app, stack) = with_issuer_and_audience().await;
    let mut cases = iss_rows();
    cases.extend(aud_rows());
    assert_cases("iss and aud of every JSON type", &app, &stack, cases).await;
}

#[tokio::test]
async fn fork_and_freshgate_agree_on_a_configured_list_of_audiences() {
    let app = fork::start(&[
        ("AUTHJWT_DECODE_AUDIENCE", "aud-one,aud-two"),
        ("COMPAT_TOKEN_AUDIENCE", "aud-one,aud-two"),
    ])
    .await;
    let stack = Stack::start(r#"audience = ["aud-one", "aud-two"]"#).await;
    let (fresh, refresh_token) = app.login().await;
    let aud = |value: Value| to("/protected").bearer(access(true).set("aud", value).token());

    #[rustfmt::skip]
    let cases = vec![
        row("the app's own access token (both audiences) is accepted", to("/protected").bearer(&fresh), Same),
        row("the app's own refresh token is accepted on the refresh route", to("/refresh").bearer(&refresh_token), Same),
        row("the first audience is accepted", aud(json!("aud-one")), Same),
        row("the second audience is accepted", aud(json!("aud-two")), Same),
        row("a list with the second audience is accepted", aud(json!(["aud-two"])), Same),
        row("another audience is 422 Audience doesn't match", aud(json!("aud-three")), Same),
        row("a list without either is 422 Audience doesn't match", aud(json!(["aud-three"])), Same),
        row("an empty list is 422 missing aud", aud(json!([])), Same),
        row("an empty string is 422 missing aud", aud(json!("")), Same),
        row("no aud is 422 missing aud", to("/protected").bearer(access(true).token()), Same),
    ];
    assert_cases("a list of audiences", &app, &stack, cases).await;
}
