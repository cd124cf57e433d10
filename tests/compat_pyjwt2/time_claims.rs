//! `iat`, `nbf` and `exp` as PyJWT 2.15 reads them: a future `iat` is refused (checked first),
//! `exp == now` has expired, and a time that `int()` refuses with a TypeError or an
//! OverflowError (`null`, a list, an object, ±infinity) gets PyJWT's "must be an integer" text
//! instead of Python's. Every JSON type of each claim, on every kind of route.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::Algorithm;
use serde_json::{json, Map, Value};

use crate::case::Expect::*;
use crate::case::*;
use crate::fork;
use crate::gateway::Stack;
use crate::judge::assert_cases;
use crate::support::forge::{raw_token, HS256_HEADER};
use crate::support::{now, ClaimsExt, SECRET};
use crate::{access, refresh};

/// A token whose `claim` is the raw JSON text `value` (numbers serde_json cannot hold: `1e400`,
/// `10^30`), signed like the library's.
fn with_raw(claims: Map<String, Value>, claim: &str, value: &str) -> String {
    let text = claims
        .set(claim, json!("@raw@"))
        .text()
        .replace("\"@raw@\"", value);
    raw_token(HS256_HEADER, &text, Algorithm::HS256, SECRET)
}

/// The values of every JSON type tried for each time claim, as raw JSON text.
fn values() -> Vec<(&'static str, String)> {
    let later = now() + 900;
    vec![
        ("null", "null".into()),
        ("true", "true".into()),
        ("false", "false".into()),
        ("0", "0".into()),
        ("-1", "-1".into()),
        ("an empty string", r#""""#.into()),
        (
            "a number in a string with spaces around it",
            format!("\" {later} \""),
        ),
        ("a decimal string", r#""1.5""#.into()),
        ("a hex string", r#""0x10""#.into()),
        ("a word", r#""soon""#.into()),
        ("an empty list", "[]".into()),
        ("a list", "[1]".into()),
        ("an object", "{}".into()),
        ("10^30", format!("1{}", "0".repeat(30))),
        ("-10^30", format!("-1{}", "0".repeat(30))),
        ("1e300", "1e300".into()),
        ("1e400 (infinity to Python)", "1e400".into()),
        ("-1e400", "-1e400".into()),
        ("1.0", "1.0".into()),
    ]
}

/// Every value of [`values`] as each time claim, on the access route.
fn every_type_rows() -> Vec<Case> {
    let mut rows = Vec::new();
    for claim in ["iat", "nbf", "exp"] {
        for (what, value) in values() {
            // Documented difference (README): Python reads 1e400 as a float infinity;
            // serde_json refuses the payload. Both answer 422.
            let expect = match value.contains("e400") {
                true => BothRefuseOtherText(422, "Invalid payload string: number out of range"),
                false => Same,
            };
            rows.push(row(
                format!("{claim} {what}"),
                to("/protected").bearer(with_raw(access(true), claim, &value)),
                expect,
            ));
        }
    }
    rows
}

#[rustfmt::skip]
fn future_iat_rows() -> Vec<Case> {
    let now = now();
    let hour = now + 3600;
    vec![
        row("iat an hour ahead is not yet valid on the access route", to("/protected").bearer(access(true).set("iat", json!(hour)).token()), Same),
        row("iat an hour ahead is not yet valid on the fresh route", to("/protected-fresh").bearer(access(true).set("iat", json!(hour)).token()), Same),
        row("iat an hour ahead is not yet valid on the optional route", to("/partially-protected").bearer(access(true).set("iat", json!(hour)).token()), Same),
        row("iat an hour ahead is not yet valid on the refresh route", to("/refresh").bearer(refresh().set("iat", json!(hour)).token()), Same),
        row("iat an hour ahead as a numeric string is not yet valid", to("/protected").bearer(access(true).set("iat", json!(hour.to_string())).token()), Same),
        row("iat an hour ahead as a float is not yet valid", to("/protected").bearer(access(true).set("iat", json!(hour as f64 + 0.5)).token()), Same),
        row("iat 10^30 is not yet valid", to("/protected").bearer(with_raw(access(true), "iat", &format!("1{}", "0".repeat(30)))), Same),
        row("a future iat is refused before a future nbf", to("/protected").bearer(access(true).set("iat", json!(hour)).set("nbf", json!(hour)).token()), Same),
        row("a future iat is refused before a past exp", to("/protected").bearer(access(true).set("iat", json!(hour)).set("exp", json!(now - 60)).token()), Same),
        row("a future iat is refused before a non-string sub", to("/protected").bearer(access(true).set("iat", json!(hour)).set("sub", json!(42)).token()), Same),
        row("a future iat is refused before the type check", to("/refresh").bearer(access(true).set("iat", json!(hour)).token()), Same),
        row("iat an hour ago is fine", to("/protected").bearer(access(true).set("iat", json!(now - 3600)).token()), Same),
        row("iat null is refused before nbf null", to("/protected").bearer(access(true).set("iat", Value::Null).set("nbf", Value::Null).token()), Same),
        row("nbf null is refused before exp null", to("/protected").bearer(access(true).set("nbf", Value::Null).set("exp", Value::Null).token()), Same),
        row("exp null on the refresh route", to("/refresh").bearer(refresh().set("exp", Value::Null).token()), Same),
        row("exp null on the optional route", to("/partially-protected").bearer(access(true).set("exp", Value::Null).token()), Same),
        row("exp -0.5 truncates to 0 and has expired", to("/protected").bearer(access(true).set("exp", json!(-0.5)).token()), Same),
        row("exp 2.5 s ago has expired", to("/protected").bearer(access(true).set("exp", json!(now as f64 - 2.5)).token()), Same),
    ]
}

#[tokio::test]
async fn fork_and_freshgate_agree_on_time_claims_of_every_json_type() {
    let app = fork::start(&[]).await;
    let stack = Stack::start("").await;
    let mut cases = every_type_rows();
    cases.extend(future_iat_rows());
    assert_cases("time claims", &app, &stack, cases).await;
}

/// Waits until a new second has just begun, so that rows made now are judged within the same
/// second (the boundaries below are whole seconds; the rows take well under one).
async fn start_of_a_second() {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    let into = Duration::from_nanos(u64::from(since.subsec_nanos()));
    tokio::time::sleep(Duration::from_secs(1) - into + Duration::from_millis(20)).await;
}

#[tokio::test]
async fn fork_and_freshgate_agree_on_the_second_of_exp_and_iat() {
    let app = fork::start(&[]).await;
    let stack = Stack::start("").await;
    start_of_a_second().await;
    let now = now();
    let half_ahead = (now as f64) + 0.5;
    #[rustfmt::skip]
    let cases = vec![
        row("exp == now has expired", to("/protected").bearer(access(true).set("exp", json!(now)).token()), Same),
        row("exp == now has expired on the refresh route", to("/refresh").bearer(refresh().set("exp", json!(now)).token()), Same),
        row("exp half a second ahead truncates to now and has expired", to("/protected").bearer(access(true).set("exp", json!(half_ahead)).token()), Same),
        row("exp == now + 2 is still valid", to("/protected").bearer(access(true).set("exp", json!(now + 2)).token()), Same),
        row("iat == now + 1 is not yet valid", to("/protected").bearer(access(true).set("iat", json!(now + 1)).token()), Same),
        row("iat == now is fine", to("/protected").bearer(access(true).set("iat", json!(now)).token()), Same),
        row("nbf == now + 1 is not yet valid", to("/protected").bearer(access(true).set("nbf", json!(now + 1)).token()), Same),
    ];
    assert_cases("the second of exp and iat", &app, &stack, cases).await;
}
