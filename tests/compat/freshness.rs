//! Freshness values: freshgate differs from the library's Python truthiness only where the
//! contract documents it.
//! Shared with tests/compat_pyjwt2: the fork keeps 0.5.0's truthiness.

use serde_json::json;

use crate::access;
use crate::case::Expect::*;
use crate::case::*;
use crate::gateway::Stack;
use crate::judge::assert_cases;
use crate::reference;
use crate::support::{now, ClaimsExt};

#[tokio::test]
async fn freshgate_differs_from_fastapi_jwt_auth_on_freshness_only_where_documented() {
    let app = reference::start(&[]).await;
    let stack = Stack::start("").await;
    let now = now();

    // The contract's "Freshness values: where freshgate deliberately differs": the library uses
    // Python truthiness; freshgate counts JSON true, or a "fresh until" epoch not yet passed.
    // The library itself only ever writes JSON booleans.
    #[rustfmt::skip]
    let cases = vec![
        row("fresh \"false\" (a string) is fresh to the library, not to freshgate (documented)", to("/protected-fresh").bearer(access(true).set("fresh", json!("false")).token()), LibraryAcceptsFreshgateRejects(401, "Fresh token required")),
        row("fresh \"true\" (a string) is fresh to the library, not to freshgate (documented)", to("/protected-fresh").bearer(access(true).set("fresh", json!("true")).token()), LibraryAcceptsFreshgateRejects(401, "Fresh token required")),
        row("fresh 1 is fresh to the library, an epoch long past to freshgate (documented)", to("/protected-fresh").bearer(access(true).set("fresh", json!(1)).token()), LibraryAcceptsFreshgateRejects(401, "Fresh token required")),
        row("fresh as an epoch an hour ago is fresh to the library, not to freshgate (documented)", to("/protected-fresh").bearer(access(true).set("fresh", json!(now - 3600)).token()), LibraryAcceptsFreshgateRejects(401, "Fresh token required")),
        row("fresh as a list is fresh to the library, not to freshgate (documented)", to("/protected-fresh").bearer(access(true).set("fresh", json!([1])).token()), LibraryAcceptsFreshgateRejects(401, "Fresh token required")),
        row("fresh as an epoch an hour ahead is fresh to both", to("/protected-fresh").bearer(access(true).set("fresh", json!(now + 3600)).token()), Same),
        row("fresh as a float epoch an hour ahead is fresh to both", to("/protected-fresh").bearer(access(true) .set("fresh", json!(now as f64 + 3600.5)) .token()), Same),
        row("fresh \"false\" on the access route is accepted by both, and not fresh to freshgate", to("/protected").bearer(access(true).set("fresh", json!("false")).token()), Same),
        row("fresh 1 on the optional route is accepted by both, and not fresh to freshgate", to("/partially-protected").bearer(access(true).set("fresh", json!(1)).token()), Same),
        row("fresh true is fresh to both", to("/protected-fresh").bearer(access(true).token()), Same),
        row("fresh false is not fresh to either", to("/protected-fresh").bearer(access(false).token()), Same),
    ];
    assert_cases("freshness values", &app, &stack, cases).await;
}
