//! How long does route lookup take with 10, 100 and 1,000 routes, for hits and for misses, with
//! and without the path aliases a lenient backend may read (`-aliased`)?
//!
//! The tables mix the three kinds of route a config holds, in equal parts: exact paths
//! (`/svcN/status`), templates with two parameters and a method (`GET /svcN/users/{id}/orders/{order}`)
//! and prefixes (`/staticN`), all added through `RouteTable::insert` as config loading does.
//! A miss walks every candidate prefix of the path down to `/`, so it is the slow case.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use freshgate::aliases::AliasSet;
use freshgate::auth::Policy;
use freshgate::routes::{Matcher, Route, RouteTable};
use http::Method;

/// A route as config loading makes it, whose settings beyond the ones varied here (body limit,
/// mode, ...) are the config defaults; struct update syntax keeps this file compiling as
/// `Route` grows.
fn template() -> Route {
    let config = "[upstreams]\napp = \"http://127.0.0.1:9\"\n\n[jwt]\nsecret = \"s\"\n\n\
                  [[route]]\nprefix = \"/\"\npolicy = \"public\"\n";
    let snapshot = freshgate::config::parse(config, "route_lookup.toml", Path::new("."))
        .unwrap_or_else(|e| panic!("the template route's config is refused:\n{e}"));
    match snapshot.routes.routes() {
        [route] => route.clone(),
        routes => panic!("expected one template route, got {}", routes.len()),
    }
}

/// A table of `n` routes: route `i` is exact, template or prefix by `i % 3`.
fn table(n: usize) -> RouteTable {
    let template = template();
    let mut table = RouteTable::default();
    for i in 0..n {
        let (matcher, methods, policy) = match i % 3 {
            0 => (
                Matcher::Path(format!("/svc{i}/status")),
                vec![],
                Policy::Public,
            ),
            1 => (
                Matcher::Path(format!("/svc{i}/users/{{id}}/orders/{{order}}")),
                vec![Method::GET],
                Policy::Access,
            ),
            _ => (
                Matcher::Prefix(format!("/static{i}")),
                vec![],
                Policy::Public,
            ),
        };
        let route = Route {
            index: i + 1,
            name: matcher.to_string().into(),
            matcher,
            methods,
            rule: policy.into(),
            ..template.clone()
        };
        if let Err(e) = table.insert(route) {
            panic!("bench route {i} is invalid: {e:?}");
        }
    }
    table.fold();
    table
}

/// The index of a route of kind `kind` (0, 1, 2) in the middle of a table of `n`.
fn middle(n: usize, kind: usize) -> usize {
    let i = n / 2;
    i - i % 3 + kind
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_lookup");
    for n in [10, 100, 1_000] {
        let table = table(n);
        let cases: [(&str, Method, String, bool); 5] = [
            (
                "hit-exact",
                Method::GET,
                format!("/svc{}/status", middle(n, 0)),
                true,
            ),
            (
                "hit-template",
                Method::GET,
                format!("/svc{}/users/42/orders/7", middle(n, 1)),
                true,
            ),
            (
                "hit-prefix",
                Method::GET,
                format!("/static{}/css/site/app.css", middle(n, 2)),
                true,
            ),
            // The template matches the path but not the method: on to the prefixes, then none.
            (
                "miss-method",
                Method::POST,
                format!("/svc{}/users/42/orders/7", middle(n, 1)),
                false,
            ),
            (
                "miss-path",
                Method::GET,
                "/nothing/here/at/all".to_string(),
                false,
            ),
        ];
        for (name, method, path, hit) in cases {
            assert_eq!(
                table.lookup(&method, &path).is_some(),
                hit,
                "{name} with {n} routes: {method} {path}"
            );
            group.bench_with_input(
                BenchmarkId::new(name, n),
                &(method.clone(), path.clone()),
                |b, (m, p)| b.iter(|| table.lookup(black_box(m), black_box(p)).map(|r| r.index)),
            );
            // The same lookup with every alias of the path looked up too (issue 10: under 1 µs).
            let aliased = BenchmarkId::new(format!("{name}-aliased"), n);
            group.bench_with_input(aliased, &(method, path), |b, (m, p)| {
                b.iter(|| {
                    table
                        .lookup_aliased(black_box(m), black_box(p), AliasSet::ALL)
                        .map(|r| r.map(|r| r.index))
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Short by default so `cargo bench` finishes; pass --measurement-time for more.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = lookup
}
criterion_main!(benches);
