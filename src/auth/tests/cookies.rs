//! Cookies and CSRF: the contract's "Cookies and CSRF" section, with `token_location` cookies
//! and with both locations. Every case of the socket suites (`tests/tokens.rs` section 9 and
//! `tests/compat.rs`'s cookie suites) has a row here.
//!
//! Cookie-mode order: missing cookie -> missing CSRF header (CSRF methods only) -> decode ->
//! revoked -> type -> fresh -> missing `csrf` claim -> CSRF mismatch.

use super::*;

const MISSING_COOKIE: &str = "Missing cookie access_token_cookie";
const MISSING_REFRESH_COOKIE: &str = "Missing cookie refresh_token_cookie";
const MISSING_CSRF: &str = "Missing CSRF Token";
const MISMATCH: &str = "CSRF double submit tokens do not match";
const MISSING_CSRF_CLAIM: &str = "Missing claim: csrf";
const EXPIRED: &str = "Signature has expired";
const NOT_ENOUGH_SEGMENTS: &str = "Not enough segments";

/// The `csrf` claims of the tokens the app sets as cookies at `/login` and `/refresh`.
const CSRF: &str = "c5rf-access-double-submit";
const REFRESH_CSRF: &str = "c5rf-refresh-double-submit";
const STALE_CSRF: &str = "c5rf-stale-double-submit";

fn cookies_only() -> AuthSettings {
    built(|b| b.locations(false, true))
}

fn both_locations() -> AuthSettings {
    built(|b| b.locations(true, true))
}

/// `claims` with the library's `csrf` claim.
fn with_csrf(claims: Value, csrf: &str) -> Value {
    set(claims, json!({ "csrf": csrf }))
}

/// The cookies the app sets: `/login`'s fresh access and refresh tokens, and a non-fresh access
/// token from `/refresh`, each with its own `csrf` claim.
struct Jar {
    access: String,
    refresh: String,
    stale: String,
}

fn jar() -> Jar {
    Jar {
        access: hs256(&with_csrf(fresh_access(), CSRF)),
        refresh: hs256(&with_csrf(refresh(), REFRESH_CSRF)),
        stale: hs256(&with_csrf(access(), STALE_CSRF)),
    }
}

impl Jar {
    /// Every cookie `/login` sets, the readable CSRF ones included.
    fn all(&self) -> String {
        format!(
            "access_token_cookie={}; refresh_token_cookie={}; csrf_access_token={CSRF}; csrf_refresh_token={REFRESH_CSRF}",
            self.access, self.refresh
        )
    }
}

/// Rows that decide the same with `token_location` `cookies` and `headers, cookies` (no
/// Authorization header is sent).
fn cookie_rows(j: &Jar) -> Vec<Case> {
    let a = format!("access_token_cookie={}", j.access);
    let r = format!("refresh_token_cookie={}", j.refresh);
    let stale = format!("access_token_cookie={}", j.stale);
    let all = j.all();
    let no_claim = format!("access_token_cookie={}", hs256(&fresh_access()));
    let expired_claims = set(with_csrf(fresh_access(), CSRF), json!({"exp": NOW - 60}));
    let expired = format!("access_token_cookie={}", hs256(&expired_claims));
    let forged = jws(
        HS256_HEADER,
        &with_csrf(fresh_access(), CSRF).to_string(),
        Algorithm::HS256,
        OTHER_SECRET,
    );
    let forged = format!("access_token_cookie={forged}");
    let numeric_csrf = format!(
        "access_token_cookie={}",
        hs256(&set(fresh_access(), json!({"csrf": 5})))
    );
    let refresh_as_access = format!("access_token_cookie={}", j.refresh);
    let access_as_refresh = format!("refresh_token_cookie={}", j.access);
    let upper = CSRF.to_uppercase();
    let longer = format!("{CSRF}x");
    #[rustfmt::skip]
    let rows = vec![
        // Reading the access cookie, and CSRF by method.
        request("GET with the access cookie needs no CSRF header", Policy::Access, Method::GET, cookie(&a), FRESH_ACCESS),
        request("HEAD with the access cookie needs no CSRF header", Policy::Access, Method::HEAD, cookie(&a), FRESH_ACCESS),
        request("OPTIONS with the access cookie needs no CSRF header", Policy::Access, Method::OPTIONS, cookie(&a), FRESH_ACCESS),
        request("GET with all of /login's cookies is accepted", Policy::Access, Method::GET, cookie(&all), FRESH_ACCESS),
        request("GET with a wrong CSRF header is accepted: GET is not a CSRF method", Policy::Access, Method::GET, cookie(&a).csrf("wrong"), FRESH_ACCESS),
        request("POST without X-CSRF-Token is 401 Missing CSRF Token", Policy::Access, Method::POST, cookie(&a), Rejected(401, MISSING_CSRF)),
        request("PUT without X-CSRF-Token is 401 Missing CSRF Token", Policy::Access, Method::PUT, cookie(&a), Rejected(401, MISSING_CSRF)),
        request("PATCH without X-CSRF-Token is 401 Missing CSRF Token", Policy::Access, Method::PATCH, cookie(&a), Rejected(401, MISSING_CSRF)),
        request("DELETE without X-CSRF-Token is 401 Missing CSRF Token", Policy::Access, Method::DELETE, cookie(&a), Rejected(401, MISSING_CSRF)),
        request("POST with the right CSRF header is accepted", Policy::Access, Method::POST, cookie(&all).csrf(CSRF), FRESH_ACCESS),
        request("PUT with the right CSRF header is accepted", Policy::Access, Method::PUT, cookie(&a).csrf(CSRF), FRESH_ACCESS),
        request("PATCH with the right CSRF header is accepted", Policy::Access, Method::PATCH, cookie(&a).csrf(CSRF), FRESH_ACCESS),
        request("DELETE with the right CSRF header is accepted", Policy::Access, Method::DELETE, cookie(&a).csrf(CSRF), FRESH_ACCESS),
        request("POST with a wrong CSRF header is 401 do not match", Policy::Access, Method::POST, cookie(&a).csrf("wrong"), Rejected(401, MISMATCH)),
        request("DELETE with a wrong CSRF header is 401 do not match", Policy::Access, Method::DELETE, cookie(&a).csrf("wrong"), Rejected(401, MISMATCH)),
        request("POST with the refresh token's CSRF value on an access route is 401 do not match", Policy::Access, Method::POST, cookie(&all).csrf(REFRESH_CSRF), Rejected(401, MISMATCH)),
        request("POST with the CSRF value in another case is 401 do not match", Policy::Access, Method::POST, cookie(&a).csrf(&upper), Rejected(401, MISMATCH)),
        request("POST with a CSRF header that only starts with the value is 401 do not match", Policy::Access, Method::POST, cookie(&a).csrf(&CSRF[..8]), Rejected(401, MISMATCH)),
        request("POST with a CSRF header that is the value and more is 401 do not match", Policy::Access, Method::POST, cookie(&a).csrf(&longer), Rejected(401, MISMATCH)),
        request("POST with an empty CSRF header is 401 Missing CSRF Token", Policy::Access, Method::POST, cookie(&a).csrf(""), Rejected(401, MISSING_CSRF)),
        request("of two CSRF headers the first counts: a wrong one first is 401 do not match", Policy::Access, Method::POST, cookie(&a).csrf("wrong").csrf(CSRF), Rejected(401, MISMATCH)),
        request("of two CSRF headers the first counts: the right one first is accepted", Policy::Access, Method::POST, cookie(&a).csrf(CSRF).csrf("wrong"), FRESH_ACCESS),
        request("the CSRF header name is case-insensitive", Policy::Access, Method::POST, cookie(&a).line("X-CSRF-TOKEN", CSRF), FRESH_ACCESS),
        request("a CSRF value sent in a cookie instead of the header is 401 Missing CSRF Token", Policy::Access, Method::POST, cookie(&format!("{a}; x-csrf-token={CSRF}")), Rejected(401, MISSING_CSRF)),
        // The csrf claim.
        request("a token without a csrf claim on POST with a CSRF header is 422 Missing claim: csrf", Policy::Access, Method::POST, cookie(&no_claim).csrf(CSRF), Rejected(422, MISSING_CSRF_CLAIM)),
        request("a token without a csrf claim on POST without a CSRF header is 401 Missing CSRF Token", Policy::Access, Method::POST, cookie(&no_claim), Rejected(401, MISSING_CSRF)),
        request("a token without a csrf claim on GET is accepted", Policy::Access, Method::GET, cookie(&no_claim), FRESH_ACCESS),
        request("a numeric csrf claim is 401 do not match (the library crashes)", Policy::Access, Method::POST, cookie(&numeric_csrf).csrf("5"), Rejected(401, MISMATCH)),
        request("a non-ASCII CSRF header is 401 do not match (the library crashes)", Policy::Access, Method::POST, cookie(&a).csrf(b"caf\xe9"), Rejected(401, MISMATCH)),
        // Missing and empty cookies.
        request("no cookie is 401 Missing cookie access_token_cookie", Policy::Access, Method::GET, HeaderMap::new(), Rejected(401, MISSING_COOKIE)),
        request("no cookie on a fresh route is 401 Missing cookie", Policy::Fresh, Method::GET, HeaderMap::new(), Rejected(401, MISSING_COOKIE)),
        request("no cookie on a refresh route names the refresh cookie", Policy::Refresh, Method::GET, HeaderMap::new(), Rejected(401, MISSING_REFRESH_COOKIE)),
        request("no cookie on POST without a CSRF header is 401 Missing cookie (checked first)", Policy::Access, Method::POST, HeaderMap::new(), Rejected(401, MISSING_COOKIE)),
        request("no cookie on POST with a CSRF header is 401 Missing cookie", Policy::Access, Method::POST, HeaderMap::new().csrf(CSRF), Rejected(401, MISSING_COOKIE)),
        request("other cookies only are 401 Missing cookie", Policy::Access, Method::GET, cookie("theme=dark"), Rejected(401, MISSING_COOKIE)),
        request("an empty access cookie is 401 Missing cookie", Policy::Access, Method::GET, cookie("access_token_cookie="), Rejected(401, MISSING_COOKIE)),
        request("an empty access cookie on POST without a CSRF header is 401 Missing cookie", Policy::Access, Method::POST, cookie("access_token_cookie="), Rejected(401, MISSING_COOKIE)),
        request("an access cookie of quotes only is 401 Missing cookie", Policy::Access, Method::GET, cookie("access_token_cookie=\"\""), Rejected(401, MISSING_COOKIE)),
        request("only the CSRF cookies are 401 Missing cookie", Policy::Access, Method::GET, cookie(&format!("csrf_access_token={CSRF}; csrf_refresh_token={REFRESH_CSRF}")), Rejected(401, MISSING_COOKIE)),
        request("the cookie name is case-sensitive: Access_Token_Cookie is 401 Missing cookie", Policy::Access, Method::GET, cookie(&format!("Access_Token_Cookie={}", j.access)), Rejected(401, MISSING_COOKIE)),
        request("a cookie name with a suffix is 401 Missing cookie", Policy::Access, Method::GET, cookie(&format!("access_token_cookiex={}", j.access)), Rejected(401, MISSING_COOKIE)),
        request("a bare token in the Cookie header (no name) is 401 Missing cookie", Policy::Access, Method::GET, cookie(&j.access), Rejected(401, MISSING_COOKIE)),
        // The order of checks.
        request("POST with a garbage cookie and no CSRF header is 401 Missing CSRF Token (before decode)", Policy::Access, Method::POST, cookie("access_token_cookie=garbage"), Rejected(401, MISSING_CSRF)),
        request("POST with a garbage cookie and a CSRF header fails to decode", Policy::Access, Method::POST, cookie("access_token_cookie=garbage").csrf(CSRF), Rejected(422, NOT_ENOUGH_SEGMENTS)),
        request("a garbage cookie on GET fails to decode", Policy::Access, Method::GET, cookie("access_token_cookie=a.b.c"), Rejected(422, "Invalid header padding")),
        request("an expired cookie token is 422 Signature has expired", Policy::Access, Method::GET, cookie(&expired), Rejected(422, EXPIRED)),
        request("an expired cookie token on POST with its CSRF value is 422 Signature has expired", Policy::Access, Method::POST, cookie(&expired).csrf(CSRF), Rejected(422, EXPIRED)),
        request("an expired cookie token on POST with a wrong CSRF value is 422 (decode before CSRF)", Policy::Access, Method::POST, cookie(&expired).csrf("wrong"), Rejected(422, EXPIRED)),
        request("a cookie signed with another secret is 422", Policy::Access, Method::GET, cookie(&forged), Rejected(422, "Signature verification failed")),
        // Refresh tokens.
        request("only the refresh cookie on an access route is 401 Missing cookie access_token_cookie", Policy::Access, Method::GET, cookie(&r), Rejected(401, MISSING_COOKIE)),
        request("a refresh token in the access cookie is 422 Only access tokens", Policy::Access, Method::GET, cookie(&refresh_as_access), Rejected(422, ONLY_ACCESS)),
        request("a refresh token in the access cookie on POST with a wrong CSRF value is 422 (type before CSRF)", Policy::Access, Method::POST, cookie(&refresh_as_access).csrf("wrong"), Rejected(422, ONLY_ACCESS)),
        request("the refresh route reads refresh_token_cookie with its CSRF value", Policy::Refresh, Method::POST, cookie(&all).csrf(REFRESH_CSRF), REFRESH),
        request("the refresh route on GET needs no CSRF header", Policy::Refresh, Method::GET, cookie(&r), REFRESH),
        request("the refresh route without a CSRF header is 401 Missing CSRF Token", Policy::Refresh, Method::POST, cookie(&r), Rejected(401, MISSING_CSRF)),
        request("the refresh route with the access token's CSRF value is 401 do not match", Policy::Refresh, Method::POST, cookie(&all).csrf(CSRF), Rejected(401, MISMATCH)),
        request("the refresh route with only the access cookie is 401 Missing cookie refresh_token_cookie", Policy::Refresh, Method::POST, cookie(&a).csrf(CSRF), Rejected(401, MISSING_REFRESH_COOKIE)),
        request("an access token in the refresh cookie is 422 Only refresh tokens", Policy::Refresh, Method::POST, cookie(&access_as_refresh).csrf(CSRF), Rejected(422, ONLY_REFRESH)),
        // Freshness.
        request("a fresh cookie is accepted on the fresh route", Policy::Fresh, Method::GET, cookie(&a), FRESH_ACCESS),
        request("a non-fresh cookie from /refresh is 401 Fresh token required", Policy::Fresh, Method::GET, cookie(&stale), Rejected(401, NOT_FRESH)),
        request("a non-fresh cookie is accepted on the access route with its CSRF value", Policy::Access, Method::POST, cookie(&stale).csrf(STALE_CSRF), ACCESS),
        request("DELETE on the fresh route with a fresh cookie and its CSRF value is accepted", Policy::Fresh, Method::DELETE, cookie(&a).csrf(CSRF), FRESH_ACCESS),
        request("DELETE on the fresh route with a non-fresh cookie and a wrong CSRF value is 401 Fresh token required (fresh before CSRF)", Policy::Fresh, Method::DELETE, cookie(&stale).csrf("wrong"), Rejected(401, NOT_FRESH)),
        request("DELETE on the fresh route with a non-fresh cookie and no CSRF header is 401 Missing CSRF Token", Policy::Fresh, Method::DELETE, cookie(&stale), Rejected(401, MISSING_CSRF)),
        // The optional route.
        request("the optional route with no cookie is anonymous", Policy::Optional, Method::GET, HeaderMap::new(), Anonymous),
        request("the optional route with a good cookie is accepted", Policy::Optional, Method::GET, cookie(&a), FRESH_ACCESS),
        request("the optional route with a garbage cookie is 422", Policy::Optional, Method::GET, cookie("access_token_cookie=garbage"), Rejected(422, NOT_ENOUGH_SEGMENTS)),
        request("the optional route with an expired cookie is 422", Policy::Optional, Method::GET, cookie(&expired), Rejected(422, EXPIRED)),
        request("the optional route with a refresh token in the access cookie is 422", Policy::Optional, Method::GET, cookie(&refresh_as_access), Rejected(422, ONLY_ACCESS)),
        request("the optional route with an empty cookie is anonymous", Policy::Optional, Method::GET, cookie("access_token_cookie="), Anonymous),
        request("POST on the optional route with no cookie is anonymous", Policy::Optional, Method::POST, HeaderMap::new(), Anonymous),
        request("POST on the optional route with no cookie and a CSRF header is anonymous", Policy::Optional, Method::POST, HeaderMap::new().csrf("wrong"), Anonymous),
        request("POST on the optional route with an empty cookie and no CSRF header is anonymous", Policy::Optional, Method::POST, cookie("access_token_cookie="), Anonymous),
        request("POST on the optional route with a good cookie and no CSRF header is 401 Missing CSRF Token", Policy::Optional, Method::POST, cookie(&a), Rejected(401, MISSING_CSRF)),
        request("POST on the optional route with a garbage cookie and no CSRF header is 401 Missing CSRF Token", Policy::Optional, Method::POST, cookie("access_token_cookie=garbage"), Rejected(401, MISSING_CSRF)),
        request("POST on the optional route with the right CSRF header is accepted", Policy::Optional, Method::POST, cookie(&a).csrf(CSRF), FRESH_ACCESS),
        request("POST on the optional route with a wrong CSRF header is 401 do not match", Policy::Optional, Method::POST, cookie(&a).csrf("wrong"), Rejected(401, MISMATCH)),
        request("POST on the optional route with a token without a csrf claim is 422 Missing claim: csrf", Policy::Optional, Method::POST, cookie(&no_claim).csrf(CSRF), Rejected(422, MISSING_CSRF_CLAIM)),
        // Public routes check nothing.
        request("POST on a public route with a garbage cookie and no CSRF header is anonymous", Policy::Public, Method::POST, cookie("access_token_cookie=garbage"), Anonymous),
    ];
    rows
}

#[test]
fn cookie_tokens_and_csrf_decide_like_the_library_with_cookies_only_and_with_both_locations() {
    let j = jar();
    check_in("cookies", &cookies_only(), cookie_rows(&j));
    check_in("headers, cookies", &both_locations(), cookie_rows(&j));
}

/// A token made here whose text has a digit 4-7 followed by two octal digits, and a quoted
/// cookie value for it with a backslash before that digit. Python's `http.cookies._unquote`
/// reads `\ooo` as an octal escape only for `[0-3][0-7][0-7]`, so `\4`.. is a plain escaped `4`.
fn octal_lookalike() -> (String, String) {
    (0..10_000)
        .find_map(|n| {
            let token = hs256(&with_csrf(set(fresh_access(), json!({"n": n})), CSRF));
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

#[test]
fn the_cookie_header_is_parsed_like_starlette_with_either_location() {
    let j = jar();
    let a = format!("access_token_cookie={}", j.access);
    // The JWT header segment always starts with `eyJ`; `J` is octal 112.
    let octal_j = format!("access_token_cookie=\"ey\\112{}\"", &j.access[3..]);
    let escaped = format!("access_token_cookie=\"\\e\\y{}\"", &j.access[2..]);
    let (_, lookalike) = octal_lookalike();
    let lookalike = format!("access_token_cookie={lookalike}");
    let nbsp = [
        b"\xa0access_token_cookie\xa0=".as_slice(),
        j.access.as_bytes(),
    ]
    .concat();
    let nel = [
        b"theme=dark; \x85access_token_cookie=".as_slice(),
        j.access.as_bytes(),
    ]
    .concat();
    #[rustfmt::skip]
    let rows = || vec![
        case("of two cookies with the same name the last wins: a good one last is accepted", Policy::Access, cookie(&format!("access_token_cookie=garbage; {a}")), FRESH_ACCESS),
        case("of two cookies with the same name the last wins: a garbage one last is 422", Policy::Access, cookie(&format!("{a}; access_token_cookie=garbage")), Rejected(422, NOT_ENOUGH_SEGMENTS)),
        case("of two cookies with the same name the last wins: an empty one last is 401 Missing cookie", Policy::Access, cookie(&format!("{a}; access_token_cookie=")), Rejected(401, MISSING_COOKIE)),
        case("of two Cookie headers the first counts: without the access cookie is 401 Missing cookie", Policy::Access, cookie("other=1").cookie(&a), Rejected(401, MISSING_COOKIE)),
        case("of two Cookie headers the first counts: with the access cookie is accepted", Policy::Access, cookie(&a).cookie("access_token_cookie=garbage"), FRESH_ACCESS),
        case("spaces around = and ; are trimmed", Policy::Access, cookie(&format!("other=1 ;  access_token_cookie  =  {}  ; x=y", j.access)), FRESH_ACCESS),
        case("empty chunks between semicolons are skipped", Policy::Access, cookie(&format!(";; {a};;")), FRESH_ACCESS),
        case("a no-break space (0xA0, latin-1) around the name is Python whitespace", Policy::Access, HeaderMap::new().line("cookie", &nbsp), FRESH_ACCESS),
        case("a next-line byte (0x85, latin-1) before the name is Python whitespace", Policy::Access, HeaderMap::new().line("cookie", &nel), FRESH_ACCESS),
        case("a quoted value is unquoted", Policy::Access, cookie(&format!("access_token_cookie=\"{}\"", j.access)), FRESH_ACCESS),
        case("backslash escapes in a quoted value are decoded", Policy::Access, cookie(&escaped), FRESH_ACCESS),
        case("an octal escape in a quoted value is decoded", Policy::Access, cookie(&octal_j), FRESH_ACCESS),
        case("a backslash before a digit 4-7 and two octal digits is a plain escape, not octal", Policy::Access, cookie(&lookalike), FRESH_ACCESS),
        case("a value with only an opening quote is not unquoted, and its signature fails", Policy::Access, cookie(&format!("access_token_cookie=\"{}", j.access)), Rejected(422, "Signature verification failed")),
        case("a value with a trailing =x is the whole value after the first = (PyJWT's lenient base64)", Policy::Access, cookie(&format!("{a}=x")), FRESH_ACCESS),
    ];
    check_in("cookies", &cookies_only(), rows());
    check_in("headers, cookies", &both_locations(), rows());
}

#[test]
fn with_cookies_only_the_authorization_header_is_never_read() {
    let j = jar();
    let a = format!("access_token_cookie={}", j.access);
    let good = format!("Bearer {}", j.access);
    #[rustfmt::skip]
    let rows = vec![
        request("a good Authorization header without a cookie is 401 Missing cookie", Policy::Access, Method::GET, HeaderMap::new().authorization(&good), Rejected(401, MISSING_COOKIE)),
        request("a good Authorization header on the optional route is anonymous", Policy::Optional, Method::GET, HeaderMap::new().authorization(&good), Anonymous),
        request("a malformed Authorization header is ignored and the cookie is read", Policy::Access, Method::GET, cookie(&a).authorization("Token nonsense"), FRESH_ACCESS),
        request("an Authorization header does not exempt POST from CSRF", Policy::Access, Method::POST, cookie(&a).authorization(&good), Rejected(401, MISSING_CSRF)),
    ];
    check(&cookies_only(), rows);
}

#[test]
fn with_both_locations_a_header_token_is_final_and_needs_no_csrf() {
    let j = jar();
    let a = format!("access_token_cookie={}", j.access);
    let header = |claims: Value| {
        format!(
            "Bearer {}",
            hs256(&set(claims, json!({"sub": "header-user"})))
        )
    };
    let good = header(fresh_access());
    let stale = header(access());
    let expired = header(set(fresh_access(), json!({"exp": NOW - 60})));
    let refresh_header = format!("Bearer {}", j.refresh);
    #[rustfmt::skip]
    let rows = vec![
        request("a header token and a cookie: the header wins", Policy::Access, Method::GET, cookie(&a).authorization(&good), Subject("header-user")),
        request("a good header token with a garbage cookie is accepted", Policy::Access, Method::GET, cookie("access_token_cookie=garbage").authorization(&good), Subject("header-user")),
        request("no header: the cookie is used", Policy::Access, Method::POST, cookie(&a).csrf(CSRF), Subject("alice")),
        request("a malformed header (Token abc) beside a good cookie is 422", Policy::Access, Method::GET, cookie(&a).authorization("Token abc"), Rejected(422, BAD_HEADER)),
        request("a malformed header (Bearer a b) beside a good cookie is 422", Policy::Access, Method::GET, cookie(&a).authorization("Bearer a b"), Rejected(422, BAD_HEADER)),
        request("a malformed header (bearer abc) beside a good cookie is 422", Policy::Access, Method::GET, cookie(&a).authorization("bearer abc"), Rejected(422, BAD_HEADER)),
        request("a malformed header (Bearer) beside a good cookie is 422", Policy::Access, Method::GET, cookie(&a).authorization("Bearer"), Rejected(422, BAD_HEADER)),
        request("a malformed header beside a good cookie is 422 on the optional route too", Policy::Optional, Method::GET, cookie(&a).authorization("Bearer"), Rejected(422, BAD_HEADER)),
        request("a malformed header beside a good cookie on POST is 422, not a CSRF failure", Policy::Access, Method::POST, cookie(&a).authorization("Bearer"), Rejected(422, BAD_HEADER)),
        request("an expired header token does not fall back to a good cookie", Policy::Access, Method::GET, cookie(&a).authorization(&expired), Rejected(422, EXPIRED)),
        request("an expired header token with a good cookie is 422 on the optional route", Policy::Optional, Method::GET, cookie(&a).authorization(&expired), Rejected(422, EXPIRED)),
        request("a header token on POST needs no CSRF header", Policy::Access, Method::POST, HeaderMap::new().authorization(&good), Subject("header-user")),
        request("a header token on POST beside a cookie needs no CSRF header", Policy::Access, Method::POST, cookie(&a).authorization(&good), Subject("header-user")),
        request("a header token on POST with a wrong CSRF header is accepted", Policy::Access, Method::POST, cookie(&a).csrf("wrong").authorization(&good), Subject("header-user")),
        request("a header token on DELETE on the fresh route needs no CSRF header", Policy::Fresh, Method::DELETE, HeaderMap::new().authorization(&good), Subject("header-user")),
        request("a non-fresh header token with a fresh cookie is 401 Fresh token required", Policy::Fresh, Method::GET, cookie(&a).authorization(&stale), Rejected(401, NOT_FRESH)),
        request("a header token on POST on the optional route needs no CSRF header", Policy::Optional, Method::POST, cookie(&a).authorization(&good), Subject("header-user")),
        request("a refresh header token on the refresh route needs no CSRF header", Policy::Refresh, Method::POST, HeaderMap::new().authorization(&refresh_header), REFRESH),
        request("an access header token with a good refresh cookie is 422 on the refresh route", Policy::Refresh, Method::POST, cookie(&j.all()).csrf(REFRESH_CSRF).authorization(&good), Rejected(422, ONLY_REFRESH)),
        request("an empty Authorization header falls back to the cookie", Policy::Access, Method::GET, cookie(&a).authorization(""), Subject("alice")),
        request("an empty Authorization header falls back to the cookie, which needs CSRF on POST", Policy::Access, Method::POST, cookie(&a).authorization(""), Rejected(401, MISSING_CSRF)),
        request("neither a header nor a cookie is 401 Missing cookie (the last location tried)", Policy::Access, Method::GET, HeaderMap::new(), Rejected(401, MISSING_COOKIE)),
    ];
    check(&both_locations(), rows);
}

#[test]
fn cookie_checks_run_in_the_library_order_under_a_denylist() {
    let settings = built(|b| b.locations(false, true).denylist(denylist(["revoked-jti"])));
    let cookie_of = |claims: Value| cookie(&format!("access_token_cookie={}", hs256(&claims)));
    let revoked = with_csrf(set(fresh_access(), json!({"jti": "revoked-jti"})), CSRF);
    #[rustfmt::skip]
    let rows = vec![
        request("no cookie and no CSRF header is 401 Missing cookie", Policy::Access, Method::POST, HeaderMap::new(), Rejected(401, MISSING_COOKIE)),
        request("a cookie without a CSRF header is 401 Missing CSRF Token, before decoding", Policy::Access, Method::POST, cookie_of(set(revoked.clone(), json!({"exp": NOW - 60}))), Rejected(401, MISSING_CSRF)),
        request("an expired token and a wrong CSRF header is 422 expired", Policy::Access, Method::POST, cookie_of(set(revoked.clone(), json!({"exp": NOW - 60}))).csrf("wrong"), Rejected(422, EXPIRED)),
        request("a revoked token and a wrong CSRF header is 401 revoked", Policy::Access, Method::POST, cookie_of(revoked.clone()).csrf("wrong"), Rejected(401, REVOKED)),
        request("a revoked refresh token in the access cookie and a wrong CSRF header is 401 revoked", Policy::Access, Method::POST, cookie_of(with_csrf(set(refresh(), json!({"jti": "revoked-jti"})), CSRF)).csrf("wrong"), Rejected(401, REVOKED)),
        request("a refresh token in the access cookie and a wrong CSRF header is 422 wrong type", Policy::Access, Method::POST, cookie_of(with_csrf(refresh(), CSRF)).csrf("wrong"), Rejected(422, ONLY_ACCESS)),
        request("a non-fresh token and a wrong CSRF header is 401 Fresh token required", Policy::Fresh, Method::POST, cookie_of(with_csrf(access(), CSRF)).csrf("wrong"), Rejected(401, NOT_FRESH)),
        request("a fresh token without csrf claim and a wrong CSRF header is 422 Missing claim: csrf", Policy::Fresh, Method::POST, cookie_of(fresh_access()).csrf("wrong"), Rejected(422, MISSING_CSRF_CLAIM)),
        request("a fresh token and a wrong CSRF header is 401 do not match", Policy::Fresh, Method::POST, cookie_of(with_csrf(fresh_access(), CSRF)).csrf("wrong"), Rejected(401, MISMATCH)),
        request("a fresh token and the right CSRF header is accepted", Policy::Fresh, Method::POST, cookie_of(with_csrf(fresh_access(), CSRF)).csrf(CSRF), FRESH_ACCESS),
    ];
    check(&settings, rows);
}

#[test]
fn custom_cookie_names_csrf_header_and_csrf_methods_are_honoured() {
    let settings = built(|b| {
        b.locations(false, true).cookies(CookieSettings {
            access: "app_access".into(),
            refresh: "app_refresh".into(),
            csrf_protect: true,
            csrf_header: HeaderName::from_static("x-xsrf-token"),
            refresh_csrf_header: HeaderName::from_static("x-xsrf-token"),
            csrf_methods: vec![Method::PUT],
        })
    });
    let j = jar();
    let a = format!("app_access={}", j.access);
    let r = format!("app_refresh={}", j.refresh);
    #[rustfmt::skip]
    let rows = vec![
        request("the default access cookie name is not read", Policy::Access, Method::GET, cookie(&format!("access_token_cookie={}", j.access)), Rejected(401, "Missing cookie app_access")),
        request("the custom access cookie is read", Policy::Access, Method::GET, cookie(&a), FRESH_ACCESS),
        request("POST is not a CSRF method here", Policy::Access, Method::POST, cookie(&a), FRESH_ACCESS),
        request("DELETE is not a CSRF method here", Policy::Access, Method::DELETE, cookie(&a).csrf("wrong"), FRESH_ACCESS),
        request("PUT without the custom CSRF header is 401 Missing CSRF Token", Policy::Access, Method::PUT, cookie(&a), Rejected(401, MISSING_CSRF)),
        request("PUT with the default CSRF header name is 401 Missing CSRF Token", Policy::Access, Method::PUT, cookie(&a).csrf(CSRF), Rejected(401, MISSING_CSRF)),
        request("PUT with the custom CSRF header is accepted", Policy::Access, Method::PUT, cookie(&a).line("X-XSRF-Token", CSRF), FRESH_ACCESS),
        request("PUT with a wrong custom CSRF header is 401 do not match", Policy::Access, Method::PUT, cookie(&a).line("X-XSRF-Token", "wrong"), Rejected(401, MISMATCH)),
        request("the default refresh cookie name is not read", Policy::Refresh, Method::GET, cookie(&format!("refresh_token_cookie={}", j.refresh)), Rejected(401, "Missing cookie app_refresh")),
        request("the custom refresh cookie is read", Policy::Refresh, Method::GET, cookie(&r), REFRESH),
        request("the custom refresh cookie on PUT needs the custom CSRF header with its value", Policy::Refresh, Method::PUT, cookie(&r).line("X-XSRF-Token", REFRESH_CSRF), REFRESH),
    ];
    check(&settings, rows);
}

#[test]
fn access_and_refresh_cookies_each_read_their_own_csrf_header() {
    let settings = built(|b| {
        b.locations(false, true).cookies(CookieSettings {
            csrf_header: HeaderName::from_static("x-access-csrf"),
            refresh_csrf_header: HeaderName::from_static("x-refresh-csrf"),
            ..CookieSettings::default()
        })
    });
    let j = jar();
    let a = format!("access_token_cookie={}", j.access);
    let r = format!("refresh_token_cookie={}", j.refresh);
    #[rustfmt::skip]
    let rows = vec![
        request("an access cookie reads the access CSRF header", Policy::Access, Method::POST, cookie(&a).line("X-Access-CSRF", CSRF), FRESH_ACCESS),
        request("an access cookie does not read the refresh CSRF header", Policy::Access, Method::POST, cookie(&a).line("X-Refresh-CSRF", CSRF), Rejected(401, MISSING_CSRF)),
        request("the refresh cookie reads the refresh CSRF header", Policy::Refresh, Method::POST, cookie(&r).line("X-Refresh-CSRF", REFRESH_CSRF), REFRESH),
        request("the refresh cookie does not read the access CSRF header", Policy::Refresh, Method::POST, cookie(&r).line("X-Access-CSRF", REFRESH_CSRF), Rejected(401, MISSING_CSRF)),
    ];
    check(&settings, rows);
}

#[test]
fn without_csrf_protection_cookie_requests_need_no_csrf_header() {
    let settings = built(|b| {
        b.locations(false, true).cookies(CookieSettings {
            csrf_protect: false,
            ..CookieSettings::default()
        })
    });
    let plain = hs256(&fresh_access());
    let a = format!("access_token_cookie={plain}");
    let with_claim = format!("access_token_cookie={}", jar().access);
    let r = format!("refresh_token_cookie={}", hs256(&refresh()));
    #[rustfmt::skip]
    let rows = vec![
        request("POST without a CSRF header is accepted", Policy::Access, Method::POST, cookie(&a), FRESH_ACCESS),
        request("DELETE with any CSRF header is accepted", Policy::Fresh, Method::DELETE, cookie(&a).csrf("anything"), FRESH_ACCESS),
        request("a token with a csrf claim and a wrong CSRF header is accepted", Policy::Access, Method::POST, cookie(&with_claim).csrf("wrong"), FRESH_ACCESS),
        request("the refresh route reads the refresh cookie", Policy::Refresh, Method::POST, cookie(&r), REFRESH),
        request("POST on the optional route with a cookie is accepted", Policy::Optional, Method::POST, cookie(&a), FRESH_ACCESS),
        request("POST with a garbage cookie fails to decode", Policy::Access, Method::POST, cookie("access_token_cookie=garbage"), Rejected(422, NOT_ENOUGH_SEGMENTS)),
        request("no cookie is still 401 Missing cookie", Policy::Access, Method::POST, HeaderMap::new(), Rejected(401, MISSING_COOKIE)),
    ];
    check(&settings, rows);
}

#[test]
fn a_token_over_max_token_bytes_is_431_after_the_csrf_header_check() {
    let token = jar().access;
    let a = format!("access_token_cookie={token}");
    let limited = |max: usize| built(|b| b.locations(true, true).max_token_bytes(max));
    #[rustfmt::skip]
    let over = vec![
        request("a cookie token one byte over the limit is 431", Policy::Access, Method::GET, cookie(&a), Rejected(431, "Token too large")),
        request("a header token one byte over the limit is 431", Policy::Access, Method::GET, bearer(&token), Rejected(431, "Token too large")),
        request("a cookie token over the limit on POST without a CSRF header is 401 Missing CSRF Token", Policy::Access, Method::POST, cookie(&a), Rejected(401, MISSING_CSRF)),
        request("a cookie token over the limit is 431 on the optional route too", Policy::Optional, Method::GET, cookie(&a), Rejected(431, "Token too large")),
        request("a public route checks no size", Policy::Public, Method::GET, cookie(&a), Anonymous),
    ];
    check_in(
        "max_token_bytes one below the token",
        &limited(token.len() - 1),
        over,
    );
    #[rustfmt::skip]
    let at = vec![
        request("a cookie token of exactly the limit is decided as usual", Policy::Access, Method::GET, cookie(&a), FRESH_ACCESS),
        request("a header token of exactly the limit is decided as usual", Policy::Access, Method::GET, bearer(&token), FRESH_ACCESS),
    ];
    check_in(
        "max_token_bytes equal to the token",
        &limited(token.len()),
        at,
    );
}
