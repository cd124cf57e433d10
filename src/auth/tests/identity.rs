//! The identity of an accepted token, and the status and detail of every rejection.

use super::*;

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
        (AuthError::MissingClaim("jti"), 422, "Missing claim: jti"),
        (AuthError::MissingClaim("csrf"), 422, "Missing claim: csrf"),
        (AuthError::TokenTooLarge, 431, "Token too large"),
        (AuthError::MissingCookie("access_token_cookie".into()), 401, "Missing cookie access_token_cookie"),
        (AuthError::MissingCsrf, 401, "Missing CSRF Token"),
        (AuthError::CsrfMismatch, 401, "CSRF double submit tokens do not match"),
        (AuthError::Revoked, 401, "Token has been revoked"),
    ];
    for (error, status, detail) in cases {
        assert_eq!(error.status().as_u16(), status, "status of {error:?}");
        assert_eq!(error.detail(), detail, "detail of {error:?}");
    }
}
