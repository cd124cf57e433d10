//! How long does the whole token decision take, from the request's `HeaderMap` to the verdict?
//!
//! `freshgate::auth::decide` as the gateway calls it: read and split the `Authorization`
//! header, verify the token (HS256) or find it in the verified-token cache, check the claims,
//! `type` and freshness. Five requests: an access token on an `access` route (repeated, so a
//! cache hit), an access token never seen before (`access-first-sight`: verification plus a
//! cache insert), a fresh token on a `fresh` route, an expired token (rejected, 422) and no
//! header at all (rejected, 401) on an `access` route.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use freshgate::auth::Policy;
use freshgate::auth::{decide, TokenType};
use freshgate::token::{sign_hmac, TokenSpec};
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, StatusCode};
use jsonwebtoken::Algorithm;

const SECRET: &str = "freshgate-bench-secret-not-for-production";
const CONFIG: &str = r#"
[upstreams]
app = "http://127.0.0.1:9"

[jwt]
secret = "freshgate-bench-secret-not-for-production"

[[route]]
path = "/protected"
policy = "access"
"#;

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A request's headers as a client sends them, with `Authorization: Bearer <token>`.
fn headers(fresh: bool, issued: i64, lifetime: Duration) -> HeaderMap {
    let mut spec = TokenSpec::new("bench-user", TokenType::Access, fresh);
    spec.expires_in = Some(lifetime);
    let token = sign_hmac(&spec.claims(issued), SECRET.as_bytes(), Algorithm::HS256)
        .unwrap_or_else(|e| panic!("cannot sign a bench token: {e}"));
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("api.example"));
    headers.insert("user-agent", HeaderValue::from_static("bench/1.0"));
    headers.insert("accept", HeaderValue::from_static("application/json"));
    let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
        .unwrap_or_else(|e| panic!("a token is not a header value: {e}"));
    headers.insert(AUTHORIZATION, bearer);
    headers
}

fn decision(c: &mut Criterion) {
    let snapshot = freshgate::config::parse(CONFIG, "decision.toml", Path::new("."))
        .unwrap_or_else(|e| panic!("the bench config is refused:\n{e}"));
    let settings = &snapshot.auth;
    let now = now_s();
    let day = Duration::from_secs(24 * 3600);
    let hour = Duration::from_secs(3600);
    let mut missing = headers(false, now, day);
    missing.remove(AUTHORIZATION);
    // (name, policy, headers, the status a rejection must carry or None for a pass)
    let cases = [
        ("access", Policy::Access, headers(false, now, day), None),
        ("fresh", Policy::Fresh, headers(true, now, day), None),
        (
            "rejected-expired",
            Policy::Access,
            headers(false, now - 2 * 3600, hour),
            Some(StatusCode::UNPROCESSABLE_ENTITY),
        ),
        (
            "missing-header",
            Policy::Access,
            missing,
            Some(StatusCode::UNAUTHORIZED),
        ),
    ];
    let now_ms = now * 1000;
    let mut group = c.benchmark_group("decision");
    for (name, policy, headers, rejected) in cases {
        let got = decide(settings, policy, &headers, now_ms).map_err(|e| e.status());
        assert_eq!(got.err(), rejected, "{name}: unexpected verdict");
        group.bench_function(name, |b| {
            b.iter(|| decide(settings, black_box(policy), black_box(&headers), now_ms))
        });
    }
    // Every token carries a new `jti`, so each iteration brings a token the cache has not seen;
    // signing it is setup, outside the timing.
    group.bench_function("access-first-sight", |b| {
        b.iter_batched(
            || headers(false, now, day),
            |headers| decide(settings, Policy::Access, &headers, now_ms),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Short by default so `cargo bench` finishes; pass --measurement-time for more.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = decision
}
criterion_main!(benches);
