//! The real binary's logs: one access line per request with its fields, no token, cookie or
//! secret anywhere, the upstream warning joined to its access line by the request id, and no
//! colour codes when standard error is a pipe.

use std::net::SocketAddr;

use freshgate::auth::TokenType;
use serde_json::Value;

use crate::binary_config;
use crate::support::*;

/// `/switch` (access) in front of the echo upstream and `/dead` (public) in front of a port
/// nothing listens on.
fn logging_config(upstream: SocketAddr, dead: SocketAddr) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"

[admin]
listen = "127.0.0.1:0"

[upstreams]
app = "http://{upstream}"
dead = "http://{dead}"

[jwt]
secret = "{SECRET}"

[[route]]
path = "/switch"
policy = "access"
upstream = "app"

[[route]]
path = "/dead"
policy = "public"
upstream = "dead"
"#
    )
}

/// The access-log lines (target `freshgate::access`) of one request id.
fn access_lines(gw: &Process, id: &str) -> Vec<Value> {
    gw.logs()
        .into_iter()
        .filter(|l| l["target"] == "freshgate::access" && l["fields"]["request.id"] == id)
        .collect()
}

#[tokio::test]
async fn each_request_writes_one_access_log_line_and_no_token_cookie_or_secret_reaches_the_log() {
    let upstream = Upstream::start().await;
    let mut gw = Process::start(&logging_config(upstream.addr, dead_port())).await;
    let jwt = token("alice", TokenType::Access, true);
    let (name, value) = bearer(&jwt);
    let headers: &[(&str, &[u8])] = &[
        (name, &value),
        ("cookie", b"session=cookie-value-never-logged"),
        ("x-request-id", b"access-log-1"),
    ];
    let reply = send(gw.listen, "GET", "/switch?q=1", headers).await;
    assert_eq!(reply.status, 200, "forwarded: {}", reply.text());
    let reply = send(
        gw.listen,
        "GET",
        "/nope",
        &[("x-request-id", b"access-log-2")],
    )
    .await;
    assert_eq!(reply.status, 404, "no route");
    gw.wait_for_log("the access line of the second request", |l| {
        l["target"] == "freshgate::access" && l["fields"]["request.id"] == "access-log-2"
    })
    .await;

    let lines = access_lines(&gw, "access-log-1");
    assert_eq!(lines.len(), 1, "one access line per request: {lines:#?}");
    let fields = &lines[0]["fields"];
    let expected = [
        ("http.method", Value::from("GET")),
        ("http.path", Value::from("/switch")),
        ("route.id", Value::from("* /switch")),
        ("route.policy", Value::from("access")),
        ("auth.decision", Value::from("forwarded")),
        ("http.status", Value::from(200)),
        ("auth.subject", Value::from("alice")),
    ];
    for (field, value) in expected {
        assert_eq!(fields[field], value, "access line field {field}: {fields}");
    }
    for field in ["latency_us", "upstream.latency_us"] {
        assert!(
            fields[field].is_u64(),
            "access line field {field} is a number: {fields}"
        );
    }
    let lines = access_lines(&gw, "access-log-2");
    assert_eq!(lines.len(), 1, "one access line for the 404: {lines:#?}");
    let fields = &lines[0]["fields"];
    assert_eq!(
        (
            &fields["route.id"],
            &fields["auth.decision"],
            &fields["http.status"]
        ),
        (
            &Value::from("-"),
            &Value::from("rejected"),
            &Value::from(404)
        ),
        "the 404's access line: {fields}"
    );

    let all = gw
        .logs()
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    let signature = jwt.rsplit('.').next().unwrap_or_default();
    for (what, secret) in [
        ("the token's signature", signature),
        ("the cookie", "cookie-value-never-logged"),
        ("the HMAC secret", SECRET),
    ] {
        assert!(!all.contains(secret), "{what} appears in the log:\n{all}");
    }
}

#[tokio::test]
async fn the_upstream_failure_warning_carries_the_same_request_id_as_the_access_line() {
    let upstream = Upstream::start().await;
    let mut gw = Process::start(&logging_config(upstream.addr, dead_port())).await;
    let reply = send(gw.listen, "GET", "/dead", &[("x-request-id", b"dead-1")]).await;
    assert_eq!(reply.status, 502, "the dead upstream: {}", reply.text());
    let warning = gw
        .wait_for_log("the upstream failure warning", |l| {
            l["level"] == "WARN" && message(l) == "upstream exchange failed"
        })
        .await;
    let access = gw
        .wait_for_log("the access line", |l| l["target"] == "freshgate::access")
        .await;
    assert_eq!(
        access["fields"]["request.id"], "dead-1",
        "the access line has the client's id: {access}"
    );
    assert_eq!(
        warning["fields"]["request.id"], access["fields"]["request.id"],
        "the warning and the access line of one request can be joined on request.id"
    );
}

#[tokio::test]
async fn text_logs_written_to_a_pipe_carry_no_terminal_colour_codes() {
    let upstream = Upstream::start().await;
    let mut gw = Process::launch(&binary_config(upstream.addr, "public", ""), "text");
    let line = gw
        .wait_for_log("the startup line in text format", |l| {
            l.as_str()
                .is_some_and(|t| t.contains("freshgate listening"))
        })
        .await;
    assert!(
        !line.as_str().unwrap_or_default().contains('\u{1b}'),
        "standard error is a pipe (journald, a file), so no ANSI escapes: {line}"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_access_log_names_the_client_from_x_forwarded_for() {
    let upstream = Upstream::start().await;
    let config = logging_config(upstream.addr, dead_port()).replace(
        "listen = \"127.0.0.1:0\"\n\n[admin]",
        "listen = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.1/32\", \"10.0.0.0/8\"]\n\n[admin]",
    );
    let mut gw = Process::start(&config).await;
    let headers: &[(&str, &[u8])] = &[
        ("x-forwarded-for", b"203.0.113.7, 10.1.2.3"),
        ("x-request-id", b"client-address-1"),
    ];
    let reply = send(gw.listen, "GET", "/dead", headers).await;
    assert_eq!(reply.status, 502, "the dead upstream answers 502");
    let line = gw
        .wait_for_log("the access line", |l| {
            l["target"] == "freshgate::access" && l["fields"]["request.id"] == "client-address-1"
        })
        .await;
    assert_eq!(
        line["fields"]["client.address"], "203.0.113.7",
        "the right-most address that is not a trusted proxy: {line}"
    );
}
