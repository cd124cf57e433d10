//! Report mode's identity: [`decide_reporting`]'s `Err((error, identity))` carries the verified
//! identity when the rejection came after verification (revoked, wrong type, not fresh, the
//! `csrf` claim, CSRF mismatch), so a report-mode route forwards who the user is; and `None`
//! when the rejection came before (missing token or cookie, bad header, missing CSRF header,
//! token too large, any decode failure).

use super::*;

const CSRF: &str = "report-csrf";

/// The identity a rejection should carry: `None`, or the subject, type and freshness of the
/// verified token.
type Carried = Option<(&'static str, TokenType, bool)>;

/// One rejected request and what the rejection should carry.
struct Row {
    name: &'static str,
    rule: Rule,
    method: Method,
    headers: HeaderMap,
    status: u16,
    detail: &'static str,
    identity: Carried,
}

fn row(
    name: &'static str,
    policy: Policy,
    method: Method,
    headers: HeaderMap,
    rejected: (u16, &'static str),
    identity: Carried,
) -> Row {
    Row {
        name,
        rule: policy.into(),
        method,
        headers,
        status: rejected.0,
        detail: rejected.1,
        identity,
    }
}

/// Why a row disagrees, or `None`.
fn disagreement(settings: &AuthSettings, r: &Row) -> Option<String> {
    let got = decide_reporting(settings, r.rule, &r.method, &r.headers, NOW_MS);
    let label = format!("{} [{} {}]", r.name, r.method, r.rule.policy);
    let Err((error, identity)) = got else {
        return Some(format!("  {label}: accepted, want a rejection"));
    };
    let carried = identity.as_ref().map(|id| {
        (
            id.subject().map(|s| s.into_owned()),
            id.token_type,
            id.fresh,
        )
    });
    let want = r
        .identity
        .map(|(sub, t, fresh)| (Some(sub.to_owned()), t, fresh));
    let ok = error.status().as_u16() == r.status && error.detail() == r.detail && carried == want;
    (!ok).then(|| {
        format!(
            "  {label}\n    want: {} {:?} carrying {want:?}\n    got:  {} {:?} carrying {carried:?}",
            r.status,
            r.detail,
            error.status().as_u16(),
            error.detail()
        )
    })
}

fn check_rows(settings: &AuthSettings, rows: Vec<Row>) {
    let total = rows.len();
    let failures: Vec<String> = rows
        .into_iter()
        .filter_map(|r| disagreement(settings, &r))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {total} rows carry the wrong identity or error:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `claims` for subject `sub`.
fn named(claims: Value, sub: &str) -> Value {
    set(claims, json!({ "sub": sub }))
}

#[test]
fn rejections_after_verification_carry_the_verified_identity() {
    let settings = built(|b| b.locations(true, true).denylist(denylist(["revoked-jti"])));
    let token = |claims: Value| bearer(&hs256(&claims));
    let cookie_of = |claims: Value| cookie(&format!("access_token_cookie={}", hs256(&claims)));
    let revoked = |claims: Value| set(claims, json!({"jti": "revoked-jti"}));
    let csrf = |claims: Value| set(claims, json!({ "csrf": CSRF }));
    let (access_t, refresh_t) = (TokenType::Access, TokenType::Refresh);
    #[rustfmt::skip]
    let rows = vec![
        row("a revoked access token carries its identity", Policy::Access, Method::GET, token(revoked(named(access(), "rev"))), (401, REVOKED), Some(("rev", access_t, false))),
        row("a revoked refresh token on an access route carries a refresh identity", Policy::Access, Method::GET, token(revoked(named(refresh(), "rev-r"))), (401, REVOKED), Some(("rev-r", refresh_t, false))),
        row("a revoked fresh token on a fresh route carries a fresh identity", Policy::Fresh, Method::GET, token(revoked(named(fresh_access(), "rev-f"))), (401, REVOKED), Some(("rev-f", access_t, true))),
        row("a token without jti under a denylist carries its identity", Policy::Access, Method::GET, token(named(unset(access(), &["jti"]), "no-jti")), (422, "Missing claim: jti"), Some(("no-jti", access_t, false))),
        row("a refresh token on an access route carries its identity", Policy::Access, Method::GET, token(named(refresh(), "bob")), (422, ONLY_ACCESS), Some(("bob", refresh_t, false))),
        row("a refresh token on an optional route carries its identity", Policy::Optional, Method::GET, token(named(refresh(), "bob")), (422, ONLY_ACCESS), Some(("bob", refresh_t, false))),
        row("an access token on a refresh route carries its identity", Policy::Refresh, Method::GET, token(named(fresh_access(), "carol")), (422, ONLY_REFRESH), Some(("carol", access_t, true))),
        row("a non-fresh token on a fresh route carries its identity", Policy::Fresh, Method::GET, token(named(access(), "dave")), (401, NOT_FRESH), Some(("dave", access_t, false))),
        row("a token without fresh on a fresh route carries a non-fresh identity", Policy::Fresh, Method::GET, token(named(unset(access(), &["fresh"]), "erin")), (401, NOT_FRESH), Some(("erin", access_t, false))),
        row("a cookie token without a csrf claim carries its identity", Policy::Access, Method::POST, cookie_of(named(fresh_access(), "frank")).csrf(CSRF), (422, "Missing claim: csrf"), Some(("frank", access_t, true))),
        row("a cookie token with a mismatching CSRF header carries its identity", Policy::Access, Method::POST, cookie_of(csrf(named(access(), "grace"))).csrf("wrong"), (401, "CSRF double submit tokens do not match"), Some(("grace", access_t, false))),
        row("a mismatching CSRF header on an optional route carries the identity", Policy::Optional, Method::POST, cookie_of(csrf(named(access(), "heidi"))).csrf("wrong"), (401, "CSRF double submit tokens do not match"), Some(("heidi", access_t, false))),
        row("a non-fresh cookie token on a fresh route carries its identity", Policy::Fresh, Method::DELETE, cookie_of(csrf(named(access(), "ivan"))).csrf(CSRF), (401, NOT_FRESH), Some(("ivan", access_t, false))),
        row("an integer subject is carried as its decimal text", Policy::Fresh, Method::GET, token(set(access(), json!({"sub": 42}))), (401, NOT_FRESH), Some(("42", access_t, false))),
        // A type that is neither access nor refresh gives no identity to forward.
        row("a token without a type carries nothing: there is no type to forward", Policy::Access, Method::GET, token(named(unset(access(), &["type"]), "judy")), (422, "Missing claim: type"), None),
        row("a token with an unknown type carries nothing", Policy::Access, Method::GET, token(named(set(access(), json!({"type": "Access"})), "judy")), (422, ONLY_ACCESS), None),
    ];
    check_rows(&settings, rows);
}

#[test]
fn rejections_before_verification_carry_no_identity() {
    let settings = built(|b| b.locations(true, true).max_token_bytes(600));
    let good = hs256(&set(fresh_access(), json!({ "csrf": CSRF })));
    let cookie_token = cookie(&format!("access_token_cookie={good}"));
    let long = hs256(&set(fresh_access(), json!({"pad": "x".repeat(600)})));
    let expired = hs256(&set(fresh_access(), json!({"exp": NOW - 60})));
    let forged = jws(
        HS256_HEADER,
        &fresh_access().to_string(),
        Algorithm::HS256,
        OTHER_SECRET,
    );
    #[rustfmt::skip]
    let rows = vec![
        row("no token carries nothing", Policy::Access, Method::GET, HeaderMap::new(), (401, "Missing cookie access_token_cookie"), None),
        row("an empty cookie carries nothing", Policy::Refresh, Method::GET, cookie("refresh_token_cookie="), (401, "Missing cookie refresh_token_cookie"), None),
        row("a bad Authorization header carries nothing, even beside a good cookie", Policy::Access, Method::GET, cookie_token.clone().authorization("Token x"), (422, BAD_HEADER), None),
        row("a missing CSRF header carries nothing, even with a good cookie", Policy::Access, Method::POST, cookie_token.clone(), (401, "Missing CSRF Token"), None),
        row("a token over max_token_bytes carries nothing", Policy::Access, Method::GET, bearer(&long), (431, "Token too large"), None),
        row("a garbage token carries nothing", Policy::Access, Method::GET, bearer("garbage"), (422, "Not enough segments"), None),
        row("a forged token carries nothing", Policy::Access, Method::GET, bearer(&forged), (422, "Signature verification failed"), None),
        row("an expired token carries nothing", Policy::Fresh, Method::GET, bearer(&expired), (422, "Signature has expired"), None),
        row("an expired cookie token carries nothing", Policy::Access, Method::POST, cookie(&format!("access_token_cookie={expired}")).csrf(CSRF), (422, "Signature has expired"), None),
    ];
    check_rows(&settings, rows);
    let issuer = built_from(decoder_with(|d| d.issuer = Some("iss".into())), |b| b);
    #[rustfmt::skip]
    let rows = vec![
        row("a wrong issuer carries nothing: the claim checks are part of decoding", Policy::Access, Method::GET, bearer(&hs256(&set(access(), json!({"iss": "other"})))), (422, "Invalid issuer"), None),
        row("a missing issuer carries nothing", Policy::Fresh, Method::GET, bearer(&hs256(&fresh_access())), (422, "Token is missing the \"iss\" claim"), None),
    ];
    check_rows(&issuer, rows);
}

#[test]
fn the_carried_identity_holds_the_verified_claims_unchanged() {
    let settings = built(|b| b.denylist(denylist(["revoked-jti"])));
    let claims = set(
        refresh(),
        json!({"jti": "revoked-jti", "roles": ["a", "b"], "org": {"id": 7}}),
    );
    let got = decide_reporting(
        &settings,
        Policy::Access.into(),
        &Method::GET,
        &bearer(&hs256(&claims)),
        NOW_MS,
    );
    let Err((error, Some(identity))) = got else {
        panic!("a revoked token should be rejected with its identity, got {got:?}");
    };
    assert_eq!(error, AuthError::Revoked, "revocation is the rejection");
    assert_eq!(
        Value::Object((*identity.claims).clone()),
        claims,
        "the carried identity has every verified claim, unchanged"
    );
}
