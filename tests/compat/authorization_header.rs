//! Reading the Authorization header: missing, empty, malformed, odd whitespace (Python's, in
//! latin-1), two of them, and the header name's case.
//! Shared with tests/compat_pyjwt2: the fork reads the header as 0.5.0 does.

use crate::case::Expect::*;
use crate::case::*;
use crate::gateway::Stack;
use crate::judge::assert_cases;
use crate::reference;

#[tokio::test]
async fn freshgate_reads_the_authorization_header_like_fastapi_jwt_auth() {
    let app = reference::start(&[]).await;
    let stack = Stack::start("").await;
    let (fresh, _) = app.login().await;
    let t = fresh.as_str();

    #[rustfmt::skip]
    let cases = vec![
        row("no Authorization header on an access route is 401 Missing", to("/protected"), Same),
        row("no Authorization header on a fresh route is 401 Missing", to("/protected-fresh"), Same),
        row("no Authorization header on the refresh route is 401 Missing", to("/refresh"), Same),
        row("an empty Authorization header counts as no token", to("/protected").auth(b""), Same),
        row("an empty Authorization header on the optional route is anonymous", to("/partially-protected").auth(b""), Same),
        row("`bearer <token>` in lower case is a bad header", to("/protected").auth(format!("bearer {t}")), Same),
        row("`Bearer` alone is a bad header", to("/protected").auth(b"Bearer"), Same),
        row("`Bearer` and a single space is a bad header", to("/protected").auth(b"Bearer "), Same),
        row("`Bearer a b` (three parts) is a bad header", to("/protected").auth(b"Bearer a b"), Same),
        row("`Bearer <token> extra` (three parts) is a bad header", to("/protected").auth(format!("Bearer {t} extra")), Same),
        row("`Bearer,<token>` is a bad header", to("/protected").auth(format!("Bearer,{t}")), Same),
        row("`Token <token>` is a bad header", to("/protected").auth(format!("Token {t}")), Same),
        row("`BearerX <token>` is a bad header", to("/protected").auth(format!("BearerX {t}")), Same),
        row("a bare token is a bad header", to("/protected").auth(t), Same),
        row("several spaces after Bearer are fine", to("/protected").auth(format!("Bearer    {t}")), Same),
        row("a tab after Bearer is fine", to("/protected").auth(format!("Bearer\t{t}")), Same),
        row("a tab and spaces after Bearer are fine", to("/protected").auth(format!("Bearer \t {t}")), Same),
        row("a trailing space after the token is fine", to("/protected").auth(format!("Bearer {t} ")), Same),
        row("a no-break space (0xA0, latin-1) after Bearer is Python whitespace", to("/protected").auth([b"Bearer\xa0".as_slice(), t.as_bytes()].concat()), Same),
        row("a NEL (0x85, latin-1) after Bearer is Python whitespace", to("/protected").auth([b"Bearer\x85".as_slice(), t.as_bytes()].concat()), Same),
        row("a bad header is 422 on the optional route too", to("/partially-protected").auth(format!("Token {t}")), Same),
        row("`Bearer` alone is 422 on the optional route too", to("/partially-protected").auth(b"Bearer"), Same),
        row("a bad header is 422 on the fresh route", to("/protected-fresh").auth(b"Bearer a b"), Same),
        row("a bad header is 422 on the refresh route", to("/refresh").auth(b"bearer x"), Same),
        row("of two Authorization headers the first counts: a good one first is accepted", to("/protected").auth(format!("Bearer {t}")).auth(b"Token nonsense"), Same),
        row("of two Authorization headers the first counts: a bad one first is 422", to("/protected").auth(b"Token nonsense").auth(format!("Bearer {t}")), Same),
        row("of two Authorization headers the first counts: a broken token first fails to decode", to("/protected").auth(b"Bearer a.b").auth(format!("Bearer {t}")), Same),
        row("the header name is case-insensitive", to("/protected").with("AUTHORIZATION", format!("Bearer {t}")), Same),
    ];
    assert_cases("Authorization header", &app, &stack, cases).await;
}
