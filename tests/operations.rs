//! Operating freshgate (issue 5), through real sockets. Library level: hot reload under a steady
//! stream of requests, invalid reloads, report mode, `X-Request-Id`, and the metrics after known
//! traffic. Binary level (the real `freshgate` process): the admin listener, reload on a file
//! edit and on SIGHUP, graceful shutdown on SIGTERM, and the logs (one access line per request,
//! no secrets, request ids that join lines, no colour codes in a pipe).
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use freshgate::auth::TokenType;
use freshgate::reload::Reloader;
use freshgate::Gateway;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use support::*;
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

const FRESH_REQUIRED: &str = r#"{"detail":"Fresh token required"}"#;
const MISSING_HEADER: &str = r#"{"detail":"Missing Authorization Header"}"#;
const NOT_FOUND: &str = r#"{"detail":"Not Found"}"#;

// ---------------------------------------------------------------------------------------------
// Waiting for a condition, config files, a client that reports errors instead of panicking
// ---------------------------------------------------------------------------------------------

/// A deadline for polling a condition: `tick` waits a moment before the next look, and fails
/// the test once the deadline has passed.
struct Deadline {
    end: Instant,
    what: String,
}

impl Deadline {
    fn new(within: Duration, what: impl Into<String>) -> Deadline {
        Deadline {
            end: Instant::now() + within,
            what: what.into(),
        }
    }

    async fn tick(&self) {
        assert!(
            Instant::now() < self.end,
            "timed out waiting for {}",
            self.what
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A config file in its own temporary directory.
struct ConfigFile {
    _dir: TempDir,
    path: PathBuf,
}

impl ConfigFile {
    fn new(text: &str) -> ConfigFile {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("gateway.toml");
        let file = ConfigFile { _dir: dir, path };
        file.write(text);
        file
    }

    /// Replaces the content in one step (a sibling file renamed over it), as deploy tools do,
    /// so a watcher never sees a half-written file unless a test writes one on purpose.
    fn write(&self, text: &str) {
        let staging = self.path.with_extension("toml.new");
        std::fs::write(&staging, text).expect("write the staging config");
        std::fs::rename(&staging, &self.path).expect("rename the config into place");
    }

    /// `path:line:` as config errors start, for the 1-based `line`.
    fn at_line(&self, line: usize) -> String {
        format!("{}:{line}:", self.path.display())
    }
}

/// Opens a client connection to `addr`.
async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends a GET on an open connection; any failure is an `Err` describing it.
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &[u8])],
) -> Result<Reply, String> {
    sender
        .ready()
        .await
        .map_err(|e| format!("connection closed: {e}"))?;
    let mut builder = Request::builder()
        .method("GET")
        .uri(path)
        .header("host", addr.to_string());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(Full::new(Bytes::new()))
        .map_err(|e| format!("request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("no response: {e}"))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// One GET on a new connection; failures are an `Err` rather than a panic.
async fn try_get(addr: SocketAddr, path: &str, headers: &[(&str, &[u8])]) -> Result<Reply, String> {
    let mut sender = connect(addr).await?;
    exchange(&mut sender, addr, path, headers).await
}

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Reading the OpenMetrics text
// ---------------------------------------------------------------------------------------------

/// One sample line of the OpenMetrics text: `name{label="value",...} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse_metrics(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| parse_sample(line).unwrap_or_else(|| panic!("not a sample line: {line:?}")))
        .collect()
}

fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            // `name="value"`, the value with `\"`, `\\` and `\n` escapes.
            let (label, quoted) = inner.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                let (i, c) = chars.next()?;
                match c {
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    '"' => break i + 1,
                    other => value.push(other),
                }
            };
            labels.insert(label.to_string(), value);
            inner = quoted[end..].strip_prefix(',').unwrap_or(&quoted[end..]);
        }
    }
    Some(Sample {
        name: line[..name_end].to_string(),
        labels,
        value: rest.split_whitespace().next()?.parse().ok()?,
    })
}

/// The value of the sample named `name` whose labels are exactly `labels`.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parse_metrics(text)
        .into_iter()
        .find(|s| s.name == name && s.labels == wanted)
        .map(|s| s.value)
}

/// A counter's value; a label set never incremented has no sample, which reads as 0.
fn counter(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metric(text, name, labels).unwrap_or(0.0)
}

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

// ---------------------------------------------------------------------------------------------
// Library level: a gateway serving a config file, with a reloader
// ---------------------------------------------------------------------------------------------

/// The gateway on 127.0.0.1:0 serving a config FILE, as the binary does, with its reloader.
struct FileGateway {
    addr: SocketAddr,
    gateway: Arc<Gateway>,
    reloader: Arc<Reloader>,
    config: ConfigFile,
    _stop: oneshot::Sender<()>,
}

impl FileGateway {
    async fn start(text: &str) -> FileGateway {
        let config = ConfigFile::new(text);
        let snapshot = freshgate::config::load(&config.path)
            .unwrap_or_else(|e| panic!("test config is invalid:\n{e}"));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let addr = listener.local_addr().expect("gateway addr");
        let gateway = Gateway::new(snapshot);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(freshgate::serve(listener, gateway.clone(), async move {
            let _ = stopped.await;
        }));
        let reloader = Reloader::new(config.path.clone(), gateway.clone());
        FileGateway {
            addr,
            gateway,
            reloader,
            config,
            _stop: stop,
        }
    }

    fn metrics(&self) -> String {
        self.gateway.metrics().encode()
    }
}

/// `/switch` under `policy`, a public prefix, and `added` extra public routes `/added-<i>`.
fn switch_config(upstream: SocketAddr, policy: &str, added: usize) -> String {
    let mut text = format!(
        r#"[upstreams]
app = "http://{upstream}"

[jwt]
secret = "{SECRET}"

[[route]]
path = "/switch"
policy = "{policy}"

[[route]]
prefix = "/public"
policy = "public"
"#
    );
    for i in 0..added {
        text.push_str(&format!(
            "\n[[route]]\npath = \"/added-{i}\"\npolicy = \"public\"\n"
        ));
    }
    text
}

/// Which policy answered a non-fresh access token on `/switch`.
#[derive(Debug, PartialEq)]
enum Answer {
    Public,
    Fresh,
}

/// A non-fresh token on `/switch`: `public` forwards it (200, the echo of `/switch`), `fresh`
/// answers 401 `Fresh token required`. Anything else is a failure.
fn classify(reply: Result<Reply, String>) -> Result<Answer, String> {
    let reply = reply?;
    match reply.status.as_u16() {
        200 if serde_json::from_slice::<Value>(&reply.body)
            .is_ok_and(|v| v["path"] == "/switch") =>
        {
            Ok(Answer::Public)
        }
        401 if reply.body == FRESH_REQUIRED => Ok(Answer::Fresh),
        status => Err(format!("unexpected answer {status}: {}", text(&reply))),
    }
}

/// What the client tasks saw while the config was being reloaded.
#[derive(Default)]
struct Tally {
    answered: AtomicUsize,
    public: AtomicUsize,
    fresh: AtomicUsize,
    failures: Mutex<Vec<String>>,
}

impl Tally {
    fn record(&self, client: &str, answer: Result<Answer, String>) {
        match answer {
            Ok(Answer::Public) => self.public.fetch_add(1, Ordering::SeqCst),
            Ok(Answer::Fresh) => self.fresh.fetch_add(1, Ordering::SeqCst),
            Err(e) => {
                self.failures
                    .lock()
                    .expect("tally lock")
                    .push(format!("{client}: {e}"));
                0
            }
        };
        self.answered.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_reloads_under_a_steady_stream_of_requests_fail_none_and_the_last_policy_wins() {
    let upstream = Upstream::start().await;
    let gw = FileGateway::start(&switch_config(upstream.addr, "fresh", 0)).await;
    let stale = token("alice", TokenType::Access, false);
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));

    // One client keeps one connection alive for the whole test; the other opens a new
    // connection for every request.
    let keep_alive = tokio::spawn({
        let (tally, stop, stale, addr) = (tally.clone(), stop.clone(), stale.clone(), gw.addr);
        async move {
            let (name, value) = bearer(&stale);
            let mut sender = connect(addr).await.expect("keep-alive connection");
            while !stop.load(Ordering::SeqCst) {
                let reply = exchange(&mut sender, addr, "/switch", &[(name, &value)]).await;
                tally.record("keep-alive", classify(reply));
            }
        }
    });
    let new_connections = tokio::spawn({
        let (tally, stop, stale, addr) = (tally.clone(), stop.clone(), stale.clone(), gw.addr);
        async move {
            let (name, value) = bearer(&stale);
            while !stop.load(Ordering::SeqCst) {
                let reply = try_get(addr, "/switch", &[(name, &value)]).await;
                tally.record("new connection", classify(reply));
            }
        }
    });

    let added = send(gw.addr, "GET", "/added-9", &[]).await;
    assert_eq!(
        added.status, 404,
        "/added-9 is not routed before the reloads"
    );
    for i in 0..10 {
        let policy = if i % 2 == 0 { "public" } else { "fresh" };
        gw.config
            .write(&switch_config(upstream.addr, policy, i + 1));
        gw.reloader
            .reload("test")
            .await
            .unwrap_or_else(|e| panic!("reload {i} ({policy}) was refused:\n{e}"));
        // Let the stream run on the new config for a while: at least 50 more answers, so
        // requests overlap every swap and both policies are seen.
        let seen = tally.answered.load(Ordering::SeqCst);
        let deadline = Deadline::new(
            Duration::from_secs(5),
            format!("50 answers after reload {i}"),
        );
        while tally.answered.load(Ordering::SeqCst) < seen + 50 {
            deadline.tick().await;
        }
    }
    stop.store(true, Ordering::SeqCst);
    keep_alive.await.expect("keep-alive client task");
    new_connections.await.expect("new-connection client task");

    let failures = tally.failures.lock().expect("tally lock").clone();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed during the reloads, e.g. {:?}",
        failures.len(),
        tally.answered.load(Ordering::SeqCst),
        &failures[..failures.len().min(5)]
    );
    assert!(
        tally.public.load(Ordering::SeqCst) > 0 && tally.fresh.load(Ordering::SeqCst) > 0,
        "both policies answered during the test (public {}, fresh {})",
        tally.public.load(Ordering::SeqCst),
        tally.fresh.load(Ordering::SeqCst)
    );

    // The last reload made /switch `fresh` and added /added-9.
    let (name, value) = bearer(&stale);
    let reply = send(gw.addr, "GET", "/switch", &[(name, &value)]).await;
    assert_eq!(
        (reply.status.as_u16(), text(&reply)),
        (401, FRESH_REQUIRED.to_string()),
        "the last reload's policy (fresh) is in effect"
    );
    let (name, value) = bearer(&token("alice", TokenType::Access, true));
    let reply = send(gw.addr, "GET", "/switch", &[(name, &value)]).await;
    assert_eq!(reply.status, 200, "a fresh token passes: {}", text(&reply));
    assert_eq!(
        reply.upstream_saw("x-auth-fresh"),
        ["true"],
        "forwarded with the fresh route's identity headers"
    );
    let added = send(gw.addr, "GET", "/added-9", &[]).await;
    assert_eq!(
        added.status, 200,
        "the route added by the last reload is served"
    );
    assert_eq!(
        counter(
            &gw.metrics(),
            "freshgate_reloads_total",
            &[("outcome", "success")]
        ),
        10.0,
        "ten successful reloads are counted"
    );
}

#[tokio::test]
async fn an_invalid_reload_is_refused_with_its_position_and_the_old_routes_keep_serving() {
    let upstream = Upstream::start().await;
    let valid = switch_config(upstream.addr, "fresh", 1);
    let gw = FileGateway::start(&valid).await;

    let line_of = |needle: &str| {
        let at = valid
            .find(needle)
            .unwrap_or_else(|| panic!("test bug: {needle:?} is not in the config"));
        valid[..at].matches('\n').count() + 1
    };
    let policy_line = line_of("policy = \"fresh\"");
    // Cut in the middle of a value: a half-written file ends inside a string.
    let cut_mid_value = &valid[..valid.find("policy = \"fresh\"").unwrap() + "policy = \"fr".len()];
    // Cut between two keys of a table: valid TOML, but the route has no policy yet.
    let cut_mid_table = &valid[..valid.find("policy = \"fresh\"").unwrap()];
    let bad_key = valid.replacen("policy = \"fresh\"", "polcy = \"fresh\"", 1);
    let cases: [(&str, &str, String, &str); 4] = [
        ("an empty file", "", gw.config.at_line(1), "upstreams"),
        (
            "a file cut in the middle of a value",
            cut_mid_value,
            gw.config.at_line(policy_line),
            "route[1].policy",
        ),
        (
            "a file cut in the middle of a [[route]] table",
            cut_mid_table,
            gw.config.at_line(line_of("[[route]]")),
            "route[1].policy",
        ),
        (
            "a misspelt key",
            &bad_key,
            gw.config.at_line(policy_line),
            "route[1].polcy",
        ),
    ];

    let (name, value) = bearer(&token("alice", TokenType::Access, false));
    for (n, (what, text_written, position, key)) in cases.iter().enumerate() {
        gw.config.write(text_written);
        let error = match gw.reloader.reload("test").await {
            Ok(()) => panic!("{what} was accepted as a config"),
            Err(e) => e.to_string(),
        };
        assert!(
            error.contains(position.as_str()),
            "{what}: the error gives the position {position:?}: {error}"
        );
        assert!(
            error.contains(key),
            "{what}: the error names the key {key:?}: {error}"
        );

        let reply = send(gw.addr, "GET", "/switch", &[(name, &value)]).await;
        assert_eq!(
            (reply.status.as_u16(), text(&reply)),
            (401, FRESH_REQUIRED.to_string()),
            "after {what}, /switch keeps the old policy (fresh)"
        );
        let reply = send(gw.addr, "GET", "/added-0", &[]).await;
        assert_eq!(
            reply.status, 200,
            "after {what}, the old route /added-0 is still served"
        );
        let metrics = gw.metrics();
        assert_eq!(
            counter(
                &metrics,
                "freshgate_reloads_total",
                &[("outcome", "failure")]
            ),
            (n + 1) as f64,
            "after {what}, every refused reload is counted"
        );
        assert_eq!(
            counter(
                &metrics,
                "freshgate_reloads_total",
                &[("outcome", "success")]
            ),
            0.0,
            "after {what}, no reload succeeded"
        );
    }

    // Once the file is whole again, a reload applies it.
    gw.config.write(&switch_config(upstream.addr, "public", 1));
    gw.reloader
        .reload("test")
        .await
        .unwrap_or_else(|e| panic!("the repaired file was refused:\n{e}"));
    let reply = send(gw.addr, "GET", "/switch", &[]).await;
    assert_eq!(
        reply.status, 200,
        "the repaired file's policy (public) is in effect"
    );
}

// ---------------------------------------------------------------------------------------------
// Report mode
// ---------------------------------------------------------------------------------------------

const REPORT_ROUTES: &str = r#"
[upstreams]
app = "http://{upstream}"

[jwt]
secret = "test-secret-not-for-production"

[[route]]
path = "/shadow"
policy = "fresh"
mode = "report"
"#;

#[tokio::test]
async fn report_mode_forwards_what_enforce_would_reject_with_the_identity_it_could_verify() {
    let upstream = Upstream::start().await;
    let gw = TestGateway::start(REPORT_ROUTES, upstream.addr).await;

    let (name, value) = bearer(&token("alice", TokenType::Access, false));
    let reply = send(gw.addr, "GET", "/shadow", &[(name, &value)]).await;
    assert_eq!(
        reply.status,
        200,
        "a non-fresh token is forwarded: {}",
        text(&reply)
    );
    assert_eq!(
        reply.upstream_saw("x-auth-subject"),
        ["alice"],
        "verified subject"
    );
    assert_eq!(
        reply.upstream_saw("x-auth-fresh"),
        ["false"],
        "not fresh, and says so"
    );
    assert_eq!(
        reply.upstream_saw("x-auth-token-type"),
        ["access"],
        "token type"
    );

    let spoof: &[(&str, &[u8])] = &[("x-auth-subject", b"admin"), ("x-auth-fresh", b"true")];
    let reply = send(gw.addr, "GET", "/shadow", spoof).await;
    assert_eq!(reply.status, 200, "no token is forwarded: {}", text(&reply));
    for header in ["x-auth-subject", "x-auth-fresh", "x-auth-token-type"] {
        assert!(
            reply.upstream_saw(header).is_empty(),
            "without a token the request is anonymous, and the client's {header} is removed"
        );
    }

    let mut forged = token("alice", TokenType::Access, true);
    forged.push('x');
    let (name, value) = bearer(&forged);
    let reply = send(gw.addr, "GET", "/shadow", &[(name, &value)]).await;
    assert_eq!(
        reply.status, 200,
        "a bad signature is forwarded in report mode"
    );
    assert!(
        reply.upstream_saw("x-auth-subject").is_empty(),
        "an unverified token gives no identity"
    );

    let (name, value) = bearer(&token("alice", TokenType::Access, true));
    let reply = send(gw.addr, "GET", "/shadow", &[(name, &value)]).await;
    assert_eq!(
        reply.upstream_saw("x-auth-fresh"),
        ["true"],
        "a fresh token passes"
    );

    let metrics = gw.gateway.metrics().encode();
    for (reason, count) in [
        ("not_fresh", 1.0),
        ("missing", 1.0),
        ("invalid_signature", 1.0),
    ] {
        assert_eq!(
            counter(
                &metrics,
                "freshgate_rejections_total",
                &[("reason", reason), ("mode", "report")]
            ),
            count,
            "report-mode {reason} is counted\n{metrics}"
        );
        assert_eq!(
            counter(
                &metrics,
                "freshgate_rejections_total",
                &[("reason", reason), ("mode", "enforce")]
            ),
            0.0,
            "report-mode {reason} is not counted as enforced\n{metrics}"
        );
    }
    let requests = |decision| {
        counter(
            &metrics,
            "freshgate_requests_total",
            &[
                ("route", "* /shadow"),
                ("policy", "fresh"),
                ("decision", decision),
                ("status", "200"),
            ],
        )
    };
    assert_eq!(
        requests("reported"),
        3.0,
        "three reported requests\n{metrics}"
    );
    assert_eq!(
        requests("forwarded"),
        1.0,
        "one plainly forwarded\n{metrics}"
    );
    assert_eq!(upstream.hits(), 4, "every request reached the upstream");
}

// ---------------------------------------------------------------------------------------------
// X-Request-Id
// ---------------------------------------------------------------------------------------------

/// A generated id: 12 random hex digits for the process, `-`, a hex counter.
fn is_generated_id(id: &str) -> bool {
    match id.split_once('-') {
        Some((prefix, counter)) => {
            prefix.len() == 12
                && prefix.chars().all(|c| c.is_ascii_hexdigit())
                && !counter.is_empty()
                && counter.chars().all(|c| c.is_ascii_hexdigit())
        }
        None => false,
    }
}

#[tokio::test]
async fn a_sane_client_request_id_is_forwarded_upstream_and_returned() {
    let upstream = Upstream::start().await;
    let gw = TestGateway::start(EXAMPLE_ROUTES, upstream.addr).await;
    let longest = "r".repeat(128);
    for id in [
        "abc-123_XYZ.9",
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        &longest,
    ] {
        let reply = send(
            gw.addr,
            "GET",
            "/public/x",
            &[("x-request-id", id.as_bytes())],
        )
        .await;
        assert_eq!(reply.status, 200, "{id:?}: forwarded");
        assert_eq!(
            reply.upstream_saw("x-request-id"),
            [id],
            "{id:?}: the upstream got it"
        );
        assert_eq!(
            reply
                .headers
                .get_all("x-request-id")
                .iter()
                .collect::<Vec<_>>(),
            [id],
            "{id:?}: the client got it back, once"
        );
    }
}

#[tokio::test]
async fn a_missing_or_insane_request_id_is_replaced_by_one_generated_id_upstream_and_in_the_response(
) {
    let upstream = Upstream::start().await;
    let gw = TestGateway::start(EXAMPLE_ROUTES, upstream.addr).await;
    let too_long = "r".repeat(129);
    let cases: [(&str, Option<&[u8]>); 5] = [
        ("missing", None),
        ("empty", Some(b"")),
        ("too long (129 bytes)", Some(too_long.as_bytes())),
        ("with spaces", Some(b"has spaces in it")),
        ("with non-ASCII bytes", Some(b"caf\xc3\xa9")),
    ];
    let mut generated = Vec::new();
    for (what, sent) in cases {
        let headers: Vec<(&str, &[u8])> = sent.map(|v| ("x-request-id", v)).into_iter().collect();
        let reply = send(gw.addr, "GET", "/public/x", &headers).await;
        assert_eq!(reply.status, 200, "{what}: forwarded");
        let returned: Vec<String> = reply
            .headers
            .get_all("x-request-id")
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        assert_eq!(
            returned.len(),
            1,
            "{what}: one id in the response: {returned:?}"
        );
        assert!(
            is_generated_id(&returned[0]),
            "{what}: a generated id: {returned:?}"
        );
        assert_eq!(
            reply.upstream_saw("x-request-id"),
            returned,
            "{what}: the upstream saw the same generated id, and only it"
        );
        generated.push(returned[0].clone());
    }
    generated.sort();
    generated.dedup();
    assert_eq!(
        generated.len(),
        5,
        "every generated id is new: {generated:?}"
    );
}

#[tokio::test]
async fn rejected_responses_carry_the_request_id_too() {
    let upstream = Upstream::start().await;
    let gw = TestGateway::start(EXAMPLE_ROUTES, upstream.addr).await;
    for (path, status) in [("/protected", 401), ("/nope", 404)] {
        let reply = send(gw.addr, "GET", path, &[("x-request-id", b"trace-me-42")]).await;
        assert_eq!(reply.status, status, "{path}: rejected");
        assert_eq!(
            reply.headers.get("x-request-id").map(|v| v.as_bytes()),
            Some(&b"trace-me-42"[..]),
            "{path}: the client's id comes back on a rejection"
        );
        let reply = send(gw.addr, "GET", path, &[]).await;
        let id = reply
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            is_generated_id(id),
            "{path}: a rejection without an id gets a generated one: {id:?}"
        );
    }
    assert_eq!(upstream.hits(), 0, "nothing was forwarded");
}

// ---------------------------------------------------------------------------------------------
// Metrics after known traffic
// ---------------------------------------------------------------------------------------------

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
    // Bind then drop a listener to get a port with nothing behind it.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let config = METRICS_ROUTES.replace("{dead}", &dead.to_string());
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
            assert_eq!(reply.status, status, "{path}: {}", text(&reply));
        }
    }
    let reply = send(gw.addr, "GET", "/dead", &[]).await;
    assert_eq!(reply.status, 502, "the dead upstream: {}", text(&reply));

    let metrics = gw.gateway.metrics().encode();
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
    let open = || {
        metric(
            &gw.gateway.metrics().encode(),
            "freshgate_open_connections",
            &[],
        )
    };
    let deadline = Deadline::new(Duration::from_secs(5), "open connections to fall to 0");
    while open() != Some(0.0) {
        deadline.tick().await;
    }
    let mut sender = connect(gw.addr).await.expect("connect");
    let reply = exchange(&mut sender, gw.addr, "/nope", &[])
        .await
        .expect("a reply");
    assert_eq!(reply.status, 404, "the keep-alive connection is served");
    assert_eq!(
        open(),
        Some(1.0),
        "the one open keep-alive connection is counted"
    );
    drop(sender);
    let deadline = Deadline::new(
        Duration::from_secs(5),
        "the closed connection to be uncounted",
    );
    while open() != Some(0.0) {
        deadline.tick().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Binary level: the real freshgate process
// ---------------------------------------------------------------------------------------------

/// A running `freshgate` process serving a config file, with its JSON log lines collected from
/// standard error. Killed on drop.
struct Process {
    child: Child,
    listen: SocketAddr,
    admin: SocketAddr,
    log: Arc<Mutex<Vec<Value>>>,
    config: ConfigFile,
}

/// The `fields.message` of a JSON log line.
fn message(line: &Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or_default()
}

impl Process {
    /// Starts freshgate with JSON logs and reads its two addresses from the startup lines.
    async fn start(text: &str) -> Process {
        let mut process = Process::launch(text, "json");
        let listening = process
            .wait_for_log("the startup line `freshgate listening`", |l| {
                message(l) == "freshgate listening"
            })
            .await;
        let admin = process
            .find_log(|l| message(l).starts_with("admin listening"))
            .expect("the admin listener logs its address before `freshgate listening`");
        process.listen = listening["fields"]["listen"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no listen address in {listening}"));
        process.admin = admin["fields"]["admin"]
            .as_str()
            .and_then(|a| a.strip_prefix("Some(")?.strip_suffix(')')?.parse().ok())
            .unwrap_or_else(|| panic!("no admin address in {admin}"));
        process
    }

    /// Starts freshgate with `--log-format <format>`. Log lines that are JSON are kept parsed,
    /// others as JSON strings. `listen` and `admin` are 0.0.0.0:0 until [`Process::start`]
    /// reads them.
    fn launch(text: &str, format: &str) -> Process {
        let config = ConfigFile::new(text);
        let mut child = Command::new(env!("CARGO_BIN_EXE_freshgate"))
            .arg("--config")
            .arg(&config.path)
            .args(["--log-format", format])
            .env("RUST_LOG", "info")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the freshgate binary");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                lines.lock().expect("log lock").push(value);
            }
        });
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        Process {
            child,
            listen: unspecified,
            admin: unspecified,
            log,
            config,
        }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Sends a signal with `kill -<name> <pid>`.
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    fn logs(&self) -> Vec<Value> {
        self.log.lock().expect("log lock").clone()
    }

    fn find_log(&self, matches: impl Fn(&Value) -> bool) -> Option<Value> {
        self.logs().into_iter().find(|l| matches(l))
    }

    fn count_logs(&self, matches: impl Fn(&Value) -> bool) -> usize {
        self.logs().iter().filter(|l| matches(l)).count()
    }

    /// Waits up to 10 s for a log line; fails early if the process exits.
    async fn wait_for_log(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = Deadline::new(Duration::from_secs(10), what);
        loop {
            if let Some(line) = self.find_log(&matches) {
                return line;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.log_complete().await;
                panic!(
                    "freshgate exited ({status}) before {what}:\n{:#?}",
                    self.logs()
                );
            }
            deadline.tick().await;
        }
    }

    /// Waits for the process to exit, and for its last log lines to be collected.
    async fn wait_for_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Deadline::new(within, "freshgate to exit");
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.log_complete().await;
                return status;
            }
            deadline.tick().await;
        }
    }

    /// After the process exited: waits until the reader thread has read standard error to its
    /// end (it drops its handle on the log then).
    async fn log_complete(&self) {
        let deadline = Deadline::new(Duration::from_secs(5), "the end of standard error");
        while Arc::strong_count(&self.log) > 1 {
            deadline.tick().await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config for the binary: both listeners on port 0, `/switch` under `policy`, `/slow` public.
fn binary_config(upstream: SocketAddr, policy: &str, extra_server: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
{extra_server}

[admin]
listen = "127.0.0.1:0"

[upstreams]
app = "http://{upstream}"

[jwt]
secret = "{SECRET}"

[[route]]
path = "/switch"
policy = "{policy}"

[[route]]
prefix = "/slow"
policy = "public"
"#
    )
}

#[tokio::test]
async fn the_admin_listener_serves_health_readiness_and_metrics_and_the_public_port_does_not() {
    let upstream = Upstream::start().await;
    let gw = Process::start(&binary_config(upstream.addr, "public", "")).await;
    assert_ne!(gw.listen, gw.admin, "the admin listener is its own port");

    let health = send(gw.admin, "GET", "/healthz", &[]).await;
    assert_eq!(
        (health.status.as_u16(), text(&health)),
        (200, r#"{"status":"ok"}"#.to_string()),
        "/healthz: the process is up"
    );
    let ready = send(gw.admin, "GET", "/readyz", &[]).await;
    assert_eq!(
        ready.status,
        200,
        "/readyz: a snapshot is loaded: {}",
        text(&ready)
    );
    assert_eq!(
        ready.json()["status"],
        "ready",
        "/readyz body: {}",
        text(&ready)
    );

    let reply = send(gw.listen, "GET", "/switch", &[]).await;
    assert_eq!(
        reply.status,
        200,
        "the public route is served: {}",
        text(&reply)
    );
    for path in ["/metrics", "/healthz", "/readyz"] {
        let reply = send(gw.listen, "GET", path, &[]).await;
        assert_eq!(
            (reply.status.as_u16(), text(&reply)),
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
    let metrics = text(&scrape);
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
    let deadline = Deadline::new(
        Duration::from_secs(5),
        "the edited policy (access) to apply",
    );
    loop {
        let reply = send(gw.listen, "GET", "/switch", &[]).await;
        match (reply.status.as_u16(), text(&reply)) {
            (401, body) if body == MISSING_HEADER => break,
            (200, _) => deadline.tick().await,
            (status, body) => panic!("neither policy's answer: {status} {body}"),
        }
    }
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
        (reply.status.as_u16(), text(&reply)),
        (401, MISSING_HEADER.to_string()),
        "the reloaded policy (access) is in effect"
    );
    assert!(
        gw.child.try_wait().expect("try_wait").is_none(),
        "SIGHUP does not end the process"
    );
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
        (reply.status.as_u16(), text(&reply)),
        (401, MISSING_HEADER.to_string()),
        "the old policy (access) keeps serving"
    );

    // SIGHUP with the same bad file: refused again, still serving.
    gw.signal("HUP");
    let deadline = Deadline::new(Duration::from_secs(5), "a second rejection, after SIGHUP");
    while gw.count_logs(rejected) < 2 {
        deadline.tick().await;
    }
    let reply = send(gw.listen, "GET", "/switch", &[]).await;
    assert_eq!(
        reply.status, 401,
        "the old policy still serves after SIGHUP"
    );
    let metrics = text(&send(gw.admin, "GET", "/metrics", &[]).await);
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

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_refuses_new_connections_and_exits_0() {
    let upstream = Upstream::start().await;
    let config = binary_config(upstream.addr, "public", "shutdown_timeout = \"10s\"");
    let mut gw = Process::start(&config).await;
    let addr = gw.listen;

    // An idle keep-alive connection must not hold the shutdown up.
    let mut idle = connect(addr).await.expect("connect");
    let reply = exchange(&mut idle, addr, "/switch", &[])
        .await
        .expect("a reply");
    assert_eq!(reply.status, 200, "the keep-alive connection is served");

    let in_flight = tokio::spawn(async move { try_get(addr, "/slow/2000", &[]).await });
    let deadline = Deadline::new(
        Duration::from_secs(5),
        "the slow request to reach the upstream",
    );
    while upstream.hits() < 2 {
        deadline.tick().await;
    }
    let signalled = Instant::now();
    gw.signal("TERM");

    let deadline = Deadline::new(Duration::from_secs(2), "/readyz to turn 503 while draining");
    loop {
        match try_get(gw.admin, "/readyz", &[]).await {
            Ok(reply) if reply.status == 503 => break,
            Ok(reply) if reply.status == 200 => deadline.tick().await,
            other => panic!("/readyz while draining: {other:?}"),
        }
    }
    let deadline = Deadline::new(Duration::from_secs(2), "new connections to be refused");
    while TcpStream::connect(addr).await.is_ok() {
        deadline.tick().await;
    }
    assert!(
        !in_flight.is_finished(),
        "the listener closed while the slow request was still in flight"
    );

    let reply = in_flight
        .await
        .expect("in-flight task")
        .unwrap_or_else(|e| panic!("the in-flight request failed: {e}"));
    assert_eq!(
        reply.status,
        200,
        "the in-flight request completes: {}",
        text(&reply)
    );
    assert_eq!(
        reply.json()["path"],
        "/slow/2000",
        "with the upstream's answer"
    );

    let status = gw.wait_for_exit(Duration::from_secs(10)).await;
    assert!(
        status.success(),
        "freshgate exits 0 after draining: {status}"
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "it exited within shutdown_timeout ({:?})",
        signalled.elapsed()
    );
    assert!(
        gw.find_log(|l| message(l) == "all connections drained")
            .is_some(),
        "every connection drained without the timeout, the idle keep-alive one included: {:#?}",
        gw.logs()
    );
    let refused = TcpStream::connect(addr).await;
    assert!(refused.is_err(), "nothing listens after exit");
}

#[tokio::test]
async fn sigterm_exits_0_after_shutdown_timeout_when_a_request_outlasts_it() {
    let upstream = Upstream::start().await;
    let config = binary_config(upstream.addr, "public", "shutdown_timeout = \"300ms\"");
    let mut gw = Process::start(&config).await;
    let addr = gw.listen;
    let in_flight = tokio::spawn(async move { try_get(addr, "/slow/5000", &[]).await });
    let deadline = Deadline::new(
        Duration::from_secs(5),
        "the slow request to reach the upstream",
    );
    while upstream.hits() < 1 {
        deadline.tick().await;
    }
    let signalled = Instant::now();
    gw.signal("TERM");
    let status = gw.wait_for_exit(Duration::from_secs(4)).await;
    assert!(
        status.success(),
        "freshgate exits 0 at the shutdown timeout: {status}"
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(4),
        "it did not wait for the 5 s request ({:?})",
        signalled.elapsed()
    );
    let result = in_flight.await.expect("in-flight task");
    assert!(
        result.is_err(),
        "the request that outlasted the timeout is cut off: {result:?}"
    );
}

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

/// A port with nothing behind it: bound, then released.
fn dead_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
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
    assert_eq!(reply.status, 200, "forwarded: {}", text(&reply));
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
    assert_eq!(reply.status, 502, "the dead upstream: {}", text(&reply));
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
