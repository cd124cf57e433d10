//! `[revocation]`'s pure part: key templates, how values read, and the answer's place in the
//! decision (after decoding, before the type check; `token_checks`; fail closed when no lookup
//! was made).

use super::*;
use crate::auth::revocation::{KeyTemplate, RevokedWhen, Stored, TemplateError, TokenChecks};

const ALL: &[&str] = &["jti", "sub", "token"];

fn rules(key: &str, when: RevokedWhen, cutoff: Option<&str>) -> Arc<RevocationRules> {
    Arc::new(RevocationRules {
        key: KeyTemplate::parse(key, ALL).expect("a valid template"),
        revoked_when: when,
        cutoff: cutoff.map(|c| KeyTemplate::parse(c, &["sub"]).expect("a valid cutoff")),
    })
}

fn claims(value: Value) -> Claims {
    let Value::Object(map) = value else {
        panic!("claims are an object")
    };
    map
}

fn text(value: &str) -> Stored {
    Stored::Text(value.as_bytes().to_vec())
}

#[test]
fn templates_are_validated() {
    #[rustfmt::skip]
    let rows: Vec<(&str, Result<(), TemplateError>)> = vec![
        ("{jti}", Ok(())),
        ("revoked:{token}", Ok(())),
        ("{sub}:{jti}", Ok(())),
        ("", Err(TemplateError::Empty)),
        ("revoked", Err(TemplateError::NoPlaceholder)),
        ("{user}", Err(TemplateError::Unknown("user".into()))),
        ("{jti", Err(TemplateError::Unclosed)),
    ];
    for (template, want) in rows {
        let got = KeyTemplate::parse(template, ALL).map(drop);
        assert_eq!(got, want, "template {template:?}");
    }
    let cutoff = KeyTemplate::parse("logout:{jti}", &["sub"]).map(drop);
    assert_eq!(
        cutoff,
        Err(TemplateError::Unknown("jti".into())),
        "a cutoff key may only use {{sub}}"
    );
}

#[test]
fn keys_are_rendered_from_the_claims_or_refused_with_the_librarys_answer() {
    let r = rules(
        "{sub}|{jti}|{token}",
        RevokedWhen::Exists,
        Some("all:{sub}"),
    );
    let base = claims(json!({"sub": "al ice\n", "jti": 7}));
    let keys = r.keys(&base, b"tok").expect("keys");
    assert_eq!(
        keys.primary,
        b"al ice\n|7|tok".to_vec(),
        "spaces, newlines and numbers are kept verbatim"
    );
    assert_eq!(
        keys.cutoff,
        Some(b"all:al ice\n".to_vec()),
        "the cutoff key"
    );
    #[rustfmt::skip]
    let rows = vec![
        (json!({"sub": "a"}), AuthError::MissingClaim("jti")),
        (json!({"jti": "j"}), AuthError::MissingClaim("sub")),
        (json!({"jti": "j", "sub": null}), AuthError::MissingClaim("sub")),
        (json!({"jti": ["j"], "sub": "a"}), AuthError::BadClaim("jti")),
        (json!({"jti": "j", "sub": {"id": 1}}), AuthError::BadClaim("sub")),
    ];
    for (value, want) in rows {
        assert_eq!(
            r.keys(&claims(value.clone()), b"t"),
            Err(want.clone()),
            "claims {value}"
        );
    }
}

#[test]
fn values_read_as_each_rule_says() {
    let c = claims(json!({"iat": NOW}));
    let absent = Stored::Absent;
    #[rustfmt::skip]
    let rows = vec![
        ("exists: a key is revoked", RevokedWhen::Exists, text(""), absent.clone(), Verdict::Revoked),
        ("exists: no key is clear", RevokedWhen::Exists, absent.clone(), absent.clone(), Verdict::Clear),
        ("equals: the value revokes", RevokedWhen::Equals(b"true".to_vec()), text("true"), absent.clone(), Verdict::Revoked),
        ("equals: another value is clear", RevokedWhen::Equals(b"true".to_vec()), text("false"), absent.clone(), Verdict::Clear),
        ("equals: no key is clear", RevokedWhen::Equals(b"true".to_vec()), absent.clone(), absent.clone(), Verdict::Clear),
        ("missing: no key is revoked", RevokedWhen::Missing, absent.clone(), absent.clone(), Verdict::Revoked),
        ("missing: a key is clear", RevokedWhen::Missing, text("1"), absent.clone(), Verdict::Clear),
        ("a value of the wrong type revokes (fail closed)", RevokedWhen::Missing, Stored::WrongType, absent.clone(), Verdict::Revoked),
        ("a cutoff at iat revokes", RevokedWhen::Exists, absent.clone(), text(&NOW.to_string()), Verdict::Revoked),
        ("a cutoff after iat revokes", RevokedWhen::Exists, absent.clone(), text(&(NOW + 1).to_string()), Verdict::Revoked),
        ("a cutoff before iat is clear", RevokedWhen::Exists, absent.clone(), text(&(NOW - 1).to_string()), Verdict::Clear),
        ("a fractional cutoff is read", RevokedWhen::Exists, absent.clone(), text(&format!("{}.5", NOW - 1)), Verdict::Clear),
        ("a cutoff that is not a number revokes (fail closed)", RevokedWhen::Exists, absent.clone(), text("soon"), Verdict::Revoked),
        ("a cutoff of the wrong type revokes (fail closed)", RevokedWhen::Exists, absent.clone(), Stored::WrongType, Verdict::Revoked),
    ];
    for (name, when, primary, cutoff, want) in rows {
        let r = rules("{jti}", when, Some("all:{sub}"));
        assert_eq!(r.judge(&c, &primary, &cutoff), want, "{name}");
    }
    let no_iat = claims(json!({}));
    let r = rules("{jti}", RevokedWhen::Exists, Some("all:{sub}"));
    assert_eq!(
        r.judge(&no_iat, &Stored::Absent, &text("1")),
        Verdict::Revoked,
        "a cutoff and no iat fails closed"
    );
}

/// A name, the settings, the route's policy, the token's claims, the answer, and the result.
type Row<'s> = (
    &'static str,
    &'s AuthSettings,
    Policy,
    Value,
    Revocation,
    Result<(), (u16, &'static str)>,
);

#[test]
fn the_answer_is_consulted_at_the_denylist_step_for_the_checked_types() {
    let refresh_only = TokenChecks {
        access: false,
        refresh: true,
    };
    let store = Some(rules("{jti}", RevokedWhen::Exists, None));
    let both = built(|b| b.revocation(TokenChecks::default(), store.clone()));
    let refresh_checked = built(|b| b.revocation(refresh_only, store.clone()));
    let file = built(|b| {
        b.denylist(denylist(["0d1f6d0e-5f0c-4e55-9a3e-7f2b8c1d2e3f"]))
            .revocation(refresh_only, None)
    });
    let no_jti = unset(access(), &["jti"]);
    let revoked = Revocation::Answered(Verdict::Revoked);
    let clear = Revocation::Answered(Verdict::Clear);
    let down = Revocation::Answered(Verdict::Unavailable);
    #[rustfmt::skip]
    let rows: Vec<Row<'_>> = vec![
        ("revoked is 401", &both, Policy::Access, access(), revoked.clone(), Err((401, REVOKED))),
        ("revoked beats the wrong type", &both, Policy::Access, refresh(), revoked.clone(), Err((401, REVOKED))),
        ("clear goes on to the type check", &both, Policy::Access, refresh(), clear.clone(), Err((422, ONLY_ACCESS))),
        ("clear is accepted", &both, Policy::Access, access(), clear.clone(), Ok(())),
        ("unavailable is 503", &both, Policy::Access, access(), down.clone(), Err((503, "Revocation check unavailable"))),
        ("no lookup fails closed", &both, Policy::Access, access(), Revocation::Unchecked, Err((503, "Revocation check unavailable"))),
        ("no lookup and no jti is the missing claim", &both, Policy::Access, no_jti.clone(), Revocation::Unchecked, Err((422, "Missing claim: jti"))),
        ("skipped (explain --no-revocation) passes", &both, Policy::Access, access(), Revocation::Skipped, Ok(())),
        ("an access token outside token_checks is not asked", &refresh_checked, Policy::Access, access(), Revocation::Unchecked, Ok(())),
        ("a refresh token in token_checks is", &refresh_checked, Policy::Refresh, refresh(), revoked.clone(), Err((401, REVOKED))),
        ("token_checks also governs the denylist file", &file, Policy::Access, access(), Revocation::Unchecked, Ok(())),
    ];
    for (name, settings, policy, claims, answer, want) in rows {
        let got = decide_reporting_with(
            settings,
            policy.into(),
            TokenAt::Http(&Method::GET, None),
            &bearer(&hs256(&claims)),
            NOW_MS,
            &answer,
        )
        .map(drop)
        .map_err(|(e, _)| (e.status().as_u16(), e.detail().into_owned()));
        let want = want.map_err(|(s, d)| (s, d.to_owned()));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn a_lookup_is_asked_for_exactly_when_the_decision_will_consult_it() {
    let store = Some(rules("{jti}", RevokedWhen::Exists, None));
    let settings = built(|b| {
        b.revocation(
            TokenChecks {
                access: true,
                refresh: false,
            },
            store.clone(),
        )
    });
    let at = TokenAt::Http(&Method::GET, None);
    let ask = |policy: Policy, h: &HeaderMap| {
        revocation_claims(&settings, policy.into(), at, h, NOW_MS).is_some()
    };
    assert!(
        ask(Policy::Access, &bearer(&hs256(&access()))),
        "a valid access token is looked up"
    );
    assert!(
        !ask(Policy::Access, &bearer(&hs256(&refresh()))),
        "a refresh token outside token_checks is not"
    );
    assert!(
        !ask(Policy::Access, &HeaderMap::new()),
        "no token, no lookup"
    );
    assert!(
        !ask(Policy::Public, &bearer(&hs256(&access()))),
        "a public route checks nothing"
    );
    let expired = set(access(), json!({"exp": NOW - 60}));
    assert!(
        !ask(Policy::Access, &bearer(&hs256(&expired))),
        "an expired token fails before the lookup"
    );
    let plain = built(|b| b);
    assert!(
        revocation_claims(
            &plain,
            Policy::Access.into(),
            at,
            &bearer(&hs256(&access())),
            NOW_MS
        )
        .is_none(),
        "no store, no lookup"
    );
}
