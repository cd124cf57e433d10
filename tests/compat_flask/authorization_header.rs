//! Reading the Authorization header as flask-jwt-extended does: absent or blank, the type word
//! (a missing one is "no token", so optional routes are anonymous), the two-word rule, Python
//! whitespace in latin-1, comma-separated credentials, repeated headers (joined by the server with
//! `, `), OPTIONS and HEAD, and a configured header name and type.

use crate::access;
use crate::case::Expect::*;
use crate::case::*;
use crate::side::{header_name, header_type, Sides};
use crate::support::ClaimsExt;

#[tokio::test]
async fn freshgate_reads_the_authorization_header_like_flask_jwt_extended() {
    let sides = Sides::start(vec![]).await;
    let (fresh, refresh_token) = sides.app.login().await;
    let t = fresh.as_str();
    let r = refresh_token.as_str();
    let latin1 = |prefix: &[u8], suffix: &str| [prefix, suffix.as_bytes()].concat();

    #[rustfmt::skip]
    let cases = vec![
        row("no Authorization header on an access route is 401 Missing Authorization Header", to("/protected"), Same),
        row("no Authorization header on a fresh route is 401 Missing", to("/protected-fresh"), Same),
        row("no Authorization header on the refresh route is 401 Missing", to("/refresh"), Same),
        row("no Authorization header on the optional route is anonymous", to("/partially-protected"), Same),
        row("an empty Authorization header counts as no token", to("/protected").auth(b""), Same),
        row("an empty Authorization header on the optional route is anonymous", to("/partially-protected").auth(b""), Same),
        row("an Authorization header of one comma counts as no token", to("/protected").auth(b","), Same),
        row("`bearer <token>` in lower case is 401 Missing 'Bearer' type", to("/protected").auth(format!("bearer {t}")), Same),
        row("`bearer <token>` on the optional route is anonymous", to("/partially-protected").auth(format!("bearer {t}")), Anonymous),
        row("`Token <token>` is 401 Missing 'Bearer' type", to("/protected").auth(format!("Token {t}")), Same),
        row("`Token <token>` on the fresh route is 401 Missing 'Bearer' type", to("/protected-fresh").auth(format!("Token {t}")), Same),
        row("`Token <refresh token>` on the refresh route is 401 Missing 'Bearer' type", to("/refresh").auth(format!("Token {r}")), Same),
        row("`Token <token>` on the optional route is anonymous", to("/partially-protected").auth(format!("Token {t}")), Anonymous),
        row("`BearerX <token>` is 401 Missing 'Bearer' type", to("/protected").auth(format!("BearerX {t}")), Same),
        row("a bare token is 401 Missing 'Bearer' type", to("/protected").auth(t), Same),
        row("a bare token on the optional route is anonymous", to("/partially-protected").auth(t), Anonymous),
        row("`Bearer` alone is 422 Bad Authorization header", to("/protected").auth(b"Bearer"), Same),
        row("`Bearer` alone is 422 on the optional route too", to("/partially-protected").auth(b"Bearer"), Same),
        row("`Bearer` and a single space is 422 Bad Authorization header", to("/protected").auth(b"Bearer "), Same),
        row("`Bearer a b` (three words) is 422 Bad Authorization header", to("/protected").auth(b"Bearer a b"), Same),
        row("`Bearer a b` is 422 on the optional route too", to("/partially-protected").auth(b"Bearer a b"), Same),
        row("`Bearer <token> extra` is 422 Bad Authorization header", to("/protected").auth(format!("Bearer {t} extra")), Same),
        row("`Bearer,<token>` is two elements, `Bearer` alone: 422", to("/protected").auth(format!("Bearer,{t}")), Same),
        row("`Bearer a b` is 422 on the refresh route", to("/refresh").auth(b"Bearer a b"), Same),
        row("several spaces after Bearer are fine", to("/protected").auth(format!("Bearer    {t}")), Same),
        row("a tab after Bearer is fine", to("/protected").auth(format!("Bearer\t{t}")), Same),
        row("a tab and spaces after Bearer are fine", to("/protected").auth(format!("Bearer \t {t}")), Same),
        row("a trailing space after the token is fine", to("/protected").auth(format!("Bearer {t} ")), Same),
        row("a no-break space (0xA0, latin-1) after Bearer is Python whitespace", to("/protected").auth(latin1(b"Bearer\xa0", t)), Same),
        row("a NEL (0x85, latin-1) after Bearer is Python whitespace", to("/protected").auth(latin1(b"Bearer\x85", t)), Same),
        row("a no-break space before Bearer is stripped", to("/protected").auth(latin1(b"\xa0Bearer ", t)), Same),
        row("a trailing comma is stripped", to("/protected").auth(format!("Bearer {t},")), Same),
        row("a leading comma is stripped", to("/protected").auth(format!(",Bearer {t}")), Same),
        row("two trailing commas are stripped", to("/protected").auth(format!("Bearer {t},,")), Same),
        row("`Basic abc, Bearer <token>`: the Bearer credential is found", to("/protected").auth(format!("Basic abc, Bearer {t}")), Same),
        row("`Bearer <token>, Basic abc`: the Bearer credential is found", to("/protected").auth(format!("Bearer {t}, Basic abc")), Same),
        row("`Basic abc,Bearer <token>` without a space is split too", to("/protected").auth(format!("Basic abc,Bearer {t}")), Same),
        row("`Basic abc ,Bearer <token>` is split too", to("/protected").auth(format!("Basic abc ,Bearer {t}")), Same),
        row("`Basic abc,<tab>Bearer <token>` is split too", to("/protected").auth(format!("Basic abc,\tBearer {t}")), Same),
        row("`Bearer <token>,garbage`: the text after the comma is another element", to("/protected").auth(format!("Bearer {t},garbage")), Same),
        row("two Bearer credentials in one header are 401 Missing 'Bearer' type", to("/protected").auth(format!("Bearer {t}, Bearer {t}")), Same),
        row("a Bearer credential and a bare `Bearer` are 401 Missing 'Bearer' type", to("/protected").auth(format!("Bearer {t}, Bearer")), Same),
        row("two Bearer credentials on the optional route are anonymous", to("/partially-protected").auth(format!("Bearer {t}, Bearer {t}")), Anonymous),
        row("`Bearer a b, Basic x` is 422 Bad Authorization header", to("/protected").auth(b"Bearer a b, Basic x"), Same),
        row("`Basic x, Token y` has no Bearer credential: 401", to("/protected").auth(b"Basic x, Token y"), Same),
        row("`Basic x, Token y` on the optional route is anonymous", to("/partially-protected").auth(b"Basic x, Token y"), Anonymous),
        row("a broken token is 422 Not enough segments", to("/protected").auth(b"Bearer a.b"), Same),
        row("a broken token is 422 on the optional route too", to("/partially-protected").auth(b"Bearer a.b"), Same),
        row("two headers, a good one and `Token x`, read as one list: accepted", to("/protected").auth(format!("Bearer {t}")).auth(b"Token x"), Same),
        row("two headers, `Token x` and a good one: accepted", to("/protected").auth(b"Token x").auth(format!("Bearer {t}")), Same),
        row("two headers with Bearer tokens are 401 Missing 'Bearer' type", to("/protected").auth(b"Bearer a.b").auth(format!("Bearer {t}")), Same),
        row("two headers with the same good token are 401 Missing 'Bearer' type", to("/protected").auth(format!("Bearer {t}")).auth(format!("Bearer {t}")), Same),
        row("two headers, an empty one and a good one: accepted", to("/protected").auth(b"").auth(format!("Bearer {t}")), Same),
        row("two headers, a good one and an empty one: accepted", to("/protected").auth(format!("Bearer {t}")).auth(b""), Same),
        row("two headers, `Bearer` and a good one, are two Bearer elements: 401", to("/protected").auth(b"Bearer").auth(format!("Bearer {t}")), Same),
        row("the header name is case-insensitive", to("/protected").with("AUTHORIZATION", format!("Bearer {t}")), Same),
        row("a refresh token is 422 Only non-refresh tokens on the access route", to("/protected").bearer(r), Same),
        row("a refresh token is 422 Only non-refresh tokens on the fresh route", to("/protected-fresh").bearer(r), Same),
        row("a refresh token is 422 Only non-refresh tokens on the optional route", to("/partially-protected").bearer(r), Same),
        row("an access token is 422 Only refresh tokens on the refresh route", to("/refresh").bearer(t), Same),
        row("OPTIONS on an access route is not checked", Request::new("OPTIONS", "/protected"), Anonymous),
        row("OPTIONS with a malformed header is not checked", Request::new("OPTIONS", "/protected").auth(b"Bearer a b"), Anonymous),
        row("OPTIONS with an expired token on the fresh route is not checked", Request::new("OPTIONS", "/protected-fresh").bearer(access(true).set("exp", serde_json::json!(1)).token()), Anonymous),
        row("HEAD without a token is the GET's 401", Request::new("HEAD", "/protected"), Same),
        row("HEAD with a malformed header is the GET's 422", Request::new("HEAD", "/protected").auth(b"Bearer"), Same),
    ];
    sides.judge("Authorization header", cases).await;
}

#[tokio::test]
async fn freshgate_reads_a_configured_header_name_and_type_like_flask_jwt_extended() {
    let sides = Sides::start(vec![header_name("X-Api-Token"), header_type("JWT")]).await;
    let t = access(true).token();

    #[rustfmt::skip]
    let cases = vec![
        row("no X-Api-Token header is 401 Missing X-Api-Token Header", to("/protected"), Same),
        row("`JWT <token>` in X-Api-Token is accepted", to("/protected").with("x-api-token", format!("JWT {t}")), reading(&t)),
        row("`Bearer <token>` in X-Api-Token is 401 Missing 'JWT' type", to("/protected").with("x-api-token", format!("Bearer {t}")), Same),
        row("`JWT` alone in X-Api-Token is 422 Bad X-Api-Token header", to("/protected").with("x-api-token", "JWT"), Same),
        row("an Authorization header is not read", to("/protected").bearer(&t), Same),
    ];
    sides.judge("configured header name and type", cases).await;
}

#[tokio::test]
async fn freshgate_reads_a_header_without_a_type_word_like_flask_jwt_extended() {
    let sides = Sides::start(vec![header_type("")]).await;
    let t = access(true).token();

    #[rustfmt::skip]
    let cases = vec![
        row("a bare token is accepted", to("/protected").auth(&t), reading(&t)),
        row("a bare token with a trailing comma is accepted", to("/protected").auth(format!("{t},")), reading(&t)),
        row("`Bearer <token>` is 422 Bad Authorization header. Expected 'Authorization: <JWT>'", to("/protected").bearer(&t), Same),
        row("`<token>, x` is not split on commas: 422", to("/protected").auth(format!("{t}, x")), Same),
        row("no header is 401 Missing Authorization Header", to("/protected"), Same),
    ];
    sides.judge("header without a type word", cases).await;
}
