//! The identity of an accepted token, and the status, detail and challenge of every rejection.

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
                describe(&outcome, Profile::default_profile())
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

#[test]
fn every_401_carries_its_challenge_and_other_statuses_none() {
    let five_minutes = Some(std::time::Duration::from_secs(300));
    let step_up = r#"Bearer error="insufficient_user_authentication", error_description="Fresh token required""#;
    let step_up_300 = format!("{step_up}, max_age=300");
    let invalid =
        |detail: &str| format!(r#"Bearer error="invalid_token", error_description="{detail}""#);
    let (revoked, missing_csrf, mismatch) = (
        invalid(REVOKED),
        invalid("Missing CSRF Token"),
        invalid("CSRF double submit tokens do not match"),
    );
    #[rustfmt::skip]
    let cases: Vec<(&str, AuthError, Option<std::time::Duration>, Option<&str>)> = vec![
        ("no token: a bare Bearer challenge", AuthError::MissingToken(MISSING_HEADER.into()), None, Some("Bearer")),
        ("no token on a max_age route: still a bare Bearer", AuthError::MissingToken(MISSING_HEADER.into()), five_minutes, Some("Bearer")),
        ("no cookie: a bare Bearer challenge", AuthError::MissingCookie("access_token_cookie".into()), None, Some("Bearer")),
        ("not fresh: the RFC 9470 step-up challenge", AuthError::NotFresh, None, Some(step_up)),
        ("not fresh on a max_age route: step-up with max_age", AuthError::NotFresh, five_minutes, Some(&step_up_300)),
        ("revoked: invalid_token with the detail", AuthError::Revoked, None, Some(&revoked)),
        ("missing CSRF header: invalid_token with the detail", AuthError::MissingCsrf, None, Some(&missing_csrf)),
        ("CSRF mismatch: invalid_token with the detail", AuthError::CsrfMismatch, None, Some(&mismatch)),
        ("a bad header (422) has no challenge", AuthError::BadHeader(BAD_HEADER.into()), None, None),
        ("a decode failure (422) has no challenge", AuthError::Decode(DecodeError::Expired), None, None),
        ("a wrong type (422) has no challenge", AuthError::WrongType(TokenType::Access), None, None),
        ("a missing claim (422) has no challenge", AuthError::MissingClaim("csrf"), None, None),
        ("a token too large (431) has no challenge", AuthError::TokenTooLarge, None, None),
    ];
    for (name, error, max_age, want) in cases {
        let got = error.challenge(max_age);
        assert_eq!(
            got.as_ref().map(|v| v.to_str().expect("a text challenge")),
            want,
            "{name}"
        );
        assert_eq!(
            got.is_some(),
            error.status().as_u16() == 401,
            "{name}: a challenge exactly on 401s"
        );
    }
}
