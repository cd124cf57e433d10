//! `max_age` freshness windows on `fresh` routes: the token's `auth_time`, else its `iat`, no
//! older than `max_age` plus the decoder's leeway, compared in milliseconds against the clock
//! argument. Without a usable time the window fails closed; the `fresh` claim is still needed.

use super::*;

/// The window of every row here: five minutes.
const MAX_AGE: u64 = 300;
/// `NOW` exactly, on a whole second (the rows at `NOW_MS` are half a second later).
const NOW_WHOLE_MS: i64 = NOW * 1000;

/// A fresh access token issued `iat_ago` seconds before `NOW` (`iat` and `nbf`; no `iat` when
/// `None`), with `auth_time` `auth_time_ago` seconds before `NOW` when given.
fn issued(iat_ago: Option<i64>, auth_time_ago: Option<i64>) -> Value {
    let mut claims = match iat_ago {
        Some(ago) => set(fresh_access(), json!({"iat": NOW - ago, "nbf": NOW - ago})),
        None => unset(fresh_access(), &["iat"]),
    };
    if let Some(ago) = auth_time_ago {
        claims = set(claims, json!({"auth_time": NOW - ago}));
    }
    claims
}

/// A `GET` of `claims` on a fresh route with the five-minute window.
fn windowed(name: &'static str, claims: &Value, want: Want) -> Case {
    case(name, Policy::Fresh, bearer(&hs256(claims)), want).within(MAX_AGE)
}

#[test]
fn the_window_prefers_auth_time_over_iat_and_ends_exactly_at_max_age() {
    let auth_time = |value: Value| set(issued(Some(0), None), json!({ "auth_time": value }));
    #[rustfmt::skip]
    let rows = vec![
        windowed("auth_time 4m55s ago is inside", &issued(Some(0), Some(295)), FRESH_ACCESS),
        windowed("auth_time 5m05s ago is outside", &issued(Some(0), Some(305)), Rejected(401, NOT_FRESH)),
        windowed("no auth_time: iat 4m55s ago is inside", &issued(Some(295), None), FRESH_ACCESS),
        windowed("no auth_time: iat 5m05s ago is outside", &issued(Some(305), None), Rejected(401, NOT_FRESH)),
        windowed("a recent auth_time wins over an old iat", &issued(Some(400), Some(10)), FRESH_ACCESS),
        windowed("an old auth_time wins over a recent iat", &issued(Some(295), Some(305)), Rejected(401, NOT_FRESH)),
        windowed("auth_time exactly max_age ago is inside", &issued(Some(0), Some(300)), FRESH_ACCESS).at(NOW_WHOLE_MS),
        windowed("auth_time max_age and one millisecond ago is outside", &issued(Some(0), Some(300)), Rejected(401, NOT_FRESH)).at(NOW_WHOLE_MS + 1),
        windowed("auth_time max_age and half a second ago is outside (milliseconds, not whole seconds)", &issued(Some(0), Some(300)), Rejected(401, NOT_FRESH)),
        windowed("iat exactly max_age ago is inside", &issued(Some(300), None), FRESH_ACCESS).at(NOW_WHOLE_MS),
        windowed("iat max_age and one millisecond ago is outside", &issued(Some(300), None), Rejected(401, NOT_FRESH)).at(NOW_WHOLE_MS + 1),
        windowed("auth_time in the future is inside", &issued(Some(0), Some(-60)), FRESH_ACCESS),
        windowed("a fractional auth_time is truncated to its second", &auth_time(json!((NOW - 300) as f64 + 0.9)), Rejected(401, NOT_FRESH)).at(NOW_WHOLE_MS + 1),
        windowed("a numeric string auth_time inside counts, as int() reads it", &auth_time(json!((NOW - 10).to_string())), FRESH_ACCESS),
        windowed("a numeric string auth_time outside counts too", &auth_time(json!((NOW - 400).to_string())), Rejected(401, NOT_FRESH)),
    ];
    check(&default_settings(), rows);
}

#[test]
fn the_window_fails_closed_without_a_usable_time_and_still_needs_the_fresh_claim() {
    let auth_time = |value: Value| set(issued(Some(0), None), json!({ "auth_time": value }));
    let fresh = |value: Value| set(issued(Some(0), None), json!({ "fresh": value }));
    #[rustfmt::skip]
    let rows = vec![
        windowed("no iat and no auth_time is outside", &issued(None, None), Rejected(401, NOT_FRESH)),
        windowed("a non-numeric auth_time is outside, without falling back to a recent iat", &auth_time(json!("yesterday")), Rejected(401, NOT_FRESH)),
        windowed("a null auth_time is outside, without falling back to a recent iat", &auth_time(json!(null)), Rejected(401, NOT_FRESH)),
        windowed("a list auth_time is outside", &auth_time(json!([NOW])), Rejected(401, NOT_FRESH)),
        windowed("an object auth_time is outside", &auth_time(json!({"at": NOW})), Rejected(401, NOT_FRESH)),
        windowed("a boolean auth_time is the epoch second 1, outside", &auth_time(json!(true)), Rejected(401, NOT_FRESH)),
        windowed("fresh false inside the window is 401", &set(issued(Some(0), Some(0)), json!({"fresh": false})), Rejected(401, NOT_FRESH)),
        windowed("no fresh claim inside the window is 401", &unset(issued(Some(0), Some(0)), &["fresh"]), Rejected(401, NOT_FRESH)),
        windowed("a fresh-until time ahead inside the window is fresh", &fresh(json!(NOW + 60)), FRESH_ACCESS),
        windowed("a fresh-until time past inside the window is 401", &fresh(json!(NOW - 60)), Rejected(401, NOT_FRESH)),
        windowed("a fresh-until time ahead outside the window is 401", &set(issued(Some(400), None), json!({"fresh": NOW + 60})), Rejected(401, NOT_FRESH)),
        windowed("a refresh token is the wrong type before any window", &set(refresh(), json!({"auth_time": NOW})), Rejected(422, ONLY_ACCESS)),
        windowed("an expired token is 422 before any window", &set(issued(Some(0), Some(0)), json!({"exp": NOW - 60})), Rejected(422, "Signature has expired")),
        // Without a window, no time is looked at.
        case("without a window an old auth_time is fresh", Policy::Fresh, bearer(&hs256(&issued(Some(0), Some(3600)))), FRESH_ACCESS),
        case("without a window no iat and no auth_time is fresh", Policy::Fresh, bearer(&hs256(&issued(None, None))), FRESH_ACCESS),
        // The config allows max_age on fresh routes only; the decision reads it only there.
        case("a window on an access rule is not applied", Policy::Access, bearer(&hs256(&issued(Some(0), Some(3600)))), FRESH_ACCESS).within(MAX_AGE),
        case("a window on an optional rule is not applied", Policy::Optional, bearer(&hs256(&issued(Some(0), Some(3600)))), FRESH_ACCESS).within(MAX_AGE),
    ];
    check(&default_settings(), rows);
}

#[test]
fn leeway_widens_the_window_by_exactly_the_leeway() {
    #[rustfmt::skip]
    let rows = vec![
        windowed("auth_time 5m25s ago is inside with a 30 s leeway", &issued(Some(0), Some(325)), FRESH_ACCESS),
        windowed("auth_time 5m29s ago is inside with a 30 s leeway", &issued(Some(0), Some(329)), FRESH_ACCESS),
        windowed("auth_time 5m31s ago is outside with a 30 s leeway", &issued(Some(0), Some(331)), Rejected(401, NOT_FRESH)),
        windowed("auth_time 5m35s ago is outside with a 30 s leeway", &issued(Some(0), Some(335)), Rejected(401, NOT_FRESH)),
        windowed("auth_time exactly max_age plus leeway ago is inside", &issued(Some(0), Some(330)), FRESH_ACCESS).at(NOW_WHOLE_MS),
        windowed("auth_time max_age plus leeway and one millisecond ago is outside", &issued(Some(0), Some(330)), Rejected(401, NOT_FRESH)).at(NOW_WHOLE_MS + 1),
        windowed("no auth_time: iat 5m25s ago is inside with a 30 s leeway", &issued(Some(325), None), FRESH_ACCESS),
        windowed("no auth_time: iat 5m35s ago is outside with a 30 s leeway", &issued(Some(335), None), Rejected(401, NOT_FRESH)),
        windowed("the leeway does not rescue a token without times", &issued(None, None), Rejected(401, NOT_FRESH)),
    ];
    check(&settings_with(|d| d.leeway_ms = 30_000), rows);
    #[rustfmt::skip]
    let rows = vec![
        windowed("a leeway of one millisecond admits one millisecond more", &issued(Some(0), Some(300)), FRESH_ACCESS).at(NOW_WHOLE_MS + 1),
        windowed("a leeway of one millisecond does not admit two", &issued(Some(0), Some(300)), Rejected(401, NOT_FRESH)).at(NOW_WHOLE_MS + 2),
    ];
    check_in(
        "a leeway of 1 ms",
        &settings_with(|d| d.leeway_ms = 1),
        rows,
    );
}

#[test]
fn the_authenticated_age_is_seconds_since_auth_time_else_iat_and_never_negative() {
    let settings = default_settings();
    #[rustfmt::skip]
    let cases: Vec<(&str, Value, i64, Option<f64>)> = vec![
        ("auth_time is preferred over iat", issued(Some(100), Some(10)), NOW_WHOLE_MS, Some(10.0)),
        ("iat when there is no auth_time", issued(Some(100), None), NOW_WHOLE_MS, Some(100.0)),
        ("fractions of the clock count", issued(Some(100), None), NOW_MS, Some(100.5)),
        ("a future auth_time is age zero", issued(Some(0), Some(-60)), NOW_WHOLE_MS, Some(0.0)),
        ("no time at all is no age", issued(None, None), NOW_WHOLE_MS, None),
    ];
    for (name, claims, now_ms, want) in cases {
        let outcome = decide(&settings, Policy::Access, &bearer(&hs256(&claims)), NOW_MS);
        let Ok(Outcome::Authenticated(identity)) = outcome else {
            panic!(
                "{name}: the token should be accepted, got {}",
                describe(&outcome, Profile::default_profile())
            );
        };
        assert_eq!(identity.authenticated_age(now_ms), want, "{name}");
    }
}
