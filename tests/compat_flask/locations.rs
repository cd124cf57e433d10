//! The query string location (`?jwt=`), the order of several locations (only a missing token
//! moves on to the next; anything else is final), and the one 401 text when no location has a
//! token, for every ordered combination of headers, cookies and query string.

use serde_json::json;

use crate::case::Expect::*;
use crate::case::*;
use crate::side::{header_name, query_string_name, token_location, Sides};
use crate::support::{now, ClaimsExt};
use crate::{access, refresh};

#[tokio::test]
async fn freshgate_reads_the_query_string_like_flask_jwt_extended() {
    let sides = Sides::start(vec![token_location(&["query_string"])]).await;
    let t = access(true).token();
    let r = refresh().token();
    let at = |query: String| get(format!("/protected?{query}"));

    #[rustfmt::skip]
    let cases = vec![
        row("no query string is 401 Missing 'jwt' query paramater", to("/protected"), Same),
        row("no query string on the optional route is anonymous", to("/partially-protected"), Same),
        row("no query string on the refresh route is 401", to("/refresh"), Same),
        row("an empty jwt parameter is no token", get("/protected?jwt="), Same),
        row("a jwt parameter without `=` is no token", get("/protected?jwt"), Same),
        row("an empty jwt parameter on the optional route is anonymous", get("/partially-protected?jwt="), Same),
        row("?jwt=<token> is accepted", at(format!("jwt={t}")), reading(&t)),
        row("?jwt=<token> is accepted on the fresh route", get(format!("/protected-fresh?jwt={t}")), reading(&t)),
        row("?jwt=<token> is read on the optional route", get(format!("/partially-protected?jwt={t}")), reading(&t)),
        row("?jwt=<refresh token> is accepted on the refresh route", post(format!("/refresh?jwt={r}")), reading(&r)),
        row("?jwt=<refresh token> is 422 Only non-refresh tokens on the access route", at(format!("jwt={r}")), Same),
        row("?jwt=<token> on POST needs no CSRF header", post(format!("/protected?jwt={t}")), reading(&t)),
        row("the parameter name is case-sensitive: ?JWT= is no token", at(format!("JWT={t}")), Same),
        row("?jwt=garbage fails to decode", get("/protected?jwt=garbage"), Same),
        row("?jwt=garbage fails to decode on the optional route too", get("/partially-protected?jwt=garbage"), Same),
        row("of two jwt parameters the first counts: a good one first is accepted", at(format!("jwt={t}&jwt=garbage")), reading(&t)),
        row("of two jwt parameters the first counts: garbage first fails to decode", at(format!("jwt=garbage&jwt={t}")), Same),
        row("of two jwt parameters the first counts, even when empty", at(format!("jwt=&jwt={t}")), Same),
        row("`;` does not separate parameters", at(format!("a=1;jwt={t}")), Same),
        row("another parameter before jwt is fine", at(format!("a=1&jwt={t}")), reading(&t)),
        row("a percent-encoded value is decoded", at(format!("jwt={}", t.replace('.', "%2E"))), reading(&t)),
        row("a percent-encoded parameter name is decoded", at(format!("j%77t={t}")), reading(&t)),
        row("`+` in the value is a space: the token fails to decode", at(format!("jwt={}+{}", &t[..10], &t[10..])), Same),
        row("`Bearer ` before the token is part of the value: fails to decode", at(format!("jwt=Bearer%20{t}")), Same),
        row("a space after the token fails to decode", at(format!("jwt={t}%20")), Same),
        row("an invalid percent escape is kept literally: fails to decode", get("/protected?jwt=%ZZ"), Same),
        row("a percent escape that is not UTF-8 fails to decode", get("/protected?jwt=%FF"), Same),
        row("an Authorization header is not read", to("/protected").bearer(&t), Same),
        row("OPTIONS is not checked", Request::new("OPTIONS", "/protected"), Anonymous),
    ];
    sides.judge("query string", cases).await;
}

#[tokio::test]
async fn freshgate_reads_a_configured_query_string_name_like_flask_jwt_extended() {
    let sides = Sides::start(vec![
        token_location(&["query_string"]),
        query_string_name("token"),
    ])
    .await;
    let t = access(true).token();

    #[rustfmt::skip]
    let cases = vec![
        row("no query string is 401 Missing 'token' query paramater", to("/protected"), Same),
        row("?token=<token> is accepted", get(format!("/protected?token={t}")), reading(&t)),
        row("?jwt=<token> is no token", get(format!("/protected?jwt={t}")), Same),
    ];
    sides.judge("configured query string name", cases).await;
}

/// Every ordered selection of one, two or three of the locations.
fn orders() -> Vec<Vec<&'static str>> {
    let all = ["headers", "cookies", "query_string"];
    let mut orders: Vec<Vec<&str>> = all.iter().map(|l| vec![*l]).collect();
    for a in all {
        for b in all.iter().filter(|b| **b != a) {
            orders.push(vec![a, b]);
            for c in all.iter().filter(|c| **c != a && *c != b) {
                orders.push(vec![a, b, c]);
            }
        }
    }
    orders
}

#[tokio::test]
async fn freshgate_names_every_missing_location_like_flask_jwt_extended() {
    for order in orders() {
        let sides = Sides::start(vec![token_location(&order)]).await;
        #[rustfmt::skip]
        let cases = vec![
            row("no token on an access route", to("/protected"), Same),
            row("no token on the refresh route", to("/refresh"), Same),
            row("no token on the optional route is anonymous", to("/partially-protected"), Same),
            row("`Token x` in the Authorization header on an access route", to("/protected").auth("Token x"), Same),
            row("`Token x` in the Authorization header on the optional route is anonymous", to("/partially-protected").auth("Token x"), Same),
        ];
        sides
            .judge(&format!("no token, token_location = {order:?}"), cases)
            .await;
    }
}

#[tokio::test]
async fn freshgate_stops_at_the_first_location_with_a_token_like_flask_jwt_extended() {
    let sides = Sides::start(vec![
        token_location(&["headers", "cookies", "query_string"]),
        header_name("X-Api-Token"),
        query_string_name("token"),
    ])
    .await;
    let t = access(true).token();
    let expired = access(true).set("exp", json!(now() - 60)).token();
    let query = |token: &str| get(format!("/protected?token={token}"));

    #[rustfmt::skip]
    let cases = vec![
        row("nothing anywhere names the header, the cookie and the parameter", to("/protected"), Same),
        row("nothing anywhere on the refresh route names the refresh cookie", to("/refresh"), Same),
        row("a header without the type word falls through to the query string", query(&t).with("x-api-token", "JWT x"), reading(&t)),
        row("`Bearer` alone in the header is final: 422", query(&t).with("x-api-token", "Bearer"), Same),
        row("a garbage cookie is final", query(&t).cookie("access_token_cookie=garbage"), Same),
        row("a cookie on POST without a CSRF header is final", post(format!("/protected?token={t}")).cookie(format!("access_token_cookie={t}")), Same),
        row("an empty cookie falls through to the query string", query(&t).cookie("access_token_cookie="), reading(&t)),
        row("an expired cookie is final", query(&t).cookie(format!("access_token_cookie={expired}")), Same),
    ];
    sides.judge("first location with a token", cases).await;
}
