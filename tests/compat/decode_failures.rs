//! Tokens that do not decode: segments, padding, JSON, algorithms, signatures, the time claims
//! and `aud` without an audience, each with the library's status and detail, in the library's
//! order of checks.

use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

use crate::app::App;
use crate::case::Expect::*;
use crate::case::*;
use crate::gateway::Stack;
use crate::judge::assert_cases;
use crate::support::forge::{b64, parts, raw_token, sign_input, HS256_HEADER};
use crate::support::{now, ClaimsExt, SECRET};
use crate::{access, refresh, OTHER_SECRET};

#[tokio::test]
async fn freshgate_rejects_undecodable_tokens_with_the_library_s_status_and_detail() {
    let app = App::start(&[]).await;
    let stack = Stack::start("").await;
    let now = now();
    let good = access(true).token();
    let (h, p, s) = parts(&good);
    let payload_text = access(true).text();
    // A header segment that contains `_` (its base64url alphabet), for the standard-alphabet case.
    let underscore_header = (0..64)
        .map(|n| format!(r#"{{"alg":"HS256","typ":"JWT","pad":"{}"}}"#, "?".repeat(n)))
        .find(|header| b64(header).contains('_') || b64(header).contains('-'))
        .expect("some padding puts - or _ into the segment");
    let standard_alphabet = sign_input(&format!(
        "{}.{}",
        b64(&underscore_header).replace('-', "+").replace('_', "/"),
        b64(&payload_text)
    ));

    #[rustfmt::skip]
    let cases = vec![
        row("one segment is Not enough segments", to("/protected").bearer("abc"), Same),
        row("two segments is Not enough segments", to("/protected").bearer("a.b"), Same),
        row("two segments is Not enough segments on the optional route", to("/partially-protected").bearer("a.b"), Same),
        row("a header segment of one character is Invalid header padding", to("/protected").bearer(format!("A.{p}.{s}")), Same),
        row("a header that is not JSON is Invalid header string", to("/protected").bearer(format!("{}.{p}.{s}", b64("not json"))), Same),
        row("a header that is a JSON array is Invalid header string", to("/protected").bearer(format!("{}.{p}.{s}", b64("[1,2]"))), Same),
        row("a header that is a JSON string is Invalid header string", to("/protected").bearer(format!("{}.{p}.{s}", b64("\"HS256\""))), Same),
        row("a header that is not UTF-8 is Invalid header string", to("/protected").bearer(format!("{}.{p}.{s}", b64(b"{\"alg\":\"\xff\"}"))), Same),
        row("a payload segment of one character is Invalid payload padding", to("/protected").bearer(format!("{h}.A.{s}")), Same),
        row("a signature segment of one character is Invalid crypto padding", to("/protected").bearer(format!("{h}.{p}.A")), Same),
        row("header padding is checked before payload padding", to("/protected").bearer("A.A.A"), Same),
        row("a numeric kid is rejected", to("/protected").bearer(access(true).token_under(json!({"typ":"JWT","alg":"HS256","kid":5}))), Same),
        row("a null kid is rejected", to("/protected").bearer(access(true).token_under(json!({"typ":"JWT","alg":"HS256","kid":null}))), Same),
        row("a string kid is fine", to("/protected").bearer(access(true).token_under(json!({"typ":"JWT","alg":"HS256","kid":"k1"}))), Same),
        row("an HS384 token is not allowed when only HS256 is accepted", to("/protected").bearer(raw_token(r#"{"typ":"JWT","alg":"HS384"}"#, &payload_text, Algorithm::HS384, SECRET)), Same),
        row("an HS512 token is not allowed when only HS256 is accepted", to("/protected").bearer(raw_token(r#"{"typ":"JWT","alg":"HS512"}"#, &payload_text, Algorithm::HS512, SECRET)), Same),
        row("an HS384 token is not allowed on the optional route either", to("/partially-protected").bearer(raw_token(r#"{"typ":"JWT","alg":"HS384"}"#, &payload_text, Algorithm::HS384, SECRET)), Same),
        row("a token signed with another secret is Signature verification failed", to("/protected").bearer(raw_token(HS256_HEADER, &payload_text, Algorithm::HS256, OTHER_SECRET)), Same),
        row("a changed payload is Signature verification failed", to("/protected").bearer(format!("{h}.{}.{s}", b64(access(false).text()))), Same),
        row("an empty signature is Signature verification failed", to("/protected").bearer(format!("{h}.{p}.")), Same),
        row("a payload that is not JSON is Invalid payload string", to("/protected").bearer(raw_token(HS256_HEADER, "not json", Algorithm::HS256, SECRET)), Same),
        row("a payload that is a JSON array is Invalid payload string", to("/protected").bearer(raw_token(HS256_HEADER, "[1]", Algorithm::HS256, SECRET)), Same),
        row("a payload that is a JSON number is Invalid payload string", to("/protected").bearer(raw_token(HS256_HEADER, "42", Algorithm::HS256, SECRET)), Same),
        // Documented difference (README): Python reads 1e400 as a float infinity (`int()` then
        // fails: `cannot convert float infinity to integer`); serde_json refuses the payload.
        row("an exp of 1e400 is refused by both", to("/protected").bearer(raw_token(HS256_HEADER, &payload_text.replacen("\"exp\":", "\"exp\":1e400,\"was\":", 1), Algorithm::HS256, SECRET)), BothRefuseOtherText(422, "Invalid payload string: number out of range")),
        row("the signature is checked before the payload is parsed", to("/protected").bearer(raw_token(HS256_HEADER, "not json", Algorithm::HS256, OTHER_SECRET)), Same),
        row("the algorithm is checked before the signature", to("/protected").bearer(raw_token(r#"{"alg":"HS384"}"#, &payload_text, Algorithm::HS384, OTHER_SECRET)), Same),
        row("iat that is not a number is 422", to("/protected").bearer(access(true).set("iat", json!("soon")).token()), Same),
        row("iat that is a decimal string is 422", to("/protected").bearer(access(true).set("iat", json!("1.5")).token()), Same),
        row("nbf that is not a number is 422", to("/protected").bearer(access(true).set("nbf", json!("soon")).token()), Same),
        row("exp that is not a number is 422", to("/protected").bearer(access(true).set("exp", json!("later")).token()), Same),
        row("exp that is not a number is 422 on the refresh route", to("/refresh").bearer(refresh().set("exp", json!("later")).token()), Same),
        row("numeric strings are accepted as times", to("/protected").bearer(access(true) .set("iat", json!((now - 10).to_string())) .set("nbf", json!((now - 10).to_string())) .set("exp", json!((now + 900).to_string())) .token()), Same),
        row("float times are accepted", to("/protected").bearer(access(true) .set("nbf", json!(now as f64 - 10.5)) .set("exp", json!(now as f64 + 900.5)) .token()), Same),
        row("nbf 60 s in the future is not yet valid", to("/protected").bearer(access(true).set("nbf", json!(now + 60)).token()), Same),
        row("exp 60 s in the past has expired", to("/protected").bearer(access(true).set("exp", json!(now - 60)).token()), Same),
        row("exp 60 s in the past has expired on the optional route", to("/partially-protected").bearer(access(true).set("exp", json!(now - 60)).token()), Same),
        row("exp 60 s in the past has expired on the fresh route", to("/protected-fresh").bearer(access(true).set("exp", json!(now - 60)).token()), Same),
        row("a numeric-string exp in the past has expired", to("/protected").bearer(access(true) .set("exp", json!((now - 60).to_string())) .token()), Same),
        row("a token without exp is accepted", to("/protected").bearer(access(true).unset("exp").token()), Same),
        row("a token without iat and nbf is accepted", to("/protected").bearer(access(true).unset("iat").unset("nbf").token()), Same),
        row("iat an hour in the future is accepted", to("/protected").bearer(access(true).set("iat", json!(now + 3600)).token()), Same),
        row("iat is checked before nbf", to("/protected").bearer(access(true) .set("iat", json!("x")) .set("nbf", json!(now + 60)) .token()), Same),
        row("nbf is checked before exp", to("/protected").bearer(access(true) .set("nbf", json!(now + 60)) .set("exp", json!(now - 60)) .token()), Same),
        row("the signature is checked before exp", to("/protected").bearer(raw_token(HS256_HEADER, &access(true).set("exp", json!(now - 60)).text(), Algorithm::HS256, OTHER_SECRET)), Same),
        row("an aud claim when no audience is configured is Invalid audience", to("/protected").bearer(access(true).set("aud", json!("someone")).token()), Same),
        row("an aud claim when no audience is configured is Invalid audience on the optional route", to("/partially-protected").bearer(access(true).set("aud", json!(["someone"])).token()), Same),
        row("an aud claim when no audience is configured is Invalid audience on the refresh route", to("/refresh").bearer(refresh().set("aud", json!("someone")).token()), Same),
        row("exp is checked before aud", to("/protected").bearer(access(true) .set("aud", json!("someone")) .set("exp", json!(now - 60)) .token()), Same),
        row("decode errors come before the type check", to("/refresh").bearer(access(true).set("exp", json!(now - 60)).token()), Same),
        row("an iss claim when no issuer is configured is fine", to("/protected").bearer(access(true).set("iss", json!("anyone")).token()), Same),
        row("padding `=` at the end of the header segment is accepted", to("/protected").bearer(sign_input(&format!("{}==.{}", b64(HS256_HEADER), b64(&payload_text)))), Same),
        row("a character outside base64 inside a segment is skipped, as Python does", to("/protected").bearer(sign_input(&format!("{}!.{}", b64(HS256_HEADER), b64(&payload_text)))), Same),
        row("the standard base64 alphabet (+ and /) is accepted, as Python does", to("/protected").bearer(&standard_alphabet), Same),
        row("iat null is a 422", to("/protected").bearer(access(true).set("iat", Value::Null).token()), Same),
        row("exp as a list is a 422", to("/protected").bearer(access(true).set("exp", json!([1])).token()), Same),
        row("nbf as an object is a 422", to("/protected").bearer(access(true).set("nbf", json!({"a": 1})).token()), Same),
    ];
    assert_cases("decode failures", &app, &stack, cases).await;
}
