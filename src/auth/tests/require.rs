//! `require` claim requirements and `acr` step-up, applied after the decision table: equality
//! and containment, OAuth scopes, claims of the wrong JSON type, and the order against
//! freshness.

use super::*;

const DENIED: &str = "Not enough permissions";
const STEP_UP: &str = "Insufficient user authentication";

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// `require = { name = values }` for each pair.
fn require(pairs: &[(&str, &[&str])]) -> Requirements {
    pairs
        .iter()
        .fold(Requirements::default(), |r, (name, values)| {
            r.claim(name, strings(values))
        })
}

/// The decision with `requirements` applied: status and detail, or the accepted subject.
fn judged(requirements: &Requirements, rule: Rule, claims: &Value) -> Result<Outcome, AuthError> {
    let settings = default_settings();
    let decision = decide_reporting(
        &settings,
        rule,
        &Method::GET,
        &bearer(&hs256(claims)),
        NOW_MS,
    );
    requirements.judge(decision).map_err(|(error, _)| error)
}

#[test]
fn claim_requirements_hold_by_equality_containment_and_oauth_scopes() {
    let admin = require(&[("roles", &["admin"])]);
    let nested = require(&[("realm_access.roles", &["admin"])]);
    let scoped = require(&[("scope", &["repo:delete", "repo:read"])]);
    let both = require(&[("roles", &["admin"]), ("scope", &["repo:delete"])]);
    let with = |claims: Value| set(access(), claims);
    #[rustfmt::skip]
    let rows: Vec<(&str, &Requirements, Value, Option<u16>)> = vec![
        ("a string claim that equals the value holds", &admin, with(json!({"roles": "admin"})), None),
        ("a string claim that differs does not hold", &admin, with(json!({"roles": "user"})), Some(403)),
        ("a string claim is not searched for the value", &admin, with(json!({"roles": "admin user"})), Some(403)),
        ("an array claim that contains the value holds", &admin, with(json!({"roles": ["user", "admin"]})), None),
        ("an array claim without the value does not hold", &admin, with(json!({"roles": ["user"]})), Some(403)),
        ("an absent claim does not hold", &admin, access(), Some(403)),
        ("a number claim is a 403, never an error", &admin, with(json!({"roles": 1})), Some(403)),
        ("a boolean claim is a 403", &admin, with(json!({"roles": true})), Some(403)),
        ("an object claim is a 403", &admin, with(json!({"roles": {"admin": true}})), Some(403)),
        ("a null claim is a 403", &admin, with(json!({"roles": null})), Some(403)),
        ("array elements are compared as strings only", &admin, with(json!({"roles": [["admin"], {"a": 1}]})), Some(403)),
        ("a dotted path reaches a nested claim", &nested, with(json!({"realm_access": {"roles": ["admin"]}})), None),
        ("a dotted path through a non-object does not hold", &nested, with(json!({"realm_access": "admin"})), Some(403)),
        ("a dotted path is not a claim named with a dot", &nested, with(json!({"realm_access.roles": ["admin"]})), Some(403)),
        ("a space-separated scope with every scope holds", &scoped, with(json!({"scope": "repo:read openid repo:delete"})), None),
        ("a scope string missing one scope does not hold", &scoped, with(json!({"scope": "repo:read"})), Some(403)),
        ("an scp array with every scope holds", &scoped, with(json!({"scp": ["repo:delete", "repo:read"]})), None),
        ("scope and scp together hold", &scoped, with(json!({"scope": "repo:read", "scp": ["repo:delete"]})), None),
        ("a scope prefix is not the scope", &scoped, with(json!({"scope": "repo:delete:all repo:read"})), Some(403)),
        ("a numeric scope is a 403", &scoped, with(json!({"scope": 7})), Some(403)),
        ("every listed requirement must hold", &both, with(json!({"roles": "admin", "scope": "repo:read"})), Some(403)),
        ("every listed requirement holding is accepted", &both, with(json!({"roles": ["admin"], "scope": "repo:delete"})), None),
    ];
    let mut failures = Vec::new();
    for (name, requirements, claims, want) in rows {
        let got = judged(requirements, Policy::Access.into(), &claims);
        let status = got.as_ref().err().map(|e| e.status().as_u16());
        let detail_ok = got.as_ref().err().is_none_or(|e| e.detail() == DENIED);
        if status != want || !detail_ok {
            failures.push(format!(
                "  {name}: want {want:?}, got {}",
                describe(&got, Profile::default_profile())
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "rows disagree:\n{}",
        failures.join("\n")
    );
}

#[test]
fn a_failed_requirement_carries_the_insufficient_scope_challenge() {
    let both = require(&[
        ("roles", &["admin"]),
        ("scope", &["repo:delete", "repo:read"]),
    ]);
    let challenge = |claims: Value| {
        let error = judged(&both, Policy::Access.into(), &set(access(), claims)).unwrap_err();
        let value = error.challenge(None).expect("a 403 carries a challenge");
        value.to_str().unwrap().to_owned()
    };
    assert_eq!(
        challenge(json!({"roles": "admin"})),
        r#"Bearer error="insufficient_scope", error_description="Not enough permissions", scope="repo:delete repo:read""#,
        "a missing scope names the route's scopes"
    );
    assert_eq!(
        challenge(json!({"scope": "repo:delete repo:read"})),
        r#"Bearer error="insufficient_scope", error_description="Not enough permissions""#,
        "a missing role names no scope"
    );
}

/// A case, its claims, and the status and detail it must get (`None`: accepted).
type StepUpRow = (&'static str, Value, Option<(u16, &'static str)>);

#[test]
fn acr_step_up_comes_after_freshness_and_before_permissions() {
    let acr = Requirements::default()
        .acr(strings(&["mfa", "phr"]))
        .claim("roles", strings(&["admin"]));
    let window = Rule {
        policy: Policy::Fresh,
        max_age: Some(std::time::Duration::from_secs(300)),
    };
    let fresh = |claims: Value| set(fresh_access(), claims);
    #[rustfmt::skip]
    let rows: Vec<StepUpRow> = vec![
        ("a listed acr with the role is accepted", fresh(json!({"acr": "mfa", "roles": "admin"})), None),
        ("the other listed acr is accepted", fresh(json!({"acr": "phr", "roles": "admin"})), None),
        ("an unlisted acr is the step-up 401", fresh(json!({"acr": "pwd", "roles": "admin"})), Some((401, STEP_UP))),
        ("an absent acr is the step-up 401", fresh(json!({"roles": "admin"})), Some((401, STEP_UP))),
        ("a list acr is the step-up 401", fresh(json!({"acr": ["mfa"], "roles": "admin"})), Some((401, STEP_UP))),
        ("acr is asked for before the role", fresh(json!({"acr": "pwd"})), Some((401, STEP_UP))),
        ("with acr, the missing role is the 403", fresh(json!({"acr": "mfa"})), Some((403, DENIED))),
        ("a stale token gets the freshness answer first", set(access(), json!({"acr": "pwd"})), Some((401, NOT_FRESH))),
    ];
    let mut failures = Vec::new();
    for (name, claims, want) in rows {
        let got = judged(&acr, window, &claims);
        let seen = got
            .as_ref()
            .err()
            .map(|e| (e.status().as_u16(), e.detail()));
        if seen.as_ref().map(|(s, d)| (*s, d.as_ref())) != want {
            failures.push(format!(
                "  {name}: want {want:?}, got {}",
                describe(&got, Profile::default_profile())
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "rows disagree:\n{}",
        failures.join("\n")
    );
    let error = judged(&acr, window, &fresh(json!({"acr": "pwd"}))).unwrap_err();
    assert_eq!(
        error.challenge(window.max_age).unwrap().to_str().unwrap(),
        r#"Bearer error="insufficient_user_authentication", error_description="Insufficient user authentication", acr_values="mfa phr", max_age=300"#,
        "RFC 9470: acr_values, and max_age with the route's window"
    );
}

#[test]
fn anonymous_and_rejected_requests_are_left_to_the_decision() {
    let admin = require(&[("roles", &["admin"])]);
    let anonymous = admin.judge(Ok(Outcome::Anonymous));
    assert_eq!(
        anonymous,
        Ok(Outcome::Anonymous),
        "optional routes admit no token"
    );
    let got = judged(
        &admin,
        Policy::Access.into(),
        &set(access(), json!({"exp": NOW - 10})),
    );
    assert_eq!(
        got.map_err(|e| e.detail()),
        Err("Signature has expired".into()),
        "decode failures answer before requirements"
    );
}

#[test]
fn a_rejected_requirement_keeps_the_identity_for_report_mode() {
    let admin = require(&[("roles", &["admin"])]);
    let settings = default_settings();
    let decision = decide_reporting(
        &settings,
        Policy::Access.into(),
        &Method::GET,
        &bearer(&hs256(&access())),
        NOW_MS,
    );
    let (error, identity) = admin.judge(decision).unwrap_err();
    assert_eq!(error.status().as_u16(), 403, "the rejection");
    assert_eq!(
        identity.and_then(|i| i.subject().map(|s| s.into_owned())),
        Some("alice".to_owned()),
        "the verified identity travels with it"
    );
}

#[test]
fn requirements_imply_only_what_they_cover() {
    let admin = require(&[("roles", &["admin"])]);
    let admin_write = require(&[("roles", &["admin", "write"])]);
    let mfa = Requirements::default().acr(strings(&["mfa"]));
    let mfa_or_phr = Requirements::default().acr(strings(&["mfa", "phr"]));
    let none = Requirements::default();
    #[rustfmt::skip]
    let rows = [
        ("anything implies nothing", &admin, &none, true),
        ("nothing does not imply a role", &none, &admin, false),
        ("more values imply fewer", &admin_write, &admin, true),
        ("fewer values do not imply more", &admin, &admin_write, false),
        ("a narrower acr list implies a wider one", &mfa, &mfa_or_phr, true),
        ("a wider acr list does not imply a narrower one", &mfa_or_phr, &mfa, false),
        ("no acr does not imply an acr", &none, &mfa, false),
    ];
    for (name, mine, theirs, want) in rows {
        assert_eq!(mine.implies(theirs), want, "{name}");
    }
}
