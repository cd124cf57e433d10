//! Cookie tokens and CSRF double submit as flask-jwt-extended checks them, with the app's own
//! `/login` and `/refresh` cookies: Werkzeug's cookie parsing (the first of duplicates wins), the
//! CSRF header fetched before decoding, the CSRF comparison inside decoding (before expiry, type
//! and freshness), cookies only, headers then cookies, cookies then headers, and CSRF off.

use jsonwebtoken::Algorithm;
use serde_json::{json, Map, Value};

use crate::app::Jar;
use crate::case::Expect::*;
use crate::case::*;
use crate::side::{access_csrf_header, csrf_protect, refresh_csrf_header, token_location, Sides};
use crate::support::forge::{payload_of, raw_token, HS256_HEADER};
use crate::support::{now, ClaimsExt};
use crate::{access, CSRF, OTHER_SECRET};

/// An access token made here as the library writes it with CSRF protection (a `csrf` claim).
fn cookie_access(fresh: bool) -> Map<String, Value> {
    access(fresh).set("csrf", json!(CSRF))
}

fn cookie_of(token: &str) -> String {
    format!("access_token_cookie={token}")
}

/// Reading the access cookie, CSRF by method, and the CSRF header's values.
#[rustfmt::skip]
fn csrf_cases(jar: &Jar) -> Vec<Case> {
    let ac = cookie_of(&jar.access);
    let ca = jar.csrf_access.as_str();
    let made = cookie_access(true).token();
    vec![
        row("GET with the access cookie needs no CSRF header", get("/protected").cookie(&ac), reading(&jar.access)),
        row("GET with all of /login's cookies is accepted", get("/protected").cookie(jar.all()), reading(&jar.access)),
        row("GET with a wrong CSRF header is accepted: GET is not a CSRF method", get("/protected").cookie(&ac).csrf("wrong"), reading(&jar.access)),
        row("POST without X-CSRF-TOKEN is 401 Missing CSRF token", post("/protected").cookie(&ac), Same),
        row("PUT without X-CSRF-TOKEN is 401 Missing CSRF token", put("/protected").cookie(&ac), Same),
        row("PATCH without X-CSRF-TOKEN is 401 Missing CSRF token", patch("/protected").cookie(&ac), Same),
        row("DELETE without X-CSRF-TOKEN is 401 Missing CSRF token", delete("/protected").cookie(&ac), Same),
        row("POST with the right CSRF header is accepted", post("/protected").cookie(jar.all()).csrf(ca), reading(&jar.access)),
        row("PUT with the right CSRF header is accepted", put("/protected").cookie(&ac).csrf(ca), reading(&jar.access)),
        row("POST with a wrong CSRF header is 401 do not match", post("/protected").cookie(&ac).csrf("wrong"), Same),
        row("POST with the refresh token's CSRF value on an access route is 401 do not match", post("/protected").cookie(jar.all()).csrf(&jar.csrf_refresh), Same),
        row("POST with the CSRF value in upper case is 401 do not match", post("/protected").cookie(&ac).csrf(ca.to_uppercase()), Same),
        row("POST with a prefix of the CSRF value is 401 do not match", post("/protected").cookie(&ac).csrf(&ca[..8]), Same),
        row("POST with an empty CSRF header is 401 Missing CSRF token", post("/protected").cookie(&ac).csrf(""), Same),
        row("two CSRF headers, wrong then right, are joined with `, `: do not match", post("/protected").cookie(&ac).csrf("wrong").csrf(ca), Same),
        row("two CSRF headers, right then wrong, are joined with `, `: do not match", post("/protected").cookie(&ac).csrf(ca).csrf("wrong"), Same),
        row("two CSRF headers, empty then right, are joined with `, `: do not match", post("/protected").cookie(&ac).csrf("").csrf(ca), Same),
        row("the CSRF header name is case-insensitive", post("/protected").cookie(&ac).with("X-Csrf-Token", ca), reading(&jar.access)),
        row("a CSRF value in a cookie instead of the header is 401 Missing CSRF token", post("/protected").cookie(format!("{ac}; x-csrf-token={ca}")), Same),
        row("a cookie token made here with its csrf value is accepted on POST", post("/protected").cookie(cookie_of(&made)).csrf(CSRF), reading(&made)),
    ]
}

/// The `csrf` claim, and the order of the CSRF checks against decoding, type and freshness.
#[rustfmt::skip]
fn csrf_order_cases(jar: &Jar) -> Vec<Case> {
    let ac = cookie_of(&jar.access);
    let without_csrf = access(true).token();
    let expired = cookie_of(&cookie_access(true).set("exp", json!(now() - 60)).token());
    let refresh_in_access = cookie_of(&jar.refresh);
    let stale = cookie_of(&cookie_access(false).token());
    vec![
        row("a cookie token without a csrf claim on POST with a CSRF header is 422 Missing claim: csrf", post("/protected").cookie(cookie_of(&without_csrf)).csrf(CSRF), Same),
        row("a cookie token without a csrf claim on POST without a CSRF header is 401 Missing CSRF token", post("/protected").cookie(cookie_of(&without_csrf)), Same),
        row("a cookie token without a csrf claim on GET is accepted", get("/protected").cookie(cookie_of(&without_csrf)), reading(&without_csrf)),
        row("POST with a garbage cookie and no CSRF header is 401 Missing CSRF token (before decoding)", post("/protected").cookie("access_token_cookie=garbage"), Same),
        row("POST with a garbage cookie and a CSRF header fails to decode", post("/protected").cookie("access_token_cookie=garbage").csrf(&jar.csrf_access), Same),
        row("a garbage cookie on GET fails to decode", get("/protected").cookie("access_token_cookie=a.b.c"), Same),
        row("an expired cookie token is 401 Token has expired", get("/protected").cookie(&expired), Same),
        row("an expired cookie token on POST with its CSRF value is 401 Token has expired", post("/protected").cookie(&expired).csrf(CSRF), Same),
        row("an expired cookie token on POST with a wrong CSRF value is a CSRF mismatch (CSRF before expiry)", post("/protected").cookie(&expired).csrf("wrong"), Same),
        row("an expired cookie token without a csrf claim on POST is 422 Missing claim: csrf", post("/protected").cookie(cookie_of(&access(true).set("exp", json!(now() - 60)).token())).csrf("x"), Same),
        row("an expired cookie token without sub, with a wrong CSRF value, is 422 Missing claim: sub", post("/protected").cookie(cookie_of(&cookie_access(true).set("exp", json!(now() - 60)).unset("sub").token())).csrf("wrong"), Same),
        row("a cookie token with nbf ahead and a wrong CSRF value is 422 not yet valid (nbf before CSRF)", post("/protected").cookie(cookie_of(&cookie_access(true).set("nbf", json!(now() + 60)).token())).csrf("wrong"), Same),
        row("a cookie signed with another secret is 422 Signature verification failed", get("/protected").cookie(cookie_of(&raw_token(HS256_HEADER, &cookie_access(true).text(), Algorithm::HS256, OTHER_SECRET))), Same),
        row("a refresh token in the access cookie is 422 Only non-refresh tokens", get("/protected").cookie(&refresh_in_access), Same),
        row("a refresh token in the access cookie with a wrong CSRF value is a CSRF mismatch (CSRF before type)", post("/protected").cookie(&refresh_in_access).csrf("wrong"), Same),
        row("a refresh token in the access cookie with its own CSRF value is 422 Only non-refresh tokens", post("/protected").cookie(&refresh_in_access).csrf(&jar.csrf_refresh), Same),
        row("a non-fresh cookie with a wrong CSRF value on the fresh route is a CSRF mismatch (CSRF before fresh)", post("/protected-fresh").cookie(&stale).csrf("wrong"), Same),
        row("a non-fresh cookie on GET on the fresh route is 401 Fresh token required", get("/protected-fresh").cookie(&stale), Same),
        row("the fresh cookie on DELETE on the fresh route with its CSRF value is accepted", delete("/protected-fresh").cookie(&ac).csrf(&jar.csrf_access), reading(&jar.access)),
    ]
}

/// Missing and empty cookies, and Werkzeug's parsing of the Cookie header.
#[rustfmt::skip]
fn parsing_cases(jar: &Jar) -> Vec<Case> {
    let a = jar.access.as_str();
    let ac = cookie_of(a);
    vec![
        row("no cookie is 401 Missing cookie \"access_token_cookie\"", get("/protected"), Same),
        row("no cookie on the fresh route is 401 Missing cookie", get("/protected-fresh"), Same),
        row("no cookie on POST without a CSRF header is 401 Missing cookie (checked first)", post("/protected"), Same),
        row("no cookie on POST with a CSRF header is 401 Missing cookie", post("/protected").csrf(&jar.csrf_access), Same),
        row("an empty access cookie is 401 Missing cookie", get("/protected").cookie("access_token_cookie="), Same),
        row("an empty access cookie on POST without a CSRF header is 401 Missing cookie", post("/protected").cookie("access_token_cookie="), Same),
        row("an access cookie of quotes only is 401 Missing cookie", get("/protected").cookie("access_token_cookie=\"\""), Same),
        row("only the CSRF cookies are 401 Missing cookie", get("/protected").cookie(format!("csrf_access_token={}; csrf_refresh_token={}", jar.csrf_access, jar.csrf_refresh)), Same),
        row("the cookie name is case-sensitive", get("/protected").cookie(format!("Access_Token_Cookie={a}")), Same),
        row("a cookie name with a suffix is 401 Missing cookie", get("/protected").cookie(format!("access_token_cookiex={a}")), Same),
        row("a bare token in the Cookie header (no name) is 401 Missing cookie", get("/protected").cookie(a), Same),
        row("only the refresh cookie on an access route is 401 Missing cookie", get("/protected").cookie(format!("refresh_token_cookie={}", jar.refresh)), Same),
        row("of two access cookies the first counts: a good one first is accepted", get("/protected").cookie(format!("{ac}; access_token_cookie=garbage")), reading(a)),
        row("of two access cookies the first counts: garbage first fails to decode", get("/protected").cookie(format!("access_token_cookie=garbage; {ac}")), Same),
        row("of two access cookies the first counts, even when empty", get("/protected").cookie(format!("access_token_cookie=; {ac}")), Same),
        row("two Cookie headers are joined with `, `: the pairs at the junction are lost", get("/protected").cookie(&ac).cookie("access_token_cookie=garbage"), Same),
        row("two Cookie headers, another cookie first: the access cookie is lost", get("/protected").cookie("a=1").cookie(&ac), Same),
        row("a quoted cookie value is unquoted", get("/protected").cookie(format!("access_token_cookie=\"{a}\"")), reading(a)),
        row("a quoted cookie value with an octal escape (\\112 is J) is decoded", get("/protected").cookie(format!("access_token_cookie=\"ey\\112{}\"", &a[3..])), reading(a)),
        row("a quoted cookie value with backslash escapes is decoded", get("/protected").cookie(format!("access_token_cookie=\"\\e\\y{}\"", &a[2..])), reading(a)),
        row("spaces around `=` are ignored", get("/protected").cookie(format!("access_token_cookie = {a}")), reading(a)),
        row("a space after the value is ignored", get("/protected").cookie(format!("{ac} ")), reading(a)),
        row("`;` without a space separates cookies", get("/protected").cookie(format!("a=1;{ac}")), reading(a)),
        row("`,` does not separate cookies", get("/protected").cookie(format!("a=1, {ac}")), Same),
        row("a percent-encoded value is not decoded", get("/protected").cookie(format!("access_token_cookie={}", a.replace('.', "%2E"))), Same),
        row("a name without a value before the access cookie is skipped", get("/protected").cookie(format!("x; {ac}")), reading(a)),
        row("a value with a space inside is dropped: 401 Missing cookie", get("/protected").cookie(format!("access_token_cookie={} {}", &a[..10], &a[10..])), Same),
    ]
}

/// The refresh cookie, and the optional route.
#[rustfmt::skip]
fn route_cases(jar: &Jar) -> Vec<Case> {
    let ac = cookie_of(&jar.access);
    let expired = cookie_of(&cookie_access(true).set("exp", json!(now() - 60)).token());
    vec![
        row("the refresh route reads refresh_token_cookie with its CSRF value", post("/refresh").cookie(jar.all()).csrf(&jar.csrf_refresh), reading(&jar.refresh)),
        row("the refresh route without a CSRF header is 401 Missing CSRF token", post("/refresh").cookie(format!("refresh_token_cookie={}", jar.refresh)), Same),
        row("the refresh route with the access token's CSRF value is 401 do not match", post("/refresh").cookie(jar.all()).csrf(&jar.csrf_access), Same),
        row("the refresh route with only the access cookie is 401 Missing cookie \"refresh_token_cookie\"", post("/refresh").cookie(&ac).csrf(&jar.csrf_access), Same),
        row("an access token in the refresh cookie is 422 Only refresh tokens", post("/refresh").cookie(format!("refresh_token_cookie={}", jar.access)).csrf(&jar.csrf_access), Same),
        row("optional: no cookie is anonymous", get("/partially-protected"), Same),
        row("optional: no cookie on POST is anonymous", post("/partially-protected"), Same),
        row("optional: an empty cookie on POST is anonymous", post("/partially-protected").cookie("access_token_cookie="), Same),
        row("optional: a cookie on POST without a CSRF header is 401 Missing CSRF token", post("/partially-protected").cookie(&ac), Same),
        row("optional: a cookie on POST with a wrong CSRF header is 401 do not match", post("/partially-protected").cookie(&ac).csrf("wrong"), Same),
        row("optional: a cookie on POST with its CSRF header is read", post("/partially-protected").cookie(&ac).csrf(&jar.csrf_access), reading(&jar.access)),
        row("optional: an expired cookie is 401 Token has expired", get("/partially-protected").cookie(&expired), Same),
        row("optional: a refresh token in the access cookie is 422", get("/partially-protected").cookie(cookie_of(&jar.refresh)), Same),
        row("OPTIONS with a cookie and no CSRF header is not checked", Request::new("OPTIONS", "/protected").cookie(&ac), Anonymous),
    ]
}

/// The library's crashes in the CSRF comparison (`hmac.compare_digest`): freshgate answers the
/// mismatch.
#[rustfmt::skip]
fn csrf_crash_cases(jar: &Jar) -> Vec<Case> {
    let mismatch = LibraryCrashes(401, Some("CSRF double submit tokens do not match"));
    let with_csrf = |csrf: Value| cookie_of(&access(true).set("csrf", csrf).token());
    vec![
        row("a numeric csrf claim on POST is 500 in the library (TypeError), a mismatch in freshgate", post("/protected").cookie(with_csrf(json!(5))).csrf("5"), mismatch.clone()),
        row("a null csrf claim on POST is 500 in the library, a mismatch in freshgate", post("/protected").cookie(with_csrf(Value::Null)).csrf("x"), mismatch.clone()),
        row("a non-ASCII CSRF header is 500 in the library, a mismatch in freshgate", post("/protected").cookie(cookie_of(&jar.access)).csrf(b"caf\xe9"), mismatch.clone()),
        row("a non-ASCII csrf claim with an ASCII header is 500 in the library, a mismatch in freshgate", post("/protected").cookie(with_csrf(json!("caf\u{e9}"))).csrf("cafe"), mismatch),
    ]
}

/// Every cookie table, for a configuration whose token locations include cookies.
fn all_cookie_cases(jar: &Jar) -> Vec<Case> {
    let mut cases = csrf_cases(jar);
    cases.extend(csrf_order_cases(jar));
    cases.extend(parsing_cases(jar));
    cases.extend(route_cases(jar));
    cases.extend(csrf_crash_cases(jar));
    cases
}

#[tokio::test]
async fn freshgate_decides_like_flask_jwt_extended_for_cookie_tokens_and_csrf() {
    let sides = Sides::start(vec![token_location(&["cookies"])]).await;
    let jar = sides.app.login_cookies().await;
    let (header_token, _) = sides.app.login().await;
    let ac = cookie_of(&jar.access);

    let mut cases = all_cookie_cases(&jar);
    #[rustfmt::skip]
    let more = vec![
        row("cookies only: a good Authorization header without a cookie is 401 Missing cookie", to("/protected").bearer(&header_token), Same),
        row("cookies only: a good Authorization header on the optional route is anonymous", to("/partially-protected").bearer(&header_token), Anonymous),
        row("cookies only: a malformed Authorization header is ignored and the cookie is read", get("/protected").auth("Token nonsense").cookie(&ac), reading(&jar.access)),
        row("cookies only: an Authorization header does not exempt POST from CSRF", post("/protected").auth(format!("Bearer {}", jar.access)).cookie(&ac), Same),
    ];
    cases.extend(more);
    sides.judge("cookie tokens and CSRF", cases).await;
}

#[tokio::test]
async fn freshgate_tries_the_header_then_the_cookie_like_flask_jwt_extended() {
    let sides = Sides::start(vec![token_location(&["headers", "cookies"])]).await;
    let jar = sides.app.login_cookies().await;
    let ac = cookie_of(&jar.access);
    let good = format!("Bearer {}", jar.access);
    let expired = format!(
        "Bearer {}",
        cookie_access(true).set("exp", json!(now() - 60)).token()
    );

    let mut cases = all_cookie_cases(&jar);
    #[rustfmt::skip]
    let more = vec![
        row("both: a good header token with a garbage cookie is accepted (the header is final)", get("/protected").auth(&good).cookie("access_token_cookie=garbage"), Same),
        row("both: `Token x` in the header is no token, so the cookie is read", get("/protected").auth("Token nonsense").cookie(&ac), reading(&jar.access)),
        row("both: `Token x` in the header and no cookie is 401 with both messages", get("/protected").auth("Token nonsense"), Same),
        row("both: `Bearer` alone in the header with a good cookie is 422 (final)", get("/protected").auth("Bearer").cookie(&ac), Same),
        row("both: `Bearer` alone in the header is 422 on the optional route too", get("/partially-protected").auth("Bearer").cookie(&ac), Same),
        row("both: an expired header token with a good cookie is 401 Token has expired (no fallback)", get("/protected").auth(&expired).cookie(&ac), Same),
        row("both: a header token on POST needs no CSRF header", post("/protected").auth(&good), Same),
        row("both: a header token on POST with a cookie and a wrong CSRF header is accepted", post("/protected").auth(&good).cookie(&ac).csrf("wrong"), Same),
        row("both: a header token on DELETE on the fresh route needs no CSRF header", delete("/protected-fresh").auth(&good), Same),
        row("both: a non-fresh header token with a fresh cookie is 401 Fresh token required", get("/protected-fresh").bearer(access(false).token()).cookie(&ac), Same),
        row("both: a refresh header token on the refresh route needs no CSRF header", post("/refresh").auth(format!("Bearer {}", jar.refresh)), Same),
        row("both: an access header token with a good refresh cookie is 422 on the refresh route", post("/refresh").auth(&good).cookie(jar.all()).csrf(&jar.csrf_refresh), Same),
        row("both: an empty Authorization header falls back to the cookie", get("/protected").auth("").cookie(&ac), reading(&jar.access)),
        row("both: an empty Authorization header falls back to the cookie, which needs CSRF on POST", post("/protected").auth("").cookie(&ac), Same),
    ];
    cases.extend(more);
    sides.judge("header then cookie tokens", cases).await;
}

#[tokio::test]
async fn freshgate_tries_the_cookie_then_the_header_like_flask_jwt_extended() {
    let sides = Sides::start(vec![token_location(&["cookies", "headers"])]).await;
    let jar = sides.app.login_cookies().await;
    let ac = cookie_of(&jar.access);
    let good = format!("Bearer {}", jar.access);

    #[rustfmt::skip]
    let cases = vec![
        row("cookie first: a cookie on POST without a CSRF header is final, the header is not read", post("/protected").auth(&good).cookie(&ac), Same),
        row("cookie first: no cookie, so the header token is read", post("/protected").auth(&good), Same),
        row("cookie first: a garbage cookie is final", get("/protected").auth(&good).cookie("access_token_cookie=garbage"), Same),
        row("cookie first: nothing is 401 Missing JWT in cookies or headers", get("/protected"), Same),
        row("cookie first: `Token x` and no cookie is 401 with both messages", get("/protected").auth("Token x"), Same),
    ];
    sides.judge("cookie then header tokens", cases).await;
}

#[tokio::test]
async fn freshgate_skips_csrf_like_flask_jwt_extended_when_csrf_protection_is_off() {
    let sides = Sides::start(vec![token_location(&["cookies"]), csrf_protect(false)]).await;
    let set = sides.app.post_for_cookies("/login", &[]).await;
    let mut names: Vec<&str> = set.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["access_token_cookie", "refresh_token_cookie"],
        "without CSRF protection /login sets no CSRF cookies"
    );
    let access_token = set["access_token_cookie"].0.clone();
    let refresh_token = set["refresh_token_cookie"].0.clone();
    assert_eq!(
        payload_of(&access_token).and_then(|c| c.get("csrf").cloned()),
        None,
        "without CSRF protection the library writes no csrf claim"
    );
    let ac = cookie_of(&access_token);
    let made = cookie_access(true).token();

    #[rustfmt::skip]
    let cases = vec![
        row("no CSRF: POST without a CSRF header is accepted", post("/protected").cookie(&ac), reading(&access_token)),
        row("no CSRF: DELETE with any CSRF header is accepted", delete("/protected-fresh").cookie(&ac).csrf("anything"), reading(&access_token)),
        row("no CSRF: a token with a csrf claim and a wrong CSRF header is accepted", post("/protected").cookie(cookie_of(&made)).csrf("wrong"), reading(&made)),
        row("no CSRF: the refresh route reads the refresh cookie", post("/refresh").cookie(format!("refresh_token_cookie={refresh_token}")), reading(&refresh_token)),
        row("no CSRF: POST on the optional route with a cookie is accepted", post("/partially-protected").cookie(&ac), reading(&access_token)),
        row("no CSRF: POST with a garbage cookie fails to decode", post("/protected").cookie("access_token_cookie=garbage"), Same),
        row("no CSRF: no cookie is still 401 Missing cookie", post("/protected"), Same),
    ];
    sides.judge("cookies without CSRF protection", cases).await;
}

#[tokio::test]
async fn freshgate_reads_the_configured_csrf_headers_like_flask_jwt_extended() {
    let sides = Sides::start(vec![
        token_location(&["cookies"]),
        access_csrf_header("X-Access-Csrf"),
        refresh_csrf_header("X-Refresh-Csrf"),
    ])
    .await;
    let jar = sides.app.login_cookies().await;
    let ac = cookie_of(&jar.access);
    let rc = format!("refresh_token_cookie={}", jar.refresh);

    #[rustfmt::skip]
    let cases = vec![
        row("the access CSRF value in X-Access-Csrf is accepted", post("/protected").cookie(&ac).with("x-access-csrf", &jar.csrf_access), reading(&jar.access)),
        row("the access CSRF value in X-CSRF-TOKEN is 401 Missing CSRF token", post("/protected").cookie(&ac).csrf(&jar.csrf_access), Same),
        row("the refresh CSRF value in X-Refresh-Csrf is accepted", post("/refresh").cookie(&rc).with("x-refresh-csrf", &jar.csrf_refresh), reading(&jar.refresh)),
        row("the refresh CSRF value in X-Access-Csrf is 401 Missing CSRF token", post("/refresh").cookie(&rc).with("x-access-csrf", &jar.csrf_refresh), Same),
    ];
    sides.judge("configured CSRF headers", cases).await;
}
