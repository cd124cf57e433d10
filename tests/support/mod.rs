//! Shared test parts: a real echo upstream, the gateway on port 0, a token minter and a plain
//! HTTP/1.1 client that follows no redirects. Everything talks over real sockets.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use freshgate::auth::TokenType;
use freshgate::token::{sign_hmac, TokenSpec};
use freshgate::Gateway;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The HMAC secret every test config uses.
pub const SECRET: &str = "test-secret-not-for-production";

/// A real HTTP upstream on 127.0.0.1:0 that answers every request with JSON describing what it
/// received: `method`, `path` (with query), `headers` (a list of `[name, value]` pairs, in
/// order), `body_len`. Special paths: `/slow/<ms>` waits before answering; `/bytes/<n>` streams
/// `n` bytes back in 64 KiB chunks.
pub struct Upstream {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    _stop: oneshot::Sender<()>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("upstream addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let (stop, mut stopped) = oneshot::channel::<()>();
        let counter = hits.clone();
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    r = listener.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
                    _ = &mut stopped => break,
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        echo(req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Upstream {
            addr,
            hits,
            _stop: stop,
        }
    }

    /// How many requests reached this upstream so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

type EchoBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn echo(req: Request<Incoming>) -> Result<Response<EchoBody>, Infallible> {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    if let Some(ms) = path.strip_prefix("/slow/") {
        let ms: u64 = ms.parse().unwrap_or(1000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(n) = path.strip_prefix("/bytes/") {
        let total: usize = n.parse().unwrap_or(0);
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let frames = (0..total.div_ceil(chunk.len())).map(move |i| {
            let len = chunk.len().min(total - i * chunk.len());
            Ok::<_, Infallible>(Frame::data(chunk.slice(..len)))
        });
        let body = StreamBody::new(futures_util::stream::iter(frames));
        return Ok(Response::new(BodyExt::boxed(body)));
    }
    let method = req.method().to_string();
    let headers: Vec<Value> = req
        .headers()
        .iter()
        .map(|(n, v)| json!([n.as_str(), String::from_utf8_lossy(v.as_bytes())]))
        .collect();
    let mut body = req.into_body();
    let mut body_len = 0usize;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => body_len += f.data_ref().map_or(0, |d| d.len()),
            Err(_) => break,
        }
    }
    let description =
        json!({ "method": method, "path": path, "headers": headers, "body_len": body_len });
    let mut response = Response::new(Full::new(Bytes::from(description.to_string())).boxed());
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
        .headers_mut()
        .insert("x-upstream", HeaderValue::from_static("echo"));
    Ok(response)
}

/// The gateway on 127.0.0.1:0, serving a config given as TOML text in which `{upstream}` is
/// replaced by the echo upstream's address.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub gateway: Arc<Gateway>,
    _stop: oneshot::Sender<()>,
}

impl TestGateway {
    pub async fn start(config: &str, upstream: SocketAddr) -> TestGateway {
        let text = config.replace("{upstream}", &upstream.to_string());
        let snapshot = freshgate::config::parse(&text, "test.toml", std::path::Path::new("."))
            .unwrap_or_else(|e| panic!("test config is invalid:\n{e}"));
        TestGateway::start_snapshot(snapshot).await
    }

    pub async fn start_snapshot(snapshot: freshgate::Snapshot) -> TestGateway {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let addr = listener.local_addr().expect("gateway addr");
        let gateway = Gateway::new(snapshot);
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = gateway.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            freshgate::serve(listener, serving, shutdown).await;
        });
        TestGateway {
            addr,
            gateway,
            _stop: stop,
        }
    }
}

/// A config with the example app's routes in front of `{upstream}`.
pub const EXAMPLE_ROUTES: &str = r#"
[upstreams]
app = "http://{upstream}"

[jwt]
secret = "test-secret-not-for-production"

[[route]]
path = "/login"
methods = ["POST"]
policy = "public"

[[route]]
path = "/refresh"
methods = ["POST"]
policy = "refresh"

[[route]]
path = "/protected"
policy = "access"

[[route]]
path = "/protected-fresh"
policy = "fresh"

[[route]]
path = "/partially-protected"
policy = "optional"

[[route]]
prefix = "/public"
policy = "public"

[[route]]
prefix = "/slow"
policy = "public"

[[route]]
prefix = "/bytes"
policy = "public"
"#;

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

    /// `detail` of a `{"detail": ...}` body.
    pub fn detail(&self) -> String {
        self.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_string()
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

/// Sends one request on a fresh connection. Header values are raw bytes.
pub async fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &[u8])]) -> Reply {
    send_body(addr, method, path, headers, Bytes::new()).await
}

pub async fn send_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: Bytes,
) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (name, value) in headers {
        builder = builder.header(
            *name,
            HeaderValue::from_bytes(value).expect("valid header bytes"),
        );
    }
    let request = builder.body(Full::new(body)).expect("request");
    let response = sender.send_request(request).await.expect("response");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// `Authorization: Bearer <token>` as a header pair.
pub fn bearer(token: &str) -> (&'static str, Vec<u8>) {
    ("authorization", format!("Bearer {token}").into_bytes())
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A token like the library's, signed with [`SECRET`].
pub fn token(sub: &str, token_type: TokenType, fresh: bool) -> String {
    sign_claims(&TokenSpec::new(sub, token_type, fresh).claims(now()))
}

/// Signs arbitrary claims with [`SECRET`] (HS256).
pub fn sign_claims(claims: &Map<String, Value>) -> String {
    sign_hmac(claims, SECRET.as_bytes(), jsonwebtoken::Algorithm::HS256).expect("sign")
}

/// Sends raw bytes on a new connection and returns everything the server wrote until it
/// closed the connection (or 5 s passed). Blocking: call from `spawn_blocking`.
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

/// [`raw_exchange`] from async tests.
pub async fn raw(addr: SocketAddr, request: &'static [u8]) -> String {
    tokio::task::spawn_blocking(move || raw_exchange(addr, request))
        .await
        .expect("raw exchange task")
}
