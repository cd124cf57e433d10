//! Reading the token from the `Authorization` header (or the configured one), as the library
//! parses it: the contract's "Reading the token from the Authorization header".

use super::*;

// ---------------------------------------------------------------------------------------------
// Reading the token from the header
// ---------------------------------------------------------------------------------------------

#[test]
fn the_authorization_header_is_parsed_as_the_library_parses_it() {
    let t = hs256(&access());
    let expired = hs256(&set(access(), json!({"exp": NOW - 60})));
    #[rustfmt::skip]
    let rows = vec![
        case("no header on an access route is 401", Policy::Access, HeaderMap::new(), Rejected(401, MISSING_HEADER)),
        case("no header on a fresh route is 401", Policy::Fresh, HeaderMap::new(), Rejected(401, MISSING_HEADER)),
        case("no header on a refresh route is 401", Policy::Refresh, HeaderMap::new(), Rejected(401, MISSING_HEADER)),
        case("no header on an optional route is anonymous", Policy::Optional, HeaderMap::new(), Anonymous),
        case("an empty header is no token on an access route", Policy::Access, authorization(&[""]), Rejected(401, MISSING_HEADER)),
        case("an empty header is no token on an optional route", Policy::Optional, authorization(&[""]), Anonymous),
        case("Bearer and one space is accepted", Policy::Access, authorization(&[&format!("Bearer {t}")]), ACCESS),
        case("Bearer and several spaces is accepted", Policy::Access, authorization(&[&format!("Bearer    {t}")]), ACCESS),
        case("Bearer and a tab is accepted", Policy::Access, authorization(&[&format!("Bearer\t{t}")]), ACCESS),
        case("Bearer, a tab and spaces is accepted", Policy::Access, authorization(&[&format!("Bearer\t  {t}")]), ACCESS),
        case("trailing whitespace after the token is accepted (str.split drops it)", Policy::Access, authorization(&[&format!("Bearer {t}  ")]), ACCESS),
        case("a no-break space (0xA0, latin-1 whitespace in Python) after Bearer is accepted", Policy::Access, headers("Authorization", &[[b"Bearer\xa0".as_slice(), t.as_bytes()].concat().as_slice()]), ACCESS),
        case("lowercase bearer is 422", Policy::Access, authorization(&[&format!("bearer {t}")]), Rejected(422, BAD_HEADER)),
        case("BEARER in capitals is 422", Policy::Access, authorization(&[&format!("BEARER {t}")]), Rejected(422, BAD_HEADER)),
        case("Bearer alone is 422", Policy::Access, authorization(&["Bearer"]), Rejected(422, BAD_HEADER)),
        case("Bearer and a space but no token is 422", Policy::Access, authorization(&["Bearer "]), Rejected(422, BAD_HEADER)),
        case("Bearer with two words after it is 422", Policy::Access, authorization(&["Bearer a b"]), Rejected(422, BAD_HEADER)),
        case("Bearer, a token and a second word is 422", Policy::Access, authorization(&[&format!("Bearer {t} extra")]), Rejected(422, BAD_HEADER)),
        case("Bearer followed by a comma is 422", Policy::Access, authorization(&[&format!("Bearer,{t}")]), Rejected(422, BAD_HEADER)),
        case("Bearer glued to the token is 422", Policy::Access, authorization(&[&format!("Bearer{t}")]), Rejected(422, BAD_HEADER)),
        case("another scheme (Token x) is 422", Policy::Access, authorization(&[&format!("Token {t}")]), Rejected(422, BAD_HEADER)),
        case("a bare token is 422", Policy::Access, authorization(&[&t]), Rejected(422, BAD_HEADER)),
        case("a bad header is 422 on an optional route too", Policy::Optional, authorization(&[&format!("bearer {t}")]), Rejected(422, BAD_HEADER)),
        case("a bare token is 422 on an optional route too", Policy::Optional, authorization(&[&t]), Rejected(422, BAD_HEADER)),
        case("a bad header is 422 on a refresh route", Policy::Refresh, authorization(&["Bearer"]), Rejected(422, BAD_HEADER)),
        case("a bad header is 422 on a fresh route", Policy::Fresh, authorization(&["Token x"]), Rejected(422, BAD_HEADER)),
        case("a well-formed header with a garbage token goes on to decode", Policy::Access, authorization(&["Bearer garbage"]), Rejected(422, "Not enough segments")),
        case("only the first of two headers counts: good then garbage is accepted", Policy::Access, authorization(&[&format!("Bearer {t}"), "garbage"]), ACCESS),
        case("only the first of two headers counts: garbage then good is 422", Policy::Access, authorization(&["garbage", &format!("Bearer {t}")]), Rejected(422, BAD_HEADER)),
        case("only the first of two headers counts: empty then good is no token", Policy::Access, authorization(&["", &format!("Bearer {t}")]), Rejected(401, MISSING_HEADER)),
        case("only the first of two headers counts: expired then good is expired", Policy::Access, authorization(&[&format!("Bearer {expired}"), &format!("Bearer {t}")]), Rejected(422, "Signature has expired")),
        case("public checks nothing without a header", Policy::Public, HeaderMap::new(), Anonymous),
        case("public checks nothing even with a garbage header", Policy::Public, authorization(&["garbage"]), Anonymous),
        case("public checks nothing even with a bad Bearer header", Policy::Public, authorization(&["Bearer a b"]), Anonymous),
        case("public checks nothing even with an expired token", Policy::Public, bearer(&expired), Anonymous),
        case("public forwards a valid token anonymously", Policy::Public, bearer(&t), Anonymous),
    ];
    check(&default_settings(), rows);
}

#[test]
fn a_custom_header_name_and_type_change_the_lookup_and_the_messages() {
    let settings = AuthSettings::new(decoder(), "X-Token", "JWT").expect("valid header name");
    let t = hs256(&access());
    let bad = "Bad X-Token header. Expected value 'JWT <JWT>'";
    let missing = "Missing X-Token Header";
    #[rustfmt::skip]
    let rows = vec![
        case("no X-Token header is 401 naming X-Token", Policy::Access, HeaderMap::new(), Rejected(401, missing)),
        case("an Authorization header does not count when the header is X-Token", Policy::Access, bearer(&t), Rejected(401, missing)),
        case("no X-Token header on an optional route is anonymous", Policy::Optional, HeaderMap::new(), Anonymous),
        case("an empty X-Token header is no token", Policy::Fresh, headers("X-Token", &[b""]), Rejected(401, missing)),
        case("X-Token: JWT <token> is accepted", Policy::Access, headers("X-Token", &[format!("JWT {t}").as_bytes()]), ACCESS),
        case("the header name is matched case-insensitively", Policy::Access, headers("x-token", &[format!("JWT {t}").as_bytes()]), ACCESS),
        case("X-Token: Bearer <token> is 422 naming X-Token and JWT", Policy::Access, headers("X-Token", &[format!("Bearer {t}").as_bytes()]), Rejected(422, bad)),
        case("X-Token: jwt <token> is 422 (the type is case-sensitive)", Policy::Access, headers("X-Token", &[format!("jwt {t}").as_bytes()]), Rejected(422, bad)),
        case("a bare token in X-Token is 422", Policy::Optional, headers("X-Token", &[t.as_bytes()]), Rejected(422, bad)),
        case("X-Token: JWT alone is 422", Policy::Refresh, headers("X-Token", &[b"JWT"]), Rejected(422, bad)),
    ];
    check(&settings, rows);
}

#[test]
fn an_empty_header_type_means_a_bare_token() {
    let settings = AuthSettings::new(decoder(), "Authorization", "").expect("valid header name");
    let t = hs256(&access());
    let bad = "Bad Authorization header. Expected value '<JWT>'";
    #[rustfmt::skip]
    let rows = vec![
        case("a bare token is accepted", Policy::Access, authorization(&[&t]), ACCESS),
        case("surrounding whitespace around a bare token is ignored", Policy::Access, authorization(&[&format!("  {t}\t")]), ACCESS),
        case("Bearer <token> is 422 with the '<JWT>' message", Policy::Access, authorization(&[&format!("Bearer {t}")]), Rejected(422, bad)),
        case("two words are 422 on an optional route too", Policy::Optional, authorization(&["a b"]), Rejected(422, bad)),
        case("no header is still 401", Policy::Access, HeaderMap::new(), Rejected(401, MISSING_HEADER)),
        case("a bare garbage token goes on to decode", Policy::Access, authorization(&["garbage"]), Rejected(422, "Not enough segments")),
    ];
    check(&settings, rows);
}
