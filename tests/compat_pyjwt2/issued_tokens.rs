//! The tokens the fork's app issues (`/login`, `/refresh`, `/fresh-login`) and close copies made
//! here, on every kind of route: the token type, freshness and the subject.

use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

use crate::case::Expect::*;
use crate::case::*;
use crate::fork;
use crate::gateway::Stack;
use crate::judge::assert_cases;
use crate::support::forge::{raw_token, HS256_HEADER};
use crate::support::{now, ClaimsExt};
use crate::{access, refresh, OTHER_SECRET};

#[tokio::test]
async fn fork_and_freshgate_agree_on_the_tokens_the_app_issues() {
    let app = fork::start(&[]).await;
    let stack = Stack::start("").await;
    let (fresh, refresh_token) = app.login().await;
    let not_fresh = app.refresh(&refresh_token).await;
    let fresh_again = app.fresh_login().await;

    #[rustfmt::skip]
    let cases = vec![
        row("a fresh access token from /login is accepted on the access route", to("/protected").bearer(&fresh), Same),
        row("a fresh access token from /login is accepted on the fresh route", to("/protected-fresh").bearer(&fresh), Same),
        row("a fresh access token from /login is accepted on the optional route", to("/partially-protected").bearer(&fresh), Same),
        row("an access token is 422 on the refresh route", to("/refresh").bearer(&fresh), Same),
        row("a refresh token from /login is accepted on the refresh route", to("/refresh").bearer(&refresh_token), Same),
        row("a refresh token is 422 on the access route", to("/protected").bearer(&refresh_token), Same),
        row("a refresh token is 422 on the fresh route", to("/protected-fresh").bearer(&refresh_token), Same),
        row("a refresh token is 422 on the optional route", to("/partially-protected").bearer(&refresh_token), Same),
        row("a non-fresh access token from /refresh is accepted on the access route", to("/protected").bearer(&not_fresh), Same),
        row("a non-fresh access token from /refresh is 401 Fresh token required on the fresh route", to("/protected-fresh").bearer(&not_fresh), Same),
        row("a non-fresh access token from /refresh is accepted on the optional route", to("/partially-protected").bearer(&not_fresh), Same),
        row("a non-fresh access token is 422 on the refresh route", to("/refresh").bearer(&not_fresh), Same),
        row("a fresh access token from /fresh-login is accepted on the fresh route", to("/protected-fresh").bearer(&fresh_again), Same),
        row("no token on the optional route is anonymous", to("/partially-protected"), Same),
        row("an access token signed with another secret is 422 on the optional route", to("/partially-protected").bearer(raw_token(HS256_HEADER, &access(true).text(), Algorithm::HS256, OTHER_SECRET)), Same),
        row("a token like the library's made here is accepted on the fresh route", to("/protected-fresh").bearer(access(true).token()), Same),
        row("an access token without a `fresh` claim is accepted on the access route", to("/protected").bearer(access(true).unset("fresh").token()), Same),
        row("an access token without a `fresh` claim is accepted on the optional route", to("/partially-protected").bearer(access(true).unset("fresh").token()), Same),
        row("an integer subject is 422 Subject must be a string (PyJWT 2)", to("/protected").bearer(access(true).set("sub", json!(42)).token()), Same),
        row("`type` must be exactly \"access\": \"Access\" is 422", to("/protected").bearer(access(true).set("type", json!("Access")).token()), Same),
        // As in 0.5.0: the library looks `type` up in its denylist token-type set (even with no
        // denylist), and a list is unhashable: TypeError, 500.
        row("a `type` that is a list is 500 in the library, 422 in freshgate", to("/protected").bearer(access(true).set("type", json!(["access"])).token()), LibraryCrashes(422, None)),
        row("a `type` that is a number is 422 Only access tokens", to("/protected").bearer(access(true).set("type", json!(1)).token()), Same),
        row("`type` must be exactly \"refresh\" on the refresh route", to("/refresh").bearer(refresh().set("type", json!("refresh ")).token()), Same),
        row("a token with `type` \"refresh\" and `fresh` true is still 422 on the fresh route", to("/protected-fresh").bearer(refresh().set("fresh", json!(true)).token()), Same),
        row("`fresh` false is 401 on the fresh route", to("/protected-fresh").bearer(access(false).token()), Same),
        row("`fresh` null is 401 on the fresh route", to("/protected-fresh").bearer(access(true).set("fresh", Value::Null).token()), Same),
        row("`fresh` 0 is 401 on the fresh route", to("/protected-fresh").bearer(access(true).set("fresh", json!(0)).token()), Same),
        row("`fresh` empty string is 401 on the fresh route", to("/protected-fresh").bearer(access(true).set("fresh", json!("")).token()), Same),
        row("an expired refresh token is 422 on the refresh route", to("/refresh").bearer(refresh().set("exp", json!(now() - 60)).token()), Same),
    ];
    assert_cases("tokens the app issues", &app, &stack, cases).await;
}
