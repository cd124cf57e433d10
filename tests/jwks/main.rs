//! Remote keys (`[jwt] jwks_url`, `oidc_issuer`) through a real gateway and a local HTTPS
//! provider with a test CA ([`support::provider`]): fetched before `/readyz` turns ready,
//! discovery, rotation picked up by one refetch on an unknown kid, a kid flood bounded by the
//! cooldown, a provider that is down or answers garbage (the last good set keeps serving, the
//! failure is counted), `jwks_max_stale`, and provider sets that are refused whole.
// Tests fail loudly by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

#[path = "../tokens/keys.rs"]
#[allow(dead_code)]
mod keys;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::Value;
use tokio::net::TcpListener;

mod operations;
mod providers;

use keys::{access, sign, toml_path, JWKS};
use support::provider::{Answer, Provider};
use support::*;

const UNKNOWN_KID: &str = "No key matches the token's kid";
const WAIT: Duration = Duration::from_secs(10);

/// The test JWKS with only the keys named.
fn jwks(kids: &[&str]) -> String {
    let text = std::fs::read_to_string(keys::key_path(JWKS)).unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    let keys = doc["keys"].as_array_mut().unwrap();
    keys.retain(|k| kids.contains(&k["kid"].as_str().unwrap_or("")));
    doc.to_string()
}

fn keys_answer(kids: &[&str]) -> Answer {
    Answer::Keys(jwks(kids), None)
}

/// A config for the echo upstream with `source` (e.g. `jwks_url = "..."`) and `extra` in
/// `[jwt]`, trusting the provider's CA.
fn config(provider: &Provider, source: &str, extra: &str) -> String {
    format!(
        "[upstreams]\napp = \"http://{{upstream}}\"\n\n[jwt]\n{source}\njwks_ca_file = {}\nalgorithms = [\"RS256\", \"ES256\"]\n{extra}\n\n[[route]]\npath = \"/protected\"\npolicy = \"access\"\n",
        toml_path(&provider.ca_file)
    )
}

fn url_config(provider: &Provider, extra: &str) -> String {
    config(
        provider,
        &format!("jwks_url = \"{}\"", provider.jwks_url()),
        extra,
    )
}

/// The gateway and its admin listener.
struct Setup {
    _upstream: Upstream,
    gw: TestGateway,
    admin: SocketAddr,
}

async fn start(config: &str) -> Setup {
    let (upstream, gw) = start_with_echo(config).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = listener.local_addr().unwrap();
    let draining = Arc::new(freshgate::admin::Draining::default());
    tokio::spawn(freshgate::admin::serve(
        listener,
        gw.gateway.clone(),
        draining,
        std::future::pending(),
    ));
    Setup {
        _upstream: upstream,
        gw,
        admin,
    }
}

impl Setup {
    async fn get(&self, token: &str) -> Reply {
        let auth = format!("Bearer {token}");
        send(
            self.gw.addr,
            "GET",
            "/protected",
            &[("authorization", auth.as_bytes())],
        )
        .await
    }

    async fn readyz(&self) -> u16 {
        send(self.admin, "GET", "/readyz", &[])
            .await
            .status
            .as_u16()
    }

    async fn metrics(&self) -> String {
        send(self.admin, "GET", "/metrics", &[]).await.text()
    }

    async fn fetches(&self, outcome: &str) -> f64 {
        sum(
            &self.metrics().await,
            "freshgate_jwks_fetches_total",
            &[("outcome", outcome)],
        )
    }

    async fn wait_ready(&self) {
        eventually(WAIT, "/readyz 200", async || {
            (self.readyz().await == 200).then_some(())
        })
        .await;
    }
}

/// The sum of the samples named `name` that carry `labels` (and any others, such as `source`).
fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    parse_metrics(text)
        .iter()
        .filter(|m| m.name == name)
        .filter(|m| {
            labels
                .iter()
                .all(|(k, v)| m.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|m| m.value)
        .sum()
}

fn rsa_token() -> String {
    sign(Algorithm::RS256, Some("rsa-1"), &access("rsa-1"))
}

fn p256_token() -> String {
    sign(Algorithm::ES256, Some("p256-1"), &access("p256-1"))
}

#[track_caller]
fn assert_accepted(reply: &Reply, subject: &str, what: &str) {
    assert_eq!(
        reply.status.as_u16(),
        200,
        "{what}: forwarded (body {})",
        reply.text()
    );
    assert_eq!(
        reply.upstream_saw("x-auth-subject"),
        [subject],
        "{what}: subject"
    );
}

#[track_caller]
fn assert_unknown_kid(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status.as_u16(),
        422,
        "{what}: status (body {})",
        reply.text()
    );
    assert_eq!(reply.detail(), UNKNOWN_KID, "{what}: detail");
}

#[tokio::test]
async fn readyz_waits_for_the_first_key_set_and_then_its_keys_verify() {
    let provider = Provider::start(Answer::Down).await;
    let s = start(&url_config(&provider, "jwks_cooldown = \"100ms\"")).await;
    assert_eq!(s.readyz().await, 503, "no key set yet: not ready");
    provider.set(keys_answer(&["rsa-1"]));
    s.wait_ready().await;
    assert_accepted(
        &s.get(&rsa_token()).await,
        "rsa-1",
        "a provider key verifies",
    );
    assert!(
        s.fetches("failed").await >= 1.0,
        "the failed first fetch is counted"
    );
    let text = s.metrics().await;
    assert!(
        parse_metrics(&text)
            .iter()
            .any(|m| m.name == "freshgate_jwks_age_seconds"),
        "key-set age:\n{text}"
    );
}

#[tokio::test]
async fn oidc_discovery_finds_the_key_set_and_checks_its_issuer() {
    let provider = Provider::start(keys_answer(&["rsa-1"])).await;
    let source = format!("oidc_issuer = \"{}\"", provider.issuer());
    let s = start(&config(&provider, &source, "")).await;
    s.wait_ready().await;
    assert_accepted(
        &s.get(&rsa_token()).await,
        "rsa-1",
        "a discovered key verifies",
    );
    assert!(
        provider.hits("/.well-known/openid-configuration") >= 1,
        "discovery was asked"
    );

    // A discovery document naming another issuer is refused: nothing becomes ready.
    let other = Provider::start(keys_answer(&["rsa-1"])).await;
    let source = format!("oidc_issuer = \"{}/realm\"", other.issuer());
    let s = start(&config(&other, &source, "")).await;
    eventually(WAIT, "a failed fetch", async || {
        (s.fetches("failed").await >= 1.0).then_some(())
    })
    .await;
    assert_eq!(
        s.readyz().await,
        503,
        "an issuer mismatch yields no key set"
    );
    assert_eq!(other.hits("/jwks"), 0, "its jwks_uri was never fetched");
}

#[tokio::test]
async fn a_rotated_key_is_accepted_after_one_refetch() {
    let provider = Provider::start(keys_answer(&["rsa-1"])).await;
    let s = start(&url_config(&provider, "jwks_refresh = \"1h\"")).await;
    s.wait_ready().await;
    assert_accepted(&s.get(&rsa_token()).await, "rsa-1", "the first key");
    let before = provider.hits("/jwks");
    provider.set(keys_answer(&["rsa-1", "p256-1"]));
    assert_accepted(
        &s.get(&p256_token()).await,
        "p256-1",
        "the new kid after one refetch",
    );
    assert_eq!(provider.hits("/jwks"), before + 1, "exactly one refetch");
    assert_accepted(
        &s.get(&p256_token()).await,
        "p256-1",
        "and again without a fetch",
    );
    assert_eq!(provider.hits("/jwks"), before + 1, "no further fetch");

    // A set that shrinks takes effect at the next successful fetch.
    provider.set(keys_answer(&["p256-1"]));
    let flood = sign(Algorithm::RS256, Some("unknown"), &access("x"));
    assert_unknown_kid(&s.get(&flood).await, "an unknown kid, within the cooldown");
    assert_accepted(
        &s.get(&rsa_token()).await,
        "rsa-1",
        "the old set is still in force",
    );
}

#[tokio::test]
async fn a_flood_of_unknown_kids_is_bounded_by_the_cooldown() {
    let provider = Provider::start(keys_answer(&["rsa-1"])).await;
    let s = start(&url_config(
        &provider,
        "jwks_refresh = \"1h\"\njwks_cooldown = \"1h\"",
    ))
    .await;
    s.wait_ready().await;
    let before = provider.hits("/jwks");
    let requests = (0..40).map(|i| {
        let token = sign(Algorithm::RS256, Some(&format!("random-{i}")), &access("x"));
        let addr = s.gw.addr;
        tokio::spawn(async move {
            let auth = format!("Bearer {token}");
            send(
                addr,
                "GET",
                "/protected",
                &[("authorization", auth.as_bytes())],
            )
            .await
        })
    });
    for reply in futures_util::future::join_all(requests).await {
        assert_unknown_kid(&reply.unwrap(), "a random kid");
    }
    assert_eq!(
        provider.hits("/jwks"),
        before + 1,
        "the flood waited on one shared refetch"
    );
    let late = sign(Algorithm::RS256, Some("random-late"), &access("x"));
    assert_unknown_kid(&s.get(&late).await, "a kid after the flood");
    assert_eq!(
        provider.hits("/jwks"),
        before + 1,
        "within the cooldown: no fetch"
    );
    let text = s.metrics().await;
    assert_eq!(
        sum(&text, "freshgate_jwks_kid_refetches_total", &[]),
        1.0,
        "one kid refetch"
    );
    assert!(
        sum(&text, "freshgate_jwks_cooldown_hits_total", &[]) >= 1.0,
        "cooldown hits:\n{text}"
    );
    assert_accepted(
        &s.get(&rsa_token()).await,
        "rsa-1",
        "known keys are unaffected",
    );
}

#[tokio::test]
async fn when_the_provider_is_down_or_answers_garbage_the_last_good_set_keeps_serving() {
    let provider = Provider::start(keys_answer(&["rsa-1"])).await;
    let extra = "jwks_refresh = \"100ms\"\njwks_cooldown = \"50ms\"\njwks_max_bytes = 4096";
    let s = start(&url_config(&provider, extra)).await;
    s.wait_ready().await;
    let private = r#"{"keys":[{"kty":"RSA","kid":"rsa-1","n":"AQAB","e":"AQAB","d":"AQAB"}]}"#;
    let bad_answers = [
        ("down", Answer::Down),
        ("garbage", Answer::Garbage),
        ("oversized", Answer::Huge(10_000)),
        ("a redirect", Answer::Redirect),
        ("a private key", Answer::Keys(private.to_owned(), None)),
        (
            "an RSA key for HS256",
            Answer::Keys(jwks(&["rsa-1"]).replace("RS256", "HS256"), None),
        ),
    ];
    for (what, answer) in bad_answers {
        let failed = s.fetches("failed").await;
        provider.set(answer);
        eventually(WAIT, format!("a failed fetch ({what})"), async || {
            (s.fetches("failed").await > failed).then_some(())
        })
        .await;
        assert_accepted(
            &s.get(&rsa_token()).await,
            "rsa-1",
            &format!("{what}: the old key"),
        );
        assert_eq!(s.readyz().await, 200, "{what}: still ready");
    }
    let ok = s.fetches("ok").await;
    provider.set(keys_answer(&["rsa-1"]));
    eventually(WAIT, "the provider back", async || {
        (s.fetches("ok").await > ok).then_some(())
    })
    .await;
    assert_accepted(&s.get(&rsa_token()).await, "rsa-1", "after recovery");
}

#[tokio::test]
async fn a_set_older_than_max_stale_stops_serving() {
    let provider = Provider::start(keys_answer(&["rsa-1"])).await;
    let extra = "jwks_refresh = \"100ms\"\njwks_cooldown = \"50ms\"\njwks_max_stale = \"300ms\"";
    let s = start(&url_config(&provider, extra)).await;
    s.wait_ready().await;
    provider.set(Answer::Down);
    eventually(WAIT, "/readyz 503 once stale", async || {
        (s.readyz().await == 503).then_some(())
    })
    .await;
    assert_unknown_kid(&s.get(&rsa_token()).await, "a stale set verifies nothing");
}

#[tokio::test]
async fn remote_key_settings_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let base = "[upstreams]\napp = \"http://127.0.0.1:1\"\n\n[[route]]\npath = \"/p\"\npolicy = \"access\"\n\n[jwt]\nalgorithms = [\"RS256\"]\n";
    let rows = [
        (
            "jwks_url = \"http://idp.example/jwks\"",
            "jwt.jwks_url",
            "not an https URL",
        ),
        (
            "jwks_url = \"https://user:secret@idp.example/jwks\"",
            "jwt.jwks_url",
            "without credentials",
        ),
        (
            "oidc_issuer = \"idp.example\"",
            "jwt.oidc_issuer",
            "not an https URL",
        ),
        (
            "jwks_url = \"https://a/jwks\"\noidc_issuer = \"https://a\"",
            "jwt.oidc_issuer",
            "both set",
        ),
        (
            "secret = \"0123456789abcdef0123456789abcdef\"\njwks_cooldown = \"1s\"",
            "jwt.jwks_cooldown",
            "none is configured",
        ),
        (
            "jwks_url = \"https://a/jwks\"\njwks_ca_file = \"/nonexistent/ca.pem\"",
            "jwt.jwks_ca_file",
            "cannot read",
        ),
    ];
    for (jwt, key, fragment) in rows {
        let text = format!("{base}{jwt}\n");
        let errors = match freshgate::config::parse(&text, "gateway.toml", dir.path()) {
            Ok(_) => panic!("{jwt}: accepted"),
            Err(errors) => errors.to_string(),
        };
        assert!(
            errors.contains(key) && errors.contains(fragment),
            "{jwt}: {errors}"
        );
    }
}

/// A config for the real binary: port 0 listeners, an admin listener, `jwks_wait`.
fn binary_config(provider: &Provider, wait: &str) -> String {
    let base = url_config(
        provider,
        &format!("jwks_wait = \"{wait}\"\njwks_cooldown = \"100ms\""),
    );
    let base = base.replace("{upstream}", "127.0.0.1:1");
    format!("[server]\nlisten = \"127.0.0.1:0\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n{base}")
}

#[tokio::test]
async fn with_jwks_wait_serve_accepts_nothing_before_the_first_key_set() {
    let provider = Provider::start(Answer::Down).await;
    let mut process = Process::launch(&binary_config(&provider, "30s"), "json");
    process
        .wait_for_log("the wait for keys", |l| {
            message(l).starts_with("waiting for the first key set")
        })
        .await;
    assert!(
        process
            .find_log(|l| message(l) == "freshgate listening")
            .is_none(),
        "not serving while the provider is down"
    );
    provider.set(keys_answer(&["rsa-1"]));
    process
        .wait_for_log("serving once the keys are in", |l| {
            message(l) == "freshgate listening"
        })
        .await;
}

#[tokio::test]
async fn with_jwks_wait_serve_exits_when_no_key_set_comes_in_time() {
    let provider = Provider::start(Answer::Down).await;
    let mut process = Process::launch(&binary_config(&provider, "300ms"), "json");
    let status = process.wait_for_exit(WAIT).await;
    assert!(!status.success(), "exit status {status:?}");
    assert!(
        process
            .find_log(|l| l.to_string().contains("within jwks_wait"))
            .is_some(),
        "the reason is logged: {:?}",
        process.logs()
    );
}

#[tokio::test]
async fn a_cache_control_max_age_shortens_the_refresh_down_to_the_cooldown() {
    let provider = Provider::start(Answer::Keys(jwks(&["rsa-1"]), Some("max-age=0".into()))).await;
    let s = start(&url_config(
        &provider,
        "jwks_refresh = \"1h\"\njwks_cooldown = \"100ms\"",
    ))
    .await;
    s.wait_ready().await;
    eventually(WAIT, "refreshes every cooldown", async || {
        (provider.hits("/jwks") >= 3).then_some(())
    })
    .await;
    let slow = Provider::start(Answer::Keys(jwks(&["rsa-1"]), Some("max-age=86400".into()))).await;
    let s = start(&url_config(
        &slow,
        "jwks_refresh = \"200ms\"\njwks_cooldown = \"50ms\"",
    ))
    .await;
    s.wait_ready().await;
    eventually(WAIT, "refreshes every jwks_refresh at most", async || {
        (slow.hits("/jwks") >= 3).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_forward_auth_listener_also_refetches_once_for_a_rotated_key() {
    let provider = Provider::start(keys_answer(&["rsa-1"])).await;
    let s = start(&url_config(&provider, "jwks_refresh = \"1h\"")).await;
    s.wait_ready().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fa = listener.local_addr().unwrap();
    tokio::spawn(freshgate::forward_auth::serve(
        listener,
        s.gw.gateway.clone(),
        None,
        std::future::pending(),
    ));
    provider.set(keys_answer(&["rsa-1", "p256-1"]));
    let before = provider.hits("/jwks");
    let auth = format!("Bearer {}", p256_token());
    let reply = send(
        fa,
        "GET",
        "/",
        &[
            ("x-forwarded-method", b"GET"),
            ("x-forwarded-uri", b"/protected"),
            ("x-forwarded-host", b"app.example"),
            ("x-forwarded-proto", b"https"),
            ("authorization", auth.as_bytes()),
        ],
    )
    .await;
    assert_eq!(
        reply.status.as_u16(),
        200,
        "allowed after one refetch (body {})",
        reply.text()
    );
    assert_eq!(
        reply.header_values("x-auth-subject"),
        ["p256-1"],
        "the identity"
    );
    assert_eq!(provider.hits("/jwks"), before + 1, "one refetch");
}
