//! The claims PyJWT 2.15 checks that 0.5.0 did not, with no issuer or audience configured: a
//! `sub` or a `jti` that is present and not a string (`Subject must be a string`, `JWT ID must be
//! a string`, after `aud`), a falsy `aud` that is now accepted, an `iss` that nobody checks, and
//! where these come in the order of checks.

use serde_json::{json, Value};

use crate::case::Expect::*;
use crate::case::*;
use crate::fork;
use crate::gateway::Stack;
use crate::judge::assert_cases;
use crate::support::{now, ClaimsExt};
use crate::{access, refresh};

/// `sub` and `jti` of every JSON type on the access route (absent is fine for both).
fn sub_and_jti_rows() -> Vec<Case> {
    let mut rows = Vec::new();
    for (what, value) in [
        ("42", json!(42)),
        ("0", json!(0)),
        ("null", Value::Null),
        ("4.5", json!(4.5)),
        ("true", json!(true)),
        ("a list", json!(["alice"])),
        ("an object", json!({"id": 1})),
        ("an empty string", json!("")),
    ] {
        let sub = access(true).set("sub", value.clone()).token();
        let jti = access(true).set("jti", value).token();
        rows.push(row(
            format!("sub {what}"),
            to("/protected").bearer(sub),
            Same,
        ));
        rows.push(row(
            format!("jti {what}"),
            to("/protected").bearer(jti),
            Same,
        ));
    }
    rows.push(row(
        "no jti is fine",
        to("/protected").bearer(access(true).unset("jti").token()),
        Same,
    ));
    rows
}

#[rustfmt::skip]
fn sub_and_jti_route_rows() -> Vec<Case> {
    let sub = || access(true).set("sub", json!(42));
    vec![
        row("an integer sub is refused on the optional route", to("/partially-protected").bearer(sub().token()), Same),
        row("an integer sub is refused on the fresh route", to("/protected-fresh").bearer(sub().token()), Same),
        row("an integer sub is refused on the refresh route", to("/refresh").bearer(refresh().set("sub", json!(42)).token()), Same),
        row("a null sub is refused on the refresh route", to("/refresh").bearer(refresh().set("sub", Value::Null).token()), Same),
        row("an integer jti is refused on the refresh route", to("/refresh").bearer(refresh().set("jti", json!(42)).token()), Same),
        row("a null jti is refused on the optional route", to("/partially-protected").bearer(access(true).set("jti", Value::Null).token()), Same),
        row("a past exp is refused before an integer sub", to("/protected").bearer(sub().set("exp", json!(now() - 60)).token()), Same),
        row("an aud (none configured) is refused before an integer sub", to("/protected").bearer(sub().set("aud", json!("x")).token()), Same),
        row("an integer sub is refused before an integer jti", to("/protected").bearer(sub().set("jti", json!(42)).token()), Same),
        row("an integer sub is refused before the type check", to("/protected").bearer(refresh().set("sub", json!(42)).token()), Same),
        // 0.5.0 crashed here (KeyError 'type'); decode now refuses the token first.
        row("an integer sub is refused before a missing type crashes the library", to("/protected").bearer(sub().unset("type").token()), Same),
        // 0.5.0 crashed here (KeyError 'fresh'); decode now refuses the token first.
        row("a null jti is refused before a missing fresh crashes the library", to("/protected-fresh").bearer(access(true).set("jti", Value::Null).unset("fresh").token()), Same),
    ]
}

/// With no audience configured, PyJWT 2 accepts a falsy `aud` and refuses a truthy one.
fn aud_rows() -> Vec<Case> {
    let mut rows = Vec::new();
    for (what, value) in [
        ("an empty string", json!("")),
        ("an empty list", json!([])),
        ("null", Value::Null),
        ("0", json!(0)),
        ("false", json!(false)),
        ("an empty object", json!({})),
        ("a string", json!("x")),
        ("a list", json!(["x"])),
        ("a number", json!(5)),
    ] {
        let access_token = access(true).set("aud", value.clone()).token();
        let refresh_token = refresh().set("aud", value).token();
        rows.push(row(
            format!("no audience configured: aud {what}"),
            to("/protected").bearer(access_token),
            Same,
        ));
        rows.push(row(
            format!("no audience configured: aud {what} on the refresh route"),
            to("/refresh").bearer(refresh_token),
            Same,
        ));
    }
    rows
}

/// With no issuer configured, `iss` of any type is nobody's business.
fn iss_rows() -> Vec<Case> {
    [
        ("5", json!(5)),
        ("null", Value::Null),
        ("a list", json!(["a"])),
        ("true", json!(true)),
        ("an object", json!({})),
    ]
    .into_iter()
    .map(|(what, value)| {
        row(
            format!("no issuer configured: iss {what} is fine"),
            to("/protected").bearer(access(true).set("iss", value).token()),
            Same,
        )
    })
    .collect()
}

#[tokio::test]
async fn fork_and_freshgate_agree_on_sub_jti_and_aud_without_an_audience() {
    let app = fork::start(&[]).await;
    let stack = Stack::start("").await;
    let mut cases = sub_and_jti_rows();
    cases.extend(sub_and_jti_route_rows());
    cases.extend(aud_rows());
    cases.extend(iss_rows());
    assert_cases("sub, jti and aud", &app, &stack, cases).await;
}
