//! Where flask-jwt-extended crashes with 500 (its bugs), freshgate answers a 4xx with a JSON
//! `msg` and forwards nothing. (The CSRF comparison's crashes are in `cookies.rs`.)

use serde_json::{json, Value};

use crate::access;
use crate::case::Expect::*;
use crate::case::*;
use crate::side::{token_location, Sides};
use crate::support::ClaimsExt;

#[tokio::test]
async fn freshgate_answers_4xx_where_flask_jwt_extended_crashes_with_500() {
    let sides = Sides::start(vec![token_location(&["headers", "cookies"])]).await;
    let t = access(true).token();
    // `_decode_jwt_from_headers`: `s.split()[0]` of a whitespace-only first element (after
    // `strip()` and `strip(",")`) raises IndexError.
    let blank = LibraryCrashes(422, None);
    // `_verify_token_is_fresh`: `fresh < now` for a `fresh` that is neither a bool nor a number
    // raises TypeError; freshgate counts it as not fresh.
    let not_fresh = LibraryCrashes(401, Some("Fresh token required"));
    let fresh =
        |value: Value| to("/protected-fresh").bearer(access(true).set("fresh", value).token());

    #[rustfmt::skip]
    let cases = vec![
        row("`, ,` in the Authorization header is 500 in the library, 422 in freshgate", to("/protected").auth(", ,"), blank.clone()),
        row("`, , Bearer <token>` is 500 in the library, 422 in freshgate", to("/protected").auth(format!(", , Bearer {t}")), blank.clone()),
        row("`,<tab>,Bearer <token>` is 500 in the library, 422 in freshgate", to("/protected").auth(format!(",\t,Bearer {t}")), blank.clone()),
        row("`,<no-break space>,Bearer <token>` is 500 in the library, 422 in freshgate", to("/protected").auth([b",\xa0,Bearer ".as_slice(), t.as_bytes()].concat()), blank.clone()),
        row("`, ,` on the optional route is 500 in the library, 422 in freshgate", to("/partially-protected").auth(", ,"), blank.clone()),
        row("`, ,` beside a good cookie is 500 in the library (the header comes first), 422 in freshgate", to("/protected").auth(", ,").cookie(format!("access_token_cookie={t}")), blank),
        row("a blank element after the first is skipped: `Bearer <token>, ,` is accepted", to("/protected").auth(format!("Bearer {t}, ,")), Same),
        row("a blank element after the first is skipped: `Basic x, ,Bearer <token>` is accepted", to("/protected").auth(format!("Basic x, ,Bearer {t}")), Same),
        row("fresh null on the fresh route is 500 in the library, 401 in freshgate", fresh(Value::Null), not_fresh.clone()),
        row("fresh \"true\" on the fresh route is 500 in the library, 401 in freshgate", fresh(json!("true")), not_fresh.clone()),
        row("fresh \"false\" on the fresh route is 500 in the library, 401 in freshgate", fresh(json!("false")), not_fresh.clone()),
        row("an empty fresh string on the fresh route is 500 in the library, 401 in freshgate", fresh(json!("")), not_fresh.clone()),
        row("a numeric-string fresh on the fresh route is 500 in the library, 401 in freshgate", fresh(json!("99999999999")), not_fresh.clone()),
        row("a list fresh on the fresh route is 500 in the library, 401 in freshgate", fresh(json!([1])), not_fresh.clone()),
        row("an object fresh on the fresh route is 500 in the library, 401 in freshgate", fresh(json!({})), not_fresh),
    ];
    sides.judge("library crashes", cases).await;
}
