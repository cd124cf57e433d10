//! Tokens that do not decode, with PyJWT 2.15.1's texts in the library's order: segments, strict
//! base64url, the JOSE header (`kid`, `crit`, `b64`), the payload's JSON (parsed before the
//! algorithm and the signature), the algorithm (never a crash here) and the signature.

use jsonwebtoken::Algorithm;
use serde_json::json;

use crate::case::Expect::*;
use crate::case::*;
use crate::side::Sides;
use crate::support::forge::{b64, parts, raw_token, sign_input, HS256_HEADER};
use crate::support::{ClaimsExt, SECRET};
use crate::{access, refresh, OTHER_SECRET};

/// Segments, base64url and JSON.
#[rustfmt::skip]
fn shape_cases() -> Vec<Case> {
    let good = access(true).token();
    let (h, p, s) = parts(&good);
    // A 32-byte signature's last character carries 2 unused bits: `B` and `C` set them.
    let last = if s.ends_with('B') { 'C' } else { 'B' };
    let signed = |payload: &str| raw_token(HS256_HEADER, payload, Algorithm::HS256, SECRET);
    let forged = |payload: &str| raw_token(HS256_HEADER, payload, Algorithm::HS256, OTHER_SECRET);
    vec![
        row("one segment is Not enough segments", to("/protected").bearer("abc"), Same),
        row("two segments is Not enough segments", to("/protected").bearer("a.b"), Same),
        row("two segments is Not enough segments on the optional route", to("/partially-protected").bearer("a.b"), Same),
        row("four segments: the payload segment holds a dot, Invalid payload padding", to("/protected").bearer(format!("{h}.{p}.{s}.x")), Same),
        row("an empty header segment is Invalid header string", to("/protected").bearer(format!(".{p}.{s}")), Same),
        row("a header segment of one character is Invalid header padding", to("/protected").bearer(format!("A.{p}.{s}")), Same),
        row("a header that is not JSON is Invalid header string", to("/protected").bearer(format!("{}.{p}.{s}", b64("not json"))), Same),
        row("a header that is a JSON array is Invalid header string: must be a json object", to("/protected").bearer(format!("{}.{p}.{s}", b64("[1,2]"))), Same),
        row("a header that is a JSON string is Invalid header string: must be a json object", to("/protected").bearer(format!("{}.{p}.{s}", b64("\"HS256\""))), Same),
        row("a header that is not UTF-8 is Invalid header string", to("/protected").bearer(format!("{}.{p}.{s}", b64(b"{\"alg\":\"\xff\"}"))), Same),
        row("a payload segment of one character is Invalid payload padding", to("/protected").bearer(format!("{h}.A.{s}")), Same),
        row("a signature segment of one character is Invalid crypto padding", to("/protected").bearer(format!("{h}.{p}.A")), Same),
        row("header padding is checked before payload padding", to("/protected").bearer("A.A.A"), Same),
        row("`==` after a header segment whose length is a multiple of 4 is Invalid header padding", to("/protected").bearer(format!("{h}==.{p}.{s}")), Same),
        row("`=` after a header segment whose length is a multiple of 4 is Invalid header padding", to("/protected").bearer(format!("{h}=.{p}.{s}")), Same),
        row("a character outside base64url is Invalid header padding", to("/protected").bearer(format!("{h}!.{p}.{s}")), Same),
        row("the standard alphabet's `+` is Invalid header padding", to("/protected").bearer(format!("{h}+.{p}.{s}")), Same),
        row("non-canonical trailing bits in the signature are Invalid crypto padding", to("/protected").bearer(format!("{h}.{p}.{}{last}", &s[..s.len() - 1])), Same),
        row("a payload that is not JSON is Invalid payload string", to("/protected").bearer(signed("not json")), Same),
        row("a payload that is a JSON array is Invalid payload string: must be a json object", to("/protected").bearer(signed("[1]")), Same),
        row("a payload that is a JSON number is Invalid payload string: must be a json object", to("/protected").bearer(signed("42")), Same),
        row("a payload that is not UTF-8 is Invalid payload string", to("/protected").bearer(sign_input(&format!("{}.{}", b64(HS256_HEADER), b64(b"{\"sub\":\"\xff\"}")))), Same),
        row("an empty payload segment is Invalid payload string", to("/protected").bearer(format!("{h}..{s}")), Same),
        row("the payload is parsed before the signature is checked", to("/protected").bearer(forged("not json")), Same),
        row("trailing text after the payload object is Invalid payload string", to("/protected").bearer(forged(&format!("{} x", access(true).text()))), Same),
        row("an empty signature is Signature verification failed", to("/protected").bearer(format!("{h}.{p}.")), Same),
        row("a changed payload is Signature verification failed", to("/protected").bearer(format!("{h}.{}.{s}", b64(access(false).text()))), Same),
        row("a token signed with another secret is Signature verification failed", to("/protected").bearer(forged(&access(true).text())), Same),
        row("a token signed with another secret is 422 on the refresh route", to("/refresh").bearer(forged(&refresh().text())), Same),
    ]
}

/// The JOSE header's parameters and the algorithm.
#[rustfmt::skip]
fn header_cases() -> Vec<Case> {
    let payload = access(true).text();
    let under = |header: &str| sign_input(&format!("{}.{}", b64(header), b64(&payload)));
    let unsigned = |header: &str| format!("{}.{}.", b64(header), b64(&payload));
    let claims = || access(true);
    vec![
        row("a numeric kid is rejected", to("/protected").bearer(claims().token_under(json!({"alg":"HS256","typ":"JWT","kid":5}))), Same),
        row("a null kid is rejected", to("/protected").bearer(claims().token_under(json!({"alg":"HS256","kid":null}))), Same),
        row("a list kid is rejected", to("/protected").bearer(claims().token_under(json!({"alg":"HS256","kid":["a"]}))), Same),
        row("a string kid is fine", to("/protected").bearer(claims().token_under(json!({"alg":"HS256","typ":"JWT","kid":"k1"}))), Same),
        row("an empty kid is fine", to("/protected").bearer(claims().token_under(json!({"alg":"HS256","kid":""}))), Same),
        row("the kid is checked before the signature", to("/protected").bearer(raw_token(r#"{"alg":"HS256","kid":5}"#, &payload, Algorithm::HS256, OTHER_SECRET)), Same),
        row("any typ is fine", to("/protected").bearer(claims().token_under(json!({"alg":"HS256","typ":"at+jwt"}))), Same),
        row("a numeric typ is fine", to("/protected").bearer(claims().token_under(json!({"alg":"HS256","typ":5}))), Same),
        row("an empty crit list is rejected", to("/protected").bearer(claims().token_under(json!({"alg":"HS256","crit":[]}))), Same),
        row("a crit that is not a list is rejected", to("/protected").bearer(claims().token_under(json!({"alg":"HS256","crit":"exp"}))), Same),
        row("a crit with a number is rejected", to("/protected").bearer(claims().token_under(json!({"alg":"HS256","crit":[5]}))), Same),
        row("an unsupported crit extension is rejected, named in the text", to("/protected").bearer(claims().token_under(json!({"alg":"HS256","crit":["exp"]}))), Same),
        row("an unsupported crit extension's name is escaped as Python's JSON does", to("/protected").bearer(claims().token_under(json!({"alg":"HS256","crit":["caf\u{e9}\"</x>\u{1F600}"]}))), Same),
        row("crit naming b64 without a b64 parameter is rejected", to("/protected").bearer(claims().token_under(json!({"alg":"HS256","crit":["b64"]}))), Same),
        row("b64 false with a payload segment is rejected", to("/protected").bearer(claims().token_under(json!({"alg":"HS256","b64":false}))), Same),
        row("b64 true is fine", to("/protected").bearer(claims().token_under(json!({"alg":"HS256","b64":true}))), Same),
        row("alg none (unsigned) is not allowed", to("/protected").bearer(unsigned(r#"{"typ":"JWT","alg":"none"}"#)), Same),
        row("alg none is not allowed on the optional route", to("/partially-protected").bearer(unsigned(r#"{"alg":"none"}"#)), Same),
        row("alg none is not allowed on the refresh route", to("/refresh").bearer(unsigned(r#"{"alg":"none"}"#)), Same),
        row("an unknown alg is not allowed", to("/protected").bearer(under(r#"{"alg":"HS999"}"#)), Same),
        row("alg in lower case is not allowed", to("/protected").bearer(under(r#"{"alg":"hs256"}"#)), Same),
        row("a numeric alg is not allowed", to("/protected").bearer(under(r#"{"alg":256}"#)), Same),
        row("a null alg is not allowed", to("/protected").bearer(under(r#"{"alg":null}"#)), Same),
        row("an empty alg is not allowed", to("/protected").bearer(under(r#"{"alg":""}"#)), Same),
        row("a list alg is not allowed", to("/protected").bearer(under(r#"{"alg":["HS256"]}"#)), Same),
        row("no alg is Algorithm not specified", to("/protected").bearer(under(r#"{"typ":"JWT"}"#)), Same),
        row("of two alg members the last counts", to("/protected").bearer(under(r#"{"alg":"none","alg":"HS256"}"#)), Same),
        row("HS384 is not allowed when only HS256 is accepted", to("/protected").bearer(raw_token(r#"{"alg":"HS384"}"#, &payload, Algorithm::HS384, SECRET)), Same),
        row("HS512 is not allowed when only HS256 is accepted", to("/protected").bearer(raw_token(r#"{"alg":"HS512"}"#, &payload, Algorithm::HS512, SECRET)), Same),
        row("RS256 is not allowed (no crash without a public key)", to("/protected").bearer(format!("{}.{}.{}", b64(r#"{"alg":"RS256"}"#), b64(&payload), b64([7u8; 256]))), Same),
        row("the algorithm is checked before the signature", to("/protected").bearer(raw_token(r#"{"alg":"HS384"}"#, &payload, Algorithm::HS384, OTHER_SECRET)), Same),
        row("the payload is parsed before the algorithm is checked", to("/protected").bearer(format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64("[1]"))), Same),
    ]
}

#[tokio::test]
async fn freshgate_rejects_undecodable_tokens_like_flask_jwt_extended() {
    let sides = Sides::start(vec![]).await;
    let mut cases = shape_cases();
    cases.extend(header_cases());
    sides.judge("decode failures", cases).await;
}
