//! The real binary serving and reloading: the admin listener (health, readiness, metrics) apart
//! from the public port, and reload on a file edit and on SIGHUP, invalid edits logged with
//! their position while the old config keeps serving.

use std::time::Duration;

use serde_json::Value;

use crate::support::*;
use crate::{binary_config, MISSING_HEADER, NOT_FOUND};

#[tokio::test]
async fn the_admin_listener_serves_health_readiness_and_metrics_and_the_public_port_does_not() {
    let upstream = Upstream::start().await;
    let gw = Process::start(&binary_config(upstream.addr, "public", "")).await;
    assert_ne!(gw.listen, gw.admin, "the admin listener is its own port");

    let health = send(gw.admin, "GET", "/healthz", &[]).await;
    assert_eq!(
        (health.status.as_u16(), health.text()),
        (200, r#"{"status":"ok"}"#.to_string()),
        "/healthz: the process is up"
    );
    let ready = send(gw.admin, "GET", "/readyz", &[]).await;
    assert_eq!(
        ready.status,
        200,
        "/readyz: a snapshot is loaded: {}",
        ready.text()
    );
    assert_eq!(
        ready.json()["status"],
        "ready",
        "/readyz body: {}",
        ready.text()
    );

    let reply = send(gw.listen, "GET", "/switch", &[]).await;
    assert_eq!(
        reply.status,
        200,
        "the public route is served: {}",
        reply.text()
    );
    for path in ["/metrics", "/healthz", "/readyz"] {
        let reply = send(gw.listen, "GET", path, &[]).await;
        assert_eq!(
            (reply.status.as_u16(), reply.text()),
            (404, NOT_FOUND.to_string()),
            "{path} on the public port is an ordinary path without a route"
        );
    }

    let scrape = send(gw.admin, "GET", "/metrics", &[]).await;
    assert_eq!(scrape.status, 200, "/metrics answers");
    let content_type = scrape
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "OpenMetrics content type: {content_type:?}"
    );
    let metrics = scrape.text();
    assert!(
        metrics.ends_with("# EOF\n"),
        "a complete exposition:\n{metrics}"
    );
    let labels = |route, policy, decision, status| {
        [
            ("route", route),
            ("policy", policy),
            ("decision", decision),
            ("status", status),
        ]
    };
    assert_eq!(
        counter(
            &metrics,
            "freshgate_requests_total",
            &labels("* /switch", "public", "forwarded", "200")
        ),
        1.0,
        "the forwarded request is counted\n{metrics}"
    );
    assert_eq!(
        counter(
            &metrics,
            "freshgate_requests_total",
            &labels("-", "-", "rejected", "404")
        ),
        3.0,
        "the admin paths on the public port went through the route table\n{metrics}"
    );
    assert!(
        metric(&metrics, "freshgate_open_connections", &[]).is_some(),
        "the open connections gauge is exported\n{metrics}"
    );
}

#[tokio::test]
async fn editing_the_config_file_changes_the_policy_within_a_deadline() {
    let upstream = Upstream::start().await;
    let mut gw = Process::start(&binary_config(upstream.addr, "public", "")).await;
    let reply = send(gw.listen, "GET", "/switch", &[]).await;
    assert_eq!(reply.status, 200, "public before the edit");

    gw.config.write(&binary_config(upstream.addr, "access", ""));
    eventually(
        Duration::from_secs(5),
        "the edited policy (access) to apply",
        async || {
            let reply = send(gw.listen, "GET", "/switch", &[]).await;
            match (reply.status.as_u16(), reply.text()) {
                (401, body) if body == MISSING_HEADER => true,
                (200, _) => false,
                (status, body) => panic!("neither policy's answer: {status} {body}"),
            }
        },
    )
    .await;
    gw.wait_for_log("the reload log line", |l| {
        message(l) == "config reloaded" && l["fields"]["trigger"] == "file changed"
    })
    .await;
}

#[tokio::test]
async fn sighup_reloads_the_config() {
    let upstream = Upstream::start().await;
    let mut gw = Process::start(&binary_config(upstream.addr, "public", "")).await;
    let reply = send(gw.listen, "GET", "/switch", &[]).await;
    assert_eq!(reply.status, 200, "public before the reload");

    gw.config.write(&binary_config(upstream.addr, "access", ""));
    gw.signal("HUP");
    gw.wait_for_log("a reload triggered by SIGHUP", |l| {
        message(l) == "config reloaded" && l["fields"]["trigger"] == "SIGHUP"
    })
    .await;
    let reply = send(gw.listen, "GET", "/switch", &[]).await;
    assert_eq!(
        (reply.status.as_u16(), reply.text()),
        (401, MISSING_HEADER.to_string()),
        "the reloaded policy (access) is in effect"
    );
    assert!(gw.is_running(), "SIGHUP does not end the process");
}

#[tokio::test]
async fn an_invalid_edit_is_logged_with_its_position_and_the_old_config_keeps_serving() {
    let upstream = Upstream::start().await;
    let mut gw = Process::start(&binary_config(upstream.addr, "access", "")).await;
    let bad = binary_config(upstream.addr, "access", "").replacen("policy =", "polcy =", 1);
    let line = bad[..bad.find("polcy").expect("the bad key")]
        .matches('\n')
        .count()
        + 1;
    let position = gw.config.at_line(line);

    gw.config.write(&bad);
    let rejected = |l: &Value| {
        l["level"] == "ERROR"
            && message(l).contains("config rejected")
            && message(l).contains(&position)
            && message(l).contains("route[1].polcy")
    };
    gw.wait_for_log(
        &format!("an error log naming route[1].polcy at {position}"),
        rejected,
    )
    .await;
    let reply = send(gw.listen, "GET", "/switch", &[]).await;
    assert_eq!(
        (reply.status.as_u16(), reply.text()),
        (401, MISSING_HEADER.to_string()),
        "the old policy (access) keeps serving"
    );

    // SIGHUP with the same bad file: refused again, still serving.
    gw.signal("HUP");
    eventually(
        Duration::from_secs(5),
        "a second rejection, after SIGHUP",
        async || gw.count_logs(rejected) >= 2,
    )
    .await;
    let reply = send(gw.listen, "GET", "/switch", &[]).await;
    assert_eq!(
        reply.status, 401,
        "the old policy still serves after SIGHUP"
    );
    let metrics = send(gw.admin, "GET", "/metrics", &[]).await.text();
    assert_eq!(
        counter(
            &metrics,
            "freshgate_reloads_total",
            &[("outcome", "failure")]
        ),
        2.0,
        "both refusals are counted\n{metrics}"
    );
}
