//! WebSockets (issue 11) through real sockets: a real WebSocket client (tokio-tungstenite)
//! through freshgate to a real WebSocket echo upstream. Handshakes decided by the route's
//! policy with the library's WebSocket token sources, refusals answered as frames or as JSON,
//! relayed bytes both ways, lifetimes, and nothing left open afterwards.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]
// The upstream's handshake callback returns tungstenite's own (large) error type.
#![allow(clippy::result_large_err)]

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use freshgate::auth::TokenType;
use futures_util::{SinkExt, StreamExt};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

/// A WebSocket echo upstream that records each handshake's headers.
struct EchoSocket {
    addr: SocketAddr,
    handshakes: Arc<Mutex<Vec<Handshake>>>,
}

/// One handshake's headers, as the upstream saw them.
type Handshake = Vec<(String, String)>;

impl EchoSocket {
    async fn start() -> EchoSocket {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handshakes = Arc::new(Mutex::new(Vec::new()));
        let seen = handshakes.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let record = |request: &Request, response: Response| {
                        let headers = request
                            .headers()
                            .iter()
                            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_string()))
                            .collect();
                        seen.lock().unwrap().push(headers);
                        Ok(response)
                    };
                    let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, record).await
                    else {
                        return;
                    };
                    while let Some(Ok(message)) = socket.next().await {
                        let echoed = match message {
                            Message::Text(_) | Message::Binary(_) => socket.send(message).await,
                            Message::Close(_) => return,
                            _ => Ok(()),
                        };
                        if echoed.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        EchoSocket { addr, handshakes }
    }

    fn handshakes(&self) -> Vec<Handshake> {
        self.handshakes.lock().unwrap().clone()
    }
}

const CONFIG: &str = r#"
[server]
websocket_idle_timeout = "{idle}"

[upstreams]
app = "http://{upstream}"

[jwt]
secret = "test-secret-not-for-production"

[[route]]
path = "/ws/query"
policy = "access"
websocket = "query"

[[route]]
path = "/ws/fresh"
policy = "fresh"
websocket = "query"
close_at_expiry = true

[[route]]
path = "/ws/optional"
policy = "optional"
websocket = "query"

[[route]]
path = "/ws/refresh"
policy = "refresh"
websocket = "query"

[[route]]
path = "/ws/cookies"
policy = "access"
websocket = "cookies"

[[route]]
path = "/ws/headers"
policy = "access"
websocket = "headers"

[[route]]
path = "/not-a-socket"
policy = "public"
"#;

async fn gateway(upstream: &EchoSocket, idle: &str, extra: &str) -> TestGateway {
    let config = CONFIG
        .replace("{idle}", idle)
        .replace("[server]\n", &format!("[server]\n{extra}"));
    TestGateway::start(&config, upstream.addr).await
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn connect(
    addr: SocketAddr,
    target: &str,
    headers: &[(&str, &str)],
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}{target}")
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

/// What a refused socket receives: its text frames, then the close code.
async fn received(mut socket: Socket) -> (Vec<String>, Option<CloseCode>) {
    support::websocket::frames_until_close(&mut socket, Duration::from_secs(5))
        .await
        .unwrap()
}

async fn echo(socket: &mut Socket, message: Message) -> Message {
    socket.send(message).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
}

fn access() -> String {
    token("alice", TokenType::Access, false)
}

#[tokio::test]
async fn a_query_token_handshake_is_relayed_and_messages_echo_both_ways() {
    let upstream = EchoSocket::start().await;
    let gw = gateway(&upstream, "60s", "").await;
    let mut socket = connect(gw.addr, &format!("/ws/query?token={}", access()), &[])
        .await
        .unwrap();
    let reply = echo(&mut socket, Message::text("hello")).await;
    assert_eq!(reply, Message::text("hello"), "a text frame echoes");
    let big = vec![7u8; 1 << 20];
    let reply = echo(&mut socket, Message::binary(big.clone())).await;
    assert_eq!(
        reply,
        Message::binary(big),
        "a 1 MiB binary message echoes whole"
    );
    socket.close(None).await.unwrap();
    let handshake = &upstream.handshakes()[0];
    let header = |name: &str| {
        handshake
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        header("x-auth-subject").as_deref(),
        Some("alice"),
        "the identity reaches the app"
    );
    assert_eq!(
        header("x-auth-fresh").as_deref(),
        Some("false"),
        "freshness too"
    );
    assert_eq!(
        header("upgrade").as_deref(),
        Some("websocket"),
        "the upgrade is relayed"
    );
}

#[tokio::test]
async fn the_query_string_goes_upstream_untouched_and_spoofed_identity_never_does() {
    let upstream = EchoSocket::start().await;
    let gw = gateway(&upstream, "60s", "").await;
    let target = format!("/ws/query?room=a%2Fb&token={}", access());
    let socket = connect(
        gw.addr,
        &target,
        &[("x-auth-subject", "admin"), ("x_auth_fresh", "true")],
    )
    .await
    .unwrap();
    drop(socket);
    let handshake = &upstream.handshakes()[0];
    let subjects: Vec<&String> = handshake
        .iter()
        .filter(|(n, _)| n == "x-auth-subject")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        subjects,
        ["alice"],
        "only the verified subject, never the spoof"
    );
    assert!(
        !handshake.iter().any(|(n, _)| n == "x_auth_fresh"),
        "underscore spoofs are removed too"
    );
}

#[tokio::test]
async fn refused_handshakes_get_the_library_message_as_a_text_frame_and_a_1008_close_and_never_reach_the_app(
) {
    let upstream = EchoSocket::start().await;
    let gw = gateway(&upstream, "60s", "").await;
    let refresh = token("alice", TokenType::Refresh, false);
    let cases = [
        (
            "/ws/query",
            "Missing access token from Query or Path".to_string(),
        ),
        (
            "/ws/query?token=",
            "Missing access token from Query or Path".to_string(),
        ),
        (
            "/ws/refresh",
            "Missing refresh token from Query or Path".to_string(),
        ),
        ("/ws/query?token=abc", "Not enough segments".to_string()),
        (
            &*format!("/ws/query?token={refresh}"),
            "Only access tokens are allowed".to_string(),
        ),
        (
            &*format!("/ws/fresh?token={}", access()),
            "Fresh token required".to_string(),
        ),
        (
            "/ws/cookies",
            "Missing cookie access_token_cookie".to_string(),
        ),
    ];
    for (target, message) in cases {
        let socket = connect(gw.addr, target, &[]).await.unwrap();
        let (texts, code) = received(socket).await;
        assert_eq!(
            texts,
            std::slice::from_ref(&message),
            "{target}: the library's message as one text frame"
        );
        assert_eq!(code, Some(CloseCode::Policy), "{target}: then a 1008 close");
    }
    assert!(
        upstream.handshakes().is_empty(),
        "no refused handshake reached the app"
    );
}

#[tokio::test]
async fn an_optional_socket_admits_anonymous_clients() {
    let upstream = EchoSocket::start().await;
    let gw = gateway(&upstream, "60s", "").await;
    let mut socket = connect(gw.addr, "/ws/optional", &[]).await.unwrap();
    assert_eq!(
        echo(&mut socket, Message::text("hi")).await,
        Message::text("hi"),
        "anonymous is relayed"
    );
    let handshake = &upstream.handshakes()[0];
    assert!(
        !handshake.iter().any(|(n, _)| n.starts_with("x-auth-")),
        "anonymous: no identity headers"
    );
}

#[tokio::test]
async fn cookie_sockets_need_the_csrf_value_from_the_query_on_every_handshake() {
    let upstream = EchoSocket::start().await;
    let gw = gateway(&upstream, "60s", "").await;
    let mut claims =
        freshgate::token::TokenSpec::new("alice", TokenType::Access, false).claims(now());
    claims.insert("csrf".into(), serde_json::json!("c5rf"));
    let jwt = sign_claims(&claims);
    let cookie = format!("access_token_cookie={jwt}");
    let refused = [
        ("/ws/cookies", "Missing CSRF Token"),
        (
            "/ws/cookies?csrf_token=wrong",
            "CSRF double submit tokens do not match",
        ),
    ];
    for (target, message) in refused {
        let socket = connect(gw.addr, target, &[("cookie", &cookie)])
            .await
            .unwrap();
        let (texts, _) = received(socket).await;
        assert_eq!(texts, [message], "{target}");
    }
    let mut socket = connect(
        gw.addr,
        "/ws/cookies?csrf_token=c5rf",
        &[("cookie", &cookie)],
    )
    .await
    .unwrap();
    assert_eq!(
        echo(&mut socket, Message::text("ok")).await,
        Message::text("ok"),
        "the matching CSRF value is relayed"
    );
    assert_eq!(
        upstream.handshakes().len(),
        1,
        "only the good handshake reached the app"
    );
}

#[tokio::test]
async fn header_sockets_follow_the_ordinary_header_rules() {
    let upstream = EchoSocket::start().await;
    let gw = gateway(&upstream, "60s", "").await;
    let auth = format!("Bearer {}", access());
    let mut socket = connect(gw.addr, "/ws/headers", &[("authorization", &auth)])
        .await
        .unwrap();
    assert_eq!(
        echo(&mut socket, Message::text("x")).await,
        Message::text("x"),
        "a header token is relayed"
    );
    let (texts, _) = received(connect(gw.addr, "/ws/headers", &[]).await.unwrap()).await;
    assert_eq!(
        texts,
        ["Missing Authorization Header"],
        "no header: the header rule's message"
    );
}

#[tokio::test]
async fn with_http_rejection_a_refused_handshake_gets_the_json_401() {
    let upstream = EchoSocket::start().await;
    let gw = gateway(&upstream, "60s", "websocket_reject = \"http\"\n").await;
    let result = connect(gw.addr, "/ws/query", &[]).await;
    match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401, "the JSON 401");
            let body = response.body().clone().unwrap_or_default();
            assert_eq!(
                String::from_utf8_lossy(&body),
                r#"{"detail":"Missing access token from Query or Path"}"#
            );
            assert!(
                response.headers().contains_key("www-authenticate"),
                "with the challenge"
            );
        }
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
}

/// Sends a raw handshake head and returns the status code.
async fn raw_status(addr: SocketAddr, head: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    (
        text.split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        text,
    )
}

#[tokio::test]
async fn malformed_handshakes_are_400_and_never_relayed() {
    let upstream = EchoSocket::start().await;
    let gw = gateway(&upstream, "60s", "").await;
    let token = access();
    let good = "upgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n";
    let cases = [
        ("no key", format!("GET /ws/query?token={token} HTTP/1.1\r\nhost: gw\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-version: 13\r\n\r\n"), "Invalid Sec-WebSocket-Key"),
        ("wrong version", format!("GET /ws/query?token={token} HTTP/1.1\r\nhost: gw\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 8\r\n\r\n"), "Unsupported Sec-WebSocket-Version"),
        ("a POST", format!("POST /ws/query?token={token} HTTP/1.1\r\nhost: gw\r\n{good}content-length: 0\r\n\r\n"), "WebSocket handshake must be a GET"),
        ("a body", format!("GET /ws/query?token={token} HTTP/1.1\r\nhost: gw\r\n{good}content-length: 3\r\n\r\nabc"), "WebSocket handshake with a body"),
    ];
    for (what, head, detail) in cases {
        let (status, text) = raw_status(gw.addr, &head).await;
        assert_eq!(status, 400, "{what}: 400, got {text}");
        assert!(text.contains(detail), "{what}: {detail:?} in {text}");
    }
    assert!(
        upstream.handshakes().is_empty(),
        "no malformed handshake was relayed"
    );
}

#[tokio::test]
async fn an_upgrade_on_a_route_without_websocket_is_served_as_plain_http() {
    let upstream = Upstream::start().await;
    let config = CONFIG.replace("{idle}", "60s");
    let gw = TestGateway::start(&config, upstream.addr).await;
    let reply = send(
        gw.addr,
        "GET",
        "/not-a-socket",
        &[
            ("upgrade", b"websocket"),
            ("connection", b"upgrade"),
            ("sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-version", b"13"),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "served as plain HTTP");
    assert!(
        reply.upstream_saw("upgrade").is_empty(),
        "Upgrade is not relayed off WebSocket routes"
    );
}

#[tokio::test]
async fn an_upstream_that_refuses_the_upgrade_has_its_answer_passed_through() {
    let upstream = Upstream::start().await;
    let config = CONFIG.replace("{idle}", "60s");
    let gw = TestGateway::start(&config, upstream.addr).await;
    let result = connect(gw.addr, &format!("/ws/query?token={}", access()), &[]).await;
    match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 200, "the echo upstream's own answer");
        }
        other => panic!("expected the upstream's HTTP answer, got {other:?}"),
    }
}

#[tokio::test]
async fn an_idle_socket_is_closed_after_websocket_idle_timeout() {
    let upstream = EchoSocket::start().await;
    let gw = gateway(&upstream, "300ms", "").await;
    let mut socket = connect(gw.addr, &format!("/ws/query?token={}", access()), &[])
        .await
        .unwrap();
    assert_eq!(
        echo(&mut socket, Message::text("a")).await,
        Message::text("a"),
        "relayed while busy"
    );
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(_) | Message::Binary(_))) => {}
                _ => return,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the idle socket was closed");
}

#[tokio::test]
async fn close_at_expiry_ends_the_socket_when_the_token_expires() {
    let upstream = EchoSocket::start().await;
    let gw = gateway(&upstream, "60s", "").await;
    let mut spec = freshgate::token::TokenSpec::new("alice", TokenType::Access, true);
    spec.expires_in = Some(Duration::from_secs(2));
    let jwt = sign_claims(&spec.claims(now()));
    let mut socket = connect(gw.addr, &format!("/ws/fresh?token={jwt}"), &[])
        .await
        .unwrap();
    assert_eq!(
        echo(&mut socket, Message::text("a")).await,
        Message::text("a"),
        "relayed before expiry"
    );
    let started = std::time::Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(
                    Message::Text(_) | Message::Binary(_) | Message::Ping(_) | Message::Pong(_),
                )) => {}
                _ => return,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the socket was closed at expiry");
    assert!(
        started.elapsed() <= Duration::from_secs(4),
        "no later than the token's exp"
    );
}

#[tokio::test]
async fn a_thousand_sockets_opened_and_closed_leave_nothing_open() {
    let upstream = EchoSocket::start().await;
    let gw = gateway(&upstream, "60s", "").await;
    let target = format!("/ws/query?token={}", access());
    for _ in 0..10 {
        let mut sockets = Vec::new();
        for _ in 0..100 {
            sockets.push(connect(gw.addr, &target, &[]).await.unwrap());
        }
        for mut socket in sockets {
            let _ = socket.close(None).await;
        }
    }
    let metrics = || gw.gateway.metrics().encode();
    let open = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("freshgate_websockets_open "))
            .and_then(|l| l.split(' ').nth(1))
            .map(str::to_string)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while open(&metrics()).as_deref() != Some("0") && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = metrics();
    assert_eq!(
        open(&text).as_deref(),
        Some("0"),
        "every relay ended:\n{text}"
    );
    assert!(
        text.contains(
            r#"freshgate_websocket_sessions_total{route="* /ws/query",outcome="client"} 1000"#
        ),
        "1,000 sessions closed by the client are counted:\n{text}"
    );
}

#[tokio::test]
async fn shutdown_lets_open_sockets_run_until_shutdown_timeout_then_closes_them() {
    let upstream = EchoSocket::start().await;
    let gw = gateway(&upstream, "60s", "shutdown_timeout = \"1500ms\"\n").await;
    let mut socket = connect(gw.addr, &format!("/ws/query?token={}", access()), &[])
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let stopping = tokio::spawn(gw.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        echo(&mut socket, Message::text("still here")).await,
        Message::text("still here"),
        "an open socket keeps working during the drain"
    );
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = socket.next().await {}
    })
    .await;
    assert!(
        closed.is_ok(),
        "the socket is closed when the drain runs out"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "not before shutdown_timeout: {:?}",
        started.elapsed()
    );
    stopping.await.unwrap();
}

#[test]
fn explain_and_check_show_the_websocket_handshake_and_routes() {
    let text = CONFIG
        .replace("{idle}", "60s")
        .replace("{upstream}", "127.0.0.1:9");
    let snapshot = freshgate::config::parse(&text, "ws.toml", std::path::Path::new(".")).unwrap();
    let table = freshgate::explain::route_table(std::path::Path::new("ws.toml"), &snapshot);
    assert!(
        table.contains("/ws/cookies") && table.contains("websocket=cookies"),
        "check marks the routes that relay WebSockets:\n{table}"
    );
    let handshake = [
        "Upgrade: websocket".to_string(),
        "Connection: upgrade".to_string(),
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==".to_string(),
        "Sec-WebSocket-Version: 13".to_string(),
    ];
    let now = freshgate::clock::now_ms();
    let report = freshgate::explain::explain(&snapshot, "GET", "/ws/query", None, &handshake, now)
        .unwrap()
        .to_string();
    assert!(
        report.contains("websocket:  handshake, token from query")
            && report.contains("Missing access token from Query or Path"),
        "explain shows the handshake decision:\n{report}"
    );
    let target = format!("/ws/query?token={}", access());
    let report = freshgate::explain::explain(&snapshot, "GET", &target, None, &handshake, now)
        .unwrap()
        .to_string();
    assert!(
        report.contains("upgrade: websocket") && report.contains("connection: upgrade"),
        "a forwarded handshake keeps its upgrade headers upstream:\n{report}"
    );
}

#[tokio::test]
async fn an_upstream_that_vanishes_mid_stream_closes_the_client_side() {
    // An upstream that completes the handshake, then drops the connection after one message.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await {
                    let _ = socket.next().await;
                    drop(socket);
                }
            });
        }
    });
    let config = CONFIG.replace("{idle}", "60s");
    let gw = TestGateway::start(&config, addr).await;
    let mut socket = connect(gw.addr, &format!("/ws/query?token={}", access()), &[])
        .await
        .unwrap();
    socket.send(Message::text("bye")).await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = socket.next().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the client side is closed when the upstream vanishes"
    );
    let metrics = gw.gateway.metrics().encode();
    let closed_by_upstream = metrics.lines().any(|l| {
        l.starts_with("freshgate_websocket_sessions_total") && l.contains("outcome=\"upstream\"")
    });
    assert!(
        closed_by_upstream,
        "counted as closed by the upstream:\n{metrics}"
    );
}
