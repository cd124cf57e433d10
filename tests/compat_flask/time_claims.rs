//! `iat`, `nbf` and `exp` of every JSON type (Python's `int()` decides what is a number), their
//! boundaries (`exp == now` has expired, an `iat` ahead is refused), their order, and expiry
//! answered only after the claims PyJWT checks later.

use serde_json::{json, Value};

use crate::case::Expect::*;
use crate::case::*;
use crate::side::Sides;
use crate::support::forge::{b64, sign_input, HS256_HEADER};
use crate::support::{now, ClaimsExt};
use crate::{access, refresh};

/// One claim set to values of every JSON type, with a valid value `base` for it.
#[rustfmt::skip]
fn type_cases(claim: &str, base: i64) -> Vec<Case> {
    let with = |value: Value| to("/protected").bearer(access(true).set(claim, value).token());
    let values: Vec<(&str, Value)> = vec![
        ("an integer", json!(base)),
        ("a float", json!(base as f64 + 0.5)),
        ("a numeric string", json!(base.to_string())),
        ("a numeric string with spaces around", json!(format!(" {base} "))),
        ("a numeric string with a plus sign", json!(format!("+{base}"))),
        ("a decimal string", json!(format!("{base}.5"))),
        ("a word", json!("soon")),
        ("an empty string", json!("")),
        ("a hexadecimal string", json!("0x10")),
        ("null", Value::Null),
        ("true (Python's 1)", json!(true)),
        ("false (Python's 0)", json!(false)),
        ("a list", json!([base])),
        ("an object", json!({"a": 1})),
        ("an integer beyond 64 bits", json!(1e30)),
    ];
    values
        .into_iter()
        .map(|(what, value)| row(format!("{claim} as {what}"), with(value), Same))
        .chain([row(format!("no {claim}"), to("/protected").bearer(access(true).unset(claim).token()), Same)])
        .collect()
}

/// Times at and around now, and which time check comes first.
#[rustfmt::skip]
fn boundary_cases(now: i64) -> Vec<Case> {
    let token = |edit: &dyn Fn(serde_json::Map<String, Value>) -> serde_json::Map<String, Value>| edit(access(true)).token();
    let infinite = |claim: &str| {
        let text = access(true).text().replacen(&format!("\"{claim}\":"), &format!("\"{claim}\":1e400,\"was\":"), 1);
        sign_input(&format!("{}.{}", b64(HS256_HEADER), b64(text)))
    };
    vec![
        row("exp == now has expired (exp <= now)", to("/protected").bearer(token(&|c| c.set("exp", json!(now)))), Same),
        row("exp a second ago has expired", to("/protected").bearer(token(&|c| c.set("exp", json!(now - 1)))), Same),
        row("exp 60 s ago is 401 Token has expired", to("/protected").bearer(token(&|c| c.set("exp", json!(now - 60)))), Same),
        row("exp 60 s ago is 401 on the optional route", to("/partially-protected").bearer(token(&|c| c.set("exp", json!(now - 60)))), Same),
        row("exp 60 s ago is 401 on the fresh route", to("/protected-fresh").bearer(token(&|c| c.set("exp", json!(now - 60)))), Same),
        row("exp 60 s ago is 401 on the refresh route", to("/refresh").bearer(refresh().set("exp", json!(now - 60)).token()), Same),
        row("exp as a numeric string in the past has expired", to("/protected").bearer(token(&|c| c.set("exp", json!((now - 60).to_string())))), Same),
        row("exp 0 has expired", to("/protected").bearer(token(&|c| c.set("exp", json!(0)))), Same),
        row("exp -0.5 is truncated to 0: expired", to("/protected").bearer(token(&|c| c.set("exp", json!(-0.5)))), Same),
        row("exp 0.9 s into the past second is truncated: expired", to("/protected").bearer(token(&|c| c.set("exp", json!(now as f64 - 0.1)))), Same),
        // Documented difference (README): Python reads 1e400 as a float infinity; serde_json
        // refuses the payload. Both answer 422.
        row("exp 1e400 (a float infinity) is not an integer", to("/protected").bearer(infinite("exp")), BothRefuseOtherText(422, OUT_OF_RANGE)),
        row("iat 1e400 (a float infinity) is not an integer", to("/protected").bearer(infinite("iat")), BothRefuseOtherText(422, OUT_OF_RANGE)),
        row("iat an hour ahead is 422 not yet valid (iat)", to("/protected").bearer(token(&|c| c.set("iat", json!(now + 3600)))), Same),
        row("iat 5 s ahead is 422 not yet valid (iat)", to("/protected").bearer(token(&|c| c.set("iat", json!(now + 5)))), Same),
        row("iat ahead as a numeric string is 422", to("/protected").bearer(token(&|c| c.set("iat", json!((now + 3600).to_string())))), Same),
        row("nbf 60 s ahead is 422 not yet valid (nbf)", to("/protected").bearer(token(&|c| c.set("nbf", json!(now + 60)))), Same),
        row("nbf 5 s ahead is 422 not yet valid (nbf)", to("/protected").bearer(token(&|c| c.set("nbf", json!(now + 5)))), Same),
        row("nbf == now is valid", to("/protected").bearer(token(&|c| c.set("nbf", json!(now)))), Same),
        row("iat is checked before nbf", to("/protected").bearer(token(&|c| c.set("iat", json!(now + 60)).set("nbf", json!(now + 60)))), Same),
        row("an iat that is not a number comes before an nbf ahead", to("/protected").bearer(token(&|c| c.set("iat", json!("x")).set("nbf", json!(now + 60)))), Same),
        row("nbf is checked before exp", to("/protected").bearer(token(&|c| c.set("nbf", json!(now + 60)).set("exp", json!(now - 60)))), Same),
        row("iat ahead comes before an expired exp", to("/protected").bearer(token(&|c| c.set("iat", json!(now + 60)).set("exp", json!(now - 60)))), Same),
        row("no exp, iat or nbf is accepted", to("/protected").bearer(token(&|c| c.unset("exp").unset("iat").unset("nbf"))), Same),
        row("an expired token without sub is 422 Missing claim: sub (expiry comes last)", to("/protected").bearer(token(&|c| c.set("exp", json!(now - 60)).unset("sub"))), Same),
        row("an expired token with a numeric sub is 422 Subject must be a string", to("/protected").bearer(token(&|c| c.set("exp", json!(now - 60)).set("sub", json!(5)))), Same),
        row("an expired token with a numeric jti is 422 JWT ID must be a string", to("/protected").bearer(token(&|c| c.set("exp", json!(now - 60)).set("jti", json!(5)))), Same),
        row("an expired refresh token on an access route is 401 Token has expired (before the type)", to("/protected").bearer(refresh().set("exp", json!(now - 60)).token()), Same),
    ]
}

#[tokio::test]
async fn freshgate_reads_time_claims_like_flask_jwt_extended() {
    let sides = Sides::start(vec![]).await;
    let now = now();
    let mut cases = type_cases("iat", now - 10);
    cases.extend(type_cases("nbf", now - 10));
    cases.extend(type_cases("exp", now + 900));
    cases.extend(boundary_cases(now));
    sides.judge("time claims", cases).await;
}

/// freshgate's text for a payload number beyond the double range.
const OUT_OF_RANGE: &str = "Invalid payload string: number out of range";
