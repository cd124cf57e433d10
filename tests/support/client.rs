//! A plain HTTP/1.1 client that follows no redirects: one request on a fresh connection
//! ([`send`], [`try_get`]), several on one kept-alive [`Connection`], or raw bytes
//! ([`raw`]). The `try_` forms and [`Connection`] report failures as `Err` instead of
//! panicking, for tests that count them.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// What a test client got back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `detail` of a `{"detail": ...}` body.
    pub fn detail(&self) -> String {
        self.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Every value of a response header, in order (lossy text).
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    /// The values of a header the echo upstream saw, in order.
    pub fn upstream_saw(&self, name: &str) -> Vec<String> {
        self.json()["headers"]
            .as_array()
            .expect("an echo reply")
            .iter()
            .filter(|pair| pair[0].as_str() == Some(name))
            .map(|pair| pair[1].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// One client connection, kept alive across requests.
pub struct Connection {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    /// Opens a connection to `addr`.
    pub async fn open(addr: SocketAddr) -> Result<Connection, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(connection);
        Ok(Connection { addr, sender })
    }

    /// Sends one request on this connection. Header values are raw bytes; `Host` is the
    /// address connected to.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &[u8])],
        body: Bytes,
    ) -> Result<Reply, String> {
        self.sender
            .ready()
            .await
            .map_err(|e| format!("connection closed: {e}"))?;
        let mut builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        for (name, value) in headers {
            let value = HeaderValue::from_bytes(value)
                .map_err(|e| format!("header {name}: not a header value: {e}"))?;
            builder = builder.header(*name, value);
        }
        let request = builder
            .body(Full::new(body))
            .map_err(|e| format!("request: {e}"))?;
        let response = self
            .sender
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

    /// A GET without a body on this connection.
    pub async fn get(&mut self, path: &str, headers: &[(&str, &[u8])]) -> Result<Reply, String> {
        self.request("GET", path, headers, Bytes::new()).await
    }
}

/// One request on a fresh connection; any failure is an `Err` describing it.
pub async fn try_send_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: Bytes,
) -> Result<Reply, String> {
    let mut connection = Connection::open(addr).await?;
    connection.request(method, path, headers, body).await
}

/// One GET on a fresh connection; failures are an `Err` rather than a panic.
pub async fn try_get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &[u8])],
) -> Result<Reply, String> {
    try_send_body(addr, "GET", path, headers, Bytes::new()).await
}

/// Sends one request without a body on a fresh connection. Header values are raw bytes.
pub async fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &[u8])]) -> Reply {
    send_body(addr, method, path, headers, Bytes::new()).await
}

/// Sends one request with `body` on a fresh connection; a failure fails the test.
pub async fn send_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: Bytes,
) -> Reply {
    try_send_body(addr, method, path, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path} to {addr}: {e}"))
}

/// A request to build up and send, to one side or (compat) to both: method, path, header
/// values as raw bytes in order, and a body.
///
/// ```text
/// post("/protected").cookie(&cookie).csrf(CSRF).send(gw.addr).await
/// ```
#[derive(Debug, Clone)]
pub struct Request {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(&'static str, Vec<u8>)>,
    pub body: Bytes,
}

impl Request {
    /// A `method` request to `path`, without headers or body.
    pub fn new(method: &'static str, path: impl Into<String>) -> Request {
        Request {
            method,
            path: path.into(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// One more header with exactly these bytes.
    pub fn with(mut self, name: &'static str, value: impl AsRef<[u8]>) -> Request {
        self.headers.push((name, value.as_ref().to_vec()));
        self
    }

    /// An `Authorization` header with exactly these bytes.
    pub fn auth(self, value: impl AsRef<[u8]>) -> Request {
        self.with("authorization", value)
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: impl AsRef<str>) -> Request {
        self.auth(format!("Bearer {}", token.as_ref()))
    }

    /// A `Cookie` header with exactly this text.
    pub fn cookie(self, text: impl AsRef<str>) -> Request {
        self.with("cookie", text.as_ref())
    }

    /// An `X-CSRF-Token` header, fastapi-jwt-auth's default CSRF header.
    pub fn csrf(self, value: impl AsRef<[u8]>) -> Request {
        self.with("x-csrf-token", value)
    }

    /// The headers as [`send`] takes them.
    pub fn header_pairs(&self) -> Vec<(&str, &[u8])> {
        self.headers
            .iter()
            .map(|(name, value)| (*name, value.as_slice()))
            .collect()
    }

    /// Sends it on a fresh connection to `addr`; a failure fails the test.
    pub async fn send(&self, addr: SocketAddr) -> Reply {
        let headers = self.header_pairs();
        send_body(addr, self.method, &self.path, &headers, self.body.clone()).await
    }
}

pub fn get(path: impl Into<String>) -> Request {
    Request::new("GET", path)
}

pub fn post(path: impl Into<String>) -> Request {
    Request::new("POST", path)
}

pub fn put(path: impl Into<String>) -> Request {
    Request::new("PUT", path)
}

pub fn patch(path: impl Into<String>) -> Request {
    Request::new("PATCH", path)
}

pub fn delete(path: impl Into<String>) -> Request {
    Request::new("DELETE", path)
}

/// `Authorization: Bearer <token>` as a header pair.
pub fn bearer(token: &str) -> (&'static str, Vec<u8>) {
    ("authorization", format!("Bearer {token}").into_bytes())
}

/// Sends raw bytes on a new connection and returns everything the server wrote until it
/// closed the connection (or 5 s passed). Blocking: async tests call [`raw`].
pub fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    stream.write_all(request).expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// [`raw_exchange`] from async tests, on a blocking thread.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let request = request.to_vec();
    tokio::task::spawn_blocking(move || raw_exchange(addr, &request))
        .await
        .expect("raw exchange task")
}
