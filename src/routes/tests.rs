//! Table tests of the matching contract.

use super::*;

fn route(matcher: Matcher, methods: &[&str], policy: Policy) -> Route {
    Route {
        index: 0,
        name: matcher.to_string().into(),
        matcher,
        methods: methods.iter().map(|m| m.parse().unwrap()).collect(),
        rule: policy.into(),
        upstream: Arc::new(Upstream {
            name: "app".into(),
            scheme: http::uri::Scheme::HTTP,
            authority: http::uri::Authority::from_static("127.0.0.1:8000"),
        }),
        max_body_bytes: None,
        mode: Mode::Enforce,
        strip_token: false,
        websocket: None,
        close_at_expiry: false,
        require: Default::default(),
        revocation_unavailable: None,
        metrics: Default::default(),
    }
}

fn table(routes: Vec<Route>) -> RouteTable {
    let mut t = RouteTable::default();
    for r in routes {
        t.insert(r).expect("route is valid");
    }
    t
}

fn path(p: &str) -> Matcher {
    Matcher::Path(p.to_string())
}

fn prefix(p: &str) -> Matcher {
    Matcher::Prefix(p.to_string())
}

#[test]
fn lookup_follows_the_specificity_rules() {
    let t = table(vec![
        route(path("/repos/{owner}/{repo}"), &["DELETE"], Policy::Fresh),
        route(path("/repos/{owner}/{repo}"), &[], Policy::Access),
        route(path("/repos/new/{repo}"), &[], Policy::Optional),
        route(prefix("/static"), &[], Policy::Public),
        route(prefix("/static/private"), &[], Policy::Access),
        route(prefix("/"), &[], Policy::Refresh),
        route(path("/"), &["GET"], Policy::Public),
        route(path("/login"), &["POST"], Policy::Public),
        route(path("/dir/"), &[], Policy::Optional),
    ]);
    let cases: &[(&str, &str, Option<Policy>)] = &[
        ("DELETE", "/repos/alice/x", Some(Policy::Fresh)),
        ("GET", "/repos/alice/x", Some(Policy::Access)),
        ("GET", "/repos/new/x", Some(Policy::Optional)),
        // the literal branch matches the path, so it wins even against a listed method
        ("DELETE", "/repos/new/x", Some(Policy::Optional)),
        ("GET", "/repos/alice", Some(Policy::Refresh)),
        ("GET", "/repos/alice/x/y", Some(Policy::Refresh)),
        ("GET", "/repos//x", Some(Policy::Refresh)),
        ("GET", "/static", Some(Policy::Public)),
        ("GET", "/static/", Some(Policy::Public)),
        ("GET", "/static/a/b.css", Some(Policy::Public)),
        ("GET", "/staticx", Some(Policy::Refresh)),
        ("GET", "/static/private", Some(Policy::Access)),
        ("GET", "/static/private/key", Some(Policy::Access)),
        ("GET", "/static/privatex", Some(Policy::Public)),
        ("GET", "/", Some(Policy::Public)),
        ("POST", "/", Some(Policy::Refresh)),
        ("POST", "/login", Some(Policy::Public)),
        ("GET", "/login", Some(Policy::Refresh)),
        ("GET", "/dir/", Some(Policy::Optional)),
        ("GET", "/dir", Some(Policy::Refresh)),
    ];
    for (method, p, want) in cases {
        let got = t.lookup(&method.parse().unwrap(), p).map(Route::policy);
        assert_eq!(got, *want, "{method} {p}");
    }
}

#[test]
fn no_route_means_none() {
    let t = table(vec![
        route(path("/a/{x}"), &["GET"], Policy::Access),
        route(prefix("/b"), &[], Policy::Public),
    ]);
    for (m, p) in [
        ("POST", "/a/1"),
        ("GET", "/a"),
        ("GET", "/"),
        ("GET", "/bb"),
        ("GET", ""),
    ] {
        assert!(
            t.lookup(&m.parse().unwrap(), p).is_none(),
            "{m} {p} should not match"
        );
    }
}

#[test]
fn routes_that_would_tie_are_rejected() {
    let cases = [
        (
            route(path("/a/{x}"), &[], Policy::Access),
            route(path("/a/{y}"), &[], Policy::Fresh),
        ),
        (
            route(path("/a"), &["GET", "POST"], Policy::Access),
            route(path("/a"), &["POST"], Policy::Public),
        ),
        (
            route(prefix("/s"), &[], Policy::Access),
            route(prefix("/s"), &[], Policy::Public),
        ),
    ];
    for (first, second) in cases {
        let mut t = RouteTable::default();
        t.insert(first.clone()).unwrap();
        assert_eq!(
            t.insert(second.clone()),
            Err(RouteError::Tie { other: 0 }),
            "{first:?} vs {second:?}"
        );
    }
}

#[test]
fn routes_that_differ_in_methods_or_shape_do_not_tie() {
    table(vec![
        route(path("/a/{x}"), &["GET"], Policy::Access),
        route(path("/a/{x}"), &["POST"], Policy::Fresh),
        route(path("/a/{x}"), &[], Policy::Public),
        route(path("/a/b"), &[], Policy::Public),
        route(prefix("/a"), &[], Policy::Public),
        route(prefix("/a"), &["DELETE"], Policy::Fresh),
    ]);
}

#[test]
fn bad_patterns_are_rejected_with_a_fix() {
    for (m, why) in [
        (path("relative"), "not absolute"),
        (path("/a//b"), "empty segment"),
        (path("/a/../b"), "dot segment"),
        (path("/a/%2e"), "percent"),
        (path("/a?b"), "query"),
        (path("/a/{}"), "empty param"),
        (path("/a/{x-y}"), "bad param name"),
        (prefix("/static/"), "trailing slash"),
        (prefix("/s/{x}"), "param in prefix"),
    ] {
        let mut t = RouteTable::default();
        let err = t
            .insert(route(m.clone(), &[], Policy::Public))
            .expect_err(why);
        assert!(matches!(err, RouteError::BadPattern { .. }), "{m}: {why}");
    }
}

#[test]
fn match_order_lists_the_most_specific_first() {
    let t = table(vec![
        route(prefix("/"), &[], Policy::Public),
        route(prefix("/static/x"), &[], Policy::Public),
        route(path("/a/{x}"), &[], Policy::Access),
        route(path("/a/b"), &[], Policy::Access),
        route(path("/a/b"), &["GET"], Policy::Fresh),
    ]);
    let order: Vec<String> = t
        .in_match_order()
        .iter()
        .map(|r| format!("{} {:?}", r.matcher, r.methods))
        .collect();
    assert_eq!(
        order,
        [
            "path /a/b [GET]",
            "path /a/b []",
            "path /a/{x} []",
            "prefix /static/x []",
            "prefix / []"
        ]
    );
}
