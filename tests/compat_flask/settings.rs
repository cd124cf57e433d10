//! Settings that change answers: the body key (`JWT_ERROR_MESSAGE_KEY`) and the leeway
//! (`JWT_DECODE_LEEWAY`, for `exp`, `nbf` and `iat`, never for `fresh`).

use serde_json::json;

use crate::access;
use crate::case::Expect::*;
use crate::case::*;
use crate::side::{error_message_key, leeway, Sides};
use crate::support::{now, ClaimsExt};

#[tokio::test]
async fn freshgate_answers_with_the_configured_message_key_like_flask_jwt_extended() {
    let sides = Sides::start(vec![error_message_key("error")]).await;
    let now = now();

    #[rustfmt::skip]
    let cases = vec![
        row("no token is {\"error\": \"Missing Authorization Header\"}", to("/protected"), Same),
        row("an expired token is {\"error\": \"Token has expired\"}", to("/protected").bearer(access(true).set("exp", json!(now - 60)).token()), Same),
        row("a non-fresh token is {\"error\": \"Fresh token required\"}", to("/protected-fresh").bearer(access(false).token()), Same),
        row("a refresh token on an access route is {\"error\": ...}", to("/protected").bearer(crate::refresh().token()), Same),
        row("a broken token is {\"error\": \"Not enough segments\"}", to("/protected").bearer("a.b"), Same),
        row("a bad header is {\"error\": ...}", to("/protected").auth("Bearer"), Same),
    ];
    sides.judge("message key", cases).await;
}

#[tokio::test]
async fn freshgate_applies_the_leeway_like_flask_jwt_extended() {
    let sides = Sides::start(vec![leeway(30)]).await;
    let now = now();
    let with = |claim: &str, value: i64| {
        to("/protected").bearer(access(true).set(claim, json!(value)).token())
    };

    #[rustfmt::skip]
    let cases = vec![
        row("exp 20 s ago is within the leeway", with("exp", now - 20), Same),
        row("exp 40 s ago is past the leeway: 401 Token has expired", with("exp", now - 40), Same),
        row("exp exactly the leeway ago has expired (exp <= now - leeway)", with("exp", now - 30), Same),
        row("nbf 20 s ahead is within the leeway", with("nbf", now + 20), Same),
        row("nbf 40 s ahead is 422 not yet valid (nbf)", with("nbf", now + 40), Same),
        row("iat 20 s ahead is within the leeway", with("iat", now + 20), Same),
        row("iat 40 s ahead is 422 not yet valid (iat)", with("iat", now + 40), Same),
        row("fresh until 20 s ago is not fresh: the leeway does not apply", to("/protected-fresh").bearer(access(true).set("fresh", json!(now - 20)).token()), Same),
    ];
    sides.judge("leeway", cases).await;
}
