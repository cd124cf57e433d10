//! Where the fork crashes with 500 (the bugs it kept from 0.5.0), freshgate answers a 4xx with a
//! JSON detail and forwards nothing.

use crate::case::Expect::*;
use crate::case::*;
use crate::fork;
use crate::gateway::Stack;
use crate::judge::assert_cases;
use crate::support::forge::{b64, sign_input};
use crate::support::ClaimsExt;
use crate::{access, refresh};
use serde_json::json;

#[tokio::test]
async fn freshgate_answers_4xx_where_the_fork_crashes_with_500() {
    // The library's bugs (the contract's "Where the library fails with 500"): `_get_secret_key`
    // raises outside the `try` that turns decode errors into 422 (alg none, unknown, not a
    // string or absent; RS256 with no public key), and `get_raw_jwt(token)['type']` /
    // `['fresh']` raise KeyError. freshgate answers a 4xx JSON detail and never forwards them.
    let app = fork::start(&[]).await;
    let stack = Stack::start("").await;
    let payload_text = access(true).text();
    let unsigned = |header: &str| format!("{}.{}.", b64(header), b64(&payload_text));
    // Signed with the shared secret over exactly this header: only the header is wrong.
    let under = |header: &str| sign_input(&format!("{}.{}", b64(header), b64(&payload_text)));

    #[rustfmt::skip]
    let cases = vec![
        row("alg none (unsigned) is 500 in the library, 422 in freshgate", to("/protected").bearer(unsigned(r#"{"typ":"JWT","alg":"none"}"#)), LibraryCrashes(422, None)),
        row("alg none on the optional route is 500 in the library, 422 in freshgate", to("/partially-protected").bearer(unsigned(r#"{"alg":"none"}"#)), LibraryCrashes(422, None)),
        row("alg none on the refresh route is 500 in the library, 422 in freshgate", to("/refresh").bearer(unsigned(r#"{"alg":"none"}"#)), LibraryCrashes(422, None)),
        row("an unknown alg is 500 in the library, 422 in freshgate", to("/protected").bearer(under(r#"{"alg":"HS999"}"#)), LibraryCrashes(422, None)),
        row("alg in lower case is unknown: 500 in the library, 422 in freshgate", to("/protected").bearer(under(r#"{"alg":"hs256"}"#)), LibraryCrashes(422, None)),
        row("an alg that is not a string is 500 in the library, 422 in freshgate", to("/protected").bearer(under(r#"{"alg":256}"#)), LibraryCrashes(422, None)),
        row("no alg is 500 in the library, 422 in freshgate", to("/protected").bearer(under(r#"{"typ":"JWT"}"#)), LibraryCrashes(422, None)),
        row("RS256 with no public key configured is 500 in the library, 422 in freshgate", to("/protected").bearer(format!("{}.{}.{}", b64(r#"{"typ":"JWT","alg":"RS256"}"#), b64(&payload_text), b64([7u8; 256]))), LibraryCrashes(422, None)),
        row("no type claim on the access route is 500 in the library, 422 in freshgate", to("/protected").bearer(access(true).unset("type").token()), LibraryCrashes(422, None)),
        row("no type claim on the fresh route is 500 in the library, 422 in freshgate", to("/protected-fresh").bearer(access(true).unset("type").token()), LibraryCrashes(422, None)),
        row("no type claim on the optional route is 500 in the library, 422 in freshgate", to("/partially-protected").bearer(access(true).unset("type").token()), LibraryCrashes(422, None)),
        row("no type claim on the refresh route is 500 in the library, 422 in freshgate", to("/refresh").bearer(refresh().unset("type").token()), LibraryCrashes(422, None)),
        row("no fresh claim on the fresh route is 500 in the library, 401 in freshgate", to("/protected-fresh").bearer(access(true).unset("fresh").token()), LibraryCrashes(401, Some("Fresh token required"))),
        // More of the same two bugs, seen on the fork.
        row("alg null is 500 in the library, 422 in freshgate", to("/protected").bearer(under(r#"{"alg":null}"#)), LibraryCrashes(422, None)),
        row("an empty alg is 500 in the library, 422 in freshgate", to("/protected").bearer(under(r#"{"alg":""}"#)), LibraryCrashes(422, None)),
        row("alg true is 500 in the library, 422 in freshgate", to("/protected").bearer(under(r#"{"alg":true}"#)), LibraryCrashes(422, None)),
        row("alg as a list is 500 in the library (unhashable), 422 in freshgate", to("/protected").bearer(under(r#"{"alg":["HS256"]}"#)), LibraryCrashes(422, None)),
        row("alg as an object is 500 in the library (unhashable), 422 in freshgate", to("/protected").bearer(under(r#"{"alg":{}}"#)), LibraryCrashes(422, None)),
        row("alg None (capitalised) is 500 in the library, 422 in freshgate", to("/protected").bearer(under(r#"{"alg":"None"}"#)), LibraryCrashes(422, None)),
        row("an empty header object (no alg) is 500 in the library, 422 in freshgate", to("/protected").bearer(under("{}")), LibraryCrashes(422, None)),
        row("of two alg keys the last counts: HS256 then none is 500 in the library, 422 in freshgate", to("/protected").bearer(under(r#"{"alg":"HS256","alg":"none"}"#)), LibraryCrashes(422, None)),
        // PyJWT 2 lists EdDSA and ES256K among the asymmetric algorithms, so the library asks for
        // `cryptography` (RuntimeError) where 0.5.0 did not know them (ValueError): 500 either way.
        row("EdDSA without cryptography is 500 in the library, 422 in freshgate", to("/protected").bearer(under(r#"{"alg":"EdDSA"}"#)), LibraryCrashes(422, None)),
        row("ES256K without cryptography is 500 in the library, 422 in freshgate", to("/protected").bearer(under(r#"{"alg":"ES256K"}"#)), LibraryCrashes(422, None)),
        row("ES256 without cryptography is 500 in the library, 422 in freshgate", to("/protected").bearer(under(r#"{"alg":"ES256"}"#)), LibraryCrashes(422, None)),
        row("a `type` that is an object is 500 in the library (unhashable), 422 in freshgate", to("/protected").bearer(access(true).set("type", json!({})).token()), LibraryCrashes(422, None)),
        row("a `type` that is a list on the refresh route is 500 in the library, 422 in freshgate", to("/refresh").bearer(refresh().set("type", json!(["refresh"])).token()), LibraryCrashes(422, None)),
        row("no alg on the refresh route is 500 in the library, 422 in freshgate", to("/refresh").bearer(sign_input(&format!("{}.{}", b64("{}"), b64(refresh().text())))), LibraryCrashes(422, None)),
    ];
    assert_cases("library crashes", &app, &stack, cases).await;
}
