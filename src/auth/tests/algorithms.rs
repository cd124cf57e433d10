//! Accepted algorithms, including the rows where the library answers 500.

use super::*;

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
