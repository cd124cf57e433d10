//! Table-driven tests of the decision, one row per line of the contract
//! (`compat/fastapi-jwt-auth.md`, header tokens).
//!
//! Every token is built by hand (base64url of chosen header and payload JSON plus an HMAC
//! signature) so that a row can carry exactly the defect it names. The clock is fixed: `NOW_MS`
//! is half a second past `NOW`, which also checks that, like PyJWT, the decision compares whole
//! seconds (`exp == NOW` is still valid at `NOW + 0.5 s`).
//!
//! The row tables carry `#[rustfmt::skip]` so that each row stays on one line and a table reads
//! like the contract's; everything else is default rustfmt.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

use super::jws::VerifyKey;
use super::*;
use http::{HeaderMap, HeaderName};

/// The secret of every test decoder.
const SECRET: &[u8] = b"unit-test-secret";
/// A secret the decoder does not know.
const OTHER_SECRET: &[u8] = b"some-other-secret";
/// "Now" for every row, in seconds since the epoch.
const NOW: i64 = 1_700_000_000;
/// "Now" as passed to [`decide`]: half a second past `NOW`.
const NOW_MS: i64 = NOW * 1000 + 500;
/// The standard JOSE header PyJWT writes for HS256.
const HS256_HEADER: &str = r#"{"typ":"JWT","alg":"HS256"}"#;

// ---------------------------------------------------------------------------------------------
// Building settings
// ---------------------------------------------------------------------------------------------

fn decoder() -> Decoder {
    Decoder {
        algorithms: vec![Algorithm::HS256],
        keys: vec![VerifyKey::hmac(SECRET).expect("an HMAC secret is a valid key")],
        leeway_ms: 0,
        issuer: None,
        audience: None,
    }
}

/// The library's defaults: HS256, `Authorization: Bearer <JWT>`, leeway 0, no issuer or audience.
fn default_settings() -> AuthSettings {
    settings_with(|_| {})
}

/// Default settings with the decoder changed by `change`.
fn settings_with(change: impl FnOnce(&mut Decoder)) -> AuthSettings {
    let mut d = decoder();
    change(&mut d);
    AuthSettings::new(d, "Authorization", "Bearer").expect("Authorization is a valid header name")
}

// ---------------------------------------------------------------------------------------------
// Building tokens
// ---------------------------------------------------------------------------------------------

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `b64(header).b64(payload).signature` where the signature is `alg` with `secret` over the
/// first two segments.
fn jws(header: &str, payload: &str, alg: Algorithm, secret: &[u8]) -> String {
    let signing_input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let key = EncodingKey::from_secret(secret).expect("an HMAC secret is a valid key");
    let signature = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, alg)
        .expect("HMAC signing cannot fail");
    format!("{signing_input}.{signature}")
}

/// A correctly signed HS256 token with the standard header and `claims` as payload.
fn hs256(claims: &Value) -> String {
    jws(HS256_HEADER, &claims.to_string(), Algorithm::HS256, SECRET)
}

/// A token with the given raw header JSON, `claims` as payload and a correct HS256 signature.
fn with_header(header: &str, claims: &Value) -> String {
    jws(header, &claims.to_string(), Algorithm::HS256, SECRET)
}

/// A token whose segments are given as already-encoded text, for malformed-token rows.
fn segments(header: &str, payload: &str, signature: &str) -> String {
    format!("{header}.{payload}.{signature}")
}

/// What fastapi-jwt-auth writes for `create_access_token(subject="alice")` at `NOW`.
fn access() -> Value {
    json!({
        "sub": "alice",
        "iat": NOW,
        "nbf": NOW,
        "jti": "0d1f6d0e-5f0c-4e55-9a3e-7f2b8c1d2e3f",
        "exp": NOW + 15 * 60,
        "type": "access",
        "fresh": false,
    })
}

/// What fastapi-jwt-auth writes for `create_access_token(subject="alice", fresh=True)`.
fn fresh_access() -> Value {
    set(access(), json!({"fresh": true}))
}

/// What fastapi-jwt-auth writes for `create_refresh_token(subject="alice")` at `NOW`.
fn refresh() -> Value {
    json!({
        "sub": "alice",
        "iat": NOW,
        "nbf": NOW,
        "jti": "7a3c1b2d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "exp": NOW + 30 * 24 * 3600,
        "type": "refresh",
    })
}

/// `base` with every key of `changes` set to its value there.
fn set(mut base: Value, changes: Value) -> Value {
    let (Value::Object(map), Value::Object(changes)) = (&mut base, changes) else {
        panic!("set() takes two JSON objects");
    };
    map.extend(changes);
    base
}

/// `base` without `keys`.
fn unset(mut base: Value, keys: &[&str]) -> Value {
    let Value::Object(map) = &mut base else {
        panic!("unset() takes a JSON object");
    };
    for key in keys {
        map.remove(*key);
    }
    base
}

// ---------------------------------------------------------------------------------------------
// Building requests
// ---------------------------------------------------------------------------------------------

/// Headers with one `name` header per value, in order.
fn headers(name: &str, values: &[&[u8]]) -> HeaderMap {
    let name = HeaderName::from_bytes(name.as_bytes()).expect("valid header name");
    let mut map = HeaderMap::new();
    for value in values {
        let value = HeaderValue::from_bytes(value).expect("valid header value");
        map.append(name.clone(), value);
    }
    map
}

/// `Authorization` headers with these values, in order.
fn authorization(values: &[&str]) -> HeaderMap {
    let values: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
    headers("Authorization", &values)
}

/// `Authorization: Bearer <token>`.
fn bearer(token: &str) -> HeaderMap {
    authorization(&[&format!("Bearer {token}")])
}

// ---------------------------------------------------------------------------------------------
// Rows and the runner
// ---------------------------------------------------------------------------------------------

/// What a row expects [`decide`] to answer.
#[derive(Debug)]
enum Want {
    /// Forwarded without identity.
    Anonymous,
    /// Forwarded with an identity of this type and freshness.
    Authenticated { token_type: TokenType, fresh: bool },
    /// Rejected with exactly this status and detail.
    Rejected(u16, &'static str),
    /// Rejected with this status and a detail that starts with this text (the rest is the JSON
    /// parser's own error text, which the contract leaves open).
    RejectedStartingWith(u16, &'static str),
}

use Want::*;

const ACCESS: Want = Authenticated {
    token_type: TokenType::Access,
    fresh: false,
};
const FRESH_ACCESS: Want = Authenticated {
    token_type: TokenType::Access,
    fresh: true,
};
const REFRESH: Want = Authenticated {
    token_type: TokenType::Refresh,
    fresh: false,
};

struct Case {
    name: &'static str,
    policy: Policy,
    headers: HeaderMap,
    want: Want,
}

fn case(name: &'static str, policy: Policy, headers: HeaderMap, want: Want) -> Case {
    Case {
        name,
        policy,
        headers,
        want,
    }
}

fn describe(got: &Result<Outcome, AuthError>) -> String {
    match got {
        Ok(Outcome::Anonymous) => "forwarded anonymously".to_string(),
        Ok(Outcome::Authenticated(id)) => format!(
            "forwarded with type {}, fresh={}",
            id.token_type.as_str(),
            id.fresh
        ),
        Err(e) => format!("{} {:?}", e.status().as_u16(), e.detail()),
    }
}

impl Want {
    fn matches(&self, got: &Result<Outcome, AuthError>) -> bool {
        match (self, got) {
            (Anonymous, Ok(Outcome::Anonymous)) => true,
            (Authenticated { token_type, fresh }, Ok(Outcome::Authenticated(id))) => {
                id.token_type == *token_type && id.fresh == *fresh
            }
            (Rejected(status, detail), Err(e)) => {
                e.status().as_u16() == *status && e.detail() == *detail
            }
            (RejectedStartingWith(status, prefix), Err(e)) => {
                e.status().as_u16() == *status && e.detail().starts_with(prefix)
            }
            _ => false,
        }
    }
}

/// Runs every row and fails once, listing every row that disagrees, so one wrong row does not
/// hide the others.
fn check(settings: &AuthSettings, cases: Vec<Case>) {
    let total = cases.len();
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|c| {
            let got = decide(settings, c.policy, &c.headers, NOW_MS);
            (!c.want.matches(&got)).then(|| {
                format!(
                    "  {} [{}]\n    want: {:?}\n    got:  {}",
                    c.name,
                    c.policy,
                    c.want,
                    describe(&got)
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {total} rows disagree with the contract:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const BAD_HEADER: &str = "Bad Authorization header. Expected value 'Bearer <JWT>'";
const MISSING_HEADER: &str = "Missing Authorization Header";
const ALG_NOT_ALLOWED: &str = "The specified alg value is not allowed";

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

// ---------------------------------------------------------------------------------------------
// Decoding: the PyJWT 1.7.1 table, in its order
// ---------------------------------------------------------------------------------------------

#[test]
fn decode_failures_are_422_with_pyjwt_messages_in_pyjwt_order() {
    let claims = access();
    let header = b64(HS256_HEADER.as_bytes());
    let payload = b64(claims.to_string().as_bytes());
    let good = hs256(&claims);
    let signature = good.rsplit('.').next().expect("three segments").to_string();
    let expired = set(access(), json!({"exp": NOW - 60}));
    let tampered = {
        let other_payload = b64(set(access(), json!({"sub": "mallory"}))
            .to_string()
            .as_bytes());
        segments(&header, &other_payload, &signature)
    };
    #[rustfmt::skip]
    let rows = vec![
        // segments
        case("a token without a dot has not enough segments", Policy::Access, bearer("abc"), Rejected(422, "Not enough segments")),
        case("a token with one dot has not enough segments", Policy::Access, bearer(&format!("{header}.{payload}")), Rejected(422, "Not enough segments")),
        case("a lone dot has not enough segments", Policy::Access, bearer("."), Rejected(422, "Not enough segments")),
        // header
        case("a header segment that is not base64url is invalid header padding", Policy::Access, bearer(&segments("A", &payload, &signature)), Rejected(422, "Invalid header padding")),
        case("a header with leftover base64 bits is invalid header padding", Policy::Access, bearer(&segments("eyJhbGciOiJIUzI1NiJ9A", &payload, &signature)), Rejected(422, "Invalid header padding")),
        case("bad header padding wins over bad payload and crypto padding", Policy::Access, bearer(&segments("A", "A", "A")), Rejected(422, "Invalid header padding")),
        case("an empty header segment is an invalid header string", Policy::Access, bearer(&segments("", &payload, &signature)), RejectedStartingWith(422, "Invalid header string: ")),
        case("a header that is not JSON is an invalid header string", Policy::Access, bearer(&segments(&b64(b"not json"), &payload, &signature)), RejectedStartingWith(422, "Invalid header string: ")),
        case("a header that is not UTF-8 is an invalid header string naming the byte", Policy::Access, bearer(&segments(&b64(b"\xff{}"), &payload, &signature)), RejectedStartingWith(422, "Invalid header string: 'utf-8' codec can't decode byte 0xff in position 0")),
        case("a header that is a JSON array must be a json object", Policy::Access, bearer(&segments(&b64(b"[]"), &payload, &signature)), Rejected(422, "Invalid header string: must be a json object")),
        case("a header that is a JSON string must be a json object", Policy::Access, bearer(&segments(&b64(b"\"HS256\""), &payload, &signature)), Rejected(422, "Invalid header string: must be a json object")),
        case("a bad header string wins over bad payload padding", Policy::Access, bearer(&segments(&b64(b"nope"), "A", &signature)), RejectedStartingWith(422, "Invalid header string: ")),
        // payload and crypto segments
        case("a payload segment that is not base64url is invalid payload padding", Policy::Access, bearer(&segments(&header, "A", &signature)), Rejected(422, "Invalid payload padding")),
        case("a signature segment that is not base64url is invalid crypto padding", Policy::Access, bearer(&segments(&header, &payload, "A")), Rejected(422, "Invalid crypto padding")),
        case("bad payload padding wins over bad crypto padding", Policy::Access, bearer(&segments(&header, "A", "A")), Rejected(422, "Invalid payload padding")),
        case("bad crypto padding wins over a disallowed alg", Policy::Access, bearer(&segments(&b64(br#"{"alg":"none"}"#), &payload, "A")), Rejected(422, "Invalid crypto padding")),
        // kid
        case("a numeric kid is rejected", Policy::Access, bearer(&with_header(r#"{"alg":"HS256","kid":1}"#, &claims)), Rejected(422, "Key ID header parameter must be a string")),
        case("a null kid is rejected", Policy::Access, bearer(&with_header(r#"{"alg":"HS256","kid":null}"#, &claims)), Rejected(422, "Key ID header parameter must be a string")),
        case("a string kid is accepted", Policy::Access, bearer(&with_header(r#"{"alg":"HS256","kid":"k1"}"#, &claims)), ACCESS),
        case("a non-string kid wins over a disallowed alg", Policy::Access, bearer(&with_header(r#"{"alg":"none","kid":[]}"#, &claims)), Rejected(422, "Key ID header parameter must be a string")),
        // alg
        case("an alg outside the accepted list is not allowed", Policy::Access, bearer(&jws(r#"{"alg":"HS384"}"#, &claims.to_string(), Algorithm::HS384, SECRET)), Rejected(422, ALG_NOT_ALLOWED)),
        case("a disallowed alg wins over a wrong signature", Policy::Access, bearer(&jws(r#"{"alg":"HS512"}"#, &claims.to_string(), Algorithm::HS512, OTHER_SECRET)), Rejected(422, ALG_NOT_ALLOWED)),
        // signature
        case("a signature made with another secret fails verification", Policy::Access, bearer(&jws(HS256_HEADER, &claims.to_string(), Algorithm::HS256, OTHER_SECRET)), Rejected(422, "Signature verification failed")),
        case("a payload changed after signing fails verification", Policy::Access, bearer(&tampered), Rejected(422, "Signature verification failed")),
        case("an empty signature fails verification", Policy::Access, bearer(&segments(&header, &payload, "")), Rejected(422, "Signature verification failed")),
        case("an HS384 signature under an HS256 header fails verification", Policy::Access, bearer(&jws(HS256_HEADER, &claims.to_string(), Algorithm::HS384, SECRET)), Rejected(422, "Signature verification failed")),
        case("a wrong signature wins over an unparseable payload", Policy::Access, bearer(&jws(HS256_HEADER, "not json", Algorithm::HS256, OTHER_SECRET)), Rejected(422, "Signature verification failed")),
        case("a wrong signature wins over an expired token", Policy::Access, bearer(&jws(HS256_HEADER, &expired.to_string(), Algorithm::HS256, OTHER_SECRET)), Rejected(422, "Signature verification failed")),
        // payload JSON
        case("a signed payload that is not JSON is an invalid payload string", Policy::Access, bearer(&jws(HS256_HEADER, "not json", Algorithm::HS256, SECRET)), RejectedStartingWith(422, "Invalid payload string: ")),
        case("a signed payload that is a JSON array must be a json object", Policy::Access, bearer(&jws(HS256_HEADER, "[1,2]", Algorithm::HS256, SECRET)), Rejected(422, "Invalid payload string: must be a json object")),
        case("a signed payload that is a JSON number must be a json object", Policy::Access, bearer(&jws(HS256_HEADER, "42", Algorithm::HS256, SECRET)), Rejected(422, "Invalid payload string: must be a json object")),
        // claims, in PyJWT's order iat -> nbf -> exp (details in the time rules test)
        case("a non-integer iat wins over an expired exp", Policy::Access, bearer(&hs256(&set(access(), json!({"iat": "soon", "exp": NOW - 60})))), Rejected(422, "Issued At claim (iat) must be an integer.")),
        case("a non-integer iat wins over a non-integer nbf", Policy::Access, bearer(&hs256(&set(access(), json!({"iat": "soon", "nbf": "soon"})))), Rejected(422, "Issued At claim (iat) must be an integer.")),
        case("a future nbf wins over an expired exp", Policy::Access, bearer(&hs256(&set(access(), json!({"nbf": NOW + 60, "exp": NOW - 60})))), Rejected(422, "The token is not yet valid (nbf)")),
        case("a non-integer nbf wins over a non-integer exp", Policy::Access, bearer(&hs256(&set(access(), json!({"nbf": "soon", "exp": "later"})))), Rejected(422, "Not Before claim (nbf) must be an integer.")),
        case("a decode failure wins over a wrong token type", Policy::Refresh, bearer(&hs256(&expired)), Rejected(422, "Signature has expired")),
        case("a decode failure wins over a missing fresh claim", Policy::Fresh, bearer(&hs256(&unset(expired.clone(), &["fresh"]))), Rejected(422, "Signature has expired")),
        case("a decode failure is 422 on an optional route too", Policy::Optional, bearer(&hs256(&expired)), Rejected(422, "Signature has expired")),
    ];
    check(&default_settings(), rows);
}

// ---------------------------------------------------------------------------------------------
// Time claims
// ---------------------------------------------------------------------------------------------

#[test]
fn time_claims_follow_pyjwt_1_7_1() {
    let token = |changes: Value| bearer(&hs256(&set(access(), changes)));
    let without = |keys: &[&str]| bearer(&hs256(&unset(access(), keys)));
    #[rustfmt::skip]
    let rows = vec![
        case("exp equal to now (in whole seconds) is still valid", Policy::Access, token(json!({"exp": NOW})), ACCESS),
        case("exp one second before now has expired", Policy::Access, token(json!({"exp": NOW - 1})), Rejected(422, "Signature has expired")),
        case("exp long past has expired", Policy::Access, token(json!({"exp": NOW - 3600})), Rejected(422, "Signature has expired")),
        case("nbf equal to now is valid", Policy::Access, token(json!({"nbf": NOW})), ACCESS),
        case("nbf one second after now is not yet valid", Policy::Access, token(json!({"nbf": NOW + 1})), Rejected(422, "The token is not yet valid (nbf)")),
        case("no exp at all is accepted", Policy::Access, without(&["exp"]), ACCESS),
        case("no iat, nbf or exp is accepted", Policy::Access, without(&["iat", "nbf", "exp"]), ACCESS),
        case("an iat in the future is accepted", Policy::Access, token(json!({"iat": NOW + 3600})), ACCESS),
        case("a numeric string exp in the future is accepted", Policy::Access, token(json!({"exp": (NOW + 900).to_string()})), ACCESS),
        case("a numeric string exp in the past has expired", Policy::Access, token(json!({"exp": (NOW - 1).to_string()})), Rejected(422, "Signature has expired")),
        case("a numeric string nbf in the future is not yet valid", Policy::Access, token(json!({"nbf": (NOW + 60).to_string()})), Rejected(422, "The token is not yet valid (nbf)")),
        case("a numeric string iat is accepted", Policy::Access, token(json!({"iat": NOW.to_string()})), ACCESS),
        case("a numeric string with surrounding spaces is accepted, as int() does", Policy::Access, token(json!({"exp": format!(" {} ", NOW + 900)})), ACCESS),
        case("a fractional exp just past now truncates to now and is valid", Policy::Access, token(json!({"exp": NOW as f64 + 0.9})), ACCESS),
        case("a fractional exp just before now truncates and has expired", Policy::Access, token(json!({"exp": NOW as f64 - 0.5})), Rejected(422, "Signature has expired")),
        case("a non-integer iat has the iat message", Policy::Access, token(json!({"iat": "soon"})), Rejected(422, "Issued At claim (iat) must be an integer.")),
        case("a non-integer nbf has the nbf message", Policy::Access, token(json!({"nbf": "soon"})), Rejected(422, "Not Before claim (nbf) must be an integer.")),
        case("a non-integer exp has the exp message", Policy::Access, token(json!({"exp": "later"})), Rejected(422, "Expiration Time claim (exp) must be an integer.")),
        case("a decimal string exp is not an integer", Policy::Access, token(json!({"exp": "1700000900.5"})), Rejected(422, "Expiration Time claim (exp) must be an integer.")),
        case("an empty string exp is not an integer", Policy::Access, token(json!({"exp": ""})), Rejected(422, "Expiration Time claim (exp) must be an integer.")),
        case("time rules apply on optional routes", Policy::Optional, token(json!({"nbf": NOW + 60})), Rejected(422, "The token is not yet valid (nbf)")),
        case("time rules apply to refresh tokens", Policy::Refresh, bearer(&hs256(&set(refresh(), json!({"exp": NOW - 1})))), Rejected(422, "Signature has expired")),
    ];
    check(&default_settings(), rows);
}

#[test]
fn leeway_widens_both_nbf_and_exp() {
    let token = |changes: Value| bearer(&hs256(&set(access(), changes)));
    #[rustfmt::skip]
    let rows = vec![
        case("exp ten seconds ago is valid with a 10 s leeway", Policy::Access, token(json!({"exp": NOW - 10})), ACCESS),
        case("exp eleven seconds ago has expired with a 10 s leeway", Policy::Access, token(json!({"exp": NOW - 11})), Rejected(422, "Signature has expired")),
        case("nbf ten seconds ahead is valid with a 10 s leeway", Policy::Access, token(json!({"nbf": NOW + 10})), ACCESS),
        case("nbf eleven seconds ahead is not yet valid with a 10 s leeway", Policy::Access, token(json!({"nbf": NOW + 11})), Rejected(422, "The token is not yet valid (nbf)")),
    ];
    check(&settings_with(|d| d.leeway_ms = 10_000), rows);
}

// ---------------------------------------------------------------------------------------------
// Issuer and audience
// ---------------------------------------------------------------------------------------------

#[test]
fn the_issuer_is_checked_only_for_access_tokens_on_access_and_fresh_routes() {
    const ISS: &str = "https://auth.example";
    let missing = "Token is missing the \"iss\" claim";
    let settings = settings_with(|d| d.issuer = Some(ISS.to_string()));
    let access_iss = |iss: Value| bearer(&hs256(&set(access(), json!({"iss": iss}))));
    let fresh_iss = |iss: Value| bearer(&hs256(&set(fresh_access(), json!({"iss": iss}))));
    let refresh_iss = |iss: Value| bearer(&hs256(&set(refresh(), json!({"iss": iss}))));
    #[rustfmt::skip]
    let rows = vec![
        case("the right issuer is accepted on an access route", Policy::Access, access_iss(json!(ISS)), ACCESS),
        case("a missing issuer is 422 on an access route", Policy::Access, bearer(&hs256(&access())), Rejected(422, missing)),
        case("a different issuer is 422 on an access route", Policy::Access, access_iss(json!("https://evil.example")), Rejected(422, "Invalid issuer")),
        case("a non-string issuer is an invalid issuer", Policy::Access, access_iss(json!(42)), Rejected(422, "Invalid issuer")),
        case("the right issuer is accepted on a fresh route", Policy::Fresh, fresh_iss(json!(ISS)), FRESH_ACCESS),
        case("a missing issuer is 422 on a fresh route", Policy::Fresh, bearer(&hs256(&fresh_access())), Rejected(422, missing)),
        case("a different issuer is 422 on a fresh route", Policy::Fresh, fresh_iss(json!("other")), Rejected(422, "Invalid issuer")),
        case("a missing issuer is not checked on an optional route", Policy::Optional, bearer(&hs256(&access())), ACCESS),
        case("a different issuer is not checked on an optional route", Policy::Optional, access_iss(json!("other")), ACCESS),
        case("a missing issuer is not checked on a refresh route", Policy::Refresh, bearer(&hs256(&refresh())), REFRESH),
        case("a different issuer is not checked on a refresh route", Policy::Refresh, refresh_iss(json!("other")), REFRESH),
        case("an expired token is reported before its wrong issuer", Policy::Access, bearer(&hs256(&set(access(), json!({"iss": "other", "exp": NOW - 1})))), Rejected(422, "Signature has expired")),
        case("the issuer is checked before the token type", Policy::Access, refresh_iss(json!("other")), Rejected(422, "Invalid issuer")),
        case("the issuer is checked before freshness", Policy::Fresh, access_iss(json!("other")), Rejected(422, "Invalid issuer")),
    ];
    check(&settings, rows);
    check(
        &default_settings(),
        vec![case(
            "any issuer is accepted when none is configured",
            Policy::Access,
            access_iss(json!("whoever")),
            ACCESS,
        )],
    );
}

#[test]
fn the_audience_follows_pyjwt_rules_on_every_route() {
    let missing = "Token is missing the \"aud\" claim";
    let format = "Invalid claim format in token";
    let settings = settings_with(|d| d.audience = Some(vec!["api".to_string()]));
    let aud = |aud: Value| bearer(&hs256(&set(access(), json!({"aud": aud}))));
    #[rustfmt::skip]
    let rows = vec![
        case("the configured audience as a string is accepted", Policy::Access, aud(json!("api")), ACCESS),
        case("a list holding the configured audience is accepted", Policy::Access, aud(json!(["other", "api"])), ACCESS),
        case("a missing audience is 422", Policy::Access, bearer(&hs256(&access())), Rejected(422, missing)),
        case("a different audience is 422", Policy::Access, aud(json!("other")), Rejected(422, "Invalid audience")),
        case("a list without the configured audience is 422", Policy::Access, aud(json!(["other", "web"])), Rejected(422, "Invalid audience")),
        case("an empty list is an invalid audience", Policy::Access, aud(json!([])), Rejected(422, "Invalid audience")),
        case("a list with a non-string item is an invalid claim format", Policy::Access, aud(json!(["api", 1])), Rejected(422, format)),
        case("a numeric audience is an invalid claim format", Policy::Access, aud(json!(1)), Rejected(422, format)),
        case("an object audience is an invalid claim format", Policy::Access, aud(json!({"api": true})), Rejected(422, format)),
        case("a null audience is an invalid claim format", Policy::Access, aud(json!(null)), Rejected(422, format)),
        case("a missing audience is 422 on an optional route too", Policy::Optional, bearer(&hs256(&access())), Rejected(422, missing)),
        case("a missing audience is 422 on a refresh route too", Policy::Refresh, bearer(&hs256(&refresh())), Rejected(422, missing)),
        case("the right audience is accepted on a refresh route", Policy::Refresh, bearer(&hs256(&set(refresh(), json!({"aud": "api"})))), REFRESH),
        case("an expired token is reported before its wrong audience", Policy::Access, bearer(&hs256(&set(access(), json!({"aud": "other", "exp": NOW - 1})))), Rejected(422, "Signature has expired")),
    ];
    check(&settings, rows);
    #[rustfmt::skip]
    let rows = vec![
        case("any configured audience is enough", Policy::Access, bearer(&hs256(&set(access(), json!({"aud": "web", "iss": "iss"})))), ACCESS),
        case("a wrong issuer is reported before a wrong audience", Policy::Access, bearer(&hs256(&set(access(), json!({"aud": "x", "iss": "x"})))), Rejected(422, "Invalid issuer")),
    ];
    check(
        &settings_with(|d| {
            d.audience = Some(vec!["api".to_string(), "web".to_string()]);
            d.issuer = Some("iss".to_string());
        }),
        rows,
    );
    #[rustfmt::skip]
    let rows = vec![
        case("a token with an audience is 422 when none is configured", Policy::Access, aud(json!("api")), Rejected(422, "Invalid audience")),
        case("a token with an audience list is 422 when none is configured", Policy::Access, aud(json!(["api"])), Rejected(422, "Invalid audience")),
        case("a token with an audience is 422 on an optional route when none is configured", Policy::Optional, aud(json!("api")), Rejected(422, "Invalid audience")),
        case("a token with an audience is 422 on a refresh route when none is configured", Policy::Refresh, bearer(&hs256(&set(refresh(), json!({"aud": "api"})))), Rejected(422, "Invalid audience")),
    ];
    check(&default_settings(), rows);
}

// ---------------------------------------------------------------------------------------------
// Token type and freshness
// ---------------------------------------------------------------------------------------------

#[test]
fn the_token_type_must_match_the_route() {
    let only_access = "Only access tokens are allowed";
    let only_refresh = "Only refresh tokens are allowed";
    let missing_type = "Missing claim: type";
    let typed = |t: Value| bearer(&hs256(&set(access(), json!({"type": t}))));
    let untyped = bearer(&hs256(&unset(access(), &["type"])));
    let untyped_refresh = bearer(&hs256(&unset(refresh(), &["type"])));
    let refresh_token = bearer(&hs256(&refresh()));
    #[rustfmt::skip]
    let rows = vec![
        case("an access token is accepted on an access route", Policy::Access, bearer(&hs256(&access())), ACCESS),
        case("an access token is accepted on an optional route", Policy::Optional, bearer(&hs256(&access())), ACCESS),
        case("a refresh token is accepted on a refresh route", Policy::Refresh, refresh_token.clone(), REFRESH),
        case("a refresh token on an access route is 422", Policy::Access, refresh_token.clone(), Rejected(422, only_access)),
        case("a refresh token on a fresh route is 422", Policy::Fresh, refresh_token.clone(), Rejected(422, only_access)),
        case("a refresh token on an optional route is 422", Policy::Optional, refresh_token.clone(), Rejected(422, only_access)),
        case("an access token on a refresh route is 422", Policy::Refresh, bearer(&hs256(&access())), Rejected(422, only_refresh)),
        case("a fresh access token on a refresh route is 422", Policy::Refresh, bearer(&hs256(&fresh_access())), Rejected(422, only_refresh)),
        case("a refresh token claiming fresh=true on a fresh route is a type error, not a pass", Policy::Fresh, bearer(&hs256(&set(refresh(), json!({"fresh": true})))), Rejected(422, only_access)),
        case("the type is case-sensitive", Policy::Access, typed(json!("Access")), Rejected(422, only_access)),
        case("a numeric type is the wrong type", Policy::Access, typed(json!(1)), Rejected(422, only_access)),
        case("a null type is the wrong type", Policy::Access, typed(json!(null)), Rejected(422, only_access)),
        case("a list type is the wrong type", Policy::Refresh, typed(json!(["refresh"])), Rejected(422, only_refresh)),
        case("a missing type is 422 on an access route (the library crashes)", Policy::Access, untyped.clone(), Rejected(422, missing_type)),
        case("a missing type is 422 on an optional route", Policy::Optional, untyped.clone(), Rejected(422, missing_type)),
        case("a missing type is 422 on a fresh route, before freshness", Policy::Fresh, untyped.clone(), Rejected(422, missing_type)),
        case("a missing type is 422 on a refresh route", Policy::Refresh, untyped_refresh, Rejected(422, missing_type)),
        case("the type is checked before freshness", Policy::Fresh, bearer(&hs256(&set(refresh(), json!({"fresh": false})))), Rejected(422, only_access)),
    ];
    check(&default_settings(), rows);
}

#[test]
fn freshness_is_json_true_or_a_fresh_until_time_not_yet_passed() {
    let fresh = |value: Value| bearer(&hs256(&set(access(), json!({"fresh": value}))));
    let no_fresh = bearer(&hs256(&unset(access(), &["fresh"])));
    let required = "Fresh token required";
    #[rustfmt::skip]
    let rows = vec![
        case("fresh: true is fresh", Policy::Fresh, fresh(json!(true)), FRESH_ACCESS),
        case("fresh: false is 401", Policy::Fresh, fresh(json!(false)), Rejected(401, required)),
        case("the string \"true\" is not fresh", Policy::Fresh, fresh(json!("true")), Rejected(401, required)),
        case("the string \"false\" is not fresh (the library's truthiness is not copied)", Policy::Fresh, fresh(json!("false")), Rejected(401, required)),
        case("the number 1 is a fresh-until time long past, not fresh", Policy::Fresh, fresh(json!(1)), Rejected(401, required)),
        case("the number 0 is not fresh", Policy::Fresh, fresh(json!(0)), Rejected(401, required)),
        case("a missing fresh claim is 401 (the library crashes)", Policy::Fresh, no_fresh.clone(), Rejected(401, required)),
        case("a null fresh claim is 401", Policy::Fresh, fresh(json!(null)), Rejected(401, required)),
        case("a list fresh claim is 401", Policy::Fresh, fresh(json!([true])), Rejected(401, required)),
        case("a fresh-until time a minute ahead is fresh", Policy::Fresh, fresh(json!(NOW + 60)), FRESH_ACCESS),
        case("a fractional fresh-until time ahead is fresh", Policy::Fresh, fresh(json!(NOW as f64 + 60.5)), FRESH_ACCESS),
        case("a fresh-until time a minute past is 401", Policy::Fresh, fresh(json!(NOW - 60)), Rejected(401, required)),
        case("a fresh-until numeric string ahead is not fresh (only numbers count)", Policy::Fresh, fresh(json!((NOW + 60).to_string())), Rejected(401, required)),
        case("a non-fresh token is accepted on an access route", Policy::Access, fresh(json!(false)), ACCESS),
        case("a fresh token on an access route reports fresh", Policy::Access, fresh(json!(true)), FRESH_ACCESS),
        case("a token without fresh is accepted on an access route as not fresh", Policy::Access, no_fresh, ACCESS),
        case("a fresh-until time ahead on an access route reports fresh", Policy::Access, fresh(json!(NOW + 60)), FRESH_ACCESS),
        case("a truthy string on an optional route reports not fresh", Policy::Optional, fresh(json!("true")), ACCESS),
        case("a refresh token reports not fresh", Policy::Refresh, bearer(&hs256(&refresh())), REFRESH),
    ];
    check(&default_settings(), rows);
}

// ---------------------------------------------------------------------------------------------
// Algorithms, including where the library crashes
// ---------------------------------------------------------------------------------------------

#[test]
fn where_the_library_answers_500_freshgate_answers_422_and_never_forwards() {
    let claims = access();
    let payload = b64(claims.to_string().as_bytes());
    let unsigned = segments(&b64(br#"{"alg":"none","typ":"JWT"}"#), &payload, "");
    let none_signed = with_header(r#"{"alg":"none","typ":"JWT"}"#, &claims);
    let hs384 = jws(
        r#"{"alg":"HS384","typ":"JWT"}"#,
        &claims.to_string(),
        Algorithm::HS384,
        SECRET,
    );
    #[rustfmt::skip]
    let rows = vec![
        case("an unsigned alg none token is 422", Policy::Access, bearer(&unsigned), Rejected(422, ALG_NOT_ALLOWED)),
        case("an unsigned alg none token is 422 on an optional route, not anonymous", Policy::Optional, bearer(&unsigned), Rejected(422, ALG_NOT_ALLOWED)),
        case("an unsigned alg none token is 422 on a refresh route", Policy::Refresh, bearer(&unsigned), Rejected(422, ALG_NOT_ALLOWED)),
        case("alg none with an HMAC signature is 422", Policy::Access, bearer(&none_signed), Rejected(422, ALG_NOT_ALLOWED)),
        case("alg None in another case is 422", Policy::Access, bearer(&with_header(r#"{"alg":"None"}"#, &claims)), Rejected(422, ALG_NOT_ALLOWED)),
        case("an unknown alg is 422", Policy::Access, bearer(&with_header(r#"{"alg":"HS999"}"#, &claims)), Rejected(422, ALG_NOT_ALLOWED)),
        case("a lowercase alg is unknown and 422", Policy::Access, bearer(&with_header(r#"{"alg":"hs256"}"#, &claims)), Rejected(422, ALG_NOT_ALLOWED)),
        case("a missing alg is 422", Policy::Access, bearer(&with_header(r#"{"typ":"JWT"}"#, &claims)), Rejected(422, ALG_NOT_ALLOWED)),
        case("a null alg is 422", Policy::Access, bearer(&with_header(r#"{"alg":null}"#, &claims)), Rejected(422, ALG_NOT_ALLOWED)),
        case("a numeric alg is 422", Policy::Access, bearer(&with_header(r#"{"alg":256}"#, &claims)), Rejected(422, ALG_NOT_ALLOWED)),
        case("an HS384 token when only HS256 is accepted is 422", Policy::Access, bearer(&hs384), Rejected(422, ALG_NOT_ALLOWED)),
        case("an asymmetric (RS256) token with no public key configured is 422", Policy::Access, bearer(&with_header(r#"{"alg":"RS256"}"#, &claims)), Rejected(422, ALG_NOT_ALLOWED)),
        case("an ES256 token with no public key configured is 422", Policy::Fresh, bearer(&with_header(r#"{"alg":"ES256"}"#, &claims)), Rejected(422, ALG_NOT_ALLOWED)),
    ];
    check(&default_settings(), rows);
    // A decoder that lists an asymmetric algorithm but holds no key for it (the config cannot
    // build one today; the decision must still not crash or forward).
    check(
        &settings_with(|d| d.algorithms = vec![Algorithm::HS256, Algorithm::RS256]),
        vec![case(
            "an accepted asymmetric alg with no key for it is 422, not 500",
            Policy::Access,
            bearer(&with_header(r#"{"alg":"RS256"}"#, &claims)),
            Rejected(422, "No key is configured for the token's alg"),
        )],
    );
}

#[test]
fn a_configured_algorithm_list_replaces_the_default() {
    let claims = access().to_string();
    let signed = |alg: Algorithm, name: &str| {
        bearer(&jws(
            &format!(r#"{{"alg":"{name}","typ":"JWT"}}"#),
            &claims,
            alg,
            SECRET,
        ))
    };
    #[rustfmt::skip]
    let rows = vec![
        case("HS384 is accepted when it is the only algorithm", Policy::Access, signed(Algorithm::HS384, "HS384"), ACCESS),
        case("HS256 is no longer accepted when only HS384 is listed", Policy::Access, signed(Algorithm::HS256, "HS256"), Rejected(422, ALG_NOT_ALLOWED)),
    ];
    check(
        &settings_with(|d| d.algorithms = vec![Algorithm::HS384]),
        rows,
    );
    #[rustfmt::skip]
    let rows = vec![
        case("HS256 is accepted from a list of two", Policy::Access, signed(Algorithm::HS256, "HS256"), ACCESS),
        case("HS512 is accepted from a list of two", Policy::Access, signed(Algorithm::HS512, "HS512"), ACCESS),
        case("HS384 is not accepted when not listed", Policy::Access, signed(Algorithm::HS384, "HS384"), Rejected(422, ALG_NOT_ALLOWED)),
    ];
    check(
        &settings_with(|d| d.algorithms = vec![Algorithm::HS256, Algorithm::HS512]),
        rows,
    );
}

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

#[test]
fn the_subject_is_text_for_strings_and_integers_and_none_when_absent() {
    let settings = default_settings();
    #[rustfmt::skip]
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        ("a string subject is itself", set(access(), json!({"sub": "alice"})), Some("alice")),
        ("an integer subject is its decimal text", set(access(), json!({"sub": 42})), Some("42")),
        ("a negative integer subject is its decimal text", set(access(), json!({"sub": -7})), Some("-7")),
        ("an integer subject beyond i64 is its decimal text", set(access(), json!({"sub": 12_345_678_901_234_567_890u64})), Some("12345678901234567890")),
        ("an empty string subject is the empty string", set(access(), json!({"sub": ""})), Some("")),
        ("a missing subject is none", unset(access(), &["sub"]), None),
        ("a null subject is none", set(access(), json!({"sub": null})), None),
    ];
    for (name, claims, want) in cases {
        let outcome = decide(&settings, Policy::Access, &bearer(&hs256(&claims)), NOW_MS);
        let Ok(Outcome::Authenticated(identity)) = outcome else {
            panic!(
                "{name}: the token should be accepted, got {}",
                describe(&outcome)
            );
        };
        assert_eq!(identity.subject().as_deref(), want, "{name}");
        assert_eq!(
            Value::Object((*identity.claims).clone()),
            claims,
            "{name}: the identity carries the verified claims unchanged"
        );
    }
}

#[test]
fn rejections_map_to_the_contract_status_and_detail() {
    #[rustfmt::skip]
    let cases: Vec<(AuthError, u16, &str)> = vec![
        (AuthError::BadHeader(BAD_HEADER.into()), 422, BAD_HEADER),
        (AuthError::MissingToken(MISSING_HEADER.into()), 401, MISSING_HEADER),
        (AuthError::Decode(DecodeError::Expired), 422, "Signature has expired"),
        (AuthError::WrongType(TokenType::Access), 422, "Only access tokens are allowed"),
        (AuthError::WrongType(TokenType::Refresh), 422, "Only refresh tokens are allowed"),
        (AuthError::MissingClaim("type"), 422, "Missing claim: type"),
        (AuthError::NotFresh, 401, "Fresh token required"),
    ];
    for (error, status, detail) in cases {
        assert_eq!(error.status().as_u16(), status, "status of {error:?}");
        assert_eq!(error.detail(), detail, "detail of {error:?}");
    }
}
