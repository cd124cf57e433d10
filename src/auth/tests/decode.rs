//! Decoding: PyJWT 1.7.1's failures, messages and order, its time-claim rules and leeway.

use super::*;

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
