//! The example config in the repository is valid and routes the example app's paths to the
//! policies its comments promise, so the docs cannot rot.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod support;

use std::path::Path;

use freshgate::auth::Policy;
use http::Method;
use support::{freshgate_command, ROUTES};

fn example_path() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/gateway.toml.example"))
}

fn example() -> freshgate::Snapshot {
    freshgate::config::load(example_path())
        .unwrap_or_else(|e| panic!("gateway.toml.example must be valid:\n{e}"))
}

#[test]
fn the_example_config_routes_each_path_to_the_promised_policy() {
    let snapshot = example();
    #[rustfmt::skip]
    let cases: &[(&str, &str, Option<Policy>)] = &[
        ("GET", "/protected-fresh", Some(Policy::Fresh)),
        ("POST", "/protected-fresh", Some(Policy::Fresh)),
        ("GET", "/protected", Some(Policy::Access)),
        ("DELETE", "/repos/a/b", Some(Policy::Fresh)),
        ("GET", "/repos/a/b", Some(Policy::Access)),
        ("PUT", "/repos/a/b", Some(Policy::Access)),
        ("GET", "/static/x", Some(Policy::Public)),
        ("GET", "/static", Some(Policy::Public)),
        ("GET", "/static/css/site.css", Some(Policy::Public)),
        ("GET", "/staticx", None),
        ("POST", "/login", Some(Policy::Public)),
        ("GET", "/login", None),
        ("POST", "/fresh-login", Some(Policy::Public)),
        ("POST", "/refresh", Some(Policy::Refresh)),
        ("GET", "/partially-protected", Some(Policy::Optional)),
        ("GET", "/repos/a", None),
        ("GET", "/repos/a/b/c", None),
        ("GET", "/", None),
        ("GET", "/protected/x", None),
    ];
    for (method, path, want) in cases {
        let method: Method = method.parse().expect("valid method");
        let got = snapshot.routes.lookup(&method, path).map(|r| r.policy());
        assert_eq!(got, *want, "{method} {path}");
    }
}

#[test]
fn the_example_config_forwards_to_the_app_and_listens_where_it_says() {
    let snapshot = example();
    assert_eq!(
        snapshot.startup.listen.to_string(),
        "127.0.0.1:8080",
        "listen address"
    );
    let upstreams: Vec<(&str, String)> = snapshot
        .upstreams
        .iter()
        .map(|u| (&*u.name, u.authority.to_string()))
        .collect();
    assert_eq!(
        upstreams,
        [("app", "127.0.0.1:8000".to_string())],
        "one upstream, the example app"
    );
    assert!(
        snapshot.secret.is_some(),
        "the example signs with an inline secret"
    );
}

#[test]
fn freshgate_check_accepts_the_example_config() {
    let out = freshgate_command()
        .args(["check", "--config"])
        .arg(example_path())
        .env_remove("RUST_LOG")
        .output()
        .expect("run the freshgate binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "check exits 0; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(": valid; listen 127.0.0.1:8080"),
        "check says the file is valid: {stdout}"
    );
}

#[test]
fn the_shared_route_fixture_is_the_example_config_s_route_table() {
    let text =
        format!("[upstreams]\napp = \"http://127.0.0.1:9\"\n\n[jwt]\nsecret = \"s\"\n\n{ROUTES}");
    let fixture = freshgate::config::parse(&text, "routes.toml", Path::new("."))
        .unwrap_or_else(|e| panic!("tests/fixtures/routes.toml must be valid:\n{e}"));
    let table = |snapshot: &freshgate::Snapshot| {
        snapshot
            .routes
            .routes()
            .iter()
            .map(|r| (r.name.to_string(), r.policy(), r.rule.max_age))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        table(&fixture),
        table(&example()),
        "tests/fixtures/routes.toml (shared by tests, benches and fuzz targets) is the example \
         config's route table, route for route"
    );
}
