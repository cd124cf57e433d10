//! The claims after decoding: issuer and audience, the token type and freshness.

use super::*;

// ---------------------------------------------------------------------------------------------
// Issuer and audience
// ---------------------------------------------------------------------------------------------

#[test]
fn the_issuer_is_checked_only_for_access_tokens_on_access_and_fresh_routes() {
    const ISS: &str = "https://auth.example";
    let missing = "Token is missing the \"iss\" claim";
    let settings = settings_with(|d| d.issuer = Some(ISS.to_string()));
    let access_iss = |iss: Value| bearer(&hs256(&set(access(), json!({"iss": iss}))));
    let fresh_iss = |iss: Value| bearer(&hs256(&set(fresh_access(), json!({"iss": iss}))));
    let refresh_iss = |iss: Value| bearer(&hs256(&set(refresh(), json!({"iss": iss}))));
    #[rustfmt::skip]
    let rows = vec![
        case("the right issuer is accepted on an access route", Policy::Access, access_iss(json!(ISS)), ACCESS),
        case("a missing issuer is 422 on an access route", Policy::Access, bearer(&hs256(&access())), Rejected(422, missing)),
        case("a different issuer is 422 on an access route", Policy::Access, access_iss(json!("https://evil.example")), Rejected(422, "Invalid issuer")),
        case("a non-string issuer is an invalid issuer", Policy::Access, access_iss(json!(42)), Rejected(422, "Invalid issuer")),
        case("the right issuer is accepted on a fresh route", Policy::Fresh, fresh_iss(json!(ISS)), FRESH_ACCESS),
        case("a missing issuer is 422 on a fresh route", Policy::Fresh, bearer(&hs256(&fresh_access())), Rejected(422, missing)),
        case("a different issuer is 422 on a fresh route", Policy::Fresh, fresh_iss(json!("other")), Rejected(422, "Invalid issuer")),
        case("a missing issuer is not checked on an optional route", Policy::Optional, bearer(&hs256(&access())), ACCESS),
        case("a different issuer is not checked on an optional route", Policy::Optional, access_iss(json!("other")), ACCESS),
        case("a missing issuer is not checked on a refresh route", Policy::Refresh, bearer(&hs256(&refresh())), REFRESH),
        case("a different issuer is not checked on a refresh route", Policy::Refresh, refresh_iss(json!("other")), REFRESH),
        case("an expired token is reported before its wrong issuer", Policy::Access, bearer(&hs256(&set(access(), json!({"iss": "other", "exp": NOW - 1})))), Rejected(422, "Signature has expired")),
        case("the issuer is checked before the token type", Policy::Access, refresh_iss(json!("other")), Rejected(422, "Invalid issuer")),
        case("the issuer is checked before freshness", Policy::Fresh, access_iss(json!("other")), Rejected(422, "Invalid issuer")),
    ];
    check(&settings, rows);
    check(
        &default_settings(),
        vec![case(
            "any issuer is accepted when none is configured",
            Policy::Access,
            access_iss(json!("whoever")),
            ACCESS,
        )],
    );
}

#[test]
fn the_audience_follows_pyjwt_rules_on_every_route() {
    let missing = "Token is missing the \"aud\" claim";
    let format = "Invalid claim format in token";
    let settings = settings_with(|d| d.audience = Some(vec!["api".to_string()]));
    let aud = |aud: Value| bearer(&hs256(&set(access(), json!({"aud": aud}))));
    #[rustfmt::skip]
    let rows = vec![
        case("the configured audience as a string is accepted", Policy::Access, aud(json!("api")), ACCESS),
        case("a list holding the configured audience is accepted", Policy::Access, aud(json!(["other", "api"])), ACCESS),
        case("a missing audience is 422", Policy::Access, bearer(&hs256(&access())), Rejected(422, missing)),
        case("a different audience is 422", Policy::Access, aud(json!("other")), Rejected(422, "Invalid audience")),
        case("a list without the configured audience is 422", Policy::Access, aud(json!(["other", "web"])), Rejected(422, "Invalid audience")),
        case("an empty list is an invalid audience", Policy::Access, aud(json!([])), Rejected(422, "Invalid audience")),
        case("a list with a non-string item is an invalid claim format", Policy::Access, aud(json!(["api", 1])), Rejected(422, format)),
        case("a numeric audience is an invalid claim format", Policy::Access, aud(json!(1)), Rejected(422, format)),
        case("an object audience is an invalid claim format", Policy::Access, aud(json!({"api": true})), Rejected(422, format)),
        case("a null audience is an invalid claim format", Policy::Access, aud(json!(null)), Rejected(422, format)),
        case("a missing audience is 422 on an optional route too", Policy::Optional, bearer(&hs256(&access())), Rejected(422, missing)),
        case("a missing audience is 422 on a refresh route too", Policy::Refresh, bearer(&hs256(&refresh())), Rejected(422, missing)),
        case("the right audience is accepted on a refresh route", Policy::Refresh, bearer(&hs256(&set(refresh(), json!({"aud": "api"})))), REFRESH),
        case("an expired token is reported before its wrong audience", Policy::Access, bearer(&hs256(&set(access(), json!({"aud": "other", "exp": NOW - 1})))), Rejected(422, "Signature has expired")),
    ];
    check(&settings, rows);
    #[rustfmt::skip]
    let rows = vec![
        case("any configured audience is enough", Policy::Access, bearer(&hs256(&set(access(), json!({"aud": "web", "iss": "iss"})))), ACCESS),
        case("a wrong issuer is reported before a wrong audience", Policy::Access, bearer(&hs256(&set(access(), json!({"aud": "x", "iss": "x"})))), Rejected(422, "Invalid issuer")),
    ];
    check(
        &settings_with(|d| {
            d.audience = Some(vec!["api".to_string(), "web".to_string()]);
            d.issuer = Some("iss".to_string());
        }),
        rows,
    );
    #[rustfmt::skip]
    let rows = vec![
        case("a token with an audience is 422 when none is configured", Policy::Access, aud(json!("api")), Rejected(422, "Invalid audience")),
        case("a token with an audience list is 422 when none is configured", Policy::Access, aud(json!(["api"])), Rejected(422, "Invalid audience")),
        case("a token with an audience is 422 on an optional route when none is configured", Policy::Optional, aud(json!("api")), Rejected(422, "Invalid audience")),
        case("a token with an audience is 422 on a refresh route when none is configured", Policy::Refresh, bearer(&hs256(&set(refresh(), json!({"aud": "api"})))), Rejected(422, "Invalid audience")),
    ];
    check(&default_settings(), rows);
}

// ---------------------------------------------------------------------------------------------
// Token type and freshness
// ---------------------------------------------------------------------------------------------

#[test]
fn the_token_type_must_match_the_route() {
    let only_access = "Only access tokens are allowed";
    let only_refresh = "Only refresh tokens are allowed";
    let missing_type = "Missing claim: type";
    let typed = |t: Value| bearer(&hs256(&set(access(), json!({"type": t}))));
    let untyped = bearer(&hs256(&unset(access(), &["type"])));
    let untyped_refresh = bearer(&hs256(&unset(refresh(), &["type"])));
    let refresh_token = bearer(&hs256(&refresh()));
    #[rustfmt::skip]
    let rows = vec![
        case("an access token is accepted on an access route", Policy::Access, bearer(&hs256(&access())), ACCESS),
        case("an access token is accepted on an optional route", Policy::Optional, bearer(&hs256(&access())), ACCESS),
        case("a refresh token is accepted on a refresh route", Policy::Refresh, refresh_token.clone(), REFRESH),
        case("a refresh token on an access route is 422", Policy::Access, refresh_token.clone(), Rejected(422, only_access)),
        case("a refresh token on a fresh route is 422", Policy::Fresh, refresh_token.clone(), Rejected(422, only_access)),
        case("a refresh token on an optional route is 422", Policy::Optional, refresh_token.clone(), Rejected(422, only_access)),
        case("an access token on a refresh route is 422", Policy::Refresh, bearer(&hs256(&access())), Rejected(422, only_refresh)),
        case("a fresh access token on a refresh route is 422", Policy::Refresh, bearer(&hs256(&fresh_access())), Rejected(422, only_refresh)),
        case("a refresh token claiming fresh=true on a fresh route is a type error, not a pass", Policy::Fresh, bearer(&hs256(&set(refresh(), json!({"fresh": true})))), Rejected(422, only_access)),
        case("the type is case-sensitive", Policy::Access, typed(json!("Access")), Rejected(422, only_access)),
        case("a numeric type is the wrong type", Policy::Access, typed(json!(1)), Rejected(422, only_access)),
        case("a null type is the wrong type", Policy::Access, typed(json!(null)), Rejected(422, only_access)),
        case("a list type is the wrong type", Policy::Refresh, typed(json!(["refresh"])), Rejected(422, only_refresh)),
        case("a missing type is 422 on an access route (the library crashes)", Policy::Access, untyped.clone(), Rejected(422, missing_type)),
        case("a missing type is 422 on an optional route", Policy::Optional, untyped.clone(), Rejected(422, missing_type)),
        case("a missing type is 422 on a fresh route, before freshness", Policy::Fresh, untyped.clone(), Rejected(422, missing_type)),
        case("a missing type is 422 on a refresh route", Policy::Refresh, untyped_refresh, Rejected(422, missing_type)),
        case("the type is checked before freshness", Policy::Fresh, bearer(&hs256(&set(refresh(), json!({"fresh": false})))), Rejected(422, only_access)),
    ];
    check(&default_settings(), rows);
}

#[test]
fn freshness_is_json_true_or_a_fresh_until_time_not_yet_passed() {
    let fresh = |value: Value| bearer(&hs256(&set(access(), json!({"fresh": value}))));
    let no_fresh = bearer(&hs256(&unset(access(), &["fresh"])));
    let required = "Fresh token required";
    #[rustfmt::skip]
    let rows = vec![
        case("fresh: true is fresh", Policy::Fresh, fresh(json!(true)), FRESH_ACCESS),
        case("fresh: false is 401", Policy::Fresh, fresh(json!(false)), Rejected(401, required)),
        case("the string \"true\" is not fresh", Policy::Fresh, fresh(json!("true")), Rejected(401, required)),
        case("the string \"false\" is not fresh (the library's truthiness is not copied)", Policy::Fresh, fresh(json!("false")), Rejected(401, required)),
        case("the number 1 is a fresh-until time long past, not fresh", Policy::Fresh, fresh(json!(1)), Rejected(401, required)),
        case("the number 0 is not fresh", Policy::Fresh, fresh(json!(0)), Rejected(401, required)),
        case("a missing fresh claim is 401 (the library crashes)", Policy::Fresh, no_fresh.clone(), Rejected(401, required)),
        case("a null fresh claim is 401", Policy::Fresh, fresh(json!(null)), Rejected(401, required)),
        case("a list fresh claim is 401", Policy::Fresh, fresh(json!([true])), Rejected(401, required)),
        case("a fresh-until time a minute ahead is fresh", Policy::Fresh, fresh(json!(NOW + 60)), FRESH_ACCESS),
        case("a fractional fresh-until time ahead is fresh", Policy::Fresh, fresh(json!(NOW as f64 + 60.5)), FRESH_ACCESS),
        case("a fresh-until time a minute past is 401", Policy::Fresh, fresh(json!(NOW - 60)), Rejected(401, required)),
        case("a fresh-until numeric string ahead is not fresh (only numbers count)", Policy::Fresh, fresh(json!((NOW + 60).to_string())), Rejected(401, required)),
        case("a non-fresh token is accepted on an access route", Policy::Access, fresh(json!(false)), ACCESS),
        case("a fresh token on an access route reports fresh", Policy::Access, fresh(json!(true)), FRESH_ACCESS),
        case("a token without fresh is accepted on an access route as not fresh", Policy::Access, no_fresh, ACCESS),
        case("a fresh-until time ahead on an access route reports fresh", Policy::Access, fresh(json!(NOW + 60)), FRESH_ACCESS),
        case("a truthy string on an optional route reports not fresh", Policy::Optional, fresh(json!("true")), ACCESS),
        case("a refresh token reports not fresh", Policy::Refresh, bearer(&hs256(&refresh())), REFRESH),
    ];
    check(&default_settings(), rows);
}
