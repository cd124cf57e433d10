//! The metrics: the OpenMetrics reader itself, and the exact counts after known traffic.

use std::time::Duration;

use freshgate::auth::TokenType;

use crate::support::*;

#[test]
fn the_metrics_reader_understands_labels_with_spaces_commas_and_escapes() {
    let samples = parse_metrics(
        "# TYPE x counter\nx_total{route=\"* /a,b\",q=\"say \\\"hi\\\"\"} 3\ny 0.5\n# EOF\n",
    );
    assert_eq!(samples.len(), 2, "two samples: {samples:?}");
    assert_eq!(samples[0].name, "x_total", "the name stops at the brace");
    assert_eq!(
        samples[0].labels["route"], "* /a,b",
        "a comma inside quotes is part of the value"
    );
    assert_eq!(samples[0].labels["q"], "say \"hi\"", "escaped quotes");
    assert_eq!(samples[0].value, 3.0, "the value after the labels");
    assert_eq!(
        (samples[1].name.as_str(), samples[1].value),
        ("y", 0.5),
        "a sample without labels"
    );
}

const METRICS_ROUTES: &str = r#"
[upstreams]
app = "http://{upstream}"
dead = "http://{dead}"

[jwt]
secret = "test-secret-not-for-production"

[[route]]
path = "/protected"
policy = "access"
upstream = "app"

[[route]]
path = "/protected-fresh"
policy = "fresh"
upstream = "app"

[[route]]
path = "/dead"
policy = "public"
upstream = "dead"
"#;

#[tokio::test]
async fn metrics_after_known_traffic_have_the_exact_counts() {
    let upstream = Upstream::start().await;
    let config = METRICS_ROUTES.replace("{dead}", &dead_port().to_string());
    let gw = TestGateway::start(&config, upstream.addr).await;

    let (name, access) = bearer(&token("alice", TokenType::Access, false));
    let (_, fresh) = bearer(&token("alice", TokenType::Access, true));
    let traffic: [(&str, Option<&[u8]>, u16, usize); 5] = [
        ("/protected", Some(&access), 200, 3),
        ("/protected", None, 401, 2),
        ("/protected-fresh", Some(&access), 401, 1),
        ("/protected-fresh", Some(&fresh), 200, 1),
        ("/nope", None, 404, 1),
    ];
    for (path, token, status, times) in traffic {
        for _ in 0..times {
            let headers: Vec<(&str, &[u8])> = token.map(|t| (name, t)).into_iter().collect();
            let reply = send(gw.addr, "GET", path, &headers).await;
            assert_eq!(reply.status, status, "{path}: {}", reply.text());
        }
    }
    let reply = send(gw.addr, "GET", "/dead", &[]).await;
    assert_eq!(reply.status, 502, "the dead upstream: {}", reply.text());

    let metrics = gw.metrics();
    let requests = [
        ("* /protected", "access", "forwarded", "200", 3.0),
        ("* /protected", "access", "rejected", "401", 2.0),
        ("* /protected-fresh", "fresh", "rejected", "401", 1.0),
        ("* /protected-fresh", "fresh", "forwarded", "200", 1.0),
        ("-", "-", "rejected", "404", 1.0),
        ("* /dead", "public", "upstream_error", "502", 1.0),
    ];
    for (route, policy, decision, status, count) in requests {
        let labels = [
            ("route", route),
            ("policy", policy),
            ("decision", decision),
            ("status", status),
        ];
        assert_eq!(
            counter(&metrics, "freshgate_requests_total", &labels),
            count,
            "requests {labels:?}\n{metrics}"
        );
    }
    let all_requests: f64 = parse_metrics(&metrics)
        .iter()
        .filter(|s| s.name == "freshgate_requests_total")
        .map(|s| s.value)
        .sum();
    assert_eq!(all_requests, 9.0, "no other request series\n{metrics}");

    for (reason, count) in [("missing", 2.0), ("not_fresh", 1.0), ("no_route", 1.0)] {
        assert_eq!(
            counter(
                &metrics,
                "freshgate_rejections_total",
                &[("reason", reason), ("mode", "enforce")]
            ),
            count,
            "rejections for {reason}\n{metrics}"
        );
    }
    assert_eq!(
        metric(&metrics, "freshgate_request_duration_seconds_count", &[]),
        Some(9.0),
        "every request is timed at the gateway\n{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            "freshgate_upstream_duration_seconds_count",
            &[("upstream", "app")]
        ),
        Some(4.0),
        "every forwarded request to app is timed upstream\n{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            "freshgate_upstream_duration_seconds_count",
            &[("upstream", "dead")]
        ),
        Some(1.0),
        "the failed exchange with dead is timed too\n{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            "freshgate_fresh_token_age_seconds_count",
            &[("route", "* /protected-fresh")]
        ),
        Some(1.0),
        "the one fresh token that passed the fresh route is observed\n{metrics}"
    );
    let age = metric(
        &metrics,
        "freshgate_fresh_token_age_seconds_sum",
        &[("route", "* /protected-fresh")],
    )
    .unwrap_or(f64::NAN);
    assert!(
        (0.0..60.0).contains(&age),
        "the token was minted just now, so its age is under a minute: {age}"
    );
    assert_eq!(
        counter(
            &metrics,
            "freshgate_upstream_errors_total",
            &[("upstream", "dead"), ("kind", "unavailable")]
        ),
        1.0,
        "the dead upstream is counted as unavailable\n{metrics}"
    );

    // Every client connection above is closed by now, or about to be.
    let open = || metric(&gw.metrics(), "freshgate_open_connections", &[]);
    eventually(
        Duration::from_secs(5),
        "open connections to fall to 0",
        async || open() == Some(0.0),
    )
    .await;
    let mut connection = Connection::open(gw.addr).await.expect("connect");
    let reply = connection.get("/nope", &[]).await.expect("a reply");
    assert_eq!(reply.status, 404, "the keep-alive connection is served");
    assert_eq!(
        open(),
        Some(1.0),
        "the one open keep-alive connection is counted"
    );
    drop(connection);
    eventually(
        Duration::from_secs(5),
        "the closed connection to be uncounted",
        async || open() == Some(0.0),
    )
    .await;
}
