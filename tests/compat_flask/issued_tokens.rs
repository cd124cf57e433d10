//! The tokens the app issues (`/login`, `/refresh`, `/fresh-login`) on every kind of route.

use jsonwebtoken::Algorithm;

use crate::case::Expect::*;
use crate::case::*;
use crate::side::Sides;
use crate::support::forge::{raw_token, HS256_HEADER};
use crate::support::ClaimsExt;
use crate::{access, OTHER_SECRET};

#[tokio::test]
async fn freshgate_decides_like_flask_jwt_extended_on_the_tokens_the_app_issues() {
    let sides = Sides::start(vec![]).await;
    let (fresh, refresh_token) = sides.app.login().await;
    let not_fresh = sides.app.refresh(&refresh_token).await;
    let fresh_again = sides.app.fresh_login().await;
    let forged = raw_token(
        HS256_HEADER,
        &access(true).text(),
        Algorithm::HS256,
        OTHER_SECRET,
    );

    #[rustfmt::skip]
    let cases = vec![
        row("a fresh access token from /login is accepted on the access route", to("/protected").bearer(&fresh), Same),
        row("a fresh access token from /login is accepted on the fresh route", to("/protected-fresh").bearer(&fresh), Same),
        row("a fresh access token from /login is accepted on the optional route", to("/partially-protected").bearer(&fresh), Same),
        row("a fresh access token is accepted on POST (no CSRF for header tokens)", post("/protected").bearer(&fresh), Same),
        row("an access token is 422 on the refresh route", to("/refresh").bearer(&fresh), Same),
        row("a refresh token from /login is accepted on the refresh route", to("/refresh").bearer(&refresh_token), Same),
        row("a refresh token is 422 on the access route", to("/protected").bearer(&refresh_token), Same),
        row("a refresh token is 422 on the fresh route", to("/protected-fresh").bearer(&refresh_token), Same),
        row("a refresh token is 422 on the optional route", to("/partially-protected").bearer(&refresh_token), Same),
        row("a non-fresh access token from /refresh is accepted on the access route", to("/protected").bearer(&not_fresh), Same),
        row("a non-fresh access token from /refresh is 401 Fresh token required on the fresh route", to("/protected-fresh").bearer(&not_fresh), Same),
        row("a non-fresh access token from /refresh is accepted on the optional route", to("/partially-protected").bearer(&not_fresh), Same),
        row("a fresh access token from /fresh-login is accepted on the fresh route", to("/protected-fresh").bearer(&fresh_again), Same),
        row("a token like the library's made here is accepted on the fresh route", to("/protected-fresh").bearer(access(true).token()), Same),
        row("an access token signed with another secret is 422 on the optional route", to("/partially-protected").bearer(&forged), Same),
    ];
    sides.judge("tokens the app issues", cases).await;
}
