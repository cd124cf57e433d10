//! `iss` and `aud` with an issuer and an audience configured on both sides: `iss` only on access
//! tokens on the access and fresh routes, `aud` everywhere, in the library's order.

use serde_json::json;

use crate::app::App;
use crate::case::Expect::*;
use crate::case::*;
use crate::gateway::Stack;
use crate::judge::assert_cases;
use crate::support::{now, ClaimsExt};
use crate::{access, refresh, AUDIENCE, ISSUER};

#[tokio::test]
async fn freshgate_checks_issuer_and_audience_like_fastapi_jwt_auth() {
    let app = App::start(&[
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
        row("an iss that is not a string is Invalid issuer", to("/protected").bearer(good_access().set("iss", json!(5)).token()), Same),
        row("iss is not checked on the optional route: missing iss is accepted", to("/partially-protected").bearer(good_access().unset("iss").token()), Same),
        row("iss is not checked on the optional route: another iss is accepted", to("/partially-protected").bearer(good_access() .set("iss", json!("https://elsewhere.test")) .token()), Same),
        row("iss is not checked on the refresh route: another iss is accepted", to("/refresh").bearer(good_refresh() .set("iss", json!("https://elsewhere.test")) .token()), Same),
        row("a refresh token (no iss) on the access route: missing iss comes before the type check", to("/protected").bearer(good_refresh().token()), Same),
        row("a refresh token with the right iss is 422 Only access tokens on the access route", to("/protected").bearer(good_refresh().set("iss", json!(ISSUER)).token()), Same),
        row("an access token without aud is 422 missing aud", to("/protected").bearer(good_access().unset("aud").token()), Same),
        row("an access token without aud is 422 missing aud on the optional route", to("/partially-protected").bearer(good_access().unset("aud").token()), Same),
        row("a refresh token without aud is 422 missing aud on the refresh route", to("/refresh").bearer(good_refresh().unset("aud").token()), Same),
        row("another aud is Invalid audience", to("/protected").bearer(good_access().set("aud", json!("someone-else")).token()), Same),
        row("a list of aud that contains the audience is accepted", to("/protected").bearer(good_access() .set("aud", json!(["someone-else", AUDIENCE])) .token()), Same),
        row("a list of aud that contains the audience is accepted on the fresh route", to("/protected-fresh").bearer(good_access().set("aud", json!([AUDIENCE, "x"])).token()), Same),
        row("a list of aud without the audience is Invalid audience", to("/protected").bearer(good_access() .set("aud", json!(["someone-else", "x"])) .token()), Same),
        row("an empty aud list is Invalid audience", to("/protected").bearer(good_access().set("aud", json!([])).token()), Same),
        row("an aud that is a number is Invalid claim format", to("/protected").bearer(good_access().set("aud", json!(5)).token()), Same),
        row("an aud list with a number is Invalid claim format", to("/protected").bearer(good_access().set("aud", json!([AUDIENCE, 5])).token()), Same),
        row("iss is checked before aud", to("/protected").bearer(good_access().unset("iss").unset("aud").token()), Same),
        row("exp is checked before iss", to("/protected").bearer(good_access() .unset("iss") .set("exp", json!(now() - 60)) .token()), Same),
        row("the optional route still checks aud with another iss", to("/partially-protected").bearer(good_access() .set("iss", json!("x")) .set("aud", json!("y")) .token()), Same),
    ];
    assert_cases("issuer and audience", &app, &stack, cases).await;
}
