//! WebSocket handshakes (RFC 6455 section 4) on routes with `websocket = ...`: recognising a
//! handshake, answering a refused one the way the library's documented app does (accept, one
//! text frame with the message, close 1008), and relaying an accepted one byte for byte until
//! either side closes, the socket idles past `websocket_idle_timeout`, the token expires
//! (`close_at_expiry`), or shutdown's drain runs out.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::SinkExt;
use http::header::{CONNECTION, CONTENT_LENGTH, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY};
use http::header::{SEC_WEBSOCKET_VERSION, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Version};
use http_body_util::{Either, Full};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use hyper::body::Incoming;

use crate::auth::Identity;
use crate::error::Body;
use crate::handler::Sockets;
use crate::routes::Route;
use crate::state::Gateway;

/// What a request is, as a WebSocket handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// No `Upgrade: websocket`: an ordinary request.
    None,
    /// A valid handshake: `GET`, HTTP/1.1, `Upgrade: websocket`, `Connection: upgrade`, a
    /// `Sec-WebSocket-Key` of 16 bytes in base64, version 13, no body.
    Valid,
    /// `Upgrade: websocket` on a request that is not a valid handshake; the detail says why.
    Invalid(&'static str),
}

/// Whether a comma-separated header holds `token`, compared case-insensitively.
fn has_token(headers: &HeaderMap, name: http::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Classifies a request head.
pub fn handshake(method: &Method, version: Version, headers: &HeaderMap) -> Handshake {
    if !has_token(headers, UPGRADE, "websocket") {
        return Handshake::None;
    }
    let key_ok = headers.get(SEC_WEBSOCKET_KEY).is_some_and(|k| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(k.as_bytes())
            .is_ok_and(|k| k.len() == 16)
    });
    let body = headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let problem = if method != Method::GET {
        "WebSocket handshake must be a GET"
    } else if version != Version::HTTP_11 {
        "WebSocket handshake must be HTTP/1.1"
    } else if !has_token(headers, CONNECTION, "upgrade") {
        "WebSocket handshake without Connection: upgrade"
    } else if !key_ok {
        "Invalid Sec-WebSocket-Key"
    } else if headers
        .get(SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        "Unsupported Sec-WebSocket-Version"
    } else if body {
        "WebSocket handshake with a body"
    } else {
        return Handshake::Valid;
    };
    Handshake::Invalid(problem)
}

/// The `101 Switching Protocols` that completes a handshake freshgate answers itself.
fn switching(headers: &HeaderMap) -> Response<Body> {
    let key = headers
        .get(SEC_WEBSOCKET_KEY)
        .map_or(&b""[..], HeaderValue::as_bytes);
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key);
    let mut response = Response::new(Either::Right(Full::new(Bytes::new())));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        h.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// `websocket_reject = "message"`: completes the handshake and, on the upgraded connection,
/// sends `message` as one text frame and a close frame with 1008 (policy violation), then waits
/// briefly for the client's close. The upstream is never contacted.
pub fn reject_with_message(
    headers: &HeaderMap,
    upgrade: OnUpgrade,
    message: String,
) -> (Response<Body>, impl std::future::Future<Output = ()>) {
    let response = switching(headers);
    let task = async move {
        let Ok(upgraded) = upgrade.await else {
            return;
        };
        let mut socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let close = CloseFrame {
            code: CloseCode::Policy,
            reason: "".into(),
        };
        let sent = async {
            socket.send(Message::text(message)).await?;
            socket.close(Some(close)).await
        };
        if tokio::time::timeout(Duration::from_secs(5), sent)
            .await
            .is_ok()
        {
            // Read until the client's close reply (or the timeout), so the close handshake
            // completes rather than ending in a reset.
            let drain = async {
                use futures_util::StreamExt;
                while let Some(Ok(_)) = socket.next().await {}
            };
            let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
        }
    };
    (response, task)
}

/// Why a relayed socket ended, for the log and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Client,
    Upstream,
    IdleTimeout,
    TokenExpired,
    Shutdown,
}

impl Closed {
    pub fn as_str(self) -> &'static str {
        match self {
            Closed::Client => "client",
            Closed::Upstream => "upstream",
            Closed::IdleTimeout => "idle_timeout",
            Closed::TokenExpired => "token_expired",
            Closed::Shutdown => "shutdown",
        }
    }
}

/// How a relay ended: who closed, and the bytes each way.
#[derive(Debug, Clone, Copy)]
pub struct Relayed {
    pub closed: Closed,
    /// Client to upstream.
    pub up: u64,
    /// Upstream to client.
    pub down: u64,
    pub duration: Duration,
}

/// What bounds a relay's life.
#[derive(Debug, Clone)]
pub struct Lifetime {
    pub idle: Duration,
    /// When the token expires, for `close_at_expiry`.
    pub expires: Option<tokio::time::Instant>,
    /// Cancelled when shutdown's drain runs out.
    pub closing: CancellationToken,
}

/// Relays bytes both ways between the two upgraded connections until one side closes or the
/// lifetime ends; then closes both.
pub async fn relay(client: Upgraded, upstream: Upgraded, lifetime: Lifetime) -> Relayed {
    let started = Instant::now();
    let (mut client_read, mut client_write) = tokio::io::split(TokioIo::new(client));
    let (mut upstream_read, mut upstream_write) = tokio::io::split(TokioIo::new(upstream));
    let mut to_upstream = vec![0u8; 8 * 1024];
    let mut to_client = vec![0u8; 8 * 1024];
    let (mut up, mut down) = (0u64, 0u64);
    let idle = tokio::time::sleep(lifetime.idle);
    tokio::pin!(idle);
    let expiry = async {
        match lifetime.expires {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expiry);
    let closed = loop {
        tokio::select! {
            read = client_read.read(&mut to_upstream) => match read {
                Ok(n) if n > 0 => {
                    if upstream_write.write_all(&to_upstream[..n]).await.is_err() {
                        break Closed::Upstream;
                    }
                    up += n as u64;
                }
                _ => break Closed::Client,
            },
            read = upstream_read.read(&mut to_client) => match read {
                Ok(n) if n > 0 => {
                    if client_write.write_all(&to_client[..n]).await.is_err() {
                        break Closed::Client;
                    }
                    down += n as u64;
                }
                _ => break Closed::Upstream,
            },
            () = &mut idle => break Closed::IdleTimeout,
            () = &mut expiry => break Closed::TokenExpired,
            () = lifetime.closing.cancelled() => break Closed::Shutdown,
        }
        idle.as_mut()
            .reset(tokio::time::Instant::now() + lifetime.idle);
    };
    let _ = tokio::join!(client_write.shutdown(), upstream_write.shutdown());
    Relayed {
        closed,
        up,
        down,
        duration: started.elapsed(),
    }
}

/// A forwarded handshake's relay: what it needs from the handler.
#[derive(Debug)]
pub struct Session<'a> {
    pub gateway: &'a Arc<Gateway>,
    pub sockets: &'a Sockets,
    pub route: &'a Route,
    pub identity: Option<&'a Identity>,
    pub request_id: &'a HeaderValue,
    pub idle: Duration,
}

impl Session<'_> {
    /// On the upstream's `101`, relays the two upgraded connections on a task of its own and
    /// returns true; any other answer is passed through as an ordinary response.
    pub fn upgrade(self, client_side: OnUpgrade, response: &mut Response<Incoming>) -> bool {
        let metrics = self.gateway.metrics();
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            metrics.record_websocket(&self.route.name, "not_upgraded");
            return false;
        }
        let upstream_side = hyper::upgrade::on(response);
        let lifetime = Lifetime {
            idle: self.idle,
            expires: self.expiry(),
            closing: self.sockets.closing.clone(),
        };
        let (gateway, route) = (self.gateway.clone(), self.route.name.clone());
        let request_id = self.request_id.clone();
        metrics.websocket_opened();
        self.sockets.tasks.spawn(async move {
            let relayed = match tokio::join!(client_side, upstream_side) {
                (Ok(client), Ok(upstream)) => Some(relay(client, upstream, lifetime).await),
                _ => None,
            };
            gateway.metrics().websocket_closed(&route, relayed.as_ref());
            if let Some(r) = relayed {
                tracing::event!(
                    target: "freshgate::access",
                    tracing::Level::INFO,
                    request.id = request_id.to_str().unwrap_or("-"),
                    route.id = &*route,
                    websocket.closed_by = r.closed.as_str(),
                    websocket.duration_ms = r.duration.as_millis() as u64,
                    websocket.bytes_up = r.up,
                    websocket.bytes_down = r.down,
                    "websocket closed"
                );
            }
        });
        true
    }

    /// `close_at_expiry`: when the token's `exp` passes.
    fn expiry(&self) -> Option<tokio::time::Instant> {
        let exp = self
            .identity
            .filter(|_| self.route.close_at_expiry)?
            .claims
            .get("exp")?
            .as_f64()?;
        let left_ms = (exp * 1000.0 - crate::clock::now_ms() as f64).max(0.0);
        Some(tokio::time::Instant::now() + Duration::from_millis(left_ms as u64))
    }
}
