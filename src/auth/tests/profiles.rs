//! The profiles' tables: the same requests decided under `fastapi-jwt-auth-pyjwt2` and
//! `flask-jwt-extended`, where their libraries answer otherwise than fastapi-jwt-auth 0.5.0
//! (the compatibility suites in tests/compat_pyjwt2 and tests/compat_flask are the judges;
//! these rows pin the rules without a Python process).

use super::*;
use crate::auth::profile::{FASTAPI_JWT_AUTH_PYJWT2, FLASK_JWT_EXTENDED};

fn under(
    profile: &'static Profile,
    change: impl FnOnce(AuthSettingsBuilder) -> AuthSettingsBuilder,
) -> AuthSettings {
    built_from(profile.rules.decoder(decoder()), |b| {
        change(b.profile(profile, None))
    })
}

const FLASK_BAD_HEADER: &str = "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'";
const FLASK_NO_BEARER: &str =
    "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'";

#[test]
fn flask_jwt_extended_searches_comma_separated_credentials_for_the_bearer_one() {
    let settings = under(&FLASK_JWT_EXTENDED, |b| b);
    let t = hs256(&fresh_access());
    #[rustfmt::skip]
    let rows = vec![
        case("Bearer and the token is accepted", Policy::Access, bearer(&t), FRESH_ACCESS),
        case("Basic first, then Bearer, is accepted", Policy::Access, authorization(&[&format!("Basic abc, Bearer {t}")]), FRESH_ACCESS),
        case("a trailing comma is stripped", Policy::Access, authorization(&[&format!("Bearer {t},")]), FRESH_ACCESS),
        case("two headers are joined: Token, then Bearer", Policy::Access, authorization(&["Token x", &format!("Bearer {t}")]), FRESH_ACCESS),
        case("two Bearer parts are no Bearer part", Policy::Access, authorization(&[&format!("Bearer {t}, Bearer {t}")]), Rejected(401, FLASK_NO_BEARER)),
        case("lower-case bearer is no token", Policy::Access, authorization(&[&format!("bearer {t}")]), Rejected(401, FLASK_NO_BEARER)),
        case("lower-case bearer is anonymous on an optional route", Policy::Optional, authorization(&[&format!("bearer {t}")]), Anonymous),
        case("Bearer alone is a bad header", Policy::Access, authorization(&["Bearer"]), Rejected(422, FLASK_BAD_HEADER)),
        case("Bearer with two words is a bad header on an optional route too", Policy::Optional, authorization(&["Bearer a b"]), Rejected(422, FLASK_BAD_HEADER)),
        case("a blank first part (the library's IndexError) is a bad header", Policy::Access, authorization(&[", ,"]), Rejected(422, FLASK_BAD_HEADER)),
        case("only a comma is no token", Policy::Access, authorization(&[","]), Rejected(401, "Missing Authorization Header")),
    ];
    check_in("flask-jwt-extended", &settings, rows);
}

#[test]
fn flask_jwt_extended_reads_types_issuers_and_freshness_its_own_way() {
    let settings = under(&FLASK_JWT_EXTENDED, |b| b);
    let expired = set(fresh_access(), json!({"exp": NOW - 60}));
    #[rustfmt::skip]
    let rows = vec![
        case("a token without type is an access token", Policy::Access, bearer(&hs256(&unset(fresh_access(), &["type"]))), FRESH_ACCESS),
        case("an upper-case REFRESH type is an access token", Policy::Access, bearer(&hs256(&set(fresh_access(), json!({"type": "REFRESH"})))), FRESH_ACCESS),
        case("a refresh token on an access route", Policy::Access, bearer(&hs256(&refresh())), Rejected(422, "Only non-refresh tokens are allowed")),
        case("an access token on a refresh route", Policy::Refresh, bearer(&hs256(&access())), Rejected(422, "Only refresh tokens are allowed")),
        case("a token without fresh is not fresh", Policy::Fresh, bearer(&hs256(&unset(fresh_access(), &["fresh"]))), Rejected(401, NOT_FRESH)),
        case("an expired token is 401 Token has expired", Policy::Access, bearer(&hs256(&expired)), Rejected(401, "Token has expired")),
        case("an expired token without sub is Missing claim: sub first", Policy::Access, bearer(&hs256(&unset(expired.clone(), &["sub"]))), Rejected(422, "Missing claim: sub")),
        case("a token without sub", Policy::Access, bearer(&hs256(&unset(fresh_access(), &["sub"]))), Rejected(422, "Missing claim: sub")),
        case("a numeric sub", Policy::Access, bearer(&hs256(&set(fresh_access(), json!({"sub": 42})))), Rejected(422, "Subject must be a string")),
        case("an aud without a configured audience is ignored", Policy::Access, bearer(&hs256(&set(fresh_access(), json!({"aud": "anyone"})))), FRESH_ACCESS),
        case("exp == now has expired", Policy::Access, bearer(&hs256(&set(fresh_access(), json!({"exp": NOW})))), Rejected(401, "Token has expired")),
        case("an iat in the future", Policy::Access, bearer(&hs256(&set(fresh_access(), json!({"iat": NOW + 60})))), Rejected(422, "The token is not yet valid (iat)")),
        request("OPTIONS is never checked", Policy::Access, Method::OPTIONS, HeaderMap::new(), Anonymous),
    ];
    check_in("flask-jwt-extended", &settings, rows);
    let with_issuer = built_from(
        FLASK_JWT_EXTENDED
            .rules
            .decoder(decoder_with(|d| d.issuer = Some("https://issuer".into()))),
        |b| b.profile(&FLASK_JWT_EXTENDED, None),
    );
    #[rustfmt::skip]
    let rows = vec![
        case("the issuer is checked on refresh routes too", Policy::Refresh, bearer(&hs256(&refresh())), Rejected(422, "Token is missing the \"iss\" claim")),
        case("a non-string iss", Policy::Optional, bearer(&hs256(&set(fresh_access(), json!({"iss": 5})))), Rejected(422, "Payload Issuer (iss) must be a string")),
    ];
    check_in("flask-jwt-extended with an issuer", &with_issuer, rows);
}

#[test]
fn flask_jwt_extended_tries_its_locations_in_order_and_names_every_miss() {
    let t = hs256(&fresh_access());
    let settings = under(&FLASK_JWT_EXTENDED, |b| {
        b.location_list(vec![Location::Headers, Location::Cookies])
    });
    let both = "Missing JWT in headers or cookies (Missing Authorization Header; Missing cookie \"access_token_cookie\")";
    #[rustfmt::skip]
    let rows = vec![
        case("no token anywhere names both misses", Policy::Access, HeaderMap::new(), Rejected(401, both)),
        case("no Bearer part falls through to the cookie", Policy::Access, authorization(&["Token x"]).cookie(&format!("access_token_cookie={t}")), FRESH_ACCESS),
        case("the first of duplicate cookies wins", Policy::Access, cookie(&format!("access_token_cookie=; access_token_cookie={t}")), Rejected(401, "Missing JWT in headers or cookies (Missing Authorization Header; Missing cookie \"access_token_cookie\")")),
        request("a cookie on POST without its CSRF header", Policy::Access, Method::POST, cookie(&format!("access_token_cookie={t}")), Rejected(401, "Missing CSRF token")),
    ];
    check_in("flask-jwt-extended, headers then cookies", &settings, rows);
}

#[test]
fn the_pyjwt2_fork_keeps_the_library_answers_and_decodes_with_pyjwt_2_15() {
    let settings = under(&FASTAPI_JWT_AUTH_PYJWT2, |b| b);
    let p = b64(fresh_access().to_string().as_bytes());
    let h = b64(HS256_HEADER.as_bytes());
    #[rustfmt::skip]
    let rows = vec![
        case("a fresh token is accepted", Policy::Fresh, bearer(&hs256(&fresh_access())), FRESH_ACCESS),
        case("a bad header is the library's 422", Policy::Access, authorization(&["Token x"]), Rejected(422, BAD_HEADER)),
        case("exp == now has expired", Policy::Access, bearer(&hs256(&set(access(), json!({"exp": NOW})))), Rejected(422, "Signature has expired")),
        case("an iat in the future", Policy::Access, bearer(&hs256(&set(access(), json!({"iat": NOW + 60})))), Rejected(422, "The token is not yet valid (iat)")),
        case("a null exp is not an integer", Policy::Access, bearer(&hs256(&set(access(), json!({"exp": null})))), Rejected(422, "Expiration Time claim (exp) must be an integer.")),
        case("a numeric jti", Policy::Access, bearer(&hs256(&set(access(), json!({"jti": 7})))), Rejected(422, "JWT ID must be a string")),
        case("a falsy aud without a configured audience is no audience", Policy::Access, bearer(&hs256(&set(access(), json!({"aud": ""})))), ACCESS),
        case("a truthy aud without a configured audience", Policy::Access, bearer(&hs256(&set(access(), json!({"aud": "x"})))), Rejected(422, "Invalid audience")),
        case("a character outside base64url is refused", Policy::Access, bearer(&segments(&h, &format!("{p}+"), "AAAA")), Rejected(422, "Invalid payload padding")),
        case("a missing type is still refused (the fork crashes)", Policy::Access, bearer(&hs256(&unset(access(), &["type"]))), Rejected(422, "Missing claim: type")),
        case("an unknown crit extension", Policy::Access, bearer(&with_header(r#"{"typ":"JWT","alg":"HS256","crit":["exp"]}"#, &access())), Rejected(422, "Unsupported critical extension: exp")),
    ];
    check_in("fastapi-jwt-auth-pyjwt2", &settings, rows);
}

#[test]
fn flask_bodies_are_jsonify_output_and_the_key_is_configurable() {
    let settings = under(&FLASK_JWT_EXTENDED, |b| b);
    assert_eq!(
        settings.body("Missing Authorization Header"),
        "{\"msg\":\"Missing Authorization Header\"}\n"
    );
    assert_eq!(
        settings.body("caf\u{e9} \u{1f600}"),
        "{\"msg\":\"caf\\u00e9 \\ud83d\\ude00\"}\n"
    );
    let keyed = built_from(FLASK_JWT_EXTENDED.rules.decoder(decoder()), |b| {
        b.profile(&FLASK_JWT_EXTENDED, Some("error".into()))
    });
    assert_eq!(
        keyed.body("Token has expired"),
        "{\"error\":\"Token has expired\"}\n"
    );
    assert_eq!(
        default_settings().body("Fresh token required"),
        "{\"detail\":\"Fresh token required\"}"
    );
}

#[test]
fn cookies_are_read_as_werkzeug_reads_them_under_flask_jwt_extended() {
    // Each expectation is Werkzeug 3.1.9's `parse_cookie(value).get("access_token_cookie")`.
    let rows: &[(&str, Option<&str>)] = &[
        (
            r#"x="a; access_token_cookie=EVIL; b"; access_token_cookie=GOOD"#,
            Some("GOOD"),
        ),
        (r#"access_token_cookie="x"y""#, None),
        ("a=1, access_token_cookie=T", None),
        ("access_token_cookie=T, b=2", None),
        ("access_token_cookie=; access_token_cookie=T", Some("")),
        ("  access_token_cookie  =  T  ; z", Some("T")),
        (r#"access_token_cookie="q\"r\101""#, Some("q\"rA")),
        ("bad=a b; access_token_cookie=T", Some("T")),
        ("access_token_cookie", Some("")),
        ("k=v;;access_token_cookie=T", Some("T")),
    ];
    for (value, want) in rows {
        let headers = cookie(value);
        let got = source::cookie_werkzeug(&headers, "access_token_cookie");
        let got = got
            .as_deref()
            .map(|v| String::from_utf8_lossy(v).into_owned());
        assert_eq!(got.as_deref(), *want, "Cookie: {value}");
    }
}
