//! Cookie tokens and CSRF double submit, with the fork's own `/login` and `/refresh` cookies:
//! tests/compat's tables (cookies only, a header token before the cookie, CSRF protection off)
//! decided by the fork. The CSRF rules are unchanged; four rows flip: Starlette 1.10 reads every
//! `Cookie` header (0.5.0's Starlette read the first), and PyJWT 2.15's strict base64url refuses
//! the token with a trailing `=x` or an opening quote left in it. Then PyJWT 2's claim checks
//! reached through a cookie.

use jsonwebtoken::Algorithm;
use serde_json::{json, Map, Value};

use crate::app::Jar;
use crate::case::Expect::*;
use crate::case::*;
use crate::fork;
use crate::gateway::Stack;
use crate::judge::assert_cases;
use crate::support::forge::{payload_of, raw_token, HS256_HEADER};
use crate::support::{now, ClaimsExt};
use crate::{access, OTHER_SECRET};

/// The `csrf` claim of the cookie tokens made here.
const CSRF: &str = "0b6c1d3e-compat-csrf";

/// An access token made here as the library writes it in cookie mode (with a `csrf` claim).
fn cookie_access(fresh: bool) -> Map<String, Value> {
    access(fresh).set("csrf", json!(CSRF))
}

/// A token made here whose text contains a digit 4-7 followed by two octal digits, and a quoted
/// cookie value for it with a backslash before that digit. Python's `http.cookies._unquote`
/// reads `\ooo` as an octal escape only for `[0-3][0-7][0-7]`, so it reads `\4`.. as a plain
/// escaped `4` and gets the token back.
fn octal_lookalike() -> (String, String) {
    (0..10_000)
        .find_map(|n| {
            let token = cookie_access(true).set("n", json!(n)).token();
            let bytes = token.as_bytes();
            let at = (0..bytes.len().saturating_sub(2)).find(|&i| {
                (b'4'..=b'7').contains(&bytes[i])
                    && (b'0'..=b'7').contains(&bytes[i + 1])
                    && (b'0'..=b'7').contains(&bytes[i + 2])
            })?;
            let quoted = format!("\"{}\\{}\"", &token[..at], &token[at..]);
            Some((token, quoted))
        })
        .expect("some token contains a digit 4-7 followed by two octal digits")
}

/// Cookie cases that decide the same with `token_location` `cookies` and `headers, cookies`
/// (no Authorization header is sent). `jar` holds the app's own `/login` cookies; `stale` is a
/// non-fresh access cookie and its CSRF value from the app's own `/refresh`.
#[rustfmt::skip]
fn cookie_cases(jar: &Jar, stale: &(String, String)) -> Vec<Case> {
    let access_cookie = format!("access_token_cookie={}", jar.access);
    let refresh_cookie = format!("refresh_token_cookie={}", jar.refresh);
    let stale_cookie = format!("access_token_cookie={}", stale.0);
    let made = cookie_access(true).token();
    let made_cookie = format!("access_token_cookie={made}");
    let without_csrf = access(true).token();
    let no_csrf_claim = format!("access_token_cookie={without_csrf}");
    let expired = format!(
        "access_token_cookie={}",
        cookie_access(true).set("exp", json!(now() - 60)).token()
    );
    let (lookalike, lookalike_quoted) = octal_lookalike();
    // The JWT header segment always starts with `eyJ`; `J` is octal 112.
    let octal_j = format!("\"ey\\112{}\"", &jar.access[3..]);
    let escaped = format!("\"\\e\\y{}\"", &jar.access[2..]);

    vec![
        // Reading the access cookie, and CSRF by method.
        row("GET with the access cookie needs no CSRF header", get("/protected").cookie(&access_cookie), reading(&jar.access)),
        row("GET with all of /login's cookies is accepted", get("/protected").cookie(jar.all()), reading(&jar.access)),
        row("GET with a wrong CSRF header is accepted: GET is not a CSRF method", get("/protected").cookie(&access_cookie).csrf("wrong"), reading(&jar.access)),
        row("POST without X-CSRF-Token is 401 Missing CSRF Token", post("/protected").cookie(&access_cookie), Same),
        row("PUT without X-CSRF-Token is 401 Missing CSRF Token", put("/protected").cookie(&access_cookie), Same),
        row("PATCH without X-CSRF-Token is 401 Missing CSRF Token", patch("/protected").cookie(&access_cookie), Same),
        row("DELETE without X-CSRF-Token is 401 Missing CSRF Token", delete("/protected").cookie(&access_cookie), Same),
        row("POST with the right CSRF header is accepted", post("/protected").cookie(jar.all()).csrf(&jar.csrf_access), reading(&jar.access)),
        row("PUT with the right CSRF header is accepted", put("/protected").cookie(&access_cookie).csrf(&jar.csrf_access), reading(&jar.access)),
        row("POST with a wrong CSRF header is 401 do not match", post("/protected").cookie(&access_cookie).csrf("wrong"), Same),
        row("DELETE with a wrong CSRF header is 401 do not match", delete("/protected").cookie(&access_cookie).csrf("wrong"), Same),
        row("POST with the refresh token's CSRF value on an access route is 401 do not match", post("/protected").cookie(jar.all()).csrf(&jar.csrf_refresh), Same),
        row("POST with the CSRF value in another case is 401 do not match", post("/protected").cookie(&access_cookie).csrf(jar.csrf_access.to_uppercase()), Same),
        row("POST with a CSRF header that only starts with the value is 401 do not match", post("/protected").cookie(&access_cookie).csrf(&jar.csrf_access[..8]), Same),
        row("POST with an empty CSRF header is 401 Missing CSRF Token", post("/protected").cookie(&access_cookie).csrf(""), Same),
        row("of two CSRF headers the first counts: a wrong one first is 401 do not match", post("/protected").cookie(&access_cookie).csrf("wrong").csrf(&jar.csrf_access), Same),
        row("of two CSRF headers the first counts: the right one first is accepted", post("/protected").cookie(&access_cookie).csrf(&jar.csrf_access).csrf("wrong"), reading(&jar.access)),
        row("the CSRF header name is case-insensitive", post("/protected").cookie(&access_cookie).with("X-CSRF-TOKEN", &jar.csrf_access), reading(&jar.access)),
        row("a CSRF value sent in a cookie instead of the header is 401 Missing CSRF Token", post("/protected").cookie(format!("{access_cookie}; x-csrf-token={}", jar.csrf_access)), Same),
        // Tokens made here with the app's secret.
        row("a cookie token made here with its csrf value is accepted on POST", post("/protected").cookie(&made_cookie).csrf(CSRF), reading(&made)),
        row("a cookie token without a csrf claim on POST with a CSRF header is 422 Missing claim: csrf", post("/protected").cookie(&no_csrf_claim).csrf(CSRF), Same),
        row("a cookie token without a csrf claim on POST without a CSRF header is 401 Missing CSRF Token", post("/protected").cookie(&no_csrf_claim), Same),
        row("a cookie token without a csrf claim on GET is accepted", get("/protected").cookie(&no_csrf_claim), reading(&without_csrf)),
        // As in 0.5.0: `hmac.compare_digest(str, int)` raises TypeError.
        row("a numeric csrf claim on POST is 500 in the library, 401 do not match in freshgate", post("/protected").cookie(format!("access_token_cookie={}", access(true).set("csrf", json!(5)).token())).csrf("5"), LibraryCrashes(401, Some("CSRF double submit tokens do not match"))),
        // As in 0.5.0: `hmac.compare_digest` refuses non-ASCII str (the header is decoded as
        // latin-1): TypeError.
        row("a non-ASCII CSRF header is 500 in the library, 401 do not match in freshgate", post("/protected").cookie(&access_cookie).csrf(b"caf\xe9"), LibraryCrashes(401, Some("CSRF double submit tokens do not match"))),
        // Missing and empty cookies.
        row("no cookie is 401 Missing cookie access_token_cookie", get("/protected"), Same),
        row("no cookie on the fresh route is 401 Missing cookie", get("/protected-fresh"), Same),
        row("no cookie on POST without a CSRF header is 401 Missing cookie (checked first)", post("/protected"), Same),
        row("no cookie on POST with a CSRF header is 401 Missing cookie", post("/protected").csrf(&jar.csrf_access), Same),
        row("an empty access cookie is 401 Missing cookie", get("/protected").cookie("access_token_cookie="), Same),
        row("an empty access cookie on POST without a CSRF header is 401 Missing cookie", post("/protected").cookie("access_token_cookie="), Same),
        row("an access cookie of quotes only is 401 Missing cookie", get("/protected").cookie("access_token_cookie=\"\""), Same),
        row("only the CSRF cookies are 401 Missing cookie", get("/protected").cookie(format!("csrf_access_token={}; csrf_refresh_token={}", jar.csrf_access, jar.csrf_refresh)), Same),
        row("the cookie name is case-sensitive: Access_Token_Cookie is 401 Missing cookie", get("/protected").cookie(format!("Access_Token_Cookie={}", jar.access)), Same),
        row("a cookie name with a suffix is 401 Missing cookie", get("/protected").cookie(format!("access_token_cookiex={}", jar.access)), Same),
        row("a bare token in the Cookie header (no name) is 401 Missing cookie", get("/protected").cookie(&jar.access), Same),
        // The order of checks.
        row("POST with a garbage cookie and no CSRF header is 401 Missing CSRF Token (before decode)", post("/protected").cookie("access_token_cookie=garbage"), Same),
        row("POST with a garbage cookie and a CSRF header fails to decode", post("/protected").cookie("access_token_cookie=garbage").csrf(&jar.csrf_access), Same),
        row("a garbage cookie on GET fails to decode", get("/protected").cookie("access_token_cookie=a.b.c"), Same),
        row("an expired cookie token is 422 Signature has expired", get("/protected").cookie(&expired), Same),
        row("an expired cookie token on POST with its CSRF value is 422 Signature has expired", post("/protected").cookie(&expired).csrf(CSRF), Same),
        row("an expired cookie token on POST with a wrong CSRF value is 422 (decode before CSRF)", post("/protected").cookie(&expired).csrf("wrong"), Same),
        row("a cookie signed with another secret is 422", get("/protected").cookie(format!("access_token_cookie={}", raw_token(HS256_HEADER, &cookie_access(true).text(), Algorithm::HS256, OTHER_SECRET))), Same),
        // Refresh tokens.
        row("only the refresh cookie on an access route is 401 Missing cookie access_token_cookie", get("/protected").cookie(&refresh_cookie), Same),
        row("a refresh token in the access cookie is 422 Only access tokens", get("/protected").cookie(format!("access_token_cookie={}", jar.refresh)), Same),
        row("a refresh token in the access cookie on POST with a wrong CSRF value is 422 (type before CSRF)", post("/protected").cookie(format!("access_token_cookie={}", jar.refresh)).csrf("wrong"), Same),
        row("the refresh route reads refresh_token_cookie with its CSRF value", post("/refresh").cookie(jar.all()).csrf(&jar.csrf_refresh), reading(&jar.refresh)),
        row("the refresh route without a CSRF header is 401 Missing CSRF Token", post("/refresh").cookie(&refresh_cookie), Same),
        row("the refresh route with the access token's CSRF value is 401 do not match", post("/refresh").cookie(jar.all()).csrf(&jar.csrf_access), Same),
        row("the refresh route with only the access cookie is 401 Missing cookie refresh_token_cookie", post("/refresh").cookie(&access_cookie).csrf(&jar.csrf_access), Same),
        row("an access token in the refresh cookie is 422 Only refresh tokens", post("/refresh").cookie(format!("refresh_token_cookie={}", jar.access)).csrf(&jar.csrf_access), Same),
        // Freshness.
        row("a fresh cookie is accepted on the fresh route", get("/protected-fresh").cookie(&access_cookie), reading(&jar.access)),
        row("a non-fresh cookie from /refresh is 401 Fresh token required", get("/protected-fresh").cookie(&stale_cookie), Same),
        row("a non-fresh cookie from /refresh is accepted on the access route with its CSRF value", post("/protected").cookie(&stale_cookie).csrf(&stale.1), reading(&stale.0)),
        row("DELETE on the fresh route with a fresh cookie and its CSRF value is accepted", delete("/protected-fresh").cookie(&access_cookie).csrf(&jar.csrf_access), reading(&jar.access)),
        row("DELETE on the fresh route with a non-fresh cookie and a wrong CSRF value is 401 Fresh token required (fresh before CSRF)", delete("/protected-fresh").cookie(&stale_cookie).csrf("wrong"), Same),
        row("DELETE on the fresh route with a non-fresh cookie and no CSRF header is 401 Missing CSRF Token", delete("/protected-fresh").cookie(&stale_cookie), Same),
        // The optional route.
        row("the optional route with no cookie is anonymous", get("/partially-protected"), Anonymous),
        row("the optional route with a good cookie is accepted", get("/partially-protected").cookie(&access_cookie), reading(&jar.access)),
        row("the optional route with a garbage cookie is 422", get("/partially-protected").cookie("access_token_cookie=garbage"), Same),
        row("the optional route with an expired cookie is 422", get("/partially-protected").cookie(&expired), Same),
        row("the optional route with a refresh token in the access cookie is 422", get("/partially-protected").cookie(format!("access_token_cookie={}", jar.refresh)), Same),
        row("the optional route with an empty cookie is anonymous", get("/partially-protected").cookie("access_token_cookie="), Anonymous),
        row("POST on the optional route with no cookie is anonymous", post("/partially-protected"), Anonymous),
        row("POST on the optional route with an empty cookie and no CSRF header is anonymous", post("/partially-protected").cookie("access_token_cookie="), Anonymous),
        // The library's `_verify_and_get_jwt_optional_in_cookies` raises Missing CSRF Token
        // for a cookie without the header on a CSRF method, before decoding.
        row("POST on the optional route with a good cookie and no CSRF header is 401 Missing CSRF Token", post("/partially-protected").cookie(&access_cookie), Same),
        row("POST on the optional route with a garbage cookie and no CSRF header is 401 Missing CSRF Token", post("/partially-protected").cookie("access_token_cookie=garbage"), Same),
        row("POST on the optional route with the right CSRF header is accepted", post("/partially-protected").cookie(&access_cookie).csrf(&jar.csrf_access), reading(&jar.access)),
        row("POST on the optional route with a wrong CSRF header is 401 do not match", post("/partially-protected").cookie(&access_cookie).csrf("wrong"), Same),
        row("POST on the optional route with a token without a csrf claim is 422 Missing claim: csrf", post("/partially-protected").cookie(&no_csrf_claim).csrf(CSRF), Same),
        // How the Cookie header is parsed (Starlette's cookie_parser, Python's _unquote).
        row("of two cookies with the same name the last wins: a good one last is accepted", get("/protected").cookie(format!("access_token_cookie=garbage; {access_cookie}")), reading(&jar.access)),
        row("of two cookies with the same name the last wins: a garbage one last is 422", get("/protected").cookie(format!("{access_cookie}; access_token_cookie=garbage")), Same),
        row("of two cookies with the same name the last wins: an empty one last is 401 Missing cookie", get("/protected").cookie(format!("{access_cookie}; access_token_cookie=")), Same),
        // Starlette 1.10 parses every Cookie header in order, a later same-named cookie winning.
        row("of two Cookie headers both count: the access cookie in the second is read", get("/protected").cookie("other=1").cookie(&access_cookie), reading(&jar.access)),
        row("of two Cookie headers both count: a garbage access cookie in the second wins", get("/protected").cookie(&access_cookie).cookie("access_token_cookie=garbage"), Same),
        row("spaces around = and ; are trimmed", get("/protected").cookie(format!("other=1 ;  access_token_cookie  =  {}  ; x=y", jar.access)), reading(&jar.access)),
        row("empty chunks between semicolons are skipped", get("/protected").cookie(format!(";; {access_cookie};;")), reading(&jar.access)),
        row("a no-break space (0xA0, latin-1) around the name is Python whitespace", get("/protected").with("cookie", [b"\xa0access_token_cookie\xa0=".as_slice(), jar.access.as_bytes()].concat()), reading(&jar.access)),
        row("a quoted value is unquoted", get("/protected").cookie(format!("access_token_cookie=\"{}\"", jar.access)), reading(&jar.access)),
        row("backslash escapes in a quoted value are decoded", get("/protected").cookie(format!("access_token_cookie={escaped}")), reading(&jar.access)),
        row("an octal escape in a quoted value is decoded", get("/protected").cookie(format!("access_token_cookie={octal_j}")), reading(&jar.access)),
        row("a backslash before a digit 4-7 and two octal digits is a plain escape, not octal", get("/protected").cookie(format!("access_token_cookie={lookalike_quoted}")), reading(&lookalike)),
        row("a value with only an opening quote is not unquoted, and the quote is Invalid header padding", get("/protected").cookie(format!("access_token_cookie=\"{}", jar.access)), Same),
        // The whole value after the first `=` is the token; PyJWT 2.15 refuses the `=x` in its
        // signature segment (PyJWT 1.7.1 ignored what follows `=`).
        row("a value with a trailing =x is Invalid crypto padding", get("/protected").cookie(format!("access_token_cookie={}=x", jar.access)), Same),
    ]
}

#[tokio::test]
async fn fork_and_freshgate_agree_on_cookie_tokens_and_csrf() {
    let app = fork::start(&[("AUTHJWT_TOKEN_LOCATION", "cookies")]).await;
    let stack = Stack::start(r#"token_location = ["cookies"]"#).await;
    let jar = app.login_cookies().await;
    let stale = app.refresh_cookies(&jar).await;
    let (header_token, _) = app.login().await;
    let access_cookie = format!("access_token_cookie={}", jar.access);

    let mut cases = cookie_cases(&jar, &stale);
    #[rustfmt::skip]
    let more = vec![
        row("cookies only: a good Authorization header without a cookie is 401 Missing cookie", to("/protected").bearer(&header_token), Same),
        row("cookies only: a good Authorization header on the optional route is anonymous", to("/partially-protected").bearer(&header_token), Anonymous),
        row("cookies only: a malformed Authorization header is ignored and the cookie is read", get("/protected").auth("Token nonsense").cookie(&access_cookie), reading(&jar.access)),
        row("cookies only: an Authorization header does not exempt POST from CSRF", post("/protected").auth(format!("Bearer {}", jar.access)).cookie(&access_cookie), Same),
    ];
    cases.extend(more);
    cases.extend(pyjwt2_cookie_cases());
    assert_cases("cookie tokens and CSRF", &app, &stack, cases).await;
}

#[tokio::test]
async fn fork_and_freshgate_agree_on_a_header_token_before_the_cookie() {
    let app = fork::start(&[("AUTHJWT_TOKEN_LOCATION", "headers,cookies")]).await;
    let stack = Stack::start(r#"token_location = ["headers", "cookies"]"#).await;
    let jar = app.login_cookies().await;
    let stale = app.refresh_cookies(&jar).await;
    let access_cookie = format!("access_token_cookie={}", jar.access);
    let good = format!("Bearer {}", jar.access);
    let expired = format!(
        "Bearer {}",
        cookie_access(true).set("exp", json!(now() - 60)).token()
    );

    let mut cases = cookie_cases(&jar, &stale);
    #[rustfmt::skip]
    let more = vec![
        row("both: a good header token with a garbage cookie is accepted (the header is final)", get("/protected").auth(&good).cookie("access_token_cookie=garbage"), Same),
        row("both: a malformed header with a good cookie is 422 Bad Authorization header", get("/protected").auth("Token nonsense").cookie(&access_cookie), Same),
        row("both: a malformed header with a good cookie is 422 on the optional route too", get("/partially-protected").auth("Bearer").cookie(&access_cookie), Same),
        row("both: an expired header token with a good cookie is 422 (no fallback)", get("/protected").auth(&expired).cookie(&access_cookie), Same),
        row("both: a header token with a good cookie on the optional route is 422 when expired", get("/partially-protected").auth(&expired).cookie(&access_cookie), Same),
        row("both: a header token on POST needs no CSRF header", post("/protected").auth(&good), Same),
        row("both: a header token on POST with a wrong CSRF header is accepted", post("/protected").auth(&good).cookie(&access_cookie).csrf("wrong"), Same),
        row("both: a header token on DELETE on the fresh route needs no CSRF header", delete("/protected-fresh").auth(&good), Same),
        row("both: a non-fresh header token with a fresh cookie is 401 Fresh token required", get("/protected-fresh").auth(format!("Bearer {}", stale.0)).cookie(&access_cookie), Same),
        row("both: a header token on POST on the optional route needs no CSRF header", post("/partially-protected").auth(&good).cookie(&access_cookie), Same),
        row("both: a refresh header token on the refresh route needs no CSRF header", post("/refresh").auth(format!("Bearer {}", jar.refresh)), Same),
        row("both: an access header token with a good refresh cookie is 422 on the refresh route", post("/refresh").auth(&good).cookie(jar.all()).csrf(&jar.csrf_refresh), Same),
        row("both: an empty Authorization header falls back to the cookie", get("/protected").auth("").cookie(&access_cookie), reading(&jar.access)),
        row("both: an empty Authorization header falls back to the cookie, which needs CSRF on POST", post("/protected").auth("").cookie(&access_cookie), Same),
    ];
    cases.extend(more);
    assert_cases("header and cookie tokens", &app, &stack, cases).await;
}

#[tokio::test]
async fn fork_and_freshgate_agree_on_cookies_when_csrf_protection_is_off() {
    let app = fork::start(&[
        ("AUTHJWT_TOKEN_LOCATION", "cookies"),
        ("AUTHJWT_COOKIE_CSRF_PROTECT", "false"),
    ])
    .await;
    let stack = Stack::start("token_location = [\"cookies\"]\ncsrf_protect = false").await;
    let set = app.post_for_cookies("/login", &[]).await;
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
        payload_of(&access_token).and_then(|claims| claims.get("csrf").cloned()),
        None,
        "without CSRF protection the library writes no csrf claim"
    );
    let access_cookie = format!("access_token_cookie={access_token}");
    let made = cookie_access(true).token();

    #[rustfmt::skip]
    let cases = vec![
        row("no CSRF: POST without a CSRF header is accepted", post("/protected").cookie(&access_cookie), reading(&access_token)),
        row("no CSRF: DELETE with any CSRF header is accepted", delete("/protected-fresh").cookie(&access_cookie).csrf("anything"), reading(&access_token)),
        row("no CSRF: a token with a csrf claim and a wrong CSRF header is accepted", post("/protected").cookie(format!("access_token_cookie={made}")).csrf("wrong"), reading(&made)),
        row("no CSRF: the refresh route reads the refresh cookie", post("/refresh").cookie(format!("refresh_token_cookie={refresh_token}")), reading(&refresh_token)),
        row("no CSRF: POST on the optional route with a cookie is accepted", post("/partially-protected").cookie(&access_cookie), reading(&access_token)),
        row("no CSRF: POST with a garbage cookie fails to decode", post("/protected").cookie("access_token_cookie=garbage"), Same),
        row("no CSRF: no cookie is still 401 Missing cookie", post("/protected"), Same),
    ];
    assert_cases("cookies without CSRF protection", &app, &stack, cases).await;
}

/// PyJWT 2's claim checks reached through a cookie (on GET, and on POST with the CSRF value, where
/// decode comes before the CSRF comparison), and `csrf` claims of other types.
fn pyjwt2_cookie_cases() -> Vec<Case> {
    let mut rows = Vec::new();
    for (what, claims) in [
        ("an integer sub", cookie_access(true).set("sub", json!(42))),
        ("a null jti", cookie_access(true).set("jti", Value::Null)),
        (
            "an iat an hour ahead",
            cookie_access(true).set("iat", json!(now() + 3600)),
        ),
        ("a null exp", cookie_access(true).set("exp", Value::Null)),
    ] {
        let cookie = format!("access_token_cookie={}", claims.token());
        rows.push(row(
            format!("a cookie token with {what} on GET"),
            get("/protected").cookie(&cookie),
            Same,
        ));
        rows.push(row(
            format!("a cookie token with {what} on POST with its CSRF value"),
            post("/protected").cookie(&cookie).csrf(CSRF),
            Same,
        ));
    }
    let empty_csrf = cookie_access(true).set("csrf", json!("")).token();
    let cookie = format!("access_token_cookie={empty_csrf}");
    rows.push(row(
        "a cookie token with an empty csrf claim on GET is accepted",
        get("/protected").cookie(&cookie),
        reading(&empty_csrf),
    ));
    rows.push(row(
        "a cookie token with an empty csrf claim on POST with a CSRF value is 401 do not match",
        post("/protected").cookie(&cookie).csrf(CSRF),
        Same,
    ));
    for (what, csrf) in [("null", Value::Null), ("a list", json!([CSRF]))] {
        let cookie = format!(
            "access_token_cookie={}",
            access(true).set("csrf", csrf).token()
        );
        // As the numeric csrf claim above: `hmac.compare_digest` raises TypeError.
        rows.push(row(
            format!(
                "a {what} csrf claim on POST is 500 in the library, 401 do not match in freshgate"
            ),
            post("/protected").cookie(&cookie).csrf(CSRF),
            LibraryCrashes(401, Some("CSRF double submit tokens do not match")),
        ));
    }
    rows
}
