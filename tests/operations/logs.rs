//! The real binary's logs: one access line per request with its fields, no token, cookie or
//! secret anywhere, the upstream warning joined to its access line by the request id, and no
//! colour codes when standard error is a pipe. The access line keeps its exact bytes in text
//! and JSON, and reaches standard error within 100 ms on an idle gateway, and at shutdown.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

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

/// The gateway on `logging_config` with `--log-format <format>`, and its listen address.
async fn logging_gateway(format: &str) -> (Process, Upstream) {
    let upstream = Upstream::start().await;
    let config = logging_config(upstream.addr, dead_port());
    if format == "json" {
        return (Process::start(&config).await, upstream);
    }
    let mut gw = Process::launch(&config, format);
    let line = gw
        .wait_for_log("the startup line in text format", |l| {
            l.as_str()
                .is_some_and(|t| t.contains("freshgate listening"))
        })
        .await;
    let text = line.as_str().unwrap_or_default();
    gw.listen = text
        .split(' ')
        .find_map(|word| word.strip_prefix("listen=")?.parse().ok())
        .unwrap_or_else(|| panic!("no listen address in {text}"));
    (gw, upstream)
}

/// An access line with its timestamp and latencies (which vary) replaced by `T` and `N`.
fn normalized(line: &str) -> String {
    let (start, end) = match line.strip_prefix("{\"timestamp\":\"") {
        Some(_) => (14, 41),
        None => (0, 27),
    };
    let time = &line[start..end];
    assert!(
        time.len() == 27 && time.as_bytes()[10] == b'T' && time.ends_with('Z'),
        "a timestamp such as 2025-01-31T12:34:56.789012Z: {line}"
    );
    let mut rest = format!("{}T{}", &line[..start], &line[end..]);
    for name in ["latency_us=", "latency_us\":"] {
        let mut from = 0;
        while let Some(at) = rest[from..].find(name) {
            let digits = from + at + name.len();
            let len = rest[digits..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            assert!(len > 0, "{name} is a number: {line}");
            rest.replace_range(digits..digits + len, "N");
            from = digits;
        }
    }
    rest
}

#[tokio::test]
async fn the_access_line_keeps_its_bytes_in_text_and_json() {
    let expected = [
        (
            "text",
            "T  INFO freshgate::access: request.id=\"golden-\\\"1\\\"\" \
             client.address=127.0.0.1 http.method=\"GET\" http.path=\"/switch\" \
             route.id=\"* /switch\" route.policy=\"access\" auth.decision=\"forwarded\" \
             auth.reason=\"-\" http.status=200 latency_us=N upstream.latency_us=N \
             auth.subject=\"alice\"",
        ),
        (
            "json",
            "{\"timestamp\":\"T\",\"level\":\"INFO\",\"fields\":{\
             \"request.id\":\"golden-\\\"1\\\"\",\"client.address\":\"127.0.0.1\",\
             \"http.method\":\"GET\",\"http.path\":\"/switch\",\"route.id\":\"* /switch\",\
             \"route.policy\":\"access\",\"auth.decision\":\"forwarded\",\"auth.reason\":\"-\",\
             \"http.status\":200,\"latency_us\":N,\"upstream.latency_us\":N,\
             \"auth.subject\":\"alice\"},\"target\":\"freshgate::access\"}",
        ),
    ];
    for (format, expected) in expected {
        let (mut gw, _upstream) = logging_gateway(format).await;
        let jwt = token("alice", TokenType::Access, true);
        let (name, value) = bearer(&jwt);
        let headers: &[(&str, &[u8])] = &[(name, &value), ("x-request-id", b"golden-\"1\"")];
        let reply = send(gw.listen, "GET", "/switch?q=1", headers).await;
        assert_eq!(reply.status, 200, "forwarded: {}", reply.text());
        let is_access = |l: &str| l.contains("freshgate::access");
        gw.wait_for_log("the access line", |l| match l.as_str() {
            Some(text) => is_access(text),
            None => l["target"] == "freshgate::access",
        })
        .await;
        let lines: Vec<String> = gw.raw_logs().into_iter().filter(|l| is_access(l)).collect();
        assert_eq!(lines.len(), 1, "one access line: {lines:#?}");
        assert_eq!(normalized(&lines[0]), expected, "{format}: {}", lines[0]);
    }
}

/// A request no route matches, with `x-request-id: <id>`.
async fn not_found(gw: &Process, id: &str) {
    let headers: &[(&str, &[u8])] = &[("x-request-id", id.as_bytes())];
    let reply = send(gw.listen, "GET", "/nope", headers).await;
    assert_eq!(reply.status, 404, "no route: {}", reply.text());
}

#[tokio::test]
async fn an_idle_gateway_writes_the_access_line_within_100_ms() {
    let (gw, _upstream) = logging_gateway("json").await;
    // Let the startup lines' batch go out: the gateway is idle.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..3 {
        let id = format!("idle-{i}");
        not_found(&gw, &id).await;
        let answered = Instant::now();
        while access_lines(&gw, &id).is_empty() {
            assert!(
                answered.elapsed() < Duration::from_millis(100),
                "the access line of {id} was not written within 100 ms"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[tokio::test]
async fn sigterm_writes_the_lines_still_buffered_before_the_process_exits() {
    let (mut gw, _upstream) = logging_gateway("json").await;
    for i in 0..20 {
        let id = format!("last-{i}");
        not_found(&gw, &id).await;
    }
    gw.signal("TERM");
    let status = gw.wait_for_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "exits 0 on SIGTERM: {status}");
    for i in 0..20 {
        let lines = access_lines(&gw, &format!("last-{i}"));
        assert_eq!(lines.len(), 1, "the access line of request {i}");
    }
    // "freshgate stopped" is logged just before `main` returns: only the exit flush writes
    // it. Each thread's lines keep their order (workers' lines may come before or after the
    // main thread's in a batch).
    let logs = gw.logs();
    let main_thread: Vec<&str> = logs
        .iter()
        .map(message)
        .filter(|m| m.starts_with("shutdown signal received") || *m == "freshgate stopped")
        .collect();
    assert_eq!(
        main_thread,
        ["shutdown signal received; draining", "freshgate stopped"],
        "the main thread's last lines, in order: {logs:#?}"
    );
}
